/*
 * cmd_world.c - `keytransfer world new|info|check-card|program`: create a security world guarded
 * by a K-of-N administrator card set, show its identity, check a card and its PIN, and load the
 * world into a fresh module from a quorum of cards (the recovery path).
 */
#include "cli.h"
#include "pkg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options every world subcommand knows. */
enum {
    OPT_KMDATA = 1000,
    OPT_CARDS_DIR,
    OPT_PIN_FILE,
    OPT_PIN_FD,
    OPT_KDF,
    OPT_SUITE,
    OPT_QUORUM,
    OPT_FORCE,
    OPT_JSON,
    OPT_CARD,
    OPT_HELP
};

#define CARD_ARGS_MAX WORLD_MAX_CARDS

/* What the world subcommands parse from the command line. */
typedef struct world_args {
    const char *kmdata, *cards_dir, *pin_file, *pin_fd, *kdf, *suite, *quorum;
    const char *cards[CARD_ARGS_MAX];
    size_t ncards;
    bool force, json, help;
} world_args;

static int parse_args(const char *cmd, int argc, char **argv, const struct option *opts,
                      world_args *a)
{
    memset(a, 0, sizeof *a);
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "+:", opts, NULL)) != -1;) {
        switch (c) {
        case OPT_KMDATA:
            a->kmdata = optarg;
            break;
        case OPT_CARDS_DIR:
            a->cards_dir = optarg;
            break;
        case OPT_PIN_FILE:
            a->pin_file = optarg;
            break;
        case OPT_PIN_FD:
            a->pin_fd = optarg;
            break;
        case OPT_KDF:
            a->kdf = optarg;
            break;
        case OPT_SUITE:
            a->suite = optarg;
            break;
        case OPT_QUORUM:
            a->quorum = optarg;
            break;
        case OPT_FORCE:
            a->force = true;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_HELP:
            a->help = true;
            break;
        case OPT_CARD:
            if (a->ncards == CARD_ARGS_MAX)
                return cli_usage(cmd, "at most %d --card options", CARD_ARGS_MAX);
            a->cards[a->ncards++] = optarg;
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

/* The KDF profile a world records, for people: "moderate (Argon2id opslimit 3, memlimit 256 MiB)".
 */
static void kdf_text(const world_info *info, char *out, size_t outsz)
{
    char params[48];
    const char *name;

    if (!info->kdf_recorded) {
        world_kdf floor;
        world_kdf_floor(&floor);
        world_kdf_format(&floor, params, sizeof params);
        snprintf(out, outsz, "not recorded (world file version %u); cards must meet %s",
                 info->version, params);
        return;
    }
    world_kdf_format(&info->kdf, params, sizeof params);
    name = world_kdf_profile_name(&info->kdf);
    snprintf(out, outsz, "%s (Argon2id %s)", name != NULL ? name : "custom", params);
}

/* ---- world new ---------------------------------------------------------------------------- */

static const struct option new_opts[] = {
    {"acs-quorum", required_argument, NULL, OPT_QUORUM},   /* K/N, 1 <= K <= N <= 64 */
    {"cipher-suite", required_argument, NULL, OPT_SUITE},  /* only the default today */
    {"kmdata", required_argument, NULL, OPT_KMDATA},       /* the kmdata folder */
    {"cards-dir", required_argument, NULL, OPT_CARDS_DIR}, /* where the cards go */
    {"pin-file", required_argument, NULL, OPT_PIN_FILE},   /* one PIN a line, card 1 first */
    {"pin-fd", required_argument, NULL, OPT_PIN_FD},       /* the same from a descriptor */
    {"kdf", required_argument, NULL, OPT_KDF},             /* moderate (default) | interactive */
    {"force", no_argument, NULL, OPT_FORCE},               /* replace an existing world */
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char new_help[] =
    "Usage: keytransfer world new --acs-quorum K/N [OPTIONS]\n"
    "\n"
    "Create a security world: a module key KM and a world signing key KNSO guarded by an\n"
    "administrator card set (ACS) of N cards, any K of which recover the world.\n"
    "\n"
    "  --acs-quorum K/N      the quorum, 1 <= K <= N <= 64 (required)\n"
    "  --cipher-suite NAME   " WORLD_SUITE_DEFAULT " (the default and only suite)\n"
    "  --kmdata DIR          kmdata folder (default: $KEYTRANSFER_KMDATA, else\n"
    "                        ~/.local/share/keytransfer/kmdata)\n"
    "  --cards-dir DIR       where to write the card files (default: KMDATA/cards)\n"
    "  --pin-file FILE       read the N new card PINs from FILE, one a line\n"
    "  --pin-fd N            read the N new card PINs from file descriptor N\n"
    "  --kdf PROFILE         Argon2id cost for the cards: moderate (default) or interactive\n"
    "                        (tests and demos only); the world records it, and no card\n"
    "                        below it opens\n"
    "  --force               replace an existing world that protects no keys\n"
    "  --help                show this help\n";

static int world_new(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_new_opts o = {0};
    world_info info;
    cli_pins pins;
    char(*paths)[PATH_MAX] = NULL;
    kt_err e;
    unsigned long k = 0, n = 0;
    int status = parse_args("world new", argc, argv, new_opts, &a);

    /* 1. options */
    if (status >= 0)
        return status;
    if (a.help)
        return fputs(new_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    if (a.quorum == NULL)
        return cli_usage("world new", "--acs-quorum K/N is required");
    {
        char buf[16];
        char *slash;
        snprintf(buf, sizeof buf, "%s", a.quorum);
        slash = strchr(buf, '/');
        if (slash == NULL || strlen(a.quorum) >= sizeof buf)
            return cli_usage("world new", "--acs-quorum takes K/N, such as 2/3, not '%s'",
                             a.quorum);
        *slash = '\0';
        if (!cli_parse_uint(buf, 1, WORLD_MAX_CARDS, &k) ||
            !cli_parse_uint(slash + 1, 1, WORLD_MAX_CARDS, &n) || k > n)
            return cli_usage("world new", "quorum '%s' is not possible: 1 <= K <= N <= %d",
                             a.quorum, WORLD_MAX_CARDS);
    }
    o.k = (unsigned)k;
    o.n = (unsigned)n;
    o.suite = a.suite;
    o.force = a.force;
    if (a.kdf == NULL || strcmp(a.kdf, "moderate") == 0)
        o.kdf = WORLD_KDF_MODERATE;
    else if (strcmp(a.kdf, "interactive") == 0)
        o.kdf = WORLD_KDF_INTERACTIVE;
    else
        return cli_usage("world new", "--kdf is moderate or interactive, not '%s'", a.kdf);
    if (a.suite != NULL && world_check_suite(a.suite, &e) != KT_OK)
        return cli_report(&e);
    if (k == 1)
        cli_warn("a quorum of 1/%lu lets any single card holder administer the world", n);
    if (o.kdf.opslimit == WORLD_KDF_INTERACTIVE.opslimit &&
        o.kdf.memlimit == WORLD_KDF_INTERACTIVE.memlimit)
        cli_warn("--kdf interactive is for tests and demos: a PIN guess against its cards costs "
                 "about a sixth of the default's (docs/benchmarks.md); use the default, "
                 "moderate, for a world that guards real keys");

    /* 2. inputs */
    kt_err_clear(&e);
    if (cli_world_open(a.kmdata, a.cards_dir, true, true, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    if (cli_pins_open(&pins, a.pin_file, a.pin_fd, &e) != KT_OK) {
        world_lock_release(&lock);
        return cli_report(&e);
    }
    paths = calloc(n, sizeof *paths);
    if (paths == NULL) {
        cli_pins_close(&pins);
        world_lock_release(&lock);
        return cli_report(&(kt_err){KT_ENOMEM, "out of memory"});
    }

    /* 3. operation */
    o.pin = cli_pin_for_card;
    o.pin_ctx = &pins;
    o.progress = kt_progress_stderr;
    kt_rc rc = world_create(&p, &o, &info, paths, &e);
    cli_pins_close(&pins);
    world_lock_release(&lock);

    /* 4. output: the world stands once info.n is set, even when something after its commit
     * point failed; the card paths are printed then too (world info lists them again). */
    if (info.n == 0) {
        free(paths);
        return cli_report(&e);
    }
    char hash[65], kdf[160];
    kt_hex(hash, info.hash, sizeof info.hash);
    kdf_text(&info, kdf, sizeof kdf);
    printf("Security world created in %s\n"
           "  world hash   %s\n"
           "  quorum       %u/%u\n"
           "  module ESN   %s\n"
           "  cipher suite %s\n"
           "  card KDF     %s\n",
           p.kmdata, hash, info.k, info.n, info.esn, info.suite, kdf);
    for (unsigned i = 0; i < info.n; i++)
        printf("  card %-7u %s\n", i + 1, paths[i]);
    printf("Give each card to a different administrator. Any %u of the %u cards, with their PINs,\n"
           "can load this world into a module; fewer cannot.\n",
           info.k, info.n);
    free(paths);
    return rc == KT_OK ? KT_EXIT_OK : cli_report(&e);
}

/* ---- world info --------------------------------------------------------------------------- */

static const struct option info_opts[] = {
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"cards-dir", required_argument, NULL, OPT_CARDS_DIR}, /* where to look for cards */
    {"json", no_argument, NULL, OPT_JSON},                 /* machine-readable output */
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char info_help[] =
    "Usage: keytransfer world info [--kmdata DIR] [--cards-dir DIR] [--json]\n"
    "\n"
    "Show the security world: world hash, cipher suite, the cards' KDF profile, quorum, module\n"
    "ESN and whether the module is programmed, the module signing key fingerprint, the card\n"
    "files found, and the creation time.\n"
    "\n"
    "  --kmdata DIR      kmdata folder\n"
    "  --cards-dir DIR   where to look for card files (default: KMDATA/cards)\n"
    "  --json            print JSON\n"
    "  --help            show this help\n";

static int world_info_cmd(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_info info;
    world_module m;
    char **cards = NULL;
    size_t ncards = 0;
    kt_err e;
    int status = parse_args("world info", argc, argv, info_opts, &a);

    if (status >= 0)
        return status;
    if (a.help)
        return fputs(info_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;

    kt_err_clear(&e);
    if (cli_world_open(a.kmdata, a.cards_dir, false, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    if (world_load_info(&p, &info, &e) != KT_OK ||
        world_list_cards(&p, &info, &cards, &ncards, &e) != KT_OK) {
        world_lock_release(&lock);
        return cli_report(&e);
    }

    kt_err module_err;
    kt_err_clear(&module_err);
    bool programmed = world_module_open(&p, &m, &module_err) == KT_OK;
    if (programmed)
        world_module_close(&m);
    world_lock_release(&lock);

    char hash[65], hkm[65], hknso[65], modfp[65], created[32], kdf[160];
    uint8_t d[32];
    kt_hex(hash, info.hash, 32);
    kt_hex(hkm, info.hkm, 32);
    kt_sha256(d, info.knso_pub, 32);
    kt_hex(hknso, d, 32);
    pkg_ed25519_fingerprint(info.module_pub, d);
    kt_hex(modfp, d, 32);
    kt_time_iso8601(created, sizeof created, info.created);
    kdf_text(&info, kdf, sizeof kdf);

    if (a.json) {
        json_t *card_list = json_array();
        for (size_t i = 0; i < ncards; i++)
            json_array_append_new(card_list, json_string(cards[i]));
        json_t *v =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}, s:{s:s, s:b, s:s}, "
                      "s:o, s:s, s:s}",
                      "world_hash", hash, "hkm", hkm, "hknso", hknso, "cipher_suite", info.suite,
                      "kmdata", p.kmdata, "quorum", "k", (int)info.k, "n", (int)info.n, "module",
                      "esn", info.esn, "programmed", programmed, "signing_key_sha256", modfp,
                      "cards", card_list, "created", created, "format", "keytransfer-world-info/1");
        const char *name = world_kdf_profile_name(&info.kdf);
        if (v != NULL)
            json_object_set_new(v, "kdf",
                                !info.kdf_recorded
                                    ? json_null()
                                    : json_pack("{s:s, s:s, s:I, s:I}", "algorithm", "Argon2id",
                                                "profile", name != NULL ? name : "custom",
                                                "opslimit", (json_int_t)info.kdf.opslimit,
                                                "memlimit", (json_int_t)info.kdf.memlimit));
        status = cli_print_json(v);
    } else {
        printf("Security world in %s\n"
               "  world hash     %s\n"
               "  hkm            %s\n"
               "  hknso          %s\n"
               "  cipher suite   %s\n"
               "  card KDF       %s\n"
               "  ACS quorum     %u/%u\n"
               "  module ESN     %s (%s)\n"
               "  module key     SHA-256 %s\n"
               "  created        %s\n"
               "  cards found    %zu in %s\n",
               p.kmdata, hash, hkm, hknso, info.suite, kdf, info.k, info.n, info.esn,
               programmed ? "programmed" : "not programmed", modfp, created, ncards, p.cards);
        for (size_t i = 0; i < ncards; i++)
            printf("    %s\n", cards[i]);
        status = KT_EXIT_OK;
    }
    if (!programmed)
        fprintf(stderr, "keytransfer: note: %s\n", module_err.msg);
    for (size_t i = 0; i < ncards; i++)
        free(cards[i]);
    free(cards);
    return status;
}

/* ---- world check-card --------------------------------------------------------------------- */

static const struct option check_opts[] = {
    {"card", required_argument, NULL, OPT_CARD}, /* the card file to check */
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"pin-file", required_argument, NULL, OPT_PIN_FILE}, /* the card's PIN on the first line */
    {"pin-fd", required_argument, NULL, OPT_PIN_FD},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char check_help[] =
    "Usage: keytransfer world check-card --card PATH [--kmdata DIR] [--pin-file F | --pin-fd N]\n"
    "\n"
    "Check that a card belongs to this world and that its PIN opens it. Nothing is written.\n"
    "\n"
    "  --card PATH       the card file (required)\n"
    "  --kmdata DIR      kmdata folder\n"
    "  --pin-file FILE   read the PIN from the first line of FILE\n"
    "  --pin-fd N        read the PIN from file descriptor N\n"
    "  --help            show this help\n";

static int world_check_card_cmd(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_card_info ci;
    cli_pins pins;
    kt_err e;
    int status = parse_args("world check-card", argc, argv, check_opts, &a);

    if (status >= 0)
        return status;
    if (a.help)
        return fputs(check_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    if (a.ncards != 1)
        return cli_usage("world check-card", "give exactly one --card");

    kt_err_clear(&e);
    if (cli_world_open(a.kmdata, NULL, false, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    if (cli_pins_open(&pins, a.pin_file, a.pin_fd, &e) != KT_OK) {
        world_lock_release(&lock);
        return cli_report(&e);
    }
    kt_rc rc = world_check_card(&p, a.cards[0], cli_pin_for_card, &pins, &ci, &e);
    cli_pins_close(&pins);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);

    char hash[65];
    kt_hex(hash, ci.world_hash, 32);
    printf("Card %u of %u (quorum %u/%u) of world %s: the PIN opens it.\n", ci.no, ci.n, ci.k, ci.n,
           hash);
    return KT_EXIT_OK;
}

/* ---- world program ------------------------------------------------------------------------ */

static const struct option program_opts[] = {
    {"card", required_argument, NULL, OPT_CARD}, /* repeat: one per card, K at least */
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"pin-file", required_argument, NULL, OPT_PIN_FILE}, /* one PIN a line, in --card order */
    {"pin-fd", required_argument, NULL, OPT_PIN_FD},
    {"force", no_argument, NULL, OPT_FORCE}, /* rewrite an existing module file */
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char program_help[] =
    "Usage: keytransfer world program --card PATH --card PATH ... [OPTIONS]\n"
    "\n"
    "Load the security world into a fresh module from a quorum of administrator cards: the\n"
    "recovery path after `keytransfer module erase` or the loss of the module file.\n"
    "\n"
    "  --card PATH       a card file; give at least K of them, each once\n"
    "  --kmdata DIR      kmdata folder\n"
    "  --pin-file FILE   the cards' PINs, one a line, in the order of the --card options\n"
    "  --pin-fd N        the same from file descriptor N\n"
    "  --force           rewrite a module file that already exists\n"
    "  --help            show this help\n";

static int world_program_cmd(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_info info;
    cli_pins pins;
    kt_err e;
    int status = parse_args("world program", argc, argv, program_opts, &a);

    if (status >= 0)
        return status;
    if (a.help)
        return fputs(program_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    if (a.ncards == 0)
        return cli_usage("world program", "give the quorum's cards with --card PATH");

    kt_err_clear(&e);
    if (cli_world_open(a.kmdata, NULL, true, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    if (cli_pins_open(&pins, a.pin_file, a.pin_fd, &e) != KT_OK) {
        world_lock_release(&lock);
        return cli_report(&e);
    }
    kt_rc rc = world_program(&p, a.cards, a.ncards, cli_pin_for_card, &pins, a.force, &e);
    cli_pins_close(&pins);
    if (rc == KT_OK)
        rc = world_load_info(&p, &info, &e);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);

    char hash[65];
    kt_hex(hash, info.hash, 32);
    printf("Module %s programmed with world %s.\n", info.esn, hash);
    return KT_EXIT_OK;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static const cli_subcommand subcommands[] = {
    {"new", world_new, "create a world and its administrator card set"},
    {"info", world_info_cmd, "show the world's identity, quorum, module and cards"},
    {"check-card", world_check_card_cmd, "check that a card and its PIN belong to this world"},
    {"program", world_program_cmd, "load the world into a fresh module from a card quorum"},
};

int cmd_world(int argc, char **argv)
{
    return cli_dispatch("world", subcommands, sizeof subcommands / sizeof subcommands[0], argc,
                        argv);
}
