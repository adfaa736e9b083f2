/*
 * vtest.c - fixtures of the verify/ tests (vtest.h).
 */
#include "vtest.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/objects.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <sodium.h>

/* The committed throw-away test KEKs of the packages/ tests (tests/packages/data/README.md). */
static char *kek_path(unsigned bits)
{
    const char *slash = strrchr(__FILE__, '/');
    char *p;

    cr_assert_not_null(slash, "__FILE__ is not an absolute path: %s", __FILE__);
    cr_assert(asprintf(&p, "%.*s/../packages/data/kek-%u.pem", (int)(slash - __FILE__), __FILE__,
                       bits) > 0);
    return p;
}

EVP_PKEY *vt_key(const char *what)
{
    EVP_PKEY *k;

    if (strncmp(what, "RSA-", 4) == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)strtoul(what + 4, NULL, 10));
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", what);
    cr_assert_not_null(k, "cannot make a %s key", what);
    return k;
}

X509 *vt_issue(const vt_cloud *c, const vt_cert *o)
{
    pkg_cert_opts opts = {
        .issuer = o->issuer,
        .issuer_key = o->issuer_key != NULL ? o->issuer_key : o->subject_key,
        .subject_key = o->subject_key,
        .cn = o->cn,
        .org = o->org,
        .serial_number = o->esn,
        .not_before = (uint64_t)((int64_t)c->now + o->nb),
        .not_after = (uint64_t)((int64_t)c->now + o->na),
        .is_ca = o->ca,
        .path_len = o->path_len,
        .key_usage = o->ku,
        .ext_key_usage = o->eku,
    };
    X509 *x = NULL;
    kt_err e;

    cr_assert_eq(pkg_x509_issue(&opts, &x, &e), KT_OK, "%s", e.msg);
    return x;
}

X509 *vt_warrant(const vt_cloud *c, X509 *root, EVP_PKEY *root_key, EVP_PKEY *key, const char *esn)
{
    char cn[64];

    snprintf(cn, sizeof cn, "keytransfer DEMO module warrant %s", esn);
    return vt_issue(c, &(vt_cert){.issuer = root,
                                  .issuer_key = root_key,
                                  .subject_key = key,
                                  .cn = cn,
                                  .org = "keytransfer demo HSM vendor",
                                  .esn = esn,
                                  .nb = -3600,
                                  .na = 5 * 365 * VT_DAY,
                                  .ca = true,
                                  .path_len = 0,
                                  .ku = PKG_KU_KEY_CERT_SIGN | PKG_KU_DIGITAL_SIGNATURE});
}

X509 *vt_leaf(const vt_cloud *c, X509 *warrant, EVP_PKEY *warrant_key, EVP_PKEY *key,
              const char *esn)
{
    char cn[64];

    snprintf(cn, sizeof cn, "module %s attestation key", esn);
    return vt_issue(c, &(vt_cert){.issuer = warrant,
                                  .issuer_key = warrant_key,
                                  .subject_key = key,
                                  .cn = cn,
                                  .esn = esn,
                                  .nb = -3600,
                                  .na = 5 * 365 * VT_DAY,
                                  .ca = false,
                                  .path_len = -1,
                                  .ku = PKG_KU_DIGITAL_SIGNATURE,
                                  .eku = PKG_EKU_ATTESTATION_OID});
}

void vt_cloud_make(vt_cloud *c, unsigned kek_bits)
{
    kt_err e;

    memset(c, 0, sizeof *c);
    cr_assert(sodium_init() >= 0);
    c->now = (uint64_t)time(NULL);
    cr_assert_eq(pkg_x509_load_pem(KT_DEMO_ROOT_CERT, &c->root, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pkg_key_load_pem(KT_DEMO_ROOT_KEY, &c->root_key, &e), KT_OK, "%s", e.msg);
    c->warrant_key = vt_key("P-384");
    c->leaf_key = vt_key("P-384");
    c->warrant = vt_warrant(c, c->root, c->root_key, c->warrant_key, VT_ESN);
    c->leaf = vt_leaf(c, c->warrant, c->warrant_key, c->leaf_key, VT_ESN);
    if (kek_bits == 2048 || kek_bits == 3072 || kek_bits == 4096) {
        char *path = kek_path(kek_bits);

        cr_assert_eq(pkg_key_load_pem(path, &c->kek, &e), KT_OK, "%s", e.msg);
        free(path);
    } else {
        char what[32];

        snprintf(what, sizeof what, "RSA-%u", kek_bits);
        c->kek = vt_key(what);
    }

    pkg_kek_payload *k = &c->kek_payload;
    snprintf(k->kid, sizeof k->kid, "%s", VT_KID);
    cr_assert_eq(pkg_kek_payload_set_key(k, c->kek, &e), KT_OK, "%s", e.msg);
    snprintf(k->key_ops[0], sizeof k->key_ops[0], "import");
    k->n_key_ops = 1;
    k->exportable = false;
    snprintf(k->module_esn, sizeof k->module_esn, "%s", VT_ESN);
    snprintf(k->region, sizeof k->region, "NA");
    memset(k->world_hash, 0xa7, sizeof k->world_hash);
    k->created = c->now - 60;

    pkg_world_payload *w = &c->world_payload;
    memcpy(w->world_hash, k->world_hash, sizeof w->world_hash);
    snprintf(w->region, sizeof w->region, "NA");
    snprintf(w->cipher_suite, sizeof w->cipher_suite, "KTv1-Ed25519-XChaCha20Poly1305-Argon2id");
    snprintf(w->module_esns[0], sizeof w->module_esns[0], "%s", VT_ESN);
    w->n_module_esns = 1;
    w->created = c->now - 120;
}

void vt_cloud_free(vt_cloud *c)
{
    X509_free(c->root);
    X509_free(c->warrant);
    X509_free(c->leaf);
    EVP_PKEY_free(c->root_key);
    EVP_PKEY_free(c->warrant_key);
    EVP_PKEY_free(c->leaf_key);
    EVP_PKEY_free(c->kek);
    pkg_kek_payload_free(&c->kek_payload);
    memset(c, 0, sizeof *c);
}

char *vt_kek_json(const pkg_kek_payload *p)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(pkg_kek_payload_build(p, &s, &e), KT_OK, "%s", e.msg);
    return s;
}

char *vt_world_json(const pkg_world_payload *p)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(pkg_world_payload_build(p, &s, &e), KT_OK, "%s", e.msg);
    return s;
}

char *vt_sign(const char *payload, X509 *const *chain, size_t n, EVP_PKEY *signer)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(pkg_jws_sign((const uint8_t *)payload, strlen(payload), signer, chain, n, &s, &e),
                 KT_OK, "%s", e.msg);
    return s;
}

static char *b64u(const void *p, size_t n)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(kt_b64url_encode(p, n, &s, &e), KT_OK);
    return s;
}

char *vt_header(const char *alg, X509 *const *chain, size_t n)
{
    json_t *h = json_object(), *x5c = json_array();
    char *text;

    for (size_t i = 0; i < n; i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(chain[i], &der);
        char *b64 = malloc(4 * (((size_t)len + 2) / 3) + 1);

        cr_assert_gt(len, 0);
        cr_assert_not_null(b64);
        /* Standard padded base64 (RFC 7515 §4.1.6), by OpenSSL rather than our codec. */
        cr_assert_geq(EVP_EncodeBlock((unsigned char *)b64, der, len), 0);
        json_array_append_new(x5c, json_string(b64));
        free(b64);
        OPENSSL_free(der);
    }
    json_object_set_new(h, "alg", json_string(alg));
    json_object_set_new(h, "typ", json_string("JOSE+JSON"));
    json_object_set_new(h, "x5c", x5c);
    text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_not_null(text);
    json_decref(h);
    return text;
}

char *vt_sign_raw(const char *header, const char *payload, EVP_PKEY *signer, bool der)
{
    char *prot = b64u(header, strlen(header)), *pl = b64u(payload, strlen(payload));
    char *input, *sig64, *doc;
    unsigned char sig[160];
    uint8_t raw[PKG_ES384_SIG_LEN];
    size_t sig_len = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    kt_err e;

    cr_assert(asprintf(&input, "%s.%s", prot, pl) > 0);
    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, signer), 1);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, strlen(input)),
                 1);
    EVP_MD_CTX_free(ctx);
    if (der) {
        sig64 = b64u(sig, sig_len);
    } else {
        cr_assert_eq(pkg_ecdsa_der_to_raw(sig, sig_len, raw, &e), KT_OK, "%s", e.msg);
        sig64 = b64u(raw, sizeof raw);
    }
    cr_assert(asprintf(&doc, "{\"payload\":\"%s\",\"protected\":\"%s\",\"signature\":\"%s\"}\n", pl,
                       prot, sig64) > 0);
    free(sig64);
    free(input);
    free(pl);
    free(prot);
    return doc;
}

/* ----------------------------------------------------------------------------------------- */
/* Crafted certificates                                                                       */
/* ----------------------------------------------------------------------------------------- */

static void append(kt_buf *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    cr_assert_not_null(b->p);
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* X.690 §8.1: tag, definite length in the fewest bytes, contents. */
static void put_tlv(kt_buf *b, uint8_t tag, const void *c, size_t n)
{
    uint8_t h[6];
    size_t hl = 0;

    h[hl++] = tag;
    if (n < 0x80) {
        h[hl++] = (uint8_t)n;
    } else {
        size_t bytes = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;

        h[hl++] = (uint8_t)(0x80 | bytes);
        for (size_t i = bytes; i > 0; i--)
            h[hl++] = (uint8_t)(n >> (8 * (i - 1)));
    }
    append(b, h, hl);
    append(b, c, n);
}

/* The header of the DER element at p (of n bytes): its length into *len, returns the header's. */
static size_t tlv_header(const uint8_t *p, size_t n, size_t *len)
{
    size_t hl = 2;

    cr_assert_geq(n, 2);
    if (p[1] < 0x80) {
        *len = p[1];
    } else {
        size_t bytes = p[1] & 0x7f;

        *len = 0;
        for (size_t i = 0; i < bytes; i++)
            *len = (*len << 8) | p[2 + i];
        hl += bytes;
    }
    cr_assert_leq(hl + *len, n);
    return hl;
}

/* Whether word is one of the comma-separated words of list. */
static bool is_listed(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; p != NULL; p = strchr(p, ',') != NULL ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

kt_buf vt_ext(const char *oid, int critical, const void *value, size_t len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    unsigned char *od = NULL;
    int ol;
    kt_buf body = {0}, out = {0};

    cr_assert_not_null(obj, "OID %s", oid);
    ol = i2d_ASN1_OBJECT(obj, &od);
    cr_assert_gt(ol, 0);
    append(&body, od, (size_t)ol);
    if (critical >= 0) {
        uint8_t flag = (uint8_t)critical;

        put_tlv(&body, 0x01, &flag, 1);
    }
    put_tlv(&body, 0x04, value, len);
    put_tlv(&out, 0x30, body.p, body.len);
    OPENSSL_free(od);
    ASN1_OBJECT_free(obj);
    free(body.p);
    return out;
}

kt_buf vt_der(X509 *x)
{
    unsigned char *d = NULL;
    int n = i2d_X509(x, &d);
    kt_buf out = {0};

    cr_assert_gt(n, 0);
    append(&out, d, (size_t)n);
    OPENSSL_free(d);
    return out;
}

static kt_buf reissue(X509 *base, const char *drop, const kt_buf *add, size_t n, int field,
                      const kt_buf *with, EVP_PKEY *issuer_key);

kt_buf vt_reissue(X509 *base, const char *drop, const kt_buf *add, size_t n, EVP_PKEY *issuer_key)
{
    return reissue(base, drop, add, n, -1, NULL, issuer_key);
}

kt_buf vt_reissue_field(X509 *base, int field, const kt_buf *with, EVP_PKEY *issuer_key)
{
    return reissue(base, NULL, NULL, 0, field, with, issuer_key);
}

static kt_buf reissue(X509 *base, const char *drop, const kt_buf *add, size_t n, int field,
                      const kt_buf *with, EVP_PKEY *issuer_key)
{
    static const uint8_t ecdsa_sha384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
    unsigned char *tbs = NULL, sig[160];
    int tbs_len = i2d_re_X509_tbs(base, &tbs);
    size_t body_len, at, sig_len = sizeof sig;
    kt_buf fields = {0}, exts = {0}, seq = {0}, new_tbs = {0}, cert = {0}, bits = {0};
    bool drop_all = drop != NULL && strcmp(drop, "*") == 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    cr_assert_gt(tbs_len, 0);
    /* TBSCertificate: every member but [3] extensions kept as it is, member number field
     * replaced when asked. */
    at = tlv_header(tbs, (size_t)tbs_len, &body_len);
    for (int i = 0; at < (size_t)tbs_len; i++) {
        size_t len, hl = tlv_header(tbs + at, (size_t)tbs_len - at, &len);

        if (i == field)
            append(&fields, with->p, with->len);
        else if (tbs[at] != 0xa3)
            append(&fields, tbs + at, hl + len);
        at += hl + len;
    }
    for (int i = 0; !drop_all && i < X509_get_ext_count(base); i++) {
        X509_EXTENSION *ext = X509_get_ext(base, i);
        unsigned char *d = NULL;
        char oid[80];
        int dl;

        cr_assert_gt(OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(ext), 1), 0);
        if (drop != NULL && is_listed(drop, oid))
            continue;
        dl = i2d_X509_EXTENSION(ext, &d);
        cr_assert_gt(dl, 0);
        append(&exts, d, (size_t)dl);
        OPENSSL_free(d);
    }
    for (size_t i = 0; i < n; i++)
        append(&exts, add[i].p, add[i].len);
    if (exts.len > 0) {
        put_tlv(&seq, 0x30, exts.p, exts.len);
        put_tlv(&fields, 0xa3, seq.p, seq.len);
    }
    put_tlv(&new_tbs, 0x30, fields.p, fields.len);
    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, issuer_key), 1);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &sig_len, new_tbs.p, new_tbs.len), 1);
    append(&bits, "", 1); /* no unused bits */
    append(&bits, sig, sig_len);
    append(&new_tbs, ecdsa_sha384, sizeof ecdsa_sha384);
    put_tlv(&new_tbs, 0x03, bits.p, bits.len);
    put_tlv(&cert, 0x30, new_tbs.p, new_tbs.len);
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(tbs);
    free(fields.p);
    free(exts.p);
    free(seq.p);
    free(new_tbs.p);
    free(bits.p);
    return cert;
}

char *vt_header_der(const char *alg, const kt_buf *chain, size_t n)
{
    json_t *h = json_object(), *x5c = json_array();
    char *text;

    for (size_t i = 0; i < n; i++) {
        char *b64 = malloc(4 * ((chain[i].len + 2) / 3) + 1);

        cr_assert_not_null(b64);
        cr_assert_geq(EVP_EncodeBlock((unsigned char *)b64, chain[i].p, (int)chain[i].len), 0);
        json_array_append_new(x5c, json_string(b64));
        free(b64);
    }
    json_object_set_new(h, "alg", json_string(alg));
    json_object_set_new(h, "typ", json_string("JOSE+JSON"));
    json_object_set_new(h, "x5c", x5c);
    text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_not_null(text);
    json_decref(h);
    return text;
}

char *vt_kek_package(const vt_cloud *c)
{
    X509 *chain[3] = {c->leaf, c->warrant, c->root};
    char *json = vt_kek_json(&c->kek_payload), *s = vt_sign(json, chain, 3, c->leaf_key);

    free(json);
    return s;
}

char *vt_world_package(const vt_cloud *c)
{
    X509 *chain[3] = {c->leaf, c->warrant, c->root};
    char *json = vt_world_json(&c->world_payload), *s = vt_sign(json, chain, 3, c->leaf_key);

    free(json);
    return s;
}

kt_rc vt_verify(const vt_cloud *c, const char *kek, const char *world, verify_result *r, kt_err *e)
{
    return verify_packages((const uint8_t *)kek, strlen(kek), (const uint8_t *)world, strlen(world),
                           c->now, r, e);
}

/* ----------------------------------------------------------------------------------------- */
/* Files and processes                                                                        */
/* ----------------------------------------------------------------------------------------- */

char *vt_capture(int *status, const char *fmt, ...)
{
    va_list ap;
    char *cmd, *out = NULL;
    size_t cap = 0, len = 0, got;
    FILE *p;
    int st;

    va_start(ap, fmt);
    cr_assert(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    cr_log_info("$ %s", cmd);
    p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    do {
        if (len + 1 >= cap) {
            cap = cap ? 2 * cap : 65536;
            out = realloc(out, cap);
            cr_assert_not_null(out);
        }
        got = fread(out + len, 1, cap - len - 1, p);
        len += got;
    } while (got > 0);
    out[len] = '\0';
    st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    free(cmd);
    return out;
}

const char *vt_script(void)
{
    return KT_TEST_BINDIR "/verify/verifykeypackage.py";
}

void vt_need_python(void)
{
    int st;
    char *out = vt_capture(&st, "%s -c 'import cryptography' 2>&1", VT_PYTHON);

    free(out);
    if (st != 0)
        cr_skip_test("%s with python3-cryptography is not installed", VT_PYTHON);
}

vt_batch *vt_python_batch_start(const char *dir, char *const *kek, char *const *world, size_t n)
{
    vt_batch *b = calloc(1, sizeof *b);
    char *list = ts_path(dir, "batch.list"), *text = NULL, *cmd;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    cr_assert(b != NULL && f != NULL);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\t%s\n", kek[i], world[i]);
    cr_assert_eq(fclose(f), 0);
    ts_write(list, text, len);
    free(text);
    b->n = n;
    b->out = ts_path(dir, "batch.out");
    b->err = ts_path(dir, "batch.err");
    /* Output to files, so the process never waits for a reader while the caller works. */
    cr_assert(asprintf(&cmd, "%s %s --batch %s >%s 2>%s", VT_PYTHON, vt_script(), list, b->out,
                       b->err) > 0);
    cr_log_info("$ %s", cmd);
    b->proc = popen(cmd, "r");
    cr_assert_not_null(b->proc, "popen %s", cmd);
    free(cmd);
    free(list);
    return b;
}

json_t *vt_python_batch_finish(vt_batch *b, int *status)
{
    size_t out_len = 0, err_len = 0;
    int st = pclose(b->proc);
    char *out = (char *)ts_read(b->out, &out_len), *err = (char *)ts_read(b->err, &err_len);
    json_t *reports = json_array();

    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);

        cr_assert_not_null(v, "the Python verifier printed a line that is not JSON: %s (%s)", line,
                           jerr.text);
        json_array_append_new(reports, v);
    }
    cr_assert_eq(json_array_size(reports), b->n,
                 "the Python verifier gave %zu reports for %zu pairs (exit %d): %s",
                 json_array_size(reports), b->n, *status, err);
    free(err);
    free(out);
    free(b->out);
    free(b->err);
    free(b);
    return reports;
}

json_t *vt_python_batch(const char *dir, char *const *kek, char *const *world, size_t n,
                        int *status)
{
    return vt_python_batch_finish(vt_python_batch_start(dir, kek, world, n), status);
}
