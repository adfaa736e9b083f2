/*
 * batch.c - the transfer step for many keys (batch.h): `keytransfer package` with several --ident
 * or --all-reduced, `keytransfer modify-acls` with several --ident or --all. Each key goes
 * through the same code as one key (transfer_package, transfer_reduce_check and
 * transfer_reduce_write); what is shared is opened once (the KEK, the module, the quorum) and
 * the commit protocol's fixed costs are paid once per group of keys.
 */
#include "batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void transfer_idents_free(transfer_idents *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static kt_rc idents_add(transfer_idents *l, const char *ident, kt_err *e)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (v == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    l->v = v;
    if ((v[l->n] = strdup(ident)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    l->n++;
    return KT_OK;
}

kt_rc transfer_list_reduced(const world_paths *p, const world_module *m, const transfer_kek *k,
                            transfer_idents *out, kt_err *e)
{
    world_key_entry *keys = NULL;
    size_t n = 0;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = world_key_list(p, m, &keys, &n, e)) != KT_OK)
        return rc;
    /* world_key_list sorts by app, then ident. */
    for (size_t i = 0; rc == KT_OK && i < n; i++) {
        const world_key_info *in = &keys[i].info;
        if (keys[i].rc == KT_OK && transfer_is_record_app(in->app) && in->acl_signed &&
            transfer_acl_is_for(&in->acl, k, NULL, 0))
            rc = idents_add(out, in->ident, e);
    }
    free(keys);
    if (rc != KT_OK)
        transfer_idents_free(out);
    return rc;
}

kt_rc transfer_list_unreduced(const world_paths *p, const world_module *m, const transfer_kek *k,
                              const char *app, transfer_idents *out, size_t *skipped, kt_err *e)
{
    world_key_entry *keys = NULL;
    size_t n = 0;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    *skipped = 0;
    app = app != NULL ? app : WORLD_KEY_APP_DEFAULT;
    if ((rc = world_key_list(p, m, &keys, &n, e)) != KT_OK)
        return rc;
    for (size_t i = 0; rc == KT_OK && i < n; i++) {
        const world_key_info *in = &keys[i].info;
        if (keys[i].rc != KT_OK || strcmp(in->app, app) != 0)
            continue;
        /* Already reduced for this KEK: a record of this ident whose signed ACL is for k. */
        bool reduced = false;
        for (size_t j = 0; j < n && !reduced; j++)
            reduced = keys[j].rc == KT_OK && transfer_is_record_app(keys[j].info.app) &&
                      strcmp(keys[j].info.ident, in->ident) == 0 && keys[j].info.acl_signed &&
                      transfer_acl_is_for(&keys[j].info.acl, k, NULL, 0);
        if (reduced)
            (*skipped)++;
        else
            rc = idents_add(out, in->ident, e);
    }
    free(keys);
    if (rc != KT_OK)
        transfer_idents_free(out);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

kt_rc transfer_idents_unique(const char *const *idents, size_t n, kt_err *e)
{
    const char **v;
    kt_rc rc = KT_OK;

    if (n < 2)
        return KT_OK;
    if ((v = malloc(n * sizeof *v)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    memcpy(v, idents, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 1; i < n && rc == KT_OK; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            rc = kt_fail(e, KT_EUSAGE, "key %s is named twice; name each key once", v[i]);
    free(v);
    return rc;
}

/* ---- package ------------------------------------------------------------------------------ */

/* A key staged in the open group, told once the group is committed. */
typedef struct staged {
    const char *ident;
    char name[PKG_KEY_NAME_MAX + 1];
    transfer_package_result r;
} staged;

/* Commits the open group (t) and tells its keys' outcomes. A failure before the commit point
 * undoes the group: its keys are counted as skipped and the failure returned. */
/* Stages the group's audit entries (one "package" entry per key, in order) into t's local
 * folder (its second). */
static kt_rc stage_group_audit(kt_txn *t, const world_paths *p, const world_module *m,
                               const transfer_kek *k, const transfer_batch_opts *o, const staged *g,
                               size_t ng, kt_err *e)
{
    transfer_target target = o->target != 0 ? o->target : TRANSFER_AZURE;
    world_audit_op *ops = calloc(ng, sizeof *ops);
    json_t **details = calloc(ng, sizeof *details);
    kt_rc rc = ops == NULL || details == NULL ? kt_fail(e, KT_ENOMEM, "out of memory") : KT_OK;

    for (size_t i = 0; rc == KT_OK && i < ng; i++) {
        details[i] = transfer_package_audit_detail(k, &g[i].r.key, target, &g[i].r);
        ops[i] = (world_audit_op){.op = "package", .detail = details[i]};
        if (details[i] == NULL)
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
    }
    const world_audit_signer signer = {.info = &m->info, .module_sk = &m->module_sk};
    if (rc == KT_OK)
        rc = world_audit_stage_many(t, 1, p, &signer, ops, ng, e);
    for (size_t i = 0; details != NULL && i < ng; i++)
        json_decref(details[i]);
    free(details);
    free(ops);
    return rc;
}

static kt_rc commit_group(kt_txn **t, staged *g, size_t *ng, const world_paths *p,
                          const world_module *m, const transfer_kek *k,
                          const transfer_batch_opts *o, transfer_batch_summary *s, kt_err *e)
{
    bool committed = false;
    kt_rc rc = KT_OK;

    if (*t == NULL)
        return KT_OK;
    if (*ng > 0 && (rc = stage_group_audit(*t, p, m, k, o, g, *ng, e)) == KT_OK)
        rc = kt_txn_commit(*t, &committed, e);
    kt_txn_free(*t);
    *t = NULL;
    for (size_t i = 0; i < *ng; i++) {
        if (!committed) {
            s->skipped++;
            continue;
        }
        g[i].r.committed = true;
        s->written++;
        o->done(o->done_ctx, g[i].ident, g[i].name, KT_OK, NULL, &g[i].r);
    }
    *ng = 0;
    return rc;
}

/* A group's change: the packages' folder, and kmdata's local folder for the audit log. */
static kt_rc begin_group(kt_txn **t, const world_paths *p, const transfer_batch_opts *o,
                         size_t first, kt_err *e)
{
    const char *dirs[2] = {o->out_dir != NULL ? o->out_dir : ".", p->local};
    char what[64];

    kt_rc rc;

    snprintf(what, sizeof what, "package batch from key %zu of %zu", first + 1, o->n);
    if ((rc = kt_txn_begin(t, what, dirs, 2, true, o->report, o->report_ctx, e)) != KT_OK)
        return rc;
    /* one syncfs for the group's files instead of an fsync each (docs/formats.md) */
    if ((rc = kt_txn_group_sync(*t, e)) != KT_OK) {
        kt_txn_free(*t);
        *t = NULL;
    }
    return rc;
}

/* The package name of a key: the prefix and the ident, checked. */
static kt_rc batch_name(const char *prefix, const char *ident, char *out, size_t outsz, kt_err *e)
{
    int n = snprintf(out, outsz, "%s%s", prefix != NULL ? prefix : "", ident);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "the package name %s%s is longer than %zu characters",
                       prefix != NULL ? prefix : "", ident, outsz - 1);
    return transfer_check_name(out, e);
}

kt_rc transfer_package_batch(const world_paths *p, const world_module *m, const transfer_kek *k,
                             const transfer_batch_opts *o, transfer_batch_summary *s, kt_err *e)
{
    size_t group = o->group != 0 ? o->group : TRANSFER_BATCH_GROUP;
    staged *g = NULL;
    size_t ng = 0, i;
    kt_txn *t = NULL;
    kt_rc rc = KT_OK;

    memset(s, 0, sizeof *s);
    if (o->done == NULL)
        return kt_fail(e, KT_EUSAGE, "a batch needs a callback for each key's outcome");
    if (group > TRANSFER_BATCH_GROUP_MAX)
        return kt_fail(e, KT_EUSAGE, "a group holds 1 to %d keys", TRANSFER_BATCH_GROUP_MAX);
    if (o->name_prefix != NULL && o->name_prefix[0] != '\0') {
        char probe[PKG_KEY_NAME_MAX + 1];
        if ((rc = batch_name(o->name_prefix, "x", probe, sizeof probe, e)) != KT_OK)
            return rc;
    }
    if ((rc = transfer_idents_unique(o->idents, o->n, e)) != KT_OK)
        return rc;
    if ((g = calloc(group, sizeof *g)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");

    for (i = 0; i < o->n; i++) {
        transfer_package_opts po = {.ident = o->idents[i],
                                    .target = o->target,
                                    .hash = o->hash,
                                    .aws_wrapping = o->aws_wrapping,
                                    .subscription = o->subscription,
                                    .out_dir = o->out_dir,
                                    .now = o->now,
                                    .report = o->report,
                                    .report_ctx = o->report_ctx};
        staged *x = &g[ng];
        kt_err ke;
        kt_rc krc;

        if (o->progress != NULL)
            o->progress(o->progress_ctx, "package", i, o->n);
        kt_err_clear(&ke);
        if (t == NULL && (rc = begin_group(&t, p, o, i, e)) != KT_OK)
            break;
        x->ident = o->idents[i];
        po.txn = t;
        po.name = x->name;
        if ((krc = batch_name(o->name_prefix, o->idents[i], x->name, sizeof x->name, &ke)) == KT_OK)
            krc = transfer_package(p, m, k, &po, &x->r, &ke);
        if (krc != KT_OK && x->r.txn_broken) {
            /* A partial entry in the group's change: undo the whole group and stop. */
            *e = ke;
            kt_txn_free(t);
            t = NULL;
            s->skipped += ng + 1;
            ng = 0;
            rc = krc;
            i++;
            break;
        }
        if (krc != KT_OK) {
            if (s->failed++ == 0)
                s->first_rc = krc;
            o->done(o->done_ctx, o->idents[i], x->name, krc, &ke, NULL);
            if (o->stop_on_error) {
                i++;
                break;
            }
            continue;
        }
        if (x->r.earlier) {
            s->earlier++;
            o->done(o->done_ctx, o->idents[i], x->name, KT_OK, NULL, &x->r);
            continue;
        }
        if (++ng == group && (rc = commit_group(&t, g, &ng, p, m, k, o, s, e)) != KT_OK) {
            i++;
            break;
        }
    }
    if (rc == KT_OK)
        rc = commit_group(&t, g, &ng, p, m, k, o, s, e);
    else
        kt_txn_free(t); /* an uncommitted group is undone */
    s->skipped += ng + (o->n - i);
    if (o->progress != NULL && rc == KT_OK)
        o->progress(o->progress_ctx, "package", o->n, o->n);
    for (size_t j = 0; j < group; j++)
        memset(&g[j].r, 0, sizeof g[j].r);
    free(g);
    return rc;
}

/* ---- modify-acls -------------------------------------------------------------------------- */

/* Appends printf output to a heap string; false when out of memory. */
static bool append(char **s, size_t *len, size_t *cap, const char *fmt, ...) KT_PRINTF(4, 5);

static bool append(char **s, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if (*len + (size_t)n + 1 > *cap) {
        size_t ncap = (*cap + (size_t)n + 1) * 2;
        char *p = realloc(*s, ncap);
        if (p == NULL)
            return false;
        *s = p;
        *cap = ncap;
    }
    va_start(ap, fmt);
    vsnprintf(*s + *len, *cap - *len, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
    return true;
}

char *transfer_batch_approval_text(const transfer_batch_approval *a)
{
    char first[TRANSFER_APPROVAL_TEXT_MAX], hash[65], type[48];
    char *s = NULL;
    size_t len = 0, cap = 0;
    bool ok;

    if (a->n == 0)
        return strdup("No key to reduce.\n");
    const transfer_approval one = {.key = a->keys[0], .kek = a->kek, .acl = a->acl};
    transfer_approval_format(&one, first, sizeof first);
    ok = append(&s, &len, &cap,
                "Reduce the ACLs of %zu keys for one KEK. Each key gets the same new ACL; the "
                "request for the first key in full:\n%s",
                a->n, first);
    ok = ok && append(&s, &len, &cap, "Every key of this request (%zu):\n", a->n);
    for (size_t i = 0; ok && i < a->n; i++) {
        const world_key_info *in = a->keys[i];
        kt_hex(hash, in->key_hash, 32);
        if (in->type == WORLD_KEY_EC)
            snprintf(type, sizeof type, "EC %s", in->curve);
        else
            snprintf(type, sizeof type, "%s-%u", world_key_type_name(in->type), in->bits);
        ok = append(&s, &len, &cap, "  %4zu  %s/%s  %s  key hash %s  -> key_%s_%s\n", i + 1,
                    in->app, in->ident, type, hash,
                    a->apps != NULL && a->apps[i] != NULL ? a->apps[i] : TRANSFER_APP, in->ident);
    }
    if (!ok) {
        free(s);
        return NULL;
    }
    return s;
}

kt_rc transfer_reduce_batch(const world_paths *p, const world_module *m, const transfer_kek *k,
                            const transfer_reduce_batch_opts *o, transfer_batch_summary *s,
                            kt_err *e)
{
    world_key *keys = NULL;
    const world_key_info **infos = NULL;
    const char **idents = NULL;
    char(*apps)[WORLD_KEY_APP_MAX + 1] = NULL;
    const char **app_names = NULL;
    world_admin admin = {0};
    world_acl acl;
    size_t n = 0, i;
    kt_rc rc = KT_OK;

    memset(s, 0, sizeof *s);
    if (o->approve == NULL || o->done == NULL)
        return kt_fail(e, KT_EUSAGE,
                       "nobody approves blind: a batch needs an approve callback that shows the "
                       "request to the card holders, and one for each key's outcome");
    if (o->n == 0)
        return kt_fail(e, KT_EUSAGE, "no key to reduce");
    if ((rc = transfer_idents_unique(o->idents, o->n, e)) != KT_OK)
        return rc;
    if ((keys = calloc(o->n, sizeof *keys)) == NULL ||
        (infos = calloc(o->n, sizeof *infos)) == NULL ||
        (idents = calloc(o->n, sizeof *idents)) == NULL ||
        (apps = calloc(o->n, sizeof *apps)) == NULL ||
        (app_names = calloc(o->n, sizeof *app_names)) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }

    /* 1. Every check that can say no, for every key, before the first card is read. */
    for (i = 0; i < o->n; i++) {
        kt_err ke;
        kt_rc krc;

        kt_err_clear(&ke);
        krc = transfer_reduce_check(p, m, k, o->app, o->idents[i], &keys[n], &acl, apps[n], &ke);
        if (krc != KT_OK) {
            if (s->failed++ == 0)
                s->first_rc = krc;
            o->done(o->done_ctx, o->idents[i], krc, &ke, NULL);
            if (o->stop_on_error) {
                s->skipped = o->n - i - 1 + n;
                rc = kt_fail(e, krc, "stopped at key %s (--stop-on-error): nothing was signed",
                             o->idents[i]);
                goto out;
            }
            continue;
        }
        infos[n] = &keys[n].info;
        app_names[n] = apps[n];
        idents[n] = o->idents[i];
        n++;
    }
    if (n == 0) {
        rc = kt_fail(e, s->first_rc != KT_OK ? s->first_rc : KT_EUSAGE,
                     "no key passed its checks: nothing to approve, no card was read");
        goto out;
    }

    /* 2. The card holders see every key before anyone types a PIN. */
    const transfer_batch_approval ap = {
        .kek = k, .acl = &acl, .keys = infos, .apps = app_names, .n = n};
    if ((rc = o->approve(o->approve_ctx, &ap, e)) != KT_OK) {
        s->skipped = n;
        goto out;
    }

    /* 3. One opening of the quorum; KNSO signs each key's reduced ACL. */
    if ((rc = world_admin_open(p, o->cards, o->ncards, o->pin, o->pin_ctx, &admin, e)) != KT_OK) {
        s->skipped = n;
        goto out;
    }
    for (i = 0; i < n; i++) {
        world_key_info info;
        kt_err ke;
        kt_rc krc;

        kt_err_clear(&ke);
        krc = transfer_reduce_write(p, m, k, &admin, &keys[i], &acl, apps[i], &info, &ke);
        if (krc == KT_OK) {
            s->written++;
            o->done(o->done_ctx, idents[i], KT_OK, NULL, &info);
        } else {
            if (s->failed++ == 0)
                s->first_rc = krc;
            o->done(o->done_ctx, idents[i], krc, &ke, NULL);
        }
    }
out:
    world_admin_close(&admin);
    if (keys != NULL)
        for (i = 0; i < o->n; i++)
            world_key_free(&keys[i]);
    free(keys);
    free(infos);
    free(idents);
    free(apps);
    free(app_names);
    return rc;
}
