#!/usr/bin/env bash
# run.sh - set everything up and run: `./run.sh demo` (the main job), `./run.sh test` (the whole
# test suite, as CI runs it) or `./run.sh package` (the .deb). Installs missing Debian packages
# with apt-get, configures and builds with CMake.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=${1:-}
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${KT_FUZZ_SECONDS:-20}

usage() {
    echo "usage: $0 demo [--token]|test|package" >&2
    exit 2
}
[ "$mode" = demo ] || [ "$mode" = test ] || [ "$mode" = package ] || usage

# --- dependencies (docs/design.md §5) ------------------------------------------------------------
deps=(build-essential cmake pkg-config openssl libssl-dev libsodium-dev libjansson-dev
      libzip-dev libcriterion-dev python3 python3-cryptography libcurl4-openssl-dev
      libmicrohttpd-dev libp11-kit-dev)
[ "$mode" = test ] && deps+=(clang libclang-rt-14-dev clang-format time strace tmux shellcheck
    man-db dpkg-dev)
[ "$mode" = test ] && deps+=(awscli) # tests/cli/test_aws.sh: the real aws CLI
[ "$mode" = test ] && deps+=(python3-azure python3-azure-cli) # tests/azure: the real SDK and az code
[ "$mode" = test ] && deps+=(softhsm2 opensc python3-pykcs11)
[ "$mode" = demo ] && [ "${2:-}" = --token ] && deps+=(softhsm2)
[ "$mode" = package ] && deps+=(dpkg-dev)
missing=()
for p in "${deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "run.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# --- demo: the main job -----------------------------------------------------------------------
if [ "$mode" = demo ]; then
    cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKT_BUILD_TESTS=OFF >/dev/null
    cmake --build "$here/build" -j "$jobs" >/dev/null
    # The whole transfer against the built-in DEMO vendor, in a folder thrown away each run.
    demo="$here/demo"
    rm -rf "$demo"
    export KT_BIN="$here/build/keytransfer/keytransfer" KT_CLOUD="$here/build/kek/keytransfer-cloud"
    # ./run.sh demo --token: the key in a SoftHSMv2 token instead of the software world.
    if [ "${2:-}" = --token ]; then
        "$here/scripts/demo-offline.sh" --token "$demo"
    else
        "$here/scripts/demo-offline.sh" "$demo"
    fi
    if [ -x "$here/scripts/demo-online.sh" ]; then
        export KT_ONLINE="$here/build/online/keytransfer-online"
        "$here/scripts/demo-online.sh" "$demo"
    fi
    exit 0
fi

# --- package: the .deb ------------------------------------------------------------------------
if [ "$mode" = package ]; then
    cmake -S "$here" -B "$here/build-release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKT_WERROR=ON \
        -DKT_BUILD_TESTS=OFF >/dev/null
    cmake --build "$here/build-release" -j "$jobs" >/dev/null
    (cd "$here/build-release" && cpack -G DEB >/dev/null)
    ls "$here"/build-release/keytransfer_*.deb
    exit 0
fi

# --- test: the whole suite --------------------------------------------------------------------
stage() { echo "== $* ($((SECONDS / 60)) min $((SECONDS % 60)) s)"; }
stage "format check (clang-format)"
cd "$here"
src_dirs=()
for d in common cli world packages token verify kek online keytransfer bench tests; do
    [ -d "$d" ] && src_dirs+=("$d")
done
find "${src_dirs[@]}" -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run -Werror

stage "shellcheck (errors and warnings) over every script"
mapfile -t scripts < <(git -C "$here" ls-files '*.sh' 2>/dev/null || find . -name '*.sh')
shellcheck -S warning "${scripts[@]}" run.sh .ci/run scripts/completion/keytransfer

stage "ASan+UBSan build, unit and CLI tests"
cmake -S "$here" -B "$here/build-asan" -DCMAKE_BUILD_TYPE=Debug -DKT_WERROR=ON -DKT_SANITIZE=ON \
    >/dev/null
cmake --build "$here/build-asan" -j "$jobs"
(cd "$here/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j "$jobs" \
    -E '^fault_writers$')
# (The fault-injection suite traces the programs with strace; it runs once, on the release build
# below, where it measures the writers as they ship.)

# The tree on its own, as a clone without anything beside it: the hardened release build with
# warnings as errors, the whole suite again, then the .deb installed and removed.
stage "a copy of the tree alone: hardened release build and the whole suite, fault injection too"
alone=$(mktemp -d /tmp/kt-alone.XXXXXX)
trap 'rm -rf "$alone"' EXIT
mkdir "$alone/keytransfer"
(cd "$here" && { git ls-files -co --exclude-standard 2>/dev/null || find . -type f; } |
    grep -v '^build' | while IFS= read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done |
    tar -cf - -T -) | tar -xf - -C "$alone/keytransfer"
cmake -S "$alone/keytransfer" -B "$alone/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKT_WERROR=ON \
    >/dev/null
cmake --build "$alone/build" -j "$jobs"
(cd "$alone/build" && ctest --output-on-failure -j "$jobs")

stage "the .deb: built, installed with apt-get, used, removed"
(cd "$alone/build" && cpack -G DEB >/dev/null)
"$here/tests/install/test_deb.sh" "$alone"/build/keytransfer_*.deb

stage "fuzz targets (clang libFuzzer, ${fuzz_seconds}s each)"
CC=clang cmake -S "$here" -B "$here/build-fuzz" -DCMAKE_BUILD_TYPE=Debug -DKT_WERROR=ON \
    -DKT_FUZZ=ON >/dev/null
fuzzers=$(cd "$here/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build "$here/build-fuzz" -j "$jobs" --target $fuzzers
for f in $fuzzers; do
    corpus="$here/build-fuzz/corpus/$f"
    mkdir -p "$corpus"
    seeds="$here/tests/fuzz/seeds/$f"
    [ -d "$seeds" ] || seeds=
    log="$here/build-fuzz/$f.log"
    # shellcheck disable=SC2086
    if ! "$here/build-fuzz/tests/$f" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
        "$corpus" $seeds >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "run.sh: fuzz target $f failed" >&2
        exit 1
    fi
    echo "$f: $(grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units)' "$log" | tail -n 1)"
done
stage "all tests passed"
