/*
 * process.c - the start-up hardening every program runs first (DESIGN.md §6): libsodium ready,
 * files private by default (umask 077), and no core dumps that could carry secrets to disk
 * (RLIMIT_CORE 0, and not dumpable, which also keeps other users' ptrace away); and the check at
 * exit that what a program printed really left it.
 */
#include "kt.h"

#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

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
