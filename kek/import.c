/*
 * import.c - the cloud HSM's side of a transfer: open a .byok with the KEK inside the emulated
 * module and store the key it carries. The unwrapped key exists only in secure memory.
 */
#include "kek_internal.h"
#include "vault.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * Which kind of key the unwrapped bytes are: PKCS#8 of an RSA or EC key, else a raw AES key.
 * world_key_describe then applies the rules every key of a world obeys (RSA 2048/3072/4096, the
 * four curves, AES 128/192/256), which are the sizes Key Vault's RSA-HSM, EC-HSM and oct-HSM take.
 */
static kt_rc target_type(const kt_secbuf *target, world_key_type *type, kt_err *e)
{
    EVP_PKEY *pkey = NULL;
    kt_err pkcs8_err;
    if (kt_pkcs8_decode(target->p, target->len, &pkey, &pkcs8_err) == KT_OK) {
        bool rsa = EVP_PKEY_is_a(pkey, "RSA"), ec = EVP_PKEY_is_a(pkey, "EC");
        EVP_PKEY_free(pkey);
        if (!rsa && !ec)
            return kt_fail(e, KT_EDENIED, "the cloud accepts RSA, EC and AES keys only");
        *type = rsa ? WORLD_KEY_RSA : WORLD_KEY_EC;
        return KT_OK;
    }
    if (target->len != 16 && target->len != 24 && target->len != 32)
        return kt_fail(e, KT_EFORMAT,
                       "the unwrapped key is neither PKCS#8 (%s) nor a raw AES key of 16, 24 or "
                       "32 bytes (it has %zu)",
                       pkcs8_err.msg, target->len);
    *type = WORLD_KEY_AES;
    return KT_OK;
}

kt_rc kek_import(kek_cloud *c, const uint8_t *byok, size_t len, const char *name, kek_imported *out,
                 kt_err *e)
{
    pkg_byok b;
    world_key kek = {0}, k = {0};
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if ((rc = pkg_key_name_check("key name", name, e)) != KT_OK)
        return rc;
    kek_stored_kind kind;
    if ((rc = kek_vault_lookup(c, name, &kind, &out->info, e)) != KT_OK)
        return rc;
    if (kind == KEK_STORED_KEK || kind == KEK_STORED_CLOUD_KEK)
        return kt_fail(e, KT_EEXIST, "%s is the name of a KEK of this vault", name);
    memset(&out->info, 0, sizeof out->info);
    if ((rc = pkg_byok_parse(byok, len, &b, e)) != KT_OK)
        return rc;
    /* Inside the module: the KEK the kid names (the cloud's own or one made by Create Key) may
     * do nothing but unwrap an incoming package. */
    if ((rc = kek_load_kek(c, b.kid, &kek, e)) != KT_OK)
        goto out;
    if ((rc = pkg_rsa_aes_unwrap(kek.pkey, PKG_OAEP_SHA1, b.blob.p, b.blob.len, &k.material, e)))
        goto out;
    world_key_type type = WORLD_KEY_AES; /* set by target_type */
    if ((rc = target_type(&k.material, &type, e)) || (rc = world_key_describe(&k, type, e)))
        goto out;

    /* Stored as a usable, never exportable key of the cloud world. */
    world_acl_default(k.info.type, &k.info.acl);
    k.info.acl.groups[0].actions &= ~(uint32_t)(WORLD_ACT_EXPORT_WRAPPED | WORLD_ACT_REDUCE_ACL);
    snprintf(k.info.app, sizeof k.info.app, "%s", KEK_APP_IMPORTED);
    for (size_t i = 0; name[i] && i < WORLD_KEY_IDENT_MAX; i++)
        k.info.ident[i] = (char)tolower((unsigned char)name[i]);
    snprintf(k.info.plainname, sizeof k.info.plainname, "%s", name);
    if (strlen(name) > WORLD_KEY_IDENT_MAX) {
        rc = kt_fail(e, KT_EUSAGE, "key name '%s' is longer than %d characters", name,
                     WORLD_KEY_IDENT_MAX);
        goto out;
    }
    k.info.created = (uint64_t)time(NULL);
    if ((rc = world_key_save(&c->paths, &c->module, &k, e)) != KT_OK)
        goto out;
    out->info = k.info;
    if (k.info.type == WORLD_KEY_AES)
        memcpy(out->fingerprint, k.info.key_hash, 32);
    else
        kt_sha256(out->fingerprint, k.info.spki, k.info.spki_len);
out:
    world_key_free(&kek);
    world_key_free(&k);
    pkg_byok_free(&b);
    return rc;
}
