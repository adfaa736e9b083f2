/*
 * cmd_batch.h - the batch forms of `keytransfer package` (several --ident, --all-reduced) and
 * `keytransfer modify-acls` (several --ident, --all): cmd_package.c and cmd_modify_acls.c parse
 * their options and hand them here (cmd_batch.c), which runs batch.h and prints.
 */
#ifndef KT_CMD_BATCH_H
#define KT_CMD_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "kt.h"
#include "transfer.h"

/* What `package` was asked for in batch form (its options, checked by cmd_package.c). */
typedef struct cli_package_batch {
    const char *const *idents; /* the --ident values (none with --all_reduced) */
    size_t n;
    bool all_reduced;
    const char *name_prefix, *group, *kmdata;
    bool stop_on_error, json;
    const transfer_kek_source *kek;
    const transfer_package_opts *o; /* target, hash, subscription, out_dir, now */
} cli_package_batch;

/* Runs a batch package; returns the exit status. */
int cmd_package_batch(const cli_package_batch *a);

/* What `modify-acls` was asked for in batch form. */
typedef struct cli_reduce_batch {
    const char *const *idents; /* the --ident values (none with --all) */
    size_t n;
    bool all;
    const char *app, *kmdata, *pin_file, *pin_fd;
    const char *const *cards;
    size_t ncards;
    bool yes, stop_on_error, json;
    const transfer_kek_source *kek;
} cli_reduce_batch;

/* Runs a batch reduction; returns the exit status. */
int cmd_modify_acls_batch(const cli_reduce_batch *a);

/*
 * The card holders' approval of text (cmd_modify_acls.c): with yes it goes to stderr and is
 * approved; otherwise it is shown at the terminal and only "yes" approves (KT_EDENIED), and with
 * no terminal KT_EUSAGE.
 */
KT_MUST kt_rc cli_approve_text(bool yes, const char *text, kt_err *e);

/* The keys a command names: *ident the first --ident (opt); when there is more than one, or all
 * (its --all or --all-reduced) is set, *batch and *idents, a heap array (free) of every --ident
 * value (argv's strings). -1 goes on, else the exit status (c is then freed). */
int cli_batch_idents(cli_args *c, int opt, bool all, const char **ident, const char ***idents,
                     size_t *n, bool *batch);

/* What modify-acls and package work with: the KEK, and the world open with its module. */
typedef struct cli_transfer {
    transfer_kek kek;
    world_paths p;
    world_lock lock; /* held while the world is open */
    world_module m;
} cli_transfer;

/* Opens t: the KEK (verified again, or accepted by its fingerprint, at now; 0: the current time,
 * with a warning for an unattested or DEMO-vouched KEK), the world (its lock held, exclusive when
 * asked) and its module. -1 goes on, else the exit status with nothing left open (cmd names the
 * command in a usage error). */
int cli_transfer_open(const transfer_kek_source *src, uint64_t now, const char *kmdata,
                      bool exclusive, const char *cmd, cli_transfer *t);

/* Closes the module and releases the lock; the KEK stays open (a result names it). */
void cli_transfer_close_world(cli_transfer *t);

/* Closes all of t: the world (cli_transfer_close_world) and the KEK. */
void cli_transfer_close(cli_transfer *t);

#endif
