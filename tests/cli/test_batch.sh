#!/usr/bin/env bash
# test_batch.sh - migrating a key estate: 50 EC P-256 keys of which 47 are reduced with one
# opening of the quorum (every key listed in the one request), then packaged as one batch:
#   - the 47 are packaged and the 3 not reduced are named, with exit 1;
#   - a SIGKILL at a group's commit point (strace: the Nth linkat) leaves the groups before it
#     whole and nothing of the group in flight; a SIGKILL while a group is published (the Nth
#     renameat2) leaves a half pair only beside its commit record, which the next command
#     completes; the re-run completes the rest, recognising what was written;
#   - keytransfer-online checks the 47 pairs, and uploads the folder with --parallel to
#     `keytransfer-cloud serve`, whose state shows each key imported exactly once; a second
#     upload imports nothing again.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}
PY=/usr/bin/python3

command -v strace >/dev/null || { echo "SKIP: no strace"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-batch.XXXXXX)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    [ -n "${KT_KEEP:-}" ] && echo "kept $t" || rm -rf "$t"
}
trap cleanup EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
printf 'pin-card-one-1\npin-card-two-2\npin-card-three-3\n' >"$t/pins"
printf 'pin-card-one-1\npin-card-two-2\n' >"$t/quorum"
chmod 600 "$t/pins" "$t/quorum"

"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins" >/dev/null 2>&1 ||
    { fail "world new"; finish; exit 1; }
"$CLOUD" init --region NA --kek-size 2048 --out "$t/cloud" --state "$t/state" >/dev/null 2>&1 ||
    { fail "cloud init"; finish; exit 1; }
kek="$t/cloud/BYOK-KEK-pkg-NA-1"
world="$t/cloud/BYOK-SecurityWorld-pkg-NA-1"
mapfile -t cards < <("$KT" world info --json | $PY -c 'import json,sys; print("\n".join(json.load(sys.stdin)["cards"][:2]))')

all=() reduce=() unreduced=(k07 k23 k41)
for i in $(seq -w 1 50); do
    all+=(--ident "k$i")
    case " ${unreduced[*]} " in *" k$i "*) ;; *) reduce+=(--ident "k$i") ;; esac
    "$KT" key generate --type EC --curve P-256 --ident "k$i" >/dev/null 2>&1 || fail "key generate k$i"
done

# --- modify-acls: 47 keys, one request, one quorum ---------------------------------------------
"$KT" modify-acls "${reduce[@]}" -k "$kek" -w "$world" --demo --yes --card "${cards[0]}" \
    --card "${cards[1]}" --pin-file "$t/quorum" >"$t/reduce.out" 2>"$t/reduce.err"
st=$?
[ "$st" -eq 0 ] && ok || fail "modify-acls of 47 keys: exit $st: $(tail -n 5 "$t/reduce.err")"
n=$(grep -c -- '-> key_xferacld_k' "$t/reduce.err")
[ "$n" -eq 47 ] && ok || fail "the one request lists $n keys, not 47"
[ "$(grep -c 'approved with --yes' "$t/reduce.err")" -eq 1 ] && ok || fail "approved once"
n=$(find "$t/kmdata/local" -name 'key_xferacld_*' | wc -l)
[ "$n" -eq 47 ] && ok || fail "$n reduced key files, not 47"
grep -q 'Result: SUCCESS' "$t/reduce.out" && ok || fail "modify-acls summary: $(cat "$t/reduce.out")"
# a batch with a key already reduced and one missing: those two named, nothing asked twice
"$KT" modify-acls --ident k01 --ident k07 --ident nokey -k "$kek" -w "$world" --demo --yes \
    --card "${cards[0]}" --card "${cards[1]}" --pin-file "$t/quorum" --json >"$t/re.json" 2>"$t/re.err"
st=$?
[ "$st" -eq 4 ] && grep -q 'key k01 will not be reduced: key k01 has already been reduced' "$t/re.err" &&
    grep -q 'key nokey will not be reduced' "$t/re.err" && ok ||
    fail "modify-acls with a reduced and a missing key: exit $st: $(cat "$t/re.err")"
$PY - "$t/re.json" <<'EOF' && ok || fail "modify-acls --json: $(cat "$t/re.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["format"] == "keytransfer-modify-acls-batch/1" and v["result"] == "PARTIAL", v
assert v["written"] == 1 and v["refused"] == 2, v
assert [k["ident"] for k in v["keys"] if k["result"] == "WRITTEN"] == ["k07"], v
EOF
# undo k07 for the package test below: it stays unreduced
rm -f "$t/kmdata/local/key_xferacld_k07"
expect 2 "an ident named twice" "$KT" modify-acls --ident k01 --ident k01 -k "$kek" -w "$world" \
    --demo --yes --card "${cards[0]}" --card "${cards[1]}" --pin-file "$t/quorum"

# pairs DIR: prints "WHOLE HALF" - pairs whose manifest states the package's SHA-256, and
# packages or manifests without their other half.
pairs() {
    $PY - "$1" <<'EOF'
import base64, glob, hashlib, json, os, sys
d = sys.argv[1]
whole = half = 0
for b in glob.glob(os.path.join(d, "TransferPackage-*.byok")):
    m = b[: -len(".byok")] + ".manifest.json"
    if not os.path.exists(m):
        half += 1
        continue
    j = json.load(open(m))
    p = json.loads(base64.urlsafe_b64decode(j["payload"] + "=" * (-len(j["payload"]) % 4)))
    sha = hashlib.sha256(open(b, "rb").read()).hexdigest()
    whole += 1 if json.dumps(p).find(sha) >= 0 else 0
for m in glob.glob(os.path.join(d, "TransferPackage-*.manifest.json")):
    if not os.path.exists(m[: -len(".manifest.json")] + ".byok"):
        half += 1
print(whole, half)
EOF
}
P=(-k "$kek" -w "$world" --demo --subscription s --name-prefix Estate-)

# --- package: 47 of 50, the 3 named ------------------------------------------------------------
mkdir -m 700 "$t/usb"
"$KT" package "${all[@]}" "${P[@]}" --out "$t/usb" >"$t/p.out" 2>"$t/p.err"
st=$?
[ "$st" -eq 1 ] && ok || fail "package of 50 with 3 unreduced: exit $st, expected 1: $(tail -n 3 "$t/p.err")"
for k in "${unreduced[@]}"; do
    grep -q "key $k was not packaged: key $k has not been reduced" "$t/p.err" && ok ||
        fail "$k not named: $(cat "$t/p.err")"
done
[ "$(grep -c 'was not packaged' "$t/p.err")" -eq 3 ] && ok || fail "only the 3 are named"
[ "$(pairs "$t/usb")" = "47 0" ] && ok || fail "pairs after the batch: $(pairs "$t/usb")"
grep -q '^47 of 50 keys packaged (47 new, 0 by an earlier run), 3 refused' "$t/p.out" &&
    grep -q 'Result: PARTIAL' "$t/p.out" && ok || fail "summary: $(tail -n 3 "$t/p.out")"
[ -z "$(find "$t/usb" -name '.*kt-txn*')" ] && ok || fail "records left: $(ls -a "$t/usb")"
# the same batch again: every package recognised, nothing new, --json
"$KT" package "${all[@]}" "${P[@]}" --out "$t/usb" --json >"$t/again.json" 2>/dev/null
st=$?
$PY - "$t/again.json" <<'EOF' && [ "$st" -eq 1 ] && ok || fail "the batch again: exit $st $(head -c 400 "$t/again.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["format"] == "keytransfer-package-batch/1" and v["result"] == "PARTIAL", v
assert (v["written"], v["earlier"], v["refused"]) == (0, 47, 3), v
assert sorted(k["ident"] for k in v["keys"] if k["result"] == "REFUSED") == ["k07", "k23", "k41"]
EOF
expect 2 "--name in a batch" "$KT" package --ident k01 --ident k02 "${P[@]}" --name X --out "$t/usb"
expect 2 "--group 0" "$KT" package --ident k01 --ident k02 "${P[@]}" --group 0 --out "$t/usb"
expect 2 "--ident with --all-reduced" "$KT" package --ident k01 --all-reduced "${P[@]}" --out "$t/usb"
# --stop-on-error stops at k07: k01..k06 stand (one group of 6), nothing after
mkdir -m 700 "$t/stop"
expect 1 "--stop-on-error" "$KT" package "${all[@]}" "${P[@]}" --stop-on-error --out "$t/stop"
[ "$(pairs "$t/stop")" = "6 0" ] && ok || fail "--stop-on-error pairs: $(pairs "$t/stop")"

# --- a SIGKILL at the commit point of the third group of 10 (linkat: intent, commit, ...) -------
mkdir -m 700 "$t/kill1"
strace -f -o /dev/null -e trace=linkat -e inject=linkat:signal=KILL:when=6 \
    "$KT" package "${all[@]}" "${P[@]}" --group 10 --out "$t/kill1" >/dev/null 2>&1
st=$?
[ "$st" -eq 137 ] && ok || fail "the kill at the third commit: exit $st"
[ "$(pairs "$t/kill1")" = "20 0" ] && ok || fail "after the kill at a commit point: $(pairs "$t/kill1")"
[ -n "$(find "$t/kill1" -name '.*kt-txn*')" ] && ok || fail "the killed group left no staging"
"$KT" package "${all[@]}" "${P[@]}" --group 10 --out "$t/kill1" >"$t/k1.out" 2>"$t/k1.err"
st=$?
[ "$st" -eq 1 ] && grep -q '^47 of 50 keys packaged (27 new, 20 by an earlier run), 3 refused' "$t/k1.out" &&
    ok || fail "the re-run after the commit kill: exit $st: $(tail -n 3 "$t/k1.out") $(tail -n 3 "$t/k1.err")"
[ "$(pairs "$t/kill1")" = "47 0" ] && ok || fail "after the re-run: $(pairs "$t/kill1")"
[ -z "$(find "$t/kill1" -name '.*kt-txn*')" ] && ok || fail "staging left: $(ls -a "$t/kill1")"

# --- a SIGKILL while the second group is published: renameat2 #24 is key 12's manifest ---------
mkdir -m 700 "$t/kill2"
strace -f -o /dev/null -e trace=renameat2 -e inject=renameat2:signal=KILL:when=24 \
    "$KT" package "${all[@]}" "${P[@]}" --group 10 --out "$t/kill2" >/dev/null 2>&1
st=$?
[ "$st" -eq 137 ] && ok || fail "the kill while publishing: exit $st"
[ "$(pairs "$t/kill2")" = "11 1" ] && ok || fail "after the kill while publishing: $(pairs "$t/kill2")"
[ -n "$(find "$t/kill2" -name '.kt-txn.*.commit')" ] && ok ||
    fail "a half pair without its commit record: $(ls -a "$t/kill2")"
"$KT" package "${all[@]}" "${P[@]}" --group 10 --out "$t/kill2" >"$t/k2.out" 2>"$t/k2.err"
st=$?
[ "$st" -eq 1 ] && grep -q '^47 of 50 keys packaged (27 new, 20 by an earlier run), 3 refused' "$t/k2.out" &&
    grep -q 'completed' "$t/k2.err" && ok ||
    fail "the re-run after the publish kill: exit $st: $(tail -n 3 "$t/k2.out") $(cat "$t/k2.err")"
[ "$(pairs "$t/kill2")" = "47 0" ] && ok || fail "after the second re-run: $(pairs "$t/kill2")"

# --- the online side: check the folder, upload it with --parallel -----------------------------
"$ONLINE" check "$t/usb" --demo >"$t/check.out" 2>&1 && ok || fail "online check: $(tail -n 5 "$t/check.out")"
printf 'ktv1-batch-test-token-0123456789\n' >"$t/token"
"$CLOUD" serve --state "$t/state" --listen 127.0.0.1:0 --token-file "$t/token" >"$t/srv.out" \
    2>"$t/srv.log" &
srv_pid=$!
url=
for _ in $(seq 200); do
    url=$(awk '$1 == "url" { print $2 }' "$t/srv.out")
    [ -n "$url" ] && break
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$url" ] || { fail "serve did not start: $(cat "$t/srv.log")"; finish; exit 1; }
"$ONLINE" upload --demo --vault "$url" --token-file "$t/token" --parallel 8 "$t/usb" \
    >"$t/up.out" 2>"$t/up.err"
st=$?
[ "$st" -eq 0 ] && grep -q '^47 of 47 packages in the vault (47 imported, 0 there already), 0 failed; 8 at once' "$t/up.out" &&
    ok || fail "upload of the folder: exit $st: $(tail -n 3 "$t/up.out") $(tail -n 5 "$t/up.err")"
# each key imported exactly once: one successful PUT per name, and one key file each in the state
for i in $(seq -w 1 50); do
    case " ${unreduced[*]} " in *" k$i "*) want=0 ;; *) want=1 ;; esac
    n=$(grep -c "PUT /keys/Estate-k$i -> 200\$" "$t/srv.log")
    [ "$n" -eq "$want" ] && ok || fail "Estate-k$i imported $n times, expected $want"
done
n=$(find "$t/state" -name 'key_imported_estate-k*' | wc -l)
[ "$n" -eq 47 ] && ok || fail "$n keys in the emulator's state, not 47"
# again, with several files named and --json: every key is there already, nothing imported twice
"$ONLINE" upload --demo --vault "$url" --token-file "$t/token" --json "$t"/usb/*.byok \
    >"$t/up2.json" 2>"$t/up2.err"
st=$?
$PY - "$t/up2.json" <<'EOF' && [ "$st" -eq 0 ] && ok || fail "upload again: exit $st: $(head -c 600 "$t/up2.json") $(tail -n 3 "$t/up2.err")"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["format"] == "keytransfer-online-upload-batch/1" and v["result"] == "SUCCESS", v
assert (v["packages"], v["imported"], v["already"], v["failed"], v["parallel"]) == (47, 0, 47, 0, 4), v
assert all(u["already"] is True and u["kid"] for u in v["uploads"]), v
EOF
n=$(grep -c 'PUT /keys/.* -> 200$' "$t/srv.log")
[ "$n" -eq 47 ] && ok || fail "successful imports in the log after two uploads: $n, not 47"
expect 2 "--name with a folder" "$ONLINE" upload --demo --vault "$url" --token-file "$t/token" \
    --name X "$t/usb"
expect 2 "--parallel 0" "$ONLINE" upload --demo --vault "$url" --token-file "$t/token" \
    --parallel 0 "$t/usb"

# --- hash --json: the hash sha256sum gives, and a mismatch is exit 1 ---------------------------
zip="$t/cloud/KeyTransfer-BYOK-Tools-NA.zip"
sum=$(sha256sum "$zip" | cut -d' ' -f1)
"$ONLINE" hash "$zip" --json >"$t/hash.json" 2>&1
$PY - "$t/hash.json" "$sum" "$(stat -c %s "$zip")" <<'EOF' && ok || fail "hash --json: $(cat "$t/hash.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["format"] == "keytransfer-online-hash/1" and v["hash"] == sys.argv[2].upper(), v
assert v["bytes"] == int(sys.argv[3]) and v["result"] is None, v
EOF
other=$(printf '%064d' 0)
"$ONLINE" hash "$zip" --json --expect "$other" >"$t/hash2.json" 2>/dev/null
st=$?
[ "$st" -eq 1 ] && $PY -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["result"] == "FAILURE"' \
    "$t/hash2.json" && ok || fail "hash --json --expect another: exit $st: $(cat "$t/hash2.json")"

finish
