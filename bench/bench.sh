#!/usr/bin/env bash
# bench.sh - ratios against real alternatives, measured in one run (docs/benchmarks.md):
#   1. hashing: `keytransfer-online hash` against `openssl dgst -sha256` on the same 1 GiB file;
#   2. packaging: `keytransfer package` (verify both packages again, open the module, load the
#      reduced key, wrap, sign the manifest, write both files with fsync) against the plain
#      `openssl` pipeline that only wraps (rand, pkeyutl -encrypt, enc -id-aes256-wrap-pad).
# Best of ROUNDS (default 5). Usage: bench/bench.sh BUILD-DIR [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: bench.sh BUILD-DIR [ROUNDS]}" && pwd)
rounds=${2:-5}
export KT_BIN="$build/keytransfer/keytransfer" KT_CLOUD="$build/kek/keytransfer-cloud"
online="$build/online/keytransfer-online"
t=$(mktemp -d /tmp/kt-bench.XXXXXX)
trap 'rm -rf "$t"' EXIT

# best COMMAND...: runs the command ROUNDS times (each must succeed), prints the fastest in seconds.
best() {
    local b="" s e d
    for _ in $(seq "$rounds"); do
        s=$(date +%s%N)
        "$@" >"$t/last.log" 2>&1 || { cat "$t/last.log" >&2; echo "bench.sh: $1 failed" >&2; exit 1; }
        e=$(date +%s%N)
        d=$((e - s))
        if [ -z "$b" ] || [ "$d" -lt "$b" ]; then b=$d; fi
    done
    awk -v n="$b" 'BEGIN { printf "%.4f", n / 1e9 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "== hashing 1 GiB"
truncate -s 1G "$t/big.bin"
cat "$t/big.bin" >/dev/null # both read from the page cache
ours=$(best "$online" hash "$t/big.bin")
theirs=$(best openssl dgst -sha256 "$t/big.bin")
echo "keytransfer-online hash  ${ours} s"
echo "openssl dgst -sha256     ${theirs} s"
echo "ratio                    $(ratio "$ours" "$theirs")"

echo "== packaging an RSA-2048 key for a 2048-bit KEK"
"$here/scripts/demo-offline.sh" "$t/demo" >/dev/null 2>&1
export KEYTRANSFER_KMDATA="$t/demo/kmdata"
K="$t/demo/toolset/BYOK-KEK-pkg-NA-1"
W="$t/demo/toolset/BYOK-SecurityWorld-pkg-NA-1"
n=0
package() {
    n=$((n + 1))
    "$KT_BIN" package --ident contosokey -k "$K" -w "$W" --demo --subscription 0 \
        --name "bench$n-$RANDOM" --out "$t/demo/usb"
}
/usr/bin/python3 - "$K" "$t/kek.pem" <<'PY'
import base64, json, sys
j = json.load(open(sys.argv[1]))
p = json.loads(base64.urlsafe_b64decode(j["payload"] + "=" * (-len(j["payload"]) % 4)))
der = base64.urlsafe_b64decode(p["public_key"] + "=" * (-len(p["public_key"]) % 4))
open(sys.argv[2], "wb").write(b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) +
                              b"-----END PUBLIC KEY-----\n")
PY
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -outform DER -out "$t/target.der"
pipeline() {
    openssl rand -out "$t/K" 32 &&
        openssl pkeyutl -encrypt -pubin -inkey "$t/kek.pem" -in "$t/K" -out "$t/rsa" \
            -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 &&
        openssl enc -id-aes256-wrap-pad -iv A65959A6 -K "$(od -An -tx1 "$t/K" | tr -d ' \n')" \
            -in "$t/target.der" -out "$t/kwp" &&
        cat "$t/rsa" "$t/kwp" | openssl base64 -A >"$t/ct"
}
ours=$(best package)
theirs=$(best pipeline)
echo "keytransfer package      ${ours} s"
echo "openssl pipeline         ${theirs} s"
echo "ratio                    $(ratio "$ours" "$theirs")"
