/*
 * world_internal.h - what the files of world/ share with each other and nobody else: file magics,
 * field tags, the parsed forms of card, world and module files.
 */
#ifndef KT_WORLD_INTERNAL_H
#define KT_WORLD_INTERNAL_H

#include "world.h"

#include <sodium.h>

#define WORLD_FORMAT_VERSION 1 /* card, module and key files */
#define WORLD_FILE_VERSION   2 /* the world file: 2 records the KDF profile; 1 is still read */
#define WORLD_FILE_MAX       (64 * 1024)
#define CARD_FILE_MAX        4096
#define MODULE_FILE_MAX      4096

#define AEAD_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG_LEN   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SALT_LEN       crypto_pwhash_SALTBYTES
#define SEED_LEN       crypto_sign_SEEDBYTES

/* ---- card file ---- */
extern const char CARD_MAGIC[8];
enum {
    CARD_T_WORLD = 1,  /* world hash, 32 */
    CARD_T_SET = 2,    /* card number, k, n: 3 bytes */
    CARD_T_X = 3,      /* share x-coordinate, 1 */
    CARD_T_KDFALG = 4, /* 1 byte: crypto_pwhash_ALG_ARGON2ID13 */
    CARD_T_OPS = 5,    /* u64 */
    CARD_T_MEM = 6,    /* u64, bytes */
    CARD_T_SALT = 7,   /* 16 */
    CARD_T_NONCE = 8,  /* 24 */
    CARD_T_SEALED = 9, /* share (32) + tag (16); AAD = every byte before this field */
    CARD_T_CSET = 10,  /* format 2, after CARD_T_X: u32, the card set (2 and later) */
};
#define CARD_FORMAT_V2 2 /* a card of a replacement set */

typedef struct card {
    world_card_info ci;
    uint8_t salt[SALT_LEN];
    uint8_t nonce[AEAD_NONCE_LEN];
    uint8_t sealed[WORLD_TOKEN_LEN + AEAD_TAG_LEN];
    kt_buf raw;     /* the whole file */
    size_t aad_len; /* bytes authenticated as associated data */
} card;

/* Reads and checks a card file's format (no PIN); free with card_free. */
KT_MUST kt_rc card_read(const char *path, card *c, kt_err *e);
void card_free(card *c);
/* Parses c->raw (set by the caller) into c: format checks only. */
KT_MUST kt_rc card_parse(card *c, kt_err *e);
/* Opens the share with the PIN: KT_EPIN when the AEAD refuses. share is WORLD_TOKEN_LEN bytes. */
KT_MUST kt_rc card_open(const card *c, const kt_secbuf *pin, uint8_t *share, kt_err *e);
/* Seals share under Argon2id(PIN) into a card file's bytes (*w: kt_wbuf_free). */
KT_MUST kt_rc card_build(const world_card_info *ci, const kt_secbuf *pin, const uint8_t *share,
                         kt_wbuf *w, kt_err *e);
/* As card_build, then writes a new card file (never replacing one). */
KT_MUST kt_rc card_write(const char *path, const world_card_info *ci, const kt_secbuf *pin,
                         const uint8_t *share, kt_err *e);
/* The file name a card of this world gets: card_<first 16 hex of world hash>_<no>. */
#define CARD_NAME_MAX 48
void card_name(const uint8_t *world_hash, uint32_t set, unsigned no, char out[CARD_NAME_MAX]);
/* The path of that file in p->cards; for a set after the first: card_<hash16>_s<set>_<no>. */
KT_MUST kt_rc card_path(const world_paths *p, const uint8_t *world_hash, uint32_t set, unsigned no,
                        char *out, size_t outsz, kt_err *e);

/*
 * Lowers the absolute KDF floor for the calling process (NULL puts libsodium's interactive
 * limits back). Only unit tests call it, to keep hundreds of card operations fast; no program
 * does, and tests/cli/test_kdf.sh holds the programs to the real floor.
 */
void world_kdf_floor_lower_for_tests(const world_kdf *floor);

/* ---- world file ---- */
extern const char WORLD_MAGIC[8];
enum {
    WORLD_T_ID = 1,
    WORLD_T_SUITE = 2,
    WORLD_T_CREATED = 3,
    WORLD_T_QUORUM = 4, /* k, n */
    WORLD_T_ESN = 5,
    WORLD_T_KNSO_PUB = 6,
    WORLD_T_MODULE_PUB = 7,
    WORLD_T_HKM = 8,
    WORLD_T_KDF_OPS = 9,    /* version 2: u64, the Argon2id opslimit of the world's cards */
    WORLD_T_KDF_MEM = 0x0A, /* version 2: u64, their memlimit in bytes */
    WORLD_T_NONCE = 0x10,
    WORLD_T_SECRETS = 0x11, /* AEAD(LT key; KM || KNSO seed), AAD = the identity */
    WORLD_T_CARDSET = 0x12, /* optional: u32 set, u8 k, u8 n, u64 time: the current card set */
    WORLD_T_SIG = 0x20,     /* Ed25519 (KNSO) over every byte before this field */
};
#define WORLD_SECRETS_LEN (WORLD_KM_LEN + SEED_LEN)

typedef struct world_file {
    world_info info;
    kt_buf raw;
    size_t ident_len; /* the public identity: bytes [0, ident_len) */
    uint8_t nonce[AEAD_NONCE_LEN];
    uint8_t sealed[WORLD_SECRETS_LEN + AEAD_TAG_LEN];
} world_file;

/* Reads the world file and checks its format and KNSO signature. */
KT_MUST kt_rc world_file_read(const world_paths *p, world_file *w, kt_err *e);
void world_file_free(world_file *w);
/* Parses w->raw (set by the caller): format and KNSO signature. */
KT_MUST kt_rc world_file_parse(world_file *w, kt_err *e);

/* hkm: SHA-256 check value of KM, published in the world file. */
void world_hkm(const uint8_t *km, uint8_t out[32]);
/* The module's Ed25519 key pair, derived from KM. sk: secure, 64 bytes. */
KT_MUST kt_rc world_module_keypair(const kt_secbuf *km, uint8_t pk[32], kt_secbuf *sk, kt_err *e);

/* ---- module file ---- */
extern const char MODULE_MAGIC[8];
enum {
    MODULE_T_ESN = 1,
    MODULE_T_WORLD = 2,
    MODULE_T_KM = 3,
    MODULE_T_MAC = 4, /* BLAKE2b-256 keyed with a KM subkey, over every byte before */
};

/* Parses and authenticates a module file against the world it claims to serve; *km receives
 * the module key (secure memory, caller frees, also on failure). */
KT_MUST kt_rc module_file_parse(const kt_secbuf *raw, const world_info *info, kt_secbuf *km,
                                kt_err *e);
/* The bytes of module_<ESN> holding KM for info's world (*w is secure: kt_wbuf_free). */
KT_MUST kt_rc module_file_build(const world_info *info, const kt_secbuf *km, kt_wbuf *w, kt_err *e);
/* Writes module_<ESN> holding KM for info's world. */
KT_MUST kt_rc module_file_write(const world_paths *p, const world_info *info, const kt_secbuf *km,
                                unsigned flags, kt_err *e);

/* ---- key files ---- */
extern const char KEY_MAGIC[8];
enum {
    KEY_T_WORLD = 0x01,     /* world hash, 32 */
    KEY_T_APP = 0x02,       /* [a-z0-9], 1..32 */
    KEY_T_IDENT = 0x03,     /* [0-9a-z-], 1..64 */
    KEY_T_PLAINNAME = 0x04, /* printable ASCII, 1..128 */
    KEY_T_TYPE = 0x05,      /* u8: world_key_type */
    KEY_T_SIZE = 0x06,      /* u32 BE, bits */
    KEY_T_CURVE = 0x07,     /* canonical curve name; empty for RSA and AES */
    KEY_T_CREATED = 0x08,   /* u64 BE, UNIX seconds */
    KEY_T_SPKI = 0x09,      /* SubjectPublicKeyInfo DER; empty for AES */
    KEY_T_HASH = 0x0A,      /* key hash, 32 */
    KEY_T_ACL = 0x0B,       /* world_acl_encode */
    KEY_T_ACL_SIG = 0x0C,   /* empty or 64 bytes: KNSO's Ed25519 signature (world_acl_sign) */
    KEY_T_NONCE = 0x0D,     /* 24 */
    KEY_T_SEALED = 0x0E,    /* AEAD(KM key-file subkey; private key), AAD = every byte before */
};
/* Largest private key a key file seals: an RSA-4096 PKCS#8 PrivateKeyInfo is about 2.4 KB. */
#define KEY_MATERIAL_MAX 8192

/* A key file's parsed header; raw, sealed borrow from the caller's bytes. */
typedef struct key_file {
    world_key_info info; /* the header's facts; path is left to the caller */
    const uint8_t *raw;
    size_t len;
    size_t aad_len; /* bytes [0, aad_len) are the seal's associated data */
    uint8_t nonce[AEAD_NONCE_LEN];
    const uint8_t *sealed; /* ciphertext and tag */
    size_t sealed_len;
} key_file;

/*
 * Parses len bytes of a key file: magic, version, every field in order with its bounds, the name
 * charsets, and that type, size, curve, public key and key hash agree. Needs neither the world nor
 * KM; nothing here is authenticated yet.
 */
KT_MUST kt_rc key_file_parse(const uint8_t *raw, size_t len, key_file *k, kt_err *e);

/*
 * Opens a parsed key file with the module: the world hash must be m's world, the seal must open
 * under KM's key-file subkey, the private key's public half must be the stated public key (the
 * AES key must give the key hash), and a present ACL signature must verify with the world's
 * KNSO key. out (freed with world_key_free, also on failure) receives the key.
 */
KT_MUST kt_rc key_file_open(const key_file *k, const world_module *m, world_key *out, kt_err *e);

/* Builds the bytes of k's key file sealed under m's KM into w (a public kt_wbuf). */
KT_MUST kt_rc key_file_build(const world_key *k, const world_module *m, kt_wbuf *w, kt_err *e);

/* ---- audit log ---- */
extern const char AUDIT_MAGIC[8];
/* world_audit_stage for world new: begins a new log, replacing whatever log is there (a replaced
 * world's, which the caller has staged aside). */
KT_MUST kt_rc audit_stage_genesis(kt_txn *t, size_t dir, const world_paths *p,
                                  const world_audit_signer *s, const world_audit_op *op, kt_err *e);

/* Writes the new file name (in p->local) and op's audit entry as one change. */
KT_MUST kt_rc audit_put_with(const world_paths *p, const world_audit_signer *s,
                             const world_audit_op *op, const char *name, const void *data,
                             size_t len, kt_err *e);

/* ---- keys: shared by key.c, key_file.c, key_store.c, key_generate.c, key_import.c ---- */

/* The facts of an RSA or EC key that a key file states. */
typedef struct key_facts {
    world_key_type type;
    unsigned bits;
    const char *curve; /* canonical; "" for RSA */
} key_facts;

/* The sizes keytransfer keeps: RSA 2048, 3072, 4096; AES 128, 192, 256. */
bool key_rsa_size_ok(unsigned bits);
bool key_aes_size_ok(unsigned bits);

/*
 * What key pkey is, refusing what a key file cannot hold: other types, RSA sizes other than
 * 2048/3072/4096, other exponents, multi-prime RSA, other curves and explicit curve parameters.
 * what names the key in messages.
 */
KT_MUST kt_rc key_describe_pkey(EVP_PKEY *pkey, const char *what, key_facts *f, kt_err *e);

/* The SubjectPublicKeyInfo DER of pkey into out (WORLD_KEY_SPKI_MAX bytes). */
KT_MUST kt_rc key_pkey_spki(EVP_PKEY *pkey, uint8_t *out, size_t *len, kt_err *e);

/* Decodes PKCS#8 PrivateKeyInfo DER (all of it) of the given type into *out. */
KT_MUST kt_rc key_pkcs8_decode(const kt_secbuf *der, world_key_type type, EVP_PKEY **out,
                               kt_err *e);

/*
 * Checks that material is the private key info describes, and returns its EVP_PKEY (RSA, EC) in
 * *pkey_out (may be NULL). For RSA and EC: PKCS#8 of the stated type, size and curve whose public
 * half is the stated SPKI; for AES: bits/8 bytes whose hash is the key hash.
 */
KT_MUST kt_rc key_material_matches(const world_key_info *info, const kt_secbuf *material,
                                   EVP_PKEY **pkey_out, kt_err *e);

/* Fills k's type, size, curve, public key, key hash and material from pkey (which k takes). */
KT_MUST kt_rc key_fill_from_pkey(EVP_PKEY *pkey, const char *what, world_key *k, kt_err *e);

/* Fills k's facts for an AES key held in k->material. */
void key_fill_from_aes(world_key *k);

/* KT_EEXIST, naming the file, when key_<app>_<ident> exists (path is its file). */
KT_MUST kt_rc key_refuse_existing(const char *path, const char *app, const char *ident, kt_err *e);

/* Names of a new key: checked, defaulted, copied into info. */
KT_MUST kt_rc key_set_names(world_key_info *in, const char *app, const char *ident,
                            const char *plainname, kt_err *e);

/* Saves a key new to the world with its audit entry (op: "key generate", "key import"), in one
 * change. */
KT_MUST kt_rc key_save_new(const world_paths *p, const world_module *m, world_key *k,
                           const char *op, kt_err *e);

#endif
