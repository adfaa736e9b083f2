/*
 * test_transfer.c - the transfer step through the library (keytransfer/transfer.h): the reduced
 * ACL and its KNSO signature, modify-acls refusals (quorum, PIN, ACL, existing copy) with nothing
 * written, package refusals (not reduced, unsigned, another KEK or world, attested/unattested
 * swapped, a forged ACL signature behind a valid seal, GCP with a 2048-bit KEK, existing files),
 * round trips unwrapped with the KEK's private key for every target, the manifest verified and
 * checked field by field, no plaintext key under kmdata or the output folder, and the attested
 * path against a real emulated cloud (kek/) whose import gives back the same key. Trust and
 * approval: the card holders' approval is asked after every check and before the first PIN and
 * shows what they approve; a refusal stops everything; the kid is bound, so the same KEK under
 * another kid is refused naming both; the emulated cloud's packages chain to the DEMO root and
 * are refused unless demo is said, and the manifest records the root that vouched.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "support/scratch.h"
#include "world_internal.h"
#include "kek.h"
#include "pkg.h"
#include "transfer.h"
#include "world.h"

static const world_kdf KDF_TEST = {1, 8192};
#define KID_TEXT "https://contoso.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef"
static const char KID[] = KID_TEXT;
/* The same KEK under another vault's name (attestation proves where a KEK lives, not whose). */
static const char ATTACKER_KID[] =
    "https://attacker.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef";

/* ---- fixtures ------------------------------------------------------------------------------ */

/* How the PIN and approval callbacks behave and how often they were asked. */
typedef struct pins {
    unsigned calls;
    bool wrong;
    unsigned approvals;  /* the approval was asked */
    unsigned pins_first; /* PINs asked before the approval (must stay 0) */
    bool refuse;         /* the card holders say no */
    char shown[TRANSFER_APPROVAL_TEXT_MAX];
} pins;

static kt_rc test_approve(void *ctx, const transfer_approval *a, kt_err *e)
{
    pins *c = ctx;
    c->approvals++;
    c->pins_first += c->calls;
    transfer_approval_format(a, c->shown, sizeof c->shown);
    if (c->refuse)
        return kt_fail(e, KT_EDENIED, "not approved (test)");
    return KT_OK;
}

static kt_rc test_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                      kt_err *e)
{
    pins *c = ctx;
    char s[48];
    (void)card_path;
    if (c != NULL)
        c->calls++;
    snprintf(s, sizeof s, "pin-of-card-%u%s", no, c != NULL && c->wrong && !is_new ? "-not" : "");
    kt_rc rc = kt_secbuf_alloc(pin, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pin->p, s, strlen(s));
    return rc;
}

/* A fresh 2-of-3 world, its module opened, an output folder and a scratch folder. */
typedef struct fixture {
    char dir[64], out[64], scratch[64];
    world_paths p;
    world_module m;
    char cards[3][PATH_MAX];
} fixture;

static void make_tmpdir(char *out, size_t n)
{
    ts_scratch_into(out, n);
}

static void setup(fixture *f)
{
    world_info info;
    kt_err e;
    world_new_opts o = {.k = 2, .n = 3, .kdf = KDF_TEST, .pin = test_pin};
    world_kdf_floor_lower_for_tests(&KDF_TEST);
    make_tmpdir(f->dir, sizeof f->dir);
    make_tmpdir(f->out, sizeof f->out);
    make_tmpdir(f->scratch, sizeof f->scratch);
    cr_assert_eq(world_paths_init(&f->p, f->dir, NULL, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_create(&f->p, &o, &info, f->cards, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(world_module_open(&f->p, &f->m, &e), KT_OK, "%s", e.msg);
}

static void teardown(fixture *f)
{
    char cmd[256];
    world_module_close(&f->m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", f->dir, f->out, f->scratch);
    cr_assert_eq(system(cmd), 0);
}

static void read_all(const char *path, kt_buf *b)
{
    kt_err e;
    cr_assert_eq(kt_file_read(path, 1 << 20, b, &e), KT_OK, "%s", e.msg);
}

/* The names in a folder, sorted and joined, to show that a refused command wrote nothing. */
static char *listing(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    cr_assert_geq(n, 0, "%s", dir);
    char *s = calloc(1, 8192);
    cr_assert_not_null(s);
    for (int i = 0; i < n; i++) {
        if (strlen(s) + strlen(names[i]->d_name) + 2 < 8192) {
            strcat(s, names[i]->d_name);
            strcat(s, " ");
        }
        free(names[i]);
    }
    free(names);
    return s;
}

static void generate(fixture *f, world_key_type type, unsigned bits, const char *curve,
                     const char *ident)
{
    world_key_gen_opts o = {.type = type, .bits = bits, .curve = curve, .ident = ident};
    kt_err e;
    cr_assert_eq(world_key_generate(&f->p, &f->m, &o, NULL, &e), KT_OK, "%s", e.msg);
}

/* Saves the key `from` again as app/ident with another, unsigned ACL (test setup). */
static void save_with_acl(fixture *f, const char *from, const char *app, const char *ident,
                          const world_acl *acl)
{
    world_key k;
    kt_err e;
    cr_assert_eq(world_key_load(&f->p, &f->m, NULL, from, &k, &e), KT_OK, "%s", e.msg);
    snprintf(k.info.app, sizeof k.info.app, "%s", app);
    snprintf(k.info.ident, sizeof k.info.ident, "%s", ident);
    k.info.acl = *acl;
    k.info.acl_signed = false;
    cr_assert_eq(world_key_save(&f->p, &f->m, &k, &e), KT_OK, "%s", e.msg);
    world_key_free(&k);
}

static EVP_PKEY *rsa_key(unsigned bits)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    cr_assert_not_null(k);
    return k;
}

static void fp_hex(EVP_PKEY *key, char out[65])
{
    uint8_t fp[32];
    kt_err e;
    cr_assert_eq(kt_spki_sha256(key, fp, &e), KT_OK, "%s", e.msg);
    kt_hex(out, fp, 32);
}

/* Writes kek's public key as PEM SPKI into the scratch folder; returns the path (static). */
static const char *write_pubkey(fixture *f, EVP_PKEY *kek, const char *name)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", f->scratch, name);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    cr_assert_eq(PEM_write_PUBKEY(fp, kek), 1);
    cr_assert_eq(fclose(fp), 0);
    return path;
}

/* The unattested path, accepted by its fingerprint. */
static void kek_unattested(fixture *f, EVP_PKEY *kek, transfer_kek *k)
{
    char hex[65];
    kt_err e;
    fp_hex(kek, hex);
    cr_assert_eq(transfer_kek_from_pem(write_pubkey(f, kek, "kek.pem"), KID, hex, k, &e), KT_OK,
                 "%s", e.msg);
}

/* An attested KEK as verify/ would hand it over, bound to world and vouched for by a vendor
 * root (the packages are exercised by the cloud tests below). */
static void kek_attested(EVP_PKEY *kek, const uint8_t world[32], transfer_kek *k)
{
    kt_err e;
    memset(k, 0, sizeof *k);
    cr_assert_eq(EVP_PKEY_up_ref(kek), 1);
    k->key = kek;
    k->bits = (unsigned)EVP_PKEY_get_bits(kek);
    cr_assert_eq(kt_spki_sha256(kek, k->fp, &e), KT_OK, "%s", e.msg);
    snprintf(k->kid, sizeof k->kid, "%s", KID);
    k->attested = true;
    snprintf(k->root_name, sizeof k->root_name, "Test HSM Vendor");
    memset(k->root_sha256, 0x5c, 32);
    snprintf(k->region, sizeof k->region, "NA");
    memcpy(k->world_hash, world, 32);
}

/* modify-acls with the given cards (by index into the set). */
static kt_rc reduce_with(fixture *f, const transfer_kek *k, const char *ident, const int *which,
                         size_t n, pins *pc, kt_err *e)
{
    const char *cards[3];
    for (size_t i = 0; i < n; i++)
        cards[i] = f->cards[which[i]];
    transfer_reduce_opts o = {.ident = ident,
                              .cards = cards,
                              .ncards = n,
                              .pin = test_pin,
                              .pin_ctx = pc,
                              .approve = test_approve,
                              .approve_ctx = pc};
    return transfer_reduce(&f->p, &f->m, k, &o, NULL, e);
}

static void reduce(fixture *f, const transfer_kek *k, const char *ident)
{
    static const int two[] = {2, 0};
    pins pc = {0};
    kt_err e;
    cr_assert_eq(reduce_with(f, k, ident, two, 2, &pc, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pc.calls, 2);
    cr_assert_eq(pc.approvals, 1);
    cr_assert_eq(pc.pins_first, 0, "a PIN was asked before the approval");
}

static kt_rc package(fixture *f, const transfer_kek *k, const char *ident, transfer_target t,
                     pkg_oaep_hash h, const char *name, transfer_package_result *r, kt_err *e)
{
    transfer_package_opts o = {.ident = ident,
                               .target = t,
                               .hash = h,
                               .name = name,
                               .subscription = "sub-1234",
                               .out_dir = f->out,
                               .now = 1767225600};
    return transfer_package(&f->p, &f->m, k, &o, r, e);
}

/* Opens a package with the KEK's private key and checks that it holds exactly the key of
 * key_simple_<ident>, then checks the manifest beside it. */
static void check_package(fixture *f, const transfer_package_result *r, EVP_PKEY *kek_priv,
                          const transfer_kek *k, transfer_target t, pkg_oaep_hash h,
                          const char *ident, const char *name)
{
    kt_buf file = {0}, mfile = {0};
    pkg_byok byok = {0};
    const uint8_t *blob;
    size_t blob_len;
    kt_secbuf target = {0}, other = {0};
    world_key src;
    kt_err e;
    uint8_t d[32];

    read_all(r->package_path, &file);
    kt_sha256(d, file.p, file.len);
    cr_assert(kt_ct_equal(d, r->package_sha256, 32), "the stated package hash is wrong");
    if (t == TRANSFER_AZURE) {
        cr_assert_eq(pkg_byok_parse(file.p, file.len, &byok, &e), KT_OK, "%s", e.msg);
        cr_assert_str_eq(byok.kid, k->kid);
        cr_assert_str_eq(byok.generator, "keytransfer " KT_VERSION);
        blob = byok.blob.p;
        blob_len = byok.blob.len;
    } else {
        blob = file.p; /* the raw blob, nothing around it */
        blob_len = file.len;
    }
    cr_assert_eq(blob_len, r->blob_len);
    cr_assert_eq(r->rsa_len, (size_t)EVP_PKEY_get_bits(kek_priv) / 8);
    pkg_oaep_hash other_hash = h == PKG_OAEP_SHA1 ? PKG_OAEP_SHA256 : PKG_OAEP_SHA1;
    if (r->direct) {
        /* RSAES_OAEP_* (AWS) and RSA_OAEP_*_SHA256 (Google): one block of the key itself. */
        cr_assert_eq(pkg_rsa_oaep_decrypt(kek_priv, h, blob, blob_len, &target, &e), KT_OK, "%s",
                     e.msg);
        cr_assert_eq(pkg_rsa_oaep_decrypt(kek_priv, other_hash, blob, blob_len, &other, &e),
                     KT_EDENIED);
    } else {
        cr_assert_eq(pkg_rsa_aes_unwrap(kek_priv, h, blob, blob_len, &target, &e), KT_OK, "%s",
                     e.msg);
        /* The negative twin: the other OAEP hash does not open it. */
        cr_assert_eq(pkg_rsa_aes_unwrap(kek_priv, other_hash, blob, blob_len, &other, &e),
                     KT_EDENIED);
    }
    cr_assert_eq(world_key_load(&f->p, &f->m, NULL, ident, &src, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(target.len, src.material.len);
    cr_assert(memcmp(target.p, src.material.p, target.len) == 0, "the package holds another key");
    cr_assert_eq(blob_len, r->rsa_len + (r->direct ? 0 : 8 + 8 * ((target.len + 7) / 8)));

    /* The manifest: signed by this module, stating what was written. */
    pkg_manifest man;
    uint8_t signer[32];
    char pkgname[256];
    read_all(r->manifest_path, &mfile);
    cr_assert_eq(pkg_manifest_parse(mfile.p, mfile.len, &man, signer, &e), KT_OK, "%s", e.msg);
    cr_assert(memcmp(signer, f->m.info.module_pub, 32) == 0, "not signed by the module");
    cr_assert(kt_ct_equal(man.package_sha256, d, 32));
    snprintf(pkgname, sizeof pkgname, "TransferPackage-%s%s", name,
             t == TRANSFER_AZURE ? ".byok"
             : t == TRANSFER_AWS ? ".aws.bin"
                                 : ".gcp.bin");
    cr_assert_str_eq(man.package_file, pkgname);
    cr_assert_str_eq(strrchr(r->package_path, '/') + 1, pkgname);
    cr_assert_str_eq(man.friendly_name, name);
    cr_assert_str_eq(man.subscription, "sub-1234");
    cr_assert_str_eq(man.target, transfer_target_name(t));
    cr_assert_str_eq(man.oaep_hash, pkg_oaep_hash_name(h));
    cr_assert_str_eq(man.app, TRANSFER_APP);
    cr_assert_str_eq(man.ident, ident);
    cr_assert_str_eq(man.key_type, world_key_type_name(src.info.type));
    cr_assert_eq(man.key_bits, src.info.bits);
    cr_assert(kt_ct_equal(man.key_sha256, src.info.key_hash, 32));
    cr_assert_eq(man.public_key.len, src.info.spki_len);
    cr_assert(src.info.spki_len == 0 ||
              memcmp(man.public_key.p, src.info.spki, src.info.spki_len) == 0);
    cr_assert(kt_ct_equal(man.kek_sha256, k->fp, 32));
    cr_assert_str_eq(man.kid, k->kid);
    cr_assert_eq(man.attested, k->attested);
    cr_assert_str_eq(man.root_name, k->attested ? k->root_name : "");
    cr_assert(!k->attested || kt_ct_equal(man.root_sha256, k->root_sha256, 32));
    cr_assert_eq(man.has_world, k->attested);
    cr_assert(!k->attested || kt_ct_equal(man.target_world_hash, k->world_hash, 32));
    cr_assert_eq(man.created, 1767225600);
    cr_assert_str_eq(man.tool_version, KT_VERSION);
    pkg_manifest_free(&man);

    /* Both files are private to their owner. */
    struct stat st;
    cr_assert_eq(stat(r->package_path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(stat(r->manifest_path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    world_key_free(&src);
    kt_secbuf_free(&target);
    kt_secbuf_free(&other);
    pkg_byok_free(&byok);
    kt_buf_free(&file);
    kt_buf_free(&mfile);
}

/* ---- the reduced ACL ------------------------------------------------------------------------ */

Test(transfer, reduced_acl_is_one_group_export_only)
{
    EVP_PKEY *kek = rsa_key(2048);
    uint8_t world[32];
    transfer_kek att, un = {0};
    world_acl acl;
    memset(world, 0x5a, sizeof world);
    kek_attested(kek, world, &att);
    un = att;
    un.attested = false;
    memset(un.world_hash, 0, 32);

    transfer_reduced_acl(&att, &acl);
    cr_assert_eq(acl.ngroups, 1);
    cr_assert_eq(acl.groups[0].actions, WORLD_ACT_EXPORT_WRAPPED);
    cr_assert(acl.groups[0].has_kek && acl.groups[0].has_world && acl.groups[0].has_kid);
    cr_assert_str_eq(acl.groups[0].kid, KID);
    cr_assert(memcmp(acl.groups[0].kek_fp, att.fp, 32) == 0);
    cr_assert(memcmp(acl.groups[0].world_hash, world, 32) == 0);
    cr_assert(transfer_acl_is_for(&acl, &att, NULL, 0));
    cr_assert_not(transfer_acl_is_for(&acl, &un, NULL, 0), "a world-bound ACL for no world");

    transfer_reduced_acl(&un, &acl);
    cr_assert(acl.groups[0].has_kek && !acl.groups[0].has_world);
    cr_assert(transfer_acl_is_for(&acl, &un, NULL, 0));
    cr_assert_not(transfer_acl_is_for(&acl, &att, NULL, 0), "an unbound world for an attested");

    /* Each way of being "not exactly this" is refused, with the reason. */
    static const struct {
        const char *what, *why;
    } cases[] = {
        {"another KEK", "only to KEK"},
        {"another world", "only into world"},
        {"an extra action", "more, or other, than ExportWrapped"},
        {"two groups", "more than one permission group"},
        {"no KEK binding", "not bound to a KEK"},
        {"another kid", "only to the KEK named https://attacker"},
        {"no kid binding", "without a kid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[2 * WORLD_ACL_KID_MAX + 256];
        transfer_reduced_acl(&att, &acl);
        switch (i) {
        case 0:
            acl.groups[0].kek_fp[31] ^= 1;
            break;
        case 1:
            acl.groups[0].world_hash[0] ^= 1;
            break;
        case 2:
            acl.groups[0].actions |= WORLD_ACT_SIGN;
            break;
        case 3:
            acl.ngroups = 2;
            acl.groups[1] = acl.groups[0];
            break;
        case 4:
            acl.groups[0].has_kek = false;
            break;
        case 5:
            snprintf(acl.groups[0].kid, sizeof acl.groups[0].kid, "%s", ATTACKER_KID);
            break;
        case 6:
            acl.groups[0].has_kid = false;
            break;
        }
        cr_assert_not(transfer_acl_is_for(&acl, &att, why, sizeof why), "%s", cases[i].what);
        if (i == 5) /* both kids named */
            cr_assert_not_null(strstr(why, KID), "%s", why);
        cr_assert_not_null(strstr(why, cases[i].why), "%s: %s", cases[i].what, why);
    }
    transfer_kek_free(&att);
    EVP_PKEY_free(kek);
}

/* ---- the unattested KEK -----------------------------------------------------------------------
 */

Test(transfer, unattested_kek_needs_its_fingerprint)
{
    fixture f;
    transfer_kek k;
    EVP_PKEY *kek = rsa_key(2048), *other = rsa_key(2048);
    char hex[65], upper[65], ohex[65];
    kt_err e;
    make_tmpdir(f.scratch, sizeof f.scratch);
    const char *path = write_pubkey(&f, kek, "kek.pem");
    fp_hex(kek, hex);
    fp_hex(other, ohex);
    for (size_t i = 0; i < 65; i++)
        upper[i] = (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 32 : hex[i]);

    /* Without the fingerprint: no, and the message carries it for an out-of-band comparison. */
    cr_assert_eq(transfer_kek_from_pem(path, KID, NULL, &k, &e), KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, hex), "%s", e.msg);
    cr_assert_not_null(strstr(e.msg, "--accept-unattested-kek"), "%s", e.msg);
    cr_assert_null(k.key);
    cr_assert_eq(transfer_kek_from_pem(path, KID, ohex, &k, &e), KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, hex), "%s", e.msg);
    hex[63] = hex[63] == '0' ? '1' : '0'; /* one digit off */
    cr_assert_eq(transfer_kek_from_pem(path, KID, hex, &k, &e), KT_EDENIED);
    hex[63] = '\0'; /* one digit short */
    cr_assert_eq(transfer_kek_from_pem(path, KID, hex, &k, &e), KT_EDENIED);
    cr_assert_eq(transfer_kek_from_pem(path, KID, "not hex at all", &k, &e), KT_EDENIED);

    /* Either case of the right fingerprint is accepted. */
    cr_assert_eq(transfer_kek_from_pem(path, KID, upper, &k, &e), KT_OK, "%s", e.msg);
    cr_assert_not(k.attested);
    cr_assert_eq(k.bits, 2048);
    cr_assert_str_eq(k.kid, KID);
    transfer_kek_free(&k);
    /* A kid is optional here (aws, gcp) but must have the Key Vault shape when given. */
    cr_assert_eq(transfer_kek_from_pem(path, NULL, upper, &k, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(k.kid, "");
    transfer_kek_free(&k);
    cr_assert_neq(transfer_kek_from_pem(path, "arn:aws:kms:key/1", upper, &k, &e), KT_OK);

    /* Keys that are no KEK. */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *small = rsa_key(1024);
    cr_assert_eq(transfer_kek_from_pem(write_pubkey(&f, ec, "ec.pem"), KID, upper, &k, &e),
                 KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, "RSA"), "%s", e.msg);
    cr_assert_eq(transfer_kek_from_pem(write_pubkey(&f, small, "small.pem"), KID, upper, &k, &e),
                 KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, "2048, 3072 or 4096"), "%s", e.msg);
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/none.pem", f.scratch);
    cr_assert_eq(transfer_kek_from_pem(missing, KID, upper, &k, &e), KT_ENOENT);

    EVP_PKEY_free(ec);
    EVP_PKEY_free(small);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(other);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f.scratch);
    cr_assert_eq(system(cmd), 0);
}

Test(transfer, kek_source_usage)
{
    transfer_kek k;
    kt_err e;
    const transfer_kek_source bad[] = {
        {.kek_package = "k", .world_package = "w", .kek_pem = "p"},
        {.kek_package = "k"},
        {.world_package = "w"},
        {.kek_package = "k", .world_package = "w", .kid = KID},
        {.kek_package = "k", .world_package = "w", .accept = "00"},
        {0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(transfer_kek_open(&bad[i], 0, &k, &e), KT_EUSAGE, "case %zu", i);
        cr_assert_null(k.key);
    }
}

Test(transfer, names_targets_and_hashes)
{
    kt_err e;
    transfer_target t;
    char longname[200];
    cr_assert_eq(transfer_check_name("ContosoFirstHSMkey", &e), KT_OK);
    cr_assert_eq(transfer_check_name("a-1", &e), KT_OK);
    memset(longname, 'a', sizeof longname);
    longname[127] = '\0';
    cr_assert_eq(transfer_check_name(longname, &e), KT_OK);
    longname[127] = 'a';
    longname[128] = '\0';
    cr_assert_eq(transfer_check_name(longname, &e), KT_EUSAGE);
    const char *bad[] = {"", "a_b", "a b", "a/b", "../x", "ä", "a.b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(transfer_check_name(bad[i], &e), KT_EUSAGE, "'%s'", bad[i]);
    cr_assert_eq(transfer_target_parse("gcp", &t, &e), KT_OK);
    cr_assert_eq(t, TRANSFER_GCP);
    cr_assert_eq(transfer_target_parse("Azure", &t, &e), KT_EUSAGE);
    cr_assert_eq(transfer_check_hash(TRANSFER_AZURE, PKG_OAEP_SHA256, &e), KT_EUSAGE);
    cr_assert_eq(transfer_check_hash(TRANSFER_AZURE, PKG_OAEP_SHA1, &e), KT_OK);
    cr_assert_eq(transfer_check_hash(TRANSFER_AWS, PKG_OAEP_SHA1, &e), KT_OK);
    cr_assert_eq(transfer_default_hash(TRANSFER_AWS), PKG_OAEP_SHA256);
    cr_assert_eq(transfer_default_hash(TRANSFER_GCP), PKG_OAEP_SHA256);
    cr_assert_eq(transfer_default_hash(TRANSFER_AZURE), PKG_OAEP_SHA1);
    cr_assert_str_eq(transfer_scheme_name(TRANSFER_GCP, PKG_OAEP_SHA256, 4096),
                     "Google Cloud KMS RSA_OAEP_4096_SHA256_AES_256");
    cr_assert_str_eq(transfer_scheme_name(TRANSFER_AWS, PKG_OAEP_SHA1, 2048),
                     "AWS KMS RSA_AES_KEY_WRAP_SHA_1");
}

/* ---- modify-acls ----------------------------------------------------------------------------- */

Test(transfer, reduce_writes_a_signed_copy_and_keeps_the_source)
{
    fixture f;
    transfer_kek k;
    EVP_PKEY *kek = rsa_key(2048);
    world_key_info src, red;
    char src_path[PATH_MAX];
    kt_buf before, after;
    kt_err e;
    uint8_t world[32];
    setup(&f);
    memset(world, 0x77, sizeof world);
    kek_attested(kek, world, &k);
    generate(&f, WORLD_KEY_EC, 0, "P-256", "contosokey");
    cr_assert_eq(world_key_inspect(&f.p, &f.m, NULL, "contosokey", &src, &e), KT_OK);
    cr_assert_eq(world_key_path(&f.p, "simple", "contosokey", src_path, sizeof src_path, &e),
                 KT_OK);
    read_all(src_path, &before);

    reduce(&f, &k, "contosokey");
    cr_assert_eq(world_key_inspect(&f.p, &f.m, TRANSFER_APP, "contosokey", &red, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_str_eq(red.app, "xferacld");
    cr_assert(red.acl_signed);
    cr_assert(transfer_acl_is_for(&red.acl, &k, NULL, 0));
    cr_assert_eq(red.acl.ngroups, 1);
    cr_assert_eq(red.acl.groups[0].actions, WORLD_ACT_EXPORT_WRAPPED);
    cr_assert_eq(
        world_acl_verify(&f.m.info, red.app, red.ident, red.key_hash, &red.acl, red.acl_sig, &e),
        KT_OK);
    cr_assert_str_eq(red.plainname, src.plainname);
    cr_assert_eq(red.created, src.created);
    cr_assert(memcmp(red.key_hash, src.key_hash, 32) == 0);
    cr_assert_eq(red.spki_len, src.spki_len);
    /* The reduced copy can do nothing else, not even be reduced again. */
    cr_assert_not(world_acl_allows(&red.acl, WORLD_ACT_SIGN, k.fp, world));
    cr_assert_not(world_acl_allows(&red.acl, WORLD_ACT_REDUCE_ACL, k.fp, world));
    cr_assert_not(world_acl_allows(&red.acl, WORLD_ACT_EXPORT_WRAPPED, k.fp, NULL));
    /* The source key file is untouched: the backup. */
    read_all(src_path, &after);
    cr_assert_eq(before.len, after.len);
    cr_assert(memcmp(before.p, after.p, before.len) == 0, "the source key file changed");

    /* A second reduction is refused before any card is read, and changes nothing. */
    static const int two[] = {0, 1};
    pins pc = {0};
    cr_assert_eq(reduce_with(&f, &k, "contosokey", two, 2, &pc, &e), KT_EEXIST);
    cr_assert_not_null(strstr(e.msg, "already been reduced"), "%s", e.msg);
    cr_assert_eq(pc.calls, 0);
    cr_assert_eq(pc.approvals, 0, "a refused request was shown for approval");
    /* The reduced copy is not a source. */
    transfer_reduce_opts o = {
        .app = TRANSFER_APP, .ident = "contosokey", .approve = test_approve, .approve_ctx = &pc};
    cr_assert_eq(transfer_reduce(&f.p, &f.m, &k, &o, NULL, &e), KT_EUSAGE);

    kt_buf_free(&before);
    kt_buf_free(&after);
    transfer_kek_free(&k);
    EVP_PKEY_free(kek);
    teardown(&f);
}

Test(transfer, reduce_refusals_write_nothing)
{
    fixture f;
    transfer_kek k, k2;
    EVP_PKEY *kek = rsa_key(2048), *kek2 = rsa_key(2048);
    uint8_t w44[32];
    kt_err e;
    static const int one[] = {1}, two[] = {0, 2}, twice[] = {1, 1};
    setup(&f);
    memset(w44, 0x44, 32);
    kek_unattested(&f, kek, &k);
    kek_attested(kek2, w44, &k2);
    generate(&f, WORLD_KEY_AES, 256, NULL, "aes");

    /* ACLs that do not allow the reduction: no ReduceACL; no ExportWrapped; ExportWrapped bound
     * to another KEK; bound to a world while the KEK is unattested. */
    world_acl no_reduce, no_export, other_kek, world_bound;
    world_acl_default(WORLD_KEY_AES, &no_reduce);
    no_reduce.groups[0].actions &= ~(uint32_t)WORLD_ACT_REDUCE_ACL;
    world_acl_default(WORLD_KEY_AES, &no_export);
    no_export.groups[0].actions &= ~(uint32_t)WORLD_ACT_EXPORT_WRAPPED;
    world_acl_default(WORLD_KEY_AES, &other_kek);
    other_kek.groups[0].has_kek = true;
    memset(other_kek.groups[0].kek_fp, 0x33, 32);
    world_acl_default(WORLD_KEY_AES, &world_bound);
    world_bound.groups[0].has_world = true;
    memset(world_bound.groups[0].world_hash, 0x44, 32);
    save_with_acl(&f, "aes", "simple", "no-reduce", &no_reduce);
    save_with_acl(&f, "aes", "simple", "no-export", &no_export);
    save_with_acl(&f, "aes", "simple", "other-kek", &other_kek);
    save_with_acl(&f, "aes", "simple", "world-bound", &world_bound);

    char *local_before = listing(f.p.local);
    struct {
        const char *ident;
        const int *cards;
        size_t n;
        bool wrong_pin;
        kt_rc rc;
        const char *msg;
        bool pins_asked;
    } cases[] = {
        {"aes", one, 1, false, KT_EQUORUM, "quorum not met", false},
        {"aes", twice, 2, false, KT_EDENIED, "counts once", false},
        {"aes", two, 2, true, KT_EPIN, "PIN", true},
        {"no-reduce", two, 2, false, KT_EDENIED, "does not allow ReduceACL", false},
        {"no-export", two, 2, false, KT_EDENIED, "does not allow ExportWrapped", false},
        /* A bound group binds ReduceACL too: asked for another KEK, it allows nothing. */
        {"other-kek", two, 2, false, KT_EDENIED, "does not allow ReduceACL", false},
        {"world-bound", two, 2, false, KT_EDENIED, "does not allow ReduceACL", false},
        {"missing", two, 2, false, KT_ENOENT, "no key simple/missing", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pins pc = {.wrong = cases[i].wrong_pin};
        kt_rc rc = reduce_with(&f, &k, cases[i].ident, cases[i].cards, cases[i].n, &pc, &e);
        cr_assert_eq(rc, cases[i].rc, "case %zu: %s (%s)", i, kt_rc_name(rc), e.msg);
        cr_assert_not_null(strstr(e.msg, cases[i].msg), "case %zu: %s", i, e.msg);
        cr_assert_eq(pc.calls > 0, cases[i].pins_asked, "case %zu: %u PINs asked", i, pc.calls);
        cr_assert_eq(pc.pins_first, 0, "case %zu: a PIN before the approval", i);
        /* An ACL refusal is said before anyone is asked to approve. */
        if (cases[i].rc == KT_EDENIED && strstr(cases[i].msg, "does not allow") != NULL)
            cr_assert_eq(pc.approvals, 0, "case %zu: approval asked for a refused request", i);
        char *now = listing(f.p.local);
        cr_assert_str_eq(now, local_before, "case %zu wrote something", i);
        free(now);
    }
    /* The positive twin: the world-bound ACL allows the reduction for a KEK in that world. */
    reduce(&f, &k2, "world-bound");
    free(local_before);
    transfer_kek_free(&k);
    transfer_kek_free(&k2);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(kek2);
    teardown(&f);
}

Test(transfer, reduce_refuses_cards_of_another_world)
{
    fixture f, g;
    transfer_kek k;
    EVP_PKEY *kek = rsa_key(2048);
    kt_err e;
    pins pc = {0};
    setup(&f);
    setup(&g);
    kek_unattested(&f, kek, &k);
    generate(&f, WORLD_KEY_AES, 128, NULL, "aes");
    const char *cards[] = {g.cards[0], g.cards[1]};
    transfer_reduce_opts o = {.ident = "aes",
                              .cards = cards,
                              .ncards = 2,
                              .pin = test_pin,
                              .pin_ctx = &pc,
                              .approve = test_approve,
                              .approve_ctx = &pc};
    cr_assert_eq(transfer_reduce(&f.p, &f.m, &k, &o, NULL, &e), KT_EDENIED, "%s", e.msg);
    cr_assert_eq(pc.calls, 0);
    char path[PATH_MAX];
    cr_assert_eq(world_key_path(&f.p, TRANSFER_APP, "aes", path, sizeof path, &e), KT_OK);
    cr_assert_not(kt_path_exists(path));
    transfer_kek_free(&k);
    EVP_PKEY_free(kek);
    teardown(&g);
    teardown(&f);
}

/* ---- what the card holders approve ---------------------------------------------------------- */

Test(transfer, the_approval_comes_after_the_checks_and_before_the_cards)
{
    fixture f;
    transfer_kek att, un, demo;
    EVP_PKEY *kek = rsa_key(2048);
    uint8_t world[32];
    char hex[65], path[PATH_MAX];
    kt_err e;
    static const int two[] = {0, 1};
    setup(&f);
    memset(world, 0x3c, sizeof world);
    kek_attested(kek, world, &att);
    kek_unattested(&f, kek, &un);
    generate(&f, WORLD_KEY_RSA, 2048, NULL, "contosokey");
    generate(&f, WORLD_KEY_AES, 256, NULL, "aeskey");
    char *before = listing(f.p.local);

    /* The card holders say no: no PIN, nothing written, their answer is the verdict. */
    pins no = {.refuse = true};
    cr_assert_eq(reduce_with(&f, &att, "contosokey", two, 2, &no, &e), KT_EDENIED);
    cr_assert_str_eq(e.msg, "not approved (test)");
    cr_assert_eq(no.approvals, 1);
    cr_assert_eq(no.calls, 0, "a card was read after a refusal");
    char *now = listing(f.p.local);
    cr_assert_str_eq(now, before, "a refused approval wrote something");
    free(now);

    /* What they were shown: everything they sign for. */
    world_key_info info;
    cr_assert_eq(world_key_inspect(&f.p, &f.m, NULL, "contosokey", &info, &e), KT_OK);
    const char *shown = no.shown;
    cr_assert_not_null(strstr(shown, "simple/contosokey \"contosokey\", RSA-2048"), "%s", shown);
    kt_hex(hex, info.key_hash, 32);
    cr_assert_not_null(strstr(shown, hex), "the key's fingerprint: %s", shown);
    cr_assert_not_null(strstr(shown, KID), "the kid: %s", shown);
    kt_hex(hex, att.fp, 32);
    cr_assert_not_null(strstr(shown, hex), "the KEK's fingerprint: %s", shown);
    cr_assert_not_null(strstr(shown, "(RSA-2048)"), "%s", shown);
    cr_assert_not_null(strstr(shown, "vendor root \"Test HSM Vendor\" 5C5C5C5C"), "%s", shown);
    kt_hex(hex, world, 32);
    cr_assert_not_null(strstr(shown, hex), "the target world: %s", shown);
    cr_assert_not_null(strstr(shown, "region NA"), "%s", shown);
    cr_assert_not_null(strstr(shown, "key_xferacld_contosokey"), "%s", shown);
    cr_assert_null(strstr(shown, "UNATTESTED"), "%s", shown);

    /* Unattested: said so, no world; an AES key shows its key hash. */
    pins no2 = {.refuse = true};
    cr_assert_eq(reduce_with(&f, &un, "aeskey", two, 2, &no2, &e), KT_EDENIED);
    cr_assert_not_null(strstr(no2.shown, "UNATTESTED"), "%s", no2.shown);
    cr_assert_not_null(strstr(no2.shown, "into world    none"), "%s", no2.shown);
    cr_assert_not_null(strstr(no2.shown, "key hash"), "%s", no2.shown);
    cr_assert_not_null(strstr(no2.shown, "AES-256"), "%s", no2.shown);

    /* The DEMO root is named as what it is. */
    demo = att;
    demo.key = NULL; /* a copy for the text only; att keeps the key */
    demo.root_is_demo = true;
    snprintf(demo.root_name, sizeof demo.root_name, "%s", PKG_ROOT_NAME_DEMO);
    world_acl acl;
    transfer_reduced_acl(&demo, &acl);
    const transfer_approval ap = {.key = &info, .kek = &demo, .acl = &acl};
    char text[TRANSFER_APPROVAL_TEXT_MAX];
    transfer_approval_format(&ap, text, sizeof text);
    cr_assert_not_null(strstr(text, "the DEMO root"), "%s", text);
    cr_assert_not_null(strstr(text, "WARNING"), "%s", text);

    /* Nobody approves blind: a caller without an approve callback is refused. */
    transfer_reduce_opts o = {.ident = "contosokey", .cards = NULL, .ncards = 0};
    cr_assert_eq(transfer_reduce(&f.p, &f.m, &att, &o, NULL, &e), KT_EUSAGE);
    cr_assert_not_null(strstr(e.msg, "approve"), "%s", e.msg);

    /* The positive twin: approved, the cards are read, the copy is written. */
    reduce(&f, &att, "contosokey");
    cr_assert_eq(world_key_path(&f.p, TRANSFER_APP, "contosokey", path, sizeof path, &e), KT_OK);
    cr_assert(kt_path_exists(path));
    free(before);
    transfer_kek_free(&att);
    transfer_kek_free(&un);
    EVP_PKEY_free(kek);
    teardown(&f);
}

/* ---- the kid is bound ---------------------------------------------------------------------- */

Test(transfer, package_refuses_the_same_kek_under_another_kid)
{
    fixture f;
    EVP_PKEY *kek = rsa_key(2048);
    transfer_kek att, att_other, un, un_other, un_nokid;
    transfer_package_result r;
    uint8_t world[32];
    char hex[65];
    kt_err e;
    setup(&f);
    memset(world, 0x6d, sizeof world);
    fp_hex(kek, hex);
    kek_attested(kek, world, &att);
    kek_attested(kek, world, &att_other);
    snprintf(att_other.kid, sizeof att_other.kid, "%s", ATTACKER_KID);
    kek_unattested(&f, kek, &un);
    const char *pem = write_pubkey(&f, kek, "same.pem");
    cr_assert_eq(transfer_kek_from_pem(pem, ATTACKER_KID, hex, &un_other, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(transfer_kek_from_pem(pem, NULL, hex, &un_nokid, &e), KT_OK, "%s", e.msg);

    generate(&f, WORLD_KEY_EC, 0, "P-256", "att");
    generate(&f, WORLD_KEY_EC, 0, "P-256", "un");
    generate(&f, WORLD_KEY_EC, 0, "P-256", "nokid");
    reduce(&f, &att, "att");
    reduce(&f, &un, "un");
    reduce(&f, &un_nokid, "nokid");

    char *before = listing(f.out);
    struct {
        const char *ident;
        const transfer_kek *k;
        transfer_target t;
        const char *says, *also;
    } cases[] = {
        {"att", &att_other, TRANSFER_AZURE, "only to the KEK named " KID_TEXT, ATTACKER_KID},
        {"un", &un_other, TRANSFER_AZURE, "only to the KEK named " KID_TEXT, ATTACKER_KID},
        {"un", &un_nokid, TRANSFER_AWS, "give --kid " KID_TEXT, NULL},
        {"nokid", &un_other, TRANSFER_AZURE, "without a kid", ATTACKER_KID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kt_rc rc = package(&f, cases[i].k, cases[i].ident, cases[i].t, 0, "stolen", &r, &e);
        cr_assert_eq(rc, KT_EDENIED, "case %zu: %s (%s)", i, kt_rc_name(rc), e.msg);
        cr_assert_not_null(strstr(e.msg, cases[i].says), "case %zu: %s", i, e.msg);
        cr_assert(cases[i].also == NULL || strstr(e.msg, cases[i].also) != NULL, "case %zu: %s", i,
                  e.msg);
    }
    char *now = listing(f.out);
    cr_assert_str_eq(now, before, "a refused package wrote something");
    free(now);

    /* The positive twins: the kid the cards approved. */
    cr_assert_eq(package(&f, &att, "att", TRANSFER_AZURE, 0, "att", &r, &e), KT_OK, "%s", e.msg);
    check_package(&f, &r, kek, &att, TRANSFER_AZURE, PKG_OAEP_SHA1, "att", "att");
    cr_assert_eq(package(&f, &un, "un", TRANSFER_AWS, 0, "un", &r, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(package(&f, &un_nokid, "nokid", TRANSFER_AWS, 0, "nokid", &r, &e), KT_OK, "%s",
                 e.msg);
    free(before);
    transfer_kek_free(&att);
    transfer_kek_free(&att_other);
    transfer_kek_free(&un);
    transfer_kek_free(&un_other);
    transfer_kek_free(&un_nokid);
    EVP_PKEY_free(kek);
    teardown(&f);
}

/* ---- package: round trips ----------------------------------------------------------------------
 */

Test(transfer, every_key_type_round_trips_for_every_target)
{
    fixture f;
    EVP_PKEY *kek = rsa_key(3072);
    transfer_kek k;
    transfer_package_result r;
    kt_err e;
    static const struct {
        world_key_type type;
        unsigned bits;
        const char *curve, *ident;
    } keys[] = {
        {WORLD_KEY_RSA, 2048, NULL, "rsa"},   {WORLD_KEY_EC, 0, "P-256", "p256"},
        {WORLD_KEY_EC, 0, "P-384", "p384"},   {WORLD_KEY_EC, 0, "P-521", "p521"},
        {WORLD_KEY_EC, 0, "secp256k1", "k1"}, {WORLD_KEY_AES, 128, NULL, "aes128"},
        {WORLD_KEY_AES, 192, NULL, "aes192"}, {WORLD_KEY_AES, 256, NULL, "aes256"},
    };
    static const struct {
        transfer_target t;
        pkg_oaep_hash h;
    } targets[] = {
        {TRANSFER_AZURE, PKG_OAEP_SHA1}, {TRANSFER_AWS, PKG_OAEP_SHA256},
        {TRANSFER_AWS, PKG_OAEP_SHA1},   {TRANSFER_GCP, PKG_OAEP_SHA256},
        {TRANSFER_GCP, PKG_OAEP_SHA1},
    };
    setup(&f);
    kek_unattested(&f, kek, &k);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        generate(&f, keys[i].type, keys[i].bits, keys[i].curve, keys[i].ident);
        reduce(&f, &k, keys[i].ident);
        for (size_t j = 0; j < sizeof targets / sizeof targets[0]; j++) {
            char name[64];
            snprintf(name, sizeof name, "%s-%zu", keys[i].ident, j);
            /* What the clouds do not import is refused: AWS takes AES-256 only, Google neither
             * P-521 nor AES-192. */
            const char *id = keys[i].ident;
            bool refused = (targets[j].t == TRANSFER_AWS &&
                            (strcmp(id, "aes128") == 0 || strcmp(id, "aes192") == 0)) ||
                           (targets[j].t == TRANSFER_GCP &&
                            (strcmp(id, "p521") == 0 || strcmp(id, "aes192") == 0));
            if (refused) {
                cr_assert_eq(package(&f, &k, id, targets[j].t, targets[j].h, name, &r, &e),
                             KT_EDENIED, "%s/%zu was packaged", id, j);
                continue;
            }
            cr_assert_eq(package(&f, &k, keys[i].ident, targets[j].t, targets[j].h, name, &r, &e),
                         KT_OK, "%s/%zu: %s", keys[i].ident, j, e.msg);
            check_package(&f, &r, kek, &k, targets[j].t, targets[j].h, keys[i].ident, name);
        }
    }
    /* One name, three targets: three packages and three manifests side by side. */
    char *out = listing(f.out);
    cr_assert_not_null(
        strstr(out, "TransferPackage-rsa-0.byok TransferPackage-rsa-0.manifest.json"), "%s", out);
    free(out);
    transfer_kek_free(&k);
    EVP_PKEY_free(kek);
    teardown(&f);
}

Test(transfer, no_plaintext_key_is_written)
{
    fixture f;
    EVP_PKEY *kek = rsa_key(2048);
    transfer_kek k;
    transfer_package_result r;
    kt_err e;
    static const struct {
        world_key_type type;
        unsigned bits;
        const char *curve, *ident;
    } keys[] = {{WORLD_KEY_RSA, 2048, NULL, "rsa"},
                {WORLD_KEY_EC, 0, "P-384", "ec"},
                {WORLD_KEY_AES, 256, NULL, "aes"}};
    setup(&f);
    kek_unattested(&f, kek, &k);
    for (size_t i = 0; i < 3; i++) {
        generate(&f, keys[i].type, keys[i].bits, keys[i].curve, keys[i].ident);
        reduce(&f, &k, keys[i].ident);
        cr_assert_eq(package(&f, &k, keys[i].ident, TRANSFER_AZURE, 0, keys[i].ident, &r, &e),
                     KT_OK, "%s", e.msg);
        cr_assert_eq(package(&f, &k, keys[i].ident, TRANSFER_AWS, 0, keys[i].ident, &r, &e), KT_OK,
                     "%s", e.msg);
    }
    /* Every file modify-acls and package wrote (kmdata and the output folder), scanned for every
     * 16-byte run of each key's PKCS#8 DER (raw bytes for AES) that is not part of its public
     * key, which the key files and manifests state in clear on purpose. */
    const char *const dirs[] = {f.dir, f.out};
    for (size_t i = 0; i < 3; i++) {
        world_key key;
        cr_assert_eq(world_key_load(&f.p, &f.m, NULL, keys[i].ident, &key, &e), KT_OK);
        size_t checked = 0;
        for (size_t d = 0; d < 2; d++) {
            char cmd[256];
            snprintf(cmd, sizeof cmd, "find '%s' -type f > '%s/files'", dirs[d], f.scratch);
            cr_assert_eq(system(cmd), 0);
            char list[PATH_MAX];
            snprintf(list, sizeof list, "%s/files", f.scratch);
            FILE *fl = fopen(list, "r");
            cr_assert_not_null(fl);
            char path[PATH_MAX];
            size_t nfiles = 0;
            while (fgets(path, sizeof path, fl) != NULL) {
                path[strcspn(path, "\n")] = '\0';
                kt_buf b;
                read_all(path, &b);
                nfiles++;
                for (size_t off = 0; off + 16 <= key.material.len; off++) {
                    const uint8_t *run = key.material.p + off;
                    if (key.info.spki_len >= 16 &&
                        memmem(key.info.spki, key.info.spki_len, run, 16) != NULL)
                        continue;
                    checked++;
                    cr_assert_null(memmem(b.p, b.len, run, 16),
                                   "%s: bytes %zu..%zu of the private key found in %s",
                                   keys[i].ident, off, off + 15, path);
                }
                kt_buf_free(&b);
            }
            fclose(fl);
            cr_assert_geq(nfiles, d == 0 ? 9 : 12, "%zu files in %s", nfiles, dirs[d]);
        }
        cr_assert_gt(checked, 0, "%s: nothing secret was checked", keys[i].ident);
        world_key_free(&key);
    }
    transfer_kek_free(&k);
    EVP_PKEY_free(kek);
    teardown(&f);
}

/* ---- package: refusals --------------------------------------------------------------------------
 */

Test(transfer, package_refuses_what_was_not_reduced_for_this_kek)
{
    fixture f;
    EVP_PKEY *kek = rsa_key(2048), *kek2 = rsa_key(2048);
    transfer_kek un, un2, att_w1, att_w2, same_att;
    transfer_package_result r;
    uint8_t w1[32], w2[32];
    kt_err e;
    memset(w1, 0x11, 32);
    memset(w2, 0x22, 32);
    setup(&f);
    kek_unattested(&f, kek, &un);
    kek_unattested(&f, kek2, &un2);
    kek_attested(kek2, w1, &att_w1);
    kek_attested(kek2, w2, &att_w2);
    kek_attested(kek, w1, &same_att);

    generate(&f, WORLD_KEY_EC, 0, "P-256", "never");      /* never reduced */
    generate(&f, WORLD_KEY_EC, 0, "P-256", "unattested"); /* reduced for kek, no world */
    generate(&f, WORLD_KEY_EC, 0, "P-256", "attested");   /* reduced for kek2 in w1 */
    reduce(&f, &un, "unattested");
    reduce(&f, &att_w1, "attested");
    /* An xferacld key nobody reduced: made directly, its ACL unsigned. */
    world_acl def;
    world_acl_default(WORLD_KEY_EC, &def);
    save_with_acl(&f, "never", TRANSFER_APP, "unsigned", &def);
    /* An xferacld key with exactly the right ACL for kek, but unsigned. */
    world_acl right;
    transfer_reduced_acl(&un, &right);
    save_with_acl(&f, "never", TRANSFER_APP, "right-unsigned", &right);

    struct {
        const char *ident;
        const transfer_kek *k;
        kt_rc rc;
        const char *msg;
    } cases[] = {
        {"never", &un, KT_EDENIED, "modify-acls"},
        {"no-such-key", &un, KT_ENOENT, "there is no key no-such-key"},
        {"unsigned", &un, KT_EDENIED, "has not been reduced"},
        {"right-unsigned", &un, KT_EDENIED, "has not been reduced"},
        {"unattested", &un2, KT_EDENIED, "only to KEK"},
        {"unattested", &same_att, KT_EDENIED, "reduced for an unattested KEK"},
        {"attested", &att_w2, KT_EDENIED, "only into world"},
        {"attested", &un2, KT_EDENIED, "reduced for an attested KEK"},
        {"attested", &un, KT_EDENIED, "only to KEK"},
    };
    char *out_before = listing(f.out);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kt_rc rc = package(&f, cases[i].k, cases[i].ident, TRANSFER_AZURE, 0, "refused", &r, &e);
        cr_assert_eq(rc, cases[i].rc, "case %zu: %s (%s)", i, kt_rc_name(rc), e.msg);
        cr_assert_not_null(strstr(e.msg, cases[i].msg), "case %zu: %s", i, e.msg);
        char *now = listing(f.out);
        cr_assert_str_eq(now, out_before, "case %zu wrote something", i);
        free(now);
    }
    /* The positive twins. */
    cr_assert_eq(package(&f, &un, "unattested", TRANSFER_AZURE, 0, "ok1", &r, &e), KT_OK, "%s",
                 e.msg);
    check_package(&f, &r, kek, &un, TRANSFER_AZURE, PKG_OAEP_SHA1, "unattested", "ok1");
    cr_assert_eq(package(&f, &att_w1, "attested", TRANSFER_AZURE, 0, "ok2", &r, &e), KT_OK, "%s",
                 e.msg);
    check_package(&f, &r, kek2, &att_w1, TRANSFER_AZURE, PKG_OAEP_SHA1, "attested", "ok2");

    free(out_before);
    transfer_kek_free(&un);
    transfer_kek_free(&un2);
    transfer_kek_free(&att_w1);
    transfer_kek_free(&att_w2);
    transfer_kek_free(&same_att);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(kek2);
    teardown(&f);
}

/*
 * Someone who holds KM (the module file) but not the quorum can seal any key file, but cannot
 * sign an ACL. world_key_save refuses to write a bad signature; a file built through the
 * internal builder with a valid seal is refused on load, so package refuses it. KNSO's
 * signature names the key (app and ident), so a genuine reduced ACL copied under another name
 * is refused too.
 */
Test(transfer, package_refuses_an_acl_knso_did_not_sign)
{
    fixture f;
    EVP_PKEY *kek = rsa_key(2048), *attacker = rsa_key(2048);
    transfer_kek k, ka;
    transfer_package_result r;
    world_key key;
    kt_err e;
    setup(&f);
    kek_unattested(&f, kek, &k);
    kek_unattested(&f, attacker, &ka);
    generate(&f, WORLD_KEY_RSA, 2048, NULL, "victim");
    reduce(&f, &k, "victim");
    cr_assert_eq(world_key_load(&f.p, &f.m, TRANSFER_APP, "victim", &key, &e), KT_OK);

    static const struct {
        const char *ident, *what;
    } cases[4] = {{"flipped-sig", "a flipped signature byte"},
                  {"rebound", "the ACL rebound to the attacker's KEK"},
                  {"zero-sig", "an all-zero signature"},
                  {"renamed", "the genuine signature under another ident"}};
    for (size_t i = 0; i < 4; i++) {
        world_key forged = key;
        snprintf(forged.info.ident, sizeof forged.info.ident, "%s", cases[i].ident);
        if (i == 0)
            forged.info.acl_sig[7] ^= 0x40;
        else if (i == 1)
            transfer_reduced_acl(&ka, &forged.info.acl); /* the old signature kept */
        else
            memset(forged.info.acl_sig, 0, sizeof forged.info.acl_sig);

        /* The public writer will not write it... */
        cr_assert_eq(world_key_save(&f.p, &f.m, &forged, &e), KT_EDENIED, "%s", cases[i].what);
        char path[PATH_MAX];
        cr_assert_eq(world_key_path(&f.p, TRANSFER_APP, cases[i].ident, path, sizeof path, &e),
                     KT_OK);
        cr_assert_not(kt_path_exists(path));
        /* ...so it is built and sealed under KM by hand, as an attacker with KM could. */
        kt_wbuf w;
        kt_wbuf_init(&w, false);
        memcpy(forged.info.world_hash, f.m.info.hash, 32);
        cr_assert_eq(key_file_build(&forged, &f.m, &w, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(kt_file_write(path, w.p, w.len, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
        kt_wbuf_free(&w);

        world_key loaded;
        cr_assert_eq(world_key_load(&f.p, &f.m, TRANSFER_APP, cases[i].ident, &loaded, &e),
                     KT_EDENIED, "%s", cases[i].what);
        const transfer_kek *pk = i == 1 ? &ka : &k;
        cr_assert_eq(package(&f, pk, cases[i].ident, TRANSFER_AZURE, 0, cases[i].ident, &r, &e),
                     KT_EDENIED, "%s: %s", cases[i].what, e.msg);
        cr_assert_not_null(strstr(e.msg, "signature"), "%s: %s", cases[i].what, e.msg);
    }
    /* The control: the same path with the genuine signature, under the name KNSO signed for,
     * loads and packages. */
    {
        world_key copy = key;
        char path[PATH_MAX];
        kt_wbuf w;
        cr_assert_eq(world_key_path(&f.p, TRANSFER_APP, "victim", path, sizeof path, &e), KT_OK);
        cr_assert_eq(unlink(path), 0);
        kt_wbuf_init(&w, false);
        cr_assert_eq(key_file_build(&copy, &f.m, &w, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(kt_file_write(path, w.p, w.len, KT_WRITE_NEW, &e), KT_OK, "%s", e.msg);
        kt_wbuf_free(&w);
    }
    cr_assert_eq(package(&f, &k, "victim", TRANSFER_AZURE, 0, "genuine", &r, &e), KT_OK, "%s",
                 e.msg);
    {
        kt_buf file;
        pkg_byok b;
        kt_secbuf t = {0};
        read_all(r.package_path, &file);
        cr_assert_eq(pkg_byok_parse(file.p, file.len, &b, &e), KT_OK);
        cr_assert_eq(pkg_rsa_aes_unwrap(kek, PKG_OAEP_SHA1, b.blob.p, b.blob.len, &t, &e), KT_OK);
        cr_assert_eq(t.len, key.material.len);
        cr_assert(memcmp(t.p, key.material.p, t.len) == 0);
        kt_secbuf_free(&t);
        pkg_byok_free(&b);
        kt_buf_free(&file);
    }
    world_key_free(&key);
    transfer_kek_free(&k);
    transfer_kek_free(&ka);
    EVP_PKEY_free(kek);
    EVP_PKEY_free(attacker);
    teardown(&f);
}

Test(transfer, package_refuses_bad_requests_before_writing)
{
    fixture f;
    EVP_PKEY *kek = rsa_key(2048);
    transfer_kek k, nokid;
    transfer_package_result r;
    kt_err e;
    char hex[65];
    setup(&f);
    kek_unattested(&f, kek, &k);
    fp_hex(kek, hex);
    cr_assert_eq(transfer_kek_from_pem(write_pubkey(&f, kek, "k2.pem"), NULL, hex, &nokid, &e),
                 KT_OK);
    generate(&f, WORLD_KEY_AES, 256, NULL, "aes");
    reduce(&f, &k, "aes");
    char *before = listing(f.out);

    /* GCP has no import method for a 2048-bit wrapping key. */
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_GCP, 0, "gcp", &r, &e), KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, "3072"), "%s", e.msg);
    /* An Azure .byok must name its KEK. */
    cr_assert_eq(package(&f, &nokid, "aes", TRANSFER_AZURE, 0, "nokid", &r, &e), KT_EUSAGE);
    cr_assert_not_null(strstr(e.msg, "--kid"), "%s", e.msg);
    /* Azure is SHA-1 only. */
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_AZURE, PKG_OAEP_SHA256, "sha", &r, &e), KT_EUSAGE);
    /* Names that are no Key Vault key name (and would make odd file names). */
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_AZURE, 0, "../escape", &r, &e), KT_EUSAGE);
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_AZURE, 0, "a_b", &r, &e), KT_EUSAGE);
    /* A subscription must be printable. */
    transfer_package_opts o = {
        .ident = "aes", .name = "sub", .subscription = "a\nb", .out_dir = f.out};
    cr_assert_eq(transfer_package(&f.p, &f.m, &k, &o, &r, &e), KT_EUSAGE);
    /* A missing output folder. */
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/none", f.out);
    o.subscription = "s";
    o.out_dir = missing;
    cr_assert_eq(transfer_package(&f.p, &f.m, &k, &o, &r, &e), KT_ENOENT, "%s", e.msg);
    char *now = listing(f.out);
    cr_assert_str_eq(now, before);
    free(now);

    /* Existing files are never replaced, and a manifest in the way stops the package too. */
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_AWS, 0, "dup", &r, &e), KT_OK, "%s", e.msg);
    kt_buf first;
    read_all(r.package_path, &first);
    /* The same command again finds its own package there (an earlier run): nothing new. */
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_AWS, 0, "dup", &r, &e), KT_OK, "%s", e.msg);
    cr_assert(r.earlier);
    /* Another package under that name is somebody else's: refused. */
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_AWS, PKG_OAEP_SHA1, "dup", &r, &e), KT_EEXIST);
    cr_assert_not_null(strstr(e.msg, "is not this package"), "%s", e.msg);
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof mpath, "%s/TransferPackage-blocked.manifest.json", f.out);
    cr_assert_eq(kt_file_write(mpath, "x", 1, KT_WRITE_NEW, &e), KT_OK);
    cr_assert_eq(package(&f, &k, "aes", TRANSFER_AZURE, 0, "blocked", &r, &e), KT_EEXIST);
    snprintf(mpath, sizeof mpath, "%s/TransferPackage-blocked.byok", f.out);
    cr_assert_not(kt_path_exists(mpath), "a package was written without its manifest");
    kt_buf again;
    snprintf(mpath, sizeof mpath, "%s/TransferPackage-dup.aws.bin", f.out);
    read_all(mpath, &again);
    cr_assert(first.len == again.len && memcmp(first.p, again.p, first.len) == 0);
    kt_buf_free(&first);
    kt_buf_free(&again);

    free(before);
    transfer_kek_free(&k);
    transfer_kek_free(&nokid);
    EVP_PKEY_free(kek);
    teardown(&f);
}

/* ---- the attested path, against an emulated cloud
 * ------------------------------------------------- */

typedef struct cloud {
    char state[PATH_MAX], out[PATH_MAX];
    kek_init_result r;
} cloud;

static void make_cloud(fixture *f, const char *region, cloud *c)
{
    kek_vendor v;
    kt_err e;
    snprintf(c->state, sizeof c->state, "%s/state-%s", f->scratch, region);
    snprintf(c->out, sizeof c->out, "%s/out-%s", f->scratch, region);
    cr_assert_eq(kek_vendor_load(NULL, NULL, &v, &e), KT_OK, "%s", e.msg);
    kek_init_opts o = {
        .region = region, .out = c->out, .state = c->state, .kek_bits = 2048, .vendor = &v};
    cr_assert_eq(kek_cloud_init(&o, &c->r, &e), KT_OK, "%s", e.msg);
    kek_vendor_free(&v);
}

static void flip_byte(const char *path, size_t from_end)
{
    kt_buf b;
    FILE *fp;
    read_all(path, &b);
    b.p[b.len - from_end] ^= 0x01;
    cr_assert_not_null(fp = fopen(path, "wb"));
    cr_assert_eq(fwrite(b.p, 1, b.len, fp), b.len);
    cr_assert_eq(fclose(fp), 0);
    kt_buf_free(&b);
}

Test(transfer, attested_path_into_the_emulated_cloud, .timeout = 240)
{
    fixture f;
    cloud na, eu;
    transfer_kek k;
    transfer_package_result r;
    kt_err e;
    setup(&f);
    make_cloud(&f, "NA", &na);
    make_cloud(&f, "EU", &eu);

    /* Packages that do not verify: another cloud's world, a damaged signature. */
    cr_assert_eq(transfer_kek_from_packages(na.r.kek_pkg, eu.r.world_pkg, (uint64_t)time(NULL),
                                            true, &k, &e),
                 KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, "do not verify"), "%s", e.msg);
    cr_assert_null(k.key);
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/none", f.scratch);
    cr_assert_eq(transfer_kek_from_packages(missing, na.r.world_pkg, 0, true, &k, &e), KT_ENOENT);

    /* The emulated cloud's vendor is the DEMO root (kek_vendor_load(NULL, NULL)): its packages
     * verify, but whoever has the committed DEMO key can make them for a KEK of their own, so
     * they are refused unless this is said to be a demo. */
    cr_assert_eq(transfer_kek_from_packages(na.r.kek_pkg, na.r.world_pkg, (uint64_t)time(NULL),
                                            false, &k, &e),
                 KT_EDENIED);
    cr_assert_not_null(strstr(e.msg, "DEMO vendor root"), "%s", e.msg);
    cr_assert_not_null(strstr(e.msg, "--demo"), "%s", e.msg);
    cr_assert_null(k.key);
    const transfer_kek_source nodemo = {.kek_package = na.r.kek_pkg,
                                        .world_package = na.r.world_pkg};
    cr_assert_eq(transfer_kek_open(&nodemo, (uint64_t)time(NULL), &k, &e), KT_EDENIED);

    /* The genuine pair, as a demo: the KEK, kid, fingerprint and world the cloud made, and the
     * root that vouched. */
    cr_assert_eq(transfer_kek_from_packages(na.r.kek_pkg, na.r.world_pkg, (uint64_t)time(NULL),
                                            true, &k, &e),
                 KT_OK, "%s", e.msg);
    cr_assert(k.attested);
    cr_assert(k.root_is_demo);
    cr_assert_str_eq(k.root_name, PKG_ROOT_NAME_DEMO);
    uint8_t demo_root[32];
    pkg_demo_root_sha256(demo_root);
    cr_assert(memcmp(k.root_sha256, demo_root, 32) == 0);
    cr_assert_str_eq(k.region, "NA");
    cr_assert_str_eq(k.kid, na.r.kid);
    cr_assert(memcmp(k.fp, na.r.kek_fp, 32) == 0);
    cr_assert(memcmp(k.world_hash, na.r.world_hash, 32) == 0);
    cr_assert_eq(k.bits, 2048);

    static const struct {
        world_key_type type;
        unsigned bits;
        const char *curve, *ident;
    } keys[] = {{WORLD_KEY_RSA, 3072, NULL, "rsa"},
                {WORLD_KEY_EC, 0, "secp256k1", "ec"},
                {WORLD_KEY_AES, 192, NULL, "aes"}};
    kek_cloud c;
    cr_assert_eq(kek_cloud_open(na.state, &c, &e), KT_OK, "%s", e.msg);
    for (size_t i = 0; i < 3; i++) {
        world_key_info info;
        kek_imported imp;
        kt_buf byok;
        generate(&f, keys[i].type, keys[i].bits, keys[i].curve, keys[i].ident);
        reduce(&f, &k, keys[i].ident);
        cr_assert_eq(package(&f, &k, keys[i].ident, TRANSFER_AZURE, 0, keys[i].ident, &r, &e),
                     KT_OK, "%s", e.msg);
        read_all(r.package_path, &byok);
        cr_assert_eq(kek_import(&c, byok.p, byok.len, keys[i].ident, &imp, &e), KT_OK, "%s", e.msg);
        cr_assert_eq(world_key_inspect(&f.p, &f.m, NULL, keys[i].ident, &info, &e), KT_OK);
        cr_assert(memcmp(imp.info.key_hash, info.key_hash, 32) == 0, "the cloud holds another key");
        cr_assert_eq(imp.info.type, keys[i].type);
        kt_buf_free(&byok);
    }
    kek_cloud_close(&c);

    /* A key reduced for NA cannot be packaged for EU's KEK. */
    transfer_kek keu;
    cr_assert_eq(transfer_kek_from_packages(eu.r.kek_pkg, eu.r.world_pkg, (uint64_t)time(NULL),
                                            true, &keu, &e),
                 KT_OK, "%s", e.msg);
    cr_assert_eq(package(&f, &keu, "rsa", TRANSFER_AZURE, 0, "rsa-eu", &r, &e), KT_EDENIED);
    transfer_kek_free(&keu);

    /* A KEK package altered after the fact does not verify, so nothing is packaged. */
    transfer_kek_free(&k);
    flip_byte(na.r.kek_pkg, 10);
    cr_assert_neq(transfer_kek_from_packages(na.r.kek_pkg, na.r.world_pkg, (uint64_t)time(NULL),
                                             true, &k, &e),
                  KT_OK);
    cr_assert_null(k.key);
    teardown(&f);
}
