#!/usr/bin/env bash
# test_trust.sh - nobody fooled: fail-closed trust defaults and the informed quorum, as an attacker and the card holders
# meet it:
#   - fail closed: KEK packages forged with the committed DEMO root key for a KEK whose private
#     key this test holds (tests/cli/forge_kek_package.py, python3-cryptography only) are refused
#     by modify-acls and package without --demo and written nothing; with --demo they go through,
#     and the .byok then opens with the plain openssl command to the custodian's key - which is
#     why the default refuses them; the manifest names the DEMO root; keytransfer-online check
#     and upload refuse that manifest without --demo, before anything is sent;
#   - a build with a real root hash (keytransfer-realroot and keytransfer-online-realroot, built
#     with the test vendor root of tests/transfer/realroot/) refuses the DEMO packages and
#     manifests even with --demo, and takes its own root's packages without it, naming the vendor
#     in the manifest;
#   - the kid is bound: the same KEK under another kid (attested by a second forged package, or
#     given with --kek-pem) is refused by package, naming both kids;
#   - an informed quorum: modify-acls at a pseudo-terminal shows the key (ident, type, public key
#     SHA-256), the KEK (kid, SHA-256, attested by which root) and the target world and region
#     before any PIN prompt; "no" stops it with nothing written, "yes" goes on to the cards; a PIN
#     file does not stand for the approval; with no terminal and no --yes it refuses (exit 2).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ONLINE=${KT_ONLINE:?KT_ONLINE must name keytransfer-online}
KTR=${KT_BIN_REALROOT:?KT_BIN_REALROOT must name keytransfer-realroot}
ONLINER=${KT_ONLINE_REALROOT:?KT_ONLINE_REALROOT must name keytransfer-online-realroot}
PY=/usr/bin/python3

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
command -v setsid >/dev/null || { echo "SKIP: no setsid (util-linux)"; exit 77; }
[ -c /dev/ptmx ] || { echo "SKIP: no pseudo-terminals (/dev/ptmx)"; exit 77; }
$PY -c 'import cryptography, pty' 2>/dev/null || { echo "SKIP: no python3-cryptography"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-trust.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
local_dir="$t/kmdata/local"
forge="$KT_SRC/tests/cli/forge_kek_package.py"
demo_cert="$KT_SRC/packages/demo-vendor/root-cert.pem"
demo_key="$KT_SRC/packages/demo-vendor/root-key.pem"
test_cert="$KT_SRC/tests/transfer/realroot/root-cert.pem"
test_key="$KT_SRC/tests/transfer/realroot/root-key.pem"
KID=https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef
ATTACKER_KID=https://attacker.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef
DEMO_ROOT=151c67afec1b75af01c18dfbbf379286cb890cf9b58999a6cc546ebf8991585a
spki_sha() { openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
payload() { # payload MANIFEST EXPR: EXPR over the manifest's decoded payload m
    $PY -c "import base64,json,sys; j=json.load(open(sys.argv[1])); p=j['payload'];
m=json.loads(base64.urlsafe_b64decode(p+'='*(-len(p)%4))); print($2)" "$1"
}
no_file() { if [ -e "$2" ]; then fail "$1: $2 was written"; else ok; fi; }

# --- a 2-of-3 world, a key, and the forger's KEK -------------------------------------------------
printf 'trust-pin-card-1\ntrust-pin-card-2\ntrust-pin-card-3\n' >"$t/pins"
printf 'trust-pin-card-1\ntrust-pin-card-3\n' >"$t/quorum"
chmod 600 "$t/pins" "$t/quorum"
expect 0 "world new 2/3" "$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$t/pins"
c1=$(echo "$t"/kmdata/cards/card_*_1)
c3=$(echo "$t"/kmdata/cards/card_*_3)
cards=(--card "$c1" --card "$c3" --pin-file "$t/quorum")
for id in victim twin kidkey prompted realkey; do
    "$KT" key generate --type RSA --size 2048 --ident "$id" >/dev/null 2>"$t/err" ||
        fail "key generate $id: $(cat "$t/err")"
done
"$KT" key public victim --out "$t/victim.pub" >/dev/null 2>&1 || fail "key public victim"
victim_fp=$(spki_sha "$t/victim.pub")

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$t/evil.key" 2>/dev/null
openssl pkey -in "$t/evil.key" -pubout -out "$t/evil.pub"
evil_fp=$(spki_sha "$t/evil.pub")
world_hash=$($PY "$forge" "$demo_cert" "$demo_key" "$t/evil.pub" "$KID" "$t/kek-demo" "$t/world-demo") ||
    fail "cannot forge DEMO packages"
$PY "$forge" "$demo_cert" "$demo_key" "$t/evil.pub" "$ATTACKER_KID" "$t/kek-demo-attacker" \
    "$t/world-demo-attacker" >/dev/null || fail "cannot forge the second DEMO package"
$PY "$forge" "$test_cert" "$test_key" "$t/evil.pub" "$KID" "$t/kek-test" "$t/world-test" >/dev/null ||
    fail "cannot forge packages under the test vendor root"
demo=(-k "$t/kek-demo" -w "$t/world-demo")
# They verify: the verdict alone proves nothing with the DEMO root.
expect 0 "keytransfer verify accepts the forged DEMO packages" "$KT" verify "${demo[@]}"
expect_err "DEMO" "$KT" verify "${demo[@]}"

# --- fail closed: modify-acls and package without --demo ----------------------------------------
expect 1 "modify-acls, DEMO-forged KEK, no --demo" "$KT" modify-acls --ident victim "${demo[@]}" \
    "${cards[@]}" --yes
expect_err "attested by the DEMO vendor root" "$KT" modify-acls --ident victim "${demo[@]}" \
    "${cards[@]}" --yes
expect_err "--demo" "$KT" modify-acls --ident victim "${demo[@]}" "${cards[@]}" --yes
no_file "modify-acls without --demo" "$local_dir/key_xferacld_victim"
# The positive twin: as a demo, it goes through (and says what it is).
expect 0 "modify-acls --demo" "$KT" modify-acls --ident victim "${demo[@]}" --demo "${cards[@]}" --yes
"$KT" modify-acls --ident twin "${demo[@]}" --demo "${cards[@]}" --yes >"$t/ma.out" 2>"$t/ma.err" ||
    fail "modify-acls --demo twin: $(cat "$t/ma.err")"
grep -q "the DEMO root" "$t/ma.err" && grep -q "WARNING: its private key is public" "$t/ma.err" &&
    ok || fail "the --yes summary does not name the DEMO root: $(cat "$t/ma.err")"
grep -q "attested by the DEMO root" "$t/ma.out" && ok || fail "modify-acls output: $(cat "$t/ma.out")"

mkdir -m 700 "$t/usb" "$t/refused"
expect 1 "package, DEMO-forged KEK, no --demo" "$KT" package --ident victim "${demo[@]}" \
    --subscription s --name Victim --out "$t/refused"
expect_err "attested by the DEMO vendor root" "$KT" package --ident victim "${demo[@]}" \
    --subscription s --name Victim --out "$t/refused"
[ -z "$(ls "$t/refused")" ] && ok || fail "package without --demo wrote $(ls "$t/refused")"
expect 0 "package --demo" "$KT" package --ident victim "${demo[@]}" --demo --subscription s \
    --name Victim --out "$t/usb"
manifest="$t/usb/TransferPackage-Victim.manifest.json"
[ "$(payload "$manifest" 'm["schema"], m["kek"]["attestation"]')" = \
    "keytransfer-manifest/2 {'root': 'DEMO', 'root_sha256': '$DEMO_ROOT'}" ] && ok ||
    fail "the manifest does not name the DEMO root: $(payload "$manifest" 'm["kek"]')"
# Why the default refuses: the forger opens the .byok with the openssl command alone.
$PY -c 'import base64,json,sys; c=json.load(open(sys.argv[1]))["ciphertext"];
sys.stdout.buffer.write(base64.urlsafe_b64decode(c+"="*(-len(c)%4)))' \
    "$t/usb/TransferPackage-Victim.byok" >"$t/ct.bin"
head -c 256 "$t/ct.bin" >"$t/rsa.bin"
tail -c +257 "$t/ct.bin" >"$t/kwp.bin"
if openssl pkeyutl -decrypt -inkey "$t/evil.key" -in "$t/rsa.bin" -out "$t/K" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 &&
    openssl enc -d -id-aes256-wrap-pad -iv A65959A6 -K "$(od -An -tx1 "$t/K" | tr -d ' \n')" \
        -in "$t/kwp.bin" -out "$t/stolen.der" &&
    [ "$(openssl pkey -inform DER -in "$t/stolen.der" -pubout -outform DER | sha256sum | cut -d' ' -f1)" = \
        "$victim_fp" ]; then
    ok
else
    fail "the forged KEK's private key does not open the --demo package (the test proves nothing)"
fi

# --- the online side: a DEMO manifest needs --demo -----------------------------------------------
expect 1 "check, DEMO manifest, no --demo" "$ONLINE" check "$t/usb"
out=$("$ONLINE" check "$t/usb" 2>&1)
grep -q "^FAIL  TransferPackage-Victim.manifest.json" <<<"$out" &&
    grep -q "attested by the DEMO vendor root" <<<"$out" && grep -qx "Result: FAILURE" <<<"$out" &&
    ok || fail "check without --demo: $out"
expect 0 "check --demo" "$ONLINE" check --demo "$t/usb"
expect_out "attested by the DEMO root" "$ONLINE" check --demo "$t/usb"
printf 'ktv1-test-token-0123456789abcdef\n' >"$t/token"
chmod 600 "$t/token"
closed=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# Without --demo: refused before any connection (exit 1). With it: past every check, to the
# network, where the closed port is an I/O error (exit 4) - so the refusal was the DEMO check.
expect 1 "upload, DEMO manifest, no --demo" "$ONLINE" upload --vault "http://127.0.0.1:$closed" \
    --name Victim --token-file "$t/token" "$t/usb/TransferPackage-Victim.byok"
expect_err "attested by the DEMO vendor root" "$ONLINE" upload --vault "http://127.0.0.1:$closed" \
    --name Victim --token-file "$t/token" "$t/usb/TransferPackage-Victim.byok"
expect 4 "upload --demo gets as far as the network" "$ONLINE" upload --demo \
    --vault "http://127.0.0.1:$closed" --name Victim --token-file "$t/token" \
    "$t/usb/TransferPackage-Victim.byok"

# --- a build with a real root hash ---------------------------------------------------------------
test_root=$(openssl x509 -in "$test_cert" -pubkey -noout | openssl pkey -pubin -outform DER |
    sha256sum | cut -d' ' -f1)
groups=$(sed -E 's/(.{8})/\1 /g; s/ $//' <<<"${test_root^^}")
expect_out "$groups" "$KTR" verify -k "$t/kek-test" -w "$t/world-test"
expect 1 "real-root build: verify refuses the DEMO packages" "$KTR" verify "${demo[@]}"
expect 1 "real-root build: modify-acls, DEMO packages" "$KTR" modify-acls --ident realkey \
    "${demo[@]}" "${cards[@]}" --yes
expect 1 "real-root build: modify-acls, DEMO packages, --demo" "$KTR" modify-acls --ident realkey \
    "${demo[@]}" --demo "${cards[@]}" --yes
expect_err "trusts only the vendor root" "$KTR" modify-acls --ident realkey "${demo[@]}" --demo \
    "${cards[@]}" --yes
no_file "real-root build, DEMO packages" "$local_dir/key_xferacld_realkey"
expect 1 "real-root build: package, DEMO packages, --demo" "$KTR" package --ident victim \
    "${demo[@]}" --demo --subscription s --name RealDemo --out "$t/refused"
expect 1 "real-root build: package, DEMO packages" "$KTR" package --ident victim \
    "${demo[@]}" --subscription s --name RealDemo --out "$t/refused"
[ -z "$(ls "$t/refused")" ] && ok || fail "the real-root build wrote $(ls "$t/refused")"
expect 1 "real-root build: check, DEMO manifest, --demo" "$ONLINER" check --demo "$t/usb"
expect 1 "real-root build: check, DEMO manifest" "$ONLINER" check "$t/usb"
expect 1 "real-root build: upload, DEMO manifest, --demo" "$ONLINER" upload --demo \
    --vault "http://127.0.0.1:$closed" --name Victim --token-file "$t/token" \
    "$t/usb/TransferPackage-Victim.byok"
# Its own root's packages: taken without --demo, the vendor named in the manifest; the default
# (DEMO) build refuses them (another root).
expect 1 "the DEMO build refuses the test vendor's packages" "$KT" modify-acls --ident realkey \
    -k "$t/kek-test" -w "$t/world-test" "${cards[@]}" --yes
expect 0 "real-root build: modify-acls, its own root" "$KTR" modify-acls --ident realkey \
    -k "$t/kek-test" -w "$t/world-test" "${cards[@]}" --yes
mkdir -m 700 "$t/usb-real"
expect 0 "real-root build: package, its own root" "$KTR" package --ident realkey \
    -k "$t/kek-test" -w "$t/world-test" --subscription s --name RealKey --out "$t/usb-real"
[ "$(payload "$t/usb-real/TransferPackage-RealKey.manifest.json" 'm["kek"]["attestation"]')" = \
    "{'root': 'keytransfer test vendor', 'root_sha256': '$test_root'}" ] && ok ||
    fail "the manifest does not name the test vendor root: $(payload \
        "$t/usb-real/TransferPackage-RealKey.manifest.json" 'm["kek"]')"
expect 0 "real-root build: check, its own root" "$ONLINER" check "$t/usb-real"
expect_out 'attested by vendor root keytransfer test vendor' "$ONLINER" check "$t/usb-real"

# --- the kid is bound ----------------------------------------------------------------------------
expect 1 "package: the same KEK under another kid (attested)" "$KT" package --ident victim \
    -k "$t/kek-demo-attacker" -w "$t/world-demo-attacker" --demo --subscription s --name Stolen \
    --out "$t/refused"
"$KT" package --ident victim -k "$t/kek-demo-attacker" -w "$t/world-demo-attacker" --demo \
    --subscription s --name Stolen --out "$t/refused" 2>"$t/kid.err" >/dev/null
grep -qF "$KID" "$t/kid.err" && grep -qF "$ATTACKER_KID" "$t/kid.err" && ok ||
    fail "the refusal does not name both kids: $(cat "$t/kid.err")"
un=(--kek-pem "$t/evil.pub" --accept-unattested-kek "$evil_fp")
expect 0 "modify-acls, unattested, --kid" "$KT" modify-acls --ident kidkey "${un[@]}" --kid "$KID" \
    "${cards[@]}" --yes
expect 1 "package: the same unattested KEK under another kid" "$KT" package --ident kidkey \
    "${un[@]}" --kid "$ATTACKER_KID" --subscription s --name Stolen2 --out "$t/refused"
expect_err "$ATTACKER_KID" "$KT" package --ident kidkey "${un[@]}" --kid "$ATTACKER_KID" \
    --subscription s --name Stolen2 --out "$t/refused"
expect 1 "package: that KEK without its kid" "$KT" package --ident kidkey "${un[@]}" --target aws \
    --name Stolen3 --out "$t/refused"
[ -z "$(ls "$t/refused")" ] && ok || fail "a refused package wrote $(ls "$t/refused")"
expect 0 "package: the kid the cards approved" "$KT" package --ident kidkey "${un[@]}" --kid "$KID" \
    --subscription s --name KidKey --out "$t/usb"

# --- no terminal, no --yes: refused, nothing written ---------------------------------------------
setsid -w "$KT" modify-acls --ident prompted "${demo[@]}" --demo "${cards[@]}" \
    >"$t/nt.out" 2>"$t/nt.err" </dev/null
status=$?
[ "$status" = 2 ] && grep -q "no terminal" "$t/nt.err" && grep -q "$evil_fp" "$t/nt.err" && ok ||
    fail "no terminal, no --yes: exit $status: $(cat "$t/nt.err")"
no_file "no terminal, no --yes" "$local_dir/key_xferacld_prompted"

# --- an informed quorum, at a terminal -----------------------------------------------------------
"$KT" key show prompted --json >"$t/prompted.json" || fail "key show prompted"
key_hash=$(json "$t/prompted.json" 'd["key_hash"]')
$PY - "$KT" "$t" "$c1" "$c3" "$key_hash" "$evil_fp" "$KID" "$world_hash" <<'EOF' >"$t/pty.out" 2>&1
import os, pty, select, sys, time
kt, t, c1, c3, key_hash, kek_fp, kid, world = sys.argv[1:9]
bad = 0
def fail(msg):
    global bad
    bad += 1
    print("FAIL:", msg)

def run(extra):
    """Starts modify-acls on a new pseudo-terminal (its controlling terminal)."""
    argv = [kt, "modify-acls", "--ident", "prompted", "-k", t + "/kek-demo", "-w",
            t + "/world-demo", "--demo", "--card", c1, "--card", c3] + extra
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(kt, argv)
    return pid, fd

def read_until(fd, want, screen, timeout=60):
    """Reads the screen until want appears after what was read (or timeout); returns it all."""
    end = time.time() + timeout
    start = len(screen)
    while want not in screen[start:]:
        left = end - time.time()
        if left <= 0:
            return screen
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            return screen
        if not data:
            return screen
        screen += data.decode("utf-8", "replace")
    return screen

def finish(pid, fd, screen):
    screen = read_until(fd, "\0never\0", screen, timeout=30)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), screen

QUESTION = "Type yes to approve"
# 1. The summary comes first, complete, before any PIN prompt; "no" stops it.
pid, fd = run([])
screen = read_until(fd, QUESTION, "")
if QUESTION not in screen:
    fail("no approval question on the terminal: %r" % screen)
if "PIN" in screen:
    fail("a PIN was asked before the approval: %r" % screen)
for what, text in (("the key", "simple/prompted"), ("its type", "RSA-2048"),
                   ("its public key SHA-256", key_hash), ("the kid", kid),
                   ("the KEK SHA-256", kek_fp), ("the root", "attested by   the DEMO root"),
                   ("the target world", world), ("the region", "region NA"),
                   ("the new ACL", "ExportWrapped(kek=")):
    if text not in screen:
        fail("the approval summary lacks %s (%s): %r" % (what, text, screen))
os.write(fd, b"no\n")
code, screen = finish(pid, fd, screen)
if code != 1 or "not approved" not in screen or "PIN" in screen:
    fail("'no': exit %d: %r" % (code, screen))
if os.path.exists(t + "/kmdata/local/key_xferacld_prompted"):
    fail("'no' wrote the reduced key")

# 2. A PIN file does not stand for the approval: the question is asked all the same.
pid, fd = run(["--pin-file", t + "/quorum"])
screen = read_until(fd, QUESTION, "")
if QUESTION not in screen:
    fail("--pin-file at a terminal: no question: %r" % screen)
os.write(fd, b"nope\n")
code, screen = finish(pid, fd, screen)
if code != 1 or os.path.exists(t + "/kmdata/local/key_xferacld_prompted"):
    fail("--pin-file, 'nope': exit %d: %r" % (code, screen))

# 3. "yes" goes on to the cards, whose PINs are asked at the same terminal, after the summary.
pid, fd = run([])
screen = read_until(fd, QUESTION, "")
os.write(fd, b"yes\n")
screen = read_until(fd, "PIN for administrator card", screen)
if "PIN for administrator card" not in screen:
    fail("'yes' did not go on to the cards: %r" % screen)
elif screen.index(QUESTION) > screen.index("PIN for administrator card"):
    fail("the PIN prompt came before the approval: %r" % screen)
os.write(fd, b"trust-pin-card-1\n")
end = time.time() + 60
while screen.count("PIN for administrator card") < 2 and time.time() < end:
    screen = read_until(fd, "\0never\0", screen, timeout=0.2)
os.write(fd, b"trust-pin-card-3\n")
code, screen = finish(pid, fd, screen)
if code != 0 or "Result: SUCCESS" not in screen:
    fail("'yes' and two PINs: exit %d: %r" % (code, screen))
if not os.path.exists(t + "/kmdata/local/key_xferacld_prompted"):
    fail("'yes' did not write the reduced key")
for pin in ("trust-pin-card-1", "trust-pin-card-3"):
    if pin in screen:
        fail("a PIN was echoed: %r" % screen)
print("pty: %d failures" % bad)
sys.exit(1 if bad else 0)
EOF
[ $? = 0 ] && ok || fail "at a terminal: $(cat "$t/pty.out")"

finish
