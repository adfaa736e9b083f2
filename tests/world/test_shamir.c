/*
 * test_shamir.c - GF(2^8) arithmetic against a slow reference and FIPS-197's worked example, and
 * Shamir split/combine: every K-subset of N shares recovers the secret, K-1 do not, x = 0 and
 * duplicate x are refused.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "world.h"

/* Carry-less multiplication then reduction by 0x11B, bit by bit: obviously right, slow. */
static uint8_t ref_mul(uint8_t a, uint8_t b)
{
    unsigned p = 0;
    for (int i = 0; i < 8; i++)
        if (b & (1u << i))
            p ^= (unsigned)a << i;
    for (int i = 14; i >= 8; i--)
        if (p & (1u << i))
            p ^= 0x11Bu << (i - 8);
    return (uint8_t)p;
}

Test(gf256, multiplication_matches_reference_for_all_pairs)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            cr_assert_eq(shamir_gf_mul((uint8_t)a, (uint8_t)b), ref_mul((uint8_t)a, (uint8_t)b),
                         "%02x * %02x", a, b);
}

Test(gf256, fips197_worked_example)
{
    /* FIPS-197 §4.2: {57} . {83} = {c1}; §4.2.1: {57} . {13} = {fe}. */
    cr_assert_eq(shamir_gf_mul(0x57, 0x83), 0xc1);
    cr_assert_eq(shamir_gf_mul(0x57, 0x13), 0xfe);
}

Test(gf256, inverse_of_every_nonzero_element)
{
    cr_assert_eq(shamir_gf_inv(0), 0);
    for (unsigned a = 1; a < 256; a++)
        cr_assert_eq(shamir_gf_mul((uint8_t)a, shamir_gf_inv((uint8_t)a)), 1, "a = %02x", a);
}

#define LEN 32

typedef struct shares {
    uint8_t xs[8];
    uint8_t y[8][LEN];
    uint8_t *ptr[8];
} shares;

static void split(const uint8_t *secret, unsigned k, unsigned n, shares *s)
{
    kt_err e;
    for (unsigned i = 0; i < 8; i++)
        s->ptr[i] = s->y[i];
    cr_assert_eq(shamir_split(secret, LEN, k, n, s->xs, s->ptr, &e), KT_OK, "%s", e.msg);
    for (unsigned i = 0; i < n; i++) {
        cr_assert_neq(s->xs[i], 0);
        for (unsigned j = 0; j < i; j++)
            cr_assert_neq(s->xs[i], s->xs[j]);
    }
}

/* Combines the shares whose bits are set in mask. */
static kt_rc combine(const shares *s, unsigned mask, uint8_t *out, kt_err *e)
{
    uint8_t xs[8];
    const uint8_t *ys[8];
    unsigned m = 0;
    for (unsigned i = 0; i < 8; i++)
        if (mask & (1u << i)) {
            xs[m] = s->xs[i];
            ys[m] = s->y[i];
            m++;
        }
    return shamir_combine(xs, ys, m, LEN, out, e);
}

Test(shamir, every_k_subset_recovers_and_k_minus_1_does_not)
{
    uint8_t secret[LEN], out[LEN];
    kt_err e;
    for (unsigned n = 1; n <= 6; n++) {
        for (unsigned k = 1; k <= n; k++) {
            shares s;
            kt_random(secret, sizeof secret);
            split(secret, k, n, &s);
            for (unsigned mask = 1; mask < (1u << n); mask++) {
                unsigned bits = (unsigned)__builtin_popcount(mask);
                if (bits != k && bits != k - 1)
                    continue;
                if (bits == 0)
                    continue;
                cr_assert_eq(combine(&s, mask, out, &e), KT_OK, "%s", e.msg);
                if (bits == k)
                    cr_assert_arr_eq(out, secret, LEN, "k=%u n=%u mask=%x", k, n, mask);
                else
                    cr_assert(memcmp(out, secret, LEN) != 0, "k-1 shares gave the secret");
            }
        }
    }
}

Test(shamir, refuses_x_zero_and_duplicate_x)
{
    uint8_t secret[LEN] = {1, 2, 3}, out[LEN];
    shares s;
    kt_err e;
    split(secret, 2, 3, &s);

    s.xs[0] = 0;
    cr_assert_eq(combine(&s, 0x3, out, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "x = 0") != NULL, "%s", e.msg);

    split(secret, 2, 3, &s);
    s.xs[1] = s.xs[0];
    cr_assert_eq(combine(&s, 0x3, out, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "same x") != NULL, "%s", e.msg);
}

Test(shamir, refuses_impossible_quorums)
{
    uint8_t secret[LEN] = {0}, xs[8];
    uint8_t y[8][LEN], *ptr[8];
    kt_err e;
    for (unsigned i = 0; i < 8; i++)
        ptr[i] = y[i];
    cr_assert_eq(shamir_split(secret, LEN, 0, 3, xs, ptr, &e), KT_EUSAGE);
    cr_assert_eq(shamir_split(secret, LEN, 4, 3, xs, ptr, &e), KT_EUSAGE);
    cr_assert_eq(shamir_split(secret, 0, 2, 3, xs, ptr, &e), KT_EUSAGE);
}

Test(shamir, shares_differ_between_splits_of_the_same_secret)
{
    uint8_t secret[LEN] = {42};
    shares a, b;
    split(secret, 2, 2, &a);
    split(secret, 2, 2, &b);
    cr_assert(memcmp(a.y[0], b.y[0], LEN) != 0 || a.xs[0] != b.xs[0]);
}
