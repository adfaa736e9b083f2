/*
 * test_payload.c - the KEK and world payloads: builders and parsers round-trip every field; the
 * parsers return policy-violating but well-formed statements faithfully (verify/ judges them);
 * every malformed variant (missing, extra, mistyped, misshaped member; another schema or
 * version; duplicate keys) is refused with a message naming the member.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkgtest.h"

#define KID   "https://contoso.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef"
#define T2025 UINT64_C(1735689600) /* 2025-01-01T00:00:00Z */

static void kek_fixture(pkg_kek_payload *p)
{
    EVP_PKEY *kek = pt_kek(2048);
    kt_err e;

    memset(p, 0, sizeof *p);
    snprintf(p->kid, sizeof p->kid, "%s", KID);
    cr_assert_eq(pkg_kek_payload_set_key(p, kek, &e), KT_OK, "%s", e.msg);
    snprintf(p->key_ops[0], sizeof p->key_ops[0], "import");
    p->n_key_ops = 1;
    p->exportable = false;
    snprintf(p->module_esn, sizeof p->module_esn, "0123-4567-89AB");
    snprintf(p->region, sizeof p->region, "NA");
    memset(p->world_hash, 0x5a, 32);
    p->created = T2025;
    EVP_PKEY_free(kek);
}

static void world_fixture(pkg_world_payload *p)
{
    memset(p, 0, sizeof *p);
    memset(p->world_hash, 0x5a, 32);
    snprintf(p->region, sizeof p->region, "NA");
    snprintf(p->cipher_suite, sizeof p->cipher_suite, "KTv1-Ed25519-XChaCha20Poly1305-Argon2id");
    snprintf(p->module_esns[0], sizeof p->module_esns[0], "0123-4567-89AB");
    snprintf(p->module_esns[1], sizeof p->module_esns[1], "FFFF-0000-1234");
    p->n_module_esns = 2;
    p->created = T2025 + 86399;
}

static char *kek_json(const pkg_kek_payload *p)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(pkg_kek_payload_build(p, &s, &e), KT_OK, "%s", e.msg);
    return s;
}

Test(kek_payload, round_trip)
{
    pkg_kek_payload p, q;
    kt_err e;

    kek_fixture(&p);
    char *s = kek_json(&p);
    cr_log_info("%s", s);
    cr_assert_eq(pkg_kek_payload_parse((const uint8_t *)s, strlen(s), &q, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(q.kid, p.kid);
    cr_assert_str_eq(q.kty, "RSA-HSM");
    cr_assert_eq(q.key_size, 2048);
    cr_assert_eq(q.n_key_ops, 1);
    cr_assert_str_eq(q.key_ops[0], "import");
    cr_assert_eq(q.exportable, false);
    cr_assert_eq(q.public_key.len, p.public_key.len);
    cr_assert_arr_eq(q.public_key.p, p.public_key.p, p.public_key.len);
    cr_assert_arr_eq(q.public_key_sha256, p.public_key_sha256, 32);
    cr_assert_str_eq(q.module_esn, "0123-4567-89AB");
    cr_assert_str_eq(q.region, "NA");
    cr_assert_arr_eq(q.world_hash, p.world_hash, 32);
    cr_assert_eq(q.created, T2025);
    /* The stated fingerprint is the SHA-256 of the SPKI (set_key computed it). */
    uint8_t h[32];
    kt_sha256(h, q.public_key.p, q.public_key.len);
    cr_assert_arr_eq(h, q.public_key_sha256, 32);
    /* Deterministic: sorted keys, compact, the time in one spelling. */
    char *again = kek_json(&q);
    cr_assert_str_eq(again, s);
    cr_assert(strncmp(s, "{\"created\":\"2025-01-01T00:00:00Z\",\"exportable\":false,", 52) == 0,
              "%s", s);
    json_t *v = json_loads(s, 0, NULL);
    cr_assert_eq(json_object_size(v), 12);
    json_decref(v);
    free(again);
    free(s);
    pkg_kek_payload_free(&p);
    pkg_kek_payload_free(&q);
}

Test(kek_payload, policy_is_reported_not_judged)
{
    pkg_kek_payload p, q;
    EVP_PKEY *ec = pt_ec_key("P-256");
    kt_err e;

    kek_fixture(&p);
    /* Everything verify/ must refuse, all well-formed. */
    p.exportable = true;
    snprintf(p.key_ops[1], sizeof p.key_ops[1], "sign");
    snprintf(p.key_ops[2], sizeof p.key_ops[2], "import");
    p.n_key_ops = 3;
    p.key_size = 1024;
    snprintf(p.kty, sizeof p.kty, "RSA");
    memset(p.public_key_sha256, 0, 32);
    snprintf(p.region, sizeof p.region, "EU");
    char *s = kek_json(&p);
    cr_assert_eq(pkg_kek_payload_parse((const uint8_t *)s, strlen(s), &q, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(q.exportable, true);
    cr_assert_eq(q.n_key_ops, 3);
    cr_assert_str_eq(q.key_ops[1], "sign");
    cr_assert_eq(q.key_size, 1024);
    cr_assert_str_eq(q.kty, "RSA");
    cr_assert_str_eq(q.region, "EU");
    pkg_kek_payload_free(&q);
    free(s);
    /* No key_ops at all, and an EC public key: still well-formed. */
    p.n_key_ops = 0;
    cr_assert_eq(pkg_kek_payload_set_key(&p, ec, &e), KT_OK);
    s = kek_json(&p);
    cr_assert_eq(pkg_kek_payload_parse((const uint8_t *)s, strlen(s), &q, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(q.n_key_ops, 0);
    cr_assert_str_eq(q.kty, "unknown");
    pkg_kek_payload_free(&q);
    free(s);
    pkg_kek_payload_free(&p);
    EVP_PKEY_free(ec);
}

/* The fixture's JSON with member key set to value (NULL: removed), parsed by parse. */
typedef kt_rc (*parse_fn)(const char *s, kt_err *e);

static kt_rc parse_kek(const char *s, kt_err *e)
{
    pkg_kek_payload q;
    kt_rc rc = pkg_kek_payload_parse((const uint8_t *)s, strlen(s), &q, e);

    if (rc != KT_OK)
        cr_assert_null(q.public_key.p);
    pkg_kek_payload_free(&q);
    return rc;
}

static kt_rc parse_world(const char *s, kt_err *e)
{
    pkg_world_payload q;

    return pkg_world_payload_parse((const uint8_t *)s, strlen(s), &q, e);
}

static void mutate(const char *base, parse_fn parse, const char *key, json_t *value, kt_rc want,
                   const char *why)
{
    json_t *v = json_loads(base, 0, NULL);
    char *s;
    kt_err e;
    kt_rc rc;

    cr_assert_not_null(v);
    if (value != NULL)
        json_object_set_new(v, key, value);
    else
        json_object_del(v, key);
    s = json_dumps(v, JSON_COMPACT);
    rc = parse(s, &e);
    cr_assert_eq(rc, want, "%s = %s: got %s (%s)", key, why, kt_rc_name(rc),
                 rc == KT_OK ? "accepted" : e.msg);
    if (rc != KT_OK)
        cr_log_info("%s = %s: %s", key, why, e.msg);
    free(s);
    json_decref(v);
}

Test(kek_payload, malformed_refused)
{
    static const char *const members[] = {
        "schema",     "kid",        "kty",        "key_size",
        "key_ops",    "exportable", "public_key", "public_key_sha256",
        "module_esn", "region",     "world_hash", "created"};
    pkg_kek_payload p;

    kek_fixture(&p);
    char *s = kek_json(&p);
    cr_assert_eq(parse_kek(s, NULL), KT_OK);
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        mutate(s, parse_kek, members[i], NULL, KT_EFORMAT, "missing");
        mutate(s, parse_kek, members[i], json_null(), KT_EFORMAT, "null");
    }
    mutate(s, parse_kek, "extra", json_true(), KT_EFORMAT, "extra member");
    mutate(s, parse_kek, "schema", json_string("keytransfer-kek/2"), KT_EVERSION, "kek/2");
    mutate(s, parse_kek, "schema", json_string("keytransfer-world/1"), KT_EFORMAT, "world/1");
    mutate(s, parse_kek, "schema", json_string("something"), KT_EFORMAT, "something");
    mutate(s, parse_kek, "kid", json_string("https://x.vault.azure.net/keys/k"), KT_EFORMAT,
           "kid without version");
    mutate(s, parse_kek, "kty", json_string(""), KT_EFORMAT, "empty kty");
    mutate(s, parse_kek, "kty", json_string("RSA HSM"), KT_EFORMAT, "kty with space");
    mutate(s, parse_kek, "key_size", json_integer(0), KT_EFORMAT, "0");
    mutate(s, parse_kek, "key_size", json_integer(1 << 20), KT_EFORMAT, "2^20");
    mutate(s, parse_kek, "key_size", json_real(2048.0), KT_EFORMAT, "2048.0");
    mutate(s, parse_kek, "key_size", json_string("2048"), KT_EFORMAT, "\"2048\"");
    mutate(s, parse_kek, "key_ops", json_string("import"), KT_EFORMAT, "string");
    mutate(s, parse_kek, "key_ops", json_pack("[i]", 1), KT_EFORMAT, "[1]");
    mutate(s, parse_kek, "key_ops", json_pack("[s]", "im port"), KT_EFORMAT, "[\"im port\"]");
    mutate(s, parse_kek, "key_ops", json_pack("[s]", ""), KT_EFORMAT, "[\"\"]");
    json_t *many = json_array();
    for (int i = 0; i < 17; i++)
        json_array_append_new(many, json_string("import"));
    mutate(s, parse_kek, "key_ops", many, KT_EFORMAT, "17 ops");
    mutate(s, parse_kek, "exportable", json_string("false"), KT_EFORMAT, "\"false\"");
    mutate(s, parse_kek, "exportable", json_integer(0), KT_EFORMAT, "0");
    mutate(s, parse_kek, "public_key", json_string("AAAA"), KT_EFORMAT, "not SPKI");
    mutate(s, parse_kek, "public_key", json_string("AA=="), KT_EFORMAT, "padded");
    mutate(s, parse_kek, "public_key", json_string(""), KT_EFORMAT, "empty");
    mutate(s, parse_kek, "public_key_sha256", json_string("ab"), KT_EFORMAT, "short");
    char upper[65];
    memset(upper, 'A', 64);
    upper[64] = '\0';
    mutate(s, parse_kek, "public_key_sha256", json_string(upper), KT_EFORMAT, "upper case");
    mutate(s, parse_kek, "world_hash", json_string(upper), KT_EFORMAT, "upper case");
    upper[63] = '\0';
    memset(upper, 'a', 63);
    mutate(s, parse_kek, "world_hash", json_string(upper), KT_EFORMAT, "63 digits");
    mutate(s, parse_kek, "module_esn", json_string("0123-4567-89ab"), KT_EFORMAT, "lower");
    mutate(s, parse_kek, "module_esn", json_string("0123456789AB"), KT_EFORMAT, "no dashes");
    mutate(s, parse_kek, "module_esn", json_string("0123-4567-89AB-"), KT_EFORMAT, "long");
    mutate(s, parse_kek, "region", json_string("na"), KT_EFORMAT, "lower");
    mutate(s, parse_kek, "region", json_string(""), KT_EFORMAT, "empty");
    mutate(s, parse_kek, "region", json_string("ABCDEFGHIJKLMNOPQ"), KT_EFORMAT, "17 letters");
    mutate(s, parse_kek, "region", json_string("N\nA"), KT_EFORMAT, "newline");
    mutate(s, parse_kek, "created", json_string("2025-02-30T00:00:00Z"), KT_EFORMAT, "Feb 30");
    mutate(s, parse_kek, "created", json_string("2025-01-01 00:00:00Z"), KT_EFORMAT, "space");
    mutate(s, parse_kek, "created", json_string("2025-01-01T00:00:00+00:00"), KT_EFORMAT, "offset");
    mutate(s, parse_kek, "created", json_string("1969-12-31T23:59:59Z"), KT_EFORMAT, "1969");
    mutate(s, parse_kek, "created", json_string("2025-01-01T24:00:00Z"), KT_EFORMAT, "24h");
    mutate(s, parse_kek, "created", json_integer(1735689600), KT_EFORMAT, "integer");
    /* Positive twins at the edges. */
    mutate(s, parse_kek, "created", json_string("2024-02-29T23:59:59Z"), KT_OK, "leap day");
    mutate(s, parse_kek, "region", json_string("USGOV"), KT_OK, "USGOV");
    mutate(s, parse_kek, "key_ops", json_array(), KT_OK, "[]");
    /* Duplicate member in the text. */
    char *dup;
    cr_assert(asprintf(&dup, "{\"region\":\"EU\",%s", s + 1) > 0);
    cr_assert_eq(parse_kek(dup, NULL), KT_EFORMAT);
    free(dup);
    cr_assert(asprintf(&dup, "%s\n", s) > 0);
    cr_assert_eq(parse_kek(dup, NULL), KT_OK, "a trailing newline is whitespace");
    free(dup);
    cr_assert(asprintf(&dup, "%s{}", s) > 0);
    cr_assert_eq(parse_kek(dup, NULL), KT_EFORMAT, "trailing data");
    free(dup);
    free(s);
    pkg_kek_payload_free(&p);
}

Test(kek_payload, builder_refuses_what_the_parser_would)
{
    pkg_kek_payload p;
    char *s = NULL;
    kt_err e;

    kek_fixture(&p);
    snprintf(p.region, sizeof p.region, "na");
    cr_assert_eq(pkg_kek_payload_build(&p, &s, &e), KT_EFORMAT);
    snprintf(p.region, sizeof p.region, "NA");
    p.created = UINT64_C(253402300800);
    cr_assert_eq(pkg_kek_payload_build(&p, &s, &e), KT_EUSAGE);
    p.created = T2025;
    p.public_key.p[0] ^= 0xff;
    cr_assert_eq(pkg_kek_payload_build(&p, &s, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "public_key") != NULL, "%s", e.msg);
    cr_assert_null(s);
    pkg_kek_payload_free(&p);
}

Test(world_payload, round_trip_and_refusals)
{
    pkg_world_payload p, q;
    char *s = NULL;
    kt_err e;

    world_fixture(&p);
    cr_assert_eq(pkg_world_payload_build(&p, &s, &e), KT_OK, "%s", e.msg);
    cr_log_info("%s", s);
    cr_assert_eq(pkg_world_payload_parse((const uint8_t *)s, strlen(s), &q, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_arr_eq(q.world_hash, p.world_hash, 32);
    cr_assert_str_eq(q.region, "NA");
    cr_assert_str_eq(q.cipher_suite, p.cipher_suite);
    cr_assert_eq(q.n_module_esns, 2);
    cr_assert_str_eq(q.module_esns[1], "FFFF-0000-1234");
    cr_assert_eq(q.created, T2025 + 86399);
    json_t *v = json_loads(s, 0, NULL);
    cr_assert_eq(json_object_size(v), 6);
    json_decref(v);

    static const char *const members[] = {"schema",       "world_hash",  "region",
                                          "cipher_suite", "module_esns", "created"};
    for (size_t i = 0; i < 6; i++)
        mutate(s, parse_world, members[i], NULL, KT_EFORMAT, "missing");
    mutate(s, parse_world, "extra", json_true(), KT_EFORMAT, "extra");
    mutate(s, parse_world, "schema", json_string("keytransfer-world/2"), KT_EVERSION, "world/2");
    mutate(s, parse_world, "schema", json_string("keytransfer-kek/1"), KT_EFORMAT, "kek/1");
    mutate(s, parse_world, "module_esns", json_array(), KT_EFORMAT, "none");
    mutate(s, parse_world, "module_esns", json_pack("[s]", "x"), KT_EFORMAT, "bad esn");
    mutate(s, parse_world, "module_esns", json_pack("[i]", 1), KT_EFORMAT, "integer esn");
    json_t *many = json_array();
    for (int i = 0; i < 17; i++)
        json_array_append_new(many, json_string("0123-4567-89AB"));
    mutate(s, parse_world, "module_esns", many, KT_EFORMAT, "17 modules");
    mutate(s, parse_world, "cipher_suite", json_string("DLf3072s256mRijndael"), KT_OK,
           "an nShield suite name is well-formed");
    mutate(s, parse_world, "cipher_suite", json_string("a b"), KT_EFORMAT, "space");
    mutate(s, parse_world, "world_hash", json_string("00"), KT_EFORMAT, "short");
    mutate(s, parse_world, "region", json_integer(1), KT_EFORMAT, "integer");
    /* A KEK payload given to the world parser says what happened. */
    pkg_kek_payload k;
    kek_fixture(&k);
    char *ks = kek_json(&k);
    cr_assert_eq(parse_world(ks, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "swapped") != NULL, "%s", e.msg);
    cr_assert_eq(parse_kek(s, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "swapped") != NULL, "%s", e.msg);
    free(ks);
    pkg_kek_payload_free(&k);
    /* The builder checks too. */
    char *t = NULL;
    p.n_module_esns = 0;
    cr_assert_eq(pkg_world_payload_build(&p, &t, &e), KT_EFORMAT);
    cr_assert_null(t);
    free(s);
}
