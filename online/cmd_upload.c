/*
 * cmd_upload.c - `keytransfer-online upload`: the last step of a transfer (docs/design.md §1 step
 * 9). The package is checked against its signed manifest before anything is sent, imported with Key
 * Vault's Import Key request (sent again within bounds when the service is busy, looked up when
 * the answer is lost: upload.c), and the key the service then holds is compared with the key
 * the manifest describes and with what was asked.
 */
#include "commands.h"
#include "upload_many.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <time.h>

#include <curl/curl.h>

enum {
    OPT_VAULT = 256,
    OPT_NAME,
    OPT_OPS,
    OPT_TOKEN_FILE,
    OPT_MANIFEST,
    OPT_EXPECT_MODULE,
    OPT_CACERT,
    OPT_TRIES,
    OPT_TIMEOUT,
    OPT_MAX_TIME,
    OPT_DEMO,
    OPT_PARALLEL,
    OPT_JSON,
    OPT_TAGS,
    OPT_NOT_BEFORE,
    OPT_EXPIRES,
    OPT_DISABLED,
    OPT_EXPORTABLE,
    OPT_RELEASE_POLICY,
    OPT_API_VERSION,
    OPT_RESOLVE,
};

static const cli_opt opts[] = {
    {OPT_VAULT, "vault", CLI_VALUE, "URL",
     "the vault, such as https://contoso.vault.azure.net (plain http\nonly to 127.0.0.1, [::1] or "
     "localhost)"},
    {OPT_NAME, "name", CLI_VALUE, "NAME", "the key's name in the vault: letters, digits and '-'"},
    {OPT_OPS, "ops", CLI_VALUE, "OP,OP,...",
     "key_ops: encrypt, decrypt, sign, verify, wrapKey, unwrapKey\n(default: all the key's type "
     "allows; EC: sign,verify)"},
    {OPT_TOKEN_FILE, "token-file", CLI_VALUE, "FILE",
     "the bearer token (default: $" ONLINE_TOKEN_ENV "), as printed by\naz account "
     "get-access-token --resource https://vault.azure.net\n--query accessToken -o tsv"},
    {OPT_MANIFEST, "manifest", CLI_VALUE, "FILE",
     "the transfer manifest (default: FILE.byok's name with\n.manifest.json instead of .byok)"},
    {OPT_EXPECT_MODULE, "expect-module", CLI_VALUE, "FP",
     "refuse a manifest not signed by this module: the SHA-256 that\n`keytransfer world info` "
     "prints as \"module key\""},
    {OPT_CACERT, "cacert", CLI_VALUE, "FILE",
     "trust the CA certificates in FILE (PEM) instead of the system's"},
    {OPT_TRIES, "tries", CLI_VALUE, "N",
     "send each request (the import, the look-up) at most N times,\n1 to 10 (default 4)"},
    {OPT_TIMEOUT, "timeout", CLI_VALUE, "SECONDS",
     "give each request at most SECONDS, 1 to 600 (default 120)"},
    {OPT_MAX_TIME, "max-time", CLI_VALUE, "SECONDS",
     "give up after SECONDS in all, waits included, 1 to 3600\n(default 300)"},
    {OPT_DEMO, "demo", CLI_FLAG, NULL,
     "take a package whose KEK the DEMO vendor root vouched for (its\nprivate key is public: "
     "demos only; refused by a real-root build)"},
    {OPT_PARALLEL, "parallel", CLI_VALUE, "N",
     "several packages (a folder, or several FILEs): at most N uploads\nat once, 1 to 64 "
     "(default 4)"},
    CLI_OPT_JSON,
    {OPT_TAGS, "tags", CLI_VALUE, "K=V,...",
     "the key's tags (at most 15; names of 1 to 512, values of at most\n256 characters)"},
    {OPT_NOT_BEFORE, "not-before", CLI_VALUE, "DATE",
     "attributes.nbf: not usable before DATE (YYYY-MM-DD or\nYYYY-MM-DDTHH:MM:SSZ, UTC, or "
     "seconds since 1970)"},
    {OPT_EXPIRES, "expires", CLI_VALUE, "DATE", "attributes.exp: not usable after DATE"},
    {OPT_DISABLED, "disabled", CLI_FLAG, NULL,
     "import the key disabled (attributes.enabled false)"},
    {OPT_EXPORTABLE, "exportable", CLI_FLAG, NULL,
     "let the service release the key out of its HSM under the release\npolicy (with "
     "--release-policy; api-version 7.3 and later)"},
    {OPT_RELEASE_POLICY, "release-policy", CLI_VALUE, "FILE",
     "the release policy document (JSON with version and anyOf)"},
    {OPT_RESOLVE, "resolve", CLI_VALUE, "ADDRESS",
     "connect to ADDRESS for the vault's host instead of what DNS says\n(a private endpoint, "
     "an emulator); the certificate is still checked\nfor the vault's name"},
    {OPT_API_VERSION, "api-version", CLI_VALUE, "V",
     "the api-version to send: 7.0 to 7.5 or a preview (default " ONLINE_API_VERSION ")"},
    {0},
};

static const cli_cmd cmd = {
    .name = "upload",
    .synopsis = "--vault URL --name NAME FILE.byok [OPTIONS]\n"
                "--vault URL [--parallel N] DIR | FILE.byok FILE.byok ... [OPTIONS]",
    .about = "Check FILE.byok against its signed transfer manifest (signature, signing module, "
             "SHA-256)\nbefore anything is sent, import it with Key Vault's Import Key request\n"
             "(PUT URL/keys/NAME?api-version=" ONLINE_API_VERSION
             ", Hsm true), then check that the public key the\nvault returns is the one the "
             "manifest states, under NAME, enabled (or disabled) and exportable\nor not as "
             "asked, with the key_ops asked for. NAME must "
             "be the name the manifest states. A busy service (429, 503)\nis asked again after its "
             "Retry-After; when the answer is lost or the name is taken (409),\nthe key is looked "
             "up (GET) and a key that matches the manifest is success. Prints\n'Result: SUCCESS' "
             "at the end.\nA folder (every *.byok in it) or several FILEs are uploaded each as "
             "one upload, in a\nprocess of its own, --parallel at a time, each under the name its "
             "manifest states;\na summary lists every package. Exit status: the highest of the "
             "uploads'.",
    .opts = opts,
    .min_args = 1,
    .max_args = CLI_ARGS_MAX,
};

typedef struct upload_args {
    const char *vault_url, *name, *ops, *token_file, *manifest, *expect_module, *cacert, *file;
    const char *resolve;
    online_vault vault;
    uint8_t pin[32];
    online_policy policy;
    online_props props;
    bool demo, json;
} upload_args;

/* The options that shape the key in the vault (props.c checks them together). */
static bool parse_props(const cli_args *c, upload_args *a, int *status)
{
    const char *v, *policy;
    kt_err e;
    kt_err_clear(&e);
    a->props.disabled = cli_flag(c, OPT_DISABLED);
    a->props.exportable = cli_flag(c, OPT_EXPORTABLE);
    a->props.api_version = cli_value(c, OPT_API_VERSION);
    if (((v = cli_value(c, OPT_TAGS)) != NULL && online_tags_parse(v, &a->props.tags, &e)) ||
        ((v = cli_value(c, OPT_NOT_BEFORE)) != NULL &&
         (a->props.has_nbf = true, online_time_parse("--not-before", v, &a->props.nbf, &e))) ||
        ((v = cli_value(c, OPT_EXPIRES)) != NULL &&
         (a->props.has_exp = true, online_time_parse("--expires", v, &a->props.exp, &e)))) {
        *status = cli_usage(cmd.name, "%s", e.msg);
        return false;
    }
    if ((policy = cli_value(c, OPT_RELEASE_POLICY)) != NULL &&
        online_release_policy_load(policy, &a->props.release_policy, &e) != KT_OK) {
        *status = cli_report(&e);
        return false;
    }
    if (online_props_check(&a->props, &a->vault, &e) != KT_OK) {
        *status = cli_usage(cmd.name, "%s", e.msg);
        return false;
    }
    return true;
}

/* A whole number lo..hi for option opt; false (with the usage error printed) otherwise. */
static bool number(const char *opt, const char *text, unsigned lo, unsigned hi, unsigned *out,
                   int *status)
{
    unsigned long v;

    if (!cli_parse_uint(text, lo, hi, &v)) {
        *status = cli_usage(cmd.name, "%s must be a number from %u to %u, not '%.40s'", opt, lo, hi,
                            text);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

/* 1. options */
static int parse(int argc, char **argv, upload_args *a)
{
    kt_err e;
    cli_args c;
    int status = cli_parse(&cmd, argc, argv, &c);
    const char *v;

    memset(a, 0, sizeof *a);
    if (status >= 0)
        return status;
    online_policy_default(&a->policy);
    a->file = c.arg[0];
    a->json = cli_flag(&c, OPT_JSON);
    if (c.nargs > 1 || upload_many_is_folder(a->file) || cli_value(&c, OPT_PARALLEL) != NULL) {
        /* several packages: each one is this command again, in a child (upload_many.c) */
        status =
            upload_many_run(&c, argc, argv, cli_value(&c, OPT_PARALLEL), a->json,
                            cli_value(&c, OPT_NAME) != NULL || cli_value(&c, OPT_MANIFEST) != NULL);
        goto out;
    }
    a->vault_url = cli_value(&c, OPT_VAULT);
    a->name = cli_value(&c, OPT_NAME);
    a->ops = cli_value(&c, OPT_OPS);
    a->token_file = cli_value(&c, OPT_TOKEN_FILE);
    a->manifest = cli_value(&c, OPT_MANIFEST);
    a->expect_module = cli_value(&c, OPT_EXPECT_MODULE);
    a->cacert = cli_value(&c, OPT_CACERT);
    a->resolve = cli_value(&c, OPT_RESOLVE);
    a->demo = cli_flag(&c, OPT_DEMO);
    status = -1;
    if ((v = cli_value(&c, OPT_TRIES)) != NULL &&
        !number("--tries", v, 1, ONLINE_TRIES_MAX, &a->policy.tries, &status))
        goto out;
    if ((v = cli_value(&c, OPT_TIMEOUT)) != NULL &&
        !number("--timeout", v, 1, ONLINE_TIMEOUT_MAX, &a->policy.timeout, &status))
        goto out;
    if ((v = cli_value(&c, OPT_MAX_TIME)) != NULL &&
        !number("--max-time", v, 1, ONLINE_MAX_TIME_MAX, &a->policy.max_time, &status))
        goto out;
    if (a->vault_url == NULL || a->name == NULL) {
        status = cli_usage(cmd.name, "give --vault URL, --name NAME and the FILE.byok");
        goto out;
    }
    kt_err_clear(&e);
    if (online_vault_parse(a->vault_url, &a->vault, &e) != KT_OK ||
        pkg_key_name_check("key name", a->name, &e) != KT_OK)
        status = cli_usage(cmd.name, "%s", e.msg);
    else if (a->expect_module != NULL && online_sha256_parse(a->expect_module, a->pin, &e) != KT_OK)
        status = cli_usage(cmd.name, "--expect-module: %s", e.msg);
    else if (a->cacert != NULL && !a->vault.https)
        status = cli_usage(cmd.name, "--cacert is for https:// vaults");
    else if (a->resolve != NULL && online_resolve_check(a->resolve, &a->vault, &e) != KT_OK)
        status = cli_usage(cmd.name, "%s", e.msg);
    else
        parse_props(&c, a, &status);
out:
    cli_args_free(&c);
    return status;
}

/* What the upload prepares before it sends anything. */
typedef struct upload_plan {
    online_package pkg;
    unsigned ops;
    char url[ONLINE_URL_MAX + PKG_KEY_NAME_MAX + 64];
    char *body;
    kt_secbuf token;
} upload_plan;

static void plan_free(upload_plan *p)
{
    online_package_free(&p->pkg);
    if (p->body != NULL)
        kt_wipe(p->body, strlen(p->body));
    free(p->body);
    kt_secbuf_free(&p->token);
}

/* The host of a kid (https://HOST/keys/...) compared with the vault's. */
static bool same_vault(const char *kid, const online_vault *v)
{
    const char *host = kid + strlen("https://");
    size_t n = strcspn(host, "/");
    return strlen(v->host) == n && strncasecmp(host, v->host, n) == 0;
}

/* The vault whose kid the answer must carry: the one of the package's KEK (Key Vault imports a
 * package only into the vault that holds its KEK), which for a vault that is not on loopback is
 * the one --vault names (prepare checks that). */
static void answer_host(const upload_args *a, const pkg_manifest *m, char *out, size_t outsz)
{
    if (m->kid[0] != '\0' && strncmp(m->kid, "https://", 8) == 0)
        snprintf(out, outsz, "%.*s", (int)strcspn(m->kid + 8, "/"), m->kid + 8);
    else
        snprintf(out, outsz, "%s", a->vault.host);
}

/* 2. inputs: the checked package, the key operations, the token, the request */
static kt_rc prepare(const upload_args *a, upload_plan *p, kt_err *e)
{
    char manifest[PATH_MAX];
    kt_rc rc;

    if (a->manifest != NULL)
        snprintf(manifest, sizeof manifest, "%s", a->manifest);
    else if ((rc = online_manifest_for(a->file, manifest, sizeof manifest, e)) != KT_OK)
        return rc;
    if ((rc = online_package_check(manifest, a->file, a->expect_module ? a->pin : NULL, &p->pkg,
                                   e)) != KT_OK ||
        (rc = online_package_trust(&p->pkg, manifest, a->demo, e)) != KT_OK)
        return rc;
    const pkg_manifest *m = &p->pkg.m;
    /* The name is part of what the offline workstation signed: a key is not renamed on the way.
     * Key Vault names ignore case. */
    if (strcasecmp(a->name, m->friendly_name) != 0)
        return kt_fail(e, KT_EDENIED,
                       "--name %s is not the key name the manifest states ('%s', given to "
                       "`keytransfer package --name`); give --name %s, or package the key again "
                       "under the name you want",
                       a->name, m->friendly_name, m->friendly_name);
    if (a->ops != NULL) {
        if ((rc = online_ops_parse(a->ops, m->key_type, &p->ops, e)) != KT_OK)
            return rc;
    } else {
        p->ops = pkg_kv_ops_for(m->key_type);
    }
    /* BYOK specification: the KEK "must be in the same vault where the Target Key is imported". */
    if (a->vault.https && !a->vault.loopback && m->kid[0] != '\0' && !same_vault(m->kid, &a->vault))
        return kt_fail(e, KT_EDENIED,
                       "%s is wrapped for the KEK %s, which lives in another vault than %s; Key "
                       "Vault imports a package only into the vault that holds its KEK",
                       p->pkg.package_path, m->kid, a->vault.base);
    if ((rc = online_import_body_props(m, p->pkg.package.p, p->pkg.package.len, p->ops, &a->props,
                                       &p->body, e)) ||
        (rc = online_key_url_api(&a->vault, a->name, a->props.api_version, p->url, sizeof p->url,
                                 e)) ||
        (rc = online_token_load(a->token_file, &p->token, e)))
        return rc;
    return online_token_audience_check(&p->token, &a->vault, e);
}

static void print_checked(const upload_plan *p)
{
    const pkg_manifest *m = &p->pkg.m;
    char hex[65];
    kt_hex(hex, p->pkg.module_sha256, 32);
    printf("Manifest  %s: signature verified\n", m->package_file);
    printf("  module  %s%s\n", hex, p->pkg.pinned ? " (as expected)" : " (not pinned)");
    kt_hex(hex, m->package_sha256, 32);
    printf("  package %s, SHA-256 %s as stated\n", p->pkg.package_path, hex);
    kt_hex(hex, m->key_sha256, 32);
    if (strcmp(m->key_type, "EC") == 0)
        printf("  key     EC %s", m->curve);
    else
        printf("  key     %s-%u", m->key_type, m->key_bits);
    printf(" '%s', %s %s\n", m->ident,
           strcmp(m->key_type, "AES") == 0 ? "key hash" : "public key SHA-256", hex);
    printf("  name    %s, as stated\n", m->friendly_name);
    if (!p->pkg.pinned) {
        kt_hex(hex, p->pkg.module_sha256, 32);
        cli_warn("the signing module is not pinned: compare %s with the 'module key' line of "
                 "`keytransfer world info` on the offline workstation and give "
                 "--expect-module",
                 hex);
    }
    if (p->pkg.renamed)
        cli_warn("the package is named %s in the manifest; its content is the one stated",
                 m->package_file);
}

/* ---- the transport: libcurl, the clocks, stderr ----------------------------------------- */

typedef struct wire {
    const upload_args *a;
    const upload_plan *p;
} wire;

static kt_rc wire_send(void *ctx, const char *method, long timeout, online_http *resp, kt_err *e)
{
    const wire *w = ctx;
    bool put = strcmp(method, "PUT") == 0;
    online_request req = {
        .vault = &w->a->vault,
        .method = method,
        .url = w->p->url,
        .body = put ? w->p->body : NULL,
        .token = &w->p->token,
        .cacert = w->a->cacert,
        .resolve = w->a->resolve,
        .timeout = timeout,
    };
    return online_http_send(&req, resp, e);
}

static void wire_sleep(void *ctx, unsigned seconds)
{
    struct timespec ts = {.tv_sec = (time_t)seconds, .tv_nsec = 0};
    (void)ctx;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t wire_now_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static time_t wire_wall(void *ctx)
{
    (void)ctx;
    return time(NULL);
}

static void wire_note(void *ctx, const char *text)
{
    (void)ctx;
    fprintf(stderr, "keytransfer-online: %s\n", text);
}

/* 4. output, as JSON (keytransfer-online-upload/1): r NULL for a failure, e says why */
static int print_json(const upload_args *a, const upload_plan *p, const online_upload_result *r,
                      const kt_err *e)
{
    char hex[65] = "", ops[160] = "";
    const pkg_manifest *m = &p->pkg.m;

    if (r != NULL) {
        if (r->compared)
            kt_hex(hex, r->got.key_sha256, 32);
        pkg_kv_ops_format(r->got.ops, ops, sizeof ops);
    }
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "format",
                          "keytransfer-online-upload/1", "result",
                          r != NULL ? "SUCCESS" : "FAILURE", "file", a->file, "name", a->name,
                          "ident", m->ident[0] ? json_string(m->ident) : json_null(), "kid",
                          r != NULL ? json_string(r->got.kid) : json_null(), "already",
                          r != NULL ? json_boolean(r->already) : json_null(), "public_key_sha256",
                          r != NULL && r->compared ? json_string(hex) : json_null(), "key_ops",
                          r != NULL ? json_string(ops) : json_null(), "error",
                          r == NULL ? json_string(e->msg) : json_null(), "exit",
                          json_integer(r != NULL ? 0 : kt_rc_exit(e->rc)));
    return cli_print_json(v);
}

/* 4. output */
static void print_result(const upload_args *a, const online_upload_result *r)
{
    char hex[65], ops[160];
    if (r->already)
        printf("Already imported: the vault already holds this key as %s (%s)\n", a->name,
               r->got.kid);
    else
        printf("Imported  %s\n", r->got.kid);
    if (r->compared) {
        kt_hex(hex, r->got.key_sha256, 32);
        printf("  public key SHA-256 %s, as the manifest states\n", hex);
    } else {
        printf("  an oct (AES) key has no public part: only the key's name was compared\n");
    }
    pkg_kv_ops_format(r->got.ops, ops, sizeof ops);
    printf("  %s, %s, key_ops %s, as asked\n", r->got.enabled ? "enabled" : "disabled",
           r->got.exportable ? "exportable under its release policy" : "not exportable", ops);
    printf("Result: SUCCESS\n");
}

/* The end of an upload that failed before or in sending: the result said (JSON or "Result:
 * FAILURE"), the plan freed, e reported. */
static int failed(const upload_args *a, upload_plan *plan, const kt_err *e)
{
    if (a->json)
        print_json(a, plan, NULL, e);
    else
        printf("Result: FAILURE\n");
    plan_free(plan);
    return cli_report(e);
}

static int upload(int argc, char **argv, upload_args *a)
{
    upload_plan plan;
    online_upload_result res;
    kt_err e;
    int status = parse(argc, argv, a);

    if (status >= 0)
        return status;

    /* 2. inputs: nothing is sent unless every check here passes */
    memset(&plan, 0, sizeof plan);
    kt_err_clear(&e);
    if (prepare(a, &plan, &e) != KT_OK) {
        return failed(a, &plan, &e);
    }
    char ops[96], host[ONLINE_HOST_MAX + 1];
    const char *kty = pkg_kv_kty_for(plan.pkg.m.key_type);
    pkg_kv_ops_format(plan.ops, ops, sizeof ops);
    if (!a->json) {
        print_checked(&plan);
        printf("Uploading to %s as %s (key_ops %s)\n", plan.url, kty, ops);
    }
    /* What is printed is the record of what is sent: if it cannot be written, send nothing. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        plan_free(&plan);
        fprintf(stderr, "keytransfer-online: standard output cannot be written; nothing was "
                        "sent\n");
        return KT_EXIT_IO;
    }

    /* 3. operation: the requests (upload.c), then the answer against the manifest */
    answer_host(a, &plan.pkg.m, host, sizeof host);
    online_expect want = {.m = &plan.pkg.m,
                          .name = a->name,
                          .host = host,
                          .ops = plan.ops,
                          .enabled = !a->props.disabled,
                          .exportable = a->props.exportable,
                          .vault = &a->vault,
                          .props = &a->props};
    wire w = {.a = a, .p = &plan};
    online_transport t = {
        .send = wire_send,
        .sleep = wire_sleep,
        .now_ms = wire_now_ms,
        .wall = wire_wall,
        .note = wire_note,
        .ctx = &w,
    };
    kt_rc rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = kt_fail(&e, KT_ECRYPTO, "libcurl could not start");
    } else {
        rc = online_upload_run(&a->policy, &t, &want, &res, &e);
        curl_global_cleanup();
    }
    kt_secbuf_free(&plan.token);

    /* 4. output */
    if (rc != KT_OK) {
        return failed(a, &plan, &e);
    }
    if (a->json) {
        status = print_json(a, &plan, &res, &e);
        plan_free(&plan);
        return status;
    }
    print_result(a, &res);
    plan_free(&plan);
    return KT_EXIT_OK;
}

int cmd_upload(int argc, char **argv)
{
    upload_args a;
    int status = upload(argc, argv, &a);
    online_props_free(&a.props);
    return status;
}
