/*
 * backup.c - backing up a world without its module file, checking a backup, and restoring one
 * into an empty kmdata.
 *
 * What is copied is chosen by name (world, audit, key_*, the token files tokenso_* and tokenkey_*,
 * and card_* of the current set), never by "everything but": a module file cannot end up in a
 * backup because nothing names it. The
 * manifest BACKUP lists every file with its SHA-256 and is signed by the module key, so a check
 * finds a file changed, added or removed, and a restore writes only what the world vouches for.
 */
#include "token_bind.h"
#include "world_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MANIFEST_FORMAT  "keytransfer-backup/1"
#define MANIFEST_SIG_CTX "keytransfer backup v1"
#define MANIFEST_MAX     (1024 * 1024)

/* dir/name into out (PATH_MAX bytes); false when it does not fit. */
static bool join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < PATH_MAX;
}

/* A file of a backup, by its name inside the folder ("local/world"). */
typedef struct bfile {
    char name[NAME_MAX + 8];
    uint8_t sha256[32];
} bfile;

typedef struct blist {
    bfile *f;
    size_t n, cap;
} blist;

static void blist_free(blist *l)
{
    free(l->f);
    memset(l, 0, sizeof *l);
}

static kt_rc blist_add(blist *l, const char *name, const uint8_t *data, size_t len, kt_err *e)
{
    if (l->n == WORLD_BACKUP_FILES_MAX)
        return kt_fail(e, KT_ETOOBIG, "a backup holds at most %d files", WORLD_BACKUP_FILES_MAX);
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 32;
        bfile *nf = realloc(l->f, ncap * sizeof *nf);
        if (nf == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        l->f = nf;
        l->cap = ncap;
    }
    snprintf(l->f[l->n].name, sizeof l->f[l->n].name, "%s", name);
    kt_sha256(l->f[l->n].sha256, data, len);
    l->n++;
    return KT_OK;
}

/* A token file (token_bind.h): a bound token's sealed SO PIN or a reduced-token record. */
static bool is_token_name(const char *n)
{
    return strncmp(n, WORLD_TOKEN_SO_PREFIX, strlen(WORLD_TOKEN_SO_PREFIX)) == 0 ||
           strncmp(n, WORLD_TOKEN_RECORD_PREFIX, strlen(WORLD_TOKEN_RECORD_PREFIX)) == 0;
}

/* The names a backup may hold in local/: the world file, the audit log, key files, token files.
 * None of them opens without a quorum of the cards (the SO PIN is sealed under KNSO, a record is
 * signed by it). */
static bool is_local_name(const char *n)
{
    return strcmp(n, "world") == 0 || strcmp(n, WORLD_AUDIT_NAME) == 0 ||
           strncmp(n, "key_", 4) == 0 || is_token_name(n);
}

/* The manifest's signed body and its signature. */
static kt_rc manifest_body(const world_info *w, const blist *l, bool with_cards, uint64_t created,
                           json_t **out, kt_err *e)
{
    char hash[65], hex[65], when[32];
    json_t *files = json_array();
    kt_hex(hash, w->hash, WORLD_HASH_LEN);
    kt_time_iso8601(when, sizeof when, created);
    for (size_t i = 0; files != NULL && i < l->n; i++) {
        kt_hex(hex, l->f[i].sha256, 32);
        if (json_array_append_new(
                files, json_pack("{s:s, s:s}", "name", l->f[i].name, "sha256", hex)) != 0) {
            json_decref(files);
            files = NULL;
        }
    }
    *out = files == NULL ? NULL
                         : json_pack("{s:s, s:s, s:s, s:I, s:b, s:o}", "format", MANIFEST_FORMAT,
                                     "world_hash", hash, "created", when, "created_unix",
                                     (json_int_t)created, "cards", with_cards, "files", files);
    return *out == NULL ? kt_fail(e, KT_ENOMEM, "out of memory") : KT_OK;
}

static kt_rc manifest_message(const json_t *body, kt_wbuf *m, kt_err *e)
{
    char *text = NULL;
    kt_rc rc = kt_json_dump(body, false, &text, e);
    kt_wbuf_init(m, false);
    if (rc != KT_OK)
        return rc;
    kt_wbuf_bytes(m, MANIFEST_SIG_CTX, sizeof MANIFEST_SIG_CTX);
    kt_wbuf_bytes(m, text, strlen(text));
    free(text);
    return kt_wbuf_finish(m, e);
}

/* ---------------------------------------------------------------------------------------- */
/* Backup                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static kt_rc copy_into(const char *from, const char *to_dir, const char *name, const char *rel,
                       blist *l, kt_err *e)
{
    kt_buf b = {0};
    char to[PATH_MAX];
    kt_rc rc = kt_file_read(from, WORLD_AUDIT_FILE_MAX, &b, e);
    if (rc != KT_OK)
        return rc;
    if (snprintf(to, sizeof to, "%s/%s", to_dir, name) >= (int)sizeof to)
        rc = kt_fail(e, KT_EUSAGE, "path too long: %s", to_dir);
    else if ((rc = kt_file_write(to, b.p, b.len, KT_WRITE_NEW, e)) == KT_OK)
        rc = blist_add(l, rel, b.p, b.len, e);
    kt_buf_free(&b);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const bfile *)a)->name, ((const bfile *)b)->name);
}

/* Copies what the backup holds into the staged folder, listing each file in l. */
static kt_rc fill_backup(const world_paths *p, const world_module *m, const char *staged,
                         bool with_cards, blist *l, world_backup_info *info, kt_err *e)
{
    char local[PATH_MAX], cards[PATH_MAX], from[PATH_MAX];
    kt_rc rc = KT_OK;

    if (!join(local, staged, "local") || !join(cards, staged, "cards"))
        return kt_fail(e, KT_EUSAGE, "path too long: %s", staged);
    if (mkdir(local, 0700) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot make %s", local);
    DIR *d = opendir(p->local);
    if (d == NULL)
        return kt_fail_errno(e, KT_EIO, errno, "cannot list %s", p->local);
    for (struct dirent *de; rc == KT_OK && (de = readdir(d)) != NULL;) {
        char rel[NAME_MAX + 8];
        if (!is_local_name(de->d_name))
            continue;
        if (!join(from, p->local, de->d_name)) {
            rc = kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
            break;
        }
        snprintf(rel, sizeof rel, "local/%s", de->d_name);
        rc = copy_into(from, local, de->d_name, rel, l, e);
        if (rc == KT_OK && strncmp(de->d_name, "key_", 4) == 0)
            info->nkeys++;
        if (rc == KT_OK && is_token_name(de->d_name))
            info->ntoken++;
        if (rc == KT_OK && strcmp(de->d_name, WORLD_AUDIT_NAME) == 0)
            info->has_audit = true;
    }
    closedir(d);
    if (rc != KT_OK || !with_cards)
        return rc;

    char **paths = NULL;
    size_t n = 0;
    if ((rc = world_list_cards(p, &m->info, &paths, &n, e)) != KT_OK)
        return rc;
    if (n > 0 && mkdir(cards, 0700) != 0)
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot make %s", cards);
    for (size_t i = 0; i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        base = base != NULL ? base + 1 : paths[i];
        char rel[NAME_MAX + 8];
        snprintf(rel, sizeof rel, "cards/%s", base);
        if (rc == KT_OK && (rc = copy_into(paths[i], cards, base, rel, l, e)) == KT_OK)
            info->ncards++;
        free(paths[i]);
    }
    free(paths);
    return rc;
}

kt_rc world_backup(const world_paths *p, const world_module *m, const char *out, bool with_cards,
                   world_backup_info *info, kt_err *e)
{
    char parent[PATH_MAX], base[NAME_MAX + 1], staged[PATH_MAX], path[PATH_MAX];
    blist l = {0};
    kt_txn *t = NULL;
    json_t *body = NULL, *doc = NULL, *d = NULL;
    char *text = NULL;
    kt_wbuf msg;
    bool committed = false;
    kt_rc rc;

    memset(info, 0, sizeof *info);
    kt_wbuf_init(&msg, false);
    info->world = m->info;
    const char *slash = strrchr(out, '/');
    if (slash != NULL && slash[1] == '\0')
        return kt_fail(e, KT_EUSAGE, "give the backup folder without a trailing '/': %s", out);
    if (slash == NULL)
        snprintf(parent, sizeof parent, ".");
    else
        snprintf(parent, sizeof parent, "%.*s", slash == out ? 1 : (int)(slash - out), out);
    if (snprintf(base, sizeof base, "%s", slash != NULL ? slash + 1 : out) >= (int)sizeof base ||
        base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return kt_fail(e, KT_EUSAGE, "'%s' does not name a new folder", out);
    if (kt_path_exists(out))
        return kt_fail(e, KT_EEXIST, "%s exists: a backup goes into a new folder", out);

    const char *dirs[2] = {parent, p->local};
    uint64_t now = (uint64_t)time(NULL);
    if ((rc = kt_txn_begin(&t, "world backup", dirs, 2, false, NULL, NULL, e)) ||
        (rc = kt_txn_put_dir(t, 0, base, staged, e)) ||
        (rc = fill_backup(p, m, staged, with_cards, &l, info, e)))
        goto out;
    qsort(l.f, l.n, sizeof *l.f, by_name);
    if ((rc = manifest_body(&m->info, &l, with_cards, now, &body, e)) ||
        (rc = manifest_message(body, &msg, e)))
        goto out;
    uint8_t sig[crypto_sign_BYTES];
    char sighex[2 * crypto_sign_BYTES + 1];
    crypto_sign_detached(sig, NULL, msg.p, msg.len, m->module_sk.p);
    kt_hex(sighex, sig, sizeof sig);
    doc = json_pack("{s:O, s:s}", "manifest", body, "module_signature", sighex);
    if (doc == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = kt_json_dump(doc, true, &text, e)) != KT_OK)
        goto out;
    if (!join(path, staged, WORLD_BACKUP_MANIFEST)) {
        rc = kt_fail(e, KT_EUSAGE, "path too long: %s", staged);
        goto out;
    }
    if ((rc = kt_file_write(path, text, strlen(text), KT_WRITE_NEW, e)) != KT_OK)
        goto out;

    char sha[65];
    kt_sha256(sig, text, strlen(text));
    kt_hex(sha, sig, 32);
    d = json_pack("{s:s, s:i, s:i, s:b, s:s}", "folder", out, "keys", (int)info->nkeys, "cards",
                  (int)info->ncards, "audit_log", info->has_audit, "manifest_sha256", sha);
    world_audit_signer s = {.info = &m->info, .module_sk = &m->module_sk};
    world_audit_op op = {.op = "world backup", .detail = d};
    if (d == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    else if ((rc = world_audit_stage(t, 1, p, &s, &op, e)) == KT_OK)
        rc = kt_txn_commit(t, &committed, e);
out:
    kt_txn_free(t);
    json_decref(body);
    json_decref(doc);
    json_decref(d);
    free(text);
    kt_wbuf_free(&msg);
    blist_free(&l);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Checks                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* Reads the manifest of dir and checks it against the backup's world; fills l and info. */
static kt_rc read_manifest(const char *dir, const world_info *w, blist *l, bool *with_cards,
                           kt_err *e)
{
    static const char *const top_keys[] = {"manifest", "module_signature", NULL};
    static const char *const body_keys[] = {"format", "world_hash", "created", "created_unix",
                                            "cards",  "files",      NULL};
    static const char *const file_keys[] = {"name", "sha256", NULL};
    char path[PATH_MAX], hash[65];
    kt_buf raw = {0};
    json_t *doc = NULL, *body, *files;
    const char *fmt, *wh, *sighex, *created;
    int64_t created_unix;
    uint8_t sig[crypto_sign_BYTES];
    kt_wbuf msg;
    kt_rc rc;

    kt_wbuf_init(&msg, false);
    snprintf(path, sizeof path, "%s/%s", dir, WORLD_BACKUP_MANIFEST);
    if ((rc = kt_file_read(path, MANIFEST_MAX, &raw, e)) != KT_OK)
        return rc;
    if ((rc = kt_json_parse(raw.p, raw.len, MANIFEST_MAX, &doc, e)) ||
        (rc = kt_json_only_keys(doc, top_keys, "backup manifest", e)) ||
        (rc = kt_json_get_object(doc, "manifest", "backup manifest", &body, e)) ||
        (rc = kt_json_get_string(doc, "module_signature", "backup manifest", &sighex, e)) ||
        (rc = kt_json_only_keys(body, body_keys, "backup manifest", e)) ||
        (rc = kt_json_get_string(body, "format", "backup manifest", &fmt, e)) ||
        (rc = kt_json_get_string(body, "world_hash", "backup manifest", &wh, e)) ||
        (rc = kt_json_get_string(body, "created", "backup manifest", &created, e)) ||
        (rc = kt_json_get_int(body, "created_unix", "backup manifest", 0, INT64_MAX, &created_unix,
                              e)) ||
        (rc = kt_json_get_bool(body, "cards", "backup manifest", with_cards, e)) ||
        (rc = kt_json_get_array(body, "files", "backup manifest", &files, e)))
        goto out;
    if (strcmp(fmt, MANIFEST_FORMAT) != 0) {
        rc = kt_fail(e, KT_EVERSION, "backup manifest format '%s' is not %s", fmt, MANIFEST_FORMAT);
        goto out;
    }
    kt_hex(hash, w->hash, WORLD_HASH_LEN);
    if (strcmp(wh, hash) != 0) {
        rc = kt_fail(e, KT_EDENIED, "the manifest names world %s, the backup's world file is %s",
                     wh, hash);
        goto out;
    }
    if (strlen(sighex) != 2 * sizeof sig || kt_unhex(sig, sizeof sig, sighex, e) != KT_OK) {
        rc = kt_fail(e, KT_EFORMAT, "the manifest's module_signature is not 128 hex digits");
        goto out;
    }
    if ((rc = manifest_message(body, &msg, e)) != KT_OK)
        goto out;
    if (crypto_sign_verify_detached(sig, msg.p, msg.len, w->module_pub) != 0) {
        rc = kt_fail(e, KT_EDENIED,
                     "the manifest's signature does not verify with the world's module key: it "
                     "was altered or made for another world");
        goto out;
    }
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        const char *name, *sha;
        uint8_t want[32];
        if ((rc = kt_json_only_keys(f, file_keys, "backup manifest file", e)) ||
            (rc = kt_json_get_string(f, "name", "backup manifest file", &name, e)) ||
            (rc = kt_json_get_string(f, "sha256", "backup manifest file", &sha, e)))
            goto out;
        if (strlen(sha) != 64 || kt_unhex(want, 32, sha, e) != KT_OK) {
            rc = kt_fail(e, KT_EFORMAT, "manifest: the SHA-256 of %s is malformed", name);
            goto out;
        }
        bool local = strncmp(name, "local/", 6) == 0 && is_local_name(name + 6);
        bool is_card = strncmp(name, "cards/card_", 11) == 0;
        if ((!local && !is_card) || strchr(name + 6, '/') != NULL || strlen(name) >= NAME_MAX) {
            rc = kt_fail(e, KT_EDENIED, "the manifest lists '%s', which no backup holds", name);
            goto out;
        }
        if ((rc = blist_add(l, name, (const uint8_t *)"", 0, e)) != KT_OK)
            goto out;
        memcpy(l->f[l->n - 1].sha256, want, 32);
    }
out:
    kt_wbuf_free(&msg);
    json_decref(doc);
    kt_buf_free(&raw);
    if (rc != KT_OK)
        kt_err_prefix(e, "%s", path);
    return rc;
}

/* A walk over the entries of a backup's folder dir/sub (none when it does not exist), "." and
 * ".." left out, each paired with its entry in the signed manifest l (NULL when not listed). */
typedef struct bwalk {
    DIR *d;
    const char *sub;
    const blist *l;
    char path[PATH_MAX]; /* dir/sub */
    char rel[PATH_MAX];  /* sub/name, the entry's name in the manifest */
    const char *name;
    const bfile *f;
} bwalk;

static kt_rc bwalk_open(bwalk *w, const char *dir, const char *sub, const blist *l, kt_err *e)
{
    w->sub = sub;
    w->l = l;
    snprintf(w->path, sizeof w->path, "%s/%s", dir, sub);
    w->d = opendir(w->path);
    if (w->d == NULL && errno != ENOENT)
        return kt_fail_errno(e, KT_EIO, errno, "cannot list %s", w->path);
    return KT_OK;
}

static bool bwalk_next(bwalk *w)
{
    for (struct dirent *de; w->d != NULL && (de = readdir(w->d)) != NULL;) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        w->name = de->d_name;
        snprintf(w->rel, sizeof w->rel, "%s/%s", w->sub, de->d_name);
        w->f = NULL;
        for (size_t i = 0; i < w->l->n && w->f == NULL; i++)
            if (strcmp(w->l->f[i].name, w->rel) == 0)
                w->f = &w->l->f[i];
        return true;
    }
    return false;
}

static void bwalk_close(bwalk *w)
{
    if (w->d != NULL)
        closedir(w->d);
}

/* Every entry of a folder of the backup must be listed (and nothing may be a link or a folder). */
static kt_rc no_extra(const char *dir, const char *sub, const blist *l, kt_err *e)
{
    bwalk w;
    kt_rc rc = bwalk_open(&w, dir, sub, l, e);
    while (rc == KT_OK && bwalk_next(&w))
        if (w.f == NULL)
            rc = kt_fail(e, KT_EDENIED,
                         "%s/%s is in the backup but not in its signed manifest%s: the backup "
                         "was changed; do not use it",
                         dir, w.rel,
                         strncmp(w.name, "module_", 7) == 0 ? " (a module file, holding KM "
                                                              "in the clear)"
                                                            : "");
    bwalk_close(&w);
    return rc;
}

/* The top of a backup holds local/, cards/ and the manifest only. */
static kt_rc top_only(const char *dir, kt_err *e)
{
    kt_rc rc = KT_OK;
    DIR *d = opendir(dir);
    if (d == NULL)
        return kt_fail_errno(e, errno == ENOENT ? KT_ENOENT : KT_EIO, errno, "cannot list %s", dir);
    for (struct dirent *de; rc == KT_OK && (de = readdir(d)) != NULL;)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            strcmp(de->d_name, "local") != 0 && strcmp(de->d_name, "cards") != 0 &&
            strcmp(de->d_name, WORLD_BACKUP_MANIFEST) != 0)
            rc = kt_fail(e, KT_EDENIED, "%s/%s is not part of a backup: do not use this one", dir,
                         de->d_name);
    closedir(d);
    return rc;
}

/* world_backup_check_files, keeping the manifest's list in l (blist_free). */
static kt_rc check_files(const char *dir, world_backup_info *info, blist *out, kt_err *e)
{
    world_paths bp;
    blist l = {0};
    bool with_cards = false;
    kt_rc rc;

    memset(info, 0, sizeof *info);
    if ((rc = world_paths_init(&bp, dir, NULL, e)) != KT_OK)
        return rc;
    if ((rc = world_load_info(&bp, &info->world, e)) != KT_OK)
        return rc;
    if ((rc = read_manifest(dir, &info->world, &l, &with_cards, e)) || (rc = top_only(dir, e)) ||
        (rc = no_extra(dir, "local", &l, e)) || (rc = no_extra(dir, "cards", &l, e)))
        goto out;
    bool have_world = false;
    for (size_t i = 0; i < l.n; i++) {
        char path[PATH_MAX];
        kt_buf b = {0};
        uint8_t got[32];
        snprintf(path, sizeof path, "%s/%s", dir, l.f[i].name);
        if ((rc = kt_file_read(path, WORLD_AUDIT_FILE_MAX, &b, e)) != KT_OK) {
            if (rc == KT_ENOENT)
                rc = kt_fail(e, KT_EDENIED, "%s is in the manifest but missing from the backup",
                             path);
            goto out;
        }
        kt_sha256(got, b.p, b.len);
        kt_buf_free(&b);
        if (!kt_ct_equal(got, l.f[i].sha256, 32)) {
            rc = kt_fail(e, KT_EDENIED,
                         "%s does not have the SHA-256 the signed manifest gives: it was changed",
                         path);
            goto out;
        }
        const char *n = l.f[i].name;
        if (strcmp(n, "local/world") == 0)
            have_world = true;
        else if (strncmp(n, "local/key_", 10) == 0)
            info->nkeys++;
        else if (strncmp(n, "local/", 6) == 0 && is_token_name(n + 6))
            info->ntoken++;
        else if (strncmp(n, "cards/", 6) == 0)
            info->ncards++;
        else if (strcmp(n, "local/" WORLD_AUDIT_NAME) == 0)
            info->has_audit = true;
    }
    if (!have_world) {
        rc = kt_fail(e, KT_EDENIED, "the manifest does not list local/world");
        goto out;
    }
    if (info->has_audit) {
        world_audit_log log;
        if ((rc = world_audit_read(&bp, &info->world, &log, e)) != KT_OK)
            goto out;
        info->naudit = log.n;
        world_audit_log_free(&log);
    }
out:
    if (rc == KT_OK && out != NULL)
        *out = l;
    else
        blist_free(&l);
    return rc;
}

kt_rc world_backup_check_files(const char *dir, world_backup_info *info, kt_err *e)
{
    return check_files(dir, info, NULL, e);
}

kt_rc world_module_from_admin(const world_admin *a, world_module *m, kt_err *e)
{
    uint8_t pk[32];
    kt_rc rc;
    memset(m, 0, sizeof *m);
    m->info = a->info;
    if ((rc = kt_secbuf_alloc(&m->km, WORLD_KM_LEN, e)) != KT_OK)
        return rc;
    memcpy(m->km.p, a->km.p, WORLD_KM_LEN);
    if ((rc = world_module_keypair(&m->km, pk, &m->module_sk, e)) != KT_OK)
        world_module_close(m);
    return rc;
}

/* Every reduced-token record in the backup's local/ loaded as `package --token` loads it (of the
 * backup's world, KNSO's signature over every byte). Sealed SO PINs need the quorum to open:
 * their SHA-256 in the signed manifest is what is checked of them. */
static kt_rc check_token_records(const world_paths *bp, const world_info *w, kt_err *e)
{
    static const char prefix[] = WORLD_TOKEN_RECORD_PREFIX;
    world_token_record *r = malloc(sizeof *r);
    DIR *d = opendir(bp->local);
    kt_rc rc = KT_OK;

    if (r == NULL || d == NULL) {
        rc = r == NULL ? kt_fail(e, KT_ENOMEM, "out of memory")
                       : kt_fail_errno(e, KT_EIO, errno, "cannot list %s", bp->local);
        free(r);
        if (d != NULL)
            closedir(d);
        return rc;
    }
    for (struct dirent *de; rc == KT_OK && (de = readdir(d)) != NULL;) {
        if (strncmp(de->d_name, prefix, sizeof prefix - 1) != 0)
            continue;
        kt_err why;
        if (world_token_record_load(bp, w, de->d_name + sizeof prefix - 1, r, &why) != KT_OK)
            rc = kt_fail(e, KT_EDENIED, "%s/%s does not authenticate against the world: %s",
                         bp->local, de->d_name, why.msg);
    }
    closedir(d);
    free(r);
    return rc;
}

kt_rc world_backup_check_keys(const char *dir, const world_module *km, world_backup_info *info,
                              kt_err *e)
{
    world_paths bp;
    world_key_entry *keys = NULL;
    size_t n = 0;
    kt_rc rc;

    if ((rc = world_backup_check_files(dir, info, e)) != KT_OK)
        return rc;
    if (!kt_ct_equal(km->info.hash, info->world.hash, WORLD_HASH_LEN)) {
        char have[65], want[65];
        kt_hex(have, km->info.hash, WORLD_HASH_LEN);
        kt_hex(want, info->world.hash, WORLD_HASH_LEN);
        return kt_fail(e, KT_EDENIED, "the module is of world %s; the backup is of world %s", have,
                       want);
    }
    /* The module's identity must be the backup's world, with its public keys. */
    world_module m = *km;
    m.info = info->world;
    if ((rc = world_paths_init(&bp, dir, NULL, e)) != KT_OK ||
        (rc = world_key_list(&bp, &m, &keys, &n, e)) != KT_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (keys[i].rc != KT_OK) {
            rc = kt_fail(e, KT_EDENIED, "%s does not authenticate against the world: %s",
                         keys[i].file, keys[i].err.msg);
            break;
        }
    free(keys);
    return rc != KT_OK ? rc : check_token_records(&bp, &info->world, e);
}

/* ---------------------------------------------------------------------------------------- */
/* Restore                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static size_t count_prefixed(const char *dir, const char *prefix)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* Stages every file of the backup's folder sub into the change's folder dir, each holding the
 * bytes the signed manifest l gives the SHA-256 of (read once: what is staged is what is
 * checked). */
static kt_rc stage_folder(kt_txn *t, size_t dir, const char *bdir, const char *sub, const blist *l,
                          kt_err *e)
{
    bwalk w;
    kt_rc rc = bwalk_open(&w, bdir, sub, l, e);
    while (rc == KT_OK && bwalk_next(&w)) {
        char from[PATH_MAX];
        kt_buf b = {0};
        if (!join(from, w.path, w.name)) {
            rc = kt_fail(e, KT_EUSAGE, "path too long: %s", w.path);
            break;
        }
        if ((rc = kt_file_read(from, WORLD_AUDIT_FILE_MAX, &b, e)) != KT_OK)
            break;
        uint8_t got[32];
        kt_sha256(got, b.p, b.len);
        if (w.f == NULL || !kt_ct_equal(got, w.f->sha256, 32))
            rc = kt_fail(e, KT_EDENIED, "%s changed while it was being restored: nothing restored",
                         from);
        else
            rc = kt_txn_put(t, dir, w.name, b.p, b.len, KT_TXN_NEW, e);
        kt_buf_free(&b);
    }
    bwalk_close(&w);
    return rc;
}

kt_rc world_restore(const world_paths *p, const char *dir, world_backup_info *info, kt_err *e)
{
    kt_txn *t = NULL;
    bool committed = false;
    kt_rc rc;

    if (kt_path_exists(p->world))
        return kt_fail(e, KT_EEXIST,
                       "%s already holds a security world: a backup is restored into an empty "
                       "kmdata only",
                       p->kmdata);
    if (count_prefixed(p->local, "key_") > 0 || count_prefixed(p->local, "module_") > 0 ||
        count_prefixed(p->local, WORLD_AUDIT_NAME) > 0 ||
        count_prefixed(p->local, WORLD_TOKEN_SO_PREFIX) > 0 ||
        count_prefixed(p->local, WORLD_TOKEN_RECORD_PREFIX) > 0)
        return kt_fail(e, KT_EEXIST,
                       "%s holds key, module, audit or token files but no world: a backup is "
                       "restored into an empty kmdata only; move them away first",
                       p->local);
    /* Checked as a whole before anything is written; each file is then read once more to be
     * staged, and staged only when it still has the hash the signed manifest gives. */
    blist l = {0};
    if ((rc = check_files(dir, info, &l, e)) != KT_OK)
        return rc;
    if ((rc = kt_dir_ensure(p->local, e)) || (rc = kt_dir_ensure(p->cards, e)))
        goto out;
    const char *dirs[2] = {p->local, p->cards};
    if ((rc = kt_txn_begin(&t, "world restore", dirs, 2, true, NULL, NULL, e)) ||
        (rc = stage_folder(t, 0, dir, "local", &l, e)) ||
        (rc = stage_folder(t, 1, dir, "cards", &l, e)))
        goto out;
    rc = kt_txn_commit(t, &committed, e);
out:
    kt_txn_free(t);
    blist_free(&l);
    return rc;
}
