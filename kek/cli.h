/*
 * cli.h - what the subcommands of keytransfer-cloud share.
 */
#ifndef KT_KEK_CLI_H
#define KT_KEK_CLI_H

#include "kek.h"

int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Prints "keytransfer-cloud: <message>" on stderr and returns the exit status for e->rc. */
int cloud_report(const kt_err *e);

/* Tells on stderr what recovery did to an interrupted change (a kt_txn_report_fn). */
void cloud_txn_report(void *ctx, const char *what, bool completed, const char *line);

/* Prints a usage error for cmd and returns exit status 2. */
int cloud_usage(const char *cmd, const char *fmt, ...) KT_PRINTF(2, 3);

/* The default state folder: $KEYTRANSFER_CLOUD_STATE, else ~/.local/share/keytransfer/cloud. */
const char *cloud_default_state(char *buf, size_t bufsz);

#endif
