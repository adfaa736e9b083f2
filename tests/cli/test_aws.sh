#!/usr/bin/env bash
# test_aws.sh - the whole AWS KMS import with the real `aws` CLI (Debian's awscli) against the
# emulated AWS KMS of `keytransfer-cloud serve` on loopback, as an AWS user runs it:
#   aws kms create-key --origin EXTERNAL, aws kms get-parameters-for-import (RSA_2048, RSA_3072
#   and RSA_4096 wrapping keys) > params.json; keytransfer modify-acls and package with
#   --aws-params params.json; the `aws kms import-key-material` line package printed, run as
#   printed; then get-public-key equal to the source key (RSA 2048, EC P-256), and for AES-256
#   the emulated HSM holding the same key (its key hash, over the bytes).
# Refusals: parameters past ParametersValidTo (keytransfer, exit 1, with the time), a wrong
# import token (the emulated KMS: InvalidImportTokenException). Re-reduction: a second wrapping
# key for the same key is refused until the quorum reduces the key for it too, after which both
# records package and `key show` lists both; a third, unreduced KEK is refused.
# The aws CLI starts in about a second: it is run 14 times in all.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name the keytransfer-cloud program}
AWS=${KT_AWS:-/usr/bin/aws}
PY=python3
[ -x "$AWS" ] || { echo "SKIP: $AWS (Debian's awscli) is not installed"; exit 77; }
command -v "$PY" >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }

t=$(mktemp -d /tmp/kt-cli-aws.XXXXXX)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    rm -rf "$t"
}
trap cleanup EXIT
start=$SECONDS

# The aws CLI sees only what this test gives it: no profile, no network but the emulator.
mkdir "$t/home"
export HOME="$t/home" AWS_CONFIG_FILE="$t/home/config" AWS_SHARED_CREDENTIALS_FILE="$t/home/creds"
export AWS_ACCESS_KEY_ID=AKIAKEYTRANSFERTEST AWS_SECRET_ACCESS_KEY=keytransfer-test-secret-key
export AWS_DEFAULT_REGION=eu-west-1 AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
export KEYTRANSFER_KMDATA="$t/kmdata"

# --- the world, three keys, the cloud and its KMS ------------------------------------------
printf 'aws-pin-card-1\naws-pin-card-2\naws-pin-card-3\n' >"$t/pins"
printf 'aws-pin-card-1\naws-pin-card-3\n' >"$t/quorum"
"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins" >/dev/null 2>"$t/err" ||
    fail "world new: $(cat "$t/err")"
cards=(--card "$t"/kmdata/cards/card_*_1 --card "$t"/kmdata/cards/card_*_3 --pin-file "$t/quorum")
openssl rand -out "$t/aes.key" 32
"$KT" key generate --type RSA --size 2048 --ident rsa >/dev/null 2>"$t/err" || fail "rsa: $(cat "$t/err")"
"$KT" key generate --type EC --curve P-256 --ident ec >/dev/null 2>"$t/err" || fail "ec: $(cat "$t/err")"
"$KT" key import --type AES --from "$t/aes.key" --ident aes >/dev/null 2>"$t/err" ||
    fail "aes: $(cat "$t/err")"
"$CLOUD" init --region EU --out "$t/dl" --state "$t/cloud" >/dev/null 2>"$t/err" ||
    fail "cloud init: $(cat "$t/err")"
printf 'aws-test-bearer-token-0123456789\n' >"$t/token"
"$CLOUD" serve --state "$t/cloud" --listen 127.0.0.1:0 --token-file "$t/token" \
    >"$t/srv.out" 2>"$t/srv.log" &
srv_pid=$!
url=
for _ in $(seq 200); do
    url=$(awk '$1 == "url" { print $2 }' "$t/srv.out")
    [ -n "$url" ] && break
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$url" ] || { fail "serve did not start: $(cat "$t/srv.log")"; finish; exit 1; }
kms=("$AWS" --endpoint-url "$url" --output json kms)
echo "setup: $((SECONDS - start)) s"

# json FILE EXPR: a value from a JSON file (d is the document).
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
# The SHA-256 of the wrapping key a parameters file holds: what the custodian compares.
params_fp() {
    "$PY" -c 'import base64,hashlib,json,sys
print(hashlib.sha256(base64.b64decode(json.load(open(sys.argv[1]))["PublicKey"])).hexdigest())' "$1"
}

# flow NAME KEYSPEC USAGE ALGORITHM WRAPSPEC: create-key and get-parameters-for-import, then
# modify-acls and package from the parameters as the CLI printed them. Leaves $t/NAME.*.
flow() {
    local id=$1 spec=$2 usage=$3 alg=$4 wspec=$5 fp
    "${kms[@]}" create-key --origin EXTERNAL --key-spec "$spec" --key-usage "$usage" \
        --description "keytransfer test $id" >"$t/$id.key.json" 2>"$t/err" ||
        fail "create-key $id: $(cat "$t/err")"
    json "$t/$id.key.json" 'd["KeyMetadata"]["KeyState"] + " " + d["KeyMetadata"]["Origin"]' |
        grep -qx "PendingImport EXTERNAL" && ok || fail "create-key $id: $(cat "$t/$id.key.json")"
    keyid=$(json "$t/$id.key.json" 'd["KeyMetadata"]["KeyId"]')
    "${kms[@]}" get-parameters-for-import --key-id "$keyid" --wrapping-algorithm "$alg" \
        --wrapping-key-spec "$wspec" >"$t/$id.params.json" 2>"$t/err" ||
        fail "get-parameters-for-import $id: $(cat "$t/err")"
    fp=$(params_fp "$t/$id.params.json")
    # Unaccepted, the fingerprint is shown and nothing is done.
    expect_err "$fp" "$KT" modify-acls --ident "$id" --aws-params "$t/$id.params.json" \
        "${cards[@]}" --yes
    "$KT" modify-acls --ident "$id" --aws-params "$t/$id.params.json" \
        --accept-unattested-kek "$fp" "${cards[@]}" --yes >/dev/null 2>"$t/err" ||
        fail "modify-acls $id: $(cat "$t/err")"
    mkdir -p "$t/out"
    "$KT" package --ident "$id" --aws-params "$t/$id.params.json" --accept-unattested-kek "$fp" \
        --wrapping-algorithm "$alg" --name "$id" --out "$t/out" >"$t/$id.pkg.txt" 2>"$t/err" ||
        fail "package $id: $(cat "$t/err")"
    grep -q "Result: SUCCESS" "$t/$id.pkg.txt" && grep -qF "AWS KMS $alg" "$t/$id.pkg.txt" &&
        grep -q "not attested by any HSM vendor" "$t/$id.pkg.txt" && ok ||
        fail "package $id says: $(cat "$t/$id.pkg.txt")"
    # The manifest names both files, the algorithm and the KeyId.
    "$PY" - "$t/out/TransferPackage-$id.aws.manifest.json" "$alg" \
        "$(json "$t/$id.params.json" 'd["KeyId"]')" <<'EOF' && ok || fail "manifest of $id"
import base64, hashlib, json, os, sys
path, alg, keyid = sys.argv[1:]
p = json.load(open(path))["payload"]
m = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
d = os.path.dirname(path)
imp = m["import"]
assert imp["wrapping_algorithm"] == alg and imp["for"] == keyid, imp
assert m["package_file"].endswith(".aws.bin") and imp["token_file"].endswith(".aws.token.bin")
for f, h in ((m["package_file"], m["package_sha256"]), (imp["token_file"], imp["token_sha256"])):
    assert hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest() == h, f
EOF
}

# import NAME: the aws command line that package printed, run as printed (aws = the emulator's).
import() {
    local line
    line=$(grep -A1 '^Import it with:' "$t/$1.pkg.txt" | tail -n 1 | sed 's/^ *//')
    case $line in
    "aws kms import-key-material --key-id arn:aws:kms:"*"--encrypted-key-material fileb://"*"--import-token fileb://"*"--expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE") ok ;;
    *) fail "package $1 printed no import line: $line" ;;
    esac
    eval "\"\$AWS\" --endpoint-url \"\$url\" ${line#aws }" >/dev/null 2>"$t/err"
}

# public NAME: get-public-key equals the source key's SubjectPublicKeyInfo.
public() {
    "${kms[@]}" get-public-key --key-id "$keyid" --query PublicKey --output text 2>"$t/err" |
        base64 -d >"$t/$1.kms.der"
    "$KT" key public "$1" | openssl pkey -pubin -outform DER >"$t/$1.src.der"
    [ -s "$t/$1.src.der" ] && cmp -s "$t/$1.kms.der" "$t/$1.src.der" && ok ||
        fail "$1: get-public-key is not the source key: $(cat "$t/err")"
}

# --- RSA 2048 under an RSA_2048 wrapping key ------------------------------------------------
flow rsa RSA_2048 SIGN_VERIFY RSA_AES_KEY_WRAP_SHA_256 RSA_2048
import rsa && ok || fail "import-key-material rsa: $(cat "$t/err")"
public rsa
echo "rsa: $((SECONDS - start)) s"

# --- EC P-256 under RSA_3072, then a second wrapping key for it -----------------------------
flow ec ECC_NIST_P256 SIGN_VERIFY RSA_AES_KEY_WRAP_SHA_1 RSA_3072
ec_keyid=$keyid
# Fresh parameters (a new wrapping key): the key is reduced for the first one only.
"${kms[@]}" get-parameters-for-import --key-id "$ec_keyid" --wrapping-algorithm \
    RSA_AES_KEY_WRAP_SHA_1 --wrapping-key-spec RSA_3072 >"$t/ec.params2.json" 2>"$t/err" ||
    fail "get-parameters-for-import ec again: $(cat "$t/err")"
fp2=$(params_fp "$t/ec.params2.json")
fp1=$(params_fp "$t/ec.params.json")
p2=(--aws-params "$t/ec.params2.json" --accept-unattested-kek "$fp2")
expect 1 "package ec for the unreduced second wrapping key" "$KT" package --ident ec "${p2[@]}" \
    --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_1 --name ec2 --out "$t/out"
expect_err "reduce it for this KEK" "$KT" package --ident ec "${p2[@]}" \
    --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_1 --name ec2 --out "$t/out"
# The quorum reduces it for the second one: a record of its own, beside the first.
"$KT" modify-acls --ident ec "${p2[@]}" "${cards[@]}" --yes >/dev/null 2>"$t/err.ma" ||
    fail "modify-acls ec for the second wrapping key: $(cat "$t/err.ma")"
grep -qF "AWS KMS key   $(json "$t/ec.params2.json" 'd["KeyId"]')" "$t/err.ma" && ok ||
    fail "the card holders are not shown the AWS key: $(cat "$t/err.ma")"
grep -qF "written as    key_xferacld${fp2:0:16}_ec" "$t/err.ma" && ok ||
    fail "the second record is not key_xferacld${fp2:0:16}_ec: $(cat "$t/err.ma")"
[ -f "$t/kmdata/local/key_xferacld_ec" ] && [ -f "$t/kmdata/local/key_xferacld${fp2:0:16}_ec" ] &&
    ok || fail "the two records do not stand side by side: $(ls "$t/kmdata/local")"
expect 4 "modify-acls ec again for the same wrapping key" "$KT" modify-acls --ident ec "${p2[@]}" \
    "${cards[@]}" --yes
"$KT" key show ec >"$t/show.txt" 2>&1
grep -qF "xferacld/ec, for KEK $fp1" "$t/show.txt" &&
    grep -qF "xferacld${fp2:0:16}/ec, for KEK $fp2" "$t/show.txt" && ok ||
    fail "key show does not list both records: $(cat "$t/show.txt")"
# Both records package: the first one (done above) again under another name, and the second.
"$KT" package --ident ec --aws-params "$t/ec.params.json" --accept-unattested-kek "$fp1" \
    --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_1 --name ec1 --out "$t/out" >/dev/null 2>"$t/err" &&
    ok || fail "package ec from the first record: $(cat "$t/err")"
mkdir -p "$t/out2"
"$KT" package --ident ec "${p2[@]}" --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_1 --name ec \
    --out "$t/out2" >"$t/ec.pkg.txt" 2>"$t/err" || fail "package ec, second record: $(cat "$t/err")"
# A third KEK, never reduced for: refused.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$t/third.key" 2>/dev/null
openssl pkey -in "$t/third.key" -pubout -out "$t/third.pub"
fp3=$("$KT" package --ident ec --kek-pem "$t/third.pub" --target aws --name ec3 --out "$t/out" 2>&1 |
    grep -oE '[0-9a-f]{64}' | head -n 1)
expect 1 "package ec for a third, unreduced KEK" "$KT" package --ident ec --kek-pem "$t/third.pub" \
    --accept-unattested-kek "$fp3" --target aws --name ec3 --out "$t/out"
# The second record's package is the one AWS takes now: its token is the current one.
import ec && ok || fail "import-key-material ec: $(cat "$t/err")"
public ec
echo "ec: $((SECONDS - start)) s"

# --- AES-256 under RSA_4096 (RSAES_OAEP_SHA_256), a wrong import token first ----------------
flow aes SYMMETRIC_DEFAULT ENCRYPT_DECRYPT RSAES_OAEP_SHA_256 RSA_4096
tok="$t/out/TransferPackage-aes.aws.token.bin"
cp "$tok" "$t/token.good"
"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[5]^=1; open(sys.argv[1],"wb").write(b)' "$tok"
if import aes; then fail "a wrong import token was taken"; else
    grep -q InvalidImportTokenException "$t/err" && ok || fail "wrong token: $(cat "$t/err")"
fi
cp "$t/token.good" "$tok"
import aes && ok || fail "import-key-material aes: $(cat "$t/err")"
# The emulated HSM holds the same 32 bytes: the world's key hash over them is the source's.
want=$("$KT" key show aes --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["key_hash"])')
aes_keyid=$(json "$t/aes.key.json" 'd["KeyMetadata"]["KeyId"]')
have=$(json "$t/cloud/aws-kms/$aes_keyid.json" 'd["KeyMaterialHash"]')
[ -n "$want" ] && [ "$have" = "$want" ] && ok || fail "the KMS holds AES key $have, not $want"
"${kms[@]}" describe-key --key-id "$aes_keyid" --query KeyMetadata.KeyState --output text \
    2>"$t/err" | grep -qx Enabled && ok || fail "describe-key aes: not Enabled $(cat "$t/err")"
# The USB hand-over check on the online side holds the token to its manifest too.
ONLINE=${KT_ONLINE:?KT_ONLINE must name the keytransfer-online program}
"$ONLINE" check "$t/out" >"$t/check.txt" 2>&1 && grep -q "token    TransferPackage-aes.aws.token.bin" \
    "$t/check.txt" && ok || fail "keytransfer-online check: $(cat "$t/check.txt")"
printf 'x' >>"$tok"
expect 1 "online check of a changed import token" "$ONLINE" check "$t/out"
cp "$t/token.good" "$tok"
echo "aes: $((SECONDS - start)) s"

# --- refusals without the CLI: expired parameters, the wrong algorithm for the key ----------
"$PY" - "$t/rsa.params.json" "$t/expired.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["ParametersValidTo"] = "2024-01-02T03:04:05.678000+00:00"
json.dump(d, open(sys.argv[2], "w"))
EOF
fp=$(params_fp "$t/expired.json")
expect 1 "package from expired parameters" "$KT" package --ident rsa --aws-params "$t/expired.json" \
    --accept-unattested-kek "$fp" --name rsa-expired --out "$t/out"
expect_err "expired at 2024-01-02T03:04:05Z" "$KT" package --ident rsa --aws-params \
    "$t/expired.json" --accept-unattested-kek "$fp" --name rsa-expired --out "$t/out"
expect_err "expired at 2024-01-02T03:04:05Z" "$KT" modify-acls --ident rsa --aws-params \
    "$t/expired.json" --accept-unattested-kek "$fp" "${cards[@]}" --yes
fp=$(params_fp "$t/rsa.params.json")
expect 1 "RSA with RSAES_OAEP_SHA_256" "$KT" package --ident rsa --aws-params "$t/rsa.params.json" \
    --accept-unattested-kek "$fp" --wrapping-algorithm RSAES_OAEP_SHA_256 --name rsa-oaep \
    --out "$t/out"
fp=$(params_fp "$t/aes.params.json")
expect 1 "AES with RSA_AES_KEY_WRAP_SHA_256" "$KT" package --ident aes --aws-params \
    "$t/aes.params.json" --accept-unattested-kek "$fp" --wrapping-algorithm \
    RSA_AES_KEY_WRAP_SHA_256 --name aes-kw --out "$t/out"
expect 2 "an unknown wrapping algorithm" "$KT" package --ident aes --aws-params \
    "$t/aes.params.json" --accept-unattested-kek "$fp" --wrapping-algorithm RSAES_PKCS1_V1_5 \
    --name aes-pkcs1 --out "$t/out"
expect 2 "--oaep-hash with --aws-params" "$KT" package --ident aes --aws-params \
    "$t/aes.params.json" --accept-unattested-kek "$fp" --oaep-hash sha1 --name aes-h --out "$t/out"
# Malformed parameters: a member too many, a PublicKey that is not base64 DER.
"$PY" - "$t/aes.params.json" "$t" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
json.dump(dict(d, ResponseMetadata={}), open(sys.argv[2] + "/extra.json", "w"))
json.dump(dict(d, PublicKey=d["PublicKey"][:-4]), open(sys.argv[2] + "/badkey.json", "w"))
EOF
for bad in extra badkey; do
    expect 3 "parameters $bad" "$KT" package --ident aes --aws-params "$t/$bad.json" \
        --accept-unattested-kek "$fp" --name aes-bad --out "$t/out"
done
# The emulated KMS refuses a request without a well-formed SigV4 header.
status=$("$PY" - "$url" "$aes_keyid" "$t/nosig.json" <<'EOF'
import json, sys, urllib.error, urllib.request
url, keyid, out = sys.argv[1:]
rq = urllib.request.Request(url + "/", data=json.dumps({"KeyId": keyid}).encode(), method="POST",
                            headers={"X-Amz-Target": "TrentService.DescribeKey",
                                     "Content-Type": "application/x-amz-json-1.1"})
try:
    with urllib.request.urlopen(rq, timeout=10) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
open(out, "wb").write(body)
print(code)
EOF
)
[ "$status" = 400 ] && grep -q IncompleteSignatureException "$t/nosig.json" && ok ||
    fail "an unsigned request: $status $(cat "$t/nosig.json" 2>/dev/null)"

# Every option keytransfer package --help prints is in the man page (test_transfer.sh checks
# them all; these are this test's).
for o in --aws-params --wrapping-algorithm; do
    grep -qF -- "${o//-/\\-}" "$KT_SRC/docs/man/keytransfer.1" && ok || fail "$o not in keytransfer(1)"
done
echo "total: $((SECONDS - start)) s"
finish
