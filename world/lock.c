/*
 * lock.c - the world lock: one flock on <kmdata>/local/lock that every command touching the world
 * takes (shared to read, exclusive to write), so that `key generate` cannot write a key for a
 * world that `world new --force` is replacing, nor `package` read a module that `module erase` is
 * destroying. Taking it also checks that the world's folders are private and completes or undoes
 * what an interrupted change left behind (kt_txn_recover), so every command sees a whole world.
 */
#include "world.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME "lock"

/* Opens dir with KT_FOLDER_PRIVATE and closes it again: only the check is wanted. A folder
 * that does not exist passes when missing_ok. */
static kt_rc check_private(const char *dir, bool missing_ok, kt_err *e)
{
    int fd;
    kt_rc rc = kt_folder_open(dir, KT_FOLDER_PRIVATE, &fd, e);

    if (rc == KT_ENOENT && missing_ok) {
        kt_err_clear(e);
        return KT_OK;
    }
    if (rc == KT_OK)
        close(fd);
    return rc;
}

kt_rc world_lock_acquire(const world_paths *p, bool exclusive, bool create, kt_txn_report_fn report,
                         void *ctx, world_lock *l, kt_err *e)
{
    char what[PATH_MAX + 32];
    int dfd = -1;
    kt_rc rc;

    l->fd = -1;
    if (create && ((rc = kt_dir_ensure(p->kmdata, e)) || (rc = kt_dir_ensure(p->local, e)) ||
                   (rc = kt_dir_ensure(p->cards, e))))
        return rc;
    if ((rc = check_private(p->kmdata, !create, e)) != KT_OK ||
        (rc = check_private(p->cards, true, e)) != KT_OK)
        return rc;
    rc = kt_folder_open(p->local, KT_FOLDER_PRIVATE, &dfd, e);
    if (rc == KT_ENOENT && !create) {
        kt_err_clear(e);
        return KT_OK; /* no world here; the command says so */
    }
    if (rc != KT_OK)
        return rc;
    l->fd = openat(dfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (l->fd < 0) {
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot open the world lock %s/" LOCK_NAME, p->local);
        close(dfd);
        return rc;
    }
    close(dfd);
    struct stat st;
    if (fstat(l->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        world_lock_release(l);
        return kt_fail(e, KT_EIO, "%s/" LOCK_NAME " is not a regular file", p->local);
    }
    snprintf(what, sizeof what, "the security world in %s", p->kmdata);
    if ((rc = kt_flock_wait(l->fd, exclusive, what, e)) != KT_OK ||
        (rc = kt_txn_recover(p->local, report, ctx, e)) != KT_OK) {
        world_lock_release(l);
        return rc;
    }
    return KT_OK;
}

void world_lock_release(world_lock *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
