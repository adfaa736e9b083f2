/*
 * cmd_hash.c - `keytransfer-online hash`: the SHA-256 of a download, streamed in constant memory
 * and printed as PowerShell's Get-FileHash prints it, optionally checked against an expected
 * hash or the published hash table (docs/design.md §1 step 1).
 */
#include "commands.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_EXPECT = 256, OPT_TABLE, OPT_JSON };

static const cli_opt opts[] = {
    {OPT_EXPECT, "expect", CLI_VALUE, "HEX", "the expected SHA-256: 64 hex digits, either case"},
    {OPT_TABLE, "table", CLI_VALUE, "FILE",
     "the published hash table (published-hashes.txt); FILE's base name\nmust be listed in it"},
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd cmd = {
    .name = "hash",
    .synopsis = "FILE [--expect HEX | --table published-hashes.txt] [--json]",
    .about = "Compute the SHA-256 of FILE (read in 64 KiB pieces: files of any size in constant\n"
             "memory) and print it as PowerShell's Get-FileHash does. With --expect or --table, "
             "compare\nit and print 'Result: SUCCESS', or 'Result: FAILURE' (exit status 1).",
    .opts = opts,
    .min_args = 1,
    .max_args = 1,
};

typedef struct hash_args {
    const char *file, *expect, *table;
    bool json;
} hash_args;

/* 1. options */
static int parse(int argc, char **argv, hash_args *a)
{
    cli_args c;
    int status = cli_parse(&cmd, argc, argv, &c);

    if (status >= 0)
        return status;
    a->file = c.arg[0];
    a->expect = cli_value(&c, OPT_EXPECT);
    a->table = cli_value(&c, OPT_TABLE);
    a->json = cli_flag(&c, OPT_JSON);
    cli_args_free(&c);
    if (a->expect != NULL && a->table != NULL)
        return cli_usage(cmd.name, "give --expect or --table, not both");
    return -1;
}

/* 2. inputs: the expected hash, from the command line or the published table */
static kt_rc expected(const hash_args *a, uint8_t want[32], char *source, size_t sourcesz,
                      kt_err *e)
{
    if (a->expect != NULL) {
        snprintf(source, sourcesz, "--expect");
        return online_sha256_parse(a->expect, want, e);
    }
    kt_buf raw = {0};
    pkg_hash_table t = {0};
    const pkg_hash_row *row;
    const char *name = online_basename(a->file);
    kt_rc rc = kt_file_read(a->table, PKG_HASHES_MAX, &raw, e);
    if (rc == KT_OK && (rc = pkg_hashes_parse(raw.p, raw.len, &t, e)) != KT_OK)
        kt_err_prefix(e, "%s", a->table);
    if (rc == KT_OK && (rc = pkg_hashes_lookup(&t, name, &row, e)) != KT_OK) {
        char listed[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < t.n && used + 1 < sizeof listed; i++) {
            int n = snprintf(listed + used, sizeof listed - used, "%s%s", i ? ", " : "",
                             t.rows[i].file);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        rc = kt_fail(e, KT_EDENIED,
                     "%s is not listed in %s, so its hash cannot be checked (the table lists: "
                     "%s)",
                     name, a->table, listed);
    }
    if (rc == KT_OK) {
        memcpy(want, row->sha256, 32);
        snprintf(source, sourcesz, "%s, region %s", a->table, row->region);
    }
    pkg_hashes_free(&t);
    kt_buf_free(&raw);
    return rc;
}

int cmd_hash(int argc, char **argv)
{
    hash_args a;
    uint8_t want[32], have[32];
    char source[PATH_MAX + 64], path[PATH_MAX], hex[65];
    kt_err e;
    int status = parse(argc, argv, &a);

    if (status >= 0)
        return status;

    /* 2. inputs */
    kt_err_clear(&e);
    bool check = a.expect != NULL || a.table != NULL;
    if (check && expected(&a, want, source, sizeof source, &e) != KT_OK)
        return cli_report(&e);

    /* 3. operation */
    uint64_t size = 0;
    if (online_hash_file(a.file, have, &size, kt_progress_stderr, NULL, &e) != KT_OK)
        return cli_report(&e);

    /* 4. output: Get-FileHash's table (Format-Table of Algorithm, Hash, Path) */
    if (realpath(a.file, path) == NULL)
        snprintf(path, sizeof path, "%s", a.file);
    online_hex_upper(hex, have);
    if (a.json) {
        char want_hex[65] = "";
        bool same = check && kt_ct_equal(want, have, 32);
        if (check)
            online_hex_upper(want_hex, want);
        json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o}", "format",
                              "keytransfer-online-hash/1", "algorithm", "SHA256", "hash", hex,
                              "path", path, "bytes", (json_int_t)size, "expected",
                              check ? json_string(want_hex) : json_null(), "source",
                              check ? json_string(source) : json_null(), "result",
                              check ? json_string(same ? "SUCCESS" : "FAILURE") : json_null());
        status = cli_print_json(v);
        if (check && !same) {
            fprintf(stderr,
                    "keytransfer-online: %s does not have the expected SHA-256: it is damaged or "
                    "not the published file; do not use it\n",
                    a.file);
            return KT_EXIT_DENIED;
        }
        return status;
    }
    printf("\n%-15s %-70s %s\n%-15s %-70s %s\n%-15s %-70s %s\n\n", "Algorithm", "Hash", "Path",
           "---------", "----", "----", "SHA256", hex, path);
    if (!check)
        return KT_EXIT_OK;
    char want_hex[65];
    online_hex_upper(want_hex, want);
    printf("Expected: %s (%s)\n", want_hex, source);
    if (kt_ct_equal(want, have, 32)) {
        printf("Result: SUCCESS\n");
        return KT_EXIT_OK;
    }
    printf("Actual:   %s\nResult: FAILURE\n", hex);
    fprintf(stderr,
            "keytransfer-online: %s does not have the expected SHA-256: it is damaged or not the "
            "published file; do not use it\n",
            a.file);
    return KT_EXIT_DENIED;
}
