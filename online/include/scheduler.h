/*
 * scheduler.h - bounded concurrency for keytransfer-online (issue "Migrating a key estate"): runs n
 * jobs, at most `parallel` at a time, each in a child process of its own, so that a job is the
 * very code of one command (one upload: its retries, its look-up after a lost answer, its
 * checks) with its own memory, token copy and libcurl state, and a job that crashes takes no
 * other with it. What a job prints is captured (standard output and standard error, each in an
 * unnamed in-memory file) and handed to the caller when the job ends.
 */
#ifndef KT_ONLINE_SCHED_H
#define KT_ONLINE_SCHED_H

#include <stdbool.h>
#include <stddef.h>

#include "kt.h"

/* The most jobs at once (--parallel). */
#define ONLINE_PARALLEL_MAX 64
/* What a job's captured output keeps, each stream (the rest is cut, and said so). */
#define ONLINE_JOB_OUTPUT_MAX (1024 * 1024)

/* Runs job i in the child; returns the child's exit status. */
typedef int (*online_job_fn)(void *ctx, size_t i);

/* Told in the parent when job i ended: its exit status (128 + N for a job killed by signal N)
 * and what it wrote on standard output and standard error (NUL-terminated heap copies, the
 * callee's to keep or free with free()). */
typedef void (*online_job_done_fn)(void *ctx, size_t i, int status, char *out, char *err);

/*
 * Runs jobs 0..n-1 in order of start, at most parallel (1..ONLINE_PARALLEL_MAX) at once, each
 * in a forked child whose standard output and error go to memory files; done is called for
 * each as it ends (in the order they end). The parent's buffered standard streams are flushed
 * before each fork. In the child, job's return is its exit status (the child ends there, with
 * _exit, never running the parent's atexit handlers). KT_OK when every job ran (whatever its
 * status); KT_EIO when a child could not be started or waited for (jobs not started are then
 * not run, the running ones are waited for).
 */
KT_MUST kt_rc online_sched_run(size_t n, unsigned parallel, online_job_fn job,
                               online_job_done_fn done, void *ctx, kt_err *e);

#endif
