/*
 * cli.h - the face of cli/: the one command-line layer under keytransfer, keytransfer-online and
 * keytransfer-cloud (docs/design.md, "Layers"). It owns what every command of the three programs
 * does the same way:
 *
 *   - options: a table per command (cli_opt), parsed by cli_parse with getopt_long; the help
 *     text is made from the same table, so an option and its help line sit together; a value
 *     option given twice, an unknown option, a missing value or a stray operand is a usage
 *     error (exit 2) naming it;
 *   - messages: cli_report (an error, mapped to the documented exit status), cli_usage,
 *     cli_warn and cli_note on stderr, each prefixed with the program's name;
 *   - programs: cli_main hardens the process, probes locked memory, dispatches to a command
 *     (cli_dispatch for groups such as `world`), answers --help and --version, and checks at
 *     exit that standard output got everything (exit 4 otherwise);
 *   - output: cli_print_json for --json.
 *
 * Library code below never prints; this layer and the command files above it are the only ones
 * that do.
 */
#ifndef KT_CLI_LAYER_H
#define KT_CLI_LAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "kt.h"

/* ---- messages -------------------------------------------------------------------------------- */

/* The program's name for messages ("keytransfer"), set by cli_main. */
const char *cli_name(void);

/* Prints "<program>: <message>" on stderr and returns the exit status for e->rc. */
int cli_report(const kt_err *e);

/* Prints "<program> <cmd>: <message>" and "Try '<program> <cmd> --help'." on stderr; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) KT_PRINTF(2, 3);

/* Prints "<program>: warning: <message>" on stderr. */
void cli_warn(const char *fmt, ...) KT_PRINTF(1, 2);

/* Prints "<program>: note: <message>" on stderr. */
void cli_note(const char *fmt, ...) KT_PRINTF(1, 2);

/* Tells on stderr what kt_txn_recover did to an interrupted change (a kt_txn_report_fn; ctx is
 * unused). */
void cli_txn_report(void *ctx, const char *what, bool completed, const char *line);

/* Parses a whole decimal number in min..max; false when s is anything else. */
bool cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Writes v to stdout as indented JSON and a newline; returns an exit status. Consumes v. */
int cli_print_json(json_t *v);

/* ---- options --------------------------------------------------------------------------------- */

typedef enum cli_kind {
    CLI_FLAG = 0,   /* --yes: given or not */
    CLI_VALUE = 1,  /* --kmdata DIR: at most once */
    CLI_LIST = 2,   /* --card PATH: as often as needed, in order */
    CLI_NEEDED = 3, /* --ident ID: a CLI_VALUE that must be given ("--ident ID is required") */
} cli_kind;

/* One option: key is what the command asks cli_value/cli_flag/cli_values for, a letter when the
 * option also has that short form (-k), else any number from 256 up. help may hold several lines
 * separated by '\n'; metavar names the value in the help ("DIR"). */
typedef struct cli_opt {
    int key;
    const char *name;
    cli_kind kind;
    const char *metavar;
    const char *help;
} cli_opt;

#define CLI_OPTS_MAX 48
#define CLI_ARGS_MAX 64

/* cli_cmd flags. */
enum {
    CLI_LONG_ONLY = 1, /* long options may start with one dash (the seed tools' -ModifyAcls) */
};

/* A command: "Usage: <program> <name> <synopsis>", the about text, the options (ending with a
 * zero entry; --help is added), the operands it takes (min_args..max_args, named in the
 * synopsis) and an optional footer (exit statuses, notes). */
typedef struct cli_cmd {
    const char *name;
    const char *synopsis;
    const char *about;
    const cli_opt *opts;
    unsigned min_args, max_args;
    const char *footer;
    unsigned flags;
} cli_cmd;

/* What cli_parse found: values borrow from argv. */
typedef struct cli_args {
    const cli_cmd *cmd;
    size_t nopts;
    bool given[CLI_OPTS_MAX];
    const char *value[CLI_OPTS_MAX];
    const char **list[CLI_OPTS_MAX];
    size_t nlist[CLI_OPTS_MAX];
    const char *arg[CLI_ARGS_MAX]; /* operands, in order */
    size_t nargs;
} cli_args;

/*
 * Parses argv (argv[0] is the command's own name) against c. Returns -1 when the command goes
 * on, or the exit status to return at once: 0 after printing the help (--help), 2 after a usage
 * error (an option of kind CLI_NEEDED not given is one). Operands may come before, between or
 * after the options; "--" ends the options. *a is freed with cli_args_free on every path once
 * cli_parse returned -1.
 */
int cli_parse(const cli_cmd *c, int argc, char **argv, cli_args *a);
void cli_args_free(cli_args *a);

/* The option's value (NULL when not given), whether a flag was given, and a list option's
 * values (their count; *out borrows). key must be one of the command's options. */
const char *cli_value(const cli_args *a, int key);
bool cli_flag(const cli_args *a, int key);
size_t cli_values(const cli_args *a, int key, const char *const **out);

/* A list option's values in an array of their own (free() it), which outlives a; the strings are
 * argv's. *out is NULL when the option was not given. KT_ENOMEM when there is no memory. */
KT_MUST kt_rc cli_values_copy(const cli_args *a, int key, const char ***out, size_t *n, kt_err *e);

/* The --json flag every command that prints a result takes; the command's own enum names its key
 * OPT_JSON. */
#define CLI_OPT_JSON                                                                               \
    {                                                                                              \
        OPT_JSON, "json", CLI_FLAG, NULL, "print the result as JSON"                               \
    }

/* Prints c's help on f. */
void cli_help(const cli_cmd *c, FILE *f);

/* ---- programs and command groups ------------------------------------------------------------- */

/* A command's entry: argv[0] is the command's own name; returns the exit status. */
typedef int (*cli_fn)(int argc, char **argv);

typedef struct cli_entry {
    const char *name;
    cli_fn fn;
    const char *summary;
} cli_entry;

/* Runs the subcommand argv[1] names from table (n entries) with argv shifted by one; with
 * --help, lists the table on stdout (exit 0); otherwise lists it on stderr (exit 2). group is
 * the command's name ("world"). */
int cli_dispatch(const char *group, const cli_entry *table, size_t n, int argc, char **argv);

/* A program. */
typedef struct cli_program {
    const char *name;  /* "keytransfer" */
    const char *about; /* one paragraph for --help */
    const cli_entry *cmds;
    size_t ncmds;
    const char *footer;   /* after the command list in --help, or NULL */
    size_t memlock_bytes; /* what the program will lock: probed at start (kt_memlock_check) */
    /* Optional, before anything else (the online program's environment scrub); may warn. */
    kt_rc (*early)(kt_err *e);
    /* Optional, after hardening and the memlock probe (keytransfer's OpenSSL secure heap); may
     * fill warn when it finds memory it cannot lock and warn is still clear. */
    kt_rc (*setup)(kt_err *warn, kt_err *e);
    /* Optional: a command for a name that is not in cmds (the seed-compatible front), also
     * used when the program runs under such a name (a link named generatekey). */
    cli_fn (*alias)(const char *name);
} cli_program;

/* The whole of a program's main(): hardens the process (kt_process_harden), runs setup, warns
 * when memory cannot be locked, dispatches, and checks stdout at exit. */
int cli_main(const cli_program *p, int argc, char **argv);

#endif
