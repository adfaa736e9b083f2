#!/usr/bin/env bash
# shellcheck disable=SC2154 # the per-size names (kekpkg2048, kekfp3072, ...) come from declare
# test_transfer.sh - `keytransfer modify-acls` and `keytransfer package` as a custodian drives
# them, cross-checked by programs that are not ours:
#   - every target key type and size (RSA 2048/3072/4096, EC P-256/P-384/P-521/secp256k1, AES
#     128/192/256) for every KEK size (2048/3072/4096):
#       attested: three emulated clouds (keytransfer-cloud init --kek-size N), whose KEK never
#         leaves the cloud; `keytransfer-cloud import` accepts every .byok and reports the
#         fingerprint of the key we packaged;
#       unattested (--kek-pem): KEKs made by the openssl command, so the test holds their private
#         keys; the `openssl` command (pkeyutl OAEP, then enc -id-aes256-wrap-pad) and
#         python3-cryptography (OAEP, then aes_key_unwrap_with_padding) open every .byok (SHA-1),
#         AWS blob (SHA-256) and GCP blob (SHA-256; 3072/4096-bit KEKs) and give back the key
#         whose public key `keytransfer key public` prints (AES: the bytes of the file we
#         imported);
#   - the .byok JSON has exactly its four members, the header exactly {kid, alg, enc}, unpadded
#     base64url, and an RSA part of exactly the KEK modulus length;
#   - the manifests parse and name the package file and its SHA-256;
#   - refusals with their exit statuses, nothing written after a refusal, no plaintext key in any
#     file written, and every --option of --help in the man page.
# The emulated clouds' packages chain to the DEMO root, so every attested command says --demo; the
# approval is given with --yes (tests/cli/test_trust.sh asks it at a terminal, and refuses both).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
$PY -c 'import cryptography' 2>/dev/null || { echo "SKIP: no python3-cryptography"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-xfer.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
local_dir="$t/kmdata/local"
start=$SECONDS

json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
spki_sha() { openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
no_file() { # no_file WHAT PATH...: none of the paths exists
    local what=$1 p
    shift
    for p in "$@"; do
        if [ -e "$p" ]; then fail "$what: $p was written"; return; fi
    done
    ok
}

# --- a 2-of-3 world; cards 1 and 3 form the quorum ---------------------------------------------
printf 'pin-card-one-1\npin-card-two-2\npin-card-three-3\n' >"$t/pins"
printf 'pin-card-one-1\npin-card-three-3\n' >"$t/quorum"
printf 'pin-card-one-1\npin-card-three-X\n' >"$t/wrong"
expect 0 "world new 2/3" "$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins"
c1=$(echo "$t"/kmdata/cards/card_*_1)
c3=$(echo "$t"/kmdata/cards/card_*_3)
[ -f "$c1" ] && [ -f "$c3" ] && ok || fail "cards not found: $c1 $c3"
cards=(--card "$c1" --card "$c3" --pin-file "$t/quorum" --yes)

# --- three clouds, one per KEK size; three KEKs of our own ---------------------------------------
declare -A region=([2048]=NA [3072]=EU [4096]=AP)
for bits in 2048 3072 4096; do
    r=${region[$bits]}
    expect 0 "cloud init --kek-size $bits" "$CLOUD" init --region "$r" --kek-size "$bits" \
        --out "$t/cloud$bits" --state "$t/state$bits"
    declare "kekpkg$bits=$t/cloud$bits/BYOK-KEK-pkg-$r-1"
    declare "worldpkg$bits=$t/cloud$bits/BYOK-SecurityWorld-pkg-$r-1"
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$bits" -out "$t/kek$bits.key" \
        2>/dev/null || fail "openssl could not make a $bits-bit KEK"
    openssl pkey -in "$t/kek$bits.key" -pubout -out "$t/kek$bits.pub"
    declare "kekfp$bits=$(spki_sha "$t/kek$bits.pub")"
done
kid="https://contoso-byok.vault.azure.net/keys/openssl-kek/0123456789abcdef0123456789abcdef"
# The 2048-bit cloud's KEK as a bare public key, and its kid (to swap attested and unattested).
$PY - "$kekpkg2048" "$t/cloudkek.pub" "$t/cloudkid" <<'EOF' || fail "cannot read the cloud KEK"
import base64, json, sys
jws = json.load(open(sys.argv[1]))
p = json.loads(base64.urlsafe_b64decode(jws["payload"] + "=" * (-len(jws["payload"]) % 4)))
der = base64.urlsafe_b64decode(p["public_key"] + "=" * (-len(p["public_key"]) % 4))
open(sys.argv[2], "wb").write(b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) +
                              b"-----END PUBLIC KEY-----\n")
open(sys.argv[3], "w").write(p["kid"])
EOF
cloudfp=$(spki_sha "$t/cloudkek.pub")

# --- the target keys, made by openssl, each imported once per KEK and path ---------------------
kinds="rsa2048 rsa3072 rsa4096 p256 p384 p521 k1 aes128 aes192 aes256"
for b in 2048 3072 4096; do
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$b" -out "$t/rsa$b.key" 2>/dev/null
done
for c in p256:P-256 p384:P-384 p521:P-521 k1:secp256k1; do
    openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${c#*:}" -out "$t/${c%%:*}.key"
done
for b in 128 192 256; do openssl rand -out "$t/aes$b.key" $((b / 8)); done
for kind in $kinds; do
    [ -s "$t/$kind.key" ] || fail "openssl did not make $kind"
    case $kind in aes*) type=(--type AES) ;; *) type=() ;; esac
    for bits in 2048 3072 4096; do
        for path in a u; do
            "$KT" key import --from "$t/$kind.key" "${type[@]}" --ident "$kind-$path$bits" \
                >/dev/null 2>"$t/err" || fail "import $kind-$path$bits: $(cat "$t/err")"
        done
    done
done
echo "setup: $((SECONDS - start)) s"

# --- modify-acls for every key and KEK: attested (a) and unattested (u) --------------------------
for kind in $kinds; do
    for bits in 2048 3072 4096; do
        k=kekpkg$bits w=worldpkg$bits f=kekfp$bits
        "$KT" modify-acls --ident "$kind-a$bits" -k "${!k}" -w "${!w}" --demo "${cards[@]}" \
            >"$t/out.txt" 2>"$t/err" || fail "modify-acls $kind-a$bits: $(cat "$t/err")"
        "$KT" modify-acls --ident "$kind-u$bits" --kek-pem "$t/kek$bits.pub" --kid "$kid" \
            --accept-unattested-kek "${!f}" "${cards[@]}" >/dev/null 2>"$t/err" ||
            fail "modify-acls $kind-u$bits: $(cat "$t/err")"
    done
done
grep -q "Result: SUCCESS" "$t/out.txt" && ok || fail "modify-acls does not say Result: SUCCESS"
# The reduced copy: one group, ExportWrapped only, bound to the KEK (and world), signed.
"$KT" key show --app xferacld p256-a2048 --json >"$t/show.json" || fail "key show xferacld"
[ "$(json "$t/show.json" 'd["acl_signed"]')" = True ] || fail "the reduced ACL is not signed"
[ "$(json "$t/show.json" '[g["actions"] for g in d["acl"]]')" = "[['ExportWrapped']]" ] ||
    fail "the reduced ACL is not exactly ExportWrapped"
[ "$(json "$t/show.json" 'd["acl"][0]["kek_fingerprint"]')" = "$cloudfp" ] && ok ||
    fail "the reduced ACL does not name the cloud's KEK"
[ "$(json "$t/show.json" 'd["acl"][0]["world_hash"]')" = "$(json <("$KT" verify -k "$kekpkg2048" \
    -w "$worldpkg2048" --json 2>/dev/null) 'd["world"]["world_hash"]')" ] && ok ||
    fail "the reduced ACL is not bound to the cloud's world"
[ "$(json "$t/show.json" 'd["acl"][0]["kid"]')" = "$(cat "$t/cloudkid")" ] && ok ||
    fail "the reduced ACL is not bound to the cloud KEK's kid"
"$KT" key show --app xferacld p256-u2048 --json >"$t/show-u.json" || fail "key show xferacld u"
[ "$(json "$t/show-u.json" 'd["acl"][0]["kid"]')" = "$kid" ] && ok ||
    fail "the unattested reduction is not bound to its --kid"
[ "$(json "$t/show-u.json" 'd["acl"][0]["world_hash"]')" = None ] && ok ||
    fail "an unattested reduction is bound to a world"
[ "$(json "$t/show-u.json" 'd["acl"][0]["kek_fingerprint"]')" = "$kekfp2048" ] && ok ||
    fail "the unattested reduction names another KEK"
# The source keys are untouched and still usable: their default ACL.
"$KT" key show p256-a2048 --json >"$t/src.json" || fail "key show source"
[ "$(json "$t/src.json" '",".join(d["acl"][0]["actions"])')" = "Sign,Verify,ExportWrapped,ReduceACL" ] &&
    ok || fail "the source key's ACL changed"
echo "modify-acls: $((SECONDS - start)) s"

# --- package: attested .byok for every key and KEK, imported by the cloud ----------------------
mkdir -m 700 "$t/pkg"
for kind in $kinds; do
    for bits in 2048 3072 4096; do
        k=kekpkg$bits w=worldpkg$bits
        "$KT" package --ident "$kind-a$bits" -k "${!k}" -w "${!w}" --demo --subscription sub-0001 \
            --name "$kind-a$bits" --out "$t/pkg" >"$t/out.txt" 2>"$t/err" ||
            fail "package $kind-a$bits: $(cat "$t/err")"
        want=$(json <("$KT" key show "$kind-a$bits" --json) 'd["key_hash"]')
        "$CLOUD" import "$t/pkg/TransferPackage-$kind-a$bits.byok" --state "$t/state$bits" \
            --name "$kind-a$bits" --json >"$t/imp.json" 2>"$t/err" ||
            fail "cloud import of $kind-a$bits: $(cat "$t/err")"
        have=$(json "$t/imp.json" 'd.get("public_key_sha256") or d.get("key_hash_sha256")')
        [ -n "$want" ] && [ "$have" = "$want" ] && ok ||
            fail "$kind-a$bits: the cloud imported $have, we packaged $want"
    done
done
grep -q "Result: SUCCESS" "$t/out.txt" && ok || fail "package does not say Result: SUCCESS"
echo "attested packages: $((SECONDS - start)) s"

# --- package: unattested .byok, AWS and GCP blobs, opened by openssl and pyca ---------------------
: >"$t/cases"
for kind in $kinds; do
    for bits in 2048 3072 4096; do
        f=kekfp$bits id=$kind-u$bits
        un=(--kek-pem "$t/kek$bits.pub" --accept-unattested-kek "${!f}" --kid "$kid" --out "$t/pkg")
        "$KT" package --ident "$id" "${un[@]}" --subscription sub-0001 \
            --name "$id" >/dev/null 2>"$t/err" || fail "package $id azure: $(cat "$t/err")"
        echo "$t/pkg/TransferPackage-$id.byok azure sha1 $bits $kind $id" >>"$t/cases"
        # AWS KMS imports AES-256 only, wrapped directly (RSAES_OAEP_SHA_256); RSA and EC with
        # RSA_AES_KEY_WRAP_SHA_256. Google takes neither P-521 nor AES-192.
        case $kind in
        aes128 | aes192)
            expect_err "256 bits only" "$KT" package --ident "$id" "${un[@]}" --target aws \
                --name "$id"
            ;;
        *)
            "$KT" package --ident "$id" "${un[@]}" --target aws --name "$id" >/dev/null \
                2>"$t/err" || fail "package $id aws: $(cat "$t/err")"
            aws=aws
            [ "$kind" = aes256 ] && aws=awsdirect
            echo "$t/pkg/TransferPackage-$id.aws.bin $aws sha256 $bits $kind $id" >>"$t/cases"
            ;;
        esac
        if [ "$bits" != 2048 ] && { [ "$kind" = p521 ] || [ "$kind" = aes192 ]; }; then
            expect_err "Cloud KMS" "$KT" package --ident "$id" "${un[@]}" --target gcp \
                --name "$id"
        elif [ "$bits" != 2048 ]; then
            "$KT" package --ident "$id" "${un[@]}" --target gcp --name "$id" >/dev/null \
                2>"$t/err" || fail "package $id gcp: $(cat "$t/err")"
            echo "$t/pkg/TransferPackage-$id.gcp.bin gcp sha256 $bits $kind $id" >>"$t/cases"
        fi
        # What the package must give back: the public key `keytransfer key public` prints (of
        # the reduced copy we packaged), or for AES the bytes of the file we imported.
        case $kind in
        aes*) cp "$t/$kind.key" "$t/want-$id" ;;
        *) "$KT" key public --app xferacld "$id" >"$t/want-$id" || fail "key public $id" ;;
        esac
    done
done
# One extra: AWS with SHA-1 (RSA_AES_KEY_WRAP_SHA_1).
"$KT" package --ident p384-u3072 --kek-pem "$t/kek3072.pub" --accept-unattested-kek "$kekfp3072" \
    --kid "$kid" --target aws --oaep-hash sha1 --name p384-sha1 --out "$t/pkg" >/dev/null 2>"$t/err" ||
    fail "package aws sha1: $(cat "$t/err")"
echo "$t/pkg/TransferPackage-p384-sha1.aws.bin aws sha1 3072 p384 p384-u3072" >>"$t/cases"
echo "unattested packages: $((SECONDS - start)) s"

# The openssl command: split at the modulus length, OAEP-decrypt K, KWP-unwrap the rest.
n_openssl=0
while read -r file target hash bits kind id; do
    d="$t/o-$(basename "$file")"
    mkdir "$d"
    if [ "$target" = azure ]; then
        $PY -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["ciphertext"])' \
            "$file" | tr -- '-_' '+/' >"$d/ct.b64"
        pad=$(((4 - $(wc -c <"$d/ct.b64") % 4) % 4))
        { cat "$d/ct.b64"; head -c "$pad" /dev/zero | tr '\0' '='; } |
            openssl base64 -d -A >"$d/ct.bin"
    else
        cp "$file" "$d/ct.bin"
    fi
    len=$((bits / 8))
    if [ "$target" = awsdirect ]; then
        # RSAES_OAEP_SHA_256: one RSA-OAEP block of the key itself.
        [ "$(wc -c <"$d/ct.bin")" = "$len" ] && ok || fail "$file: not one RSA block"
        if openssl pkeyutl -decrypt -inkey "$t/kek$bits.key" -in "$d/ct.bin" -out "$d/target" \
            -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
            -pkeyopt rsa_mgf1_md:sha256 2>"$d/err" && cmp -s "$d/target" "$t/want-$id"; then
            ok
        else
            fail "openssl does not open $file to the AES key: $(cat "$d/err")"
        fi
        n_openssl=$((n_openssl + 1))
        rm -rf "$d"
        continue
    fi
    head -c "$len" "$d/ct.bin" >"$d/rsa"
    tail -c +$((len + 1)) "$d/ct.bin" >"$d/kwp"
    if ! openssl pkeyutl -decrypt -inkey "$t/kek$bits.key" -in "$d/rsa" -out "$d/K" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$hash" \
        -pkeyopt "rsa_mgf1_md:$hash" 2>"$d/err"; then
        fail "openssl pkeyutl could not open $file: $(cat "$d/err")"
        continue
    fi
    [ "$(wc -c <"$d/K")" = 32 ] || fail "$file: K is not an AES-256 key"
    if ! openssl enc -d -id-aes256-wrap-pad -iv A65959A6 \
        -K "$(od -An -tx1 "$d/K" | tr -d ' \n')" -in "$d/kwp" -out "$d/target" 2>"$d/err"; then
        fail "openssl enc could not unwrap $file: $(cat "$d/err")"
        continue
    fi
    case $kind in
    aes*) cmp -s "$d/target" "$t/want-$id" && ok || fail "$file: openssl gives another AES key" ;;
    *)
        [ "$(openssl pkey -inform DER -in "$d/target" -pubout 2>/dev/null)" = "$(cat "$t/want-$id")" ] &&
            ok || fail "$file: openssl gives a key whose public key is not keytransfer's"
        ;;
    esac
    # A SHA-1 package does not open as SHA-256 and the reverse: the hash really is as stated.
    other=sha256
    [ "$hash" = sha256 ] && other=sha1
    if openssl pkeyutl -decrypt -inkey "$t/kek$bits.key" -in "$d/rsa" -out "$d/K2" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$other" \
        -pkeyopt "rsa_mgf1_md:$other" 2>/dev/null; then
        fail "$file also opens with OAEP $other"
    else ok; fi
    n_openssl=$((n_openssl + 1))
    rm -rf "$d"
done <"$t/cases"
[ "$n_openssl" = 71 ] && ok || fail "openssl opened $n_openssl packages, expected 71"
echo "openssl: $((SECONDS - start)) s"

# python3-cryptography: the same, independently, plus the .byok's exact shape, the RSA part
# length, and the manifests.
$PY - "$t" "$kid" "$t/cases" <<'EOF' >"$t/pyca.out" 2>&1
import base64, hashlib, json, math, re, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

t, kid, cases = sys.argv[1], sys.argv[2], sys.argv[3]
DEMO_ROOT = "151c67afec1b75af01c18dfbbf379286cb890cf9b58999a6cc546ebf8991585a"
bad = 0
def fail(msg):
    global bad
    bad += 1
    print("FAIL:", msg)

def b64url(s):
    if not re.fullmatch(r"[A-Za-z0-9_-]+", s):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def byok_blob(path, want_kid):
    raw = open(path, "rb").read()
    d = json.loads(raw, object_pairs_hook=lambda kv: (dict(kv) if len(set(k for k, _ in kv)) == len(kv)
                                                      else fail(path + ": duplicate keys")))
    if sorted(d) != ["ciphertext", "generator", "header", "schema_version"]:
        fail("%s: members %s" % (path, sorted(d)))
    if d["schema_version"] != "1.0.0":
        fail(path + ": schema_version")
    if d["header"] != {"kid": want_kid, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"}:
        fail("%s: header %s" % (path, d["header"]))
    if not re.fullmatch(r"keytransfer [0-9.]+", d["generator"]):
        fail("%s: generator %r" % (path, d["generator"]))
    return b64url(d["ciphertext"])

target_len = {}
keks, publics = {}, {}
n = 0
for line in open(cases):
    path, target, h, bits, kind, ident = line.split()
    bits = int(bits)
    md = hashes.SHA1() if h == "sha1" else hashes.SHA256()
    blob = byok_blob(path, kid) if target == "azure" else open(path, "rb").read()
    if bits not in keks:
        keks[bits] = serialization.load_pem_private_key(
            open("%s/kek%d.key" % (t, bits), "rb").read(), None)
    kek = keks[bits]
    mod = kek.key_size // 8
    if target == "awsdirect":  # RSAES_OAEP_SHA_256 of the AES key itself
        target = "aws"
        try:
            material = kek.decrypt(blob, padding.OAEP(mgf=padding.MGF1(md), algorithm=md, label=None))
        except Exception as exc:
            fail("%s: pyca cannot open it: %r" % (path, exc))
            continue
        if len(blob) != mod or material != open("%s/want-%s" % (t, ident), "rb").read():
            fail(path + ": not one OAEP block of the AES key")
        n += 1
        continue
    try:
        k = kek.decrypt(blob[:mod], padding.OAEP(mgf=padding.MGF1(md), algorithm=md, label=None))
        material = aes_key_unwrap_with_padding(k, blob[mod:])
    except Exception as exc:
        fail("%s: pyca cannot open it: %r" % (path, exc))
        continue
    if len(k) != 32:
        fail(path + ": K is not 32 bytes")
    if len(blob) != mod + 8 + 8 * math.ceil(len(material) / 8):
        fail("%s: %d bytes is not the %d-byte RSA part and the KWP part" % (path, len(blob), mod))
    target_len[ident.split("-")[0]] = len(material)
    want = open("%s/want-%s" % (t, ident), "rb").read()
    if kind.startswith("aes"):
        if material != want:
            fail(path + ": pyca gives another AES key")
    else:
        if material not in publics:  # one load per key: RSA-4096 checks are slow
            publics[material] = serialization.load_der_private_key(material, None).public_key() \
                .public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
        if publics[material] != want:
            fail(path + ": pyca gives a key whose public key is not keytransfer's")
    # The manifest beside it names this file and its SHA-256, this KEK and target.
    mpath = re.sub(r"(\.aws|\.gcp)?\.(byok|bin)$", r"\1.manifest.json", path)
    jws = json.load(open(mpath))
    m = json.loads(b64url(jws["payload"]))
    if m["package_file"] != path.rsplit("/", 1)[1] or \
       m["package_sha256"] != hashlib.sha256(open(path, "rb").read()).hexdigest():
        fail(mpath + ": does not name its package")
    if m["target"] != target or m["oaep_hash"] != {"sha1": "SHA-1", "sha256": "SHA-256"}[h]:
        fail(mpath + ": target or hash")
    if m["kek"]["attestation"] is not None or m["target_world_hash"] is not None:
        fail(mpath + ": an unattested KEK stated as attested")
    n += 1

# The attested .byok files: the exact shape, the cloud's kid, and an RSA part of exactly the
# cloud KEK's modulus length (the key material is as long as in the unattested twin).
for bits, region in ((2048, "NA"), (3072, "EU"), (4096, "AP")):
    jws = json.load(open("%s/cloud%d/BYOK-KEK-pkg-%s-1" % (t, bits, region)))
    p = json.loads(b64url(jws["payload"]))
    for kind in "rsa2048 rsa3072 rsa4096 p256 p384 p521 k1 aes128 aes192 aes256".split():
        path = "%s/pkg/TransferPackage-%s-a%d.byok" % (t, kind, bits)
        blob = byok_blob(path, p["kid"])
        want = bits // 8 + 8 + 8 * math.ceil(target_len[kind] / 8)
        if len(blob) != want:
            fail("%s: %d bytes, expected %d" % (path, len(blob), want))
        mpath = path[:-5] + ".manifest.json"
        m = json.loads(b64url(json.load(open(mpath))["payload"]))
        if m["kek"]["attestation"] != {"root": "DEMO", "root_sha256": DEMO_ROOT} or \
           m["schema"] != "keytransfer-manifest/2" or m["kek"]["kid"] != p["kid"] or \
           m["kek"]["sha256"] != p["public_key_sha256"] or \
           m["target_world_hash"] != p["world_hash"] or m["subscription"] != "sub-0001":
            fail(mpath + ": KEK, world or subscription")
        n += 1
print("pyca checked %d packages, %d failures" % (n, bad))
sys.exit(1 if bad else 0)
EOF
status=$?
grep -q "pyca checked 101 packages, 0 failures" "$t/pyca.out" && [ $status = 0 ] && ok ||
    fail "python3-cryptography: $(cat "$t/pyca.out")"
echo "pyca: $((SECONDS - start)) s"

# --- --json ------------------------------------------------------------------------------------
"$KT" package --ident rsa2048-u2048 --kek-pem "$t/kek2048.pub" --accept-unattested-kek \
    "$kekfp2048" --kid "$kid" --target aws --name json-test --out "$t/pkg" --json >"$t/pkg.json" ||
    fail "package --json"
[ "$(json "$t/pkg.json" 'd["result"], d["format"], d["target"], d["oaep_hash"]')" = \
    "SUCCESS keytransfer-package/1 aws SHA-256" ] && ok || fail "package --json"
[ "$(json "$t/pkg.json" 'd["rsa_part_bytes"]')" = 256 ] && ok || fail "--json rsa_part_bytes"
[ "$(json "$t/pkg.json" 'd["package_sha256"]')" = \
    "$(sha256sum "$t/pkg/TransferPackage-json-test.aws.bin" | cut -d' ' -f1)" ] && ok ||
    fail "--json package_sha256"

# --- refusals ------------------------------------------------------------------------------------
att2048=(-k "$kekpkg2048" -w "$worldpkg2048" --demo)
att3072=(-k "$kekpkg3072" -w "$worldpkg3072" --demo)
acc2048=(--kek-pem "$t/kek2048.pub" --accept-unattested-kek "$kekfp2048")
expect 0 "generate a key never reduced" "$KT" key generate --type EC --curve P-256 --ident never
mkdir -m 700 "$t/refused"
pkgs_before=$(ls "$t/refused" | wc -l)

expect 1 "package a key never reduced" "$KT" package --ident never "${att2048[@]}" \
    --subscription s --name never --out "$t/refused"
expect 4 "package a key that does not exist" "$KT" package --ident no-such-key "${att2048[@]}" \
    --subscription s --name never --out "$t/refused"
expect_err "modify-acls" "$KT" package --ident never "${att2048[@]}" --subscription s \
    --name never --out "$t/refused"
expect 0 "an xferacld key made directly" "$KT" key generate --type EC --curve P-256 \
    --ident unsigned --app xferacld
expect 1 "package an unsigned xferacld key" "$KT" package --ident unsigned "${att2048[@]}" \
    --subscription s --name unsigned --out "$t/refused"
expect_err "has not been reduced" "$KT" package --ident unsigned "${att2048[@]}" \
    --subscription s --name unsigned --out "$t/refused"
expect 1 "package for another cloud's KEK" "$KT" package --ident p256-a2048 "${att3072[@]}" \
    --subscription s --name other --out "$t/refused"
expect_err "may be exported only to KEK" "$KT" package --ident p256-a2048 "${att3072[@]}" \
    --subscription s --name other --out "$t/refused"
expect 1 "package for another of our KEKs" "$KT" package --ident p256-u2048 --kek-pem \
    "$t/kek3072.pub" --accept-unattested-kek "$kekfp3072" --kid "$kid" --subscription s \
    --name other --out "$t/refused"
# The same cloud KEK, unattested: the bindings differ (no world), both ways round.
expect 1 "attested reduction, unattested package" "$KT" package --ident p256-a2048 \
    --kek-pem "$t/cloudkek.pub" --accept-unattested-kek "$cloudfp" --kid "$(cat "$t/cloudkid")" \
    --subscription s --name swap --out "$t/refused"
expect_err "reduced for an attested KEK" "$KT" package --ident p256-a2048 --kek-pem \
    "$t/cloudkek.pub" --accept-unattested-kek "$cloudfp" --kid "$(cat "$t/cloudkid")" \
    --subscription s --name swap --out "$t/refused"
expect 0 "reduce for the cloud KEK, unattested" "$KT" modify-acls --ident never \
    --kek-pem "$t/cloudkek.pub" --accept-unattested-kek "$cloudfp" "${cards[@]}"
expect 1 "unattested reduction, attested package" "$KT" package --ident never "${att2048[@]}" \
    --subscription s --name swap --out "$t/refused"
expect_err "reduced for an unattested KEK" "$KT" package --ident never "${att2048[@]}" \
    --subscription s --name swap --out "$t/refused"
# Packages that fail verification.
expect 1 "mismatched KEK and world packages" "$KT" package --ident p256-a2048 \
    -k "$kekpkg2048" -w "$worldpkg3072" --demo --subscription s --name bad --out "$t/refused"
expect_err "do not verify" "$KT" package --ident p256-a2048 -k "$kekpkg2048" \
    -w "$worldpkg3072" --demo --subscription s --name bad --out "$t/refused"
cp "$kekpkg2048" "$t/kekpkg-flipped"
$PY - "$t/kekpkg-flipped" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["signature"]
d["signature"] = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
json.dump(d, open(sys.argv[1], "w"))
EOF
expect 1 "a KEK package with a damaged signature" "$KT" package --ident p256-a2048 \
    -k "$t/kekpkg-flipped" -w "$worldpkg2048" --demo --subscription s --name bad --out "$t/refused"
expect 4 "a missing KEK package" "$KT" package --ident p256-a2048 -k "$t/none" \
    -w "$worldpkg2048" --demo --subscription s --name bad --out "$t/refused"
# An unattested KEK without its fingerprint, or with another.
expect 1 "unattested KEK without --accept-unattested-kek" "$KT" package --ident p256-u2048 \
    --kek-pem "$t/kek2048.pub" --kid "$kid" --subscription s --name un --out "$t/refused"
expect_err "$kekfp2048" "$KT" package --ident p256-u2048 --kek-pem "$t/kek2048.pub" --kid "$kid" \
    --subscription s --name un --out "$t/refused"
expect 1 "unattested KEK with another fingerprint" "$KT" package --ident p256-u2048 \
    --kek-pem "$t/kek2048.pub" --accept-unattested-kek "$kekfp3072" --kid "$kid" \
    --subscription s --name un --out "$t/refused"
upper=$(tr 'a-f' 'A-F' <<<"$kekfp2048")
expect 0 "the fingerprint in upper case" "$KT" package --ident p256-u2048 --kek-pem \
    "$t/kek2048.pub" --accept-unattested-kek "$upper" --kid "$kid" --target aws --name upper \
    --out "$t/pkg"
# GCP has no 2048-bit import method.
expect 1 "gcp with a 2048-bit KEK" "$KT" package --ident p256-u2048 "${acc2048[@]}" \
    --target gcp --name gcp2048 --out "$t/refused"
expect_err "3072" "$KT" package --ident p256-u2048 "${acc2048[@]}" --target gcp --name gcp2048 \
    --out "$t/refused"
# An edited reduced key file: flip the first byte of its ACL signature field (tag 0x000C).
f="$local_dir/key_xferacld_p256-a2048"
cp -p "$f" "$t/saved-keyfile"
$PY - "$f" <<'EOF' || fail "cannot find the ACL signature field"
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
off = 10
while off < len(b):
    tag, n = struct.unpack(">HI", b[off:off + 6])
    if tag == 0x000C:
        assert n == 64
        b[off + 6] ^= 0x01
        open(sys.argv[1], "wb").write(b)
        sys.exit(0)
    off += 6 + n
sys.exit(1)
EOF
expect 1 "an edited ACL signature" "$KT" package --ident p256-a2048 "${att2048[@]}" \
    --subscription s --name edited --out "$t/refused"
expect_err "damaged or altered" "$KT" package --ident p256-a2048 "${att2048[@]}" \
    --subscription s --name edited --out "$t/refused"
cp -p "$t/saved-keyfile" "$f"
# Usage errors.
expect 2 "-k without -w" "$KT" package --ident p256-a2048 -k "$kekpkg2048" --subscription s \
    --name u --out "$t/refused"
expect 2 "-k with --kek-pem" "$KT" package --ident p256-a2048 "${att2048[@]}" \
    --kek-pem "$t/kek2048.pub" --subscription s --name u --out "$t/refused"
expect 2 "no KEK" "$KT" package --ident p256-a2048 --subscription s --name u --out "$t/refused"
expect 2 "azure, unattested, no --kid" "$KT" package --ident p256-u2048 "${acc2048[@]}" \
    --subscription s --name u --out "$t/refused"
expect 2 "azure with sha256" "$KT" package --ident p256-a2048 "${att2048[@]}" --subscription s \
    --oaep-hash sha256 --name u --out "$t/refused"
expect 2 "unknown target" "$KT" package --ident p256-u2048 "${acc2048[@]}" --target oci \
    --name u --out "$t/refused"
expect 2 "azure without --subscription" "$KT" package --ident p256-a2048 "${att2048[@]}" \
    --name u --out "$t/refused"
expect 2 "a bad --name" "$KT" package --ident p256-a2048 "${att2048[@]}" --subscription s \
    --name "../x" --out "$t/refused"
expect 2 "no --name" "$KT" package --ident p256-a2048 "${att2048[@]}" --subscription s \
    --out "$t/refused"
expect 2 "--kid with -k" "$KT" package --ident p256-a2048 "${att2048[@]}" --kid "$kid" \
    --subscription s --name u --out "$t/refused"
[ "$(ls "$t/refused" | wc -l)" = "$pkgs_before" ] && ok || fail "a refused package wrote files"
# An existing package is never replaced.
sum=$(sha256sum "$t/pkg/TransferPackage-p256-a2048.byok")
expect 4 "an existing package" "$KT" package --ident p256-a2048 "${att2048[@]}" \
    --subscription s --name p256-a2048 --out "$t/pkg"
[ "$(sha256sum "$t/pkg/TransferPackage-p256-a2048.byok")" = "$sum" ] && ok ||
    fail "an existing package changed"

# modify-acls refuses below the quorum, with a wrong PIN, for packages that do not verify, and
# for an unaccepted KEK - and writes nothing.
expect 0 "generate a key to reduce" "$KT" key generate --type AES --size 256 --ident todo
expect 1 "modify-acls with one card" "$KT" modify-acls --ident todo "${att2048[@]}" \
    --card "$c1" --pin-file "$t/quorum" --yes
expect_err "quorum not met" "$KT" modify-acls --ident todo "${att2048[@]}" --card "$c1" \
    --pin-file "$t/quorum" --yes
expect 1 "modify-acls with a wrong PIN" "$KT" modify-acls --ident todo "${att2048[@]}" \
    --card "$c1" --card "$c3" --pin-file "$t/wrong" --yes
expect 1 "modify-acls with the same card twice" "$KT" modify-acls --ident todo "${att2048[@]}" \
    --card "$c1" --card "$c1" --pin-file "$t/quorum" --yes
expect 1 "modify-acls with mismatched packages" "$KT" modify-acls --ident todo \
    -k "$kekpkg2048" -w "$worldpkg3072" --demo "${cards[@]}"
expect 1 "modify-acls, unattested, not accepted" "$KT" modify-acls --ident todo \
    --kek-pem "$t/kek2048.pub" "${cards[@]}"
expect_err "$kekfp2048" "$KT" modify-acls --ident todo --kek-pem "$t/kek2048.pub" "${cards[@]}"
expect 2 "modify-acls without cards" "$KT" modify-acls --ident todo "${att2048[@]}"
# The fingerprint of an unattested KEK can be read before the card holders are called in.
expect 1 "modify-acls, unattested, no cards yet" "$KT" modify-acls --ident todo \
    --kek-pem "$t/kek2048.pub"
expect_err "$kekfp2048" "$KT" modify-acls --ident todo --kek-pem "$t/kek2048.pub"
expect 2 "modify-acls without --ident" "$KT" modify-acls "${att2048[@]}" "${cards[@]}"
no_file "refused modify-acls" "$local_dir/key_xferacld_todo"
expect 4 "modify-acls twice" "$KT" modify-acls --ident p256-a2048 "${att2048[@]}" "${cards[@]}"
expect 0 "modify-acls --json" "$KT" modify-acls --ident todo "${att2048[@]}" "${cards[@]}" --json
[ -f "$local_dir/key_xferacld_todo" ] && ok || fail "modify-acls did not write the copy"

# --- no plaintext key in any file written -----------------------------------------------------
# Every file under kmdata and the output folders, scanned for every 16-byte run of each imported
# key's PKCS#8 DER (raw bytes for AES) that is not part of its public key.
for kind in $kinds; do
    case $kind in
    aes*) cp "$t/$kind.key" "$t/secret-$kind" ; : >"$t/public-$kind" ;;
    *)
        openssl pkcs8 -topk8 -nocrypt -in "$t/$kind.key" -outform DER -out "$t/secret-$kind"
        openssl pkey -in "$t/$kind.key" -pubout -outform DER -out "$t/public-$kind"
        ;;
    esac
done
$PY - "$t" $kinds <<'EOF' >"$t/scan.out" 2>&1
import os, sys
t, kinds = sys.argv[1], sys.argv[2:]
runs = {}
for kind in kinds:
    secret = open("%s/secret-%s" % (t, kind), "rb").read()
    public = open("%s/public-%s" % (t, kind), "rb").read()
    for i in range(len(secret) - 15):
        run = secret[i:i + 16]
        if run not in public:
            runs[run] = (kind, i)
files = []
for top in ("kmdata", "pkg", "refused"):
    for root, _, names in os.walk(os.path.join(t, top)):
        files += [os.path.join(root, n) for n in names]
bad = 0
for path in files:
    data = open(path, "rb").read()
    for i in range(len(data) - 15):
        hit = runs.get(data[i:i + 16])
        if hit:
            print("FAIL: bytes %d.. of the %s key's DER in %s" % (hit[1], hit[0], path))
            bad += 1
            break
print("scanned %d files for %d secret runs" % (len(files), len(runs)))
sys.exit(1 if bad or len(files) < 300 or len(runs) < 4000 else 0)
EOF
[ $? = 0 ] && ok || fail "plaintext scan: $(cat "$t/scan.out")"
echo "scan: $(tail -n 1 "$t/scan.out")"

# --- help and man page agree ------------------------------------------------------------------
man="$KT_SRC/docs/man/keytransfer.1"
for cmd in modify-acls package; do
    "$KT" $cmd --help >"$t/help" || fail "$cmd --help"
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
        grep -qF -e "$opt" -e "${opt//-/\\-}" "$man" || fail "$cmd: $opt is in --help but not in $man"
    done
done
expect_out "modify-acls" "$KT" --help
expect_out "package" "$KT" --help

echo "total: $((SECONDS - start)) s"
finish
