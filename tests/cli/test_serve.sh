#!/usr/bin/env bash
# test_serve.sh - `keytransfer-cloud serve` under a slow-client attack from loopback
# (ten connections trickling one header byte a second used to reset every honest request).
# A Python stdlib client keeps 40 connections trickling their headers a byte a second (more than
# the 32 the server serves at once; each one the server closes is opened again while the honest
# requests run) and 2 that send their headers at once and then trickle a body. Meanwhile it
# imports a .byok (PUT) and reads it back (GET) six times. Every honest request must be answered
# 200, and every trickling connection must be closed by the server: the headers' and the body's
# deadlines are absolute, so the bytes that reset an idle time-out do not save them. Everything is
# asserted by counts, not by times; the whole test takes about 15 s.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLOUD=${KT_CLOUD:?KT_CLOUD must name the keytransfer-cloud program}
PY=python3
command -v "$PY" >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }

t=$(mktemp -d /tmp/kt-cli-serve.XXXXXX)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    rm -rf "$t"
}
trap cleanup EXIT

# A cloud and a .byok made for it: the offline steps of the demo.
if ! KT_BIN=$KT KT_CLOUD=$CLOUD bash "$KT_SRC/scripts/demo-offline.sh" "$t/demo" \
    >"$t/offline.log" 2>&1; then
    fail "scripts/demo-offline.sh: $(tail -n 30 "$t/offline.log")"
    finish
    exit 1
fi
byok="$t/demo/usb/TransferPackage-ContosoFirstHSMkey.byok"
printf 'slow-client-test-token-0123456789\n' >"$t/token"

# --- option checks ---------------------------------------------------------------------------
for bad in "--max-connections 0" "--max-connections 257" "--header-timeout 0" \
    "--body-timeout 3601" "--body-timeout 2s" "--header-timeout -1"; do
    # shellcheck disable=SC2086
    expect 2 "serve $bad" "$CLOUD" serve --state "$t/demo/cloud" $bad
done

# --- the attack ------------------------------------------------------------------------------
"$CLOUD" serve --state "$t/demo/cloud" --listen 127.0.0.1:0 --token-file "$t/token" \
    --body-timeout 3 >"$t/srv.out" 2>"$t/srv.log" &
srv_pid=$!
url=
for _ in $(seq 200); do
    url=$(awk '$1 == "url" { print $2 }' "$t/srv.out")
    [ -n "$url" ] && break
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$url" ] || { fail "serve did not start: $(cat "$t/srv.log")"; finish; exit 1; }

"$PY" - "$url" "$t/token" "$byok" >"$t/attack.json" 2>"$t/attack.err" <<'EOF'
import base64, json, socket, sys, time, urllib.error, urllib.parse, urllib.request

url, token, byok = sys.argv[1], open(sys.argv[2]).read().strip(), open(sys.argv[3], "rb").read()
addr = urllib.parse.urlsplit(url)
host, port = addr.hostname, addr.port
HEADER_SLOW, BODY_SLOW, HONEST = 80, 2, 6
# A request whose headers never end: one byte of it a second.
HEAD = b"GET /keys/x?api-version=7.4 HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 4096
# A request whose headers come at once, and whose body trickles.
BODY_HEAD = (
    "PUT /keys/slowbody?api-version=7.4 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
    "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n" % token
).encode()


class Trickler:
    def __init__(self, body):
        self.body, self.pos, self.closed = body, 0, False
        self.sock = socket.create_connection((host, port))
        if body:
            self.sock.sendall(BODY_HEAD)
        self.sock.setblocking(False)

    def step(self):
        """One byte more; notes whether the server has closed the connection."""
        if self.closed:
            return
        try:
            self.sock.send(b"{" if self.body else HEAD[self.pos : self.pos + 1])
            self.pos += 1
        except OSError:
            self.closed = True
        try:
            if self.sock.recv(4096) == b"":
                self.closed = True
        except BlockingIOError:
            pass
        except OSError:
            self.closed = True


def honest(method, name):
    body = None
    if method == "PUT":
        hsm = base64.urlsafe_b64encode(byok).rstrip(b"=").decode()
        body = json.dumps({"key": {"kty": "RSA-HSM", "key_hsm": hsm}}).encode()
    req = urllib.request.Request(
        url + "/keys/" + name + "?api-version=7.4", data=body, method=method,
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(req, timeout=20).status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return repr(e)


heads = [Trickler(False) for _ in range(HEADER_SLOW)]
bodies = [Trickler(True) for _ in range(BODY_SLOW)]
opened = len(heads)
for t in heads + bodies:
    t.step()
answers = []
for i in range(HONEST):
    for method in ("PUT", "GET"):
        answers.append(honest(method, "slowtest%d" % i))
        # Between two honest requests: every trickler one byte on, and each one the server
        # has closed opened again, so the attack stays at full strength throughout.
        for t in heads + bodies:
            t.step()
        for j, t in enumerate(heads):
            if t.closed:
                t.sock.close()
                heads[j] = Trickler(False)
                opened += 1
                heads[j].step()
closed_before = opened - sum(1 for t in heads if not t.closed)
# The attack stops being renewed; every trickler left keeps going until the server ends it
# (at most 20 rounds of a second: well past the 5 s header and 3 s body deadlines).
rounds = 0
while rounds < 20 and not all(t.closed for t in heads + bodies):
    rounds += 1
    for t in heads + bodies:
        t.step()
    time.sleep(1)
print(json.dumps({
    "answers": answers,
    "header_tricklers_opened": opened,
    "header_tricklers_closed": opened - sum(1 for t in heads if not t.closed),
    "closed_while_honest_requests_ran": closed_before,
    "body_tricklers_closed": sum(1 for t in bodies if t.closed),
    "bytes_sent_by_longest_header_trickler": max(t.pos for t in heads),
}))
EOF
[ $? -eq 0 ] || fail "the attack client failed: $(cat "$t/attack.err")"
echo "attack: $(cat "$t/attack.json")"
get() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))$1)" "$t/attack.json"; }
answers=$(get '["answers"]')
[ "$answers" = "[200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]" ] && ok ||
    fail "honest requests during the attack were not all answered 200: $answers"
opened=$(get '["header_tricklers_opened"]')
[ "$opened" -gt 80 ] && ok ||
    fail "no header trickler was closed (and opened again) while the honest requests ran"
[ "$(get '["header_tricklers_closed"]')" = "$opened" ] && ok ||
    fail "the server left header tricklers open: $(cat "$t/attack.json")"
[ "$(get '["body_tricklers_closed"]')" = 2 ] && ok ||
    fail "the server left body tricklers open: $(cat "$t/attack.json")"
# Each cause of closing was seen by the server, and said so.
for why in "the request headers did not arrive within 5 s" \
    "over 32 connections, the oldest one still sending its headers goes" \
    "the request did not complete within 3 s of its headers"; do
    grep -qF "connection closed: $why" "$t/srv.log" && ok || fail "serve never logged '$why'"
done
[ "$(grep -c ' -> 200$' "$t/srv.log")" = 12 ] && ok ||
    fail "serve did not log the 12 honest answers: $(grep -- ' -> ' "$t/srv.log")"

# After the attack the server still serves, and stops cleanly.
kill -0 "$srv_pid" 2>/dev/null && ok || fail "serve died under the attack: $(tail "$t/srv.log")"
status=$("$PY" - "$url" "$t/token" <<'EOF'
import sys, urllib.request
token = open(sys.argv[2]).read().strip()
req = urllib.request.Request(sys.argv[1] + "/keys/slowtest0?api-version=7.4",
                             headers={"Authorization": "Bearer " + token})
print(urllib.request.urlopen(req, timeout=20).status)
EOF
)
[ "$status" = 200 ] && ok || fail "GET after the attack: $status"
kill -TERM "$srv_pid"
wait "$srv_pid"
st=$?
srv_pid=
[ "$st" -eq 0 ] && ok || fail "serve on SIGTERM: exit $st: $(tail -n 3 "$t/srv.log")"

# Every --option in serve --help is in the man page.
for o in $("$CLOUD" serve --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "${o//-/\\-}" "$KT_SRC/docs/man/keytransfer-cloud.1" && ok ||
        fail "serve $o is not in keytransfer-cloud(1)"
done
finish
