/*
 * wrap.c - CKM_RSA_AES_KEY_WRAP of a token key, inside the token (token.h, token_wrap): one
 * C_WrapKey when the token offers the mechanism, otherwise the two steps every cloud accepts,
 * with a trusted session key made by the Security Officer, after a conformance probe of the
 * token's RFC 5649 key wrap with padding.
 */
#include "token_internal.h"

#include <stdlib.h>
#include <string.h>

/* CK_RSA_AES_KEY_WRAP_PARAMS (PKCS#11 v2.40 §2.1.21), which p11-kit's header does not declare. */
typedef struct rsa_aes_params {
    CK_ULONG aes_key_bits;
    CK_RSA_PKCS_OAEP_PARAMS *oaep;
} rsa_aes_params;

/* RFC 5649 §6, the second example: a 192-bit KEK wraps 20 octets. Public test values. */
static const uint8_t probe_kek[24] = {0x58, 0x40, 0xdf, 0x6e, 0x29, 0xb0, 0x2a, 0xf1,
                                      0xab, 0x49, 0x3b, 0x70, 0x5b, 0xf1, 0x6e, 0xa1,
                                      0xae, 0x83, 0x38, 0xf4, 0xdc, 0xc1, 0x76, 0xa8};
static const uint8_t probe_key[20] = {0xc3, 0x7b, 0x7e, 0x64, 0x92, 0x58, 0x43, 0x40, 0xbe, 0xd1,
                                      0x22, 0x07, 0x80, 0x89, 0x41, 0x15, 0x50, 0x68, 0xf7, 0x38};
static const uint8_t probe_wrapped[32] = {
    0x13, 0x8b, 0xde, 0xaa, 0x9b, 0x8f, 0xa7, 0xfc, 0x61, 0xf9, 0x77, 0x42, 0xe7, 0x22, 0x48, 0xee,
    0x5a, 0xe6, 0xae, 0x53, 0x60, 0xd1, 0xae, 0x6a, 0x5f, 0x54, 0xf3, 0x73, 0xfa, 0x54, 0x3b, 0x6a};

/* C_WrapKey into a fresh heap buffer. */
static kt_rc wrap_key(token *t, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                      const char *what, kt_buf *out, kt_err *e)
{
    CK_ULONG len = 0;
    CK_RV rv = t->f->C_WrapKey(t->session, m, wrapping, key, NULL, &len);
    if (rv == CKR_OK && (len == 0 || len > 64 * 1024))
        return kt_fail(e, KT_EFORMAT, "%s: the token announces %lu bytes", what,
                       (unsigned long)len);
    if (rv == CKR_OK && (out->p = malloc(len)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if (rv == CKR_OK)
        rv = t->f->C_WrapKey(t->session, m, wrapping, key, out->p, &len);
    if (rv != CKR_OK) {
        kt_buf_free(out);
        return token_rv_fail(e, rv, what);
    }
    out->len = len;
    return KT_OK;
}

/* A value of a multiple of 8 octets (RFC 3394 §4.1's key data) under the same key: RFC 5649's
 * answer, as python3-cryptography's aes_key_wrap_with_padding and `openssl enc
 * -id-aes192-wrap-pad` both give it. */
static const uint8_t probe8_key[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t probe8_wrapped[24] = {0x3d, 0x50, 0x96, 0x11, 0x1d, 0x22, 0x7d, 0x3c,
                                           0x97, 0xf6, 0xa8, 0xd6, 0x19, 0xcc, 0xf2, 0xee,
                                           0x79, 0x12, 0xee, 0xbe, 0xb1, 0xb4, 0x1e, 0x43};

/* Wraps value under the probe key (both session objects, public test values, destroyed here)
 * and compares with want. */
static kt_rc probe_one(token *t, const uint8_t *value, size_t value_len, const uint8_t *want,
                       size_t want_len, bool *same, kt_err *e)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES, gen = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE kek_tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &aes, sizeof aes},
        {CKA_TOKEN, &no, 1},
        {CKA_PRIVATE, &no, 1},
        {CKA_SENSITIVE, &no, 1},
        {CKA_WRAP, &yes, 1},
        {CKA_VALUE, UNCONST(probe_kek), sizeof probe_kek},
    };
    CK_ATTRIBUTE key_tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &gen, sizeof gen},
        {CKA_TOKEN, &no, 1},
        {CKA_PRIVATE, &no, 1},
        {CKA_SENSITIVE, &no, 1},
        {CKA_EXTRACTABLE, &yes, 1},
        {CKA_VALUE, UNCONST(value), value_len},
    };
    CK_OBJECT_HANDLE hk = CK_INVALID_HANDLE, hv = CK_INVALID_HANDLE;
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    kt_buf w = {0};
    kt_rc rc = KT_OK;
    CK_RV rv;

    if ((rv = t->f->C_CreateObject(t->session, kek_tmpl, 7, &hk)) != CKR_OK ||
        (rv = t->f->C_CreateObject(t->session, key_tmpl, 7, &hv)) != CKR_OK)
        rc = token_rv_fail(e, rv, "creating the RFC 5649 probe's session objects");
    if (rc == KT_OK)
        rc = wrap_key(t, &m, hk, hv, "C_WrapKey (CKM_AES_KEY_WRAP_PAD, the RFC 5649 probe)", &w, e);
    *same = rc == KT_OK && w.len == want_len && memcmp(w.p, want, want_len) == 0;
    kt_buf_free(&w);
    if (hv != CK_INVALID_HANDLE)
        (void)t->f->C_DestroyObject(t->session, hv);
    if (hk != CK_INVALID_HANDLE)
        (void)t->f->C_DestroyObject(t->session, hk);
    return rc;
}

/*
 * The probe: are the token's CKM_AES_KEY_WRAP_PAD results RFC 5649? A token that pads the input
 * with zeros to a multiple of 8 itself before wrapping it (and states the padded length in the
 * alternative IV; SoftHSM 2.6.1 does) writes a blob that unwraps to the key followed by zero
 * bytes, which no cloud accepts as PKCS#8. Such a token is still right for an input of a multiple
 * of 8 octets: an AES key. exact_len is true when the target's length is known to be a multiple
 * of 8 (AES keys, from CKA_VALUE_LEN); PKCS#8 lengths are the token's own.
 */
static kt_rc probe_kwp(token *t, bool multiple_of_8, kt_err *e)
{
    bool odd_ok = false, even_ok = false;
    kt_rc rc =
        probe_one(t, probe_key, sizeof probe_key, probe_wrapped, sizeof probe_wrapped, &odd_ok, e);
    if (rc == KT_OK)
        rc = probe_one(t, probe8_key, sizeof probe8_key, probe8_wrapped, sizeof probe8_wrapped,
                       &even_ok, e);
    if (rc != KT_OK || (odd_ok && even_ok) || (even_ok && multiple_of_8))
        return rc;
    return kt_fail(e, KT_EDENIED,
                   "token \"%s\" (%s, %s) does not implement CKM_AES_KEY_WRAP_PAD as RFC 5649 "
                   "defines it: it wraps the RFC's §6 example of 20 octets to bytes that are not "
                   "the RFC's answer%s. A key whose length is not a multiple of 8 (a PKCS#8 "
                   "private key) would come out with zero bytes after it, which no cloud "
                   "accepts. This is the token's fault; nothing was wrapped. Use a token whose "
                   "key wrap conforms, or one that offers CKM_RSA_AES_KEY_WRAP",
                   t->info.label, t->info.manufacturer, t->info.model,
                   even_ok ? " (it pads the input itself; 16 octets wrap right)"
                           : ", nor 16 octets");
}

/* The target: found by label, the ID recorded at the reduction, allowed to go. */
static kt_rc target(token *t, const token_wrap_opts *o, CK_OBJECT_HANDLE *h, bool *aes, kt_err *e)
{
    token_key k;
    kt_rc rc = token_key_find(t, o->label, &k, e);
    if (rc != KT_OK)
        return rc;
    if (k.id_len != o->id_len || memcmp(k.id, o->id, o->id_len) != 0)
        return kt_fail(e, KT_EDENIED,
                       "key \"%s\" in token \"%s\" is not the key that was reduced (its CKA_ID "
                       "differs from the record's): a key of the same label replaced it",
                       o->label, t->info.label);
    if (o->spki != NULL && (k.spki_len != o->spki_len || memcmp(k.spki, o->spki, k.spki_len) != 0))
        return kt_fail(e, KT_EDENIED,
                       "key \"%s\" in token \"%s\" has another public key than the record: it "
                       "is not the key that was reduced",
                       o->label, t->info.label);
    const char *why = token_key_refusal(&k);
    if (why != NULL)
        return kt_fail(e, KT_EDENIED, "key \"%s\" in token \"%s\" may not be transferred: %s",
                       o->label, t->info.label, why);
    *aes = k.type == TOKEN_KEY_AES;
    CK_OBJECT_CLASS cls = k.type == TOKEN_KEY_AES ? CKO_SECRET_KEY : CKO_PRIVATE_KEY;
    return token_find_one(t, cls, o->label, o->id, o->id_len, h, e);
}

/* The KEK object: trusted, for wrapping, this very key. */
static kt_rc kek_object(token *t, const token_wrap_opts *o, CK_OBJECT_HANDLE *h, kt_err *e)
{
    token_kek_state st;
    kt_rc rc = token_kek_state_get(t, o->kek_fp, o->kek, &st, e);
    if (rc != KT_OK)
        return rc;
    if (!st.present)
        return kt_fail(e, KT_EDENIED,
                       "token \"%s\" holds no KEK with this fingerprint: run keytransfer "
                       "modify-acls --token for this KEK first",
                       t->info.label);
    if (!st.same_key || !st.trusted || !st.can_wrap)
        return kt_fail(e, KT_EDENIED, "the token's object with the KEK's ID is %s: refused",
                       !st.same_key ? "another key" : "not a trusted wrapping key");
    return token_find_one(t, CKO_PUBLIC_KEY, NULL, o->kek_fp, 32, h, e);
}

/* Many tokens offer OAEP with SHA-1 only (SoftHSM 2.6.1 among them): say what to do. */
static kt_rc no_sha256(token *t, kt_err *e)
{
    char why[KT_ERR_MSG_MAX];
    snprintf(why, sizeof why, "%s", e->msg);
    return kt_fail(e, KT_EDENIED,
                   "token \"%s\" (%s %s) does not offer CKM_RSA_PKCS_OAEP with SHA-256 (%.300s); "
                   "nothing was wrapped. For AWS and Google Cloud, package with --oaep-hash sha1 "
                   "(AWS KMS RSA_AES_KEY_WRAP_SHA_1 or RSAES_OAEP_SHA_1, Google Cloud KMS "
                   "RSA_OAEP_3072_SHA1_AES_256 or RSA_OAEP_4096_SHA1_AES_256)",
                   t->info.label, t->info.manufacturer, t->info.model, why);
}

static void destroy_session_key(token *t)
{
    if (t->session_key != CK_INVALID_HANDLE)
        (void)t->f->C_DestroyObject(t->session, t->session_key);
    t->session_key = CK_INVALID_HANDLE;
}

kt_rc token_wrap(token *t, const token_wrap_opts *o, kt_buf *blob, token_wrap_form *form, kt_err *e)
{
    CK_RSA_PKCS_OAEP_PARAMS oaep = {
        .hashAlg = o->oaep_sha256 ? CKM_SHA256 : CKM_SHA_1,
        .mgf = o->oaep_sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
        .source = CKZ_DATA_SPECIFIED,
        .pSourceData = NULL,
        .ulSourceDataLen = 0,
    };
    CK_OBJECT_HANDLE kek, key;
    bool aes = false;
    kt_buf rsa = {0}, kwp = {0};
    kt_rc rc;
    kt_err ignored;

    memset(blob, 0, sizeof *blob);
    *form = 0;
    const char *oaep_name = o->oaep_sha256 ? "CKM_RSA_PKCS_OAEP with SHA-256 and MGF1-SHA-256"
                                           : "CKM_RSA_PKCS_OAEP with SHA-1 and MGF1-SHA-1";

    /* Direct: the target itself under the trusted KEK (RFC 8017 §7.1.1 in the token). */
    if (o->direct) {
        CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
        char what[128];
        snprintf(what, sizeof what, "C_WrapKey (%s, the key under the KEK)", oaep_name);
        if ((rc = token_need_mech(t, CKM_RSA_PKCS_OAEP, CKF_WRAP, "wraps the key under the KEK",
                                  e)) != KT_OK)
            return rc;
        if ((rc = token_login(t, false, o->user_pin, e)) != KT_OK ||
            (rc = target(t, o, &key, &aes, e)) != KT_OK ||
            (rc = kek_object(t, o, &kek, e)) != KT_OK ||
            (rc = wrap_key(t, &m, kek, key, what, blob, e)) != KT_OK) {
            if (o->oaep_sha256 && rc == KT_EDENIED && strstr(e->msg, "C_WrapKey") != NULL)
                rc = no_sha256(t, e);
            if (token_logout(t, &ignored) != KT_OK)
                kt_err_clear(&ignored);
            return rc;
        }
        *form = TOKEN_WRAP_DIRECT;
        return token_logout(t, e);
    }

    /* One step, when the token offers it: the target with CKA_WRAP_WITH_TRUSTED goes out under
     * the trusted KEK only; the user's login is enough. */
    if (token_has_mech(t, CKM_RSA_AES_KEY_WRAP, CKF_WRAP)) {
        rsa_aes_params p = {.aes_key_bits = 256, .oaep = &oaep};
        CK_MECHANISM m = {CKM_RSA_AES_KEY_WRAP, &p, sizeof p};
        if ((rc = token_login(t, false, o->user_pin, e)) != KT_OK ||
            (rc = target(t, o, &key, &aes, e)) != KT_OK ||
            (rc = kek_object(t, o, &kek, e)) != KT_OK ||
            (rc = wrap_key(t, &m, kek, key, "C_WrapKey (CKM_RSA_AES_KEY_WRAP)", blob, e)) !=
                KT_OK) {
            if (token_logout(t, &ignored) != KT_OK)
                kt_err_clear(&ignored);
            return rc;
        }
        *form = TOKEN_WRAP_ONE_STEP;
        return token_logout(t, e);
    }

    /* 1. Every mechanism the two steps need, before any login. */
    if ((rc = token_need_mech(t, CKM_AES_KEY_GEN, CKF_GENERATE,
                              "makes the session key of the two-step wrap", e)) != KT_OK ||
        (rc = token_need_mech(t, CKM_RSA_PKCS_OAEP, CKF_WRAP,
                              "wraps the session key under the KEK (CKM_RSA_AES_KEY_WRAP is not "
                              "offered either)",
                              e)) != KT_OK ||
        (rc = token_need_mech(t, CKM_AES_KEY_WRAP_PAD, CKF_WRAP,
                              "wraps the key under the session key, RFC 5649 (CKM_RSA_AES_KEY_WRAP "
                              "is not offered either)",
                              e)) != KT_OK)
        return rc;

    /* 2. As the user: the probe, and the target may go. */
    if ((rc = token_login(t, false, o->user_pin, e)) != KT_OK ||
        (rc = target(t, o, &key, &aes, e)) != KT_OK || (rc = probe_kwp(t, aes, e)) != KT_OK ||
        (rc = token_logout(t, e)) != KT_OK)
        goto out;

    /* 3. As the SO: the trusted session key, wrapped under the trusted KEK. */
    if ((rc = token_login(t, true, o->so_pin, e)) != KT_OK ||
        (rc = kek_object(t, o, &kek, e)) != KT_OK)
        goto out;
    {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE aes_type = CKK_AES;
        CK_ULONG len = 32;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
        CK_ATTRIBUTE tmpl[] = {
            {CKA_CLASS, &cls, sizeof cls},
            {CKA_KEY_TYPE, &aes_type, sizeof aes_type},
            {CKA_VALUE_LEN, &len, sizeof len},
            {CKA_TOKEN, &no, 1},
            {CKA_PRIVATE, &no, 1},
            {CKA_SENSITIVE, &yes, 1},
            {CKA_EXTRACTABLE, &yes, 1},
            {CKA_TRUSTED, &yes, 1},
            {CKA_WRAP_WITH_TRUSTED, &yes, 1},
            {CKA_WRAP, &yes, 1},
            {CKA_UNWRAP, &no, 1},
            {CKA_ENCRYPT, &no, 1},
            {CKA_DECRYPT, &no, 1},
            {CKA_SIGN, &no, 1},
            {CKA_VERIFY, &no, 1},
            {CKA_DERIVE, &no, 1},
        };
        CK_RV rv = t->f->C_GenerateKey(t->session, &gen, tmpl, sizeof tmpl / sizeof tmpl[0],
                                       &t->session_key);
        if (rv != CKR_OK) {
            t->session_key = CK_INVALID_HANDLE;
            rc = token_rv_fail(e, rv, "C_GenerateKey (the trusted AES-256 session key)");
            goto out;
        }
    }
    {
        CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
        char what[128];
        snprintf(what, sizeof what, "C_WrapKey (%s, the session key under the KEK)", oaep_name);
        if ((rc = wrap_key(t, &m, kek, t->session_key, what, &rsa, e)) != KT_OK) {
            if (o->oaep_sha256 && rc == KT_EDENIED)
                rc = no_sha256(t, e);
            goto out;
        }
    }
    if ((rc = token_logout(t, e)) != KT_OK)
        goto out;

    /* 4. As the user: the target under the session key, RFC 5649. Private objects' handles
     * died with the logout; the target is found again. */
    {
        CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
        if ((rc = token_login(t, false, o->user_pin, e)) != KT_OK ||
            (rc = target(t, o, &key, &aes, e)) != KT_OK ||
            (rc = wrap_key(t, &m, t->session_key, key,
                           "C_WrapKey (CKM_AES_KEY_WRAP_PAD, the key under the session key)", &kwp,
                           e)) != KT_OK)
            goto out;
    }

    /* The blob: RSA part, then the RFC 5649 part (PKCS#11 v2.40 §2.1.21). */
    if ((rc = kt_buf_join(blob, &rsa, &kwp, e)) != KT_OK)
        goto out;
    *form = TOKEN_WRAP_TWO_STEP;
out:
    /* 5. The session key dies on every path. */
    destroy_session_key(t);
    if (rc == KT_OK)
        rc = token_logout(t, e);
    else if (token_logout(t, &ignored) != KT_OK)
        kt_err_clear(&ignored);
    kt_buf_free(&rsa);
    kt_buf_free(&kwp);
    if (rc != KT_OK)
        kt_buf_free(blob);
    return rc;
}
