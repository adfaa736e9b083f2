/*
 * test_pin.c - PIN sources: a PIN file gives its lines in order and then says how many it had;
 * CRLF is stripped; empty, too long and (for new PINs) too short lines are refused; a PIN file
 * that the group or others may read or write, that another user owns, or that is no regular
 * file is refused; --pin-fd reads a pipe; no terminal is a usage error. On a pseudo-terminal:
 * echo is off while a PIN is read, a new PIN is confirmed (with retries), every catchable signal
 * that ends the program leaves echo on, and job control works: Ctrl-Z stops the program with
 * echo on, `fg` turns echo off again and shows the prompt again, and a SIGCONT after a SIGSTOP
 * does the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <criterion/criterion.h>

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

TestSuite(pin, .init = setup, .fini = teardown);

/* Opens a PIN file source over content. */
static void open_file_source(kt_pin_source *s, const char *content, size_t n)
{
    char *p = ts_path(dir, "pins");
    kt_err e;

    ts_write(p, content, n);
    cr_assert_eq(chmod(p, 0600), 0);
    cr_assert_eq(kt_pin_source_open(s, p, -1, &e), KT_OK, "%s", e.msg);
    free(p);
}

/* A literal's length, embedded NULs included. */
#define OPEN_FILE_SOURCE(s, lit) open_file_source(s, lit, sizeof(lit) - 1)

static void expect_pin(kt_pin_source *s, bool is_new, const char *want)
{
    kt_secbuf pin = {NULL, 0};
    kt_err e;

    cr_assert_eq(kt_pin_get(s, "PIN for card", is_new, &pin, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pin.len, strlen(want));
    cr_assert_eq(memcmp(pin.p, want, pin.len), 0);
    kt_secbuf_free(&pin);
}

Test(pin, file_gives_its_lines_in_order_then_runs_out)
{
    kt_pin_source s;
    kt_secbuf pin = {NULL, 0};
    kt_err e;

    OPEN_FILE_SOURCE(&s, "first-pin\nsecond-pin\nthird-pin\n");
    expect_pin(&s, false, "first-pin");
    expect_pin(&s, false, "second-pin");
    expect_pin(&s, true, "third-pin");
    cr_assert_eq(kt_pin_get(&s, "PIN for card", false, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "the PIN file has 3 PINs; a 4th is needed");
    cr_assert_null(pin.p);
    kt_pin_source_close(&s);
    cr_assert_null(s.lines.p);
}

Test(pin, running_out_names_the_ordinal)
{
    kt_pin_source s;
    kt_secbuf pin = {NULL, 0};
    kt_err e;

    OPEN_FILE_SOURCE(&s, "only-one-pin");
    expect_pin(&s, false, "only-one-pin");
    cr_assert_eq(kt_pin_get(&s, "PIN", false, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "the PIN file has 1 PIN; a 2nd is needed");
    kt_pin_source_close(&s);

    OPEN_FILE_SOURCE(&s, "");
    cr_assert_eq(kt_pin_get(&s, "PIN", false, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "the PIN file is empty; a PIN is needed");
    kt_pin_source_close(&s);
}

Test(pin, crlf_line_ends_are_stripped)
{
    kt_pin_source s;

    OPEN_FILE_SOURCE(&s, "alpha-pin\r\nbeta-pin\r\ngamma\r");
    expect_pin(&s, false, "alpha-pin");
    expect_pin(&s, false, "beta-pin");
    expect_pin(&s, false, "gamma");
    kt_pin_source_close(&s);
}

Test(pin, an_empty_line_is_refused)
{
    kt_pin_source s;
    kt_secbuf pin = {NULL, 0};
    kt_err e;

    OPEN_FILE_SOURCE(&s, "good-pin-1\n\ngood-pin-3\n");
    expect_pin(&s, false, "good-pin-1");
    cr_assert_eq(kt_pin_get(&s, "PIN", false, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "PIN file line 2 is empty");
    cr_assert_null(pin.p);
    kt_pin_source_close(&s);

    OPEN_FILE_SOURCE(&s, "\r\n");
    cr_assert_eq(kt_pin_get(&s, "PIN", false, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "PIN file line 1 is empty");
    kt_pin_source_close(&s);
}

Test(pin, a_short_new_pin_is_refused)
{
    kt_pin_source s;
    kt_secbuf pin = {NULL, 0};
    kt_err e;

    OPEN_FILE_SOURCE(&s, "1234567\n1234567\n12345678\n");
    cr_assert_eq(kt_pin_get(&s, "PIN for admin card 1", true, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "PIN for admin card 1 (PIN file line 1) is 7 characters; at least 8 "
                            "are required");
    cr_assert_null(pin.p);
    kt_pin_source_close(&s);

    /* The twins: the same short PIN is fine for an existing card, 8 characters for a new one. */
    OPEN_FILE_SOURCE(&s, "1234567\n12345678\n");
    expect_pin(&s, false, "1234567");
    expect_pin(&s, true, "12345678");
    kt_pin_source_close(&s);
}

Test(pin, a_too_long_pin_is_refused)
{
    char content[2 * KT_PIN_MAX + 4];
    kt_pin_source s;
    kt_secbuf pin = {NULL, 0};
    kt_err e;

    /* KT_PIN_MAX characters, then KT_PIN_MAX + 1. */
    memset(content, 'p', sizeof content);
    content[KT_PIN_MAX] = '\n';
    content[2 * KT_PIN_MAX + 2] = '\n';
    open_file_source(&s, content, 2 * KT_PIN_MAX + 3);
    cr_assert_eq(kt_pin_get(&s, "PIN", true, &pin, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pin.len, KT_PIN_MAX);
    kt_secbuf_free(&pin);
    cr_assert_eq(kt_pin_get(&s, "PIN", false, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "PIN file line 2 is longer than 256 characters");
    cr_assert_null(pin.p);
    kt_pin_source_close(&s);
}

Test(pin, a_pin_file_over_the_cap_or_a_symlink_is_refused)
{
    static char big[KT_PIN_FILE_MAX + 1];
    char *p = ts_path(dir, "big");
    char *link = ts_path(dir, "link");
    kt_pin_source s;
    kt_err e;

    memset(big, 'x', sizeof big);
    ts_write(p, big, sizeof big);
    cr_assert_eq(chmod(p, 0600), 0);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_ETOOBIG);
    cr_assert_eq(symlink("big", link), 0);
    cr_assert_eq(kt_pin_source_open(&s, link, -1, &e), KT_EIO);
    ts_write(p, big, sizeof big - 1);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_OK, "exactly the cap: %s", e.msg);
    kt_pin_source_close(&s);
    free(p);
    free(link);
}

Test(pin, a_pin_file_the_group_or_others_may_read_or_write_is_refused)
{
    static const mode_t refused[] = {0644, 0640, 0604, 0660, 0620, 0602, 0666, 0700 | 0040};
    static const mode_t accepted[] = {0600, 0400, 0700};
    char *p = ts_path(dir, "pins");
    char want[512];
    kt_pin_source s;
    kt_err e;

    ts_write(p, "a-pin-in-a-file\n", 16);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        cr_assert_eq(chmod(p, refused[i]), 0);
        cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_EDENIED, "mode %04o accepted",
                     (unsigned)refused[i]);
        cr_assert_null(s.lines.p);
        snprintf(want, sizeof want, "has mode %04o", (unsigned)refused[i]);
        cr_assert(strstr(e.msg, want) != NULL, "%s", e.msg);
        snprintf(want, sizeof want, "`chmod 600 %s`", p);
        cr_assert(strstr(e.msg, want) != NULL, "%s", e.msg);
        cr_assert_eq(kt_rc_exit(e.rc), 1);
    }
    cr_assert_eq(chmod(p, 0644), 0);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "its group can read the PINs") != NULL, "%s", e.msg);
    cr_assert_eq(chmod(p, 0602), 0);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "other users can change the PINs") != NULL, "%s", e.msg);

    /* The twins: private modes are read. */
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        cr_assert_eq(chmod(p, accepted[i]), 0);
        cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_OK, "mode %04o: %s",
                     (unsigned)accepted[i], e.msg);
        expect_pin(&s, false, "a-pin-in-a-file");
        kt_pin_source_close(&s);
    }
    free(p);
}

Test(pin, a_pin_file_of_another_user_is_refused)
{
    char *p = ts_path(dir, "pins");
    kt_pin_source s;
    kt_err e;

    if (geteuid() != 0) {
        free(p);
        cr_skip_test("only root can give a file to another user");
    }
    ts_write(p, "a-pin-in-a-file\n", 16);
    cr_assert_eq(chmod(p, 0600), 0);
    cr_assert_eq(chown(p, 65534, 65534), 0);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "belongs to uid 65534, not to you (uid 0)") != NULL, "%s", e.msg);
    cr_assert_eq(chown(p, 0, 0), 0);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_OK, "%s", e.msg);
    kt_pin_source_close(&s);
    free(p);
}

Test(pin, a_pin_file_that_is_no_regular_file_is_refused)
{
    char *p = ts_path(dir, "fifo");
    kt_pin_source s;
    kt_err e;

    cr_assert_eq(mkfifo(p, 0600), 0);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_EIO);
    cr_assert(strstr(e.msg, "is not a regular file") != NULL, "%s", e.msg);
    cr_assert_eq(kt_pin_source_open(&s, dir, -1, &e), KT_EIO);
    cr_assert_eq(kt_pin_source_open(&s, "/nonexistent/pins", -1, &e), KT_ENOENT);
    free(p);
}

Test(pin, file_and_fd_together_is_usage)
{
    kt_pin_source s;
    kt_err e;

    cr_assert_eq(kt_pin_source_open(&s, "pins", 0, &e), KT_EUSAGE);
}

Test(pin, fd_from_a_pipe)
{
    static const char input[] = "pipe-pin-one\npipe-pin-two\n";
    kt_pin_source s;
    kt_secbuf pin = {NULL, 0};
    kt_err e;
    int fds[2];

    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(write(fds[1], input, sizeof input - 1), (ssize_t)(sizeof input - 1));
    close(fds[1]);
    cr_assert_eq(kt_pin_source_open(&s, NULL, fds[0], &e), KT_OK, "%s", e.msg);
    close(fds[0]);
    expect_pin(&s, false, "pipe-pin-one");
    expect_pin(&s, true, "pipe-pin-two");
    cr_assert_eq(kt_pin_get(&s, "PIN", false, &pin, &e), KT_EUSAGE);
    cr_assert_str_eq(e.msg, "the --pin-fd input has 2 PINs; a 3rd is needed");
    kt_pin_source_close(&s);
}

Test(pin, fd_over_the_cap_is_refused)
{
    kt_pin_source s;
    kt_err e;
    int fds[2], status;
    pid_t pid;

    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        static char chunk[4096];

        close(fds[0]);
        memset(chunk, 'x', sizeof chunk);
        for (size_t sent = 0; sent <= KT_PIN_FILE_MAX; sent += sizeof chunk) {
            if (write(fds[1], chunk, sizeof chunk) != (ssize_t)sizeof chunk)
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    cr_assert_eq(kt_pin_source_open(&s, NULL, fds[0], &e), KT_ETOOBIG);
    cr_assert_null(s.lines.p);
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
}

Test(pin, no_terminal_is_usage)
{
    int status;
    pid_t pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        kt_pin_source s;
        kt_err e;

        if (setsid() < 0)
            _exit(10);
        if (kt_pin_source_open(&s, NULL, -1, &e) != KT_EUSAGE)
            _exit(11);
        if (strcmp(e.msg, "no terminal to ask for the PIN; use --pin-file or --pin-fd") != 0)
            _exit(12);
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "status %d", status);
    cr_assert_eq(WEXITSTATUS(status), 0);
}

Test(pin, an_unopened_source_is_refused)
{
    kt_pin_source s;
    kt_secbuf pin;
    kt_err e;

    memset(&s, 0, sizeof s);
    cr_assert_eq(kt_pin_get(&s, "PIN", false, &pin, &e), KT_EUSAGE);
}

/* ------------------------------------------------------------------------------------------ */
/* The terminal, on a pseudo-terminal                                                          */
/* ------------------------------------------------------------------------------------------ */

struct pty_child {
    pid_t pid;
    int master;
    int slave;       /* the parent's own handle, for tcgetattr */
    int result;      /* read end: the PIN the child got */
    int events;      /* start_job: read end of the shell's reports */
    int commands;    /* start_job: write end of the test's commands to the shell */
    char seen[4096]; /* terminal output not yet matched by expect() */
    size_t nseen;
    char all[16384]; /* everything the terminal showed */
    size_t nall;
};

/* The signals a test sends, at their default action in the child (whatever the runner set). */
static void default_signals(void)
{
    static const int sigs[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1, SIGALRM, SIGPIPE,
                               SIGSEGV, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT, SIGXCPU};
    const struct rlimit no_core = {0, 0};
    sigset_t none;

    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setrlimit(RLIMIT_CORE, &no_core); /* SIGQUIT and SIGSEGV leave no core behind */
}

/* In a child: asks for one PIN on the controlling terminal, reports it on fd res, exits with
 * the kt_rc. */
_Noreturn static void ask_and_report(int res, bool is_new)
{
    kt_pin_source s;
    kt_secbuf pin = {NULL, 0};
    kt_err e;
    kt_rc rc = kt_pin_source_open(&s, NULL, -1, &e);

    if (rc == KT_OK)
        rc = kt_pin_get(&s, "PIN for card 1", is_new, &pin, &e);
    if (rc == KT_OK) {
        if (write(res, pin.p, pin.len) != (ssize_t)pin.len)
            _exit(102);
    } else if (write(res, e.msg, strlen(e.msg)) < 0) {
        _exit(103);
    }
    kt_secbuf_free(&pin);
    kt_pin_source_close(&s);
    _exit((int)rc);
}

static void open_pty(struct pty_child *c, char **name)
{
    c->nseen = 0;
    c->nall = 0;
    c->events = c->commands = -1;
    c->master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(c->master, 0);
    cr_assert_eq(grantpt(c->master), 0);
    cr_assert_eq(unlockpt(c->master), 0);
    *name = ptsname(c->master);
    cr_assert_not_null(*name);
    c->slave = open(*name, O_RDWR | O_NOCTTY);
    cr_assert_geq(c->slave, 0);
}

/* Forks a child whose controlling terminal is a new pty; it asks for one PIN. */
static void start_pty_child(struct pty_child *c, bool is_new)
{
    int res[2];
    char *name;

    open_pty(c, &name);
    cr_assert_eq(pipe(res), 0);
    c->pid = fork();
    cr_assert_neq(c->pid, -1);
    if (c->pid == 0) {
        int tty;

        close(res[0]);
        close(c->master);
        close(c->slave);
        default_signals();
        if (setsid() < 0)
            _exit(100);
        tty = open(name, O_RDWR);
        if (tty < 0 || ioctl(tty, TIOCSCTTY, 0) != 0)
            _exit(101);
        ask_and_report(res[1], is_new);
    }
    close(res[1]);
    c->result = res[0];
}

/*
 * Job control needs a shell: the child becomes a tiny one, the session leader of the pty, and
 * runs the PIN prompt as a job in its own process group (in the foreground, or in the background
 * to begin with). It reports on c->events: 'S' and the signal when the job stops, 'X' and the
 * exit status when it ends; on 'f' from c->commands it gives the job the terminal and continues
 * it, as `fg` does.
 */
static void start_job(struct pty_child *c, bool foreground)
{
    int res[2], ev[2], cmd[2];
    char *name;

    open_pty(c, &name);
    cr_assert_eq(pipe(res), 0);
    cr_assert_eq(pipe(ev), 0);
    cr_assert_eq(pipe(cmd), 0);
    c->pid = fork();
    cr_assert_neq(c->pid, -1);
    if (c->pid == 0) {
        sigset_t ttou, before;
        int tty, status;
        pid_t job;

        close(res[0]);
        close(ev[0]);
        close(cmd[1]);
        close(c->master);
        close(c->slave);
        default_signals();
        if (setsid() < 0)
            _exit(100);
        tty = open(name, O_RDWR);
        if (tty < 0 || ioctl(tty, TIOCSCTTY, 0) != 0)
            _exit(101);
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        job = fork();
        if (job < 0)
            _exit(104);
        if (job == 0) {
            close(ev[1]);
            close(cmd[0]);
            setpgid(0, 0);
            if (foreground) {
                sigprocmask(SIG_BLOCK, &ttou, &before);
                tcsetpgrp(tty, getpid());
                sigprocmask(SIG_SETMASK, &before, NULL);
            }
            close(tty);
            ask_and_report(res[1], false);
        }
        close(res[1]);
        setpgid(job, job);
        for (;;) {
            char report[2], command;

            if (waitpid(job, &status, WUNTRACED) != job)
                _exit(105);
            if (!WIFSTOPPED(status)) {
                report[0] = WIFEXITED(status) ? 'X' : 'K';
                report[1] = (char)(WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                _exit(write(ev[1], report, 2) == 2 ? 0 : 106);
            }
            /* As a shell does: take the terminal back, report, wait for `fg`. */
            sigprocmask(SIG_BLOCK, &ttou, &before);
            tcsetpgrp(tty, getpgrp());
            report[0] = 'S';
            report[1] = (char)WSTOPSIG(status);
            if (write(ev[1], report, 2) != 2 || read(cmd[0], &command, 1) != 1 || command != 'f')
                _exit(107);
            tcsetpgrp(tty, job);
            sigprocmask(SIG_SETMASK, &before, NULL);
            kill(-job, SIGCONT);
        }
    }
    close(res[1]);
    close(ev[1]);
    close(cmd[0]);
    c->result = res[0];
    c->events = ev[0];
    c->commands = cmd[1];
}

/* The next report of start_job's shell: its kind ('S' or 'X') and value (10 s at most). */
static char next_event(struct pty_child *c, int *value)
{
    struct pollfd pfd = {.fd = c->events, .events = POLLIN};
    char report[2];

    cr_assert_eq(poll(&pfd, 1, 10000), 1, "the shell reported nothing");
    cr_assert_eq(read(c->events, report, 2), 2);
    *value = (unsigned char)report[1];
    return report[0];
}

/* Consumes the child's terminal output up to and including needle (10 s at most). */
static void expect(struct pty_child *c, const char *needle)
{
    for (;;) {
        struct pollfd pfd = {.fd = c->master, .events = POLLIN};
        char *hit;
        ssize_t r;

        c->seen[c->nseen] = '\0';
        hit = strstr(c->seen, needle);
        if (hit != NULL) {
            size_t used = (size_t)(hit - c->seen) + strlen(needle);

            memmove(c->seen, c->seen + used, c->nseen - used);
            c->nseen -= used;
            return;
        }
        cr_assert_lt(c->nseen, sizeof c->seen - 1, "'%s' never came", needle);
        cr_assert_eq(poll(&pfd, 1, 10000), 1, "timed out waiting for '%s'", needle);
        r = read(c->master, c->seen + c->nseen, sizeof c->seen - 1 - c->nseen);
        cr_assert_gt(r, 0, "the terminal closed before '%s'", needle);
        if (c->nall + (size_t)r < sizeof c->all) {
            memcpy(c->all + c->nall, c->seen + c->nseen, (size_t)r);
            c->nall += (size_t)r;
        }
        c->nseen += (size_t)r;
    }
}

static void type(struct pty_child *c, const char *line)
{
    size_t n = strlen(line);

    cr_assert_eq(write(c->master, line, n), (ssize_t)n);
}

static bool echo_is_on(const struct pty_child *c)
{
    struct termios t;

    cr_assert_eq(tcgetattr(c->slave, &t), 0);
    return (t.c_lflag & ECHO) != 0;
}

/* Waits for the child; returns its exit status and what it reported. */
static int finish_pty_child(struct pty_child *c, char *out, size_t outsz)
{
    int status;
    ssize_t n;

    n = read(c->result, out, outsz - 1);
    out[n > 0 ? n : 0] = '\0';
    if (c->events >= 0) {
        int value;
        char kind = next_event(c, &value);

        cr_assert_eq(kind, 'X', "the job did not exit ('%c' %d)", kind, value);
        cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the shell failed: %d", status);
        status = value << 8; /* as if the job were the child */
        close(c->events);
        close(c->commands);
    } else {
        cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
    }
    close(c->result);
    close(c->slave);
    close(c->master);
    cr_assert(WIFEXITED(status), "child status %d", status);
    return WEXITSTATUS(status);
}

/* No character of s appears in what the terminal showed. */
static void assert_not_shown(const struct pty_child *c, const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        cr_assert_null(memchr(c->all, *p, c->nall), "'%c' of a typed PIN was shown: %.*s", *p,
                       (int)c->nall, c->all);
}

Test(pin, terminal_reads_with_echo_off_and_restores_it)
{
    struct pty_child c;
    char out[KT_ERR_MSG_MAX];

    start_pty_child(&c, false);
    cr_assert(echo_is_on(&c));
    expect(&c, "PIN for card 1: ");
    cr_assert_not(echo_is_on(&c), "echo must be off while the PIN is typed");
    type(&c, "s3cret-pin\n");
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_OK, "%s", out);
    cr_assert_str_eq(out, "s3cret-pin");
}

Test(pin, terminal_new_pin_is_confirmed)
{
    struct pty_child c;
    char out[KT_ERR_MSG_MAX];

    start_pty_child(&c, true);
    expect(&c, "PIN for card 1: ");
    type(&c, "correct horse\n");
    expect(&c, "Confirm PIN: ");
    type(&c, "correct horse\n");
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_OK, "%s", out);
    cr_assert_str_eq(out, "correct horse");
}

Test(pin, terminal_new_pin_is_asked_again_after_a_mismatch_or_a_short_pin)
{
    struct pty_child c;
    char out[KT_ERR_MSG_MAX];

    start_pty_child(&c, true);
    expect(&c, "PIN for card 1: ");
    type(&c, "first-try\n");
    expect(&c, "Confirm PIN: ");
    type(&c, "first-trx\n");
    expect(&c, "do not match; try again.");
    expect(&c, "PIN for card 1: ");
    type(&c, "short\n");
    expect(&c, "at least 8 are required; try again.");
    expect(&c, "PIN for card 1: ");
    type(&c, "third-try\n");
    expect(&c, "Confirm PIN: ");
    type(&c, "third-try\n");
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_OK, "%s", out);
    cr_assert_str_eq(out, "third-try");
}

Test(pin, terminal_new_pin_gives_up_after_three_mismatches)
{
    struct pty_child c;
    char out[KT_ERR_MSG_MAX];

    start_pty_child(&c, true);
    for (int i = 0; i < 3; i++) {
        expect(&c, "PIN for card 1: ");
        type(&c, "aaaaaaaa\n");
        expect(&c, "Confirm PIN: ");
        type(&c, "bbbbbbbb\n");
    }
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_EUSAGE);
    cr_assert_str_eq(out, "PIN for card 1: the two PINs entered do not match (after 3 attempts)");
}

Test(pin, terminal_too_long_pin_is_refused)
{
    struct pty_child c;
    char out[KT_ERR_MSG_MAX];
    char line[KT_PIN_MAX + 3];

    memset(line, '7', KT_PIN_MAX + 1);
    strcpy(line + KT_PIN_MAX + 1, "\n");
    start_pty_child(&c, false);
    expect(&c, "PIN for card 1: ");
    type(&c, line);
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_EUSAGE);
    cr_assert_str_eq(out, "PIN for card 1 is longer than 256 characters");
}

Test(pin, sigint_while_reading_restores_the_terminal)
{
    struct pty_child c;
    int status;

    start_pty_child(&c, false);
    expect(&c, "PIN for card 1: ");
    cr_assert_not(echo_is_on(&c));
    cr_assert_eq(kill(c.pid, SIGINT), 0);
    cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT,
              "the child must die of SIGINT (status %d)", status);
    cr_assert(echo_is_on(&c), "the terminal was left with echo off");
    close(c.result);
    close(c.slave);
    close(c.master);
}

/* Characters that appear in no prompt, so any of them on the screen is an echo. */
#define UNSHOWN_PIN "zqxjw#74"

Test(pin, every_signal_that_ends_the_program_leaves_echo_on)
{
    static const int sigs[] = {SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGALRM, SIGPIPE, SIGXCPU};

    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct pty_child c;
        int status;

        start_pty_child(&c, false);
        expect(&c, "PIN for card 1: ");
        cr_assert_not(echo_is_on(&c));
        type(&c, "zqx");
        cr_assert_eq(kill(c.pid, sigs[i]), 0);
        cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i],
                  "the child must die of %s (status %d)", strsignal(sigs[i]), status);
        cr_assert(echo_is_on(&c), "%s left the terminal with echo off", strsignal(sigs[i]));
        assert_not_shown(&c, "zqx");
        close(c.result);
        close(c.slave);
        close(c.master);
    }
}

Test(pin, a_fault_signal_leaves_echo_on)
{
    struct pty_child c;
    int status;

    start_pty_child(&c, false);
    expect(&c, "PIN for card 1: ");
    cr_assert_not(echo_is_on(&c));
    cr_assert_eq(kill(c.pid, SIGSEGV), 0);
    cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %d", status);
    cr_assert(echo_is_on(&c), "the terminal was left with echo off");
    close(c.result);
    close(c.slave);
    close(c.master);
}

Test(pin, ctrl_z_stops_with_echo_on_and_fg_asks_again_with_echo_off)
{
    struct pty_child c;
    char out[KT_ERR_MSG_MAX];
    int value;

    start_job(&c, true);
    expect(&c, "PIN for card 1: ");
    cr_assert_not(echo_is_on(&c));
    type(&c, "zqx");
    type(&c, "\x1a"); /* Ctrl-Z: the terminal sends SIGTSTP to the job */
    cr_assert_eq(next_event(&c, &value), 'S');
    cr_assert_eq(value, SIGTSTP);
    cr_assert(echo_is_on(&c), "the job stopped with echo off");

    cr_assert_eq(write(c.commands, "f", 1), 1);
    expect(&c, "PIN for card 1: ");
    cr_assert_not(echo_is_on(&c), "echo is on again after fg");
    type(&c, UNSHOWN_PIN "\n");
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_OK, "%s", out);
    cr_assert_str_eq(out, UNSHOWN_PIN, "the PIN is what was typed after fg");
    assert_not_shown(&c, UNSHOWN_PIN);
}

Test(pin, a_job_started_in_the_background_stops_before_the_prompt_and_asks_after_fg)
{
    struct pty_child c;
    char out[KT_ERR_MSG_MAX];
    int value;

    start_job(&c, false);
    cr_assert_eq(next_event(&c, &value), 'S');
    cr_assert_eq(value, SIGTTOU, "stopped by %d", value);
    cr_assert(echo_is_on(&c), "a background job turned echo off");

    cr_assert_eq(write(c.commands, "f", 1), 1);
    expect(&c, "PIN for card 1: ");
    cr_assert_not(echo_is_on(&c));
    type(&c, UNSHOWN_PIN "\n");
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_OK, "%s", out);
    cr_assert_str_eq(out, UNSHOWN_PIN);
    assert_not_shown(&c, UNSHOWN_PIN);
}

Test(pin, sigcont_after_sigstop_turns_echo_off_again_and_asks_again)
{
    struct pty_child c;
    struct termios t;
    char out[KT_ERR_MSG_MAX];
    int status;

    start_pty_child(&c, false);
    expect(&c, "PIN for card 1: ");
    cr_assert_eq(kill(c.pid, SIGSTOP), 0);
    cr_assert_eq(waitpid(c.pid, &status, WUNTRACED), c.pid);
    cr_assert(WIFSTOPPED(status));
    /* While it is stopped, a shell puts its own settings in force: echo on. */
    cr_assert_eq(tcgetattr(c.slave, &t), 0);
    t.c_lflag |= ECHO;
    cr_assert_eq(tcsetattr(c.slave, TCSANOW, &t), 0);
    cr_assert_eq(kill(c.pid, SIGCONT), 0);
    expect(&c, "PIN for card 1: ");
    cr_assert_not(echo_is_on(&c), "echo stayed on after SIGCONT");
    type(&c, UNSHOWN_PIN "\n");
    cr_assert_eq(finish_pty_child(&c, out, sizeof out), KT_OK, "%s", out);
    cr_assert_str_eq(out, UNSHOWN_PIN);
    assert_not_shown(&c, UNSHOWN_PIN);
}
