/*
 * payload.c - the payloads of the vendor-signed packages (docs/design.md §4): keytransfer-kek/1,
 * what the cloud HSM states about its key exchange key, and keytransfer-world/1, what it states
 * about its security world. Builders write exactly what the struct holds; parsers return exactly
 * what the payload states. Both refuse what is malformed and nothing else: whether the statements
 * are acceptable (RSA-HSM of 2048/3072/4096 bits, key_ops ["import"], not exportable, a fingerprint
 * that matches, the same region and world) is verify/'s judgement, reported there by name.
 */
#include "packages_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEK_WHAT   "KEK payload"
#define WORLD_WHAT "world payload"
#define SCHEMA_MAX 64

/* ----------------------------------------------------------------------------------------- */
/* Shared checks                                                                              */
/* ----------------------------------------------------------------------------------------- */

/* The schema member first, so another version or the other payload is named as such. */
static kt_rc check_schema(const json_t *root, const char *want, const char *other, const char *what,
                          kt_err *e)
{
    const char *schema, *slash = strchr(want, '/');
    char q[KT_QUOTE_SIZE];
    size_t family = (size_t)(slash - want) + 1; /* "keytransfer-kek/" */
    kt_rc rc = kt_json_get_string(root, "schema", what, &schema, e);

    if (rc != KT_OK)
        return rc;
    if (strcmp(schema, want) == 0)
        return KT_OK;
    kt_quote(q, sizeof q, schema, strlen(schema));
    if (strncmp(schema, want, family) == 0)
        return kt_fail(e, KT_EVERSION, "%s: schema \"%s\" is not supported; this reads %s", what, q,
                       want);
    if (strcmp(schema, other) == 0)
        return kt_fail(e, KT_EFORMAT,
                       "%s: this is a %s payload, not a %s one (were the KEK package and the "
                       "world package swapped?)",
                       what, other, want);
    return kt_fail(e, KT_EFORMAT, "%s: schema \"%s\" is not %s", what, q, want);
}

/* A payload's JSON, within the cap: its schema first (check_schema), then no member but keys.
 * *root (NULL on entry) is the caller's to json_decref on every path. */
static kt_rc open_payload(const uint8_t *in, size_t len, const char *want, const char *other,
                          const char *const *keys, const char *what, json_t **root, kt_err *e)
{
    kt_rc rc = kt_json_parse(in, len, PKG_JWS_PAYLOAD_MAX, root, e);

    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", what);
        return rc;
    }
    if ((rc = check_schema(*root, want, other, what, e)) != KT_OK)
        return rc;
    return kt_json_only_keys(*root, keys, what, e);
}

/* A string member of 1..max characters matching the class check (or NULL for none). */
static kt_rc get_str(const json_t *obj, const char *key, const char *what, size_t max,
                     const char **out, kt_err *e)
{
    kt_rc rc = kt_json_get_string(obj, key, what, out, e);
    size_t n;

    if (rc != KT_OK)
        return rc;
    n = strlen(*out);
    if (n == 0 || n > max)
        return kt_fail(e, KT_EFORMAT, "%s: %s must be 1 to %zu characters, not %zu", what, key, max,
                       n);
    return KT_OK;
}

/* A string member, and the label "what: key" that the parser of its text names it by. */
static kt_rc get_labelled(const json_t *obj, const char *key, const char *what, const char **s,
                          char label[96], kt_err *e)
{
    kt_rc rc = kt_json_get_string(obj, key, what, s, e);

    if (rc == KT_OK)
        snprintf(label, 96, "%s: %s", what, key);
    return rc;
}

static kt_rc get_hash(const json_t *obj, const char *key, const char *what, uint8_t out[32],
                      kt_err *e)
{
    const char *s;
    char label[96];
    kt_rc rc = get_labelled(obj, key, what, &s, label, e);

    return rc != KT_OK ? rc : pkg_unhex_lower(out, 32, s, label, e);
}

static kt_rc get_time(const json_t *obj, const char *key, const char *what, uint64_t *t, kt_err *e)
{
    const char *s;
    char label[96];
    kt_rc rc = get_labelled(obj, key, what, &s, label, e);

    return rc != KT_OK ? rc : pkg_time_parse(s, label, t, e);
}

static kt_rc check_token(const char *s, size_t max, const char *extra, const char *what,
                         const char *key, kt_err *e)
{
    size_t n = strnlen(s, max + 1);

    if (n == 0 || n > max)
        return kt_fail(e, KT_EFORMAT, "%s: %s must be 1 to %zu characters", what, key, max);
    if (!pkg_is_alnum_or(s, extra))
        return kt_fail(e, KT_EFORMAT, "%s: %s may hold only letters, digits and %s", what, key,
                       strcmp(extra, "-") == 0 ? "'-'" : "'_' and '-'");
    return KT_OK;
}

/* How many entries the list member key may hold: min (0 or 1) to max, each a noun. */
static kt_rc check_count(size_t n, size_t min, size_t max, const char *what, const char *key,
                         const char *noun, kt_err *e)
{
    if (n >= min && n <= max)
        return KT_OK;
    if (min == 0)
        return kt_fail(e, KT_EFORMAT, "%s: %s may list at most %zu %s", what, key, max, noun);
    return kt_fail(e, KT_EFORMAT, "%s: %s must list %zu to %zu %s", what, key, min, max, noun);
}

/* A JSON array of the n strings at base, base + stride, ... (a struct's fixed-size strings). */
static json_t *string_array(const char *base, size_t stride, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_string(base + i * stride)) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* The payload o with its members set (set: every set succeeded; else memory ran out), the last
 * member of both payloads, "created", added, into its JSON text. */
static kt_rc finish(json_t *o, bool set, const char *created, char **json, kt_err *e)
{
    if (!set || json_object_set_new(o, "created", json_string(created)) != 0)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    return kt_json_dump(o, false, json, e);
}

/* Adds key: hex(h) to obj. */
static bool set_hex(json_t *obj, const char *key, const uint8_t h[32])
{
    char hex[65];

    kt_hex(hex, h, 32);
    return json_object_set_new(obj, key, json_string(hex)) == 0;
}

/* ----------------------------------------------------------------------------------------- */
/* KEK payload                                                                                */
/* ----------------------------------------------------------------------------------------- */

void pkg_kek_payload_free(pkg_kek_payload *p)
{
    if (p == NULL)
        return;
    kt_buf_free(&p->public_key);
    memset(p, 0, sizeof *p);
}

kt_rc pkg_kek_payload_set_key(pkg_kek_payload *p, EVP_PKEY *kek, kt_err *e)
{
    kt_rc rc;

    kt_buf_free(&p->public_key);
    if (kek == NULL)
        return kt_fail(e, KT_EUSAGE, "no KEK given");
    if ((rc = kt_spki_encode(kek, &p->public_key, e)) != KT_OK)
        return rc;
    kt_sha256(p->public_key_sha256, p->public_key.p, p->public_key.len);
    p->key_size = EVP_PKEY_get_bits(kek);
    snprintf(p->kty, sizeof p->kty, "%s", EVP_PKEY_is_a(kek, "RSA") ? "RSA-HSM" : "unknown");
    return KT_OK;
}

/* The checks builder and parser share, on the struct. */
static kt_rc kek_fields_check(const pkg_kek_payload *p, kt_err *e)
{
    EVP_PKEY *k = NULL;
    kt_rc rc;

    if ((rc = pkg_kid_check(p->kid, e)) != KT_OK) {
        kt_err_prefix(e, KEK_WHAT);
        return rc;
    }
    if ((rc = check_token(p->kty, PKG_KTY_MAX, "-", KEK_WHAT, "kty", e)) != KT_OK)
        return rc;
    if (p->key_size < 1 || p->key_size > PKG_KEY_SIZE_MAX)
        return kt_fail(e, KT_EFORMAT, "%s: key_size must be 1 to %d", KEK_WHAT, PKG_KEY_SIZE_MAX);
    if ((rc = check_count(p->n_key_ops, 0, PKG_KEY_OPS_MAX, KEK_WHAT, "key_ops", "operations",
                          e)) != KT_OK)
        return rc;
    for (size_t i = 0; i < p->n_key_ops; i++) {
        if ((rc = check_token(p->key_ops[i], PKG_KEY_OP_MAX, "_-", KEK_WHAT, "key_ops entry", e)) !=
            KT_OK)
            return rc;
    }
    if (p->public_key.len == 0 || p->public_key.len > PKG_SPKI_MAX)
        return kt_fail(e, KT_EFORMAT, "%s: public_key must be 1 to %d bytes of SPKI DER", KEK_WHAT,
                       PKG_SPKI_MAX);
    /* Well-formed SubjectPublicKeyInfo DER, in full; what kind of key it is, is policy. */
    if ((rc = kt_spki_decode(p->public_key.p, p->public_key.len, &k, e)) != KT_OK) {
        kt_err_prefix(e, "%s: public_key", KEK_WHAT);
        return rc;
    }
    EVP_PKEY_free(k);
    if ((rc = pkg_esn_check(p->module_esn, KEK_WHAT ": module_esn", e)) != KT_OK ||
        (rc = pkg_region_check(p->region, KEK_WHAT ": region", e)) != KT_OK)
        return rc;
    return KT_OK;
}

kt_rc pkg_kek_payload_build(const pkg_kek_payload *p, char **json, kt_err *e)
{
    json_t *o = NULL, *ops = NULL;
    char *pk = NULL, created[21];
    kt_rc rc;

    *json = NULL;
    if ((rc = kek_fields_check(p, e)) != KT_OK ||
        (rc = pkg_time_format(p->created, created, e)) != KT_OK)
        return rc;
    if ((rc = kt_b64url_encode(p->public_key.p, p->public_key.len, &pk, e)) != KT_OK)
        return rc;
    o = json_object();
    ops = string_array(p->key_ops[0], sizeof p->key_ops[0], p->n_key_ops);
    rc = finish(o,
                o != NULL && ops != NULL &&
                    json_object_set_new(o, "schema", json_string(PKG_KEK_SCHEMA)) == 0 &&
                    json_object_set_new(o, "kid", json_string(p->kid)) == 0 &&
                    json_object_set_new(o, "kty", json_string(p->kty)) == 0 &&
                    json_object_set_new(o, "key_size", json_integer(p->key_size)) == 0 &&
                    json_object_set(o, "key_ops", ops) == 0 &&
                    json_object_set_new(o, "exportable", json_boolean(p->exportable)) == 0 &&
                    json_object_set_new(o, "public_key", json_string(pk)) == 0 &&
                    set_hex(o, "public_key_sha256", p->public_key_sha256) &&
                    json_object_set_new(o, "module_esn", json_string(p->module_esn)) == 0 &&
                    json_object_set_new(o, "region", json_string(p->region)) == 0 &&
                    set_hex(o, "world_hash", p->world_hash),
                created, json, e);
    json_decref(ops);
    json_decref(o);
    free(pk);
    return rc;
}

static kt_rc copy_str(char *dst, size_t dstsz, const char *src, const char *what, const char *key,
                      kt_err *e)
{
    size_t n = strlen(src);

    if (n >= dstsz)
        return kt_fail(e, KT_EFORMAT, "%s: %s must be at most %zu characters", what, key,
                       dstsz - 1);
    memcpy(dst, src, n + 1);
    return KT_OK;
}

/* The array member key, a list of min to max strings (check_count), each copied into base,
 * base + stride, ... of stride bytes; *n counts those copied. */
static kt_rc get_list(const json_t *root, const char *key, const char *what, size_t min, size_t max,
                      const char *noun, char *base, size_t stride, size_t *n, kt_err *e)
{
    json_t *a;
    char entry[64];
    kt_rc rc;

    if ((rc = kt_json_get_array(root, key, what, &a, e)) != KT_OK ||
        (rc = check_count(json_array_size(a), min, max, what, key, noun, e)) != KT_OK)
        return rc;
    snprintf(entry, sizeof entry, "a %s entry", key);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);

        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return kt_fail(e, KT_EFORMAT, "%s: %s[%zu] must be a string", what, key, i);
        if ((rc = copy_str(base + i * stride, stride, json_string_value(v), what, entry, e)) !=
            KT_OK)
            return rc;
        *n = i + 1;
    }
    return KT_OK;
}

kt_rc pkg_kek_payload_parse(const uint8_t *in, size_t len, pkg_kek_payload *out, kt_err *e)
{
    static const char *const keys[] = {
        "schema",     "kid",        "kty",        "key_size",
        "key_ops",    "exportable", "public_key", "public_key_sha256",
        "module_esn", "region",     "world_hash", "created",
        NULL};
    json_t *root = NULL;
    const char *s;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = open_payload(in, len, PKG_KEK_SCHEMA, PKG_WORLD_SCHEMA, keys, KEK_WHAT, &root, e)) !=
        KT_OK)
        goto done;

    if ((rc = get_str(root, "kid", KEK_WHAT, PKG_KID_MAX, &s, e)) != KT_OK ||
        (rc = copy_str(out->kid, sizeof out->kid, s, KEK_WHAT, "kid", e)) != KT_OK ||
        (rc = get_str(root, "kty", KEK_WHAT, PKG_KTY_MAX, &s, e)) != KT_OK ||
        (rc = copy_str(out->kty, sizeof out->kty, s, KEK_WHAT, "kty", e)) != KT_OK ||
        (rc = kt_json_get_int(root, "key_size", KEK_WHAT, 1, PKG_KEY_SIZE_MAX, &out->key_size,
                              e)) != KT_OK ||
        (rc = get_list(root, "key_ops", KEK_WHAT, 0, PKG_KEY_OPS_MAX, "operations", out->key_ops[0],
                       sizeof out->key_ops[0], &out->n_key_ops, e)) != KT_OK ||
        (rc = kt_json_get_bool(root, "exportable", KEK_WHAT, &out->exportable, e)) != KT_OK ||
        (rc = get_str(root, "public_key", KEK_WHAT, (PKG_SPKI_MAX + 2) / 3 * 4, &s, e)) != KT_OK)
        goto done;
    if ((rc = kt_b64url_decode(s, strlen(s), &out->public_key, e)) != KT_OK) {
        kt_err_prefix(e, "%s: public_key", KEK_WHAT);
        goto done;
    }
    if ((rc = get_hash(root, "public_key_sha256", KEK_WHAT, out->public_key_sha256, e)) != KT_OK ||
        (rc = get_str(root, "module_esn", KEK_WHAT, PKG_ESN_LEN, &s, e)) != KT_OK ||
        (rc = copy_str(out->module_esn, sizeof out->module_esn, s, KEK_WHAT, "module_esn", e)) !=
            KT_OK ||
        (rc = get_str(root, "region", KEK_WHAT, PKG_REGION_MAX, &s, e)) != KT_OK ||
        (rc = copy_str(out->region, sizeof out->region, s, KEK_WHAT, "region", e)) != KT_OK ||
        (rc = get_hash(root, "world_hash", KEK_WHAT, out->world_hash, e)) != KT_OK ||
        (rc = get_time(root, "created", KEK_WHAT, &out->created, e)) != KT_OK)
        goto done;
    rc = kek_fields_check(out, e);
done:
    json_decref(root);
    if (rc != KT_OK)
        pkg_kek_payload_free(out);
    return rc;
}

/* ----------------------------------------------------------------------------------------- */
/* World payload                                                                              */
/* ----------------------------------------------------------------------------------------- */

static kt_rc world_fields_check(const pkg_world_payload *p, kt_err *e)
{
    kt_rc rc;

    if ((rc = pkg_region_check(p->region, WORLD_WHAT ": region", e)) != KT_OK ||
        (rc = check_token(p->cipher_suite, PKG_SUITE_MAX, "_-", WORLD_WHAT, "cipher_suite", e)) !=
            KT_OK)
        return rc;
    if ((rc = check_count(p->n_module_esns, 1, PKG_ESNS_MAX, WORLD_WHAT, "module_esns", "modules",
                          e)) != KT_OK)
        return rc;
    for (size_t i = 0; i < p->n_module_esns; i++) {
        if ((rc = pkg_esn_check(p->module_esns[i], WORLD_WHAT ": a module_esns entry", e)) != KT_OK)
            return rc;
    }
    return KT_OK;
}

kt_rc pkg_world_payload_build(const pkg_world_payload *p, char **json, kt_err *e)
{
    json_t *o = NULL, *esns = NULL;
    char created[21];
    kt_rc rc;

    *json = NULL;
    if ((rc = world_fields_check(p, e)) != KT_OK ||
        (rc = pkg_time_format(p->created, created, e)) != KT_OK)
        return rc;
    o = json_object();
    esns = string_array(p->module_esns[0], sizeof p->module_esns[0], p->n_module_esns);
    rc = finish(o,
                o != NULL && esns != NULL &&
                    json_object_set_new(o, "schema", json_string(PKG_WORLD_SCHEMA)) == 0 &&
                    set_hex(o, "world_hash", p->world_hash) &&
                    json_object_set_new(o, "region", json_string(p->region)) == 0 &&
                    json_object_set_new(o, "cipher_suite", json_string(p->cipher_suite)) == 0 &&
                    json_object_set(o, "module_esns", esns) == 0,
                created, json, e);
    json_decref(esns);
    json_decref(o);
    return rc;
}

kt_rc pkg_world_payload_parse(const uint8_t *in, size_t len, pkg_world_payload *out, kt_err *e)
{
    static const char *const keys[] = {"schema",      "world_hash", "region", "cipher_suite",
                                       "module_esns", "created",    NULL};
    json_t *root = NULL;
    const char *s;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = open_payload(in, len, PKG_WORLD_SCHEMA, PKG_KEK_SCHEMA, keys, WORLD_WHAT, &root,
                           e)) != KT_OK ||
        (rc = get_hash(root, "world_hash", WORLD_WHAT, out->world_hash, e)) != KT_OK ||
        (rc = get_str(root, "region", WORLD_WHAT, PKG_REGION_MAX, &s, e)) != KT_OK ||
        (rc = copy_str(out->region, sizeof out->region, s, WORLD_WHAT, "region", e)) != KT_OK ||
        (rc = get_str(root, "cipher_suite", WORLD_WHAT, PKG_SUITE_MAX, &s, e)) != KT_OK ||
        (rc = copy_str(out->cipher_suite, sizeof out->cipher_suite, s, WORLD_WHAT, "cipher_suite",
                       e)) != KT_OK ||
        (rc = get_list(root, "module_esns", WORLD_WHAT, 1, PKG_ESNS_MAX, "modules",
                       out->module_esns[0], sizeof out->module_esns[0], &out->n_module_esns, e)) !=
            KT_OK ||
        (rc = get_time(root, "created", WORLD_WHAT, &out->created, e)) != KT_OK)
        goto done;
    rc = world_fields_check(out, e);
done:
    json_decref(root);
    if (rc != KT_OK)
        memset(out, 0, sizeof *out);
    return rc;
}
