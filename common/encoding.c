/*
 * encoding.c - hex (plain and in the 8-digit groups vendors publish hashes in), strict unpadded
 * base64url, SHA-256, ISO 8601 time stamps and the quoting of untrusted text for messages. Decoders
 * accept exactly one spelling of a value: no separators, padding, whitespace or stray bits.
 * Messages give positions, never the input, which may be secret.
 */
#include "kt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

void kt_hex(char *out, const uint8_t *in, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

static bool is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

kt_rc kt_unhex(uint8_t *out, size_t outlen, const char *in, kt_err *e)
{
    size_t want, have, binlen = 0;

    if (outlen > SIZE_MAX / 2 - 1)
        return kt_fail(e, KT_ETOOBIG, "hex value too long");
    want = 2 * outlen;
    have = strnlen(in, want + 1);
    if (have != want)
        return kt_fail(e, KT_EFORMAT, "expected %zu hex digits, found %s%zu", want,
                       have > want ? "more than " : "", have > want ? want : have);
    for (size_t i = 0; i < want; i++) {
        if (!is_hex_digit(in[i]))
            return kt_fail(e, KT_EFORMAT, "not hex: character %zu is not a hex digit", i + 1);
    }
    if (sodium_hex2bin(out, outlen, in, want, NULL, &binlen, NULL) != 0 || binlen != outlen) {
        kt_wipe(out, outlen);
        return kt_fail(e, KT_EFORMAT, "not hex");
    }
    return KT_OK;
}

void kt_hex_groups(char *out, size_t outsz, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;

    if (outsz == 0)
        return;
    for (size_t i = 0; i < 2 * n; i++) {
        if (i > 0 && i % 8 == 0) {
            if (o + 1 >= outsz)
                break;
            out[o++] = ' ';
        }
        if (o + 1 >= outsz)
            break;
        out[o++] = digits[(i % 2 == 0 ? in[i / 2] >> 4 : in[i / 2]) & 0x0F];
    }
    out[o] = '\0';
}

kt_rc kt_b64url_encode(const uint8_t *in, size_t n, char **out, kt_err *e)
{
    size_t outlen;

    *out = NULL;
    if (n > SIZE_MAX / 4 * 3 - 3)
        return kt_fail(e, KT_ETOOBIG, "value too long for base64url");
    outlen = sodium_base64_ENCODED_LEN(n, B64_VARIANT); /* including the NUL */
    *out = malloc(outlen);
    if (*out == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    sodium_bin2base64(*out, outlen, in, n, B64_VARIANT);
    return KT_OK;
}

static bool is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

kt_rc kt_b64url_decode(const char *in, size_t inlen, kt_buf *out, kt_err *e)
{
    size_t cap, binlen = 0;
    uint8_t *p;

    out->p = NULL;
    out->len = 0;
    for (size_t i = 0; i < inlen; i++) {
        if (in[i] == '=')
            return kt_fail(e, KT_EFORMAT, "not base64url: padding ('=') at character %zu", i + 1);
        if (!is_b64url_char(in[i]))
            return kt_fail(e, KT_EFORMAT,
                           "not base64url: character %zu is outside the base64url alphabet", i + 1);
    }
    if (inlen % 4 == 1)
        return kt_fail(e, KT_EFORMAT, "not base64url: %zu characters is not a possible length",
                       inlen);
    cap = inlen / 4 * 3 + 2;
    p = malloc(cap);
    if (p == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    /* With no ignore set and no end pointer libsodium refuses anything not consumed in full,
     * and it refuses non-zero bits left over after the last byte. */
    if (sodium_base642bin(p, cap, in, inlen, NULL, &binlen, NULL, B64_VARIANT) != 0) {
        kt_wipe(p, cap);
        free(p);
        return kt_fail(e, KT_EFORMAT,
                       "not base64url: the last character carries bits beyond the data");
    }
    out->p = p;
    out->len = binlen;
    return KT_OK;
}

void kt_sha256(uint8_t out[32], const void *in, size_t n)
{
    unsigned int outlen = 0;

    if (EVP_Digest(in, n, out, &outlen, EVP_sha256(), NULL) == 1 && outlen == 32)
        return;
    /* EVP_Digest fails only when OpenSSL cannot allocate its context; libsodium's SHA-256,
     * which needs no allocation, gives the same answer. */
    ERR_clear_error();
    crypto_hash_sha256(out, in, n);
}

void kt_time_iso8601(char *out, size_t outsz, uint64_t unix_seconds)
{
    struct tm tm;
    time_t t;

    if (outsz == 0)
        return;
    out[0] = '\0';
    /* Years past 9999 do not fit the format: the result is then the empty string. */
    if (unix_seconds > UINT64_C(253402300799))
        return;
    t = (time_t)unix_seconds;
    if (gmtime_r(&t, &tm) == NULL)
        return;
    if (strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

const char *kt_quote(char *out, size_t outsz, const char *s, size_t n)
{
    bool cut = outsz < 4 || n > outsz - 1;
    size_t keep = !cut ? n : outsz >= 4 ? outsz - 4 : 0;

    if (outsz == 0)
        return out;
    for (size_t i = 0; i < keep; i++)
        out[i] = (s[i] >= 0x20 && s[i] <= 0x7e) ? s[i] : '?';
    if (cut && outsz >= 4)
        memcpy(out + keep, "...", 3);
    out[cut ? (outsz >= 4 ? keep + 3 : 0) : keep] = '\0';
    return out;
}
