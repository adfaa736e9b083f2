#!/usr/bin/env bash
# test_verify.sh - `keytransfer verify` and verifykeypackage.py as a user runs them, on packages
# made here by a third party: the `openssl` command issues the module warrant and attestation
# certificates from the DEMO root and signs both payloads (ES384, r||s assembled from `openssl
# asn1parse`), so neither verifier checks only what our own signer writes. Both accept the
# genuine pair, print the checks, the root hash in vendor groups and the facts; both refuse the
# tampered, truncated, swapped and mismatched pairs, and packages signed by certificates openssl
# accepts but that are not for the attestation purpose (serverAuth, none, any), with the same
# check and exit status; usage
# and I/O errors have their statuses; every --option in --help is in the man pages. Both also
# verify the packages keytransfer-cloud makes.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY=/usr/bin/python3
if ! "$PY" -c 'import cryptography' 2>/dev/null; then
    echo "SKIP: $PY with python3-cryptography is not installed"
    exit 77
fi
for tool in openssl basenc xxd sha256sum; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
build=$(cd "$(dirname "$KT")/.." && pwd)
script="$build/verify/verifykeypackage.py"
[ -f "$script" ] || script="$KT_SRC/verify/verifykeypackage.py"
root_cert="$KT_SRC/packages/demo-vendor/root-cert.pem"
root_key="$KT_SRC/packages/demo-vendor/root-key.pem"

t=$(mktemp -d /tmp/kt-cli-verify.XXXXXX)
trap 'rm -rf "$t"' EXIT
json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
b64u() { basenc --base64url -w0 | tr -d '='; }
ESN=0123-4567-89AB
KID=https://keytransfer-demo-na.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef

# --- a vendor chain and a KEK, by openssl ----------------------------------------------------
cat >"$t/ext.cnf" <<'EOF'
[warrant]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
# The attestation purpose (docs/formats.md, "Certificate profile").
extendedKeyUsage = 2.25.77941870831353878035700664750549655760
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
# issue NAME SUBJECT CA_CERT CA_KEY SECTION
issue() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$t/$1.key" 2>/dev/null &&
        openssl req -new -key "$t/$1.key" -subj "$2" -out "$t/$1.csr" &&
        openssl x509 -req -in "$t/$1.csr" -CA "$3" -CAkey "$4" -set_serial "0x$(openssl rand -hex 15)" \
            -days 30 -sha384 -extfile "$t/ext.cnf" -extensions "$5" -out "$t/$1.pem" 2>/dev/null
}
issue warrant "/O=keytransfer demo HSM vendor/CN=keytransfer DEMO module warrant $ESN/serialNumber=$ESN" \
    "$root_cert" "$root_key" warrant || fail "openssl could not issue the warrant"
issue leaf "/CN=module $ESN attestation key/serialNumber=$ESN" "$t/warrant.pem" "$t/warrant.key" leaf ||
    fail "openssl could not issue the attestation certificate"
openssl verify -x509_strict -CAfile "$root_cert" -untrusted "$t/warrant.pem" "$t/leaf.pem" >/dev/null ||
    fail "openssl verify refuses the chain"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$t/kek.key" 2>/dev/null
openssl pkey -in "$t/kek.key" -pubout -outform DER -out "$t/kek.spki"
kek_pub=$(b64u <"$t/kek.spki")
kek_fp=$(sha256sum <"$t/kek.spki" | cut -c1-64)
world_hash=$(printf 'a cloud world' | sha256sum | cut -c1-64)
# x5c_of LEAF: the x5c members for attestation certificate LEAF, the warrant and the root.
x5c_of() {
    local c x5c=""
    for c in "$1" warrant; do
        x5c="$x5c\"$(openssl x509 -in "$t/$c.pem" -outform DER | base64 -w0)\","
    done
    printf '%s' "$x5c\"$(openssl x509 -in "$root_cert" -outform DER | base64 -w0)\""
}

# sign PAYLOAD_FILE OUT [LEAF]: a JWS, flattened JSON, ES384 by the attestation key (RFC 7515
# §5.1) of LEAF (the genuine leaf when not given).
sign() {
    local prot pl input r s leaf=${3:-leaf}
    prot=$(printf '{"alg":"ES384","typ":"JOSE+JSON","x5c":[%s]}' "$(x5c_of "$leaf")" | b64u)
    pl=$(b64u <"$1")
    input="$prot.$pl"
    printf '%s' "$input" | openssl dgst -sha384 -sign "$t/$leaf.key" -out "$t/sig.der"
    # RFC 7518 §3.4: r and s as 48-byte big-endian integers, concatenated.
    mapfile -t rs < <(openssl asn1parse -inform DER -in "$t/sig.der" | sed -n 's/.*INTEGER *://p')
    r=$(printf '%96s' "${rs[0]}" | tr ' ' 0)
    s=$(printf '%96s' "${rs[1]}" | tr ' ' 0)
    printf '{"payload":"%s","protected":"%s","signature":"%s"}\n' "$pl" "$prot" \
        "$(printf '%s%s' "$r" "$s" | xxd -r -p | b64u)" >"$2"
}
# kek_payload REGION EXPORTABLE > FILE
kek_payload() {
    printf '{"created":"2026-01-01T00:00:00Z","exportable":%s,"key_ops":["import"],"key_size":2048,"kid":"%s","kty":"RSA-HSM","module_esn":"%s","public_key":"%s","public_key_sha256":"%s","region":"%s","schema":"keytransfer-kek/1","world_hash":"%s"}' \
        "$2" "$KID" "$ESN" "$kek_pub" "$kek_fp" "$1" "$world_hash"
}
world_payload() {
    printf '{"cipher_suite":"KTv1-Ed25519-XChaCha20Poly1305-Argon2id","created":"2026-01-01T00:00:00Z","module_esns":["%s"],"region":"%s","schema":"keytransfer-world/1","world_hash":"%s"}' \
        "$ESN" "$1" "$world_hash"
}
kek_payload NA false >"$t/kek.json"
world_payload NA >"$t/world.json"
sign "$t/kek.json" "$t/kek.jws"
sign "$t/world.json" "$t/world.jws"

# --- the genuine pair ------------------------------------------------------------------------
expect 0 "keytransfer verify accepts the genuine packages" "$KT" verify -k "$t/kek.jws" -w "$t/world.jws"
expect 0 "verifykeypackage.py accepts the genuine packages" "$PY" "$script" -k "$t/kek.jws" -w "$t/world.jws"
"$KT" verify -k "$t/kek.jws" -w "$t/world.jws" >"$t/c.out" 2>"$t/c.err"
"$PY" "$script" -k "$t/kek.jws" -w "$t/world.jws" >"$t/py.out" 2>"$t/py.err"
groups="151C67AF EC1B75AF 01C18DFB BF379286 CB890CF9 B58999A6 CC546EBF 8991585A"
for out in c py; do
    grep -qx "Result: SUCCESS" "$t/$out.out" || fail "$out: no 'Result: SUCCESS'"
    grep -qF "    $groups" "$t/$out.out" || fail "$out: the root hash is not printed in groups"
    grep -qF "DEMO root" "$t/$out.out" || fail "$out: the report does not say the root is the DEMO root"
    grep -qF "WARNING" "$t/$out.err" || fail "$out: no warning on stderr about the DEMO root"
    grep -qF "$KID" "$t/$out.out" || fail "$out: the kid is not printed"
    grep -qF "RSA-HSM, 2048 bits" "$t/$out.out" || fail "$out: the KEK size is not printed"
    grep -qF "$kek_fp" "$t/$out.out" || fail "$out: the KEK fingerprint is not printed"
    grep -qF "$world_hash" "$t/$out.out" || fail "$out: the world hash is not printed"
    grep -qE "region +NA" "$t/$out.out" || fail "$out: the region is not printed"
    [ "$(grep -cE '^    pass ' "$t/$out.out")" = 17 ] || fail "$out: not 17 checks passed"
done
diff <(grep -E '^    (pass|FAIL|not run) ' "$t/c.out" | awk '{print $1, $2}') \
    <(grep -E '^    (pass|FAIL|not run) ' "$t/py.out" | awk '{print $1, $2}') >/dev/null ||
    fail "the two verifiers list different checks"

"$KT" verify -k "$t/kek.jws" -w "$t/world.jws" --json >"$t/c.json" 2>/dev/null || fail "verify --json"
"$PY" "$script" -k "$t/kek.jws" -w "$t/world.jws" --json >"$t/py.json" 2>/dev/null || fail "py --json"
for f in c py; do
    [ "$(json "$t/$f.json" 'd["result"], d["exit_status"], d["failed_check"]')" = "SUCCESS 0 None" ] ||
        fail "$f --json: result"
    [ "$(json "$t/$f.json" 'd["kek"]["public_key_sha256"]')" = "$kek_fp" ] || fail "$f --json: fingerprint"
    [ "$(json "$t/$f.json" 'd["root"]["sha256_groups"]')" = "$groups" ] || fail "$f --json: root groups"
    [ "$(json "$t/$f.json" 'd["root"]["demo"]')" = True ] || fail "$f --json: demo flag"
done
for field in 'd["kek"]' 'd["world"]' 'd["root"]' '[(c["name"], c["result"]) for c in d["checks"]]'; do
    [ "$(json "$t/c.json" "$field")" = "$(json "$t/py.json" "$field")" ] ||
        fail "--json: $field differs between the verifiers"
done

# --- refusals: both verifiers, the same check and status -------------------------------------
# both STATUS CHECK KEK WORLD: each verifier exits STATUS and names CHECK in its Result line.
both() {
    local want=$1 check=$2 kek=$3 world=$4 out status
    for v in c py; do
        if [ "$v" = c ]; then
            out=$("$KT" verify -k "$kek" -w "$world" 2>/dev/null)
        else
            out=$("$PY" "$script" -k "$kek" -w "$world" 2>/dev/null)
        fi
        status=$?
        [ "$status" -eq "$want" ] || { fail "$v on $check: exit $status, expected $want"; continue; }
        if grep -q "^Result: FAILURE: $check: " <<<"$out"; then ok; else
            fail "$v on $check: $(grep '^Result' <<<"$out")"
        fi
    done
}
"$PY" - "$t/kek.jws" "$t/tampered.jws" <<'EOF'
import sys
s = open(sys.argv[1]).read()
i = s.index('"payload":"') + 20
s = s[:i] + ("B" if s[i] != "B" else "C") + s[i + 1:]
open(sys.argv[2], "w").write(s)
EOF
both 1 signature "$t/tampered.jws" "$t/world.jws"
head -c 1000 "$t/kek.jws" >"$t/truncated.jws"
both 3 format "$t/truncated.jws" "$t/world.jws"
both 3 kek-payload "$t/world.jws" "$t/kek.jws"
kek_payload NA true >"$t/kek-exp.json"
sign "$t/kek-exp.json" "$t/kek-exp.jws"
both 1 exportable "$t/kek-exp.jws" "$t/world.jws"
world_payload EU >"$t/world-eu.json"
sign "$t/world-eu.json" "$t/world-eu.jws"
both 1 region "$t/kek.jws" "$t/world-eu.jws"
sed 's/keytransfer-kek\/1/keytransfer-kek\/7/' "$t/kek.json" >"$t/kek-v7.json"
sign "$t/kek-v7.json" "$t/kek-v7.jws"
both 3 kek-payload "$t/kek-v7.jws" "$t/world.jws"
# Attestation certificates openssl itself accepts under the warrant, but not for the attestation
# purpose alone: a TLS server certificate, one with no purpose, one for any purpose.
cat >>"$t/ext.cnf" <<'EOF'
[tls]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[nopurpose]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
[anypurpose]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = anyExtendedKeyUsage
EOF
for kind in tls nopurpose anypurpose; do
    issue "leaf-$kind" "/CN=module $ESN attestation key/serialNumber=$ESN" "$t/warrant.pem" \
        "$t/warrant.key" "$kind" || fail "openssl could not issue the $kind certificate"
    openssl verify -x509_strict -CAfile "$root_cert" -untrusted "$t/warrant.pem" \
        "$t/leaf-$kind.pem" >/dev/null || fail "openssl verify refuses the $kind chain"
    sign "$t/kek.json" "$t/kek-$kind.jws" "leaf-$kind"
    both 1 chain "$t/kek-$kind.jws" "$t/world.jws"
    sign "$t/world.json" "$t/world-$kind.jws" "leaf-$kind"
    both 1 world-chain "$t/kek.jws" "$t/world-$kind.jws"
done

# --- usage and I/O ---------------------------------------------------------------------------
expect 2 "verify without -w" "$KT" verify -k "$t/kek.jws"
expect 2 "verify with an unknown option" "$KT" verify -k "$t/kek.jws" -w "$t/world.jws" --fast
expect 2 "verify with an extra argument" "$KT" verify -k "$t/kek.jws" -w "$t/world.jws" extra
expect 2 "verify with -k twice" "$KT" verify -k "$t/kek.jws" -k "$t/kek.jws" -w "$t/world.jws"
expect 2 "py without -w" "$PY" "$script" -k "$t/kek.jws"
expect 4 "verify with a missing file" "$KT" verify -k "$t/nope" -w "$t/world.jws"
expect 4 "py with a missing file" "$PY" "$script" -k "$t/nope" -w "$t/world.jws"
expect 4 "verify of a folder" "$KT" verify -k "$t/kek.jws" -w "$t"
expect 4 "py of a folder" "$PY" "$script" -k "$t/kek.jws" -w "$t"
expect_err "$t/nope" "$KT" verify -k "$t/nope" -w "$t/world.jws"
ln -s "$t/kek.jws" "$t/link.jws"
expect 4 "verify does not follow a link" "$KT" verify -k "$t/link.jws" -w "$t/world.jws"
expect 4 "py does not follow a link" "$PY" "$script" -k "$t/link.jws" -w "$t/world.jws"
expect 0 "verify --help" "$KT" verify --help
expect_out "Usage: keytransfer verify" "$KT" verify --help
expect_out "verify +check a KEK package" "$KT" --help

# --- batch mode ------------------------------------------------------------------------------
printf '%s\t%s\n%s\t%s\n' "$t/kek.jws" "$t/world.jws" "$t/kek-exp.jws" "$t/world.jws" >"$t/list"
"$PY" "$script" --batch "$t/list" >"$t/batch.out" 2>/dev/null
[ $? -eq 1 ] || fail "--batch exits with the highest status of its pairs"
[ "$(wc -l <"$t/batch.out")" = 2 ] || fail "--batch prints one line per pair"
[ "$(head -1 "$t/batch.out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["result"])')" = SUCCESS ] ||
    fail "--batch: first pair"
[ "$(tail -1 "$t/batch.out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["failed_check"])')" = exportable ] ||
    fail "--batch: second pair"

# --- help and man pages agree ----------------------------------------------------------------
"$KT" verify --help >"$t/help" || fail "verify --help"
for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/help" | sort -u); do
    grep -qF -e "$opt" -e "${opt//-/\\-}" "$KT_SRC/docs/man/keytransfer.1" ||
        fail "verify: $opt is in --help but not in keytransfer.1"
done
"$PY" "$script" --help >"$t/pyhelp" || fail "verifykeypackage.py --help"
for opt in $(grep -oE -- '--[a-z][a-z-]+' "$t/pyhelp" | sort -u); do
    grep -qF -e "$opt" -e "${opt//-/\\-}" "$KT_SRC/docs/man/verifykeypackage.1" ||
        fail "verifykeypackage.py: $opt is in --help but not in verifykeypackage.1"
done

# --- the packages keytransfer-cloud makes, when it is built ----------------------------------
cloud="$build/kek/keytransfer-cloud"
if [ -x "$cloud" ]; then
    if "$cloud" init --region NA --out "$t/cloud" --state "$t/state" >"$t/cloud.log" 2>&1; then
        expect 0 "keytransfer verify accepts keytransfer-cloud's packages" "$KT" verify \
            -k "$t/cloud/BYOK-KEK-pkg-NA-1" -w "$t/cloud/BYOK-SecurityWorld-pkg-NA-1"
        expect 0 "verifykeypackage.py accepts keytransfer-cloud's packages" "$PY" "$script" \
            -k "$t/cloud/BYOK-KEK-pkg-NA-1" -w "$t/cloud/BYOK-SecurityWorld-pkg-NA-1"
        both 3 kek-payload "$t/cloud/BYOK-SecurityWorld-pkg-NA-1" "$t/cloud/BYOK-KEK-pkg-NA-1"
    else
        fail "keytransfer-cloud init failed: $(cat "$t/cloud.log")"
    fi
else
    fail "$cloud is not built, so its packages were not verified"
fi

finish
