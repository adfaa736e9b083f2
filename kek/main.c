/*
 * main.c - `keytransfer-cloud`: the other side of a transfer, for demos, tests and self-hosted
 * use. Plays the HSM vendor and a region's cloud HSM (DESIGN.md §2).
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
    {"init", cmd_init, "create a region's cloud HSM, KEK, packages, toolset zip and hash table"},
    {"import", cmd_import, "open a .byok inside the emulated cloud HSM and store its key"},
    {"serve", cmd_serve, "serve the cloud HSM as a Key Vault REST endpoint on loopback"},
};

int cloud_report(const kt_err *e)
{
    fprintf(stderr, "keytransfer-cloud: %s\n", e->msg[0] ? e->msg : kt_rc_message(e->rc));
    return kt_rc_exit(e->rc);
}

void cloud_txn_report(void *ctx, const char *what, bool completed, const char *line)
{
    (void)ctx;
    (void)what;
    (void)completed;
    fprintf(stderr, "keytransfer-cloud: note: %s\n", line);
}

int cloud_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "keytransfer-cloud %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'keytransfer-cloud %s --help'.\n", cmd);
    return KT_EXIT_USAGE;
}

const char *cloud_default_state(char *buf, size_t bufsz)
{
    const char *env = getenv("KEYTRANSFER_CLOUD_STATE");
    const char *home = getenv("HOME");
    if (env != NULL && env[0] != '\0')
        snprintf(buf, bufsz, "%s", env);
    else if (home != NULL && home[0] == '/')
        snprintf(buf, bufsz, "%s/.local/share/keytransfer/cloud", home);
    else
        return NULL;
    return buf;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: keytransfer-cloud COMMAND [ARGS]\n"
               "\n"
               "The cloud side of a key transfer, for demos, tests and self-hosted use: an HSM\n"
               "vendor (a DEMO root unless you give your own) and a region's cloud HSM.\n"
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
        printf("keytransfer-cloud %s\n", KT_VERSION);
        return KT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "keytransfer-cloud: unknown command '%s'\nTry 'keytransfer-cloud --help'.\n",
            argv[1]);
    return KT_EXIT_USAGE;
}

/* The stdout check at exit: output that never left the process is an I/O failure (exit 4). */
int main(int argc, char **argv)
{
    kt_err e;
    kt_err_clear(&e);
    if (kt_process_harden(&e) != KT_OK)
        return cloud_report(&e);
    if (kt_memlock_check(KT_MEMLOCK_PROBE, "keytransfer-cloud", &e) != KT_OK)
        return cloud_report(&e);
    if (e.rc != KT_OK)
        fprintf(stderr, "keytransfer-cloud: warning: %s\n", e.msg);
    int status = run(argc, argv);
    if (kt_stdout_close(&e) != KT_OK) {
        int io = cloud_report(&e);
        if (status == KT_EXIT_OK)
            status = io;
    }
    return status;
}
