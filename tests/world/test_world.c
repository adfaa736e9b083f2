/*
 * test_world.c - the security world through its library: creation, the quorum (every K-subset of
 * N cards for K <= N <= 6, K-1 cards, duplicates, cards of another world, wrong PINs), the module
 * file, recovery by `program` after `erase`, and every byte of every file flipped in turn.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "world_internal.h"
#include "support/scratch.h"
#include "world.h"

/* The cheapest Argon2id libsodium allows: these tests are about structure, not KDF cost (the
 * floor is lowered for them; test_kdf.c tests the floor itself). */
static const world_kdf KDF_TEST = {1, 8192};

typedef struct pins {
    const char *wrong_for; /* a card path whose PIN is given wrong, or NULL */
    unsigned asked;
} pins;

static kt_rc test_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                      kt_err *e)
{
    pins *p = ctx;
    char s[64];
    (void)is_new;
    p->asked++;
    if (p->wrong_for != NULL && strcmp(p->wrong_for, card_path) == 0)
        snprintf(s, sizeof s, "wrong-pin-%u", no);
    else
        snprintf(s, sizeof s, "pin-of-card-%u", no);
    kt_rc rc = kt_secbuf_alloc(pin, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pin->p, s, strlen(s));
    return rc;
}

static void make_tmpdir(char *out, size_t n)
{
    ts_scratch_into(out, n);
}

static void new_world(world_paths *p, const char *dir, unsigned k, unsigned n, world_info *info,
                      char (*cards)[PATH_MAX])
{
    kt_err e;
    pins pc = {0};
    world_new_opts o = {.k = k, .n = n, .kdf = KDF_TEST, .pin = test_pin, .pin_ctx = &pc};
    world_kdf_floor_lower_for_tests(&KDF_TEST);
    cr_assert_eq(world_paths_init(p, dir, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_create(p, &o, info, cards, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pc.asked, n);
}

static size_t count_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static kt_rc admin(const world_paths *p, const char *const *cards, size_t n, pins *pc, kt_err *e)
{
    world_admin a;
    kt_rc rc = world_admin_open(p, cards, n, test_pin, pc, &a, e);
    if (rc == KT_OK) {
        cr_assert_eq(a.km.len, WORLD_KM_LEN);
        world_admin_close(&a);
    }
    return rc;
}

Test(world, every_k_subset_of_cards_opens_the_quorum_and_k_minus_1_does_not)
{
    for (unsigned n = 1; n <= 6; n++) {
        for (unsigned k = 1; k <= n; k++) {
            char dir[64], cards[6][PATH_MAX];
            world_paths p;
            world_info info;
            kt_err e;
            make_tmpdir(dir, sizeof dir);
            new_world(&p, dir, k, n, &info, cards);
            cr_assert_eq(info.k, k);
            cr_assert_eq(info.n, n);
            for (unsigned mask = 1; mask < (1u << n); mask++) {
                const char *chosen[6];
                size_t m = 0;
                for (unsigned i = 0; i < n; i++)
                    if (mask & (1u << i))
                        chosen[m++] = cards[i];
                if (m != k && m != k - 1)
                    continue;
                pins pc = {0};
                kt_rc rc = admin(&p, chosen, m, &pc, &e);
                if (m == k) {
                    cr_assert_eq(rc, KT_OK, "k=%u n=%u mask=%x: %s", k, n, mask, e.msg);
                } else {
                    cr_assert_eq(rc, KT_EQUORUM, "k=%u n=%u mask=%x", k, n, mask);
                    cr_assert(strstr(e.msg, "quorum not met") != NULL, "%s", e.msg);
                    cr_assert_eq(pc.asked, 0, "no PIN is asked below the quorum");
                    cr_assert_eq(kt_rc_exit(rc), 1);
                }
            }
        }
    }
}

Test(world, duplicate_card_is_refused_by_name)
{
    char dir[64], cards[3][PATH_MAX];
    world_paths p;
    world_info info;
    kt_err e;
    pins pc = {0};
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 3, &info, cards);

    const char *twice[2] = {cards[1], cards[1]};
    cr_assert_eq(admin(&p, twice, 2, &pc, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, cards[1]) != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, "counts once") != NULL, "%s", e.msg);

    /* A byte-identical copy under another name is the same card. */
    char copy[PATH_MAX + 8], cmd[3 * PATH_MAX];
    snprintf(copy, sizeof copy, "%s/copy", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cards[0], copy);
    cr_assert_eq(system(cmd), 0);
    const char *copied[2] = {cards[0], copy};
    cr_assert_eq(admin(&p, copied, 2, &pc, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, copy) != NULL, "%s", e.msg);
    cr_assert_eq(pc.asked, 0);
}

Test(world, card_of_another_world_names_both_hashes)
{
    char d1[64], d2[64], c1[2][PATH_MAX], c2[2][PATH_MAX], h1[65], h2[65];
    world_paths p1, p2;
    world_info i1, i2;
    kt_err e;
    pins pc = {0};
    make_tmpdir(d1, sizeof d1);
    make_tmpdir(d2, sizeof d2);
    new_world(&p1, d1, 2, 2, &i1, c1);
    new_world(&p2, d2, 2, 2, &i2, c2);
    kt_hex(h1, i1.hash, 32);
    kt_hex(h2, i2.hash, 32);

    const char *mixed[2] = {c1[0], c2[1]};
    cr_assert_eq(admin(&p1, mixed, 2, &pc, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, c2[1]) != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, h1) != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, h2) != NULL, "%s", e.msg);

    world_card_info ci;
    cr_assert_eq(world_check_card(&p1, c2[0], test_pin, &pc, &ci, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, h2) != NULL, "%s", e.msg);
}

Test(world, wrong_pin_names_the_card_and_writes_nothing)
{
    char dir[64], cards[3][PATH_MAX], module[PATH_MAX];
    world_paths p;
    world_info info;
    kt_err e;
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 3, &info, cards);
    cr_assert_eq(world_module_erase(&p, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_module_path(&p, info.esn, module, sizeof module, &e), KT_OK);
    size_t before = count_files(p.local);

    pins pc = {.wrong_for = cards[2]};
    const char *chosen[2] = {cards[0], cards[2]};
    cr_assert_eq(world_program(&p, chosen, 2, test_pin, &pc, false, &e), KT_EPIN);
    cr_assert(strstr(e.msg, "wrong PIN or damaged card 3") != NULL, "%s", e.msg);
    cr_assert_eq(kt_rc_exit(KT_EPIN), 1);
    cr_assert(!kt_path_exists(module), "nothing is written after a wrong PIN");
    cr_assert_eq(count_files(p.local), before);

    world_card_info ci;
    cr_assert_eq(world_check_card(&p, cards[2], test_pin, &pc, &ci, &e), KT_EPIN);
    pins good = {0};
    cr_assert_eq(world_check_card(&p, cards[2], test_pin, &good, &ci, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(ci.no, 3);
}

Test(world, identity_survives_erase_and_program)
{
    char dir[64], cards[3][PATH_MAX];
    world_paths p;
    world_info before, after;
    world_module m1, m2;
    kt_err e;
    pins pc = {0};
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 3, &before, cards);
    cr_assert_eq(world_module_open(&p, &m1, &e), KT_OK, "%s", e.msg);

    cr_assert_eq(world_module_erase(&p, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_module_open(&p, &m2, &e), KT_ENOENT);
    cr_assert(strstr(e.msg, "world program") != NULL, "%s", e.msg);

    const char *chosen[2] = {cards[2], cards[0]};
    cr_assert_eq(world_program(&p, chosen, 2, test_pin, &pc, false, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_load_info(&p, &after, &e), KT_OK, "%s", e.msg);
    cr_assert_arr_eq(after.hash, before.hash, 32);
    cr_assert_str_eq(after.esn, before.esn);
    cr_assert_eq(after.k, 2);
    cr_assert_eq(after.n, 3);
    cr_assert_eq(world_module_open(&p, &m2, &e), KT_OK, "%s", e.msg);
    cr_assert_arr_eq(m1.km.p, m2.km.p, WORLD_KM_LEN, "the same KM comes back");
    world_module_close(&m1);
    world_module_close(&m2);

    /* A programmed module is not rewritten without force. */
    cr_assert_eq(world_program(&p, chosen, 2, test_pin, &pc, false, &e), KT_EEXIST);
    cr_assert_eq(world_program(&p, chosen, 2, test_pin, &pc, true, &e), KT_OK, "%s", e.msg);
}

Test(world, existing_world_is_not_replaced_without_force)
{
    char dir[64], cards[2][PATH_MAX];
    world_paths p;
    world_info first, second, now;
    kt_err e;
    pins pc = {0};
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 1, 2, &first, cards);
    world_new_opts o = {.k = 2, .n = 2, .kdf = KDF_TEST, .pin = test_pin, .pin_ctx = &pc};
    cr_assert_eq(world_create(&p, &o, &second, NULL, &e), KT_EEXIST);
    cr_assert_eq(world_load_info(&p, &now, &e), KT_OK);
    cr_assert_arr_eq(now.hash, first.hash, 32);

    o.force = true;
    cr_assert_eq(world_create(&p, &o, &second, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_load_info(&p, &now, &e), KT_OK);
    cr_assert_arr_eq(now.hash, second.hash, 32);

    /* A world that protects keys is never replaced, even with force. */
    char key[PATH_MAX + 16];
    snprintf(key, sizeof key, "%s/key_simple_x", p.local);
    cr_assert_eq(kt_file_write(key, "x", 1, KT_WRITE_NEW, &e), KT_OK);
    cr_assert_eq(world_create(&p, &o, &first, NULL, &e), KT_EEXIST);
    cr_assert(strstr(e.msg, "key file") != NULL, "%s", e.msg);
}

Test(world, legacy_and_unknown_cipher_suites_are_refused_with_reasons)
{
    kt_err e;
    cr_assert_eq(world_check_suite(WORLD_SUITE_DEFAULT, &e), KT_OK);
    cr_assert_eq(world_check_suite("DLf1024s160mRijndael", &e), KT_EUSAGE);
    cr_assert(strstr(e.msg, "80-bit") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, WORLD_SUITE_DEFAULT) != NULL, "%s", e.msg);
    cr_assert_eq(world_check_suite("nonsense", &e), KT_EUSAGE);
    cr_assert(strstr(e.msg, WORLD_SUITE_DEFAULT) != NULL, "%s", e.msg);
}

Test(world, impossible_quorums_are_refused)
{
    char dir[64];
    world_paths p;
    world_info info;
    kt_err e;
    pins pc = {0};
    make_tmpdir(dir, sizeof dir);
    world_kdf_floor_lower_for_tests(&KDF_TEST);
    cr_assert_eq(world_paths_init(&p, dir, NULL, &e), KT_OK);
    unsigned bad[][2] = {{0, 3}, {4, 3}, {1, 65}, {65, 65}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        world_new_opts o = {
            .k = bad[i][0], .n = bad[i][1], .kdf = KDF_TEST, .pin = test_pin, .pin_ctx = &pc};
        cr_assert_eq(world_create(&p, &o, &info, NULL, &e), KT_EUSAGE, "%u/%u", bad[i][0],
                     bad[i][1]);
    }
    cr_assert(!kt_path_exists(p.world));
}

/* ---- every byte flipped ------------------------------------------------------------------ */

static void read_file(const char *path, kt_buf *b)
{
    kt_err e;
    cr_assert_eq(kt_file_read(path, 1 << 20, b, &e), KT_OK, "%s", e.msg);
}

static void put_file(const char *path, const uint8_t *p, size_t n)
{
    kt_err e;
    cr_assert_eq(kt_file_write(path, p, n, KT_WRITE_REPLACE, &e), KT_OK, "%s", e.msg);
}

static const uint8_t flips[] = {0x01, 0x80, 0xff};

Test(world_tamper, every_byte_of_the_world_file_flipped_is_refused)
{
    char dir[64], cards[2][PATH_MAX];
    world_paths p;
    world_info info, got;
    kt_buf orig;
    kt_err e;
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 2, &info, cards);
    read_file(p.world, &orig);
    for (size_t i = 0; i < orig.len; i++)
        for (size_t f = 0; f < sizeof flips; f++) {
            orig.p[i] ^= flips[f];
            put_file(p.world, orig.p, orig.len);
            kt_rc rc = world_load_info(&p, &got, &e);
            cr_assert_neq(rc, KT_OK, "flip %02x at byte %zu accepted", flips[f], i);
            orig.p[i] ^= flips[f];
        }
    /* Truncations and an appended byte too. */
    for (size_t n = 0; n < orig.len; n += 7) {
        put_file(p.world, orig.p, n);
        cr_assert_neq(world_load_info(&p, &got, &e), KT_OK, "truncated to %zu accepted", n);
    }
    put_file(p.world, orig.p, orig.len);
    cr_assert_eq(world_load_info(&p, &got, &e), KT_OK, "%s", e.msg);
    kt_buf_free(&orig);
}

Test(world_tamper, every_byte_of_the_module_file_flipped_is_refused)
{
    char dir[64], cards[2][PATH_MAX], module[PATH_MAX];
    world_paths p;
    world_info info;
    world_module m;
    kt_buf orig;
    kt_err e;
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 2, &info, cards);
    cr_assert_eq(world_module_path(&p, info.esn, module, sizeof module, &e), KT_OK);
    read_file(module, &orig);
    for (size_t i = 0; i < orig.len; i++)
        for (size_t f = 0; f < sizeof flips; f++) {
            orig.p[i] ^= flips[f];
            put_file(module, orig.p, orig.len);
            cr_assert_neq(world_module_open(&p, &m, &e), KT_OK, "flip %02x at byte %zu accepted",
                          flips[f], i);
            orig.p[i] ^= flips[f];
        }
    put_file(module, orig.p, orig.len);
    cr_assert_eq(world_module_open(&p, &m, &e), KT_OK, "%s", e.msg);
    world_module_close(&m);
    kt_buf_free(&orig);
}

Test(world_tamper, every_byte_of_a_card_flipped_is_refused)
{
    char dir[64], cards[2][PATH_MAX];
    world_paths p;
    world_info info;
    kt_buf orig;
    kt_err e;
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 2, &info, cards);
    read_file(cards[1], &orig);
    const char *both[2] = {cards[0], cards[1]};
    for (size_t i = 0; i < orig.len; i++)
        for (size_t f = 0; f < sizeof flips; f++) {
            pins pc = {0};
            orig.p[i] ^= flips[f];
            put_file(cards[1], orig.p, orig.len);
            kt_rc rc = admin(&p, both, 2, &pc, &e);
            cr_assert_neq(rc, KT_OK, "flip %02x at byte %zu accepted", flips[f], i);
            orig.p[i] ^= flips[f];
        }
    put_file(cards[1], orig.p, orig.len);
    pins pc = {0};
    cr_assert_eq(admin(&p, both, 2, &pc, &e), KT_OK, "%s", e.msg);
    kt_buf_free(&orig);
}

Test(world_tamper, a_card_with_x_zero_is_refused_by_name)
{
    char dir[64], cards[2][PATH_MAX];
    world_paths p;
    world_info info;
    world_card_info ci;
    kt_buf raw;
    kt_err e;
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 2, &info, cards);
    cr_assert_eq(world_card_inspect(cards[0], &ci, &e), KT_OK);
    read_file(cards[0], &raw);
    /* The x field (tag 3) follows magic(8) version(2) world(6+32) set(6+3) then its own header. */
    size_t x_at = 8 + 2 + (6 + 32) + (6 + 3) + 6;
    cr_assert_eq(raw.p[x_at], ci.x);
    raw.p[x_at] = 0;
    put_file(cards[0], raw.p, raw.len);
    cr_assert_eq(world_card_inspect(cards[0], &ci, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "x = 0") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, cards[0]) != NULL, "%s", e.msg);
    kt_buf_free(&raw);
}

Test(world_files, module_and_cards_are_private_and_hold_no_plain_secret)
{
    char dir[64], cards[3][PATH_MAX], module[PATH_MAX];
    world_paths p;
    world_info info;
    world_module m;
    struct stat st;
    kt_err e;
    make_tmpdir(dir, sizeof dir);
    new_world(&p, dir, 2, 3, &info, cards);
    cr_assert_eq(world_module_path(&p, info.esn, module, sizeof module, &e), KT_OK);
    const char *files[] = {p.world, module, cards[0], cards[1], cards[2]};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(stat(files[i], &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0600, "%s is %o", files[i], st.st_mode & 0777);
    }
    cr_assert_eq(stat(p.local, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);

    /* KM appears in the module file (that is its job) and nowhere else. */
    cr_assert_eq(world_module_open(&p, &m, &e), KT_OK, "%s", e.msg);
    const char *others[] = {p.world, cards[0], cards[1], cards[2]};
    for (size_t i = 0; i < 4; i++) {
        kt_buf b;
        read_file(others[i], &b);
        cr_assert_null(memmem(b.p, b.len, m.km.p, 16), "KM found in %s", others[i]);
        kt_buf_free(&b);
    }
    world_module_close(&m);
}
