/*
 * compat.c - the seed-compatible front (DESIGN.md §1): the command lines of the nShield and Azure
 * BYOK toolset, mapped onto keytransfer's own commands so that runbooks written for them work.
 *
 *   new-world --initialize --acs-quorum=2/3 [--cipher-suite=NAME]      -> world new
 *   generatekey --generate simple type=RSA size=2048 protect=module
 *       ident=contosokey plainname=contosokey nvram=no pubexp=         -> key generate
 *   KeyTransferRemote -ModifyAcls -KeyAppName simple -KeyIdentifier contosokey
 *       -ExchangeKeyPackage F -NewSecurityWorldPackage F               -> modify-acls
 *   KeyTransferRemote -Package -KeyIdentifier contosokey -ExchangeKeyPackage F
 *       -NewSecurityWorldPackage F -SubscriptionId ID -KeyFriendlyName NAME -> package
 *
 * keytransfer's own long options (--kmdata, --pin-file, --card, --demo, --yes, ...) pass through
 * unchanged, so what the seed tools asked for interactively (cards, PINs, the approval) can be
 * given. Anything the mapping does not know is refused by name rather than ignored.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ARGS_MAX 128
#define POOL_MAX 16384

/* The argument vector a front builds; the strings it makes itself live in pool. */
typedef struct args {
    char *v[ARGS_MAX + 1];
    int n;
    char pool[POOL_MAX];
    size_t used;
} args;

static bool push(args *a, const char *s)
{
    if (a->n >= ARGS_MAX)
        return false;
    a->v[a->n++] = (char *)(uintptr_t)s; /* the commands take char **, as main's argv */
    a->v[a->n] = NULL;
    return true;
}

/* Pushes prefix followed by value ("--ident=" "contosokey"). */
static bool push_joined(args *a, const char *prefix, const char *value)
{
    size_t n = strlen(prefix) + strlen(value) + 1;
    if (n > POOL_MAX - a->used)
        return false;
    char *s = a->pool + a->used;
    snprintf(s, n, "%s%s", prefix, value);
    a->used += n;
    return push(a, s);
}

static int too_many(const char *cmd)
{
    return cli_usage(cmd, "too many arguments");
}

/* keytransfer's own options that take no value; every other --option takes the next argument
 * as its value unless it is written --option=value. */
static bool is_flag(const char *s)
{
    static const char *const flags[] = {"--force", "--json", "--help", "--yes", "--demo", NULL};
    for (size_t i = 0; flags[i] != NULL; i++)
        if (strcmp(s, flags[i]) == 0)
            return true;
    return false;
}

/* Passes one of keytransfer's own options (and its value) through; *i advances past them.
 * Returns false when it is not such an option. */
static bool pass_own(args *a, int argc, char **argv, int *i, bool *full)
{
    const char *s = argv[*i];
    *full = false;
    if (strncmp(s, "--", 2) != 0)
        return false;
    if (!push(a, s))
        return (*full = true);
    if (!is_flag(s) && strchr(s, '=') == NULL && *i + 1 < argc) {
        if (!push(a, argv[++*i]))
            *full = true;
    }
    return true;
}

/* ---- new-world ------------------------------------------------------------------------------ */

static int new_world(int argc, char **argv)
{
    args a = {0};
    bool init = false;
    push(&a, "world");
    push(&a, "new");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = NULL;
        if (strcmp(s, "--initialize") == 0 || strcmp(s, "-i") == 0) {
            init = true;
            continue;
        }
        if (strcmp(s, "-Q") == 0 || strcmp(s, "-c") == 0) {
            if (i + 1 >= argc)
                return cli_usage("new-world", "%s needs a value", s);
            val = argv[++i];
            if (!push(&a, s[1] == 'Q' ? "--acs-quorum" : "--cipher-suite") || !push(&a, val))
                return too_many("new-world");
            continue;
        }
        bool full;
        if (pass_own(&a, argc, argv, &i, &full)) {
            if (full)
                return too_many("new-world");
            continue;
        }
        return cli_usage("new-world",
                         "'%s' has no keytransfer equivalent (this front maps "
                         "--initialize, --acs-quorum and --cipher-suite)",
                         s);
    }
    if (!init)
        return cli_usage("new-world", "only --initialize (a new world) is supported");
    return cmd_world(a.n, a.v);
}

/* ---- generatekey ------------------------------------------------------------------------------
 */

static int generatekey(int argc, char **argv)
{
    args a = {0};
    const char *app = NULL;
    bool generate = false;
    push(&a, "key");
    push(&a, "generate");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *eq = strchr(s, '=');
        if (strcmp(s, "--generate") == 0 || strcmp(s, "-g") == 0) {
            generate = true;
            continue;
        }
        bool full;
        if (pass_own(&a, argc, argv, &i, &full)) {
            if (full)
                return too_many("generatekey");
            continue;
        }
        if (eq == NULL) {
            if (app != NULL)
                return cli_usage("generatekey", "a second application name '%s'", s);
            app = s;
            continue;
        }
        size_t klen = (size_t)(eq - s);
        const char *v = eq + 1;
        static const struct {
            const char *seed, *ours;
        } map[] = {{"type", "--type="},           {"size", "--size="},     {"ident", "--ident="},
                   {"plainname", "--plainname="}, {"pubexp", "--pubexp="}, {"curve", "--curve="}};
        bool done = false;
        for (size_t m = 0; m < sizeof map / sizeof map[0] && !done; m++) {
            if (strlen(map[m].seed) == klen && strncmp(s, map[m].seed, klen) == 0) {
                if (*v != '\0' && !push_joined(&a, map[m].ours, v))
                    return too_many("generatekey");
                done = true; /* an empty value (pubexp=) means the default */
            }
        }
        if (done)
            continue;
        if (klen == 7 && strncmp(s, "protect", 7) == 0) {
            if (strcmp(v, "module") != 0)
                return cli_usage("generatekey",
                                 "protect=%s: keys here are module-protected "
                                 "only (protect=module)",
                                 v);
            continue;
        }
        if (klen == 5 && strncmp(s, "nvram", 5) == 0) {
            if (strcmp(v, "no") != 0)
                return cli_usage("generatekey", "nvram=%s: a software module has no NVRAM", v);
            continue;
        }
        return cli_usage("generatekey", "'%.*s' has no keytransfer equivalent", (int)klen, s);
    }
    if (!generate)
        return cli_usage("generatekey", "only --generate is supported");
    if (app != NULL && !push_joined(&a, "--app=", app))
        return too_many("generatekey");
    return cmd_key(a.n, a.v);
}

/* ---- KeyTransferRemote ------------------------------------------------------------------------
 */

static int key_transfer_remote(int argc, char **argv)
{
    static const struct {
        const char *seed, *ours;
    } map[] = {{"-KeyAppName", "--app="},
               {"-KeyIdentifier", "--ident="},
               {"-ExchangeKeyPackage", "--kek-package="},
               {"-NewSecurityWorldPackage", "--world-package="},
               {"-SubscriptionId", "--subscription="},
               {"-KeyFriendlyName", "--name="}};
    args a = {0};
    cli_fn fn = NULL;
    const char *app = NULL;
    push(&a, "KeyTransferRemote");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcasecmp(s, "-ModifyAcls") == 0 || strcasecmp(s, "-Package") == 0) {
            if (fn != NULL)
                return cli_usage("KeyTransferRemote", "give one of -ModifyAcls and -Package");
            fn = strcasecmp(s, "-Package") == 0 ? cmd_package : cmd_modify_acls;
            continue;
        }
        bool full;
        if (pass_own(&a, argc, argv, &i, &full)) {
            if (full)
                return too_many("KeyTransferRemote");
            continue;
        }
        bool done = false;
        for (size_t m = 0; m < sizeof map / sizeof map[0] && !done; m++) {
            if (strcasecmp(s, map[m].seed) != 0)
                continue;
            if (i + 1 >= argc)
                return cli_usage("KeyTransferRemote", "%s needs a value", s);
            if (m == 0)
                app = argv[++i]; /* only modify-acls reads a source app */
            else if (!push_joined(&a, map[m].ours, argv[++i]))
                return too_many("KeyTransferRemote");
            done = true;
        }
        if (!done)
            return cli_usage("KeyTransferRemote", "'%s' has no keytransfer equivalent", s);
    }
    if (fn == NULL)
        return cli_usage("KeyTransferRemote", "give -ModifyAcls or -Package");
    if (app != NULL) {
        if (fn == cmd_package && strcmp(app, "simple") != 0)
            return cli_usage("KeyTransferRemote",
                             "-Package takes the reduced copy of a simple "
                             "key; -KeyAppName %s is not supported",
                             app);
        if (fn == cmd_modify_acls && !push_joined(&a, "--app=", app))
            return too_many("KeyTransferRemote");
    }
    a.v[0] = (char *)(uintptr_t)(fn == cmd_package ? "package" : "modify-acls");
    return fn(a.n, a.v);
}

/* ---- dispatch -----------------------------------------------------------------------------------
 */

static const struct {
    const char *name;
    cli_fn fn;
} fronts[] = {
    {"new-world", new_world},
    {"generatekey", generatekey},
    {"KeyTransferRemote", key_transfer_remote},
};

cli_fn compat_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof fronts / sizeof fronts[0]; i++)
        if (strcmp(name, fronts[i].name) == 0)
            return fronts[i].fn;
    return NULL;
}
