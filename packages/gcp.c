/*
 * gcp.c - what Google Cloud KMS takes in an import (docs/formats.md "Google Cloud KMS"): the
 * ImportJob that `gcloud kms import-jobs describe --format json` prints (its wrapping public
 * key, import method and state), the six import methods, which key types each takes, and the
 * wrappedKey blob.
 *
 * Sources: Cloud KMS REST reference, projects.locations.keyRings.importJobs (ImportJob,
 * ImportMethod, ImportJobState) and cryptoKeyVersions.import (wrappedKey); Cloud KMS guides
 * "Key wrapping", "Formatting keys for import" and "Key purposes and algorithms".
 */
#include "packages_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#define WHAT "Cloud KMS import job"

static const pkg_wrapping methods[] = {
    {PKG_GCP_RSA_OAEP_3072_SHA1_AES_256, "RSA_OAEP_3072_SHA1_AES_256", 3072, PKG_OAEP_SHA1, false},
    {PKG_GCP_RSA_OAEP_4096_SHA1_AES_256, "RSA_OAEP_4096_SHA1_AES_256", 4096, PKG_OAEP_SHA1, false},
    {PKG_GCP_RSA_OAEP_3072_SHA256_AES_256, "RSA_OAEP_3072_SHA256_AES_256", 3072, PKG_OAEP_SHA256,
     false},
    {PKG_GCP_RSA_OAEP_4096_SHA256_AES_256, "RSA_OAEP_4096_SHA256_AES_256", 4096, PKG_OAEP_SHA256,
     false},
    {PKG_GCP_RSA_OAEP_3072_SHA256, "RSA_OAEP_3072_SHA256", 3072, PKG_OAEP_SHA256, true},
    {PKG_GCP_RSA_OAEP_4096_SHA256, "RSA_OAEP_4096_SHA256", 4096, PKG_OAEP_SHA256, true},
};
#define NMETHODS (sizeof methods / sizeof methods[0])

static const pkg_wrapping *method_of(pkg_gcp_method m)
{
    return pkg_wrapping_by_id(methods, NMETHODS, (int)m);
}

const char *pkg_gcp_method_name(pkg_gcp_method m)
{
    return pkg_wrapping_name(methods, NMETHODS, (int)m);
}

kt_rc pkg_gcp_method_parse(const char *s, pkg_gcp_method *m, kt_err *e)
{
    const pkg_wrapping *x = pkg_wrapping_by_name(methods, NMETHODS, s);
    if (x != NULL) {
        *m = (pkg_gcp_method)x->id;
        return KT_OK;
    }
    char q[KT_QUOTE_SIZE];
    kt_quote(q, sizeof q, s, strlen(s));
    return kt_fail(e, KT_EFORMAT,
                   WHAT ": unknown importMethod '%s': RSA_OAEP_{3072,4096}_SHA1_AES_256, "
                        "RSA_OAEP_{3072,4096}_SHA256_AES_256 or RSA_OAEP_{3072,4096}_SHA256",
                   q);
}

unsigned pkg_gcp_method_bits(pkg_gcp_method m)
{
    const pkg_wrapping *x = method_of(m);
    return x != NULL ? x->bits : 0;
}

pkg_oaep_hash pkg_gcp_method_hash(pkg_gcp_method m)
{
    return pkg_wrapping_hash(methods, NMETHODS, (int)m);
}

bool pkg_gcp_method_is_direct(pkg_gcp_method m)
{
    return pkg_wrapping_is_direct(methods, NMETHODS, (int)m);
}

kt_rc pkg_gcp_check(pkg_gcp_method m, const char *key_type, unsigned bits, const char *curve,
                    kt_err *e)
{
    bool rsa = strcmp(key_type, "RSA") == 0, ec = strcmp(key_type, "EC") == 0,
         aes = strcmp(key_type, "AES") == 0;

    if (method_of(m) == NULL)
        return kt_fail(e, KT_EUSAGE, "unknown Cloud KMS import method %d", (int)m);
    if (aes && bits != 128 && bits != 256)
        return kt_fail(e, KT_EDENIED,
                       "Cloud KMS imports AES-128 and AES-256 keys (GOOGLE_SYMMETRIC_ENCRYPTION, "
                       "AES_*_GCM, AES_*_CBC, AES_*_CTR), not AES-%u",
                       bits);
    if (ec && strcmp(curve, "P-256") != 0 && strcmp(curve, "P-384") != 0 &&
        strcmp(curve, "secp256k1") != 0)
        return kt_fail(e, KT_EDENIED,
                       "Cloud KMS has no algorithm for the curve %s (EC_SIGN_P256_SHA256, "
                       "EC_SIGN_P384_SHA384, EC_SIGN_SECP256K1_SHA256)",
                       curve);
    if (rsa && bits != 2048 && bits != 3072 && bits != 4096)
        return kt_fail(e, KT_EDENIED, "Cloud KMS has no algorithm for RSA-%u", bits);
    if (!rsa && !ec && !aes)
        return kt_fail(e, KT_EDENIED, "Cloud KMS imports RSA, EC and AES keys only");
    if (rsa && pkg_gcp_method_is_direct(m))
        return kt_fail(e, KT_EDENIED,
                       "the import method %s wraps the key directly with RSA-OAEP and cannot "
                       "carry an RSA key (ImportMethod); create an import job with "
                       "RSA_OAEP_%u_SHA256_AES_256",
                       pkg_gcp_method_name(m), pkg_gcp_method_bits(m));
    return KT_OK;
}

const char *pkg_gcp_default_algorithm(const char *key_type, unsigned bits, const char *curve)
{
    if (strcmp(key_type, "AES") == 0)
        return bits == 256 ? "google-symmetric-encryption" : bits == 128 ? "aes-128-gcm" : NULL;
    if (strcmp(key_type, "EC") == 0) {
        if (strcmp(curve, "P-256") == 0)
            return "ec-sign-p256-sha256";
        if (strcmp(curve, "P-384") == 0)
            return "ec-sign-p384-sha384";
        if (strcmp(curve, "secp256k1") == 0)
            return "ec-sign-secp256k1-sha256";
        return NULL;
    }
    if (strcmp(key_type, "RSA") == 0) {
        if (bits == 2048)
            return "rsa-sign-pkcs1-2048-sha256";
        if (bits == 3072)
            return "rsa-sign-pkcs1-3072-sha256";
        if (bits == 4096)
            return "rsa-sign-pkcs1-4096-sha256";
    }
    return NULL;
}

/* ---- the import job ----------------------------------------------------------------------- */

void pkg_gcp_job_free(pkg_gcp_job *j)
{
    EVP_PKEY_free(j->public_key);
    memset(j, 0, sizeof *j);
}

/* One segment of a resource name: 1..63 of [A-Za-z0-9_-]. */
static bool is_segment(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* projects/P/locations/L/keyRings/R/importJobs/J into its four values. */
static kt_rc parse_name(const char *name, pkg_gcp_job *j, kt_err *e)
{
    static const char *const labels[] = {"projects", "locations", "keyRings", "importJobs"};
    char *outs[] = {j->project, j->location, j->keyring, j->job};
    const char *p = name;

    if (strlen(name) > PKG_GCP_NAME_MAX)
        goto bad;
    for (size_t i = 0; i < 4; i++) {
        size_t l = strlen(labels[i]);
        if (strncmp(p, labels[i], l) != 0 || p[l] != '/')
            goto bad;
        p += l + 1;
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (!is_segment(p, n) || (i < 3) != (slash != NULL))
            goto bad;
        memcpy(outs[i], p, n);
        outs[i][n] = '\0';
        p += n + (slash != NULL ? 1 : 0);
    }
    memcpy(j->name, name, strlen(name) + 1);
    return KT_OK;
bad:;
    char q[KT_QUOTE_SIZE];
    kt_quote(q, sizeof q, name, strlen(name));
    return kt_fail(e, KT_EFORMAT,
                   WHAT ": name '%s' is not projects/P/locations/L/keyRings/R/importJobs/J", q);
}

/* An RFC 3339 UTC time as Cloud KMS writes it: "YYYY-MM-DDThh:mm:ss[.fraction]Z". */
static kt_rc get_time(const json_t *j, const char *key, uint64_t *t, kt_err *e)
{
    const json_t *v = json_object_get(j, key);
    char what[64];

    *t = 0;
    if (v == NULL)
        return KT_OK;
    snprintf(what, sizeof what, WHAT ": %s", key);
    if (!json_is_string(v))
        return kt_fail(e, KT_EFORMAT, "%s must be a string", what);
    const char *s = json_string_value(v);
    if (s[0] == '\0' || s[strlen(s) - 1] != 'Z')
        return kt_fail(e, KT_EFORMAT, "%s must be a UTC time ending in Z", what);
    return pkg_aws_time_parse(s, what, t, e);
}

static kt_rc get_public_key(const json_t *j, pkg_gcp_job *out, kt_err *e)
{
    static const char *const members[] = {"pem", NULL};
    json_t *pk;
    const char *pem;
    kt_rc rc;

    if ((rc = kt_json_get_object(j, "publicKey", WHAT, &pk, e)) != KT_OK ||
        (rc = kt_json_only_keys(pk, members, WHAT " publicKey", e)) != KT_OK ||
        (rc = kt_json_get_string(pk, "pem", WHAT " publicKey", &pem, e)) != KT_OK)
        return rc;
    /* Exactly one PEM "PUBLIC KEY" block and nothing but white space around it. */
    const char *begin = strstr(pem, "-----BEGIN PUBLIC KEY-----");
    const char *end = strstr(pem, "-----END PUBLIC KEY-----");
    if (begin == NULL || end == NULL || end < begin || strstr(begin + 1, "-----BEGIN") != NULL)
        return kt_fail(e, KT_EFORMAT, WHAT ": publicKey.pem must hold one PEM PUBLIC KEY");
    for (const char *c = pem; c < begin; c++)
        if (*c != ' ' && *c != '\n' && *c != '\r' && *c != '\t')
            return kt_fail(e, KT_EFORMAT, WHAT ": publicKey.pem has text before the PEM block");
    for (const char *c = end + strlen("-----END PUBLIC KEY-----"); *c; c++)
        if (*c != ' ' && *c != '\n' && *c != '\r' && *c != '\t')
            return kt_fail(e, KT_EFORMAT, WHAT ": publicKey.pem has text after the PEM block");
    BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
    if (bio == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    out->public_key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (out->public_key == NULL)
        return kt_fail_ssl(e, KT_EFORMAT, WHAT ": publicKey.pem is not a public key");
    if (EVP_PKEY_get_base_id(out->public_key) != EVP_PKEY_RSA)
        return kt_fail(e, KT_EFORMAT, WHAT ": publicKey.pem is not an RSA key");
    return KT_OK;
}

static kt_rc get_word(const json_t *j, const char *key, char *out, size_t outsz, kt_err *e)
{
    kt_rc rc = kt_json_copy_string(j, key, WHAT, 1, out, outsz, e);

    if (rc == KT_OK && !pkg_is_alnum_or(out, "_"))
        rc = kt_fail(e, KT_EFORMAT, WHAT ": %s must be a word of letters, digits and _", key);
    return rc;
}

kt_rc pkg_gcp_job_parse(const uint8_t *in, size_t len, pkg_gcp_job *out, kt_err *e)
{
    static const char *const members[] = {
        "name",       "importMethod",    "protectionLevel", "createTime", "generateTime",
        "expireTime", "expireEventTime", "state",           "publicKey",  "attestation",
        NULL};
    json_t *j = NULL;
    const char *s;
    uint64_t ignored;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = kt_json_parse(in, len, PKG_GCP_JOB_MAX, &j, e)) != KT_OK) {
        kt_err_prefix(e, WHAT);
        return rc;
    }
    if ((rc = kt_json_only_keys(j, members, WHAT, e)) != KT_OK ||
        (rc = kt_json_get_string(j, "name", WHAT, &s, e)) != KT_OK ||
        (rc = parse_name(s, out, e)) != KT_OK ||
        (rc = kt_json_get_string(j, "importMethod", WHAT, &s, e)) != KT_OK ||
        (rc = pkg_gcp_method_parse(s, &out->method, e)) != KT_OK ||
        (rc = get_word(j, "state", out->state, sizeof out->state, e)) != KT_OK ||
        (rc = get_word(j, "protectionLevel", out->protection, sizeof out->protection, e)) !=
            KT_OK ||
        (rc = get_time(j, "createTime", &ignored, e)) != KT_OK ||
        (rc = get_time(j, "generateTime", &ignored, e)) != KT_OK ||
        (rc = get_time(j, "expireEventTime", &ignored, e)) != KT_OK ||
        (rc = get_time(j, "expireTime", &out->expire_time, e)) != KT_OK)
        goto out;
    if (json_object_get(j, "attestation") != NULL &&
        !json_is_object(json_object_get(j, "attestation"))) {
        rc = kt_fail(e, KT_EFORMAT, WHAT ": attestation must be an object");
        goto out;
    }
    if ((rc = get_public_key(j, out, e)) != KT_OK)
        goto out;
    if ((unsigned)EVP_PKEY_get_bits(out->public_key) != pkg_gcp_method_bits(out->method))
        rc = kt_fail(e, KT_EFORMAT, WHAT ": publicKey is RSA-%d; %s takes an RSA-%u key",
                     EVP_PKEY_get_bits(out->public_key), pkg_gcp_method_name(out->method),
                     pkg_gcp_method_bits(out->method));
out:
    json_decref(j);
    ERR_clear_error();
    if (rc != KT_OK)
        pkg_gcp_job_free(out);
    return rc;
}

/* RFC 8017 §7.1.1: an OAEP SHA-256 message holds at most k - 66 bytes. */
kt_rc pkg_gcp_wrap(EVP_PKEY *kek, pkg_gcp_method m, const uint8_t *material, size_t len,
                   kt_buf *out, kt_err *e)
{
    const pkg_wrapping *x = method_of(m);
    size_t k = pkg_rsa_modulus_len(kek);

    memset(out, 0, sizeof *out);
    if (x == NULL)
        return kt_fail(e, KT_EUSAGE, "unknown Cloud KMS import method %d", (int)m);
    if (!x->direct)
        return pkg_rsa_aes_wrap(kek, x->hash, material, len, out, e);
    if (len == 0 || k < 66 || len > k - 66)
        return kt_fail(e, KT_EDENIED,
                       "%zu bytes of key material do not fit in one RSA-OAEP SHA-256 block of "
                       "the %zu-bit wrapping key (%s)",
                       len, 8 * k, x->name);
    return pkg_rsa_oaep_encrypt(kek, x->hash, material, len, out, e);
}
