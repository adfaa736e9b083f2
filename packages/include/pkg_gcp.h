/*
 * pkg_gcp.h - packages/: google Cloud KMS import jobs (gcp.c). Part of the folder's face; pkg.h is
 * the index and its conventions hold here.
 */
#ifndef KT_PKG_GCP_H
#define KT_PKG_GCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg_wrap.h"

/* ImportJob.ImportMethod: the six wrapping methods of Cloud KMS. */
typedef enum pkg_gcp_method {
    PKG_GCP_RSA_OAEP_3072_SHA1_AES_256 = 1,
    PKG_GCP_RSA_OAEP_4096_SHA1_AES_256 = 2,
    PKG_GCP_RSA_OAEP_3072_SHA256_AES_256 = 3,
    PKG_GCP_RSA_OAEP_4096_SHA256_AES_256 = 4,
    PKG_GCP_RSA_OAEP_3072_SHA256 = 5, /* RSAES-OAEP of the material itself */
    PKG_GCP_RSA_OAEP_4096_SHA256 = 6,
} pkg_gcp_method;

/* "RSA_OAEP_3072_SHA1_AES_256", ...; "?" for anything else. */
const char *pkg_gcp_method_name(pkg_gcp_method m);
/* One of the six names exactly; anything else is KT_EFORMAT listing them. */
KT_MUST kt_rc pkg_gcp_method_parse(const char *s, pkg_gcp_method *m, kt_err *e);
unsigned pkg_gcp_method_bits(pkg_gcp_method m); /* 3072 or 4096 */
pkg_oaep_hash pkg_gcp_method_hash(pkg_gcp_method m);
bool pkg_gcp_method_is_direct(pkg_gcp_method m);

/*
 * Whether Cloud KMS imports this key type ("RSA", "EC", "AES"), size and curve with method m
 * (the Cloud KMS key purposes and algorithms, "Formatting keys for import", ImportMethod):
 * RSA 2048/3072/4096, EC P-256, P-384 and secp256k1, AES-128 and AES-256; not P-521 nor AES-192;
 * the direct RSA_OAEP_*_SHA256 methods not for RSA keys. KT_EDENIED naming the rule otherwise.
 */
KT_MUST kt_rc pkg_gcp_check(pkg_gcp_method m, const char *key_type, unsigned bits,
                            const char *curve, kt_err *e);

/* The gcloud --algorithm a key of this type is imported with by default (a signing or the
 * symmetric purpose): "rsa-sign-pkcs1-2048-sha256", "ec-sign-p256-sha256",
 * "google-symmetric-encryption", ...; NULL for a type Cloud KMS does not take. */
const char *pkg_gcp_default_algorithm(const char *key_type, unsigned bits, const char *curve);

#define PKG_GCP_JOB_MAX  (256 * 1024)
#define PKG_GCP_NAME_MAX 512

/* `gcloud kms import-jobs describe --format json`, parsed. */
typedef struct pkg_gcp_job {
    char name[PKG_GCP_NAME_MAX + 1]; /* projects/P/locations/L/keyRings/R/importJobs/J */
    char project[PKG_GCP_NAME_MAX + 1], location[PKG_GCP_NAME_MAX + 1];
    char keyring[PKG_GCP_NAME_MAX + 1], job[PKG_GCP_NAME_MAX + 1];
    pkg_gcp_method method;
    char state[32];       /* "ACTIVE" (anything else is refused by the caller) */
    char protection[32];  /* protectionLevel: HSM, SOFTWARE, ... */
    EVP_PKEY *public_key; /* publicKey.pem: an RSA key of the method's size */
    uint64_t expire_time; /* expireTime, UNIX seconds; 0 when absent */
} pkg_gcp_job;

/*
 * Parses an ImportJob as JSON strictly: name (the resource name, each part 1..63 of
 * [A-Za-z0-9_-]), importMethod (one of the six), protectionLevel, state, publicKey {pem} (one
 * PEM "PUBLIC KEY" of an RSA key whose size is the method's) required; createTime, generateTime,
 * expireTime, expireEventTime (RFC 3339 UTC) and attestation (an object, not judged) allowed;
 * nothing else. KT_EFORMAT naming the member otherwise. *out: pkg_gcp_job_free.
 */
KT_MUST kt_rc pkg_gcp_job_parse(const uint8_t *in, size_t len, pkg_gcp_job *out, kt_err *e);
void pkg_gcp_job_free(pkg_gcp_job *j);

/* Wraps material for Cloud KMS's wrappedKey: the direct methods RSA-OAEP SHA-256 of the
 * material (KT_EDENIED when it does not fit), the others pkg_rsa_aes_wrap. */
KT_MUST kt_rc pkg_gcp_wrap(EVP_PKEY *kek, pkg_gcp_method m, const uint8_t *material, size_t len,
                           kt_buf *out, kt_err *e);

#endif
