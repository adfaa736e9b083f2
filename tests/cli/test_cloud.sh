#!/usr/bin/env bash
# test_cloud.sh - the cloud side through `keytransfer-cloud` and `keytransfer toolset extract`,
# cross-checked by programs that are not ours: `openssl verify` accepts each package's x5c chain,
# python3-cryptography verifies the JWS signatures, `unzip -t` and `sha256sum` accept the toolset
# zip and its published hash, and a .byok made with nothing but the `openssl` command is imported
# with the public key fingerprint `openssl` computes. Crafted zips and damaged .byok files are
# refused.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3

t=$(mktemp -d /tmp/kt-cli-cloud.XXXXXX)
trap 'rm -rf "$t"' EXIT

# --- init ----------------------------------------------------------------------------------------
expect 2 "unknown region" "$CLOUD" init --region MARS --out "$t/x" --state "$t/xs"
expect_err "regions: NA, EU" "$CLOUD" init --region MARS --out "$t/x" --state "$t/xs"
expect 2 "bad KEK size" "$CLOUD" init --region NA --kek-size 1024 --out "$t/x" --state "$t/xs"
expect 0 "init NA" "$CLOUD" init --region NA --out "$t/out" --state "$t/state" \
    --verify-script "$KT_SRC/run.sh"
expect 4 "init again into the same state" "$CLOUD" init --region NA --out "$t/out2" \
    --state "$t/state"
for f in BYOK-KEK-pkg-NA-1 BYOK-SecurityWorld-pkg-NA-1 KeyTransfer-BYOK-Tools-NA.zip \
    published-hashes.txt; do
    [ -s "$t/out/$f" ] || fail "init did not write $f"
done
# Without --verify-script the zip carries this build's verifykeypackage.py, as its README says.
built_verifier="$(dirname "$CLOUD")/../verify/verifykeypackage.py"
expect 0 "init EU, the default verifier" "$CLOUD" init --region EU --out "$t/out-eu" \
    --state "$t/state-eu"
unzip -p "$t/out-eu/KeyTransfer-BYOK-Tools-EU.zip" verifykeypackage.py >"$t/shipped.py" &&
    cmp -s "$t/shipped.py" "$built_verifier" && ok ||
    fail "the zip's verifykeypackage.py is not the build's ($built_verifier)"
unzip -p "$t/out-eu/KeyTransfer-BYOK-Tools-EU.zip" README.txt | grep -q verifykeypackage.py && ok ||
    fail "the zip's README does not name the verifier"

# --- the packages, checked by openssl and pyca ---------------------------------------------------
cat >"$t/x5c.py" <<'EOF'
import base64, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

jws = json.load(open(sys.argv[1]))
header = json.loads(b64url(jws["protected"]))
assert header["alg"] == "ES384", header
certs = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
for i, c in enumerate(certs):
    open("%s.%d.pem" % (sys.argv[2], i), "wb").write(c.public_bytes(serialization.Encoding.PEM))
sig = b64url(jws["signature"])
assert len(sig) == 96, len(sig)
der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
signing_input = (jws["protected"] + "." + jws["payload"]).encode()
certs[0].public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA384()))
payload = json.loads(b64url(jws["payload"]))
print(len(certs), payload.get("region"))
EOF
for pkg in BYOK-KEK-pkg-NA-1 BYOK-SecurityWorld-pkg-NA-1; do
    out=$($PY "$t/x5c.py" "$t/out/$pkg" "$t/$pkg" 2>&1)
    [ "$out" = "3 NA" ] && ok || fail "pyca did not verify the JWS of $pkg: $out"
    if openssl verify -CAfile "$t/$pkg.2.pem" -untrusted "$t/$pkg.1.pem" "$t/$pkg.0.pem" \
        >/dev/null 2>&1; then ok; else fail "openssl verify refused the chain of $pkg"; fi
    # The chain ends at the DEMO root committed in packages/demo-vendor/.
    cmp -s <(openssl x509 -in "$t/$pkg.2.pem" -outform DER) \
        <(openssl x509 -in "$KT_SRC/packages/demo-vendor/root-cert.pem" -outform DER) &&
        ok || fail "$pkg does not chain to the DEMO root"
    # Without the intermediate the leaf is not trusted: the check above is not vacuous.
    if openssl verify -CAfile "$t/$pkg.2.pem" "$t/$pkg.0.pem" >/dev/null 2>&1; then
        fail "openssl verify accepted $pkg's leaf without its warrant"
    else ok; fi
done

# --- the toolset zip and the published hash ------------------------------------------------------
if unzip -t "$t/out/KeyTransfer-BYOK-Tools-NA.zip" >/dev/null 2>&1; then ok; else fail "unzip -t"; fi
want=$(awk '$2 == "KeyTransfer-BYOK-Tools-NA.zip" {print $3}' "$t/out/published-hashes.txt")
have=$(sha256sum "$t/out/KeyTransfer-BYOK-Tools-NA.zip" | cut -d' ' -f1)
[ -n "$want" ] && [ "$want" = "$have" ] && ok || fail "published hash $want != sha256sum $have"

expect 0 "toolset extract" "$KT" toolset extract "$t/out/KeyTransfer-BYOK-Tools-NA.zip" "$t/tools"
cmp -s "$t/tools/BYOK-KEK-pkg-NA-1" "$t/out/BYOK-KEK-pkg-NA-1" && ok || fail "extracted KEK pkg"
cmp -s "$t/tools/verifykeypackage.py" "$KT_SRC/run.sh" && ok || fail "extracted script"
expect 0 "extract the same zip again: an earlier run, nothing written" "$KT" toolset extract \
    "$t/out/KeyTransfer-BYOK-Tools-NA.zip" "$t/tools"
echo extra >"$t/tools/extra"
expect 4 "extract into a non-empty folder" "$KT" toolset extract \
    "$t/out/KeyTransfer-BYOK-Tools-NA.zip" "$t/tools"
rm "$t/tools/extra"

# --- crafted zips are refused, and nothing is written outside (or inside) DIR -------------------
cat >"$t/craft.py" <<'EOF'
import struct, sys, zipfile, zlib

kind, path = sys.argv[1], sys.argv[2]

def info(name, mode=0o100644):
    zi = zipfile.ZipInfo(name, (2025, 1, 1, 0, 0, 0))
    zi.external_attr = mode << 16
    zi.create_system = 3
    return zi

if kind == "huge":
    # A stored entry whose headers declare 2 GiB but hold 5 bytes.
    data, name = b"hello", b"huge.bin"
    crc = zlib.crc32(data)
    big = 2 * 1024 * 1024 * 1024
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x5A21, crc, big, big,
                        len(name), 0) + name + data
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 0, 0, 0x5A21, crc,
                          big, big, len(name), 0, 0, 0, 0, 0o100644 << 16, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
    open(path, "wb").write(local + central + end)
    sys.exit(0)

with zipfile.ZipFile(path, "w") as z:
    if kind == "dotdot":
        z.writestr(info("ok.txt"), b"fine")
        z.writestr(info("../escaped.txt"), b"escaped")
    elif kind == "absolute":
        z.writestr(info("/tmp/kt-absolute-escape.txt"), b"escaped")
    elif kind == "symlink":
        z.writestr(info("link", 0o120777), b"/etc/passwd")
    elif kind == "many":
        for i in range(100000):
            z.writestr(info("f%06d" % i), b"")
    elif kind == "duplicate":
        import warnings
        warnings.simplefilter("ignore")
        z.writestr(info("same.txt"), b"one")
        z.writestr(info("same.txt"), b"two")
EOF
for kind in dotdot absolute symlink huge many duplicate; do
    $PY "$t/craft.py" "$kind" "$t/$kind.zip" || fail "could not craft $kind.zip"
    expect 3 "crafted zip: $kind" "$KT" toolset extract "$t/$kind.zip" "$t/x-$kind"
    [ -z "$(ls -A "$t/x-$kind" 2>/dev/null)" ] && ok || fail "$kind.zip left files in DIR"
done
[ ! -e "$t/escaped.txt" ] && [ ! -e /tmp/kt-absolute-escape.txt ] && ok ||
    fail "a crafted zip wrote outside DIR"
expect_err "symlink" "$KT" toolset extract "$t/symlink.zip" "$t/x-symlink2"
expect_err ".." "$KT" toolset extract "$t/dotdot.zip" "$t/x-dotdot2"

# --- a .byok made by the openssl command alone is imported ---------------------------------------
kek_pem="$t/kek.pem"
$PY - "$t/out/BYOK-KEK-pkg-NA-1" "$kek_pem" "$t/kid" <<'EOF' || fail "cannot read the KEK"
import base64, json, sys
jws = json.load(open(sys.argv[1]))
p = json.loads(base64.urlsafe_b64decode(jws["payload"] + "=" * (-len(jws["payload"]) % 4)))
der = base64.urlsafe_b64decode(p["public_key"] + "=" * (-len(p["public_key"]) % 4))
pem = b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END PUBLIC KEY-----\n"
open(sys.argv[2], "wb").write(pem)
open(sys.argv[3], "w").write(p["kid"])
EOF
kid=$(cat "$t/kid")

# make_byok TARGET_FILE OUT.byok [KID]: CKM_RSA_AES_KEY_WRAP with openssl only.
make_byok() {
    local target=$1 out=$2 k=${3:-$kid} dir
    dir=$(mktemp -d "$t/wrap.XXXXXX")
    openssl rand 32 >"$dir/K"
    openssl pkeyutl -encrypt -pubin -inkey "$kek_pem" -in "$dir/K" -out "$dir/rsa" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 ||
        return 1
    openssl enc -id-aes256-wrap-pad -iv A65959A6 -K "$(od -An -tx1 "$dir/K" | tr -d ' \n')" \
        -in "$target" -out "$dir/kwp" || return 1
    local ct
    ct=$(cat "$dir/rsa" "$dir/kwp" | openssl base64 -A | tr '+/' '-_' | tr -d '=')
    printf '{"schema_version":"1.0.0","header":{"kid":"%s","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"%s","generator":"openssl test script"}' \
        "$k" "$ct" >"$out"
}

import_fp() { # NAME FILE -> the fingerprint keytransfer-cloud reports
    "$CLOUD" import "$2" --state "$t/state" --name "$1" --json 2>"$t/import.err" |
        $PY -c 'import json,sys; d=json.load(sys.stdin); print(d.get("public_key_sha256") or d.get("key_hash_sha256"))'
}

# PKCS#8 PrivateKeyInfo DER, as the .byok carries it.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -outform DER -out "$t/rsa.der"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -outform DER -out "$t/ec.der"
openssl rand 32 >"$t/aes.bin"
for kind in rsa ec; do
    make_byok "$t/$kind.der" "$t/$kind.byok" || fail "openssl could not wrap $kind"
    want=$(openssl pkey -inform DER -in "$t/$kind.der" -pubout -outform DER | sha256sum | cut -d' ' -f1)
    have=$(import_fp "openssl-$kind" "$t/$kind.byok")
    [ "$have" = "$want" ] && ok || fail "$kind: imported fingerprint '$have' != openssl's $want: $(cat "$t/import.err")"
done
make_byok "$t/aes.bin" "$t/aes.byok" || fail "openssl could not wrap aes"
want=$($PY -c 'import hashlib,sys; print(hashlib.sha256(b"keytransfer aes key hash v1" + open(sys.argv[1],"rb").read()).hexdigest())' "$t/aes.bin")
have=$(import_fp openssl-aes "$t/aes.byok")
[ "$have" = "$want" ] && ok || fail "aes: imported key hash '$have' != $want: $(cat "$t/import.err")"
expect 4 "the same name twice" "$CLOUD" import "$t/rsa.byok" --state "$t/state" --name openssl-rsa

# --- refusals ------------------------------------------------------------------------------------
# (the EU cloud made above is a second cloud)
expect 1 "a .byok for another KEK" "$CLOUD" import "$t/rsa.byok" --state "$t/state-eu" --name other
expect_err "this cloud's KEK is" "$CLOUD" import "$t/rsa.byok" --state "$t/state-eu" --name other

$PY - "$t/rsa.byok" "$t" <<'EOF' || fail "cannot craft damaged .byok files"
import base64, json, sys
d = json.load(open(sys.argv[1]))
ct = base64.urlsafe_b64decode(d["ciphertext"] + "=" * (-len(d["ciphertext"]) % 4))
def write(name, blob):
    e = dict(d)
    e["ciphertext"] = base64.urlsafe_b64encode(blob).decode().rstrip("=")
    open(sys.argv[2] + "/" + name, "w").write(json.dumps(e))
write("truncated.byok", ct[:len(ct) - 9])
write("rsa-only.byok", ct[:256])
kwp = bytearray(ct)
kwp[300] ^= 0x01
write("badkwp.byok", bytes(kwp))
oaep = bytearray(ct)
oaep[10] ^= 0x01
write("badoaep.byok", bytes(oaep))
EOF
expect 3 "a truncated ciphertext" "$CLOUD" import "$t/truncated.byok" --state "$t/state" --name t1
expect 3 "only the RSA part" "$CLOUD" import "$t/rsa-only.byok" --state "$t/state" --name t2
expect 1 "a bad KWP integrity check" "$CLOUD" import "$t/badkwp.byok" --state "$t/state" --name t3
expect_err "integrity" "$CLOUD" import "$t/badkwp.byok" --state "$t/state" --name t3
expect 1 "a damaged RSA part" "$CLOUD" import "$t/badoaep.byok" --state "$t/state" --name t4
printf 'this is not JSON\n' >"$t/text.byok"
expect 3 "a non-JSON file" "$CLOUD" import "$t/text.byok" --state "$t/state" --name t5
expect 2 "a bad key name" "$CLOUD" import "$t/rsa.byok" --state "$t/state" --name 'no/slash'
[ -z "$(find "$t/state/kmdata/local" -maxdepth 1 -name 'key_imported_t[0-9]*')" ] && ok ||
    fail "a refused import stored a key"

# --- help and man page agree ---------------------------------------------------------------------
man="$KT_SRC/docs/man/keytransfer-cloud.1"
for cmd in init import; do
    "$CLOUD" $cmd --help >"$t/help" || fail "$cmd --help"
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
        grep -qF -e "$opt" -e "${opt//-/\\-}" "$man" || fail "$cmd: $opt is not in $man"
    done
done
"$KT" toolset extract --help >"$t/help" || fail "toolset extract --help"
for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
    grep -qF -e "$opt" -e "${opt//-/\\-}" "$KT_SRC/docs/man/keytransfer.1" ||
        fail "toolset extract: $opt is not in keytransfer.1"
done

finish
