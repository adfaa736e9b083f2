/*
 * helpers.h - a fixture of the common/ tests: a scan for stray files (scratch folders and raw
 * files come from tests/support/scratch.h).
 */
#ifndef KT_TEST_HELPERS_H
#define KT_TEST_HELPERS_H

#include "support/scratch.h"
#include <stddef.h>

/* Number of entries in dir other than ".", ".." and keep (keep may be NULL); their names are
 * logged. */
size_t stray_entries(const char *dir, const char *keep);

#endif
