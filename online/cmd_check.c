/*
 * cmd_check.c - `keytransfer-online check`: what the USB stick brings from the offline
 * workstation, checked before anything is uploaded: every transfer manifest's signature, its
 * signing module (pinned by fingerprint when the user gives it), and the SHA-256 of the package
 * it names. Lists what is ready to upload.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_EXPECT_MODULE = 256, OPT_DEMO, OPT_JSON };

static const cli_opt opts[] = {
    {OPT_EXPECT_MODULE, "expect-module", CLI_VALUE, "FP",
     "refuse manifests not signed by this module: the SHA-256 (64 hex\ndigits) that "
     "`keytransfer world info` prints as \"module key\""},
    {OPT_DEMO, "demo", CLI_FLAG, NULL,
     "take packages whose KEK the DEMO vendor root vouched for (its\nprivate key is public: "
     "demos only; refused by a real-root build)"},
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd cmd = {
    .name = "check",
    .synopsis = "DIR [--expect-module FINGERPRINT] [--json]",
    .about =
        "Check every transfer manifest (*.manifest.json, at most 100) in DIR: its EdDSA "
        "signature,\nthe module that signed it, and that the package it names is in DIR with the "
        "SHA-256 it\nstates. Prints each signing module's fingerprint and what is ready to "
        "upload. Exit status\n1 when a check said no (or there is no manifest), 3 for a malformed "
        "or oversized file, 4\nfor one that cannot be read; the highest of them when several "
        "manifests fail.",
    .opts = opts,
    .min_args = 1,
    .max_args = 1,
};

typedef struct check_args {
    const char *dir, *expect_module;
    bool json, demo;
    uint8_t pin[32];
} check_args;

/* One manifest's verdict. */
typedef struct verdict {
    char *name;
    kt_rc rc;
    kt_err err;
    online_package pkg;
} verdict;

/* 1. options */
static int parse(int argc, char **argv, check_args *a)
{
    kt_err e;
    cli_args c;
    int status = cli_parse(&cmd, argc, argv, &c);

    memset(a, 0, sizeof *a);
    if (status >= 0)
        return status;
    a->dir = c.arg[0];
    a->expect_module = cli_value(&c, OPT_EXPECT_MODULE);
    a->demo = cli_flag(&c, OPT_DEMO);
    a->json = cli_flag(&c, OPT_JSON);
    cli_args_free(&c);
    if (a->expect_module != NULL && online_sha256_parse(a->expect_module, a->pin, &e) != KT_OK)
        return cli_usage(cmd.name, "--expect-module: %s", e.msg);
    return -1;
}

/* The vault a package is wrapped for: the kid's https://HOST. */
static void vault_of(const char *kid, char *out, size_t outsz)
{
    const char *host = kid + strlen("https://");
    snprintf(out, outsz, "https://%.*s", (int)strcspn(host, "/"), host);
}

static void print_text(const check_args *a, const verdict *v, size_t n, bool ok)
{
    char hex[65];
    printf("Checking %zu transfer manifest%s in %s\n", n, n == 1 ? "" : "s", a->dir);
    for (size_t i = 0; i < n; i++) {
        const pkg_manifest *m = &v[i].pkg.m;
        if (v[i].rc != KT_OK) {
            printf("FAIL  %s\n      %s\n", v[i].name, v[i].err.msg);
            continue;
        }
        printf("OK    %s\n", v[i].name);
        kt_hex(hex, m->package_sha256, 32);
        printf("      package  %s, SHA-256 %s as stated\n", m->package_file, hex);
        if (m->token_file[0] != '\0') {
            kt_hex(hex, m->token_sha256, 32);
            printf("      token    %s, SHA-256 %s as stated (AWS ImportToken)\n", m->token_file,
                   hex);
        }
        kt_hex(hex, m->key_sha256, 32);
        if (strcmp(m->key_type, "EC") == 0)
            printf("      key      EC %s", m->curve);
        else
            printf("      key      %s-%u", m->key_type, m->key_bits);
        printf(" '%s' (app %s), %s %s\n", m->ident, m->app,
               strcmp(m->key_type, "AES") == 0 ? "key hash" : "public key SHA-256", hex);
        printf("      for      %s, KEK %s\n", m->target, m->kid[0] ? m->kid : "(none stated)");
        if (!m->attested)
            printf("      KEK      UNATTESTED: accepted offline by its fingerprint\n");
        else
            printf("      KEK      attested by %s%s%s\n",
                   strcmp(m->root_name, PKG_ROOT_NAME_DEMO) == 0 ? "the " : "vendor root ",
                   m->root_name,
                   strcmp(m->root_name, PKG_ROOT_NAME_DEMO) == 0 ? " root (a demonstration)" : "");
        printf("      name     %s, subscription %s\n", m->friendly_name,
               m->subscription[0] ? m->subscription : "(none stated)");
        kt_hex(hex, v[i].pkg.module_sha256, 32);
        printf("      module   %s%s\n", hex, v[i].pkg.pinned ? " (as expected)" : "");
    }

    /* The modules that signed, for the user to compare with `keytransfer world info`. */
    if (a->expect_module == NULL) {
        for (size_t i = 0; i < n; i++) {
            bool seen = false;
            if (v[i].rc != KT_OK)
                continue;
            for (size_t j = 0; j < i; j++)
                if (v[j].rc == KT_OK &&
                    memcmp(v[j].pkg.module_sha256, v[i].pkg.module_sha256, 32) == 0)
                    seen = true;
            if (seen)
                continue;
            kt_hex(hex, v[i].pkg.module_sha256, 32);
            printf("Signed by module %s, which you have not pinned: compare it with the 'module "
                   "key' line of `keytransfer world info` on the offline workstation, then give "
                   "--expect-module %s\n",
                   hex, hex);
        }
    }

    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const pkg_manifest *m = &v[i].pkg.m;
        if (v[i].rc != KT_OK || strcmp(m->target, "azure") != 0)
            continue;
        char vault[300], path[PATH_MAX + 8];
        kt_err ignored;
        vault_of(m->kid, vault, sizeof vault);
        snprintf(path, sizeof path, "%s", v[i].pkg.package_path);
        if (!any)
            printf("Ready to upload:\n");
        any = true;
        printf("  keytransfer-online upload --vault %s --name %s %s%s%s\n", vault,
               pkg_key_name_check("key name", m->friendly_name, &ignored) == KT_OK
                   ? m->friendly_name
                   : "NAME",
               path, a->expect_module ? " --expect-module " : "",
               a->expect_module ? a->expect_module : "");
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].rc == KT_OK && strcmp(v[i].pkg.m.target, "azure") != 0)
            printf("%s is for %s: upload it with that cloud's own tools\n", v[i].pkg.m.package_file,
                   v[i].pkg.m.target);
    if (n == 0)
        printf("No transfer manifest (*%s) in %s\n", ONLINE_MANIFEST_SUFFIX, a->dir);
    printf("Result: %s\n", ok ? "SUCCESS" : "FAILURE");
}

static json_t *hex_json(const uint8_t *p)
{
    char hex[65];
    kt_hex(hex, p, 32);
    return json_string(hex);
}

static int print_json(const check_args *a, const verdict *v, size_t n, bool ok)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        const pkg_manifest *m = &v[i].pkg.m;
        json_t *o;
        if (v[i].rc != KT_OK) {
            o = json_pack("{s:s, s:b, s:s}", "manifest", v[i].name, "ok", 0, "error", v[i].err.msg);
        } else {
            o = json_pack("{s:s, s:b, s:n, s:s, s:o, s:s, s:s, s:s, s:i, s:s, s:o, s:s, s:s, "
                          "s:s, s:s, s:o, s:b}",
                          "manifest", v[i].name, "ok", 1, "error", "package_file", m->package_file,
                          "package_sha256", hex_json(m->package_sha256), "app", m->app, "ident",
                          m->ident, "key_type", m->key_type, "key_bits", (int)m->key_bits, "curve",
                          m->curve, "key_sha256", hex_json(m->key_sha256), "target", m->target,
                          "kid", m->kid, "friendly_name", m->friendly_name, "subscription",
                          m->subscription, "module_sha256", hex_json(v[i].pkg.module_sha256),
                          "module_pinned", v[i].pkg.pinned);
            json_object_set_new(o, "attestation",
                                m->attested ? json_pack("{s:s, s:o}", "root", m->root_name,
                                                        "root_sha256", hex_json(m->root_sha256))
                                            : json_null());
        }
        json_array_append_new(list, o);
    }
    json_t *root = json_pack("{s:s, s:s, s:o}", "folder", a->dir, "result",
                             ok ? "SUCCESS" : "FAILURE", "packages", list);
    char *s = NULL;
    kt_err e;
    kt_rc rc = root ? kt_json_dump(root, true, &s, &e) : kt_fail(&e, KT_ENOMEM, "out of memory");
    json_decref(root);
    if (rc != KT_OK)
        return cli_report(&e);
    puts(s);
    free(s);
    return KT_EXIT_OK;
}

int cmd_check(int argc, char **argv)
{
    check_args a;
    char **names = NULL;
    size_t n = 0;
    verdict *v = NULL;
    kt_err e;
    int status = parse(argc, argv, &a);

    if (status >= 0)
        return status;

    /* 2. inputs */
    kt_err_clear(&e);
    if (online_list_manifests(a.dir, &names, &n, &e) != KT_OK)
        return cli_report(&e);
    if (n > 0 && (v = calloc(n, sizeof *v)) == NULL) {
        online_names_free(names, n);
        return cli_report(&(kt_err){KT_ENOMEM, "out of memory"});
    }

    /* 3. operation: each manifest on its own, so one bad file does not hide the others; the exit
     * status is the highest of theirs (docs/design.md §6: 1 said no, 3 malformed, 4 I/O) */
    bool ok = n > 0;
    int worst = n > 0 ? KT_EXIT_OK : KT_EXIT_DENIED;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        v[i].name = names[i];
        kt_err_clear(&v[i].err);
        int w = snprintf(path, sizeof path, "%s/%s", a.dir, names[i]);
        if (w < 0 || (size_t)w >= sizeof path)
            v[i].rc = kt_fail(&v[i].err, KT_EUSAGE, "path too long: %s/%s", a.dir, names[i]);
        else
            v[i].rc = online_package_check(path, NULL, a.expect_module ? a.pin : NULL, &v[i].pkg,
                                           &v[i].err);
        if (v[i].rc == KT_OK &&
            (v[i].rc = online_package_trust(&v[i].pkg, path, a.demo, &v[i].err)) != KT_OK)
            online_package_free(&v[i].pkg);
        if (v[i].rc != KT_OK) {
            ok = false;
            if (kt_rc_exit(v[i].rc) > worst)
                worst = kt_rc_exit(v[i].rc);
        }
    }

    /* 4. output */
    status = KT_EXIT_OK;
    if (a.json)
        status = print_json(&a, v, n, ok);
    else
        print_text(&a, v, n, ok);
    for (size_t i = 0; i < n; i++)
        online_package_free(&v[i].pkg);
    free(v);
    online_names_free(names, n);
    if (status != KT_EXIT_OK)
        return status;
    return ok ? KT_EXIT_OK : worst;
}
