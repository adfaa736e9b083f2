/*
 * scratch.c - scratch folders and raw file reads and writes for the Criterion suites.
 */
#include "scratch.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

/* Every scratch folder this process made, removed when it exits (each Criterion test runs in
 * a process of its own), so that a test that fails or forgets leaves nothing in /tmp. */
#define TRACKED_MAX 64
static char tracked[TRACKED_MAX][PATH_MAX];
static size_t ntracked;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw);

static void remove_tracked(void)
{
    for (size_t i = 0; i < ntracked; i++)
        nftw(tracked[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void track(const char *dir)
{
    if (ntracked == 0)
        atexit(remove_tracked);
    if (ntracked < TRACKED_MAX)
        snprintf(tracked[ntracked++], PATH_MAX, "%s", dir);
}

char *ts_scratch(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir;

    cr_assert(sodium_init() >= 0);
    cr_assert(asprintf(&dir, "%s/kt-test-XXXXXX", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp") > 0);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    track(dir);
    return dir;
}

void ts_scratch_into(char *out, size_t n)
{
    char *dir = ts_scratch();

    cr_assert(strlen(dir) < n, "scratch path too long");
    memcpy(out, dir, strlen(dir) + 1);
    free(dir);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void ts_rmrf(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *ts_path(const char *dir, const char *name)
{
    char *p;

    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

void ts_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

uint8_t *ts_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    size_t cap = 0, len = 0, got;

    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    do {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            p = realloc(p, cap + 1);
            cr_assert_not_null(p);
        }
        got = fread(p + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    p[len] = '\0';
    *n = len;
    return p;
}
