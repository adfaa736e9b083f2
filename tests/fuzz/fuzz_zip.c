/*
 * fuzz_zip.c - libFuzzer target for what the toolset download is checked with: the first byte
 * picks the zip reader (pkg_zip_read in memory, small caps, every accepted entry re-checked) or
 * the published hash table parser (every row re-checked, written back and parsed again).
 */
#include <stdlib.h>
#include <string.h>

#include "pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void zip(const uint8_t *data, size_t size)
{
    pkg_zip_caps caps = {.max_entries = 64,
                         .max_entry = 1024 * 1024,
                         .max_total = 4 * 1024 * 1024,
                         .max_zip = 1024 * 1024};
    pkg_zip_contents c;
    uint64_t total = 0;
    kt_err e;

    if (pkg_zip_read(data, size, &caps, &c, &e) != KT_OK) {
        if (c.files != NULL)
            abort();
        return;
    }
    if (c.n == 0 || c.n > caps.max_entries)
        abort();
    for (size_t i = 0; i < c.n; i++) {
        if (pkg_zip_name_check(c.files[i].name, c.files[i].is_dir, &e) != KT_OK ||
            c.files[i].data.len > caps.max_entry || (c.files[i].is_dir && c.files[i].data.len))
            abort();
        total += c.files[i].data.len;
    }
    if (total != c.total || total > caps.max_total)
        abort();
    pkg_zip_contents_free(&c);
}

static void hashes(const uint8_t *data, size_t size)
{
    pkg_hash_table t, again;
    const pkg_hash_row *row;
    char *text = NULL;
    kt_err e;

    if (pkg_hashes_parse(data, size, &t, &e) != KT_OK) {
        if (t.rows != NULL)
            abort();
        return;
    }
    if (t.n == 0 || t.n > PKG_HASHES_ROWS_MAX)
        abort();
    for (size_t i = 0; i < t.n; i++) {
        if (pkg_hashes_lookup(&t, t.rows[i].file, &row, &e) != KT_OK || row != &t.rows[i])
            abort();
    }
    if (pkg_hashes_write(t.rows, t.n, &text, &e) != KT_OK ||
        pkg_hashes_parse((const uint8_t *)text, strlen(text), &again, &e) != KT_OK ||
        again.n != t.n || memcmp(again.rows, t.rows, t.n * sizeof *t.rows) != 0)
        abort();
    pkg_hashes_free(&again);
    free(text);
    pkg_hashes_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0)
        zip(data + 1, size - 1);
    else
        hashes(data + 1, size - 1);
    return 0;
}
