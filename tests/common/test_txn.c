/*
 * test_txn.c - the commit protocol (common/txn.c) and the folder rules (kt_folder_open): a
 * change appears whole or not at all; a run killed before the commit point leaves only what the
 * next recovery removes, one killed after it what the next recovery completes; nothing is ever
 * published over a file that appeared meanwhile; links and folders others can write are refused.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"
#include "support/scratch.h"

/* Names in dir, sorted and joined with spaces (hidden ones too). */
static char *listing(const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    cr_assert(n >= 0, "scandir %s: %s", dir, strerror(errno));
    size_t cap = 1;
    for (int i = 0; i < n; i++)
        cap += strlen(list[i]->d_name) + 1;
    char *out = calloc(1, cap);
    cr_assert_not_null(out);
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
            if (out[0] != '\0')
                strcat(out, " ");
            strcat(out, list[i]->d_name);
        }
        free(list[i]);
    }
    free(list);
    return out;
}

static void listing_is(const char *dir, const char *want)
{
    char *have = listing(dir);
    cr_assert_str_eq(have, want, "%s holds '%s', not '%s'", dir, have, want);
    free(have);
}

static void file_is(const char *dir, const char *name, const char *want)
{
    char *p = ts_path(dir, name);
    size_t n;
    uint8_t *got = ts_read(p, &n);
    cr_assert_eq(n, strlen(want), "%s: %zu bytes", p, n);
    cr_assert_arr_eq(got, want, n);
    free(got);
    free(p);
}

/* What recovery reported, for the assertions. */
typedef struct seen {
    int completed, undone;
    char what[64];
} seen;

static void note(void *ctx, const char *what, bool completed, const char *line)
{
    seen *s = ctx;
    cr_assert_not_null(strstr(line, what), "%s", line);
    snprintf(s->what, sizeof s->what, "%s", what);
    if (completed)
        s->completed++;
    else
        s->undone++;
}

/* Two folders, a and b, in a fresh scratch folder. */
typedef struct fx {
    char *root, *a, *b;
    const char *dirs[2];
} fx;

static void fx_init(fx *f)
{
    f->root = ts_scratch();
    f->a = ts_path(f->root, "a");
    f->b = ts_path(f->root, "b");
    cr_assert_eq(mkdir(f->a, 0700), 0);
    cr_assert_eq(mkdir(f->b, 0700), 0);
    f->dirs[0] = f->a;
    f->dirs[1] = f->b;
}

static void fx_free(fx *f)
{
    free(f->a);
    free(f->b);
    ts_rmrf(f->root);
}

/* Stages x and y in a, z in b, and a folder d in a holding one file. */
static void stage_all(kt_txn *t)
{
    kt_err e;
    char staged[PATH_MAX];

    cr_assert_eq(kt_txn_put(t, 0, "x", "xx", 2, KT_TXN_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_txn_put(t, 0, "y", "yy", 2, KT_TXN_REPLACE, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_txn_put(t, 1, "z", "zz", 2, KT_TXN_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_txn_put_dir(t, 0, "d", staged, &e), KT_OK, "%s", e.msg);
    char *inner = ts_path(staged, "f");
    cr_assert_eq(kt_file_write(inner, "ff", 2, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    free(inner);
}

Test(txn, commit_publishes_everything_and_leaves_no_record)
{
    fx f;
    kt_txn *t;
    kt_err e;
    bool committed;

    fx_init(&f);
    char *old = ts_path(f.a, "y");
    ts_write(old, "old", 3);
    free(old);
    cr_assert_eq(kt_txn_begin(&t, "test change", f.dirs, 2, true, NULL, NULL, &e), KT_OK, "%s",
                 e.msg);
    stage_all(t);
    /* Before the commit point nothing has its final name. */
    file_is(f.a, "y", "old");
    char *x = ts_path(f.a, "x");
    cr_assert_not(kt_path_exists(x));
    cr_assert_eq(kt_txn_commit(t, &committed, &e), KT_OK, "%s", e.msg);
    cr_assert(committed);
    kt_txn_free(t);
    listing_is(f.a, "d x y");
    listing_is(f.b, "z");
    file_is(f.a, "x", "xx");
    file_is(f.a, "y", "yy");
    file_is(f.b, "z", "zz");
    char *d = ts_path(f.a, "d");
    file_is(d, "f", "ff");
    struct stat st;
    cr_assert_eq(stat(x, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600);
    cr_assert_eq(stat(d, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0700);
    free(d);
    free(x);
    fx_free(&f);
}

Test(txn, free_before_commit_undoes_everything)
{
    fx f;
    kt_txn *t;
    kt_err e;

    fx_init(&f);
    cr_assert_eq(kt_txn_begin(&t, "test change", f.dirs, 2, true, NULL, NULL, &e), KT_OK, "%s",
                 e.msg);
    stage_all(t);
    kt_txn_free(t);
    listing_is(f.a, "");
    listing_is(f.b, "");
    fx_free(&f);
}

/* A child stages the change and dies (as SIGKILL would) before the commit point. */
Test(txn, a_run_killed_before_its_commit_point_is_undone)
{
    fx f;
    kt_err e;
    seen s = {0};

    fx_init(&f);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        kt_txn *t;
        if (kt_txn_begin(&t, "test change", f.dirs, 2, true, NULL, NULL, &e) != KT_OK)
            _exit(1);
        stage_all(t);
        _exit(0); /* no commit, no free: what a kill leaves */
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *before = listing(f.a);
    cr_assert(strstr(before, ".kt-txn.") != NULL, "%s", before);
    free(before);
    cr_assert_eq(kt_txn_recover(f.a, note, &s, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(s.undone, 1);
    cr_assert_eq(s.completed, 0);
    cr_assert_str_eq(s.what, "test change");
    listing_is(f.a, "");
    listing_is(f.b, "");
    /* Nothing left: a second recovery has nothing to say. */
    cr_assert_eq(kt_txn_recover(f.a, note, &s, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(s.undone, 1);
    fx_free(&f);
}

/* Publishing stops after the commit point when a final name appeared meanwhile: the change
 * stands, its records stay, and recovery completes it once the obstacle is gone. */
Test(txn, a_change_stopped_after_its_commit_point_is_completed)
{
    fx f;
    kt_txn *t;
    kt_err e;
    bool committed;
    seen s = {0};

    fx_init(&f);
    cr_assert_eq(kt_txn_begin(&t, "test change", f.dirs, 2, true, NULL, NULL, &e), KT_OK, "%s",
                 e.msg);
    stage_all(t);
    char *z = ts_path(f.b, "z");
    ts_write(z, "intruder", 8);
    cr_assert_eq(kt_txn_commit(t, &committed, &e), KT_EEXIST);
    cr_assert(committed);
    cr_assert_not_null(strstr(e.msg, "committed"), "%s", e.msg);
    kt_txn_free(t); /* after the commit point: nothing is undone */
    file_is(f.a, "x", "xx");
    file_is(f.b, "z", "intruder"); /* never clobbered */
    /* The intruder stays while it is there: recovery refuses, keeping both. */
    cr_assert_eq(kt_txn_recover(f.a, note, &s, &e), KT_EEXIST);
    file_is(f.b, "z", "intruder");
    cr_assert_eq(unlink(z), 0);
    cr_assert_eq(kt_txn_recover(f.a, note, &s, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(s.completed, 1);
    listing_is(f.a, "d x y");
    listing_is(f.b, "z");
    file_is(f.b, "z", "zz");
    free(z);
    fx_free(&f);
}

Test(txn, removal_after_commit_wipes_and_unlinks)
{
    fx f;
    kt_txn *t;
    kt_err e;
    bool committed;

    fx_init(&f);
    char *secret = ts_path(f.a, "secret");
    ts_write(secret, "KM in the clear", 15);
    /* Keep a second name, to see the bytes overwritten after the unlink. */
    char *peek = ts_path(f.root, "peek");
    cr_assert_eq(link(secret, peek), 0);
    cr_assert_eq(kt_txn_begin(&t, "test change", f.dirs, 1, true, NULL, NULL, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_eq(kt_txn_put(t, 0, "new", "n", 1, KT_TXN_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_txn_remove(t, 0, "secret", true, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_txn_remove(t, 0, "absent", false, &e), KT_OK, "%s", e.msg);
    /* Not before the commit point. */
    cr_assert(kt_path_exists(secret));
    cr_assert_eq(kt_txn_commit(t, &committed, &e), KT_OK, "%s", e.msg);
    kt_txn_free(t);
    cr_assert_not(kt_path_exists(secret));
    size_t n;
    uint8_t *got = ts_read(peek, &n);
    cr_assert_eq(n, 15);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], 0, "byte %zu not wiped", i);
    free(got);
    listing_is(f.a, "new");
    free(secret);
    free(peek);
    fx_free(&f);
}

Test(txn, refusals_before_anything_is_written)
{
    fx f;
    kt_txn *t;
    kt_err e;
    char staged[PATH_MAX];

    fx_init(&f);
    char *x = ts_path(f.a, "x"), *full = ts_path(f.a, "full"), *in = ts_path(full, "i");
    ts_write(x, "x", 1);
    cr_assert_eq(mkdir(full, 0700), 0);
    ts_write(in, "i", 1);
    cr_assert_eq(kt_txn_begin(&t, "test change", f.dirs, 2, true, NULL, NULL, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_eq(kt_txn_put(t, 0, "x", "y", 1, KT_TXN_NEW, &e), KT_EEXIST);
    cr_assert_eq(kt_txn_put(t, 0, "full", "y", 1, KT_TXN_REPLACE, &e), KT_EIO);
    cr_assert_eq(kt_txn_put(t, 0, "../x", "y", 1, KT_TXN_NEW, &e), KT_EUSAGE);
    cr_assert_eq(kt_txn_put(t, 5, "q", "y", 1, KT_TXN_NEW, &e), KT_EUSAGE);
    cr_assert_eq(kt_txn_put_dir(t, 0, "full", staged, &e), KT_EEXIST);
    cr_assert_not_null(strstr(e.msg, "not empty"), "%s", e.msg);
    cr_assert_eq(kt_txn_put_dir(t, 0, "x", staged, &e), KT_EEXIST);
    cr_assert_eq(kt_txn_put(t, 1, "q", "y", 1, KT_TXN_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_txn_put(t, 1, "q", "y", 1, KT_TXN_NEW, &e), KT_EUSAGE);
    kt_txn_free(t);
    listing_is(f.a, "full x");
    listing_is(f.b, "");
    free(x);
    free(in);
    free(full);
    fx_free(&f);
}

/* Recovery acts on its own records only: a record another user left in a shared folder, or a
 * damaged commit record, is not acted upon (the first skipped, the second refused by name). */
Test(txn, damaged_commit_record_is_refused_not_guessed)
{
    fx f;
    kt_err e;

    fx_init(&f);
    char *rec = ts_path(f.a, ".kt-txn.0123456789abcdef.commit");
    ts_write(rec, "KTXCOMIT\x00\x01garbage", 17);
    kt_rc rrc = kt_txn_recover(f.a, NULL, NULL, &e);
    cr_assert_eq(rrc, KT_EFORMAT, "%s: %s", kt_rc_name(rrc), e.msg);
    cr_assert_not_null(strstr(e.msg, ".kt-txn.0123456789abcdef.commit"), "%s", e.msg);
    cr_assert(kt_path_exists(rec));
    if (geteuid() == 0) {
        cr_assert_eq(chown(rec, 65534, 65534), 0);
        cr_assert_eq(kt_txn_recover(f.a, NULL, NULL, &e), KT_OK, "%s", e.msg);
        cr_assert(kt_path_exists(rec));
    }
    free(rec);
    fx_free(&f);
}

/* A change's folders are locked for its life: a second change over the same folder waits, and
 * with no time to wait fails naming the holder. */
Test(txn, a_live_change_locks_its_folders)
{
    fx f;
    kt_txn *t, *u;
    kt_err e;

    fx_init(&f);
    cr_assert_eq(kt_txn_begin(&t, "first", f.dirs, 1, true, NULL, NULL, &e), KT_OK, "%s", e.msg);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setenv("KEYTRANSFER_LOCK_TIMEOUT", "0", 1);
        kt_rc rc = kt_txn_begin(&u, "second", f.dirs, 1, true, NULL, NULL, &e);
        _exit(rc == KT_EIO && strstr(e.msg, "in use by another process") != NULL ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the second change got the lock");
    kt_txn_free(t);
    fx_free(&f);
}

/* ---- kt_folder_open ----------------------------------------------------------------------- */

Test(folder, links_are_refused_however_named)
{
    char *root = ts_scratch(), *real = ts_path(root, "real"), *link = ts_path(root, "link");
    char path[PATH_MAX];
    kt_err e;
    int fd;

    cr_assert_eq(mkdir(real, 0700), 0);
    cr_assert_eq(symlink(real, link), 0);
    const char *suffixes[] = {"", "/", "/.", "/./", "//."};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "%s%s", link, suffixes[i]);
        cr_assert_eq(kt_folder_open(path, 0, &fd, &e), KT_EIO, "%s opened", path);
        cr_assert_not_null(strstr(e.msg, "symbolic link"), "%s", e.msg);
        /* The careful writer holds to the same rule. */
        snprintf(path, sizeof path, "%s%s/f", link, suffixes[i]);
        cr_assert_neq(kt_file_write(path, "x", 1, KT_WRITE_NEW, &e), KT_OK, "%s written", path);
    }
    char *through = ts_path(real, "f");
    cr_assert_not(kt_path_exists(through), "written through the link");
    snprintf(path, sizeof path, "%s/.", real);
    cr_assert_eq(kt_folder_open(path, KT_FOLDER_PRIVATE, &fd, &e), KT_OK, "%s", e.msg);
    close(fd);
    free(through);
    free(real);
    free(link);
    ts_rmrf(root);
}

Test(folder, private_folders_refuse_other_writers)
{
    char *root = ts_scratch(), *open_dir = ts_path(root, "open"), *in = ts_path(open_dir, "in");
    kt_err e;
    int fd;

    cr_assert_eq(mkdir(open_dir, 0700), 0);
    cr_assert_eq(mkdir(in, 0700), 0);
    cr_assert_eq(kt_folder_open(open_dir, KT_FOLDER_PRIVATE, &fd, &e), KT_OK, "%s", e.msg);
    close(fd);
    cr_assert_eq(chmod(open_dir, 0770), 0);
    cr_assert_eq(kt_folder_open(open_dir, KT_FOLDER_PRIVATE, &fd, &e), KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, "written by other users"), "%s", e.msg);
    /* Without the rule the folder opens; a folder inside one others can change does not. */
    cr_assert_eq(kt_folder_open(open_dir, 0, &fd, &e), KT_OK, "%s", e.msg);
    close(fd);
    cr_assert_eq(kt_folder_open(in, KT_FOLDER_PRIVATE, &fd, &e), KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, "could swap it"), "%s", e.msg);
    /* A sticky folder (as /tmp) is a safe parent. */
    cr_assert_eq(chmod(open_dir, 01777), 0);
    cr_assert_eq(kt_folder_open(in, KT_FOLDER_PRIVATE, &fd, &e), KT_OK, "%s", e.msg);
    close(fd);
    if (geteuid() == 0) {
        cr_assert_eq(chown(in, 65534, 65534), 0);
        cr_assert_eq(kt_folder_open(in, KT_FOLDER_PRIVATE, &fd, &e), KT_EDENIED);
        cr_assert_not_null(strstr(e.msg, "owned by another user"), "%s", e.msg);
    }
    cr_assert_eq(chmod(open_dir, 0700), 0);
    free(in);
    free(open_dir);
    ts_rmrf(root);
}
