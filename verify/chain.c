/*
 * chain.c - the certificate checks of package verification: the root against the embedded hash,
 * the path from the attestation leaf up to the root (names, ECDSA-SHA384 signatures, validity,
 * CA and key usage constraints, path lengths), and the module ESN the warrant certifies.
 *
 * The path is checked as given, certificate by certificate, rather than built by
 * X509_verify_cert: a chain in the wrong order must be refused, not silently re-ordered, and the
 * vendor's policy (ECDSA P-384 with SHA-384 throughout, no unknown critical extension) is
 * stricter than what a generic path builder enforces. RFC 5280 §6.1 is the model for each step.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* keyUsage bit numbers (RFC 5280 §4.2.1.3). */
#define KU_BIT_DIGITAL_SIGNATURE 0
#define KU_BIT_KEY_CERT_SIGN     5

void verify_quote(char out[VERIFY_QUOTE_MAX + 4], const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n && i < VERIFY_QUOTE_MAX; i++)
        out[i] = (s[i] >= 0x20 && s[i] <= 0x7e) ? s[i] : '?';
    if (n > VERIFY_QUOTE_MAX) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

void verify_cert_label(char out[VERIFY_QUOTE_MAX + 4], X509 *cert)
{
    const X509_NAME *subject = X509_get_subject_name(cert);
    int idx = subject != NULL ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    const ASN1_STRING *cn;

    if (idx < 0 || (cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx))) == NULL) {
        snprintf(out, VERIFY_QUOTE_MAX + 4, "?");
        return;
    }
    verify_quote(out, (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
}

static bool is_p384(EVP_PKEY *k)
{
    char group[64];
    size_t len = 0;

    if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
        return false;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
        1) {
        ERR_clear_error();
        return false;
    }
    return strcmp(group, SN_secp384r1) == 0;
}

/* Two names are the same when their DER encodings, as the certificates carry them, are. */
static bool same_name(const X509_NAME *a, const X509_NAME *b)
{
    const unsigned char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;

    if (a == NULL || b == NULL || X509_NAME_get0_der(a, &da, &la) != 1 ||
        X509_NAME_get0_der(b, &db, &lb) != 1) {
        ERR_clear_error();
        return false;
    }
    return la == lb && memcmp(da, db, la) == 0;
}

/* RFC 5280 §6.1.3 (a)(1): the signature on cert verifies with the issuer's public key. Only
 * ECDSA with SHA-384 by a P-384 key is accepted (the vendor's profile). */
static kt_rc check_signature(X509 *cert, EVP_PKEY *issuer_key, const char *cert_label,
                             const char *issuer_label, kt_err *e)
{
    int ok;

    if (X509_get_signature_nid(cert) != NID_ecdsa_with_SHA384)
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" is not signed with ECDSA-SHA384, the only algorithm "
                       "vendor chains use",
                       cert_label);
    if (!is_p384(issuer_key))
        return kt_fail(e, KT_EDENIED,
                       "the key of \"%s\" is not an ECDSA P-384 key, so it cannot have signed "
                       "\"%s\"",
                       issuer_label, cert_label);
    ok = X509_verify(cert, issuer_key);
    ERR_clear_error();
    if (ok != 1)
        return kt_fail(e, KT_EDENIED,
                       "the signature on certificate \"%s\" does not verify with the key of \"%s\"",
                       cert_label, issuer_label);
    return KT_OK;
}

kt_rc verify_chain_root(STACK_OF(X509) * chain, const uint8_t root[32], const char *what,
                        char *detail, size_t detail_sz, kt_err *e)
{
    int n = sk_X509_num(chain);
    X509 *cert;
    uint8_t got[32];
    char label[VERIFY_QUOTE_MAX + 4], have[80], want[80];
    kt_rc rc;

    if (n < 1)
        return kt_fail(e, KT_EDENIED, "%s: x5c holds no certificate", what);
    cert = sk_X509_value(chain, n - 1);
    verify_cert_label(label, cert);
    /* DESIGN.md §4: SHA-256 of the root certificate's SubjectPublicKeyInfo DER. */
    if ((rc = pkg_cert_spki_sha256(cert, got, e)) != KT_OK) {
        kt_err_prefix(e, "%s: x5c[%d]", what, n - 1);
        return rc == KT_ENOMEM ? rc : KT_EDENIED;
    }
    if (memcmp(got, root, sizeof got) != 0) {
        kt_hex_groups(have, sizeof have, got, sizeof got);
        kt_hex_groups(want, sizeof want, root, 32);
        return kt_fail(e, KT_EDENIED,
                       "%s: the root certificate \"%s\" (x5c[%d]) has the key hash %s, not the "
                       "embedded root hash %s: it was not made under the trusted vendor root",
                       what, label, n - 1, have, want);
    }
    if (!same_name(X509_get_subject_name(cert), X509_get_issuer_name(cert)))
        return kt_fail(e, KT_EDENIED,
                       "%s: the root certificate \"%s\" is not self-issued (its issuer is not its "
                       "subject)",
                       what, label);
    if ((rc = check_signature(cert, X509_get0_pubkey(cert), label, label, e)) != KT_OK) {
        kt_err_prefix(e, "%s: the root is not self-signed", what);
        return rc;
    }
    snprintf(detail, detail_sz,
             "%s: the root \"%s\" (x5c[%d]) has the embedded key hash and signs itself", what,
             label, n - 1);
    return KT_OK;
}

/* An ASN1_TIME as UNIX seconds. */
static bool unix_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return false;
    }
    *out = (int64_t)timegm(&tm);
    return true;
}

/* RFC 5280 §6.1.3 (a)(2): now within notBefore..notAfter, both included. */
static kt_rc check_validity(X509 *cert, int64_t now, const char *label, kt_err *e)
{
    int64_t nb, na;
    char a[32], b[32];

    if (!unix_time(X509_get0_notBefore(cert), &nb) || !unix_time(X509_get0_notAfter(cert), &na))
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" has an unreadable validity period",
                       label);
    if (now < nb) {
        kt_time_iso8601(a, sizeof a, (uint64_t)(nb > 0 ? nb : 0));
        kt_time_iso8601(b, sizeof b, (uint64_t)now);
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" is not valid before %s (now: %s)", label,
                       a, b);
    }
    if (now > na) {
        kt_time_iso8601(a, sizeof a, (uint64_t)(na > 0 ? na : 0));
        kt_time_iso8601(b, sizeof b, (uint64_t)now);
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" expired at %s (now: %s)", label, a, b);
    }
    return KT_OK;
}

/* The extensions every certificate must have right: v3, no repeats, no critical extension this
 * verifier does not process (RFC 5280 §4.2: such a certificate must be rejected). */
static kt_rc check_extension_set(X509 *cert, const char *label, kt_err *e)
{
    int count = X509_get_ext_count(cert);

    if (X509_get_version(cert) != X509_VERSION_3)
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" is not an X.509 version 3 certificate",
                       label);
    for (int i = 0; i < count; i++) {
        X509_EXTENSION *ext = X509_get_ext(cert, i);
        const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
        int nid = OBJ_obj2nid(obj);

        if (X509_get_ext_by_OBJ(cert, obj, i) != -1)
            return kt_fail(e, KT_EDENIED, "certificate \"%s\" repeats an extension", label);
        if (X509_EXTENSION_get_critical(ext) && nid != NID_basic_constraints &&
            nid != NID_key_usage) {
            char oid[80];

            if (OBJ_obj2txt(oid, sizeof oid, obj, 1) <= 0)
                snprintf(oid, sizeof oid, "?");
            return kt_fail(e, KT_EDENIED,
                           "certificate \"%s\" has a critical extension (%s) this verifier does "
                           "not process",
                           label, oid);
        }
    }
    return KT_OK;
}

/* RFC 5280 §6.1.4 (k), (l), (n) for issuers; §4.2.1.3 and §4.2.1.9 for the leaf. below_cas is
 * the number of CA certificates between this one and the leaf. */
static kt_rc check_role(X509 *cert, bool is_leaf, int below_cas, const char *label, kt_err *e)
{
    int bc_crit = -1, ku_crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, &bc_crit, NULL);
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(cert, NID_key_usage, &ku_crit, NULL);
    kt_rc rc = KT_OK;

    ERR_clear_error();
    if ((bc == NULL && bc_crit != -1) || (ku == NULL && ku_crit != -1)) {
        rc = kt_fail(e, KT_EDENIED,
                     "certificate \"%s\" has a malformed basicConstraints or keyUsage extension",
                     label);
        goto done;
    }
    if (is_leaf) {
        if (bc != NULL && bc->ca)
            rc = kt_fail(e, KT_EDENIED,
                         "the attestation certificate \"%s\" (x5c[0]) is a CA; the signer of a "
                         "package must be an end-entity certificate",
                         label);
        else if (ku == NULL || !ASN1_BIT_STRING_get_bit(ku, KU_BIT_DIGITAL_SIGNATURE))
            rc = kt_fail(e, KT_EDENIED,
                         "the attestation certificate \"%s\" (x5c[0]) is not allowed to sign: its "
                         "keyUsage lacks digitalSignature",
                         label);
        goto done;
    }
    if (bc == NULL || !bc->ca) {
        rc = kt_fail(e, KT_EDENIED,
                     "certificate \"%s\" issues another certificate but is not a CA "
                     "(basicConstraints CA is not true)",
                     label);
        goto done;
    }
    if (ku == NULL || !ASN1_BIT_STRING_get_bit(ku, KU_BIT_KEY_CERT_SIGN)) {
        rc = kt_fail(e, KT_EDENIED,
                     "certificate \"%s\" issues another certificate but its keyUsage lacks "
                     "keyCertSign",
                     label);
        goto done;
    }
    if (bc->pathlen != NULL) {
        long max = ASN1_INTEGER_get(bc->pathlen);

        ERR_clear_error();
        if (max < 0)
            rc = kt_fail(e, KT_EDENIED, "certificate \"%s\" has an invalid path length", label);
        else if (below_cas > max)
            rc = kt_fail(e, KT_EDENIED,
                         "certificate \"%s\" allows %ld CA certificate(s) below it, but the chain "
                         "has %d",
                         label, max, below_cas);
    }
done:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    return rc;
}

kt_rc verify_chain_path(STACK_OF(X509) * chain, uint64_t now, const char *what, char *detail,
                        size_t detail_sz, kt_err *e)
{
    int n = sk_X509_num(chain);
    char label[VERIFY_QUOTE_MAX + 4], issuer_label[VERIFY_QUOTE_MAX + 4];
    kt_rc rc;

    if (n < 2)
        return kt_fail(e, KT_EDENIED,
                       "%s: x5c holds %d certificate(s); a signing certificate and the root, at "
                       "least, are required",
                       what, n);
    if (now > (uint64_t)INT64_MAX)
        return kt_fail(e, KT_EUSAGE, "%s: the verification time is out of range", what);
    for (int i = 0; i < n; i++) {
        X509 *cert = sk_X509_value(chain, i);

        verify_cert_label(label, cert);
        if ((rc = check_extension_set(cert, label, e)) != KT_OK ||
            (rc = check_validity(cert, (int64_t)now, label, e)) != KT_OK ||
            (rc = check_role(cert, i == 0, i - 1, label, e)) != KT_OK)
            goto fail;
        if (i == n - 1)
            break;
        /* RFC 5280 §6.1.3 (a)(4): the issuer name is the next certificate's subject. */
        X509 *issuer = sk_X509_value(chain, i + 1);
        verify_cert_label(issuer_label, issuer);
        if (!same_name(X509_get_issuer_name(cert), X509_get_subject_name(issuer))) {
            rc = kt_fail(e, KT_EDENIED,
                         "certificate \"%s\" (x5c[%d]) was not issued by the next one in x5c, "
                         "\"%s\": x5c must run from the attestation leaf up to the root, in order",
                         label, i, issuer_label);
            goto fail;
        }
        if ((rc = check_signature(cert, X509_get0_pubkey(issuer), label, issuer_label, e)) != KT_OK)
            goto fail;
    }
    verify_cert_label(label, sk_X509_value(chain, 0));
    snprintf(detail, detail_sz,
             "%s: %d certificates, each signed by the next and valid now; signer \"%s\"", what, n,
             label);
    return KT_OK;
fail:
    kt_err_prefix(e, "%s", what);
    return rc;
}

kt_rc verify_chain_warrant_esn(STACK_OF(X509) * chain, const char *what, char esn[PKG_ESN_LEN + 1],
                               kt_err *e)
{
    int n = sk_X509_num(chain), idx;
    X509 *warrant;
    const X509_NAME *subject;
    const ASN1_STRING *value;
    unsigned char *utf8 = NULL;
    char label[VERIFY_QUOTE_MAX + 4];
    int len;

    memset(esn, 0, PKG_ESN_LEN + 1);
    if (n < 3)
        return kt_fail(e, KT_EDENIED,
                       "%s: x5c holds %d certificate(s), so no module warrant stands between "
                       "the attestation key and the root",
                       what, n);
    warrant = sk_X509_value(chain, 1);
    verify_cert_label(label, warrant);
    subject = X509_get_subject_name(warrant);
    idx = X509_NAME_get_index_by_NID(subject, NID_serialNumber, -1);
    if (idx < 0)
        return kt_fail(e, KT_EDENIED,
                       "%s: the module warrant \"%s\" (x5c[1]) names no module (no serialNumber "
                       "in its subject)",
                       what, label);
    if (X509_NAME_get_index_by_NID(subject, NID_serialNumber, idx) >= 0)
        return kt_fail(e, KT_EDENIED,
                       "%s: the module warrant \"%s\" (x5c[1]) names more than one module", what,
                       label);
    value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    len = value != NULL ? ASN1_STRING_to_UTF8(&utf8, value) : -1;
    ERR_clear_error();
    if (len < 0)
        return kt_fail(e, KT_EDENIED,
                       "%s: the module warrant \"%s\" (x5c[1]) has an unreadable serialNumber",
                       what, label);
    if ((size_t)len > PKG_ESN_LEN || memchr(utf8, '\0', (size_t)len) != NULL) {
        char q[VERIFY_QUOTE_MAX + 4];

        verify_quote(q, (const char *)utf8, (size_t)len);
        OPENSSL_free(utf8);
        return kt_fail(e, KT_EDENIED,
                       "%s: the module warrant \"%s\" (x5c[1]) names module \"%s\", which is not a "
                       "module ESN",
                       what, label, q);
    }
    memcpy(esn, utf8, (size_t)len);
    OPENSSL_free(utf8);
    return KT_OK;
}
