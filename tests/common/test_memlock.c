/*
 * test_memlock.c - the start-up check that memory for secrets can be locked: it says yes when it
 * can; in a child without CAP_IPC_LOCK and with RLIMIT_MEMLOCK lowered it says no, with a message
 * that names the limit, its value and what to run, and refuses only when
 * KEYTRANSFER_REQUIRE_MLOCK=1 asks it to.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kt.h"

/* Drops CAP_IPC_LOCK (which lets root lock past the limit) and sets RLIMIT_MEMLOCK. */
static bool limit_locking(rlim_t soft, rlim_t hard)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    struct rlimit rl = {soft, hard};

    if (syscall(SYS_capget, &h, d) != 0)
        return false;
    d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
    d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
    if (syscall(SYS_capset, &h, d) != 0)
        return false;
    return setrlimit(RLIMIT_MEMLOCK, &rl) == 0;
}

/* Runs body in a child with locking limited; its exit status is the test's verdict. */
#define IN_LIMITED_CHILD(soft, hard, body)                                                         \
    do {                                                                                           \
        int status_;                                                                               \
        pid_t pid_ = fork();                                                                       \
        cr_assert_neq(pid_, -1);                                                                   \
        if (pid_ == 0) {                                                                           \
            if (!limit_locking(soft, hard))                                                        \
                _exit(90);                                                                         \
            body;                                                                                  \
            _exit(0);                                                                              \
        }                                                                                          \
        cr_assert_eq(waitpid(pid_, &status_, 0), pid_);                                            \
        cr_assert(WIFEXITED(status_), "status %d", status_);                                       \
        cr_assert_eq(WEXITSTATUS(status_), 0, "check %d failed in the child",                      \
                     WEXITSTATUS(status_));                                                        \
    } while (0)

static int has(const kt_err *e, const char *part)
{
    return strstr(e->msg, part) != NULL;
}

Test(memlock, lockable_memory_gives_no_warning)
{
    kt_err w;
    struct rlimit rl;

    cr_assert_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < KT_MEMLOCK_PROBE && geteuid() != 0)
        cr_skip_test("RLIMIT_MEMLOCK here is below %d bytes", KT_MEMLOCK_PROBE);
    unsetenv("KEYTRANSFER_REQUIRE_MLOCK");
    cr_assert_eq(kt_memlock_check(KT_MEMLOCK_PROBE, "prog", &w), KT_OK);
    cr_assert_eq(w.rc, KT_OK, "%s", w.msg);
}

Test(memlock, a_zero_limit_warns_naming_the_limit_and_the_fix)
{
    IN_LIMITED_CHILD(0, 8u << 20, {
        kt_err w;
        unsetenv("KEYTRANSFER_REQUIRE_MLOCK");
        if (kt_memlock_check(KT_MEMLOCK_PROBE, "prog", &w) != KT_OK)
            _exit(1);
        if (w.rc != KT_ENOMEM)
            _exit(2);
        if (!has(&w, "RLIMIT_MEMLOCK (`ulimit -l`) is 0 KiB (hard limit 8192 KiB)") ||
            !has(&w, "prog needs 64 KiB") || !has(&w, "`ulimit -l 1024`") || !has(&w, "swap") ||
            !has(&w, "mlock: Operation not permitted"))
            _exit(3);
        /* Refused only when asked. */
        setenv("KEYTRANSFER_REQUIRE_MLOCK", "1", 1);
        if (kt_memlock_check(KT_MEMLOCK_PROBE, "prog", &w) != KT_ENOMEM ||
            !has(&w, "Refusing to run"))
            _exit(4);
        setenv("KEYTRANSFER_REQUIRE_MLOCK", "0", 1);
        if (kt_memlock_check(KT_MEMLOCK_PROBE, "prog", &w) != KT_OK)
            _exit(5);
    });
}

Test(memlock, a_limit_below_the_need_warns_and_one_above_does_not)
{
    IN_LIMITED_CHILD(256 * 1024, 512 * 1024, {
        kt_err w;
        unsetenv("KEYTRANSFER_REQUIRE_MLOCK");
        if (kt_memlock_check(1 << 20, "prog", &w) != KT_OK || w.rc != KT_ENOMEM)
            _exit(1);
        if (!has(&w, "is 256 KiB (hard limit 512 KiB)") || !has(&w, "prog needs 1024 KiB") ||
            !has(&w, "the hard limit is too low") || !has(&w, "limits.conf"))
            _exit(2);
        if (kt_memlock_check(128 * 1024, "prog", &w) != KT_OK || w.rc != KT_OK)
            _exit(3);
    });
}

Test(memlock, a_failure_elsewhere_is_reported_the_same_way)
{
    kt_err w;

    unsetenv("KEYTRANSFER_REQUIRE_MLOCK");
    cr_assert_eq(kt_memlock_failed(1 << 20, 0, "prog", &w), KT_OK);
    cr_assert_eq(w.rc, KT_ENOMEM);
    cr_assert(has(&w, "OpenSSL could not lock its secure heap"), "%s", w.msg);
}
