/*
 * test_api.c - the face of verify/ as modify-acls and package will use it: on success the KEK's
 * public key, kid, fingerprint and target world come out of the result; on failure nothing is
 * usable, the failing check is named in the message and no later check ran; the verification
 * time decides validity; files are read carefully (missing, oversize, not regular); the JSON
 * report; the stable check names; and the Python verifier's root constant against this build.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vtest.h"

/* The names both verifiers print; scripts may depend on them, so changing one is a decision. */
static const char *const NAMES[VERIFY_CHECK_COUNT] = {
    "format",      "root-hash",       "chain",       "signature",     "world-root-hash",
    "world-chain", "world-signature", "kek-payload", "world-payload", "kek-type",
    "key-ops",     "exportable",      "module",      "fingerprint",   "world-hash",
    "region",      "world-modules",
};

Test(api, check_names_are_stable)
{
    for (size_t i = 0; i < VERIFY_CHECK_COUNT; i++) {
        cr_expect_str_eq(verify_check_name((verify_check_id)i), NAMES[i]);
        cr_expect_not_null(verify_check_summary((verify_check_id)i));
    }
    cr_expect_null(verify_check_name(VERIFY_CHECK_COUNT));
    cr_expect_null(verify_check_name((verify_check_id)-1));
}

Test(api, success_hands_out_the_kek_and_the_world)
{
    vt_cloud g;
    verify_result r;
    uint8_t fp[32], root[32];
    kt_err e;

    vt_cloud_make(&g, 2048);
    char *kek = vt_kek_package(&g), *world = vt_world_package(&g);
    cr_assert_eq(vt_verify(&g, kek, world, &r, &e), KT_OK, "%s", e.msg);
    cr_expect(r.ok);
    cr_expect_eq(r.failed, VERIFY_CHECK_COUNT);
    for (size_t i = 0; i < VERIFY_CHECK_COUNT; i++)
        cr_expect_eq(r.checks[i].outcome, VERIFY_PASSED, "%s", NAMES[i]);
    cr_assert(r.has_kek && r.has_world);
    cr_expect_eq(EVP_PKEY_eq(r.kek_key, g.kek), 1, "the KEK handed out is not the packaged one");
    cr_expect_str_eq(r.kek.kid, VT_KID);
    cr_assert_eq(kt_spki_sha256(g.kek, fp, &e), KT_OK);
    cr_expect_arr_eq(r.kek.public_key_sha256, fp, 32);
    cr_expect_arr_eq(r.world.world_hash, g.world_payload.world_hash, 32);
    pkg_root_sha256(root);
    cr_expect_arr_eq(r.root_sha256, root, 32);
    cr_expect_eq(r.root_is_demo, pkg_root_is_demo());
    cr_expect_eq(r.at, g.now);
    /* A caller may keep the key past the result. */
    EVP_PKEY *kept = r.kek_key;
    cr_assert_eq(EVP_PKEY_up_ref(kept), 1);
    verify_result_free(&r);
    cr_expect_null(r.kek_key);
    cr_expect_eq(EVP_PKEY_get_bits(kept), 2048);
    EVP_PKEY_free(kept);
    free(kek);
    free(world);
    vt_cloud_free(&g);
}

Test(api, a_failure_names_its_check_and_runs_nothing_after_it)
{
    vt_cloud g;
    verify_result r;
    kt_err e;

    vt_cloud_make(&g, 2048);
    g.kek_payload.exportable = true;
    char *kek = vt_kek_package(&g), *world = vt_world_package(&g);
    cr_assert_eq(vt_verify(&g, kek, world, &r, &e), KT_EDENIED);
    cr_expect_not(r.ok);
    cr_expect_eq(r.failed, VERIFY_EXPORTABLE);
    cr_expect(strncmp(e.msg, "exportable: ", 12) == 0, "%s", e.msg);
    cr_expect_eq(r.checks[VERIFY_EXPORTABLE].outcome, VERIFY_FAILED);
    cr_expect_eq(r.checks[VERIFY_EXPORTABLE].rc, KT_EDENIED);
    cr_expect_str_eq(r.checks[VERIFY_EXPORTABLE].detail, e.msg + 12);
    for (size_t i = 0; i < VERIFY_EXPORTABLE; i++)
        cr_expect_eq(r.checks[i].outcome, VERIFY_PASSED, "%s", NAMES[i]);
    for (size_t i = VERIFY_EXPORTABLE + 1; i < VERIFY_CHECK_COUNT; i++)
        cr_expect_eq(r.checks[i].outcome, VERIFY_NOT_RUN, "%s", NAMES[i]);
    /* The payload was authenticated, so its statements are reported (not trusted). */
    cr_expect(r.has_kek && r.has_world);
    verify_result_free(&r);
    free(kek);

    /* A failed signature: nothing from the payload is read at all. */
    char *other = vt_kek_package(&g), *sig = strstr(other, "\"signature\":\"") + 13;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    cr_assert_eq(vt_verify(&g, other, world, &r, &e), KT_EDENIED);
    cr_expect_eq(r.failed, VERIFY_SIGNATURE, "%s", e.msg);
    cr_expect_not(r.has_kek);
    cr_expect_not(r.has_world);
    cr_expect_null(r.kek_key);
    verify_result_free(&r);
    free(other);
    free(world);
    vt_cloud_free(&g);
}

/* The verification time decides validity, both bounds included. */
Test(api, validity_is_judged_at_the_time_given)
{
    vt_cloud g;
    verify_result r;
    kt_err e;

    vt_cloud_make(&g, 2048);
    char *kek = vt_kek_package(&g), *world = vt_world_package(&g);
    uint64_t nb = g.now - 3600, na = g.now + 5 * 365 * 86400;
    struct {
        uint64_t at;
        kt_rc want;
    } times[] = {{nb, KT_OK}, {nb - 1, KT_EDENIED}, {na, KT_OK}, {na + 1, KT_EDENIED}};

    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        kt_rc rc = verify_packages((const uint8_t *)kek, strlen(kek), (const uint8_t *)world,
                                   strlen(world), times[i].at, &r, &e);

        cr_expect_eq(rc, times[i].want, "at %llu: %s", (unsigned long long)times[i].at, e.msg);
        if (rc != KT_OK)
            cr_expect_eq(r.failed, VERIFY_CHAIN, "%s", e.msg);
        verify_result_free(&r);
    }
    free(kek);
    free(world);
    vt_cloud_free(&g);
}

Test(api, files_are_read_carefully)
{
    vt_cloud g;
    verify_result r;
    kt_err e;
    char *dir = ts_scratch(), *kek_path = ts_path(dir, "kek"), *world_path = ts_path(dir, "world"),
         *missing = ts_path(dir, "missing"), *link = ts_path(dir, "link"),
         *big = ts_path(dir, "big");

    vt_cloud_make(&g, 2048);
    char *kek = vt_kek_package(&g), *world = vt_world_package(&g);
    ts_write(kek_path, kek, strlen(kek));
    ts_write(world_path, world, strlen(world));
    cr_expect_eq(verify_package_files(kek_path, world_path, g.now, &r, &e), KT_OK, "%s", e.msg);
    verify_result_free(&r);

    /* Not a verdict: nothing ran, exit 4. */
    cr_expect_eq(verify_package_files(missing, world_path, g.now, &r, &e), KT_ENOENT);
    cr_expect_eq(r.failed, VERIFY_CHECK_COUNT);
    cr_expect_eq(r.checks[VERIFY_FORMAT].outcome, VERIFY_NOT_RUN);
    cr_expect(strstr(e.msg, missing) != NULL, "%s", e.msg);
    verify_result_free(&r);
    cr_expect_eq(verify_package_files(kek_path, missing, g.now, &r, &e), KT_ENOENT);
    verify_result_free(&r);
    cr_expect_eq(verify_package_files(kek_path, dir, g.now, &r, &e) != KT_OK, 1);
    cr_expect_eq(kt_rc_exit(e.rc), KT_EXIT_IO, "a folder: %s", e.msg);
    verify_result_free(&r);
    cr_assert_eq(symlink(kek_path, link), 0);
    cr_expect_neq(verify_package_files(link, world_path, g.now, &r, &e), KT_OK,
                  "a symlink was followed");
    verify_result_free(&r);

    /* Over the size cap: malformed input, the format check's verdict (exit 3). */
    size_t n = PKG_JWS_MAX + 1;
    char *pad = malloc(n);
    cr_assert_not_null(pad);
    memset(pad, ' ', n);
    memcpy(pad, kek, strlen(kek));
    ts_write(big, pad, n);
    cr_expect_eq(verify_package_files(big, world_path, g.now, &r, &e), KT_ETOOBIG);
    cr_expect_eq(r.failed, VERIFY_FORMAT, "%s", e.msg);
    verify_result_free(&r);
    cr_expect_eq(verify_package_files(kek_path, big, g.now, &r, &e), KT_ETOOBIG);
    cr_expect_eq(r.failed, VERIFY_FORMAT, "%s", e.msg);
    cr_expect(strstr(e.msg, "world package") != NULL, "%s", e.msg);
    verify_result_free(&r);
    /* Exactly at the cap (the package and JSON whitespace) is a package like any other. */
    ts_write(big, pad, n - 1);
    cr_expect_eq(verify_package_files(big, world_path, g.now, &r, &e), KT_OK, "%s", e.msg);
    verify_result_free(&r);

    free(pad);
    free(kek);
    free(world);
    free(kek_path);
    free(world_path);
    free(missing);
    free(link);
    free(big);
    vt_cloud_free(&g);
    ts_rmrf(dir);
}

Test(api, json_report)
{
    vt_cloud g;
    verify_result r;
    json_t *v = NULL;
    char groups[80];
    kt_err e;

    vt_cloud_make(&g, 2048);
    g.kek_payload.n_key_ops = 0;
    char *kek = vt_kek_package(&g), *world = vt_world_package(&g);
    cr_assert_eq(vt_verify(&g, kek, world, &r, &e), KT_EDENIED);
    cr_assert_eq(verify_result_json(&r, &v, &e), KT_OK, "%s", e.msg);
    cr_expect_str_eq(json_string_value(json_object_get(v, "format")), VERIFY_REPORT_FORMAT);
    cr_expect_str_eq(json_string_value(json_object_get(v, "result")), "FAILURE");
    cr_expect_str_eq(json_string_value(json_object_get(v, "failed_check")), "key-ops");
    cr_expect_eq(json_integer_value(json_object_get(v, "exit_status")), 1);
    cr_expect(strncmp(json_string_value(json_object_get(v, "reason")), "key-ops: ", 9) == 0);
    kt_hex_groups(groups, sizeof groups, r.root_sha256, 32);
    json_t *root = json_object_get(v, "root");
    cr_expect_str_eq(json_string_value(json_object_get(root, "sha256_groups")), groups);
    cr_expect_eq(json_is_true(json_object_get(root, "demo")), pkg_root_is_demo());
    cr_expect_eq(json_array_size(json_object_get(v, "checks")), VERIFY_CHECK_COUNT);
    json_t *ck = json_array_get(json_object_get(v, "checks"), VERIFY_KEY_OPS);
    cr_expect_str_eq(json_string_value(json_object_get(ck, "result")), "fail");
    ck = json_array_get(json_object_get(v, "checks"), VERIFY_EXPORTABLE);
    cr_expect_str_eq(json_string_value(json_object_get(ck, "result")), "not-run");
    json_t *k = json_object_get(v, "kek");
    cr_expect_str_eq(json_string_value(json_object_get(k, "kid")), VT_KID);
    cr_expect_eq(json_integer_value(json_object_get(k, "key_size")), 2048);
    cr_expect_eq(json_array_size(json_object_get(k, "key_ops")), 0);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(v, "world"), "region")),
                     "NA");
    json_decref(v);
    verify_result_free(&r);
    free(kek);

    /* Before the payloads are read there are no facts: kek and world are null. */
    cr_assert_eq(vt_verify(&g, "{", world, &r, &e), KT_EFORMAT);
    cr_assert_eq(verify_result_json(&r, &v, &e), KT_OK);
    cr_expect(json_is_null(json_object_get(v, "kek")));
    cr_expect(json_is_null(json_object_get(v, "world")));
    cr_expect_eq(json_integer_value(json_object_get(v, "exit_status")), 3);
    json_decref(v);
    verify_result_free(&r);
    free(world);
    vt_cloud_free(&g);
}

/* The ROOT_SHA256 = "..." constant of a verifykeypackage.py, as 32 bytes. */
static void script_constant(const char *path, const char *name, uint8_t out[32])
{
    size_t n;
    char *text = (char *)ts_read(path, &n), pattern[128], hex[65];
    regex_t re;
    regmatch_t m[2];
    kt_err e;

    snprintf(pattern, sizeof pattern, "\n%s = \"([0-9a-f]{64})\"\n", name);
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    cr_assert_eq(regexec(&re, text, 2, m, 0), 0, "%s holds no line %s = \"<64 hex>\"", path, name);
    memcpy(hex, text + m[1].rm_so, 64);
    /* From the newline that ended the match: a second such line would match too. */
    cr_assert_eq(regexec(&re, text + m[0].rm_eo - 1, 2, m, 0), REG_NOMATCH, "%s holds %s twice",
                 path, name);
    hex[64] = '\0';
    cr_assert_eq(kt_unhex(out, 32, hex, &e), KT_OK);
    regfree(&re);
    free(text);
}

/* The Python verifier trusts exactly the root this build trusts; the source copy, the DEMO. */
Test(api, python_root_constant_is_this_build_s)
{
    uint8_t root[32], demo[32], got[32];
    const char *slash = strrchr(__FILE__, '/');
    char *source;

    pkg_root_sha256(root);
    pkg_demo_root_sha256(demo);
    script_constant(vt_script(), "ROOT_SHA256", got);
    cr_expect_arr_eq(got, root, 32, "the built verifykeypackage.py trusts another root");
    script_constant(vt_script(), "DEMO_ROOT_SHA256", got);
    cr_expect_arr_eq(got, demo, 32);
    cr_assert(asprintf(&source, "%.*s/../../verify/verifykeypackage.py", (int)(slash - __FILE__),
                       __FILE__) > 0);
    script_constant(source, "ROOT_SHA256", got);
    cr_expect_arr_eq(got, demo, 32, "the source verifykeypackage.py must trust the DEMO root");
    script_constant(source, "DEMO_ROOT_SHA256", got);
    cr_expect_arr_eq(got, demo, 32);
    free(source);
}

/* And it says so when run, loudly, as the C verifier does. */
Test(api, python_warns_about_the_demo_root)
{
    vt_need_python();
    vt_cloud g;
    char *dir = ts_scratch(), *kek_path = ts_path(dir, "kek"), *world_path = ts_path(dir, "world");
    int st;

    vt_cloud_make(&g, 2048);
    char *kek = vt_kek_package(&g), *world = vt_world_package(&g);
    ts_write(kek_path, kek, strlen(kek));
    ts_write(world_path, world, strlen(world));
    char *out =
        vt_capture(&st, "%s %s -k %s -w %s 2>&1", VT_PYTHON, vt_script(), kek_path, world_path);
    cr_expect_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "Result: SUCCESS\n") != NULL, "%s", out);
    cr_expect(strstr(out, "151C67AF EC1B75AF 01C18DFB BF379286") != NULL || !pkg_root_is_demo(),
              "%s", out);
    if (pkg_root_is_demo())
        cr_expect(strstr(out, "WARNING: this script trusts the keytransfer DEMO vendor root") !=
                      NULL,
                  "%s", out);
    free(out);
    out =
        vt_capture(&st, "%s -c 'import cryptography; print(cryptography.__version__)'", VT_PYTHON);
    cr_log_info("python3-cryptography %s", out);
    free(out);
    free(kek);
    free(world);
    free(kek_path);
    free(world_path);
    vt_cloud_free(&g);
    ts_rmrf(dir);
}
