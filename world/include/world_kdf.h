/*
 * world_kdf.h - world/: the card-PIN KDF parameters and the floor (card.c). Part of the folder's
 * face; world.h is the index.
 */
#ifndef KT_WORLD_KDF_H
#define KT_WORLD_KDF_H

#include "world_base.h"

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

#endif
