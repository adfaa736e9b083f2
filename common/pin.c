/*
 * pin.c - PIN entry. PINs come from the terminal (/dev/tty with echo off; a new PIN is asked
 * twice), from a file (--pin-file) or from a descriptor (--pin-fd); files and descriptors hold
 * one PIN a line and are read whole into secure memory. Every PIN lives in sodium_malloc memory;
 * the one byte that passes through the stack on the terminal path is wiped. While echo is off,
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT restore the terminal before the default action runs.
 *
 * Writing prompts and "try again" notes to /dev/tty is this file's one exception to "the library
 * never prints": it is the dialogue the terminal source exists for.
 */
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

enum { PIN_TERMINAL = 1, PIN_FILE, PIN_FD };

#define NEW_PIN_ATTEMPTS 3
#define FD_FIRST_CAP     256

static const char *source_name(const kt_pin_source *s)
{
    return s->kind == PIN_FILE ? "PIN file" : "--pin-fd input";
}

static kt_rc no_terminal(kt_err *e)
{
    return kt_fail(e, KT_EUSAGE, "no terminal to ask for the PIN; use --pin-file or --pin-fd");
}

/* ----------------------------------------------------------------------------------------- */
/* Files and descriptors                                                                      */
/* ----------------------------------------------------------------------------------------- */

/* Moves the used bytes of *b into a new secure block of cap bytes; the old one is wiped. */
static kt_rc grow_secure(kt_secbuf *b, size_t used, size_t cap, kt_err *e)
{
    kt_secbuf nb;
    kt_rc rc = kt_secbuf_alloc(&nb, cap, e);

    if (rc != KT_OK)
        return rc;
    if (used > 0)
        memcpy(nb.p, b->p, used);
    kt_secbuf_free(b);
    *b = nb;
    return KT_OK;
}

/* Reads fd to its end (at most KT_PIN_FILE_MAX bytes) into secure memory. */
static kt_rc read_fd_whole(int fd, kt_secbuf *out, kt_err *e)
{
    kt_secbuf b = {NULL, 0};
    size_t used = 0;
    ssize_t n;
    kt_rc rc = kt_secbuf_alloc(&b, FD_FIRST_CAP, e);

    if (rc != KT_OK)
        return rc;
    for (;;) {
        if (used == b.len) {
            size_t cap = b.len * 2 < KT_PIN_FILE_MAX + 1 ? b.len * 2 : KT_PIN_FILE_MAX + 1;

            rc = grow_secure(&b, used, cap, e);
            if (rc != KT_OK)
                goto fail;
        }
        n = read(fd, b.p + used, b.len - used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};

                if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
                    continue;
            }
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot read the PINs from descriptor %d", fd);
            goto fail;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > KT_PIN_FILE_MAX) {
            rc = kt_fail(e, KT_ETOOBIG, "the --pin-fd input is over the limit of %d bytes",
                         KT_PIN_FILE_MAX);
            goto fail;
        }
    }
    out->p = b.p;
    out->len = used;
    return KT_OK;
fail:
    kt_secbuf_free(&b);
    return rc;
}

static const char *ordinal_suffix(unsigned n)
{
    if (n % 100 >= 11 && n % 100 <= 13)
        return "th";
    switch (n % 10) {
    case 1:
        return "st";
    case 2:
        return "nd";
    case 3:
        return "rd";
    default:
        return "th";
    }
}

/* "a" or "an" before the number n written in digits and read aloud ("an 8th", "an 11th"). */
static const char *article(unsigned n)
{
    unsigned lead = n;

    while (lead >= 10)
        lead /= 10;
    return (lead == 8 || n == 11 || n == 18) ? "an" : "a";
}

/* The next line of a file or descriptor source: start and length, the line end removed. */
static kt_rc next_line(kt_pin_source *s, const uint8_t **line, size_t *len, unsigned *lineno,
                       kt_err *e)
{
    const uint8_t *start, *nl;
    size_t rest, n;
    unsigned want = s->served + 1;

    if (s->next >= s->lines.len) {
        if (s->served == 0)
            return kt_fail(e, KT_EUSAGE, "the %s is empty; a PIN is needed", source_name(s));
        return kt_fail(e, KT_EUSAGE, "the %s has %u PIN%s; %s %u%s is needed", source_name(s),
                       s->served, s->served == 1 ? "" : "s", article(want), want,
                       ordinal_suffix(want));
    }
    start = s->lines.p + s->next;
    rest = s->lines.len - s->next;
    nl = memchr(start, '\n', rest);
    n = nl != NULL ? (size_t)(nl - start) : rest;
    s->next += n + (nl != NULL ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r')
        n--;
    *lineno = want;
    if (n == 0)
        return kt_fail(e, KT_EUSAGE, "%s line %u is empty", source_name(s), want);
    if (n > KT_PIN_MAX)
        return kt_fail(e, KT_EUSAGE, "%s line %u is longer than %d characters", source_name(s),
                       want, KT_PIN_MAX);
    *line = start;
    *len = n;
    return KT_OK;
}

/* Copies len bytes into a new secure PIN (NUL-terminated for convenience; len excludes it). */
static kt_rc make_pin(const uint8_t *p, size_t len, kt_secbuf *pin, kt_err *e)
{
    kt_rc rc = kt_secbuf_alloc(pin, len + 1, e);

    if (rc != KT_OK)
        return rc;
    memcpy(pin->p, p, len);
    pin->p[len] = '\0';
    pin->len = len;
    return KT_OK;
}

static kt_rc too_short(const char *what, const char *where, size_t len, kt_err *e)
{
    return kt_fail(e, KT_EUSAGE, "%s%s is %zu character%s; at least %d are required", what, where,
                   len, len == 1 ? "" : "s", KT_PIN_MIN_NEW);
}

static kt_rc get_from_lines(kt_pin_source *s, const char *what, bool is_new, kt_secbuf *pin,
                            kt_err *e)
{
    const uint8_t *line = NULL;
    size_t len = 0;
    unsigned lineno = 0;
    char where[64];
    kt_rc rc = next_line(s, &line, &len, &lineno, e);

    if (rc != KT_OK)
        return rc;
    if (is_new && len < KT_PIN_MIN_NEW) {
        snprintf(where, sizeof where, " (%s line %u)", source_name(s), lineno);
        return too_short(what, where, len, e);
    }
    rc = make_pin(line, len, pin, e);
    if (rc != KT_OK)
        return rc;
    s->served++;
    return KT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Terminal                                                                                   */
/* ----------------------------------------------------------------------------------------- */

/* What the signal handler needs to put the terminal back; set before it is installed. */
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_saved;

static const int restore_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_RESTORE_SIGNALS (sizeof restore_signals / sizeof restore_signals[0])

struct tty {
    int fd;
    struct sigaction old[N_RESTORE_SIGNALS];
    bool installed[N_RESTORE_SIGNALS];
};

static void restore_and_reraise(int sig)
{
    int saved_errno = errno;

    if (tty_fd >= 0)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    /* SA_RESETHAND put the default action back: the signal takes it once this returns. */
    raise(sig);
    errno = saved_errno;
}

static kt_rc tty_write(const struct tty *t, const char *s, kt_err *e)
{
    size_t len = strlen(s);

    while (len > 0) {
        ssize_t n = write(t->fd, s, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kt_fail_errno(e, KT_EIO, n < 0 ? errno : EIO, "cannot write to the terminal");
        s += n;
        len -= (size_t)n;
    }
    return KT_OK;
}

static void tty_close(struct tty *t)
{
    tcsetattr(t->fd, TCSAFLUSH, &tty_saved); /* also drops unread type-ahead */
    for (size_t i = 0; i < N_RESTORE_SIGNALS; i++) {
        if (t->installed[i])
            sigaction(restore_signals[i], &t->old[i], NULL);
        t->installed[i] = false;
    }
    tty_fd = -1;
    close(t->fd);
    t->fd = -1;
}

/* Opens the controlling terminal and turns echo off, with the restoring handlers in place. */
static kt_rc tty_open(struct tty *t, kt_err *e)
{
    struct sigaction sa;
    struct termios quiet;

    t->fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (t->fd < 0)
        return no_terminal(e);
    if (tcgetattr(t->fd, &tty_saved) != 0) {
        close(t->fd);
        t->fd = -1;
        return no_terminal(e);
    }
    tty_fd = t->fd;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_and_reraise;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_RESTORE_SIGNALS; i++) {
        /* A signal the program ignores (nohup) stays ignored: it cannot leave echo off. */
        t->installed[i] = false;
        if (sigaction(restore_signals[i], NULL, &t->old[i]) != 0 || t->old[i].sa_handler == SIG_IGN)
            continue;
        t->installed[i] = sigaction(restore_signals[i], &sa, NULL) == 0;
    }
    quiet = tty_saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    if (tcsetattr(t->fd, TCSAFLUSH, &quiet) != 0) {
        int err = errno;

        tty_close(t);
        return kt_fail_errno(e, KT_EIO, err, "cannot turn off echo on the terminal");
    }
    return KT_OK;
}

/*
 * Shows "<prompt>: " and reads one line into a new secure PIN. Up to KT_PIN_MAX + 1 bytes are
 * kept, so a PIN that is too long is noticed; the rest of a long line is read and dropped.
 */
static kt_rc tty_read_line(struct tty *t, const char *prompt, kt_secbuf *pin, kt_err *e)
{
    char c = 0;
    size_t len = 0;
    bool eof = false;
    ssize_t n;
    kt_rc rc;

    rc = tty_write(t, prompt, e);
    if (rc == KT_OK)
        rc = tty_write(t, ": ", e);
    if (rc == KT_OK)
        rc = kt_secbuf_alloc(pin, KT_PIN_MAX + 2, e);
    if (rc != KT_OK)
        return rc;
    for (;;) {
        n = read(t->fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot read the PIN from the terminal");
            break;
        }
        if (n == 0) {
            eof = true;
            break;
        }
        if (c == '\n')
            break;
        if (len <= KT_PIN_MAX)
            pin->p[len++] = (uint8_t)c;
    }
    kt_wipe(&c, sizeof c);
    if (rc == KT_OK)
        rc = tty_write(t, "\n", e); /* the Enter the user typed was not echoed */
    if (rc == KT_OK && eof && len == 0)
        rc = kt_fail(e, KT_EUSAGE, "no PIN entered (end of input on the terminal)");
    if (rc != KT_OK) {
        kt_secbuf_free(pin);
        return rc;
    }
    if (len > 0 && pin->p[len - 1] == '\r')
        len--;
    pin->p[len] = '\0';
    pin->len = len;
    return KT_OK;
}

static kt_rc check_entered(size_t len, bool is_new, const char *what, kt_err *e)
{
    if (len == 0)
        return kt_fail(e, KT_EUSAGE, "%s: no PIN entered", what);
    if (len > KT_PIN_MAX)
        return kt_fail(e, KT_EUSAGE, "%s is longer than %d characters", what, KT_PIN_MAX);
    if (is_new && len < KT_PIN_MIN_NEW)
        return too_short(what, "", len, e);
    return KT_OK;
}

/* Asks for a new PIN and its confirmation, up to NEW_PIN_ATTEMPTS times. */
static kt_rc tty_new_pin(struct tty *t, const char *what, kt_secbuf *pin, kt_err *e)
{
    kt_secbuf first = {NULL, 0}, second = {NULL, 0};
    kt_err why;
    kt_rc rc = KT_OK;

    kt_err_clear(&why);
    for (int attempt = 1; attempt <= NEW_PIN_ATTEMPTS; attempt++) {
        rc = tty_read_line(t, what, &first, e);
        if (rc != KT_OK)
            return rc;
        rc = check_entered(first.len, true, what, &why);
        if (rc == KT_OK) {
            rc = tty_read_line(t, "Confirm PIN", &second, e);
            if (rc != KT_OK) {
                kt_secbuf_free(&first);
                return rc;
            }
            if (first.len == second.len && kt_ct_equal(first.p, second.p, first.len)) {
                kt_secbuf_free(&second);
                *pin = first;
                return KT_OK;
            }
            rc = kt_fail(&why, KT_EUSAGE, "%s: the two PINs entered do not match", what);
        }
        kt_secbuf_free(&first);
        kt_secbuf_free(&second);
        if (attempt < NEW_PIN_ATTEMPTS) {
            kt_rc wrc = tty_write(t, why.msg, e);

            if (wrc == KT_OK)
                wrc = tty_write(t, "; try again.\n", e);
            if (wrc != KT_OK)
                return wrc;
        }
    }
    return kt_fail(e, rc, "%s (after %d attempts)", why.msg, NEW_PIN_ATTEMPTS);
}

static kt_rc get_from_terminal(const char *what, bool is_new, kt_secbuf *pin, kt_err *e)
{
    struct tty t;
    kt_rc rc = tty_open(&t, e);

    if (rc != KT_OK)
        return rc;
    if (is_new) {
        rc = tty_new_pin(&t, what, pin, e);
    } else {
        rc = tty_read_line(&t, what, pin, e);
        if (rc == KT_OK) {
            rc = check_entered(pin->len, false, what, e);
            if (rc != KT_OK)
                kt_secbuf_free(pin);
        }
    }
    tty_close(&t);
    return rc;
}

/* ----------------------------------------------------------------------------------------- */
/* The source                                                                                 */
/* ----------------------------------------------------------------------------------------- */

kt_rc kt_pin_source_open(kt_pin_source *s, const char *pin_file, int pin_fd, kt_err *e)
{
    kt_rc rc;
    int fd;

    memset(s, 0, sizeof *s);
    if (pin_file != NULL && pin_fd >= 0)
        return kt_fail(e, KT_EUSAGE, "use --pin-file or --pin-fd, not both");
    if (pin_file != NULL) {
        rc = kt_file_read_secret(pin_file, KT_PIN_FILE_MAX, &s->lines, e);
        if (rc != KT_OK)
            return rc;
        s->kind = PIN_FILE;
        return KT_OK;
    }
    if (pin_fd >= 0) {
        rc = read_fd_whole(pin_fd, &s->lines, e);
        if (rc != KT_OK)
            return rc;
        s->kind = PIN_FD;
        return KT_OK;
    }
    /* The terminal: find out now, before any work is done, that there is none. */
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return no_terminal(e);
    close(fd);
    s->kind = PIN_TERMINAL;
    return KT_OK;
}

void kt_pin_source_close(kt_pin_source *s)
{
    if (s == NULL)
        return;
    kt_secbuf_free(&s->lines);
    memset(s, 0, sizeof *s);
}

kt_rc kt_pin_get(kt_pin_source *s, const char *prompt, bool is_new, kt_secbuf *pin, kt_err *e)
{
    const char *what = prompt != NULL && prompt[0] != '\0' ? prompt : "PIN";

    pin->p = NULL;
    pin->len = 0;
    switch (s->kind) {
    case PIN_FILE:
    case PIN_FD:
        return get_from_lines(s, what, is_new, pin, e);
    case PIN_TERMINAL:
        return get_from_terminal(what, is_new, pin, e);
    default:
        return kt_fail(e, KT_EUSAGE, "the PIN source is not open");
    }
}
