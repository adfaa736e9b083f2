#!/usr/bin/env bash
# test_keys.sh - module-protected keys through the `keytransfer` program, as a user drives them:
# key generate / import / list / show / public, cross-checked with the `openssl` command; the
# refusals and their exit statuses (docs/design.md §6); tampered, foreign and existing key files; the
# module erased and programmed again; and every --option in --help documented in the man page.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-keys.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
local_dir="$t/kmdata/local"
printf 'first-card-pin\n' >"$t/pin"
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Runs without a controlling terminal, so nothing can be asked interactively.
notty() { if command -v setsid >/dev/null; then setsid -w "$@"; else "$@"; fi; }

# --- before there is a world ------------------------------------------------------------------
expect 2 "key without a subcommand" "$KT" key
expect 2 "unknown key subcommand" "$KT" key frobnicate
expect 0 "key --help" "$KT" key --help
expect 4 "generate without a world" "$KT" key generate --type AES --size 256 --ident k
expect_err "world new" "$KT" key generate --type AES --size 256 --ident k

expect 0 "world new 1/1" "$KT" world new --acs-quorum 1/1 --kdf interactive --pin-file "$t/pin"
"$KT" world info --json >"$t/world.json" || fail "world info --json"
world_hash=$(json "$t/world.json" 'd["world_hash"]')
card=$(json "$t/world.json" 'd["cards"][0]')

# --- usage errors (exit 2) ---------------------------------------------------------------------
expect 2 "generate without --type" "$KT" key generate --ident k --size 256
expect_err "--type RSA|EC|AES is required" "$KT" key generate --ident k --size 256
expect 2 "generate without --ident" "$KT" key generate --type AES --size 256
expect_err "--ident ID is required" "$KT" key generate --type AES --size 256
expect_err "--ident ID is required" "$KT" key generate --type AES --size 256 --token "pkcs11:x"
expect 2 "unknown type" "$KT" key generate --type DSA --size 2048 --ident k
expect_err "RSA, EC and AES" "$KT" key generate --type DSA --size 2048 --ident k
expect 2 "RSA without --size" "$KT" key generate --type RSA --ident k
expect 2 "RSA-1024" "$KT" key generate --type RSA --size 1024 --ident k
expect_err "2048, 3072 or 4096" "$KT" key generate --type RSA --size 1024 --ident k
expect 2 "EC without --curve" "$KT" key generate --type EC --ident k
expect 2 "EC P-224" "$KT" key generate --type EC --curve P-224 --ident k
expect_err "P-256, P-384, P-521 and secp256k1" "$KT" key generate --type EC --curve P-224 --ident k
expect 2 "EC size against curve" "$KT" key generate --type EC --curve P-256 --size 384 --ident k
expect 2 "AES-512" "$KT" key generate --type AES --size 512 --ident k
expect 2 "even exponent" "$KT" key generate --type RSA --size 2048 --pubexp 65536 --ident k
expect 2 "exponent 1" "$KT" key generate --type RSA --size 2048 --pubexp 1 --ident k
expect 2 "exponent over 32 bits" "$KT" key generate --type RSA --size 2048 --pubexp 0x100000001 \
    --ident k
expect 2 "exponent not a number" "$KT" key generate --type RSA --size 2048 --pubexp e --ident k
expect 2 "curve for RSA" "$KT" key generate --type RSA --size 2048 --curve P-256 --ident k
expect 2 "upper-case ident" "$KT" key generate --type AES --size 256 --ident Contoso
expect_err "lower-case letters and hyphens" "$KT" key generate --type AES --size 256 --ident a_b
expect 2 "bad app" "$KT" key generate --type AES --size 256 --ident k --app Simple
expect 2 "show without an ID" "$KT" key show
expect 2 "show with two IDs" "$KT" key show a b
expect 2 "import without --from" "$KT" key import --ident k
expect_err "--from FILE is required" "$KT" key import --ident k
expect_err "--ident ID is required" "$KT" key delete --yes
compgen -G "$local_dir/key_*" >/dev/null && fail "a refused command wrote a key file"

# --- generate -------------------------------------------------------------------------------
expect 0 "generate RSA-2048" "$KT" key generate --type RSA --size 2048 --ident contosokey \
    --plainname "Contoso first HSM key"
expect 0 "generate RSA-3072 with --pubexp 0x10001" "$KT" key generate --type RSA --size 3072 \
    --pubexp 0x10001 --ident rsa-3072
expect 0 "generate EC P-384" "$KT" key generate --type EC --curve P-384 --ident ec-p384
expect 0 "generate EC secp256k1" "$KT" key generate --type ec --curve secp256k1 --ident ec-k1
expect 0 "generate AES-256" "$KT" key generate --type AES --size 256 --ident aes-256
expect_out "key hash +[0-9a-f]{64}" "$KT" key generate --type AES --size 128 --ident aes-128
expect_out "key_simple_ec-p521" "$KT" key generate --type EC --curve P-521 --ident ec-p521 \
    --app simple
for f in "$local_dir"/key_*; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
done
before=$(sha "$local_dir/key_simple_contosokey")
expect 4 "an existing ident" "$KT" key generate --type AES --size 256 --ident contosokey
expect_err "never replaces a key" "$KT" key generate --type AES --size 256 --ident contosokey
[ "$(sha "$local_dir/key_simple_contosokey")" = "$before" ] || fail "the existing key changed"

# --- list and show ------------------------------------------------------------------------------
expect 0 "key list" "$KT" key list
expect_out "contosokey +RSA-2048" "$KT" key list
expect_out "ec-p384 +EC P-384" "$KT" key list
"$KT" key list --json >"$t/list.json" || fail "key list --json"
[ "$(json "$t/list.json" 'd["format"]')" = keytransfer-key-list/1 ] || fail "list format"
[ "$(json "$t/list.json" 'd["world_hash"]')" = "$world_hash" ] || fail "list world hash"
[ "$(json "$t/list.json" 'len(d["keys"])')" = 7 ] || fail "seven keys listed"
[ "$(json "$t/list.json" '" ".join(k["ident"] for k in d["keys"])')" = \
    "aes-128 aes-256 contosokey ec-k1 ec-p384 ec-p521 rsa-3072" ] || fail "list order"
"$KT" key show contosokey --json >"$t/show.json" || fail "key show --json"
[ "$(json "$t/show.json" 'd["plainname"]')" = "Contoso first HSM key" ] || fail "plainname"
[ "$(json "$t/show.json" 'd["type"], d["size"], d["curve"]')" = "RSA 2048 None" ] || fail "type"
[ "$(json "$t/show.json" 'd["world_hash"]')" = "$world_hash" ] || fail "show world hash"
[ "$(json "$t/show.json" 'd["acl_signed"]')" = False ] || fail "acl_signed"
[ "$(json "$t/show.json" '",".join(d["acl"][0]["actions"])')" = \
    "Sign,Verify,Encrypt,Decrypt,ExportWrapped,ReduceACL" ] || fail "default RSA ACL"
[ "$(json "$t/show.json" 'd["acl"][0]["kek_fingerprint"]')" = None ] || fail "unbound ACL"
json "$t/show.json" 'd["created"]' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' ||
    fail "created is ISO-8601"
expect_out "group 1: Sign,Verify,ExportWrapped,ReduceACL" "$KT" key show ec-p384
expect_out "size +P-384" "$KT" key show --ident ec-p384
expect_out "not signed" "$KT" key show aes-256
"$KT" key show aes-256 --json >"$t/aes.json" || fail "key show aes --json"
[ "$(json "$t/aes.json" 'd["public_key_pem"]')" = None ] || fail "an AES key has no public key"
[ "$(json "$t/aes.json" '",".join(d["acl"][0]["actions"])')" = \
    "Encrypt,Decrypt,ExportWrapped,ReduceACL" ] || fail "default AES ACL"
expect 4 "show a missing key" "$KT" key show nosuchkey
expect_err "key list" "$KT" key show nosuchkey
expect 4 "show under another app" "$KT" key show contosokey --app other

# --- public, cross-checked with openssl ------------------------------------------------------------
"$KT" key public contosokey >"$t/contoso.pub" || fail "key public"
openssl pkey -pubin -in "$t/contoso.pub" -noout -text 2>/dev/null | grep -q "Public-Key: (2048 bit)" ||
    fail "openssl does not read the RSA public key"
# The key hash is SHA-256 of the SPKI DER: the same number openssl computes.
[ "$(openssl pkey -pubin -in "$t/contoso.pub" -outform DER | sha256sum | cut -d' ' -f1)" = \
    "$(json "$t/show.json" 'd["key_hash"]')" ] || fail "key hash is not SHA-256 of the SPKI"
[ "$(cat "$t/contoso.pub")" = "$(json "$t/show.json" 'd["public_key_pem"]')" ] ||
    fail "show and public disagree"
"$KT" key public ec-p384 | openssl pkey -pubin -noout -text 2>/dev/null | grep -q "NIST CURVE: P-384" ||
    fail "openssl does not read the EC public key"
expect 0 "public --out" "$KT" key public ec-k1 --out "$t/k1.pub"
[ "$(stat -c %a "$t/k1.pub")" = 600 ] || fail "--out file mode"
openssl pkey -pubin -in "$t/k1.pub" -noout -text 2>/dev/null | grep -q "secp256k1" ||
    fail "secp256k1 public key"
expect 4 "public --out an existing file" "$KT" key public ec-k1 --out "$t/k1.pub"
expect 2 "public of an AES key" "$KT" key public aes-256
expect_err "no public key" "$KT" key public aes-256

# --- import, cross-checked with openssl ------------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$t/rsa.pem" 2>/dev/null
openssl rsa -in "$t/rsa.pem" -traditional -out "$t/rsa-pkcs1.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$t/ec.pem"
openssl ec -in "$t/ec.pem" -out "$t/ec-sec1.pem" 2>/dev/null
openssl pkcs8 -topk8 -in "$t/rsa.pem" -v2 aes256 -passout pass:correct-horse -out "$t/rsa-enc.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$t/rsa1024.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-224 -out "$t/p224.pem"
openssl pkey -in "$t/rsa.pem" -pubout -out "$t/rsa-pub.pem"
openssl rand -out "$t/aes.bin" 32
printf 'correct-horse\n' >"$t/pass"
printf 'wrong-horse\n' >"$t/wrong"

expect 0 "import RSA PKCS#8" "$KT" key import --from "$t/rsa.pem" --ident imp-rsa
expect_err "still holds the plaintext key" "$KT" key import --from "$t/rsa.pem" --ident imp-rsa2
[ "$("$KT" key public imp-rsa)" = "$(openssl pkey -in "$t/rsa.pem" -pubout)" ] ||
    fail "imported RSA key: key public differs from openssl pkey -pubout"
expect 0 "import RSA PKCS#1" "$KT" key import --from "$t/rsa-pkcs1.pem" --ident imp-rsa-p1
[ "$("$KT" key public imp-rsa-p1)" = "$(openssl pkey -in "$t/rsa.pem" -pubout)" ] ||
    fail "imported PKCS#1 key differs"
expect 0 "import EC SEC1" "$KT" key import --from "$t/ec-sec1.pem" --ident imp-ec
[ "$("$KT" key public imp-ec)" = "$(openssl pkey -in "$t/ec.pem" -pubout)" ] ||
    fail "imported EC key: key public differs from openssl pkey -pubout"
expect 0 "import encrypted PKCS#8 with --pass-file" "$KT" key import --from "$t/rsa-enc.pem" \
    --ident imp-enc --pass-file "$t/pass"
[ "$("$KT" key public imp-enc)" = "$(openssl pkey -in "$t/rsa.pem" -pubout)" ] ||
    fail "imported encrypted key differs"
expect 1 "wrong passphrase" "$KT" key import --from "$t/rsa-enc.pem" --ident x --pass-file "$t/wrong"
expect_err "wrong passphrase" "$KT" key import --from "$t/rsa-enc.pem" --ident x \
    --pass-file "$t/wrong"
expect 2 "encrypted, no terminal, no --pass-file" notty "$KT" key import --from "$t/rsa-enc.pem" \
    --ident x
expect_err "use --pass-file" notty "$KT" key import --from "$t/rsa-enc.pem" --ident x
expect 1 "RSA-1024" "$KT" key import --from "$t/rsa1024.pem" --ident x
expect_err "1024-bit RSA key" "$KT" key import --from "$t/rsa1024.pem" --ident x
expect 1 "P-224" "$KT" key import --from "$t/p224.pem" --ident x
expect_err "secp224r1, which is not supported" "$KT" key import --from "$t/p224.pem" --ident x
expect 3 "public key only" "$KT" key import --from "$t/rsa-pub.pem" --ident x
expect_err "only a public key" "$KT" key import --from "$t/rsa-pub.pem" --ident x
expect 4 "missing file" "$KT" key import --from "$t/nothing.pem" --ident x
expect 0 "import raw AES" "$KT" key import --from "$t/aes.bin" --type AES --ident imp-aes
expect 3 "raw AES without --type AES" "$KT" key import --from "$t/aes.bin" --ident x
expect 3 "an AES file of the wrong size" "$KT" key import --from "$t/pass" --type AES --ident x
expect 2 "--type RSA on an EC key" "$KT" key import --from "$t/ec.pem" --type RSA --ident x
expect 4 "import over an existing ident" "$KT" key import --from "$t/ec.pem" --ident contosokey
[ "$(sha "$local_dir/key_simple_contosokey")" = "$before" ] || fail "the existing key changed"
[ ! -e "$local_dir/key_simple_x" ] || fail "a refused import wrote a key file"
[ "$(json <("$KT" key show imp-aes --json) 'd["size"]')" = 256 ] || fail "imported AES size"

# --- tampering and other worlds -------------------------------------------------------------------
f="$local_dir/key_simple_ec-p384"
cp -p "$f" "$t/saved"
flip() { # flip FILE OFFSET: XOR one byte (a negative offset counts from the end)
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys
p, i = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[i] ^= 0x01
open(p, "wb").write(b)
EOF
}
flip "$f" -1 # the seal's tag
expect 1 "a flipped byte in the seal" "$KT" key show ec-p384
expect_err "damaged or altered" "$KT" key show ec-p384
expect 1 "list with a damaged file" "$KT" key list
"$KT" key list >"$t/list.out" 2>"$t/list.err"
grep -q contosokey "$t/list.out" || fail "list hides the good keys when one file is damaged"
grep -q ec-p384 "$t/list.out" && fail "list shows the damaged key"
grep -qF "key_simple_ec-p384" "$t/list.err" || fail "list does not name the damaged file"
"$KT" key list --json >"$t/list-bad.json" 2>/dev/null
[ "$(json "$t/list-bad.json" 'd["refused"][0]["file"]')" = "$f" ] ||
    fail "list --json does not name the damaged file"
json "$t/list-bad.json" 'd["refused"][0]["error"]' | grep -q "damaged or altered" ||
    fail "list --json does not say why"
[ "$(json "$t/list.json" 'd["refused"]')" = "[]" ] || fail "refused is empty when all is well"
cp -p "$t/saved" "$f"
flip "$f" 20 # inside the world hash
expect 1 "a flipped byte in the world hash" "$KT" key show ec-p384
flip "$f" 9 # and the version
expect 3 "a flipped version" "$KT" key show ec-p384
expect_err "version" "$KT" key show ec-p384
cp -p "$t/saved" "$f"
expect 0 "restored" "$KT" key show ec-p384

expect 0 "second world" "$KT" world new --acs-quorum 1/1 --kdf interactive --kmdata "$t/other" \
    --pin-file "$t/pin"
cp "$local_dir/key_simple_contosokey" "$t/other/local/"
expect 1 "a key file of another world" "$KT" key show contosokey --kmdata "$t/other"
expect_err "belongs to world $world_hash" "$KT" key show contosokey --kmdata "$t/other"
mv "$local_dir/key_simple_aes-128" "$local_dir/key_simple_aes-renamed"
expect 1 "a renamed key file" "$KT" key show aes-renamed
expect_err "renamed or copied" "$KT" key show aes-renamed
mv "$local_dir/key_simple_aes-renamed" "$local_dir/key_simple_aes-128"

# --- keys need the module; the quorum brings them back ----------------------------------------------
expect 0 "module erase" "$KT" module erase --yes
expect 4 "list without the module" "$KT" key list
expect_err "world program" "$KT" key list
expect 4 "generate without the module" "$KT" key generate --type AES --size 256 --ident later
expect 0 "program the module again" "$KT" world program --card "$card" --pin-file "$t/pin"
expect 0 "keys load again" "$KT" key show contosokey
[ "$("$KT" key public contosokey)" = "$(cat "$t/contoso.pub")" ] || fail "public key changed"

# --- help and man page agree ----------------------------------------------------------------------
man="$KT_SRC/docs/man/keytransfer.1"
for cmd in "key generate" "key import" "key list" "key show" "key public"; do
    # shellcheck disable=SC2086
    "$KT" $cmd --help >"$t/help" || fail "$cmd --help"
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
        grep -qF -e "$opt" -e "${opt//-/\\-}" "$man" ||
            fail "$cmd: $opt is in --help but not in $man"
    done
    grep -qF "${cmd// /\\ }" "$man" || grep -qF "$cmd" "$man" || fail "$cmd is not in $man"
done

finish
