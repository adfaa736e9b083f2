#!/usr/bin/env bash
# test_online_https.sh - `keytransfer-online upload` over https to `keytransfer-cloud serve --tls`:
# the body it sends (Hsm true, --tags, --not-before, --expires, --disabled, --exportable with
# --release-policy, --api-version) as a recording server on loopback sees it, and then as the
# emulator stores and returns it; a certificate that is not the server's refused before anything
# is sent; the 401 challenge read back into the token the vault asks for; a token for another
# resource (a JWT for Azure Resource Manager) refused before it is sent; an AES key into the
# Managed HSM through a KEK made there; and the option checks.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3

t=$(mktemp -d /tmp/kt-cli-online-https.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$t"
}
trap cleanup EXIT

demo="$t/demo"
if ! KT_BIN=$KT KT_CLOUD=$CLOUD bash "$KT_SRC/scripts/demo-offline.sh" "$demo" >"$t/offline.log" 2>&1; then
    fail "scripts/demo-offline.sh: $(tail -n 30 "$t/offline.log")"
    finish
    exit 1
fi
export KEYTRANSFER_KMDATA="$demo/kmdata"
# The demo imported ContosoFirstHSMkey already: the same reduced key packaged under new names.
for name in HttpsKey RecordedKey; do
    "$KT" package --ident contosokey -k "$demo/toolset/BYOK-KEK-pkg-NA-1" \
        -w "$demo/toolset/BYOK-SecurityWorld-pkg-NA-1" --subscription \
        00000000-0000-0000-0000-000000000000 --name "$name" --out "$demo/usb" --demo \
        >"$t/package-$name.log" 2>&1 || fail "package $name: $(cat "$t/package-$name.log")"
done
printf 'https-test-token-0123456789abcdef\n' >"$t/token"
printf 'another-token-0123456789abcdefgh\n' >"$t/wrong-token"
cat >"$t/policy.json" <<'EOF'
{"version":"1.0.0","anyOf":[{"authority":"https://sharedeus.eus.attest.azure.net","allOf":[{"claim":"x-ms-isolation-tee.x-ms-attestation-type","equals":"sevsnpvm"}]}]}
EOF
props=(--tags "env=test,owner=key custodians" --not-before 2026-01-01 --expires
    2031-05-17T12:00:00Z --disabled --exportable --release-policy "$t/policy.json"
    --api-version 7.4-preview.1 --ops "sign,verify")

# --- the body as sent: a recording server on loopback (plain http, which loopback allows) --------
"$PY" - "$t/rec.port" "$t/rec.body" "$t/rec.line" <<'EOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        open(sys.argv[2], "wb").write(body)
        open(sys.argv[3], "w").write(self.requestline)
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        data = b'{"error":{"code":"BadParameter","message":"recorded"}}'
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.handle_request()
EOF
pids+=($!)
for _ in $(seq 200); do [ -s "$t/rec.port" ] && break; sleep 0.05; done
expect 1 "upload to the recorder" "$ONLINE" upload --vault "http://127.0.0.1:$(cat "$t/rec.port")" \
    --name RecordedKey --token-file "$t/token" --demo "${props[@]}" \
    "$demo/usb/TransferPackage-RecordedKey.byok"
grep -q "PUT /keys/RecordedKey?api-version=7.4-preview.1 HTTP/1.1" "$t/rec.line" && ok ||
    fail "the request line: $(cat "$t/rec.line" 2>/dev/null)"
"$PY" - "$t/rec.body" "$t/policy.json" "$demo/usb/TransferPackage-RecordedKey.byok" <<'EOF' &&
import base64, json, sys
b = json.load(open(sys.argv[1]))
unb64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
assert set(b) == {"key", "Hsm", "attributes", "tags", "release_policy"}, sorted(b)
assert b["Hsm"] is True
assert b["attributes"] == {"enabled": False, "nbf": 1767225600, "exp": 1936785600,
                           "exportable": True}, b["attributes"]
assert b["tags"] == {"env": "test", "owner": "key custodians"}, b["tags"]
rp = b["release_policy"]
assert rp["contentType"] == "application/json; charset=utf-8", rp
assert unb64(rp["data"]) == open(sys.argv[2], "rb").read(), rp
k = b["key"]
assert set(k) == {"kty", "key_ops", "key_hsm"} and k["kty"] == "RSA-HSM", k
assert k["key_ops"] == ["sign", "verify"], k
assert unb64(k["key_hsm"]) == open(sys.argv[3], "rb").read()
EOF
    ok || fail "the body sent: $(cat "$t/rec.body")"

# --- the emulator over https ---------------------------------------------------------------------
"$CLOUD" serve --state "$demo/cloud" --tls --token-file "$t/token" >"$t/srv.out" 2>"$t/srv.log" &
pids+=($!)
url=
for _ in $(seq 200); do
    url=$(awk '$1 == "url" { print $2 }' "$t/srv.out")
    [ -n "$url" ] && grep -q '^Stop' "$t/srv.out" && break
    sleep 0.05
done
case $url in https://127.0.0.1:*) ok ;; *) fail "serve --tls: $(cat "$t/srv.out" "$t/srv.log")" ;; esac
cacert=$(awk '$1 == "cacert" { print $2 }' "$t/srv.out")
tenant=$(awk '$1 == "tenant" { print $2 }' "$t/srv.out")
fp=$(awk '$1 == "tls" { print $3 }' "$t/srv.out")
[ "$(openssl x509 -in "$cacert" -outform DER | sha256sum | cut -d' ' -f1)" = "$fp" ] && ok ||
    fail "serve printed TLS SHA-256 $fp, the certificate's is another"
openssl x509 -in "$cacert" -noout -ext subjectAltName 2>/dev/null |
    grep -q "keytransfer-demo-na.managedhsm.azure.net" && ok ||
    fail "the certificate does not name the Managed HSM host"
[ "$(stat -c %a "$(dirname "$cacert")/key.pem")" = 600 ] && ok || fail "the TLS key is not private"

# the upload, every property through to the stored key
expect 0 "upload over https" "$ONLINE" upload --vault "$url" --cacert "$cacert" --name HttpsKey \
    --token-file "$t/token" --demo "${props[@]}" "$demo/usb/TransferPackage-HttpsKey.byok"
expect_out "disabled, exportable under its release policy, key_ops sign,verify, as asked" \
    "$ONLINE" upload --vault "$url" --cacert "$cacert" --name HttpsKey --token-file "$t/token" \
    --demo "${props[@]}" "$demo/usb/TransferPackage-HttpsKey.byok"
"$PY" - "$url" "$cacert" "$t/token" "$t/policy.json" <<'EOF' &&
import base64, json, ssl, sys, urllib.request
url, ca, token, policy = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().strip(), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
def get(api):
    r = urllib.request.Request(url + "/keys/HttpsKey?api-version=" + api,
                               headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(r, context=ctx, timeout=20))
b = get("7.4")
a = b["attributes"]
assert a["enabled"] is False and a["nbf"] == 1767225600 and a["exp"] == 1936785600, a
assert a["exportable"] is True, a
assert b["tags"] == {"env": "test", "owner": "key custodians"}, b
rp = b["release_policy"]
assert base64.urlsafe_b64decode(rp["data"] + "==") == open(policy, "rb").read(), rp
assert rp["immutable"] is False, rp
assert b["key"]["key_ops"] == ["sign", "verify"], b["key"]
# as 7.2 answers: no secure key release yet
old = get("7.2")
assert "exportable" not in old["attributes"] and "release_policy" not in old, old
EOF
    ok || fail "the stored key's properties"

# the key in the vault is checked against what was asked: other tags or another expiry are named
other=(--not-before 2026-01-01 --disabled --exportable --release-policy "$t/policy.json"
    --api-version 7.4-preview.1 --ops "sign,verify")
expect_err "its tags are not the ones asked" "$ONLINE" upload --vault "$url" --cacert "$cacert" \
    --name HttpsKey --token-file "$t/token" --demo "${other[@]}" --tags env=prod \
    --expires 2031-05-17T12:00:00Z "$demo/usb/TransferPackage-HttpsKey.byok"
expect_err "its expiry (attributes.exp) is not the one asked" "$ONLINE" upload --vault "$url" \
    --cacert "$cacert" --name HttpsKey --token-file "$t/token" --demo "${other[@]}" \
    --tags "env=test,owner=key custodians" --expires 2032-01-01 \
    "$demo/usb/TransferPackage-HttpsKey.byok"

# a certificate that is not the server's: refused, nothing sent
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/other.key" \
    -out "$t/other.pem" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    2>/dev/null || fail "openssl req"
before=$(grep -c ' -> ' "$t/srv.log")
expect 1 "another CA" "$ONLINE" upload --vault "$url" --cacert "$t/other.pem" --name HttpsKey \
    --token-file "$t/token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"
expect_err "does not verify" "$ONLINE" upload --vault "$url" --cacert "$t/other.pem" \
    --name HttpsKey --token-file "$t/token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"
expect 1 "the system's CAs" "$ONLINE" upload --vault "$url" --name HttpsKey \
    --token-file "$t/token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"
[ "$(grep -c ' -> ' "$t/srv.log")" = "$before" ] && ok ||
    fail "a request reached the server over an unverified connection"

# the 401 challenge: another token; the answer names the resource and tenant to get one for
expect 1 "another token" "$ONLINE" upload --vault "$url" --cacert "$cacert" --name HttpsKey \
    --token-file "$t/wrong-token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"
expect_err "the vault asks for a token of resource https://vault.azure.net from tenant $tenant" \
    "$ONLINE" upload --vault "$url" --cacert "$cacert" --name HttpsKey \
    --token-file "$t/wrong-token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"
expect_err "--resource https://vault.azure.net --tenant $tenant" \
    "$ONLINE" upload --vault "$url" --cacert "$cacert" --name HttpsKey \
    --token-file "$t/wrong-token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"
grep -q "PUT /keys/HttpsKey -> 401 Unauthorized" "$t/srv.log" && ok || fail "no 401 was served"

# --- the Managed HSM: a KEK made there by Create Key, an AES key packaged for it, uploaded to
# https://VAULT.managedhsm.azure.net (reached at loopback with --resolve; the certificate is
# checked for the Managed HSM's name) --------------------------------------------------------------
mhsm=keytransfer-demo-na.managedhsm.azure.net
port=${url##*:}
"$PY" - "$port" "$cacert" "$t/token" "$t/mhsm-kek.pem" "$t/mhsm-kek.kid" <<'EOF' &&
import base64, http.client, json, ssl, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
port, ca, token = int(sys.argv[1]), sys.argv[2], open(sys.argv[3]).read().strip()
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
c.request("POST", "/keys/mhsm-kek/create?api-version=7.4",
          body=json.dumps({"kty": "RSA-HSM", "key_size": 2048, "key_ops": ["import"]}),
          headers={"Host": "keytransfer-demo-na.managedhsm.azure.net",
                   "Authorization": "Bearer " + token, "Content-Type": "application/json"})
r = c.getresponse()
b = json.loads(r.read())
assert r.status == 200, b
k = b["key"]
assert k["kid"].startswith("https://keytransfer-demo-na.managedhsm.azure.net/keys/mhsm-kek/"), k
unb64 = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
pub = rsa.RSAPublicNumbers(unb64(k["e"]), unb64(k["n"])).public_key()
open(sys.argv[4], "wb").write(pub.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
open(sys.argv[5], "w").write(k["kid"])
EOF
    ok || fail "Create Key on the Managed HSM"
kek_fp=$(openssl pkey -pubin -in "$t/mhsm-kek.pem" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
unatt=(--kek-pem "$t/mhsm-kek.pem" --kid "$(cat "$t/mhsm-kek.kid")" --accept-unattested-kek "$kek_fp")
expect 0 "an AES key" "$KT" key generate --type AES --size 256 --ident mhsmaes
expect 0 "modify-acls for the Managed HSM KEK" "$KT" modify-acls --ident mhsmaes "${unatt[@]}" \
    --card "$demo"/kmdata/cards/card_*_1 --card "$demo"/kmdata/cards/card_*_3 \
    --pin-file "$demo/quorum-pins.txt" --yes
expect 0 "package for the Managed HSM KEK" "$KT" package --ident mhsmaes "${unatt[@]}" \
    --subscription 00000000-0000-0000-0000-000000000000 --name MhsmAes --out "$demo/usb"
expect_out "an oct \(AES\) key has no public part" "$ONLINE" upload --vault "https://$mhsm:$port" \
    --resolve 127.0.0.1 --cacert "$cacert" --name MhsmAes --token-file "$t/token" \
    --tags kind=aes --expires 2030-01-01 "$demo/usb/TransferPackage-MhsmAes.byok"
grep -q "PUT /keys/MhsmAes -> 200" "$t/srv.log" && ok || fail "the Managed HSM import was not served"
held=$(KEYTRANSFER_KMDATA="$demo/cloud/kmdata" "$KT" key show mhsmaes --app imported 2>&1 |
    awk '$1 == "key" && $2 == "hash" { print $3 }')
made=$("$KT" key show mhsmaes | awk '$1 == "key" && $2 == "hash" { print $3 }')
[ -n "$held" ] && [ "$held" = "$made" ] && ok ||
    fail "the Managed HSM holds key hash '$held', the key generated is '$made'"
# the challenge on the Managed HSM's own name: the resource is its domain's
expect_err "the vault asks for a token of resource https://managedhsm.azure.net from tenant $tenant" \
    "$ONLINE" upload --vault "https://$mhsm:$port" --resolve 127.0.0.1 --cacert "$cacert" \
    --name MhsmAes --token-file "$t/wrong-token" "$demo/usb/TransferPackage-MhsmAes.byok"
expect 2 "--resolve a name" "$ONLINE" upload --vault "https://$mhsm:$port" --resolve localhost \
    --name MhsmAes --token-file "$t/token" "$demo/usb/TransferPackage-MhsmAes.byok"

# a JWT for Azure Resource Manager is not sent to a vault (refused before any connection)
arm=$("$PY" -c 'import base64, json
e = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
print(e({"alg": "RS256"}) + "." + e({"aud": "https://management.azure.com/", "tid": "t"}) + ".c2ln")')
printf '%s\n' "$arm" >"$t/arm-token"
expect 1 "an ARM token" "$ONLINE" upload --vault https://keytransfer-demo-na.vault.azure.net \
    --name HttpsKey --token-file "$t/arm-token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"
expect_err "the token is for https://management.azure.com, not for https://vault.azure.net" \
    "$ONLINE" upload --vault https://keytransfer-demo-na.vault.azure.net --name HttpsKey \
    --token-file "$t/arm-token" --demo "$demo/usb/TransferPackage-HttpsKey.byok"

# option checks (usage, exit 2)
b="$demo/usb/TransferPackage-HttpsKey.byok"
base=(upload --vault "$url" --cacert "$cacert" --name HttpsKey --token-file "$t/token" --demo)
expect 2 "--api-version 7.6" "$ONLINE" "${base[@]}" --api-version 7.6 "$b"
expect 2 "--exportable alone" "$ONLINE" "${base[@]}" --exportable "$b"
expect 2 "--release-policy alone" "$ONLINE" "${base[@]}" --release-policy "$t/policy.json" "$b"
expect 2 "--exportable at 7.2" "$ONLINE" "${base[@]}" --exportable \
    --release-policy "$t/policy.json" --api-version 7.2 "$b"
expect 2 "--expires before --not-before" "$ONLINE" "${base[@]}" --not-before 2030-01-01 \
    --expires 2029-01-01 "$b"
expect 2 "--expires tomorrow" "$ONLINE" "${base[@]}" --expires tomorrow "$b"
expect 2 "--tags without =" "$ONLINE" "${base[@]}" --tags env "$b"
expect 2 "Managed HSM at 7.1" "$ONLINE" upload --vault https://keytransfer-demo-na.managedhsm.azure.net \
    --name HttpsKey --token-file "$t/token" --demo --api-version 7.1 "$b"
printf '[1,2]' >"$t/bad-policy.json"
expect 3 "a policy that is not an object" "$ONLINE" "${base[@]}" --exportable \
    --release-policy "$t/bad-policy.json" "$b"

# serve's TLS options
st=(serve --state "$demo/cloud" --token-file "$t/token")
expect 2 "serve --tls-cert alone" "$CLOUD" "${st[@]}" --tls-cert "$t/other.pem"
expect 2 "serve --tls and --tls-cert" "$CLOUD" "${st[@]}" --tls --tls-cert "$t/other.pem" \
    --tls-key "$t/other.key"
expect 3 "serve: a key that is not the certificate's" "$CLOUD" "${st[@]}" --tls-cert "$cacert" \
    --tls-key "$t/other.key"
expect_err "is not the key of the certificate" "$CLOUD" "${st[@]}" --tls-cert "$cacert" \
    --tls-key "$t/other.key"
expect 3 "serve: not a certificate" "$CLOUD" "${st[@]}" --tls-cert "$t/policy.json" \
    --tls-key "$t/other.key"
# a certificate of one's own: the upload trusts it through --cacert
chmod 600 "$t/other.key"
"$CLOUD" "${st[@]}" --tls-cert "$t/other.pem" --tls-key "$t/other.key" >"$t/srv2.out" \
    2>"$t/srv2.log" &
pids+=($!)
url2=
for _ in $(seq 200); do
    url2=$(awk '$1 == "url" { print $2 }' "$t/srv2.out")
    [ -n "$url2" ] && grep -q '^Stop' "$t/srv2.out" && break
    sleep 0.05
done
expect_out "Already imported" "$ONLINE" upload --vault "$url2" --cacert "$t/other.pem" \
    --name HttpsKey --token-file "$t/token" --demo "${props[@]}" \
    "$demo/usb/TransferPackage-HttpsKey.byok"
finish
