/*
 * http.c - the bearer token and one request of an upload, through libcurl: HTTPS with the
 * peer's certificate and host name checked, plain HTTP only on loopback, no redirects, a capped
 * answer and timeouts, and what became of a request that got no answer (online_fate). The token is
 * kept in sodium_malloc memory and every copy this code makes is wiped.
 */
#include "online.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* ---- the token --------------------------------------------------------------------------- */

/* Drops one trailing "\n" or "\r\n" and checks what remains is visible ASCII. */
static kt_rc token_finish(kt_secbuf *raw, const char *source, kt_secbuf *token, kt_err *e)
{
    size_t n = raw->len;
    kt_rc rc;
    if (n > 0 && raw->p[n - 1] == '\n') {
        n--;
        if (n > 0 && raw->p[n - 1] == '\r')
            n--;
    }
    if (n == 0)
        return kt_fail(e, KT_EUSAGE, "%s holds no token", source);
    for (size_t i = 0; i < n; i++)
        if (raw->p[i] < 0x21 || raw->p[i] > 0x7e)
            return kt_fail(e, KT_EFORMAT,
                           "%s: the token has a space, line break or other invisible character "
                           "at position %zu; give the bare token as `az account get-access-token "
                           "--query accessToken -o tsv` prints it",
                           source, i + 1);
    if ((rc = kt_secbuf_alloc(token, n + 1, e)) != KT_OK)
        return rc;
    memcpy(token->p, raw->p, n);
    token->p[n] = '\0';
    token->len = n;
    return KT_OK;
}

kt_rc online_token_load(const char *token_file, kt_secbuf *token, kt_err *e)
{
    kt_secbuf raw = {0};
    kt_rc rc;

    token->p = NULL;
    token->len = 0;
    if (token_file != NULL) {
        if ((rc = kt_file_read_secret(token_file, ONLINE_TOKEN_MAX, &raw, e)) != KT_OK)
            return rc;
        rc = token_finish(&raw, token_file, token, e);
        kt_secbuf_free(&raw);
        return rc;
    }
    char *env = getenv(ONLINE_TOKEN_ENV);
    if (env == NULL || env[0] == '\0')
        return kt_fail(e, KT_EUSAGE,
                       "no bearer token: give --token-file FILE or set " ONLINE_TOKEN_ENV
                       " (for example from `az account get-access-token --resource "
                       "https://vault.azure.net --query accessToken -o tsv`)");
    size_t n = strlen(env);
    if (n > ONLINE_TOKEN_MAX) {
        rc = kt_fail(e, KT_ETOOBIG, ONLINE_TOKEN_ENV " is longer than %d bytes", ONLINE_TOKEN_MAX);
    } else if ((rc = kt_secbuf_alloc(&raw, n, e)) == KT_OK) {
        memcpy(raw.p, env, n);
        raw.len = n;
        rc = token_finish(&raw, ONLINE_TOKEN_ENV, token, e);
    }
    /* The environment is readable in /proc/PID/environ for as long as we run: wipe it there. */
    kt_wipe(env, n);
    unsetenv(ONLINE_TOKEN_ENV);
    kt_secbuf_free(&raw);
    return rc;
}

/* ---- the request ------------------------------------------------------------------------- */

void online_http_free(online_http *r)
{
    kt_buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

/* The answer, collected up to ONLINE_RESPONSE_MAX bytes; more aborts the transfer. */
struct sink {
    uint8_t *p;
    size_t len;
    bool over;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct sink *s = ctx;
    size_t n = size * nmemb;
    if (n > ONLINE_RESPONSE_MAX - s->len) {
        s->over = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (s->p == NULL && (s->p = malloc(ONLINE_RESPONSE_MAX)) == NULL)
        return 0;
    memcpy(s->p + s->len, data, n);
    s->len += n;
    return n;
}

static void free_headers(struct curl_slist *h)
{
    for (struct curl_slist *i = h; i != NULL; i = i->next)
        kt_wipe(i->data, strlen(i->data)); /* the Authorization line */
    curl_slist_free_all(h);
}

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (curl_easy_setopt(curl, opt, val) != CURLE_OK) {                                        \
            rc = kt_fail(e, KT_ECRYPTO, "libcurl refused option %s", #opt);                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* The answer's Retry-After, kept printable (online_retry_after_parse reads it). */
static void retry_after(CURL *curl, char *out, size_t outsz)
{
    struct curl_header *h = NULL;
    out[0] = '\0';
    if (curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h != NULL &&
        h->value != NULL)
        kt_quote(out, outsz, h->value, strlen(h->value));
}

/* Whether a failed transfer may have reached the server: libcurl stamps the pre-transfer time
 * once the connection (and TLS) is up, just before the request is written. */
static bool went_out(CURL *curl)
{
    curl_off_t pre = 0;
    return curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK || pre > 0;
}

/* How a failed transfer ended (online_fate), and the error for it. */
static kt_rc failed(CURL *curl, CURLcode cc, const char *url, const char *why, bool over,
                    online_http *resp, kt_err *e)
{
    bool out = went_out(curl);
    resp->fate = ONLINE_FAILED;
    if (over || cc == CURLE_FILESIZE_EXCEEDED)
        return kt_fail(e, KT_ETOOBIG, "%s: the answer is longer than %d bytes", url,
                       ONLINE_RESPONSE_MAX);
    if (cc == CURLE_PEER_FAILED_VERIFICATION)
        return kt_fail(e, KT_EDENIED,
                       "%s: the server's TLS certificate does not verify (%s); nothing was sent "
                       "(trusted are the system's CA certificates, or those of --cacert FILE; "
                       "SSL_CERT_FILE, SSL_CERT_DIR and CURL_CA_BUNDLE are ignored)",
                       url, why);
    if (cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM)
        return kt_fail(e, KT_EIO, "%s: cannot use the CA certificates (%s)", url, why);
    if (cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY)
        return kt_fail(e, KT_EIO, "cannot reach %s: %s (check the vault's name)", url, why);
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        resp->fate = out ? ONLINE_LOST : ONLINE_NOT_SENT;
        break;
    default:
        /* Anything else after the request went out may still have been acted on. */
        resp->fate = out ? ONLINE_LOST : ONLINE_FAILED;
        break;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return kt_fail(e, KT_EIO, "%s: no answer in time (%s)", url, why);
    if (resp->fate == ONLINE_LOST)
        return kt_fail(e, KT_EIO, "%s: the connection broke before the answer (%s)", url, why);
    return kt_fail(e, KT_EIO, "cannot reach %s: %s", url, why);
}

kt_rc online_http_send(const online_request *req, online_http *resp, kt_err *e)
{
    const online_vault *v = req->vault;
    const char *url = req->url;
    bool put = strcmp(req->method, "PUT") == 0;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL, *h, *resolve = NULL;
    struct sink sink = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    kt_secbuf auth = {0};
    kt_rc rc = KT_OK;
    CURLcode cc;

    memset(resp, 0, sizeof *resp);
    resp->fate = ONLINE_FAILED;
    if (!put && strcmp(req->method, "GET") != 0)
        return kt_fail(e, KT_EUSAGE, "online_http_send: method %s", req->method);
    if (put != (req->body != NULL))
        return kt_fail(e, KT_EUSAGE, "online_http_send: a PUT has a body, a GET none");
    static const char prefix[] = "Authorization: Bearer ";
    if ((rc = kt_secbuf_alloc(&auth, sizeof prefix + req->token->len, e)) != KT_OK)
        return rc;
    memcpy(auth.p, prefix, sizeof prefix - 1);
    memcpy(auth.p + sizeof prefix - 1, req->token->p, req->token->len);
    auth.p[sizeof prefix - 1 + req->token->len] = '\0';

    if ((curl = curl_easy_init()) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "libcurl could not start");
        goto out;
    }
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json",
                                        "Expect:", /* no 100-continue round trip */
                                        NULL};
    for (size_t i = put ? 0 : 1; fixed[i] != NULL; i++) {
        if ((h = curl_slist_append(headers, fixed[i])) == NULL) {
            rc = kt_fail(e, KT_ENOMEM, "out of memory");
            goto out;
        }
        headers = h;
    }
    if ((h = curl_slist_append(headers, (const char *)auth.p)) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    headers = h;

    long timeout = req->timeout < 1 ? 1 : req->timeout;
    SET(CURLOPT_URL, url);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_NOPROGRESS, 1L);
    if (put) {
        SET(CURLOPT_CUSTOMREQUEST, "PUT");
        SET(CURLOPT_POSTFIELDS, req->body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
    SET(CURLOPT_HTTPHEADER, headers);
    /* The headers (the token) go to the vault only, never to a proxy's CONNECT. */
    SET(CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE);
    SET(CURLOPT_USERAGENT, "keytransfer-online/" KT_VERSION);
    SET(CURLOPT_WRITEFUNCTION, on_data);
    SET(CURLOPT_WRITEDATA, &sink);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ONLINE_RESPONSE_MAX);
    SET(CURLOPT_CONNECTTIMEOUT,
        timeout < ONLINE_CONNECT_TIMEOUT ? timeout : (long)ONLINE_CONNECT_TIMEOUT);
    SET(CURLOPT_TIMEOUT, timeout);
    /* A fresh connection for every request: a retry never rides on a connection that failed. */
    SET(CURLOPT_FORBID_REUSE, 1L);
    /* Only the scheme checked in online_vault_parse, and never a redirect. */
    SET(CURLOPT_PROTOCOLS_STR, v->https ? "https" : "http");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_MAXREDIRS, 0L);
    SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    if (v->https) {
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (req->cacert != NULL)
            SET(CURLOPT_CAINFO, req->cacert);
        if (req->resolve != NULL) {
            /* "HOST:PORT:ADDRESS" (IPv6 in brackets): only the connection's address changes;
             * the certificate is checked for HOST all the same. */
            char entry[ONLINE_HOST_MAX + 80];
            unsigned port = v->port ? v->port : 443;
            bool v6 = strchr(req->resolve, ':') != NULL;
            snprintf(entry, sizeof entry, "%s:%u:%s%s%s", v->host, port, v6 ? "[" : "",
                     req->resolve, v6 ? "]" : "");
            if ((resolve = curl_slist_append(NULL, entry)) == NULL) {
                rc = kt_fail(e, KT_ENOMEM, "out of memory");
                goto out;
            }
            SET(CURLOPT_RESOLVE, resolve);
        }
    } else {
        /* Plain HTTP is loopback only and never goes through a proxy: the token stays here. */
        SET(CURLOPT_PROXY, "");
    }

    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        rc = failed(curl, cc, url, errbuf[0] ? errbuf : curl_easy_strerror(cc), sink.over, resp, e);
        goto out;
    }
    long status = 0;
    if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status < 100 ||
        status > 599) {
        resp->fate = ONLINE_LOST;
        rc = kt_fail(e, KT_EFORMAT, "%s: the server's answer has no HTTP status", url);
        goto out;
    }
    resp->fate = ONLINE_ANSWERED;
    resp->status = status;
    retry_after(curl, resp->retry_after, sizeof resp->retry_after);
    if (status == 401) {
        struct curl_header *ch = NULL;
        if (curl_easy_header(curl, "WWW-Authenticate", 0, CURLH_HEADER, -1, &ch) == CURLHE_OK &&
            ch != NULL && ch->value != NULL)
            kt_quote(resp->challenge, sizeof resp->challenge, ch->value, strlen(ch->value));
    }
    resp->body.p = sink.p;
    resp->body.len = sink.len;
    sink.p = NULL;
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(resolve);
    free_headers(headers);
    kt_secbuf_free(&auth);
    free(sink.p);
    return rc;
}
