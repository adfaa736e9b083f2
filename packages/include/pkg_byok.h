/*
 * pkg_byok.h - packages/: the Azure Key Vault .byok (byok.c). Part of the folder's face; pkg.h is
 * the index and its conventions hold here.
 */
#ifndef KT_PKG_BYOK_H
#define KT_PKG_BYOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kt.h"
#include "pkg_wrap.h"

#define PKG_BYOK_MAX      (64 * 1024) /* a .byok larger than this is refused */
#define PKG_KID_MAX       511         /* longest kid: https:// + 253 + /keys/ + 127 + / + 32 */
#define PKG_KEY_NAME_MAX  127         /* Key Vault key names: [0-9A-Za-z-]{1,127} */
#define PKG_GENERATOR_MAX 256         /* longest generator string */
#define PKG_BYOK_SCHEMA   "1.0.0"
#define PKG_BYOK_ALG      "dir"
#define PKG_BYOK_ENC      "CKM_RSA_AES_KEY_WRAP"

/*
 * Checks the shape of a Key Vault key identifier with its version:
 *     https://HOST/keys/NAME/VERSION
 * HOST a DNS name of two or more labels ([A-Za-z0-9-]{1,63}, no leading or trailing '-', at most
 * 253 characters; no port, user or IP literal), NAME [0-9A-Za-z-]{1,127}, VERSION 32 lower-case
 * hex digits; nothing after VERSION. Covers *.vault.azure.net, *.managedhsm.azure.net and the
 * national clouds. KT_EFORMAT with the first thing that is wrong.
 */
KT_MUST kt_rc pkg_kid_check(const char *kid, kt_err *e);

/* True when the n bytes at name are a Key Vault key name: 1..PKG_KEY_NAME_MAX of [0-9A-Za-z-].
 * The one rule every program applies to key names (kid, --name, the REST path). */
bool pkg_is_key_name(const char *name, size_t n);

/* pkg_is_key_name with a message: KT_EUSAGE naming what the name is for ("key name", "package
 * name") and the rule. */
KT_MUST kt_rc pkg_key_name_check(const char *what, const char *name, kt_err *e);

/*
 * Writes the .byok JSON (Azure Key Vault BYOK specification), compact, members in the order of
 * the specification, no trailing newline:
 * {"schema_version":"1.0.0","header":{"kid":KID,"alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},
 *  "ciphertext":BASE64URL-UNPADDED(blob),"generator":GENERATOR}
 * kid must pass pkg_kid_check; generator is printable ASCII, at most PKG_GENERATOR_MAX bytes;
 * blob is a CKM_RSA_AES_KEY_WRAP blob (SHA-1 for Azure). *out is a heap string (free()).
 */
KT_MUST kt_rc pkg_byok_write(const char *kid, const uint8_t *blob, size_t blob_len,
                             const char *generator, char **out, kt_err *e);

/* A parsed .byok. */
typedef struct pkg_byok {
    char kid[PKG_KID_MAX + 1];
    char generator[PKG_GENERATOR_MAX + 1];
    kt_buf blob; /* the decoded ciphertext: RSA part || KWP part */
} pkg_byok;

/*
 * Parses a .byok strictly: at most PKG_BYOK_MAX bytes; exactly the members schema_version,
 * header {kid, alg, enc}, ciphertext, generator; duplicate keys and trailing data refused;
 * schema_version other than "1.0.0" is KT_EVERSION; alg "dir" and enc "CKM_RSA_AES_KEY_WRAP"
 * exactly; kid per pkg_kid_check; ciphertext strict unpadded base64url of 1..PKG_WRAP_BLOB_MAX
 * bytes; generator printable ASCII. The caller checks kid against its KEK and the RSA part
 * length (pkg_rsa_aes_unwrap does). *out is cleared first; free it with pkg_byok_free.
 */
KT_MUST kt_rc pkg_byok_parse(const uint8_t *in, size_t len, pkg_byok *out, kt_err *e);

void pkg_byok_free(pkg_byok *b);

#endif
