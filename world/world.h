/*
 * world.h - the face of world/: the software module, the security world and its administrator
 * card set (ACS), modeled on an nShield Security World (docs/design.md §4).
 *
 * Key hierarchy:
 *   logical token LT (32 random bytes) --Shamir K-of-N--> shares, one per card,
 *       each card sealed under Argon2id(PIN)
 *   LT --> world secrets key --AEAD--> KM (module key) and the KNSO signing seed (world file)
 *   KM --> module signing key (derived), key-file keys (derived)
 *   module file: KM for day-to-day use, readable by its owner only
 *
 * Folder layout inside kmdata: local/world, local/module_<ESN>, local/key_<app>_<ident>;
 * cards default to <kmdata>/cards/card_<hash16>_<n>.
 */
#ifndef KT_WORLD_H
#define KT_WORLD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kt.h"

#define WORLD_HASH_LEN  32
#define WORLD_TOKEN_LEN 32
#define WORLD_KM_LEN    32
#define WORLD_ESN_LEN   14 /* "XXXX-XXXX-XXXX" */
#define WORLD_MAX_CARDS 64
#define WORLD_SUITE_MAX 63

/* The one cipher suite a software world supports today (docs/formats.md). */
#define WORLD_SUITE_DEFAULT "KTv1-Ed25519-XChaCha20Poly1305-Argon2id"

/* ------------------------------------------------------------------------------------------ */
/* Shamir secret sharing over GF(2^8), polynomial 0x11B, constant time                          */
/* ------------------------------------------------------------------------------------------ */

/* Multiplication in GF(2^8) modulo x^8+x^4+x^3+x+1, without tables or secret branches. */
uint8_t shamir_gf_mul(uint8_t a, uint8_t b);
/* Multiplicative inverse (a^254); the inverse of 0 is 0. */
uint8_t shamir_gf_inv(uint8_t a);

/*
 * Splits secret (len bytes) into n shares for a threshold k (1 <= k <= n <= 255). xs[i] receives
 * the distinct non-zero x-coordinate of share i, drawn at random; shares[i] (len bytes each,
 * caller-provided, secure memory) receives its y-values. Polynomial coefficients are random and
 * wiped before returning.
 */
KT_MUST kt_rc shamir_split(const uint8_t *secret, size_t len, unsigned k, unsigned n, uint8_t *xs,
                           uint8_t *const *shares, kt_err *e);

/*
 * Recombines k shares (x-coordinates xs, y-values shares, len bytes each) into secret by Lagrange
 * interpolation at 0. An x of 0 or two equal x are refused (KT_EFORMAT). Any k distinct shares
 * give a value; only an authenticated check of the result (the world file's AEAD) says whether
 * it is the secret.
 */
KT_MUST kt_rc shamir_combine(const uint8_t *xs, const uint8_t *const *shares, unsigned k,
                             size_t len, uint8_t *secret, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Paths                                                                                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct world_paths {
    char kmdata[PATH_MAX]; /* the key management data folder */
    char local[PATH_MAX];  /* <kmdata>/local */
    char cards[PATH_MAX];  /* where new cards are written */
    char world[PATH_MAX];  /* <kmdata>/local/world */
} world_paths;

/*
 * Resolves the folders: kmdata from the argument, else env KEYTRANSFER_KMDATA, else
 * $XDG_DATA_HOME/keytransfer/kmdata, else $HOME/.local/share/keytransfer/kmdata; cards from the
 * argument, else <kmdata>/cards. Creates nothing.
 */
KT_MUST kt_rc world_paths_init(world_paths *p, const char *kmdata, const char *cards, kt_err *e);

/* The module file path for an ESN. */
KT_MUST kt_rc world_module_path(const world_paths *p, const char *esn, char *out, size_t outsz,
                                kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The world lock                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A held world lock (flock on <kmdata>/local/lock); fd is -1 when there was no world to lock. */
typedef struct world_lock {
    int fd;
} world_lock;

/*
 * Takes the world lock: shared for commands that only read the world, exclusive for those that
 * write it; waits a bounded time (kt_flock_wait) and then fails naming the other holder. Before
 * that, checks that kmdata, its local/ and cards/ folders are private (kt_folder_open with
 * KT_FOLDER_PRIVATE); with create (world new), makes them first (0700). Without create, a kmdata
 * with no local/ folder holds no world: l->fd is -1 and the command goes on to say so. Then
 * finishes or undoes any change an interrupted run left there (kt_txn_recover), telling report.
 */
KT_MUST kt_rc world_lock_acquire(const world_paths *p, bool exclusive, bool create,
                                 kt_txn_report_fn report, void *ctx, world_lock *l, kt_err *e);

/* Releases the lock (safe on a lock never taken). */
void world_lock_release(world_lock *l);

/* ------------------------------------------------------------------------------------------ */
/* Card-PIN and KDF parameters                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Argon2id parameters for sealing a card (libsodium crypto_pwhash_ALG_ARGON2ID13). */
typedef struct world_kdf {
    uint64_t opslimit;
    uint64_t memlimit; /* bytes */
} world_kdf;

extern const world_kdf WORLD_KDF_MODERATE;    /* the default */
extern const world_kdf WORLD_KDF_INTERACTIVE; /* faster, for tests and demo worlds */

/* Largest parameters a card may state (refused above, so a card cannot exhaust memory). */
#define WORLD_KDF_OPS_MAX 16u
#define WORLD_KDF_MEM_MAX (1024ull * 1024 * 1024)

/*
 * The KDF floor. No card is sealed, and no card is opened, below libsodium's interactive limits
 * (crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE), whatever a world
 * file records; a world that records its profile (world file version 2) raises the floor of its
 * cards to that profile. Both limits are checked on their own: more passes do not make up for
 * less memory, nor the other way round.
 */
void world_kdf_floor(world_kdf *out);

/* True when k meets floor: opslimit and memlimit each at least the floor's. */
bool world_kdf_meets(const world_kdf *k, const world_kdf *floor);

/* "moderate" or "interactive" when k is exactly that profile, else NULL. */
const char *world_kdf_profile_name(const world_kdf *k);

/* k for people: "opslimit 3, memlimit 256 MiB" (KiB when not whole MiB). out: 48 bytes. */
void world_kdf_format(const world_kdf *k, char *out, size_t outsz);

/* Refuses (KT_EUSAGE) a profile to make a world with: below the absolute floor, naming both, or
 * above the largest parameters a card may state. */
KT_MUST kt_rc world_kdf_check_profile(const world_kdf *k, kt_err *e);

/*
 * Asks for a card's PIN: card number no (1-based) of the set, the card's path, is_new when the
 * PIN is being set. The PIN goes into *pin (secure memory; the world code frees it).
 */
typedef kt_rc (*world_pin_fn)(void *ctx, unsigned no, const char *card_path, bool is_new,
                              kt_secbuf *pin, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The world                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* The world's public identity, as the world file states it (signed by KNSO). */
typedef struct world_info {
    unsigned version;             /* of the world file: 1 (no KDF profile) or 2 */
    uint8_t hash[WORLD_HASH_LEN]; /* SHA-256 over the public identity */
    uint8_t id[16];
    char suite[WORLD_SUITE_MAX + 1];
    uint64_t created; /* UNIX seconds */
    unsigned k, n;
    char esn[WORLD_ESN_LEN + 1];
    uint8_t knso_pub[32];      /* Ed25519 */
    uint8_t module_pub[32];    /* Ed25519, derived from KM */
    uint8_t hkm[32];           /* SHA-256 check value of KM */
    bool kdf_recorded;         /* the world file records the profile its cards were sealed with */
    world_kdf kdf;             /* that profile (zero when not recorded) */
    uint32_t cardset;          /* the current card set: 1 for the set the world was made with, one
                                  more for each `world replace-cards` */
    uint64_t cards_replaced;   /* when the current set replaced the one before it (0: never) */
    unsigned ident_k, ident_n; /* the quorum the identity records (that of the first set); k and
                                  n above are the current set's */
} world_info;

/* The floor the cards of this world must meet: its recorded profile, raised to the absolute
 * floor (only the absolute floor for a world file that records none). */
void world_kdf_floor_of(const world_info *info, world_kdf *out);

/* Options of world_create. */
typedef struct world_new_opts {
    unsigned k, n;
    const char *suite; /* NULL for WORLD_SUITE_DEFAULT */
    world_kdf kdf;
    bool force; /* replace an existing world (refused while key files exist) */
    world_pin_fn pin;
    void *pin_ctx;
    kt_progress_fn progress;
    void *progress_ctx;
} world_new_opts;

/* Refuses (KT_EUSAGE) a cipher suite name keytransfer cannot offer, saying why and naming the
 * supported ones; legacy nShield suites get their own explanation. */
KT_MUST kt_rc world_check_suite(const char *suite, kt_err *e);

/* For an nShield hardware cipher suite (DLf1024s160mRijndael, ...), why a software world does
 * not offer it; NULL for any other name. */
const char *world_suite_nshield(const char *suite);

/*
 * Creates a world: a fresh logical token split K-of-N onto N cards (each sealed under its PIN),
 * the module file and the world file, written as one change with the commit protocol (kt_txn:
 * all or nothing; with force the old world file is replaced and the old module file removed,
 * its bytes overwritten, only once the new world is durable). Folders are created 0700 and must
 * be private (kt_folder_open). The caller holds the world lock (world_lock_acquire, exclusive).
 * On return info->n is non-zero exactly when the new world stands: also when a failure after the
 * commit point is reported (the next command that takes the world lock completes it). card_paths
 * (optional, n entries of PATH_MAX) then receives the card paths.
 */
KT_MUST kt_rc world_create(const world_paths *p, const world_new_opts *o, world_info *info,
                           char (*card_paths)[PATH_MAX], kt_err *e);

/* Reads and checks the world file (format, KNSO signature) and fills info. */
KT_MUST kt_rc world_load_info(const world_paths *p, world_info *info, kt_err *e);

/* An opened module: the world's identity and KM in secure memory. */
typedef struct world_module {
    world_info info;
    kt_secbuf km;        /* WORLD_KM_LEN bytes */
    kt_secbuf module_sk; /* Ed25519 secret key (64 bytes), derived from KM */
} world_module;

/* Opens the module: the world file and module_<ESN>, checking that they belong together. A
 * missing module file is KT_ENOENT with a hint to `world program`. */
KT_MUST kt_rc world_module_open(const world_paths *p, world_module *m, kt_err *e);
void world_module_close(world_module *m);

/* Destroys the module file: its name goes first (nothing can open it after), then its bytes are
 * overwritten and synced through the descriptor kept open. */
KT_MUST kt_rc world_module_erase(const world_paths *p, kt_err *e);

/* Facts a card states in the clear. */
typedef struct world_card_info {
    uint8_t world_hash[WORLD_HASH_LEN];
    unsigned no, k, n;
    uint8_t x;
    world_kdf kdf;
    uint32_t cardset; /* which card set of the world: 1 (card format 1) or later (format 2) */
} world_card_info;

/* Reads a card's public facts (no PIN): its format, and that it is sealed at or above the
 * absolute KDF floor (KT_EDENIED naming the card, its parameters and the floor). */
KT_MUST kt_rc world_card_inspect(const char *card_path, world_card_info *ci, kt_err *e);

/* Checks that the card belongs to this world and meets its KDF floor (both before the PIN is
 * asked; KT_EDENIED), and that the PIN opens it. */
KT_MUST kt_rc world_check_card(const world_paths *p, const char *card_path, world_pin_fn pin,
                               void *pin_ctx, world_card_info *ci, kt_err *e);

/* The ACS quorum opened: KM and the KNSO secret key, in secure memory. */
typedef struct world_admin {
    world_info info;
    kt_secbuf km;
    kt_secbuf knso_sk;                    /* Ed25519 secret key, 64 bytes */
    unsigned cards_used[WORLD_MAX_CARDS]; /* the numbers of the K cards that opened it */
    size_t ncards_used;
} world_admin;

/*
 * Opens the quorum from ncards card files: each must belong to this world and meet its KDF floor,
 * no card twice, at least K of them (else KT_EDENIED or KT_EQUORUM before any PIN is asked), each
 * opened with its PIN (KT_EPIN names the card), and the recombined token must open the world
 * secrets (KT_EDENIED otherwise).
 */
KT_MUST kt_rc world_admin_open(const world_paths *p, const char *const *cards, size_t ncards,
                               world_pin_fn pin, void *pin_ctx, world_admin *a, kt_err *e);
void world_admin_close(world_admin *a);

/* Loads the world into a fresh module from a quorum: writes module_<ESN>. An existing valid
 * module file is KT_EEXIST unless force. */
KT_MUST kt_rc world_program(const world_paths *p, const char *const *cards, size_t ncards,
                            world_pin_fn pin, void *pin_ctx, bool force, kt_err *e);

/* Derives a 32-byte subkey of KM for a purpose (libsodium crypto_kdf, context "KTKMSUB1"). */
KT_MUST kt_rc world_km_subkey(const kt_secbuf *km, uint64_t purpose, kt_secbuf *out, kt_err *e);

/* Purposes of KM subkeys. */
enum {
    WORLD_KM_MODULE_SIGN = 1, /* seed of the module's Ed25519 signing key */
    WORLD_KM_MODULE_MAC = 2,  /* MAC key of the module file */
    WORLD_KM_KEY_FILES = 3,   /* AEAD key of module-protected key files */
};

/*
 * Changes the PIN of one card: the card must be of this world's current set and open with its
 * PIN (asked with is_new false); the new PIN (is_new true) seals the same share under a fresh
 * salt, and the card file is replaced in one change with the audit entry ("world change-pin"),
 * which the module signs (KT_ENOENT when the module is not programmed). The old PIN opens the
 * card no more.
 */
KT_MUST kt_rc world_change_pin(const world_paths *p, const char *card_path, world_pin_fn pin,
                               void *pin_ctx, world_card_info *ci, kt_err *e);

/* Options of world_replace_cards. */
typedef struct world_replace_opts {
    const char *const *cards; /* at least K cards of the current set */
    size_t ncards;
    unsigned k, n;    /* the new quorum */
    world_kdf kdf;    /* the new cards' Argon2id profile: at least the world's recorded profile */
    world_pin_fn pin; /* the current cards' PINs, then the N new ones (is_new) */
    void *pin_ctx;
    kt_progress_fn progress;
    void *progress_ctx;
} world_replace_opts;

/*
 * Replaces the administrator card set: opens the quorum of the current set, makes a fresh logical
 * token split K-of-N onto N new cards (card_<hash16>_s<set>_<n>, card format 2, naming the new
 * set) and re-seals KM and KNSO under it in the world file, whose identity (and so the world hash,
 * the keys and the signed ACLs) stays as it was; the world file records the new set, so the old
 * cards are refused from then on (they stay where they are, for their holders to destroy). One
 * change with its audit entry. info receives the world as it now is; card_paths (n entries of
 * PATH_MAX, optional) the new cards.
 */
KT_MUST kt_rc world_replace_cards(const world_paths *p, const world_replace_opts *o,
                                  world_info *info, char (*card_paths)[PATH_MAX], kt_err *e);

/* A card file found in the cards folder. */
typedef struct world_card_found {
    char path[PATH_MAX];
    kt_rc rc; /* KT_OK when it is a card; else why not (err) */
    kt_err err;
    world_card_info ci;
    bool this_world; /* of the world in kmdata */
    bool current;    /* of its current card set */
} world_card_found;

/* Every file named card_* in p->cards, sorted by name; info may be NULL (no world). *found is a
 * heap array (free()). */
KT_MUST kt_rc world_cards_scan(const world_paths *p, const world_info *info,
                               world_card_found **found, size_t *count, kt_err *e);

/* Lists the card files in p->cards that belong to this world; paths is a heap array of heap
 * strings (free each and the array), sorted by card number. */
KT_MUST kt_rc world_list_cards(const world_paths *p, const world_info *info, char ***paths,
                               size_t *count, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Keys and ACLs                                                                                */
/* ------------------------------------------------------------------------------------------ */

/*
 * Module-protected keys, like nShield's key_simple_<ident>: each key lives in
 * <kmdata>/local/key_<app>_<ident>, a record whose header (world hash, names, type, size,
 * public key, key hash, ACL and its signature) is the associated data of an XChaCha20-Poly1305
 * seal, under the KM subkey WORLD_KM_KEY_FILES, of the private key (PKCS#8 PrivateKeyInfo DER
 * for RSA and EC, the raw bytes for AES). docs/formats.md has the layout.
 */

#include <openssl/types.h>

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

/* ------------------------------------------------------------------------------------------ */
/* The audit log                                                                                */
/* ------------------------------------------------------------------------------------------ */

/*
 * <kmdata>/local/audit: append-only and hash-chained. Every entry states its sequence number,
 * time, the hash of the entry before it (the world hash for the first), the operation, its
 * details (a JSON object) and the cards used, and is signed by the module key; an operation under
 * the quorum is signed by KNSO too. The log ends with a head (entry count and last entry hash)
 * signed by the module key, so a truncated log is told from a short one. docs/formats.md has the
 * layout. An entry is written in the same change (kt_txn) as the operation it records.
 */
#define WORLD_AUDIT_OP_MAX     32
#define WORLD_AUDIT_DETAIL_MAX 4096
#define WORLD_AUDIT_FILE_MAX   (64u * 1024 * 1024)
#define WORLD_AUDIT_NAME       "audit"

/* What an operation to record is. */
typedef struct world_audit_op world_audit_op;
struct world_audit_op {
    const char *op;        /* "key generate": 1..32 of [a-z -] */
    const json_t *detail;  /* an object, or NULL for {} (borrowed) */
    const unsigned *cards; /* the card numbers of the current set used, or NULL */
    size_t ncards;
};

/* Who signs: the module's signing key always; KNSO for an operation under the quorum. */
typedef struct world_audit_signer world_audit_signer;
struct world_audit_signer {
    const world_info *info;     /* the world (its hash, public keys, card set) */
    const kt_secbuf *module_sk; /* Ed25519 secret key of the module, 64 bytes */
    const kt_secbuf *knso_sk;   /* NULL unless the operation had the quorum */
};

/* One entry as read back (every field authenticated once world_audit_parse returned KT_OK). */
typedef struct world_audit_entry {
    uint64_t seq, time;
    char op[WORLD_AUDIT_OP_MAX + 1];
    char *detail; /* the JSON object's text (heap) */
    uint32_t cardset;
    unsigned cards[WORLD_MAX_CARDS];
    size_t ncards;
    bool knso_signed;
    uint8_t hash[WORLD_HASH_LEN];
} world_audit_entry;

typedef struct world_audit_log {
    world_audit_entry *entries;
    size_t n;
    uint8_t head[WORLD_HASH_LEN]; /* hash of the last entry (the world hash when empty) */
} world_audit_log;

/* The details an entry gives of a key: app, ident, type, size, curve, key hash. A new reference
 * (NULL when out of memory). */
json_t *world_audit_key_detail(const world_key_info *k);

/*
 * Removes every file of the key ident (key_<app>_<ident> for any app: the key and its reduced,
 * signed records), their bytes overwritten, as one change with a "key delete" entry signed by m.
 * KT_ENOENT when there is no such file. removed (optional, WORLD_KEY_FILES_MAX entries)
 * receives the file names, *nremoved their count.
 */
#define WORLD_KEY_FILES_MAX 64
KT_MUST kt_rc world_key_delete(const world_paths *p, const world_module *m, const char *ident,
                               char (*removed)[NAME_MAX + 1], size_t *nremoved, kt_err *e);

/* Erases the module file as world_module_erase does, with a "module erase" entry signed by m
 * (opened before) in the same change. */
KT_MUST kt_rc world_module_erase_logged(const world_paths *p, const world_module *m, kt_err *e);

/* True for the operations that need the quorum and so must carry KNSO's signature. */
bool world_audit_op_needs_knso(const char *op);

/*
 * Checks len bytes of a log against info's world: the format, that every entry is the next in
 * sequence, chained to the one before, signed by the module key (and by KNSO where the operation
 * needs the quorum), and that the head signs the count and the last entry. Any failure is
 * KT_EDENIED naming the first bad entry (1-based) and what is wrong with it. log (optional)
 * receives the entries; free it with world_audit_log_free.
 */
KT_MUST kt_rc world_audit_parse(const uint8_t *raw, size_t len, const world_info *info,
                                world_audit_log *log, kt_err *e);

/* Reads and checks <kmdata>/local/audit (world_audit_parse); a missing log is KT_ENOENT. */
KT_MUST kt_rc world_audit_read(const world_paths *p, const world_info *info, world_audit_log *log,
                               kt_err *e);
void world_audit_log_free(world_audit_log *log);

/*
 * Stages the log with op appended as part of the change t, whose folder dir is p->local
 * (KT_TXN_REPLACE, or KT_TXN_NEW for a new log). The log there is checked first, whole: a
 * damaged log is refused (KT_EDENIED, saying what to do) and nothing is staged; a missing log is
 * begun anew, its first entry chained to the world hash.
 */
KT_MUST kt_rc world_audit_stage(kt_txn *t, size_t dir, const world_paths *p,
                                const world_audit_signer *s, const world_audit_op *op, kt_err *e);

/* world_audit_stage with nops entries appended in order in the same change (a batch: one entry
 * per key, one rewrite of the log). */
KT_MUST kt_rc world_audit_stage_many(kt_txn *t, size_t dir, const world_paths *p,
                                     const world_audit_signer *s, const world_audit_op *ops,
                                     size_t nops, kt_err *e);

/* world_audit_stage in a change of its own over p->local, committed. The caller holds the world
 * lock exclusively. */
KT_MUST kt_rc world_audit_record(const world_paths *p, const world_audit_signer *s,
                                 const world_audit_op *op, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Backup and restore                                                                           */
/* ------------------------------------------------------------------------------------------ */

/*
 * A backup is a folder shaped like a kmdata without its module: local/world, local/audit,
 * every local/key_* file (the keys and their reduced, signed records), cards/card_* of the
 * world's current set when asked for, and BACKUP, a manifest of every file and its SHA-256
 * signed by the module key (docs/formats.md). It never holds a module file: KM is in it only
 * sealed under the card set's token (the world file) and key files only sealed under KM.
 */
#define WORLD_BACKUP_MANIFEST  "BACKUP"
#define WORLD_BACKUP_FILES_MAX 4096

/* What a backup holds, once made or checked. */
typedef struct world_backup_info {
    world_info world;
    size_t nkeys;  /* key_* files */
    size_t ncards; /* card files */
    bool has_audit;
    size_t naudit; /* entries of its audit log (checked) */
} world_backup_info;

/*
 * Writes a backup of p's world into out, a folder that must not exist yet (its parent must),
 * as one change (kt_txn over the parent, the folder staged whole and renamed into place), with a
 * "world backup" entry in the audit log in the same change. m is the opened module (it signs the
 * manifest and the entry). with_cards adds the current set's card files found in p->cards.
 */
KT_MUST kt_rc world_backup(const world_paths *p, const world_module *m, const char *out,
                           bool with_cards, world_backup_info *info, kt_err *e);

/*
 * Checks the backup folder dir without any secret: the manifest's format and module signature
 * against the backup's own world file (its KNSO signature checked), every file listed present
 * with its SHA-256, nothing else there (a module file above all), and its audit log whole
 * (world_audit_parse). KT_EDENIED naming the file that fails.
 */
KT_MUST kt_rc world_backup_check_files(const char *dir, world_backup_info *info, kt_err *e);

/*
 * world_backup_check_files, then every key file of the backup opened with KM (world_key_inspect:
 * the seal, the public key, the ACL signature): KM comes from km (a module of the same world, or
 * one from world_admin_open on the backup's world). KT_EDENIED names the first key file refused.
 */
KT_MUST kt_rc world_backup_check_keys(const char *dir, const world_module *km,
                                      world_backup_info *info, kt_err *e);

/*
 * Restores the backup dir into p's kmdata, which must hold no world and no key file: the files
 * are checked as world_backup_check_files does, then written as one change. The module is not
 * programmed: `keytransfer world program` with a quorum of the cards follows (nothing in a backup
 * can do it). No audit entry is written here, as there is no module key yet to sign one: the
 * restored log goes on with the world program that follows.
 */
KT_MUST kt_rc world_restore(const world_paths *p, const char *dir, world_backup_info *info,
                            kt_err *e);

/* A module for m built from KM of an opened quorum (for world_backup_check_keys without a
 * programmed module); closed with world_module_close. */
KT_MUST kt_rc world_module_from_admin(const world_admin *a, world_module *m, kt_err *e);

#endif
