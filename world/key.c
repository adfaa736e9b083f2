/*
 * key.c - module-protected keys (docs/design.md §4, docs/formats.md "Key files"): their names,
 * types, sizes and curves, and the facts of an OpenSSL key that a key file states. The key file
 * is key_file.c, kmdata's keys key_store.c, generating key_generate.c, importing key_import.c.
 *
 * Private keys are in secure memory (kt_secbuf) whenever they are ours to hold; OpenSSL objects
 * are freed with EVP_PKEY_free and BIGNUMs with BN_clear_free. Loading checks everything a file
 * states: format, world, seal, that the private key's public half is the stated public key, and
 * the ACL signature, so nothing is believed because a file says so.
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

const char KEY_MAGIC[8] = {'K', 'T', 'X', 'K', 'E', 'Y', 'F', 'L'};

static const unsigned rsa_sizes[] = {2048, 3072, 4096};
static const unsigned aes_sizes[] = {128, 192, 256};

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

static bool is_ident_char(char c)
{
    return is_lower_or_digit(c) || c == '-';
}

static bool is_printable_ascii(char c)
{
    return (unsigned char)c >= 0x20 && (unsigned char)c <= 0x7e;
}

/* The rule every name keeps: 1 to max characters ("WHAT is 1 to MAX characters, not N"), each of
 * them one that ok accepts. *bad is the index of the first one it refuses, or the length. */
static kt_rc name_scan(const char *s, int max, const char *what, bool (*ok)(char), size_t *bad,
                       kt_err *e)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n < 1 || n > (size_t)max)
        return kt_fail(e, KT_EUSAGE, "%s is 1 to %d characters, not %zu", what, max, n);
    for (*bad = 0; *bad < n && ok(s[*bad]); (*bad)++)
        ;
    return KT_OK;
}

kt_rc world_key_check_app(const char *app, kt_err *e)
{
    size_t bad = 0;
    kt_rc rc = name_scan(app, WORLD_KEY_APP_MAX, "an application name", is_lower_or_digit, &bad, e);
    if (rc == KT_OK && app[bad] != '\0')
        rc = kt_fail(e, KT_EUSAGE,
                     "application name '%s': only lower-case letters and digits are allowed", app);
    return rc;
}

kt_rc world_key_check_ident(const char *ident, kt_err *e)
{
    size_t bad = 0;
    kt_rc rc = name_scan(ident, WORLD_KEY_IDENT_MAX, "a key identifier", is_ident_char, &bad, e);
    if (rc == KT_OK && ident[bad] != '\0')
        rc = kt_fail(e, KT_EUSAGE,
                     "key identifier '%s': only digits, lower-case letters and hyphens are "
                     "allowed (as nShield requires)",
                     ident);
    return rc;
}

kt_rc world_key_check_plainname(const char *plainname, kt_err *e)
{
    size_t bad = 0;
    kt_rc rc = name_scan(plainname, WORLD_KEY_PLAINNAME_MAX, "a key's plain name",
                         is_printable_ascii, &bad, e);
    if (rc == KT_OK && plainname[bad] != '\0')
        rc = kt_fail(e, KT_EUSAGE, "a key's plain name is printable ASCII; character %zu is not",
                     bad + 1);
    return rc;
}

kt_rc world_key_curve(const char *name, const char **canonical, unsigned *bits, kt_err *e)
{
    const kt_curve *c = kt_curve_find(name);
    if (c == NULL)
        return kt_fail(e, KT_EUSAGE,
                       "curve '%s' is not supported; the curves are " KT_CURVES_SUPPORTED,
                       name != NULL ? name : "");
    if (canonical != NULL)
        *canonical = c->name;
    *bits = c->bits;
    return KT_OK;
}

static bool size_in(unsigned bits, const unsigned *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == bits)
            return true;
    return false;
}

bool key_rsa_size_ok(unsigned bits)
{
    return size_in(bits, rsa_sizes, sizeof rsa_sizes / sizeof rsa_sizes[0]);
}

bool key_aes_size_ok(unsigned bits)
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
kt_rc key_describe_pkey(EVP_PKEY *pkey, const char *what, key_facts *f, kt_err *e)
{
    memset(f, 0, sizeof *f);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits <= 0 || !key_rsa_size_ok((unsigned)bits))
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
            return kt_fail(
                e, KT_EDENIED,
                "%s is an EC key on an unnamed curve; the curves are " KT_CURVES_SUPPORTED, what);
        }
        const kt_curve *c = kt_curve_find(group);
        if (c == NULL)
            return kt_fail(e, KT_EDENIED,
                           "%s is an EC key on curve %s, which is not supported; the curves "
                           "are " KT_CURVES_SUPPORTED,
                           what, group);
        f->type = WORLD_KEY_EC;
        f->bits = c->bits;
        f->curve = c->name;
        return KT_OK;
    }
    const char *name = EVP_PKEY_get0_type_name(pkey);
    return kt_fail(e, KT_EDENIED,
                   "%s is a key of type %s; keytransfer keeps RSA (2048, 3072, 4096 bits), EC "
                   "(" KT_CURVES_SUPPORTED ") and AES (128, 192, 256 bits) keys",
                   what, name != NULL ? name : "unknown");
}

/* The SubjectPublicKeyInfo DER of pkey into out (WORLD_KEY_SPKI_MAX bytes). */
kt_rc key_pkey_spki(EVP_PKEY *pkey, uint8_t *out, size_t *len, kt_err *e)
{
    kt_buf der = {0};
    kt_rc rc = kt_spki_encode(pkey, &der, e);
    if (rc != KT_OK)
        return rc;
    if (der.len > WORLD_KEY_SPKI_MAX)
        rc = kt_fail(e, KT_ETOOBIG, "the public key is %zu bytes; at most %d are kept", der.len,
                     WORLD_KEY_SPKI_MAX);
    else {
        memcpy(out, der.p, der.len);
        *len = der.len;
    }
    kt_buf_free(&der);
    return rc;
}

/* The PKCS#8 PrivateKeyInfo DER of pkey into *out (secure memory), at most KEY_MATERIAL_MAX. */
static kt_rc pkey_pkcs8(EVP_PKEY *pkey, kt_secbuf *out, kt_err *e)
{
    kt_rc rc = kt_pkcs8_encode(pkey, out, e);
    if (rc == KT_OK && out->len > KEY_MATERIAL_MAX) {
        size_t n = out->len;
        kt_secbuf_free(out);
        rc = kt_fail(e, KT_ETOOBIG,
                     "the private key's PKCS#8 form is %zu bytes; at most %d are kept", n,
                     KEY_MATERIAL_MAX);
    }
    return rc;
}

/* Decodes PKCS#8 PrivateKeyInfo DER (all of it) of the given type into *out. */
kt_rc key_pkcs8_decode(const kt_secbuf *der, world_key_type type, EVP_PKEY **out, kt_err *e)
{
    const char *name = type == WORLD_KEY_RSA ? "RSA" : "EC";
    kt_err inner = {0};
    EVP_PKEY *pkey = NULL;

    *out = NULL;
    if (kt_pkcs8_decode(der->p, der->len, &pkey, &inner) != KT_OK || !EVP_PKEY_is_a(pkey, name)) {
        EVP_PKEY_free(pkey);
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
kt_rc key_material_matches(const world_key_info *info, const kt_secbuf *material,
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
    if ((rc = key_pkcs8_decode(material, info->type, &pkey, e)) != KT_OK)
        return rc;
    if ((rc = key_describe_pkey(pkey, "the sealed private key", &f, e)) != KT_OK)
        goto out;
    if (f.type != info->type || f.bits != info->bits || strcmp(f.curve, info->curve) != 0) {
        rc = kt_fail(
            e, KT_EDENIED, "the sealed private key is %s-%u%s%s, the file states %s-%u%s%s",
            world_key_type_name(f.type), f.bits, f.curve[0] ? " " : "", f.curve,
            world_key_type_name(info->type), info->bits, info->curve[0] ? " " : "", info->curve);
        goto out;
    }
    if ((rc = key_pkey_spki(pkey, spki, &spki_len, e)) != KT_OK)
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
kt_rc key_fill_from_pkey(EVP_PKEY *pkey, const char *what, world_key *k, kt_err *e)
{
    key_facts f;
    kt_rc rc;
    k->pkey = pkey;
    if ((rc = key_describe_pkey(pkey, what, &f, e)) != KT_OK)
        return rc;
    /* One SPKI per key: EC points are stored uncompressed, as OpenSSL and the clouds expect. */
    if (f.type == WORLD_KEY_EC &&
        EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot set the EC point format");
    k->info.type = f.type;
    k->info.bits = f.bits;
    snprintf(k->info.curve, sizeof k->info.curve, "%s", f.curve);
    if ((rc = key_pkey_spki(pkey, k->info.spki, &k->info.spki_len, e)) != KT_OK)
        return rc;
    kt_sha256(k->info.key_hash, k->info.spki, k->info.spki_len);
    return pkey_pkcs8(pkey, &k->material, e);
}

/* Fills k's facts for an AES key held in k->material. */
void key_fill_from_aes(world_key *k)
{
    k->info.type = WORLD_KEY_AES;
    k->info.bits = (unsigned)(k->material.len * 8);
    k->info.curve[0] = '\0';
    k->info.spki_len = 0;
    aes_key_hash(k->material.p, k->material.len, k->info.key_hash);
}
