/*
 * manifest.c - the transfer manifest that travels beside each .byok (docs/design.md §4): what was
 * wrapped, for which KEK and world, into which file with which SHA-256, signed by the source
 * module's Ed25519 key. The envelope is a JWS in flattened JSON serialization (RFC 7515 §7.2.2)
 * with alg EdDSA (RFC 8037 §3.1) and the signer's public key as a JWK in the protected header;
 * the online side checks the signature, pins the signer by the SHA-256 of its SubjectPublicKeyInfo
 * and checks the package's hash before it uploads anything. Version 2 says which root vouched for
 * the KEK ("DEMO" or the vendor's name, and the root's SPKI hash), or that nothing did.
 */
#include "packages_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define WHAT "transfer manifest"

void pkg_ed25519_fingerprint(const uint8_t pub[32], uint8_t out[32])
{
    /* RFC 8410 §4: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING { 0x00, key } } */
    static const uint8_t prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    uint8_t spki[sizeof prefix + 32];
    memcpy(spki, prefix, sizeof prefix);
    memcpy(spki + sizeof prefix, pub, 32);
    kt_sha256(out, spki, sizeof spki);
}

void pkg_manifest_free(pkg_manifest *m)
{
    kt_buf_free(&m->public_key);
    memset(m, 0, sizeof *m);
}

static const char *const targets[] = {"azure", "aws", "gcp", NULL};
static const char *const key_types[] = {"RSA", "EC", "AES", NULL};
static const char *const oaep_hashes[] = {"SHA-1", "SHA-256", NULL};

static bool one_of(const char *s, const char *const *set)
{
    for (size_t i = 0; set[i] != NULL; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

/* The checks the builder and the parser share, so what builds also parses. */
static kt_rc check(const pkg_manifest *m, kt_err *e)
{
    if (!pkg_is_printable(m->tool_version, strlen(m->tool_version)) || !m->tool_version[0])
        return kt_fail(e, KT_EFORMAT, WHAT ": tool_version must be printable text");
    if (!m->app[0] || !pkg_is_alnum_or(m->app, "") || !m->ident[0] ||
        !pkg_is_alnum_or(m->ident, "-"))
        return kt_fail(e, KT_EFORMAT, WHAT ": key app and ident are letters, digits and '-'");
    if (!pkg_is_printable(m->plainname, strlen(m->plainname)))
        return kt_fail(e, KT_EFORMAT, WHAT ": key plainname must be printable text");
    if (!one_of(m->key_type, key_types))
        return kt_fail(e, KT_EFORMAT, WHAT ": key type must be RSA, EC or AES");
    if (m->key_bits < 128 || m->key_bits > 16384)
        return kt_fail(e, KT_EFORMAT, WHAT ": key size %u is out of range", m->key_bits);
    if (!pkg_is_alnum_or(m->curve, "-"))
        return kt_fail(e, KT_EFORMAT, WHAT ": curve must be letters, digits and '-'");
    if ((strcmp(m->key_type, "AES") == 0) != (m->public_key.len == 0))
        return kt_fail(e, KT_EFORMAT, WHAT ": an AES key has no public key; RSA and EC keys do");
    if (!one_of(m->target, targets))
        return kt_fail(e, KT_EFORMAT, WHAT ": target must be azure, aws or gcp");
    if (!one_of(m->oaep_hash, oaep_hashes))
        return kt_fail(e, KT_EFORMAT, WHAT ": oaep_hash must be SHA-1 or SHA-256");
    if (m->kid[0] != '\0') {
        kt_rc rc = pkg_kid_check(m->kid, e);
        if (rc != KT_OK)
            return rc;
    }
    if (m->has_world != m->attested)
        return kt_fail(e, KT_EFORMAT,
                       WHAT ": an attested KEK has a target world and an unattested one has none");
    if (!m->attested && m->root_name[0] != '\0')
        return kt_fail(e, KT_EFORMAT, WHAT ": an unattested KEK names no root");
    if (m->attested) {
        uint8_t demo[32];
        pkg_demo_root_sha256(demo);
        bool is_demo = memcmp(m->root_sha256, demo, 32) == 0;
        if (!m->root_name[0] || !pkg_is_printable(m->root_name, strlen(m->root_name)))
            return kt_fail(e, KT_EFORMAT, WHAT ": the root's name must be printable text");
        if (is_demo != (strcmp(m->root_name, PKG_ROOT_NAME_DEMO) == 0))
            return kt_fail(e, KT_EFORMAT,
                           WHAT ": the root is named " PKG_ROOT_NAME_DEMO
                                " exactly when it is the DEMO root");
    }
    if (!pkg_is_printable(m->subscription, strlen(m->subscription)) ||
        !pkg_is_printable(m->friendly_name, strlen(m->friendly_name)) || !m->friendly_name[0])
        return kt_fail(e, KT_EFORMAT, WHAT ": subscription and name must be printable text");
    if (!m->package_file[0] || !pkg_is_alnum_or(m->package_file, "._-") ||
        m->package_file[0] == '.')
        return kt_fail(e, KT_EFORMAT, WHAT ": the package file name must be a plain file name");
    if (m->wrapping[0] == '\0' && (m->token_file[0] != '\0' || m->import_for[0] != '\0'))
        return kt_fail(e, KT_EFORMAT, WHAT ": an import token or target without a wrapping");
    if (m->wrapping[0] != '\0' &&
        (!pkg_is_alnum_or(m->wrapping, "_") || strcmp(m->target, "azure") == 0 ||
         !pkg_is_printable(m->import_for, strlen(m->import_for))))
        return kt_fail(e, KT_EFORMAT,
                       WHAT ": import.wrapping_algorithm is a word, for aws or gcp only");
    if (m->token_file[0] != '\0' &&
        (!pkg_is_alnum_or(m->token_file, "._-") || m->token_file[0] == '.' ||
         strcmp(m->token_file, m->package_file) == 0 || strcmp(m->target, "aws") != 0))
        return kt_fail(e, KT_EFORMAT,
                       WHAT ": the import token file must be a plain file name (aws only)");
    return KT_OK;
}

static json_t *hex_string(const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    kt_hex(hex, p, n);
    return json_string(hex);
}

static kt_rc build_payload(const pkg_manifest *m, char **out, kt_err *e)
{
    char created[21], *spki = NULL;
    kt_rc rc;
    if ((rc = check(m, e)) || (rc = pkg_time_format(m->created, created, e)))
        return rc;
    if (m->public_key.len > 0 &&
        (rc = kt_b64url_encode(m->public_key.p, m->public_key.len, &spki, e)) != KT_OK)
        return rc;
    json_t *key = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:o}", "app", m->app, "ident",
                            m->ident, "plainname", m->plainname, "type", m->key_type, "size",
                            (int)m->key_bits, "curve", m->curve, "public_key", spki ? spki : "",
                            "sha256", hex_string(m->key_sha256, 32));
    json_t *attestation = m->attested ? json_pack("{s:s, s:o}", "root", m->root_name, "root_sha256",
                                                  hex_string(m->root_sha256, 32))
                                      : json_null();
    json_t *kek = json_pack("{s:s, s:o, s:o}", "kid", m->kid, "sha256",
                            hex_string(m->kek_sha256, 32), "attestation", attestation);
    json_t *root = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "schema",
        PKG_MANIFEST_SCHEMA, "tool_version", m->tool_version, "key", key, "kek", kek,
        "target_world_hash", m->has_world ? hex_string(m->target_world_hash, 32) : json_null(),
        "target", m->target, "oaep_hash", m->oaep_hash, "subscription", m->subscription,
        "friendly_name", m->friendly_name, "package_file", m->package_file, "package_sha256",
        hex_string(m->package_sha256, 32), "created", created);
    if (root != NULL && m->wrapping[0] != '\0') {
        json_t *imp = json_pack(
            "{s:s, s:s, s:o, s:o}", "wrapping_algorithm", m->wrapping, "for", m->import_for,
            "token_file", m->token_file[0] ? json_string(m->token_file) : json_null(),
            "token_sha256", m->token_file[0] ? hex_string(m->token_sha256, 32) : json_null());
        if (imp == NULL || json_object_set_new(root, "import", imp) != 0) {
            json_decref(root);
            root = NULL;
        }
    }
    free(spki);
    rc = root ? kt_json_dump(root, false, out, e) : kt_fail(e, KT_ENOMEM, "out of memory");
    json_decref(root);
    return rc;
}

kt_rc pkg_manifest_sign(const pkg_manifest *m, const uint8_t *sk, char **out, kt_err *e)
{
    char *payload = NULL, *header = NULL, *p64 = NULL, *h64 = NULL, *s64 = NULL, *x = NULL;
    char *input = NULL;
    uint8_t sig[crypto_sign_BYTES];
    kt_rc rc;

    *out = NULL;
    if ((rc = build_payload(m, &payload, e)) ||
        (rc = kt_b64url_encode(sk + 32, 32, &x, e))) /* libsodium sk = seed || public key */
        goto done;
    json_t *h = json_pack("{s:s, s:{s:s, s:s, s:s}}", "alg", "EdDSA", "jwk", "crv", "Ed25519",
                          "kty", "OKP", "x", x);
    rc = h ? kt_json_dump(h, false, &header, e) : kt_fail(e, KT_ENOMEM, "out of memory");
    json_decref(h);
    if (rc != KT_OK || (rc = kt_b64url_encode((const uint8_t *)header, strlen(header), &h64, e)) ||
        (rc = kt_b64url_encode((const uint8_t *)payload, strlen(payload), &p64, e)))
        goto done;
    /* RFC 7515 §5.1: the signature is over ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
     */
    size_t n = strlen(h64) + 1 + strlen(p64);
    if ((input = malloc(n + 1)) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(input, n + 1, "%s.%s", h64, p64);
    crypto_sign_detached(sig, NULL, (const uint8_t *)input, n, sk);
    if ((rc = kt_b64url_encode(sig, sizeof sig, &s64, e)) != KT_OK)
        goto done;
    json_t *jws = json_pack("{s:s, s:s, s:s}", "protected", h64, "payload", p64, "signature", s64);
    rc = jws ? kt_json_dump(jws, true, out, e) : kt_fail(e, KT_ENOMEM, "out of memory");
    json_decref(jws);
done:
    free(payload);
    free(header);
    free(p64);
    free(h64);
    free(s64);
    free(x);
    free(input);
    return rc;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static kt_rc get_text(const json_t *o, const char *key, char *out, size_t outsz, kt_err *e)
{
    return kt_json_copy_string(o, key, WHAT, 0, out, outsz, e);
}

static kt_rc get_hex32(const json_t *o, const char *key, uint8_t out[32], kt_err *e)
{
    const char *s;
    kt_rc rc = kt_json_get_string(o, key, WHAT, &s, e);
    return rc != KT_OK ? rc : pkg_unhex_lower(out, 32, s, key, e);
}

static kt_rc parse_payload(const kt_buf *raw, pkg_manifest *m, kt_err *e)
{
    static const char *const top[] = {"schema",
                                      "tool_version",
                                      "key",
                                      "kek",
                                      "target_world_hash",
                                      "target",
                                      "oaep_hash",
                                      "subscription",
                                      "friendly_name",
                                      "package_file",
                                      "package_sha256",
                                      "created",
                                      "import",
                                      NULL};
    static const char *const import_members[] = {"wrapping_algorithm", "for", "token_file",
                                                 "token_sha256", NULL};
    static const char *const key_members[] = {"app",   "ident",      "plainname", "type", "size",
                                              "curve", "public_key", "sha256",    NULL};
    static const char *const kek_members[] = {"kid", "sha256", "attestation", NULL};
    static const char *const attestation_members[] = {"root", "root_sha256", NULL};
    char schema[64], created[32], spki[PKG_SPKI_MAX * 2];
    json_t *j = NULL, *key, *kek, *att;
    int64_t bits;
    kt_rc rc = kt_json_parse(raw->p, raw->len, PKG_MANIFEST_MAX, &j, e);
    if (rc != KT_OK)
        return rc;
    if ((rc = get_text(j, "schema", schema, sizeof schema, e)))
        goto out;
    if (strcmp(schema, PKG_MANIFEST_SCHEMA) != 0) {
        rc =
            kt_fail(e, strncmp(schema, "keytransfer-manifest/", 21) == 0 ? KT_EVERSION : KT_EFORMAT,
                    WHAT ": schema is not %s", PKG_MANIFEST_SCHEMA);
        goto out;
    }
    if ((rc = kt_json_only_keys(j, top, WHAT, e)) ||
        (rc = get_text(j, "tool_version", m->tool_version, sizeof m->tool_version, e)) ||
        (rc = kt_json_get_object(j, "key", WHAT, &key, e)) ||
        (rc = kt_json_only_keys(key, key_members, WHAT " key", e)) ||
        (rc = get_text(key, "app", m->app, sizeof m->app, e)) ||
        (rc = get_text(key, "ident", m->ident, sizeof m->ident, e)) ||
        (rc = get_text(key, "plainname", m->plainname, sizeof m->plainname, e)) ||
        (rc = get_text(key, "type", m->key_type, sizeof m->key_type, e)) ||
        (rc = kt_json_get_int(key, "size", WHAT, 128, 16384, &bits, e)) ||
        (rc = get_text(key, "curve", m->curve, sizeof m->curve, e)) ||
        (rc = get_text(key, "public_key", spki, sizeof spki, e)) ||
        (rc = get_hex32(key, "sha256", m->key_sha256, e)) ||
        (rc = kt_json_get_object(j, "kek", WHAT, &kek, e)) ||
        (rc = kt_json_only_keys(kek, kek_members, WHAT " kek", e)) ||
        (rc = get_text(kek, "kid", m->kid, sizeof m->kid, e)) ||
        (rc = get_hex32(kek, "sha256", m->kek_sha256, e)) ||
        (rc = get_text(j, "target", m->target, sizeof m->target, e)) ||
        (rc = get_text(j, "oaep_hash", m->oaep_hash, sizeof m->oaep_hash, e)) ||
        (rc = get_text(j, "subscription", m->subscription, sizeof m->subscription, e)) ||
        (rc = get_text(j, "friendly_name", m->friendly_name, sizeof m->friendly_name, e)) ||
        (rc = get_text(j, "package_file", m->package_file, sizeof m->package_file, e)) ||
        (rc = get_hex32(j, "package_sha256", m->package_sha256, e)) ||
        (rc = get_text(j, "created", created, sizeof created, e)) ||
        (rc = pkg_time_parse(created, WHAT " created", &m->created, e)))
        goto out;
    m->key_bits = (unsigned)bits;
    /* kek.attestation: the root that vouched for the KEK, or null for an unattested KEK. */
    att = json_object_get(kek, "attestation");
    if (att == NULL || (!json_is_null(att) && !json_is_object(att))) {
        rc = kt_fail(e, KT_EFORMAT, WHAT ": kek.attestation must be an object or null");
        goto out;
    }
    m->attested = json_is_object(att);
    if (m->attested &&
        ((rc = kt_json_only_keys(att, attestation_members, WHAT " attestation", e)) ||
         (rc = get_text(att, "root", m->root_name, sizeof m->root_name, e)) ||
         (rc = get_hex32(att, "root_sha256", m->root_sha256, e))))
        goto out;
    json_t *world = json_object_get(j, "target_world_hash");
    if (world == NULL || (!json_is_null(world) && !json_is_string(world))) {
        rc = kt_fail(e, KT_EFORMAT, WHAT ": target_world_hash must be a hash or null");
        goto out;
    }
    m->has_world = json_is_string(world);
    if (m->has_world && (rc = get_hex32(j, "target_world_hash", m->target_world_hash, e)))
        goto out;
    if (spki[0] != '\0' && (rc = kt_b64url_decode(spki, strlen(spki), &m->public_key, e)))
        goto out;
    /* import: the cloud's own import parameters (AWS, Google), when the package came from them. */
    json_t *imp = json_object_get(j, "import");
    if (imp != NULL) {
        json_t *tf;
        if ((rc = kt_json_get_object(j, "import", WHAT, &imp, e)) ||
            (rc = kt_json_only_keys(imp, import_members, WHAT " import", e)) ||
            (rc = get_text(imp, "wrapping_algorithm", m->wrapping, sizeof m->wrapping, e)) ||
            (rc = get_text(imp, "for", m->import_for, sizeof m->import_for, e)))
            goto out;
        if (m->wrapping[0] == '\0') {
            rc = kt_fail(e, KT_EFORMAT, WHAT ": import.wrapping_algorithm is empty");
            goto out;
        }
        tf = json_object_get(imp, "token_file");
        if (tf == NULL || (!json_is_null(tf) && !json_is_string(tf)) ||
            json_is_null(tf) != json_is_null(json_object_get(imp, "token_sha256"))) {
            rc = kt_fail(e, KT_EFORMAT,
                         WHAT ": import.token_file and token_sha256 are both given or both null");
            goto out;
        }
        if (json_is_string(tf) &&
            ((rc = get_text(imp, "token_file", m->token_file, sizeof m->token_file, e)) ||
             (rc = get_hex32(imp, "token_sha256", m->token_sha256, e))))
            goto out;
        if (json_is_string(tf) && m->token_file[0] == '\0') {
            rc = kt_fail(e, KT_EFORMAT, WHAT ": import.token_file is empty");
            goto out;
        }
    }
    rc = check(m, e);
out:
    json_decref(j);
    return rc;
}

kt_rc pkg_manifest_parse(const uint8_t *in, size_t len, pkg_manifest *m, uint8_t signer[32],
                         kt_err *e)
{
    static const char *const members[] = {"protected", "payload", "signature", NULL};
    static const char *const hmembers[] = {"alg", "jwk", NULL};
    static const char *const jmembers[] = {"crv", "kty", "x", NULL};
    json_t *j = NULL, *h = NULL, *jwk;
    const char *h64, *p64, *s64, *alg, *crv, *kty, *x;
    kt_buf header = {0}, payload = {0}, sig = {0}, pub = {0};
    char *input = NULL;
    kt_rc rc;

    memset(m, 0, sizeof *m);
    memset(signer, 0, 32);
    if ((rc = kt_json_parse(in, len, PKG_MANIFEST_MAX, &j, e)) ||
        (rc = kt_json_only_keys(j, members, WHAT, e)) ||
        (rc = kt_json_get_string(j, "protected", WHAT, &h64, e)) ||
        (rc = kt_json_get_string(j, "payload", WHAT, &p64, e)) ||
        (rc = kt_json_get_string(j, "signature", WHAT, &s64, e)) ||
        (rc = kt_b64url_decode(h64, strlen(h64), &header, e)) ||
        (rc = kt_b64url_decode(p64, strlen(p64), &payload, e)) ||
        (rc = kt_b64url_decode(s64, strlen(s64), &sig, e)) ||
        (rc = kt_json_parse(header.p, header.len, PKG_MANIFEST_MAX, &h, e)) ||
        (rc = kt_json_only_keys(h, hmembers, WHAT " header", e)) ||
        (rc = kt_json_get_string(h, "alg", WHAT " header", &alg, e)) ||
        (rc = kt_json_get_object(h, "jwk", WHAT " header", &jwk, e)) ||
        (rc = kt_json_only_keys(jwk, jmembers, WHAT " jwk", e)) ||
        (rc = kt_json_get_string(jwk, "crv", WHAT " jwk", &crv, e)) ||
        (rc = kt_json_get_string(jwk, "kty", WHAT " jwk", &kty, e)) ||
        (rc = kt_json_get_string(jwk, "x", WHAT " jwk", &x, e)) ||
        (rc = kt_b64url_decode(x, strlen(x), &pub, e)))
        goto out;
    if (strcmp(alg, "EdDSA") != 0 || strcmp(crv, "Ed25519") != 0 || strcmp(kty, "OKP") != 0) {
        rc = kt_fail(e, KT_EDENIED, WHAT ": only EdDSA with an Ed25519 key is accepted");
        goto out;
    }
    if (pub.len != 32 || sig.len != crypto_sign_BYTES) {
        rc = kt_fail(e, KT_EFORMAT, WHAT ": an Ed25519 key is 32 bytes and a signature 64");
        goto out;
    }
    size_t n = strlen(h64) + 1 + strlen(p64);
    if ((input = malloc(n + 1)) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(input, n + 1, "%s.%s", h64, p64);
    if (crypto_sign_verify_detached(sig.p, (const uint8_t *)input, n, pub.p) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     WHAT ": the module's signature does not verify: the manifest was altered");
        goto out;
    }
    if ((rc = parse_payload(&payload, m, e)) == KT_OK)
        memcpy(signer, pub.p, 32);
out:
    if (rc != KT_OK)
        pkg_manifest_free(m);
    json_decref(j);
    json_decref(h);
    kt_buf_free(&header);
    kt_buf_free(&payload);
    kt_buf_free(&sig);
    kt_buf_free(&pub);
    free(input);
    return rc;
}
