/*
 * pkg_aws.h - packages/: aWS KMS import parameters and wrapping algorithms (aws.c). Part of the
 * folder's face; pkg.h is the index and its conventions hold here.
 */
#ifndef KT_PKG_AWS_H
#define KT_PKG_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg_wrap.h"

/* The WrappingAlgorithm values of AWS KMS GetParametersForImport that keytransfer produces
 * (RSAES_PKCS1_V1_5 is deprecated by AWS, SM2PKE is for China Regions only: neither is made). */
typedef enum pkg_aws_wrapping {
    PKG_AWS_RSAES_OAEP_SHA_1 = 1,         /* RSA-OAEP SHA-1 of the material itself */
    PKG_AWS_RSAES_OAEP_SHA_256 = 2,       /* RSA-OAEP SHA-256 of the material itself */
    PKG_AWS_RSA_AES_KEY_WRAP_SHA_1 = 3,   /* CKM_RSA_AES_KEY_WRAP, OAEP SHA-1 */
    PKG_AWS_RSA_AES_KEY_WRAP_SHA_256 = 4, /* CKM_RSA_AES_KEY_WRAP, OAEP SHA-256 */
} pkg_aws_wrapping;

/* "RSAES_OAEP_SHA_1", ... as AWS spells them; "?" for anything else. */
const char *pkg_aws_wrapping_name(pkg_aws_wrapping w);

/* Parses one of the four names exactly; anything else is KT_EUSAGE listing them. */
KT_MUST kt_rc pkg_aws_wrapping_parse(const char *s, pkg_aws_wrapping *w, kt_err *e);

/* The OAEP hash of w, and whether it wraps the material directly (RSAES_OAEP_*). */
pkg_oaep_hash pkg_aws_wrapping_hash(pkg_aws_wrapping w);
bool pkg_aws_wrapping_is_direct(pkg_aws_wrapping w);

/* The algorithm AWS documents for a key type ("RSA", "EC", "AES", world_key_type_name's
 * spelling): RSA_AES_KEY_WRAP_SHA_256 for RSA and EC private keys, RSAES_OAEP_SHA_256 for
 * symmetric material. */
pkg_aws_wrapping pkg_aws_wrapping_default(const char *key_type);

/*
 * Whether AWS KMS imports key material of this type, size (bits) and curve with algorithm w
 * under a wrapping key of kek_bits (the AWS KMS Developer Guide, "Select a wrapping algorithm"
 * and "Requirements for imported key material"): RSA 2048/3072/4096 and EC P-256, P-384, P-521,
 * secp256k1 private keys, AES-256 symmetric keys only; RSA_AES_KEY_WRAP_* for RSA and EC only;
 * RSAES_OAEP_* for everything but RSA private keys, and not for P-521 under an RSA_2048 wrapping
 * key. KT_EDENIED naming the rule otherwise.
 */
KT_MUST kt_rc pkg_aws_check(pkg_aws_wrapping w, const char *key_type, unsigned bits,
                            const char *curve, unsigned kek_bits, kt_err *e);

#define PKG_AWS_PARAMS_MAX (64 * 1024) /* the JSON file */
#define PKG_AWS_KEY_ID_MAX 2048        /* KeyId: a key ID or ARN, printable */
#define PKG_AWS_TOKEN_MAX  6144        /* ImportToken, decoded (the API's limit) */

/* `aws kms get-parameters-for-import --output json`, parsed. */
typedef struct pkg_aws_params {
    char key_id[PKG_AWS_KEY_ID_MAX + 1]; /* as AWS returned it: the key's ARN */
    EVP_PKEY *public_key;                /* the wrapping key: RSA 2048, 3072 or 4096 */
    kt_buf public_key_der;               /* its SubjectPublicKeyInfo DER, as sent */
    kt_buf import_token;                 /* the opaque token, decoded */
    uint64_t valid_to;                   /* ParametersValidTo, UNIX seconds (fractions cut) */
} pkg_aws_params;

/*
 * Parses the JSON object the aws CLI prints for get-parameters-for-import, strictly: exactly the
 * members KeyId (printable, 1..PKG_AWS_KEY_ID_MAX), PublicKey (standard base64 of DER SPKI of an
 * RSA key), ImportToken (standard base64, 1..PKG_AWS_TOKEN_MAX bytes) and ParametersValidTo (as
 * the CLI prints it, an ISO 8601 time "YYYY-MM-DDThh:mm:ss[.fff...](Z|+hh:mm|-hh:mm)", or as the
 * API sends it, a number of seconds since 1970). KT_EFORMAT naming the member otherwise. Whether
 * the parameters are still valid is the caller's check. *out: pkg_aws_params_free.
 */
KT_MUST kt_rc pkg_aws_params_parse(const uint8_t *in, size_t len, pkg_aws_params *out, kt_err *e);
void pkg_aws_params_free(pkg_aws_params *p);

/*
 * Wraps material for AWS KMS ImportKeyMaterial's EncryptedKeyMaterial: RSAES_OAEP_* is RSA-OAEP
 * (MGF1 with the same hash, empty label) of the material itself (RFC 8017 §7.1.1), refused
 * (KT_EDENIED) when it does not fit the modulus; RSA_AES_KEY_WRAP_* is pkg_rsa_aes_wrap.
 */
KT_MUST kt_rc pkg_aws_wrap(EVP_PKEY *kek, pkg_aws_wrapping w, const uint8_t *material, size_t len,
                           kt_buf *out, kt_err *e);

/* The inverse, for the emulated KMS: *out in secure memory. */
KT_MUST kt_rc pkg_aws_unwrap(EVP_PKEY *kek, pkg_aws_wrapping w, const uint8_t *blob, size_t len,
                             kt_secbuf *out, kt_err *e);

/* Standard padded base64 (RFC 4648 §4), the encoding of the AWS JSON 1.1 protocol's blobs:
 * encode to a heap string (free()); decode strictly (one spelling) at most max bytes. */
KT_MUST kt_rc pkg_aws_b64_encode(const uint8_t *in, size_t n, char **out, kt_err *e);
KT_MUST kt_rc pkg_aws_b64_decode(const char *in, size_t max, kt_buf *out, kt_err *e);

/* Parses an ISO 8601 time as the aws CLI prints it (see pkg_aws_params_parse) into UNIX
 * seconds, fractions cut. */
KT_MUST kt_rc pkg_aws_time_parse(const char *s, const char *what, uint64_t *t, kt_err *e);

#endif
