/*
 * pkg_manifest.h - packages/: the transfer manifest (manifest.c). Part of the folder's face; pkg.h
 * is the index and its conventions hold here.
 */
#ifndef KT_PKG_MANIFEST_H
#define KT_PKG_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg_byok.h"

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

#endif
