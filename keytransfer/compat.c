/*
 * compat.c - the seed-compatible front (docs/design.md, "Workflow"): the command lines of the
 * nShield and Azure BYOK toolsets, mapped onto keytransfer's own commands so that runbooks
 * written for them run verbatim.
 *
 *   new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3
 *                                                                       -> world new
 *   generatekey --generate simple type=RSA size=2048 protect=module
 *       ident=contosokey plainname=contosokey nvram=no pubexp=          -> key generate
 *   KeyTransferRemote -ModifyAcls -KeyAppName simple -KeyIdentifier contosokey
 *       -ExchangeKeyPackage F -NewSecurityWorldPackage F                -> modify-acls
 *   KeyTransferRemote -Package -KeyIdentifier contosokey -ExchangeKeyPackage F
 *       -NewSecurityWorldPackage F -SubscriptionId ID -KeyFriendlyName NAME -> package
 *
 * Each front is a command of the CLI layer with the seed tool's options and the keytransfer
 * options its target needs for what the seed tools asked interactively (--card, --pin-file,
 * --demo, --yes, ...); it builds the target's argument vector from what was parsed. Anything
 * the mapping does not know is refused by name rather than ignored. As the seed tool asks for
 * the cards, KeyTransferRemote -ModifyAcls without --card asks at the terminal for the path of
 * each card in turn.
 */
#include "commands.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGS_MAX 128
#define POOL_MAX 16384

/* The argument vector a front builds; the strings it makes itself live in pool. */
typedef struct args {
    char *v[ARGS_MAX + 1];
    int n;
    char pool[POOL_MAX];
    size_t used;
    bool full;
} args;

static void push(args *a, const char *s)
{
    if (a->n >= ARGS_MAX) {
        a->full = true;
        return;
    }
    a->v[a->n++] = (char *)(uintptr_t)s; /* the commands take char **, as main's argv */
    a->v[a->n] = NULL;
}

/* Pushes "--name" and value, when value is given. */
static void push_opt(args *a, const char *name, const char *value)
{
    if (value == NULL)
        return;
    push(a, name);
    push(a, value);
}

/* Pushes prefix followed by value ("--ident=" "contosokey"). */
static void push_joined(args *a, const char *prefix, const char *value)
{
    size_t n = strlen(prefix) + strlen(value) + 1;
    if (n > POOL_MAX - a->used) {
        a->full = true;
        return;
    }
    char *s = a->pool + a->used;
    snprintf(s, n, "%s%s", prefix, value);
    a->used += n;
    push(a, s);
}

/* Runs fn on the built vector, or refuses one that did not fit. */
static int run(const char *front, args *a, cli_fn fn)
{
    if (a->full)
        return cli_usage(front, "too many arguments");
    return fn(a->n, a->v);
}

/* ---- new-world ------------------------------------------------------------------------------ */

enum {
    OPT_SUITE = OPT_SHARED_END,
    OPT_MODULE,
    OPT_INITIALIZE,
    OPT_QUORUM,
    OPT_CARDS_DIR,
    OPT_KDF,
    OPT_FORCE,
    OPT_GENERATE,
    OPT_MODIFY_ACLS,
    OPT_PACKAGE,
    OPT_APP_NAME,
    OPT_KEY_ID,
    OPT_KEK_PKG,
    OPT_WORLD_PKG,
    OPT_SUBSCRIPTION,
    OPT_FRIENDLY,
    OPT_YES,
    OPT_OUT,
};

static const cli_opt new_world_opts[] = {
    {'i', "initialize", CLI_FLAG, NULL, "create a new world (the only action offered)"},
    {'Q', "acs-quorum", CLI_VALUE, "K/N", "the administrator card set's quorum"},
    {'c', "cipher-suite", CLI_VALUE, "NAME",
     "an nShield suite (DLf3072s256mRijndael, DLf1024s160mRijndael, ...)\nmaps to keytransfer's "
     "own " WORLD_SUITE_DEFAULT ",\nwith a note; keytransfer's own name is taken as it is"},
    {'m', "module", CLI_VALUE, "N", "the module: 1, the one software module"},
    CLI_OPT_KMDATA,
    {OPT_CARDS_DIR, "cards-dir", CLI_VALUE, "DIR", "as for world new"},
    CLI_OPT_PIN_FILE("as for world new: the N new card PINs, one a line"),
    CLI_OPT_PIN_FD,
    {OPT_KDF, "kdf", CLI_VALUE, "PROFILE", "as for world new"},
    {OPT_FORCE, "force", CLI_FLAG, NULL, "as for world new"},
    {0},
};

static const cli_cmd new_world_cmd = {
    .name = "new-world",
    .synopsis = "--initialize --acs-quorum=K/N [--cipher-suite=NAME] [--module=1] [OPTIONS]",
    .about = "nShield's new-world, mapped onto `keytransfer world new` (keytransfer(1),\n"
             "COMPATIBILITY).",
    .opts = new_world_opts,
};

static int new_world(int argc, char **argv)
{
    cli_args c;
    args a = {0};
    int status = cli_parse(&new_world_cmd, argc, argv, &c);

    if (status >= 0)
        return status;
    const char *suite = cli_value(&c, 'c'), *module = cli_value(&c, 'm');
    const char *why = suite != NULL ? world_suite_nshield(suite) : NULL;
    status = -1;
    if (!cli_flag(&c, 'i'))
        status = cli_usage(new_world_cmd.name, "only --initialize (a new world) is supported");
    else if (module != NULL && strcmp(module, "1") != 0)
        status =
            cli_usage(new_world_cmd.name,
                      "--module=%s: this workstation has one software module, module 1", module);
    if (status >= 0) {
        cli_args_free(&c);
        return status;
    }
    if (why != NULL) {
        cli_note("cipher suite %s is an nShield hardware suite (%s); the software world uses "
                 "%s in its place",
                 suite, why, WORLD_SUITE_DEFAULT);
        suite = NULL;
    }
    push(&a, "world");
    push(&a, "new");
    push_opt(&a, "--acs-quorum", cli_value(&c, 'Q'));
    push_opt(&a, "--cipher-suite", suite);
    push_opt(&a, "--kmdata", cli_value(&c, OPT_KMDATA));
    push_opt(&a, "--cards-dir", cli_value(&c, OPT_CARDS_DIR));
    push_opt(&a, "--pin-file", cli_value(&c, OPT_PIN_FILE));
    push_opt(&a, "--pin-fd", cli_value(&c, OPT_PIN_FD));
    push_opt(&a, "--kdf", cli_value(&c, OPT_KDF));
    if (cli_flag(&c, OPT_FORCE))
        push(&a, "--force");
    status = run(new_world_cmd.name, &a, cmd_world);
    cli_args_free(&c);
    return status;
}

/* ---- generatekey ------------------------------------------------------------------------------
 */

static const cli_opt generatekey_opts[] = {
    {'g', "generate", CLI_FLAG, NULL, "generate a key (the only operation offered)"},
    CLI_OPT_KMDATA,
    {0},
};

static const cli_cmd generatekey_cmd = {
    .name = "generatekey",
    .synopsis = "--generate APPNAME [type=RSA|EC|AES] [size=BITS] [curve=CURVE] ident=ID\n"
                "[plainname=NAME] [pubexp=E] [protect=module] [nvram=no] [OPTIONS]",
    .about = "nShield's generatekey, mapped onto `keytransfer key generate` (keytransfer(1),\n"
             "COMPATIBILITY). An empty value (pubexp=) means the default.",
    .opts = generatekey_opts,
    .max_args = 16,
};

static int generatekey(int argc, char **argv)
{
    static const struct {
        const char *seed, *ours;
    } map[] = {{"type", "--type="},           {"size", "--size="},     {"ident", "--ident="},
               {"plainname", "--plainname="}, {"pubexp", "--pubexp="}, {"curve", "--curve="}};
    cli_args c;
    args a = {0};
    const char *app = NULL;
    int status = cli_parse(&generatekey_cmd, argc, argv, &c);

    if (status >= 0)
        return status;
    push(&a, "key");
    push(&a, "generate");
    /* The operands: the application's name, then param=value pairs. */
    for (size_t i = 0; i < c.nargs && status < 0; i++) {
        const char *s = c.arg[i], *eq = strchr(s, '=');
        if (eq == NULL) {
            if (app != NULL)
                status = cli_usage(generatekey_cmd.name, "a second application name '%s'", s);
            app = s;
            continue;
        }
        size_t klen = (size_t)(eq - s);
        const char *v = eq + 1;
        bool done = false;
        for (size_t m = 0; m < sizeof map / sizeof map[0] && !done; m++)
            if (strlen(map[m].seed) == klen && strncmp(s, map[m].seed, klen) == 0) {
                if (*v != '\0')
                    push_joined(&a, map[m].ours, v);
                done = true;
            }
        if (done)
            continue;
        if (klen == 7 && strncmp(s, "protect", 7) == 0 && strcmp(v, "module") != 0)
            status =
                cli_usage(generatekey_cmd.name,
                          "protect=%s: keys here are module-protected only (protect=module)", v);
        else if (klen == 5 && strncmp(s, "nvram", 5) == 0 && strcmp(v, "no") != 0)
            status = cli_usage(generatekey_cmd.name, "nvram=%s: a software module has no NVRAM", v);
        else if (!(klen == 7 && strncmp(s, "protect", 7) == 0) &&
                 !(klen == 5 && strncmp(s, "nvram", 5) == 0))
            status = cli_usage(generatekey_cmd.name, "'%.*s' has no keytransfer equivalent",
                               (int)klen, s);
    }
    if (status < 0 && !cli_flag(&c, 'g'))
        status = cli_usage(generatekey_cmd.name, "only --generate is supported");
    if (status < 0) {
        if (app != NULL)
            push_joined(&a, "--app=", app);
        push_opt(&a, "--kmdata", cli_value(&c, OPT_KMDATA));
        status = run(generatekey_cmd.name, &a, cmd_key);
    }
    cli_args_free(&c);
    return status;
}

/* ---- KeyTransferRemote ------------------------------------------------------------------------
 */

static const cli_opt remote_opts[] = {
    {OPT_MODIFY_ACLS, "ModifyAcls", CLI_FLAG, NULL, "reduce the key's ACL (modify-acls)"},
    {OPT_PACKAGE, "Package", CLI_FLAG, NULL, "write the transfer package (package)"},
    {OPT_APP_NAME, "KeyAppName", CLI_VALUE, "APP", "the key's application (simple)"},
    {OPT_KEY_ID, "KeyIdentifier", CLI_VALUE, "ID", "the key's identifier"},
    {OPT_KEK_PKG, "ExchangeKeyPackage", CLI_VALUE, "FILE", "the KEK package"},
    {OPT_WORLD_PKG, "NewSecurityWorldPackage", CLI_VALUE, "FILE", "the world package"},
    {OPT_SUBSCRIPTION, "SubscriptionId", CLI_VALUE, "ID", "the subscription (-Package)"},
    {OPT_FRIENDLY, "KeyFriendlyName", CLI_VALUE, "NAME", "the key's name in the cloud (-Package)"},
    CLI_OPT_CARD("an administrator card (-ModifyAcls; asked at the terminal when\nnone is "
                 "given, one after the other)"),
    CLI_OPT_PIN_FILE("the cards' PINs, one a line"),
    CLI_OPT_PIN_FD,
    CLI_OPT_KMDATA,
    {OPT_DEMO, "demo", CLI_FLAG, NULL, "as for modify-acls and package"},
    {OPT_YES, "yes", CLI_FLAG, NULL, "as for modify-acls"},
    {OPT_OUT, "out", CLI_VALUE, "DIR", "as for package"},
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd remote_cmd = {
    .name = "KeyTransferRemote",
    .synopsis =
        "-ModifyAcls -KeyAppName simple -KeyIdentifier ID -ExchangeKeyPackage FILE\n"
        "    -NewSecurityWorldPackage FILE [OPTIONS]\n"
        "-Package -KeyIdentifier ID -ExchangeKeyPackage FILE -NewSecurityWorldPackage FILE\n"
        "    -SubscriptionId ID -KeyFriendlyName NAME [OPTIONS]",
    .about = "The Azure BYOK toolset's KeyTransferRemote, mapped onto `keytransfer modify-acls` "
             "and\n`keytransfer package` (keytransfer(1), COMPATIBILITY). Its options take one "
             "dash or two.",
    .opts = remote_opts,
    .flags = CLI_LONG_ONLY,
};

#define CARD_PATHS_MAX WORLD_MAX_CARDS

/* The paths the card holders type at the terminal, as the seed tool asks for the cards: as many
 * as the world's quorum needs, one after the other. */
static kt_rc ask_cards(const char *kmdata, char paths[][PATH_MAX], size_t *n, kt_err *e)
{
    world_paths p;
    world_info info;
    kt_rc rc;

    *n = 0;
    if ((rc = world_paths_init(&p, kmdata, NULL, e)) != KT_OK ||
        (rc = world_load_info(&p, &info, e)) != KT_OK)
        return rc;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    FILE *tty = fd >= 0 ? fdopen(fd, "r+") : NULL;
    if (tty == NULL) {
        if (fd >= 0)
            close(fd);
        return kt_fail(e, KT_EUSAGE,
                       "no terminal to ask for the administrator cards: give them with "
                       "--card PATH (%u of them)",
                       info.k);
    }
    fprintf(tty, "The administrator card set of this world has a quorum of %u of %u cards.\n",
            info.k, info.n);
    for (unsigned i = 0; i < info.k && i < CARD_PATHS_MAX; i++) {
        fprintf(tty, "Path of administrator card %u of %u: ", i + 1, info.k);
        fflush(tty);
        if (fgets(paths[i], PATH_MAX, tty) == NULL) {
            fclose(tty);
            return kt_fail(e, KT_EUSAGE, "no path given for card %u", i + 1);
        }
        paths[i][strcspn(paths[i], "\r\n")] = '\0';
        if (paths[i][0] == '\0') {
            fclose(tty);
            return kt_fail(e, KT_EUSAGE, "no path given for card %u", i + 1);
        }
        (*n)++;
    }
    fclose(tty);
    return KT_OK;
}

static int key_transfer_remote(int argc, char **argv)
{
    static char asked[CARD_PATHS_MAX][PATH_MAX];
    cli_args c;
    args a = {0};
    const char *const *cards;
    kt_err e;
    int status = cli_parse(&remote_cmd, argc, argv, &c);

    if (status >= 0)
        return status;
    bool modify = cli_flag(&c, OPT_MODIFY_ACLS), package = cli_flag(&c, OPT_PACKAGE);
    const char *app = cli_value(&c, OPT_APP_NAME);
    size_t ncards = cli_values(&c, OPT_CARD, &cards);
    if (modify == package)
        status = cli_usage(remote_cmd.name, "give one of -ModifyAcls and -Package");
    else if (package && app != NULL && strcmp(app, "simple") != 0)
        status = cli_usage(remote_cmd.name,
                           "-Package takes the reduced copy of a simple key; -KeyAppName %s is "
                           "not supported",
                           app);
    if (status >= 0) {
        cli_args_free(&c);
        return status;
    }
    push(&a, package ? "package" : "modify-acls");
    push_opt(&a, "--ident", cli_value(&c, OPT_KEY_ID));
    if (modify)
        push_opt(&a, "--app", app);
    push_opt(&a, "--kek-package", cli_value(&c, OPT_KEK_PKG));
    push_opt(&a, "--world-package", cli_value(&c, OPT_WORLD_PKG));
    push_opt(&a, "--subscription", cli_value(&c, OPT_SUBSCRIPTION));
    push_opt(&a, "--name", cli_value(&c, OPT_FRIENDLY));
    push_opt(&a, "--kmdata", cli_value(&c, OPT_KMDATA));
    push_opt(&a, "--pin-file", cli_value(&c, OPT_PIN_FILE));
    push_opt(&a, "--pin-fd", cli_value(&c, OPT_PIN_FD));
    push_opt(&a, "--out", cli_value(&c, OPT_OUT));
    if (cli_flag(&c, OPT_DEMO))
        push(&a, "--demo");
    if (cli_flag(&c, OPT_YES))
        push(&a, "--yes");
    if (cli_flag(&c, OPT_JSON))
        push(&a, "--json");
    for (size_t i = 0; i < ncards; i++)
        push_opt(&a, "--card", cards[i]);
    if (modify && ncards == 0) {
        size_t n;
        kt_err_clear(&e);
        if (ask_cards(cli_value(&c, OPT_KMDATA), asked, &n, &e) != KT_OK) {
            cli_args_free(&c);
            return e.rc == KT_EUSAGE ? cli_usage(remote_cmd.name, "%s", e.msg) : cli_report(&e);
        }
        for (size_t i = 0; i < n; i++)
            push_opt(&a, "--card", asked[i]);
    }
    status = run(remote_cmd.name, &a, package ? cmd_package : cmd_modify_acls);
    cli_args_free(&c);
    return status;
}

/* ---- dispatch -----------------------------------------------------------------------------------
 */

static const cli_entry fronts[] = {
    {"new-world", new_world, "nShield's new-world"},
    {"generatekey", generatekey, "nShield's generatekey"},
    {"KeyTransferRemote", key_transfer_remote, "the Azure BYOK toolset's KeyTransferRemote"},
};

cli_fn compat_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof fronts / sizeof fronts[0]; i++)
        if (strcmp(name, fronts[i].name) == 0)
            return fronts[i].fn;
    return NULL;
}
