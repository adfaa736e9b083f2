/*
 * test_acl.c - key ACLs: the monotone subset rule (a table, checked both ways), what a group
 * allows with and without bindings (KEK, world, kid), the default ACL per key type, the canonical
 * encoding (round trips, every malformed encoding refused), the readable form, and KNSO's
 * signature over an ACL, which names the key's app and ident.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world_internal.h"
#include "support/scratch.h"
#include "world.h"

#define S  WORLD_ACT_SIGN
#define V  WORLD_ACT_VERIFY
#define EN WORLD_ACT_ENCRYPT
#define DE WORLD_ACT_DECRYPT
#define EX WORLD_ACT_EXPORT_WRAPPED
#define RA WORLD_ACT_REDUCE_ACL
#define IU WORLD_ACT_IMPORT_UNWRAP

/* Two KEK fingerprints and two world hashes to bind to (0 means unbound). */
static const uint8_t *binding(int which, int kind)
{
    static uint8_t v[2][3][WORLD_HASH_LEN];
    static bool ready;
    if (!ready) {
        for (int k = 0; k < 2; k++)
            for (int w = 1; w < 3; w++)
                memset(v[k][w], 0x10 * (k + 1) + w, WORLD_HASH_LEN);
        ready = true;
    }
    return which == 0 ? NULL : v[kind][which];
}

/* Two kids to bind to: the same vault's KEK and one under another vault's name. */
static const char KID1[] =
    "https://contoso.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef";
static const char KID2[] =
    "https://attacker.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef";

static const char *kid_of(int which)
{
    return which == 0 ? NULL : which == 1 ? KID1 : KID2;
}

/* A group: actions, KEK 0/1/2, world 0/1/2 (and, in kspec, kid 0/1/2). */
typedef struct spec {
    uint32_t actions;
    int kek, world;
} spec;

typedef struct kspec {
    uint32_t actions;
    int kek, world, kid;
} kspec;

static world_acl make_k(const kspec *groups, unsigned n)
{
    world_acl acl;
    memset(&acl, 0, sizeof acl);
    acl.ngroups = n;
    for (unsigned i = 0; i < n; i++) {
        acl.groups[i].actions = groups[i].actions;
        if (groups[i].kek) {
            acl.groups[i].has_kek = true;
            memcpy(acl.groups[i].kek_fp, binding(groups[i].kek, 0), WORLD_HASH_LEN);
        }
        if (groups[i].world) {
            acl.groups[i].has_world = true;
            memcpy(acl.groups[i].world_hash, binding(groups[i].world, 1), WORLD_HASH_LEN);
        }
        if (groups[i].kid) {
            acl.groups[i].has_kid = true;
            snprintf(acl.groups[i].kid, sizeof acl.groups[i].kid, "%s", kid_of(groups[i].kid));
        }
    }
    return acl;
}

static world_acl make(const spec *groups, unsigned n)
{
    kspec k[WORLD_ACL_MAX_GROUPS + 1];
    for (unsigned i = 0; i < n && i < WORLD_ACL_MAX_GROUPS + 1; i++)
        k[i] = (kspec){groups[i].actions, groups[i].kek, groups[i].world, 0};
    return make_k(k, n);
}

#define ALL_RSA (S | V | EN | DE | EX | RA)

static const struct subset_case {
    const char *what;
    spec newg[3];
    unsigned nnew;
    spec oldg[3];
    unsigned nold;
    bool new_in_old, old_in_new;
} subset_cases[] = {
    {"equal ACLs", {{ALL_RSA, 0, 0}}, 1, {{ALL_RSA, 0, 0}}, 1, true, true},
    {"fewer actions", {{EX, 0, 0}}, 1, {{ALL_RSA, 0, 0}}, 1, true, false},
    {"fewer actions, bindings added", {{EX, 1, 1}}, 1, {{ALL_RSA, 0, 0}}, 1, true, false},
    {"an action added", {{EX | IU, 0, 0}}, 1, {{ALL_RSA, 0, 0}}, 1, false, false},
    {"only a KEK binding added", {{EX, 1, 0}}, 1, {{EX, 0, 0}}, 1, true, false},
    {"the KEK binding dropped", {{EX, 0, 0}}, 1, {{EX, 1, 0}}, 1, false, true},
    {"the KEK binding changed", {{EX, 2, 0}}, 1, {{EX, 1, 0}}, 1, false, false},
    {"the world binding changed", {{EX, 1, 2}}, 1, {{EX, 1, 1}}, 1, false, false},
    {"a world binding added to a KEK binding", {{EX, 1, 1}}, 1, {{EX, 1, 0}}, 1, true, false},
    {"the world binding dropped", {{EX, 1, 0}}, 1, {{EX, 1, 1}}, 1, false, true},
    {"no single old group covers a new group",
     {{S | EX, 1, 0}},
     1,
     {{S, 0, 0}, {EX, 1, 0}},
     2,
     false,
     false},
    {"each new group covered by another old group",
     {{EX, 1, 1}, {S, 0, 0}},
     2,
     {{S | V, 0, 0}, {EX, 1, 0}},
     2,
     true,
     false},
    {"one of two new groups not covered",
     {{EX, 1, 1}, {DE, 0, 0}},
     2,
     {{S | V, 0, 0}, {EX, 1, 0}},
     2,
     false,
     false},
    {"a group allowing nothing", {{0, 0, 0}}, 1, {{S, 0, 0}}, 1, true, false},
    {"disjoint actions", {{V, 0, 0}}, 1, {{S, 0, 0}}, 1, false, false},
    {"a group split in two", {{S, 0, 0}, {V, 0, 0}}, 2, {{S | V, 0, 0}}, 1, true, false},
    {"the same group twice", {{EX, 1, 1}, {EX, 1, 1}}, 2, {{EX, 1, 1}}, 1, true, true},
    {"a KEK's import-only ACL against a default RSA ACL",
     {{IU, 0, 0}},
     1,
     {{ALL_RSA, 0, 0}},
     1,
     false,
     false},
};

Test(acl, subset_rule_table_both_ways)
{
    for (size_t i = 0; i < sizeof subset_cases / sizeof subset_cases[0]; i++) {
        const struct subset_case *c = &subset_cases[i];
        world_acl n = make(c->newg, c->nnew), o = make(c->oldg, c->nold);
        cr_expect_eq(world_acl_is_subset(&n, &o), c->new_in_old, "%s: new within old", c->what);
        cr_expect_eq(world_acl_is_subset(&o, &n), c->old_in_new, "%s: old within new", c->what);
    }
}

Test(acl, subset_rule_with_kid_bindings)
{
    static const struct {
        const char *what;
        kspec newg, oldg;
        bool new_in_old, old_in_new;
    } cases[] = {
        {"a kid binding added", {EX, 1, 1, 1}, {EX, 1, 1, 0}, true, false},
        {"the kid binding changed", {EX, 1, 1, 2}, {EX, 1, 1, 1}, false, false},
        {"the kid binding dropped", {EX, 1, 1, 0}, {EX, 1, 1, 1}, false, true},
        {"the same kid, other bindings added", {EX, 1, 1, 2}, {EX, 0, 0, 2}, true, false},
        {"equal", {EX, 1, 1, 1}, {EX, 1, 1, 1}, true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        world_acl n = make_k(&cases[i].newg, 1), o = make_k(&cases[i].oldg, 1);
        cr_expect_eq(world_acl_is_subset(&n, &o), cases[i].new_in_old, "%s: new within old",
                     cases[i].what);
        cr_expect_eq(world_acl_is_subset(&o, &n), cases[i].old_in_new, "%s: old within new",
                     cases[i].what);
    }
}

Test(acl, subset_refuses_acls_without_groups)
{
    spec one = {ALL_RSA, 0, 0};
    world_acl good = make(&one, 1), empty = make(&one, 0), huge = make(&one, 1);
    huge.ngroups = WORLD_ACL_MAX_GROUPS + 1;
    cr_assert(!world_acl_is_subset(&empty, &good));
    cr_assert(!world_acl_is_subset(&good, &empty));
    cr_assert(!world_acl_is_subset(&huge, &good));
}

Test(acl, default_acls_per_type)
{
    world_acl a;
    world_acl_default(WORLD_KEY_RSA, &a);
    cr_assert_eq(a.ngroups, 1);
    cr_assert_eq(a.groups[0].actions, S | V | EN | DE | EX | RA);
    cr_assert(!a.groups[0].has_kek && !a.groups[0].has_world);
    world_acl_default(WORLD_KEY_EC, &a);
    cr_assert_eq(a.groups[0].actions, S | V | EX | RA);
    world_acl_default(WORLD_KEY_AES, &a);
    cr_assert_eq(a.groups[0].actions, EN | DE | EX | RA);
    cr_assert(!world_acl_allows(&a, IU, NULL, NULL), "ImportUnwrap is never a default");
}

Test(acl, allows_needs_the_action_and_every_binding)
{
    spec g[] = {{S | V, 0, 0}, {EX, 1, 2}, {DE, 2, 0}};
    world_acl a = make(g, 3);
    const uint8_t *k1 = binding(1, 0), *k2 = binding(2, 0), *w1 = binding(1, 1),
                  *w2 = binding(2, 1);
    cr_assert(world_acl_allows(&a, S, NULL, NULL));
    cr_assert(world_acl_allows(&a, V, k1, w1), "an unbound group ignores the values");
    cr_assert(!world_acl_allows(&a, EN, NULL, NULL));
    cr_assert(world_acl_allows(&a, EX, k1, w2));
    cr_assert(!world_acl_allows(&a, EX, k2, w2), "another KEK");
    cr_assert(!world_acl_allows(&a, EX, k1, w1), "another world");
    cr_assert(!world_acl_allows(&a, EX, k1, NULL), "no world given");
    cr_assert(!world_acl_allows(&a, EX, NULL, w2), "no KEK given");
    cr_assert(world_acl_allows(&a, DE, k2, NULL));
    cr_assert(world_acl_allows(&a, DE, k2, w1), "a group without a world binding ignores it");
    cr_assert(!world_acl_allows(&a, DE, k1, NULL));
    cr_assert(!world_acl_allows(&a, S | V, NULL, NULL), "one action at a time");
    cr_assert(!world_acl_allows(&a, 0, NULL, NULL));
    cr_assert(!world_acl_allows(&a, 0x80, NULL, NULL));
}

Test(acl, a_kid_binding_needs_exactly_that_kid)
{
    kspec g[] = {{EX, 1, 2, 1}, {S, 0, 0, 2}};
    world_acl a = make_k(g, 2);
    const uint8_t *k1 = binding(1, 0), *w2 = binding(2, 1);
    world_acl_target t = {.kek_fp = k1, .world_hash = w2, .kid = KID1};
    cr_assert(world_acl_allows_to(&a, EX, &t));
    t.kid = KID2;
    cr_assert_not(world_acl_allows_to(&a, EX, &t), "the same KEK under another kid");
    t.kid = NULL;
    cr_assert_not(world_acl_allows_to(&a, EX, &t), "no kid given");
    cr_assert_not(world_acl_allows(&a, EX, k1, w2), "world_acl_allows gives no kid");
    char longer[sizeof KID1 + 1];
    snprintf(longer, sizeof longer, "%sx", KID1);
    t.kid = longer;
    cr_assert_not(world_acl_allows_to(&a, EX, &t), "a kid with a byte more");
    t.kid = KID2;
    cr_assert(world_acl_allows_to(&a, S, &t), "a group bound to a kid alone");
    t.kid = KID1;
    cr_assert_not(world_acl_allows_to(&a, S, &t));
}

/* ---- encoding --------------------------------------------------------------------------- */

static void round_trip(const world_acl *a, size_t want_len)
{
    uint8_t b1[WORLD_ACL_ENCODED_MAX], b2[WORLD_ACL_ENCODED_MAX];
    size_t n1, n2;
    world_acl d;
    kt_err e;
    cr_assert_eq(world_acl_encode(a, b1, &n1, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(n1, want_len);
    cr_assert_eq(world_acl_decode(b1, n1, &d, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(d.ngroups, a->ngroups);
    for (unsigned i = 0; i < a->ngroups; i++) {
        const world_acl_group *x = &a->groups[i], *y = &d.groups[i];
        cr_assert_eq(x->actions, y->actions);
        cr_assert_eq(x->has_kek, y->has_kek);
        cr_assert_eq(x->has_world, y->has_world);
        cr_assert_eq(x->has_kid, y->has_kid);
        if (x->has_kid)
            cr_assert_str_eq(x->kid, y->kid);
        if (x->has_kek)
            cr_assert_arr_eq(x->kek_fp, y->kek_fp, WORLD_HASH_LEN);
        if (x->has_world)
            cr_assert_arr_eq(x->world_hash, y->world_hash, WORLD_HASH_LEN);
    }
    cr_assert_eq(world_acl_encode(&d, b2, &n2, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(n2, n1);
    cr_assert_arr_eq(b1, b2, n1, "the encoding is canonical");
}

Test(acl_encoding, round_trips)
{
    world_acl a;
    world_acl_default(WORLD_KEY_RSA, &a);
    round_trip(&a, 1 + 5);
    spec g[] = {{EX, 1, 0}, {EX, 0, 2}, {EX | S, 2, 1}, {0, 0, 0}};
    a = make(g, 4);
    round_trip(&a, 1 + 4 * 5 + 4 * 32);
    kspec k[] = {{EX, 1, 1, 1}, {EX, 0, 0, 2}};
    a = make_k(k, 2);
    round_trip(&a, 1 + 2 * 5 + 2 * 32 + 2 * 2 + strlen(KID1) + strlen(KID2));
    /* The longest: 16 groups with every binding and kids of the longest length. */
    kspec full[WORLD_ACL_MAX_GROUPS];
    for (int i = 0; i < WORLD_ACL_MAX_GROUPS; i++)
        full[i] = (kspec){WORLD_ACT_ALL, 1 + i % 2, 2 - i % 2, 1};
    a = make_k(full, WORLD_ACL_MAX_GROUPS);
    for (int i = 0; i < WORLD_ACL_MAX_GROUPS; i++) {
        memset(a.groups[i].kid, 'a' + i, WORLD_ACL_KID_MAX);
        a.groups[i].kid[WORLD_ACL_KID_MAX] = '\0';
    }
    round_trip(&a, WORLD_ACL_ENCODED_MAX);
}

Test(acl_encoding, a_kid_binding_is_printable_and_bounded)
{
    kspec g = {EX, 1, 0, 1};
    world_acl a = make_k(&g, 1);
    uint8_t b[WORLD_ACL_ENCODED_MAX];
    size_t n;
    kt_err e;
    a.groups[0].kid[0] = '\0';
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_EUSAGE, "an empty kid");
    snprintf(a.groups[0].kid, sizeof a.groups[0].kid, "https://a b");
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_EUSAGE, "a space");
    snprintf(a.groups[0].kid, sizeof a.groups[0].kid, "https://\x7f");
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_EUSAGE, "DEL");
    memset(a.groups[0].kid, 'k', sizeof a.groups[0].kid); /* no terminator within the field */
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_EUSAGE, "too long");
    a.groups[0].kid[WORLD_ACL_KID_MAX] = '\0';
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_OK, "%s", e.msg);
}

Test(acl_encoding, the_layout_is_as_documented)
{
    spec g[] = {{EX | RA, 1, 2}};
    world_acl a = make(g, 1);
    uint8_t b[WORLD_ACL_ENCODED_MAX];
    size_t n;
    kt_err e;
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_OK);
    cr_assert_eq(n, 1 + 4 + 1 + 32 + 32);
    const uint8_t head[] = {0x01, 0x00, 0x00, 0x00, 0x30, 0x03};
    cr_assert_arr_eq(b, head, sizeof head);
    cr_assert_arr_eq(b + 6, binding(1, 0), 32, "KEK fingerprint first");
    cr_assert_arr_eq(b + 38, binding(2, 1), 32, "then the world hash");

    kspec k = {EX, 1, 2, 1};
    a = make_k(&k, 1);
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_OK);
    cr_assert_eq(n, 1 + 4 + 1 + 32 + 32 + 2 + strlen(KID1));
    cr_assert_eq(b[5], 0x07, "flags: KEK, world and kid");
    cr_assert_eq(b[70], 0x00);
    cr_assert_eq(b[71], strlen(KID1), "then the kid's length, big-endian");
    cr_assert_arr_eq(b + 72, KID1, strlen(KID1), "then the kid itself, no terminator");
}

Test(acl_encoding, every_malformed_encoding_is_refused)
{
    static const struct {
        const char *what;
        uint8_t bytes[80];
        size_t len;
        const char *says;
    } bad[] = {
        {"empty", {0}, 0, "empty"},
        {"no groups", {0x00}, 1, "0 permission groups"},
        {"17 groups", {0x11}, 1, "17 permission groups"},
        {"count without groups", {0x01}, 1, "truncated"},
        {"actions cut", {0x01, 0x00, 0x00, 0x00}, 4, "truncated"},
        {"flags missing", {0x01, 0x00, 0x00, 0x00, 0x01}, 5, "truncated"},
        {"action bit 0x80", {0x01, 0x00, 0x00, 0x00, 0x80, 0x00}, 6, "unknown actions"},
        {"action bit 0x100", {0x01, 0x00, 0x00, 0x01, 0x00, 0x00}, 6, "unknown actions"},
        {"action bit 31", {0x01, 0x80, 0x00, 0x00, 0x01, 0x00}, 6, "unknown actions"},
        {"flag 0x08", {0x01, 0x00, 0x00, 0x00, 0x01, 0x08}, 6, "unknown flags"},
        {"kid length missing", {0x01, 0x00, 0x00, 0x00, 0x10, 0x04}, 6, "kid length truncated"},
        {"kid length cut", {0x01, 0x00, 0x00, 0x00, 0x10, 0x04, 0x00}, 7, "kid length truncated"},
        {"an empty kid", {0x01, 0x00, 0x00, 0x00, 0x10, 0x04, 0x00, 0x00}, 8, "a kid of 0 bytes"},
        {"a kid of 512 bytes", {0x01, 0x00, 0x00, 0x00, 0x10, 0x04, 0x02, 0x00}, 8, "512 bytes"},
        {"kid cut", {0x01, 0x00, 0x00, 0x00, 0x10, 0x04, 0x00, 0x02, 'h'}, 9, "kid truncated"},
        {"a kid with a space",
         {0x01, 0x00, 0x00, 0x00, 0x10, 0x04, 0x00, 0x02, 'h', ' '},
         10,
         "not printable"},
        {"a kid with a NUL",
         {0x01, 0x00, 0x00, 0x00, 0x10, 0x04, 0x00, 0x02, 'h', 0x00},
         10,
         "not printable"},
        {"a kid with a byte over 0x7e",
         {0x01, 0x00, 0x00, 0x00, 0x10, 0x04, 0x00, 0x02, 'h', 0xc3},
         10,
         "not printable"},
        {"flag 0x80", {0x01, 0x00, 0x00, 0x00, 0x01, 0x80}, 6, "unknown flags"},
        {"KEK fingerprint cut", {0x01, 0x00, 0x00, 0x00, 0x10, 0x01, 0xaa}, 7, "truncated"},
        {"world hash cut", {0x01, 0x00, 0x00, 0x00, 0x10, 0x02, 0xaa}, 7, "truncated"},
        {"a trailing byte", {0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}, 7, "trailing"},
        {"two groups announced, one given", {0x02, 0x00, 0x00, 0x00, 0x01, 0x00}, 6, "truncated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        world_acl a;
        kt_err e;
        cr_expect_eq(world_acl_decode(bad[i].bytes, bad[i].len, &a, &e), KT_EFORMAT, "%s",
                     bad[i].what);
        cr_expect(strstr(e.msg, bad[i].says) != NULL, "%s: %s", bad[i].what, e.msg);
    }

    /* Every truncation and every extension of a valid encoding. */
    kspec g[] = {{EX, 1, 2, 0}, {S | V, 0, 0, 0}, {DE, 2, 0, 0}, {EX, 1, 1, 2}};
    world_acl a = make_k(g, 4), d;
    uint8_t b[WORLD_ACL_ENCODED_MAX + 1];
    size_t n;
    kt_err e;
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_OK);
    for (size_t cut = 0; cut < n; cut++)
        cr_expect_eq(world_acl_decode(b, cut, &d, &e), KT_EFORMAT, "cut at %zu accepted", cut);
    b[n] = 0;
    cr_expect_eq(world_acl_decode(b, n + 1, &d, &e), KT_EFORMAT, "an extra byte accepted");
    cr_expect_eq(world_acl_decode(b, n, &d, &e), KT_OK, "%s", e.msg);
}

Test(acl_encoding, an_acl_that_cannot_be_decoded_is_not_encoded)
{
    spec g = {S, 0, 0};
    world_acl a = make(&g, 1);
    uint8_t b[WORLD_ACL_ENCODED_MAX];
    size_t n;
    kt_err e;
    a.ngroups = 0;
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_EUSAGE);
    a.ngroups = WORLD_ACL_MAX_GROUPS + 1;
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_EUSAGE);
    a.ngroups = 1;
    a.groups[0].actions = 0x80;
    cr_assert_eq(world_acl_encode(&a, b, &n, &e), KT_EUSAGE);
    cr_assert(strstr(e.msg, "unknown actions") != NULL, "%s", e.msg);
}

Test(acl, format_for_people)
{
    char out[512];
    world_acl a;
    world_acl_default(WORLD_KEY_RSA, &a);
    world_acl_format(&a, out, sizeof out);
    cr_assert_str_eq(out, "Sign,Verify,Encrypt,Decrypt,ExportWrapped,ReduceACL");

    spec g[] = {{EX, 1, 2}, {0, 0, 0}, {IU, 0, 1}};
    a = make(g, 3);
    world_acl_format(&a, out, sizeof out);
    cr_assert_str_eq(out, "ExportWrapped(kek=11111111\u2026, world=22222222\u2026); (nothing); "
                          "ImportUnwrap(world=21212121\u2026)");
    world_acl_format_group(&a.groups[0], out, sizeof out);
    cr_assert_str_eq(out, "ExportWrapped(kek=11111111\u2026, world=22222222\u2026)");
    kspec k = {EX, 1, 2, 1};
    a = make_k(&k, 1);
    world_acl_format(&a, out, sizeof out);
    cr_assert_str_eq(out, "ExportWrapped(kek=11111111\u2026, world=22222222\u2026, kid=https://"
                          "contoso.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef)");
    world_acl_format(&a, out, 12); /* cut, still terminated */
    cr_assert_eq(strlen(out), 11);
    cr_assert_str_eq(world_acl_action_name(WORLD_ACT_REDUCE_ACL), "ReduceACL");
    cr_assert_null(world_acl_action_name(0x80));
}

/* ---- KNSO's signature ---------------------------------------------------------------------- */

static kt_rc test_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                      kt_err *e)
{
    char s[32];
    (void)ctx, (void)card_path, (void)is_new;
    snprintf(s, sizeof s, "pin-of-card-%u", no);
    kt_rc rc = kt_secbuf_alloc(pin, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pin->p, s, strlen(s));
    return rc;
}

static void open_admin(world_admin *a, world_info *info)
{
    static const world_kdf kdf = {1, 8192};
    char dir[64], cards[1][PATH_MAX];
    world_paths p;
    kt_err e;
    ts_scratch_into(dir, sizeof dir);
    world_new_opts o = {.k = 1, .n = 1, .kdf = kdf, .pin = test_pin};
    world_kdf_floor_lower_for_tests(&kdf); /* structure, not KDF cost */
    cr_assert_eq(world_paths_init(&p, dir, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_create(&p, &o, info, cards, &e), KT_OK, "%s", e.msg);
    const char *c[1] = {cards[0]};
    cr_assert_eq(world_admin_open(&p, c, 1, test_pin, NULL, a, &e), KT_OK, "%s", e.msg);
}

Test(acl_signature, knso_signs_and_only_the_signed_acl_verifies)
{
    world_admin a, other;
    world_info info, other_info;
    uint8_t key_hash[WORLD_HASH_LEN], sig[WORLD_ACL_SIG_LEN];
    kt_err e;
    open_admin(&a, &info);
    open_admin(&other, &other_info);
    memset(key_hash, 0x5a, sizeof key_hash);

    kspec g = {EX, 1, 1, 1};
    world_acl acl = make_k(&g, 1);

    cr_assert_eq(world_acl_sign(&a, "xferacld", "contosokey", key_hash, &acl, sig, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_eq(world_acl_verify(&info, "xferacld", "contosokey", key_hash, &acl, sig, &e), KT_OK,
                 "%s", e.msg);

    /* Another key, another ACL, another world, a flipped bit: all refused. */
    uint8_t other_hash[WORLD_HASH_LEN];
    memcpy(other_hash, key_hash, sizeof other_hash);
    other_hash[31] ^= 1;
    cr_assert_eq(world_acl_verify(&info, "xferacld", "contosokey", other_hash, &acl, sig, &e),
                 KT_EDENIED);
    cr_assert(strstr(e.msg, "does not verify") != NULL, "%s", e.msg);
    world_acl wider = acl;
    wider.groups[0].actions |= WORLD_ACT_SIGN;
    cr_assert_eq(world_acl_verify(&info, "xferacld", "contosokey", key_hash, &wider, sig, &e),
                 KT_EDENIED);
    world_acl unbound = acl;
    unbound.groups[0].has_world = false;
    cr_assert_eq(world_acl_verify(&info, "xferacld", "contosokey", key_hash, &unbound, sig, &e),
                 KT_EDENIED);
    world_acl other_kid = acl;
    snprintf(other_kid.groups[0].kid, sizeof other_kid.groups[0].kid, "%s", KID2);
    cr_assert_eq(world_acl_verify(&info, "xferacld", "contosokey", key_hash, &other_kid, sig, &e),
                 KT_EDENIED, "the kid is signed");
    world_acl no_kid = acl;
    no_kid.groups[0].has_kid = false;
    cr_assert_eq(world_acl_verify(&info, "xferacld", "contosokey", key_hash, &no_kid, sig, &e),
                 KT_EDENIED);
    cr_assert_eq(world_acl_verify(&other_info, "xferacld", "contosokey", key_hash, &acl, sig, &e),
                 KT_EDENIED);
    /* The approval is for this key under this name: another app or ident does not verify. */
    cr_assert_eq(world_acl_verify(&info, "simple", "contosokey", key_hash, &acl, sig, &e),
                 KT_EDENIED, "another app");
    cr_assert(strstr(e.msg, "simple/contosokey") != NULL, "%s", e.msg);
    cr_assert_eq(world_acl_verify(&info, "xferacld", "otherkey", key_hash, &acl, sig, &e),
                 KT_EDENIED, "another ident");
    cr_assert_eq(world_acl_verify(&info, "xferacl", "dcontosokey", key_hash, &acl, sig, &e),
                 KT_EDENIED, "the boundary between app and ident moved");
    cr_assert_eq(world_acl_verify(&info, "x_y", "contosokey", key_hash, &acl, sig, &e), KT_EUSAGE,
                 "an app that is no app");
    for (size_t i = 0; i < sizeof sig; i++) {
        sig[i] ^= 0x01;
        cr_assert_eq(world_acl_verify(&info, "xferacld", "contosokey", key_hash, &acl, sig, &e),
                     KT_EDENIED, "byte %zu", i);
        sig[i] ^= 0x01;
    }

    /* Signing needs the quorum's KNSO key. */
    world_admin none;
    memset(&none, 0, sizeof none);
    cr_assert_eq(world_acl_sign(&none, "xferacld", "contosokey", key_hash, &acl, sig, &e),
                 KT_EUSAGE);
    world_admin_close(&a);
    world_admin_close(&other);
}
