/*
 * txn.c - the commit protocol (kt.h): one change of several files and folders, all or nothing,
 * for every multi-file writer (docs/design.md, "Nothing lost"; docs/formats.md, "Change records").
 *
 * A change <id> (16 random hex digits) in journal folder J over folders D0 = J, D1, ...:
 *
 *   J/.kt-txn.<id>          intent record: the label and the folders; exists from the start
 *   Dk/.<name>.kt-txn.<id>  a staged file or folder, complete and fsync'd before the commit
 *   J/.kt-txn.<id>.commit   commit record: the folders and every entry in order; its creation
 *                           (a link of a complete, fsync'd file) is the commit point
 *
 * Records are written whole before they get their name (an O_TMPFILE file linked in, or a
 * temporary name renamed without clobbering), so a name never holds half a record. Publishing
 * renames staged names to final ones (never clobbering a new file) and is idempotent, so an
 * interrupted publishing is finished by running it again: a staged name that is gone while its
 * final name exists was published already. While a change is open its folders are locked
 * (exclusive flock on each, the lock the careful writer takes too), and recovery takes the
 * journal folder's lock, so it never touches a live change.
 */
#include "common_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_HEX        16
#define REC_PREFIX    ".kt-txn."
#define STAGE_TAG     ".kt-txn."
#define COMMIT_SUFFIX ".commit"
#define TMP_SUFFIX    ".tmp-"
#define WHAT_MAX      255
#define DIRS_MAX      8
#define ENTRIES_MAX   4096
#define RECORD_MAX    (4 * 1024 * 1024)
/* The longest final name whose staged name ".<name>.kt-txn.<16 hex>" fits NAME_MAX. */
#define STAGE_NAME_MAX (NAME_MAX - 1 - (sizeof STAGE_TAG - 1) - ID_HEX)

static const char INTENT_MAGIC[8] = {'K', 'T', 'X', 'I', 'N', 'T', 'N', 'T'};
static const char COMMIT_MAGIC[8] = {'K', 'T', 'X', 'C', 'O', 'M', 'I', 'T'};
#define RECORD_VERSION 1

enum {
    T_ID = 1,
    T_WHAT = 2,
    T_NDIRS = 3,
    T_DIR = 4,
    T_NENTS = 5,
    T_KIND = 6,
    T_DIRIDX = 7,
    T_NAME = 8,
    T_SUM = 0x20
};

enum { K_FILE_NEW = 1, K_FILE_REPLACE = 2, K_DIR_NEW = 3, K_REMOVE = 4, K_REMOVE_WIPE = 5 };

struct tdir {
    char *path; /* as given (for messages and put_dir) */
    char *real; /* the opened folder's real path, as the commit record states it */
    int fd;
    dev_t dev;
    ino_t ino;
};

struct entry {
    int kind;
    size_t dir;
    char name[NAME_MAX + 1];
};

struct kt_txn {
    char id[ID_HEX + 1];
    char what[WHAT_MAX + 1];
    struct tdir dirs[DIRS_MAX];
    size_t ndirs;
    size_t map[DIRS_MAX]; /* caller's dirs index -> merged dirs index */
    size_t nmap;
    struct entry *ents;
    size_t nents, cap;
    bool intent_written, committed;
    bool grouped; /* kt_txn_group_sync: staged files are made durable by one syncfs at commit */
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* ".<name>.kt-txn.<id>": name is at most STAGE_NAME_MAX bytes (plain_name), so it fits. */
static void stage_name(char out[NAME_MAX + 1], const char *name, const char *id)
{
    size_t n = strnlen(name, STAGE_NAME_MAX);

    out[0] = '.';
    memcpy(out + 1, name, n);
    memcpy(out + 1 + n, STAGE_TAG, sizeof STAGE_TAG - 1);
    memcpy(out + 1 + n + sizeof STAGE_TAG - 1, id, ID_HEX);
    out[1 + n + sizeof STAGE_TAG - 1 + ID_HEX] = '\0';
}

static void record_name(char out[NAME_MAX + 1], const char *id, bool commit)
{
    snprintf(out, NAME_MAX + 1, REC_PREFIX "%s%s", id, commit ? COMMIT_SUFFIX : "");
}

static bool is_hex_id(const char *s)
{
    for (size_t i = 0; i < ID_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool plain_name(const char *name)
{
    return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strlen(name) <= STAGE_NAME_MAX;
}

static kt_rc lock_fd(int fd, const char *dir, kt_err *e)
{
    char what[PATH_MAX + 16];

    snprintf(what, sizeof what, "the folder '%s'", dir);
    return kt_flock_wait(fd, true, what, e);
}

static kt_rc sync_dir(int fd, const char *dir, kt_err *e)
{
    if (fsync(fd) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot sync the folder '%s'", dir);
    return KT_OK;
}

/* The real path of an open folder (what the commit record states for folders other than J). */
static char *fd_path(int fd)
{
    char proc[64], buf[PATH_MAX];
    ssize_t n;

    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    n = readlink(proc, buf, sizeof buf - 1);
    if (n <= 0 || buf[0] != '/')
        return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

/* Removes a folder tree of our own (a staged folder), never following a link. */
static int remove_tree(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    int err = 0;

    if (fd < 0)
        return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : errno;
    if ((d = fdopendir(fd)) == NULL) {
        err = errno;
        close(fd);
        return err;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        int r = S_ISDIR(st.st_mode)                      ? remove_tree(dirfd(d), de->d_name)
                : unlinkat(dirfd(d), de->d_name, 0) == 0 ? 0
                                                         : errno;
        if (r != 0 && r != ENOENT && err == 0)
            err = r;
    }
    closedir(d);
    if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && err == 0)
        err = errno;
    return err;
}

/* fsyncs every file and folder of a staged tree, so it is durable before the commit point. */
static kt_rc sync_tree(int dfd, const char *name, const char *what, kt_err *e)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    kt_rc rc = KT_OK;

    if (fd < 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot open the staged folder for '%s'", what);
    if ((d = fdopendir(fd)) == NULL) {
        int err = errno;
        close(fd);
        return kt_fail_errno(e, KT_EIO, err, "cannot list the staged folder for '%s'", what);
    }
    while (rc == KT_OK && (de = readdir(d)) != NULL) {
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = sync_tree(dirfd(d), de->d_name, what, e);
        } else if (S_ISREG(st.st_mode)) {
            int f = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (f < 0 || fsync(f) != 0)
                rc = kt_fail_errno(e, KT_EIO, errno, "cannot sync a staged file of '%s'", what);
            if (f >= 0)
                close(f);
        }
    }
    if (rc == KT_OK && fsync(dirfd(d)) != 0)
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot sync the staged folder for '%s'", what);
    closedir(d);
    return rc;
}

/* ---- records ------------------------------------------------------------------------------ */

/* Writes data whole under dfd/name, never replacing: an O_TMPFILE file linked in, else a
 * temporary name renamed without clobbering. The folder is fsync'd after. */
static kt_rc create_record(int dfd, const char *dir, const char *name, const uint8_t *data,
                           size_t len, kt_err *e)
{
    char proc[64], tmp[NAME_MAX + 1];
    int fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    kt_rc rc;

    if (fd >= 0) {
        if ((rc = kt_write_all(fd, data, len, name, e)) != KT_OK)
            goto fail;
        if (fsync(fd) != 0) {
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot write '%s/%s': fsync failed", dir, name);
            goto fail;
        }
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) != 0) {
            rc = kt_fail_errno(e, errno == EEXIST ? KT_EEXIST : KT_EIO, errno,
                               "cannot create '%s/%s'", dir, name);
            goto fail;
        }
        close(fd);
        return sync_dir(dfd, dir, e);
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
        return kt_fail_errno(e, KT_EIO, errno, "cannot create a file in the folder '%s'", dir);

    uint8_t rnd[8];
    char hex[17];
    kt_random(rnd, sizeof rnd);
    kt_hex(hex, rnd, sizeof rnd);
    snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX "%s", name, hex);
    fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot create a file in the folder '%s'", dir);
    if ((rc = kt_write_all(fd, data, len, name, e)) != KT_OK)
        goto fail_named;
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot write '%s/%s'", dir, name);
        goto fail_named;
    }
    fd = -1;
    if (renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) != 0) {
        rc = kt_fail_errno(e, errno == EEXIST ? KT_EEXIST : KT_EIO, errno, "cannot create '%s/%s'",
                           dir, name);
        goto fail_named;
    }
    return sync_dir(dfd, dir, e);
fail_named:
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, tmp, 0);
    return rc;
fail:
    close(fd);
    return rc;
}

static void sum_field(kt_wbuf *w)
{
    uint8_t sum[32];

    if (w->failed)
        return;
    kt_sha256(sum, w->p, w->len);
    kt_wbuf_field(w, T_SUM, sum, sizeof sum);
}

/* Encodes a record: the intent (entries NULL) or the commit record. dirs[0] is stated as ".". */
static kt_rc encode(const kt_txn *t, bool commit, kt_wbuf *w, kt_err *e)
{
    kt_wbuf_init(w, false);
    kt_wbuf_header(w, commit ? COMMIT_MAGIC : INTENT_MAGIC, RECORD_VERSION);
    kt_wbuf_field(w, T_ID, t->id, ID_HEX);
    kt_wbuf_field(w, T_WHAT, t->what, strlen(t->what));
    kt_wbuf_field_u64(w, T_NDIRS, t->ndirs);
    for (size_t i = 0; i < t->ndirs; i++) {
        const char *p = i == 0 ? "." : t->dirs[i].real;
        kt_wbuf_field(w, T_DIR, p, strlen(p));
    }
    if (commit) {
        kt_wbuf_field_u64(w, T_NENTS, t->nents);
        for (size_t i = 0; i < t->nents; i++) {
            uint8_t kind = (uint8_t)t->ents[i].kind;
            kt_wbuf_field(w, T_KIND, &kind, 1);
            kt_wbuf_field_u64(w, T_DIRIDX, t->ents[i].dir);
            kt_wbuf_field(w, T_NAME, t->ents[i].name, strlen(t->ents[i].name));
        }
    }
    sum_field(w);
    return kt_wbuf_finish(w, e);
}

/* A record as read back: the folders and (commit record) the entries. */
struct record {
    char id[ID_HEX + 1];
    char what[WHAT_MAX + 1];
    char *dirs[DIRS_MAX];
    size_t ndirs;
    struct entry *ents;
    size_t nents;
};

static void record_free(struct record *r)
{
    for (size_t i = 0; i < r->ndirs; i++)
        free(r->dirs[i]);
    free(r->ents);
    memset(r, 0, sizeof *r);
}

static kt_rc decode(const kt_buf *raw, bool commit, const char *id, struct record *r, kt_err *e)
{
    kt_rbuf b;
    uint16_t version;
    uint64_t n;
    const uint8_t *v;
    size_t vlen;
    uint8_t sum[32], want[32];
    kt_rc rc;

    memset(r, 0, sizeof *r);
    kt_rbuf_init(&b, raw->p, raw->len, commit ? "commit record" : "intent record");
    if ((rc = kt_rbuf_header(&b, commit ? COMMIT_MAGIC : INTENT_MAGIC, &version, e)) != KT_OK)
        return rc;
    if (version != RECORD_VERSION)
        return kt_fail(e, KT_EVERSION, "change record version %u is not supported", version);
    if ((rc = kt_rbuf_field_fixed(&b, T_ID, r->id, ID_HEX, e)) ||
        (rc = kt_rbuf_field_str(&b, T_WHAT, r->what, WHAT_MAX, e)) ||
        (rc = kt_rbuf_field_u64(&b, T_NDIRS, &n, e)))
        return rc;
    if (!is_hex_id(r->id) || strncmp(r->id, id, ID_HEX) != 0)
        return kt_fail(e, KT_EFORMAT, "the record is for another change");
    if (n < 1 || n > DIRS_MAX)
        return kt_fail(e, KT_EFORMAT, "the record names %ju folders", (uintmax_t)n);
    for (size_t i = 0; i < n; i++) {
        if ((rc = kt_rbuf_field(&b, T_DIR, 1, PATH_MAX - 1, &v, &vlen, e)) != KT_OK)
            return rc;
        if (memchr(v, '\0', vlen) != NULL || (i == 0) != (vlen == 1 && v[0] == '.') ||
            (i > 0 && v[0] != '/'))
            return kt_fail(e, KT_EFORMAT, "the record names a folder that is not a full path");
        if ((r->dirs[i] = strndup((const char *)v, vlen)) == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        r->ndirs++;
    }
    if (commit) {
        if ((rc = kt_rbuf_field_u64(&b, T_NENTS, &n, e)) != KT_OK)
            return rc;
        if (n > ENTRIES_MAX)
            return kt_fail(e, KT_EFORMAT, "the record names %ju entries", (uintmax_t)n);
        if (n > 0 && (r->ents = calloc(n, sizeof *r->ents)) == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            struct entry *en = &r->ents[i];
            uint8_t kind;
            uint64_t dir;

            if ((rc = kt_rbuf_field_fixed(&b, T_KIND, &kind, 1, e)) ||
                (rc = kt_rbuf_field_u64(&b, T_DIRIDX, &dir, e)) ||
                (rc = kt_rbuf_field(&b, T_NAME, 1, STAGE_NAME_MAX, &v, &vlen, e)))
                return rc;
            memcpy(en->name, v, vlen);
            en->name[vlen] = '\0';
            en->kind = kind;
            en->dir = (size_t)dir;
            if (kind < K_FILE_NEW || kind > K_REMOVE_WIPE || dir >= r->ndirs ||
                !plain_name(en->name))
                return kt_fail(e, KT_EFORMAT, "entry %zu of the record is malformed", i + 1);
            r->nents++;
        }
    }
    size_t summed = b.off;
    if ((rc = kt_rbuf_field_fixed(&b, T_SUM, sum, sizeof sum, e)) || (rc = kt_rbuf_end(&b, e)))
        return rc;
    kt_sha256(want, raw->p, summed);
    if (!kt_ct_equal(sum, want, sizeof sum))
        return kt_fail(e, KT_EFORMAT, "the record's checksum does not match: it is damaged");
    return KT_OK;
}

/* Reads dfd/name (a regular file, no link) into *out. */
static kt_rc read_record(int dfd, const char *dir, const char *name, kt_buf *out, kt_err *e)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    kt_rc rc = KT_OK;

    out->p = NULL;
    out->len = 0;
    if (fd < 0)
        return kt_fail_errno(e, errno == ENOENT ? KT_ENOENT : KT_EIO, errno, "cannot read '%s/%s'",
                             dir, name);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > RECORD_MAX) {
        rc = kt_fail(e, KT_EFORMAT, "'%s/%s' is not a change record", dir, name);
        goto done;
    }
    out->len = (size_t)st.st_size;
    if ((out->p = malloc(out->len + 1)) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    size_t got = 0;
    while (got < out->len) {
        ssize_t r = read(fd, out->p + got, out->len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = kt_fail_errno(e, KT_EIO, r < 0 ? errno : EIO, "cannot read '%s/%s'", dir, name);
            goto done;
        }
        got += (size_t)r;
    }
done:
    close(fd);
    if (rc != KT_OK)
        kt_buf_free(out);
    return rc;
}

/* ---- publishing (idempotent, shared by commit and recovery) ------------------------------- */

static bool dir_is_empty(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    bool empty = true;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            empty = false;
            break;
        }
    closedir(d);
    return empty;
}

/* Overwrites an unlinked file's bytes with zeros and syncs (best effort on journaling and
 * copy-on-write file systems: docs/threat-model.md). */
static int wipe_fd(int fd)
{
    struct stat st;
    uint8_t zero[4096] = {0};

    if (fstat(fd, &st) != 0)
        return errno;
    for (off_t off = 0; off < st.st_size;) {
        size_t n = st.st_size - off < (off_t)sizeof zero ? (size_t)(st.st_size - off) : sizeof zero;
        ssize_t w = pwrite(fd, zero, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        off += w;
    }
    return fsync(fd) == 0 ? 0 : errno;
}

/* Publishes one entry; already published is success. dir names the folder in messages. */
static kt_rc publish(int dfd, const char *dir, const struct entry *en, const char *id, kt_err *e)
{
    char staged[NAME_MAX + 1];
    struct stat st;

    stage_name(staged, en->name, id);
    switch (en->kind) {
    case K_FILE_NEW:
    case K_DIR_NEW:
        if (fstatat(dfd, staged, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                return kt_fail_errno(e, KT_EIO, errno, "cannot examine '%s/%s'", dir, staged);
            if (fstatat(dfd, en->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return KT_OK; /* published by an earlier run */
            return kt_fail(e, KT_ENOENT, "'%s/%s' is missing, and so is its staged copy", dir,
                           en->name);
        }
        if (en->kind == K_DIR_NEW && fstatat(dfd, en->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode) && dir_is_empty(dfd, en->name)) {
            /* rename(2) replaces an empty folder atomically */
            if (renameat(dfd, staged, dfd, en->name) != 0)
                return kt_fail_errno(e, KT_EIO, errno, "cannot publish '%s/%s'", dir, en->name);
            return KT_OK;
        }
        if (renameat2(dfd, staged, dfd, en->name, RENAME_NOREPLACE) == 0)
            return KT_OK;
        if (errno == EEXIST || errno == ENOTEMPTY)
            return kt_fail(e, KT_EEXIST,
                           "'%s/%s' appeared while it was being written; the new one is kept as "
                           "'%s/%s'",
                           dir, en->name, dir, staged);
        if (errno != EINVAL && errno != ENOSYS)
            return kt_fail_errno(e, KT_EIO, errno, "cannot publish '%s/%s'", dir, en->name);
        /* No RENAME_NOREPLACE here: link (which never clobbers) and unlink, for a file. */
        if (en->kind == K_FILE_NEW && linkat(dfd, staged, dfd, en->name, 0) == 0) {
            unlinkat(dfd, staged, 0);
            return KT_OK;
        }
        return kt_fail_errno(e, KT_EIO, errno, "cannot publish '%s/%s'", dir, en->name);
    case K_FILE_REPLACE:
        if (renameat(dfd, staged, dfd, en->name) == 0 || errno == ENOENT)
            return KT_OK; /* ENOENT: the staged copy was renamed by an earlier run */
        return kt_fail_errno(e, KT_EIO, errno, "cannot publish '%s/%s'", dir, en->name);
    case K_REMOVE:
    case K_REMOVE_WIPE: {
        int fd = -1;
        if (en->kind == K_REMOVE_WIPE) {
            fd = openat(dfd, en->name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0 && errno == ENOENT)
                return KT_OK;
            if (fd < 0)
                return kt_fail_errno(e, KT_EIO, errno, "cannot remove '%s/%s'", dir, en->name);
        }
        /* The name goes first, then the bytes: nothing can open the file in between. */
        if (unlinkat(dfd, en->name, 0) != 0 && errno != ENOENT) {
            int err = errno;
            if (fd >= 0)
                close(fd);
            return kt_fail_errno(e, KT_EIO, err, "cannot remove '%s/%s'", dir, en->name);
        }
        if (fd >= 0) {
            int err = wipe_fd(fd);
            close(fd);
            if (err != 0)
                return kt_fail_errno(e, KT_EIO, err,
                                     "'%s/%s' was removed, but overwriting its bytes failed", dir,
                                     en->name);
        }
        return KT_OK;
    }
    default:
        return kt_fail(e, KT_EFORMAT, "unknown entry kind %d", en->kind);
    }
}

/* Removes every staged name of change id in folder dfd. */
static kt_rc unstage_all(int dfd, const char *dir, const char *id, kt_err *e)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    char tag[sizeof STAGE_TAG + ID_HEX];
    size_t taglen;
    int err = 0;

    snprintf(tag, sizeof tag, STAGE_TAG "%s", id);
    taglen = strlen(tag);
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        err = errno;
        if (fd >= 0)
            close(fd);
        return kt_fail_errno(e, KT_EIO, err, "cannot list the folder '%s'", dir);
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] != '.' || n <= taglen + 1 || strcmp(de->d_name + n - taglen, tag) != 0)
            continue;
        int r = remove_tree(dfd, de->d_name);
        if (r != 0 && err == 0)
            err = r;
    }
    closedir(d);
    if (err != 0)
        return kt_fail_errno(e, KT_EIO, err,
                             "cannot remove what an interrupted change left in '%s'", dir);
    return sync_dir(dfd, dir, e);
}

/* ---- recovery ----------------------------------------------------------------------------- */

/* Opens the folders a record names (dirs[0] is jfd itself); with missing_ok, a folder that is
 * gone is left at -1 (an undo has nothing to remove there). */
static kt_rc open_record_dirs(int jfd, const struct record *r, bool missing_ok, int *fds, kt_err *e)
{
    for (size_t i = 0; i < r->ndirs; i++)
        fds[i] = -1;
    fds[0] = jfd;
    for (size_t i = 1; i < r->ndirs; i++) {
        kt_rc rc = kt_folder_open(r->dirs[i], 0, &fds[i], e);
        if (rc == KT_ENOENT && missing_ok) {
            kt_err_clear(e);
            continue;
        }
        if (rc != KT_OK)
            return rc;
    }
    return KT_OK;
}

static void close_record_dirs(const struct record *r, int *fds)
{
    for (size_t i = 1; i < r->ndirs; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void say(kt_txn_report_fn report, void *ctx, const char *what, bool completed,
                const char *jdir)
{
    char line[KT_ERR_MSG_MAX];

    if (report == NULL)
        return;
    if (completed)
        snprintf(line, sizeof line, "completed the interrupted '%s' in %s", what, jdir);
    else
        snprintf(line, sizeof line,
                 "removed what an interrupted '%s' left in %s before it was committed", what, jdir);
    report(ctx, what, completed, line);
}

/* The end of a recovery: the record name removed (and, completing, the intent record first),
 * the folder synced, and the user told; or the error named. */
static kt_rc recovered(int jfd, const char *jdir, const char *id, const char *name,
                       const char *what, bool completed, kt_rc rc, kt_txn_report_fn report,
                       void *ctx, kt_err *e)
{
    if (rc == KT_OK) {
        char intent[NAME_MAX + 1];
        record_name(intent, id, false);
        if (completed)
            unlinkat(jfd, intent, 0);
        if (unlinkat(jfd, name, 0) != 0 && errno != ENOENT)
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot remove '%s/%s'", jdir, name);
        else
            rc = sync_dir(jfd, jdir, e);
    }
    if (rc == KT_OK)
        say(report, ctx, what, completed, jdir);
    else if (completed)
        kt_err_prefix(e, "cannot finish the interrupted '%s' in %s", what, jdir);
    else
        kt_err_prefix(e, "cannot undo the interrupted '%s' in %s", what, jdir);
    return rc;
}

/* Reads and decodes the commit (or intent) record of change id in jfd into r, its file name into
 * name. On an error r is empty; a record that cannot be decoded is named as the change that
 * cannot be finished (or undone). */
static kt_rc load_record(int jfd, const char *jdir, const char *id, bool commit,
                         char name[NAME_MAX + 1], struct record *r, kt_err *e)
{
    kt_buf raw = {0};
    kt_rc rc;

    memset(r, 0, sizeof *r);
    record_name(name, id, commit);
    if ((rc = read_record(jfd, jdir, name, &raw, e)) != KT_OK)
        return rc;
    rc = decode(&raw, commit, id, r, e);
    kt_buf_free(&raw);
    if (rc != KT_OK) {
        kt_err_prefix(e, "cannot %s the interrupted change recorded in '%s/%s'",
                      commit ? "finish" : "undo", jdir, name);
        record_free(r);
    }
    return rc;
}

/* Finishes a committed change from its commit record r: every entry published, its folders
 * synced. */
static kt_rc roll_forward(int jfd, const char *jdir, const char *id, const struct record *r,
                          kt_err *e)
{
    int fds[DIRS_MAX];
    kt_rc rc;

    if ((rc = open_record_dirs(jfd, r, false, fds, e)) == KT_OK) {
        for (size_t i = 0; rc == KT_OK && i < r->nents; i++)
            rc = publish(fds[r->ents[i].dir], r->ents[i].dir == 0 ? jdir : r->dirs[r->ents[i].dir],
                         &r->ents[i], id, e);
        for (size_t i = 1; rc == KT_OK && i < r->ndirs; i++)
            rc = sync_dir(fds[i], r->dirs[i], e);
    }
    close_record_dirs(r, fds);
    return rc;
}

/* Undoes a change that never reached its commit point, from its intent record r (empty when it
 * was unreadable: then what was staged in jdir). */
static kt_rc roll_back(int jfd, const char *jdir, const char *id, const struct record *r, kt_err *e)
{
    int fds[DIRS_MAX];
    kt_rc rc;

    rc = r->ndirs > 0 ? open_record_dirs(jfd, r, true, fds, e) : KT_OK;
    if (r->ndirs == 0)
        rc = unstage_all(jfd, jdir, id, e);
    for (size_t i = 0; rc == KT_OK && i < r->ndirs; i++)
        if (fds[i] >= 0)
            rc = unstage_all(fds[i], i == 0 ? jdir : r->dirs[i], id, e);
    if (r->ndirs > 0)
        close_record_dirs(r, fds);
    return rc;
}

/* Recovers change id: finished from its commit record when it was committed, else undone. */
static kt_rc recover_change(int jfd, const char *jdir, const char *id, bool committed,
                            kt_txn_report_fn report, void *ctx, kt_err *e)
{
    char name[NAME_MAX + 1];
    struct record r;
    kt_rc rc = load_record(jfd, jdir, id, committed, name, &r, e);

    if (committed) {
        if (rc != KT_OK)
            return rc;
        rc = roll_forward(jfd, jdir, id, &r, e);
    } else {
        if (rc != KT_OK)
            /* Records are written whole before they are named, so this is damage; the staged
             * names it could name elsewhere are unknown, those in this folder are not. */
            snprintf(r.what, sizeof r.what, "an unreadable change");
        kt_err_clear(e);
        rc = roll_back(jfd, jdir, id, &r, e);
    }
    rc = recovered(jfd, jdir, id, name, r.what, committed, rc, report, ctx, e);
    record_free(&r);
    return rc;
}

/* Recovers every change recorded in the locked folder jfd. */
static kt_rc recover_locked(int jfd, const char *jdir, kt_txn_report_fn report, void *ctx,
                            kt_err *e)
{
    char(*ids)[ID_HEX + 1] = NULL;
    bool *committed = NULL;
    size_t n = 0, cap = 0;
    int fd = openat(jfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    kt_rc rc = KT_OK;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return kt_fail_errno(e, KT_EIO, err, "cannot list the folder '%s'", jdir);
    }
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        struct stat st;
        if (strncmp(s, REC_PREFIX, sizeof REC_PREFIX - 1) != 0)
            continue;
        /* Only our own records: in a shared folder, another user's are not ours to act on. */
        if (fstatat(jfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        s += sizeof REC_PREFIX - 1;
        if (strlen(s) < ID_HEX || !is_hex_id(s))
            continue;
        const char *rest = s + ID_HEX;
        bool is_commit = strcmp(rest, COMMIT_SUFFIX) == 0;
        if (*rest != '\0' && !is_commit) {
            /* a record's temporary name (file systems without O_TMPFILE): never a record */
            if (strncmp(rest, TMP_SUFFIX, sizeof TMP_SUFFIX - 1) == 0 ||
                strncmp(rest, COMMIT_SUFFIX TMP_SUFFIX, sizeof COMMIT_SUFFIX TMP_SUFFIX - 1) == 0)
                unlinkat(jfd, de->d_name, 0);
            continue;
        }
        size_t i;
        for (i = 0; i < n; i++)
            if (memcmp(ids[i], s, ID_HEX) == 0)
                break;
        if (i == n) {
            if (n == cap) {
                size_t ncap = cap ? 2 * cap : 4;
                void *a = realloc(ids, ncap * sizeof *ids), *b;
                if (a == NULL) {
                    rc = kt_fail(e, KT_ENOMEM, "out of memory");
                    break;
                }
                ids = a;
                if ((b = realloc(committed, ncap * sizeof *committed)) == NULL) {
                    rc = kt_fail(e, KT_ENOMEM, "out of memory");
                    break;
                }
                committed = b;
                cap = ncap;
            }
            memcpy(ids[n], s, ID_HEX);
            ids[n][ID_HEX] = '\0';
            committed[n++] = false;
        }
        if (is_commit)
            committed[i] = true;
    }
    closedir(d);
    for (size_t i = 0; rc == KT_OK && i < n; i++)
        rc = recover_change(jfd, jdir, ids[i], committed[i], report, ctx, e);
    free(ids);
    free(committed);
    return rc;
}

kt_rc kt_txn_recover(const char *jdir, kt_txn_report_fn report, void *ctx, kt_err *e)
{
    int fd;
    kt_rc rc = kt_folder_open(jdir, 0, &fd, e);

    if (rc == KT_ENOENT) {
        kt_err_clear(e);
        return KT_OK;
    }
    if (rc != KT_OK)
        return rc;
    if ((rc = lock_fd(fd, jdir, e)) == KT_OK)
        rc = recover_locked(fd, jdir, report, ctx, e);
    close(fd);
    return rc;
}

/* ---- a change ----------------------------------------------------------------------------- */

kt_rc kt_txn_begin(kt_txn **out, const char *what, const char *const *dirs, size_t ndirs,
                   bool private, kt_txn_report_fn report, void *ctx, kt_err *e)
{
    kt_txn *t;
    kt_wbuf w;
    char name[NAME_MAX + 1];
    uint8_t rnd[ID_HEX / 2];
    kt_rc rc;

    *out = NULL;
    if (ndirs < 1 || ndirs > DIRS_MAX || strlen(what) < 1 || strlen(what) > WHAT_MAX)
        return kt_fail(e, KT_EUSAGE, "a change names 1 to %d folders and a label", DIRS_MAX);
    for (const char *c = what; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            return kt_fail(e, KT_EUSAGE, "a change's label is printable ASCII");
    if ((t = calloc(1, sizeof *t)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < DIRS_MAX; i++)
        t->dirs[i].fd = -1;
    snprintf(t->what, sizeof t->what, "%s", what);
    kt_random(rnd, sizeof rnd);
    kt_hex(t->id, rnd, sizeof rnd);

    for (size_t i = 0; i < ndirs; i++) {
        int fd;
        struct stat st;
        size_t j;

        if ((rc = kt_folder_open(dirs[i], private ? KT_FOLDER_PRIVATE : 0, &fd, e)) != KT_OK)
            goto fail;
        if (fstat(fd, &st) != 0) {
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot examine the folder '%s'", dirs[i]);
            close(fd);
            goto fail;
        }
        for (j = 0; j < t->ndirs; j++)
            if (t->dirs[j].dev == st.st_dev && t->dirs[j].ino == st.st_ino)
                break;
        t->map[t->nmap++] = j;
        if (j < t->ndirs) {
            close(fd); /* the same folder twice: one lock, one index */
            continue;
        }
        struct tdir *d = &t->dirs[t->ndirs++];
        d->fd = fd;
        d->dev = st.st_dev;
        d->ino = st.st_ino;
        d->path = strdup(dirs[i]);
        d->real = i == 0 ? strdup(".") : fd_path(fd);
        if (d->path == NULL || d->real == NULL) {
            rc = kt_fail(e, KT_ENOMEM, "cannot name the folder '%s'", dirs[i]);
            goto fail;
        }
        if ((rc = lock_fd(fd, dirs[i], e)) != KT_OK)
            goto fail;
    }
    if ((rc = recover_locked(t->dirs[0].fd, t->dirs[0].path, report, ctx, e)) != KT_OK)
        goto fail;
    if ((rc = encode(t, false, &w, e)) == KT_OK) {
        record_name(name, t->id, false);
        rc = create_record(t->dirs[0].fd, t->dirs[0].path, name, w.p, w.len, e);
    }
    kt_wbuf_free(&w);
    if (rc != KT_OK)
        goto fail;
    t->intent_written = true;
    *out = t;
    return KT_OK;
fail:
    kt_txn_free(t);
    return rc;
}

static kt_rc add_entry(kt_txn *t, int kind, size_t dir, const char *name, kt_err *e)
{
    if (t->nents == ENTRIES_MAX)
        return kt_fail(e, KT_EUSAGE, "a change holds at most %d entries", ENTRIES_MAX);
    if (t->nents == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        struct entry *p = realloc(t->ents, cap * sizeof *p);
        if (p == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        t->ents = p;
        t->cap = cap;
    }
    struct entry *en = &t->ents[t->nents++];
    en->kind = kind;
    en->dir = dir;
    snprintf(en->name, sizeof en->name, "%s", name);
    return KT_OK;
}

/* Checks a put's arguments and maps the caller's folder index; *d receives the folder. */
static kt_rc check_put(kt_txn *t, size_t dir, const char *name, size_t *idx, kt_err *e)
{
    if (t == NULL || t->committed || dir >= t->nmap)
        return kt_fail(e, KT_EUSAGE, "no such folder in this change");
    if (!plain_name(name))
        return kt_fail(e, KT_EUSAGE, "'%s' is not a plain file name of at most %zu bytes", name,
                       (size_t)STAGE_NAME_MAX);
    *idx = t->map[dir];
    for (size_t i = 0; i < t->nents; i++)
        if (t->ents[i].dir == *idx && strcmp(t->ents[i].name, name) == 0)
            return kt_fail(e, KT_EUSAGE, "'%s' is already part of this change", name);
    return KT_OK;
}

kt_rc kt_txn_put(kt_txn *t, size_t dir, const char *name, const void *data, size_t len,
                 unsigned how, kt_err *e)
{
    char staged[NAME_MAX + 1];
    struct stat st;
    size_t i;
    int fd;
    kt_rc rc;

    if ((rc = check_put(t, dir, name, &i, e)) != KT_OK)
        return rc;
    if (how != KT_TXN_NEW && how != KT_TXN_REPLACE)
        return kt_fail(e, KT_EUSAGE, "unknown way to publish '%s'", name);
    const struct tdir *d = &t->dirs[i];
    if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (how == KT_TXN_NEW)
            return kt_fail(e, KT_EEXIST, "'%s/%s' exists; refusing to overwrite it", d->path, name);
        if (!S_ISREG(st.st_mode))
            return kt_fail(e, KT_EIO, "'%s/%s' is not a regular file; refusing to replace it",
                           d->path, name);
    } else if (errno != ENOENT) {
        return kt_fail_errno(e, KT_EIO, errno, "cannot examine '%s/%s'", d->path, name);
    }
    stage_name(staged, name, t->id);
    fd = openat(d->fd, staged, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s/%s'", d->path, staged);
    /* Recorded before the write, so a failure below is undone with the rest. */
    if ((rc = add_entry(t, how == KT_TXN_NEW ? K_FILE_NEW : K_FILE_REPLACE, i, name, e)) != KT_OK) {
        close(fd);
        unlinkat(d->fd, staged, 0);
        return rc;
    }
    if ((rc = kt_write_all(fd, data, len, name, e)) != KT_OK) {
        close(fd);
        return rc;
    }
    if (!t->grouped && fsync(fd) != 0) {
        int err = errno;
        close(fd);
        return kt_fail_errno(e, KT_EIO, err, "cannot write '%s/%s': fsync failed", d->path, name);
    }
    if (close(fd) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s/%s': closing it failed", d->path,
                             name);
    return KT_OK;
}

kt_rc kt_txn_group_sync(kt_txn *t, kt_err *e)
{
    if (t == NULL || t->committed || t->nents > 0)
        return kt_fail(e, KT_EUSAGE, "grouped durability is chosen before anything is staged");
    t->grouped = true;
    return KT_OK;
}

kt_rc kt_txn_put_dir(kt_txn *t, size_t dir, const char *name, char *staged_path, kt_err *e)
{
    char staged[NAME_MAX + 1];
    struct stat st;
    size_t i;
    kt_rc rc;

    staged_path[0] = '\0';
    if ((rc = check_put(t, dir, name, &i, e)) != KT_OK)
        return rc;
    const struct tdir *d = &t->dirs[i];
    if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
            return kt_fail(e, KT_EEXIST, "'%s/%s' is a symbolic link; give a real folder", d->path,
                           name);
        if (!S_ISDIR(st.st_mode))
            return kt_fail(e, KT_EEXIST, "'%s/%s' exists and is not a folder", d->path, name);
        if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
            return kt_fail(e, KT_EEXIST,
                           "'%s/%s' is %s; give a new folder, or an empty one only you can write "
                           "to",
                           d->path, name,
                           st.st_uid != geteuid() ? "owned by another user" : "writable by others");
        struct stat parent;
        if (fstat(d->fd, &parent) != 0 || parent.st_dev != st.st_dev)
            return kt_fail(e, KT_EEXIST,
                           "'%s/%s' is a mount point (or another file system); give a new "
                           "folder inside it",
                           d->path, name);
        if (!dir_is_empty(d->fd, name))
            return kt_fail(e, KT_EEXIST,
                           "'%s/%s' is not empty; give a new or empty folder (nothing is ever "
                           "overwritten)",
                           d->path, name);
    } else if (errno != ENOENT) {
        return kt_fail_errno(e, KT_EIO, errno, "cannot examine '%s/%s'", d->path, name);
    }
    stage_name(staged, name, t->id);
    int n = snprintf(staged_path, PATH_MAX, "%s/%s", d->path, staged);
    if (n < 0 || n >= PATH_MAX) {
        staged_path[0] = '\0';
        return kt_fail(e, KT_EUSAGE, "path too long: %s/%s", d->path, name);
    }
    if (mkdirat(d->fd, staged, 0700) != 0) {
        staged_path[0] = '\0';
        return kt_fail_errno(e, KT_EIO, errno, "cannot create the folder '%s/%s'", d->path, staged);
    }
    return add_entry(t, K_DIR_NEW, i, name, e);
}

kt_rc kt_txn_remove(kt_txn *t, size_t dir, const char *name, bool wipe, kt_err *e)
{
    size_t i;
    kt_rc rc = check_put(t, dir, name, &i, e);

    return rc != KT_OK ? rc : add_entry(t, wipe ? K_REMOVE_WIPE : K_REMOVE, i, name, e);
}

kt_rc kt_txn_commit(kt_txn *t, bool *committed, kt_err *e)
{
    char name[NAME_MAX + 1], staged[NAME_MAX + 1];
    kt_wbuf w;
    kt_rc rc = KT_OK;

    *committed = false;
    if (t == NULL || t->committed || !t->intent_written)
        return kt_fail(e, KT_EUSAGE, "no open change to commit");
    /* 1. Everything staged is durable: staged folder trees, then every folder. */
    for (size_t i = 0; rc == KT_OK && i < t->nents; i++)
        if (t->ents[i].kind == K_DIR_NEW) {
            stage_name(staged, t->ents[i].name, t->id);
            rc = sync_tree(t->dirs[t->ents[i].dir].fd, staged, t->ents[i].name, e);
        }
    /* Grouped: one syncfs per folder writes back every staged file's data and metadata (and
     * reports a writeback error of any of them, Linux 5.8 and later) before the commit point. */
    for (size_t i = 0; rc == KT_OK && t->grouped && i < t->ndirs; i++)
        if (syncfs(t->dirs[i].fd) != 0)
            rc = kt_fail_errno(e, KT_EIO, errno,
                               "cannot write the staged files in '%s' durably: syncfs failed",
                               t->dirs[i].path);
    for (size_t i = 0; rc == KT_OK && i < t->ndirs; i++)
        rc = sync_dir(t->dirs[i].fd, t->dirs[i].path, e);
    if (rc != KT_OK)
        return rc;
    /* 2. The commit point. */
    if ((rc = encode(t, true, &w, e)) == KT_OK) {
        record_name(name, t->id, true);
        rc = create_record(t->dirs[0].fd, t->dirs[0].path, name, w.p, w.len, e);
    }
    kt_wbuf_free(&w);
    kt_err unsynced;
    kt_err_clear(&unsynced);
    if (rc != KT_OK) {
        /* A name that is there was linked in whole: then the change stands, but its records
         * stay until a later run has seen it through durably. */
        struct stat st;
        if (fstatat(t->dirs[0].fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            return rc;
        unsynced = *e;
        rc = KT_OK;
    }
    t->committed = true;
    *committed = true;
    /* 3. Publishing; from here on nothing is deleted, a failure leaves the records. */
    kt_err_clear(e);
    for (size_t i = 0; rc == KT_OK && i < t->nents; i++)
        rc = publish(t->dirs[t->ents[i].dir].fd, t->dirs[t->ents[i].dir].path, &t->ents[i], t->id,
                     e);
    for (size_t i = 0; rc == KT_OK && i < t->ndirs; i++)
        rc = sync_dir(t->dirs[i].fd, t->dirs[i].path, e);
    if (rc == KT_OK && unsynced.rc != KT_OK) {
        *e = unsynced;
        rc = unsynced.rc;
    } else if (rc == KT_OK) {
        record_name(staged, t->id, false);
        if (unlinkat(t->dirs[0].fd, staged, 0) != 0 || unlinkat(t->dirs[0].fd, name, 0) != 0)
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot remove the records in '%s'",
                               t->dirs[0].path);
        else
            rc = sync_dir(t->dirs[0].fd, t->dirs[0].path, e);
    }
    if (rc != KT_OK)
        kt_err_prefix(e,
                      "'%s' is committed, but not yet wholly published and durable (the next "
                      "keytransfer command that uses %s completes it)",
                      t->what, t->dirs[0].path);
    return rc;
}

void kt_txn_free(kt_txn *t)
{
    if (t == NULL)
        return;
    if (t->intent_written && !t->committed) {
        char name[NAME_MAX + 1];
        kt_err ignored;

        for (size_t i = 0; i < t->ndirs; i++)
            if (unstage_all(t->dirs[i].fd, t->dirs[i].path, t->id, &ignored) != KT_OK)
                kt_err_clear(&ignored);
        record_name(name, t->id, false);
        unlinkat(t->dirs[0].fd, name, 0);
        if (fsync(t->dirs[0].fd) != 0)
            kt_err_clear(&ignored);
    }
    for (size_t i = 0; i < t->ndirs; i++) {
        if (t->dirs[i].fd >= 0)
            close(t->dirs[i].fd); /* drops the lock */
        free(t->dirs[i].path);
        free(t->dirs[i].real);
    }
    free(t->ents);
    free(t);
}
