#!/usr/bin/env bash
# demo-offline.sh - the whole offline path of docs/design.md §1 against the DEMO vendor, in a fresh
# folder: the cloud publishes its toolset, the custodian extracts it, creates a 2-of-3 world,
# verifies the KEK and world packages, generates a key, reduces its ACL with two of the three
# administrator cards, packages it, and the cloud imports the package. It ends by comparing the
# imported key's fingerprint with the source key's, computed by the openssl command.
#
#   KT_BIN=build/keytransfer/keytransfer KT_CLOUD=build/kek/keytransfer-cloud \
#       scripts/demo-offline.sh [--token] /tmp/kt-demo
#
# With --token the key lives in a SoftHSMv2 token made in the folder (SOFTHSM2_CONF points at it):
# the token is bound to the world (its SO PIN sealed under the cards), an AES-256 key is generated
# inside it, reduced and wrapped inside it, and the cloud imports the package. (SoftHSM 2.6.1's
# key wrap is RFC 5649 only for lengths that are a multiple of 8, so keytransfer packages AES keys
# from it and refuses RSA and EC keys.)
#
# The folder must not exist or be empty. Each command is echoed before it runs; the first failure
# stops the script. The PINs sit in a file and the card holders' approval is given with --yes so
# the demo needs no typing: never do that with a real world. The demo cloud's packages chain to
# the DEMO root, whose private key is public, so modify-acls and package take them only with
# --demo (and a keytransfer built with a real vendor root refuses them even then).
set -euo pipefail

token=
if [ "${1:-}" = --token ]; then
    token=yes
    shift
fi
dir=${1:?usage: $0 [--token] EMPTY-FOLDER}
KT=${KT_BIN:?KT_BIN must name the keytransfer program}
CLOUD=${KT_CLOUD:?KT_CLOUD must name the keytransfer-cloud program}
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    echo "demo-offline.sh: $dir is not empty" >&2
    exit 2
fi
mkdir -p "$dir"
chmod 700 "$dir"
dir=$(cd "$dir" && pwd)
export KEYTRANSFER_KMDATA="$dir/kmdata"
printf 'demo-pin-card-1\ndemo-pin-card-2\ndemo-pin-card-3\n' >"$dir/pins.txt"
printf 'demo-pin-card-1\ndemo-pin-card-3\n' >"$dir/quorum-pins.txt" # cards 1 and 3
chmod 600 "$dir/pins.txt" "$dir/quorum-pins.txt"

set -x
# The cloud side (online): the region's KEK, its world, and the toolset zip with its hash.
"$CLOUD" init --region NA --out "$dir/download" --state "$dir/cloud"
# Offline: extract the toolset carried over on the USB stick.
"$KT" toolset extract "$dir/download/KeyTransfer-BYOK-Tools-NA.zip" "$dir/toolset"
"$KT" world new --acs-quorum 2/3 --kdf interactive --pin-file "$dir/pins.txt"
"$KT" verify -k "$dir/toolset/BYOK-KEK-pkg-NA-1" -w "$dir/toolset/BYOK-SecurityWorld-pkg-NA-1"
/usr/bin/python3 "$dir/toolset/verifykeypackage.py" -k "$dir/toolset/BYOK-KEK-pkg-NA-1" \
    -w "$dir/toolset/BYOK-SecurityWorld-pkg-NA-1"
if [ -n "$token" ]; then
    { set +x; } 2>/dev/null
    export SOFTHSM2_CONF="$dir/softhsm2.conf"
    mkdir -m 700 "$dir/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$dir" >"$SOFTHSM2_CONF"
    printf 'demo-token-so-pin\ndemo-pin-card-1\ndemo-pin-card-3\n' >"$dir/bind-pins.txt"
    printf 'demo-token-user-pin\ndemo-pin-card-1\ndemo-pin-card-3\n' >"$dir/token-pins.txt"
    printf 'demo-token-user-pin\n' >"$dir/user-pin.txt"
    chmod 600 "$dir/bind-pins.txt" "$dir/token-pins.txt" "$dir/user-pin.txt"
    uri="pkcs11:token=BYOK?module-path=/usr/lib/softhsm/libsofthsm2.so"
    cards=(--card "$dir"/kmdata/cards/card_*_1 --card "$dir"/kmdata/cards/card_*_3)
    kek=(-k "$dir/toolset/BYOK-KEK-pkg-NA-1" -w "$dir/toolset/BYOK-SecurityWorld-pkg-NA-1" --demo)
    set -x
    softhsm2-util --init-token --free --label BYOK --so-pin demo-token-so-pin \
        --pin demo-token-user-pin
    "$KT" world bind-token --token "$uri" "${cards[@]}" --pin-file "$dir/bind-pins.txt"
    "$KT" key generate --token "$uri" --type AES --size 256 --ident contosokey \
        --pin-file "$dir/user-pin.txt"
    "$KT" modify-acls --token "$uri" --ident contosokey "${kek[@]}" "${cards[@]}" \
        --pin-file "$dir/token-pins.txt" --yes
    "$KT" key show --token "$uri" contosokey --pin-file "$dir/user-pin.txt"
    mkdir -m 700 "$dir/usb"
    "$KT" package --token "$uri" --ident contosokey "${kek[@]}" "${cards[@]}" \
        --pin-file "$dir/token-pins.txt" --subscription 00000000-0000-0000-0000-000000000000 \
        --name ContosoFirstHSMkey --out "$dir/usb"
    { set +x; } 2>/dev/null
    # The cloud imports it in scripts/demo-online.sh (the upload): an AES key has no public part
    # to compare afterwards, so it is uploaded once, fresh.
    echo "The package holds the token's key wrapped inside the token; its bytes never left it in"
    echo "clear. scripts/demo-online.sh $dir uploads it to the demo cloud."
    exit 0
fi
"$KT" key generate --type RSA --size 2048 --ident contosokey --plainname contosokey
"$KT" modify-acls --ident contosokey -k "$dir/toolset/BYOK-KEK-pkg-NA-1" \
    -w "$dir/toolset/BYOK-SecurityWorld-pkg-NA-1" \
    --card "$dir"/kmdata/cards/card_*_1 --card "$dir"/kmdata/cards/card_*_3 \
    --pin-file "$dir/quorum-pins.txt" --demo --yes
"$KT" key show contosokey --app xferacld
mkdir -m 700 "$dir/usb"
"$KT" package --ident contosokey -k "$dir/toolset/BYOK-KEK-pkg-NA-1" \
    -w "$dir/toolset/BYOK-SecurityWorld-pkg-NA-1" \
    --subscription 00000000-0000-0000-0000-000000000000 --name ContosoFirstHSMkey --out "$dir/usb" \
    --demo
# The cloud side again: the emulated HSM opens the .byok with its KEK.
"$CLOUD" import "$dir/usb/TransferPackage-ContosoFirstHSMkey.byok" --state "$dir/cloud" \
    --name ContosoFirstHSMkey --json | tee "$dir/imported.json"
"$KT" key public contosokey --out "$dir/contosokey.pub"
{ set +x; } 2>/dev/null

source_fp=$(openssl pkey -pubin -in "$dir/contosokey.pub" -outform DER | sha256sum | cut -d' ' -f1)
imported_fp=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key_sha256"])' \
    "$dir/imported.json")
echo "source key   SHA-256 $source_fp (openssl pkey -pubin -outform DER | sha256sum)"
echo "imported key SHA-256 $imported_fp (keytransfer-cloud import)"
if [ "$source_fp" != "$imported_fp" ]; then
    echo "demo-offline.sh: FAILURE: the cloud imported another key" >&2
    exit 1
fi
echo "The cloud holds the key generated offline: fingerprints match."
