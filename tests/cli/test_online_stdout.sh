#!/usr/bin/env bash
# test_online_stdout.sh - every keytransfer-online command that prints, with its standard output
# on a full device (>/dev/full): exit status 4 and a message on stderr, never a silent success.
# upload finds it out before it sends anything: the server counts no request. Each command is
# first run with a working stdout, so a failure here is the full device and not the command.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}
PY=/usr/bin/python3

if [ ! -w /dev/full ]; then
    echo "SKIP: no /dev/full on this machine"
    exit 77
fi
t=$(mktemp -d /tmp/kt-cli-online-stdout.XXXXXX)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    rm -rf "$t"
}
trap cleanup EXIT

demo="$t/demo"
if ! KT_BIN=$KT KT_CLOUD=$CLOUD bash "$KT_SRC/scripts/demo-offline.sh" "$demo" >"$t/offline.log" 2>&1; then
    fail "scripts/demo-offline.sh: $(tail -n 30 "$t/offline.log")"
    finish
    exit 1
fi
usb="$demo/usb"
byok="$usb/TransferPackage-ContosoFirstHSMkey.byok"
zip="$demo/download/KeyTransfer-BYOK-Tools-NA.zip"
table="$demo/download/published-hashes.txt"
printf 'ktv1-test-token-0123456789abcdef\n' >"$t/token"
chmod 600 "$t/token"

# A server that answers every import (tests/online/kv_misbehave.py) and counts the requests.
openssl pkey -pubin -in "$demo/contosokey.pub" -outform DER -out "$t/key.der" 2>/dev/null
host=$($PY -c 'import base64,json,sys
m = json.load(open(sys.argv[1])); p = m["payload"]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["kek"]["kid"].split("/")[2])' \
    "$usb/TransferPackage-ContosoFirstHSMkey.manifest.json")
$PY "$KT_SRC/tests/online/kv_misbehave.py" --port-file "$t/port" --log "$t/requests" \
    --spki "$t/key.der" --vault-host "$host" --put ok 2>"$t/server.err" &
srv_pid=$!
for _ in $(seq 200); do [ -s "$t/port" ] && break; sleep 0.05; done
vault="http://127.0.0.1:$(cat "$t/port" 2>/dev/null)"

# full TAG COMMAND...: runs COMMAND with a working stdout (exit 0), then with stdout on
# /dev/full: exit 4 and a message that names standard output.
full() {
    local tag=$1
    shift
    "$@" >/dev/null 2>"$t/$tag.ok.err" </dev/null
    local st=$?
    if [ "$st" -ne 0 ]; then
        fail "$tag: exit $st with a working stdout: $(cat "$t/$tag.ok.err")"
        return
    fi
    "$@" >/dev/full 2>"$t/$tag.err" </dev/null
    st=$?
    if [ "$st" -eq 4 ] && grep -q "standard output" "$t/$tag.err"; then
        ok
    else
        fail "$tag >/dev/full: exit $st, expected 4 with a message: $(cat "$t/$tag.err")"
    fi
}

full "--help" "$ONLINE" --help
full "--version" "$ONLINE" --version
full "hash --help" "$ONLINE" hash --help
full "check --help" "$ONLINE" check --help
full "upload --help" "$ONLINE" upload --help
full "hash" "$ONLINE" hash "$zip"
full "hash --table" "$ONLINE" hash "$zip" --table "$table"
full "hash --expect" "$ONLINE" hash "$zip" --expect "$(sha256sum "$zip" | cut -d' ' -f1)"
full "check" "$ONLINE" check --demo "$usb"
full "check --json" "$ONLINE" check --demo "$usb" --json

# upload: the working run imports once; the run on a full stdout sends nothing.
full "upload" "$ONLINE" upload --demo --vault "$vault" --name ContosoFirstHSMkey --token-file "$t/token" "$byok"
n=$(grep -c '^PUT ' "$t/requests")
[ "$n" -eq 1 ] && ok || fail "upload with stdout on /dev/full sent a request ($n PUT in all)"
grep -q "nothing was sent" "$t/upload.err" && ok || fail "upload: $(cat "$t/upload.err")"

finish
