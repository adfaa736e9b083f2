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
#include "verify_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* keyUsage bit numbers (RFC 5280 §4.2.1.3). */
#define KU_BIT_DIGITAL_SIGNATURE 0
#define KU_BIT_KEY_CERT_SIGN     5

void verify_cert_label(char out[KT_QUOTE_SIZE], X509 *cert)
{
    const X509_NAME *subject = X509_get_subject_name(cert);
    int idx = subject != NULL ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    const ASN1_STRING *cn;

    if (idx < 0 || (cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx))) == NULL) {
        snprintf(out, KT_QUOTE_SIZE, "?");
        return;
    }
    kt_quote(out, KT_QUOTE_SIZE, (const char *)ASN1_STRING_get0_data(cn),
             (size_t)ASN1_STRING_length(cn));
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
    char label[KT_QUOTE_SIZE], have[80], want[80];
    kt_rc rc;

    if (n < 1)
        return kt_fail(e, KT_EDENIED, "%s: x5c holds no certificate", what);
    cert = sk_X509_value(chain, n - 1);
    verify_cert_label(label, cert);
    /* docs/design.md §4: SHA-256 of the root certificate's SubjectPublicKeyInfo DER. */
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

/* The vendor chain profile (docs/formats.md, "Certificate profile"): exactly the attestation
 * leaf, the module warrant and the root, in that order. */
#define CHAIN_LEN    3
#define WARRANT_AT   1
#define PATH_LEN_MAX 255

/* The extensions the profile lets a certificate carry, decoded. Any other is refused. */
typedef struct profile_exts {
    BASIC_CONSTRAINTS *bc;
    ASN1_BIT_STRING *ku;
    EXTENDED_KEY_USAGE *eku;
    ASN1_OCTET_STRING *ski;
    AUTHORITY_KEYID *aki;
} profile_exts;

static void profile_exts_free(profile_exts *x)
{
    BASIC_CONSTRAINTS_free(x->bc);
    ASN1_BIT_STRING_free(x->ku);
    EXTENDED_KEY_USAGE_free(x->eku);
    ASN1_OCTET_STRING_free(x->ski);
    AUTHORITY_KEYID_free(x->aki);
    memset(x, 0, sizeof *x);
}

/* An extension's value decoded as it, only when the value is exactly the DER encoding of what it
 * decodes to (re-encoding gives the same bytes, nothing follows): what OpenSSL's decoder lets
 * through beyond DER (an encoded DEFAULT, a constructed string, a BOOLEAN true that is not 0xFF,
 * non-zero padding bits, trailing bytes) is refused, as python3-cryptography refuses it. */
static void *decode_der(X509_EXTENSION *ext, const ASN1_ITEM *it)
{
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
    const unsigned char *start = ASN1_STRING_get0_data(v), *p = start;
    long len = ASN1_STRING_length(v);
    unsigned char *again = NULL;
    ASN1_VALUE *obj = ASN1_item_d2i(NULL, &p, len, it);
    int n = obj != NULL && p == start + len ? ASN1_item_i2d(obj, &again, it) : -1;
    bool ok = n == len && n > 0 && memcmp(again, start, (size_t)n) == 0;

    OPENSSL_free(again);
    ERR_clear_error();
    if (!ok && obj != NULL) {
        ASN1_item_free(obj, it);
        obj = NULL;
    }
    return obj;
}

/* X.690 §11.2.2: a named bit list in DER ends with a one bit (no trailing zero bits), so the
 * encoding is the shortest; keyUsage has at least one bit set (RFC 5280 §4.2.1.3). */
static bool is_der_named_bits(const ASN1_BIT_STRING *b)
{
    int len = ASN1_STRING_length(b), unused = (int)(b->flags & 0x07);
    const unsigned char *d = ASN1_STRING_get0_data(b);

    return len > 0 && ((d[len - 1] >> unused) & 1) == 1;
}

static kt_rc extension_rules(const profile_exts *x, const char *label, kt_err *e)
{
    /* OpenSSL keeps a BOOLEAN's byte as it came (and writes it back so): DER's TRUE is 0xFF. */
    if (x->bc != NULL && x->bc->ca != 0 && x->bc->ca != 0xff)
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" has a malformed basicConstraints extension (not DER)",
                       label);
    if (x->bc != NULL && x->bc->pathlen != NULL) {
        int64_t max = -1;

        if (!x->bc->ca)
            return kt_fail(e, KT_EDENIED,
                           "certificate \"%s\" states a path length but is not a CA (RFC 5280 "
                           "§4.2.1.9)",
                           label);
        if (ASN1_INTEGER_get_int64(&max, x->bc->pathlen) != 1 || max < 0 || max > PATH_LEN_MAX) {
            ERR_clear_error();
            return kt_fail(e, KT_EDENIED, "certificate \"%s\" has a path length outside 0 to %d",
                           label, PATH_LEN_MAX);
        }
    }
    if (x->ku != NULL && !is_der_named_bits(x->ku))
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" has a keyUsage with no usage or with trailing zero bits "
                       "(not DER)",
                       label);
    if (x->eku != NULL && sk_ASN1_OBJECT_num(x->eku) < 1)
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" has an empty extendedKeyUsage", label);
    if (x->ski != NULL && ASN1_STRING_length(x->ski) < 1)
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" has an empty subjectKeyIdentifier",
                       label);
    if (x->aki != NULL && (x->aki->keyid == NULL || ASN1_STRING_length(x->aki->keyid) < 1 ||
                           x->aki->issuer != NULL || x->aki->serial != NULL))
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" has an authorityKeyIdentifier that is not a key "
                       "identifier alone (the profile names the issuer by its key identifier only)",
                       label);
    return KT_OK;
}

/*
 * The extensions of a certificate, read against the profile: an X.509 v3 certificate carrying
 * at most one each of basicConstraints, keyUsage, extendedKeyUsage (these three may be critical),
 * subjectKeyIdentifier and authorityKeyIdentifier (never critical, RFC 5280 §4.2.1.1-2), each
 * DER. Any other extension, critical or not, is refused: RFC 5280 §4.2 lets a verifier ignore an
 * unknown non-critical extension, but two verifiers whose libraries know different extensions
 * would then judge the same certificate differently. *x is filled (profile_exts_free) even on
 * failure.
 */
static kt_rc read_extensions(X509 *cert, const char *label, profile_exts *x, kt_err *e)
{
    int count = X509_get_ext_count(cert);

    memset(x, 0, sizeof *x);
    if (X509_get_version(cert) != X509_VERSION_3)
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" is not an X.509 version 3 certificate",
                       label);
    for (int i = 0; i < count; i++) {
        X509_EXTENSION *ext = X509_get_ext(cert, i);
        const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
        bool critical = X509_EXTENSION_get_critical(ext) != 0, may_be_critical = true;
        const ASN1_ITEM *it;
        const char *name;
        void **slot;
        char oid[80];

        if (X509_get_ext_by_OBJ(cert, obj, i) != -1)
            return kt_fail(e, KT_EDENIED, "certificate \"%s\" repeats an extension", label);
        switch (OBJ_obj2nid(obj)) {
        case NID_basic_constraints:
            it = ASN1_ITEM_rptr(BASIC_CONSTRAINTS), name = "basicConstraints";
            slot = (void **)&x->bc;
            break;
        case NID_key_usage:
            it = ASN1_ITEM_rptr(ASN1_BIT_STRING), name = "keyUsage", slot = (void **)&x->ku;
            break;
        case NID_ext_key_usage:
            it = ASN1_ITEM_rptr(EXTENDED_KEY_USAGE), name = "extendedKeyUsage";
            slot = (void **)&x->eku;
            break;
        case NID_subject_key_identifier:
            it = ASN1_ITEM_rptr(ASN1_OCTET_STRING), name = "subjectKeyIdentifier";
            slot = (void **)&x->ski, may_be_critical = false;
            break;
        case NID_authority_key_identifier:
            it = ASN1_ITEM_rptr(AUTHORITY_KEYID), name = "authorityKeyIdentifier";
            slot = (void **)&x->aki, may_be_critical = false;
            break;
        default:
            if (OBJ_obj2txt(oid, sizeof oid, obj, 1) <= 0)
                snprintf(oid, sizeof oid, "?");
            ERR_clear_error();
            return kt_fail(e, KT_EDENIED,
                           "certificate \"%s\" has %s extension %s outside the vendor certificate "
                           "profile, which allows basicConstraints, keyUsage, extendedKeyUsage, "
                           "subjectKeyIdentifier and authorityKeyIdentifier only",
                           label, critical ? "a critical" : "an", oid);
        }
        if (critical && !may_be_critical)
            return kt_fail(e, KT_EDENIED,
                           "certificate \"%s\" marks its %s critical; RFC 5280 requires it "
                           "non-critical",
                           label, name);
        if ((*slot = decode_der(ext, it)) == NULL)
            return kt_fail(e, KT_EDENIED,
                           "certificate \"%s\" has a malformed %s extension (not DER)", label,
                           name);
    }
    return extension_rules(x, label, e);
}

/* The leaf attests: an end entity that may sign, for the attestation purpose and no other. */
static kt_rc leaf_role(const profile_exts *x, const char *label, kt_err *e)
{
    ASN1_OBJECT *want;
    bool only_attestation;

    if (x->bc != NULL && x->bc->ca)
        return kt_fail(e, KT_EDENIED,
                       "the attestation certificate \"%s\" (x5c[0]) is a CA; the signer of a "
                       "package must be an end-entity certificate",
                       label);
    if (x->ku == NULL || !ASN1_BIT_STRING_get_bit(x->ku, KU_BIT_DIGITAL_SIGNATURE))
        return kt_fail(e, KT_EDENIED,
                       "the attestation certificate \"%s\" (x5c[0]) is not allowed to sign: its "
                       "keyUsage lacks digitalSignature",
                       label);
    if (x->eku == NULL)
        return kt_fail(
            e, KT_EDENIED,
            "the attestation certificate \"%s\" (x5c[0]) has no extendedKeyUsage; a "
            "vendor attestation key carries the attestation purpose " PKG_EKU_ATTESTATION_OID,
            label);
    if ((want = OBJ_txt2obj(PKG_EKU_ATTESTATION_OID, 1)) == NULL)
        return kt_fail_ssl(e, KT_ENOMEM, "cannot make the attestation purpose's OID");
    only_attestation =
        sk_ASN1_OBJECT_num(x->eku) == 1 && OBJ_cmp(sk_ASN1_OBJECT_value(x->eku, 0), want) == 0;
    ASN1_OBJECT_free(want);
    if (!only_attestation)
        return kt_fail(e, KT_EDENIED,
                       "the attestation certificate \"%s\" (x5c[0]) is for other purposes than "
                       "vendor attestation: its extendedKeyUsage must be " PKG_EKU_ATTESTATION_OID
                       " alone",
                       label);
    return KT_OK;
}

/* RFC 5280 §6.1.4 (k), (l), (m): an issuer is a CA allowed to sign certificates. The module
 * warrant (x5c[1]) has path length 0, so that it certifies attestation keys and no CA; the root
 * (x5c[2]) allows the warrant below it. A CA serves no extended purpose. */
static kt_rc ca_role(const profile_exts *x, int at, const char *label, kt_err *e)
{
    int64_t max = -1;

    if (x->bc == NULL || !x->bc->ca)
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" issues another certificate but is not a CA "
                       "(basicConstraints CA is not true)",
                       label);
    if (x->ku == NULL || !ASN1_BIT_STRING_get_bit(x->ku, KU_BIT_KEY_CERT_SIGN))
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" issues another certificate but its keyUsage lacks "
                       "keyCertSign",
                       label);
    if (x->eku != NULL)
        return kt_fail(e, KT_EDENIED,
                       "CA certificate \"%s\" (x5c[%d]) has an extendedKeyUsage; in a vendor chain "
                       "only the attestation leaf states a purpose",
                       label, at);
    if (x->bc->pathlen != NULL && ASN1_INTEGER_get_int64(&max, x->bc->pathlen) != 1)
        return kt_fail(e, KT_EDENIED, "certificate \"%s\" has an unreadable path length", label);
    if (at == WARRANT_AT && max != 0)
        return kt_fail(e, KT_EDENIED,
                       "the module warrant \"%s\" (x5c[1]) must be a CA with path length 0, so "
                       "that it certifies attestation keys only; it %s",
                       label, max < 0 ? "states no path length" : "allows CAs below it");
    if (at != WARRANT_AT && max == 0)
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" allows no CA certificate below it, but the module "
                       "warrant is one",
                       label);
    return KT_OK;
}

/* RFC 5280 §4.2.1.1: the authorityKeyIdentifier names the issuer's subjectKeyIdentifier, when
 * both are there (as `openssl verify` holds them). */
static kt_rc key_ids_match(const profile_exts *x, const profile_exts *issuer, const char *label,
                           const char *issuer_label, kt_err *e)
{
    if (x->aki == NULL || issuer->ski == NULL)
        return KT_OK;
    if (ASN1_OCTET_STRING_cmp(x->aki->keyid, issuer->ski) != 0)
        return kt_fail(e, KT_EDENIED,
                       "certificate \"%s\" names another authority key identifier than the "
                       "subject key identifier of \"%s\"",
                       label, issuer_label);
    return KT_OK;
}

kt_rc verify_chain_path(STACK_OF(X509) * chain, uint64_t now, const char *what, char *detail,
                        size_t detail_sz, kt_err *e)
{
    int n = sk_X509_num(chain);
    char label[KT_QUOTE_SIZE], issuer_label[KT_QUOTE_SIZE];
    profile_exts exts[CHAIN_LEN];
    kt_rc rc = KT_OK;

    memset(exts, 0, sizeof exts);
    if (n != CHAIN_LEN)
        return kt_fail(e, KT_EDENIED,
                       "%s: x5c holds %d certificate(s); a vendor chain is exactly %d: the "
                       "attestation leaf, the module warrant and the root",
                       what, n, CHAIN_LEN);
    if (now > (uint64_t)INT64_MAX)
        return kt_fail(e, KT_EUSAGE, "%s: the verification time is out of range", what);
    for (int i = 0; i < n; i++) {
        X509 *cert = sk_X509_value(chain, i);

        verify_cert_label(label, cert);
        if ((rc = read_extensions(cert, label, &exts[i], e)) != KT_OK ||
            (rc = check_validity(cert, (int64_t)now, label, e)) != KT_OK ||
            (rc = i == 0 ? leaf_role(&exts[i], label, e) : ca_role(&exts[i], i, label, e)) != KT_OK)
            goto done;
    }
    for (int i = 0; i < n; i++) {
        X509 *cert = sk_X509_value(chain, i);
        int up = i + 1 < n ? i + 1 : i; /* the root issues itself */
        X509 *issuer = sk_X509_value(chain, up);

        verify_cert_label(label, cert);
        verify_cert_label(issuer_label, issuer);
        if ((rc = key_ids_match(&exts[i], &exts[up], label, issuer_label, e)) != KT_OK)
            goto done;
        if (i == n - 1)
            break;
        /* RFC 5280 §6.1.3 (a)(4): the issuer name is the next certificate's subject. */
        if (!same_name(X509_get_issuer_name(cert), X509_get_subject_name(issuer))) {
            rc = kt_fail(e, KT_EDENIED,
                         "certificate \"%s\" (x5c[%d]) was not issued by the next one in x5c, "
                         "\"%s\": x5c must run from the attestation leaf up to the root, in order",
                         label, i, issuer_label);
            goto done;
        }
        if ((rc = check_signature(cert, X509_get0_pubkey(issuer), label, issuer_label, e)) != KT_OK)
            goto done;
    }
    verify_cert_label(label, sk_X509_value(chain, 0));
    snprintf(detail, detail_sz,
             "%s: %d certificates (leaf, warrant, root), each signed by the next and valid now; "
             "signer \"%s\", for vendor attestation",
             what, n, label);
done:
    for (int i = 0; i < CHAIN_LEN; i++)
        profile_exts_free(&exts[i]);
    if (rc != KT_OK)
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
    char label[KT_QUOTE_SIZE];
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
        char q[KT_QUOTE_SIZE];

        kt_quote(q, KT_QUOTE_SIZE, (const char *)utf8, (size_t)len);
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
