/*
 * keyvault.c - the Key Vault vocabulary both ends speak (the Key Vault REST API, "Import Key",
 * JsonWebKeyOperation and JsonWebKeyType): the names of the key operations, the operations each
 * of our key types takes, and the kty of each key type in an HSM. keytransfer-online writes them,
 * the emulator in kek/ reads them; both through here, so they cannot drift apart.
 */
#include "packages_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const op_names[PKG_KV_NOPS] = {"encrypt", "decrypt", "sign",
                                                  "verify",  "wrapKey", "unwrapKey"};

const char *pkg_kv_op_name(unsigned op)
{
    for (size_t i = 0; i < PKG_KV_NOPS; i++)
        if (op == 1u << i)
            return op_names[i];
    return NULL;
}

unsigned pkg_kv_op_parse(const char *name, size_t len)
{
    for (size_t i = 0; name != NULL && i < PKG_KV_NOPS; i++)
        if (strlen(op_names[i]) == len && memcmp(name, op_names[i], len) == 0)
            return 1u << i;
    return 0;
}

void pkg_kv_ops_format(unsigned ops, char *out, size_t outsz)
{
    size_t used = 0;

    if (outsz == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < PKG_KV_NOPS; i++) {
        if (!(ops & (1u << i)))
            continue;
        int n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "", op_names[i]);
        if (n < 0 || (size_t)n >= outsz - used)
            return;
        used += (size_t)n;
    }
}

json_t *pkg_kv_ops_json(unsigned ops)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < PKG_KV_NOPS; i++)
        if ((ops & (1u << i)) && json_array_append_new(a, json_string(op_names[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

unsigned pkg_kv_ops_for(const char *key_type)
{
    if (key_type == NULL)
        return 0;
    if (strcmp(key_type, "RSA") == 0)
        return PKG_KV_OP_ENCRYPT | PKG_KV_OP_DECRYPT | PKG_KV_OP_SIGN | PKG_KV_OP_VERIFY |
               PKG_KV_OP_WRAP_KEY | PKG_KV_OP_UNWRAP_KEY;
    if (strcmp(key_type, "EC") == 0)
        return PKG_KV_OP_SIGN | PKG_KV_OP_VERIFY;
    if (strcmp(key_type, "AES") == 0)
        return PKG_KV_OP_ENCRYPT | PKG_KV_OP_DECRYPT | PKG_KV_OP_WRAP_KEY | PKG_KV_OP_UNWRAP_KEY;
    return 0;
}

static const struct {
    const char *type, *kty;
} ktys[] = {{"RSA", "RSA-HSM"}, {"EC", "EC-HSM"}, {"AES", "oct-HSM"}};

const char *pkg_kv_kty_for(const char *key_type)
{
    for (size_t i = 0; key_type != NULL && i < sizeof ktys / sizeof ktys[0]; i++)
        if (strcmp(key_type, ktys[i].type) == 0)
            return ktys[i].kty;
    return NULL;
}

const char *pkg_kv_type_of_kty(const char *kty)
{
    for (size_t i = 0; kty != NULL && i < sizeof ktys / sizeof ktys[0]; i++)
        if (strcmp(kty, ktys[i].kty) == 0)
            return ktys[i].type;
    return NULL;
}
