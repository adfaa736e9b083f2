/*
 * test_error.c - the error table and the kt_fail family: every code named and mapped to the exit
 * status docs/design.md §6 gives it, messages formatted, errno and OpenSSL texts appended,
 * prefixes, and safe truncation of long messages.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "kt.h"

static const struct {
    kt_rc rc;
    const char *name;
    int exit_status;
} expected[] = {
    {KT_OK, "KT_OK", 0},           {KT_EUSAGE, "KT_EUSAGE", 2},     {KT_EDENIED, "KT_EDENIED", 1},
    {KT_EPIN, "KT_EPIN", 1},       {KT_EQUORUM, "KT_EQUORUM", 1},   {KT_EFORMAT, "KT_EFORMAT", 3},
    {KT_ETOOBIG, "KT_ETOOBIG", 3}, {KT_EVERSION, "KT_EVERSION", 3}, {KT_EEXIST, "KT_EEXIST", 4},
    {KT_ENOENT, "KT_ENOENT", 4},   {KT_EIO, "KT_EIO", 4},           {KT_ECRYPTO, "KT_ECRYPTO", 5},
    {KT_ENOMEM, "KT_ENOMEM", 5},
};

/* True when s is well-formed UTF-8 (no sequence cut in half). */
static bool is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        int more = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : 3;

        if ((*p & 0xC0) == 0x80 || (*p & 0xF8) == 0xF8)
            return false;
        p++;
        for (int i = 0; i < more; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return false;
        }
    }
    return true;
}

Test(error, table_covers_every_code_with_the_documented_exit_status)
{
    cr_assert_eq(sizeof expected / sizeof expected[0], (size_t)KT_RC_COUNT,
                 "the test table misses a code");
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        kt_rc rc = expected[i].rc;

        cr_assert_eq((size_t)rc, i);
        cr_assert_str_eq(kt_rc_name(rc), expected[i].name);
        cr_assert_not_null(kt_rc_message(rc));
        cr_assert_gt(strlen(kt_rc_message(rc)), 0);
        cr_assert_eq(kt_rc_exit(rc), expected[i].exit_status, "%s", expected[i].name);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(kt_rc_message(rc), kt_rc_message(expected[j].rc));
    }
}

Test(error, unknown_code_is_named_and_never_exits_zero)
{
    kt_rc bogus = (kt_rc)(KT_RC_COUNT + 7);

    cr_assert_not_null(kt_rc_name(bogus));
    cr_assert_not_null(kt_rc_message(bogus));
    cr_assert_neq(kt_rc_exit(bogus), 0);
    cr_assert_neq(kt_rc_exit((kt_rc)-1), 0);
}

Test(error, fail_formats_and_returns_the_code)
{
    kt_err e;

    kt_err_clear(&e);
    cr_assert_eq(kt_fail(&e, KT_EFORMAT, "card %d of %s", 2, "world"), KT_EFORMAT);
    cr_assert_eq(e.rc, KT_EFORMAT);
    cr_assert_str_eq(e.msg, "card 2 of world");
    kt_err_clear(&e);
    cr_assert_eq(e.rc, KT_OK);
    cr_assert_str_eq(e.msg, "");
}

Test(error, fail_without_a_report_still_returns_the_code)
{
    cr_assert_eq(kt_fail(NULL, KT_EPIN, "x %d", 1), KT_EPIN);
    cr_assert_eq(kt_fail_errno(NULL, KT_EIO, ENOENT, "y"), KT_EIO);
    cr_assert_eq(kt_fail_ssl(NULL, KT_ECRYPTO, "z"), KT_ECRYPTO);
    kt_err_prefix(NULL, "nothing");
    kt_err_clear(NULL);
}

Test(error, fail_errno_appends_the_errno_text)
{
    kt_err e;

    cr_assert_eq(kt_fail_errno(&e, KT_EIO, ENOENT, "cannot open '%s'", "a.bin"), KT_EIO);
    cr_assert_str_eq(e.msg, "cannot open 'a.bin': No such file or directory");
    cr_assert_eq(kt_fail_errno(&e, KT_EIO, EACCES, "cannot open '%s'", "a.bin"), KT_EIO);
    cr_assert_str_eq(e.msg, "cannot open 'a.bin': Permission denied");
}

Test(error, fail_ssl_drains_the_queue_into_the_message)
{
    static const unsigned char garbage[] = {0x30, 0x82, 0xff, 0xff, 0x01};
    const unsigned char *p = garbage;
    kt_err e;

    ERR_clear_error();
    cr_assert_null(d2i_X509(NULL, &p, (long)sizeof garbage));
    cr_assert_neq(ERR_peek_error(), 0UL, "OpenSSL queued no error to test with");
    cr_assert_eq(kt_fail_ssl(&e, KT_ECRYPTO, "cannot parse the certificate"), KT_ECRYPTO);
    cr_assert(strncmp(e.msg, "cannot parse the certificate: error:", 36) == 0, "%s", e.msg);
    cr_assert_eq(ERR_peek_error(), 0UL, "the queue must be left empty");
}

Test(error, fail_ssl_with_an_empty_queue_is_just_the_message)
{
    kt_err e;

    ERR_clear_error();
    cr_assert_eq(kt_fail_ssl(&e, KT_ECRYPTO, "signing failed"), KT_ECRYPTO);
    cr_assert_str_eq(e.msg, "signing failed");
}

Test(error, prefix_prepends_context)
{
    kt_err e;

    cr_assert_eq(kt_fail(&e, KT_EPIN, "wrong PIN"), KT_EPIN);
    kt_err_prefix(&e, "card %d", 2);
    cr_assert_str_eq(e.msg, "card 2: wrong PIN");
    cr_assert_eq(e.rc, KT_EPIN, "a prefix keeps the code");
}

Test(error, message_may_be_built_from_itself)
{
    kt_err e;

    cr_assert_eq(kt_fail(&e, KT_EIO, "inner"), KT_EIO);
    cr_assert_eq(kt_fail(&e, KT_EIO, "outer (%s)", e.msg), KT_EIO);
    cr_assert_str_eq(e.msg, "outer (inner)");
    kt_err_prefix(&e, "%s", e.msg);
    cr_assert_str_eq(e.msg, "outer (inner): outer (inner)");
}

Test(error, long_messages_are_truncated_and_marked)
{
    static char long_arg[3 * KT_ERR_MSG_MAX];
    kt_err e;

    memset(long_arg, 'x', sizeof long_arg - 1);
    cr_assert_eq(kt_fail(&e, KT_EFORMAT, "%s", long_arg), KT_EFORMAT);
    cr_assert_eq(strlen(e.msg), KT_ERR_MSG_MAX - 1);
    cr_assert_str_eq(e.msg + KT_ERR_MSG_MAX - 4, "...");

    cr_assert_eq(kt_fail_errno(&e, KT_EIO, ENOENT, "%s", long_arg), KT_EIO);
    cr_assert_eq(strlen(e.msg), KT_ERR_MSG_MAX - 1);
    cr_assert_str_eq(e.msg + KT_ERR_MSG_MAX - 4, "...");

    cr_assert_eq(kt_fail(&e, KT_EFORMAT, "short"), KT_EFORMAT);
    kt_err_prefix(&e, "%s", long_arg);
    cr_assert_eq(strlen(e.msg), KT_ERR_MSG_MAX - 1);
    cr_assert_str_eq(e.msg + KT_ERR_MSG_MAX - 4, "...");
}

Test(error, short_messages_are_not_marked)
{
    kt_err e;
    char exact[KT_ERR_MSG_MAX];

    memset(exact, 'y', sizeof exact - 1);
    exact[sizeof exact - 1] = '\0';
    cr_assert_eq(kt_fail(&e, KT_EFORMAT, "%s", exact), KT_EFORMAT);
    cr_assert_str_eq(e.msg, exact, "a message that just fits is kept whole");
}

Test(error, truncation_never_cuts_a_utf8_character)
{
    /* "é" is two bytes; shift by one so the cut would fall inside a character. */
    static char arg[2 * KT_ERR_MSG_MAX];
    kt_err e;

    for (int shift = 0; shift < 4; shift++) {
        size_t i = 0;

        for (; i < (size_t)shift; i++)
            arg[i] = 'a';
        for (; i + 2 < sizeof arg; i += 2)
            memcpy(arg + i, "\xc3\xa9", 2);
        arg[i] = '\0';
        cr_assert_eq(kt_fail(&e, KT_EFORMAT, "%s", arg), KT_EFORMAT);
        cr_assert(is_utf8(e.msg), "shift %d cut a character", shift);
        cr_assert_str_eq(e.msg + strlen(e.msg) - 3, "...");
    }
}
