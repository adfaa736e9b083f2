/*
 * hashes.c - the published hash table: which file each region downloads and its SHA-256, as the
 * download page of the Azure BYOK toolset lists them (region, file name, hash). A plain text
 * file a person can read and `sha256sum` can be compared with; written in one spelling and
 * parsed strictly (docs/formats.md ("What travels between machines")).
 */
#include "packages_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_COMMENT "# REGION  FILE  SHA256"
#define SEP            "  "
#define HEX_LEN        64

static kt_rc file_check(const char *file, size_t n, size_t line, kt_err *e)
{
    if (n == 0 || n > PKG_HASHES_FILE_MAX)
        return kt_fail(e, KT_EFORMAT,
                       "published hashes, line %zu: a file name of 1 to %d "
                       "characters is required",
                       line, PKG_HASHES_FILE_MAX);
    if (file[0] == '.')
        return kt_fail(e, KT_EFORMAT,
                       "published hashes, line %zu: a file name cannot start "
                       "with '.'",
                       line);
    for (size_t i = 0; i < n; i++) {
        char c = file[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return kt_fail(e, KT_EFORMAT,
                           "published hashes, line %zu: file names may hold only letters, "
                           "digits, '.', '_' and '-'",
                           line);
    }
    return KT_OK;
}

static kt_rc rows_unique(const pkg_hash_row *rows, size_t n, kt_err *e)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (pkg_equal_nocase(rows[i].file, rows[j].file))
                return kt_fail(e, KT_EFORMAT,
                               "published hashes: %s is listed twice (file names must be "
                               "unique, ignoring case)",
                               rows[j].file);
        }
    }
    return KT_OK;
}

kt_rc pkg_hashes_write(const pkg_hash_row *rows, size_t n, char **out, kt_err *e)
{
    size_t cap, used = 0;
    char *s;
    kt_rc rc;

    *out = NULL;
    if (n == 0 || n > PKG_HASHES_ROWS_MAX)
        return kt_fail(e, KT_EUSAGE, "a published hash table of %zu rows; 1 to %d are accepted", n,
                       PKG_HASHES_ROWS_MAX);
    for (size_t i = 0; i < n; i++) {
        if ((rc = pkg_region_check(rows[i].region, "published hashes: region", e)) != KT_OK ||
            (rc = file_check(rows[i].file, strnlen(rows[i].file, PKG_HASHES_FILE_MAX + 1), i + 1,
                             e)) != KT_OK)
            return rc;
    }
    if ((rc = rows_unique(rows, n, e)) != KT_OK)
        return rc;
    cap = sizeof PKG_HASHES_MAGIC + sizeof HEADER_COMMENT +
          n * (PKG_REGION_MAX + PKG_HASHES_FILE_MAX + HEX_LEN + 2 * strlen(SEP) + 1) + 1;
    s = malloc(cap);
    if (s == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    used += (size_t)snprintf(s + used, cap - used, "%s\n%s\n", PKG_HASHES_MAGIC, HEADER_COMMENT);
    for (size_t i = 0; i < n; i++) {
        char hex[HEX_LEN + 1];

        kt_hex(hex, rows[i].sha256, 32);
        used += (size_t)snprintf(s + used, cap - used, "%s" SEP "%s" SEP "%s\n", rows[i].region,
                                 rows[i].file, hex);
    }
    if (used > PKG_HASHES_MAX) {
        free(s);
        return kt_fail(e, KT_EUSAGE, "the published hash table would be over %d bytes",
                       PKG_HASHES_MAX);
    }
    *out = s;
    return KT_OK;
}

void pkg_hashes_free(pkg_hash_table *t)
{
    if (t == NULL)
        return;
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* One row line (without its '\n'): REGION SEP FILE SEP HEX, nothing else. */
static kt_rc parse_row(const char *l, size_t n, size_t line, pkg_hash_row *row, kt_err *e)
{
    const char *a = memchr(l, ' ', n), *b;
    char hex[HEX_LEN + 1], label[64];
    size_t rn, fn;
    kt_rc rc;

    if (a == NULL || (size_t)(a - l) + 2 > n || a[1] != ' ')
        goto shape;
    rn = (size_t)(a - l);
    b = memchr(a + 2, ' ', n - rn - 2);
    if (b == NULL || (size_t)(b - l) + 2 > n || b[1] != ' ')
        goto shape;
    fn = (size_t)(b - (a + 2));
    if (n - (size_t)(b + 2 - l) != HEX_LEN)
        goto shape;
    if (rn == 0 || rn > PKG_REGION_MAX)
        return kt_fail(e, KT_EFORMAT,
                       "published hashes, line %zu: the region must be 1 to %d "
                       "characters",
                       line, PKG_REGION_MAX);
    memcpy(row->region, l, rn);
    row->region[rn] = '\0';
    snprintf(label, sizeof label, "published hashes, line %zu: the region", line);
    if ((rc = pkg_region_check(row->region, label, e)) != KT_OK)
        return rc;
    if ((rc = file_check(a + 2, fn, line, e)) != KT_OK)
        return rc;
    memcpy(row->file, a + 2, fn);
    row->file[fn] = '\0';
    memcpy(hex, b + 2, HEX_LEN);
    hex[HEX_LEN] = '\0';
    if ((rc = pkg_unhex_lower(row->sha256, 32, hex, "the SHA-256", e)) != KT_OK) {
        kt_err_prefix(e, "published hashes, line %zu", line);
        return rc;
    }
    return KT_OK;
shape:
    return kt_fail(e, KT_EFORMAT,
                   "published hashes, line %zu: expected REGION, FILE and a 64-digit SHA-256, "
                   "separated by two spaces",
                   line);
}

kt_rc pkg_hashes_parse(const uint8_t *in, size_t len, pkg_hash_table *out, kt_err *e)
{
    const char *s = (const char *)in;
    size_t pos = 0, line = 0;
    kt_rc rc = KT_OK;

    memset(out, 0, sizeof *out);
    if (len > PKG_HASHES_MAX)
        return kt_fail(e, KT_ETOOBIG, "the published hash table is %zu bytes; the limit is %d", len,
                       PKG_HASHES_MAX);
    if (len == 0 || in[len - 1] != '\n')
        return kt_fail(e, KT_EFORMAT, "published hashes: the last line must end with a newline");
    out->rows = calloc(PKG_HASHES_ROWS_MAX, sizeof *out->rows);
    if (out->rows == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    while (pos < len && rc == KT_OK) {
        const char *l = s + pos, *nl = memchr(l, '\n', len - pos);
        size_t n = (size_t)(nl - l);

        line++;
        pos += n + 1;
        if (!pkg_is_printable(l, n)) {
            rc = kt_fail(e, KT_EFORMAT,
                         "published hashes, line %zu: only printable ASCII and LF line ends are "
                         "accepted",
                         line);
        } else if (line == 1) {
            if (n != strlen(PKG_HASHES_MAGIC) || memcmp(l, PKG_HASHES_MAGIC, n) != 0)
                rc = kt_fail(e,
                             n > 2 && memcmp(l, "# ", 2) == 0 &&
                                     memmem(l, n, "published hashes", 16) != NULL
                                 ? KT_EVERSION
                                 : KT_EFORMAT,
                             "published hashes: the first line must be \"%s\"", PKG_HASHES_MAGIC);
        } else if (n > 0 && l[0] == '#') {
            continue; /* a comment */
        } else if (out->n == PKG_HASHES_ROWS_MAX) {
            rc = kt_fail(e, KT_ETOOBIG, "published hashes: more than %d rows", PKG_HASHES_ROWS_MAX);
        } else {
            rc = parse_row(l, n, line, &out->rows[out->n], e);
            if (rc == KT_OK)
                out->n++;
        }
    }
    if (rc == KT_OK && out->n == 0)
        rc = kt_fail(e, KT_EFORMAT, "published hashes: the table lists no files");
    if (rc == KT_OK)
        rc = rows_unique(out->rows, out->n, e);
    if (rc != KT_OK)
        pkg_hashes_free(out);
    return rc;
}

kt_rc pkg_hashes_lookup(const pkg_hash_table *t, const char *file, const pkg_hash_row **row,
                        kt_err *e)
{
    char q[KT_QUOTE_SIZE];

    *row = NULL;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->rows[i].file, file) == 0) {
            *row = &t->rows[i];
            return KT_OK;
        }
    }
    kt_quote(q, sizeof q, file, strlen(file));
    return kt_fail(e, KT_EDENIED, "the published hash table does not list \"%s\"", q);
}
