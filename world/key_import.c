/*
 * key_import.c - importing existing keys: PEM or DER; PKCS#8, encrypted PKCS#8, PKCS#1, SEC1;
 * raw AES. The passphrase is asked at most once; the pair is checked before it is kept.
 */
#include "world_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define IMPORT_FILE_MAX (64 * 1024) /* a private key file to import */

/* ---------------------------------------------------------------------------------------- */
/* Importing                                                                                */
/* ---------------------------------------------------------------------------------------- */

/* The passphrase dialogue OpenSSL's decoder drives; the passphrase is asked at most once. */
typedef struct pass_state {
    world_pass_fn fn;
    void *ctx;
    const char *source;
    bool asked;
    kt_rc rc; /* a failure of fn, reported instead of the decoder's */
    kt_err err;
    kt_secbuf pass;
} pass_state;

/* OSSL_PASSPHRASE_CALLBACK: 1 with the passphrase in buf, 0 when there is none. */
static int pass_cb(char *buf, size_t size, size_t *len, const OSSL_PARAM params[], void *u)
{
    pass_state *s = u;
    (void)params;
    s->asked = true;
    if (s->rc != KT_OK)
        return 0;
    if (s->fn == NULL) {
        s->rc = kt_fail(&s->err, KT_EUSAGE, "%s is encrypted and no passphrase can be asked",
                        s->source);
        return 0;
    }
    if (s->pass.p == NULL && (s->rc = s->fn(s->ctx, s->source, &s->pass, &s->err)) != KT_OK) {
        kt_secbuf_free(&s->pass);
        return 0;
    }
    if (s->pass.len > size) {
        s->rc = kt_fail(&s->err, KT_EUSAGE, "the passphrase for %s is longer than %zu bytes",
                        s->source, size);
        return 0;
    }
    memcpy(buf, s->pass.p, s->pass.len);
    *len = s->pass.len;
    return 1;
}

/* True when data holds "-----BEGIN <label>". */
static bool has_pem_label(const kt_secbuf *data, const char *label)
{
    char want[64];
    int n = snprintf(want, sizeof want, "-----BEGIN %s", label);
    return memmem(data->p, data->len, want, (size_t)n) != NULL;
}

/* True when data decodes as a public key alone (for the message that says so). */
static bool is_public_only(const kt_secbuf *data, bool pem)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *ctx = OSSL_DECODER_CTX_new_for_pkey(
        &pkey, pem ? "PEM" : "DER", NULL, NULL, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, NULL, NULL);
    const unsigned char *p = data->p;
    size_t left = data->len;
    bool ok = ctx != NULL && OSSL_DECODER_from_data(ctx, &p, &left) == 1 && pkey != NULL;
    OSSL_DECODER_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

/* True when pkey holds its private half (RSA d, EC private scalar). */
static bool has_private(EVP_PKEY *pkey)
{
    BIGNUM *bn = NULL;
    const char *param = EVP_PKEY_is_a(pkey, "RSA")  ? OSSL_PKEY_PARAM_RSA_D
                        : EVP_PKEY_is_a(pkey, "EC") ? OSSL_PKEY_PARAM_PRIV_KEY
                                                    : NULL;
    if (param == NULL)
        return true; /* other types are refused by describe_pkey, with their name */
    bool has = EVP_PKEY_get_bn_param(pkey, param, &bn) == 1 && bn != NULL;
    BN_clear_free(bn);
    ERR_clear_error();
    return has;
}

/* Decodes the private key in data (PEM or DER, any structure OpenSSL knows) into *out. */
static kt_rc decode_private(const kt_secbuf *data, const char *from, pass_state *ps, EVP_PKEY **out,
                            kt_err *e)
{
    EVP_PKEY *pkey = NULL;
    bool pem = has_pem_label(data, "");
    OSSL_DECODER_CTX *ctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, pem ? "PEM" : "DER", NULL, NULL,
                                                          OSSL_KEYMGMT_SELECT_KEYPAIR, NULL, NULL);
    const unsigned char *p = data->p;
    size_t left = data->len;
    *out = NULL;
    if (pem) {
        /* `openssl ecparam -genkey` writes an EC PARAMETERS block before the key: skip it. */
        static const char params[] = "-----BEGIN EC PARAMETERS-----";
        const uint8_t *begin = memmem(p, left, "-----BEGIN ", 11);
        while (begin != NULL && (size_t)(data->p + data->len - begin) >= sizeof params - 1 &&
               memcmp(begin, params, sizeof params - 1) == 0)
            begin = memmem(begin + 1, (size_t)(data->p + data->len - begin - 1), "-----BEGIN ", 11);
        if (begin != NULL) {
            left -= (size_t)(begin - p);
            p = begin;
        }
    }
    if (ctx == NULL || OSSL_DECODER_CTX_set_passphrase_cb(ctx, pass_cb, ps) != 1) {
        OSSL_DECODER_CTX_free(ctx);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot set up the key decoder");
    }
    int ok = OSSL_DECODER_from_data(ctx, &p, &left);
    OSSL_DECODER_CTX_free(ctx);
    if (ok == 1 && pkey != NULL && (pem || left == 0) && has_private(pkey)) {
        ERR_clear_error();
        *out = pkey;
        return KT_OK;
    }
    bool decoded = ok == 1 && pkey != NULL;
    EVP_PKEY_free(pkey);
    ERR_clear_error();

    if (ps->rc != KT_OK) {
        *e = ps->err;
        return ps->rc;
    }
    if (decoded && !pem && left != 0)
        return kt_fail(e, KT_EFORMAT, "%s: %zu bytes follow the DER private key", from, left);
    if (ps->asked && !decoded)
        return kt_fail(e, KT_EPIN, "%s: wrong passphrase (or the encrypted key in it is damaged)",
                       from);
    if (has_pem_label(data, "CERTIFICATE"))
        return kt_fail(e, KT_EFORMAT,
                       "%s holds a certificate, which carries only a public key; import needs "
                       "the private key",
                       from);
    if (decoded || is_public_only(data, pem))
        return kt_fail(e, KT_EFORMAT,
                       "%s holds only a public key; import needs the private key (PKCS#8, "
                       "PKCS#1 or SEC1)",
                       from);
    return kt_fail(e, KT_EFORMAT,
                   "%s is not a private key in PEM or DER (PKCS#8, encrypted PKCS#8, PKCS#1 RSA "
                   "or SEC1 EC); for a raw AES key give the type AES",
                   from);
}

/* OpenSSL's own consistency check of a key pair (RSA: primes, n = pq, d; EC: Q = dG). */
static kt_rc pairwise_check(EVP_PKEY *pkey, const char *from, kt_err *e)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx != NULL && EVP_PKEY_pairwise_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return kt_fail_ssl(e, KT_EDENIED,
                           "%s: the private and public halves of the key do not belong together",
                           from);
    return KT_OK;
}

kt_rc world_key_import(const world_paths *p, const world_module *m, const world_key_import_opts *o,
                       world_key_info *info, kt_err *e)
{
    world_key k = {0};
    pass_state ps = {.fn = o->pass, .ctx = o->pass_ctx, .source = o->from};
    kt_secbuf data = {0};
    EVP_PKEY *pkey = NULL;
    char path[PATH_MAX];
    kt_rc rc;

    kt_err_clear(&ps.err);
    if (o->from == NULL)
        return kt_fail(e, KT_EUSAGE, "no key file to import");
    if (o->type != 0 && o->type != WORLD_KEY_RSA && o->type != WORLD_KEY_EC &&
        o->type != WORLD_KEY_AES)
        return kt_fail(e, KT_EUSAGE, "key type %d is not RSA, EC or AES", (int)o->type);
    if ((rc = key_set_names(&k.info, o->app, o->ident, o->plainname, e)) ||
        (rc = world_key_path(p, k.info.app, k.info.ident, path, sizeof path, e)) ||
        (rc = key_refuse_existing(path, k.info.app, k.info.ident, e)))
        goto out;
    if ((rc = kt_file_read_secret(o->from, IMPORT_FILE_MAX, &data, e)) != KT_OK)
        goto out;

    if (o->type == WORLD_KEY_AES) {
        if (!key_aes_size_ok((unsigned)(data.len * 8))) {
            rc = kt_fail(e, KT_EFORMAT,
                         "%s is %zu bytes; a raw AES key file holds exactly 16, 24 or 32 bytes "
                         "(binary, not hex or base64)",
                         o->from, data.len);
            goto out;
        }
        k.material = data; /* k owns it now */
        data.p = NULL;
        data.len = 0;
        key_fill_from_aes(&k);
    } else {
        if ((rc = decode_private(&data, o->from, &ps, &pkey, e)) != KT_OK)
            goto out;
        rc = key_fill_from_pkey(pkey, o->from, &k, e); /* k owns pkey from here */
        pkey = NULL;
        if (rc != KT_OK)
            goto out;
        if (o->type != 0 && o->type != k.info.type) {
            rc = kt_fail(e, KT_EUSAGE, "%s holds an %s key, not %s", o->from,
                         world_key_type_name(k.info.type), world_key_type_name(o->type));
            goto out;
        }
        if ((rc = pairwise_check(k.pkey, o->from, e)) != KT_OK)
            goto out;
    }
    k.info.created = (uint64_t)time(NULL);
    world_acl_default(k.info.type, &k.info.acl);
    if ((rc = key_save_new(p, m, &k, "key import", e)) == KT_OK && info != NULL)
        *info = k.info;
out:
    EVP_PKEY_free(pkey);
    kt_secbuf_free(&data);
    kt_secbuf_free(&ps.pass);
    world_key_free(&k);
    return rc;
}
