/*
 * verify.c - package verification (verify.h): the table of checks, run in a fixed order until
 * the first one fails, the KEK and world policy judged on what packages/' strict parsers return,
 * and the report as JSON. Certificates are checked in chain.c.
 *
 * The order is the argument: first both envelopes are read (format), then everything the
 * signatures cover is authenticated up to the embedded root (root-hash, chain, signature, for
 * the KEK package and then the world package), and only then are the payloads parsed and
 * judged. Nothing a package states is looked at before its signature has verified.
 */
#include "verify_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#define KEK_WHAT   "KEK package"
#define WORLD_WHAT "world package"
#define KTY_HSM    "RSA-HSM"
#define KEY_OP     "import"

/* What the checks share while they run. */
typedef struct run {
    const uint8_t *kek_in, *world_in;
    size_t kek_len, world_len;
    const kt_err *read_err; /* a file over the size cap, found while reading (format check) */
    uint64_t now;
    pkg_jws kek_jws, world_jws;
    verify_result *r;
} run;

typedef kt_rc (*check_fn)(run *c, char *detail, size_t detail_sz, kt_err *e);

/* ----------------------------------------------------------------------------------------- */
/* Authenticating the packages                                                                */
/* ----------------------------------------------------------------------------------------- */

static kt_rc check_format(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    kt_rc rc;

    if (c->read_err != NULL) {
        *e = *c->read_err;
        return e->rc;
    }
    if ((rc = pkg_jws_parse(c->kek_in, c->kek_len, &c->kek_jws, e)) != KT_OK) {
        kt_err_prefix(e, "%s", KEK_WHAT);
        return rc;
    }
    if ((rc = pkg_jws_parse(c->world_in, c->world_len, &c->world_jws, e)) != KT_OK) {
        kt_err_prefix(e, "%s", WORLD_WHAT);
        return rc;
    }
    snprintf(detail, detail_sz,
             "both packages are JWS (ES384, flattened JSON) with %d and %d certificates in x5c",
             sk_X509_num(c->kek_jws.chain), sk_X509_num(c->world_jws.chain));
    return KT_OK;
}

static kt_rc root_of(const pkg_jws *jws, const char *what, verify_result *r, char *detail,
                     size_t detail_sz, kt_err *e)
{
    return verify_chain_root(jws->chain, r->root_sha256, what, detail, detail_sz, e);
}

static kt_rc check_root_hash(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    return root_of(&c->kek_jws, KEK_WHAT, c->r, detail, detail_sz, e);
}

static kt_rc check_world_root_hash(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    return root_of(&c->world_jws, WORLD_WHAT, c->r, detail, detail_sz, e);
}

static kt_rc check_chain(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    return verify_chain_path(c->kek_jws.chain, c->now, KEK_WHAT, detail, detail_sz, e);
}

static kt_rc check_world_chain(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    return verify_chain_path(c->world_jws.chain, c->now, WORLD_WHAT, detail, detail_sz, e);
}

/* RFC 7515 §5.2 step 8 with RFC 7518 §3.4: ES384 over the signing input as received. */
static kt_rc signature_of(const pkg_jws *jws, const char *what, char *detail, size_t detail_sz,
                          kt_err *e)
{
    X509 *leaf = sk_X509_value(jws->chain, 0);
    char label[KT_QUOTE_SIZE];
    kt_rc rc = pkg_jws_verify_signature(jws, X509_get0_pubkey(leaf), e);

    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", what);
        return rc;
    }
    verify_cert_label(label, leaf);
    snprintf(detail, detail_sz, "%s: the ES384 signature verifies with the key of \"%s\"", what,
             label);
    return KT_OK;
}

static kt_rc check_signature(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    return signature_of(&c->kek_jws, KEK_WHAT, detail, detail_sz, e);
}

static kt_rc check_world_signature(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    return signature_of(&c->world_jws, WORLD_WHAT, detail, detail_sz, e);
}

/* ----------------------------------------------------------------------------------------- */
/* The payloads                                                                               */
/* ----------------------------------------------------------------------------------------- */

static kt_rc check_kek_payload(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    verify_result *r = c->r;
    kt_rc rc = pkg_kek_payload_parse(c->kek_jws.payload.p, c->kek_jws.payload.len, &r->kek, e);

    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", KEK_WHAT);
        return rc;
    }
    /* The parser has checked that public_key is SubjectPublicKeyInfo DER consumed in full. */
    if ((rc = kt_spki_decode(r->kek.public_key.p, r->kek.public_key.len, &r->kek_key, e)) !=
        KT_OK) {
        kt_err_prefix(e, "%s: public_key", KEK_WHAT);
        pkg_kek_payload_free(&r->kek);
        return rc;
    }
    r->has_kek = true;
    snprintf(detail, detail_sz, "%s: a %s payload", KEK_WHAT, PKG_KEK_SCHEMA);
    return KT_OK;
}

static kt_rc check_world_payload(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    verify_result *r = c->r;
    kt_rc rc =
        pkg_world_payload_parse(c->world_jws.payload.p, c->world_jws.payload.len, &r->world, e);

    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", WORLD_WHAT);
        return rc;
    }
    r->has_world = true;
    snprintf(detail, detail_sz, "%s: a %s payload", WORLD_WHAT, PKG_WORLD_SCHEMA);
    return KT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* KEK policy                                                                                 */
/* ----------------------------------------------------------------------------------------- */

static kt_rc check_kek_type(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    const pkg_kek_payload *k = &c->r->kek;
    EVP_PKEY *key = c->r->kek_key;
    BIGNUM *exp = NULL;
    char q[KT_QUOTE_SIZE];
    int bits;
    bool exp_ok;

    if (strcmp(k->kty, KTY_HSM) != 0) {
        kt_quote(q, KT_QUOTE_SIZE, k->kty, strlen(k->kty));
        return kt_fail(e, KT_EDENIED,
                       "the KEK's kty is \"%s\"; a KEK must be \"" KTY_HSM
                       "\" (an RSA key held in an HSM)",
                       q);
    }
    if (k->key_size != 2048 && k->key_size != 3072 && k->key_size != 4096)
        return kt_fail(e, KT_EDENIED,
                       "the KEK's key_size is %lld; a KEK must be RSA 2048, 3072 or 4096",
                       (long long)k->key_size);
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        return kt_fail(e, KT_EDENIED, "the KEK's public_key is not an RSA key but %s",
                       EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key)
                                                            : "a key of an unknown type");
    bits = EVP_PKEY_get_bits(key);
    if (bits != k->key_size)
        return kt_fail(e, KT_EDENIED,
                       "the KEK's public_key is RSA-%d, but its key_size says %lld bits", bits,
                       (long long)k->key_size);
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exp) != 1) {
        ERR_clear_error();
        return kt_fail(e, KT_EDENIED, "the KEK's public exponent cannot be read");
    }
    exp_ok = BN_is_odd(exp) && !BN_is_one(exp);
    BN_free(exp);
    if (!exp_ok)
        return kt_fail(e, KT_EDENIED,
                       "the KEK's RSA public exponent is not an odd number of at least 3");
    snprintf(detail, detail_sz, "RSA-HSM, %d bits", bits);
    return KT_OK;
}

static kt_rc check_key_ops(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    const pkg_kek_payload *k = &c->r->kek;
    char list[PKG_KEY_OPS_MAX * (PKG_KEY_OP_MAX + 3) + 3];
    size_t used = 0;

    if (k->n_key_ops == 1 && strcmp(k->key_ops[0], KEY_OP) == 0) {
        snprintf(detail, detail_sz, "key_ops is exactly [\"" KEY_OP "\"]");
        return KT_OK;
    }
    list[used++] = '[';
    for (size_t i = 0; i < k->n_key_ops; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s\"%s\"", i ? "," : "",
                                 k->key_ops[i]);
    snprintf(list + used, sizeof list - used, "]");
    return kt_fail(e, KT_EDENIED,
                   "the KEK's key_ops is %s; a KEK must allow exactly [\"" KEY_OP
                   "\"] so that it can only unwrap keys into its HSM",
                   list);
}

static kt_rc check_exportable(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    if (c->r->kek.exportable)
        return kt_fail(e, KT_EDENIED,
                       "the KEK package states the KEK is exportable: a KEK that can leave its HSM "
                       "must not be trusted with a key");
    snprintf(detail, detail_sz, "the KEK cannot be exported from its HSM");
    return KT_OK;
}

static kt_rc check_module(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    const pkg_kek_payload *k = &c->r->kek;
    char esn[PKG_ESN_LEN + 1], label[KT_QUOTE_SIZE];
    kt_rc rc = verify_chain_warrant_esn(c->kek_jws.chain, KEK_WHAT, esn, e);

    if (rc != KT_OK)
        return rc;
    verify_cert_label(label, sk_X509_value(c->kek_jws.chain, 1));
    if (strcmp(esn, k->module_esn) != 0)
        return kt_fail(e, KT_EDENIED,
                       "the KEK package says the KEK was generated in module %s, but its "
                       "attestation key is warranted for module %s (\"%s\")",
                       k->module_esn, esn, label);
    snprintf(detail, detail_sz, "generated in module %s, named by the warrant \"%s\"", esn, label);
    return KT_OK;
}

static kt_rc check_fingerprint(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    const pkg_kek_payload *k = &c->r->kek;
    uint8_t got[32];
    char stated[65], have[65];
    kt_buf der = {0};
    bool canonical;
    kt_rc rc;

    kt_sha256(got, k->public_key.p, k->public_key.len);
    if (memcmp(got, k->public_key_sha256, sizeof got) != 0) {
        kt_hex(stated, k->public_key_sha256, 32);
        kt_hex(have, got, 32);
        return kt_fail(e, KT_EDENIED,
                       "the KEK package states the fingerprint %s, but its public_key hashes to %s",
                       stated, have);
    }
    /* The fingerprint is only meaningful if every tool encodes this key to these bytes. */
    if ((rc = kt_spki_encode(c->r->kek_key, &der, e)) != KT_OK)
        return rc == KT_ENOMEM ? rc : KT_EDENIED;
    canonical = der.len == k->public_key.len && memcmp(der.p, k->public_key.p, der.len) == 0;
    kt_buf_free(&der);
    if (!canonical)
        return kt_fail(e, KT_EDENIED,
                       "the KEK's public_key is not the canonical DER encoding of its key, so its "
                       "fingerprint is ambiguous");
    kt_hex(have, got, 32);
    snprintf(detail, detail_sz, "SHA-256 of public_key is the stated %s", have);
    return KT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* KEK against world                                                                          */
/* ----------------------------------------------------------------------------------------- */

static kt_rc check_world_hash(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    char kek_world[65], world[65];

    kt_hex(kek_world, c->r->kek.world_hash, 32);
    kt_hex(world, c->r->world.world_hash, 32);
    if (memcmp(c->r->kek.world_hash, c->r->world.world_hash, 32) != 0)
        return kt_fail(e, KT_EDENIED,
                       "the KEK belongs to security world %s, but the world package is for world "
                       "%s",
                       kek_world, world);
    snprintf(detail, detail_sz, "the KEK belongs to the world package's world %s", world);
    return KT_OK;
}

static kt_rc check_region(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    if (strcmp(c->r->kek.region, c->r->world.region) != 0)
        return kt_fail(e, KT_EDENIED,
                       "the KEK is from region %s, but the world package is for region %s",
                       c->r->kek.region, c->r->world.region);
    snprintf(detail, detail_sz, "both are for region %s", c->r->world.region);
    return KT_OK;
}

static bool esn_in_world(const pkg_world_payload *w, const char *esn)
{
    for (size_t i = 0; i < w->n_module_esns; i++) {
        if (strcmp(w->module_esns[i], esn) == 0)
            return true;
    }
    return false;
}

static kt_rc check_world_modules(run *c, char *detail, size_t detail_sz, kt_err *e)
{
    const pkg_world_payload *w = &c->r->world;
    char attester[PKG_ESN_LEN + 1];
    kt_rc rc;

    if (!esn_in_world(w, c->r->kek.module_esn))
        return kt_fail(e, KT_EDENIED,
                       "the KEK was generated in module %s, which the world package does not list "
                       "among the world's modules",
                       c->r->kek.module_esn);
    if ((rc = verify_chain_warrant_esn(c->world_jws.chain, WORLD_WHAT, attester, e)) != KT_OK)
        return rc;
    if (!esn_in_world(w, attester))
        return kt_fail(e, KT_EDENIED,
                       "the world package was attested by module %s, which it does not list among "
                       "the world's modules",
                       attester);
    snprintf(detail, detail_sz,
             "module %s is one of the world's %zu module(s); module %s attested it",
             c->r->kek.module_esn, w->n_module_esns, attester);
    return KT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* The table                                                                                  */
/* ----------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *summary;
    check_fn fn;
} checks[VERIFY_CHECK_COUNT] = {
    [VERIFY_FORMAT] = {"format", "both files are well-formed ES384 JWS packages", check_format},
    [VERIFY_ROOT_HASH] = {"root-hash", "the KEK package's root has the embedded key hash",
                          check_root_hash},
    [VERIFY_CHAIN] = {"chain", "the KEK package's certificates chain up to that root", check_chain},
    [VERIFY_SIGNATURE] = {"signature", "the KEK package's signature verifies with its leaf",
                          check_signature},
    [VERIFY_WORLD_ROOT_HASH] = {"world-root-hash",
                                "the world package's root has the embedded key hash",
                                check_world_root_hash},
    [VERIFY_WORLD_CHAIN] = {"world-chain", "the world package's certificates chain up to that root",
                            check_world_chain},
    [VERIFY_WORLD_SIGNATURE] = {"world-signature",
                                "the world package's signature verifies with its leaf",
                                check_world_signature},
    [VERIFY_KEK_PAYLOAD] = {"kek-payload", "the KEK payload is a strict " PKG_KEK_SCHEMA,
                            check_kek_payload},
    [VERIFY_WORLD_PAYLOAD] = {"world-payload", "the world payload is a strict " PKG_WORLD_SCHEMA,
                              check_world_payload},
    [VERIFY_KEK_TYPE] = {"kek-type", "the KEK is an RSA-HSM key of 2048, 3072 or 4096 bits",
                         check_kek_type},
    [VERIFY_KEY_OPS] = {"key-ops", "the KEK allows exactly [\"import\"]", check_key_ops},
    [VERIFY_EXPORTABLE] = {"exportable", "the KEK is not exportable", check_exportable},
    [VERIFY_MODULE] = {"module", "the KEK was generated in the module its warrant names",
                       check_module},
    [VERIFY_FINGERPRINT] = {"fingerprint", "the KEK's public key matches its stated fingerprint",
                            check_fingerprint},
    [VERIFY_WORLD_HASH] = {"world-hash", "the KEK belongs to the world package's world",
                           check_world_hash},
    [VERIFY_REGION] = {"region", "the KEK and the world are for the same region", check_region},
    [VERIFY_WORLD_MODULES] = {"world-modules", "the KEK's module belongs to that world",
                              check_world_modules},
};

const char *verify_check_name(verify_check_id id)
{
    return (unsigned)id < VERIFY_CHECK_COUNT ? checks[id].name : NULL;
}

const char *verify_check_summary(verify_check_id id)
{
    return (unsigned)id < VERIFY_CHECK_COUNT ? checks[id].summary : NULL;
}

void verify_result_free(verify_result *r)
{
    if (r == NULL)
        return;
    EVP_PKEY_free(r->kek_key);
    pkg_kek_payload_free(&r->kek);
    memset(r, 0, sizeof *r);
    r->failed = VERIFY_CHECK_COUNT;
}

static void result_init(verify_result *r, uint64_t now)
{
    memset(r, 0, sizeof *r);
    r->failed = VERIFY_CHECK_COUNT;
    r->at = now;
    pkg_root_sha256(r->root_sha256);
    r->root_is_demo = pkg_root_is_demo();
}

static kt_rc run_checks(run *c, kt_err *e)
{
    verify_result *r = c->r;
    kt_rc rc = KT_OK;

    for (size_t i = 0; i < VERIFY_CHECK_COUNT; i++) {
        verify_check *ck = &r->checks[i];

        kt_err_clear(e);
        rc = checks[i].fn(c, ck->detail, sizeof ck->detail, e);
        if (rc == KT_OK) {
            ck->outcome = VERIFY_PASSED;
            continue;
        }
        ck->outcome = VERIFY_FAILED;
        ck->rc = rc;
        snprintf(ck->detail, sizeof ck->detail, "%s", e->msg[0] ? e->msg : kt_rc_message(rc));
        r->failed = (verify_check_id)i;
        kt_err_prefix(e, "%s", checks[i].name);
        break;
    }
    r->ok = rc == KT_OK;
    pkg_jws_free(&c->kek_jws);
    pkg_jws_free(&c->world_jws);
    ERR_clear_error();
    return rc;
}

kt_rc verify_packages(const uint8_t *kek_pkg, size_t kek_len, const uint8_t *world_pkg,
                      size_t world_len, uint64_t now, verify_result *r, kt_err *e)
{
    run c = {.kek_in = kek_pkg,
             .kek_len = kek_len,
             .world_in = world_pkg,
             .world_len = world_len,
             .now = now,
             .r = r};

    result_init(r, now);
    return run_checks(&c, e);
}

kt_rc verify_package_files(const char *kek_path, const char *world_path, uint64_t now,
                           verify_result *r, kt_err *e)
{
    kt_buf kek = {0}, world = {0};
    kt_err big;
    run c = {.now = now, .r = r};
    kt_rc rc;

    result_init(r, now);
    kt_err_clear(&big);
    /* A file over the cap is malformed input (the format check's answer), not an I/O error. */
    rc = kt_file_read(kek_path, PKG_JWS_MAX, &kek, e);
    if (rc == KT_ETOOBIG) {
        big = *e;
        kt_err_prefix(&big, "%s", KEK_WHAT);
    } else if (rc != KT_OK) {
        return rc;
    }
    rc = kt_file_read(world_path, PKG_JWS_MAX, &world, e);
    if (rc == KT_ETOOBIG && big.rc == KT_OK) {
        big = *e;
        kt_err_prefix(&big, "%s", WORLD_WHAT);
    } else if (rc != KT_OK && rc != KT_ETOOBIG) {
        kt_buf_free(&kek);
        return rc;
    }
    c.kek_in = kek.p;
    c.kek_len = kek.len;
    c.world_in = world.p;
    c.world_len = world.len;
    c.read_err = big.rc != KT_OK ? &big : NULL;
    rc = run_checks(&c, e);
    kt_buf_free(&kek);
    kt_buf_free(&world);
    return rc;
}

/* ----------------------------------------------------------------------------------------- */
/* JSON report                                                                                */
/* ----------------------------------------------------------------------------------------- */

static json_t *hex_string(const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];

    if (n > 64)
        return NULL;
    kt_hex(hex, p, n);
    return json_string(hex);
}

/* A JSON string of message text; should a cut message end inside a UTF-8 sequence, bytes
 * outside ASCII become '?' rather than the report failing. */
static json_t *text_string(const char *s)
{
    json_t *v = json_string(s);
    char *copy;

    if (v != NULL || s == NULL || (copy = strdup(s)) == NULL)
        return v;
    for (char *p = copy; *p != '\0'; p++) {
        if ((unsigned char)*p > 0x7e)
            *p = '?';
    }
    v = json_string(copy);
    free(copy);
    return v;
}

static json_t *time_string(uint64_t t)
{
    char s[32];

    kt_time_iso8601(s, sizeof s, t);
    return json_string(s);
}

static json_t *kek_json(const pkg_kek_payload *k)
{
    json_t *ops = json_array(), *o;

    for (size_t i = 0; ops != NULL && i < k->n_key_ops; i++)
        json_array_append_new(ops, json_string(k->key_ops[i]));
    o = json_pack("{s:s, s:s, s:I, s:o, s:b, s:o, s:s, s:s, s:o, s:o}", "kid", k->kid, "kty",
                  k->kty, "key_size", (json_int_t)k->key_size, "key_ops", ops, "exportable",
                  (int)k->exportable, "public_key_sha256", hex_string(k->public_key_sha256, 32),
                  "module_esn", k->module_esn, "region", k->region, "world_hash",
                  hex_string(k->world_hash, 32), "created", time_string(k->created));
    return o;
}

static json_t *world_json(const pkg_world_payload *w)
{
    json_t *esns = json_array();

    for (size_t i = 0; esns != NULL && i < w->n_module_esns; i++)
        json_array_append_new(esns, json_string(w->module_esns[i]));
    return json_pack("{s:o, s:s, s:s, s:o, s:o}", "world_hash", hex_string(w->world_hash, 32),
                     "region", w->region, "cipher_suite", w->cipher_suite, "module_esns", esns,
                     "created", time_string(w->created));
}

kt_rc verify_result_json(const verify_result *r, json_t **out, kt_err *e)
{
    static const char *const outcome[] = {"not-run", "pass", "fail"};
    json_t *list = json_array(), *v;
    char groups[80], reason[VERIFY_DETAIL_MAX + 32];
    const verify_check *failed =
        r->ok || r->failed >= VERIFY_CHECK_COUNT ? NULL : &r->checks[r->failed];

    *out = NULL;
    for (size_t i = 0; list != NULL && i < VERIFY_CHECK_COUNT; i++) {
        const verify_check *ck = &r->checks[i];

        if (json_array_append_new(
                list, json_pack("{s:s, s:s, s:o}", "name", checks[i].name, "result",
                                outcome[ck->outcome], "detail",
                                text_string(ck->outcome == VERIFY_NOT_RUN ? "" : ck->detail))) !=
            0) {
            json_decref(list);
            list = NULL;
        }
    }
    if (failed != NULL)
        snprintf(reason, sizeof reason, "%s: %s", checks[r->failed].name, failed->detail);
    kt_hex_groups(groups, sizeof groups, r->root_sha256, 32);
    v = json_pack("{s:s, s:{s:o, s:s, s:b}, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:i}", "format",
                  VERIFY_REPORT_FORMAT, "root", "sha256", hex_string(r->root_sha256, 32),
                  "sha256_groups", groups, "demo", (int)r->root_is_demo, "time", time_string(r->at),
                  "checks", list, "kek", r->has_kek ? kek_json(&r->kek) : json_null(), "world",
                  r->has_world ? world_json(&r->world) : json_null(), "result",
                  r->ok ? "SUCCESS" : "FAILURE", "failed_check",
                  failed != NULL ? json_string(checks[r->failed].name) : json_null(), "reason",
                  failed != NULL ? text_string(reason) : json_null(), "exit_status",
                  r->ok            ? KT_EXIT_OK
                  : failed != NULL ? kt_rc_exit(failed->rc)
                                   : KT_EXIT_DENIED);
    if (v == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory building the JSON report");
    *out = v;
    return KT_OK;
}
