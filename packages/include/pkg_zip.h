/*
 * pkg_zip.h - packages/: the toolset zip (zip.c). Part of the folder's face; pkg.h is the index and
 * its conventions hold here.
 */
#ifndef KT_PKG_ZIP_H
#define KT_PKG_ZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"

#define PKG_ZIP_NAME_MAX 1024 /* longest entry name; components at most 255 */

/* One file of a zip (names use '/' between folders). */
typedef struct pkg_zip_entry {
    const char *name;
    const uint8_t *data;
    size_t len;
} pkg_zip_entry;

/* Extraction limits. */
typedef struct pkg_zip_caps {
    size_t max_entries; /* default 1000 */
    uint64_t max_entry; /* bytes of one file, default 16 MiB */
    uint64_t max_total; /* bytes of all files, default 64 MiB */
    size_t max_zip;     /* bytes of the zip file itself, default 80 MiB */
} pkg_zip_caps;

/* The defaults above. */
pkg_zip_caps pkg_zip_caps_default(void);

/*
 * Checks an entry name as both writer and extractor do: 1..PKG_ZIP_NAME_MAX bytes of printable
 * ASCII, no backslash or ':', not absolute, no empty, "." or ".." component, each component at
 * most 255 bytes; a trailing '/' only when dir_ok (a folder entry). KT_EFORMAT naming the rule.
 */
KT_MUST kt_rc pkg_zip_name_check(const char *name, bool dir_ok, kt_err *e);

/*
 * Builds a deterministic zip of v[0..n-1] in memory (libzip): entries in the given order, stored
 * (no compression: the bytes do not depend on the zlib version), every mtime 2025-01-01
 * 00:00:00, Unix mode 0644, no extra fields, so the same input always gives the same bytes and
 * the published hash is reproducible. Names must pass pkg_zip_name_check and be unique (also
 * ignoring case). *out: kt_buf_free.
 */
KT_MUST kt_rc pkg_zip_build(const pkg_zip_entry *v, size_t n, kt_buf *out, kt_err *e);

/* pkg_zip_build, then kt_file_write(path, flags). */
KT_MUST kt_rc pkg_zip_write(const char *path, const pkg_zip_entry *v, size_t n, unsigned flags,
                            kt_err *e);

/* The validated contents of a zip. */
typedef struct pkg_zip_contents {
    struct pkg_zip_file {
        char *name; /* as in the archive; folders end with '/' and have no data */
        kt_buf data;
        bool is_dir;
    } * files;
    size_t n;
    uint64_t total; /* bytes of all files */
} pkg_zip_contents;

/*
 * Opens a zip held in memory and validates every entry before returning any: count, names
 * (pkg_zip_name_check; duplicates, also ignoring case, and a file that is also a folder
 * refused), regular files and folders only (symlinks and other types refused by their Unix
 * mode), no encryption, stored or deflated only, declared sizes within caps, then reads each
 * file (at most its declared size + 1 bytes) and checks the real size and CRC-32 against the
 * declaration; libzip's consistency check (local headers against the central directory) runs
 * too. caps NULL means pkg_zip_caps_default(). Messages name the entry. *out:
 * pkg_zip_contents_free.
 */
KT_MUST kt_rc pkg_zip_read(const uint8_t *zip, size_t len, const pkg_zip_caps *caps,
                           pkg_zip_contents *out, kt_err *e);

void pkg_zip_contents_free(pkg_zip_contents *c);

/*
 * Safe extraction of the zip at zip_path into dest: reads the file through kt_file_read (at most
 * caps->max_zip bytes), validates everything with pkg_zip_read, then writes the files into a
 * staged folder beside dest and publishes it as dest with the commit protocol (kt_txn: dest
 * appears whole or not at all; an interrupted earlier extraction there is completed or undone
 * first and told to report). dest must not exist or be an empty folder of the user's that nobody
 * else can write to (not a link, not a mount point), so nothing is overwritten and no link placed
 * beforehand is followed; when it already holds exactly this zip's files (an earlier run of the
 * same command), nothing is written and *earlier is set. When names is not NULL it receives what
 * was extracted: each file's name and size (data.p NULL, data.len the size); free with
 * pkg_zip_contents_free.
 */
KT_MUST kt_rc pkg_zip_extract(const char *zip_path, const char *dest, const pkg_zip_caps *caps,
                              kt_txn_report_fn report, void *ctx, pkg_zip_contents *names,
                              bool *earlier, kt_err *e);

#endif
