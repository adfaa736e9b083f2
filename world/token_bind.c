/*
 * token_bind.c - a PKCS#11 token bound to the security world (token_bind.h): its Security
 * Officer PIN sealed under the administrator quorum, and the KNSO-signed record of a token key
 * whose transfer the quorum approved. Layouts: docs/formats.md, "Token files".
 */
#include "token_bind.h"

#include "world_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SO_MAGIC[8] = {'K', 'T', 'T', 'O', 'K', 'S', 'O', '1'};
static const char REC_MAGIC[8] = {'K', 'T', 'T', 'O', 'K', 'R', 'C', '1'};
#define TOKEN_FILE_VERSION 1
#define TOKEN_FILE_MAX     (16 * 1024)

enum {
    SO_T_WORLD = 1,  /* world hash, 32 */
    SO_T_TOKEN = 2,  /* token identity, 32 */
    SO_T_DESC = 3,   /* printable, 1..127 */
    SO_T_NONCE = 4,  /* 24 */
    SO_T_SEALED = 5, /* SO PIN + tag; AAD = every byte before this field */
};

enum {
    REC_T_WORLD = 1,
    REC_T_IDENT = 2,
    REC_T_TOKEN = 3,
    REC_T_DESC = 4,
    REC_T_KEYID = 5,
    REC_T_TYPE = 6,  /* u64 */
    REC_T_BITS = 7,  /* u64 */
    REC_T_CURVE = 8, /* 0..9 bytes */
    REC_T_SPKI = 9,  /* 0..WORLD_KEY_SPKI_MAX */
    REC_T_KEYHASH = 10,
    REC_T_ACL = 11,
    REC_T_CREATED = 12, /* u64 */
    REC_T_SIG = 0x20,   /* Ed25519 (KNSO) over the domain and every byte before this field */
};

static const char SO_KDF_DOMAIN[] = "keytransfer token SO PIN v1";
static const char REC_SIG_DOMAIN[] = "keytransfer token record v1";

static bool is_printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

kt_rc world_token_so_path(const world_paths *p, const uint8_t token_id[WORLD_TOKEN_ID_LEN],
                          char *out, size_t outsz, kt_err *e)
{
    char hex[65];
    kt_hex(hex, token_id, WORLD_TOKEN_ID_LEN);
    int n = snprintf(out, outsz, "%s/" WORLD_TOKEN_SO_PREFIX "%.16s", p->local, hex);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
    return KT_OK;
}

/* The sealing key: BLAKE2b-256 keyed with KNSO's seed (the first 32 bytes of its Ed25519 secret
 * key) over the domain, the world hash and the token identity. */
static kt_rc so_key(const world_admin *a, const uint8_t token_id[WORLD_TOKEN_ID_LEN],
                    kt_secbuf *key, kt_err *e)
{
    uint8_t msg[sizeof SO_KDF_DOMAIN - 1 + WORLD_HASH_LEN + WORLD_TOKEN_ID_LEN];
    kt_rc rc;

    if (a->knso_sk.p == NULL || a->knso_sk.len != crypto_sign_SECRETKEYBYTES)
        return kt_fail(e, KT_EUSAGE, "the token's SO PIN needs the opened administrator quorum");
    if ((rc = kt_secbuf_alloc(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, e)) != KT_OK)
        return rc;
    memcpy(msg, SO_KDF_DOMAIN, sizeof SO_KDF_DOMAIN - 1);
    memcpy(msg + sizeof SO_KDF_DOMAIN - 1, a->info.hash, WORLD_HASH_LEN);
    memcpy(msg + sizeof SO_KDF_DOMAIN - 1 + WORLD_HASH_LEN, token_id, WORLD_TOKEN_ID_LEN);
    crypto_generichash(key->p, key->len, msg, sizeof msg, a->knso_sk.p, SEED_LEN);
    return KT_OK;
}

kt_rc world_token_so_seal(const world_paths *p, const world_admin *a,
                          const uint8_t token_id[WORLD_TOKEN_ID_LEN], const char *desc,
                          const kt_secbuf *so_pin, bool replace, kt_txn *t, size_t dir, char *path,
                          kt_err *e)
{
    char file[PATH_MAX];
    uint8_t nonce[AEAD_NONCE_LEN];
    kt_secbuf key = {0}, sealed = {0};
    kt_wbuf w;
    kt_rc rc;

    if (!is_printable(desc, WORLD_TOKEN_DESC_MAX))
        return kt_fail(e, KT_EUSAGE, "the token description must be printable text");
    if (so_pin->len == 0 || so_pin->len > KT_PIN_MAX)
        return kt_fail(e, KT_EUSAGE, "the SO PIN must have 1..%d bytes", KT_PIN_MAX);
    if ((rc = world_token_so_path(p, token_id, file, sizeof file, e)) != KT_OK)
        return rc;
    if (!replace && kt_path_exists(file))
        return kt_fail(e, KT_EEXIST,
                       "%s exists: this token is bound already (give --force to seal a new SO "
                       "PIN)",
                       file);
    if ((rc = so_key(a, token_id, &key, e)) != KT_OK)
        return rc;
    if ((rc = kt_secbuf_alloc(&sealed, so_pin->len + AEAD_TAG_LEN, e)) != KT_OK) {
        kt_secbuf_free(&key);
        return rc;
    }
    kt_random(nonce, sizeof nonce);
    kt_wbuf_init(&w, false);
    kt_wbuf_header(&w, SO_MAGIC, TOKEN_FILE_VERSION);
    kt_wbuf_field(&w, SO_T_WORLD, a->info.hash, WORLD_HASH_LEN);
    kt_wbuf_field(&w, SO_T_TOKEN, token_id, WORLD_TOKEN_ID_LEN);
    kt_wbuf_field(&w, SO_T_DESC, desc, strlen(desc));
    kt_wbuf_field(&w, SO_T_NONCE, nonce, sizeof nonce);
    if ((rc = kt_wbuf_finish(&w, e)) == KT_OK) {
        /* XChaCha20-Poly1305 (libsodium IETF construction), AAD = the header so far. */
        crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.p, NULL, so_pin->p, so_pin->len, w.p,
                                                   w.len, NULL, nonce, key.p);
        kt_wbuf_field(&w, SO_T_SEALED, sealed.p, sealed.len);
        if ((rc = kt_wbuf_finish(&w, e)) == KT_OK)
            rc = t != NULL ? kt_txn_put(t, dir, strrchr(file, '/') + 1, w.p, w.len,
                                        replace ? KT_TXN_REPLACE : KT_TXN_NEW, e)
                           : kt_file_write(file, w.p, w.len,
                                           replace ? KT_WRITE_REPLACE : KT_WRITE_NEW, e);
    }
    kt_wbuf_free(&w);
    kt_secbuf_free(&sealed);
    kt_secbuf_free(&key);
    if (rc == KT_OK && path != NULL)
        snprintf(path, PATH_MAX, "%s", file);
    return rc;
}

kt_rc world_token_so_open(const world_paths *p, const world_admin *a,
                          const uint8_t token_id[WORLD_TOKEN_ID_LEN], kt_secbuf *so_pin, kt_err *e)
{
    char file[PATH_MAX], desc[WORLD_TOKEN_DESC_MAX + 1];
    uint8_t world[WORLD_HASH_LEN], tok[WORLD_TOKEN_ID_LEN], nonce[AEAD_NONCE_LEN];
    const uint8_t *sealed;
    size_t sealed_len, aad_len;
    uint16_t version;
    kt_buf raw = {0};
    kt_secbuf key = {0};
    kt_rbuf r;
    kt_rc rc;

    memset(so_pin, 0, sizeof *so_pin);
    if ((rc = world_token_so_path(p, token_id, file, sizeof file, e)) != KT_OK)
        return rc;
    rc = kt_file_read(file, TOKEN_FILE_MAX, &raw, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_ENOENT,
                       "this token is not bound to the world (there is no %s): run keytransfer "
                       "world bind-token --token URI with the administrator cards first",
                       file);
    if (rc != KT_OK)
        return rc;
    kt_rbuf_init(&r, raw.p, raw.len, "token SO PIN file");
    if ((rc = kt_rbuf_header(&r, SO_MAGIC, &version, e)) != KT_OK)
        goto out;
    if (version != TOKEN_FILE_VERSION) {
        rc = kt_fail(e, KT_EVERSION, "%s: version %u is not known", file, version);
        goto out;
    }
    if ((rc = kt_rbuf_field_fixed(&r, SO_T_WORLD, world, sizeof world, e)) != KT_OK ||
        (rc = kt_rbuf_field_fixed(&r, SO_T_TOKEN, tok, sizeof tok, e)) != KT_OK ||
        (rc = kt_rbuf_field_str(&r, SO_T_DESC, desc, WORLD_TOKEN_DESC_MAX, e)) != KT_OK ||
        (rc = kt_rbuf_field_fixed(&r, SO_T_NONCE, nonce, sizeof nonce, e)) != KT_OK)
        goto out;
    aad_len = r.off;
    if ((rc = kt_rbuf_field(&r, SO_T_SEALED, AEAD_TAG_LEN + 1, AEAD_TAG_LEN + KT_PIN_MAX, &sealed,
                            &sealed_len, e)) != KT_OK ||
        (rc = kt_rbuf_end(&r, e)) != KT_OK)
        goto out;
    if (memcmp(world, a->info.hash, WORLD_HASH_LEN) != 0 ||
        memcmp(tok, token_id, WORLD_TOKEN_ID_LEN) != 0) {
        rc = kt_fail(e, KT_EDENIED, "%s belongs to another world or token", file);
        goto out;
    }
    if ((rc = so_key(a, token_id, &key, e)) != KT_OK ||
        (rc = kt_secbuf_alloc(so_pin, sealed_len - AEAD_TAG_LEN, e)) != KT_OK)
        goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(so_pin->p, NULL, NULL, sealed, sealed_len, raw.p,
                                                   aad_len, nonce, key.p) != 0) {
        kt_secbuf_free(so_pin);
        rc = kt_fail(e, KT_EDENIED,
                     "%s does not open with this world's administrator quorum: it was changed "
                     "or damaged",
                     file);
    }
out:
    if (rc != KT_OK && rc != KT_EDENIED && rc != KT_ENOENT)
        kt_err_prefix(e, "%s", file);
    kt_secbuf_free(&key);
    kt_buf_free(&raw);
    return rc;
}

void world_token_key_hash(world_key_type type, const uint8_t *spki, size_t spki_len,
                          const uint8_t token_id[WORLD_TOKEN_ID_LEN], const uint8_t *key_id,
                          size_t key_id_len, uint8_t out[WORLD_HASH_LEN])
{
    static const char domain[] = "keytransfer token AES key v1";
    uint8_t buf[sizeof domain - 1 + WORLD_TOKEN_ID_LEN + 1 + WORLD_TOKEN_KEYID_MAX];
    size_t n = sizeof domain - 1;

    if (type != WORLD_KEY_AES) {
        kt_sha256(out, spki, spki_len);
        return;
    }
    if (key_id_len > WORLD_TOKEN_KEYID_MAX)
        key_id_len = WORLD_TOKEN_KEYID_MAX;
    memcpy(buf, domain, n);
    memcpy(buf + n, token_id, WORLD_TOKEN_ID_LEN);
    n += WORLD_TOKEN_ID_LEN;
    buf[n++] = (uint8_t)key_id_len;
    memcpy(buf + n, key_id, key_id_len);
    n += key_id_len;
    kt_sha256(out, buf, n);
}

kt_rc world_token_record_path(const world_paths *p, const char *ident, char *out, size_t outsz,
                              kt_err *e)
{
    kt_rc rc = world_key_check_ident(ident, e);
    if (rc != KT_OK)
        return rc;
    int n = snprintf(out, outsz, "%s/" WORLD_TOKEN_RECORD_PREFIX "%s", p->local, ident);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
    return KT_OK;
}

/* The record's bytes up to (not including) the signature field. */
static kt_rc record_body(const world_token_record *r, kt_wbuf *w, kt_err *e)
{
    uint8_t acl[WORLD_ACL_ENCODED_MAX];
    size_t acl_len;
    kt_rc rc = world_acl_encode(&r->acl, acl, &acl_len, e);
    if (rc != KT_OK)
        return rc;
    kt_wbuf_init(w, false);
    kt_wbuf_header(w, REC_MAGIC, TOKEN_FILE_VERSION);
    kt_wbuf_field(w, REC_T_WORLD, r->world_hash, WORLD_HASH_LEN);
    kt_wbuf_field(w, REC_T_IDENT, r->ident, strlen(r->ident));
    kt_wbuf_field(w, REC_T_TOKEN, r->token_id, WORLD_TOKEN_ID_LEN);
    kt_wbuf_field(w, REC_T_DESC, r->token_desc, strlen(r->token_desc));
    kt_wbuf_field(w, REC_T_KEYID, r->key_id, r->key_id_len);
    kt_wbuf_field_u64(w, REC_T_TYPE, (uint64_t)r->type);
    kt_wbuf_field_u64(w, REC_T_BITS, r->bits);
    kt_wbuf_field(w, REC_T_CURVE, r->curve, strlen(r->curve));
    kt_wbuf_field(w, REC_T_SPKI, r->spki, r->spki_len);
    kt_wbuf_field(w, REC_T_KEYHASH, r->key_hash, WORLD_HASH_LEN);
    kt_wbuf_field(w, REC_T_ACL, acl, acl_len);
    kt_wbuf_field_u64(w, REC_T_CREATED, r->created);
    return kt_wbuf_finish(w, e);
}

/* The message KNSO signs: the domain, then the body. */
static kt_rc sig_message(const uint8_t *body, size_t len, kt_buf *msg, kt_err *e)
{
    size_t d = sizeof REC_SIG_DOMAIN - 1;
    if ((msg->p = malloc(d + len)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    memcpy(msg->p, REC_SIG_DOMAIN, d);
    memcpy(msg->p + d, body, len);
    msg->len = d + len;
    return KT_OK;
}

kt_rc world_token_record_save(const world_paths *p, const world_admin *a, world_token_record *r,
                              kt_txn *t, size_t dir, kt_err *e)
{
    uint8_t sig[crypto_sign_BYTES];
    kt_buf msg = {0};
    kt_wbuf w;
    kt_rc rc;

    if (a->knso_sk.p == NULL || a->knso_sk.len != crypto_sign_SECRETKEYBYTES)
        return kt_fail(e, KT_EUSAGE, "signing a token record needs the administrator quorum");
    if ((rc = world_key_check_ident(r->ident, e)) != KT_OK)
        return rc;
    if (!is_printable(r->token_desc, WORLD_TOKEN_DESC_MAX) || r->key_id_len == 0 ||
        r->key_id_len > WORLD_TOKEN_KEYID_MAX || strlen(r->curve) > WORLD_KEY_CURVE_MAX ||
        r->spki_len > WORLD_KEY_SPKI_MAX)
        return kt_fail(e, KT_EUSAGE, "the token record is not complete");
    memcpy(r->world_hash, a->info.hash, WORLD_HASH_LEN);
    if ((rc = world_token_record_path(p, r->ident, r->path, sizeof r->path, e)) != KT_OK)
        return rc;
    if ((rc = record_body(r, &w, e)) != KT_OK) {
        kt_wbuf_free(&w);
        return rc;
    }
    if ((rc = sig_message(w.p, w.len, &msg, e)) == KT_OK &&
        crypto_sign_detached(sig, NULL, msg.p, msg.len, a->knso_sk.p) != 0)
        rc = kt_fail(e, KT_ECRYPTO, "signing the token record with KNSO failed");
    if (rc == KT_OK) {
        kt_wbuf_field(&w, REC_T_SIG, sig, sizeof sig);
        if ((rc = kt_wbuf_finish(&w, e)) == KT_OK)
            rc = t != NULL
                     ? kt_txn_put(t, dir, strrchr(r->path, '/') + 1, w.p, w.len, KT_TXN_NEW, e)
                     : kt_file_write(r->path, w.p, w.len, KT_WRITE_NEW, e);
        if (rc == KT_EEXIST)
            rc = kt_fail(e, KT_EEXIST,
                         "%s exists: key %s of this token was reduced already; keytransfer never "
                         "replaces a record",
                         r->path, r->ident);
    }
    kt_buf_free(&msg);
    kt_wbuf_free(&w);
    return rc;
}

kt_rc world_token_record_load(const world_paths *p, const world_info *info, const char *ident,
                              world_token_record *r, kt_err *e)
{
    const uint8_t *v, *sig;
    size_t vlen, sig_len, body_len;
    uint64_t u;
    uint16_t version;
    kt_buf raw = {0}, msg = {0};
    kt_rbuf rb;
    kt_rc rc;

    memset(r, 0, sizeof *r);
    if ((rc = world_token_record_path(p, ident, r->path, sizeof r->path, e)) != KT_OK)
        return rc;
    if ((rc = kt_file_read(r->path, TOKEN_FILE_MAX, &raw, e)) != KT_OK)
        return rc;
    kt_rbuf_init(&rb, raw.p, raw.len, "token record");
    if ((rc = kt_rbuf_header(&rb, REC_MAGIC, &version, e)) != KT_OK)
        goto out;
    if (version != TOKEN_FILE_VERSION) {
        rc = kt_fail(e, KT_EVERSION, "version %u is not known", version);
        goto out;
    }
    if ((rc = kt_rbuf_field_fixed(&rb, REC_T_WORLD, r->world_hash, WORLD_HASH_LEN, e)) != KT_OK ||
        (rc = kt_rbuf_field_str(&rb, REC_T_IDENT, r->ident, WORLD_KEY_IDENT_MAX, e)) != KT_OK ||
        (rc = kt_rbuf_field_fixed(&rb, REC_T_TOKEN, r->token_id, WORLD_TOKEN_ID_LEN, e)) != KT_OK ||
        (rc = kt_rbuf_field_str(&rb, REC_T_DESC, r->token_desc, WORLD_TOKEN_DESC_MAX, e)) !=
            KT_OK ||
        (rc = kt_rbuf_field(&rb, REC_T_KEYID, 1, WORLD_TOKEN_KEYID_MAX, &v, &vlen, e)) != KT_OK)
        goto out;
    memcpy(r->key_id, v, vlen);
    r->key_id_len = vlen;
    if ((rc = kt_rbuf_field_u64(&rb, REC_T_TYPE, &u, e)) != KT_OK)
        goto out;
    if (u != WORLD_KEY_RSA && u != WORLD_KEY_EC && u != WORLD_KEY_AES) {
        rc = kt_fail(e, KT_EFORMAT, "unknown key type %llu", (unsigned long long)u);
        goto out;
    }
    r->type = (world_key_type)u;
    if ((rc = kt_rbuf_field_u64(&rb, REC_T_BITS, &u, e)) != KT_OK)
        goto out;
    if (u == 0 || u > 16384) {
        rc = kt_fail(e, KT_EFORMAT, "a key size of %llu bits", (unsigned long long)u);
        goto out;
    }
    r->bits = (unsigned)u;
    if ((rc = kt_rbuf_field(&rb, REC_T_CURVE, 0, WORLD_KEY_CURVE_MAX, &v, &vlen, e)) != KT_OK)
        goto out;
    memcpy(r->curve, v, vlen);
    r->curve[vlen] = '\0';
    if ((rc = kt_rbuf_field(&rb, REC_T_SPKI, 0, WORLD_KEY_SPKI_MAX, &v, &vlen, e)) != KT_OK)
        goto out;
    memcpy(r->spki, v, vlen);
    r->spki_len = vlen;
    if ((rc = kt_rbuf_field_fixed(&rb, REC_T_KEYHASH, r->key_hash, WORLD_HASH_LEN, e)) != KT_OK ||
        (rc = kt_rbuf_field(&rb, REC_T_ACL, 1, WORLD_ACL_ENCODED_MAX, &v, &vlen, e)) != KT_OK ||
        (rc = world_acl_decode(v, vlen, &r->acl, e)) != KT_OK ||
        (rc = kt_rbuf_field_u64(&rb, REC_T_CREATED, &r->created, e)) != KT_OK)
        goto out;
    body_len = rb.off;
    if ((rc = kt_rbuf_field(&rb, REC_T_SIG, crypto_sign_BYTES, crypto_sign_BYTES, &sig, &sig_len,
                            e)) != KT_OK ||
        (rc = kt_rbuf_end(&rb, e)) != KT_OK)
        goto out;
    if ((rc = sig_message(raw.p, body_len, &msg, e)) != KT_OK)
        goto out;
    if (memcmp(r->world_hash, info->hash, WORLD_HASH_LEN) != 0 ||
        crypto_sign_verify_detached(sig, msg.p, msg.len, info->knso_pub) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "the record is not signed by this world's administrator quorum (KNSO): it "
                     "was changed, or belongs to another world");
        goto out;
    }
    if (strcmp(r->ident, ident) != 0) {
        rc = kt_fail(e, KT_EDENIED, "the record is for key %s, not %s", r->ident, ident);
        goto out;
    }
    uint8_t h[WORLD_HASH_LEN];
    world_token_key_hash(r->type, r->spki, r->spki_len, r->token_id, r->key_id, r->key_id_len, h);
    if (memcmp(h, r->key_hash, WORLD_HASH_LEN) != 0)
        rc = kt_fail(e, KT_EFORMAT, "the record's key hash does not match its key");
out:
    if (rc != KT_OK && rc != KT_ENOENT)
        kt_err_prefix(e, "%s", r->path);
    kt_buf_free(&raw);
    kt_buf_free(&msg);
    return rc;
}
