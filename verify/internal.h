/*
 * internal.h - what the files of verify/ share and nothing else sees: the certificate checks of
 * chain.c, called by the check table of verify.c.
 */
#ifndef KT_VERIFY_INTERNAL_H
#define KT_VERIFY_INTERNAL_H

#include <openssl/x509.h>

#include "verify.h"

/* How much of an untrusted string a message quotes. */
#define VERIFY_QUOTE_MAX 64

/* Copies untrusted text for a message: printable ASCII kept, anything else '?', cut after
 * VERIFY_QUOTE_MAX characters with "...". out holds VERIFY_QUOTE_MAX + 4 bytes. */
void verify_quote(char out[VERIFY_QUOTE_MAX + 4], const char *s, size_t n);

/* The commonName of a certificate's subject, quoted for messages ("?" when it has none). */
void verify_cert_label(char out[VERIFY_QUOTE_MAX + 4], X509 *cert);

/*
 * root-hash: the last certificate of chain is the trusted root. Its SubjectPublicKeyInfo DER,
 * exactly as carried, hashes (SHA-256) to root; its subject and issuer are the same bytes; it
 * is signed with ECDSA-SHA384 and its own P-384 key verifies that signature. what names the
 * package in messages. On success detail (detail_sz bytes) says what was established.
 */
KT_MUST kt_rc verify_chain_root(STACK_OF(X509) * chain, const uint8_t root[32], const char *what,
                                char *detail, size_t detail_sz, kt_err *e);

/*
 * chain: for every certificate i but the last, its issuer name is the subject name of
 * certificate i+1 (the same DER bytes) and i+1's P-384 key verifies its ECDSA-SHA384 signature;
 * every certificate is an X.509 v3 certificate within notBefore..notAfter at now (both bounds
 * included), has no repeated extension and no critical extension but basicConstraints and
 * keyUsage; every certificate above the leaf has basicConstraints CA true, keyUsage
 * keyCertSign and, when it states a path length, at least as many CA certificates below it
 * (excluding the leaf) as it allows; the leaf has keyUsage digitalSignature and is not a CA.
 * At least two certificates are required (a signer and the root).
 */
KT_MUST kt_rc verify_chain_path(STACK_OF(X509) * chain, uint64_t now, const char *what,
                                char *detail, size_t detail_sz, kt_err *e);

/*
 * The module ESN that the module warrant certifies: the single serialNumber attribute of the
 * subject of chain[1], the certificate right above the attestation leaf. The chain must hold at
 * least three certificates (leaf, warrant, root) so that the warrant is not the root itself.
 * esn receives the attribute as UTF-8 (at most PKG_ESN_LEN characters; a longer one cannot be
 * an ESN and is refused).
 */
KT_MUST kt_rc verify_chain_warrant_esn(STACK_OF(X509) * chain, const char *what,
                                       char esn[PKG_ESN_LEN + 1], kt_err *e);

#endif
