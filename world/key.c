/*
 * key.c - module-protected keys (docs/design.md §4, docs/formats.md "Key files"): generating RSA,
 * EC and AES keys, importing existing ones (PEM or DER; PKCS#8, encrypted PKCS#8, PKCS#1, SEC1; raw
 * AES), and the key files that hold them: a public header that is the associated data of an
 * XChaCha20-Poly1305 seal, under a subkey of KM, of the private key.
 *
 * Private keys are in secure memory (kt_secbuf) whenever they are ours to hold; OpenSSL objects
 * are freed with EVP_PKEY_free and BIGNUMs with BN_clear_free. Loading checks everything a file
 * states: format, world, seal, that the private key's public half is the stated public key, and
 * the ACL signature, so nothing is believed because a file says so.
 */
#include "internal.h"

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

const char KEY_MAGIC[8] = {'K', 'T', 'X', 'K', 'E', 'Y', 'F', 'L'};

#define IMPORT_FILE_MAX (64 * 1024) /* a private key file to import */
#define PUBEXP_DEFAULT  65537u

static const unsigned rsa_sizes[] = {2048, 3072, 4096};
static const unsigned aes_sizes[] = {128, 192, 256};

/* The supported curves: canonical name, OpenSSL's group name, size, other accepted names. */
static const struct {
    const char *name;
    const char *group;
    unsigned bits;
    const char *aliases[3];
} curves[] = {
    {"P-256", "prime256v1", 256, {"secp256r1", "NISTP256", NULL}},
    {"P-384", "secp384r1", 384, {"NISTP384", NULL, NULL}},
    {"P-521", "secp521r1", 521, {"NISTP521", NULL, NULL}},
    {"secp256k1", "secp256k1", 256, {NULL, NULL, NULL}},
};
#define NCURVES          (sizeof curves / sizeof curves[0])
#define CURVES_SUPPORTED "P-256, P-384, P-521 and secp256k1"

static const char aes_hash_domain[] = "keytransfer aes key hash v1";

/* ---------------------------------------------------------------------------------------- */
/* Names, types, sizes and curves                                                           */
/* ---------------------------------------------------------------------------------------- */

const char *world_key_type_name(world_key_type type)
{
    switch (type) {
    case WORLD_KEY_RSA:
        return "RSA";
    case WORLD_KEY_EC:
        return "EC";
    case WORLD_KEY_AES:
        return "AES";
    }
    return "?";
}

kt_rc world_key_type_parse(const char *s, world_key_type *type, kt_err *e)
{
    if (s != NULL && strcasecmp(s, "RSA") == 0)
        *type = WORLD_KEY_RSA;
    else if (s != NULL && strcasecmp(s, "EC") == 0)
        *type = WORLD_KEY_EC;
    else if (s != NULL && strcasecmp(s, "AES") == 0)
        *type = WORLD_KEY_AES;
    else
        return kt_fail(e, KT_EUSAGE,
                       "key type '%s' is not supported; the types are RSA, EC and AES",
                       s != NULL ? s : "");
    return KT_OK;
}

static bool is_lower_or_digit(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

kt_rc world_key_check_app(const char *app, kt_err *e)
{
    size_t n = app != NULL ? strlen(app) : 0;
    if (n < 1 || n > WORLD_KEY_APP_MAX)
        return kt_fail(e, KT_EUSAGE, "an application name is 1 to %d characters, not %zu",
                       WORLD_KEY_APP_MAX, n);
    for (size_t i = 0; i < n; i++)
        if (!is_lower_or_digit(app[i]))
            return kt_fail(e, KT_EUSAGE,
                           "application name '%s': only lower-case letters and digits are allowed",
                           app);
    return KT_OK;
}

kt_rc world_key_check_ident(const char *ident, kt_err *e)
{
    size_t n = ident != NULL ? strlen(ident) : 0;
    if (n < 1 || n > WORLD_KEY_IDENT_MAX)
        return kt_fail(e, KT_EUSAGE, "a key identifier is 1 to %d characters, not %zu",
                       WORLD_KEY_IDENT_MAX, n);
    for (size_t i = 0; i < n; i++)
        if (!is_lower_or_digit(ident[i]) && ident[i] != '-')
            return kt_fail(e, KT_EUSAGE,
                           "key identifier '%s': only digits, lower-case letters and hyphens are "
                           "allowed (as nShield requires)",
                           ident);
    return KT_OK;
}

kt_rc world_key_check_plainname(const char *plainname, kt_err *e)
{
    size_t n = plainname != NULL ? strlen(plainname) : 0;
    if (n < 1 || n > WORLD_KEY_PLAINNAME_MAX)
        return kt_fail(e, KT_EUSAGE, "a key's plain name is 1 to %d characters, not %zu",
                       WORLD_KEY_PLAINNAME_MAX, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)plainname[i] < 0x20 || (unsigned char)plainname[i] > 0x7e)
            return kt_fail(e, KT_EUSAGE,
                           "a key's plain name is printable ASCII; character %zu is not", i + 1);
    return KT_OK;
}

/* Index of the curve called name (any accepted spelling), or -1. */
static int curve_index(const char *name)
{
    for (size_t i = 0; i < NCURVES; i++) {
        if (strcasecmp(name, curves[i].name) == 0 || strcasecmp(name, curves[i].group) == 0)
            return (int)i;
        for (size_t j = 0; j < 3 && curves[i].aliases[j] != NULL; j++)
            if (strcasecmp(name, curves[i].aliases[j]) == 0)
                return (int)i;
    }
    return -1;
}

kt_rc world_key_curve(const char *name, const char **canonical, unsigned *bits, kt_err *e)
{
    int i = name != NULL ? curve_index(name) : -1;
    if (i < 0)
        return kt_fail(e, KT_EUSAGE,
                       "curve '%s' is not supported; the curves are " CURVES_SUPPORTED,
                       name != NULL ? name : "");
    if (canonical != NULL)
        *canonical = curves[i].name;
    *bits = curves[i].bits;
    return KT_OK;
}

static bool size_in(unsigned bits, const unsigned *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == bits)
            return true;
    return false;
}

static bool rsa_size_ok(unsigned bits)
{
    return size_in(bits, rsa_sizes, sizeof rsa_sizes / sizeof rsa_sizes[0]);
}

static bool aes_size_ok(unsigned bits)
{
    return size_in(bits, aes_sizes, sizeof aes_sizes / sizeof aes_sizes[0]);
}

kt_rc world_key_path(const world_paths *p, const char *app, const char *ident, char *out,
                     size_t outsz, kt_err *e)
{
    kt_rc rc;
    if ((rc = world_key_check_app(app, e)) || (rc = world_key_check_ident(ident, e)))
        return rc;
    int n = snprintf(out, outsz, "%s/key_%s_%s", p->local, app, ident);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
    return KT_OK;
}

void world_key_free(world_key *k)
{
    if (k == NULL)
        return;
    kt_secbuf_free(&k->material);
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof *k);
}

/* ---------------------------------------------------------------------------------------- */
/* OpenSSL keys                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* The facts of an RSA or EC key that a key file states. */
typedef struct key_facts {
    world_key_type type;
    unsigned bits;
    const char *curve; /* canonical; "" for RSA */
} key_facts;

/* Checks the RSA public exponent: odd, 3..2^32-1 (the rule of world_key_generate). */
static kt_rc check_pubexp(EVP_PKEY *pkey, const char *what, kt_err *e)
{
    BIGNUM *ebn = NULL;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &ebn) != 1)
        return kt_fail_ssl(e, KT_ECRYPTO, "%s: cannot read the RSA public exponent", what);
    bool ok = BN_is_odd(ebn) && BN_num_bits(ebn) <= 32 && !BN_is_one(ebn);
    char *dec = ok ? NULL : BN_bn2dec(ebn);
    BN_free(ebn); /* public */
    if (ok)
        return KT_OK;
    kt_rc rc = kt_fail(e, KT_EDENIED,
                       "%s has RSA public exponent %s; keytransfer supports odd exponents from 3 "
                       "to 4294967295 (65537 is usual)",
                       what, dec != NULL ? dec : "(unprintable)");
    OPENSSL_free(dec);
    return rc;
}

/*
 * What key pkey is, refusing what a key file cannot hold: other types, RSA sizes other than
 * 2048/3072/4096, other exponents, multi-prime RSA, other curves and explicit curve parameters.
 * what names the key in messages.
 */
static kt_rc describe_pkey(EVP_PKEY *pkey, const char *what, key_facts *f, kt_err *e)
{
    memset(f, 0, sizeof *f);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits <= 0 || !rsa_size_ok((unsigned)bits))
            return kt_fail(e, KT_EDENIED,
                           "%s is a %d-bit RSA key; keytransfer supports RSA keys of 2048, 3072 "
                           "and 4096 bits",
                           what, bits);
        kt_rc rc = check_pubexp(pkey, what, e);
        if (rc != KT_OK)
            return rc;
        BIGNUM *third = NULL;
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR3, &third) == 1) {
            BN_clear_free(third);
            return kt_fail(e, KT_EDENIED,
                           "%s is a multi-prime RSA key; keytransfer supports RSA keys of two "
                           "primes only, as HSMs do",
                           what);
        }
        ERR_clear_error(); /* the absent third prime left a note */
        f->type = WORLD_KEY_RSA;
        f->bits = (unsigned)bits;
        f->curve = "";
        return KT_OK;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[80] = "", enc[32] = "";
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof enc,
                                           NULL) == 1 &&
            strcmp(enc, OSSL_PKEY_EC_ENCODING_EXPLICIT) == 0)
            return kt_fail(e, KT_EDENIED,
                           "%s is an EC key with explicit curve parameters; keytransfer takes "
                           "named curves only (convert it with `openssl ec -param_enc "
                           "named_curve`)",
                           what);
        if (EVP_PKEY_get_group_name(pkey, group, sizeof group, NULL) != 1) {
            ERR_clear_error();
            return kt_fail(e, KT_EDENIED,
                           "%s is an EC key on an unnamed curve; the curves are " CURVES_SUPPORTED,
                           what);
        }
        int i = curve_index(group);
        if (i < 0)
            return kt_fail(e, KT_EDENIED,
                           "%s is an EC key on curve %s, which is not supported; the curves "
                           "are " CURVES_SUPPORTED,
                           what, group);
        f->type = WORLD_KEY_EC;
        f->bits = curves[i].bits;
        f->curve = curves[i].name;
        return KT_OK;
    }
    const char *name = EVP_PKEY_get0_type_name(pkey);
    return kt_fail(e, KT_EDENIED,
                   "%s is a key of type %s; keytransfer keeps RSA (2048, 3072, 4096 bits), EC "
                   "(" CURVES_SUPPORTED ") and AES (128, 192, 256 bits) keys",
                   what, name != NULL ? name : "unknown");
}

/* The SubjectPublicKeyInfo DER of pkey into out (WORLD_KEY_SPKI_MAX bytes). */
static kt_rc pkey_spki(EVP_PKEY *pkey, uint8_t *out, size_t *len, kt_err *e)
{
    int n = i2d_PUBKEY(pkey, NULL);
    if (n <= 0)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the public key");
    if ((size_t)n > WORLD_KEY_SPKI_MAX)
        return kt_fail(e, KT_ETOOBIG, "the public key is %d bytes; at most %d are kept", n,
                       WORLD_KEY_SPKI_MAX);
    unsigned char *p = out;
    if (i2d_PUBKEY(pkey, &p) != n)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the public key");
    *len = (size_t)n;
    return KT_OK;
}

/*
 * The PKCS#8 PrivateKeyInfo DER of pkey into *out (secure memory). OpenSSL's encoder writes
 * into a buffer of ours in secure memory; its own memory BIO is freed with clearing.
 */
static kt_rc pkey_pkcs8(EVP_PKEY *pkey, kt_secbuf *out, kt_err *e)
{
    kt_secbuf tmp = {0};
    kt_rc rc;
    OSSL_ENCODER_CTX *ctx =
        OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", NULL);
    if (ctx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ctx) == 0) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "no PKCS#8 encoder for this key");
        goto out;
    }
    if ((rc = kt_secbuf_alloc(&tmp, KEY_MATERIAL_MAX, e)) != KT_OK)
        goto out;
    unsigned char *p = tmp.p;
    size_t left = tmp.len;
    if (OSSL_ENCODER_to_data(ctx, &p, &left) != 1 || left >= tmp.len) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the private key as PKCS#8");
        goto out;
    }
    size_t n = tmp.len - left;
    if ((rc = kt_secbuf_alloc(out, n, e)) != KT_OK)
        goto out;
    memcpy(out->p, tmp.p, n);
out:
    kt_secbuf_free(&tmp);
    OSSL_ENCODER_CTX_free(ctx);
    return rc;
}

/* Decodes PKCS#8 PrivateKeyInfo DER (all of it) of the given type into *out. */
static kt_rc pkcs8_decode(const kt_secbuf *der, world_key_type type, EVP_PKEY **out, kt_err *e)
{
    EVP_PKEY *pkey = NULL;
    const char *name = type == WORLD_KEY_RSA ? "RSA" : "EC";
    OSSL_DECODER_CTX *ctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "PrivateKeyInfo", name,
                                                          EVP_PKEY_KEYPAIR, NULL, NULL);
    const unsigned char *p = der->p;
    size_t left = der->len;
    *out = NULL;
    if (ctx == NULL) {
        return kt_fail_ssl(e, KT_ECRYPTO, "no PKCS#8 decoder for %s keys", name);
    }
    int ok = OSSL_DECODER_from_data(ctx, &p, &left);
    OSSL_DECODER_CTX_free(ctx);
    if (ok != 1 || pkey == NULL || left != 0) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return kt_fail(e, KT_EFORMAT, "the sealed private key is not a PKCS#8 %s key", name);
    }
    *out = pkey;
    return KT_OK;
}

/* key hash of an AES key: SHA-256("keytransfer aes key hash v1" || key). */
static void aes_key_hash(const uint8_t *key, size_t len, uint8_t out[WORLD_HASH_LEN])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)aes_hash_domain,
                              sizeof aes_hash_domain - 1);
    crypto_hash_sha256_update(&st, key, len);
    crypto_hash_sha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/*
 * Checks that material is the private key info describes, and returns its EVP_PKEY (RSA, EC) in
 * *pkey_out (may be NULL). For RSA and EC: PKCS#8 of the stated type, size and curve whose public
 * half is the stated SPKI; for AES: bits/8 bytes whose hash is the key hash.
 */
static kt_rc material_matches(const world_key_info *info, const kt_secbuf *material,
                              EVP_PKEY **pkey_out, kt_err *e)
{
    EVP_PKEY *pkey = NULL;
    key_facts f;
    uint8_t spki[WORLD_KEY_SPKI_MAX], hash[WORLD_HASH_LEN];
    size_t spki_len = 0;
    kt_rc rc;

    if (pkey_out != NULL)
        *pkey_out = NULL;
    if (info->type == WORLD_KEY_AES) {
        if (material->len * 8 != info->bits)
            return kt_fail(e, KT_EDENIED, "the sealed AES key is %zu bits, the file states %u",
                           material->len * 8, info->bits);
        aes_key_hash(material->p, material->len, hash);
        if (!kt_ct_equal(hash, info->key_hash, WORLD_HASH_LEN))
            return kt_fail(e, KT_EDENIED, "the sealed AES key does not match the key hash");
        return KT_OK;
    }
    if ((rc = pkcs8_decode(material, info->type, &pkey, e)) != KT_OK)
        return rc;
    if ((rc = describe_pkey(pkey, "the sealed private key", &f, e)) != KT_OK)
        goto out;
    if (f.type != info->type || f.bits != info->bits || strcmp(f.curve, info->curve) != 0) {
        rc = kt_fail(
            e, KT_EDENIED, "the sealed private key is %s-%u%s%s, the file states %s-%u%s%s",
            world_key_type_name(f.type), f.bits, f.curve[0] ? " " : "", f.curve,
            world_key_type_name(info->type), info->bits, info->curve[0] ? " " : "", info->curve);
        goto out;
    }
    if ((rc = pkey_spki(pkey, spki, &spki_len, e)) != KT_OK)
        goto out;
    if (spki_len != info->spki_len || memcmp(spki, info->spki, spki_len) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "the sealed private key's public half is not the public key "
                     "the file states");
        goto out;
    }
    kt_sha256(hash, spki, spki_len);
    if (memcmp(hash, info->key_hash, WORLD_HASH_LEN) != 0) {
        rc = kt_fail(e, KT_EDENIED, "the public key does not match the key hash");
        goto out;
    }
    if (pkey_out != NULL) {
        *pkey_out = pkey;
        pkey = NULL;
    }
out:
    EVP_PKEY_free(pkey);
    return rc;
}

/* Fills k's type, size, curve, public key, key hash and material from pkey (which k takes). */
static kt_rc key_from_pkey(EVP_PKEY *pkey, const char *what, world_key *k, kt_err *e)
{
    key_facts f;
    kt_rc rc;
    k->pkey = pkey;
    if ((rc = describe_pkey(pkey, what, &f, e)) != KT_OK)
        return rc;
    /* One SPKI per key: EC points are stored uncompressed, as OpenSSL and the clouds expect. */
    if (f.type == WORLD_KEY_EC &&
        EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot set the EC point format");
    k->info.type = f.type;
    k->info.bits = f.bits;
    snprintf(k->info.curve, sizeof k->info.curve, "%s", f.curve);
    if ((rc = pkey_spki(pkey, k->info.spki, &k->info.spki_len, e)) != KT_OK)
        return rc;
    kt_sha256(k->info.key_hash, k->info.spki, k->info.spki_len);
    return pkey_pkcs8(pkey, &k->material, e);
}

/* Fills k's facts for an AES key held in k->material. */
static void key_from_aes(world_key *k)
{
    k->info.type = WORLD_KEY_AES;
    k->info.bits = (unsigned)(k->material.len * 8);
    k->info.curve[0] = '\0';
    k->info.spki_len = 0;
    aes_key_hash(k->material.p, k->material.len, k->info.key_hash);
}

/* ---------------------------------------------------------------------------------------- */
/* The key file                                                                             */
/* ---------------------------------------------------------------------------------------- */

kt_rc key_file_build(const world_key *k, const world_module *m, kt_wbuf *w, kt_err *e)
{
    const world_key_info *in = &k->info;
    uint8_t acl[WORLD_ACL_ENCODED_MAX], type = (uint8_t)in->type, size[4], nonce[AEAD_NONCE_LEN];
    size_t acl_len;
    uint8_t *sealed = NULL;
    kt_secbuf key = {0};
    kt_rc rc;

    if ((rc = world_acl_encode(&in->acl, acl, &acl_len, e)) != KT_OK)
        return rc;
    if (k->material.len < 1 || k->material.len > KEY_MATERIAL_MAX)
        return kt_fail(e, KT_EUSAGE, "a private key of %zu bytes cannot be sealed",
                       k->material.len);
    size[0] = (uint8_t)(in->bits >> 24);
    size[1] = (uint8_t)(in->bits >> 16);
    size[2] = (uint8_t)(in->bits >> 8);
    size[3] = (uint8_t)in->bits;
    kt_random(nonce, sizeof nonce);

    kt_wbuf_header(w, KEY_MAGIC, WORLD_FORMAT_VERSION);
    kt_wbuf_field(w, KEY_T_WORLD, m->info.hash, WORLD_HASH_LEN);
    kt_wbuf_field(w, KEY_T_APP, in->app, strlen(in->app));
    kt_wbuf_field(w, KEY_T_IDENT, in->ident, strlen(in->ident));
    kt_wbuf_field(w, KEY_T_PLAINNAME, in->plainname, strlen(in->plainname));
    kt_wbuf_field(w, KEY_T_TYPE, &type, 1);
    kt_wbuf_field(w, KEY_T_SIZE, size, sizeof size);
    kt_wbuf_field(w, KEY_T_CURVE, in->curve, strlen(in->curve));
    kt_wbuf_field_u64(w, KEY_T_CREATED, in->created);
    kt_wbuf_field(w, KEY_T_SPKI, in->spki, in->spki_len);
    kt_wbuf_field(w, KEY_T_HASH, in->key_hash, WORLD_HASH_LEN);
    kt_wbuf_field(w, KEY_T_ACL, acl, acl_len);
    kt_wbuf_field(w, KEY_T_ACL_SIG, in->acl_sig, in->acl_signed ? WORLD_ACL_SIG_LEN : 0);
    kt_wbuf_field(w, KEY_T_NONCE, nonce, sizeof nonce);
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK)
        return rc;

    /* The seal: everything written so far is its associated data. */
    size_t sealed_len = k->material.len + AEAD_TAG_LEN;
    if ((sealed = malloc(sealed_len)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if ((rc = world_km_subkey(&m->km, WORLD_KM_KEY_FILES, &key, e)) != KT_OK)
        goto out;
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, k->material.p, k->material.len, w->p,
                                               w->len, NULL, nonce, key.p);
    kt_wbuf_field(w, KEY_T_SEALED, sealed, sealed_len);
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK)
        goto out;
    if (w->len > WORLD_KEY_FILE_MAX)
        rc = kt_fail(e, KT_ETOOBIG, "the key file would be %zu bytes; the limit is %d", w->len,
                     WORLD_KEY_FILE_MAX);
out:
    kt_secbuf_free(&key);
    free(sealed); /* ciphertext: public */
    return rc;
}

/* A header string field that must pass a name check; check's KT_EUSAGE becomes KT_EFORMAT. */
static kt_rc name_field(kt_rbuf *r, uint16_t tag, char *out, size_t max,
                        kt_rc (*check)(const char *, kt_err *), kt_err *e)
{
    kt_err why;
    kt_rc rc = kt_rbuf_field_str(r, tag, out, max, e);
    if (rc == KT_OK && check(out, &why) != KT_OK)
        rc = kt_fail(e, KT_EFORMAT, "key file: %s", why.msg);
    return rc;
}

/* Checks a stated SPKI: DER of one supported public key, canonical, agreeing with the header. */
static kt_rc spki_check(const world_key_info *in, kt_err *e)
{
    const unsigned char *p = in->spki;
    uint8_t again[WORLD_KEY_SPKI_MAX];
    size_t again_len = 0;
    key_facts f;
    kt_rc rc;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)in->spki_len);
    if (pkey == NULL || p != in->spki + in->spki_len) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return kt_fail(e, KT_EFORMAT, "key file: the public key is not one SubjectPublicKeyInfo");
    }
    if ((rc = describe_pkey(pkey, "the key file's public key", &f, e)) == KT_OK &&
        (rc = pkey_spki(pkey, again, &again_len, e)) == KT_OK) {
        if (f.type != in->type || f.bits != in->bits || strcmp(f.curve, in->curve) != 0)
            rc = kt_fail(e, KT_EFORMAT,
                         "key file: the public key is %s-%u%s%s, the header says "
                         "%s-%u%s%s",
                         world_key_type_name(f.type), f.bits, f.curve[0] ? " " : "", f.curve,
                         world_key_type_name(in->type), in->bits, in->curve[0] ? " " : "",
                         in->curve);
        else if (again_len != in->spki_len || memcmp(again, in->spki, again_len) != 0)
            rc = kt_fail(e, KT_EFORMAT, "key file: the public key is not in canonical DER");
    }
    if (rc == KT_EDENIED) /* describe_pkey's refusals: here a malformed file */
        rc = kt_fail(e, KT_EFORMAT, "key file: %s", e != NULL ? e->msg : "");
    EVP_PKEY_free(pkey);
    return rc;
}

kt_rc key_file_parse(const uint8_t *raw, size_t len, key_file *k, kt_err *e)
{
    world_key_info *in = &k->info;
    kt_rbuf r;
    uint16_t version;
    uint8_t type, size[4];
    const uint8_t *v;
    size_t vlen;
    kt_rc rc;

    memset(k, 0, sizeof *k);
    k->raw = raw;
    k->len = len;
    if (len > WORLD_KEY_FILE_MAX)
        return kt_fail(e, KT_ETOOBIG, "key file: %zu bytes; the limit is %d", len,
                       WORLD_KEY_FILE_MAX);
    kt_rbuf_init(&r, raw, len, "key file");
    if ((rc = kt_rbuf_header(&r, KEY_MAGIC, &version, e)) != KT_OK)
        return rc;
    if (version != WORLD_FORMAT_VERSION)
        return kt_fail(e, KT_EVERSION, "key file format version %u is not supported (this is %u)",
                       version, WORLD_FORMAT_VERSION);
    if ((rc = kt_rbuf_field_fixed(&r, KEY_T_WORLD, in->world_hash, WORLD_HASH_LEN, e)) ||
        (rc = name_field(&r, KEY_T_APP, in->app, WORLD_KEY_APP_MAX, world_key_check_app, e)) ||
        (rc = name_field(&r, KEY_T_IDENT, in->ident, WORLD_KEY_IDENT_MAX, world_key_check_ident,
                         e)) ||
        (rc = kt_rbuf_field_str(&r, KEY_T_PLAINNAME, in->plainname, WORLD_KEY_PLAINNAME_MAX, e)) ||
        (rc = kt_rbuf_field_fixed(&r, KEY_T_TYPE, &type, 1, e)) ||
        (rc = kt_rbuf_field_fixed(&r, KEY_T_SIZE, size, sizeof size, e)))
        return rc;
    if (type != WORLD_KEY_RSA && type != WORLD_KEY_EC && type != WORLD_KEY_AES)
        return kt_fail(e, KT_EFORMAT, "key file: unknown key type %u", type);
    in->type = (world_key_type)type;
    uint32_t bits = kt_be32(size);
    in->bits = bits;

    if ((rc = kt_rbuf_field(&r, KEY_T_CURVE, 0, WORLD_KEY_CURVE_MAX, &v, &vlen, e)) != KT_OK)
        return rc;
    for (size_t i = 0; i < vlen; i++)
        if (v[i] < 0x21 || v[i] > 0x7e)
            return kt_fail(e, KT_EFORMAT, "key file: the curve name holds byte 0x%02x", v[i]);
    memcpy(in->curve, v, vlen);
    in->curve[vlen] = '\0';
    if ((rc = kt_rbuf_field_u64(&r, KEY_T_CREATED, &in->created, e)) ||
        (rc = kt_rbuf_field(&r, KEY_T_SPKI, 0, WORLD_KEY_SPKI_MAX, &v, &vlen, e)))
        return rc;
    if (vlen > 0)
        memcpy(in->spki, v, vlen);
    in->spki_len = vlen;
    if ((rc = kt_rbuf_field_fixed(&r, KEY_T_HASH, in->key_hash, WORLD_HASH_LEN, e)) ||
        (rc = kt_rbuf_field(&r, KEY_T_ACL, 1, WORLD_ACL_ENCODED_MAX, &v, &vlen, e)))
        return rc;
    if ((rc = world_acl_decode(v, vlen, &in->acl, e)) != KT_OK) {
        kt_err_prefix(e, "key file");
        return rc;
    }
    if ((rc = kt_rbuf_field(&r, KEY_T_ACL_SIG, 0, WORLD_ACL_SIG_LEN, &v, &vlen, e)) != KT_OK)
        return rc;
    if (vlen != 0 && vlen != WORLD_ACL_SIG_LEN)
        return kt_fail(e, KT_EFORMAT, "key file: the ACL signature is %zu bytes; it is empty or %d",
                       vlen, WORLD_ACL_SIG_LEN);
    in->acl_signed = vlen == WORLD_ACL_SIG_LEN;
    if (in->acl_signed)
        memcpy(in->acl_sig, v, WORLD_ACL_SIG_LEN);
    if ((rc = kt_rbuf_field_fixed(&r, KEY_T_NONCE, k->nonce, AEAD_NONCE_LEN, e)) != KT_OK)
        return rc;
    k->aad_len = r.off;
    if ((rc = kt_rbuf_field(&r, KEY_T_SEALED, AEAD_TAG_LEN + 1, AEAD_TAG_LEN + KEY_MATERIAL_MAX,
                            &k->sealed, &k->sealed_len, e)) ||
        (rc = kt_rbuf_end(&r, e)))
        return rc;

    /* The fields agree with each other. */
    switch (in->type) {
    case WORLD_KEY_RSA:
        if (!rsa_size_ok(bits))
            return kt_fail(e, KT_EFORMAT, "key file: RSA size %u bits is not 2048, 3072 or 4096",
                           (unsigned)bits);
        if (in->curve[0] != '\0')
            return kt_fail(e, KT_EFORMAT, "key file: an RSA key names a curve");
        break;
    case WORLD_KEY_EC: {
        int i = curve_index(in->curve);
        if (i < 0 || strcmp(curves[i].name, in->curve) != 0)
            return kt_fail(e, KT_EFORMAT, "key file: curve '%s' is not one of " CURVES_SUPPORTED,
                           in->curve);
        if (curves[i].bits != bits)
            return kt_fail(e, KT_EFORMAT, "key file: curve %s is %u bits, not %u", in->curve,
                           curves[i].bits, (unsigned)bits);
        break;
    }
    case WORLD_KEY_AES:
        if (!aes_size_ok(bits))
            return kt_fail(e, KT_EFORMAT, "key file: AES size %u bits is not 128, 192 or 256",
                           (unsigned)bits);
        if (in->curve[0] != '\0' || in->spki_len != 0)
            return kt_fail(e, KT_EFORMAT, "key file: an AES key names a curve or a public key");
        if (k->sealed_len != bits / 8 + AEAD_TAG_LEN)
            return kt_fail(e, KT_EFORMAT, "key file: the sealed AES key is %zu bytes, not %u",
                           k->sealed_len - AEAD_TAG_LEN, (unsigned)bits / 8);
        return KT_OK;
    }
    if (in->spki_len == 0)
        return kt_fail(e, KT_EFORMAT, "key file: an %s key without its public key",
                       world_key_type_name(in->type));
    uint8_t hash[WORLD_HASH_LEN];
    kt_sha256(hash, in->spki, in->spki_len);
    if (memcmp(hash, in->key_hash, WORLD_HASH_LEN) != 0)
        return kt_fail(e, KT_EFORMAT, "key file: the key hash is not the public key's");
    return spki_check(in, e);
}

kt_rc key_file_open(const key_file *k, const world_module *m, world_key *out, kt_err *e)
{
    const world_key_info *in = &k->info;
    const char *path = in->path[0] != '\0' ? in->path : "(unnamed)";
    kt_secbuf key = {0};
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if (!kt_ct_equal(in->world_hash, m->info.hash, WORLD_HASH_LEN)) {
        char have[2 * WORLD_HASH_LEN + 1], want[2 * WORLD_HASH_LEN + 1];
        kt_hex(have, in->world_hash, WORLD_HASH_LEN);
        kt_hex(want, m->info.hash, WORLD_HASH_LEN);
        return kt_fail(e, KT_EDENIED, "key file %s belongs to world %s, not to this world %s", path,
                       have, want);
    }
    if ((rc = world_km_subkey(&m->km, WORLD_KM_KEY_FILES, &key, e)) != KT_OK ||
        (rc = kt_secbuf_alloc(&out->material, k->sealed_len - AEAD_TAG_LEN, e)) != KT_OK)
        goto out;
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->material.p, &mlen, NULL, k->sealed,
                                                   k->sealed_len, k->raw, k->aad_len, k->nonce,
                                                   key.p) != 0 ||
        mlen != out->material.len) {
        rc = kt_fail(e, KT_EDENIED,
                     "key file %s is damaged or altered: its seal does not open with this "
                     "module's key",
                     path);
        goto out;
    }
    if ((rc = material_matches(in, &out->material, &out->pkey, e)) != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    if (in->acl_signed && (rc = world_acl_verify(&m->info, in->app, in->ident, in->key_hash,
                                                 &in->acl, in->acl_sig, e)) != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    out->info = *in;
out:
    kt_secbuf_free(&key);
    if (rc != KT_OK)
        world_key_free(out);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Saving, loading, listing                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* KT_EEXIST, naming the file, when key_<app>_<ident> exists. */
static kt_rc refuse_existing(const char *path, const char *app, const char *ident, kt_err *e)
{
    if (!kt_path_exists(path))
        return KT_OK;
    return kt_fail(e, KT_EEXIST,
                   "key %s/%s already exists (%s); keytransfer never replaces a key: choose "
                   "another identifier",
                   app, ident, path);
}

kt_rc world_key_save(const world_paths *p, const world_module *m, world_key *k, kt_err *e)
{
    world_key_info *in = &k->info;
    char path[PATH_MAX];
    EVP_PKEY *check = NULL;
    kt_wbuf w;
    kt_rc rc;

    if ((rc = world_key_path(p, in->app, in->ident, path, sizeof path, e)) ||
        (rc = world_key_check_plainname(in->plainname, e)))
        return rc;
    memcpy(in->world_hash, m->info.hash, WORLD_HASH_LEN);
    snprintf(in->path, sizeof in->path, "%s", path);
    /* What is written is what a later load will accept, checked now rather than then. */
    if ((rc = material_matches(in, &k->material, &check, e)) != KT_OK)
        return rc;
    EVP_PKEY_free(check);
    if (in->acl_signed && (rc = world_acl_verify(&m->info, in->app, in->ident, in->key_hash,
                                                 &in->acl, in->acl_sig, e)) != KT_OK)
        return rc;
    if ((rc = refuse_existing(path, in->app, in->ident, e)) != KT_OK ||
        (rc = kt_dir_ensure(p->local, e)) != KT_OK)
        return rc;

    kt_wbuf_init(&w, false);
    if ((rc = key_file_build(k, m, &w, e)) == KT_OK) {
        rc = kt_file_write(path, w.p, w.len, KT_WRITE_NEW, e);
        if (rc == KT_EEXIST) /* made by someone else since the check above */
            rc = kt_fail(e, KT_EEXIST,
                         "key %s/%s already exists (%s); keytransfer never replaces a key: "
                         "choose another identifier",
                         in->app, in->ident, path);
    }
    kt_wbuf_free(&w);
    return rc;
}

kt_rc world_key_load(const world_paths *p, const world_module *m, const char *app,
                     const char *ident, world_key *k, kt_err *e)
{
    char path[PATH_MAX];
    key_file kf;
    kt_buf raw = {0};
    kt_rc rc;

    memset(k, 0, sizeof *k);
    if (app == NULL)
        app = WORLD_KEY_APP_DEFAULT;
    if ((rc = world_key_path(p, app, ident, path, sizeof path, e)) != KT_OK)
        return rc;
    rc = kt_file_read(path, WORLD_KEY_FILE_MAX, &raw, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_ENOENT,
                       "no key %s/%s in this world (%s does not exist); `keytransfer "
                       "key list` shows the keys",
                       app, ident, path);
    if (rc != KT_OK)
        return rc;
    if ((rc = key_file_parse(raw.p, raw.len, &kf, e)) != KT_OK) {
        kt_err_prefix(e, "%s", path);
        goto out;
    }
    snprintf(kf.info.path, sizeof kf.info.path, "%s", path);
    if (strcmp(kf.info.app, app) != 0 || strcmp(kf.info.ident, ident) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "key file %s holds key %s/%s: a renamed or copied key file is refused", path,
                     kf.info.app, kf.info.ident);
        goto out;
    }
    rc = key_file_open(&kf, m, k, e);
out:
    kt_buf_free(&raw);
    return rc;
}

kt_rc world_key_inspect(const world_paths *p, const world_module *m, const char *app,
                        const char *ident, world_key_info *info, kt_err *e)
{
    world_key k;
    kt_rc rc = world_key_load(p, m, app, ident, &k, e);
    if (rc == KT_OK)
        *info = k.info;
    world_key_free(&k);
    return rc;
}

/* Splits "key_<app>_<ident>" (app has no '_', ident neither); false when name is not that. */
static bool split_key_name(const char *name, char *app, char *ident)
{
    const char *rest = name + 4, *us = strchr(rest, '_');
    if (strncmp(name, "key_", 4) != 0 || us == NULL)
        return false;
    size_t alen = (size_t)(us - rest), ilen = strlen(us + 1);
    if (alen < 1 || alen > WORLD_KEY_APP_MAX || ilen < 1 || ilen > WORLD_KEY_IDENT_MAX)
        return false;
    memcpy(app, rest, alen);
    app[alen] = '\0';
    memcpy(ident, us + 1, ilen + 1);
    return world_key_check_app(app, NULL) == KT_OK && world_key_check_ident(ident, NULL) == KT_OK;
}

/*
 * What world_key_load checks, for a listing: the same file, name, world, seal, material and ACL
 * checks, with the module's key-file subkey derived once for the whole listing and the opened
 * seal put into one scratch buffer of secure memory (wiped after each key) instead of a fresh
 * sodium_malloc'd pair per key, and no EVP_PKEY kept.
 */
static kt_rc inspect_listed(const world_paths *p, const world_module *m, const char *app,
                            const char *ident, const kt_secbuf *subkey, const kt_secbuf *scratch,
                            world_key_info *info, kt_err *e)
{
    char path[PATH_MAX];
    key_file kf;
    kt_buf raw = {0};
    kt_rc rc;

    if ((rc = world_key_path(p, app, ident, path, sizeof path, e)) != KT_OK ||
        (rc = kt_file_read(path, WORLD_KEY_FILE_MAX, &raw, e)) != KT_OK)
        return rc;
    if ((rc = key_file_parse(raw.p, raw.len, &kf, e)) != KT_OK) {
        kt_err_prefix(e, "%s", path);
        goto out;
    }
    snprintf(kf.info.path, sizeof kf.info.path, "%s", path);
    if (strcmp(kf.info.app, app) != 0 || strcmp(kf.info.ident, ident) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "key file %s holds key %s/%s: a renamed or copied key file is refused", path,
                     kf.info.app, kf.info.ident);
        goto out;
    }
    if (!kt_ct_equal(kf.info.world_hash, m->info.hash, WORLD_HASH_LEN)) {
        char have[2 * WORLD_HASH_LEN + 1], want[2 * WORLD_HASH_LEN + 1];
        kt_hex(have, kf.info.world_hash, WORLD_HASH_LEN);
        kt_hex(want, m->info.hash, WORLD_HASH_LEN);
        rc = kt_fail(e, KT_EDENIED, "key file %s belongs to world %s, not to this world %s", path,
                     have, want);
        goto out;
    }
    unsigned long long mlen = 0;
    if (kf.sealed_len < AEAD_TAG_LEN || kf.sealed_len - AEAD_TAG_LEN > scratch->len ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(scratch->p, &mlen, NULL, kf.sealed,
                                                   kf.sealed_len, kf.raw, kf.aad_len, kf.nonce,
                                                   subkey->p) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "key file %s is damaged or altered: its seal does not open with this "
                     "module's key",
                     path);
        goto out;
    }
    const kt_secbuf material = {.p = scratch->p, .len = (size_t)mlen};
    rc = material_matches(&kf.info, &material, NULL, e);
    sodium_memzero(scratch->p, (size_t)mlen);
    if (rc != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    if (kf.info.acl_signed &&
        (rc = world_acl_verify(&m->info, kf.info.app, kf.info.ident, kf.info.key_hash, &kf.info.acl,
                               kf.info.acl_sig, e)) != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    *info = kf.info;
out:
    kt_buf_free(&raw);
    return rc;
}

/* A key file's name in a listing, split once for sorting. */
typedef struct listed {
    char *name;  /* the file name (heap) */
    size_t alen; /* key_<app>_: app's length; 0 when the name is not a key file name */
} listed;

/* As by_name: names that parse first, by app then ident; the others after, by file name. */
static int by_listed(const void *a, const void *b)
{
    const listed *x = a, *y = b;
    if ((x->alen != 0) != (y->alen != 0))
        return x->alen != 0 ? -1 : 1;
    if (x->alen == 0)
        return strcmp(x->name, y->name);
    size_t n = x->alen < y->alen ? x->alen : y->alen;
    int c = memcmp(x->name + 4, y->name + 4, n);
    if (c == 0 && x->alen != y->alen)
        return x->alen < y->alen ? -1 : 1;
    return c != 0 ? c : strcmp(x->name + 5 + x->alen, y->name + 5 + y->alen);
}

kt_rc world_key_foreach(const world_paths *p, const world_module *m, world_key_visit_fn visit,
                        void *ctx, kt_err *e)
{
    listed *names = NULL;
    size_t n = 0, cap = 0;
    kt_secbuf subkey = {0}, scratch = {0};
    world_key_entry *it = NULL;
    kt_rc rc = KT_OK;

    DIR *d = opendir(p->local);
    if (d == NULL)
        return kt_fail_errno(e, errno == ENOENT ? KT_ENOENT : KT_EIO, errno, "cannot list %s",
                             p->local);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        char app[WORLD_KEY_APP_MAX + 1], ident[WORLD_KEY_IDENT_MAX + 1];
        if (strncmp(de->d_name, "key_", 4) != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            listed *grown = realloc(names, ncap * sizeof *names);
            if (grown == NULL) {
                rc = kt_fail(e, KT_ENOMEM, "out of memory");
                break;
            }
            names = grown;
            cap = ncap;
        }
        if ((names[n].name = strdup(de->d_name)) == NULL) {
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
            break;
        }
        names[n].alen = split_key_name(de->d_name, app, ident) ? strlen(app) : 0;
        n++;
    }
    closedir(d);
    if (rc == KT_OK && n > 0) {
        qsort(names, n, sizeof *names, by_listed);
        if ((it = malloc(sizeof *it)) == NULL)
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
        else if ((rc = world_km_subkey(&m->km, WORLD_KM_KEY_FILES, &subkey, e)) == KT_OK)
            rc = kt_secbuf_alloc(&scratch, WORLD_KEY_FILE_MAX, e);
    }
    for (size_t i = 0; rc == KT_OK && i < n; i++) {
        char app[WORLD_KEY_APP_MAX + 1], ident[WORLD_KEY_IDENT_MAX + 1];
        memset(it, 0, sizeof *it);
        kt_err_clear(&it->err);
        int len = snprintf(it->file, sizeof it->file, "%s/%s", p->local, names[i].name);
        if (len < 0 || (size_t)len >= sizeof it->file)
            it->rc = kt_fail(&it->err, KT_EUSAGE, "path too long: %s", p->local);
        else if (!split_key_name(names[i].name, app, ident))
            it->rc = kt_fail(&it->err, KT_EFORMAT,
                             "%s: not a key file name (key_<app>_<ident>, app of [a-z0-9], ident "
                             "of [0-9a-z-])",
                             it->file);
        else if ((it->rc = inspect_listed(p, m, app, ident, &subkey, &scratch, &it->info,
                                          &it->err)) != KT_OK) {
            /* Only the names, from the file name, so the entry sorts where the key would. */
            memset(&it->info, 0, sizeof it->info);
            snprintf(it->info.app, sizeof it->info.app, "%s", app);
            snprintf(it->info.ident, sizeof it->info.ident, "%s", ident);
        }
        rc = visit(ctx, it, e);
    }
    kt_secbuf_free(&scratch);
    kt_secbuf_free(&subkey);
    free(it);
    for (size_t i = 0; i < n; i++)
        free(names[i].name);
    free(names);
    return rc;
}

typedef struct list_acc {
    world_key_entry *v;
    size_t n, cap;
} list_acc;

static kt_rc list_add(void *ctx, const world_key_entry *entry, kt_err *e)
{
    list_acc *a = ctx;
    if (a->n == a->cap) {
        size_t ncap = a->cap == 0 ? 16 : a->cap * 2;
        world_key_entry *grown = realloc(a->v, ncap * sizeof *a->v);
        if (grown == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        a->v = grown;
        a->cap = ncap;
    }
    a->v[a->n++] = *entry;
    return KT_OK;
}

kt_rc world_key_list(const world_paths *p, const world_module *m, world_key_entry **entries,
                     size_t *count, kt_err *e)
{
    list_acc a = {0};
    kt_rc rc = world_key_foreach(p, m, list_add, &a, e);

    *entries = NULL;
    *count = 0;
    if (rc != KT_OK) {
        free(a.v);
        return rc;
    }
    *entries = a.v;
    *count = a.n;
    return KT_OK;
}

kt_rc world_key_public_pem(const world_key_info *info, char **pem, kt_err *e)
{
    *pem = NULL;
    if (info->type == WORLD_KEY_AES || info->spki_len == 0)
        return kt_fail(e, KT_EUSAGE, "key %s/%s is an AES key: it has no public key", info->app,
                       info->ident);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    if (bio == NULL ||
        PEM_write_bio(bio, PEM_STRING_PUBLIC, "", info->spki, (long)info->spki_len) <= 0 ||
        (n = BIO_get_mem_data(bio, &data)) <= 0) {
        BIO_free(bio);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot write the public key as PEM");
    }
    *pem = strndup(data, (size_t)n);
    BIO_free(bio);
    if (*pem == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    return KT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Generating                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Names of a new key: checked, defaulted, copied into info. */
static kt_rc set_names(world_key_info *in, const char *app, const char *ident,
                       const char *plainname, kt_err *e)
{
    kt_rc rc;
    if (app == NULL)
        app = WORLD_KEY_APP_DEFAULT;
    if (plainname == NULL)
        plainname = ident;
    if ((rc = world_key_check_app(app, e)) || (rc = world_key_check_ident(ident, e)) ||
        (rc = world_key_check_plainname(plainname, e)))
        return rc;
    snprintf(in->app, sizeof in->app, "%s", app);
    snprintf(in->ident, sizeof in->ident, "%s", ident);
    snprintf(in->plainname, sizeof in->plainname, "%s", plainname);
    return KT_OK;
}

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
        if (!rsa_size_ok(o->bits))
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
            return kt_fail(e, KT_EUSAGE, "an EC key needs a curve: " CURVES_SUPPORTED);
        if ((rc = world_key_curve(o->curve, curve, &bits, e)) != KT_OK)
            return rc;
        if (o->bits != 0 && o->bits != bits)
            return kt_fail(e, KT_EUSAGE, "curve %s is %u bits, not %u", *curve, bits, o->bits);
        return KT_OK;
    }
    case WORLD_KEY_AES:
        if (!aes_size_ok(o->bits))
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
        (rc = set_names(&k.info, o->app, o->ident, o->plainname, e)) ||
        (rc = world_key_path(p, k.info.app, k.info.ident, path, sizeof path, e)) ||
        (rc = refuse_existing(path, k.info.app, k.info.ident, e))) /* before slow work */
        goto out;

    if (o->type == WORLD_KEY_AES) {
        if ((rc = kt_secbuf_alloc(&k.material, o->bits / 8, e)) != KT_OK)
            goto out;
        kt_random(k.material.p, k.material.len);
        key_from_aes(&k);
    } else {
        rc = o->type == WORLD_KEY_RSA ? generate_rsa(o, &pkey, e) : generate_ec(curve, &pkey, e);
        if (rc != KT_OK)
            goto out;
        rc = key_from_pkey(pkey, "the generated key", &k, e); /* k owns pkey from here */
        pkey = NULL;
        if (rc != KT_OK)
            goto out;
    }
    k.info.created = (uint64_t)time(NULL);
    if (o->acl != NULL)
        k.info.acl = *o->acl;
    else
        world_acl_default(k.info.type, &k.info.acl);
    if ((rc = world_key_save(p, m, &k, e)) == KT_OK && info != NULL)
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
        if (!aes_size_ok((unsigned)(k->material.len * 8)))
            return kt_fail(e, KT_EDENIED,
                           "an AES key of %zu bytes; keytransfer keeps AES keys of 128, 192 and "
                           "256 bits",
                           k->material.len);
        key_from_aes(k);
        return KT_OK;
    }
    if (type != WORLD_KEY_RSA && type != WORLD_KEY_EC)
        return kt_fail(e, KT_EUSAGE, "unknown key type %d", (int)type);
    if ((rc = pkcs8_decode(&k->material, type, &pkey, e)) != KT_OK)
        return rc;
    kt_secbuf_free(&k->material); /* key_from_pkey writes the canonical encoding */
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
    return key_from_pkey(pkey, "the key", k, e); /* k owns pkey from here */
}

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
    if ((rc = set_names(&k.info, o->app, o->ident, o->plainname, e)) ||
        (rc = world_key_path(p, k.info.app, k.info.ident, path, sizeof path, e)) ||
        (rc = refuse_existing(path, k.info.app, k.info.ident, e)))
        goto out;
    if ((rc = kt_file_read_secret(o->from, IMPORT_FILE_MAX, &data, e)) != KT_OK)
        goto out;

    if (o->type == WORLD_KEY_AES) {
        if (!aes_size_ok((unsigned)(data.len * 8))) {
            rc = kt_fail(e, KT_EFORMAT,
                         "%s is %zu bytes; a raw AES key file holds exactly 16, 24 or 32 bytes "
                         "(binary, not hex or base64)",
                         o->from, data.len);
            goto out;
        }
        k.material = data; /* k owns it now */
        data.p = NULL;
        data.len = 0;
        key_from_aes(&k);
    } else {
        if ((rc = decode_private(&data, o->from, &ps, &pkey, e)) != KT_OK)
            goto out;
        rc = key_from_pkey(pkey, o->from, &k, e); /* k owns pkey from here */
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
    if ((rc = world_key_save(p, m, &k, e)) == KT_OK && info != NULL)
        *info = k.info;
out:
    EVP_PKEY_free(pkey);
    kt_secbuf_free(&data);
    kt_secbuf_free(&ps.pass);
    world_key_free(&k);
    return rc;
}
