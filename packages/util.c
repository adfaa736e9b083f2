/*
 * util.c - small helpers shared inside packages/ (packages_internal.h): character classes, strict
 * lower-case hex, strict standard base64 (the x5c encoding of RFC 7515 §4.1.6, through libsodium's
 * constant-time codec), the UTC time stamps of the payloads and the look-ups in a cloud's table
 * of wrappings.
 */
#include "packages_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <sodium.h>

bool pkg_is_printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    }
    return true;
}

static bool is_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool pkg_is_alnum_or(const char *s, const char *extra)
{
    for (; *s != '\0'; s++) {
        if (!is_alnum(*s) && strchr(extra, *s) == NULL)
            return false;
    }
    return true;
}

kt_rc pkg_unhex_lower(uint8_t *out, size_t n, const char *hex, const char *what, kt_err *e)
{
    size_t len = strnlen(hex, 2 * n + 1);

    if (len != 2 * n)
        return kt_fail(e, KT_EFORMAT, "%s must be %zu lower-case hex digits, not %s%zu characters",
                       what, 2 * n, len > 2 * n ? "more than " : "", len > 2 * n ? 2 * n : len);
    for (size_t i = 0; i < len; i++) {
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return kt_fail(e, KT_EFORMAT,
                           "%s must be lower-case hex digits; character %zu is not one", what,
                           i + 1);
    }
    return kt_unhex(out, n, hex, e);
}

kt_rc pkg_b64std_encode(const uint8_t *in, size_t n, char **out, kt_err *e)
{
    size_t outlen;

    *out = NULL;
    if (n > SIZE_MAX / 4 * 3 - 3)
        return kt_fail(e, KT_ETOOBIG, "value too long for base64");
    outlen = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    *out = malloc(outlen);
    if (*out == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    sodium_bin2base64(*out, outlen, in, n, sodium_base64_VARIANT_ORIGINAL);
    return KT_OK;
}

static bool is_b64std_char(char c)
{
    return is_alnum(c) || c == '+' || c == '/';
}

kt_rc pkg_b64std_decode(const char *in, size_t inlen, size_t max, kt_buf *out, kt_err *e)
{
    size_t cap, binlen = 0, pad = 0;
    uint8_t *p;

    out->p = NULL;
    out->len = 0;
    if (inlen == 0 || inlen % 4 != 0)
        return kt_fail(e, KT_EFORMAT,
                       "not standard base64: %zu characters (padded base64 is a multiple of 4)",
                       inlen);
    if (inlen / 4 * 3 > max + 2)
        return kt_fail(e, KT_ETOOBIG, "base64 value of %zu characters; the limit is %zu bytes",
                       inlen, max);
    while (pad < 2 && in[inlen - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < inlen - pad; i++) {
        if (in[i] == '-' || in[i] == '_')
            return kt_fail(e, KT_EFORMAT,
                           "not standard base64: character %zu is base64url ('-' or '_'); x5c "
                           "takes standard base64 (RFC 7515 §4.1.6)",
                           i + 1);
        if (!is_b64std_char(in[i]))
            return kt_fail(e, KT_EFORMAT, "not standard base64: character %zu", i + 1);
    }
    cap = inlen / 4 * 3;
    p = malloc(cap);
    if (p == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    /* No ignore set, no end pointer: libsodium refuses anything not consumed in full, missing
     * or extra padding and non-zero bits after the last byte. */
    if (sodium_base642bin(p, cap, in, inlen, NULL, &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        binlen > max) {
        free(p);
        return kt_fail(e, KT_EFORMAT, "not standard base64: wrong padding or bits beyond the data");
    }
    out->p = p;
    out->len = binlen;
    return KT_OK;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (civil-from-days inverse). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

kt_rc pkg_time_format(uint64_t t, char out[21], kt_err *e)
{
    out[0] = '\0';
    if (t > UINT64_C(253402300799))
        return kt_fail(e, KT_EUSAGE, "time %llu is after the year 9999", (unsigned long long)t);
    kt_time_iso8601(out, 21, t);
    if (strlen(out) != 20)
        return kt_fail(e, KT_EUSAGE, "cannot format time %llu", (unsigned long long)t);
    return KT_OK;
}

/* n decimal digits at s into *v. */
static bool digits(const char *s, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

kt_rc pkg_time_parse(const char *s, const char *what, uint64_t *t, kt_err *e)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec;

    *t = 0;
    if (strnlen(s, 21) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
        !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
        !digits(s + 17, 2, &sec))
        return kt_fail(e, KT_EFORMAT, "%s must be a UTC time written YYYY-MM-DDThh:mm:ssZ", what);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && is_leap(y) ? 1u : 0u) || h > 23 || mi > 59 || sec > 59)
        return kt_fail(e, KT_EFORMAT, "%s is not a real time from 1970 on", what);
    *t = (uint64_t)days_from_civil(y, mo, d) * 86400u + h * 3600u + mi * 60u + sec;
    return KT_OK;
}

kt_rc pkg_region_check(const char *region, const char *what, kt_err *e)
{
    size_t n = strnlen(region, PKG_REGION_MAX + 1);

    if (n == 0 || n > PKG_REGION_MAX)
        return kt_fail(e, KT_EFORMAT, "%s must be 1 to %d characters", what, PKG_REGION_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!((region[i] >= 'A' && region[i] <= 'Z') || (region[i] >= '0' && region[i] <= '9')))
            return kt_fail(e, KT_EFORMAT,
                           "%s may hold only upper-case letters and digits (e.g. NA, EU, USGOV)",
                           what);
    }
    return KT_OK;
}

kt_rc pkg_esn_check(const char *esn, const char *what, kt_err *e)
{
    if (strnlen(esn, PKG_ESN_LEN + 1) != PKG_ESN_LEN)
        goto bad;
    for (size_t i = 0; i < PKG_ESN_LEN; i++) {
        char c = esn[i];

        if (i == 4 || i == 9) {
            if (c != '-')
                goto bad;
        } else if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
            goto bad;
        }
    }
    return KT_OK;
bad:
    return kt_fail(e, KT_EFORMAT,
                   "%s must be a module ESN written XXXX-XXXX-XXXX in upper-case hex", what);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool pkg_equal_nocase(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (lower(*a) != lower(*b))
            return false;
    }
    return *a == *b;
}

bool pkg_is_p384(const EVP_PKEY *k)
{
    char group[64];
    size_t len = 0;

    if (k == NULL || !EVP_PKEY_is_a(k, "EC"))
        return false;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
        1) {
        ERR_clear_error();
        return false;
    }
    return strcmp(group, "secp384r1") == 0;
}

const pkg_wrapping *pkg_wrapping_by_id(const pkg_wrapping *t, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].id == id)
            return &t[i];
    return NULL;
}

const pkg_wrapping *pkg_wrapping_by_name(const pkg_wrapping *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, t[i].name) == 0)
            return &t[i];
    return NULL;
}

const char *pkg_wrapping_name(const pkg_wrapping *t, size_t n, int id)
{
    const pkg_wrapping *x = pkg_wrapping_by_id(t, n, id);
    return x != NULL ? x->name : "?";
}

pkg_oaep_hash pkg_wrapping_hash(const pkg_wrapping *t, size_t n, int id)
{
    const pkg_wrapping *x = pkg_wrapping_by_id(t, n, id);
    return x != NULL ? x->hash : PKG_OAEP_SHA256;
}

bool pkg_wrapping_is_direct(const pkg_wrapping *t, size_t n, int id)
{
    const pkg_wrapping *x = pkg_wrapping_by_id(t, n, id);
    return x != NULL && x->direct;
}
