/*
 * serve.c - a Key Vault-shaped REST endpoint in front of the emulated cloud HSM, on loopback
 * only: the strict Import Key body parser, the transport-free request handler, and the
 * libmicrohttpd server around them. Every request is distrusted: caps on headers and body (the
 * body cap is enforced while it arrives), exact members, strict base64url, and every failure is a
 * Key Vault error answer, never a crash. Imports go through kek_import.
 */
#include "serve.h"

#include "aws_kms.h"
#include "kek_internal.h"
#include "vault.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/core_names.h>

#define WHAT "import body"

/* ---- key operations and curves ----------------------------------------------------------- */

unsigned kek_ops_for(world_key_type type)
{
    return pkg_kv_ops_for(world_key_type_name(type));
}

/* The curve of world/'s canonical name (the names in each vocabulary live in common/keys.c). */
static const kt_curve *curve_by_world(const char *world)
{
    const kt_curve *c = kt_curve_find(world);
    return c != NULL && strcmp(c->name, world) == 0 ? c : NULL;
}

/* ---- the Import Key body ----------------------------------------------------------------- */

void kek_import_body_free(kek_import_body *b)
{
    kt_buf_free(&b->byok);
    json_decref(b->tags);
    json_decref(b->release_policy);
    memset(b, 0, sizeof *b);
}

static kt_rc parse_kty(const json_t *key, kek_import_body *out, kt_err *e)
{
    const char *kty, *type;
    kt_rc rc = kt_json_get_string(key, "kty", WHAT " key", &kty, e);
    if (rc != KT_OK)
        return rc;
    if ((type = pkg_kv_type_of_kty(kty)) != NULL) {
        if (world_key_type_parse(type, &out->type, e) == KT_OK) {
            snprintf(out->kty, sizeof out->kty, "%s", kty);
            return KT_OK;
        }
    }
    if (strcmp(kty, "RSA") == 0 || strcmp(kty, "EC") == 0 || strcmp(kty, "oct") == 0)
        return kt_fail(e, KT_EFORMAT,
                       WHAT ": kty %s is a software key; a BYOK package goes into the HSM: use "
                            "%s-HSM",
                       kty, kty);
    return kt_fail(e, KT_EFORMAT, WHAT ": kty must be RSA-HSM, EC-HSM or oct-HSM");
}

static kt_rc parse_crv(const json_t *key, kek_import_body *out, kt_err *e)
{
    json_t *crv = json_object_get(key, "crv");
    if (out->type != WORLD_KEY_EC) {
        if (crv != NULL)
            return kt_fail(e, KT_EFORMAT, WHAT ": crv is only for EC-HSM keys");
        return KT_OK;
    }
    if (crv == NULL)
        return kt_fail(e, KT_EFORMAT, WHAT ": an EC-HSM key needs crv");
    const kt_curve *c = kt_curve_by_jwk(json_string_value(crv));
    if (c != NULL) {
        snprintf(out->crv, sizeof out->crv, "%s", c->jwk);
        snprintf(out->curve, sizeof out->curve, "%s", c->name);
        return KT_OK;
    }
    return kt_fail(e, KT_EFORMAT, WHAT ": crv must be P-256, P-384, P-521 or P-256K");
}

static kt_rc parse_ops(const json_t *key, kek_import_body *out, kt_err *e)
{
    unsigned allowed = kek_ops_for(out->type);
    json_t *ops = json_object_get(key, "key_ops"), *op;
    size_t i;
    if (ops == NULL) {
        out->ops = allowed;
        return KT_OK;
    }
    if (!json_is_array(ops) || json_array_size(ops) == 0 || json_array_size(ops) > PKG_KV_NOPS)
        return kt_fail(e, KT_EFORMAT, WHAT ": key_ops must be a list of 1 to %d operations",
                       PKG_KV_NOPS);
    json_array_foreach(ops, i, op)
    {
        const char *s = json_string_value(op);
        unsigned bit = s != NULL ? pkg_kv_op_parse(s, strlen(s)) : 0;
        if (bit == 0)
            return kt_fail(e, KT_EFORMAT, WHAT ": key_ops[%zu] is not a key operation", i);
        if (!(bit & allowed))
            return kt_fail(e, KT_EFORMAT, WHAT ": a %s key cannot %s", out->kty, s);
        if (out->ops & bit)
            return kt_fail(e, KT_EFORMAT, WHAT ": key_ops lists %s twice", s);
        out->ops |= bit;
    }
    return KT_OK;
}

static kt_rc parse_hsm(const json_t *key, kek_import_body *out, kt_err *e)
{
    const char *s;
    kt_rc rc = kt_json_get_string(key, "key_hsm", WHAT " key", &s, e);
    if (rc != KT_OK)
        return rc;
    size_t n = strlen(s);
    if (n == 0 || n > (PKG_BYOK_MAX + 2) / 3 * 4)
        return kt_fail(e, KT_EFORMAT, WHAT ": key_hsm must hold a .byok of 1 to %d bytes",
                       PKG_BYOK_MAX);
    if ((rc = kt_b64url_decode(s, n, &out->byok, e)) != KT_OK) {
        kt_err_prefix(e, WHAT ": key_hsm");
        return rc;
    }
    if (out->byok.len == 0 || out->byok.len > PKG_BYOK_MAX)
        return kt_fail(e, KT_EFORMAT, WHAT ": key_hsm must hold a .byok of 1 to %d bytes",
                       PKG_BYOK_MAX);
    return KT_OK;
}

/* A number of seconds since 1970 (nbf, exp): Key Vault's IntTime. */
static kt_rc parse_time(const json_t *attr, const char *name, bool *has, int64_t *out, kt_err *e)
{
    if (json_object_get(attr, name) == NULL)
        return KT_OK;
    *has = true;
    return kt_json_get_int(attr, name, WHAT " attributes", 0, 253402300799 /* 9999-12-31 */, out,
                           e);
}

/* attributes: enabled, nbf, exp, and exportable from 7.3. */
kt_rc kek_attributes_parse(const json_t *root, const kek_api *api, const char *what,
                           kek_key_attrs *out, kt_err *e)
{
    static const char *const members[] = {"enabled", "nbf", "exp", "exportable", NULL};
    json_t *attr = json_object_get(root, "attributes");
    kt_rc rc;

    memset(out, 0, sizeof *out);
    out->enabled = true;
    if (attr == NULL)
        return KT_OK;
    if (!json_is_object(attr))
        return kt_fail(e, KT_EFORMAT, "%s: attributes must be an object", what);
    if ((rc = kt_json_only_keys(attr, members, "attributes", e)) != KT_OK) {
        kt_err_prefix(e, "%s", what);
        return rc;
    }
    if (json_object_get(attr, "exportable") != NULL && !api->skr)
        return kt_fail(e, KT_EFORMAT,
                       "%s: attributes.exportable is not in api-version %s (it is from 7.3)", what,
                       api->name);
    if ((json_object_get(attr, "enabled") != NULL &&
         (rc = kt_json_get_bool(attr, "enabled", "attributes", &out->enabled, e))) ||
        (json_object_get(attr, "exportable") != NULL &&
         (rc = kt_json_get_bool(attr, "exportable", "attributes", &out->exportable, e))) ||
        (rc = parse_time(attr, "nbf", &out->has_nbf, &out->nbf, e)) ||
        (rc = parse_time(attr, "exp", &out->has_exp, &out->exp, e))) {
        kt_err_prefix(e, "%s", what);
        return rc;
    }
    if (out->has_nbf && out->has_exp && out->exp <= out->nbf)
        return kt_fail(e, KT_EFORMAT, "%s: attributes.exp must be after attributes.nbf", what);
    return KT_OK;
}

/* tags: at most KEK_TAGS_MAX string members, names and values within Key Vault's limits. */
kt_rc kek_tags_parse(const json_t *root, const char *what, json_t **out, kt_err *e)
{
    json_t *tags = json_object_get(root, "tags"), *v;
    const char *k;

    *out = NULL;
    if (tags == NULL)
        return KT_OK;
    if (!json_is_object(tags))
        return kt_fail(e, KT_EFORMAT, "%s: tags must be an object of strings", what);
    if (json_object_size(tags) > KEK_TAGS_MAX)
        return kt_fail(e, KT_EFORMAT, "%s: at most %d tags, not %zu", what, KEK_TAGS_MAX,
                       json_object_size(tags));
    json_object_foreach(tags, k, v)
    {
        size_t kn = strlen(k);
        if (kn == 0 || kn > KEK_TAG_NAME_MAX)
            return kt_fail(e, KT_EFORMAT, "%s: a tag name is 1 to %d characters", what,
                           KEK_TAG_NAME_MAX);
        if (!json_is_string(v))
            return kt_fail(e, KT_EFORMAT, "%s: tag '%.64s' is not a string", what, k);
        if (json_string_length(v) > KEK_TAG_VALUE_MAX)
            return kt_fail(e, KT_EFORMAT, "%s: tag '%.64s' is longer than %d characters", what, k,
                           KEK_TAG_VALUE_MAX);
    }
    if ((*out = json_deep_copy(tags)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    return KT_OK;
}

/* release_policy: {contentType (optional), data (base64url of a JSON object), immutable}. */
static kt_rc parse_release_policy(const json_t *root, const kek_api *api, json_t **out, kt_err *e)
{
    static const char *const members[] = {"contentType", "data", "immutable", NULL};
    json_t *rp = json_object_get(root, "release_policy"), *doc = NULL;
    const char *ct = KEK_POLICY_CT, *data;
    bool immutable = false;
    kt_buf raw = {0};
    kt_rc rc;

    *out = NULL;
    if (rp == NULL)
        return KT_OK;
    if (!api->skr)
        return kt_fail(e, KT_EFORMAT,
                       WHAT ": release_policy is not in api-version %s (it is from 7.3)",
                       api->name);
    if (!json_is_object(rp))
        return kt_fail(e, KT_EFORMAT, WHAT ": release_policy must be an object");
    if ((rc = kt_json_only_keys(rp, members, WHAT " release_policy", e)) != KT_OK)
        return rc;
    if (json_object_get(rp, "immutable") != NULL && !api->immutable)
        return kt_fail(e, KT_EFORMAT,
                       WHAT ": release_policy.immutable is not in api-version %s (it is from 7.3)",
                       api->name);
    if ((json_object_get(rp, "contentType") != NULL &&
         (rc = kt_json_get_string(rp, "contentType", WHAT " release_policy", &ct, e))) ||
        (json_object_get(rp, "immutable") != NULL &&
         (rc = kt_json_get_bool(rp, "immutable", WHAT " release_policy", &immutable, e))) ||
        (rc = kt_json_get_string(rp, "data", WHAT " release_policy", &data, e)))
        return rc;
    if (strcasecmp(ct, KEK_POLICY_CT) != 0 && strcasecmp(ct, "application/json") != 0)
        return kt_fail(e, KT_EFORMAT, WHAT ": release_policy.contentType must be " KEK_POLICY_CT);
    size_t n = strlen(data);
    if (n == 0 || n > (KEK_POLICY_MAX + 2) / 3 * 4)
        return kt_fail(e, KT_EFORMAT, WHAT ": release_policy.data must hold 1 to %d bytes",
                       KEK_POLICY_MAX);
    if ((rc = kt_b64url_decode(data, n, &raw, e)) != KT_OK) {
        kt_err_prefix(e, WHAT ": release_policy.data");
        return rc;
    }
    rc = kt_json_parse(raw.p, raw.len, KEK_POLICY_MAX, &doc, e);
    kt_buf_free(&raw);
    if (rc != KT_OK) {
        kt_err_prefix(e, WHAT ": release_policy.data is not a JSON policy document");
        return rc;
    }
    bool object = json_is_object(doc);
    json_decref(doc);
    if (!object)
        return kt_fail(e, KT_EFORMAT, WHAT ": release_policy.data must be a JSON object");
    *out = api->immutable ? json_pack("{s:s, s:s, s:b}", "contentType", KEK_POLICY_CT, "data", data,
                                      "immutable", immutable)
                          : json_pack("{s:s, s:s}", "contentType", KEK_POLICY_CT, "data", data);
    if (*out == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    return KT_OK;
}

static kt_rc parse_hsm_flag(const json_t *root, kek_import_body *out, kt_err *e)
{
    bool hsm;
    kt_rc rc;
    if (json_object_get(root, "Hsm") == NULL)
        return KT_OK;
    if ((rc = kt_json_get_bool(root, "Hsm", WHAT, &hsm, e)) != KT_OK)
        return rc;
    if (!hsm)
        return kt_fail(e, KT_EFORMAT,
                       WHAT ": Hsm false asks for a software key; a key_hsm package is opened "
                            "inside the HSM only (send Hsm true, or leave it out)");
    out->hsm = true;
    return KT_OK;
}

kt_rc kek_import_body_parse_api(const uint8_t *in, size_t len, const kek_api *api,
                                kek_import_body *out, kt_err *e)
{
    static const char *const top[] = {"key", "Hsm", "attributes", "tags", "release_policy", NULL};
    static const char *const key_members[] = {"kty", "crv", "key_ops", "key_hsm", NULL};
    json_t *j = NULL, *key;
    kek_key_attrs attrs;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if (api == NULL)
        api = kek_api_latest();
    if ((rc = kt_json_parse(in, len, KEK_SERVE_BODY_MAX, &j, e)) != KT_OK) {
        kt_err_prefix(e, WHAT);
        return rc;
    }
    if ((rc = kt_json_only_keys(j, top, WHAT, e)) ||
        (rc = kt_json_get_object(j, "key", WHAT, &key, e)) ||
        (rc = kt_json_only_keys(key, key_members, WHAT " key", e)) ||
        (rc = parse_kty(key, out, e)) || (rc = parse_crv(key, out, e)) ||
        (rc = parse_ops(key, out, e)) || (rc = parse_hsm(key, out, e)) ||
        (rc = parse_hsm_flag(j, out, e)) || (rc = kek_attributes_parse(j, api, WHAT, &attrs, e)) ||
        (rc = kek_tags_parse(j, WHAT, &out->tags, e)) ||
        (rc = parse_release_policy(j, api, &out->release_policy, e)))
        goto out;
    out->enabled = attrs.enabled;
    out->has_nbf = attrs.has_nbf;
    out->has_exp = attrs.has_exp;
    out->nbf = attrs.nbf;
    out->exp = attrs.exp;
    out->exportable = attrs.exportable;
    if (out->exportable && out->release_policy == NULL)
        rc = kt_fail(e, KT_EFORMAT,
                     WHAT ": an exportable key must have a release policy (attributes.exportable "
                          "true needs release_policy)");
out:
    if (rc != KT_OK)
        kek_import_body_free(out);
    json_decref(j);
    return rc;
}

kt_rc kek_import_body_parse(const uint8_t *in, size_t len, kek_import_body *out, kt_err *e)
{
    return kek_import_body_parse_api(in, len, NULL, out, e);
}

/* ---- the listen address ------------------------------------------------------------------ */

kt_rc kek_listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len, kt_err *e)
{
    char host[64];
    const char *colon, *port_s;
    bool v6 = false;

    memset(ss, 0, sizeof *ss);
    *len = 0;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
            return kt_fail(e, KT_EUSAGE, "--listen takes [::1]:PORT for IPv6, not '%.80s'", listen);
        snprintf(host, sizeof host, "%.*s", (int)(end - listen - 1), listen + 1);
        port_s = end + 2;
        v6 = true;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || (size_t)(colon - listen) >= sizeof host)
            return kt_fail(e, KT_EUSAGE,
                           "--listen takes ADDRESS:PORT, such as 127.0.0.1:8443, "
                           "not '%.80s'",
                           listen);
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        port_s = colon + 1;
    }
    size_t digits = strspn(port_s, "0123456789");
    unsigned long port = 0;
    if (digits == 0 || digits > 5 || port_s[digits] != '\0')
        return kt_fail(e, KT_EUSAGE, "--listen: the port must be a number 0 to 65535");
    for (size_t i = 0; i < digits; i++)
        port = port * 10 + (unsigned long)(port_s[i] - '0');
    if (port > 65535)
        return kt_fail(e, KT_EUSAGE, "--listen: the port must be a number 0 to 65535");

    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1 ||
            memcmp(&a->sin6_addr, &in6addr_loopback, sizeof a->sin6_addr) != 0)
            return kt_fail(e, KT_EUSAGE,
                           "--listen: the emulator listens on loopback only (127.0.0.0/8 or "
                           "[::1]), not on '%s'",
                           host);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof *a;
        return KT_OK;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (strcasecmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1 || (ntohl(a->sin_addr.s_addr) >> 24) != 127)
        return kt_fail(e, KT_EUSAGE,
                       "--listen: the emulator listens on loopback only (127.0.0.0/8 or [::1]), "
                       "not on '%s'",
                       host);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof *a;
    return KT_OK;
}

/* ---- answers ----------------------------------------------------------------------------- */

static void answer_json(kek_rest_response *rs, unsigned status, json_t *v)
{
    kt_err e;
    char *s = NULL;
    rs->status = status;
    if (v == NULL || kt_json_dump(v, false, &s, &e) != KT_OK) {
        rs->status = 500;
        snprintf(rs->code, sizeof rs->code, "InternalError");
        s = strdup("{\"error\":{\"code\":\"InternalError\",\"message\":\"out of memory\"}}");
    }
    json_decref(v);
    rs->body = s;
}

static void answer_error(kek_rest_response *rs, unsigned status, const char *code, const char *fmt,
                         ...) KT_PRINTF(4, 5);

static void answer_error(kek_rest_response *rs, unsigned status, const char *code, const char *fmt,
                         ...)
{
    char msg[KT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(rs->code, sizeof rs->code, "%s", code);
    answer_json(rs, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

/* The HTTP answer for a library error: the caller's mistakes are 400, ours 500. */
static void answer_rc(kek_rest_response *rs, const kt_err *e)
{
    switch (e->rc) {
    case KT_EUSAGE:
    case KT_EDENIED:
    case KT_EFORMAT:
    case KT_ETOOBIG:
    case KT_EVERSION:
        answer_error(rs, 400, "BadParameter", "%s", e->msg);
        break;
    case KT_EEXIST:
        answer_error(rs, 409, "Conflict", "%s", e->msg);
        break;
    default:
        answer_error(rs, 500, "InternalError", "%s", e->msg);
        break;
    }
}

/* ---- routes ------------------------------------------------------------------------------ */

typedef struct route {
    char name[PKG_KEY_NAME_MAX + 1];
    char version[33]; /* "" when the path has none */
    bool create;      /* /keys/NAME/create */
} route;

static bool is_version(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return false;
    return true;
}

/* /keys/NAME, /keys/NAME/, /keys/NAME/VERSION or /keys/NAME/create; false for anything else. */
static bool parse_route(const char *path, route *r)
{
    kt_err ignored;
    memset(r, 0, sizeof *r);
    if (path == NULL || strncmp(path, "/keys/", 6) != 0)
        return false;
    const char *name = path + 6, *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : strlen(name);
    if (n == 0 || n > PKG_KEY_NAME_MAX)
        return false;
    snprintf(r->name, sizeof r->name, "%.*s", (int)n, name);
    if (pkg_key_name_check("key name", r->name, &ignored) != KT_OK)
        return false;
    if (slash == NULL || slash[1] == '\0')
        return true;
    if (strcmp(slash + 1, "create") == 0) {
        r->create = true;
        return true;
    }
    if (!is_version(slash + 1))
        return false;
    snprintf(r->version, sizeof r->version, "%s", slash + 1);
    return true;
}

static bool token_ok(const kek_rest *s, const char *authorization)
{
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *t = authorization + 7;
    size_t n = strlen(t);
    return n == s->token->len && kt_ct_equal(t, s->token->p, n);
}

/* application/json, optionally with parameters ("; charset=utf-8"). */
static bool is_json_type(const char *ct)
{
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    ct += 16;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

bool kek_rest_precheck(kek_rest *s, const kek_rest_request *rq, kek_rest_response *rs)
{
    route r;
    bool ours;
    memset(rs, 0, sizeof *rs);
    kek_host_kind kind = kek_host_parse(rq->host, s->cloud->vault, &ours);

    /* The token before anything else: an unauthenticated request learns where to get one. */
    if (!token_ok(s, rq->authorization)) {
        char tenant[37];
        kek_tenant_id(s->cloud, tenant);
        snprintf(rs->www_authenticate, sizeof rs->www_authenticate,
                 "Bearer authorization=\"https://login.microsoftonline.com/%s\", resource=\"%s\"",
                 tenant, kek_host_resource(kind));
        answer_error(rs, 401, "Unauthorized",
                     rq->authorization == NULL
                         ? "AKV10000: Request is missing a Bearer or PoP token."
                         : "the bearer token is not the one this emulator printed or was given");
        return true;
    }
    if (!ours) {
        answer_error(rs, 404, "NotFound", "this emulator is vault %s; the host %.100s is not",
                     s->cloud->vault, rq->host);
        return true;
    }
    if (!parse_route(rq->path, &r)) {
        answer_error(rs, 404, "NotFound",
                     "no such resource: this emulator serves /keys/{name}, /keys/{name}/{version} "
                     "and /keys/{name}/create (names of 1 to %d letters, digits and '-')",
                     PKG_KEY_NAME_MAX);
        return true;
    }
    bool put = strcmp(rq->method, "PUT") == 0, get = strcmp(rq->method, "GET") == 0,
         post = strcmp(rq->method, "POST") == 0;
    bool allowed = r.create ? post : r.version[0] ? get : (get || put);
    if (!allowed) {
        rs->allow = r.create ? "POST" : r.version[0] ? "GET" : "GET, PUT";
        answer_error(rs, 405, "MethodNotAllowed", "%s is not allowed here; allowed: %s",
                     put && r.version[0] ? "PUT with a key version" : "this method", rs->allow);
        return true;
    }
    const kek_api *api = kek_api_find(rq->api_version);
    if (api == NULL) {
        char list[256] = "";
        for (size_t i = 0; i < kek_napis; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     kek_apis[i].name);
        answer_error(rs, 400, "BadParameter",
                     "The specified version (%.40s) is not recognized. Consider using one of the "
                     "following versions: %s",
                     rq->api_version != NULL ? rq->api_version : "none", list);
        return true;
    }
    if (kind == KEK_HOST_MHSM && !api->mhsm) {
        answer_error(rs, 400, "BadParameter",
                     "Managed HSM serves api-version 7.2 and later, not %s", api->name);
        return true;
    }
    if ((put || post) && !is_json_type(rq->content_type)) {
        answer_error(rs, 415, "UnsupportedMediaType", "the request body must be application/json");
        return true;
    }
    return false;
}

/* ---- the emulated HSM behind the routes -------------------------------------------------- */

/* What the HSM lets the stored key do, in Key Vault's terms (encrypt also allows wrapKey,
 * decrypt unwrapKey). */
static unsigned acl_ops(const world_key_info *info)
{
    unsigned ops = 0;
    for (unsigned g = 0; g < info->acl.ngroups; g++) {
        uint32_t a = info->acl.groups[g].actions;
        if (a & WORLD_ACT_SIGN)
            ops |= PKG_KV_OP_SIGN;
        if (a & WORLD_ACT_VERIFY)
            ops |= PKG_KV_OP_VERIFY;
        if (a & WORLD_ACT_ENCRYPT)
            ops |= PKG_KV_OP_ENCRYPT | PKG_KV_OP_WRAP_KEY;
        if (a & WORLD_ACT_DECRYPT)
            ops |= PKG_KV_OP_DECRYPT | PKG_KV_OP_UNWRAP_KEY;
    }
    return ops & kek_ops_for(info->type);
}

static json_t *b64_bn(const BIGNUM *bn, int pad)
{
    uint8_t buf[PKG_RSA_MAX_BITS / 8 + 1];
    int n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    char *s = NULL;
    kt_err e;
    if (n <= 0 || BN_num_bytes(bn) > (int)sizeof buf ||
        kt_b64url_encode(buf, (size_t)n, &s, &e) != KT_OK)
        return NULL;
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* What a key bundle says beside the key: from the metadata, else the defaults of a key imported
 * before metadata was kept. */
typedef struct bundle_facts {
    const char *kid;        /* the cloud's own KEK: its kid; else NULL (made from the version) */
    json_t *key_ops;        /* borrowed */
    json_t *attributes;     /* borrowed: enabled, nbf, exp, exportable; or NULL */
    json_t *tags;           /* borrowed, or NULL */
    json_t *release_policy; /* borrowed, or NULL */
} bundle_facts;

/* The key bundle of a stored key (RFC 7517/7518 JWK as Key Vault writes it), as api answers. */
static kt_rc key_bundle(const kek_cloud *c, kek_host_kind host, const kek_api *api,
                        const world_key_info *info, const bundle_facts *f, json_t **out, kt_err *e)
{
    char version[33], kid[PKG_KID_MAX + 1], base[128];
    EVP_PKEY *pkey = NULL;
    BIGNUM *a = NULL, *b = NULL;
    json_t *key = NULL, *attrs = NULL, *v;
    kt_rc rc = KT_OK;

    *out = NULL;
    kek_key_version(info, version);
    kek_vault_base(c, host, base, sizeof base);
    snprintf(kid, sizeof kid, "%s/keys/%s/%s", base, info->plainname, version);
    key = json_pack("{s:s, s:s, s:O}", "kid", f->kid != NULL ? f->kid : kid, "kty",
                    pkg_kv_kty_for(world_key_type_name(info->type)), "key_ops", f->key_ops);
    if (key == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if (info->type != WORLD_KEY_AES) {
        if ((rc = kt_spki_decode(info->spki, info->spki_len, &pkey, e)) != KT_OK)
            goto out;
        if (info->type == WORLD_KEY_RSA) {
            if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &a) != 1 ||
                EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &b) != 1) {
                rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot read the RSA public key");
                goto out;
            }
            json_object_set_new(key, "n", b64_bn(a, 0));
            json_object_set_new(key, "e", b64_bn(b, 0));
        } else {
            const kt_curve *cv = curve_by_world(info->curve);
            if (cv == NULL || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) != 1 ||
                EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b) != 1) {
                rc = kt_fail_ssl(e, KT_ECRYPTO, "cannot read the EC public key");
                goto out;
            }
            /* RFC 7518 §6.2.1.2: each coordinate at the full length of a field element. */
            int coord = (int)(info->bits + 7) / 8;
            json_object_set_new(key, "crv", json_string(cv->jwk));
            json_object_set_new(key, "x", b64_bn(a, coord));
            json_object_set_new(key, "y", b64_bn(b, coord));
        }
    }
    bool enabled = true, exportable = false;
    if (f->attributes != NULL) {
        enabled = json_is_true(json_object_get(f->attributes, "enabled"));
        exportable = json_is_true(json_object_get(f->attributes, "exportable"));
    }
    attrs = json_pack("{s:b}", "enabled", enabled);
    if (attrs == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    static const char *const times[] = {"nbf", "exp"};
    for (size_t i = 0; f->attributes != NULL && i < 2; i++)
        if ((v = json_object_get(f->attributes, times[i])) != NULL && json_is_integer(v))
            json_object_set_new(attrs, times[i], json_integer(json_integer_value(v)));
    json_object_set_new(attrs, "created", json_integer((json_int_t)info->created));
    json_object_set_new(attrs, "updated", json_integer((json_int_t)info->created));
    json_object_set_new(attrs, "recoveryLevel", json_string("Purgeable"));
    if (api->skr)
        json_object_set_new(attrs, "exportable", json_boolean(exportable));
    v = json_pack("{s:o, s:o}", "key", key, "attributes", attrs);
    key = attrs = NULL;
    if (v == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    if (f->tags != NULL && json_object_size(f->tags) > 0)
        json_object_set_new(v, "tags", json_deep_copy(f->tags));
    if (api->skr && f->release_policy != NULL) {
        json_t *rp = json_deep_copy(f->release_policy);
        if (rp != NULL && !api->immutable)
            json_object_del(rp, "immutable");
        else if (rp != NULL && json_object_get(rp, "immutable") == NULL)
            json_object_set_new(rp, "immutable", json_false());
        json_object_set_new(v, "release_policy", rp);
    }
    *out = v;
out:
    json_decref(key);
    json_decref(attrs);
    BN_free(a);
    BN_free(b);
    EVP_PKEY_free(pkey);
    return rc;
}

/*
 * What the .byok carries, found inside the HSM before anything is stored, so that a body whose
 * kty or crv disagrees with the key is refused without a trace. kek_import has no "expected
 * type" parameter, so the package is opened here once to look and then again by kek_import to
 * store; both plaintexts live in secure memory and are wiped.
 */
static kt_rc peek(kek_cloud *c, const kt_buf *byok, world_key_type *type, char *curve,
                  size_t curvesz, kt_err *e)
{
    pkg_byok b;
    world_key kek = {0}, k = {0};
    EVP_PKEY *pkey = NULL;
    kt_err ignored;
    kt_rc rc;

    if ((rc = pkg_byok_parse(byok->p, byok->len, &b, e)) != KT_OK)
        return rc;
    if ((rc = kek_load_kek(c, b.kid, &kek, e)) != KT_OK)
        goto out;
    if ((rc = pkg_rsa_aes_unwrap(kek.pkey, PKG_OAEP_SHA1, b.blob.p, b.blob.len, &k.material, e)))
        goto out;
    if (kt_pkcs8_decode(k.material.p, k.material.len, &pkey, &ignored) == KT_OK)
        *type = EVP_PKEY_is_a(pkey, "RSA")  ? WORLD_KEY_RSA
                : EVP_PKEY_is_a(pkey, "EC") ? WORLD_KEY_EC
                                            : 0;
    else
        *type = WORLD_KEY_AES;
    if (*type == 0) {
        rc = kt_fail(e, KT_EDENIED, "the cloud accepts RSA, EC and AES keys only");
        goto out;
    }
    if ((rc = world_key_describe(&k, *type, e)) != KT_OK)
        goto out;
    snprintf(curve, curvesz, "%s", k.info.curve);
out:
    EVP_PKEY_free(pkey);
    world_key_free(&kek);
    world_key_free(&k);
    pkg_byok_free(&b);
    return rc;
}

/* The metadata of a key about to be stored. */
static json_t *make_meta(const char *name, kek_host_kind host, json_t *key_ops,
                         const kek_key_attrs *a, json_t *tags, json_t *release_policy)
{
    json_t *attrs = json_pack("{s:b, s:b}", "enabled", a->enabled, "exportable", a->exportable);
    if (attrs != NULL && a->has_nbf)
        json_object_set_new(attrs, "nbf", json_integer(a->nbf));
    if (attrs != NULL && a->has_exp)
        json_object_set_new(attrs, "exp", json_integer(a->exp));
    json_t *m = json_pack("{s:s, s:s, s:O, s:o}", "name", name, "service", kek_host_service(host),
                          "key_ops", key_ops, "attributes", attrs);
    if (m != NULL && tags != NULL)
        json_object_set(m, "tags", tags);
    if (m != NULL && release_policy != NULL)
        json_object_set(m, "release_policy", release_policy);
    return m;
}

static kt_rc answer_stored(kek_rest *s, kek_host_kind host, const kek_api *api, const char *ident,
                           const world_key_info *info, const char *own_kid, unsigned fallback_ops,
                           kek_rest_response *rs, kt_err *e)
{
    json_t *meta = NULL, *v = NULL, *ops = NULL;
    kt_rc rc = ident != NULL ? kek_meta_read(s->cloud, ident, &meta, e) : KT_OK;
    if (rc != KT_OK)
        return rc;
    if (!kek_meta_serves(meta, host)) {
        json_decref(meta);
        answer_error(rs, 404, "KeyNotFound",
                     "A key with (name/id) %s was not found in this %s: it is in the %s.",
                     info->plainname, host == KEK_HOST_MHSM ? "managed HSM" : "key vault",
                     host == KEK_HOST_MHSM ? "key vault" : "managed HSM");
        return KT_OK;
    }
    bundle_facts f = {.kid = own_kid};
    const char *meta_name = meta != NULL ? json_string_value(json_object_get(meta, "name")) : NULL;
    if (meta_name != NULL && strcasecmp(meta_name, info->plainname) == 0) {
        f.key_ops = json_object_get(meta, "key_ops");
        f.attributes = json_object_get(meta, "attributes");
        f.tags = json_object_get(meta, "tags");
        f.release_policy = json_object_get(meta, "release_policy");
    }
    if (f.key_ops == NULL || !json_is_array(f.key_ops)) {
        ops = fallback_ops ? pkg_kv_ops_json(fallback_ops) : json_pack("[s]", "import");
        f.key_ops = ops;
    }
    if (f.key_ops == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    else if ((rc = key_bundle(s->cloud, host, api, info, &f, &v, e)) == KT_OK)
        answer_json(rs, 200, v);
    json_decref(ops);
    json_decref(meta);
    return rc;
}

static void do_import(kek_rest *s, const route *r, const kek_rest_request *rq, kek_host_kind host,
                      const kek_api *api, kek_rest_response *rs)
{
    kek_cloud *c = s->cloud;
    kek_import_body body;
    kek_imported imp;
    world_key_type type = 0;
    char curve[WORLD_KEY_CURVE_MAX + 1] = "", ident[WORLD_KEY_IDENT_MAX + 1];
    json_t *meta = NULL, *ops = NULL;
    kt_err e;

    kt_err_clear(&e);
    if (kek_import_body_parse_api(rq->body, rq->len, api, &body, &e) != KT_OK) {
        answer_error(rs, 400, "BadParameter", "%s", e.msg);
        return;
    }
    if (kek_name_ident(r->name, ident, sizeof ident, &e) != KT_OK) {
        answer_error(rs, 400, "BadParameter", "%s", e.msg);
        goto out;
    }
    if (body.type == WORLD_KEY_AES && host == KEK_HOST_VAULT) {
        answer_error(rs, 400, "BadParameter",
                     "a key vault holds no oct-HSM keys: import AES keys into a Managed HSM "
                     "(%s.managedhsm.azure.net)",
                     c->vault);
        goto out;
    }
    if (kek_vault_name_free(c, r->name, &e) != KT_OK) {
        answer_rc(rs, &e);
        goto out;
    }
    if (peek(c, &body.byok, &type, curve, sizeof curve, &e) != KT_OK) {
        answer_rc(rs, &e);
        goto out;
    }
    if (type != body.type) {
        answer_error(rs, 400, "BadParameter", "kty is %s, but the .byok carries an %s key",
                     body.kty, world_key_type_name(type));
        goto out;
    }
    if (type == WORLD_KEY_EC && strcmp(curve, body.curve) != 0) {
        const kt_curve *cv = curve_by_world(curve);
        answer_error(rs, 400, "BadParameter", "crv is %s, but the .byok carries a key on %s",
                     body.crv, cv ? cv->jwk : curve);
        goto out;
    }
    kek_key_attrs attrs = {.enabled = body.enabled,
                           .has_nbf = body.has_nbf,
                           .has_exp = body.has_exp,
                           .nbf = body.nbf,
                           .exp = body.exp,
                           .exportable = body.exportable};
    /* The metadata first: a key never exists without it. */
    if ((ops = pkg_kv_ops_json(body.ops)) == NULL ||
        (meta = make_meta(r->name, host, ops, &attrs, body.tags, body.release_policy)) == NULL) {
        answer_error(rs, 500, "InternalError", "out of memory");
        goto out;
    }
    if (kek_meta_write(c, ident, meta, &e) != KT_OK ||
        kek_import(c, body.byok.p, body.byok.len, r->name, &imp, &e) != KT_OK) {
        answer_rc(rs, &e);
        goto out;
    }
    if (imp.info.type != body.type) { /* cannot happen after peek; never answer 200 if it does */
        answer_error(rs, 500, "InternalError", "the stored key is not of the type checked");
        goto out;
    }
    if (answer_stored(s, host, api, ident, &imp.info, NULL, body.ops, rs, &e) != KT_OK)
        answer_rc(rs, &e);
out:
    json_decref(meta);
    json_decref(ops);
    kek_import_body_free(&body);
}

/* Create Key: only what a BYOK KEK is, an RSA-HSM key whose one operation is import. */
static void do_create(kek_rest *s, const route *r, const kek_rest_request *rq, kek_host_kind host,
                      const kek_api *api, kek_rest_response *rs)
{
    static const char *const top[] = {"kty",        "key_size", "public_exponent", "key_ops", "crv",
                                      "attributes", "tags",     "release_policy",  NULL};
    kek_cloud *c = s->cloud;
    json_t *j = NULL, *ops, *tags = NULL, *meta = NULL, *opsv = NULL;
    const char *kty;
    int64_t bits = 2048, pubexp = 65537;
    kek_key_attrs attrs;
    world_key_info info;
    char ident[WORLD_KEY_IDENT_MAX + 1];
    kt_err e;

    kt_err_clear(&e);
    if (kt_json_parse(rq->body, rq->len, KEK_SERVE_BODY_MAX, &j, &e) != KT_OK ||
        kt_json_only_keys(j, top, "create body", &e) != KT_OK ||
        kt_json_get_string(j, "kty", "create body", &kty, &e) != KT_OK ||
        (json_object_get(j, "key_size") != NULL &&
         kt_json_get_int(j, "key_size", "create body", 0, 65536, &bits, &e) != KT_OK) ||
        (json_object_get(j, "public_exponent") != NULL &&
         kt_json_get_int(j, "public_exponent", "create body", 0, INT64_MAX, &pubexp, &e) !=
             KT_OK) ||
        kek_attributes_parse(j, api, "create body", &attrs, &e) != KT_OK ||
        kek_tags_parse(j, "create body", &tags, &e) != KT_OK) {
        answer_error(rs, 400, "BadParameter", "%s", e.msg);
        goto out;
    }
    ops = json_object_get(j, "key_ops");
    if (strcmp(kty, "RSA-HSM") != 0) {
        answer_error(rs, 400, "BadParameter",
                     "this emulator creates BYOK key exchange keys only: kty RSA-HSM%s, not %s",
                     strcmp(kty, "RSA") == 0 ? " (a KEK lives in the HSM)" : "", kty);
        goto out;
    }
    if (ops == NULL || !json_is_array(ops) || json_array_size(ops) != 1 ||
        !json_is_string(json_array_get(ops, 0)) ||
        strcmp(json_string_value(json_array_get(ops, 0)), "import") != 0) {
        answer_error(rs, 400, "BadParameter",
                     "a BYOK key exchange key has key_ops [\"import\"] and nothing else; this "
                     "emulator creates no other keys");
        goto out;
    }
    if (json_object_get(j, "crv") != NULL || json_object_get(j, "release_policy") != NULL ||
        attrs.exportable) {
        answer_error(rs, 400, "BadParameter",
                     "a key exchange key has no curve and is never exportable (crv, "
                     "release_policy and attributes.exportable are refused)");
        goto out;
    }
    if (bits != 2048 && bits != 3072 && bits != 4096) {
        answer_error(rs, 400, "BadParameter", "key_size must be 2048, 3072 or 4096, not %lld",
                     (long long)bits);
        goto out;
    }
    if (pubexp != 65537) {
        answer_error(rs, 400, "BadParameter", "public_exponent must be 65537");
        goto out;
    }
    if (kek_name_ident(r->name, ident, sizeof ident, &e) != KT_OK) {
        answer_error(rs, 400, "BadParameter", "%s", e.msg);
        goto out;
    }
    if ((opsv = json_pack("[s]", "import")) == NULL ||
        (meta = make_meta(r->name, host, opsv, &attrs, tags, NULL)) == NULL) {
        answer_error(rs, 500, "InternalError", "out of memory");
        goto out;
    }
    if (kek_vault_name_free(c, r->name, &e) != KT_OK) {
        answer_rc(rs, &e);
        goto out;
    }
    if (kek_meta_write(c, ident, meta, &e) != KT_OK ||
        kek_vault_create_kek(c, r->name, (unsigned)bits, &info, &e) != KT_OK ||
        answer_stored(s, host, api, ident, &info, NULL, 0, rs, &e) != KT_OK)
        answer_rc(rs, &e);
out:
    json_decref(meta);
    json_decref(opsv);
    json_decref(tags);
    json_decref(j);
}

static void do_get(kek_rest *s, const route *r, kek_host_kind host, const kek_api *api,
                   kek_rest_response *rs)
{
    kek_cloud *c = s->cloud;
    world_key_info info;
    kek_stored_kind kind;
    char ident[WORLD_KEY_IDENT_MAX + 1], version[33];
    kt_err e;

    kt_err_clear(&e);
    if (kek_vault_lookup(c, r->name, &kind, &info, &e) != KT_OK) {
        answer_error(rs, 500, "InternalError", "%s", e.msg);
        return;
    }
    if (kind == KEK_STORED_NONE) {
        answer_error(rs, 404, "KeyNotFound",
                     "A key with (name/id) %s was not found in this key vault.", r->name);
        return;
    }
    const char *own_kid = kind == KEK_STORED_CLOUD_KEK ? c->kid : NULL;
    if (own_kid != NULL) {
        const char *slash = strrchr(own_kid, '/');
        snprintf(version, sizeof version, "%s", slash != NULL ? slash + 1 : "");
    } else
        kek_key_version(&info, version);
    if (r->version[0] != '\0' && strcmp(r->version, version) != 0) {
        answer_error(rs, 404, "KeyNotFound",
                     "A key with (name/id) %s/%s was not found in this key vault.", r->name,
                     r->version);
        return;
    }
    /* The cloud's own KEK has no metadata (it was made by init, not through the API). */
    const char *meta_ident = NULL;
    if (own_kid == NULL && kek_name_ident(r->name, ident, sizeof ident, &e) == KT_OK)
        meta_ident = ident;
    if (answer_stored(s, host, api, meta_ident, &info, own_kid,
                      kind == KEK_STORED_IMPORTED ? acl_ops(&info) : 0, rs, &e) != KT_OK)
        answer_rc(rs, &e);
}

void kek_rest_handle(kek_rest *s, const kek_rest_request *rq, kek_rest_response *rs)
{
    route r;
    bool ours;
    if (kek_rest_precheck(s, rq, rs))
        return;
    if (!parse_route(rq->path, &r)) { /* precheck has answered these; kept for clarity */
        answer_error(rs, 404, "NotFound", "no such resource");
        return;
    }
    kek_host_kind host = kek_host_parse(rq->host, s->cloud->vault, &ours);
    const kek_api *api = kek_api_find(rq->api_version);
    /* One request at a time inside the HSM. */
    pthread_mutex_lock(&s->lock);
    if (strcmp(rq->method, "PUT") == 0)
        do_import(s, &r, rq, host, api, rs);
    else if (r.create)
        do_create(s, &r, rq, host, api, rs);
    else
        do_get(s, &r, host, api, rs);
    pthread_mutex_unlock(&s->lock);
}

/* ---- the libmicrohttpd server ------------------------------------------------------------ */

/*
 * Slow clients. libmicrohttpd's own time-out is an idle one, which every byte
 * resets, so a client sending one header byte a second held its connection for ever; and its
 * per-address limit is no defence on loopback, where every client is 127.0.0.1 (eight trickling
 * connections locked everyone out). So the server keeps its own account of each connection:
 * an absolute deadline for the headers of each request (KEK_SERVE_HEADER_SECONDS from the
 * accept, or from the end of the previous request), then for its body (KEK_SERVE_BODY_SECONDS
 * from the end of the headers), and a cap of KEK_SERVE_CONN_MAX connections beyond which a new
 * connection pushes out the oldest one still waiting for its headers. A connection past its
 * deadline or pushed out is shut down; libmicrohttpd then sees it end and closes it.
 *
 * All of it runs in the server's one thread: it calls MHD_run_wait in a loop and looks at the
 * deadlines between calls, and libmicrohttpd calls back (connections, requests) from inside
 * MHD_run_wait, in the same thread. Nothing here is shared with another thread but the stop flag.
 */

#define POLL_MS 100 /* the longest a deadline is overrun, and a stop waits */

/* One connection as the server accounts for it (libmicrohttpd's socket context). */
struct conn {
    struct conn *prev, *next; /* oldest first */
    int fd;
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    bool in_headers;     /* waiting for (the rest of) a request's headers */
    bool closing;        /* shut down here; libmicrohttpd has not closed it yet */
};

struct kek_server {
    struct MHD_Daemon *daemon;
    kek_rest *rest;
    kek_log_fn log;
    void *log_ctx;
    unsigned port;
    kek_serve_limits limits;
    pthread_t thread;
    atomic_bool stop;
    struct conn *oldest, *newest;
    size_t open; /* connections not shut down here */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_line(kek_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(kek_server *s, const char *fmt, ...)
{
    char line[256];
    va_list ap;

    if (s->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->log(s->log_ctx, line);
}

/* libmicrohttpd's own messages ("Server reached connection limit"), into the same log. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    kek_server *s = cls;
    char line[256];
    size_t n;

    if (s->log == NULL)
        return;
    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    s->log(s->log_ctx, line);
}

/* Ends a connection from the server's side: shutdown, not close, so the descriptor stays
 * libmicrohttpd's until it has seen the end and closed it itself. */
static void cut(kek_server *s, struct conn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->closing = true;
    s->open--;
}

/* The connection now waits for a request's headers (in_headers) or for the rest of a request
 * whose headers are in, until the deadline of that phase. */
static void set_phase(const kek_server *s, struct conn *c, bool in_headers)
{
    unsigned seconds = in_headers ? s->limits.header_seconds : s->limits.body_seconds;

    c->in_headers = in_headers;
    c->deadline_ms = now_ms() + 1000 * (int64_t)seconds;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return i != NULL ? i->socket_context : NULL;
}

/* The cap: over it, the oldest connection still waiting for headers goes (the newcomer itself
 * when every other one is busy with a request). */
static void enforce_cap(kek_server *s)
{
    while (s->open > s->limits.max_connections) {
        struct conn *victim = NULL;

        for (struct conn *c = s->oldest; c != NULL && victim == NULL; c = c->next)
            if (!c->closing && c->in_headers)
                victim = c;
        if (victim == NULL)
            victim = s->newest;
        cut(s, victim);
        log_line(s,
                 "connection closed: over %u connections, the oldest one still sending its "
                 "headers goes",
                 s->limits.max_connections);
    }
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    kek_server *s = cls;
    struct conn *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *i =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

        if (i == NULL || (c = calloc(1, sizeof *c)) == NULL)
            return; /* not accounted for: the idle time-out still ends it */
        c->fd = i->connect_fd;
        set_phase(s, c, true);
        c->prev = s->newest;
        if (s->newest != NULL)
            s->newest->next = c;
        else
            s->oldest = c;
        s->newest = c;
        s->open++;
        *socket_context = c;
        enforce_cap(s);
        return;
    }
    if (c == NULL)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->oldest = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        s->newest = c->prev;
    if (!c->closing)
        s->open--;
    free(c);
    *socket_context = NULL;
}

/* Every connection past its deadline is shut down. */
static void reap(kek_server *s)
{
    int64_t now = now_ms();

    for (struct conn *c = s->oldest; c != NULL; c = c->next) {
        if (c->closing || now < c->deadline_ms)
            continue;
        cut(s, c);
        if (c->in_headers)
            log_line(s, "connection closed: the request headers did not arrive within %u s",
                     s->limits.header_seconds);
        else
            log_line(s,
                     "connection closed: the request did not complete within %u s of its "
                     "headers",
                     s->limits.body_seconds);
    }
}

static void *serve_loop(void *arg)
{
    kek_server *s = arg;

    while (!atomic_load(&s->stop)) {
        reap(s);
        if (MHD_run_wait(s->daemon, POLL_MS) != MHD_YES)
            log_line(s, "the server loop failed once; going on");
    }
    return NULL;
}

/* A request in progress: its body so far, or how much was thrown away over the cap. */
struct pending {
    uint8_t *body;
    size_t len;
    size_t discarded;
    bool too_big;
};

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    kek_server *s = cls;
    (void)toe;
    struct pending *p = *req_cls;
    struct conn *c = conn_of(conn);
    if (p != NULL) {
        free(p->body);
        free(p);
    }
    *req_cls = NULL;
    /* The next request on this connection has its own header deadline. */
    if (c != NULL && !c->closing)
        set_phase(s, c, true);
}

static enum MHD_Result respond(kek_server *s, struct MHD_Connection *conn, const char *method,
                               const char *url, kek_rest_response *rs)
{
    static char empty[] = "";
    char *body = rs->body != NULL ? rs->body : empty;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_NO;
    if (r != NULL) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
        if (rs->allow != NULL)
            MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rs->allow);
        if (rs->www_authenticate[0] != '\0')
            MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, rs->www_authenticate);
        ret = MHD_queue_response(conn, rs->status, r);
        MHD_destroy_response(r);
    }
    if (s->log != NULL) {
        char line[256], m[16], u[160];
        size_t i, o = 0;
        for (i = 0; method[i] != '\0' && o + 1 < sizeof m; i++)
            m[o++] = isprint((unsigned char)method[i]) ? method[i] : '?';
        m[o] = '\0';
        for (i = 0, o = 0; url[i] != '\0' && o + 1 < sizeof u; i++)
            u[o++] = isprint((unsigned char)url[i]) ? url[i] : '?';
        u[o] = '\0';
        snprintf(line, sizeof line, "%s %s -> %u%s%s", m, u, rs->status, rs->code[0] ? " " : "",
                 rs->code);
        s->log(s->log_ctx, line);
    }
    free(rs->body);
    rs->body = NULL;
    return ret;
}

static void fill_request(struct MHD_Connection *conn, const char *url, const char *method,
                         kek_rest_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->method = method;
    rq->path = url;
    rq->api_version = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "api-version");
    rq->authorization =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    rq->content_type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    rq->host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    kek_server *s = cls;
    struct pending *p = *req_cls;
    kek_rest_request rq;
    kek_rest_response rs;
    (void)version;

    if (p == NULL) {
        /* Headers only: answer now when they decide it, before any body is read. */
        struct conn *c = conn_of(conn);

        if (c != NULL && !c->closing)
            set_phase(s, c, false); /* the headers are in: now the body's deadline */
        if ((p = calloc(1, sizeof *p)) == NULL)
            return MHD_NO;
        *req_cls = p;
        fill_request(conn, url, method, &rq);
        /* AWS KMS requests (aws_kms.c) are told by their X-Amz-Target and answered whole. */
        if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Target") == NULL &&
            kek_rest_precheck(s->rest, &rq, &rs))
            return respond(s, conn, method, url, &rs);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && (strspn(cl, "0123456789") != strlen(cl) || strlen(cl) > 9 ||
                           strtoul(cl, NULL, 10) > KEK_SERVE_BODY_MAX)) {
            memset(&rs, 0, sizeof rs);
            answer_error(&rs, 413, "RequestTooLarge", "the request body is larger than %d bytes",
                         KEK_SERVE_BODY_MAX);
            return respond(s, conn, method, url, &rs);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* The cap holds while the body arrives: beyond it nothing more is kept. */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!p->too_big && n <= KEK_SERVE_BODY_MAX - p->len) {
            if (p->body == NULL && (p->body = malloc(KEK_SERVE_BODY_MAX)) == NULL)
                return MHD_NO;
            memcpy(p->body + p->len, upload_data, n);
            p->len += n;
            return MHD_YES;
        }
        p->too_big = true;
        free(p->body);
        p->body = NULL;
        p->discarded += n;
        /* A client that keeps sending after the cap is cut off rather than drained forever. */
        return p->discarded > 4 * (size_t)KEK_SERVE_BODY_MAX ? MHD_NO : MHD_YES;
    }
    memset(&rs, 0, sizeof rs);
    if (p->too_big) {
        answer_error(&rs, 413, "RequestTooLarge", "the request body is larger than %d bytes",
                     KEK_SERVE_BODY_MAX);
        return respond(s, conn, method, url, &rs);
    }
    fill_request(conn, url, method, &rq);
    const char *amz_target = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Target");
    if (amz_target != NULL) {
        const kek_aws_request aq = {
            .method = method,
            .path = url,
            .target = amz_target,
            .authorization = rq.authorization,
            .amz_date = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Date"),
            .content_type = rq.content_type,
            .body = p->body,
            .len = p->len};
        kek_aws_handle(s->rest, &aq, &rs);
        return respond(s, conn, method, url, &rs);
    }
    rq.body = p->body;
    rq.len = p->len;
    kek_rest_handle(s->rest, &rq, &rs);
    return respond(s, conn, method, url, &rs);
}

kt_rc kek_serve_limits_check(const kek_serve_limits *l, kt_err *e)
{
    if (l->max_connections < 1 || l->max_connections > KEK_SERVE_CONN_LIMIT)
        return kt_fail(e, KT_EUSAGE, "the connection cap is 1 to %d, not %u", KEK_SERVE_CONN_LIMIT,
                       l->max_connections);
    if (l->header_seconds < 1 || l->header_seconds > KEK_SERVE_SECONDS_LIMIT ||
        l->body_seconds < 1 || l->body_seconds > KEK_SERVE_SECONDS_LIMIT)
        return kt_fail(e, KT_EUSAGE, "a request time limit is 1 to %d seconds",
                       KEK_SERVE_SECONDS_LIMIT);
    return KT_OK;
}

kt_rc kek_serve_start(kek_rest *rest, const struct sockaddr *sa, socklen_t salen,
                      const kek_serve_limits *limits, const kek_tls *tls, kek_log_fn log,
                      void *log_ctx, kek_server **out, kt_err *e)
{
    static const kek_serve_limits defaults = KEK_SERVE_LIMITS_DEFAULT;
    kek_server *s;
    kt_rc rc;
    (void)salen;
    *out = NULL;
    if (limits == NULL)
        limits = &defaults;
    if ((rc = kek_serve_limits_check(limits, e)) != KT_OK)
        return rc;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    s->limits = *limits;
    s->rest = rest;
    s->log = log;
    s->log_ctx = log_ctx;
    /* No internal thread: serve_loop polls, so that the deadlines are looked at in the thread
     * that owns the connections (see the top of this section). */
    unsigned flags = MHD_USE_ERROR_LOG;
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            free(s);
            return kt_fail(e, KT_EUSAGE, "this libmicrohttpd is built without TLS");
        }
        flags |= MHD_USE_TLS;
        /* libmicrohttpd reads both while it starts (gnutls_certificate_set_x509_key_mem). */
        tls_opts[0] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls->cert_pem.p};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls->key_pem.p};
        /* TLS 1.2 and 1.3 only. */
        tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                              (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
    }
    /* The logger first, so that libmicrohttpd's messages about the other options reach it. */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT,
        /* accepted ones, those being shut down included: a backstop */
        2 * s->limits.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)KEK_SERVE_IDLE_SECONDS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)KEK_SERVE_HEADERS_MAX, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (s->daemon == NULL) {
        free(s);
        return kt_fail(e, KT_EIO,
                       "cannot listen on the address given (in use, or not allowed); try "
                       "another port, or port 0 for any free one");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL ? info->port : 0;
    atomic_init(&s->stop, false);
    int err = pthread_create(&s->thread, NULL, serve_loop, s);
    if (err != 0) {
        rc = kt_fail_errno(e, KT_EIO, err, "cannot start the server's thread");

        MHD_stop_daemon(s->daemon);
        free(s);
        return rc;
    }
    *out = s;
    return KT_OK;
}

unsigned kek_serve_port(const kek_server *s)
{
    return s->port;
}

void kek_serve_stop(kek_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    /* The loop has ended: this thread is now the only one to touch the daemon. */
    MHD_stop_daemon(s->daemon);
    free(s);
}
