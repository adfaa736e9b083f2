/*
 * zip.c - the toolset zip (libzip): a deterministic writer, so the published hash of a toolset
 * can be reproduced, and a reader and extractor that trust nothing in the archive. Every entry
 * is validated (name, type, encryption, method, declared sizes, count) before any is
 * decompressed, every file is decompressed in memory against its declaration (size and
 * CRC-32) before any is written, and the files are written with the careful writer into a new
 * or empty folder, with everything removed again if a write fails midway.
 */
#include "packages_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

/* Every entry's modification time: 2025-01-01 00:00:00 in MS-DOS date and time fields. */
#define DOS_DATE       ((2025 - 1980) << 9 | 1 << 5 | 1)
#define DOS_TIME       0
#define COMPONENT_MAX  255
#define UNIX_FILE_MODE (S_IFREG | 0644)
#define DOS_DIRECTORY  0x10 /* MS-DOS attribute bit of a folder */
#define OPSYS_OSX      19   /* "made by" OS X: Unix modes, as ZIP_OPSYS_UNIX */

pkg_zip_caps pkg_zip_caps_default(void)
{
    pkg_zip_caps c = {
        .max_entries = 1000,
        .max_entry = 16u * 1024 * 1024,
        .max_total = 64u * 1024 * 1024,
        .max_zip = 80u * 1024 * 1024,
    };
    return c;
}

/* ----------------------------------------------------------------------------------------- */
/* Names                                                                                      */
/* ----------------------------------------------------------------------------------------- */

kt_rc pkg_zip_name_check(const char *name, bool dir_ok, kt_err *e)
{
    size_t len = strnlen(name, PKG_ZIP_NAME_MAX + 1), start = 0, end;
    char q[KT_QUOTE_SIZE];

    kt_quote(q, sizeof q, name, strlen(name));
    if (len == 0)
        return kt_fail(e, KT_EFORMAT, "zip entry with an empty name");
    if (len > PKG_ZIP_NAME_MAX)
        return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": the name is over %d characters", q,
                       PKG_ZIP_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c < 0x20 || c == 0x7f)
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\": character %zu of the name is a control character", q,
                           i + 1);
        if (c >= 0x80)
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\": character %zu of the name is not ASCII", q, i + 1);
        if (c == '\\')
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\": the name holds a backslash (a Windows path "
                           "separator, refused so it cannot climb out of the folder)",
                           q);
        if (c == ':')
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\": the name holds ':' (a drive or stream name)", q);
    }
    if (name[0] == '/')
        return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": an absolute path is refused", q);
    end = len;
    if (name[len - 1] == '/') {
        if (!dir_ok)
            return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": a file name cannot end with '/'", q);
        end = len - 1;
    }
    while (start <= end) {
        const char *c = name + start;
        size_t n = 0;

        while (start + n < end && c[n] != '/')
            n++;
        if (n == 0)
            return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": the name has an empty component", q);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\": a \"..\" component would climb out of the folder", q);
        if (n == 1 && c[0] == '.')
            return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": the name has a \".\" component", q);
        if (n > COMPONENT_MAX)
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\": a component of the name is over %d characters", q,
                           COMPONENT_MAX);
        start += n + 1;
    }
    return KT_OK;
}

/* Length of name without a trailing '/'. */
static size_t stem_len(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && name[n - 1] == '/' ? n - 1 : n;
}

/* True when a[0..na) equals b[0..nb) ignoring ASCII case. */
static bool same_nocase(const char *a, size_t na, const char *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        char x = a[i], y = b[i];

        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/*
 * Refuses two entries for one path (ignoring case, which matters on the file systems a USB stick
 * often carries, and a folder entry "a/" against a file "a"), and a file that another entry
 * treats as a folder ("a" and "a/b").
 */
static kt_rc check_unique(const char *const *names, const bool *is_dir, size_t n, kt_err *e)
{
    char qa[KT_QUOTE_SIZE], qb[KT_QUOTE_SIZE];

    for (size_t i = 0; i < n; i++) {
        size_t ni = stem_len(names[i]);

        for (size_t j = 0; j < n; j++) {
            size_t nj = stem_len(names[j]);

            if (i == j)
                continue;
            if (j > i && same_nocase(names[i], ni, names[j], nj)) {
                kt_quote(qa, sizeof qa, names[i], strlen(names[i]));
                kt_quote(qb, sizeof qb, names[j], strlen(names[j]));
                return kt_fail(e, KT_EFORMAT,
                               strcmp(names[i], names[j]) == 0
                                   ? "zip entry \"%s\" appears twice (\"%s\"): duplicate names "
                                     "are refused"
                                   : "zip entries \"%s\" and \"%s\" name the same file when case "
                                     "is ignored: refused",
                               qa, qb);
            }
            if (!is_dir[i] && nj > ni && names[j][ni] == '/' &&
                same_nocase(names[i], ni, names[j], ni)) {
                kt_quote(qa, sizeof qa, names[i], strlen(names[i]));
                kt_quote(qb, sizeof qb, names[j], strlen(names[j]));
                return kt_fail(e, KT_EFORMAT,
                               "zip entry \"%s\" is a file, but entry \"%s\" puts something "
                               "inside it",
                               qa, qb);
            }
        }
    }
    return KT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Writing                                                                                    */
/* ----------------------------------------------------------------------------------------- */

static kt_rc zip_failed(kt_err *e, const char *what, zip_error_t *ze)
{
    kt_rc rc = kt_fail(e, zip_error_code_zip(ze) == ZIP_ER_MEMORY ? KT_ENOMEM : KT_EIO, "%s: %s",
                       what, zip_error_strerror(ze));

    zip_error_fini(ze);
    return rc;
}

/* The whole content of an (archive-closed) buffer source into *out. */
static kt_rc source_bytes(zip_source_t *src, kt_buf *out, kt_err *e)
{
    zip_stat_t st;
    zip_int64_t got;

    out->p = NULL;
    out->len = 0;
    zip_stat_init(&st);
    if (zip_source_is_deleted(src))
        return kt_fail(e, KT_EIO, "libzip wrote no archive");
    if (zip_source_stat(src, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || st.size == 0 ||
        st.size > SIZE_MAX)
        return zip_failed(e, "cannot size the new zip", zip_source_error(src));
    if (zip_source_open(src) != 0)
        return zip_failed(e, "cannot read the new zip", zip_source_error(src));
    out->p = malloc((size_t)st.size);
    if (out->p == NULL) {
        zip_source_close(src);
        return kt_fail(e, KT_ENOMEM, "out of memory");
    }
    got = zip_source_read(src, out->p, st.size);
    zip_source_close(src);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(out->p);
        out->p = NULL;
        return kt_fail(e, KT_EIO, "cannot read the new zip back from memory");
    }
    out->len = (size_t)st.size;
    return KT_OK;
}

kt_rc pkg_zip_build(const pkg_zip_entry *v, size_t n, kt_buf *out, kt_err *e)
{
    pkg_zip_caps caps = pkg_zip_caps_default();
    zip_source_t *src = NULL;
    zip_error_t ze;
    zip_t *za;
    const char **names = NULL;
    bool *dirs = NULL;
    kt_rc rc = KT_OK;

    out->p = NULL;
    out->len = 0;
    if (n == 0 || n > caps.max_entries)
        return kt_fail(e, KT_EUSAGE, "a zip of %zu files; 1 to %zu are accepted", n,
                       caps.max_entries);
    names = calloc(n, sizeof *names);
    dirs = calloc(n, sizeof *dirs);
    if (names == NULL || dirs == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    /* Write nothing the extractor would refuse. */
    for (size_t i = 0; i < n && rc == KT_OK; i++) {
        names[i] = v[i].name;
        if ((rc = pkg_zip_name_check(v[i].name, false, e)) == KT_OK && v[i].len > caps.max_entry)
            rc = kt_fail(e, KT_EUSAGE, "zip entry \"%s\" is %zu bytes; the limit is %llu",
                         v[i].name, v[i].len, (unsigned long long)caps.max_entry);
    }
    if (rc != KT_OK || (rc = check_unique(names, dirs, n, e)) != KT_OK)
        goto done;

    zip_error_init(&ze);
    src = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (src == NULL) {
        rc = zip_failed(e, "cannot make a zip in memory", &ze);
        goto done;
    }
    za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    if (za == NULL) {
        zip_source_free(src);
        src = NULL;
        rc = zip_failed(e, "cannot make a zip in memory", &ze);
        goto done;
    }
    zip_error_fini(&ze);
    zip_source_keep(src); /* ours too: it holds the archive after zip_close */
    for (size_t i = 0; i < n; i++) {
        zip_source_t *fs =
            zip_source_buffer(za, v[i].len > 0 ? v[i].data : (const void *)"", v[i].len, 0);
        zip_int64_t idx = fs != NULL ? zip_file_add(za, v[i].name, fs, ZIP_FL_ENC_UTF_8) : -1;

        if (idx < 0) {
            if (fs != NULL)
                zip_source_free(fs);
            rc =
                kt_fail(e, KT_EIO, "cannot add \"%s\" to the zip: %s", v[i].name, zip_strerror(za));
            zip_discard(za);
            goto done;
        }
        /* Stored, fixed time, fixed mode: the bytes depend on nothing but the input. */
        if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0 ||
            zip_file_set_dostime(za, (zip_uint64_t)idx, DOS_TIME, DOS_DATE, 0) != 0 ||
            zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                             (zip_uint32_t)UNIX_FILE_MODE << 16) != 0) {
            rc = kt_fail(e, KT_EIO, "cannot set up \"%s\" in the zip: %s", v[i].name,
                         zip_strerror(za));
            zip_discard(za);
            goto done;
        }
    }
    if (zip_close(za) != 0) {
        rc = kt_fail(e, KT_EIO, "cannot write the zip: %s", zip_strerror(za));
        zip_discard(za);
        goto done;
    }
    rc = source_bytes(src, out, e);
done:
    if (src != NULL)
        zip_source_free(src);
    free(names);
    free(dirs);
    return rc;
}

kt_rc pkg_zip_write(const char *path, const pkg_zip_entry *v, size_t n, unsigned flags, kt_err *e)
{
    kt_buf z = {0};
    kt_rc rc = pkg_zip_build(v, n, &z, e);

    if (rc == KT_OK)
        rc = kt_file_write(path, z.p, z.len, flags, e);
    kt_buf_free(&z);
    return rc;
}

/* ----------------------------------------------------------------------------------------- */
/* Reading                                                                                    */
/* ----------------------------------------------------------------------------------------- */

void pkg_zip_contents_free(pkg_zip_contents *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->files != NULL && i < c->n; i++) {
        free(c->files[i].name);
        kt_buf_free(&c->files[i].data);
    }
    free(c->files);
    memset(c, 0, sizeof *c);
}

/* CRC-32 (ISO 3309, reflected polynomial 0xEDB88320) as zip stores it. */
static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t table[256], crc = 0xFFFFFFFFu;

    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* What one entry declares, checked without decompressing anything. */
typedef struct declared {
    uint64_t size;
    uint32_t crc;
} declared;

/* Type of the entry from its external attributes: only regular files and folders pass. */
static kt_rc check_type(zip_t *za, zip_uint64_t i, const char *q, bool is_dir, kt_err *e)
{
    zip_uint8_t opsys = 0;
    zip_uint32_t attr = 0;

    if (zip_file_get_external_attributes(za, i, 0, &opsys, &attr) != 0)
        return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": cannot read its attributes: %s", q,
                       zip_strerror(za));
    if (opsys == ZIP_OPSYS_UNIX || opsys == OPSYS_OSX) {
        mode_t mode = (mode_t)(attr >> 16);
        mode_t type = mode & S_IFMT;

        if (type == S_IFLNK)
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\" is a symbolic link: links are refused (one could "
                           "point anywhere)",
                           q);
        if (type != 0 && type != S_IFREG && type != S_IFDIR)
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\" is not a regular file or folder (Unix mode %06o)", q,
                           (unsigned)mode);
        if ((type == S_IFDIR) != is_dir && type != 0)
            return kt_fail(e, KT_EFORMAT,
                           "zip entry \"%s\": its name and its Unix mode disagree about whether "
                           "it is a folder",
                           q);
    } else if ((attr & DOS_DIRECTORY) != 0 && !is_dir) {
        return kt_fail(e, KT_EFORMAT,
                       "zip entry \"%s\" is marked as a folder but its name does not end in '/'",
                       q);
    }
    return KT_OK;
}

/* Pass 1: names, types, encryption, methods and declared sizes of every entry. */
static kt_rc check_entries(zip_t *za, size_t n, const pkg_zip_caps *caps, pkg_zip_contents *out,
                           declared *decl, kt_err *e)
{
    const char **names = calloc(n, sizeof *names);
    bool *dirs = calloc(n, sizeof *dirs);
    char q[KT_QUOTE_SIZE];
    uint64_t total = 0;
    kt_rc rc = KT_OK;

    if (names == NULL || dirs == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && rc == KT_OK; i++) {
        zip_stat_t st;
        const char *name = zip_get_name(za, i, ZIP_FL_ENC_RAW);

        if (name == NULL) {
            rc = kt_fail(e, KT_EFORMAT, "zip entry %zu: cannot read its name: %s", i + 1,
                         zip_strerror(za));
            break;
        }
        if ((rc = pkg_zip_name_check(name, true, e)) != KT_OK)
            break;
        kt_quote(q, sizeof q, name, strlen(name));
        out->files[i].name = strdup(name);
        if (out->files[i].name == NULL) {
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
            break;
        }
        names[i] = out->files[i].name;
        dirs[i] = out->files[i].is_dir = name[strlen(name) - 1] == '/';
        zip_stat_init(&st);
        if (zip_stat_index(za, i, ZIP_FL_ENC_RAW, &st) != 0) {
            rc = kt_fail(e, KT_EFORMAT, "zip entry \"%s\": %s", q, zip_strerror(za));
            break;
        }
        if ((rc = check_type(za, i, q, dirs[i], e)) != KT_OK)
            break;
        if (!(st.valid & ZIP_STAT_ENCRYPTION_METHOD) || st.encryption_method != ZIP_EM_NONE) {
            rc = kt_fail(e, KT_EFORMAT, "zip entry \"%s\" is encrypted: refused", q);
            break;
        }
        if (!(st.valid & ZIP_STAT_COMP_METHOD) ||
            (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)) {
            rc = kt_fail(e, KT_EFORMAT,
                         "zip entry \"%s\" uses compression method %d; only stored and deflated "
                         "entries are accepted",
                         q, (int)st.comp_method);
            break;
        }
        if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_CRC)) {
            rc = kt_fail(e, KT_EFORMAT, "zip entry \"%s\" declares no size or CRC", q);
            break;
        }
        if (st.size > caps->max_entry) {
            rc = kt_fail(e, KT_ETOOBIG,
                         "zip entry \"%s\" declares %llu bytes; the limit for one file is %llu", q,
                         (unsigned long long)st.size, (unsigned long long)caps->max_entry);
            break;
        }
        if (dirs[i] && st.size != 0) {
            rc = kt_fail(e, KT_EFORMAT, "zip entry \"%s\" is a folder that declares %llu bytes", q,
                         (unsigned long long)st.size);
            break;
        }
        total += st.size; /* cannot overflow: n * max_entry is far below 2^64 */
        if (total > caps->max_total) {
            rc = kt_fail(e, KT_ETOOBIG,
                         "zip entries up to \"%s\" declare %llu bytes in all; the limit is %llu", q,
                         (unsigned long long)total, (unsigned long long)caps->max_total);
            break;
        }
        decl[i].size = st.size;
        decl[i].crc = st.crc;
    }
    if (rc == KT_OK)
        rc = check_unique(names, dirs, n, e);
done:
    free(names);
    free(dirs);
    return rc;
}

/* Pass 2: one entry decompressed in memory, at most its declared size + 1 bytes. */
static kt_rc read_entry(zip_t *za, size_t i, const declared *d, struct pkg_zip_file *f, kt_err *e)
{
    zip_file_t *zf;
    char q[KT_QUOTE_SIZE];
    size_t cap = (size_t)d->size + 1, got = 0;
    kt_rc rc = KT_OK;

    kt_quote(q, sizeof q, f->name, strlen(f->name));
    zf = zip_fopen_index(za, i, 0);
    if (zf == NULL)
        return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": cannot open it: %s", q, zip_strerror(za));
    f->data.p = malloc(cap);
    if (f->data.p == NULL) {
        zip_fclose(zf);
        return kt_fail(e, KT_ENOMEM, "out of memory");
    }
    while (got < cap) {
        zip_int64_t r = zip_fread(zf, f->data.p + got, cap - got);

        if (r < 0) {
            rc =
                kt_fail(e, KT_EFORMAT, "zip entry \"%s\" is damaged: %s", q, zip_file_strerror(zf));
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (zip_fclose(zf) != 0 && rc == KT_OK)
        rc = kt_fail(e, KT_EFORMAT, "zip entry \"%s\" is damaged (CRC or size check failed)", q);
    f->data.len = got;
    if (rc != KT_OK)
        return rc;
    if (got != d->size)
        return kt_fail(e, KT_EFORMAT, "zip entry \"%s\" holds %s%zu bytes but declares %llu", q,
                       got > d->size ? "more than " : "", got > d->size ? got - 1 : got,
                       (unsigned long long)d->size);
    if (crc32_of(f->data.p, got) != d->crc)
        return kt_fail(e, KT_EFORMAT, "zip entry \"%s\": its CRC-32 does not match its data", q);
    return KT_OK;
}

kt_rc pkg_zip_read(const uint8_t *zip, size_t len, const pkg_zip_caps *caps, pkg_zip_contents *out,
                   kt_err *e)
{
    pkg_zip_caps def = pkg_zip_caps_default();
    zip_source_t *src;
    zip_error_t ze;
    zip_t *za = NULL, *check;
    zip_int64_t count;
    declared *decl = NULL;
    size_t n;
    kt_rc rc = KT_OK;

    memset(out, 0, sizeof *out);
    if (caps == NULL)
        caps = &def;
    if (len > caps->max_zip)
        return kt_fail(e, KT_ETOOBIG, "the zip is %zu bytes; the limit is %zu", len, caps->max_zip);
    zip_error_init(&ze);
    src = zip_source_buffer_create(zip, len, 0, &ze);
    if (src == NULL)
        return zip_failed(e, "cannot read the zip", &ze);
    za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (za == NULL) {
        zip_source_free(src);
        rc = kt_fail(e, KT_EFORMAT, "not a readable zip archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);
    count = zip_get_num_entries(za, 0);
    if (count <= 0) {
        rc = kt_fail(e, KT_EFORMAT, "the zip holds no files");
        goto done;
    }
    if ((uint64_t)count > caps->max_entries) {
        rc = kt_fail(e, KT_ETOOBIG, "the zip holds %lld entries; the limit is %zu",
                     (long long)count, caps->max_entries);
        goto done;
    }
    n = (size_t)count;
    out->files = calloc(n, sizeof *out->files);
    decl = calloc(n, sizeof *decl);
    if (out->files == NULL || decl == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    out->n = n;
    if ((rc = check_entries(za, n, caps, out, decl, e)) != KT_OK)
        goto done;

    /* libzip's own consistency check: each local header against the central directory. */
    zip_error_init(&ze);
    src = zip_source_buffer_create(zip, len, 0, &ze);
    check = src != NULL ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (check == NULL) {
        if (src != NULL)
            zip_source_free(src);
        rc = kt_fail(e, KT_EFORMAT,
                     "the zip is inconsistent (its local headers disagree with its central "
                     "directory): %s",
                     zip_error_strerror(&ze));
        zip_error_fini(&ze);
        goto done;
    }
    zip_error_fini(&ze);
    zip_discard(check);

    for (size_t i = 0; i < n && rc == KT_OK; i++) {
        if (!out->files[i].is_dir)
            rc = read_entry(za, i, &decl[i], &out->files[i], e);
        out->total += out->files[i].data.len;
    }
done:
    free(decl);
    zip_discard(za);
    if (rc != KT_OK)
        pkg_zip_contents_free(out);
    return rc;
}

/* ----------------------------------------------------------------------------------------- */
/* Extraction                                                                                 */
/* ----------------------------------------------------------------------------------------- */

/* What an extraction has made so far, to undo it. */
/* Makes each folder of dest/rel[0..upto) that is missing; existing ones must be real folders
 * (they can only be ones this extraction made, dest being a fresh staged folder). */
static kt_rc make_folders(const char *dest, const char *rel, size_t upto, kt_err *e)
{
    char path[PATH_MAX];
    size_t base = strlen(dest);

    if (base + 1 + upto >= sizeof path)
        return kt_fail(e, KT_EUSAGE,
                       "zip entry \"%.*s\": too long a path (over %zu characters) "
                       "in the folder '%s'",
                       (int)(upto < 64 ? upto : 64), rel, sizeof path - 1, dest);
    memcpy(path, dest, base);
    path[base] = '/';
    for (size_t i = 0; i <= upto; i++) {
        struct stat st;
        kt_rc rc;

        if (i < upto && rel[i] != '/')
            continue;
        if (i == 0)
            continue;
        memcpy(path + base + 1, rel, i);
        path[base + 1 + i] = '\0';
        if (lstat(path, &st) == 0) {
            if (!S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))
                return kt_fail(e, KT_EEXIST, "'%s' exists and is not a folder", path);
            continue;
        }
        if ((rc = kt_dir_ensure(path, e)) != KT_OK)
            return rc;
    }
    return KT_OK;
}

/* dest/<entry> for one entry, refusing a path that does not fit. */
static kt_rc entry_path(const char *dest, const struct pkg_zip_file *f, char path[PATH_MAX],
                        kt_err *e)
{
    int len = snprintf(path, PATH_MAX, "%s/%s", dest, f->name);
    if (len < 0 || len >= PATH_MAX)
        return kt_fail(e, KT_EUSAGE,
                       "zip entry \"%.*s\": too long a path (over %d characters) in the "
                       "folder '%s'",
                       64, f->name, PATH_MAX - 1, dest);
    return KT_OK;
}

static kt_rc write_files(const char *dest, const pkg_zip_contents *c, kt_err *e)
{
    char path[PATH_MAX];

    for (size_t i = 0; i < c->n; i++) {
        const struct pkg_zip_file *f = &c->files[i];
        const char *slash = strrchr(f->name, '/');
        size_t parent = f->is_dir       ? stem_len(f->name)
                        : slash != NULL ? (size_t)(slash - f->name)
                                        : 0;
        kt_rc rc;

        if ((rc = make_folders(dest, f->name, parent, e)) != KT_OK)
            return rc;
        if (f->is_dir)
            continue;
        if ((rc = entry_path(dest, f, path, e)) != KT_OK ||
            (rc = kt_file_write(path, f->data.p, f->data.len, KT_WRITE_NEW, e)) != KT_OK)
            return rc;
    }
    return KT_OK;
}

/* Counts what a folder tree holds (files and folders, links not followed). */
static size_t count_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path &&
            lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            n += count_tree(path);
    }
    closedir(d);
    return n;
}

/* True when dest holds exactly what the zip holds, byte for byte: an earlier run of the same
 * extraction (one killed after its commit point, completed by kt_txn_recover, or killed before
 * it could say so). */
static bool same_tree(const char *dest, const pkg_zip_contents *c)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct pkg_zip_file *f = &c->files[i];
        char path[PATH_MAX];
        kt_buf have = {0};
        kt_err ignored;
        struct stat st;

        if (entry_path(dest, f, path, &ignored) != KT_OK)
            return false;
        if (f->is_dir) {
            if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                return false;
            continue;
        }
        bool same = kt_file_read(path, f->data.len, &have, &ignored) == KT_OK &&
                    have.len == f->data.len &&
                    (have.len == 0 || memcmp(have.p, f->data.p, have.len) == 0);
        kt_buf_free(&have);
        if (!same)
            return false;
    }
    /* Nothing else is there: every file, and every folder on the way to one, counted once. */
    char **seen = calloc(2 * c->n + 1, sizeof *seen);
    size_t nseen = 0;
    bool ok = seen != NULL;
    for (size_t i = 0; ok && i < c->n; i++) {
        const char *name = c->files[i].name;
        size_t len = strlen(name);
        for (size_t cut = 1; ok && cut <= len; cut++) {
            if (cut < len && name[cut] != '/')
                continue;
            size_t n = name[cut - 1] == '/' ? cut - 1 : cut;
            bool dup = false;
            for (size_t j = 0; j < nseen && !dup; j++)
                dup = strlen(seen[j]) == n && strncmp(seen[j], name, n) == 0;
            if (dup || n == 0)
                continue;
            if (nseen == 2 * c->n || (seen[nseen] = strndup(name, n)) == NULL)
                ok = false;
            else
                nseen++;
        }
    }
    size_t expected = nseen;
    for (size_t j = 0; j < nseen; j++)
        free(seen[j]);
    free(seen);
    return ok && count_tree(dest) == expected;
}

/* dest split into its parent folder (a heap string) and its last component. */
static kt_rc split_dest(const char *dest, char **parent, char name[NAME_MAX + 1], kt_err *e)
{
    size_t len = strlen(dest);
    const char *slash;

    *parent = NULL;
    while (len > 1 && dest[len - 1] == '/')
        len--;
    char *copy = strndup(dest, len);
    if (copy == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    slash = strrchr(copy, '/');
    const char *base = slash != NULL ? slash + 1 : copy;
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
        strlen(base) > NAME_MAX) {
        free(copy);
        return kt_fail(e, KT_EUSAGE, "'%s' does not name a folder to extract into", dest);
    }
    snprintf(name, NAME_MAX + 1, "%s", base);
    if (slash == NULL)
        *parent = strdup(".");
    else if (slash == copy)
        *parent = strdup("/");
    else
        *parent = strndup(copy, (size_t)(slash - copy));
    free(copy);
    return *parent != NULL ? KT_OK : kt_fail(e, KT_ENOMEM, "out of memory");
}

kt_rc pkg_zip_extract(const char *zip_path, const char *dest, const pkg_zip_caps *caps,
                      kt_txn_report_fn report, void *ctx, pkg_zip_contents *names, bool *earlier,
                      kt_err *e)
{
    pkg_zip_caps def = pkg_zip_caps_default();
    pkg_zip_contents c = {0};
    kt_buf f = {0};
    kt_txn *t = NULL;
    char *parent = NULL, name[NAME_MAX + 1], staged[PATH_MAX], what[64];
    bool committed = false;
    kt_rc rc;

    if (names != NULL)
        memset(names, 0, sizeof *names);
    *earlier = false;
    if (caps == NULL)
        caps = &def;
    if ((rc = kt_file_read(zip_path, caps->max_zip, &f, e)) != KT_OK)
        return rc;
    rc = pkg_zip_read(f.p, f.len, caps, &c, e);
    kt_buf_free(&f);
    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", zip_path);
        return rc;
    }
    /* Everything is validated; only now is anything written, as one change of the commit
     * protocol: the files go into a staged folder beside dest, which becomes dest at once. */
    if ((rc = split_dest(dest, &parent, name, e)) != KT_OK)
        goto out;
    const char *dirs[1] = {parent};
    snprintf(what, sizeof what, "toolset extract %.40s", name);
    if ((rc = kt_txn_begin(&t, what, dirs, 1, false, report, ctx, e)) != KT_OK)
        goto out;
    if ((rc = kt_txn_put_dir(t, 0, name, staged, e)) == KT_EEXIST && same_tree(dest, &c)) {
        *earlier = true; /* this very zip is extracted there already */
        kt_err_clear(e);
        rc = KT_OK;
        goto listing;
    }
    if (rc != KT_OK || (rc = write_files(staged, &c, e)) != KT_OK ||
        (rc = kt_txn_commit(t, &committed, e)) != KT_OK)
        goto out;
listing:
    if (names != NULL) {
        for (size_t i = 0; i < c.n; i++) {
            size_t n = c.files[i].data.len;

            kt_buf_free(&c.files[i].data);
            c.files[i].data.len = n; /* the size stays for listings; the bytes are gone */
        }
        *names = c;
        memset(&c, 0, sizeof c);
    }
out:
    kt_txn_free(t);
    free(parent);
    pkg_zip_contents_free(&c);
    return rc;
}
