/*
 * test_props.c - online/props.c: the upload's key properties (tags, dates, release policy,
 * api-versions) and Key Vault's challenge (a 401's WWW-Authenticate read back, a JWT's audience
 * checked before it is sent).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otest.h"

static online_vault vault_of(const char *url)
{
    online_vault v;
    kt_err e;
    cr_assert_eq(online_vault_parse(url, &v, &e), KT_OK, "%s", e.msg);
    return v;
}

Test(props, tags)
{
    json_t *t = NULL;
    kt_err e;
    cr_assert_eq(online_tags_parse("env=prod,owner=key custodians,empty=", &t, &e), KT_OK, "%s",
                 e.msg);
    cr_expect_eq(json_object_size(t), 3);
    cr_expect_str_eq(json_string_value(json_object_get(t, "owner")), "key custodians");
    cr_expect_str_eq(json_string_value(json_object_get(t, "empty")), "");
    json_decref(t);
    static const char *const bad[] = {"", "a", "=v", "a=b,", "a=b,a=c", "a=b,,c=d", "\x01=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = NULL;
        cr_expect_eq(online_tags_parse(bad[i], &t, &e), KT_EUSAGE, "'%s' was taken", bad[i]);
        cr_expect_null(t);
    }
    char many[400] = "";
    for (int i = 0; i < 16; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%st%d=v", i ? "," : "", i);
    cr_expect_eq(online_tags_parse(many, &t, &e), KT_EUSAGE);
    cr_expect(strstr(e.msg, "15") != NULL, "%s", e.msg);
}

Test(props, dates)
{
    int64_t t;
    kt_err e;
    cr_assert_eq(online_time_parse("--expires", "2030-01-02", &t, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(t, 1893542400);
    cr_assert_eq(online_time_parse("--expires", "2030-01-02T03:04:05Z", &t, &e), KT_OK, "%s",
                 e.msg);
    cr_expect_eq(t, 1893542400 + 3 * 3600 + 4 * 60 + 5);
    cr_assert_eq(online_time_parse("--expires", "1900000000", &t, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(t, 1900000000);
    static const char *const bad[] = {"",           "2030-01-02T03:04:05",      "2030-13-01",
                                      "tomorrow",   "2030-01-02 03:04:05Z",     "-5",
                                      "1969-12-31", "2030-01-02T03:04:05+01:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(online_time_parse("--expires", bad[i], &t, &e), KT_EUSAGE, "'%s' was taken",
                     bad[i]);
}

Test(props, checked_together)
{
    online_vault kv = vault_of("https://contoso.vault.azure.net"),
                 hsm = vault_of("https://contoso.managedhsm.azure.net");
    online_props p = {0};
    kt_err e;
    cr_expect_eq(online_props_check(&p, &kv, &e), KT_OK, "%s", e.msg);
    p.api_version = "7.6";
    cr_expect_eq(online_props_check(&p, &kv, &e), KT_EUSAGE);
    p.api_version = "7.1";
    cr_expect_eq(online_props_check(&p, &kv, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(online_props_check(&p, &hsm, &e), KT_EUSAGE, "Managed HSM at 7.1");
    p.api_version = "7.4-preview.1";
    p.exportable = true;
    cr_expect_eq(online_props_check(&p, &kv, &e), KT_EUSAGE, "exportable without a policy");
    char policy[] = "eyJ2ZXJzaW9uIjoiMS4wLjAiLCJhbnlPZiI6W119";
    p.release_policy = policy;
    cr_expect_eq(online_props_check(&p, &kv, &e), KT_OK, "%s", e.msg);
    p.api_version = "7.2";
    cr_expect_eq(online_props_check(&p, &kv, &e), KT_EUSAGE, "exportable before 7.3");
    p.api_version = NULL;
    p.has_nbf = p.has_exp = true;
    p.nbf = p.exp = 1900000000;
    cr_expect_eq(online_props_check(&p, &kv, &e), KT_EUSAGE, "expires not after not-before");
    p.release_policy = NULL;
}

Test(props, release_policy_file)
{
    char *dir = ts_scratch(), path[512], *b64 = NULL;
    kt_err e;
    snprintf(path, sizeof path, "%s/policy.json", dir);
    static const char good[] = "{\"version\":\"1.0.0\",\"anyOf\":[]}";
    ts_write(path, good, sizeof good - 1);
    cr_assert_eq(online_release_policy_load(path, &b64, &e), KT_OK, "%s", e.msg);
    cr_expect_str_eq(b64, "eyJ2ZXJzaW9uIjoiMS4wLjAiLCJhbnlPZiI6W119");
    free(b64);
    static const char *const bad[] = {"[]", "{\"version\":\"1.0.0\"}", "{\"anyOf\":[]", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_write(path, bad[i], strlen(bad[i]));
        b64 = NULL;
        cr_expect_eq(online_release_policy_load(path, &b64, &e), KT_EFORMAT, "'%s'", bad[i]);
        cr_expect_null(b64);
    }
    ts_rmrf(dir);
}

Test(challenge, parsed_and_explained)
{
    online_challenge c;
    online_challenge_parse("Bearer authorization=\"https://login.microsoftonline.com/"
                           "72f988bf-86f1-41af-91ab-2d7cd011db47\", resource=\"https://"
                           "vault.azure.net\"",
                           &c);
    cr_expect_str_eq(c.tenant, "72f988bf-86f1-41af-91ab-2d7cd011db47");
    cr_expect_str_eq(c.resource, "https://vault.azure.net");
    online_challenge_parse("Bearer authorization=\"https://login.windows.net/t1\", "
                           "scope=\"https://managedhsm.azure.net/.default\"",
                           &c);
    cr_expect_str_eq(c.resource, "https://managedhsm.azure.net");
    cr_expect_str_eq(c.tenant, "t1");
    online_challenge_parse("Basic realm=\"x\"", &c);
    cr_expect_str_eq(c.resource, "");

    online_vault kv = vault_of("https://contoso.vault.azure.net"),
                 evil = vault_of("https://contoso.example.com");
    online_http r = {.status = 401};
    snprintf(r.challenge, sizeof r.challenge, "%s",
             "Bearer authorization=\"https://login.microsoftonline.com/t2\", "
             "resource=\"https://vault.azure.net\"");
    kt_err e;
    kt_rc rc = kt_fail(&e, KT_EDENIED, "authentication failed");
    cr_assert_eq(rc, KT_EDENIED);
    online_challenge_explain(&r, &kv, &e);
    cr_expect(strstr(e.msg, "--resource https://vault.azure.net --tenant t2") != NULL, "%s", e.msg);
    rc = kt_fail(&e, KT_EDENIED, "authentication failed");
    cr_assert_eq(rc, KT_EDENIED);
    online_challenge_explain(&r, &evil, &e);
    cr_expect(strstr(e.msg, "not its own domain") != NULL, "%s", e.msg);
}

/* A JWT with the payload given (the header and signature are not looked at). */
static void jwt(kt_secbuf *t, const char *payload)
{
    char *p = NULL;
    kt_err e;
    cr_assert_eq(kt_b64url_encode((const uint8_t *)payload, strlen(payload), &p, &e), KT_OK);
    char s[1024];
    snprintf(s, sizeof s, "eyJhbGciOiJSUzI1NiJ9.%s.c2ln", p);
    free(p);
    cr_assert_eq(kt_secbuf_alloc(t, strlen(s) + 1, &e), KT_OK);
    memcpy(t->p, s, strlen(s) + 1);
    t->len = strlen(s);
}

Test(challenge, token_audience)
{
    online_vault kv = vault_of("https://contoso.vault.azure.net"),
                 hsm = vault_of("https://contoso.managedhsm.azure.net"),
                 local = vault_of("https://127.0.0.1:8443");
    kt_secbuf t = {0};
    kt_err e;
    jwt(&t, "{\"aud\":\"https://management.azure.com/\",\"tid\":\"x\"}");
    cr_expect_eq(online_token_audience_check(&t, &kv, &e), KT_EDENIED);
    cr_expect(strstr(e.msg, "https://management.azure.com") != NULL, "%s", e.msg);
    cr_expect_eq(online_token_audience_check(&t, &local, &e), KT_OK, "the emulator takes any");
    kt_secbuf_free(&t);
    jwt(&t, "{\"aud\":\"https://vault.azure.net\"}");
    cr_expect_eq(online_token_audience_check(&t, &kv, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(online_token_audience_check(&t, &hsm, &e), KT_EDENIED);
    kt_secbuf_free(&t);
    jwt(&t, "{\"aud\":\"https://managedhsm.azure.net/\"}");
    cr_expect_eq(online_token_audience_check(&t, &hsm, &e), KT_OK, "%s", e.msg);
    kt_secbuf_free(&t);
    cr_assert_eq(kt_secbuf_alloc(&t, 32, &e), KT_OK);
    memcpy(t.p, "opaque-token-0123456789", 24);
    t.len = 23;
    cr_expect_eq(online_token_audience_check(&t, &kv, &e), KT_OK, "an opaque token goes as is");
    kt_secbuf_free(&t);
}
