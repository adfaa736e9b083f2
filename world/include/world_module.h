/*
 * world_module.h - world/: the world, its module and its administrator cards (world.c, module.c,
 * card.c). Part of the folder's face; world.h is the index.
 */
#ifndef KT_WORLD_MODULE_H
#define KT_WORLD_MODULE_H

#include "world_base.h"
#include "world_kdf.h"
#include "world_paths.h"

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

#endif
