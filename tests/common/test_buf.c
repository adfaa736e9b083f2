/*
 * test_buf.c - the binary record codec: a record round-trips; wrong magic, tags out of order,
 * truncation, lengths out of range, trailing bytes and non-printable strings are refused with
 * messages that say where; the secure writer grows correctly over many appends.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "kt.h"

static const char MAGIC[8] = {'K', 'T', 'T', 'E', 'S', 'T', '0', '\n'};

enum { TAG_NAME = 1, TAG_SERIAL = 2, TAG_KEY = 3, TAG_BLOB = 4 };

static void init(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(buf, .init = init);

/* A record: header v1, a name, a serial, a 32-byte key and a variable blob. */
static void build(kt_wbuf *w, bool secure)
{
    uint8_t key[32];
    kt_err e;

    memset(key, 0x5a, sizeof key);
    kt_wbuf_init(w, secure);
    kt_wbuf_header(w, MAGIC, 1);
    kt_wbuf_field(w, TAG_NAME, "contosokey", 10);
    kt_wbuf_field_u64(w, TAG_SERIAL, UINT64_C(0x0102030405060708));
    kt_wbuf_field(w, TAG_KEY, key, sizeof key);
    kt_wbuf_field(w, TAG_BLOB, "xyz", 3);
    cr_assert_eq(kt_wbuf_finish(w, &e), KT_OK);
}

Test(buf, record_round_trips)
{
    kt_wbuf w;
    kt_rbuf r;
    uint16_t version = 0;
    char name[17];
    uint64_t serial = 0;
    uint8_t key[32], want[32];
    const uint8_t *blob;
    size_t blen;
    kt_err e;

    build(&w, false);
    cr_assert_eq(w.len, 8 + 2 + (6 + 10) + (6 + 8) + (6 + 32) + (6 + 3));
    cr_assert_eq(memcmp(w.p, MAGIC, 8), 0);
    cr_assert_eq(kt_be16(w.p + 8), 1);
    cr_assert_eq(kt_be16(w.p + 10), TAG_NAME);
    cr_assert_eq(kt_be32(w.p + 12), 10);

    kt_rbuf_init(&r, w.p, w.len, "test file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(version, 1);
    cr_assert_eq(kt_rbuf_field_str(&r, TAG_NAME, name, 16, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(name, "contosokey");
    cr_assert_eq(kt_rbuf_field_u64(&r, TAG_SERIAL, &serial, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(serial, UINT64_C(0x0102030405060708));
    cr_assert_eq(kt_rbuf_field_fixed(&r, TAG_KEY, key, sizeof key, &e), KT_OK, "%s", e.msg);
    memset(want, 0x5a, sizeof want);
    cr_assert_arr_eq(key, want, 32);
    cr_assert_eq(kt_rbuf_field(&r, TAG_BLOB, 1, 16, &blob, &blen, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(blen, 3);
    cr_assert_eq(memcmp(blob, "xyz", 3), 0);
    cr_assert_eq(kt_rbuf_end(&r, &e), KT_OK, "%s", e.msg);
    kt_wbuf_free(&w);
    cr_assert_null(w.p);
}

Test(buf, wrong_magic_is_refused)
{
    static const char other[8] = {'K', 'T', 'T', 'E', 'S', 'T', '1', '\n'};
    kt_wbuf w;
    kt_rbuf r;
    uint16_t version;
    kt_err e;

    build(&w, false);
    kt_rbuf_init(&r, w.p, w.len, "world file");
    cr_assert_eq(kt_rbuf_header(&r, other, &version, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "world file: not a world file (bad magic)");
    cr_assert_eq(r.off, 0);
    kt_rbuf_init(&r, w.p, 5, "world file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_EFORMAT, "shorter than a magic");
    cr_assert(strstr(e.msg, "bad magic") != NULL, "%s", e.msg);
    kt_rbuf_init(&r, w.p, 9, "world file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_EFORMAT, "no room for a version");
    cr_assert(strstr(e.msg, "truncated") != NULL, "%s", e.msg);
    kt_rbuf_init(&r, NULL, 0, "world file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_EFORMAT, "empty");
    kt_wbuf_free(&w);
}

Test(buf, version_is_returned_for_the_caller_to_judge)
{
    kt_wbuf w;
    kt_rbuf r;
    uint16_t version = 0;
    kt_err e;

    kt_wbuf_init(&w, false);
    kt_wbuf_header(&w, MAGIC, 0xbeef);
    cr_assert_eq(kt_wbuf_finish(&w, &e), KT_OK);
    kt_rbuf_init(&r, w.p, w.len, "test file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_OK);
    cr_assert_eq(version, 0xbeef);
    cr_assert_eq(kt_rbuf_end(&r, &e), KT_OK);
    kt_wbuf_free(&w);
}

Test(buf, fields_out_of_order_are_refused)
{
    kt_wbuf w;
    kt_rbuf r;
    uint16_t version;
    uint64_t serial;
    kt_err e;

    build(&w, false);
    kt_rbuf_init(&r, w.p, w.len, "test file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_OK);
    cr_assert_eq(kt_rbuf_field_u64(&r, TAG_SERIAL, &serial, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "test file: expected field 0x0002 at offset 10, found 0x0001");
    cr_assert_eq(r.off, 10, "a refused read consumes nothing");
    kt_wbuf_free(&w);
}

Test(buf, truncated_input_is_refused)
{
    kt_wbuf w;
    kt_rbuf r;
    uint16_t version;
    char name[17];
    uint64_t serial;
    kt_err e;

    build(&w, false);
    /* Every cut inside the second field. */
    for (size_t cut = 26; cut < 26 + 14; cut++) {
        kt_rbuf_init(&r, w.p, cut, "test file");
        cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_OK);
        cr_assert_eq(kt_rbuf_field_str(&r, TAG_NAME, name, 16, &e), KT_OK);
        cr_assert_eq(kt_rbuf_field_u64(&r, TAG_SERIAL, &serial, &e), KT_EFORMAT, "cut %zu", cut);
        cr_assert(strstr(e.msg, "truncated") != NULL, "%s", e.msg);
    }
    /* Its twin: uncut, the same read succeeds. */
    kt_rbuf_init(&r, w.p, 26 + 14, "test file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_OK);
    cr_assert_eq(kt_rbuf_field_str(&r, TAG_NAME, name, 16, &e), KT_OK);
    cr_assert_eq(kt_rbuf_field_u64(&r, TAG_SERIAL, &serial, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_rbuf_end(&r, &e), KT_OK);
    kt_wbuf_free(&w);
}

Test(buf, a_huge_declared_length_is_refused_without_overflow)
{
    uint8_t rec[6 + 4] = {0x00, 0x07, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
    kt_rbuf r;
    const uint8_t *v;
    size_t vlen;
    kt_err e;

    kt_rbuf_init(&r, rec, sizeof rec, "test file");
    cr_assert_eq(kt_rbuf_field(&r, 7, 0, SIZE_MAX, &v, &vlen, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "truncated") != NULL, "%s", e.msg);
}

Test(buf, lengths_out_of_range_are_refused)
{
    kt_wbuf w;
    kt_rbuf r;
    uint16_t version;
    const uint8_t *v;
    size_t vlen;
    kt_err e;

    build(&w, false);
    kt_rbuf_init(&r, w.p, w.len, "test file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_OK);
    cr_assert_eq(kt_rbuf_field(&r, TAG_NAME, 11, 20, &v, &vlen, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "test file: field 0x0001 at offset 10 is 10 bytes; expected 11 to 20");
    cr_assert_eq(kt_rbuf_field(&r, TAG_NAME, 1, 9, &v, &vlen, &e), KT_EFORMAT);
    cr_assert_eq(kt_rbuf_field(&r, TAG_NAME, 10, 10, &v, &vlen, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_rbuf_field(&r, TAG_SERIAL, 4, 4, &v, &vlen, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "test file: field 0x0002 at offset 26 is 8 bytes; expected 4");
    kt_wbuf_free(&w);
}

Test(buf, trailing_bytes_are_refused)
{
    kt_wbuf w;
    kt_rbuf r;
    uint16_t version;
    kt_err e;

    kt_wbuf_init(&w, false);
    kt_wbuf_header(&w, MAGIC, 1);
    kt_wbuf_u16(&w, 0);
    cr_assert_eq(kt_wbuf_finish(&w, &e), KT_OK);
    kt_rbuf_init(&r, w.p, w.len, "test file");
    cr_assert_eq(kt_rbuf_header(&r, MAGIC, &version, &e), KT_OK);
    cr_assert_eq(kt_rbuf_end(&r, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "test file: 2 trailing bytes after the last field at offset 10");
    kt_wbuf_free(&w);
}

static kt_rc read_str(const char *value, size_t n, size_t max, char *out, kt_err *e)
{
    kt_wbuf w;
    kt_rbuf r;
    kt_rc rc;

    kt_wbuf_init(&w, false);
    kt_wbuf_field(&w, TAG_NAME, value, n);
    cr_assert_eq(kt_wbuf_finish(&w, e), KT_OK);
    kt_rbuf_init(&r, w.p, w.len, "key file");
    rc = kt_rbuf_field_str(&r, TAG_NAME, out, max, e);
    cr_assert_eq(r.off, rc == KT_OK ? w.len : 0);
    kt_wbuf_free(&w);
    return rc;
}

Test(buf, strings_must_be_printable_ascii_of_bounded_length)
{
    char out[9];
    kt_err e;

    cr_assert_eq(read_str(" ~ok~ ", 6, 8, out, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(out, " ~ok~ ");
    cr_assert_eq(read_str("12345678", 8, 8, out, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(out, "12345678");
    cr_assert_eq(read_str("bad\x1b[0m", 7, 8, out, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "non-printable byte at position 3") != NULL, "%s", e.msg);
    cr_assert_eq(read_str("a\0b", 3, 8, out, &e), KT_EFORMAT);
    cr_assert_eq(read_str("caf\xc3\xa9", 5, 8, out, &e), KT_EFORMAT);
    cr_assert_eq(read_str("tab\there", 8, 8, out, &e), KT_EFORMAT);
    cr_assert_eq(read_str("del\x7f", 4, 8, out, &e), KT_EFORMAT);
    cr_assert_eq(read_str("", 0, 8, out, &e), KT_EFORMAT, "empty");
    cr_assert_eq(read_str("123456789", 9, 8, out, &e), KT_EFORMAT, "too long");
}

static void grow_many(bool secure)
{
    kt_wbuf w;
    uint8_t chunk[97];
    size_t total = 0;
    kt_err e;

    kt_wbuf_init(&w, secure);
    for (unsigned i = 0; i < 5000; i++) {
        size_t n = i % sizeof chunk;

        memset(chunk, (int)(i & 0xff), n);
        kt_wbuf_bytes(&w, chunk, n);
        total += n;
    }
    cr_assert_eq(kt_wbuf_finish(&w, &e), KT_OK);
    cr_assert_eq(w.len, total);
    cr_assert_geq(w.cap, w.len);
    total = 0;
    for (unsigned i = 0; i < 5000; i++) {
        size_t n = i % sizeof chunk;

        for (size_t j = 0; j < n; j++)
            cr_assert_eq(w.p[total + j], (uint8_t)(i & 0xff), "byte %zu", total + j);
        total += n;
    }
    kt_wbuf_free(&w);
    cr_assert_null(w.p);
    cr_assert_eq(w.len, 0);
}

Test(buf, secure_writer_grows_across_many_appends)
{
    grow_many(true);
}

Test(buf, plain_writer_grows_across_many_appends)
{
    grow_many(false);
}

Test(buf, a_field_over_4_gib_fails_the_writer)
{
    static const uint8_t one = 1;
    kt_wbuf w;
    kt_err e;

    kt_wbuf_init(&w, false);
    kt_wbuf_field(&w, 1, &one, (size_t)UINT32_MAX + 1);
    kt_wbuf_u16(&w, 7);
    cr_assert_eq(kt_wbuf_finish(&w, &e), KT_ENOMEM);
    cr_assert_eq(w.len, 0, "nothing is appended after a failure");
    kt_wbuf_free(&w);
}

Test(buf, big_endian_helpers)
{
    static const uint8_t b[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

    cr_assert_eq(kt_be16(b), 0x0123);
    cr_assert_eq(kt_be32(b), 0x01234567u);
    cr_assert_eq(kt_be64(b), UINT64_C(0x0123456789abcdef));
    cr_assert_eq(kt_be32(b + 4), 0x89abcdefu);
}
