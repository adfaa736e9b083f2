#!/usr/bin/env bash
# test_online.sh - the online side end to end: `keytransfer-online hash` in constant memory on a
# 2 GiB file (same hash as sha256sum), the nine steps of docs/design.md §1 with the offline steps done
# by `keytransfer` (scripts/demo-offline.sh) and the upload over HTTP on loopback to
# `keytransfer-cloud serve`, the imported key's fingerprint checked against what `openssl` and
# python3-cryptography compute; a package whose key the emulator already holds (409), found by
# the look-up and matching; check's and hash's exit statuses (1, 3, 4 as docs/design.md §6 has them);
# upload refusals (a changed byte or another --name, before anything is sent; a wrong token; an
# unreachable vault; TLS certificate and host checks against a python TLS server); the
# emulator answering 500 malformed requests with 4xx and importing correctly afterwards; serve's
# own refusals and clean shutdown; help and man pages agreeing.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3

t=$(mktemp -d /tmp/kt-cli-online.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$t"
}
trap cleanup EXIT

# start_server STATE TOKENFILE TAG: runs `keytransfer-cloud serve` on a free loopback port (port 0)
# and sets srv_url, srv_pid, srv_log.
start_server() {
    local out="$t/$3.out"
    srv_log="$t/$3.log"
    srv_url=
    "$CLOUD" serve --state "$1" --listen 127.0.0.1:0 --token-file "$2" >"$out" 2>"$srv_log" &
    srv_pid=$!
    pids+=("$srv_pid")
    for _ in $(seq 200); do
        srv_url=$(awk '$1 == "url" { print $2 }' "$out")
        [ -n "$srv_url" ] && return 0
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "keytransfer-cloud serve did not start: $(cat "$srv_log")"
    return 1
}

# kv_get URL NAME TOKENFILE [OUT]: prints the HTTP status of GET /keys/NAME; the body goes to OUT.
kv_get() {
    $PY - "$@" <<'EOF'
import sys, urllib.error, urllib.request
url, name, token = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().strip()
out = sys.argv[4] if len(sys.argv) > 4 else None
req = urllib.request.Request(url + "/keys/" + name + "?api-version=7.4",
                             headers={"Authorization": "Bearer " + token})
try:
    r = urllib.request.urlopen(req, timeout=20)
    status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
if out:
    open(out, "wb").write(body)
print(status)
EOF
}

# run_upload TAG ARGS...: runs upload; sets up_status, stdout in $t/TAG.out, stderr in $t/TAG.err.
run_upload() {
    local tag=$1
    shift
    "$ONLINE" upload --demo "$@" >"$t/$tag.out" 2>"$t/$tag.err" </dev/null
    up_status=$?
}

printf 'ktv1-test-token-0123456789abcdef\n' >"$t/token"
printf 'ktv1-wrong-token-0123456789abcdef\n' >"$t/wrong-token"
chmod 600 "$t/token" "$t/wrong-token"

# --- usage ---------------------------------------------------------------------------------------
expect 2 "no command" "$ONLINE"
expect 2 "unknown command" "$ONLINE" frobnicate
expect 0 "--help" "$ONLINE" --help
expect_out "^keytransfer-online [0-9]" "$ONLINE" --version

# --- hash: Get-FileHash's line, the expected hash, the published table ---------------------------
printf 'abc' >"$t/abc.txt"
abc=BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD
expect_out "^SHA256 +$abc +/.*/abc\.txt$" "$ONLINE" hash "$t/abc.txt"
expect_out "^Algorithm +Hash +Path$" "$ONLINE" hash "$t/abc.txt"
expect 0 "--expect, upper case" "$ONLINE" hash "$t/abc.txt" --expect "$abc"
expect 0 "--expect, lower case" "$ONLINE" hash --expect "${abc,,}" "$t/abc.txt"
expect_out "^Result: SUCCESS$" "$ONLINE" hash "$t/abc.txt" --expect "$abc"
wrong=${abc%?}E
expect 1 "--expect, another hash" "$ONLINE" hash "$t/abc.txt" --expect "$wrong"
out=$("$ONLINE" hash "$t/abc.txt" --expect "$wrong" 2>/dev/null)
grep -qx "Result: FAILURE" <<<"$out" && grep -q "^Expected: $wrong" <<<"$out" &&
    grep -q "^Actual: *$abc" <<<"$out" && ok || fail "a failed --expect names both hashes: $out"
expect_err "does not have the expected SHA-256" "$ONLINE" hash "$t/abc.txt" --expect "$wrong"
expect 2 "--expect not hex" "$ONLINE" hash "$t/abc.txt" --expect xyz
expect 2 "--expect and --table" "$ONLINE" hash "$t/abc.txt" --expect "$abc" --table "$t/abc.txt"
expect 2 "no file" "$ONLINE" hash
expect 4 "a missing file" "$ONLINE" hash "$t/missing"
expect 4 "a folder" "$ONLINE" hash "$t"
mkfifo "$t/fifo"
expect 4 "a FIFO is refused, not read" "$ONLINE" hash "$t/fifo"
expect 4 "a device" "$ONLINE" hash /dev/null
expect_err "is not a regular file (a FIFO)" "$ONLINE" hash "$t/fifo"
for n in 0 1 65535 65536 65537 1000000; do
    head -c "$n" /dev/urandom >"$t/r$n"
    want=$(sha256sum "$t/r$n" | cut -d' ' -f1)
    have=$("$ONLINE" hash "$t/r$n" | awk '$1 == "SHA256" { print $2 }')
    [ "$have" = "${want^^}" ] && ok || fail "$n bytes: $have, sha256sum says $want"
done

# --- hash: a 2 GiB file in constant memory --------------------------------------------------------
# The bound is measured with GNU time ("Maximum resident set size", the kernel's peak RSS). ASan
# adds a fixed ~8 MiB of shadow memory and allocator caches to every process, so when the program
# under test is sanitized the 16 MiB bound is measured on a build of the same source without
# sanitizers, and the sanitized program must show no growth between 1 byte and 256 MiB.
if [ ! -x /usr/bin/time ]; then
    fail "GNU time (/usr/bin/time, Debian package 'time') is needed to measure memory"
else
    big="$t/big.bin"
    truncate -s 2G "$big" && head -c 4096 /dev/urandom | dd of="$big" bs=4096 seek=524287 \
        conv=notrunc status=none || fail "cannot make a 2 GiB file in $t"
    plain=$ONLINE
    if nm "$ONLINE" 2>/dev/null | grep ' __asan_init' >/dev/null; then # no -q: nm must not get SIGPIPE
        truncate -s 256M "$t/mid.bin"
        peak() { /usr/bin/time -v "$ONLINE" hash "$1" 2>&1 >/dev/null |
            awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }'; }
        small_kb=$(peak "$t/abc.txt")
        mid_kb=$(peak "$t/mid.bin")
        if [ -n "$small_kb" ] && [ -n "$mid_kb" ] && [ $((mid_kb - small_kb)) -lt 1024 ]; then
            ok
        else
            fail "sanitized build: peak RSS grows from $small_kb KiB (1 byte) to $mid_kb KiB (256 MiB)"
        fi
        if cmake -S "$KT_SRC" -B "$t/plain" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DKT_BUILD_TESTS=OFF >"$t/plain.log" 2>&1 &&
            cmake --build "$t/plain" --target keytransfer-online -j 2 >>"$t/plain.log" 2>&1; then
            plain="$t/plain/online/keytransfer-online"
        else
            fail "cannot build keytransfer-online without sanitizers: $(tail -n 20 "$t/plain.log")"
        fi
    fi
    /usr/bin/time -v "$plain" hash "$big" >"$t/big.out" 2>"$t/big.time"
    status=$?
    kb=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$t/big.time")
    echo "hash of a 2 GiB file: peak RSS ${kb:-?} KiB ($plain)"
    [ "$status" -eq 0 ] && [ -n "$kb" ] && [ "$kb" -lt 16384 ] && ok ||
        fail "hashing 2 GiB: exit $status, peak RSS ${kb:-?} KiB (limit 16384 KiB)"
    have=$(awk '$1 == "SHA256" { print $2 }' "$t/big.out")
    want=$(sha256sum "$big" | cut -d' ' -f1)
    [ -n "$have" ] && [ "$have" = "${want^^}" ] && ok || fail "2 GiB: $have, sha256sum says $want"
    rm -f "$big" "$t/mid.bin"
fi

# --- the nine steps: 2-8 offline (scripts/demo-offline.sh), 1 and 9 online -----------------------
demo="$t/demo"
if ! KT_BIN=$KT KT_CLOUD=$CLOUD bash "$KT_SRC/scripts/demo-offline.sh" "$demo" >"$t/offline.log" 2>&1; then
    fail "scripts/demo-offline.sh: $(tail -n 30 "$t/offline.log")"
fi
export KEYTRANSFER_KMDATA="$demo/kmdata"
zip="$demo/download/KeyTransfer-BYOK-Tools-NA.zip"
table="$demo/download/published-hashes.txt"

# Step 1: the toolset zip against the published table.
expect 0 "hash --table" "$ONLINE" hash "$zip" --table "$table"
expect_out "^Result: SUCCESS$" "$ONLINE" hash "$zip" --table "$table"
mkdir "$t/forged"
cp "$zip" "$t/forged/"
printf 'x' >>"$t/forged/KeyTransfer-BYOK-Tools-NA.zip"
expect 1 "a changed zip against the table" "$ONLINE" hash "$t/forged/KeyTransfer-BYOK-Tools-NA.zip" \
    --table "$table"
expect 1 "a file the table does not list" "$ONLINE" hash "$t/abc.txt" --table "$table"
expect_err "abc.txt is not listed in" "$ONLINE" hash "$t/abc.txt" --table "$table"
expect 3 "a malformed table" "$ONLINE" hash "$zip" --table "$t/abc.txt"

# The module fingerprint the custodian notes offline.
module=$("$KT" world info --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["module"]["signing_key_sha256"])')
[ ${#module} -eq 64 ] && ok || fail "world info gives no module fingerprint: $module"
source_fp=$(openssl pkey -pubin -in "$demo/contosokey.pub" -outform DER | sha256sum | cut -d' ' -f1)

# The USB stick.
usb="$demo/usb"
byok="$usb/TransferPackage-ContosoFirstHSMkey.byok"
expect 0 "check the stick" "$ONLINE" check --demo "$usb"
expect 0 "check the stick, module pinned" "$ONLINE" check --demo "$usb" --expect-module "$module"
expect_out "module +$module \(as expected\)" "$ONLINE" check --demo "$usb" --expect-module "$module"
other=$(printf '%s' "$module" | tr '0-9a-f' '1-9a-f0')
expect 1 "check: another module pinned" "$ONLINE" check --demo "$usb" --expect-module "$other"
out=$("$ONLINE" check --demo "$usb" --expect-module "$other" 2>&1)
grep -q "^FAIL " <<<"$out" && grep -qx "Result: FAILURE" <<<"$out" && ok ||
    fail "check with another module pinned: $out"
expect 2 "check: a bad fingerprint" "$ONLINE" check --demo "$usb" --expect-module 1234
"$ONLINE" check --demo "$usb" --json >"$t/check.json" || fail "check --json"
$PY - "$t/check.json" "$module" "$source_fp" <<'EOF' && ok || fail "check --json: $(cat "$t/check.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["result"] == "SUCCESS", d
[p] = d["packages"]
assert p["ok"] and p["error"] is None, p
assert p["module_sha256"] == sys.argv[2], p
assert p["key_sha256"] == sys.argv[3], p
assert p["key_type"] == "RSA" and p["key_bits"] == 2048 and p["target"] == "azure", p
EOF
mkdir "$t/empty"
expect 1 "check: no manifest" "$ONLINE" check "$t/empty"
expect 4 "check: no such folder" "$ONLINE" check "$t/missing"
expect 4 "check: a file, not a folder" "$ONLINE" check "$t/abc.txt"
# The exit status names the worst failure (docs/design.md §6): 1 a check said no, 3 malformed or
# oversized, 4 unreadable; the highest of them when several manifests fail.
mkdir "$t/bad-manifests"
cp "$usb"/* "$t/bad-manifests/"
bm="$t/bad-manifests/TransferPackage-ContosoFirstHSMkey.manifest.json"
printf '{"payload":' >"$t/bad-manifests/Malformed.manifest.json"
expect 3 "check: a malformed manifest beside a good one" "$ONLINE" check "$t/bad-manifests"
rm "$t/bad-manifests/Malformed.manifest.json"
head -c 70000 /dev/zero | tr '\0' ' ' >"$t/bad-manifests/Big.manifest.json"
expect 3 "check: an oversized manifest" "$ONLINE" check "$t/bad-manifests"
rm "$t/bad-manifests/Big.manifest.json"
$PY - "$bm" <<'PYEOF' || fail "cannot alter the manifest"
import json, sys
m = json.load(open(sys.argv[1]))
s = m["signature"]
m["signature"] = ("B" if s[0] == "A" else "A") + s[1:]
open(sys.argv[1], "w").write(json.dumps(m))
PYEOF
expect 1 "check: a manifest whose signature does not verify" "$ONLINE" check "$t/bad-manifests"
printf '{"payload":' >"$t/bad-manifests/Malformed.manifest.json"
expect 3 "check: said no and malformed: the highest" "$ONLINE" check "$t/bad-manifests"
rm "$t/bad-manifests/Malformed.manifest.json"
ln -s /nonexistent/target "$t/bad-manifests/Dangling.manifest.json"
expect 4 "check: an unreadable manifest" "$ONLINE" check "$t/bad-manifests"
rm -rf "$t/bad-manifests"

# Step 9: upload to the emulator over HTTP on loopback; the fingerprint is checked at the end.
# scripts/demo-offline.sh already imported the key under its name with `keytransfer-cloud
# import`, so a package of the same key under another name makes a fresh import.
kek_pkg="$demo/toolset/BYOK-KEK-pkg-NA-1"
world_pkg="$demo/toolset/BYOK-SecurityWorld-pkg-NA-1"
mkdir -m 700 "$t/usb-rest"
"$KT" package --demo --ident contosokey -k "$kek_pkg" -w "$world_pkg" \
    --subscription 00000000-0000-0000-0000-000000000000 --name ContosoFirstHSMkey-rest \
    --out "$t/usb-rest" >"$t/rest.log" 2>&1 || fail "package under another name: $(cat "$t/rest.log")"
rest="$t/usb-rest/TransferPackage-ContosoFirstHSMkey-rest.byok"
start_server "$demo/cloud" "$t/token" serve1
run_upload up1 --vault "$srv_url" --name ContosoFirstHSMkey-rest --token-file "$t/token" \
    --expect-module "$module" "$rest"
if [ "$up_status" -eq 0 ] && grep -qx "Result: SUCCESS" "$t/up1.out" &&
    grep -q "^Imported  https://" "$t/up1.out" &&
    grep -q "public key SHA-256 $source_fp, as the manifest states" "$t/up1.out"; then
    ok
else
    fail "the nine-step upload: exit $up_status: $(cat "$t/up1.out" "$t/up1.err")"
fi
# The vault's key, read back by python3-cryptography from the JWK the emulator serves, is the
# key openssl reads from the offline public key file.
[ "$(kv_get "$srv_url" ContosoFirstHSMkey-rest "$t/token" "$t/jwk.json")" = 200 ] && ok ||
    fail "GET of the imported key"
jwk_fp=$($PY - "$t/jwk.json" <<'EOF'
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization
k = json.load(open(sys.argv[1]))["key"]
b = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
pub = rsa.RSAPublicNumbers(b(k["e"]), b(k["n"])).public_key()
der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
print(hashlib.sha256(der).hexdigest())
EOF
)
[ "$jwk_fp" = "$source_fp" ] && ok || fail "pyca reads $jwk_fp from the JWK, openssl $source_fp"

# The demo's own package: the emulator holds its key already (409), the look-up finds it and it
# matches the manifest, which is success, said plainly.
run_upload up-demo --vault "$srv_url" --name ContosoFirstHSMkey --token-file "$t/token" \
    --expect-module "$module" "$byok"
[ "$up_status" -eq 0 ] && grep -q "HTTP 409 Conflict" "$t/up-demo.err" &&
    grep -q "^Already imported: the vault already holds this key as ContosoFirstHSMkey" "$t/up-demo.out" &&
    grep -q "public key SHA-256 $source_fp, as the manifest states" "$t/up-demo.out" && ok ||
    fail "the demo package, imported before: exit $up_status: $(cat "$t/up-demo.out" "$t/up-demo.err")"

# EC and AES keys through the same offline steps, then uploaded.
mkdir -m 700 "$t/usb2"
offline_key() { # IDENT NAME GENERATE-ARGS...
    local ident=$1 name=$2
    shift 2
    "$KT" key generate --ident "$ident" "$@" >/dev/null &&
        "$KT" modify-acls --ident "$ident" -k "$kek_pkg" -w "$world_pkg" --demo --yes \
            --card "$demo"/kmdata/cards/card_*_1 --card "$demo"/kmdata/cards/card_*_3 \
            --pin-file "$demo/quorum-pins.txt" >/dev/null &&
        "$KT" package --ident "$ident" -k "$kek_pkg" -w "$world_pkg" --demo \
            --subscription 00000000-0000-0000-0000-000000000000 --name "$name" \
            --out "$t/usb2" >/dev/null
}
offline_key eckey EcKey --type EC --curve P-384 >"$t/ec.log" 2>&1 || fail "offline EC key: $(cat "$t/ec.log")"
offline_key aeskey AesKey --type AES --size 256 >"$t/aes.log" 2>&1 || fail "offline AES key: $(cat "$t/aes.log")"
expect 0 "check: three kinds of package" "$ONLINE" check --demo "$t/usb2" --expect-module "$module"
"$KT" key public eckey --out "$t/eckey.pub" >/dev/null 2>&1 || fail "key public eckey"
ec_fp=$(openssl pkey -pubin -in "$t/eckey.pub" -outform DER | sha256sum | cut -d' ' -f1)
run_upload up-ec --vault "$srv_url" --name EcKey --token-file "$t/token" \
    --expect-module "$module" "$t/usb2/TransferPackage-EcKey.byok"
[ "$up_status" -eq 0 ] && grep -q "public key SHA-256 $ec_fp, as the manifest states" "$t/up-ec.out" &&
    grep -q "as EC-HSM (key_ops sign,verify)" "$t/up-ec.out" && ok ||
    fail "EC upload: exit $up_status: $(cat "$t/up-ec.out" "$t/up-ec.err")"
run_upload up-aes --vault "$srv_url" --name AesKey --token-file "$t/token" --ops wrapKey,unwrapKey \
    --expect-module "$module" "$t/usb2/TransferPackage-AesKey.byok"
[ "$up_status" -eq 0 ] && grep -qx "Result: SUCCESS" "$t/up-aes.out" &&
    grep -q "no public part" "$t/up-aes.out" && ok ||
    fail "AES upload: exit $up_status: $(cat "$t/up-aes.out" "$t/up-aes.err")"
# Again: the EC key is found and matches; an AES key found under its name cannot be compared.
run_upload up-ec2 --vault "$srv_url" --name EcKey --token-file "$t/token" \
    --expect-module "$module" "$t/usb2/TransferPackage-EcKey.byok"
[ "$up_status" -eq 0 ] && grep -q "^Already imported" "$t/up-ec2.out" && ok ||
    fail "EC upload again: exit $up_status: $(cat "$t/up-ec2.out" "$t/up-ec2.err")"
run_upload up-aes2 --vault "$srv_url" --name AesKey --token-file "$t/token" --ops wrapKey,unwrapKey \
    --expect-module "$module" "$t/usb2/TransferPackage-AesKey.byok"
[ "$up_status" -eq 1 ] && grep -q "cannot be told" "$t/up-aes2.err" && ok ||
    fail "AES upload again: exit $up_status: $(cat "$t/up-aes2.out" "$t/up-aes2.err")"
expect 2 "--ops a type cannot do" "$ONLINE" upload --demo --vault "$srv_url" --name EcKey \
    --token-file "$t/token" --ops encrypt "$t/usb2/TransferPackage-EcKey.byok"

# --- upload refusals -----------------------------------------------------------------------------
# One byte changed: refused before anything is sent (no request in the emulator's log, no key).
mkdir "$t/tampered"
cp "$usb"/* "$t/tampered/"
$PY - "$t/tampered/TransferPackage-ContosoFirstHSMkey.byok" <<'EOF' || fail "cannot change a byte"
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(bytes(b))
EOF
requests_before=$(grep -c ' -> ' "$srv_log")
run_upload tampered --vault "$srv_url" --name Tampered --token-file "$t/token" \
    "$t/tampered/TransferPackage-ContosoFirstHSMkey.byok"
[ "$up_status" -eq 1 ] && grep -q "damaged or swapped" "$t/tampered.err" &&
    grep -qx "Result: FAILURE" "$t/tampered.out" && ok ||
    fail "a changed byte: exit $up_status: $(cat "$t/tampered.out" "$t/tampered.err")"
[ "$(grep -c ' -> ' "$srv_log")" -eq "$requests_before" ] && ok ||
    fail "the emulator received a request for a tampered package: $(tail -n 2 "$srv_log")"
[ "$(kv_get "$srv_url" Tampered "$t/token")" = 404 ] && ok || fail "a tampered package was imported"
# A manifest signed by another module than the pinned one: refused before sending too.
run_upload pinned --vault "$srv_url" --name Pinned --token-file "$t/token" \
    --expect-module "$other" "$byok"
[ "$up_status" -eq 1 ] && grep -q "not by the module you expect" "$t/pinned.err" && ok ||
    fail "another module: exit $up_status: $(cat "$t/pinned.err")"

# A name other than the manifest's: refused before anything is sent.
requests_before=$(grep -c ' -> ' "$srv_log")
run_upload renamed --vault "$srv_url" --name Renamed --token-file "$t/token" "$byok"
[ "$up_status" -eq 1 ] && grep -q "is not the key name the manifest states" "$t/renamed.err" &&
    [ "$(grep -c ' -> ' "$srv_log")" -eq "$requests_before" ] && ok ||
    fail "another name: exit $up_status: $(cat "$t/renamed.err")"
# A wrong token is an authentication failure, and is not tried again.
requests_before=$(grep -c ' -> ' "$srv_log")
run_upload wrongtok --vault "$srv_url" --name ContosoFirstHSMkey-rest --token-file "$t/wrong-token" "$rest"
[ "$up_status" -eq 1 ] && grep -q "authentication failed (HTTP 401 Unauthorized" "$t/wrongtok.err" &&
    [ "$(grep -c ' -> ' "$srv_log")" -eq $((requests_before + 1)) ] &&
    ok || fail "a wrong token: exit $up_status: $(cat "$t/wrongtok.err")"
# The token from AZURE_ACCESS_TOKEN, as `az account get-access-token -o tsv` prints it.
AZURE_ACCESS_TOKEN=$(cat "$t/token") "$ONLINE" upload --demo --vault "$srv_url" --name ContosoFirstHSMkey \
    "$byok" >"$t/env.out" 2>&1 && ok || fail "token from the environment: $(cat "$t/env.out")"
expect 2 "no token at all" env -u AZURE_ACCESS_TOKEN "$ONLINE" upload --demo --vault "$srv_url" \
    --name ContosoFirstHSMkey "$byok"
# The same upload twice: the emulator makes no new versions (409); the look-up finds the key.
run_upload again --vault "$srv_url" --name ContosoFirstHSMkey-rest --token-file "$t/token" "$rest"
[ "$up_status" -eq 0 ] && grep -q "HTTP 409 Conflict" "$t/again.err" &&
    grep -q "^Already imported" "$t/again.out" && ok ||
    fail "the same upload twice: exit $up_status: $(cat "$t/again.out" "$t/again.err")"

# An unreachable vault (a closed loopback port) is an I/O error naming the URL.
closed=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
run_upload closed --vault "http://127.0.0.1:$closed" --name ContosoFirstHSMkey --tries 1 \
    --token-file "$t/token" "$byok"
[ "$up_status" -eq 4 ] && grep -q "http://127.0.0.1:$closed/keys/ContosoFirstHSMkey" "$t/closed.err" && ok ||
    fail "an unreachable vault: exit $up_status: $(cat "$t/closed.err")"
expect 2 "plain http off loopback" "$ONLINE" upload --vault http://contoso.vault.azure.net \
    --name X --token-file "$t/token" "$byok"
expect_err "plain http is allowed only to a loopback address" "$ONLINE" upload \
    --vault http://10.1.2.3 --name X --token-file "$t/token" "$byok"
expect 1 "a package for another vault's KEK" "$ONLINE" upload --demo --vault https://other.vault.azure.net \
    --name ContosoFirstHSMkey --token-file "$t/token" "$byok"
expect_err "which lives in another vault than https://other.vault.azure.net" "$ONLINE" upload --demo \
    --vault https://other.vault.azure.net --name ContosoFirstHSMkey --token-file "$t/token" "$byok"
expect 2 "a bad key name" "$ONLINE" upload --vault "$srv_url" --name 'a/b' --token-file "$t/token" "$byok"

# TLS: certificate and host checks against a python TLS server whose certificate names localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$t/tls.key" -out "$t/tls.crt" >/dev/null 2>&1 ||
    fail "openssl cannot make a TLS certificate"
$PY - "$t/tls.crt" "$t/tls.key" "$t/tls.port" "$t/tls.log" <<'EOF' &
import http.server, ssl, sys
crt, key, port_file, log = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        with open(log, "a") as f:
            f.write("PUT %s auth=%s\n" % (self.path, "Authorization" in self.headers))
        body = b'{"error":{"code":"Unauthorized","message":"TLS test server"}}'
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(crt, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.timeout = 20
open(port_file, "w").write(str(srv.server_address[1]))
for _ in range(3):
    try:
        srv.handle_request()
    except Exception:
        pass
EOF
pids+=($!)
for _ in $(seq 100); do [ -s "$t/tls.port" ] && break; sleep 0.05; done
tls_port=$(cat "$t/tls.port" 2>/dev/null)
touch "$t/tls.log"
run_upload tls1 --vault "https://localhost:$tls_port" --name ContosoFirstHSMkey --token-file "$t/token" "$byok"
[ "$up_status" -eq 1 ] && grep -q "certificate does not verify" "$t/tls1.err" &&
    [ ! -s "$t/tls.log" ] && ok ||
    fail "an unknown CA: exit $up_status: $(cat "$t/tls1.err") / $(cat "$t/tls.log")"
run_upload tls2 --vault "https://127.0.0.1:$tls_port" --cacert "$t/tls.crt" --name ContosoFirstHSMkey \
    --token-file "$t/token" "$byok"
[ "$up_status" -eq 1 ] && grep -q "certificate does not verify" "$t/tls2.err" &&
    [ ! -s "$t/tls.log" ] && ok ||
    fail "a certificate for another host: exit $up_status: $(cat "$t/tls2.err")"
run_upload tls3 --vault "https://localhost:$tls_port" --cacert "$t/tls.crt" --name ContosoFirstHSMkey \
    --token-file "$t/token" "$byok"
[ "$up_status" -eq 1 ] && grep -q "authentication failed (HTTP 401" "$t/tls3.err" &&
    grep -q "PUT /keys/ContosoFirstHSMkey?api-version=7.4 auth=True" "$t/tls.log" && ok ||
    fail "the trusted TLS server: exit $up_status: $(cat "$t/tls3.err") / $(cat "$t/tls.log")"

# --- the emulator under 500 malformed requests ----------------------------------------------------
$PY - "$srv_url" "$t/token" "$byok" "$t/storm.log" <<'EOF' && ok || fail "malformed requests: $(tail -n 20 "$t/storm.log")"
import base64, http.client, json, socket, sys, urllib.parse
url, token, byok_path, log = sys.argv[1], open(sys.argv[2]).read().strip(), sys.argv[3], sys.argv[4]
u = urllib.parse.urlsplit(url)
host, port = u.hostname, u.port
assert host == "127.0.0.1"
byok = open(byok_path, "rb").read()
b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
good_hsm = b64(byok)
AUTH = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
Q = "?api-version=7.4"

def request(method, path, body=None, headers=AUTH):
    c = http.client.HTTPConnection(host, port, timeout=20)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), data

def raw(data):
    """Sends bytes as they are and reads one answer (until its Content-Length or the close)."""
    s = socket.create_connection((host, port), timeout=20)
    out = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            head, sep, rest = out.partition(b"\r\n\r\n")
            if sep:
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    line = out.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 else 0, None, out

def body(key=None, **top):
    k = {"kty": "RSA-HSM", "key_hsm": good_hsm}
    k.update(key or {})
    d = {"key": {n: v for n, v in k.items() if v is not None}, "attributes": {"enabled": True}}
    d.update(top)
    return json.dumps(d)

other_kid = json.loads(byok)
other_kid["header"]["kid"] = other_kid["header"]["kid"][:-32] + "f" * 32
other_kek = json.dumps(other_kid).encode()
trunc = json.loads(byok)
trunc["ciphertext"] = trunc["ciphertext"][:-40]

def chunked(n):
    head = ("PUT /keys/Chunked%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % (Q, token))
    chunk = b"a" * 65536
    parts = [head.encode()]
    for _ in range(n):
        parts.append(b"10000\r\n" + chunk + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)

P = "/keys/Storm" + Q
cases = [
    ("bad JSON", lambda: request("PUT", P, b"{not json")),
    ("empty body", lambda: request("PUT", P, b"")),
    ("truncated JSON", lambda: request("PUT", P, body()[:-5])),
    ("trailing data", lambda: request("PUT", P, body() + "{}")),
    ("duplicate key", lambda: request("PUT", P, '{"key":{"kty":"RSA-HSM","kty":"RSA-HSM","key_hsm":"%s"}}' % good_hsm)),
    ("NUL in JSON", lambda: request("PUT", P, b'{"key":{"kty":"RSA-HSM\\u0000","key_hsm":"AA"}}')),
    ("invalid UTF-8", lambda: request("PUT", P, b'{"key":{"kty":"\xff\xfe","key_hsm":"AA"}}')),
    ("deep nesting", lambda: request("PUT", P, "[" * 5000 + "]" * 5000)),
    ("an array", lambda: request("PUT", P, b"[]")),
    ("kty a number", lambda: request("PUT", P, body({"kty": 7}))),
    ("key_ops a string", lambda: request("PUT", P, body({"key_ops": "sign"}))),
    ("key_ops empty", lambda: request("PUT", P, body({"key_ops": []}))),
    ("key_ops unknown", lambda: request("PUT", P, body({"key_ops": ["import"]}))),
    ("key_ops twice", lambda: request("PUT", P, body({"key_ops": ["sign", "sign"]}))),
    ("key_hsm a number", lambda: request("PUT", P, body({"key_hsm": 12}))),
    ("key_hsm missing", lambda: request("PUT", P, body({"key_hsm": None}))),
    ("key not an object", lambda: request("PUT", P, json.dumps({"key": "x"}))),
    ("attributes an array", lambda: request("PUT", P, body(attributes=[]))),
    ("enabled a string", lambda: request("PUT", P, body(attributes={"enabled": "yes"}))),
    ("attributes read-only created", lambda: request("PUT", P, body(attributes={"created": 5}))),
    ("extra member", lambda: request("PUT", P, body(managed=True))),
    ("Hsm false", lambda: request("PUT", P, body(Hsm=False))),
    ("tags not strings", lambda: request("PUT", P, body(tags={"a": 1}))),
    ("exportable without a release policy",
     lambda: request("PUT", P, body(attributes={"exportable": True}))),
    ("extra key member", lambda: request("PUT", P, body({"n": "AQAB"}))),
    ("software kty", lambda: request("PUT", P, body({"kty": "RSA"}))),
    ("EC without crv", lambda: request("PUT", P, body({"kty": "EC-HSM"}))),
    ("crv on RSA", lambda: request("PUT", P, body({"crv": "P-256"}))),
    ("unknown crv", lambda: request("PUT", P, body({"kty": "EC-HSM", "crv": "P-224"}))),
    ("padded base64url", lambda: request("PUT", P, body({"key_hsm": base64.urlsafe_b64encode(byok).decode() + "=="}))),
    ("standard base64", lambda: request("PUT", P, body({"key_hsm": base64.b64encode(byok).decode().rstrip("=") + "+/"}))),
    ("whitespace in base64url", lambda: request("PUT", P, body({"key_hsm": good_hsm[:10] + " " + good_hsm[10:]}))),
    ("base64url bad length", lambda: request("PUT", P, body({"key_hsm": good_hsm + "A"}))),
    ("base64url trailing bits", lambda: request("PUT", P, body({"key_hsm": "AB"}))),
    ("key_hsm not a .byok", lambda: request("PUT", P, body({"key_hsm": b64(b"hello")}))),
    ("a .byok for another KEK", lambda: request("PUT", P, body({"key_hsm": b64(other_kek)}))),
    ("a truncated ciphertext", lambda: request("PUT", P, body({"key_hsm": b64(json.dumps(trunc).encode())}))),
    ("kty disagrees with the .byok", lambda: request("PUT", P, body({"kty": "EC-HSM", "crv": "P-256"}))),
    ("oct for an RSA .byok", lambda: request("PUT", P, body({"kty": "oct-HSM"}))),
    ("huge Content-Length", lambda: raw(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{" % (P, token)).encode())),
    ("huge chunked body", lambda: raw(chunked(5))),
    ("huge headers", lambda: raw(("GET %s HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % (P, "a" * 60000)).encode())),
    ("POST", lambda: request("POST", P, body())),
    ("DELETE", lambda: request("DELETE", P)),
    ("PATCH", lambda: request("PATCH", P, body())),
    ("OPTIONS", lambda: request("OPTIONS", P)),
    ("PUT with a version", lambda: request("PUT", "/keys/Storm/" + "a" * 32 + Q, body())),
    ("root", lambda: request("GET", "/" + Q)),
    ("/keys", lambda: request("GET", "/keys" + Q)),
    ("/keys/", lambda: request("GET", "/keys/" + Q)),
    ("too deep", lambda: request("GET", "/keys/a/b/c" + Q)),
    ("bad version", lambda: request("GET", "/keys/a/xyz" + Q)),
    ("dot dot", lambda: request("GET", "/keys/..%2f..%2fetc" + Q)),
    ("encoded NUL", lambda: request("GET", "/keys/a%00b" + Q)),
    ("other resource", lambda: request("GET", "/secrets/x" + Q)),
    ("long name", lambda: request("GET", "/keys/" + "a" * 200 + Q)),
    ("underscore name", lambda: request("PUT", "/keys/a_b" + Q, body())),
    ("no api-version", lambda: request("PUT", "/keys/Storm", body())),
    ("unknown api-version", lambda: request("PUT", "/keys/Storm?api-version=7.9", body())),
    ("no token", lambda: request("PUT", P, body(), {"Content-Type": "application/json"})),
    ("wrong token", lambda: request("PUT", P, body(), {"Authorization": "Bearer nope", "Content-Type": "application/json"})),
    ("Basic auth", lambda: request("GET", P, None, {"Authorization": "Basic " + token})),
    ("token prefix", lambda: request("GET", P, None, {"Authorization": "Bearer " + token[:-1]})),
    ("no content type", lambda: request("PUT", P, body(), {"Authorization": "Bearer " + token})),
    ("text/plain", lambda: request("PUT", P, body(), {"Authorization": "Bearer " + token, "Content-Type": "text/plain"})),
    ("application/jsonx", lambda: request("PUT", P, body(), {"Authorization": "Bearer " + token, "Content-Type": "application/jsonx"})),
    ("name exists", lambda: request("PUT", "/keys/ContosoFirstHSMkey-rest" + Q, body())),
    ("unknown key", lambda: request("GET", "/keys/NoSuchKey" + Q)),
]
n = 0
with open(log, "w") as f:
    while n < 500:
        for what, fn in cases:
            if n == 500:
                break
            status, ctype, data = fn()
            n += 1
            f.write("%d %s -> %d\n" % (n, what, status))
            if not 400 <= status < 500:
                f.write("FAIL: %s answered %d: %r\n" % (what, status, data[:300]))
                sys.exit(1)
            if ctype and ctype.startswith("application/json"):
                err = json.loads(data)["error"]
                assert err["code"] and err["message"], data
    # bytes that are not HTTP at all: the connection is closed or refused with a 4xx
    status = raw(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")[0]
    f.write("not HTTP -> %d\n" % status)
    assert status == 0 or 400 <= status < 500, status
    # still serving correct imports, and the refused ones left nothing behind
    status, _, data = request("PUT", "/keys/AfterTheStorm" + Q, body({"key_ops": ["sign", "verify"]}))
    f.write("import after the storm -> %d %s\n" % (status, data[:200]))
    assert status == 200, data
    key = json.loads(data)["key"]
    assert key["kty"] == "RSA-HSM" and key["key_ops"] == ["sign", "verify"], key
    assert request("GET", "/keys/AfterTheStorm" + Q, None, AUTH)[0] == 200
    assert request("GET", "/keys/Storm" + Q, None, AUTH)[0] == 404
    assert request("GET", "/keys/Chunked" + Q, None, AUTH)[0] == 404
    f.write("%d malformed requests answered with 4xx; a correct import followed\n" % n)
EOF
grep -c ' -> 4[0-9][0-9]' "$srv_log" >/dev/null && ok || fail "the emulator logged no refusals"
kill -0 "$srv_pid" 2>/dev/null && ok || fail "the emulator died"

# --- serve: refusals and a clean stop ------------------------------------------------------------
kill -INT "$srv_pid"
wait "$srv_pid"
status=$?
[ "$status" -eq 0 ] && grep -q "SIGINT: stopping" "$srv_log" && ok ||
    fail "serve on SIGINT: exit $status: $(tail -n 3 "$srv_log")"
for addr in 0.0.0.0:0 192.168.1.1:8443 10.0.0.1:0 '[::]:0' '[::2]:0' example.com:80 \
    127.0.0.1:65536 127.0.0.1 127.0.0.1:-1 ''; do
    expect 2 "serve --listen '$addr'" "$CLOUD" serve --state "$demo/cloud" --listen "$addr"
done
expect_err "loopback only" "$CLOUD" serve --state "$demo/cloud" --listen 0.0.0.0:8443
printf 'short\n' >"$t/short-token"
expect 3 "serve: a short token" "$CLOUD" serve --state "$demo/cloud" --token-file "$t/short-token"
expect 4 "serve: no cloud" "$CLOUD" serve --state "$t/missing"
expect 2 "serve: an argument" "$CLOUD" serve --state "$demo/cloud" extra
# a port in use
start_server "$demo/cloud" "$t/token" serve2
used=${srv_url##*:}
expect 4 "serve: a port in use" timeout 20 "$CLOUD" serve --state "$demo/cloud" \
    --listen "127.0.0.1:$used" --token-file "$t/token"
# a random token is printed when none is given, and works
kill -TERM "$srv_pid"
wait "$srv_pid" && ok || fail "serve on SIGTERM"
"$CLOUD" serve --state "$demo/cloud" >"$t/serve3.out" 2>"$t/serve3.log" &
srv_pid=$!
pids+=("$srv_pid")
for _ in $(seq 200); do grep -q '^  token' "$t/serve3.out" && break; sleep 0.05; done
awk '$1 == "token" { print $2 }' "$t/serve3.out" >"$t/printed-token"
srv_url=$(awk '$1 == "url" { print $2 }' "$t/serve3.out")
[ "$(wc -c <"$t/printed-token")" -ge 40 ] && ok || fail "serve printed no token: $(cat "$t/serve3.out")"
[ "$(kv_get "$srv_url" AfterTheStorm "$t/printed-token")" = 200 ] && ok ||
    fail "the printed token does not work"
[ "$(kv_get "$srv_url" AfterTheStorm "$t/token")" = 401 ] && ok ||
    fail "another token works on a server with a random token"
kill -TERM "$srv_pid"
wait "$srv_pid"

# --- scripts/demo-online.sh on the demo folder ---------------------------------------------------
if KT_ONLINE=$ONLINE KT_CLOUD=$CLOUD KT_BIN=$KT bash "$KT_SRC/scripts/demo-online.sh" "$demo" \
    >"$t/demo-online.log" 2>&1 && grep -qx "Result: SUCCESS" "$t/demo-online.log"; then
    ok
else
    fail "scripts/demo-online.sh: $(tail -n 20 "$t/demo-online.log")"
fi
grep -q "its public key matches the signed manifest" "$t/demo-online.log" && ok ||
    fail "demo-online.sh does not say the RSA key's public key matched"

# --- help and man pages agree --------------------------------------------------------------------
man="$KT_SRC/docs/man/keytransfer-online.1"
for cmd in hash check upload; do
    "$ONLINE" $cmd --help >"$t/help" || fail "$cmd --help"
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
        grep -qF -e "$opt" -e "${opt//-/\\-}" "$man" || fail "$cmd: $opt is not in $man"
    done
done
"$CLOUD" serve --help >"$t/help" || fail "serve --help"
for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
    grep -qF -e "$opt" -e "${opt//-/\\-}" "$KT_SRC/docs/man/keytransfer-cloud.1" ||
        fail "serve: $opt is not in keytransfer-cloud.1"
done

finish
