/*
 * token_bind.h - a PKCS#11 token bound to the security world (docs/formats.md, "Token files"):
 *
 *   local/tokenso_<hex16>          the token's Security Officer PIN, sealed (XChaCha20-Poly1305)
 *                                  under a key only the administrator quorum can derive (from
 *                                  KNSO's seed, which the K-of-N Shamir split of the logical
 *                                  token guards): no SO login, so no trusted KEK and no trusted
 *                                  session key, without K cards. hex16 names the token
 *                                  (token_identity_hash).
 *   local/tokenkey_xferacld_<id>   the reduced-token record: token, key label and CKA_ID, type,
 *                                  public key, the reduced ACL (ExportWrapped to one KEK: its
 *                                  fingerprint, kid and world), signed by KNSO. `package --token`
 *                                  refuses a token key without it, or for another KEK.
 *
 * keytransfer writes each in one change of the commit protocol with its audit entry (world
 * bind-token, modify-acls). The caller holds the world lock (exclusive to write). Secrets stay in
 * sodium memory and are wiped.
 */
#ifndef KT_WORLD_TOKEN_BIND_H
#define KT_WORLD_TOKEN_BIND_H

#include "world.h"

#define WORLD_TOKEN_ID_LEN    32 /* token_identity_hash */
#define WORLD_TOKEN_DESC_MAX  127
#define WORLD_TOKEN_KEYID_MAX 64
#define WORLD_TOKEN_APP       "xferacld"

/* How the two kinds of token files are named in local/ (what a backup copies). */
#define WORLD_TOKEN_SO_PREFIX     "tokenso_"
#define WORLD_TOKEN_RECORD_PREFIX "tokenkey_" WORLD_TOKEN_APP "_" /* then the ident */

/* The SO PIN file's path for a token identity. */
KT_MUST kt_rc world_token_so_path(const world_paths *p, const uint8_t token_id[WORLD_TOKEN_ID_LEN],
                                  char *out, size_t outsz, kt_err *e);

/*
 * Seals so_pin for the token token_id (desc: "label, serial S" for people, printable) under the
 * quorum a (opened with world_admin_open) as local/tokenso_<hex16>: staged into the change t at
 * its folder dir (p->local; the caller stages the audit entry beside it and commits), or, with t
 * NULL, written alone with the careful writer. An existing file is KT_EEXIST unless replace. path
 * (PATH_MAX, may be NULL) receives the file's path.
 */
KT_MUST kt_rc world_token_so_seal(const world_paths *p, const world_admin *a,
                                  const uint8_t token_id[WORLD_TOKEN_ID_LEN], const char *desc,
                                  const kt_secbuf *so_pin, bool replace, kt_txn *t, size_t dir,
                                  char *path, kt_err *e);

/*
 * Opens the SO PIN sealed for token_id with the quorum a. No file: KT_ENOENT saying to run
 * `keytransfer world bind-token`; a file of another world or token, or one that does not open:
 * KT_EDENIED. *so_pin: secure memory, kt_secbuf_free.
 */
KT_MUST kt_rc world_token_so_open(const world_paths *p, const world_admin *a,
                                  const uint8_t token_id[WORLD_TOKEN_ID_LEN], kt_secbuf *so_pin,
                                  kt_err *e);

/* The reduced-token record. */
typedef struct world_token_record {
    uint8_t world_hash[WORLD_HASH_LEN];
    char ident[WORLD_KEY_IDENT_MAX + 1];  /* the key's CKA_LABEL */
    uint8_t token_id[WORLD_TOKEN_ID_LEN]; /* token_identity_hash */
    char token_desc[WORLD_TOKEN_DESC_MAX + 1];
    uint8_t key_id[WORLD_TOKEN_KEYID_MAX]; /* the key's CKA_ID */
    size_t key_id_len;
    world_key_type type;
    unsigned bits;
    char curve[WORLD_KEY_CURVE_MAX + 1];
    uint8_t spki[WORLD_KEY_SPKI_MAX]; /* RSA, EC */
    size_t spki_len;
    uint8_t key_hash[WORLD_HASH_LEN]; /* world_token_key_hash */
    world_acl acl;                    /* the reduced ACL */
    uint64_t created;
    char path[PATH_MAX]; /* where it was read from or written to */
} world_token_record;

/*
 * The key hash a token key is known by in records and manifests: RSA and EC, the SHA-256 of the
 * SPKI DER (as for a world key); AES, whose bytes never leave the token, SHA-256 over
 * "keytransfer token AES key v1" || token_id || u8 length || CKA_ID.
 */
void world_token_key_hash(world_key_type type, const uint8_t *spki, size_t spki_len,
                          const uint8_t token_id[WORLD_TOKEN_ID_LEN], const uint8_t *key_id,
                          size_t key_id_len, uint8_t out[WORLD_HASH_LEN]);

/* The record's path: local/tokenkey_xferacld_<ident>. */
KT_MUST kt_rc world_token_record_path(const world_paths *p, const char *ident, char *out,
                                      size_t outsz, kt_err *e);

/* Signs r (its world_hash is set to a's world) with KNSO and stages it as a new file into the
 * change t at its folder dir (p->local), or with t NULL writes it alone (KT_EEXIST when there is
 * one); r->path receives the path. */
KT_MUST kt_rc world_token_record_save(const world_paths *p, const world_admin *a,
                                      world_token_record *r, kt_txn *t, size_t dir, kt_err *e);

/*
 * Reads local/tokenkey_xferacld_<ident> and checks its format, that it is of world info and that
 * KNSO's signature covers every byte (KT_EDENIED otherwise). None: KT_ENOENT.
 */
KT_MUST kt_rc world_token_record_load(const world_paths *p, const world_info *info,
                                      const char *ident, world_token_record *r, kt_err *e);

#endif
