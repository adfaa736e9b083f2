/*
 * verify_internal.h - what the files of verify/ share and nothing else sees: the certificate checks
 * of chain.c, called by the check table of verify.c.
 */
#ifndef KT_VERIFY_INTERNAL_H
#define KT_VERIFY_INTERNAL_H

#include <openssl/x509.h>

#include "verify.h"

/* The commonName of a certificate's subject, quoted for messages ("?" when it has none). */
void verify_cert_label(char out[KT_QUOTE_SIZE], X509 *cert);

/*
 * root-hash: the last certificate of chain is the trusted root. Its SubjectPublicKeyInfo DER,
 * exactly as carried, hashes (SHA-256) to root; its subject and issuer are the same bytes; it
 * is signed with ECDSA-SHA384 and its own P-384 key verifies that signature. what names the
 * package in messages. On success detail (detail_sz bytes) says what was established.
 */
KT_MUST kt_rc verify_chain_root(STACK_OF(X509) * chain, const uint8_t root[32], const char *what,
                                char *detail, size_t detail_sz, kt_err *e);

/*
 * chain: x5c is exactly the attestation leaf, the module warrant and the root (three
 * certificates). For the leaf and the warrant, the issuer name is the subject name of the next
 * certificate (the same DER bytes) and that certificate's P-384 key verifies its ECDSA-SHA384
 * signature. Every certificate is X.509 v3, within notBefore..notAfter at now (both bounds
 * included) and holds to the vendor certificate profile (docs/formats.md): only basicConstraints,
 * keyUsage, extendedKeyUsage, subjectKeyIdentifier and authorityKeyIdentifier, each at most once
 * and DER, the last two never critical, an authorityKeyIdentifier equal to the issuer's
 * subjectKeyIdentifier when both are present. The leaf is not a CA, has keyUsage
 * digitalSignature and extendedKeyUsage PKG_EKU_ATTESTATION_OID alone; the warrant and the root
 * are CAs with keyCertSign and no extendedKeyUsage; the warrant has path length 0, the root none
 * or at least 1.
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
