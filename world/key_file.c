/*
 * key_file.c - the key file (docs/formats.md "Key files"): a public header that is the associated
 * data of an XChaCha20-Poly1305 seal, under a subkey of KM, of the private key; built, parsed and
 * opened with every stated fact checked.
 */
#include "world_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* ---------------------------------------------------------------------------------------- */
/* The key file                                                                             */
/* ---------------------------------------------------------------------------------------- */

kt_rc key_file_build(const world_key *k, const world_module *m, kt_wbuf *w, kt_err *e)
{
    const world_key_info *in = &k->info;
    uint8_t acl[WORLD_ACL_ENCODED_MAX], type = (uint8_t)in->type, size[4], nonce[AEAD_NONCE_LEN];
    size_t acl_len;
    uint8_t *sealed = NULL;
    kt_secbuf key = {0};
    kt_rc rc;

    if ((rc = world_acl_encode(&in->acl, acl, &acl_len, e)) != KT_OK)
        return rc;
    if (k->material.len < 1 || k->material.len > KEY_MATERIAL_MAX)
        return kt_fail(e, KT_EUSAGE, "a private key of %zu bytes cannot be sealed",
                       k->material.len);
    size[0] = (uint8_t)(in->bits >> 24);
    size[1] = (uint8_t)(in->bits >> 16);
    size[2] = (uint8_t)(in->bits >> 8);
    size[3] = (uint8_t)in->bits;
    kt_random(nonce, sizeof nonce);

    kt_wbuf_header(w, KEY_MAGIC, WORLD_FORMAT_VERSION);
    kt_wbuf_field(w, KEY_T_WORLD, m->info.hash, WORLD_HASH_LEN);
    kt_wbuf_field(w, KEY_T_APP, in->app, strlen(in->app));
    kt_wbuf_field(w, KEY_T_IDENT, in->ident, strlen(in->ident));
    kt_wbuf_field(w, KEY_T_PLAINNAME, in->plainname, strlen(in->plainname));
    kt_wbuf_field(w, KEY_T_TYPE, &type, 1);
    kt_wbuf_field(w, KEY_T_SIZE, size, sizeof size);
    kt_wbuf_field(w, KEY_T_CURVE, in->curve, strlen(in->curve));
    kt_wbuf_field_u64(w, KEY_T_CREATED, in->created);
    kt_wbuf_field(w, KEY_T_SPKI, in->spki, in->spki_len);
    kt_wbuf_field(w, KEY_T_HASH, in->key_hash, WORLD_HASH_LEN);
    kt_wbuf_field(w, KEY_T_ACL, acl, acl_len);
    kt_wbuf_field(w, KEY_T_ACL_SIG, in->acl_sig, in->acl_signed ? WORLD_ACL_SIG_LEN : 0);
    kt_wbuf_field(w, KEY_T_NONCE, nonce, sizeof nonce);
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK)
        return rc;

    /* The seal: everything written so far is its associated data. */
    size_t sealed_len = k->material.len + AEAD_TAG_LEN;
    if ((sealed = malloc(sealed_len)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if ((rc = world_km_subkey(&m->km, WORLD_KM_KEY_FILES, &key, e)) != KT_OK)
        goto out;
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, k->material.p, k->material.len, w->p,
                                               w->len, NULL, nonce, key.p);
    kt_wbuf_field(w, KEY_T_SEALED, sealed, sealed_len);
    if ((rc = kt_wbuf_finish(w, e)) != KT_OK)
        goto out;
    if (w->len > WORLD_KEY_FILE_MAX)
        rc = kt_fail(e, KT_ETOOBIG, "the key file would be %zu bytes; the limit is %d", w->len,
                     WORLD_KEY_FILE_MAX);
out:
    kt_secbuf_free(&key);
    free(sealed); /* ciphertext: public */
    return rc;
}

/* A header string field that must pass a name check; check's KT_EUSAGE becomes KT_EFORMAT. */
static kt_rc name_field(kt_rbuf *r, uint16_t tag, char *out, size_t max,
                        kt_rc (*check)(const char *, kt_err *), kt_err *e)
{
    kt_err why;
    kt_rc rc = kt_rbuf_field_str(r, tag, out, max, e);
    if (rc == KT_OK && check(out, &why) != KT_OK)
        rc = kt_fail(e, KT_EFORMAT, "key file: %s", why.msg);
    return rc;
}

/* Checks a stated SPKI: DER of one supported public key, canonical, agreeing with the header. */
static kt_rc spki_check(const world_key_info *in, kt_err *e)
{
    uint8_t again[WORLD_KEY_SPKI_MAX];
    size_t again_len = 0;
    key_facts f;
    kt_err inner = {0};
    kt_rc rc;
    EVP_PKEY *pkey = NULL;
    if (kt_spki_decode(in->spki, in->spki_len, &pkey, &inner) != KT_OK)
        return kt_fail(e, KT_EFORMAT, "key file: the public key is not one SubjectPublicKeyInfo");
    if ((rc = key_describe_pkey(pkey, "the key file's public key", &f, e)) == KT_OK &&
        (rc = key_pkey_spki(pkey, again, &again_len, e)) == KT_OK) {
        if (f.type != in->type || f.bits != in->bits || strcmp(f.curve, in->curve) != 0)
            rc = kt_fail(e, KT_EFORMAT,
                         "key file: the public key is %s-%u%s%s, the header says "
                         "%s-%u%s%s",
                         world_key_type_name(f.type), f.bits, f.curve[0] ? " " : "", f.curve,
                         world_key_type_name(in->type), in->bits, in->curve[0] ? " " : "",
                         in->curve);
        else if (again_len != in->spki_len || memcmp(again, in->spki, again_len) != 0)
            rc = kt_fail(e, KT_EFORMAT, "key file: the public key is not in canonical DER");
    }
    if (rc == KT_EDENIED) /* describe_pkey's refusals: here a malformed file */
        rc = kt_fail(e, KT_EFORMAT, "key file: %s", e != NULL ? e->msg : "");
    EVP_PKEY_free(pkey);
    return rc;
}

kt_rc key_file_parse(const uint8_t *raw, size_t len, key_file *k, kt_err *e)
{
    world_key_info *in = &k->info;
    kt_rbuf r;
    uint16_t version;
    uint8_t type, size[4];
    const uint8_t *v;
    size_t vlen;
    kt_rc rc;

    memset(k, 0, sizeof *k);
    k->raw = raw;
    k->len = len;
    if (len > WORLD_KEY_FILE_MAX)
        return kt_fail(e, KT_ETOOBIG, "key file: %zu bytes; the limit is %d", len,
                       WORLD_KEY_FILE_MAX);
    kt_rbuf_init(&r, raw, len, "key file");
    if ((rc = kt_rbuf_header(&r, KEY_MAGIC, &version, e)) != KT_OK)
        return rc;
    if (version != WORLD_FORMAT_VERSION)
        return kt_fail(e, KT_EVERSION, "key file format version %u is not supported (this is %u)",
                       version, WORLD_FORMAT_VERSION);
    if ((rc = kt_rbuf_field_fixed(&r, KEY_T_WORLD, in->world_hash, WORLD_HASH_LEN, e)) ||
        (rc = name_field(&r, KEY_T_APP, in->app, WORLD_KEY_APP_MAX, world_key_check_app, e)) ||
        (rc = name_field(&r, KEY_T_IDENT, in->ident, WORLD_KEY_IDENT_MAX, world_key_check_ident,
                         e)) ||
        (rc = kt_rbuf_field_str(&r, KEY_T_PLAINNAME, in->plainname, WORLD_KEY_PLAINNAME_MAX, e)) ||
        (rc = kt_rbuf_field_fixed(&r, KEY_T_TYPE, &type, 1, e)) ||
        (rc = kt_rbuf_field_fixed(&r, KEY_T_SIZE, size, sizeof size, e)))
        return rc;
    if (type != WORLD_KEY_RSA && type != WORLD_KEY_EC && type != WORLD_KEY_AES)
        return kt_fail(e, KT_EFORMAT, "key file: unknown key type %u", type);
    in->type = (world_key_type)type;
    uint32_t bits = kt_be32(size);
    in->bits = bits;

    if ((rc = kt_rbuf_field(&r, KEY_T_CURVE, 0, WORLD_KEY_CURVE_MAX, &v, &vlen, e)) != KT_OK)
        return rc;
    for (size_t i = 0; i < vlen; i++)
        if (v[i] < 0x21 || v[i] > 0x7e)
            return kt_fail(e, KT_EFORMAT, "key file: the curve name holds byte 0x%02x", v[i]);
    memcpy(in->curve, v, vlen);
    in->curve[vlen] = '\0';
    if ((rc = kt_rbuf_field_u64(&r, KEY_T_CREATED, &in->created, e)) ||
        (rc = kt_rbuf_field(&r, KEY_T_SPKI, 0, WORLD_KEY_SPKI_MAX, &v, &vlen, e)))
        return rc;
    if (vlen > 0)
        memcpy(in->spki, v, vlen);
    in->spki_len = vlen;
    if ((rc = kt_rbuf_field_fixed(&r, KEY_T_HASH, in->key_hash, WORLD_HASH_LEN, e)) ||
        (rc = kt_rbuf_field(&r, KEY_T_ACL, 1, WORLD_ACL_ENCODED_MAX, &v, &vlen, e)))
        return rc;
    if ((rc = world_acl_decode(v, vlen, &in->acl, e)) != KT_OK) {
        kt_err_prefix(e, "key file");
        return rc;
    }
    if ((rc = kt_rbuf_field(&r, KEY_T_ACL_SIG, 0, WORLD_ACL_SIG_LEN, &v, &vlen, e)) != KT_OK)
        return rc;
    if (vlen != 0 && vlen != WORLD_ACL_SIG_LEN)
        return kt_fail(e, KT_EFORMAT, "key file: the ACL signature is %zu bytes; it is empty or %d",
                       vlen, WORLD_ACL_SIG_LEN);
    in->acl_signed = vlen == WORLD_ACL_SIG_LEN;
    if (in->acl_signed)
        memcpy(in->acl_sig, v, WORLD_ACL_SIG_LEN);
    if ((rc = kt_rbuf_field_fixed(&r, KEY_T_NONCE, k->nonce, AEAD_NONCE_LEN, e)) != KT_OK)
        return rc;
    k->aad_len = r.off;
    if ((rc = kt_rbuf_field(&r, KEY_T_SEALED, AEAD_TAG_LEN + 1, AEAD_TAG_LEN + KEY_MATERIAL_MAX,
                            &k->sealed, &k->sealed_len, e)) ||
        (rc = kt_rbuf_end(&r, e)))
        return rc;

    /* The fields agree with each other. */
    switch (in->type) {
    case WORLD_KEY_RSA:
        if (!key_rsa_size_ok(bits))
            return kt_fail(e, KT_EFORMAT, "key file: RSA size %u bits is not 2048, 3072 or 4096",
                           (unsigned)bits);
        if (in->curve[0] != '\0')
            return kt_fail(e, KT_EFORMAT, "key file: an RSA key names a curve");
        break;
    case WORLD_KEY_EC: {
        const kt_curve *c = kt_curve_find(in->curve);
        if (c == NULL || strcmp(c->name, in->curve) != 0)
            return kt_fail(e, KT_EFORMAT, "key file: curve '%s' is not one of " KT_CURVES_SUPPORTED,
                           in->curve);
        if (c->bits != bits)
            return kt_fail(e, KT_EFORMAT, "key file: curve %s is %u bits, not %u", in->curve,
                           c->bits, (unsigned)bits);
        break;
    }
    case WORLD_KEY_AES:
        if (!key_aes_size_ok(bits))
            return kt_fail(e, KT_EFORMAT, "key file: AES size %u bits is not 128, 192 or 256",
                           (unsigned)bits);
        if (in->curve[0] != '\0' || in->spki_len != 0)
            return kt_fail(e, KT_EFORMAT, "key file: an AES key names a curve or a public key");
        if (k->sealed_len != bits / 8 + AEAD_TAG_LEN)
            return kt_fail(e, KT_EFORMAT, "key file: the sealed AES key is %zu bytes, not %u",
                           k->sealed_len - AEAD_TAG_LEN, (unsigned)bits / 8);
        return KT_OK;
    }
    if (in->spki_len == 0)
        return kt_fail(e, KT_EFORMAT, "key file: an %s key without its public key",
                       world_key_type_name(in->type));
    uint8_t hash[WORLD_HASH_LEN];
    kt_sha256(hash, in->spki, in->spki_len);
    if (memcmp(hash, in->key_hash, WORLD_HASH_LEN) != 0)
        return kt_fail(e, KT_EFORMAT, "key file: the key hash is not the public key's");
    return spki_check(in, e);
}

kt_rc key_file_open(const key_file *k, const world_module *m, world_key *out, kt_err *e)
{
    const world_key_info *in = &k->info;
    const char *path = in->path[0] != '\0' ? in->path : "(unnamed)";
    kt_secbuf key = {0};
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if (!kt_ct_equal(in->world_hash, m->info.hash, WORLD_HASH_LEN)) {
        char have[2 * WORLD_HASH_LEN + 1], want[2 * WORLD_HASH_LEN + 1];
        kt_hex(have, in->world_hash, WORLD_HASH_LEN);
        kt_hex(want, m->info.hash, WORLD_HASH_LEN);
        return kt_fail(e, KT_EDENIED, "key file %s belongs to world %s, not to this world %s", path,
                       have, want);
    }
    if ((rc = world_km_subkey(&m->km, WORLD_KM_KEY_FILES, &key, e)) != KT_OK ||
        (rc = kt_secbuf_alloc(&out->material, k->sealed_len - AEAD_TAG_LEN, e)) != KT_OK)
        goto out;
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->material.p, &mlen, NULL, k->sealed,
                                                   k->sealed_len, k->raw, k->aad_len, k->nonce,
                                                   key.p) != 0 ||
        mlen != out->material.len) {
        rc = kt_fail(e, KT_EDENIED,
                     "key file %s is damaged or altered: its seal does not open with this "
                     "module's key",
                     path);
        goto out;
    }
    if ((rc = key_material_matches(in, &out->material, &out->pkey, e)) != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    if (in->acl_signed && (rc = world_acl_verify(&m->info, in->app, in->ident, in->key_hash,
                                                 &in->acl, in->acl_sig, e)) != KT_OK) {
        kt_err_prefix(e, "key file %s", path);
        goto out;
    }
    out->info = *in;
out:
    kt_secbuf_free(&key);
    if (rc != KT_OK)
        world_key_free(out);
    return rc;
}
