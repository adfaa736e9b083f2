/*
 * fuzz_acl.c - libFuzzer target for the ACL decoder (world_acl_decode) and the rules the transfer
 * step builds on. For every accepted input:
 *   - the encoding is canonical: encoding the decoded ACL gives back the same bytes;
 *   - world_acl_is_subset is reflexive;
 *   - world_acl_allows_to says yes to every action of every group under that group's own
 *     bindings (KEK, world, kid), and no to an action that no group has;
 *   - a group bound to a kid allows nothing without that kid, nor with it changed by a byte;
 *   - the two checks `keytransfer modify-acls` makes agree: the one-group ACL {ExportWrapped,
 *     kek = X[, world = W][, kid = K]} is a subset of the ACL exactly when the ACL allows
 *     ExportWrapped to X (in W, named K), for X, W and K taken from each group's bindings, from
 *     the input, and changed by a bit;
 *   - a reduced ACL is never a superset: it covers the old ACL only when the old one is no wider.
 * Everything else must be refused with a message.
 */
#include <stdlib.h>
#include <string.h>

#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The ACL `modify-acls` writes for KEK x and, when w and kid are not NULL, world w and kid. */
static void reduced(const uint8_t *x, const uint8_t *w, const char *kid, world_acl *acl)
{
    memset(acl, 0, sizeof *acl);
    acl->ngroups = 1;
    acl->groups[0].actions = WORLD_ACT_EXPORT_WRAPPED;
    acl->groups[0].has_kek = true;
    memcpy(acl->groups[0].kek_fp, x, 32);
    if (w != NULL) {
        acl->groups[0].has_world = true;
        memcpy(acl->groups[0].world_hash, w, 32);
    }
    if (kid != NULL) {
        acl->groups[0].has_kid = true;
        memcpy(acl->groups[0].kid, kid, strlen(kid) + 1);
    }
}

static void check_reduction(const world_acl *acl, const uint8_t *x, const uint8_t *w,
                            const char *kid)
{
    world_acl r;
    const world_acl_target t = {.kek_fp = x, .world_hash = w, .kid = kid};
    reduced(x, w, kid, &r);
    bool allowed = world_acl_allows_to(acl, WORLD_ACT_EXPORT_WRAPPED, &t);
    if (world_acl_is_subset(&r, acl) != allowed)
        abort(); /* modify-acls' two checks disagree */
    /* The reduced ACL allows exactly ExportWrapped to x (in w, named kid) and nothing else. */
    if (!world_acl_allows_to(&r, WORLD_ACT_EXPORT_WRAPPED, &t))
        abort();
    for (uint32_t bit = 1; bit <= WORLD_ACT_ALL; bit <<= 1)
        if (bit != WORLD_ACT_EXPORT_WRAPPED && world_acl_allows_to(&r, bit, &t))
            abort();
    /* Widening is never a reduction: the old ACL is a subset of the reduced one only when it
     * allows nothing beyond it. */
    if (world_acl_is_subset(acl, &r)) {
        for (unsigned i = 0; i < acl->ngroups; i++)
            if ((acl->groups[i].actions & ~(uint32_t)WORLD_ACT_EXPORT_WRAPPED) != 0 ||
                !acl->groups[i].has_kek || memcmp(acl->groups[i].kek_fp, x, 32) != 0)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    world_acl acl;
    uint8_t again[WORLD_ACL_ENCODED_MAX], x[32], w[32];
    char kid[WORLD_ACL_KID_MAX + 1];
    size_t n;
    kt_err e;

    if (world_acl_decode(data, size, &acl, &e) != KT_OK) {
        if (e.msg[0] == '\0')
            abort();
        return 0;
    }
    if (world_acl_encode(&acl, again, &n, &e) != KT_OK || n != size || memcmp(again, data, n) != 0)
        abort(); /* the encoding is canonical */
    if (!world_acl_is_subset(&acl, &acl))
        abort();

    uint32_t any = 0;
    for (unsigned i = 0; i < acl.ngroups; i++) {
        const world_acl_group *g = &acl.groups[i];
        const uint8_t *gx = g->has_kek ? g->kek_fp : NULL,
                      *gw = g->has_world ? g->world_hash : NULL;
        const char *gk = g->has_kid ? g->kid : NULL;
        const world_acl_target own = {.kek_fp = gx, .world_hash = gw, .kid = gk};
        any |= g->actions;
        for (uint32_t bit = 1; bit <= WORLD_ACT_ALL; bit <<= 1)
            if ((g->actions & bit) && !world_acl_allows_to(&acl, bit, &own))
                abort(); /* a group's own bindings must open its own actions */
        memset(x, 0, sizeof x);
        if (gx != NULL)
            memcpy(x, gx, 32);
        check_reduction(&acl, x, gw, gk);
        check_reduction(&acl, x, NULL, NULL);
        check_reduction(&acl, x, gw, NULL);
        x[i % 32] ^= 0x01; /* another KEK */
        check_reduction(&acl, x, gw, gk);
        if (gw != NULL) {
            memcpy(w, gw, 32);
            w[31] ^= 0x80; /* another world */
            check_reduction(&acl, gx != NULL ? gx : x, w, gk);
        }
        if (gk != NULL) {
            /* The same KEK under another name: one byte changed, one byte more. */
            size_t klen = strlen(gk);
            memcpy(kid, gk, klen + 1);
            kid[klen - 1] = kid[klen - 1] == '!' ? '"' : '!';
            check_reduction(&acl, gx != NULL ? gx : x, gw, kid);
            if (klen < WORLD_ACL_KID_MAX) {
                memcpy(kid, gk, klen);
                kid[klen] = 'x';
                kid[klen + 1] = '\0';
                check_reduction(&acl, gx != NULL ? gx : x, gw, kid);
            }
        }
    }
    for (uint32_t bit = 1; bit <= WORLD_ACT_ALL; bit <<= 1)
        if (!(any & bit)) {
            memset(x, 0, sizeof x);
            if (world_acl_allows(&acl, bit, x, x) || world_acl_allows(&acl, bit, NULL, NULL))
                abort(); /* an action no group has is never allowed */
        }

    char text[2048];
    world_acl_format(&acl, text, sizeof text);
    return 0;
}
