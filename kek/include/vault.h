/*
 * vault.h - what the emulated Key Vault and Managed HSM keep beside the HSM's key files: the
 * api-versions they answer, the host names they answer to, the KEKs made by Create Key (import-
 * only RSA-HSM keys inside the emulated HSM), the key versions, and each key's Key Vault
 * metadata (attributes, tags, release policy, key_ops). Used by serve.c and import.c.
 */
#ifndef KT_KEK_VAULT_H
#define KT_KEK_VAULT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kek.h"

/* The created KEKs' application in the cloud world, and the metadata folder in the state. */
#define KEK_APP_VAULT_KEK "vaultkek"
#define KEK_META_DIR      "vault"
#define KEK_META_FORMAT   "keytransfer-cloud-key-metadata/1"
#define KEK_META_MAX      (64 * 1024)
#define KEK_TAGS_MAX      15          /* Key Vault: at most 15 tags */
#define KEK_TAG_NAME_MAX  512         /* characters of a tag name */
#define KEK_TAG_VALUE_MAX 256         /* characters of a tag value */
#define KEK_POLICY_MAX    (10 * 1024) /* bytes of a release policy document */
#define KEK_POLICY_CT     "application/json; charset=utf-8"
#define KEK_VAULT_DOMAIN  "vault.azure.net"
#define KEK_MHSM_DOMAIN   "managedhsm.azure.net"

/* One api-version the emulator answers, with what that version's service takes and returns. */
typedef struct kek_api {
    const char *name; /* "7.4", "7.4-preview.1", ... */
    unsigned level;   /* 70..75 */
    bool preview;
    bool mhsm;       /* Managed HSM serves it (7.2 on) */
    bool skr;        /* secure key release: attributes.exportable, release_policy (7.3 on) */
    bool immutable;  /* release_policy.immutable (7.3 on) */
    const char *doc; /* where it is specified */
} kek_api;

extern const kek_api kek_apis[];
extern const size_t kek_napis;

/* The api-version named s, or NULL. */
const kek_api *kek_api_find(const char *s);

/* The newest stable version (the default of a client that names none). */
const kek_api *kek_api_latest(void);

/* Which service a request's Host names. */
typedef enum kek_host_kind {
    KEK_HOST_LOOPBACK = 0, /* an address or any other name: the emulator's own, as Key Vault */
    KEK_HOST_VAULT,        /* <vault>.vault.azure.net */
    KEK_HOST_MHSM,         /* <vault>.managedhsm.azure.net */
} kek_host_kind;

/*
 * The kind of the Host header value host (NULL: loopback), a port after ':' ignored. For the two
 * Azure domains, *ours says whether the name before the domain is this cloud's vault (case
 * insensitive); elsewhere it is true.
 */
kek_host_kind kek_host_parse(const char *host, const char *vault, bool *ours);

/* The base of the key ids of kind: "https://<vault>.vault.azure.net" or the Managed HSM's. */
void kek_vault_base(const kek_cloud *c, kek_host_kind kind, char *out, size_t outsz);

/* The challenge's resource for kind: "https://vault.azure.net" or "https://managedhsm.azure.net".
 */
const char *kek_host_resource(kek_host_kind kind);

/* The emulated tenant of this cloud: a GUID derived from the vault name (36 characters). */
void kek_tenant_id(const kek_cloud *c, char out[37]);

/* A key's version (32 hex digits): stable for the key as stored. */
void kek_key_version(const world_key_info *info, char out[33]);

/* name lower-cased into out: the ident under which a Key Vault name is stored. KT_EUSAGE when
 * it is longer than WORLD_KEY_IDENT_MAX. */
KT_MUST kt_rc kek_name_ident(const char *name, char *out, size_t outsz, kt_err *e);

/*
 * Creates an import-only KEK (RSA of bits 2048/3072/4096, the ACL ImportUnwrap only) named name
 * inside the emulated HSM, as key vaultkek/<name lower-cased>; KT_EEXIST when a key of that name
 * (imported or KEK) exists. info receives what was stored.
 */
KT_MUST kt_rc kek_vault_create_kek(kek_cloud *c, const char *name, unsigned bits,
                                   world_key_info *info, kt_err *e);

/*
 * Loads the KEK a .byok's kid names: the cloud's own (its kid exactly) or a created one
 * ("https://<vault>.vault.azure.net/keys/<name>/<version>" or the Managed HSM's, with this
 * cloud's vault and the key's version). KT_EDENIED when it names no KEK of this cloud, naming
 * it, or when the KEK's ACL does not allow ImportUnwrap. k: world_key_free.
 */
KT_MUST kt_rc kek_load_kek(kek_cloud *c, const char *kid, world_key *k, kt_err *e);

/* What a stored key is. */
typedef enum kek_stored_kind {
    KEK_STORED_NONE = 0,
    KEK_STORED_IMPORTED, /* imported/<ident> */
    KEK_STORED_KEK,      /* vaultkek/<ident>, made by Create Key */
    KEK_STORED_CLOUD_KEK /* the cloud's own KEK (KEKforBYOK) */
} kek_stored_kind;

/* Looks name up among the imported keys, the created KEKs and the cloud's own KEK; info is
 * filled for a key found (KEK_STORED_NONE: none, rc KT_OK). */
KT_MUST kt_rc kek_vault_lookup(kek_cloud *c, const char *name, kek_stored_kind *kind,
                               world_key_info *info, kt_err *e);

/*
 * A key's Key Vault metadata, state/vault/<ident>.json: {"format", "name", "service", "key_ops",
 * "attributes"
 * {"enabled", "nbf"?, "exp"?, "exportable"}, "tags"?, "release_policy"?}. Written with the
 * careful writer before the key file, so that a key never exists without it (a metadata file
 * without a key is replaced by the next import of that name). kek_meta_read: *out NULL when
 * there is none (a key imported before metadata was kept).
 */
KT_MUST kt_rc kek_meta_write(const kek_cloud *c, const char *ident, json_t *meta, kt_err *e);

/* The metadata's "service" for a key made or imported through host kind: "managedhsm" for the
 * Managed HSM, "vault" otherwise (the key vault and the emulator's own endpoint). */
const char *kek_host_service(kek_host_kind kind);

/* Whether a key whose metadata is meta (NULL: none) is served on host kind: the emulator's own
 * endpoint serves every key, and a key without a "service" (made before it was kept) is in both;
 * otherwise the key vault's keys are not the Managed HSM's, nor the other way round. */
bool kek_meta_serves(const json_t *meta, kek_host_kind kind);
KT_MUST kt_rc kek_meta_read(const kek_cloud *c, const char *ident, json_t **out, kt_err *e);

#endif
