/*
 * cmd_upload_many.c - `keytransfer-online upload DIR` and `upload FILE FILE ...` (upload_many.h):
 * finds the packages, reads each one's name from its signed manifest, runs one upload per
 * package (cmd_upload itself, with --json, in a child: scheduler.c) at most --parallel at a time,
 * and sums up. Each upload keeps its own retries, look-up after a lost answer and 409 handling
 * (upload.c), so a package sent twice is found in the vault, never imported twice.
 */
#include "commands.h"
#include "scheduler.h"
#include "upload_many.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One package of the batch. */
typedef struct item {
    char *file;
    char name[PKG_KEY_NAME_MAX + 1];
    int status;   /* the upload's exit status; -1 until it ran */
    json_t *json; /* what the upload printed (keytransfer-online-upload/1), or NULL */
    char *err;    /* what it wrote on stderr (heap), or NULL */
} item;

typedef struct batch {
    item *v;
    size_t n, cap;
    char **base; /* the child's argv before its own name and file */
    int nbase;
    size_t ended;
} batch;

bool upload_many_is_folder(const char *path)
{
    struct stat st;
    return path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static kt_rc add_file(batch *b, const char *path, kt_err *e)
{
    if (b->n == UPLOAD_MANY_MAX)
        return kt_fail(e, KT_EUSAGE, "at most %d packages at once", UPLOAD_MANY_MAX);
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        item *v = realloc(b->v, cap * sizeof *v);
        if (v == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        b->v = v;
        b->cap = cap;
    }
    item *it = &b->v[b->n];
    memset(it, 0, sizeof *it);
    it->status = -1;
    if ((it->file = strdup(path)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    b->n++;
    return KT_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular *.byok file of the folder, sorted by name. */
static kt_rc add_folder(batch *b, const char *dir, kt_err *e)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    kt_rc rc = KT_OK;

    if (d == NULL)
        return kt_fail_errno(e, KT_EIO, errno, "cannot list the folder %s", dir);
    while (rc == KT_OK && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".byok") != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            char **p = realloc(names, ncap * sizeof *p);
            if (p == NULL) {
                rc = kt_fail(e, KT_ENOMEM, "out of memory");
                break;
            }
            names = p;
            cap = ncap;
        }
        if ((names[n] = strdup(de->d_name)) == NULL)
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
        else
            n++;
    }
    closedir(d);
    if (rc == KT_OK)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        struct stat st;
        int w = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == KT_OK && (w < 0 || (size_t)w >= sizeof path))
            rc = kt_fail(e, KT_EUSAGE, "path too long: %s/%s", dir, names[i]);
        if (rc == KT_OK && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_file(b, path, e);
        free(names[i]);
    }
    free(names);
    if (rc == KT_OK && n == 0)
        rc = kt_fail(e, KT_ENOENT, "there is no .byok package in the folder %s", dir);
    return rc;
}

/* The name each package goes under: the one its signed manifest states (checked again, whole,
 * by its upload). A package whose manifest does not check is that package's failure. */
static void read_name(item *it)
{
    char manifest[PATH_MAX];
    online_package pkg;
    kt_err e;

    memset(&pkg, 0, sizeof pkg);
    kt_err_clear(&e);
    if (online_manifest_for(it->file, manifest, sizeof manifest, &e) == KT_OK &&
        online_package_check(manifest, it->file, NULL, &pkg, &e) == KT_OK) {
        snprintf(it->name, sizeof it->name, "%s", pkg.m.friendly_name);
    } else {
        it->status = kt_rc_exit(e.rc);
        it->json = json_pack("{s:s, s:s, s:s, s:i}", "format", "keytransfer-online-upload/1",
                             "result", "FAILURE", "file", it->file, "error", e.msg);
        if (it->json != NULL)
            json_object_set_new(it->json, "exit", json_integer(it->status));
        size_t len = strlen(e.msg) + 64;
        if ((it->err = malloc(len)) != NULL)
            snprintf(it->err, len, "%s: %s\n", cli_name(), e.msg);
    }
    online_package_free(&pkg);
}

/* The child: this very command for one package, with --json, under the manifest's name. */
static int job(void *ctx, size_t i)
{
    batch *b = ctx;
    item *it = &b->v[i];
    char **argv;
    int argc = 0;

    if (it->status >= 0)
        return it->status; /* refused already (read_name) */
    if ((argv = calloc((size_t)b->nbase + 7, sizeof *argv)) == NULL)
        return KT_EXIT_IO;
    for (int j = 0; j < b->nbase; j++)
        argv[argc++] = b->base[j];
    argv[argc++] = (char *)"--json";
    argv[argc++] = (char *)"--name";
    argv[argc++] = it->name;
    argv[argc++] = (char *)"--";
    argv[argc++] = it->file;
    argv[argc] = NULL;
    return cmd_upload(argc, argv);
}

static void job_done(void *ctx, size_t i, int status, char *out, char *err)
{
    batch *b = ctx;
    item *it = &b->v[i];
    kt_err ignored;

    kt_progress_stderr(NULL, "upload", ++b->ended, b->n);
    if (it->json != NULL) { /* refused before it was started */
        free(out);
        free(err);
        return;
    }
    it->status = status;
    /* The child's --json answer, read by the one strict parser: an object of its format, else
     * the upload counts as failed. */
    it->json = NULL;
    if (out != NULL && kt_json_parse((const uint8_t *)out, strlen(out), ONLINE_BODY_MAX, &it->json,
                                     &ignored) != KT_OK)
        it->json = NULL;
    const char *format = json_string_value(json_object_get(it->json, "format"));
    if (it->json != NULL &&
        (format == NULL || strcmp(format, "keytransfer-online-upload/1") != 0)) {
        json_decref(it->json);
        it->json = NULL;
    }
    if (it->json == NULL)
        it->json =
            json_pack("{s:s, s:s, s:s, s:s, s:i}", "format", "keytransfer-online-upload/1",
                      "result", "FAILURE", "file", it->file, "name", it->name, "exit", status);
    it->err = err;
    free(out);
}

/* The child's options: argv without its name, the operands, --parallel and --json. */
static kt_rc child_base(batch *b, const cli_args *c, int argc, char **argv, const char *parallel,
                        kt_err *e)
{
    if ((b->base = calloc((size_t)argc + 1, sizeof *b->base)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    b->base[b->nbase++] = argv[0];
    for (int j = 1; j < argc; j++) {
        bool operand = false;
        for (size_t k = 0; k < c->nargs && !operand; k++)
            operand = argv[j] == c->arg[k];
        if (operand || strcmp(argv[j], "--json") == 0 || strcmp(argv[j], "--") == 0 ||
            strncmp(argv[j], "--parallel=", 11) == 0)
            continue;
        if (strcmp(argv[j], "--parallel") == 0 && j + 1 < argc && argv[j + 1] == parallel) {
            j++;
            continue;
        }
        b->base[b->nbase++] = argv[j];
    }
    return KT_OK;
}

static int summary(const batch *b, unsigned parallel, bool json)
{
    size_t imported = 0, already = 0, failed = 0;
    int status = KT_EXIT_OK;

    for (size_t i = 0; i < b->n; i++) {
        const item *it = &b->v[i];
        const char *result = json_string_value(json_object_get(it->json, "result"));
        if (it->status == 0 && result != NULL && strcmp(result, "SUCCESS") == 0) {
            if (json_is_true(json_object_get(it->json, "already")))
                already++;
            else
                imported++;
        } else {
            failed++;
            if (it->status > status)
                status = it->status;
            if (status == KT_EXIT_OK)
                status = KT_EXIT_IO;
        }
        if (it->err != NULL && it->err[0] != '\0') {
            /* what the upload said on stderr, each line named by its package */
            const char *s = it->err;
            while (*s != '\0') {
                size_t n = strcspn(s, "\n");
                fprintf(stderr, "[%s] %.*s\n", it->name[0] ? it->name : it->file, (int)n, s);
                s += n + (s[n] == '\n');
            }
        }
    }
    const char *result = failed == 0 ? "SUCCESS" : failed < b->n ? "PARTIAL" : "FAILURE";
    if (json) {
        json_t *list = json_array();
        for (size_t i = 0; list != NULL && i < b->n; i++)
            json_array_append(list, b->v[i].json);
        json_t *v = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:o}", "format",
                              "keytransfer-online-upload-batch/1", "result", result, "packages",
                              (int)b->n, "imported", (int)imported, "already", (int)already,
                              "failed", (int)failed, "parallel", (int)parallel, "uploads", list);
        int st = cli_print_json(v);
        return status != KT_EXIT_OK ? status : st;
    }
    for (size_t i = 0; i < b->n; i++) {
        const item *it = &b->v[i];
        const char *kid = json_string_value(json_object_get(it->json, "kid"));
        const char *res = json_string_value(json_object_get(it->json, "result"));
        bool ok = it->status == 0 && res != NULL && strcmp(res, "SUCCESS") == 0;
        printf("  %-8s %s  %s%s%s\n",
               !ok                                                  ? "FAILED"
               : json_is_true(json_object_get(it->json, "already")) ? "already"
                                                                    : "imported",
               it->name[0] ? it->name : "?", it->file, kid != NULL ? "  " : "",
               kid != NULL ? kid : "");
    }
    printf("\n%zu of %zu packages in the vault (%zu imported, %zu there already), %zu failed; "
           "%u at once\nResult: %s\n",
           imported + already, b->n, imported, already, failed, parallel, result);
    if (fflush(stdout) != 0 && status == KT_EXIT_OK)
        status = KT_EXIT_IO;
    return status;
}

int upload_many_run(const cli_args *c, int argc, char **argv, const char *parallel_text, bool json,
                    bool single_only)
{
    unsigned long parallel = UPLOAD_PARALLEL_DEFAULT;
    batch b = {0};
    kt_err e;
    kt_rc rc = KT_OK;
    int status;

    if (single_only)
        return cli_usage("upload", "several packages go each under the name its manifest "
                                   "states: --name and --manifest are for one FILE");
    if (parallel_text != NULL && !cli_parse_uint(parallel_text, 1, ONLINE_PARALLEL_MAX, &parallel))
        return cli_usage("upload", "--parallel must be a number from 1 to %d, not '%.40s'",
                         ONLINE_PARALLEL_MAX, parallel_text);
    kt_err_clear(&e);
    for (size_t i = 0; rc == KT_OK && i < c->nargs; i++)
        rc = upload_many_is_folder(c->arg[i]) ? add_folder(&b, c->arg[i], &e)
                                              : add_file(&b, c->arg[i], &e);
    if (rc == KT_OK)
        rc = child_base(&b, c, argc, argv, parallel_text, &e);
    if (rc == KT_OK) {
        /* the names first: a package whose manifest does not check is not uploaded */
        for (size_t i = 0; i < b.n; i++)
            read_name(&b.v[i]);
        rc = online_sched_run(b.n, (unsigned)parallel, job, job_done, &b, &e);
    }
    status = rc == KT_OK ? summary(&b, (unsigned)parallel, json)
                         : (e.rc == KT_EUSAGE ? cli_usage("upload", "%s", e.msg) : cli_report(&e));
    for (size_t i = 0; i < b.n; i++) {
        free(b.v[i].file);
        free(b.v[i].err);
        json_decref(b.v[i].json);
    }
    free(b.v);
    free(b.base);
    return status;
}
