#!/usr/bin/env python3
"""kv_misbehave.py - a Key Vault keys endpoint on loopback that misbehaves on purpose, for the
upload tests (tests/cli/test_online_upload.sh). Python 3 standard library only.

It serves PUT and GET /keys/NAME?api-version=7.4 and plays a script: --put and --get are lists
of actions separated by commas, one taken per request of that method (the last one repeats):

  PUT  ok          store the key, answer 200 with it
       NNN         answer status NNN with a Key Vault error body, store nothing
       NNN:RA      the same with a Retry-After header RA; "date+N" is an HTTP-date N s ahead
       NNN+store   store the key, then answer NNN (the import happened, the answer says not)
       reset       store the key, then reset the connection without an answer
       slow:S      store the key, wait S seconds, then answer 200 (after the client gave up)
       conflict    answer 409 Conflict, store nothing
  GET  ok          200 with the stored key, or 404 when nothing is stored
       other       200 with the --other-spki key under the name
       NNN, NNN:RA as for PUT

The key in a 200 is the one of --spki (SubjectPublicKeyInfo DER, RSA or EC P-256/384/521) as a
JWK, with kid https://VAULT/keys/NAME/VERSION, key_ops as the import asked (or --ops), and
attributes enabled true and exportable false (or --disabled, --exportable, --no-exportable).
--stored starts with the key stored. Every request is appended to --log as "METHOD PATH" before
it is answered, so a test counts what was sent. The chosen port goes to --port-file.
"""
import argparse
import base64
import email.utils
import http.server
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time


def der_read(buf, pos):
    """One DER TLV at pos: (tag, value, next position)."""
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    return tag, buf[pos:pos + length], pos + length


def der_children(value):
    out, pos = [], 0
    while pos < len(value):
        tag, v, pos = der_read(value, pos)
        out.append((tag, v))
    return out


RSA_OID = bytes.fromhex("2a864886f70d010101")
EC_OID = bytes.fromhex("2a8648ce3d0201")
CURVES = {
    bytes.fromhex("2a8648ce3d030107"): ("P-256", 32),
    bytes.fromhex("2b81040022"): ("P-384", 48),
    bytes.fromhex("2b81040023"): ("P-521", 66),
}


def b64u(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def jwk_of_spki(der):
    """The public JWK members of an RSA or EC SubjectPublicKeyInfo."""
    _, spki, _ = der_read(der, 0)
    (_, alg), (_, bits) = der_children(spki)
    parts = der_children(alg)
    key = bits[1:]  # the BIT STRING's unused-bits byte
    if parts[0][1] == RSA_OID:
        _, seq, _ = der_read(key, 0)
        (_, n), (_, e) = der_children(seq)
        return {"kty": "RSA-HSM", "n": b64u(n.lstrip(b"\0")), "e": b64u(e.lstrip(b"\0"))}
    if parts[0][1] == EC_OID:
        crv, size = CURVES[parts[1][1]]
        assert key[0] == 4, "an uncompressed point"
        return {"kty": "EC-HSM", "crv": crv, "x": b64u(key[1:1 + size]),
                "y": b64u(key[1 + size:1 + 2 * size])}
    raise SystemExit("kv_misbehave.py: not an RSA or EC key")


class Script:
    def __init__(self, text):
        self.actions = text.split(",")
        self.i = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            a = self.actions[min(self.i, len(self.actions) - 1)]
            self.i += 1
            return a


class State:
    def __init__(self, args):
        self.args = args
        self.key = jwk_of_spki(open(args.spki, "rb").read())
        self.other = jwk_of_spki(open(args.other_spki, "rb").read()) if args.other_spki else None
        self.put = Script(args.put)
        self.get = Script(args.get)
        self.stored = args.stored
        self.ops = args.ops.split(",") if args.ops else None
        self.asked_ops = None
        self.lock = threading.Lock()

    def answer(self, name, jwk):
        k = dict(jwk)
        default = (["sign", "verify"] if k["kty"].startswith("EC")
                   else ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"])
        k["key_ops"] = self.ops or self.asked_ops or default
        k["kid"] = "https://%s/keys/%s/%s" % (self.args.vault_host, name, "0f" * 16)
        attrs = {"enabled": not self.args.disabled, "created": 1795000000,
                 "updated": 1795000000, "recoveryLevel": "Recoverable+Purgeable"}
        if not self.args.no_exportable:
            attrs["exportable"] = self.args.exportable
        return {"key": k, "attributes": attrs}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self):
        st = self.server.state
        with st.lock:
            with open(st.args.log, "a") as f:
                f.write("%s %s\n" % (self.command, self.path))

    def name(self):
        path = self.path.split("?")[0]
        return path[len("/keys/"):] if path.startswith("/keys/") else ""

    def send(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for h, v in headers:
            self.send_header(h, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, action):
        status, _, ra = action.partition(":")
        status, _, _ = status.partition("+")
        headers = []
        if ra:
            if ra.startswith("date+"):
                ra = email.utils.formatdate(time.time() + int(ra[5:]), usegmt=True)
            headers.append(("Retry-After", ra))
        self.send(int(status), {"error": {"code": "Scripted",
                                          "message": "kv_misbehave.py answers %s" % action}},
                  headers)

    def do_PUT(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.record()
        action = st.put.next()
        name = self.name()
        if action in ("ok", "reset") or action.startswith("slow:") or action.endswith("+store"):
            st.stored = True
            st.asked_ops = body.get("key", {}).get("key_ops")
        if action == "ok":
            self.send(200, st.answer(name, st.key))
        elif action == "conflict":
            self.send(409, {"error": {"code": "Conflict",
                                      "message": "a key named %s exists" % name}})
        elif action == "reset":
            # SO_LINGER 0: close sends a TCP reset, the answer never leaves
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif action.startswith("slow:"):
            time.sleep(float(action[5:]))
            try:
                self.send(200, st.answer(name, st.key))
            except OSError:
                pass
        else:
            self.error(action)

    def do_GET(self):
        st = self.server.state
        self.record()
        action = st.get.next()
        name = self.name()
        if action == "ok":
            if st.stored:
                self.send(200, st.answer(name, st.key))
            else:
                self.send(404, {"error": {"code": "KeyNotFound",
                                          "message": "A key with (name/id) %s was not found" % name}})
        elif action == "other":
            self.send(200, st.answer(name, st.other))
        else:
            self.error(action)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that went away is part of the script


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--spki", required=True)
    ap.add_argument("--other-spki")
    ap.add_argument("--vault-host", required=True)
    ap.add_argument("--put", default="ok")
    ap.add_argument("--get", default="ok")
    ap.add_argument("--stored", action="store_true")
    ap.add_argument("--ops")
    ap.add_argument("--disabled", action="store_true")
    ap.add_argument("--exportable", action="store_true")
    ap.add_argument("--no-exportable", action="store_true", help="leave exportable out")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()

    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(args)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    open(args.log, "a").close()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
