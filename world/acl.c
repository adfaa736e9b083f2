/*
 * acl.c - key ACLs: permission groups of actions, each optionally bound to a KEK fingerprint,
 * a target world hash and the KEK's key identifier (docs/design.md §4 "ACLs"). Their strict,
 * canonical encoding (the key file's field 0x0B), the default ACL of a new key, the questions "is
 * this allowed?" and "is this a reduction?", a readable form for `key show`, and KNSO's signature
 * over a reduced ACL, which names the key it approves by its hash, app and ident.
 *
 * The reduction rule is monotone, as nShield's: a new ACL may only take permissions away or add
 * bindings, never add an action or drop a binding.
 */
#include "world_internal.h"

#include <stdio.h>
#include <string.h>

#define FLAG_KEK    0x01
#define FLAG_WORLD  0x02
#define FLAG_KID    0x04
#define FLAGS_KNOWN (FLAG_KEK | FLAG_WORLD | FLAG_KID)

static const struct {
    uint32_t bit;
    const char *name;
} actions[] = {
    {WORLD_ACT_SIGN, "Sign"},
    {WORLD_ACT_VERIFY, "Verify"},
    {WORLD_ACT_ENCRYPT, "Encrypt"},
    {WORLD_ACT_DECRYPT, "Decrypt"},
    {WORLD_ACT_EXPORT_WRAPPED, "ExportWrapped"},
    {WORLD_ACT_REDUCE_ACL, "ReduceACL"},
    {WORLD_ACT_IMPORT_UNWRAP, "ImportUnwrap"},
};

const char *world_acl_action_name(uint32_t action)
{
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (actions[i].bit == action)
            return actions[i].name;
    return NULL;
}

void world_acl_default(world_key_type type, world_acl *acl)
{
    uint32_t use = 0;
    switch (type) {
    case WORLD_KEY_RSA:
        use = WORLD_ACT_SIGN | WORLD_ACT_VERIFY | WORLD_ACT_ENCRYPT | WORLD_ACT_DECRYPT;
        break;
    case WORLD_KEY_EC:
        use = WORLD_ACT_SIGN | WORLD_ACT_VERIFY;
        break;
    case WORLD_KEY_AES:
        use = WORLD_ACT_ENCRYPT | WORLD_ACT_DECRYPT;
        break;
    }
    memset(acl, 0, sizeof *acl);
    acl->ngroups = 1;
    acl->groups[0].actions = use | WORLD_ACT_EXPORT_WRAPPED | WORLD_ACT_REDUCE_ACL;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* A kid binding: 1..WORLD_ACL_KID_MAX bytes, each printable ASCII other than the space. */
static bool is_kid(const char *s, size_t n)
{
    if (n < 1 || n > WORLD_ACL_KID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

kt_rc world_acl_encode(const world_acl *acl, uint8_t *out, size_t *outlen, kt_err *e)
{
    size_t n = 0;
    if (acl->ngroups < 1 || acl->ngroups > WORLD_ACL_MAX_GROUPS)
        return kt_fail(e, KT_EUSAGE, "an ACL has 1 to %d permission groups, not %u",
                       WORLD_ACL_MAX_GROUPS, acl->ngroups);
    out[n++] = (uint8_t)acl->ngroups;
    for (unsigned i = 0; i < acl->ngroups; i++) {
        const world_acl_group *g = &acl->groups[i];
        if ((g->actions & ~(uint32_t)WORLD_ACT_ALL) != 0)
            return kt_fail(e, KT_EUSAGE, "ACL group %u names unknown actions 0x%08x", i + 1,
                           (unsigned)(g->actions & ~(uint32_t)WORLD_ACT_ALL));
        out[n++] = (uint8_t)(g->actions >> 24);
        out[n++] = (uint8_t)(g->actions >> 16);
        out[n++] = (uint8_t)(g->actions >> 8);
        out[n++] = (uint8_t)g->actions;
        size_t kid_len = g->has_kid ? strnlen(g->kid, sizeof g->kid) : 0;
        if (g->has_kid && !is_kid(g->kid, kid_len))
            return kt_fail(e, KT_EUSAGE,
                           "ACL group %u: a kid binding is 1 to %d printable characters without "
                           "spaces",
                           i + 1, WORLD_ACL_KID_MAX);
        out[n++] = (uint8_t)((g->has_kek ? FLAG_KEK : 0) | (g->has_world ? FLAG_WORLD : 0) |
                             (g->has_kid ? FLAG_KID : 0));
        if (g->has_kek) {
            memcpy(out + n, g->kek_fp, WORLD_HASH_LEN);
            n += WORLD_HASH_LEN;
        }
        if (g->has_world) {
            memcpy(out + n, g->world_hash, WORLD_HASH_LEN);
            n += WORLD_HASH_LEN;
        }
        if (g->has_kid) {
            out[n++] = (uint8_t)(kid_len >> 8);
            out[n++] = (uint8_t)kid_len;
            memcpy(out + n, g->kid, kid_len);
            n += kid_len;
        }
    }
    *outlen = n;
    return KT_OK;
}

kt_rc world_acl_decode(const uint8_t *in, size_t len, world_acl *acl, kt_err *e)
{
    size_t off = 0;
    memset(acl, 0, sizeof *acl);
    if (len < 1)
        return kt_fail(e, KT_EFORMAT, "ACL: empty");
    unsigned ngroups = in[off++];
    if (ngroups < 1 || ngroups > WORLD_ACL_MAX_GROUPS)
        return kt_fail(e, KT_EFORMAT, "ACL: %u permission groups; an ACL has 1 to %d", ngroups,
                       WORLD_ACL_MAX_GROUPS);
    for (unsigned i = 0; i < ngroups; i++) {
        world_acl_group *g = &acl->groups[i];
        if (len - off < 5)
            return kt_fail(e, KT_EFORMAT, "ACL: group %u is truncated", i + 1);
        g->actions = kt_be32(in + off);
        uint8_t flags = in[off + 4];
        off += 5;
        if ((g->actions & ~(uint32_t)WORLD_ACT_ALL) != 0)
            return kt_fail(e, KT_EFORMAT, "ACL: group %u names unknown actions 0x%08x", i + 1,
                           (unsigned)(g->actions & ~(uint32_t)WORLD_ACT_ALL));
        if ((flags & ~FLAGS_KNOWN) != 0)
            return kt_fail(e, KT_EFORMAT, "ACL: group %u has unknown flags 0x%02x", i + 1,
                           (unsigned)(flags & ~FLAGS_KNOWN));
        g->has_kek = (flags & FLAG_KEK) != 0;
        g->has_world = (flags & FLAG_WORLD) != 0;
        g->has_kid = (flags & FLAG_KID) != 0;
        if (g->has_kek) {
            if (len - off < WORLD_HASH_LEN)
                return kt_fail(e, KT_EFORMAT, "ACL: group %u: KEK fingerprint truncated", i + 1);
            memcpy(g->kek_fp, in + off, WORLD_HASH_LEN);
            off += WORLD_HASH_LEN;
        }
        if (g->has_world) {
            if (len - off < WORLD_HASH_LEN)
                return kt_fail(e, KT_EFORMAT, "ACL: group %u: world hash truncated", i + 1);
            memcpy(g->world_hash, in + off, WORLD_HASH_LEN);
            off += WORLD_HASH_LEN;
        }
        if (g->has_kid) {
            if (len - off < 2)
                return kt_fail(e, KT_EFORMAT, "ACL: group %u: kid length truncated", i + 1);
            size_t n = ((size_t)in[off] << 8) | in[off + 1];
            off += 2;
            if (n < 1 || n > WORLD_ACL_KID_MAX)
                return kt_fail(e, KT_EFORMAT, "ACL: group %u: a kid of %zu bytes; 1 to %d", i + 1,
                               n, WORLD_ACL_KID_MAX);
            if (len - off < n)
                return kt_fail(e, KT_EFORMAT, "ACL: group %u: kid truncated", i + 1);
            if (!is_kid((const char *)in + off, n))
                return kt_fail(e, KT_EFORMAT,
                               "ACL: group %u: the kid holds a byte that is not printable ASCII "
                               "or is a space",
                               i + 1);
            memcpy(g->kid, in + off, n);
            g->kid[n] = '\0';
            off += n;
        }
    }
    if (off != len)
        return kt_fail(e, KT_EFORMAT, "ACL: %zu trailing bytes after group %u", len - off, ngroups);
    acl->ngroups = ngroups;
    return KT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Questions                                                                                */
/* ---------------------------------------------------------------------------------------- */

bool world_acl_allows_to(const world_acl *acl, uint32_t action, const world_acl_target *t)
{
    if (action == 0 || (action & (action - 1)) != 0 || (action & ~(uint32_t)WORLD_ACT_ALL) != 0)
        return false; /* exactly one known action is asked about */
    for (unsigned i = 0; i < acl->ngroups && i < WORLD_ACL_MAX_GROUPS; i++) {
        const world_acl_group *g = &acl->groups[i];
        if ((g->actions & action) == 0)
            continue;
        if (g->has_kek && (t->kek_fp == NULL || memcmp(g->kek_fp, t->kek_fp, WORLD_HASH_LEN) != 0))
            continue;
        if (g->has_world &&
            (t->world_hash == NULL || memcmp(g->world_hash, t->world_hash, WORLD_HASH_LEN) != 0))
            continue;
        if (g->has_kid && (t->kid == NULL || strcmp(g->kid, t->kid) != 0))
            continue;
        return true;
    }
    return false;
}

bool world_acl_allows(const world_acl *acl, uint32_t action, const uint8_t *kek_fp,
                      const uint8_t *world_hash)
{
    const world_acl_target t = {.kek_fp = kek_fp, .world_hash = world_hash};
    return world_acl_allows_to(acl, action, &t);
}

/* True when the old group covers the new one. */
static bool group_covers(const world_acl_group *old, const world_acl_group *new_group)
{
    if ((new_group->actions & ~old->actions) != 0)
        return false;
    if (old->has_kek &&
        (!new_group->has_kek || memcmp(old->kek_fp, new_group->kek_fp, WORLD_HASH_LEN) != 0))
        return false;
    if (old->has_world && (!new_group->has_world ||
                           memcmp(old->world_hash, new_group->world_hash, WORLD_HASH_LEN) != 0))
        return false;
    if (old->has_kid && (!new_group->has_kid || strcmp(old->kid, new_group->kid) != 0))
        return false;
    return true;
}

bool world_acl_is_subset(const world_acl *new_acl, const world_acl *old_acl)
{
    if (new_acl->ngroups < 1 || new_acl->ngroups > WORLD_ACL_MAX_GROUPS || old_acl->ngroups < 1 ||
        old_acl->ngroups > WORLD_ACL_MAX_GROUPS)
        return false;
    for (unsigned i = 0; i < new_acl->ngroups; i++) {
        bool covered = false;
        for (unsigned j = 0; j < old_acl->ngroups && !covered; j++)
            covered = group_covers(&old_acl->groups[j], &new_acl->groups[i]);
        if (!covered)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* For people                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Appends s to out[0..outsz), keeping it NUL-terminated; cuts what does not fit. */
static void append(char *out, size_t outsz, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (*used + 1 >= outsz)
        return;
    if (n > outsz - 1 - *used) {
        n = outsz - 1 - *used;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--; /* never half a UTF-8 character ("…") */
    }
    memcpy(out + *used, s, n);
    *used += n;
    out[*used] = '\0';
}

static void format_group(const world_acl_group *g, char *out, size_t outsz, size_t *used)
{
    bool first = true;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if ((g->actions & actions[i].bit) == 0)
            continue;
        append(out, outsz, used, first ? "" : ",");
        append(out, outsz, used, actions[i].name);
        first = false;
    }
    if (first)
        append(out, outsz, used, "(nothing)");
    if (g->has_kek || g->has_world || g->has_kid) {
        char hex[2 * WORLD_HASH_LEN + 1], part[40];
        append(out, outsz, used, "(");
        if (g->has_kek) {
            kt_hex(hex, g->kek_fp, WORLD_HASH_LEN);
            snprintf(part, sizeof part, "kek=%.8s\u2026", hex);
            append(out, outsz, used, part);
        }
        if (g->has_world) {
            kt_hex(hex, g->world_hash, WORLD_HASH_LEN);
            snprintf(part, sizeof part, "%sworld=%.8s\u2026", g->has_kek ? ", " : "", hex);
            append(out, outsz, used, part);
        }
        if (g->has_kid) {
            append(out, outsz, used, g->has_kek || g->has_world ? ", kid=" : "kid=");
            append(out, outsz, used, g->kid);
        }
        append(out, outsz, used, ")");
    }
}

void world_acl_format_group(const world_acl_group *g, char *out, size_t outsz)
{
    size_t used = 0;
    if (outsz == 0)
        return;
    out[0] = '\0';
    format_group(g, out, outsz, &used);
}

void world_acl_format(const world_acl *acl, char *out, size_t outsz)
{
    size_t used = 0;
    if (outsz == 0)
        return;
    out[0] = '\0';
    for (unsigned i = 0; i < acl->ngroups && i < WORLD_ACL_MAX_GROUPS; i++) {
        if (i > 0)
            append(out, outsz, &used, "; ");
        format_group(&acl->groups[i], out, outsz, &used);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* KNSO's signature over a reduced ACL                                                      */
/* ---------------------------------------------------------------------------------------- */

/* v2 names the key by app and ident as well as by its hash (v1 did not). */
static const char acl_sig_domain[] = "keytransfer acl v2";

#define ACL_MSG_MAX                                                                                \
    (sizeof acl_sig_domain - 1 + 2 * WORLD_HASH_LEN + 1 + WORLD_KEY_APP_MAX + 1 +                  \
     WORLD_KEY_IDENT_MAX + WORLD_ACL_ENCODED_MAX)

/* The signed message: domain || world hash || key hash || u8 len || app || u8 len || ident ||
 * ACL encoding. msg holds ACL_MSG_MAX bytes. */
static kt_rc acl_message(const uint8_t *world_hash, const char *app, const char *ident,
                         const uint8_t *key_hash, const world_acl *acl, uint8_t *msg,
                         size_t *msglen, kt_err *e)
{
    size_t n = sizeof acl_sig_domain - 1, acl_len;
    kt_rc rc;
    if ((rc = world_key_check_app(app, e)) != KT_OK ||
        (rc = world_key_check_ident(ident, e)) != KT_OK)
        return rc;
    size_t app_len = strlen(app), ident_len = strlen(ident); /* checked: at most 32 and 64 */
    memcpy(msg, acl_sig_domain, n);
    memcpy(msg + n, world_hash, WORLD_HASH_LEN);
    n += WORLD_HASH_LEN;
    memcpy(msg + n, key_hash, WORLD_HASH_LEN);
    n += WORLD_HASH_LEN;
    msg[n++] = (uint8_t)app_len;
    memcpy(msg + n, app, app_len);
    n += app_len;
    msg[n++] = (uint8_t)ident_len;
    memcpy(msg + n, ident, ident_len);
    n += ident_len;
    rc = world_acl_encode(acl, msg + n, &acl_len, e);
    if (rc == KT_OK)
        *msglen = n + acl_len;
    return rc;
}

kt_rc world_acl_sign(const world_admin *a, const char *app, const char *ident,
                     const uint8_t key_hash[WORLD_HASH_LEN], const world_acl *acl,
                     uint8_t sig[WORLD_ACL_SIG_LEN], kt_err *e)
{
    uint8_t msg[ACL_MSG_MAX];
    size_t len;
    if (a->knso_sk.p == NULL || a->knso_sk.len != crypto_sign_SECRETKEYBYTES)
        return kt_fail(e, KT_EUSAGE, "signing an ACL needs the opened administrator quorum");
    kt_rc rc = acl_message(a->info.hash, app, ident, key_hash, acl, msg, &len, e);
    if (rc != KT_OK)
        return rc;
    if (crypto_sign_detached(sig, NULL, msg, len, a->knso_sk.p) != 0)
        return kt_fail(e, KT_ECRYPTO, "signing the ACL with KNSO failed");
    return KT_OK;
}

kt_rc world_acl_verify(const world_info *info, const char *app, const char *ident,
                       const uint8_t key_hash[WORLD_HASH_LEN], const world_acl *acl,
                       const uint8_t sig[WORLD_ACL_SIG_LEN], kt_err *e)
{
    uint8_t msg[ACL_MSG_MAX];
    size_t len;
    kt_rc rc = acl_message(info->hash, app, ident, key_hash, acl, msg, &len, e);
    if (rc != KT_OK)
        return rc;
    if (crypto_sign_verify_detached(sig, msg, len, info->knso_pub) != 0)
        return kt_fail(e, KT_EDENIED,
                       "the ACL's signature does not verify with this world's KNSO key: the ACL "
                       "was not approved by this world's administrator quorum for key %s/%s",
                       app, ident);
    return KT_OK;
}
