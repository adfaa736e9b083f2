/*
 * cmd_audit.c - `keytransfer audit show|verify`: read the world's audit log (who did what, with
 * which cards) and check it whole: chain, sequence, signatures and head.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_LOG = OPT_SHARED_END, OPT_HEAD };

static const cli_opt audit_opts[] = {
    CLI_OPT_KMDATA,
    {OPT_LOG, "log", CLI_VALUE, "FILE",
     "a log file other than KMDATA/local/audit (one moved aside),\nchecked against the world of "
     "KMDATA"},
    CLI_OPT_JSON,
    {0},
};

static const cli_opt verify_opts[] = {
    CLI_OPT_KMDATA,
    {OPT_LOG, "log", CLI_VALUE, "FILE",
     "a log file other than KMDATA/local/audit (one moved aside),\nchecked against the world of "
     "KMDATA"},
    {OPT_HEAD, "head", CLI_VALUE, "HASH",
     "a head hash noted earlier (64 hex digits): the log must still\nhold that entry, so it "
     "was not rolled back or replaced"},
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd show_cmd = {
    .name = "audit show",
    .synopsis = "[--kmdata DIR] [--log FILE] [--json]",
    .about = "Show the audit log, entry by entry: sequence number, time, operation, the cards "
             "used and\nthe details. The log is verified first: a damaged log is not shown as if "
             "it were whole.",
    .opts = audit_opts,
};

static const cli_cmd verify_cmd = {
    .name = "audit verify",
    .synopsis = "[--kmdata DIR] [--log FILE] [--head HASH] [--json]",
    .about = "Verify the audit log: every entry in sequence, chained to the one before, signed by "
             "the\nmodule key (and by KNSO for quorum operations), and the signed head that counts "
             "them.\nExit 1 names the first bad entry: one removed, changed, moved or cut off. "
             "With --head,\nthe entry a noted head hash names must still be in the log.",
    .opts = verify_opts,
};

/* Reads and checks the log; the caller frees log. */
static kt_rc load(const char *kmdata, const char *file, world_info *info, world_audit_log *log,
                  kt_err *e)
{
    world_paths p;
    world_lock lock;
    kt_rc rc = cli_world_open(kmdata, NULL, false, false, &p, &lock, e);
    if (rc == KT_OK)
        rc = world_load_info(&p, info, e);
    if (rc == KT_OK && file == NULL) {
        rc = world_audit_read(&p, info, log, e);
    } else if (rc == KT_OK) {
        kt_buf raw = {0};
        if ((rc = kt_file_read(file, WORLD_AUDIT_FILE_MAX, &raw, e)) == KT_OK &&
            (rc = world_audit_parse(raw.p, raw.len, info, log, e)) != KT_OK)
            kt_err_prefix(e, "%s", file);
        kt_buf_free(&raw);
    }
    world_lock_release(&lock);
    return rc;
}

static json_t *entry_json(const world_audit_entry *en)
{
    char when[32], hash[65];
    json_t *cards = json_array(), *detail = NULL;
    kt_err ignored;
    kt_time_iso8601(when, sizeof when, en->time);
    kt_hex(hash, en->hash, 32);
    for (size_t i = 0; cards != NULL && i < en->ncards; i++)
        json_array_append_new(cards, json_integer(en->cards[i]));
    if (kt_json_parse((const uint8_t *)en->detail, strlen(en->detail), WORLD_AUDIT_DETAIL_MAX,
                      &detail, &ignored) != KT_OK)
        detail = json_object();
    return json_pack("{s:I, s:s, s:I, s:s, s:o, s:o, s:i, s:b, s:s}", "seq", (json_int_t)en->seq,
                     "time", when, "time_unix", (json_int_t)en->time, "op", en->op, "detail",
                     detail, "cards", cards, "card_set", (int)en->cardset, "knso_signed",
                     en->knso_signed, "hash", hash);
}

/* The start of show and verify: options, then the log read and verified (load). noted (NULL
 * for a command without --head) receives the head hash --head gives, *noted_given whether it was
 * given. -1 goes on with the log to free, else the exit status. */
static int open_log(const cli_cmd *cmd, int argc, char **argv, world_info *info,
                    world_audit_log *log, bool *json, uint8_t noted[WORLD_HASH_LEN],
                    bool *noted_given)
{
    cli_args c;
    kt_err e;
    int status = cli_parse(cmd, argc, argv, &c);

    if (status >= 0)
        return status;
    const char *kmdata = cli_value(&c, OPT_KMDATA), *file = cli_value(&c, OPT_LOG);
    const char *noted_hex = noted != NULL ? cli_value(&c, OPT_HEAD) : NULL;
    *json = cli_flag(&c, OPT_JSON);
    if (noted_given != NULL)
        *noted_given = noted_hex != NULL;
    kt_err_clear(&e);
    if (noted_hex != NULL &&
        (strlen(noted_hex) != 64 || kt_unhex(noted, WORLD_HASH_LEN, noted_hex, &e) != KT_OK)) {
        cli_args_free(&c);
        return cli_usage(cmd->name, "--head takes the 64 hex digits of a head hash");
    }
    kt_rc rc = load(kmdata, file, info, log, &e);
    cli_args_free(&c);
    return rc == KT_OK ? -1 : cli_report(&e);
}

static int audit_show(int argc, char **argv)
{
    world_info info;
    world_audit_log log;
    bool json;
    int status = open_log(&show_cmd, argc, argv, &info, &log, &json, NULL, NULL);

    if (status >= 0)
        return status;
    if (json) {
        json_t *list = json_array();
        char head[65], hash[65];
        for (size_t i = 0; i < log.n; i++)
            json_array_append_new(list, entry_json(&log.entries[i]));
        kt_hex(head, log.head, 32);
        kt_hex(hash, info.hash, 32);
        world_audit_log_free(&log);
        return cli_print_json(json_pack("{s:s, s:s, s:s, s:o}", "format", "keytransfer-audit/1",
                                        "world_hash", hash, "head", head, "entries", list));
    }
    for (size_t i = 0; i < log.n; i++) {
        const world_audit_entry *en = &log.entries[i];
        char when[32], cards[WORLD_MAX_CARDS * 4 + 32] = "";
        size_t off = 0;
        kt_time_iso8601(when, sizeof when, en->time);
        if (en->ncards > 0)
            off += (size_t)snprintf(cards, sizeof cards, " cards(set %u):", (unsigned)en->cardset);
        for (size_t j = 0; j < en->ncards && off < sizeof cards; j++)
            off += (size_t)snprintf(cards + off, sizeof cards - off, "%s%u", j ? "," : "",
                                    en->cards[j]);
        printf("%6llu  %s  %-20s%s%s  %s\n", (unsigned long long)en->seq, when, en->op, cards,
               en->knso_signed ? " [quorum]" : "", en->detail);
    }
    world_audit_log_free(&log);
    return KT_EXIT_OK;
}

static int audit_verify(int argc, char **argv)
{
    world_info info;
    world_audit_log log;
    bool json, noted_given;
    uint8_t noted[WORLD_HASH_LEN];
    int status = open_log(&verify_cmd, argc, argv, &info, &log, &json, noted, &noted_given);

    if (status >= 0)
        return status;
    size_t at = 0; /* 1-based position of the noted head, 0 when not found */
    for (size_t i = 0; noted_given && i < log.n && at == 0; i++)
        if (kt_ct_equal(log.entries[i].hash, noted, WORLD_HASH_LEN))
            at = i + 1;
    if (noted_given && at == 0) {
        char now[65];
        kt_hex(now, log.head, WORLD_HASH_LEN);
        cli_note("the log holds %zu entries; its head is %s", log.n, now);
        world_audit_log_free(&log);
        return cli_report(&(kt_err){
            KT_EDENIED, "the log verifies on its own, but holds no entry with the head hash you "
                        "noted: it was rolled back to an earlier copy or replaced by another "
                        "history. Compare it with your backups"});
    }
    char head[65];
    kt_hex(head, log.head, 32);
    bool begun_late = log.n > 0 && strcmp(log.entries[0].op, "world new") != 0;
    size_t n = log.n;
    world_audit_log_free(&log);
    if (begun_late)
        cli_note("the log does not begin with the world's creation: the history before its first "
                 "entry is not in it");
    if (json) {
        json_t *v =
            json_pack("{s:s, s:b, s:i, s:s, s:b}", "format", "keytransfer-audit-verify/1", "ok", 1,
                      "entries", (int)n, "head", head, "complete_history", !begun_late);
        if (v != NULL && noted_given)
            json_object_set_new(v, "noted_head_entry", json_integer((json_int_t)at));
        return cli_print_json(v);
    }
    printf("Audit log verified: %zu entries, in sequence, chained, signed; head %s\n", n, head);
    if (noted_given)
        printf("The noted head is entry %zu: %zu entr%s added since.\n", at, n - at,
               n - at == 1 ? "y" : "ies");
    return KT_EXIT_OK;
}

static const cli_entry subcommands[] = {
    {"show", audit_show, "show the audit log (verified first)"},
    {"verify", audit_verify, "verify the audit log; exit 1 names the first bad entry"},
};

int cmd_audit(int argc, char **argv)
{
    return cli_dispatch("audit", subcommands, sizeof subcommands / sizeof subcommands[0], argc,
                        argv);
}
