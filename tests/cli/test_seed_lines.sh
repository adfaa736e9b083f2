#!/usr/bin/env bash
# test_seed_lines.sh - each command line of the nShield and Azure BYOK toolsets that the seed
# front takes (docs/design.md §1 and keytransfer(1) COMPATIBILITY), typed
# verbatim: no option added, the programs reached by the names the lines use (links named
# new-world, generatekey and KeyTransferRemote), every prompt answered at a pseudo-terminal
# (tests/cli/pty_drive.py): the new cards' PINs, the card paths KeyTransferRemote -ModifyAcls asks
# for, the approval and the cards' PINs. The packages are those of a vendor root a real build
# trusts (keytransfer-realroot and the test root of tests/transfer/realroot/, forged by
# tests/cli/forge_kek_package.py for a KEK this test holds), so no line needs --demo; the .byok
# the last line writes is opened with that KEK by python3-cryptography and holds the key
# generatekey made.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
KTR=${KT_BIN_REALROOT:?KT_BIN_REALROOT must name keytransfer-realroot}
PY=/usr/bin/python3

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
$PY -c 'import cryptography' 2>/dev/null || { echo "SKIP: no python3-cryptography"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-seed.XXXXXX)
trap 'rm -rf "$t"' EXIT
drive="$KT_SRC/tests/cli/pty_drive.py"
mkdir -m 700 "$t/bin" "$t/work"
for name in new-world generatekey KeyTransferRemote; do ln -s "$KTR" "$t/bin/$name"; done
export PATH="$t/bin:$PATH"
cd "$t/work" || exit 1

# The cloud's packages, under the test vendor root, for a KEK whose private key is here.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$t/kek.key" 2>/dev/null
openssl pkey -in "$t/kek.key" -pubout -out "$t/kek.pub"
kid="https://contoso-byok.vault.azure.net/keys/ContosoKEK/0123456789abcdef0123456789abcdef"
$PY "$KT_SRC/tests/cli/forge_kek_package.py" "$KT_SRC/tests/transfer/realroot/root-cert.pem" \
    "$KT_SRC/tests/transfer/realroot/root-key.pem" "$t/kek.pub" "$kid" BYOK-KEK-pkg-NA-1 \
    BYOK-SecurityWorld-pkg-NA-1 || fail "cannot make the cloud's packages"

# The three new cards' PINs, each typed twice.
for n in 1 2 3; do
    printf 'New PIN for administrator card %s \t%s\n' "$n" "seed-line-pin-$n"
    printf 'Confirm PIN\t%s\n' "seed-line-pin-$n"
done >"$t/new.steps"

# seed WHAT STEPS LINE: runs LINE (one string, split as a shell would) at a terminal.
seed() {
    local what=$1 steps=$2 line=$3 st
    # shellcheck disable=SC2086 # the line is split into its words, as typed
    $PY "$drive" "$steps" "$t/screen" $line >/dev/null 2>"$t/drive.err"
    st=$?
    if [ "$st" -eq 0 ]; then
        ok
    else
        fail "$what: exit $st: $(cat "$t/drive.err")"$'\n'"$(tr -d '\r' <"$t/screen")"
    fi
}

# --- new-world: the three lines the seed documents give ----------------------------------------
lines=("new-world --initialize --cipher-suite=DLf1024s160mRijndael --module=1 --acs-quorum=2/3"
    "new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3"
    "new-world --initialize --acs-quorum=2/3")
for i in 2 1 0; do
    export KEYTRANSFER_KMDATA="$t/kmdata$i"
    seed "${lines[$i]}" "$t/new.steps" "${lines[$i]}"
    grep -q "Security world created" "$t/screen" && ok || fail "${lines[$i]}: no world made"
    if [ "$i" -ne 2 ]; then
        grep -q "uses KTv1" "$t/screen" && ok || fail "${lines[$i]}: the suite's mapping is not named"
    fi
done
# The rest of the walk-through in the world of the first line.
export KEYTRANSFER_KMDATA="$t/kmdata0"
expect_out "ACS quorum +2/3" "$KTR" world info
c1=$(echo "$t"/kmdata0/cards/card_*_1)
c3=$(echo "$t"/kmdata0/cards/card_*_3)

# --- generatekey ----------------------------------------------------------------------------------
: >"$t/none.steps"
seed "generatekey" "$t/none.steps" \
    "generatekey --generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp="
[ -f "$t/kmdata0/local/key_simple_contosokey" ] && ok || fail "generatekey made no key_simple_contosokey"

# --- KeyTransferRemote -ModifyAcls: the card paths, the approval and the PINs at the terminal ------
printf '%s\t%s\n' "Path of administrator card 1 of 2: " "$c1" \
    "Path of administrator card 2 of 2: " "$c3" \
    "Type yes to approve" "yes" \
    "PIN for administrator card 1 " "seed-line-pin-1" \
    "PIN for administrator card 3 " "seed-line-pin-3" >"$t/acl.steps"
seed "KeyTransferRemote -ModifyAcls" "$t/acl.steps" \
    "KeyTransferRemote -ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-NA-1 -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-NA-1"
[ -f "$t/kmdata0/local/key_xferacld_contosokey" ] && ok ||
    fail "KeyTransferRemote -ModifyAcls made no key_xferacld_contosokey"

# --- KeyTransferRemote -Package ------------------------------------------------------------------
seed "KeyTransferRemote -Package" "$t/none.steps" \
    "KeyTransferRemote -Package -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-NA-1 -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-NA-1 -SubscriptionId 11111111-2222-3333-4444-555555555555 -KeyFriendlyName ContosoFirstHSMkey"
"$KTR" key public contosokey --out "$t/contosokey.pub" 2>/dev/null || fail "key public"
$PY - "$t/work/TransferPackage-ContosoFirstHSMkey.byok" "$t/kek.key" "$t/contosokey.pub" \
    "$kid" <<'EOF' && ok || fail "the .byok does not open to contosokey with the KEK"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
byok = json.load(open(sys.argv[1]))
kek = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
assert byok["header"]["kid"] == sys.argv[4], byok["header"]
ct = base64.urlsafe_b64decode(byok["ciphertext"] + "=" * (-len(byok["ciphertext"]) % 4))
n = kek.key_size // 8
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
key = serialization.load_der_private_key(aes_key_unwrap_with_padding(kek.decrypt(ct[:n], oaep),
                                                                     ct[n:]), None)
fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
want = serialization.load_pem_public_key(open(sys.argv[3], "rb").read()).public_bytes(*fmt)
assert key.public_key().public_bytes(*fmt) == want
EOF
expect 0 "audit verify after the seed lines" "$KTR" audit verify

finish
