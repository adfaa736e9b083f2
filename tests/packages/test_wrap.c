/*
 * test_wrap.c - CKM_RSA_AES_KEY_WRAP and its halves: the Wycheproof AES-KWP and RSA-OAEP vectors
 * (every valid case exact, every invalid case refused), round trips for every KEK size and both
 * OAEP hashes with the exact layout, each tampering refused, and interoperability proven by
 * programs that are not ours: the `openssl` command and pyca/cryptography open our blobs, and we
 * open a blob the `openssl` command made.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "pkgtest.h"

/* ----------------------------------------------------------------------------------------- */
/* Known answers                                                                              */
/* ----------------------------------------------------------------------------------------- */

Test(kwp, rfc5649_vectors)
{
    /* RFC 5649 §6, with a 192-bit KEK. */
    static const char *kek = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8";
    static const char *const cases[][2] = {
        {"c37b7e6492584340bed12207808941155068f738",
         "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
        {"466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
    };
    size_t kn, pn, cn;
    uint8_t *k = pt_unhex(kek, &kn);
    kt_err e;

    for (size_t i = 0; i < 2; i++) {
        uint8_t *p = pt_unhex(cases[i][0], &pn), *c = pt_unhex(cases[i][1], &cn);
        kt_buf out = {0};
        kt_secbuf back = {0};

        cr_assert_eq(pkg_aes_kwp_wrap(k, kn, p, pn, &out, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(out.len, cn);
        cr_assert_arr_eq(out.p, c, cn);
        cr_assert_eq(pkg_aes_kwp_unwrap(k, kn, c, cn, &back, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(back.len, pn);
        cr_assert_arr_eq(back.p, p, pn);
        /* Negative twin: one flipped bit anywhere fails the integrity check. */
        for (size_t j = 0; j < cn; j++) {
            c[j] ^= 0x01;
            kt_secbuf_free(&back);
            cr_assert_eq(pkg_aes_kwp_unwrap(k, kn, c, cn, &back, &e), KT_EDENIED, "byte %zu", j);
            cr_assert_null(back.p);
            c[j] ^= 0x01;
        }
        kt_buf_free(&out);
        free(p);
        free(c);
    }
    free(k);
}

Test(kwp, wycheproof_all_key_sizes)
{
    json_t *v = pt_vectors("aes_kwp_test.json"), *g, *t;
    size_t gi, ti, valid = 0, invalid = 0;

    json_array_foreach(json_object_get(v, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            const char *result = json_string_value(json_object_get(t, "result"));
            int id = (int)json_integer_value(json_object_get(t, "tcId"));
            size_t kn, mn, cn;
            uint8_t *k = pt_unhex(json_string_value(json_object_get(t, "key")), &kn);
            uint8_t *m = pt_unhex(json_string_value(json_object_get(t, "msg")), &mn);
            uint8_t *c = pt_unhex(json_string_value(json_object_get(t, "ct")), &cn);
            kt_buf w = {0};
            kt_secbuf u = {0};
            kt_err e;

            if (strcmp(result, "valid") == 0) {
                cr_assert_eq(pkg_aes_kwp_wrap(k, kn, m, mn, &w, &e), KT_OK, "tc %d: %s", id, e.msg);
                cr_assert_eq(w.len, cn, "tc %d", id);
                cr_assert_arr_eq(w.p, c, cn, "tc %d: wrap differs", id);
                cr_assert_eq(pkg_aes_kwp_unwrap(k, kn, c, cn, &u, &e), KT_OK, "tc %d: %s", id,
                             e.msg);
                cr_assert_eq(u.len, mn, "tc %d", id);
                cr_assert_arr_eq(u.p, m, mn, "tc %d: unwrap differs", id);
                valid++;
            } else {
                cr_assert_str_eq(result, "invalid", "tc %d", id);
                cr_assert_neq(pkg_aes_kwp_unwrap(k, kn, c, cn, &u, &e), KT_OK,
                              "tc %d: an invalid case was accepted", id);
                cr_assert_null(u.p);
                invalid++;
            }
            kt_buf_free(&w);
            kt_secbuf_free(&u);
            free(k);
            free(m);
            free(c);
        }
    }
    cr_log_info("AES-KWP Wycheproof: %zu valid, %zu invalid", valid, invalid);
    cr_assert_eq(valid, 77);
    cr_assert_eq(invalid, 177);
    json_decref(v);
}

static void oaep_file(const char *file, pkg_oaep_hash hash, size_t want_cases)
{
    json_t *v = pt_vectors(file), *g, *t;
    size_t gi, ti, n = 0;

    json_array_foreach(json_object_get(v, "testGroups"), gi, g)
    {
        size_t dn;
        uint8_t *der = pt_unhex(json_string_value(json_object_get(g, "privateKeyPkcs8")), &dn);
        EVP_PKEY *key = NULL;
        kt_err e;

        cr_assert_eq(kt_pkcs8_decode(der, dn, &key, &e), KT_OK, "%s", e.msg);
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            const char *result = json_string_value(json_object_get(t, "result"));
            const char *label = json_string_value(json_object_get(t, "label"));
            int id = (int)json_integer_value(json_object_get(t, "tcId"));
            size_t mn, cn;
            uint8_t *m = pt_unhex(json_string_value(json_object_get(t, "msg")), &mn);
            uint8_t *c = pt_unhex(json_string_value(json_object_get(t, "ct")), &cn);
            kt_secbuf out = {0};
            kt_rc rc = pkg_rsa_oaep_decrypt(key, hash, c, cn, &out, &e);

            if (strcmp(result, "valid") == 0 && label[0] == '\0') {
                cr_assert_eq(rc, KT_OK, "%s tc %d: %s", file, id, e.msg);
                cr_assert_eq(out.len, mn, "%s tc %d", file, id);
                cr_assert_arr_eq(out.p, m, mn, "%s tc %d", file, id);
            } else if (strcmp(result, "valid") == 0) {
                /* Encrypted with a label: our path's label is empty, so it must refuse. */
                cr_assert_eq(rc, KT_EDENIED, "%s tc %d: a labelled ciphertext was accepted", file,
                             id);
            } else if (strcmp(result, "invalid") == 0) {
                cr_assert_neq(rc, KT_OK, "%s tc %d: an invalid case was accepted", file, id);
                cr_assert_null(out.p);
            } /* "acceptable": either answer */
            kt_secbuf_free(&out);
            free(m);
            free(c);
            n++;
        }
        EVP_PKEY_free(key);
        free(der);
    }
    cr_assert_eq(n, want_cases, "%s: %zu cases", file, n);
    json_decref(v);
}

Test(oaep, wycheproof_2048_sha1)
{
    oaep_file("rsa_oaep_2048_sha1_mgf1sha1_test.json", PKG_OAEP_SHA1, 36);
}

Test(oaep, wycheproof_sha256_all_sizes)
{
    oaep_file("rsa_oaep_2048_sha256_mgf1sha256_test.json", PKG_OAEP_SHA256, 37);
    oaep_file("rsa_oaep_3072_sha256_mgf1sha256_test.json", PKG_OAEP_SHA256, 37);
    oaep_file("rsa_oaep_4096_sha256_mgf1sha256_test.json", PKG_OAEP_SHA256, 37);
}

Test(oaep, sha1_vectors_refused_with_sha256)
{
    /* The other hash on the same valid ciphertexts: every one refused. */
    json_t *v = pt_vectors("rsa_oaep_2048_sha1_mgf1sha1_test.json"),
           *g = json_array_get(json_object_get(v, "testGroups"), 0), *t;
    size_t dn, ti;
    uint8_t *der = pt_unhex(json_string_value(json_object_get(g, "privateKeyPkcs8")), &dn);
    EVP_PKEY *key = NULL;
    kt_err e;

    cr_assert_eq(kt_pkcs8_decode(der, dn, &key, &e), KT_OK, "%s", e.msg);
    json_array_foreach(json_object_get(g, "tests"), ti, t)
    {
        size_t cn;
        uint8_t *c = pt_unhex(json_string_value(json_object_get(t, "ct")), &cn);
        kt_secbuf out = {0};

        cr_assert_neq(pkg_rsa_oaep_decrypt(key, PKG_OAEP_SHA256, c, cn, &out, &e), KT_OK);
        free(c);
    }
    EVP_PKEY_free(key);
    free(der);
    json_decref(v);
}

/* ----------------------------------------------------------------------------------------- */
/* Round trips and layout                                                                     */
/* ----------------------------------------------------------------------------------------- */

static const unsigned SIZES[] = {2048, 3072, 4096};
static const pkg_oaep_hash HASHES[] = {PKG_OAEP_SHA1, PKG_OAEP_SHA256};

Test(wrap, round_trip_every_kek_size_and_hash)
{
    /* Targets of the three kinds: AES-256 raw, EC P-384 PKCS#8, RSA-2048 PKCS#8. */
    EVP_PKEY *ec = pt_ec_key("P-384"), *rsa = pt_kek(0);
    kt_secbuf targets[3] = {{0}};
    kt_err e;

    cr_assert_eq(kt_secbuf_alloc(&targets[0], 32, &e), KT_OK);
    kt_random(targets[0].p, 32);
    cr_assert_eq(kt_pkcs8_encode(ec, &targets[1], &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_pkcs8_encode(rsa, &targets[2], &e), KT_OK, "%s", e.msg);
    for (size_t s = 0; s < 3; s++) {
        EVP_PKEY *kek = pt_kek(SIZES[s]);
        size_t mod = SIZES[s] / 8;

        cr_assert_eq(pkg_rsa_modulus_len(kek), mod);
        for (size_t h = 0; h < 2; h++) {
            for (size_t t = 0; t < 3; t++) {
                kt_buf blob = {0};
                kt_secbuf back = {0};
                size_t n = targets[t].len;

                cr_assert_eq(pkg_rsa_aes_wrap(kek, HASHES[h], targets[t].p, n, &blob, &e), KT_OK,
                             "%s", e.msg);
                /* RSA part exactly the modulus, then RFC 5649: 8 + 8*ceil(n/8). */
                cr_assert_eq(blob.len, mod + 8 + (n + 7) / 8 * 8, "RSA-%u %s target %zu", SIZES[s],
                             pkg_oaep_hash_name(HASHES[h]), t);
                cr_assert_eq(pkg_rsa_aes_unwrap(kek, HASHES[h], blob.p, blob.len, &back, &e), KT_OK,
                             "%s", e.msg);
                cr_assert_eq(back.len, n);
                cr_assert_arr_eq(back.p, targets[t].p, n);
                /* The RSA part alone opens to a 32-byte key under the same hash. */
                kt_secbuf k = {0};
                cr_assert_eq(pkg_rsa_oaep_decrypt(kek, HASHES[h], blob.p, mod, &k, &e), KT_OK);
                cr_assert_eq(k.len, 32);
                kt_secbuf_free(&k);
                kt_secbuf_free(&back);
                kt_buf_free(&blob);
            }
        }
        EVP_PKEY_free(kek);
    }
    for (size_t t = 0; t < 3; t++)
        kt_secbuf_free(&targets[t]);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

Test(wrap, fresh_key_every_time)
{
    EVP_PKEY *kek = pt_kek(2048);
    uint8_t target[32] = {1, 2, 3};
    kt_buf a = {0}, b = {0};
    kt_err e;

    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, target, 32, &a, &e), KT_OK);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, target, 32, &b, &e), KT_OK);
    cr_assert_eq(a.len, b.len);
    /* Both parts differ: a new AES key (KWP part) and new OAEP randomness (RSA part). */
    cr_assert_neq(memcmp(a.p, b.p, 256), 0);
    cr_assert_neq(memcmp(a.p + 256, b.p + 256, a.len - 256), 0);
    kt_buf_free(&a);
    kt_buf_free(&b);
    EVP_PKEY_free(kek);
}

/* ----------------------------------------------------------------------------------------- */
/* Tampering                                                                                  */
/* ----------------------------------------------------------------------------------------- */

static void wrap_fixture(EVP_PKEY *kek, pkg_oaep_hash h, kt_buf *blob, uint8_t target[100])
{
    kt_err e;

    for (int i = 0; i < 100; i++)
        target[i] = (uint8_t)(i * 7);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, h, target, 100, blob, &e), KT_OK, "%s", e.msg);
}

static kt_rc try_unwrap(EVP_PKEY *kek, pkg_oaep_hash h, const uint8_t *p, size_t n, kt_err *e)
{
    kt_secbuf out = {0};
    kt_rc rc = pkg_rsa_aes_unwrap(kek, h, p, n, &out, e);

    if (rc != KT_OK)
        cr_assert_null(out.p, "a refused unwrap left output behind");
    else
        cr_log_info("unexpected success");
    kt_secbuf_free(&out);
    return rc;
}

Test(unwrap, refuses_truncated_blobs)
{
    EVP_PKEY *kek = pt_kek(2048);
    uint8_t target[100];
    kt_buf blob = {0};
    kt_err e;

    wrap_fixture(kek, PKG_OAEP_SHA1, &blob, target);
    /* Cut anywhere: a byte, a block, to the RSA part, into the RSA part, nothing. */
    const size_t cuts[] = {1,       7, 8, 9, blob.len - 256 - 8, blob.len - 256, blob.len - 100,
                           blob.len};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        kt_rc rc = try_unwrap(kek, PKG_OAEP_SHA1, blob.p, blob.len - cuts[i], &e);

        cr_assert(rc == KT_EFORMAT || rc == KT_EDENIED, "cut %zu: %s", cuts[i], kt_rc_name(rc));
        cr_log_info("cut %zu: %s", cuts[i], e.msg);
    }
    cr_assert_eq(try_unwrap(kek, PKG_OAEP_SHA1, blob.p, blob.len - 1, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "256-byte RSA part") != NULL, "%s", e.msg);
    kt_buf_free(&blob);
    EVP_PKEY_free(kek);
}

Test(unwrap, refuses_a_flipped_byte_in_each_part)
{
    EVP_PKEY *kek = pt_kek(2048);
    uint8_t target[100];
    kt_buf blob = {0};
    kt_err e;

    wrap_fixture(kek, PKG_OAEP_SHA1, &blob, target);
    /* Every byte of the KWP part, and a spread of the RSA part. */
    for (size_t i = 0; i < blob.len; i += i < 256 ? 17 : 1) {
        blob.p[i] ^= 0x80;
        cr_assert_eq(try_unwrap(kek, PKG_OAEP_SHA1, blob.p, blob.len, &e), KT_EDENIED, "byte %zu",
                     i);
        cr_assert(strstr(e.msg, i < 256 ? "RSA-OAEP" : "integrity check") != NULL, "byte %zu: %s",
                  i, e.msg);
        blob.p[i] ^= 0x80;
    }
    cr_assert_eq(try_unwrap(kek, PKG_OAEP_SHA1, blob.p, blob.len, &e), KT_OK, "%s", e.msg);
    kt_buf_free(&blob);
    EVP_PKEY_free(kek);
}

Test(unwrap, refuses_the_wrong_kek_and_the_wrong_hash)
{
    EVP_PKEY *kek = pt_kek(2048), *other = pt_kek(0), *big = pt_kek(3072);
    uint8_t target[100];
    kt_buf blob = {0}, blob256 = {0};
    kt_err e;

    wrap_fixture(kek, PKG_OAEP_SHA1, &blob, target);
    wrap_fixture(kek, PKG_OAEP_SHA256, &blob256, target);
    cr_assert_eq(try_unwrap(other, PKG_OAEP_SHA1, blob.p, blob.len, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "another KEK") != NULL, "%s", e.msg);
    cr_assert_eq(try_unwrap(kek, PKG_OAEP_SHA256, blob.p, blob.len, &e), KT_EDENIED);
    cr_assert_eq(try_unwrap(kek, PKG_OAEP_SHA1, blob256.p, blob256.len, &e), KT_EDENIED);
    /* A 3072-bit KEK splits a 2048-bit blob in the wrong place. */
    cr_assert_neq(try_unwrap(big, PKG_OAEP_SHA1, blob.p, blob.len, &e), KT_OK);
    /* Positive twins. */
    cr_assert_eq(try_unwrap(kek, PKG_OAEP_SHA256, blob256.p, blob256.len, &e), KT_OK, "%s", e.msg);
    kt_buf_free(&blob);
    kt_buf_free(&blob256);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(other);
    EVP_PKEY_free(big);
}

Test(unwrap, refuses_an_aes_key_that_is_not_256_bits)
{
    EVP_PKEY *kek = pt_kek(2048);
    uint8_t k16[16], target[40] = {9};
    kt_buf rsa = {0}, kwp = {0};
    kt_err e;

    kt_random(k16, sizeof k16);
    cr_assert_eq(pkg_rsa_oaep_encrypt(kek, PKG_OAEP_SHA1, k16, 16, &rsa, &e), KT_OK);
    cr_assert_eq(pkg_aes_kwp_wrap(k16, 16, target, sizeof target, &kwp, &e), KT_OK);
    uint8_t *blob = malloc(rsa.len + kwp.len);
    memcpy(blob, rsa.p, rsa.len);
    memcpy(blob + rsa.len, kwp.p, kwp.len);
    cr_assert_eq(try_unwrap(kek, PKG_OAEP_SHA1, blob, rsa.len + kwp.len, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "AES-256") != NULL, "%s", e.msg);
    free(blob);
    kt_buf_free(&rsa);
    kt_buf_free(&kwp);
    EVP_PKEY_free(kek);
}

Test(wrap, refuses_unfit_keks_and_targets)
{
    EVP_PKEY *small = EVP_RSA_gen(1024), *ec = pt_ec_key("P-256"), *kek = pt_kek(2048);
    uint8_t big[PKG_TARGET_MAX + 1] = {0};
    kt_buf blob = {0};
    kt_err e;

    cr_assert_not_null(small);
    cr_assert_eq(pkg_rsa_aes_wrap(small, PKG_OAEP_SHA1, big, 32, &blob, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "1024-bit") != NULL, "%s", e.msg);
    cr_assert_eq(pkg_rsa_aes_wrap(ec, PKG_OAEP_SHA1, big, 32, &blob, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "RSA") != NULL, "%s", e.msg);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, big, 0, &blob, &e), KT_EUSAGE);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, big, sizeof big, &blob, &e), KT_EUSAGE);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, (pkg_oaep_hash)7, big, 32, &blob, &e), KT_EUSAGE);
    cr_assert_null(blob.p);
    /* Positive twin: the largest target is accepted. */
    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, big, PKG_TARGET_MAX, &blob, &e), KT_OK);
    kt_buf_free(&blob);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(kek);
}

Test(pkcs8, round_trip_and_strictness)
{
    const char *curves[] = {"P-256", "P-384", "P-521", "secp256k1"};
    kt_err e;

    for (size_t i = 0; i < 4; i++) {
        EVP_PKEY *k = pt_ec_key(curves[i]), *back = NULL;
        kt_secbuf der = {0};

        cr_assert_eq(kt_pkcs8_encode(k, &der, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(kt_pkcs8_decode(der.p, der.len, &back, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(EVP_PKEY_eq(k, back), 1, "%s", curves[i]);
        EVP_PKEY_free(back);
        /* A trailing byte and a truncation are refused. */
        kt_secbuf longer = {0};
        cr_assert_eq(kt_secbuf_alloc(&longer, der.len + 1, &e), KT_OK);
        memcpy(longer.p, der.p, der.len);
        longer.p[der.len] = 0;
        cr_assert_eq(kt_pkcs8_decode(longer.p, longer.len, &back, &e), KT_EFORMAT);
        cr_assert_eq(kt_pkcs8_decode(der.p, der.len - 1, &back, &e), KT_EFORMAT);
        cr_assert_null(back);
        kt_secbuf_free(&longer);
        kt_secbuf_free(&der);
        EVP_PKEY_free(k);
    }
    /* An Ed25519 key is not a target type. */
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    kt_secbuf der = {0};
    cr_assert_eq(kt_pkcs8_encode(ed, &der, &e), KT_EFORMAT);
    EVP_PKEY_free(ed);
}

/* ----------------------------------------------------------------------------------------- */
/* Interoperability with programs that are not ours                                           */
/* ----------------------------------------------------------------------------------------- */

/* Writes the two parts of blob as dir/rsa.bin and dir/kwp.bin. */
static void split_blob(const char *dir, const kt_buf *blob, size_t mod)
{
    char *rsa = ts_path(dir, "rsa.bin"), *kwp = ts_path(dir, "kwp.bin");

    ts_write(rsa, blob->p, mod);
    ts_write(kwp, blob->p + mod, blob->len - mod);
    free(rsa);
    free(kwp);
}

Test(interop, openssl_command_opens_our_blob)
{
    pt_need("openssl");
    for (size_t s = 0; s < 3; s++) {
        for (size_t h = 0; h < 2; h++) {
            char *dir = ts_scratch();
            EVP_PKEY *kek = pt_kek(SIZES[s]), *ec = pt_ec_key("P-256");
            const char *md = HASHES[h] == PKG_OAEP_SHA1 ? "sha1" : "sha256";
            kt_secbuf target = {0};
            kt_buf blob = {0};
            kt_err e;
            size_t n;

            cr_assert_eq(kt_pkcs8_encode(ec, &target, &e), KT_OK);
            cr_assert_eq(pkg_rsa_aes_wrap(kek, HASHES[h], target.p, target.len, &blob, &e), KT_OK);
            split_blob(dir, &blob, SIZES[s] / 8);
            cr_assert_eq(
                pt_run("cd %s && openssl pkeyutl -decrypt -inkey %s "
                       "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:%s "
                       "-pkeyopt rsa_mgf1_md:%s -in rsa.bin -out k.bin && "
                       "openssl enc -d -id-aes256-wrap-pad -iv A65959A6 "
                       "-K $(od -An -v -tx1 k.bin | tr -d ' \\n') -in kwp.bin -out target.der",
                       dir, pt_kek_path(SIZES[s]), md, md),
                0);
            char *p = ts_path(dir, "target.der");
            uint8_t *got = ts_read(p, &n);
            cr_assert_eq(n, target.len);
            cr_assert_arr_eq(got, target.p, n);
            /* And openssl reads it as the same EC key. */
            cr_assert_eq(pt_run("openssl pkey -inform DER -in %s -noout", p), 0);
            free(got);
            free(p);
            kt_buf_free(&blob);
            kt_secbuf_free(&target);
            EVP_PKEY_free(ec);
            EVP_PKEY_free(kek);
            ts_rmrf(dir);
        }
    }
}

Test(interop, openssl_command_with_the_wrong_hash_fails)
{
    pt_need("openssl");
    char *dir = ts_scratch();
    EVP_PKEY *kek = pt_kek(2048);
    uint8_t target[64] = {7};
    kt_buf blob = {0};
    kt_err e;

    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, target, sizeof target, &blob, &e), KT_OK);
    split_blob(dir, &blob, 256);
    cr_assert_neq(pt_run("cd %s && openssl pkeyutl -decrypt -inkey %s "
                         "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 "
                         "-in rsa.bin -out k.bin 2>/dev/null",
                         dir, pt_kek_path(2048)),
                  0);
    kt_buf_free(&blob);
    EVP_PKEY_free(kek);
    ts_rmrf(dir);
}

Test(interop, we_open_a_blob_the_openssl_command_made)
{
    pt_need("openssl");
    for (size_t h = 0; h < 2; h++) {
        char *dir = ts_scratch();
        const char *md = HASHES[h] == PKG_OAEP_SHA1 ? "sha1" : "sha256";
        EVP_PKEY *kek = pt_kek(3072);
        kt_secbuf out = {0};
        kt_err e;
        size_t n, tn;

        /* The AWS documentation's recipe (SHA-256) and the Azure one (SHA-1). */
        cr_assert_eq(
            pt_run("cd %s && openssl genpkey -algorithm EC "
                   "-pkeyopt ec_paramgen_curve:P-384 -outform DER -out target.der && "
                   "openssl rand -out k.bin 32 && "
                   "openssl enc -id-aes256-wrap-pad -iv A65959A6 "
                   "-K $(od -An -v -tx1 k.bin | tr -d ' \\n') -in target.der -out kwp.bin && "
                   "openssl pkey -in %s -pubout -out kek.pub && "
                   "openssl pkeyutl -encrypt -pubin -inkey kek.pub "
                   "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:%s "
                   "-pkeyopt rsa_mgf1_md:%s -in k.bin -out rsa.bin && "
                   "cat rsa.bin kwp.bin > blob.bin",
                   dir, pt_kek_path(3072), md, md),
            0);
        char *bp = ts_path(dir, "blob.bin"), *tp = ts_path(dir, "target.der");
        uint8_t *blob = ts_read(bp, &n), *target = ts_read(tp, &tn);
        cr_assert_eq(pkg_rsa_aes_unwrap(kek, HASHES[h], blob, n, &out, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(out.len, tn);
        cr_assert_arr_eq(out.p, target, tn);
        kt_secbuf_free(&out);
        /* Negative twin: the other hash refuses it. */
        cr_assert_eq(pkg_rsa_aes_unwrap(kek, HASHES[1 - h], blob, n, &out, &e), KT_EDENIED);
        free(blob);
        free(target);
        free(bp);
        free(tp);
        EVP_PKEY_free(kek);
        ts_rmrf(dir);
    }
}

/* pyca/cryptography (Debian's 38): split at the modulus, OAEP, aes_key_unwrap_with_padding. */
static const char PY_UNWRAP[] =
    "import sys\n"
    "from cryptography.hazmat.primitives import hashes, serialization\n"
    "from cryptography.hazmat.primitives.asymmetric import padding\n"
    "from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding\n"
    "kek = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n"
    "h = hashes.SHA1() if sys.argv[2] == 'sha1' else hashes.SHA256()\n"
    "blob = open(sys.argv[3], 'rb').read()\n"
    "n = kek.key_size // 8\n"
    "k = kek.decrypt(blob[:n], padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))\n"
    "assert len(k) == 32\n"
    "sys.stdout.write(aes_key_unwrap_with_padding(k, blob[n:]).hex())\n";

Test(interop, pyca_cryptography_opens_our_blob)
{
    pt_need_pyca();
    char *dir = ts_scratch(), *script = ts_path(dir, "unwrap.py"), *bp = ts_path(dir, "b.bin");

    ts_write(script, PY_UNWRAP, strlen(PY_UNWRAP));
    for (size_t s = 0; s < 3; s++) {
        for (size_t h = 0; h < 2; h++) {
            EVP_PKEY *kek = pt_kek(SIZES[s]);
            uint8_t target[77];
            char hex[2 * sizeof target + 1];
            kt_buf blob = {0};
            kt_err e;
            int st;

            kt_random(target, sizeof target);
            kt_hex(hex, target, sizeof target);
            cr_assert_eq(pkg_rsa_aes_wrap(kek, HASHES[h], target, sizeof target, &blob, &e), KT_OK);
            ts_write(bp, blob.p, blob.len);
            char *out = pt_capture(&st, "%s %s %s %s %s", PT_PYTHON, script, pt_kek_path(SIZES[s]),
                                   HASHES[h] == PKG_OAEP_SHA1 ? "sha1" : "sha256", bp);
            cr_assert_eq(st, 0);
            cr_assert_str_eq(out, hex, "RSA-%u %s", SIZES[s], pkg_oaep_hash_name(HASHES[h]));
            free(out);
            kt_buf_free(&blob);
            EVP_PKEY_free(kek);
        }
    }
    free(script);
    free(bp);
    ts_rmrf(dir);
}

Test(wrap, refuses_a_kek_whose_exponent_would_expose_the_key)
{
    EVP_PKEY *kek = pt_kek(2048), *bad = NULL;
    BIGNUM *n = NULL, *one = BN_new(), *even = BN_new();
    uint8_t target[32] = {0};
    kt_buf blob = {0};
    kt_err e;

    cr_assert_eq(EVP_PKEY_get_bn_param(kek, "n", &n), 1);
    cr_assert(BN_set_word(one, 1) && BN_set_word(even, 65536));
    for (int i = 0; i < 2; i++) {
        OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_BN(b, "n", n);
        OSSL_PARAM_BLD_push_BN(b, "e", i == 0 ? one : even);
        OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        cr_assert_eq(EVP_PKEY_fromdata_init(ctx), 1);
        cr_assert_eq(EVP_PKEY_fromdata(ctx, &bad, EVP_PKEY_PUBLIC_KEY, params), 1);
        cr_assert_eq(pkg_rsa_aes_wrap(bad, PKG_OAEP_SHA1, target, 32, &blob, &e), KT_EDENIED);
        cr_assert(strstr(e.msg, "exponent") != NULL, "%s", e.msg);
        cr_assert_null(blob.p);
        EVP_PKEY_free(bad);
        bad = NULL;
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(b);
    }
    /* Positive twin: the same modulus with e = 65537 (a public key only) wraps. */
    EVP_PKEY *pub = NULL;
    kt_buf spki = {0};
    cr_assert_eq(kt_spki_encode(kek, &spki, &e), KT_OK);
    cr_assert_eq(kt_spki_decode(spki.p, spki.len, &pub, &e), KT_OK);
    cr_assert_eq(pkg_rsa_aes_wrap(pub, PKG_OAEP_SHA1, target, 32, &blob, &e), KT_OK, "%s", e.msg);
    kt_buf_free(&blob);
    kt_buf_free(&spki);
    EVP_PKEY_free(pub);
    BN_free(n);
    BN_free(one);
    BN_free(even);
    EVP_PKEY_free(kek);
}
