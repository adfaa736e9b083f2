/*
 * test_scheduler.c - bounded concurrency in child processes (online/scheduler.h): every job runs
 * once, never more than `parallel` at a time, its output and exit status come back to the right
 * job, a job killed by a signal is 128 + the signal, and a bound outside 1..64 is refused.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "otest.h"
#include "scheduler.h"

#define JOBS 12

typedef struct run {
    char *dir;
    int status[JOBS];
    char *out[JOBS], *err[JOBS];
    int ended;
} run;

/* "running" counts the jobs alive: each job adds itself, notes the highest count, sleeps a
 * little and takes itself out, all under a lock on the file. */
static void count(const char *dir, int delta, int *seen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/running", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    cr_assert(fd >= 0);
    flock(fd, LOCK_EX);
    int now[2] = {0, 0};
    ssize_t r = pread(fd, now, sizeof now, 0);
    (void)r;
    now[0] += delta;
    if (now[0] > now[1])
        now[1] = now[0];
    cr_assert_eq(pwrite(fd, now, sizeof now, 0), (ssize_t)sizeof now);
    if (seen != NULL)
        *seen = now[1];
    flock(fd, LOCK_UN);
    close(fd);
}

static int job(void *ctx, size_t i)
{
    const run *r = ctx;
    struct timespec ts = {0, 20 * 1000 * 1000};

    count(r->dir, 1, NULL);
    nanosleep(&ts, NULL);
    count(r->dir, -1, NULL);
    printf("out of job %zu\n", i);
    fprintf(stderr, "err of job %zu\n", i);
    if (i == 5)
        raise(SIGKILL);
    return (int)(i % 3);
}

static void done(void *ctx, size_t i, int status, char *out, char *err)
{
    run *r = ctx;
    cr_assert_lt(i, JOBS);
    cr_assert_null(r->out[i], "job %zu ended twice", i);
    r->status[i] = status;
    r->out[i] = out;
    r->err[i] = err;
    r->ended++;
}

Test(scheduler, every_job_once_bounded_with_its_output)
{
    run r = {.dir = ts_scratch()};
    kt_err e;
    int highest = 0;

    cr_assert_eq(online_sched_run(JOBS, 3, job, done, &r, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(r.ended, JOBS);
    count(r.dir, 0, &highest);
    cr_expect_leq(highest, 3, "%d jobs ran at once with a bound of 3", highest);
    cr_expect_geq(highest, 2, "the jobs ran one at a time (highest %d)", highest);
    for (size_t i = 0; i < JOBS; i++) {
        char want[64];
        if (i == 5) {
            cr_expect_eq(r.status[i], 128 + SIGKILL, "a killed job is 128 + the signal");
        } else {
            cr_expect_eq(r.status[i], (int)(i % 3), "job %zu's exit status", i);
            snprintf(want, sizeof want, "out of job %zu\n", i);
            cr_expect_str_eq(r.out[i], want);
            snprintf(want, sizeof want, "err of job %zu\n", i);
            cr_expect_str_eq(r.err[i], want);
        }
        free(r.out[i]);
        free(r.err[i]);
    }
    ts_rmrf(r.dir);
}

Test(scheduler, one_at_a_time)
{
    run r = {.dir = ts_scratch()};
    kt_err e;
    int highest = 0;

    cr_assert_eq(online_sched_run(4, 1, job, done, &r, &e), KT_OK, "%s", e.msg);
    count(r.dir, 0, &highest);
    cr_expect_eq(highest, 1);
    for (size_t i = 0; i < 4; i++) {
        free(r.out[i]);
        free(r.err[i]);
    }
    ts_rmrf(r.dir);
}

Test(scheduler, bounds_refused)
{
    run r = {.dir = ts_scratch()};
    kt_err e;

    cr_expect_eq(online_sched_run(1, 0, job, done, &r, &e), KT_EUSAGE);
    cr_expect_eq(online_sched_run(1, ONLINE_PARALLEL_MAX + 1, job, done, &r, &e), KT_EUSAGE);
    cr_expect_eq(r.ended, 0, "nothing ran");
    ts_rmrf(r.dir);
}
