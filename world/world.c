/*
 * world.c - the security world: creating it (logical token, KM, KNSO, cards, module file, world
 * file), reading its public identity, opening the ACS quorum, and programming a fresh module from
 * a quorum (the recovery path).
 *
 * The world file is the public identity (the world hash is SHA-256 over it; from version 2 it
 * records the Argon2id profile of the world's cards), then KM and the KNSO seed sealed under a key
 * derived from the logical token with the identity as associated data, then KNSO's Ed25519
 * signature over everything before it. Every card is held to the KDF floor before its PIN is
 * asked.
 */
#include "world_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char WORLD_MAGIC[8] = {'K', 'T', 'X', 'W', 'O', 'R', 'L', 'D'};

const world_kdf WORLD_KDF_MODERATE = {crypto_pwhash_OPSLIMIT_MODERATE,
                                      crypto_pwhash_MEMLIMIT_MODERATE};
const world_kdf WORLD_KDF_INTERACTIVE = {crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                         crypto_pwhash_MEMLIMIT_INTERACTIVE};

/* ---------------------------------------------------------------------------------------- */
/* Cipher suites                                                                            */
/* ---------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *why;
} legacy_suites[] = {
    {"DLf1024s160mRijndael", "1024-bit DSA with SHA-1 gives about 80-bit security"},
    {"DLf1024s160mDES3", "1024-bit DSA with SHA-1 and Triple-DES give about 80-bit security"},
    {"DLf3072s256mRijndael", "its module-key mechanisms are no longer FIPS approved"},
    {"DLf3072s256mAEScSP800131Ar1", "its DSA world keys live in nShield firmware"},
    {"ECp521mAES", "its ECDSA world keys live in nShield firmware"},
};

const char *world_suite_nshield(const char *suite)
{
    for (size_t i = 0; i < sizeof legacy_suites / sizeof legacy_suites[0]; i++)
        if (strcmp(suite, legacy_suites[i].name) == 0)
            return legacy_suites[i].why;
    return NULL;
}

kt_rc world_check_suite(const char *suite, kt_err *e)
{
    if (strcmp(suite, WORLD_SUITE_DEFAULT) == 0)
        return KT_OK;
    for (size_t i = 0; i < sizeof legacy_suites / sizeof legacy_suites[0]; i++)
        if (strcmp(suite, legacy_suites[i].name) == 0)
            return kt_fail(e, KT_EUSAGE,
                           "cipher suite %s is an nShield hardware suite that a software world "
                           "does not offer (%s); supported: %s",
                           suite, legacy_suites[i].why, WORLD_SUITE_DEFAULT);
    return kt_fail(e, KT_EUSAGE, "unknown cipher suite '%s'; supported: %s", suite,
                   WORLD_SUITE_DEFAULT);
}

/* ---------------------------------------------------------------------------------------- */
/* The world file                                                                           */
/* ---------------------------------------------------------------------------------------- */

void world_file_free(world_file *w)
{
    kt_buf_free(&w->raw);
    memset(w, 0, sizeof *w);
}

kt_rc world_file_parse(world_file *w, kt_err *e)
{
    world_info *in = &w->info;
    kt_rbuf r;
    uint16_t version;
    uint8_t quorum[2], sig[crypto_sign_BYTES];
    kt_rc rc;

    kt_rbuf_init(&r, w->raw.p, w->raw.len, "world file");
    if ((rc = kt_rbuf_header(&r, WORLD_MAGIC, &version, e)) != KT_OK)
        return rc;
    if (version != 1 && version != WORLD_FILE_VERSION)
        return kt_fail(e, KT_EVERSION,
                       "world file format version %u is not supported (this keytransfer reads 1 "
                       "and %u)",
                       version, WORLD_FILE_VERSION);
    in->version = version;
    if ((rc = kt_rbuf_field_fixed(&r, WORLD_T_ID, in->id, sizeof in->id, e)) ||
        (rc = kt_rbuf_field_str(&r, WORLD_T_SUITE, in->suite, WORLD_SUITE_MAX, e)) ||
        (rc = kt_rbuf_field_u64(&r, WORLD_T_CREATED, &in->created, e)) ||
        (rc = kt_rbuf_field_fixed(&r, WORLD_T_QUORUM, quorum, sizeof quorum, e)) ||
        (rc = kt_rbuf_field_str(&r, WORLD_T_ESN, in->esn, WORLD_ESN_LEN, e)) ||
        (rc = kt_rbuf_field_fixed(&r, WORLD_T_KNSO_PUB, in->knso_pub, 32, e)) ||
        (rc = kt_rbuf_field_fixed(&r, WORLD_T_MODULE_PUB, in->module_pub, 32, e)) ||
        (rc = kt_rbuf_field_fixed(&r, WORLD_T_HKM, in->hkm, 32, e)))
        return rc;
    if (version >= 2) {
        if ((rc = kt_rbuf_field_u64(&r, WORLD_T_KDF_OPS, &in->kdf.opslimit, e)) ||
            (rc = kt_rbuf_field_u64(&r, WORLD_T_KDF_MEM, &in->kdf.memlimit, e)))
            return rc;
        in->kdf_recorded = true;
    }
    w->ident_len = r.off;
    if ((rc = kt_rbuf_field_fixed(&r, WORLD_T_NONCE, w->nonce, sizeof w->nonce, e)) ||
        (rc = kt_rbuf_field_fixed(&r, WORLD_T_SECRETS, w->sealed, sizeof w->sealed, e)))
        return rc;
    in->cardset = 1;
    in->cards_replaced = 0;
    bool has_set = r.len - r.off >= 2 && kt_be16(r.p + r.off) == WORLD_T_CARDSET;
    uint8_t cs[14];
    if (has_set && (rc = kt_rbuf_field_fixed(&r, WORLD_T_CARDSET, cs, sizeof cs, e)) != KT_OK)
        return rc;
    size_t signed_len = r.off;
    if ((rc = kt_rbuf_field_fixed(&r, WORLD_T_SIG, sig, sizeof sig, e)) ||
        (rc = kt_rbuf_end(&r, e)))
        return rc;

    in->ident_k = in->k = quorum[0];
    in->ident_n = in->n = quorum[1];
    if (in->n < 1 || in->n > WORLD_MAX_CARDS || in->k < 1 || in->k > in->n)
        return kt_fail(e, KT_EFORMAT, "world file states an impossible quorum %u/%u", in->k, in->n);
    if (has_set) {
        /* A replaced card set: its number, quorum and time (after the identity, signed). */
        in->cardset = kt_be32(cs);
        in->k = cs[4];
        in->n = cs[5];
        in->cards_replaced = kt_be64(cs + 6);
        if (in->cardset < 2 || in->n < 1 || in->n > WORLD_MAX_CARDS || in->k < 1 || in->k > in->n)
            return kt_fail(e, KT_EFORMAT,
                           "world file records an impossible card set %u with quorum %u/%u",
                           (unsigned)in->cardset, in->k, in->n);
    }
    if (strlen(in->esn) != WORLD_ESN_LEN)
        return kt_fail(e, KT_EFORMAT, "world file: module ESN '%s' is malformed", in->esn);
    if ((rc = world_check_suite(in->suite, e)) != KT_OK)
        return kt_fail(e, KT_EFORMAT, "world file names cipher suite '%s', unknown here",
                       in->suite);
    if (in->kdf_recorded &&
        (in->kdf.opslimit < crypto_pwhash_OPSLIMIT_MIN || in->kdf.opslimit > WORLD_KDF_OPS_MAX ||
         in->kdf.memlimit < crypto_pwhash_MEMLIMIT_MIN || in->kdf.memlimit > WORLD_KDF_MEM_MAX))
        return kt_fail(e, KT_EFORMAT,
                       "world file records Argon2id opslimit %llu, memlimit %llu bytes: outside "
                       "what a card may state",
                       (unsigned long long)in->kdf.opslimit, (unsigned long long)in->kdf.memlimit);
    if (crypto_sign_verify_detached(sig, w->raw.p, signed_len, in->knso_pub) != 0)
        return kt_fail(e, KT_EDENIED,
                       "KNSO signature does not verify: the world file is damaged "
                       "or was altered");
    kt_sha256(in->hash, w->raw.p, w->ident_len);
    return KT_OK;
}

kt_rc world_file_read(const world_paths *p, world_file *w, kt_err *e)
{
    memset(w, 0, sizeof *w);
    kt_rc rc = kt_file_read(p->world, WORLD_FILE_MAX, &w->raw, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_ENOENT,
                       "no security world in %s (create one with `keytransfer world new`)",
                       p->kmdata);
    if (rc == KT_OK && (rc = world_file_parse(w, e)) != KT_OK)
        kt_err_prefix(e, "%s", p->world);
    if (rc != KT_OK)
        world_file_free(w);
    return rc;
}

kt_rc world_load_info(const world_paths *p, world_info *info, kt_err *e)
{
    world_file w;
    kt_rc rc = world_file_read(p, &w, e);
    if (rc == KT_OK)
        *info = w.info;
    world_file_free(&w);
    return rc;
}

/* The key that seals the world secrets, derived from the logical token. */
static kt_rc token_key(const uint8_t *token, kt_secbuf *key, kt_err *e)
{
    kt_rc rc = kt_secbuf_alloc(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, e);
    if (rc != KT_OK)
        return rc;
    if (crypto_kdf_derive_from_key(key->p, key->len, 1, "KTWSECR1", token) != 0) {
        kt_secbuf_free(key);
        return kt_fail(e, KT_ECRYPTO, "deriving the world secrets key failed");
    }
    return KT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Creation                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* Secrets of a world being created, all in secure memory. */
typedef struct genesis {
    kt_secbuf token, km, knso_seed, knso_sk, module_sk, shares;
    kt_secbuf *pins;
    unsigned npins;
} genesis;

static void genesis_free(genesis *g)
{
    kt_secbuf_free(&g->token);
    kt_secbuf_free(&g->km);
    kt_secbuf_free(&g->knso_seed);
    kt_secbuf_free(&g->knso_sk);
    kt_secbuf_free(&g->module_sk);
    kt_secbuf_free(&g->shares);
    if (g->pins != NULL) {
        for (unsigned i = 0; i < g->npins; i++)
            kt_secbuf_free(&g->pins[i]);
        free(g->pins);
    }
    memset(g, 0, sizeof *g);
}

static void random_esn(char out[WORLD_ESN_LEN + 1])
{
    uint8_t b[6];
    char hex[13];
    kt_random(b, sizeof b);
    kt_hex(hex, b, sizeof b);
    snprintf(out, WORLD_ESN_LEN + 1, "%.4s-%.4s-%.4s", hex, hex + 4, hex + 8);
    for (char *c = out; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
}

/* Counts key files (key_*) in the local folder, so --force never orphans keys. */
static size_t count_key_files(const world_paths *p)
{
    size_t n = 0;
    DIR *d = opendir(p->local);
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strncmp(de->d_name, "key_", 4) == 0)
            n++;
    closedir(d);
    return n;
}

/* Builds the world file: identity, sealed secrets, KNSO signature. */
static kt_rc seal_world_file(const world_info *in, const uint8_t *token, const uint8_t *km,
                             const uint8_t *knso_seed, const kt_secbuf *knso_sk, kt_wbuf *w,
                             kt_err *e);

static kt_rc build_world_file(world_info *in, const genesis *g, kt_wbuf *w, kt_err *e)
{
    uint8_t quorum[2] = {(uint8_t)in->k, (uint8_t)in->n};
    kt_rc rc;

    kt_wbuf_header(w, WORLD_MAGIC, WORLD_FILE_VERSION);
    kt_wbuf_field(w, WORLD_T_ID, in->id, sizeof in->id);
    kt_wbuf_field(w, WORLD_T_SUITE, in->suite, strlen(in->suite));
    kt_wbuf_field_u64(w, WORLD_T_CREATED, in->created);
    kt_wbuf_field(w, WORLD_T_QUORUM, quorum, sizeof quorum);
    kt_wbuf_field(w, WORLD_T_ESN, in->esn, WORLD_ESN_LEN);
    kt_wbuf_field(w, WORLD_T_KNSO_PUB, in->knso_pub, 32);
    kt_wbuf_field(w, WORLD_T_MODULE_PUB, in->module_pub, 32);
    kt_wbuf_field(w, WORLD_T_HKM, in->hkm, 32);
    kt_wbuf_field_u64(w, WORLD_T_KDF_OPS, in->kdf.opslimit);
    kt_wbuf_field_u64(w, WORLD_T_KDF_MEM, in->kdf.memlimit);
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK)
        return rc;
    kt_sha256(in->hash, w->p, w->len);
    return seal_world_file(in, g->token.p, g->km.p, g->knso_seed.p, &g->knso_sk, w, e);
}

/* Appends to w (the identity) the world secrets sealed under the token, the card set when it is
 * not the first, and KNSO's signature over all of it. */
static kt_rc seal_world_file(const world_info *in, const uint8_t *token, const uint8_t *km,
                             const uint8_t *knso_seed, const kt_secbuf *knso_sk, kt_wbuf *w,
                             kt_err *e)
{
    uint8_t nonce[AEAD_NONCE_LEN], sealed[WORLD_SECRETS_LEN + AEAD_TAG_LEN];
    uint8_t sig[crypto_sign_BYTES];
    kt_secbuf key = {0}, secrets = {0};
    kt_rc rc;

    if ((rc = token_key(token, &key, e)) != KT_OK ||
        (rc = kt_secbuf_alloc(&secrets, WORLD_SECRETS_LEN, e)) != KT_OK)
        goto out;
    memcpy(secrets.p, km, WORLD_KM_LEN);
    memcpy(secrets.p + WORLD_KM_LEN, knso_seed, SEED_LEN);
    kt_random(nonce, sizeof nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, secrets.p, secrets.len, w->p, w->len,
                                               NULL, nonce, key.p);
    kt_wbuf_field(w, WORLD_T_NONCE, nonce, sizeof nonce);
    kt_wbuf_field(w, WORLD_T_SECRETS, sealed, sizeof sealed);
    if (in->cardset > 1) {
        uint8_t cs[14];
        for (int i = 0; i < 4; i++)
            cs[i] = (uint8_t)(in->cardset >> (24 - 8 * i));
        cs[4] = (uint8_t)in->k;
        cs[5] = (uint8_t)in->n;
        for (int i = 0; i < 8; i++)
            cs[6 + i] = (uint8_t)(in->cards_replaced >> (56 - 8 * i));
        kt_wbuf_field(w, WORLD_T_CARDSET, cs, sizeof cs);
    }
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK)
        goto out;
    crypto_sign_detached(sig, NULL, w->p, w->len, knso_sk->p);
    kt_wbuf_field(w, WORLD_T_SIG, sig, sizeof sig);
    rc = kt_wbuf_finish(w, e);
out:
    kt_secbuf_free(&key);
    kt_secbuf_free(&secrets);
    return rc;
}

/* Asks every card's PIN before anything is written, so a failed prompt leaves nothing behind. */
static kt_rc collect_pins(const world_paths *p, const world_new_opts *o, const world_info *in,
                          genesis *g, kt_err *e)
{
    g->pins = calloc(o->n, sizeof *g->pins);
    if (g->pins == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    g->npins = o->n;
    for (unsigned i = 0; i < o->n; i++) {
        char path[PATH_MAX];
        kt_rc rc = card_path(p, in->hash, in->cardset, i + 1, path, sizeof path, e);
        if (rc == KT_OK)
            rc = o->pin(o->pin_ctx, i + 1, path, true, &g->pins[i], e);
        if (rc != KT_OK)
            return rc;
        if (g->pins[i].len < KT_PIN_MIN_NEW || g->pins[i].len > KT_PIN_MAX)
            return kt_fail(e, KT_EUSAGE, "the PIN for card %u must be %d to %d characters", i + 1,
                           KT_PIN_MIN_NEW, KT_PIN_MAX);
    }
    return KT_OK;
}

/* The first entry of the new world's audit log; a replaced world's log is kept beside it as
 * audit_<first 16 hex of its world hash>. */
static kt_rc stage_genesis_audit(const world_paths *p, const world_new_opts *o,
                                 const world_info *in, const genesis *g, kt_txn *t, kt_err *e)
{
    char path[PATH_MAX], quorum[16], hash[65];
    kt_rc rc;

    if (snprintf(path, sizeof path, "%s/%s", p->local, WORLD_AUDIT_NAME) >= (int)sizeof path)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
    if (kt_path_exists(path)) {
        kt_buf old = {0};
        uint8_t oldhash[WORLD_HASH_LEN];
        char name[NAME_MAX + 1], hex[65];
        if ((rc = kt_file_read(path, WORLD_AUDIT_FILE_MAX, &old, e)) != KT_OK)
            return rc;
        /* The world hash sits after magic, version and the field head. */
        if (old.len >= 16 + WORLD_HASH_LEN)
            memcpy(oldhash, old.p + 16, WORLD_HASH_LEN);
        else
            memset(oldhash, 0, sizeof oldhash);
        kt_hex(hex, oldhash, WORLD_HASH_LEN);
        snprintf(name, sizeof name, "%s_%.16s", WORLD_AUDIT_NAME, hex);
        rc = kt_txn_put(t, 0, name, old.p, old.len, KT_TXN_REPLACE, e);
        kt_buf_free(&old);
        if (rc != KT_OK)
            return rc;
    }
    snprintf(quorum, sizeof quorum, "%u/%u", in->k, in->n);
    kt_hex(hash, in->hash, WORLD_HASH_LEN);
    json_t *d =
        json_pack("{s:s, s:s, s:s, s:s, s:b}", "quorum", quorum, "esn", in->esn, "world_hash", hash,
                  "cipher_suite", in->suite, "replaced_world", o->force);
    if (d == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    world_audit_signer s = {.info = in, .module_sk = &g->module_sk, .knso_sk = &g->knso_sk};
    world_audit_op op = {.op = "world new", .detail = d};
    rc = audit_stage_genesis(t, 0, p, &s, &op, e);
    json_decref(d);
    return rc;
}

/*
 * Stages the new world as one change (kt_txn): the cards, the module file and the world file,
 * and the removal of the replaced world's module file. The commit record is the commit point;
 * the world file is published last, so a world file always has its cards and module.
 */
static kt_rc stage_world(const world_paths *p, const world_new_opts *o, const world_info *in,
                         const genesis *g, const kt_wbuf *wf, uint8_t *const *share_ptrs,
                         const uint8_t *xs, const world_info *old, kt_txn *t, kt_err *e)
{
    char name[NAME_MAX + 1];
    kt_wbuf w;
    kt_rc rc;

    for (unsigned i = 0; i < o->n; i++) {
        world_card_info ci = {
            .no = i + 1, .k = o->k, .n = o->n, .x = xs[i], .kdf = o->kdf, .cardset = 1};
        memcpy(ci.world_hash, in->hash, WORLD_HASH_LEN);
        if (o->progress)
            o->progress(o->progress_ctx, "sealing administrator cards", i, o->n);
        if ((rc = card_build(&ci, &g->pins[i], share_ptrs[i], &w, e)) != KT_OK)
            return rc;
        card_name(in->hash, 1, i + 1, name);
        rc = kt_txn_put(t, 1, name, w.p, w.len, KT_TXN_NEW, e);
        kt_wbuf_free(&w);
        if (rc != KT_OK)
            return rc;
    }
    if (o->progress)
        o->progress(o->progress_ctx, "sealing administrator cards", o->n, o->n);
    if ((rc = module_file_build(in, &g->km, &w, e)) != KT_OK)
        return rc;
    snprintf(name, sizeof name, "module_%s", in->esn);
    rc = kt_txn_put(t, 0, name, w.p, w.len, KT_TXN_NEW, e);
    kt_wbuf_free(&w);
    if (rc != KT_OK || (rc = kt_txn_put(t, 0, "world", wf->p, wf->len,
                                        o->force ? KT_TXN_REPLACE : KT_TXN_NEW, e)) != KT_OK)
        return rc;
    /* The replaced world's module file holds its KM in the clear: gone, bytes overwritten. Its
     * cards in the cards folder open nothing any more: gone too (copies elsewhere are the
     * holders' to destroy). */
    if (old != NULL && strcmp(old->esn, in->esn) != 0) {
        snprintf(name, sizeof name, "module_%s", old->esn);
        rc = kt_txn_remove(t, 0, name, true, e);
    }
    for (unsigned i = 1; old != NULL && rc == KT_OK && i <= old->n; i++) {
        card_name(old->hash, old->cardset, i, name);
        rc = kt_txn_remove(t, 1, name, true, e);
    }
    return rc == KT_OK ? stage_genesis_audit(p, o, in, g, t, e) : rc;
}

kt_rc world_create(const world_paths *p, const world_new_opts *o, world_info *info,
                   char (*card_paths)[PATH_MAX], kt_err *e)
{
    genesis g = {0};
    world_info in = {0};
    world_info old = {0};
    bool have_old = false, committed = false;
    kt_wbuf w;
    kt_txn *t = NULL;
    uint8_t xs[WORLD_MAX_CARDS];
    uint8_t *share_ptrs[WORLD_MAX_CARDS];
    kt_rc rc;

    memset(info, 0, sizeof *info);
    kt_wbuf_init(&w, false);
    if (o->k < 1 || o->n < o->k || o->n > WORLD_MAX_CARDS)
        return kt_fail(e, KT_EUSAGE, "quorum %u/%u is not possible: 1 <= K <= N <= %d", o->k, o->n,
                       WORLD_MAX_CARDS);
    snprintf(in.suite, sizeof in.suite, "%s", o->suite ? o->suite : WORLD_SUITE_DEFAULT);
    if ((rc = world_check_suite(in.suite, e)) != KT_OK)
        return rc;
    if ((rc = world_kdf_check_profile(&o->kdf, e)) != KT_OK)
        return rc;
    if (o->pin == NULL)
        return kt_fail(e, KT_EUSAGE, "no way to ask for card PINs");

    /* An existing world is replaced only with force, and never while keys depend on it. */
    if (kt_path_exists(p->world)) {
        if (!o->force)
            return kt_fail(e, KT_EEXIST,
                           "a security world already exists in %s; --force replaces it", p->kmdata);
        size_t nkeys = count_key_files(p);
        if (nkeys > 0)
            return kt_fail(e, KT_EEXIST,
                           "%s holds %zu key file(s) protected by the current world; replacing "
                           "the world would make them unusable: move them away first",
                           p->local, nkeys);
        have_old = world_load_info(p, &old, e) == KT_OK;
        kt_err_clear(e);
    }

    /* Fresh secrets. */
    if ((rc = kt_secbuf_alloc(&g.token, WORLD_TOKEN_LEN, e)) ||
        (rc = kt_secbuf_alloc(&g.km, WORLD_KM_LEN, e)) ||
        (rc = kt_secbuf_alloc(&g.knso_seed, SEED_LEN, e)) ||
        (rc = kt_secbuf_alloc(&g.knso_sk, crypto_sign_SECRETKEYBYTES, e)) ||
        (rc = kt_secbuf_alloc(&g.shares, (size_t)o->n * WORLD_TOKEN_LEN, e)))
        goto out;
    kt_random(g.token.p, g.token.len);
    kt_random(g.km.p, g.km.len);
    kt_random(g.knso_seed.p, g.knso_seed.len);
    crypto_sign_seed_keypair(in.knso_pub, g.knso_sk.p, g.knso_seed.p);
    if ((rc = world_module_keypair(&g.km, in.module_pub, &g.module_sk, e)) != KT_OK)
        goto out;
    world_hkm(g.km.p, in.hkm);
    kt_random(in.id, sizeof in.id);
    in.created = (uint64_t)time(NULL);
    in.k = o->k;
    in.n = o->n;
    in.version = WORLD_FILE_VERSION;
    in.kdf_recorded = true;
    in.kdf = o->kdf;
    in.cardset = 1;
    in.ident_k = in.k;
    in.ident_n = in.n;
    random_esn(in.esn);
    if ((rc = build_world_file(&in, &g, &w, e)) != KT_OK)
        goto out;

    for (unsigned i = 0; i < o->n; i++)
        share_ptrs[i] = g.shares.p + (size_t)i * WORLD_TOKEN_LEN;
    if ((rc = shamir_split(g.token.p, WORLD_TOKEN_LEN, o->k, o->n, xs, share_ptrs, e)) != KT_OK)
        goto out;

    if ((rc = collect_pins(p, o, &in, &g, e)) != KT_OK)
        goto out;

    if ((rc = kt_dir_ensure(p->local, e)) || (rc = kt_dir_ensure(p->cards, e)))
        goto out;
    const char *dirs[2] = {p->local, p->cards};
    if ((rc = kt_txn_begin(&t, "world new", dirs, 2, true, NULL, NULL, e)) != KT_OK ||
        (rc = stage_world(p, o, &in, &g, &w, share_ptrs, xs, have_old ? &old : NULL, t, e)) !=
            KT_OK)
        goto out;
    rc = kt_txn_commit(t, &committed, e);
    if (committed) {
        /* From the commit point on the new world stands, whatever else failed. */
        kt_err ignored;
        *info = in;
        if (card_paths != NULL)
            for (unsigned i = 0; i < o->n; i++)
                if (card_path(p, in.hash, 1, i + 1, card_paths[i], PATH_MAX, &ignored) != KT_OK)
                    card_paths[i][0] = '\0';
    }

out:
    kt_txn_free(t); /* undoes the staging unless committed */
    kt_wbuf_free(&w);
    genesis_free(&g);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Cards against the world                                                                  */
/* ---------------------------------------------------------------------------------------- */

static kt_rc card_matches_world(const card *c, const char *path, const world_info *in, kt_err *e)
{
    if (!kt_ct_equal(c->ci.world_hash, in->hash, WORLD_HASH_LEN)) {
        char have[65], want[65];
        kt_hex(have, c->ci.world_hash, WORLD_HASH_LEN);
        kt_hex(want, in->hash, WORLD_HASH_LEN);
        return kt_fail(e, KT_EDENIED, "card %s belongs to world %s, not to this world %s", path,
                       have, want);
    }
    if (c->ci.cardset != in->cardset) {
        char when[32] = "";
        if (in->cards_replaced != 0)
            kt_time_iso8601(when, sizeof when, in->cards_replaced);
        if (c->ci.cardset < in->cardset)
            return kt_fail(e, KT_EDENIED,
                           "card %s is card %u of card set %u of this world, which was replaced "
                           "by card set %u%s%s: it opens nothing any more (destroy it)",
                           path, c->ci.no, (unsigned)c->ci.cardset, (unsigned)in->cardset,
                           when[0] ? " on " : "", when);
        return kt_fail(e, KT_EDENIED,
                       "card %s is of card set %u, but this world file knows only card set %u up "
                       "to now: the world file is older than the card (restore the current one)",
                       path, (unsigned)c->ci.cardset, (unsigned)in->cardset);
    }
    if (c->ci.k != in->k || c->ci.n != in->n)
        return kt_fail(e, KT_EDENIED, "card %s states quorum %u/%u, the world %u/%u", path, c->ci.k,
                       c->ci.n, in->k, in->n);
    return KT_OK;
}

/*
 * Refuses a card sealed below floor, before its PIN is asked: a PIN guess against it would cost
 * next to nothing. why says where the floor comes from.
 */
static kt_rc card_meets_floor(const card *c, const char *path, const world_kdf *floor,
                              const char *why, kt_err *e)
{
    char have[48], want[48];

    if (world_kdf_meets(&c->ci.kdf, floor))
        return KT_OK;
    world_kdf_format(&c->ci.kdf, have, sizeof have);
    world_kdf_format(floor, want, sizeof want);
    return kt_fail(e, KT_EDENIED,
                   "card %u (%s) is sealed with Argon2id %s, below %s of %s: a PIN guess against "
                   "it costs next to nothing, so it is refused before any PIN is asked. "
                   "keytransfer never seals a card that weakly; treat this one as altered and "
                   "use another card of the set",
                   c->ci.no, path, have, why, want);
}

/* The floor of in's cards, and a phrase that says where it comes from. */
static void world_floor(const world_info *in, world_kdf *floor, char *why, size_t whysz)
{
    world_kdf abs;
    const char *name;

    world_kdf_floor(&abs);
    world_kdf_floor_of(in, floor);
    name = in->kdf_recorded ? world_kdf_profile_name(&in->kdf) : NULL;
    if (!in->kdf_recorded || world_kdf_meets(&abs, floor))
        snprintf(why, whysz, "%s", "the floor (libsodium's interactive limits)");
    else if (name != NULL)
        snprintf(why, whysz, "this world's floor (the %s profile it was made with)", name);
    else
        snprintf(why, whysz, "%s", "this world's floor (the profile it was made with)");
}

kt_rc world_card_inspect(const char *card_path_, world_card_info *ci, kt_err *e)
{
    card c;
    world_kdf floor;
    kt_rc rc = card_read(card_path_, &c, e);

    world_kdf_floor(&floor);
    if (rc == KT_OK)
        rc = card_meets_floor(&c, card_path_, &floor, "the floor (libsodium's interactive limits)",
                              e);
    if (rc == KT_OK)
        *ci = c.ci;
    card_free(&c);
    return rc;
}

kt_rc world_check_card(const world_paths *p, const char *path, world_pin_fn pin, void *pin_ctx,
                       world_card_info *ci, kt_err *e)
{
    world_info in;
    card c;
    kt_secbuf pinbuf = {0}, share = {0};
    kt_rc rc = world_load_info(p, &in, e);
    if (rc != KT_OK)
        return rc;
    if ((rc = card_read(path, &c, e)) != KT_OK)
        return rc;
    world_kdf floor;
    char why[96];
    world_floor(&in, &floor, why, sizeof why);
    if ((rc = card_matches_world(&c, path, &in, e)) ||
        (rc = card_meets_floor(&c, path, &floor, why, e)) ||
        (rc = pin(pin_ctx, c.ci.no, path, false, &pinbuf, e)) ||
        (rc = kt_secbuf_alloc(&share, WORLD_TOKEN_LEN, e)))
        goto out;
    if ((rc = card_open(&c, &pinbuf, share.p, e)) != KT_OK) {
        kt_err_prefix(e, "%s", path);
        goto out;
    }
    *ci = c.ci;
out:
    kt_secbuf_free(&pinbuf);
    kt_secbuf_free(&share);
    card_free(&c);
    return rc;
}

kt_rc world_admin_open(const world_paths *p, const char *const *cards, size_t ncards,
                       world_pin_fn pin, void *pin_ctx, world_admin *a, kt_err *e)
{
    world_file wf;
    card cs[WORLD_MAX_CARDS];
    size_t nread = 0;
    kt_secbuf shares = {0}, token = {0}, key = {0}, secrets = {0}, pinbuf = {0};
    uint8_t xs[WORLD_MAX_CARDS];
    const uint8_t *share_ptrs[WORLD_MAX_CARDS];
    unsigned k;
    kt_rc rc;

    memset(a, 0, sizeof *a);
    if ((rc = world_file_read(p, &wf, e)) != KT_OK)
        return rc;
    k = wf.info.k;
    if (ncards > WORLD_MAX_CARDS) {
        rc = kt_fail(e, KT_EUSAGE, "%zu cards given; a world has at most %d", ncards,
                     WORLD_MAX_CARDS);
        goto out;
    }

    /* Every card is checked for world, KDF floor and duplicates before any PIN is asked. */
    world_kdf floor;
    char why[96];
    world_floor(&wf.info, &floor, why, sizeof why);
    for (size_t i = 0; i < ncards; i++) {
        if ((rc = card_read(cards[i], &cs[i], e)) != KT_OK)
            goto out;
        nread++;
        if ((rc = card_matches_world(&cs[i], cards[i], &wf.info, e)) != KT_OK ||
            (rc = card_meets_floor(&cs[i], cards[i], &floor, why, e)) != KT_OK)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (cs[j].ci.no == cs[i].ci.no || cs[j].ci.x == cs[i].ci.x) {
                rc = kt_fail(e, KT_EDENIED,
                             "card %s is card %u of this set again (already given as %s); each "
                             "card counts once toward the quorum",
                             cards[i], cs[i].ci.no, cards[j]);
                goto out;
            }
    }
    if (ncards < k) {
        rc = kt_fail(e, KT_EQUORUM, "quorum not met: %zu card%s given, %u of %u needed", ncards,
                     ncards == 1 ? "" : "s", k, wf.info.n);
        goto out;
    }

    if ((rc = kt_secbuf_alloc(&shares, (size_t)k * WORLD_TOKEN_LEN, e)))
        goto out;
    for (unsigned i = 0; i < k; i++) {
        share_ptrs[i] = shares.p + (size_t)i * WORLD_TOKEN_LEN;
        xs[i] = cs[i].ci.x;
        if ((rc = pin(pin_ctx, cs[i].ci.no, cards[i], false, &pinbuf, e)) != KT_OK)
            goto out;
        rc = card_open(&cs[i], &pinbuf, shares.p + (size_t)i * WORLD_TOKEN_LEN, e);
        kt_secbuf_free(&pinbuf);
        if (rc != KT_OK) {
            kt_err_prefix(e, "%s", cards[i]);
            goto out;
        }
    }

    if ((rc = kt_secbuf_alloc(&token, WORLD_TOKEN_LEN, e)) ||
        (rc = shamir_combine(xs, share_ptrs, k, WORLD_TOKEN_LEN, token.p, e)) ||
        (rc = token_key(token.p, &key, e)) ||
        (rc = kt_secbuf_alloc(&secrets, WORLD_SECRETS_LEN, e)))
        goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(secrets.p, NULL, NULL, wf.sealed,
                                                   sizeof wf.sealed, wf.raw.p, wf.ident_len,
                                                   wf.nonce, key.p) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "the cards opened, but their shares do not reconstruct this world's logical "
                     "token: a card was altered or the world file's secrets are damaged");
        goto out;
    }

    /* The secrets must be the ones the identity promises. */
    uint8_t hkm[32], knso_pub[32];
    world_hkm(secrets.p, hkm);
    a->info = wf.info;
    if ((rc = kt_secbuf_alloc(&a->km, WORLD_KM_LEN, e)) ||
        (rc = kt_secbuf_alloc(&a->knso_sk, crypto_sign_SECRETKEYBYTES, e)))
        goto out;
    memcpy(a->km.p, secrets.p, WORLD_KM_LEN);
    crypto_sign_seed_keypair(knso_pub, a->knso_sk.p, secrets.p + WORLD_KM_LEN);
    for (unsigned i = 0; i < k; i++)
        a->cards_used[i] = cs[i].ci.no;
    a->ncards_used = k;
    if (!kt_ct_equal(hkm, wf.info.hkm, 32) || !kt_ct_equal(knso_pub, wf.info.knso_pub, 32))
        rc = kt_fail(e, KT_EDENIED, "the world secrets do not match the world's public identity");

out:
    if (rc != KT_OK)
        world_admin_close(a);
    for (size_t i = 0; i < nread; i++)
        card_free(&cs[i]);
    kt_secbuf_free(&shares);
    kt_secbuf_free(&token);
    kt_secbuf_free(&key);
    kt_secbuf_free(&secrets);
    kt_secbuf_free(&pinbuf);
    world_file_free(&wf);
    return rc;
}

void world_admin_close(world_admin *a)
{
    kt_secbuf_free(&a->km);
    kt_secbuf_free(&a->knso_sk);
    memset(a, 0, sizeof *a);
}

/* The module's signing key from KM, for an audit entry made under the quorum. */
static kt_rc admin_signer(const world_admin *a, kt_secbuf *module_sk, world_audit_signer *s,
                          kt_err *e)
{
    uint8_t pk[32];
    kt_rc rc = world_module_keypair(&a->km, pk, module_sk, e);
    if (rc != KT_OK)
        return rc;
    s->info = &a->info;
    s->module_sk = module_sk;
    s->knso_sk = &a->knso_sk;
    return KT_OK;
}

kt_rc world_program(const world_paths *p, const char *const *cards, size_t ncards, world_pin_fn pin,
                    void *pin_ctx, bool force, kt_err *e)
{
    world_info in;
    world_module m;
    world_admin a;
    kt_secbuf msk = {0};
    world_audit_signer s;
    kt_txn *t = NULL;
    kt_wbuf w;
    bool committed = false;
    char name[NAME_MAX + 1];
    kt_rc rc = world_load_info(p, &in, e);
    if (rc != KT_OK)
        return rc;
    rc = world_module_open(p, &m, e);
    if (rc == KT_OK) {
        world_module_close(&m);
        if (!force)
            return kt_fail(e, KT_EEXIST,
                           "module %s is already programmed with this world; --force rewrites it",
                           in.esn);
    } else if (rc != KT_ENOENT && !force) {
        kt_err_prefix(e, "the module file is present but unusable (--force rewrites it)");
        return rc;
    }
    kt_err_clear(e);

    if ((rc = world_admin_open(p, cards, ncards, pin, pin_ctx, &a, e)) != KT_OK)
        return rc;
    kt_wbuf_init(&w, true);
    /* The module file and its audit entry, one change: the entry is signed with the module key
     * the quorum just recovered (there is no module file to take it from yet). */
    const char *dirs[1] = {p->local};
    snprintf(name, sizeof name, "module_%s", a.info.esn);
    json_t *d = json_pack("{s:s, s:b}", "esn", a.info.esn, "rewritten", force);
    world_audit_op op = {
        .op = "world program", .detail = d, .cards = a.cards_used, .ncards = a.ncards_used};
    if (d == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    else if ((rc = admin_signer(&a, &msk, &s, e)) == KT_OK &&
             (rc = module_file_build(&a.info, &a.km, &w, e)) == KT_OK &&
             (rc = kt_txn_begin(&t, "world program", dirs, 1, true, NULL, NULL, e)) == KT_OK &&
             (rc = kt_txn_put(t, 0, name, w.p, w.len, force ? KT_TXN_REPLACE : KT_TXN_NEW, e)) ==
                 KT_OK &&
             (rc = world_audit_stage(t, 0, p, &s, &op, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
    kt_txn_free(t);
    json_decref(d);
    kt_wbuf_free(&w);
    kt_secbuf_free(&msk);
    world_admin_close(&a);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Card lifecycle: a new PIN, a new card set                                                */
/* ---------------------------------------------------------------------------------------- */

/* Splits path into its folder and file name. */
static kt_rc split_path(const char *path, char *dir, size_t dirsz, char *base, size_t basesz,
                        kt_err *e)
{
    const char *slash = strrchr(path, '/');
    int n1, n2;
    if (slash == NULL) {
        n1 = snprintf(dir, dirsz, ".");
        n2 = snprintf(base, basesz, "%s", path);
    } else {
        n1 = snprintf(dir, dirsz, "%.*s", slash == path ? 1 : (int)(slash - path), path);
        n2 = snprintf(base, basesz, "%s", slash + 1);
    }
    if (n1 < 0 || (size_t)n1 >= dirsz || n2 <= 0 || (size_t)n2 >= basesz)
        return kt_fail(e, KT_EUSAGE, "card path '%s' is too long or names no file", path);
    return KT_OK;
}

kt_rc world_change_pin(const world_paths *p, const char *path, world_pin_fn pin, void *pin_ctx,
                       world_card_info *ci, kt_err *e)
{
    world_module m;
    card c;
    kt_secbuf oldpin = {0}, newpin = {0}, share = {0};
    kt_wbuf w;
    kt_txn *t = NULL;
    bool committed = false;
    char dir[PATH_MAX], base[NAME_MAX + 1], why[96];
    world_kdf floor;
    json_t *d = NULL;
    kt_rc rc;

    if ((rc = world_module_open(p, &m, e)) != KT_OK) {
        if (rc == KT_ENOENT)
            kt_err_prefix(e, "a PIN change is recorded in the audit log, which the module signs");
        return rc;
    }
    kt_wbuf_init(&w, false);
    if ((rc = card_read(path, &c, e)) != KT_OK) {
        world_module_close(&m);
        return rc;
    }
    world_floor(&m.info, &floor, why, sizeof why);
    if ((rc = split_path(path, dir, sizeof dir, base, sizeof base, e)) ||
        (rc = card_matches_world(&c, path, &m.info, e)) ||
        (rc = card_meets_floor(&c, path, &floor, why, e)) ||
        (rc = pin(pin_ctx, c.ci.no, path, false, &oldpin, e)) ||
        (rc = kt_secbuf_alloc(&share, WORLD_TOKEN_LEN, e)))
        goto out;
    if ((rc = card_open(&c, &oldpin, share.p, e)) != KT_OK) {
        kt_err_prefix(e, "%s", path);
        goto out;
    }
    if ((rc = pin(pin_ctx, c.ci.no, path, true, &newpin, e)) != KT_OK)
        goto out;
    if (newpin.len < KT_PIN_MIN_NEW || newpin.len > KT_PIN_MAX) {
        rc = kt_fail(e, KT_EUSAGE, "the new PIN for card %u must be %d to %d characters", c.ci.no,
                     KT_PIN_MIN_NEW, KT_PIN_MAX);
        goto out;
    }
    if (newpin.len == oldpin.len && kt_ct_equal(newpin.p, oldpin.p, newpin.len)) {
        rc = kt_fail(e, KT_EUSAGE, "the new PIN for card %u is the old one", c.ci.no);
        goto out;
    }
    /* The same share, the same card facts; a fresh salt and nonce under the new PIN. */
    if ((rc = card_build(&c.ci, &newpin, share.p, &w, e)) != KT_OK)
        goto out;
    d = json_pack("{s:i, s:i, s:s}", "card", (int)c.ci.no, "card_set", (int)c.ci.cardset, "file",
                  base);
    world_audit_signer s = {.info = &m.info, .module_sk = &m.module_sk};
    world_audit_op op = {.op = "world change-pin", .detail = d};
    const char *dirs[2] = {p->local, dir};
    if (d == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    else if ((rc = kt_txn_begin(&t, "world change-pin", dirs, 2, true, NULL, NULL, e)) == KT_OK &&
             (rc = kt_txn_put(t, 1, base, w.p, w.len, KT_TXN_REPLACE, e)) == KT_OK &&
             (rc = world_audit_stage(t, 0, p, &s, &op, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
    if (committed)
        *ci = c.ci;
out:
    kt_txn_free(t);
    json_decref(d);
    kt_wbuf_free(&w);
    kt_secbuf_free(&oldpin);
    kt_secbuf_free(&newpin);
    kt_secbuf_free(&share);
    card_free(&c);
    world_module_close(&m);
    return rc;
}

kt_rc world_replace_cards(const world_paths *p, const world_replace_opts *o, world_info *info,
                          char (*card_paths)[PATH_MAX], kt_err *e)
{
    world_admin a;
    world_file wf = {0};
    world_info in;
    kt_secbuf token = {0}, seed = {0}, shares = {0}, msk = {0};
    kt_secbuf pins[WORLD_MAX_CARDS] = {{0}};
    uint8_t xs[WORLD_MAX_CARDS];
    uint8_t *share_ptrs[WORLD_MAX_CARDS];
    world_audit_signer s;
    kt_wbuf w;
    kt_txn *t = NULL;
    bool committed = false;
    json_t *d = NULL;
    world_kdf floor;
    char name[NAME_MAX + 1], quorum[16];
    kt_rc rc;

    memset(info, 0, sizeof *info);
    kt_wbuf_init(&w, false);
    if (o->k < 1 || o->n < 1 || o->k > o->n || o->n > WORLD_MAX_CARDS)
        return kt_fail(e, KT_EUSAGE, "quorum %u/%u is not possible: 1 <= K <= N <= %d", o->k, o->n,
                       WORLD_MAX_CARDS);
    if ((rc = world_kdf_check_profile(&o->kdf, e)) != KT_OK)
        return rc;
    if ((rc = world_admin_open(p, o->cards, o->ncards, o->pin, o->pin_ctx, &a, e)) != KT_OK)
        return rc;
    world_kdf_floor_of(&a.info, &floor);
    if (!world_kdf_meets(&o->kdf, &floor)) {
        char have[48], want[48];
        world_kdf_format(&o->kdf, have, sizeof have);
        world_kdf_format(&floor, want, sizeof want);
        rc = kt_fail(e, KT_EUSAGE,
                     "new cards sealed with Argon2id %s would be below this world's floor of %s "
                     "and refused: give a profile at least as strong",
                     have, want);
        goto out;
    }
    if (a.info.cardset == UINT32_MAX) {
        rc = kt_fail(e, KT_EUSAGE, "this world's card sets are numbered up to the last");
        goto out;
    }
    if ((rc = world_file_read(p, &wf, e)) != KT_OK)
        goto out;

    /* The world as it will be: the same identity, a new card set. */
    in = a.info;
    in.cardset = a.info.cardset + 1;
    in.k = o->k;
    in.n = o->n;
    in.cards_replaced = (uint64_t)time(NULL);
    if ((rc = kt_secbuf_alloc(&token, WORLD_TOKEN_LEN, e)) ||
        (rc = kt_secbuf_alloc(&seed, SEED_LEN, e)) ||
        (rc = kt_secbuf_alloc(&shares, (size_t)o->n * WORLD_TOKEN_LEN, e)))
        goto out;
    kt_random(token.p, token.len);
    crypto_sign_ed25519_sk_to_seed(seed.p, a.knso_sk.p);
    for (unsigned i = 0; i < o->n; i++)
        share_ptrs[i] = shares.p + (size_t)i * WORLD_TOKEN_LEN;
    if ((rc = shamir_split(token.p, WORLD_TOKEN_LEN, o->k, o->n, xs, share_ptrs, e)) != KT_OK)
        goto out;

    /* Every new PIN before anything is written. */
    for (unsigned i = 0; i < o->n; i++) {
        char path[PATH_MAX];
        if ((rc = card_path(p, in.hash, in.cardset, i + 1, path, sizeof path, e)) ||
            (rc = o->pin(o->pin_ctx, i + 1, path, true, &pins[i], e)))
            goto out;
        if (pins[i].len < KT_PIN_MIN_NEW || pins[i].len > KT_PIN_MAX) {
            rc = kt_fail(e, KT_EUSAGE, "the PIN for new card %u must be %d to %d characters", i + 1,
                         KT_PIN_MIN_NEW, KT_PIN_MAX);
            goto out;
        }
    }

    kt_wbuf_bytes(&w, wf.raw.p, wf.ident_len);
    if ((rc = kt_wbuf_finish(&w, e)) ||
        (rc = seal_world_file(&in, token.p, a.km.p, seed.p, &a.knso_sk, &w, e)))
        goto out;

    if ((rc = kt_dir_ensure(p->cards, e)) != KT_OK)
        goto out;
    const char *dirs[2] = {p->local, p->cards};
    if ((rc = kt_txn_begin(&t, "world replace-cards", dirs, 2, true, NULL, NULL, e)) != KT_OK)
        goto out;
    for (unsigned i = 0; i < o->n; i++) {
        world_card_info ci = {
            .no = i + 1, .k = o->k, .n = o->n, .x = xs[i], .kdf = o->kdf, .cardset = in.cardset};
        kt_wbuf cw;
        memcpy(ci.world_hash, in.hash, WORLD_HASH_LEN);
        if (o->progress)
            o->progress(o->progress_ctx, "sealing the new administrator cards", i, o->n);
        if ((rc = card_build(&ci, &pins[i], share_ptrs[i], &cw, e)) != KT_OK)
            goto out;
        card_name(in.hash, in.cardset, i + 1, name);
        rc = kt_txn_put(t, 1, name, cw.p, cw.len, KT_TXN_NEW, e);
        kt_wbuf_free(&cw);
        if (rc != KT_OK)
            goto out;
    }
    if (o->progress)
        o->progress(o->progress_ctx, "sealing the new administrator cards", o->n, o->n);
    snprintf(quorum, sizeof quorum, "%u/%u", in.k, in.n);
    d = json_pack("{s:i, s:s, s:i}", "new_card_set", (int)in.cardset, "new_quorum", quorum,
                  "old_card_set", (int)a.info.cardset);
    world_audit_op op = {
        .op = "world replace-cards", .detail = d, .cards = a.cards_used, .ncards = a.ncards_used};
    if (d == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    else if ((rc = kt_txn_put(t, 0, "world", w.p, w.len, KT_TXN_REPLACE, e)) == KT_OK &&
             (rc = admin_signer(&a, &msk, &s, e)) == KT_OK &&
             (rc = world_audit_stage(t, 0, p, &s, &op, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
    if (committed) {
        kt_err ignored;
        *info = in;
        if (card_paths != NULL)
            for (unsigned i = 0; i < o->n; i++)
                if (card_path(p, in.hash, in.cardset, i + 1, card_paths[i], PATH_MAX, &ignored) !=
                    KT_OK)
                    card_paths[i][0] = '\0';
    }
out:
    kt_txn_free(t);
    json_decref(d);
    kt_wbuf_free(&w);
    world_file_free(&wf);
    for (unsigned i = 0; i < WORLD_MAX_CARDS; i++)
        kt_secbuf_free(&pins[i]);
    kt_secbuf_free(&token);
    kt_secbuf_free(&seed);
    kt_secbuf_free(&shares);
    kt_secbuf_free(&msk);
    world_admin_close(&a);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    const world_card_found *x = a, *y = b;
    return strcmp(x->path, y->path);
}

kt_rc world_cards_scan(const world_paths *p, const world_info *info, world_card_found **found,
                       size_t *count, kt_err *e)
{
    world_card_found *f = NULL;
    size_t n = 0, cap = 0;

    *found = NULL;
    *count = 0;
    DIR *d = opendir(p->cards);
    if (d == NULL)
        return errno == ENOENT ? KT_OK
                               : kt_fail_errno(e, KT_EIO, errno, "cannot list %s", p->cards);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (strncmp(de->d_name, "card_", 5) != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            world_card_found *nf = realloc(f, ncap * sizeof *nf);
            if (nf == NULL) {
                closedir(d);
                free(f);
                return kt_fail(e, KT_ENOMEM, "out of memory");
            }
            f = nf;
            cap = ncap;
        }
        world_card_found *c = &f[n];
        memset(c, 0, sizeof *c);
        if (snprintf(c->path, sizeof c->path, "%s/%s", p->cards, de->d_name) >= (int)sizeof c->path)
            continue;
        card cd;
        c->rc = card_read(c->path, &cd, &c->err);
        if (c->rc == KT_OK) {
            c->ci = cd.ci;
            card_free(&cd);
            c->this_world =
                info != NULL && kt_ct_equal(c->ci.world_hash, info->hash, WORLD_HASH_LEN);
            c->current = c->this_world && c->ci.cardset == info->cardset;
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(f, n, sizeof *f, by_path);
    *found = f;
    *count = n;
    return KT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Listing cards                                                                            */
/* ---------------------------------------------------------------------------------------- */

typedef struct found_card {
    unsigned no;
    char *path;
} found_card;

static int by_card_no(const void *a, const void *b)
{
    const found_card *x = a, *y = b;
    return (x->no > y->no) - (x->no < y->no);
}

kt_rc world_list_cards(const world_paths *p, const world_info *info, char ***paths, size_t *count,
                       kt_err *e)
{
    char prefix[32], hex[65];
    found_card found[WORLD_MAX_CARDS];
    size_t n = 0;
    kt_rc rc = KT_OK;

    *paths = NULL;
    *count = 0;
    kt_hex(hex, info->hash, WORLD_HASH_LEN);
    snprintf(prefix, sizeof prefix, "card_%.16s_", hex);
    DIR *d = opendir(p->cards);
    if (d == NULL)
        return errno == ENOENT ? KT_OK
                               : kt_fail_errno(e, KT_EIO, errno, "cannot list %s", p->cards);
    for (struct dirent *de; (de = readdir(d)) != NULL && n < WORLD_MAX_CARDS;) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[PATH_MAX];
        card c;
        kt_err ignored;
        if (snprintf(path, sizeof path, "%s/%s", p->cards, de->d_name) >= (int)sizeof path)
            continue;
        /* Listed by format and world only: a card below the KDF floor is still found here, and
         * check-card says what is wrong with it. */
        if (card_read(path, &c, &ignored) != KT_OK)
            continue;
        bool ours = kt_ct_equal(c.ci.world_hash, info->hash, WORLD_HASH_LEN) &&
                    c.ci.cardset == info->cardset;
        unsigned no = c.ci.no;
        card_free(&c);
        if (!ours)
            continue;
        found[n].no = no;
        found[n].path = strdup(path);
        if (found[n].path == NULL) {
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == KT_OK && n > 0) {
        qsort(found, n, sizeof found[0], by_card_no);
        *paths = calloc(n, sizeof **paths);
        if (*paths == NULL)
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == KT_OK)
            (*paths)[i] = found[i].path;
        else
            free(found[i].path);
    }
    if (rc == KT_OK)
        *count = n;
    return rc;
}
