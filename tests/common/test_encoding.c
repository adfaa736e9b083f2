/*
 * test_encoding.c - hex, grouped hex, base64url (RFC 4648 §10 vectors in the url-safe unpadded
 * alphabet) with its refusals, SHA-256 known answers and ISO 8601 time stamps.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "kt.h"

static void init(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(encoding, .init = init);

/* ------------------------------------------------------------------------------------------ */
/* Hex                                                                                         */
/* ------------------------------------------------------------------------------------------ */

Test(encoding, hex_round_trip)
{
    uint8_t in[256], back[256];
    char hex[513];
    kt_err e;

    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    kt_hex(hex, in, sizeof in);
    cr_assert_eq(strlen(hex), 512);
    cr_assert(strncmp(hex, "000102030405060708090a0b0c0d0e0f10", 34) == 0);
    cr_assert_str_eq(hex + 500, "fafbfcfdfeff");
    cr_assert_eq(kt_unhex(back, sizeof back, hex, &e), KT_OK, "%s", e.msg);
    cr_assert_arr_eq(back, in, sizeof in);
}

Test(encoding, hex_of_nothing_is_empty)
{
    char hex[1] = {'x'};

    kt_hex(hex, (const uint8_t *)"", 0);
    cr_assert_str_eq(hex, "");
}

Test(encoding, unhex_accepts_either_case)
{
    uint8_t out[4];
    kt_err e;

    cr_assert_eq(kt_unhex(out, 4, "DeadBEEF", &e), KT_OK, "%s", e.msg);
    cr_assert_arr_eq(out, ((uint8_t[]){0xde, 0xad, 0xbe, 0xef}), 4);
}

Test(encoding, unhex_refuses_anything_else)
{
    static const char *const bad[] = {
        "deadbee",    /* odd length */
        "deadbe",     /* too short */
        "deadbeef00", /* too long */
        "deadbeeg",   /* bad digit */
        "dead beef",  /* separator */
        "de:ad:be:ef", " deadbeef", "deadbeef\n", "0xdeadbe", "",
    };
    uint8_t out[4];
    kt_err e;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(kt_unhex(out, 4, bad[i], &e), KT_EFORMAT, "'%s' was accepted", bad[i]);
        cr_assert_eq(e.rc, KT_EFORMAT);
    }
    cr_assert(strstr(e.msg, "expected 8 hex digits") != NULL, "%s", e.msg);
}

Test(encoding, unhex_of_zero_bytes)
{
    uint8_t out[1];
    kt_err e;

    cr_assert_eq(kt_unhex(out, 0, "", &e), KT_OK);
    cr_assert_eq(kt_unhex(out, 0, "00", &e), KT_EFORMAT);
}

Test(encoding, hex_groups_as_vendors_publish_them)
{
    uint8_t h[32];
    char out[80];

    kt_sha256(h, "abc", 3);
    kt_hex_groups(out, sizeof out, h, sizeof h);
    cr_assert_str_eq(out,
                     "BA7816BF 8F01CFEA 414140DE 5DAE2223 B00361A3 96177A9C B410FF61 F20015AD");
    kt_hex_groups(out, sizeof out, (const uint8_t *)"\x01\x02\x03\x04\xab", 5);
    cr_assert_str_eq(out, "01020304 AB");
    kt_hex_groups(out, sizeof out, h, 0);
    cr_assert_str_eq(out, "");
}

Test(encoding, hex_groups_truncate_safely)
{
    uint8_t h[32];
    char out[12];

    memset(h, 0x11, sizeof h);
    memset(out, 'z', sizeof out);
    kt_hex_groups(out, sizeof out, h, sizeof h);
    cr_assert_str_eq(out, "11111111 11");
    kt_hex_groups(out, 1, h, sizeof h);
    cr_assert_str_eq(out, "");
}

/* ------------------------------------------------------------------------------------------ */
/* base64url                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* RFC 4648 §10, padding dropped (the url-safe alphabet agrees with the standard one here). */
static const struct {
    const char *plain, *b64;
} rfc4648[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

Test(encoding, b64url_rfc4648_vectors_encode)
{
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        char *out = NULL;
        kt_err e;

        cr_assert_eq(
            kt_b64url_encode((const uint8_t *)rfc4648[i].plain, strlen(rfc4648[i].plain), &out, &e),
            KT_OK);
        cr_assert_str_eq(out, rfc4648[i].b64);
        free(out);
    }
}

Test(encoding, b64url_rfc4648_vectors_decode)
{
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        kt_buf b = {NULL, 0};
        kt_err e;
        size_t n = strlen(rfc4648[i].plain);

        cr_assert_eq(kt_b64url_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), &b, &e), KT_OK,
                     "%s: %s", rfc4648[i].b64, e.msg);
        cr_assert_eq(b.len, n);
        cr_assert(n == 0 || memcmp(b.p, rfc4648[i].plain, n) == 0);
        kt_buf_free(&b);
    }
}

Test(encoding, b64url_uses_the_url_safe_alphabet)
{
    static const uint8_t raw[] = {0xfb, 0xff};
    char *out = NULL;
    kt_buf b = {NULL, 0};
    kt_err e;

    cr_assert_eq(kt_b64url_encode(raw, sizeof raw, &out, &e), KT_OK);
    cr_assert_str_eq(out, "-_8");
    cr_assert_eq(kt_b64url_decode(out, strlen(out), &b, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(b.len, sizeof raw);
    cr_assert_arr_eq(b.p, raw, sizeof raw);
    kt_buf_free(&b);
    free(out);
    /* The same bytes in the standard alphabet are refused. */
    cr_assert_eq(kt_b64url_decode("+/8", 3, &b, &e), KT_EFORMAT);
    cr_assert_null(b.p);
}

Test(encoding, b64url_round_trips_every_length)
{
    uint8_t data[64];

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof data; n++) {
        char *s = NULL;
        kt_buf b = {NULL, 0};
        kt_err e;

        cr_assert_eq(kt_b64url_encode(data, n, &s, &e), KT_OK);
        cr_assert_eq(kt_b64url_decode(s, strlen(s), &b, &e), KT_OK, "%zu: %s", n, e.msg);
        cr_assert_eq(b.len, n);
        cr_assert(n == 0 || memcmp(b.p, data, n) == 0);
        kt_buf_free(&b);
        free(s);
    }
}

Test(encoding, b64url_refuses_non_canonical_input)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"Zg==", 4},    /* padding */
        {"Zg=", 3},     /* partial padding */
        {"Zm9v+", 5},   /* standard alphabet */
        {"Zm9v/w", 6},  /* standard alphabet */
        {"Zm9v Yg", 7}, /* whitespace */
        {"Zm9v\nYg", 7}, {"Zm9vYg\n", 7},
        {" Zm9v", 5},    {"Zm9vY", 5}, /* a length no encoding has */
        {"Z", 1},        {"Zh", 2},    /* "f" is "Zg": non-zero bits after the last byte */
        {"AB", 2},                     /* 0x00 is "AA" */
        {"AAB", 3},                    /* 0x00 0x00 is "AAA" */
        {"Zg\0", 3},                   /* an embedded NUL counted in the length */
        {"Z\0g", 3},     {"Zm9v\xc3\xa9", 6},
    };
    kt_err e;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kt_buf b = {NULL, 0};

        cr_assert_eq(kt_b64url_decode(bad[i].s, bad[i].len, &b, &e), KT_EFORMAT, "case %zu", i);
        cr_assert_null(b.p);
    }
}

Test(encoding, b64url_canonical_twins_are_accepted)
{
    static const char *const good[] = {"AA", "AAA", "Zg", "AAE"};
    kt_err e;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        kt_buf b = {NULL, 0};

        cr_assert_eq(kt_b64url_decode(good[i], strlen(good[i]), &b, &e), KT_OK, "%s: %s", good[i],
                     e.msg);
        kt_buf_free(&b);
    }
}

Test(encoding, b64url_decodes_only_inlen_bytes)
{
    kt_buf b = {NULL, 0};
    kt_err e;

    /* A longer string is fine when only the counted part is decoded. */
    cr_assert_eq(kt_b64url_decode("Zm9v!!!", 4, &b, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.p, "foo", 3), 0);
    kt_buf_free(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* SHA-256 and time                                                                            */
/* ------------------------------------------------------------------------------------------ */

Test(encoding, sha256_known_answers)
{
    /* FIPS 180-2 Appendix B.1 and the empty string. */
    uint8_t h[32];
    char hex[65];

    kt_sha256(h, "abc", 3);
    kt_hex(hex, h, sizeof h);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    kt_sha256(h, "", 0);
    kt_hex(hex, h, sizeof h);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    kt_sha256(h, "abd", 3);
    kt_hex(hex, h, sizeof h);
    cr_assert_str_neq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(encoding, time_iso8601)
{
    char out[32];

    kt_time_iso8601(out, sizeof out, 0);
    cr_assert_str_eq(out, "1970-01-01T00:00:00Z");
    kt_time_iso8601(out, sizeof out, 1700000000);
    cr_assert_str_eq(out, "2023-11-14T22:13:20Z");
    kt_time_iso8601(out, 21, UINT64_C(253402300799));
    cr_assert_str_eq(out, "9999-12-31T23:59:59Z");
    kt_time_iso8601(out, sizeof out, UINT64_C(253402300800));
    cr_assert_str_eq(out, "", "years past 9999 do not fit the format");
    kt_time_iso8601(out, 20, 0);
    cr_assert_str_eq(out, "", "a buffer too small gives the empty string");
}

Test(quote, printable_kept_others_replaced_long_text_cut)
{
    char out[8], tiny[3], big[KT_QUOTE_SIZE];
    char long_text[200];

    cr_expect_str_eq(kt_quote(out, sizeof out, "ab\ncd", 5), "ab?cd");
    cr_expect_str_eq(kt_quote(out, sizeof out, "\x1b[2Jx\xc3\xa9", 7), "?[2Jx??");
    cr_expect_str_eq(kt_quote(out, sizeof out, "abcdefg", 7), "abcdefg", "7 fit in 8");
    cr_expect_str_eq(kt_quote(out, sizeof out, "abcdefgh", 8), "abcd...");
    cr_expect_str_eq(kt_quote(out, sizeof out, "a\0b", 3), "a?b", "a NUL inside is shown");
    cr_expect_str_eq(kt_quote(tiny, sizeof tiny, "abcdef", 6), "", "no room for a cut mark");
    memset(long_text, 'x', sizeof long_text);
    kt_quote(big, sizeof big, long_text, sizeof long_text);
    cr_expect_eq(strlen(big), KT_QUOTE_SIZE - 1);
    cr_expect_str_eq(big + KT_QUOTE_SIZE - 4, "...");
}
