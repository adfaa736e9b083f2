/*
 * test_cases.c - the crafted packages, each refused by both verifiers with the same
 * failing check: the C library in-process and verifykeypackage.py (one /usr/bin/python3 process
 * over every case, --batch). Both accept the genuine packages, and for every case the two agree
 * on every check's outcome, the exit status and the facts they report. Every check of the table
 * is the verdict of at least one case, so none can be removed unnoticed.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rsa.h>

#include "vtest.h"

typedef void (*make_fn)(const vt_cloud *g, char **kek, char **world);

typedef struct vt_case {
    const char *name;
    make_fn make;
    const char *check; /* the failing check both must name; NULL: SUCCESS */
    int status;        /* the exit status both must give */
} vt_case;

/* ----------------------------------------------------------------------------------------- */
/* Builders                                                                                   */
/* ----------------------------------------------------------------------------------------- */

/* A KEK package for payload p signed by the genuine chain. */
static char *kek_signed(const vt_cloud *g, const pkg_kek_payload *p)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *json = vt_kek_json(p), *s = vt_sign(json, chain, 3, g->leaf_key);

    free(json);
    return s;
}

static char *world_signed(const vt_cloud *g, const pkg_world_payload *p)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *json = vt_world_json(p), *s = vt_sign(json, chain, 3, g->leaf_key);

    free(json);
    return s;
}

/* payload text, with the first `from` replaced by `to`, signed by the genuine chain. */
static char *signed_text_with(const vt_cloud *g, const char *json, const char *from, const char *to)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    const char *at = strstr(json, from);
    char *edited, *s;

    cr_assert_not_null(at, "'%s' is not in %s", from, json);
    cr_assert(asprintf(&edited, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from)) > 0);
    s = vt_sign(edited, chain, 3, g->leaf_key);
    free(edited);
    return s;
}

/* A copy of the genuine KEK payload that can be edited (the key buffer is shared: do not free,
 * unless key_of() gave it its own). */
static pkg_kek_payload kek_copy(const vt_cloud *g)
{
    return g->kek_payload;
}

static void key_of(pkg_kek_payload *p, EVP_PKEY *key)
{
    kt_err e;

    p->public_key = (kt_buf){0};
    cr_assert_eq(pkg_kek_payload_set_key(p, key, &e), KT_OK, "%s", e.msg);
}

/* Another vendor's root: a self-signed P-384 CA, even named like the DEMO root. */
static X509 *other_root(const vt_cloud *g, EVP_PKEY *key)
{
    return vt_issue(g, &(vt_cert){.subject_key = key,
                                  .cn = "keytransfer DEMO vendor root - NOT FOR PRODUCTION",
                                  .org = "keytransfer demo",
                                  .nb = -VT_DAY,
                                  .na = 3650 * VT_DAY,
                                  .ca = true,
                                  .path_len = -1,
                                  .ku = PKG_KU_KEY_CERT_SIGN | PKG_KU_CRL_SIGN});
}

/* A payload signed under a whole chain made under another root. */
static char *under_other_root(const vt_cloud *g, const char *json)
{
    EVP_PKEY *rk = vt_key("P-384"), *wk = vt_key("P-384"), *lk = vt_key("P-384");
    X509 *root = other_root(g, rk), *warrant = vt_warrant(g, root, rk, wk, VT_ESN),
         *leaf = vt_leaf(g, warrant, wk, lk, VT_ESN);
    X509 *chain[3] = {leaf, warrant, root};
    char *s = vt_sign(json, chain, 3, lk);

    X509_free(root);
    X509_free(warrant);
    X509_free(leaf);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(wk);
    EVP_PKEY_free(lk);
    return s;
}

/* A payload signed by a leaf with the given validity under the genuine warrant. */
static char *with_leaf_validity(const vt_cloud *g, const char *json, int64_t nb, int64_t na)
{
    EVP_PKEY *lk = vt_key("P-384");
    X509 *leaf = vt_issue(g, &(vt_cert){.issuer = g->warrant,
                                        .issuer_key = g->warrant_key,
                                        .subject_key = lk,
                                        .cn = "module " VT_ESN " attestation key",
                                        .esn = VT_ESN,
                                        .nb = nb,
                                        .na = na,
                                        .path_len = -1,
                                        .ku = PKG_KU_DIGITAL_SIGNATURE,
                                        .eku = PKG_EKU_ATTESTATION_OID});
    X509 *chain[3] = {leaf, g->warrant, g->root};
    char *s = vt_sign(json, chain, 3, lk);

    X509_free(leaf);
    EVP_PKEY_free(lk);
    return s;
}

/* ----------------------------------------------------------------------------------------- */
/* The cases                                                                                  */
/* ----------------------------------------------------------------------------------------- */

static void genuine(const vt_cloud *g, char **kek, char **world)
{
    *kek = vt_kek_package(g);
    *world = vt_world_package(g);
}

static void wrong_root(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = under_other_root(g, json);
    *world = vt_world_package(g);
    free(json);
}

static void world_wrong_root(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_world_json(&g->world_payload);

    *kek = vt_kek_package(g);
    *world = under_other_root(g, json);
    free(json);
}

static void root_not_last(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->leaf, g->root, g->warrant};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("ES384", chain, 3);

    *kek = vt_sign_raw(header, json, g->leaf_key, false);
    *world = vt_world_package(g);
    free(header);
    free(json);
}

static void wrong_order(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->warrant, g->leaf, g->root};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("ES384", chain, 3);

    *kek = vt_sign_raw(header, json, g->leaf_key, false);
    *world = vt_world_package(g);
    free(header);
    free(json);
}

static void expired_leaf(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = with_leaf_validity(g, json, -400 * VT_DAY, -VT_DAY);
    *world = vt_world_package(g);
    free(json);
}

static void leaf_not_yet_valid(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = with_leaf_validity(g, json, VT_DAY, 400 * VT_DAY);
    *world = vt_world_package(g);
    free(json);
}

static void world_expired_leaf(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_world_json(&g->world_payload);

    *kek = vt_kek_package(g);
    *world = with_leaf_validity(g, json, -400 * VT_DAY, -1);
    free(json);
}

static void expired_warrant(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *wk = vt_key("P-384"), *lk = vt_key("P-384");
    X509 *warrant = vt_issue(g, &(vt_cert){.issuer = g->root,
                                           .issuer_key = g->root_key,
                                           .subject_key = wk,
                                           .cn = "keytransfer DEMO module warrant " VT_ESN,
                                           .org = "keytransfer demo HSM vendor",
                                           .esn = VT_ESN,
                                           .nb = -800 * VT_DAY,
                                           .na = -VT_DAY,
                                           .ca = true,
                                           .path_len = 0,
                                           .ku = PKG_KU_KEY_CERT_SIGN | PKG_KU_DIGITAL_SIGNATURE});
    X509 *leaf = vt_leaf(g, warrant, wk, lk, VT_ESN);
    X509 *chain[3] = {leaf, warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 3, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    X509_free(warrant);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(wk);
}

/* The leaf names the genuine warrant as its issuer, but another key signed it: a twin warrant's
 * (no authorityKeyIdentifier, which would give the twin away before the signature does). */
static void leaf_signed_by_other_key(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *tk = vt_key("P-384");
    kt_buf chain[3] = {vt_reissue(g->leaf, "2.5.29.35", NULL, 0, tk), vt_der(g->warrant),
                       vt_der(g->root)};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header_der("ES384", chain, 3);

    *kek = vt_sign_raw(header, json, g->leaf_key, false);
    *world = vt_world_package(g);
    for (int i = 0; i < 3; i++)
        kt_buf_free(&chain[i]);
    free(header);
    free(json);
    EVP_PKEY_free(tk);
}

static void leaf_is_ca(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *lk = vt_key("P-384");
    X509 *leaf = vt_issue(g, &(vt_cert){.issuer = g->warrant,
                                        .issuer_key = g->warrant_key,
                                        .subject_key = lk,
                                        .cn = "module " VT_ESN " attestation key",
                                        .esn = VT_ESN,
                                        .nb = -3600,
                                        .na = 365 * VT_DAY,
                                        .ca = true,
                                        .path_len = -1,
                                        .ku = PKG_KU_DIGITAL_SIGNATURE | PKG_KU_KEY_CERT_SIGN,
                                        .eku = PKG_EKU_ATTESTATION_OID});
    X509 *chain[3] = {leaf, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 3, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    EVP_PKEY_free(lk);
}

static void warrant_cannot_certify(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *wk = vt_key("P-384"), *lk = vt_key("P-384");
    X509 *warrant = vt_issue(g, &(vt_cert){.issuer = g->root,
                                           .issuer_key = g->root_key,
                                           .subject_key = wk,
                                           .cn = "keytransfer DEMO module warrant " VT_ESN,
                                           .esn = VT_ESN,
                                           .nb = -3600,
                                           .na = 365 * VT_DAY,
                                           .ca = true,
                                           .path_len = 0,
                                           .ku = PKG_KU_DIGITAL_SIGNATURE});
    X509 *leaf = vt_leaf(g, warrant, wk, lk, VT_ESN);
    X509 *chain[3] = {leaf, warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 3, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    X509_free(warrant);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(wk);
}

/* The warrant allows no CA below it (path length 0), but an intermediate follows. */
static void path_too_long(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *sk = vt_key("P-384"), *lk = vt_key("P-384");
    X509 *sub = vt_issue(g, &(vt_cert){.issuer = g->warrant,
                                       .issuer_key = g->warrant_key,
                                       .subject_key = sk,
                                       .cn = "sub-CA under the warrant",
                                       .esn = VT_ESN,
                                       .nb = -3600,
                                       .na = 365 * VT_DAY,
                                       .ca = true,
                                       .path_len = -1,
                                       .ku = PKG_KU_KEY_CERT_SIGN | PKG_KU_DIGITAL_SIGNATURE});
    X509 *leaf = vt_leaf(g, sub, sk, lk, VT_ESN);
    X509 *chain[4] = {leaf, sub, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 4, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    X509_free(sub);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(sk);
}

static void signed_by_other_key(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    EVP_PKEY *other = vt_key("P-384");
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("ES384", chain, 3);

    *kek = vt_sign_raw(header, json, other, false);
    *world = vt_world_package(g);
    free(header);
    free(json);
    EVP_PKEY_free(other);
}

static void world_signed_by_other_key(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    EVP_PKEY *other = vt_key("P-384");
    char *json = vt_world_json(&g->world_payload), *header = vt_header("ES384", chain, 3);

    *kek = vt_kek_package(g);
    *world = vt_sign_raw(header, json, other, false);
    free(header);
    free(json);
    EVP_PKEY_free(other);
}

static void der_signature(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("ES384", chain, 3);

    *kek = vt_sign_raw(header, json, g->leaf_key, true);
    *world = vt_world_package(g);
    free(header);
    free(json);
}

static void alg_es256(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("ES256", chain, 3);

    *kek = vt_sign_raw(header, json, g->leaf_key, false);
    *world = vt_world_package(g);
    free(header);
    free(json);
}

static void alg_none(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("none", chain, 3);

    *kek = vt_sign_raw(header, json, g->leaf_key, false);
    *world = vt_world_package(g);
    free(header);
    free(json);
}

/* The genuine signature over a different payload (exportable true). */
static void payload_replaced(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);
    char *genuine_pkg = vt_kek_package(g), *json, *pl = NULL;
    json_t *v = json_loads(genuine_pkg, 0, NULL);
    kt_err e;

    p.exportable = true;
    json = vt_kek_json(&p);
    cr_assert_eq(kt_b64url_encode((const uint8_t *)json, strlen(json), &pl, &e), KT_OK);
    json_object_set_new(v, "payload", json_string(pl));
    *kek = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    *world = vt_world_package(g);
    json_decref(v);
    free(pl);
    free(json);
    free(genuine_pkg);
}

static void exportable(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);

    p.exportable = true;
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
}

static void key_ops_with(const vt_cloud *g, char **kek, char **world, const char *const *ops,
                         size_t n)
{
    pkg_kek_payload p = kek_copy(g);

    p.n_key_ops = n;
    for (size_t i = 0; i < n; i++)
        snprintf(p.key_ops[i], sizeof p.key_ops[i], "%s", ops[i]);
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
}

static void key_ops_export(const vt_cloud *g, char **kek, char **world)
{
    static const char *const ops[] = {"import", "export"};
    key_ops_with(g, kek, world, ops, 2);
}

static void key_ops_wrap(const vt_cloud *g, char **kek, char **world)
{
    static const char *const ops[] = {"wrapKey"};
    key_ops_with(g, kek, world, ops, 1);
}

static void key_ops_twice(const vt_cloud *g, char **kek, char **world)
{
    static const char *const ops[] = {"import", "import"};
    key_ops_with(g, kek, world, ops, 2);
}

static void key_ops_empty(const vt_cloud *g, char **kek, char **world)
{
    key_ops_with(g, kek, world, NULL, 0);
}

static void kek_of_key(const vt_cloud *g, char **kek, char **world, EVP_PKEY *key, const char *kty,
                       int64_t key_size)
{
    pkg_kek_payload p = kek_copy(g);

    key_of(&p, key);
    if (kty != NULL)
        snprintf(p.kty, sizeof p.kty, "%s", kty);
    if (key_size != 0)
        p.key_size = key_size;
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
    kt_buf_free(&p.public_key);
}

static void rsa_1024(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *k = vt_key("RSA-1024");

    kek_of_key(g, kek, world, k, NULL, 0);
    EVP_PKEY_free(k);
}

/* RSA-PSS keys are RSA keys restricted to signing: not a KEK that can unwrap. */
static void rsa_pss_kek(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    EVP_PKEY *k = NULL;

    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_PKEY_keygen_init(ctx), 1);
    cr_assert_eq(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
    cr_assert_eq(EVP_PKEY_keygen(ctx, &k), 1);
    EVP_PKEY_CTX_free(ctx);
    kek_of_key(g, kek, world, k, "RSA-HSM", 2048);
    EVP_PKEY_free(k);
}

static void kty_rsa(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);

    snprintf(p.kty, sizeof p.kty, "RSA");
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
}

static void size_says_4096(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);

    p.key_size = 4096;
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
}

static void ec_kek(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *k = vt_key("P-256");

    kek_of_key(g, kek, world, k, "RSA-HSM", 2048);
    EVP_PKEY_free(k);
}

static void other_region(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);

    snprintf(p.region, sizeof p.region, "EU");
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
}

static void world_hash_mismatch(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);

    p.world_hash[31] ^= 0x01;
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
}

static void fingerprint_mismatch(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);

    p.public_key_sha256[0] ^= 0x80;
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
}

/* rsaEncryption with its NULL parameters left out: the same key, another encoding, so the
 * fingerprint of "this key" would depend on who encodes it. */
static void spki_not_canonical(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);
    const uint8_t *der = g->kek_payload.public_key.p;
    size_t len = g->kek_payload.public_key.len;
    uint8_t *alt = malloc(len);

    /* 30 82 01 22 | 30 0d 06 09 <rsaEncryption> 05 00 | 03 82 01 0f ... (RSA-2048) */
    cr_assert_eq(len, 294);
    cr_assert(der[4] == 0x30 && der[5] == 0x0d && der[17] == 0x05 && der[18] == 0x00);
    memcpy(alt, der, 17);
    memcpy(alt + 17, der + 19, len - 19);
    alt[3] = 0x20; /* outer length 0x122 - 2 */
    alt[5] = 0x0b; /* AlgorithmIdentifier without parameters */
    p.public_key = (kt_buf){alt, len - 2};
    kt_sha256(p.public_key_sha256, alt, len - 2);
    *kek = kek_signed(g, &p);
    *world = vt_world_package(g);
    free(alt);
}

static void module_mismatch(const vt_cloud *g, char **kek, char **world)
{
    pkg_kek_payload p = kek_copy(g);
    pkg_world_payload w = g->world_payload;

    snprintf(p.module_esn, sizeof p.module_esn, "%s", VT_ESN2);
    snprintf(w.module_esns[1], sizeof w.module_esns[1], "%s", VT_ESN2);
    w.n_module_esns = 2;
    *kek = kek_signed(g, &p);
    *world = world_signed(g, &w);
}

/* The attestation key is certified by the root itself: no warrant names a module. */
static void no_warrant(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *lk = vt_key("P-384");
    X509 *leaf = vt_leaf(g, g->root, g->root_key, lk, VT_ESN);
    X509 *chain[2] = {leaf, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 2, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    EVP_PKEY_free(lk);
}

static void module_not_in_world(const vt_cloud *g, char **kek, char **world)
{
    pkg_world_payload w = g->world_payload;

    snprintf(w.module_esns[0], sizeof w.module_esns[0], "%s", VT_ESN2);
    *kek = vt_kek_package(g);
    *world = world_signed(g, &w);
}

/* The world package is attested by module VT_ESN2, which the world does not list. */
static void world_attester_outside(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *wk = vt_key("P-384"), *lk = vt_key("P-384");
    X509 *warrant = vt_warrant(g, g->root, g->root_key, wk, VT_ESN2);
    X509 *leaf = vt_leaf(g, warrant, wk, lk, VT_ESN2);
    X509 *chain[3] = {leaf, warrant, g->root};
    char *json = vt_world_json(&g->world_payload);

    *kek = vt_kek_package(g);
    *world = vt_sign(json, chain, 3, lk);
    free(json);
    X509_free(leaf);
    X509_free(warrant);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(wk);
}

static void truncated_json(const vt_cloud *g, char **kek, char **world)
{
    *kek = vt_kek_package(g);
    (*kek)[strlen(*kek) / 2] = '\0';
    *world = vt_world_package(g);
}

static void truncated_world(const vt_cloud *g, char **kek, char **world)
{
    *kek = vt_kek_package(g);
    *world = vt_world_package(g);
    (*world)[strlen(*world) - 3] = '\0';
}

static void duplicate_member(const vt_cloud *g, char **kek, char **world)
{
    char *s = vt_kek_package(g);

    cr_assert(asprintf(kek, "{\"signature\":\"AAAA\",%s", s + 1) > 0);
    *world = vt_world_package(g);
    free(s);
}

static void duplicate_payload_member(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "{", "{\"exportable\":false,");
    *world = vt_world_package(g);
    free(json);
}

static void unknown_version(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "keytransfer-kek/1", "keytransfer-kek/2");
    *world = vt_world_package(g);
    free(json);
}

static void world_unknown_version(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_world_json(&g->world_payload);

    *kek = vt_kek_package(g);
    *world = signed_text_with(g, json, "keytransfer-world/1", "keytransfer-world/2");
    free(json);
}

static void unknown_payload_member(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "{", "{\"wrappable\":true,");
    *world = vt_world_package(g);
    free(json);
}

static void swapped(const vt_cloud *g, char **kek, char **world)
{
    *kek = vt_world_package(g);
    *world = vt_kek_package(g);
}

static void trailing_data(const vt_cloud *g, char **kek, char **world)
{
    char *s = vt_kek_package(g);

    cr_assert(asprintf(kek, "%s{}", s) > 0);
    *world = vt_world_package(g);
    free(s);
}

static void oversize(const vt_cloud *g, char **kek, char **world)
{
    char *s = vt_kek_package(g);
    size_t n = strlen(s), pad = PKG_JWS_MAX;

    *kek = malloc(n + pad + 1);
    cr_assert_not_null(*kek);
    memcpy(*kek, s, n);
    memset(*kek + n, ' ', pad); /* JSON whitespace: only the size is wrong */
    (*kek)[n + pad] = '\0';
    *world = vt_world_package(g);
    free(s);
}

/* ----------------------------------------------------------------------------------------- */
/* Edges of the encodings, where two strict readers could part ways                          */
/* ----------------------------------------------------------------------------------------- */

/* The genuine KEK package with the string member `name` of the envelope rewritten by edit. */
static char *envelope_with(const vt_cloud *g, const char *name, void (*edit)(char *value))
{
    char *s = vt_kek_package(g), *value, *out;
    json_t *v = json_loads(s, 0, NULL);

    cr_assert_not_null(v);
    cr_assert(asprintf(&value, "%s==", json_string_value(json_object_get(v, name))) > 0);
    value[strlen(value) - 2] = '\0'; /* room for two more characters */
    edit(value);
    json_object_set_new(v, name, json_string(value));
    out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    free(value);
    free(s);
    return out;
}

static void whitespace_around(const vt_cloud *g, char **kek, char **world)
{
    char *s = vt_kek_package(g);

    cr_assert(asprintf(kek, " \t\r\n%s \r\n\t", s) > 0);
    *world = vt_world_package(g);
    free(s);
}

/* JSON escapes inside the base64url strings decode to the same characters. */
static void escaped_characters(const vt_cloud *g, char **kek, char **world)
{
    char *s = vt_kek_package(g), *at = strstr(s, "\"payload\":\"") + 11;

    cr_assert(asprintf(kek, "%.*s\\u%04x%s", (int)(at - s), s, (unsigned)*at, at + 1) > 0);
    *world = vt_world_package(g);
    free(s);
}

/* A payload whose base64url ends in a character carrying 2 bits, spaces after the JSON so
 * that it does; signed. Both accept it: JSON allows the whitespace. */
static char *padded_payload(const vt_cloud *g)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload), *spaced, *s;
    size_t n = strlen(json);

    cr_assert(asprintf(&spaced, "%s   ", json) > 0);
    while (n % 3 != 1)
        n++;
    spaced[n] = '\0';
    s = vt_sign(spaced, chain, 3, g->leaf_key);
    free(spaced);
    free(json);
    return s;
}

static void payload_with_whitespace(const vt_cloud *g, char **kek, char **world)
{
    *kek = padded_payload(g);
    *world = vt_world_package(g);
}

/* The same, with the unused low bits of the last character set: another spelling of the same
 * bytes, which strict base64url refuses. */
static void payload_extra_bits(const vt_cloud *g, char **kek, char **world)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *s = padded_payload(g), *at = strstr(s, "\"payload\":\"") + 11;
    size_t n = strcspn(at, "\"");
    const char *c = strchr(alphabet, at[n - 1]);

    cr_assert_eq(n % 4, 2);
    cr_assert_not_null(c);
    at[n - 1] = alphabet[(c - alphabet) | 1];
    *kek = s;
    *world = vt_world_package(g);
}

static void add_padding(char *value)
{
    strcat(value, "=");
}

static void plus_first(char *value)
{
    value[0] = '+';
}

static void payload_padded(const vt_cloud *g, char **kek, char **world)
{
    *kek = envelope_with(g, "payload", add_padding);
    *world = vt_world_package(g);
}

static void payload_std_alphabet(const vt_cloud *g, char **kek, char **world)
{
    *kek = envelope_with(g, "payload", plus_first);
    *world = vt_world_package(g);
}

/* A header as vt_header makes it, with each x5c entry rewritten by edit, signed by the leaf. */
static void x5c_edited(const vt_cloud *g, char **kek, char **world, void (*edit)(char *entry))
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *header = vt_header("ES384", chain, 3), *json = vt_kek_json(&g->kek_payload), *text;
    json_t *h = json_loads(header, 0, NULL), *x5c = json_object_get(h, "x5c");

    for (size_t i = 0; i < json_array_size(x5c); i++) {
        const char *was = json_string_value(json_array_get(x5c, i));
        char *entry;

        cr_assert(asprintf(&entry, "%s    ", was) > 0); /* room for edit to add 4 characters */
        entry[strlen(was)] = '\0';
        edit(entry);
        json_array_set_new(x5c, i, json_string(entry));
        free(entry);
    }
    text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    *kek = vt_sign_raw(text, json, g->leaf_key, false);
    *world = vt_world_package(g);
    free(text);
    json_decref(h);
    free(json);
    free(header);
}

static void to_b64url(char *entry)
{
    for (char *c = entry; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
}

static void strip_padding(char *entry)
{
    char *eq = strchr(entry, '=');

    if (eq != NULL)
        *eq = '\0';
    else
        strcat(entry, "===="); /* a length that was a multiple of 4 gets too much padding */
}

static void x5c_base64url(const vt_cloud *g, char **kek, char **world)
{
    x5c_edited(g, kek, world, to_b64url);
}

static void x5c_unpadded(const vt_cloud *g, char **kek, char **world)
{
    x5c_edited(g, kek, world, strip_padding);
}

static void too_many_certificates(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[6] = {g->leaf, g->warrant, g->root, g->root, g->root, g->root};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("ES384", chain, 6);

    *kek = vt_sign_raw(header, json, g->leaf_key, false);
    *world = vt_world_package(g);
    free(header);
    free(json);
}

static void header_with_crit(const vt_cloud *g, char **kek, char **world)
{
    X509 *chain[3] = {g->leaf, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header("ES384", chain, 3), *crit;

    cr_assert(asprintf(&crit, "{\"crit\":[\"exp\"],\"exp\":1,%s", header + 1) > 0);
    *kek = vt_sign_raw(crit, json, g->leaf_key, false);
    *world = vt_world_package(g);
    free(crit);
    free(header);
    free(json);
}

static void unprotected_header(const vt_cloud *g, char **kek, char **world)
{
    char *s = vt_kek_package(g);

    cr_assert(asprintf(kek, "{\"header\":{\"kid\":\"x\"},%s", s + 1) > 0);
    *world = vt_world_package(g);
    free(s);
}

static void byte_order_mark(const vt_cloud *g, char **kek, char **world)
{
    char *s = vt_kek_package(g);

    cr_assert(asprintf(kek, "\xef\xbb\xbf%s", s) > 0);
    *world = vt_world_package(g);
    free(s);
}

static void key_size_real(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "\"key_size\":2048", "\"key_size\":2048.0");
    *world = vt_world_package(g);
    free(json);
}

static void nul_in_kid(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "\"kid\":\"https://", "\"kid\":\"https://\\u0000");
    *world = vt_world_package(g);
    free(json);
}

static void lone_surrogate(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "\"region\":\"NA\"", "\"region\":\"N\\ud800\"");
    *world = vt_world_package(g);
    free(json);
}

static void exportable_as_number(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "\"exportable\":false", "\"exportable\":0");
    *world = vt_world_package(g);
    free(json);
}

/* A digit that is a digit to Unicode but not to the format (ARABIC-INDIC DIGIT TWO). */
static void unicode_digit(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "\"created\":\"2", "\"created\":\"\\u0662");
    *world = vt_world_package(g);
    free(json);
}

static void huge_number(const vt_cloud *g, char **kek, char **world)
{
    char *json = vt_kek_json(&g->kek_payload);

    *kek = signed_text_with(g, json, "\"key_size\":2048", "\"key_size\":1e400");
    *world = vt_world_package(g);
    free(json);
}

/* ----------------------------------------------------------------------------------------- */
/* The certificate profile : extensions both verifiers read alike,  */
/* and the exact shape of the chain                                                           */
/* ----------------------------------------------------------------------------------------- */

#define OID_SKI "2.5.29.14"
#define OID_KU  "2.5.29.15"
#define OID_SAN "2.5.29.17"
#define OID_BC  "2.5.29.19"
#define OID_CP  "2.5.29.32"
#define OID_AKI "2.5.29.35"
#define OID_EKU "2.5.29.37"
#define OID_PEN "1.3.6.1.4.1.55555.1"    /* a private extension no library knows */
#define OID_NSC "2.16.840.1.113730.1.13" /* nsComment: OpenSSL knows it, pyca does not */

/* A KEK package with x5c as given (DER, taken over and freed), signed by the genuine leaf key. */
static char *kek_with_x5c(const vt_cloud *g, kt_buf *chain, size_t n)
{
    char *json = vt_kek_json(&g->kek_payload), *header = vt_header_der("ES384", chain, n), *s;

    s = vt_sign_raw(header, json, g->leaf_key, false);
    for (size_t i = 0; i < n; i++)
        kt_buf_free(&chain[i]);
    free(header);
    free(json);
    return s;
}

/* The genuine chain with certificate at (0 leaf, 1 warrant, 2 root) re-issued by the same key
 * with its extensions in drop removed and add[0..n) added (taken over and freed). */
static void with_exts(const vt_cloud *g, int at, const char *drop, kt_buf *add, size_t n,
                      char **kek, char **world)
{
    X509 *certs[3] = {g->leaf, g->warrant, g->root};
    EVP_PKEY *signers[3] = {g->warrant_key, g->root_key, g->root_key};
    kt_buf chain[3];

    for (int i = 0; i < 3; i++)
        chain[i] = i == at ? vt_reissue(certs[i], drop, add, n, signers[i]) : vt_der(certs[i]);
    for (size_t i = 0; i < n; i++)
        kt_buf_free(&add[i]);
    *kek = kek_with_x5c(g, chain, 3);
    *world = vt_world_package(g);
}

/* One extension added to (and, when replace, in place of the same one of) certificate at. */
static void with_ext(const vt_cloud *g, int at, bool replace, const char *oid, int critical,
                     const char *value, size_t len, char **kek, char **world)
{
    kt_buf add = vt_ext(oid, critical, value, len);

    with_exts(g, at, replace ? oid : NULL, &add, 1, kek, world);
}

#define LEAF_EXT(fn, replace, oid, critical, value)                                                \
    static void fn(const vt_cloud *g, char **kek, char **world)                                    \
    {                                                                                              \
        with_ext(g, 0, replace, oid, critical, value, sizeof value - 1, kek, world);               \
    }

/* Item 10: malformed non-critical extensions, which pyca refused and OpenSSL let pass. */
LEAF_EXT(ski_not_octets, true, OID_SKI, VT_NOT_CRITICAL, "\x02\x01\x05")
LEAF_EXT(ski_trailing, true, OID_SKI, VT_NOT_CRITICAL, "\x04\x01\xaa\x00")
LEAF_EXT(ski_constructed, true, OID_SKI, VT_NOT_CRITICAL, "\x24\x03\x04\x01\xaa")
LEAF_EXT(ski_empty, true, OID_SKI, VT_NOT_CRITICAL, "\x04\x00")
LEAF_EXT(ski_critical, true, OID_SKI, VT_CRITICAL, "\x04\x01\xaa")
LEAF_EXT(ski_twice, false, OID_SKI, VT_NOT_CRITICAL, "\x04\x01\xaa")
LEAF_EXT(san_malformed, false, OID_SAN, VT_NOT_CRITICAL, "\x30\x03\x82\x01")
LEAF_EXT(san_wellformed, false, OID_SAN, VT_NOT_CRITICAL, "\x30\x0d\x82\x0bhsm.example")
LEAF_EXT(aki_malformed, true, OID_AKI, VT_NOT_CRITICAL, "\x30\x03\x80\x02\xaa")
LEAF_EXT(aki_serial_only, true, OID_AKI, VT_NOT_CRITICAL, "\x30\x03\x82\x01\x01")
LEAF_EXT(aki_other_key, true, OID_AKI, VT_NOT_CRITICAL,
         "\x30\x16\x80\x14\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11"
         "\x11\x11")
LEAF_EXT(ku_truncated, true, OID_KU, VT_CRITICAL, "\x03\x03\x07\x80")
LEAF_EXT(ku_padding_bits, true, OID_KU, VT_CRITICAL, "\x03\x02\x07\x81")
LEAF_EXT(ku_trailing_zero, true, OID_KU, VT_CRITICAL, "\x03\x03\x07\x80\x00")
LEAF_EXT(ku_not_shortest, true, OID_KU, VT_CRITICAL, "\x03\x02\x00\x80")
LEAF_EXT(ku_empty, true, OID_KU, VT_CRITICAL, "\x03\x01\x00")
LEAF_EXT(ku_not_critical, true, OID_KU, VT_NOT_CRITICAL, "\x03\x02\x07\x80")
LEAF_EXT(bc_truncated, true, OID_BC, VT_CRITICAL, "\x30\x03\x01\x01")
LEAF_EXT(bc_false_encoded, true, OID_BC, VT_CRITICAL, "\x30\x03\x01\x01\x00")
LEAF_EXT(bc_true_not_ff, true, OID_BC, VT_CRITICAL, "\x30\x03\x01\x01\x01")
LEAF_EXT(bc_pathlen_not_ca, true, OID_BC, VT_CRITICAL, "\x30\x03\x02\x01\x00")
LEAF_EXT(bc_empty_not_critical, true, OID_BC, VT_NOT_CRITICAL, "\x30\x00")
LEAF_EXT(policies_any, false, OID_CP, VT_NOT_CRITICAL, "\x30\x08\x30\x06\x06\x04\x55\x1d\x20\x00")
LEAF_EXT(policies_malformed, false, OID_CP, VT_NOT_CRITICAL, "\x30\x02\x30\x05")
LEAF_EXT(private_ext, false, OID_PEN, VT_NOT_CRITICAL, "\x05\x00")
LEAF_EXT(private_ext_garbage, false, OID_PEN, VT_NOT_CRITICAL, "\xde\xad")
LEAF_EXT(private_ext_critical, false, OID_PEN, VT_CRITICAL, "\x05\x00")
LEAF_EXT(ns_comment_malformed, false, OID_NSC, VT_NOT_CRITICAL, "\x16\x05x")
LEAF_EXT(critical_false_encoded, true, OID_SKI, 0, "\x04\x01\xaa")
LEAF_EXT(critical_true_not_ff, true, OID_KU, 1, "\x03\x02\x07\x80")
LEAF_EXT(eku_truncated, true, OID_EKU, VT_NOT_CRITICAL, "\x30\x03\x06\x01")
LEAF_EXT(eku_empty, true, OID_EKU, VT_NOT_CRITICAL, "\x30\x00")
LEAF_EXT(eku_server_auth_raw, true, OID_EKU, VT_NOT_CRITICAL,
         "\x30\x0a\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x01")

static void private_ext_twice(const vt_cloud *g, char **kek, char **world)
{
    kt_buf add[2] = {vt_ext(OID_PEN, VT_NOT_CRITICAL, "\x05\x00", 2),
                     vt_ext(OID_PEN, VT_NOT_CRITICAL, "\x05\x00", 2)};

    with_exts(g, 0, NULL, add, 2, kek, world);
}

/* The extnValue of certificate x's extension oid. */
static kt_buf ext_value(X509 *x, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    int i = X509_get_ext_by_OBJ(x, obj, -1);
    const ASN1_OCTET_STRING *v;
    kt_buf out;

    cr_assert_geq(i, 0, "no extension %s", oid);
    v = X509_EXTENSION_get_data(X509_get_ext(x, i));
    out.len = (size_t)ASN1_STRING_length(v);
    out.p = malloc(out.len);
    cr_assert_not_null(out.p);
    memcpy(out.p, ASN1_STRING_get0_data(v), out.len);
    ASN1_OBJECT_free(obj);
    return out;
}

/* The attestation purpose, critical: RFC 5280 §4.2.1.12 allows either, and both verifiers
 * process it. */
static void eku_critical(const vt_cloud *g, char **kek, char **world)
{
    kt_buf v = ext_value(g->leaf, OID_EKU);

    with_ext(g, 0, true, OID_EKU, VT_CRITICAL, (const char *)v.p, v.len, kek, world);
    kt_buf_free(&v);
}

/* The attestation OID with a subidentifier padded by a leading 0x80 (X.690 §8.19.2 forbids). */
static void eku_oid_not_minimal(const vt_cloud *g, char **kek, char **world)
{
    kt_buf v = ext_value(g->leaf, OID_EKU);
    uint8_t bad[64];

    /* 30 L 06 M 69 ...: one byte more in each length, 0x80 before the second subidentifier's
     * bytes (the first is 2.25 joined with the UUID's arc, so pad right after the 06 M). */
    cr_assert(v.len + 1 <= sizeof bad && v.p[0] == 0x30 && v.p[2] == 0x06);
    bad[0] = 0x30;
    bad[1] = (uint8_t)(v.p[1] + 1);
    bad[2] = 0x06;
    bad[3] = (uint8_t)(v.p[3] + 1);
    bad[4] = 0x80;
    memcpy(bad + 5, v.p + 4, v.len - 4);
    with_ext(g, 0, true, OID_EKU, VT_NOT_CRITICAL, (const char *)bad, v.len + 1, kek, world);
    kt_buf_free(&v);
}

static void leaf_no_ski_aki_bc(const vt_cloud *g, char **kek, char **world)
{
    with_exts(g, 0, OID_SKI "," OID_AKI "," OID_BC, NULL, 0, kek, world);
}

static void leaf_no_extensions(const vt_cloud *g, char **kek, char **world)
{
    with_exts(g, 0, "*", NULL, 0, kek, world);
}

/* Item 11: the leaf serves the attestation purpose and no other. */
static void leaf_without_eku(const vt_cloud *g, char **kek, char **world)
{
    with_exts(g, 0, OID_EKU, NULL, 0, kek, world);
}

/* A leaf under the genuine warrant with extendedKeyUsage eku, signing the KEK package. */
static void leaf_for(const vt_cloud *g, const char *eku, char **kek, char **world)
{
    EVP_PKEY *lk = vt_key("P-384");
    X509 *leaf = vt_issue(g, &(vt_cert){.issuer = g->warrant,
                                        .issuer_key = g->warrant_key,
                                        .subject_key = lk,
                                        .cn = "module " VT_ESN " attestation key",
                                        .esn = VT_ESN,
                                        .nb = -3600,
                                        .na = 365 * VT_DAY,
                                        .path_len = -1,
                                        .ku = PKG_KU_DIGITAL_SIGNATURE,
                                        .eku = eku});
    X509 *chain[3] = {leaf, g->warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 3, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    EVP_PKEY_free(lk);
}

static void leaf_server_auth(const vt_cloud *g, char **kek, char **world)
{
    leaf_for(g, "serverAuth", kek, world);
}

static void leaf_attestation_and_server_auth(const vt_cloud *g, char **kek, char **world)
{
    leaf_for(g, PKG_EKU_ATTESTATION_OID ",serverAuth", kek, world);
}

static void leaf_any_purpose(const vt_cloud *g, char **kek, char **world)
{
    leaf_for(g, "anyExtendedKeyUsage", kek, world);
}

static void world_leaf_without_eku(const vt_cloud *g, char **kek, char **world)
{
    X509 *certs[3] = {g->leaf, g->warrant, g->root};
    kt_buf chain[3];
    char *json = vt_world_json(&g->world_payload), *header;

    for (int i = 0; i < 3; i++)
        chain[i] =
            i == 0 ? vt_reissue(certs[0], OID_EKU, NULL, 0, g->warrant_key) : vt_der(certs[i]);
    header = vt_header_der("ES384", chain, 3);
    *kek = vt_kek_package(g);
    *world = vt_sign_raw(header, json, g->leaf_key, false);
    for (int i = 0; i < 3; i++)
        kt_buf_free(&chain[i]);
    free(header);
    free(json);
}

/* Item 11: the warrant is a CA with path length 0 right above the leaf, and nothing else is. */
static void warrant_with_path_len(const vt_cloud *g, int path_len, const char *eku, char **kek,
                                  char **world)
{
    EVP_PKEY *wk = vt_key("P-384"), *lk = vt_key("P-384");
    X509 *warrant = vt_issue(g, &(vt_cert){.issuer = g->root,
                                           .issuer_key = g->root_key,
                                           .subject_key = wk,
                                           .cn = "keytransfer DEMO module warrant " VT_ESN,
                                           .org = "keytransfer demo HSM vendor",
                                           .esn = VT_ESN,
                                           .nb = -3600,
                                           .na = 365 * VT_DAY,
                                           .ca = true,
                                           .path_len = path_len,
                                           .ku = PKG_KU_KEY_CERT_SIGN | PKG_KU_DIGITAL_SIGNATURE,
                                           .eku = eku});
    X509 *leaf = vt_leaf(g, warrant, wk, lk, VT_ESN);
    X509 *chain[3] = {leaf, warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 3, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    X509_free(warrant);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(wk);
}

static void warrant_unconstrained(const vt_cloud *g, char **kek, char **world)
{
    warrant_with_path_len(g, -1, NULL, kek, world);
}

static void warrant_path_len_1(const vt_cloud *g, char **kek, char **world)
{
    warrant_with_path_len(g, 1, NULL, kek, world);
}

static void warrant_with_eku(const vt_cloud *g, char **kek, char **world)
{
    warrant_with_path_len(g, 0, PKG_EKU_ATTESTATION_OID, kek, world);
}

static void warrant_negative_path_len(const vt_cloud *g, char **kek, char **world)
{
    with_ext(g, 1, true, OID_BC, VT_CRITICAL, "\x30\x06\x01\x01\xff\x02\x01\xff", 8, kek, world);
}

static void warrant_ca_not_ff(const vt_cloud *g, char **kek, char **world)
{
    with_ext(g, 1, true, OID_BC, VT_CRITICAL, "\x30\x06\x01\x01\x01\x02\x01\x00", 8, kek, world);
}

static void warrant_path_len_padded(const vt_cloud *g, char **kek, char **world)
{
    with_ext(g, 1, true, OID_BC, VT_CRITICAL, "\x30\x07\x01\x01\xff\x02\x02\x00\x00", 9, kek,
             world);
}

static void root_path_len_0(const vt_cloud *g, char **kek, char **world)
{
    with_ext(g, 2, true, OID_BC, VT_CRITICAL, "\x30\x06\x01\x01\xff\x02\x01\x00", 8, kek, world);
}

static void root_private_ext(const vt_cloud *g, char **kek, char **world)
{
    with_ext(g, 2, false, OID_PEN, VT_NOT_CRITICAL, "\x05\x00", 2, kek, world);
}

/* The leaf's subject Name with its outer length in the long form where the short one does
 * (X.690 §10.1: DER lengths are minimal): the same name to a BER reader. */
static void subject_length_not_minimal(const vt_cloud *g, char **kek, char **world)
{
    unsigned char *d = NULL;
    int n = i2d_X509_NAME(X509_get_subject_name(g->leaf), &d);
    kt_buf name = {malloc((size_t)n + 1), (size_t)n + 1}, chain[3];

    cr_assert(n > 2 && n < 0x80 + 2 && d[0] == 0x30 && d[1] < 0x80 && name.p != NULL);
    name.p[0] = 0x30;
    name.p[1] = 0x81;
    memcpy(name.p + 2, d + 1, (size_t)n - 1);
    chain[0] = vt_reissue_field(g->leaf, VT_TBS_SUBJECT, &name, g->warrant_key);
    chain[1] = vt_der(g->warrant);
    chain[2] = vt_der(g->root);
    *kek = kek_with_x5c(g, chain, 3);
    *world = vt_world_package(g);
    kt_buf_free(&name);
    OPENSSL_free(d);
}

/* How a time is written: DER's UTCTime YYMMDDHHMMSSZ, or a way it must not be. */
typedef enum time_form {
    UTC_DER,         /* 0x17 YYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.1) */
    UTC_NO_SECONDS,  /* 0x17 YYMMDDHHMMZ: BER allows it */
    UTC_OFFSET,      /* 0x17 YYMMDDHHMMSS+0000 */
    UTC_MONTH_13,    /* 0x17 with month 13 */
    UTC_FEB_30,      /* 0x17 on the 30th of February */
    GEN_BEFORE_2050, /* 0x18 YYYYMMDDHHMMSSZ for a year UTCTime must carry */
    GEN_FRACTION,    /* 0x18 YYYYMMDDHHMMSS.5Z */
} time_form;

/* The DER element (tag, length, text) of UNIX time t in form f, at out; returns its length. */
static size_t time_element(uint8_t *out, size_t cap, time_form f, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char text[40];
    int n, y = 0, mo = 0;

    cr_assert_not_null(gmtime_r(&tt, &tm));
    y = tm.tm_year + 1900, mo = f == UTC_MONTH_13 ? 13 : f == UTC_FEB_30 ? 2 : tm.tm_mon + 1;
    if (f == UTC_FEB_30)
        tm.tm_mday = 30;
    if (f == GEN_BEFORE_2050 || f == GEN_FRACTION)
        n = snprintf(text, sizeof text, "%04d%02d%02d%02d%02d%02d%s", y, mo, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, f == GEN_FRACTION ? ".5Z" : "Z");
    else if (f == UTC_NO_SECONDS)
        n = snprintf(text, sizeof text, "%02d%02d%02d%02d%02dZ", y % 100, mo, tm.tm_mday,
                     tm.tm_hour, tm.tm_min);
    else
        n = snprintf(text, sizeof text, "%02d%02d%02d%02d%02d%02d%s", y % 100, mo, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, f == UTC_OFFSET ? "+0000" : "Z");
    cr_assert(n > 0 && (size_t)n + 2 <= cap);
    out[0] = f == GEN_BEFORE_2050 || f == GEN_FRACTION ? 0x18 : 0x17;
    out[1] = (uint8_t)n;
    memcpy(out + 2, text, (size_t)n);
    return (size_t)n + 2;
}

/* The leaf re-issued with its validity, a day back to a day ahead, written in these forms. */
static void leaf_times(const vt_cloud *g, time_form nb, time_form na, char **kek, char **world)
{
    uint8_t v[96];
    size_t n = 2;
    kt_buf validity, chain[3];

    n += time_element(v + n, sizeof v - n, nb, (int64_t)g->now - VT_DAY);
    n += time_element(v + n, sizeof v - n, na, (int64_t)g->now + VT_DAY);
    v[0] = 0x30, v[1] = (uint8_t)(n - 2);
    validity = (kt_buf){v, n};
    chain[0] = vt_reissue_field(g->leaf, VT_TBS_VALIDITY, &validity, g->warrant_key);
    chain[1] = vt_der(g->warrant);
    chain[2] = vt_der(g->root);
    *kek = kek_with_x5c(g, chain, 3);
    *world = vt_world_package(g);
}

static void times_der(const vt_cloud *g, char **kek, char **world)
{
    leaf_times(g, UTC_DER, UTC_DER, kek, world);
}

static void time_without_seconds(const vt_cloud *g, char **kek, char **world)
{
    leaf_times(g, UTC_DER, UTC_NO_SECONDS, kek, world);
}

static void time_with_offset(const vt_cloud *g, char **kek, char **world)
{
    leaf_times(g, UTC_OFFSET, UTC_DER, kek, world);
}

static void time_month_13(const vt_cloud *g, char **kek, char **world)
{
    leaf_times(g, UTC_MONTH_13, UTC_DER, kek, world);
}

static void time_february_30(const vt_cloud *g, char **kek, char **world)
{
    leaf_times(g, UTC_FEB_30, UTC_DER, kek, world);
}

static void time_fraction(const vt_cloud *g, char **kek, char **world)
{
    leaf_times(g, UTC_DER, GEN_FRACTION, kek, world);
}

static void time_generalized_before_2050(const vt_cloud *g, char **kek, char **world)
{
    leaf_times(g, UTC_DER, GEN_BEFORE_2050, kek, world);
}

/* A CA under issuer (any path length), for chains longer than the profile's. */
static X509 *intermediate(const vt_cloud *g, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key,
                          const char *cn)
{
    return vt_issue(g, &(vt_cert){.issuer = issuer,
                                  .issuer_key = issuer_key,
                                  .subject_key = key,
                                  .cn = cn,
                                  .org = "keytransfer demo HSM vendor",
                                  .nb = -3600,
                                  .na = 365 * VT_DAY,
                                  .ca = true,
                                  .path_len = -1,
                                  .ku = PKG_KU_KEY_CERT_SIGN});
}

/* leaf, warrant (path length 0, right above the leaf), then extra CAs below the root: each link
 * sound, and the module check would read the right warrant, but the chain is not three long. */
static void longer_chain(const vt_cloud *g, int extra, char **kek, char **world)
{
    EVP_PKEY *keys[2] = {vt_key("P-384"), vt_key("P-384")}, *wk = vt_key("P-384"),
             *lk = vt_key("P-384");
    X509 *cas[2] = {NULL, NULL}, *up = g->root, *warrant, *leaf, *chain[5];
    EVP_PKEY *up_key = g->root_key;
    size_t n = 0;
    char *json = vt_kek_json(&g->kek_payload);

    for (int i = extra - 1; i >= 0; i--) {
        char cn[64];

        snprintf(cn, sizeof cn, "keytransfer DEMO issuing CA %d", i + 1);
        cas[i] = intermediate(g, up, up_key, keys[i], cn);
        up = cas[i], up_key = keys[i];
    }
    warrant = vt_warrant(g, up, up_key, wk, VT_ESN);
    leaf = vt_leaf(g, warrant, wk, lk, VT_ESN);
    chain[n++] = leaf;
    chain[n++] = warrant;
    for (int i = 0; i < extra; i++)
        chain[n++] = cas[i];
    chain[n++] = g->root;
    *kek = vt_sign(json, chain, n, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    X509_free(warrant);
    for (int i = 0; i < 2; i++) {
        X509_free(cas[i]);
        EVP_PKEY_free(keys[i]);
    }
    EVP_PKEY_free(wk);
    EVP_PKEY_free(lk);
}

static void four_certificates(const vt_cloud *g, char **kek, char **world)
{
    longer_chain(g, 1, kek, world);
}

static void five_certificates(const vt_cloud *g, char **kek, char **world)
{
    longer_chain(g, 2, kek, world);
}

/* The warrant certifies an issuing CA, which certifies the leaf: the warrant is not right above
 * the leaf, and the CA there names a module too. */
static void warrant_not_above_leaf(const vt_cloud *g, char **kek, char **world)
{
    EVP_PKEY *wk = vt_key("P-384"), *ik = vt_key("P-384"), *lk = vt_key("P-384");
    X509 *warrant = vt_issue(g, &(vt_cert){.issuer = g->root,
                                           .issuer_key = g->root_key,
                                           .subject_key = wk,
                                           .cn = "keytransfer DEMO module warrant " VT_ESN,
                                           .org = "keytransfer demo HSM vendor",
                                           .esn = VT_ESN,
                                           .nb = -3600,
                                           .na = 365 * VT_DAY,
                                           .ca = true,
                                           .path_len = 1,
                                           .ku = PKG_KU_KEY_CERT_SIGN});
    X509 *ca = vt_warrant(g, warrant, wk, ik, VT_ESN);
    X509 *leaf = vt_leaf(g, ca, ik, lk, VT_ESN);
    X509 *chain[4] = {leaf, ca, warrant, g->root};
    char *json = vt_kek_json(&g->kek_payload);

    *kek = vt_sign(json, chain, 4, lk);
    *world = vt_world_package(g);
    free(json);
    X509_free(leaf);
    X509_free(ca);
    X509_free(warrant);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(wk);
}

static const vt_case cases[] = {
    {"genuine packages", genuine, NULL, 0},
    {"wrong root (another self-signed P-384 root)", wrong_root, "root-hash", 1},
    {"world package under another root", world_wrong_root, "world-root-hash", 1},
    {"root not last in x5c", root_not_last, "root-hash", 1},
    {"chain in the wrong order", wrong_order, "chain", 1},
    {"expired leaf", expired_leaf, "chain", 1},
    {"leaf not yet valid", leaf_not_yet_valid, "chain", 1},
    {"expired warrant", expired_warrant, "chain", 1},
    {"leaf signed by another key", leaf_signed_by_other_key, "chain", 1},
    {"leaf is a CA", leaf_is_ca, "chain", 1},
    {"warrant without keyCertSign", warrant_cannot_certify, "chain", 1},
    {"path length exceeded", path_too_long, "chain", 1},
    {"JWS signed by another key", signed_by_other_key, "signature", 1},
    {"payload replaced after signing", payload_replaced, "signature", 1},
    {"expired leaf in the world package", world_expired_leaf, "world-chain", 1},
    {"world package signed by another key", world_signed_by_other_key, "world-signature", 1},
    {"DER signature where raw r||s is required", der_signature, "format", 3},
    {"alg ES256", alg_es256, "format", 1},
    {"alg none", alg_none, "format", 1},
    {"exportable true", exportable, "exportable", 1},
    {"key_ops import and export", key_ops_export, "key-ops", 1},
    {"key_ops wrapKey", key_ops_wrap, "key-ops", 1},
    {"key_ops import twice", key_ops_twice, "key-ops", 1},
    {"key_ops empty", key_ops_empty, "key-ops", 1},
    {"RSA-1024 KEK", rsa_1024, "kek-type", 1},
    {"kty RSA instead of RSA-HSM", kty_rsa, "kek-type", 1},
    {"key_size 4096 for a 2048-bit key", size_says_4096, "kek-type", 1},
    {"EC P-256 key as KEK", ec_kek, "kek-type", 1},
    {"RSA-PSS key as KEK", rsa_pss_kek, "kek-type", 1},
    {"KEK from another region", other_region, "region", 1},
    {"world hash mismatch", world_hash_mismatch, "world-hash", 1},
    {"fingerprint mismatch", fingerprint_mismatch, "fingerprint", 1},
    {"public key not canonical DER", spki_not_canonical, "fingerprint", 1},
    {"module ESN not the warrant's", module_mismatch, "module", 1},
    {"no module warrant in the chain (two certificates)", no_warrant, "chain", 1},
    {"KEK module not in the world", module_not_in_world, "world-modules", 1},
    {"world attested by a module outside it", world_attester_outside, "world-modules", 1},
    {"truncated JSON", truncated_json, "format", 3},
    {"truncated world package", truncated_world, "format", 3},
    {"duplicate JSON member in the envelope", duplicate_member, "format", 3},
    {"duplicate JSON member in the signed payload", duplicate_payload_member, "kek-payload", 3},
    {"unknown version keytransfer-kek/2", unknown_version, "kek-payload", 3},
    {"unknown version keytransfer-world/2", world_unknown_version, "world-payload", 3},
    {"unknown member in the signed payload", unknown_payload_member, "kek-payload", 3},
    {"KEK and world packages swapped", swapped, "kek-payload", 3},
    {"trailing data after the JSON", trailing_data, "format", 3},
    {"file over 256 KiB", oversize, "format", 3},
    {"JSON whitespace around the envelope", whitespace_around, NULL, 0},
    {"JSON escape inside the payload string", escaped_characters, NULL, 0},
    {"signed payload with trailing whitespace", payload_with_whitespace, NULL, 0},
    {"payload base64url with bits beyond the data", payload_extra_bits, "format", 3},
    {"payload base64url with padding", payload_padded, "format", 3},
    {"payload in the standard base64 alphabet", payload_std_alphabet, "format", 3},
    {"x5c in base64url", x5c_base64url, "format", 3},
    {"x5c without its padding", x5c_unpadded, "format", 3},
    {"six certificates in x5c", too_many_certificates, "format", 3},
    {"crit in the protected header", header_with_crit, "format", 3},
    {"unprotected header", unprotected_header, "format", 3},
    {"byte order mark before the JSON", byte_order_mark, "format", 3},
    {"key_size written 2048.0", key_size_real, "kek-payload", 3},
    {"key_size 1e400", huge_number, "kek-payload", 3},
    {"exportable written 0", exportable_as_number, "kek-payload", 3},
    {"NUL character in the kid", nul_in_kid, "kek-payload", 3},
    {"lone surrogate in the region", lone_surrogate, "kek-payload", 3},
    {"non-ASCII digit in the creation time", unicode_digit, "kek-payload", 3},
    /* The certificate profile: extensions. */
    {"subjectKeyIdentifier not an OCTET STRING", ski_not_octets, "chain", 1},
    {"subjectKeyIdentifier with a byte after it", ski_trailing, "chain", 1},
    {"subjectKeyIdentifier as a constructed OCTET STRING", ski_constructed, "chain", 1},
    {"empty subjectKeyIdentifier", ski_empty, "chain", 1},
    {"critical subjectKeyIdentifier", ski_critical, "chain", 1},
    {"subjectKeyIdentifier twice", ski_twice, "chain", 1},
    {"critical flag encoded as FALSE", critical_false_encoded, "format", 3},
    {"critical flag TRUE written 0x01", critical_true_not_ff, "format", 3},
    {"malformed subjectAltName", san_malformed, "chain", 1},
    {"well-formed subjectAltName", san_wellformed, "chain", 1},
    {"malformed authorityKeyIdentifier", aki_malformed, "chain", 1},
    {"authorityKeyIdentifier with a serial only", aki_serial_only, "chain", 1},
    {"authorityKeyIdentifier of another key", aki_other_key, "chain", 1},
    {"keyUsage truncated", ku_truncated, "chain", 1},
    {"keyUsage with padding bits set", ku_padding_bits, "chain", 1},
    {"keyUsage with a trailing zero octet", ku_trailing_zero, "chain", 1},
    {"keyUsage with trailing zero bits", ku_not_shortest, "chain", 1},
    {"keyUsage naming no usage", ku_empty, "chain", 1},
    {"keyUsage not critical", ku_not_critical, NULL, 0},
    {"basicConstraints truncated", bc_truncated, "chain", 1},
    {"basicConstraints with cA FALSE encoded", bc_false_encoded, "chain", 1},
    {"basicConstraints with cA TRUE written 0x01", bc_true_not_ff, "chain", 1},
    {"path length on a leaf that is no CA", bc_pathlen_not_ca, "chain", 1},
    {"empty basicConstraints on the leaf, not critical", bc_empty_not_critical, NULL, 0},
    {"leaf without subjectKeyIdentifier, authorityKeyIdentifier, basicConstraints",
     leaf_no_ski_aki_bc, NULL, 0},
    {"leaf without extensions", leaf_no_extensions, "chain", 1},
    {"certificatePolicies anyPolicy", policies_any, "chain", 1},
    {"malformed certificatePolicies", policies_malformed, "chain", 1},
    {"unknown non-critical extension", private_ext, "chain", 1},
    {"unknown non-critical extension, not DER", private_ext_garbage, "chain", 1},
    {"unknown critical extension", private_ext_critical, "chain", 1},
    {"unknown extension twice", private_ext_twice, "chain", 1},
    {"malformed nsComment (OpenSSL knows it, pyca does not)", ns_comment_malformed, "chain", 1},
    {"extension outside the profile on the root", root_private_ext, "chain", 1},
    /* The chain's shape and the attestation purpose. */
    {"leaf without extendedKeyUsage", leaf_without_eku, "chain", 1},
    {"serverAuth leaf", leaf_server_auth, "chain", 1},
    {"serverAuth leaf, raw", eku_server_auth_raw, "chain", 1},
    {"leaf for attestation and serverAuth", leaf_attestation_and_server_auth, "chain", 1},
    {"leaf for any purpose", leaf_any_purpose, "chain", 1},
    {"attestation purpose marked critical", eku_critical, NULL, 0},
    {"extendedKeyUsage truncated", eku_truncated, "chain", 1},
    {"empty extendedKeyUsage", eku_empty, "chain", 1},
    {"attestation OID not minimally encoded", eku_oid_not_minimal, "chain", 1},
    {"world package leaf without extendedKeyUsage", world_leaf_without_eku, "world-chain", 1},
    {"warrant without path length", warrant_unconstrained, "chain", 1},
    {"warrant with path length 1", warrant_path_len_1, "chain", 1},
    {"warrant with extendedKeyUsage", warrant_with_eku, "chain", 1},
    {"warrant with a negative path length", warrant_negative_path_len, "chain", 1},
    {"warrant path length not minimally encoded", warrant_path_len_padded, "chain", 1},
    {"warrant basicConstraints with cA TRUE written 0x01", warrant_ca_not_ff, "chain", 1},
    {"root with path length 0", root_path_len_0, "chain", 1},
    {"four certificates (an issuing CA above the warrant)", four_certificates, "chain", 1},
    {"five certificates", five_certificates, "chain", 1},
    {"warrant not right above the leaf", warrant_not_above_leaf, "chain", 1},
    {"leaf subject with a length not in its shortest form", subject_length_not_minimal, "format",
     3},
    {"leaf validity re-encoded as DER", times_der, NULL, 0},
    {"UTCTime on the 30th of February", time_february_30, "format", 3},
    {"UTCTime without seconds", time_without_seconds, "format", 3},
    {"UTCTime with a +0000 offset", time_with_offset, "format", 3},
    {"UTCTime in month 13", time_month_13, "format", 3},
    {"GeneralizedTime with a fraction of a second", time_fraction, "format", 3},
    {"GeneralizedTime before 2050", time_generalized_before_2050, "format", 3},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ----------------------------------------------------------------------------------------- */
/* The tests                                                                                  */
/* ----------------------------------------------------------------------------------------- */

/* Every check is the verdict of some case: removing any check would turn a case green. */
Test(cases, every_check_is_some_case_s_verdict)
{
    for (size_t id = 0; id < VERIFY_CHECK_COUNT; id++) {
        bool found = false;

        for (size_t i = 0; i < N_CASES && !found; i++)
            found = cases[i].check != NULL &&
                    strcmp(cases[i].check, verify_check_name((verify_check_id)id)) == 0;
        cr_expect(found, "no crafted case fails check %s", verify_check_name((verify_check_id)id));
    }
}

/* The C verdict of one case, checked against the table. Returns the report (JSON). */
static json_t *c_verdict(const vt_cloud *g, const vt_case *t, const char *kek, const char *world)
{
    verify_result r;
    json_t *report = NULL;
    kt_err e;
    kt_rc rc = vt_verify(g, kek, world, &r, &e);

    if (t->check == NULL) {
        cr_expect_eq(rc, KT_OK, "%s: C refused: %s", t->name, e.msg);
    } else {
        cr_expect_neq(rc, KT_OK, "%s: C accepted", t->name);
        cr_expect_str_eq(verify_check_name(r.failed) ? verify_check_name(r.failed) : "(none)",
                         t->check, "%s: C named the wrong check: %s", t->name, e.msg);
        cr_expect_eq(kt_rc_exit(rc), t->status, "%s: C exit %d, expected %d (%s)", t->name,
                     kt_rc_exit(rc), t->status, e.msg);
        cr_log_info("%s: C says %s", t->name, e.msg);
    }
    cr_assert_eq(verify_result_json(&r, &report, &e), KT_OK, "%s", e.msg);
    verify_result_free(&r);
    return report;
}

static void expect_same(const char *name, const char *member, json_t *c, json_t *py)
{
    json_t *a = json_object_get(c, member), *b = json_object_get(py, member);
    char *sa = json_dumps(a, JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_COMPACT),
         *sb = json_dumps(b, JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_COMPACT);

    cr_expect(json_equal(a, b), "%s: %s differs: C %s, Python %s", name, member, sa, sb);
    free(sa);
    free(sb);
}

/* The two verifiers agree on each check's outcome (not the wording of the details). */
static void expect_same_checks(const char *name, json_t *c, json_t *py)
{
    json_t *cl = json_object_get(c, "checks"), *pl = json_object_get(py, "checks");

    cr_assert_eq(json_array_size(cl), VERIFY_CHECK_COUNT);
    cr_assert_eq(json_array_size(pl), VERIFY_CHECK_COUNT, "%s: Python lists %zu checks", name,
                 json_array_size(pl));
    for (size_t i = 0; i < VERIFY_CHECK_COUNT; i++) {
        json_t *a = json_array_get(cl, i), *b = json_array_get(pl, i);

        cr_expect_str_eq(json_string_value(json_object_get(b, "name")),
                         json_string_value(json_object_get(a, "name")),
                         "%s: check %zu is named differently", name, i);
        cr_expect_str_eq(json_string_value(json_object_get(b, "result")),
                         json_string_value(json_object_get(a, "result")),
                         "%s: check %s: C %s, Python %s (%s)", name,
                         json_string_value(json_object_get(a, "name")),
                         json_string_value(json_object_get(a, "result")),
                         json_string_value(json_object_get(b, "result")),
                         json_string_value(json_object_get(b, "detail")));
    }
}

Test(cases, both_verifiers_give_every_crafted_case_the_same_verdict, .timeout = 300)
{
    vt_need_python();
    char *dir = ts_scratch(), *keks[N_CASES], *worlds[N_CASES];
    json_t *c_reports[N_CASES], *py;
    vt_cloud g;
    int status;

    vt_cloud_make(&g, 2048);
    for (size_t i = 0; i < N_CASES; i++) {
        char name[64], *kek = NULL, *world = NULL;

        cases[i].make(&g, &kek, &world);
        c_reports[i] = c_verdict(&g, &cases[i], kek, world);
        snprintf(name, sizeof name, "case-%02zu-kek.jws", i);
        keks[i] = ts_path(dir, name);
        snprintf(name, sizeof name, "case-%02zu-world.jws", i);
        worlds[i] = ts_path(dir, name);
        ts_write(keks[i], kek, strlen(kek));
        ts_write(worlds[i], world, strlen(world));
        free(kek);
        free(world);
    }
    py = vt_python_batch(dir, keks, worlds, N_CASES, &status);
    cr_expect_eq(status, 3, "the batch exits with the highest status of its pairs, not %d", status);
    for (size_t i = 0; i < N_CASES; i++) {
        const vt_case *t = &cases[i];
        json_t *p = json_array_get(py, i), *c = c_reports[i];
        const char *failed = json_string_value(json_object_get(p, "failed_check"));

        cr_log_info("%s: Python says %s", t->name, json_string_value(json_object_get(p, "reason")));
        cr_expect_str_eq(json_string_value(json_object_get(p, "result")),
                         t->check == NULL ? "SUCCESS" : "FAILURE", "%s: Python: %s", t->name,
                         json_string_value(json_object_get(p, "reason")));
        if (t->check != NULL)
            cr_expect_str_eq(failed != NULL ? failed : "(none)", t->check,
                             "%s: Python named the wrong check: %s", t->name,
                             json_string_value(json_object_get(p, "reason")));
        cr_expect_eq(json_integer_value(json_object_get(p, "exit_status")), t->status,
                     "%s: Python exit %lld, expected %d", t->name,
                     (long long)json_integer_value(json_object_get(p, "exit_status")), t->status);
        expect_same_checks(t->name, c, p);
        for (const char *const *m = (const char *const[]){"result", "failed_check", "exit_status",
                                                          "root", "kek", "world", NULL};
             *m != NULL; m++)
            expect_same(t->name, *m, c, p);
        json_decref(c);
        free(keks[i]);
        free(worlds[i]);
    }
    json_decref(py);
    vt_cloud_free(&g);
    ts_rmrf(dir);
}

/* Both accept genuine packages with each KEK size the vendor makes. */
Test(cases, both_accept_each_kek_size, .timeout = 120)
{
    static const unsigned sizes[] = {2048, 3072, 4096};
    vt_need_python();
    char *dir = ts_scratch(), *keks[3], *worlds[3];
    vt_cloud g[3];
    int status;

    for (size_t i = 0; i < 3; i++) {
        char name[32];
        char *kek, *world;
        verify_result r;
        kt_err e;

        vt_cloud_make(&g[i], sizes[i]);
        kek = vt_kek_package(&g[i]);
        world = vt_world_package(&g[i]);
        cr_expect_eq(vt_verify(&g[i], kek, world, &r, &e), KT_OK, "RSA-%u: %s", sizes[i], e.msg);
        cr_expect_eq(EVP_PKEY_get_bits(r.kek_key), (int)sizes[i]);
        verify_result_free(&r);
        snprintf(name, sizeof name, "kek-%u.jws", sizes[i]);
        keks[i] = ts_path(dir, name);
        snprintf(name, sizeof name, "world-%u.jws", sizes[i]);
        worlds[i] = ts_path(dir, name);
        ts_write(keks[i], kek, strlen(kek));
        ts_write(worlds[i], world, strlen(world));
        free(kek);
        free(world);
    }
    json_t *py = vt_python_batch(dir, keks, worlds, 3, &status);
    cr_expect_eq(status, 0);
    for (size_t i = 0; i < 3; i++) {
        json_t *p = json_array_get(py, i);

        cr_expect_str_eq(json_string_value(json_object_get(p, "result")), "SUCCESS", "%s",
                         json_string_value(json_object_get(p, "reason")));
        cr_expect_eq(json_integer_value(json_object_get(json_object_get(p, "kek"), "key_size")),
                     sizes[i]);
        free(keks[i]);
        free(worlds[i]);
        vt_cloud_free(&g[i]);
    }
    json_decref(py);
    ts_rmrf(dir);
}
