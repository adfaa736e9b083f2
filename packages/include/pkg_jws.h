/*
 * pkg_jws.h - packages/: jWS, flattened JSON serialization, ES384 with x5c (jws.c). Part of the
 * folder's face; pkg.h is the index and its conventions hold here.
 */
#ifndef KT_PKG_JWS_H
#define KT_PKG_JWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"

#define PKG_JWS_MAX         (256 * 1024) /* a package file larger than this is refused */
#define PKG_JWS_PAYLOAD_MAX (64 * 1024)  /* decoded payload */
#define PKG_X5C_MAX         5            /* certificates in x5c */
#define PKG_CERT_DER_MAX    8192         /* bytes of one certificate */
#define PKG_ES384_SIG_LEN   96           /* raw r || s, 48 bytes each (RFC 7518 §3.4) */
#define PKG_JWS_ALG         "ES384"
#define PKG_JWS_TYP         "JOSE+JSON"

/*
 * Signs payload (1..PKG_JWS_PAYLOAD_MAX bytes) as a JWS in flattened JSON serialization
 * (RFC 7515 §7.2.2) with the protected header {"alg":"ES384","typ":"JOSE+JSON","x5c":[...]}:
 * x5c holds chain[0..n-1] (leaf first, root last, 1..PKG_X5C_MAX certificates) as standard
 * padded base64 of their DER (RFC 7515 §4.1.6 - not base64url). The signature is ECDSA P-384
 * over SHA-384 of ASCII(BASE64URL(protected) || '.' || BASE64URL(payload)) (RFC 7515 §5.1) in
 * the raw r || s form of RFC 7518 §3.4. signer must be a P-384 private key matching the leaf
 * certificate. *out is {"payload":...,"protected":...,"signature":...} plus a newline, a heap
 * string (free()).
 */
KT_MUST kt_rc pkg_jws_sign(const uint8_t *payload, size_t payload_len, EVP_PKEY *signer,
                           X509 *const *chain, size_t n_chain, char **out, kt_err *e);

/* A parsed JWS; nothing in it is trusted until verify/ has checked the chain and signature. */
typedef struct pkg_jws {
    kt_buf payload;                 /* the decoded payload bytes */
    STACK_OF(X509) * chain;         /* x5c, leaf first, 1..PKG_X5C_MAX certificates */
    char *signing_input;            /* BASE64URL(protected) '.' BASE64URL(payload), as received */
    size_t signing_input_len;       /* strlen(signing_input) */
    uint8_t sig[PKG_ES384_SIG_LEN]; /* raw r || s */
} pkg_jws;

/*
 * Parses a JWS package strictly: at most PKG_JWS_MAX bytes; exactly the members protected,
 * payload, signature (an unprotected "header" is refused); each strict unpadded base64url; the
 * protected header exactly {alg, typ, x5c}: alg other than "ES384" is KT_EDENIED, "crit" is
 * refused, typ must be "JOSE+JSON", x5c 1..PKG_X5C_MAX strings of standard padded base64, each
 * a DER certificate of at most PKG_CERT_DER_MAX bytes that d2i_X509 consumes in full; the
 * signature exactly 96 bytes (a DER signature is refused with a message saying raw r || s is
 * required). Checks no signature and no trust: see pkg_jws_verify_signature and verify/.
 * *out is cleared first; free it with pkg_jws_free.
 */
KT_MUST kt_rc pkg_jws_parse(const uint8_t *in, size_t len, pkg_jws *out, kt_err *e);

/*
 * Checks the ES384 signature of a parsed JWS over its signing input with pub (a P-384 public
 * key, normally X509_get0_pubkey of the leaf). KT_EDENIED when it does not verify or pub is not
 * a P-384 key.
 */
KT_MUST kt_rc pkg_jws_verify_signature(const pkg_jws *jws, EVP_PKEY *pub, kt_err *e);

void pkg_jws_free(pkg_jws *jws);

/* OpenSSL's DER ECDSA-Sig-Value to raw r || s, each left-padded to 48 bytes (RFC 7518 §3.4);
 * the DER must be consumed exactly and r, s must fit 48 bytes. */
KT_MUST kt_rc pkg_ecdsa_der_to_raw(const uint8_t *der, size_t der_len,
                                   uint8_t raw[PKG_ES384_SIG_LEN], kt_err *e);

/* Raw r || s to DER ECDSA-Sig-Value; *der is a heap buffer (kt_buf_free). */
KT_MUST kt_rc pkg_ecdsa_raw_to_der(const uint8_t raw[PKG_ES384_SIG_LEN], kt_buf *der, kt_err *e);

#endif
