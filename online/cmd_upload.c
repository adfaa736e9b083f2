/*
 * cmd_upload.c - `keytransfer-online upload`: the last step of a transfer (DESIGN.md §1 step 9).
 * The package is checked against its signed manifest before anything is sent, imported with Key
 * Vault's Import Key request (sent again within bounds when the service is busy, looked up when
 * the answer is lost: upload.c), and the key the service then holds is compared with the key
 * the manifest describes and with what was asked.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <time.h>

#include <curl/curl.h>

enum {
    OPT_VAULT = 1000,
    OPT_NAME,
    OPT_OPS,
    OPT_TOKEN_FILE,
    OPT_MANIFEST,
    OPT_EXPECT_MODULE,
    OPT_CACERT,
    OPT_HELP,
    OPT_TRIES,
    OPT_TIMEOUT,
    OPT_MAX_TIME,
    OPT_DEMO,
};

static const struct option opts[] = {
    {"vault", required_argument, NULL, OPT_VAULT},           /* https://NAME.vault.azure.net */
    {"name", required_argument, NULL, OPT_NAME},             /* the key's name in the vault */
    {"ops", required_argument, NULL, OPT_OPS},               /* key_ops, default per key type */
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE}, /* else $AZURE_ACCESS_TOKEN */
    {"manifest", required_argument, NULL, OPT_MANIFEST},     /* default: beside FILE.byok */
    {"expect-module", required_argument, NULL, OPT_EXPECT_MODULE}, /* pin the signer */
    {"cacert", required_argument, NULL, OPT_CACERT},   /* CA certificates instead of the system's */
    {"tries", required_argument, NULL, OPT_TRIES},     /* attempts of each request */
    {"timeout", required_argument, NULL, OPT_TIMEOUT}, /* seconds per request */
    {"max-time", required_argument, NULL, OPT_MAX_TIME}, /* seconds for the whole upload */
    {"demo", no_argument, NULL, OPT_DEMO},               /* take a KEK the DEMO root vouched for */
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char help[] =
    "Usage: keytransfer-online upload --vault URL --name NAME FILE.byok [OPTIONS]\n"
    "\n"
    "Check FILE.byok against its signed transfer manifest (signature, signing module, SHA-256)\n"
    "before anything is sent, import it with Key Vault's Import Key request\n"
    "(PUT URL/keys/NAME?api-version=" ONLINE_API_VERSION
    "), then check that the public key the vault\n"
    "returns is the one the manifest states, under NAME, enabled, not exportable, with the\n"
    "key_ops asked for. NAME must be the name the manifest states. A busy service (429, 503)\n"
    "is asked again after its Retry-After; when the answer is lost or the name is taken (409),\n"
    "the key is looked up (GET) and a key that matches the manifest is success. Prints\n"
    "'Result: SUCCESS' at the end.\n"
    "\n"
    "  --vault URL           the vault, such as https://contoso.vault.azure.net (plain http\n"
    "                        only to 127.0.0.1, [::1] or localhost)\n"
    "  --name NAME           the key's name in the vault: letters, digits and '-'\n"
    "  --ops OP,OP,...       key_ops: encrypt, decrypt, sign, verify, wrapKey, unwrapKey\n"
    "                        (default: all the key's type allows; EC: sign,verify)\n"
    "  --token-file FILE     the bearer token (default: $" ONLINE_TOKEN_ENV "), as printed by\n"
    "                        az account get-access-token --resource https://vault.azure.net\n"
    "                        --query accessToken -o tsv\n"
    "  --manifest FILE       the transfer manifest (default: FILE.byok's name with\n"
    "                        .manifest.json instead of .byok)\n"
    "  --expect-module FP    refuse a manifest not signed by this module: the SHA-256 that\n"
    "                        `keytransfer world info` prints as \"module key\"\n"
    "  --cacert FILE         trust the CA certificates in FILE (PEM) instead of the system's\n"
    "  --tries N             send each request (the import, the look-up) at most N times,\n"
    "                        1 to 10 (default 4)\n"
    "  --timeout SECONDS     give each request at most SECONDS, 1 to 600 (default 120)\n"
    "  --max-time SECONDS    give up after SECONDS in all, waits included, 1 to 3600\n"
    "                        (default 300)\n"
    "  --demo                take a package whose KEK the DEMO vendor root vouched for (its\n"
    "                        private key is public: demos only; refused by a real-root build)\n"
    "  --help                show this help\n";

typedef struct upload_args {
    const char *vault_url, *name, *ops, *token_file, *manifest, *expect_module, *cacert, *file;
    online_vault vault;
    uint8_t pin[32];
    online_policy policy;
    bool demo;
} upload_args;

/* A whole number lo..hi for option opt; false (with the usage error printed) otherwise. */
static bool number(const char *opt, const char *text, unsigned lo, unsigned hi, unsigned *out,
                   int *status)
{
    unsigned long v = 0;
    size_t n = strlen(text);
    bool ok = n > 0 && n <= 5 && strspn(text, "0123456789") == n;
    for (size_t i = 0; ok && i < n; i++)
        v = v * 10 + (unsigned long)(text[i] - '0');
    if (!ok || v < lo || v > hi) {
        *status = online_usage("upload", "%s must be a number from %u to %u, not '%.40s'", opt, lo,
                               hi, text);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

/* 1. options */
static int parse(int argc, char **argv, upload_args *a)
{
    kt_err e;
    int status = KT_EXIT_USAGE;
    memset(a, 0, sizeof *a);
    online_policy_default(&a->policy);
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "-:", opts, NULL)) != -1;) {
        switch (c) {
        case 1:
            if (a->file != NULL)
                return online_usage("upload", "unexpected argument '%s'", optarg);
            a->file = optarg;
            break;
        case OPT_VAULT:
            a->vault_url = optarg;
            break;
        case OPT_NAME:
            a->name = optarg;
            break;
        case OPT_OPS:
            a->ops = optarg;
            break;
        case OPT_TOKEN_FILE:
            a->token_file = optarg;
            break;
        case OPT_MANIFEST:
            a->manifest = optarg;
            break;
        case OPT_EXPECT_MODULE:
            a->expect_module = optarg;
            break;
        case OPT_CACERT:
            a->cacert = optarg;
            break;
        case OPT_TRIES:
            if (!number("--tries", optarg, 1, ONLINE_TRIES_MAX, &a->policy.tries, &status))
                return status;
            break;
        case OPT_TIMEOUT:
            if (!number("--timeout", optarg, 1, ONLINE_TIMEOUT_MAX, &a->policy.timeout, &status))
                return status;
            break;
        case OPT_MAX_TIME:
            if (!number("--max-time", optarg, 1, ONLINE_MAX_TIME_MAX, &a->policy.max_time, &status))
                return status;
            break;
        case OPT_DEMO:
            a->demo = true;
            break;
        case OPT_HELP:
            return fputs(help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
        case ':':
            return online_usage("upload", "option %s needs a value", argv[optind - 1]);
        default:
            return online_usage("upload", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (a->file == NULL || a->vault_url == NULL || a->name == NULL)
        return online_usage("upload", "give --vault URL, --name NAME and the FILE.byok");
    kt_err_clear(&e);
    if (online_vault_parse(a->vault_url, &a->vault, &e) != KT_OK ||
        online_check_key_name(a->name, &e) != KT_OK)
        return online_usage("upload", "%s", e.msg);
    if (a->expect_module != NULL && online_sha256_parse(a->expect_module, a->pin, &e) != KT_OK)
        return online_usage("upload", "--expect-module: %s", e.msg);
    if (a->cacert != NULL && !a->vault.https)
        return online_usage("upload", "--cacert is for https:// vaults");
    return -1;
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
        p->ops = online_ops_for(m->key_type);
    }
    /* BYOK specification: the KEK "must be in the same vault where the Target Key is imported". */
    if (a->vault.https && !a->vault.loopback && m->kid[0] != '\0' && !same_vault(m->kid, &a->vault))
        return kt_fail(e, KT_EDENIED,
                       "%s is wrapped for the KEK %s, which lives in another vault than %s; Key "
                       "Vault imports a package only into the vault that holds its KEK",
                       p->pkg.package_path, m->kid, a->vault.base);
    if ((rc = online_import_body(m, p->pkg.package.p, p->pkg.package.len, p->ops, &p->body, e)) ||
        (rc = online_key_url(&a->vault, a->name, p->url, sizeof p->url, e)))
        return rc;
    return online_token_load(a->token_file, &p->token, e);
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
        online_warn("the signing module is not pinned: compare %s with the 'module key' line of "
                    "`keytransfer world info` on the offline workstation and give "
                    "--expect-module",
                    hex);
    }
    if (p->pkg.renamed)
        online_warn("the package is named %s in the manifest; its content is the one stated",
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
    online_ops_format(r->got.ops, ops, sizeof ops);
    printf("  %s, not exportable, key_ops %s, as asked\n", r->got.enabled ? "enabled" : "disabled",
           ops);
    printf("Result: SUCCESS\n");
}

int cmd_upload(int argc, char **argv)
{
    upload_args a;
    upload_plan plan;
    online_upload_result res;
    kt_err e;
    int status = parse(argc, argv, &a);

    if (status >= 0)
        return status;

    /* 2. inputs: nothing is sent unless every check here passes */
    memset(&plan, 0, sizeof plan);
    kt_err_clear(&e);
    if (prepare(&a, &plan, &e) != KT_OK) {
        plan_free(&plan);
        printf("Result: FAILURE\n");
        return online_report(&e);
    }
    print_checked(&plan);

    char ops[96], host[ONLINE_HOST_MAX + 1];
    const char *kty = online_kty_for(plan.pkg.m.key_type);
    online_ops_format(plan.ops, ops, sizeof ops);
    printf("Uploading to %s as %s (key_ops %s)\n", plan.url, kty, ops);
    /* What is printed is the record of what is sent: if it cannot be written, send nothing. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        plan_free(&plan);
        fprintf(stderr, "keytransfer-online: standard output cannot be written; nothing was "
                        "sent\n");
        return KT_EXIT_IO;
    }

    /* 3. operation: the requests (upload.c), then the answer against the manifest */
    answer_host(&a, &plan.pkg.m, host, sizeof host);
    online_expect want = {
        .m = &plan.pkg.m, .name = a.name, .host = host, .ops = plan.ops, .enabled = true};
    wire w = {.a = &a, .p = &plan};
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
        rc = online_upload_run(&a.policy, &t, &want, &res, &e);
        curl_global_cleanup();
    }
    kt_secbuf_free(&plan.token);

    /* 4. output */
    if (rc != KT_OK) {
        printf("Result: FAILURE\n");
        plan_free(&plan);
        return online_report(&e);
    }
    print_result(&a, &res);
    plan_free(&plan);
    return KT_EXIT_OK;
}
