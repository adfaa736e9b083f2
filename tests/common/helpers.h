/*
 * helpers.h - small fixtures shared by the common/ tests: scratch folders, raw file setup and a
 * scan for stray files.
 */
#ifndef KT_TEST_HELPERS_H
#define KT_TEST_HELPERS_H

#include <stddef.h>

/* Creates a fresh private folder under $TMPDIR (or /tmp); the caller frees the path. */
char *scratch_dir(void);

/* Removes a scratch folder and everything in it, then frees the path. */
void scratch_remove(char *dir);

/* "<dir>/<name>" in a heap string the caller frees. */
char *path_in(const char *dir, const char *name);

/* Writes n bytes to path with plain stdio (test setup, not the code under test). */
void write_raw(const char *path, const void *p, size_t n);

/* Number of entries in dir other than ".", ".." and keep (keep may be NULL); their names are
 * logged. */
size_t stray_entries(const char *dir, const char *keep);

#endif
