/*
 * cmd_modify_acls.c - `keytransfer modify-acls`: with a quorum of administrator cards, make
 * key_xferacld_<ident>, a copy of the key whose ACL allows nothing but ExportWrapped to one KEK
 * (and, for an attested KEK, one target world), signed with KNSO (nShield's KeyTransferRemote
 * -ModifyAcls). The logic is transfer_reduce (transfer.c); this file parses, calls and prints,
 * and asks the card holders at the terminal whether they approve what transfer_reduce shows them
 * before the first PIN (or takes --yes from a script that has shown it).
 */
#include "batch.h"
#include "cmd_batch.h"
#include "cmd_token.h"
#include "commands.h"
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CMD "modify-acls"

enum { OPT_IDENT = OPT_SHARED_END, OPT_APP, OPT_YES, OPT_ALL, OPT_STOP_ON_ERROR };

static const cli_opt opts[] = {
    {OPT_IDENT, "ident", CLI_LIST, "ID",
     "the key identifier; give it again for a batch of keys,\neach named once"},
    {OPT_ALL, "all", CLI_FLAG, NULL,
     "a batch of every key of the app not reduced yet (instead\nof --ident)"},
    {OPT_STOP_ON_ERROR, "stop-on-error", CLI_FLAG, NULL,
     "a batch: a key that fails its checks stops the batch\nbefore any card is read"},
    {OPT_APP, "app", CLI_VALUE, "APP", "the key's application (default: simple)"},
    CLI_OPTS_KEK,
    CLI_OPT_CARD("an administrator card; give at least K, each once"),
    CLI_OPT_PIN_FILE("the cards' PINs, one a line, in --card order"),
    CLI_OPT_PIN_FD,
    CLI_OPT_KMDATA,
    {OPT_YES, "yes", CLI_FLAG, NULL,
     "approve without the question at the terminal (the request\nis still printed on stderr): "
     "for scripts"},
    CLI_OPT_JSON,
    CLI_OPT_TOKEN(
        "the key is in this PKCS#11 token (RFC 7512 URI): the KEK is\nimported into it as "
        "a trusted wrapping key and the reduced\nrecord signed; the user PIN is read "
        "first, then the cards'"),
    {0},
};

static const cli_cmd cmd = {
    .name = CMD,
    .synopsis = "--ident ID -k KEKPKG -w WORLDPKG --card PATH --card PATH ...\n"
                "--ident ID --kek-pem FILE --accept-unattested-kek FP --card PATH ...\n"
                "--ident ID --ident ID ... | --all  -k KEKPKG -w WORLDPKG --card PATH ...",
    .about =
        "With a quorum of administrator cards, write key_xferacld_ID: the same key, whose ACL "
        "now\nallows one thing only - ExportWrapped to this KEK, named by its kid (and, for an "
        "attested\nKEK, into this target world) - signed by the quorum (KNSO). The key "
        "key_APP_ID is left\nuntouched as the backup. The KEK and world packages are verified "
        "first, and every check\nthat could refuse runs before any PIN is asked. Then what the "
        "cards approve (the key, the\nKEK's kid, fingerprint and attestation, the target world) "
        "is shown at the terminal, and\nonly 'yes' goes on to the cards; without a terminal, "
        "--yes is required. A key already reduced\nfor another KEK gets a record of its own "
        "beside the first, key_xferacldF16_ID (F16: the\nfirst 16 hex digits of the KEK's "
        "fingerprint).\nA batch (--ident given more than once, or --all) checks every key first, "
        "shows them all\nin one request, opens the quorum once and signs each key's ACL.",
    .opts = opts,
    .footer = "Exit status: 0 reduced, 1 refused (verification, DEMO root without --demo, ACL, "
              "not\napproved at the terminal, quorum, PIN, unaccepted KEK), 2 usage (no terminal "
              "to ask and no\n--yes), 3 malformed input, 4 missing or existing file, 5 crypto "
              "failure.",
};

typedef struct args {
    const char *ident, *app, *kmdata, *pin_file, *pin_fd, *token;
    transfer_kek_source kek;
    const char *cards[WORLD_MAX_CARDS];
    size_t ncards;
    bool json, yes;
    bool batch, all, stop_on_error; /* a batch: more than one --ident, or --all */
    const char **idents;            /* heap array borrowing from argv */
    size_t nidents;
} args;

/* 1. Options. Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    cli_args c;
    const char *const *cards;
    int status = cli_parse(&cmd, argc, argv, &c);

    memset(a, 0, sizeof *a);
    if (status >= 0)
        return status;
    a->all = cli_flag(&c, OPT_ALL);
    if ((status = cli_batch_idents(&c, OPT_IDENT, a->all, &a->ident, &a->idents, &a->nidents,
                                   &a->batch)) >= 0)
        return status;
    a->stop_on_error = cli_flag(&c, OPT_STOP_ON_ERROR);
    a->app = cli_value(&c, OPT_APP);
    a->kmdata = cli_value(&c, OPT_KMDATA);
    a->pin_file = cli_value(&c, OPT_PIN_FILE);
    a->pin_fd = cli_value(&c, OPT_PIN_FD);
    a->yes = cli_flag(&c, OPT_YES);
    a->json = cli_flag(&c, OPT_JSON);
    a->token = cli_value(&c, OPT_TOKEN);
    cli_kek_source(&c, &a->kek);
    a->ncards = cli_values(&c, OPT_CARD, &cards);
    if (a->ncards > WORLD_MAX_CARDS) {
        cli_args_free(&c);
        return cli_usage(CMD, "at most %d --card options", WORLD_MAX_CARDS);
    }
    for (size_t i = 0; i < a->ncards; i++)
        a->cards[i] = cards[i];
    cli_args_free(&c);
    if (a->batch && a->token != NULL)
        return cli_usage(CMD, "a key in a token is reduced one at a time: give one --ident with "
                              "--token");
    if (a->batch)
        return a->all && a->nidents > 0 ? cli_usage(CMD, "give --ident or --all, not both") : -1;
    if (a->stop_on_error)
        return cli_usage(CMD, "--stop-on-error is for a batch (several --ident, or --all)");
    if (a->ident == NULL)
        return cli_usage(CMD, "--ident ID is required");
    return -1;
}

/* Writes all of s to fd; false on an error. */
static bool write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

/*
 * 3. The card holders' approval (cmd_batch.h; approve below is the transfer_approve_fn, whose
 * ctx is the args): with --yes the request
 * goes to stderr for the log and is approved; otherwise it is shown at the terminal (/dev/tty,
 * where the PINs will be asked) and only "yes" approves. Type-ahead is dropped first, so that
 * nothing typed before the request was shown can answer it. No terminal and no --yes: refused.
 */
kt_rc cli_approve_text(bool yes, const char *text, kt_err *e)
{
    char answer[16];
    size_t n = 0;
    bool over = false;

    if (yes) {
        fprintf(stderr, "%s  approved with --yes\n", text);
        return KT_OK;
    }
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        fputs(text, stderr);
        return kt_fail(e, KT_EUSAGE,
                       "there is no terminal to ask the card holders whether they approve the "
                       "request above; nothing was signed. A script that has shown it to them "
                       "gives --yes");
    }
    (void)tcflush(fd, TCIFLUSH);
    if (!write_all(fd, text) ||
        !write_all(fd, "Type yes to approve and go on to the administrator cards, anything else "
                       "to cancel: ")) {
        close(fd);
        return kt_fail_errno(e, KT_EIO, errno, "cannot write to the terminal");
    }
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        if (n < sizeof answer - 1)
            answer[n++] = c;
        else
            over = true;
    }
    answer[n] = '\0';
    while (n > 0 && (answer[n - 1] == '\r' || answer[n - 1] == ' '))
        answer[--n] = '\0';
    close(fd);
    if (!over && strcasecmp(answer, "yes") == 0)
        return KT_OK;
    return kt_fail(e, KT_EDENIED,
                   "not approved at the terminal (the answer was not 'yes'): no card was read, "
                   "nothing was signed or written");
}

static kt_rc approve(void *ctx, const transfer_approval *ap, kt_err *e)
{
    const args *a = ctx;
    char text[TRANSFER_APPROVAL_TEXT_MAX];

    transfer_approval_format(ap, text, sizeof text);
    return cli_approve_text(a->yes, text, e);
}

/* 4. Output. */
static int print_result(const args *a, const transfer_kek *k, const world_key_info *info)
{
    char fp[65], world[65], key_world[65], hash[65], root[65], acl[2 * WORLD_ACL_KID_MAX + 256];
    kt_hex(fp, k->fp, 32);
    kt_hex(world, k->world_hash, 32);
    kt_hex(key_world, info->world_hash, 32);
    kt_hex(hash, info->key_hash, 32);
    kt_hex(root, k->root_sha256, 32);
    world_acl_format(&info->acl, acl, sizeof acl);
    const char *src_app = a->token != NULL ? "token"
                          : a->app != NULL ? a->app
                                           : WORLD_KEY_APP_DEFAULT;
    char attested[CLI_ATTESTED_MAX];
    cli_kek_attested(k, attested);

    if (a->json) {
        json_t *v = json_pack(
            "{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s}, s:s, s:{s:s, "
            "s:s, s:b, s:o, s:i}, s:o, s:s}",
            "format", "keytransfer-modify-acls/1", "result", "SUCCESS", "key", "app", info->app,
            "ident", info->ident, "file", info->path, "key_hash", hash, "source", "app", src_app,
            "ident", info->ident, "acl", acl, "kek", "kid", k->kid, "sha256", fp, "attested",
            k->attested, "attestation",
            k->attested ? json_pack("{s:s, s:s}", "root", k->root_name, "root_sha256", root)
                        : json_null(),
            "bits", (int)k->bits, "target_world_hash",
            k->attested ? json_string(world) : json_null(), "world_hash", key_world);
        return cli_print_json(v);
    }
    printf("Key %s/%s written, its ACL reduced and signed by the administrator quorum (KNSO)\n"
           "  file         %s\n"
           "  source key   %s/%s, unchanged (keep it as the backup)\n"
           "  ACL          %s\n"
           "  KEK          %s\n"
           "  KEK SHA-256  %s (%s)\n"
           "  target world %s\n"
           "  key hash     %s\n"
           "\nResult: SUCCESS\n",
           info->app, info->ident, info->path, src_app, info->ident, acl,
           k->kid[0] ? k->kid : "(no kid given)", fp, attested,
           k->attested ? world : "none (an unattested KEK has no world to bind)", hash);
    return fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_IO;
}

int cmd_modify_acls(int argc, char **argv)
{
    args a;
    transfer_reduce_opts o = {0};
    cli_transfer t;
    world_key_info info;
    cli_pins pins;
    kt_err e;
    int status = parse_args(argc, argv, &a);

    /* 1. options */
    if (status >= 0) {
        free(a.idents);
        return status;
    }
    kt_err_clear(&e);
    if (a.batch) {
        for (size_t i = 0; i < a.nidents; i++)
            if (world_key_check_ident(a.idents[i], &e) != KT_OK) {
                free(a.idents);
                return cli_usage(CMD, "%s", e.msg);
            }
        if (transfer_idents_unique(a.idents, a.nidents, &e) != KT_OK) {
            free(a.idents);
            return cli_usage(CMD, "%s", e.msg);
        }
        if (a.app != NULL && world_key_check_app(a.app, &e) != KT_OK) {
            free(a.idents);
            return cli_report(&e);
        }
        const cli_reduce_batch b = {.idents = a.idents,
                                    .n = a.nidents,
                                    .all = a.all,
                                    .app = a.app,
                                    .kmdata = a.kmdata,
                                    .pin_file = a.pin_file,
                                    .pin_fd = a.pin_fd,
                                    .cards = a.cards,
                                    .ncards = a.ncards,
                                    .yes = a.yes,
                                    .stop_on_error = a.stop_on_error,
                                    .json = a.json,
                                    .kek = &a.kek};
        status = cmd_modify_acls_batch(&b);
        free(a.idents);
        return status;
    }
    if (world_key_check_ident(a.ident, &e) != KT_OK ||
        (a.app != NULL && world_key_check_app(a.app, &e) != KT_OK))
        return cli_report(&e);

    /* 2. inputs: the KEK (verified, or accepted by fingerprint), the module, the PIN source.
     * Cards are asked for after the KEK, so that an unattested KEK's fingerprint can be read
     * (and compared out of band) before the card holders are called in. */
    if ((status = cli_transfer_open(&a.kek, 0, a.kmdata, true, CMD, &t)) >= 0)
        return status;
    if (a.ncards == 0) {
        cli_transfer_close(&t);
        return cli_usage(CMD, "give the administrator cards of the quorum with --card PATH");
    }
    if (cli_pins_open(&pins, a.pin_file, a.pin_fd, &e) != KT_OK) {
        cli_transfer_close(&t);
        return cli_report(&e);
    }

    /* 3. operation */
    o.app = a.app;
    o.ident = a.ident;
    o.cards = a.cards;
    o.ncards = a.ncards;
    o.pin = cli_pin_for_card;
    o.pin_ctx = &pins;
    o.approve = approve;
    o.approve_ctx = &a;
    kt_rc rc = a.token != NULL ? cli_token_modify_acls(&t.p, &t.m, &t.kek, a.token, a.ident, &pins,
                                                       a.cards, a.ncards, approve, &a, &info, &e)
                               : transfer_reduce(&t.p, &t.m, &t.kek, &o, &info, &e);
    cli_pins_close(&pins);
    cli_transfer_close_world(&t);

    /* 4. output */
    status = rc == KT_OK ? print_result(&a, &t.kek, &info) : cli_report(&e);
    transfer_kek_free(&t.kek);
    return status;
}
