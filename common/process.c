/*
 * process.c - the start-up hardening every program runs first (DESIGN.md §6): libsodium ready,
 * files private by default (umask 077), and no core dumps that could carry secrets to disk
 * (RLIMIT_CORE 0, and not dumpable, which also keeps other users' ptrace away).
 */
#include "kt.h"

#include <errno.h>
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
