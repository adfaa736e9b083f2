/*
 * pkcs8.c - the target formats of CKM_RSA_AES_KEY_WRAP for asymmetric keys (Azure BYOK
 * specification, "target key plaintext"): PKCS#8 PrivateKeyInfo DER (RFC 5208) of an RSA key
 * (RFC 3447 RSAPrivateKey inside) or an EC key (RFC 5915 ECPrivateKey inside). The DER is
 * encoded straight into sodium memory; OpenSSL's PKCS8_PRIV_KEY_INFO cleanses its copy when
 * freed.
 */
#include "pkg.h"

#include <openssl/x509.h>

static kt_rc check_type(const EVP_PKEY *key, kt_err *e)
{
    if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "EC"))
        return KT_OK;
    return kt_fail(e, KT_EFORMAT, "a %s key is not a target type here; RSA and EC keys are",
                   EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key)
                                                        : "non-RSA, non-EC");
}

kt_rc pkg_pkcs8_encode(EVP_PKEY *key, kt_secbuf *out, kt_err *e)
{
    PKCS8_PRIV_KEY_INFO *p8;
    unsigned char *q;
    int n;
    kt_rc rc;

    out->p = NULL;
    out->len = 0;
    if (key == NULL)
        return kt_fail(e, KT_EUSAGE, "no key given");
    if ((rc = check_type(key, e)) != KT_OK)
        return rc;
    p8 = EVP_PKEY2PKCS8(key);
    if (p8 == NULL)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the private key as PKCS#8");
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    if (n <= 0 || n > PKG_TARGET_MAX) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        return n <= 0 ? kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the private key as PKCS#8")
                      : kt_fail(e, KT_EUSAGE, "the PKCS#8 key is %d bytes; the limit is %d", n,
                                PKG_TARGET_MAX);
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

kt_rc pkg_pkcs8_decode(const uint8_t *der, size_t len, EVP_PKEY **key, kt_err *e)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8;
    EVP_PKEY *k;
    kt_rc rc;

    *key = NULL;
    if (len == 0 || len > PKG_TARGET_MAX)
        return kt_fail(e, KT_EFORMAT, "a PKCS#8 key of %zu bytes; 1 to %d are accepted", len,
                       PKG_TARGET_MAX);
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
    if ((rc = check_type(k, e)) != KT_OK) {
        EVP_PKEY_free(k);
        return rc;
    }
    *key = k;
    return KT_OK;
}
