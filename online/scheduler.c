/*
 * scheduler.c - bounded concurrency in child processes (scheduler.h): a fork per job, at most N
 * alive, each job's standard output and error captured in memfd files and handed back when it ends.
 */
#include "scheduler.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct slot {
    pid_t pid; /* 0: free */
    size_t job;
    int out, err; /* the memfd files */
} slot;

/* Reads what a memfd holds from its start, at most ONLINE_JOB_OUTPUT_MAX bytes. */
static char *slurp(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);
    size_t n = end > 0 ? (size_t)end : 0, got = 0;
    const char cut[] = "\n[output cut]\n";
    bool over = n > ONLINE_JOB_OUTPUT_MAX;
    char *s;

    if (over)
        n = ONLINE_JOB_OUTPUT_MAX;
    if ((s = malloc(n + sizeof cut)) == NULL)
        return NULL;
    while (got < n) {
        ssize_t r = pread(fd, s + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    s[got] = '\0';
    if (over)
        memcpy(s + got, cut, sizeof cut);
    return s;
}

static void finish(slot *sl, int wstatus, online_job_done_fn done, void *ctx)
{
    int status = WIFEXITED(wstatus)     ? WEXITSTATUS(wstatus)
                 : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus)
                                        : 255;
    char *out = slurp(sl->out), *err = slurp(sl->err);

    close(sl->out);
    close(sl->err);
    sl->pid = 0;
    done(ctx, sl->job, status, out, err);
}

/* Waits for any child of ours in slots and finishes it; false when none could be waited for. */
static bool reap(slot *slots, unsigned n, online_job_done_fn done, void *ctx, int *err)
{
    for (;;) {
        int wstatus;
        pid_t pid = waitpid(-1, &wstatus, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) {
            *err = errno;
            return false;
        }
        for (unsigned i = 0; i < n; i++)
            if (slots[i].pid == pid) {
                finish(&slots[i], wstatus, done, ctx);
                return true;
            }
        /* a child that is not one of ours (none is expected): go on waiting */
    }
}

static kt_rc start(slot *sl, size_t job_no, online_job_fn job, void *ctx, kt_err *e)
{
    int out = memfd_create("kt-job-out", MFD_CLOEXEC),
        err = memfd_create("kt-job-err", MFD_CLOEXEC);

    if (out < 0 || err < 0) {
        int er = errno;
        if (out >= 0)
            close(out);
        if (err >= 0)
            close(err);
        return kt_fail_errno(e, KT_EIO, er, "cannot make a memory file for a job's output");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int er = errno;
        close(out);
        close(err);
        return kt_fail_errno(e, KT_EIO, er, "cannot start a job (fork)");
    }
    if (pid == 0) {
        /* the child: its streams go to the memory files, then it is the job */
        if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
            _exit(4);
        int status = job(ctx, job_no);
        fflush(NULL);
        _exit(status);
    }
    sl->pid = pid;
    sl->job = job_no;
    sl->out = out;
    sl->err = err;
    return KT_OK;
}

kt_rc online_sched_run(size_t n, unsigned parallel, online_job_fn job, online_job_done_fn done,
                       void *ctx, kt_err *e)
{
    slot slots[ONLINE_PARALLEL_MAX];
    unsigned alive = 0;
    size_t next = 0;
    kt_rc rc = KT_OK;
    int werr = 0;

    if (parallel < 1 || parallel > ONLINE_PARALLEL_MAX)
        return kt_fail(e, KT_EUSAGE, "run 1 to %d jobs at once, not %u", ONLINE_PARALLEL_MAX,
                       parallel);
    memset(slots, 0, sizeof slots);
    while (rc == KT_OK && (next < n || alive > 0)) {
        if (next < n && alive < parallel) {
            unsigned i = 0;
            while (slots[i].pid != 0)
                i++;
            if ((rc = start(&slots[i], next, job, ctx, e)) != KT_OK)
                break;
            next++;
            alive++;
            continue;
        }
        if (!reap(slots, parallel, done, ctx, &werr)) {
            rc = kt_fail_errno(e, KT_EIO, werr, "cannot wait for a job");
            break;
        }
        alive--;
    }
    /* after a failure: the jobs still running are waited for and told */
    while (alive > 0 && reap(slots, parallel, done, ctx, &werr))
        alive--;
    return rc;
}
