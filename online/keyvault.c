/*
 * keyvault.c - the shapes of the Key Vault REST API the upload uses (Import Key, api-version
 * 7.4 by default; props.c has the others): the vault URL and key names, key operations, the import
 * body, the JWK the service answers with and its SubjectPublicKeyInfo fingerprint, and the
 * service's error answers. Everything here is a pure function of its inputs; http.c does the one
 * request.
 */
#include "online.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

/* ---- vault URL and key names ------------------------------------------------------------- */

static bool is_dns_label_char(char c)
{
    return isalnum((unsigned char)c) || c == '-';
}

/* A DNS name or dotted-quad IPv4 address: labels of [A-Za-z0-9-]{1,63}, no leading or trailing
 * '-'. A name whose last label starts with a digit is an address to URL parsers and resolvers,
 * so it must be a dotted quad that inet_pton takes ("127.1" and "0x7f.0.0.1", which they read
 * in surprising ways, are refused). */
static bool is_host_name(const char *h, size_t n)
{
    size_t label = 0, last = 0;
    if (n == 0 || n > ONLINE_HOST_MAX)
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || h[i] == '.') {
            if (label == 0 || h[i - 1] == '-' || h[i - label] == '-')
                return false;
            last = i - label;
            label = 0;
            continue;
        }
        if (!is_dns_label_char(h[i]) || ++label > 63)
            return false;
    }
    if (isdigit((unsigned char)h[last])) {
        char ip[ONLINE_HOST_MAX + 1];
        struct in_addr a;
        snprintf(ip, sizeof ip, "%.*s", (int)n, h);
        return inet_pton(AF_INET, ip, &a) == 1;
    }
    return true;
}

bool online_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return memcmp(&a6, &in6addr_loopback, sizeof a6) == 0;
    return false;
}

kt_rc online_vault_parse(const char *url, online_vault *v, kt_err *e)
{
    const char *p, *host, *host_end, *rest;
    char bare[ONLINE_HOST_MAX + 1];
    size_t n = strlen(url);

    memset(v, 0, sizeof *v);
    if (n == 0 || n >= ONLINE_URL_MAX)
        return kt_fail(e, KT_EUSAGE, "the vault URL must be 1 to %d characters",
                       ONLINE_URL_MAX - 1);
    if (strncmp(url, "https://", 8) == 0) {
        v->https = true;
        host = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        host = url + 7;
    } else {
        return kt_fail(e, KT_EUSAGE,
                       "the vault URL must start with https:// (such as "
                       "https://contoso.vault.azure.net), not '%.80s'",
                       url);
    }

    /* The authority ends at the first '/', '?' or '#'; a user name or password is refused. */
    size_t authority = strcspn(host, "/?#");
    if (memchr(host, '@', authority) != NULL)
        return kt_fail(e, KT_EUSAGE,
                       "vault URL: no user name or password in the URL; the token comes "
                       "from --token-file or " ONLINE_TOKEN_ENV);

    /* host: [IPv6] or a name */
    if (*host == '[') {
        host_end = strchr(host, ']');
        if (host_end == NULL || (size_t)(host_end - host - 1) >= sizeof bare)
            return kt_fail(e, KT_EUSAGE, "vault URL: an IPv6 address must be in [brackets]");
        snprintf(bare, sizeof bare, "%.*s", (int)(host_end - host - 1), host + 1);
        struct in6_addr a6;
        if (inet_pton(AF_INET6, bare, &a6) != 1)
            return kt_fail(e, KT_EUSAGE, "vault URL: '%s' is not an IPv6 address", bare);
        host_end++;
    } else {
        host_end = host + strcspn(host, ":/?#");
        if (!is_host_name(host, (size_t)(host_end - host)))
            return kt_fail(e, KT_EUSAGE, "vault URL: '%.*s' is not a host name or IPv4 address",
                           (int)((host_end - host) > 80 ? 80 : (host_end - host)), host);
        snprintf(bare, sizeof bare, "%.*s", (int)(host_end - host), host);
    }
    snprintf(v->host, sizeof v->host, "%.*s", (int)(host_end - host), host);

    /* [:port] */
    p = host_end;
    if (*p == ':') {
        unsigned long port = 0;
        size_t digits = strspn(p + 1, "0123456789");
        if (digits == 0 || digits > 5)
            return kt_fail(e, KT_EUSAGE, "vault URL: the port must be a number 1 to 65535");
        for (size_t i = 0; i < digits; i++)
            port = port * 10 + (unsigned long)(p[1 + i] - '0');
        if (port < 1 || port > 65535)
            return kt_fail(e, KT_EUSAGE, "vault URL: the port must be a number 1 to 65535");
        v->port = (unsigned)port;
        p += 1 + digits;
    }

    /* nothing but an optional '/' */
    rest = p;
    if (strcmp(rest, "") != 0 && strcmp(rest, "/") != 0) {
        return kt_fail(e, KT_EUSAGE,
                       "vault URL: give only the vault, such as https://contoso.vault.azure.net "
                       "(no path, query or fragment; found '%.80s')",
                       rest);
    }

    v->loopback = online_is_loopback(bare);
    if (!v->https && !v->loopback)
        return kt_fail(e, KT_EUSAGE,
                       "vault URL: plain http is allowed only to a loopback address (127.0.0.1, "
                       "[::1], localhost); use https:// for '%s' so that the token and the "
                       "package travel encrypted and the server is authenticated",
                       v->host);
    int w = snprintf(v->base, sizeof v->base, "%s://%s", v->https ? "https" : "http", v->host);
    if (v->port != 0 && w > 0 && (size_t)w < sizeof v->base)
        w += snprintf(v->base + w, sizeof v->base - (size_t)w, ":%u", v->port);
    if (w < 0 || (size_t)w >= sizeof v->base)
        return kt_fail(e, KT_EUSAGE, "the vault URL is too long");
    return KT_OK;
}

kt_rc online_key_url(const online_vault *v, const char *name, char *out, size_t outsz, kt_err *e)
{
    return online_key_url_api(v, name, NULL, out, outsz, e);
}

kt_rc online_key_url_api(const online_vault *v, const char *name, const char *api, char *out,
                         size_t outsz, kt_err *e)
{
    kt_rc rc = pkg_key_name_check("key name", name, e);
    if (rc != KT_OK)
        return rc;
    int n = snprintf(out, outsz, "%s/keys/%s?api-version=%s", v->base, name,
                     api != NULL ? api : ONLINE_API_VERSION);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "the key URL is too long");
    return KT_OK;
}

/* ---- key operations and types (the names are packages/keyvault.c's) ---------------------- */

kt_rc online_ops_parse(const char *list, const char *key_type, unsigned *ops, kt_err *e)
{
    unsigned allowed = pkg_kv_ops_for(key_type), got = 0;
    char names[96];
    const char *p = list;

    *ops = 0;
    pkg_kv_ops_format(allowed, names, sizeof names);
    for (;;) {
        size_t n = strcspn(p, ",");
        unsigned bit = pkg_kv_op_parse(p, n);
        if (n == 0)
            return kt_fail(e, KT_EUSAGE, "--ops: an empty operation in '%.100s'", list);
        if (bit == 0)
            return kt_fail(e, KT_EUSAGE, "--ops: '%.*s' is not a key operation; a %s key takes %s",
                           (int)(n > 40 ? 40 : n), p, key_type, names);
        if (!(bit & allowed))
            return kt_fail(e, KT_EUSAGE, "--ops: a %s key cannot '%s'; it takes %s", key_type,
                           pkg_kv_op_name(bit), names);
        if (got & bit)
            return kt_fail(e, KT_EUSAGE, "--ops: '%s' is given twice", pkg_kv_op_name(bit));
        got |= bit;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    *ops = got;
    return KT_OK;
}

const char *online_crv_for(const char *curve)
{
    const kt_curve *c = kt_curve_find(curve);
    return c != NULL && strcmp(c->name, curve) == 0 ? c->jwk : NULL;
}

/* ---- the import body --------------------------------------------------------------------- */

kt_rc online_import_body(const pkg_manifest *m, const uint8_t *package, size_t len, unsigned ops,
                         char **json, kt_err *e)
{
    const char *kty = pkg_kv_kty_for(m->key_type), *crv = NULL;
    char *hsm = NULL;
    kt_rc rc;

    *json = NULL;
    if (strcmp(m->target, "azure") != 0 || strcmp(m->oaep_hash, "SHA-1") != 0)
        return kt_fail(e, KT_EDENIED,
                       "this package was made for %s (OAEP %s), not for Azure Key Vault: upload it "
                       "with that cloud's own tools",
                       m->target, m->oaep_hash);
    if (kty == NULL)
        return kt_fail(e, KT_EFORMAT,
                       "the manifest states key type '%s', which Key Vault does "
                       "not take",
                       m->key_type);
    if (strcmp(m->key_type, "EC") == 0 && (crv = online_crv_for(m->curve)) == NULL)
        return kt_fail(e, KT_EFORMAT,
                       "the manifest states curve '%s', which Key Vault does not "
                       "take (P-256, P-384, P-521, secp256k1)",
                       m->curve);
    if (ops == 0 || (ops & ~pkg_kv_ops_for(m->key_type)) != 0)
        return kt_fail(e, KT_EUSAGE, "the key operations do not suit a %s key", m->key_type);
    if (len == 0 || len > PKG_BYOK_MAX)
        return kt_fail(e, KT_ETOOBIG, "a package is 1 to %d bytes", PKG_BYOK_MAX);
    /* az, PowerShell and the SDKs send the whole .byok file as unpadded base64url. */
    if ((rc = kt_b64url_encode(package, len, &hsm, e)) != KT_OK)
        return rc;

    json_t *key_ops = pkg_kv_ops_json(ops);
    json_t *key = json_pack("{s:s, s:o, s:s}", "kty", kty, "key_ops", key_ops, "key_hsm", hsm);
    if (key != NULL && crv != NULL)
        json_object_set_new(key, "crv", json_string(crv));
    json_t *body =
        json_pack("{s:o, s:b, s:{s:b}}", "key", key, "Hsm", 1, "attributes", "enabled", 1);
    rc = body != NULL ? kt_json_dump(body, false, json, e) : kt_fail(e, KT_ENOMEM, "out of memory");
    json_decref(body);
    free(hsm);
    return rc;
}

/* ---- the JWK the service answers with ---------------------------------------------------- */

/* A base64url member of 1..max bytes into *out (kt_buf_free). */
static kt_rc jwk_bytes(const json_t *jwk, const char *member, size_t max, kt_buf *out, kt_err *e)
{
    const char *s;
    kt_rc rc;
    out->p = NULL;
    out->len = 0;
    if ((rc = kt_json_get_string(jwk, member, "the key the service returned", &s, e)) != KT_OK)
        return rc;
    if (strlen(s) > (max + 2) / 3 * 4)
        return kt_fail(e, KT_EFORMAT, "the key the service returned: '%s' is too long", member);
    if ((rc = kt_b64url_decode(s, strlen(s), out, e)) != KT_OK) {
        kt_err_prefix(e, "the key the service returned: '%s'", member);
        return rc;
    }
    if (out->len == 0 || out->len > max) {
        kt_buf_free(out);
        return kt_fail(e, KT_EFORMAT, "the key the service returned: '%s' has a bad length",
                       member);
    }
    return KT_OK;
}

/* Builds a public key from params and fingerprints its SPKI DER; OpenSSL checks the key. */
static kt_rc fromdata_sha256(const char *type, OSSL_PARAM_BLD *bld, uint8_t out[32], kt_err *e)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL), *check = NULL;
    EVP_PKEY *pkey = NULL;
    kt_rc rc;

    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "OpenSSL cannot build %s keys", type);
        goto out;
    }
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
        (check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
        EVP_PKEY_public_check(check) != 1) {
        rc = kt_fail_ssl(e, KT_EFORMAT, "the key the service returned is not a valid %s public key",
                         type);
        goto out;
    }
    rc = kt_spki_sha256(pkey, out, e);
out:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    OSSL_PARAM_free(params);
    return rc;
}

static kt_rc rsa_sha256(const json_t *jwk, uint8_t out[32], kt_err *e)
{
    kt_buf n = {0}, ex = {0};
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    kt_rc rc;
    if ((rc = jwk_bytes(jwk, "n", PKG_RSA_MAX_BITS / 8 + 1, &n, e)) ||
        (rc = jwk_bytes(jwk, "e", 8, &ex, e)))
        goto out;
    if ((bn_n = BN_bin2bn(n.p, (int)n.len, NULL)) == NULL ||
        (bn_e = BN_bin2bn(ex.p, (int)ex.len, NULL)) == NULL ||
        (bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1) {
        rc = kt_fail_ssl(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    if (BN_num_bits(bn_n) < PKG_RSA_MIN_BITS) {
        rc = kt_fail(e, KT_EFORMAT, "the RSA key the service returned has %d bits",
                     BN_num_bits(bn_n));
        goto out;
    }
    rc = fromdata_sha256("RSA", bld, out, e);
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    kt_buf_free(&n);
    kt_buf_free(&ex);
    return rc;
}

static kt_rc ec_sha256(const json_t *jwk, uint8_t out[32], kt_err *e)
{
    const kt_curve *c = NULL;
    const char *crv;
    kt_buf x = {0}, y = {0};
    uint8_t point[1 + 2 * 66];
    OSSL_PARAM_BLD *bld = NULL;
    kt_rc rc;

    if ((rc = kt_json_get_string(jwk, "crv", "the key the service returned", &crv, e)) != KT_OK)
        return rc;
    if ((c = kt_curve_by_jwk(crv)) == NULL) {
        char s[40];
        kt_quote(s, sizeof s, crv, strlen(crv));
        return kt_fail(e, KT_EFORMAT,
                       "the key the service returned is on curve '%s', which is "
                       "not P-256, P-384, P-521 or P-256K",
                       s);
    }
    if ((rc = jwk_bytes(jwk, "x", c->coord, &x, e)) || (rc = jwk_bytes(jwk, "y", c->coord, &y, e)))
        goto out;
    if (x.len != c->coord || y.len != c->coord) {
        rc = kt_fail(e, KT_EFORMAT,
                     "the key the service returned: x and y on %s are %zu bytes each (RFC 7518 "
                     "§6.2.1.2)",
                     c->jwk, c->coord);
        goto out;
    }
    /* SEC 1 §2.3.3: the uncompressed point 04 || x || y */
    point[0] = 0x04;
    memcpy(point + 1, x.p, c->coord);
    memcpy(point + 1 + c->coord, y.p, c->coord);
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * c->coord) !=
            1) {
        rc = kt_fail_ssl(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    rc = fromdata_sha256("EC", bld, out, e);
out:
    OSSL_PARAM_BLD_free(bld);
    kt_buf_free(&x);
    kt_buf_free(&y);
    return rc;
}

kt_rc online_jwk_sha256(const json_t *jwk, uint8_t out[32], kt_err *e)
{
    const char *kty;
    kt_rc rc;
    memset(out, 0, 32);
    if (!json_is_object(jwk))
        return kt_fail(e, KT_EFORMAT, "the key the service returned is not a JSON object");
    if ((rc = kt_json_get_string(jwk, "kty", "the key the service returned", &kty, e)) != KT_OK)
        return rc;
    if (strcmp(kty, "RSA") == 0 || strcmp(kty, "RSA-HSM") == 0)
        rc = rsa_sha256(jwk, out, e);
    else if (strcmp(kty, "EC") == 0 || strcmp(kty, "EC-HSM") == 0)
        rc = ec_sha256(jwk, out, e);
    else
        rc = kt_fail(e, KT_EFORMAT, "the key the service returned has no public key (kty %.20s)",
                     kty);
    if (rc != KT_OK)
        memset(out, 0, 32);
    return rc;
}

/* ---- answers ----------------------------------------------------------------------------- */

/* HOST and NAME of https://HOST/keys/NAME/VERSION (the shape pkg_kid_check has checked). */
static void kid_parts(const char *kid, char *host, size_t hostsz, char *name, size_t namesz)
{
    const char *h = kid + strlen("https://");
    const char *p = strstr(h, "/keys/");
    const char *end;
    host[0] = name[0] = '\0';
    if (p == NULL)
        return;
    if ((size_t)(p - h) < hostsz)
        snprintf(host, hostsz, "%.*s", (int)(p - h), h);
    p += 6;
    end = strchr(p, '/');
    if (end != NULL && (size_t)(end - p) < namesz)
        snprintf(name, namesz, "%.*s", (int)(end - p), p);
}

void online_describe_error(long status, const uint8_t *body, size_t len, char *out, size_t outsz)
{
    char code[80] = "", msg[400] = "";
    json_t *j = NULL;
    kt_err ignored;
    if (len > 0 && kt_json_parse(body, len, ONLINE_RESPONSE_MAX, &j, &ignored) == KT_OK) {
        json_t *err = json_object_get(j, "error");
        const char *c = json_string_value(json_object_get(err, "code"));
        const char *m = json_string_value(json_object_get(err, "message"));
        if (c != NULL)
            kt_quote(code, sizeof code, c, strlen(c));
        if (m != NULL)
            kt_quote(msg, sizeof msg, m, strlen(m));
        json_decref(j);
    }
    if (code[0] == '\0' && msg[0] == '\0' && len > 0) {
        kt_quote(msg, sizeof msg, (const char *)body, len < 200 ? len : 200);
        snprintf(out, outsz, "HTTP %ld, not a Key Vault error answer: %s", status, msg);
        return;
    }
    snprintf(out, outsz, "HTTP %ld%s%s%s%s", status, code[0] ? " " : "", code, msg[0] ? ": " : "",
             msg);
}

/* key_ops of an answer: a list of strings; the known ones as bits, all of them as text. */
static kt_rc answer_ops(const json_t *key, online_imported *out, kt_err *e)
{
    json_t *ops, *op;
    size_t i, used = 0;
    kt_rc rc;
    if ((rc = kt_json_get_array(key, "key_ops", "the service's answer", &ops, e)) != KT_OK)
        return rc;
    if (json_array_size(ops) > 32)
        return kt_fail(e, KT_EFORMAT, "the service's answer lists %zu key_ops",
                       json_array_size(ops));
    json_array_foreach(ops, i, op)
    {
        const char *name = json_string_value(op);
        char s[40];
        unsigned bit = 0;
        if (name == NULL)
            return kt_fail(e, KT_EFORMAT, "the service's answer: key_ops[%zu] is not a string", i);
        bit = pkg_kv_op_parse(name, strlen(name));
        if (bit == 0)
            out->ops_unknown = true;
        out->ops |= bit;
        kt_quote(s, sizeof s, name, strlen(name));
        int n =
            snprintf(out->ops_text + used, sizeof out->ops_text - used, "%s%s", used ? "," : "", s);
        if (n > 0 && (size_t)n < sizeof out->ops_text - used)
            used += (size_t)n;
    }
    if (used == 0)
        snprintf(out->ops_text, sizeof out->ops_text, "(none)");
    return KT_OK;
}

/* attributes.enabled (required) and attributes.exportable (when present). */
static kt_rc answer_attributes(const json_t *root, online_imported *out, kt_err *e)
{
    json_t *attr, *exp;
    kt_rc rc;
    if ((rc = kt_json_get_object(root, "attributes", "the service's answer", &attr, e)) ||
        (rc = kt_json_get_bool(attr, "enabled", "the service's answer: attributes", &out->enabled,
                               e)))
        return rc;
    if ((exp = json_object_get(attr, "exportable")) != NULL) {
        if (!json_is_boolean(exp))
            return kt_fail(e, KT_EFORMAT,
                           "the service's answer: attributes.exportable is not true or false");
        out->exportable_stated = true;
        out->exportable = json_is_true(exp);
    }
    static const char *const times[] = {"nbf", "exp"};
    bool *has[] = {&out->has_nbf, &out->has_exp};
    int64_t *val[] = {&out->nbf, &out->exp};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(attr, times[i]);
        if (v == NULL)
            continue;
        if (!json_is_integer(v))
            return kt_fail(e, KT_EFORMAT,
                           "the service's answer: attributes.%s is not a whole number", times[i]);
        *has[i] = true;
        *val[i] = json_integer_value(v);
    }
    json_t *tags = json_object_get(root, "tags");
    if (tags != NULL) {
        if (!json_is_object(tags))
            return kt_fail(e, KT_EFORMAT, "the service's answer: tags is not an object");
        if ((rc = online_tags_digest(tags, out->tags_sha256, e)) != KT_OK)
            return rc;
        out->has_tags = true;
    }
    return KT_OK;
}

kt_rc online_tags_digest(const json_t *tags, uint8_t out[32], kt_err *e)
{
    char *s = json_dumps(tags, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    kt_sha256(out, s, strlen(s));
    free(s);
    return KT_OK;
}

kt_rc online_parse_answer(long status, const uint8_t *body, size_t len, online_imported *out,
                          kt_err *e)
{
    char what[600];
    json_t *j = NULL, *key;
    const char *kid, *kty;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if (status != 200) {
        online_describe_error(status, body, len, what, sizeof what);
        if (status == 401 || status == 403)
            return kt_fail(e, KT_EDENIED,
                           "authentication failed (%s): get a fresh token with `az account "
                           "get-access-token --resource https://vault.azure.net` and check your "
                           "access to the vault",
                           what);
        if (status >= 300 && status < 400)
            return kt_fail(e, KT_EIO,
                           "the service answered with a redirect (%s), which is not followed: "
                           "check the vault URL",
                           what);
        if (status >= 400 && status < 500)
            return kt_fail(e, KT_EDENIED, "the service refused the request (%s)", what);
        return kt_fail(e, KT_EIO, "the service failed (%s)", what);
    }

    if ((rc = kt_json_parse(body, len, ONLINE_RESPONSE_MAX, &j, e)) != KT_OK) {
        kt_err_prefix(e, "the service's answer");
        return rc == KT_ETOOBIG ? rc : KT_EFORMAT;
    }
    if ((rc = kt_json_get_object(j, "key", "the service's answer", &key, e)) ||
        (rc = kt_json_get_string(key, "kid", "the service's answer", &kid, e)) ||
        (rc = kt_json_get_string(key, "kty", "the service's answer", &kty, e)))
        goto out;
    if (strlen(kid) > PKG_KID_MAX || pkg_kid_check(kid, e) != KT_OK) {
        char s[120];
        kt_quote(s, sizeof s, kid, strlen(kid));
        rc = kt_fail(e, KT_EFORMAT, "the service's answer: kid '%s' is not a key identifier", s);
        goto out;
    }
    snprintf(out->kid, sizeof out->kid, "%s", kid);
    kid_parts(kid, out->host, sizeof out->host, out->name, sizeof out->name);
    if (strlen(kty) >= sizeof out->kty) {
        rc = kt_fail(e, KT_EFORMAT, "the service's answer: kty is not a key type");
        goto out;
    }
    kt_quote(out->kty, sizeof out->kty, kty, strlen(kty));
    if ((rc = answer_ops(key, out, e)) != KT_OK || (rc = answer_attributes(j, out, e)) != KT_OK)
        goto out;
    if (strcmp(kty, "RSA") == 0 || strcmp(kty, "RSA-HSM") == 0 || strcmp(kty, "EC") == 0 ||
        strcmp(kty, "EC-HSM") == 0) {
        if ((rc = online_jwk_sha256(key, out->key_sha256, e)) != KT_OK)
            goto out;
        out->has_public = true;
    }
out:
    json_decref(j);
    if (rc != KT_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

/* Appends "; " and a formatted difference to list. */
static void differ(char *list, size_t listsz, const char *fmt, ...) KT_PRINTF(3, 4);
static void differ(char *list, size_t listsz, const char *fmt, ...)
{
    size_t used = strlen(list);
    va_list ap;
    if (used > 0 && used + 2 < listsz) {
        memcpy(list + used, "; ", 3);
        used += 2;
    }
    va_start(ap, fmt);
    vsnprintf(list + used, listsz - used, fmt, ap);
    va_end(ap);
}

kt_rc online_check_answer(const online_expect *want, const online_imported *got, bool *compared,
                          kt_err *e)
{
    const char *kty = pkg_kv_kty_for(want->m->key_type);
    char list[700] = "", asked[96];
    kt_rc rc;

    *compared = false;
    if (strcasecmp(got->name, want->name) != 0) /* Key Vault key names ignore case */
        return kt_fail(e, KT_EDENIED, "the service's answer is about key '%s', not '%s'", got->name,
                       want->name);
    if (kty == NULL || strcmp(got->kty, kty) != 0)
        return kt_fail(e, KT_EDENIED,
                       "the vault's key '%s' is a '%s', not the %s the manifest describes",
                       got->name, got->kty, kty ? kty : want->m->key_type);
    if ((rc = online_compare_key(want->m, got, compared, e)) != KT_OK)
        return rc;

    if (strcasecmp(got->host, want->host) != 0)
        differ(list, sizeof list, "its kid %s is in the vault %s, not %s", got->kid, got->host,
               want->host);
    pkg_kv_ops_format(want->ops, asked, sizeof asked);
    if (got->ops != want->ops || got->ops_unknown)
        differ(list, sizeof list, "key_ops are %s, not %s as asked", got->ops_text, asked);
    if (got->enabled != want->enabled)
        differ(list, sizeof list, "it is %s, not %s as asked",
               got->enabled ? "enabled" : "disabled", want->enabled ? "enabled" : "disabled");
    if (got->exportable && !want->exportable)
        differ(list, sizeof list,
               "it is exportable (attributes.exportable true): the service may release the key "
               "out of its HSM, which was not asked for");
    if (!got->exportable && want->exportable)
        differ(list, sizeof list, "it is not exportable, though --exportable asked for it");
    const online_props *p = want->props;
    if (p != NULL && p->has_nbf && (!got->has_nbf || got->nbf != p->nbf))
        differ(list, sizeof list, "its not-before (attributes.nbf) is not the one asked");
    if (p != NULL && p->has_exp && (!got->has_exp || got->exp != p->exp))
        differ(list, sizeof list, "its expiry (attributes.exp) is not the one asked");
    uint8_t tags[32];
    if (p != NULL && p->tags != NULL && json_object_size(p->tags) > 0 &&
        (online_tags_digest(p->tags, tags, e) != KT_OK || !got->has_tags ||
         memcmp(tags, got->tags_sha256, 32) != 0))
        differ(list, sizeof list, "its tags are not the ones asked");
    if (list[0] != '\0')
        return kt_fail(e, KT_EDENIED,
                       "the vault holds the key %s, but not as asked: %s; check it in the vault "
                       "before anything uses it",
                       got->kid, list);
    return KT_OK;
}

kt_rc online_compare_key(const pkg_manifest *m, const online_imported *got, bool *compared,
                         kt_err *e)
{
    char a[65], b[65];
    *compared = false;
    if (strcmp(m->key_type, "AES") == 0)
        return KT_OK; /* a symmetric key has no public part to compare */
    if (!got->has_public)
        return kt_fail(e, KT_EFORMAT, "the service returned no public key to compare");
    if (!kt_ct_equal(got->key_sha256, m->key_sha256, 32)) {
        kt_hex(a, got->key_sha256, 32);
        kt_hex(b, m->key_sha256, 32);
        return kt_fail(e, KT_EDENIED,
                       "the vault holds a key with public key SHA-256 %s, but the manifest states "
                       "%s: this is not the key that was packaged",
                       a, b);
    }
    *compared = true;
    return KT_OK;
}
