/*
 * key_store.c - keys in kmdata: saving (never replacing), loading, inspecting and listing the
 * key files of a world.
 */
#include "world_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* ---------------------------------------------------------------------------------------- */
/* Saving, loading, listing                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* KT_EEXIST, naming the file, when key_<app>_<ident> exists. */
kt_rc key_refuse_existing(const char *path, const char *app, const char *ident, kt_err *e)
{
    if (!kt_path_exists(path))
        return KT_OK;
    return kt_fail(e, KT_EEXIST,
                   "key %s/%s already exists (%s); keytransfer never replaces a key: choose "
                   "another identifier",
                   app, ident, path);
}

kt_rc world_key_save(const world_paths *p, const world_module *m, world_key *k, kt_err *e)
{
    return world_key_save_logged(p, m, k, NULL, NULL, e);
}

kt_rc world_key_save_logged(const world_paths *p, const world_module *m, world_key *k,
                            const world_audit_signer *s, const world_audit_op *op, kt_err *e)
{
    world_key_info *in = &k->info;
    char path[PATH_MAX];
    EVP_PKEY *check = NULL;
    kt_wbuf w;
    kt_rc rc;

    if ((rc = world_key_path(p, in->app, in->ident, path, sizeof path, e)) ||
        (rc = world_key_check_plainname(in->plainname, e)))
        return rc;
    memcpy(in->world_hash, m->info.hash, WORLD_HASH_LEN);
    snprintf(in->path, sizeof in->path, "%s", path);
    /* What is written is what a later load will accept, checked now rather than then. */
    if ((rc = key_material_matches(in, &k->material, &check, e)) != KT_OK)
        return rc;
    EVP_PKEY_free(check);
    if (in->acl_signed && (rc = world_acl_verify(&m->info, in->app, in->ident, in->key_hash,
                                                 &in->acl, in->acl_sig, e)) != KT_OK)
        return rc;
    if ((rc = key_refuse_existing(path, in->app, in->ident, e)) != KT_OK ||
        (rc = kt_dir_ensure(p->local, e)) != KT_OK)
        return rc;

    kt_wbuf_init(&w, false);
    if ((rc = key_file_build(k, m, &w, e)) == KT_OK) {
        rc = op != NULL ? audit_put_with(p, s, op, in->path + strlen(p->local) + 1, w.p, w.len, e)
                        : kt_file_write(path, w.p, w.len, KT_WRITE_NEW, e);
        if (rc == KT_EEXIST) /* made by someone else since the check above */
            rc = kt_fail(e, KT_EEXIST,
                         "key %s/%s already exists (%s); keytransfer never replaces a key: "
                         "choose another identifier",
                         in->app, in->ident, path);
    }
    kt_wbuf_free(&w);
    return rc;
}

/* Parses the key file read from path, which must hold key app/ident: a renamed or copied key file
 * is refused. kf points into raw. */
static kt_rc parse_named(const kt_buf *raw, const char *path, const char *app, const char *ident,
                         key_file *kf, kt_err *e)
{
    kt_rc rc = key_file_parse(raw->p, raw->len, kf, e);

    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", path);
        return rc;
    }
    snprintf(kf->info.path, sizeof kf->info.path, "%s", path);
    if (strcmp(kf->info.app, app) != 0 || strcmp(kf->info.ident, ident) != 0)
        return kt_fail(e, KT_EDENIED,
                       "key file %s holds key %s/%s: a renamed or copied key file is refused", path,
                       kf->info.app, kf->info.ident);
    return KT_OK;
}

kt_rc world_key_load(const world_paths *p, const world_module *m, const char *app,
                     const char *ident, world_key *k, kt_err *e)
{
    char path[PATH_MAX];
    key_file kf;
    kt_buf raw = {0};
    kt_rc rc;

    memset(k, 0, sizeof *k);
    if (app == NULL)
        app = WORLD_KEY_APP_DEFAULT;
    if ((rc = world_key_path(p, app, ident, path, sizeof path, e)) != KT_OK)
        return rc;
    rc = kt_file_read(path, WORLD_KEY_FILE_MAX, &raw, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_ENOENT,
                       "no key %s/%s in this world (%s does not exist); `keytransfer "
                       "key list` shows the keys",
                       app, ident, path);
    if (rc != KT_OK)
        return rc;
    if ((rc = parse_named(&raw, path, app, ident, &kf, e)) != KT_OK)
        goto out;
    rc = key_file_open(&kf, m, k, e);
out:
    kt_buf_free(&raw);
    return rc;
}

kt_rc world_key_inspect(const world_paths *p, const world_module *m, const char *app,
                        const char *ident, world_key_info *info, kt_err *e)
{
    world_key k;
    kt_rc rc = world_key_load(p, m, app, ident, &k, e);
    if (rc == KT_OK)
        *info = k.info;
    world_key_free(&k);
    return rc;
}

/* Splits "key_<app>_<ident>" (app has no '_', ident neither); false when name is not that. */
static bool split_key_name(const char *name, char *app, char *ident)
{
    const char *rest = name + 4, *us = strchr(rest, '_');
    if (strncmp(name, "key_", 4) != 0 || us == NULL)
        return false;
    size_t alen = (size_t)(us - rest), ilen = strlen(us + 1);
    if (alen < 1 || alen > WORLD_KEY_APP_MAX || ilen < 1 || ilen > WORLD_KEY_IDENT_MAX)
        return false;
    memcpy(app, rest, alen);
    app[alen] = '\0';
    memcpy(ident, us + 1, ilen + 1);
    return world_key_check_app(app, NULL) == KT_OK && world_key_check_ident(ident, NULL) == KT_OK;
}

/*
 * What world_key_load checks, for a listing: the same file, name, world, seal, material and ACL
 * checks, with the module's key-file subkey derived once for the whole listing and the opened
 * seal put into one scratch buffer of secure memory (wiped after each key) instead of a fresh
 * sodium_malloc'd pair per key, and no EVP_PKEY kept.
 */
static kt_rc inspect_listed(const world_paths *p, const world_module *m, const char *app,
                            const char *ident, const kt_secbuf *subkey, const kt_secbuf *scratch,
                            world_key_info *info, kt_err *e)
{
    char path[PATH_MAX];
    key_file kf;
    kt_buf raw = {0};
    kt_rc rc;

    if ((rc = world_key_path(p, app, ident, path, sizeof path, e)) != KT_OK ||
        (rc = kt_file_read(path, WORLD_KEY_FILE_MAX, &raw, e)) != KT_OK)
        return rc;
    if ((rc = parse_named(&raw, path, app, ident, &kf, e)) != KT_OK)
        goto out;
    if (!kt_ct_equal(kf.info.world_hash, m->info.hash, WORLD_HASH_LEN)) {
        char have[2 * WORLD_HASH_LEN + 1], want[2 * WORLD_HASH_LEN + 1];
        kt_hex(have, kf.info.world_hash, WORLD_HASH_LEN);
        kt_hex(want, m->info.hash, WORLD_HASH_LEN);
        rc = kt_fail(e, KT_EDENIED, "key file %s belongs to world %s, not to this world %s", path,
                     have, want);
        goto out;
    }
    unsigned long long mlen = 0;
    if (kf.sealed_len < AEAD_TAG_LEN || kf.sealed_len - AEAD_TAG_LEN > scratch->len ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(scratch->p, &mlen, NULL, kf.sealed,
                                                   kf.sealed_len, kf.raw, kf.aad_len, kf.nonce,
                                                   subkey->p) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "key file %s is damaged or altered: its seal does not open with this "
                     "module's key",
                     path);
        goto out;
    }
    const kt_secbuf material = {.p = scratch->p, .len = (size_t)mlen};
    rc = key_material_matches(&kf.info, &material, NULL, e);
    sodium_memzero(scratch->p, (size_t)mlen);
    if (rc != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    if (kf.info.acl_signed &&
        (rc = world_acl_verify(&m->info, kf.info.app, kf.info.ident, kf.info.key_hash, &kf.info.acl,
                               kf.info.acl_sig, e)) != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    *info = kf.info;
out:
    kt_buf_free(&raw);
    return rc;
}

/* A key file's name in a listing, split once for sorting. */
typedef struct listed {
    char *name;  /* the file name (heap) */
    size_t alen; /* key_<app>_: app's length; 0 when the name is not a key file name */
} listed;

/* As by_name: names that parse first, by app then ident; the others after, by file name. */
static int by_listed(const void *a, const void *b)
{
    const listed *x = a, *y = b;
    if ((x->alen != 0) != (y->alen != 0))
        return x->alen != 0 ? -1 : 1;
    if (x->alen == 0)
        return strcmp(x->name, y->name);
    size_t n = x->alen < y->alen ? x->alen : y->alen;
    int c = memcmp(x->name + 4, y->name + 4, n);
    if (c == 0 && x->alen != y->alen)
        return x->alen < y->alen ? -1 : 1;
    return c != 0 ? c : strcmp(x->name + 5 + x->alen, y->name + 5 + y->alen);
}

kt_rc world_key_foreach(const world_paths *p, const world_module *m, world_key_visit_fn visit,
                        void *ctx, kt_err *e)
{
    listed *names = NULL;
    size_t n = 0, cap = 0;
    kt_secbuf subkey = {0}, scratch = {0};
    world_key_entry *it = NULL;
    kt_rc rc = KT_OK;

    DIR *d = opendir(p->local);
    if (d == NULL)
        return kt_fail_errno(e, errno == ENOENT ? KT_ENOENT : KT_EIO, errno, "cannot list %s",
                             p->local);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        char app[WORLD_KEY_APP_MAX + 1], ident[WORLD_KEY_IDENT_MAX + 1];
        if (strncmp(de->d_name, "key_", 4) != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            listed *grown = realloc(names, ncap * sizeof *names);
            if (grown == NULL) {
                rc = kt_fail(e, KT_ENOMEM, "out of memory");
                break;
            }
            names = grown;
            cap = ncap;
        }
        if ((names[n].name = strdup(de->d_name)) == NULL) {
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
            break;
        }
        names[n].alen = split_key_name(de->d_name, app, ident) ? strlen(app) : 0;
        n++;
    }
    closedir(d);
    if (rc == KT_OK && n > 0) {
        qsort(names, n, sizeof *names, by_listed);
        if ((it = malloc(sizeof *it)) == NULL)
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
        else if ((rc = world_km_subkey(&m->km, WORLD_KM_KEY_FILES, &subkey, e)) == KT_OK)
            rc = kt_secbuf_alloc(&scratch, WORLD_KEY_FILE_MAX, e);
    }
    for (size_t i = 0; rc == KT_OK && i < n; i++) {
        char app[WORLD_KEY_APP_MAX + 1], ident[WORLD_KEY_IDENT_MAX + 1];
        memset(it, 0, sizeof *it);
        kt_err_clear(&it->err);
        int len = snprintf(it->file, sizeof it->file, "%s/%s", p->local, names[i].name);
        if (len < 0 || (size_t)len >= sizeof it->file)
            it->rc = kt_fail(&it->err, KT_EUSAGE, "path too long: %s", p->local);
        else if (!split_key_name(names[i].name, app, ident))
            it->rc = kt_fail(&it->err, KT_EFORMAT,
                             "%s: not a key file name (key_<app>_<ident>, app of [a-z0-9], ident "
                             "of [0-9a-z-])",
                             it->file);
        else if ((it->rc = inspect_listed(p, m, app, ident, &subkey, &scratch, &it->info,
                                          &it->err)) != KT_OK) {
            /* Only the names, from the file name, so the entry sorts where the key would. */
            memset(&it->info, 0, sizeof it->info);
            snprintf(it->info.app, sizeof it->info.app, "%s", app);
            snprintf(it->info.ident, sizeof it->info.ident, "%s", ident);
        }
        rc = visit(ctx, it, e);
    }
    kt_secbuf_free(&scratch);
    kt_secbuf_free(&subkey);
    free(it);
    for (size_t i = 0; i < n; i++)
        free(names[i].name);
    free(names);
    return rc;
}

typedef struct list_acc {
    world_key_entry *v;
    size_t n, cap;
} list_acc;

static kt_rc list_add(void *ctx, const world_key_entry *entry, kt_err *e)
{
    list_acc *a = ctx;
    if (a->n == a->cap) {
        size_t ncap = a->cap == 0 ? 16 : a->cap * 2;
        world_key_entry *grown = realloc(a->v, ncap * sizeof *a->v);
        if (grown == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        a->v = grown;
        a->cap = ncap;
    }
    a->v[a->n++] = *entry;
    return KT_OK;
}

kt_rc world_key_list(const world_paths *p, const world_module *m, world_key_entry **entries,
                     size_t *count, kt_err *e)
{
    list_acc a = {0};
    kt_rc rc = world_key_foreach(p, m, list_add, &a, e);

    *entries = NULL;
    *count = 0;
    if (rc != KT_OK) {
        free(a.v);
        return rc;
    }
    *entries = a.v;
    *count = a.n;
    return KT_OK;
}

kt_rc world_key_public_pem(const world_key_info *info, char **pem, kt_err *e)
{
    *pem = NULL;
    if (info->type == WORLD_KEY_AES || info->spki_len == 0)
        return kt_fail(e, KT_EUSAGE, "key %s/%s is an AES key: it has no public key", info->app,
                       info->ident);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    if (bio == NULL ||
        PEM_write_bio(bio, PEM_STRING_PUBLIC, "", info->spki, (long)info->spki_len) <= 0 ||
        (n = BIO_get_mem_data(bio, &data)) <= 0) {
        BIO_free(bio);
        return kt_fail_ssl(e, KT_ECRYPTO, "cannot write the public key as PEM");
    }
    *pem = strndup(data, (size_t)n);
    BIO_free(bio);
    if (*pem == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    return KT_OK;
}

/* Names of a new key: checked, defaulted, copied into info. */
kt_rc key_set_names(world_key_info *in, const char *app, const char *ident, const char *plainname,
                    kt_err *e)
{
    kt_rc rc;
    if (app == NULL)
        app = WORLD_KEY_APP_DEFAULT;
    if (plainname == NULL)
        plainname = ident;
    if ((rc = world_key_check_app(app, e)) || (rc = world_key_check_ident(ident, e)) ||
        (rc = world_key_check_plainname(plainname, e)))
        return rc;
    snprintf(in->app, sizeof in->app, "%s", app);
    snprintf(in->ident, sizeof in->ident, "%s", ident);
    snprintf(in->plainname, sizeof in->plainname, "%s", plainname);
    return KT_OK;
}

/* Saves a key new to the world with its audit entry (op), in one change. */
kt_rc key_save_new(const world_paths *p, const world_module *m, world_key *k, const char *op,
                   kt_err *e)
{
    world_audit_signer s = {.info = &m->info, .module_sk = &m->module_sk};
    world_audit_op o = {.op = op};
    json_t *d = world_audit_key_detail(&k->info);
    if (d == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    o.detail = d;
    kt_rc rc = world_key_save_logged(p, m, k, &s, &o, e);
    json_decref(d);
    return rc;
}
