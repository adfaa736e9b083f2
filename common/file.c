/*
 * file.c - the one careful writer and the careful reader (docs/design.md §6), plus removal, mkdir
 * -p and an existence test.
 *
 * Writing: the target folder is opened (not through a link) and locked with flock; the target must
 * not be a symlink; a leftover ".<name>.kt-tmp" of an earlier crashed write is removed;
 * the data goes to an unnamed O_TMPFILE file in that folder (or, where the file system lacks
 * O_TMPFILE, to an exclusive 0600 temp file of that name), is written in full and fsync'd; then
 * it is published: KT_WRITE_NEW links it to the target name, which fails atomically if the name
 * exists; KT_WRITE_REPLACE links it to a temp name and renames that over the target. The
 * descriptor is closed (checked) once it is no longer needed for the link, and the folder is
 * fsync'd last. A crash at any instant leaves the old file or the new one. The link and rename
 * of a replace run in a child process that outlives a killed caller, so a dying process leaves
 * no temp name; only a power loss between them can, and the next write to the target removes it.
 * Every error path removes what it created.
 *
 * Reading: regular files only (lstat first, so FIFOs and devices are never opened; O_NOFOLLOW
 * and a check that the opened file is the one examined), at most max bytes, including a file
 * that grows while being read.
 */
#include "common_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define TMP_TAG ".kt-tmp"
/* The longest target name whose temp name ".<name>.kt-tmp" still fits NAME_MAX. */
#define BASE_MAX (NAME_MAX - 1 - (sizeof TMP_TAG - 1))
/* One name is tried: the folder lock keeps every other writer away (make_temp_name). */
#define TMP_ATTEMPTS 1

/* A path split into its folder (a heap copy, opened as dirfd) and its last component. */
struct target {
    char *dir;
    const char *base; /* points into the caller's path */
    int dirfd;
};

static void target_close(struct target *t)
{
    if (t->dirfd >= 0)
        close(t->dirfd); /* also drops the flock */
    t->dirfd = -1;
    free(t->dir);
    t->dir = NULL;
}

static kt_rc split_path(const char *path, struct target *t, kt_err *e)
{
    const char *slash = strrchr(path, '/');

    t->dir = NULL;
    t->dirfd = -1;
    t->base = slash != NULL ? slash + 1 : path;
    if (t->base[0] == '\0' || strcmp(t->base, ".") == 0 || strcmp(t->base, "..") == 0)
        return kt_fail(e, KT_EUSAGE, "'%s' does not name a file", path);
    if (slash == NULL)
        t->dir = strdup(".");
    else if (slash == path)
        t->dir = strdup("/");
    else
        t->dir = strndup(path, (size_t)(slash - path));
    if (t->dir == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    return KT_OK;
}

/* Opens and locks the folder of path; verb ("write", "remove") goes into messages. */
static kt_rc open_dir(struct target *t, const char *path, const char *verb, kt_err *e)
{
    kt_rc rc = kt_folder_open(t->dir, 0, &t->dirfd, e);

    if (rc != KT_OK) {
        kt_err_prefix(e, "cannot %s '%s'", verb, path);
        return rc;
    }
    char what[PATH_MAX + 16];

    snprintf(what, sizeof what, "the folder '%s'", t->dir);
    if ((rc = kt_flock_wait(t->dirfd, true, what, e)) != KT_OK)
        kt_err_prefix(e, "cannot %s '%s'", verb, path);
    return rc;
}

/*
 * The one temporary name a write to <base> uses: ".<base>.kt-tmp". The folder is locked for the
 * whole write, so no other writer can be using it; one left by a crashed write is removed first.
 * A fixed name makes that removal one system call, not a scan of the folder, so filling a
 * folder with N files costs O(N), not O(N^2).
 */
static void make_temp_name(char out[NAME_MAX + 1], const char *base)
{
    snprintf(out, NAME_MAX + 1, ".%s" TMP_TAG, base);
}

/* Removes the temp file an earlier write to the same target left behind when it crashed. */
static kt_rc remove_leftovers(const struct target *t, const char *path, kt_err *e)
{
    char name[NAME_MAX + 1];

    make_temp_name(name, t->base);
    if (unlinkat(t->dirfd, name, 0) != 0 && errno != ENOENT)
        return kt_fail_errno(e, KT_EIO, errno,
                             "cannot remove '%s/%s', left over from an earlier write of '%s'",
                             t->dir, name, path);
    return KT_OK;
}

/* Refuses a target that is a symlink, exists without KT_WRITE_REPLACE, or is not a file. */
static kt_rc check_target(const struct target *t, const char *path, bool replace, kt_err *e)
{
    struct stat st;

    if (fstatat(t->dirfd, t->base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return KT_OK;
        return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s'", path);
    }
    if (S_ISLNK(st.st_mode))
        return kt_fail(e, KT_EIO, "'%s' is a symbolic link; refusing to write through it", path);
    if (!replace)
        return kt_fail(e, KT_EEXIST, "'%s' exists; refusing to overwrite it", path);
    if (!S_ISREG(st.st_mode))
        return kt_fail(e, KT_EIO, "'%s' exists and is not a regular file; refusing to replace it",
                       path);
    return KT_OK;
}

static bool have_proc_fd(void)
{
    struct stat st;

    return stat("/proc/self/fd", &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Creates the data file: unnamed (O_TMPFILE; tmpname left empty) where the file system and /proc
 * allow it, else an exclusive temp file whose name goes into tmpname.
 */
static kt_rc create_data_file(const struct target *t, const char *path, int *fd,
                              char tmpname[NAME_MAX + 1], kt_err *e)
{
    tmpname[0] = '\0';
    if (have_proc_fd()) {
        *fd = openat(t->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (*fd >= 0)
            return KT_OK;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
            return kt_fail_errno(e, KT_EIO, errno,
                                 "cannot write '%s': cannot create a file in the folder '%s'", path,
                                 t->dir);
    }
    for (int i = 0; i < TMP_ATTEMPTS; i++) {
        make_temp_name(tmpname, t->base);
        *fd = openat(t->dirfd, tmpname, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
        if (*fd >= 0)
            return KT_OK;
        if (errno != EEXIST)
            break;
    }
    tmpname[0] = '\0';
    return kt_fail_errno(e, KT_EIO, errno,
                         "cannot write '%s': cannot create a temporary file in the folder '%s'",
                         path, t->dir);
}

kt_rc kt_write_all(int fd, const uint8_t *p, size_t len, const char *path, kt_err *e)
{
    while (len > 0) {
        size_t chunk = len < (size_t)SSIZE_MAX ? len : (size_t)SSIZE_MAX;
        ssize_t n = write(fd, p, chunk);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s'", path);
        }
        if (n == 0)
            return kt_fail(e, KT_EIO, "cannot write '%s': the device accepts no more data", path);
        p += n;
        len -= (size_t)n;
    }
    return KT_OK;
}

/* Closes *fd and reports a failure (the descriptor is gone either way; no retry on EINTR). */
static kt_rc close_checked(int *fd, const char *path, kt_err *e)
{
    int r = close(*fd);

    *fd = -1;
    if (r != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s': closing it failed", path);
    return KT_OK;
}

static kt_rc refuse_existing(const char *path, kt_err *e)
{
    return kt_fail(e, KT_EEXIST, "'%s' exists; refusing to overwrite it", path);
}

/*
 * The link-then-rename of a replace, done by a child process that blocks every signal it can
 * and leaves our process group, so that it completes even when we are killed halfway. The temp
 * names are drawn before the fork (the child only makes system calls). On return *stage is 0
 * (renamed), 1 (no temp name could be linked; *err says why) or 2 (linked as tmpname, not
 * renamed; the caller removes tmpname).
 */
static kt_rc publish_in_child(const struct target *t, const char *proc, char tmpname[NAME_MAX + 1],
                              int *stage, int *err, kt_err *e)
{
    char names[TMP_ATTEMPTS][NAME_MAX + 1];
    int report[3] = {0, 0, 0}, pipefd[2];

    for (int i = 0; i < TMP_ATTEMPTS; i++)
        make_temp_name(names[i], t->base);
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot replace a file: pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int fe = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return kt_fail_errno(e, KT_EIO, fe, "cannot replace a file: fork");
    }
    if (pid == 0) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        setsid();
        int r[3] = {1, EEXIST, 0};
        for (int i = 0; i < TMP_ATTEMPTS; i++) {
            if (linkat(AT_FDCWD, proc, t->dirfd, names[i], AT_SYMLINK_FOLLOW) == 0) {
                r[0] = 2;
                r[1] = 0;
                r[2] = i;
                break;
            }
            if (errno != EEXIST) {
                r[1] = errno;
                break;
            }
        }
        if (r[0] == 2) {
            if (renameat(t->dirfd, names[r[2]], t->dirfd, t->base) == 0)
                r[0] = 0;
            else
                r[1] = errno;
        }
        ssize_t w = write(pipefd[1], r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(pipefd[1]);
    ssize_t got;
    do
        got = read(pipefd[0], report, sizeof report);
    while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t)sizeof report || report[2] < 0 || report[2] >= TMP_ATTEMPTS)
        return kt_fail(e, KT_EIO, "cannot replace a file: the publishing process failed");
    *stage = report[0];
    *err = report[1];
    if (*stage == 2)
        snprintf(tmpname, NAME_MAX + 1, "%s", names[report[2]]);
    return KT_OK;
}

/*
 * Publishes an O_TMPFILE file through its /proc/self/fd link, then closes it (checked). For a
 * replace, the temp name lives only from the link to the rename, which follow each other at once:
 * a crash in between is the one way to leave a named leftover, and the next write removes it.
 */
static kt_rc publish_unnamed(const struct target *t, const char *path, int *fd, bool replace,
                             char tmpname[NAME_MAX + 1], kt_err *e)
{
    char proc[64];
    kt_rc rc;

    snprintf(proc, sizeof proc, "/proc/self/fd/%d", *fd);
    if (!replace) {
        if (linkat(AT_FDCWD, proc, t->dirfd, t->base, AT_SYMLINK_FOLLOW) != 0) {
            if (errno == EEXIST)
                return refuse_existing(path, e);
            return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s': cannot create it", path);
        }
        rc = close_checked(fd, path, e);
        if (rc != KT_OK)
            unlinkat(t->dirfd, t->base, 0); /* back to the old state: no file */
        return rc;
    }
    /* Link and rename run in a child process of their own: if this process dies between the
     * two (SIGKILL, the OOM killer), the child still finishes the rename, so no temp name is
     * left behind. Only a power loss in that instant can leave one; the next write removes it. */
    int stage = 0, err = 0;
    if ((rc = publish_in_child(t, proc, tmpname, &stage, &err, e)) != KT_OK)
        return rc;
    if (stage == 1) {
        tmpname[0] = '\0';
        if (err == EEXIST)
            return kt_fail(e, KT_EIO, "cannot write '%s': no free temporary name", path);
        return kt_fail_errno(e, KT_EIO, err, "cannot write '%s': cannot name the new file", path);
    }
    if (stage == 2)
        return kt_fail_errno(e, KT_EIO, err, "cannot write '%s': cannot replace it", path);
    tmpname[0] = '\0';
    /* The data was fsync'd before the rename; a close error now cannot undo the replace. */
    if (close(*fd) != 0) {
        int cerr = errno;

        *fd = -1;
        return kt_fail_errno(e, KT_EIO, cerr, "'%s' was written, but closing it failed", path);
    }
    *fd = -1;
    return KT_OK;
}

/* Publishes a named temp file (the fallback without O_TMPFILE). */
static kt_rc publish_named(const struct target *t, const char *path, int *fd, bool replace,
                           char tmpname[NAME_MAX + 1], kt_err *e)
{
    kt_rc rc = close_checked(fd, path, e);

    if (rc != KT_OK)
        return rc;
    if (replace) {
        if (renameat(t->dirfd, tmpname, t->dirfd, t->base) != 0)
            return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s': cannot replace it", path);
        tmpname[0] = '\0';
        return KT_OK;
    }
    if (renameat2(t->dirfd, tmpname, t->dirfd, t->base, RENAME_NOREPLACE) == 0) {
        tmpname[0] = '\0';
        return KT_OK;
    }
    if (errno == EEXIST)
        return refuse_existing(path, e);
    if (errno != EINVAL && errno != ENOSYS)
        return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s': cannot create it", path);
    /* No RENAME_NOREPLACE here: link (which never clobbers), then drop the temp name. */
    if (linkat(t->dirfd, tmpname, t->dirfd, t->base, 0) != 0) {
        if (errno == EEXIST)
            return refuse_existing(path, e);
        return kt_fail_errno(e, KT_EIO, errno, "cannot write '%s': cannot create it", path);
    }
    if (unlinkat(t->dirfd, tmpname, 0) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "'%s' was written, but removing '%s/%s' failed",
                             path, t->dir, tmpname);
    tmpname[0] = '\0';
    return KT_OK;
}

kt_rc kt_file_write(const char *path, const void *data, size_t len, unsigned flags, kt_err *e)
{
    struct target t;
    char tmpname[NAME_MAX + 1] = "";
    bool replace = (flags & KT_WRITE_REPLACE) != 0;
    int fd = -1;
    kt_rc rc;

    if ((flags & ~(unsigned)KT_WRITE_REPLACE) != 0)
        return kt_fail(e, KT_EUSAGE, "cannot write '%s': unknown flags 0x%x", path, flags);
    if (data == NULL && len > 0)
        return kt_fail(e, KT_EUSAGE, "cannot write '%s': no data", path);
    rc = split_path(path, &t, e);
    if (rc != KT_OK)
        goto done;
    if (strlen(t.base) > BASE_MAX) {
        rc = kt_fail(e, KT_EUSAGE, "cannot write '%s': the file name is longer than %zu bytes",
                     path, (size_t)BASE_MAX);
        goto done;
    }
    rc = open_dir(&t, path, "write", e);
    if (rc != KT_OK)
        goto done;
    rc = check_target(&t, path, replace, e);
    if (rc != KT_OK)
        goto done;
    rc = remove_leftovers(&t, path, e);
    if (rc != KT_OK)
        goto done;
    rc = create_data_file(&t, path, &fd, tmpname, e);
    if (rc != KT_OK)
        goto done;
    rc = kt_write_all(fd, data, len, path, e);
    if (rc != KT_OK)
        goto done;
    if (fsync(fd) != 0) {
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot write '%s': fsync failed", path);
        goto done;
    }
    if (tmpname[0] == '\0')
        rc = publish_unnamed(&t, path, &fd, replace, tmpname, e);
    else
        rc = publish_named(&t, path, &fd, replace, tmpname, e);
    if (rc != KT_OK)
        goto done;
    if (fsync(t.dirfd) != 0)
        rc = kt_fail_errno(e, KT_EIO, errno, "'%s' was written, but syncing the folder '%s' failed",
                           path, t.dir);
done:
    if (fd >= 0)
        close(fd); /* an unnamed file vanishes with its descriptor */
    if (tmpname[0] != '\0')
        unlinkat(t.dirfd, tmpname, 0);
    target_close(&t);
    return rc;
}

/*
 * Opens path for reading if it is a regular file (never opening anything else) of at most max
 * bytes; *size is its size when examined.
 */
static kt_rc open_regular(const char *path, size_t max, int *fd, size_t *size, kt_err *e)
{
    struct stat before, st;
    int err;

    *fd = -1;
    if (lstat(path, &before) != 0) {
        err = errno;
        if (err == ENOENT)
            return kt_fail(e, KT_ENOENT, "cannot read '%s': no such file", path);
        return kt_fail_errno(e, KT_EIO, err, "cannot read '%s'", path);
    }
    if (S_ISLNK(before.st_mode))
        return kt_fail(e, KT_EIO, "'%s' is a symbolic link; refusing to read it", path);
    if (!S_ISREG(before.st_mode))
        return kt_fail(e, KT_EIO, "'%s' is not a regular file; refusing to read it", path);

    *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (*fd < 0) {
        err = errno;
        if (err == ENOENT)
            return kt_fail(e, KT_ENOENT, "cannot read '%s': no such file", path);
        if (err == ELOOP)
            return kt_fail(e, KT_EIO, "'%s' is a symbolic link; refusing to read it", path);
        return kt_fail_errno(e, KT_EIO, err, "cannot read '%s'", path);
    }
    if (fstat(*fd, &st) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot read '%s'", path);
    if (!S_ISREG(st.st_mode) || st.st_dev != before.st_dev || st.st_ino != before.st_ino)
        return kt_fail(e, KT_EIO, "'%s' is not a regular file (or changed while being opened)",
                       path);
    if (st.st_size < 0 || (uintmax_t)st.st_size > (uintmax_t)max)
        return kt_fail(e, KT_ETOOBIG, "'%s' is %jd bytes; the limit is %zu bytes", path,
                       (intmax_t)st.st_size, max);
    *size = (size_t)st.st_size;
    return KT_OK;
}

/* A growing read buffer in plain or secure memory; old copies are wiped when it moves. */
struct sink {
    bool secure;
    uint8_t *p;
    size_t cap, used;
};

static void sink_free(struct sink *s)
{
    if (s->p != NULL) {
        if (s->secure) {
            kt_secbuf b = {s->p, s->cap};

            kt_secbuf_free(&b);
        } else {
            kt_wipe(s->p, s->cap);
            free(s->p);
        }
    }
    s->p = NULL;
    s->cap = s->used = 0;
}

static bool sink_reserve(struct sink *s, size_t cap)
{
    uint8_t *q;

    if (cap == 0)
        cap = 1;
    if (s->secure) {
        kt_secbuf b;

        q = kt_secbuf_alloc(&b, cap, NULL) == KT_OK ? b.p : NULL;
    } else {
        q = malloc(cap);
    }
    if (q == NULL)
        return false;
    if (s->used > 0)
        memcpy(q, s->p, s->used);
    struct sink old = *s;
    sink_free(&old);
    s->p = q;
    s->cap = cap;
    return true;
}

/* Reads path (a regular file of at most max bytes) whole into s. */
static kt_rc read_file(const char *path, size_t max, struct sink *s, kt_err *e)
{
    int fd;
    size_t size;
    ssize_t n;
    kt_rc rc;

    if (max > SIZE_MAX / 4)
        max = SIZE_MAX / 4; /* keeps max + 1 and doubling free of overflow */
    rc = open_regular(path, max, &fd, &size, e);
    if (rc != KT_OK)
        goto done;
    /* One byte beyond the size seen, so a file that grew is noticed at once. */
    if (!sink_reserve(s, size + 1)) {
        rc = kt_fail(e, KT_ENOMEM, "cannot read '%s': out of memory", path);
        goto done;
    }
    for (;;) {
        if (s->used == s->cap) {
            size_t cap = s->cap * 2 < max + 1 ? s->cap * 2 : max + 1;

            if (!sink_reserve(s, cap)) {
                rc = kt_fail(e, KT_ENOMEM, "cannot read '%s': out of memory", path);
                goto done;
            }
        }
        n = read(fd, s->p + s->used, s->cap - s->used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot read '%s'", path);
            goto done;
        }
        if (n == 0)
            break;
        s->used += (size_t)n;
        if (s->used > max) {
            rc = kt_fail(e, KT_ETOOBIG, "'%s' grew beyond the limit of %zu bytes while being read",
                         path, max);
            goto done;
        }
    }
done:
    if (fd >= 0)
        close(fd);
    if (rc != KT_OK)
        sink_free(s);
    return rc;
}

/* read_file into a sink of the given kind; *p and *len receive what was read (NULL, 0 on a
 * failure). */
static kt_rc read_into(const char *path, size_t max, bool secure, uint8_t **p, size_t *len,
                       kt_err *e)
{
    struct sink s = {.secure = secure};
    kt_rc rc = read_file(path, max, &s, e);

    *p = rc == KT_OK ? s.p : NULL;
    *len = rc == KT_OK ? s.used : 0;
    return rc;
}

kt_rc kt_file_read(const char *path, size_t max, kt_buf *out, kt_err *e)
{
    return read_into(path, max, false, &out->p, &out->len, e);
}

kt_rc kt_file_read_secret(const char *path, size_t max, kt_secbuf *out, kt_err *e)
{
    return read_into(path, max, true, &out->p, &out->len, e);
}

kt_rc kt_file_remove(const char *path, kt_err *e)
{
    struct target t;
    kt_rc rc;
    int err;

    rc = split_path(path, &t, e);
    if (rc != KT_OK)
        goto done;
    rc = open_dir(&t, path, "remove", e);
    if (rc != KT_OK)
        goto done;
    if (unlinkat(t.dirfd, t.base, 0) != 0) {
        err = errno;
        if (err == ENOENT)
            rc = kt_fail(e, KT_ENOENT, "cannot remove '%s': no such file", path);
        else if (err == EISDIR)
            rc = kt_fail(e, KT_EIO, "cannot remove '%s': it is a folder", path);
        else
            rc = kt_fail_errno(e, KT_EIO, err, "cannot remove '%s'", path);
        goto done;
    }
    if (fsync(t.dirfd) != 0)
        rc = kt_fail_errno(e, KT_EIO, errno, "'%s' was removed, but syncing the folder '%s' failed",
                           path, t.dir);
done:
    target_close(&t);
    return rc;
}

/* Creates one folder of a mkdir -p walk; an existing folder (or link to one) is accepted. */
static kt_rc make_one_dir(const char *dir, const char *whole, kt_err *e)
{
    struct stat st;

    if (mkdir(dir, 0700) == 0)
        return KT_OK;
    if (errno != EEXIST)
        return kt_fail_errno(e, KT_EIO, errno, "cannot create the folder '%s'", dir);
    if (stat(dir, &st) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot create the folder '%s': cannot examine '%s'",
                             whole, dir);
    if (!S_ISDIR(st.st_mode))
        return kt_fail(e, KT_EIO, "cannot create the folder '%s': '%s' exists and is not a folder",
                       whole, dir);
    return KT_OK;
}

kt_rc kt_dir_ensure(const char *dir, kt_err *e)
{
    char *copy;
    size_t len;
    kt_rc rc = KT_OK;

    if (dir == NULL || dir[0] == '\0')
        return kt_fail(e, KT_EUSAGE, "no folder named");
    copy = strdup(dir);
    if (copy == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    /* Each proper prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i < len && rc == KT_OK; i++) {
        if (copy[i] != '/' || copy[i - 1] == '/')
            continue;
        copy[i] = '\0';
        rc = make_one_dir(copy, dir, e);
        copy[i] = '/';
    }
    if (rc == KT_OK)
        rc = make_one_dir(copy, dir, e);
    free(copy);
    return rc;
}

bool kt_path_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* ---- Folders: opened component by component, never through a link they do not trust ---- */

/* Why a folder is not private enough, or NULL: not ours, or writable by others. */
static const char *folder_not_private(const struct stat *st)
{
    if (st->st_uid != geteuid())
        return "is owned by another user";
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return "can be written by other users";
    return NULL;
}

/* An ancestor folder an attacker could rename our folder out of: writable by others and not
 * sticky (a sticky folder such as /tmp lets only the owner rename an entry). */
static bool ancestor_unsafe(const struct stat *st)
{
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return true;
    return (st->st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st->st_mode & S_ISVTX) == 0;
}

kt_rc kt_folder_open(const char *dir, unsigned flags, int *out, kt_err *e)
{
    size_t len = strlen(dir);
    char *copy, *save = NULL, *comp, *next;
    int fd;
    struct stat st;
    kt_rc rc = KT_OK;

    *out = -1;
    if (len == 0)
        return kt_fail(e, KT_EUSAGE, "no folder named");
    if ((copy = strdup(dir)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    fd = open(dir[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot open the folder '%s'", dir);
        goto done;
    }
    /* "." and empty components change nothing; the last real one is the folder itself, so
     * "link/." and "link/" name the link, which is refused like "link". */
    comp = strtok_r(copy, "/", &save);
    while (comp != NULL && strcmp(comp, ".") == 0)
        comp = strtok_r(NULL, "/", &save);
    for (; comp != NULL; comp = next) {
        next = strtok_r(NULL, "/", &save);
        while (next != NULL && strcmp(next, ".") == 0)
            next = strtok_r(NULL, "/", &save);
        bool last = next == NULL;
        if ((flags & KT_FOLDER_PRIVATE) != 0) {
            /* Every folder on the way: whoever can write to it could swap what follows. */
            if (fstat(fd, &st) != 0) {
                rc = kt_fail_errno(e, KT_EIO, errno, "cannot examine the folder '%s'", dir);
                goto done;
            }
            if (ancestor_unsafe(&st)) {
                rc = kt_fail(e, KT_EDENIED,
                             "the folder '%s' lies in a folder that other users can change (mode "
                             "%04o, owner %ju, before '%s'): they could swap it; use a folder "
                             "whose parents only you or root can change",
                             dir, (unsigned)(st.st_mode & 07777), (uintmax_t)st.st_uid, comp);
                goto done;
            }
        }
        int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0) {
            int err = errno;
            struct stat lst;

            if (err == ENOENT) {
                rc = kt_fail(e, KT_ENOENT, "the folder '%s' does not exist", dir);
                goto done;
            }
            if ((err == ELOOP || err == ENOTDIR) &&
                fstatat(fd, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode)) {
                /* A link on the way is followed only when root owns it (/var/run -> /run):
                 * nobody else could have pointed it elsewhere. The folder itself never is. */
                if (last) {
                    rc = kt_fail(e, KT_EIO, "the folder '%s' is a symbolic link; refusing", dir);
                    goto done;
                }
                if (lst.st_uid != 0) {
                    rc = kt_fail(e, KT_EIO,
                                 "'%s' in the path of the folder '%s' is a symbolic link owned "
                                 "by user %ju; refusing to follow it",
                                 comp, dir, (uintmax_t)lst.st_uid);
                    goto done;
                }
                nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_CLOEXEC);
                err = errno;
            }
            if (nfd < 0) {
                if (err == ENOTDIR)
                    rc = kt_fail(e, KT_EIO, "'%s' is not a folder", dir);
                else
                    rc = kt_fail_errno(e, KT_EIO, err, "cannot open the folder '%s'", dir);
                goto done;
            }
        }
        close(fd);
        fd = nfd;
    }
    int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) {
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot open the folder '%s'", dir);
        goto done;
    }
    if ((flags & KT_FOLDER_PRIVATE) != 0) {
        const char *why;

        if (fstat(rfd, &st) != 0) {
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot examine the folder '%s'", dir);
            close(rfd);
            goto done;
        }
        if ((why = folder_not_private(&st)) != NULL) {
            rc = kt_fail(e, KT_EDENIED,
                         "the folder '%s' %s (mode %04o, owner %ju); keytransfer keeps its files "
                         "only in folders that you own and nobody else can write to (chmod 700)",
                         dir, why, (unsigned)(st.st_mode & 07777), (uintmax_t)st.st_uid);
            close(rfd);
            goto done;
        }
    }
    *out = rfd;
done:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* ---- Locks: bounded waits that name the holder --------------------------------------------- */

#define LOCK_TIMEOUT_DEFAULT 10
#define LOCK_TIMEOUT_MAX     3600
#define LOCK_POLL_US         20000

static unsigned lock_timeout(void)
{
    const char *s = getenv("KEYTRANSFER_LOCK_TIMEOUT");
    char *end;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9')
        return LOCK_TIMEOUT_DEFAULT;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > LOCK_TIMEOUT_MAX)
        return LOCK_TIMEOUT_DEFAULT;
    return (unsigned)v;
}

/* The pid of another process holding an flock on the file fd refers to, from /proc/locks (lines
 * "N: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<ino> 0 EOF"; waiters are marked "->"); 0 if none. */
static pid_t lock_holder(int fd)
{
    struct stat st;
    FILE *f;
    char line[256];
    pid_t found = 0;

    if (fstat(fd, &st) != 0 || (f = fopen("/proc/locks", "re")) == NULL)
        return 0;
    while (found == 0 && fgets(line, sizeof line, f) != NULL) {
        char kind[16], adv[16], mode[16];
        unsigned maj, min;
        unsigned long ino;
        long pid;

        if (strstr(line, "->") != NULL)
            continue;
        if (sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%lu", kind, adv, mode, &pid, &maj, &min,
                   &ino) != 7)
            continue;
        if (strcmp(kind, "FLOCK") != 0 || ino != (unsigned long)st.st_ino ||
            maj != major(st.st_dev) || min != minor(st.st_dev) || pid == (long)getpid())
            continue;
        found = (pid_t)pid;
    }
    fclose(f);
    return found;
}

/* The command line of pid, NULs as spaces, cut to fit out. */
static void command_of(pid_t pid, char *out, size_t outsz)
{
    char path[64];
    int fd;
    ssize_t n;

    out[0] = '\0';
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    n = read(fd, out, outsz - 1);
    close(fd);
    if (n <= 0) {
        out[0] = '\0';
        return;
    }
    while (n > 0 && out[n - 1] == '\0')
        n--;
    out[n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == '\0' || (unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            out[i] = out[i] == '\0' ? ' ' : '?';
}

kt_rc kt_flock_wait(int fd, bool exclusive, const char *what, kt_err *e)
{
    unsigned timeout = lock_timeout();
    unsigned long waited_us = 0;
    int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;

    for (;;) {
        if (flock(fd, op) == 0)
            return KT_OK;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return kt_fail_errno(e, KT_EIO, errno, "cannot lock %s", what);
        if (waited_us >= (unsigned long)timeout * 1000000ul)
            break;
        usleep(LOCK_POLL_US);
        waited_us += LOCK_POLL_US;
    }
    pid_t pid = lock_holder(fd);
    char cmd[200];
    if (pid > 0) {
        command_of(pid, cmd, sizeof cmd);
        return kt_fail(e, KT_EIO,
                       "%s is in use by another process (pid %ld: %s); waited %u s: try again "
                       "when it has finished",
                       what, (long)pid, cmd[0] ? cmd : "?", timeout);
    }
    return kt_fail(e, KT_EIO,
                   "%s is in use by another process; waited %u s: try again when it has finished",
                   what, timeout);
}
