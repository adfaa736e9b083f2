/*
 * card.c - administrator card files: one Shamir share of the world's logical token each, sealed
 * with XChaCha20-Poly1305 under a key derived from the card's PIN by Argon2id (libsodium
 * crypto_pwhash), with the KDF parameters and salt recorded in the card. Every byte before the
 * sealed share (world hash, card number, quorum, x, KDF parameters, nonce) is associated data.
 * Also the KDF floor: no card is sealed below libsodium's interactive limits, and world.c opens
 * none below them or below its world's profile.
 */
#include "world_internal.h"

#include <stdio.h>
#include <string.h>

const char CARD_MAGIC[8] = {'K', 'T', 'X', 'A', 'C', 'S', 'C', 'D'};

void card_free(card *c)
{
    kt_buf_free(&c->raw);
    memset(c, 0, sizeof *c);
}

kt_rc card_path(const world_paths *p, const uint8_t *world_hash, uint32_t set, unsigned no,
                char *out, size_t outsz, kt_err *e)
{
    char name[CARD_NAME_MAX];
    card_name(world_hash, set, no, name);
    int n = snprintf(out, outsz, "%s/%s", p->cards, name);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "card folder path too long: %s", p->cards);
    return KT_OK;
}

void card_name(const uint8_t *world_hash, uint32_t set, unsigned no, char out[CARD_NAME_MAX])
{
    char hex[2 * WORLD_HASH_LEN + 1];
    kt_hex(hex, world_hash, WORLD_HASH_LEN);
    if (set <= 1)
        snprintf(out, CARD_NAME_MAX, "card_%.16s_%u", hex, no);
    else
        snprintf(out, CARD_NAME_MAX, "card_%.16s_s%u_%u", hex, (unsigned)set, no);
}

/* ---- the KDF floor ---- */

static world_kdf floor_now = {crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE};

void world_kdf_floor_lower_for_tests(const world_kdf *floor)
{
    /* Lowers only, each limit on its own: a test cannot raise the floor by mistake either. */
    if (floor == NULL) {
        floor_now = WORLD_KDF_INTERACTIVE;
        return;
    }
    if (floor->opslimit < floor_now.opslimit)
        floor_now.opslimit = floor->opslimit;
    if (floor->memlimit < floor_now.memlimit)
        floor_now.memlimit = floor->memlimit;
}

void world_kdf_floor(world_kdf *out)
{
    *out = floor_now;
}

void world_kdf_floor_of(const world_info *info, world_kdf *out)
{
    world_kdf_floor(out);
    if (!info->kdf_recorded)
        return;
    if (info->kdf.opslimit > out->opslimit)
        out->opslimit = info->kdf.opslimit;
    if (info->kdf.memlimit > out->memlimit)
        out->memlimit = info->kdf.memlimit;
}

bool world_kdf_meets(const world_kdf *k, const world_kdf *floor)
{
    return k->opslimit >= floor->opslimit && k->memlimit >= floor->memlimit;
}

const char *world_kdf_profile_name(const world_kdf *k)
{
    if (k->opslimit == WORLD_KDF_MODERATE.opslimit && k->memlimit == WORLD_KDF_MODERATE.memlimit)
        return "moderate";
    if (k->opslimit == WORLD_KDF_INTERACTIVE.opslimit &&
        k->memlimit == WORLD_KDF_INTERACTIVE.memlimit)
        return "interactive";
    return NULL;
}

void world_kdf_format(const world_kdf *k, char *out, size_t outsz)
{
    const uint64_t mib = 1024 * 1024;

    if (k->memlimit % mib == 0)
        snprintf(out, outsz, "opslimit %llu, memlimit %llu MiB", (unsigned long long)k->opslimit,
                 (unsigned long long)(k->memlimit / mib));
    else
        snprintf(out, outsz, "opslimit %llu, memlimit %llu KiB", (unsigned long long)k->opslimit,
                 (unsigned long long)(k->memlimit / 1024));
}

kt_rc world_kdf_check_profile(const world_kdf *k, kt_err *e)
{
    world_kdf floor;
    char have[48], want[48];

    world_kdf_floor(&floor);
    world_kdf_format(k, have, sizeof have);
    world_kdf_format(&floor, want, sizeof want);
    if (!world_kdf_meets(k, &floor))
        return kt_fail(e, KT_EUSAGE,
                       "Argon2id %s is below the floor of %s (libsodium's interactive limits): "
                       "cards sealed that cheaply would be refused",
                       have, want);
    if (k->opslimit > WORLD_KDF_OPS_MAX || k->memlimit > WORLD_KDF_MEM_MAX)
        return kt_fail(e, KT_EUSAGE,
                       "Argon2id %s is above the largest a card may state (%u, %llu MiB)", have,
                       WORLD_KDF_OPS_MAX, WORLD_KDF_MEM_MAX >> 20);
    return KT_OK;
}

/* ---- card files ---- */

static kt_rc check_kdf(const world_kdf *k, kt_err *e)
{
    if (k->opslimit < crypto_pwhash_OPSLIMIT_MIN || k->opslimit > WORLD_KDF_OPS_MAX)
        return kt_fail(e, KT_EFORMAT, "Argon2id opslimit %llu is outside %u..%u",
                       (unsigned long long)k->opslimit, (unsigned)crypto_pwhash_OPSLIMIT_MIN,
                       WORLD_KDF_OPS_MAX);
    if (k->memlimit < crypto_pwhash_MEMLIMIT_MIN || k->memlimit > WORLD_KDF_MEM_MAX)
        return kt_fail(e, KT_EFORMAT, "Argon2id memlimit %llu bytes is outside %u..%llu",
                       (unsigned long long)k->memlimit, (unsigned)crypto_pwhash_MEMLIMIT_MIN,
                       WORLD_KDF_MEM_MAX);
    return KT_OK;
}

kt_rc card_parse(card *c, kt_err *e)
{
    kt_rbuf r;
    uint16_t version;
    uint8_t set[3], x, alg;
    kt_rc rc;

    kt_rbuf_init(&r, c->raw.p, c->raw.len, "card");
    if ((rc = kt_rbuf_header(&r, CARD_MAGIC, &version, e)) != KT_OK)
        return rc;
    if (version != WORLD_FORMAT_VERSION && version != CARD_FORMAT_V2)
        return kt_fail(e, KT_EVERSION,
                       "card format version %u is not supported (this reads %u and %u)", version,
                       WORLD_FORMAT_VERSION, CARD_FORMAT_V2);
    if ((rc = kt_rbuf_field_fixed(&r, CARD_T_WORLD, c->ci.world_hash, WORLD_HASH_LEN, e)) ||
        (rc = kt_rbuf_field_fixed(&r, CARD_T_SET, set, sizeof set, e)) ||
        (rc = kt_rbuf_field_fixed(&r, CARD_T_X, &x, 1, e)))
        return rc;
    c->ci.cardset = 1;
    if (version == CARD_FORMAT_V2) {
        uint8_t cs[4];
        if ((rc = kt_rbuf_field_fixed(&r, CARD_T_CSET, cs, sizeof cs, e)) != KT_OK)
            return rc;
        c->ci.cardset = kt_be32(cs);
        if (c->ci.cardset < 2)
            return kt_fail(e, KT_EFORMAT, "card format 2 names card set %u; it starts at 2",
                           (unsigned)c->ci.cardset);
    }
    if ((rc = kt_rbuf_field_fixed(&r, CARD_T_KDFALG, &alg, 1, e)) ||
        (rc = kt_rbuf_field_u64(&r, CARD_T_OPS, &c->ci.kdf.opslimit, e)) ||
        (rc = kt_rbuf_field_u64(&r, CARD_T_MEM, &c->ci.kdf.memlimit, e)) ||
        (rc = kt_rbuf_field_fixed(&r, CARD_T_SALT, c->salt, SALT_LEN, e)) ||
        (rc = kt_rbuf_field_fixed(&r, CARD_T_NONCE, c->nonce, AEAD_NONCE_LEN, e)))
        return rc;
    c->aad_len = r.off;
    if ((rc = kt_rbuf_field_fixed(&r, CARD_T_SEALED, c->sealed, sizeof c->sealed, e)) ||
        (rc = kt_rbuf_end(&r, e)))
        return rc;

    c->ci.no = set[0];
    c->ci.k = set[1];
    c->ci.n = set[2];
    c->ci.x = x;
    if (c->ci.n < 1 || c->ci.n > WORLD_MAX_CARDS || c->ci.k < 1 || c->ci.k > c->ci.n ||
        c->ci.no < 1 || c->ci.no > c->ci.n)
        return kt_fail(e, KT_EFORMAT, "card %u states an impossible quorum %u/%u", c->ci.no,
                       c->ci.k, c->ci.n);
    if (x == 0)
        return kt_fail(e, KT_EFORMAT,
                       "card %u holds a share at x = 0, which would be the token itself; a "
                       "genuine card never does: refused",
                       c->ci.no);
    if (alg != crypto_pwhash_ALG_ARGON2ID13)
        return kt_fail(e, KT_EFORMAT, "card %u names KDF algorithm %u; only Argon2id (%d) is known",
                       c->ci.no, alg, crypto_pwhash_ALG_ARGON2ID13);
    rc = check_kdf(&c->ci.kdf, e);
    if (rc != KT_OK)
        kt_err_prefix(e, "card %u", c->ci.no);
    return rc;
}

kt_rc card_read(const char *path, card *c, kt_err *e)
{
    memset(c, 0, sizeof *c);
    kt_rc rc = kt_file_read(path, CARD_FILE_MAX, &c->raw, e);
    if (rc == KT_OK)
        rc = card_parse(c, e);
    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", path);
        card_free(c);
    }
    return rc;
}

/* Argon2id(PIN, salt) with the card's parameters into key (secure, 32 bytes). */
static kt_rc derive_key(const kt_secbuf *pin, const uint8_t *salt, const world_kdf *kdf,
                        kt_secbuf *key, kt_err *e)
{
    kt_rc rc = kt_secbuf_alloc(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, e);
    if (rc != KT_OK)
        return rc;
    if (crypto_pwhash(key->p, key->len, (const char *)pin->p, pin->len, salt, kdf->opslimit,
                      (size_t)kdf->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        kt_secbuf_free(key);
        return kt_fail(e, KT_ENOMEM, "Argon2id could not allocate %llu bytes",
                       (unsigned long long)kdf->memlimit);
    }
    return KT_OK;
}

kt_rc card_open(const card *c, const kt_secbuf *pin, uint8_t *share, kt_err *e)
{
    kt_secbuf key = {0};
    kt_rc rc = derive_key(pin, c->salt, &c->ci.kdf, &key, e);
    if (rc != KT_OK)
        return rc;
    unsigned long long outlen = 0;
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        share, &outlen, NULL, c->sealed, sizeof c->sealed, c->raw.p, c->aad_len, c->nonce, key.p);
    kt_secbuf_free(&key);
    if (bad != 0 || outlen != WORLD_TOKEN_LEN) {
        kt_wipe(share, WORLD_TOKEN_LEN);
        return kt_fail(e, KT_EPIN, "wrong PIN or damaged card %u", c->ci.no);
    }
    return KT_OK;
}

kt_rc card_build(const world_card_info *ci, const kt_secbuf *pin, const uint8_t *share,
                 kt_wbuf *w_out, kt_err *e)
{
    uint8_t set[3] = {(uint8_t)ci->no, (uint8_t)ci->k, (uint8_t)ci->n};
    uint8_t alg = crypto_pwhash_ALG_ARGON2ID13;
    uint8_t salt[SALT_LEN], nonce[AEAD_NONCE_LEN];
    uint8_t sealed[WORLD_TOKEN_LEN + AEAD_TAG_LEN];
    kt_secbuf key = {0};
    kt_wbuf w;
    kt_rc rc;

    kt_wbuf_init(w_out, false);
    if (ci->x == 0)
        return kt_fail(e, KT_EUSAGE, "a share at x = 0 is never written");
    if ((rc = world_kdf_check_profile(&ci->kdf, e)) != KT_OK)
        return rc;
    kt_random(salt, sizeof salt);
    kt_random(nonce, sizeof nonce);

    kt_wbuf_init(&w, false);
    kt_wbuf_header(&w, CARD_MAGIC, ci->cardset > 1 ? CARD_FORMAT_V2 : WORLD_FORMAT_VERSION);
    kt_wbuf_field(&w, CARD_T_WORLD, ci->world_hash, WORLD_HASH_LEN);
    kt_wbuf_field(&w, CARD_T_SET, set, sizeof set);
    kt_wbuf_field(&w, CARD_T_X, &ci->x, 1);
    if (ci->cardset > 1) {
        uint8_t cs[4] = {(uint8_t)(ci->cardset >> 24), (uint8_t)(ci->cardset >> 16),
                         (uint8_t)(ci->cardset >> 8), (uint8_t)ci->cardset};
        kt_wbuf_field(&w, CARD_T_CSET, cs, sizeof cs);
    }
    kt_wbuf_field(&w, CARD_T_KDFALG, &alg, 1);
    kt_wbuf_field_u64(&w, CARD_T_OPS, ci->kdf.opslimit);
    kt_wbuf_field_u64(&w, CARD_T_MEM, ci->kdf.memlimit);
    kt_wbuf_field(&w, CARD_T_SALT, salt, sizeof salt);
    kt_wbuf_field(&w, CARD_T_NONCE, nonce, sizeof nonce);
    if ((rc = kt_wbuf_finish(&w, e)) != KT_OK)
        goto out;

    if ((rc = derive_key(pin, salt, &ci->kdf, &key, e)) != KT_OK)
        goto out;
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, share, WORLD_TOKEN_LEN, w.p, w.len,
                                               NULL, nonce, key.p);
    kt_wbuf_field(&w, CARD_T_SEALED, sealed, sizeof sealed);
    if ((rc = kt_wbuf_finish(&w, e)) != KT_OK)
        goto out;
out:
    kt_secbuf_free(&key);
    if (rc == KT_OK)
        *w_out = w;
    else
        kt_wbuf_free(&w);
    return rc;
}

kt_rc card_write(const char *path, const world_card_info *ci, const kt_secbuf *pin,
                 const uint8_t *share, kt_err *e)
{
    kt_wbuf w;
    kt_rc rc = card_build(ci, pin, share, &w, e);

    if (rc == KT_OK) {
        rc = kt_file_write(path, w.p, w.len, KT_WRITE_NEW, e);
        kt_wbuf_free(&w);
    }
    return rc;
}
