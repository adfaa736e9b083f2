/*
 * test_hash.c - the streaming SHA-256 of downloads: known answers, every size around the 64 KiB
 * read buffer against a one-shot hash of the same bytes, and the files it must refuse; expected
 * hashes as users paste them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otest.h"

static void hash_of(const char *path, uint8_t out[32], uint64_t *size)
{
    kt_err e;
    cr_assert_eq(online_hash_file(path, out, size, NULL, NULL, &e), KT_OK, "%s", e.msg);
}

Test(hash, known_answers)
{
    static const struct {
        const char *in, *hex;
    } kat[] = {
        /* FIPS 180-2 appendix B.1 and the empty message */
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char *dir = ts_scratch(), *path = ts_path(dir, "kat");
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint8_t d[32];
        uint64_t size;
        char hex[65];
        ts_write(path, kat[i].in, strlen(kat[i].in));
        hash_of(path, d, &size);
        kt_hex(hex, d, 32);
        cr_expect_str_eq(hex, kat[i].hex, "SHA-256(\"%s\")", kat[i].in);
        cr_expect_eq(size, strlen(kat[i].in));
    }
    free(path);
    ts_rmrf(dir);
}

Test(hash, every_size_around_the_buffer)
{
    static const size_t sizes[] = {1,
                                   ONLINE_HASH_CHUNK - 1,
                                   ONLINE_HASH_CHUNK,
                                   ONLINE_HASH_CHUNK + 1,
                                   2 * ONLINE_HASH_CHUNK,
                                   3 * ONLINE_HASH_CHUNK + 7,
                                   (1 << 20) + 3};
    char *dir = ts_scratch(), *path = ts_path(dir, "data");
    uint8_t *buf = malloc((1 << 20) + 3);
    cr_assert_not_null(buf);
    kt_random(buf, (1 << 20) + 3);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t want[32], have[32];
        uint64_t size;
        ts_write(path, buf, sizes[i]);
        kt_sha256(want, buf, sizes[i]);
        hash_of(path, have, &size);
        cr_expect_arr_eq(have, want, 32, "%zu bytes", sizes[i]);
        cr_expect_eq(size, sizes[i]);
    }
    free(buf);
    free(path);
    ts_rmrf(dir);
}

Test(hash, refuses_what_is_not_a_regular_file)
{
    char *dir = ts_scratch(), *fifo = ts_path(dir, "fifo"), *missing = ts_path(dir, "missing");
    uint8_t d[32];
    kt_err e;
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    /* A FIFO would block the reader: refused before it is opened. */
    cr_expect_eq(online_hash_file(fifo, d, NULL, NULL, NULL, &e), KT_EIO);
    cr_expect(strstr(e.msg, "not a regular file (a FIFO)") != NULL, "%s", e.msg);
    cr_expect_eq(online_hash_file(dir, d, NULL, NULL, NULL, &e), KT_EIO);
    cr_expect(strstr(e.msg, "(a folder)") != NULL, "%s", e.msg);
    cr_expect_eq(online_hash_file(missing, d, NULL, NULL, NULL, &e), KT_ENOENT);
    cr_expect(strstr(e.msg, missing) != NULL, "%s", e.msg);
    cr_expect_eq(online_hash_file("/dev/zero", d, NULL, NULL, NULL, &e), KT_EIO);
    cr_expect(strstr(e.msg, "(a device)") != NULL, "%s", e.msg);
    cr_expect_eq(kt_rc_exit(e.rc), 4, "docs/design.md §6: I/O");
    free(fifo);
    free(missing);
    ts_rmrf(dir);
}

Test(hash, follows_a_symlink_to_a_file)
{
    char *dir = ts_scratch(), *file = ts_path(dir, "f"), *link = ts_path(dir, "l");
    uint8_t a[32], b[32];
    ts_write(file, "abc", 3);
    cr_assert_eq(symlink(file, link), 0);
    hash_of(file, a, NULL);
    hash_of(link, b, NULL);
    cr_expect_arr_eq(a, b, 32);
    free(file);
    free(link);
    ts_rmrf(dir);
}

Test(hash, expected_hashes_in_either_case)
{
    uint8_t d[32], want[32];
    kt_err e;
    memset(want, 0xab, 32);
    cr_expect_eq(online_sha256_parse(
                     "abababababababababababababababababababababababababababababababab", d, &e),
                 KT_OK);
    cr_expect_arr_eq(d, want, 32);
    cr_expect_eq(online_sha256_parse(
                     "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB", d, &e),
                 KT_OK);
    cr_expect_arr_eq(d, want, 32);
    static const char *const bad[] = {
        "",
        "ab",
        "abababababababababababababababababababababababababababababababa",   /* 63 */
        "ababababababababababababababababababababababababababababababababa", /* 65 */
        "abababababababababababababababababababababababababababababababag",
        "abababababababababababababababababababababababababababababab abab",
        "0xababababababababababababababababababababababababababababababab",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(online_sha256_parse(bad[i], d, &e), KT_EUSAGE, "'%s' accepted", bad[i]);
}

Test(hash, upper_case_hex_and_base_names)
{
    uint8_t in[32];
    char hex[65];
    for (int i = 0; i < 32; i++)
        in[i] = (uint8_t)(i * 9);
    online_hex_upper(hex, in);
    cr_expect_str_eq(hex, "0009121B242D363F48515A636C757E879099A2ABB4BDC6CFD8E1EAF3FC050E17");
    cr_expect_str_eq(online_basename("a/b/c.zip"), "c.zip");
    cr_expect_str_eq(online_basename("c.zip"), "c.zip");
    cr_expect_str_eq(online_basename("/c.zip"), "c.zip");
}
