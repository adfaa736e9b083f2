#!/usr/bin/env bash
# test_world.sh - the security world through the `keytransfer` program, as a user drives it:
# world new / info / check-card / program, module erase, the exit statuses of docs/design.md §6, the
# refusals, and that every --option in --help is documented in the man page.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t=$(mktemp -d /tmp/kt-cli-world.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
printf 'first-card-pin\nsecond-card-pin\nthird-card-pin\n' >"$t/pins"

# --- usage -----------------------------------------------------------------------------------
expect 0 "--version" "$KT" --version
expect_out "keytransfer [0-9]" "$KT" --version
expect 2 "no command" "$KT"
expect 2 "unknown command" "$KT" frobnicate
expect 2 "missing quorum" "$KT" world new --pin-file "$t/pins"
expect_err "--acs-quorum K/N is required" "$KT" world new --pin-file "$t/pins"
expect_err "--out DIR is required" "$KT" world backup
expect 2 "bad quorum 3/2" "$KT" world new --acs-quorum 3/2 --pin-file "$t/pins"
expect 2 "bad quorum 0/3" "$KT" world new --acs-quorum 0/3 --pin-file "$t/pins"
expect 2 "bad quorum 2/65" "$KT" world new --acs-quorum 2/65 --pin-file "$t/pins"
expect 2 "legacy suite" "$KT" world new --acs-quorum 2/3 --cipher-suite DLf1024s160mRijndael \
    --pin-file "$t/pins"
expect_err "80-bit" "$KT" world new --acs-quorum 2/3 --cipher-suite DLf1024s160mRijndael \
    --pin-file "$t/pins"
expect 2 "bad kdf" "$KT" world new --acs-quorum 2/3 --kdf fast --pin-file "$t/pins"
expect 2 "too few PINs in the file" "$KT" world new --acs-quorum 2/4 --kdf interactive \
    --pin-file "$t/pins"
[ ! -e "$t/kmdata/local/world" ] || fail "a refused world new wrote a world"
expect 4 "info without a world" "$KT" world info

# --- world new -------------------------------------------------------------------------------
expect 0 "world new 2/3" "$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins"
expect 4 "world new again without --force" "$KT" world new --acs-quorum 2/3 --kdf interactive \
    --pin-file "$t/pins"
"$KT" world info --json >"$t/info1.json" || fail "world info --json"
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
[ "$(json "$t/info1.json" 'd["quorum"]["k"], d["quorum"]["n"]')" = "2 3" ] || fail "quorum in json"
[ "$(json "$t/info1.json" 'len(d["cards"])')" = 3 ] || fail "three cards listed"
[ "$(json "$t/info1.json" 'd["module"]["programmed"]')" = True ] || fail "module programmed"
mapfile -t cards < <(json "$t/info1.json" '"\n".join(d["cards"])')
for c in "${cards[@]}"; do
    [ "$(stat -c %a "$c")" = 600 ] || fail "card $c is not 0600"
done
expect_out "world hash" "$KT" world info

# --- check-card --------------------------------------------------------------------------------
printf 'second-card-pin\n' >"$t/pin2"
printf 'not-the-pin\n' >"$t/wrong"
expect 0 "check-card with the right PIN" "$KT" world check-card --card "${cards[1]}" \
    --pin-file "$t/pin2"
expect 1 "check-card with a wrong PIN" "$KT" world check-card --card "${cards[1]}" \
    --pin-file "$t/wrong"
expect_err "wrong PIN or damaged card 2" "$KT" world check-card --card "${cards[1]}" \
    --pin-file "$t/wrong"
expect 0 "check-card with --pin-fd" "$KT" world check-card --card "${cards[1]}" --pin-fd 3 \
    3<"$t/pin2"

# --- erase and program -------------------------------------------------------------------------
expect 2 "erase without --yes" "$KT" module erase
expect 0 "module erase" "$KT" module erase --yes
[ "$("$KT" world info --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["module"]["programmed"])')" = False ] ||
    fail "module still programmed after erase"
printf 'first-card-pin\n' >"$t/pin1"
expect 1 "program with one card" "$KT" world program --card "${cards[0]}" --pin-file "$t/pin1"
expect_err "quorum not met" "$KT" world program --card "${cards[0]}" --pin-file "$t/pin1"
printf 'first-card-pin\nfirst-card-pin\n' >"$t/pin11"
expect 1 "program with the same card twice" "$KT" world program --card "${cards[0]}" \
    --card "${cards[0]}" --pin-file "$t/pin11"
printf 'first-card-pin\nnot-the-pin\n' >"$t/pin1x"
expect 1 "program with a wrong PIN" "$KT" world program --card "${cards[0]}" \
    --card "${cards[2]}" --pin-file "$t/pin1x"
expect_err "wrong PIN or damaged card 3" "$KT" world program --card "${cards[0]}" \
    --card "${cards[2]}" --pin-file "$t/pin1x"
[ -z "$(find "$t/kmdata/local" -maxdepth 1 -name 'module_*')" ] || fail "a refused program wrote a module file"
printf 'third-card-pin\nfirst-card-pin\n' >"$t/pin31"
expect 0 "program with cards 3 and 1" "$KT" world program --card "${cards[2]}" \
    --card "${cards[0]}" --pin-file "$t/pin31"
"$KT" world info --json >"$t/info2.json" || fail "world info --json after program"
for field in 'd["world_hash"]' 'd["quorum"]' 'd["module"]["esn"]' 'd["module"]["signing_key_sha256"]'; do
    [ "$(json "$t/info1.json" "$field")" = "$(json "$t/info2.json" "$field")" ] ||
        fail "$field changed across erase + program"
done
expect 4 "program again without --force" "$KT" world program --card "${cards[2]}" \
    --card "${cards[0]}" --pin-file "$t/pin31"

# --- a card of another world --------------------------------------------------------------------
expect 0 "second world" "$KT" world new --acs-quorum 1/1 --kdf interactive --kmdata "$t/other" \
    --pin-file "$t/pins"
other=$(ls "$t/other/cards"/card_*)
expect 1 "card of another world" "$KT" world check-card --card "$other" --pin-file "$t/pins"
expect_err "not to this world $(json "$t/info1.json" 'd["world_hash"]')" "$KT" world check-card \
    --card "$other" --pin-file "$t/pins"

# --- K = 1 warns -------------------------------------------------------------------------------
expect_err "warning: a quorum of 1/1" "$KT" world new --acs-quorum 1/1 --kdf interactive \
    --kmdata "$t/third" --pin-file "$t/pins"

# --- help and man page agree -------------------------------------------------------------------
man="$KT_SRC/docs/man/keytransfer.1"
for cmd in "world new" "world info" "world check-card" "world program" "module erase"; do
    # shellcheck disable=SC2086
    "$KT" $cmd --help >"$t/help" || fail "$cmd --help"
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
        grep -qF -e "$opt" -e "${opt//-/\\-}" "$man" ||
            fail "$cmd: $opt is in --help but not in $man"
    done
done

finish
