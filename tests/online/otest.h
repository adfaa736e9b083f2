/*
 * otest.h - fixtures shared by the online/ tests: scratch folders, raw file access for setup,
 * the committed test keys, a transfer package made the way `keytransfer package` makes one (a
 * .byok wrapped with pkg_rsa_aes_wrap, written by pkg_byok_write, and a manifest signed with an
 * Ed25519 module key by pkg_manifest_sign), and a one-shot HTTP server on loopback that records
 * what it was sent and answers what the test says.
 */
#ifndef KT_OTEST_H
#define KT_OTEST_H

#include "support/scratch.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "kt.h"
#include "online.h"
#include "pkg.h"

/* A committed test key from tests/packages/data ("kek-2048.pem", "kek-2048-other.pem", ...). */
EVP_PKEY *ot_key(const char *name);

#define OT_KID "https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef"

/* A package made in a folder. */
typedef struct ot_package {
    char *dir, *byok_path, *manifest_path;
    uint8_t module_pk[32], module_sk[64];
    uint8_t module_fp[32]; /* pkg_ed25519_fingerprint(module_pk) */
    uint8_t key_sha256[32];
    pkg_manifest m; /* what was signed */
} ot_package;

/*
 * Wraps target (an RSA or EC private key; NULL: a fresh AES-256 key) for the committed 2048-bit
 * test KEK with kid OT_KID and writes TransferPackage-<name>.byok and its manifest into dir.
 */
void ot_package_make(ot_package *p, const char *dir, const char *name, EVP_PKEY *target);
/* Signs p->m again (after a test changed it) and rewrites the manifest. */
void ot_package_resign(ot_package *p);
void ot_package_free(ot_package *p);

/* A one-shot HTTP server on 127.0.0.1: it waits up to wait_ms for one connection, reads one
 * request (headers and Content-Length body), sends `answer` verbatim and closes. */
typedef struct ot_server {
    unsigned port;
    int fd;
    int wait_ms;
    char *answer;
    size_t answer_len;
    char *request; /* what it received, after ot_server_join */
    size_t request_len;
    bool accepted;
    void *thread;
} ot_server;

void ot_server_start(ot_server *s, const char *answer, size_t answer_len, int wait_ms);
void ot_server_join(ot_server *s);
void ot_server_free(ot_server *s);

/* A closed loopback port: bound, then closed, so nothing listens there. */
unsigned ot_closed_port(void);

#endif
