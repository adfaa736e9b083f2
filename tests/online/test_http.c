/*
 * test_http.c - the bearer token and one request: what goes on the wire (method, path, headers,
 * body) for the import and the look-up, that a redirect is not followed, that an answer over the
 * cap is refused, that an unreachable vault is an I/O error naming the URL, that a TLS handshake
 * is required for https (a plain HTTP server on the other end fails it), what became of a
 * request that got no answer (never sent, or lost), and the Retry-After header.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "otest.h"

static void global_init(void)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
}

static void global_fini(void)
{
    curl_global_cleanup();
}

TestSuite(http, .init = global_init, .fini = global_fini);

/* ---- the token ---- */

static kt_rc token_from_file(const char *text, kt_secbuf *t, kt_err *e)
{
    char *dir = ts_scratch(), *path = ts_path(dir, "token");
    ts_write(path, text, strlen(text));
    kt_rc rc = online_token_load(path, t, e);
    free(path);
    ts_rmrf(dir);
    return rc;
}

Test(token, file_with_one_trailing_newline)
{
    kt_secbuf t;
    kt_err e;
    cr_assert_eq(token_from_file("eyJ0eXAi.abc-_\n", &t, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(t.len, 14);
    cr_expect_str_eq((char *)t.p, "eyJ0eXAi.abc-_");
    kt_secbuf_free(&t);
    cr_assert_eq(token_from_file("abc\r\n", &t, &e), KT_OK, "%s", e.msg);
    cr_expect_str_eq((char *)t.p, "abc");
    kt_secbuf_free(&t);
    cr_assert_eq(token_from_file("abc", &t, &e), KT_OK, "%s", e.msg);
    kt_secbuf_free(&t);
}

Test(token, refuses_what_could_break_a_header)
{
    static const char *const bad[] = {"",
                                      "\n",
                                      "abc\n\n",
                                      "ab c",
                                      "abc\r\nX-Evil: 1\n",
                                      "abc\t",
                                      "a\x01"
                                      "b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kt_secbuf t;
        kt_err e;
        kt_rc rc = token_from_file(bad[i], &t, &e);
        cr_expect(rc == KT_EFORMAT || rc == KT_EUSAGE, "token %zu accepted", i);
        cr_expect_null(t.p);
    }
}

Test(token, from_the_environment_which_is_then_wiped)
{
    kt_secbuf t;
    kt_err e;
    cr_assert_eq(setenv(ONLINE_TOKEN_ENV, "env-token-123\n", 1), 0);
    char *env = getenv(ONLINE_TOKEN_ENV);
    cr_assert_eq(online_token_load(NULL, &t, &e), KT_OK, "%s", e.msg);
    cr_expect_str_eq((char *)t.p, "env-token-123");
    cr_expect_null(getenv(ONLINE_TOKEN_ENV), "still in the environment");
    for (size_t i = 0; i < 14; i++)
        cr_expect_eq(env[i], 0, "byte %zu of the environment copy is not wiped", i);
    kt_secbuf_free(&t);
    cr_expect_eq(online_token_load(NULL, &t, &e), KT_EUSAGE);
    cr_expect(strstr(e.msg, "--token-file") != NULL, "%s", e.msg);
}

/* ---- the request ---- */

static kt_rc request(unsigned port, const char *scheme, const char *method, long timeout,
                     online_http *resp, kt_err *e)
{
    online_vault v;
    char base[64], url[256];
    kt_secbuf token = {0};
    snprintf(base, sizeof base, "%s://127.0.0.1:%u", scheme, port);
    cr_assert_eq(online_vault_parse(base, &v, e), KT_OK, "%s", e->msg);
    cr_assert_eq(online_key_url(&v, "MyKey", url, sizeof url, e), KT_OK);
    cr_assert_eq(kt_secbuf_alloc(&token, 8, e), KT_OK);
    memcpy(token.p, "tok-123", 8);
    token.len = 7;
    online_request req = {.vault = &v,
                          .method = method,
                          .url = url,
                          .body = strcmp(method, "PUT") == 0 ? "{\"key\":{}}" : NULL,
                          .token = &token,
                          .timeout = timeout};
    kt_rc rc = online_http_send(&req, resp, e);
    kt_secbuf_free(&token);
    return rc;
}

static kt_rc put(unsigned port, const char *scheme, online_http *resp, kt_err *e)
{
    return request(port, scheme, "PUT", 30, resp, e);
}

Test(http, what_goes_on_the_wire)
{
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
    ot_server s;
    online_http r;
    kt_err e;
    ot_server_start(&s, answer, sizeof answer - 1, 10000);
    cr_assert_eq(put(s.port, "http", &r, &e), KT_OK, "%s", e.msg);
    ot_server_join(&s);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body.len, 11);
    cr_expect_arr_eq(r.body.p, "{\"ok\":true}", 11);
    cr_assert_not_null(s.request);
    cr_expect(strncmp(s.request, "PUT /keys/MyKey?api-version=7.4 HTTP/1.1\r\n", 42) == 0, "%s",
              s.request);
    cr_expect(strstr(s.request, "\r\nAuthorization: Bearer tok-123\r\n") != NULL, "%s", s.request);
    cr_expect(strstr(s.request, "\r\nContent-Type: application/json\r\n") != NULL);
    cr_expect(strstr(s.request, "\r\n\r\n{\"key\":{}}") != NULL);
    cr_expect(strstr(s.request, "Expect:") == NULL, "no 100-continue");
    online_http_free(&r);
    ot_server_free(&s);
}

Test(http, a_redirect_is_not_followed)
{
    ot_server s, target;
    online_http r;
    online_imported got;
    kt_err e;
    char answer[256];
    ot_server_start(&target, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, 500);
    snprintf(answer, sizeof answer,
             "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:%u/keys/MyKey\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
             target.port);
    ot_server_start(&s, answer, strlen(answer), 10000);
    cr_assert_eq(put(s.port, "http", &r, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(r.status, 307);
    cr_expect_eq(online_parse_answer(r.status, r.body.p, r.body.len, &got, &e), KT_EIO);
    cr_expect(strstr(e.msg, "redirect") != NULL, "%s", e.msg);
    ot_server_join(&target); /* times out: nobody came */
    cr_expect_not(target.accepted, "the redirect was followed");
    online_http_free(&r);
    ot_server_free(&s);
    ot_server_free(&target);
}

Test(http, an_answer_over_the_cap_is_refused, .timeout = 60)
{
    size_t big = ONLINE_RESPONSE_MAX + 4096;
    char *answer = malloc(big + 128);
    cr_assert_not_null(answer);
    int h = snprintf(answer, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", big);
    memset(answer + h, 'x', big);
    ot_server s;
    online_http r;
    kt_err e;
    ot_server_start(&s, answer, (size_t)h + big, 10000);
    cr_expect_eq(put(s.port, "http", &r, &e), KT_ETOOBIG, "%s", e.msg);
    cr_expect_null(r.body.p);
    ot_server_free(&s);
    free(answer);
}

Test(http, an_unreachable_vault_is_an_io_error_naming_the_url)
{
    online_http r;
    kt_err e;
    unsigned port = ot_closed_port();
    char want[64];
    cr_expect_eq(put(port, "http", &r, &e), KT_EIO);
    cr_expect_eq(r.fate, ONLINE_NOT_SENT, "a refused connection carried nothing");
    snprintf(want, sizeof want, "http://127.0.0.1:%u/keys/MyKey", port);
    cr_expect(strstr(e.msg, want) != NULL, "'%s' lacks the URL", e.msg);
    cr_expect_eq(kt_rc_exit(e.rc), 4);
}

Test(http, https_needs_a_tls_server)
{
    /* An https URL against a plain HTTP server: the handshake fails, nothing is imported, and
     * the token never goes out in clear text (the server sees only a TLS ClientHello). */
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ot_server s;
    online_http r;
    kt_err e;
    ot_server_start(&s, answer, sizeof answer - 1, 10000);
    kt_rc rc = put(s.port, "https", &r, &e);
    ot_server_join(&s);
    cr_expect_neq(rc, KT_OK);
    cr_expect_eq(r.fate, ONLINE_NOT_SENT, "a failed handshake carried no request");
    cr_expect(s.request == NULL || strstr(s.request, "tok-123") == NULL,
              "the token was sent in clear text");
    ot_server_free(&s);
}

Test(http, the_look_up_is_a_get_without_a_body)
{
    static const char answer[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    ot_server s;
    online_http r;
    kt_err e;
    ot_server_start(&s, answer, sizeof answer - 1, 10000);
    cr_assert_eq(request(s.port, "http", "GET", 30, &r, &e), KT_OK, "%s", e.msg);
    ot_server_join(&s);
    cr_expect_eq(r.fate, ONLINE_ANSWERED);
    cr_expect_eq(r.status, 404);
    cr_assert_not_null(s.request);
    cr_expect(strncmp(s.request, "GET /keys/MyKey?api-version=7.4 HTTP/1.1\r\n", 42) == 0, "%s",
              s.request);
    cr_expect(strstr(s.request, "\r\nAuthorization: Bearer tok-123\r\n") != NULL, "%s", s.request);
    cr_expect(strstr(s.request, "Content-Type") == NULL, "%s", s.request);
    cr_expect(strstr(s.request, "Content-Length") == NULL, "%s", s.request);
    online_http_free(&r);
    ot_server_free(&s);
}

Test(http, a_method_other_than_put_and_get_is_refused)
{
    online_http r;
    kt_err e;
    cr_expect_eq(request(ot_closed_port(), "http", "DELETE", 30, &r, &e), KT_EUSAGE);
    cr_expect_eq(r.fate, ONLINE_FAILED);
}

Test(http, retry_after_is_kept)
{
    static const char answer[] = "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\n"
                                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
    ot_server s;
    online_http r;
    kt_err e;
    ot_server_start(&s, answer, sizeof answer - 1, 10000);
    cr_assert_eq(put(s.port, "http", &r, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(r.status, 429);
    cr_expect_str_eq(r.retry_after, "7");
    online_http_free(&r);
    ot_server_free(&s);

    static const char none[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    ot_server_start(&s, none, sizeof none - 1, 10000);
    cr_assert_eq(put(s.port, "http", &r, &e), KT_OK, "%s", e.msg);
    cr_expect_eq(r.status, 503);
    cr_expect_str_eq(r.retry_after, "");
    online_http_free(&r);
    ot_server_free(&s);
}

Test(http, a_request_read_and_left_unanswered_is_lost)
{
    /* The server reads the whole request and closes without a word: the vault may have acted
     * on it, so it is ONLINE_LOST, not ONLINE_NOT_SENT (which would be sent again blindly). */
    ot_server s;
    online_http r;
    kt_err e;
    ot_server_start(&s, "", 0, 10000);
    cr_expect_eq(put(s.port, "http", &r, &e), KT_EIO);
    ot_server_join(&s);
    cr_expect(s.accepted);
    cr_expect_eq(r.fate, ONLINE_LOST, "%s", e.msg);
    cr_expect(strstr(s.request, "{\"key\":{}}") != NULL, "the body did not arrive");
    ot_server_free(&s);
}

Test(http, a_slow_answer_is_lost_after_the_time_out, .timeout = 30)
{
    /* A listener that never accepts: the kernel completes the connection, the request goes into
     * its queue, no answer comes. */
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    online_http r;
    kt_err e;
    cr_expect_eq(request(ntohs(a.sin_port), "http", "PUT", 1, &r, &e), KT_EIO);
    cr_expect_eq(r.fate, ONLINE_LOST, "%s", e.msg);
    cr_expect(strstr(e.msg, "no answer in time") != NULL, "%s", e.msg);
    close(fd);
}
