/*
 * tls.c - the certificate and key `keytransfer-cloud serve` speaks TLS with: from files, or a
 * self-signed one made once into the state folder for the vault's host names and loopback. The
 * private key is read into secure memory and wiped.
 */
#include "serve.h"
#include "kek_internal.h"
#include "vault.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TLS_FILE_MAX (64 * 1024)
#define TLS_DAYS     825 /* the longest validity clients accept for a server certificate */

void kek_tls_free(kek_tls *t)
{
    kt_buf_free(&t->cert_pem);
    kt_secbuf_free(&t->key_pem);
    memset(t, 0, sizeof *t);
}

/* Checks the PEM pair: a certificate, a private key, and the one is the other's. */
static kt_rc check_pair(kek_tls *t, const char *cert_what, const char *key_what, kt_err *e)
{
    BIO *cb = BIO_new_mem_buf(t->cert_pem.p, (int)t->cert_pem.len);
    BIO *kb = BIO_new_mem_buf(t->key_pem.p, (int)t->key_pem.len);
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    uint8_t *der = NULL;
    kt_rc rc = KT_OK;

    if (cb == NULL || kb == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    if ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL) {
        rc = kt_fail_ssl(e, KT_EFORMAT, "%s: not a PEM certificate", cert_what);
        goto out;
    }
    if ((k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
        rc = kt_fail_ssl(e, KT_EFORMAT, "%s: not an unencrypted PEM private key", key_what);
        goto out;
    }
    if (X509_check_private_key(x, k) != 1) {
        rc = kt_fail_ssl(e, KT_EFORMAT, "%s is not the key of the certificate %s", key_what,
                         cert_what);
        goto out;
    }
    int n = i2d_X509(x, &der);
    if (n <= 0) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the certificate");
        goto out;
    }
    kt_sha256(t->sha256, der, (size_t)n);
out:
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

/* The secret file into secure memory, NUL-terminated (libmicrohttpd takes a C string). */
static kt_rc read_key(const char *path, kt_secbuf *out, kt_err *e)
{
    kt_secbuf raw = {0};
    kt_rc rc = kt_file_read_secret(path, TLS_FILE_MAX, &raw, e);
    if (rc != KT_OK)
        return rc;
    if ((rc = kt_secbuf_alloc(out, raw.len + 1, e)) == KT_OK) {
        memcpy(out->p, raw.p, raw.len);
        out->p[raw.len] = '\0';
        out->len = raw.len;
    }
    kt_secbuf_free(&raw);
    return rc;
}

static kt_rc read_cert(const char *path, kt_buf *out, kt_err *e)
{
    kt_buf raw = {0};
    kt_rc rc = kt_file_read(path, TLS_FILE_MAX, &raw, e);
    if (rc != KT_OK)
        return rc;
    uint8_t *p = realloc(raw.p, raw.len + 1);
    if (p == NULL) {
        kt_buf_free(&raw);
        return kt_fail(e, KT_ENOMEM, "out of memory");
    }
    p[raw.len] = '\0';
    out->p = p;
    out->len = raw.len;
    return KT_OK;
}

kt_rc kek_tls_load(const char *cert_file, const char *key_file, kek_tls *t, kt_err *e)
{
    kt_rc rc;
    memset(t, 0, sizeof *t);
    if ((rc = read_cert(cert_file, &t->cert_pem, e)) || (rc = read_key(key_file, &t->key_pem, e)) ||
        (rc = check_pair(t, cert_file, key_file, e)))
        kek_tls_free(t);
    return rc;
}

/* A new P-256 key and a self-signed certificate for the cloud's host names, as PEM. */
static kt_rc make_pair(const kek_cloud *c, kt_buf *cert_pem, kt_secbuf *key_pem, kt_err *e)
{
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    X509_NAME *nm = NULL;
    BIO *cb = NULL, *kb = NULL;
    X509_EXTENSION *ext = NULL;
    X509V3_CTX v3;
    char vault[KEK_VAULT_MAX + 1], san[256], cn[80];
    uint8_t serial[16];
    BIGNUM *bn = NULL;
    kt_rc rc = KT_OK;
    size_t i = 0;
    char *p = NULL;
    long n = 0;

    for (; c->vault[i] != '\0' && i < KEK_VAULT_MAX; i++)
        vault[i] = (char)tolower((unsigned char)c->vault[i]);
    vault[i] = '\0';
    snprintf(cn, sizeof cn, "%s." KEK_VAULT_DOMAIN, vault);
    snprintf(san, sizeof san,
             "DNS:%s." KEK_VAULT_DOMAIN ",DNS:%s." KEK_MHSM_DOMAIN
             ",DNS:localhost,IP:127.0.0.1,IP:::1",
             vault, vault);
    kt_random(serial, sizeof serial);
    serial[0] &= 0x7f;
    if ((k = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL ||
        (bn = BN_bin2bn(serial, sizeof serial, NULL)) == NULL ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL || X509_set_version(x, 2) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), (long)TLS_DAYS * 86400) == NULL ||
        X509_set_pubkey(x, k) != 1 || (nm = X509_get_subject_name(x)) == NULL ||
        X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
                                   (const unsigned char *)"keytransfer-cloud emulator (not Azure)",
                                   -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) !=
            1 ||
        X509_set_issuer_name(x, nm) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot make the TLS certificate");
        goto out;
    }
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    static const struct {
        int nid;
        const char *value;
    } exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
        {NID_key_usage, "critical,digitalSignature,keyCertSign"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_subject_alt_name, NULL},
    };
    for (size_t j = 0; j < sizeof exts / sizeof exts[0]; j++) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, exts[j].nid, exts[j].value ? exts[j].value : san);
        if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
            rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot make the TLS certificate's extensions");
            goto out;
        }
        X509_EXTENSION_free(ext);
        ext = NULL;
    }
    if (X509_sign(x, k, EVP_sha256()) <= 0) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot sign the TLS certificate");
        goto out;
    }
    /* The key's PEM in OpenSSL's secure heap, then in sodium's. */
    if ((cb = BIO_new(BIO_s_mem())) == NULL || (kb = BIO_new(BIO_s_secmem())) == NULL ||
        PEM_write_bio_X509(cb, x) != 1 ||
        PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot encode the TLS certificate and key");
        goto out;
    }
    n = BIO_get_mem_data(cb, &p);
    if (n <= 0 || (cert_pem->p = malloc((size_t)n + 1)) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(cert_pem->p, p, (size_t)n);
    cert_pem->p[n] = '\0';
    cert_pem->len = (size_t)n;
    n = BIO_get_mem_data(kb, &p);
    if (n <= 0 || (rc = kt_secbuf_alloc(key_pem, (size_t)n + 1, e)) != KT_OK) {
        if (rc == KT_OK)
            rc = kt_fail(e, KT_ECRYPTO, "cannot encode the TLS key");
        goto out;
    }
    memcpy(key_pem->p, p, (size_t)n);
    key_pem->p[n] = '\0';
    key_pem->len = (size_t)n;
out:
    if (kb != NULL) {
        n = BIO_get_mem_data(kb, &p);
        if (n > 0)
            kt_wipe(p, (size_t)n);
    }
    BIO_free(cb);
    BIO_free(kb);
    X509_EXTENSION_free(ext);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

kt_rc kek_tls_self_signed(const kek_cloud *c, kek_tls *t, kt_err *e)
{
    char dir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16];
    kt_rc rc;

    memset(t, 0, sizeof *t);
    if ((rc = kek_state_path(c->state, KEK_TLS_DIR, dir, sizeof dir, e)) != KT_OK)
        return rc;
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    if (kt_path_exists(cert) && kt_path_exists(key)) {
        if ((rc = kek_tls_load(cert, key, t, e)) != KT_OK)
            kt_err_prefix(e, "the certificate --tls made before (remove %s to make a new one)",
                          dir);
        return rc;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return kt_fail_errno(e, KT_EIO, errno, "cannot create %s", dir);
    /* The key first: a key without its certificate is replaced by the next --tls. */
    if ((rc = make_pair(c, &t->cert_pem, &t->key_pem, e)) ||
        (rc = kt_file_write(key, t->key_pem.p, t->key_pem.len, KT_WRITE_REPLACE, e)) ||
        (rc = kt_file_write(cert, t->cert_pem.p, t->cert_pem.len, KT_WRITE_REPLACE, e)) ||
        (rc = check_pair(t, cert, key, e))) {
        kek_tls_free(t);
        return rc;
    }
    t->made = true;
    return KT_OK;
}

kt_rc kek_tls_paths(const kek_cloud *c, char *cert, size_t certsz, kt_err *e)
{
    char dir[PATH_MAX];
    kt_rc rc;
    if ((rc = kek_state_path(c->state, KEK_TLS_DIR, dir, sizeof dir, e)) != KT_OK)
        return rc;
    int n = snprintf(cert, certsz, "%s/cert.pem", dir);
    if (n < 0 || (size_t)n >= certsz)
        return kt_fail(e, KT_EUSAGE, "state folder path too long: %s", c->state);
    return KT_OK;
}
