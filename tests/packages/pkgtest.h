/*
 * pkgtest.h - fixtures shared by the packages/ tests: scratch folders, raw file access for setup
 * and inspection (not through the code under test), running the programs that cross-check ours
 * (`openssl`, /usr/bin/python3 with pyca/cryptography, `unzip`), the committed test KEKs and the
 * Wycheproof vector files.
 */
#ifndef KT_PKGTEST_H
#define KT_PKGTEST_H

#include "support/scratch.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg.h"

/* Debian's interpreter, which has python3-cryptography (the one on PATH may be another). */
#define PT_PYTHON "/usr/bin/python3"

/* Runs a shell command (logged), returns its exit status (-1 when it did not exit). */
int pt_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command and captures its stdout (heap, NUL-terminated); *status its exit. */
char *pt_capture(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Skips (visibly) when a program is missing. */
void pt_need(const char *program);
/* Skips when /usr/bin/python3 cannot import cryptography. */
void pt_need_pyca(void);

/* The committed test KEK of bits (2048, 3072, 4096) or the "other" 2048-bit one (bits 0). */
const char *pt_kek_path(unsigned bits);
EVP_PKEY *pt_kek(unsigned bits);

/* A Wycheproof vector file parsed with jansson (new reference). */
json_t *pt_vectors(const char *file);
/* Hex to a heap buffer (*n bytes). */
uint8_t *pt_unhex(const char *hex, size_t *n);

/* A fresh EC key on the named curve (e.g. "P-384"). */
EVP_PKEY *pt_ec_key(const char *curve);

/* A vendor chain like the cloud's: the DEMO root, a module warrant (CA, pathlen 0) and an
 * attestation leaf, all ECDSA P-384, valid from an hour ago for a year. */
typedef struct pt_chain {
    X509 *root, *warrant, *leaf;
    EVP_PKEY *root_key, *warrant_key, *leaf_key;
} pt_chain;
void pt_chain_make(pt_chain *c);
void pt_chain_free(pt_chain *c);

/* Counts entries of dir (excluding . and ..); -1 when it does not exist. */
long pt_count_entries(const char *dir);

#endif
