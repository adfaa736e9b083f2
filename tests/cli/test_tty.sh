#!/usr/bin/env bash
# test_tty.sh - the PIN prompt at a real terminal, driven by tmux: `world new` asks for a new PIN
# from the terminal in an interactive bash; part of a PIN is typed, Ctrl-Z stops the program,
# `fg` brings it back, the PIN is typed (twice, it is new) and the world is made; the screen, its
# history included, shows no character of what was typed, and check-card opens the card with
# that PIN. Then SIGINT (Ctrl-C) at a PIN prompt under a plain, non-job-control shell leaves the
# terminal with echo on, as `stty -a` reports right after.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v tmux >/dev/null || { echo "SKIP: no tmux (run.sh test installs it)"; exit 77; }
t=$(mktemp -d /tmp/kt-cli-tty.XXXXXX)
sock="$t/tmux.sock"
tm() { tmux -S "$sock" "$@"; }
trap 'tm kill-server 2>/dev/null; sleep 0.2; rm -rf "$t"' EXIT

# Symbols that appear in no prompt, path or shell message of this test: any of them on the
# screen is an echo.
pin='#%=~@*&!'
part='#%='

screen() { tm capture-pane -p -J -t "$1" -S - -E -; }
# wait_for WINDOW TEXT [COUNT]: until TEXT is on the screen COUNT times (default 1), 20 s at most.
wait_for() {
    local win=$1 text=$2 count=${3:-1} i
    for ((i = 0; i < 200; i++)); do
        [ "$(screen "$win" | grep -cF -- "$text")" -ge "$count" ] && return 0
        sleep 0.1
    done
    fail "'$text' (x$count) never showed in window $win:"$'\n'"$(screen "$win")"
    return 1
}
keys() { tm send-keys -t "$1" -l -- "$2"; }
enter() { tm send-keys -t "$1" Enter; }

# --- Ctrl-Z and fg at a new-PIN prompt, in an interactive bash with job control ----------------
tm new-session -d -s kt -x 200 -y 50 \
    "env -i PATH=/usr/bin:/bin HOME=$t TERM=xterm PS1='$ ' bash --norc --noprofile -i"
wait_for kt.0 '$ ' || { finish; exit; }
keys kt "\"$KT\" world new --acs-quorum 1/1 --kdf interactive --kmdata \"$t/kmdata\""
enter kt
if wait_for kt "New PIN for administrator card 1"; then
    keys kt "$part"
    tm send-keys -t kt C-z
    wait_for kt "Stopped" && ok
    keys kt "fg"
    enter kt
    # The prompt again, with echo off: the PIN is typed from its start.
    if wait_for kt "New PIN for administrator card 1" 2; then
        keys kt "$pin"
        enter kt
        wait_for kt "Confirm PIN" && keys kt "$pin" && enter kt
        wait_for kt "Security world created" && ok
    fi
fi
shown=$(screen kt)
for ((i = 0; i < ${#pin}; i++)); do
    c=${pin:i:1}
    if grep -qF -- "$c" <<<"$shown"; then
        fail "'$c' of the typed PIN is on the screen:"$'\n'"$shown"
        break
    fi
done
[ $i -eq ${#pin} ] && ok

# The card opens with the PIN typed after fg (not with the part typed before Ctrl-Z).
card=$(ls "$t"/kmdata/cards/card_* 2>/dev/null | head -n 1)
printf '%s\n' "$pin" >"$t/pin"
[ -n "$card" ] && expect 0 "check-card with the PIN typed after fg" "$KT" world check-card \
    --kmdata "$t/kmdata" --card "$card" --pin-file "$t/pin"
printf '%s%s\n' "$part" "$pin" >"$t/both"
[ -n "$card" ] && expect 1 "check-card with what was typed before and after" "$KT" world \
    check-card --kmdata "$t/kmdata" --card "$card" --pin-file "$t/both"

# --- Ctrl-C at a PIN prompt: echo is on afterwards ---------------------------------------------
# A non-interactive bash does not save and restore the terminal itself, so what `stty -a` shows
# after the program died is what the program left. Its INT trap keeps it alive (a handler, unlike
# an ignored signal, is not inherited by keytransfer).
if [ -n "$card" ]; then
    tm new-window -d -t kt -n int "env -i PATH=/usr/bin:/bin TERM=xterm bash -c 'trap \"echo caught\" INT; \
\"$KT\" world check-card --kmdata \"$t/kmdata\" --card \"$card\"; echo status \$?; \
stty -a >\"$t/stty\"; echo stty done; sleep 60'"
    if wait_for int "Enter PIN for administrator card 1"; then
        keys int "$part"
        tm send-keys -t int C-c
        wait_for int "stty done" && ok
        grep -qE '(^| )echo( |$)' "$t/stty" && ok || fail "echo is off after Ctrl-C: $(cat "$t/stty")"
        grep -qF "status 130" <<<"$(screen int)" && ok ||
            fail "keytransfer did not die of SIGINT: $(screen int)"
        grep -qF -- "$part" <<<"$(screen int)" && fail "the typed part is on the screen" || ok
    fi
fi

finish
