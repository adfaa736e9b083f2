/*
 * test_cloud_params.c - what AWS KMS and Google Cloud KMS hand out for an import (aws.c, gcp.c):
 * the get-parameters-for-import JSON as the aws CLI prints it and as the API sends it, the
 * import job JSON as gcloud prints it, each with its malformed twins refused; the key types and
 * algorithms each cloud documents, as a table with its refusals; the direct RSA-OAEP wrap both
 * ways and its size limit; the manifest's import member round trip.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <sodium.h>

#include "packages/pkgtest.h"

/* ---- AWS ---------------------------------------------------------------------------------- */

static char *b64_spki(EVP_PKEY *k)
{
    kt_buf der = {0};
    char *s = NULL;
    kt_err e;
    cr_assert_eq(kt_spki_encode(k, &der, &e), KT_OK);
    cr_assert_eq(pkg_aws_b64_encode(der.p, der.len, &s, &e), KT_OK);
    kt_buf_free(&der);
    return s;
}

/* The JSON the aws CLI prints, with one member's value replaced (member NULL: none). */
static char *aws_json(const char *pub, const char *valid_to, const char *member, const char *raw)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s}", "KeyId",
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "ImportToken", "AQIDBAUGBwgJCg==", "PublicKey", pub, "ParametersValidTo", valid_to);
    if (member != NULL) {
        json_error_t err;
        json_t *v = raw != NULL ? json_loads(raw, JSON_DECODE_ANY, &err) : NULL;
        if (v == NULL)
            json_object_del(j, member);
        else
            json_object_set_new(j, member, v);
    }
    char *s = json_dumps(j, JSON_INDENT(4));
    json_decref(j);
    return s;
}

static kt_rc parse_aws(const char *text, pkg_aws_params *p, kt_err *e)
{
    return pkg_aws_params_parse((const uint8_t *)text, strlen(text), p, e);
}

Test(aws, params_as_the_cli_prints_them)
{
    EVP_PKEY *kek = pt_kek(3072);
    char *pub = b64_spki(kek);
    char *text = aws_json(pub, "2026-12-04T05:49:14.123456+00:00", NULL, NULL);
    pkg_aws_params p;
    kt_err e;

    cr_assert_eq(parse_aws(text, &p, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(p.key_id,
                     "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    cr_assert_eq(p.import_token.len, 10);
    cr_assert_eq(p.import_token.p[9], 10);
    cr_assert_eq(p.valid_to, 1796363354u); /* date -u -d 2026-12-04T05:49:14Z +%s */
    cr_assert_eq(EVP_PKEY_eq(p.public_key, kek), 1);
    pkg_aws_params_free(&p);
    free(text);

    /* The API's own form: seconds since 1970, fractions cut. */
    text = aws_json(pub, "x", "ParametersValidTo", "1796363354.75");
    cr_assert_eq(parse_aws(text, &p, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(p.valid_to, 1796363354u);
    pkg_aws_params_free(&p);
    free(text);
    free(pub);
    EVP_PKEY_free(kek);
}

Test(aws, malformed_params_are_refused)
{
    EVP_PKEY *kek = pt_kek(2048), *ec = pt_ec_key("P-256");
    char *pub = b64_spki(kek), *ecpub = b64_spki(ec);
    char cut[4096];
    snprintf(cut, sizeof cut, "\"%.*s\"", (int)strlen(pub) - 4, pub);
    char ecq[1024];
    snprintf(ecq, sizeof ecq, "\"%s\"", ecpub);
    const struct {
        const char *member, *raw, *why;
    } bad[] = {
        {"ResponseMetadata", "{}", "an unknown member"},
        {"KeyId", NULL, "no KeyId"},
        {"KeyId", "\"\"", "an empty KeyId"},
        {"KeyId", "\"arn with spaces\"", "a KeyId with spaces"},
        {"ImportToken", "\"\"", "an empty token"},
        {"ImportToken", "\"AQIDBAUGBwgJCg\"", "unpadded base64"},
        {"ImportToken", "\"AQID BAUG\"", "base64 with a space"},
        {"PublicKey", cut, "a cut public key"},
        {"PublicKey", ecq, "an EC public key"},
        {"PublicKey", "7", "a number for a key"},
        {"ParametersValidTo", NULL, "no time"},
        {"ParametersValidTo", "\"2026-12-04 05:49:14Z\"", "a space for the T"},
        {"ParametersValidTo", "\"2026-12-04T05:49:14\"", "no zone"},
        {"ParametersValidTo", "\"2026-12-04T05:49:14+25:00\"", "an offset of 25 hours"},
        {"ParametersValidTo", "\"2026-12-04T05:49:14.1234567890Z\"", "ten digits of fraction"},
        {"ParametersValidTo", "\"2026-02-30T05:49:14Z\"", "February 30"},
        {"ParametersValidTo", "-5", "a negative time"},
        {"ParametersValidTo", "true", "a boolean time"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = aws_json(pub, "2026-12-04T05:49:14Z", bad[i].member, bad[i].raw);
        pkg_aws_params p;
        kt_err e;
        cr_expect_eq(parse_aws(text, &p, &e), KT_EFORMAT, "%s was taken", bad[i].why);
        cr_expect_null(p.public_key);
        free(text);
    }
    const char *const junk[] = {"", "[]", "{\"KeyId\":\"a\",\"KeyId\":\"b\"}", "{} {}"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        pkg_aws_params p;
        kt_err e;
        cr_expect_neq(parse_aws(junk[i], &p, &e), KT_OK, "'%s' was taken", junk[i]);
    }
    free(pub);
    free(ecpub);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(ec);
}

Test(aws, times_with_offsets)
{
    uint64_t t;
    kt_err e;
    cr_assert_eq(pkg_aws_time_parse("1970-01-01T00:00:00Z", "t", &t, &e), KT_OK);
    cr_assert_eq(t, 0);
    cr_assert_eq(pkg_aws_time_parse("1970-01-01T01:30:00+01:30", "t", &t, &e), KT_OK);
    cr_assert_eq(t, 0);
    cr_assert_eq(pkg_aws_time_parse("1970-01-01T00:00:00.5-02:00", "t", &t, &e), KT_OK);
    cr_assert_eq(t, 7200);
    cr_assert_eq(pkg_aws_time_parse("1970-01-01T00:00:00+01:00", "t", &t, &e), KT_EFORMAT);
    cr_assert_eq(pkg_aws_time_parse("2026-12-04T05:49:14.Z", "t", &t, &e), KT_EFORMAT);
    cr_assert_eq(pkg_aws_time_parse("2026-12-04T05:49:14Zjunk", "t", &t, &e), KT_EFORMAT);
}

Test(aws, which_material_each_algorithm_takes)
{
    const struct {
        pkg_aws_wrapping w;
        const char *type;
        unsigned bits;
        const char *curve;
        unsigned kek;
        kt_rc want;
    } cases[] = {
        {PKG_AWS_RSA_AES_KEY_WRAP_SHA_256, "RSA", 2048, "", 2048, KT_OK},
        {PKG_AWS_RSA_AES_KEY_WRAP_SHA_1, "RSA", 4096, "", 3072, KT_OK},
        {PKG_AWS_RSA_AES_KEY_WRAP_SHA_256, "EC", 256, "P-256", 2048, KT_OK},
        {PKG_AWS_RSA_AES_KEY_WRAP_SHA_256, "EC", 521, "P-521", 2048, KT_OK},
        {PKG_AWS_RSAES_OAEP_SHA_256, "AES", 256, "", 2048, KT_OK},
        {PKG_AWS_RSAES_OAEP_SHA_1, "AES", 256, "", 4096, KT_OK},
        {PKG_AWS_RSAES_OAEP_SHA_256, "EC", 256, "secp256k1", 3072, KT_OK},
        {PKG_AWS_RSAES_OAEP_SHA_256, "EC", 521, "P-521", 3072, KT_OK},
        /* refused */
        {PKG_AWS_RSAES_OAEP_SHA_256, "EC", 521, "P-521", 2048, KT_EDENIED},
        {PKG_AWS_RSAES_OAEP_SHA_256, "RSA", 2048, "", 4096, KT_EDENIED},
        {PKG_AWS_RSA_AES_KEY_WRAP_SHA_256, "AES", 256, "", 2048, KT_EDENIED},
        {PKG_AWS_RSAES_OAEP_SHA_256, "AES", 128, "", 2048, KT_EDENIED},
        {PKG_AWS_RSAES_OAEP_SHA_256, "AES", 192, "", 2048, KT_EDENIED},
        {PKG_AWS_RSA_AES_KEY_WRAP_SHA_256, "RSA", 2048, "", 1024, KT_EDENIED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kt_err e;
        cr_expect_eq(pkg_aws_check(cases[i].w, cases[i].type, cases[i].bits, cases[i].curve,
                                   cases[i].kek, &e),
                     cases[i].want, "case %zu: %s %s-%u under %u", i,
                     pkg_aws_wrapping_name(cases[i].w), cases[i].type, cases[i].bits, cases[i].kek);
    }
    cr_assert_eq(pkg_aws_wrapping_default("AES"), PKG_AWS_RSAES_OAEP_SHA_256);
    cr_assert_eq(pkg_aws_wrapping_default("RSA"), PKG_AWS_RSA_AES_KEY_WRAP_SHA_256);
    pkg_aws_wrapping w;
    kt_err e;
    cr_assert_eq(pkg_aws_wrapping_parse("RSAES_PKCS1_V1_5", &w, &e), KT_EUSAGE);
    cr_assert_eq(pkg_aws_wrapping_parse("rsaes_oaep_sha_256", &w, &e), KT_EUSAGE);
    cr_assert_eq(pkg_aws_wrapping_parse("RSAES_OAEP_SHA_1", &w, &e), KT_OK);
    cr_assert_eq(w, PKG_AWS_RSAES_OAEP_SHA_1);
}

Test(aws, direct_wrap_both_ways_and_its_limit)
{
    EVP_PKEY *kek = pt_kek(2048);
    uint8_t material[300];
    kt_buf blob = {0};
    kt_secbuf back = {0};
    kt_err e;

    for (size_t i = 0; i < sizeof material; i++)
        material[i] = (uint8_t)(i * 7);
    /* RFC 8017 §7.1.1: k - 2 hLen - 2 = 256 - 66 = 190 bytes for SHA-256, 214 for SHA-1. */
    cr_assert_eq(pkg_aws_wrap(kek, PKG_AWS_RSAES_OAEP_SHA_256, material, 190, &blob, &e), KT_OK,
                 "%s", e.msg);
    cr_assert_eq(blob.len, 256);
    cr_assert_eq(pkg_aws_unwrap(kek, PKG_AWS_RSAES_OAEP_SHA_256, blob.p, blob.len, &back, &e),
                 KT_OK, "%s", e.msg);
    cr_assert_eq(back.len, 190);
    cr_assert_eq(memcmp(back.p, material, 190), 0);
    kt_secbuf_free(&back);
    /* The hash is part of it: SHA-1 does not open a SHA-256 block. */
    cr_assert_eq(pkg_aws_unwrap(kek, PKG_AWS_RSAES_OAEP_SHA_1, blob.p, blob.len, &back, &e),
                 KT_EDENIED);
    kt_buf_free(&blob);
    cr_assert_eq(pkg_aws_wrap(kek, PKG_AWS_RSAES_OAEP_SHA_256, material, 191, &blob, &e),
                 KT_EDENIED);
    cr_assert_eq(pkg_aws_wrap(kek, PKG_AWS_RSAES_OAEP_SHA_1, material, 214, &blob, &e), KT_OK);
    kt_buf_free(&blob);
    cr_assert_eq(pkg_aws_wrap(kek, PKG_AWS_RSAES_OAEP_SHA_1, material, 215, &blob, &e), KT_EDENIED);
    /* RSA_AES_KEY_WRAP takes any length: the RSA part and RFC 5649's. */
    cr_assert_eq(pkg_aws_wrap(kek, PKG_AWS_RSA_AES_KEY_WRAP_SHA_1, material, 300, &blob, &e),
                 KT_OK);
    cr_assert_eq(blob.len, 256 + 8 + 304);
    cr_assert_eq(pkg_aws_unwrap(kek, PKG_AWS_RSA_AES_KEY_WRAP_SHA_1, blob.p, blob.len, &back, &e),
                 KT_OK);
    cr_assert_eq(back.len, 300);
    kt_secbuf_free(&back);
    kt_buf_free(&blob);
    EVP_PKEY_free(kek);
}

/* ---- Google ------------------------------------------------------------------------------- */

static char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_not_null(b);
    cr_assert_eq(PEM_write_bio_PUBKEY(b, k), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static char *gcp_json(const char *method, const char *pem, const char *member, const char *raw)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s, s:s}}", "name",
                  "projects/p-1/locations/europe-west1/keyRings/ring_1/importJobs/job-1",
                  "importMethod", method, "protectionLevel", "HSM", "state", "ACTIVE", "createTime",
                  "2026-12-01T10:00:00.123456789Z", "generateTime", "2026-12-01T10:00:01Z",
                  "expireTime", "2026-12-04T10:00:00Z", "publicKey", "pem", pem, "attestation",
                  "format", "CAVIUM_V2_COMPRESSED", "content", "AAAA");
    if (member != NULL) {
        json_error_t err;
        json_t *v = raw != NULL ? json_loads(raw, JSON_DECODE_ANY, &err) : NULL;
        if (v == NULL)
            json_object_del(j, member);
        else
            json_object_set_new(j, member, v);
    }
    char *s = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    return s;
}

Test(gcp, import_job_as_gcloud_prints_it)
{
    EVP_PKEY *kek = pt_kek(3072);
    char *pem = pem_of(kek);
    char *text = gcp_json("RSA_OAEP_3072_SHA256", pem, NULL, NULL);
    pkg_gcp_job j;
    kt_err e;

    cr_assert_eq(pkg_gcp_job_parse((const uint8_t *)text, strlen(text), &j, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_str_eq(j.project, "p-1");
    cr_assert_str_eq(j.location, "europe-west1");
    cr_assert_str_eq(j.keyring, "ring_1");
    cr_assert_str_eq(j.job, "job-1");
    cr_assert_str_eq(j.state, "ACTIVE");
    cr_assert_eq(j.method, PKG_GCP_RSA_OAEP_3072_SHA256);
    cr_assert(pkg_gcp_method_is_direct(j.method));
    cr_assert_eq(j.expire_time, 1796378400u); /* date -u -d 2026-12-04T10:00:00Z +%s */
    cr_assert_eq(EVP_PKEY_eq(j.public_key, kek), 1);
    pkg_gcp_job_free(&j);
    free(text);
    free(pem);
    EVP_PKEY_free(kek);
}

Test(gcp, malformed_jobs_are_refused)
{
    EVP_PKEY *kek = pt_kek(3072), *big = pt_kek(4096);
    char *pem = pem_of(kek), *bigpem = pem_of(big);
    char after[8192], twice[8192];
    const struct {
        const char *method, *member, *raw, *why;
    } bad[] = {
        {"RSA_OAEP_3072_SHA256", "cryptoKeyVersion", "\"x\"", "an unknown member"},
        {"RSA_OAEP_2048_SHA256_AES_256", NULL, NULL, "an unknown method"},
        {"RSA_OAEP_3072_SHA256", "name", "\"projects/p/locations/l/keyRings/r\"", "a short name"},
        {"RSA_OAEP_3072_SHA256", "name", "\"projects/p/locations/l/keyRings/r/importJobs/j/extra\"",
         "a long name"},
        {"RSA_OAEP_3072_SHA256", "name", "\"projects//locations/l/keyRings/r/importJobs/j\"",
         "an empty part"},
        {"RSA_OAEP_3072_SHA256", "name", "\"projects/p/locations/l/keyRings/r/importJobs/j k\"",
         "a space"},
        {"RSA_OAEP_3072_SHA256", "state", NULL, "no state"},
        {"RSA_OAEP_3072_SHA256", "publicKey", NULL, "no public key"},
        {"RSA_OAEP_3072_SHA256", "publicKey", "{\"pem\":\"junk\"}", "junk for a PEM"},
        {"RSA_OAEP_3072_SHA256", "publicKey", "{\"pem\":\"x\",\"der\":\"y\"}", "a second member"},
        {"RSA_OAEP_3072_SHA256", "expireTime", "\"2026-12-04T10:00:00+01:00\"", "a zone offset"},
        {"RSA_OAEP_3072_SHA256", "attestation", "\"text\"", "a string attestation"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = gcp_json(bad[i].method, pem, bad[i].member, bad[i].raw);
        pkg_gcp_job j;
        kt_err e;
        cr_expect_eq(pkg_gcp_job_parse((const uint8_t *)text, strlen(text), &j, &e), KT_EFORMAT,
                     "%s was taken", bad[i].why);
        cr_expect_null(j.public_key);
        free(text);
    }
    /* Text after the PEM block, a second block, and a key of the wrong size for the method. */
    snprintf(after, sizeof after, "%sjunk\n", pem);
    snprintf(twice, sizeof twice, "%s%s", pem, pem);
    const char *variants[] = {after, twice, bigpem};
    for (size_t i = 0; i < 3; i++) {
        char *text = gcp_json("RSA_OAEP_3072_SHA1_AES_256", variants[i], NULL, NULL);
        pkg_gcp_job j;
        kt_err e;
        cr_expect_eq(pkg_gcp_job_parse((const uint8_t *)text, strlen(text), &j, &e), KT_EFORMAT,
                     "PEM variant %zu was taken", i);
        free(text);
    }
    free(pem);
    free(bigpem);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(big);
}

Test(gcp, which_keys_each_method_takes)
{
    const struct {
        pkg_gcp_method m;
        const char *type;
        unsigned bits;
        const char *curve;
        kt_rc want;
    } cases[] = {
        {PKG_GCP_RSA_OAEP_3072_SHA1_AES_256, "RSA", 2048, "", KT_OK},
        {PKG_GCP_RSA_OAEP_4096_SHA256_AES_256, "RSA", 4096, "", KT_OK},
        {PKG_GCP_RSA_OAEP_3072_SHA256_AES_256, "EC", 256, "P-256", KT_OK},
        {PKG_GCP_RSA_OAEP_3072_SHA256_AES_256, "EC", 384, "P-384", KT_OK},
        {PKG_GCP_RSA_OAEP_4096_SHA1_AES_256, "EC", 256, "secp256k1", KT_OK},
        {PKG_GCP_RSA_OAEP_3072_SHA256, "AES", 256, "", KT_OK},
        {PKG_GCP_RSA_OAEP_4096_SHA256, "AES", 128, "", KT_OK},
        {PKG_GCP_RSA_OAEP_4096_SHA256, "EC", 256, "P-256", KT_OK},
        /* refused */
        {PKG_GCP_RSA_OAEP_3072_SHA256, "RSA", 2048, "", KT_EDENIED},
        {PKG_GCP_RSA_OAEP_4096_SHA256, "RSA", 2048, "", KT_EDENIED},
        {PKG_GCP_RSA_OAEP_3072_SHA256_AES_256, "EC", 521, "P-521", KT_EDENIED},
        {PKG_GCP_RSA_OAEP_3072_SHA256_AES_256, "AES", 192, "", KT_EDENIED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kt_err e;
        cr_expect_eq(pkg_gcp_check(cases[i].m, cases[i].type, cases[i].bits, cases[i].curve, &e),
                     cases[i].want, "case %zu: %s %s-%u", i, pkg_gcp_method_name(cases[i].m),
                     cases[i].type, cases[i].bits);
    }
    cr_assert_null(pkg_gcp_default_algorithm("EC", 521, "P-521"));
    cr_assert_str_eq(pkg_gcp_default_algorithm("AES", 256, ""), "google-symmetric-encryption");
}

/* ---- the manifest's import member --------------------------------------------------------- */

Test(manifest, import_member_round_trip)
{
    pkg_manifest m, back;
    uint8_t pk[32], sk[64], signer[32];
    char *text = NULL;
    kt_err e;

    memset(&m, 0, sizeof m);
    snprintf(m.tool_version, sizeof m.tool_version, "0.1.0");
    snprintf(m.app, sizeof m.app, "xferacld");
    snprintf(m.ident, sizeof m.ident, "k");
    snprintf(m.plainname, sizeof m.plainname, "k");
    snprintf(m.key_type, sizeof m.key_type, "AES");
    m.key_bits = 256;
    snprintf(m.target, sizeof m.target, "aws");
    snprintf(m.oaep_hash, sizeof m.oaep_hash, "SHA-256");
    snprintf(m.friendly_name, sizeof m.friendly_name, "k");
    snprintf(m.package_file, sizeof m.package_file, "TransferPackage-k.aws.bin");
    snprintf(m.wrapping, sizeof m.wrapping, "RSAES_OAEP_SHA_256");
    snprintf(m.import_for, sizeof m.import_for, "arn:aws:kms:eu-west-1:111122223333:key/x");
    snprintf(m.token_file, sizeof m.token_file, "TransferPackage-k.aws.token.bin");
    memset(m.token_sha256, 0x5a, 32);
    m.created = 1795000000;
    crypto_sign_keypair(pk, sk);
    cr_assert_eq(pkg_manifest_sign(&m, sk, &text, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pkg_manifest_parse((const uint8_t *)text, strlen(text), &back, signer, &e), KT_OK,
                 "%s", e.msg);
    cr_assert_str_eq(back.wrapping, "RSAES_OAEP_SHA_256");
    cr_assert_str_eq(back.import_for, m.import_for);
    cr_assert_str_eq(back.token_file, m.token_file);
    cr_assert_eq(memcmp(back.token_sha256, m.token_sha256, 32), 0);
    pkg_manifest_free(&back);
    free(text);

    /* A token for Azure, or a token without a wrapping, is not a manifest. */
    snprintf(m.target, sizeof m.target, "gcp");
    cr_assert_eq(pkg_manifest_sign(&m, sk, &text, &e), KT_EFORMAT);
    snprintf(m.target, sizeof m.target, "aws");
    m.wrapping[0] = '\0';
    cr_assert_eq(pkg_manifest_sign(&m, sk, &text, &e), KT_EFORMAT);
}
