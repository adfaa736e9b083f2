/*
 * scratch.h - the scratch folders and raw file helpers every Criterion suite shares. Each helper
 * asserts (fails the test) instead of returning an error.
 */
#ifndef KT_TEST_SCRATCH_H
#define KT_TEST_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

/* A fresh private folder under $TMPDIR (else /tmp); free with ts_rmrf. It is removed when the
 * test's process exits in any case. */
char *ts_scratch(void);

/* As ts_scratch, into out (n bytes); removed when the test's process exits. */
void ts_scratch_into(char *out, size_t n);

/* Removes dir and everything below it (links are not followed), then frees dir. */
void ts_rmrf(char *dir);

/* "dir/name" (heap; free()). */
char *ts_path(const char *dir, const char *name);

/* Writes n bytes to path with stdio, bypassing the careful writer (tests craft files). */
void ts_write(const char *path, const void *p, size_t n);

/* The whole file (heap, NUL-terminated beyond *n; free()). */
uint8_t *ts_read(const char *path, size_t *n);

#endif
