/*
 * package.c - the USB hand-over: what arrives on the stick is checked before anything is sent.
 * A transfer manifest's EdDSA signature must verify, its signer may be pinned by fingerprint, and
 * the package it names must have the SHA-256 it states (docs/design.md §4, "Transfer manifest"),
 * and a KEK the DEMO root vouched for is taken only for a demo.
 */
#include "online.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void online_package_free(online_package *p)
{
    pkg_manifest_free(&p->m);
    kt_buf_free(&p->package);
    memset(p, 0, sizeof *p);
}

/* The folder part of path ("." when there is none) into out. */
static kt_rc dir_of(const char *path, char *out, size_t outsz, kt_err *e)
{
    const char *slash = strrchr(path, '/');
    int n;
    if (slash == NULL)
        n = snprintf(out, outsz, ".");
    else if (slash == path)
        n = snprintf(out, outsz, "/");
    else
        n = snprintf(out, outsz, "%.*s", (int)(slash - path), path);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", path);
    return KT_OK;
}

kt_rc online_manifest_for(const char *package_path, char *out, size_t outsz, kt_err *e)
{
    size_t n = strlen(package_path);
    int w;
    if (n > 5 && strcmp(package_path + n - 5, ".byok") == 0)
        w = snprintf(out, outsz, "%.*s%s", (int)(n - 5), package_path, ONLINE_MANIFEST_SUFFIX);
    else if (n > 4 && strcmp(package_path + n - 4, ".bin") == 0)
        w = snprintf(out, outsz, "%.*s%s", (int)(n - 4), package_path, ONLINE_MANIFEST_SUFFIX);
    else
        w = snprintf(out, outsz, "%s%s", package_path, ONLINE_MANIFEST_SUFFIX);
    if (w < 0 || (size_t)w >= outsz)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", package_path);
    return KT_OK;
}

/* The import token file beside the manifest: there, and the bytes the manifest hashed. */
static kt_rc check_token(const char *manifest_path, const pkg_manifest *m, kt_err *e)
{
    char dir[PATH_MAX], path[PATH_MAX], a[65], b[65];
    uint8_t have[32];
    kt_buf tok = {0};
    kt_rc rc;

    if ((rc = dir_of(manifest_path, dir, sizeof dir, e)) != KT_OK)
        return rc;
    int n = snprintf(path, sizeof path, "%s/%s", dir, m->token_file);
    if (n < 0 || (size_t)n >= sizeof path)
        return kt_fail(e, KT_EUSAGE, "path too long: %s/%s", dir, m->token_file);
    if ((rc = kt_file_read(path, PKG_AWS_TOKEN_MAX, &tok, e)) != KT_OK) {
        if (rc == KT_ENOENT)
            rc = kt_fail(e, KT_ENOENT, "%s names the import token %s, which is not there",
                         manifest_path, path);
        return rc;
    }
    kt_sha256(have, tok.p, tok.len);
    kt_buf_free(&tok);
    if (!kt_ct_equal(have, m->token_sha256, 32)) {
        kt_hex(a, have, 32);
        kt_hex(b, m->token_sha256, 32);
        return kt_fail(e, KT_EDENIED,
                       "%s has SHA-256 %s, but %s states %s: the import token was damaged or "
                       "swapped",
                       path, a, manifest_path, b);
    }
    return KT_OK;
}

kt_rc online_package_check(const char *manifest_path, const char *package_path,
                           const uint8_t *expect_module, online_package *out, kt_err *e)
{
    kt_buf raw = {0};
    uint8_t have[32];
    char a[65], b[65];
    kt_rc rc;

    memset(out, 0, sizeof *out);

    /* 1. the manifest and its signature */
    if ((rc = kt_file_read(manifest_path, PKG_MANIFEST_MAX, &raw, e)) != KT_OK)
        return rc;
    rc = pkg_manifest_parse(raw.p, raw.len, &out->m, out->signer, e);
    kt_buf_free(&raw);
    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", manifest_path);
        goto fail;
    }
    pkg_ed25519_fingerprint(out->signer, out->module_sha256);

    /* 2. the signer, when the caller pinned one */
    if (expect_module != NULL) {
        if (!kt_ct_equal(out->module_sha256, expect_module, 32)) {
            kt_hex(a, out->module_sha256, 32);
            kt_hex(b, expect_module, 32);
            rc = kt_fail(e, KT_EDENIED,
                         "%s is signed by module %s, not by the module you expect (%s): it was not "
                         "made by your offline workstation",
                         manifest_path, a, b);
            goto fail;
        }
        out->pinned = true;
    }

    /* 3. the package, read once: the bytes hashed are the bytes a caller uploads */
    if (package_path != NULL) {
        if (strlen(package_path) >= sizeof out->package_path) {
            rc = kt_fail(e, KT_EUSAGE, "path too long: %s", package_path);
            goto fail;
        }
        snprintf(out->package_path, sizeof out->package_path, "%s", package_path);
        out->renamed = strcmp(online_basename(package_path), out->m.package_file) != 0;
    } else {
        char dir[PATH_MAX];
        if ((rc = dir_of(manifest_path, dir, sizeof dir, e)) != KT_OK)
            goto fail;
        /* package_file is a plain name (pkg_manifest_parse refuses '/' and a leading '.'). */
        int n = snprintf(out->package_path, sizeof out->package_path, "%s/%s", dir,
                         out->m.package_file);
        if (n < 0 || (size_t)n >= sizeof out->package_path) {
            rc = kt_fail(e, KT_EUSAGE, "path too long: %s/%s", dir, out->m.package_file);
            goto fail;
        }
    }
    if ((rc = kt_file_read(out->package_path, PKG_BYOK_MAX, &out->package, e)) != KT_OK) {
        if (rc == KT_ENOENT)
            rc = kt_fail(e, KT_ENOENT, "%s names the package %s, which is not there", manifest_path,
                         out->package_path);
        goto fail;
    }

    /* 4. its hash */
    kt_sha256(have, out->package.p, out->package.len);
    if (!kt_ct_equal(have, out->m.package_sha256, 32)) {
        kt_hex(a, have, 32);
        kt_hex(b, out->m.package_sha256, 32);
        rc = kt_fail(e, KT_EDENIED,
                     "%s has SHA-256 %s, but %s states %s: the file was damaged or swapped; do "
                     "not upload it",
                     out->package_path, a, manifest_path, b);
        goto fail;
    }

    /* 4b. the AWS ImportToken the manifest names travels beside the package, unchanged */
    if (out->m.token_file[0] != '\0' && (rc = check_token(manifest_path, &out->m, e)) != KT_OK)
        goto fail;

    /* 5. an Azure package is a .byok wrapped for the KEK the manifest names */
    if (strcmp(out->m.target, "azure") == 0) {
        pkg_byok byok;
        if ((rc = pkg_byok_parse(out->package.p, out->package.len, &byok, e)) != KT_OK) {
            kt_err_prefix(e, "%s", out->package_path);
            goto fail;
        }
        bool same = strcmp(byok.kid, out->m.kid) == 0;
        pkg_byok_free(&byok);
        if (!same) {
            rc = kt_fail(e, KT_EDENIED, "%s is wrapped for another KEK than %s states (%s)",
                         out->package_path, manifest_path, out->m.kid);
            goto fail;
        }
    }
    return KT_OK;
fail:
    online_package_free(out);
    return rc;
}

kt_rc online_package_trust(const online_package *p, const char *manifest_path, bool demo, kt_err *e)
{
    uint8_t demo_root[32];
    kt_rc rc = pkg_root_demo_flag(demo, e);
    if (rc != KT_OK)
        return rc;
    if (!p->m.attested)
        return KT_OK;
    pkg_demo_root_sha256(demo_root);
    if (!kt_ct_equal(p->m.root_sha256, demo_root, 32))
        return KT_OK;
    if (!demo)
        return kt_fail(e, KT_EDENIED,
                       "%s: the KEK was attested by the DEMO vendor root, whose private key is "
                       "public: anyone could have made its KEK package and can read the key. Do "
                       "not upload it; for a demonstration against keytransfer-cloud, give --demo",
                       manifest_path);
    return KT_OK;
}

void online_names_free(char **names, size_t n)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_manifest_name(const char *name)
{
    size_t n = strlen(name), s = strlen(ONLINE_MANIFEST_SUFFIX);
    return name[0] != '.' && n > s && strcmp(name + n - s, ONLINE_MANIFEST_SUFFIX) == 0;
}

kt_rc online_list_manifests(const char *dir, char ***names, size_t *n, kt_err *e)
{
    char **v = NULL;
    size_t count = 0;
    kt_rc rc = KT_OK;
    struct stat st;
    DIR *d;

    *names = NULL;
    *n = 0;
    if (lstat(dir, &st) != 0)
        return kt_fail_errno(e, errno == ENOENT ? KT_ENOENT : KT_EIO, errno, "cannot open '%s'",
                             dir);
    if (!S_ISDIR(st.st_mode))
        return kt_fail(e, KT_EIO, "'%s' is not a folder", dir);
    if ((d = opendir(dir)) == NULL)
        return kt_fail_errno(e, KT_EIO, errno, "cannot open '%s'", dir);
    if ((v = calloc(ONLINE_MANIFESTS_MAX, sizeof *v)) == NULL) {
        closedir(d);
        return kt_fail(e, KT_ENOMEM, "out of memory");
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = kt_fail_errno(e, KT_EIO, errno, "cannot list '%s'", dir);
            break;
        }
        if (!is_manifest_name(de->d_name))
            continue;
        if (count == ONLINE_MANIFESTS_MAX) {
            rc = kt_fail(e, KT_ETOOBIG,
                         "'%s' holds more than %d transfer manifests; check them in smaller "
                         "folders",
                         dir, ONLINE_MANIFESTS_MAX);
            break;
        }
        if ((v[count] = strdup(de->d_name)) == NULL) {
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
            break;
        }
        count++;
    }
    closedir(d);
    if (rc != KT_OK) {
        online_names_free(v, count);
        return rc;
    }
    qsort(v, count, sizeof *v, by_name);
    *names = v;
    *n = count;
    return KT_OK;
}
