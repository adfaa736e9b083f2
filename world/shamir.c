/*
 * shamir.c - Shamir secret sharing over GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1 (0x11B).
 *
 * Every byte of the secret is the constant term of its own random polynomial of degree k-1;
 * share i holds the polynomial values at x_i. Arithmetic is branch-free and table-free (no
 * secret-indexed memory access, no secret-dependent branches), as in Vault's 2023 rewrite
 * (reference notes §3.1). x-coordinates are distinct, non-zero and drawn at random so that a
 * share does not reveal N, and x = 0 is refused on combination: a share at 0 would be the secret.
 */
#include "world.h"

#include <string.h>

#include <sodium.h>

uint8_t shamir_gf_mul(uint8_t a, uint8_t b)
{
    /* Russian-peasant multiplication, high bit of b first: r = r*x + (bit ? a : 0). */
    unsigned r = 0;
    for (int i = 7; i >= 0; i--) {
        unsigned carry = (r >> 7) & 1u;
        r = ((r << 1) ^ (0x1Bu & (0u - carry))) & 0xFFu;
        r ^= a & (0u - ((unsigned)(b >> i) & 1u));
    }
    return (uint8_t)r;
}

uint8_t shamir_gf_inv(uint8_t a)
{
    /* a^254 = a^-1 in GF(2^8)* (and 0 -> 0): square-and-multiply with a fixed sequence. */
    uint8_t a2 = shamir_gf_mul(a, a);     /* a^2 */
    uint8_t a3 = shamir_gf_mul(a2, a);    /* a^3 */
    uint8_t a6 = shamir_gf_mul(a3, a3);   /* a^6 */
    uint8_t a12 = shamir_gf_mul(a6, a6);  /* a^12 */
    uint8_t a15 = shamir_gf_mul(a12, a3); /* a^15 */
    uint8_t r = shamir_gf_mul(a15, a15);  /* a^30 */
    r = shamir_gf_mul(r, r);              /* a^60 */
    r = shamir_gf_mul(r, r);              /* a^120 */
    r = shamir_gf_mul(r, r);              /* a^240 */
    r = shamir_gf_mul(r, a12);            /* a^252 */
    return shamir_gf_mul(r, a2);          /* a^254 */
}

/* Draws n distinct x-coordinates from 1..255 by a Fisher-Yates shuffle with the CSPRNG. */
static void random_xs(uint8_t *xs, unsigned n)
{
    uint8_t pool[255];
    for (unsigned i = 0; i < 255; i++)
        pool[i] = (uint8_t)(i + 1);
    for (unsigned i = 254; i > 0; i--) {
        unsigned j = randombytes_uniform(i + 1);
        uint8_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
    memcpy(xs, pool, n);
    sodium_memzero(pool, sizeof pool);
}

kt_rc shamir_split(const uint8_t *secret, size_t len, unsigned k, unsigned n, uint8_t *xs,
                   uint8_t *const *shares, kt_err *e)
{
    if (k < 1 || n < k || n > 255)
        return kt_fail(e, KT_EUSAGE, "a quorum of %u of %u cards is not possible", k, n);
    if (len == 0)
        return kt_fail(e, KT_EUSAGE, "cannot share an empty secret");

    kt_secbuf coeff = {0};
    kt_rc rc = kt_secbuf_alloc(&coeff, k, e);
    if (rc != KT_OK)
        return rc;

    random_xs(xs, n);
    for (size_t b = 0; b < len; b++) {
        /* f(x) = secret[b] + c1 x + ... + c_{k-1} x^{k-1}, evaluated by Horner's rule. */
        coeff.p[0] = secret[b];
        kt_random(coeff.p + 1, k - 1);
        for (unsigned i = 0; i < n; i++) {
            uint8_t y = 0;
            for (unsigned c = k; c-- > 0;)
                y = (uint8_t)(shamir_gf_mul(y, xs[i]) ^ coeff.p[c]);
            shares[i][b] = y;
        }
    }
    kt_secbuf_free(&coeff);
    return KT_OK;
}

kt_rc shamir_combine(const uint8_t *xs, const uint8_t *const *shares, unsigned k, size_t len,
                     uint8_t *secret, kt_err *e)
{
    if (k < 1 || k > 255)
        return kt_fail(e, KT_EUSAGE, "cannot combine %u shares", k);
    for (unsigned i = 0; i < k; i++) {
        if (xs[i] == 0)
            return kt_fail(e, KT_EFORMAT, "share %u has x = 0, which would be the secret itself",
                           i + 1);
        for (unsigned j = 0; j < i; j++)
            if (xs[i] == xs[j])
                return kt_fail(e, KT_EFORMAT, "shares %u and %u have the same x = %u", j + 1, i + 1,
                               xs[i]);
    }

    /* Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR. The
     * x-coordinates are public, but the arithmetic is constant-time anyway. */
    uint8_t basis[255];
    for (unsigned i = 0; i < k; i++) {
        uint8_t num = 1, den = 1;
        for (unsigned j = 0; j < k; j++) {
            if (j == i)
                continue;
            num = shamir_gf_mul(num, xs[j]);
            den = shamir_gf_mul(den, (uint8_t)(xs[j] ^ xs[i]));
        }
        basis[i] = shamir_gf_mul(num, shamir_gf_inv(den));
    }
    for (size_t b = 0; b < len; b++) {
        uint8_t acc = 0;
        for (unsigned i = 0; i < k; i++)
            acc ^= shamir_gf_mul(basis[i], shares[i][b]);
        secret[b] = acc;
    }
    sodium_memzero(basis, sizeof basis);
    return KT_OK;
}
