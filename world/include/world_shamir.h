/*
 * world_shamir.h - world/: Shamir secret sharing over GF(2^8) (shamir.c). Part of the folder's
 * face; world.h is the index.
 */
#ifndef KT_WORLD_SHAMIR_H
#define KT_WORLD_SHAMIR_H

#include "world_base.h"

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

#endif
