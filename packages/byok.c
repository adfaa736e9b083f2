/*
 * byok.c - the Azure Key Vault `.byok` file (Azure BYOK specification, "the JSON blob"):
 * writing it byte-exact with exactly its four members and reading it strictly, and the shape of
 * the KEK key identifier (kid) it names. The ciphertext inside is a CKM_RSA_AES_KEY_WRAP blob
 * (wrap.c); the parser only decodes it, the caller unwraps it with its KEK.
 */
#include "packages_internal.h"

#include <stdlib.h>
#include <string.h>

#define KID_PREFIX  "https://"
#define KID_KEYS    "/keys/"
#define KID_VERSION 32 /* hex digits of a Key Vault key version */
#define HOST_MAX    253
#define LABEL_MAX   63

/* One DNS label [A-Za-z0-9-]{1,63}, not starting or ending with '-'. */
static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

static kt_rc host_check(const char *host, size_t n, kt_err *e)
{
    size_t labels = 0, start = 0;
    bool tld_digits = true;

    if (n == 0 || n > HOST_MAX)
        return kt_fail(e, KT_EFORMAT, "kid: the host name must be 1 to %d characters", HOST_MAX);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && host[i] != '.')
            continue;
        if (!label_ok(host + start, i - start))
            return kt_fail(e, KT_EFORMAT,
                           "kid: the host must be a DNS name (labels of letters, digits and "
                           "'-'; no port, user name or IP address)");
        tld_digits = true;
        for (size_t j = start; j < i; j++)
            tld_digits = tld_digits && host[j] >= '0' && host[j] <= '9';
        labels++;
        start = i + 1;
    }
    if (labels < 2 || tld_digits)
        return kt_fail(e, KT_EFORMAT,
                       "kid: the host must be a DNS name such as NAME.vault.azure.net");
    return KT_OK;
}

bool pkg_is_key_name(const char *name, size_t n)
{
    if (n == 0 || n > PKG_KEY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

kt_rc pkg_key_name_check(const char *what, const char *name, kt_err *e)
{
    if (name == NULL || !pkg_is_key_name(name, strlen(name)))
        return kt_fail(e, KT_EUSAGE,
                       "%s '%.130s' is not a Key Vault key name: 1 to %d letters, digits and '-'",
                       what, name != NULL ? name : "", PKG_KEY_NAME_MAX);
    return KT_OK;
}

kt_rc pkg_kid_check(const char *kid, kt_err *e)
{
    size_t len = strnlen(kid, PKG_KID_MAX + 1), n;
    const char *host, *slash, *name, *version;
    kt_rc rc;

    if (len > PKG_KID_MAX)
        return kt_fail(e, KT_EFORMAT, "kid is longer than %d characters", PKG_KID_MAX);
    if (strncmp(kid, KID_PREFIX, strlen(KID_PREFIX)) != 0)
        return kt_fail(e, KT_EFORMAT,
                       "kid must be the KEK's key URL https://VAULT.vault.azure.net/keys/NAME/"
                       "VERSION; it does not start with https://");
    host = kid + strlen(KID_PREFIX);
    slash = strchr(host, '/');
    if (slash == NULL)
        return kt_fail(e, KT_EFORMAT, "kid has no /keys/NAME/VERSION after the host");
    if ((rc = host_check(host, (size_t)(slash - host), e)) != KT_OK)
        return rc;
    if (strncmp(slash, KID_KEYS, strlen(KID_KEYS)) != 0)
        return kt_fail(e, KT_EFORMAT, "kid: the path must be /keys/NAME/VERSION");
    name = slash + strlen(KID_KEYS);
    slash = strchr(name, '/');
    if (slash == NULL)
        return kt_fail(e, KT_EFORMAT,
                       "kid has no key version: the KEK's full URL with its 32-digit version is "
                       "required (https://VAULT.vault.azure.net/keys/NAME/VERSION)");
    n = (size_t)(slash - name);
    if (!pkg_is_key_name(name, n))
        return kt_fail(e, KT_EFORMAT, "kid: the key name must be 1 to %d letters, digits and '-'",
                       PKG_KEY_NAME_MAX);
    version = slash + 1;
    if (strlen(version) != KID_VERSION)
        return kt_fail(e, KT_EFORMAT,
                       "kid: the key version must be %d lower-case hex digits and end the URL",
                       KID_VERSION);
    for (size_t i = 0; i < KID_VERSION; i++) {
        if (!((version[i] >= '0' && version[i] <= '9') || (version[i] >= 'a' && version[i] <= 'f')))
            return kt_fail(e, KT_EFORMAT,
                           "kid: the key version must be %d lower-case hex digits and end the URL",
                           KID_VERSION);
    }
    return KT_OK;
}

static kt_rc generator_check(const char *g, kt_err *e)
{
    size_t n = strnlen(g, PKG_GENERATOR_MAX + 1);

    if (n > PKG_GENERATOR_MAX)
        return kt_fail(e, KT_EFORMAT, "generator is longer than %d characters", PKG_GENERATOR_MAX);
    if (!pkg_is_printable(g, n))
        return kt_fail(e, KT_EFORMAT, "generator may hold only printable ASCII");
    return KT_OK;
}

/* Sets obj[key] = a new string; false when out of memory. */
static bool set_str(json_t *obj, const char *key, const char *value)
{
    json_t *s = json_string(value);

    return s != NULL && json_object_set_new(obj, key, s) == 0;
}

kt_rc pkg_byok_write(const char *kid, const uint8_t *blob, size_t blob_len, const char *generator,
                     char **out, kt_err *e)
{
    json_t *root = NULL, *header = NULL;
    char *ct = NULL, *s = NULL;
    size_t n, m;
    kt_rc rc;

    *out = NULL;
    if ((rc = pkg_kid_check(kid, e)) != KT_OK || (rc = generator_check(generator, e)) != KT_OK)
        return rc;
    if (blob_len == 0 || blob_len > PKG_WRAP_BLOB_MAX)
        return kt_fail(e, KT_EUSAGE, "a ciphertext of %zu bytes; 1 to %d are accepted", blob_len,
                       PKG_WRAP_BLOB_MAX);
    /* Azure BYOK specification: "ciphertext": BASE64URL, written unpadded as RFC 7515 does. */
    if ((rc = kt_b64url_encode(blob, blob_len, &ct, e)) != KT_OK)
        return rc;
    /* Members in the specification's order; jansson keeps insertion order. */
    root = json_object();
    header = json_object();
    if (root == NULL || header == NULL || !set_str(root, "schema_version", PKG_BYOK_SCHEMA) ||
        !set_str(header, "kid", kid) || !set_str(header, "alg", PKG_BYOK_ALG) ||
        !set_str(header, "enc", PKG_BYOK_ENC) || json_object_set(root, "header", header) != 0 ||
        !set_str(root, "ciphertext", ct) || !set_str(root, "generator", generator)) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    n = json_dumpb(root, NULL, 0, JSON_COMPACT);
    s = n > 0 ? malloc(n + 1) : NULL;
    if (s == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto done;
    }
    m = json_dumpb(root, s, n, JSON_COMPACT);
    if (m != n) {
        rc = kt_fail(e, KT_ENOMEM, "cannot serialize the .byok JSON");
        goto done;
    }
    s[n] = '\0';
    *out = s;
    s = NULL;
done:
    free(s);
    free(ct);
    json_decref(header);
    json_decref(root);
    return rc;
}

void pkg_byok_free(pkg_byok *b)
{
    if (b == NULL)
        return;
    kt_buf_free(&b->blob);
    memset(b, 0, sizeof *b);
}

/* header.alg / header.enc must be exactly want. */
static kt_rc expect(const json_t *header, const char *key, const char *want, kt_err *e)
{
    const char *v;
    char q[KT_QUOTE_SIZE];
    kt_rc rc = kt_json_get_string(header, key, ".byok header", &v, e);

    if (rc != KT_OK)
        return rc;
    if (strcmp(v, want) != 0) {
        kt_quote(q, sizeof q, v, strlen(v));
        return kt_fail(e, KT_EFORMAT,
                       ".byok header: %s is \"%s\"; the BYOK specification requires \"%s\"", key, q,
                       want);
    }
    return KT_OK;
}

kt_rc pkg_byok_parse(const uint8_t *in, size_t len, pkg_byok *out, kt_err *e)
{
    static const char *const top_keys[] = {"schema_version", "header", "ciphertext", "generator",
                                           NULL};
    static const char *const header_keys[] = {"kid", "alg", "enc", NULL};
    json_t *root = NULL, *header;
    const char *version, *kid, *ct, *generator;
    char q[KT_QUOTE_SIZE];
    size_t ct_len;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = kt_json_parse(in, len, PKG_BYOK_MAX, &root, e)) != KT_OK)
        goto done;
    /* The version first: a later version may carry other members. */
    if ((rc = kt_json_get_string(root, "schema_version", ".byok", &version, e)) != KT_OK)
        goto done;
    if (strcmp(version, PKG_BYOK_SCHEMA) != 0) {
        kt_quote(q, sizeof q, version, strlen(version));
        rc = kt_fail(e, KT_EVERSION, ".byok schema_version \"%s\" is not supported; this reads %s",
                     q, PKG_BYOK_SCHEMA);
        goto done;
    }
    if ((rc = kt_json_only_keys(root, top_keys, ".byok", e)) != KT_OK ||
        (rc = kt_json_get_object(root, "header", ".byok", &header, e)) != KT_OK ||
        (rc = kt_json_only_keys(header, header_keys, ".byok header", e)) != KT_OK ||
        (rc = expect(header, "alg", PKG_BYOK_ALG, e)) != KT_OK ||
        (rc = expect(header, "enc", PKG_BYOK_ENC, e)) != KT_OK ||
        (rc = kt_json_get_string(header, "kid", ".byok header", &kid, e)) != KT_OK ||
        (rc = pkg_kid_check(kid, e)) != KT_OK ||
        (rc = kt_json_get_string(root, "ciphertext", ".byok", &ct, e)) != KT_OK ||
        (rc = kt_json_get_string(root, "generator", ".byok", &generator, e)) != KT_OK)
        goto done;
    if ((rc = generator_check(generator, e)) != KT_OK)
        goto done;
    ct_len = strlen(ct);
    if (ct_len == 0 || ct_len > (PKG_WRAP_BLOB_MAX + 2) / 3 * 4) {
        rc = kt_fail(e, KT_EFORMAT, ".byok ciphertext is %zu characters; 1 to %d are accepted",
                     ct_len, (PKG_WRAP_BLOB_MAX + 2) / 3 * 4);
        goto done;
    }
    if ((rc = kt_b64url_decode(ct, ct_len, &out->blob, e)) != KT_OK) {
        kt_err_prefix(e, ".byok ciphertext");
        goto done;
    }
    if (out->blob.len == 0 || out->blob.len > PKG_WRAP_BLOB_MAX) {
        rc = kt_fail(e, KT_EFORMAT, ".byok ciphertext decodes to %zu bytes; 1 to %d are accepted",
                     out->blob.len, PKG_WRAP_BLOB_MAX);
        goto done;
    }
    /* Both fit: checked above against the same maxima. */
    memcpy(out->kid, kid, strlen(kid) + 1);
    memcpy(out->generator, generator, strlen(generator) + 1);
done:
    json_decref(root);
    if (rc != KT_OK)
        pkg_byok_free(out);
    return rc;
}
