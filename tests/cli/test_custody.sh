#!/usr/bin/env bash
# test_custody.sh - a world over years, as a custodian lives it:
#   - world change-pin: the old PIN is refused after, the new one accepted, the other cards'
#     files untouched (byte for byte);
#   - world replace-cards: fewer than K current cards are refused with nothing changed; after it,
#     the old cards are refused by world program and modify-acls, world cards says which cards
#     are valid and which replaced, and the keys still package: the emulated cloud HSM unwraps
#     the same key (the fingerprint it reports is the key's);
#   - world backup / check-backup / restore: a backup holds no module file and not the bytes of
#     KM (the module file's key, scanned for in every file), a changed or added file is refused,
#     a restore into an empty kmdata, then world program with 2 of the new cards, then package:
#     the cloud unwraps the same key again;
#   - key delete: every file of the key is gone, recorded in the audit log, and key show shows a
#     key's history from the log.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-custody.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
cd "$t" || exit 1

json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
printf 'pin-card-one-1\npin-card-two-2\npin-card-three-3\n' >pins
printf 'pin-card-one-1\nnew-pin-one-11\n' >change
printf 'new-pin-one-11\npin-card-three-3\n' >quorum13
printf 'pin-card-one-1\npin-card-three-3\n' >oldpins13
printf 'new-pin-one-11\n' >newpin1
printf 'pin-card-one-1\n' >oldpin1

expect 0 "world new 2/3" "$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file pins
c1=$(echo "$t"/kmdata/cards/card_*_1)
c2=$(echo "$t"/kmdata/cards/card_*_2)
c3=$(echo "$t"/kmdata/cards/card_*_3)

# --- change-pin ------------------------------------------------------------------------------
before2=$(sha "$c2")
before3=$(sha "$c3")
expect 0 "change-pin card 1" "$KT" world change-pin --card "$c1" --pin-file change
expect 1 "the old PIN of card 1 after change-pin" "$KT" world check-card --card "$c1" \
    --pin-file oldpin1
expect_err "wrong PIN" "$KT" world check-card --card "$c1" --pin-file oldpin1
expect 0 "the new PIN of card 1" "$KT" world check-card --card "$c1" --pin-file newpin1
[ "$(sha "$c2")" = "$before2" ] && [ "$(sha "$c3")" = "$before3" ] && ok ||
    fail "change-pin of card 1 touched another card"
expect 1 "change-pin with a wrong current PIN" "$KT" world change-pin --card "$c1" \
    --pin-file change
expect 2 "change-pin without --card" "$KT" world change-pin --pin-file change

# --- keys, a cloud, a first package --------------------------------------------------------------
expect 0 "cloud init" "$CLOUD" init --region NA --kek-size 2048 --out "$t/cloud" --state "$t/state"
kek=(-k "$t/cloud/BYOK-KEK-pkg-NA-1" -w "$t/cloud/BYOK-SecurityWorld-pkg-NA-1" --demo)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out k1.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k2.pem 2>/dev/null
expect 0 "import k1" "$KT" key import --from k1.pem --ident k1
expect 0 "import k2" "$KT" key import --from k2.pem --ident k2
want1=$("$KT" key show k1 --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["key_hash"])')
expect 0 "modify-acls k1 with cards 1 and 3" "$KT" modify-acls --ident k1 "${kek[@]}" \
    --card "$c1" --card "$c3" --pin-file quorum13 --yes
mkdir -m 700 pkg pkg2 pkg3
# unwrapped NAME BYOK: the fingerprint of the key the cloud HSM unwrapped from BYOK.
unwrapped() {
    "$CLOUD" import "$2" --state "$t/state" --name "$1" --json >imp.json 2>imp.err ||
        { cat imp.err >&2; return 1; }
    json imp.json 'd.get("public_key_sha256") or d.get("key_hash_sha256")'
}
expect 0 "package k1" "$KT" package --ident k1 "${kek[@]}" --subscription s --name first \
    --out pkg
[ "$(unwrapped first pkg/TransferPackage-first.byok)" = "$want1" ] && ok ||
    fail "the cloud did not unwrap k1 from the first package"

# --- replace-cards ---------------------------------------------------------------------------
wbefore=$(sha kmdata/local/world)
printf 'new-pin-one-11\n' >one
expect 1 "replace-cards with 1 of the 2 cards needed" "$KT" world replace-cards \
    --acs-quorum 2/3 --kdf interactive --card "$c1" --pin-file one
expect_err "quorum not met" "$KT" world replace-cards --acs-quorum 2/3 --kdf interactive \
    --card "$c1" --pin-file one
[ "$(sha kmdata/local/world)" = "$wbefore" ] && ok || fail "a refused replace-cards changed the world file"
[ -z "$(find kmdata/cards -name 'card_*_s2_*')" ] && ok || fail "a refused replace-cards wrote cards"
printf 'new-pin-one-11\npin-card-three-3\nset2-pin-one-1\nset2-pin-two-2\nset2-pin-three-3\n' >rc
expect 0 "replace-cards 2/3 with cards 1 and 3" "$KT" world replace-cards --acs-quorum 2/3 \
    --kdf interactive --card "$c1" --card "$c3" --pin-file rc
n1=$(echo "$t"/kmdata/cards/card_*_s2_1)
n2=$(echo "$t"/kmdata/cards/card_*_s2_2)
[ -f "$n1" ] && [ -f "$n2" ] && ok || fail "replace-cards wrote no cards of set 2"
printf 'set2-pin-one-1\nset2-pin-two-2\n' >newq
"$KT" world cards --json >cards.json
json cards.json '" ".join(sorted(c["status"] + str(c["card_set"]) for c in d["cards"]))' >status.txt
[ "$(cat status.txt)" = "replaced1 replaced1 replaced1 valid2 valid2 valid2" ] && ok ||
    fail "world cards: $(cat status.txt)"
expect_out "replaced" "$KT" world cards
expect 0 "module erase" "$KT" module erase --yes
expect 1 "world program with the old cards" "$KT" world program --card "$c1" --card "$c3" \
    --pin-file quorum13
expect_err "replaced by card set 2" "$KT" world program --card "$c1" --card "$c3" \
    --pin-file quorum13
expect 0 "world program with the new cards" "$KT" world program --card "$n1" --card "$n2" \
    --pin-file newq
expect 1 "modify-acls with the old cards" "$KT" modify-acls --ident k2 "${kek[@]}" --card "$c1" \
    --card "$c3" --pin-file quorum13 --yes
expect 0 "the reduced key k1 still packages" "$KT" package --ident k1 "${kek[@]}" \
    --subscription s --name second --out pkg2
[ "$(unwrapped second pkg2/TransferPackage-second.byok)" = "$want1" ] && ok ||
    fail "after replace-cards, the cloud did not unwrap k1"
expect 0 "modify-acls k2 with the new cards" "$KT" modify-acls --ident k2 "${kek[@]}" \
    --card "$n1" --card "$n2" --pin-file newq --yes

# --- backup, check-backup, restore -------------------------------------------------------------
expect 0 "world backup" "$KT" world backup --out "$t/bk" --with-cards
expect 4 "world backup into an existing folder" "$KT" world backup --out "$t/bk"
[ -z "$(find bk -name 'module_*')" ] && ok || fail "the backup holds a module file"
# KM is the value of field 3 of the module file (docs/formats.md); no backup file holds it.
$PY - kmdata/local/module_* bk <<'EOF' && ok || fail "the backup holds the bytes of KM"
import os, struct, sys
raw = open(sys.argv[1], "rb").read()
off, km = 10, None
while off < len(raw):
    tag, n = struct.unpack(">HI", raw[off:off + 6])
    if tag == 3:
        km = raw[off + 6:off + 6 + n]
    off += 6 + n
assert km is not None and len(km) == 32
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        data = open(os.path.join(root, f), "rb").read()
        for probe in (km, km.hex().encode(), km.hex().upper().encode()):
            if probe in data:
                sys.exit(f"KM found in {os.path.join(root, f)}")
EOF
expect 0 "check-backup with the module" "$KT" world check-backup "$t/bk"
expect 0 "check-backup with a quorum" "$KT" world check-backup "$t/bk" --card "$n1" \
    --card "$n2" --pin-file newq
cp -a bk bad1
f=$(echo bad1/local/key_simple_k1)
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "$f"
expect 1 "check-backup of a changed key file" "$KT" world check-backup "$t/bad1"
cp -a bk bad2
cp kmdata/local/module_* bad2/local/
expect 1 "check-backup of a backup with a module file added" "$KT" world check-backup "$t/bad2"
expect_err "module file" "$KT" world check-backup "$t/bad2"
expect 4 "restore into a kmdata that holds a world" "$KT" world restore "$t/bk"
expect 0 "restore into an empty kmdata" "$KT" world restore "$t/bk" --kmdata "$t/km2"
[ -z "$(find km2 -name 'module_*')" ] && ok || fail "restore wrote a module file"
expect 4 "package before world program" "$KT" package --kmdata "$t/km2" --ident k1 "${kek[@]}" \
    --subscription s --name third --out pkg3
expect 0 "world program after restore, with 2 cards" "$KT" world program --kmdata "$t/km2" \
    --card "$n1" --card "$n2" --pin-file newq
expect 0 "package the restored key" "$KT" package --kmdata "$t/km2" --ident k1 "${kek[@]}" \
    --subscription s --name third --out pkg3
[ "$(unwrapped third pkg3/TransferPackage-third.byok)" = "$want1" ] && ok ||
    fail "after restore, the cloud did not unwrap k1"
expect 0 "audit verify after restore and program" "$KT" audit verify --kmdata "$t/km2"
"$KT" audit show --kmdata "$t/km2" >show2.txt 2>&1 || fail "audit show: $(cat show2.txt)"
grep -q "world program" show2.txt && ok || fail "the restored log does not show world program"

# --- key delete, key history ---------------------------------------------------------------------
# A second reduced record of k2, for a KEK of our own (key_xferacld<F16>_k2).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out kek2.key 2>/dev/null
openssl pkey -in kek2.key -pubout -out kek2.pub
fp2=$(openssl pkey -pubin -in kek2.pub -outform DER | sha256sum | cut -d' ' -f1)
expect 0 "modify-acls k2 for a second KEK" "$KT" modify-acls --ident k2 --kek-pem kek2.pub \
    --kid "https://contoso.vault.azure.net/keys/second/0123456789abcdef0123456789abcdef" \
    --accept-unattested-kek "$fp2" --card "$n1" --card "$n2" --pin-file newq --yes
[ "$(find kmdata/local -name 'key_*_k2' | wc -l)" -eq 3 ] && ok ||
    fail "k2 has not its key and two records: $(ls kmdata/local)"
expect_out "modify-acls" "$KT" key show k2
expect 2 "key delete without --yes" "$KT" key delete --ident k2
expect 0 "key delete k2" "$KT" key delete --ident k2 --yes
[ -z "$(find kmdata/local -name 'key_*_k2')" ] && ok || fail "key delete left files of k2"
[ -f kmdata/local/key_simple_k1 ] && ok || fail "key delete k2 removed k1"
expect 4 "key show of a deleted key" "$KT" key show k2
expect 4 "key delete of a key that is not there" "$KT" key delete --ident k2 --yes
"$KT" audit show --json >audit.json
json audit.json '" ".join(e["op"] for e in d["entries"] if e["detail"].get("ident") == "k2")' >ops.txt
[ "$(cat ops.txt)" = "key import modify-acls modify-acls key delete" ] && ok ||
    fail "k2's history: $(cat ops.txt)"
expect 0 "audit verify" "$KT" audit verify

# --- --json where a script reads the result -----------------------------------------------------
printf 'json-card-pin-1\n' >pin1
"$KT" world new --acs-quorum 1/1 --kdf interactive --pin-file pin1 --kmdata "$t/km3" --json \
    >new.json 2>/dev/null || fail "world new --json"
json new.json 'd["format"], d["quorum"]["k"], d["quorum"]["n"], len(d["cards"]), len(d["world_hash"])' \
    >new.txt && [ "$(cat new.txt)" = "keytransfer-world-new/1 1 1 1 64" ] && ok ||
    fail "world new --json: $(cat new.json)"
"$KT" key generate --type AES --size 256 --ident j1 --kmdata "$t/km3" --json >gen.json 2>/dev/null ||
    fail "key generate --json"
[ "$(json gen.json 'd["ident"], d["format"]')" = "j1 keytransfer-key-generated/1" ] && ok ||
    fail "key generate --json: $(cat gen.json)"
"$KT" toolset extract "$t/cloud/KeyTransfer-BYOK-Tools-NA.zip" "$t/tools" --json >tools.json ||
    fail "toolset extract --json"
json tools.json '[f["name"] for f in d["files"]]' | grep -q "BYOK-KEK-pkg-NA-1" && ok ||
    fail "toolset extract --json: $(cat tools.json)"

# --- every --option of the new commands' --help is in the man page -----------------------------
for c in "world change-pin" "world replace-cards" "world cards" "world backup" "world restore" \
    "world check-backup" "key delete" "audit show" "audit verify" "world new" "key generate" \
    "toolset extract"; do
    # shellcheck disable=SC2086 # the command's words
    for o in $("$KT" $c --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
        grep -qF -- "${o//-/\\-}" "$KT_SRC/docs/man/keytransfer.1" && ok ||
            fail "keytransfer $c $o is not in keytransfer(1)"
    done
done

finish
