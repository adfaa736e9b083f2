/*
 * cmd_world.c - `keytransfer world new|info|check-card|program`: create a security world guarded
 * by a K-of-N administrator card set, show its identity, check a card and its PIN, and load the
 * world into a fresh module from a quorum of cards (the recovery path).
 */
#include "cmd_token.h"
#include "commands.h"
#include "pkg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options of the world subcommands, beside the shared ones (commands.h). */
enum {
    OPT_CARDS_DIR = OPT_SHARED_END,
    OPT_KDF,
    OPT_SUITE,
    OPT_QUORUM,
    OPT_FORCE,
    OPT_OUT,
    OPT_WITH_CARDS,
};

/* Option rows more than one subcommand has, each with its own help text. */
#define OPT_CARDS_DIR_ROW(help)                                                                    \
    {                                                                                              \
        OPT_CARDS_DIR, "cards-dir", CLI_VALUE, "DIR", help                                         \
    }
#define OPT_KDF_ROW(help)                                                                          \
    {                                                                                              \
        OPT_KDF, "kdf", CLI_VALUE, "PROFILE", help                                                 \
    }

#define CARD_ARGS_MAX WORLD_MAX_CARDS

/* What the world subcommands parse from the command line. */
typedef struct world_args {
    const char *kmdata, *cards_dir, *pin_file, *pin_fd, *kdf, *suite, *quorum, *out;
    const char *cards[CARD_ARGS_MAX];
    size_t ncards;
    bool force, json, with_cards;
    const char *arg; /* the one operand, when the command takes one */
} world_args;

/* 1. options, for every world subcommand; -1 goes on, else the exit status. */
static int parse_args(const cli_cmd *cmd, int argc, char **argv, world_args *a)
{
    cli_args c;
    const char *const *cards;
    int status = cli_parse(cmd, argc, argv, &c);

    memset(a, 0, sizeof *a);
    if (status >= 0)
        return status;
    a->kmdata = cli_value(&c, OPT_KMDATA);
    a->cards_dir = cli_value(&c, OPT_CARDS_DIR);
    a->pin_file = cli_value(&c, OPT_PIN_FILE);
    a->pin_fd = cli_value(&c, OPT_PIN_FD);
    a->kdf = cli_value(&c, OPT_KDF);
    a->suite = cli_value(&c, OPT_SUITE);
    a->quorum = cli_value(&c, OPT_QUORUM);
    a->force = cli_flag(&c, OPT_FORCE);
    a->out = cli_value(&c, OPT_OUT);
    a->with_cards = cli_flag(&c, OPT_WITH_CARDS);
    a->arg = c.nargs > 0 ? c.arg[0] : NULL;
    a->json = cli_flag(&c, OPT_JSON);
    a->ncards = cli_values(&c, OPT_CARD, &cards);
    if (a->ncards > CARD_ARGS_MAX) {
        cli_args_free(&c);
        return cli_usage(cmd->name, "at most %d --card options", CARD_ARGS_MAX);
    }
    for (size_t i = 0; i < a->ncards; i++)
        a->cards[i] = cards[i];
    cli_args_free(&c);
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

/* --acs-quorum K/N; -1 goes on, else the exit status of a usage error. */
static int parse_quorum(const char *cmd, const char *quorum, unsigned *k_out, unsigned *n_out)
{
    char buf[16];
    char *slash;
    unsigned long k = 0, n = 0;

    snprintf(buf, sizeof buf, "%s", quorum);
    slash = strchr(buf, '/');
    if (slash == NULL || strlen(quorum) >= sizeof buf)
        return cli_usage(cmd, "--acs-quorum takes K/N, such as 2/3, not '%s'", quorum);
    *slash = '\0';
    if (!cli_parse_uint(buf, 1, WORLD_MAX_CARDS, &k) ||
        !cli_parse_uint(slash + 1, 1, WORLD_MAX_CARDS, &n) || k > n)
        return cli_usage(cmd, "quorum '%s' is not possible: 1 <= K <= N <= %d", quorum,
                         WORLD_MAX_CARDS);
    *k_out = (unsigned)k;
    *n_out = (unsigned)n;
    return -1;
}

/* --kdf PROFILE; -1 goes on, else the exit status. */
static int parse_kdf(const char *cmd, const char *name, world_kdf *kdf)
{
    if (name == NULL || strcmp(name, "moderate") == 0)
        *kdf = WORLD_KDF_MODERATE;
    else if (strcmp(name, "interactive") == 0)
        *kdf = WORLD_KDF_INTERACTIVE;
    else
        return cli_usage(cmd, "--kdf is moderate or interactive, not '%s'", name);
    return -1;
}

/* The card paths as a JSON array of strings. */
static json_t *paths_json(char (*paths)[PATH_MAX], unsigned n)
{
    json_t *a = json_array();
    for (unsigned i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(paths[i]));
    return a;
}

/* 2. inputs of a change that asks card PINs: the world lock (exclusive when write; create: the
 * world may not exist yet), then the PIN source. -1 goes on (close_pins undoes both), else the
 * exit status, with nothing left open. */
static int open_pins(const world_args *a, const char *cards_dir, bool write, bool create,
                     world_paths *p, world_lock *lock, cli_pins *pins)
{
    kt_err e;

    kt_err_clear(&e);
    if (cli_world_open(a->kmdata, cards_dir, write, create, p, lock, &e) != KT_OK)
        return cli_report(&e);
    if (cli_pins_open(pins, a->pin_file, a->pin_fd, &e) != KT_OK) {
        world_lock_release(lock);
        return cli_report(&e);
    }
    return -1;
}

static void close_pins(cli_pins *pins, world_lock *lock)
{
    cli_pins_close(pins);
    world_lock_release(lock);
}

/* The --card options of a command that opens a quorum of the current set: at least one. -1 goes
 * on, else the exit status. */
static int need_quorum(const cli_cmd *cmd, const world_args *a)
{
    return a->ncards > 0
               ? -1
               : cli_usage(cmd->name, "give a quorum of the current cards with --card PATH");
}

/* What check-card and change-pin do to their one card. */
typedef kt_rc (*card_op)(const world_paths *p, const char *card_path, world_pin_fn pin,
                         void *pin_ctx, world_card_info *ci, kt_err *e);

/* 1-3 of a command on exactly one card: options, the world lock (exclusive when write) and the
 * PIN source, op, all closed again. -1 goes on with *ci filled, else the exit status. */
static int on_one_card(const cli_cmd *cmd, int argc, char **argv, bool write, card_op op,
                       world_args *a, world_card_info *ci)
{
    world_lock lock;
    world_paths p;
    cli_pins pins;
    kt_err e;
    int status = parse_args(cmd, argc, argv, a);

    if (status >= 0)
        return status;
    if (a->ncards != 1)
        return cli_usage(cmd->name, "give exactly one --card");
    if ((status = open_pins(a, NULL, write, false, &p, &lock, &pins)) >= 0)
        return status;
    kt_err_clear(&e);
    kt_rc rc = op(&p, a->cards[0], cli_pin_for_card, &pins, ci, &e);
    close_pins(&pins, &lock);
    return rc == KT_OK ? -1 : cli_report(&e);
}

/* A command that writes a new card set (world new, replace-cards), between its options and its
 * output: the world and the PIN source open, room for the n card paths; then the operation's
 * outcome. The world stands once info.n is set, even when something after its commit point
 * failed (rc and e say what); the card paths are printed then too. */
typedef struct card_set_run {
    world_paths p;
    world_lock lock;
    cli_pins pins;
    world_info info;
    char (*paths)[PATH_MAX];
    kt_rc rc;
    kt_err e;
} card_set_run;

/* -1 goes on (card_set_end closes what this opened), else the exit status. */
static int card_set_begin(const world_args *a, bool create, unsigned n, card_set_run *r)
{
    int status = open_pins(a, a->cards_dir, true, create, &r->p, &r->lock, &r->pins);

    if (status >= 0)
        return status;
    memset(&r->info, 0, sizeof r->info);
    kt_err_clear(&r->e);
    if ((r->paths = calloc(n, sizeof *r->paths)) == NULL) {
        close_pins(&r->pins, &r->lock);
        return cli_report(&(kt_err){KT_ENOMEM, "out of memory"});
    }
    return -1;
}

/* Closes the PIN source and the lock; -1 goes on to the output (the caller frees r->paths), else
 * the exit status when no card set was made. */
static int card_set_end(card_set_run *r)
{
    close_pins(&r->pins, &r->lock);
    if (r->info.n > 0)
        return -1;
    free(r->paths);
    return cli_report(&r->e);
}

static void print_card_paths(char (*paths)[PATH_MAX], unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        printf("  card %-7u %s\n", i + 1, paths[i]);
}

/* ---- world new ---------------------------------------------------------------------------- */

static const cli_opt new_opts[] = {
    {OPT_QUORUM, "acs-quorum", CLI_NEEDED, "K/N", "the quorum, 1 <= K <= N <= 64 (required)"},
    {OPT_SUITE, "cipher-suite", CLI_VALUE, "NAME",
     WORLD_SUITE_DEFAULT " (the default and only suite)"},
    CLI_OPT_KMDATA,
    OPT_CARDS_DIR_ROW("where to write the card files (default: KMDATA/cards)"),
    CLI_OPT_PIN_FILE("read the N new card PINs from FILE, one a line"),
    CLI_OPT_PIN_FD,
    OPT_KDF_ROW(
        "Argon2id cost for the cards: moderate (default) or interactive\n(tests and demos only); "
        "the world records it, and no card\nbelow it opens"),
    {OPT_FORCE, "force", CLI_FLAG, NULL, "replace an existing world that protects no keys"},
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd new_cmd = {
    .name = "world new",
    .synopsis = "--acs-quorum K/N [OPTIONS]",
    .about = "Create a security world: a module key KM and a world signing key KNSO guarded by "
             "an\nadministrator card set (ACS) of N cards, any K of which recover the world.",
    .opts = new_opts,
};

static int world_new(int argc, char **argv)
{
    world_args a;
    card_set_run r;
    world_new_opts o = {0};
    kt_err e;
    unsigned k = 0, n = 0;
    int status = parse_args(&new_cmd, argc, argv, &a);

    /* 1. options */
    if (status >= 0)
        return status;
    if ((status = parse_quorum("world new", a.quorum, &k, &n)) >= 0 ||
        (status = parse_kdf("world new", a.kdf, &o.kdf)) >= 0)
        return status;
    o.k = k;
    o.n = n;
    o.suite = a.suite;
    o.force = a.force;
    if (a.suite != NULL && world_check_suite(a.suite, &e) != KT_OK)
        return cli_report(&e);
    if (k == 1)
        cli_warn("a quorum of 1/%u lets any single card holder administer the world", n);
    if (o.kdf.opslimit == WORLD_KDF_INTERACTIVE.opslimit &&
        o.kdf.memlimit == WORLD_KDF_INTERACTIVE.memlimit)
        cli_warn("--kdf interactive is for tests and demos: a PIN guess against its cards costs "
                 "about a sixth of the default's (docs/benchmarks.md); use the default, "
                 "moderate, for a world that guards real keys");

    /* 2. inputs */
    if ((status = card_set_begin(&a, true, n, &r)) >= 0)
        return status;

    /* 3. operation */
    o.pin = cli_pin_for_card;
    o.pin_ctx = &r.pins;
    o.progress = kt_progress_stderr;
    r.rc = world_create(&r.p, &o, &r.info, r.paths, &r.e);
    if ((status = card_set_end(&r)) >= 0)
        return status;

    /* 4. output */
    char hash[65], kdf[160];
    kt_hex(hash, r.info.hash, sizeof r.info.hash);
    kdf_text(&r.info, kdf, sizeof kdf);
    if (a.json) {
        const char *profile = world_kdf_profile_name(&r.info.kdf);
        json_t *v =
            json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:s, s:s, s:{s:s, s:s, s:I, s:I}, s:o, s:b}",
                      "format", "keytransfer-world-new/1", "kmdata", r.p.kmdata, "world_hash", hash,
                      "quorum", "k", (int)r.info.k, "n", (int)r.info.n, "module_esn", r.info.esn,
                      "cipher_suite", r.info.suite, "kdf", "algorithm", "Argon2id", "profile",
                      profile != NULL ? profile : "custom", "opslimit",
                      (json_int_t)r.info.kdf.opslimit, "memlimit", (json_int_t)r.info.kdf.memlimit,
                      "cards", paths_json(r.paths, r.info.n), "complete", r.rc == KT_OK);
        free(r.paths);
        status = cli_print_json(v);
        return r.rc == KT_OK ? status : cli_report(&r.e);
    }
    printf("Security world created in %s\n"
           "  world hash   %s\n"
           "  quorum       %u/%u\n"
           "  module ESN   %s\n"
           "  cipher suite %s\n"
           "  card KDF     %s\n",
           r.p.kmdata, hash, r.info.k, r.info.n, r.info.esn, r.info.suite, kdf);
    print_card_paths(r.paths, r.info.n);
    printf("Give each card to a different administrator. Any %u of the %u cards, with their PINs,\n"
           "can load this world into a module; fewer cannot.\n",
           r.info.k, r.info.n);
    free(r.paths);
    return r.rc == KT_OK ? KT_EXIT_OK : cli_report(&r.e);
}

/* ---- world info --------------------------------------------------------------------------- */

static const cli_opt info_opts[] = {
    CLI_OPT_KMDATA,
    OPT_CARDS_DIR_ROW("where to look for card files (default: KMDATA/cards)"),
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd info_cmd = {
    .name = "world info",
    .synopsis = "[--kmdata DIR] [--cards-dir DIR] [--json]",
    .about = "Show the security world: world hash, cipher suite, the cards' KDF profile, quorum, "
             "module\nESN and whether the module is programmed, the module signing key "
             "fingerprint, the card\nfiles found, and the creation time.",
    .opts = info_opts,
};

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
    int status = parse_args(&info_cmd, argc, argv, &a);

    if (status >= 0)
        return status;

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
            json_object_set_new(v, "card_set", json_integer(info.cardset));
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
               "  ACS quorum     %u/%u (card set %u)\n"
               "  module ESN     %s (%s)\n"
               "  module key     SHA-256 %s\n"
               "  created        %s\n"
               "  cards found    %zu in %s\n",
               p.kmdata, hash, hkm, hknso, info.suite, kdf, info.k, info.n, (unsigned)info.cardset,
               info.esn, programmed ? "programmed" : "not programmed", modfp, created, ncards,
               p.cards);
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

static const cli_opt check_opts[] = {
    CLI_OPT_CARD("the card file (required)"),
    CLI_OPT_KMDATA,
    CLI_OPT_PIN_FILE("read the PIN from the first line of FILE"),
    CLI_OPT_PIN_FD,
    {0},
};

static const cli_cmd check_cmd = {
    .name = "world check-card",
    .synopsis = "--card PATH [--kmdata DIR] [--pin-file F | --pin-fd N]",
    .about = "Check that a card belongs to this world and that its PIN opens it. Nothing is "
             "written.",
    .opts = check_opts,
};

static int world_check_card_cmd(int argc, char **argv)
{
    world_args a;
    world_card_info ci;
    int status = on_one_card(&check_cmd, argc, argv, false, world_check_card, &a, &ci);

    if (status >= 0)
        return status;
    char hash[65];
    kt_hex(hash, ci.world_hash, 32);
    printf("Card %u of %u (quorum %u/%u) of world %s: the PIN opens it.\n", ci.no, ci.n, ci.k, ci.n,
           hash);
    return KT_EXIT_OK;
}

/* ---- world program ------------------------------------------------------------------------ */

static const cli_opt program_opts[] = {
    CLI_OPT_CARD("a card file; give at least K of them, each once"),
    CLI_OPT_KMDATA,
    CLI_OPT_PIN_FILE("the cards' PINs, one a line, in the order of the --card options"),
    CLI_OPT_PIN_FD,
    {OPT_FORCE, "force", CLI_FLAG, NULL, "rewrite a module file that already exists"},
    {0},
};

static const cli_cmd program_cmd = {
    .name = "world program",
    .synopsis = "--card PATH --card PATH ... [OPTIONS]",
    .about = "Load the security world into a fresh module from a quorum of administrator cards: "
             "the\nrecovery path after `keytransfer module erase` or the loss of the module file.",
    .opts = program_opts,
};

static int world_program_cmd(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_info info;
    cli_pins pins;
    kt_err e;
    int status = parse_args(&program_cmd, argc, argv, &a);

    if (status >= 0 || (status = need_quorum(&program_cmd, &a)) >= 0 ||
        (status = open_pins(&a, NULL, true, false, &p, &lock, &pins)) >= 0)
        return status;
    kt_err_clear(&e);
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

/* ---- world change-pin ---------------------------------------------------------------------- */

static const cli_opt pin_opts[] = {
    CLI_OPT_CARD("the card whose PIN changes (required)"),
    CLI_OPT_KMDATA,
    CLI_OPT_PIN_FILE("the current PIN, then the new one, one a line"),
    CLI_OPT_PIN_FD,
    {0},
};

static const cli_cmd pin_cmd = {
    .name = "world change-pin",
    .synopsis = "--card PATH [--kmdata DIR] [--pin-file F | --pin-fd N]",
    .about = "Change the PIN of one administrator card (nShield: cardpp). The card keeps its "
             "share; it is\nsealed again under the new PIN, and the old PIN opens it no more. "
             "Recorded in the audit log\n(the module must be programmed: it signs the entry).",
    .opts = pin_opts,
};

static int world_change_pin_cmd(int argc, char **argv)
{
    world_args a;
    world_card_info ci;
    int status = on_one_card(&pin_cmd, argc, argv, true, world_change_pin, &a, &ci);

    if (status >= 0)
        return status;
    printf("The PIN of card %u of %u (%s) is changed; the old PIN opens it no more.\n", ci.no, ci.n,
           a.cards[0]);
    return KT_EXIT_OK;
}

/* ---- world replace-cards ------------------------------------------------------------------- */

static const cli_opt replace_opts[] = {
    {OPT_QUORUM, "acs-quorum", CLI_NEEDED, "K/N", "the new card set's quorum (required)"},
    CLI_OPT_CARD("a card of the current set; give at least K of them"),
    CLI_OPT_KMDATA,
    OPT_CARDS_DIR_ROW("where to write the new card files (default: KMDATA/cards)"),
    CLI_OPT_PIN_FILE("the current cards' PINs in --card order, then the N new\nPINs, one a line"),
    CLI_OPT_PIN_FD,
    OPT_KDF_ROW("Argon2id cost for the new cards: moderate (default) or\ninteractive; at least "
                "the world's profile"),
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd replace_cmd = {
    .name = "world replace-cards",
    .synopsis = "--acs-quorum K/N --card PATH ... [OPTIONS]",
    .about = "Replace the administrator card set (nShield: racs) with a quorum of the current "
             "one: a new\nlogical token on N new cards, KM and KNSO sealed again under it. The "
             "world hash, the keys\nand their signed ACLs stay valid; the old cards open nothing "
             "from then on. Destroy them,\nand make a new backup: an old backup's world file still "
             "opens with the old cards.",
    .opts = replace_opts,
};

static int world_replace_cards_cmd(int argc, char **argv)
{
    world_args a;
    card_set_run r;
    world_replace_opts o = {0};
    int status = parse_args(&replace_cmd, argc, argv, &a);

    if (status >= 0)
        return status;
    if ((status = parse_quorum(replace_cmd.name, a.quorum, &o.k, &o.n)) >= 0 ||
        (status = parse_kdf(replace_cmd.name, a.kdf, &o.kdf)) >= 0)
        return status;
    if ((status = need_quorum(&replace_cmd, &a)) >= 0)
        return status;
    o.cards = a.cards;
    o.ncards = a.ncards;
    if ((status = card_set_begin(&a, false, o.n, &r)) >= 0)
        return status;
    o.pin = cli_pin_for_card;
    o.pin_ctx = &r.pins;
    o.progress = kt_progress_stderr;
    r.rc = world_replace_cards(&r.p, &o, &r.info, r.paths, &r.e);
    if ((status = card_set_end(&r)) >= 0)
        return status;
    char hash[65];
    kt_hex(hash, r.info.hash, 32);
    if (a.json) {
        json_t *v =
            json_pack("{s:s, s:s, s:i, s:{s:i, s:i}, s:o}", "format", "keytransfer-replace-cards/1",
                      "world_hash", hash, "card_set", (int)r.info.cardset, "quorum", "k",
                      (int)r.info.k, "n", (int)r.info.n, "cards", paths_json(r.paths, r.info.n));
        status = cli_print_json(v);
    } else {
        printf("Card set %u of world %s is now current (quorum %u/%u):\n", (unsigned)r.info.cardset,
               hash, r.info.k, r.info.n);
        print_card_paths(r.paths, r.info.n);
        printf("The cards of set %u open nothing any more: destroy them. Keys and their signed "
               "ACLs are\nunchanged. Make a new backup (`keytransfer world backup`).\n",
               (unsigned)r.info.cardset - 1);
        status = KT_EXIT_OK;
    }
    free(r.paths);
    return r.rc == KT_OK ? status : cli_report(&r.e);
}

/* ---- world cards --------------------------------------------------------------------------- */

static const cli_opt cards_opts[] = {
    CLI_OPT_KMDATA,
    OPT_CARDS_DIR_ROW("where to look for card files (default: KMDATA/cards)"),
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd cards_cmd = {
    .name = "world cards",
    .synopsis = "[--kmdata DIR] [--cards-dir DIR] [--json]",
    .about = "List every card file in the cards folder: its world, card set, number, quorum, KDF "
             "profile,\nand whether it is valid (of this world's current set) or replaced. No PIN "
             "is asked.",
    .opts = cards_opts,
};

static const char *card_status(const world_card_found *c)
{
    if (c->rc != KT_OK)
        return "unreadable";
    if (!c->this_world)
        return "other world";
    return c->current ? "valid" : "replaced";
}

static int world_cards_cmd(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_info info;
    world_card_found *found = NULL;
    size_t n = 0;
    kt_err e;
    int status = parse_args(&cards_cmd, argc, argv, &a);

    if (status >= 0)
        return status;
    kt_err_clear(&e);
    if (cli_world_open(a.kmdata, a.cards_dir, false, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_load_info(&p, &info, &e);
    if (rc == KT_OK)
        rc = world_cards_scan(&p, &info, &found, &n, &e);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);

    json_t *list = a.json ? json_array() : NULL;
    char whash[65];
    kt_hex(whash, info.hash, 32);
    if (!a.json)
        printf("Cards in %s (world %.16s, current card set %u, quorum %u/%u):\n", p.cards, whash,
               (unsigned)info.cardset, info.k, info.n);
    for (size_t i = 0; i < n; i++) {
        const world_card_found *c = &found[i];
        char hash[65] = "", kdf[48] = "";
        const char *profile = NULL;
        if (c->rc == KT_OK) {
            kt_hex(hash, c->ci.world_hash, 32);
            world_kdf_format(&c->ci.kdf, kdf, sizeof kdf);
            profile = world_kdf_profile_name(&c->ci.kdf);
        }
        if (a.json) {
            json_t *o = c->rc != KT_OK
                            ? json_pack("{s:s, s:s, s:s}", "path", c->path, "status",
                                        card_status(c), "error", c->err.msg)
                            : json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:{s:s, s:I, s:I}}",
                                        "path", c->path, "status", card_status(c), "world_hash",
                                        hash, "card_set", (int)c->ci.cardset, "card", (int)c->ci.no,
                                        "k", (int)c->ci.k, "n", (int)c->ci.n, "kdf", "profile",
                                        profile != NULL ? profile : "custom", "opslimit",
                                        (json_int_t)c->ci.kdf.opslimit, "memlimit",
                                        (json_int_t)c->ci.kdf.memlimit);
            json_array_append_new(list, o);
        } else if (c->rc != KT_OK) {
            printf("  %-11s %s: %s\n", card_status(c), c->path, c->err.msg);
        } else {
            printf("  %-11s %s\n              world %.16s, set %u, card %u of %u (quorum %u/%u), "
                   "KDF %s (%s)\n",
                   card_status(c), c->path, hash, (unsigned)c->ci.cardset, c->ci.no, c->ci.n,
                   c->ci.k, c->ci.n, profile != NULL ? profile : "custom", kdf);
        }
    }
    free(found);
    if (a.json) {
        char hash[65];
        kt_hex(hash, info.hash, 32);
        return cli_print_json(json_pack("{s:s, s:s, s:i, s:{s:i, s:i}, s:o}", "format",
                                        "keytransfer-world-cards/1", "world_hash", hash, "card_set",
                                        (int)info.cardset, "quorum", "k", (int)info.k, "n",
                                        (int)info.n, "cards", list));
    }
    return KT_EXIT_OK;
}

/* ---- world backup, restore, check-backup --------------------------------------------------- */

static const cli_opt backup_opts[] = {
    {OPT_OUT, "out", CLI_NEEDED, "DIR", "the backup folder to make; it must not exist (required)"},
    {OPT_WITH_CARDS, "with-cards", CLI_FLAG, NULL,
     "add the current set's card files found in the cards folder"},
    CLI_OPT_KMDATA,
    OPT_CARDS_DIR_ROW("where to look for card files (default: KMDATA/cards)"),
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd backup_cmd = {
    .name = "world backup",
    .synopsis = "--out DIR [--with-cards] [--kmdata DIR] [--json]",
    .about = "Back up the world: its world file, audit log, key files and signed reduced records, "
             "and,\nwith --with-cards, its cards; never the module file (KM in the clear). A "
             "manifest signed by\nthe module lists every file with its SHA-256.",
    .opts = backup_opts,
};

static void print_backup(const char *what, const char *dir, const world_backup_info *b)
{
    char hash[65];
    kt_hex(hash, b->world.hash, 32);
    printf("%s %s\n  world hash   %s\n  key files    %zu\n  token files  %zu\n  cards        %zu\n"
           "  audit log    %s\n",
           what, dir, hash, b->nkeys, b->ntoken, b->ncards, b->has_audit ? "yes" : "no");
}

static json_t *backup_json(const char *format, const char *dir, const world_backup_info *b)
{
    char hash[65];
    kt_hex(hash, b->world.hash, 32);
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:i}", "format", format, "folder", dir,
                     "world_hash", hash, "keys", (int)b->nkeys, "token_files", (int)b->ntoken,
                     "cards", (int)b->ncards, "audit_log", b->has_audit, "audit_entries",
                     (int)b->naudit);
}

static int world_backup_cmd(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_module m;
    world_backup_info b;
    kt_err e;
    int status = parse_args(&backup_cmd, argc, argv, &a);

    if (status >= 0)
        return status;
    kt_err_clear(&e);
    if (cli_world_open(a.kmdata, a.cards_dir, true, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_module_open(&p, &m, &e);
    if (rc == KT_OK) {
        rc = world_backup(&p, &m, a.out, a.with_cards, &b, &e);
        world_module_close(&m);
    }
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);
    if (a.json)
        return cli_print_json(backup_json("keytransfer-backup-made/1", a.out, &b));
    print_backup("Backup written to", a.out, &b);
    printf("It holds no module file: restore it with `keytransfer world restore`, then load the "
           "world\nwith `keytransfer world program` and %u of the cards.\n",
           b.world.k);
    return KT_EXIT_OK;
}

static const cli_opt restore_opts[] = {
    CLI_OPT_KMDATA,
    OPT_CARDS_DIR_ROW("where to write the backup's card files (default: KMDATA/cards)"),
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd restore_cmd = {
    .name = "world restore",
    .synopsis = "DIR [--kmdata DIR] [--json]",
    .about = "Restore a backup folder into a kmdata that holds no world. Every file is checked "
             "against\nthe manifest the module signed first. The module is not programmed "
             "afterwards: run\n`keytransfer world program` with a quorum of the cards.",
    .opts = restore_opts,
    .min_args = 1,
    .max_args = 1,
};

static int world_restore_cmd(int argc, char **argv)
{
    world_lock lock;
    world_args a;
    world_paths p;
    world_backup_info b;
    kt_err e;
    int status = parse_args(&restore_cmd, argc, argv, &a);

    if (status >= 0)
        return status;
    kt_err_clear(&e);
    if (cli_world_open(a.kmdata, a.cards_dir, true, true, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_restore(&p, a.arg, &b, &e);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);
    if (a.json)
        return cli_print_json(backup_json("keytransfer-restore/1", a.arg, &b));
    print_backup("Restored from", a.arg, &b);
    printf("Load the world into this module with `keytransfer world program` and %u of the "
           "cards.\n",
           b.world.k);
    return KT_EXIT_OK;
}

static const cli_opt checkb_opts[] = {
    CLI_OPT_CARD("a card of the backup's world: open KM from a quorum\ninstead of the module"),
    CLI_OPT_KMDATA,
    CLI_OPT_PIN_FILE("the cards' PINs, one a line, in --card order"),
    CLI_OPT_PIN_FD,
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd checkb_cmd = {
    .name = "world check-backup",
    .synopsis = "DIR [--kmdata DIR | --card PATH ...] [--json]",
    .about = "Check a backup folder: the manifest's module signature, every file's SHA-256, "
             "nothing more\n(no module file), its audit log, and that every key file and signed "
             "record opens and\nauthenticates against the world. KM comes from the programmed "
             "module of --kmdata (the same\nworld), or from a quorum of --card. Nothing is "
             "written.",
    .opts = checkb_opts,
    .min_args = 1,
    .max_args = 1,
};

static int world_check_backup_cmd(int argc, char **argv)
{
    world_lock lock = {-1};
    world_args a;
    world_paths p;
    world_module m;
    world_backup_info b;
    kt_err e;
    kt_rc rc;
    int status = parse_args(&checkb_cmd, argc, argv, &a);

    if (status >= 0)
        return status;
    kt_err_clear(&e);
    if (a.ncards > 0) {
        world_paths bp;
        world_admin adm;
        cli_pins pins;
        if ((rc = world_paths_init(&bp, a.arg, NULL, &e)) != KT_OK ||
            (rc = cli_pins_open(&pins, a.pin_file, a.pin_fd, &e)) != KT_OK)
            return cli_report(&e);
        rc = world_admin_open(&bp, a.cards, a.ncards, cli_pin_for_card, &pins, &adm, &e);
        cli_pins_close(&pins);
        if (rc == KT_OK) {
            rc = world_module_from_admin(&adm, &m, &e);
            world_admin_close(&adm);
        }
    } else {
        if ((rc = cli_world_open(a.kmdata, NULL, false, false, &p, &lock, &e)) == KT_OK)
            rc = world_module_open(&p, &m, &e);
    }
    if (rc == KT_OK) {
        rc = world_backup_check_keys(a.arg, &m, &b, &e);
        world_module_close(&m);
    }
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);
    if (a.json)
        return cli_print_json(backup_json("keytransfer-backup-check/1", a.arg, &b));
    print_backup("Backup checked:", a.arg, &b);
    printf("Every file is the one the module signed; every key file and record opens with KM and "
           "its\nsigned ACL verifies; the audit log (%zu entries) verifies.\n",
           b.naudit);
    return KT_EXIT_OK;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static const cli_entry subcommands[] = {
    {"new", world_new, "create a world and its administrator card set"},
    {"info", world_info_cmd, "show the world's identity, quorum, module and cards"},
    {"check-card", world_check_card_cmd, "check that a card and its PIN belong to this world"},
    {"program", world_program_cmd, "load the world into a fresh module from a card quorum"},
    {"change-pin", world_change_pin_cmd, "change the PIN of one administrator card"},
    {"replace-cards", world_replace_cards_cmd, "replace the card set with a quorum of the old"},
    {"cards", world_cards_cmd, "list the card files found and whether each is still valid"},
    {"backup", world_backup_cmd, "back up the world, keys and audit log (never the module)"},
    {"restore", world_restore_cmd, "restore a backup into an empty kmdata"},
    {"check-backup", world_check_backup_cmd, "check that a backup authenticates against its world"},
    {"bind-token", cmd_world_bind_token, "guard a PKCS#11 token's SO PIN with the card quorum"},
};

int cmd_world(int argc, char **argv)
{
    return cli_dispatch("world", subcommands, sizeof subcommands / sizeof subcommands[0], argc,
                        argv);
}
