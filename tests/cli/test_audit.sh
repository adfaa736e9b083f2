#!/usr/bin/env bash
# test_audit.sh - the audit log of a real history of 20 operations (world new, key generate,
# change-pin, key import, modify-acls, package, key delete, module erase, world program, world
# backup, replace-cards), then:
#   - audit verify passes, and audit show lists the 20 operations in order, the quorum ones
#     (world new, modify-acls, world program, replace-cards) signed by KNSO and naming the cards;
#   - every single removal, change (a byte of an entry's body, a byte of its time), swap with the
#     next entry and truncation (after each entry, and inside each entry) of the log file is
#     found: exit 1 naming the first bad entry. The variants are made on the log file directly
#     (one Python run) and each checked with `audit verify --log`;
#   - a damaged log fails closed: the next operation is refused, saying to move the log aside;
#     once moved, a new log begins with an "audit begin" entry and verify says the history
#     before it is not there.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PY=/usr/bin/python3

command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-audit.XXXXXX)
trap 'rm -rf "$t"' EXIT
export KEYTRANSFER_KMDATA="$t/kmdata"
cd "$t" || exit 1
log=kmdata/local/audit

printf 'pin-card-one-1\npin-card-two-2\npin-card-three-3\n' >pins
printf 'pin-card-one-1\nnew-pin-one-11\n' >change
printf 'new-pin-one-11\npin-card-two-2\n' >quorum
printf 'new-pin-one-11\npin-card-two-2\nset2-pin-one-1\nset2-pin-two-2\n' >rc
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out kek.key 2>/dev/null
openssl pkey -in kek.key -pubout -out kek.pub
fp=$(openssl pkey -pubin -in kek.pub -outform DER | sha256sum | cut -d' ' -f1)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out k1.pem 2>/dev/null
kid="https://contoso.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef"
kek=(--kek-pem kek.pub --kid "$kid" --accept-unattested-kek "$fp")

# --- a history of 20 operations ------------------------------------------------------------------
step() { # step WHAT COMMAND...: one operation of the history, which must succeed
    local what=$1
    shift
    "$@" >/dev/null 2>err.txt </dev/null && ok || fail "$what: $(cat err.txt)"
}
step "world new" "$KT" world new --acs-quorum 2/2 --kdf interactive --pin-file pins
c1=$(echo "$t"/kmdata/cards/card_*_1)
c2=$(echo "$t"/kmdata/cards/card_*_2)
for i in 1 2 3 4 5 6 7 8; do
    step "key generate a$i" "$KT" key generate --type AES --size 256 --ident "a$i"
done
step "change-pin" "$KT" world change-pin --card "$c1" --pin-file change
step "key import" "$KT" key import --from k1.pem --ident k1
step "modify-acls" "$KT" modify-acls --ident k1 "${kek[@]}" --card "$c1" --card "$c2" \
    --pin-file quorum --yes
mkdir -m 700 pkg
step "package" "$KT" package --ident k1 "${kek[@]}" --subscription sub-1 --name k1 --out pkg
step "key delete a1" "$KT" key delete --ident a1 --yes
step "key delete a2" "$KT" key delete --ident a2 --yes
step "module erase" "$KT" module erase --yes
step "world program" "$KT" world program --card "$c1" --card "$c2" --pin-file quorum
step "world backup" "$KT" world backup --out "$t/bk"
step "replace-cards" "$KT" world replace-cards --acs-quorum 2/2 --kdf interactive --card "$c1" \
    --card "$c2" --pin-file rc
cp "$log" log19
head19=$("$KT" audit verify --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["head"])')
step "key generate a9" "$KT" key generate --type AES --size 128 --ident a9

# shellcheck disable=SC2154 # failed is lib.sh's count
[ "$failed" -eq 0 ] || { finish; exit 1; } # the rest needs the whole history
expect 0 "audit verify of the 20 operations" "$KT" audit verify
expect_out "20 entries" "$KT" audit verify
"$KT" audit show --json >show.json 2>err.txt || fail "audit show --json: $(cat err.txt)"
$PY - show.json <<'EOF' && ok || fail "audit show does not give the history as it happened"
import json, sys
d = json.load(open(sys.argv[1]))
ops = [e["op"] for e in d["entries"]]
want = (["world new"] + ["key generate"] * 8 + ["world change-pin", "key import", "modify-acls",
        "package", "key delete", "key delete", "module erase", "world program", "world backup",
        "world replace-cards", "key generate"])
assert ops == want, ops
assert [e["seq"] for e in d["entries"]] == list(range(1, 21))
quorum = {"world new", "modify-acls", "world program", "world replace-cards"}
for e in d["entries"]:
    assert e["knso_signed"] == (e["op"] in quorum), e
    if e["op"] in quorum - {"world new"}:
        assert sorted(e["cards"]) == [1, 2] and e["card_set"] == 1, e
m = d["entries"][11]["detail"]
assert m["ident"] == "k1" and len(m["kek_sha256"]) == 64 and m["kid"].startswith("https://"), m
p = d["entries"][12]["detail"]
assert p["target"] == "azure" and len(p["package_sha256"]) == 64, p
assert d["head"] == d["entries"][-1]["hash"]
EOF
# A noted head: still in the log after more entries; a rolled-back log no longer has the newer one.
expect 0 "audit verify --head of an earlier head" "$KT" audit verify --head "$head19"
expect_out "1 entry added since" "$KT" audit verify --head "$head19"
head20=$("$KT" audit verify --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["head"])')
cp "$log" log20
cp log19 "$log"
expect 0 "a rolled-back log verifies on its own" "$KT" audit verify
expect 1 "audit verify --head of the head before the rollback" "$KT" audit verify --head "$head20"
expect_err "rolled back" "$KT" audit verify --head "$head20"
cp log20 "$log"
expect 2 "audit verify --head with a malformed hash" "$KT" audit verify --head abc
sha=$(sha256sum pkg/TransferPackage-k1.byok | cut -d' ' -f1)
"$KT" audit show >show.txt 2>&1 || fail "audit show: $(cat show.txt)"
grep -qF "$sha" show.txt && ok || fail "audit show does not give the package's SHA-256 $sha"

# --- every removal, change, swap and truncation, at every position ------------------------------
mkdir -m 700 v
$PY - "$log" v <<'EOF' || fail "could not make the tampered logs"
import struct, sys
raw = open(sys.argv[1], "rb").read()
out = sys.argv[2]
# docs/formats.md: magic, u16 version, then fields (u16 tag, u32 length, value): the world hash
# (tag 1), one field per entry (tag 2), the head (tag 3).
off, fields = 10, []
while off < len(raw):
    tag, n = struct.unpack(">HI", raw[off:off + 6])
    fields.append((tag, raw[off:off + 6 + n]))
    off += 6 + n
world, entries, head = fields[0][1], [f for t, f in fields if t == 2], fields[-1][1]
assert fields[-1][0] == 3 and len(entries) == 20
top = raw[:10] + world
def write(name, ents, tail=head):
    open(f"{out}/{name}", "wb").write(top + b"".join(ents) + tail)
for i in range(20):
    n = i + 1
    write(f"remove-{n}-{n}", entries[:i] + entries[i + 1:])
    body = bytearray(entries[i])
    body[len(body) // 2] ^= 0x01
    write(f"change-{n}-{n}", entries[:i] + [bytes(body)] + entries[i + 1:])
    body = bytearray(entries[i])
    body[6 + 14 + 6 + 7] ^= 0x01  # the last byte of the time (entry field 2)
    write(f"time-{n}-{n}", entries[:i] + [bytes(body)] + entries[i + 1:])
    if i < 19:
        write(f"swap-{n}-{n}", entries[:i] + [entries[i + 1], entries[i]] + entries[i + 2:])
    write(f"truncate-{i}-{n}", entries[:i], b"")
    write(f"cut-{n}-{n}", entries[:i] + [entries[i][: len(entries[i]) // 2]], b"")
write("truncate-20-21", entries, b"")  # every entry, no head
EOF
nvariants=0
for f in v/*; do
    name=${f#v/}
    bad=${name##*-}
    nvariants=$((nvariants + 1))
    "$KT" audit verify --log "$f" >/dev/null 2>err.txt </dev/null
    st=$?
    if [ "$st" -eq 1 ] && grep -qF ": entry $bad:" err.txt; then
        ok
    else
        fail "$name: exit $st, expected 1 naming entry $bad: $(cat err.txt)"
    fi
done
[ "$nvariants" -eq 120 ] && ok || fail "$nvariants tampered logs, expected 120"

# --- a damaged log fails closed, and says what to do ---------------------------------------------
cp v/change-5-5 "$log" || fail "no tampered log to put in place"
expect 1 "key generate onto a damaged log" "$KT" key generate --type AES --size 128 --ident late
expect_err "move it aside" "$KT" key generate --type AES --size 128 --ident late
[ ! -e kmdata/local/key_simple_late ] && ok || fail "an operation went on with a damaged log"
expect 1 "audit show of a damaged log" "$KT" audit show
mv "$log" "$log.damaged"
expect 1 "audit verify --log of the log moved aside" "$KT" audit verify --log "$log.damaged"
expect 0 "key generate after the log was moved aside" "$KT" key generate --type AES --size 128 \
    --ident late
expect 0 "audit verify of the new log" "$KT" audit verify
expect_err "history before its first entry is not in it" "$KT" audit verify
"$KT" audit show --json >new.json
[ "$($PY -c 'import json,sys; print(" ".join(e["op"] for e in json.load(open(sys.argv[1]))["entries"]))' new.json)" = "audit begin key generate" ] &&
    ok || fail "the new log does not begin with 'audit begin'"
expect 4 "audit verify with no log" "$KT" audit verify --log "$t/none"

finish
