/*
 * helpers.c - fixtures shared by the common/ tests (see helpers.h).
 */
#include "helpers.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <sodium.h>

char *scratch_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir;

    cr_assert(sodium_init() >= 0);
    cr_assert(asprintf(&dir, "%s/kt-common-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp") >
              0);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void scratch_remove(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *path_in(const char *dir, const char *name)
{
    char *p;

    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

void write_raw(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "fopen %s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

size_t stray_entries(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    cr_assert_not_null(d, "opendir %s", dir);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (keep != NULL && strcmp(de->d_name, keep) == 0)
            continue;
        cr_log_info("stray entry in %s: %s", dir, de->d_name);
        n++;
    }
    closedir(d);
    return n;
}
