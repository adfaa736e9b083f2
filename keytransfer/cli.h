/*
 * cli.h - what the subcommands of the offline CLI share: error reporting with the documented exit
 * statuses, option parsing helpers, PIN prompting for cards, JSON output.
 */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stdbool.h>

#include "kt.h"
#include "world.h"

/* A subcommand: argv[0] is the subcommand's own name. Returns the exit status. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

int cmd_world(int argc, char **argv);
int cmd_module(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_toolset(int argc, char **argv);
int cmd_modify_acls(int argc, char **argv);
int cmd_package(int argc, char **argv);

/* The seed-compatible front (compat.c): the command named new-world, generatekey or
 * KeyTransferRemote, or NULL. */
cli_cmd_fn compat_lookup(const char *name);

/* One subcommand of a command group such as `keytransfer world`. */
typedef struct cli_subcommand {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} cli_subcommand;

/* Runs the subcommand argv[1] names from table (n entries) with argv shifted by one; with
 * --help, lists the table on stdout (exit 0); otherwise lists it on stderr (exit 2). group is
 * the command's name for messages ("world"). */
int cli_dispatch(const char *group, const cli_subcommand *table, size_t n, int argc, char **argv);

/* Prints "keytransfer: <message>" on stderr and returns the exit status for e->rc. */
int cli_report(const kt_err *e);

/* Prints "keytransfer <cmd>: <message>" and a hint to --help on stderr; returns exit status 2. */
int cli_usage(const char *cmd, const char *fmt, ...) KT_PRINTF(2, 3);

/* Prints a warning on stderr. */
void cli_warn(const char *fmt, ...) KT_PRINTF(1, 2);

/* Parses a whole decimal number in min..max; false when s is anything else. */
bool cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Where card PINs come from: --pin-file, --pin-fd or the terminal. */
typedef struct cli_pins {
    kt_pin_source src;
} cli_pins;

/* Opens the PIN source from the --pin-file and --pin-fd arguments (either may be NULL). */
KT_MUST kt_rc cli_pins_open(cli_pins *c, const char *pin_file, const char *pin_fd, kt_err *e);
void cli_pins_close(cli_pins *c);

/* The world_pin_fn the subcommands hand to world/ (ctx is a cli_pins). */
kt_rc cli_pin_for_card(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                       kt_err *e);

/* Tells the user on stderr what kt_txn_recover did to an interrupted change (a kt_txn_report_fn;
 * ctx unused). */
void cli_txn_report(void *ctx, const char *what, bool completed, const char *line);

/*
 * The world a command works on: resolves its paths (world_paths_init with kmdata and cards, either
 * may be NULL) and takes the world lock, exclusive for commands that write the world and shared
 * for those that read it; create makes the folders (world new). Interrupted changes found there
 * are finished or undone and reported on stderr. Release l with world_lock_release.
 */
KT_MUST kt_rc cli_world_open(const char *kmdata, const char *cards, bool exclusive, bool create,
                             world_paths *p, world_lock *l, kt_err *e);

/* Writes v to stdout as indented JSON and a newline; returns an exit status. Consumes v. */
int cli_print_json(json_t *v);

#endif
