/*
 * pkg_wrap.h - packages/: cKM_RSA_AES_KEY_WRAP (wrap.c). Part of the folder's face; pkg.h is the
 * index and its conventions hold here.
 */
#ifndef KT_PKG_WRAP_H
#define KT_PKG_WRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"

/* The OAEP hash of CKM_RSA_AES_KEY_WRAP; MGF1 always uses the same hash and the label is empty.
 * SHA-1: Azure `.byok`, AWS RSA_AES_KEY_WRAP_SHA_1, Google RSA_OAEP_*_SHA1_AES_256.
 * SHA-256: AWS RSA_AES_KEY_WRAP_SHA_256, Google RSA_OAEP_*_SHA256_AES_256. */
typedef enum pkg_oaep_hash {
    PKG_OAEP_SHA1 = 1,
    PKG_OAEP_SHA256 = 2,
} pkg_oaep_hash;

#define PKG_RSA_MIN_BITS  2048  /* smaller KEKs are refused by wrap and unwrap */
#define PKG_RSA_MAX_BITS  16384 /* OpenSSL's own ceiling for RSA operations */
#define PKG_AES_KEY_LEN   32    /* the ephemeral key K is always AES-256 */
#define PKG_TARGET_MAX    16384 /* largest target (RSA-16384 PKCS#8 is about 9.4 KiB) */
#define PKG_KWP_OVERHEAD  8     /* RFC 5649: the AIV block (padding adds up to 7 more) */
#define PKG_WRAP_BLOB_MAX (PKG_RSA_MAX_BITS / 8 + PKG_TARGET_MAX + 2 * PKG_KWP_OVERHEAD)

/* "SHA-1" or "SHA-256". */
const char *pkg_oaep_hash_name(pkg_oaep_hash h);

/* The modulus length in bytes of an RSA key (public or private): the length of the RSA part of
 * a blob wrapped to it. 0 when key is not an RSA key. */
size_t pkg_rsa_modulus_len(const EVP_PKEY *key);

/*
 * CKM_RSA_AES_KEY_WRAP (PKCS#11 v2.40 §2.1.21; docs/design.md §4). Draws a fresh AES-256 key K into
 * secure memory and writes into *blob
 *     RSAES-OAEP(kek, hash, MGF1(hash), empty label)(K)   -- exactly the modulus length
 *  || AES-KWP(K, target)                                   -- RFC 5649, 8 + 8*ceil(len/8) bytes
 * kek is an RSA public (or private) key of PKG_RSA_MIN_BITS..PKG_RSA_MAX_BITS bits; target is
 * 1..PKG_TARGET_MAX bytes (PKCS#8 DER for RSA and EC, raw bytes for AES), which the caller keeps
 * in secure memory and wipes. K is wiped before returning, on every path. *blob is public (free
 * with kt_buf_free). KT_EDENIED for a KEK that is not RSA or of the wrong size.
 */
KT_MUST kt_rc pkg_rsa_aes_wrap(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *target,
                               size_t target_len, kt_buf *blob, kt_err *e);

/*
 * The reverse, as the receiving HSM does it: splits blob at the modulus length of kek (an RSA
 * private key), OAEP-decrypts K (which must be 32 bytes), then AES-KWP-unwraps the rest with K
 * (RFC 5649 integrity check). *target receives the key material in secure memory (the caller
 * frees it with kt_secbuf_free); K is wiped on every path. A blob of the wrong size is
 * KT_EFORMAT; an RSA part that does not decrypt (another KEK, another OAEP hash, altered bytes)
 * and a failed KWP integrity check are KT_EDENIED, each with its own message.
 */
KT_MUST kt_rc pkg_rsa_aes_unwrap(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *blob,
                                 size_t blob_len, kt_secbuf *target, kt_err *e);

/*
 * RSAES-OAEP encryption (RFC 8017 §7.1.1) with hash for both OAEP and MGF1 and an empty label:
 * *out (public, kt_buf_free) is exactly the modulus length. The first half of the wrap; exposed
 * for tests and for callers that need the bare mechanism.
 */
KT_MUST kt_rc pkg_rsa_oaep_encrypt(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *in,
                                   size_t in_len, kt_buf *out, kt_err *e);

/*
 * RSAES-OAEP decryption (RFC 8017 §7.1.2), same parameters. in must be exactly the modulus
 * length. *out (secure memory, kt_secbuf_free) receives the message. Any decryption failure is
 * KT_EDENIED with one message, whatever the cause (no padding oracle is offered).
 */
KT_MUST kt_rc pkg_rsa_oaep_decrypt(EVP_PKEY *kek, pkg_oaep_hash hash, const uint8_t *in,
                                   size_t in_len, kt_secbuf *out, kt_err *e);

/*
 * AES key wrap with padding (RFC 5649 §4.1) under key (16, 24 or 32 bytes: AES-128/192/256,
 * EVP_aes_*_wrap_pad with the default alternative IV A65959A6 || 32-bit big-endian length).
 * in is 1..PKG_TARGET_MAX bytes. *out (public, kt_buf_free) is 8 + 8*ceil(in_len/8) bytes.
 */
KT_MUST kt_rc pkg_aes_kwp_wrap(const uint8_t *key, size_t key_len, const uint8_t *in, size_t in_len,
                               kt_buf *out, kt_err *e);

/*
 * RFC 5649 §4.2 unwrap with its integrity check (AIV, length and zero padding). *out (secure
 * memory, kt_secbuf_free) receives the plaintext. A failed check is KT_EDENIED; an input that
 * cannot be a KWP output (under 16 bytes, not a multiple of 8, too long) is KT_EFORMAT.
 */
KT_MUST kt_rc pkg_aes_kwp_unwrap(const uint8_t *key, size_t key_len, const uint8_t *in,
                                 size_t in_len, kt_secbuf *out, kt_err *e);

#endif
