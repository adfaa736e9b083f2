/*
 * world_base.h - world/: the sizes and the cipher suite every part of the face uses.
 */
#ifndef KT_WORLD_BASE_H
#define KT_WORLD_BASE_H

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

#endif
