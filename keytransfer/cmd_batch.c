/*
 * cmd_batch.c - the batch forms of `keytransfer package` and `keytransfer modify-acls`
 * (cmd_batch.h): open the KEK, the world and the module once, run transfer_package_batch or
 * transfer_reduce_batch (batch.c), show progress on stderr at a terminal, and print a summary
 * of every key (or --json). A key that is refused is named with the reason; the exit status is
 * that of the first refused key (1 for a refusal), or of the failure that stopped the batch.
 */
#include "batch.h"
#include "cmd_batch.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What the callbacks collect for the summary. */
typedef struct collect {
    json_t *keys; /* one object per key, in order */
    bool oom;
} collect;

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static void add(collect *c, json_t *v)
{
    if (v == NULL || json_array_append_new(c->keys, v) != 0)
        c->oom = true;
}

static void package_done(void *ctx, const char *ident, const char *name, kt_rc rc,
                         const kt_err *err, const transfer_package_result *r)
{
    collect *c = ctx;
    char sha[65];

    if (rc != KT_OK) {
        add(c, json_pack("{s:s, s:s, s:s, s:s, s:i}", "ident", ident, "name", name, "result",
                         "REFUSED", "error", err->msg, "exit", kt_rc_exit(rc)));
        return;
    }
    kt_hex(sha, r->package_sha256, 32);
    add(c, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ident", ident, "name", name, "result",
                     r->earlier ? "EARLIER" : "WRITTEN", "package_file", r->package_path,
                     "manifest_file", r->manifest_path, "package_sha256", sha));
}

/* The summary on stdout (text or JSON) and the refusals on stderr; returns the exit status. */
static int print_summary(const char *format, const char *verb, collect *c,
                         const transfer_batch_summary *s, kt_rc stopped, const kt_err *e, bool json,
                         bool told)
{
    size_t i, total = json_array_size(c->keys);
    json_t *v;
    const char *result = stopped != KT_OK ? "FAILED" : s->failed > 0 ? "PARTIAL" : "SUCCESS";
    int status = KT_EXIT_OK;

    if (c->oom) {
        json_decref(c->keys);
        fprintf(stderr, "%s: out of memory for the summary\n", cli_name());
        return kt_rc_exit(KT_ENOMEM);
    }
    json_array_foreach(c->keys, i, v)
    {
        if (!told && strcmp(json_string_value(json_object_get(v, "result")), "REFUSED") == 0)
            fprintf(stderr, "%s: key %s was not %s: %s\n", cli_name(),
                    json_string_value(json_object_get(v, "ident")), verb,
                    json_string_value(json_object_get(v, "error")));
    }
    if (stopped != KT_OK)
        status = cli_report(e);
    else if (s->failed > 0)
        status = kt_rc_exit(s->first_rc);

    if (json) {
        json_t *out =
            json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o}", "format", format, "result",
                      result, "written", (int)s->written, "earlier", (int)s->earlier, "refused",
                      (int)s->failed, "skipped", (int)s->skipped, "keys", c->keys, "error",
                      stopped != KT_OK ? json_string(e->msg) : json_null());
        int st = cli_print_json(out);
        return status != KT_EXIT_OK ? status : st;
    }
    json_array_foreach(c->keys, i, v)
    {
        const char *r = json_string_value(json_object_get(v, "result"));
        const char *file = json_string_value(json_object_get(v, "package_file"));
        if (file == NULL)
            file = json_string_value(json_object_get(v, "file"));
        printf("  %-8s %s%s%s\n",
               strcmp(r, "WRITTEN") == 0   ? "written"
               : strcmp(r, "EARLIER") == 0 ? "earlier"
                                           : "REFUSED",
               json_string_value(json_object_get(v, "ident")), file != NULL ? "  " : "",
               file != NULL ? base_name(file) : "");
    }
    printf("\n%zu of %zu keys %s (%zu new, %zu by an earlier run), %zu refused, %zu not tried\n"
           "Result: %s\n",
           s->written + s->earlier, total + s->skipped, verb, s->written, s->earlier, s->failed,
           s->skipped, result);
    json_decref(c->keys);
    if (fflush(stdout) != 0 && status == KT_EXIT_OK)
        status = KT_EXIT_IO;
    return status;
}

int cli_transfer_open(const transfer_kek_source *src, uint64_t now, const char *kmdata,
                      bool exclusive, const char *cmd, cli_transfer *t)
{
    transfer_kek *kek = &t->kek;
    kt_err e;

    kt_err_clear(&e);
    if (transfer_kek_open(src, now != 0 ? now : (uint64_t)time(NULL), kek, &e) != KT_OK) {
        if (e.rc == KT_EUSAGE)
            return cli_usage(cmd, "%s", e.msg);
        return cli_report(&e);
    }
    if (!kek->attested)
        cli_warn("the KEK is not attested by any HSM vendor; you accepted it by its fingerprint");
    else if (kek->root_is_demo)
        cli_warn("--demo: the KEK is vouched for by the DEMO root, whose private key is public; "
                 "this is a demonstration, not a transfer");
    if (cli_world_open(kmdata, NULL, exclusive, false, &t->p, &t->lock, &e) != KT_OK) {
        transfer_kek_free(kek);
        return cli_report(&e);
    }
    if (world_module_open(&t->p, &t->m, &e) != KT_OK) {
        world_lock_release(&t->lock);
        transfer_kek_free(kek);
        return cli_report(&e);
    }
    return -1;
}

void cli_transfer_close_world(cli_transfer *t)
{
    world_module_close(&t->m);
    world_lock_release(&t->lock);
}

void cli_transfer_close(cli_transfer *t)
{
    cli_transfer_close_world(t);
    transfer_kek_free(&t->kek);
}

int cmd_package_batch(const cli_package_batch *a)
{
    cli_transfer t;
    transfer_idents all = {0};
    transfer_batch_summary s;
    collect c = {0};
    kt_err e;
    unsigned long group = 0;
    int status;

    if (a->group != NULL && !cli_parse_uint(a->group, 1, TRANSFER_BATCH_GROUP_MAX, &group))
        return cli_usage("package", "--group is a number of keys from 1 to %d, not '%s'",
                         TRANSFER_BATCH_GROUP_MAX, a->group);
    if ((status = cli_transfer_open(a->kek, a->o->now, a->kmdata, false, "package", &t)) >= 0)
        return status;
    kt_err_clear(&e);
    transfer_batch_opts o = {.idents = a->idents,
                             .n = a->n,
                             .name_prefix = a->name_prefix,
                             .target = a->o->target,
                             .hash = a->o->hash,
                             .aws_wrapping = a->o->aws_wrapping,
                             .subscription = a->o->subscription,
                             .out_dir = a->o->out_dir,
                             .now = a->o->now,
                             .group = group,
                             .stop_on_error = a->stop_on_error,
                             .report = cli_txn_report,
                             .progress = kt_progress_stderr,
                             .done = package_done,
                             .done_ctx = &c};
    kt_rc rc = KT_OK;
    if (a->all_reduced) {
        rc = transfer_list_reduced(&t.p, &t.m, &t.kek, &all, &e);
        o.idents = (const char *const *)all.v;
        o.n = all.n;
        if (rc == KT_OK && all.n == 0)
            rc = kt_fail(&e, KT_EDENIED,
                         "no key of this world has been reduced for this KEK: run `keytransfer "
                         "modify-acls --all` for it first");
    }
    if (rc == KT_OK && (c.keys = json_array()) == NULL)
        rc = kt_fail(&e, KT_ENOMEM, "out of memory");
    if (rc != KT_OK) {
        cli_transfer_close(&t);
        transfer_idents_free(&all);
        return e.rc == KT_EUSAGE ? cli_usage("package", "%s", e.msg) : cli_report(&e);
    }
    rc = transfer_package_batch(&t.p, &t.m, &t.kek, &o, &s, &e);
    cli_transfer_close(&t);
    transfer_idents_free(&all);
    if (rc == KT_EUSAGE && s.written + s.earlier + s.failed == 0) {
        json_decref(c.keys);
        return cli_usage("package", "%s", e.msg);
    }
    return print_summary("keytransfer-package-batch/1", "packaged", &c, &s, rc, &e, a->json, false);
}

/* ---- modify-acls -------------------------------------------------------------------------- */

typedef struct reduce_ctx {
    collect c;
    bool yes;
} reduce_ctx;

static void reduce_done(void *ctx, const char *ident, kt_rc rc, const kt_err *err,
                        const world_key_info *info)
{
    collect *c = &((reduce_ctx *)ctx)->c;
    char hash[65];

    if (rc != KT_OK) {
        /* told at once: the card holders read it before the request they approve */
        fprintf(stderr, "%s: key %s will not be reduced: %s\n", cli_name(), ident, err->msg);
        add(c, json_pack("{s:s, s:s, s:s, s:i}", "ident", ident, "result", "REFUSED", "error",
                         err->msg, "exit", kt_rc_exit(rc)));
        return;
    }
    kt_hex(hash, info->key_hash, 32);
    add(c, json_pack("{s:s, s:s, s:s, s:s}", "ident", ident, "result", "WRITTEN", "file",
                     info->path, "key_hash", hash));
}

static kt_rc reduce_approve(void *ctx, const transfer_batch_approval *ap, kt_err *e)
{
    const reduce_ctx *r = ctx;
    char *text = transfer_batch_approval_text(ap);
    kt_rc rc;

    if (text == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    rc = cli_approve_text(r->yes, text, e);
    free(text);
    return rc;
}

int cmd_modify_acls_batch(const cli_reduce_batch *a)
{
    cli_transfer t;
    transfer_idents all = {0};
    transfer_batch_summary s;
    reduce_ctx ctx = {.yes = a->yes};
    cli_pins pins;
    kt_err e;
    int status;

    if (a->ncards == 0)
        return cli_usage("modify-acls", "give the administrator cards of the quorum with --card "
                                        "PATH");
    if ((status = cli_transfer_open(a->kek, 0, a->kmdata, true, "modify-acls", &t)) >= 0)
        return status;
    kt_err_clear(&e);
    transfer_reduce_batch_opts o = {.app = a->app,
                                    .idents = a->idents,
                                    .n = a->n,
                                    .cards = a->cards,
                                    .ncards = a->ncards,
                                    .pin = cli_pin_for_card,
                                    .pin_ctx = &pins,
                                    .approve = reduce_approve,
                                    .approve_ctx = &ctx,
                                    .stop_on_error = a->stop_on_error,
                                    .done = reduce_done,
                                    .done_ctx = &ctx};
    kt_rc rc = KT_OK;
    size_t skipped = 0;
    bool pins_open = false;
    if (a->all) {
        rc = transfer_list_unreduced(&t.p, &t.m, &t.kek, a->app, &all, &skipped, &e);
        o.idents = (const char *const *)all.v;
        o.n = all.n;
        if (rc == KT_OK && all.n == 0)
            rc = kt_fail(&e, KT_EUSAGE, "every key of app %s has been reduced already (%zu)",
                         a->app != NULL ? a->app : WORLD_KEY_APP_DEFAULT, skipped);
        else if (rc == KT_OK && skipped > 0)
            cli_note("%zu keys have a reduced copy already and are left as they are", skipped);
    }
    if (rc == KT_OK && (ctx.c.keys = json_array()) == NULL)
        rc = kt_fail(&e, KT_ENOMEM, "out of memory");
    if (rc == KT_OK && (rc = cli_pins_open(&pins, a->pin_file, a->pin_fd, &e)) == KT_OK)
        pins_open = true;
    if (rc == KT_OK)
        rc = transfer_reduce_batch(&t.p, &t.m, &t.kek, &o, &s, &e);
    if (pins_open)
        cli_pins_close(&pins);
    cli_transfer_close(&t);
    transfer_idents_free(&all);
    if (ctx.c.keys == NULL || (rc != KT_OK && json_array_size(ctx.c.keys) == 0)) {
        json_decref(ctx.c.keys);
        return e.rc == KT_EUSAGE ? cli_usage("modify-acls", "%s", e.msg) : cli_report(&e);
    }
    return print_summary("keytransfer-modify-acls-batch/1", "reduced", &ctx.c, &s, rc, &e, a->json,
                         true);
}

int cli_batch_idents(cli_args *c, int opt, bool all, const char **ident, const char ***idents,
                     size_t *n, bool *batch)
{
    kt_err e;

    kt_err_clear(&e);
    if (cli_values_copy(c, opt, idents, n, &e) != KT_OK) {
        cli_args_free(c);
        return cli_report(&e);
    }
    *ident = *n > 0 ? (*idents)[0] : NULL;
    *batch = *n > 1 || all;
    if (!*batch) { /* one key: *ident, which is argv's */
        free(*idents);
        *idents = NULL;
    }
    return -1;
}
