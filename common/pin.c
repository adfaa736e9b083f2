/*
 * pin.c - PIN entry. PINs come from the terminal (/dev/tty with echo off; a new PIN is asked
 * twice), from a file (--pin-file) or from a descriptor (--pin-fd); files and descriptors hold
 * one PIN a line and are read whole into secure memory. A PIN file must be a regular file of the
 * user's that nobody else may read or write (as ssh demands of a private key). Every PIN lives in
 * sodium_malloc memory; the terminal path reads straight into it.
 *
 * While echo is off, every catchable signal leaves the terminal as it was (see "Signals" below):
 * a signal that ends the process ends it with echo on, Ctrl-Z stops it with echo on, and `fg`
 * turns echo off again and shows the prompt again, as OpenBSD's readpassphrase and sudo do.
 *
 * Writing prompts and "try again" notes to /dev/tty is this file's one exception to "the library
 * never prints": it is the dialogue the terminal source exists for.
 */
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

/* Reads fd to its end (at most KT_PIN_FILE_MAX bytes) into secure memory; what names the input
 * in messages ("the PIN file 'pins'"). */
static kt_rc read_fd_whole(int fd, const char *what, kt_secbuf *out, kt_err *e)
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
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot read %s", what);
            goto fail;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > KT_PIN_FILE_MAX) {
            rc = kt_fail(e, KT_ETOOBIG, "%s is over the limit of %d bytes", what, KT_PIN_FILE_MAX);
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

/*
 * Opens a PIN file as ssh opens a private key: a regular file (no link followed) owned by the
 * user that neither the group nor others may read or write; anything else is refused with what
 * to do. The checks are made on the descriptor that is then read, so the file cannot be swapped
 * in between.
 */
static kt_rc open_pin_file(const char *path, int *fd, kt_err *e)
{
    struct stat st;
    int err;

    *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (*fd < 0) {
        err = errno;
        if (err == ENOENT)
            return kt_fail(e, KT_ENOENT, "cannot read the PIN file '%s': no such file", path);
        if (err == ELOOP)
            return kt_fail(e, KT_EIO, "the PIN file '%s' is a symbolic link; refusing to read it",
                           path);
        return kt_fail_errno(e, KT_EIO, err, "cannot read the PIN file '%s'", path);
    }
    if (fstat(*fd, &st) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot read the PIN file '%s'", path);
    if (!S_ISREG(st.st_mode))
        return kt_fail(e, KT_EIO,
                       "the PIN file '%s' is not a regular file; refusing to read it (--pin-fd "
                       "reads a pipe)",
                       path);
    if (st.st_uid != geteuid())
        return kt_fail(e, KT_EDENIED,
                       "the PIN file '%s' belongs to uid %ju, not to you (uid %ju): refusing PINs "
                       "another user could have written or read",
                       path, (uintmax_t)st.st_uid, (uintmax_t)geteuid());
    if ((st.st_mode & 077) != 0)
        return kt_fail(e, KT_EDENIED,
                       "the PIN file '%s' has mode %04o: %s can %s the PINs in it. Refusing it; "
                       "make it private with `chmod 600 %s`",
                       path, (unsigned)(st.st_mode & 07777),
                       (st.st_mode & 070) != 0 ? "its group" : "other users",
                       (st.st_mode & 044) != 0 ? "read" : "change", path);
    if (st.st_size > KT_PIN_FILE_MAX)
        return kt_fail(e, KT_ETOOBIG, "the PIN file '%s' is %jd bytes; the limit is %d bytes", path,
                       (intmax_t)st.st_size, KT_PIN_FILE_MAX);
    return KT_OK;
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

/*
 * Signals while echo is off, handled as OpenBSD's readpassphrase and sudo's tgetpass do:
 *
 * - Every catchable signal whose default action ends or stops the process is only noted by its
 *   handler. The read waits in ppoll with these signals blocked, so none slips in between a check
 *   and the wait. A noted signal puts the terminal back as it was (dropping what was typed),
 *   puts the program's own handlers back and is raised again: it then does what it would have
 *   done without the prompt. By default that ends the process, with echo on.
 * - SIGTSTP, SIGTTIN and SIGTTOU (Ctrl-Z; a background job touching the terminal) stop the
 *   process that way, with echo on. When it runs again (`fg`), echo is turned off again and the
 *   prompt is shown again; the PIN is typed again from its start.
 * - SIGCONT on its own (after a SIGSTOP, which no program can catch) does the same: the shell
 *   may have turned echo on while the process was stopped.
 * - Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT) cannot wait for the read
 *   loop: their handler puts the terminal back at once and lets the default action run.
 * - A signal the program ignores (nohup) stays ignored.
 */

static volatile sig_atomic_t noted[NSIG];
static volatile sig_atomic_t any_noted;

/* What the fault handler needs: set while our settings are in force. */
static volatile sig_atomic_t tty_fd = -1;
static volatile sig_atomic_t tty_is_quiet;
static struct termios tty_saved; /* the user's settings */

static struct sigaction old_action[NSIG];
static bool installed[NSIG];

struct tty {
    int fd;
    bool quiet;         /* our settings (echo off) are in force */
    bool handlers;      /* our handlers are installed */
    sigset_t orig_mask; /* the program's signal mask */
};

static bool is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP ||
           sig == SIGSYS || sig == SIGABRT;
}

static bool is_job_control(int sig)
{
    return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* The signals this file catches: all but the uncatchable and those ignored by default. */
static bool is_caught(int sig)
{
    return sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH;
}

static void note_signal(int sig)
{
    noted[sig] = 1;
    any_noted = 1;
}

static void restore_on_fault(int sig)
{
    int saved_errno = errno;

    if (tty_fd >= 0 && tty_is_quiet)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    /* SA_RESETHAND put the default action back: a fault happens again on return, and a signal
     * that was sent is raised again here. */
    raise(sig);
    errno = saved_errno;
}

/* The set of signals whose handler is ours. */
static void caught_set(sigset_t *set)
{
    sigemptyset(set);
    for (int sig = 1; sig < NSIG; sig++)
        if (installed[sig])
            sigaddset(set, sig);
}

static void install_handlers(struct tty *t)
{
    struct sigaction note, fault;

    memset(&note, 0, sizeof note);
    note.sa_handler = note_signal; /* no SA_RESTART: a blocked call returns EINTR */
    sigemptyset(&note.sa_mask);
    memset(&fault, 0, sizeof fault);
    fault.sa_handler = restore_on_fault;
    fault.sa_flags = SA_RESETHAND;
    sigemptyset(&fault.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        installed[sig] = false;
        if (!is_caught(sig) || sigaction(sig, NULL, &old_action[sig]) != 0)
            continue; /* glibc keeps a few real-time signals for itself */
        if (!(old_action[sig].sa_flags & SA_SIGINFO) && old_action[sig].sa_handler == SIG_IGN)
            continue;
        installed[sig] = sigaction(sig, is_fault(sig) ? &fault : &note, NULL) == 0;
    }
    t->handlers = true;
}

static void remove_handlers(struct tty *t)
{
    for (int sig = 1; sig < NSIG; sig++) {
        if (installed[sig])
            sigaction(sig, &old_action[sig], NULL);
        installed[sig] = false;
    }
    t->handlers = false;
}

/* Puts the user's settings back, dropping unread type-ahead (a half-typed PIN must not reach the
 * shell). Our signals are blocked meanwhile, so this works from the background too. */
static void tty_loud(struct tty *t)
{
    sigset_t set, before;

    if (!t->quiet)
        return;
    caught_set(&set);
    sigaddset(&set, SIGTTOU);
    sigprocmask(SIG_BLOCK, &set, &before);
    while (tcsetattr(t->fd, TCSAFLUSH, &tty_saved) != 0 && errno == EINTR)
        ;
    tty_is_quiet = 0;
    t->quiet = false;
    sigprocmask(SIG_SETMASK, &before, NULL);
}

/*
 * Turns echo off with the handlers in place. KT_OK with any_noted set when a signal came first:
 * in the background that is SIGTTOU, which the kernel sends instead of changing the terminal.
 */
static kt_rc tty_quiet(struct tty *t, kt_err *e)
{
    struct termios quiet, now;
    int err;

    if (!t->handlers)
        install_handlers(t);
    if (t->quiet)
        return KT_OK;
    if (!installed[SIGTTOU] && tcgetpgrp(t->fd) != getpgrp())
        return kt_fail(e, KT_EUSAGE,
                       "the terminal belongs to another job; bring this one to the foreground "
                       "(fg) to type the PIN");
    if (tcgetattr(t->fd, &tty_saved) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot read the terminal's settings");
    quiet = tty_saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    tty_is_quiet = 1;
    if (tcsetattr(t->fd, TCSAFLUSH, &quiet) != 0) {
        err = errno;
        tty_is_quiet = 0;
        if (err == EINTR && any_noted)
            return KT_OK;
        return kt_fail_errno(e, KT_EIO, err, "cannot turn off echo on the terminal");
    }
    t->quiet = true;
    /* tcsetattr succeeds when any of the changes took; echo off is the one that matters. */
    if (tcgetattr(t->fd, &now) != 0 || (now.c_lflag & ECHO) != 0)
        return kt_fail(e, KT_EIO, "cannot turn off echo on the terminal");
    return KT_OK;
}

/*
 * Acts on the noted signals: the terminal and the program's handlers are put back, then each
 * signal is raised again and delivered with the program's mask. A signal that ends the process
 * ends it here; a stop signal stops it here, and the call returns once it is continued. KT_OK
 * means "show the prompt again" (only job control was noted); a signal the program handles and
 * survives makes the PIN entry fail.
 */
static kt_rc deliver(struct tty *t, kt_err *e)
{
    sigset_t set;
    int other = 0;

    caught_set(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    tty_loud(t);
    remove_handlers(t);
    for (int sig = 1; sig < NSIG; sig++) {
        if (!noted[sig])
            continue;
        noted[sig] = 0;
        if (sig == SIGCONT)
            continue; /* it has done its work: the process runs */
        if (!is_job_control(sig))
            other = sig;
        raise(sig); /* pending until the mask below lets it through */
    }
    any_noted = 0;
    sigprocmask(SIG_SETMASK, &t->orig_mask, NULL);
    if (other != 0)
        return kt_fail(e, KT_EUSAGE, "PIN entry interrupted by signal %d (%s)", other,
                       strsignal(other));
    return KT_OK;
}

/* Writes s to the terminal. Stops early, with KT_OK, when a signal is noted. */
static kt_rc tty_write(const struct tty *t, const char *s, kt_err *e)
{
    size_t len = strlen(s);

    while (len > 0 && !any_noted) {
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

static kt_rc tty_open(struct tty *t, kt_err *e)
{
    memset(t, 0, sizeof *t);
    t->fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (t->fd < 0)
        return no_terminal(e);
    if (!isatty(t->fd)) {
        close(t->fd);
        return no_terminal(e);
    }
    sigprocmask(SIG_SETMASK, NULL, &t->orig_mask);
    for (int sig = 1; sig < NSIG; sig++)
        noted[sig] = 0;
    any_noted = 0;
    tty_fd = t->fd;
    return KT_OK;
}

/* Puts everything back; a signal noted after the last line was read is acted on now. */
static void tty_close(struct tty *t)
{
    kt_err ignored;

    if (deliver(t, &ignored) != KT_OK)
        kt_err_clear(&ignored);
    tty_fd = -1;
    close(t->fd);
    t->fd = -1;
}

/*
 * Reads one line into pin (len bytes kept, at most KT_PIN_MAX + 1 so that a PIN too long is
 * noticed; the rest of a long line is read and dropped). Our signals are blocked except while
 * ppoll waits; a noted signal ends the wait with KT_OK and any_noted set.
 */
static kt_rc tty_wait_line(struct tty *t, kt_secbuf *pin, size_t *len, bool *eof, kt_err *e)
{
    sigset_t set;
    char drop;
    kt_rc rc = KT_OK;

    *len = 0;
    *eof = false;
    caught_set(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    while (!any_noted) {
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        uint8_t *into = *len <= KT_PIN_MAX ? pin->p + *len : (uint8_t *)&drop;
        ssize_t n;

        if (ppoll(&pfd, 1, NULL, &t->orig_mask) < 0) {
            if (errno == EINTR)
                continue;
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot read the PIN from the terminal");
            break;
        }
        n = read(t->fd, into, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0 && errno == EIO && installed[SIGTTIN] && tcgetpgrp(t->fd) != getpgrp()) {
            /* Moved to the background between ppoll and read: what SIGTTIN would have done,
             * had it not been blocked here. */
            note_signal(SIGTTIN);
            continue;
        }
        if (n < 0) {
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot read the PIN from the terminal");
            break;
        }
        if (n == 0) {
            *eof = true;
            break;
        }
        if (*into == '\n') {
            *into = 0;
            break;
        }
        if (into != (uint8_t *)&drop)
            (*len)++;
    }
    kt_wipe(&drop, sizeof drop);
    sigprocmask(SIG_SETMASK, &t->orig_mask, NULL); /* our handlers note what came meanwhile */
    return rc;
}

/* True when the prompt already ends with ':' (and blanks): no second ": " is added. */
static bool ends_with_colon(const char *prompt)
{
    size_t n = strlen(prompt);

    while (n > 0 && prompt[n - 1] == ' ')
        n--;
    return n > 0 && prompt[n - 1] == ':';
}

/* Shows "<prompt>: " and reads one line into a new secure PIN, again after a stop. */
static kt_rc tty_read_line(struct tty *t, const char *prompt, kt_secbuf *pin, kt_err *e)
{
    size_t len = 0;
    bool eof = false;
    kt_rc rc = kt_secbuf_alloc(pin, KT_PIN_MAX + 2, e);

    if (rc != KT_OK)
        return rc;
    for (;;) {
        rc = tty_quiet(t, e);
        if (rc == KT_OK)
            rc = tty_write(t, prompt, e);
        if (rc == KT_OK)
            rc = tty_write(t, ends_with_colon(prompt) ? "" : ": ", e);
        if (rc == KT_OK && !any_noted)
            rc = tty_wait_line(t, pin, &len, &eof, e);
        if (rc != KT_OK || !any_noted)
            break;
        /* A signal: what was typed is dropped, the signal acted on, and the prompt shown again
         * if the process still runs. */
        kt_wipe(pin->p, pin->len);
        len = 0;
        if ((rc = deliver(t, e)) != KT_OK)
            break;
    }
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
        char what[PATH_MAX + 32];

        snprintf(what, sizeof what, "the PIN file '%s'", pin_file);
        rc = open_pin_file(pin_file, &fd, e);
        if (rc == KT_OK)
            rc = read_fd_whole(fd, what, &s->lines, e);
        if (fd >= 0)
            close(fd);
        if (rc != KT_OK)
            return rc;
        s->kind = PIN_FILE;
        return KT_OK;
    }
    if (pin_fd >= 0) {
        rc = read_fd_whole(pin_fd, "the --pin-fd input", &s->lines, e);
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
