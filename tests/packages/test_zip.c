/*
 * test_zip.c - the toolset zip: the writer is deterministic (same bytes, same `sha256sum`, fixed
 * times) and `unzip -t` and python's zipfile accept its output; extraction writes exactly the
 * files; crafted archives (made with python's zipfile, patched where zipfile will not lie) are
 * each refused with a message naming the entry, and leave nothing behind, inside or outside the
 * destination; a write failing midway is rolled back.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkgtest.h"

static const pkg_zip_entry FILES[] = {
    {"BYOK-KEK-pkg-NA-1", (const uint8_t *)"{\"kek\":1}\n", 10},
    {"BYOK-SecurityWorld-pkg-NA-1", (const uint8_t *)"{\"world\":1}\n", 12},
    {"verify/verifykeypackage.py", (const uint8_t *)"print('hi')\n", 12},
    {"README.txt", (const uint8_t *)"", 0},
};

/* pkg_zip_extract without a recovery report; earlier is what it said last. */
static bool earlier;
static kt_rc extract(const char *zip, const char *dest, const pkg_zip_caps *caps,
                     pkg_zip_contents *names, kt_err *e)
{
    return pkg_zip_extract(zip, dest, caps, NULL, NULL, names, &earlier, e);
}

Test(zip, deterministic_and_accepted_by_unzip)
{
    pt_need("unzip");
    pt_need("sha256sum");
    char *dir = ts_scratch(), *a = ts_path(dir, "a.zip"), *b = ts_path(dir, "b.zip");
    kt_buf x = {0}, y = {0};
    kt_err e;
    int st;

    cr_assert_eq(pkg_zip_build(FILES, 4, &x, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pkg_zip_build(FILES, 4, &y, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(x.len, y.len);
    cr_assert_arr_eq(x.p, y.p, x.len);
    cr_assert_eq(pkg_zip_write(a, FILES, 4, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    sleep(1); /* a clock that leaked into the archive would show now */
    cr_assert_eq(pkg_zip_write(b, FILES, 4, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pkg_zip_write(a, FILES, 4, KT_WRITE_NEW, &e), KT_EEXIST);
    char *ha = pt_capture(&st, "sha256sum < %s", a), *hb = pt_capture(&st, "sha256sum < %s", b);
    cr_assert_str_eq(ha, hb);
    cr_assert_eq(pt_run("unzip -t %s", a), 0);
    /* Every entry dated 2025-01-01 00:00:00, stored, mode -rw-r--r--. */
    char *list = pt_capture(&st, "unzip -Z -T %s", a);
    cr_assert_eq(st, 0);
    cr_log_info("%s", list);
    cr_assert(strstr(list, "-rw-r--r--") != NULL, "%s", list);
    for (char *p = strstr(list, " stor "); p != NULL; p = strstr(p + 1, " stor "))
        cr_assert_eq(strncmp(p + 6, "20250101.000000", 15), 0, "%s", p);
    cr_assert_null(strstr(list, " defN "), "%s", list);
    free(list);
    free(ha);
    free(hb);
    kt_buf_free(&x);
    kt_buf_free(&y);
    free(a);
    free(b);
    ts_rmrf(dir);
}

Test(zip, same_bytes_in_another_time_zone)
{
    kt_buf x = {0}, y = {0};
    kt_err e;

    setenv("TZ", "UTC", 1);
    tzset();
    cr_assert_eq(pkg_zip_build(FILES, 4, &x, &e), KT_OK, "%s", e.msg);
    setenv("TZ", "Pacific/Kiritimati", 1); /* UTC+14 */
    tzset();
    cr_assert_eq(pkg_zip_build(FILES, 4, &y, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(x.len, y.len);
    cr_assert_arr_eq(x.p, y.p, x.len);
    kt_buf_free(&x);
    kt_buf_free(&y);
}

Test(zip, python_zipfile_reads_our_zip)
{
    char *dir = ts_scratch(), *a = ts_path(dir, "a.zip");
    kt_err e;
    int st;

    cr_assert_eq(pkg_zip_write(a, FILES, 4, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    char *out = pt_capture(&st,
                           "%s -c 'import sys, zipfile\n"
                           "z = zipfile.ZipFile(sys.argv[1])\n"
                           "assert z.testzip() is None\n"
                           "for i in z.infolist():\n"
                           "    print(i.filename, i.date_time, len(z.read(i)))' %s",
                           PT_PYTHON, a);
    cr_assert_eq(st, 0);
    cr_assert_str_eq(out, "BYOK-KEK-pkg-NA-1 (2025, 1, 1, 0, 0, 0) 10\n"
                          "BYOK-SecurityWorld-pkg-NA-1 (2025, 1, 1, 0, 0, 0) 12\n"
                          "verify/verifykeypackage.py (2025, 1, 1, 0, 0, 0) 12\n"
                          "README.txt (2025, 1, 1, 0, 0, 0) 0\n");
    free(out);
    free(a);
    ts_rmrf(dir);
}

Test(zip, extract_round_trip)
{
    char *dir = ts_scratch(), *a = ts_path(dir, "a.zip"), *out = ts_path(dir, "out");
    pkg_zip_contents names;
    struct stat st;
    kt_err e;

    cr_assert_eq(pkg_zip_write(a, FILES, 4, KT_WRITE_NEW, &e), KT_OK);
    cr_assert_eq(extract(a, out, NULL, &names, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(names.n, 4);
    cr_assert_eq(names.total, 34);
    for (size_t i = 0; i < 4; i++) {
        char *p = ts_path(out, FILES[i].name);
        size_t n;
        uint8_t *got = ts_read(p, &n);

        cr_assert_str_eq(names.files[i].name, FILES[i].name);
        cr_assert_null(names.files[i].data.p);
        cr_assert_eq(names.files[i].data.len, FILES[i].len);
        cr_assert_eq(n, FILES[i].len);
        cr_assert_arr_eq(got, FILES[i].data, n);
        cr_assert_eq(stat(p, &st), 0);
        cr_assert_eq(st.st_mode & 07777, 0600);
        free(got);
        free(p);
    }
    char *sub = ts_path(out, "verify");
    cr_assert_eq(stat(sub, &st), 0);
    cr_assert(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    cr_assert_eq(stat(out, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0700);
    free(sub);
    pkg_zip_contents_free(&names);
    /* The same zip again: an earlier run of the same command, nothing written. */
    cr_assert_eq(extract(a, out, NULL, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert(earlier);
    /* Never over something else that exists: a folder with other contents (one byte changed,
     * one file more), a file, a link. */
    char *first = ts_path(out, FILES[0].name);
    uint8_t changed[64];
    memcpy(changed, FILES[0].data, FILES[0].len);
    changed[0] ^= 1;
    cr_assert_eq(unlink(first), 0);
    ts_write(first, changed, FILES[0].len);
    cr_assert_eq(extract(a, out, NULL, NULL, &e), KT_EEXIST);
    cr_assert(strstr(e.msg, "not empty") != NULL, "%s", e.msg);
    cr_assert_eq(unlink(first), 0);
    ts_write(first, FILES[0].data, FILES[0].len);
    cr_assert_eq(extract(a, out, NULL, NULL, &e), KT_OK, "%s", e.msg);
    char *extra = ts_path(out, "extra");
    ts_write(extra, "x", 1);
    cr_assert_eq(extract(a, out, NULL, NULL, &e), KT_EEXIST);
    cr_assert(!earlier);
    free(extra);
    free(first);
    cr_assert_eq(extract(a, a, NULL, NULL, &e), KT_EEXIST);
    char *link = ts_path(dir, "link"), *empty = ts_path(dir, "empty");
    cr_assert_eq(mkdir(empty, 0700), 0);
    cr_assert_eq(symlink(empty, link), 0);
    cr_assert_eq(extract(a, link, NULL, NULL, &e), KT_EEXIST);
    cr_assert(strstr(e.msg, "symbolic link") != NULL, "%s", e.msg);
    cr_assert_eq(pt_count_entries(empty), 0);
    /* An empty existing folder is fine. */
    cr_assert_eq(extract(a, empty, NULL, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pt_count_entries(empty), 4);
    free(link);
    free(empty);
    free(a);
    free(out);
    ts_rmrf(dir);
}

Test(zip, name_rules)
{
    static const char *const good[] = {"a",    "a.txt", "dir/a",          "a/b/c/d.e", ".hidden",
                                       "a..b", "...",   "with space.txt", "x-y_z+1"};
    static const char *const bad[] = {
        "",     "/etc/x", "../x",  "a/../../x", "a/..",   "..",    "./a",         "a/./b",
        "a//b", "a\\b",   "..\\x", "c:x",       "a\x01b", "a\x7f", "caf\xc3\xa9", "a/"};
    char long_component[300], long_name[1100];
    kt_err e;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(pkg_zip_name_check(good[i], false, &e), KT_OK, "%s: %s", good[i], e.msg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(pkg_zip_name_check(bad[i], false, &e), KT_EFORMAT, "accepted #%zu", i);
        cr_log_info("#%zu: %s", i, e.msg);
    }
    cr_assert_eq(pkg_zip_name_check("dir/", true, &e), KT_OK);
    cr_assert_eq(pkg_zip_name_check("dir//", true, &e), KT_EFORMAT);
    memset(long_component, 'a', 256);
    long_component[256] = '\0';
    cr_assert_eq(pkg_zip_name_check(long_component, false, &e), KT_EFORMAT);
    long_component[255] = '\0';
    cr_assert_eq(pkg_zip_name_check(long_component, false, &e), KT_OK);
    memset(long_name, 'a', 1025);
    for (size_t i = 100; i < 1025; i += 100)
        long_name[i] = '/';
    long_name[1025] = '\0';
    cr_assert_eq(pkg_zip_name_check(long_name, false, &e), KT_EFORMAT);
}

Test(zip, builder_refuses_what_the_extractor_would)
{
    pkg_zip_entry v[2] = {{"a.txt", (const uint8_t *)"x", 1}, {"A.TXT", (const uint8_t *)"y", 1}};
    kt_buf z = {0};
    kt_err e;

    cr_assert_eq(pkg_zip_build(v, 2, &z, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "case") != NULL, "%s", e.msg);
    v[1].name = "a.txt";
    cr_assert_eq(pkg_zip_build(v, 2, &z, &e), KT_EFORMAT);
    v[1].name = "a.txt/b";
    cr_assert_eq(pkg_zip_build(v, 2, &z, &e), KT_EFORMAT);
    v[1].name = "../b";
    cr_assert_eq(pkg_zip_build(v, 2, &z, &e), KT_EFORMAT);
    cr_assert_eq(pkg_zip_build(v, 0, &z, &e), KT_EUSAGE);
    cr_assert_null(z.p);
    v[1].name = "b/a.txt";
    cr_assert_eq(pkg_zip_build(v, 2, &z, &e), KT_OK, "%s", e.msg);
    kt_buf_free(&z);
}

/* ----------------------------------------------------------------------------------------- */
/* Crafted archives                                                                           */
/* ----------------------------------------------------------------------------------------- */

/* python's zipfile writes what it is told; patch() lies where zipfile will not. */
static const char CRAFT[] =
    "import struct, sys, warnings, zipfile\n"
    "warnings.simplefilter('ignore')\n"
    "mode, out = sys.argv[1], sys.argv[2]\n"
    "def info(name, attr=None):\n"
    "    i = zipfile.ZipInfo(name, (2025, 1, 1, 0, 0, 0))\n"
    "    i.create_system = 3\n"
    "    i.external_attr = (attr if attr is not None else 0o100644) << 16\n"
    "    return i\n"
    "def patch(path, fn):\n"
    "    b = bytearray(open(path, 'rb').read())\n"
    "    fn(b)\n"
    "    open(path, 'wb').write(bytes(b))\n"
    "def headers(b, sig):\n"
    "    i = b.find(sig)\n"
    "    while i >= 0:\n"
    "        yield i\n"
    "        i = b.find(sig, i + 1)\n"
    "def set_sizes(b, size):\n"
    "    for i in headers(b, b'PK\\x03\\x04'): struct.pack_into('<I', b, i + 22, size)\n"
    "    for i in headers(b, b'PK\\x01\\x02'): struct.pack_into('<I', b, i + 24, size)\n"
    "def set_flag(b, bit):\n"
    "    for i in headers(b, b'PK\\x03\\x04'): b[i + 6] |= bit\n"
    "    for i in headers(b, b'PK\\x01\\x02'): b[i + 8] |= bit\n"
    "D = zipfile.ZIP_DEFLATED\n"
    "with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as z:\n"
    "    if mode == 'good':\n"
    "        z.writestr(info('sub/', 0o040755), b'')\n"
    "        z.writestr(info('README.txt'), b'hello\\n' * 100, D)\n"
    "        z.writestr(info('sub/dir/a.bin'), bytes(range(256)) * 10)\n"
    "    elif mode == 'dotdot': z.writestr(info('../x'), b'escape')\n"
    "    elif mode == 'dotdot_inner': z.writestr(info('a/../../x'), b'escape')\n"
    "    elif mode == 'absolute': z.writestr(info('/etc/x'), b'escape')\n"
    "    elif mode == 'backslash': z.writestr(info('..\\\\x'), b'escape')\n"
    "    elif mode == 'control': z.writestr(info('a\\x1bb'), b'x')\n"
    "    elif mode == 'symlink':\n"
    "        z.writestr(info('ok.txt'), b'fine')\n"
    "        z.writestr(info('link', 0o120777), b'/etc/passwd')\n"
    "    elif mode == 'fifo': z.writestr(info('p', 0o010644), b'')\n"
    "    elif mode == 'device': z.writestr(info('d', 0o020644), b'')\n"
    "    elif mode == 'dup':\n"
    "        z.writestr(info('a.txt'), b'one')\n"
    "        z.writestr(info('a.txt'), b'two')\n"
    "    elif mode == 'dupcase':\n"
    "        z.writestr(info('README'), b'one')\n"
    "        z.writestr(info('readme'), b'two')\n"
    "    elif mode == 'fileasdir':\n"
    "        z.writestr(info('a'), b'file')\n"
    "        z.writestr(info('a/b'), b'inside')\n"
    "    elif mode == 'many':\n"
    "        for n in range(100000): z.writestr(info('f%d' % n), b'')\n"
    "    elif mode in ('big', 'crc', 'encrypted', 'sizelie'):\n"
    "        z.writestr(info('x.bin'), b'a' * 1000, D if mode == 'sizelie' else "
    "zipfile.ZIP_STORED)\n"
    "    elif mode == 'total':\n"
    "        for n in range(5): z.writestr(info('zeros%d' % n), bytes(15 * 1024 * 1024), D)\n"
    "    elif mode == 'bzip2': z.writestr(info('x'), b'x' * 100, zipfile.ZIP_BZIP2)\n"
    "    elif mode == 'dirdata': z.writestr(info('d/', 0o040755), b'data')\n"
    "    else: sys.exit('unknown mode ' + mode)\n"
    "if mode == 'big': patch(out, lambda b: set_sizes(b, 0x80000000))\n"
    "if mode == 'sizelie': patch(out, lambda b: set_sizes(b, 10))\n"
    "if mode == 'encrypted': patch(out, lambda b: set_flag(b, 1))\n"
    "if mode == 'crc':\n"
    "    def flip(b):\n"
    "        i = b.find(b'a' * 1000)\n"
    "        b[i + 500] ^= 1\n"
    "    patch(out, flip)\n";

typedef struct crafted {
    char *dir, *zip, *work, *dest;
} crafted;

/* Makes dir/<mode>.zip with the script; work/ is an empty folder, dest = work/out. */
static void craft(crafted *c, const char *mode)
{
    char *script;

    c->dir = ts_scratch();
    script = ts_path(c->dir, "craft.py");
    ts_write(script, CRAFT, strlen(CRAFT));
    cr_assert(asprintf(&c->zip, "%s/%s.zip", c->dir, mode) > 0);
    c->work = ts_path(c->dir, "work");
    cr_assert_eq(mkdir(c->work, 0700), 0);
    c->dest = ts_path(c->work, "out");
    cr_assert_eq(pt_run("%s %s %s %s", PT_PYTHON, script, mode, c->zip), 0, "crafting %s", mode);
    free(script);
}

static void crafted_free(crafted *c)
{
    free(c->zip);
    free(c->work);
    free(c->dest);
    ts_rmrf(c->dir);
}

static void refused(const char *mode, kt_rc want, const char *why)
{
    crafted c;
    kt_err e;
    kt_rc rc;

    craft(&c, mode);
    rc = extract(c.zip, c.dest, NULL, NULL, &e);
    cr_assert_eq(rc, want, "%s: %s (%s)", mode, kt_rc_name(rc), rc == KT_OK ? "" : e.msg);
    cr_assert(strstr(e.msg, why) != NULL, "%s: \"%s\" lacks \"%s\"", mode, e.msg, why);
    cr_assert(strstr(e.msg, c.zip) != NULL, "%s: the message names no file: %s", mode, e.msg);
    cr_log_info("%s: %s", mode, e.msg);
    /* Nothing inside the destination (it was never made), nothing beside it. */
    cr_assert_eq(pt_count_entries(c.work), 0, "%s left files behind", mode);
    cr_assert_eq(pt_count_entries(c.dir), 3, "%s wrote outside", mode); /* script, zip, work */
    crafted_free(&c);
}

Test(zip_crafted, a_genuine_python_zip_extracts)
{
    crafted c;
    pkg_zip_contents names;
    kt_err e;
    size_t n;

    craft(&c, "good");
    cr_assert_eq(extract(c.zip, c.dest, NULL, &names, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(names.n, 3);
    cr_assert(names.files[0].is_dir);
    char *p = ts_path(c.dest, "sub/dir/a.bin");
    uint8_t *got = ts_read(p, &n);
    cr_assert_eq(n, 2560);
    cr_assert_eq(got[257], 1);
    free(got);
    free(p);
    p = ts_path(c.dest, "README.txt");
    got = ts_read(p, &n);
    cr_assert_eq(n, 600, "the deflated entry");
    free(got);
    free(p);
    pkg_zip_contents_free(&names);
    crafted_free(&c);
}

Test(zip_crafted, path_escapes_refused)
{
    refused("dotdot", KT_EFORMAT, "\"..\"");
    refused("dotdot_inner", KT_EFORMAT, "\"..\"");
    refused("absolute", KT_EFORMAT, "absolute");
    refused("backslash", KT_EFORMAT, "backslash");
    refused("control", KT_EFORMAT, "control character");
    cr_assert_eq(access("/etc/x", F_OK), -1);
}

Test(zip_crafted, links_and_special_files_refused)
{
    refused("symlink", KT_EFORMAT, "\"link\" is a symbolic link");
    refused("fifo", KT_EFORMAT, "not a regular file");
    refused("device", KT_EFORMAT, "not a regular file");
    refused("dirdata", KT_EFORMAT, "folder that declares");
}

Test(zip_crafted, duplicates_refused)
{
    refused("dup", KT_EFORMAT, "appears twice");
    refused("dupcase", KT_EFORMAT, "ignored");
    refused("fileasdir", KT_EFORMAT, "puts something inside it");
}

Test(zip_crafted, sizes_refused)
{
    refused("big", KT_ETOOBIG, "declares 2147483648 bytes");
    refused("total", KT_ETOOBIG, "in all");
    refused("sizelie", KT_EFORMAT, "x.bin");
}

Test(zip_crafted, too_many_entries_refused, .timeout = 120)
{
    refused("many", KT_ETOOBIG, "100000 entries");
}

Test(zip_crafted, damage_and_features_refused)
{
    refused("crc", KT_EFORMAT, "x.bin");
    refused("encrypted", KT_EFORMAT, "encrypted");
    refused("bzip2", KT_EFORMAT, "compression method 12");
}

Test(zip_crafted, not_a_zip)
{
    char *dir = ts_scratch(), *f = ts_path(dir, "f.zip"), *out = ts_path(dir, "out");
    kt_err e;

    ts_write(f, "PK\x03\x04 not really", 16);
    cr_assert_eq(extract(f, out, NULL, NULL, &e), KT_EFORMAT);
    cr_log_info("%s", e.msg);
    cr_assert_eq(extract(out, out, NULL, NULL, &e), KT_ENOENT);
    cr_assert_eq(pt_count_entries(dir), 1);
    free(f);
    free(out);
    ts_rmrf(dir);
}

Test(zip_crafted, caps_are_the_callers)
{
    char *dir = ts_scratch(), *a = ts_path(dir, "a.zip"), *out = ts_path(dir, "out");
    pkg_zip_caps caps = pkg_zip_caps_default();
    kt_err e;

    cr_assert_eq(pkg_zip_write(a, FILES, 4, KT_WRITE_NEW, &e), KT_OK);
    caps.max_entries = 3;
    cr_assert_eq(extract(a, out, &caps, NULL, &e), KT_ETOOBIG);
    caps = pkg_zip_caps_default();
    caps.max_entry = 11;
    cr_assert_eq(extract(a, out, &caps, NULL, &e), KT_ETOOBIG);
    cr_assert(strstr(e.msg, "BYOK-SecurityWorld-pkg-NA-1") != NULL, "%s", e.msg);
    caps = pkg_zip_caps_default();
    caps.max_total = 33;
    cr_assert_eq(extract(a, out, &caps, NULL, &e), KT_ETOOBIG);
    caps = pkg_zip_caps_default();
    caps.max_zip = 100;
    cr_assert_eq(extract(a, out, &caps, NULL, &e), KT_ETOOBIG);
    cr_assert_eq(pt_count_entries(dir), 1);
    caps = pkg_zip_caps_default();
    caps.max_entry = 12;
    caps.max_total = 34;
    cr_assert_eq(extract(a, out, &caps, NULL, &e), KT_OK, "%s", e.msg);
    free(a);
    free(out);
    ts_rmrf(dir);
}

Test(zip_crafted, a_write_failing_midway_is_rolled_back)
{
    char *dir = ts_scratch(), *a = ts_path(dir, "a.zip"), *deep = strdup(dir), *out;
    char component[251], name[700];
    kt_err e;

    /* A destination so deep that the second file's path exceeds PATH_MAX: the first file is
     * written, the second cannot be, and the first must go again. */
    memset(component, 'd', 250);
    component[250] = '\0';
    for (int i = 0; i < 14; i++) {
        char *next;
        cr_assert(asprintf(&next, "%s/%s", deep, component) > 0);
        free(deep);
        deep = next;
        cr_assert_eq(mkdir(deep, 0700), 0, "%s", strerror(errno));
    }
    out = ts_path(deep, "out");
    snprintf(name, sizeof name, "z/%.200s/%.200s/%.200s", component, component, component);
    pkg_zip_entry v[2] = {{"a.txt", (const uint8_t *)"first", 5},
                          {name, (const uint8_t *)"second", 6}};
    cr_assert_eq(pkg_zip_write(a, v, 2, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
    cr_assert_neq(extract(a, out, NULL, NULL, &e), KT_OK);
    cr_log_info("%s", e.msg);
    cr_assert(strstr(e.msg, "too long") != NULL, "%s", e.msg);
    cr_assert_eq(pt_count_entries(deep), 0, "the half-extracted files were not removed");
    free(out);
    free(deep);
    free(a);
    ts_rmrf(dir);
}

Test(zip, refuses_a_destination_others_can_write_to)
{
    char *dir = ts_scratch(), *a = ts_path(dir, "a.zip"), *open_dir = ts_path(dir, "open");
    kt_err e;

    cr_assert_eq(pkg_zip_write(a, FILES, 4, KT_WRITE_NEW, &e), KT_OK);
    cr_assert_eq(mkdir(open_dir, 0700), 0);
    cr_assert_eq(chmod(open_dir, 0777), 0);
    cr_assert_eq(extract(a, open_dir, NULL, NULL, &e), KT_EEXIST);
    cr_assert(strstr(e.msg, "writable by others") != NULL, "%s", e.msg);
    cr_assert_eq(pt_count_entries(open_dir), 0);
    cr_assert_eq(chmod(open_dir, 0700), 0);
    cr_assert_eq(extract(a, open_dir, NULL, NULL, &e), KT_OK, "%s", e.msg);
    free(a);
    free(open_dir);
    ts_rmrf(dir);
}
