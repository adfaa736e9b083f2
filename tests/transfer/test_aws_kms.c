/*
 * test_aws_kms.c - the emulated AWS KMS (kek/aws_kms.c) without a transport: the SigV4 header's
 * form (each malformed twin refused), the JSON 1.1 envelope, CreateKey's refusals, and a whole
 * import inside the process with every way ImportKeyMaterial can say no - another token, an
 * expired one, a ciphertext that does not open, material that is not the key spec's - before
 * the right one is taken.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_kms.h"
#include "support/scratch.h"

static char *dir;
static char state[600];
static kek_cloud cloud;
static kek_rest rest;
static kt_secbuf token;

#define DATE "20261203T061500Z"
#define SIG                                                                                        \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-west-1/kms/aws4_request, "                \
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "                                    \
    "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define JSON11 "application/x-amz-json-1.1"

static void setup_cloud(void)
{
    char out[600];
    kek_vendor v;
    kek_init_result r;
    kt_err e;
    dir = ts_scratch();
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    cr_assert_eq(kek_vendor_load(NULL, NULL, &v, &e), KT_OK, "%s", e.msg);
    kek_init_opts o = {.region = "EU",
                       .out = out,
                       .state = state,
                       .vault = "aws-test-vault",
                       .kek_bits = 2048,
                       .vendor = &v};
    cr_assert_eq(kek_cloud_init(&o, &r, &e), KT_OK, "%s", e.msg);
    kek_vendor_free(&v);
    cr_assert_eq(kek_cloud_open(state, &cloud, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_secbuf_alloc(&token, 32, &e), KT_OK);
    memcpy(token.p, "aws-kms-test-bearer-token-012345", 32);
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

/* One request to TrentService.<op>; the answer parsed into *out (json_decref it). */
static unsigned call_with(const char *op, const char *auth, const char *date, const char *ctype,
                          const char *body, json_t **out)
{
    char target[96];
    kek_rest_response rs;
    snprintf(target, sizeof target, "TrentService.%s", op);
    kek_aws_request rq = {.method = "POST",
                          .path = "/",
                          .target = target,
                          .authorization = auth,
                          .amz_date = date,
                          .content_type = ctype,
                          .body = (const uint8_t *)body,
                          .len = strlen(body)};
    kek_aws_handle(&rest, &rq, &rs);
    json_error_t je;
    *out = json_loads(rs.body, 0, &je);
    cr_assert_not_null(*out, "%s: %s", rs.body, je.text);
    free(rs.body);
    return rs.status;
}

static unsigned call(const char *op, const char *body, json_t **out)
{
    return call_with(op, SIG, DATE, JSON11, body, out);
}

static const char *type_of(json_t *j)
{
    const char *t = json_string_value(json_object_get(j, "__type"));
    return t != NULL ? t : "";
}

TestSuite(aws_kms, .init = setup_cloud, .fini = teardown_cloud, .timeout = 180);

Test(aws_kms, sigv4_must_be_well_formed)
{
    static const char *const bad[] = {
        "",
        "Bearer aws-kms-test-bearer-token-012345",
        "AWS4-HMAC-SHA1 Credential=AKIDEXAMPLE/20261203/eu-west-1/kms/aws4_request, "
        "SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
        "cdef",
        /* the date is not the X-Amz-Date's */
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/eu-west-1/kms/aws4_request, "
        "SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
        "cdef",
        /* another service */
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-west-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
        "cdef",
        /* an upper-case region, an empty access key, a short and an upper-case signature */
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/EU-WEST-1/kms/aws4_request, "
        "SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
        "cdef",
        "AWS4-HMAC-SHA256 Credential=/20261203/eu-west-1/kms/aws4_request, SignedHeaders=host, "
        "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-west-1/kms/aws4_request, "
        "SignedHeaders=host, Signature=0123456789abcdef",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-west-1/kms/aws4_request, "
        "SignedHeaders=host, Signature=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ab"
        "cdef",
        /* no signed headers */
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-west-1/kms/aws4_request, "
        "SignedHeaders=, "
        "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    };
    json_t *j;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(call_with("DescribeKey", bad[i], DATE, JSON11, "{}", &j), 400, "%zu", i);
        cr_expect_str_eq(type_of(j), "IncompleteSignatureException", "%zu", i);
        json_decref(j);
    }
    /* No X-Amz-Date, or one of another shape. */
    cr_expect_eq(call_with("DescribeKey", SIG, NULL, JSON11, "{}", &j), 400);
    cr_expect_str_eq(type_of(j), "IncompleteSignatureException");
    json_decref(j);
    cr_expect_eq(call_with("DescribeKey", SIG, "2026-12-03T06:15:00Z", JSON11, "{}", &j), 400);
    cr_expect_str_eq(type_of(j), "IncompleteSignatureException");
    json_decref(j);
    /* Well formed, whatever the credentials: the request goes on (and the key is not there). */
    cr_expect_eq(call("DescribeKey", "{\"KeyId\":\"00000000-0000-4000-8000-000000000000\"}", &j),
                 400);
    cr_expect_str_eq(type_of(j), "NotFoundException");
    json_decref(j);
}

Test(aws_kms, the_envelope_and_create_key_refusals)
{
    json_t *j;
    cr_expect_eq(call_with("CreateKey", SIG, DATE, "application/json", "{}", &j), 400);
    cr_expect_str_eq(type_of(j), "ValidationException");
    json_decref(j);
    cr_expect_eq(call("Encrypt", "{}", &j), 400);
    cr_expect_str_eq(type_of(j), "UnknownOperationException");
    json_decref(j);
    cr_expect_eq(call("CreateKey", "[]", &j), 400);
    cr_expect_str_eq(type_of(j), "SerializationException");
    json_decref(j);
    cr_expect_eq(call("CreateKey", "{\"Origin\":\"AWS_KMS\"}", &j), 400);
    cr_expect_str_eq(type_of(j), "UnsupportedOperationException");
    json_decref(j);
    cr_expect_eq(call("CreateKey", "{\"Origin\":\"EXTERNAL\",\"KeySpec\":\"HMAC_256\"}", &j), 400);
    cr_expect_str_eq(type_of(j), "ValidationException");
    json_decref(j);
    cr_expect_eq(call("CreateKey",
                      "{\"Origin\":\"EXTERNAL\",\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":"
                      "\"ENCRYPT_DECRYPT\"}",
                      &j),
                 400);
    cr_expect_str_eq(type_of(j), "ValidationException");
    json_decref(j);
    cr_expect_eq(call("CreateKey", "{\"Origin\":\"EXTERNAL\",\"Colour\":\"red\"}", &j), 400);
    cr_expect_str_eq(type_of(j), "ValidationException");
    json_decref(j);
}

/* A request body with KeyId and the given members (a JSON object's inside, may be ""). */
static char *body(const char *key_id, const char *more)
{
    char *s;
    cr_assert(asprintf(&s, "{\"KeyId\":\"%s\"%s%s}", key_id, more[0] ? "," : "", more) > 0);
    return s;
}

static char *b64(const uint8_t *p, size_t n)
{
    char *s;
    kt_err e;
    cr_assert_eq(pkg_aws_b64_encode(p, n, &s, &e), KT_OK);
    return s;
}

/* ImportKeyMaterial with this token and ciphertext: the answer's __type ("" for 200). */
static const char *import(const char *id, const uint8_t *tok, size_t toklen, const uint8_t *ct,
                          size_t ctlen, char *type, size_t typesz)
{
    char *t64 = b64(tok, toklen), *c64 = b64(ct, ctlen), *more, *b;
    json_t *j;
    cr_assert(asprintf(&more,
                       "\"ImportToken\":\"%s\",\"EncryptedKeyMaterial\":\"%s\",\"ExpirationModel\":"
                       "\"KEY_MATERIAL_DOES_NOT_EXPIRE\"",
                       t64, c64) > 0);
    b = body(id, more);
    unsigned st = call("ImportKeyMaterial", b, &j);
    snprintf(type, typesz, "%s", st == 200 ? "" : type_of(j));
    json_decref(j);
    free(t64);
    free(c64);
    free(more);
    free(b);
    return type;
}

Test(aws_kms, a_whole_import_and_each_refusal)
{
    json_t *j, *p;
    kt_err e;
    char type[64];

    cr_assert_eq(call("CreateKey", "{\"Origin\":\"EXTERNAL\",\"Description\":\"unit\"}", &j), 200);
    json_t *meta = json_object_get(j, "KeyMetadata");
    char id[40];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(meta, "KeyId")));
    cr_assert_str_eq(json_string_value(json_object_get(meta, "KeyState")), "PendingImport");
    cr_assert(strncmp(json_string_value(json_object_get(meta, "Arn")),
                      "arn:aws:kms:eu-west-1:111122223333:key/", 39) == 0);
    json_decref(j);

    char *b = body(id, "\"WrappingAlgorithm\":\"RSAES_OAEP_SHA_256\",\"WrappingKeySpec\":"
                       "\"RSA_2048\"");
    cr_assert_eq(call("GetParametersForImport", b, &p), 200);
    free(b);
    kt_buf der = {0}, tok = {0};
    cr_assert_eq(
        pkg_aws_b64_decode(json_string_value(json_object_get(p, "PublicKey")), 4096, &der, &e),
        KT_OK);
    cr_assert_eq(
        pkg_aws_b64_decode(json_string_value(json_object_get(p, "ImportToken")), 4096, &tok, &e),
        KT_OK);
    json_decref(p);
    EVP_PKEY *wk = NULL;
    cr_assert_eq(kt_spki_decode(der.p, der.len, &wk, &e), KT_OK);

    uint8_t aes[32], short_key[16];
    kt_random(aes, sizeof aes);
    kt_random(short_key, sizeof short_key);
    kt_buf ct = {0}, ct_short = {0};
    cr_assert_eq(pkg_aws_wrap(wk, PKG_AWS_RSAES_OAEP_SHA_256, aes, 32, &ct, &e), KT_OK);
    cr_assert_eq(pkg_aws_wrap(wk, PKG_AWS_RSAES_OAEP_SHA_256, short_key, 16, &ct_short, &e), KT_OK);

    /* Another token; a ciphertext changed by one bit; AES-128 for a SYMMETRIC_DEFAULT key. */
    uint8_t other[64];
    memcpy(other, tok.p, tok.len < 64 ? tok.len : 64);
    other[3] ^= 1;
    cr_expect_str_eq(import(id, other, tok.len, ct.p, ct.len, type, sizeof type),
                     "InvalidImportTokenException");
    ct.p[100] ^= 1;
    cr_expect_str_eq(import(id, tok.p, tok.len, ct.p, ct.len, type, sizeof type),
                     "InvalidCiphertextException");
    ct.p[100] ^= 1;
    cr_expect_str_eq(import(id, tok.p, tok.len, ct_short.p, ct_short.len, type, sizeof type),
                     "IncorrectKeyMaterialException");

    /* The parameters' 24 hours, run out in the state file. */
    char path[700];
    snprintf(path, sizeof path, "%s/aws-kms/%s.json", state, id);
    json_error_t je;
    json_t *st = json_load_file(path, 0, &je);
    cr_assert_not_null(st, "%s", je.text);
    json_int_t valid_to = json_integer_value(json_object_get(st, "ParametersValidTo"));
    json_object_set_new(st, "ParametersValidTo", json_integer(1000));
    cr_assert_eq(json_dump_file(st, path, 0), 0);
    cr_expect_str_eq(import(id, tok.p, tok.len, ct.p, ct.len, type, sizeof type),
                     "ExpiredImportTokenException");
    json_object_set_new(st, "ParametersValidTo", json_integer(valid_to));
    cr_assert_eq(json_dump_file(st, path, 0), 0);
    json_decref(st);

    /* The right one: taken, the state Enabled, the HSM holding the very bytes. */
    cr_expect_str_eq(import(id, tok.p, tok.len, ct.p, ct.len, type, sizeof type), "");
    b = body(id, "");
    cr_assert_eq(call("DescribeKey", b, &j), 200);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(j, "KeyMetadata"), "KeyState")),
        "Enabled");
    json_decref(j);
    world_key k = {0};
    cr_assert_eq(world_key_load(&cloud.paths, &cloud.module, "awskms", id, &k, &e), KT_OK, "%s",
                 e.msg);
    cr_expect_eq(k.material.len, 32);
    cr_expect_eq(memcmp(k.material.p, aes, 32), 0);
    cr_expect(!world_acl_allows(&k.info.acl, WORLD_ACT_EXPORT_WRAPPED, NULL, NULL));
    world_key_free(&k);
    /* A symmetric key has no public key; the token is spent. */
    cr_expect_eq(call("GetPublicKey", b, &j), 400);
    cr_expect_str_eq(type_of(j), "UnsupportedOperationException");
    json_decref(j);
    cr_expect_str_eq(import(id, tok.p, tok.len, ct.p, ct.len, type, sizeof type),
                     "InvalidImportTokenException");
    free(b);
    kt_buf_free(&der);
    kt_buf_free(&tok);
    kt_buf_free(&ct);
    kt_buf_free(&ct_short);
    EVP_PKEY_free(wk);
}
