/*
 * world_key.h - world/: keys and their ACLs (key*.c, acl.c). Part of the folder's face; world.h is
 * the index.
 */
#ifndef KT_WORLD_KEY_H
#define KT_WORLD_KEY_H

#include "world_base.h"
#include "world_module.h"
#include "world_paths.h"

/*
 * Module-protected keys, like nShield's key_simple_<ident>: each key lives in
 * <kmdata>/local/key_<app>_<ident>, a record whose header (world hash, names, type, size,
 * public key, key hash, ACL and its signature) is the associated data of an XChaCha20-Poly1305
 * seal, under the KM subkey WORLD_KM_KEY_FILES, of the private key (PKCS#8 PrivateKeyInfo DER
 * for RSA and EC, the raw bytes for AES). docs/formats.md has the layout.
 */

typedef enum world_key_type {
    WORLD_KEY_RSA = 1,
    WORLD_KEY_EC = 2,
    WORLD_KEY_AES = 3,
} world_key_type;

/* ---- ACLs ---- */

/* ACL actions: one bit each (docs/formats.md). */
enum {
    WORLD_ACT_SIGN = 0x01,
    WORLD_ACT_VERIFY = 0x02,
    WORLD_ACT_ENCRYPT = 0x04,
    WORLD_ACT_DECRYPT = 0x08,
    WORLD_ACT_EXPORT_WRAPPED = 0x10, /* wrap the key for transfer to another HSM */
    WORLD_ACT_REDUCE_ACL = 0x20,     /* replace the ACL by a subset of itself */
    WORLD_ACT_IMPORT_UNWRAP = 0x40,  /* a KEK's only permission: unwrap an incoming package */
    WORLD_ACT_ALL = 0x7f,
};

#define WORLD_ACL_MAX_GROUPS 16
/* Longest KEK key identifier a group can be bound to (a Key Vault kid is at most 511 bytes). */
#define WORLD_ACL_KID_MAX 511
/* Longest encoding: a count, then per group actions (4), flags (1), two 32-byte bindings and a
 * kid binding (a u16 length and the kid). */
#define WORLD_ACL_ENCODED_MAX                                                                      \
    (1 + WORLD_ACL_MAX_GROUPS * (4 + 1 + 2 * WORLD_HASH_LEN + 2 + WORLD_ACL_KID_MAX))
#define WORLD_ACL_SIG_LEN 64 /* Ed25519 */

/* A permission group: the actions it allows, and the values they are bound to, if any. */
typedef struct world_acl_group {
    uint32_t actions; /* WORLD_ACT_* bits */
    bool has_kek;     /* the actions need this KEK (SHA-256 fingerprint of its SPKI DER) */
    uint8_t kek_fp[WORLD_HASH_LEN];
    bool has_world; /* the actions need this target world */
    uint8_t world_hash[WORLD_HASH_LEN];
    bool has_kid;                    /* the actions need the KEK to be named by exactly this kid */
    char kid[WORLD_ACL_KID_MAX + 1]; /* 1..WORLD_ACL_KID_MAX bytes of 0x21..0x7e, NUL-ended */
} world_acl_group;

/* An ACL: 1..WORLD_ACL_MAX_GROUPS groups; an action is allowed when any group allows it. */
typedef struct world_acl {
    unsigned ngroups;
    world_acl_group groups[WORLD_ACL_MAX_GROUPS];
} world_acl;

/* The ACL a new key gets: one unbound group with the use permissions of its type (RSA: Sign,
 * Verify, Encrypt, Decrypt; EC: Sign, Verify; AES: Encrypt, Decrypt) plus ExportWrapped and
 * ReduceACL. */
void world_acl_default(world_key_type type, world_acl *acl);

/* The name of one action bit ("Sign", "ExportWrapped", ...); NULL for anything else. */
const char *world_acl_action_name(uint32_t action);

/*
 * Encodes acl (u8 group count, then per group a big-endian u32 actions mask, a u8 flags byte and
 * the bindings the flags announce: KEK fingerprint, world hash, kid as a u16 length and its bytes;
 * docs/formats.md) into out (WORLD_ACL_ENCODED_MAX bytes); *outlen receives the length. An ACL
 * that could not be decoded back (no groups, too many, unknown action bits, a kid binding that is
 * empty, too long or not printable without spaces) is refused (KT_EUSAGE). The encoding is
 * canonical: decode then encode gives the same bytes.
 */
KT_MUST kt_rc world_acl_encode(const world_acl *acl, uint8_t *out, size_t *outlen, kt_err *e);

/* Strict decoding of len bytes: a group count outside 1..16, unknown action or flag bits, a
 * kid binding of length 0 or over WORLD_ACL_KID_MAX or with a byte outside 0x21..0x7e, a
 * truncated group or trailing bytes are KT_EFORMAT. */
KT_MUST kt_rc world_acl_decode(const uint8_t *in, size_t len, world_acl *acl, kt_err *e);

/* What an action is about: each member NULL when the caller has none, which no group bound to
 * that kind of value accepts. */
typedef struct world_acl_target {
    const uint8_t *kek_fp;     /* 32 bytes: the KEK's fingerprint */
    const uint8_t *world_hash; /* 32 bytes: the target world */
    const char *kid;           /* the KEK's key identifier */
} world_acl_target;

/*
 * True when some group allows action (one WORLD_ACT_* bit) for t: the bit is set, and each
 * binding the group has equals the value t gives (the kid byte for byte).
 */
bool world_acl_allows_to(const world_acl *acl, uint32_t action, const world_acl_target *t);

/* world_acl_allows_to with no kid: a group bound to a kid allows nothing here. */
bool world_acl_allows(const world_acl *acl, uint32_t action, const uint8_t *kek_fp,
                      const uint8_t *world_hash);

/*
 * The monotone reduction rule: true when every group of new_acl is covered by some group of
 * old_acl, that is, its actions are a subset of the old group's and every binding the old
 * group has is present in the new group with the same value (a new group may add bindings).
 */
bool world_acl_is_subset(const world_acl *new_acl, const world_acl *old_acl);

/* One group for people: "Sign,Verify,ExportWrapped(kek=ab12cd34…, world=3f9a0c1d…,
 * kid=https://…)", the kid in full; a group without actions is "(nothing)". out: at least 160
 * bytes (700 hold any group whole); longer output is cut. */
void world_acl_format_group(const world_acl_group *g, char *out, size_t outsz);

/* The whole ACL: its groups formatted as above, separated by "; ". */
void world_acl_format(const world_acl *acl, char *out, size_t outsz);

/*
 * KNSO's signature over a reduced ACL: Ed25519 over "keytransfer acl v2" || world hash ||
 * key hash || u8 length || app || u8 length || ident || the ACL's encoding, so the approval
 * holds for this key under this name only. app and ident must pass world_key_check_app and
 * world_key_check_ident (KT_EUSAGE otherwise). world_acl_sign needs the opened quorum
 * (a->knso_sk); world_acl_verify checks sig against the world's KNSO public key (KT_EDENIED when
 * it does not verify).
 */
KT_MUST kt_rc world_acl_sign(const world_admin *a, const char *app, const char *ident,
                             const uint8_t key_hash[WORLD_HASH_LEN], const world_acl *acl,
                             uint8_t sig[WORLD_ACL_SIG_LEN], kt_err *e);
KT_MUST kt_rc world_acl_verify(const world_info *info, const char *app, const char *ident,
                               const uint8_t key_hash[WORLD_HASH_LEN], const world_acl *acl,
                               const uint8_t sig[WORLD_ACL_SIG_LEN], kt_err *e);

/* ---- Key names and types ---- */

#define WORLD_KEY_APP_DEFAULT   "simple"
#define WORLD_KEY_APP_MAX       32   /* [a-z0-9] */
#define WORLD_KEY_IDENT_MAX     64   /* [0-9a-z-], as nShield requires */
#define WORLD_KEY_PLAINNAME_MAX 128  /* printable ASCII */
#define WORLD_KEY_CURVE_MAX     9    /* "secp256k1" */
#define WORLD_KEY_SPKI_MAX      1024 /* an RSA-4096 SubjectPublicKeyInfo is 550 bytes */
#define WORLD_KEY_FILE_MAX      (64 * 1024)

/* "RSA", "EC", "AES"; "?" for anything else. */
const char *world_key_type_name(world_key_type type);

/* Parses "RSA", "EC" or "AES" (any case); anything else is KT_EUSAGE naming the three. */
KT_MUST kt_rc world_key_type_parse(const char *s, world_key_type *type, kt_err *e);

/* Name checks (KT_EUSAGE with the rule): app 1..32 of [a-z0-9]; ident 1..64 of [0-9a-z-];
 * plainname 1..128 printable ASCII characters. */
KT_MUST kt_rc world_key_check_app(const char *app, kt_err *e);
KT_MUST kt_rc world_key_check_ident(const char *ident, kt_err *e);
KT_MUST kt_rc world_key_check_plainname(const char *plainname, kt_err *e);

/*
 * Resolves a curve name to the canonical one ("P-256", "P-384", "P-521", "secp256k1") and its
 * size in bits. The NIST names, OpenSSL's (prime256v1, secp384r1, ...) and nShield's (NISTP256,
 * SECP256k1, ...) are accepted in any case; anything else is KT_EUSAGE naming the supported
 * curves. canonical may be NULL.
 */
KT_MUST kt_rc world_key_curve(const char *name, const char **canonical, unsigned *bits, kt_err *e);

/* The key file path <kmdata>/local/key_<app>_<ident>, after checking both names. */
KT_MUST kt_rc world_key_path(const world_paths *p, const char *app, const char *ident, char *out,
                             size_t outsz, kt_err *e);

/* ---- Key files ---- */

/* What a key file states, all of it authenticated when it comes from world_key_load,
 * world_key_inspect or world_key_list. */
typedef struct world_key_info {
    char app[WORLD_KEY_APP_MAX + 1];
    char ident[WORLD_KEY_IDENT_MAX + 1];
    char plainname[WORLD_KEY_PLAINNAME_MAX + 1];
    world_key_type type;
    unsigned bits;                       /* RSA modulus, EC curve or AES key size */
    char curve[WORLD_KEY_CURVE_MAX + 1]; /* EC: the canonical curve name; else "" */
    uint64_t created;                    /* UNIX seconds */
    uint8_t world_hash[WORLD_HASH_LEN];  /* the world whose KM seals the key */
    uint8_t spki[WORLD_KEY_SPKI_MAX];    /* SubjectPublicKeyInfo DER (RSA, EC) */
    size_t spki_len;                     /* 0 for AES */
    uint8_t key_hash[WORLD_HASH_LEN];    /* SHA-256 of the SPKI DER; AES: see formats.md */
    world_acl acl;
    bool acl_signed; /* the ACL carries KNSO's signature */
    uint8_t acl_sig[WORLD_ACL_SIG_LEN];
    char path[PATH_MAX]; /* the key file */
} world_key_info;

/* A loaded key: its info and the private key in secure memory. */
typedef struct world_key {
    world_key_info info;
    kt_secbuf material; /* PKCS#8 PrivateKeyInfo DER (RSA, EC) or the raw key (AES) */
    EVP_PKEY *pkey;     /* RSA and EC: the same key for OpenSSL; NULL for AES */
} world_key;

/* Wipes and frees the private key (material and pkey); safe on a zeroed world_key. */
void world_key_free(world_key *k);

/* What world_key_generate makes. */
typedef struct world_key_gen_opts {
    world_key_type type;
    unsigned bits;           /* RSA: 2048, 3072 or 4096; AES: 128, 192 or 256; EC: 0 or the
                                curve's size */
    const char *curve;       /* EC only (world_key_curve names) */
    uint64_t pubexp;         /* RSA only: odd, 3..2^32-1; 0 means 65537 */
    const char *app;         /* NULL: WORLD_KEY_APP_DEFAULT */
    const char *ident;       /* required */
    const char *plainname;   /* NULL: the ident */
    kt_progress_fn progress; /* optional, for RSA of 3072 bits and more */
    void *progress_ctx;
    const world_acl *acl; /* NULL: world_acl_default; else the key's ACL (a cloud KEK's
                             ImportUnwrap-only ACL, for one) */
} world_key_gen_opts;

/*
 * Generates a key inside the module (RSA and EC by OpenSSL, AES from the system CSPRNG into
 * secure memory), gives it the default ACL and writes its key file, never replacing one
 * (KT_EEXIST). m is the opened module of p's world. info (optional) receives what was written.
 */
KT_MUST kt_rc world_key_generate(const world_paths *p, const world_module *m,
                                 const world_key_gen_opts *o, world_key_info *info, kt_err *e);

/*
 * Asks for the passphrase of an encrypted key file (source names it). The passphrase goes into
 * *pass (secure memory; the caller of the callback frees it).
 */
typedef kt_rc (*world_pass_fn)(void *ctx, const char *source, kt_secbuf *pass, kt_err *e);

/* What world_key_import brings in. */
typedef struct world_key_import_opts {
    const char *from;      /* the private key file (left untouched) */
    world_key_type type;   /* 0: an RSA or EC private key, whichever the file holds;
                              WORLD_KEY_RSA/EC: the file must hold that type;
                              WORLD_KEY_AES: the file is a raw key of 16, 24 or 32 bytes */
    const char *app;       /* NULL: WORLD_KEY_APP_DEFAULT */
    const char *ident;     /* required */
    const char *plainname; /* NULL: the ident */
    world_pass_fn pass;    /* asked only for an encrypted key; NULL refuses those */
    void *pass_ctx;
} world_key_import_opts;

/*
 * Imports an existing private key: PEM or DER, PKCS#8 (encrypted too), PKCS#1 RSA or SEC1 EC,
 * or a raw AES key. The same rules as world_key_generate hold (RSA 2048/3072/4096 with an odd
 * public exponent 3..2^32-1 and two primes, the four curves, named-curve parameters); the key
 * must hold its private half and pass OpenSSL's pairwise check. A wrong passphrase is KT_EPIN;
 * a public key, a certificate or an unsupported type, size or curve is refused saying what is
 * supported. Writes the key file as generate does.
 */
KT_MUST kt_rc world_key_import(const world_paths *p, const world_module *m,
                               const world_key_import_opts *o, world_key_info *info, kt_err *e);

/*
 * Loads key_<app>_<ident> (app NULL: WORLD_KEY_APP_DEFAULT) with the module's KM: checks the
 * file's format, that it belongs to this world (else KT_EDENIED naming both world hashes) and
 * carries the name it is stored under, opens the seal (KT_EDENIED "damaged or altered"), checks
 * that the private key's public half is the stated public key and the key hash, and verifies
 * the ACL signature when there is one. k is freed with world_key_free.
 */
KT_MUST kt_rc world_key_load(const world_paths *p, const world_module *m, const char *app,
                             const char *ident, world_key *k, kt_err *e);

/* As world_key_load, keeping only the (authenticated) public facts. */
KT_MUST kt_rc world_key_inspect(const world_paths *p, const world_module *m, const char *app,
                                const char *ident, world_key_info *info, kt_err *e);

/*
 * Writes k as a new key file key_<k->info.app>_<k->info.ident> of m's world, sealing
 * k->material, never replacing a file (KT_EEXIST). The info must agree with the material (type,
 * size, curve, public key, key hash); its world hash and path are set from m and p. The path
 * the transfer step's reduced-ACL copies take (a new app name, a reduced and signed ACL).
 */
KT_MUST kt_rc world_key_save(const world_paths *p, const world_module *m, world_key *k, kt_err *e);

/* As world_key_save; with op (not NULL), the key file and op's audit entry, signed by s, are
 * written as one change (kt_txn over p->local). */
struct world_audit_signer;
struct world_audit_op;
KT_MUST kt_rc world_key_save_logged(const world_paths *p, const world_module *m, world_key *k,
                                    const struct world_audit_signer *s,
                                    const struct world_audit_op *op, kt_err *e);

/*
 * Fills k's type, size, curve, public key and key hash from k->material, which holds PKCS#8
 * PrivateKeyInfo DER of an RSA or EC key, or the raw bytes of an AES key when type is
 * WORLD_KEY_AES; for RSA and EC, k->pkey is set and k->material is re-encoded canonically. The
 * rules of world_key_import apply (sizes, curves, two-prime RSA). Names, ACL and creation time
 * are the caller's to set before world_key_save.
 */
KT_MUST kt_rc world_key_describe(world_key *k, world_key_type type, kt_err *e);

/* One key file found by world_key_list: its info when rc is KT_OK, else why it was refused
 * (and then only info.app and info.ident, from the file name, when it has that shape). */
typedef struct world_key_entry {
    char file[PATH_MAX];
    kt_rc rc;
    kt_err err;
    world_key_info info;
} world_key_entry;

/*
 * Lists the key files (key_*) in p->local, each loaded and checked as world_key_load does, sorted
 * by app then ident. *entries is a heap array (free with free()); a file that is refused is an
 * entry with its rc and message, so one bad file does not hide the others.
 */
KT_MUST kt_rc world_key_list(const world_paths *p, const world_module *m, world_key_entry **entries,
                             size_t *count, kt_err *e);

/* Told each key file of world_key_foreach in turn (entry is only valid during the call); a
 * return other than KT_OK (e filled) ends the listing with it. */
typedef kt_rc (*world_key_visit_fn)(void *ctx, const world_key_entry *entry, kt_err *e);

/*
 * world_key_list without the array: each key file (key_*) in p->local, in the same order, loaded
 * and checked as world_key_load does, is handed to visit one at a time, so a listing of N keys
 * holds N file names and one entry, not N entries. The module's key-file subkey is derived and
 * one secure scratch buffer allocated once for the listing (wiped after each key).
 */
KT_MUST kt_rc world_key_foreach(const world_paths *p, const world_module *m,
                                world_key_visit_fn visit, void *ctx, kt_err *e);

/* The public key as PEM ("-----BEGIN PUBLIC KEY-----", the SPKI DER as stored); *pem is a heap
 * string the caller frees. AES keys have none (KT_EUSAGE). */
KT_MUST kt_rc world_key_public_pem(const world_key_info *info, char **pem, kt_err *e);

#endif
