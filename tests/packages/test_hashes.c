/*
 * test_hashes.c - the published hash table: the exact text written, the round trip, lookups, the
 * table agreeing with `sha256sum`, and the strict parser's refusals, each with a line number.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkgtest.h"

static const char GOLDEN[] = "# keytransfer published hashes 1\n"
                             "# REGION  FILE  SHA256\n"
                             "NA  KeyTransfer-BYOK-Tools-NA.zip  "
                             "0000000000000000000000000000000000000000000000000000000000000000\n"
                             "EU  KeyTransfer-BYOK-Tools-EU.zip  "
                             "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n";

static void rows(pkg_hash_row r[2])
{
    memset(r, 0, 2 * sizeof *r);
    snprintf(r[0].region, sizeof r[0].region, "NA");
    snprintf(r[0].file, sizeof r[0].file, "KeyTransfer-BYOK-Tools-NA.zip");
    snprintf(r[1].region, sizeof r[1].region, "EU");
    snprintf(r[1].file, sizeof r[1].file, "KeyTransfer-BYOK-Tools-EU.zip");
    memset(r[1].sha256, 0xff, 32);
}

static kt_rc parse(const char *s, kt_err *e)
{
    pkg_hash_table t;
    kt_rc rc = pkg_hashes_parse((const uint8_t *)s, strlen(s), &t, e);

    if (rc != KT_OK) {
        cr_assert_null(t.rows);
        cr_log_info("refused: %s", e->msg);
    }
    pkg_hashes_free(&t);
    return rc;
}

Test(hashes, golden_and_round_trip)
{
    pkg_hash_row r[2];
    pkg_hash_table t;
    const pkg_hash_row *row;
    char *s = NULL;
    kt_err e;

    rows(r);
    cr_assert_eq(pkg_hashes_write(r, 2, &s, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(s, GOLDEN);
    cr_assert_eq(pkg_hashes_parse((const uint8_t *)s, strlen(s), &t, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(t.n, 2);
    cr_assert_eq(pkg_hashes_lookup(&t, "KeyTransfer-BYOK-Tools-EU.zip", &row, &e), KT_OK);
    cr_assert_str_eq(row->region, "EU");
    cr_assert_arr_eq(row->sha256, r[1].sha256, 32);
    cr_assert_eq(pkg_hashes_lookup(&t, "KeyTransfer-BYOK-Tools-AP.zip", &row, &e), KT_EDENIED);
    cr_assert_null(row);
    /* Lookup is by exact name. */
    cr_assert_eq(pkg_hashes_lookup(&t, "keytransfer-byok-tools-eu.zip", &row, &e), KT_EDENIED);
    pkg_hashes_free(&t);
    free(s);
}

Test(hashes, agrees_with_sha256sum)
{
    pt_need("sha256sum");
    char *dir = ts_scratch(), *f = ts_path(dir, "KeyTransfer-BYOK-Tools-NA.zip");
    pkg_hash_row r;
    pkg_hash_table t;
    const pkg_hash_row *row;
    char *s = NULL, hex[65];
    kt_err e;
    int st;

    ts_write(f, "hello toolset\n", 14);
    memset(&r, 0, sizeof r);
    snprintf(r.region, sizeof r.region, "NA");
    snprintf(r.file, sizeof r.file, "KeyTransfer-BYOK-Tools-NA.zip");
    kt_sha256(r.sha256, "hello toolset\n", 14);
    cr_assert_eq(pkg_hashes_write(&r, 1, &s, &e), KT_OK);
    cr_assert_eq(pkg_hashes_parse((const uint8_t *)s, strlen(s), &t, &e), KT_OK);
    cr_assert_eq(pkg_hashes_lookup(&t, "KeyTransfer-BYOK-Tools-NA.zip", &row, &e), KT_OK);
    kt_hex(hex, row->sha256, 32);
    char *out = pt_capture(&st, "sha256sum %s | cut -c1-64", f);
    cr_assert_eq(st, 0);
    cr_assert_eq(strncmp(out, hex, 64), 0);
    free(out);
    pkg_hashes_free(&t);
    free(s);
    free(f);
    ts_rmrf(dir);
}

Test(hashes, comments_are_allowed)
{
    kt_err e;
    char *s;

    cr_assert(asprintf(&s, "%s# another comment\n", GOLDEN) > 0);
    cr_assert_eq(parse(s, &e), KT_OK, "%s", e.msg);
    free(s);
}

/* GOLDEN with `from` replaced by `to`. */
static char *variant(const char *from, const char *to)
{
    const char *at = strstr(GOLDEN, from);
    char *s;

    cr_assert_not_null(at, "%s", from);
    cr_assert(asprintf(&s, "%.*s%s%s", (int)(at - GOLDEN), GOLDEN, to, at + strlen(from)) > 0);
    return s;
}

Test(hashes, refusals)
{
    static const struct {
        const char *from, *to;
        kt_rc rc;
        const char *why;
    } cases[] = {
        {"# keytransfer published hashes 1", "# keytransfer published hashes 2", KT_EVERSION,
         "first line"},
        {"# keytransfer published hashes 1", "# hashes", KT_EFORMAT, "first line"},
        {"# keytransfer published hashes 1\n", "", KT_EFORMAT, "first line"},
        {"\nEU", "\r\nEU", KT_EFORMAT, "line 3"},
        {"NA  Key", "NA Key", KT_EFORMAT, "two spaces"},
        {"NA  Key", "NA   Key", KT_EFORMAT, "line 3"},
        {"NA  Key", "NA\tKey", KT_EFORMAT, "printable"},
        {"zip  0000", "zip 0000", KT_EFORMAT, "two spaces"},
        {"zip  ffff", "zip  FFFF", KT_EFORMAT, "lower-case"},
        {"zip  0000", "zip  000", KT_EFORMAT, "line 3"},
        {"0000\n", "0000 \n", KT_EFORMAT, "line 3"},
        {"NA  ", "na  ", KT_EFORMAT, "upper-case"},
        {"NA  ", "  ", KT_EFORMAT, "region"},
        {"NA  ", "ABCDEFGHIJKLMNOPQ  ", KT_EFORMAT, "region"},
        {"KeyTransfer-BYOK-Tools-NA.zip", ".hidden", KT_EFORMAT, "start"},
        {"KeyTransfer-BYOK-Tools-NA.zip", "dir/file.zip", KT_EFORMAT, "letters"},
        {"KeyTransfer-BYOK-Tools-NA.zip", "a b.zip", KT_EFORMAT, "two spaces"},
        {"KeyTransfer-BYOK-Tools-NA.zip", "caf\xc3\xa9.zip", KT_EFORMAT, "printable"},
        {"KeyTransfer-BYOK-Tools-EU.zip", "keytransfer-byok-tools-NA.zip", KT_EFORMAT, "twice"},
        {"ff\n", "ff", KT_EFORMAT, "newline"},
        {"ff\n", "ff\n\n", KT_EFORMAT, "line 5"},
        {"NA  Key", "\nNA  Key", KT_EFORMAT, "line 3"},
    };
    kt_err e;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = variant(cases[i].from, cases[i].to);

        cr_assert_eq(parse(s, &e), cases[i].rc, "case %zu: %s", i, e.msg);
        cr_assert(strstr(e.msg, cases[i].why) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, e.msg,
                  cases[i].why);
        free(s);
    }
    cr_assert_eq(parse("# keytransfer published hashes 1\n# REGION  FILE  SHA256\n", &e),
                 KT_EFORMAT, "no rows");
    cr_assert_eq(parse("", &e), KT_EFORMAT);
    /* Over the size cap. */
    size_t n = PKG_HASHES_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, '#', n);
    big[n - 1] = '\n';
    big[n] = '\0';
    cr_assert_eq(parse(big, &e), KT_ETOOBIG);
    free(big);
    /* A NUL inside. */
    pkg_hash_table t;
    cr_assert_eq(pkg_hashes_parse((const uint8_t *)GOLDEN, sizeof GOLDEN, &t, &e), KT_EFORMAT);
}

Test(hashes, writer_refuses_what_the_parser_would)
{
    pkg_hash_row r[2];
    char *s = NULL;
    kt_err e;

    rows(r);
    snprintf(r[1].file, sizeof r[1].file, "keytransfer-byok-tools-na.ZIP");
    cr_assert_eq(pkg_hashes_write(r, 2, &s, &e), KT_EFORMAT);
    rows(r);
    snprintf(r[0].region, sizeof r[0].region, "na");
    cr_assert_eq(pkg_hashes_write(r, 2, &s, &e), KT_EFORMAT);
    rows(r);
    snprintf(r[0].file, sizeof r[0].file, "../x");
    cr_assert_eq(pkg_hashes_write(r, 2, &s, &e), KT_EFORMAT);
    cr_assert_eq(pkg_hashes_write(r, 0, &s, &e), KT_EUSAGE);
    cr_assert_null(s);
}
