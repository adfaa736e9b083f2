/*
 * test_process.c - start-up hardening (umask, no core dumps, not dumpable) and the progress
 * indicator, which writes only to a terminal.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "kt.h"

Test(process, harden_sets_umask_and_turns_off_core_dumps)
{
    struct rlimit rl;
    kt_err e;

    umask(022);
    cr_assert_eq(kt_process_harden(&e), KT_OK, "%s", e.msg);
    cr_assert_eq(umask(077), 077);
    cr_assert_eq(getrlimit(RLIMIT_CORE, &rl), 0);
    cr_assert_eq(rl.rlim_cur, 0);
    cr_assert_eq(rl.rlim_max, 0);
    cr_assert_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    /* Twice is fine. */
    cr_assert_eq(kt_process_harden(&e), KT_OK, "%s", e.msg);
}

Test(process, progress_is_silent_when_stderr_is_not_a_terminal, .init = cr_redirect_stderr)
{
    kt_progress_stderr(NULL, "hashing", 1, 2);
    kt_progress_stderr(NULL, "hashing", 2, 2);
    fflush(stderr);
    cr_assert_stderr_eq_str("");
}

Test(process, progress_draws_one_line_on_a_terminal)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    char out[256];
    size_t n = 0;
    int status;
    pid_t pid;

    cr_assert_geq(master, 0);
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int tty = open(ptsname(master), O_RDWR | O_NOCTTY);

        if (tty < 0 || dup2(tty, STDERR_FILENO) < 0)
            _exit(1);
        kt_progress_stderr(NULL, "hashing", 1, 2);
        kt_progress_stderr(NULL, "hashing", 2, 2);
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (;;) {
        struct pollfd pfd = {.fd = master, .events = POLLIN};
        ssize_t r;

        if (poll(&pfd, 1, 200) != 1)
            break;
        r = read(master, out + n, sizeof out - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    /* The terminal turns "\n" into "\r\n". */
    cr_assert_str_eq(out, "\rhashing: 1/2\rhashing: 2/2\r\n");
    close(master);
}
