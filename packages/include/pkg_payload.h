/*
 * pkg_payload.h - packages/: kEK package and world package payloads (payload.c). Part of the
 * folder's face; pkg.h is the index and its conventions hold here.
 */
#ifndef KT_PKG_PAYLOAD_H
#define KT_PKG_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg_byok.h"
#include "pkg_jws.h"

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

#endif
