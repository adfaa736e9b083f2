/*
 * cloud.c - the transfer step for AWS KMS and Google Cloud KMS as their users meet them
 * (transfer.h, docs/formats.md "AWS KMS" and "Google Cloud KMS"): the KEK taken from the
 * parameters the clouds' own CLIs print (still accepted by its fingerprint: neither cloud
 * attests its wrapping keys the way the Azure KEK package does), the wrapping each cloud
 * documents for each key type, and the names of the reduced records, one per KEK.
 */
#include "cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void transfer_record_app(const uint8_t fp[32], char *out, size_t outsz)
{
    char hex[65];
    kt_hex(hex, fp, 32);
    snprintf(out, outsz, "%s%.16s", TRANSFER_APP, hex);
}

bool transfer_is_record_app(const char *app)
{
    size_t n = strlen(TRANSFER_APP);
    if (strncmp(app, TRANSFER_APP, n) != 0)
        return false;
    if (app[n] == '\0')
        return true;
    if (strlen(app + n) != 16)
        return false;
    for (size_t i = n; app[i]; i++)
        if (!((app[i] >= '0' && app[i] <= '9') || (app[i] >= 'a' && app[i] <= 'f')))
            return false;
    return true;
}

kt_rc transfer_records(const world_paths *p, const world_module *m, const char *ident,
                       world_key_info **out, size_t *n, kt_err *e)
{
    world_key_entry *all = NULL;
    size_t count = 0;
    kt_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = world_key_list(p, m, &all, &count, e)) != KT_OK)
        return rc;
    for (size_t i = 0; i < count; i++) {
        const world_key_info *k = &all[i].info;
        if (all[i].rc != KT_OK || strcmp(k->ident, ident) != 0 || !k->acl_signed ||
            !transfer_is_record_app(k->app))
            continue;
        world_key_info *grown = realloc(*out, (*n + 1) * sizeof **out);
        if (grown == NULL) {
            free(*out);
            *out = NULL;
            *n = 0;
            free(all);
            return kt_fail(e, KT_ENOMEM, "out of memory");
        }
        *out = grown;
        (*out)[(*n)++] = *k;
    }
    free(all);
    return KT_OK;
}

void transfer_cloud_free(transfer_kek *k)
{
    if (k->aws != NULL) {
        pkg_aws_params_free(k->aws);
        free(k->aws);
        k->aws = NULL;
    }
    if (k->gcp != NULL) {
        pkg_gcp_job_free(k->gcp);
        free(k->gcp);
        k->gcp = NULL;
    }
}

/* The cloud's import parameters in path, read (at most max octets) and parsed by parse into obj;
 * a parse error names the file. */
static kt_rc cloud_params_read(const char *path, size_t max,
                               kt_rc (*parse)(const uint8_t *in, size_t len, void *obj, kt_err *e),
                               void *obj, kt_err *e)
{
    kt_buf raw = {0};
    kt_rc rc = kt_file_read(path, max, &raw, e);

    if (rc != KT_OK)
        return rc;
    if ((rc = parse(raw.p, raw.len, obj, e)) != KT_OK)
        kt_err_prefix(e, "%s", path);
    kt_buf_free(&raw);
    return rc;
}

static kt_rc aws_params_parse(const uint8_t *in, size_t len, void *obj, kt_err *e)
{
    return pkg_aws_params_parse(in, len, obj, e);
}

static kt_rc gcp_job_parse(const uint8_t *in, size_t len, void *obj, kt_err *e)
{
    return pkg_gcp_job_parse(in, len, obj, e);
}

/* The end of both readers: when rc is KT_OK, the cloud's wrapping key taken as the KEK
 * (transfer_kek_accept); on any failure, k freed. */
static kt_rc cloud_kek_take(const char *path, EVP_PKEY *key, const char *accept, kt_rc rc,
                            transfer_kek *k, kt_err *e)
{
    if (rc == KT_OK && EVP_PKEY_up_ref(key) != 1)
        rc = kt_fail(e, KT_ECRYPTO, "cannot take a reference to the wrapping key");
    else if (rc == KT_OK)
        rc = transfer_kek_accept(path, key, accept, k, e);
    if (rc != KT_OK)
        transfer_cloud_free(k);
    return rc;
}

kt_rc transfer_kek_from_aws_params(const char *path, const char *accept, uint64_t now,
                                   transfer_kek *k, kt_err *e)
{
    char when[32], at[32];

    memset(k, 0, sizeof *k);
    if ((k->aws = calloc(1, sizeof *k->aws)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    kt_rc rc = cloud_params_read(path, PKG_AWS_PARAMS_MAX, aws_params_parse, k->aws, e);
    /* Each wrapping key and import token set is valid for 24 hours (GetParametersForImport). */
    if (rc == KT_OK && now >= k->aws->valid_to) {
        kt_time_iso8601(when, sizeof when, k->aws->valid_to);
        kt_time_iso8601(at, sizeof at, now);
        rc = kt_fail(e, KT_EDENIED,
                     "the AWS import parameters in %s expired at %s (ParametersValidTo; it is "
                     "now %s): AWS KMS no longer takes key material wrapped for that public key. "
                     "Run `aws kms get-parameters-for-import` again, and reduce the key for the "
                     "new wrapping key with modify-acls",
                     path, when, at);
    }
    return cloud_kek_take(path, k->aws->public_key, accept, rc, k, e);
}

kt_rc transfer_kek_from_import_job(const char *path, const char *accept, uint64_t now,
                                   transfer_kek *k, kt_err *e)
{
    char when[32];

    memset(k, 0, sizeof *k);
    if ((k->gcp = calloc(1, sizeof *k->gcp)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    kt_rc rc = cloud_params_read(path, PKG_GCP_JOB_MAX, gcp_job_parse, k->gcp, e);
    /* ImportJobState: only an ACTIVE job has a wrapping key that Cloud KMS will unwrap with. */
    if (rc == KT_OK && strcmp(k->gcp->state, "ACTIVE") != 0)
        rc = kt_fail(e, KT_EDENIED,
                     "the import job %s in %s is %s, not ACTIVE: Cloud KMS imports only through "
                     "an ACTIVE job (PENDING_GENERATION: wait and describe it again; EXPIRED: "
                     "create another job)",
                     k->gcp->name, path, k->gcp->state);
    if (rc == KT_OK && k->gcp->expire_time != 0 && now >= k->gcp->expire_time) {
        kt_time_iso8601(when, sizeof when, k->gcp->expire_time);
        rc = kt_fail(e, KT_EDENIED, "the import job %s in %s expired at %s (expireTime)",
                     k->gcp->name, path, when);
    }
    return cloud_kek_take(path, k->gcp->public_key, accept, rc, k, e);
}

/* The Cloud KMS method a bare --kek-pem of this size and hash stands for (the AES_256 ones). */
static pkg_gcp_method gcp_method_for(unsigned bits, pkg_oaep_hash h)
{
    if (bits == 3072)
        return h == PKG_OAEP_SHA1 ? PKG_GCP_RSA_OAEP_3072_SHA1_AES_256
                                  : PKG_GCP_RSA_OAEP_3072_SHA256_AES_256;
    return h == PKG_OAEP_SHA1 ? PKG_GCP_RSA_OAEP_4096_SHA1_AES_256
                              : PKG_GCP_RSA_OAEP_4096_SHA256_AES_256;
}

kt_rc transfer_cloud_wrap(const transfer_kek *k, transfer_target t, pkg_oaep_hash h,
                          pkg_aws_wrapping w, const world_key *key, kt_buf *blob,
                          transfer_wrapped *out, kt_err *e)
{
    const char *type = world_key_type_name(key->info.type);
    kt_rc rc;

    memset(out, 0, sizeof *out);
    memset(blob, 0, sizeof *blob);
    if (t == TRANSFER_AZURE) {
        snprintf(out->wrapping, sizeof out->wrapping, "CKM_RSA_AES_KEY_WRAP");
        out->hash = h;
        return pkg_rsa_aes_wrap(k->key, h, key->material.p, key->material.len, blob, e);
    }
    if (t == TRANSFER_AWS) {
        if (w == 0) {
            /* The one AWS documents for the key type, with the hash asked for (SHA-256 unless
             * --oaep-hash sha1). */
            w = pkg_aws_wrapping_default(type);
            if (h == PKG_OAEP_SHA1)
                w = w == PKG_AWS_RSAES_OAEP_SHA_256 ? PKG_AWS_RSAES_OAEP_SHA_1
                                                    : PKG_AWS_RSA_AES_KEY_WRAP_SHA_1;
        }
        if ((rc = pkg_aws_check(w, type, key->info.bits, key->info.curve, k->bits, e)) != KT_OK)
            return rc;
        snprintf(out->wrapping, sizeof out->wrapping, "%s", pkg_aws_wrapping_name(w));
        out->hash = pkg_aws_wrapping_hash(w);
        out->direct = pkg_aws_wrapping_is_direct(w);
        out->aws = w;
        return pkg_aws_wrap(k->key, w, key->material.p, key->material.len, blob, e);
    }
    if (t == TRANSFER_GCP) {
        pkg_gcp_method m = k->gcp != NULL ? k->gcp->method : gcp_method_for(k->bits, h);
        if (pkg_gcp_method_bits(m) != k->bits)
            return kt_fail(e, KT_EDENIED,
                           "Google Cloud KMS imports with RSA_OAEP_3072_* or RSA_OAEP_4096_* "
                           "wrapping keys only; this KEK has %u bits",
                           k->bits);
        if ((rc = pkg_gcp_check(m, type, key->info.bits, key->info.curve, e)) != KT_OK)
            return rc;
        snprintf(out->wrapping, sizeof out->wrapping, "%s", pkg_gcp_method_name(m));
        out->hash = pkg_gcp_method_hash(m);
        out->direct = pkg_gcp_method_is_direct(m);
        out->gcp = m;
        return pkg_gcp_wrap(k->key, m, key->material.p, key->material.len, blob, e);
    }
    return kt_fail(e, KT_EUSAGE, "unknown target %d", (int)t);
}

/* A word for a shell command line: as it is when it is safe, else in single quotes. */
static void shell_word(char *out, size_t outsz, const char *s)
{
    bool plain = s[0] != '\0';
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("_./:=@+,-", *c) != NULL))
            plain = false;
    if (plain) {
        snprintf(out, outsz, "%s", s);
        return;
    }
    size_t o = 0;
    if (o + 1 < outsz)
        out[o++] = '\'';
    for (const char *c = s; *c && o + 5 < outsz; c++) {
        if (*c == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *c;
        }
    }
    if (o + 1 < outsz)
        out[o++] = '\'';
    out[o < outsz ? o : outsz - 1] = '\0';
}

void transfer_import_command(const transfer_kek *k, const transfer_package_result *r,
                             const char *name, char *out, size_t outsz)
{
    char a[PATH_MAX * 4 + 16], b[PATH_MAX * 4 + 16], id[PKG_AWS_KEY_ID_MAX * 4 + 16];

    out[0] = '\0';
    if (k->aws != NULL && r->token_path[0] != '\0') {
        shell_word(id, sizeof id, k->aws->key_id);
        shell_word(a, sizeof a, r->package_path);
        shell_word(b, sizeof b, r->token_path);
        /* ImportKeyMaterial: the blobs go as files (fileb:// is the CLI's raw bytes). */
        snprintf(out, outsz,
                 "aws kms import-key-material --key-id %s --encrypted-key-material fileb://%s "
                 "--import-token fileb://%s --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE",
                 id, a, b);
    } else if (k->gcp != NULL) {
        const world_key_info *key = &r->key;
        const char *alg =
            pkg_gcp_default_algorithm(world_key_type_name(key->type), key->bits, key->curve);
        shell_word(a, sizeof a, r->package_path);
        snprintf(out, outsz,
                 "gcloud kms keys versions import --project %s --location %s --keyring %s "
                 "--key %s --import-job %s --algorithm %s --wrapped-key-file %s",
                 k->gcp->project, k->gcp->location, k->gcp->keyring, name, k->gcp->job,
                 alg != NULL ? alg : "?", a);
    }
}
