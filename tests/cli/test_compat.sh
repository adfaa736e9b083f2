#!/usr/bin/env bash
# test_compat.sh - the seed toolset's command lines (docs/design.md §1), through keytransfer's
# compatible front, run the whole offline path: new-world, generatekey, KeyTransferRemote
# -ModifyAcls and -Package; the cloud imports the result with the source key's fingerprint.
# What the front cannot honour is refused by name. The emulated cloud is DEMO-rooted: the front
# passes --demo (and --yes for the approval) through, and without --demo both verbs refuse.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUD=${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}

t=$(mktemp -d /tmp/kt-cli-compat.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
printf 'compat-pin-one\ncompat-pin-two\ncompat-pin-three\n' >"$t/pins"
printf 'compat-pin-one\ncompat-pin-three\n' >"$t/quorum"

expect 0 "cloud init" "$CLOUD" init --region EU --out "$t/dl" --state "$t/cloud"
K="$t/dl/BYOK-KEK-pkg-EU-1"
W="$t/dl/BYOK-SecurityWorld-pkg-EU-1"

expect 2 "new-world without --initialize" "$KT" new-world --acs-quorum=2/3 --pin-file "$t/pins"
expect 2 "new-world with an unknown option" "$KT" new-world --initialize --nso-timeout=10 \
    --acs-quorum=2/3 --pin-file "$t/pins"
expect 2 "new-world --module=2 (there is one module)" "$KT" new-world --initialize --module=2 \
    --acs-quorum=2/3 --pin-file "$t/pins"
expect_err "one software module, module 1" "$KT" new-world --initialize -m 2 --acs-quorum=2/3 \
    --pin-file "$t/pins"
expect 0 "new-world --help" "$KT" new-world --help
expect_out "Usage: keytransfer new-world --initialize" "$KT" new-world --help
expect_out "Usage: keytransfer generatekey --generate" "$KT" generatekey --help
expect_out "Usage: keytransfer KeyTransferRemote -ModifyAcls" "$KT" KeyTransferRemote --help
expect_err "the software world uses KTv1" "$KT" new-world --initialize \
    --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3 --pin-file "$t/pins" \
    --kmdata "$t/seedworld" --kdf interactive
expect 0 "new-world --initialize --acs-quorum=2/3" "$KT" new-world --initialize \
    --acs-quorum=2/3 --kdf interactive --pin-file "$t/pins"
expect_out "ACS quorum +2/3" "$KT" world info

expect 2 "generatekey protect=token" "$KT" generatekey --generate simple type=RSA size=2048 \
    protect=token ident=badkey
expect 2 "generatekey nvram=yes" "$KT" generatekey --generate simple type=RSA size=2048 \
    protect=module ident=badkey nvram=yes
expect 2 "generatekey with an unknown setting" "$KT" generatekey --generate simple type=RSA \
    size=2048 recovery=yes ident=badkey
expect 0 "generatekey (the seed line)" "$KT" generatekey --generate simple type=RSA size=2048 \
    protect=module ident=contosokey plainname=contosokey nvram=no pubexp=
expect_out "contosokey" "$KT" key list

cards=("$t"/kmdata/cards/card_*_1 "$t"/kmdata/cards/card_*_3)
expect 1 "KeyTransferRemote -ModifyAcls, DEMO packages without --demo" "$KT" KeyTransferRemote \
    -ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage "$K" \
    -NewSecurityWorldPackage "$W" --card "${cards[0]}" --card "${cards[1]}" --pin-file "$t/quorum" \
    --yes
[ ! -e "$t/kmdata/local/key_xferacld_contosokey" ] && ok || fail "reduced without --demo"
expect 0 "KeyTransferRemote -ModifyAcls" "$KT" KeyTransferRemote -ModifyAcls -KeyAppName simple \
    -KeyIdentifier contosokey -ExchangeKeyPackage "$K" -NewSecurityWorldPackage "$W" \
    --card "${cards[0]}" --card "${cards[1]}" --pin-file "$t/quorum" --demo --yes
[ -f "$t/kmdata/local/key_xferacld_contosokey" ] && ok || fail "no key_xferacld_contosokey"
mkdir -m 700 "$t/usb"
expect 1 "KeyTransferRemote -Package without --demo" "$KT" KeyTransferRemote -Package \
    -KeyIdentifier contosokey -ExchangeKeyPackage "$K" -NewSecurityWorldPackage "$W" \
    -SubscriptionId 11111111-2222-3333-4444-555555555555 -KeyFriendlyName ContosoFirstHSMkey \
    --out "$t/usb"
expect_err "DEMO vendor root" "$KT" KeyTransferRemote -Package -KeyIdentifier contosokey \
    -ExchangeKeyPackage "$K" -NewSecurityWorldPackage "$W" \
    -SubscriptionId 11111111-2222-3333-4444-555555555555 -KeyFriendlyName ContosoFirstHSMkey \
    --out "$t/usb"
[ -z "$(ls "$t/usb")" ] && ok || fail "packaged without --demo: $(ls "$t/usb")"
expect 0 "KeyTransferRemote -Package" "$KT" KeyTransferRemote -Package -KeyIdentifier contosokey \
    -ExchangeKeyPackage "$K" -NewSecurityWorldPackage "$W" \
    -SubscriptionId 11111111-2222-3333-4444-555555555555 -KeyFriendlyName ContosoFirstHSMkey \
    --out "$t/usb" --demo
expect 2 "KeyTransferRemote with neither verb" "$KT" KeyTransferRemote -KeyIdentifier contosokey
expect 2 "KeyTransferRemote with an unknown parameter" "$KT" KeyTransferRemote -Package \
    -KeyIdentifier contosokey -Frobnicate yes

"$KT" key public contosokey --out "$t/src.pub" 2>/dev/null || fail "key public"
want=$(openssl pkey -pubin -in "$t/src.pub" -outform DER | sha256sum | cut -d' ' -f1)
have=$("$CLOUD" import "$t/usb/TransferPackage-ContosoFirstHSMkey.byok" --state "$t/cloud" \
    --name ContosoFirstHSMkey --json | /usr/bin/python3 -c \
    'import json,sys; print(json.load(sys.stdin)["public_key_sha256"])')
[ -n "$want" ] && [ "$have" = "$want" ] && ok || fail "imported '$have', source '$want'"

# Installed under a seed tool's name, the program acts as that tool.
ln -s "$KT" "$t/generatekey"
expect 0 "a link named generatekey" "$t/generatekey" --generate simple type=EC curve=P-256 \
    protect=module ident=viaalink
expect_out "viaalink" "$KT" key list

finish
