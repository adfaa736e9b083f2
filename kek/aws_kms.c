/*
 * aws_kms.c - the emulated AWS KMS of `keytransfer-cloud serve` (aws_kms.h): the JSON 1.1
 * operations of an import of key material, with the wrapping keys and the imported material
 * inside the emulated cloud HSM (a security world, as for Key Vault) and each key's metadata in
 * <state>/aws-kms/<key id>.json, written with the careful writer.
 */
#include "aws_kms.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "kek_internal.h"

#define AWS_APP_WRAP     "awswrap"
#define AWS_APP_KEY      "awskms"
#define AWS_ACCOUNT      "111122223333"
#define AWS_BODY_MAX     (64 * 1024)
#define AWS_STATE_MAX    (64 * 1024)
#define AWS_TOKEN_BYTES  64
#define AWS_PARAMS_HOURS 24

/* ---- answers ------------------------------------------------------------------------------ */

static void answer(kek_rest_response *rs, unsigned status, json_t *v)
{
    kt_err e;
    char *s = NULL;
    rs->status = status;
    if (v == NULL || kt_json_dump(v, false, &s, &e) != KT_OK) {
        rs->status = 500;
        snprintf(rs->code, sizeof rs->code, "KMSInternalException");
        s = strdup("{\"__type\":\"KMSInternalException\",\"message\":\"out of memory\"}");
    }
    json_decref(v);
    rs->body = s;
}

static void fail(kek_rest_response *rs, unsigned status, const char *type, const char *fmt, ...)
    KT_PRINTF(4, 5);

static void fail(kek_rest_response *rs, unsigned status, const char *type, const char *fmt, ...)
{
    char msg[KT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(rs->code, sizeof rs->code, "%s", type);
    answer(rs, status, json_pack("{s:s, s:s}", "__type", type, "message", msg));
}

/* A library error: the caller's mistakes are 400 ValidationException, ours 500. */
static void fail_rc(kek_rest_response *rs, const kt_err *e)
{
    if (e->rc == KT_EUSAGE || e->rc == KT_EFORMAT || e->rc == KT_ETOOBIG || e->rc == KT_EDENIED)
        fail(rs, 400, "ValidationException", "%s", e->msg);
    else if (e->rc == KT_ENOENT)
        fail(rs, 400, "NotFoundException", "%s", e->msg);
    else
        fail(rs, 500, "KMSInternalException", "%s", e->msg);
}

/* ---- SigV4, as far as it can be checked without the caller's secret ------------------------ */

/* "AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/kms/aws4_request, SignedHeaders=a;b,
 * Signature=<64 hex>": region receives REGION. */
static bool sigv4_ok(const char *auth, const char *amz_date, char *region, size_t regionsz)
{
    static const char algo[] = "AWS4-HMAC-SHA256 Credential=";
    const char *p, *slash[4];
    size_t n;

    if (auth == NULL || amz_date == NULL || strncmp(auth, algo, sizeof algo - 1) != 0)
        return false;
    /* X-Amz-Date: YYYYMMDDTHHMMSSZ */
    if (strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z' ||
        strspn(amz_date, "0123456789") != 8 || strspn(amz_date + 9, "0123456789") != 6)
        return false;
    p = auth + sizeof algo - 1;
    for (size_t i = 0; i < 4; i++) {
        slash[i] = strchr(i == 0 ? p : slash[i - 1] + 1, '/');
        if (slash[i] == NULL)
            return false;
    }
    if (slash[0] == p || (size_t)(slash[1] - slash[0] - 1) != 8 ||
        strncmp(slash[0] + 1, amz_date, 8) != 0)
        return false;
    n = (size_t)(slash[2] - slash[1] - 1);
    if (n == 0 || n >= regionsz)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)slash[1][1 + i]) || isdigit((unsigned char)slash[1][1 + i]) ||
              slash[1][1 + i] == '-'))
            return false;
    memcpy(region, slash[1] + 1, n);
    region[n] = '\0';
    if (strncmp(slash[2], "/kms/aws4_request, SignedHeaders=", 33) != 0)
        return false;
    p = slash[2] + 33;
    const char *sig = strstr(p, ", Signature=");
    if (sig == NULL || sig == p)
        return false;
    for (const char *c = p; c < sig; c++)
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-' || *c == ';'))
            return false;
    sig += 12;
    return strlen(sig) == 64 && strspn(sig, "0123456789abcdef") == 64;
}

/* ---- key state ---------------------------------------------------------------------------- */

typedef struct spec {
    const char *name;
    world_key_type type;
    unsigned bits;
    const char *curve;
    const char *usage; /* the default KeyUsage */
} spec;

static const spec specs[] = {
    {"SYMMETRIC_DEFAULT", WORLD_KEY_AES, 256, "", "ENCRYPT_DECRYPT"},
    {"RSA_2048", WORLD_KEY_RSA, 2048, "", "ENCRYPT_DECRYPT"},
    {"RSA_3072", WORLD_KEY_RSA, 3072, "", "ENCRYPT_DECRYPT"},
    {"RSA_4096", WORLD_KEY_RSA, 4096, "", "ENCRYPT_DECRYPT"},
    {"ECC_NIST_P256", WORLD_KEY_EC, 256, "P-256", "SIGN_VERIFY"},
    {"ECC_NIST_P384", WORLD_KEY_EC, 384, "P-384", "SIGN_VERIFY"},
    {"ECC_NIST_P521", WORLD_KEY_EC, 521, "P-521", "SIGN_VERIFY"},
    {"ECC_SECG_P256K1", WORLD_KEY_EC, 256, "secp256k1", "SIGN_VERIFY"},
};

static const spec *spec_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

/* A key of the emulated KMS: its metadata, and the parameters of its last
 * GetParametersForImport. */
typedef struct aws_key {
    char id[37];
    char arn[160];
    char region[32];
    char spec[24];
    char usage[24];
    char state[24]; /* PendingImport or Enabled */
    char description[256];
    char expiration[40];
    uint64_t created;
    unsigned params;     /* how many GetParametersForImport (names the wrapping keys) */
    char wrapping[32];   /* of the current parameters; "" none */
    char wrap_ident[64]; /* their wrapping key: key_awswrap_<wrap_ident>; "" none */
    char token_hex[2 * AWS_TOKEN_BYTES + 1];
    uint64_t valid_to;
    char material_hash[65]; /* hex of the world's key hash of the imported material */
} aws_key;

static kt_rc key_path(const kek_cloud *c, const char *id, char *out, size_t outsz, kt_err *e)
{
    int n = snprintf(out, outsz, "%s/aws-kms/%s.json", c->state, id);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "the state folder path is too long");
    return KT_OK;
}

static kt_rc key_save(const kek_cloud *c, const aws_key *k, bool replace, kt_err *e)
{
    char path[PATH_MAX], dir[PATH_MAX], *text = NULL;
    kt_rc rc;

    int n = snprintf(dir, sizeof dir, "%s/aws-kms", c->state);
    if (n < 0 || (size_t)n >= sizeof dir)
        return kt_fail(e, KT_EUSAGE, "the state folder path is too long");
    if ((rc = kt_dir_ensure(dir, e)) != KT_OK || (rc = key_path(c, k->id, path, sizeof path, e)))
        return rc;
    json_t *v = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:s}", "format",
        "keytransfer-aws-kms-key/1", "KeyId", k->id, "Arn", k->arn, "Region", k->region, "KeySpec",
        k->spec, "KeyUsage", k->usage, "KeyState", k->state, "Description", k->description,
        "CreationDate", (json_int_t)k->created, "Params", (json_int_t)k->params,
        "WrappingAlgorithm", k->wrapping, "ImportToken", k->token_hex, "ParametersValidTo",
        (json_int_t)k->valid_to, "KeyMaterialHash", k->material_hash);
    if (v != NULL)
        json_object_set_new(v, "WrappingKey", json_string(k->wrap_ident));
    if (v != NULL && k->expiration[0] != '\0')
        json_object_set_new(v, "ExpirationModel", json_string(k->expiration));
    rc = v != NULL ? kt_json_dump(v, true, &text, e) : kt_fail(e, KT_ENOMEM, "out of memory");
    json_decref(v);
    if (rc == KT_OK)
        rc = kt_file_write(path, text, strlen(text), replace ? KT_WRITE_REPLACE : KT_WRITE_NEW, e);
    free(text);
    return rc;
}

static kt_rc copy_str(const json_t *j, const char *key, char *out, size_t outsz, kt_err *e)
{
    return kt_json_copy_string(j, key, "AWS KMS key state", 0, out, outsz, e);
}

static kt_rc key_load(const kek_cloud *c, const char *id, aws_key *k, kt_err *e)
{
    char path[PATH_MAX];
    kt_buf raw = {0};
    json_t *j = NULL;
    int64_t created, params, valid_to;
    kt_rc rc;

    memset(k, 0, sizeof *k);
    if ((rc = key_path(c, id, path, sizeof path, e)) != KT_OK)
        return rc;
    if ((rc = kt_file_read(path, AWS_STATE_MAX, &raw, e)) != KT_OK)
        return rc;
    rc = kt_json_parse(raw.p, raw.len, AWS_STATE_MAX, &j, e);
    kt_buf_free(&raw);
    if (rc != KT_OK)
        return rc;
    if ((rc = copy_str(j, "KeyId", k->id, sizeof k->id, e)) ||
        (rc = copy_str(j, "Arn", k->arn, sizeof k->arn, e)) ||
        (rc = copy_str(j, "Region", k->region, sizeof k->region, e)) ||
        (rc = copy_str(j, "KeySpec", k->spec, sizeof k->spec, e)) ||
        (rc = copy_str(j, "KeyUsage", k->usage, sizeof k->usage, e)) ||
        (rc = copy_str(j, "KeyState", k->state, sizeof k->state, e)) ||
        (rc = copy_str(j, "Description", k->description, sizeof k->description, e)) ||
        (rc = copy_str(j, "WrappingAlgorithm", k->wrapping, sizeof k->wrapping, e)) ||
        (rc = copy_str(j, "ImportToken", k->token_hex, sizeof k->token_hex, e)) ||
        (rc = copy_str(j, "WrappingKey", k->wrap_ident, sizeof k->wrap_ident, e)) ||
        (rc = copy_str(j, "KeyMaterialHash", k->material_hash, sizeof k->material_hash, e)) ||
        (rc = kt_json_get_int(j, "CreationDate", "AWS KMS key state", 0, INT64_MAX, &created, e)) ||
        (rc = kt_json_get_int(j, "Params", "AWS KMS key state", 0, 1000000, &params, e)) ||
        (rc = kt_json_get_int(j, "ParametersValidTo", "AWS KMS key state", 0, INT64_MAX, &valid_to,
                              e)))
        goto out;
    if (json_object_get(j, "ExpirationModel") != NULL &&
        (rc = copy_str(j, "ExpirationModel", k->expiration, sizeof k->expiration, e)))
        goto out;
    k->created = (uint64_t)created;
    k->params = (unsigned)params;
    k->valid_to = (uint64_t)valid_to;
    if (strcmp(k->id, id) != 0 || spec_by_name(k->spec) == NULL)
        rc = kt_fail(e, KT_EFORMAT, "AWS KMS key state for %s is damaged", id);
out:
    json_decref(j);
    return rc;
}

/* The key named by KeyId: a key ID (a UUID) or its ARN. */
static bool resolve(const kek_cloud *c, const json_t *body, aws_key *k, kek_rest_response *rs)
{
    const char *id;
    kt_err e;

    kt_err_clear(&e);
    if (kt_json_get_string(body, "KeyId", "the request", &id, &e) != KT_OK) {
        fail(rs, 400, "ValidationException", "KeyId is required: %s", e.msg);
        return false;
    }
    const char *slash = strrchr(id, '/');
    const char *uuid = strncmp(id, "arn:aws:kms:", 12) == 0 && slash != NULL ? slash + 1 : id;
    if (strlen(uuid) != 36 || strspn(uuid, "0123456789abcdef-") != 36) {
        fail(rs, 400, "NotFoundException", "Invalid keyId %.80s", id);
        return false;
    }
    if (key_load(c, uuid, k, &e) != KT_OK) {
        if (e.rc == KT_ENOENT)
            fail(rs, 400, "NotFoundException", "Key '%.80s' does not exist", id);
        else
            fail_rc(rs, &e);
        return false;
    }
    if (uuid != id && strcmp(id, k->arn) != 0) {
        fail(rs, 400, "NotFoundException", "Key '%.80s' does not exist", id);
        return false;
    }
    return true;
}

static json_t *metadata(const aws_key *k)
{
    const spec *s = spec_by_name(k->spec);
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:I, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "AWSAccountId",
        AWS_ACCOUNT, "KeyId", k->id, "Arn", k->arn, "CreationDate", (json_int_t)k->created,
        "Enabled", strcmp(k->state, "Enabled") == 0, "Description", k->description, "KeyUsage",
        k->usage, "KeyState", k->state, "Origin", "EXTERNAL", "KeyManager", "CUSTOMER",
        "CustomerMasterKeySpec", k->spec, "KeySpec", k->spec, "MultiRegion", false);
    if (m == NULL)
        return NULL;
    if (k->expiration[0] != '\0')
        json_object_set_new(m, "ExpirationModel", json_string(k->expiration));
    if (s != NULL && strcmp(k->usage, "ENCRYPT_DECRYPT") == 0)
        json_object_set_new(m, "EncryptionAlgorithms",
                            s->type == WORLD_KEY_AES
                                ? json_pack("[s]", "SYMMETRIC_DEFAULT")
                                : json_pack("[s, s]", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"));
    else if (s != NULL && s->type == WORLD_KEY_RSA)
        json_object_set_new(m, "SigningAlgorithms",
                            json_pack("[s, s, s, s, s, s]", "RSASSA_PSS_SHA_256",
                                      "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                                      "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                                      "RSASSA_PKCS1_V1_5_SHA_512"));
    else if (s != NULL && s->type == WORLD_KEY_EC)
        json_object_set_new(m, "SigningAlgorithms",
                            json_pack("[s]", s->bits == 521   ? "ECDSA_SHA_512"
                                             : s->bits == 384 ? "ECDSA_SHA_384"
                                                              : "ECDSA_SHA_256"));
    return m;
}

/* ---- operations --------------------------------------------------------------------------- */

static const char *opt_string(const json_t *body, const char *key)
{
    const json_t *v = json_object_get(body, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void create_key(kek_rest *s, const json_t *body, const char *region, kek_rest_response *rs)
{
    static const char *const members[] = {
        "Origin", "KeySpec", "CustomerMasterKeySpec",          "KeyUsage",    "Description",
        "Tags",   "Policy",  "BypassPolicyLockoutSafetyCheck", "MultiRegion", NULL};
    const char *origin = opt_string(body, "Origin"), *spec_name = opt_string(body, "KeySpec");
    const char *usage = opt_string(body, "KeyUsage"), *desc = opt_string(body, "Description");
    aws_key k;
    uint8_t u[16];
    kt_err e;

    kt_err_clear(&e);
    if (kt_json_only_keys(body, members, "CreateKey", &e) != KT_OK) {
        fail(rs, 400, "ValidationException", "%s", e.msg);
        return;
    }
    if (origin == NULL || strcmp(origin, "EXTERNAL") != 0) {
        fail(rs, 400, "UnsupportedOperationException",
             "this emulator creates keys for imported key material only: Origin EXTERNAL");
        return;
    }
    if (spec_name == NULL)
        spec_name = opt_string(body, "CustomerMasterKeySpec");
    const spec *sp = spec_by_name(spec_name != NULL ? spec_name : "SYMMETRIC_DEFAULT");
    if (sp == NULL) {
        fail(rs, 400, "ValidationException", "KeySpec %.40s is not one this emulator imports",
             spec_name);
        return;
    }
    if (usage == NULL)
        usage = sp->usage;
    bool usage_ok = strcmp(usage, sp->usage) == 0 ||
                    (sp->type == WORLD_KEY_RSA && strcmp(usage, "SIGN_VERIFY") == 0);
    if (!usage_ok) {
        fail(rs, 400, "ValidationException", "KeyUsage %.40s is not valid for KeySpec %s", usage,
             sp->name);
        return;
    }
    memset(&k, 0, sizeof k);
    /* RFC 9562 §5.4: a version 4 UUID. */
    kt_random(u, sizeof u);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(k.id, sizeof k.id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    snprintf(k.region, sizeof k.region, "%s", region);
    snprintf(k.arn, sizeof k.arn, "arn:aws:kms:%s:%s:key/%s", region, AWS_ACCOUNT, k.id);
    snprintf(k.spec, sizeof k.spec, "%s", sp->name);
    snprintf(k.usage, sizeof k.usage, "%s", usage);
    snprintf(k.state, sizeof k.state, "PendingImport");
    snprintf(k.description, sizeof k.description, "%.255s", desc != NULL ? desc : "");
    for (char *c = k.description; *c; c++)
        if (!isprint((unsigned char)*c))
            *c = '?';
    k.created = (uint64_t)time(NULL);
    if (key_save(s->cloud, &k, false, &e) != KT_OK) {
        fail_rc(rs, &e);
        return;
    }
    answer(rs, 200, json_pack("{s:o}", "KeyMetadata", metadata(&k)));
}

static void describe_key(kek_rest *s, const json_t *body, kek_rest_response *rs)
{
    aws_key k;
    if (resolve(s->cloud, body, &k, rs))
        answer(rs, 200, json_pack("{s:o}", "KeyMetadata", metadata(&k)));
}

/* A wrapping key's ident: the key's id and 8 random bytes, so that a set handed out before a
 * crash (its key written, the state not) never stands in the way of the next one. */
static void wrap_ident(const aws_key *k, char *out, size_t outsz)
{
    uint8_t r[8];
    char hex[17];
    kt_random(r, sizeof r);
    kt_hex(hex, r, sizeof r);
    snprintf(out, outsz, "%.36s-%s", k->id, hex);
}

static void get_parameters(kek_rest *s, const json_t *body, kek_rest_response *rs)
{
    static const char *const members[] = {"KeyId", "WrappingAlgorithm", "WrappingKeySpec", NULL};
    const char *alg = opt_string(body, "WrappingAlgorithm");
    const char *kspec = opt_string(body, "WrappingKeySpec");
    world_acl acl = {.ngroups = 1, .groups = {{.actions = WORLD_ACT_IMPORT_UNWRAP}}};
    world_key wk = {0};
    char ident[64], *pub64 = NULL, *tok64 = NULL;
    uint8_t token[AWS_TOKEN_BYTES];
    pkg_aws_wrapping w;
    unsigned bits;
    aws_key k;
    kt_err e;

    kt_err_clear(&e);
    if (kt_json_only_keys(body, members, "GetParametersForImport", &e) != KT_OK) {
        fail(rs, 400, "ValidationException", "%s", e.msg);
        return;
    }
    if (!resolve(s->cloud, body, &k, rs))
        return;
    if (alg == NULL || pkg_aws_wrapping_parse(alg, &w, &e) != KT_OK) {
        fail(rs, 400, "ValidationException", "WrappingAlgorithm: %s",
             alg == NULL ? "required" : e.msg);
        return;
    }
    if (kspec == NULL || (strcmp(kspec, "RSA_2048") != 0 && strcmp(kspec, "RSA_3072") != 0 &&
                          strcmp(kspec, "RSA_4096") != 0)) {
        fail(rs, 400, "ValidationException",
             "WrappingKeySpec must be RSA_2048, RSA_3072 or RSA_4096");
        return;
    }
    if (strcmp(k.state, "PendingImport") != 0) {
        fail(rs, 400, "UnsupportedOperationException",
             "key %s is %s; this emulator imports into a PendingImport key only", k.id, k.state);
        return;
    }
    bits = (unsigned)strtoul(kspec + 4, NULL, 10);
    /* A fresh wrapping key pair inside the HSM, which may only unwrap an import. */
    wrap_ident(&k, ident, sizeof ident);
    world_key_gen_opts g = {
        .type = WORLD_KEY_RSA, .bits = bits, .app = AWS_APP_WRAP, .ident = ident, .acl = &acl};
    kt_buf der = {0};
    if (world_key_generate(&s->cloud->paths, &s->cloud->module, &g, NULL, &e) != KT_OK ||
        world_key_load(&s->cloud->paths, &s->cloud->module, AWS_APP_WRAP, ident, &wk, &e) !=
            KT_OK ||
        kt_spki_encode(wk.pkey, &der, &e) != KT_OK ||
        pkg_aws_b64_encode(der.p, der.len, &pub64, &e) != KT_OK) {
        fail_rc(rs, &e);
        goto out;
    }
    kt_random(token, sizeof token);
    kt_hex(k.token_hex, token, sizeof token);
    if (pkg_aws_b64_encode(token, sizeof token, &tok64, &e) != KT_OK) {
        fail_rc(rs, &e);
        goto out;
    }
    k.params++;
    snprintf(k.wrap_ident, sizeof k.wrap_ident, "%s", ident);
    snprintf(k.wrapping, sizeof k.wrapping, "%s", pkg_aws_wrapping_name(w));
    k.valid_to = (uint64_t)time(NULL) + AWS_PARAMS_HOURS * 3600u;
    if (key_save(s->cloud, &k, true, &e) != KT_OK) {
        fail_rc(rs, &e);
        goto out;
    }
    answer(rs, 200,
           json_pack("{s:s, s:s, s:s, s:I}", "KeyId", k.arn, "ImportToken", tok64, "PublicKey",
                     pub64, "ParametersValidTo", (json_int_t)k.valid_to));
out:
    kt_wipe(token, sizeof token);
    kt_buf_free(&der);
    world_key_free(&wk);
    free(pub64);
    free(tok64);
}

/* The unwrapped material is the key the KeySpec says: 32 bytes, or PKCS#8 of that RSA size or
 * curve. */
static bool material_fits(const spec *sp, world_key *m, kt_err *e)
{
    if (sp->type == WORLD_KEY_AES)
        return m->material.len == 32 && world_key_describe(m, WORLD_KEY_AES, e) == KT_OK;
    if (world_key_describe(m, sp->type, e) != KT_OK)
        return false;
    if (sp->type == WORLD_KEY_RSA)
        return m->info.bits == sp->bits;
    return strcmp(m->info.curve, sp->curve) == 0;
}

static void import_material(kek_rest *s, const json_t *body, kek_rest_response *rs)
{
    static const char *const members[] = {"KeyId",           "ImportToken", "EncryptedKeyMaterial",
                                          "ExpirationModel", "ValidTo",     NULL};
    const char *tok64 = opt_string(body, "ImportToken");
    const char *ekm64 = opt_string(body, "EncryptedKeyMaterial");
    const char *model = opt_string(body, "ExpirationModel");
    kt_buf tok = {0}, ekm = {0};
    uint8_t want[AWS_TOKEN_BYTES];
    world_key wk = {0}, m = {0};
    char ident[64];
    pkg_aws_wrapping w;
    aws_key k;
    kt_err e;

    kt_err_clear(&e);
    if (kt_json_only_keys(body, members, "ImportKeyMaterial", &e) != KT_OK) {
        fail(rs, 400, "ValidationException", "%s", e.msg);
        return;
    }
    if (!resolve(s->cloud, body, &k, rs))
        return;
    if (tok64 == NULL || ekm64 == NULL) {
        fail(rs, 400, "ValidationException", "ImportToken and EncryptedKeyMaterial are required");
        return;
    }
    if (model != NULL && strcmp(model, "KEY_MATERIAL_DOES_NOT_EXPIRE") != 0 &&
        strcmp(model, "KEY_MATERIAL_EXPIRES") != 0) {
        fail(rs, 400, "ValidationException", "ExpirationModel %.40s is not known", model);
        return;
    }
    if (model != NULL && strcmp(model, "KEY_MATERIAL_EXPIRES") == 0 &&
        json_object_get(body, "ValidTo") == NULL) {
        fail(rs, 400, "ValidationException", "KEY_MATERIAL_EXPIRES needs ValidTo");
        return;
    }
    if (strcmp(k.state, "PendingImport") != 0 || k.wrapping[0] == '\0') {
        fail(rs, 400, "InvalidImportTokenException",
             "key %s has no import parameters to import with (it is %s)", k.id, k.state);
        return;
    }
    /* The token: the one the last GetParametersForImport returned, and still valid. */
    if (pkg_aws_b64_decode(tok64, AWS_BODY_MAX, &tok, &e) != KT_OK ||
        kt_unhex(want, sizeof want, k.token_hex, &e) != KT_OK || tok.len != sizeof want ||
        !kt_ct_equal(tok.p, want, sizeof want)) {
        fail(rs, 400, "InvalidImportTokenException",
             "the import token is not the one GetParametersForImport last returned for key %s",
             k.id);
        goto out;
    }
    if ((uint64_t)time(NULL) >= k.valid_to) {
        fail(rs, 400, "ExpiredImportTokenException", "the import token of key %s has expired",
             k.id);
        goto out;
    }
    /* Inside the HSM: the wrapping key may only unwrap; the material lives in secure memory. */
    snprintf(ident, sizeof ident, "%s", k.wrap_ident);
    if (pkg_aws_b64_decode(ekm64, AWS_BODY_MAX, &ekm, &e) != KT_OK) {
        fail(rs, 400, "ValidationException", "EncryptedKeyMaterial: %s", e.msg);
        goto out;
    }
    if (pkg_aws_wrapping_parse(k.wrapping, &w, &e) != KT_OK ||
        world_key_load(&s->cloud->paths, &s->cloud->module, AWS_APP_WRAP, ident, &wk, &e) !=
            KT_OK) {
        fail_rc(rs, &e);
        goto out;
    }
    if (!world_acl_allows(&wk.info.acl, WORLD_ACT_IMPORT_UNWRAP, NULL, NULL)) {
        fail(rs, 500, "KMSInternalException", "the wrapping key may not unwrap");
        goto out;
    }
    if (pkg_aws_unwrap(wk.pkey, w, ekm.p, ekm.len, &m.material, &e) != KT_OK) {
        fail(rs, 400, "InvalidCiphertextException",
             "the key material could not be unwrapped with %s and this key's wrapping key",
             k.wrapping);
        goto out;
    }
    const spec *sp = spec_by_name(k.spec);
    if (sp == NULL || !material_fits(sp, &m, &e)) {
        fail(rs, 400, "IncorrectKeyMaterialException", "the key material is not %s key material",
             k.spec);
        goto out;
    }
    /* Stored as a usable, never exportable key of the cloud world. */
    world_acl_default(m.info.type, &m.info.acl);
    m.info.acl.groups[0].actions &= ~(uint32_t)(WORLD_ACT_EXPORT_WRAPPED | WORLD_ACT_REDUCE_ACL);
    snprintf(m.info.app, sizeof m.info.app, "%s", AWS_APP_KEY);
    snprintf(m.info.ident, sizeof m.info.ident, "%s", k.id);
    snprintf(m.info.plainname, sizeof m.info.plainname, "aws-kms-%.100s", k.id);
    m.info.created = (uint64_t)time(NULL);
    /* Material stored before a crash that kept the state from saying so is taken again when it
     * is the same key; other material for this key is refused. */
    world_key_info stored;
    kt_err ignored;
    if (world_key_inspect(&s->cloud->paths, &s->cloud->module, AWS_APP_KEY, k.id, &stored,
                          &ignored) == KT_OK) {
        if (!kt_ct_equal(stored.key_hash, m.info.key_hash, 32)) {
            fail(rs, 400, "IncorrectKeyMaterialException",
                 "key %s already holds other key material", k.id);
            goto out;
        }
    } else if (world_key_save(&s->cloud->paths, &s->cloud->module, &m, &e) != KT_OK) {
        fail_rc(rs, &e);
        goto out;
    }
    kt_hex(k.material_hash, m.info.key_hash, 32);
    snprintf(k.state, sizeof k.state, "Enabled");
    snprintf(k.expiration, sizeof k.expiration, "%s",
             model != NULL ? model : "KEY_MATERIAL_EXPIRES");
    k.wrapping[0] = '\0';
    k.token_hex[0] = '\0';
    k.wrap_ident[0] = '\0';
    if (key_save(s->cloud, &k, true, &e) != KT_OK) {
        fail_rc(rs, &e);
        goto out;
    }
    answer(rs, 200, json_object());
out:
    kt_wipe(want, sizeof want);
    kt_buf_free(&tok);
    kt_buf_free(&ekm);
    world_key_free(&wk);
    world_key_free(&m);
}

static void get_public_key(kek_rest *s, const json_t *body, kek_rest_response *rs)
{
    static const char *const members[] = {"KeyId", "GrantTokens", NULL};
    world_key_info info;
    char *pub64 = NULL;
    aws_key k;
    kt_err e;

    kt_err_clear(&e);
    if (kt_json_only_keys(body, members, "GetPublicKey", &e) != KT_OK) {
        fail(rs, 400, "ValidationException", "%s", e.msg);
        return;
    }
    if (!resolve(s->cloud, body, &k, rs))
        return;
    const spec *sp = spec_by_name(k.spec);
    if (sp == NULL || sp->type == WORLD_KEY_AES) {
        fail(rs, 400, "UnsupportedOperationException", "key %s is not an asymmetric key", k.id);
        return;
    }
    if (strcmp(k.state, "Enabled") != 0) {
        fail(rs, 400, "KMSInvalidStateException", "key %s is %s", k.arn, k.state);
        return;
    }
    if (world_key_inspect(&s->cloud->paths, &s->cloud->module, AWS_APP_KEY, k.id, &info, &e) !=
            KT_OK ||
        pkg_aws_b64_encode(info.spki, info.spki_len, &pub64, &e) != KT_OK) {
        fail_rc(rs, &e);
        return;
    }
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s}", "KeyId", k.arn, "PublicKey", pub64,
                          "CustomerMasterKeySpec", k.spec, "KeySpec", k.spec, "KeyUsage", k.usage);
    json_t *meta = metadata(&k);
    if (v != NULL && meta != NULL) {
        json_t *algs = json_object_get(meta, "SigningAlgorithms");
        if (algs == NULL)
            algs = json_object_get(meta, "EncryptionAlgorithms");
        if (algs != NULL)
            json_object_set(v,
                            strcmp(k.usage, "SIGN_VERIFY") == 0 ? "SigningAlgorithms"
                                                                : "EncryptionAlgorithms",
                            algs);
    }
    json_decref(meta);
    free(pub64);
    answer(rs, 200, v);
}

void kek_aws_handle(kek_rest *s, const kek_aws_request *rq, kek_rest_response *rs)
{
    static const char prefix[] = "TrentService.";
    char region[32];
    json_t *body = NULL;
    kt_err e;

    memset(rs, 0, sizeof *rs);
    if (strcmp(rq->method, "POST") != 0 || strcmp(rq->path, "/") != 0) {
        fail(rs, 404, "UnknownOperationException", "AWS KMS requests are POST /");
        return;
    }
    if (!sigv4_ok(rq->authorization, rq->amz_date, region, sizeof region)) {
        fail(rs, 400, "IncompleteSignatureException",
             "the request needs an X-Amz-Date and a well-formed AWS4-HMAC-SHA256 Authorization "
             "header (Credential=AKID/DATE/REGION/kms/aws4_request, SignedHeaders, Signature)");
        return;
    }
    if (rq->content_type == NULL ||
        strncmp(rq->content_type, "application/x-amz-json-1.1", 26) != 0) {
        fail(rs, 400, "ValidationException", "Content-Type must be application/x-amz-json-1.1");
        return;
    }
    kt_err_clear(&e);
    if (rq->len > AWS_BODY_MAX ||
        kt_json_parse(rq->len > 0 ? rq->body : (const uint8_t *)"{}", rq->len > 0 ? rq->len : 2,
                      AWS_BODY_MAX, &body, &e) != KT_OK ||
        !json_is_object(body)) {
        fail(rs, 400, "SerializationException", "the body is not one JSON object: %s", e.msg);
        json_decref(body);
        return;
    }
    const char *op =
        strncmp(rq->target, prefix, sizeof prefix - 1) == 0 ? rq->target + sizeof prefix - 1 : "";
    pthread_mutex_lock(&s->lock);
    if (strcmp(op, "CreateKey") == 0)
        create_key(s, body, region, rs);
    else if (strcmp(op, "DescribeKey") == 0)
        describe_key(s, body, rs);
    else if (strcmp(op, "GetParametersForImport") == 0)
        get_parameters(s, body, rs);
    else if (strcmp(op, "ImportKeyMaterial") == 0)
        import_material(s, body, rs);
    else if (strcmp(op, "GetPublicKey") == 0)
        get_public_key(s, body, rs);
    else
        fail(rs, 400, "UnknownOperationException", "this emulator does not serve %.60s",
             rq->target);
    pthread_mutex_unlock(&s->lock);
    json_decref(body);
}
