/*
 * pkg_hashes.h - packages/: the published hash table (hashes.c). Part of the folder's face; pkg.h
 * is the index and its conventions hold here.
 */
#ifndef KT_PKG_HASHES_H
#define KT_PKG_HASHES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg_payload.h"

#define PKG_HASHES_MAX      (64 * 1024) /* bytes of a table */
#define PKG_HASHES_ROWS_MAX 256
#define PKG_HASHES_FILE_MAX 255
#define PKG_HASHES_MAGIC    "# keytransfer published hashes 1"

/* One row: which region's download, its file name and SHA-256. */
typedef struct pkg_hash_row {
    char region[PKG_REGION_MAX + 1];    /* [A-Z0-9]{1,16} */
    char file[PKG_HASHES_FILE_MAX + 1]; /* [A-Za-z0-9._-]{1,255}, not starting with '.' */
    uint8_t sha256[32];
} pkg_hash_row;

typedef struct pkg_hash_table {
    pkg_hash_row *rows;
    size_t n;
} pkg_hash_table;

/*
 * Writes the table text: the magic line, a column header comment, then one line per row
 * "REGION  FILE  SHA256HEX\n" (two spaces between fields, lower-case hex), in the given order.
 * File names must be unique (ignoring case). *out: heap string (free()).
 */
KT_MUST kt_rc pkg_hashes_write(const pkg_hash_row *rows, size_t n, char **out, kt_err *e);

/*
 * Parses a table strictly: at most PKG_HASHES_MAX bytes of ASCII, LF line ends (the last line
 * too), the magic line first, then comment lines ("#" and printable text) and rows exactly as
 * written; 1..PKG_HASHES_ROWS_MAX rows, file names unique ignoring case. KT_EFORMAT with the
 * line number. *out: pkg_hashes_free.
 */
KT_MUST kt_rc pkg_hashes_parse(const uint8_t *in, size_t len, pkg_hash_table *out, kt_err *e);

/* The row for file (exact name); KT_EDENIED when the table does not list it. *row borrows. */
KT_MUST kt_rc pkg_hashes_lookup(const pkg_hash_table *t, const char *file, const pkg_hash_row **row,
                                kt_err *e);

void pkg_hashes_free(pkg_hash_table *t);

#endif
