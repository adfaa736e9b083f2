/*
 * cmd_verify.c - `keytransfer verify -k KEKPKG -w WORLDPKG [--json]`: checks that a cloud's KEK
 * package and world package were made inside a genuine vendor HSM under the root whose hash is
 * compiled into this program (verify/), prints every check, the embedded root hash as vendors
 * publish it, the KEK and the target world, then "Result: SUCCESS" or "Result: FAILURE: why".
 */
#include "commands.h"
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cli_opt verify_opts[] = {
    {'k', "kek-package", CLI_VALUE, "FILE", "the KEK package (e.g. BYOK-KEK-pkg-NA-1) (required)"},
    {'w', "world-package", CLI_VALUE, "FILE",
     "the security world package (e.g.\nBYOK-SecurityWorld-pkg-NA-1) (required)"},
    {OPT_JSON, "json", CLI_FLAG, NULL, "print the report as JSON"},
    {0},
};

static const cli_cmd verify_cmd = {
    .name = "verify",
    .synopsis = "-k KEKPKG -w WORLDPKG [--json]",
    .about = "Check that a cloud's key exchange key (KEK) and its security world were attested "
             "by a\ngenuine vendor HSM under the root whose hash is built into this program, that "
             "the KEK is an\nRSA-HSM key that can only import and never be exported, and that it "
             "belongs to that world.\nCompare the root hash printed with the one your HSM vendor "
             "publishes.",
    .opts = verify_opts,
    .footer = "Exit status: 0 verified, 1 a check failed, 2 usage, 3 malformed package, 4 "
              "unreadable file.",
};

typedef struct verify_args {
    const char *kek, *world;
    bool json;
} verify_args;

static const char DEMO_WARNING[] =
    "keytransfer: WARNING: this build trusts the keytransfer DEMO vendor root, whose private key\n"
    "keytransfer: WARNING: is public. Anyone can make packages that pass these checks, so this\n"
    "keytransfer: WARNING: verification proves nothing. For real use, build with\n"
    "keytransfer: WARNING: -DKEYTRANSFER_ROOT_SHA256=<the root hash your HSM vendor publishes>.\n";

/* 1. Options. Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, verify_args *a)
{
    cli_args c;
    int status = cli_parse(&verify_cmd, argc, argv, &c);

    memset(a, 0, sizeof *a);
    if (status >= 0)
        return status;
    a->kek = cli_value(&c, 'k');
    a->world = cli_value(&c, 'w');
    a->json = cli_flag(&c, OPT_JSON);
    cli_args_free(&c);
    if (a->kek == NULL || a->world == NULL)
        return cli_usage(verify_cmd.name, "give the KEK package with -k FILE and the world "
                                          "package with -w FILE");
    return -1;
}

/* 4. Output: the human report. */
static void print_report(const verify_args *a, const verify_result *r)
{
    static const char *const outcome[] = {"not run", "pass", "FAIL"};
    char groups[80], hex[65];

    kt_hex_groups(groups, sizeof groups, r->root_sha256, 32);
    printf("KEK package:    %s\n"
           "World package:  %s\n"
           "\n"
           "Vendor root key hash embedded in this verifier (SHA-256 of its SubjectPublicKeyInfo);\n"
           "compare it with the hash your HSM vendor publishes:\n"
           "    %s\n",
           a->kek, a->world, groups);
    if (r->root_is_demo)
        printf("    This is the keytransfer DEMO root: its private key is public, so this\n"
               "    verification proves nothing.\n");
    printf("\nChecks:\n");
    for (size_t i = 0; i < VERIFY_CHECK_COUNT; i++) {
        const verify_check *ck = &r->checks[i];

        if (ck->outcome == VERIFY_NOT_RUN)
            printf("    %-8s %s\n", outcome[ck->outcome], verify_check_name((verify_check_id)i));
        else
            printf("    %-8s %-16s %s\n", outcome[ck->outcome],
                   verify_check_name((verify_check_id)i), ck->detail);
    }
    if (r->has_kek) {
        printf("\nKEK (as its package states it%s):\n", r->ok ? ", verified" : "");
        kt_hex(hex, r->kek.public_key_sha256, 32);
        printf("    kid          %s\n"
               "    type         %s, %lld bits\n"
               "    fingerprint  %s (SHA-256 of its SubjectPublicKeyInfo)\n"
               "    module       %s\n"
               "    region       %s\n",
               r->kek.kid, r->kek.kty, (long long)r->kek.key_size, hex, r->kek.module_esn,
               r->kek.region);
    }
    if (r->has_world) {
        printf("\nTarget security world (as its package states it%s):\n",
               r->ok ? ", verified" : "");
        kt_hex(hex, r->world.world_hash, 32);
        printf("    world hash   %s\n"
               "    region       %s\n"
               "    cipher suite %s\n"
               "    modules      ",
               hex, r->world.region, r->world.cipher_suite);
        for (size_t i = 0; i < r->world.n_module_esns; i++)
            printf("%s%s", i ? ", " : "", r->world.module_esns[i]);
        printf("\n");
    }
    if (r->ok)
        printf("\nResult: SUCCESS\n");
    else
        printf("\nResult: FAILURE: %s: %s\n", verify_check_name(r->failed),
               r->checks[r->failed].detail);
}

/* 4. Output: the JSON report, with the file names and this verifier's name added. */
static int print_json(const verify_args *a, const verify_result *r)
{
    json_t *v = NULL;
    kt_err e;

    if (verify_result_json(r, &v, &e) != KT_OK)
        return cli_report(&e);
    if (json_object_set_new(v, "kek_package", json_string(a->kek)) != 0 ||
        json_object_set_new(v, "world_package", json_string(a->world)) != 0 ||
        json_object_set_new(v, "verifier", json_string("keytransfer verify " KT_VERSION)) != 0) {
        json_decref(v);
        return cli_report(&(kt_err){KT_ENOMEM, "out of memory building the JSON report"});
    }
    return cli_print_json(v);
}

int cmd_verify(int argc, char **argv)
{
    verify_args a;
    verify_result r;
    kt_err e;
    int status = parse_args(argc, argv, &a);

    /* 1. options */
    if (status >= 0)
        return status;
    if (pkg_root_is_demo())
        fputs(DEMO_WARNING, stderr);

    /* 2. inputs and 3. operation: read both files, run every check up to the first failure */
    kt_err_clear(&e);
    kt_rc rc = verify_package_files(a.kek, a.world, (uint64_t)time(NULL), &r, &e);
    if (rc != KT_OK && r.failed == VERIFY_CHECK_COUNT) {
        /* Not a verdict: a file could not be read. */
        verify_result_free(&r);
        return cli_report(&e);
    }

    /* 4. output */
    if (a.json) {
        status = print_json(&a, &r);
    } else {
        print_report(&a, &r);
        status = KT_EXIT_OK;
    }
    if (status == KT_EXIT_OK)
        status = rc == KT_OK ? KT_EXIT_OK : kt_rc_exit(rc);
    if (fflush(stdout) != 0 && status == KT_EXIT_OK)
        status = KT_EXIT_IO;
    verify_result_free(&r);
    return status;
}
