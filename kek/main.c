/*
 * main.c - `keytransfer-cloud`: the other side of a transfer, for demos, tests and self-hosted
 * use. Plays the HSM vendor and a region's cloud HSM (docs/design.md, "Programs").
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>

static const cli_entry commands[] = {
    {"init", cmd_init, "create a region's cloud HSM, KEK, packages, toolset zip and hash table"},
    {"import", cmd_import, "open a .byok inside the emulated cloud HSM and store its key"},
    {"serve", cmd_serve, "serve the cloud HSM as a Key Vault REST endpoint on loopback"},
};

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

int main(int argc, char **argv)
{
    static const cli_program program = {
        .name = "keytransfer-cloud",
        .about = "The cloud side of a key transfer, for demos, tests and self-hosted use: an HSM\n"
                 "vendor (a DEMO root unless you give your own) and a region's cloud HSM.",
        .cmds = commands,
        .ncmds = sizeof commands / sizeof commands[0],
        .memlock_bytes = KT_MEMLOCK_PROBE,
    };
    return cli_main(&program, argc, argv);
}
