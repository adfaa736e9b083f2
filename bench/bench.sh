#!/usr/bin/env bash
# bench.sh - keytransfer against real alternatives, side by side in one run (docs/benchmarks.md).
# Each comparison runs our command and its peer alternately (the order swapped every pair) and
# reports the median of the per-pair ratios, never the best of sequential runs:
#   1. package 1, 10, 100 and 1000 RSA-2048 keys for a 2048-bit KEK: one batch run, and one
#      process per key (for at most 100 of the keys: nothing is shared between the processes),
#      per key against the openssl pipeline per key (for at most 20; rand, pkeyutl -encrypt,
#      enc -id-aes256-wrap-pad, base64), and the batch against the durable-write floor of the
#      same files (bench_floor: create, write, fsync each file, one folder fsync);
#   2. key generate per type against `openssl genpkey` (RSA-2048, EC P-256) and `openssl rand`
#      (AES-256), KEYGEN_RUNS pairs each (default 21);
#   3. keytransfer-online hash against `openssl dgst -sha256` on a 1 GiB file, and both's RSS;
#   4. upload of 100 packages to `keytransfer-cloud serve` on loopback with --parallel 8 against
#      100 single uploads, each key checked to be imported exactly once (the emulator's log);
#   5. key list over 10,000 keys: time and RSS (/usr/bin/time), no peer.
# Usage: bench/bench.sh BUILD-DIR   (a RelWithDebInfo build with bench_keys and bench_floor)
# Environment: SECTIONS (default "1 2 3 4 5"), SIZES, KEYGEN_RUNS, UPLOAD_ROUNDS, HASH_ROUNDS,
# LIST_KEYS to shorten a run.
set -euo pipefail
build=$(cd "${1:?usage: bench.sh BUILD-DIR}" && pwd)
KT="$build/keytransfer/keytransfer"
CLOUD="$build/kek/keytransfer-cloud"
ONLINE="$build/online/keytransfer-online"
KEYS="$build/bench/bench_keys"
FLOOR="$build/bench/bench_floor"
PY=/usr/bin/python3
for p in "$KT" "$CLOUD" "$ONLINE" "$KEYS" "$FLOOR"; do
    [ -x "$p" ] || { echo "bench.sh: $p is missing: build the bench targets" >&2; exit 2; }
done
t=$(mktemp -d /tmp/kt-bench.XXXXXX)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    rm -rf "$t"
}
trap cleanup EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) CPUs, $(openssl version)"
want() { [[ " ${SECTIONS:-1 2 3 4 5} " == *" $1 "* ]]; }

# ns COMMAND...: runs it (it must succeed) and prints the nanoseconds it took.
ns() {
    local s e
    s=$(date +%s%N)
    "$@" >"$t/last.log" 2>&1 || { cat "$t/last.log" >&2; echo "bench.sh: $1 failed" >&2; exit 1; }
    e=$(date +%s%N)
    echo $((e - s))
}

# stats FILE: "median min max" of the numbers in FILE.
stats() {
    sort -g "$1" | awk '{ a[NR] = $1 } END {
        m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf "%.4g %.4g %.4g", m, a[1], a[NR] }'
}

# pairs LABEL N OURS PEER: runs the functions OURS and PEER (each prints nanoseconds of the
# unit compared) N times alternately, then prints their medians and the median of the per-pair
# ratios ours/peer with its range.
pairs() {
    local label=$1 n=$2 ours=$3 peer=$4 a b
    : >"$t/a"
    : >"$t/b"
    : >"$t/r"
    for i in $(seq "$n"); do
        if [ $((i % 2)) -eq 1 ]; then
            a=$($ours "$i")
            b=$($peer "$i")
        else
            b=$($peer "$i")
            a=$($ours "$i")
        fi
        echo "$a" >>"$t/a"
        echo "$b" >>"$t/b"
        awk -v a="$a" -v b="$b" 'BEGIN { printf "%.6f\n", a / b }' >>"$t/r"
    done
    read -r am _ _ <<<"$(stats "$t/a")"
    read -r bm _ _ <<<"$(stats "$t/b")"
    read -r rm rlo rhi <<<"$(stats "$t/r")"
    awk -v l="$label" -v am="$am" -v bm="$bm" -v rm="$rm" -v lo="$rlo" -v hi="$rhi" -v n="$n" \
        'BEGIN { printf "%-52s %10.3f ms %10.3f ms   ratio %7.3f (%.3f-%.3f, %d pairs)\n",
                 l, am / 1e6, bm / 1e6, rm, lo, hi, n }'
}

# --- the world, the cloud, 1000 reduced RSA-2048 keys -------------------------------------------
printf 'pin-card-one-1\npin-card-two-2\npin-card-three-3\n' >"$t/pins"
printf 'pin-card-one-1\npin-card-two-2\n' >"$t/quorum"
chmod 600 "$t/pins" "$t/quorum"
"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins" >/dev/null 2>&1
"$CLOUD" init --region NA --kek-size 2048 --out "$t/cloud" --state "$t/state" >/dev/null 2>&1
K="$t/cloud/BYOK-KEK-pkg-NA-1"
W="$t/cloud/BYOK-SecurityWorld-pkg-NA-1"
mapfile -t cards < <("$KT" world info --json | $PY -c 'import json,sys; print("\n".join(json.load(sys.stdin)["cards"][:2]))')
"$KEYS" "$KEYTRANSFER_KMDATA" 1000 rsa pk
"$KT" modify-acls --all -k "$K" -w "$W" --demo --yes --card "${cards[0]}" --card "${cards[1]}" \
    --pin-file "$t/quorum" >/dev/null 2>&1
$PY - "$K" "$t/kek.pem" <<'PY'
import base64, json, sys
j = json.load(open(sys.argv[1]))
p = json.loads(base64.urlsafe_b64decode(j["payload"] + "=" * (-len(j["payload"]) % 4)))
der = base64.urlsafe_b64decode(p["public_key"] + "=" * (-len(p["public_key"]) % 4))
open(sys.argv[2], "wb").write(b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) +
                              b"-----END PUBLIC KEY-----\n")
PY
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -outform DER -out "$t/target.der"
P=(-k "$K" -w "$W" --demo --subscription 0)

# --- 1. packaging -------------------------------------------------------------------------------
if want 1; then
echo
echo "== 1. package N RSA-2048 keys (per key; ratio < 1: ours is faster)"
printf '%-52s %13s %13s\n' "" "ours" "peer"
# the openssl pipeline for one key (docs/benchmarks.md): what wrapping takes by hand
pipeline_one() {
    openssl rand -out "$t/K" 32 &&
        openssl pkeyutl -encrypt -pubin -inkey "$t/kek.pem" -in "$t/K" -out "$t/rsa" \
            -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 &&
        openssl enc -id-aes256-wrap-pad -iv A65959A6 -K "$(od -An -tx1 "$t/K" | tr -d ' \n')" \
            -in "$t/target.der" -out "$t/kwp" &&
        cat "$t/rsa" "$t/kwp" | openssl base64 -A >"$t/ct"
}
pipeline_keys() {
    local m=$1
    for _ in $(seq "$m"); do pipeline_one; done
}
out_dir() {
    rm -rf "$t/out"
    mkdir -m 700 "$t/out"
}
batch_args() {
    local n=$1
    idents=()
    for i in $(seq 0 $((n - 1))); do idents+=(--ident "$(printf 'pk%06d' "$i")"); done
}
# ours_batch N: one run for N keys (one key: the single form), ns per key
ours_batch() {
    out_dir
    local d
    if [ "$N" -eq 1 ]; then
        d=$(ns "$KT" package --ident pk000000 "${P[@]}" --name pk000000 --out "$t/out")
    else
        d=$(ns "$KT" package "${idents[@]}" "${P[@]}" --out "$t/out")
    fi
    echo $((d / N))
}
# one process per key shares nothing between keys either: run for min(N, 100) keys (into a
# folder that then holds that many pairs), per key
ours_procs() {
    out_dir
    local s e m=$((N < 100 ? N : 100))
    s=$(date +%s%N)
    for i in $(seq 0 $((m - 1))); do
        id=$(printf 'pk%06d' "$i")
        "$KT" package --ident "$id" "${P[@]}" --name "$id" --out "$t/out" >/dev/null 2>&1 ||
            { echo "bench.sh: package $id failed" >&2; exit 1; }
    done
    e=$(date +%s%N)
    echo $(((e - s) / m))
}
# the pipeline is run for min(N, 20) keys: it shares nothing between keys, so its per-key cost
# does not depend on N
peer_pipeline() {
    local m=$((N < 20 ? N : 20)) d
    d=$(ns pipeline_keys "$m")
    echo $((d / m))
}
sizes() {
    out_dir
    "$KT" package --ident pk000000 "${P[@]}" --name pk000000 --out "$t/out" >/dev/null 2>&1
    size1=$(stat -c %s "$t/out/TransferPackage-pk000000.byok")
    size2=$(stat -c %s "$t/out/TransferPackage-pk000000.manifest.json")
}
sizes
peer_floor() {
    rm -rf "$t/floor"
    mkdir -m 700 "$t/floor"
    local s
    s=$("$FLOOR" "$t/floor" "$N" "$size1" "$size2")
    awk -v s="$s" -v n="$N" 'BEGIN { printf "%d\n", s * 1e9 / n }'
}
for N in ${SIZES:-1 10 100 1000}; do
    batch_args "$N"
    case $N in 1) r=21 ;; 10) r=11 ;; 100) r=7 ;; *) r=3 ;; esac
    pairs "package $N: batch run vs openssl pipeline" "$r" ours_batch peer_pipeline
    pairs "package $N: one process per key vs pipeline" "$r" ours_procs peer_pipeline
    pairs "package $N: batch run vs durable-write floor" "$r" ours_batch peer_floor
done
echo "(files: .byok $size1 bytes, manifest $size2 bytes)"
echo "-- where a batch of 100 spends its system time (strace -c -f, top 8):"
N=100
batch_args 100
out_dir
strace -c -f -o "$t/strace.txt" "$KT" package "${idents[@]}" "${P[@]}" --out "$t/out" >/dev/null 2>&1
sed -n '1,10p' "$t/strace.txt"
fi

# --- 2. key generation --------------------------------------------------------------------------
if want 2; then
echo
echo "== 2. key generate vs openssl (ratio > 1: ours is slower)"
for spec in "RSA-2048:--type RSA --size 2048:genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out OUT" \
    "EC P-256:--type EC --curve P-256:genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out OUT" \
    "AES-256:--type AES --size 256:rand -out OUT 32"; do
    IFS=: read -r label ours_args peer_args <<<"$spec"
    slug=${label,,}
    slug=${slug// /-}
    # $1 is the pair's number: a new identifier each time (pairs runs these in subshells)
    ours_gen() {
        # shellcheck disable=SC2086 # the options are words
        ns "$KT" key generate $ours_args --ident "gen-$slug-$1"
    }
    peer_gen() {
        # shellcheck disable=SC2086
        ns openssl ${peer_args//OUT/$t/gen.out}
    }
    pairs "key generate $label vs openssl ${peer_args%% *}" "${KEYGEN_RUNS:-21}" ours_gen peer_gen
done
fi

# --- 3. hashing ---------------------------------------------------------------------------------
if want 3; then
echo
echo "== 3. SHA-256 of 1 GiB (page cache; ratio > 1: ours is slower)"
truncate -s 1G "$t/big.bin"
cat "$t/big.bin" >/dev/null
ours_hash() { ns "$ONLINE" hash "$t/big.bin"; }
peer_hash() { ns openssl dgst -sha256 "$t/big.bin"; }
pairs "keytransfer-online hash vs openssl dgst -sha256" "${HASH_ROUNDS:-5}" ours_hash peer_hash
ours_rss=$(/usr/bin/time -f %M "$ONLINE" hash "$t/big.bin" 2>&1 >/dev/null | tail -n 1)
peer_rss=$(/usr/bin/time -f %M openssl dgst -sha256 "$t/big.bin" 2>&1 >/dev/null | tail -n 1)
echo "maximum resident set: keytransfer-online hash ${ours_rss} KiB, openssl dgst ${peer_rss} KiB"
rm -f "$t/big.bin"
fi

# --- 4. upload ----------------------------------------------------------------------------------
if want 4; then
echo
echo "== 4. upload 100 packages to keytransfer-cloud serve on loopback (ratio < 1: ours is faster)"
rm -rf "$t/up"
mkdir -m 700 "$t/up"
idents=()
for i in $(seq 0 99); do idents+=(--ident "$(printf 'pk%06d' "$i")"); done
"$KT" package "${idents[@]}" "${P[@]}" --out "$t/up" >/dev/null 2>&1
cp -a "$t/state" "$t/state.template"
printf 'bench-token-0123456789abcdef0123\n' >"$t/token"
chmod 600 "$t/token"
# serve and stop run inside one of pairs' subshells: the server lives as long as that round
stop() {
    kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    srv_pid=
}
serve() {
    rm -rf "$t/state"
    cp -a "$t/state.template" "$t/state"
    "$CLOUD" serve --state "$t/state" --listen 127.0.0.1:0 --token-file "$t/token" \
        --max-connections 64 >"$t/srv.out" 2>"$t/srv.log" &
    srv_pid=$!
    url=
    for _ in $(seq 200); do
        url=$(awk '$1 == "url" { print $2 }' "$t/srv.out")
        [ -n "$url" ] && break
        sleep 0.05
    done
    [ -n "$url" ] || { echo "bench.sh: serve did not start: $(cat "$t/srv.log")" >&2; exit 1; }
}
# once_each: every key imported exactly once (one successful PUT per name), or stop
once_each() {
    local ok dup
    ok=$(grep -c 'PUT /keys/.* -> 200$' "$t/srv.log" || true)
    dup=$(grep 'PUT /keys/.* -> 200$' "$t/srv.log" | sort | uniq -d | wc -l)
    [ "$ok" -eq 100 ] && [ "$dup" -eq 0 ] ||
        { echo "bench.sh: $ok imports, $dup duplicated: $(tail -n 5 "$t/srv.log")" >&2; exit 1; }
}
ours_upload() {
    serve
    local d
    d=$(ns "$ONLINE" upload --demo --vault "$url" --token-file "$t/token" --parallel 8 "$t/up")
    once_each
    stop
    echo "$d"
}
peer_upload() {
    serve
    local s e
    s=$(date +%s%N)
    for f in "$t"/up/*.byok; do
        name=$(basename "$f" .byok)
        "$ONLINE" upload --demo --vault "$url" --token-file "$t/token" --name "${name#TransferPackage-}" \
            "$f" >/dev/null 2>&1 || { echo "bench.sh: upload $f failed" >&2; exit 1; }
    done
    e=$(date +%s%N)
    once_each
    stop
    echo $((e - s))
}
pairs "upload 100: --parallel 8 vs 100 single uploads" "${UPLOAD_ROUNDS:-3}" ours_upload peer_upload
fi

# --- 5. key list --------------------------------------------------------------------------------
want 5 || exit 0
echo
n=${LIST_KEYS:-10000}
echo "== 5. key list over $n keys (AES-256, made by bench_keys)"
export KEYTRANSFER_KMDATA="$t/kmdata-list"
"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins" >/dev/null 2>&1
"$KEYS" "$KEYTRANSFER_KMDATA" "$n" aes
for _ in 1 2 3; do
    /usr/bin/time -f '%e s, %M KiB' "$KT" key list 2>&1 >/dev/null | tail -n 1
done
