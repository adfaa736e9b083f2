/*
 * commands.h - the commands of keytransfer-online (one file each), on the CLI layer
 * (cli/include/cli.h).
 */
#ifndef KT_ONLINE_COMMANDS_H
#define KT_ONLINE_COMMANDS_H

#include "cli.h"
#include "online.h"

int cmd_hash(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_upload(int argc, char **argv);

#endif
