/*
 * commands.h - the commands of keytransfer-cloud (one file each), on the CLI layer
 * (cli/include/cli.h).
 */
#ifndef KT_KEK_COMMANDS_H
#define KT_KEK_COMMANDS_H

#include "cli.h"
#include "kek.h"

/* --state DIR, which every keytransfer-cloud command takes (its key: the command's OPT_STATE). */
#define KEK_OPT_STATE                                                                              \
    {                                                                                              \
        OPT_STATE, "state", CLI_VALUE, "DIR",                                                      \
            "the cloud's state folder (default: $KEYTRANSFER_CLOUD_STATE, else\n"                  \
            "~/.local/share/keytransfer/cloud)"                                                    \
    }

int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* The default state folder: $KEYTRANSFER_CLOUD_STATE, else ~/.local/share/keytransfer/cloud. */
const char *cloud_default_state(char *buf, size_t bufsz);

#endif
