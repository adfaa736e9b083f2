#!/usr/bin/env bash
# test_gcp.sh - Google Cloud KMS imports as their users do them: `package --import-job FILE`
# with the JSON `gcloud kms import-jobs describe --format json` prints, for each of the six
# import methods (RSA_OAEP_{3072,4096}_SHA1_AES_256, RSA_OAEP_{3072,4096}_SHA256_AES_256 and the
# direct RSA_OAEP_{3072,4096}_SHA256), every blob opened by python3-cryptography to the very key
# (AES-256's bytes; RSA-2048's and EC P-256's public key); the key types Google does not import
# (P-521, AES-192; RSA under a direct method) refused, and so are jobs that are not ACTIVE or
# have expired, and malformed ones. Each wrapping key is another KEK: the AES key is reduced,
# under the quorum, for both (one record each).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
PY=python3
command -v "$PY" >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }

t=$(mktemp -d /tmp/kt-cli-gcp.XXXXXX)
trap 'rm -rf "$t"' EXIT
start=$SECONDS
export KEYTRANSFER_KMDATA="$t/kmdata"

printf 'gcp-pin-card-1\ngcp-pin-card-2\ngcp-pin-card-3\n' >"$t/pins"
printf 'gcp-pin-card-2\ngcp-pin-card-3\n' >"$t/quorum"
"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins" >/dev/null 2>"$t/err" ||
    fail "world new: $(cat "$t/err")"
cards=(--card "$t"/kmdata/cards/card_*_2 --card "$t"/kmdata/cards/card_*_3 --pin-file "$t/quorum")
openssl rand -out "$t/aes256.key" 32
openssl rand -out "$t/aes192.key" 24
for k in aes256 aes192; do
    "$KT" key import --type AES --from "$t/$k.key" --ident "$k" >/dev/null 2>"$t/err" ||
        fail "key import $k: $(cat "$t/err")"
done
"$KT" key generate --type RSA --size 2048 --ident rsa2048 >/dev/null 2>"$t/err" || fail "rsa2048"
"$KT" key generate --type EC --curve P-256 --ident p256 >/dev/null 2>"$t/err" || fail "p256"
"$KT" key generate --type EC --curve P-521 --ident p521 >/dev/null 2>"$t/err" || fail "p521"
for b in 3072 4096; do
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$b" -out "$t/wrap$b.key" 2>/dev/null
    openssl pkey -in "$t/wrap$b.key" -pubout -out "$t/wrap$b.pub"
done

# The import jobs, shaped as gcloud prints them; job-N uses method N.
"$PY" - "$t" <<'EOF'
import json, sys, time
t = sys.argv[1]
methods = ["RSA_OAEP_3072_SHA1_AES_256", "RSA_OAEP_4096_SHA1_AES_256",
           "RSA_OAEP_3072_SHA256_AES_256", "RSA_OAEP_4096_SHA256_AES_256",
           "RSA_OAEP_3072_SHA256", "RSA_OAEP_4096_SHA256"]
def stamp(s):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".123456789Z"
now = int(time.time())
def job(n, method, **kw):
    bits = method.split("_")[2] if method.split("_")[2] in ("3072", "4096") else "3072"
    d = {"attestation": {"content": "AAAA", "format": "CAVIUM_V2_COMPRESSED"},
         "createTime": stamp(now - 60), "expireEventTime": stamp(now + 3 * 86400),
         "expireTime": stamp(now + 3 * 86400), "generateTime": stamp(now - 50),
         "importMethod": method,
         "name": "projects/kt-test/locations/europe-west1/keyRings/ring-1/importJobs/job-%d" % n,
         "protectionLevel": "HSM", "publicKey": {"pem": open("%s/wrap%s.pub" % (t, bits)).read()},
         "state": "ACTIVE"}
    d.update(kw)
    return d
for n, m in enumerate(methods, 1):
    json.dump(job(n, m), open("%s/job-%d.json" % (t, n), "w"), indent=2)
json.dump(job(7, methods[2], state="PENDING_GENERATION"), open(t + "/pending.json", "w"))
json.dump(job(8, methods[2], state="EXPIRED"), open(t + "/expired-state.json", "w"))
json.dump(job(9, methods[2], expireTime=stamp(now - 10)), open(t + "/expired.json", "w"))
wrong = job(10, methods[0])
wrong["publicKey"]["pem"] = open(t + "/wrap4096.pub").read()  # a 4096-bit key for a 3072 method
json.dump(wrong, open(t + "/wrongsize.json", "w"))
json.dump(job(11, "RSA_OAEP_2048_SHA256_AES_256"), open(t + "/badmethod.json", "w"))
json.dump(dict(job(12, methods[0]), cryptoKeyVersion="x"), open(t + "/extra.json", "w"))
EOF
fp3072=$(openssl pkey -pubin -in "$t/wrap3072.pub" -outform DER | sha256sum | cut -d' ' -f1)
fp4096=$(openssl pkey -pubin -in "$t/wrap4096.pub" -outform DER | sha256sum | cut -d' ' -f1)
echo "setup: $((SECONDS - start)) s"

# reduce KEY JOB FP: modify-acls for the job's wrapping key, under the quorum.
reduce() {
    "$KT" modify-acls --ident "$1" --import-job "$t/$2.json" --accept-unattested-kek "$3" \
        "${cards[@]}" --yes >/dev/null 2>"$t/err" || fail "modify-acls $1 for $2: $(cat "$t/err")"
}
reduce aes256 job-1 "$fp3072"
reduce aes256 job-2 "$fp4096" # a second KEK: key_xferacld<F16>_aes256
reduce rsa2048 job-1 "$fp3072"
reduce p256 job-2 "$fp4096"
reduce p521 job-1 "$fp3072"
reduce aes192 job-1 "$fp3072"
[ -f "$t/kmdata/local/key_xferacld_aes256" ] &&
    [ -f "$t/kmdata/local/key_xferacld${fp4096:0:16}_aes256" ] && ok ||
    fail "the AES key's two records: $(ls "$t/kmdata/local")"
echo "modify-acls: $((SECONDS - start)) s"

mkdir "$t/out"
: >"$t/cases"
# pack KEY N FP: package KEY with job-N; records the case for pyca.
pack() {
    local key=$1 n=$2 fp=$3 name="$1-m$2"
    if "$KT" package --ident "$key" --import-job "$t/job-$n.json" --accept-unattested-kek "$fp" \
        --name "$name" --out "$t/out" >"$t/$name.txt" 2>"$t/err"; then
        ok
        echo "$t/out/TransferPackage-$name.gcp.bin $n $key" >>"$t/cases"
    else
        fail "package $key with job-$n: $(cat "$t/err")"
    fi
    local want="gcloud kms keys versions import --project kt-test --location europe-west1 --keyring ring-1 --key $name --import-job job-$n --algorithm"
    grep -qF "$want" "$t/$name.txt" && grep -qF -- "--wrapped-key-file $t/out/TransferPackage-$name.gcp.bin" "$t/$name.txt" &&
        ok || fail "package $name printed no gcloud line: $(cat "$t/$name.txt")"
}
for n in 1 3 5; do pack aes256 "$n" "$fp3072"; done
for n in 2 4 6; do pack aes256 "$n" "$fp4096"; done
pack rsa2048 1 "$fp3072"
pack rsa2048 3 "$fp3072"
pack p256 4 "$fp4096"
pack p256 6 "$fp4096"
grep -qF -- "--algorithm google-symmetric-encryption" "$t/aes256-m1.txt" &&
    grep -qF -- "--algorithm rsa-sign-pkcs1-2048-sha256" "$t/rsa2048-m1.txt" &&
    grep -qF -- "--algorithm ec-sign-p256-sha256" "$t/p256-m6.txt" && ok ||
    fail "the gcloud --algorithm for each key type"
echo "packages: $((SECONDS - start)) s"

# Refused: what Google does not import, and jobs that cannot take an import.
refuse() {
    local st=$1 text=$2
    shift 2
    expect "$st" "refused: $*" "$KT" package "$@" --out "$t/out"
    expect_err "$text" "$KT" package "$@" --out "$t/out"
}
refuse 1 "curve P-521" --ident p521 --import-job "$t/job-1.json" --accept-unattested-kek \
    "$fp3072" --name p521
refuse 1 "not AES-192" --ident aes192 --import-job "$t/job-1.json" --accept-unattested-kek \
    "$fp3072" --name aes192
refuse 1 "cannot carry an RSA key" --ident rsa2048 --import-job "$t/job-5.json" \
    --accept-unattested-kek "$fp3072" --name rsa-direct
refuse 1 "PENDING_GENERATION, not ACTIVE" --ident aes256 --import-job "$t/pending.json" \
    --accept-unattested-kek "$fp3072" --name pending
refuse 1 "EXPIRED, not ACTIVE" --ident aes256 --import-job "$t/expired-state.json" \
    --accept-unattested-kek "$fp3072" --name expired1
refuse 1 "expired at" --ident aes256 --import-job "$t/expired.json" --accept-unattested-kek \
    "$fp3072" --name expired2
refuse 3 "takes an RSA-3072 key" --ident aes256 --import-job "$t/wrongsize.json" \
    --accept-unattested-kek "$fp4096" --name wrongsize
refuse 3 "unknown importMethod" --ident aes256 --import-job "$t/badmethod.json" \
    --accept-unattested-kek "$fp3072" --name badmethod
refuse 3 "cryptoKeyVersion" --ident aes256 --import-job "$t/extra.json" \
    --accept-unattested-kek "$fp3072" --name extra
refuse 2 "--oaep-hash" --ident aes256 --import-job "$t/job-1.json" --accept-unattested-kek \
    "$fp3072" --oaep-hash sha1 --name hash
refuse 2 "--target gcp" --ident aes256 --import-job "$t/job-1.json" --accept-unattested-kek \
    "$fp3072" --target aws --name target
refuse 1 "$fp3072" --ident aes256 --import-job "$t/job-1.json" --name unaccepted
# A KEK the key was never reduced for (the p256 key has a 4096-bit record only).
refuse 1 "reduce it for this KEK" --ident p256 --import-job "$t/job-3.json" \
    --accept-unattested-kek "$fp3072" --name p256-m3

# The same wrapping key under a kid is another destination: a record of its own, and each of
# the two packages from the record that names it.
kidA=https://a.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef
"$KT" modify-acls --ident rsa2048 --kek-pem "$t/wrap3072.pub" --kid "$kidA" \
    --accept-unattested-kek "$fp3072" "${cards[@]}" --yes >/dev/null 2>"$t/err" ||
    fail "modify-acls rsa2048 with a kid: $(cat "$t/err")"
for kid in "" "$kidA"; do
    "$KT" package --ident rsa2048 --kek-pem "$t/wrap3072.pub" ${kid:+--kid "$kid"} \
        --accept-unattested-kek "$fp3072" --target gcp --name "rsa-kid${kid:+a}" --out "$t/out" \
        >/dev/null 2>"$t/err" && ok || fail "package rsa2048 kid '$kid': $(cat "$t/err")"
done

# python3-cryptography opens every blob to the key.
for k in rsa2048 p256; do "$KT" key public "$k" >"$t/$k.pub"; done
"$PY" - "$t" <<'EOF' >"$t/pyca.out" 2>&1
import base64, hashlib, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

t = sys.argv[1]
methods = {1: (3072, "sha1", False), 2: (4096, "sha1", False), 3: (3072, "sha256", False),
           4: (4096, "sha256", False), 5: (3072, "sha256", True), 6: (4096, "sha256", True)}
names = {1: "RSA_OAEP_3072_SHA1_AES_256", 2: "RSA_OAEP_4096_SHA1_AES_256",
         3: "RSA_OAEP_3072_SHA256_AES_256", 4: "RSA_OAEP_4096_SHA256_AES_256",
         5: "RSA_OAEP_3072_SHA256", 6: "RSA_OAEP_4096_SHA256"}
wrap = {b: serialization.load_pem_private_key(open("%s/wrap%d.key" % (t, b), "rb").read(), None)
        for b in (3072, 4096)}
bad = n = 0
seen = set()
for line in open(t + "/cases"):
    path, num, key = line.split()
    bits, h, direct = methods[int(num)]
    md = hashes.SHA1() if h == "sha1" else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(md), algorithm=md, label=None)
    blob = open(path, "rb").read()
    k = wrap[bits]
    try:
        if direct:
            assert len(blob) == bits // 8, "a direct blob is one RSA block"
            material = k.decrypt(blob, oaep)
        else:
            aes = k.decrypt(blob[: bits // 8], oaep)
            assert len(aes) == 32, "the ephemeral key is AES-256"
            material = aes_key_unwrap_with_padding(aes, blob[bits // 8:])
        if key == "aes256":
            assert material == open(t + "/aes256.key", "rb").read(), "another AES key"
        else:
            pub = serialization.load_der_private_key(material, None).public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            assert pub == open("%s/%s.pub" % (t, key), "rb").read(), "another public key"
        p = json.load(open(path.replace(".gcp.bin", ".gcp.manifest.json")))["payload"]
        m = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        assert m["import"]["wrapping_algorithm"] == names[int(num)], m["import"]
        assert m["import"]["for"].endswith("/importJobs/job-" + num) and m["import"]["token_file"] is None
        assert m["package_sha256"] == hashlib.sha256(blob).hexdigest()
        seen.add(int(num))
        n += 1
    except Exception as exc:
        bad += 1
        print("FAIL: %s: %r" % (path, exc))
print("pyca opened %d blobs of methods %s, %d failures" % (n, sorted(seen), bad))
EOF
grep -qF "pyca opened 10 blobs of methods [1, 2, 3, 4, 5, 6], 0 failures" "$t/pyca.out" && ok ||
    fail "python3-cryptography: $(cat "$t/pyca.out")"
grep -qF -- '\-\-import\-job' "$KT_SRC/docs/man/keytransfer.1" && ok ||
    fail "--import-job is not in keytransfer(1)"
echo "total: $((SECONDS - start)) s"
finish
