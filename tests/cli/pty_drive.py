#!/usr/bin/env python3
# pty_drive.py - runs a command on a pseudo-terminal of its own (its controlling terminal, so
# /dev/tty is this pty) and answers its prompts as a person at the keyboard would: for each line
# "PATTERN<TAB>ANSWER" of STEPS, waits until PATTERN (a Python regular expression) has shown on
# the terminal since the last answer, then types ANSWER and Enter. Nothing is typed before its
# prompt shows (keytransfer drops type-ahead). Exits with the command's status after it ended,
# having written everything the terminal showed to TRANSCRIPT; 125 when a prompt never came.
#
#   pty_drive.py STEPS TRANSCRIPT COMMAND [ARG...]
import os, pty, re, select, sys, time

steps_path, transcript_path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
steps = []
for line in open(steps_path, encoding="utf-8").read().splitlines():
    if line:
        pattern, _, answer = line.partition("\t")
        steps.append((pattern, answer))

pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

seen = b""
pending = b""


def read_some(deadline):
    global seen, pending
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    ready, _, _ = select.select([fd], [], [], left)
    if not ready:
        return False
    try:
        data = os.read(fd, 4096)
    except OSError:  # EIO: the command closed the terminal
        data = b""
    if not data:
        return False
    seen += data
    pending += data
    return True


def answer_all():
    global pending
    for pattern, answer in steps:
        deadline = time.monotonic() + 120
        while not re.search(pattern.encode(), pending):
            if not read_some(deadline):
                sys.stderr.write(f"pty_drive: the prompt /{pattern}/ never showed\n")
                return False
        pending = b""
        os.write(fd, answer.encode() + b"\r")
    return True


status = 125
if answer_all():
    deadline = time.monotonic() + 120
    while read_some(deadline):
        pass
    _, st = os.waitpid(pid, 0)
    status = os.waitstatus_to_exitcode(st)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
open(transcript_path, "wb").write(seen)
sys.exit(status)
