#!/usr/bin/env bash
# test_online_upload.sh - `keytransfer-online upload` against a Key Vault that misbehaves on
# purpose (tests/online/kv_misbehave.py): 500 before and after the import, 429 and 503 with
# Retry-After in seconds and as a date, a Retry-After over the cap, a service busy to the end, a
# reset after the import was stored, an answer slower than the time-out, 409 with the same key,
# with another key and with no key, the time limit, an unreachable vault, and answers that differ
# from what was asked (exportable, disabled, other key_ops, another vault). Each outcome is
# asserted with the requests the server counted. Then the environment: with SSLKEYLOGFILE set an
# https upload writes no key log (curl, on the same libcurl, does: the control), and an
# OPENSSL_CONF that breaks OpenSSL does not reach the program (openssl itself fails on it).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3
SERVER="$KT_SRC/tests/online/kv_misbehave.py"

t=$(mktemp -d /tmp/kt-cli-online-upload.XXXXXX)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    [ -n "${KT_KEEP:-}" ] && echo "kept $t" || rm -rf "$t"
}
trap cleanup EXIT

# A package made by the offline steps (scripts/demo-offline.sh).
demo="$t/demo"
if ! KT_BIN=$KT KT_CLOUD=$CLOUD bash "$KT_SRC/scripts/demo-offline.sh" "$demo" >"$t/offline.log" 2>&1; then
    fail "scripts/demo-offline.sh: $(tail -n 30 "$t/offline.log")"
    finish
    exit 1
fi
name=ContosoFirstHSMkey
byok="$demo/usb/TransferPackage-$name.byok"
manifest="$demo/usb/TransferPackage-$name.manifest.json"
openssl pkey -pubin -in "$demo/contosokey.pub" -outform DER -out "$t/key.der" 2>/dev/null ||
    fail "openssl cannot read contosokey.pub"
openssl pkey -in "$KT_SRC/tests/packages/data/kek-2048-other.pem" -pubout -outform DER \
    -out "$t/other.der" 2>/dev/null || fail "openssl cannot read kek-2048-other.pem"
key_fp=$(sha256sum <"$t/key.der" | cut -d' ' -f1)
other_fp=$(sha256sum <"$t/other.der" | cut -d' ' -f1)
# The vault of the package's KEK: the kid the answer must carry names it.
vault_host=$($PY -c 'import json,sys
m = json.load(open(sys.argv[1]))
p = json.loads(__import__("base64").urlsafe_b64decode(m["payload"] + "=" * (-len(m["payload"]) % 4)))
print(p["kek"]["kid"].split("/")[2])' "$manifest" 2>"$t/host.err")
[ -n "$vault_host" ] && ok || fail "no KEK vault in the manifest: $(cat "$t/host.err")"
printf 'ktv1-test-token-0123456789abcdef\n' >"$t/token"
chmod 600 "$t/token"

# start_server TAG ARGS...: kv_misbehave.py with ARGS; sets srv_pid, srv_port, srv_log.
start_server() {
    local tag=$1
    shift
    srv_log="$t/$tag.requests"
    rm -f "$t/$tag.port"
    $PY "$SERVER" --port-file "$t/$tag.port" --log "$srv_log" --spki "$t/key.der" \
        --other-spki "$t/other.der" --vault-host "$vault_host" "$@" 2>"$t/$tag.server.err" &
    srv_pid=$!
    for _ in $(seq 200); do
        [ -s "$t/$tag.port" ] && break
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.05
    done
    srv_port=$(cat "$t/$tag.port" 2>/dev/null)
    [ -n "$srv_port" ] || fail "$tag: kv_misbehave.py did not start: $(cat "$t/$tag.server.err")"
}

stop_server() {
    kill "$srv_pid" 2>/dev/null
    wait "$srv_pid" 2>/dev/null
    srv_pid=
}

# scenario TAG "SERVER ARGS" UPLOAD-ARGS...: one upload against a fresh server; sets st (exit
# status), puts and gets (requests the server counted); stdout in $t/TAG.out, stderr $t/TAG.err.
scenario() {
    local tag=$1 server_args=$2 as=$name
    shift 2
    # --name NAME first among the extra arguments uploads under NAME (an option is given once)
    if [ "${1:-}" = --name ]; then
        as=$2
        shift 2
    fi
    # shellcheck disable=SC2086
    start_server "$tag" $server_args
    "$ONLINE" upload --demo --vault "http://127.0.0.1:$srv_port" --name "$as" --token-file "$t/token" \
        "$@" "$byok" >"$t/$tag.out" 2>"$t/$tag.err" </dev/null
    st=$?
    stop_server
    puts=$(grep -c '^PUT ' "$srv_log")
    gets=$(grep -c '^GET ' "$srv_log")
}

# check TAG STATUS PUTS GETS [TEXT ...]: the scenario's exit status and request counts, and each
# TEXT (fixed string) in its stdout or stderr.
check() {
    local tag=$1 want=$2 want_puts=$3 want_gets=$4
    shift 4
    local bad=
    [ "$st" -eq "$want" ] || bad="exit $st, expected $want"
    [ "$puts" -eq "$want_puts" ] || bad="$bad; $puts PUT, expected $want_puts"
    [ "$gets" -eq "$want_gets" ] || bad="$bad; $gets GET, expected $want_gets"
    for text in "$@"; do
        grep -qF -- "$text" "$t/$tag.out" "$t/$tag.err" || bad="$bad; no '$text'"
    done
    if [ -z "$bad" ]; then
        ok
    else
        fail "$tag: $bad:"$'\n'"$(cat "$t/$tag.out" "$t/$tag.err")"
    fi
}

# --- the answer comes ---------------------------------------------------------------------------
scenario plain "--put ok"
check plain 0 1 0 "Imported  https://$vault_host/keys/$name/" "public key SHA-256 $key_fp, as the manifest states" \
    "Result: SUCCESS"

# --- 500: the import failed, or only its answer did ----------------------------------------------
scenario 500-before "--put 500,ok --get ok"
check 500-before 0 2 1 "HTTP 500 Scripted" "the import did not happen" "Imported  " "Result: SUCCESS"
scenario 500-after "--put 500+store --get ok"
check 500-after 0 1 1 "Already imported: the vault already holds this key as $name" \
    "public key SHA-256 $key_fp, as the manifest states" "Result: SUCCESS"

# --- 429 and 503 ----------------------------------------------------------------------------------
scenario 429 "--put 429:1,ok"
check 429 0 2 0 "HTTP 429 Scripted" "PUT again in 1 s, as Retry-After asks (try 2 of 4)" "Imported  "
scenario 503-date "--put 503:date+2,503:date+1,ok"
check 503-date 0 3 0 "HTTP 503 Scripted" "as Retry-After asks (try 3 of 4)" "Imported  "
scenario 503-plain "--put 503,ok"
check 503-plain 0 2 0 "PUT again in 1 s (try 2 of 4)" "Imported  "
scenario 429-cap "--put 429:3600"
check 429-cap 4 1 0 "asks to wait 3600 s (Retry-After: 3600), more than the 60 s" \
    "the key was not imported" "Result: FAILURE"
scenario busy "--put 503:1" --tries 3
check busy 4 3 0 "giving up after 3 tries of PUT" "the key was not imported"
# the time limit: tries at 0 s and 3 s; another after 3 s more would pass 5 s
scenario max-time "--put 503:3" --max-time 5
check max-time 4 2 0 "would pass the 5 s limit (--max-time)"

# --- a reset after the import, an answer too slow -------------------------------------------------
scenario reset "--put reset --get ok"
check reset 0 1 1 "the connection broke before the answer" "asking the vault whether it holds the key" \
    "Already imported: the vault already holds this key as $name" "Result: SUCCESS"
scenario slow "--put slow:6 --get ok" --timeout 2
check slow 0 1 1 "no answer in time" "Already imported" "public key SHA-256 $key_fp" "Result: SUCCESS"
scenario lookup-fails "--put reset --get 500" --tries 2
check lookup-fails 4 1 2 "giving up after 2 tries of GET" "may or may not be imported" \
    "run the same command again" "Result: FAILURE"

# --- 409 Conflict ---------------------------------------------------------------------------------
scenario 409-same "--put conflict --get ok --stored"
check 409-same 0 1 1 "HTTP 409 Conflict" "Already imported: the vault already holds this key as $name" \
    "public key SHA-256 $key_fp, as the manifest states" "Result: SUCCESS"
scenario 409-other "--put conflict --get other"
check 409-other 1 1 1 "public key SHA-256 $other_fp, but the manifest states $key_fp" \
    "this is not the key that was packaged" "Result: FAILURE"
scenario 409-none "--put conflict --get ok"
check 409-none 1 1 1 "soft-delete" "Result: FAILURE"

# --- nothing listens ------------------------------------------------------------------------------
closed=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$ONLINE" upload --demo --vault "http://127.0.0.1:$closed" --name "$name" --token-file "$t/token" --tries 3 \
    "$byok" >"$t/closed.out" 2>"$t/closed.err" </dev/null
st=$?
tries=$(grep -c "PUT again in" "$t/closed.err")
[ "$st" -eq 4 ] && [ "$tries" -eq 2 ] && grep -q "giving up after 3 tries of PUT" "$t/closed.err" &&
    grep -q "the key was not imported" "$t/closed.err" && ok ||
    fail "an unreachable vault: exit $st, $tries retries: $(cat "$t/closed.err")"

# --- the whole answer: what differs from what was asked is refused --------------------------------
scenario exportable "--exportable"
check exportable 1 1 0 "it is exportable" "Result: FAILURE"
scenario exportable-found "--put conflict --stored --exportable"
check exportable-found 1 1 1 "it is exportable" "Result: FAILURE"
scenario no-exportable "--no-exportable"
check no-exportable 0 1 0 "not exportable" "Result: SUCCESS"
scenario disabled "--disabled"
check disabled 1 1 0 "it is disabled, not enabled as asked" "Result: FAILURE"
scenario ops "--ops sign,verify"
check ops 1 1 0 "key_ops are sign,verify, not encrypt,decrypt,sign,verify,wrapKey,unwrapKey as asked"
scenario ops-asked "--put ok" --ops sign,verify
check ops-asked 0 1 0 "key_ops sign,verify, as asked"
scenario other-vault "--put ok --vault-host attacker.vault.azure.net"
check other-vault 1 1 0 "is in the vault attacker.vault.azure.net, not $vault_host" "Result: FAILURE"
# --name must be the manifest's: refused before anything is sent
scenario rename "--put ok" --name SomeOtherName
check rename 1 0 0 "--name SomeOtherName is not the key name the manifest states ('$name'" \
    "Result: FAILURE"
# Key Vault names ignore case (the second --name is the one taken)
scenario rename-case "--put ok" --name "${name,,}"
check rename-case 0 1 0 "Imported  https://$vault_host/keys/${name,,}/"

# --- options ---------------------------------------------------------------------------------------
for bad in "--tries 0" "--tries 11" "--tries x" "--timeout 0" "--timeout 601" "--max-time 0" \
    "--max-time 3601" "--max-time 1e3"; do
    # shellcheck disable=SC2086
    expect 2 "upload $bad" "$ONLINE" upload --vault http://127.0.0.1:1 --name "$name" \
        --token-file "$t/token" $bad "$byok"
done

# --- the environment --------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$t/tls.key" -out "$t/tls.crt" >/dev/null 2>&1 ||
    fail "openssl cannot make a TLS certificate"
start_server tls --put ok --tls "$t/tls.crt" "$t/tls.key"
SSLKEYLOGFILE="$t/online-keys.log" "$ONLINE" upload --demo --vault "https://localhost:$srv_port" \
    --cacert "$t/tls.crt" --name "$name" --token-file "$t/token" "$byok" >"$t/tls.out" 2>"$t/tls.err"
st=$?
[ "$st" -eq 0 ] && grep -qx "Result: SUCCESS" "$t/tls.out" && [ ! -e "$t/online-keys.log" ] &&
    grep -q "ignoring SSLKEYLOGFILE" "$t/tls.err" && ok ||
    fail "https upload with SSLKEYLOGFILE: exit $st, key log $(ls -l "$t/online-keys.log" 2>&1): $(cat "$t/tls.out" "$t/tls.err")"
# The control: curl, on the same libcurl and OpenSSL, does write the key log for the same server.
if command -v curl >/dev/null; then
    SSLKEYLOGFILE="$t/curl-keys.log" curl -s -o /dev/null --cacert "$t/tls.crt" \
        -H "Authorization: Bearer x" "https://localhost:$srv_port/keys/$name?api-version=7.4"
    grep -q "CLIENT_HANDSHAKE_TRAFFIC_SECRET\|CLIENT_RANDOM" "$t/curl-keys.log" 2>/dev/null && ok ||
        fail "the control: curl wrote no key log with SSLKEYLOGFILE, so the test above proves nothing"
else
    echo "note: no curl program, the SSLKEYLOGFILE control is not run"
fi
stop_server

# An OpenSSL configuration that makes OpenSSL fail (a provider that does not exist, with config
# diagnostics on): openssl fails on it, keytransfer-online never reads it.
cat >"$t/bad-openssl.cnf" <<'EOF'
config_diagnostics = 1
openssl_conf = conf
[conf]
providers = providers
[providers]
nosuch = nosuch
[nosuch]
module = /nonexistent/nosuch-provider.so
activate = 1
EOF
printf 'abc' >"$t/abc.txt"
if OPENSSL_CONF="$t/bad-openssl.cnf" openssl dgst -sha256 "$t/abc.txt" >/dev/null 2>&1; then
    fail "the control: openssl accepts $t/bad-openssl.cnf, so the test below proves nothing"
else
    ok
fi
OPENSSL_CONF="$t/bad-openssl.cnf" "$ONLINE" hash "$t/abc.txt" \
    --expect BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD >"$t/conf.out" 2>"$t/conf.err"
st=$?
[ "$st" -eq 0 ] && grep -q "ignoring OPENSSL_CONF" "$t/conf.err" && ok ||
    fail "hash with a broken OPENSSL_CONF: exit $st: $(cat "$t/conf.out" "$t/conf.err")"
# The trust-store variables are removed without a word (images set them to the system's store).
SSL_CERT_FILE=/dev/null CURL_CA_BUNDLE=/dev/null "$ONLINE" hash "$t/abc.txt" >/dev/null 2>"$t/quiet.err"
[ ! -s "$t/quiet.err" ] && ok || fail "SSL_CERT_FILE is warned about: $(cat "$t/quiet.err")"

finish
