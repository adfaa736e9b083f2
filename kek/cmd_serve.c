/*
 * cmd_serve.c - `keytransfer-cloud serve`: the emulated cloud HSM behind a Key Vault-shaped REST
 * endpoint on loopback, for the upload step of demos and tests (docs/design.md §2). Prints its URL
 * and bearer token, logs one line per request on stderr, and stops cleanly on SIGINT or SIGTERM.
 */
#include "commands.h"
#include "serve.h"
#include "vault.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_STATE = 256,
    OPT_LISTEN,
    OPT_TOKEN_FILE,
    OPT_MAX_CONNECTIONS,
    OPT_HEADER_TIMEOUT,
    OPT_BODY_TIMEOUT,
    OPT_TLS,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
};

static const cli_opt opts[] = {
    KEK_OPT_STATE,
    {OPT_LISTEN, "listen", CLI_VALUE, "ADDR:PORT",
     "127.0.0.0/8, [::1] or localhost, and a port; port 0 picks a free\none (default: "
     "127.0.0.1:0)"},
    {OPT_TOKEN_FILE, "token-file", CLI_VALUE, "FILE",
     "accept the token in FILE (16 to 4096 visible characters, one\ntrailing newline ignored) "
     "instead of a fresh random one"},
    {OPT_MAX_CONNECTIONS, "max-connections", CLI_VALUE, "N",
     "serve at most N connections at once (1 to 256, default 32); one\nmore pushes out the "
     "oldest still sending its request headers"},
    {OPT_HEADER_TIMEOUT, "header-timeout", CLI_VALUE, "S",
     "a request's headers must be in within S seconds of the connection\nor of the previous "
     "answer (1 to 3600, default 5), however they\ntrickle in"},
    {OPT_BODY_TIMEOUT, "body-timeout", CLI_VALUE, "S",
     "and the rest of it within S seconds of its headers (1 to 3600,\ndefault 30)"},
    {OPT_TLS, "tls", CLI_FLAG, NULL,
     "speak https with a self-signed certificate for the vault's host\nnames and loopback, made "
     "once into STATE/tls/ and reused (its\nSHA-256 is printed: give STATE/tls/cert.pem to "
     "clients as their CA)"},
    {OPT_TLS_CERT, "tls-cert", CLI_VALUE, "FILE", "speak https with this PEM certificate (chain)"},
    {OPT_TLS_KEY, "tls-key", CLI_VALUE, "FILE",
     "and this unencrypted PEM private key (a private file)"},
    {0},
};

static const cli_cmd cmd = {
    .name = "serve",
    .synopsis = "[--state DIR] [--listen ADDRESS:PORT] [--token-file FILE]\n"
                "[--tls | --tls-cert FILE --tls-key FILE] [--max-connections N]\n"
                "[--header-timeout SECONDS] [--body-timeout SECONDS]",
    .about =
        "Serve the emulated cloud HSM as Key Vault and Managed HSM REST endpoints "
        "(api-versions 7.0 to\n7.5 and their previews) on a loopback address only:\n"
        "  PUT  /keys/NAME?api-version=V         Import Key: opens the .byok in key_hsm "
        "inside the\n"
        "                                        HSM, as `keytransfer-cloud import` does\n"
        "  POST /keys/NAME/create?api-version=V  Create Key: an import-only RSA-HSM KEK\n"
        "  GET  /keys/NAME[/VERSION]?api-version=V  the key bundle (public JWK, attributes)\n"
        "Host VAULT.vault.azure.net is the key vault (no oct-HSM keys), "
        "VAULT.managedhsm.azure.net the\nManaged HSM; an address or any other name is the "
        "emulator's own endpoint (every key type).\nEvery request needs 'Authorization: Bearer "
        "TOKEN'; without it the answer is 401 with Key Vault's\nchallenge. Prints the URLs, "
        "the token and the TLS certificate's SHA-256, then one line per\nrequest on stderr; "
        "stops on SIGINT (Ctrl-C) or SIGTERM.",
    .opts = opts,
};

static void log_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "keytransfer-cloud serve: %s\n", line);
    fflush(stderr);
}

/* A decimal count of at most 9 digits (the range is kek_serve_limits_check's). */
/* The token: from the file, or 32 random bytes as unpadded base64url. NUL-terminated. */
static kt_rc load_token(const char *file, kt_secbuf *token, kt_err *e)
{
    kt_secbuf raw = {0};
    kt_rc rc;
    if (file == NULL) {
        uint8_t r[32];
        char *s = NULL;
        kt_random(r, sizeof r);
        rc = kt_b64url_encode(r, sizeof r, &s, e);
        kt_wipe(r, sizeof r);
        if (rc == KT_OK && (rc = kt_secbuf_alloc(token, strlen(s) + 1, e)) == KT_OK) {
            memcpy(token->p, s, strlen(s) + 1);
            token->len = strlen(s);
        }
        if (s != NULL) {
            kt_wipe(s, strlen(s));
            free(s);
        }
        return rc;
    }
    if ((rc = kt_file_read_secret(file, KEK_SERVE_TOKEN_MAX + 2, &raw, e)) != KT_OK)
        return rc;
    size_t n = raw.len;
    if (n > 0 && raw.p[n - 1] == '\n')
        n--;
    if (n > 0 && raw.p[n - 1] == '\r')
        n--;
    bool visible = true;
    for (size_t i = 0; i < n; i++)
        if (raw.p[i] < 0x21 || raw.p[i] > 0x7e)
            visible = false;
    if (n < KEK_SERVE_TOKEN_MIN || n > KEK_SERVE_TOKEN_MAX || !visible)
        rc = kt_fail(e, KT_EFORMAT, "%s: a token is %d to %d visible ASCII characters", file,
                     KEK_SERVE_TOKEN_MIN, KEK_SERVE_TOKEN_MAX);
    else if ((rc = kt_secbuf_alloc(token, n + 1, e)) == KT_OK) {
        memcpy(token->p, raw.p, n);
        token->p[n] = '\0';
        token->len = n;
    }
    kt_secbuf_free(&raw);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    const char *state = NULL, *listen = "127.0.0.1:0", *token_file = NULL;
    const char *tls_cert = NULL, *tls_key = NULL;
    bool tls_self = false;
    kek_tls tls = {0};
    kek_serve_limits limits = KEK_SERVE_LIMITS_DEFAULT;
    char state_buf[4096];
    struct sockaddr_storage ss;
    socklen_t sslen;
    kek_cloud cloud;
    kek_rest rest;
    kek_server *server = NULL;
    kt_secbuf token = {0};
    sigset_t stop;
    kt_err e;
    kt_rc rc0 = KT_OK;

    /* 1. options */
    cli_args c;
    int status = cli_parse(&cmd, argc, argv, &c);
    if (status >= 0)
        return status;
    state = cli_value(&c, OPT_STATE);
    if (cli_value(&c, OPT_LISTEN) != NULL)
        listen = cli_value(&c, OPT_LISTEN);
    token_file = cli_value(&c, OPT_TOKEN_FILE);
    tls_cert = cli_value(&c, OPT_TLS_CERT);
    tls_key = cli_value(&c, OPT_TLS_KEY);
    tls_self = cli_flag(&c, OPT_TLS);
    static const struct {
        int key;
        const char *name;
    } counts[] = {{OPT_MAX_CONNECTIONS, "max-connections"},
                  {OPT_HEADER_TIMEOUT, "header-timeout"},
                  {OPT_BODY_TIMEOUT, "body-timeout"}};
    unsigned *targets[] = {&limits.max_connections, &limits.header_seconds, &limits.body_seconds};
    for (size_t i = 0; i < 3; i++) {
        const char *v = cli_value(&c, counts[i].key);
        unsigned long n;
        if (v != NULL && cli_parse_uint(v, 0, 999999999, &n))
            *targets[i] = (unsigned)n;
        else if (v != NULL) {
            cli_args_free(&c);
            return cli_usage(cmd.name, "--%s takes a whole number, not '%s'", counts[i].name, v);
        }
    }
    cli_args_free(&c);
    kt_err_clear(&e);
    if (kek_listen_parse(listen, &ss, &sslen, &e) != KT_OK ||
        kek_serve_limits_check(&limits, &e) != KT_OK)
        return cli_usage(cmd.name, "%s", e.msg);
    if ((tls_cert == NULL) != (tls_key == NULL))
        return cli_usage(cmd.name, "--tls-cert and --tls-key go together");
    if (tls_self && tls_cert != NULL)
        return cli_usage(cmd.name, "give --tls or --tls-cert and --tls-key, not both");
    if (state == NULL && (state = cloud_default_state(state_buf, sizeof state_buf)) == NULL)
        return cli_usage(cmd.name, "give --state DIR (no HOME to default to)");

    /* 2. inputs */
    if (load_token(token_file, &token, &e) != KT_OK)
        return cli_report(&e);
    if (kek_cloud_open(state, &cloud, &e) != KT_OK) {
        kt_secbuf_free(&token);
        return cli_report(&e);
    }

    if (tls_cert != NULL)
        rc0 = kek_tls_load(tls_cert, tls_key, &tls, &e);
    else if (tls_self)
        rc0 = kek_tls_self_signed(&cloud, &tls, &e);
    if (rc0 != KT_OK) {
        kek_cloud_close(&cloud);
        kt_secbuf_free(&token);
        return cli_report(&e);
    }
    bool https = tls_cert != NULL || tls_self;

    /* 3. operation: the signals are blocked before the server's thread starts, so that only
     * sigwait below sees them and the thread is never interrupted inside the HSM. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    rest.cloud = &cloud;
    rest.token = &token;
    pthread_mutex_init(&rest.lock, NULL);
    kt_rc rc = kek_serve_start(&rest, (const struct sockaddr *)&ss, sslen, &limits,
                               https ? &tls : NULL, log_stderr, NULL, &server, &e);
    if (rc != KT_OK) {
        kt_err_prefix(&e, "%s", listen);
        goto out;
    }

    /* 4. output: where and how to reach it, then serve until told to stop */
    char host[64];
    if (ss.ss_family == AF_INET6)
        snprintf(host, sizeof host, "[::1]");
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    char tenant[37], vault_base[128], mhsm_base[128], fp[65], certpath[PATH_MAX];
    unsigned port = kek_serve_port(server);
    kek_tenant_id(&cloud, tenant);
    kek_vault_base(&cloud, KEK_HOST_VAULT, vault_base, sizeof vault_base);
    kek_vault_base(&cloud, KEK_HOST_MHSM, mhsm_base, sizeof mhsm_base);
    printf("Key Vault emulator for vault %s (region %s)\n"
           "  url      %s://%s:%u\n",
           cloud.vault, cloud.region, https ? "https" : "http", host, port);
    if (https) {
        kt_hex(fp, tls.sha256, 32);
        printf("  vault    %s:%u (resolve it to %s)\n"
               "  mhsm     %s:%u\n"
               "  tls      SHA-256 %s%s\n",
               vault_base, port, host, mhsm_base, port, fp, tls.made ? " (made now)" : "");
        if (tls_self && kek_tls_paths(&cloud, certpath, sizeof certpath, &e) == KT_OK)
            printf("  cacert   %s\n", certpath);
    }
    /* The emulated AWS KMS (aws_kms.c) answers on the same listener. */
    printf("  aws kms  aws --endpoint-url %s://%s:%u kms ... (any SigV4 credentials)\n",
           https ? "https" : "http", host, port);
    printf("  tenant   %s\n"
           "  token    %s\n"
           "  kek      %s\n"
           "Stop it with Ctrl-C or SIGTERM.\n",
           tenant, token_file != NULL ? "(from the token file)" : (const char *)token.p, cloud.kid);
    if (fflush(stdout) != 0) {
        rc = kt_fail(&e, KT_EIO, "cannot write to standard output");
        goto out;
    }
    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    fprintf(stderr, "keytransfer-cloud serve: %s: stopping\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
out:
    kek_serve_stop(server);
    pthread_mutex_destroy(&rest.lock);
    kek_cloud_close(&cloud);
    kek_tls_free(&tls);
    kt_secbuf_free(&token);
    return rc == KT_OK ? KT_EXIT_OK : cli_report(&e);
}
