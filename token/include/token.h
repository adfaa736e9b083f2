/*
 * token.h - the face of token/: keys generated, guarded and wrapped inside a PKCS#11 token
 * (an HSM: Luna, nShield, Utimaco, YubiHSM, AWS CloudHSM, SoftHSMv2 for tests), reached through
 * p11-kit (docs/design.md §3). token/ depends on common/ and p11-kit only; keytransfer/ drives it,
 * and the SO PIN's binding to the administrator cards lives in world/ (world/token_bind.c).
 *
 * A token is named by a PKCS#11 URI (RFC 7512) with the module that reaches it:
 *   pkcs11:token=BYOK?module-path=/usr/lib/softhsm/libsofthsm2.so
 *   pkcs11:serial=1a2b3c4d5e6f7081?module-name=softhsm2      (a module configured in p11-kit)
 * A PIN in the URI (pin-value, pin-source) is refused: PINs come from the prompt or a PIN file.
 *
 * What the token holds for keytransfer:
 *   the target key   CKA_LABEL = its ident, a fresh 16-byte CKA_ID, CKA_TOKEN, CKA_PRIVATE,
 *                    CKA_SENSITIVE true, CKA_EXTRACTABLE true only so that it can be wrapped,
 *                    CKA_WRAP_WITH_TRUSTED true: the token wraps it only with a trusted key
 *   the KEK          the cloud's RSA public key, CKA_ID = its SHA-256 fingerprint, CKA_WRAP and
 *                    CKA_TRUSTED true, imported by the Security Officer (only the SO may set
 *                    CKA_TRUSTED)
 *   a session key    for one package only: AES-256, CKA_TOKEN false (it dies with the session,
 *                    also on SIGKILL), CKA_TRUSTED and CKA_WRAP_WITH_TRUSTED true (made by the
 *                    SO), wrap only, destroyed on every path
 *
 * Nothing here prints or exits; every fallible function returns a kt_rc and fills e once, every
 * CKR_ code mapped to a message and an exit status (token_rv_fail). PINs stay in the caller's
 * secure buffers. Private key bytes never pass through this library: only C_WrapKey's output.
 */
#ifndef KT_TOKEN_H
#define KT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "kt.h"

#define TOKEN_URI_MAX    2048
#define TOKEN_ID_MAX     64
#define TOKEN_LABEL_MAX  64 /* an ident is at most 64 characters */
#define TOKEN_SPKI_MAX   1024
#define TOKEN_CURVE_MAX  9
#define TOKEN_NEW_ID_LEN 16

/* What the token says about itself (CK_TOKEN_INFO, blank padding removed). */
typedef struct token_info {
    char label[33];
    char manufacturer[33];
    char model[17];
    char serial[17];
    char module[4096]; /* the module path, or "p11-kit module NAME" */
} token_info;

typedef struct token token;

/*
 * Checks a token URI without loading anything: it must parse as a PKCS#11 URI (RFC 7512), name a
 * module (module-path, an absolute path, or module-name), name no object (id, object, type: the
 * key is given by --ident) and carry no PIN (pin-value, pin-source). KT_EUSAGE saying which.
 */
KT_MUST kt_rc token_uri_check(const char *uri, kt_err *e);

/*
 * Loads the module the URI names (p11_kit_module_load, or p11-kit's configuration for
 * module-name), finds the one token the URI matches (none: KT_ENOENT listing what was seen; more
 * than one: KT_EUSAGE asking for serial=) and opens a read-write session. A module that cannot
 * be loaded is KT_EIO naming the path and p11-kit's reason. *t: token_close.
 */
KT_MUST kt_rc token_open(const char *uri, token **t, kt_err *e);

/* Logs out, destroys any session key still alive, closes the session, finalizes and releases the
 * module. NULL is fine. */
void token_close(token *t);

const token_info *token_get_info(const token *t);

/* The token's identity as keytransfer binds it: SHA-256 over "keytransfer token id v1" and the
 * manufacturer, model and serial number, each length-prefixed. */
void token_identity_hash(const token *t, uint8_t out[32]);

/* Logs in as the user (so false) or the Security Officer (so true) with pin (not copied). A wrong
 * PIN is KT_EPIN; a locked PIN KT_EPIN saying "locked"; another user logged in KT_EDENIED. */
KT_MUST kt_rc token_login(token *t, bool so, const kt_secbuf *pin, kt_err *e);

/* Logs out (a session that is not logged in is fine). */
KT_MUST kt_rc token_logout(token *t, kt_err *e);

/* Key types, as keytransfer names them. */
typedef enum token_key_type {
    TOKEN_KEY_RSA = 1,
    TOKEN_KEY_EC = 2,
    TOKEN_KEY_AES = 3,
} token_key_type;

/* A key the token holds, as its attributes say. */
typedef struct token_key {
    token_key_type type;
    unsigned bits;                   /* RSA modulus, EC curve or AES key size */
    char curve[TOKEN_CURVE_MAX + 1]; /* EC: "P-256", "P-384", "P-521", "secp256k1" */
    char label[TOKEN_LABEL_MAX + 1]; /* CKA_LABEL: the ident */
    uint8_t id[TOKEN_ID_MAX];        /* CKA_ID */
    size_t id_len;
    bool sensitive, always_sensitive;    /* CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE */
    bool extractable, never_extractable; /* CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE */
    bool wrap_with_trusted;              /* CKA_WRAP_WITH_TRUSTED */
    bool is_private;                     /* CKA_PRIVATE */
    uint8_t spki[TOKEN_SPKI_MAX];        /* RSA, EC: SubjectPublicKeyInfo DER of its public key */
    size_t spki_len;                     /* 0 for AES */
} token_key;

/* What to generate. */
typedef struct token_keygen {
    token_key_type type;
    unsigned bits;     /* RSA: 2048, 3072, 4096; AES: 128, 192, 256 */
    const char *curve; /* EC: "P-256", "P-384", "P-521", "secp256k1" (canonical names) */
    const char *label; /* the ident (1..64 of [0-9a-z-]) */
} token_keygen;

/*
 * Generates a key in the token (the user logged in) with the attributes of the header comment and
 * a fresh random CKA_ID; RSA and EC with their public key beside it (same label and ID,
 * CKA_TOKEN, not private). A key with that label already there is KT_EEXIST. A type or size the
 * token does not offer is KT_EDENIED naming the mechanism. out receives the new key's facts.
 */
KT_MUST kt_rc token_key_generate(token *t, const token_keygen *g, token_key *out, kt_err *e);

/* Finds the one private or secret key labelled label (the user logged in): none is KT_ENOENT, two
 * KT_EDENIED (ambiguous). */
KT_MUST kt_rc token_key_find(token *t, const char *label, token_key *out, kt_err *e);

/* Lists the private and secret keys the session can see; *keys is a heap array to free(). */
KT_MUST kt_rc token_key_list(token *t, token_key **keys, size_t *n, kt_err *e);

/*
 * Why a key may not be transferred, or NULL when it may: CKA_SENSITIVE false ("its bytes can be
 * read out in clear"), CKA_ALWAYS_SENSITIVE false (they could once), CKA_EXTRACTABLE false (it
 * cannot be wrapped at all), CKA_WRAP_WITH_TRUSTED false (freely extractable: the token would
 * wrap it under any key, so it could not hold the binding to the KEK).
 */
const char *token_key_refusal(const token_key *k);

/* The KEK in the token: the RSA public key object whose CKA_ID is fp. */
typedef struct token_kek_state {
    bool present, trusted, can_wrap, same_key; /* same_key: its modulus and exponent are kek's */
} token_kek_state;

/* Looks up the KEK object with CKA_ID fp and compares it with kek (any login). */
KT_MUST kt_rc token_kek_state_get(token *t, const uint8_t fp[32], EVP_PKEY *kek,
                                  token_kek_state *st, kt_err *e);

/*
 * Imports kek (an RSA public key) as a token object with CKA_ID fp, CKA_WRAP and CKA_TRUSTED
 * true, CKA_ENCRYPT and CKA_VERIFY false, labelled "kek-<first 16 hex digits of fp>", with the
 * Security Officer logged in (only the SO may set CKA_TRUSTED). An object with that ID already
 * there is kept when it is this very key, trusted and for wrapping, and refused (KT_EDENIED)
 * otherwise.
 */
KT_MUST kt_rc token_kek_import(token *t, const uint8_t fp[32], EVP_PKEY *kek, kt_err *e);

/* How a key was wrapped. */
typedef enum token_wrap_form {
    TOKEN_WRAP_ONE_STEP = 1, /* CKM_RSA_AES_KEY_WRAP in the token */
    TOKEN_WRAP_TWO_STEP = 2, /* session AES-256 under CKM_RSA_PKCS_OAEP, target under
                                CKM_AES_KEY_WRAP_PAD */
    TOKEN_WRAP_DIRECT = 3,   /* the target itself under CKM_RSA_PKCS_OAEP (AWS RSAES_OAEP_*) */
} token_wrap_form;

/* What token_wrap needs. */
typedef struct token_wrap_opts {
    const char *label; /* the target key */
    const uint8_t *id; /* its CKA_ID, as recorded at the reduction */
    size_t id_len;
    const uint8_t *spki; /* RSA, EC: its public key as recorded (SPKI DER); NULL for AES */
    size_t spki_len;
    const uint8_t *kek_fp;   /* 32 bytes: the KEK object's CKA_ID */
    EVP_PKEY *kek;           /* the KEK as verified: the token's object must be this key */
    bool oaep_sha256;        /* OAEP with SHA-256 and MGF1-SHA-256 (else SHA-1, MGF1-SHA-1) */
    bool direct;             /* RSA-OAEP of the target itself (a secret key), no AES part */
    const kt_secbuf *so_pin; /* the Security Officer's PIN (makes the trusted session key) */
    const kt_secbuf *user_pin;
} token_wrap_opts;

/*
 * CKM_RSA_AES_KEY_WRAP of the target inside the token (PKCS#11 v2.40 §2.1.21; the Azure BYOK
 * ciphertext): RSA-OAEP of a fresh AES-256 key, exactly the KEK's modulus length, then RFC 5649
 * key wrap with padding of the target (PKCS#8 PrivateKeyInfo for RSA and EC, the raw key for
 * AES), as one C_WrapKey when the token offers CKM_RSA_AES_KEY_WRAP, otherwise in two steps:
 *
 *   1. checks every mechanism needed (C_GetMechanismInfo: CKM_AES_KEY_GEN, CKM_RSA_PKCS_OAEP and
 *      CKM_AES_KEY_WRAP_PAD with CKF_WRAP); a missing one is KT_EDENIED naming it;
 *   2. as the user: the conformance probe of CKM_AES_KEY_WRAP_PAD: the RFC 5649 §6 example (a
 *      public 192-bit key and 20-byte value, created as session objects for the probe only and
 *      destroyed) must wrap to the RFC's answer, or the token's fault is KT_EDENIED named, before
 *      anything is wrapped that no cloud could open; then finds the target by label and ID,
 *      checks its public key against o->spki and refuses it when token_key_refusal says so;
 *   3. as the SO: checks the KEK object (trusted, for wrapping, this very key), generates the
 *      session key (CKA_TOKEN false, CKA_PRIVATE false, CKA_SENSITIVE, CKA_EXTRACTABLE,
 *      CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED true, wrap only) and wraps it under the KEK with OAEP;
 *   4. as the user: wraps the target under the session key with CKM_AES_KEY_WRAP_PAD;
 *   5. destroys the session key (on every path; were the process killed, it would die with the
 *      session) and logs out.
 *
 * With o->direct (AWS RSAES_OAEP_* for a symmetric key), one C_WrapKey of the target itself with
 * CKM_RSA_PKCS_OAEP under the trusted KEK, as the user: the token lets it out only under that
 * trusted key. Only what C_WrapKey returns comes out: *blob (heap, kt_buf_free) and *form.
 */
KT_MUST kt_rc token_wrap(token *t, const token_wrap_opts *o, kt_buf *blob, token_wrap_form *form,
                         kt_err *e);

/* The token's mechanisms: *mechs a heap array of CK_MECHANISM_TYPE values (free()). */
KT_MUST kt_rc token_mechanisms(token *t, unsigned long **mechs, size_t *n, kt_err *e);

/* "CKM_RSA_PKCS_OAEP", ... or "CKM_0x%lx" written into buf (32 bytes). */
const char *token_mech_name(unsigned long mech, char *buf, size_t bufsz);

/*
 * Fills e for a PKCS#11 return value rv of what ("C_Login"): the CKR_ name and its meaning, with
 * the kt_rc the user's situation calls for: a wrong PIN KT_EPIN (exit 1), a locked PIN KT_EPIN
 * saying "locked", a refused operation or missing mechanism KT_EDENIED (1), bad data KT_EFORMAT
 * (3), a device or session failure KT_EIO (4), memory KT_ENOMEM (5). Returns that code.
 */
KT_MUST kt_rc token_rv_fail(kt_err *e, unsigned long rv, const char *what);

#endif
