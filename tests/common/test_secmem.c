/*
 * test_secmem.c - secure buffers (zero-length allocation, idempotent free), wiping,
 * constant-time comparison and the CSPRNG.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "kt.h"

static void init(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(secmem, .init = init);

Test(secmem, alloc_gives_writable_memory_and_free_is_idempotent)
{
    kt_secbuf b = {NULL, 0};
    kt_err e;

    cr_assert_eq(kt_secbuf_alloc(&b, 100, &e), KT_OK, "%s", e.msg);
    cr_assert_not_null(b.p);
    cr_assert_eq(b.len, 100);
    memset(b.p, 0xa5, b.len);
    kt_secbuf_free(&b);
    cr_assert_null(b.p);
    cr_assert_eq(b.len, 0);
    kt_secbuf_free(&b);
    kt_secbuf_free(NULL);
}

Test(secmem, zero_length_is_a_real_allocation)
{
    kt_secbuf b = {NULL, 0};
    kt_err e;

    cr_assert_eq(kt_secbuf_alloc(&b, 0, &e), KT_OK, "%s", e.msg);
    cr_assert_not_null(b.p);
    cr_assert_eq(b.len, 0);
    kt_secbuf_free(&b);
}

Test(secmem, an_impossible_allocation_is_enomem)
{
    kt_secbuf b = {(uint8_t *)1, 1};
    kt_err e;

    cr_assert_eq(kt_secbuf_alloc(&b, SIZE_MAX - 4096, &e), KT_ENOMEM);
    cr_assert_null(b.p);
    cr_assert_eq(b.len, 0);
}

Test(secmem, wipe_zeroes)
{
    uint8_t buf[64];

    memset(buf, 0xff, sizeof buf);
    kt_wipe(buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        cr_assert_eq(buf[i], 0);
    kt_wipe(NULL, 0);
}

Test(secmem, ct_equal_compares_every_byte)
{
    uint8_t a[32], b[32];

    memset(a, 7, sizeof a);
    memset(b, 7, sizeof b);
    cr_assert(kt_ct_equal(a, b, sizeof a));
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 1;
        cr_assert_not(kt_ct_equal(a, b, sizeof a), "difference at %zu missed", i);
        b[i] ^= 1;
    }
    cr_assert(kt_ct_equal(a, b, 0));
}

Test(secmem, random_fills_and_differs)
{
    uint8_t a[32], b[32], zero[32] = {0};

    kt_random(a, sizeof a);
    kt_random(b, sizeof b);
    cr_assert_neq(memcmp(a, b, sizeof a), 0);
    cr_assert_neq(memcmp(a, zero, sizeof a), 0);
    kt_random(NULL, 0);
}

Test(secmem, buf_free_is_idempotent)
{
    kt_buf b = {NULL, 0};

    b.p = malloc(10);
    cr_assert_not_null(b.p);
    b.len = 10;
    kt_buf_free(&b);
    cr_assert_null(b.p);
    kt_buf_free(&b);
    kt_buf_free(NULL);
}

Test(secmem, buf_join_puts_the_second_part_after_the_first)
{
    uint8_t x[] = {1, 2, 3}, y[] = {4, 5};
    const kt_buf a = {x, sizeof x}, b = {y, sizeof y}, none = {NULL, 0};
    const uint8_t want[] = {1, 2, 3, 4, 5};
    kt_buf out;
    kt_err e;

    cr_assert_eq(kt_buf_join(&out, &a, &b, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(out.len, sizeof want);
    cr_assert_arr_eq(out.p, want, sizeof want);
    kt_buf_free(&out);
    cr_assert_eq(kt_buf_join(&out, &none, &b, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(out.len, sizeof y);
    cr_assert_arr_eq(out.p, y, sizeof y);
    kt_buf_free(&out);
    cr_assert_eq(kt_buf_join(&out, &none, &none, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(out.len, 0);
    kt_buf_free(&out);
}
