/*
 * verify.h - the face of verify/: whether a KEK package and a world package may be trusted
 * (docs/design.md §4). The verdict rests on one thing only: the SHA-256 of the vendor root's
 * SubjectPublicKeyInfo compiled into this build (pkg_root_sha256()). Everything in the packages
 * is distrusted until the checks below have passed, in this fixed order:
 *
 *   format             both files are strict JWS envelopes: JSON, protected header {alg ES384,
 *                      typ, x5c}, DER certificates, a 96-byte raw r||s signature
 *   root-hash          KEK package: the last x5c certificate's SPKI hash is the embedded one, and
 *                      that certificate is self-issued and verifies its own signature
 *   chain              KEK package: x5c is exactly leaf, module warrant, root; each certificate
 *                      is issued and signed (ECDSA-SHA384) by the next, all within their validity
 *                      at the verification time and within the vendor certificate profile (five
 *                      extension types, DER, nothing else); the warrant a CA with path length 0,
 *                      the root a CA, the leaf no CA, allowed to sign, for the attestation
 *                      purpose (extendedKeyUsage PKG_EKU_ATTESTATION_OID) and no other
 *   signature          KEK package: the ES384 JWS signature verifies with the leaf's key over the
 *                      exact signing input
 *   world-root-hash, world-chain, world-signature
 *                      the same three for the world package (so both chain to the same root)
 *   kek-payload        the KEK payload is a strict keytransfer-kek/1 document
 *   world-payload      the world payload is a strict keytransfer-world/1 document
 *   kek-type           kty RSA-HSM, key_size 2048/3072/4096, and public_key really an RSA key of
 *                      that size (odd public exponent of at least 3)
 *   key-ops            key_ops is exactly ["import"]
 *   exportable         exportable is false
 *   module             module_esn is the serialNumber of the module warrant (x5c[1], the
 *                      certificate right above the leaf) that certifies the attestation key
 *   fingerprint        public_key_sha256 is the SHA-256 of public_key, which is canonical DER
 *   world-hash         the KEK's world_hash is the world package's world_hash
 *   region             the KEK's region is the world package's region
 *   world-modules      the KEK's module and the module that attested the world package are both
 *                      among the world's module_esns
 *
 * Nothing in a payload is read before both packages' signatures have verified. The first check
 * that fails is the verdict; the checks after it are not run. verify/verifykeypackage.py makes
 * the same checks in the same order under the same names (an independent implementation; the
 * tests hold the two to the same answers).
 *
 * Exit statuses (docs/design.md §6) follow the failing check's code: format, kek-payload and
 * world-payload failures are KT_EFORMAT, KT_EVERSION or KT_ETOOBIG (exit 3), except that a JWS
 * algorithm other than ES384 is KT_EDENIED (exit 1, as pkg_jws_parse decides); every other check
 * fails with KT_EDENIED (exit 1).
 */
#ifndef KT_VERIFY_H
#define KT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "kt.h"
#include "pkg.h"

/* The JSON report's format name. */
#define VERIFY_REPORT_FORMAT "keytransfer-verify/1"
/* Longest detail text of one check (an error message fits whole). */
#define VERIFY_DETAIL_MAX KT_ERR_MSG_MAX

/* The checks, in the order they run. */
typedef enum verify_check_id {
    VERIFY_FORMAT = 0,
    VERIFY_ROOT_HASH,
    VERIFY_CHAIN,
    VERIFY_SIGNATURE,
    VERIFY_WORLD_ROOT_HASH,
    VERIFY_WORLD_CHAIN,
    VERIFY_WORLD_SIGNATURE,
    VERIFY_KEK_PAYLOAD,
    VERIFY_WORLD_PAYLOAD,
    VERIFY_KEK_TYPE,
    VERIFY_KEY_OPS,
    VERIFY_EXPORTABLE,
    VERIFY_MODULE,
    VERIFY_FINGERPRINT,
    VERIFY_WORLD_HASH,
    VERIFY_REGION,
    VERIFY_WORLD_MODULES,
    VERIFY_CHECK_COUNT
} verify_check_id;

typedef enum verify_outcome {
    VERIFY_NOT_RUN = 0, /* an earlier check failed */
    VERIFY_PASSED,
    VERIFY_FAILED,
} verify_outcome;

/* One check's outcome. */
typedef struct verify_check {
    verify_outcome outcome;
    kt_rc rc;                       /* KT_OK when passed or not run; the failure's code */
    char detail[VERIFY_DETAIL_MAX]; /* what was established, or why it failed */
} verify_check;

/*
 * A verification: every check's outcome and the facts the packages state. The facts (kek,
 * world, kek_key) are filled once the payloads have parsed, which happens only after both
 * signatures have verified; they are trustworthy only when ok is true.
 */
typedef struct verify_result {
    verify_check checks[VERIFY_CHECK_COUNT];
    bool ok;                 /* every check passed */
    verify_check_id failed;  /* the first failed check; VERIFY_CHECK_COUNT when none failed */
    uint64_t at;             /* the verification time (UNIX seconds) validity was judged at */
    uint8_t root_sha256[32]; /* the embedded root hash the chains were held to */
    bool root_is_demo;       /* it is the DEMO root: the verdict proves nothing */

    bool has_kek, has_world; /* the payloads parsed (kek-payload, world-payload passed) */
    pkg_kek_payload kek;     /* as the KEK package states it */
    pkg_world_payload world; /* as the world package states it */
    EVP_PKEY *kek_key;       /* the KEK's public key from kek.public_key (owned here) */
} verify_result;

/* The stable identifier of a check ("root-hash"), used in text and JSON output by both
 * verifiers; NULL for an id out of range. */
const char *verify_check_name(verify_check_id id);

/* One line saying what a check establishes, for reports. */
const char *verify_check_summary(verify_check_id id);

/*
 * Verifies a KEK package and a world package held in memory (the bytes of the files) at time
 * now (UNIX seconds; certificates must be valid then, bounds included), against the embedded
 * root hash. *r is cleared first and always describes what ran, on every return; free it with
 * verify_result_free.
 *
 * Returns KT_OK only when every check passed; then r->kek_key is the KEK's public key (borrowed
 * from r: EVP_PKEY_up_ref it to keep it past verify_result_free), r->kek.kid its key URL,
 * r->kek.public_key_sha256 its fingerprint and r->world.world_hash the target world. Otherwise
 * returns the first failing check's code (see the top of this file) with e saying
 * "<check>: <why>", and r->failed naming the check. Memory exhaustion during a check fails that
 * check with KT_ENOMEM. Callers that are about to use a KEK (modify-acls, package) call this
 * again with the files they are given and use nothing unless it returns KT_OK.
 */
KT_MUST kt_rc verify_packages(const uint8_t *kek_pkg, size_t kek_len, const uint8_t *world_pkg,
                              size_t world_len, uint64_t now, verify_result *r, kt_err *e);

/*
 * As verify_packages, reading the two files with the careful reader first. A file over
 * PKG_JWS_MAX bytes fails the format check (KT_ETOOBIG). A file that is missing or cannot be
 * read is not a verdict: that error (KT_ENOENT, KT_EIO, exit 4) is returned with no check run,
 * and *r still needs verify_result_free.
 */
KT_MUST kt_rc verify_package_files(const char *kek_path, const char *world_path, uint64_t now,
                                   verify_result *r, kt_err *e);

/*
 * The report as JSON (VERIFY_REPORT_FORMAT): root {sha256, sha256_groups, demo}, time, checks
 * [{name, result "pass"|"fail"|"not-run", detail}], kek and world (the stated facts, or null
 * before their payload parsed), result "SUCCESS"|"FAILURE", failed_check, reason, exit_status.
 * *out is a new reference (json_decref).
 */
KT_MUST kt_rc verify_result_json(const verify_result *r, json_t **out, kt_err *e);

/* Frees what r holds (the KEK key and payload); r is left cleared. Safe on a cleared result. */
void verify_result_free(verify_result *r);

#endif
