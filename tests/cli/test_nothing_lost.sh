#!/usr/bin/env bash
# test_nothing_lost.sh - what a user loses when something else goes wrong, for keytransfer and
# keytransfer-cloud (keytransfer-online: test_online_stdout.sh; the writers under kills and
# injected errors: tests/fault/faults.py):
#   - every command that prints, with stdout on /dev/full: exit 4 and a message, and world new's
#     card paths can be had again from world info;
#   - the world lock: a second writer waits, or fails after the bounded wait naming the holder;
#   - two writers at once on one kmdata, 50 rounds each of key generate against world new
#     --force, modify-acls against module erase and package against module erase: one winner,
#     the other waits or fails cleanly, never a dead key, a half package or "bad magic";
#   - folders: a kmdata others can write to, and --out through a link, are refused.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3
ROUNDS=${KT_RACE_ROUNDS:-50}

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-lost.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
printf 'pin-card-one-1\npin-card-two-2\npin-card-three-3\n' >"$t/pins"
printf 'pin-card-one-1\npin-card-two-2\n' >"$t/quorum"
chmod 600 "$t/pins" "$t/quorum"

# full TAG COMMAND...: with stdout on /dev/full the command exits 4 and says why.
full() {
    local tag=$1 st
    shift
    "$@" >/dev/full 2>"$t/full.err" </dev/null
    st=$?
    if [ "$st" -eq 4 ] && grep -q "cannot write to standard output" "$t/full.err"; then
        ok
    else
        fail "$tag >/dev/full: exit $st, expected 4 with a message: $(cat "$t/full.err")"
    fi
}

# --- stdout ------------------------------------------------------------------------------------
full "--help" "$KT" --help
full "--version" "$KT" --version
for c in "world new" "world info" "world check-card" "world program" "key generate" \
    "key import" "key list" "key show" "key public" "module erase" "verify" "modify-acls" \
    "package" "toolset extract"; do
    # shellcheck disable=SC2086
    full "$c --help" "$KT" $c --help
done
full "world --help" "$KT" world --help
full "keytransfer-cloud --help" "$CLOUD" --help
full "keytransfer-cloud --version" "$CLOUD" --version
full "keytransfer-cloud init --help" "$CLOUD" init --help

# world new on a full stdout: the world is made (exit 4 says the paths did not get out), and
# world info gives the card paths again.
full "world new" "$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins"
cards=$("$KT" world info --json | $PY -c 'import json,sys; print("\n".join(json.load(sys.stdin)["cards"]))')
[ "$(wc -l <<<"$cards")" -eq 3 ] && ok || fail "world info lists the cards again: $cards"
c1=$(sed -n 1p <<<"$cards")
c2=$(sed -n 2p <<<"$cards")
full "world info" "$KT" world info
full "world info --json" "$KT" world info --json
full "world check-card" "$KT" world check-card --card "$c1" --pin-file "$t/pins"
full "world program" "$KT" world program --force --card "$c1" --card "$c2" --pin-file "$t/quorum"
full "key generate" "$KT" key generate --type EC --curve P-256 --ident k1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$t/imp.pem" 2>/dev/null
full "key import" "$KT" key import --from "$t/imp.pem" --ident k2
full "key list" "$KT" key list
full "key list --json" "$KT" key list --json
full "key show" "$KT" key show k1
full "key public" "$KT" key public k1

"$CLOUD" init --region NA --kek-size 2048 --out "$t/cloud" --state "$t/state" >/dev/null 2>&1 ||
    fail "cloud init"
full "keytransfer-cloud init" "$CLOUD" init --region EU --kek-size 2048 --out "$t/cloud-eu" \
    --state "$t/state-eu"
kek="$t/cloud/BYOK-KEK-pkg-NA-1"
world="$t/cloud/BYOK-SecurityWorld-pkg-NA-1"
full "verify" "$KT" verify -k "$kek" -w "$world"
full "verify --json" "$KT" verify -k "$kek" -w "$world" --json
full "toolset extract" "$KT" toolset extract "$t/cloud/KeyTransfer-BYOK-Tools-NA.zip" "$t/tools"
full "modify-acls" "$KT" modify-acls --ident k1 -k "$kek" -w "$world" --demo --yes \
    --card "$c1" --card "$c2" --pin-file "$t/quorum"
mkdir -m 700 "$t/usb"
full "package" "$KT" package --ident k1 -k "$kek" -w "$world" --demo --subscription s \
    --name K1 --out "$t/usb"
full "package --json" "$KT" package --ident k1 -k "$kek" -w "$world" --demo --subscription s \
    --name K1 --out "$t/usb" --json
full "keytransfer-cloud import" "$CLOUD" import "$t/usb/TransferPackage-K1.byok" --name K1 \
    --state "$t/state"
full "module erase" "$KT" module erase --yes

# --- the lock: held, it is waited for at most KEYTRANSFER_LOCK_TIMEOUT, and its holder named --
"$KT" world program --card "$c1" --card "$c2" --pin-file "$t/quorum" >/dev/null ||
    fail "program again"
$PY - "$t/kmdata/local/lock" "$t/held" <<'EOF' &
import fcntl, os, sys, time
f = open(sys.argv[1], "r+")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)
EOF
holder=$!
for _ in $(seq 100); do [ -e "$t/held" ] && break; sleep 0.1; done
KEYTRANSFER_LOCK_TIMEOUT=1 "$KT" key list >/dev/null 2>"$t/lock.err"
st=$?
[ "$st" -eq 4 ] && grep -q "is in use by another process (pid $holder: /usr/bin/python3" "$t/lock.err" &&
    ok || fail "a held lock: exit $st: $(cat "$t/lock.err")"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
expect 0 "the lock once released" "$KT" key list

# --- folders ---------------------------------------------------------------------------------
chmod 777 "$t/kmdata"
expect 1 "a kmdata others can write to" "$KT" key list
expect_err "can be written by other users" "$KT" key list
chmod 700 "$t/kmdata"
mkdir -m 700 "$t/usb-real"
ln -s "$t/usb-real" "$t/usb-link"
for out in "$t/usb-link" "$t/usb-link/" "$t/usb-link/."; do
    expect 4 "package --out $out" "$KT" package --ident k1 -k "$kek" -w "$world" --demo \
        --subscription s --name K2 --out "$out"
done
[ -z "$(ls -A "$t/usb-real")" ] && ok || fail "package wrote through a link: $(ls -A "$t/usb-real")"

# --- two writers at once --------------------------------------------------------------------------
# A template world with one reduced key, its module programmed; each round works on a copy.
tpl="$t/tpl"
mkdir -m 700 "$tpl"
KEYTRANSFER_KMDATA="$tpl/kmdata" "$KT" world new --acs-quorum 2/3 --kdf interactive \
    --pin-file "$t/pins" >/dev/null 2>&1 || fail "template world"
tcards=$(KEYTRANSFER_KMDATA="$tpl/kmdata" "$KT" world info --json |
    $PY -c 'import json,sys; print(" ".join(json.load(sys.stdin)["cards"]))')
read -r tc1 tc2 _ <<<"$tcards"
KEYTRANSFER_KMDATA="$tpl/kmdata" "$KT" key generate --type EC --curve P-256 --ident r1 \
    >/dev/null 2>&1 || fail "template key"
KEYTRANSFER_KMDATA="$tpl/kmdata" "$KT" modify-acls --ident r1 -k "$kek" -w "$world" --demo \
    --yes --card "$tc1" --card "$tc2" --pin-file "$t/quorum" >/dev/null 2>&1 ||
    fail "template reduction"
KEYTRANSFER_KMDATA="$tpl/kmdata" "$KT" key generate --type EC --curve P-256 --ident r2 \
    >/dev/null 2>&1 || fail "template key 2"

# copy_world NAME [--empty]: a fresh copy of the template (without its keys with --empty)
copy_world() {
    rm -rf "${t:?}/$1"
    cp -a "$tpl" "$t/$1"
    [ "${2:-}" = --empty ] && rm -f "$t/$1"/kmdata/local/key_*
}

# every key of the world loads: key list exits 0 with nothing refused
all_keys_load() {
    KEYTRANSFER_KMDATA="$1" "$KT" key list >/dev/null 2>"$t/list.err"
}

race_gen=0 race_force=0 race_bad=0
for i in $(seq "$ROUNDS"); do
    copy_world r --empty
    k="$t/r/kmdata"
    KEYTRANSFER_KMDATA="$k" "$KT" world new --force --acs-quorum 2/3 --kdf interactive \
        --pin-file "$t/pins" >"$t/force.out" 2>"$t/force.err" &
    f=$!
    KEYTRANSFER_KMDATA="$k" "$KT" key generate --type EC --curve P-256 --ident g$i \
        >"$t/gen.out" 2>"$t/gen.err" &
    g=$!
    wait $f
    fs=$?
    wait $g
    gs=$?
    if [ "$gs" -eq 0 ] && [ "$fs" -eq 4 ] && grep -q "key file" "$t/force.err"; then
        race_gen=$((race_gen + 1)) # the key came first; the world was not replaced under it
    elif [ "$fs" -eq 0 ] && [ "$gs" -eq 0 ]; then
        race_force=$((race_force + 1)) # the new world came first; the key is the new world's
    else
        race_bad=$((race_bad + 1))
        fail "round $i: world new --force exit $fs, key generate exit $gs: $(cat "$t/force.err" "$t/gen.err")"
    fi
    if ! all_keys_load "$k" || ! KEYTRANSFER_KMDATA="$k" "$KT" key show g$i >/dev/null 2>&1; then
        race_bad=$((race_bad + 1))
        fail "round $i: a dead key: $(cat "$t/list.err")"
    fi
done
echo "race: key generate vs world new --force: $ROUNDS rounds, key first $race_gen, world first $race_force, failures $race_bad"

# cmd_vs_erase NAME COMMAND...: COMMAND against module erase, each round on a fresh copy.
cmd_vs_erase() {
    local name=$1 first=0 erased=0 bad=0 i cs es
    shift
    for i in $(seq "$ROUNDS"); do
        copy_world r
        k="$t/r/kmdata"
        rm -rf "$t/r/usb"
        mkdir -m 700 "$t/r/usb"
        KEYTRANSFER_KMDATA="$k" "$@" >"$t/cmd.out" 2>"$t/cmd.err" &
        local c=$!
        KEYTRANSFER_KMDATA="$k" "$KT" module erase --yes >/dev/null 2>"$t/erase.err" &
        local x=$!
        wait $c
        cs=$?
        wait $x
        es=$?
        if grep -q "bad magic" "$t/cmd.err"; then
            bad=$((bad + 1))
            fail "$name round $i: read a half-erased module: $(cat "$t/cmd.err")"
        elif [ "$es" -ne 0 ]; then
            bad=$((bad + 1))
            fail "$name round $i: module erase exit $es: $(cat "$t/erase.err")"
        elif [ "$cs" -eq 0 ]; then
            first=$((first + 1))
        elif [ "$cs" -eq 4 ] && grep -q "not programmed" "$t/cmd.err"; then
            erased=$((erased + 1))
        else
            bad=$((bad + 1))
            fail "$name round $i: exit $cs: $(cat "$t/cmd.err")"
        fi
        # Whatever won: program the module again, and every key loads.
        KEYTRANSFER_KMDATA="$k" "$KT" world program --card "$k/cards/${tc1##*/}" \
            --card "$k/cards/${tc2##*/}" --pin-file "$t/quorum" >/dev/null 2>&1 || {
            bad=$((bad + 1))
            fail "$name round $i: world program after the race"
        }
        all_keys_load "$k" || {
            bad=$((bad + 1))
            fail "$name round $i: a key does not load: $(cat "$t/list.err")"
        }
        local pair
        pair=$(ls -A "$t/r/usb" | tr '\n' ' ')
        if [ "$cs" -eq 0 ] && [ "$name" = package ] &&
            [ "$pair" != "TransferPackage-R1.byok TransferPackage-R1.manifest.json " ]; then
            bad=$((bad + 1))
            fail "$name round $i: the folder holds '$pair'"
        elif [ "$cs" -ne 0 ] && [ -n "$pair" ]; then
            bad=$((bad + 1))
            fail "$name round $i: a refused run left '$pair'"
        fi
    done
    echo "race: $name vs module erase: $ROUNDS rounds, $name first $first, erase first $erased, failures $bad"
}

cmd_vs_erase package "$KT" package --ident r1 -k "$kek" -w "$world" --demo --subscription s \
    --name R1 --out "$t/r/usb"
cmd_vs_erase modify-acls "$KT" modify-acls --ident r2 -k "$kek" -w "$world" --demo --yes \
    --card "$t/r/kmdata/cards/${tc1##*/}" --card "$t/r/kmdata/cards/${tc2##*/}" \
    --pin-file "$t/quorum"

finish
