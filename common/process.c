/*
 * process.c - the start-up hardening every program runs first (docs/design.md §6): libsodium ready,
 * files private by default (umask 077), and no core dumps that could carry secrets to disk
 * (RLIMIT_CORE 0, and not dumpable, which also keeps other users' ptrace away); the check that
 * memory for secrets can be locked (no swap), reported to the program, which warns; and the check
 * at exit that what a program printed really left it.
 */
#include "kt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

kt_rc kt_process_harden(kt_err *e)
{
    const struct rlimit no_core = {0, 0};

    if (sodium_init() < 0)
        return kt_fail(e, KT_ECRYPTO, "cannot initialize libsodium");
    umask(077);
    if (setrlimit(RLIMIT_CORE, &no_core) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot turn off core dumps (RLIMIT_CORE)");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot turn off core dumps (PR_SET_DUMPABLE)");
    return KT_OK;
}

/* A limit for people: "unlimited" or "<n> KiB", as `ulimit -l` counts. */
static void limit_text(rlim_t v, char *out, size_t outsz)
{
    if (v == RLIM_INFINITY)
        snprintf(out, outsz, "unlimited");
    else
        snprintf(out, outsz, "%ju KiB", (uintmax_t)(v / 1024));
}

kt_rc kt_memlock_failed(size_t bytes, int err, const char *prog, kt_err *warn)
{
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    char soft[32], hard[32], how[320], why[96];
    const char *require = getenv("KEYTRANSFER_REQUIRE_MLOCK");
    bool refuse = require != NULL && strcmp(require, "1") == 0;
    /* What to ask for: the need in KiB, rounded up to whole MiB. */
    uintmax_t need_kib = (bytes + 1023) / 1024, ask_kib = (need_kib + 1023) / 1024 * 1024;

    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
        rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
    limit_text(rl.rlim_cur, soft, sizeof soft);
    limit_text(rl.rlim_max, hard, sizeof hard);
    if (err != 0)
        snprintf(why, sizeof why, "mlock: %s", strerror(err));
    else
        snprintf(why, sizeof why, "OpenSSL could not lock its secure heap");
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 1024 < need_kib) {
        if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max / 1024 >= ask_kib)
            snprintf(how, sizeof how, "raise it for this shell with `ulimit -l %ju`", ask_kib);
        else
            snprintf(how, sizeof how,
                     "the hard limit is too low for `ulimit -l %ju`: have the administrator raise "
                     "it (a memlock line in /etc/security/limits.conf, LimitMEMLOCK= for a "
                     "systemd unit)",
                     ask_kib);
    } else {
        snprintf(how, sizeof how,
                 "the limit is not what stops it: the system refuses to lock memory for this "
                 "process (a container or security policy?)");
    }
    kt_rc rc =
        kt_fail(warn, KT_ENOMEM,
                "cannot lock memory for secrets (%s): they may be written to swap while %s "
                "runs. The locked-memory limit RLIMIT_MEMLOCK (`ulimit -l`) is %s (hard limit "
                "%s) and %s needs %ju KiB; %s. %s",
                why, prog, soft, hard, prog, need_kib, how,
                refuse ? "Refusing to run: KEYTRANSFER_REQUIRE_MLOCK=1 is set"
                       : "Set KEYTRANSFER_REQUIRE_MLOCK=1 to refuse to run instead");
    return refuse ? rc : KT_OK;
}

kt_rc kt_memlock_check(size_t bytes, const char *prog, kt_err *warn)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = bytes == 0 ? 1 : bytes;
    void *p;
    int err = 0;

    kt_err_clear(warn);
    if (page > 0)
        len = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return kt_memlock_failed(len, errno, prog, warn);
    /* The system call itself: sanitizer runtimes replace mlock() by a stub that says yes. */
    if (syscall(SYS_mlock, p, len) != 0)
        err = errno;
    else
        syscall(SYS_munlock, p, len);
    munmap(p, len);
    if (err == 0)
        return KT_OK;
    return kt_memlock_failed(len, err, prog, warn);
}

kt_rc kt_stdout_close(kt_err *e)
{
    /* ferror first: an earlier write may have failed and cleared errno since. */
    bool failed = ferror(stdout) != 0;
    int err = 0;

    errno = 0;
    if (fflush(stdout) != 0) {
        failed = true;
        err = errno;
    }
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        err = errno;
    }
    if (!failed)
        return KT_OK;
    if (err == 0)
        return kt_fail(e, KT_EIO, "cannot write to standard output");
    return kt_fail_errno(e, KT_EIO, err, "cannot write to standard output");
}
