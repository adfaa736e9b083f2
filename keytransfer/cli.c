/*
 * cli.c - helpers the offline CLI's subcommands share: reporting errors with the exit statuses of
 * DESIGN.md §6, parsing numbers, asking for card PINs, printing JSON.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_report(const kt_err *e)
{
    fprintf(stderr, "keytransfer: %s\n", e->msg[0] ? e->msg : kt_rc_message(e->rc));
    return kt_rc_exit(e->rc);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "keytransfer %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'keytransfer %s --help'.\n", cmd);
    return KT_EXIT_USAGE;
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "keytransfer: warning: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

kt_rc cli_pins_open(cli_pins *c, const char *pin_file, const char *pin_fd, kt_err *e)
{
    unsigned long fd = 0;
    memset(c, 0, sizeof *c);
    if (pin_file != NULL && pin_fd != NULL)
        return kt_fail(e, KT_EUSAGE, "give --pin-file or --pin-fd, not both");
    if (pin_fd != NULL && !cli_parse_uint(pin_fd, 0, 1024 * 1024, &fd))
        return kt_fail(e, KT_EUSAGE, "--pin-fd takes a file descriptor number, not '%s'", pin_fd);
    return kt_pin_source_open(&c->src, pin_file, pin_fd != NULL ? (int)fd : -1, e);
}

void cli_pins_close(cli_pins *c)
{
    kt_pin_source_close(&c->src);
}

kt_rc cli_pin_for_card(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                       kt_err *e)
{
    cli_pins *c = ctx;
    char prompt[PATH_MAX + 96];
    snprintf(prompt, sizeof prompt,
             "%s PIN for administrator card %u (%s): ", is_new ? "New" : "Enter", no, card_path);
    return kt_pin_get(&c->src, prompt, is_new, pin, e);
}

void cli_txn_report(void *ctx, const char *what, bool completed, const char *line)
{
    (void)ctx;
    (void)what;
    (void)completed;
    fprintf(stderr, "keytransfer: note: %s\n", line);
}

kt_rc cli_world_open(const char *kmdata, const char *cards, bool exclusive, bool create,
                     world_paths *p, world_lock *l, kt_err *e)
{
    l->fd = -1;
    kt_rc rc = world_paths_init(p, kmdata, cards, e);
    if (rc == KT_OK)
        rc = world_lock_acquire(p, exclusive, create, cli_txn_report, NULL, l, e);
    return rc;
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

int cli_dispatch(const char *group, const cli_subcommand *table, size_t n, int argc, char **argv)
{
    int width = 0;
    if (argc >= 2)
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[1], table[i].name) == 0)
                return table[i].fn(argc - 1, argv + 1);
    bool help = argc >= 2 && strcmp(argv[1], "--help") == 0;
    FILE *f = help ? stdout : stderr;
    if (!help && argc >= 2)
        fprintf(stderr, "keytransfer %s: unknown subcommand '%s'\n", group, argv[1]);
    fprintf(f, "Usage: keytransfer %s SUBCOMMAND [OPTIONS]\n\nSubcommands:\n", group);
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(table[i].name) > width)
            width = (int)strlen(table[i].name);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-*s  %s\n", width, table[i].name, table[i].summary);
    return help ? KT_EXIT_OK : KT_EXIT_USAGE;
}
