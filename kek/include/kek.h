/*
 * kek.h - the face of kek/: the cloud side, for demos, tests and self-hosted use (docs/design.md
 * §2).
 *
 * A region's emulated cloud HSM is a security world built from world/, like the offline side:
 *   - its module holds a warrant key (ECDSA P-384) certified by the vendor root, and an
 *     attestation key certified by the warrant; both are module-protected keys that may only sign;
 *   - the KEK is a module-protected RSA key whose ACL allows nothing but ImportUnwrap, so it is
 *     never written in plaintext and cannot be exported;
 *   - the KEK package and the world package are JWS documents signed by the attestation key with
 *     the chain [attestation, warrant, vendor root];
 *   - imported keys are stored in the same world, usable but never exportable.
 *
 * The state folder holds the cloud world (kmdata/), its 1-of-1 administrator card and the card's
 * PIN (an emulator keeps its own quorum), the certificates (certs/) and cloud.json.
 */
#ifndef KT_KEK_H
#define KT_KEK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "kt.h"
#include "pkg.h"
#include "world.h"

#define KEK_VAULT_MAX    24 /* Key Vault names: 3..24 of [0-9A-Za-z-], starting with a letter */
#define KEK_NAME_DEFAULT "KEKforBYOK"

/* Regions, as the Azure BYOK toolset lists them. */
extern const char *const kek_regions[];
extern const size_t kek_nregions;

/* True when region is one of kek_regions (exact, upper case). */
bool kek_region_known(const char *region);

/* The vendor a cloud trusts: its root certificate and key. */
typedef struct kek_vendor {
    X509 *root;
    EVP_PKEY *key;
    bool demo; /* the committed DEMO root, whose key anyone has */
} kek_vendor;

/* Loads the vendor root from cert_pem and key_pem files, or, when both are NULL, the DEMO root
 * compiled into the program. The key must match the certificate. */
KT_MUST kt_rc kek_vendor_load(const char *cert_pem, const char *key_pem, kek_vendor *v, kt_err *e);
void kek_vendor_free(kek_vendor *v);

/* What `keytransfer-cloud init` makes. */
typedef struct kek_init_opts {
    const char *region;        /* one of kek_regions */
    const char *out;           /* the download folder: packages, toolset zip, hash table */
    const char *state;         /* the cloud's private state folder (must not hold a cloud yet) */
    const char *vault;         /* Key Vault name; NULL: "keytransfer-demo-<region>" lower case */
    unsigned kek_bits;         /* 2048, 3072 or 4096 */
    const char *verify_script; /* verifykeypackage.py to ship in the zip; NULL: this build's */
    const kek_vendor *vendor;
    kt_progress_fn progress;
    void *progress_ctx;
    kt_txn_report_fn report; /* told what recovery did to an interrupted earlier init */
    void *report_ctx;
} kek_init_opts;

/* The files and facts init produced. */
typedef struct kek_init_result {
    char kid[PKG_KID_MAX + 1];
    uint8_t world_hash[WORLD_HASH_LEN];
    char esn[WORLD_ESN_LEN + 1];
    uint8_t kek_fp[32]; /* SHA-256 of the KEK's SPKI DER */
    unsigned kek_bits;
    char kek_pkg[PATH_MAX], world_pkg[PATH_MAX], zip[PATH_MAX], hashes[PATH_MAX];
    uint8_t zip_sha256[32];
    bool committed; /* the cloud stands (also when a failure after the commit point is reported) */
} kek_init_result;

/*
 * Creates a region's cloud: the cloud world and its module, the warrant, attestation and KEK
 * keys, their certificates, then writes into o->out BYOK-KEK-pkg-<R>-1,
 * BYOK-SecurityWorld-pkg-<R>-1, KeyTransfer-BYOK-Tools-<R>.zip and published-hashes.txt. Refuses
 * a state folder that already holds a cloud and output files that exist (KT_EEXIST). The whole
 * of it is one change of the commit protocol (kt_txn): the state is built in a staged folder
 * beside o->state, and state and downloads appear together or not at all; an interrupted earlier
 * init there is finished or undone first (told to o->report).
 */
KT_MUST kt_rc kek_cloud_init(const kek_init_opts *o, kek_init_result *r, kt_err *e);

/* A cloud opened from its state folder. */
typedef struct kek_cloud {
    char state[PATH_MAX];
    world_paths paths;
    world_module module;
    char region[PKG_REGION_MAX + 1];
    char vault[KEK_VAULT_MAX + 1];
    char kid[PKG_KID_MAX + 1];
    char kek_ident[WORLD_KEY_IDENT_MAX + 1];
} kek_cloud;

/* Opens the cloud's state and its module. */
KT_MUST kt_rc kek_cloud_open(const char *state, kek_cloud *c, kt_err *e);
void kek_cloud_close(kek_cloud *c);

/* What an import produced. */
typedef struct kek_imported {
    world_key_info info;     /* the stored key: type, size or curve, key hash, ... */
    uint8_t fingerprint[32]; /* SHA-256 of the SPKI DER (RSA, EC); the key hash for AES */
} kek_imported;

/*
 * Imports a .byok inside the emulated HSM: parses it strictly, checks that its kid is this
 * cloud's KEK (KT_EDENIED otherwise, naming both), loads the KEK (whose ACL must allow
 * ImportUnwrap), unwraps (RSA-OAEP SHA-1, then AES-KWP), parses the target (PKCS#8 RSA or EC, or
 * a raw AES key of 16, 24 or 32 bytes), checks it is a type and size the cloud accepts, and
 * stores it as key imported/<name lower-cased> with a use-only ACL. An existing name is
 * KT_EEXIST. The plaintext key exists only in secure memory and is wiped.
 */
KT_MUST kt_rc kek_import(kek_cloud *c, const uint8_t *byok, size_t len, const char *name,
                         kek_imported *out, kt_err *e);

#endif
