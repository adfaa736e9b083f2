/*
 * cmd_key.c - `keytransfer key generate|import|list|show|public`: module-protected keys, as
 * nShield's generatekey, kmfile-dump and aclprint do it. Every subcommand needs the programmed
 * module: what list and show print has been authenticated with KM, never just read from a file.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_KMDATA = 1000,
    OPT_TYPE,
    OPT_SIZE,
    OPT_CURVE,
    OPT_PUBEXP,
    OPT_IDENT,
    OPT_PLAINNAME,
    OPT_APP,
    OPT_FROM,
    OPT_PASS_FILE,
    OPT_JSON,
    OPT_OUT,
    OPT_HELP
};

/* What the key subcommands parse from the command line. */
typedef struct key_args {
    const char *kmdata, *type, *size, *curve, *pubexp, *ident, *plainname, *app, *from, *pass_file,
        *out;
    const char *positional; /* the ID of show and public */
    bool json, help;
} key_args;

static int parse_args(const char *cmd, int argc, char **argv, const struct option *opts,
                      bool takes_id, key_args *a)
{
    memset(a, 0, sizeof *a);
    optind = 0;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+:", opts, NULL);
        if (c == -1) {
            /* An operand: the ID of show and public may come before or after the options. */
            if (optind >= argc || !takes_id || a->positional != NULL)
                break;
            a->positional = argv[optind++];
            continue;
        }
        switch (c) {
        case OPT_KMDATA:
            a->kmdata = optarg;
            break;
        case OPT_TYPE:
            a->type = optarg;
            break;
        case OPT_SIZE:
            a->size = optarg;
            break;
        case OPT_CURVE:
            a->curve = optarg;
            break;
        case OPT_PUBEXP:
            a->pubexp = optarg;
            break;
        case OPT_IDENT:
            a->ident = optarg;
            break;
        case OPT_PLAINNAME:
            a->plainname = optarg;
            break;
        case OPT_APP:
            a->app = optarg;
            break;
        case OPT_FROM:
            a->from = optarg;
            break;
        case OPT_PASS_FILE:
            a->pass_file = optarg;
            break;
        case OPT_OUT:
            a->out = optarg;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_HELP:
            a->help = true;
            break;
        case ':':
            return cli_usage(cmd, "option %s needs a value", argv[optind - 1]);
        default:
            return cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* The key named by `ID` or `--ident ID` (show, public). */
static int key_id(const char *cmd, key_args *a)
{
    if (a->positional != NULL && a->ident != NULL && strcmp(a->positional, a->ident) != 0)
        return cli_usage(cmd, "the key is '%s' or '%s'? give it once", a->positional, a->ident);
    if (a->ident == NULL)
        a->ident = a->positional;
    if (a->ident == NULL)
        return cli_usage(cmd, "which key? give its identifier");
    return -1;
}

/* Opens the kmdata paths, takes the world lock (exclusive to write a key) and opens the module;
 * on failure the lock is released again. */
static kt_rc open_module(const key_args *a, bool exclusive, world_paths *p, world_lock *l,
                         world_module *m, kt_err *e)
{
    kt_rc rc = cli_world_open(a->kmdata, NULL, exclusive, false, p, l, e);
    if (rc == KT_OK)
        rc = world_module_open(p, m, e);
    if (rc != KT_OK)
        world_lock_release(l);
    return rc;
}

static const char *app_of(const key_args *a)
{
    return a->app != NULL ? a->app : WORLD_KEY_APP_DEFAULT;
}

/* "2048 bits" or "P-256" */
static void size_text(const world_key_info *k, char *out, size_t n)
{
    if (k->type == WORLD_KEY_EC)
        snprintf(out, n, "%s (%u bits)", k->curve, k->bits);
    else
        snprintf(out, n, "%u bits", k->bits);
}

/* Parses an RSA public exponent: decimal, or hexadecimal with 0x (nShield's pubexp=). */
static bool parse_pubexp(const char *s, uint64_t *out)
{
    unsigned long long v = 0;
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return false;
        if (v > (0xffffffffull - (unsigned)d) / (unsigned)base)
            return false;
        v = v * (unsigned)base + (unsigned)d;
    }
    *out = v;
    return true;
}

/* ---- key generate ------------------------------------------------------------------------- */

static const struct option generate_opts[] = {
    {"type", required_argument, NULL, OPT_TYPE},           /* RSA | EC | AES */
    {"size", required_argument, NULL, OPT_SIZE},           /* bits */
    {"curve", required_argument, NULL, OPT_CURVE},         /* EC */
    {"pubexp", required_argument, NULL, OPT_PUBEXP},       /* RSA public exponent */
    {"ident", required_argument, NULL, OPT_IDENT},         /* the key identifier */
    {"plainname", required_argument, NULL, OPT_PLAINNAME}, /* a name for people */
    {"app", required_argument, NULL, OPT_APP},             /* application, default simple */
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char generate_help[] =
    "Usage: keytransfer key generate --type RSA|EC|AES --ident ID [OPTIONS]\n"
    "\n"
    "Generate a key inside the software module and protect it with the module key: the key\n"
    "file KMDATA/local/key_APP_ID. An existing key is never replaced.\n"
    "\n"
    "  --type TYPE         RSA, EC or AES (required)\n"
    "  --size BITS         RSA: 2048, 3072 or 4096; AES: 128, 192 or 256 (required for both)\n"
    "  --curve CURVE       EC: P-256, P-384, P-521 or secp256k1 (required for EC)\n"
    "  --pubexp E          RSA public exponent, odd, 3..4294967295 (default 65537; 0x for hex)\n"
    "  --ident ID          the key identifier: digits, lower-case letters, hyphens (required)\n"
    "  --plainname NAME    a name for people (default: the identifier)\n"
    "  --app APP           the application the key belongs to (default: simple)\n"
    "  --kmdata DIR        kmdata folder\n"
    "  --help              show this help\n";

static int key_generate(int argc, char **argv)
{
    world_lock lock;
    const char *cmd = "key generate";
    key_args a;
    world_key_gen_opts o = {0};
    world_paths p;
    world_module m;
    world_key_info info;
    kt_err e;
    int status = parse_args(cmd, argc, argv, generate_opts, false, &a);

    /* 1. options */
    if (status >= 0)
        return status;
    if (a.help)
        return fputs(generate_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    kt_err_clear(&e);
    if (a.type == NULL)
        return cli_usage(cmd, "--type RSA, EC or AES is required");
    if (a.ident == NULL)
        return cli_usage(cmd, "--ident ID is required");
    if (world_key_type_parse(a.type, &o.type, &e) != KT_OK)
        return cli_report(&e);
    if (a.size != NULL) {
        unsigned long bits;
        if (!cli_parse_uint(a.size, 1, 65536, &bits))
            return cli_usage(cmd, "--size takes a number of bits, not '%s'", a.size);
        o.bits = (unsigned)bits;
    } else if (o.type != WORLD_KEY_EC) {
        return cli_usage(cmd, "--size is required for %s keys: %s", world_key_type_name(o.type),
                         o.type == WORLD_KEY_RSA ? "2048, 3072 or 4096" : "128, 192 or 256");
    }
    if (a.pubexp != NULL && (!parse_pubexp(a.pubexp, &o.pubexp) || o.pubexp == 0))
        return cli_usage(cmd, "--pubexp takes an odd number from 3 to 4294967295, not '%s'",
                         a.pubexp);
    o.curve = a.curve;
    o.ident = a.ident;
    o.plainname = a.plainname;
    o.app = a.app;
    o.progress = kt_progress_stderr;

    /* 2. inputs */
    if (open_module(&a, true, &p, &lock, &m, &e) != KT_OK)
        return cli_report(&e);

    /* 3. operation */
    kt_rc rc = world_key_generate(&p, &m, &o, &info, &e);
    world_module_close(&m);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);

    /* 4. output */
    char hash[65], world[65], size[48];
    kt_hex(hash, info.key_hash, sizeof info.key_hash);
    kt_hex(world, info.world_hash, sizeof info.world_hash);
    size_text(&info, size, sizeof size);
    printf("Key generated, protected by the module key of world %s\n"
           "  app        %s\n"
           "  ident      %s\n"
           "  plainname  %s\n"
           "  type       %s\n"
           "  size       %s\n"
           "  key hash   %s\n"
           "  file       %s\n",
           world, info.app, info.ident, info.plainname, world_key_type_name(info.type), size, hash,
           info.path);
    return KT_EXIT_OK;
}

/* ---- key import --------------------------------------------------------------------------- */

static const struct option import_opts[] = {
    {"from", required_argument, NULL, OPT_FROM},           /* the private key file */
    {"ident", required_argument, NULL, OPT_IDENT},         /* the key identifier */
    {"type", required_argument, NULL, OPT_TYPE},           /* AES for a raw key file */
    {"pass-file", required_argument, NULL, OPT_PASS_FILE}, /* passphrase on the first line */
    {"plainname", required_argument, NULL, OPT_PLAINNAME},
    {"app", required_argument, NULL, OPT_APP},
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char import_help[] =
    "Usage: keytransfer key import --from FILE --ident ID [OPTIONS]\n"
    "\n"
    "Import an existing private key and protect it with the module key. FILE is a PEM or DER\n"
    "private key (PKCS#8, encrypted PKCS#8, PKCS#1 RSA or SEC1 EC) or, with --type AES, a raw\n"
    "AES key of 16, 24 or 32 bytes. FILE is left alone: it still holds the plaintext key.\n"
    "\n"
    "  --from FILE         the private key file (required)\n"
    "  --ident ID          the key identifier: digits, lower-case letters, hyphens (required)\n"
    "  --type TYPE         AES for a raw AES key file; RSA or EC to insist on that type\n"
    "  --pass-file FILE    the passphrase of an encrypted key, on the first line of FILE\n"
    "                      (default: asked on the terminal)\n"
    "  --plainname NAME    a name for people (default: the identifier)\n"
    "  --app APP           the application the key belongs to (default: simple)\n"
    "  --kmdata DIR        kmdata folder\n"
    "  --help              show this help\n";

/* The passphrase source, opened only if the key turns out to be encrypted. */
typedef struct pass_ctx {
    const char *pass_file;
    kt_pin_source src;
    bool open;
} pass_ctx;

static kt_rc ask_pass(void *ctx, const char *source, kt_secbuf *pass, kt_err *e)
{
    pass_ctx *c = ctx;
    char prompt[PATH_MAX + 32];
    kt_rc rc;
    if (!c->open) {
        if ((rc = kt_pin_source_open(&c->src, c->pass_file, -1, e)) != KT_OK) {
            if (c->pass_file == NULL)
                return kt_fail(e, KT_EUSAGE,
                               "%s is encrypted and there is no terminal to ask for its "
                               "passphrase; use --pass-file",
                               source);
            return rc;
        }
        c->open = true;
    }
    snprintf(prompt, sizeof prompt, "Passphrase for %s: ", source);
    if ((rc = kt_pin_get(&c->src, prompt, false, pass, e)) != KT_OK && c->pass_file != NULL)
        kt_err_prefix(e, "--pass-file %s", c->pass_file);
    return rc;
}

static int key_import(int argc, char **argv)
{
    world_lock lock;
    const char *cmd = "key import";
    key_args a;
    world_key_import_opts o = {0};
    pass_ctx pc = {0};
    world_paths p;
    world_module m;
    world_key_info info;
    kt_err e;
    int status = parse_args(cmd, argc, argv, import_opts, false, &a);

    /* 1. options */
    if (status >= 0)
        return status;
    if (a.help)
        return fputs(import_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    kt_err_clear(&e);
    if (a.from == NULL)
        return cli_usage(cmd, "--from FILE is required");
    if (a.ident == NULL)
        return cli_usage(cmd, "--ident ID is required");
    if (a.type != NULL && world_key_type_parse(a.type, &o.type, &e) != KT_OK)
        return cli_report(&e);
    o.from = a.from;
    o.ident = a.ident;
    o.plainname = a.plainname;
    o.app = a.app;
    pc.pass_file = a.pass_file;
    o.pass = ask_pass;
    o.pass_ctx = &pc;

    /* 2. inputs */
    if (open_module(&a, true, &p, &lock, &m, &e) != KT_OK)
        return cli_report(&e);

    /* 3. operation */
    kt_rc rc = world_key_import(&p, &m, &o, &info, &e);
    world_module_close(&m);
    world_lock_release(&lock);
    if (pc.open)
        kt_pin_source_close(&pc.src);
    if (rc != KT_OK)
        return cli_report(&e);

    /* 4. output */
    char hash[65], world[65], size[48];
    kt_hex(hash, info.key_hash, sizeof info.key_hash);
    kt_hex(world, info.world_hash, sizeof info.world_hash);
    size_text(&info, size, sizeof size);
    printf("Key imported, protected by the module key of world %s\n"
           "  app        %s\n"
           "  ident      %s\n"
           "  plainname  %s\n"
           "  type       %s\n"
           "  size       %s\n"
           "  key hash   %s\n"
           "  file       %s\n",
           world, info.app, info.ident, info.plainname, world_key_type_name(info.type), size, hash,
           info.path);
    cli_warn("%s still holds the plaintext key: destroy it, or keep it offline and locked away",
             a.from);
    return KT_EXIT_OK;
}

/* ---- key list ----------------------------------------------------------------------------- */

static const struct option list_opts[] = {
    {"json", no_argument, NULL, OPT_JSON}, /* machine-readable output */
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char list_help[] =
    "Usage: keytransfer key list [--json] [--kmdata DIR]\n"
    "\n"
    "List the keys of the world: app, ident, type, size or curve, creation time and plain\n"
    "name. Every key file is authenticated with the module key; one that is refused is named\n"
    "on stderr and the exit status says so.\n"
    "\n"
    "  --json          print JSON\n"
    "  --kmdata DIR    kmdata folder\n"
    "  --help          show this help\n";

/* The JSON object of one key (shared by list and show). */
static json_t *key_json(const world_key_info *k, bool full)
{
    char hash[65], created[32];
    kt_hex(hash, k->key_hash, sizeof k->key_hash);
    kt_time_iso8601(created, sizeof created, k->created);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:b, s:s}", "app", k->app, "ident",
                          k->ident, "plainname", k->plainname, "type", world_key_type_name(k->type),
                          "size", (int)k->bits, "created", created, "key_hash", hash, "acl_signed",
                          k->acl_signed, "file", k->path);
    if (v == NULL)
        return NULL;
    json_object_set_new(v, "curve", k->type == WORLD_KEY_EC ? json_string(k->curve) : json_null());
    if (!full)
        return v;

    char world[65];
    kt_hex(world, k->world_hash, sizeof k->world_hash);
    json_object_set_new(v, "world_hash", json_string(world));
    json_t *groups = json_array();
    for (unsigned i = 0; i < k->acl.ngroups; i++) {
        const world_acl_group *g = &k->acl.groups[i];
        json_t *acts = json_array();
        for (uint32_t bit = 1; bit <= WORLD_ACT_ALL; bit <<= 1)
            if (g->actions & bit)
                json_array_append_new(acts, json_string(world_acl_action_name(bit)));
        char kek[65], tw[65];
        kt_hex(kek, g->kek_fp, sizeof g->kek_fp);
        kt_hex(tw, g->world_hash, sizeof g->world_hash);
        json_array_append_new(groups,
                              json_pack("{s:o, s:o, s:o, s:o}", "actions", acts, "kek_fingerprint",
                                        g->has_kek ? json_string(kek) : json_null(), "world_hash",
                                        g->has_world ? json_string(tw) : json_null(), "kid",
                                        g->has_kid ? json_string(g->kid) : json_null()));
    }
    json_object_set_new(v, "acl", groups);
    return v;
}

static int key_list(int argc, char **argv)
{
    world_lock lock;
    const char *cmd = "key list";
    key_args a;
    world_paths p;
    world_module m;
    world_key_entry *keys = NULL;
    size_t n = 0;
    kt_err e;
    int status = parse_args(cmd, argc, argv, list_opts, false, &a);

    if (status >= 0)
        return status;
    if (a.help)
        return fputs(list_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;

    kt_err_clear(&e);
    if (open_module(&a, false, &p, &lock, &m, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_key_list(&p, &m, &keys, &n, &e);
    char world[65];
    kt_hex(world, m.info.hash, sizeof m.info.hash);
    world_module_close(&m);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);

    /* Refused files are reported on stderr; the exit status is the first refusal's. */
    int bad = KT_EXIT_OK;
    for (size_t i = 0; i < n; i++)
        if (keys[i].rc != KT_OK) {
            int s = cli_report(&keys[i].err);
            if (bad == KT_EXIT_OK)
                bad = s;
        }
    if (a.json) {
        json_t *list = json_array(), *refused = json_array();
        for (size_t i = 0; i < n; i++) {
            if (keys[i].rc == KT_OK)
                json_array_append_new(list, key_json(&keys[i].info, false));
            else
                json_array_append_new(refused, json_pack("{s:s, s:s}", "file", keys[i].file,
                                                         "error", keys[i].err.msg));
        }
        status =
            cli_print_json(json_pack("{s:s, s:s, s:o, s:o}", "format", "keytransfer-key-list/1",
                                     "world_hash", world, "keys", list, "refused", refused));
    } else {
        size_t shown = 0;
        for (size_t i = 0; i < n; i++) {
            const world_key_info *k = &keys[i].info;
            char created[32], type[32];
            if (keys[i].rc != KT_OK)
                continue;
            if (shown++ == 0)
                printf("%-8s %-24s %-15s %-20s %s\n", "APP", "IDENT", "TYPE", "CREATED",
                       "PLAINNAME");
            kt_time_iso8601(created, sizeof created, k->created);
            if (k->type == WORLD_KEY_EC)
                snprintf(type, sizeof type, "EC %s", k->curve);
            else
                snprintf(type, sizeof type, "%s-%u", world_key_type_name(k->type), k->bits);
            printf("%-8s %-24s %-15s %-20s %s\n", k->app, k->ident, type, created, k->plainname);
        }
        if (shown == 0)
            printf("No keys in world %s.\n", world);
        status = KT_EXIT_OK;
    }
    free(keys);
    return status != KT_EXIT_OK ? status : bad;
}

/* ---- key show ----------------------------------------------------------------------------- */

static const struct option show_opts[] = {
    {"ident", required_argument, NULL, OPT_IDENT}, /* the key (or give it as ID) */
    {"app", required_argument, NULL, OPT_APP},
    {"json", no_argument, NULL, OPT_JSON},
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char show_help[] =
    "Usage: keytransfer key show ID [--app APP] [--json] [--kmdata DIR]\n"
    "\n"
    "Show a key, as nShield's kmfile-dump and aclprint do: app, ident, plain name, type, size or\n"
    "curve, creation time, world hash, key hash, the ACL's permission groups and whether the\n"
    "administrators signed it, and the public key. The key file is authenticated first.\n"
    "\n"
    "  ID              the key identifier (or --ident ID)\n"
    "  --app APP       the key's application (default: simple)\n"
    "  --json          print JSON\n"
    "  --kmdata DIR    kmdata folder\n"
    "  --help          show this help\n";

static int key_show(int argc, char **argv)
{
    world_lock lock;
    const char *cmd = "key show";
    key_args a;
    world_paths p;
    world_module m;
    world_key_info k;
    char *pem = NULL;
    kt_err e;
    int status = parse_args(cmd, argc, argv, show_opts, true, &a);

    if (status >= 0)
        return status;
    if (a.help)
        return fputs(show_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    if ((status = key_id(cmd, &a)) >= 0)
        return status;

    kt_err_clear(&e);
    if (open_module(&a, false, &p, &lock, &m, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_key_inspect(&p, &m, app_of(&a), a.ident, &k, &e);
    world_module_close(&m);
    world_lock_release(&lock);
    if (rc != KT_OK || (k.type != WORLD_KEY_AES && world_key_public_pem(&k, &pem, &e) != KT_OK))
        return cli_report(&e);

    if (a.json) {
        json_t *v = key_json(&k, true);
        if (v != NULL) {
            json_object_set_new(v, "public_key_pem", pem != NULL ? json_string(pem) : json_null());
            json_object_set_new(v, "format", json_string("keytransfer-key/1"));
        }
        status = cli_print_json(v);
    } else {
        char hash[65], world[65], size[48], created[32];
        kt_hex(hash, k.key_hash, sizeof k.key_hash);
        kt_hex(world, k.world_hash, sizeof k.world_hash);
        kt_time_iso8601(created, sizeof created, k.created);
        size_text(&k, size, sizeof size);
        printf("Key %s/%s\n"
               "  plainname   %s\n"
               "  type        %s\n"
               "  size        %s\n"
               "  created     %s\n"
               "  world hash  %s\n"
               "  key hash    %s\n"
               "  file        %s\n"
               "  ACL         %u permission group%s, %s\n",
               k.app, k.ident, k.plainname, world_key_type_name(k.type), size, created, world, hash,
               k.path, k.acl.ngroups, k.acl.ngroups == 1 ? "" : "s",
               k.acl_signed ? "signed by the administrator quorum (KNSO)"
                            : "not signed (the default ACL, never reduced)");
        for (unsigned i = 0; i < k.acl.ngroups; i++) {
            char g[1024];
            world_acl_format_group(&k.acl.groups[i], g, sizeof g);
            printf("    group %u: %s\n", i + 1, g);
        }
        if (pem != NULL)
            printf("  public key\n%s", pem);
        status = KT_EXIT_OK;
    }
    free(pem);
    return status;
}

/* ---- key public --------------------------------------------------------------------------- */

static const struct option public_opts[] = {
    {"ident", required_argument, NULL, OPT_IDENT}, /* the key (or give it as ID) */
    {"app", required_argument, NULL, OPT_APP},
    {"out", required_argument, NULL, OPT_OUT}, /* write a new file instead of stdout */
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char public_help[] =
    "Usage: keytransfer key public ID [--app APP] [--out FILE] [--kmdata DIR]\n"
    "\n"
    "Write the key's public key as a PEM SubjectPublicKeyInfo (what `openssl pkey -pubout`\n"
    "prints), after authenticating the key file. AES keys have none.\n"
    "\n"
    "  ID              the key identifier (or --ident ID)\n"
    "  --app APP       the key's application (default: simple)\n"
    "  --out FILE      write FILE (never replacing one) instead of standard output\n"
    "  --kmdata DIR    kmdata folder\n"
    "  --help          show this help\n";

static int key_public(int argc, char **argv)
{
    world_lock lock;
    const char *cmd = "key public";
    key_args a;
    world_paths p;
    world_module m;
    world_key_info k;
    char *pem = NULL;
    kt_err e;
    int status = parse_args(cmd, argc, argv, public_opts, true, &a);

    if (status >= 0)
        return status;
    if (a.help)
        return fputs(public_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    if ((status = key_id(cmd, &a)) >= 0)
        return status;

    kt_err_clear(&e);
    if (open_module(&a, false, &p, &lock, &m, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_key_inspect(&p, &m, app_of(&a), a.ident, &k, &e);
    world_module_close(&m);
    world_lock_release(&lock);
    if (rc != KT_OK || world_key_public_pem(&k, &pem, &e) != KT_OK)
        return cli_report(&e);

    if (a.out != NULL)
        rc = kt_file_write(a.out, pem, strlen(pem), KT_WRITE_NEW, &e);
    else if (fputs(pem, stdout) < 0 || fflush(stdout) != 0)
        rc = kt_fail(&e, KT_EIO, "cannot write the public key to standard output");
    free(pem);
    return rc != KT_OK ? cli_report(&e) : KT_EXIT_OK;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static const cli_subcommand subcommands[] = {
    {"generate", key_generate, "generate an RSA, EC or AES key protected by the module"},
    {"import", key_import, "bring an existing private key under the module's protection"},
    {"list", key_list, "list the keys of the world"},
    {"show", key_show, "show a key: names, type, hashes, ACL and public key"},
    {"public", key_public, "write a key's public key as PEM"},
};

int cmd_key(int argc, char **argv)
{
    return cli_dispatch("key", subcommands, sizeof subcommands / sizeof subcommands[0], argc, argv);
}
