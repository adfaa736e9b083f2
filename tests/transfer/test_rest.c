/*
 * test_rest.c - the emulator's REST handler (kek/serve.c, kek/vault.c) without a transport: the
 * challenge before any other check, the hosts, the api-version table, the Import Key members
 * refused by name, and Create Key's import-only KEKs read back by GET at every version.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "support/scratch.h"
#include "vault.h"

static char *dir;
static kek_cloud cloud;
static kek_rest rest;
static kt_secbuf token;
#define TOKEN "rest-test-token-0123456789"
#define AUTH  "Bearer " TOKEN

static void setup_cloud(void)
{
    char state[600], out[600];
    kek_vendor v;
    kek_init_result r;
    kt_err e;
    dir = ts_scratch();
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    cr_assert_eq(kek_vendor_load(NULL, NULL, &v, &e), KT_OK, "%s", e.msg);
    kek_init_opts o = {.region = "NA",
                       .out = out,
                       .state = state,
                       .vault = "rest-vault",
                       .kek_bits = 2048,
                       .vendor = &v};
    cr_assert_eq(kek_cloud_init(&o, &r, &e), KT_OK, "%s", e.msg);
    kek_vendor_free(&v);
    cr_assert_eq(kek_cloud_open(state, &cloud, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_secbuf_alloc(&token, sizeof TOKEN, &e), KT_OK);
    memcpy(token.p, TOKEN, sizeof TOKEN);
    token.len = sizeof TOKEN - 1;
    rest.cloud = &cloud;
    rest.token = &token;
    pthread_mutex_init(&rest.lock, NULL);
}

static void teardown_cloud(void)
{
    pthread_mutex_destroy(&rest.lock);
    kek_cloud_close(&cloud);
    kt_secbuf_free(&token);
    ts_rmrf(dir);
}

/* One request; the answer's body parsed into *out (the caller json_decref's it). */
static unsigned call(const char *method, const char *host, const char *path, const char *api,
                     const char *auth, const char *body, kek_rest_response *rs, json_t **out)
{
    kek_rest_request rq = {.method = method,
                           .path = path,
                           .api_version = api,
                           .authorization = auth,
                           .content_type = body ? "application/json" : NULL,
                           .host = host,
                           .body = (const uint8_t *)body,
                           .len = body ? strlen(body) : 0};
    kek_rest_handle(&rest, &rq, rs);
    json_error_t je;
    *out = json_loads(rs->body, 0, &je);
    cr_assert_not_null(*out, "%s: %s", rs->body, je.text);
    free(rs->body);
    rs->body = NULL;
    return rs->status;
}

static const char *message(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "message"));
}

#define VAULT_HOST "rest-vault.vault.azure.net"
#define MHSM_HOST  "rest-vault.managedhsm.azure.net:8443"

TestSuite(rest, .init = setup_cloud, .fini = teardown_cloud, .timeout = 120);

Test(rest, the_challenge_comes_before_anything_else)
{
    kek_rest_response rs;
    json_t *j;
    char tenant[37], want[200];
    kek_tenant_id(&cloud, tenant);
    /* a path, a method and an api-version that are all wrong: still 401 first */
    cr_expect_eq(call("DELETE", VAULT_HOST, "/secrets/x", "1.0", NULL, NULL, &rs, &j), 401);
    snprintf(want, sizeof want,
             "Bearer authorization=\"https://login.microsoftonline.com/%s\", "
             "resource=\"https://vault.azure.net\"",
             tenant);
    cr_expect_str_eq(rs.www_authenticate, want);
    json_decref(j);
    cr_expect_eq(
        call("PUT", MHSM_HOST, "/keys/k", "7.4", "Bearer wrong-token-0123456789", NULL, &rs, &j),
        401);
    cr_expect(strstr(rs.www_authenticate, "resource=\"https://managedhsm.azure.net\"") != NULL,
              "%s", rs.www_authenticate);
    json_decref(j);
    /* with the token, the other checks */
    cr_expect_eq(call("GET", "other-vault.vault.azure.net", "/keys/k", "7.4", AUTH, NULL, &rs, &j),
                 404);
    json_decref(j);
    cr_expect_eq(call("GET", VAULT_HOST, "/keys/k", "7.9", AUTH, NULL, &rs, &j), 400);
    cr_expect(strstr(message(j), "7.4-preview.1") != NULL, "%s", message(j));
    json_decref(j);
    cr_expect_eq(call("GET", MHSM_HOST, "/keys/k", "7.1", AUTH, NULL, &rs, &j), 400);
    cr_expect(strstr(message(j), "Managed HSM") != NULL, "%s", message(j));
    json_decref(j);
    cr_expect_eq(call("GET", VAULT_HOST, "/keys/k", "7.0-preview", AUTH, NULL, &rs, &j), 404);
    json_decref(j);
}

Test(rest, import_members_refused_by_name)
{
    static const struct {
        const char *api, *body, *named;
    } cases[] = {
        {"7.4", "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"managed\":true}", "managed"},
        {"7.4", "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"Hsm\":false}", "Hsm false"},
        {"7.4", "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"attributes\":{\"created\":1}}",
         "created"},
        {"7.2",
         "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"attributes\":{\"exportable\":false}}",
         "exportable is not in api-version 7.2"},
        {"7.4",
         "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"attributes\":{\"exportable\":true}}",
         "release policy"},
        {"7.3-preview",
         "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"release_policy\":{\"data\":"
         "\"e30\",\"immutable\":true}}",
         "immutable is not in api-version 7.3-preview"},
        {"7.4",
         "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"release_policy\":{\"data\":\"W10\"}}",
         "JSON object"},
        {"7.4", "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"tags\":{\"a\":1}}", "tag 'a'"},
        {"7.4",
         "{\"key\":{\"kty\":\"RSA-HSM\",\"key_hsm\":\"AA\"},\"attributes\":{\"nbf\":5,\"exp\":5}}",
         "after"},
        {"7.4", "{\"key\":{\"kty\":\"oct-HSM\",\"key_hsm\":\"AA\"}}", "Managed HSM"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kek_rest_response rs;
        json_t *j;
        cr_expect_eq(call("PUT", VAULT_HOST, "/keys/k", cases[i].api, AUTH, cases[i].body, &rs, &j),
                     400, "%s", cases[i].body);
        cr_expect(strstr(message(j), cases[i].named) != NULL, "%s: %s", cases[i].body, message(j));
        json_decref(j);
    }
}

Test(rest, create_makes_import_only_keks)
{
    kek_rest_response rs;
    json_t *j;
    static const char *const refused[] = {
        "{\"kty\":\"RSA\",\"key_ops\":[\"import\"]}",
        "{\"kty\":\"RSA-HSM\",\"key_ops\":[\"sign\",\"verify\"]}",
        "{\"kty\":\"RSA-HSM\",\"key_ops\":[\"import\",\"decrypt\"]}",
        "{\"kty\":\"RSA-HSM\",\"key_size\":1024,\"key_ops\":[\"import\"]}",
        "{\"kty\":\"RSA-HSM\",\"key_ops\":[\"import\"],\"attributes\":{\"exportable\":true}}",
        "{\"kty\":\"EC-HSM\",\"crv\":\"P-256\",\"key_ops\":[\"import\"]}",
        "{\"kty\":\"RSA-HSM\",\"key_ops\":[\"import\"],\"public_exponent\":3}",
        "{\"kty\":\"RSA-HSM\",\"key_ops\":[\"import\"],\"curve\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        cr_expect_eq(
            call("POST", VAULT_HOST, "/keys/kek1/create", "7.4", AUTH, refused[i], &rs, &j), 400,
            "%s", refused[i]);
        json_decref(j);
    }
    cr_assert_eq(call("POST", MHSM_HOST, "/keys/Kek1/create", "7.3", AUTH,
                      "{\"kty\":\"RSA-HSM\",\"key_size\":2048,\"key_ops\":[\"import\"],"
                      "\"attributes\":{\"enabled\":true},\"tags\":{\"use\":\"byok\"}}",
                      &rs, &j),
                 200);
    json_t *key = json_object_get(j, "key");
    const char *kid = json_string_value(json_object_get(key, "kid"));
    char kid_copy[PKG_KID_MAX + 1];
    snprintf(kid_copy, sizeof kid_copy, "%s", kid);
    cr_expect(strncmp(kid, "https://rest-vault.managedhsm.azure.net/keys/Kek1/", 50) == 0, "%s",
              kid);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(key, "key_ops"), 0)),
                     "import");
    cr_expect_eq(json_array_size(json_object_get(key, "key_ops")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "tags"), "use")), "byok");
    cr_expect(json_is_false(json_object_get(json_object_get(j, "attributes"), "exportable")));
    json_decref(j);
    /* the same name again */
    cr_expect_eq(call("POST", VAULT_HOST, "/keys/kek1/create", "7.4", AUTH,
                      "{\"kty\":\"RSA-HSM\",\"key_ops\":[\"import\"]}", &rs, &j),
                 409);
    json_decref(j);
    /* GET: by name, by version, at 7.0 (no exportable), on the vault host (its kid there) */
    char path[200];
    snprintf(path, sizeof path, "/keys/kek1/%s", strrchr(kid_copy, '/') + 1);
    cr_expect_eq(call("GET", MHSM_HOST, path, "7.2", AUTH, NULL, &rs, &j), 200);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "key"), "kid")),
                     kid_copy);
    cr_expect_null(json_object_get(json_object_get(j, "attributes"), "exportable"));
    json_decref(j);
    cr_expect_eq(call("GET", VAULT_HOST, "/keys/kek1/00000000000000000000000000000000", "7.4", AUTH,
                      NULL, &rs, &j),
                 404);
    json_decref(j);
    /* a .byok's kid naming it finds the KEK; another version or vault does not */
    world_key k;
    kt_err e;
    cr_expect_eq(kek_load_kek(&cloud, kid_copy, &k, &e), KT_OK, "%s", e.msg);
    world_key_free(&k);
    char other[PKG_KID_MAX + 1];
    snprintf(other, sizeof other, "%.*s%s", (int)(strrchr(kid_copy, '/') - kid_copy + 1), kid_copy,
             "0123456789abcdef0123456789abcdef");
    cr_expect_eq(kek_load_kek(&cloud, other, &k, &e), KT_EDENIED);
    cr_expect_eq(kek_load_kek(&cloud,
                              "https://another.vault.azure.net/keys/kek1/"
                              "0123456789abcdef0123456789abcdef",
                              &k, &e),
                 KT_EDENIED);
    /* the Managed HSM's KEK is not the key vault's: not by GET, not by a .byok's kid */
    cr_expect_eq(call("GET", VAULT_HOST, "/keys/kek1", "7.4", AUTH, NULL, &rs, &j), 404);
    cr_expect(strstr(message(j), "managed HSM") != NULL, "%s", message(j));
    json_decref(j);
    char in_vault[PKG_KID_MAX + 1];
    snprintf(in_vault, sizeof in_vault, "https://rest-vault.vault.azure.net%s",
             strstr(kid_copy, "/keys/"));
    cr_expect_eq(kek_load_kek(&cloud, in_vault, &k, &e), KT_EDENIED);
    cr_expect(strstr(e.msg, "Managed HSM") != NULL, "%s", e.msg);
    /* the cloud's own KEK answers with its kid */
    cr_expect_eq(call("GET", "127.0.0.1:8443", "/keys/KEKforBYOK", "7.4", AUTH, NULL, &rs, &j),
                 200);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "key"), "kid")),
                     cloud.kid);
    json_decref(j);
}
