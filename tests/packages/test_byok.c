/*
 * test_byok.c - the Azure .byok file: byte-exact output (a golden string, and exactly the four
 * members and three header members seen by an independent JSON reader), the strict parser's
 * refusals (one per rule, each with its positive twin), the kid shape table, the whole pipeline
 * wrap -> .byok -> parse -> unwrap, and pyca/cryptography opening a .byok we wrote.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkgtest.h"

#define KID "https://contosokeyvaulthsm.vault.azure.net/keys/mykek/eba63d27e4e34e028839b53fac905621"

static const uint8_t BLOB[] = {0xfb, 0xff, 0xbf, 0x00, 0x01, 0x02, 0x03};

Test(byok, golden_output)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(pkg_byok_write(KID, BLOB, sizeof BLOB, "keytransfer 0.1.0", &s, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_str_eq(s, "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":\"" KID
                        "\",\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},"
                        "\"ciphertext\":\"-_-_AAECAw\",\"generator\":\"keytransfer 0.1.0\"}");
    free(s);
}

Test(byok, exactly_the_specified_members)
{
    char *s = NULL;
    json_error_t jerr;
    kt_err e;

    cr_assert_eq(pkg_byok_write(KID, BLOB, sizeof BLOB, "g", &s, &e), KT_OK);
    json_t *v = json_loads(s, JSON_REJECT_DUPLICATES, &jerr), *h = json_object_get(v, "header");
    cr_assert_not_null(v, "%s", jerr.text);
    cr_assert_eq(json_object_size(v), 4);
    cr_assert_eq(json_object_size(h), 3);
    cr_assert_str_eq(json_string_value(json_object_get(v, "schema_version")), "1.0.0");
    cr_assert_str_eq(json_string_value(json_object_get(h, "kid")), KID);
    cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "dir");
    cr_assert_str_eq(json_string_value(json_object_get(h, "enc")), "CKM_RSA_AES_KEY_WRAP");
    cr_assert_str_eq(json_string_value(json_object_get(v, "generator")), "g");
    /* Unpadded base64url. */
    cr_assert_null(strchr(json_string_value(json_object_get(v, "ciphertext")), '='));
    json_decref(v);
    free(s);
}

Test(byok, pipeline_wrap_write_parse_unwrap)
{
    EVP_PKEY *kek = pt_kek(4096), *ec = pt_ec_key("P-521");
    kt_secbuf target = {0}, back = {0};
    kt_buf blob = {0};
    pkg_byok b;
    char *s = NULL;
    kt_err e;

    cr_assert_eq(kt_pkcs8_encode(ec, &target, &e), KT_OK);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, target.p, target.len, &blob, &e), KT_OK);
    cr_assert_eq(pkg_byok_write(KID, blob.p, blob.len, "keytransfer test", &s, &e), KT_OK);
    cr_assert_eq(pkg_byok_parse((const uint8_t *)s, strlen(s), &b, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(b.kid, KID);
    cr_assert_str_eq(b.generator, "keytransfer test");
    cr_assert_eq(b.blob.len, blob.len);
    cr_assert_arr_eq(b.blob.p, blob.p, blob.len);
    cr_assert_eq(pkg_rsa_aes_unwrap(kek, PKG_OAEP_SHA1, b.blob.p, b.blob.len, &back, &e), KT_OK);
    cr_assert_eq(back.len, target.len);
    cr_assert_arr_eq(back.p, target.p, target.len);
    pkg_byok_free(&b);
    kt_secbuf_free(&back);
    kt_secbuf_free(&target);
    kt_buf_free(&blob);
    free(s);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(kek);
}

/* A .byok text with one part replaced: the golden file with `from` replaced by `to`. */
static char *variant(const char *from, const char *to)
{
    static const char base[] = "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":\"" KID
                               "\",\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},"
                               "\"ciphertext\":\"-_-_AAECAw\",\"generator\":\"g\"}";
    const char *at = strstr(base, from);
    char *s;

    cr_assert_not_null(at, "%s", from);
    cr_assert(asprintf(&s, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from)) > 0);
    return s;
}

static kt_rc parse_str(const char *s, kt_err *e)
{
    pkg_byok b;
    kt_rc rc = pkg_byok_parse((const uint8_t *)s, strlen(s), &b, e);

    if (rc != KT_OK) {
        cr_assert_null(b.blob.p);
        cr_log_info("refused (%s): %s", kt_rc_name(rc), e->msg);
    }
    pkg_byok_free(&b);
    return rc;
}

Test(byok, parser_positive_twin)
{
    char *s = variant("\"g\"", "\"g\"");
    kt_err e;

    cr_assert_eq(parse_str(s, &e), KT_OK, "%s", e.msg);
    free(s);
    /* Whitespace and member order are JSON's business: accepted (as other producers write). */
    cr_assert_eq(parse_str("{\n  \"generator\": \"g\",\n  \"ciphertext\": \"AAAA\",\n"
                           "  \"header\": {\"enc\": \"CKM_RSA_AES_KEY_WRAP\", \"alg\": \"dir\",\n"
                           "  \"kid\": \"" KID "\"},\n  \"schema_version\": \"1.0.0\"\n}\n",
                           &e),
                 KT_OK, "%s", e.msg);
}

Test(byok, parser_refusals)
{
    static const struct {
        const char *from, *to, *why;
        kt_rc rc;
    } cases[] = {
        {"\"generator\":\"g\"}", "\"generator\":\"g\",\"extra\":1}", "unknown member", KT_EFORMAT},
        {",\"generator\":\"g\"", "", "missing member \"generator\"", KT_EFORMAT},
        {"\"ciphertext\":\"-_-_AAECAw\",", "", "missing member \"ciphertext\"", KT_EFORMAT},
        {"\"enc\":\"CKM_RSA_AES_KEY_WRAP\"}", "\"enc\":\"CKM_RSA_AES_KEY_WRAP\",\"x\":1}",
         "unknown member", KT_EFORMAT},
        {"\"alg\":\"dir\",", "", "missing member \"alg\"", KT_EFORMAT},
        {"\"1.0.0\"", "\"1.0.1\"", "not supported", KT_EVERSION},
        {"\"1.0.0\"", "\"2.0.0\"", "not supported", KT_EVERSION},
        {"\"1.0.0\"", "1", "must be a string", KT_EFORMAT},
        {"\"dir\"", "\"RSA-OAEP\"", "\"dir\"", KT_EFORMAT},
        {"\"dir\"", "\"Dir\"", "\"dir\"", KT_EFORMAT},
        {"\"CKM_RSA_AES_KEY_WRAP\"", "\"CKM_RSA_AES_KEY_WRAP_PAD\"", "CKM_RSA_AES_KEY_WRAP",
         KT_EFORMAT},
        {"\"CKM_RSA_AES_KEY_WRAP\"", "\"A256GCM\"", "CKM_RSA_AES_KEY_WRAP", KT_EFORMAT},
        {"\"generator\":\"g\"", "\"generator\":\"g\",\"generator\":\"h\"", "duplicate", KT_EFORMAT},
        {"\"alg\":\"dir\"", "\"alg\":\"dir\",\"alg\":\"dir\"", "duplicate", KT_EFORMAT},
        {"\"g\"}", "\"g\"}x", "", KT_EFORMAT},
        {"\"g\"}", "\"g\"}{}", "", KT_EFORMAT},
        {"-_-_AAECAw", "-_-_AAECAw==", "padding", KT_EFORMAT},
        {"-_-_AAECAw", "+/+/AAECAw", "alphabet", KT_EFORMAT},
        {"-_-_AAECAw", "-_-_AAECAx", "bits", KT_EFORMAT},
        {"-_-_AAECAw", "", "1 to", KT_EFORMAT},
        {"-_-_AAECAw", "-_-_ AAECAw", "alphabet", KT_EFORMAT},
        {"\"g\"", "\"g\\u0007\"", "printable", KT_EFORMAT},
        {"\"header\":{", "\"header\":[{", "", KT_EFORMAT},
        {KID,
         "http://contosokeyvaulthsm.vault.azure.net/keys/mykek/"
         "eba63d27e4e34e028839b53fac905621",
         "https://", KT_EFORMAT},
        {KID, "https://contosokeyvaulthsm.vault.azure.net/keys/mykek", "version", KT_EFORMAT},
    };
    kt_err e;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = variant(cases[i].from, cases[i].to);

        cr_assert_eq(parse_str(s, &e), cases[i].rc, "case %zu (%s): %s", i, s, e.msg);
        cr_assert(strstr(e.msg, cases[i].why) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i,
                  e.msg, cases[i].why);
        free(s);
    }
    /* Not JSON at all, an array, empty, NUL inside. */
    cr_assert_eq(parse_str("not json", &e), KT_EFORMAT);
    cr_assert_eq(parse_str("[1]", &e), KT_EFORMAT);
    cr_assert_eq(parse_str("", &e), KT_EFORMAT);
    pkg_byok b;
    cr_assert_eq(pkg_byok_parse((const uint8_t *)"{\"a\":\"\\u0000\"}", 14, &b, &e), KT_EFORMAT);
}

Test(byok, size_cap)
{
    size_t n = PKG_BYOK_MAX + 1;
    char *s = malloc(n + 1);
    pkg_byok b;
    kt_err e;

    memset(s, ' ', n);
    s[0] = '{';
    s[n - 1] = '}';
    s[n] = '\0';
    cr_assert_eq(pkg_byok_parse((const uint8_t *)s, n, &b, &e), KT_ETOOBIG);
    free(s);
}

Test(byok, kid_shapes)
{
    static const char *const good[] = {
        KID,
        "https://ContosoKeyVaultHSM.vault.azure.net/keys/mykek/eba63d27e4e34e028839b53fac905621",
        "https://contoso.managedhsm.azure.net/keys/KEK-for-BYOK-1/"
        "0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.cn/keys/k/0123456789abcdef0123456789abcdef",
        "https://v.vault.usgovcloudapi.net/keys/k/0123456789abcdef0123456789abcdef",
        "https://kv-1.example.org/keys/a/0123456789abcdef0123456789abcdef",
    };
    static const char *const bad[] = {
        "",
        "http://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef",
        "HTTPS://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.net/keys/k",
        "https://v.vault.azure.net/keys/k/",
        "https://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcde",
        "https://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef0",
        "https://v.vault.azure.net/keys/k/0123456789ABCDEF0123456789ABCDEF",
        "https://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef/",
        "https://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef?api-version=7.4",
        "https://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef#x",
        "https://v.vault.azure.net:443/keys/k/0123456789abcdef0123456789abcdef",
        "https://user@v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef",
        "https://10.0.0.1/keys/k/0123456789abcdef0123456789abcdef",
        "https://[::1]/keys/k/0123456789abcdef0123456789abcdef",
        "https://localhost/keys/k/0123456789abcdef0123456789abcdef",
        "https://-v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef",
        "https://v..azure.net/keys/k/0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.net/secrets/k/0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.net/keys//0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.net/keys/my_kek/0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.net/keys/my kek/0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.net/keys/a/b/0123456789abcdef0123456789abcdef",
        "https://v.vault.azure.net//keys/k/0123456789abcdef0123456789abcdef",
    };
    char long_name[300];
    kt_err e;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(pkg_kid_check(good[i], &e), KT_OK, "%s: %s", good[i], e.msg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(pkg_kid_check(bad[i], &e), KT_EFORMAT, "accepted: %s", bad[i]);
        cr_log_info("%s: %s", bad[i], e.msg);
    }
    /* Names of 127 characters are the limit. */
    snprintf(long_name, sizeof long_name, "https://v.vault.azure.net/keys/%0127d/%s", 0,
             "0123456789abcdef0123456789abcdef");
    cr_assert_eq(pkg_kid_check(long_name, &e), KT_OK, "%s", e.msg);
    snprintf(long_name, sizeof long_name, "https://v.vault.azure.net/keys/%0128d/%s", 0,
             "0123456789abcdef0123456789abcdef");
    cr_assert_eq(pkg_kid_check(long_name, &e), KT_EFORMAT);
}

Test(byok, writer_refuses_what_the_parser_would)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(pkg_byok_write("https://v.vault.azure.net/keys/k", BLOB, sizeof BLOB, "g", &s, &e),
                 KT_EFORMAT);
    cr_assert_eq(pkg_byok_write(KID, BLOB, sizeof BLOB, "tab\there", &s, &e), KT_EFORMAT);
    cr_assert_eq(pkg_byok_write(KID, BLOB, 0, "g", &s, &e), KT_EUSAGE);
    cr_assert_null(s);
}

/* pyca/cryptography reads the .byok JSON itself: base64url (padding restored), split, open. */
static const char PY_BYOK[] =
    "import base64, json, sys\n"
    "from cryptography.hazmat.primitives import hashes, serialization\n"
    "from cryptography.hazmat.primitives.asymmetric import padding\n"
    "from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding\n"
    "doc = json.load(open(sys.argv[2]))\n"
    "assert sorted(doc) == ['ciphertext', 'generator', 'header', 'schema_version']\n"
    "assert doc['schema_version'] == '1.0.0'\n"
    "assert doc['header'] == {'kid': sys.argv[3], 'alg': 'dir', 'enc': 'CKM_RSA_AES_KEY_WRAP'}\n"
    "ct = doc['ciphertext']\n"
    "blob = base64.urlsafe_b64decode(ct + '=' * (-len(ct) % 4))\n"
    "kek = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n"
    "n = kek.key_size // 8\n"
    "h = hashes.SHA1()\n"
    "k = kek.decrypt(blob[:n], padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))\n"
    "key = serialization.load_der_private_key(aes_key_unwrap_with_padding(k, blob[n:]), None)\n"
    "pub = key.public_key().public_bytes(serialization.Encoding.DER,\n"
    "    serialization.PublicFormat.SubjectPublicKeyInfo)\n"
    "sys.stdout.write(pub.hex())\n";

Test(byok, pyca_cryptography_opens_our_byok)
{
    pt_need_pyca();
    char *dir = ts_scratch(), *script = ts_path(dir, "byok.py"), *f = ts_path(dir, "t.byok");
    EVP_PKEY *kek = pt_kek(2048), *target = pt_kek(3072);
    kt_secbuf der = {0};
    kt_buf blob = {0}, spki = {0};
    char *s = NULL, hex[2048];
    kt_err e;
    int st;

    ts_write(script, PY_BYOK, strlen(PY_BYOK));
    cr_assert_eq(kt_pkcs8_encode(target, &der, &e), KT_OK);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, der.p, der.len, &blob, &e), KT_OK);
    cr_assert_eq(pkg_byok_write(KID, blob.p, blob.len, "keytransfer test", &s, &e), KT_OK);
    ts_write(f, s, strlen(s));
    cr_assert_eq(kt_spki_encode(target, &spki, &e), KT_OK);
    kt_hex(hex, spki.p, spki.len);
    char *out = pt_capture(&st, "%s %s %s %s '%s'", PT_PYTHON, script, pt_kek_path(2048), f, KID);
    cr_assert_eq(st, 0);
    cr_assert_str_eq(out, hex, "python's public key differs");
    free(out);
    /* Negative twin: with another KEK python fails. */
    out =
        pt_capture(&st, "%s %s %s %s '%s' 2>/dev/null", PT_PYTHON, script, pt_kek_path(0), f, KID);
    cr_assert_neq(st, 0);
    free(out);
    free(s);
    kt_buf_free(&spki);
    kt_buf_free(&blob);
    kt_secbuf_free(&der);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(target);
    free(script);
    free(f);
    ts_rmrf(dir);
}

Test(byok, key_names_follow_key_vaults_rule)
{
    char longest[PKG_KEY_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    cr_assert(pkg_is_key_name("ContosoFirstHSMkey", 18));
    cr_assert(pkg_is_key_name("a-1", 3));
    cr_assert(pkg_is_key_name(longest, PKG_KEY_NAME_MAX));
    cr_assert_not(pkg_is_key_name(longest, PKG_KEY_NAME_MAX + 1));
    cr_assert_not(pkg_is_key_name("", 0));
    const char *bad[] = {"a_b", "a.b", "a/b", "a b", "caf\xc3\xa9", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(pkg_is_key_name(bad[i], strlen(bad[i])), "'%s' accepted", bad[i]);
}
