/*
 * fuzz_verify.c - libFuzzer target for package verification (verify_packages). The first byte
 * picks the role of the rest: even, it is the KEK package beside a fixed genuine world package;
 * odd, it is the world package beside a fixed genuine KEK package. The fixed pair is made at
 * start-up as kek/ makes one (DEMO root, module warrant 0123-4567-89AB, attestation key, RSA-2048
 * KEK, world hash 0xa7...), and the seeds are genuine packages of the same shape under other
 * keys, so mutations start from packages that pass every check. Whatever the input, the result
 * must be coherent: a success only with every check passed and a KEK key handed out; a failure
 * with exactly one failed check, every earlier one passed and none run after it; no payload fact
 * before both signatures verified; and a JSON report.
 *
 * The seeds in tests/fuzz/seeds/fuzz_verify/ were written by this target:
 *     FUZZ_VERIFY_WRITE_SEEDS=tests/fuzz/seeds/fuzz_verify ./fuzz_verify -runs=0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "verify.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ESN        "0123-4567-89AB"
#define NOT_BEFORE UINT64_C(1735689600) /* 2025-01-01T00:00:00Z, the DEMO root's own start */
#define NOT_AFTER  UINT64_C(2366841600) /* 2045-01-01T00:00:00Z, its end */
#define NOW        UINT64_C(1780272000) /* 2026-06-01T00:00:00Z: a fixed time, fixed verdicts */

static char *genuine_kek, *genuine_world;

static void die(const char *what, const kt_err *e)
{
    fprintf(stderr, "fuzz_verify: %s: %s\n", what, e != NULL ? e->msg : "failed");
    abort();
}

static X509 *issue(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key, const char *cn, bool ca)
{
    pkg_cert_opts o = {.issuer = issuer,
                       .issuer_key = issuer_key,
                       .subject_key = key,
                       .cn = cn,
                       .org = ca ? "keytransfer demo HSM vendor" : NULL,
                       .serial_number = ESN,
                       .not_before = NOT_BEFORE,
                       .not_after = NOT_AFTER,
                       .is_ca = ca,
                       .path_len = ca ? 0 : -1,
                       .key_usage = ca ? PKG_KU_KEY_CERT_SIGN | PKG_KU_DIGITAL_SIGNATURE
                                       : PKG_KU_DIGITAL_SIGNATURE,
                       .ext_key_usage = ca ? NULL : PKG_EKU_ATTESTATION_OID};
    X509 *x = NULL;
    kt_err e;

    if (pkg_x509_issue(&o, &x, &e) != KT_OK)
        die("issuing a certificate", &e);
    return x;
}

/* A genuine KEK package and world package under fresh warrant, attestation and KEK keys. */
static void make_pair(char **kek_pkg, char **world_pkg)
{
    X509 *root = NULL, *warrant, *leaf;
    EVP_PKEY *root_key = NULL, *wk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
             *lk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
             *kek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    pkg_kek_payload k;
    pkg_world_payload w;
    char *json = NULL;
    kt_err e;

    if (wk == NULL || lk == NULL || kek == NULL)
        die("making keys", NULL);
    if (pkg_x509_load_pem(KT_DEMO_ROOT_CERT, &root, &e) != KT_OK ||
        pkg_key_load_pem(KT_DEMO_ROOT_KEY, &root_key, &e) != KT_OK)
        die("loading the DEMO root", &e);
    warrant = issue(root, root_key, wk, "keytransfer DEMO module warrant " ESN, true);
    leaf = issue(warrant, wk, lk, "module " ESN " attestation key", false);
    X509 *chain[3] = {leaf, warrant, root};

    memset(&k, 0, sizeof k);
    snprintf(k.kid, sizeof k.kid, "%s",
             "https://keytransfer-demo-na.vault.azure.net/keys/KEKforBYOK/"
             "0123456789abcdef0123456789abcdef");
    if (pkg_kek_payload_set_key(&k, kek, &e) != KT_OK)
        die("the KEK payload", &e);
    snprintf(k.key_ops[0], sizeof k.key_ops[0], "import");
    k.n_key_ops = 1;
    snprintf(k.module_esn, sizeof k.module_esn, ESN);
    snprintf(k.region, sizeof k.region, "NA");
    memset(k.world_hash, 0xa7, sizeof k.world_hash);
    k.created = NOT_BEFORE + 86400;
    if (pkg_kek_payload_build(&k, &json, &e) != KT_OK ||
        pkg_jws_sign((const uint8_t *)json, strlen(json), lk, chain, 3, kek_pkg, &e) != KT_OK)
        die("signing the KEK package", &e);
    free(json);
    pkg_kek_payload_free(&k);

    memset(&w, 0, sizeof w);
    memset(w.world_hash, 0xa7, sizeof w.world_hash);
    snprintf(w.region, sizeof w.region, "NA");
    snprintf(w.cipher_suite, sizeof w.cipher_suite, "KTv1-Ed25519-XChaCha20Poly1305-Argon2id");
    snprintf(w.module_esns[0], sizeof w.module_esns[0], ESN);
    w.n_module_esns = 1;
    w.created = NOT_BEFORE + 3600;
    if (pkg_world_payload_build(&w, &json, &e) != KT_OK ||
        pkg_jws_sign((const uint8_t *)json, strlen(json), lk, chain, 3, world_pkg, &e) != KT_OK)
        die("signing the world package", &e);
    free(json);

    X509_free(leaf);
    X509_free(warrant);
    X509_free(root);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(wk);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(kek);
}

static void write_seed(const char *dir, const char *name, uint8_t role, const char *pkg)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(&role, 1, 1, f) != 1 || fwrite(pkg, 1, strlen(pkg), f) != strlen(pkg) ||
        fclose(f) != 0)
        die(path, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("FUZZ_VERIFY_WRITE_SEEDS");
    verify_result r;
    kt_err e;

    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        die("sodium_init", NULL);
    make_pair(&genuine_kek, &genuine_world);
    if (verify_packages((const uint8_t *)genuine_kek, strlen(genuine_kek),
                        (const uint8_t *)genuine_world, strlen(genuine_world), NOW, &r,
                        &e) != KT_OK)
        die("the fixed pair does not verify", &e);
    verify_result_free(&r);
    if (seeds != NULL) {
        char *kek = NULL, *world = NULL;

        make_pair(&kek, &world);
        write_seed(seeds, "kek-package", 0, kek);
        write_seed(seeds, "world-package", 1, world);
        free(kek);
        free(world);
    }
    return 0;
}

/* The invariants of a result, whatever the input. */
static void check_result(kt_rc rc, const verify_result *r)
{
    json_t *report = NULL;
    kt_err e;

    if (rc == KT_OK) {
        if (!r->ok || r->failed != VERIFY_CHECK_COUNT || r->kek_key == NULL || !r->has_kek ||
            !r->has_world || EVP_PKEY_get_base_id(r->kek_key) != EVP_PKEY_RSA)
            abort();
        for (size_t i = 0; i < VERIFY_CHECK_COUNT; i++) {
            if (r->checks[i].outcome != VERIFY_PASSED)
                abort();
        }
    } else {
        if (r->ok || r->failed >= VERIFY_CHECK_COUNT || r->checks[r->failed].rc != rc)
            abort();
        for (size_t i = 0; i < VERIFY_CHECK_COUNT; i++) {
            verify_outcome want = i < (size_t)r->failed    ? VERIFY_PASSED
                                  : i == (size_t)r->failed ? VERIFY_FAILED
                                                           : VERIFY_NOT_RUN;
            if (r->checks[i].outcome != want)
                abort();
        }
        /* Nothing from a payload before both signatures verified. */
        if (r->failed <= VERIFY_WORLD_SIGNATURE && (r->has_kek || r->has_world || r->kek_key))
            abort();
    }
    if (verify_result_json(r, &report, &e) != KT_OK || report == NULL)
        abort();
    json_decref(report);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    verify_result r;
    kt_err e;
    kt_rc rc;

    if (size < 1)
        return 0;
    if ((data[0] & 1) == 0)
        rc = verify_packages(data + 1, size - 1, (const uint8_t *)genuine_world,
                             strlen(genuine_world), NOW, &r, &e);
    else
        rc = verify_packages((const uint8_t *)genuine_kek, strlen(genuine_kek), data + 1, size - 1,
                             NOW, &r, &e);
    check_result(rc, &r);
    verify_result_free(&r);
    return 0;
}
