/*
 * cli.c - the command-line layer (cli.h): option tables parsed with getopt_long, help made from
 * the same tables, the messages and exit statuses of docs/design.md ("Rules"), command groups,
 * and the one main() the three programs share.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *program = "keytransfer";

const char *cli_name(void)
{
    return program;
}

/* ---- messages -------------------------------------------------------------------------------- */

int cli_report(const kt_err *e)
{
    fprintf(stderr, "%s: %s\n", program, e->msg[0] ? e->msg : kt_rc_message(e->rc));
    return kt_rc_exit(e->rc);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s %s: ", program, cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s %s --help'.\n", program, cmd);
    return KT_EXIT_USAGE;
}

static void vsay(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s: ", program, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay("warning", fmt, ap);
    va_end(ap);
}

void cli_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay("note", fmt, ap);
    va_end(ap);
}

void cli_txn_report(void *ctx, const char *what, bool completed, const char *line)
{
    (void)ctx;
    (void)what;
    (void)completed;
    cli_note("%s", line);
}

bool cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int cli_print_json(json_t *v)
{
    kt_err e;
    char *s = NULL;
    kt_rc rc = v == NULL ? kt_fail(&e, KT_ENOMEM, "out of memory building JSON")
                         : kt_json_dump(v, true, &s, &e);

    json_decref(v);
    if (rc != KT_OK)
        return cli_report(&e);
    puts(s);
    free(s);
    return KT_EXIT_OK;
}

/* ---- options --------------------------------------------------------------------------------- */

#define HELP_KEY   (-2)
#define HELP_WIDTH 96
#define COL_MIN    20
#define COL_MAX    32

static size_t count_opts(const cli_opt *opts)
{
    size_t n = 0;

    while (opts != NULL && opts[n].name != NULL)
        n++;
    return n;
}

/* "  -k, --kek-package FILE" */
static void opt_label(const cli_opt *o, char *out, size_t outsz)
{
    char shortname[8] = "";

    if (o->key > 0 && o->key < 128)
        snprintf(shortname, sizeof shortname, "-%c, ", o->key);
    snprintf(out, outsz, "  %s--%s%s%s", shortname, o->name, o->kind == CLI_FLAG ? "" : " ",
             o->kind == CLI_FLAG ? "" : (o->metavar != NULL ? o->metavar : "VALUE"));
}

/* Prints text (lines separated by '\n') indented by indent, the first line after col columns
 * already used. */
static void print_indented(FILE *f, const char *text, int used, int indent)
{
    const char *p = text;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        if (used < indent)
            fprintf(f, "%*s", indent - used, "");
        fprintf(f, "%.*s\n", len, p);
        used = 0;
        p += len;
        if (*p == '\n')
            p++;
    }
}

void cli_help(const cli_cmd *c, FILE *f)
{
    size_t n = count_opts(c->opts);
    char label[128];
    int col = COL_MIN;
    const cli_opt help = {HELP_KEY, "help", CLI_FLAG, NULL, "show this help"};

    for (size_t i = 0; i < n; i++) {
        opt_label(&c->opts[i], label, sizeof label);
        int w = (int)strlen(label) + 2;
        if (w > col && w <= COL_MAX)
            col = w;
    }
    fprintf(f, "Usage: %s %s", program, c->name);
    if (c->synopsis != NULL && c->synopsis[0] != '\0') {
        /* further synopsis lines line up under the first */
        int indent = (int)(strlen("Usage: ") + strlen(program) + 1 + strlen(c->name) + 1);
        fputc(' ', f);
        print_indented(f, c->synopsis, indent, indent);
    } else {
        fputc('\n', f);
    }
    if (c->about != NULL)
        fprintf(f, "\n%s%s", c->about, c->about[strlen(c->about) - 1] == '\n' ? "" : "\n");
    fputc('\n', f);
    for (size_t i = 0; i <= n; i++) {
        const cli_opt *o = i < n ? &c->opts[i] : &help;
        opt_label(o, label, sizeof label);
        fputs(label, f);
        int used = (int)strlen(label);
        if (used + 2 > col) {
            fputc('\n', f);
            used = 0;
        }
        print_indented(f, o->help != NULL ? o->help : "", used, col);
    }
    if (c->footer != NULL)
        fprintf(f, "\n%s%s", c->footer, c->footer[strlen(c->footer) - 1] == '\n' ? "" : "\n");
}

static int find_key(const cli_args *a, int key)
{
    for (size_t i = 0; i < a->nopts; i++)
        if (a->cmd->opts[i].key == key)
            return (int)i;
    return -1;
}

const char *cli_value(const cli_args *a, int key)
{
    int i = find_key(a, key);

    return i >= 0 ? a->value[i] : NULL;
}

bool cli_flag(const cli_args *a, int key)
{
    int i = find_key(a, key);

    return i >= 0 && a->given[i];
}

size_t cli_values(const cli_args *a, int key, const char *const **out)
{
    int i = find_key(a, key);

    *out = i >= 0 ? a->list[i] : NULL;
    return i >= 0 ? a->nlist[i] : 0;
}

kt_rc cli_values_copy(const cli_args *a, int key, const char ***out, size_t *n, kt_err *e)
{
    const char *const *v;

    *n = cli_values(a, key, &v);
    *out = NULL;
    if (*n == 0)
        return KT_OK;
    if ((*out = calloc(*n, sizeof **out)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = v[i];
    return KT_OK;
}

void cli_args_free(cli_args *a)
{
    for (size_t i = 0; i < CLI_OPTS_MAX; i++)
        free(a->list[i]);
    memset(a, 0, sizeof *a);
}

/* The option argv[optind - 1] named, for messages ("--kmdata" out of "--kmdata=x"). */
static void offending(char **argv, int idx, char *out, size_t outsz)
{
    const char *s = idx >= 0 ? argv[idx] : "?";
    const char *eq = strchr(s, '=');

    snprintf(out, outsz, "%.*s", eq != NULL ? (int)(eq - s) : 64, s);
}

int cli_parse(const cli_cmd *c, int argc, char **argv, cli_args *a)
{
    struct option longs[CLI_OPTS_MAX + 2];
    char shorts[3 * CLI_OPTS_MAX + 4] = "-:";
    size_t n = count_opts(c->opts), ns = 2;
    char name[96];

    memset(a, 0, sizeof *a);
    a->cmd = c;
    a->nopts = n;
    if (n > CLI_OPTS_MAX)
        return cli_usage(c->name, "internal error: too many options");
    for (size_t i = 0; i < n; i++) {
        const cli_opt *o = &c->opts[i];
        longs[i] = (struct option){o->name, o->kind == CLI_FLAG ? no_argument : required_argument,
                                   NULL, (int)(256 + i)};
        if (o->key > 0 && o->key < 128) {
            shorts[ns++] = (char)o->key;
            if (o->kind != CLI_FLAG)
                shorts[ns++] = ':';
        }
    }
    longs[n] = (struct option){"help", no_argument, NULL, (int)(256 + n)};
    longs[n + 1] = (struct option){0, 0, 0, 0};
    shorts[ns] = '\0';

    optind = 0;
    opterr = 0;
    for (;;) {
        int prev = optind;
        int ch = (c->flags & CLI_LONG_ONLY) != 0 ? getopt_long_only(argc, argv, shorts, longs, NULL)
                                                 : getopt_long(argc, argv, shorts, longs, NULL);
        size_t i;

        if (ch == -1)
            break;
        if (ch == 1) { /* an operand, in its place ("-" as first of shorts) */
            if (a->nargs >= c->max_args || a->nargs >= CLI_ARGS_MAX) {
                cli_args_free(a);
                return cli_usage(c->name, "unexpected argument '%s'", optarg);
            }
            a->arg[a->nargs++] = optarg;
            continue;
        }
        if (ch == ':' || ch == '?') {
            offending(argv, optind > prev ? optind - 1 : prev, name, sizeof name);
            cli_args_free(a);
            if (ch == ':')
                return cli_usage(c->name, "option %s needs a value", name);
            return cli_usage(c->name, "unknown option '%s'", name);
        }
        if (ch == (int)(256 + n)) {
            cli_args_free(a);
            cli_help(c, stdout);
            return KT_EXIT_OK;
        }
        if (ch >= 256)
            i = (size_t)(ch - 256);
        else
            for (i = 0; i < n && c->opts[i].key != ch; i++)
                ;
        if (i >= n) {
            cli_args_free(a);
            return cli_usage(c->name, "unknown option");
        }
        const cli_opt *o = &c->opts[i];
        switch (o->kind) {
        case CLI_FLAG:
            a->given[i] = true;
            break;
        case CLI_VALUE:
        case CLI_NEEDED:
            if (a->given[i]) {
                cli_args_free(a);
                return cli_usage(c->name, "--%s is given twice; give it once", o->name);
            }
            a->given[i] = true;
            a->value[i] = optarg;
            break;
        case CLI_LIST: {
            const char **p = realloc(a->list[i], (a->nlist[i] + 1) * sizeof *p);
            if (p == NULL) {
                cli_args_free(a);
                return cli_report(&(kt_err){KT_ENOMEM, "out of memory"});
            }
            p[a->nlist[i]++] = optarg;
            a->list[i] = p;
            a->given[i] = true;
            break;
        }
        }
    }
    for (; optind < argc; optind++) { /* what follows "--" */
        if (a->nargs >= c->max_args || a->nargs >= CLI_ARGS_MAX) {
            cli_args_free(a);
            return cli_usage(c->name, "unexpected argument '%s'", argv[optind]);
        }
        a->arg[a->nargs++] = argv[optind];
    }
    if (a->nargs < c->min_args) {
        cli_args_free(a);
        return cli_usage(c->name, "missing argument: %s", c->synopsis != NULL ? c->synopsis : "");
    }
    for (size_t i = 0; i < n; i++)
        if (c->opts[i].kind == CLI_NEEDED && !a->given[i]) {
            const cli_opt *o = &c->opts[i];
            cli_args_free(a);
            return cli_usage(c->name, "--%s %s is required", o->name,
                             o->metavar != NULL ? o->metavar : "VALUE");
        }
    return -1;
}

/* ---- programs and groups --------------------------------------------------------------------- */

static void list_entries(FILE *f, const cli_entry *t, size_t n)
{
    int width = 0;

    for (size_t i = 0; i < n; i++)
        if ((int)strlen(t[i].name) > width)
            width = (int)strlen(t[i].name);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-*s  %s\n", width, t[i].name, t[i].summary);
}

int cli_dispatch(const char *group, const cli_entry *table, size_t n, int argc, char **argv)
{
    if (argc >= 2)
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[1], table[i].name) == 0)
                return table[i].fn(argc - 1, argv + 1);
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *f = help ? stdout : stderr;
    if (!help && argc >= 2)
        fprintf(stderr, "%s %s: unknown subcommand '%s'\n", program, group, argv[1]);
    fprintf(f, "Usage: %s %s SUBCOMMAND [OPTIONS]\n\nSubcommands:\n", program, group);
    list_entries(f, table, n);
    fprintf(f, "\nRun '%s %s SUBCOMMAND --help' for its options.\n", program, group);
    return help ? KT_EXIT_OK : KT_EXIT_USAGE;
}

static void program_help(const cli_program *p, FILE *f)
{
    fprintf(f, "Usage: %s COMMAND [ARGS]\n\n%s\n\nCommands:\n", p->name, p->about);
    list_entries(f, p->cmds, p->ncmds);
    fprintf(f, "\nOptions:\n  --help     show this help\n  --version  show the version\n");
    fprintf(f, "\nRun '%s COMMAND --help' for a command's options. See %s(1).\n", p->name, p->name);
    if (p->footer != NULL)
        fputs(p->footer, f);
}

static int run(const cli_program *p, int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
    cli_fn front;

    /* Installed under another name (a link named generatekey, say), act as that command. */
    if (p->alias != NULL && strcmp(base, p->name) != 0 && (front = p->alias(base)) != NULL)
        return front(argc, argv);
    if (argc < 2) {
        program_help(p, stderr);
        return KT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        program_help(p, stdout);
        return KT_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", p->name, KT_VERSION);
        return KT_EXIT_OK;
    }
    for (size_t i = 0; i < p->ncmds; i++)
        if (strcmp(argv[1], p->cmds[i].name) == 0)
            return p->cmds[i].fn(argc - 1, argv + 1);
    if (p->alias != NULL && (front = p->alias(argv[1])) != NULL)
        return front(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", p->name, argv[1], p->name);
    return KT_EXIT_USAGE;
}

int cli_main(const cli_program *p, int argc, char **argv)
{
    kt_err e, warn;

    program = p->name;
    kt_err_clear(&e);
    if (p->early != NULL && p->early(&e) != KT_OK)
        return cli_report(&e);
    if (kt_process_harden(&e) != KT_OK)
        return cli_report(&e);
    /* Can what the program will lock be locked (kept out of swap)? A refusal when the
     * environment asks for one, else a warning once. */
    if (kt_memlock_check(p->memlock_bytes, p->name, &warn) != KT_OK)
        return cli_report(&warn);
    if (p->setup != NULL && p->setup(&warn, &e) != KT_OK)
        return cli_report(&e);
    if (warn.rc != KT_OK)
        cli_warn("%s", warn.msg);

    int status = run(p, argc, argv);
    /* Output that never left the process is an I/O failure (exit 4), said once. */
    if (kt_stdout_close(&e) != KT_OK) {
        int io = cli_report(&e);
        if (status == KT_EXIT_OK)
            status = io;
    }
    return status;
}
