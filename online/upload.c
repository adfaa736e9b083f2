/*
 * upload.c - the requests of an upload and what is done when one goes wrong: bounded retries on
 * 429 and 503 (Retry-After honoured up to a cap) and on connections that never carried the
 * request, and after a lost answer or a 409 Conflict a look-up (GET) of the key, compared with
 * the manifest, so that an import that did happen is recognised rather than repeated or
 * reported as a failure. The network, the clocks and the user are reached through an
 * online_transport, so the policy can be tested without them.
 */
#include "online.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void online_policy_default(online_policy *p)
{
    p->tries = ONLINE_TRIES_DEFAULT;
    p->timeout = ONLINE_TIMEOUT;
    p->max_time = ONLINE_MAX_TIME_DEFAULT;
}

/* ---- Retry-After (RFC 9110 §10.2.3, dates §5.6.7) ---------------------------------------- */

static const char *const wkday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const weekday[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                      "Thursday", "Friday", "Saturday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Exactly n digits at *p into *out; advances *p. */
static bool digits(const char **p, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* The literal s at *p; advances *p. */
static bool lit(const char **p, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

/* One of names (case-sensitive, as the grammar spells them) at *p; its index in *out. */
static bool name_of(const char **p, const char *const *names, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (lit(p, names[i])) {
            *out = (int)i;
            return true;
        }
    return false;
}

/* "hh:mm:ss" */
static bool time_of_day(const char **p, struct tm *tm)
{
    return digits(p, 2, &tm->tm_hour) && lit(p, ":") && digits(p, 2, &tm->tm_min) && lit(p, ":") &&
           digits(p, 2, &tm->tm_sec) && tm->tm_hour < 24 && tm->tm_min < 60 && tm->tm_sec < 61;
}

/* The three HTTP-date forms into a UTC time; false for anything else. */
static bool http_date(const char *value, time_t now, time_t *out)
{
    struct tm tm;
    int wd, mon, year, mday;
    const char *p = value;
    memset(&tm, 0, sizeof tm);

    if (name_of(&p, weekday, 7, &wd) && lit(&p, ", ")) {
        /* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
        int yy;
        if (!digits(&p, 2, &mday) || !lit(&p, "-") || !name_of(&p, months, 12, &mon) ||
            !lit(&p, "-") || !digits(&p, 2, &yy) || !lit(&p, " ") || !time_of_day(&p, &tm) ||
            !lit(&p, " GMT"))
            return false;
        /* §5.6.7: a two-digit year more than 50 years ahead is the most recent such in the past */
        struct tm cur;
        gmtime_r(&now, &cur);
        int this_year = cur.tm_year + 1900;
        year = this_year / 100 * 100 + yy;
        if (year > this_year + 50)
            year -= 100;
    } else if ((p = value, name_of(&p, wkday, 7, &wd)) && lit(&p, ", ")) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        if (!digits(&p, 2, &mday) || !lit(&p, " ") || !name_of(&p, months, 12, &mon) ||
            !lit(&p, " ") || !digits(&p, 4, &year) || !lit(&p, " ") || !time_of_day(&p, &tm) ||
            !lit(&p, " GMT"))
            return false;
    } else if ((p = value, name_of(&p, wkday, 7, &wd)) && lit(&p, " ")) {
        /* asctime-date: Sun Nov  6 08:49:37 1994 (the day padded with a space) */
        if (!name_of(&p, months, 12, &mon) || !lit(&p, " "))
            return false;
        if (*p == ' ') {
            p++;
            if (!digits(&p, 1, &mday))
                return false;
        } else if (!digits(&p, 2, &mday)) {
            return false;
        }
        if (!lit(&p, " ") || !time_of_day(&p, &tm) || !lit(&p, " ") || !digits(&p, 4, &year))
            return false;
    } else {
        return false;
    }
    if (*p != '\0' || mday < 1 || mday > 31 || year < 1900)
        return false;
    tm.tm_mday = mday;
    tm.tm_mon = mon;
    tm.tm_year = year - 1900;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    /* timegm normalises 31 Feb to 3 Mar: such a date is not a date */
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != mday || back.tm_mon != mon)
        return false;
    *out = t;
    return true;
}

bool online_retry_after_parse(const char *value, time_t now, uint64_t *seconds)
{
    char v[64];
    size_t n;
    *seconds = 0;
    while (*value == ' ' || *value == '\t')
        value++;
    n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof v)
        return false;
    memcpy(v, value, n);
    v[n] = '\0';

    if (isdigit((unsigned char)v[0])) {
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)v[i]))
                return false;
            if (s < UINT32_MAX)
                s = s * 10 + (uint64_t)(v[i] - '0');
        }
        *seconds = s > UINT32_MAX ? UINT32_MAX : s;
        return true;
    }
    time_t when;
    if (!http_date(v, now, &when))
        return false;
    if (when <= now)
        return true;
    uint64_t d = (uint64_t)(when - now);
    *seconds = d > UINT32_MAX ? UINT32_MAX : d;
    return true;
}

/* ---- the requests ------------------------------------------------------------------------ */

/* The state of one upload. */
typedef struct run {
    const online_policy *p;
    const online_transport *t;
    const online_expect *want;
    online_upload_result *out;
    uint64_t start, limit;     /* ms on the monotonic clock */
    unsigned backoff;          /* the next wait without Retry-After, seconds */
    bool lost;                 /* an import may have happened without its answer reaching us */
    char last[KT_ERR_MSG_MAX]; /* what went wrong last, for the message that gives up */
} run;

static void note(const run *r, const char *fmt, ...) KT_PRINTF(2, 3);
static void note(const run *r, const char *fmt, ...)
{
    char text[KT_ERR_MSG_MAX + 200];
    va_list ap;
    if (r->t->note == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    r->t->note(r->t->ctx, text);
}

static unsigned elapsed_s(const run *r)
{
    return (unsigned)((r->t->now_ms(r->t->ctx) - r->start) / 1000);
}

/* The end of an upload that did not get its answer: what is known about the key. */
static kt_rc give_up(const run *r, const char *why, kt_err *e)
{
    if (r->last[0] == '\0')
        return kt_fail(e, KT_EIO, "%s; nothing was sent", why);
    if (r->lost)
        return kt_fail(e, KT_EIO,
                       "%s; %s; an earlier import may have reached the vault without its answer "
                       "reaching here, so the key may or may not be imported: run the same "
                       "command again, which finds out",
                       r->last, why);
    return kt_fail(e, KT_EIO, "%s; %s; the key was not imported", r->last, why);
}

/*
 * Waits before the next try of method: Retry-After when the answer gives one (429 and 503),
 * else the back-off, which doubles. KT_OK once waited; a wait over the cap, or one that would
 * end after the time limit, gives up.
 */
static kt_rc wait_for(run *r, const online_http *resp, const char *method, unsigned next_try,
                      kt_err *e)
{
    uint64_t s = r->backoff, ra;
    char why[256];
    bool from_header = false;

    if (next_try > r->p->tries) {
        snprintf(why, sizeof why, "giving up after %u tries of %s", r->p->tries, method);
        return give_up(r, why, e);
    }
    if (resp != NULL && resp->fate == ONLINE_ANSWERED && resp->retry_after[0] != '\0' &&
        online_retry_after_parse(resp->retry_after, r->t->wall(r->t->ctx), &ra)) {
        if (ra > ONLINE_RETRY_AFTER_MAX) {
            snprintf(why, sizeof why,
                     "the service asks to wait %llu s (Retry-After: %s), more than the %d s this "
                     "program waits",
                     (unsigned long long)ra, resp->retry_after, ONLINE_RETRY_AFTER_MAX);
            return give_up(r, why, e);
        }
        s = ra;
        from_header = true;
    } else {
        r->backoff = r->backoff * 2 > ONLINE_BACKOFF_MAX ? ONLINE_BACKOFF_MAX : r->backoff * 2;
    }
    uint64_t now = r->t->now_ms(r->t->ctx);
    if (now + s * 1000 >= r->limit) {
        snprintf(why, sizeof why,
                 "giving up after %u s: another try in %llu s would pass the %u s limit "
                 "(--max-time)",
                 elapsed_s(r), (unsigned long long)s, r->p->max_time);
        return give_up(r, why, e);
    }
    note(r, "%s; %s again in %llu s%s (try %u of %u)", r->last, method, (unsigned long long)s,
         from_header ? ", as Retry-After asks" : "", next_try, r->p->tries);
    if (s > 0)
        r->t->sleep(r->t->ctx, (unsigned)s);
    return KT_OK;
}

/* The time-out of the next request: the policy's, or less when less time is left. */
static long timeout_left(const run *r)
{
    uint64_t now = r->t->now_ms(r->t->ctx);
    uint64_t left = now < r->limit ? (r->limit - now + 999) / 1000 : 1;
    return (long)(left < r->p->timeout ? left : r->p->timeout);
}

/* The key in an answer (import or look-up) against what was asked. */
static kt_rc judge(run *r, const online_http *resp, bool found, kt_err *e)
{
    online_imported *got = &r->out->got;
    kt_rc rc = online_parse_answer(resp->status, resp->body.p, resp->body.len, got, e);
    if (rc != KT_OK)
        return rc;
    if (found && strcmp(r->want->m->key_type, "AES") == 0)
        return kt_fail(e, KT_EDENIED,
                       "the vault holds an %s key named '%s' (%s), but an AES key has no public "
                       "part, so whether it is the key of this package cannot be told%s; check "
                       "with whoever manages the vault before anything uses it",
                       got->kty, got->name, got->kid,
                       r->lost ? " (the import's answer was lost, so it may well be)" : "");
    rc = online_check_answer(r->want, got, &r->out->compared, e);
    if (rc == KT_OK)
        r->out->already = found;
    else if (found)
        kt_err_prefix(e, "a key named '%s' is already in the vault", got->name);
    return rc;
}

static void remember(run *r, const char *fmt, ...) KT_PRINTF(2, 3);
static void remember(run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->last, sizeof r->last, fmt, ap);
    va_end(ap);
}

static bool is_retry_status(long status)
{
    return status == 429 || status == 503;
}

kt_rc online_upload_run(const online_policy *p, const online_transport *t,
                        const online_expect *want, online_upload_result *out, kt_err *e)
{
    run r = {.p = p, .t = t, .want = want, .out = out, .backoff = ONLINE_BACKOFF_FIRST};
    enum { PUT, GET } phase = PUT;
    bool conflict = false; /* the look-up follows a 409 */
    char what[700];
    kt_rc rc;

    memset(out, 0, sizeof *out);
    if (p->tries < 1 || p->tries > ONLINE_TRIES_MAX || p->timeout < 1 || p->max_time < 1)
        return kt_fail(e, KT_EUSAGE, "online_upload_run: a policy out of its bounds");
    r.start = t->now_ms(t->ctx);
    r.limit = r.start + (uint64_t)p->max_time * 1000;

    for (;;) {
        online_http resp;
        kt_err re;
        const char *method = phase == PUT ? "PUT" : "GET";
        unsigned *count = phase == PUT ? &out->puts : &out->gets;

        if (*count == p->tries) {
            char why[96];
            snprintf(why, sizeof why, "giving up after %u tries of %s", p->tries, method);
            return give_up(&r, why, e);
        }
        if (t->now_ms(t->ctx) >= r.limit) {
            char why[96];
            snprintf(why, sizeof why, "giving up after %u s (--max-time)", elapsed_s(&r));
            return give_up(&r, why, e);
        }
        kt_err_clear(&re);
        memset(&resp, 0, sizeof resp);
        (*count)++;
        rc = t->send(t->ctx, method, timeout_left(&r), &resp, &re);

        /* no answer */
        if (rc != KT_OK) {
            online_fate fate = resp.fate;
            online_http_free(&resp);
            remember(&r, "%s", re.msg);
            if (fate == ONLINE_FAILED) {
                *e = re;
                if (r.lost)
                    kt_err_prefix(e, "the key may or may not be imported (an earlier answer was "
                                     "lost): run the same command again once this is fixed");
                return rc;
            }
            if (fate == ONLINE_LOST && phase == PUT) {
                r.lost = true;
                conflict = false;
                phase = GET;
                note(&r, "%s; asking the vault whether it holds the key", re.msg);
                continue;
            }
            /* not sent (either request), or a look-up without its answer: try it again */
            if ((rc = wait_for(&r, NULL, method, *count + 1, e)) != KT_OK)
                return rc;
            continue;
        }

        /* an answer */
        long status = resp.status;
        online_describe_error(status, resp.body.p, resp.body.len, what, sizeof what);
        if (status == 200) {
            rc = judge(&r, &resp, phase == GET, e);
            online_http_free(&resp);
            return rc;
        }
        if (phase == PUT && status == 409) {
            online_http_free(&resp);
            conflict = true;
            phase = GET;
            remember(&r, "the import was refused (%s)", what);
            note(&r, "%s: asking the vault whether it holds this key", r.last);
            continue;
        }
        if (phase == GET && status == 404) {
            online_http_free(&resp);
            if (conflict)
                return kt_fail(e, KT_EDENIED,
                               "%s, but the vault holds no key named '%s': a deleted key that is "
                               "kept for recovery (soft-delete) holds the name; recover it or "
                               "purge it (az keyvault key recover / purge), or package the key "
                               "under another name",
                               r.last, want->name);
            remember(&r, "the vault does not hold the key (GET: %s): the import did not happen",
                     what);
            r.lost = false;
            phase = PUT;
            if ((rc = wait_for(&r, NULL, "PUT", out->puts + 1, e)) != KT_OK)
                return rc;
            continue;
        }
        if (is_retry_status(status) || (phase == GET && status >= 500)) {
            remember(&r, "%s answered %s", method, what);
            rc = wait_for(&r, &resp, method, *count + 1, e);
            online_http_free(&resp);
            if (rc != KT_OK)
                return rc;
            continue;
        }
        if (phase == PUT && status >= 500) {
            online_http_free(&resp);
            r.lost = true;
            conflict = false;
            phase = GET;
            remember(&r, "the import failed (%s)", what);
            note(&r, "%s; asking the vault whether it holds the key all the same", r.last);
            continue;
        }
        /* 401, 403, other 4xx, 3xx: the service's refusal */
        online_imported ignored;
        rc = online_parse_answer(status, resp.body.p, resp.body.len, &ignored, e);
        if (want->vault != NULL)
            online_challenge_explain(&resp, want->vault, e); /* 401: what token it asks for */
        online_http_free(&resp);
        if (rc == KT_OK) /* cannot be: status is not 200 */
            rc = kt_fail(e, KT_EIO, "%s: an unexpected answer (%s)", method, what);
        if (phase == GET)
            kt_err_prefix(e, "%s, and asking the vault whether it holds the key failed",
                          r.lost ? "the import's answer was lost, so the key may or may not be "
                                   "imported"
                                 : r.last);
        return rc;
    }
}
