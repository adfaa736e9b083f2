/*
 * test_key.c - module-protected keys through the library: every type and size generated, listed,
 * shown and loaded back, the public key cross-checked with the `openssl` command against the
 * private key decrypted through the library; no plaintext private key (nor any 16-byte run of
 * it) anywhere under kmdata; key files 0600; import of keys the `openssl` command made, in every
 * encoding, keeping the key exactly; the refusals (wrong passphrase, RSA-1024, unsupported curves,
 * public-only files, ...) with their messages; every byte of a key file flipped; a header moved
 * onto another key's seal; a key file from another world; an existing identifier.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "world_internal.h"
#include "support/scratch.h"
#include "world.h"

static const world_kdf KDF_TEST = {1, 8192};

/* ---- fixtures ---------------------------------------------------------------------------- */

static kt_rc test_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                      kt_err *e)
{
    char s[32];
    (void)ctx, (void)card_path, (void)is_new;
    snprintf(s, sizeof s, "pin-of-card-%u", no);
    kt_rc rc = kt_secbuf_alloc(pin, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pin->p, s, strlen(s));
    return rc;
}

static void make_tmpdir(char *out, size_t n)
{
    ts_scratch_into(out, n);
}

/* A fresh 1/1 world in a fresh folder, its module opened. */
typedef struct fixture {
    char dir[64];
    char scratch[64]; /* outside kmdata: openssl's files */
    world_paths p;
    world_module m;
    char card[1][PATH_MAX];
} fixture;

static void setup(fixture *f)
{
    world_info info;
    kt_err e;
    world_new_opts o = {.k = 1, .n = 1, .kdf = KDF_TEST, .pin = test_pin};
    world_kdf_floor_lower_for_tests(&KDF_TEST);
    make_tmpdir(f->dir, sizeof f->dir);
    make_tmpdir(f->scratch, sizeof f->scratch);
    cr_assert_eq(world_paths_init(&f->p, f->dir, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_create(&f->p, &o, &info, f->card, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_module_open(&f->p, &f->m, &e), KT_OK, "%s", e.msg);
}

static void teardown(fixture *f)
{
    char cmd[256];
    world_module_close(&f->m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", f->dir, f->scratch);
    cr_assert_eq(system(cmd), 0);
}

static void sh(const char *fmt, ...) KT_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

static void read_all(const char *path, kt_buf *b)
{
    kt_err e;
    cr_assert_eq(kt_file_read(path, 1 << 20, b, &e), KT_OK, "%s", e.msg);
}

static kt_rc generate(fixture *f, world_key_type type, unsigned bits, const char *curve,
                      const char *ident, world_key_info *info, kt_err *e)
{
    world_key_gen_opts o = {.type = type, .bits = bits, .curve = curve, .ident = ident};
    return world_key_generate(&f->p, &f->m, &o, info, e);
}

static void key_path(fixture *f, const char *app, const char *ident, char *out, size_t n)
{
    kt_err e;
    cr_assert_eq(world_key_path(&f->p, app, ident, out, n, &e), KT_OK, "%s", e.msg);
}

/* The public key `openssl pkey -pubout` derives from a private key in DER, as PEM text. */
static char *openssl_pubout_of_der(fixture *f, const kt_secbuf *der)
{
    char in[128], out[128];
    kt_buf pem;
    snprintf(in, sizeof in, "%s/private.der", f->scratch);
    snprintf(out, sizeof out, "%s/public.pem", f->scratch);
    ts_write(in, der->p, der->len);
    sh("openssl pkey -inform DER -in '%s' -pubout -out '%s'", in, out);
    read_all(out, &pem);
    char *s = strndup((const char *)pem.p, pem.len);
    kt_buf_free(&pem);
    sh("rm -f '%s' '%s'", in, out);
    return s;
}

/* The SPKI DER `openssl pkey -pubout` derives from a private key file (any format openssl reads).
 */
static void openssl_spki_of(fixture *f, const char *key, const char *pass, kt_buf *spki)
{
    char out[128];
    snprintf(out, sizeof out, "%s/spki.der", f->scratch);
    sh("openssl pkey -in '%s' %s%s -pubout -outform DER -out '%s'", key,
       pass != NULL ? "-passin pass:" : "", pass != NULL ? pass : "", out);
    read_all(out, spki);
    sh("rm -f '%s'", out);
}

/* Every file under kmdata, for the plaintext scan. */
static char *scan_files[256];
static size_t scan_count;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_F && scan_count < 256)
        scan_files[scan_count++] = strdup(path);
    return 0;
}

/* No file under dir holds any 16-byte run of secret. Runs that lie inside public (the public key,
 * which PKCS#8 repeats: RSA n and e, the EC point and curve OID) are what the key file states in
 * clear on purpose and are skipped; at least min_checked runs must remain to be checked. */
static void assert_nowhere(const char *dir, const uint8_t *secret, size_t len,
                           const uint8_t *public, size_t publen, size_t min_checked,
                           const char *what)
{
    size_t checked = 0;
    kt_buf files[256];
    scan_count = 0;
    cr_assert_eq(nftw(dir, collect, 16, FTW_PHYS), 0);
    cr_assert_gt(scan_count, 2);
    for (size_t i = 0; i < scan_count; i++) {
        read_all(scan_files[i], &files[i]);
        cr_assert_gt(files[i].len, 0);
    }
    for (size_t off = 0; off + 16 <= len; off++) {
        if (publen >= 16 && memmem(public, publen, secret + off, 16) != NULL)
            continue;
        checked++;
        for (size_t i = 0; i < scan_count; i++)
            cr_assert_null(memmem(files[i].p, files[i].len, secret + off, 16),
                           "%s: bytes %zu..%zu of the private key found in %s", what, off, off + 15,
                           scan_files[i]);
    }
    cr_assert_geq(checked, min_checked, "%s: only %zu runs were secret", what, checked);
    for (size_t i = 0; i < scan_count; i++) {
        kt_buf_free(&files[i]);
        free(scan_files[i]);
    }
}

/* The secret numbers of an RSA or EC key, big-endian, none of them anywhere under dir. */
static void assert_secret_numbers_nowhere(const char *dir, EVP_PKEY *pkey, const char *what)
{
    static const char *const rsa[] = {
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    static const char *const ec[] = {OSSL_PKEY_PARAM_PRIV_KEY};
    bool is_rsa = EVP_PKEY_is_a(pkey, "RSA");
    const char *const *names = is_rsa ? rsa : ec;
    size_t n = is_rsa ? 6 : 1;
    for (size_t i = 0; i < n; i++) {
        BIGNUM *bn = NULL;
        uint8_t buf[1024];
        cr_assert_eq(EVP_PKEY_get_bn_param(pkey, names[i], &bn), 1, "%s", names[i]);
        int len = BN_bn2bin(bn, buf);
        BN_clear_free(bn);
        cr_assert_geq(len, 16);
        assert_nowhere(dir, buf, (size_t)len, NULL, 0, (size_t)len - 15, what);
        kt_wipe(buf, sizeof buf);
    }
}

static void assert_private_file(const char *path)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s", path);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600, "%s is %o", path, st.st_mode & 0777);
}

/* A signature by the loaded key verifies with the public key: the key works. */
static void assert_signs(const world_key *k)
{
    EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
    uint8_t sig[1024];
    size_t siglen = sizeof sig;
    const unsigned char *p = k->info.spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)k->info.spki_len);
    cr_assert_not_null(pub);
    cr_assert_eq(EVP_DigestSignInit(s, NULL, EVP_sha256(), NULL, k->pkey), 1);
    cr_assert_eq(EVP_DigestSign(s, sig, &siglen, (const uint8_t *)"message", 7), 1);
    cr_assert_eq(EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, pub), 1);
    cr_assert_eq(EVP_DigestVerify(v, sig, siglen, (const uint8_t *)"message", 7), 1);
    EVP_PKEY_free(pub);
    EVP_MD_CTX_free(s);
    EVP_MD_CTX_free(v);
}

/* Everything the "Done when" asks of one generated key. */
static void check_generated(fixture *f, const world_key_info *g)
{
    world_key k;
    world_key_info shown;
    char path[PATH_MAX];
    kt_err e;

    key_path(f, g->app, g->ident, path, sizeof path);
    cr_assert_str_eq(g->path, path);
    assert_private_file(path);
    cr_assert_arr_eq(g->world_hash, f->m.info.hash, WORLD_HASH_LEN);

    cr_assert_eq(world_key_load(&f->p, &f->m, g->app, g->ident, &k, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(k.info.type, g->type);
    cr_assert_eq(k.info.bits, g->bits);
    cr_assert_str_eq(k.info.curve, g->curve);
    cr_assert_arr_eq(k.info.key_hash, g->key_hash, WORLD_HASH_LEN);
    cr_assert(!k.info.acl_signed);
    world_acl def;
    world_acl_default(g->type, &def);
    cr_assert(world_acl_is_subset(&k.info.acl, &def) && world_acl_is_subset(&def, &k.info.acl));

    cr_assert_eq(world_key_inspect(&f->p, &f->m, g->app, g->ident, &shown, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(shown.plainname, g->plainname);
    cr_assert_eq(shown.created, g->created);

    if (g->type == WORLD_KEY_AES) {
        cr_assert_null(k.pkey);
        cr_assert_eq(k.material.len * 8, g->bits);
        char *pem = NULL;
        cr_assert_eq(world_key_public_pem(&k.info, &pem, &e), KT_EUSAGE);
        cr_assert_null(pem);
    } else {
        /* `key public` against `openssl pkey -pubout` of the private key the library decrypted. */
        char *pem = NULL;
        cr_assert_eq(world_key_public_pem(&k.info, &pem, &e), KT_OK, "%s", e.msg);
        char *want = openssl_pubout_of_der(f, &k.material);
        cr_assert_str_eq(pem, want, "%s-%u %s", world_key_type_name(g->type), g->bits, g->curve);
        free(want);
        free(pem);
        cr_assert_eq(EVP_PKEY_get_bits(k.pkey), (int)g->bits);
        assert_signs(&k);
    }
    if (g->type == WORLD_KEY_AES) {
        assert_nowhere(f->dir, k.material.p, k.material.len, NULL, 0, k.material.len - 15,
                       g->ident);
    } else {
        assert_nowhere(f->dir, k.material.p, k.material.len, k.info.spki, k.info.spki_len, 17,
                       g->ident);
        assert_secret_numbers_nowhere(f->dir, k.pkey, g->ident);
    }
    world_key_free(&k);
    cr_assert_null(k.material.p, "world_key_free leaves nothing behind");
}

/* ---- generate, list, show, load ------------------------------------------------------------ */

static const struct gen_case {
    world_key_type type;
    unsigned bits;
    const char *curve;
    const char *ident;
} gen_cases[] = {
    {WORLD_KEY_RSA, 2048, NULL, "rsa-2048"}, {WORLD_KEY_RSA, 3072, NULL, "rsa-3072"},
    {WORLD_KEY_EC, 0, "P-256", "ec-p256"},   {WORLD_KEY_EC, 384, "P-384", "ec-p384"},
    {WORLD_KEY_EC, 0, "P-521", "ec-p521"},   {WORLD_KEY_EC, 0, "secp256k1", "ec-k256"},
    {WORLD_KEY_AES, 128, NULL, "aes-128"},   {WORLD_KEY_AES, 192, NULL, "aes-192"},
    {WORLD_KEY_AES, 256, NULL, "aes-256"},
};
#define NGEN (sizeof gen_cases / sizeof gen_cases[0])

Test(key, every_type_and_size_is_generated_listed_shown_and_loaded)
{
    fixture f;
    world_key_info made[NGEN];
    kt_err e;
    setup(&f);
    for (size_t i = 0; i < NGEN; i++) {
        const struct gen_case *c = &gen_cases[i];
        cr_assert_eq(generate(&f, c->type, c->bits, c->curve, c->ident, &made[i], &e), KT_OK,
                     "%s: %s", c->ident, e.msg);
        cr_assert_str_eq(made[i].app, "simple");
        cr_assert_str_eq(made[i].plainname, c->ident, "the plain name defaults to the ident");
        if (c->type == WORLD_KEY_EC) {
            unsigned bits;
            cr_assert_eq(world_key_curve(c->curve, NULL, &bits, &e), KT_OK);
            cr_assert_eq(made[i].bits, bits);
            cr_assert_str_eq(made[i].curve, c->curve);
        } else {
            cr_assert_eq(made[i].bits, c->bits);
            cr_assert_str_eq(made[i].curve, "");
        }
    }
    for (size_t i = 0; i < NGEN; i++)
        check_generated(&f, &made[i]);

    world_key_entry *list;
    size_t n;
    cr_assert_eq(world_key_list(&f.p, &f.m, &list, &n, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(n, NGEN);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(list[i].rc, KT_OK, "%s", list[i].err.msg);
        if (i > 0)
            cr_assert_lt(strcmp(list[i - 1].info.ident, list[i].info.ident), 0, "sorted");
        bool found = false;
        for (size_t j = 0; j < NGEN; j++)
            found |= strcmp(made[j].ident, list[i].info.ident) == 0 &&
                     memcmp(made[j].key_hash, list[i].info.key_hash, WORLD_HASH_LEN) == 0;
        cr_assert(found, "%s", list[i].info.ident);
    }
    free(list);
    struct stat st;
    cr_assert_eq(stat(f.p.local, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    teardown(&f);
}

/* RSA-4096 once (slow under the sanitizers), with the progress it reports. */
typedef struct progress_log {
    size_t calls, last_done, last_total;
} progress_log;

static void log_progress(void *ctx, const char *task, size_t done, size_t total)
{
    progress_log *l = ctx;
    cr_assert_not_null(strstr(task, "RSA-4096"));
    cr_assert_leq(done, total);
    l->calls++;
    l->last_done = done;
    l->last_total = total;
}

Test(key, rsa_4096_is_generated_with_progress_and_loaded)
{
    fixture f;
    world_key_info info;
    progress_log log = {0};
    kt_err e;
    setup(&f);
    world_key_gen_opts o = {.type = WORLD_KEY_RSA,
                            .bits = 4096,
                            .ident = "rsa-4096",
                            .plainname = "The 4096-bit key",
                            .app = "simple",
                            .progress = log_progress,
                            .progress_ctx = &log};
    cr_assert_eq(world_key_generate(&f.p, &f.m, &o, &info, &e), KT_OK, "%s", e.msg);
    cr_assert_gt(log.calls, 1, "progress while the primes are searched");
    cr_assert_eq(log.last_done, 2);
    cr_assert_eq(log.last_total, 2, "the last report ends the line");
    cr_assert_str_eq(info.plainname, "The 4096-bit key");
    check_generated(&f, &info);
    teardown(&f);
}

Test(key, rsa_public_exponent_is_kept_and_checked)
{
    fixture f;
    world_key_info info;
    world_key k;
    kt_err e;
    setup(&f);
    world_key_gen_opts o = {.type = WORLD_KEY_RSA, .bits = 2048, .pubexp = 3, .ident = "e3"};
    cr_assert_eq(world_key_generate(&f.p, &f.m, &o, &info, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "e3", &k, &e), KT_OK, "%s", e.msg);
    BIGNUM *bn = NULL;
    cr_assert_eq(EVP_PKEY_get_bn_param(k.pkey, OSSL_PKEY_PARAM_RSA_E, &bn), 1);
    cr_assert(BN_is_word(bn, 3));
    BN_free(bn);
    world_key_free(&k);

    const uint64_t bad[] = {2, 1, 65536, 0x100000001ull, 0x1ffffffffull};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.pubexp = bad[i];
        o.ident = "bad-e";
        cr_assert_eq(world_key_generate(&f.p, &f.m, &o, &info, &e), KT_EUSAGE, "e=%llu",
                     (unsigned long long)bad[i]);
        cr_assert(strstr(e.msg, "odd, from 3 to 4294967295") != NULL, "%s", e.msg);
    }
    teardown(&f);
}

Test(key, impossible_requests_are_refused_and_write_nothing)
{
    fixture f;
    world_key_info info;
    kt_err e;
    setup(&f);
    static const struct {
        world_key_gen_opts o;
        const char *says;
    } bad[] = {
        {{.type = WORLD_KEY_RSA, .bits = 1024, .ident = "x"}, "2048, 3072 or 4096"},
        {{.type = WORLD_KEY_RSA, .bits = 2047, .ident = "x"}, "2048, 3072 or 4096"},
        {{.type = WORLD_KEY_RSA, .bits = 2048, .curve = "P-256", .ident = "x"}, "EC keys"},
        {{.type = WORLD_KEY_EC, .ident = "x"}, "needs a curve"},
        {{.type = WORLD_KEY_EC, .curve = "P-224", .ident = "x"}, "P-256, P-384, P-521"},
        {{.type = WORLD_KEY_EC, .curve = "brainpoolP256r1", .ident = "x"}, "not supported"},
        {{.type = WORLD_KEY_EC, .curve = "P-256", .bits = 384, .ident = "x"}, "256 bits"},
        {{.type = WORLD_KEY_EC, .curve = "P-256", .pubexp = 3, .ident = "x"}, "RSA keys only"},
        {{.type = WORLD_KEY_AES, .bits = 512, .ident = "x"}, "128, 192 or 256"},
        {{.type = WORLD_KEY_AES, .bits = 0, .ident = "x"}, "128, 192 or 256"},
        {{.type = (world_key_type)4, .bits = 256, .ident = "x"}, "not RSA, EC or AES"},
        {{.type = WORLD_KEY_AES, .bits = 256, .ident = "Upper"}, "lower-case"},
        {{.type = WORLD_KEY_AES, .bits = 256, .ident = "under_score"}, "hyphens"},
        {{.type = WORLD_KEY_AES, .bits = 256, .ident = ""}, "1 to 64"},
        {{.type = WORLD_KEY_AES,
          .bits = 256,
          .ident = "a1234567890123456789012345678901234567890123456789012345678901234"},
         "1 to 64"},
        {{.type = WORLD_KEY_AES, .bits = 256, .ident = "x", .app = "Simple"}, "application"},
        {{.type = WORLD_KEY_AES, .bits = 256, .ident = "x", .app = "a-b"}, "application"},
        {{.type = WORLD_KEY_AES, .bits = 256, .ident = "x", .plainname = "tab\there"}, "printable"},
        {{.type = WORLD_KEY_AES, .bits = 256, .ident = "x", .plainname = ""}, "1 to 128"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(world_key_generate(&f.p, &f.m, &bad[i].o, &info, &e), KT_EUSAGE, "case %zu",
                     i);
        cr_expect(strstr(e.msg, bad[i].says) != NULL, "case %zu: %s", i, e.msg);
    }
    /* The longest identifier and aliases of curve names are fine. */
    world_key_gen_opts ok = {
        .type = WORLD_KEY_EC,
        .curve = "prime256v1",
        .ident = "a12345678901234567890123456789012345678901234567890123456789012-"};
    cr_assert_eq(world_key_generate(&f.p, &f.m, &ok, &info, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(info.curve, "P-256");
    ok.curve = "NISTP384";
    ok.ident = "nshield-name";
    cr_assert_eq(world_key_generate(&f.p, &f.m, &ok, &info, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(info.curve, "P-384");

    world_key_entry *list;
    size_t n;
    cr_assert_eq(world_key_list(&f.p, &f.m, &list, &n, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(n, 2, "only the two good keys were written");
    free(list);
    teardown(&f);
}

Test(key, an_existing_identifier_is_refused_and_the_old_file_kept)
{
    fixture f;
    world_key_info info;
    char path[PATH_MAX];
    kt_buf before, after;
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, WORLD_KEY_EC, 0, "P-256", "taken", &info, &e), KT_OK, "%s", e.msg);
    key_path(&f, "simple", "taken", path, sizeof path);
    read_all(path, &before);

    cr_assert_eq(generate(&f, WORLD_KEY_AES, 256, NULL, "taken", &info, &e), KT_EEXIST);
    cr_assert(strstr(e.msg, "already exists") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, path) != NULL, "%s", e.msg);

    char raw[128];
    snprintf(raw, sizeof raw, "%s/aes.bin", f.scratch);
    sh("head -c 32 /dev/urandom > '%s'", raw);
    world_key_import_opts io = {.from = raw, .type = WORLD_KEY_AES, .ident = "taken"};
    cr_assert_eq(world_key_import(&f.p, &f.m, &io, &info, &e), KT_EEXIST);
    read_all(path, &after);
    cr_assert_eq(after.len, before.len);
    cr_assert_arr_eq(after.p, before.p, before.len, "the old key file is untouched");
    kt_buf_free(&before);
    kt_buf_free(&after);

    /* Another application may use the same identifier. */
    io.app = "other";
    cr_assert_eq(world_key_import(&f.p, &f.m, &io, &info, &e), KT_OK, "%s", e.msg);
    cr_assert(strstr(info.path, "key_other_taken") != NULL, "%s", info.path);
    teardown(&f);
}

/* ---- import ------------------------------------------------------------------------------ */

static kt_rc test_passphrase(void *ctx, const char *source, kt_secbuf *pass, kt_err *e)
{
    const char *s = ctx;
    cr_assert_not_null(source);
    kt_rc rc = kt_secbuf_alloc(pass, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pass->p, s, strlen(s));
    return rc;
}

static world_key_info import_ok(fixture *f, const char *file, world_key_type type, const char *pass,
                                const char *ident)
{
    world_key_info info;
    kt_err e;
    world_key_import_opts o = {.from = file,
                               .type = type,
                               .ident = ident,
                               .pass = pass != NULL ? test_passphrase : NULL,
                               .pass_ctx = (void *)(uintptr_t)pass};
    cr_assert_eq(world_key_import(&f->p, &f->m, &o, &info, &e), KT_OK, "%s: %s", file, e.msg);
    return info;
}

/* Imports file and checks that the key kept is exactly the one `openssl pkey` sees. */
static void import_and_compare(fixture *f, const char *file, const char *pass, const char *ident)
{
    kt_buf spki;
    world_key k;
    kt_err e;
    world_key_info info = import_ok(f, file, 0, pass, ident);
    openssl_spki_of(f, file, pass, &spki);
    cr_assert_eq(info.spki_len, spki.len, "%s", file);
    cr_assert_arr_eq(info.spki, spki.p, spki.len, "%s: the public key changed", file);
    cr_assert_eq(world_key_load(&f->p, &f->m, NULL, ident, &k, &e), KT_OK, "%s", e.msg);
    char *want = openssl_pubout_of_der(f, &k.material);
    char *have = NULL;
    cr_assert_eq(world_key_public_pem(&k.info, &have, &e), KT_OK);
    cr_assert_str_eq(have, want);
    free(have);
    free(want);
    assert_nowhere(f->dir, k.material.p, k.material.len, k.info.spki, k.info.spki_len, 17, file);
    assert_secret_numbers_nowhere(f->dir, k.pkey, file);
    world_key_free(&k);
    kt_buf_free(&spki);
}

Test(key_import, rsa_keys_from_openssl_in_every_encoding)
{
    fixture f;
    char base[160], name[200], ident[32];
    static const unsigned sizes[] = {2048, 3072, 4096};
    setup(&f);
    for (size_t i = 0; i < 3; i++) {
        unsigned bits = sizes[i];
        snprintf(base, sizeof base, "%s/rsa%u", f.scratch, bits);
        sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:%u -out '%s.p8.pem' "
           "2>/dev/null",
           bits, base);
        sh("openssl rsa -in '%s.p8.pem' -traditional -out '%s.p1.pem' 2>/dev/null", base, base);
        sh("openssl pkey -in '%s.p8.pem' -outform DER -out '%s.p8.der'", base, base);
        sh("openssl rsa -in '%s.p8.pem' -traditional -outform DER -out '%s.p1.der' 2>/dev/null",
           base, base);
        sh("openssl pkcs8 -topk8 -in '%s.p8.pem' -v2 aes256 -passout pass:s3cret-phrase "
           "-out '%s.enc.pem'",
           base, base);
        static const char *const kinds[] = {"p8.pem", "p1.pem", "p8.der", "p1.der"};
        for (size_t j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "%s.%s", base, kinds[j]);
            snprintf(ident, sizeof ident, "rsa%u-%zu", bits, j);
            import_and_compare(&f, name, NULL, ident);
        }
        snprintf(name, sizeof name, "%s.enc.pem", base);
        snprintf(ident, sizeof ident, "rsa%u-enc", bits);
        import_and_compare(&f, name, "s3cret-phrase", ident);
    }
    /* Encrypted DER PKCS#8 and a legacy encrypted PKCS#1 PEM (Proc-Type / DEK-Info). */
    snprintf(base, sizeof base, "%s/rsa2048", f.scratch);
    sh("openssl pkcs8 -topk8 -in '%s.p8.pem' -v2 aes256 -passout pass:der-phrase -outform DER "
       "-out '%s.enc.der'",
       base, base);
    snprintf(name, sizeof name, "%s.enc.der", base);
    cr_assert_eq(import_ok(&f, name, WORLD_KEY_RSA, "der-phrase", "rsa-enc-der").type,
                 WORLD_KEY_RSA);
    sh("openssl rsa -in '%s.p8.pem' -traditional -aes256 -passout pass:legacy-phrase "
       "-out '%s.legacy.pem' 2>/dev/null",
       base, base);
    snprintf(name, sizeof name, "%s.legacy.pem", base);
    import_and_compare(&f, name, "legacy-phrase", "rsa-legacy");
    teardown(&f);
}

Test(key_import, ec_keys_from_openssl_in_every_encoding)
{
    fixture f;
    char base[160], name[200], ident[32];
    static const char *const curves[] = {"P-256", "P-384", "P-521", "secp256k1"};
    setup(&f);
    for (size_t i = 0; i < 4; i++) {
        snprintf(base, sizeof base, "%s/ec%zu", f.scratch, i);
        sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:%s -out '%s.p8.pem'",
           curves[i], base);
        sh("openssl ec -in '%s.p8.pem' -out '%s.sec1.pem' 2>/dev/null", base, base);
        sh("openssl ec -in '%s.p8.pem' -outform DER -out '%s.sec1.der' 2>/dev/null", base, base);
        sh("openssl pkey -in '%s.p8.pem' -outform DER -out '%s.p8.der'", base, base);
        sh("openssl pkcs8 -topk8 -in '%s.p8.pem' -v2 aes256 -passout pass:ec-phrase "
           "-out '%s.enc.pem'",
           base, base);
        /* `openssl ecparam -genkey` writes EC PARAMETERS before the key. */
        sh("openssl ecparam -name %s -genkey -out '%s.ecparam.pem'",
           i == 0   ? "prime256v1"
           : i == 1 ? "secp384r1"
           : i == 2 ? "secp521r1"
                    : "secp256k1",
           base);
        static const char *const kinds[] = {"p8.pem", "sec1.pem", "sec1.der", "p8.der",
                                            "ecparam.pem"};
        for (size_t j = 0; j < 5; j++) {
            snprintf(name, sizeof name, "%s.%s", base, kinds[j]);
            snprintf(ident, sizeof ident, "ec%zu-%zu", i, j);
            import_and_compare(&f, name, NULL, ident);
        }
        snprintf(name, sizeof name, "%s.enc.pem", base);
        snprintf(ident, sizeof ident, "ec%zu-enc", i);
        import_and_compare(&f, name, "ec-phrase", ident);
    }
    /* A compressed public point in SEC1 is stored uncompressed, as the other encodings are. */
    snprintf(base, sizeof base, "%s/ec0", f.scratch);
    sh("openssl ec -in '%s.p8.pem' -conv_form compressed -out '%s.compressed.pem' 2>/dev/null",
       base, base);
    snprintf(name, sizeof name, "%s.compressed.pem", base);
    world_key_info c = import_ok(&f, name, 0, NULL, "ec-compressed");
    world_key_info u;
    kt_err e;
    cr_assert_eq(world_key_inspect(&f.p, &f.m, NULL, "ec0-0", &u, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(c.spki_len, u.spki_len);
    cr_assert_arr_eq(c.spki, u.spki, u.spki_len);
    teardown(&f);
}

Test(key_import, a_raw_aes_key_is_kept_exactly)
{
    fixture f;
    char file[128];
    kt_buf raw;
    world_key k;
    kt_err e;
    setup(&f);
    static const unsigned sizes[] = {16, 24, 32};
    for (size_t i = 0; i < 3; i++) {
        char ident[16];
        snprintf(file, sizeof file, "%s/aes%u.bin", f.scratch, sizes[i]);
        sh("openssl rand -out '%s' %u", file, sizes[i]);
        snprintf(ident, sizeof ident, "aes-%zu", i);
        world_key_info info = import_ok(&f, file, WORLD_KEY_AES, NULL, ident);
        cr_assert_eq(info.bits, sizes[i] * 8);
        read_all(file, &raw);
        cr_assert_eq(world_key_load(&f.p, &f.m, NULL, ident, &k, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(k.material.len, raw.len);
        cr_assert_arr_eq(k.material.p, raw.p, raw.len, "the AES key changed");
        assert_nowhere(f.dir, k.material.p, k.material.len, NULL, 0, k.material.len - 15, file);
        world_key_free(&k);
        kt_buf_free(&raw);
    }
    teardown(&f);
}

/* Refusals: each case names the file made by a shell command and the message expected. */
Test(key_import, unsuitable_keys_are_refused_with_clear_messages)
{
    fixture f;
    kt_err e;
    world_key_info info;
    setup(&f);
    const char *d = f.scratch;
    sh("cd '%s' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem "
       "2>/dev/null",
       d);
    sh("cd '%s' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem "
       "2>/dev/null",
       d);
    sh("cd '%s' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-224 -out p224.pem",
       d);
    sh("cd '%s' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1 "
       "-out bp.pem",
       d);
    sh("cd '%s' && openssl genpkey -algorithm ED25519 -out ed.pem", d);
    sh("cd '%s' && openssl pkey -in rsa.pem -pubout -out rsapub.pem", d);
    sh("cd '%s' && openssl pkey -in rsa.pem -pubout -outform DER -out rsapub.der", d);
    sh("cd '%s' && openssl req -x509 -key rsa.pem -subj /CN=test -days 1 -out cert.pem "
       "2>/dev/null",
       d);
    sh("cd '%s' && openssl pkcs8 -topk8 -in rsa.pem -v2 aes256 -passout pass:right -out enc.pem",
       d);
    sh("cd '%s' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
       "-pkeyopt rsa_keygen_primes:3 -out rsa3p.pem 2>/dev/null",
       d);
    sh("cd '%s' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
       "-pkeyopt rsa_keygen_pubexp:4294967297 -out bige.pem 2>/dev/null",
       d);
    sh("cd '%s' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
       "-pkeyopt ec_param_enc:explicit -out explicit.pem",
       d);
    sh("cd '%s' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem", d);
    sh("cd '%s' && printf 'not a key at all\\n' > junk.txt && head -c 33 /dev/urandom > aes33.bin",
       d);
    sh("cd '%s' && openssl rand -hex 32 > aes.hex && : > empty", d);

    static const struct {
        const char *file;
        world_key_type type;
        const char *pass; /* NULL: no way to ask */
        kt_rc rc;
        const char *says[2];
    } bad[] = {
        {"rsa1024.pem", 0, NULL, KT_EDENIED, {"1024-bit RSA key", "2048, 3072 and 4096"}},
        {"p224.pem", 0, NULL, KT_EDENIED, {"secp224r1, which is not supported", "P-256"}},
        {"bp.pem", 0, NULL, KT_EDENIED, {"brainpoolP256r1, which is not supported", "P-521"}},
        {"ed.pem", 0, NULL, KT_EDENIED, {"key of type ED25519", "keeps RSA"}},
        {"rsapub.pem", 0, NULL, KT_EFORMAT, {"only a public key", "needs the private key"}},
        {"rsapub.der", 0, NULL, KT_EFORMAT, {"only a public key", "needs the private key"}},
        {"cert.pem", 0, NULL, KT_EFORMAT, {"certificate", "needs the private key"}},
        {"enc.pem", 0, "wrong", KT_EPIN, {"wrong passphrase", "enc.pem"}},
        {"enc.pem", 0, NULL, KT_EUSAGE, {"is encrypted", "enc.pem"}},
        {"rsa3p.pem", 0, NULL, KT_EDENIED, {"multi-prime", "two primes"}},
        {"bige.pem", 0, NULL, KT_EDENIED, {"exponent 4294967297", "3 to 4294967295"}},
        {"explicit.pem", 0, NULL, KT_EDENIED, {"explicit curve parameters", "named_curve"}},
        {"ec.pem", WORLD_KEY_RSA, NULL, KT_EUSAGE, {"holds an EC key, not RSA", "ec.pem"}},
        {"junk.txt", 0, NULL, KT_EFORMAT, {"not a private key", "PKCS#8"}},
        {"empty", 0, NULL, KT_EFORMAT, {"not a private key", "empty"}},
        {"aes33.bin", WORLD_KEY_AES, NULL, KT_EFORMAT, {"33 bytes", "exactly 16, 24 or 32"}},
        {"aes.hex", WORLD_KEY_AES, NULL, KT_EFORMAT, {"65 bytes", "not hex"}},
        {"missing.pem", 0, NULL, KT_ENOENT, {"missing.pem", ""}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char file[160];
        snprintf(file, sizeof file, "%s/%s", d, bad[i].file);
        world_key_import_opts o = {.from = file,
                                   .type = bad[i].type,
                                   .ident = "refused",
                                   .pass = bad[i].pass != NULL ? test_passphrase : NULL,
                                   .pass_ctx = (void *)(uintptr_t)bad[i].pass};
        cr_expect_eq(world_key_import(&f.p, &f.m, &o, &info, &e), bad[i].rc, "%s: %s (%s)",
                     bad[i].file, e.msg, kt_rc_name(e.rc));
        for (size_t j = 0; j < 2; j++)
            cr_expect(strstr(e.msg, bad[i].says[j]) != NULL, "%s: lacks '%s': %s", bad[i].file,
                      bad[i].says[j], e.msg);
    }
    char path[PATH_MAX];
    key_path(&f, "simple", "refused", path, sizeof path);
    cr_assert(!kt_path_exists(path), "a refused import wrote a key file");

    /* The good passphrase opens it; and e = 3 is fine. */
    char file[160];
    snprintf(file, sizeof file, "%s/enc.pem", d);
    import_ok(&f, file, 0, "right", "enc-ok");
    teardown(&f);
}

/* ---- tampering ----------------------------------------------------------------------------- */

static const uint8_t flips[] = {0x01, 0x80, 0xff};

static void every_byte_flipped(world_key_type type, unsigned bits, const char *curve)
{
    fixture f;
    world_key_info info;
    world_key k;
    char path[PATH_MAX];
    kt_buf orig;
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, type, bits, curve, "victim", &info, &e), KT_OK, "%s", e.msg);
    key_path(&f, "simple", "victim", path, sizeof path);
    read_all(path, &orig);
    for (size_t i = 0; i < orig.len; i++)
        for (size_t j = 0; j < sizeof flips; j++) {
            orig.p[i] ^= flips[j];
            ts_write(path, orig.p, orig.len);
            kt_rc rc = world_key_load(&f.p, &f.m, NULL, "victim", &k, &e);
            cr_assert_neq(rc, KT_OK, "flip %02x at byte %zu of %zu accepted", flips[j], i,
                          orig.len);
            cr_assert_null(k.material.p);
            orig.p[i] ^= flips[j];
        }
    for (size_t n = 0; n < orig.len; n += 3) {
        ts_write(path, orig.p, n);
        cr_assert_neq(world_key_load(&f.p, &f.m, NULL, "victim", &k, &e), KT_OK,
                      "truncated to %zu accepted", n);
    }
    uint8_t *longer = malloc(orig.len + 1);
    memcpy(longer, orig.p, orig.len);
    longer[orig.len] = 0;
    ts_write(path, longer, orig.len + 1);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "victim", &k, &e), KT_EFORMAT);
    free(longer);
    ts_write(path, orig.p, orig.len);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "victim", &k, &e), KT_OK, "%s", e.msg);
    world_key_free(&k);
    kt_buf_free(&orig);
    teardown(&f);
}

Test(key_tamper, every_byte_of_an_ec_key_file_flipped_is_refused)
{
    every_byte_flipped(WORLD_KEY_EC, 0, "P-256");
}

Test(key_tamper, every_byte_of_an_aes_key_file_flipped_is_refused)
{
    every_byte_flipped(WORLD_KEY_AES, 256, NULL);
}

Test(key_tamper, every_byte_of_an_rsa_key_file_flipped_is_refused)
{
    every_byte_flipped(WORLD_KEY_RSA, 2048, NULL);
}

/* Parses a key file on disk into kf (raw kept in b). */
static void parse_file(const char *path, kt_buf *b, key_file *kf)
{
    kt_err e;
    read_all(path, b);
    cr_assert_eq(key_file_parse(b->p, b->len, kf, &e), KT_OK, "%s", e.msg);
}

Test(key_tamper, a_header_copied_onto_another_keys_seal_is_refused)
{
    fixture f;
    world_key_info info;
    world_key k;
    char pa[PATH_MAX], pb[PATH_MAX];
    kt_buf a, b;
    key_file ka, kb;
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, WORLD_KEY_EC, 0, "P-256", "alpha", &info, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(generate(&f, WORLD_KEY_EC, 0, "P-256", "beta", &info, &e), KT_OK, "%s", e.msg);
    key_path(&f, "simple", "alpha", pa, sizeof pa);
    key_path(&f, "simple", "beta", pb, sizeof pb);
    parse_file(pa, &a, &ka);
    parse_file(pb, &b, &kb);

    /* beta's header (which names beta, so the name check passes) on alpha's sealed part. */
    size_t len = kb.aad_len + (a.len - ka.aad_len);
    uint8_t *mix = malloc(len);
    memcpy(mix, b.p, kb.aad_len);
    memcpy(mix + kb.aad_len, a.p + ka.aad_len, a.len - ka.aad_len);
    ts_write(pb, mix, len);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "beta", &k, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "damaged or altered") != NULL, "%s", e.msg);
    free(mix);

    /* Even a seal that opens (as if the AEAD were bypassed) must hold the stated key: a file
     * built from beta's header and alpha's private key is refused by the public-key check. */
    world_key alpha, beta;
    ts_write(pb, b.p, b.len);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "alpha", &alpha, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "beta", &beta, &e), KT_OK, "%s", e.msg);
    world_key forged = {0};
    forged.info = beta.info;
    forged.material = alpha.material;
    kt_wbuf w;
    kt_wbuf_init(&w, false);
    cr_assert_eq(key_file_build(&forged, &f.m, &w, &e), KT_OK, "%s", e.msg);
    ts_write(pb, w.p, w.len);
    kt_wbuf_free(&w);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "beta", &k, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "public half is not the public key") != NULL, "%s", e.msg);

    /* And world_key_save refuses to write such a thing in the first place. */
    snprintf(forged.info.ident, sizeof forged.info.ident, "forged");
    cr_assert_eq(world_key_save(&f.p, &f.m, &forged, &e), KT_EDENIED);
    key_path(&f, "simple", "forged", pa, sizeof pa);
    cr_assert(!kt_path_exists(pa));

    world_key_free(&alpha);
    world_key_free(&beta);
    kt_buf_free(&a);
    kt_buf_free(&b);
    teardown(&f);
}

Test(key_tamper, a_seal_that_opens_must_hold_the_aes_key_the_hash_names)
{
    fixture f;
    world_key_info info;
    world_key a, b, k;
    kt_wbuf w;
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, WORLD_KEY_AES, 256, NULL, "aes-a", &info, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(generate(&f, WORLD_KEY_AES, 256, NULL, "aes-b", &info, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "aes-a", &a, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "aes-b", &b, &e), KT_OK, "%s", e.msg);
    world_key forged = {.info = b.info, .material = a.material};
    kt_wbuf_init(&w, false);
    cr_assert_eq(key_file_build(&forged, &f.m, &w, &e), KT_OK, "%s", e.msg);
    ts_write(b.info.path, w.p, w.len);
    kt_wbuf_free(&w);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "aes-b", &k, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "does not match the key hash") != NULL, "%s", e.msg);
    world_key_free(&a);
    world_key_free(&b);
    teardown(&f);
}

Test(key_tamper, a_renamed_key_file_is_refused)
{
    fixture f;
    world_key_info info;
    world_key k;
    char pa[PATH_MAX], pb[PATH_MAX];
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, WORLD_KEY_AES, 128, NULL, "real", &info, &e), KT_OK, "%s", e.msg);
    key_path(&f, "simple", "real", pa, sizeof pa);
    key_path(&f, "simple", "fake", pb, sizeof pb);
    cr_assert_eq(rename(pa, pb), 0);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "fake", &k, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "holds key simple/real") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, "renamed") != NULL, "%s", e.msg);
    teardown(&f);
}

Test(key_tamper, a_key_file_of_another_world_is_refused_naming_both_worlds)
{
    fixture one, two;
    world_key_info info;
    world_key k;
    char from[PATH_MAX], to[PATH_MAX], h1[65], h2[65];
    kt_err e;
    setup(&one);
    setup(&two);
    cr_assert_eq(generate(&one, WORLD_KEY_RSA, 2048, NULL, "traveller", &info, &e), KT_OK, "%s",
                 e.msg);
    key_path(&one, "simple", "traveller", from, sizeof from);
    key_path(&two, "simple", "traveller", to, sizeof to);
    sh("cp '%s' '%s'", from, to);
    cr_assert_eq(world_key_load(&two.p, &two.m, NULL, "traveller", &k, &e), KT_EDENIED);
    kt_hex(h1, one.m.info.hash, 32);
    kt_hex(h2, two.m.info.hash, 32);
    cr_assert(strstr(e.msg, "belongs to world") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, h1) != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, h2) != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, to) != NULL, "%s", e.msg);

    /* Even with the world hash in its header rewritten, the seal is another world's. */
    kt_buf b;
    read_all(to, &b);
    memcpy(b.p + 8 + 2 + 6, two.m.info.hash, WORLD_HASH_LEN);
    ts_write(to, b.p, b.len);
    cr_assert_eq(world_key_load(&two.p, &two.m, NULL, "traveller", &k, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "damaged or altered") != NULL, "%s", e.msg);
    kt_buf_free(&b);
    teardown(&one);
    teardown(&two);
}

Test(key_tamper, a_file_from_the_future_is_refused_as_an_unknown_version)
{
    fixture f;
    world_key_info info;
    world_key k;
    char path[PATH_MAX];
    kt_buf b;
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, WORLD_KEY_AES, 256, NULL, "v2", &info, &e), KT_OK, "%s", e.msg);
    key_path(&f, "simple", "v2", path, sizeof path);
    read_all(path, &b);
    b.p[9] = 2;
    ts_write(path, b.p, b.len);
    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "v2", &k, &e), KT_EVERSION);
    cr_assert(strstr(e.msg, "version 2") != NULL, "%s", e.msg);
    kt_buf_free(&b);
    teardown(&f);
}

/* Builds a key file from raw header fields, for the parser's own checks (no seal needed: the
 * parser refuses before any key is used). */
static size_t craft(uint8_t *out, const char *curve, size_t curve_len, uint8_t type, uint32_t bits)
{
    kt_wbuf w;
    uint8_t zero[64] = {0}, size[4] = {(uint8_t)(bits >> 24), (uint8_t)(bits >> 16),
                                       (uint8_t)(bits >> 8), (uint8_t)bits};
    uint8_t acl[] = {0x01, 0x00, 0x00, 0x00, 0x3c, 0x00};
    kt_wbuf_init(&w, false);
    kt_wbuf_header(&w, KEY_MAGIC, 1);
    kt_wbuf_field(&w, KEY_T_WORLD, zero, 32);
    kt_wbuf_field(&w, KEY_T_APP, "simple", 6);
    kt_wbuf_field(&w, KEY_T_IDENT, "k", 1);
    kt_wbuf_field(&w, KEY_T_PLAINNAME, "k", 1);
    kt_wbuf_field(&w, KEY_T_TYPE, &type, 1);
    kt_wbuf_field(&w, KEY_T_SIZE, size, 4);
    kt_wbuf_field(&w, KEY_T_CURVE, curve, curve_len);
    kt_wbuf_field_u64(&w, KEY_T_CREATED, 0);
    kt_wbuf_field(&w, KEY_T_SPKI, zero, 0);
    kt_wbuf_field(&w, KEY_T_HASH, zero, 32);
    kt_wbuf_field(&w, KEY_T_ACL, acl, sizeof acl);
    kt_wbuf_field(&w, KEY_T_ACL_SIG, zero, 0);
    kt_wbuf_field(&w, KEY_T_NONCE, zero, 24);
    kt_wbuf_field(&w, KEY_T_SEALED, zero, 32 + 16);
    size_t n = w.len;
    memcpy(out, w.p, n);
    kt_wbuf_free(&w);
    return n;
}

Test(key_tamper, the_parser_refuses_inconsistent_headers)
{
    uint8_t buf[512];
    key_file kf;
    kt_err e;
    size_t n = craft(buf, "", 0, WORLD_KEY_AES, 256);
    cr_assert_eq(key_file_parse(buf, n, &kf, &e), KT_OK, "the template parses: %s", e.msg);
    static const struct {
        const char *curve;
        size_t len;
        uint8_t type;
        uint32_t bits;
        const char *says;
    } bad[] = {
        {"\0abc", 4, WORLD_KEY_AES, 256, "byte 0x00"},
        {"P-256\0xyz", 9, WORLD_KEY_EC, 256, "byte 0x00"},
        {"P-256", 5, WORLD_KEY_AES, 256, "names a curve"},
        {"", 0, WORLD_KEY_AES, 512, "128, 192 or 256"},
        {"", 0, WORLD_KEY_AES, 128, "sealed AES key is 32 bytes, not 16"},
        {"", 0, WORLD_KEY_RSA, 1024, "2048, 3072 or 4096"},
        {"", 0, WORLD_KEY_RSA, 2048, "without its public key"},
        {"p-256", 5, WORLD_KEY_EC, 256, "is not one of"},
        {"P-224", 5, WORLD_KEY_EC, 224, "is not one of"},
        {"P-384", 5, WORLD_KEY_EC, 256, "384 bits, not 256"},
        {"", 0, 4, 256, "unknown key type 4"},
        {"", 0, 0, 256, "unknown key type 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = craft(buf, bad[i].curve, bad[i].len, bad[i].type, bad[i].bits);
        cr_expect_eq(key_file_parse(buf, n, &kf, &e), KT_EFORMAT, "case %zu", i);
        cr_expect(strstr(e.msg, bad[i].says) != NULL, "case %zu: %s", i, e.msg);
    }
}

Test(key, list_reports_refused_files_and_still_lists_the_good_ones)
{
    fixture f;
    world_key_info info;
    world_key_entry *list;
    size_t n;
    char path[PATH_MAX + 32];
    kt_buf b;
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, WORLD_KEY_AES, 256, NULL, "good", &info, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(generate(&f, WORLD_KEY_AES, 256, NULL, "bad", &info, &e), KT_OK, "%s", e.msg);
    read_all(info.path, &b);
    b.p[b.len - 1] ^= 1;
    ts_write(info.path, b.p, b.len);
    kt_buf_free(&b);
    snprintf(path, sizeof path, "%s/key_Not_valid", f.p.local);
    ts_write(path, "x", 1);

    cr_assert_eq(world_key_list(&f.p, &f.m, &list, &n, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(n, 3);
    size_t good = 0, refused = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i].rc == KT_OK) {
            good++;
            cr_assert_str_eq(list[i].info.ident, "good");
        } else {
            refused++;
            cr_assert(strstr(list[i].err.msg, list[i].file) != NULL, "%s", list[i].err.msg);
        }
    }
    cr_assert_eq(good, 1);
    cr_assert_eq(refused, 2);
    free(list);
    teardown(&f);
}

/* ---- a reduced, signed ACL (what modify-acls writes)
 * --------------------------------------------- */

Test(key, a_signed_reduced_acl_is_kept_and_verified)
{
    fixture f;
    world_key_info info;
    world_key k, r;
    world_admin a;
    kt_err e;
    setup(&f);
    cr_assert_eq(generate(&f, WORLD_KEY_RSA, 2048, NULL, "contosokey", &info, &e), KT_OK, "%s",
                 e.msg);
    const char *cards[1] = {f.card[0]};
    cr_assert_eq(world_admin_open(&f.p, cards, 1, test_pin, NULL, &a, &e), KT_OK, "%s", e.msg);

    cr_assert_eq(world_key_load(&f.p, &f.m, NULL, "contosokey", &k, &e), KT_OK, "%s", e.msg);
    world_acl reduced = {.ngroups = 1};
    reduced.groups[0].actions = WORLD_ACT_EXPORT_WRAPPED;
    reduced.groups[0].has_kek = reduced.groups[0].has_world = true;
    memset(reduced.groups[0].kek_fp, 0xab, WORLD_HASH_LEN);
    memset(reduced.groups[0].world_hash, 0xcd, WORLD_HASH_LEN);
    cr_assert(world_acl_is_subset(&reduced, &k.info.acl));
    k.info.acl = reduced;
    snprintf(k.info.app, sizeof k.info.app, "xferacld");

    /* A signature that does not verify is never written. */
    memset(k.info.acl_sig, 0, WORLD_ACL_SIG_LEN);
    k.info.acl_signed = true;
    cr_assert_eq(world_key_save(&f.p, &f.m, &k, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "does not verify") != NULL, "%s", e.msg);

    cr_assert_eq(world_acl_sign(&a, k.info.app, k.info.ident, k.info.key_hash, &k.info.acl,
                                k.info.acl_sig, &e),
                 KT_OK);
    cr_assert_eq(world_key_save(&f.p, &f.m, &k, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_key_load(&f.p, &f.m, "xferacld", "contosokey", &r, &e), KT_OK, "%s", e.msg);
    cr_assert(r.info.acl_signed);
    cr_assert(world_acl_allows(&r.info.acl, WORLD_ACT_EXPORT_WRAPPED, reduced.groups[0].kek_fp,
                               reduced.groups[0].world_hash));
    cr_assert(!world_acl_allows(&r.info.acl, WORLD_ACT_SIGN, NULL, NULL));
    world_key_free(&r);

    /* A file whose (sealed) signature does not verify is refused when loaded. */
    char path[PATH_MAX];
    key_path(&f, "xferacld", "contosokey", path, sizeof path);
    k.info.acl_sig[0] ^= 1;
    kt_wbuf w;
    kt_wbuf_init(&w, false);
    cr_assert_eq(key_file_build(&k, &f.m, &w, &e), KT_OK, "%s", e.msg);
    ts_write(path, w.p, w.len);
    kt_wbuf_free(&w);
    cr_assert_eq(world_key_load(&f.p, &f.m, "xferacld", "contosokey", &r, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "signature does not verify") != NULL, "%s", e.msg);

    world_key_free(&k);
    world_admin_close(&a);
    teardown(&f);
}

Test(key, names_and_curves)
{
    kt_err e;
    const char *c;
    unsigned bits;
    world_key_type t;
    cr_assert_eq(world_key_curve("p-521", &c, &bits, &e), KT_OK);
    cr_assert_str_eq(c, "P-521");
    cr_assert_eq(bits, 521);
    cr_assert_eq(world_key_curve("SECP256K1", &c, &bits, &e), KT_OK);
    cr_assert_str_eq(c, "secp256k1");
    cr_assert_eq(world_key_curve("secp224r1", &c, &bits, &e), KT_EUSAGE);
    cr_assert(strstr(e.msg, "P-256, P-384, P-521 and secp256k1") != NULL, "%s", e.msg);
    cr_assert_eq(world_key_type_parse("rsa", &t, &e), KT_OK);
    cr_assert_eq(t, WORLD_KEY_RSA);
    cr_assert_eq(world_key_type_parse("DSA", &t, &e), KT_EUSAGE);
    cr_assert_eq(world_key_check_ident("0-a-z-9", &e), KT_OK);
    cr_assert_eq(world_key_check_ident("a.b", &e), KT_EUSAGE);
    cr_assert_eq(world_key_check_ident("a/b", &e), KT_EUSAGE);
    cr_assert_eq(world_key_check_ident("../x", &e), KT_EUSAGE);
    cr_assert_eq(world_key_check_app("simple", &e), KT_OK);
    cr_assert_eq(world_key_check_app("sim_ple", &e), KT_EUSAGE, "'_' would make names ambiguous");
    cr_assert_eq(world_key_check_plainname("Contoso key #1 (prod)", &e), KT_OK);
    cr_assert_eq(world_key_check_plainname("caf\xc3\xa9", &e), KT_EUSAGE);
}
