/*
 * reseal.h - a test helper that re-seals an administrator card the way an attacker with the PIN
 * (or a careless tool) might: the same share under new Argon2id parameters, optionally for
 * another world hash. Used by test_kdf.c and by tests/cli/kt_reseal.c for the CLI tests.
 */
#ifndef KT_TEST_RESEAL_H
#define KT_TEST_RESEAL_H

#include "world.h"

/*
 * Opens the card at path with pin (its own parameters), then replaces the file by a card holding
 * the same share, number, quorum and x, sealed under the same PIN with kdf (anything within the
 * card format's bounds: the KDF floor is lowered for the write and put back after). world_hash
 * NULL keeps the card's world hash. KT_EPIN for a wrong PIN.
 */
KT_MUST kt_rc ts_reseal_card(const char *path, const kt_secbuf *pin, const world_kdf *kdf,
                             const uint8_t *world_hash, kt_err *e);

#endif
