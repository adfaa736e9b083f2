/*
 * test_package.c - the USB hand-over: a package made as `keytransfer package` makes it passes
 * the checks; a changed byte anywhere in the .byok, an altered manifest, another signing module,
 * a missing package and a package for another KEK are each refused with their own message; the
 * manifest listing is sorted, capped and skips what is not a manifest.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otest.h"

static ot_package pkg;
static char *dir;

static void setup(void)
{
    dir = ts_scratch();
    EVP_PKEY *target = ot_key("kek-3072.pem");
    ot_package_make(&pkg, dir, "ContosoFirstHSMkey", target);
    EVP_PKEY_free(target);
}

static void teardown(void)
{
    ot_package_free(&pkg);
    ts_rmrf(dir);
}

TestSuite(package, .init = setup, .fini = teardown);

Test(package, a_good_package_passes_and_names_its_module)
{
    online_package p;
    kt_err e;
    cr_assert_eq(online_package_check(pkg.manifest_path, NULL, NULL, &p, &e), KT_OK, "%s", e.msg);
    cr_expect_arr_eq(p.signer, pkg.module_pk, 32);
    cr_expect_arr_eq(p.module_sha256, pkg.module_fp, 32);
    cr_expect_not(p.pinned);
    cr_expect_not(p.renamed);
    cr_expect_str_eq(p.package_path, pkg.byok_path);
    cr_expect_str_eq(p.m.key_type, "RSA");
    cr_expect_eq(p.m.key_bits, 3072);
    size_t n;
    uint8_t *file = ts_read(pkg.byok_path, &n);
    cr_expect_eq(p.package.len, n);
    cr_expect_arr_eq(p.package.p, file, n, "the bytes returned are the file's");
    free(file);
    online_package_free(&p);

    /* pinned to the right module */
    cr_assert_eq(online_package_check(pkg.manifest_path, NULL, pkg.module_fp, &p, &e), KT_OK, "%s",
                 e.msg);
    cr_expect(p.pinned);
    online_package_free(&p);
}

Test(package, another_module_is_refused_when_pinned)
{
    online_package p;
    uint8_t other[32];
    char hex[65];
    kt_err e;
    memcpy(other, pkg.module_fp, 32);
    other[31] ^= 1;
    cr_expect_eq(online_package_check(pkg.manifest_path, NULL, other, &p, &e), KT_EDENIED);
    kt_hex(hex, pkg.module_fp, 32);
    cr_expect(strstr(e.msg, hex) != NULL, "the message names the signer: %s", e.msg);
    cr_expect(strstr(e.msg, "not by the module you expect") != NULL, "%s", e.msg);
    cr_expect_null(p.package.p);
}

Test(package, every_changed_byte_of_the_byok_is_refused)
{
    size_t n;
    uint8_t *orig = ts_read(pkg.byok_path, &n);
    /* Every byte would take long under ASan with 2 files per round; a stride that visits the
     * header, the kid, the RSA part and the KWP part (and the first and last byte) is enough to
     * show the hash covers the whole file. */
    for (size_t i = 0; i < n; i += (i < 64 || i + 64 > n) ? 1 : 37) {
        online_package p;
        kt_err e;
        orig[i] ^= 0x01;
        ts_write(pkg.byok_path, orig, n);
        orig[i] ^= 0x01;
        cr_assert_eq(online_package_check(pkg.manifest_path, NULL, NULL, &p, &e), KT_EDENIED,
                     "byte %zu changed and accepted", i);
        cr_assert(strstr(e.msg, "damaged or swapped") != NULL, "%s", e.msg);
    }
    ts_write(pkg.byok_path, orig, n - 1); /* truncated */
    online_package p;
    kt_err e;
    cr_expect_eq(online_package_check(pkg.manifest_path, NULL, NULL, &p, &e), KT_EDENIED);
    free(orig);
}

Test(package, an_altered_manifest_is_refused)
{
    size_t n;
    uint8_t *orig = ts_read(pkg.manifest_path, &n);
    online_package p;
    kt_err e;
    /* The payload is base64url: change one character in its middle. */
    char *payload = strstr((char *)orig, "\"payload\"");
    cr_assert_not_null(payload);
    payload += 40;
    *payload = *payload == 'A' ? 'B' : 'A';
    ts_write(pkg.manifest_path, orig, n);
    kt_rc rc = online_package_check(pkg.manifest_path, NULL, NULL, &p, &e);
    cr_expect(rc == KT_EDENIED || rc == KT_EFORMAT, "rc %d: %s", rc, e.msg);
    cr_expect(strstr(e.msg, pkg.manifest_path) != NULL, "the message names the file: %s", e.msg);
    free(orig);
}

Test(package, a_missing_package_is_named)
{
    online_package p;
    kt_err e;
    cr_assert_eq(remove(pkg.byok_path), 0);
    cr_expect_eq(online_package_check(pkg.manifest_path, NULL, NULL, &p, &e), KT_ENOENT);
    cr_expect(strstr(e.msg, "TransferPackage-ContosoFirstHSMkey.byok") != NULL, "%s", e.msg);
}

Test(package, a_renamed_package_is_still_its_content)
{
    online_package p;
    kt_err e;
    char *renamed = ts_path(dir, "renamed.byok");
    cr_assert_eq(rename(pkg.byok_path, renamed), 0);
    cr_expect_eq(online_package_check(pkg.manifest_path, renamed, NULL, &p, &e), KT_OK, "%s",
                 e.msg);
    cr_expect(p.renamed);
    online_package_free(&p);
    free(renamed);
}

Test(package, a_byok_for_another_kek_than_stated_is_refused)
{
    online_package p;
    kt_err e;
    /* A manifest that states the right hash but another KEK: the .byok names OT_KID. */
    snprintf(pkg.m.kid, sizeof pkg.m.kid,
             "https://contoso.vault.azure.net/keys/KEKforBYOK/ffffffffffffffffffffffffffffffff");
    ot_package_resign(&pkg);
    cr_expect_eq(online_package_check(pkg.manifest_path, NULL, NULL, &p, &e), KT_EDENIED);
    cr_expect(strstr(e.msg, "another KEK") != NULL, "%s", e.msg);
}

Test(package, manifest_names_beside_packages)
{
    char out[64];
    kt_err e;
    cr_expect_eq(online_manifest_for("a/TransferPackage-X.byok", out, sizeof out, &e), KT_OK);
    cr_expect_str_eq(out, "a/TransferPackage-X.manifest.json");
    cr_expect_eq(online_manifest_for("TransferPackage-X.aws.bin", out, sizeof out, &e), KT_OK);
    cr_expect_str_eq(out, "TransferPackage-X.aws.manifest.json");
    cr_expect_eq(online_manifest_for("blob", out, sizeof out, &e), KT_OK);
    cr_expect_str_eq(out, "blob.manifest.json");
    cr_expect_eq(
        online_manifest_for("a-name-far-too-long-for-the-buffer-given-here.byok", out, 16, &e),
        KT_EUSAGE);
}

Test(package, listing_is_sorted_and_skips_other_files)
{
    char *d = ts_scratch();
    const char *names[] = {"b.manifest.json", "a.manifest.json", ".hidden.manifest.json",
                           "manifest.json",   "c.byok",          "a.manifest.json.bak"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = ts_path(d, names[i]);
        ts_write(p, "{}", 2);
        free(p);
    }
    char **list;
    size_t n;
    kt_err e;
    cr_assert_eq(online_list_manifests(d, &list, &n, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(list[0], "a.manifest.json");
    cr_expect_str_eq(list[1], "b.manifest.json");
    online_names_free(list, n);
    ts_rmrf(d);
}

Test(package, listing_is_capped)
{
    char *d = ts_scratch();
    for (int i = 0; i <= ONLINE_MANIFESTS_MAX; i++) {
        char name[64];
        snprintf(name, sizeof name, "%03d.manifest.json", i);
        char *p = ts_path(d, name);
        ts_write(p, "{}", 2);
        free(p);
    }
    char **list;
    size_t n;
    kt_err e;
    cr_expect_eq(online_list_manifests(d, &list, &n, &e), KT_ETOOBIG);
    cr_expect_null(list);
    char *file = ts_path(d, "000.manifest.json");
    cr_expect_eq(online_list_manifests(file, &list, &n, &e), KT_EIO, "a file is not a folder");
    free(file);
    ts_rmrf(d);
}
