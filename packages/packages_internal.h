/*
 * packages_internal.h - helpers shared by the files of packages/ and not part of its face:
 * character-class checks, strict lower-case hex, standard base64
 * (x5c), the ISO 8601 time stamps of the payloads and the table of a cloud's wrappings.
 */
#ifndef KT_PKG_INTERNAL_H
#define KT_PKG_INTERNAL_H

#include "pkg.h"

/* True when s[0..n-1] is printable ASCII (0x20..0x7e). */
bool pkg_is_printable(const char *s, size_t n);

/* True when every byte of s is in the NUL-terminated set or is an ASCII letter or digit. */
bool pkg_is_alnum_or(const char *s, const char *extra);

/* Strict lower-case hex of exactly n bytes (2n digits, nothing else) into out. */
KT_MUST kt_rc pkg_unhex_lower(uint8_t *out, size_t n, const char *hex, const char *what, kt_err *e);

/* Standard padded base64 (RFC 4648 §4) of n bytes; *out is a heap string (free()). */
KT_MUST kt_rc pkg_b64std_encode(const uint8_t *in, size_t n, char **out, kt_err *e);

/* Strict standard padded base64: exactly one spelling (padding required, no whitespace, no
 * stray bits). At most max decoded bytes. *out: kt_buf_free. */
KT_MUST kt_rc pkg_b64std_decode(const char *in, size_t inlen, size_t max, kt_buf *out, kt_err *e);

/* "YYYY-MM-DDThh:mm:ssZ" of a UNIX time (years 1970..9999) into out (21 bytes). */
KT_MUST kt_rc pkg_time_format(uint64_t t, char out[21], kt_err *e);

/* Parses exactly "YYYY-MM-DDThh:mm:ssZ" (a real calendar date, UTC) into UNIX seconds. */
KT_MUST kt_rc pkg_time_parse(const char *s, const char *what, uint64_t *t, kt_err *e);

/* Region names [A-Z0-9]{1,PKG_REGION_MAX}. */
KT_MUST kt_rc pkg_region_check(const char *region, const char *what, kt_err *e);

/* Module ESNs "XXXX-XXXX-XXXX" in upper-case hex, as world/ makes them. */
KT_MUST kt_rc pkg_esn_check(const char *esn, const char *what, kt_err *e);

/* True when k is an EC key on P-384 (secp384r1), public or private. */
bool pkg_is_p384(const EVP_PKEY *k);

/* Upper-case ASCII letters folded to lower case: for comparisons that ignore case. */
bool pkg_equal_nocase(const char *a, const char *b);

/* One wrapping a cloud's import takes (an AWS wrapping algorithm, a Cloud KMS import method):
 * its value in the public enum, its name, the RSA size of wrapping key it requires (0: any), the
 * RSA-OAEP hash, and whether the material goes directly into one RSA-OAEP block (else
 * CKM_RSA_AES_KEY_WRAP). aws.c and gcp.c each hold a table of them. */
typedef struct pkg_wrapping {
    int id;
    const char *name;
    unsigned bits;
    pkg_oaep_hash hash;
    bool direct;
} pkg_wrapping;

/* The entry of the table t[0..n-1] with that id, or with exactly that name; NULL when none. */
const pkg_wrapping *pkg_wrapping_by_id(const pkg_wrapping *t, size_t n, int id);
const pkg_wrapping *pkg_wrapping_by_name(const pkg_wrapping *t, size_t n, const char *name);

/* What the entry with that id says; for an id not in the table: "?", SHA-256, not direct. */
const char *pkg_wrapping_name(const pkg_wrapping *t, size_t n, int id);
pkg_oaep_hash pkg_wrapping_hash(const pkg_wrapping *t, size_t n, int id);
bool pkg_wrapping_is_direct(const pkg_wrapping *t, size_t n, int id);

#endif
