/*
 * wrap.c - CKM_RSA_AES_KEY_WRAP (PKCS#11 v2.40 §2.1.21), both directions, and its two halves:
 * RSAES-OAEP with the same hash for OAEP and MGF1 and an empty label (RFC 8017 §7.1), and AES
 * key wrap with padding (RFC 5649). The primitives are OpenSSL's EVP; nothing is written by
 * hand. The ephemeral AES key and every plaintext live in sodium memory and are wiped on every
 * path.
 */
#include "pkg.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

const char *pkg_oaep_hash_name(pkg_oaep_hash h)
{
    switch (h) {
    case PKG_OAEP_SHA1:
        return "SHA-1";
    case PKG_OAEP_SHA256:
        return "SHA-256";
    }
    return "an unknown hash";
}

static const EVP_MD *oaep_md(pkg_oaep_hash h)
{
    switch (h) {
    case PKG_OAEP_SHA1:
        return EVP_sha1();
    case PKG_OAEP_SHA256:
        return EVP_sha256();
    }
    return NULL;
}

size_t pkg_rsa_modulus_len(const EVP_PKEY *key)
{
    int bits;

    if (key == NULL || !EVP_PKEY_is_a(key, "RSA"))
        return 0;
    bits = EVP_PKEY_get_bits(key);
    return bits > 0 ? ((size_t)bits + 7) / 8 : 0;
}

/*
 * A public exponent of 1 would make RSA the identity: the OAEP encoding of K would travel in the
 * clear, and anyone can unmask it (RFC 8017 §7.1.2 steps 3c-3f need no key). OpenSSL refuses
 * e >= n but not e = 1, so it is checked here, with an even e or n, which no real key has.
 */
static kt_rc check_exponent(const EVP_PKEY *kek, kt_err *e)
{
    BIGNUM *n = NULL, *ex = NULL;
    bool ok;

    if (EVP_PKEY_get_bn_param(kek, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(kek, OSSL_PKEY_PARAM_RSA_E, &ex) != 1) {
        BN_free(n);
        BN_free(ex);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot read the KEK's RSA parameters");
    }
    ok = BN_is_odd(n) && BN_is_odd(ex) && !BN_is_one(ex);
    BN_free(n);
    BN_free(ex);
    if (!ok)
        return kt_fail(e, KT_EDENIED,
                       "the KEK is not a usable RSA key (its public exponent is 1 or even, or its "
                       "modulus is even): wrapping to it would expose the key");
    return KT_OK;
}

/* The KEK must be a plain RSA key (not RSA-PSS) of an accepted size. */
static kt_rc check_kek(const EVP_PKEY *kek, kt_err *e)
{
    int bits;

    if (kek == NULL)
        return kt_fail(e, KT_EUSAGE, "no KEK given");
    if (!EVP_PKEY_is_a(kek, "RSA"))
        return kt_fail(e, KT_EDENIED, "the KEK is a %s key; CKM_RSA_AES_KEY_WRAP needs an RSA key",
                       EVP_PKEY_get0_type_name(kek) != NULL ? EVP_PKEY_get0_type_name(kek)
                                                            : "non-RSA");
    bits = EVP_PKEY_get_bits(kek);
    if (bits < PKG_RSA_MIN_BITS || bits > PKG_RSA_MAX_BITS)
        return kt_fail(e, KT_EDENIED,
                       "the KEK is a %d-bit RSA key; CKM_RSA_AES_KEY_WRAP here needs %d to %d bits",
                       bits, PKG_RSA_MIN_BITS, PKG_RSA_MAX_BITS);
    return check_exponent(kek, e);
}

/* An EVP_PKEY_CTX set up for OAEP with md for OAEP and MGF1 and the default, empty label. */
static kt_rc oaep_ctx(EVP_PKEY *kek, pkg_oaep_hash hash, bool encrypt, EVP_PKEY_CTX **out,
                      kt_err *e)
{
    const EVP_MD *md = oaep_md(hash);
    EVP_PKEY_CTX *ctx;

    *out = NULL;
    if (md == NULL)
        return kt_fail(e, KT_EUSAGE, "unknown OAEP hash %d", (int)hash);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kek, NULL);
    if (ctx == NULL)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot set up RSA-OAEP");
    /* RFC 8017 §7.1: the label L is left unset, which is the empty string. */
    if ((encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot set up RSA-OAEP with %s",
                           pkg_oaep_hash_name(hash));
    }
    *out = ctx;
    return KT_OK;
}

kt_rc pkg_rsa_oaep_encrypt(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *in, size_t in_len,
                           kt_buf *out, kt_err *e)
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t k, outlen;
    kt_rc rc;

    out->p = NULL;
    out->len = 0;
    if ((rc = check_kek(kek, e)) != KT_OK || (rc = oaep_ctx(kek, hash, true, &ctx, e)) != KT_OK)
        return rc;
    k = pkg_rsa_modulus_len(kek);
    out->p = malloc(k);
    if (out->p == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    /* RFC 8017 §7.1.1: the ciphertext C is exactly k octets. */
    outlen = k;
    if (EVP_PKEY_encrypt(ctx, out->p, &outlen, in, in_len) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "RSA-OAEP (%s) encryption of %zu bytes failed",
                         pkg_oaep_hash_name(hash), in_len);
        goto done;
    }
    if (outlen != k) {
        rc = kt_fail(e, KT_ECRYPTO, "RSA-OAEP gave %zu bytes for a %zu-byte modulus", outlen, k);
        goto done;
    }
    out->len = outlen;
done:
    EVP_PKEY_CTX_free(ctx);
    if (rc != KT_OK) {
        free(out->p);
        out->p = NULL;
        out->len = 0;
    }
    return rc;
}

kt_rc pkg_rsa_oaep_decrypt(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *in, size_t in_len,
                           kt_secbuf *out, kt_err *e)
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t k, outlen;
    kt_rc rc;

    out->p = NULL;
    out->len = 0;
    if ((rc = check_kek(kek, e)) != KT_OK)
        return rc;
    k = pkg_rsa_modulus_len(kek);
    /* RFC 8017 §7.1.2 step 1b: a ciphertext that is not k octets is a decryption error. */
    if (in_len != k)
        return kt_fail(e, KT_EFORMAT,
                       "the RSA-OAEP ciphertext is %zu bytes; a %zu-bit KEK needs exactly %zu",
                       in_len, 8 * k, k);
    if ((rc = oaep_ctx(kek, hash, false, &ctx, e)) != KT_OK)
        return rc;
    if ((rc = kt_secbuf_alloc(out, k, e)) != KT_OK)
        goto done;
    outlen = k;
    if (EVP_PKEY_decrypt(ctx, out->p, &outlen, in, in_len) != 1 || outlen > k) {
        /* One message for every cause: OpenSSL decodes OAEP in constant time and so do we. */
        ERR_clear_error();
        rc = kt_fail(e, KT_EDENIED,
                     "the RSA-OAEP (%s) part does not decrypt under this KEK: it was made for "
                     "another KEK or with another OAEP hash, or it was altered",
                     pkg_oaep_hash_name(hash));
        goto done;
    }
    out->len = outlen;
done:
    EVP_PKEY_CTX_free(ctx);
    if (rc != KT_OK)
        kt_secbuf_free(out);
    return rc;
}

static const EVP_CIPHER *kwp_cipher(size_t key_len)
{
    switch (key_len) {
    case 16:
        return EVP_aes_128_wrap_pad();
    case 24:
        return EVP_aes_192_wrap_pad();
    case 32:
        return EVP_aes_256_wrap_pad();
    }
    return NULL;
}

/* A cipher context for KWP under key. OpenSSL 1.1 refuses wrap modes in EVP unless told the
 * caller knows them (EVP_CIPHER_CTX_FLAG_WRAP_ALLOW); 3.x no longer needs it, and it is set
 * anyway. A NULL IV selects RFC 5649's alternative initial value A65959A6. */
static kt_rc kwp_ctx(const uint8_t *key, size_t key_len, bool wrap, EVP_CIPHER_CTX **out, kt_err *e)
{
    const EVP_CIPHER *c = kwp_cipher(key_len);
    EVP_CIPHER_CTX *ctx;
    int ok;

    *out = NULL;
    if (c == NULL)
        return kt_fail(e, KT_EUSAGE, "an AES key wrap key is 16, 24 or 32 bytes, not %zu", key_len);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return kt_fail_ssl(e, KT_ENOMEM, "cannot set up AES key wrap");
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = wrap ? EVP_EncryptInit_ex(ctx, c, NULL, key, NULL)
              : EVP_DecryptInit_ex(ctx, c, NULL, key, NULL);
    if (ok != 1) {
        EVP_CIPHER_CTX_free(ctx); /* clears the key schedule */
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot set up AES-%zu key wrap with padding",
                           8 * key_len);
    }
    *out = ctx;
    return KT_OK;
}

kt_rc pkg_aes_kwp_wrap(const uint8_t *key, size_t key_len, const uint8_t *in, size_t in_len,
                       kt_buf *out, kt_err *e)
{
    EVP_CIPHER_CTX *ctx = NULL;
    size_t cap;
    int n = 0, m = 0;
    kt_rc rc;

    out->p = NULL;
    out->len = 0;
    if (in_len == 0 || in_len > PKG_TARGET_MAX)
        return kt_fail(e, KT_EUSAGE, "AES key wrap takes 1 to %d bytes, not %zu", PKG_TARGET_MAX,
                       in_len);
    if ((rc = kwp_ctx(key, key_len, true, &ctx, e)) != KT_OK)
        return rc;
    /* RFC 5649 §4.1: the padded plaintext is a multiple of 8, plus the 8-byte AIV block. */
    cap = (in_len + 7) / 8 * 8 + PKG_KWP_OVERHEAD;
    out->p = malloc(cap);
    if (out->p == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    if (EVP_EncryptUpdate(ctx, out->p, &n, in, (int)in_len) != 1 || n < 0 ||
        EVP_EncryptFinal_ex(ctx, out->p + n, &m) != 1 || m != 0 || (size_t)n != cap) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "AES key wrap with padding of %zu bytes failed", in_len);
        goto done;
    }
    out->len = cap;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (rc != KT_OK) {
        free(out->p);
        out->p = NULL;
        out->len = 0;
    }
    return rc;
}

kt_rc pkg_aes_kwp_unwrap(const uint8_t *key, size_t key_len, const uint8_t *in, size_t in_len,
                         kt_secbuf *out, kt_err *e)
{
    EVP_CIPHER_CTX *ctx = NULL;
    int n = 0, m = 0;
    kt_rc rc;

    out->p = NULL;
    out->len = 0;
    if (kwp_cipher(key_len) == NULL)
        return kt_fail(e, KT_EUSAGE, "an AES key wrap key is 16, 24 or 32 bytes, not %zu", key_len);
    /* RFC 5649 §4.2: at least two 64-bit blocks, a whole number of them. */
    if (in_len < 16 || in_len % 8 != 0)
        return kt_fail(
            e, KT_EFORMAT,
            "the AES key wrap part is %zu bytes; it must be a multiple of 8, at least 16", in_len);
    if (in_len > PKG_TARGET_MAX + 2 * PKG_KWP_OVERHEAD)
        return kt_fail(e, KT_EFORMAT, "the AES key wrap part is %zu bytes; the limit is %d", in_len,
                       PKG_TARGET_MAX + 2 * PKG_KWP_OVERHEAD);
    if ((rc = kwp_ctx(key, key_len, false, &ctx, e)) != KT_OK)
        return rc;
    if ((rc = kt_secbuf_alloc(out, in_len, e)) != KT_OK)
        goto done;
    if (EVP_DecryptUpdate(ctx, out->p, &n, in, (int)in_len) != 1 || n <= 0 ||
        (size_t)n > in_len - PKG_KWP_OVERHEAD || EVP_DecryptFinal_ex(ctx, out->p + n, &m) != 1 ||
        m != 0) {
        ERR_clear_error();
        rc = kt_fail(e, KT_EDENIED,
                     "the AES key wrap integrity check failed (RFC 5649 §4.2): the wrapped key "
                     "was altered, or it was not wrapped under this AES key");
        goto done;
    }
    out->len = (size_t)n;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (rc != KT_OK)
        kt_secbuf_free(out);
    return rc;
}

kt_rc pkg_rsa_aes_wrap(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *target, size_t target_len,
                       kt_buf *blob, kt_err *e)
{
    kt_secbuf k = {0};
    kt_buf rsa_part = {0}, kwp_part = {0};
    kt_rc rc;

    blob->p = NULL;
    blob->len = 0;
    if ((rc = check_kek(kek, e)) != KT_OK)
        return rc;
    if (oaep_md(hash) == NULL)
        return kt_fail(e, KT_EUSAGE, "unknown OAEP hash %d", (int)hash);
    if (target_len == 0 || target_len > PKG_TARGET_MAX)
        return kt_fail(e, KT_EUSAGE, "the key to wrap is %zu bytes; 1 to %d are accepted",
                       target_len, PKG_TARGET_MAX);

    /* Step 1: a temporary random AES-256 key, in secure memory. */
    if ((rc = kt_secbuf_alloc(&k, PKG_AES_KEY_LEN, e)) != KT_OK)
        return rc;
    kt_random(k.p, k.len);
    /* Step 2: OAEP-encrypt it to the KEK. Step 3: KWP the target under it. */
    if ((rc = pkg_rsa_oaep_encrypt(kek, hash, k.p, k.len, &rsa_part, e)) != KT_OK ||
        (rc = pkg_aes_kwp_wrap(k.p, k.len, target, target_len, &kwp_part, e)) != KT_OK)
        goto done;
    /* Step 5: the RSA part first, then the KWP part. */
    rc = kt_buf_join(blob, &rsa_part, &kwp_part, e);
done:
    /* Step 4: the temporary key is wiped (kt_secbuf_free zeroes the whole allocation). */
    kt_secbuf_free(&k);
    kt_buf_free(&rsa_part);
    kt_buf_free(&kwp_part);
    return rc;
}

kt_rc pkg_rsa_aes_unwrap(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *blob, size_t blob_len,
                         kt_secbuf *target, kt_err *e)
{
    kt_secbuf k = {0};
    size_t mod;
    kt_rc rc;

    target->p = NULL;
    target->len = 0;
    if ((rc = check_kek(kek, e)) != KT_OK)
        return rc;
    mod = pkg_rsa_modulus_len(kek);
    /* The first part is exactly the length of the unwrapping RSA key (PKCS#11 §2.1.21). */
    if (blob_len < mod + 16 || (blob_len - mod) % 8 != 0)
        return kt_fail(e, KT_EFORMAT,
                       "the ciphertext is %zu bytes; for a %zu-bit KEK it must be the %zu-byte "
                       "RSA part followed by an AES key wrap part of at least 16 bytes, a "
                       "multiple of 8 (truncated, or made for a KEK of another size?)",
                       blob_len, 8 * mod, mod);
    if (blob_len - mod > PKG_TARGET_MAX + 2 * PKG_KWP_OVERHEAD)
        return kt_fail(e, KT_EFORMAT, "the ciphertext is %zu bytes; the limit is %zu", blob_len,
                       mod + PKG_TARGET_MAX + 2 * PKG_KWP_OVERHEAD);
    if ((rc = pkg_rsa_oaep_decrypt(kek, hash, blob, mod, &k, e)) != KT_OK)
        return rc;
    if (k.len != PKG_AES_KEY_LEN) {
        rc = kt_fail(e, KT_EFORMAT,
                     "the RSA part holds a %zu-byte key; CKM_RSA_AES_KEY_WRAP here carries an "
                     "AES-256 key (32 bytes)",
                     k.len);
        goto done;
    }
    rc = pkg_aes_kwp_unwrap(k.p, k.len, blob + mod, blob_len - mod, target, e);
done:
    kt_secbuf_free(&k);
    return rc;
}
