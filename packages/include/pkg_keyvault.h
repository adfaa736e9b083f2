/*
 * pkg_keyvault.h - packages/: the Key Vault vocabulary (keyvault.c). Part of the folder's face;
 * pkg.h is the index and its conventions hold here.
 */
#ifndef KT_PKG_KEYVAULT_H
#define KT_PKG_KEYVAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"

/* Key operations (JsonWebKeyOperation) a transferred key may be given, one bit each. */
enum {
    PKG_KV_OP_ENCRYPT = 1u << 0,
    PKG_KV_OP_DECRYPT = 1u << 1,
    PKG_KV_OP_SIGN = 1u << 2,
    PKG_KV_OP_VERIFY = 1u << 3,
    PKG_KV_OP_WRAP_KEY = 1u << 4,
    PKG_KV_OP_UNWRAP_KEY = 1u << 5,
};
#define PKG_KV_NOPS 6

/* The Key Vault spelling of one bit ("wrapKey"), NULL for anything else. */
const char *pkg_kv_op_name(unsigned op);

/* The bit of the operation spelled name[0..len-1] exactly, 0 when it is none. */
unsigned pkg_kv_op_parse(const char *name, size_t len);

/* A set in bit order, comma separated ("encrypt,sign"); cut at outsz. */
void pkg_kv_ops_format(unsigned ops, char *out, size_t outsz);

/* A set as a JSON array of names in bit order (json_decref); NULL when out of memory. */
json_t *pkg_kv_ops_json(unsigned ops);

/* The operations each key type takes, which are also the defaults: RSA encrypt, decrypt, sign,
 * verify, wrapKey, unwrapKey; EC sign, verify; AES (oct) encrypt, decrypt, wrapKey, unwrapKey.
 * key_type is "RSA", "EC" or "AES" (the manifest's and world_key_type_name's); 0 otherwise. */
unsigned pkg_kv_ops_for(const char *key_type);

/* The kty of a key type in an HSM (RSA-HSM, EC-HSM, oct-HSM), and back; NULL otherwise. */
const char *pkg_kv_kty_for(const char *key_type);
const char *pkg_kv_type_of_kty(const char *kty);

#endif
