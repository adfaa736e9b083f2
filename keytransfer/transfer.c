/*
 * transfer.c - the transfer step (transfer.h): establish the KEK (attested by verified packages,
 * or accepted by the custodian by its fingerprint), reduce a key's ACL to "ExportWrapped to this
 * KEK (and world)" under the administrator quorum's KNSO signature, and wrap the reduced key into
 * a .byok or an AWS/GCP blob with a manifest signed by the module.
 *
 * The rule this file exists to enforce: a key leaves the world only wrapped to the one KEK its
 * KNSO-signed ACL names (fingerprint, kid and world). Every check that can refuse runs before
 * anything is written; the card holders see what they approve before the first PIN; the private
 * key never leaves the world_key's sodium buffer except as the KWP ciphertext. Trust fails
 * closed: a KEK vouched for by the DEMO root is taken only when the caller says it is a demo.
 */
#include "transfer.h"
#include "cloud.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "verify.h"

#define GENERATOR "keytransfer " KT_VERSION

/* ------------------------------------------------------------------------------------------ */
/* Names and small checks                                                                      */
/* ------------------------------------------------------------------------------------------ */

const char *transfer_target_name(transfer_target t)
{
    switch (t) {
    case TRANSFER_AZURE:
        return "azure";
    case TRANSFER_AWS:
        return "aws";
    case TRANSFER_GCP:
        return "gcp";
    }
    return "?";
}

kt_rc transfer_target_parse(const char *s, transfer_target *t, kt_err *e)
{
    static const transfer_target all[] = {TRANSFER_AZURE, TRANSFER_AWS, TRANSFER_GCP};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, transfer_target_name(all[i])) == 0) {
            *t = all[i];
            return KT_OK;
        }
    return kt_fail(e, KT_EUSAGE, "unknown target '%s': azure, aws or gcp", s);
}

pkg_oaep_hash transfer_default_hash(transfer_target t)
{
    return t == TRANSFER_AZURE ? PKG_OAEP_SHA1 : PKG_OAEP_SHA256;
}

kt_rc transfer_check_hash(transfer_target t, pkg_oaep_hash h, kt_err *e)
{
    if (h != PKG_OAEP_SHA1 && h != PKG_OAEP_SHA256)
        return kt_fail(e, KT_EUSAGE, "unknown OAEP hash: sha1 or sha256");
    /* Azure BYOK specification: CKM_RSA_AES_KEY_WRAP with RSA-OAEP SHA-1; there is no field in
     * the .byok that could announce another hash. */
    if (t == TRANSFER_AZURE && h != PKG_OAEP_SHA1)
        return kt_fail(e, KT_EUSAGE,
                       "an Azure .byok is wrapped with RSA-OAEP SHA-1 by definition; --oaep-hash "
                       "sha256 is for --target aws or gcp");
    return KT_OK;
}

kt_rc transfer_check_name(const char *name, kt_err *e)
{
    return pkg_key_name_check("package name", name, e);
}

/* Printable ASCII of fewer than max bytes (the empty string too). */
static bool is_printable_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

const char *transfer_scheme_name(transfer_target t, pkg_oaep_hash h, unsigned bits)
{
    bool sha1 = h == PKG_OAEP_SHA1;
    switch (t) {
    case TRANSFER_AZURE:
        return "Azure Key Vault BYOK, CKM_RSA_AES_KEY_WRAP";
    case TRANSFER_AWS:
        return sha1 ? "AWS KMS RSA_AES_KEY_WRAP_SHA_1" : "AWS KMS RSA_AES_KEY_WRAP_SHA_256";
    case TRANSFER_GCP:
        if (bits == 3072)
            return sha1 ? "Google Cloud KMS RSA_OAEP_3072_SHA1_AES_256"
                        : "Google Cloud KMS RSA_OAEP_3072_SHA256_AES_256";
        return sha1 ? "Google Cloud KMS RSA_OAEP_4096_SHA1_AES_256"
                    : "Google Cloud KMS RSA_OAEP_4096_SHA256_AES_256";
    }
    return "?";
}

/* ------------------------------------------------------------------------------------------ */
/* The KEK                                                                                     */
/* ------------------------------------------------------------------------------------------ */

void transfer_kek_free(transfer_kek *k)
{
    transfer_cloud_free(k);
    EVP_PKEY_free(k->key);
    memset(k, 0, sizeof *k);
}

/*
 * The name of the root certificate (the last of the KEK package's x5c, which verify/ has held to
 * the compiled-in hash and its own signature): its organizationName, else its commonName, as
 * printable ASCII ('?' for anything else), at most PKG_ROOT_NAME_MAX bytes. A vendor root may not
 * take the DEMO root's name.
 */
static void vendor_root_name(const uint8_t *kek_pkg, size_t len, char *out, size_t outsz)
{
    pkg_jws jws;
    kt_err ignored;
    unsigned char *utf8 = NULL;
    int n = -1;

    snprintf(out, outsz, "vendor root");
    if (pkg_jws_parse(kek_pkg, len, &jws, &ignored) != KT_OK)
        return;
    X509 *root = sk_X509_value(jws.chain, sk_X509_num(jws.chain) - 1);
    X509_NAME *name = root != NULL ? X509_get_subject_name(root) : NULL;
    static const int nids[] = {NID_organizationName, NID_commonName};
    for (size_t i = 0; name != NULL && n < 0 && i < 2; i++) {
        int at = X509_NAME_get_index_by_NID(name, nids[i], -1);
        if (at >= 0)
            n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
    }
    if (n > 0) {
        size_t m = (size_t)n < outsz - 1 ? (size_t)n : outsz - 1;
        for (size_t i = 0; i < m; i++)
            out[i] = utf8[i] >= 0x20 && utf8[i] <= 0x7e ? (char)utf8[i] : '?';
        out[m] = '\0';
        while (m > 0 && out[m - 1] == ' ')
            out[--m] = '\0';
        if (m == 0 || strcmp(out, PKG_ROOT_NAME_DEMO) == 0)
            snprintf(out, outsz, "vendor root");
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
    pkg_jws_free(&jws);
}

/* Reads a package file once; the bytes read are the bytes verified and named. */
static kt_rc read_package(const char *what, const char *path, kt_buf *out, kt_err *e)
{
    kt_rc rc = kt_file_read(path, PKG_JWS_MAX, out, e);
    if (rc != KT_OK)
        kt_err_prefix(e, "%s", what); /* the message names the path */
    return rc;
}

kt_rc transfer_kek_from_packages(const char *kek_pkg, const char *world_pkg, uint64_t now,
                                 bool demo, transfer_kek *k, kt_err *e)
{
    verify_result r;
    kt_buf kek_bytes = {0}, world_bytes = {0};
    uint8_t demo_root[32];
    kt_rc rc;

    memset(k, 0, sizeof *k);
    memset(&r, 0, sizeof r);
    if ((rc = pkg_root_demo_flag(demo, e)) != KT_OK)
        return rc;
    if ((rc = read_package("the KEK package", kek_pkg, &kek_bytes, e)) != KT_OK ||
        (rc = read_package("the world package", world_pkg, &world_bytes, e)) != KT_OK)
        goto out;
    rc = verify_packages(kek_bytes.p, kek_bytes.len, world_bytes.p, world_bytes.len, now, &r, e);
    if (rc != KT_OK) {
        kt_err_prefix(e,
                      "the KEK package %s and world package %s do not verify (`keytransfer "
                      "verify` prints every check)",
                      kek_pkg, world_pkg);
        goto out;
    }

    /* verify/ said yes against the compiled-in root. Whether that root vouches for anything: the
     * DEMO root's private key is in the repository, so its yes proves nothing. */
    pkg_demo_root_sha256(demo_root);
    k->root_is_demo = kt_ct_equal(r.root_sha256, demo_root, 32);
    if (k->root_is_demo && (!demo || !pkg_root_is_demo())) {
        rc = kt_fail(e, KT_EDENIED,
                     "the KEK package %s is attested by the DEMO vendor root, whose private key "
                     "is public (packages/demo-vendor/): anyone can make such a package for a "
                     "KEK of their own and read every key wrapped to it. It is refused unless "
                     "you give --demo, for demonstrations and tests with keytransfer-cloud only. "
                     "A real transfer needs keytransfer built with your HSM vendor's root hash "
                     "(cmake -DKEYTRANSFER_ROOT_SHA256=...)",
                     kek_pkg);
        goto out;
    }
    memcpy(k->root_sha256, r.root_sha256, 32);
    if (k->root_is_demo)
        snprintf(k->root_name, sizeof k->root_name, "%s", PKG_ROOT_NAME_DEMO);
    else
        vendor_root_name(kek_bytes.p, kek_bytes.len, k->root_name, sizeof k->root_name);

    /* The KEK, its kid and the target world are the vendor-attested ones. */
    if (r.kek_key == NULL || EVP_PKEY_up_ref(r.kek_key) != 1) {
        rc = kt_fail(e, KT_ECRYPTO, "the verified KEK's public key is not available");
        goto out;
    }
    k->key = r.kek_key;
    k->bits = (unsigned)EVP_PKEY_get_bits(k->key);
    k->attested = true;
    snprintf(k->kid, sizeof k->kid, "%s", r.kek.kid);
    snprintf(k->region, sizeof k->region, "%s", r.world.region);
    memcpy(k->world_hash, r.world.world_hash, WORLD_HASH_LEN);
    rc = kt_spki_sha256(k->key, k->fp, e);
    /* Our own hash of the key we will wrap to must be the fingerprint the vendor attested. */
    if (rc == KT_OK && !kt_ct_equal(k->fp, r.kek.public_key_sha256, 32))
        rc = kt_fail(e, KT_EDENIED, "the KEK's fingerprint is not the one its package states");
out:
    verify_result_free(&r);
    kt_buf_free(&kek_bytes);
    kt_buf_free(&world_bytes);
    if (rc != KT_OK)
        transfer_kek_free(k);
    return rc;
}

/* An RSA key (not RSA-PSS) of a size the clouds use, with an odd exponent of at least 3. */
static kt_rc check_unattested_key(const char *path, EVP_PKEY *key, kt_err *e)
{
    BIGNUM *ex = NULL;
    int bits;
    bool ok;

    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        return kt_fail(e, KT_EDENIED, "%s holds a %s key; a KEK is an RSA key", path,
                       EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key)
                                                            : "non-RSA");
    bits = EVP_PKEY_get_bits(key);
    if (bits != 2048 && bits != 3072 && bits != 4096)
        return kt_fail(e, KT_EDENIED,
                       "%s holds an RSA-%d key; the clouds' KEKs are RSA 2048, 3072 or 4096", path,
                       bits);
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &ex) != 1) {
        ERR_clear_error();
        return kt_fail(e, KT_EDENIED, "%s: the KEK's public exponent cannot be read", path);
    }
    ok = BN_is_odd(ex) && !BN_is_one(ex);
    BN_free(ex);
    if (!ok)
        return kt_fail(e, KT_EDENIED,
                       "%s: the KEK's public exponent is not an odd number of at least 3", path);
    return KT_OK;
}

kt_rc transfer_kek_accept(const char *what, EVP_PKEY *key, const char *accept, transfer_kek *k,
                          kt_err *e)
{
    uint8_t want[32];
    char fp[65];
    kt_err ignored;
    kt_rc rc;

    k->key = key;
    if ((rc = check_unattested_key(what, k->key, e)) != KT_OK ||
        (rc = kt_spki_sha256(k->key, k->fp, e)) != KT_OK)
        goto fail;
    k->bits = (unsigned)EVP_PKEY_get_bits(k->key);
    kt_hex(fp, k->fp, 32);

    /* The custodian's confirmation: exactly this fingerprint, as 64 hex digits in either case. */
    if (accept == NULL) {
        rc = kt_fail(e, KT_EDENIED,
                     "the KEK in %s is not attested: no HSM vendor vouches that it lives in the "
                     "cloud's HSM. Its SHA-256 fingerprint (of its SubjectPublicKeyInfo DER) is "
                     "%s. Compare it out of band with the one the cloud shows for its KEK; if "
                     "they match, run again with --accept-unattested-kek %s",
                     what, fp, fp);
        goto fail;
    }
    if (strlen(accept) != 64 || kt_unhex(want, sizeof want, accept, &ignored) != KT_OK ||
        !kt_ct_equal(want, k->fp, 32)) {
        rc = kt_fail(e, KT_EDENIED,
                     "--accept-unattested-kek %s does not match the KEK in %s, whose SHA-256 "
                     "fingerprint is %s: this is not the key you confirmed",
                     accept, what, fp);
        goto fail;
    }
    return KT_OK;
fail:
    EVP_PKEY_free(k->key);
    k->key = NULL;
    return rc;
}

kt_rc transfer_kek_from_pem(const char *pem_path, const char *kid, const char *accept,
                            transfer_kek *k, kt_err *e)
{
    EVP_PKEY *key = NULL;
    kt_rc rc;

    memset(k, 0, sizeof *k);
    if (kid != NULL && kid[0] != '\0') {
        if ((rc = pkg_kid_check(kid, e)) != KT_OK) {
            kt_err_prefix(e, "--kid");
            return rc;
        }
        snprintf(k->kid, sizeof k->kid, "%s", kid);
    }
    if ((rc = pkg_pubkey_load(pem_path, &key, e)) != KT_OK) {
        kt_err_prefix(e, "%s", pem_path);
        return rc;
    }
    return transfer_kek_accept(pem_path, key, accept, k, e);
}

kt_rc transfer_kek_open(const transfer_kek_source *s, uint64_t now, transfer_kek *k, kt_err *e)
{
    bool packages = s->kek_package != NULL || s->world_package != NULL;
    int sources = (packages ? 1 : 0) + (s->kek_pem != NULL ? 1 : 0) +
                  (s->aws_params != NULL ? 1 : 0) + (s->import_job != NULL ? 1 : 0);

    memset(k, 0, sizeof *k);
    kt_rc rc = pkg_root_demo_flag(s->demo, e);
    if (rc != KT_OK)
        return rc;
    if (sources > 1 && (s->aws_params != NULL || s->import_job != NULL))
        return kt_fail(e, KT_EUSAGE,
                       "give one KEK: -k/-w, --kek-pem, --aws-params or --import-job");
    if (s->aws_params != NULL || s->import_job != NULL) {
        if (s->kid != NULL)
            return kt_fail(e, KT_EUSAGE,
                           "--kid names an Azure KEK; the AWS and Google parameters name their "
                           "own key");
        return s->aws_params != NULL
                   ? transfer_kek_from_aws_params(s->aws_params, s->accept, now, k, e)
                   : transfer_kek_from_import_job(s->import_job, s->accept, now, k, e);
    }
    if (packages && s->kek_pem != NULL)
        return kt_fail(e, KT_EUSAGE,
                       "give the attested KEK (-k KEKPKG -w WORLDPKG) or an unattested one "
                       "(--kek-pem FILE), not both");
    if (packages) {
        if (s->kek_package == NULL || s->world_package == NULL)
            return kt_fail(e, KT_EUSAGE,
                           "the KEK package (-k) and the world package (-w) go together");
        if (s->kid != NULL || s->accept != NULL)
            return kt_fail(e, KT_EUSAGE,
                           "--kid and --accept-unattested-kek go with --kek-pem; a KEK package "
                           "states its own kid and is verified, not accepted");
        return transfer_kek_from_packages(s->kek_package, s->world_package, now, s->demo, k, e);
    }
    if (s->kek_pem == NULL)
        return kt_fail(e, KT_EUSAGE,
                       "which KEK? give -k KEKPKG -w WORLDPKG (attested), or --kek-pem FILE, "
                       "--aws-params FILE or --import-job FILE with --accept-unattested-kek "
                       "FINGERPRINT");
    return transfer_kek_from_pem(s->kek_pem, s->kid, s->accept, k, e);
}

/* ------------------------------------------------------------------------------------------ */
/* The reduced ACL                                                                             */
/* ------------------------------------------------------------------------------------------ */

void transfer_reduced_acl(const transfer_kek *k, world_acl *acl)
{
    memset(acl, 0, sizeof *acl);
    acl->ngroups = 1;
    acl->groups[0].actions = WORLD_ACT_EXPORT_WRAPPED;
    acl->groups[0].has_kek = true;
    memcpy(acl->groups[0].kek_fp, k->fp, 32);
    if (k->attested) {
        acl->groups[0].has_world = true;
        memcpy(acl->groups[0].world_hash, k->world_hash, WORLD_HASH_LEN);
    }
    if (k->kid[0] != '\0') {
        acl->groups[0].has_kid = true;
        snprintf(acl->groups[0].kid, sizeof acl->groups[0].kid, "%s", k->kid);
    }
}

bool transfer_acl_is_for(const world_acl *acl, const transfer_kek *k, char *why, size_t whysz)
{
    const world_acl_group *g = &acl->groups[0];
    char a[65], b[65];
    const char *reason = NULL;

    if (why != NULL && whysz > 0)
        why[0] = '\0';
    if (acl->ngroups != 1)
        reason = "its ACL has more than one permission group";
    else if (g->actions != WORLD_ACT_EXPORT_WRAPPED)
        reason = "its ACL allows more, or other, than ExportWrapped";
    else if (!g->has_kek)
        reason = "its ACL is not bound to a KEK";
    else if (!kt_ct_equal(g->kek_fp, k->fp, 32))
        reason = NULL; /* said below, with both fingerprints */
    else if (g->has_world != k->attested)
        reason = k->attested ? "it was reduced for an unattested KEK, with no target world; "
                               "package it with the same --kek-pem"
                             : "it was reduced for an attested KEK bound to a target world; "
                               "package it with the same -k and -w";
    else if (k->attested && !kt_ct_equal(g->world_hash, k->world_hash, WORLD_HASH_LEN))
        reason = NULL;
    else if (g->has_kid != (k->kid[0] != '\0') || (g->has_kid && strcmp(g->kid, k->kid) != 0))
        reason = NULL; /* said below, with both kids */
    else
        return true;

    if (why == NULL || whysz == 0)
        return false;
    if (reason != NULL) {
        snprintf(why, whysz, "%s", reason);
    } else if (kt_ct_equal(g->kek_fp, k->fp, 32) &&
               (!k->attested || kt_ct_equal(g->world_hash, k->world_hash, WORLD_HASH_LEN))) {
        /* The same KEK under another name: the card holders approved the name too. */
        if (!g->has_kid)
            snprintf(why, whysz,
                     "it was reduced for this KEK without a kid, so it may not be packaged for "
                     "the kid %s (an unattested KEK is bound to the --kid given to modify-acls: "
                     "give the same here, or none)",
                     k->kid);
        else if (k->kid[0] == '\0')
            snprintf(why, whysz,
                     "it may be exported only to the KEK named %s, and this KEK is given "
                     "without a kid: give --kid %s",
                     g->kid, g->kid);
        else
            snprintf(why, whysz,
                     "it may be exported only to the KEK named %s, not to %s (the same key under "
                     "another name is another destination)",
                     g->kid, k->kid);
    } else if (!kt_ct_equal(g->kek_fp, k->fp, 32)) {
        kt_hex(a, g->kek_fp, 32);
        kt_hex(b, k->fp, 32);
        snprintf(why, whysz, "it may be exported only to KEK %s, not to this KEK %s", a, b);
    } else {
        kt_hex(a, g->world_hash, 32);
        kt_hex(b, k->world_hash, 32);
        snprintf(why, whysz, "it may be exported only into world %s, not into world %s", a, b);
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* What the card holders approve                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Appends a formatted line to out[0..outsz), keeping it terminated; cuts what does not fit. */
KT_PRINTF(4, 5)
static void line(char *out, size_t outsz, size_t *used, const char *fmt, ...)
{
    va_list ap;
    if (*used + 1 >= outsz)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, outsz - *used, fmt, ap);
    va_end(ap);
    if (n < 0)
        out[*used] = '\0';
    else
        *used = (size_t)n < outsz - *used ? *used + (size_t)n : outsz - 1;
}

void transfer_approval_format(const transfer_approval *a, char *out, size_t outsz)
{
    const world_key_info *key = a->key;
    const transfer_kek *k = a->kek;
    char hex[65], groups[80], acl[WORLD_ACL_KID_MAX + 256], size[48];
    size_t used = 0;

    if (outsz == 0)
        return;
    out[0] = '\0';
    if (key->type == WORLD_KEY_EC)
        snprintf(size, sizeof size, "EC %s", key->curve);
    else
        snprintf(size, sizeof size, "%s-%u", world_key_type_name(key->type), key->bits);
    line(out, outsz, &used,
         "The administrator cards are asked to approve this transfer, and nothing else:\n");
    line(out, outsz, &used, "  key           %s/%s \"%s\", %s\n", key->app, key->ident,
         key->plainname, size);
    kt_hex(hex, key->key_hash, 32);
    line(out, outsz, &used, "  %s %s\n",
         key->type == WORLD_KEY_AES ? "key hash     " : "key SHA-256  ", hex);
    kt_hex(hex, key->world_hash, 32);
    line(out, outsz, &used, "  from world    %s\n", hex);
    line(out, outsz, &used, "may leave it only wrapped to the KEK\n");
    if (k->kid[0] != '\0')
        line(out, outsz, &used, "  kid           %s\n", k->kid);
    else
        line(out, outsz, &used,
             "  kid           none given: the KEK is bound by its fingerprint alone\n");
    kt_hex(hex, k->fp, 32);
    line(out, outsz, &used, "  KEK SHA-256   %s (RSA-%u)\n", hex, k->bits);
    if (k->aws != NULL) {
        char until[32];
        kt_time_iso8601(until, sizeof until, k->aws->valid_to);
        line(out, outsz, &used, "  AWS KMS key   %.200s\n  valid until   %s (the parameters)\n",
             k->aws->key_id, until);
    } else if (k->gcp != NULL) {
        line(out, outsz, &used, "  import job    %.300s (%s)\n", k->gcp->name,
             pkg_gcp_method_name(k->gcp->method));
    }
    if (!k->attested) {
        line(out, outsz, &used,
             "  attested by   UNATTESTED: no HSM vendor vouches that this KEK lives in the "
             "cloud's HSM;\n"
             "                you accepted it by its fingerprint\n");
        line(out, outsz, &used, "  into world    none (an unattested KEK has no world)\n");
    } else {
        kt_hex_groups(groups, sizeof groups, k->root_sha256, 32);
        if (k->root_is_demo)
            line(out, outsz, &used,
                 "  attested by   the DEMO root %s\n"
                 "                WARNING: its private key is public; this is a demonstration, "
                 "not a transfer\n",
                 groups);
        else
            line(out, outsz, &used, "  attested by   vendor root \"%s\" %s\n", k->root_name,
                 groups);
        kt_hex(hex, k->world_hash, 32);
        line(out, outsz, &used, "  into world    %s, region %s\n", hex, k->region);
    }
    world_acl_format(a->acl, acl, sizeof acl);
    line(out, outsz, &used, "  new ACL       %s\n", acl);
    /* A key in a PKCS#11 token (transfer_token.c) names its token where a key file's path is. */
    if (strncmp(key->path, "pkcs11 token ", 13) == 0)
        line(out, outsz, &used,
             "  written as    tokenkey_%s_%s, a record signed by the quorum; the KEK goes into\n"
             "                the %s as a trusted wrapping key (the key stays there)\n",
             TRANSFER_APP, key->ident, key->path);
    else
        line(out, outsz, &used,
             "  written as    key_%s_%s, signed by the quorum (key_%s_%s stays as it is)\n",
             a->app != NULL ? a->app : TRANSFER_APP, key->ident, key->app, key->ident);
}

/* ------------------------------------------------------------------------------------------ */
/* modify-acls                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/*
 * Which record a reduction for k writes: key_xferacld_<ident> when the key has none yet (the
 * name nShield and earlier versions use), else key_xferacld<F16>_<ident> for this KEK. A record
 * that already stands for this KEK is KT_EEXIST: package it. path receives the record's file.
 */
static kt_rc record_for_reduce(const world_paths *p, const world_module *m, const transfer_kek *k,
                               const char *ident, char *app, size_t appsz, char *path,
                               size_t pathsz, kt_err *e)
{
    world_key_info first;
    kt_rc rc;

    snprintf(app, appsz, "%s", TRANSFER_APP);
    if ((rc = world_key_path(p, app, ident, path, pathsz, e)) != KT_OK)
        return rc;
    if (!kt_path_exists(path))
        return KT_OK;
    /* The first record stands: is it for this KEK? (Authenticated, like every key read.) */
    if ((rc = world_key_inspect(p, m, TRANSFER_APP, ident, &first, e)) != KT_OK)
        return rc;
    if (first.acl_signed && transfer_acl_is_for(&first.acl, k, NULL, 0))
        return kt_fail(e, KT_EEXIST,
                       "key %s has already been reduced for this KEK (%s): package it with "
                       "`keytransfer package`; keytransfer never replaces a key file",
                       ident, path);
    transfer_record_app(k->fp, app, appsz);
    if ((rc = world_key_path(p, app, ident, path, pathsz, e)) != KT_OK)
        return rc;
    if (kt_path_exists(path))
        return kt_fail(e, KT_EEXIST,
                       "key %s has already been reduced for a KEK with this fingerprint (%s): "
                       "package it with `keytransfer package`; keytransfer never replaces a key "
                       "file",
                       ident, path);
    return KT_OK;
}

kt_rc transfer_reduce_check(const world_paths *p, const world_module *m, const transfer_kek *k,
                            const char *app, const char *ident, world_key *key, world_acl *acl,
                            char rec_app[WORLD_KEY_APP_MAX + 1], kt_err *e)
{
    const world_acl_target to = {.kek_fp = k->fp,
                                 .world_hash = k->attested ? k->world_hash : NULL,
                                 .kid = k->kid[0] != '\0' ? k->kid : NULL};
    char xfer_path[PATH_MAX], acl_text[2 * WORLD_ACL_KID_MAX + 512], fp[65];
    kt_rc rc;

    memset(key, 0, sizeof *key);
    app = app != NULL ? app : WORLD_KEY_APP_DEFAULT;
    if (k->key == NULL)
        return kt_fail(e, KT_EUSAGE, "no KEK given");
    if (ident == NULL)
        return kt_fail(e, KT_EUSAGE, "which key? give its identifier");
    if (strcmp(app, TRANSFER_APP) == 0)
        return kt_fail(e, KT_EUSAGE,
                       "key %s/%s is already a reduced copy; reduce the source key (--app, "
                       "default %s)",
                       app, ident, WORLD_KEY_APP_DEFAULT);
    if ((rc = record_for_reduce(p, m, k, ident, rec_app, WORLD_KEY_APP_MAX + 1, xfer_path,
                                sizeof xfer_path, e)) != KT_OK)
        return rc;

    /* Everything that can say no is asked before the first card is read. */
    if ((rc = world_key_load(p, m, app, ident, key, e)) != KT_OK)
        return rc;
    kt_hex(fp, k->fp, 32);
    world_acl_format(&key->info.acl, acl_text, sizeof acl_text);
    if (!world_acl_allows_to(&key->info.acl, WORLD_ACT_REDUCE_ACL, &to)) {
        rc = kt_fail(e, KT_EDENIED,
                     "the ACL of key %s/%s does not allow ReduceACL for KEK %s%s (it allows: %s)",
                     app, ident, fp, k->attested ? " in its world" : "", acl_text);
        goto fail;
    }
    if (!world_acl_allows_to(&key->info.acl, WORLD_ACT_EXPORT_WRAPPED, &to)) {
        rc = kt_fail(e, KT_EDENIED,
                     "the ACL of key %s/%s does not allow ExportWrapped to KEK %s%s (it allows: "
                     "%s)",
                     app, ident, fp, k->attested ? " in its world" : "", acl_text);
        goto fail;
    }
    transfer_reduced_acl(k, acl);
    if (!world_acl_is_subset(acl, &key->info.acl)) {
        rc = kt_fail(e, KT_EDENIED,
                     "the reduced ACL would not be a subset of key %s/%s's ACL (%s): an ACL can "
                     "only be narrowed",
                     app, ident, acl_text);
        goto fail;
    }
    return KT_OK;
fail:
    world_key_free(key);
    return rc;
}

kt_rc transfer_reduce_write(const world_paths *p, const world_module *m, const transfer_kek *k,
                            const world_admin *admin, world_key *key, const world_acl *acl,
                            const char *rec_app, world_key_info *out, kt_err *e)
{
    uint8_t sig[WORLD_ACL_SIG_LEN];
    char fp[65], wh[65];
    kt_rc rc;

    if (memcmp(admin->info.hash, m->info.hash, WORLD_HASH_LEN) != 0)
        return kt_fail(e, KT_EDENIED, "the cards opened another world than the module's");
    /* KNSO signs for this key under the name of its record (rec_app/<ident>). */
    if ((rc = world_acl_sign(admin, rec_app, key->info.ident, key->info.key_hash, acl, sig, e)) !=
        KT_OK)
        return rc;
    /* The record: same material, names and creation time; the reduced ACL and its signature. */
    snprintf(key->info.app, sizeof key->info.app, "%s", rec_app);
    key->info.acl = *acl;
    key->info.acl_signed = true;
    memcpy(key->info.acl_sig, sig, sizeof sig);
    /* The record and its audit entry (KEK, kid, cards; signed by the module and KNSO) at once. */
    kt_hex(fp, k->fp, 32);
    kt_hex(wh, k->world_hash, 32);
    json_t *d = world_audit_key_detail(&key->info);
    if (d != NULL)
        json_object_update_new(d, json_pack("{s:s, s:s, s:s}", "kek_sha256", fp, "kid", k->kid,
                                            "target_world", k->attested ? wh : ""));
    const world_audit_signer signer = {
        .info = &m->info, .module_sk = &m->module_sk, .knso_sk = &admin->knso_sk};
    const world_audit_op op = {
        .op = "modify-acls", .detail = d, .cards = admin->cards_used, .ncards = admin->ncards_used};
    if (d == NULL)
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
    else if ((rc = world_key_save_logged(p, m, key, &signer, &op, e)) == KT_OK && out != NULL)
        *out = key->info;
    json_decref(d);
    return rc;
}

kt_rc transfer_reduce(const world_paths *p, const world_module *m, const transfer_kek *k,
                      const transfer_reduce_opts *o, world_key_info *out, kt_err *e)
{
    world_key key = {0};
    world_admin admin = {0};
    world_acl acl;
    char rec_app[WORLD_KEY_APP_MAX + 1] = "";
    kt_rc rc;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (o->approve == NULL)
        return kt_fail(e, KT_EUSAGE,
                       "nobody approves blind: transfer_reduce needs an approve callback that "
                       "shows the request to the card holders");
    if ((rc = transfer_reduce_check(p, m, k, o->app, o->ident, &key, &acl, rec_app, e)) != KT_OK)
        return rc;

    /* The card holders see what they approve before anyone types a PIN. */
    const transfer_approval approval = {.key = &key.info, .kek = k, .acl = &acl, .app = rec_app};
    if ((rc = o->approve(o->approve_ctx, &approval, e)) != KT_OK)
        goto out;

    /* The quorum: K cards and their PINs give KNSO, which signs the narrowed ACL. */
    if ((rc = world_admin_open(p, o->cards, o->ncards, o->pin, o->pin_ctx, &admin, e)) != KT_OK)
        goto out;
    rc = transfer_reduce_write(p, m, k, &admin, &key, &acl, rec_app, out, e);
out:
    world_admin_close(&admin);
    world_key_free(&key);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* package                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* The package and manifest paths for a target and name in dir. */
static kt_rc output_paths(const char *dir, transfer_target t, const char *name,
                          transfer_package_result *r, kt_err *e)
{
    static const char *const infix[] = {"", "", ".aws", ".gcp"};
    const char *ext = t == TRANSFER_AZURE ? ".byok" : ".bin";
    int n1 = snprintf(r->package_path, sizeof r->package_path, "%s/TransferPackage-%s%s%s", dir,
                      name, infix[t], ext);
    int n2 = snprintf(r->manifest_path, sizeof r->manifest_path,
                      "%s/TransferPackage-%s%s.manifest.json", dir, name, infix[t]);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof r->package_path ||
        (size_t)n2 >= sizeof r->manifest_path)
        return kt_fail(e, KT_EUSAGE, "output folder path %s is too long", dir);
    return KT_OK;
}

static const char *base_name(const char *path);

/*
 * What an earlier run of this very command left in the output folder, if anything: both files
 * (an interrupted run completed by kt_txn_recover, or one killed after it wrote them and before
 * it said so) whose manifest, signed by this module, states this key, KEK, target, hash, name
 * and subscription, and whose package file is the one it hashes. Then the package is done:
 * *done is set and r filled from the files. One file without the other cannot be left by the
 * commit protocol, and any other pair is somebody else's: KT_EEXIST.
 */
static kt_rc earlier_package(const world_module *m, const transfer_kek *k, const world_key *key,
                             transfer_target t, pkg_oaep_hash h, const transfer_package_opts *o,
                             transfer_package_result *r, bool *done, kt_err *e)
{
    const char *const paths[] = {r->package_path, r->manifest_path};
    bool have[2] = {kt_path_exists(paths[0]), kt_path_exists(paths[1])};
    bool token = r->token_path[0] != '\0', have_token = token && kt_path_exists(r->token_path);
    kt_buf tok = {0};
    kt_buf raw = {0}, pkg = {0};
    pkg_manifest man;
    uint8_t signer[32], sha[32];
    kt_err ignored;
    bool same = false;

    *done = false;
    if (!have[0] && !have[1] && !have_token)
        return KT_OK;
    if (have[0] && have[1] && kt_file_read(paths[1], PKG_MANIFEST_MAX, &raw, &ignored) == KT_OK &&
        pkg_manifest_parse(raw.p, raw.len, &man, signer, &ignored) == KT_OK) {
        same = kt_ct_equal(signer, m->info.module_pub, 32) && strcmp(man.app, TRANSFER_APP) == 0 &&
               strcmp(man.ident, o->ident) == 0 &&
               kt_ct_equal(man.key_sha256, key->info.key_hash, 32) &&
               kt_ct_equal(man.kek_sha256, k->fp, 32) && strcmp(man.kid, k->kid) == 0 &&
               strcmp(man.target, transfer_target_name(t)) == 0 &&
               strcmp(man.oaep_hash, pkg_oaep_hash_name(h)) == 0 &&
               strcmp(man.friendly_name, o->name) == 0 &&
               strcmp(man.subscription, o->subscription != NULL ? o->subscription : "") == 0 &&
               strcmp(man.package_file, base_name(paths[0])) == 0 &&
               strcmp(man.wrapping, t == TRANSFER_AZURE ? "" : r->wrapping) == 0 &&
               strcmp(man.token_file, token ? base_name(r->token_path) : "") == 0 &&
               kt_file_read(paths[0], PKG_BYOK_MAX, &pkg, &ignored) == KT_OK;
        if (same && token) {
            same = have_token &&
                   kt_file_read(r->token_path, PKG_AWS_TOKEN_MAX, &tok, &ignored) == KT_OK;
            if (same) {
                kt_sha256(sha, tok.p, tok.len);
                same = kt_ct_equal(sha, man.token_sha256, 32);
            }
        }
        if (same) {
            kt_sha256(sha, pkg.p, pkg.len);
            same = kt_ct_equal(sha, man.package_sha256, 32);
        }
        if (same) {
            memcpy(r->package_sha256, sha, 32);
            r->package_len = pkg.len;
            r->rsa_len = k->bits / 8;
            r->blob_len = pkg.len;
            if (t == TRANSFER_AZURE) {
                pkg_byok b;
                if (pkg_byok_parse(pkg.p, pkg.len, &b, &ignored) == KT_OK)
                    r->blob_len = b.blob.len;
                pkg_byok_free(&b);
            }
            r->hash = h;
            r->key = key->info;
            r->earlier = true;
            r->rsa_len = k->bits / 8;
            if (r->direct)
                r->blob_len = r->rsa_len;
            *done = true;
        }
        pkg_manifest_free(&man);
    }
    kt_buf_free(&raw);
    kt_buf_free(&pkg);
    kt_buf_free(&tok);
    if (same)
        return KT_OK;
    return kt_fail(e, KT_EEXIST,
                   "%s exists and is not this package; keytransfer never replaces a package: "
                   "choose another --name or --out folder",
                   have[0]   ? paths[0]
                   : have[1] ? paths[1]
                             : r->token_path);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* The manifest (docs/design.md §4) for what was written, signed with the module's Ed25519 key. */
static kt_rc sign_manifest(const world_module *m, const transfer_kek *k, const world_key *key,
                           const transfer_package_opts *o, transfer_target t, pkg_oaep_hash h,
                           const transfer_package_result *r, char **out, kt_err *e)
{
    pkg_manifest man;

    memset(&man, 0, sizeof man);
    snprintf(man.tool_version, sizeof man.tool_version, "%s", KT_VERSION);
    snprintf(man.app, sizeof man.app, "%s", key->info.app);
    snprintf(man.ident, sizeof man.ident, "%s", key->info.ident);
    snprintf(man.plainname, sizeof man.plainname, "%s", key->info.plainname);
    snprintf(man.key_type, sizeof man.key_type, "%s", world_key_type_name(key->info.type));
    man.key_bits = key->info.bits;
    snprintf(man.curve, sizeof man.curve, "%s", key->info.curve);
    if (key->info.spki_len > 0) {
        if ((man.public_key.p = malloc(key->info.spki_len)) == NULL)
            return kt_fail(e, KT_ENOMEM, "out of memory");
        memcpy(man.public_key.p, key->info.spki, key->info.spki_len);
        man.public_key.len = key->info.spki_len;
    }
    memcpy(man.key_sha256, key->info.key_hash, 32);
    snprintf(man.kid, sizeof man.kid, "%s", k->kid);
    memcpy(man.kek_sha256, k->fp, 32);
    man.attested = k->attested;
    if (k->attested) {
        snprintf(man.root_name, sizeof man.root_name, "%s", k->root_name);
        memcpy(man.root_sha256, k->root_sha256, 32);
    }
    man.has_world = k->attested;
    if (k->attested)
        memcpy(man.target_world_hash, k->world_hash, 32);
    snprintf(man.target, sizeof man.target, "%s", transfer_target_name(t));
    snprintf(man.oaep_hash, sizeof man.oaep_hash, "%s", pkg_oaep_hash_name(h));
    snprintf(man.subscription, sizeof man.subscription, "%s",
             o->subscription != NULL ? o->subscription : "");
    snprintf(man.friendly_name, sizeof man.friendly_name, "%s", o->name);
    const char *file = base_name(r->package_path);
    if (strlen(file) >= sizeof man.package_file) {
        pkg_manifest_free(&man);
        return kt_fail(e, KT_EUSAGE, "the package file name %s is too long", file);
    }
    memcpy(man.package_file, file, strlen(file) + 1);
    memcpy(man.package_sha256, r->package_sha256, 32);
    man.created = o->now;
    if (t != TRANSFER_AZURE) {
        snprintf(man.wrapping, sizeof man.wrapping, "%s", r->wrapping);
        if (k->aws != NULL)
            snprintf(man.import_for, sizeof man.import_for, "%s", k->aws->key_id);
        else if (k->gcp != NULL)
            snprintf(man.import_for, sizeof man.import_for, "%s", k->gcp->name);
    }
    if (r->token_path[0] != '\0') {
        const char *tf = base_name(r->token_path);
        if (strlen(tf) >= sizeof man.token_file) {
            pkg_manifest_free(&man);
            return kt_fail(e, KT_EUSAGE, "the import token file name %s is too long", tf);
        }
        memcpy(man.token_file, tf, strlen(tf) + 1);
        kt_sha256(man.token_sha256, k->aws->import_token.p, k->aws->import_token.len);
    }
    kt_rc rc = pkg_manifest_sign(&man, m->module_sk.p, out, e);
    pkg_manifest_free(&man);
    return rc;
}

/* The package's audit entry (target, file, its SHA-256, the KEK), in the package's change. */
json_t *transfer_package_audit_detail(const transfer_kek *k, const world_key_info *key,
                                      transfer_target t, const transfer_package_result *r)
{
    char sha[65], fp[65];
    kt_hex(sha, r->package_sha256, 32);
    kt_hex(fp, k->fp, 32);
    json_t *d = world_audit_key_detail(key);
    if (d != NULL)
        json_object_update_new(d, json_pack("{s:s, s:s, s:s, s:s, s:s}", "target",
                                            transfer_target_name(t), "package",
                                            base_name(r->package_path), "package_sha256", sha,
                                            "kek_sha256", fp, "kid", k->kid));
    return d;
}

static kt_rc stage_package_audit(kt_txn *txn, const world_paths *p, const world_module *m,
                                 const transfer_kek *k, const world_key *key, transfer_target t,
                                 const transfer_package_result *r, kt_err *e)
{
    json_t *d = transfer_package_audit_detail(k, &key->info, t, r);
    const world_audit_signer s = {.info = &m->info, .module_sk = &m->module_sk};
    const world_audit_op op = {.op = "package", .detail = d};
    kt_rc rc = d == NULL ? kt_fail(e, KT_ENOMEM, "out of memory")
                         : world_audit_stage(txn, 1, p, &s, &op, e);
    json_decref(d);
    return rc;
}

/*
 * 4. The package from its wrapped blob: the .byok (Azure) or the blob itself (AWS
 * EncryptedKeyMaterial, GCP wrappedKey), its signed manifest, with the AWS import token and the
 * audit entry, as one change of the commit protocol: all appear or none; once committed they
 * stand, even if what follows the commit point fails. In a batch (o->txn) the files are staged
 * into the batch's change, which its caller commits (and audits); *broken then says that change
 * can no longer commit. For a world key and a token key alike.
 */
static kt_rc package_files(const world_paths *p, const world_module *m, const transfer_kek *k,
                           const world_key *key, transfer_target t, const transfer_package_opts *o,
                           const kt_buf *blob, transfer_package_result *r, bool *broken, kt_err *e)
{
    const char *dirs[2] = {o->out_dir != NULL ? o->out_dir : ".", p->local};
    const uint8_t *data = blob->p;
    size_t len = blob->len;
    char *byok = NULL, *manifest = NULL, what[96];
    kt_txn *txn = o->txn;
    bool committed = false;
    kt_rc rc;

    if (t == TRANSFER_AZURE) {
        if ((rc = pkg_byok_write(k->kid, blob->p, blob->len, GENERATOR, &byok, e)) != KT_OK)
            return rc;
        data = (const uint8_t *)byok;
        len = strlen(byok);
    }
    kt_sha256(r->package_sha256, data, len);
    r->package_len = len;
    if ((rc = sign_manifest(m, k, key, o, t, r->hash, r, &manifest, e)) != KT_OK)
        goto out;
    snprintf(what, sizeof what, "package %.80s", base_name(r->package_path));
    if (o->txn == NULL &&
        (rc = kt_txn_begin(&txn, what, dirs, 2, true, o->report, o->report_ctx, e)) != KT_OK)
        goto out;
    if ((rc = kt_txn_put(txn, 0, base_name(r->package_path), data, len, KT_TXN_NEW, e)) == KT_OK &&
        r->token_path[0] != '\0')
        rc = kt_txn_put(txn, 0, base_name(r->token_path), k->aws->import_token.p,
                        k->aws->import_token.len, KT_TXN_NEW, e);
    if (rc == KT_OK)
        rc = kt_txn_put(txn, 0, base_name(r->manifest_path), manifest, strlen(manifest), KT_TXN_NEW,
                        e);
    r->key = key->info;
    if (o->txn != NULL) {
        *broken = rc != KT_OK;
        goto out;
    }
    if (rc == KT_OK && (rc = stage_package_audit(txn, p, m, k, key, t, r, e)) == KT_OK)
        rc = kt_txn_commit(txn, &committed, e);
    r->committed = committed;
    kt_txn_free(txn);
out:
    free(byok);
    free(manifest);
    return rc;
}

/*
 * Step 1 of a package, for a world key and a token key alike: what was asked for makes sense (the
 * target and its hash, a KEK, a key, a name, the subscription, Azure's kid, Google's KEK sizes,
 * the cloud parameters for their own target), and r's paths. *t and *h receive the target and
 * hash with their defaults.
 */
static kt_rc check_request(const transfer_kek *k, const transfer_package_opts *o,
                           transfer_target *t, pkg_oaep_hash *h, transfer_package_result *r,
                           kt_err *e)
{
    const char *dir = o->out_dir != NULL ? o->out_dir : ".";
    kt_rc rc;

    *t = o->target != 0 ? o->target : TRANSFER_AZURE;
    if (*t != TRANSFER_AZURE && *t != TRANSFER_AWS && *t != TRANSFER_GCP)
        return kt_fail(e, KT_EUSAGE, "unknown target %d", (int)*t);
    *h = o->hash != 0 ? o->hash : transfer_default_hash(*t);
    if ((rc = transfer_check_hash(*t, *h, e)) != KT_OK)
        return rc;
    if (k->key == NULL)
        return kt_fail(e, KT_EUSAGE, "no KEK given");
    if (o->ident == NULL)
        return kt_fail(e, KT_EUSAGE, "which key? give its identifier");
    if (o->name == NULL)
        return kt_fail(e, KT_EUSAGE, "give the package a name (--name)");
    if ((rc = transfer_check_name(o->name, e)) != KT_OK)
        return rc;
    if (!is_printable_text(o->subscription != NULL ? o->subscription : "",
                           sizeof((pkg_manifest *)0)->subscription))
        return kt_fail(e, KT_EUSAGE, "the subscription must be printable text under %zu bytes",
                       sizeof((pkg_manifest *)0)->subscription);
    if (*t == TRANSFER_AZURE && k->kid[0] == '\0')
        return kt_fail(e, KT_EUSAGE,
                       "an Azure .byok names its KEK: give --kid, the KEK's key URL with its "
                       "version (https://VAULT.vault.azure.net/keys/NAME/VERSION)");
    /* Google Cloud KMS has import methods for 3072- and 4096-bit wrapping keys only. */
    if (*t == TRANSFER_GCP && k->bits != 3072 && k->bits != 4096)
        return kt_fail(e, KT_EDENIED,
                       "Google Cloud KMS imports with RSA_OAEP_3072_* or RSA_OAEP_4096_* wrapping "
                       "keys only; this KEK has %u bits",
                       k->bits);
    if ((k->aws != NULL && *t != TRANSFER_AWS) || (k->gcp != NULL && *t != TRANSFER_GCP))
        return kt_fail(e, KT_EUSAGE, "%s are for --target %s",
                       k->aws != NULL ? "AWS import parameters (--aws-params)"
                                      : "a Cloud KMS import job (--import-job)",
                       k->aws != NULL ? "aws" : "gcp");
    if (o->aws_wrapping != 0 && *t != TRANSFER_AWS)
        return kt_fail(e, KT_EUSAGE, "--wrapping-algorithm is for --target aws");
    if ((rc = output_paths(dir, *t, o->name, r, e)) != KT_OK)
        return rc;
    if (k->aws != NULL) {
        int n = snprintf(r->token_path, sizeof r->token_path, "%s/TransferPackage-%s.aws.token.bin",
                         dir, o->name);
        if (n < 0 || (size_t)n >= sizeof r->token_path)
            return kt_fail(e, KT_EUSAGE, "output folder path %s is too long", dir);
    }
    return KT_OK;
}

kt_rc transfer_package(const world_paths *p, const world_module *m, const transfer_kek *k,
                       const transfer_package_opts *o, transfer_package_result *r, kt_err *e)
{
    transfer_target t = o->target != 0 ? o->target : TRANSFER_AZURE;
    pkg_oaep_hash h;
    const char *dir = o->out_dir != NULL ? o->out_dir : ".";
    world_key key = {0};
    kt_buf blob = {0};
    char why[2 * WORLD_ACL_KID_MAX + 256];
    bool broken = false;
    kt_rc rc;

    memset(r, 0, sizeof *r);
    /* 1. What was asked for makes sense. */
    if ((rc = check_request(k, o, &t, &h, r, e)) != KT_OK)
        return rc;
    /* An interrupted earlier package into this folder is finished (or undone) first; a batch
     * (o->txn) did that when it began its change. */
    if (o->txn == NULL && (rc = kt_txn_recover(dir, o->report, o->report_ctx, e)) != KT_OK)
        return rc;

    /* 2. The reduced key, whose KNSO signature world_key_load has verified: the record for this
     * KEK's fingerprint when there is one and it is for this KEK (kid included), else the first
     * record (transfer_record_app). */
    char app[WORLD_KEY_APP_MAX + 1], rec_path[PATH_MAX];
    world_key_info fp_rec;
    kt_err ignored_path;
    transfer_record_app(k->fp, app, sizeof app);
    if (world_key_path(p, app, o->ident, rec_path, sizeof rec_path, &ignored_path) != KT_OK ||
        !kt_path_exists(rec_path))
        snprintf(app, sizeof app, "%s", TRANSFER_APP);
    else if ((rc = world_key_inspect(p, m, app, o->ident, &fp_rec, e)) != KT_OK)
        goto out; /* a damaged record is said, not passed over */
    else if (!fp_rec.acl_signed || !transfer_acl_is_for(&fp_rec.acl, k, NULL, 0))
        snprintf(app, sizeof app, "%s", TRANSFER_APP); /* the same KEK under another kid */
    rc = world_key_load(p, m, app, o->ident, &key, e);
    if (rc == KT_ENOENT) {
        char source[PATH_MAX];
        kt_err ignored;
        /* The key exists but was never reduced: the answer is no (exit 1), not a missing file. */
        if (world_key_path(p, WORLD_KEY_APP_DEFAULT, o->ident, source, sizeof source, &ignored) ==
                KT_OK &&
            kt_path_exists(source))
            rc = kt_fail(e, KT_EDENIED,
                         "key %s has not been reduced for transfer (there is no key %s/%s): run "
                         "`keytransfer modify-acls --ident %s` with the administrator cards "
                         "first",
                         o->ident, TRANSFER_APP, o->ident, o->ident);
        else
            rc =
                kt_fail(e, KT_ENOENT, "there is no key %s in the world in %s", o->ident, p->kmdata);
        goto out;
    }
    if (rc != KT_OK)
        goto out;
    if (!key.info.acl_signed) {
        rc = kt_fail(e, KT_EDENIED,
                     "key %s/%s has not been reduced: its ACL carries no signature of the "
                     "administrator quorum; run keytransfer modify-acls first",
                     app, o->ident);
        goto out;
    }
    if (!transfer_acl_is_for(&key.info.acl, k, why, sizeof why)) {
        rc = kt_fail(e, KT_EDENIED,
                     "key %s/%s may not be packaged for this KEK: %s. No record of the key is "
                     "reduced for it: reduce it for this KEK with modify-acls and the "
                     "administrator cards (each KEK gets a record of its own)",
                     app, o->ident, why);
        goto out;
    }

    /* 3. CKM_RSA_AES_KEY_WRAP of the material as it sits in secure memory: PKCS#8
     * PrivateKeyInfo DER (RSA, EC) or the raw key (AES), the target formats of docs/design.md §4.
     */
    transfer_wrapped wrapped;
    if ((rc = transfer_cloud_wrap(k, t, h, o->aws_wrapping, &key, &blob, &wrapped, e)) != KT_OK)
        goto out;
    h = wrapped.hash;
    snprintf(r->wrapping, sizeof r->wrapping, "%s", wrapped.wrapping);
    r->direct = wrapped.direct;
    /* An earlier run of this very command (same scheme too) is recognised, not repeated. */
    bool done;
    if ((rc = earlier_package(m, k, &key, t, h, o, r, &done, e)) != KT_OK || done)
        goto out;
    r->rsa_len = pkg_rsa_modulus_len(k->key);
    r->blob_len = blob.len;
    /* PKCS#11 §2.1.21: the RSA part is exactly the modulus length; RFC 5649: the KWP part is
     * 8 + 8*ceil(len/8) bytes; a direct RSA-OAEP is one block. Checked rather than trusted. */
    if (r->rsa_len != k->bits / 8 ||
        blob.len != r->rsa_len + (wrapped.direct ? 0 : 8 + 8 * ((key.material.len + 7) / 8))) {
        rc = kt_fail(e, KT_ECRYPTO, "the wrapped key has %zu bytes, not the expected layout",
                     blob.len);
        goto out;
    }
    r->hash = h;
    rc = package_files(p, m, k, &key, t, o, &blob, r, &broken, e);
out:
    world_key_free(&key);
    kt_buf_free(&blob);
    if (rc != KT_OK && !r->committed)
        memset(r, 0, sizeof *r);
    r->txn_broken = broken;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* package, for a key wrapped elsewhere (a PKCS#11 token): the same files and manifest         */
/* ------------------------------------------------------------------------------------------ */

/* The scheme a token key is wrapped with for t: Azure CKM_RSA_AES_KEY_WRAP; AWS the algorithm
 * asked for, else the one AWS documents for the type (RSAES_OAEP_* for AES-256, direct;
 * RSA_AES_KEY_WRAP_* for RSA and EC), after pkg_aws_check; Google the import job's method, else
 * RSA_OAEP_<bits>_<hash>_AES_256, after pkg_gcp_check. Fills r->wrapping, r->hash, r->direct. */
static kt_rc token_scheme(const transfer_kek *k, transfer_target t, pkg_oaep_hash h,
                          const transfer_package_opts *o, const world_key_info *info,
                          transfer_package_result *r, kt_err *e)
{
    const char *type = world_key_type_name(info->type);
    kt_rc rc;

    if (t == TRANSFER_AZURE) {
        snprintf(r->wrapping, sizeof r->wrapping, "CKM_RSA_AES_KEY_WRAP");
        r->hash = h;
        return KT_OK;
    }
    if (t == TRANSFER_AWS) {
        pkg_aws_wrapping w = o->aws_wrapping;
        if (w == 0) {
            w = pkg_aws_wrapping_default(type);
            if (h == PKG_OAEP_SHA1)
                w = w == PKG_AWS_RSAES_OAEP_SHA_256 ? PKG_AWS_RSAES_OAEP_SHA_1
                                                    : PKG_AWS_RSA_AES_KEY_WRAP_SHA_1;
        }
        if ((rc = pkg_aws_check(w, type, info->bits, info->curve, k->bits, e)) != KT_OK)
            return rc;
        snprintf(r->wrapping, sizeof r->wrapping, "%s", pkg_aws_wrapping_name(w));
        r->hash = pkg_aws_wrapping_hash(w);
        r->direct = pkg_aws_wrapping_is_direct(w);
        return KT_OK;
    }
    pkg_gcp_method m;
    if (k->gcp != NULL)
        m = k->gcp->method;
    else if (k->bits == 3072)
        m = h == PKG_OAEP_SHA1 ? PKG_GCP_RSA_OAEP_3072_SHA1_AES_256
                               : PKG_GCP_RSA_OAEP_3072_SHA256_AES_256;
    else
        m = h == PKG_OAEP_SHA1 ? PKG_GCP_RSA_OAEP_4096_SHA1_AES_256
                               : PKG_GCP_RSA_OAEP_4096_SHA256_AES_256;
    if (pkg_gcp_method_bits(m) != k->bits)
        return kt_fail(e, KT_EDENIED,
                       "Google Cloud KMS imports with RSA_OAEP_3072_* or RSA_OAEP_4096_* wrapping "
                       "keys only; this KEK has %u bits",
                       k->bits);
    if ((rc = pkg_gcp_check(m, type, info->bits, info->curve, e)) != KT_OK)
        return rc;
    snprintf(r->wrapping, sizeof r->wrapping, "%s", pkg_gcp_method_name(m));
    r->hash = pkg_gcp_method_hash(m);
    r->direct = pkg_gcp_method_is_direct(m);
    return KT_OK;
}

kt_rc transfer_package_prepare(const world_module *m, const transfer_kek *k,
                               const world_key_info *info, const transfer_package_opts *o,
                               transfer_package_result *r, bool *done, kt_err *e)
{
    transfer_target t = o->target != 0 ? o->target : TRANSFER_AZURE;
    pkg_oaep_hash h = o->hash != 0 ? o->hash : transfer_default_hash(t);
    const char *dir = o->out_dir != NULL ? o->out_dir : ".";
    world_key key;
    kt_rc rc;

    memset(r, 0, sizeof *r);
    *done = false;
    if (o->txn != NULL)
        return kt_fail(e, KT_EUSAGE, "a token key is packaged on its own, not in a batch");
    if ((rc = check_request(k, o, &t, &h, r, e)) != KT_OK)
        return rc;
    if ((rc = token_scheme(k, t, h, o, info, r, e)) != KT_OK ||
        (rc = kt_txn_recover(dir, o->report, o->report_ctx, e)) != KT_OK)
        return rc;
    memset(&key, 0, sizeof key);
    key.info = *info;
    transfer_package_result keep = *r;
    rc = earlier_package(m, k, &key, t, r->hash, o, r, done, e);
    if (rc == KT_OK && !*done) {
        /* earlier_package leaves r alone when there is none; the scheme stays. */
        snprintf(r->wrapping, sizeof r->wrapping, "%s", keep.wrapping);
        r->hash = keep.hash;
        r->direct = keep.direct;
    }
    return rc;
}

kt_rc transfer_package_blob(const world_paths *p, const world_module *m, const transfer_kek *k,
                            const world_key_info *info, const transfer_package_opts *o,
                            const kt_buf *blob, transfer_package_result *r, kt_err *e)
{
    transfer_target t = o->target != 0 ? o->target : TRANSFER_AZURE;
    world_key key;
    bool broken = false;

    r->rsa_len = pkg_rsa_modulus_len(k->key);
    r->blob_len = blob->len;
    /* PKCS#11 §2.1.21: the RSA part is exactly the modulus length; RFC 5649 §4.1: the rest is
     * 8 + 8*ceil(len/8) bytes, so at least 16 and a multiple of 8; a direct RSA-OAEP is one
     * block. Checked, not trusted. */
    if (r->rsa_len != k->bits / 8 ||
        (r->direct ? blob->len != r->rsa_len
                   : blob->len < r->rsa_len + 16 || (blob->len - r->rsa_len) % 8 != 0))
        return kt_fail(e, KT_ECRYPTO, "the wrapped key has %zu bytes, not the expected layout",
                       blob->len);
    memset(&key, 0, sizeof key);
    key.info = *info;
    kt_rc rc = package_files(p, m, k, &key, t, o, blob, r, &broken, e);
    r->txn_broken = broken; /* as transfer_package says it, should o->txn be given */
    return rc;
}
