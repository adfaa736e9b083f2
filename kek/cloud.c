/*
 * cloud.c - a region's cloud as a whole: the regions it can play, the vendor root it trusts, and
 * its state folder (cloud.json, the cloud world and the PIN of its own administrator card).
 */
#include "kek_internal.h"

#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

const char *const kek_regions[] = {"NA",  "EU",    "AP",     "LATAM",   "JPN",
                                   "AUS", "USGOV", "CANADA", "GERMANY", "INDIA"};
const size_t kek_nregions = sizeof kek_regions / sizeof kek_regions[0];

bool kek_region_known(const char *region)
{
    for (size_t i = 0; i < kek_nregions; i++)
        if (strcmp(region, kek_regions[i]) == 0)
            return true;
    return false;
}

/* ---- the vendor root ------------------------------------------------------------------- */

static kt_rc pem_cert(const unsigned char *pem, size_t len, X509 **out, kt_err *e)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    *out = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return *out ? KT_OK : kt_fail_ssl(e, KT_EFORMAT, "the compiled-in DEMO root is unreadable");
}

static kt_rc pem_key(const unsigned char *pem, size_t len, EVP_PKEY **out, kt_err *e)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    *out = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return *out ? KT_OK : kt_fail_ssl(e, KT_EFORMAT, "the compiled-in DEMO root key is unreadable");
}

kt_rc kek_vendor_load(const char *cert_pem, const char *key_pem, kek_vendor *v, kt_err *e)
{
    kt_rc rc;
    memset(v, 0, sizeof *v);
    if ((cert_pem == NULL) != (key_pem == NULL))
        return kt_fail(e, KT_EUSAGE,
                       "give both the vendor root certificate and its key, or "
                       "neither for the DEMO root");
    if (cert_pem == NULL)
        rc = pem_cert(kek_demo_root_cert_pem, kek_demo_root_cert_pem_len, &v->root, e);
    else
        rc = pkg_x509_load_pem(cert_pem, &v->root, e);
    if (rc == KT_OK) {
        if (key_pem == NULL)
            rc = pem_key(kek_demo_root_key_pem, kek_demo_root_key_pem_len, &v->key, e);
        else
            rc = pkg_key_load_pem(key_pem, &v->key, e);
    }
    if (rc == KT_OK && X509_check_private_key(v->root, v->key) != 1)
        rc = kt_fail_ssl(e, KT_EUSAGE, "the vendor key does not belong to the vendor root");
    if (rc == KT_OK) {
        uint8_t have[32], demo[32];
        if ((rc = pkg_cert_spki_sha256(v->root, have, e)) == KT_OK) {
            pkg_demo_root_sha256(demo);
            v->demo = kt_ct_equal(have, demo, 32);
        }
    }
    if (rc != KT_OK)
        kek_vendor_free(v);
    return rc;
}

void kek_vendor_free(kek_vendor *v)
{
    X509_free(v->root);
    EVP_PKEY_free(v->key);
    memset(v, 0, sizeof *v);
}

/* ---- the state folder ------------------------------------------------------------------ */

kt_rc kek_state_path(const char *state, const char *name, char *out, size_t outsz, kt_err *e)
{
    int n = snprintf(out, outsz, "%s/%s", state, name);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "state folder path too long: %s", state);
    return KT_OK;
}

kt_rc kek_state_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                    kt_err *e)
{
    const char *state = ctx;
    char path[PATH_MAX];
    kt_rc rc;
    (void)no;
    (void)card_path;
    (void)is_new;
    if ((rc = kek_state_path(state, KEK_PIN_FILE, path, sizeof path, e)) != KT_OK)
        return rc;
    if ((rc = kt_file_read_secret(path, KT_PIN_MAX, pin, e)) != KT_OK)
        return rc;
    if (pin->len < KT_PIN_MIN_NEW) {
        kt_secbuf_free(pin);
        return kt_fail(e, KT_EFORMAT, "%s: the cloud's card PIN is too short", path);
    }
    return KT_OK;
}

static kt_rc state_string(const json_t *o, const char *key, char *out, size_t outsz, kt_err *e)
{
    return kt_json_copy_string(o, key, "cloud state", 1, out, outsz, e);
}

/* Reads cloud.json: exactly its members, each a non-empty string that fits. */
static kt_rc parse_state(const kt_buf *raw, kek_cloud *c, char world_hex[65], kt_err *e)
{
    static const char *const members[] = {"format",    "region",     "vault", "kid",
                                          "kek_ident", "world_hash", NULL};
    char fmt[64];
    json_t *j = NULL;
    kt_rc rc = kt_json_parse(raw->p, raw->len, KEK_STATE_MAX, &j, e);
    if (rc != KT_OK)
        return rc;
    if ((rc = kt_json_only_keys(j, members, "cloud state", e)) ||
        (rc = state_string(j, "format", fmt, sizeof fmt, e)))
        goto out;
    if (strcmp(fmt, KEK_STATE_FORMAT) != 0) {
        rc = kt_fail(e, KT_EVERSION, "cloud state format '%s' is not %s", fmt, KEK_STATE_FORMAT);
        goto out;
    }
    if ((rc = state_string(j, "region", c->region, sizeof c->region, e)) ||
        (rc = state_string(j, "vault", c->vault, sizeof c->vault, e)) ||
        (rc = state_string(j, "kid", c->kid, sizeof c->kid, e)) ||
        (rc = state_string(j, "kek_ident", c->kek_ident, sizeof c->kek_ident, e)) ||
        (rc = state_string(j, "world_hash", world_hex, 65, e)))
        goto out;
out:
    json_decref(j);
    return rc;
}

kt_rc kek_cloud_open(const char *state, kek_cloud *c, kt_err *e)
{
    char path[PATH_MAX], kmdata[PATH_MAX], world_hex[65];
    kt_buf raw = {0};
    kt_rc rc;

    memset(c, 0, sizeof *c);
    if (strlen(state) >= sizeof c->state)
        return kt_fail(e, KT_EUSAGE, "state folder path too long");
    memcpy(c->state, state, strlen(state) + 1);
    if ((rc = kek_state_path(state, KEK_STATE_FILE, path, sizeof path, e)) != KT_OK)
        return rc;
    rc = kt_file_read(path, KEK_STATE_MAX, &raw, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_ENOENT,
                       "no cloud in %s (%s is missing): create one with `keytransfer-cloud init`",
                       state, path);
    if (rc == KT_OK)
        rc = parse_state(&raw, c, world_hex, e);
    kt_buf_free(&raw);
    if (rc != KT_OK) {
        kt_err_prefix(e, "%s", path);
        return rc;
    }

    if ((rc = kek_state_path(state, "kmdata", kmdata, sizeof kmdata, e)) ||
        (rc = world_paths_init(&c->paths, kmdata, NULL, e)) ||
        (rc = world_module_open(&c->paths, &c->module, e)))
        return rc;
    char have[65];
    kt_hex(have, c->module.info.hash, WORLD_HASH_LEN);
    if (strcmp(have, world_hex) != 0) {
        kek_cloud_close(c);
        return kt_fail(e, KT_EDENIED, "%s names world %s, but the cloud's module serves %s", path,
                       world_hex, have);
    }
    return KT_OK;
}

void kek_cloud_close(kek_cloud *c)
{
    world_module_close(&c->module);
    memset(c, 0, sizeof *c);
}
