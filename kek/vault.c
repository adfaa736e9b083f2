/*
 * vault.c - the emulated Key Vault's and Managed HSM's own facts beside the HSM: api-versions,
 * host names, the KEKs Create Key makes, key versions and each key's metadata (vault.h).
 */
#include "vault.h"
#include "kek_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/*
 * The api-versions of the Key Vault data plane for keys, as the specifications in
 * Azure/azure-rest-api-specs (specification/keyvault/data-plane/Microsoft.KeyVault/stable/<v> and
 * preview/<v>) define them: Managed HSM from 7.2, secure key release (exportable, release_policy)
 * from 7.3-preview, the policy's immutable member from 7.3.
 */
#define SPEC "azure-rest-api-specs specification/keyvault/data-plane/Microsoft.KeyVault/"
const kek_api kek_apis[] = {
    {"7.0-preview", 70, true, false, false, false, SPEC "preview/7.0-preview/keyvault.json"},
    {"7.0", 70, false, false, false, false, SPEC "stable/7.0/keyvault.json"},
    {"7.1-preview", 71, true, false, false, false, SPEC "preview/7.1-preview/keyvault.json"},
    {"7.1", 71, false, false, false, false, SPEC "stable/7.1/keyvault.json"},
    {"7.2-preview", 72, true, true, false, false, SPEC "preview/7.2-preview/keys.json"},
    {"7.2", 72, false, true, false, false, SPEC "stable/7.2/keys.json"},
    {"7.3-preview", 73, true, true, true, false, SPEC "preview/7.3-preview/keys.json"},
    {"7.3", 73, false, true, true, true, SPEC "stable/7.3/keys.json"},
    {"7.4-preview.1", 74, true, true, true, true, SPEC "preview/7.4-preview.1/keys.json"},
    {"7.4", 74, false, true, true, true, SPEC "stable/7.4/keys.json"},
    {"7.5-preview.1", 75, true, true, true, true, SPEC "preview/7.5-preview.1/keys.json"},
    {"7.5", 75, false, true, true, true, SPEC "stable/7.5/keys.json"},
};
const size_t kek_napis = sizeof kek_apis / sizeof kek_apis[0];

const kek_api *kek_api_find(const char *s)
{
    for (size_t i = 0; s != NULL && i < kek_napis; i++)
        if (strcmp(s, kek_apis[i].name) == 0)
            return &kek_apis[i];
    return NULL;
}

const kek_api *kek_api_latest(void)
{
    return &kek_apis[kek_napis - 1];
}

/* ---- hosts ------------------------------------------------------------------------------- */

static bool ends_with_domain(const char *host, size_t n, const char *domain, size_t *prefix)
{
    size_t d = strlen(domain);
    if (n < d + 2 || host[n - d - 1] != '.' || strncasecmp(host + n - d, domain, d) != 0)
        return false;
    *prefix = n - d - 1;
    return true;
}

kek_host_kind kek_host_parse(const char *host, const char *vault, bool *ours)
{
    size_t n, prefix = 0;
    kek_host_kind kind = KEK_HOST_LOOPBACK;

    *ours = true;
    if (host == NULL || host[0] == '[')
        return KEK_HOST_LOOPBACK;
    const char *colon = strchr(host, ':');
    n = colon != NULL ? (size_t)(colon - host) : strlen(host);
    if (ends_with_domain(host, n, KEK_VAULT_DOMAIN, &prefix))
        kind = KEK_HOST_VAULT;
    else if (ends_with_domain(host, n, KEK_MHSM_DOMAIN, &prefix))
        kind = KEK_HOST_MHSM;
    else
        return KEK_HOST_LOOPBACK;
    *ours = prefix == strlen(vault) && strncasecmp(host, vault, prefix) == 0;
    return kind;
}

void kek_vault_base(const kek_cloud *c, kek_host_kind kind, char *out, size_t outsz)
{
    char vault[KEK_VAULT_MAX + 1];
    size_t i = 0;
    for (; c->vault[i] != '\0' && i < KEK_VAULT_MAX; i++)
        vault[i] = (char)tolower((unsigned char)c->vault[i]);
    vault[i] = '\0';
    snprintf(out, outsz, "https://%s.%s", vault,
             kind == KEK_HOST_MHSM ? KEK_MHSM_DOMAIN : KEK_VAULT_DOMAIN);
}

const char *kek_host_resource(kek_host_kind kind)
{
    return kind == KEK_HOST_MHSM ? "https://" KEK_MHSM_DOMAIN : "https://" KEK_VAULT_DOMAIN;
}

void kek_tenant_id(const kek_cloud *c, char out[37])
{
    static const char label[] = "keytransfer-cloud tenant 1:";
    uint8_t in[sizeof label + KEK_VAULT_MAX], d[32];
    char hex[33];
    size_t n = strlen(c->vault);

    memcpy(in, label, sizeof label - 1);
    for (size_t i = 0; i < n; i++)
        in[sizeof label - 1 + i] = (uint8_t)tolower((unsigned char)c->vault[i]);
    kt_sha256(d, in, sizeof label - 1 + n);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x40); /* a version 4 (random) GUID's bits */
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    kt_hex(hex, d, 16);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

void kek_key_version(const world_key_info *info, char out[33])
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

kt_rc kek_name_ident(const char *name, char *out, size_t outsz, kt_err *e)
{
    size_t n = strlen(name);
    if (n > WORLD_KEY_IDENT_MAX || n >= outsz)
        return kt_fail(e, KT_EUSAGE, "this emulator keeps key names of at most %d characters",
                       WORLD_KEY_IDENT_MAX);
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    return KT_OK;
}

/* ---- the keys ---------------------------------------------------------------------------- */

/* The name in the cloud's own kid ("https://<vault>.vault.azure.net/keys/<name>/<version>"). */
static bool cloud_kek_name(const kek_cloud *c, char *out, size_t outsz)
{
    const char *k = strstr(c->kid, "/keys/");
    if (k == NULL)
        return false;
    k += 6;
    const char *slash = strchr(k, '/');
    size_t n = slash != NULL ? (size_t)(slash - k) : strlen(k);
    if (n == 0 || n >= outsz)
        return false;
    snprintf(out, outsz, "%.*s", (int)n, k);
    return true;
}

kt_rc kek_vault_lookup(kek_cloud *c, const char *name, kek_stored_kind *kind, world_key_info *info,
                       kt_err *e)
{
    static const struct {
        const char *app;
        kek_stored_kind kind;
    } apps[] = {{KEK_APP_IMPORTED, KEK_STORED_IMPORTED}, {KEK_APP_VAULT_KEK, KEK_STORED_KEK}};
    char ident[WORLD_KEY_IDENT_MAX + 1], path[PATH_MAX], own[PKG_KEY_NAME_MAX + 1];
    kt_err ignored;
    kt_rc rc;

    *kind = KEK_STORED_NONE;
    memset(info, 0, sizeof *info);
    if (cloud_kek_name(c, own, sizeof own) && strcasecmp(own, name) == 0) {
        if ((rc = world_key_inspect(&c->paths, &c->module, KEK_APP_KEK, c->kek_ident, info, e)))
            return rc;
        *kind = KEK_STORED_CLOUD_KEK;
        return KT_OK;
    }
    if (kek_name_ident(name, ident, sizeof ident, &ignored) != KT_OK)
        return KT_OK; /* longer than any stored name: not there */
    for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++) {
        if ((rc = world_key_path(&c->paths, apps[i].app, ident, path, sizeof path, e)) != KT_OK)
            return rc;
        if (!kt_path_exists(path))
            continue;
        if ((rc = world_key_inspect(&c->paths, &c->module, apps[i].app, ident, info, e)))
            return rc;
        *kind = apps[i].kind;
        return KT_OK;
    }
    return KT_OK;
}

kt_rc kek_vault_name_free(kek_cloud *c, const char *name, kt_err *e)
{
    kek_stored_kind kind;
    world_key_info have;
    kt_rc rc;

    if ((rc = kek_vault_lookup(c, name, &kind, &have, e)) != KT_OK)
        return rc;
    if (kind != KEK_STORED_NONE)
        return kt_fail(e, KT_EEXIST,
                       "a key named %s exists; this emulator does not make new versions of a key",
                       name);
    return KT_OK;
}

kt_rc kek_vault_create_kek(kek_cloud *c, const char *name, unsigned bits, world_key_info *info,
                           kt_err *e)
{
    char ident[WORLD_KEY_IDENT_MAX + 1];
    kt_rc rc;

    if ((rc = pkg_key_name_check("key name", name, e)) ||
        (rc = kek_name_ident(name, ident, sizeof ident, e)))
        return rc;
    if (bits != 2048 && bits != 3072 && bits != 4096)
        return kt_fail(e, KT_EFORMAT, "a KEK is RSA of 2048, 3072 or 4096 bits, not %u", bits);
    if ((rc = kek_vault_name_free(c, name, e)) != KT_OK)
        return rc;
    world_acl acl = {.ngroups = 1, .groups = {{.actions = WORLD_ACT_IMPORT_UNWRAP}}};
    world_key_gen_opts g = {.type = WORLD_KEY_RSA,
                            .bits = bits,
                            .app = KEK_APP_VAULT_KEK,
                            .ident = ident,
                            .plainname = name,
                            .acl = &acl};
    return world_key_generate(&c->paths, &c->module, &g, info, e);
}

/* Splits "https://<host>/keys/<name>/<version>"; false when kid is not that shape. */
static bool split_kid(const char *kid, char *host, size_t hostsz, char *name, size_t namesz,
                      char *version, size_t versionsz)
{
    if (strncmp(kid, "https://", 8) != 0)
        return false;
    const char *h = kid + 8, *keys = strstr(h, "/keys/");
    if (keys == NULL || keys == h || (size_t)(keys - h) >= hostsz)
        return false;
    snprintf(host, hostsz, "%.*s", (int)(keys - h), h);
    const char *n = keys + 6, *slash = strchr(n, '/');
    if (slash == NULL || slash == n || (size_t)(slash - n) >= namesz ||
        strlen(slash + 1) >= versionsz || strchr(slash + 1, '/') != NULL)
        return false;
    snprintf(name, namesz, "%.*s", (int)(slash - n), n);
    snprintf(version, versionsz, "%s", slash + 1);
    return true;
}

kt_rc kek_load_kek(kek_cloud *c, const char *kid, world_key *k, kt_err *e)
{
    char host[PKG_KID_MAX + 1], name[PKG_KEY_NAME_MAX + 1], version[40], have[33];
    char ident[WORLD_KEY_IDENT_MAX + 1], path[PATH_MAX];
    kt_err ignored;
    bool ours = false;
    kt_rc rc;

    memset(k, 0, sizeof *k);
    if (strcmp(kid, c->kid) == 0) {
        if ((rc = world_key_load(&c->paths, &c->module, KEK_APP_KEK, c->kek_ident, k, e)))
            return rc;
    } else {
        if (!split_kid(kid, host, sizeof host, name, sizeof name, version, sizeof version) ||
            kek_host_parse(host, c->vault, &ours) == KEK_HOST_LOOPBACK || !ours ||
            pkg_key_name_check("key name", name, &ignored) != KT_OK ||
            kek_name_ident(name, ident, sizeof ident, &ignored) != KT_OK)
            return kt_fail(e, KT_EDENIED,
                           "the .byok is wrapped for KEK %s; this cloud's KEK is %s (or one "
                           "made in this vault with Create Key)",
                           kid, c->kid);
        if ((rc = world_key_path(&c->paths, KEK_APP_VAULT_KEK, ident, path, sizeof path, e)))
            return rc;
        if (!kt_path_exists(path))
            return kt_fail(e, KT_EDENIED,
                           "the .byok is wrapped for KEK %s; this vault has no KEK named %s", kid,
                           name);
        if ((rc = world_key_load(&c->paths, &c->module, KEK_APP_VAULT_KEK, ident, k, e)))
            return rc;
        json_t *meta = NULL;
        kt_err ignored_meta;
        bool serves = kek_meta_read(c, ident, &meta, &ignored_meta) == KT_OK &&
                      kek_meta_serves(meta, kek_host_parse(host, c->vault, &ours));
        json_decref(meta);
        if (!serves) {
            world_key_free(k);
            return kt_fail(e, KT_EDENIED,
                           "the .byok is wrapped for KEK %s, but KEK %s was made in the %s, not "
                           "in the service that kid names",
                           kid, name,
                           kek_host_parse(host, c->vault, &ours) == KEK_HOST_MHSM ? "key vault"
                                                                                  : "Managed HSM");
        }
        kek_key_version(&k->info, have);
        if (strcmp(version, have) != 0) {
            world_key_free(k);
            return kt_fail(e, KT_EDENIED,
                           "the .byok is wrapped for KEK %s, but KEK %s is at version %s", kid,
                           name, have);
        }
    }
    if (!world_acl_allows(&k->info.acl, WORLD_ACT_IMPORT_UNWRAP, NULL, NULL)) {
        world_key_free(k);
        return kt_fail(e, KT_EDENIED, "the KEK's ACL does not allow ImportUnwrap");
    }
    return KT_OK;
}

/* ---- metadata ---------------------------------------------------------------------------- */

static kt_rc meta_path(const kek_cloud *c, const char *ident, bool make_dir, char *out,
                       size_t outsz, kt_err *e)
{
    char dir[PATH_MAX];
    kt_rc rc;
    if ((rc = kek_state_path(c->state, KEK_META_DIR, dir, sizeof dir, e)) != KT_OK)
        return rc;
    if (make_dir && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return kt_fail_errno(e, KT_EIO, errno, "cannot create %s", dir);
    int n = snprintf(out, outsz, "%s/%s.json", dir, ident);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "state folder path too long: %s", c->state);
    return KT_OK;
}

kt_rc kek_meta_write(const kek_cloud *c, const char *ident, json_t *meta, kt_err *e)
{
    char path[PATH_MAX], *s = NULL;
    kt_rc rc;
    if ((rc = meta_path(c, ident, true, path, sizeof path, e)) != KT_OK)
        return rc;
    if (json_object_set_new(meta, "format", json_string(KEK_META_FORMAT)) != 0)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if ((rc = kt_json_dump(meta, true, &s, e)) != KT_OK)
        return rc;
    rc = kt_file_write(path, s, strlen(s), KT_WRITE_REPLACE, e);
    free(s);
    return rc;
}

kt_rc kek_meta_read(const kek_cloud *c, const char *ident, json_t **out, kt_err *e)
{
    static const char *const members[] = {"format",     "name", "service",        "key_ops",
                                          "attributes", "tags", "release_policy", NULL};
    char path[PATH_MAX];
    const char *fmt;
    kt_buf raw = {0};
    json_t *j = NULL;
    kt_rc rc;

    *out = NULL;
    if ((rc = meta_path(c, ident, false, path, sizeof path, e)) != KT_OK)
        return rc;
    rc = kt_file_read(path, KEK_META_MAX, &raw, e);
    if (rc == KT_ENOENT)
        return KT_OK;
    if (rc == KT_OK)
        rc = kt_json_parse(raw.p, raw.len, KEK_META_MAX, &j, e);
    kt_buf_free(&raw);
    if (rc == KT_OK && ((rc = kt_json_only_keys(j, members, "key metadata", e)) ||
                        (rc = kt_json_get_string(j, "format", "key metadata", &fmt, e))))
        ;
    else if (rc == KT_OK && strcmp(fmt, KEK_META_FORMAT) != 0)
        rc = kt_fail(e, KT_EVERSION, "key metadata format '%s' is not " KEK_META_FORMAT, fmt);
    if (rc != KT_OK) {
        json_decref(j);
        kt_err_prefix(e, "%s", path);
        return rc;
    }
    *out = j;
    return KT_OK;
}

const char *kek_host_service(kek_host_kind kind)
{
    return kind == KEK_HOST_MHSM ? "managedhsm" : "vault";
}

bool kek_meta_serves(const json_t *meta, kek_host_kind kind)
{
    const char *service = meta != NULL ? json_string_value(json_object_get(meta, "service")) : NULL;
    if (kind == KEK_HOST_LOOPBACK || service == NULL)
        return true;
    return strcmp(service, kek_host_service(kind)) == 0;
}
