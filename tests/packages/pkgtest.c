/*
 * pkgtest.c - fixtures shared by the packages/ tests (pkgtest.h).
 */
#include "pkgtest.h"

#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <sodium.h>

/* The folder of this file: the test data sits beside it (CMake passes absolute paths). */
static const char *data_dir(void)
{
    static char dir[4096];

    if (dir[0] == '\0') {
        const char *slash = strrchr(__FILE__, '/');

        cr_assert_not_null(slash, "__FILE__ is not an absolute path: %s", __FILE__);
        snprintf(dir, sizeof dir, "%.*s/data", (int)(slash - __FILE__), __FILE__);
    }
    return dir;
}

static int status_of(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int pt_run(const char *fmt, ...)
{
    va_list ap;
    char *cmd;
    int st;

    va_start(ap, fmt);
    cr_assert(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    cr_log_info("$ %s", cmd);
    st = system(cmd);
    free(cmd);
    return status_of(st);
}

char *pt_capture(int *status, const char *fmt, ...)
{
    va_list ap;
    char *cmd, *out = NULL;
    size_t cap = 0, len = 0, got;
    FILE *p;

    va_start(ap, fmt);
    cr_assert(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    cr_log_info("$ %s", cmd);
    p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    do {
        if (len + 1 >= cap) {
            cap = cap ? 2 * cap : 4096;
            out = realloc(out, cap);
            cr_assert_not_null(out);
        }
        got = fread(out + len, 1, cap - len - 1, p);
        len += got;
    } while (got > 0);
    out[len] = '\0';
    *status = status_of(pclose(p));
    free(cmd);
    return out;
}

void pt_need(const char *program)
{
    if (pt_run("command -v %s >/dev/null 2>&1", program) != 0)
        cr_skip_test("%s is not installed", program);
}

void pt_need_pyca(void)
{
    if (pt_run("%s -c 'import cryptography' >/dev/null 2>&1", PT_PYTHON) != 0)
        cr_skip_test("%s with python3-cryptography is not installed", PT_PYTHON);
}

const char *pt_kek_path(unsigned bits)
{
    static char path[4][4200];
    int i = bits == 2048 ? 0 : bits == 3072 ? 1 : bits == 4096 ? 2 : 3;

    snprintf(path[i], sizeof path[i], "%s/kek-%s.pem", data_dir(),
             i == 0   ? "2048"
             : i == 1 ? "3072"
             : i == 2 ? "4096"
                      : "2048-other");
    return path[i];
}

EVP_PKEY *pt_kek(unsigned bits)
{
    EVP_PKEY *k = NULL;
    kt_err e;

    cr_assert_eq(pkg_key_load_pem(pt_kek_path(bits), &k, &e), KT_OK, "%s", e.msg);
    return k;
}

json_t *pt_vectors(const char *file)
{
    char path[4096];
    json_error_t err;
    json_t *v;

    snprintf(path, sizeof path, "%s/wycheproof/%s", KT_TEST_VECTORS, file);
    v = json_load_file(path, 0, &err);
    cr_assert_not_null(v, "%s: %s", path, err.text);
    return v;
}

uint8_t *pt_unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    uint8_t *p = malloc(len / 2 + 1);

    cr_assert_not_null(p);
    cr_assert_eq(len % 2, 0);
    cr_assert_eq(sodium_hex2bin(p, len / 2 + 1, hex, len, NULL, n, NULL), 0);
    return p;
}

EVP_PKEY *pt_ec_key(const char *curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

    cr_assert_not_null(k);
    return k;
}

long pt_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            cr_log_info("entry in %s: %s", dir, de->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

void pt_chain_make(pt_chain *c)
{
    uint64_t now = (uint64_t)time(NULL);
    kt_err e;

    memset(c, 0, sizeof *c);
    cr_assert_eq(pkg_x509_load_pem(KT_DEMO_ROOT_CERT, &c->root, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pkg_key_load_pem(KT_DEMO_ROOT_KEY, &c->root_key, &e), KT_OK, "%s", e.msg);
    c->warrant_key = pt_ec_key("P-384");
    c->leaf_key = pt_ec_key("P-384");
    pkg_cert_opts w = {.issuer = c->root,
                       .issuer_key = c->root_key,
                       .subject_key = c->warrant_key,
                       .cn = "keytransfer DEMO module warrant 0123-4567-89AB",
                       .org = "keytransfer demo HSM vendor",
                       .serial_number = "0123-4567-89AB",
                       .not_before = now - 3600,
                       .not_after = now + 365 * 86400,
                       .is_ca = true,
                       .path_len = 0,
                       .key_usage = PKG_KU_KEY_CERT_SIGN | PKG_KU_DIGITAL_SIGNATURE};
    cr_assert_eq(pkg_x509_issue(&w, &c->warrant, &e), KT_OK, "%s", e.msg);
    pkg_cert_opts l = {.issuer = c->warrant,
                       .issuer_key = c->warrant_key,
                       .subject_key = c->leaf_key,
                       .cn = "module 0123-4567-89AB attestation key",
                       .not_before = now - 3600,
                       .not_after = now + 365 * 86400,
                       .is_ca = false,
                       .path_len = -1,
                       .key_usage = PKG_KU_DIGITAL_SIGNATURE};
    cr_assert_eq(pkg_x509_issue(&l, &c->leaf, &e), KT_OK, "%s", e.msg);
}

void pt_chain_free(pt_chain *c)
{
    X509_free(c->root);
    X509_free(c->warrant);
    X509_free(c->leaf);
    EVP_PKEY_free(c->root_key);
    EVP_PKEY_free(c->warrant_key);
    EVP_PKEY_free(c->leaf_key);
    memset(c, 0, sizeof *c);
}
