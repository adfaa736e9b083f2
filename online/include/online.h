/*
 * online.h - the face of online/: what the online workstation does (docs/design.md §1 steps 1 and
 * 9).
 *
 *   hash.c      streaming SHA-256 of downloads in constant memory, expected hashes
 *   package.c   the USB hand-over: transfer manifests, their signer, the package they name
 *   keyvault.c  the Key Vault REST shapes: vault URL, key names, key_ops, the import body, the
 *               JWK the service answers and its fingerprint, service errors
 *   http.c      the bearer token and one HTTPS request (libcurl)
 *   upload.c    the upload's requests: retries, Retry-After, and the look-up after a lost answer
 *   env.c       the environment variables that would log or divert TLS secrets, removed
 *   props.c     what the upload asks of the key (Hsm, attributes, tags, release policy,
 *               api-version) and Key Vault's challenge and token audience
 *
 * online/ links packages/ and common/ only, never world/, kek/ or verify/: the online program
 * holds no key and cannot touch key custody by construction (docs/design.md §2, checked by a test
 * that reads the program's symbols). What it handles is public (hashes, manifests, wrapped
 * packages, public keys) except the bearer token, which lives in sodium_malloc memory.
 *
 * Every fallible function returns a kt_rc and fills the caller's kt_err once; nothing here
 * prints or exits. Outputs are cleared on entry, so callers free them on every path.
 */
#ifndef KT_ONLINE_H
#define KT_ONLINE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kt.h"
#include "pkg.h"

/* ------------------------------------------------------------------------------------------ */
/* Hashes of downloads (hash.c)                                                                */
/* ------------------------------------------------------------------------------------------ */

#define ONLINE_HASH_CHUNK (64 * 1024) /* the one read buffer of online_hash_file */

/*
 * SHA-256 of the file at path, read in ONLINE_HASH_CHUNK pieces into one fixed buffer (OpenSSL
 * EVP_Digest* incrementally), so memory does not grow with the file: files of many GiB hash in
 * the same few hundred KiB. path must be a regular file (symlinks are followed; FIFOs, devices
 * and folders are refused before anything is read, KT_EIO). *size receives the bytes hashed (may be
 * NULL). progress (may be NULL) is called with MiB done of MiB total.
 */
KT_MUST kt_rc online_hash_file(const char *path, uint8_t out[32], uint64_t *size,
                               kt_progress_fn progress, void *progress_ctx, kt_err *e);

/* Parses an expected SHA-256 as users paste it: 64 hex digits in either case (PowerShell prints
 * upper case, sha256sum lower case). Anything else is KT_EUSAGE saying what was wrong. */
KT_MUST kt_rc online_sha256_parse(const char *hex, uint8_t out[32], kt_err *e);

/* The last component of path ("a/b/c.zip" -> "c.zip"); path itself when it has no '/'. */
const char *online_basename(const char *path);

/* Upper-case hex of 32 bytes, as Get-FileHash prints it (out: 65 bytes). */
void online_hex_upper(char out[65], const uint8_t in[32]);

/* ------------------------------------------------------------------------------------------ */
/* The USB hand-over: manifests and packages (package.c)                                       */
/* ------------------------------------------------------------------------------------------ */

#define ONLINE_MANIFESTS_MAX   100 /* manifests one check looks at */
#define ONLINE_MANIFEST_SUFFIX ".manifest.json"

/* A transfer manifest whose signature verified and whose package has the stated SHA-256. */
typedef struct online_package {
    pkg_manifest m;            /* what the manifest states (signature verified) */
    uint8_t signer[32];        /* the module's Ed25519 public key from the manifest header */
    uint8_t module_sha256[32]; /* pkg_ed25519_fingerprint(signer): `keytransfer world info` */
    bool pinned;               /* the caller gave the module fingerprint and it matched */
    char package_path[PATH_MAX];
    kt_buf package; /* the package bytes that were hashed (public) */
    bool renamed;   /* the package file's name is not the one the manifest states */
} online_package;

/*
 * The checks before anything leaves the machine:
 *   1. reads manifest_path (at most PKG_MANIFEST_MAX bytes) and verifies its EdDSA signature
 *      (pkg_manifest_parse) - an altered manifest is KT_EDENIED;
 *   2. when expect_module (32 bytes) is given, the signer's fingerprint must equal it - a
 *      manifest signed by another module is KT_EDENIED naming both fingerprints;
 *   3. reads the package once into memory (at most PKG_BYOK_MAX bytes): package_path, or when
 *      it is NULL the file the manifest names (a plain name) in the manifest's folder;
 *   4. its SHA-256 must equal package_sha256 - a damaged or swapped file is KT_EDENIED naming
 *      both hashes;
 *   5. for an Azure package, the bytes must parse as a .byok (pkg_byok_parse) wrapped for the
 *      KEK the manifest names.
 * The bytes returned in out->package are the ones hashed, so a caller that uploads them sends
 * exactly what was checked. Messages start with the file they are about. *out:
 * online_package_free.
 */
KT_MUST kt_rc online_package_check(const char *manifest_path, const char *package_path,
                                   const uint8_t *expect_module, online_package *out, kt_err *e);

/*
 * Whether the root that vouched for the KEK (as the checked manifest p states it) may be trusted
 * for an upload. An unattested KEK is the offline custodian's decision and passes (callers say
 * it is unattested). A KEK attested by the DEMO root, whose private key is public, passes only
 * when demo is true and this build's root is the DEMO root (pkg_root_is_demo); demo in a build
 * with a real root is refused whatever the manifest says. KT_EDENIED otherwise, naming the
 * manifest and saying why.
 */
KT_MUST kt_rc online_package_trust(const online_package *p, const char *manifest_path, bool demo,
                                   kt_err *e);

void online_package_free(online_package *p);

/*
 * The names of the transfer manifests in dir: regular entries whose name ends in
 * ONLINE_MANIFEST_SUFFIX and does not start with '.', sorted (strcmp). More than
 * ONLINE_MANIFESTS_MAX is KT_ETOOBIG; dir not a folder KT_EIO; none is an empty list. *names:
 * online_names_free.
 */
KT_MUST kt_rc online_list_manifests(const char *dir, char ***names, size_t *n, kt_err *e);

void online_names_free(char **names, size_t n);

/* The manifest beside a package by the naming `keytransfer package` uses: "X.byok" ->
 * "X.manifest.json", "X.aws.bin" -> "X.aws.manifest.json" (any other name gets the suffix
 * appended). */
KT_MUST kt_rc online_manifest_for(const char *package_path, char *out, size_t outsz, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Key Vault REST shapes (keyvault.c)                                                          */
/* ------------------------------------------------------------------------------------------ */

#define ONLINE_API_VERSION  "7.4"
#define ONLINE_URL_MAX      2048
#define ONLINE_HOST_MAX     253
#define ONLINE_RESPONSE_MAX (1024 * 1024) /* bytes of a service answer */

/* A vault endpoint: https://HOST[:PORT], or http:// on a loopback address. */
typedef struct online_vault {
    bool https;
    bool loopback;                  /* 127.0.0.0/8, ::1 or localhost */
    char host[ONLINE_HOST_MAX + 3]; /* as in the URL; IPv6 literals keep their brackets */
    unsigned port;                  /* 0: the scheme's default */
    char base[ONLINE_URL_MAX];      /* scheme://host[:port], no trailing '/' */
} online_vault;

/*
 * Checks a vault URL: http or https, a host, an optional port, an empty path or "/", and
 * nothing else (no user or password, query or fragment). Plain http is allowed only when the
 * host is a loopback address (127.0.0.0/8, [::1], localhost): a bearer token never crosses a
 * network in clear text. KT_EUSAGE saying what was wrong.
 */
KT_MUST kt_rc online_vault_parse(const char *url, online_vault *v, kt_err *e);

/* True when host (without brackets for IPv6) is 127.0.0.0/8 in dotted-quad form, ::1 or
 * "localhost" (any case). */
bool online_is_loopback(const char *host);

/* "<base>/keys/<name>?api-version=7.4" into out. */
KT_MUST kt_rc online_key_url(const online_vault *v, const char *name, char *out, size_t outsz,
                             kt_err *e);

/* As online_key_url with api-version api (NULL: ONLINE_API_VERSION; not checked here). */
KT_MUST kt_rc online_key_url_api(const online_vault *v, const char *name, const char *api,
                                 char *out, size_t outsz, kt_err *e);

/*
 * Parses --ops "op,op,...": names as Key Vault spells them (case-sensitive), no empty or
 * repeated entry, each allowed for key_type. KT_EUSAGE naming the operation and what the type
 * allows.
 */
KT_MUST kt_rc online_ops_parse(const char *list, const char *key_type, unsigned *ops, kt_err *e);

/* The Key Vault curve name (JsonWebKeyCurveName) of a manifest curve: P-256, P-384, P-521, and
 * "P-256K" for secp256k1; NULL for anything else. */
const char *online_crv_for(const char *curve);

/*
 * The Key Vault import body (Import Key, api-version 7.4) for a checked package:
 * {"key":{"kty":KTY,["crv":CRV,]"key_ops":[...],"key_hsm":BASE64URL(package)},
 *  "Hsm":true, "attributes":{"enabled":true}}
 * key_hsm is the unpadded base64url of the whole .byok file, as az and the SDKs send it. The
 * manifest must be for Azure (target "azure", OAEP SHA-1); ops must be allowed for its type.
 * *json: heap string (free()).
 */
KT_MUST kt_rc online_import_body(const pkg_manifest *m, const uint8_t *package, size_t len,
                                 unsigned ops, char **json, kt_err *e);

/*
 * The SHA-256 of the SubjectPublicKeyInfo DER of a public JWK (RFC 7517/7518) as Key Vault
 * returns it: kty RSA or RSA-HSM with n and e; EC or EC-HSM with crv, x and y (each exactly the
 * curve's coordinate length). The key is rebuilt with OpenSSL (EVP_PKEY_fromdata), which
 * refuses a point off its curve, and encoded as i2d_PUBKEY does, the encoding the manifest's
 * key fingerprint is taken over. KT_EFORMAT for anything malformed.
 */
KT_MUST kt_rc online_jwk_sha256(const json_t *jwk, uint8_t out[32], kt_err *e);

/* What an answer with a key (Import Key or Get Key, status 200) states. */
typedef struct online_imported {
    char kid[PKG_KID_MAX + 1];       /* https://HOST/keys/NAME/VERSION */
    char host[ONLINE_HOST_MAX + 1];  /* HOST of the kid */
    char name[PKG_KEY_NAME_MAX + 1]; /* NAME of the kid */
    char kty[16];                    /* as the answer states it (printable ASCII) */
    bool has_public;                 /* RSA and EC: the JWK carries a public key */
    uint8_t key_sha256[32];          /* its SPKI fingerprint when has_public */
    unsigned ops;                    /* the key_ops this program knows (PKG_KV_OP_*) */
    bool ops_unknown;                /* key_ops lists an operation it does not know */
    char ops_text[160];              /* key_ops as listed, for messages (sanitized) */
    bool enabled;                    /* attributes.enabled */
    bool exportable;                 /* attributes.exportable is true */
    bool exportable_stated;          /* attributes.exportable is present */
    bool has_nbf, has_exp;           /* attributes.nbf, .exp are present (whole numbers) */
    int64_t nbf, exp;
    bool has_tags;           /* a tags object is present */
    uint8_t tags_sha256[32]; /* SHA-256 of its canonical JSON (sorted, compact) */
} online_imported;

/*
 * "HTTP 409 Conflict: <message>" from Key Vault's error body {"error":{"code","message"}}, or
 * the start of whatever came, control characters replaced, into out.
 */
void online_describe_error(long status, const uint8_t *body, size_t len, char *out, size_t outsz);

/*
 * Reads a service answer. Status 200 with a JSON body {"key":JWK,"attributes":{...}}: the JWK's
 * kid (pkg_kid_check shape), kty, key_ops (a list of strings) and, for kty RSA, RSA-HSM, EC and
 * EC-HSM, the public key, fingerprinted with online_jwk_sha256; attributes.enabled (a boolean,
 * required) and attributes.exportable (a boolean when present). Any other status is a refusal:
 * the message gives the HTTP status and, when the body is Key Vault's error, the code and
 * message (online_describe_error). 401 and 403 are KT_EDENIED "authentication failed"; other
 * 4xx KT_EDENIED; 5xx and others KT_EIO. A 200 whose body is not that shape is KT_EFORMAT. body
 * may hold up to ONLINE_RESPONSE_MAX bytes. Nothing is compared here: online_check_answer.
 */
KT_MUST kt_rc online_parse_answer(long status, const uint8_t *body, size_t len,
                                  online_imported *out, kt_err *e);

/*
 * The last check: the key the service holds is the key the manifest describes. For RSA and EC
 * the fingerprint of the returned public key must equal the manifest's key SHA-256 (KT_EDENIED
 * naming both otherwise). An AES (oct) key has no public part: nothing is compared and *compared
 * is false.
 */
KT_MUST kt_rc online_compare_key(const pkg_manifest *m, const online_imported *got, bool *compared,
                                 kt_err *e);

/* What the key in the vault must be after an upload. */
typedef struct online_expect {
    const pkg_manifest *m; /* the checked manifest: key type and fingerprint */
    const char *name;      /* the key name asked for (compared ignoring case, as Key Vault does) */
    const char *host;      /* the vault its kid must name */
    unsigned ops;          /* the key_ops asked for */
    bool enabled;          /* attributes.enabled asked for */
    bool exportable;       /* attributes.exportable asked for (with a release policy) */
    const online_vault *vault; /* the vault asked, to read a 401's challenge (NULL: not read) */
    const struct online_props *props; /* nbf, exp and tags asked for (NULL: none) */
} online_expect;

/*
 * The whole answer against what was asked, in this order: the kid names the key asked for
 * (name ignoring case) in the vault asked for (host ignoring case); kty is the manifest type's
 * (pkg_kv_kty_for); the public key is the manifest's (online_compare_key, *compared as there);
 * key_ops are exactly the ones asked for; enabled is as asked; exportable is as asked (false or
 * absent unless --exportable asked for it); nbf, exp and tags, when props asked for them, are
 * the ones asked (tags compared as canonical JSON). KT_EDENIED naming every
 * difference found (for the key: both fingerprints).
 */
KT_MUST kt_rc online_check_answer(const online_expect *want, const online_imported *got,
                                  bool *compared, kt_err *e);

/* SHA-256 of a tags object's canonical JSON (keys sorted, compact, ASCII escapes). */
KT_MUST kt_rc online_tags_digest(const json_t *tags, uint8_t out[32], kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* What the upload asks of the key beside its material, and the challenge (props.c)           */
/* ------------------------------------------------------------------------------------------ */

#define ONLINE_TAGS_MAX      15  /* Key Vault: at most 15 tags */
#define ONLINE_TAG_NAME_MAX  512 /* characters */
#define ONLINE_TAG_VALUE_MAX 256
#define ONLINE_POLICY_MAX    (10 * 1024) /* bytes of a release policy document */
#define ONLINE_BODY_MAX      (1024 * 1024)

/* The options of `upload` that shape the key in the vault (all zero: enabled, no dates, not
 * exportable, no tags, api-version ONLINE_API_VERSION). */
typedef struct online_props {
    bool disabled;           /* attributes.enabled false */
    bool has_nbf, has_exp;   /* attributes.nbf, .exp */
    int64_t nbf, exp;        /* seconds since 1970 */
    bool exportable;         /* attributes.exportable true: needs release_policy */
    char *release_policy;    /* base64url of the policy document (heap), or NULL */
    json_t *tags;            /* an object of strings, or NULL */
    const char *api_version; /* NULL: ONLINE_API_VERSION */
} online_props;

void online_props_free(online_props *p);

/* A UTC date "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ", or seconds since 1970, for option opt.
 * KT_EUSAGE otherwise. */
KT_MUST kt_rc online_time_parse(const char *opt, const char *s, int64_t *out, kt_err *e);

/* --tags "NAME=VALUE,NAME=VALUE": at most ONLINE_TAGS_MAX, names printable ASCII of 1 to 512,
 * values UTF-8 of 0 to 256 characters, no name twice (a value cannot hold ','). */
KT_MUST kt_rc online_tags_parse(const char *list, json_t **out, kt_err *e);

/* Reads a release policy document (a JSON object with "version" and "anyOf", at most
 * ONLINE_POLICY_MAX bytes) into the base64url that release_policy.data carries. */
KT_MUST kt_rc online_release_policy_load(const char *file, char **b64, kt_err *e);

/* The properties together, for vault v: a known api-version (Managed HSM from 7.2), exportable
 * exactly with a release policy and from 7.3, expires after not-before. KT_EUSAGE. */
KT_MUST kt_rc online_props_check(const online_props *p, const online_vault *v, kt_err *e);

/* Checks --resolve ADDRESS: an IPv4 or IPv6 address (no name), for an https vault. KT_EUSAGE. */
KT_MUST kt_rc online_resolve_check(const char *addr, const online_vault *v, kt_err *e);

/* True when v is a Managed HSM (HOST.managedhsm.azure.net). */
bool online_vault_is_mhsm(const online_vault *v);

/*
 * online_import_body with "Hsm":true (always; a BYOK package is opened in the HSM) and, from
 * p (NULL: none), attributes.enabled/nbf/exp/exportable, tags and release_policy
 * {"contentType":"application/json; charset=utf-8","data":...}.
 */
KT_MUST kt_rc online_import_body_props(const pkg_manifest *m, const uint8_t *package, size_t len,
                                       unsigned ops, const online_props *p, char **json, kt_err *e);

struct online_http;

/* A Key Vault challenge (WWW-Authenticate: Bearer authorization="...", resource="..."). */
typedef struct online_challenge {
    char authorization[256]; /* https://login.microsoftonline.com/TENANT */
    char tenant[64];         /* its last path segment */
    char resource[128];      /* https://vault.azure.net, or the scope without /.default */
} online_challenge;

/* Parses a challenge header (printable parts only); all "" when it is not a Bearer challenge. */
void online_challenge_parse(const char *header, online_challenge *c);

/* After a 401 that carries a challenge: prefixes e with the token the vault asks for (resource
 * and tenant, and the az command that gets it), or with the warning that a vault outside
 * loopback challenges for another domain's token. Nothing when there is no challenge. */
void online_challenge_explain(const struct online_http *resp, const online_vault *v, kt_err *e);

/*
 * Before the token is sent: when it is a JWT whose "aud" claim is not the resource of v's
 * service (https://vault.azure.net for HOST.vault.azure.net, https://managedhsm.azure.net for a
 * Managed HSM), KT_EDENIED saying whom it is for and how to get the right one (the token of
 * `az account get-access-token` without --resource is for Azure Resource Manager). Opaque
 * tokens, other clouds and the emulator pass.
 */
KT_MUST kt_rc online_token_audience_check(const kt_secbuf *token, const online_vault *v, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The bearer token and the request (http.c)                                                   */
/* ------------------------------------------------------------------------------------------ */

#define ONLINE_TOKEN_MAX       (16 * 1024)
#define ONLINE_TOKEN_ENV       "AZURE_ACCESS_TOKEN"
#define ONLINE_CONNECT_TIMEOUT 15  /* seconds */
#define ONLINE_TIMEOUT         120 /* seconds for the whole request */

/*
 * The bearer token: from token_file (kt_file_read_secret, at most ONLINE_TOKEN_MAX bytes) or,
 * when it is NULL, from the environment variable AZURE_ACCESS_TOKEN, whose value is then wiped
 * in place and removed from the environment. The text is what `az account get-access-token
 * --query accessToken -o tsv` prints: one trailing newline ("\n" or "\r\n") is dropped; what
 * remains must be 1.. visible ASCII characters (no spaces or control characters, so it cannot
 * inject a header line). *token: secure memory, NUL-terminated, kt_secbuf_free. Neither given
 * is KT_EUSAGE.
 */
KT_MUST kt_rc online_token_load(const char *token_file, kt_secbuf *token, kt_err *e);

/* How a request ended. */
typedef enum online_fate {
    ONLINE_ANSWERED = 0, /* an HTTP answer came back: status, body, retry_after */
    ONLINE_NOT_SENT,     /* no connection (refused, reset or timed out while connecting or in
                          * the TLS handshake): the request never went out; sending it again is
                          * safe */
    ONLINE_LOST,         /* the request went out, or may have, and no answer came (reset,
                          * time-out, an empty reply): the service may have acted on it */
    ONLINE_FAILED,       /* what sending again would not mend: a certificate that does not
                          * verify, an unusable CA file, a host name that does not resolve, an
                          * answer over the cap */
} online_fate;

/* What came back from the service. */
typedef struct online_http {
    online_fate fate;
    long status;
    kt_buf body;          /* at most ONLINE_RESPONSE_MAX bytes */
    char retry_after[64]; /* the answer's Retry-After header, "" when none (printable ASCII) */
    char challenge[256];  /* a 401's WWW-Authenticate header, "" when none (printable ASCII) */
} online_http;

/* One request to the vault. */
typedef struct online_request {
    const online_vault *vault;
    const char *method; /* "PUT", with body (application/json), or "GET", body NULL */
    const char *url;
    const char *body;
    const kt_secbuf *token;
    const char *cacert;  /* CA certificates instead of the system's; NULL: the system's */
    const char *resolve; /* an IP address to connect to for the vault's host instead of what
                            DNS says (the certificate is still checked for the host's name);
                            NULL: DNS */
    long timeout;        /* seconds for the whole request, 1.. (connecting: at most
                          * ONLINE_CONNECT_TIMEOUT of them) */
} online_request;

/*
 * Sends req with "Authorization: Bearer <token>", through libcurl: HTTPS with peer and host
 * verification (TLS 1.2 or newer; cacert, when not NULL, replaces the system CA store), or plain
 * HTTP only when the vault is loopback (then never through a proxy); headers never go to a
 * proxy (CURLHEADER_SEPARATE); redirects are not followed; the answer is capped at
 * ONLINE_RESPONSE_MAX bytes (KT_ETOOBIG). KT_OK when an answer came (resp->fate
 * ONLINE_ANSWERED, whatever its status); otherwise resp->fate says whether the request went out
 * and e says why: a server that cannot be reached is KT_EIO with the URL in the message, a
 * certificate that does not verify KT_EDENIED. The copy of the header this code makes is wiped;
 * libcurl's own request buffer is not (see docs/threat-model.md). curl_global_init must have
 * been called. *resp: online_http_free, on every path.
 */
KT_MUST kt_rc online_http_send(const online_request *req, online_http *resp, kt_err *e);

void online_http_free(online_http *r);

/* ------------------------------------------------------------------------------------------ */
/* The upload: retries and the lost answer (upload.c)                                          */
/* ------------------------------------------------------------------------------------------ */

#define ONLINE_TRIES_DEFAULT    4 /* attempts of each request (the import, the look-up) */
#define ONLINE_TRIES_MAX        10
#define ONLINE_MAX_TIME_DEFAULT 300 /* seconds for the whole upload, waits included */
#define ONLINE_MAX_TIME_MAX     3600
#define ONLINE_TIMEOUT_MAX      600 /* seconds, the largest --timeout */
#define ONLINE_RETRY_AFTER_MAX  60  /* the longest Retry-After waited for, seconds */
#define ONLINE_BACKOFF_FIRST    1   /* seconds before the first retry without Retry-After */
#define ONLINE_BACKOFF_MAX      16  /* and the most it doubles to */

/* The bounds of an upload (the options --tries, --timeout and --max-time). */
typedef struct online_policy {
    unsigned tries;    /* 1..ONLINE_TRIES_MAX attempts of each request */
    unsigned timeout;  /* 1..ONLINE_TIMEOUT_MAX seconds per request */
    unsigned max_time; /* 1..ONLINE_MAX_TIME_MAX seconds in all */
} online_policy;

/* ONLINE_TRIES_DEFAULT, ONLINE_TIMEOUT, ONLINE_MAX_TIME_DEFAULT. */
void online_policy_default(online_policy *p);

/*
 * The value of an HTTP Retry-After header (RFC 9110 §10.2.3): delay-seconds (digits) or an
 * HTTP-date in any of the three forms of §5.6.7 (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
 * rfc850 "Sunday, 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"), with optional
 * spaces around it. *seconds: the wait from now (a date in the past is 0; at most UINT32_MAX).
 * False for anything else.
 */
bool online_retry_after_parse(const char *value, time_t now, uint64_t *seconds);

/* What the upload needs from the world outside: the network, the clocks and the user. */
typedef struct online_transport {
    /* Sends the one request of the upload with method "PUT" (the import) or "GET" (the key
     * under the same URL), within timeout seconds, as online_http_send does. */
    kt_rc (*send)(void *ctx, const char *method, long timeout, online_http *resp, kt_err *e);
    void (*sleep)(void *ctx, unsigned seconds);
    uint64_t (*now_ms)(void *ctx);             /* a monotonic clock */
    time_t (*wall)(void *ctx);                 /* the time of day, for Retry-After dates */
    void (*note)(void *ctx, const char *text); /* what happens, for the user; may be NULL */
    void *ctx;
} online_transport;

/* How the upload ended, when it succeeded. */
typedef struct online_upload_result {
    bool already;        /* the key was found by a GET (an import whose answer was lost, a
                          * 409 Conflict), not in the import's own answer */
    bool compared;       /* the public key was compared (online_check_answer) */
    online_imported got; /* the key the vault holds */
    unsigned puts, gets; /* requests sent */
} online_upload_result;

/*
 * The upload's requests, bounded by p:
 *  - PUT (Import Key). 200: the answer is checked (online_check_answer) and that is the end.
 *    429 and 503: sent again after Retry-After (seconds or a date) or, without one, 1, 2, 4 ...
 *    up to ONLINE_BACKOFF_MAX seconds; a Retry-After over ONLINE_RETRY_AFTER_MAX stops the
 *    upload. No connection (ONLINE_NOT_SENT): sent again after the same back-off. 409 Conflict,
 *    another 5xx or a lost answer (ONLINE_LOST): the vault is asked (GET).
 *  - GET (Get Key, the same URL). 200: the key is checked as an import answer would be
 *    (online_check_answer); an AES key cannot be (no public part), which is KT_EDENIED. 404
 *    after a 409: KT_EDENIED (a deleted key kept for recovery holds the name); 404 after a lost
 *    answer: the import did not happen, PUT again. 429, 5xx, no connection, a lost answer: GET
 *    again after the back-off.
 *  - 401, 403, other 4xx, 3xx: stop with the service's refusal (online_parse_answer).
 * Each request kind is sent at most p->tries times, each within p->timeout seconds (less when
 * the time left is shorter), and no wait starts that would end after p->max_time seconds from
 * the start. Giving up is KT_EIO saying what happened last and whether the key may be imported.
 * out->puts and out->gets count the requests on every path.
 */
KT_MUST kt_rc online_upload_run(const online_policy *p, const online_transport *t,
                                const online_expect *want, online_upload_result *out, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The environment (env.c)                                                                     */
/* ------------------------------------------------------------------------------------------ */

#define ONLINE_ENV_IGNORED_MAX 32

/*
 * Removes from the environment the variables through which libcurl or OpenSSL would log TLS
 * secrets or take their trust and code from elsewhere (docs/threat-model.md, "The environment"):
 * SSLKEYLOGFILE, GNUTLS_KEYLOGFILE, OPENSSL_CONF, OPENSSL_CONF_INCLUDE, OPENSSL_ENGINES,
 * OPENSSL_MODULES, OPENSSL_TRACE and every CURL_* variable, which the caller should warn about;
 * and, without a word, SSL_CERT_FILE, SSL_CERT_DIR and CURL_CA_BUNDLE (trust comes from the
 * system store or --cacert only; images commonly set these to the system store itself). Must
 * run before OpenSSL or libcurl is first used. The names to warn about (static strings that
 * live until exit) go into names, at most max of them; returns how many there were in all.
 */
size_t online_env_scrub(const char **names, size_t max);

#endif
