/*
 * cmd_key.c - `keytransfer key generate|import|list|show|public`: module-protected keys, as
 * nShield's generatekey, kmfile-dump and aclprint do it. Every subcommand needs the programmed
 * module: what list and show print has been authenticated with KM, never just read from a file.
 */
#include "cmd_token.h"
#include "commands.h"
#include "transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_TYPE = OPT_SHARED_END,
    OPT_SIZE,
    OPT_CURVE,
    OPT_PUBEXP,
    OPT_IDENT,
    OPT_PLAINNAME,
    OPT_APP,
    OPT_FROM,
    OPT_PASS_FILE,
    OPT_OUT,
    OPT_YES,
};

/* What the key subcommands parse from the command line. */
typedef struct key_args {
    const char *kmdata, *type, *size, *curve, *pubexp, *ident, *plainname, *app, *from, *pass_file,
        *out;
    const char *positional;                /* the ID of show and public */
    const char *token, *pin_file, *pin_fd; /* --token URI and its user PIN */
    bool json, yes;
} key_args;

/* --token URI: the subcommand runs on the PKCS#11 token instead (cmd_token.c). */
static int on_token(const key_args *a, int (*fn)(const token_key_args *))
{
    const token_key_args t = {.uri = a->token,
                              .type = a->type,
                              .size = a->size,
                              .curve = a->curve,
                              .ident = a->ident,
                              .pin_file = a->pin_file,
                              .pin_fd = a->pin_fd,
                              .out = a->out,
                              .json = a->json};
    return fn(&t);
}

/* 1. options, for every key subcommand, into a: -1 goes on; else the exit status (a usage error,
 * --help, or with on_tok given and --token URI, the subcommand run on the token). */
static int parse_args(const cli_cmd *cmd, int argc, char **argv, key_args *a,
                      int (*on_tok)(const token_key_args *))
{
    cli_args c;
    int status = cli_parse(cmd, argc, argv, &c);

    memset(a, 0, sizeof *a);
    if (status >= 0)
        return status;
    a->kmdata = cli_value(&c, OPT_KMDATA);
    a->type = cli_value(&c, OPT_TYPE);
    a->size = cli_value(&c, OPT_SIZE);
    a->curve = cli_value(&c, OPT_CURVE);
    a->pubexp = cli_value(&c, OPT_PUBEXP);
    a->ident = cli_value(&c, OPT_IDENT);
    a->plainname = cli_value(&c, OPT_PLAINNAME);
    a->app = cli_value(&c, OPT_APP);
    a->from = cli_value(&c, OPT_FROM);
    a->pass_file = cli_value(&c, OPT_PASS_FILE);
    a->out = cli_value(&c, OPT_OUT);
    a->json = cli_flag(&c, OPT_JSON);
    a->yes = cli_flag(&c, OPT_YES);
    a->token = cli_value(&c, OPT_TOKEN);
    a->pin_file = cli_value(&c, OPT_PIN_FILE);
    a->pin_fd = cli_value(&c, OPT_PIN_FD);
    a->positional = c.nargs > 0 ? c.arg[0] : NULL;
    cli_args_free(&c);
    return on_tok != NULL && a->token != NULL ? on_token(a, on_tok) : -1;
}

#define CLI_OPTS_TOKEN_KEY                                                                         \
    CLI_OPT_TOKEN("work on the key in this PKCS#11 token (RFC 7512 URI with\nmodule-path= or "     \
                  "module-name=) instead of the world"),                                           \
        CLI_OPT_PIN_FILE("with --token: the token's user PIN (first line)"), CLI_OPT_PIN_FD

#define OPT_IDENT_ENTRY                                                                            \
    {                                                                                              \
        OPT_IDENT, "ident", CLI_NEEDED, "ID",                                                      \
            "the key identifier: digits, lower-case letters, hyphens (required)"                   \
    }
#define OPT_PLAINNAME_ENTRY                                                                        \
    {                                                                                              \
        OPT_PLAINNAME, "plainname", CLI_VALUE, "NAME",                                             \
            "a name for people (default: the identifier)"                                          \
    }
#define OPT_APP_ENTRY(help)                                                                        \
    {                                                                                              \
        OPT_APP, "app", CLI_VALUE, "APP", help                                                     \
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

/* What key generate and key import run with the module open: a call of world_key_generate or
 * world_key_import with its options o. */
typedef kt_rc (*make_fn)(const world_paths *p, const world_module *m, const void *o,
                         world_key_info *info, kt_err *e);

static kt_rc make_generated(const world_paths *p, const world_module *m, const void *o,
                            world_key_info *info, kt_err *e)
{
    return world_key_generate(p, m, o, info, e);
}

static kt_rc make_imported(const world_paths *p, const world_module *m, const void *o,
                           world_key_info *info, kt_err *e)
{
    return world_key_import(p, m, o, info, e);
}

/* 2. and 3. of key generate and key import: the module opened with the world locked exclusive,
 * the key made, both closed again. */
static kt_rc make_key(const key_args *a, make_fn make, const void *o, world_key_info *info,
                      kt_err *e)
{
    world_paths p;
    world_lock lock;
    world_module m;
    kt_rc rc = open_module(a, true, &p, &lock, &m, e);

    if (rc != KT_OK)
        return rc;
    rc = make(&p, &m, o, info, e);
    world_module_close(&m);
    world_lock_release(&lock);
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

static json_t *key_json(const world_key_info *k, bool acl);

/* What key generate and key import print of the key they made ("generated", "imported"). */
static void print_new_key(const char *made, const world_key_info *info)
{
    char hash[65], world[65], size[48];
    kt_hex(hash, info->key_hash, sizeof info->key_hash);
    kt_hex(world, info->world_hash, sizeof info->world_hash);
    size_text(info, size, sizeof size);
    printf("Key %s, protected by the module key of world %s\n"
           "  app        %s\n"
           "  ident      %s\n"
           "  plainname  %s\n"
           "  type       %s\n"
           "  size       %s\n"
           "  key hash   %s\n"
           "  file       %s\n",
           made, world, info->app, info->ident, info->plainname, world_key_type_name(info->type),
           size, hash, info->path);
}

/* ---- key generate ------------------------------------------------------------------------- */

static const cli_opt generate_opts[] = {
    {OPT_TYPE, "type", CLI_NEEDED, "RSA|EC|AES", "the key type (required)"},
    {OPT_SIZE, "size", CLI_VALUE, "BITS",
     "RSA: 2048, 3072 or 4096; AES: 128, 192 or 256 (required for both)"},
    {OPT_CURVE, "curve", CLI_VALUE, "CURVE",
     "EC: P-256, P-384, P-521 or secp256k1 (required for EC)"},
    {OPT_PUBEXP, "pubexp", CLI_VALUE, "E",
     "RSA public exponent, odd, 3..4294967295 (default 65537; 0x for hex)"},
    OPT_IDENT_ENTRY,
    OPT_PLAINNAME_ENTRY,
    OPT_APP_ENTRY("the application the key belongs to (default: simple)"),
    CLI_OPT_KMDATA,
    CLI_OPT_JSON,
    CLI_OPTS_TOKEN_KEY,
    {0},
};

static const cli_cmd generate_cmd = {
    .name = "key generate",
    .synopsis = "--type RSA|EC|AES --ident ID [OPTIONS]",
    .about = "Generate a key inside the software module and protect it with the module key: the "
             "key\nfile KMDATA/local/key_APP_ID. An existing key is never replaced.",
    .opts = generate_opts,
};

static int key_generate(int argc, char **argv)
{
    const char *cmd = "key generate";
    key_args a;
    world_key_gen_opts o = {0};
    world_key_info info;
    kt_err e;
    int status = parse_args(&generate_cmd, argc, argv, &a, cli_token_generate);

    /* 1. options */
    if (status >= 0)
        return status;
    kt_err_clear(&e);
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

    /* 2. inputs and 3. operation */
    if (make_key(&a, make_generated, &o, &info, &e) != KT_OK)
        return cli_report(&e);

    /* 4. output */
    if (a.json) {
        json_t *v = key_json(&info, true);
        if (v != NULL)
            json_object_set_new(v, "format", json_string("keytransfer-key-generated/1"));
        return cli_print_json(v);
    }
    print_new_key("generated", &info);
    return KT_EXIT_OK;
}

/* ---- key import --------------------------------------------------------------------------- */

static const cli_opt import_opts[] = {
    {OPT_FROM, "from", CLI_NEEDED, "FILE", "the private key file (required)"},
    OPT_IDENT_ENTRY,
    {OPT_TYPE, "type", CLI_VALUE, "TYPE",
     "AES for a raw AES key file; RSA or EC to insist on that type"},
    {OPT_PASS_FILE, "pass-file", CLI_VALUE, "FILE",
     "the passphrase of an encrypted key, on the first line of FILE\n(default: asked on the "
     "terminal)"},
    OPT_PLAINNAME_ENTRY,
    OPT_APP_ENTRY("the application the key belongs to (default: simple)"),
    CLI_OPT_KMDATA,
    {0},
};

static const cli_cmd import_cmd = {
    .name = "key import",
    .synopsis = "--from FILE --ident ID [OPTIONS]",
    .about = "Import an existing private key and protect it with the module key. FILE is a PEM "
             "or DER\nprivate key (PKCS#8, encrypted PKCS#8, PKCS#1 RSA or SEC1 EC) or, with "
             "--type AES, a raw\nAES key of 16, 24 or 32 bytes. FILE is left alone: it still "
             "holds the plaintext key.",
    .opts = import_opts,
};

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
    key_args a;
    world_key_import_opts o = {0};
    pass_ctx pc = {0};
    world_key_info info;
    kt_err e;
    int status = parse_args(&import_cmd, argc, argv, &a, NULL);

    /* 1. options */
    if (status >= 0)
        return status;
    kt_err_clear(&e);
    if (a.type != NULL && world_key_type_parse(a.type, &o.type, &e) != KT_OK)
        return cli_report(&e);
    o.from = a.from;
    o.ident = a.ident;
    o.plainname = a.plainname;
    o.app = a.app;
    pc.pass_file = a.pass_file;
    o.pass = ask_pass;
    o.pass_ctx = &pc;

    /* 2. inputs and 3. operation */
    kt_rc rc = make_key(&a, make_imported, &o, &info, &e);
    if (pc.open)
        kt_pin_source_close(&pc.src);
    if (rc != KT_OK)
        return cli_report(&e);

    /* 4. output */
    print_new_key("imported", &info);
    cli_warn("%s still holds the plaintext key: destroy it, or keep it offline and locked away",
             a.from);
    return KT_EXIT_OK;
}

/* ---- key list ----------------------------------------------------------------------------- */

static const cli_opt list_opts[] = {
    CLI_OPT_JSON,
    CLI_OPT_KMDATA,
    CLI_OPTS_TOKEN_KEY,
    {0},
};

static const cli_cmd list_cmd = {
    .name = "key list",
    .synopsis = "[--json] [--kmdata DIR]",
    .about = "List the keys of the world: app, ident, type, size or curve, creation time and "
             "plain\nname. Every key file is authenticated with the module key; one that is "
             "refused is named\non stderr and the exit status says so.",
    .opts = list_opts,
};

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

/* What key list gathers as world_key_foreach hands it the keys one at a time. */
typedef struct list_state {
    bool json;
    json_t *list, *refused; /* --json */
    size_t shown;
    int bad; /* the first refusal's exit status */
} list_state;

/* One key: a refused file is reported on stderr at once; a key is printed (or kept for JSON). */
static kt_rc list_one(void *ctx, const world_key_entry *it, kt_err *e)
{
    list_state *s = ctx;
    const world_key_info *k = &it->info;
    char created[32], type[32];

    if (it->rc != KT_OK) {
        int st = cli_report(&it->err);
        if (s->bad == KT_EXIT_OK)
            s->bad = st;
        if (s->json && json_array_append_new(s->refused, json_pack("{s:s, s:s}", "file", it->file,
                                                                   "error", it->err.msg)) != 0)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        return KT_OK;
    }
    if (s->json) {
        if (json_array_append_new(s->list, key_json(k, false)) != 0)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        return KT_OK;
    }
    if (s->shown++ == 0)
        printf("%-8s %-24s %-15s %-20s %s\n", "APP", "IDENT", "TYPE", "CREATED", "PLAINNAME");
    kt_time_iso8601(created, sizeof created, k->created);
    if (k->type == WORLD_KEY_EC)
        snprintf(type, sizeof type, "EC %s", k->curve);
    else
        snprintf(type, sizeof type, "%s-%u", world_key_type_name(k->type), k->bits);
    printf("%-8s %-24s %-15s %-20s %s\n", k->app, k->ident, type, created, k->plainname);
    return KT_OK;
}

static int key_list(int argc, char **argv)
{
    world_lock lock;
    key_args a;
    world_paths p;
    world_module m;
    kt_err e;
    int status = parse_args(&list_cmd, argc, argv, &a, cli_token_list);

    if (status >= 0)
        return status;

    kt_err_clear(&e);
    if (open_module(&a, false, &p, &lock, &m, &e) != KT_OK)
        return cli_report(&e);
    /* The keys are printed as they are read (one at a time: world_key_foreach), so a listing
     * of many keys holds their names, not their entries. */
    list_state s = {.json = a.json, .bad = KT_EXIT_OK};
    char world[65];
    kt_hex(world, m.info.hash, sizeof m.info.hash);
    kt_rc rc = KT_OK;
    if (a.json && ((s.list = json_array()) == NULL || (s.refused = json_array()) == NULL))
        rc = kt_fail(&e, KT_ENOMEM, "out of memory");
    if (rc == KT_OK)
        rc = world_key_foreach(&p, &m, list_one, &s, &e);
    world_module_close(&m);
    world_lock_release(&lock);
    if (rc != KT_OK) {
        json_decref(s.list);
        json_decref(s.refused);
        return cli_report(&e);
    }
    if (a.json) {
        status =
            cli_print_json(json_pack("{s:s, s:s, s:o, s:o}", "format", "keytransfer-key-list/1",
                                     "world_hash", world, "keys", s.list, "refused", s.refused));
    } else {
        if (s.shown == 0)
            printf("No keys in world %s.\n", world);
        status = KT_EXIT_OK;
    }
    return status != KT_EXIT_OK ? status : s.bad;
}

/* ---- key show ----------------------------------------------------------------------------- */

static const cli_opt show_opts[] = {
    {OPT_IDENT, "ident", CLI_VALUE, "ID", "the key identifier (or give it as ID)"},
    OPT_APP_ENTRY("the key's application (default: simple)"),
    CLI_OPT_JSON,
    CLI_OPT_KMDATA,
    CLI_OPTS_TOKEN_KEY,
    {0},
};

static const cli_cmd show_cmd = {
    .name = "key show",
    .synopsis = "ID [--app APP] [--json] [--kmdata DIR]",
    .about = "Show a key, as nShield's kmfile-dump and aclprint do: app, ident, plain name, type, "
             "size or\ncurve, creation time, world hash, key hash, the ACL's permission groups "
             "and whether the\nadministrators signed it, and the public key. The key file is "
             "authenticated first.",
    .opts = show_opts,
    .max_args = 1,
};

/* The entries of the audit log about key ident, as JSON (NULL with e filled when the log is
 * missing or does not verify: the history is then not shown as if it were whole). */
static json_t *key_history(const world_paths *p, const world_info *info, const char *ident,
                           kt_err *e)
{
    world_audit_log log;
    json_t *out;
    if (world_audit_read(p, info, &log, e) != KT_OK)
        return NULL;
    out = json_array();
    for (size_t i = 0; out != NULL && i < log.n; i++) {
        const world_audit_entry *en = &log.entries[i];
        json_t *d = NULL;
        kt_err ignored;
        char when[32];
        if (kt_json_parse((const uint8_t *)en->detail, strlen(en->detail), WORLD_AUDIT_DETAIL_MAX,
                          &d, &ignored) != KT_OK)
            continue;
        const char *id = json_string_value(json_object_get(d, "ident"));
        if (id != NULL && strcmp(id, ident) == 0) {
            kt_time_iso8601(when, sizeof when, en->time);
            json_array_append_new(out, json_pack("{s:I, s:s, s:s, s:O}", "seq", (json_int_t)en->seq,
                                                 "time", when, "op", en->op, "detail", d));
        }
        json_decref(d);
    }
    world_audit_log_free(&log);
    return out;
}

/* A world key that key show or key public looks at: its options, the world open (the lock held)
 * with its module, and the key's entry. */
typedef struct inspected {
    key_args a;
    world_paths p;
    world_lock lock;
    world_module m;
    world_key_info k;
} inspected;

static void inspected_close(inspected *in)
{
    world_module_close(&in->m);
    world_lock_release(&in->lock);
}

/*
 * The start of key show and key public: options, the key's identifier, a token key handed to
 * on_tok; else the world key inspected with the module open and the lock held (the caller closes
 * both with inspected_close). -1 goes on, else the exit status with nothing left open.
 */
static int inspect_key(const cli_cmd *cmd, int argc, char **argv,
                       int (*on_tok)(const token_key_args *), inspected *in)
{
    key_args *a = &in->a;
    kt_err e;
    int status = parse_args(cmd, argc, argv, a, NULL);

    if (status >= 0 || (status = key_id(cmd->name, a)) >= 0)
        return status;
    if (a->token != NULL)
        return on_token(a, on_tok);
    kt_err_clear(&e);
    if (open_module(a, false, &in->p, &in->lock, &in->m, &e) != KT_OK)
        return cli_report(&e);
    if (world_key_inspect(&in->p, &in->m, app_of(a), a->ident, &in->k, &e) != KT_OK) {
        inspected_close(in);
        return cli_report(&e);
    }
    return -1;
}

static int key_show(int argc, char **argv)
{
    inspected in;
    char *pem = NULL;
    kt_err e;
    int status = inspect_key(&show_cmd, argc, argv, cli_token_show, &in);

    if (status >= 0)
        return status;
    kt_err herr;
    kt_err_clear(&e);
    kt_err_clear(&herr);
    json_t *history = key_history(&in.p, &in.m.info, in.a.ident, &herr);
    /* The key's reduced records, one per KEK it may go to (transfer.h). */
    world_key_info *recs = NULL;
    size_t nrecs = 0;
    kt_rc rc = transfer_records(&in.p, &in.m, in.a.ident, &recs, &nrecs, &e);
    inspected_close(&in);
    if (rc != KT_OK ||
        (in.k.type != WORLD_KEY_AES && world_key_public_pem(&in.k, &pem, &e) != KT_OK)) {
        json_decref(history);
        free(recs);
        return cli_report(&e);
    }
    if (history == NULL)
        cli_note("no history for key %s: %s", in.a.ident, herr.msg);

    if (in.a.json) {
        json_t *v = key_json(&in.k, true);
        if (v != NULL) {
            json_object_set_new(v, "history", history != NULL ? history : json_null());
            history = NULL;
            json_t *list = json_array();
            for (size_t i = 0; i < nrecs; i++) {
                char fp[65];
                kt_hex(fp, recs[i].acl.groups[0].kek_fp, 32);
                json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "app", recs[i].app, "file",
                                                      recs[i].path, "kek_sha256", fp));
            }
            json_object_set_new(v, "reduced_records", list);
            json_object_set_new(v, "public_key_pem", pem != NULL ? json_string(pem) : json_null());
            json_object_set_new(v, "format", json_string("keytransfer-key/1"));
        }
        status = cli_print_json(v);
    } else {
        char hash[65], world[65], size[48], created[32];
        kt_hex(hash, in.k.key_hash, sizeof in.k.key_hash);
        kt_hex(world, in.k.world_hash, sizeof in.k.world_hash);
        kt_time_iso8601(created, sizeof created, in.k.created);
        size_text(&in.k, size, sizeof size);
        printf("Key %s/%s\n"
               "  plainname   %s\n"
               "  type        %s\n"
               "  size        %s\n"
               "  created     %s\n"
               "  world hash  %s\n"
               "  key hash    %s\n"
               "  file        %s\n"
               "  ACL         %u permission group%s, %s\n",
               in.k.app, in.k.ident, in.k.plainname, world_key_type_name(in.k.type), size, created,
               world, hash, in.k.path, in.k.acl.ngroups, in.k.acl.ngroups == 1 ? "" : "s",
               in.k.acl_signed ? "signed by the administrator quorum (KNSO)"
                               : "not signed (the default ACL, never reduced)");
        for (unsigned i = 0; i < in.k.acl.ngroups; i++) {
            char g[1024];
            world_acl_format_group(&in.k.acl.groups[i], g, sizeof g);
            printf("    group %u: %s\n", i + 1, g);
        }
        for (size_t i = 0; i < nrecs; i++) {
            char fp[65];
            kt_hex(fp, recs[i].acl.groups[0].kek_fp, 32);
            printf("  %s %s/%s, for KEK %s\n", i == 0 ? "reduced for" : "           ", recs[i].app,
                   recs[i].ident, fp);
        }
        if (history != NULL) {
            size_t i;
            json_t *h;
            printf("  history     (from the audit log)\n");
            json_array_foreach(history, i, h)
            {
                printf("    %6lld  %s  %s\n",
                       (long long)json_integer_value(json_object_get(h, "seq")),
                       json_string_value(json_object_get(h, "time")),
                       json_string_value(json_object_get(h, "op")));
            }
        }
        if (pem != NULL)
            printf("  public key\n%s", pem);
        status = KT_EXIT_OK;
    }
    json_decref(history);
    free(recs);
    free(pem);
    return status;
}

/* ---- key delete --------------------------------------------------------------------------- */

static const cli_opt delete_opts[] = {
    OPT_IDENT_ENTRY,
    {OPT_YES, "yes", CLI_FLAG, NULL, "confirm the deletion (required)"},
    CLI_OPT_KMDATA,
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd delete_cmd = {
    .name = "key delete",
    .synopsis = "--ident ID --yes [--kmdata DIR] [--json]",
    .about = "Delete a key: every file of it (key_APP_ID for every app: the key and its reduced, "
             "signed\nrecords) is removed and its bytes overwritten, in one change with the audit "
             "entry. A key\nalready imported into a cloud HSM stays there; copies in backups stay "
             "in the backups.",
    .opts = delete_opts,
};

static int key_delete(int argc, char **argv)
{
    world_lock lock;
    key_args a;
    world_paths p;
    world_module m;
    char removed[WORLD_KEY_FILES_MAX][NAME_MAX + 1];
    size_t n = 0;
    kt_err e;
    int status = parse_args(&delete_cmd, argc, argv, &a, NULL);

    if (status >= 0)
        return status;
    if (!a.yes)
        return cli_usage(delete_cmd.name,
                         "deleting key %s needs --yes: its files are overwritten and removed, and "
                         "only a backup can bring it back",
                         a.ident);
    kt_err_clear(&e);
    if (open_module(&a, true, &p, &lock, &m, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_key_delete(&p, &m, a.ident, removed, &n, &e);
    world_module_close(&m);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);
    if (a.json) {
        json_t *files = json_array();
        for (size_t i = 0; files != NULL && i < n; i++)
            json_array_append_new(files, json_string(removed[i]));
        return cli_print_json(json_pack("{s:s, s:s, s:o}", "format", "keytransfer-key-deleted/1",
                                        "ident", a.ident, "files", files));
    }
    printf("Key %s deleted: %zu file%s overwritten and removed\n", a.ident, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        printf("  %s/%s\n", p.local, removed[i]);
    return KT_EXIT_OK;
}

/* ---- key public --------------------------------------------------------------------------- */

static const cli_opt public_opts[] = {
    {OPT_IDENT, "ident", CLI_VALUE, "ID", "the key identifier (or give it as ID)"},
    OPT_APP_ENTRY("the key's application (default: simple)"),
    {OPT_OUT, "out", CLI_VALUE, "FILE",
     "write FILE (never replacing one) instead of standard output"},
    CLI_OPT_KMDATA,
    CLI_OPTS_TOKEN_KEY,
    {0},
};

static const cli_cmd public_cmd = {
    .name = "key public",
    .synopsis = "ID [--app APP] [--out FILE] [--kmdata DIR]",
    .about = "Write the key's public key as a PEM SubjectPublicKeyInfo (what `openssl pkey "
             "-pubout`\nprints), after authenticating the key file. AES keys have none.",
    .opts = public_opts,
    .max_args = 1,
};

static int key_public(int argc, char **argv)
{
    inspected in;
    char *pem = NULL;
    kt_err e;
    int status = inspect_key(&public_cmd, argc, argv, cli_token_public, &in);

    if (status >= 0)
        return status;
    inspected_close(&in);
    kt_err_clear(&e);
    if (world_key_public_pem(&in.k, &pem, &e) != KT_OK)
        return cli_report(&e);

    kt_rc rc = KT_OK;
    if (in.a.out != NULL)
        rc = kt_file_write(in.a.out, pem, strlen(pem), KT_WRITE_NEW, &e);
    else if (fputs(pem, stdout) < 0 || fflush(stdout) != 0)
        rc = kt_fail(&e, KT_EIO, "cannot write the public key to standard output");
    free(pem);
    return rc != KT_OK ? cli_report(&e) : KT_EXIT_OK;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static const cli_entry subcommands[] = {
    {"generate", key_generate, "generate an RSA, EC or AES key protected by the module"},
    {"import", key_import, "bring an existing private key under the module's protection"},
    {"list", key_list, "list the keys of the world"},
    {"show", key_show, "show a key: names, type, hashes, ACL and public key"},
    {"public", key_public, "write a key's public key as PEM"},
    {"delete", key_delete, "wipe and remove every file of a key"},
};

int cmd_key(int argc, char **argv)
{
    return cli_dispatch("key", subcommands, sizeof subcommands / sizeof subcommands[0], argc, argv);
}
