/*
 * test_token.c - token/ and world/token_bind.c without a token: the URI rules, the CKR_ mapping
 * and its exit statuses, the transfer refusals of a key's attributes, a module that cannot be
 * loaded; the sealed SO PIN and the KNSO-signed reduced-token record, each with its tampered,
 * swapped and foreign twins. tests/cli/test_token.sh drives a real token (SoftHSMv2).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "world_internal.h"
#include "support/scratch.h"
#include "token.h"
#include "token_bind.h"
#include "world.h"

/* ---- URIs ---------------------------------------------------------------------------------- */

Test(token_uri, accepts_a_token_with_its_module)
{
    static const char *const good[] = {
        "pkcs11:token=BYOK?module-path=/usr/lib/softhsm/libsofthsm2.so",
        "pkcs11:serial=1a2b3c4d5e6f7081?module-name=softhsm2",
        "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;token=My%20Token?module-name=x",
    };
    kt_err e;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect_eq(token_uri_check(good[i], &e), KT_OK, "%s: %s", good[i], e.msg);
}

Test(token_uri, refuses_pins_objects_and_missing_modules)
{
    static const struct {
        const char *uri, *why;
    } bad[] = {
        {"pkcs11:token=BYOK?pin-value=1234&module-path=/m.so", "PIN"},
        {"pkcs11:token=BYOK?pin-source=file:/p&module-path=/m.so", "PIN"},
        {"pkcs11:token=BYOK;id=%01%02?module-path=/m.so", "names an object"},
        {"pkcs11:token=BYOK;object=k;type=private?module-path=/m.so", "names an object"},
        {"pkcs11:token=BYOK", "names no module"},
        {"pkcs11:token=BYOK?module-path=lib/m.so", "absolute"},
        {"pkcs11:token=BYOK?module-path=/m.so&module-name=m", "give one"},
        {"https://example.com/", "not a PKCS#11 URI"},
        {"pkcs11:token=%zz?module-path=/m.so", "not a PKCS#11 URI"},
    };
    kt_err e;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(token_uri_check(bad[i].uri, &e), KT_EUSAGE, "%s accepted", bad[i].uri);
        cr_expect(strstr(e.msg, bad[i].why) != NULL, "%s: %s", bad[i].uri, e.msg);
    }
}

Test(token_open, names_a_module_that_cannot_be_loaded)
{
    token *t = NULL;
    kt_err e;
    cr_assert_eq(token_open("pkcs11:token=BYOK?module-path=/nonexistent/libnone.so", &t, &e),
                 KT_EIO);
    cr_expect_null(t);
    cr_expect(strstr(e.msg, "/nonexistent/libnone.so") != NULL, "%s", e.msg);
    cr_expect_eq(kt_rc_exit(e.rc), KT_EXIT_IO);
}

/* ---- CKR_ codes ---------------------------------------------------------------------------- */

Test(token_rv, maps_every_kind_to_its_exit_status)
{
    static const struct {
        CK_RV rv;
        kt_rc rc;
        int exit;
        const char *text;
    } table[] = {
        {CKR_PIN_INCORRECT, KT_EPIN, KT_EXIT_DENIED, "wrong PIN"},
        {CKR_PIN_LOCKED, KT_EPIN, KT_EXIT_DENIED, "locked"},
        {CKR_MECHANISM_INVALID, KT_EDENIED, KT_EXIT_DENIED, "CKR_MECHANISM_INVALID"},
        {CKR_KEY_NOT_WRAPPABLE, KT_EDENIED, KT_EXIT_DENIED, "trusted"},
        {CKR_ATTRIBUTE_READ_ONLY, KT_EDENIED, KT_EXIT_DENIED, "Security Officer"},
        {CKR_USER_ANOTHER_ALREADY_LOGGED_IN, KT_EDENIED, KT_EXIT_DENIED, "another user"},
        {CKR_DATA_INVALID, KT_EFORMAT, KT_EXIT_FORMAT, "CKR_DATA_INVALID"},
        {CKR_DEVICE_ERROR, KT_EIO, KT_EXIT_IO, "CKR_DEVICE_ERROR"},
        {CKR_TOKEN_NOT_PRESENT, KT_EIO, KT_EXIT_IO, "not present"},
        {CKR_HOST_MEMORY, KT_ENOMEM, KT_EXIT_CRYPTO, "memory"},
        {0x8000abcdUL, KT_EIO, KT_EXIT_IO, "0x8000abcd"},
    };
    kt_err e;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        cr_expect_eq(token_rv_fail(&e, table[i].rv, "C_Test"), table[i].rc, "0x%lx",
                     (unsigned long)table[i].rv);
        cr_expect_eq(kt_rc_exit(e.rc), table[i].exit, "0x%lx", (unsigned long)table[i].rv);
        cr_expect(strstr(e.msg, table[i].text) != NULL && strncmp(e.msg, "C_Test: ", 8) == 0,
                  "0x%lx: %s", (unsigned long)table[i].rv, e.msg);
    }
}

Test(token_rv, names_mechanisms)
{
    char buf[32];
    cr_expect_str_eq(token_mech_name(CKM_AES_KEY_WRAP_PAD, buf, sizeof buf),
                     "CKM_AES_KEY_WRAP_PAD");
    cr_expect_str_eq(token_mech_name(CKM_RSA_AES_KEY_WRAP, buf, sizeof buf),
                     "CKM_RSA_AES_KEY_WRAP");
    cr_expect_str_eq(token_mech_name(0x80001234UL, buf, sizeof buf), "CKM_0x80001234");
}

/* ---- which keys may go ----------------------------------------------------------------------- */

Test(token_key, refuses_readable_unwrappable_and_freely_extractable_keys)
{
    token_key good = {.sensitive = true,
                      .always_sensitive = true,
                      .extractable = true,
                      .wrap_with_trusted = true};
    token_key k;
    cr_expect_null(token_key_refusal(&good));
    k = good, k.sensitive = false;
    cr_expect(strstr(token_key_refusal(&k), "CKA_SENSITIVE false") != NULL);
    k = good, k.always_sensitive = false;
    cr_expect(strstr(token_key_refusal(&k), "CKA_ALWAYS_SENSITIVE false") != NULL);
    k = good, k.extractable = false;
    cr_expect(strstr(token_key_refusal(&k), "CKA_EXTRACTABLE false") != NULL);
    k = good, k.wrap_with_trusted = false;
    cr_expect(strstr(token_key_refusal(&k), "freely extractable") != NULL);
}

/* ---- the world side: sealed SO PIN, signed record ------------------------------------------- */

static const world_kdf KDF_TEST = {1, 8192};

static kt_rc test_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                      kt_err *e)
{
    char s[48];
    (void)ctx, (void)card_path, (void)is_new;
    snprintf(s, sizeof s, "pin-of-card-%u", no);
    kt_rc rc = kt_secbuf_alloc(pin, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pin->p, s, strlen(s));
    return rc;
}

typedef struct world_fx {
    char dir[64];
    world_paths p;
    world_admin a;
    char cards[3][PATH_MAX];
} world_fx;

static void world_up(world_fx *f)
{
    world_info info;
    kt_err e;
    world_new_opts o = {.k = 2, .n = 3, .kdf = KDF_TEST, .pin = test_pin};
    world_kdf_floor_lower_for_tests(&KDF_TEST);
    ts_scratch_into(f->dir, sizeof f->dir);
    cr_assert_eq(world_paths_init(&f->p, f->dir, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_create(&f->p, &o, &info, f->cards, &e), KT_OK, "%s", e.msg);
    const char *const cards[] = {f->cards[0], f->cards[2]};
    cr_assert_eq(world_admin_open(&f->p, cards, 2, test_pin, NULL, &f->a, &e), KT_OK, "%s", e.msg);
}

static void world_down(world_fx *f)
{
    world_admin_close(&f->a);
    ts_rmrf(strdup(f->dir));
}

static void secret(kt_secbuf *b, const char *s)
{
    kt_err e;
    cr_assert_eq(kt_secbuf_alloc(b, strlen(s), &e), KT_OK);
    memcpy(b->p, s, strlen(s));
}

Test(token_bind, seals_the_so_pin_for_the_quorum_only)
{
    world_fx f, g;
    uint8_t tid[32], other[32];
    kt_secbuf pin = {0}, back = {0};
    char path[PATH_MAX];
    kt_err e;

    world_up(&f);
    memset(tid, 0x5a, sizeof tid);
    memset(other, 0xa5, sizeof other);
    secret(&pin, "so-pin-1234");
    cr_assert_eq(
        world_token_so_seal(&f.p, &f.a, tid, "BYOK, serial 1", &pin, false, NULL, 0, path, &e),
        KT_OK, "%s", e.msg);
    size_t n;
    uint8_t *raw = ts_read(path, &n);
    cr_expect_null(memmem(raw, n, "so-pin-1234", 11), "the SO PIN is in the file in clear");
    cr_assert_eq(world_token_so_open(&f.p, &f.a, tid, &back, &e), KT_OK, "%s", e.msg);
    cr_expect(back.len == pin.len && memcmp(back.p, pin.p, pin.len) == 0);
    kt_secbuf_free(&back);
    /* Twice without replace; another token; every byte flipped. */
    cr_expect_eq(world_token_so_seal(&f.p, &f.a, tid, "BYOK", &pin, false, NULL, 0, NULL, &e),
                 KT_EEXIST);
    cr_expect_eq(world_token_so_open(&f.p, &f.a, other, &back, &e), KT_ENOENT);
    cr_expect(strstr(e.msg, "bind-token") != NULL, "%s", e.msg);
    for (size_t i = 0; i < n; i++) {
        raw[i] ^= 0x01;
        char name[PATH_MAX];
        snprintf(name, sizeof name, "%s", path);
        unlink(name);
        ts_write(name, raw, n);
        cr_expect_neq(world_token_so_open(&f.p, &f.a, tid, &back, &e), KT_OK, "byte %zu", i);
        kt_secbuf_free(&back);
        raw[i] ^= 0x01;
    }
    unlink(path);
    ts_write(path, raw, n);
    /* Another world's quorum cannot open it, even with the file copied there. */
    world_up(&g);
    char gpath[PATH_MAX];
    cr_assert_eq(world_token_so_path(&g.p, tid, gpath, sizeof gpath, &e), KT_OK);
    ts_write(gpath, raw, n);
    cr_expect_eq(world_token_so_open(&g.p, &g.a, tid, &back, &e), KT_EDENIED);
    free(raw);
    kt_secbuf_free(&pin);
    world_down(&g);
    world_down(&f);
}

static void record(world_token_record *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->ident, sizeof r->ident, "contosokey");
    memset(r->token_id, 0x11, sizeof r->token_id);
    snprintf(r->token_desc, sizeof r->token_desc, "BYOK, serial 1");
    memset(r->key_id, 0x22, 16);
    r->key_id_len = 16;
    r->type = WORLD_KEY_AES;
    r->bits = 256;
    world_token_key_hash(r->type, NULL, 0, r->token_id, r->key_id, r->key_id_len, r->key_hash);
    r->acl.ngroups = 1;
    r->acl.groups[0].actions = WORLD_ACT_EXPORT_WRAPPED;
    r->acl.groups[0].has_kek = true;
    memset(r->acl.groups[0].kek_fp, 0x33, 32);
    r->created = 1700000000;
}

Test(token_bind, the_record_is_signed_by_knso_over_every_byte)
{
    world_fx f, g;
    world_token_record r, back;
    kt_err e;

    world_up(&f);
    record(&r);
    cr_assert_eq(world_token_record_save(&f.p, &f.a, &r, NULL, 0, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_token_record_load(&f.p, &f.a.info, "contosokey", &back, &e), KT_OK, "%s",
                 e.msg);
    cr_expect(memcmp(back.key_id, r.key_id, 16) == 0 && back.key_id_len == 16);
    cr_expect(back.acl.ngroups == 1 && back.acl.groups[0].has_kek);
    cr_expect_eq(world_token_record_save(&f.p, &f.a, &r, NULL, 0, &e), KT_EEXIST);
    cr_expect_eq(world_token_record_load(&f.p, &f.a.info, "otherkey", &back, &e), KT_ENOENT);

    size_t n;
    uint8_t *raw = ts_read(r.path, &n);
    for (size_t i = 0; i < n; i++) {
        raw[i] ^= 0x80;
        unlink(r.path);
        ts_write(r.path, raw, n);
        cr_expect_neq(world_token_record_load(&f.p, &f.a.info, "contosokey", &back, &e), KT_OK,
                      "byte %zu flipped and accepted", i);
        raw[i] ^= 0x80;
    }
    /* Renamed to another ident: the signature names the ident. */
    char other[PATH_MAX];
    cr_assert_eq(world_token_record_path(&f.p, "otherkey", other, sizeof other, &e), KT_OK);
    ts_write(other, raw, n);
    cr_expect_eq(world_token_record_load(&f.p, &f.a.info, "otherkey", &back, &e), KT_EDENIED);
    /* Another world's KNSO did not sign it. */
    world_up(&g);
    char gpath[PATH_MAX];
    cr_assert_eq(world_token_record_path(&g.p, "contosokey", gpath, sizeof gpath, &e), KT_OK);
    ts_write(gpath, raw, n);
    cr_expect_eq(world_token_record_load(&g.p, &g.a.info, "contosokey", &back, &e), KT_EDENIED);
    cr_expect(strstr(e.msg, "KNSO") != NULL, "%s", e.msg);
    free(raw);
    world_down(&g);
    world_down(&f);
}

Test(token_bind, aes_key_hash_names_token_and_id)
{
    uint8_t t1[32], t2[32], id[16], h1[32], h2[32], h3[32];
    memset(t1, 1, 32);
    memset(t2, 2, 32);
    memset(id, 3, 16);
    world_token_key_hash(WORLD_KEY_AES, NULL, 0, t1, id, 16, h1);
    world_token_key_hash(WORLD_KEY_AES, NULL, 0, t2, id, 16, h2);
    world_token_key_hash(WORLD_KEY_AES, NULL, 0, t1, id, 15, h3);
    cr_expect(memcmp(h1, h2, 32) != 0 && memcmp(h1, h3, 32) != 0);
    uint8_t spki[3] = {1, 2, 3}, want[32];
    world_token_key_hash(WORLD_KEY_RSA, spki, 3, t1, id, 16, h1);
    kt_sha256(want, spki, 3);
    cr_expect(memcmp(h1, want, 32) == 0, "RSA and EC keys are known by their SPKI's SHA-256");
}
