/*
 * aws.c - what AWS KMS takes in an import (docs/formats.md "AWS KMS"): the parameters that
 * `aws kms get-parameters-for-import` prints (the wrapping public key, the import token and how
 * long they are valid), the four wrapping algorithms keytransfer produces, which key material
 * each takes, and the EncryptedKeyMaterial blob in both directions (the emulated KMS unwraps).
 *
 * Sources: AWS KMS API Reference, GetParametersForImport and ImportKeyMaterial; AWS KMS
 * Developer Guide, "Step 3: Encrypt the key material", "Select a wrapping algorithm" and
 * "Requirements for imported key material".
 */
#include "packages_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#define WHAT "AWS get-parameters-for-import output"

static const pkg_wrapping wrappings[] = {
    {PKG_AWS_RSAES_OAEP_SHA_1, "RSAES_OAEP_SHA_1", 0, PKG_OAEP_SHA1, true},
    {PKG_AWS_RSAES_OAEP_SHA_256, "RSAES_OAEP_SHA_256", 0, PKG_OAEP_SHA256, true},
    {PKG_AWS_RSA_AES_KEY_WRAP_SHA_1, "RSA_AES_KEY_WRAP_SHA_1", 0, PKG_OAEP_SHA1, false},
    {PKG_AWS_RSA_AES_KEY_WRAP_SHA_256, "RSA_AES_KEY_WRAP_SHA_256", 0, PKG_OAEP_SHA256, false},
};
#define NWRAPPINGS (sizeof wrappings / sizeof wrappings[0])

static const pkg_wrapping *wrapping_of(pkg_aws_wrapping w)
{
    return pkg_wrapping_by_id(wrappings, NWRAPPINGS, (int)w);
}

const char *pkg_aws_wrapping_name(pkg_aws_wrapping w)
{
    return pkg_wrapping_name(wrappings, NWRAPPINGS, (int)w);
}

kt_rc pkg_aws_wrapping_parse(const char *s, pkg_aws_wrapping *w, kt_err *e)
{
    const pkg_wrapping *x = pkg_wrapping_by_name(wrappings, NWRAPPINGS, s);
    if (x != NULL) {
        *w = (pkg_aws_wrapping)x->id;
        return KT_OK;
    }
    char q[KT_QUOTE_SIZE];
    kt_quote(q, sizeof q, s, strlen(s));
    return kt_fail(e, KT_EUSAGE,
                   "unknown AWS wrapping algorithm '%s': RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256 "
                   "(symmetric and EC material), RSA_AES_KEY_WRAP_SHA_1 or "
                   "RSA_AES_KEY_WRAP_SHA_256 (RSA and EC private keys)",
                   q);
}

pkg_oaep_hash pkg_aws_wrapping_hash(pkg_aws_wrapping w)
{
    return pkg_wrapping_hash(wrappings, NWRAPPINGS, (int)w);
}

bool pkg_aws_wrapping_is_direct(pkg_aws_wrapping w)
{
    return pkg_wrapping_is_direct(wrappings, NWRAPPINGS, (int)w);
}

pkg_aws_wrapping pkg_aws_wrapping_default(const char *key_type)
{
    return strcmp(key_type, "AES") == 0 ? PKG_AWS_RSAES_OAEP_SHA_256
                                        : PKG_AWS_RSA_AES_KEY_WRAP_SHA_256;
}

kt_rc pkg_aws_check(pkg_aws_wrapping w, const char *key_type, unsigned bits, const char *curve,
                    unsigned kek_bits, kt_err *e)
{
    const char *name = pkg_aws_wrapping_name(w);
    bool rsa = strcmp(key_type, "RSA") == 0, ec = strcmp(key_type, "EC") == 0,
         aes = strcmp(key_type, "AES") == 0;

    if (wrapping_of(w) == NULL)
        return kt_fail(e, KT_EUSAGE, "unknown AWS wrapping algorithm %d", (int)w);
    if (kek_bits != 2048 && kek_bits != 3072 && kek_bits != 4096)
        return kt_fail(e, KT_EDENIED,
                       "AWS KMS wrapping keys are RSA_2048, RSA_3072 or RSA_4096; this one has %u "
                       "bits",
                       kek_bits);
    /* Requirements for imported key material: the key specs AWS KMS has. */
    if (aes && bits != 256)
        return kt_fail(e, KT_EDENIED,
                       "AWS KMS imports symmetric encryption key material of 256 bits only "
                       "(SYMMETRIC_DEFAULT); this is an AES-%u key",
                       bits);
    if (ec && strcmp(curve, "P-256") != 0 && strcmp(curve, "P-384") != 0 &&
        strcmp(curve, "P-521") != 0 && strcmp(curve, "secp256k1") != 0)
        return kt_fail(e, KT_EDENIED,
                       "AWS KMS has no key spec for the curve %s (ECC_NIST_P256, ECC_NIST_P384, "
                       "ECC_NIST_P521, ECC_SECG_P256K1)",
                       curve);
    if (rsa && bits != 2048 && bits != 3072 && bits != 4096)
        return kt_fail(e, KT_EDENIED, "AWS KMS has no key spec for RSA-%u", bits);
    if (!rsa && !ec && !aes)
        return kt_fail(e, KT_EDENIED, "AWS KMS imports RSA, EC and AES key material only");
    /* Select a wrapping algorithm. */
    if (!pkg_aws_wrapping_is_direct(w) && aes)
        return kt_fail(e, KT_EDENIED,
                       "AWS KMS documents %s for RSA and ECC private keys only; wrap symmetric "
                       "key material with RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1",
                       name);
    if (pkg_aws_wrapping_is_direct(w) && rsa)
        return kt_fail(e, KT_EDENIED,
                       "AWS KMS does not take an RSA private key wrapped with %s (it does not fit "
                       "in one RSA-OAEP block); use RSA_AES_KEY_WRAP_SHA_256 or "
                       "RSA_AES_KEY_WRAP_SHA_1",
                       name);
    if (pkg_aws_wrapping_is_direct(w) && ec && strcmp(curve, "P-521") == 0 && kek_bits == 2048)
        return kt_fail(e, KT_EDENIED,
                       "AWS KMS does not support ECC_NIST_P521 key material wrapped with %s under "
                       "an RSA_2048 wrapping key: ask for RSA_3072 or RSA_4096 parameters, or use "
                       "RSA_AES_KEY_WRAP_SHA_256",
                       name);
    return KT_OK;
}

kt_rc pkg_aws_b64_encode(const uint8_t *in, size_t n, char **out, kt_err *e)
{
    return pkg_b64std_encode(in, n, out, e);
}

kt_rc pkg_aws_b64_decode(const char *in, size_t max, kt_buf *out, kt_err *e)
{
    return pkg_b64std_decode(in, strlen(in), max, out, e);
}

/* ---- the parameters ----------------------------------------------------------------------- */

void pkg_aws_params_free(pkg_aws_params *p)
{
    EVP_PKEY_free(p->public_key);
    kt_buf_free(&p->public_key_der);
    kt_buf_free(&p->import_token);
    memset(p, 0, sizeof *p);
}

static bool two_digits(const char *s, unsigned *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *v = (unsigned)(s[0] - '0') * 10u + (unsigned)(s[1] - '0');
    return true;
}

kt_rc pkg_aws_time_parse(const char *s, const char *what, uint64_t *t, kt_err *e)
{
    char base[21];
    size_t n = strnlen(s, 64), i = 19;
    unsigned oh = 0, om = 0;
    int sign = 0;
    kt_rc rc;

    *t = 0;
    if (n < 20 || n >= 64)
        goto bad;
    /* The date and time to the second, as pkg_time_parse reads them. */
    memcpy(base, s, 19);
    base[19] = 'Z';
    base[20] = '\0';
    if ((rc = pkg_time_parse(base, what, t, e)) != KT_OK)
        return rc;
    if (s[i] == '.') { /* fractions of a second: 1 to 9 digits, cut */
        size_t d = 0;
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            d++;
        if (d == 0 || d > 9)
            goto bad;
    }
    if (s[i] == 'Z' && s[i + 1] == '\0')
        return KT_OK;
    if ((s[i] != '+' && s[i] != '-') || n != i + 6 || s[i + 3] != ':' ||
        !two_digits(s + i + 1, &oh) || !two_digits(s + i + 4, &om) || oh > 23 || om > 59)
        goto bad;
    sign = s[i] == '+' ? 1 : -1;
    /* Local time = UTC + offset, so UTC = local - offset. */
    uint64_t off = (uint64_t)oh * 3600u + (uint64_t)om * 60u;
    if (sign > 0) {
        if (*t < off)
            goto bad;
        *t -= off;
    } else {
        *t += off;
    }
    return KT_OK;
bad:
    *t = 0;
    return kt_fail(e, KT_EFORMAT,
                   "%s is not a time as the aws CLI prints it "
                   "(YYYY-MM-DDThh:mm:ss[.fraction] then Z or +hh:mm)",
                   what);
}

static kt_rc get_b64(const json_t *j, const char *key, size_t max, kt_buf *out, kt_err *e)
{
    const char *s;
    kt_rc rc = kt_json_get_string(j, key, WHAT, &s, e);
    if (rc != KT_OK)
        return rc;
    if (s[0] == '\0')
        return kt_fail(e, KT_EFORMAT, WHAT ": %s is empty", key);
    if ((rc = pkg_b64std_decode(s, strlen(s), max, out, e)) != KT_OK)
        kt_err_prefix(e, WHAT ": %s", key);
    return rc;
}

kt_rc pkg_aws_params_parse(const uint8_t *in, size_t len, pkg_aws_params *out, kt_err *e)
{
    static const char *const members[] = {"KeyId", "ImportToken", "PublicKey", "ParametersValidTo",
                                          NULL};
    json_t *j = NULL, *v;
    const char *key_id;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = kt_json_parse(in, len, PKG_AWS_PARAMS_MAX, &j, e)) != KT_OK) {
        kt_err_prefix(e, WHAT);
        return rc;
    }
    if ((rc = kt_json_only_keys(j, members, WHAT, e)) != KT_OK ||
        (rc = kt_json_get_string(j, "KeyId", WHAT, &key_id, e)) != KT_OK)
        goto out;
    if (key_id[0] == '\0' || strlen(key_id) > PKG_AWS_KEY_ID_MAX ||
        !pkg_is_printable(key_id, strlen(key_id)) || strchr(key_id, ' ') != NULL) {
        rc = kt_fail(e, KT_EFORMAT, WHAT ": KeyId must be 1 to %d printable characters, no spaces",
                     PKG_AWS_KEY_ID_MAX);
        goto out;
    }
    memcpy(out->key_id, key_id, strlen(key_id) + 1);
    if ((rc = get_b64(j, "PublicKey", PKG_PEM_MAX, &out->public_key_der, e)) != KT_OK ||
        (rc = get_b64(j, "ImportToken", PKG_AWS_TOKEN_MAX, &out->import_token, e)) != KT_OK)
        goto out;
    if ((rc = kt_spki_decode(out->public_key_der.p, out->public_key_der.len, &out->public_key,
                             e)) != KT_OK) {
        kt_err_prefix(e, WHAT ": PublicKey");
        goto out;
    }
    if (EVP_PKEY_get_base_id(out->public_key) != EVP_PKEY_RSA) {
        rc = kt_fail(e, KT_EFORMAT, WHAT ": PublicKey is not an RSA key");
        goto out;
    }
    /* ParametersValidTo: the CLI's ISO 8601 text, or the API's seconds since 1970. */
    v = json_object_get(j, "ParametersValidTo");
    if (json_is_string(v)) {
        rc =
            pkg_aws_time_parse(json_string_value(v), WHAT ": ParametersValidTo", &out->valid_to, e);
    } else if (json_is_number(v) && json_number_value(v) > 0 &&
               json_number_value(v) < 253402300800.0) {
        out->valid_to = (uint64_t)json_number_value(v);
    } else {
        rc = kt_fail(e, KT_EFORMAT,
                     WHAT ": ParametersValidTo is missing, or neither a time nor a number of "
                          "seconds");
    }
out:
    json_decref(j);
    if (rc != KT_OK)
        pkg_aws_params_free(out);
    return rc;
}

/* ---- EncryptedKeyMaterial ----------------------------------------------------------------- */

/* RFC 8017 §7.1.1: an OAEP message holds at most k - 2 hLen - 2 bytes. */
static size_t oaep_capacity(EVP_PKEY *kek, pkg_oaep_hash h)
{
    size_t k = pkg_rsa_modulus_len(kek), hlen = h == PKG_OAEP_SHA1 ? 20 : 32;
    return k > 2 * hlen + 2 ? k - 2 * hlen - 2 : 0;
}

kt_rc pkg_aws_wrap(EVP_PKEY *kek, pkg_aws_wrapping w, const uint8_t *material, size_t len,
                   kt_buf *out, kt_err *e)
{
    const pkg_wrapping *x = wrapping_of(w);

    memset(out, 0, sizeof *out);
    if (x == NULL)
        return kt_fail(e, KT_EUSAGE, "unknown AWS wrapping algorithm %d", (int)w);
    if (!x->direct)
        return pkg_rsa_aes_wrap(kek, x->hash, material, len, out, e);
    if (len == 0 || len > oaep_capacity(kek, x->hash))
        return kt_fail(e, KT_EDENIED,
                       "%zu bytes of key material do not fit in one %s block of a %zu-bit "
                       "wrapping key (at most %zu)",
                       len, x->name, 8 * pkg_rsa_modulus_len(kek), oaep_capacity(kek, x->hash));
    return pkg_rsa_oaep_encrypt(kek, x->hash, material, len, out, e);
}

kt_rc pkg_aws_unwrap(EVP_PKEY *kek, pkg_aws_wrapping w, const uint8_t *blob, size_t len,
                     kt_secbuf *out, kt_err *e)
{
    const pkg_wrapping *x = wrapping_of(w);

    memset(out, 0, sizeof *out);
    if (x == NULL)
        return kt_fail(e, KT_EUSAGE, "unknown AWS wrapping algorithm %d", (int)w);
    if (!x->direct)
        return pkg_rsa_aes_unwrap(kek, x->hash, blob, len, out, e);
    if (len != pkg_rsa_modulus_len(kek))
        return kt_fail(e, KT_EFORMAT,
                       "EncryptedKeyMaterial has %zu bytes; %s under this wrapping key makes %zu",
                       len, x->name, pkg_rsa_modulus_len(kek));
    return pkg_rsa_oaep_decrypt(kek, x->hash, blob, len, out, e);
}
