/*
 * test_pin.c - PIN sources: a PIN file gives its lines in order and then says how many it had;
 * CRLF is stripped; empty, too long and (for new PINs) too short lines are refused; --pin-fd
 * reads a pipe; no terminal is a usage error. On a pseudo-terminal: echo is off while a PIN is
 * read, a new PIN is confirmed (with retries), and SIGINT restores the terminal before the
 * program dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_ETOOBIG);
    cr_assert_eq(symlink("big", link), 0);
    cr_assert_eq(kt_pin_source_open(&s, link, -1, &e), KT_EIO);
    ts_write(p, big, sizeof big - 1);
    cr_assert_eq(kt_pin_source_open(&s, p, -1, &e), KT_OK, "exactly the cap: %s", e.msg);
    kt_pin_source_close(&s);
    free(p);
    free(link);
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
    char seen[4096]; /* terminal output not yet matched by expect() */
    size_t nseen;
};

/* Forks a child whose controlling terminal is a new pty; it asks for one PIN. */
static void start_pty_child(struct pty_child *c, bool is_new)
{
    int res[2];
    char *name;

    c->nseen = 0;
    c->master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(c->master, 0);
    cr_assert_eq(grantpt(c->master), 0);
    cr_assert_eq(unlockpt(c->master), 0);
    name = ptsname(c->master);
    cr_assert_not_null(name);
    c->slave = open(name, O_RDWR | O_NOCTTY);
    cr_assert_geq(c->slave, 0);
    cr_assert_eq(pipe(res), 0);
    c->pid = fork();
    cr_assert_neq(c->pid, -1);
    if (c->pid == 0) {
        kt_pin_source s;
        kt_secbuf pin = {NULL, 0};
        kt_err e;
        kt_rc rc;
        int tty;

        close(res[0]);
        close(c->master);
        close(c->slave);
        signal(SIGINT, SIG_DFL);
        if (setsid() < 0)
            _exit(100);
        tty = open(name, O_RDWR);
        if (tty < 0 || ioctl(tty, TIOCSCTTY, 0) != 0)
            _exit(101);
        rc = kt_pin_source_open(&s, NULL, -1, &e);
        if (rc == KT_OK)
            rc = kt_pin_get(&s, "PIN for card 1", is_new, &pin, &e);
        if (rc == KT_OK) {
            if (write(res[1], pin.p, pin.len) != (ssize_t)pin.len)
                _exit(102);
        } else if (write(res[1], e.msg, strlen(e.msg)) < 0) {
            _exit(103);
        }
        kt_secbuf_free(&pin);
        kt_pin_source_close(&s);
        _exit((int)rc);
    }
    close(res[1]);
    c->result = res[0];
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
    cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
    close(c->result);
    close(c->slave);
    close(c->master);
    cr_assert(WIFEXITED(status), "child status %d", status);
    return WEXITSTATUS(status);
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
