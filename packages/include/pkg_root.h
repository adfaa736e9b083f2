/*
 * pkg_root.h - packages/: the vendor root compiled in (root.c). Part of the folder's face; pkg.h is
 * the index and its conventions hold here.
 */
#ifndef KT_PKG_ROOT_H
#define KT_PKG_ROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"

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

#endif
