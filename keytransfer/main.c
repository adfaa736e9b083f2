/*
 * main.c - the offline program `keytransfer`: the table of its commands, on the CLI layer. The
 * only program that ever holds plaintext key material.
 */
#include "commands.h"

#include <openssl/crypto.h>

static const cli_entry commands[] = {
    {"world", cmd_world, "create, inspect and recover the security world and its cards"},
    {"module", cmd_module, "manage the software module (erase)"},
    {"key", cmd_key, "generate, import and inspect keys protected by the module"},
    {"toolset", cmd_toolset, "safely extract the vendor's BYOK toolset zip"},
    {"verify", cmd_verify, "check a KEK package and a world package against the vendor root"},
    {"modify-acls", cmd_modify_acls, "with the card quorum, reduce a key's ACL to one KEK"},
    {"package", cmd_package, "wrap a reduced key into a .byok (or AWS/GCP) transfer package"},
    {"audit", cmd_audit, "show and verify the world's audit log"},
};

/* OpenSSL's secure heap (1 MiB, locked, guarded) for the private BIGNUMs of RSA and EC keys.
 * CRYPTO_secure_malloc_init returns 0 on failure, 1 on success, 2 when the heap works but could
 * not be locked. */
static kt_rc secure_heap(kt_err *warn, kt_err *e)
{
    int heap = CRYPTO_secure_malloc_init(1 << 20, 16);
    if (heap == 0)
        cli_warn("OpenSSL's secure heap is not available; private key numbers live in the "
                 "ordinary heap while in use");
    if (heap == 2 && warn->rc == KT_OK && kt_memlock_failed(1 << 20, 0, "keytransfer", warn))
        return kt_fail(e, warn->rc, "%s", warn->msg);
    return KT_OK;
}

int main(int argc, char **argv)
{
    static const cli_program program = {
        .name = "keytransfer",
        .about = "Offline tools for moving a key you control into a cloud HSM.",
        .cmds = commands,
        .ncmds = sizeof commands / sizeof commands[0],
        .footer = "The seed toolset's command lines work too: keytransfer new-world ...,\n"
                  "keytransfer generatekey ..., keytransfer KeyTransferRemote ... (see "
                  "COMPATIBILITY\nin keytransfer(1)).\n",
        .memlock_bytes = (1 << 20) + KT_MEMLOCK_PROBE,
        .setup = secure_heap,
        .alias = compat_lookup,
    };
    return cli_main(&program, argc, argv);
}
