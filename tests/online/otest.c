/*
 * otest.c - fixtures shared by the online/ tests (otest.h).
 */
#include "otest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <sodium.h>

EVP_PKEY *ot_key(const char *name)
{
    char path[4096];
    const char *slash = strrchr(__FILE__, '/');
    cr_assert_not_null(slash);
    snprintf(path, sizeof path, "%.*s/../packages/data/%s", (int)(slash - __FILE__), __FILE__,
             name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(k, "%s is not a PEM private key", path);
    return k;
}

static void write_manifest(ot_package *p)
{
    char *text = NULL;
    kt_err e;
    cr_assert_eq(pkg_manifest_sign(&p->m, p->module_sk, &text, &e), KT_OK, "%s", e.msg);
    ts_write(p->manifest_path, text, strlen(text));
    free(text);
}

void ot_package_make(ot_package *p, const char *dir, const char *name, EVP_PKEY *target)
{
    EVP_PKEY *kek = ot_key("kek-2048.pem");
    kt_secbuf material = {0};
    kt_buf blob = {0};
    char *byok = NULL, file[256];
    kt_err e;

    memset(p, 0, sizeof *p);
    cr_assert(sodium_init() >= 0);
    p->dir = strdup(dir);
    snprintf(file, sizeof file, "TransferPackage-%s.byok", name);
    p->byok_path = ts_path(dir, file);
    snprintf(file, sizeof file, "TransferPackage-%s.manifest.json", name);
    p->manifest_path = ts_path(dir, file);
    crypto_sign_keypair(p->module_pk, p->module_sk);
    pkg_ed25519_fingerprint(p->module_pk, p->module_fp);

    pkg_manifest *m = &p->m;
    snprintf(m->tool_version, sizeof m->tool_version, "keytransfer test");
    snprintf(m->app, sizeof m->app, "xferacld");
    snprintf(m->ident, sizeof m->ident, "testkey");
    snprintf(m->plainname, sizeof m->plainname, "test key");
    if (target == NULL) {
        cr_assert_eq(kt_secbuf_alloc(&material, 32, &e), KT_OK);
        kt_random(material.p, 32);
        snprintf(m->key_type, sizeof m->key_type, "AES");
        m->key_bits = 256;
        kt_sha256(m->key_sha256, material.p, 32); /* any key hash: the online side never has it */
    } else {
        cr_assert_eq(kt_pkcs8_encode(target, &material, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(kt_spki_encode(target, &m->public_key, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(kt_spki_sha256(target, m->key_sha256, &e), KT_OK, "%s", e.msg);
        if (EVP_PKEY_is_a(target, "RSA")) {
            snprintf(m->key_type, sizeof m->key_type, "RSA");
            m->key_bits = (unsigned)EVP_PKEY_get_bits(target);
        } else {
            char group[64];
            size_t glen = 0;
            cr_assert(EVP_PKEY_get_group_name(target, group, sizeof group, &glen) == 1);
            snprintf(m->key_type, sizeof m->key_type, "EC");
            m->key_bits = (unsigned)EVP_PKEY_get_bits(target);
            const char *curve = strcmp(group, "prime256v1") == 0  ? "P-256"
                                : strcmp(group, "secp384r1") == 0 ? "P-384"
                                : strcmp(group, "secp521r1") == 0 ? "P-521"
                                : strcmp(group, "secp256k1") == 0 ? "secp256k1"
                                                                  : "?";
            snprintf(m->curve, sizeof m->curve, "%s", curve);
        }
    }
    memcpy(p->key_sha256, m->key_sha256, 32);
    cr_assert_eq(pkg_rsa_aes_wrap(kek, PKG_OAEP_SHA1, material.p, material.len, &blob, &e), KT_OK,
                 "%s", e.msg);
    cr_assert_eq(pkg_byok_write(OT_KID, blob.p, blob.len, "keytransfer test", &byok, &e), KT_OK,
                 "%s", e.msg);
    ts_write(p->byok_path, byok, strlen(byok));

    snprintf(m->kid, sizeof m->kid, "%s", OT_KID);
    cr_assert_eq(kt_spki_sha256(kek, m->kek_sha256, &e), KT_OK);
    m->attested = true;
    snprintf(m->root_name, sizeof m->root_name, "%s", PKG_ROOT_NAME_DEMO);
    pkg_demo_root_sha256(m->root_sha256);
    m->has_world = true;
    memset(m->target_world_hash, 0xa7, 32);
    snprintf(m->target, sizeof m->target, "azure");
    snprintf(m->oaep_hash, sizeof m->oaep_hash, "SHA-1");
    snprintf(m->subscription, sizeof m->subscription, "00000000-0000-0000-0000-000000000000");
    snprintf(m->friendly_name, sizeof m->friendly_name, "%s", name);
    snprintf(m->package_file, sizeof m->package_file, "TransferPackage-%s.byok", name);
    kt_sha256(m->package_sha256, (const uint8_t *)byok, strlen(byok));
    m->created = 1795000000;
    write_manifest(p);

    free(byok);
    kt_buf_free(&blob);
    kt_secbuf_free(&material);
    EVP_PKEY_free(kek);
}

void ot_package_resign(ot_package *p)
{
    write_manifest(p);
}

void ot_package_free(ot_package *p)
{
    free(p->dir);
    free(p->byok_path);
    free(p->manifest_path);
    pkg_manifest_free(&p->m);
    sodium_memzero(p->module_sk, sizeof p->module_sk);
    memset(p, 0, sizeof *p);
}

/* ---- a one-shot HTTP server ---- */

static void *serve_once(void *arg)
{
    ot_server *s = arg;
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    if (poll(&pfd, 1, s->wait_ms) != 1)
        return NULL; /* nobody came */
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    s->accepted = true;
    size_t cap = 4 * 1024 * 1024, len = 0, need = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL && len < cap) {
        struct pollfd cp = {.fd = c, .events = POLLIN};
        if (poll(&cp, 1, 2000) != 1)
            break;
        ssize_t n = read(c, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        if (need == 0) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            need =
                (size_t)(end + 4 - buf) + (cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (len >= need)
            break;
    }
    s->request = buf;
    s->request_len = len;
    size_t off = 0;
    while (off < s->answer_len) {
        ssize_t n = write(c, s->answer + off, s->answer_len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(c, SHUT_WR);
    close(c);
    return NULL;
}

void ot_server_start(ot_server *s, const char *answer, size_t answer_len, int wait_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    memset(s, 0, sizeof *s);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(s->fd >= 0);
    cr_assert_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(s->fd, 4), 0);
    cr_assert_eq(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    s->wait_ms = wait_ms;
    s->answer = malloc(answer_len + 1);
    cr_assert_not_null(s->answer);
    memcpy(s->answer, answer, answer_len);
    s->answer_len = answer_len;
    pthread_t *t = malloc(sizeof *t);
    cr_assert_not_null(t);
    cr_assert_eq(pthread_create(t, NULL, serve_once, s), 0);
    s->thread = t;
}

void ot_server_join(ot_server *s)
{
    if (s->thread != NULL) {
        pthread_join(*(pthread_t *)s->thread, NULL);
        free(s->thread);
        s->thread = NULL;
    }
}

void ot_server_free(ot_server *s)
{
    ot_server_join(s);
    if (s->fd >= 0)
        close(s->fd);
    free(s->answer);
    free(s->request);
    memset(s, 0, sizeof *s);
}

unsigned ot_closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}
