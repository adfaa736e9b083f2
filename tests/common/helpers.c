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
