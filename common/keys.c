/*
 * keys.c - the key encodings every layer shares: the supported curves and their names in each
 * vocabulary (ours, OpenSSL's, RFC 7518's), SubjectPublicKeyInfo DER (RFC 5280 §4.1) and PKCS#8
 * PrivateKeyInfo DER (RFC 5208; RSAPrivateKey of RFC 8017 or ECPrivateKey of RFC 5915 inside).
 * Private DER is written straight into sodium memory; OpenSSL's PKCS8_PRIV_KEY_INFO cleanses its
 * copy when freed. Decoders take exactly one DER value: trailing bytes are refused.
 */
#include "kt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

static const kt_curve curves[] = {
    {"P-256", "prime256v1", "P-256", 256, 32, {"secp256r1", "NISTP256", NULL}},
    {"P-384", "secp384r1", "P-384", 384, 48, {"NISTP384", NULL, NULL}},
    {"P-521", "secp521r1", "P-521", 521, 66, {"NISTP521", NULL, NULL}},
    {"secp256k1", "secp256k1", "P-256K", 256, 32, {NULL, NULL, NULL}},
};

const kt_curve *kt_curve_at(size_t i)
{
    return i < sizeof curves / sizeof curves[0] ? &curves[i] : NULL;
}

const kt_curve *kt_curve_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (const kt_curve *c = curves; c < curves + sizeof curves / sizeof curves[0]; c++) {
        if (strcasecmp(name, c->name) == 0 || strcasecmp(name, c->group) == 0 ||
            strcasecmp(name, c->jwk) == 0)
            return c;
        for (size_t j = 0; j < sizeof c->aliases / sizeof c->aliases[0] && c->aliases[j]; j++)
            if (strcasecmp(name, c->aliases[j]) == 0)
                return c;
    }
    return NULL;
}

const kt_curve *kt_curve_by_jwk(const char *crv)
{
    for (const kt_curve *c = curves; crv != NULL && c < curves + sizeof curves / sizeof curves[0];
         c++)
        if (strcmp(crv, c->jwk) == 0)
            return c;
    return NULL;
}

kt_rc kt_spki_encode(EVP_PKEY *key, kt_buf *out, kt_err *e)
{
    unsigned char *q;
    int n;

    out->p = NULL;
    out->len = 0;
    if (key == NULL)
        return kt_fail(e, KT_EUSAGE, "no key given");
    n = i2d_PUBKEY(key, NULL);
    if (n <= 0)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the public key");
    out->p = malloc((size_t)n);
    if (out->p == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    q = out->p;
    if (i2d_PUBKEY(key, &q) != n) {
        kt_buf_free(out);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the public key");
    }
    out->len = (size_t)n;
    return KT_OK;
}

kt_rc kt_spki_sha256(EVP_PKEY *key, uint8_t out[32], kt_err *e)
{
    kt_buf der = {0};
    kt_rc rc = kt_spki_encode(key, &der, e);

    memset(out, 0, 32);
    if (rc != KT_OK)
        return rc;
    kt_sha256(out, der.p, der.len);
    kt_buf_free(&der);
    return KT_OK;
}

kt_rc kt_spki_decode(const uint8_t *der, size_t len, EVP_PKEY **out, kt_err *e)
{
    const unsigned char *p = der;
    EVP_PKEY *k;

    *out = NULL;
    if (len == 0 || len > KT_SPKI_MAX)
        return kt_fail(e, KT_EFORMAT, "a public key of %zu bytes; 1 to %d are accepted", len,
                       KT_SPKI_MAX);
    k = d2i_PUBKEY(NULL, &p, (long)len);
    if (k == NULL)
        return kt_fail_ssl(e, KT_EFORMAT, "not a DER SubjectPublicKeyInfo");
    if ((size_t)(p - der) != len) {
        EVP_PKEY_free(k);
        return kt_fail(e, KT_EFORMAT, "trailing data (%zu bytes) after the SubjectPublicKeyInfo",
                       len - (size_t)(p - der));
    }
    *out = k;
    return KT_OK;
}

static kt_rc check_private_type(const EVP_PKEY *key, kt_err *e)
{
    if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "EC"))
        return KT_OK;
    return kt_fail(e, KT_EFORMAT, "a %s key has no PKCS#8 form here; RSA and EC keys do",
                   EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key)
                                                        : "non-RSA, non-EC");
}

kt_rc kt_pkcs8_encode(EVP_PKEY *key, kt_secbuf *out, kt_err *e)
{
    PKCS8_PRIV_KEY_INFO *p8;
    unsigned char *q;
    int n;
    kt_rc rc;

    out->p = NULL;
    out->len = 0;
    if (key == NULL)
        return kt_fail(e, KT_EUSAGE, "no key given");
    if ((rc = check_private_type(key, e)) != KT_OK)
        return rc;
    if ((p8 = EVP_PKEY2PKCS8(key)) == NULL)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the private key as PKCS#8");
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    if (n <= 0 || n > KT_PKCS8_MAX) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        return n <= 0 ? kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the private key as PKCS#8")
                      : kt_fail(e, KT_EUSAGE, "the PKCS#8 key is %d bytes; the limit is %d", n,
                                KT_PKCS8_MAX);
    }
    if ((rc = kt_secbuf_alloc(out, (size_t)n, e)) != KT_OK) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        return rc;
    }
    q = out->p;
    if (i2d_PKCS8_PRIV_KEY_INFO(p8, &q) != n) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        kt_secbuf_free(out);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the private key as PKCS#8");
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    return KT_OK;
}

kt_rc kt_pkcs8_decode(const uint8_t *der, size_t len, EVP_PKEY **key, kt_err *e)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8;
    EVP_PKEY *k;
    kt_rc rc;

    *key = NULL;
    if (len == 0 || len > KT_PKCS8_MAX)
        return kt_fail(e, KT_EFORMAT, "a PKCS#8 key of %zu bytes; 1 to %d are accepted", len,
                       KT_PKCS8_MAX);
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    if (p8 == NULL)
        return kt_fail_ssl(e, KT_EFORMAT, "not a PKCS#8 PrivateKeyInfo");
    if ((size_t)(p - der) != len) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        return kt_fail(e, KT_EFORMAT, "trailing data (%zu bytes) after the PKCS#8 PrivateKeyInfo",
                       len - (size_t)(p - der));
    }
    k = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (k == NULL)
        return kt_fail_ssl(e, KT_EFORMAT, "the PKCS#8 PrivateKeyInfo holds no usable key");
    if ((rc = check_private_type(k, e)) != KT_OK) {
        EVP_PKEY_free(k);
        return rc;
    }
    *key = k;
    return KT_OK;
}
