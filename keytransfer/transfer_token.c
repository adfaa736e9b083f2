/*
 * transfer_token.c - the transfer step for a key in a PKCS#11 token (transfer_token.h): bind the
 * token's SO PIN to the quorum, reduce (trusted KEK in the token, KNSO-signed record), package
 * (wrapped inside the token, the same files as a world key).
 */
#include "transfer_token.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static world_key_type world_type(token_key_type t)
{
    return t == TOKEN_KEY_RSA ? WORLD_KEY_RSA : t == TOKEN_KEY_EC ? WORLD_KEY_EC : WORLD_KEY_AES;
}

void transfer_token_key_info(const token *t, const token_key *k, const world_module *m,
                             world_key_info *out)
{
    const token_info *ti = token_get_info(t);
    uint8_t tid[WORLD_TOKEN_ID_LEN];

    memset(out, 0, sizeof *out);
    token_identity_hash(t, tid);
    snprintf(out->app, sizeof out->app, "%s", TRANSFER_TOKEN_APP);
    snprintf(out->ident, sizeof out->ident, "%s", k->label);
    snprintf(out->plainname, sizeof out->plainname, "in token \"%.32s\", serial %.16s", ti->label,
             ti->serial);
    out->type = world_type(k->type);
    out->bits = k->bits;
    snprintf(out->curve, sizeof out->curve, "%s", k->curve);
    memcpy(out->world_hash, m->info.hash, WORLD_HASH_LEN);
    memcpy(out->spki, k->spki, k->spki_len);
    out->spki_len = k->spki_len;
    world_token_key_hash(out->type, k->spki, k->spki_len, tid, k->id, k->id_len, out->key_hash);
    world_acl_default(out->type, &out->acl);
    snprintf(out->path, sizeof out->path, "pkcs11 token \"%.32s\" (%.2048s)", ti->label,
             ti->module);
}

static void token_desc(const token *t, char *out, size_t outsz)
{
    const token_info *ti = token_get_info(t);
    snprintf(out, outsz, "%.32s, serial %.16s, %.32s %.16s", ti->label, ti->serial,
             ti->manufacturer, ti->model);
    for (char *c = out; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
}

/* The quorum, checked to be m's world. */
static kt_rc open_quorum(const world_paths *p, const world_module *m,
                         const transfer_token_quorum *q, world_admin *a, kt_err *e)
{
    kt_rc rc = world_admin_open(p, q->cards, q->ncards, q->pin, q->pin_ctx, a, e);
    if (rc != KT_OK)
        return rc;
    if (memcmp(a->info.hash, m->info.hash, WORLD_HASH_LEN) != 0) {
        world_admin_close(a);
        return kt_fail(e, KT_EDENIED, "the cards opened another world than the module's");
    }
    return KT_OK;
}

/* The token's facts in an audit entry's details. */
static void token_detail(const token *t, json_t *d)
{
    char desc[WORLD_TOKEN_DESC_MAX + 1], hex[65];
    uint8_t tid[WORLD_TOKEN_ID_LEN];
    token_desc(t, desc, sizeof desc);
    token_identity_hash(t, tid);
    kt_hex(hex, tid, sizeof tid);
    json_object_update_new(d, json_pack("{s:s, s:s}", "token", desc, "token_id", hex));
}

/* Begins the change over p->local that writes a token file and its audit entry. */
static kt_rc begin_local(const world_paths *p, const char *what, kt_txn **txn, kt_err *e)
{
    const char *dirs[1] = {p->local};
    return kt_txn_begin(txn, what, dirs, 1, true, NULL, NULL, e);
}

/* Stages the audit entry op (signed by the module and, with the quorum, KNSO) and commits. */
static kt_rc commit_logged(kt_txn *txn, const world_paths *p, const world_module *m,
                           const world_admin *a, const char *op, json_t *detail, kt_err *e)
{
    const world_audit_signer s = {
        .info = &m->info, .module_sk = &m->module_sk, .knso_sk = &a->knso_sk};
    const world_audit_op o = {
        .op = op, .detail = detail, .cards = a->cards_used, .ncards = a->ncards_used};
    bool committed = false;
    kt_rc rc = detail == NULL ? kt_fail(e, KT_ENOMEM, "out of memory")
                              : world_audit_stage(txn, 0, p, &s, &o, e);
    if (rc == KT_OK)
        rc = kt_txn_commit(txn, &committed, e);
    return rc;
}

kt_rc transfer_token_bind(const world_paths *p, const world_module *m, token *t,
                          const kt_secbuf *so_pin, const transfer_token_quorum *q, bool replace,
                          char *path, kt_err *e)
{
    world_admin a = {0};
    uint8_t tid[WORLD_TOKEN_ID_LEN];
    char desc[WORLD_TOKEN_DESC_MAX + 1], so_file[PATH_MAX];
    kt_rc rc;

    token_identity_hash(t, tid);
    token_desc(t, desc, sizeof desc);
    if ((rc = world_token_so_path(p, tid, so_file, sizeof so_file, e)) != KT_OK)
        return rc;
    if (!replace && kt_path_exists(so_file))
        return kt_fail(e, KT_EEXIST,
                       "token \"%s\" is bound to this world already (%s); give --force to seal "
                       "a new SO PIN",
                       token_get_info(t)->label, so_file);
    /* The SO PIN must open the token before the cards are called in. */
    if ((rc = token_login(t, true, so_pin, e)) != KT_OK || (rc = token_logout(t, e)) != KT_OK)
        return rc;
    if ((rc = open_quorum(p, m, q, &a, e)) != KT_OK)
        return rc;
    kt_txn *txn = NULL;
    if ((rc = begin_local(p, "world bind-token", &txn, e)) == KT_OK &&
        (rc = world_token_so_seal(p, &a, tid, desc, so_pin, replace, txn, 0, path, e)) == KT_OK) {
        json_t *d = json_object();
        if (d != NULL)
            token_detail(t, d);
        rc = commit_logged(txn, p, m, &a, "world bind-token", d, e);
        json_decref(d);
    }
    kt_txn_free(txn);
    world_admin_close(&a);
    return rc;
}

kt_rc transfer_token_reduce(const world_paths *p, const world_module *m, token *t,
                            const transfer_kek *k, const char *ident, const kt_secbuf *user_pin,
                            const transfer_token_quorum *q, transfer_approve_fn approve,
                            void *approve_ctx, world_key_info *out, kt_err *e)
{
    world_admin a = {0};
    world_token_record rec;
    world_key_info info;
    world_acl acl;
    token_key key;
    kt_secbuf so_pin = {0};
    uint8_t tid[WORLD_TOKEN_ID_LEN];
    char rec_path[PATH_MAX];
    kt_rc rc;
    kt_err ignored;

    if (approve == NULL)
        return kt_fail(e, KT_EUSAGE, "nobody approves blind: an approval callback is required");
    if ((rc = world_token_record_path(p, ident, rec_path, sizeof rec_path, e)) != KT_OK)
        return rc;
    if (kt_path_exists(rec_path))
        return kt_fail(e, KT_EEXIST,
                       "%s exists: token key %s was reduced already; keytransfer never replaces "
                       "a record",
                       rec_path, ident);
    /* 1. The key, as the user sees it: every check that could refuse, before any card. */
    if ((rc = token_login(t, false, user_pin, e)) != KT_OK)
        return rc;
    rc = token_key_find(t, ident, &key, e);
    if (token_logout(t, &ignored) != KT_OK)
        kt_err_clear(&ignored);
    if (rc != KT_OK)
        return rc;
    const char *why = token_key_refusal(&key);
    if (why != NULL)
        return kt_fail(e, KT_EDENIED, "key \"%s\" in token \"%s\" may not be transferred: %s",
                       ident, token_get_info(t)->label, why);
    token_identity_hash(t, tid);
    transfer_token_key_info(t, &key, m, &info);
    transfer_reduced_acl(k, &acl);

    /* 2. The card holders see what they approve. */
    const transfer_approval ap = {.key = &info, .kek = k, .acl = &acl};
    if ((rc = approve(approve_ctx, &ap, e)) != KT_OK)
        return rc;

    /* 3. The quorum: the SO PIN, the trusted KEK in the token, the record signed by KNSO. */
    if ((rc = open_quorum(p, m, q, &a, e)) != KT_OK)
        return rc;
    if ((rc = world_token_so_open(p, &a, tid, &so_pin, e)) != KT_OK ||
        (rc = token_login(t, true, &so_pin, e)) != KT_OK)
        goto out;
    rc = token_kek_import(t, k->fp, k->key, e);
    if (rc == KT_OK)
        rc = token_logout(t, e);
    else if (token_logout(t, &ignored) != KT_OK)
        kt_err_clear(&ignored);
    if (rc != KT_OK)
        goto out;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.ident, sizeof rec.ident, "%s", ident);
    memcpy(rec.token_id, tid, sizeof tid);
    token_desc(t, rec.token_desc, sizeof rec.token_desc);
    memcpy(rec.key_id, key.id, key.id_len);
    rec.key_id_len = key.id_len;
    rec.type = info.type;
    rec.bits = info.bits;
    snprintf(rec.curve, sizeof rec.curve, "%s", info.curve);
    memcpy(rec.spki, info.spki, info.spki_len);
    rec.spki_len = info.spki_len;
    memcpy(rec.key_hash, info.key_hash, WORLD_HASH_LEN);
    rec.acl = acl;
    rec.created = (uint64_t)time(NULL);
    kt_txn *txn = NULL;
    if ((rc = begin_local(p, "modify-acls --token", &txn, e)) == KT_OK &&
        (rc = world_token_record_save(p, &a, &rec, txn, 0, e)) == KT_OK) {
        char fp[65], wh[65];
        kt_hex(fp, k->fp, 32);
        kt_hex(wh, k->world_hash, 32);
        json_t *d = world_audit_key_detail(&info);
        if (d != NULL) {
            token_detail(t, d);
            json_object_update_new(d, json_pack("{s:s, s:s, s:s, s:s}", "kek_sha256", fp, "kid",
                                                k->kid, "target_world", k->attested ? wh : "",
                                                "record", strrchr(rec.path, '/') + 1));
        }
        rc = commit_logged(txn, p, m, &a, "modify-acls", d, e);
        json_decref(d);
    }
    kt_txn_free(txn);
    if (rc != KT_OK)
        goto out;
    snprintf(info.app, sizeof info.app, "%s", TRANSFER_APP);
    snprintf(info.path, sizeof info.path, "%s", rec.path);
    info.acl = acl;
    info.acl_signed = true;
    if (out != NULL)
        *out = info;
out:
    kt_secbuf_free(&so_pin);
    world_admin_close(&a);
    return rc;
}

kt_rc transfer_token_package(const world_paths *p, const world_module *m, token *t,
                             const transfer_kek *k, const transfer_package_opts *o,
                             const kt_secbuf *user_pin, const transfer_token_quorum *q,
                             transfer_package_result *r, token_wrap_form *form, kt_err *e)
{
    world_admin a = {0};
    world_token_record rec;
    world_key_info info;
    kt_secbuf so_pin = {0};
    kt_buf blob = {0};
    uint8_t tid[WORLD_TOKEN_ID_LEN];
    char why[2 * WORLD_ACL_KID_MAX + 256];
    bool done = false;
    kt_rc rc;

    memset(r, 0, sizeof *r);
    *form = 0;
    if (o->ident == NULL)
        return kt_fail(e, KT_EUSAGE, "which key? give its identifier");
    /* 1. The record: the quorum approved this key of this token for this KEK. */
    rc = world_token_record_load(p, &m->info, o->ident, &rec, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_EDENIED,
                       "token key %s has not been reduced for transfer (there is no record %s): "
                       "run keytransfer modify-acls --token URI --ident %s with the "
                       "administrator cards first",
                       o->ident, rec.path, o->ident);
    if (rc != KT_OK)
        return rc;
    token_identity_hash(t, tid);
    if (memcmp(tid, rec.token_id, sizeof tid) != 0)
        return kt_fail(e, KT_EDENIED,
                       "token key %s was reduced in another token (%s), not in token \"%s\"",
                       o->ident, rec.token_desc, token_get_info(t)->label);
    if (!transfer_acl_is_for(&rec.acl, k, why, sizeof why))
        return kt_fail(e, KT_EDENIED, "token key %s may not be packaged for this KEK: %s", o->ident,
                       why);

    /* The key's facts from the signed record. */
    memset(&info, 0, sizeof info);
    snprintf(info.app, sizeof info.app, "%s", TRANSFER_APP);
    snprintf(info.ident, sizeof info.ident, "%s", rec.ident);
    snprintf(info.plainname, sizeof info.plainname, "in token %.110s", rec.token_desc);
    info.type = rec.type;
    info.bits = rec.bits;
    snprintf(info.curve, sizeof info.curve, "%s", rec.curve);
    info.created = rec.created;
    memcpy(info.world_hash, rec.world_hash, WORLD_HASH_LEN);
    memcpy(info.spki, rec.spki, rec.spki_len);
    info.spki_len = rec.spki_len;
    memcpy(info.key_hash, rec.key_hash, WORLD_HASH_LEN);
    info.acl = rec.acl;
    info.acl_signed = true;
    snprintf(info.path, sizeof info.path, "%s", rec.path);

    /* 2. The output, before any card is asked. */
    if ((rc = transfer_package_prepare(m, k, &info, o, r, &done, e)) != KT_OK || done)
        return rc;

    /* 3. The quorum gives the SO PIN; the token wraps. */
    if ((rc = open_quorum(p, m, q, &a, e)) != KT_OK)
        goto out;
    rc = world_token_so_open(p, &a, tid, &so_pin, e);
    world_admin_close(&a);
    if (rc != KT_OK)
        goto out;
    const token_wrap_opts w = {
        .label = rec.ident,
        .id = rec.key_id,
        .id_len = rec.key_id_len,
        .spki = rec.spki_len > 0 ? rec.spki : NULL,
        .spki_len = rec.spki_len,
        .kek_fp = k->fp,
        .kek = k->key,
        .oaep_sha256 = r->hash == PKG_OAEP_SHA256,
        .direct = r->direct,
        .so_pin = &so_pin,
        .user_pin = user_pin,
    };
    if ((rc = token_wrap(t, &w, &blob, form, e)) != KT_OK)
        goto out;

    /* 4. The same package and manifest as a world key's. */
    rc = transfer_package_blob(p, m, k, &info, o, &blob, r, e);
out:
    kt_secbuf_free(&so_pin);
    kt_buf_free(&blob);
    if (rc != KT_OK && !r->committed)
        memset(r, 0, sizeof *r);
    return rc;
}
