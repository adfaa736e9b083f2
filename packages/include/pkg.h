/*
 * pkg.h - the face of packages/: what travels between machines (docs/design.md §3, §4). Each
 * module below has a header of its own, pkg_<module>.h, declaring what it offers; this index
 * includes them all for the programs that use many of them.
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
 *   keyvault.c the Key Vault vocabulary: key operations, what each key type takes, kty names
 *   aws.c      AWS KMS: get-parameters-for-import JSON in, the wrapping algorithms, the blobs
 *   gcp.c      Cloud KMS: the import job JSON in, the six import methods, the blobs
 *   util.c     helpers shared inside the folder (packages_internal.h): character classes,
 *              hex, base64, times
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

#include "pkg_wrap.h"
#include "pkg_byok.h"
#include "pkg_jws.h"
#include "pkg_payload.h"
#include "pkg_x509.h"
#include "pkg_root.h"
#include "pkg_zip.h"
#include "pkg_hashes.h"
#include "pkg_manifest.h"
#include "pkg_aws.h"
#include "pkg_gcp.h"
#include "pkg_keyvault.h"

#endif
