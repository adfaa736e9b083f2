/*
 * error.c - the error table (name, generic message and exit status of every kt_rc) and the
 * functions that fill a kt_err: plain, with the errno text, or with the drained OpenSSL error
 * queue. Messages are truncated safely (marked with "...") when they do not fit.
 */
#include "kt.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static const struct {
    const char *name;
    const char *message;
    int exit_status;
} table[KT_RC_COUNT] = {
    [KT_OK] = {"KT_OK", "success", KT_EXIT_OK},
    [KT_EUSAGE] = {"KT_EUSAGE", "bad command line", KT_EXIT_USAGE},
    [KT_EDENIED] = {"KT_EDENIED", "a check refused the operation", KT_EXIT_DENIED},
    [KT_EPIN] = {"KT_EPIN", "wrong PIN or damaged card", KT_EXIT_DENIED},
    [KT_EQUORUM] = {"KT_EQUORUM", "fewer cards than the quorum", KT_EXIT_DENIED},
    [KT_EFORMAT] = {"KT_EFORMAT", "malformed input", KT_EXIT_FORMAT},
    [KT_ETOOBIG] = {"KT_ETOOBIG", "input over a size limit", KT_EXIT_FORMAT},
    [KT_EVERSION] = {"KT_EVERSION", "unknown format version", KT_EXIT_FORMAT},
    [KT_EEXIST] = {"KT_EEXIST", "the target exists", KT_EXIT_IO},
    [KT_ENOENT] = {"KT_ENOENT", "no such file or folder", KT_EXIT_IO},
    [KT_EIO] = {"KT_EIO", "reading or writing failed", KT_EXIT_IO},
    [KT_ECRYPTO] = {"KT_ECRYPTO", "the crypto backend failed", KT_EXIT_CRYPTO},
    [KT_ENOMEM] = {"KT_ENOMEM", "out of memory", KT_EXIT_CRYPTO},
};

static bool is_known(kt_rc rc)
{
    return (unsigned)rc < (unsigned)KT_RC_COUNT;
}

const char *kt_rc_name(kt_rc rc)
{
    return is_known(rc) ? table[rc].name : "KT_E_UNKNOWN";
}

const char *kt_rc_message(kt_rc rc)
{
    return is_known(rc) ? table[rc].message : "unknown error";
}

int kt_rc_exit(kt_rc rc)
{
    /* An unknown code is a bug of ours: report it as "something broke", never as success. */
    return is_known(rc) ? table[rc].exit_status : KT_EXIT_CRYPTO;
}

void kt_err_clear(kt_err *e)
{
    if (e == NULL)
        return;
    e->rc = KT_OK;
    e->msg[0] = '\0';
}

/* Marks a message cut at KT_ERR_MSG_MAX with "...", never leaving half a UTF-8 sequence. */
static void mark_truncated(char *msg)
{
    size_t pos = KT_ERR_MSG_MAX - 4;

    while (pos > 0 && ((unsigned char)msg[pos] & 0xC0) == 0x80)
        pos--;
    memcpy(msg + pos, "...", 4);
}

/* vsnprintf into a KT_ERR_MSG_MAX buffer, marking a truncated message. */
__attribute__((format(printf, 2, 0))) static void format_msg(char *out, const char *fmt, va_list ap)
{
    int n = vsnprintf(out, KT_ERR_MSG_MAX, fmt, ap);

    if (n < 0)
        snprintf(out, KT_ERR_MSG_MAX, "(unformattable message)");
    else if ((size_t)n >= KT_ERR_MSG_MAX)
        mark_truncated(out);
}

/* Appends s to msg (a KT_ERR_MSG_MAX buffer holding a string), truncating safely. */
static void append(char *msg, const char *s)
{
    size_t have = strlen(msg);
    size_t add = strlen(s);

    if (have >= KT_ERR_MSG_MAX - 1) {
        if (add > 0)
            mark_truncated(msg);
        return;
    }
    if (add > KT_ERR_MSG_MAX - 1 - have) {
        memcpy(msg + have, s, KT_ERR_MSG_MAX - 1 - have);
        msg[KT_ERR_MSG_MAX - 1] = '\0';
        mark_truncated(msg);
        return;
    }
    memcpy(msg + have, s, add + 1);
}

kt_rc kt_fail(kt_err *e, kt_rc rc, const char *fmt, ...)
{
    va_list ap;
    char tmp[KT_ERR_MSG_MAX];

    if (e == NULL)
        return rc;
    /* Formatted into a copy first: the arguments may point into e->msg. */
    va_start(ap, fmt);
    format_msg(tmp, fmt, ap);
    va_end(ap);
    memcpy(e->msg, tmp, sizeof tmp);
    e->rc = rc;
    return rc;
}

kt_rc kt_fail_errno(kt_err *e, kt_rc rc, int errnum, const char *fmt, ...)
{
    va_list ap;
    char tmp[KT_ERR_MSG_MAX];
    char errbuf[256];
    const char *errtext;

    if (e == NULL)
        return rc;
    va_start(ap, fmt);
    format_msg(tmp, fmt, ap);
    va_end(ap);
    errtext = strerror_r(errnum, errbuf, sizeof errbuf); /* the GNU variant */
    append(tmp, ": ");
    append(tmp, errtext);
    memcpy(e->msg, tmp, sizeof tmp);
    e->rc = rc;
    return rc;
}

kt_rc kt_fail_ssl(kt_err *e, kt_rc rc, const char *fmt, ...)
{
    va_list ap;
    char tmp[KT_ERR_MSG_MAX];
    char line[256];
    const char *data;
    int flags;
    unsigned long code;
    bool first = true;

    if (e == NULL) {
        ERR_clear_error();
        return rc;
    }
    va_start(ap, fmt);
    format_msg(tmp, fmt, ap);
    va_end(ap);
    while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        ERR_error_string_n(code, line, sizeof line);
        append(tmp, first ? ": " : "; ");
        append(tmp, line);
        if ((flags & ERR_TXT_STRING) != 0 && data != NULL && data[0] != '\0') {
            append(tmp, " (");
            append(tmp, data);
            append(tmp, ")");
        }
        first = false;
    }
    ERR_clear_error();
    memcpy(e->msg, tmp, sizeof tmp);
    e->rc = rc;
    return rc;
}

void kt_err_prefix(kt_err *e, const char *fmt, ...)
{
    va_list ap;
    char tmp[KT_ERR_MSG_MAX];

    if (e == NULL)
        return;
    va_start(ap, fmt);
    format_msg(tmp, fmt, ap);
    va_end(ap);
    append(tmp, ": ");
    append(tmp, e->msg);
    memcpy(e->msg, tmp, sizeof tmp);
}
