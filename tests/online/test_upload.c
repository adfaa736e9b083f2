/*
 * test_upload.c - the upload's policy (upload.c) against a scripted vault and a fake clock: each
 * script is the conversation expected, request by request, with the answers the vault gives;
 * the tests assert the outcome, the requests sent and the waits. Also Retry-After in its four
 * forms, and the environment variables the program removes (env.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otest.h"

/* ---- Retry-After ---- */

#define RFC_DATE 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT, the example of RFC 9110 §5.6.7 */

Test(retry_after, delay_seconds)
{
    static const struct {
        const char *v;
        uint64_t s;
    } good[] = {{"120", 120}, {" 5 ", 5}, {"0", 0}, {"\t7", 7}, {"99999999999999", UINT32_MAX}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t s = 1234;
        cr_expect(online_retry_after_parse(good[i].v, 0, &s), "'%s' refused", good[i].v);
        cr_expect_eq(s, good[i].s, "'%s': %llu", good[i].v, (unsigned long long)s);
    }
    static const char *const bad[] = {"", " ", "5s", "-1", "1.5", "+3", "0x10", "3 4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t s;
        cr_expect_not(online_retry_after_parse(bad[i], 0, &s), "'%s' accepted", bad[i]);
    }
}

Test(retry_after, the_three_date_forms)
{
    static const char *const forms[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994", " Sun, 06 Nov 1994 08:49:37 GMT "};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        uint64_t s = 0;
        cr_expect(online_retry_after_parse(forms[i], RFC_DATE - 10, &s), "'%s' refused", forms[i]);
        cr_expect_eq(s, 10, "'%s': %llu", forms[i], (unsigned long long)s);
        cr_expect(online_retry_after_parse(forms[i], RFC_DATE + 10, &s));
        cr_expect_eq(s, 0, "a date in the past is no wait");
    }
    /* rfc850's two-digit year: "94" read in 2024 is 1994, not 2094 (RFC 9110 §5.6.7) */
    uint64_t s = 0;
    cr_expect(online_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", 1704067200, &s));
    cr_expect_eq(s, 0);
    /* and "30" read in 2024 is 2030 */
    cr_expect(online_retry_after_parse("Wednesday, 01-Jan-30 00:00:00 GMT", 1704067200, &s));
    cr_expect_eq(s, 1893456000 - 1704067200);
}

Test(retry_after, dates_that_are_not)
{
    static const char *const bad[] = {
        "Sun, 06 Nov 1994 08:49:37 UTC",    "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",     "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",    "Sun, 06 Now 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",       "Sun Nov 6 08:49:37 1994",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Funday, 06-Nov-94 08:49:37 GMT",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t s;
        cr_expect_not(online_retry_after_parse(bad[i], RFC_DATE, &s), "'%s' accepted", bad[i]);
    }
}

/* ---- the scripted vault ---- */

#define KID    "https://contoso.vault.azure.net/keys/MyKey/0123456789abcdef0123456789abcdef"
#define NSTEPS 16

/* One request expected and what the vault does with it. */
typedef struct step {
    const char *method;      /* what must be sent */
    online_fate fate;        /* ONLINE_ANSWERED, or how it fails */
    long status;             /* when answered */
    const char *body;        /* "good", "other", "oct", "exportable", or NULL for an error body */
    const char *retry_after; /* the header, or NULL */
} step;

typedef struct vault {
    const step *steps;
    size_t n, next;
    uint64_t now; /* ms */
    unsigned waits[NSTEPS];
    size_t nwaits;
    long timeouts[NSTEPS];
    EVP_PKEY *key, *other;
    bool failed_script; /* a request the script did not expect */
} vault;

static char *key_answer(EVP_PKEY *k, const char *kty, bool exportable)
{
    json_t *jwk =
        json_pack("{s:s, s:s, s:[s,s]}", "kid", KID, "kty", kty, "key_ops", "sign", "verify");
    if (k != NULL) {
        BIGNUM *x = NULL, *y = NULL;
        uint8_t bx[32], by[32];
        char *sx, *sy;
        kt_err e;
        cr_assert(EVP_PKEY_get_bn_param(k, "qx", &x) == 1 &&
                  EVP_PKEY_get_bn_param(k, "qy", &y) == 1);
        cr_assert(BN_bn2binpad(x, bx, 32) == 32 && BN_bn2binpad(y, by, 32) == 32);
        cr_assert_eq(kt_b64url_encode(bx, 32, &sx, &e), KT_OK);
        cr_assert_eq(kt_b64url_encode(by, 32, &sy, &e), KT_OK);
        json_object_set_new(jwk, "crv", json_string("P-256"));
        json_object_set_new(jwk, "x", json_string(sx));
        json_object_set_new(jwk, "y", json_string(sy));
        free(sx);
        free(sy);
        BN_free(x);
        BN_free(y);
    } else {
        json_object_set_new(jwk, "key_ops", json_pack("[s,s]", "wrapKey", "unwrapKey"));
    }
    json_t *root = json_pack("{s:o, s:{s:b, s:b}}", "key", jwk, "attributes", "enabled", 1,
                             "exportable", exportable);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static kt_rc v_send(void *ctx, const char *method, long timeout, online_http *resp, kt_err *e)
{
    vault *v = ctx;
    memset(resp, 0, sizeof *resp);
    if (v->next >= v->n || strcmp(v->steps[v->next].method, method) != 0) {
        v->failed_script = true;
        cr_log_error("request %zu: %s, the script expects %s", v->next + 1, method,
                     v->next < v->n ? v->steps[v->next].method : "nothing");
        resp->fate = ONLINE_FAILED;
        return kt_fail(e, KT_EIO, "off the script");
    }
    if (v->next < NSTEPS)
        v->timeouts[v->next] = timeout;
    const step *s = &v->steps[v->next++];
    resp->fate = s->fate;
    if (s->fate != ONLINE_ANSWERED) {
        v->now += s->fate == ONLINE_LOST ? 1000 : 100; /* a reset, not a time-out */
        return kt_fail(e, KT_EIO, "%s: scripted failure %d", method, (int)s->fate);
    }
    v->now += 100;
    resp->status = s->status;
    char *body;
    if (s->body == NULL)
        body = strdup("{\"error\":{\"code\":\"Scripted\",\"message\":\"as the script says\"}}");
    else if (strcmp(s->body, "good") == 0)
        body = key_answer(v->key, "EC-HSM", false);
    else if (strcmp(s->body, "other") == 0)
        body = key_answer(v->other, "EC-HSM", false);
    else if (strcmp(s->body, "exportable") == 0)
        body = key_answer(v->key, "EC-HSM", true);
    else
        body = key_answer(NULL, "oct-HSM", false);
    resp->body.p = (uint8_t *)body;
    resp->body.len = strlen(body);
    if (s->retry_after != NULL)
        snprintf(resp->retry_after, sizeof resp->retry_after, "%s", s->retry_after);
    return KT_OK;
}

static void v_sleep(void *ctx, unsigned seconds)
{
    vault *v = ctx;
    if (v->nwaits < NSTEPS)
        v->waits[v->nwaits++] = seconds;
    v->now += (uint64_t)seconds * 1000;
}

static uint64_t v_now(void *ctx)
{
    return ((vault *)ctx)->now;
}

static time_t v_wall(void *ctx)
{
    return RFC_DATE - 5 + (time_t)(((vault *)ctx)->now / 1000);
}

static void v_note(void *ctx, const char *text)
{
    (void)ctx;
    cr_log_info("note: %s", text);
}

typedef struct outcome {
    kt_rc rc;
    kt_err e;
    online_upload_result r;
    vault v;
} outcome;

/* Runs the script for a key of type key_type ("EC" or "AES") under the given policy. */
static void play_as(const step *steps, size_t n, const char *key_type, const online_policy *pol,
                    outcome *o)
{
    pkg_manifest m = {0};
    kt_err e;
    memset(o, 0, sizeof *o);
    o->v.steps = steps;
    o->v.n = n;
    o->v.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    o->v.other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    snprintf(m.key_type, sizeof m.key_type, "%s", key_type);
    if (strcmp(key_type, "EC") == 0) {
        snprintf(m.curve, sizeof m.curve, "P-256");
        cr_assert_eq(kt_spki_sha256(o->v.key, m.key_sha256, &e), KT_OK);
    }
    online_expect want = {.m = &m,
                          .name = "MyKey",
                          .host = "contoso.vault.azure.net",
                          .ops = strcmp(key_type, "EC") == 0
                                     ? PKG_KV_OP_SIGN | PKG_KV_OP_VERIFY
                                     : PKG_KV_OP_WRAP_KEY | PKG_KV_OP_UNWRAP_KEY,
                          .enabled = true};
    online_transport t = {.send = v_send,
                          .sleep = v_sleep,
                          .now_ms = v_now,
                          .wall = v_wall,
                          .note = v_note,
                          .ctx = &o->v};
    kt_err_clear(&o->e);
    o->rc = online_upload_run(pol, &t, &want, &o->r, &o->e);
    cr_expect_not(o->v.failed_script, "a request off the script");
    cr_expect_eq(o->v.next, n, "%zu of the %zu scripted requests were sent", o->v.next, n);
    size_t puts = 0, gets = 0;
    for (size_t i = 0; i < o->v.next; i++) {
        if (strcmp(steps[i].method, "PUT") == 0)
            puts++;
        else
            gets++;
    }
    cr_expect_eq(o->r.puts, puts, "PUT counted %u, sent %zu", o->r.puts, puts);
    cr_expect_eq(o->r.gets, gets, "GET counted %u, sent %zu", o->r.gets, gets);
    EVP_PKEY_free(o->v.key);
    EVP_PKEY_free(o->v.other);
}

static void play(const step *steps, size_t n, outcome *o)
{
    online_policy p;
    online_policy_default(&p);
    play_as(steps, n, "EC", &p, o);
}

#define PLAY(o, ...)                                                                               \
    do {                                                                                           \
        static const step script_[] = {__VA_ARGS__};                                               \
        play(script_, sizeof script_ / sizeof script_[0], (o));                                    \
    } while (0)

static void expect_waits(const outcome *o, size_t n, const unsigned *w)
{
    cr_expect_eq(o->v.nwaits, n, "%zu waits, expected %zu", o->v.nwaits, n);
    for (size_t i = 0; i < n && i < o->v.nwaits; i++)
        cr_expect_eq(o->v.waits[i], w[i], "wait %zu: %u s, expected %u s", i + 1, o->v.waits[i],
                     w[i]);
}

#define WAITS(o, ...)                                                                              \
    do {                                                                                           \
        static const unsigned w_[] = {__VA_ARGS__};                                                \
        expect_waits((o), sizeof w_ / sizeof w_[0], w_);                                           \
    } while (0)

#define ANS(m, st, b)                                                                              \
    {                                                                                              \
        m, ONLINE_ANSWERED, st, b, NULL                                                            \
    }
#define RA(m, st, ra)                                                                              \
    {                                                                                              \
        m, ONLINE_ANSWERED, st, NULL, ra                                                           \
    }
#define FATE(m, f)                                                                                 \
    {                                                                                              \
        m, f, 0, NULL, NULL                                                                        \
    }

Test(upload, one_import_one_answer)
{
    outcome o;
    PLAY(&o, ANS("PUT", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect_not(o.r.already);
    cr_expect(o.r.compared);
    cr_expect_eq(o.v.nwaits, 0);
    cr_expect_str_eq(o.r.got.kid, KID);
}

Test(upload, retry_after_in_seconds_is_honoured)
{
    outcome o;
    PLAY(&o, RA("PUT", 429, "2"), RA("PUT", 503, "3"), ANS("PUT", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect_not(o.r.already);
    WAITS(&o, 2, 3);
}

Test(upload, retry_after_as_a_date_is_honoured)
{
    /* the fake wall clock stands 5 s before RFC_DATE when the first answer comes */
    outcome o;
    PLAY(&o, RA("PUT", 429, "Sun, 06 Nov 1994 08:49:37 GMT"), ANS("PUT", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    WAITS(&o, 5);
}

Test(upload, without_retry_after_the_wait_doubles)
{
    outcome o;
    PLAY(&o, ANS("PUT", 503, NULL), ANS("PUT", 429, NULL), RA("PUT", 503, "soon"),
         ANS("PUT", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    WAITS(&o, 1, 2, 4);
}

Test(upload, a_retry_after_over_the_cap_stops_at_once)
{
    outcome o;
    PLAY(&o, RA("PUT", 429, "3600"));
    cr_expect_eq(o.rc, KT_EIO);
    cr_expect_eq(kt_rc_exit(o.rc), 4);
    cr_expect(strstr(o.e.msg, "asks to wait 3600 s") != NULL, "%s", o.e.msg);
    cr_expect(strstr(o.e.msg, "the key was not imported") != NULL, "%s", o.e.msg);
    cr_expect_eq(o.v.nwaits, 0);
}

Test(upload, busy_to_the_end_gives_up_after_the_tries)
{
    outcome o;
    PLAY(&o, RA("PUT", 429, "1"), RA("PUT", 429, "1"), RA("PUT", 429, "1"), RA("PUT", 429, "1"));
    cr_expect_eq(o.rc, KT_EIO);
    cr_expect(strstr(o.e.msg, "giving up after 4 tries of PUT") != NULL, "%s", o.e.msg);
    cr_expect(strstr(o.e.msg, "HTTP 429") != NULL, "%s", o.e.msg);
    WAITS(&o, 1, 1, 1);
}

Test(upload, the_time_limit_holds)
{
    /* max-time 10 s: tries at 0 s and 4.1 s, then 8.2 s; a fourth after another 4 s would pass
     * the limit, so it is not waited for. */
    static const step script[] = {RA("PUT", 503, "4"), RA("PUT", 503, "4"), RA("PUT", 503, "4")};
    online_policy p;
    outcome o;
    online_policy_default(&p);
    p.max_time = 10;
    play_as(script, 3, "EC", &p, &o);
    cr_expect_eq(o.rc, KT_EIO);
    cr_expect(strstr(o.e.msg, "would pass the 10 s limit") != NULL, "%s", o.e.msg);
    WAITS(&o, 4, 4);
    cr_expect_eq(o.v.timeouts[0], 10, "the first request's time-out: %ld s", o.v.timeouts[0]);
    cr_expect_eq(o.v.timeouts[2], 2, "the last request's time-out: %ld s", o.v.timeouts[2]);
}

Test(upload, a_connection_that_never_carried_the_request_is_tried_again)
{
    outcome o;
    PLAY(&o, FATE("PUT", ONLINE_NOT_SENT), FATE("PUT", ONLINE_NOT_SENT), ANS("PUT", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    WAITS(&o, 1, 2);
}

Test(upload, no_connection_at_all_gives_up)
{
    static const step script[] = {FATE("PUT", ONLINE_NOT_SENT), FATE("PUT", ONLINE_NOT_SENT),
                                  FATE("PUT", ONLINE_NOT_SENT)};
    online_policy p;
    outcome o;
    online_policy_default(&p);
    p.tries = 3;
    play_as(script, 3, "EC", &p, &o);
    cr_expect_eq(o.rc, KT_EIO);
    cr_expect(strstr(o.e.msg, "giving up after 3 tries of PUT") != NULL, "%s", o.e.msg);
    cr_expect(strstr(o.e.msg, "the key was not imported") != NULL, "%s", o.e.msg);
    WAITS(&o, 1, 2);
}

Test(upload, a_final_failure_is_not_retried)
{
    outcome o;
    PLAY(&o, FATE("PUT", ONLINE_FAILED));
    cr_expect_eq(o.rc, KT_EIO);
    cr_expect(strstr(o.e.msg, "scripted failure") != NULL, "%s", o.e.msg);
    PLAY(&o, ANS("PUT", 401, NULL));
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect(strstr(o.e.msg, "authentication failed") != NULL, "%s", o.e.msg);
    PLAY(&o, ANS("PUT", 400, NULL));
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect(strstr(o.e.msg, "refused the request (HTTP 400 Scripted") != NULL, "%s", o.e.msg);
    cr_expect_eq(o.v.nwaits, 0);
}

Test(upload, a_lost_answer_is_looked_up_and_found)
{
    outcome o;
    PLAY(&o, FATE("PUT", ONLINE_LOST), ANS("GET", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect(o.r.already);
    cr_expect(o.r.compared);
    cr_expect_eq(o.v.nwaits, 0);
}

Test(upload, a_500_after_the_import_is_looked_up_and_found)
{
    outcome o;
    PLAY(&o, ANS("PUT", 500, NULL), ANS("GET", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect(o.r.already);
}

Test(upload, a_500_before_the_import_is_looked_up_and_sent_again)
{
    outcome o;
    PLAY(&o, ANS("PUT", 500, NULL), ANS("GET", 404, NULL), ANS("PUT", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect_not(o.r.already);
    WAITS(&o, 1);
}

Test(upload, lost_twice_then_found)
{
    outcome o;
    PLAY(&o, FATE("PUT", ONLINE_LOST), ANS("GET", 404, NULL), FATE("PUT", ONLINE_LOST),
         RA("GET", 503, "1"), FATE("GET", ONLINE_LOST), ANS("GET", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect(o.r.already);
    WAITS(&o, 1, 1, 2);
}

Test(upload, a_conflict_with_the_same_key_is_success)
{
    outcome o;
    PLAY(&o, ANS("PUT", 409, NULL), ANS("GET", 200, "good"));
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect(o.r.already);
    cr_expect_eq(o.v.nwaits, 0);
}

Test(upload, a_conflict_with_another_key_names_both)
{
    outcome o;
    PLAY(&o, ANS("PUT", 409, NULL), ANS("GET", 200, "other"));
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect_eq(kt_rc_exit(o.rc), 1);
    cr_expect(strstr(o.e.msg, "not the key that was packaged") != NULL, "%s", o.e.msg);
    /* both fingerprints: 64 hex digits twice */
    const char *p = strstr(o.e.msg, "SHA-256 ");
    cr_assert_not_null(p, "%s", o.e.msg);
    cr_expect(strspn(p + 8, "0123456789abcdef") == 64, "%s", o.e.msg);
    p = strstr(p + 8, "states ");
    cr_assert_not_null(p, "%s", o.e.msg);
    cr_expect(strspn(p + 7, "0123456789abcdef") == 64, "%s", o.e.msg);
}

Test(upload, a_conflict_without_a_key_is_a_soft_deleted_name)
{
    outcome o;
    PLAY(&o, ANS("PUT", 409, NULL), ANS("GET", 404, NULL));
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect(strstr(o.e.msg, "soft-delete") != NULL, "%s", o.e.msg);
}

Test(upload, a_look_up_that_never_answers_leaves_it_open)
{
    outcome o;
    PLAY(&o, FATE("PUT", ONLINE_LOST), ANS("GET", 500, NULL), ANS("GET", 502, NULL),
         FATE("GET", ONLINE_NOT_SENT), ANS("GET", 500, NULL));
    cr_expect_eq(o.rc, KT_EIO);
    cr_expect(strstr(o.e.msg, "may or may not be imported") != NULL, "%s", o.e.msg);
    cr_expect(strstr(o.e.msg, "giving up after 4 tries of GET") != NULL, "%s", o.e.msg);
    WAITS(&o, 1, 2, 4);
}

Test(upload, a_look_up_refused_leaves_it_open)
{
    outcome o;
    PLAY(&o, FATE("PUT", ONLINE_LOST), ANS("GET", 403, NULL));
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect(strstr(o.e.msg, "may or may not be imported") != NULL, "%s", o.e.msg);
    cr_expect(strstr(o.e.msg, "authentication failed") != NULL, "%s", o.e.msg);
}

Test(upload, an_exportable_key_is_refused_in_either_answer)
{
    outcome o;
    PLAY(&o, ANS("PUT", 200, "exportable"));
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect(strstr(o.e.msg, "exportable") != NULL, "%s", o.e.msg);
    PLAY(&o, ANS("PUT", 409, NULL), ANS("GET", 200, "exportable"));
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect(strstr(o.e.msg, "exportable") != NULL, "%s", o.e.msg);
}

Test(upload, an_aes_key_found_by_a_look_up_cannot_be_confirmed)
{
    static const step imported[] = {ANS("PUT", 200, "oct")};
    static const step found[] = {ANS("PUT", 409, NULL), ANS("GET", 200, "oct")};
    online_policy p;
    outcome o;
    online_policy_default(&p);
    play_as(imported, 1, "AES", &p, &o);
    cr_expect_eq(o.rc, KT_OK, "%s", o.e.msg);
    cr_expect_not(o.r.compared);
    play_as(found, 2, "AES", &p, &o);
    cr_expect_eq(o.rc, KT_EDENIED);
    cr_expect(strstr(o.e.msg, "cannot be told") != NULL, "%s", o.e.msg);
}

Test(upload, a_policy_out_of_bounds_is_refused)
{
    online_policy p;
    outcome o;
    static const step none[] = {ANS("PUT", 200, "good")};
    online_policy_default(&p);
    p.tries = 0;
    memset(&o, 0, sizeof o);
    o.v.steps = none;
    o.v.n = 1;
    online_transport t = {
        .send = v_send, .sleep = v_sleep, .now_ms = v_now, .wall = v_wall, .ctx = &o.v};
    pkg_manifest m = {0};
    online_expect want = {.m = &m, .name = "MyKey", .host = "h"};
    cr_expect_eq(online_upload_run(&p, &t, &want, &o.r, &o.e), KT_EUSAGE);
    cr_expect_eq(o.v.next, 0, "a request was sent");
}

/* ---- the environment ---- */

Test(env, what_would_log_or_divert_secrets_is_removed)
{
    static const char *const warned[] = {"SSLKEYLOGFILE",   "GNUTLS_KEYLOGFILE", "OPENSSL_CONF",
                                         "OPENSSL_MODULES", "OPENSSL_ENGINES",   "CURL_SSL_BACKEND",
                                         "CURL_ANYTHING"};
    static const char *const quiet[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"};
    static const char *const kept[] = {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "HOME",
                                       "XCURL_NOT"};
    for (size_t i = 0; i < sizeof warned / sizeof warned[0]; i++)
        cr_assert_eq(setenv(warned[i], "/tmp/x", 1), 0);
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++)
        cr_assert_eq(setenv(quiet[i], "/tmp/x", 1), 0);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        cr_assert_eq(setenv(kept[i], "http://proxy.example:3128", 1), 0);
    char longname[120];
    memset(longname, 'A', sizeof longname - 1);
    memcpy(longname, "CURL_", 5);
    longname[sizeof longname - 1] = '\0';
    cr_assert_eq(setenv(longname, "1", 1), 0);

    const char *names[ONLINE_ENV_IGNORED_MAX];
    size_t n = online_env_scrub(names, ONLINE_ENV_IGNORED_MAX);
    size_t want = sizeof warned / sizeof warned[0] + 1;
    cr_expect_eq(n, want, "%zu names reported, expected %zu", n, want);
    for (size_t i = 0; i < sizeof warned / sizeof warned[0]; i++) {
        cr_expect_null(getenv(warned[i]), "%s is still there", warned[i]);
        bool listed = false;
        for (size_t k = 0; k < n && k < ONLINE_ENV_IGNORED_MAX; k++)
            listed = listed || strcmp(names[k], warned[i]) == 0;
        cr_expect(listed, "%s removed without a word", warned[i]);
    }
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        cr_expect_null(getenv(quiet[i]), "%s is still there", quiet[i]);
        for (size_t k = 0; k < n && k < ONLINE_ENV_IGNORED_MAX; k++)
            cr_expect_str_neq(names[k], quiet[i], "%s is warned about", quiet[i]);
    }
    cr_expect_null(getenv(longname), "a long CURL_ name is still there");
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        cr_expect_not_null(getenv(kept[i]), "%s was removed", kept[i]);
    /* a second run finds nothing */
    cr_expect_eq(online_env_scrub(names, ONLINE_ENV_IGNORED_MAX), 0);
}
