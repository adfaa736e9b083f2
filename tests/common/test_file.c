/*
 * test_file.c - the careful writer and reader: creation 0600, no clobbering without
 * KT_WRITE_REPLACE, symlinks refused, nothing left behind on success or failure, leftovers of a
 * crashed write removed, non-regular and oversized files refused; and the crash test: writers
 * SIGKILLed at random instants leave the old file or the new one, whole, and no temp file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "helpers.h"
#include "kt.h"

static char *dir;

static void setup(void)
{
    dir = ts_scratch();
}

static void teardown(void)
{
    ts_rmrf(dir);
    dir = NULL;
}

TestSuite(file, .init = setup, .fini = teardown);

static void assert_content(const char *path, const void *want, size_t n)
{
    kt_buf b = {NULL, 0};
    kt_err e;

    cr_assert_eq(kt_file_read(path, n + 1, &b, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(b.len, n);
    cr_assert(n == 0 || memcmp(b.p, want, n) == 0, "content of %s differs", path);
    kt_buf_free(&b);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    cr_assert_eq(lstat(path, &st), 0);
    return st.st_mode;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                      */
/* ------------------------------------------------------------------------------------------ */

Test(file, write_new_creates_a_0600_file_with_the_exact_content)
{
    char *p = ts_path(dir, "world");
    kt_err e;

    cr_assert_eq(kt_file_write(p, "hello", 5, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert(S_ISREG(mode_of(p)));
    cr_assert_eq(mode_of(p) & 07777, 0600);
    assert_content(p, "hello", 5);
    cr_assert_eq(stray_entries(dir, "world"), 0);
    free(p);
}

Test(file, write_new_refuses_an_existing_file_and_keeps_it)
{
    char *p = ts_path(dir, "world");
    kt_err e;

    cr_assert_eq(kt_file_write(p, "old", 3, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_file_write(p, "new!", 4, KT_WRITE_NEW, &e), KT_EEXIST);
    cr_assert(strstr(e.msg, p) != NULL, "the message names the path: %s", e.msg);
    cr_assert(strstr(e.msg, "refusing to overwrite") != NULL, "%s", e.msg);
    assert_content(p, "old", 3);
    cr_assert_eq(stray_entries(dir, "world"), 0);
    free(p);
}

Test(file, write_replace_replaces_an_existing_file)
{
    char *p = ts_path(dir, "world");
    kt_err e;

    cr_assert_eq(kt_file_write(p, "old", 3, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_file_write(p, "brand new", 9, KT_WRITE_REPLACE, &e), KT_OK, "%s", e.msg);
    assert_content(p, "brand new", 9);
    cr_assert_eq(mode_of(p) & 07777, 0600);
    cr_assert_eq(stray_entries(dir, "world"), 0);
    free(p);
}

Test(file, write_replace_creates_a_missing_file)
{
    char *p = ts_path(dir, "fresh");
    kt_err e;

    cr_assert_eq(kt_file_write(p, "x", 1, KT_WRITE_REPLACE, &e), KT_OK, "%s", e.msg);
    assert_content(p, "x", 1);
    cr_assert_eq(stray_entries(dir, "fresh"), 0);
    free(p);
}

Test(file, write_of_nothing_makes_an_empty_file)
{
    char *p = ts_path(dir, "empty");
    kt_err e;

    cr_assert_eq(kt_file_write(p, NULL, 0, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    assert_content(p, "", 0);
    free(p);
}

Test(file, write_relative_path_in_the_current_folder)
{
    kt_err e;

    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(kt_file_write("rel", "r", 1, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    assert_content("rel", "r", 1);
    cr_assert_eq(stray_entries(".", "rel"), 0);
}

Test(file, write_through_a_symlink_is_refused_and_its_target_untouched)
{
    char *victim = ts_path(dir, "victim");
    char *link = ts_path(dir, "link");
    kt_err e;

    ts_write(victim, "precious", 8);
    cr_assert_eq(symlink("victim", link), 0);
    for (unsigned flags = KT_WRITE_NEW; flags <= KT_WRITE_REPLACE; flags++) {
        cr_assert_neq(kt_file_write(link, "evil", 4, flags, &e), KT_OK);
        cr_assert(strstr(e.msg, "symbolic link") != NULL, "%s", e.msg);
        assert_content(victim, "precious", 8);
        cr_assert(S_ISLNK(mode_of(link)), "the link itself stays");
    }
    cr_assert_eq(stray_entries(dir, "victim"), 1, "only the link besides the victim");
    free(victim);
    free(link);
}

Test(file, write_through_a_dangling_symlink_creates_nothing)
{
    char *link = ts_path(dir, "link");
    char *target = ts_path(dir, "target");
    kt_err e;

    cr_assert_eq(symlink("target", link), 0);
    for (unsigned flags = KT_WRITE_NEW; flags <= KT_WRITE_REPLACE; flags++) {
        cr_assert_neq(kt_file_write(link, "evil", 4, flags, &e), KT_OK);
        cr_assert_not(kt_path_exists(target), "the link's target was created");
    }
    cr_assert_eq(stray_entries(dir, "link"), 0);
    free(link);
    free(target);
}

Test(file, write_into_a_missing_folder_is_enoent)
{
    char *p = ts_path(dir, "no/such/folder/file");
    kt_err e;

    cr_assert_eq(kt_file_write(p, "x", 1, KT_WRITE_NEW, &e), KT_ENOENT);
    cr_assert(strstr(e.msg, p) != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, "does not exist") != NULL, "%s", e.msg);
    cr_assert_eq(stray_entries(dir, NULL), 0);
    free(p);
}

Test(file, write_through_a_symlinked_folder_is_refused)
{
    char *real = ts_path(dir, "real");
    char *alias = ts_path(dir, "alias");
    char *p = ts_path(dir, "alias/file");
    char *q = ts_path(dir, "real/file");
    kt_err e;

    cr_assert_eq(mkdir(real, 0700), 0);
    cr_assert_eq(symlink("real", alias), 0);
    cr_assert_eq(kt_file_write(p, "x", 1, KT_WRITE_NEW, &e), KT_EIO);
    cr_assert(strstr(e.msg, "symbolic link") != NULL, "%s", e.msg);
    cr_assert_not(kt_path_exists(q));
    /* Its twin: the real folder is fine. */
    cr_assert_eq(kt_file_write(q, "x", 1, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    free(real);
    free(alias);
    free(p);
    free(q);
}

Test(file, write_to_a_path_that_names_no_file_is_usage)
{
    static const char *const bad[] = {"", "/", "somedir/", ".", "..", "a/.", "a/.."};
    char *toolong;
    char name[300];
    kt_err e;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(kt_file_write(bad[i], "x", 1, KT_WRITE_NEW, &e), KT_EUSAGE, "'%s'", bad[i]);
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    toolong = ts_path(dir, name);
    cr_assert_eq(kt_file_write(toolong, "x", 1, KT_WRITE_NEW, &e), KT_EUSAGE);
    free(toolong);
    cr_assert_eq(kt_file_write(dir, "x", 1, KT_WRITE_NEW, &e), KT_EEXIST, "a folder exists");
    cr_assert_eq(kt_file_write(dir, "x", 1, 0x80, &e), KT_EUSAGE, "unknown flag");
}

Test(file, replace_refuses_to_replace_a_folder)
{
    char *sub = ts_path(dir, "sub");
    kt_err e;

    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_assert_eq(kt_file_write(sub, "x", 1, KT_WRITE_REPLACE, &e), KT_EIO);
    cr_assert(S_ISDIR(mode_of(sub)));
    cr_assert_eq(stray_entries(dir, "sub"), 0);
    free(sub);
}

Test(file, leftovers_of_a_crashed_write_are_removed_and_only_those)
{
    static const char *const ours[] = {".world.kt-tmp"};
    static const char *const others[] = {".world.kt-tmp.0123456789abcdef",
                                         ".world.kt-tmpx",
                                         ".other.kt-tmp",
                                         "world.kt-tmp",
                                         ".world.kt-tm",
                                         "..world.kt-tmp"};
    char *p = ts_path(dir, "world");
    kt_err e;

    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        char *q = ts_path(dir, ours[i]);

        ts_write(q, "partial", 7);
        free(q);
    }
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        char *q = ts_path(dir, others[i]);

        ts_write(q, "keep me", 7);
        free(q);
    }
    cr_assert_eq(kt_file_write(p, "whole", 5, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        char *q = ts_path(dir, ours[i]);

        cr_assert_not(kt_path_exists(q), "%s was left", ours[i]);
        free(q);
    }
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        char *q = ts_path(dir, others[i]);

        assert_content(q, "keep me", 7);
        free(q);
    }
    assert_content(p, "whole", 5);
    free(p);
}

/* A write that fails half-way (file size limit) keeps the old content and leaves no temp. */
Test(file, write_failing_midway_leaves_the_old_file_and_no_temp)
{
    static uint8_t big[64 * 1024];
    char *p = ts_path(dir, "world");
    kt_err e;
    pid_t pid;
    int status;

    ts_write(p, "old", 3);
    memset(big, 'B', sizeof big);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct rlimit small = {4096, 4096};

        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &small) != 0)
            _exit(100);
        for (unsigned flags = KT_WRITE_NEW; flags <= KT_WRITE_REPLACE; flags++) {
            kt_rc rc = kt_file_write(p, big, sizeof big, flags, &e);

            if (rc == KT_OK)
                _exit(101);
            if (flags == KT_WRITE_REPLACE &&
                (rc != KT_EIO || strstr(e.msg, "File too large") == NULL))
                _exit(102);
        }
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    assert_content(p, "old", 3);
    cr_assert_eq(stray_entries(dir, "world"), 0);
    free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                      */
/* ------------------------------------------------------------------------------------------ */

Test(file, read_gives_a_regular_file_whole)
{
    char *p = ts_path(dir, "data");
    kt_buf b = {NULL, 0};
    kt_err e;

    ts_write(p, "0123456789", 10);
    cr_assert_eq(kt_file_read(p, 10, &b, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(b.len, 10);
    cr_assert_eq(memcmp(b.p, "0123456789", 10), 0);
    kt_buf_free(&b);
    cr_assert_null(b.p);
    free(p);
}

Test(file, read_refuses_a_file_over_the_cap)
{
    char *p = ts_path(dir, "data");
    kt_buf b = {NULL, 0};
    kt_err e;

    ts_write(p, "0123456789", 10);
    cr_assert_eq(kt_file_read(p, 9, &b, &e), KT_ETOOBIG);
    cr_assert_null(b.p);
    cr_assert(strstr(e.msg, "limit is 9 bytes") != NULL, "%s", e.msg);
    free(p);
}

Test(file, read_of_an_empty_file_is_empty)
{
    char *p = ts_path(dir, "empty");
    kt_buf b = {NULL, 0};
    kt_err e;

    ts_write(p, "", 0);
    cr_assert_eq(kt_file_read(p, 0, &b, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(b.len, 0);
    kt_buf_free(&b);
    free(p);
}

Test(file, read_of_a_missing_file_is_enoent)
{
    char *p = ts_path(dir, "missing");
    kt_buf b = {NULL, 0};
    kt_err e;

    cr_assert_eq(kt_file_read(p, 100, &b, &e), KT_ENOENT);
    cr_assert(strstr(e.msg, p) != NULL, "%s", e.msg);
    free(p);
}

Test(file, read_refuses_a_symlink)
{
    char *real = ts_path(dir, "real");
    char *link = ts_path(dir, "link");
    kt_buf b = {NULL, 0};
    kt_err e;

    ts_write(real, "data", 4);
    cr_assert_eq(symlink("real", link), 0);
    cr_assert_eq(kt_file_read(link, 100, &b, &e), KT_EIO);
    cr_assert(strstr(e.msg, "symbolic link") != NULL, "%s", e.msg);
    cr_assert_null(b.p);
    free(real);
    free(link);
}

Test(file, read_refuses_a_fifo_without_blocking)
{
    char *p = ts_path(dir, "fifo");
    kt_buf b = {NULL, 0};
    kt_err e;

    cr_assert_eq(mkfifo(p, 0600), 0);
    cr_assert_eq(kt_file_read(p, 100, &b, &e), KT_EIO);
    cr_assert(strstr(e.msg, "not a regular file") != NULL, "%s", e.msg);
    free(p);
}

Test(file, read_refuses_a_folder_and_a_device)
{
    kt_buf b = {NULL, 0};
    kt_err e;

    cr_assert_eq(kt_file_read(dir, 100, &b, &e), KT_EIO);
    cr_assert(strstr(e.msg, "not a regular file") != NULL, "%s", e.msg);
    cr_assert_eq(kt_file_read("/dev/null", 100, &b, &e), KT_EIO);
    cr_assert(strstr(e.msg, "not a regular file") != NULL, "%s", e.msg);
}

Test(file, read_secret_gives_secure_memory_and_honours_the_cap)
{
    char *p = ts_path(dir, "pins");
    kt_secbuf s = {NULL, 0};
    kt_err e;

    ts_write(p, "12345678\n", 9);
    cr_assert_eq(kt_file_read_secret(p, 9, &s, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(s.len, 9);
    cr_assert_eq(memcmp(s.p, "12345678\n", 9), 0);
    kt_secbuf_free(&s);
    cr_assert_null(s.p);
    cr_assert_eq(kt_file_read_secret(p, 8, &s, &e), KT_ETOOBIG);
    cr_assert_null(s.p);
    free(p);
}

Test(file, read_of_a_larger_file_grows_correctly)
{
    static uint8_t data[300000];
    char *p = ts_path(dir, "big");

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    ts_write(p, data, sizeof data);
    assert_content(p, data, sizeof data);
    free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* Remove, folders, existence                                                                  */
/* ------------------------------------------------------------------------------------------ */

Test(file, remove_deletes_a_file_and_reports_a_missing_one)
{
    char *p = ts_path(dir, "gone");
    kt_err e;

    ts_write(p, "x", 1);
    cr_assert_eq(kt_file_remove(p, &e), KT_OK, "%s", e.msg);
    cr_assert_not(kt_path_exists(p));
    cr_assert_eq(kt_file_remove(p, &e), KT_ENOENT);
    free(p);
}

Test(file, dir_ensure_creates_missing_parents_0700)
{
    char *deep = ts_path(dir, "a/b/c");
    char *mid = ts_path(dir, "a/b");
    char *slashed = ts_path(dir, "x//y/");
    kt_err e;

    cr_assert_eq(kt_dir_ensure(deep, &e), KT_OK, "%s", e.msg);
    cr_assert(S_ISDIR(mode_of(deep)));
    cr_assert_eq(mode_of(deep) & 0777, 0700);
    cr_assert_eq(mode_of(mid) & 0777, 0700);
    cr_assert_eq(kt_dir_ensure(deep, &e), KT_OK, "an existing folder is accepted: %s", e.msg);
    cr_assert_eq(kt_dir_ensure(slashed, &e), KT_OK, "%s", e.msg);
    free(deep);
    free(mid);
    free(slashed);
}

Test(file, dir_ensure_refuses_a_file_on_the_way)
{
    char *file = ts_path(dir, "file");
    char *under = ts_path(dir, "file/sub");
    kt_err e;

    ts_write(file, "x", 1);
    cr_assert_eq(kt_dir_ensure(file, &e), KT_EIO);
    cr_assert(strstr(e.msg, "not a folder") != NULL, "%s", e.msg);
    cr_assert_eq(kt_dir_ensure(under, &e), KT_EIO);
    cr_assert_eq(kt_dir_ensure("", &e), KT_EUSAGE);
    free(file);
    free(under);
}

Test(file, path_exists_sees_files_and_links_not_followed)
{
    char *p = ts_path(dir, "here");
    char *dangling = ts_path(dir, "dangling");
    char *absent = ts_path(dir, "absent");

    ts_write(p, "x", 1);
    cr_assert_eq(symlink("nowhere", dangling), 0);
    cr_assert(kt_path_exists(p));
    cr_assert(kt_path_exists(dangling));
    cr_assert(kt_path_exists(dir));
    cr_assert_not(kt_path_exists(absent));
    free(p);
    free(dangling);
    free(absent);
}

/* ------------------------------------------------------------------------------------------ */
/* The crash test                                                                              */
/* ------------------------------------------------------------------------------------------ */

#define CRASH_TRIALS 200
#define CRASH_SIZE   (1024 * 1024)
#define CRASH_RUNS   7 /* unkilled runs that measure how long a write takes */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A writer child; it writes one byte to *done (a pipe) when kt_file_write has returned. */
static pid_t spawn_writer(const char *path, const uint8_t *data, unsigned flags, int *done)
{
    int fds[2];
    pid_t pid;

    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        kt_err e;
        char ok;

        close(fds[0]);
        ok = kt_file_write(path, data, CRASH_SIZE, flags, &e) == KT_OK ? 'y' : 'n';
        _exit(write(fds[1], &ok, 1) == 1 && ok == 'y' ? 0 : 1);
    }
    close(fds[1]);
    *done = fds[0];
    return pid;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Puts the target back in its "old" state: absent for KT_WRITE_NEW, old content otherwise. */
static void reset_target(const char *path, const uint8_t *old, unsigned flags)
{
    kt_err e;

    if (flags == KT_WRITE_NEW) {
        if (kt_path_exists(path))
            cr_assert_eq(kt_file_remove(path, &e), KT_OK, "%s", e.msg);
    } else {
        cr_assert_eq(kt_file_write(path, old, CRASH_SIZE, KT_WRITE_REPLACE, &e), KT_OK, "%s",
                     e.msg);
    }
}

/* Median time from the fork to the child's kt_file_write returning (not to its exit, which
 * under the sanitizers takes longer than the write and would waste most kills). */
static uint64_t typical_write_ns(const char *path, const uint8_t *old, const uint8_t *new,
                                 unsigned flags)
{
    uint64_t t[CRASH_RUNS];
    int status, done;
    char ok;

    for (int i = 0; i < CRASH_RUNS; i++) {
        uint64_t start;
        pid_t pid;

        reset_target(path, old, flags);
        start = now_ns();
        pid = spawn_writer(path, new, flags, &done);
        cr_assert_eq(read(done, &ok, 1), 1);
        t[i] = now_ns() - start;
        close(done);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "an unkilled write failed");
    }
    qsort(t, CRASH_RUNS, sizeof t[0], cmp_u64);
    return t[CRASH_RUNS / 2];
}

/*
 * With O_TMPFILE a KT_WRITE_NEW never names anything before the final link. A KT_WRITE_REPLACE
 * names the finished file with a temp name and renames it over the target; both steps run in a
 * child process of the writer that blocks signals and leaves its process group, so a SIGKILL of
 * the writer between them cannot strand the temp name. The test reaps that orphaned child as
 * init would (it is the subreaper) before it looks: after every kill the folder must hold the
 * target alone. Any leftover fails the test.
 *
 * Without O_TMPFILE (fallback) the named temp lives through the whole write, so a leftover is
 * expected there; it must hold a prefix of the new content and the next write must remove it.
 */

static void assert_leftover(const char *target, const uint8_t *new, unsigned flags, bool fallback,
                            int trial)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char prefix[64];
    size_t n = 0, plen;

    cr_assert(fallback || flags == KT_WRITE_REPLACE, "trial %d: a leftover after KT_WRITE_NEW",
              trial);
    snprintf(prefix, sizeof prefix, ".%s.kt-tmp", target);
    plen = strlen(prefix);
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL) {
        char *p;
        struct stat st;
        kt_buf b = {NULL, 0};
        kt_err e;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, target) == 0)
            continue;
        n++;
        cr_assert(strncmp(de->d_name, prefix, plen) == 0 && strlen(de->d_name) == plen,
                  "trial %d: unexpected leftover '%s'", trial, de->d_name);
        p = ts_path(dir, de->d_name);
        cr_assert_eq(lstat(p, &st), 0);
        cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
        cr_assert_eq(kt_file_read(p, CRASH_SIZE, &b, &e), KT_OK, "%s", e.msg);
        if (fallback)
            cr_assert(b.len == 0 || memcmp(b.p, new, b.len) == 0,
                      "trial %d: the leftover is not a prefix of the new file", trial);
        else
            cr_assert(b.len == CRASH_SIZE && memcmp(b.p, new, CRASH_SIZE) == 0,
                      "trial %d: the leftover is not the whole new file", trial);
        kt_buf_free(&b);
        free(p);
    }
    closedir(d);
    cr_assert_eq(n, 1, "trial %d: %zu leftovers", trial, n);
}

static void crash_test(unsigned flags, bool fallback)
{
    static uint8_t old[CRASH_SIZE], new[CRASH_SIZE];
    const char *name = "target";
    char *path = ts_path(dir, name);
    unsigned outcome_old = 0, outcome_new = 0, leftovers = 0;
    uint64_t typical, spread;
    kt_buf b = {NULL, 0};
    kt_err e;

    memset(old, 'A', sizeof old);
    memset(new, 'B', sizeof new);
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    typical = typical_write_ns(path, old, new, flags);
    /* Kills spread from the fork to a little beyond a whole write, so they land everywhere. */
    spread = typical + typical / 4;

    for (int trial = 0; trial < CRASH_TRIALS; trial++) {
        uint32_t r;
        uint64_t delay;
        struct timespec ts;
        pid_t pid;
        int status, done;

        reset_target(path, old, flags);
        kt_random(&r, sizeof r);
        delay = spread * r / UINT32_MAX;
        ts.tv_sec = (time_t)(delay / 1000000000u);
        ts.tv_nsec = (long)(delay % 1000000000u);

        pid = spawn_writer(path, new, flags, &done);
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        /* An orphaned publishing child finishes its rename; wait for it as init would. */
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
            ;
        close(done);
        cr_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "trial %d: the writer failed on its own (status %d)", trial, status);

        if (flags == KT_WRITE_NEW && !kt_path_exists(path)) {
            outcome_old++;
        } else {
            cr_assert_eq(kt_file_read(path, CRASH_SIZE, &b, &e), KT_OK, "trial %d: %s", trial,
                         e.msg);
            cr_assert_eq(b.len, (size_t)CRASH_SIZE, "trial %d: %zu bytes, a torn file", trial,
                         b.len);
            if (memcmp(b.p, new, CRASH_SIZE) == 0)
                outcome_new++;
            else if (flags == KT_WRITE_REPLACE && memcmp(b.p, old, CRASH_SIZE) == 0)
                outcome_old++;
            else
                cr_assert_fail("trial %d: the file is neither the old nor the new content", trial);
            kt_buf_free(&b);
        }

        if (stray_entries(dir, name) > 0) {
            leftovers++;
            cr_expect(fallback, "trial %d: a temp file was left after the kill", trial);
            assert_leftover(name, new, flags, fallback, trial);
            reset_target(path, old, KT_WRITE_REPLACE);
            cr_assert_eq(stray_entries(dir, name), 0, "trial %d: the next write left it", trial);
        }
    }
    cr_log_info("crash test (%s%s): %d trials of %d KiB, write takes %.2f ms, kills spread over "
                "%.2f ms; %s %u, new %u; leftover temp files %u",
                flags == KT_WRITE_NEW ? "KT_WRITE_NEW" : "KT_WRITE_REPLACE",
                fallback ? ", named-temp fallback" : "", CRASH_TRIALS, CRASH_SIZE / 1024,
                (double)typical / 1e6, (double)spread / 1e6,
                flags == KT_WRITE_NEW ? "absent" : "old", outcome_old, outcome_new, leftovers);
    cr_assert_gt(outcome_old, 0, "no kill landed before the publish");
    cr_assert_gt(outcome_new, 0, "no kill landed after the publish");
    if (fallback)
        cr_assert_gt(leftovers, 0, "the named-temp fallback was not used");
    else
        cr_assert_eq(leftovers, 0);
    free(path);
}

Test(file, crash_during_replace_leaves_old_or_new_and_no_temp, .timeout = 240)
{
    crash_test(KT_WRITE_REPLACE, false);
}

Test(file, crash_during_create_leaves_nothing_or_the_whole_file, .timeout = 240)
{
    crash_test(KT_WRITE_NEW, false);
}

/* ------------------------------------------------------------------------------------------ */
/* The named-temp fallback (file systems without O_TMPFILE, or no /proc)                       */
/* ------------------------------------------------------------------------------------------ */

/* Hides /proc from this test's process (a private mount namespace), which makes the writer take
 * its named-temp fallback. Needs CAP_SYS_ADMIN; the tests skip, visibly, without it. */
static bool proc_hidden;

static void hide_proc_or_skip(void)
{
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("none", "/proc", "tmpfs", 0, NULL) != 0)
        cr_skip_test("cannot hide /proc (needs CAP_SYS_ADMIN); the fallback is not tested");
    proc_hidden = true;
    cr_assert_not(kt_path_exists("/proc/self/fd"));
}

/* Shows /proc again: the leak checker reads it when the test process exits. */
static void show_proc(void)
{
    if (proc_hidden)
        umount2("/proc", MNT_DETACH);
    proc_hidden = false;
}

Test(file, fallback_writes_refuses_and_replaces_like_the_main_path, .fini = show_proc)
{
    char *p, *link, *victim;
    kt_err e;

    hide_proc_or_skip();
    p = ts_path(dir, "world");
    cr_assert_eq(kt_file_write(p, "old", 3, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(mode_of(p) & 07777, 0600);
    assert_content(p, "old", 3);
    cr_assert_eq(kt_file_write(p, "new!", 4, KT_WRITE_NEW, &e), KT_EEXIST);
    assert_content(p, "old", 3);
    cr_assert_eq(stray_entries(dir, "world"), 0, "a refused write left its temp");
    cr_assert_eq(kt_file_write(p, "brand new", 9, KT_WRITE_REPLACE, &e), KT_OK, "%s", e.msg);
    assert_content(p, "brand new", 9);
    cr_assert_eq(stray_entries(dir, "world"), 0);

    victim = ts_path(dir, "victim");
    link = ts_path(dir, "link");
    ts_write(victim, "precious", 8);
    cr_assert_eq(symlink("victim", link), 0);
    cr_assert_eq(kt_file_write(link, "evil", 4, KT_WRITE_REPLACE, &e), KT_EIO);
    assert_content(victim, "precious", 8);
    free(p);
    free(link);
    free(victim);
}

Test(file, fallback_crash_leaves_old_or_new_and_a_temp_the_next_write_removes, .timeout = 240,
     .fini = show_proc)
{
    hide_proc_or_skip();
    crash_test(KT_WRITE_REPLACE, true);
}

Test(file, fallback_crash_during_create_leaves_nothing_or_the_whole_file, .timeout = 240,
     .fini = show_proc)
{
    hide_proc_or_skip();
    crash_test(KT_WRITE_NEW, true);
}
