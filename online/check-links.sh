#!/bin/sh
# check-links.sh PROGRAM - fails when PROGRAM holds code of world/, kek/, verify/ or the offline
# transfer step (symbols world_, acs_, shamir_, kek_, verify_, transfer_). keytransfer-online must
# hold none of it (docs/design.md §2): it cannot touch key custody by construction. Run by ctest on
# keytransfer-online, and on keytransfer-cloud to show that the check can fail.
set -u
prog=${1:?usage: check-links.sh PROGRAM}
syms=$(nm "$prog") || { echo "check-links.sh: nm cannot read $prog" >&2; exit 2; }
[ -n "$syms" ] || { echo "check-links.sh: $prog has no symbols (stripped?)" >&2; exit 2; }
bad=$(printf '%s\n' "$syms" | grep -E ' [TDBRWV] (world|acs|shamir|kek|verify|transfer)_' | head -n 20)
if [ -n "$bad" ]; then
    echo "check-links.sh: $prog holds key custody code:" >&2
    printf '%s\n' "$bad" >&2
    exit 1
fi
echo "$prog: no world_, acs_, shamir_, kek_, verify_ or transfer_ symbols"
