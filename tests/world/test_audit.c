/*
 * test_audit.c - the audit log codec through its library, on a world made of fresh key pairs
 * (the log needs only the world's hash and public keys): entries read back as written, quorum
 * operations carry KNSO's signature and name the cards, and each kind of damage is refused with
 * KT_EDENIED naming the entry: a flipped byte anywhere, a foreign world, a forged head, a key
 * that is not the world's, a quorum operation without KNSO, an append onto a damaged log.
 * tests/cli/test_audit.sh does the same at every position of a real 20-operation history.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world_internal.h"
#include "support/scratch.h"
#include "world.h"

typedef struct fixture {
    char *dir;
    world_paths p;
    world_info info;
    kt_secbuf module_sk, knso_sk;
} fixture;

static void setup(fixture *f)
{
    kt_err e;
    cr_assert_eq(sodium_init() >= 0, true);
    f->dir = ts_scratch();
    cr_assert_eq(world_paths_init(&f->p, f->dir, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_dir_ensure(f->p.local, &e), KT_OK, "%s", e.msg);
    memset(&f->info, 0, sizeof f->info);
    kt_random(f->info.hash, sizeof f->info.hash);
    f->info.cardset = 1;
    cr_assert_eq(kt_secbuf_alloc(&f->module_sk, crypto_sign_SECRETKEYBYTES, &e), KT_OK);
    cr_assert_eq(kt_secbuf_alloc(&f->knso_sk, crypto_sign_SECRETKEYBYTES, &e), KT_OK);
    crypto_sign_keypair(f->info.module_pub, f->module_sk.p);
    crypto_sign_keypair(f->info.knso_pub, f->knso_sk.p);
}

static void teardown(fixture *f)
{
    kt_secbuf_free(&f->module_sk);
    kt_secbuf_free(&f->knso_sk);
    ts_rmrf(f->dir);
}

/* Appends op with details {"n": i}; quorum ops are signed by KNSO too and name cards 1 and 3. */
static kt_rc append(fixture *f, const char *op, int i, kt_err *e)
{
    static const unsigned cards[] = {1, 3};
    bool quorum = world_audit_op_needs_knso(op);
    json_t *d = json_pack("{s:i}", "n", i);
    world_audit_signer s = {
        .info = &f->info, .module_sk = &f->module_sk, .knso_sk = quorum ? &f->knso_sk : NULL};
    world_audit_op o = {
        .op = op, .detail = d, .cards = quorum ? cards : NULL, .ncards = quorum ? 2 : 0};
    kt_rc rc = world_audit_record(&f->p, &s, &o, e);
    json_decref(d);
    return rc;
}

static void history(fixture *f)
{
    static const char *const ops[] = {"world new",  "key generate",  "modify-acls",  "package",
                                      "key delete", "world program", "module erase", "key import"};
    kt_err e;
    for (int i = 0; i < 8; i++)
        cr_assert_eq(append(f, ops[i], i, &e), KT_OK, "%s", e.msg);
}

static uint8_t *read_log(const fixture *f, size_t *n)
{
    char *path = ts_path(f->p.local, "audit");
    uint8_t *raw = ts_read(path, n);
    free(path);
    return raw;
}

Test(audit, entries_read_back_as_written)
{
    fixture f;
    world_audit_log log;
    kt_err e;
    setup(&f);
    history(&f);
    cr_assert_eq(world_audit_read(&f.p, &f.info, &log, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(log.n, 8);
    for (size_t i = 0; i < log.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%zu}", i);
        cr_assert_eq(log.entries[i].seq, i + 1);
        cr_assert_str_eq(log.entries[i].detail, want);
        bool quorum = world_audit_op_needs_knso(log.entries[i].op);
        cr_assert_eq(log.entries[i].knso_signed, quorum, "%s", log.entries[i].op);
        cr_assert_eq(log.entries[i].ncards, quorum ? 2u : 0u);
        if (quorum) {
            cr_assert_eq(log.entries[i].cards[0], 1);
            cr_assert_eq(log.entries[i].cards[1], 3);
            cr_assert_eq(log.entries[i].cardset, 1);
        }
    }
    cr_assert_str_eq(log.entries[2].op, "modify-acls");
    cr_assert_arr_eq(log.head, log.entries[7].hash, WORLD_HASH_LEN);
    world_audit_log_free(&log);
    teardown(&f);
}

Test(audit, every_flipped_byte_is_refused_naming_an_entry_or_the_head)
{
    fixture f;
    kt_err e;
    size_t n;
    setup(&f);
    history(&f);
    uint8_t *raw = read_log(&f, &n);
    cr_assert_eq(world_audit_parse(raw, n, &f.info, NULL, &e), KT_OK, "%s", e.msg);
    for (size_t i = 0; i < n; i++) {
        raw[i] ^= 0x01;
        kt_rc rc = world_audit_parse(raw, n, &f.info, NULL, &e);
        raw[i] ^= 0x01;
        cr_assert_eq(rc, KT_EDENIED, "byte %zu: %s", i, e.msg);
        cr_assert(strstr(e.msg, "entry ") != NULL || strstr(e.msg, "head") != NULL ||
                      strstr(e.msg, "world") != NULL,
                  "byte %zu: %s", i, e.msg);
    }
    /* Every shorter length is a truncation. */
    for (size_t len = 0; len < n; len++)
        cr_assert_eq(world_audit_parse(raw, len, &f.info, NULL, &e), KT_EDENIED, "length %zu", len);
    free(raw);
    teardown(&f);
}

Test(audit, another_world_and_a_forged_head_are_refused)
{
    fixture f;
    kt_err e;
    size_t n;
    setup(&f);
    history(&f);
    uint8_t *raw = read_log(&f, &n);
    world_info other = f.info;
    other.hash[0] ^= 1;
    cr_assert_eq(world_audit_parse(raw, n, &other, NULL, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "belongs to world") != NULL, "%s", e.msg);
    /* The head re-signed by another key: the count and hash are right, the signature is not. */
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    other = f.info;
    memcpy(other.module_pub, pk, 32);
    cr_assert_eq(world_audit_parse(raw, n, &other, NULL, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "entry 1:") != NULL, "%s", e.msg);
    sodium_memzero(sk, sizeof sk);
    free(raw);
    teardown(&f);
}

Test(audit, a_quorum_operation_needs_knso_and_the_key_must_be_the_worlds)
{
    fixture f;
    kt_err e;
    setup(&f);
    json_t *d = json_object();
    world_audit_signer s = {.info = &f.info, .module_sk = &f.module_sk};
    world_audit_op o = {.op = "modify-acls", .detail = d};
    cr_assert_eq(world_audit_record(&f.p, &s, &o, &e), KT_EUSAGE);
    kt_secbuf other = {0};
    uint8_t pk[32];
    cr_assert_eq(kt_secbuf_alloc(&other, 64, &e), KT_OK);
    crypto_sign_keypair(pk, other.p);
    s.module_sk = &other;
    o.op = "key generate";
    cr_assert_eq(world_audit_record(&f.p, &s, &o, &e), KT_EUSAGE);
    cr_assert(strstr(e.msg, "not this world's module key") != NULL, "%s", e.msg);
    o.op = "Key Generate!";
    s.module_sk = &f.module_sk;
    cr_assert_eq(world_audit_record(&f.p, &s, &o, &e), KT_EUSAGE);
    char *path = ts_path(f.p.local, "audit");
    cr_assert_not(kt_path_exists(path), "a refused entry began a log");
    free(path);
    kt_secbuf_free(&other);
    json_decref(d);
    teardown(&f);
}

Test(audit, nothing_is_added_to_a_damaged_log_and_a_new_log_says_it_began_late)
{
    fixture f;
    kt_err e;
    size_t n, n2;
    world_audit_log log;
    setup(&f);
    history(&f);
    uint8_t *raw = read_log(&f, &n);
    char *path = ts_path(f.p.local, "audit");
    raw[n / 2] ^= 0x80;
    ts_write(path, raw, n);
    cr_assert_eq(append(&f, "key generate", 99, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "move it aside") != NULL, "%s", e.msg);
    uint8_t *after = read_log(&f, &n2);
    cr_assert_eq(n2, n);
    cr_assert_arr_eq(after, raw, n, "the damaged log was changed");
    free(after);
    cr_assert_eq(remove(path), 0);
    cr_assert_eq(append(&f, "key generate", 99, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_audit_read(&f.p, &f.info, &log, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(log.n, 2);
    cr_assert_str_eq(log.entries[0].op, "audit begin");
    cr_assert_str_eq(log.entries[1].op, "key generate");
    world_audit_log_free(&log);
    free(path);
    free(raw);
    teardown(&f);
}
