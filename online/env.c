/*
 * env.c - the environment variables through which the libraries under keytransfer-online would
 * write the TLS secrets that protect the bearer token to a file, or take their configuration,
 * trust anchors or code from somewhere the user did not choose on the command line. They are
 * removed before OpenSSL or libcurl first runs; docs/threat-model.md ("The environment") gives
 * the reason for each, and for the variables that are kept (the proxies).
 */
#include "online.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static const struct {
    const char *name;
    bool quiet; /* removed without a word: commonly set to the system's own store */
} removed[] = {
    {"SSLKEYLOGFILE", false},        /* libcurl (and OpenSSL 3.5+, NSS) log the TLS keys */
    {"GNUTLS_KEYLOGFILE", false},    /* the same, should libcurl be built with GnuTLS */
    {"OPENSSL_CONF", false},         /* a configuration that can load engines, providers */
    {"OPENSSL_CONF_INCLUDE", false}, /* where such a configuration's includes come from */
    {"OPENSSL_ENGINES", false},      /* where engines (code) are loaded from */
    {"OPENSSL_MODULES", false},      /* where providers (code) are loaded from */
    {"OPENSSL_TRACE", false},        /* trace output of a build with tracing */
    {"SSL_CERT_FILE", true},         /* trust anchors other than the system's or --cacert */
    {"SSL_CERT_DIR", true},          {"CURL_CA_BUNDLE", true},
};

#define CURL_PREFIX "CURL_"
#define SHOWN_MAX   64 /* characters of a CURL_* name kept for the warning */

/* Removes the entry at v from environ, as unsetenv does (the rest moves up one). */
static void drop_entry(char **v)
{
    do
        v[0] = v[1];
    while (*v++ != NULL);
}

size_t online_env_scrub(const char **names, size_t max)
{
    /* The CURL_* names, for the caller, outlive the environment entries they came from. */
    static char shown[ONLINE_ENV_IGNORED_MAX][SHOWN_MAX + 4];
    size_t count = 0, kept = 0;

    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        if (getenv(removed[i].name) == NULL)
            continue;
        unsetenv(removed[i].name);
        if (removed[i].quiet)
            continue;
        if (kept < max)
            names[kept++] = removed[i].name;
        count++;
    }
    for (char **v = environ; v != NULL && *v != NULL;) {
        if (strncmp(*v, CURL_PREFIX, strlen(CURL_PREFIX)) != 0) {
            v++;
            continue;
        }
        size_t n = strcspn(*v, "=");
        if (kept < max && kept < ONLINE_ENV_IGNORED_MAX) {
            char *s = shown[kept];
            snprintf(s, sizeof shown[kept], "%.*s%s", (int)(n > SHOWN_MAX ? SHOWN_MAX : n), *v,
                     n > SHOWN_MAX ? "..." : "");
            names[kept++] = s;
        }
        drop_entry(v); /* v now holds the next entry */
        count++;
    }
    return count;
}
