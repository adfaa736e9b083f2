/*
 * audit.c - the world's audit log (<kmdata>/local/audit): the codec of its entries and head, the
 * check of the whole chain, and the append that rides in the same change (kt_txn) as the
 * operation it records.
 *
 * The log is rewritten whole on each append (staged beside it and renamed into place by the
 * commit protocol), so an append is atomic with its operation; what makes it append-only is that
 * every entry is chained to the one before and signed, and the head signs the count: an entry
 * removed, changed, moved or cut off is found by world_audit_parse.
 */
#include "world_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char AUDIT_MAGIC[8] = {'K', 'T', 'X', 'A', 'U', 'D', 'I', 'T'};
#define AUDIT_VERSION 1

enum {
    LOG_T_WORLD = 1, /* world hash, 32 */
    LOG_T_ENTRY = 2, /* one entry's encoding */
    LOG_T_HEAD = 3,  /* u64 count, last entry hash (32), module signature (64) */
};
enum {
    ENT_T_SEQ = 1,     /* u64, 1-based */
    ENT_T_TIME = 2,    /* u64, UNIX seconds */
    ENT_T_PREV = 3,    /* 32: the hash of the entry before (the world hash for the first) */
    ENT_T_OP = 4,      /* 1..32 of [a-z -] */
    ENT_T_DETAIL = 5,  /* a JSON object, compact, sorted keys */
    ENT_T_CARDS = 6,   /* u32 card set, then one byte per card number used; empty: no cards */
    ENT_T_MODSIG = 7,  /* 64: the module key's Ed25519 signature */
    ENT_T_KNSOSIG = 8, /* empty, or 64: KNSO's Ed25519 signature */
};
#define HEAD_LEN        (8 + WORLD_HASH_LEN + crypto_sign_BYTES)
#define ENTRY_SIG_CTX   "keytransfer audit entry v1"
#define HEAD_SIG_CTX    "keytransfer audit head v1"
#define ENTRY_HASH_CTX  "keytransfer audit hash v1"
#define ENTRY_FIELD_MAX (8192 + WORLD_AUDIT_DETAIL_MAX)

static const char *const quorum_ops[] = {
    "world new", "world program", "world replace-cards", "modify-acls", NULL,
};

bool world_audit_op_needs_knso(const char *op)
{
    for (size_t i = 0; quorum_ops[i] != NULL; i++)
        if (strcmp(op, quorum_ops[i]) == 0)
            return true;
    return false;
}

static bool op_name_ok(const char *op)
{
    size_t n = strlen(op);
    if (n == 0 || n > WORLD_AUDIT_OP_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((op[i] >= 'a' && op[i] <= 'z') || op[i] == ' ' || op[i] == '-'))
            return false;
    return true;
}

/* The message both signatures of an entry cover: context, world hash, the entry's bytes up to
 * its signatures. */
static kt_rc entry_message(const uint8_t *world_hash, const uint8_t *body, size_t len, kt_wbuf *m,
                           kt_err *e)
{
    kt_wbuf_init(m, false);
    kt_wbuf_bytes(m, ENTRY_SIG_CTX, sizeof ENTRY_SIG_CTX);
    kt_wbuf_bytes(m, world_hash, WORLD_HASH_LEN);
    kt_wbuf_bytes(m, body, len);
    return kt_wbuf_finish(m, e);
}

static void entry_hash(const uint8_t *entry, size_t len, uint8_t out[WORLD_HASH_LEN])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)ENTRY_HASH_CTX, sizeof ENTRY_HASH_CTX);
    crypto_hash_sha256_update(&st, entry, len);
    crypto_hash_sha256_final(&st, out);
}

static void head_message(const uint8_t *world_hash, uint64_t count, const uint8_t *last,
                         uint8_t *out, size_t *outlen)
{
    size_t n = 0;
    memcpy(out, HEAD_SIG_CTX, sizeof HEAD_SIG_CTX);
    n += sizeof HEAD_SIG_CTX;
    memcpy(out + n, world_hash, WORLD_HASH_LEN);
    n += WORLD_HASH_LEN;
    for (int i = 7; i >= 0; i--)
        out[n++] = (uint8_t)(count >> (8 * i));
    memcpy(out + n, last, WORLD_HASH_LEN);
    n += WORLD_HASH_LEN;
    *outlen = n;
}
#define HEAD_MSG_MAX (sizeof HEAD_SIG_CTX + 2 * WORLD_HASH_LEN + 8)

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                  */
/* ---------------------------------------------------------------------------------------- */

void world_audit_log_free(world_audit_log *log)
{
    if (log == NULL)
        return;
    for (size_t i = 0; i < log->n; i++)
        free(log->entries[i].detail);
    free(log->entries);
    memset(log, 0, sizeof *log);
}

/* Parses and checks one entry (its bytes v, vlen) as entry number seq chained to prev. */
static kt_rc parse_entry(const uint8_t *v, size_t vlen, uint64_t seq, const uint8_t *prev,
                         const world_info *info, world_audit_entry *out, kt_err *e)
{
    kt_rbuf r;
    const uint8_t *p, *sig;
    size_t plen, siglen;
    uint8_t got_prev[WORLD_HASH_LEN], modsig[crypto_sign_BYTES];
    kt_wbuf m;
    kt_rc rc;

    memset(out, 0, sizeof *out);
    kt_rbuf_init(&r, v, vlen, "entry");
    if ((rc = kt_rbuf_field_u64(&r, ENT_T_SEQ, &out->seq, e)) ||
        (rc = kt_rbuf_field_u64(&r, ENT_T_TIME, &out->time, e)) ||
        (rc = kt_rbuf_field_fixed(&r, ENT_T_PREV, got_prev, sizeof got_prev, e)) ||
        (rc = kt_rbuf_field_str(&r, ENT_T_OP, out->op, WORLD_AUDIT_OP_MAX, e)))
        return rc;
    if (out->seq != seq)
        return kt_fail(e, KT_EDENIED,
                       "it states sequence number %llu where %llu belongs: an entry was removed, "
                       "moved or inserted here",
                       (unsigned long long)out->seq, (unsigned long long)seq);
    if (!kt_ct_equal(got_prev, prev, WORLD_HASH_LEN))
        return kt_fail(e, KT_EDENIED,
                       "it is not chained to the entry before it (its previous-entry hash "
                       "differs): an entry before it was changed or replaced");
    if (!op_name_ok(out->op))
        return kt_fail(e, KT_EFORMAT, "operation name '%s' is malformed", out->op);
    if ((rc = kt_rbuf_field(&r, ENT_T_DETAIL, 2, WORLD_AUDIT_DETAIL_MAX, &p, &plen, e)) != KT_OK)
        return rc;
    json_t *j = NULL;
    if ((rc = kt_json_parse(p, plen, WORLD_AUDIT_DETAIL_MAX, &j, e)) != KT_OK)
        return rc;
    json_decref(j);
    if ((out->detail = malloc(plen + 1)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    memcpy(out->detail, p, plen);
    out->detail[plen] = '\0';
    if ((rc = kt_rbuf_field(&r, ENT_T_CARDS, 0, 4 + WORLD_MAX_CARDS, &p, &plen, e)) != KT_OK)
        return rc;
    if (plen != 0 && plen < 5)
        return kt_fail(e, KT_EFORMAT, "its card list is %zu bytes", plen);
    if (plen > 0) {
        out->cardset = kt_be32(p);
        out->ncards = plen - 4;
        for (size_t i = 0; i < out->ncards; i++) {
            out->cards[i] = p[4 + i];
            if (out->cards[i] == 0)
                return kt_fail(e, KT_EFORMAT, "its card list names card 0");
        }
    }
    size_t body_len = r.off;
    if ((rc = kt_rbuf_field_fixed(&r, ENT_T_MODSIG, modsig, sizeof modsig, e)) ||
        (rc = kt_rbuf_field(&r, ENT_T_KNSOSIG, 0, crypto_sign_BYTES, &sig, &siglen, e)) ||
        (rc = kt_rbuf_end(&r, e)))
        return rc;
    if (siglen != 0 && siglen != crypto_sign_BYTES)
        return kt_fail(e, KT_EFORMAT, "its KNSO signature is %zu bytes", siglen);

    if ((rc = entry_message(info->hash, v, body_len, &m, e)) != KT_OK)
        return rc;
    bool mod_ok = crypto_sign_verify_detached(modsig, m.p, m.len, info->module_pub) == 0;
    bool knso_ok = siglen == 0 || crypto_sign_verify_detached(sig, m.p, m.len, info->knso_pub) == 0;
    kt_wbuf_free(&m);
    if (!mod_ok)
        return kt_fail(e, KT_EDENIED,
                       "the module key's signature does not verify: the entry (%s) was changed",
                       out->op);
    if (!knso_ok)
        return kt_fail(e, KT_EDENIED,
                       "KNSO's signature does not verify: the entry (%s) was changed", out->op);
    if (siglen == 0 && world_audit_op_needs_knso(out->op))
        return kt_fail(e, KT_EDENIED,
                       "%s needs the quorum, but the entry carries no KNSO signature", out->op);
    out->knso_signed = siglen != 0;
    entry_hash(v, vlen, out->hash);
    return KT_OK;
}

kt_rc world_audit_parse(const uint8_t *raw, size_t len, const world_info *info,
                        world_audit_log *log, kt_err *e)
{
    world_audit_log l = {0};
    kt_rbuf r;
    uint16_t version;
    uint8_t world_hash[WORLD_HASH_LEN], prev[WORLD_HASH_LEN];
    size_t cap = 0;
    kt_rc rc;

    if (log != NULL)
        memset(log, 0, sizeof *log);
    kt_rbuf_init(&r, raw, len, "audit log");
    if ((rc = kt_rbuf_header(&r, AUDIT_MAGIC, &version, e)) != KT_OK)
        goto bad_header;
    if (version != AUDIT_VERSION) {
        rc = kt_fail(e, KT_EVERSION, "audit log format version %u is not supported (this is %u)",
                     version, AUDIT_VERSION);
        goto bad_header;
    }
    if ((rc = kt_rbuf_field_fixed(&r, LOG_T_WORLD, world_hash, sizeof world_hash, e)) != KT_OK)
        goto bad_header;
    if (!kt_ct_equal(world_hash, info->hash, WORLD_HASH_LEN)) {
        char have[65], want[65];
        kt_hex(have, world_hash, WORLD_HASH_LEN);
        kt_hex(want, info->hash, WORLD_HASH_LEN);
        rc = kt_fail(e, KT_EDENIED, "the audit log belongs to world %s, not to this world %s", have,
                     want);
        goto out;
    }
    memcpy(prev, info->hash, WORLD_HASH_LEN);

    for (;;) {
        uint64_t seq = l.n + 1;
        if (r.len - r.off < 6) {
            rc = kt_fail(e, KT_EDENIED,
                         "entry %llu: the log ends after entry %zu without its head: it was "
                         "truncated",
                         (unsigned long long)seq, l.n);
            goto out;
        }
        uint16_t tag = kt_be16(r.p + r.off);
        if (tag == LOG_T_HEAD)
            break;
        const uint8_t *v;
        size_t vlen;
        if ((rc = kt_rbuf_field(&r, LOG_T_ENTRY, 1, ENTRY_FIELD_MAX, &v, &vlen, e)) != KT_OK) {
            kt_err_prefix(e, "entry %llu", (unsigned long long)seq);
            rc = KT_EDENIED;
            e->rc = rc;
            goto out;
        }
        if (l.n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            world_audit_entry *ne = realloc(l.entries, ncap * sizeof *ne);
            if (ne == NULL) {
                rc = kt_fail(e, KT_ENOMEM, "out of memory");
                goto out;
            }
            l.entries = ne;
            cap = ncap;
        }
        rc = parse_entry(v, vlen, seq, prev, info, &l.entries[l.n], e);
        if (rc != KT_OK) {
            free(l.entries[l.n].detail);
            kt_err_prefix(e, "entry %llu", (unsigned long long)seq);
            if (rc != KT_ENOMEM)
                rc = e->rc = KT_EDENIED;
            goto out;
        }
        memcpy(prev, l.entries[l.n].hash, WORLD_HASH_LEN);
        l.n++;
    }

    const uint8_t *h;
    size_t hlen;
    if ((rc = kt_rbuf_field(&r, LOG_T_HEAD, HEAD_LEN, HEAD_LEN, &h, &hlen, e)) != KT_OK ||
        (rc = kt_rbuf_end(&r, e)) != KT_OK) {
        kt_err_prefix(e, "the head after entry %zu", l.n);
        rc = e->rc = KT_EDENIED;
        goto out;
    }
    uint64_t count = kt_be64(h);
    if (count != l.n || !kt_ct_equal(h + 8, prev, WORLD_HASH_LEN)) {
        rc = kt_fail(e, KT_EDENIED,
                     "entry %llu: the head records %llu entries, the log holds %zu: entries were "
                     "removed from its end (or the head is from another state of the log)",
                     (unsigned long long)(count < l.n ? count + 1 : l.n + 1),
                     (unsigned long long)count, l.n);
        goto out;
    }
    uint8_t msg[HEAD_MSG_MAX];
    size_t mlen;
    head_message(info->hash, count, prev, msg, &mlen);
    if (crypto_sign_verify_detached(h + 8 + WORLD_HASH_LEN, msg, mlen, info->module_pub) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "the head after entry %zu: the module key's signature does not verify", l.n);
        goto out;
    }
    memcpy(l.head, prev, WORLD_HASH_LEN);
    if (log != NULL) {
        *log = l;
        return KT_OK;
    }
    world_audit_log_free(&l);
    return KT_OK;

bad_header:
    kt_err_prefix(e, "the log's header");
    rc = e->rc = KT_EDENIED;
out:
    world_audit_log_free(&l);
    return rc;
}

/* <kmdata>/local/audit into out (PATH_MAX bytes). */
static kt_rc audit_path(const world_paths *p, char *out, kt_err *e)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", p->local, WORLD_AUDIT_NAME);
    if (n < 0 || n >= PATH_MAX)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
    return KT_OK;
}

kt_rc world_audit_read(const world_paths *p, const world_info *info, world_audit_log *log,
                       kt_err *e)
{
    char path[PATH_MAX];
    kt_buf raw = {0};
    kt_rc rc = audit_path(p, path, e);
    if (rc == KT_OK)
        rc = kt_file_read(path, WORLD_AUDIT_FILE_MAX, &raw, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_ENOENT, "there is no audit log in %s (%s is missing)", p->local, path);
    if (rc == KT_OK && (rc = world_audit_parse(raw.p, raw.len, info, log, e)) != KT_OK)
        kt_err_prefix(e, "%s", path);
    kt_buf_free(&raw);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Appending                                                                                */
/* ---------------------------------------------------------------------------------------- */

/* Builds one entry (seq, chained to prev) into w. */
static kt_rc build_entry(const world_audit_signer *s, const world_audit_op *op, uint64_t seq,
                         const uint8_t *prev, kt_wbuf *w, kt_err *e)
{
    char *detail = NULL;
    uint8_t cards[4 + WORLD_MAX_CARDS];
    uint8_t sig[crypto_sign_BYTES], ksig[crypto_sign_BYTES];
    kt_wbuf m;
    kt_rc rc;

    kt_wbuf_init(w, false);
    if (!op_name_ok(op->op))
        return kt_fail(e, KT_EUSAGE, "audit: operation name '%s' is malformed", op->op);
    if (op->ncards > WORLD_MAX_CARDS)
        return kt_fail(e, KT_EUSAGE, "audit: %zu cards", op->ncards);
    if (op->detail != NULL) {
        if (!json_is_object(op->detail))
            return kt_fail(e, KT_EUSAGE, "audit: details must be a JSON object");
        if ((rc = kt_json_dump(op->detail, false, &detail, e)) != KT_OK)
            return rc;
    } else if ((detail = strdup("{}")) == NULL) {
        return kt_fail(e, KT_ENOMEM, "out of memory");
    }
    if (strlen(detail) > WORLD_AUDIT_DETAIL_MAX) {
        free(detail);
        return kt_fail(e, KT_EUSAGE, "audit: the details of %s are over %d bytes", op->op,
                       WORLD_AUDIT_DETAIL_MAX);
    }
    size_t ncards = 0;
    if (op->ncards > 0) {
        uint32_t set = s->info->cardset;
        cards[0] = (uint8_t)(set >> 24);
        cards[1] = (uint8_t)(set >> 16);
        cards[2] = (uint8_t)(set >> 8);
        cards[3] = (uint8_t)set;
        for (size_t i = 0; i < op->ncards; i++)
            cards[4 + i] = (uint8_t)op->cards[i];
        ncards = 4 + op->ncards;
    }

    kt_wbuf_field_u64(w, ENT_T_SEQ, seq);
    kt_wbuf_field_u64(w, ENT_T_TIME, (uint64_t)time(NULL));
    kt_wbuf_field(w, ENT_T_PREV, prev, WORLD_HASH_LEN);
    kt_wbuf_field(w, ENT_T_OP, op->op, strlen(op->op));
    kt_wbuf_field(w, ENT_T_DETAIL, detail, strlen(detail));
    kt_wbuf_field(w, ENT_T_CARDS, cards, ncards);
    free(detail);
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK ||
        (rc = entry_message(s->info->hash, w->p, w->len, &m, e)) != KT_OK)
        goto fail;
    crypto_sign_detached(sig, NULL, m.p, m.len, s->module_sk->p);
    if (s->knso_sk != NULL)
        crypto_sign_detached(ksig, NULL, m.p, m.len, s->knso_sk->p);
    kt_wbuf_free(&m);
    kt_wbuf_field(w, ENT_T_MODSIG, sig, sizeof sig);
    kt_wbuf_field(w, ENT_T_KNSOSIG, ksig, s->knso_sk != NULL ? sizeof ksig : 0);
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK)
        goto fail;
    return KT_OK;
fail:
    kt_wbuf_free(w);
    return rc;
}

/* Appends op (after an "audit begin" entry when a log other than world new's is begun) to the
 * log in p->local, or, with genesis, begins a new log whatever is there (world new). */
static kt_rc stage(kt_txn *t, size_t dir, const world_paths *p, const world_audit_signer *s,
                   const world_audit_op *ops, size_t nops, bool genesis, kt_err *e)
{
    const world_audit_op *op = &ops[0];
    char path[PATH_MAX];
    kt_buf raw = {0};
    world_audit_log log = {0};
    kt_wbuf out, ent;
    uint8_t prev[WORLD_HASH_LEN], pk[32];
    bool fresh = false;
    kt_rc rc;

    if (nops == 0)
        return kt_fail(e, KT_EUSAGE, "audit: no entry to add");
    for (size_t j = 0; j < nops; j++)
        if ((ops[j].ncards > 0 || world_audit_op_needs_knso(ops[j].op)) && s->knso_sk == NULL)
            return kt_fail(e, KT_EUSAGE, "audit: %s is a quorum operation: KNSO signs it",
                           ops[j].op);
    /* The signing key must be this world's, or the log could never be verified. */
    if (crypto_sign_ed25519_sk_to_pk(pk, s->module_sk->p) != 0 ||
        !kt_ct_equal(pk, s->info->module_pub, sizeof pk))
        return kt_fail(e, KT_EUSAGE, "audit: the signing key is not this world's module key");

    if ((rc = audit_path(p, path, e)) != KT_OK)
        return rc;
    rc = genesis ? KT_ENOENT : kt_file_read(path, WORLD_AUDIT_FILE_MAX, &raw, e);
    if (rc == KT_ENOENT) {
        kt_err_clear(e);
        fresh = true;
        memcpy(prev, s->info->hash, WORLD_HASH_LEN);
    } else if (rc != KT_OK) {
        return rc;
    } else if ((rc = world_audit_parse(raw.p, raw.len, s->info, &log, e)) != KT_OK) {
        kt_buf_free(&raw);
        kt_err_prefix(e,
                      "the audit log %s is damaged, so nothing more is added to it and %s was not "
                      "done. Keep the log as evidence: move it aside (mv %s %s.damaged) and run "
                      "`keytransfer audit verify --log %s.damaged` to see what was lost; the next "
                      "operation then begins a new log, whose first entry says so. The damage",
                      path, op->op, path, path, path);
        return rc;
    } else {
        memcpy(prev, log.head, WORLD_HASH_LEN);
    }

    kt_wbuf_init(&out, false);
    if (fresh) {
        kt_wbuf_header(&out, AUDIT_MAGIC, AUDIT_VERSION);
        kt_wbuf_field(&out, LOG_T_WORLD, s->info->hash, WORLD_HASH_LEN);
    } else {
        /* Everything up to the old head, as it was. */
        size_t keep = raw.len - (6 + HEAD_LEN);
        kt_wbuf_bytes(&out, raw.p, keep);
    }
    uint64_t seq = (uint64_t)log.n;
    if (fresh && !genesis && strcmp(op->op, "world new") != 0) {
        /* A log begun after the world was: its first entry says that the history before it is
         * not here (a log moved aside after damage, or a world older than the log). */
        json_t *d = json_pack("{s:s}", "reason",
                              "no audit log was found in kmdata: the history "
                              "before this entry is not in this log");
        world_audit_op begin = {.op = "audit begin", .detail = d};
        world_audit_signer plain = {.info = s->info, .module_sk = s->module_sk};
        rc = d == NULL ? kt_fail(e, KT_ENOMEM, "out of memory")
                       : build_entry(&plain, &begin, ++seq, prev, &ent, e);
        json_decref(d);
        if (rc != KT_OK)
            goto out;
        kt_wbuf_field(&out, LOG_T_ENTRY, ent.p, ent.len);
        entry_hash(ent.p, ent.len, prev);
        kt_wbuf_free(&ent);
    }
    for (size_t j = 0; j < nops; j++) {
        if ((rc = build_entry(s, &ops[j], ++seq, prev, &ent, e)) != KT_OK)
            goto out;
        kt_wbuf_field(&out, LOG_T_ENTRY, ent.p, ent.len);
        entry_hash(ent.p, ent.len, prev);
        kt_wbuf_free(&ent);
    }

    uint8_t head[HEAD_LEN], msg[HEAD_MSG_MAX];
    size_t mlen;
    for (int i = 7; i >= 0; i--)
        head[7 - i] = (uint8_t)(seq >> (8 * i));
    memcpy(head + 8, prev, WORLD_HASH_LEN);
    head_message(s->info->hash, seq, prev, msg, &mlen);
    crypto_sign_detached(head + 8 + WORLD_HASH_LEN, NULL, msg, mlen, s->module_sk->p);
    kt_wbuf_field(&out, LOG_T_HEAD, head, sizeof head);
    if ((rc = kt_wbuf_finish(&out, e)) != KT_OK)
        goto out;
    if (out.len > WORLD_AUDIT_FILE_MAX) {
        rc = kt_fail(e, KT_ETOOBIG,
                     "the audit log would grow over %u bytes: back up the world (it keeps the "
                     "log) and begin a new log by moving %s aside",
                     WORLD_AUDIT_FILE_MAX, path);
        goto out;
    }
    rc = kt_txn_put(t, dir, WORLD_AUDIT_NAME, out.p, out.len,
                    fresh && !kt_path_exists(path) ? KT_TXN_NEW : KT_TXN_REPLACE, e);
out:
    kt_wbuf_free(&out);
    kt_buf_free(&raw);
    world_audit_log_free(&log);
    return rc;
}

kt_rc world_audit_stage(kt_txn *t, size_t dir, const world_paths *p, const world_audit_signer *s,
                        const world_audit_op *op, kt_err *e)
{
    return stage(t, dir, p, s, op, 1, false, e);
}

kt_rc world_audit_stage_many(kt_txn *t, size_t dir, const world_paths *p,
                             const world_audit_signer *s, const world_audit_op *ops, size_t nops,
                             kt_err *e)
{
    return stage(t, dir, p, s, ops, nops, false, e);
}

kt_rc audit_stage_genesis(kt_txn *t, size_t dir, const world_paths *p, const world_audit_signer *s,
                          const world_audit_op *op, kt_err *e)
{
    return stage(t, dir, p, s, op, 1, true, e);
}

kt_rc world_audit_record(const world_paths *p, const world_audit_signer *s,
                         const world_audit_op *op, kt_err *e)
{
    kt_txn *t = NULL;
    bool committed = false;
    const char *dirs[1] = {p->local};
    kt_rc rc = kt_txn_begin(&t, "audit log", dirs, 1, true, NULL, NULL, e);
    if (rc == KT_OK && (rc = world_audit_stage(t, 0, p, s, op, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
    kt_txn_free(t);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Operations recorded here with their files                                                */
/* ---------------------------------------------------------------------------------------- */

json_t *world_audit_key_detail(const world_key_info *k)
{
    char hash[65];
    kt_hex(hash, k->key_hash, WORLD_HASH_LEN);
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "app", k->app, "ident", k->ident, "type",
                     world_key_type_name(k->type), "bits", (int)k->bits, "curve", k->curve,
                     "key_hash", hash);
}

kt_rc audit_put_with(const world_paths *p, const world_audit_signer *s, const world_audit_op *op,
                     const char *name, const void *data, size_t len, kt_err *e)
{
    kt_txn *t = NULL;
    bool committed = false;
    const char *dirs[1] = {p->local};
    char what[96];
    snprintf(what, sizeof what, "%s", op->op);
    kt_rc rc = kt_txn_begin(&t, what, dirs, 1, true, NULL, NULL, e);
    if (rc == KT_OK && (rc = kt_txn_put(t, 0, name, data, len, KT_TXN_NEW, e)) == KT_OK &&
        (rc = world_audit_stage(t, 0, p, s, op, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
    kt_txn_free(t);
    return rc;
}

/* True when name is key_<app>_<ident> for this ident and some app of [a-z0-9]. */
static bool is_file_of_key(const char *name, const char *ident)
{
    if (strncmp(name, "key_", 4) != 0)
        return false;
    const char *app = name + 4, *us = strchr(app, '_');
    if (us == NULL || us == app)
        return false;
    for (const char *c = app; c < us; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            return false;
    return strcmp(us + 1, ident) == 0;
}

kt_rc world_key_delete(const world_paths *p, const world_module *m, const char *ident,
                       char (*removed)[NAME_MAX + 1], size_t *nremoved, kt_err *e)
{
    char names[WORLD_KEY_FILES_MAX][NAME_MAX + 1];
    size_t n = 0;
    kt_txn *t = NULL;
    bool committed = false;
    json_t *d = NULL, *files = NULL;
    kt_rc rc;

    *nremoved = 0;
    if ((rc = world_key_check_ident(ident, e)) != KT_OK)
        return rc;
    const char *dirs[1] = {p->local};
    /* The folder is locked by the change from here, so the list is the one removed. */
    if ((rc = kt_txn_begin(&t, "key delete", dirs, 1, true, NULL, NULL, e)) != KT_OK)
        return rc;
    DIR *dir = opendir(p->local);
    if (dir == NULL) {
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot list %s", p->local);
        goto out;
    }
    for (struct dirent *de; (de = readdir(dir)) != NULL;) {
        if (!is_file_of_key(de->d_name, ident))
            continue;
        if (n == WORLD_KEY_FILES_MAX) {
            rc =
                kt_fail(e, KT_ETOOBIG, "key %s has more than %d files", ident, WORLD_KEY_FILES_MAX);
            break;
        }
        snprintf(names[n++], NAME_MAX + 1, "%s", de->d_name);
    }
    closedir(dir);
    if (rc != KT_OK)
        goto out;
    if (n == 0) {
        rc = kt_fail(e, KT_ENOENT, "there is no key %s in the world in %s", ident, p->kmdata);
        goto out;
    }
    files = json_array();
    for (size_t i = 0; rc == KT_OK && i < n; i++) {
        /* Each file must be a key of this world, or it is not deleted as one. */
        key_file kf;
        kt_buf raw = {0};
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", p->local, names[i]) >= (int)sizeof path)
            rc = kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
        else if ((rc = kt_file_read(path, WORLD_KEY_FILE_MAX, &raw, e)) == KT_OK &&
                 (rc = key_file_parse(raw.p, raw.len, &kf, e)) == KT_OK) {
            char hash[65];
            kt_hex(hash, kf.info.key_hash, WORLD_HASH_LEN);
            if (!kt_ct_equal(kf.info.world_hash, m->info.hash, WORLD_HASH_LEN))
                rc = kt_fail(e, KT_EDENIED, "%s is not a key of this world: not deleted", path);
            else if (files != NULL)
                json_array_append_new(files,
                                      json_pack("{s:s, s:s}", "file", names[i], "key_hash", hash));
        } else if (rc == KT_EFORMAT) {
            kt_err_prefix(e, "%s is not a key file; not deleted", path);
        }
        kt_buf_free(&raw);
        if (rc == KT_OK)
            rc = kt_txn_remove(t, 0, names[i], true, e);
    }
    if (rc != KT_OK)
        goto out;
    d = json_pack("{s:s, s:O}", "ident", ident, "files", files);
    world_audit_signer s = {.info = &m->info, .module_sk = &m->module_sk};
    world_audit_op op = {.op = "key delete", .detail = d};
    if (d == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    else if ((rc = world_audit_stage(t, 0, p, &s, &op, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
    if (committed) {
        for (size_t i = 0; removed != NULL && i < n; i++)
            memcpy(removed[i], names[i], sizeof names[i]);
        *nremoved = n;
    }
out:
    kt_txn_free(t);
    json_decref(d);
    json_decref(files);
    return rc;
}

kt_rc world_module_erase_logged(const world_paths *p, const world_module *m, kt_err *e)
{
    char name[NAME_MAX + 1];
    kt_txn *t = NULL;
    bool committed = false;
    const char *dirs[1] = {p->local};
    snprintf(name, sizeof name, "module_%s", m->info.esn);
    json_t *d = json_pack("{s:s}", "esn", m->info.esn);
    world_audit_signer s = {.info = &m->info, .module_sk = &m->module_sk};
    world_audit_op op = {.op = "module erase", .detail = d};
    /* The entry is signed before the module file goes: afterwards nothing could sign it. The
     * removal overwrites the file's bytes once its name is gone (kt_txn_remove with wipe). */
    kt_rc rc = d == NULL ? kt_fail(e, KT_ENOMEM, "out of memory")
                         : kt_txn_begin(&t, "module erase", dirs, 1, true, NULL, NULL, e);
    if (rc == KT_OK && (rc = world_audit_stage(t, 0, p, &s, &op, e)) == KT_OK &&
        (rc = kt_txn_remove(t, 0, name, true, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
    kt_txn_free(t);
    json_decref(d);
    return rc;
}
