#!/usr/bin/env bash
# test_token.sh - keys in a PKCS#11 token (keytransfer --token) on SoftHSMv2, held to
# programs that are not ours: pkcs11-tool (opensc) and PyKCS11 read the token's objects and
# attributes, python3-cryptography unwraps every package with the KEK's private key, and
# keytransfer-cloud import accepts the .byok.
#
# SoftHSM 2.6.1's CKM_AES_KEY_WRAP_PAD pads its input with zeros itself (not RFC 5649 for lengths
# that are not a multiple of 8), so keytransfer's probe lets it package AES keys only and refuses
# RSA and EC keys naming the token's fault. RSA and EC keys go through tests/token/shim/shim.c
# ($KT_SHIM) in front of SoftHSM with KT_SHIM_FIX_KWP=1: a token whose key wrap conforms. The
# shim also hides mechanisms, fails and kills the process at a chosen C_WrapKey.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
SHIM=${KT_SHIM:-}
PY=/usr/bin/python3
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so

for c in softhsm2-util pkcs11-tool openssl; do
    command -v "$c" >/dev/null || { echo "SKIP: no $c"; exit 77; }
done
[ -f "$SOFTHSM" ] || { echo "SKIP: no $SOFTHSM"; exit 77; }
[ -n "$SHIM" ] && [ -f "$SHIM" ] || { echo "SKIP: no shim module (KT_SHIM)"; exit 77; }
$PY -c 'import PyKCS11, cryptography' 2>/dev/null || { echo "SKIP: no python3-pykcs11"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-token.XXXXXX)
trap 'rm -rf "$t"' EXIT
start=$SECONDS
export KEYTRANSFER_KMDATA="$t/kmdata" SOFTHSM2_CONF="$t/softhsm2.conf"
mkdir -p "$t/tokens" "$t/out"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$t" \
    >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label BYOK --so-pin so-pin-1234 --pin user-pin-1234 \
    >/dev/null || { fail "softhsm2-util --init-token"; finish; exit; }
U="pkcs11:token=BYOK?module-path=$SOFTHSM"  # SoftHSM itself
S="pkcs11:token=BYOK?module-path=$SHIM"     # the shim in front of it
p11() { pkcs11-tool --module "$SOFTHSM" --login --pin user-pin-1234 "$@" 2>/dev/null; }
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- a 2-of-3 world, the token bound to it ------------------------------------------------------
printf 'pin-card-one-1\npin-card-two-2\npin-card-three-3\n' >"$t/pins"
"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins" >/dev/null 2>&1 ||
    fail "world new"
c1=$(echo "$t"/kmdata/cards/card_*_1)
c3=$(echo "$t"/kmdata/cards/card_*_3)
printf 'user-pin-1234\n' >"$t/upin"
printf 'user-pin-1234\npin-card-one-1\npin-card-three-3\n' >"$t/q"   # user PIN, then 2 cards
printf 'user-pin-1234\npin-card-one-1\n' >"$t/q1"
printf 'so-pin-1234\npin-card-one-1\npin-card-three-3\n' >"$t/bind"
printf 'so-pin-WRONG\npin-card-one-1\npin-card-three-3\n' >"$t/bind-wrong"
expect 1 "bind-token with a wrong SO PIN" "$KT" world bind-token --token "$U" --card "$c1" \
    --card "$c3" --pin-file "$t/bind-wrong"
expect_err "wrong PIN for the Security Officer" "$KT" world bind-token --token "$U" --card "$c1" \
    --card "$c3" --pin-file "$t/bind-wrong"
expect 0 "bind-token" "$KT" world bind-token --token "$U" --card "$c1" --card "$c3" \
    --pin-file "$t/bind"
ls "$t"/kmdata/local/tokenso_* >/dev/null 2>&1 && ok || fail "no sealed SO PIN file"
grep -q so-pin-1234 "$t"/kmdata/local/tokenso_* && fail "the SO PIN is in clear" || ok
expect 4 "bind-token again without --force" "$KT" world bind-token --token "$U" --card "$c1" \
    --card "$c3" --pin-file "$t/bind"

# --- the URI and module: refusals ----------------------------------------------------------------
expect 2 "a PIN in the URI" "$KT" key list --token "pkcs11:token=BYOK;pin-value=1?module-path=$SOFTHSM"
expect_err "never takes a PIN from the command line" "$KT" key list \
    --token "pkcs11:token=BYOK?pin-value=1&module-path=$SOFTHSM" --pin-file "$t/upin"
expect 4 "a module that cannot be loaded" "$KT" key list \
    --token "pkcs11:token=BYOK?module-path=/nonexistent/libnone.so" --pin-file "$t/upin"
expect_err "/nonexistent/libnone.so" "$KT" key list \
    --token "pkcs11:token=BYOK?module-path=/nonexistent/libnone.so" --pin-file "$t/upin"
expect 4 "no such token" "$KT" key list --token "pkcs11:token=NOPE?module-path=$SOFTHSM" \
    --pin-file "$t/upin"
expect 0 "module-name= (p11-kit's configuration)" "$KT" key list \
    --token "pkcs11:token=BYOK?module-name=softhsm2" --pin-file "$t/upin"
printf 'user-pin-WRONG\n' >"$t/upin-wrong"
expect 1 "a wrong user PIN" "$KT" key list --token "$U" --pin-file "$t/upin-wrong"
expect_err "wrong PIN for the user" "$KT" key list --token "$U" --pin-file "$t/upin-wrong"
# SoftHSM never locks a PIN; the shim answers C_Login with CKR_PIN_LOCKED.
err=$(KT_SHIM_LOGIN_RV=0xa4 "$KT" key list --token "$S" --pin-file "$t/upin" 2>&1 >/dev/null)
st=$?
[ "$st" -eq 1 ] && grep -q "locked" <<<"$err" && grep -q CKR_PIN_LOCKED <<<"$err" && ok ||
    fail "a locked PIN: exit $st: $err"

# --- every key type generated in the token -------------------------------------------------------
aes="aes128:128 aes192:192 aes256:256"
asym="rsa2048:RSA:2048 rsa3072:RSA:3072 rsa4096:RSA:4096 p256:EC:P-256 p384:EC:P-384 p521:EC:P-521 k1:EC:secp256k1"
for a in $aes; do
    "$KT" key generate --token "$U" --type AES --size "${a#*:}" --ident "${a%%:*}" \
        --pin-file "$t/upin" >/dev/null 2>"$t/err" || fail "generate ${a%%:*}: $(cat "$t/err")"
done
for a in $asym; do
    IFS=: read -r id ty sz <<<"$a"
    if [ "$ty" = RSA ]; then o=(--size "$sz"); else o=(--curve "$sz"); fi
    "$KT" key generate --token "$U" --type "$ty" "${o[@]}" --ident "$id" --pin-file "$t/upin" \
        >/dev/null 2>"$t/err" || fail "generate $id: $(cat "$t/err")"
done
expect 4 "generate an existing label" "$KT" key generate --token "$U" --type AES --size 256 \
    --ident aes256 --pin-file "$t/upin"
"$KT" key list --token "$U" --pin-file "$t/upin" --json >"$t/list.json" 2>/dev/null ||
    fail "key list --token"
[ "$(json "$t/list.json" 'len(d["keys"])')" = 10 ] && ok || fail "key list: not 10 keys"
echo "generated: $((SECONDS - start)) s"

# pkcs11-tool reads the targets as sensitive, always sensitive, extractable (only wrapped).
p11 --list-objects >"$t/objects.txt"
n=$(grep -A4 -E "^(Private|Secret) Key Object" "$t/objects.txt" | grep -c "Access:.*sensitive, always sensitive, extractable")
[ "$n" -eq 10 ] && ok || fail "pkcs11-tool shows $n of 10 keys sensitive: $(cat "$t/objects.txt")"
# PyKCS11 reads CKA_WRAP_WITH_TRUSTED, which pkcs11-tool does not print.
cat >"$t/attrs.py" <<'EOF'
import sys, PyKCS11 as P
lib = P.PyKCS11Lib(); lib.load(sys.argv[1])
s = lib.openSession(lib.getSlotList(tokenPresent=True)[0], P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
s.login(sys.argv[2])
what = sys.argv[3]
if what == "targets":
    n = 0
    for cls in (P.CKO_PRIVATE_KEY, P.CKO_SECRET_KEY):
        for o in s.findObjects([(P.CKA_CLASS, cls), (P.CKA_TOKEN, True)]):
            v = s.getAttributeValue(o, [P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_WRAP_WITH_TRUSTED, P.CKA_PRIVATE])
            n += all(v)
    print(n)
elif what == "kek":   # the KEK object by its CKA_ID (hex fingerprint): CKA_TRUSTED, CKA_WRAP
    o = s.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_ID, bytes.fromhex(sys.argv[4]))])
    print(len(o), *(s.getAttributeValue(o[0], [P.CKA_TRUSTED, P.CKA_WRAP, P.CKA_ENCRYPT]) if o else []))
elif what == "pub":   # a public key object as SubjectPublicKeyInfo DER (RSA, EC)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    o = s.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, sys.argv[4])])[0]
    if s.getAttributeValue(o, [P.CKA_KEY_TYPE])[0] == P.CKK_RSA:
        n, e = (int.from_bytes(bytes(v), "big") for v in s.getAttributeValue(o, [P.CKA_MODULUS, P.CKA_PUBLIC_EXPONENT]))
        k = rsa.RSAPublicNumbers(e, n).public_key()
    else:
        params, point = (bytes(v) for v in s.getAttributeValue(o, [P.CKA_EC_PARAMS, P.CKA_EC_POINT]))
        curves = {"06082a8648ce3d030107": ec.SECP256R1(), "06052b81040022": ec.SECP384R1(),
                  "06052b81040023": ec.SECP521R1(), "06052b8104000a": ec.SECP256K1()}
        k = ec.EllipticCurvePublicKey.from_encoded_point(curves[params.hex()], point[2:] if point[1] < 0x80 else point[3:])
    open(sys.argv[5], "wb").write(k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
elif what == "secret":   # secret keys the session sees: token and session objects
    print(len(s.findObjects([(P.CKA_CLASS, P.CKO_SECRET_KEY)])))
elif what == "weak":   # keys a careless tool makes: readable, or wrappable under any key
    base = [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_VALUE_LEN, 32),
            (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_EXTRACTABLE, True)]
    s.generateKey(base + [(P.CKA_SENSITIVE, False), (P.CKA_LABEL, "readable")])
    s.generateKey(base + [(P.CKA_SENSITIVE, True), (P.CKA_WRAP_WITH_TRUSTED, False), (P.CKA_LABEL, "free")])
EOF
[ "$($PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 targets)" = 10 ] && ok ||
    fail "PyKCS11: not every target is sensitive, extractable, wrap-with-trusted and private"

# --- the KEKs: our own (unattested, we hold its private key) and the emulated cloud's ------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$t/kek.key" 2>/dev/null
openssl pkey -in "$t/kek.key" -pubout -out "$t/kek.pub"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$t/kek2.key" 2>/dev/null
openssl pkey -in "$t/kek2.key" -pubout -out "$t/kek2.pub"
fp=$(openssl pkey -pubin -in "$t/kek.pub" -outform DER | sha256sum | cut -d' ' -f1)
fp2=$(openssl pkey -pubin -in "$t/kek2.pub" -outform DER | sha256sum | cut -d' ' -f1)
kid="https://contoso-byok.vault.azure.net/keys/token-kek/0123456789abcdef0123456789abcdef"
kek=(--kek-pem "$t/kek.pub" --kid "$kid" --accept-unattested-kek "$fp")
kek2=(--kek-pem "$t/kek2.pub" --kid "$kid" --accept-unattested-kek "$fp2")
"$CLOUD" init --region NA --kek-size 3072 --out "$t/cloud" --state "$t/state" >/dev/null 2>&1 ||
    fail "cloud init"
ck=(-k "$t/cloud/BYOK-KEK-pkg-NA-1" -w "$t/cloud/BYOK-SecurityWorld-pkg-NA-1" --demo)

# --- refusals before the reduction -----------------------------------------------------------------
expect 1 "package before modify-acls" "$KT" package --token "$U" --ident aes256 "${kek[@]}" \
    --name early --subscription s --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q"
expect_err "has not been reduced" "$KT" package --token "$U" --ident aes256 "${kek[@]}" \
    --name early --subscription s --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q"
expect 1 "modify-acls with one card of a 2/3 quorum" "$KT" modify-acls --token "$U" \
    --ident aes256 "${kek[@]}" --card "$c1" --pin-file "$t/q1" --yes
$PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 weak || fail "PyKCS11 could not make the weak keys"
expect 1 "a sensitive-false key" "$KT" modify-acls --token "$U" --ident readable "${kek[@]}" \
    --card "$c1" --card "$c3" --pin-file "$t/q" --yes
expect_err "CKA_SENSITIVE false" "$KT" modify-acls --token "$U" --ident readable "${kek[@]}" \
    --card "$c1" --card "$c3" --pin-file "$t/q" --yes
expect 1 "a freely extractable key" "$KT" modify-acls --token "$U" --ident free "${kek[@]}" \
    --card "$c1" --card "$c3" --pin-file "$t/q" --yes
expect_err "freely extractable" "$KT" modify-acls --token "$U" --ident free "${kek[@]}" \
    --card "$c1" --card "$c3" --pin-file "$t/q" --yes
[ "$($PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 kek "$fp")" = 0 ] && ok ||
    fail "a refused modify-acls imported the KEK"

# --- reduce every key with 2 of 3 cards ---------------------------------------------------------------
for a in $aes $asym; do
    id=${a%%:*}
    "$KT" modify-acls --token "$U" --ident "$id" "${kek[@]}" --card "$c1" --card "$c3" \
        --pin-file "$t/q" --yes >"$t/red.txt" 2>"$t/err" || fail "modify-acls $id: $(cat "$t/err")"
done
grep -q "Result: SUCCESS" "$t/red.txt" && ok || fail "modify-acls does not say Result: SUCCESS"
[ -f "$t/kmdata/local/tokenkey_xferacld_p256" ] && ok || fail "no reduced-token record"
# The KEK in the token: trusted and for wrapping (PyKCS11), listed by pkcs11-tool.
[ "$($PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 kek "$fp")" = "1 True True False" ] && ok ||
    fail "the KEK in the token is not CKA_TRUSTED/CKA_WRAP: $($PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 kek "$fp")"
p11 --list-objects --type pubkey | grep -A3 "kek-${fp:0:16}" | grep -q "Usage: *wrap" && ok ||
    fail "pkcs11-tool does not list the KEK as a wrapping key"
p11 --list-objects | grep -A4 "label: *aes256" | grep -q "Access:.*sensitive" && ok ||
    fail "pkcs11-tool: the target is not sensitive after modify-acls"
expect 4 "modify-acls twice" "$KT" modify-acls --token "$U" --ident aes256 "${kek[@]}" \
    --card "$c1" --card "$c3" --pin-file "$t/q" --yes
echo "reduced: $((SECONDS - start)) s"

# --- package for Azure, AWS and GCP ---------------------------------------------------------------------
secrets_before=$($PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 secret)
pkg() { # pkg URI ID TARGET [env...]: one package into $t/out
    local uri=$1 id=$2 tgt=$3
    shift 3
    local h=()
    [ "$tgt" = azure ] || h=(--oaep-hash sha1)   # SoftHSM offers OAEP with SHA-1 only
    env "$@" "$KT" package --token "$uri" --ident "$id" "${kek[@]}" --target "$tgt" "${h[@]}" \
        --name "$id-$tgt" --subscription sub-1 --out "$t/out" --card "$c1" --card "$c3" \
        --pin-file "$t/q" >/dev/null 2>"$t/err" || fail "package $id $tgt: $(cat "$t/err")"
}
# What each cloud imports: AWS takes AES-256 only (RSAES_OAEP of the key itself), Google no P-521
# and no AES-192 (keytransfer refuses those, as for a world key).
targets() {
    case $1 in
    aes128) echo azure gcp ;;
    aes192) echo azure ;;
    p521) echo azure aws ;;
    *) echo azure aws gcp ;;
    esac
}
specs=()
for a in $aes $asym; do
    id=${a%%:*}
    uri=$S fix=KT_SHIM_FIX_KWP=1
    case $id in aes*) uri=$U fix=KT_SHIM_FIX_KWP=0 ;; esac
    for tgt in $(targets "$id"); do pkg "$uri" "$id" "$tgt" "$fix"; done
    specs+=("$id:$(targets "$id" | tr ' ' ,)")
done
expect 1 "AES-192 for AWS" "$KT" package --token "$U" --ident aes192 "${kek[@]}" --target aws \
    --oaep-hash sha1 --name aes192-aws --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q"
echo "packaged: $((SECONDS - start)) s"
# SoftHSM alone: the probe refuses PKCS#8, naming the token's fault.
expect 1 "an RSA key on SoftHSM's own key wrap" "$KT" package --token "$U" --ident rsa2048 \
    "${kek[@]}" --name soft-rsa --subscription s --out "$t/out" --card "$c1" --card "$c3" \
    --pin-file "$t/q"
expect_err "does not implement CKM_AES_KEY_WRAP_PAD as RFC 5649 defines it" "$KT" package \
    --token "$U" --ident rsa2048 "${kek[@]}" --name soft-rsa --subscription s --out "$t/out" \
    --card "$c1" --card "$c3" --pin-file "$t/q"
[ -e "$t/out/TransferPackage-soft-rsa.byok" ] && fail "a refused package was written" || ok
expect 1 "OAEP with SHA-256 on SoftHSM" "$KT" package --token "$U" --ident aes256 "${kek[@]}" \
    --target aws --name soft-sha256 --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q"
expect_err "does not offer CKM_RSA_PKCS_OAEP with SHA-256" "$KT" package --token "$U" \
    --ident aes256 "${kek[@]}" --target aws --name soft-sha256 --out "$t/out" --card "$c1" \
    --card "$c3" --pin-file "$t/q"

# The public keys as pkcs11-tool reads them from the token, for the unwrap check.
for a in $asym; do
    id=${a%%:*}
    hexid=$(p11 --list-objects --type pubkey | grep -A3 "label: *$id\$" | awk '/ID:/{print $2}')
    # pkcs11-tool 0.23 cannot make a P-384 key of what it reads ("cannot create EVP_PKEY");
    # PyKCS11 reads that one's CKA_EC_POINT instead.
    p11 --read-object --type pubkey --id "$hexid" -o "$t/$id.pub.der" >/dev/null ||
        $PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 pub "$id" "$t/$id.pub.der" ||
        fail "neither pkcs11-tool nor PyKCS11 reads the public key of $id"
done
# python3-cryptography: OAEP under the KEK's private key, then RFC 5649; RSA/EC give a private key
# whose public key is the token's; an AES key gives the same 16/24/32 bytes in all three packages.
$PY - "$t" "$t/kek.key" "$kid" "${specs[@]}" <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
d, kek = sys.argv[1], serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
kid, bad = sys.argv[3], 0
def b64url(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def unwrap(blob, h):
    n = kek.key_size // 8
    k = kek.decrypt(blob[:n], padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None))
    if len(blob) == n:   # AWS RSAES_OAEP: the key itself
        return k
    assert len(k) == 32
    return aes_key_unwrap_with_padding(k, blob[n:])
count = 0
for spec in sys.argv[4:]:
    ident, tgts = spec.split(":")
    got, tgts = [], tgts.split(",")
    for tgt in tgts:
        h = hashes.SHA1
        count += 1
        base = f"{d}/out/TransferPackage-{ident}-{tgt}"
        try:
            if tgt == "azure":
                j = json.load(open(base + ".byok"))
                assert set(j) == {"schema_version", "header", "ciphertext", "generator"}
                assert j["header"] == {"kid": kid, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"}
                blob = b64url(j["ciphertext"])
            else:
                blob = open(base + f".{tgt}.bin", "rb").read()
            got.append(unwrap(blob, h))
        except Exception as e:
            print(f"FAIL: {base}: {e!r}", file=sys.stderr); bad += 1
    if len(got) != len(tgts):
        continue
    if ident.startswith("aes"):
        if len(set(got)) != 1 or len(got[0]) * 8 != int(ident[3:]):
            print(f"FAIL: {ident}: the three AES packages differ", file=sys.stderr); bad += 1
        continue
    want = open(f"{d}/{ident}.pub.der", "rb").read()
    want = serialization.load_der_public_key(want).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for m in got:
        key = serialization.load_der_private_key(m, None)
        if key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) != want:
            print(f"FAIL: {ident}: unwrapped key is not the token's", file=sys.stderr); bad += 1
print(f"python3-cryptography unwrapped {count} packages, {bad} failures")
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && ok || fail "python3-cryptography could not unwrap every package"
man=$(json "$t/out/TransferPackage-p256-azure.manifest.json" \
    '__import__("base64").urlsafe_b64decode(d["payload"] + "==").decode()')
grep -q '"package_file":"TransferPackage-p256-azure.byok"' <<<"$man" && ok ||
    fail "the manifest does not name its package: $man"
[ "$($PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 secret)" = "$secrets_before" ] && ok ||
    fail "a session key is left in the token after the packages"

# --- packaging refusals ----------------------------------------------------------------------------
expect 1 "a KEK other than the reduced one" "$KT" package --token "$U" --ident aes256 \
    "${kek2[@]}" --name other --subscription s --out "$t/out" --card "$c1" --card "$c3" \
    --pin-file "$t/q"
expect_err "may not be packaged for this KEK" "$KT" package --token "$U" --ident aes256 \
    "${kek2[@]}" --name other --subscription s --out "$t/out" --card "$c1" --card "$c3" \
    --pin-file "$t/q"
expect 1 "package with one card" "$KT" package --token "$U" --ident aes128 "${kek[@]}" \
    --name one-card --subscription s --out "$t/out" --card "$c1" --pin-file "$t/q1"
expect 2 "package --token without cards" "$KT" package --token "$U" --ident aes128 "${kek[@]}" \
    --name no-card --subscription s --out "$t/out" --pin-file "$t/upin"
# The mechanisms as pkcs11-tool lists them; the shim takes CKM_AES_KEY_WRAP_PAD (0x210a) away.
pkcs11-tool --module "$SOFTHSM" -M 2>/dev/null | grep -qi "mechtype-0x210A\|AES-KEY-WRAP-PAD" && ok ||
    fail "pkcs11-tool does not list CKM_AES_KEY_WRAP_PAD on SoftHSM"
for m in 0x210a 0x9; do
    name=$([ "$m" = 0x9 ] && echo CKM_RSA_PKCS_OAEP || echo CKM_AES_KEY_WRAP_PAD)
    err=$(KT_SHIM_HIDE=$m "$KT" package --token "$S" --ident aes192 "${kek[@]}" --name hidden \
        --subscription s --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q" 2>&1 >/dev/null)
    st=$?
    [ "$st" -eq 1 ] && grep -q "does not offer $name" <<<"$err" && ok ||
        fail "a token without $name: exit $st: $err"
done

# --- no session key left after a failure or a SIGKILL while it exists -------------------------------
# C_WrapKey calls of a two-step package: 1-4 the probe, 5-6 the session key under the KEK (it
# exists from before call 5), 7-8 the target under it.
err=$(KT_SHIM_FAIL_WRAP=7 "$KT" package --token "$S" --ident aes128 "${kek[@]}" --name failed \
    --subscription s --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q" 2>&1 >/dev/null)
st=$?
[ "$st" -eq 4 ] && grep -q CKR_DEVICE_ERROR <<<"$err" && ok || fail "a failed wrap: exit $st: $err"
KT_SHIM_KILL_WRAP=7 "$KT" package --token "$S" --ident aes128 "${kek[@]}" --name killed \
    --subscription s --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q" >/dev/null 2>&1
st=$?
[ "$st" -eq 137 ] && ok || fail "the kill at C_WrapKey 7: exit $st"
[ "$($PY "$t/attrs.py" "$SOFTHSM" user-pin-1234 secret)" = "$secrets_before" ] && ok ||
    fail "a session key is left in the token after a failure or a kill"
p11 --list-objects --type secrkey >"$t/secret.txt"
[ "$(grep -c "Secret Key Object" "$t/secret.txt")" -eq "$secrets_before" ] && ok ||
    fail "pkcs11-tool lists more secret keys than we made: $(cat "$t/secret.txt")"
[ -e "$t/out/TransferPackage-failed.byok" ] || [ -e "$t/out/TransferPackage-killed.byok" ] &&
    fail "a package was written by a failed or killed run" || ok

# --- the emulated cloud imports a token key's .byok -----------------------------------------------------
"$KT" key generate --token "$U" --type RSA --size 2048 --ident cloudkey --pin-file "$t/upin" \
    >/dev/null 2>&1 || fail "generate cloudkey"
"$KT" key public --token "$U" cloudkey --pin-file "$t/upin" --out "$t/cloudkey.pem" ||
    fail "key public --token"
"$KT" modify-acls --token "$U" --ident cloudkey "${ck[@]}" --card "$c1" --card "$c3" \
    --pin-file "$t/q" --yes >/dev/null 2>"$t/err" || fail "modify-acls cloudkey: $(cat "$t/err")"
KT_SHIM_FIX_KWP=1 "$KT" package --token "$S" --ident cloudkey "${ck[@]}" --name cloudkey \
    --subscription sub-1 --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q" \
    >/dev/null 2>"$t/err" || fail "package cloudkey: $(cat "$t/err")"
"$CLOUD" import "$t/out/TransferPackage-cloudkey.byok" --state "$t/state" --name cloudkey --json \
    >"$t/imp.json" 2>"$t/err" || fail "keytransfer-cloud import: $(cat "$t/err")"
want=$(openssl pkey -pubin -in "$t/cloudkey.pem" -outform DER | sha256sum | cut -d' ' -f1)
[ "$(json "$t/imp.json" 'd["public_key_sha256"]' 2>/dev/null)" = "$want" ] && ok ||
    fail "the cloud imported another key than the token's"

# SoftHSM alone makes a .byok of an AES key that the cloud imports.
"$KT" key generate --token "$U" --type AES --size 256 --ident cloudaes --pin-file "$t/upin" \
    >/dev/null 2>&1 || fail "generate cloudaes"
"$KT" modify-acls --token "$U" --ident cloudaes "${ck[@]}" --card "$c1" --card "$c3" \
    --pin-file "$t/q" --yes >/dev/null 2>"$t/err" || fail "modify-acls cloudaes: $(cat "$t/err")"
"$KT" package --token "$U" --ident cloudaes "${ck[@]}" --name cloudaes --subscription sub-1 \
    --out "$t/out" --card "$c1" --card "$c3" --pin-file "$t/q" >/dev/null 2>"$t/err" ||
    fail "package cloudaes: $(cat "$t/err")"
"$CLOUD" import "$t/out/TransferPackage-cloudaes.byok" --state "$t/state" --name cloudaes --json \
    >"$t/imp.json" 2>"$t/err" || fail "keytransfer-cloud import of the AES key: $(cat "$t/err")"
[ "$(json "$t/imp.json" 'd["type"], d["size"]' 2>/dev/null)" = "AES 256" ] && ok ||
    fail "the cloud did not import an AES-256 key: $(cat "$t/imp.json")"
expect_out "CKA_WRAP_WITH_TRUSTED +true" "$KT" key show --token "$U" cloudaes --pin-file "$t/upin"
expect_out "transfer +refused: it has CKA_SENSITIVE false" "$KT" key show --token "$U" readable \
    --pin-file "$t/upin"

# The audit log holds the binding, every reduction and every package of a token key, and
# verifies (module signatures, KNSO's where the quorum acted, the chain).
expect 0 "audit verify" "$KT" audit verify
"$KT" audit show --json >"$t/audit.json" 2>/dev/null || fail "audit show"
n_bind=$(json "$t/audit.json" 'sum(1 for x in d["entries"] if x["op"] == "world bind-token")' 2>/dev/null)
n_tok=$(json "$t/audit.json" 'sum(1 for x in d["entries"] if x["op"] == "modify-acls" and x["detail"].get("token"))' 2>/dev/null)
[ "$n_bind" = 1 ] && [ "$n_tok" = 12 ] && ok ||
    fail "audit log: $n_bind bind-token entries (want 1), $n_tok token reductions (want 12)"

# --- a backup carries the token files: restored, the world packages a token key again -------------
"$KT" world backup --out "$t/bk" --json >"$t/bk.json" 2>"$t/err" || fail "world backup: $(cat "$t/err")"
# the sealed SO PIN and the 12 reduced-token records
[ "$(json "$t/bk.json" 'd["token_files"]')" = 13 ] && ok ||
    fail "the backup holds $(json "$t/bk.json" 'd["token_files"]') token files, not 13"
[ -f "$t/bk/local/tokenkey_xferacld_aes256" ] && ls "$t"/bk/local/tokenso_* >/dev/null 2>&1 && ok ||
    fail "the backup lacks the token files: $(ls "$t/bk/local")"
expect 0 "check-backup with token files" "$KT" world check-backup "$t/bk"
cp -a "$t/bk" "$t/bad"
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' \
    "$t/bad/local/tokenkey_xferacld_aes256"
expect 1 "check-backup of a changed token record" "$KT" world check-backup "$t/bad"
expect_err "tokenkey_xferacld_aes256 does not have the SHA-256" "$KT" world check-backup "$t/bad"
expect 0 "restore" "$KT" world restore "$t/bk" --kmdata "$t/km2"
printf 'pin-card-one-1\npin-card-three-3\n' >"$t/q2"
expect 0 "world program after restore" "$KT" world program --kmdata "$t/km2" --card "$c1" \
    --card "$c3" --pin-file "$t/q2"
expect 0 "package a token key from the restored world" "$KT" package --kmdata "$t/km2" \
    --token "$U" --ident aes256 "${kek[@]}" --subscription sub-1 --name restored --out "$t/out" \
    --card "$c1" --card "$c3" --pin-file "$t/q"
mkdir -m 700 "$t/km3" "$t/km3/local"
cp "$t"/km2/local/tokenso_* "$t/km3/local/"
expect 4 "restore into a kmdata holding a token file" "$KT" world restore "$t/bk" --kmdata "$t/km3"
expect_err "token files but no world" "$KT" world restore "$t/bk" --kmdata "$t/km3"
# A record damaged in the world itself goes into the next backup with its hash in the manifest:
# check-backup finds it by KNSO's signature, not by the manifest.
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' \
    "$t/km2/local/tokenkey_xferacld_aes128"
expect 0 "backup of a world with a damaged record" "$KT" world backup --kmdata "$t/km2" --out "$t/bk2"
expect 1 "check-backup of a damaged record" "$KT" world check-backup --kmdata "$t/km2" "$t/bk2"
expect_err "tokenkey_xferacld_aes128 does not authenticate against the world" "$KT" world \
    check-backup --kmdata "$t/km2" "$t/bk2"

# --- ./run.sh demo --token: the demo scripts, offline then online, on their own SoftHSM token --------
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}
if KT_BIN=$KT KT_CLOUD=$CLOUD bash "$KT_SRC/scripts/demo-offline.sh" --token "$t/demo" \
    >"$t/demo-offline.log" 2>&1; then ok; else
    fail "demo-offline.sh --token: $(tail -n 20 "$t/demo-offline.log")"
fi
if KT_BIN=$KT KT_CLOUD=$CLOUD KT_ONLINE=$ONLINE bash "$KT_SRC/scripts/demo-online.sh" "$t/demo" \
    >"$t/demo-online.log" 2>&1 && grep -qx "Result: SUCCESS" "$t/demo-online.log"; then ok; else
    fail "demo-online.sh after the token demo: $(tail -n 20 "$t/demo-online.log")"
fi
grep -q "an AES key has no public part to compare" "$t/demo-online.log" && ok ||
    fail "demo-online.sh claims a public key for the token demo's AES key"

# --- every --option of the help is in the man page -----------------------------------------------------
for c in "world bind-token" "key generate" "modify-acls" "package"; do
    # shellcheck disable=SC2086 # the command is two words on purpose
    for o in $("$KT" $c --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
        grep -qF -- "${o//-/\\-}" "$KT_SRC/docs/man/keytransfer.1" || fail "man page lacks $o ($c)"
    done
done
ok
echo "total: $((SECONDS - start)) s"
finish
