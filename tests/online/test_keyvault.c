/*
 * test_keyvault.c - the Key Vault shapes: vault URLs (plain http only on loopback), key names and
 * operations, the import body as Key Vault reads it, the JWK the service answers with rebuilt
 * into the fingerprint OpenSSL computes (and malformed or off-curve keys refused), the service's
 * answers and errors, and the last comparison with the manifest.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>

#include "otest.h"

/* ---- vault URLs ---- */

Test(vault, urls_that_are_accepted)
{
    static const struct {
        const char *url, *base;
        bool https, loopback;
    } ok[] = {
        {"https://contoso.vault.azure.net", "https://contoso.vault.azure.net", true, false},
        {"https://contoso.vault.azure.net/", "https://contoso.vault.azure.net", true, false},
        {"https://contoso.managedhsm.azure.net:443", "https://contoso.managedhsm.azure.net:443",
         true, false},
        {"http://127.0.0.1:8443", "http://127.0.0.1:8443", false, true},
        {"http://127.9.8.7:1", "http://127.9.8.7:1", false, true},
        {"http://[::1]:65535/", "http://[::1]:65535", false, true},
        {"http://localhost:80", "http://localhost:80", false, true},
        {"http://LocalHost:80", "http://LocalHost:80", false, true},
        {"https://10.0.0.1", "https://10.0.0.1", true, false},
        {"https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443", true, false},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        online_vault v;
        kt_err e;
        cr_expect_eq(online_vault_parse(ok[i].url, &v, &e), KT_OK, "%s: %s", ok[i].url, e.msg);
        cr_expect_str_eq(v.base, ok[i].base);
        cr_expect_eq(v.https, ok[i].https, "%s", ok[i].url);
        cr_expect_eq(v.loopback, ok[i].loopback, "%s", ok[i].url);
    }
}

Test(vault, urls_that_are_refused)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"http://contoso.vault.azure.net", "plain http"},
        {"http://10.0.0.1:80", "plain http"},
        {"http://128.0.0.1", "plain http"},
        {"http://[::2]:80", "plain http"},
        {"http://localhost.evil.example", "plain http"},
        {"http://127.0.0.1.nip.io", "plain http"},
        {"http://127.1", "not a host name"},
        {"http://0x7f.0.0.1", "not a host name"},
        {"ftp://contoso.vault.azure.net", "https://"},
        {"contoso.vault.azure.net", "https://"},
        {"HTTPS://contoso.vault.azure.net", "https://"},
        {"https://user:pw@contoso.vault.azure.net", "no user name"},
        {"https://contoso.vault.azure.net/keys", "no path"},
        {"https://contoso.vault.azure.net?x=1", "no path"},
        {"https://contoso.vault.azure.net#f", "no path"},
        {"https://contoso.vault.azure.net:0", "port"},
        {"https://contoso.vault.azure.net:65536", "port"},
        {"https://contoso.vault.azure.net:", "port"},
        {"https://contoso.vault.azure.net:443x", "no path"},
        {"https://", "not a host name"},
        {"https://-contoso.vault.azure.net", "not a host name"},
        {"https://contoso..azure.net", "not a host name"},
        {"https://con toso.net", "not a host name"},
        {"https://[::1", "brackets"},
        {"https://[zz::1]", "not an IPv6"},
        {"", "1 to"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        online_vault v;
        kt_err e;
        cr_expect_eq(online_vault_parse(bad[i].url, &v, &e), KT_EUSAGE, "%s accepted", bad[i].url);
        cr_expect(strstr(e.msg, bad[i].why) != NULL, "%s: '%s' lacks '%s'", bad[i].url, e.msg,
                  bad[i].why);
    }
}

Test(vault, loopback_addresses)
{
    cr_expect(online_is_loopback("127.0.0.1"));
    cr_expect(online_is_loopback("127.255.255.254"));
    cr_expect(online_is_loopback("::1"));
    cr_expect(online_is_loopback("localhost"));
    cr_expect_not(online_is_loopback("126.0.0.1"));
    cr_expect_not(online_is_loopback("::"));
    cr_expect_not(online_is_loopback("::ffff:10.0.0.1"));
    cr_expect_not(online_is_loopback("localhost.localdomain"));
    cr_expect_not(online_is_loopback(""));
}

Test(vault, key_names_and_urls)
{
    online_vault v;
    char url[512];
    kt_err e;
    cr_assert_eq(online_vault_parse("https://contoso.vault.azure.net/", &v, &e), KT_OK);
    cr_expect_eq(online_key_url(&v, "Contoso-Key-1", url, sizeof url, &e), KT_OK);
    cr_expect_str_eq(url, "https://contoso.vault.azure.net/keys/Contoso-Key-1?api-version=7.4");
    static const char *const bad[] = {"", "a/b", "a b", "a?b", "a%2f", "..", "key_1", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(online_key_url(&v, bad[i], url, sizeof url, &e), KT_EUSAGE, "'%s'", bad[i]);
    char long_name[PKG_KEY_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cr_expect_eq(pkg_key_name_check("key name", long_name, &e), KT_EUSAGE);
    long_name[PKG_KEY_NAME_MAX] = '\0';
    cr_expect_eq(pkg_key_name_check("key name", long_name, &e), KT_OK);
}

/* ---- key operations ---- */

Test(ops, defaults_per_type)
{
    char s[96];
    pkg_kv_ops_format(pkg_kv_ops_for("RSA"), s, sizeof s);
    cr_expect_str_eq(s, "encrypt,decrypt,sign,verify,wrapKey,unwrapKey");
    pkg_kv_ops_format(pkg_kv_ops_for("EC"), s, sizeof s);
    cr_expect_str_eq(s, "sign,verify");
    pkg_kv_ops_format(pkg_kv_ops_for("AES"), s, sizeof s);
    cr_expect_str_eq(s, "encrypt,decrypt,wrapKey,unwrapKey");
    cr_expect_eq(pkg_kv_ops_for("DSA"), 0);
}

Test(ops, parsing)
{
    unsigned ops;
    kt_err e;
    cr_expect_eq(online_ops_parse("decrypt,encrypt", "RSA", &ops, &e), KT_OK);
    cr_expect_eq(ops, PKG_KV_OP_ENCRYPT | PKG_KV_OP_DECRYPT);
    cr_expect_eq(online_ops_parse("sign", "EC", &ops, &e), KT_OK);
    cr_expect_eq(ops, PKG_KV_OP_SIGN);
    static const struct {
        const char *list, *type, *why;
    } bad[] = {
        {"", "RSA", "empty"},
        {"encrypt,", "RSA", "empty"},
        {",encrypt", "RSA", "empty"},
        {"encrypt,encrypt", "RSA", "twice"},
        {"Encrypt", "RSA", "not a key operation"},
        {"import", "RSA", "not a key operation"},
        {"encrypt", "EC", "cannot"},
        {"sign", "AES", "cannot"},
        {"encrypt decrypt", "RSA", "not a key operation"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(online_ops_parse(bad[i].list, bad[i].type, &ops, &e), KT_EUSAGE, "'%s'",
                     bad[i].list);
        cr_expect(strstr(e.msg, bad[i].why) != NULL, "'%s': %s", bad[i].list, e.msg);
    }
}

Test(ops, types_and_curves)
{
    cr_expect_str_eq(pkg_kv_kty_for("RSA"), "RSA-HSM");
    cr_expect_str_eq(pkg_kv_kty_for("EC"), "EC-HSM");
    cr_expect_str_eq(pkg_kv_kty_for("AES"), "oct-HSM");
    cr_expect_null(pkg_kv_kty_for("rsa"));
    cr_expect_str_eq(online_crv_for("P-256"), "P-256");
    cr_expect_str_eq(online_crv_for("P-521"), "P-521");
    cr_expect_str_eq(online_crv_for("secp256k1"), "P-256K");
    cr_expect_null(online_crv_for("P-224"));
}

/* ---- the import body ---- */

static json_t *body_for(EVP_PKEY *target, unsigned ops, const char *target_cloud, kt_rc want)
{
    char *dir = ts_scratch(), *json = NULL;
    ot_package p;
    kt_err e;
    size_t n;
    ot_package_make(&p, dir, "K", target);
    uint8_t *file = ts_read(p.byok_path, &n);
    if (target_cloud != NULL)
        snprintf(p.m.target, sizeof p.m.target, "%s", target_cloud);
    kt_rc rc =
        online_import_body(&p.m, file, n, ops ? ops : pkg_kv_ops_for(p.m.key_type), &json, &e);
    cr_assert_eq(rc, want, "%s", e.msg);
    json_t *j = NULL;
    if (rc == KT_OK) {
        json_error_t jerr;
        j = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
        cr_assert_not_null(j, "%s", jerr.text);
        /* key_hsm is the whole file, unpadded base64url */
        const char *hsm = json_string_value(json_object_get(json_object_get(j, "key"), "key_hsm"));
        cr_assert_not_null(hsm);
        cr_expect_null(strchr(hsm, '='));
        kt_buf back = {0};
        cr_assert_eq(kt_b64url_decode(hsm, strlen(hsm), &back, &e), KT_OK, "%s", e.msg);
        cr_expect_eq(back.len, n);
        cr_expect_arr_eq(back.p, file, n);
        kt_buf_free(&back);
    }
    free(json);
    free(file);
    ot_package_free(&p);
    ts_rmrf(dir);
    return j;
}

Test(body, rsa_ec_and_oct)
{
    EVP_PKEY *rsa = ot_key("kek-3072.pem");
    json_t *j = body_for(rsa, 0, NULL, KT_OK);
    json_t *key = json_object_get(j, "key");
    cr_expect_str_eq(json_string_value(json_object_get(key, "kty")), "RSA-HSM");
    cr_expect_null(json_object_get(key, "crv"));
    cr_expect_eq(json_array_size(json_object_get(key, "key_ops")), 6);
    cr_expect(json_is_true(json_object_get(json_object_get(j, "attributes"), "enabled")));
    /* Hsm true, as az and the SDKs send it for a key_hsm package */
    cr_expect(json_is_true(json_object_get(j, "Hsm")));
    cr_expect_eq(json_object_size(j), 3);
    cr_expect_eq(json_object_size(key), 3);
    json_decref(j);
    EVP_PKEY_free(rsa);

    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    j = body_for(ec, PKG_KV_OP_SIGN, NULL, KT_OK);
    key = json_object_get(j, "key");
    cr_expect_str_eq(json_string_value(json_object_get(key, "kty")), "EC-HSM");
    cr_expect_str_eq(json_string_value(json_object_get(key, "crv")), "P-256K");
    cr_expect_eq(json_array_size(json_object_get(key, "key_ops")), 1);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(key, "key_ops"), 0)), "sign");
    json_decref(j);
    EVP_PKEY_free(ec);

    j = body_for(NULL, 0, NULL, KT_OK);
    key = json_object_get(j, "key");
    cr_expect_str_eq(json_string_value(json_object_get(key, "kty")), "oct-HSM");
    cr_expect_eq(json_array_size(json_object_get(key, "key_ops")), 4);
    json_decref(j);
}

Test(body, refuses_other_clouds_and_ops_the_type_cannot)
{
    cr_expect_null(body_for(NULL, 0, "aws", KT_EDENIED));
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cr_expect_null(body_for(ec, PKG_KV_OP_ENCRYPT, NULL, KT_EUSAGE));
    EVP_PKEY_free(ec);
}

/* ---- the JWK the service answers with ---- */

static json_t *b64_member(const uint8_t *p, size_t n)
{
    char *s = NULL;
    kt_err e;
    cr_assert_eq(kt_b64url_encode(p, n, &s, &e), KT_OK);
    json_t *v = json_string(s);
    free(s);
    return v;
}

static json_t *jwk_of(EVP_PKEY *k, int coord)
{
    BIGNUM *a = NULL, *b = NULL;
    uint8_t buf[1024];
    json_t *j = json_object();
    if (EVP_PKEY_is_a(k, "RSA")) {
        cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &a) == 1);
        cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &b) == 1);
        json_object_set_new(j, "kty", json_string("RSA-HSM"));
        json_object_set_new(j, "n", b64_member(buf, (size_t)BN_bn2bin(a, buf)));
        json_object_set_new(j, "e", b64_member(buf, (size_t)BN_bn2bin(b, buf)));
    } else {
        char group[64];
        size_t glen;
        cr_assert(EVP_PKEY_get_group_name(k, group, sizeof group, &glen) == 1);
        cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1);
        cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1);
        const char *crv = strcmp(group, "prime256v1") == 0  ? "P-256"
                          : strcmp(group, "secp384r1") == 0 ? "P-384"
                          : strcmp(group, "secp521r1") == 0 ? "P-521"
                                                            : "P-256K";
        json_object_set_new(j, "kty", json_string("EC-HSM"));
        json_object_set_new(j, "crv", json_string(crv));
        cr_assert(BN_bn2binpad(a, buf, coord) == coord);
        json_object_set_new(j, "x", b64_member(buf, (size_t)coord));
        cr_assert(BN_bn2binpad(b, buf, coord) == coord);
        json_object_set_new(j, "y", b64_member(buf, (size_t)coord));
    }
    BN_free(a);
    BN_free(b);
    return j;
}

Test(jwk, rebuilds_the_fingerprint_openssl_computes)
{
    static const struct {
        const char *group;
        int coord;
    } ec[] = {{"P-256", 32}, {"P-384", 48}, {"P-521", 66}, {"secp256k1", 32}};
    kt_err e;
    uint8_t want[32], have[32];
    for (size_t i = 0; i < sizeof ec / sizeof ec[0]; i++) {
        /* Several keys each, so a coordinate with leading zero bytes turns up for P-521. */
        for (int round = 0; round < 4; round++) {
            EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", ec[i].group);
            json_t *j = jwk_of(k, ec[i].coord);
            cr_assert_eq(kt_spki_sha256(k, want, &e), KT_OK);
            cr_expect_eq(online_jwk_sha256(j, have, &e), KT_OK, "%s: %s", ec[i].group, e.msg);
            cr_expect_arr_eq(have, want, 32, "%s", ec[i].group);
            json_decref(j);
            EVP_PKEY_free(k);
        }
    }
    EVP_PKEY *rsa = ot_key("kek-2048.pem");
    json_t *j = jwk_of(rsa, 0);
    cr_assert_eq(kt_spki_sha256(rsa, want, &e), KT_OK);
    cr_expect_eq(online_jwk_sha256(j, have, &e), KT_OK, "%s", e.msg);
    cr_expect_arr_eq(have, want, 32);
    json_decref(j);
    EVP_PKEY_free(rsa);
}

Test(jwk, refuses_malformed_keys)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uint8_t fp[32];
    kt_err e;

    /* a point off the curve: y + 1 */
    json_t *j = jwk_of(k, 32);
    const char *y = json_string_value(json_object_get(j, "y"));
    kt_buf yb = {0};
    cr_assert_eq(kt_b64url_decode(y, strlen(y), &yb, &e), KT_OK);
    yb.p[31] ^= 1;
    json_object_set_new(j, "y", b64_member(yb.p, yb.len));
    cr_expect_eq(online_jwk_sha256(j, fp, &e), KT_EFORMAT, "an off-curve point was accepted");
    kt_buf_free(&yb);
    json_decref(j);

    /* a short coordinate */
    j = jwk_of(k, 32);
    uint8_t short_x[31] = {1};
    json_object_set_new(j, "x", b64_member(short_x, sizeof short_x));
    cr_expect_eq(online_jwk_sha256(j, fp, &e), KT_EFORMAT);
    json_decref(j);

    /* a curve that is not Key Vault's, a missing member, padding, the wrong kty */
    static const char *const edits[][2] = {{"crv", "P-224"}, {"crv", NULL},  {"x", NULL},
                                           {"kty", "oct"},   {"kty", "OKP"}, {"x", "AAAA=="}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        j = jwk_of(k, 32);
        if (edits[i][1] == NULL)
            json_object_del(j, edits[i][0]);
        else
            json_object_set_new(j, edits[i][0], json_string(edits[i][1]));
        cr_expect_eq(online_jwk_sha256(j, fp, &e), KT_EFORMAT, "%s=%s accepted", edits[i][0],
                     edits[i][1] ? edits[i][1] : "(none)");
        json_decref(j);
    }
    j = json_pack("{s:s, s:i, s:s}", "kty", "RSA", "n", 5, "e", "AQAB");
    cr_expect_eq(online_jwk_sha256(j, fp, &e), KT_EFORMAT, "n as a number");
    json_decref(j);
    j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", "AQAB", "e", "AQAB");
    cr_expect_eq(online_jwk_sha256(j, fp, &e), KT_EFORMAT, "a 17-bit modulus");
    json_decref(j);
    EVP_PKEY_free(k);
}

/* ---- answers ---- */

/* An answer as Key Vault writes it, for key k (NULL: an oct key) with the given kid and kty. */
static json_t *answer_json(EVP_PKEY *k, const char *kid, const char *kty)
{
    json_t *jwk = k != NULL ? jwk_of(k, 32) : json_object();
    json_object_set_new(jwk, "kid", json_string(kid));
    json_object_set_new(jwk, "kty", json_string(kty));
    json_object_set_new(jwk, "key_ops", json_pack("[s,s]", "sign", "verify"));
    return json_pack("{s:o, s:{s:b, s:i, s:s, s:b}}", "key", jwk, "attributes", "enabled", 1,
                     "created", 1700000000, "recoveryLevel", "Recoverable+Purgeable", "exportable",
                     0);
}

static char *dump(json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static char *answer_for(EVP_PKEY *k, const char *kid, const char *kty)
{
    return dump(answer_json(k, kid, kty));
}

#define KID "https://contoso.vault.azure.net/keys/MyKey/0123456789abcdef0123456789abcdef"

Test(answer, a_good_answer)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *a = answer_for(k, KID, "EC-HSM");
    online_imported got;
    uint8_t want[32];
    kt_err e;
    cr_assert_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_OK, "%s", e.msg);
    cr_expect_str_eq(got.kid, KID);
    cr_expect_str_eq(got.host, "contoso.vault.azure.net");
    cr_expect_str_eq(got.name, "MyKey");
    cr_expect_str_eq(got.kty, "EC-HSM");
    cr_expect(got.has_public);
    cr_assert_eq(kt_spki_sha256(k, want, &e), KT_OK);
    cr_expect_arr_eq(got.key_sha256, want, 32);
    cr_expect_eq(got.ops, PKG_KV_OP_SIGN | PKG_KV_OP_VERIFY);
    cr_expect_not(got.ops_unknown);
    cr_expect_str_eq(got.ops_text, "sign,verify");
    cr_expect(got.enabled);
    cr_expect(got.exportable_stated);
    cr_expect_not(got.exportable);
    free(a);

    a = answer_for(NULL, KID, "oct-HSM");
    cr_assert_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_OK, "%s", e.msg);
    cr_expect_not(got.has_public);
    free(a);

    /* exportable absent (Key Vault's default, false); an operation this program does not know */
    json_t *j = answer_json(k, KID, "EC-HSM");
    json_object_del(json_object_get(j, "attributes"), "exportable");
    json_object_set_new(json_object_get(j, "key"), "key_ops", json_pack("[s,s]", "sign", "export"));
    a = dump(j);
    cr_assert_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_OK, "%s", e.msg);
    cr_expect_not(got.exportable_stated);
    cr_expect_eq(got.ops, PKG_KV_OP_SIGN);
    cr_expect(got.ops_unknown);
    cr_expect_str_eq(got.ops_text, "sign,export");
    free(a);
    EVP_PKEY_free(k);
}

Test(answer, answers_that_are_malformed)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    online_imported got;
    kt_err e;
    char *a = answer_for(k, "https://contoso.vault.azure.net/keys/MyKey", "EC-HSM");
    cr_expect_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_EFORMAT,
                 "a kid without a version");
    free(a);
    static const char *const bodies[] = {
        "", "not json", "[]", "{\"key\":5}", "{\"key\":{}}", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        cr_expect_eq(
            online_parse_answer(200, (const uint8_t *)bodies[i], strlen(bodies[i]), &got, &e),
            KT_EFORMAT, "'%s'", bodies[i]);
    /* each member the check needs, missing or of another type */
    static const struct {
        const char *obj, *member;
        int kind; /* 0 delete, 1 a number */
    } cuts[] = {
        {"key", "key_ops", 0},
        {"key", "key_ops", 1},
        {"", "attributes", 0},
        {"", "attributes", 1},
        {"attributes", "enabled", 0},
        {"attributes", "enabled", 1},
        {"attributes", "exportable", 1},
        {"key", "kty", 1},
        {"key", "x", 0},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        json_t *j = answer_json(k, KID, "EC-HSM");
        json_t *o = cuts[i].obj[0] ? json_object_get(j, cuts[i].obj) : j;
        if (cuts[i].kind == 0)
            json_object_del(o, cuts[i].member);
        else
            json_object_set_new(o, cuts[i].member, json_integer(5));
        a = dump(j);
        cr_expect_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_EFORMAT,
                     "%s.%s %s", cuts[i].obj, cuts[i].member, cuts[i].kind ? "a number" : "cut");
        free(a);
    }
    json_t *j = answer_json(k, KID, "EC-HSM");
    json_object_set_new(json_object_get(j, "key"), "key_ops", json_pack("[s,i]", "sign", 3));
    a = dump(j);
    cr_expect_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_EFORMAT,
                 "key_ops with a number");
    free(a);
    EVP_PKEY_free(k);
}

Test(answer, errors_carry_status_code_and_message)
{
    static const struct {
        long status;
        const char *body;
        kt_rc rc;
        const char *want;
    } cases[] = {
        {401, "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"AKV10000: no token\"}}",
         KT_EDENIED, "authentication failed (HTTP 401 Unauthorized: AKV10000: no token)"},
        {403, "{\"error\":{\"code\":\"Forbidden\",\"message\":\"no access\"}}", KT_EDENIED,
         "authentication failed (HTTP 403 Forbidden: no access)"},
        {409, "{\"error\":{\"code\":\"Conflict\",\"message\":\"exists\"}}", KT_EDENIED,
         "HTTP 409 Conflict: exists"},
        {400, "{\"error\":{\"code\":\"BadParameter\",\"message\":\"bad\\u001b[31m\"}}", KT_EDENIED,
         "HTTP 400 BadParameter: bad?[31m"},
        {502, "<html>bad gateway</html>", KT_EIO, "HTTP 502, not a Key Vault error answer"},
        {500, "", KT_EIO, "HTTP 500"},
        {302, "", KT_EIO, "redirect"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        online_imported got;
        kt_err e;
        cr_expect_eq(online_parse_answer(cases[i].status, (const uint8_t *)cases[i].body,
                                         strlen(cases[i].body), &got, &e),
                     cases[i].rc, "HTTP %ld", cases[i].status);
        cr_expect(strstr(e.msg, cases[i].want) != NULL, "'%s' lacks '%s'", e.msg, cases[i].want);
        for (const char *c = e.msg; *c; c++)
            cr_assert(*c >= 0x20 && *c < 0x7f, "a control character reached the message");
    }
}

/* The whole answer against what was asked: the good one passes, and each difference alone is
 * refused naming what differed. */
Test(answer, the_whole_answer_is_checked)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pkg_manifest m = {0};
    kt_err e;
    snprintf(m.key_type, sizeof m.key_type, "EC");
    snprintf(m.curve, sizeof m.curve, "P-256");
    cr_assert_eq(kt_spki_sha256(k, m.key_sha256, &e), KT_OK);
    online_expect want = {.m = &m,
                          .name = "mykey",
                          .host = "Contoso.vault.azure.net",
                          .ops = PKG_KV_OP_SIGN | PKG_KV_OP_VERIFY,
                          .enabled = true};

    static const struct {
        const char *what, *needle;
    } cases[] = {
        {"good", NULL},
        {"name", "about key 'MyKey', not 'OtherKey'"},
        {"kty", "is a 'oct-HSM', not the EC-HSM"},
        {"key", "this is not the key that was packaged"},
        {"host", "is in the vault attacker.vault.azure.net, not Contoso.vault.azure.net"},
        {"ops", "key_ops are sign, not sign,verify as asked"},
        {"unknown op", "key_ops are sign,verify,export, not sign,verify as asked"},
        {"disabled", "it is disabled, not enabled as asked"},
        {"exportable", "it is exportable"},
        {"exportable absent", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *w = cases[i].what;
        const char *kid = strcmp(w, "host") == 0 ? "https://attacker.vault.azure.net/keys/MyKey/"
                                                   "0123456789abcdef0123456789abcdef"
                                                 : KID;
        json_t *j = answer_json(strcmp(w, "key") == 0 ? other : k, kid, "EC-HSM");
        json_t *key = json_object_get(j, "key"), *attr = json_object_get(j, "attributes");
        if (strcmp(w, "ops") == 0)
            json_object_set_new(key, "key_ops", json_pack("[s]", "sign"));
        if (strcmp(w, "unknown op") == 0)
            json_object_set_new(key, "key_ops", json_pack("[s,s,s]", "sign", "verify", "export"));
        if (strcmp(w, "disabled") == 0)
            json_object_set_new(attr, "enabled", json_false());
        if (strcmp(w, "exportable") == 0)
            json_object_set_new(attr, "exportable", json_true());
        if (strcmp(w, "exportable absent") == 0)
            json_object_del(attr, "exportable");
        if (strcmp(w, "kty") == 0) {
            json_t *oct = answer_json(NULL, KID, "oct-HSM");
            json_decref(j);
            j = oct;
        }
        char *a = dump(j);
        online_imported got;
        bool compared = true;
        cr_assert_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_OK, "%s: %s",
                     w, e.msg);
        want.name = strcmp(w, "name") == 0 ? "OtherKey" : "mykey";
        kt_rc rc = online_check_answer(&want, &got, &compared, &e);
        if (cases[i].needle == NULL) {
            cr_expect_eq(rc, KT_OK, "%s: %s", w, e.msg);
            cr_expect(compared, "%s", w);
        } else {
            cr_expect_eq(rc, KT_EDENIED, "%s accepted", w);
            cr_expect(strstr(e.msg, cases[i].needle) != NULL, "%s: '%s' lacks '%s'", w, e.msg,
                      cases[i].needle);
        }
        free(a);
    }

    /* several differences at once are all named */
    json_t *j = answer_json(k, KID, "EC-HSM");
    json_object_set_new(json_object_get(j, "attributes"), "enabled", json_false());
    json_object_set_new(json_object_get(j, "attributes"), "exportable", json_true());
    char *a = dump(j);
    online_imported got;
    bool compared;
    cr_assert_eq(online_parse_answer(200, (uint8_t *)a, strlen(a), &got, &e), KT_OK);
    cr_expect_eq(online_check_answer(&want, &got, &compared, &e), KT_EDENIED);
    cr_expect(strstr(e.msg, "disabled") != NULL && strstr(e.msg, "exportable") != NULL, "%s",
              e.msg);
    free(a);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

Test(answer, the_last_comparison)
{
    pkg_manifest m = {0};
    online_imported got = {0};
    bool compared;
    kt_err e;
    snprintf(m.key_type, sizeof m.key_type, "RSA");
    memset(m.key_sha256, 7, 32);
    memset(got.key_sha256, 7, 32);
    got.has_public = true;
    cr_expect_eq(online_compare_key(&m, &got, &compared, &e), KT_OK);
    cr_expect(compared);
    got.key_sha256[0] ^= 1;
    cr_expect_eq(online_compare_key(&m, &got, &compared, &e), KT_EDENIED);
    cr_expect(strstr(e.msg, "not the key that was packaged") != NULL, "%s", e.msg);
    got.has_public = false;
    cr_expect_eq(online_compare_key(&m, &got, &compared, &e), KT_EFORMAT);
    snprintf(m.key_type, sizeof m.key_type, "AES");
    cr_expect_eq(online_compare_key(&m, &got, &compared, &e), KT_OK);
    cr_expect_not(compared, "an AES key has nothing to compare");
}
