/*
 * main.c - the offline CLI `keytransfer`: hardens the process, then dispatches to one subcommand
 * from the table below. The only program that ever holds plaintext key material.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"world", cmd_world, "create, inspect and recover the security world and its cards"},
    {"module", cmd_module, "manage the software module (erase)"},
    {"key", cmd_key, "generate, import and inspect keys protected by the module"},
    {"toolset", cmd_toolset, "safely extract the vendor's BYOK toolset zip"},
    {"verify", cmd_verify, "check a KEK package and a world package against the vendor root"},
    {"modify-acls", cmd_modify_acls, "with the card quorum, reduce a key's ACL to one KEK"},
    {"package", cmd_package, "wrap a reduced key into a .byok (or AWS/GCP) transfer package"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: keytransfer COMMAND [ARGS]\n"
               "\n"
               "Offline tools for moving a key you control into a cloud HSM.\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "Options:\n"
               "  --help     show this help\n"
               "  --version  show the version\n"
               "\n"
               "Run 'keytransfer COMMAND --help' for a command's options. See keytransfer(1).\n"
               "The seed toolset's command lines work too: keytransfer new-world ...,\n"
               "keytransfer generatekey ..., keytransfer KeyTransferRemote ... (see COMPATIBILITY\n"
               "in keytransfer(1)).\n");
}

static int run(int argc, char **argv)
{
    /* OpenSSL's secure heap (1 MiB, locked, guarded) for the private BIGNUMs of RSA and EC keys.
     * It returns 0 on failure, 1 on success, 2 when the heap works but could not be locked. The
     * probe first: can the heap and sodium_malloc's pages be locked (kept out of swap)? */
    kt_err warn;
    if (kt_memlock_check((1 << 20) + KT_MEMLOCK_PROBE, "keytransfer", &warn) != KT_OK)
        return cli_report(&warn);
    int heap = CRYPTO_secure_malloc_init(1 << 20, 16);
    if (heap == 0)
        cli_warn("OpenSSL's secure heap is not available; private key numbers live in the "
                 "ordinary heap while in use");
    if (heap == 2 && warn.rc == KT_OK && kt_memlock_failed(1 << 20, 0, "keytransfer", &warn))
        return cli_report(&warn);
    if (warn.rc != KT_OK)
        cli_warn("%s", warn.msg);

    /* Installed under a seed tool's name (a link named generatekey, say), act as that tool. */
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    cli_cmd_fn front = compat_lookup(base);
    if (front != NULL)
        return front(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return KT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return KT_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("keytransfer %s\n", KT_VERSION);
        return KT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    if ((front = compat_lookup(argv[1])) != NULL)
        return front(argc - 1, argv + 1);
    fprintf(stderr, "keytransfer: unknown command '%s'\nTry 'keytransfer --help'.\n", argv[1]);
    return KT_EXIT_USAGE;
}

/* The stdout check at exit: output that never left the process is an I/O failure (exit 4). */
int main(int argc, char **argv)
{
    kt_err e;
    kt_err_clear(&e);
    if (kt_process_harden(&e) != KT_OK)
        return cli_report(&e);
    int status = run(argc, argv);
    if (kt_stdout_close(&e) != KT_OK) {
        int io = cli_report(&e);
        if (status == KT_EXIT_OK)
            status = io;
    }
    return status;
}
