/*
 * serve.c - a Key Vault-shaped REST endpoint in front of the emulated cloud HSM, on loopback
 * only: the strict Import Key body parser, the transport-free request handler, and the
 * libmicrohttpd server around them. Every request is distrusted: caps on headers and body (the
 * body cap is enforced while it arrives), exact members, strict base64url, and every failure is a
 * Key Vault error answer, never a crash. Imports go through kek_import.
 */
#include "serve.h"

#include "aws_kms.h"
#include "internal.h"

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

static const char *const op_names[] = {"encrypt", "decrypt", "sign",
                                       "verify",  "wrapKey", "unwrapKey"};
#define N_OPS (sizeof op_names / sizeof op_names[0])

unsigned kek_ops_for(world_key_type type)
{
    switch (type) {
    case WORLD_KEY_RSA:
        return KEK_OP_ENCRYPT | KEK_OP_DECRYPT | KEK_OP_SIGN | KEK_OP_VERIFY | KEK_OP_WRAP_KEY |
               KEK_OP_UNWRAP_KEY;
    case WORLD_KEY_EC:
        return KEK_OP_SIGN | KEK_OP_VERIFY;
    case WORLD_KEY_AES:
        return KEK_OP_ENCRYPT | KEK_OP_DECRYPT | KEK_OP_WRAP_KEY | KEK_OP_UNWRAP_KEY;
    }
    return 0;
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
    memset(b, 0, sizeof *b);
}

static kt_rc parse_kty(const json_t *key, kek_import_body *out, kt_err *e)
{
    static const struct {
        const char *name;
        world_key_type type;
    } types[] = {{"RSA-HSM", WORLD_KEY_RSA}, {"EC-HSM", WORLD_KEY_EC}, {"oct-HSM", WORLD_KEY_AES}};
    const char *kty;
    kt_rc rc = kt_json_get_string(key, "kty", WHAT " key", &kty, e);
    if (rc != KT_OK)
        return rc;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(kty, types[i].name) == 0) {
            out->type = types[i].type;
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
    if (!json_is_array(ops) || json_array_size(ops) == 0 || json_array_size(ops) > N_OPS)
        return kt_fail(e, KT_EFORMAT, WHAT ": key_ops must be a list of 1 to %zu operations",
                       N_OPS);
    json_array_foreach(ops, i, op)
    {
        const char *s = json_string_value(op);
        unsigned bit = 0;
        for (size_t k = 0; s != NULL && k < N_OPS; k++)
            if (strcmp(s, op_names[k]) == 0)
                bit = 1u << k;
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

static kt_rc parse_attributes(const json_t *root, kt_err *e)
{
    static const char *const members[] = {"enabled", NULL};
    json_t *attr = json_object_get(root, "attributes");
    bool enabled;
    kt_rc rc;
    if (attr == NULL)
        return KT_OK;
    if (!json_is_object(attr))
        return kt_fail(e, KT_EFORMAT, WHAT ": attributes must be an object");
    if ((rc = kt_json_only_keys(attr, members, WHAT " attributes", e)) != KT_OK)
        return rc;
    if (json_object_get(attr, "enabled") == NULL)
        return KT_OK;
    if ((rc = kt_json_get_bool(attr, "enabled", WHAT " attributes", &enabled, e)) != KT_OK)
        return rc;
    if (!enabled)
        return kt_fail(e, KT_EFORMAT, WHAT ": this emulator imports enabled keys only");
    return KT_OK;
}

kt_rc kek_import_body_parse(const uint8_t *in, size_t len, kek_import_body *out, kt_err *e)
{
    static const char *const top[] = {"key", "attributes", NULL};
    static const char *const key_members[] = {"kty", "crv", "key_ops", "key_hsm", NULL};
    json_t *j = NULL, *key;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = kt_json_parse(in, len, KEK_SERVE_BODY_MAX, &j, e)) != KT_OK) {
        kt_err_prefix(e, WHAT);
        return rc;
    }
    if ((rc = kt_json_only_keys(j, top, WHAT, e)) ||
        (rc = kt_json_get_object(j, "key", WHAT, &key, e)) ||
        (rc = kt_json_only_keys(key, key_members, WHAT " key", e)) ||
        (rc = parse_kty(key, out, e)) || (rc = parse_crv(key, out, e)) ||
        (rc = parse_ops(key, out, e)) || (rc = parse_hsm(key, out, e)) ||
        (rc = parse_attributes(j, e)))
        kek_import_body_free(out);
    json_decref(j);
    return rc;
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

/* /keys/NAME, /keys/NAME/ or /keys/NAME/VERSION; false for anything else. */
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
    if (kek_check_key_name(r->name, &ignored) != KT_OK)
        return false;
    if (slash == NULL || slash[1] == '\0')
        return true;
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
    memset(rs, 0, sizeof *rs);
    if (!parse_route(rq->path, &r)) {
        answer_error(rs, 404, "NotFound",
                     "no such resource: this emulator serves /keys/{name} (names of 1 to %d "
                     "letters, digits and '-')",
                     PKG_KEY_NAME_MAX);
        return true;
    }
    bool put = strcmp(rq->method, "PUT") == 0, get = strcmp(rq->method, "GET") == 0;
    if (!(get || (put && r.version[0] == '\0'))) {
        rs->allow = r.version[0] ? "GET" : "GET, PUT";
        answer_error(rs, 405, "MethodNotAllowed", "%s is not allowed here; allowed: %s",
                     put ? "PUT with a key version" : "this method", rs->allow);
        return true;
    }
    if (rq->api_version == NULL || strcmp(rq->api_version, KEK_SERVE_API_VERSION) != 0) {
        answer_error(rs, 400, "BadParameter",
                     "the api-version query parameter is missing or not " KEK_SERVE_API_VERSION
                     ", the one version this emulator speaks");
        return true;
    }
    if (!token_ok(s, rq->authorization)) {
        rs->www_authenticate = true;
        answer_error(rs, 401, "Unauthorized",
                     rq->authorization == NULL
                         ? "AKV10000: Request is missing a Bearer or PoP token."
                         : "the bearer token is not the one this emulator printed or was given");
        return true;
    }
    if (put && !is_json_type(rq->content_type)) {
        answer_error(rs, 415, "UnsupportedMediaType", "the request body must be application/json");
        return true;
    }
    return false;
}

/* ---- the emulated HSM behind the routes -------------------------------------------------- */

/* The key's version: stable for the key as stored, so GET and PUT name the same kid. */
static void key_version(const world_key_info *info, char out[33])
{
    static const char label[] = "keytransfer-cloud key version 1";
    uint8_t in[sizeof label - 1 + WORLD_HASH_LEN + 8], d[32];
    memcpy(in, label, sizeof label - 1);
    memcpy(in + sizeof label - 1, info->key_hash, WORLD_HASH_LEN);
    for (int i = 0; i < 8; i++)
        in[sizeof label - 1 + WORLD_HASH_LEN + i] = (uint8_t)(info->created >> (56 - 8 * i));
    kt_sha256(d, in, sizeof in);
    kt_hex(out, d, 16);
}

/* What the HSM lets the stored key do, in Key Vault's terms (encrypt also allows wrapKey,
 * decrypt unwrapKey). */
static unsigned acl_ops(const world_key_info *info)
{
    unsigned ops = 0;
    for (unsigned g = 0; g < info->acl.ngroups; g++) {
        uint32_t a = info->acl.groups[g].actions;
        if (a & WORLD_ACT_SIGN)
            ops |= KEK_OP_SIGN;
        if (a & WORLD_ACT_VERIFY)
            ops |= KEK_OP_VERIFY;
        if (a & WORLD_ACT_ENCRYPT)
            ops |= KEK_OP_ENCRYPT | KEK_OP_WRAP_KEY;
        if (a & WORLD_ACT_DECRYPT)
            ops |= KEK_OP_DECRYPT | KEK_OP_UNWRAP_KEY;
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

/* The public JWK of a stored key (RFC 7517/7518 as Key Vault writes it). */
static kt_rc key_jwk(const kek_cloud *c, const world_key_info *info, unsigned ops, json_t **out,
                     kt_err *e)
{
    static const char *const ktys[] = {"", "RSA-HSM", "EC-HSM", "oct-HSM"};
    char version[33], kid[PKG_KID_MAX + 1], vault[KEK_VAULT_MAX + 1];
    EVP_PKEY *pkey = NULL;
    BIGNUM *a = NULL, *b = NULL;
    kt_rc rc = KT_OK;

    *out = NULL;
    for (size_t i = 0; i <= strlen(c->vault); i++)
        vault[i] = (char)tolower((unsigned char)c->vault[i]);
    key_version(info, version);
    snprintf(kid, sizeof kid, "https://%s.vault.azure.net/keys/%s/%s", vault, info->plainname,
             version);
    json_t *key_ops = json_array();
    for (size_t i = 0; key_ops != NULL && i < N_OPS; i++)
        if (ops & (1u << i))
            json_array_append_new(key_ops, json_string(op_names[i]));
    json_t *key =
        json_pack("{s:s, s:s, s:o}", "kid", kid, "kty", ktys[info->type], "key_ops", key_ops);
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
    json_t *v = json_pack("{s:o, s:{s:b, s:I, s:I, s:s, s:b}}", "key", key, "attributes", "enabled",
                          1, "created", (json_int_t)info->created, "updated",
                          (json_int_t)info->created, "recoveryLevel", "Purgeable", "exportable", 0);
    key = NULL;
    if (v == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    *out = v;
out:
    json_decref(key);
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
    if (strcmp(b.kid, c->kid) != 0) {
        rc = kt_fail(e, KT_EDENIED, "the .byok is wrapped for KEK %s; this vault's KEK is %s",
                     b.kid, c->kid);
        goto out;
    }
    if ((rc = world_key_load(&c->paths, &c->module, KEK_APP_KEK, c->kek_ident, &kek, e)))
        goto out;
    if (!world_acl_allows(&kek.info.acl, WORLD_ACT_IMPORT_UNWRAP, NULL, NULL)) {
        rc = kt_fail(e, KT_EDENIED, "the KEK's ACL does not allow ImportUnwrap");
        goto out;
    }
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

static void lower_ident(const char *name, char *out, size_t outsz)
{
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < outsz; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

static void do_import(kek_rest *s, const route *r, const kek_rest_request *rq,
                      kek_rest_response *rs)
{
    kek_cloud *c = s->cloud;
    kek_import_body body;
    kek_imported imp;
    world_key_type type = 0;
    char curve[WORLD_KEY_CURVE_MAX + 1] = "", ident[PKG_KEY_NAME_MAX + 1], path[PATH_MAX];
    json_t *v = NULL;
    kt_err e;

    kt_err_clear(&e);
    if (kek_import_body_parse(rq->body, rq->len, &body, &e) != KT_OK) {
        answer_error(rs, 400, "BadParameter", "%s", e.msg);
        return;
    }
    lower_ident(r->name, ident, sizeof ident);
    if (strlen(ident) > WORLD_KEY_IDENT_MAX) {
        answer_error(rs, 400, "BadParameter",
                     "this emulator keeps key names of at most %d "
                     "characters",
                     WORLD_KEY_IDENT_MAX);
        goto out;
    }
    if (world_key_path(&c->paths, KEK_APP_IMPORTED, ident, path, sizeof path, &e) != KT_OK) {
        answer_rc(rs, &e);
        goto out;
    }
    if (kt_path_exists(path)) {
        answer_error(rs, 409, "Conflict",
                     "a key named %s exists; this emulator does not make new versions of a key",
                     r->name);
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
    if (kek_import(c, body.byok.p, body.byok.len, r->name, &imp, &e) != KT_OK) {
        answer_rc(rs, &e);
        goto out;
    }
    if (imp.info.type != body.type) { /* cannot happen after peek; never answer 200 if it does */
        answer_error(rs, 500, "InternalError", "the stored key is not of the type checked");
        goto out;
    }
    if (key_jwk(c, &imp.info, body.ops, &v, &e) != KT_OK) {
        answer_rc(rs, &e);
        goto out;
    }
    answer_json(rs, 200, v);
out:
    kek_import_body_free(&body);
}

static void do_get(kek_rest *s, const route *r, kek_rest_response *rs)
{
    kek_cloud *c = s->cloud;
    world_key_info info;
    char ident[PKG_KEY_NAME_MAX + 1], path[PATH_MAX], version[33];
    json_t *v = NULL;
    kt_err e;

    kt_err_clear(&e);
    lower_ident(r->name, ident, sizeof ident);
    if (strlen(ident) > WORLD_KEY_IDENT_MAX ||
        world_key_path(&c->paths, KEK_APP_IMPORTED, ident, path, sizeof path, &e) != KT_OK ||
        !kt_path_exists(path)) {
        answer_error(rs, 404, "KeyNotFound",
                     "A key with (name/id) %s was not found in this key "
                     "vault.",
                     r->name);
        return;
    }
    if (world_key_inspect(&c->paths, &c->module, KEK_APP_IMPORTED, ident, &info, &e) != KT_OK) {
        answer_error(rs, 500, "InternalError", "%s", e.msg);
        return;
    }
    key_version(&info, version);
    if (r->version[0] != '\0' && strcmp(r->version, version) != 0) {
        answer_error(rs, 404, "KeyNotFound",
                     "A key with (name/id) %s/%s was not found in this "
                     "key vault.",
                     r->name, r->version);
        return;
    }
    if (key_jwk(c, &info, acl_ops(&info), &v, &e) != KT_OK) {
        answer_rc(rs, &e);
        return;
    }
    answer_json(rs, 200, v);
}

void kek_rest_handle(kek_rest *s, const kek_rest_request *rq, kek_rest_response *rs)
{
    route r;
    if (kek_rest_precheck(s, rq, rs))
        return;
    if (!parse_route(rq->path, &r)) { /* precheck has answered these; kept for clarity */
        answer_error(rs, 404, "NotFound", "no such resource");
        return;
    }
    /* One request at a time inside the HSM. */
    pthread_mutex_lock(&s->lock);
    if (strcmp(rq->method, "PUT") == 0)
        do_import(s, &r, rq, rs);
    else
        do_get(s, &r, rs);
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
        if (rs->www_authenticate)
            MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                    "Bearer authorization=\"https://login.microsoftonline.com/"
                                    "common\", resource=\"https://vault.azure.net\"");
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
                      const kek_serve_limits *limits, kek_log_fn log, void *log_ctx,
                      kek_server **out, kt_err *e)
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
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT,
        /* accepted ones, those being shut down included: a backstop */
        2 * s->limits.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)KEK_SERVE_IDLE_SECONDS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)KEK_SERVE_HEADERS_MAX, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_END);
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
