/*
 * serve.h - the REST side of kek/: a Key Vault-shaped endpoint in front of the emulated cloud HSM
 * (`keytransfer-cloud serve`, docs/design.md §2), on loopback only.
 *
 * Three layers, each usable without the next: the strict parser of the Import Key body (the
 * fuzz target), the request handler that maps a request to an answer without any transport, and
 * the libmicrohttpd server around it. Imports go through kek_import, the same emulated HSM as
 * `keytransfer-cloud import`.
 *
 * The API spoken (api-versions 7.0 to 7.5 and their previews, vault.h; Managed HSM from 7.2):
 *   PUT  /keys/{name}?api-version=V              Import Key  -> 200 the key bundle
 *   POST /keys/{name}/create?api-version=V       Create Key (an import-only RSA-HSM KEK) -> 200
 *   GET  /keys/{name}[/{version}]?api-version=V  Get Key     -> 200 the key bundle
 * The key bundle: {"key":JWK,"attributes":{...},"tags":{...},"release_policy":{...}} as version V
 * returns it. Every request first needs "Authorization: Bearer <token>": without it (or with
 * another token) the answer is 401 with Key Vault's challenge, naming the emulated tenant and the
 * resource of the host asked (https://vault.azure.net, or https://managedhsm.azure.net for
 * <vault>.managedhsm.azure.net). PUT and POST need "Content-Type: application/json". Errors
 * are Key Vault's {"error":{"code":...,"message":...}}: 400 BadParameter, 401 Unauthorized, 404
 * KeyNotFound or NotFound, 405 MethodNotAllowed, 409 Conflict, 413 RequestTooLarge, 415
 * UnsupportedMediaType, 500 InternalError.
 */
#ifndef KT_KEK_SERVE_H
#define KT_KEK_SERVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "kek.h"

struct kek_api;

#define KEK_SERVE_BODY_MAX    (256 * 1024) /* request body; more is 413, enforced while receiving */
#define KEK_SERVE_API_VERSION "7.4"        /* what the emulator's own clients send by default */
#define KEK_TLS_DIR           "tls"
#define KEK_SERVE_TOKEN_MIN   16
#define KEK_SERVE_TOKEN_MAX   4096

/* What clients may hold (a slow-header attack from loopback); the defaults of
 * kek_serve_limits. */
#define KEK_SERVE_CONN_MAX       32 /* connections at once */
#define KEK_SERVE_HEADER_SECONDS 5  /* a request's headers, from the accept or the last answer */
#define KEK_SERVE_BODY_SECONDS   30 /* its body and answer, from the end of its headers */
#define KEK_SERVE_IDLE_SECONDS   10 /* silence at any point (not configurable) */
#define KEK_SERVE_HEADERS_MAX    (32 * 1024) /* bytes of request line and headers */
#define KEK_SERVE_CONN_LIMIT     256         /* the largest connection cap accepted */
#define KEK_SERVE_SECONDS_LIMIT  3600        /* the longest time limit accepted */

/* How long a request may take and how many connections are served at once. */
typedef struct kek_serve_limits {
    unsigned max_connections; /* 1..KEK_SERVE_CONN_LIMIT: over it, a new connection pushes out
                                 the oldest one still sending its headers */
    unsigned header_seconds;  /* 1..KEK_SERVE_SECONDS_LIMIT, absolute, not reset by a byte */
    unsigned body_seconds;    /* 1..KEK_SERVE_SECONDS_LIMIT, absolute, not reset by a byte */
} kek_serve_limits;
#define KEK_SERVE_LIMITS_DEFAULT                                                                   \
    {                                                                                              \
        KEK_SERVE_CONN_MAX, KEK_SERVE_HEADER_SECONDS, KEK_SERVE_BODY_SECONDS                       \
    }

/* KT_EUSAGE, with the range, when a limit is out of range. */
KT_MUST kt_rc kek_serve_limits_check(const kek_serve_limits *l, kt_err *e);

/* The operations a key type takes (pkg_kv_ops_for): RSA all six, EC sign and verify, AES (oct)
 * encrypt, decrypt, wrapKey, unwrapKey. */
unsigned kek_ops_for(world_key_type type);

/* A key's attributes as a request sets them. */
typedef struct kek_key_attrs {
    bool enabled; /* true when absent */
    bool has_nbf, has_exp;
    int64_t nbf, exp; /* seconds since 1970 */
    bool exportable;  /* 7.3 on; false when absent */
} kek_key_attrs;

/* root's "attributes" (optional): enabled, nbf, exp, and exportable when api has secure key
 * release; anything else refused by name, exp not after nbf refused. what prefixes messages. */
KT_MUST kt_rc kek_attributes_parse(const json_t *root, const struct kek_api *api, const char *what,
                                   kek_key_attrs *out, kt_err *e);

/* root's "tags" (optional) checked and copied into *out (NULL when absent). */
KT_MUST kt_rc kek_tags_parse(const json_t *root, const char *what, json_t **out, kt_err *e);

/* An Import Key body, parsed. */
typedef struct kek_import_body {
    world_key_type type;                 /* from kty RSA-HSM, EC-HSM, oct-HSM */
    char kty[8];                         /* as sent */
    char crv[8];                         /* EC: P-256, P-384, P-521 or P-256K; else "" */
    char curve[WORLD_KEY_CURVE_MAX + 1]; /* EC: world/'s canonical name ("secp256k1"); else "" */
    unsigned ops; /* PKG_KV_OP_* bits; all the type takes when key_ops is absent */
    kt_buf byok;  /* the decoded key_hsm: the .byok file's bytes */
    bool hsm;     /* "Hsm" was sent (it can only be true) */
    bool enabled; /* attributes.enabled; true when absent */
    bool has_nbf, has_exp;
    int64_t nbf, exp;       /* attributes.nbf, .exp: seconds since 1970 */
    bool exportable;        /* attributes.exportable (7.3 on); false when absent */
    json_t *tags;           /* the tags object (owned), or NULL */
    json_t *release_policy; /* {"contentType","data"[,"immutable"]} as it will be stored
                               (owned), or NULL */
} kek_import_body;

/*
 * Parses an Import Key body strictly (kt_json_parse: one object, at most KEK_SERVE_BODY_MAX
 * bytes, no duplicate keys, no trailing data), as api-version api takes it (NULL: the newest):
 *   {"key":{"kty":"RSA-HSM"|"EC-HSM"|"oct-HSM", "crv":... (EC-HSM only, required there),
 *           "key_ops":[...] (optional: 1..6 distinct operations the type takes),
 *           "key_hsm":"<strict unpadded base64url of 1..PKG_BYOK_MAX bytes>"},
 *    "Hsm":true (optional; false asks for a software key and is refused),
 *    "attributes":{"enabled":bool, "nbf":int, "exp":int, "exportable":bool (7.3 on)} (optional),
 *    "tags":{"name":"value",...} (optional: at most 15, names of 1..512 and values of 0..256
 *           characters),
 *    "release_policy":{"contentType":..., "data":"<base64url of a JSON object>",
 *           "immutable":bool (7.3 on)} (7.3 on; required when exportable is true)}
 * and nothing else. Software key types (RSA, EC, oct) are refused: this is an HSM. Every
 * refusal is KT_EFORMAT (KT_ETOOBIG over the cap) with a message naming the member. Whether the
 * .byok matches kty is for the handler to check. *out: kek_import_body_free.
 */
KT_MUST kt_rc kek_import_body_parse_api(const uint8_t *in, size_t len, const struct kek_api *api,
                                        kek_import_body *out, kt_err *e);

/* kek_import_body_parse_api for the newest api-version. */
KT_MUST kt_rc kek_import_body_parse(const uint8_t *in, size_t len, kek_import_body *out, kt_err *e);

void kek_import_body_free(kek_import_body *b);

/*
 * Parses a listen address "IPv4:PORT" or "[IPv6]:PORT" (PORT 0..65535, 0: any free port) that
 * must be a loopback address: 127.0.0.0/8 or ::1 ("localhost" is taken as 127.0.0.1). Anything
 * else is KT_EUSAGE: the emulator never listens where another machine can reach it.
 */
KT_MUST kt_rc kek_listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                               kt_err *e);

/* What the handler serves: the opened cloud, the bearer token, and the lock that serializes
 * requests to the emulated HSM. */
typedef struct kek_rest {
    kek_cloud *cloud;
    const kt_secbuf *token; /* NUL-terminated; owned by the caller */
    pthread_mutex_t lock;
} kek_rest;

/* One request, as the transport received it (NULL for an absent header or query value). */
typedef struct kek_rest_request {
    const char *method;
    const char *path; /* without the query */
    const char *api_version;
    const char *authorization;
    const char *content_type;
    const char *host; /* the Host header */
    const uint8_t *body;
    size_t len;
} kek_rest_request;

/* The answer. */
typedef struct kek_rest_response {
    unsigned status;
    char *body;                 /* JSON, heap (free()) */
    const char *allow;          /* an Allow header value (405), or NULL */
    char www_authenticate[160]; /* Key Vault's WWW-Authenticate challenge (401), or "" */
    char code[32];              /* the error code, "" on success (for the log) */
} kek_rest_response;

/*
 * The checks that need only the request line and headers: route, method, api-version, token,
 * content type. Returns true and fills rs when they already decide the answer (so a transport
 * can answer before it reads a body); false when the request may go on.
 */
bool kek_rest_precheck(kek_rest *s, const kek_rest_request *rq, kek_rest_response *rs);

/* The whole request, body included: always fills rs (free rs->body with free()). Never fails:
 * anything malformed is a 4xx answer, anything broken a 500. */
void kek_rest_handle(kek_rest *s, const kek_rest_request *rq, kek_rest_response *rs);

/* The server's TLS certificate and key, as PEM (NUL-terminated). */
typedef struct kek_tls {
    kt_buf cert_pem;
    kt_secbuf key_pem;
    uint8_t sha256[32]; /* of the certificate's DER */
    bool made;          /* kek_tls_self_signed made it just now */
} kek_tls;

/* Reads a PEM certificate and its unencrypted PEM private key, checking they belong together. */
KT_MUST kt_rc kek_tls_load(const char *cert_file, const char *key_file, kek_tls *t, kt_err *e);

/*
 * The self-signed certificate of `serve --tls`: state/tls/cert.pem and key.pem, made once (P-256,
 * CA:TRUE so that a client may trust it as its own anchor, serverAuth, 825 days) for
 * <vault>.vault.azure.net, <vault>.managedhsm.azure.net, localhost, 127.0.0.1 and ::1, and
 * reused after. The key is written first, with the careful writer (0600).
 */
KT_MUST kt_rc kek_tls_self_signed(const kek_cloud *c, kek_tls *t, kt_err *e);

/* The path of the certificate kek_tls_self_signed keeps. */
KT_MUST kt_rc kek_tls_paths(const kek_cloud *c, char *cert, size_t certsz, kt_err *e);

void kek_tls_free(kek_tls *t);

/* A running server. */
typedef struct kek_server kek_server;

/* Receives one line per request ("PUT /keys/x 200", no newline), from the server's thread. */
typedef void (*kek_log_fn)(void *ctx, const char *line);

/*
 * Starts a libmicrohttpd server on the loopback address sa (from kek_listen_parse), speaking
 * TLS 1.2 or 1.3 (libmicrohttpd's GnuTLS) with tls when it is not NULL, else plain HTTP, served by
 * one thread of its own, so requests reach the HSM one at a time (and s->lock serializes them too).
 * Caps: KEK_SERVE_BODY_MAX per body, KEK_SERVE_HEADERS_MAX of headers, KEK_SERVE_IDLE_SECONDS of
 * silence, and limits (NULL: KEK_SERVE_LIMITS_DEFAULT): absolute deadlines per request, for its
 * headers and then for the rest, so that trickling a byte at a time does not hold a connection;
 * and a connection cap, a new connection pushing out the oldest one still in its headers, so
 * that honest requests are served while others trickle. There is no per-address limit: on
 * loopback every client has the same address. Each connection the server ends is logged.
 * *out: kek_serve_stop.
 */
KT_MUST kt_rc kek_serve_start(kek_rest *rest, const struct sockaddr *sa, socklen_t salen,
                              const kek_serve_limits *limits, const kek_tls *tls, kek_log_fn log,
                              void *log_ctx, kek_server **out, kt_err *e);

/* The port the server listens on (the one chosen when port 0 was asked for). */
unsigned kek_serve_port(const kek_server *s);

/* Stops the server: waits for its thread, closes every connection, frees everything. */
void kek_serve_stop(kek_server *s);

#endif
