#!/usr/bin/env bash
# test_azure_sdk.sh - the real Azure SDK for Python (Debian's python3-azure) and az CLI's keyvault
# import code against `keytransfer-cloud serve --tls`: tests/azure/sdk_test.py says what it does.
# Skipped (77) when Debian's python3 has no azure.keyvault.keys.
set -uo pipefail
: "${KT_BIN:?KT_BIN must name the keytransfer program}" "${KT_CLOUD:?KT_CLOUD must name keytransfer-cloud}"
KT_SRC=${KT_SRC:?KT_SRC must name the source tree}
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: $PY is not installed"; exit 77; }
exec "$PY" "$KT_SRC/tests/azure/sdk_test.py"
