/*
 * test_keys.c - the shared key encodings: every curve found by each of its names, SPKI and
 * PKCS#8 round trips that openssl's own encoders agree with, and the refusals.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"

Test(keys, every_curve_found_by_each_of_its_names)
{
    size_t n = 0;
    for (const kt_curve *c; (c = kt_curve_at(n)) != NULL; n++) {
        cr_expect_eq(kt_curve_find(c->name), c, "%s", c->name);
        cr_expect_eq(kt_curve_find(c->group), c, "%s", c->group);
        cr_expect_eq(kt_curve_by_jwk(c->jwk), c, "%s", c->jwk);
        for (size_t j = 0; j < 3 && c->aliases[j] != NULL; j++)
            cr_expect_eq(kt_curve_find(c->aliases[j]), c, "%s", c->aliases[j]);
        cr_expect_eq(c->coord, (c->bits + 7) / 8);
        /* OpenSSL knows the group by that name. */
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c->group);
        cr_expect_not_null(k, "%s", c->group);
        EVP_PKEY_free(k);
    }
    cr_expect_eq(n, 4);
    cr_expect_eq(kt_curve_find("secp256K1"), kt_curve_by_jwk("P-256K"), "case-insensitive");
    cr_expect_null(kt_curve_find("P-224"));
    cr_expect_null(kt_curve_find("brainpoolP256r1"));
    cr_expect_null(kt_curve_find(NULL));
    cr_expect_null(kt_curve_by_jwk("p-256"), "crv is exact");
}

static void round_trip(EVP_PKEY *k)
{
    kt_err e = {0};
    kt_buf spki = {0};
    kt_secbuf p8 = {0};
    EVP_PKEY *back = NULL;
    unsigned char *ref = NULL;
    int n;

    cr_assert_eq(kt_spki_encode(k, &spki, &e), KT_OK, "%s", e.msg);
    n = i2d_PUBKEY(k, &ref);
    cr_assert_eq((size_t)n, spki.len);
    cr_expect_eq(memcmp(ref, spki.p, spki.len), 0);
    OPENSSL_free(ref);
    cr_assert_eq(kt_spki_decode(spki.p, spki.len, &back, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(EVP_PKEY_eq(back, k), 1);
    EVP_PKEY_free(back);

    cr_assert_eq(kt_pkcs8_encode(k, &p8, &e), KT_OK, "%s", e.msg);
    ref = NULL;
    PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(k);
    n = i2d_PKCS8_PRIV_KEY_INFO(info, &ref);
    PKCS8_PRIV_KEY_INFO_free(info);
    cr_assert_eq((size_t)n, p8.len);
    cr_expect_eq(memcmp(ref, p8.p, p8.len), 0);
    OPENSSL_clear_free(ref, (size_t)n);
    cr_assert_eq(kt_pkcs8_decode(p8.p, p8.len, &back, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(EVP_PKEY_eq(back, k), 1);
    EVP_PKEY_free(back);

    /* One value, all of it: a trailing byte is refused for both forms. */
    uint8_t longer[8192];
    cr_assert_lt(spki.len + 1, sizeof longer);
    memcpy(longer, spki.p, spki.len);
    longer[spki.len] = 0;
    cr_expect_eq(kt_spki_decode(longer, spki.len + 1, &back, &e), KT_EFORMAT);
    cr_expect_null(back);
    cr_assert_lt(p8.len + 1, sizeof longer);
    memcpy(longer, p8.p, p8.len);
    longer[p8.len] = 0;
    cr_expect_eq(kt_pkcs8_decode(longer, p8.len + 1, &back, &e), KT_EFORMAT);
    cr_expect_null(back);
    kt_wipe(longer, sizeof longer);
    cr_expect_eq(kt_spki_decode(spki.p, spki.len - 1, &back, &e), KT_EFORMAT, "truncated");
    kt_buf_free(&spki);
    kt_secbuf_free(&p8);
}

Test(keys, rsa_and_ec_round_trip_as_openssl_encodes_them)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
    cr_assert(rsa != NULL && ec != NULL);
    round_trip(rsa);
    round_trip(ec);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

Test(keys, other_private_key_types_and_empty_input_refused)
{
    kt_err e = {0};
    kt_secbuf p8 = {0};
    EVP_PKEY *back = NULL;
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    cr_assert_not_null(ed);
    cr_expect_eq(kt_pkcs8_encode(ed, &p8, &e), KT_EFORMAT);
    cr_expect_null(p8.p);
    cr_expect(strstr(e.msg, "ED25519") != NULL, "%s", e.msg);
    EVP_PKEY_free(ed);
    cr_expect_eq(kt_pkcs8_decode((const uint8_t *)"", 0, &back, &e), KT_EFORMAT);
    cr_expect_eq(kt_spki_decode((const uint8_t *)"", 0, &back, &e), KT_EFORMAT);
    cr_expect_eq(kt_spki_encode(NULL, &(kt_buf){0}, &e), KT_EUSAGE);
}
