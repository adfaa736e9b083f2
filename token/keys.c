/*
 * keys.c - the keys in a token: generation with the attributes a transfer needs (token.h), lookup
 * by label, what their attributes say, their public keys as SubjectPublicKeyInfo DER (built with
 * OpenSSL from CKA_MODULUS/CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS/CKA_EC_POINT), and the KEK
 * imported as a trusted wrapping key.
 */
#include "token_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

/* The curves, as keytransfer names them, and their CKA_EC_PARAMS (the DER of their OID). */
typedef struct curve {
    const char *name, *ossl;
    unsigned bits;
    uint8_t oid[12];
    size_t oid_len;
} curve;

static const curve curves[] = {
    {"P-256", "prime256v1", 256, {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, 10},
    {"P-384", "secp384r1", 384, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, 7},
    {"P-521", "secp521r1", 521, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}, 7},
    {"secp256k1", "secp256k1", 256, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}, 7},
};

static const curve *curve_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (name != NULL && strcmp(curves[i].name, name) == 0)
            return &curves[i];
    return NULL;
}

static const curve *curve_by_oid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (curves[i].oid_len == n && memcmp(curves[i].oid, p, n) == 0)
            return &curves[i];
    return NULL;
}

kt_rc token_find_one(token *t, CK_OBJECT_CLASS cls, const char *label, const uint8_t *id,
                     size_t id_len, CK_OBJECT_HANDLE *h, kt_err *e)
{
    CK_ATTRIBUTE tmpl[3];
    CK_ULONG n = 0, found = 0;
    CK_OBJECT_HANDLE hs[2];
    CK_RV rv;

    tmpl[n++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof cls};
    if (label != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_LABEL, UNCONST(label), strlen(label)};
    if (id != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_ID, UNCONST(id), id_len};
    if ((rv = t->f->C_FindObjectsInit(t->session, tmpl, n)) != CKR_OK)
        return token_rv_fail(e, rv, "C_FindObjectsInit");
    rv = t->f->C_FindObjects(t->session, hs, 2, &found);
    (void)t->f->C_FindObjectsFinal(t->session);
    if (rv != CKR_OK)
        return token_rv_fail(e, rv, "C_FindObjects");
    if (found == 0)
        return kt_fail(e, KT_ENOENT, "not found");
    if (found > 1)
        return kt_fail(e, KT_EDENIED, "more than one object matches");
    *h = hs[0];
    return KT_OK;
}

/* Reads one attribute of at most max bytes into buf; *len its length. */
static kt_rc get_attr(token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf, size_t max,
                      size_t *len, kt_err *e)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_RV rv = t->f->C_GetAttributeValue(t->session, h, &a, 1);
    if (rv != CKR_OK)
        return token_rv_fail(e, rv, "C_GetAttributeValue");
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > max)
        return kt_fail(e, KT_EFORMAT, "the token gives attribute 0x%lx with %lu bytes",
                       (unsigned long)type, (unsigned long)a.ulValueLen);
    a.pValue = buf;
    if ((rv = t->f->C_GetAttributeValue(t->session, h, &a, 1)) != CKR_OK)
        return token_rv_fail(e, rv, "C_GetAttributeValue");
    *len = a.ulValueLen;
    return KT_OK;
}

static bool get_bool(token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = {type, &v, sizeof v};
    return t->f->C_GetAttributeValue(t->session, h, &a, 1) == CKR_OK && v == CK_TRUE;
}

static kt_rc get_ulong(token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG *out,
                       kt_err *e)
{
    size_t len;
    kt_rc rc = get_attr(t, h, type, out, sizeof *out, &len, e);
    if (rc == KT_OK && len != sizeof *out)
        return kt_fail(e, KT_EFORMAT, "the token gives a CK_ULONG attribute of %zu bytes", len);
    return rc;
}

/* SubjectPublicKeyInfo DER of an RSA public key (n, e big-endian). */
static kt_rc rsa_spki(const uint8_t *n, size_t nlen, const uint8_t *ex, size_t elen, uint8_t *out,
                      size_t max, size_t *outlen, unsigned *bits, kt_err *e)
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(ex, (int)elen, NULL);
    kt_rc rc = KT_OK;

    if (b == NULL || bn == NULL || be == NULL || !OSSL_PARAM_BLD_push_BN(b, "n", bn) ||
        !OSSL_PARAM_BLD_push_BN(b, "e", be) || (params = OSSL_PARAM_BLD_to_param(b)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        rc = kt_fail_ssl(e, KT_EFORMAT, "the token's RSA public key is not valid");
    if (rc == KT_OK) {
        int len = i2d_PUBKEY(pk, NULL);
        uint8_t *p = out;
        if (len <= 0 || (size_t)len > max || i2d_PUBKEY(pk, &p) != len)
            rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the token's RSA public key");
        else {
            *outlen = (size_t)len;
            *bits = (unsigned)EVP_PKEY_get_bits(pk);
        }
    }
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_free(bn);
    BN_free(be);
    return rc;
}

/* SubjectPublicKeyInfo DER of an EC public key: CKA_EC_POINT is a DER OCTET STRING (PKCS#11
 * v2.40 §2.3.3); a raw point is taken too, as some modules give it. */
static kt_rc ec_spki(const curve *c, const uint8_t *point, size_t plen, uint8_t *out, size_t max,
                     size_t *outlen, kt_err *e)
{
    const uint8_t *p = point;
    ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)plen);
    const uint8_t *raw = point;
    size_t rawlen = plen;
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    kt_rc rc = KT_OK;

    if (os != NULL && p == point + plen) {
        raw = ASN1_STRING_get0_data(os);
        rawlen = (size_t)ASN1_STRING_length(os);
    }
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)UNCONST(c->ossl), 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, UNCONST(raw), rawlen);
    params[2] = OSSL_PARAM_construct_end();
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        rc = kt_fail_ssl(e, KT_EFORMAT, "the token's EC public key is not a point of %s", c->name);
    if (rc == KT_OK) {
        int len = i2d_PUBKEY(pk, NULL);
        uint8_t *q = out;
        if (len <= 0 || (size_t)len > max || i2d_PUBKEY(pk, &q) != len)
            rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the token's EC public key");
        else
            *outlen = (size_t)len;
    }
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    ASN1_OCTET_STRING_free(os);
    return rc;
}

/* The public key object beside a private key: same CKA_ID. */
static kt_rc describe(token *t, CK_OBJECT_HANDLE h, token_key *k, kt_err *e)
{
    CK_ULONG cls, kt;
    size_t len;
    uint8_t big[1024], big2[1024];
    kt_rc rc;

    memset(k, 0, sizeof *k);
    if ((rc = get_ulong(t, h, CKA_CLASS, &cls, e)) != KT_OK ||
        (rc = get_ulong(t, h, CKA_KEY_TYPE, &kt, e)) != KT_OK)
        return rc;
    if ((rc = get_attr(t, h, CKA_LABEL, k->label, TOKEN_LABEL_MAX, &len, e)) != KT_OK) {
        kt_err_prefix(e, "the key's label");
        return rc;
    }
    k->label[len] = '\0';
    if ((rc = get_attr(t, h, CKA_ID, k->id, sizeof k->id, &k->id_len, e)) != KT_OK) {
        kt_err_prefix(e, "key \"%s\": its CKA_ID", k->label);
        return rc;
    }
    k->sensitive = get_bool(t, h, CKA_SENSITIVE);
    k->always_sensitive = get_bool(t, h, CKA_ALWAYS_SENSITIVE);
    k->extractable = get_bool(t, h, CKA_EXTRACTABLE);
    k->never_extractable = get_bool(t, h, CKA_NEVER_EXTRACTABLE);
    k->wrap_with_trusted = get_bool(t, h, CKA_WRAP_WITH_TRUSTED);
    k->is_private = get_bool(t, h, CKA_PRIVATE);

    if (cls == CKO_SECRET_KEY && kt == CKK_AES) {
        CK_ULONG vl;
        if ((rc = get_ulong(t, h, CKA_VALUE_LEN, &vl, e)) != KT_OK)
            return rc;
        k->type = TOKEN_KEY_AES;
        k->bits = (unsigned)vl * 8;
        return KT_OK;
    }
    if (cls != CKO_PRIVATE_KEY || (kt != CKK_RSA && kt != CKK_EC))
        return kt_fail(e, KT_EDENIED,
                       "key \"%s\" is of a class or type keytransfer does not transfer (RSA and "
                       "EC private keys, AES keys)",
                       k->label);
    /* The public half: the public key object of the same ID, else the private key's own
     * public attributes (CKA_MODULUS and CKA_PUBLIC_EXPONENT are public in PKCS#11). */
    CK_OBJECT_HANDLE pub;
    kt_err ignored;
    if (token_find_one(t, CKO_PUBLIC_KEY, NULL, k->id, k->id_len, &pub, &ignored) != KT_OK)
        pub = h;
    if (kt == CKK_RSA) {
        size_t elen;
        k->type = TOKEN_KEY_RSA;
        if ((rc = get_attr(t, pub, CKA_MODULUS, big, sizeof big, &len, e)) != KT_OK ||
            (rc = get_attr(t, pub, CKA_PUBLIC_EXPONENT, big2, 16, &elen, e)) != KT_OK)
            return rc;
        return rsa_spki(big, len, big2, elen, k->spki, sizeof k->spki, &k->spki_len, &k->bits, e);
    }
    k->type = TOKEN_KEY_EC;
    size_t plen;
    if ((rc = get_attr(t, pub, CKA_EC_PARAMS, big, sizeof big, &len, e)) != KT_OK ||
        (rc = get_attr(t, pub, CKA_EC_POINT, big2, sizeof big2, &plen, e)) != KT_OK)
        return rc;
    const curve *c = curve_by_oid(big, len);
    if (c == NULL)
        return kt_fail(e, KT_EDENIED,
                       "key \"%s\" is on a curve keytransfer does not transfer (P-256, P-384, "
                       "P-521, secp256k1)",
                       k->label);
    snprintf(k->curve, sizeof k->curve, "%s", c->name);
    k->bits = c->bits;
    return ec_spki(c, big2, plen, k->spki, sizeof k->spki, &k->spki_len, e);
}

/* The private or secret key labelled label. */
static kt_rc find_key(token *t, const char *label, CK_OBJECT_HANDLE *h, kt_err *e)
{
    kt_rc r1 = token_find_one(t, CKO_PRIVATE_KEY, label, NULL, 0, h, e);
    if (r1 == KT_OK) {
        CK_OBJECT_HANDLE other;
        kt_err ignored;
        if (token_find_one(t, CKO_SECRET_KEY, label, NULL, 0, &other, &ignored) != KT_ENOENT)
            return kt_fail(e, KT_EDENIED, "token \"%s\" has more than one key labelled \"%s\"",
                           t->info.label, label);
        return KT_OK;
    }
    if (r1 != KT_ENOENT) {
        if (r1 == KT_EDENIED)
            return kt_fail(e, KT_EDENIED, "token \"%s\" has more than one key labelled \"%s\"",
                           t->info.label, label);
        return r1;
    }
    kt_rc r2 = token_find_one(t, CKO_SECRET_KEY, label, NULL, 0, h, e);
    if (r2 == KT_ENOENT)
        return kt_fail(e, KT_ENOENT,
                       "token \"%s\" has no key labelled \"%s\"%s (generate it with keytransfer "
                       "key generate --token)",
                       t->info.label, label,
                       t->logged_in ? "" : " that can be seen without logging in");
    if (r2 == KT_EDENIED)
        return kt_fail(e, KT_EDENIED, "token \"%s\" has more than one key labelled \"%s\"",
                       t->info.label, label);
    return r2;
}

kt_rc token_key_find(token *t, const char *label, token_key *out, kt_err *e)
{
    CK_OBJECT_HANDLE h;
    kt_rc rc = find_key(t, label, &h, e);
    if (rc == KT_OK && (rc = describe(t, h, out, e)) != KT_OK)
        kt_err_prefix(e, "token \"%s\", key \"%s\"", t->info.label, label);
    return rc;
}

kt_rc token_key_list(token *t, token_key **keys, size_t *n, kt_err *e)
{
    static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_SECRET_KEY};
    CK_OBJECT_HANDLE hs[256];
    token_key *v = NULL;
    size_t count = 0;

    *keys = NULL;
    *n = 0;
    for (size_t c = 0; c < 2; c++) {
        CK_OBJECT_CLASS cls = classes[c];
        CK_BBOOL tok = CK_TRUE;
        CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &tok, sizeof tok}};
        CK_ULONG found = 0;
        CK_RV rv = t->f->C_FindObjectsInit(t->session, tmpl, 2);
        if (rv == CKR_OK) {
            rv = t->f->C_FindObjects(t->session, hs, sizeof hs / sizeof hs[0], &found);
            (void)t->f->C_FindObjectsFinal(t->session);
        }
        if (rv != CKR_OK) {
            free(v);
            return token_rv_fail(e, rv, "listing the token's keys");
        }
        token_key *nv = realloc(v, (count + found + 1) * sizeof *nv);
        if (nv == NULL) {
            free(v);
            return kt_fail(e, KT_ENOMEM, "out of memory");
        }
        v = nv;
        for (CK_ULONG i = 0; i < found; i++) {
            kt_err ignored;
            /* Keys keytransfer does not transfer (other types, curves) are left out. */
            if (describe(t, hs[i], &v[count], &ignored) == KT_OK)
                count++;
        }
    }
    *keys = v;
    *n = count;
    return KT_OK;
}

const char *token_key_refusal(const token_key *k)
{
    if (!k->sensitive)
        return "it has CKA_SENSITIVE false: its bytes can be read out of the token in clear, so "
               "nobody can say where they have been";
    if (!k->always_sensitive)
        return "it has CKA_ALWAYS_SENSITIVE false: it was readable in clear at some time, so "
               "nobody can say where its bytes have been";
    if (!k->extractable)
        return "it has CKA_EXTRACTABLE false: the token will not wrap it for any KEK";
    if (!k->wrap_with_trusted)
        return "it is freely extractable (CKA_EXTRACTABLE true, CKA_WRAP_WITH_TRUSTED false): "
               "the token would wrap it under any key it holds, so it cannot hold the key to the "
               "KEK; generate the key with keytransfer key generate --token";
    return NULL;
}

kt_rc token_key_generate(token *t, const token_keygen *g, token_key *out, kt_err *e)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE, h;
    uint8_t id[TOKEN_NEW_ID_LEN];
    CK_ULONG label_len;
    CK_RV rv;
    kt_rc rc;
    kt_err ignored;

    memset(out, 0, sizeof *out);
    if (g->label == NULL || (label_len = strlen(g->label)) == 0 || label_len > TOKEN_LABEL_MAX)
        return kt_fail(e, KT_EUSAGE, "a key label of 1..%d characters is required",
                       TOKEN_LABEL_MAX);
    if (find_key(t, g->label, &h, &ignored) != KT_ENOENT)
        return kt_fail(e, KT_EEXIST, "token \"%s\" already has a key labelled \"%s\"",
                       t->info.label, g->label);
    kt_random(id, sizeof id);

    /* PKCS#11 v2.40 §4.9 (private keys) and §4.10 (secret keys): stored, private, sensitive,
     * extractable only under a trusted wrapping key; no use inside the token but the transfer. */
    if (g->type == TOKEN_KEY_AES) {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE kt = CKK_AES;
        CK_ULONG len = g->bits / 8;
        CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
        CK_ATTRIBUTE tmpl[] = {
            {CKA_CLASS, &cls, sizeof cls},
            {CKA_KEY_TYPE, &kt, sizeof kt},
            {CKA_VALUE_LEN, &len, sizeof len},
            {CKA_TOKEN, &yes, 1},
            {CKA_PRIVATE, &yes, 1},
            {CKA_SENSITIVE, &yes, 1},
            {CKA_EXTRACTABLE, &yes, 1},
            {CKA_WRAP_WITH_TRUSTED, &yes, 1},
            {CKA_ENCRYPT, &no, 1},
            {CKA_DECRYPT, &no, 1},
            {CKA_WRAP, &no, 1},
            {CKA_UNWRAP, &no, 1},
            {CKA_SIGN, &no, 1},
            {CKA_VERIFY, &no, 1},
            {CKA_DERIVE, &no, 1},
            {CKA_LABEL, UNCONST(g->label), label_len},
            {CKA_ID, id, sizeof id},
        };
        if (g->bits != 128 && g->bits != 192 && g->bits != 256)
            return kt_fail(e, KT_EUSAGE, "an AES key has 128, 192 or 256 bits, not %u", g->bits);
        if ((rc = token_need_mech(t, CKM_AES_KEY_GEN, CKF_GENERATE, "generates an AES key", e)) !=
            KT_OK)
            return rc;
        rv = t->f->C_GenerateKey(t->session, &m, tmpl, sizeof tmpl / sizeof tmpl[0], &priv);
        if (rv != CKR_OK)
            return token_rv_fail(e, rv, "C_GenerateKey (AES)");
    } else if (g->type == TOKEN_KEY_RSA || g->type == TOKEN_KEY_EC) {
        bool rsa = g->type == TOKEN_KEY_RSA;
        CK_ULONG bits = g->bits;
        static const uint8_t f4[] = {0x01, 0x00, 0x01};
        const curve *c = rsa ? NULL : curve_by_name(g->curve);
        CK_MECHANISM m = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
        CK_ATTRIBUTE pub_all[9] = {
            {CKA_TOKEN, &yes, 1},    {CKA_PRIVATE, &no, 1},
            {CKA_VERIFY, &yes, 1},   {CKA_ENCRYPT, &no, 1},
            {CKA_WRAP, &no, 1},      {CKA_LABEL, UNCONST(g->label), label_len},
            {CKA_ID, id, sizeof id},
        };
        if (rsa) {
            if (bits != 2048 && bits != 3072 && bits != 4096)
                return kt_fail(e, KT_EUSAGE, "an RSA key has 2048, 3072 or 4096 bits, not %u",
                               g->bits);
            pub_all[7] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof bits};
            pub_all[8] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, UNCONST(f4), sizeof f4};
        } else {
            if (c == NULL)
                return kt_fail(e, KT_EUSAGE,
                               "the token offers the curves P-256, P-384, P-521 "
                               "and secp256k1 to keytransfer");
            pub_all[7] = (CK_ATTRIBUTE){CKA_EC_PARAMS, UNCONST(c->oid), c->oid_len};
        }
        CK_ATTRIBUTE priv_tmpl[] = {
            {CKA_TOKEN, &yes, 1},
            {CKA_PRIVATE, &yes, 1},
            {CKA_SENSITIVE, &yes, 1},
            {CKA_EXTRACTABLE, &yes, 1},
            {CKA_WRAP_WITH_TRUSTED, &yes, 1},
            {CKA_SIGN, &no, 1},
            {CKA_DECRYPT, &no, 1},
            {CKA_UNWRAP, &no, 1},
            {CKA_DERIVE, &no, 1},
            {CKA_LABEL, UNCONST(g->label), label_len},
            {CKA_ID, id, sizeof id},
        };
        if ((rc = token_need_mech(t, m.mechanism, CKF_GENERATE_KEY_PAIR,
                                  rsa ? "generates an RSA key pair" : "generates an EC key pair",
                                  e)) != KT_OK)
            return rc;
        rv = t->f->C_GenerateKeyPair(t->session, &m, pub_all, rsa ? 9 : 8, priv_tmpl,
                                     sizeof priv_tmpl / sizeof priv_tmpl[0], &pub, &priv);
        if (rv != CKR_OK) {
            char what[96];
            if (rsa)
                snprintf(what, sizeof what, "C_GenerateKeyPair (RSA-%u)", g->bits);
            else
                snprintf(what, sizeof what, "C_GenerateKeyPair (EC %s)", c->name);
            return token_rv_fail(e, rv, what);
        }
    } else {
        return kt_fail(e, KT_EUSAGE, "unknown key type %d", (int)g->type);
    }
    if ((rc = describe(t, priv, out, e)) != KT_OK)
        kt_err_prefix(e, "the new key \"%s\"", g->label);
    return rc;
}

/* The RSA public key's modulus and exponent, big-endian, from OpenSSL. */
static kt_rc kek_numbers(EVP_PKEY *kek, uint8_t *n, size_t *nlen, uint8_t *ex, size_t *elen,
                         kt_err *e)
{
    BIGNUM *bn = NULL, *be = NULL;
    kt_rc rc = KT_OK;
    if (EVP_PKEY_get_bn_param(kek, OSSL_PKEY_PARAM_RSA_N, &bn) != 1 ||
        EVP_PKEY_get_bn_param(kek, OSSL_PKEY_PARAM_RSA_E, &be) != 1 || BN_num_bytes(bn) > 512 ||
        BN_num_bytes(be) > 16)
        rc = kt_fail_ssl(e, KT_EFORMAT, "the KEK is not an RSA key keytransfer can import");
    else {
        *nlen = (size_t)BN_bn2bin(bn, n);
        *elen = (size_t)BN_bn2bin(be, ex);
    }
    BN_free(bn);
    BN_free(be);
    return rc;
}

kt_rc token_kek_state_get(token *t, const uint8_t fp[32], EVP_PKEY *kek, token_kek_state *st,
                          kt_err *e)
{
    CK_OBJECT_HANDLE h;
    uint8_t n[512], ex[16], tn[600], tex[16];
    size_t nlen, elen, tnlen, telen;
    kt_rc rc;

    memset(st, 0, sizeof *st);
    rc = token_find_one(t, CKO_PUBLIC_KEY, NULL, fp, 32, &h, e);
    if (rc == KT_ENOENT) {
        kt_err_clear(e);
        return KT_OK;
    }
    if (rc != KT_OK)
        return kt_fail(e, rc, "token \"%s\" holds more than one object with the KEK's ID",
                       t->info.label);
    st->present = true;
    st->trusted = get_bool(t, h, CKA_TRUSTED);
    st->can_wrap = get_bool(t, h, CKA_WRAP);
    if ((rc = kek_numbers(kek, n, &nlen, ex, &elen, e)) != KT_OK ||
        (rc = get_attr(t, h, CKA_MODULUS, tn, sizeof tn, &tnlen, e)) != KT_OK ||
        (rc = get_attr(t, h, CKA_PUBLIC_EXPONENT, tex, sizeof tex, &telen, e)) != KT_OK)
        return rc;
    /* Leading zero bytes are not significant in a PKCS#11 big integer. */
    const uint8_t *a = tn, *b = tex;
    while (tnlen > 0 && *a == 0)
        a++, tnlen--;
    while (telen > 0 && *b == 0)
        b++, telen--;
    st->same_key =
        tnlen == nlen && memcmp(a, n, nlen) == 0 && telen == elen && memcmp(b, ex, elen) == 0;
    return KT_OK;
}

kt_rc token_kek_import(token *t, const uint8_t fp[32], EVP_PKEY *kek, kt_err *e)
{
    token_kek_state st;
    uint8_t n[512], ex[16];
    size_t nlen, elen;
    char label[32], hex[65];
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE kt = CKK_RSA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE h;
    CK_RV rv;
    kt_rc rc;

    if (!t->logged_in_so)
        return kt_fail(e, KT_EDENIED,
                       "importing a trusted KEK needs the Security Officer logged in");
    if ((rc = token_kek_state_get(t, fp, kek, &st, e)) != KT_OK)
        return rc;
    if (st.present) {
        if (st.same_key && st.trusted && st.can_wrap)
            return KT_OK;
        return kt_fail(e, KT_EDENIED,
                       "token \"%s\" already holds an object with the KEK's ID that is %s; "
                       "keytransfer leaves it alone: delete it with pkcs11-tool if it is stale",
                       t->info.label, !st.same_key ? "another key" : "not a trusted wrapping key");
    }
    if ((rc = kek_numbers(kek, n, &nlen, ex, &elen, e)) != KT_OK)
        return rc;
    kt_hex(hex, fp, 32);
    snprintf(label, sizeof label, "kek-%.16s", hex);
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &yes, 1},
        {CKA_PRIVATE, &no, 1},
        {CKA_MODIFIABLE, &no, 1},
        {CKA_WRAP, &yes, 1},
        {CKA_TRUSTED, &yes, 1},
        {CKA_ENCRYPT, &no, 1},
        {CKA_VERIFY, &no, 1},
        {CKA_LABEL, label, strlen(label)},
        {CKA_ID, UNCONST(fp), 32},
        {CKA_MODULUS, n, nlen},
        {CKA_PUBLIC_EXPONENT, ex, elen},
    };
    rv = t->f->C_CreateObject(t->session, tmpl, sizeof tmpl / sizeof tmpl[0], &h);
    if (rv != CKR_OK) {
        rc = token_rv_fail(e, rv, "C_CreateObject");
        kt_err_prefix(e, "importing the KEK into token \"%s\" as a trusted wrapping key",
                      t->info.label);
        return rc;
    }
    return KT_OK;
}
