/*
 * x509.c - certificates and keys for the vendor and cloud side: issuing X.509 v3 certificates
 * signed with ECDSA-SHA384 (vendor root, module warrant, attestation leaf), SubjectPublicKeyInfo
 * hashes (the root hash and key fingerprints of docs/design.md §4), and loading and saving
 * certificates and keys through the careful reader and writer of common/ (never fopen).
 */
#include "packages_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define TIME_MAX UINT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define ATTR_MAX 64                     /* RFC 5280 upper bounds of CN, O and serialNumber */

/* ----------------------------------------------------------------------------------------- */
/* Issuing                                                                                    */
/* ----------------------------------------------------------------------------------------- */

static kt_rc check_attr(const char *v, bool required, const char *what, kt_err *e)
{
    size_t n;

    if (v == NULL) {
        if (required)
            return kt_fail(e, KT_EUSAGE, "certificate %s missing", what);
        return KT_OK;
    }
    n = strnlen(v, ATTR_MAX + 1);
    if (n == 0 || n > ATTR_MAX || !pkg_is_printable(v, n))
        return kt_fail(e, KT_EUSAGE, "certificate %s must be 1 to %d printable ASCII characters",
                       what, ATTR_MAX);
    return KT_OK;
}

static kt_rc check_opts(const pkg_cert_opts *o, kt_err *e)
{
    kt_rc rc;

    if (o->issuer_key == NULL || o->subject_key == NULL)
        return kt_fail(e, KT_EUSAGE, "certificate: issuer key and subject key are required");
    if (!pkg_is_p384(o->issuer_key))
        return kt_fail(e, KT_EUSAGE,
                       "certificate: the issuer key must be an ECDSA P-384 key (ECDSA-SHA384)");
    if ((rc = check_attr(o->cn, true, "commonName", e)) != KT_OK ||
        (rc = check_attr(o->org, false, "organizationName", e)) != KT_OK ||
        (rc = check_attr(o->serial_number, false, "serialNumber", e)) != KT_OK)
        return rc;
    if (o->not_before >= o->not_after || o->not_after > TIME_MAX)
        return kt_fail(e, KT_EUSAGE,
                       "certificate: notBefore must come before notAfter, and both before the "
                       "year 10000");
    if (o->key_usage == 0 ||
        (o->key_usage & ~(unsigned)(PKG_KU_DIGITAL_SIGNATURE | PKG_KU_KEY_ENCIPHERMENT |
                                    PKG_KU_KEY_CERT_SIGN | PKG_KU_CRL_SIGN)))
        return kt_fail(e, KT_EUSAGE, "certificate: keyUsage must name known usages, at least one");
    if (!o->is_ca && (o->key_usage & (PKG_KU_KEY_CERT_SIGN | PKG_KU_CRL_SIGN)))
        return kt_fail(e, KT_EUSAGE,
                       "certificate: keyCertSign and cRLSign are for CA certificates only");
    if (o->ext_key_usage != NULL) {
        size_t n = strnlen(o->ext_key_usage, PKG_EKU_TEXT_MAX + 1);

        if (n == 0 || n > PKG_EKU_TEXT_MAX || !pkg_is_printable(o->ext_key_usage, n))
            return kt_fail(e, KT_EUSAGE,
                           "certificate: extendedKeyUsage must be 1 to %d printable characters",
                           PKG_EKU_TEXT_MAX);
    }
    if (o->is_ca && o->path_len > 16)
        return kt_fail(e, KT_EUSAGE, "certificate: path length %d is beyond reason", o->path_len);
    if (o->issuer != NULL) {
        if (X509_check_private_key(o->issuer, o->issuer_key) != 1) {
            ERR_clear_error();
            return kt_fail(e, KT_EUSAGE,
                           "certificate: the issuer key does not belong to the issuer certificate");
        }
    } else if (EVP_PKEY_eq(o->subject_key, o->issuer_key) != 1) {
        ERR_clear_error();
        return kt_fail(e, KT_EUSAGE,
                       "certificate: a self-signed certificate certifies its own signing key");
    }
    return KT_OK;
}

/* A random positive serial of exactly 16 bytes (RFC 5280 §4.1.2.2: at most 20, positive). */
static bool set_serial(X509 *x)
{
    uint8_t b[16];
    BIGNUM *bn;
    bool ok;

    kt_random(b, sizeof b);
    b[0] = (uint8_t)((b[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(b, sizeof b, NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static bool add_name(X509_NAME *n, const char *field, const char *v)
{
    return v == NULL || X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
                                                   (const unsigned char *)v, -1, -1, 0) == 1;
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;

    X509_EXTENSION_free(ext);
    return ok;
}

static void key_usage_text(unsigned ku, char *out, size_t outsz)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{PKG_KU_DIGITAL_SIGNATURE, "digitalSignature"},
                 {PKG_KU_KEY_ENCIPHERMENT, "keyEncipherment"},
                 {PKG_KU_KEY_CERT_SIGN, "keyCertSign"},
                 {PKG_KU_CRL_SIGN, "cRLSign"}};

    snprintf(out, outsz, "critical");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (ku & names[i].bit) {
            size_t used = strlen(out);
            snprintf(out + used, outsz - used, ",%s", names[i].name);
        }
    }
}

kt_rc pkg_x509_issue(const pkg_cert_opts *o, X509 **out, kt_err *e)
{
    X509 *x = NULL;
    X509_NAME *subject;
    X509V3_CTX ctx;
    char bc[64], ku[128];
    kt_rc rc;

    *out = NULL;
    if ((rc = check_opts(o, e)) != KT_OK)
        return rc;
    x = X509_new();
    if (x == NULL)
        return kt_fail_ssl(e, KT_ENOMEM, "cannot make a certificate");
    subject = X509_get_subject_name(x);
    if (X509_set_version(x, X509_VERSION_3) != 1 || !set_serial(x) ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)o->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)o->not_after) == NULL ||
        !add_name(subject, "O", o->org) || !add_name(subject, "CN", o->cn) ||
        !add_name(subject, "serialNumber", o->serial_number) ||
        X509_set_issuer_name(x, o->issuer != NULL ? X509_get_subject_name(o->issuer) : subject) !=
            1 ||
        X509_set_pubkey(x, o->subject_key) != 1)
        goto ssl_error;

    /* RFC 5280 §4.2: the issuer context gives authorityKeyIdentifier its key identifier. */
    X509V3_set_ctx(&ctx, o->issuer != NULL ? o->issuer : x, x, NULL, NULL, 0);
    if (o->issuer == NULL && X509V3_set_issuer_pkey(&ctx, o->issuer_key) != 1)
        goto ssl_error;
    if (o->is_ca && o->path_len >= 0)
        snprintf(bc, sizeof bc, "critical,CA:TRUE,pathlen:%d", o->path_len);
    else
        snprintf(bc, sizeof bc, "critical,CA:%s", o->is_ca ? "TRUE" : "FALSE");
    key_usage_text(o->key_usage, ku, sizeof ku);
    if (!add_ext(x, &ctx, NID_basic_constraints, bc) || !add_ext(x, &ctx, NID_key_usage, ku) ||
        !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
        !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
        goto ssl_error;
    /* RFC 5280 §4.2.1.12: the purposes the key may serve, non-critical as the profile has it. */
    if (o->ext_key_usage != NULL && !add_ext(x, &ctx, NID_ext_key_usage, o->ext_key_usage))
        goto ssl_error;
    if (X509_sign(x, o->issuer_key, EVP_sha384()) <= 0)
        goto ssl_error;
    *out = x;
    return KT_OK;
ssl_error:
    X509_free(x);
    return kt_fail_ssl(e, KT_ECRYPTO, "cannot issue the certificate for \"%s\"", o->cn);
}

/* ----------------------------------------------------------------------------------------- */
/* SubjectPublicKeyInfo                                                                       */
/* ----------------------------------------------------------------------------------------- */

kt_rc pkg_cert_spki_sha256(const X509 *cert, uint8_t out[32], kt_err *e)
{
    const X509_PUBKEY *pk = cert != NULL ? X509_get_X509_PUBKEY(cert) : NULL;
    unsigned char *der = NULL;
    int n;

    memset(out, 0, 32);
    if (pk == NULL)
        return kt_fail(e, KT_EFORMAT, "the certificate has no public key");
    /* The SubjectPublicKeyInfo exactly as the certificate carries it. */
    n = i2d_X509_PUBKEY(pk, &der);
    if (n <= 0)
        return kt_fail_ssl(e, KT_EFORMAT, "cannot encode the certificate's public key");
    kt_sha256(out, der, (size_t)n);
    OPENSSL_free(der);
    return KT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* DER and PEM                                                                                */
/* ----------------------------------------------------------------------------------------- */

/* name encoded afresh from its entries, RDN by RDN: OpenSSL keeps a decoded name's bytes and
 * writes them back as they came, so only a new name shows whether they were DER. */
static X509_NAME *fresh_name(const X509_NAME *name)
{
    X509_NAME *out = X509_NAME_new();
    int prev = -1;

    for (int i = 0; out != NULL && i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(ne);

        /* loc -1 appends; set -1 joins the last RDN (a multi-valued one), 0 starts one. */
        if (X509_NAME_add_entry(out, ne, -1, i > 0 && set == prev ? -1 : 0) != 1) {
            X509_NAME_free(out);
            out = NULL;
        }
        prev = set;
    }
    return out;
}

/* Whether the certificate decoded from der[0..len) is its own DER encoding: a copy whose
 * TBSCertificate and names are encoded afresh from what was decoded (not from the bytes OpenSSL
 * keeps to verify the signature) gives back der. OpenSSL's decoder takes some BER (an encoded
 * DEFAULT FALSE, a length in a longer form than needed); a strict DER reader such as
 * python3-cryptography's refuses it. */
static bool is_distinguished(const X509 *x, const uint8_t *der, size_t len)
{
    X509 *copy = X509_dup(x);
    X509_NAME *subject = fresh_name(X509_get_subject_name(x)),
              *issuer = fresh_name(X509_get_issuer_name(x));
    unsigned char *tbs = NULL, *again = NULL;
    int n = -1;
    bool same;

    if (copy != NULL && subject != NULL && issuer != NULL &&
        X509_set_subject_name(copy, subject) == 1 && X509_set_issuer_name(copy, issuer) == 1 &&
        i2d_re_X509_tbs(copy, &tbs) > 0)
        n = i2d_X509(copy, &again);
    same = n > 0 && (size_t)n == len && memcmp(again, der, len) == 0;
    OPENSSL_free(tbs);
    OPENSSL_free(again);
    X509_NAME_free(subject);
    X509_NAME_free(issuer);
    X509_free(copy);
    ERR_clear_error();
    return same;
}

/* RFC 5280 §4.1.2.5 with X.690 §11.7-8: UTCTime YYMMDDHHMMSSZ for the years through 2049,
 * GeneralizedTime YYYYMMDDHHMMSSZ (no fraction) from 2050, a date and time that exist. OpenSSL
 * reads more (no seconds, an offset, a fraction) and keeps the text as it came. */
static bool is_der_time(const ASN1_TIME *t)
{
    int type = ASN1_STRING_type(t), len = ASN1_STRING_length(t);
    int digits = type == V_ASN1_UTCTIME ? 12 : type == V_ASN1_GENERALIZEDTIME ? 14 : -1;
    const unsigned char *d = ASN1_STRING_get0_data(t);
    struct tm tm;

    if (digits < 0 || len != digits + 1 || d[digits] != 'Z')
        return false;
    for (int i = 0; i < digits; i++)
        if (d[i] < '0' || d[i] > '9')
            return false;
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return false;
    }
    return type == V_ASN1_UTCTIME || tm.tm_year + 1900 >= 2050;
}

/* The length of the header of the DER element at d[0..n) into *hl and of its contents into *cl
 * (definite lengths of at most 4 bytes); false when it does not fit. */
static bool der_header(const uint8_t *d, size_t n, size_t *hl, size_t *cl)
{
    size_t bytes;

    if (n < 2)
        return false;
    *hl = 2;
    if (d[1] < 0x80) {
        *cl = d[1];
    } else {
        bytes = d[1] & 0x7f;
        if (bytes == 0 || bytes > 4 || n < 2 + bytes)
            return false;
        *cl = 0;
        for (size_t i = 0; i < bytes; i++)
            *cl = (*cl << 8) | d[2 + i];
        *hl += bytes;
    }
    return *cl <= n - *hl;
}

/* X.690 §11.1 and §11.5: an extension's critical flag is left out when FALSE (the DEFAULT) and
 * is 0xFF when TRUE. OpenSSL keeps the flag's byte as it came and writes it back the same, so
 * re-encoding alone does not tell. */
static bool has_der_critical_flags(const X509 *x)
{
    for (int i = 0; i < X509_get_ext_count(x); i++) {
        unsigned char *d = NULL;
        int n = i2d_X509_EXTENSION(X509_get_ext(x, i), &d);
        size_t hl, cl, ohl, ocl, at;
        bool ok = n > 0 && d[0] == 0x30 && der_header(d, (size_t)n, &hl, &cl) && d[hl] == 0x06 &&
                  der_header(d + hl, (size_t)n - hl, &ohl, &ocl);

        at = ok ? hl + ohl + ocl : 0;
        if (ok && at + 3 <= (size_t)n && d[at] == 0x01)
            ok = d[at + 1] == 0x01 && d[at + 2] == 0xff;
        OPENSSL_free(d);
        if (!ok)
            return false;
    }
    return true;
}

kt_rc pkg_x509_from_der(const uint8_t *der, size_t len, X509 **out, kt_err *e)
{
    const unsigned char *p = der;
    X509 *x;

    *out = NULL;
    if (len == 0 || len > PKG_CERT_DER_MAX)
        return kt_fail(e, KT_EFORMAT, "a certificate of %zu bytes; 1 to %d are accepted", len,
                       PKG_CERT_DER_MAX);
    x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL)
        return kt_fail_ssl(e, KT_EFORMAT, "not a DER X.509 certificate");
    if ((size_t)(p - der) != len) {
        X509_free(x);
        return kt_fail(e, KT_EFORMAT, "trailing data (%zu bytes) after the DER certificate",
                       len - (size_t)(p - der));
    }
    if (!is_distinguished(x, der, len) || !has_der_critical_flags(x) ||
        !is_der_time(X509_get0_notBefore(x)) || !is_der_time(X509_get0_notAfter(x))) {
        X509_free(x);
        return kt_fail(e, KT_EFORMAT,
                       "the certificate is BER, not DER (X.690 §10; RFC 5280 §4.1.2.5): it has "
                       "a value in another form than its one DER form (an encoded DEFAULT, a "
                       "TRUE that is not 0xFF, a longer length, a time without seconds or with "
                       "an offset, a GeneralizedTime before 2050)");
    }
    *out = x;
    return KT_OK;
}

kt_rc pkg_x509_to_der(const X509 *cert, kt_buf *out, kt_err *e)
{
    unsigned char *q;
    int n;

    out->p = NULL;
    out->len = 0;
    n = cert != NULL ? i2d_X509(cert, NULL) : -1;
    if (n <= 0)
        return kt_fail_ssl(e, KT_EUSAGE, "cannot encode the certificate");
    out->p = malloc((size_t)n);
    if (out->p == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    q = out->p;
    if (i2d_X509(cert, &q) != n) {
        free(out->p);
        out->p = NULL;
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the certificate");
    }
    out->len = (size_t)n;
    return KT_OK;
}

/* The bytes a memory BIO holds, copied into a heap string. */
static kt_rc bio_to_string(BIO *b, char **out, kt_err *e)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);

    *out = NULL;
    if (n <= 0 || data == NULL)
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot write PEM");
    *out = malloc((size_t)n + 1);
    if (*out == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    memcpy(*out, data, (size_t)n);
    (*out)[n] = '\0';
    return KT_OK;
}

kt_rc pkg_x509_to_pem(const X509 *cert, char **out, kt_err *e)
{
    BIO *b = BIO_new(BIO_s_mem());
    kt_rc rc;

    *out = NULL;
    if (b == NULL)
        return kt_fail_ssl(e, KT_ENOMEM, "cannot write PEM");
    if (cert == NULL || PEM_write_bio_X509(b, cert) != 1)
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot write the certificate as PEM");
    else
        rc = bio_to_string(b, out, e);
    BIO_free(b);
    return rc;
}

kt_rc pkg_x509_save_pem(const char *path, const X509 *cert, unsigned flags, kt_err *e)
{
    char *pem = NULL;
    kt_rc rc = pkg_x509_to_pem(cert, &pem, e);

    if (rc == KT_OK)
        rc = kt_file_write(path, pem, strlen(pem), flags, e);
    free(pem);
    return rc;
}

/* A read-only memory BIO over PEM text of 1 to PKG_PEM_MAX bytes: no copy of the text is made
 * (for a key, it stays in the caller's secure memory). */
static kt_rc pem_bio(const uint8_t *pem, size_t len, BIO **b, kt_err *e)
{
    if (len == 0 || len > PKG_PEM_MAX)
        return kt_fail(e, KT_EFORMAT, "PEM text of %zu bytes; 1 to %d are accepted", len,
                       PKG_PEM_MAX);
    if ((*b = BIO_new_mem_buf(pem, (int)len)) == NULL)
        return kt_fail_ssl(e, KT_ENOMEM, "cannot read PEM");
    return KT_OK;
}

kt_rc pkg_x509_from_pem(const uint8_t *pem, size_t len, X509 **out, kt_err *e)
{
    BIO *b;
    X509 *x, *second;
    kt_rc rc;

    *out = NULL;
    if ((rc = pem_bio(pem, len, &b, e)) != KT_OK)
        return rc;
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x == NULL) {
        BIO_free(b);
        return kt_fail_ssl(e, KT_EFORMAT, "no PEM certificate found");
    }
    second = PEM_read_bio_X509(b, NULL, NULL, NULL);
    ERR_clear_error(); /* the expected "no start line" */
    if (second != NULL) {
        rc = kt_fail(e, KT_EFORMAT, "more than one certificate; give one");
        X509_free(second);
        X509_free(x);
    } else {
        *out = x;
    }
    BIO_free(b);
    return rc;
}

/* One reader of a PEM file for certificates and keys: at most PKG_PEM_MAX bytes, into secure memory
 * (wiped when freed; for a certificate this costs nothing), parsed by parse into out, an error
 * prefixed with the path. */
typedef kt_rc (*pem_parse_fn)(const uint8_t *pem, size_t len, void *out, kt_err *e);

static kt_rc load_pem(const char *path, pem_parse_fn parse, void *out, kt_err *e)
{
    kt_secbuf f = {0};
    kt_rc rc;

    if ((rc = kt_file_read_secret(path, PKG_PEM_MAX, &f, e)) != KT_OK)
        return rc;
    if ((rc = parse(f.p, f.len, out, e)) != KT_OK)
        kt_err_prefix(e, "%s", path);
    kt_secbuf_free(&f);
    return rc;
}

static kt_rc parse_x509(const uint8_t *pem, size_t len, void *out, kt_err *e)
{
    return pkg_x509_from_pem(pem, len, out, e);
}

kt_rc pkg_x509_load_pem(const char *path, X509 **out, kt_err *e)
{
    *out = NULL;
    return load_pem(path, parse_x509, out, e);
}

/* Refuses to decrypt: keys here are unencrypted (they are protected by where they live). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

kt_rc pkg_key_from_pem(const uint8_t *pem, size_t len, EVP_PKEY **out, kt_err *e)
{
    BIO *b;
    kt_rc rc;

    *out = NULL;
    if ((rc = pem_bio(pem, len, &b, e)) != KT_OK)
        return rc;
    *out = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
    BIO_free(b);
    if (*out == NULL) {
        bool encrypted = memmem(pem, len, "ENCRYPTED", 9) != NULL;

        ERR_clear_error();
        return kt_fail(e, KT_EFORMAT,
                       encrypted ? "an encrypted private key; give it unencrypted"
                                 : "no PEM private key found");
    }
    return KT_OK;
}

static kt_rc parse_key(const uint8_t *pem, size_t len, void *out, kt_err *e)
{
    return pkg_key_from_pem(pem, len, out, e);
}

kt_rc pkg_key_load_pem(const char *path, EVP_PKEY **out, kt_err *e)
{
    *out = NULL;
    return load_pem(path, parse_key, out, e);
}

kt_rc pkg_key_save_pem(const char *path, EVP_PKEY *key, unsigned flags, kt_err *e)
{
    /* A memory BIO grows with BUF_MEM_grow_clean and clears its buffer when freed. */
    BIO *b = BIO_new(BIO_s_secmem());
    kt_secbuf pem = {0};
    char *data = NULL;
    long n;
    kt_rc rc;

    if (b == NULL)
        return kt_fail_ssl(e, KT_ENOMEM, "cannot write PEM");
    if (key == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot write the private key as PEM");
        goto done;
    }
    n = BIO_get_mem_data(b, &data);
    if (n <= 0 || data == NULL) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot write the private key as PEM");
        goto done;
    }
    if ((rc = kt_secbuf_alloc(&pem, (size_t)n, e)) != KT_OK)
        goto done;
    memcpy(pem.p, data, (size_t)n);
    rc = kt_file_write(path, pem.p, pem.len, flags, e);
done:
    kt_secbuf_free(&pem);
    BIO_free(b);
    return rc;
}

kt_rc pkg_pubkey_load(const char *path, EVP_PKEY **out, kt_err *e)
{
    static const char begin[] = "-----BEGIN";
    kt_buf f = {0};
    BIO *b = NULL;
    kt_rc rc;

    *out = NULL;
    if ((rc = kt_file_read(path, PKG_PEM_MAX, &f, e)) != KT_OK)
        return rc;
    if (f.len >= sizeof begin - 1 && memmem(f.p, f.len, begin, sizeof begin - 1) != NULL) {
        b = BIO_new_mem_buf(f.p, (int)f.len);
        *out = b != NULL ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
        if (*out == NULL)
            rc =
                kt_fail_ssl(e, KT_EFORMAT, "'%s' holds no PEM public key (BEGIN PUBLIC KEY)", path);
    } else {
        rc = kt_spki_decode(f.p, f.len, out, e);
        if (rc != KT_OK)
            kt_err_prefix(e, "%s", path);
    }
    BIO_free(b);
    kt_buf_free(&f);
    return rc;
}
