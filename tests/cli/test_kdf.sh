#!/usr/bin/env bash
# test_kdf.sh - the Argon2id floor of administrator cards through the programs: `world new --kdf
# interactive` warns (the default does not), `world info` shows the profile the world records,
# and a card re-sealed below the floor (by tests/cli/kt_reseal.c, as an attacker who knows the
# PIN could) is refused by check-card, program and modify-acls' quorum before any PIN is read,
# naming the card, its parameters and the floor; the same card at the floor is accepted again.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RESEAL=${KT_RESEAL:?KT_RESEAL must name the kt_reseal test helper}
PY=/usr/bin/python3

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-kdf.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
printf 'kdf-card-pin-1\nkdf-card-pin-2\nkdf-card-pin-3\n' >"$t/pins"
printf 'kdf-card-pin-1\n' >"$t/pin1"
printf 'kdf-card-pin-1\nkdf-card-pin-3\n' >"$t/quorum"
: >"$t/nopins"

# --- the profile: recorded, shown, warned about ---------------------------------------------
"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins" >"$t/new.out" 2>"$t/new.err"
[ $? -eq 0 ] && ok || fail "world new --kdf interactive: $(cat "$t/new.err")"
grep -qF "warning: --kdf interactive is for tests and demos" "$t/new.err" && ok ||
    fail "--kdf interactive does not warn: $(cat "$t/new.err")"
grep -qF "card KDF     interactive (Argon2id opslimit 2, memlimit 64 MiB)" "$t/new.out" && ok ||
    fail "world new does not show the profile: $(cat "$t/new.out")"
expect_out "card KDF +interactive \(Argon2id opslimit 2, memlimit 64 MiB\)" "$KT" world info
"$KT" world info --json >"$t/info.json" || fail "world info --json"
[ "$(json "$t/info.json" 'd["kdf"]["profile"], d["kdf"]["opslimit"], d["kdf"]["memlimit"]')" = \
    "interactive 2 67108864" ] && ok || fail "world info --json kdf: $(cat "$t/info.json")"
"$KT" world new --acs-quorum 1/1 --kmdata "$t/moderate" --pin-file "$t/pin1" >"$t/mod.out" \
    2>"$t/mod.err" || fail "world new (moderate): $(cat "$t/mod.err")"
grep -qF "for tests and demos" "$t/mod.err" && fail "the default profile warns: $(cat "$t/mod.err")" || ok
expect_out "card KDF +moderate \(Argon2id opslimit 3, memlimit 256 MiB\)" "$KT" world info \
    --kmdata "$t/moderate"

mapfile -t cards < <(json "$t/info.json" '"\n".join(d["cards"])')
c1=${cards[0]} c3=${cards[2]}

# --- a key and a KEK for modify-acls ----------------------------------------------------------
expect 0 "key generate" "$KT" key generate --type EC --curve P-256 --ident kdfkey
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$t/kek.key" 2>/dev/null
openssl pkey -in "$t/kek.key" -pubout -out "$t/kek.pub"
kekfp=$(openssl pkey -pubin -in "$t/kek.pub" -outform DER | sha256sum | cut -d' ' -f1)
xfer=(modify-acls --ident kdfkey --kek-pem "$t/kek.pub" --accept-unattested-kek "$kekfp"
      --card "$c1" --card "$c3" --yes)

# --- card 1 re-sealed at 1 pass over 8 KiB ----------------------------------------------------
"$RESEAL" "$c1" "$t/pin1" 1 8192 || fail "kt_reseal could not re-seal card 1"
floor_msg() { # floor_msg WHAT COMMAND...: exit 1 and the floor named, with no PIN to give
    local what=$1
    shift
    local err status
    err=$("$@" --pin-fd 3 3<"$t/nopins" 2>&1 >/dev/null </dev/null)
    status=$?
    if [ $status -ne 1 ]; then fail "$what: exit $status, expected 1: $err"; return; fi
    for part in "card 1 ($c1)" "Argon2id opslimit 1, memlimit 8 KiB" \
        "opslimit 2, memlimit 64 MiB" "before any PIN is asked"; do
        grep -qF -- "$part" <<<"$err" || { fail "$what: the message lacks '$part': $err"; return; }
    done
    ok
}
floor_msg "check-card of the weak card" "$KT" world check-card --card "$c1"
floor_msg "modify-acls with the weak card" "$KT" "${xfer[@]}"
[ ! -e "$t/kmdata/local/key_xferacld_kdfkey" ] && ok || fail "a refused modify-acls wrote a key"
expect 0 "module erase" "$KT" module erase --yes
floor_msg "program with the weak card" "$KT" world program --card "$c3" --card "$c1"
[ -z "$(find "$t/kmdata/local" -maxdepth 1 -name 'module_*')" ] && ok || fail "a refused program wrote a module"
# The other cards are not affected.
printf 'kdf-card-pin-3\n' >"$t/pin3"
expect 0 "check-card of card 3" "$KT" world check-card --card "$c3" --pin-file "$t/pin3"

# --- more passes do not make up for less memory -----------------------------------------------
"$RESEAL" "$c1" "$t/pin1" 8 $((32 * 1024 * 1024)) || fail "kt_reseal 8 passes over 32 MiB"
expect_err "Argon2id opslimit 8, memlimit 32 MiB, below" "$KT" world check-card --card "$c1" \
    --pin-file "$t/pin1"

# --- the twin: card 1 at exactly the floor opens everything again -----------------------------
"$RESEAL" "$c1" "$t/pin1" 2 $((64 * 1024 * 1024)) || fail "kt_reseal back to the floor"
expect 0 "check-card of card 1 at the floor" "$KT" world check-card --card "$c1" --pin-file "$t/pin1"
expect 0 "program with card 1 at the floor" "$KT" world program --card "$c1" --card "$c3" \
    --pin-file "$t/quorum"
expect 0 "modify-acls with card 1 at the floor" "$KT" "${xfer[@]}" --pin-file "$t/quorum"

finish
