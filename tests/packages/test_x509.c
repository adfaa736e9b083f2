/*
 * test_x509.c - certificates and keys: the committed DEMO root is what its README says and its
 * hash is the one compiled in; chains we issue pass `openssl verify -x509_strict` and show their
 * extensions in `openssl x509 -text`; the issuer refuses unfit requests; PEM and DER loading and
 * saving round-trip and refuse the malformed; SPKI hashes agree with the `openssl` command.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "pkgtest.h"

static void save(const char *dir, const char *name, X509 *x)
{
    char *p = ts_path(dir, name);
    kt_err e;

    cr_assert_eq(pkg_x509_save_pem(p, x, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    free(p);
}

static bool critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);

    cr_assert_geq(i, 0, "extension %s missing", OBJ_nid2sn(nid));
    return X509_EXTENSION_get_critical(X509_get_ext(x, i)) == 1;
}

/* ----------------------------------------------------------------------------------------- */
/* The DEMO root                                                                              */
/* ----------------------------------------------------------------------------------------- */

Test(root, demo_root_is_as_documented)
{
    X509 *root = NULL;
    EVP_PKEY *key = NULL;
    uint8_t h[32], demo[32], compiled[32];
    struct tm nb, na;
    char cn[128];
    kt_err e;

    cr_assert_eq(pkg_x509_load_pem(KT_DEMO_ROOT_CERT, &root, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pkg_key_load_pem(KT_DEMO_ROOT_KEY, &key, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(X509_check_private_key(root, key), 1);
    cr_assert_eq(X509_verify(root, X509_get0_pubkey(root)), 1, "not self-signed");
    cr_assert_eq(X509_NAME_cmp(X509_get_subject_name(root), X509_get_issuer_name(root)), 0);
    X509_NAME_get_text_by_NID(X509_get_subject_name(root), NID_commonName, cn, sizeof cn);
    cr_assert_str_eq(cn, "keytransfer DEMO vendor root - NOT FOR PRODUCTION");
    X509_NAME_get_text_by_NID(X509_get_subject_name(root), NID_organizationName, cn, sizeof cn);
    cr_assert_str_eq(cn, "keytransfer demo");
    cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notBefore(root), &nb), 1);
    cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(root), &na), 1);
    cr_assert(nb.tm_year == 125 && nb.tm_mon == 0 && nb.tm_mday == 1 && nb.tm_hour == 0);
    cr_assert(na.tm_year == 145 && na.tm_mon == 0 && na.tm_mday == 1 && na.tm_hour == 0);
    cr_assert(X509_get_extension_flags(root) & EXFLAG_CA);
    cr_assert(critical(root, NID_basic_constraints));
    cr_assert(critical(root, NID_key_usage));
    cr_assert_eq(X509_get_key_usage(root), (uint32_t)(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    cr_assert_not_null(X509_get0_subject_key_id(root));
    cr_assert(EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 384);

    /* The hash compiled in (KT_DEMO_ROOT_SHA256) is this certificate's SPKI hash. */
    cr_assert_eq(pkg_cert_spki_sha256(root, h, &e), KT_OK);
    pkg_demo_root_sha256(demo);
    cr_assert_arr_eq(h, demo, 32, "packages/CMakeLists.txt KT_DEMO_ROOT_SHA256 is stale");
    pkg_root_sha256(compiled);
    cr_assert_eq(pkg_root_is_demo(), memcmp(compiled, demo, 32) == 0);
    if (pkg_root_is_demo())
        cr_log_info("this build trusts the DEMO root");
    X509_free(root);
    EVP_PKEY_free(key);
}

Test(root, demo_root_hash_matches_the_openssl_command)
{
    pt_need("openssl");
    uint8_t demo[32];
    char hex[65];
    int st;

    pkg_demo_root_sha256(demo);
    kt_hex(hex, demo, 32);
    char *out = pt_capture(&st,
                           "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform DER"
                           " | sha256sum | cut -c1-64",
                           KT_DEMO_ROOT_CERT);
    cr_assert_eq(st, 0);
    cr_assert_eq(strncmp(out, hex, 64), 0, "openssl says %s, compiled in %s", out, hex);
    free(out);
}

Test(root, readme_first_line_warns)
{
    char path[4096];
    size_t n;

    snprintf(path, sizeof path, "%.*s/README.md",
             (int)(strrchr(KT_DEMO_ROOT_CERT, '/') - KT_DEMO_ROOT_CERT), KT_DEMO_ROOT_CERT);
    char *text = (char *)ts_read(path, &n);
    char *nl = strchr(text, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    cr_assert(strstr(text, "DEMO AND TESTS ONLY") != NULL, "%s", text);
    cr_assert(strstr(text, "anyone can sign") != NULL, "%s", text);
    free(text);
}

/* ----------------------------------------------------------------------------------------- */
/* Issuing                                                                                    */
/* ----------------------------------------------------------------------------------------- */

Test(x509, openssl_verify_accepts_our_chain)
{
    pt_need("openssl");
    char *dir = ts_scratch();
    pt_chain c;

    pt_chain_make(&c);
    save(dir, "root.pem", c.root);
    save(dir, "warrant.pem", c.warrant);
    save(dir, "leaf.pem", c.leaf);
    cr_assert_eq(pt_run("cd %s && openssl verify -x509_strict -CAfile root.pem "
                        "-untrusted warrant.pem leaf.pem",
                        dir),
                 0);
    /* Negative twins: without the intermediate, against another root, in the wrong roles. */
    cr_assert_neq(pt_run("cd %s && openssl verify -CAfile root.pem leaf.pem 2>/dev/null", dir), 0);
    cr_assert_neq(pt_run("cd %s && openssl verify -CAfile warrant.pem -untrusted root.pem "
                         "leaf.pem >/dev/null 2>&1",
                         dir),
                  0);
    {
        EVP_PKEY *k = pt_ec_key("P-384");
        X509 *other = NULL;
        kt_err e;
        pkg_cert_opts o = {.issuer_key = k,
                           .subject_key = k,
                           .cn = "another root",
                           .not_before = (uint64_t)time(NULL) - 60,
                           .not_after = (uint64_t)time(NULL) + 86400,
                           .is_ca = true,
                           .path_len = -1,
                           .key_usage = PKG_KU_KEY_CERT_SIGN | PKG_KU_CRL_SIGN};
        cr_assert_eq(pkg_x509_issue(&o, &other, &e), KT_OK, "%s", e.msg);
        save(dir, "other.pem", other);
        cr_assert_eq(
            pt_run("cd %s && openssl verify -x509_strict -CAfile other.pem other.pem", dir), 0);
        cr_assert_neq(pt_run("cd %s && openssl verify -CAfile other.pem -untrusted warrant.pem "
                             "leaf.pem >/dev/null 2>&1",
                             dir),
                      0);
        X509_free(other);
        EVP_PKEY_free(k);
    }
    pt_chain_free(&c);
    ts_rmrf(dir);
}

Test(x509, openssl_text_shows_the_extensions)
{
    pt_need("openssl");
    char *dir = ts_scratch();
    pt_chain c;
    int st;

    pt_chain_make(&c);
    save(dir, "warrant.pem", c.warrant);
    save(dir, "leaf.pem", c.leaf);
    char *w = pt_capture(&st, "openssl x509 -in %s/warrant.pem -text -noout", dir);
    cr_assert_eq(st, 0);
    static const char *const want_w[] = {"Signature Algorithm: ecdsa-with-SHA384",
                                         "X509v3 Basic Constraints: critical",
                                         "CA:TRUE, pathlen:0",
                                         "X509v3 Key Usage: critical",
                                         "Digital Signature, Certificate Sign",
                                         "X509v3 Subject Key Identifier",
                                         "X509v3 Authority Key Identifier",
                                         "serialNumber = 0123-4567-89AB",
                                         "Issuer: O = keytransfer demo, CN = keytransfer DEMO "
                                         "vendor root - NOT FOR PRODUCTION",
                                         "NIST CURVE: P-384"};
    for (size_t i = 0; i < sizeof want_w / sizeof want_w[0]; i++)
        cr_assert(strstr(w, want_w[i]) != NULL, "warrant lacks \"%s\":\n%s", want_w[i], w);
    char *l = pt_capture(&st, "openssl x509 -in %s/leaf.pem -text -noout", dir);
    cr_assert_eq(st, 0);
    cr_assert(strstr(l, "CA:FALSE") != NULL, "%s", l);
    cr_assert(strstr(l, "Digital Signature") != NULL, "%s", l);
    cr_assert(strstr(l, "Certificate Sign") == NULL, "%s", l);
    cr_assert(strstr(l, "X509v3 Authority Key Identifier") != NULL, "%s", l);
    /* The leaf's AKID is the warrant's SKID. */
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(c.warrant);
    const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(c.leaf);
    cr_assert_not_null(skid);
    cr_assert_not_null(akid);
    cr_assert_eq(ASN1_OCTET_STRING_cmp(skid, akid), 0);
    free(w);
    free(l);
    pt_chain_free(&c);
    ts_rmrf(dir);
}

Test(x509, serials_are_random_positive_16_bytes)
{
    pt_chain a, b;

    pt_chain_make(&a);
    pt_chain_make(&b);
    BIGNUM *sa = ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.leaf), NULL);
    BIGNUM *sb = ASN1_INTEGER_to_BN(X509_get0_serialNumber(b.leaf), NULL);
    cr_assert(!BN_is_negative(sa) && !BN_is_zero(sa));
    cr_assert_eq(BN_num_bytes(sa), 16);
    cr_assert_neq(BN_cmp(sa, sb), 0);
    BN_free(sa);
    BN_free(sb);
    pt_chain_free(&a);
    pt_chain_free(&b);
}

Test(x509, issue_refuses_unfit_requests)
{
    pt_chain c;
    EVP_PKEY *rsa = pt_kek(2048), *k = pt_ec_key("P-384"), *p256 = pt_ec_key("P-256");
    uint64_t now = (uint64_t)time(NULL);
    X509 *x = NULL;
    kt_err e;

    pt_chain_make(&c);
    const pkg_cert_opts good = {.issuer = c.warrant,
                                .issuer_key = c.warrant_key,
                                .subject_key = k,
                                .cn = "ok",
                                .not_before = now,
                                .not_after = now + 60,
                                .path_len = -1,
                                .key_usage = PKG_KU_DIGITAL_SIGNATURE};
    cr_assert_eq(pkg_x509_issue(&good, &x, &e), KT_OK, "%s", e.msg);
    X509_free(x);
    x = NULL;
    /* RSA subject keys can be certified too. */
    pkg_cert_opts o = good;
    o.subject_key = rsa;
    o.key_usage = PKG_KU_KEY_ENCIPHERMENT;
    cr_assert_eq(pkg_x509_issue(&o, &x, &e), KT_OK, "%s", e.msg);
    X509_free(x);
    x = NULL;

    struct {
        pkg_cert_opts o;
        const char *why;
    } bad[12];
    size_t n = 0;
    for (size_t i = 0; i < 12; i++)
        bad[i].o = good;
    bad[n].o.issuer_key = rsa, bad[n++].why = "P-384";
    bad[n].o.issuer_key = p256, bad[n++].why = "P-384";
    bad[n].o.issuer_key = c.root_key, bad[n++].why = "does not belong";
    bad[n].o.issuer = NULL, bad[n++].why = "self-signed";
    bad[n].o.not_after = now, bad[n++].why = "notBefore";
    bad[n].o.key_usage = 0, bad[n++].why = "keyUsage";
    bad[n].o.key_usage = PKG_KU_KEY_CERT_SIGN, bad[n++].why = "CA certificates only";
    bad[n].o.cn = "", bad[n++].why = "commonName";
    bad[n].o.cn = NULL, bad[n++].why = "commonName";
    bad[n].o.cn = "0123456789012345678901234567890123456789012345678901234567890123X",
    bad[n++].why = "commonName";
    bad[n].o.org = "tab\there", bad[n++].why = "organizationName";
    bad[n].o.subject_key = NULL, bad[n++].why = "required";
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(pkg_x509_issue(&bad[i].o, &x, &e), KT_EUSAGE, "case %zu", i);
        cr_assert_null(x);
        cr_assert(strstr(e.msg, bad[i].why) != NULL, "case %zu: %s", i, e.msg);
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(k);
    EVP_PKEY_free(p256);
    pt_chain_free(&c);
}

/* ----------------------------------------------------------------------------------------- */
/* Loading and saving                                                                         */
/* ----------------------------------------------------------------------------------------- */

Test(x509, pem_and_der_round_trip_and_refusals)
{
    char *dir = ts_scratch(), *p = ts_path(dir, "c.pem"), *two = ts_path(dir, "two.pem");
    char *none = ts_path(dir, "none.pem");
    X509 *back = NULL;
    kt_buf der = {0};
    pt_chain c;
    kt_err e;

    pt_chain_make(&c);
    cr_assert_eq(pkg_x509_save_pem(p, c.leaf, KT_WRITE_NEW, &e), KT_OK);
    cr_assert_eq(pkg_x509_save_pem(p, c.leaf, KT_WRITE_NEW, &e), KT_EEXIST);
    cr_assert_eq(pkg_x509_save_pem(p, c.warrant, KT_WRITE_REPLACE, &e), KT_OK);
    cr_assert_eq(pkg_x509_load_pem(p, &back, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(X509_cmp(back, c.warrant), 0);
    X509_free(back);
    back = NULL;

    char *a = NULL, *b = NULL, *both;
    cr_assert_eq(pkg_x509_to_pem(c.leaf, &a, &e), KT_OK);
    cr_assert_eq(pkg_x509_to_pem(c.root, &b, &e), KT_OK);
    cr_assert(asprintf(&both, "%s%s", a, b) > 0);
    ts_write(two, both, strlen(both));
    cr_assert_eq(pkg_x509_load_pem(two, &back, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "more than one") != NULL, "%s", e.msg);
    ts_write(none, "hello\n", 6);
    cr_assert_eq(pkg_x509_load_pem(none, &back, &e), KT_EFORMAT);
    cr_assert_null(back);
    /* Text before the PEM block (as `openssl x509 -text` writes it) is fine. */
    char *texty;
    cr_assert(asprintf(&texty, "Certificate:\n    blah\n%s", a) > 0);
    cr_assert_eq(pkg_x509_from_pem((const uint8_t *)texty, strlen(texty), &back, &e), KT_OK);
    cr_assert_eq(X509_cmp(back, c.leaf), 0);
    X509_free(back);
    back = NULL;

    cr_assert_eq(pkg_x509_to_der(c.leaf, &der, &e), KT_OK);
    cr_assert_eq(pkg_x509_from_der(der.p, der.len, &back, &e), KT_OK);
    cr_assert_eq(X509_cmp(back, c.leaf), 0);
    X509_free(back);
    back = NULL;
    cr_assert_eq(pkg_x509_from_der(der.p, der.len - 1, &back, &e), KT_EFORMAT);
    uint8_t *longer = malloc(der.len + 1);
    memcpy(longer, der.p, der.len);
    longer[der.len] = 0;
    cr_assert_eq(pkg_x509_from_der(longer, der.len + 1, &back, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "trailing data") != NULL, "%s", e.msg);
    cr_assert_null(back);
    free(longer);
    free(texty);
    free(both);
    free(a);
    free(b);
    kt_buf_free(&der);
    pt_chain_free(&c);
    free(p);
    free(two);
    free(none);
    ts_rmrf(dir);
}

Test(x509, keys_round_trip_and_refusals)
{
    pt_need("openssl");
    char *dir = ts_scratch(), *kp = ts_path(dir, "k.pem"), *enc = ts_path(dir, "enc.pem");
    char *pub = ts_path(dir, "pub.pem"), *pubder = ts_path(dir, "pub.der");
    EVP_PKEY *k = pt_ec_key("P-384"), *back = NULL;
    struct stat st;
    kt_err e;

    cr_assert_eq(pkg_key_save_pem(kp, k, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(stat(kp, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(pkg_key_save_pem(kp, k, KT_WRITE_NEW, &e), KT_EEXIST);
    cr_assert_eq(pkg_key_load_pem(kp, &back, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(EVP_PKEY_eq(k, back), 1);
    EVP_PKEY_free(back);
    back = NULL;
    /* PKCS#8, as openssl reads it. */
    cr_assert_eq(pt_run("grep -q 'BEGIN PRIVATE KEY' %s && openssl pkey -in %s -noout", kp, kp), 0);
    /* An encrypted key is refused, saying so. */
    cr_assert_eq(pt_run("openssl pkey -in %s -aes256 -passout pass:secret -out %s", kp, enc), 0);
    cr_assert_eq(pkg_key_load_pem(enc, &back, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "encrypted") != NULL, "%s", e.msg);
    cr_assert_null(back);
    /* Public keys, PEM and DER. */
    cr_assert_eq(pt_run("openssl pkey -in %s -pubout -out %s && "
                        "openssl pkey -in %s -pubout -outform DER -out %s",
                        kp, pub, kp, pubder),
                 0);
    cr_assert_eq(pkg_pubkey_load(pub, &back, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(EVP_PKEY_eq(k, back), 1);
    EVP_PKEY_free(back);
    back = NULL;
    cr_assert_eq(pkg_pubkey_load(pubder, &back, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(EVP_PKEY_eq(k, back), 1);
    EVP_PKEY_free(back);
    back = NULL;
    cr_assert_eq(pt_run("printf 'x' >> %s", pubder), 0);
    cr_assert_eq(pkg_pubkey_load(pubder, &back, &e), KT_EFORMAT);
    cr_assert_null(back);
    cr_assert_eq(pkg_pubkey_load(kp, &back, &e), KT_EFORMAT, "a private key is not a public key");
    EVP_PKEY_free(k);
    free(kp);
    free(enc);
    free(pub);
    free(pubder);
    ts_rmrf(dir);
}

Test(x509, spki_hashes_match_the_openssl_command)
{
    pt_need("openssl");
    EVP_PKEY *kek = pt_kek(3072);
    uint8_t h[32], hc[32];
    char hex[65];
    pt_chain c;
    kt_err e;
    int st;

    cr_assert_eq(kt_spki_sha256(kek, h, &e), KT_OK);
    kt_hex(hex, h, 32);
    char *out = pt_capture(&st, "openssl pkey -in %s -pubout -outform DER | sha256sum | cut -c1-64",
                           pt_kek_path(3072));
    cr_assert_eq(st, 0);
    cr_assert_eq(strncmp(out, hex, 64), 0);
    free(out);
    pt_chain_make(&c);
    cr_assert_eq(pkg_cert_spki_sha256(c.leaf, hc, &e), KT_OK);
    cr_assert_eq(kt_spki_sha256(c.leaf_key, h, &e), KT_OK);
    cr_assert_arr_eq(h, hc, 32);
    cr_assert_eq(pkg_cert_spki_sha256(c.warrant, hc, &e), KT_OK);
    cr_assert_neq(memcmp(h, hc, 32), 0);
    pt_chain_free(&c);
    EVP_PKEY_free(kek);
}
