/*
 * cli.h - what the subcommands of keytransfer-online share: error reporting with the exit
 * statuses of DESIGN.md §6 and usage errors.
 */
#ifndef KT_ONLINE_CLI_H
#define KT_ONLINE_CLI_H

#include "online.h"

int cmd_hash(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_upload(int argc, char **argv);

/* Prints "keytransfer-online: <message>" on stderr and returns the exit status for e->rc. */
int online_report(const kt_err *e);

/* Prints a usage error for cmd and a hint to --help on stderr; returns exit status 2. */
int online_usage(const char *cmd, const char *fmt, ...) KT_PRINTF(2, 3);

/* Prints "keytransfer-online: warning: <message>" on stderr. */
void online_warn(const char *fmt, ...) KT_PRINTF(1, 2);

#endif
