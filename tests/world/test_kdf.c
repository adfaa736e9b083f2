/*
 * test_kdf.c - the Argon2id floor of administrator cards: the world file records the profile it
 * was made with; a world is not made below libsodium's interactive limits; a card re-sealed
 * below them, or below its world's profile, is refused by inspect, check-card, the quorum and
 * program before any PIN is asked, with a message naming the card, its parameters and the floor;
 * each limit counts on its own; a world file that records a weak profile does not lower the
 * floor; and a version 1 world file (no profile recorded) is still read and held to the floor.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "world_internal.h"
#include "reseal.h"
#include "support/scratch.h"
#include "world.h"

/* Cheap parameters for the tests that lower the floor: structure, not cost. */
static const world_kdf KDF_CHEAP = {1, 8192};
static const world_kdf KDF_CHEAP2 = {2, 16384};

typedef struct pins {
    unsigned asked;
} pins;

static kt_rc test_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                      kt_err *e)
{
    pins *p = ctx;
    char s[32];
    (void)card_path, (void)is_new;
    if (p != NULL)
        p->asked++;
    snprintf(s, sizeof s, "pin-of-card-%u", no);
    kt_rc rc = kt_secbuf_alloc(pin, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pin->p, s, strlen(s));
    return rc;
}

static void make_world(world_paths *p, char *dir, size_t dirsz, unsigned k, unsigned n,
                       const world_kdf *kdf, char (*cards)[PATH_MAX])
{
    world_info info;
    kt_err e;
    world_new_opts o = {.k = k, .n = n, .kdf = *kdf, .pin = test_pin};
    ts_scratch_into(dir, dirsz);
    cr_assert_eq(world_paths_init(p, dir, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_create(p, &o, &info, cards, &e), KT_OK, "%s", e.msg);
}

static void reseal(const char *path, unsigned no, const world_kdf *kdf, const uint8_t *hash)
{
    kt_secbuf pin = {NULL, 0};
    kt_err e;
    cr_assert_eq(test_pin(NULL, no, path, false, &pin, &e), KT_OK);
    cr_assert_eq(ts_reseal_card(path, &pin, kdf, hash, &e), KT_OK, "%s", e.msg);
    kt_secbuf_free(&pin);
}

static void assert_has(const char *msg, const char *part)
{
    cr_assert(strstr(msg, part) != NULL, "'%s' lacks '%s'", msg, part);
}

static kt_rc check_card(const world_paths *p, const char *path, pins *pc, kt_err *e)
{
    world_card_info ci;
    return world_check_card(p, path, test_pin, pc, &ci, e);
}

static kt_rc quorum(const world_paths *p, const char *const *cards, size_t n, pins *pc, kt_err *e)
{
    world_admin a;
    kt_rc rc = world_admin_open(p, cards, n, test_pin, pc, &a, e);
    if (rc == KT_OK)
        world_admin_close(&a);
    return rc;
}

Test(kdf_floor, is_libsodiums_interactive_limits)
{
    world_kdf f;
    world_kdf_floor(&f);
    cr_assert_eq(f.opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
    cr_assert_eq(f.memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
    cr_assert(world_kdf_meets(&WORLD_KDF_INTERACTIVE, &f));
    cr_assert(world_kdf_meets(&WORLD_KDF_MODERATE, &f));
    cr_assert_not(world_kdf_meets(&KDF_CHEAP, &f));
    cr_assert_str_eq(world_kdf_profile_name(&WORLD_KDF_MODERATE), "moderate");
    cr_assert_str_eq(world_kdf_profile_name(&WORLD_KDF_INTERACTIVE), "interactive");
    cr_assert_null(world_kdf_profile_name(&KDF_CHEAP));
    char s[48];
    world_kdf_format(&WORLD_KDF_MODERATE, s, sizeof s);
    cr_assert_str_eq(s, "opslimit 3, memlimit 256 MiB");
    world_kdf_format(&KDF_CHEAP, s, sizeof s);
    cr_assert_str_eq(s, "opslimit 1, memlimit 8 KiB");
}

Test(kdf_floor, no_world_is_made_below_it_or_above_the_card_limits)
{
    static const world_kdf refused[] = {
        {1, 8192},                          /* both below */
        {2, 32u << 20},                     /* memory below */
        {16, 32u << 20},                    /* more passes do not make up */
        {1, 1024u << 20},                   /* nor more memory */
        {WORLD_KDF_OPS_MAX + 1, 64u << 20}, /* above what a card may state */
        {2, WORLD_KDF_MEM_MAX + 1024},      /* likewise */
    };
    char dir[64];
    world_paths p;
    world_info info;
    kt_err e;
    ts_scratch_into(dir, sizeof dir);
    cr_assert_eq(world_paths_init(&p, dir, NULL, &e), KT_OK);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        pins pc = {0};
        world_new_opts o = {.k = 1, .n = 1, .kdf = refused[i], .pin = test_pin, .pin_ctx = &pc};
        cr_assert_eq(world_create(&p, &o, &info, NULL, &e), KT_EUSAGE, "profile %zu accepted", i);
        cr_assert_eq(pc.asked, 0, "a PIN was asked for a refused profile");
    }
    world_new_opts o = {.k = 1, .n = 1, .kdf = KDF_CHEAP, .pin = test_pin};
    cr_assert_eq(world_create(&p, &o, &info, NULL, &e), KT_EUSAGE);
    assert_has(e.msg, "opslimit 1, memlimit 8 KiB");
    assert_has(e.msg, "opslimit 2, memlimit 64 MiB");
    cr_assert_not(kt_path_exists(p.world));
}

Test(kdf_floor, the_world_file_records_its_profile)
{
    char dir[64], cards[1][PATH_MAX];
    world_paths p;
    world_info info;
    kt_err e;
    world_kdf_floor_lower_for_tests(&KDF_CHEAP);
    make_world(&p, dir, sizeof dir, 1, 1, &KDF_CHEAP2, cards);
    cr_assert_eq(world_load_info(&p, &info, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(info.version, 2);
    cr_assert(info.kdf_recorded);
    cr_assert_eq(info.kdf.opslimit, KDF_CHEAP2.opslimit);
    cr_assert_eq(info.kdf.memlimit, KDF_CHEAP2.memlimit);
    world_kdf f;
    world_kdf_floor_of(&info, &f);
    cr_assert_eq(f.opslimit, 2);
    cr_assert_eq(f.memlimit, 16384);
}

/* The real floor: a world at the interactive profile, one of its cards re-sealed cheaply. */
Test(kdf_floor, a_card_resealed_below_it_is_refused_everywhere_before_any_pin, .timeout = 120)
{
    char dir[64], cards[2][PATH_MAX], module[PATH_MAX];
    world_paths p;
    world_info info;
    world_card_info ci;
    kt_err e;
    make_world(&p, dir, sizeof dir, 2, 2, &WORLD_KDF_INTERACTIVE, cards);
    cr_assert_eq(world_load_info(&p, &info, &e), KT_OK);
    reseal(cards[0], 1, &KDF_CHEAP, NULL);

    cr_assert_eq(world_card_inspect(cards[0], &ci, &e), KT_EDENIED);
    assert_has(e.msg, "card 1");
    assert_has(e.msg, cards[0]);
    assert_has(e.msg, "opslimit 1, memlimit 8 KiB");
    assert_has(e.msg, "opslimit 2, memlimit 64 MiB");
    cr_assert_eq(world_card_inspect(cards[1], &ci, &e), KT_OK, "%s", e.msg);

    pins pc = {0};
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_EDENIED);
    assert_has(e.msg, "opslimit 1, memlimit 8 KiB");
    assert_has(e.msg, "before any PIN is asked");
    cr_assert_eq(pc.asked, 0);
    cr_assert_eq(kt_rc_exit(KT_EDENIED), 1);

    const char *both[2] = {cards[1], cards[0]};
    cr_assert_eq(quorum(&p, both, 2, &pc, &e), KT_EDENIED);
    assert_has(e.msg, cards[0]);
    cr_assert_eq(pc.asked, 0, "no PIN is asked while a card is below the floor");

    cr_assert_eq(world_module_erase(&p, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_module_path(&p, info.esn, module, sizeof module, &e), KT_OK);
    cr_assert_eq(world_program(&p, both, 2, test_pin, &pc, false, &e), KT_EDENIED);
    cr_assert_eq(pc.asked, 0);
    cr_assert_not(kt_path_exists(module));

    /* The twin: the same card at exactly the floor opens everything again. */
    reseal(cards[0], 1, &WORLD_KDF_INTERACTIVE, NULL);
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_program(&p, both, 2, test_pin, &pc, false, &e), KT_OK, "%s", e.msg);
    cr_assert(kt_path_exists(module));
}

Test(kdf_floor, each_limit_counts_on_its_own, .timeout = 120)
{
    static const world_kdf fewer_passes = {1, 128u << 20}, less_memory = {4, 32u << 20},
                           stronger = {3, 64u << 20};
    char dir[64], cards[1][PATH_MAX];
    world_paths p;
    kt_err e;
    pins pc = {0};
    make_world(&p, dir, sizeof dir, 1, 1, &WORLD_KDF_INTERACTIVE, cards);

    reseal(cards[0], 1, &fewer_passes, NULL);
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_EDENIED);
    assert_has(e.msg, "opslimit 1, memlimit 128 MiB");
    reseal(cards[0], 1, &less_memory, NULL);
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_EDENIED);
    assert_has(e.msg, "opslimit 4, memlimit 32 MiB");
    cr_assert_eq(pc.asked, 0);
    reseal(cards[0], 1, &stronger, NULL);
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pc.asked, 1);
}

Test(kdf_floor, a_world_that_records_a_weak_profile_does_not_lower_it)
{
    char dir[64], cards[1][PATH_MAX];
    world_paths p;
    kt_err e;
    pins pc = {0};
    world_kdf_floor_lower_for_tests(&KDF_CHEAP);
    make_world(&p, dir, sizeof dir, 1, 1, &KDF_CHEAP, cards);
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_OK, "%s", e.msg);

    world_kdf_floor_lower_for_tests(NULL); /* the programs' floor */
    pc.asked = 0;
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_EDENIED);
    assert_has(e.msg, "libsodium's interactive limits");
    const char *one[1] = {cards[0]};
    cr_assert_eq(quorum(&p, one, 1, &pc, &e), KT_EDENIED);
    cr_assert_eq(pc.asked, 0);
}

Test(kdf_floor, a_card_below_its_worlds_profile_is_refused, .timeout = 120)
{
    char dir[64], cards[2][PATH_MAX];
    world_paths p;
    kt_err e;
    pins pc = {0};
    world_kdf_floor_lower_for_tests(&KDF_CHEAP); /* only the world's profile holds the card */
    make_world(&p, dir, sizeof dir, 2, 2, &WORLD_KDF_INTERACTIVE, cards);
    reseal(cards[1], 2, &KDF_CHEAP2, NULL);

    cr_assert_eq(check_card(&p, cards[1], &pc, &e), KT_EDENIED);
    assert_has(e.msg, "card 2");
    assert_has(e.msg, "opslimit 2, memlimit 16 KiB");
    assert_has(e.msg, "this world's floor (the interactive profile it was made with)");
    assert_has(e.msg, "opslimit 2, memlimit 64 MiB");
    const char *both[2] = {cards[0], cards[1]};
    cr_assert_eq(quorum(&p, both, 2, &pc, &e), KT_EDENIED);
    cr_assert_eq(pc.asked, 0);
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_OK, "%s", e.msg);

    reseal(cards[1], 2, &WORLD_KDF_INTERACTIVE, NULL);
    cr_assert_eq(quorum(&p, both, 2, &pc, &e), KT_OK, "%s", e.msg);
}

/* ---- version 1 world files ---------------------------------------------------------------- */

/*
 * Rewrites a version 2 world as version 1 would have written it: the identity without the two
 * KDF fields, the secrets sealed again to that identity, signed by KNSO, and the cards re-sealed
 * to the new world hash. LT comes from the k cards, as a quorum opens it.
 */
static void downgrade_to_version_1(const world_paths *p, char (*cards)[PATH_MAX], unsigned k)
{
    world_file wf;
    kt_secbuf shares = {0}, token = {0}, key = {0}, secrets = {0};
    uint8_t xs[WORLD_MAX_CARDS], hash[WORLD_HASH_LEN], nonce[AEAD_NONCE_LEN];
    uint8_t sealed[WORLD_SECRETS_LEN + AEAD_TAG_LEN], sig[crypto_sign_BYTES];
    uint8_t knso_pk[crypto_sign_PUBLICKEYBYTES];
    const uint8_t *ptrs[WORLD_MAX_CARDS];
    kt_secbuf knso_sk = {0};
    kt_wbuf w;
    kt_err e;

    cr_assert_eq(world_file_read(p, &wf, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_secbuf_alloc(&shares, (size_t)k * WORLD_TOKEN_LEN, &e), KT_OK);
    for (unsigned i = 0; i < k; i++) {
        card c;
        kt_secbuf pin = {0};
        cr_assert_eq(card_read(cards[i], &c, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(test_pin(NULL, c.ci.no, cards[i], false, &pin, &e), KT_OK);
        ptrs[i] = shares.p + (size_t)i * WORLD_TOKEN_LEN;
        cr_assert_eq(card_open(&c, &pin, shares.p + (size_t)i * WORLD_TOKEN_LEN, &e), KT_OK);
        xs[i] = c.ci.x;
        kt_secbuf_free(&pin);
        card_free(&c);
    }
    cr_assert_eq(kt_secbuf_alloc(&token, WORLD_TOKEN_LEN, &e), KT_OK);
    cr_assert_eq(shamir_combine(xs, ptrs, k, WORLD_TOKEN_LEN, token.p, &e), KT_OK);
    /* formats.md: world secrets key = crypto_kdf_derive_from_key(32, 1, "KTWSECR1", LT). */
    cr_assert_eq(kt_secbuf_alloc(&key, 32, &e), KT_OK);
    cr_assert_eq(crypto_kdf_derive_from_key(key.p, 32, 1, "KTWSECR1", token.p), 0);
    cr_assert_eq(kt_secbuf_alloc(&secrets, WORLD_SECRETS_LEN, &e), KT_OK);
    cr_assert_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(secrets.p, NULL, NULL, wf.sealed,
                                                            sizeof wf.sealed, wf.raw.p,
                                                            wf.ident_len, wf.nonce, key.p),
                 0);

    /* The identity of version 2 ends with the two KDF fields (tags 9 and 10, 14 bytes each). */
    const size_t kdf_fields = 2 * (6 + 8);
    cr_assert_eq(kt_be16(wf.raw.p + wf.ident_len - kdf_fields), WORLD_T_KDF_OPS);
    cr_assert_eq(kt_be16(wf.raw.p + wf.ident_len - kdf_fields / 2), WORLD_T_KDF_MEM);
    kt_wbuf_init(&w, false);
    kt_wbuf_header(&w, WORLD_MAGIC, 1);
    kt_wbuf_bytes(&w, wf.raw.p + 10, wf.ident_len - 10 - kdf_fields);
    cr_assert_eq(kt_wbuf_finish(&w, &e), KT_OK);
    kt_sha256(hash, w.p, w.len);
    kt_random(nonce, sizeof nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, secrets.p, secrets.len, w.p, w.len,
                                               NULL, nonce, key.p);
    kt_wbuf_field(&w, WORLD_T_NONCE, nonce, sizeof nonce);
    kt_wbuf_field(&w, WORLD_T_SECRETS, sealed, sizeof sealed);
    cr_assert_eq(kt_wbuf_finish(&w, &e), KT_OK);
    cr_assert_eq(kt_secbuf_alloc(&knso_sk, crypto_sign_SECRETKEYBYTES, &e), KT_OK);
    crypto_sign_seed_keypair(knso_pk, knso_sk.p, secrets.p + WORLD_KM_LEN);
    cr_assert_arr_eq(knso_pk, wf.info.knso_pub, 32);
    crypto_sign_detached(sig, NULL, w.p, w.len, knso_sk.p);
    kt_wbuf_field(&w, WORLD_T_SIG, sig, sizeof sig);
    cr_assert_eq(kt_wbuf_finish(&w, &e), KT_OK);
    cr_assert_eq(kt_file_write(p->world, w.p, w.len, KT_WRITE_REPLACE, &e), KT_OK, "%s", e.msg);

    for (unsigned i = 0; i < wf.info.n; i++)
        reseal(cards[i], i + 1, &KDF_CHEAP, hash);
    /* The audit log is of the world hash before the downgrade: a world of version 1 never had
     * one, and its next entry begins a new log. */
    char log[PATH_MAX];
    cr_assert_lt(snprintf(log, sizeof log, "%s/audit", p->local), (int)sizeof log);
    cr_assert_eq(kt_file_remove(log, &e), KT_OK, "%s", e.msg);
    kt_wbuf_free(&w);
    kt_secbuf_free(&knso_sk);
    kt_secbuf_free(&secrets);
    kt_secbuf_free(&key);
    kt_secbuf_free(&token);
    kt_secbuf_free(&shares);
    world_file_free(&wf);
}

Test(kdf_floor, a_version_1_world_file_is_still_read_and_held_to_the_floor)
{
    char dir[64], cards[2][PATH_MAX];
    world_paths p;
    world_info info;
    world_module m;
    kt_err e;
    pins pc = {0};
    world_kdf_floor_lower_for_tests(&KDF_CHEAP);
    make_world(&p, dir, sizeof dir, 2, 2, &KDF_CHEAP, cards);
    downgrade_to_version_1(&p, cards, 2);

    cr_assert_eq(world_load_info(&p, &info, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(info.version, 1);
    cr_assert_not(info.kdf_recorded);
    const char *both[2] = {cards[0], cards[1]};
    cr_assert_eq(quorum(&p, both, 2, &pc, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_module_erase(&p, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_program(&p, both, 2, test_pin, &pc, false, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_module_open(&p, &m, &e), KT_OK, "%s", e.msg);
    world_module_close(&m);

    world_kdf_floor_lower_for_tests(NULL);
    pc.asked = 0;
    cr_assert_eq(check_card(&p, cards[0], &pc, &e), KT_EDENIED);
    assert_has(e.msg, "libsodium's interactive limits");
    cr_assert_eq(pc.asked, 0);
}

Test(kdf_floor, an_unknown_world_file_version_is_refused_by_name)
{
    char dir[64], cards[1][PATH_MAX];
    world_paths p;
    world_info info;
    kt_buf raw;
    kt_err e;
    world_kdf_floor_lower_for_tests(&KDF_CHEAP);
    make_world(&p, dir, sizeof dir, 1, 1, &KDF_CHEAP, cards);
    cr_assert_eq(kt_file_read(p.world, WORLD_FILE_MAX, &raw, &e), KT_OK);
    raw.p[9] = 3;
    cr_assert_eq(kt_file_write(p.world, raw.p, raw.len, KT_WRITE_REPLACE, &e), KT_OK);
    cr_assert_eq(world_load_info(&p, &info, &e), KT_EVERSION);
    assert_has(e.msg, "version 3 is not supported");
    kt_buf_free(&raw);
}
