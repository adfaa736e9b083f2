/*
 * vtest.h - fixtures of the verify/ tests: a genuine cloud made exactly as kek/ makes one (the
 * DEMO root issues a module warrant, the warrant an attestation key, which signs the KEK and
 * world payloads), hand-built JWS documents for what pkg_jws_sign rightly refuses to make, and
 * running the Python verifier (/usr/bin/python3, the built verifykeypackage.py) over many
 * package pairs in one process.
 */
#ifndef KT_VTEST_H
#define KT_VTEST_H

#include "support/scratch.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg.h"
#include "verify.h"

/* Debian's interpreter with python3-cryptography (the one on PATH may be another). */
#define VT_PYTHON "/usr/bin/python3"
#define VT_ESN    "0123-4567-89AB"
#define VT_ESN2   "FEDC-BA98-7654"
#define VT_KID                                                                                     \
    "https://keytransfer-demo-na.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef"
#define VT_DAY INT64_C(86400)

/* A genuine region cloud: the DEMO root, a warrant for module VT_ESN, its attestation key, an
 * RSA KEK and the two payloads, as kek/ makes them. */
typedef struct vt_cloud {
    uint64_t now;
    X509 *root, *warrant, *leaf;
    EVP_PKEY *root_key, *warrant_key, *leaf_key;
    EVP_PKEY *kek;
    pkg_kek_payload kek_payload;
    pkg_world_payload world_payload;
} vt_cloud;

/* kek_bits 2048, 3072, 4096 use the committed test KEKs; other sizes are generated. */
void vt_cloud_make(vt_cloud *c, unsigned kek_bits);
void vt_cloud_free(vt_cloud *c);

/* A fresh key: "P-384", "P-256" or "RSA-<bits>". */
EVP_PKEY *vt_key(const char *what);

/* Certificate options relative to now: valid from now + nb to now + na (seconds). */
typedef struct vt_cert {
    X509 *issuer;         /* NULL: self-signed by subject_key */
    EVP_PKEY *issuer_key; /* NULL with issuer NULL: subject_key */
    EVP_PKEY *subject_key;
    const char *cn, *org, *esn;
    int64_t nb, na;
    bool ca;
    int path_len;
    unsigned ku;
    const char *eku; /* extendedKeyUsage text (pkg_cert_opts.ext_key_usage), or NULL */
} vt_cert;
X509 *vt_issue(const vt_cloud *c, const vt_cert *o);

/* The warrant and attestation certificates kek/ issues, for module esn. */
X509 *vt_warrant(const vt_cloud *c, X509 *root, EVP_PKEY *root_key, EVP_PKEY *key, const char *esn);
X509 *vt_leaf(const vt_cloud *c, X509 *warrant, EVP_PKEY *warrant_key, EVP_PKEY *key,
              const char *esn);

/* The payload JSON texts (pkg_*_payload_build). */
char *vt_kek_json(const pkg_kek_payload *p);
char *vt_world_json(const pkg_world_payload *p);

/* A package signed with pkg_jws_sign (signer must be chain[0]'s key). */
char *vt_sign(const char *payload, X509 *const *chain, size_t n, EVP_PKEY *signer);
/* A package built by hand: protected header text as given, payload, an ES384 signature by
 * signer over the signing input, raw r||s or (der) OpenSSL's DER form. */
char *vt_sign_raw(const char *header, const char *payload, EVP_PKEY *signer, bool der);
/* The protected header {"alg":alg,"typ":"JOSE+JSON","x5c":[chain]} as compact JSON text. */
char *vt_header(const char *alg, X509 *const *chain, size_t n);

/* Crafted certificates, in DER (each kt_buf is the caller's, kt_buf_free). */

/* The DER of one Extension (RFC 5280 §4.1): OID (dotted), the critical flag (VT_CRITICAL,
 * VT_NOT_CRITICAL left out, or any byte 0 to 255 encoded as given: 0 is an encoded DEFAULT FALSE,
 * 1 a TRUE that is not DER) and the extnValue bytes as given. */
#define VT_CRITICAL     0xff
#define VT_NOT_CRITICAL (-1)
kt_buf vt_ext(const char *oid, int critical, const void *value, size_t len);
/* base re-issued with other extensions: base's own, except those whose OID is in drop (dotted,
 * comma-separated; "*" all of them; NULL none), then add[0..n) at the end (no extensions field
 * when there are none). Signed ECDSA-SHA384 by issuer_key over the TBS as built. */
kt_buf vt_reissue(X509 *base, const char *drop, const kt_buf *add, size_t n, EVP_PKEY *issuer_key);
/* base re-issued with member number field of its TBSCertificate (VT_TBS_VALIDITY,
 * VT_TBS_SUBJECT) replaced by the bytes given, which need not be DER. */
#define VT_TBS_VALIDITY 4
#define VT_TBS_SUBJECT  5
kt_buf vt_reissue_field(X509 *base, int field, const kt_buf *with, EVP_PKEY *issuer_key);
/* The DER of a certificate. */
kt_buf vt_der(X509 *x);
/* As vt_header, with x5c given as DER certificates (which OpenSSL need not be able to read). */
char *vt_header_der(const char *alg, const kt_buf *chain, size_t n);

/* The genuine KEK package and world package of c. */
char *vt_kek_package(const vt_cloud *c);
char *vt_world_package(const vt_cloud *c);

/* verify_packages over two NUL-terminated texts at c->now. */
kt_rc vt_verify(const vt_cloud *c, const char *kek, const char *world, verify_result *r, kt_err *e);

char *vt_capture(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The built Python verifier (the build folder's copy, which carries this build's root). */
const char *vt_script(void);
/* Skips (visibly) when /usr/bin/python3 cannot import cryptography. */
void vt_need_python(void);

/*
 * Runs the Python verifier once in --batch mode over n pairs of files and returns its reports
 * (a JSON array, one object per pair in order; new reference). The batch's exit status, the
 * highest of the pairs', goes to *status.
 */
json_t *vt_python_batch(const char *dir, char *const *kek, char *const *world, size_t n,
                        int *status);

/* The same in two halves, so the caller can work while Python does: start writes the list and
 * starts the process (its output goes to files in dir); finish waits and parses. */
typedef struct vt_batch {
    FILE *proc;
    char *out, *err;
    size_t n;
} vt_batch;
vt_batch *vt_python_batch_start(const char *dir, char *const *kek, char *const *world, size_t n);
json_t *vt_python_batch_finish(vt_batch *b, int *status);

#endif
