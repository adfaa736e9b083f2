# shellcheck shell=bash
# lib.sh - the few helpers the CLI tests share. Each check counts as passed or failed; `finish`
# prints "N passed, M failed" and exits non-zero when anything failed.
# shellcheck disable=SC2034 # KT is for the scripts that source this file
KT=${KT_BIN:?KT_BIN must name the keytransfer program}
# Files the tests write are private, as PIN files must be (keytransfer refuses others).
umask 077
KT_SRC=${KT_SRC:?KT_SRC must name the source tree}
passed=0
failed=0

fail() {
    echo "FAIL: $*" >&2
    failed=$((failed + 1))
}

ok() {
    passed=$((passed + 1))
}

# expect STATUS DESCRIPTION COMMAND...: the command exits with STATUS.
expect() {
    local want=$1 what=$2
    shift 2
    local out status
    out=$("$@" 2>&1 </dev/null)
    status=$?
    if [ "$status" -eq "$want" ]; then
        ok
    else
        fail "$what: exit $status, expected $want; output:"$'\n'"$out"
    fi
}

# expect_out REGEX COMMAND...: stdout matches REGEX (extended).
expect_out() {
    local re=$1
    shift
    local out
    # Read it all first: grep -q stops at the first match, and a writer still printing would
    # then die of SIGPIPE, failing the pipeline under pipefail.
    if out=$("$@" 2>/dev/null </dev/null) && grep -qE -- "$re" <<<"$out"; then
        ok
    else
        fail "stdout of '$*' lacks /$re/"
    fi
}

# expect_err TEXT COMMAND...: stderr contains TEXT (fixed string).
expect_err() {
    local text=$1
    shift
    local err
    err=$("$@" 2>&1 >/dev/null </dev/null)
    if grep -qF -- "$text" <<<"$err"; then ok; else fail "stderr of '$*' lacks '$text': $err"; fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
