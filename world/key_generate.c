/*
 * key_generate.c - generating RSA, EC and AES keys in the module, with the default ACL, saved
 * with their audit entry in one change.
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

#define PUBEXP_DEFAULT 65537u

/* ---------------------------------------------------------------------------------------- */
/* Generating                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Progress of RSA generation: OpenSSL reports each prime found (BN_GENCB event 3). */
typedef struct gen_progress {
    kt_progress_fn fn;
    void *ctx;
    char task[48];
    size_t primes;
} gen_progress;

static int keygen_cb(EVP_PKEY_CTX *ctx)
{
    gen_progress *g = EVP_PKEY_CTX_get_app_data(ctx);
    if (g == NULL || g->fn == NULL)
        return 1;
    if (EVP_PKEY_CTX_get_keygen_info(ctx, 0) == 3 && g->primes < 1)
        g->primes++; /* the second prime ends the work: reported once, after generation */
    g->fn(g->ctx, g->task, g->primes, 2);
    return 1;
}

static kt_rc generate_rsa(const world_key_gen_opts *o, EVP_PKEY **out, kt_err *e)
{
    gen_progress g = {.fn = o->progress, .ctx = o->progress_ctx};
    uint64_t pubexp = o->pubexp != 0 ? o->pubexp : PUBEXP_DEFAULT;
    BIGNUM *ebn = BN_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    kt_rc rc = KT_OK;

    *out = NULL;
    snprintf(g.task, sizeof g.task, "generating an RSA-%u key (primes found)", o->bits);
    if (ebn == NULL || ctx == NULL || BN_set_word(ebn, (BN_ULONG)pubexp) != 1 ||
        EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)o->bits) != 1 ||
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, ebn) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot set up RSA key generation");
        goto out;
    }
    if (o->progress != NULL && o->bits >= 3072) {
        EVP_PKEY_CTX_set_app_data(ctx, &g);
        EVP_PKEY_CTX_set_cb(ctx, keygen_cb);
    }
    if (EVP_PKEY_generate(ctx, out) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "RSA-%u key generation failed", o->bits);
        goto out;
    }
    if (o->progress != NULL && o->bits >= 3072)
        o->progress(o->progress_ctx, g.task, 2, 2);
out:
    EVP_PKEY_CTX_free(ctx);
    BN_free(ebn);
    return rc;
}

static kt_rc generate_ec(const char *curve, EVP_PKEY **out, kt_err *e)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    kt_rc rc = KT_OK;
    *out = NULL;
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_group_name(ctx, curve) != 1 ||
        EVP_PKEY_CTX_set_ec_param_enc(ctx, OPENSSL_EC_NAMED_CURVE) != 1 ||
        EVP_PKEY_generate(ctx, out) != 1)
        rc = kt_fail_ssl(e, KT_ECRYPTO, "EC %s key generation failed", curve);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* Checks the generation options: type, size, curve and exponent agree and are supported. */
static kt_rc check_gen_opts(const world_key_gen_opts *o, const char **curve, kt_err *e)
{
    kt_rc rc;
    *curve = NULL;
    if (o->type != WORLD_KEY_EC && o->curve != NULL)
        return kt_fail(e, KT_EUSAGE, "a curve is given for an %s key; curves are for EC keys",
                       world_key_type_name(o->type));
    if (o->type != WORLD_KEY_RSA && o->pubexp != 0)
        return kt_fail(e, KT_EUSAGE, "a public exponent is for RSA keys only");
    switch (o->type) {
    case WORLD_KEY_RSA:
        if (!key_rsa_size_ok(o->bits))
            return kt_fail(e, KT_EUSAGE, "RSA keys are 2048, 3072 or 4096 bits, not %u", o->bits);
        if (o->pubexp != 0 && (o->pubexp % 2 == 0 || o->pubexp < 3 || o->pubexp > 0xffffffffu))
            return kt_fail(e, KT_EUSAGE,
                           "RSA public exponent %llu: it must be odd, from 3 to 4294967295 "
                           "(the default is 65537)",
                           (unsigned long long)o->pubexp);
        return KT_OK;
    case WORLD_KEY_EC: {
        unsigned bits;
        if (o->curve == NULL)
            return kt_fail(e, KT_EUSAGE, "an EC key needs a curve: " KT_CURVES_SUPPORTED);
        if ((rc = world_key_curve(o->curve, curve, &bits, e)) != KT_OK)
            return rc;
        if (o->bits != 0 && o->bits != bits)
            return kt_fail(e, KT_EUSAGE, "curve %s is %u bits, not %u", *curve, bits, o->bits);
        return KT_OK;
    }
    case WORLD_KEY_AES:
        if (!key_aes_size_ok(o->bits))
            return kt_fail(e, KT_EUSAGE, "AES keys are 128, 192 or 256 bits, not %u", o->bits);
        return KT_OK;
    }
    return kt_fail(e, KT_EUSAGE, "key type %d is not RSA, EC or AES", (int)o->type);
}

kt_rc world_key_generate(const world_paths *p, const world_module *m, const world_key_gen_opts *o,
                         world_key_info *info, kt_err *e)
{
    world_key k = {0};
    const char *curve;
    char path[PATH_MAX];
    EVP_PKEY *pkey = NULL;
    kt_rc rc;

    if ((rc = check_gen_opts(o, &curve, e)) ||
        (rc = key_set_names(&k.info, o->app, o->ident, o->plainname, e)) ||
        (rc = world_key_path(p, k.info.app, k.info.ident, path, sizeof path, e)) ||
        (rc = key_refuse_existing(path, k.info.app, k.info.ident, e))) /* before slow work */
        goto out;

    if (o->type == WORLD_KEY_AES) {
        if ((rc = kt_secbuf_alloc(&k.material, o->bits / 8, e)) != KT_OK)
            goto out;
        kt_random(k.material.p, k.material.len);
        key_fill_from_aes(&k);
    } else {
        rc = o->type == WORLD_KEY_RSA ? generate_rsa(o, &pkey, e) : generate_ec(curve, &pkey, e);
        if (rc != KT_OK)
            goto out;
        rc = key_fill_from_pkey(pkey, "the generated key", &k, e); /* k owns pkey from here */
        pkey = NULL;
        if (rc != KT_OK)
            goto out;
    }
    k.info.created = (uint64_t)time(NULL);
    if (o->acl != NULL)
        k.info.acl = *o->acl;
    else
        world_acl_default(k.info.type, &k.info.acl);
    if ((rc = key_save_new(p, m, &k, "key generate", e)) == KT_OK && info != NULL)
        *info = k.info;
out:
    EVP_PKEY_free(pkey);
    world_key_free(&k);
    return rc;
}

kt_rc world_key_describe(world_key *k, world_key_type type, kt_err *e)
{
    EVP_PKEY *pkey = NULL;
    kt_rc rc;
    if (type == WORLD_KEY_AES) {
        if (!key_aes_size_ok((unsigned)(k->material.len * 8)))
            return kt_fail(e, KT_EDENIED,
                           "an AES key of %zu bytes; keytransfer keeps AES keys of 128, 192 and "
                           "256 bits",
                           k->material.len);
        key_fill_from_aes(k);
        return KT_OK;
    }
    if (type != WORLD_KEY_RSA && type != WORLD_KEY_EC)
        return kt_fail(e, KT_EUSAGE, "unknown key type %d", (int)type);
    if ((rc = key_pkcs8_decode(&k->material, type, &pkey, e)) != KT_OK)
        return rc;
    kt_secbuf_free(&k->material); /* key_from_pkey writes the canonical encoding */
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
    return key_fill_from_pkey(pkey, "the key", k, e); /* k owns pkey from here */
}
