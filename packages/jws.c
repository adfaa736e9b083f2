/*
 * jws.c - the vendor-signed packages' envelope: JWS (RFC 7515) in flattened JSON serialization
 * (§7.2.2), algorithm ES384 only (RFC 7518 §3.4: ECDSA P-384 with SHA-384, the signature as raw
 * r || s of 48 bytes each), the certificate chain in the protected header's x5c (§4.1.6:
 * standard padded base64 of each DER certificate, leaf first). Signing, strict parsing and the
 * signature check; the chain's trust is verify/'s work.
 */
#include "packages_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#define HALF            (PKG_ES384_SIG_LEN / 2)
#define HEADER_JSON_MAX (64 * 1024)
/* Characters of standard base64 for PKG_CERT_DER_MAX bytes. */
#define X5C_CHARS_MAX ((PKG_CERT_DER_MAX + 2) / 3 * 4)

/* ----------------------------------------------------------------------------------------- */
/* ECDSA signature forms                                                                      */
/* ----------------------------------------------------------------------------------------- */

kt_rc pkg_ecdsa_der_to_raw(const uint8_t *der, size_t der_len, uint8_t raw[PKG_ES384_SIG_LEN],
                           kt_err *e)
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *sig;
    kt_rc rc = KT_OK;

    memset(raw, 0, PKG_ES384_SIG_LEN);
    if (der_len == 0 || der_len > 256)
        return kt_fail(e, KT_EFORMAT, "an ECDSA signature of %zu bytes is not a P-384 one",
                       der_len);
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (sig == NULL) {
        ERR_clear_error();
        return kt_fail(e, KT_EFORMAT, "not a DER ECDSA-Sig-Value");
    }
    ECDSA_SIG_get0(sig, &r, &s);
    if ((size_t)(p - der) != der_len)
        rc = kt_fail(e, KT_EFORMAT, "trailing data (%zu bytes) after the DER ECDSA-Sig-Value",
                     der_len - (size_t)(p - der));
    else if (BN_is_negative(r) || BN_is_negative(s) || BN_num_bytes(r) > HALF ||
             BN_num_bytes(s) > HALF)
        rc = kt_fail(e, KT_EFORMAT, "the ECDSA signature's r or s does not fit %d bytes", HALF);
    /* RFC 7518 §3.4: each integer as a 48-byte big-endian octet string, left-padded. */
    else if (BN_bn2binpad(r, raw, HALF) != HALF || BN_bn2binpad(s, raw + HALF, HALF) != HALF)
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot convert the ECDSA signature");
    ECDSA_SIG_free(sig);
    if (rc != KT_OK)
        memset(raw, 0, PKG_ES384_SIG_LEN);
    return rc;
}

kt_rc pkg_ecdsa_raw_to_der(const uint8_t raw[PKG_ES384_SIG_LEN], kt_buf *der, kt_err *e)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, HALF, NULL), *s = BN_bin2bn(raw + HALF, HALF, NULL);
    unsigned char *q;
    int n;
    kt_rc rc = KT_OK;

    der->p = NULL;
    der->len = 0;
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return kt_fail_ssl(e, KT_ENOMEM, "cannot convert the ECDSA signature");
    }
    /* sig owns r and s now. */
    n = i2d_ECDSA_SIG(sig, NULL);
    if (n <= 0 || (der->p = malloc((size_t)n)) == NULL) {
        rc = kt_fail_ssl(e, KT_ENOMEM, "cannot encode the ECDSA signature");
        goto done;
    }
    q = der->p;
    if (i2d_ECDSA_SIG(sig, &q) != n) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the ECDSA signature");
        free(der->p);
        der->p = NULL;
        goto done;
    }
    der->len = (size_t)n;
done:
    ECDSA_SIG_free(sig);
    return rc;
}

/* ----------------------------------------------------------------------------------------- */
/* Signing                                                                                    */
/* ----------------------------------------------------------------------------------------- */

/* ECDSA P-384 / SHA-384 of msg, as raw r || s. */
static kt_rc es384_sign(EVP_PKEY *key, const char *msg, size_t len, uint8_t raw[PKG_ES384_SIG_LEN],
                        kt_err *e)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[160];
    size_t der_len = sizeof der;
    kt_rc rc;

    if (ctx == NULL)
        return kt_fail_ssl(e, KT_ENOMEM, "cannot set up ECDSA");
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)msg, len) != 1) {
        EVP_MD_CTX_free(ctx);
        return kt_fail_ssl(e, KT_ECRYPTO, "ECDSA P-384 signing failed");
    }
    EVP_MD_CTX_free(ctx);
    rc = pkg_ecdsa_der_to_raw(der, der_len, raw, e);
    kt_wipe(der, sizeof der);
    return rc;
}

static kt_rc es384_verify(EVP_PKEY *pub, const char *msg, size_t len,
                          const uint8_t raw[PKG_ES384_SIG_LEN], kt_err *e)
{
    EVP_MD_CTX *ctx;
    kt_buf der = {0};
    int ok;
    kt_rc rc;

    if (!pkg_is_p384(pub))
        return kt_fail(e, KT_EDENIED,
                       "the signer's key is not an ECDSA P-384 key, so it cannot have made an "
                       "ES384 signature");
    if ((rc = pkg_ecdsa_raw_to_der(raw, &der, e)) != KT_OK)
        return rc;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        kt_buf_free(&der);
        return kt_fail_ssl(e, KT_ENOMEM, "cannot set up ECDSA");
    }
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, pub) != 1) {
        EVP_MD_CTX_free(ctx);
        kt_buf_free(&der);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot set up ECDSA verification");
    }
    ok = EVP_DigestVerify(ctx, der.p, der.len, (const unsigned char *)msg, len);
    EVP_MD_CTX_free(ctx);
    kt_buf_free(&der);
    ERR_clear_error();
    if (ok != 1)
        return kt_fail(e, KT_EDENIED,
                       "the JWS signature does not verify with the leaf certificate's key: the "
                       "package was altered or signed by another key");
    return KT_OK;
}

/* a '.' b in a new heap string. */
static kt_rc join_dot(const char *a, const char *b, char **out, size_t *out_len, kt_err *e)
{
    size_t la = strlen(a), lb = strlen(b);

    *out = malloc(la + 1 + lb + 1);
    if (*out == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    memcpy(*out, a, la);
    (*out)[la] = '.';
    memcpy(*out + la + 1, b, lb + 1);
    *out_len = la + 1 + lb;
    return KT_OK;
}

/* The protected header {"alg":"ES384","typ":"JOSE+JSON","x5c":[...]} as compact JSON. */
static kt_rc build_header(X509 *const *chain, size_t n, char **out, kt_err *e)
{
    json_t *h = json_object(), *x5c = json_array();
    kt_rc rc = KT_OK;

    *out = NULL;
    if (h == NULL || x5c == NULL || json_object_set_new(h, "alg", json_string(PKG_JWS_ALG)) != 0 ||
        json_object_set_new(h, "typ", json_string(PKG_JWS_TYP)) != 0) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && rc == KT_OK; i++) {
        kt_buf der = {0};
        char *b64 = NULL;

        if (chain[i] == NULL) {
            rc = kt_fail(e, KT_EUSAGE, "certificate %zu of the chain is missing", i + 1);
            break;
        }
        if ((rc = pkg_x509_to_der(chain[i], &der, e)) != KT_OK)
            break;
        if (der.len > PKG_CERT_DER_MAX)
            rc = kt_fail(e, KT_EUSAGE, "certificate %zu is %zu bytes; the limit is %d", i + 1,
                         der.len, PKG_CERT_DER_MAX);
        /* RFC 7515 §4.1.6: base64 (RFC 4648 §4), not base64url. */
        else if ((rc = pkg_b64std_encode(der.p, der.len, &b64, e)) == KT_OK &&
                 json_array_append_new(x5c, json_string(b64)) != 0)
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
        free(b64);
        kt_buf_free(&der);
    }
    if (rc != KT_OK)
        goto done;
    if (json_object_set(h, "x5c", x5c) != 0) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    rc = kt_json_dump(h, false, out, e);
done:
    json_decref(x5c);
    json_decref(h);
    return rc;
}

kt_rc pkg_jws_sign(const uint8_t *payload, size_t payload_len, EVP_PKEY *signer, X509 *const *chain,
                   size_t n_chain, char **out, kt_err *e)
{
    char *header = NULL, *prot = NULL, *pl = NULL, *input = NULL, *sig64 = NULL, *s = NULL;
    uint8_t raw[PKG_ES384_SIG_LEN];
    size_t input_len = 0, n;
    json_t *jws = NULL;
    kt_rc rc;

    *out = NULL;
    if (payload_len == 0 || payload_len > PKG_JWS_PAYLOAD_MAX)
        return kt_fail(e, KT_EUSAGE, "a JWS payload of %zu bytes; 1 to %d are accepted",
                       payload_len, PKG_JWS_PAYLOAD_MAX);
    if (n_chain == 0 || n_chain > PKG_X5C_MAX || chain == NULL || chain[0] == NULL)
        return kt_fail(e, KT_EUSAGE, "x5c takes 1 to %d certificates, leaf first, not %zu",
                       PKG_X5C_MAX, n_chain);
    if (!pkg_is_p384(signer))
        return kt_fail(e, KT_EUSAGE, "ES384 needs an ECDSA P-384 signing key");
    if (X509_check_private_key(chain[0], signer) != 1) {
        ERR_clear_error();
        return kt_fail(e, KT_EUSAGE,
                       "the signing key is not the key of the leaf certificate (x5c[0])");
    }
    if ((rc = build_header(chain, n_chain, &header, e)) != KT_OK ||
        (rc = kt_b64url_encode((const uint8_t *)header, strlen(header), &prot, e)) != KT_OK ||
        (rc = kt_b64url_encode(payload, payload_len, &pl, e)) != KT_OK ||
        (rc = join_dot(prot, pl, &input, &input_len, e)) != KT_OK)
        goto done;
    /* RFC 7515 §5.1 step 5: sign ASCII(BASE64URL(header) || '.' || BASE64URL(payload)). */
    if ((rc = es384_sign(signer, input, input_len, raw, e)) != KT_OK)
        goto done;
    /* A signature that does not verify is never handed out (a fault or a bug would show). */
    if ((rc = es384_verify(X509_get0_pubkey(chain[0]), input, input_len, raw, e)) != KT_OK) {
        rc = kt_fail(e, KT_ECRYPTO, "the new ES384 signature does not verify");
        goto done;
    }
    if ((rc = kt_b64url_encode(raw, sizeof raw, &sig64, e)) != KT_OK)
        goto done;
    /* RFC 7515 §7.2.2, flattened: protected, payload, signature (no unprotected header). */
    jws = json_object();
    if (jws == NULL || json_object_set_new(jws, "protected", json_string(prot)) != 0 ||
        json_object_set_new(jws, "payload", json_string(pl)) != 0 ||
        json_object_set_new(jws, "signature", json_string(sig64)) != 0) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = kt_json_dump(jws, false, &s, e)) != KT_OK)
        goto done;
    n = strlen(s);
    *out = malloc(n + 2);
    if (*out == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(*out, s, n);
    (*out)[n] = '\n';
    (*out)[n + 1] = '\0';
done:
    json_decref(jws);
    free(s);
    free(sig64);
    free(input);
    free(pl);
    free(prot);
    free(header);
    return rc;
}

/* ----------------------------------------------------------------------------------------- */
/* Parsing                                                                                    */
/* ----------------------------------------------------------------------------------------- */

void pkg_jws_free(pkg_jws *jws)
{
    if (jws == NULL)
        return;
    kt_buf_free(&jws->payload);
    sk_X509_pop_free(jws->chain, X509_free);
    free(jws->signing_input);
    memset(jws, 0, sizeof *jws);
}

static kt_rc parse_x5c(const json_t *x5c, pkg_jws *out, kt_err *e)
{
    size_t n = json_array_size(x5c);

    if (n == 0 || n > PKG_X5C_MAX)
        return kt_fail(e, KT_EFORMAT,
                       "JWS header: x5c holds %zu certificates; 1 to %d (leaf first, root last) "
                       "are accepted",
                       n, PKG_X5C_MAX);
    out->chain = sk_X509_new_null();
    if (out->chain == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(x5c, i);
        kt_buf der = {0};
        X509 *cert = NULL;
        kt_rc rc;

        if (!json_is_string(v))
            return kt_fail(e, KT_EFORMAT, "JWS header: x5c[%zu] must be a string", i);
        if (json_string_length(v) > X5C_CHARS_MAX)
            return kt_fail(e, KT_EFORMAT,
                           "JWS header: x5c[%zu] is %zu characters; a certificate may be at most "
                           "%d bytes",
                           i, json_string_length(v), PKG_CERT_DER_MAX);
        rc = pkg_b64std_decode(json_string_value(v), json_string_length(v), PKG_CERT_DER_MAX, &der,
                               e);
        if (rc == KT_OK)
            rc = pkg_x509_from_der(der.p, der.len, &cert, e);
        kt_buf_free(&der);
        if (rc != KT_OK) {
            kt_err_prefix(e, "JWS header: x5c[%zu]", i);
            return rc;
        }
        if (sk_X509_push(out->chain, cert) <= 0) {
            X509_free(cert);
            return kt_fail(e, KT_ENOMEM, "out of memory");
        }
    }
    return KT_OK;
}

static kt_rc parse_header(const char *prot, pkg_jws *out, kt_err *e)
{
    static const char *const keys[] = {"alg", "typ", "x5c", NULL};
    kt_buf raw = {0};
    json_t *h = NULL, *x5c;
    const char *alg, *typ;
    char q[KT_QUOTE_SIZE];
    kt_rc rc;

    if ((rc = kt_b64url_decode(prot, strlen(prot), &raw, e)) != KT_OK) {
        kt_err_prefix(e, "JWS protected header");
        return rc;
    }
    if ((rc = kt_json_parse(raw.p, raw.len, HEADER_JSON_MAX, &h, e)) != KT_OK) {
        kt_err_prefix(e, "JWS protected header");
        goto done;
    }
    /* The algorithm first: whatever else the header says, only ES384 is ever accepted. */
    if ((rc = kt_json_get_string(h, "alg", "JWS header", &alg, e)) != KT_OK)
        goto done;
    if (strcmp(alg, PKG_JWS_ALG) != 0) {
        kt_quote(q, sizeof q, alg, strlen(alg));
        rc = kt_fail(e, KT_EDENIED,
                     "JWS algorithm \"%s\" is not accepted: packages must be signed with ES384 "
                     "(ECDSA P-384 with SHA-384)",
                     q);
        goto done;
    }
    /* RFC 7515 §4.1.11: a recipient must refuse critical parameters it does not understand;
     * none are understood here. */
    if (json_object_get(h, "crit") != NULL) {
        rc = kt_fail(e, KT_EFORMAT, "JWS header: critical extensions (\"crit\") are not supported");
        goto done;
    }
    if ((rc = kt_json_only_keys(h, keys, "JWS header", e)) != KT_OK ||
        (rc = kt_json_get_string(h, "typ", "JWS header", &typ, e)) != KT_OK)
        goto done;
    if (strcmp(typ, PKG_JWS_TYP) != 0) {
        kt_quote(q, sizeof q, typ, strlen(typ));
        rc =
            kt_fail(e, KT_EFORMAT, "JWS header: typ is \"%s\"; \"%s\" is required", q, PKG_JWS_TYP);
        goto done;
    }
    if ((rc = kt_json_get_array(h, "x5c", "JWS header", &x5c, e)) != KT_OK)
        goto done;
    rc = parse_x5c(x5c, out, e);
done:
    json_decref(h);
    kt_buf_free(&raw);
    return rc;
}

static kt_rc parse_signature(const char *sig64, pkg_jws *out, kt_err *e)
{
    kt_buf sig = {0};
    uint8_t ignored[PKG_ES384_SIG_LEN];
    kt_rc rc;

    if (strlen(sig64) > 512)
        return kt_fail(e, KT_EFORMAT, "the JWS signature is %zu characters; ES384 needs 128",
                       strlen(sig64));
    if ((rc = kt_b64url_decode(sig64, strlen(sig64), &sig, e)) != KT_OK) {
        kt_err_prefix(e, "JWS signature");
        return rc;
    }
    if (sig.len != PKG_ES384_SIG_LEN) {
        /* Say so when it is the common mistake: OpenSSL's DER form instead of r || s. */
        bool is_der = sig.len > 0 && sig.p[0] == 0x30 &&
                      pkg_ecdsa_der_to_raw(sig.p, sig.len, ignored, NULL) == KT_OK;

        rc = kt_fail(e, KT_EFORMAT,
                     "the JWS signature is %zu bytes%s; ES384 requires the raw r||s form of "
                     "exactly %d bytes (RFC 7518 §3.4)",
                     sig.len, is_der ? " of DER (an ECDSA-Sig-Value)" : "", PKG_ES384_SIG_LEN);
        kt_buf_free(&sig);
        return rc;
    }
    memcpy(out->sig, sig.p, PKG_ES384_SIG_LEN);
    kt_buf_free(&sig);
    return KT_OK;
}

kt_rc pkg_jws_parse(const uint8_t *in, size_t len, pkg_jws *out, kt_err *e)
{
    static const char *const keys[] = {"protected", "payload", "signature", NULL};
    json_t *root = NULL;
    const char *prot, *pl, *sig64;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = kt_json_parse(in, len, PKG_JWS_MAX, &root, e)) != KT_OK)
        goto done;
    if (json_object_get(root, "header") != NULL) {
        rc = kt_fail(e, KT_EFORMAT,
                     "JWS: an unprotected \"header\" is not accepted; everything must be in the "
                     "protected header");
        goto done;
    }
    if ((rc = kt_json_only_keys(root, keys, "JWS", e)) != KT_OK ||
        (rc = kt_json_get_string(root, "protected", "JWS", &prot, e)) != KT_OK ||
        (rc = kt_json_get_string(root, "payload", "JWS", &pl, e)) != KT_OK ||
        (rc = kt_json_get_string(root, "signature", "JWS", &sig64, e)) != KT_OK ||
        (rc = parse_header(prot, out, e)) != KT_OK || (rc = parse_signature(sig64, out, e)))
        goto done;
    if (strlen(pl) > (PKG_JWS_PAYLOAD_MAX + 2) / 3 * 4) {
        rc = kt_fail(e, KT_EFORMAT, "the JWS payload is over %d bytes", PKG_JWS_PAYLOAD_MAX);
        goto done;
    }
    if ((rc = kt_b64url_decode(pl, strlen(pl), &out->payload, e)) != KT_OK) {
        kt_err_prefix(e, "JWS payload");
        goto done;
    }
    if (out->payload.len == 0) {
        rc = kt_fail(e, KT_EFORMAT, "the JWS payload is empty");
        goto done;
    }
    /* RFC 7515 §5.2 step 8: the signing input is the encoded strings exactly as received. */
    rc = join_dot(prot, pl, &out->signing_input, &out->signing_input_len, e);
done:
    json_decref(root);
    if (rc != KT_OK)
        pkg_jws_free(out);
    return rc;
}

kt_rc pkg_jws_verify_signature(const pkg_jws *jws, EVP_PKEY *pub, kt_err *e)
{
    if (jws == NULL || jws->signing_input == NULL)
        return kt_fail(e, KT_EUSAGE, "no parsed JWS given");
    return es384_verify(pub, jws->signing_input, jws->signing_input_len, jws->sig, e);
}
