/*
 * pkg.h - the face of packages/: what travels between machines (docs/design.md §3, §4).
 *
 *   wrap.c     CKM_RSA_AES_KEY_WRAP both directions: RSA-OAEP of a fresh AES-256 key
 *              followed by AES-KWP (RFC 5649) of the target; the primitives are OpenSSL's EVP
 *   byok.c     the Azure Key Vault `.byok` JSON (schema_version 1.0.0) and the kid shape
 *   jws.c      JWS (RFC 7515) flattened JSON serialization, ES384 with an x5c chain
 *   payload.c  the KEK package and world package payloads (keytransfer-kek/1, keytransfer-world/1)
 *   x509.c     certificates for the vendor and cloud side, PEM/DER loading and saving
 *   root.c     the vendor root hash compiled in (KEYTRANSFER_ROOT_SHA256), DEMO or not
 *   zip.c      the toolset zip: deterministic writing and safe extraction (libzip)
 *   hashes.c   the published hash table (region, file name, SHA-256)
 *   manifest.c the signed manifest beside each transfer package
 *   util.c     helpers shared inside the folder (internal.h): character classes, hex, base64,
 *              times
 *
 * The key encodings the packages carry (PKCS#8, SubjectPublicKeyInfo, curves) are common/'s
 * (kt.h, keys.c): world/ writes them too.
 *
 * Conventions. Every fallible function returns a kt_rc and on failure fills the caller's kt_err
 * once with a message that names what was wrong; nothing here prints or exits. Outputs are
 * cleared on entry and left empty on failure, so a caller frees them on every path without
 * tracking which step failed. Secret bytes (AES keys, unwrapped targets, PKCS#8 encodings,
 * private key PEM) live in kt_secbuf (sodium_malloc) and are wiped on every path; public bytes
 * live in kt_buf or plain heap strings. Every parser caps its input, refuses unknown members,
 * duplicate keys, trailing data and every spelling but one, and judges form, never policy:
 * whether a KEK may be trusted is verify/'s decision, taken on what these parsers return.
 *
 * The formats are specified in docs/formats.md ("What travels between machines").
 */
#ifndef KT_PKG_H
#define KT_PKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"

/* ------------------------------------------------------------------------------------------ */
/* CKM_RSA_AES_KEY_WRAP (wrap.c)                                                               */
/* ------------------------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------------------------ */
/* The Azure Key Vault .byok (byok.c)                                                          */
/* ------------------------------------------------------------------------------------------ */

#define PKG_BYOK_MAX      (64 * 1024) /* a .byok larger than this is refused */
#define PKG_KID_MAX       511         /* longest kid: https:// + 253 + /keys/ + 127 + / + 32 */
#define PKG_KEY_NAME_MAX  127         /* Key Vault key names: [0-9A-Za-z-]{1,127} */
#define PKG_GENERATOR_MAX 256         /* longest generator string */
#define PKG_BYOK_SCHEMA   "1.0.0"
#define PKG_BYOK_ALG      "dir"
#define PKG_BYOK_ENC      "CKM_RSA_AES_KEY_WRAP"

/*
 * Checks the shape of a Key Vault key identifier with its version:
 *     https://HOST/keys/NAME/VERSION
 * HOST a DNS name of two or more labels ([A-Za-z0-9-]{1,63}, no leading or trailing '-', at most
 * 253 characters; no port, user or IP literal), NAME [0-9A-Za-z-]{1,127}, VERSION 32 lower-case
 * hex digits; nothing after VERSION. Covers *.vault.azure.net, *.managedhsm.azure.net and the
 * national clouds. KT_EFORMAT with the first thing that is wrong.
 */
KT_MUST kt_rc pkg_kid_check(const char *kid, kt_err *e);

/* True when the n bytes at name are a Key Vault key name: 1..PKG_KEY_NAME_MAX of [0-9A-Za-z-].
 * The one rule every program applies to key names (kid, --name, the REST path). */
bool pkg_is_key_name(const char *name, size_t n);

/*
 * Writes the .byok JSON (Azure Key Vault BYOK specification), compact, members in the order of
 * the specification, no trailing newline:
 * {"schema_version":"1.0.0","header":{"kid":KID,"alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},
 *  "ciphertext":BASE64URL-UNPADDED(blob),"generator":GENERATOR}
 * kid must pass pkg_kid_check; generator is printable ASCII, at most PKG_GENERATOR_MAX bytes;
 * blob is a CKM_RSA_AES_KEY_WRAP blob (SHA-1 for Azure). *out is a heap string (free()).
 */
KT_MUST kt_rc pkg_byok_write(const char *kid, const uint8_t *blob, size_t blob_len,
                             const char *generator, char **out, kt_err *e);

/* A parsed .byok. */
typedef struct pkg_byok {
    char kid[PKG_KID_MAX + 1];
    char generator[PKG_GENERATOR_MAX + 1];
    kt_buf blob; /* the decoded ciphertext: RSA part || KWP part */
} pkg_byok;

/*
 * Parses a .byok strictly: at most PKG_BYOK_MAX bytes; exactly the members schema_version,
 * header {kid, alg, enc}, ciphertext, generator; duplicate keys and trailing data refused;
 * schema_version other than "1.0.0" is KT_EVERSION; alg "dir" and enc "CKM_RSA_AES_KEY_WRAP"
 * exactly; kid per pkg_kid_check; ciphertext strict unpadded base64url of 1..PKG_WRAP_BLOB_MAX
 * bytes; generator printable ASCII. The caller checks kid against its KEK and the RSA part
 * length (pkg_rsa_aes_unwrap does). *out is cleared first; free it with pkg_byok_free.
 */
KT_MUST kt_rc pkg_byok_parse(const uint8_t *in, size_t len, pkg_byok *out, kt_err *e);

void pkg_byok_free(pkg_byok *b);

/* ------------------------------------------------------------------------------------------ */
/* JWS, flattened JSON serialization, ES384 with x5c (jws.c)                                   */
/* ------------------------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------------------------ */
/* KEK package and world package payloads (payload.c)                                          */
/* ------------------------------------------------------------------------------------------ */

#define PKG_KEK_SCHEMA   "keytransfer-kek/1"
#define PKG_WORLD_SCHEMA "keytransfer-world/1"
#define PKG_KTY_MAX      32   /* longest kty, e.g. "RSA-HSM" */
#define PKG_KEY_OPS_MAX  16   /* entries in key_ops */
#define PKG_KEY_OP_MAX   32   /* longest key operation name */
#define PKG_ESN_LEN      14   /* module ESN "XXXX-XXXX-XXXX", upper-case hex (world/) */
#define PKG_ESNS_MAX     16   /* modules in a world payload */
#define PKG_REGION_MAX   16   /* region names: [A-Z0-9]{1,16}, e.g. NA, EU, USGOV */
#define PKG_SUITE_MAX    63   /* cipher suite names: [A-Za-z0-9_-]{1,63} */
#define PKG_SPKI_MAX     4096 /* DER SubjectPublicKeyInfo of the KEK */
#define PKG_KEY_SIZE_MAX 65536

/*
 * The KEK package payload, as stated. Builders write exactly what the struct holds (so tests can
 * craft packages that verify/ must refuse); parsers return exactly what the payload states,
 * refusing only what is malformed. Policy (kty, key_size, key_ops, exportable, fingerprint,
 * region and world matches) is verify/'s to judge.
 */
typedef struct pkg_kek_payload {
    char kid[PKG_KID_MAX + 1]; /* pkg_kid_check shape */
    char kty[PKG_KTY_MAX + 1]; /* [A-Za-z0-9-]{1,32}; genuine: "RSA-HSM" */
    int64_t key_size;          /* 1..PKG_KEY_SIZE_MAX; genuine: 2048, 3072, 4096 */
    char key_ops[PKG_KEY_OPS_MAX][PKG_KEY_OP_MAX + 1]; /* each [A-Za-z0-9_-]{1,32} */
    size_t n_key_ops;                 /* 0..PKG_KEY_OPS_MAX; genuine: 1, "import" */
    bool exportable;                  /* genuine: false */
    kt_buf public_key;                /* SubjectPublicKeyInfo DER, d2i_PUBKEY-clean */
    uint8_t public_key_sha256[32];    /* as stated; genuine: SHA-256 of public_key */
    char module_esn[PKG_ESN_LEN + 1]; /* "XXXX-XXXX-XXXX" */
    char region[PKG_REGION_MAX + 1];
    uint8_t world_hash[32];
    uint64_t created; /* UNIX seconds, written as YYYY-MM-DDThh:mm:ssZ */
} pkg_kek_payload;

/* The world package payload, as stated. */
typedef struct pkg_world_payload {
    uint8_t world_hash[32];
    char region[PKG_REGION_MAX + 1];
    char cipher_suite[PKG_SUITE_MAX + 1];
    char module_esns[PKG_ESNS_MAX][PKG_ESN_LEN + 1];
    size_t n_module_esns; /* 1..PKG_ESNS_MAX */
    uint64_t created;
} pkg_world_payload;

/* Fills kty ("RSA-HSM" for an RSA key, "unknown" for any other), key_size (the key's bits),
 * public_key (SPKI DER) and public_key_sha256 from a KEK's public key. Frees what
 * p->public_key held before. */
KT_MUST kt_rc pkg_kek_payload_set_key(pkg_kek_payload *p, EVP_PKEY *kek, kt_err *e);

/*
 * Serializes p as the keytransfer-kek/1 JSON (compact, sorted keys: deterministic) into *json
 * (heap, free()). Every field is checked against the same rules the parser applies, so a
 * payload that builds also parses.
 */
KT_MUST kt_rc pkg_kek_payload_build(const pkg_kek_payload *p, char **json, kt_err *e);

/*
 * Parses a keytransfer-kek/1 payload (at most PKG_JWS_PAYLOAD_MAX bytes): exactly its members,
 * each of its type and shape; another keytransfer-kek/N is KT_EVERSION; a world payload is
 * KT_EFORMAT saying so (-k and -w swapped). *out is cleared first; pkg_kek_payload_free.
 */
KT_MUST kt_rc pkg_kek_payload_parse(const uint8_t *in, size_t len, pkg_kek_payload *out, kt_err *e);

void pkg_kek_payload_free(pkg_kek_payload *p);

/* Serializes p as keytransfer-world/1 JSON (compact, sorted keys) into *json (heap, free()). */
KT_MUST kt_rc pkg_world_payload_build(const pkg_world_payload *p, char **json, kt_err *e);

/* Parses a keytransfer-world/1 payload, as pkg_kek_payload_parse does. Owns no heap memory. */
KT_MUST kt_rc pkg_world_payload_parse(const uint8_t *in, size_t len, pkg_world_payload *out,
                                      kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Certificates and keys (x509.c)                                                              */
/* ------------------------------------------------------------------------------------------ */

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
 * certificate is refused) through kt_file_read (at most PKG_PEM_MAX bytes). */
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

/* ------------------------------------------------------------------------------------------ */
/* The vendor root compiled in (root.c)                                                        */
/* ------------------------------------------------------------------------------------------ */

/* The SHA-256 of the trusted vendor root's SubjectPublicKeyInfo DER, fixed at build time by the
 * CMake cache variable KEYTRANSFER_ROOT_SHA256 (default: the DEMO root in packages/demo-vendor/).
 */
void pkg_root_sha256(uint8_t out[32]);

/* True when the compiled-in root is the DEMO root, whose private key is public: anything
 * "verified" against it proves nothing. Programs say so loudly. */
bool pkg_root_is_demo(void);

/* The SHA-256 of the DEMO root's SPKI (whatever root is compiled in). */
void pkg_demo_root_sha256(uint8_t out[32]);

/* The one rule for --demo: fine in a DEMO build, or when not asked for; a build with a real
 * root refuses it outright (KT_EDENIED, naming the compiled-in root), before anything is read. */
KT_MUST kt_rc pkg_root_demo_flag(bool demo, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The toolset zip (zip.c)                                                                     */
/* ------------------------------------------------------------------------------------------ */

#define PKG_ZIP_NAME_MAX 1024 /* longest entry name; components at most 255 */

/* One file of a zip (names use '/' between folders). */
typedef struct pkg_zip_entry {
    const char *name;
    const uint8_t *data;
    size_t len;
} pkg_zip_entry;

/* Extraction limits. */
typedef struct pkg_zip_caps {
    size_t max_entries; /* default 1000 */
    uint64_t max_entry; /* bytes of one file, default 16 MiB */
    uint64_t max_total; /* bytes of all files, default 64 MiB */
    size_t max_zip;     /* bytes of the zip file itself, default 80 MiB */
} pkg_zip_caps;

/* The defaults above. */
pkg_zip_caps pkg_zip_caps_default(void);

/*
 * Checks an entry name as both writer and extractor do: 1..PKG_ZIP_NAME_MAX bytes of printable
 * ASCII, no backslash or ':', not absolute, no empty, "." or ".." component, each component at
 * most 255 bytes; a trailing '/' only when dir_ok (a folder entry). KT_EFORMAT naming the rule.
 */
KT_MUST kt_rc pkg_zip_name_check(const char *name, bool dir_ok, kt_err *e);

/*
 * Builds a deterministic zip of v[0..n-1] in memory (libzip): entries in the given order, stored
 * (no compression: the bytes do not depend on the zlib version), every mtime 2025-01-01
 * 00:00:00, Unix mode 0644, no extra fields, so the same input always gives the same bytes and
 * the published hash is reproducible. Names must pass pkg_zip_name_check and be unique (also
 * ignoring case). *out: kt_buf_free.
 */
KT_MUST kt_rc pkg_zip_build(const pkg_zip_entry *v, size_t n, kt_buf *out, kt_err *e);

/* pkg_zip_build, then kt_file_write(path, flags). */
KT_MUST kt_rc pkg_zip_write(const char *path, const pkg_zip_entry *v, size_t n, unsigned flags,
                            kt_err *e);

/* The validated contents of a zip. */
typedef struct pkg_zip_contents {
    struct pkg_zip_file {
        char *name; /* as in the archive; folders end with '/' and have no data */
        kt_buf data;
        bool is_dir;
    } * files;
    size_t n;
    uint64_t total; /* bytes of all files */
} pkg_zip_contents;

/*
 * Opens a zip held in memory and validates every entry before returning any: count, names
 * (pkg_zip_name_check; duplicates, also ignoring case, and a file that is also a folder
 * refused), regular files and folders only (symlinks and other types refused by their Unix
 * mode), no encryption, stored or deflated only, declared sizes within caps, then reads each
 * file (at most its declared size + 1 bytes) and checks the real size and CRC-32 against the
 * declaration; libzip's consistency check (local headers against the central directory) runs
 * too. caps NULL means pkg_zip_caps_default(). Messages name the entry. *out:
 * pkg_zip_contents_free.
 */
KT_MUST kt_rc pkg_zip_read(const uint8_t *zip, size_t len, const pkg_zip_caps *caps,
                           pkg_zip_contents *out, kt_err *e);

void pkg_zip_contents_free(pkg_zip_contents *c);

/*
 * Safe extraction of the zip at zip_path into dest: reads the file through kt_file_read (at most
 * caps->max_zip bytes), validates everything with pkg_zip_read, then writes the files into a
 * staged folder beside dest and publishes it as dest with the commit protocol (kt_txn: dest
 * appears whole or not at all; an interrupted earlier extraction there is completed or undone
 * first and told to report). dest must not exist or be an empty folder of the user's that nobody
 * else can write to (not a link, not a mount point), so nothing is overwritten and no link placed
 * beforehand is followed; when it already holds exactly this zip's files (an earlier run of the
 * same command), nothing is written and *earlier is set. When names is not NULL it receives what
 * was extracted: each file's name and size (data.p NULL, data.len the size); free with
 * pkg_zip_contents_free.
 */
KT_MUST kt_rc pkg_zip_extract(const char *zip_path, const char *dest, const pkg_zip_caps *caps,
                              kt_txn_report_fn report, void *ctx, pkg_zip_contents *names,
                              bool *earlier, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The published hash table (hashes.c)                                                         */
/* ------------------------------------------------------------------------------------------ */

#define PKG_HASHES_MAX      (64 * 1024) /* bytes of a table */
#define PKG_HASHES_ROWS_MAX 256
#define PKG_HASHES_FILE_MAX 255
#define PKG_HASHES_MAGIC    "# keytransfer published hashes 1"

/* One row: which region's download, its file name and SHA-256. */
typedef struct pkg_hash_row {
    char region[PKG_REGION_MAX + 1];    /* [A-Z0-9]{1,16} */
    char file[PKG_HASHES_FILE_MAX + 1]; /* [A-Za-z0-9._-]{1,255}, not starting with '.' */
    uint8_t sha256[32];
} pkg_hash_row;

typedef struct pkg_hash_table {
    pkg_hash_row *rows;
    size_t n;
} pkg_hash_table;

/*
 * Writes the table text: the magic line, a column header comment, then one line per row
 * "REGION  FILE  SHA256HEX\n" (two spaces between fields, lower-case hex), in the given order.
 * File names must be unique (ignoring case). *out: heap string (free()).
 */
KT_MUST kt_rc pkg_hashes_write(const pkg_hash_row *rows, size_t n, char **out, kt_err *e);

/*
 * Parses a table strictly: at most PKG_HASHES_MAX bytes of ASCII, LF line ends (the last line
 * too), the magic line first, then comment lines ("#" and printable text) and rows exactly as
 * written; 1..PKG_HASHES_ROWS_MAX rows, file names unique ignoring case. KT_EFORMAT with the
 * line number. *out: pkg_hashes_free.
 */
KT_MUST kt_rc pkg_hashes_parse(const uint8_t *in, size_t len, pkg_hash_table *out, kt_err *e);

/* The row for file (exact name); KT_EDENIED when the table does not list it. *row borrows. */
KT_MUST kt_rc pkg_hashes_lookup(const pkg_hash_table *t, const char *file, const pkg_hash_row **row,
                                kt_err *e);

void pkg_hashes_free(pkg_hash_table *t);

/* ------------------------------------------------------------------------------------------ */
/* The transfer manifest (manifest.c)                                                          */
/* ------------------------------------------------------------------------------------------ */

#define PKG_MANIFEST_SCHEMA "keytransfer-manifest/2"
#define PKG_MANIFEST_MAX    (64 * 1024)
#define PKG_ROOT_NAME_MAX   64     /* longest name of the root that vouched for a KEK */
#define PKG_ROOT_NAME_DEMO  "DEMO" /* the name of the DEMO root, and only of it */

/* What a transfer manifest states: the key, the KEK and world it was wrapped for, and the file
 * that carries it. */
typedef struct pkg_manifest {
    char tool_version[32];
    char app[33], ident[65], plainname[129];
    char key_type[8];          /* "RSA", "EC" or "AES" */
    unsigned key_bits;         /* modulus, curve or AES key size */
    char curve[16];            /* EC: "P-256", ...; else "" */
    kt_buf public_key;         /* SPKI DER (RSA, EC); empty for AES */
    uint8_t key_sha256[32];    /* SHA-256 of the SPKI DER, or the AES key hash */
    char kid[PKG_KID_MAX + 1]; /* the KEK's key identifier */
    uint8_t kek_sha256[32];    /* SHA-256 of the KEK's SPKI DER */
    bool attested;             /* the KEK came in a verified KEK package (and has a world) */
    char root_name[PKG_ROOT_NAME_MAX + 1]; /* attested: the vouching root, "DEMO" or a vendor's */
    uint8_t root_sha256[32];               /* attested: SHA-256 of that root's SPKI DER */
    bool has_world;                        /* a target world hash is stated (exactly if attested) */
    uint8_t target_world_hash[32];
    char target[8];    /* "azure", "aws" or "gcp" */
    char oaep_hash[8]; /* "SHA-1" or "SHA-256" */
    char subscription[128];
    char friendly_name[128];
    char package_file[256]; /* the .byok or blob's file name, beside the manifest */
    uint8_t package_sha256[32];
    uint64_t created; /* UNIX seconds */
    /* AWS and Google packages made from the cloud's own import parameters ("import" member,
     * absent otherwise): the cloud's name of the wrapping scheme, and for AWS the ImportToken
     * file written beside the package, with its SHA-256. */
    char wrapping[40];     /* "RSAES_OAEP_SHA_256", "RSA_OAEP_3072_SHA256_AES_256", ...; "" none */
    char import_for[2049]; /* the AWS KeyId (ARN) or the Cloud KMS import job's name */
    char token_file[256];  /* "" when there is no token file */
    uint8_t token_sha256[32];
} pkg_manifest;

/* SHA-256 of an Ed25519 public key's SubjectPublicKeyInfo DER (RFC 8410): the fingerprint that
 * `keytransfer world info` prints for the module and `openssl pkey -pubin -outform DER |
 * sha256sum` computes. */
void pkg_ed25519_fingerprint(const uint8_t pub[32], uint8_t out[32]);

/*
 * Signs m with the module's Ed25519 key sk (libsodium's 64-byte form: seed || public key) as a
 * JWS in flattened JSON serialization: protected header {"alg":"EdDSA","jwk":{"crv":"Ed25519",
 * "kty":"OKP","x":...}} (RFC 8037), payload the keytransfer-manifest/2 JSON. The rules the parser
 * applies hold here too (KT_EFORMAT): an attested KEK names its root (1..PKG_ROOT_NAME_MAX
 * printable characters; PKG_ROOT_NAME_DEMO exactly when root_sha256 is the DEMO root's,
 * pkg_demo_root_sha256) and has a target world; an unattested one has neither. *out is a heap
 * string (free()).
 */
KT_MUST kt_rc pkg_manifest_sign(const pkg_manifest *m, const uint8_t *sk, char **out, kt_err *e);

/*
 * Parses a manifest strictly and verifies its signature with the key its header names; signer
 * receives that Ed25519 public key, which the caller pins (pkg_ed25519_fingerprint) before it
 * trusts anything stated. A signature that does not verify is KT_EDENIED; anything malformed
 * KT_EFORMAT (KT_EVERSION for another keytransfer-manifest/N, keytransfer-manifest/1 included).
 * Which root vouched for the KEK is stated, not judged: the caller decides whether it trusts a
 * DEMO attestation (online_package_trust). *m: pkg_manifest_free.
 */
KT_MUST kt_rc pkg_manifest_parse(const uint8_t *in, size_t len, pkg_manifest *m, uint8_t signer[32],
                                 kt_err *e);

void pkg_manifest_free(pkg_manifest *m);

/* ------------------------------------------------------------------------------------------ */
/* AWS KMS import parameters and wrapping algorithms (aws.c)                                   */
/* ------------------------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------------------------ */
/* Google Cloud KMS import jobs (gcp.c)                                                        */
/* ------------------------------------------------------------------------------------------ */

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
