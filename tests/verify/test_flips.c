/*
 * test_flips.c - every byte flip of a genuine package is refused by both verifiers, which name
 * the same failing check and give the same exit status: each byte of the payload and signature
 * member values of the KEK package and of the world package, and every 7th byte of the rest
 * (the envelope and the protected header with its certificates), flipped in turn (XOR 0x01).
 * The C library runs in-process; verifykeypackage.py runs once over all of them (--batch).
 *
 * One disagreement is allowed, and counted: a flip inside a certificate of x5c can give DER
 * that one parser refuses (format, exit 3) and the other reads, only to find the certificate
 * forged (root-hash or chain, exit 1). OpenSSL's d2i_X509 and pyca's Rust parser draw that line
 * differently (pyca refuses a non-0xFF BOOLEAN or a malformed UTCTime at once, OpenSSL refuses
 * a name it cannot canonicalize), so for those bytes both must refuse and may differ only
 * between format and that package's certificate checks. Everywhere else they must agree.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtest.h"

#define SAMPLE_STEP 7
#define FLIP        0x01

/* [start, end) of the string value of member name in a package text. */
static void value_range(const char *s, const char *name, size_t *start, size_t *end)
{
    char key[64];
    const char *at;

    snprintf(key, sizeof key, "\"%s\":\"", name);
    at = strstr(s, key);
    cr_assert_not_null(at, "no %s member", name);
    *start = (size_t)(at - s) + strlen(key);
    *end = *start + strcspn(s + *start, "\"");
}

typedef struct flip {
    char *kek_path, *world_path;
    const char *which; /* "KEK" or "world" */
    size_t pos;
    bool in_value;     /* inside the payload or signature value */
    bool in_protected; /* inside the protected header value (which holds x5c) */
    char check[32];
    int status;
} flip;

/* The positions to flip in package s: all of the payload and signature values, a sample of the
 * rest. Appends one flip per position to *v and writes the flipped package beside other_path. */
static void flip_package(const char *dir, const char *which, const char *s, const char *other_path,
                         flip **v, size_t *n, size_t *cap)
{
    size_t len = strlen(s), ps, pe, ss, se, hs, he;
    char *copy = strdup(s);

    cr_assert_not_null(copy);
    value_range(s, "payload", &ps, &pe);
    value_range(s, "signature", &ss, &se);
    value_range(s, "protected", &hs, &he);
    for (size_t i = 0; i < len; i++) {
        bool in_value = (i >= ps && i < pe) || (i >= ss && i < se);
        char name[64], *path;
        flip *f;

        if (!in_value && i % SAMPLE_STEP != 0)
            continue;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 1024;
            *v = realloc(*v, *cap * sizeof **v);
            cr_assert_not_null(*v);
        }
        f = &(*v)[(*n)++];
        memset(f, 0, sizeof *f);
        f->which = which;
        f->pos = i;
        f->in_value = in_value;
        f->in_protected = i >= hs && i < he;
        snprintf(name, sizeof name, "flip-%s-%05zu.jws", which, i);
        path = ts_path(dir, name);
        copy[i] ^= FLIP;
        ts_write(path, copy, len);
        copy[i] ^= FLIP;
        f->kek_path = strcmp(which, "KEK") == 0 ? path : strdup(other_path);
        f->world_path = strcmp(which, "KEK") == 0 ? strdup(other_path) : path;
    }
    free(copy);
}

/* The C verdict on one flip, in-process. */
static void c_verdict(const vt_cloud *g, flip *f, const char *kek, const char *world)
{
    char *copy = strdup(strcmp(f->which, "KEK") == 0 ? kek : world);
    verify_result r;
    kt_err e;
    kt_rc rc;

    cr_assert_not_null(copy);
    copy[f->pos] ^= FLIP;
    if (strcmp(f->which, "KEK") == 0)
        rc = vt_verify(g, copy, world, &r, &e);
    else
        rc = vt_verify(g, kek, copy, &r, &e);
    cr_expect_neq(rc, KT_OK, "%s package byte %zu flipped: C accepted it", f->which, f->pos);
    snprintf(f->check, sizeof f->check, "%s",
             verify_check_name(r.failed) ? verify_check_name(r.failed) : "(none)");
    f->status = rc == KT_OK ? 0 : kt_rc_exit(rc);
    verify_result_free(&r);
    free(copy);
}

/* format against root-hash or chain (of the same package): the one allowed disagreement. */
static bool is_cert_parse_split(const char *which, const char *a, const char *b)
{
    bool kek = strcmp(which, "KEK") == 0;
    const char *root = kek ? "root-hash" : "world-root-hash",
               *chain = kek ? "chain" : "world-chain";
    const char *other = strcmp(a, "format") == 0 ? b : strcmp(b, "format") == 0 ? a : NULL;

    return other != NULL && (strcmp(other, root) == 0 || strcmp(other, chain) == 0);
}

Test(flips, every_flip_is_refused_by_both_with_the_same_check, .timeout = 900)
{
    vt_need_python();
    char *dir = ts_scratch();
    char *kek = NULL, *world = NULL, *kek_path = ts_path(dir, "kek.jws"),
         *world_path = ts_path(dir, "world.jws");
    flip *v = NULL;
    size_t n = 0, cap = 0, in_value = 0, split = 0, tally[VERIFY_CHECK_COUNT] = {0};
    vt_cloud g;
    verify_result r;
    kt_err e;
    int status;

    vt_cloud_make(&g, 2048);
    kek = vt_kek_package(&g);
    world = vt_world_package(&g);
    cr_assert_eq(vt_verify(&g, kek, world, &r, &e), KT_OK, "%s", e.msg);
    verify_result_free(&r);
    ts_write(kek_path, kek, strlen(kek));
    ts_write(world_path, world, strlen(world));
    flip_package(dir, "KEK", kek, world_path, &v, &n, &cap);
    flip_package(dir, "world", world, kek_path, &v, &n, &cap);

    /* Python works through the files while C works in-process: two cores, two verifiers. */
    char **keks = malloc(n * sizeof *keks), **worlds = malloc(n * sizeof *worlds);
    cr_assert(keks != NULL && worlds != NULL);
    for (size_t i = 0; i < n; i++) {
        keks[i] = v[i].kek_path;
        worlds[i] = v[i].world_path;
    }
    vt_batch *batch = vt_python_batch_start(dir, keks, worlds, n);
    for (size_t i = 0; i < n; i++)
        c_verdict(&g, &v[i], kek, world);
    json_t *py = vt_python_batch_finish(batch, &status);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(py, i);
        const char *result = json_string_value(json_object_get(p, "result"));
        const char *check = json_string_value(json_object_get(p, "failed_check"));
        int py_status = (int)json_integer_value(json_object_get(p, "exit_status"));

        cr_expect_str_eq(result != NULL ? result : "(none)", "FAILURE",
                         "%s package byte %zu flipped: Python did not refuse it", v[i].which,
                         v[i].pos);
        if (check == NULL)
            check = "(none)";
        if (strcmp(check, v[i].check) != 0 && v[i].in_protected &&
            is_cert_parse_split(v[i].which, v[i].check, check)) {
            cr_log_info("%s package byte %zu (in x5c): C says %s, Python says %s", v[i].which,
                        v[i].pos, v[i].check, json_string_value(json_object_get(p, "reason")));
            split++;
        } else {
            cr_expect_str_eq(check, v[i].check,
                             "%s package byte %zu flipped: C says %s, Python says %s", v[i].which,
                             v[i].pos, v[i].check, json_string_value(json_object_get(p, "reason")));
            cr_expect_eq(py_status, v[i].status,
                         "%s package byte %zu flipped: C exits %d, Python %d (%s)", v[i].which,
                         v[i].pos, v[i].status, py_status,
                         json_string_value(json_object_get(p, "reason")));
        }
        for (size_t id = 0; id < VERIFY_CHECK_COUNT; id++) {
            if (strcmp(v[i].check, verify_check_name((verify_check_id)id)) == 0)
                tally[id]++;
        }
        in_value += v[i].in_value;
        free(v[i].kek_path);
        free(v[i].world_path);
    }
    cr_log_info("%zu flipped packages (%zu in payload and signature values), all refused by both:",
                n, in_value);
    for (size_t id = 0; id < VERIFY_CHECK_COUNT; id++) {
        if (tally[id] > 0)
            cr_log_info("  %-16s %zu", verify_check_name((verify_check_id)id), tally[id]);
    }
    cr_log_info("%zu flips inside x5c were malformed to one parser and forged to the other", split);
    cr_expect_gt(in_value, 1000, "the payload and signature values were not all flipped");
    cr_expect_lt(split, n / 20, "format/certificate splits are the exception, not %zu of %zu",
                 split, n);
    json_decref(py);
    free(keks);
    free(worlds);
    free(v);
    free(kek);
    free(world);
    free(kek_path);
    free(world_path);
    vt_cloud_free(&g);
    ts_rmrf(dir);
}
