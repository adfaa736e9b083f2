#!/usr/bin/env bash
# test_hardening.sh - what the programs do about their environment: under `prlimit --memlock=0`
# (and, for root, without CAP_IPC_LOCK, which locks past any limit) each of the three programs
# warns once that secrets may go to swap, naming RLIMIT_MEMLOCK, the limit and `ulimit -l`, and
# goes on; KEYTRANSFER_REQUIRE_MLOCK=1 makes it refuse instead (exit 5); with locking possible,
# no warning. And a PIN file that the group or others may read is refused by name with its mode
# and `chmod 600`, while the same file made private is read.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}

t=$(mktemp -d /tmp/kt-cli-hard.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
unset KEYTRANSFER_REQUIRE_MLOCK

# --- mlock ----------------------------------------------------------------------------------
command -v prlimit >/dev/null || { echo "SKIP: no prlimit (util-linux)"; exit 77; }
limited=(prlimit --memlock=0)
if [ "$(id -u)" -eq 0 ]; then
    command -v setpriv >/dev/null || { echo "SKIP: no setpriv (util-linux) to drop CAP_IPC_LOCK"; exit 77; }
    limited=(setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock "${limited[@]}")
elif grep -q '^CapEff:.*[^0]' /proc/self/status &&
    (($(printf '%d' "0x$(awk '/^CapEff/ {print $2}' /proc/self/status)") >> 14 & 1)); then
    echo "SKIP: this user has CAP_IPC_LOCK, which locks past any limit"
    exit 77
fi
"${limited[@]}" true || { echo "SKIP: cannot lower RLIMIT_MEMLOCK here"; exit 77; }

for prog in "$KT" "$ONLINE" "$CLOUD"; do
    name=$(basename "$prog")
    err=$("${limited[@]}" "$prog" --version 2>&1 >/dev/null)
    status=$?
    [ $status -eq 0 ] && ok || fail "$name --version under memlock 0: exit $status: $err"
    for part in "$name: warning: cannot lock memory for secrets" "swap" \
        "RLIMIT_MEMLOCK (\`ulimit -l\`) is 0 KiB" "ulimit -l" "KEYTRANSFER_REQUIRE_MLOCK=1"; do
        grep -qF -- "$part" <<<"$err" && ok || fail "$name under memlock 0 lacks '$part': $err"
    done
    [ "$(grep -c "cannot lock memory" <<<"$err")" -eq 1 ] && ok || fail "$name warns more than once: $err"
    err=$("$prog" --version 2>&1 >/dev/null)
    [ -z "$err" ] && ok || fail "$name warns with locking possible: $err"
    err=$(KEYTRANSFER_REQUIRE_MLOCK=1 "${limited[@]}" "$prog" --version 2>&1 >/dev/null)
    status=$?
    [ $status -eq 5 ] && ok || fail "$name with KEYTRANSFER_REQUIRE_MLOCK=1 under memlock 0: exit $status"
    grep -qF "Refusing to run: KEYTRANSFER_REQUIRE_MLOCK=1 is set" <<<"$err" && ok ||
        fail "$name does not say why it refuses: $err"
    expect 0 "$name with KEYTRANSFER_REQUIRE_MLOCK=1 and locking possible" \
        env KEYTRANSFER_REQUIRE_MLOCK=1 "$prog" --version
done
# keytransfer needs room for OpenSSL's secure heap too: 64 KiB is not enough.
err=$("${limited[@]/--memlock=0/--memlock=65536}" "$KT" --version 2>&1 >/dev/null)
grep -qF "is 64 KiB" <<<"$err" && grep -qF "keytransfer needs 1088 KiB" <<<"$err" && ok ||
    fail "keytransfer under memlock 64 KiB: $err"
# A real command goes on, with the one warning.
printf 'hardening-pin-1\n' >"$t/pin"
err=$("${limited[@]}" "$KT" world new --acs-quorum 1/1 --kdf interactive --pin-file "$t/pin" 2>&1 >/dev/null)
[ $? -eq 0 ] && ok || fail "world new under memlock 0: $err"
[ "$(grep -c "cannot lock memory" <<<"$err")" -eq 1 ] && ok || fail "world new: $err"

# --- PIN files --------------------------------------------------------------------------------
card=$(ls "$t"/kmdata/cards/card_* | head -n 1)
chmod 644 "$t/pin"
expect 1 "a PIN file readable by all" "$KT" world check-card --card "$card" --pin-file "$t/pin"
expect_err "the PIN file '$t/pin' has mode 0644: its group can read the PINs in it" \
    "$KT" world check-card --card "$card" --pin-file "$t/pin"
expect_err "\`chmod 600 $t/pin\`" "$KT" world check-card --card "$card" --pin-file "$t/pin"
chmod 604 "$t/pin"
expect_err "has mode 0604: other users can read" "$KT" world check-card --card "$card" \
    --pin-file "$t/pin"
chmod 620 "$t/pin"
expect 1 "a PIN file the group may write" "$KT" world check-card --card "$card" --pin-file "$t/pin"
chmod 600 "$t/pin"
expect 0 "the same PIN file made private" "$KT" world check-card --card "$card" --pin-file "$t/pin"
chmod 400 "$t/pin"
expect 0 "a read-only private PIN file" "$KT" world check-card --card "$card" --pin-file "$t/pin"

finish
