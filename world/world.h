/*
 * world.h - the face of world/: the software module, the security world and its administrator
 * card set (ACS), modeled on an nShield Security World (DESIGN.md §4).
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

#define WORLD_HASH_LEN 32
#define WORLD_TOKEN_LEN 32
#define WORLD_KM_LEN 32
#define WORLD_ESN_LEN 14 /* "XXXX-XXXX-XXXX" */
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
/* Card-PIN and KDF parameters                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Argon2id parameters for sealing a card (libsodium crypto_pwhash_ALG_ARGON2ID13). */
typedef struct world_kdf {
    uint64_t opslimit;
    uint64_t memlimit; /* bytes */
} world_kdf;

extern const world_kdf WORLD_KDF_MODERATE;    /* the default */
extern const world_kdf WORLD_KDF_INTERACTIVE; /* faster, for short-lived demo worlds */

/* Largest parameters a card may state (refused above, so a card cannot exhaust memory). */
#define WORLD_KDF_OPS_MAX 16u
#define WORLD_KDF_MEM_MAX (1024ull * 1024 * 1024)

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
    uint8_t hash[WORLD_HASH_LEN]; /* SHA-256 over the public identity */
    uint8_t id[16];
    char suite[WORLD_SUITE_MAX + 1];
    uint64_t created; /* UNIX seconds */
    unsigned k, n;
    char esn[WORLD_ESN_LEN + 1];
    uint8_t knso_pub[32];   /* Ed25519 */
    uint8_t module_pub[32]; /* Ed25519, derived from KM */
    uint8_t hkm[32];        /* SHA-256 check value of KM */
} world_info;

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

/*
 * Creates a world: a fresh logical token split K-of-N onto N cards (written first, each sealed
 * under its PIN), the module file, then the world file (the commit point). Folders are created
 * 0700. card_paths (optional, n entries of PATH_MAX) receives the card paths.
 */
KT_MUST kt_rc world_create(const world_paths *p, const world_new_opts *o, world_info *info,
                           char (*card_paths)[PATH_MAX], kt_err *e);

/* Reads and checks the world file (format, KNSO signature) and fills info. */
KT_MUST kt_rc world_load_info(const world_paths *p, world_info *info, kt_err *e);

/* An opened module: the world's identity and KM in secure memory. */
typedef struct world_module {
    world_info info;
    kt_secbuf km;         /* WORLD_KM_LEN bytes */
    kt_secbuf module_sk;  /* Ed25519 secret key (64 bytes), derived from KM */
} world_module;

/* Opens the module: the world file and module_<ESN>, checking that they belong together. A
 * missing module file is KT_ENOENT with a hint to `world program`. */
KT_MUST kt_rc world_module_open(const world_paths *p, world_module *m, kt_err *e);
void world_module_close(world_module *m);

/* Destroys the module file (its bytes are overwritten, synced, then it is removed). */
KT_MUST kt_rc world_module_erase(const world_paths *p, kt_err *e);

/* Facts a card states in the clear. */
typedef struct world_card_info {
    uint8_t world_hash[WORLD_HASH_LEN];
    unsigned no, k, n;
    uint8_t x;
    world_kdf kdf;
} world_card_info;

/* Reads a card's public facts (format checks only; no PIN). */
KT_MUST kt_rc world_card_inspect(const char *card_path, world_card_info *ci, kt_err *e);

/* Checks that the card belongs to this world and that the PIN opens it. */
KT_MUST kt_rc world_check_card(const world_paths *p, const char *card_path, world_pin_fn pin,
                               void *pin_ctx, world_card_info *ci, kt_err *e);

/* The ACS quorum opened: KM and the KNSO secret key, in secure memory. */
typedef struct world_admin {
    world_info info;
    kt_secbuf km;
    kt_secbuf knso_sk; /* Ed25519 secret key, 64 bytes */
} world_admin;

/*
 * Opens the quorum from ncards card files: each must belong to this world, no card twice, at least
 * K of them (else KT_EQUORUM before any PIN is asked), each opened with its PIN (KT_EPIN names the
 * card), and the recombined token must open the world secrets (KT_EDENIED otherwise).
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

/* Lists the card files in p->cards that belong to this world; paths is a heap array of heap
 * strings (free each and the array), sorted by card number. */
KT_MUST kt_rc world_list_cards(const world_paths *p, const world_info *info, char ***paths,
                               size_t *count, kt_err *e);

#endif
