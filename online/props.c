/*
 * props.c - what an upload asks of the key beside its material (the Import Key body's Hsm,
 * attributes, tags and release_policy, and the api-version), and Key Vault's authentication
 * challenge: the token's audience checked before it is sent, and a 401's challenge read back
 * into what token the vault asks for. Pure functions of their inputs, like keyvault.c.
 */
#include "online.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The api-versions Key Vault and Managed HSM answer for Import Key (docs/formats.md lists
 * them with their source); release_policy and exportable exist from 7.3. */
static const struct api {
    const char *name;
    bool skr;
    bool mhsm;
} apis[] = {
    {"7.0", false, false},         {"7.0-preview", false, false}, {"7.1", false, false},
    {"7.1-preview", false, false}, {"7.2", false, true},          {"7.2-preview", false, true},
    {"7.3", true, true},           {"7.3-preview", true, true},   {"7.4", true, true},
    {"7.4-preview.1", true, true}, {"7.5", true, true},           {"7.5-preview.1", true, true},
};

static const struct api *api_find(const char *s)
{
    for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++)
        if (strcmp(apis[i].name, s) == 0)
            return &apis[i];
    return NULL;
}

void online_props_free(online_props *p)
{
    json_decref(p->tags);
    free(p->release_policy);
    memset(p, 0, sizeof *p);
}

kt_rc online_time_parse(const char *opt, const char *s, int64_t *out, kt_err *e)
{
    struct tm tm;
    size_t n = strlen(s);
    memset(&tm, 0, sizeof tm);
    if (n > 0 && n <= 12 && strspn(s, "0123456789") == n) {
        *out = strtoll(s, NULL, 10);
        return KT_OK;
    }
    /* YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, in UTC. */
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (end != NULL && *end == 'T')
        end = strptime(end + 1, "%H:%M:%S", &tm), end = end != NULL && *end == 'Z' ? end + 1 : NULL;
    if (end == NULL || *end != '\0' || n < 10 || tm.tm_year < 70 || tm.tm_year > 8099)
        return kt_fail(e, KT_EUSAGE,
                       "%s takes a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, or seconds since "
                       "1970, not '%.40s'",
                       opt, s);
    time_t t = timegm(&tm);
    if (t < 0)
        return kt_fail(e, KT_EUSAGE, "%s: '%.40s' is not a date", opt, s);
    *out = (int64_t)t;
    return KT_OK;
}

kt_rc online_tags_parse(const char *list, json_t **out, kt_err *e)
{
    json_t *tags = json_object();
    const char *p = list;

    *out = NULL;
    if (tags == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    for (;;) {
        size_t n = strcspn(p, ","), k = strcspn(p, "=");
        char name[ONLINE_TAG_NAME_MAX + 1], value[ONLINE_TAG_VALUE_MAX + 1];
        if (n == 0 || k >= n || k == 0) {
            json_decref(tags);
            return kt_fail(e, KT_EUSAGE, "--tags takes NAME=VALUE,NAME=VALUE,..., not '%.100s'",
                           list);
        }
        if (k > ONLINE_TAG_NAME_MAX || n - k - 1 > ONLINE_TAG_VALUE_MAX) {
            json_decref(tags);
            return kt_fail(e, KT_EUSAGE,
                           "--tags: Key Vault takes tag names of at most %d and values of at most "
                           "%d characters",
                           ONLINE_TAG_NAME_MAX, ONLINE_TAG_VALUE_MAX);
        }
        snprintf(name, sizeof name, "%.*s", (int)k, p);
        snprintf(value, sizeof value, "%.*s", (int)(n - k - 1), p + k + 1);
        for (size_t i = 0; name[i] != '\0'; i++) {
            if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e) {
                json_decref(tags);
                return kt_fail(e, KT_EUSAGE, "--tags: tag names are printable ASCII");
            }
        }
        if (json_object_get(tags, name) != NULL) {
            json_decref(tags);
            return kt_fail(e, KT_EUSAGE, "--tags: '%s' is given twice", name);
        }
        json_t *v = json_string(value);
        if (v == NULL) {
            json_decref(tags);
            return kt_fail(e, KT_EUSAGE, "--tags: the value of '%s' is not UTF-8", name);
        }
        json_object_set_new(tags, name, v);
        if (json_object_size(tags) > ONLINE_TAGS_MAX) {
            json_decref(tags);
            return kt_fail(e, KT_EUSAGE, "--tags: Key Vault takes at most %d tags",
                           ONLINE_TAGS_MAX);
        }
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    *out = tags;
    return KT_OK;
}

kt_rc online_release_policy_load(const char *file, char **b64, kt_err *e)
{
    kt_buf raw = {0};
    json_t *doc = NULL;
    kt_rc rc;

    *b64 = NULL;
    if ((rc = kt_file_read(file, ONLINE_POLICY_MAX, &raw, e)) != KT_OK)
        return rc;
    /* Strict: one JSON object, as the service takes it (its version and anyOf are its own to
     * judge). */
    if ((rc = kt_json_parse(raw.p, raw.len, ONLINE_POLICY_MAX, &doc, e)) != KT_OK)
        kt_err_prefix(e, "%s: not a release policy (JSON)", file);
    else if (!json_is_object(doc))
        rc = kt_fail(e, KT_EFORMAT, "%s: a release policy is a JSON object", file);
    else if (json_object_get(doc, "version") == NULL || json_object_get(doc, "anyOf") == NULL)
        rc = kt_fail(e, KT_EFORMAT,
                     "%s: a release policy has \"version\" and \"anyOf\" (Key Vault's secure key "
                     "release policy grammar)",
                     file);
    else
        rc = kt_b64url_encode(raw.p, raw.len, b64, e);
    json_decref(doc);
    kt_buf_free(&raw);
    return rc;
}

kt_rc online_props_check(const online_props *p, const online_vault *v, kt_err *e)
{
    const struct api *api = api_find(p->api_version != NULL ? p->api_version : ONLINE_API_VERSION);
    if (api == NULL)
        return kt_fail(e, KT_EUSAGE,
                       "--api-version %.40s: Key Vault's are 7.0 to 7.5 and their previews "
                       "(7.4-preview.1, ...); docs/formats.md lists them",
                       p->api_version);
    if (online_vault_is_mhsm(v) && !api->mhsm)
        return kt_fail(e, KT_EUSAGE, "--api-version %s: Managed HSM serves 7.2 and later",
                       api->name);
    if (p->exportable != (p->release_policy != NULL))
        return kt_fail(e, KT_EUSAGE,
                       "--exportable and --release-policy FILE go together: Key Vault releases an "
                       "exportable key only under its release policy");
    if (p->exportable && !api->skr)
        return kt_fail(e, KT_EUSAGE,
                       "--exportable needs api-version 7.3 or later (secure key release), not %s",
                       api->name);
    if (p->has_nbf && p->has_exp && p->exp <= p->nbf)
        return kt_fail(e, KT_EUSAGE, "--expires must be after --not-before");
    return KT_OK;
}

kt_rc online_resolve_check(const char *addr, const online_vault *v, kt_err *e)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!v->https)
        return kt_fail(e, KT_EUSAGE, "--resolve is for https:// vaults");
    if (inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1)
        return kt_fail(e, KT_EUSAGE, "--resolve takes an IP address, not '%.60s'", addr);
    return KT_OK;
}

bool online_vault_is_mhsm(const online_vault *v)
{
    static const char dom[] = ".managedhsm.azure.net";
    size_t n = strlen(v->host), d = sizeof dom - 1;
    return n > d && strcasecmp(v->host + n - d, dom) == 0;
}

kt_rc online_import_body_props(const pkg_manifest *m, const uint8_t *package, size_t len,
                               unsigned ops, const online_props *p, char **json, kt_err *e)
{
    json_t *body = NULL;
    char *base = NULL;
    kt_rc rc;

    *json = NULL;
    if ((rc = online_import_body(m, package, len, ops, &base, e)) != KT_OK)
        return rc;
    rc = kt_json_parse((const uint8_t *)base, strlen(base), ONLINE_BODY_MAX, &body, e);
    kt_wipe(base, strlen(base));
    free(base);
    if (rc != KT_OK)
        return rc;
    json_t *attrs = json_object_get(body, "attributes");
    if (p != NULL) {
        json_object_set_new(attrs, "enabled", json_boolean(!p->disabled));
        if (p->has_nbf)
            json_object_set_new(attrs, "nbf", json_integer(p->nbf));
        if (p->has_exp)
            json_object_set_new(attrs, "exp", json_integer(p->exp));
        if (p->exportable)
            json_object_set_new(attrs, "exportable", json_true());
        if (p->tags != NULL && json_object_size(p->tags) > 0)
            json_object_set(body, "tags", p->tags);
        if (p->release_policy != NULL)
            json_object_set_new(body, "release_policy",
                                json_pack("{s:s, s:s}", "contentType",
                                          "application/json; charset=utf-8", "data",
                                          p->release_policy));
    }
    rc = kt_json_dump(body, false, json, e);
    json_decref(body);
    return rc;
}

/* ---- the challenge ----------------------------------------------------------------------- */

/* The value of name="..." in a Bearer challenge, into out ("" when absent). */
static void challenge_param(const char *h, const char *name, char *out, size_t outsz)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = h; (p = strcasestr(p, name)) != NULL; p += n) {
        if (p != h && isalnum((unsigned char)p[-1]))
            continue;
        const char *q = p + n;
        while (*q == ' ')
            q++;
        if (*q++ != '=')
            continue;
        while (*q == ' ')
            q++;
        if (*q++ != '"')
            continue;
        size_t len = strcspn(q, "\"");
        kt_quote(out, outsz, q, len);
        return;
    }
}

void online_challenge_parse(const char *header, online_challenge *c)
{
    memset(c, 0, sizeof *c);
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return;
    challenge_param(header, "authorization", c->authorization, sizeof c->authorization);
    if (c->authorization[0] == '\0')
        challenge_param(header, "authorization_uri", c->authorization, sizeof c->authorization);
    challenge_param(header, "resource", c->resource, sizeof c->resource);
    if (c->resource[0] == '\0') {
        challenge_param(header, "scope", c->resource, sizeof c->resource);
        char *suffix = strstr(c->resource, "/.default");
        if (suffix != NULL)
            *suffix = '\0';
    }
    const char *slash = strrchr(c->authorization, '/');
    if (slash != NULL && slash[1] != '\0')
        snprintf(c->tenant, sizeof c->tenant, "%s", slash + 1);
}

/* The host of an https:// resource ("vault.azure.net"), or "". */
static void resource_host(const char *resource, char *out, size_t outsz)
{
    out[0] = '\0';
    if (strncasecmp(resource, "https://", 8) == 0)
        snprintf(out, outsz, "%.*s", (int)strcspn(resource + 8, "/:"), resource + 8);
}

void online_challenge_explain(const online_http *resp, const online_vault *v, kt_err *e)
{
    online_challenge c;
    char host[ONLINE_HOST_MAX + 1];

    if (resp->status != 401 || resp->challenge[0] == '\0')
        return;
    online_challenge_parse(resp->challenge, &c);
    if (c.resource[0] == '\0')
        return;
    resource_host(c.resource, host, sizeof host);
    size_t hn = strlen(host), vn = strlen(v->host);
    bool domain_ok = hn > 0 && vn > hn + 1 && v->host[vn - hn - 1] == '.' &&
                     strcasecmp(v->host + vn - hn, host) == 0;
    if (!v->loopback && !domain_ok) {
        kt_err_prefix(e,
                      "%s challenges for a token of %s, which is not its own domain: this is not "
                      "a Key Vault (no token was sent for it but the one given)",
                      v->base, c.resource);
        return;
    }
    kt_err_prefix(e,
                  "the vault asks for a token of resource %s from tenant %s: get one with `az "
                  "account get-access-token --resource %s --tenant %s --query accessToken -o "
                  "tsv`",
                  c.resource, c.tenant[0] ? c.tenant : "(not named)", c.resource,
                  c.tenant[0] ? c.tenant : "TENANT");
}

/* The claim name of a JWT payload, as a string, into out ("" when absent or not a string). */
static void jwt_claim(const json_t *payload, const char *name, char *out, size_t outsz)
{
    const char *s = json_string_value(json_object_get(payload, name));
    out[0] = '\0';
    if (s != NULL)
        kt_quote(out, outsz, s, strlen(s));
}

kt_rc online_token_audience_check(const kt_secbuf *token, const online_vault *v, kt_err *e)
{
    const char *t = (const char *)token->p, *dot1, *dot2;
    char aud[160], want[64];
    kt_buf raw = {0};
    json_t *payload = NULL;
    kt_err ignored;

    if (online_vault_is_mhsm(v))
        snprintf(want, sizeof want, "https://managedhsm.azure.net");
    else {
        static const char dom[] = ".vault.azure.net";
        size_t n = strlen(v->host), d = sizeof dom - 1;
        if (n <= d || strcasecmp(v->host + n - d, dom) != 0)
            return KT_OK; /* another cloud's vault, or the emulator: no audience to expect */
        snprintf(want, sizeof want, "https://vault.azure.net");
    }
    /* Only a JWT (header.payload.signature) says whom it is for; anything else goes as it is. */
    if ((dot1 = strchr(t, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
        strchr(dot2 + 1, '.') != NULL)
        return KT_OK;
    if (kt_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &raw, &ignored) != KT_OK)
        return KT_OK;
    if (kt_json_parse(raw.p, raw.len, ONLINE_TOKEN_MAX, &payload, &ignored) != KT_OK) {
        kt_wipe(raw.p, raw.len);
        kt_buf_free(&raw);
        return KT_OK;
    }
    kt_wipe(raw.p, raw.len);
    kt_buf_free(&raw);
    jwt_claim(payload, "aud", aud, sizeof aud);
    json_decref(payload);
    size_t an = strlen(aud);
    if (an > 0 && aud[an - 1] == '/')
        aud[--an] = '\0';
    if (an == 0 || strcasecmp(aud, want) == 0)
        return KT_OK;
    return kt_fail(e, KT_EDENIED,
                   "the token is for %s, not for %s, which %s takes: nothing was sent; get one "
                   "with `az account get-access-token --resource %s --query accessToken -o tsv`",
                   aud, want, v->base, want);
}
