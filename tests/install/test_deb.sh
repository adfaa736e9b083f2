#!/usr/bin/env bash
# test_deb.sh DEB - the Debian package as a user gets it: `apt-get install ./keytransfer_*.deb`
# on this machine, then the installed commands: `man keytransfer` renders, the seed-name
# commands answer --help with their own usage, bash completion knows the commands, the whole
# demo (offline and online) runs from /usr/bin, and `apt-get remove` leaves no file of the
# package behind. Needs root (run.sh test runs it as CI does); refuses to run over an existing
# installation of keytransfer, which it would remove.
set -uo pipefail
deb=${1:?usage: $0 keytransfer_VERSION_ARCH.deb}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
passed=0
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=$((failed + 1))
}
ok() { passed=$((passed + 1)); }

[ "$(id -u)" -eq 0 ] || { echo "SKIP: installing a package needs root"; exit 77; }
if dpkg-query -W -f='${Status}' keytransfer 2>/dev/null | grep -q "install ok installed"; then
    echo "test_deb.sh: keytransfer is installed already; not touching it" >&2
    exit 2
fi
t=$(mktemp -d /tmp/kt-deb.XXXXXX)
trap 'rm -rf "$t"' EXIT
case $deb in /*) ;; *) deb="$PWD/$deb" ;; esac

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$t/install.log" 2>&1 && ok ||
    fail "apt-get install $deb: $(tail -5 "$t/install.log")"
dpkg -L keytransfer >"$t/files" || fail "dpkg -L keytransfer"

# The commands, the man pages, the seed names, the completion.
for c in keytransfer keytransfer-online keytransfer-cloud new-world generatekey KeyTransferRemote \
    verifykeypackage.py; do
    [ "$(command -v "$c")" = "/usr/bin/$c" ] && ok || fail "$c is not /usr/bin/$c"
done
for m in keytransfer keytransfer-online keytransfer-cloud verifykeypackage; do
    MANWIDTH=80 man -P cat "$m" 2>/dev/null | grep -q "EXIT STATUS" && ok || fail "man $m does not render"
done
new-world --help | grep -q "^Usage: keytransfer new-world --initialize" && ok ||
    fail "new-world --help: $(new-world --help 2>&1 | head -2)"
KeyTransferRemote --help | grep -q "^Usage: keytransfer KeyTransferRemote -ModifyAcls" && ok ||
    fail "KeyTransferRemote --help: $(KeyTransferRemote --help 2>&1 | head -2)"
generatekey --help | grep -q "^Usage: keytransfer generatekey --generate" && ok || fail "generatekey --help"
words=$(bash -c '. /usr/share/bash-completion/completions/keytransfer
    COMP_WORDS=(keytransfer wo); COMP_CWORD=1; _keytransfer_complete; echo "${COMPREPLY[*]}"
    COMP_WORDS=(keytransfer world new --acs); COMP_CWORD=3; _keytransfer_complete
    echo "${COMPREPLY[*]}"')
grep -q "^world$" <<<"$words" && grep -q "^--acs-quorum$" <<<"$words" && ok ||
    fail "bash completion: $words"

# The whole transfer from the installed commands.
KT_BIN=/usr/bin/keytransfer KT_CLOUD=/usr/bin/keytransfer-cloud \
    "$here/scripts/demo-offline.sh" "$t/demo" >"$t/demo.log" 2>&1 && ok ||
    fail "the offline demo from /usr/bin: $(tail -5 "$t/demo.log")"
KT_BIN=/usr/bin/keytransfer KT_CLOUD=/usr/bin/keytransfer-cloud KT_ONLINE=/usr/bin/keytransfer-online \
    "$here/scripts/demo-online.sh" "$t/demo" >"$t/online.log" 2>&1 && grep -q "Result: SUCCESS" "$t/online.log" &&
    ok || fail "the online demo from /usr/bin: $(tail -5 "$t/online.log")"

# Removal leaves nothing of ours.
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq keytransfer >"$t/remove.log" 2>&1 && ok ||
    fail "apt-get remove: $(tail -5 "$t/remove.log")"
left=0
while IFS= read -r f; do
    if [ ! -d "$f" ] && { [ -e "$f" ] || [ -L "$f" ]; }; then
        fail "left behind: $f"
        left=$((left + 1))
    fi
done <"$t/files"
[ "$left" -eq 0 ] && ok
for d in /usr/share/doc/keytransfer /usr/share/keytransfer; do
    [ ! -e "$d" ] && ok || fail "left behind: $d"
done
dpkg-query -W -f='${Status}' keytransfer 2>/dev/null | grep -q "install ok installed" &&
    fail "keytransfer still installed" || ok

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
