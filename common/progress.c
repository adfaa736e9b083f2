/*
 * progress.c - the CLI's progress indicator: one line on stderr, rewritten in place, shown only
 * when stderr is a terminal (so logs and pipes stay clean).
 */
#include "kt.h"

#include <stdio.h>
#include <unistd.h>

void kt_progress_stderr(void *ctx, const char *task, size_t done, size_t total)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO))
        return;
    fprintf(stderr, "\r%s: %zu/%zu", task != NULL ? task : "working", done, total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}
