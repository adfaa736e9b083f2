/*
 * pkg_x509.h - packages/: certificates and keys (x509.c). Part of the folder's face; pkg.h is the
 * index and its conventions hold here.
 */
#ifndef KT_PKG_X509_H
#define KT_PKG_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg_jws.h"

/* keyUsage bits for pkg_cert_opts.key_usage. */
enum {
    PKG_KU_DIGITAL_SIGNATURE = 1u << 0,
    PKG_KU_KEY_ENCIPHERMENT = 1u << 1,
    PKG_KU_KEY_CERT_SIGN = 1u << 2,
    PKG_KU_CRL_SIGN = 1u << 3,
};

#define PKG_CN_MAX  64 /* RFC 5280 ub-common-name */
#define PKG_PEM_MAX (64 * 1024)

/*
 * The extended key usage of a vendor attestation certificate (docs/formats.md, "Certificate
 * profile"): the leaf of every vendor chain carries exactly this one purpose, and the verifiers
 * refuse a leaf with any other. It is the OID under 2.25 of the UUID
 * 3aa30eec-7550-42df-84f8-1919df9260d0 (ITU-T X.667 | ISO/IEC 9834-8: a UUID-derived OID needs
 * no registration), written in decimal.
 */
#define PKG_EKU_ATTESTATION_UUID "3aa30eec-7550-42df-84f8-1919df9260d0"
#define PKG_EKU_ATTESTATION_OID  "2.25.77941870831353878035700664750549655760"
#define PKG_EKU_TEXT_MAX         256 /* pkg_cert_opts.ext_key_usage, in characters */

/* What pkg_x509_issue certifies. */
typedef struct pkg_cert_opts {
    X509 *issuer;              /* the issuing certificate, or NULL for a self-signed one */
    EVP_PKEY *issuer_key;      /* the issuer's P-384 private key (the subject's when self-signed) */
    EVP_PKEY *subject_key;     /* the public key certified (any type OpenSSL can encode) */
    const char *cn;            /* subject commonName, printable, 1..PKG_CN_MAX bytes */
    const char *org;           /* subject organizationName, or NULL */
    const char *serial_number; /* subject serialNumber attribute (e.g. a module ESN), or NULL */
    uint64_t not_before, not_after; /* UNIX seconds, not_before < not_after */
    bool is_ca;
    int path_len;       /* pathLenConstraint for a CA, or -1 for none */
    unsigned key_usage; /* PKG_KU_* bits, at least one */
    /* extendedKeyUsage (non-critical), as comma-separated OIDs or OpenSSL short names
     * (PKG_EKU_ATTESTATION_OID on an attestation leaf, "serverAuth"), or NULL for none. */
    const char *ext_key_usage;
} pkg_cert_opts;

/*
 * Issues an X.509 v3 certificate signed with ECDSA-SHA384 by issuer_key: a random positive
 * 16-byte serial, subject from cn/org/serial_number, issuer from the issuer certificate (or the
 * subject), validity as given, and the extensions basicConstraints (critical; CA and pathlen),
 * keyUsage (critical), subjectKeyIdentifier (SHA-1 of the key, RFC 5280 §4.2.1.2 method 1),
 * authorityKeyIdentifier (the issuer's key identifier) and, when ext_key_usage is given,
 * extendedKeyUsage (non-critical, RFC 5280 §4.2.1.12). The issuer key must match the issuer
 * certificate. Whether the result fits the vendor chain profile is the caller's business (the
 * verifiers judge it): kek/ issues the attestation leaf with PKG_EKU_ATTESTATION_OID.
 * *out is a new certificate (X509_free).
 */
KT_MUST kt_rc pkg_x509_issue(const pkg_cert_opts *o, X509 **out, kt_err *e);

/* SHA-256 of a certificate's SubjectPublicKeyInfo DER, the root hash of docs/design.md §4. */
KT_MUST kt_rc pkg_cert_spki_sha256(const X509 *cert, uint8_t out[32], kt_err *e);

/* A certificate from DER that d2i_X509 must consume exactly (at most PKG_CERT_DER_MAX bytes) and
 * that is DER, not merely BER: re-encoded, it gives back the same bytes (KT_EFORMAT otherwise). */
KT_MUST kt_rc pkg_x509_from_der(const uint8_t *der, size_t len, X509 **out, kt_err *e);

/* DER of a certificate into *out (kt_buf_free). */
KT_MUST kt_rc pkg_x509_to_der(const X509 *cert, kt_buf *out, kt_err *e);

/* Reads a file holding exactly one PEM certificate (text around it is ignored, a second
 * certificate is refused) read as a key file is (at most PKG_PEM_MAX bytes). */
KT_MUST kt_rc pkg_x509_load_pem(const char *path, X509 **out, kt_err *e);

/* The one PEM certificate in pem[0..len) (text around it ignored, a second one refused). */
KT_MUST kt_rc pkg_x509_from_pem(const uint8_t *pem, size_t len, X509 **out, kt_err *e);

/* Writes a certificate as PEM through kt_file_write (flags: KT_WRITE_NEW or _REPLACE). */
KT_MUST kt_rc pkg_x509_save_pem(const char *path, const X509 *cert, unsigned flags, kt_err *e);

/* PEM text of a certificate into *out (heap string, free()). */
KT_MUST kt_rc pkg_x509_to_pem(const X509 *cert, char **out, kt_err *e);

/* Reads an unencrypted PEM private key (PKCS#8 or traditional) through kt_file_read_secret; the
 * file bytes stay in secure memory. An encrypted key is refused. *out: EVP_PKEY_free. */
KT_MUST kt_rc pkg_key_load_pem(const char *path, EVP_PKEY **out, kt_err *e);

/* An unencrypted PEM private key from memory (the caller keeps pem in secure memory and wipes
 * it). An encrypted key is refused. *out: EVP_PKEY_free. */
KT_MUST kt_rc pkg_key_from_pem(const uint8_t *pem, size_t len, EVP_PKEY **out, kt_err *e);

/* Writes a private key as unencrypted PKCS#8 PEM through kt_file_write (0600); the PEM text is
 * built in memory OpenSSL clears, copied to secure memory, and wiped after the write. */
KT_MUST kt_rc pkg_key_save_pem(const char *path, EVP_PKEY *key, unsigned flags, kt_err *e);

/* Reads a public key: PEM "PUBLIC KEY" (SPKI) or DER SPKI that d2i_PUBKEY consumes in full
 * (at most PKG_PEM_MAX bytes). *out: EVP_PKEY_free. */
KT_MUST kt_rc pkg_pubkey_load(const char *path, EVP_PKEY **out, kt_err *e);

#endif
