/*
 * transfer.h - the face of the transfer step (docs/design.md §1 steps 7 and 8, §3): reduce a key's
 * ACL with the administrator quorum so that it may go to one KEK only, then wrap it for that KEK.
 * It drives world/ (keys, ACLs, the quorum), verify/ (the KEK and world packages) and packages/
 * (CKM_RSA_AES_KEY_WRAP, the .byok, the manifest). The `keytransfer modify-acls` and `keytransfer
 * package` commands are thin shells around transfer_reduce and transfer_package.
 *
 *   key_simple_<ident>     the key as generated or imported: its default ACL allows ReduceACL and
 *                          ExportWrapped, unbound. Never changed by the transfer step: the backup.
 *   key_xferacld_<ident>   the same key (same material, names, creation time) whose ACL is
 *                          exactly one group {ExportWrapped, kek = F, world = W, kid = K} (an
 *                          attested KEK) or {ExportWrapped, kek = F[, kid = K]} (a KEK the
 *                          custodian accepted by its fingerprint), signed by KNSO for
 *                          xferacld/<ident>. Only this copy is ever packaged, and only for a KEK
 *                          with fingerprint F named K (in world W).
 *
 * Where the KEK comes from (transfer_kek):
 *   attested    -k/-w: both vendor packages pass every check of verify/; F is the SHA-256 of the
 *               KEK's SubjectPublicKeyInfo DER, K its kid and W the target world hash they state.
 *               Packages that chain to the DEMO root (whose private key is public, so anyone can
 *               forge them for a KEK of their own) are refused unless the caller says demo; a
 *               build with another root never takes them, nor the demo flag.
 *   unattested  --kek-pem: a bare public key (what the clouds hand out today). Nothing vouches for
 *               it, so the custodian must confirm its fingerprint F out of band and repeat it on
 *               the command line; there is no world to bind; K is --kid, when given.
 *
 * The administrator quorum approves an informed request: transfer_reduce runs every check, then
 * hands everything the cards will sign for (transfer_approval) to the caller's approve callback,
 * which shows it and asks, and only then reads the first card.
 *
 * Conventions as everywhere (docs/design.md §6): every fallible function returns a kt_rc and fills
 * the caller's kt_err once; nothing prints or exits. Private key material stays in the world_key's
 * sodium buffer; the ephemeral AES key lives and dies inside pkg_rsa_aes_wrap. Outputs are
 * cleared on entry.
 */
#ifndef KT_TRANSFER_H
#define KT_TRANSFER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "kt.h"
#include "pkg.h"
#include "world.h"

/* The app of a key whose ACL has been reduced for transfer (nShield's key_xferacld_<ident>). */
#define TRANSFER_APP "xferacld"

/* Where a package goes. */
typedef enum transfer_target {
    TRANSFER_AZURE = 1, /* Azure Key Vault / Managed HSM: the .byok JSON, OAEP SHA-1 */
    TRANSFER_AWS = 2,   /* AWS KMS RSA_AES_KEY_WRAP_SHA_256 (or _SHA_1): the raw blob */
    TRANSFER_GCP = 3,   /* Google Cloud KMS RSA_OAEP_{3072,4096}_SHA256_AES_256 (or _SHA1_): raw */
} transfer_target;

/* "azure", "aws", "gcp" (what the manifest states); "?" for anything else. */
const char *transfer_target_name(transfer_target t);

/* Parses "azure", "aws" or "gcp" (exact, lower case); anything else is KT_EUSAGE naming them. */
KT_MUST kt_rc transfer_target_parse(const char *s, transfer_target *t, kt_err *e);

/* The OAEP hash a target uses when none is asked for: SHA-1 for azure, SHA-256 for aws and gcp. */
pkg_oaep_hash transfer_default_hash(transfer_target t);

/*
 * Checks a target/hash pair: azure takes SHA-1 only (the .byok's CKM_RSA_AES_KEY_WRAP is SHA-1 by
 * definition); aws and gcp take either. KT_EUSAGE otherwise.
 */
KT_MUST kt_rc transfer_check_hash(transfer_target t, pkg_oaep_hash h, kt_err *e);

/* The name of the import scheme in the target's own documentation, for people: "AWS KMS
 * RSA_AES_KEY_WRAP_SHA_256", "Google Cloud KMS RSA_OAEP_3072_SHA256_AES_256", ... */
const char *transfer_scheme_name(transfer_target t, pkg_oaep_hash h, unsigned kek_bits);

/*
 * Checks a package name (the Key Vault key name the package is for, which also shapes the file
 * names): 1..PKG_KEY_NAME_MAX characters of [0-9A-Za-z-]. KT_EUSAGE naming the rule.
 */
KT_MUST kt_rc transfer_check_name(const char *name, kt_err *e);

_Static_assert(PKG_KID_MAX <= WORLD_ACL_KID_MAX, "an ACL must be able to bind any kid");

/* The KEK a transfer is for, and how much is known about it. */
typedef struct transfer_kek {
    EVP_PKEY *key;                         /* the KEK's RSA public key (owned; transfer_kek_free) */
    unsigned bits;                         /* 2048, 3072 or 4096 */
    uint8_t fp[32];                        /* SHA-256 of its SubjectPublicKeyInfo DER */
    char kid[PKG_KID_MAX + 1];             /* its key identifier; may be "" for an unattested KEK */
    bool attested;                         /* it came in packages that verify/ accepted */
    bool root_is_demo;                     /* attested by the DEMO root (accepted with demo only) */
    char root_name[PKG_ROOT_NAME_MAX + 1]; /* attested: PKG_ROOT_NAME_DEMO, or the vendor root's
                                              organizationName (else commonName), printable */
    uint8_t root_sha256[32];               /* attested: SHA-256 of the root's SPKI DER */
    char region[PKG_REGION_MAX + 1];       /* attested: the region the packages state */
    uint8_t world_hash[WORLD_HASH_LEN];    /* the target world (attested only; zero otherwise) */
    pkg_aws_params *aws; /* --aws-params: the AWS import parameters (owned), else NULL */
    pkg_gcp_job *gcp;    /* --import-job: the Cloud KMS import job (owned), else NULL */
} transfer_kek;

/*
 * The attested path: reads the KEK package and the world package once, verifies those bytes
 * (verify_packages at time now) and takes the KEK, its kid, fingerprint, region, target world and
 * the root that vouched from them. A file that cannot be read keeps its own code (KT_ENOENT,
 * KT_EIO, KT_ETOOBIG); a failed check is its code (KT_EDENIED, or KT_EFORMAT and kin for a
 * malformed package) with "the KEK and world packages do not verify: <check>: <why>".
 * Fail closed on the DEMO root: packages that verify against it are KT_EDENIED unless demo is
 * true, saying why; and demo in a build whose root is not the DEMO root is KT_EDENIED before
 * anything is read (such a build takes no DEMO package at all). k is cleared first; free it with
 * transfer_kek_free on every path.
 */
KT_MUST kt_rc transfer_kek_from_packages(const char *kek_pkg, const char *world_pkg, uint64_t now,
                                         bool demo, transfer_kek *k, kt_err *e);

/*
 * The unattested path: loads an RSA public key (PEM or DER SubjectPublicKeyInfo) of 2048, 3072 or
 * 4096 bits with an odd public exponent of at least 3, and computes its fingerprint. kid (may be
 * NULL or "") must have the Key Vault key URL shape (pkg_kid_check) when given. accept is what the
 * custodian typed after --accept-unattested-kek: the fingerprint as 64 hex digits in either case.
 * When accept is NULL or differs, KT_EDENIED with the fingerprint in the message, so it can be
 * compared out of band; in that case k->fp still holds the fingerprint (k->key is freed).
 */
KT_MUST kt_rc transfer_kek_from_pem(const char *pem_path, const char *kid, const char *accept,
                                    transfer_kek *k, kt_err *e);

/* Where the command line says the KEK comes from: the two packages, or a PEM with its kid and
 * the custodian's acceptance. Unused members are NULL. */
typedef struct transfer_kek_source {
    const char *kek_package, *world_package; /* -k, -w */
    const char *kek_pem, *kid, *accept;      /* --kek-pem, --kid, --accept-unattested-kek */
    const char *aws_params, *import_job;     /* --aws-params, --import-job (cloud.c) */
    bool demo; /* --demo: packages attested by the DEMO root are taken (demos and tests only) */
} transfer_kek_source;

/*
 * Picks the path from s and runs it: transfer_kek_from_packages when -k and -w are given,
 * transfer_kek_from_pem when --kek-pem is. Both, neither, -k without -w, or --kid and
 * --accept-unattested-kek with the packages are KT_EUSAGE saying what to give; demo in a build
 * whose root is not the DEMO root is KT_EDENIED whatever the path.
 */
KT_MUST kt_rc transfer_kek_open(const transfer_kek_source *s, uint64_t now, transfer_kek *k,
                                kt_err *e);

/*
 * The custodian's acceptance of an unattested KEK (what --kek-pem, --aws-params and --import-job
 * share): checks that key (taken over: freed on failure) is an RSA key of 2048, 3072 or 4096 bits
 * with an odd exponent of at least 3, sets k->key, k->bits and k->fp, and compares accept (64 hex
 * digits in either case) with the fingerprint. what names the source in messages. KT_EDENIED
 * with the fingerprint when accept is NULL or differs (k->fp still set, k->key freed).
 */
KT_MUST kt_rc transfer_kek_accept(const char *what, EVP_PKEY *key, const char *accept,
                                  transfer_kek *k, kt_err *e);

/*
 * The clouds' own import parameters (cloud.c), unattested like --kek-pem (nothing vouches that
 * the wrapping key lives in the cloud's HSM, so the custodian accepts its fingerprint):
 *   AWS   the JSON `aws kms get-parameters-for-import` printed (pkg_aws_params_parse): refused
 *         (KT_EDENIED, naming the time) once ParametersValidTo is not after now.
 *   GCP   the JSON `gcloud kms import-jobs describe --format json` printed (pkg_gcp_job_parse):
 *         refused unless its state is ACTIVE and its expireTime, when given, is after now.
 * k->aws or k->gcp keeps the parsed parameters for transfer_package. k is cleared first.
 */
KT_MUST kt_rc transfer_kek_from_aws_params(const char *path, const char *accept, uint64_t now,
                                           transfer_kek *k, kt_err *e);
KT_MUST kt_rc transfer_kek_from_import_job(const char *path, const char *accept, uint64_t now,
                                           transfer_kek *k, kt_err *e);

/*
 * The reduced records of a key: key_xferacld_<ident> (the first, nShield's name) and one
 * key_xferacld<F16>_<ident> for each further KEK, F16 the first 16 hex digits of its fingerprint,
 * so that a key reduced for several KEKs (a rotated Azure KEK, fresh AWS parameters) keeps one
 * record per KEK side by side. transfer_record_app writes the app for a KEK fingerprint into out
 * (WORLD_KEY_APP_MAX + 1 bytes); transfer_is_record_app says whether an app is one of these.
 */
void transfer_record_app(const uint8_t fp[32], char *out, size_t outsz);
bool transfer_is_record_app(const char *app);

/* The reduced records of key ident (every key_<record app>_<ident> that loads and whose ACL is
 * signed), sorted by app: *out is a heap array (free()) of *n entries, NULL when there is none. */
KT_MUST kt_rc transfer_records(const world_paths *p, const world_module *m, const char *ident,
                               world_key_info **out, size_t *n, kt_err *e);

/* Frees k->key and the cloud parameters; leaves k cleared. Safe on a cleared kek. */
void transfer_kek_free(transfer_kek *k);

/*
 * The ACL a key gets for a transfer to k: exactly one group, ExportWrapped, bound to k->fp, for
 * an attested KEK to k->world_hash, and to k->kid when there is one.
 */
void transfer_reduced_acl(const transfer_kek *k, world_acl *acl);

/*
 * True when acl is exactly transfer_reduced_acl(k): one group, actions exactly ExportWrapped,
 * the KEK binding equal to k->fp, the world binding present and equal to k->world_hash exactly
 * when k is attested, the kid binding present and equal to k->kid exactly when k has a kid. When
 * false and why is not NULL, why (at least 1200 bytes, to name two kids) says what differs.
 */
bool transfer_acl_is_for(const world_acl *acl, const transfer_kek *k, char *why, size_t whysz);

/* What the administrator quorum is asked to approve, all of it checked already. */
typedef struct transfer_approval {
    const world_key_info *key; /* the source key, authenticated by its seal */
    const transfer_kek *kek;   /* where the key may go */
    const world_acl *acl;      /* the ACL KNSO will sign for key_<app>_<ident> */
    const char *app;           /* the record's app: TRANSFER_APP, or transfer_record_app's */
} transfer_approval;

/*
 * Asked once by transfer_reduce, after every check and before the first card is read. KT_OK
 * approves; any other code (e filled) stops transfer_reduce with it, before any PIN is asked and
 * with nothing written.
 */
typedef kt_rc (*transfer_approve_fn)(void *ctx, const transfer_approval *a, kt_err *e);

/* Room for transfer_approval_format, whatever the kid and names. */
#define TRANSFER_APPROVAL_TEXT_MAX 4096

/*
 * The approval for people, one fact a line, every line ending in '\n': the key (app/ident, plain
 * name, type and size or curve, public key SHA-256 or AES key hash, its world), the KEK (kid,
 * fingerprint and size, attested by which root - "the DEMO root" with a warning, a vendor root by
 * name and hash - or UNATTESTED), the target world and region, the new ACL and the file it goes
 * to. out: TRANSFER_APPROVAL_TEXT_MAX bytes.
 */
void transfer_approval_format(const transfer_approval *a, char *out, size_t outsz);

/* What transfer_reduce works on. */
typedef struct transfer_reduce_opts {
    const char *app;          /* the source key's app; NULL: WORLD_KEY_APP_DEFAULT */
    const char *ident;        /* required */
    const char *const *cards; /* the administrator cards offered */
    size_t ncards;
    world_pin_fn pin; /* asked once per card, in the order given */
    void *pin_ctx;
    transfer_approve_fn approve; /* required: shows the request and asks (NULL is refused) */
    void *approve_ctx;
} transfer_reduce_opts;

/*
 * modify-acls: loads key_<app>_<ident> with m (the opened module of p's world), checks that its
 * ACL allows ReduceACL and ExportWrapped to k (world_acl_allows_to with k's fingerprint, kid and,
 * when attested, world), that the reduced ACL is a subset of it (world_acl_is_subset) and that
 * key_xferacld_<ident> does not exist yet - all before any card is read, so nobody types a PIN
 * for a request that will be refused. Then asks o->approve with everything the cards approve
 * (no approve callback is KT_EUSAGE: nobody approves blind). Then opens the quorum
 * (world_admin_open: fewer than K cards is KT_EQUORUM, a wrong PIN KT_EPIN), checks that it is
 * m's world, signs the reduced ACL with KNSO for xferacld/<ident> and writes key_xferacld_<ident>
 * (world_key_save: same material, plainname and creation time). Nothing is written unless every
 * step succeeded; the source key file is never touched. out (optional) receives the new key's
 * info. KNSO and KM are wiped before returning.
 */
KT_MUST kt_rc transfer_reduce(const world_paths *p, const world_module *m, const transfer_kek *k,
                              const transfer_reduce_opts *o, world_key_info *out, kt_err *e);

/*
 * The checks of transfer_reduce for one key, before any card is read: app (NULL: the default)
 * is not the reduced copy's, no record for k stands yet (rec_app receives the app of the record
 * to write: xferacld, or transfer_record_app's beside an earlier one), key_<app>_<ident> loads with
 * m and its ACL allows ReduceACL and ExportWrapped to k, and the reduced ACL is a subset of it. On
 * KT_OK *key holds the loaded source key (world_key_free it) and *acl the ACL the quorum will
 * sign; on a failure *key is freed. A batch (batch.c) runs this for every key first.
 */
KT_MUST kt_rc transfer_reduce_check(const world_paths *p, const world_module *m,
                                    const transfer_kek *k, const char *app, const char *ident,
                                    world_key *key, world_acl *acl,
                                    char rec_app[WORLD_KEY_APP_MAX + 1], kt_err *e);

/*
 * The rest of transfer_reduce with the opened quorum admin: checks that it is m's world, signs
 * acl with KNSO for rec_app/<ident> and writes key_<rec_app>_<ident> from *key (which becomes
 * that copy in memory; the caller still frees it) in one change with its audit entry (k's
 * fingerprint and kid, the cards). out (optional) receives the new key's info.
 */
KT_MUST kt_rc transfer_reduce_write(const world_paths *p, const world_module *m,
                                    const transfer_kek *k, const world_admin *admin, world_key *key,
                                    const world_acl *acl, const char *rec_app, world_key_info *out,
                                    kt_err *e);

/* What transfer_package makes. */
typedef struct transfer_package_opts {
    const char *ident;             /* the key: key_xferacld_<ident> is packaged */
    transfer_target target;        /* 0: TRANSFER_AZURE */
    pkg_oaep_hash hash;            /* 0: transfer_default_hash(target) */
    const char *name;              /* the package name (transfer_check_name), required */
    const char *subscription;      /* printable text under 128 bytes; "" or NULL for none */
    const char *out_dir;           /* NULL: the current folder */
    pkg_aws_wrapping aws_wrapping; /* aws: 0 for the one AWS documents for the key type */
    uint64_t now;                  /* the manifest's creation time (UNIX seconds) */
    kt_txn_report_fn report;       /* told what recovery did to an interrupted earlier package */
    void *report_ctx;
    kt_txn *txn; /* NULL: the package is its own change. A batch's change over out_dir (begun,
                    so recovered, by the caller): both files are staged into it and the caller
                    commits; r->committed stays false */
} transfer_package_opts;

/* What transfer_package wrote. */
typedef struct transfer_package_result {
    char package_path[PATH_MAX];  /* TransferPackage-<NAME>.byok | .aws.bin | .gcp.bin */
    char manifest_path[PATH_MAX]; /* TransferPackage-<NAME>[.aws|.gcp].manifest.json */
    uint8_t package_sha256[32];
    size_t package_len;
    size_t rsa_len;  /* bytes of the RSA-OAEP part: the KEK modulus length */
    size_t blob_len; /* bytes of the whole CKM_RSA_AES_KEY_WRAP blob */
    pkg_oaep_hash hash;
    char wrapping[40];         /* the cloud's name of the scheme used */
    char token_path[PATH_MAX]; /* aws with --aws-params: the ImportToken file; else "" */
    bool direct;               /* RSA-OAEP of the material itself (no AES key wrap part) */
    world_key_info key;        /* the packaged key's (authenticated) public facts */
    bool earlier;    /* an earlier run of the same command had written this very package */
    bool committed;  /* the files stand (also when a failure after the commit point is
                        reported) */
    bool txn_broken; /* with o->txn: staging into it failed part way, so that change holds a
                        partial entry and must not be committed (kt_txn_free undoes it) */
} transfer_package_result;

/*
 * package: loads key_xferacld_<ident> with m (world_key_load verifies KNSO's signature on its
 * ACL), refuses a key whose ACL is not signed ("has not been reduced") or not exactly
 * transfer_reduced_acl(k) (KT_EDENIED; another kid is named beside the bound one), refuses a GCP
 * target with a KEK other than 3072 or 4096 bits, wraps the key material (PKCS#8 PrivateKeyInfo DER
 * for RSA and EC, the raw bytes for AES) with pkg_rsa_aes_wrap, and writes the package file and its
 * manifest (signed with m's module key) into out_dir (a private folder: kt_folder_open) as one
 * change of the commit protocol (kt_txn): both files appear, or neither. An interrupted earlier
 * package into out_dir is completed or undone first (kt_txn_recover, told to o->report). When both
 * files are there already and are this very package (same module, key, KEK, target, name,
 * subscription; an earlier run of the same command), nothing is written and r->earlier is set; any
 * other existing file is KT_EEXIST. A key with no reduced copy is KT_EDENIED when the key exists
 * (run modify-acls) and KT_ENOENT when it does not. r (required) receives the paths and facts; on a
 * failure after the commit point r->committed is set and r still describes the package.
 */
KT_MUST kt_rc transfer_package(const world_paths *p, const world_module *m, const transfer_kek *k,
                               const transfer_package_opts *o, transfer_package_result *r,
                               kt_err *e);

/* The details of a package's audit entry: the key, the target, the file and its SHA-256, the
 * KEK's fingerprint and kid. A new object (json_decref), NULL when out of memory. */
json_t *transfer_package_audit_detail(const transfer_kek *k, const world_key_info *key,
                                      transfer_target t, const transfer_package_result *r);

/*
 * The package of a key wrapped elsewhere (a PKCS#11 token, transfer_token.h), in two halves so
 * that nothing is asked of the card holders for a package that is already there or cannot be
 * written. transfer_package_prepare checks o (as transfer_package does), fills r's paths and
 * the scheme (r->wrapping, r->hash, r->direct: the cloud's rules for the key type, as
 * transfer_package applies them), completes or undoes an interrupted earlier package in the
 * output folder and, when both files are already this very package for info (the key's
 * authenticated facts), sets *done and fills r. transfer_package_blob checks the layout of blob
 * (CKM_RSA_AES_KEY_WRAP, or one RSA-OAEP block when r->direct) against the KEK, makes the package
 * (.byok for Azure, the raw blob for AWS and GCP) and its manifest signed with m's module key, and
 * writes them with the AWS import token and the audit entry as one change of the commit protocol;
 * r->committed as for transfer_package.
 */
KT_MUST kt_rc transfer_package_prepare(const world_module *m, const transfer_kek *k,
                                       const world_key_info *info, const transfer_package_opts *o,
                                       transfer_package_result *r, bool *done, kt_err *e);
KT_MUST kt_rc transfer_package_blob(const world_paths *p, const world_module *m,
                                    const transfer_kek *k, const world_key_info *info,
                                    const transfer_package_opts *o, const kt_buf *blob,
                                    transfer_package_result *r, kt_err *e);

#endif
