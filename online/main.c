/*
 * main.c - `keytransfer-online`: the online workstation's tool. It never holds a key: it checks
 * what is downloaded, checks what the USB stick brings from the offline workstation, and uploads
 * a checked package to a Key Vault REST endpoint (DESIGN.md §1 steps 1 and 9, §2).
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"hash", cmd_hash, "SHA-256 of a download, checked against a hash or the published table"},
    {"check", cmd_check, "check the transfer manifests and packages on a USB stick"},
    {"upload", cmd_upload, "upload a checked .byok to Key Vault and check the key it holds"},
};

int online_report(const kt_err *e)
{
    fprintf(stderr, "keytransfer-online: %s\n", e->msg[0] ? e->msg : kt_rc_message(e->rc));
    return kt_rc_exit(e->rc);
}

int online_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "keytransfer-online %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'keytransfer-online %s --help'.\n", cmd);
    return KT_EXIT_USAGE;
}

void online_warn(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "keytransfer-online: warning: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: keytransfer-online COMMAND [ARGS]\n"
               "\n"
               "The online workstation's side of a key transfer. It holds no key: it checks\n"
               "downloads, checks what the USB stick brings, and uploads checked packages.\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nOptions:\n  --help     show this help\n  --version  show the version\n");
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return KT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return KT_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("keytransfer-online %s\n", KT_VERSION);
        return KT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "keytransfer-online: unknown command '%s'\nTry 'keytransfer-online --help'.\n",
            argv[1]);
    return KT_EXIT_USAGE;
}

/* The environment that would log or divert TLS secrets goes before OpenSSL or libcurl runs. */
static void scrub_environment(void)
{
    const char *names[ONLINE_ENV_IGNORED_MAX];
    size_t n = online_env_scrub(names, ONLINE_ENV_IGNORED_MAX);
    if (n == 0)
        return;
    fprintf(stderr, "keytransfer-online: warning: ignoring ");
    for (size_t i = 0; i < n && i < ONLINE_ENV_IGNORED_MAX; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
    if (n > ONLINE_ENV_IGNORED_MAX)
        fprintf(stderr, " and %zu more", n - ONLINE_ENV_IGNORED_MAX);
    fprintf(stderr,
            " from the environment: %s would log TLS secrets or take trust or code from "
            "elsewhere (keytransfer-online(1), ENVIRONMENT)\n",
            n == 1 ? "it" : "they");
}

/* The stdout check at exit: output that never left the process is an I/O failure (exit 4). */
int main(int argc, char **argv)
{
    kt_err e;
    kt_err_clear(&e);
    scrub_environment();
    if (kt_process_harden(&e) != KT_OK)
        return online_report(&e);
    if (kt_memlock_check(KT_MEMLOCK_PROBE, "keytransfer-online", &e) != KT_OK)
        return online_report(&e);
    if (e.rc != KT_OK)
        fprintf(stderr, "keytransfer-online: warning: %s\n", e.msg);
    int status = run(argc, argv);
    if (kt_stdout_close(&e) != KT_OK) {
        int io = online_report(&e);
        if (status == KT_EXIT_OK)
            status = io;
    }
    return status;
}
