#!/usr/bin/env bash
# demo-online.sh - the online steps of docs/design.md §1 (1 and 9) in a folder where
# scripts/demo-offline.sh left its output: the toolset zip is checked against the published hash
# table, the USB stick folder is checked (manifest signatures, module, package hashes), the
# region's cloud is served as a Key Vault REST endpoint on a free loopback port, and the .byok is
# uploaded with keytransfer-online, which ends with the imported key's fingerprint checked against
# the manifest and "Result: SUCCESS".
#
#   KT_ONLINE=build/online/keytransfer-online KT_CLOUD=build/kek/keytransfer-cloud \
#       [KT_BIN=build/keytransfer/keytransfer] scripts/demo-online.sh /tmp/kt-demo
#
# With KT_BIN, the module fingerprint is read from the offline world (`keytransfer world info`,
# as the custodian would note it before carrying the stick over) and pinned with
# --expect-module. The emulator is stopped on exit, whatever happens; its request log is left in
# the folder. Each command is echoed before it runs; the first failure stops the script. The demo
# cloud's KEK is vouched for by the DEMO root, so check and upload say --demo.
set -euo pipefail

dir=${1:?usage: $0 FOLDER-OF-demo-offline.sh}
ONLINE=${KT_ONLINE:?KT_ONLINE must name the keytransfer-online program}
CLOUD=${KT_CLOUD:?KT_CLOUD must name the keytransfer-cloud program}
PY=/usr/bin/python3
for sub in download usb cloud; do
    if [ ! -d "$dir/$sub" ]; then
        echo "demo-online.sh: $dir/$sub is missing: run scripts/demo-offline.sh $dir first" >&2
        exit 2
    fi
done
dir=$(cd "$dir" && pwd)
zips=("$dir"/download/KeyTransfer-BYOK-Tools-*.zip)
packages=("$dir"/usb/*.byok)
if [ ! -f "${zips[0]}" ] || [ ! -f "${packages[0]}" ] || [ ${#packages[@]} -ne 1 ]; then
    echo "demo-online.sh: expected one toolset zip in $dir/download and one .byok in $dir/usb" >&2
    exit 2
fi
zip=${zips[0]}
byok=${packages[0]}
name=$(basename "$byok" .byok)
name=${name#TransferPackage-}

work=$(mktemp -d "$dir/online.XXXXXX")
server=
stop_server() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=
    fi
}
trap stop_server EXIT

# The module fingerprint the custodian noted on the offline workstation.
pin=()
if [ -n "${KT_BIN:-}" ]; then
    fp=$(KEYTRANSFER_KMDATA="$dir/kmdata" "$KT_BIN" world info --json |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["module"]["signing_key_sha256"])')
    echo "module key noted offline: $fp"
    pin=(--expect-module "$fp")
fi

# The emulator's bearer token: a fresh random one, in a file only we can read.
(umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$work/token")

set -x
# Step 1: the download, against the hash the cloud publishes.
"$ONLINE" hash "$zip" --table "$dir/download/published-hashes.txt"
# The USB stick from the offline workstation.
"$ONLINE" check "$dir/usb" --demo "${pin[@]}"
# The region's cloud as a Key Vault REST endpoint on a free loopback port.
"$CLOUD" serve --state "$dir/cloud" --listen 127.0.0.1:0 --token-file "$work/token" \
    >"$work/serve.out" 2>"$work/serve.log" &
{ set +x; } 2>/dev/null
server=$!
url=
for _ in $(seq 100); do
    url=$(awk '$1 == "url" { print $2 }' "$work/serve.out")
    [ -n "$url" ] && break
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$work/serve.log" >&2
        echo "demo-online.sh: keytransfer-cloud serve stopped" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "demo-online.sh: keytransfer-cloud serve did not start" >&2
    exit 1
fi
echo "emulator at $url (log: $work/serve.log)"

# demo-offline.sh may have imported the key under its name already (through `keytransfer-cloud
# import`); the emulator then answers 409 and the upload looks the key up and compares it with the
# manifest ("Already imported"), as it would after an upload whose answer was lost.
set -x
# Step 9: upload, then the key the vault holds is compared with the manifest.
"$ONLINE" upload --vault "$url" --name "$name" --token-file "$work/token" --demo "$byok" "${pin[@]}" |
    tee "$work/upload.out"
{ set +x; } 2>/dev/null
stop_server
grep -qx 'Result: SUCCESS' "$work/upload.out"
if grep -q 'public key SHA-256 .*, as the manifest states' "$work/upload.out"; then
    echo "The vault holds the key generated offline: its public key matches the signed manifest."
else # an AES key (the token demo): the vault shows nothing of it but its name and attributes
    echo "The vault holds an AES key under the name and with the attributes the signed manifest" \
        "states (an AES key has no public part to compare)."
fi
