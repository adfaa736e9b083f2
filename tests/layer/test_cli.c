/*
 * test_cli.c - the command-line layer (cli/): option tables parsed as documented (a value given
 * twice, an unknown option, a missing value, too many or too few operands are usage errors),
 * operands anywhere, "--", lists in order, the seed tools' one-dash long options, and help made
 * from the table with every option in it.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { O_NAME = 256, O_CARD, O_YES };

static const cli_opt opts[] = {
    {'k', "kek-package", CLI_VALUE, "FILE", "the KEK package"},
    {O_NAME, "name", CLI_VALUE, "NAME", "a name\nover two lines"},
    {O_CARD, "card", CLI_LIST, "PATH", "a card"},
    {O_YES, "yes", CLI_FLAG, NULL, "approve"},
    {0},
};

static const cli_cmd cmd = {
    .name = "test",
    .synopsis = "FILE [OPTIONS]",
    .about = "A command for the tests.",
    .opts = opts,
    .min_args = 1,
    .max_args = 2,
    .footer = "Exit status: as documented.",
};

/* Parses a NULL-terminated list of words (argv[0] is the command's name). */
static int parse(const cli_cmd *c, cli_args *a, const char **words)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"test";
    for (; *words != NULL; words++)
        argv[argc++] = (char *)(uintptr_t)*words;
    argv[argc] = NULL;
    return cli_parse(c, argc, argv, a);
}

Test(cli, values_flags_lists_and_operands_anywhere)
{
    cli_args a;
    const char *w[] = {"-k",     "kek.json", "one",       "--card", "c1",    "--yes",
                       "--card", "c3",       "--name=N1", "--",     "--odd", NULL};
    const char *const *cards;

    cr_assert_eq(parse(&cmd, &a, w), -1);
    cr_assert_str_eq(cli_value(&a, 'k'), "kek.json");
    cr_assert_str_eq(cli_value(&a, O_NAME), "N1");
    cr_assert(cli_flag(&a, O_YES));
    cr_assert_eq(cli_values(&a, O_CARD, &cards), 2);
    cr_assert_str_eq(cards[0], "c1");
    cr_assert_str_eq(cards[1], "c3");
    cr_assert_eq(a.nargs, 2);
    cr_assert_str_eq(a.arg[0], "one");
    cr_assert_str_eq(a.arg[1], "--odd"); /* after "--", an operand */
    cli_args_free(&a);

    const char *none[] = {"only", NULL};
    cr_assert_eq(parse(&cmd, &a, none), -1);
    cr_assert_null(cli_value(&a, 'k'));
    cr_assert_not(cli_flag(&a, O_YES));
    cr_assert_eq(cli_values(&a, O_CARD, &cards), 0);
    cli_args_free(&a);
}

Test(cli, usage_errors)
{
    cli_args a;
    const char *twice[] = {"f", "--name", "a", "--name", "b", NULL};
    const char *twice_short[] = {"f", "-k", "a", "--kek-package=b", NULL};
    const char *unknown[] = {"f", "--bogus", NULL};
    const char *missing[] = {"f", "--name", NULL};
    const char *flag_value[] = {"f", "--yes=1", NULL};
    const char *no_operand[] = {"--yes", NULL};
    const char *too_many[] = {"a", "b", "c", NULL};

    cr_assert_eq(parse(&cmd, &a, twice), KT_EXIT_USAGE);
    cr_assert_eq(parse(&cmd, &a, twice_short), KT_EXIT_USAGE);
    cr_assert_eq(parse(&cmd, &a, unknown), KT_EXIT_USAGE);
    cr_assert_eq(parse(&cmd, &a, missing), KT_EXIT_USAGE);
    cr_assert_eq(parse(&cmd, &a, flag_value), KT_EXIT_USAGE);
    cr_assert_eq(parse(&cmd, &a, no_operand), KT_EXIT_USAGE);
    cr_assert_eq(parse(&cmd, &a, too_many), KT_EXIT_USAGE);
}

Test(cli, a_needed_option_must_be_given_once)
{
    static const cli_opt needed[] = {
        {O_NAME, "name", CLI_NEEDED, "NAME", "a name (required)"},
        {O_YES, "yes", CLI_FLAG, NULL, "approve"},
        {0},
    };
    const cli_cmd c = {.name = "test", .opts = needed};
    cli_args a;
    const char *given[] = {"--yes", "--name", "n", NULL};
    const char *absent[] = {"--yes", NULL};
    const char *twice[] = {"--name", "a", "--name", "b", NULL};
    const char *help[] = {"--help", NULL};

    cr_assert_eq(parse(&c, &a, given), -1);
    cr_assert_str_eq(cli_value(&a, O_NAME), "n");
    cli_args_free(&a);
    cr_assert_eq(parse(&c, &a, absent), KT_EXIT_USAGE);
    cr_assert_eq(parse(&c, &a, twice), KT_EXIT_USAGE);
    cr_assert_eq(parse(&c, &a, help), KT_EXIT_OK, "--help answers without the needed option");
}

Test(cli, one_dash_long_options_for_the_seed_tools)
{
    static const cli_opt seed[] = {
        {O_NAME, "KeyIdentifier", CLI_VALUE, "ID", "the key"},
        {O_YES, "Package", CLI_FLAG, NULL, "package"},
        {0},
    };
    cli_cmd c = {.name = "KeyTransferRemote", .opts = seed, .flags = CLI_LONG_ONLY};
    cli_args a;
    const char *w[] = {"-Package", "-KeyIdentifier", "contosokey", NULL};

    cr_assert_eq(parse(&c, &a, w), -1);
    cr_assert(cli_flag(&a, O_YES));
    cr_assert_str_eq(cli_value(&a, O_NAME), "contosokey");
    cli_args_free(&a);
    c.flags = 0; /* without the flag, -Package is a bundle of unknown short options */
    cr_assert_eq(parse(&c, &a, w), KT_EXIT_USAGE);
}

Test(cli, help_is_made_from_the_table)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_args a;
    const char *w[] = {"--help", NULL};

    cr_assert_not_null(f);
    cli_help(&cmd, f);
    fclose(f);
    cr_assert_not_null(strstr(buf, "Usage: "), "%s", buf);
    cr_assert_not_null(strstr(buf, " test FILE [OPTIONS]\n"), "%s", buf);
    cr_assert_not_null(strstr(buf, "A command for the tests.\n"), "%s", buf);
    const char *want[] = {"  -k, --kek-package FILE",
                          "  --name NAME",
                          "  --card PATH",
                          "  --yes",
                          "  --help",
                          "show this help",
                          "over two lines",
                          "Exit status: as documented."};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_not_null(strstr(buf, want[i]), "no '%s' in:\n%s", want[i], buf);
    /* the second line of a help text lines up under the first */
    const char *first = strstr(buf, "a name\n"), *second = strstr(buf, "over two lines");
    cr_assert(first != NULL && second != NULL);
    size_t col1 = (size_t)(first - strstr(buf, "  --name NAME"));
    size_t col2 = (size_t)(second - (strchr(first, '\n') + 1));
    cr_assert_eq(col1, col2, "help columns %zu and %zu", col1, col2);
    free(buf);
    cr_assert_eq(parse(&cmd, &a, w), KT_EXIT_OK); /* --help: printed, exit 0 */
}

Test(cli, numbers)
{
    unsigned long v;

    cr_assert(cli_parse_uint("42", 1, 100, &v) && v == 42);
    cr_assert_not(cli_parse_uint("0", 1, 100, &v));
    cr_assert_not(cli_parse_uint("101", 1, 100, &v));
    cr_assert_not(cli_parse_uint("-1", 0, 100, &v));
    cr_assert_not(cli_parse_uint(" 1", 0, 100, &v));
    cr_assert_not(cli_parse_uint("1x", 0, 100, &v));
    cr_assert_not(cli_parse_uint("", 0, 100, &v));
    cr_assert_not(cli_parse_uint(NULL, 0, 100, &v));
}

Test(cli, a_list_copied_outlives_the_parse)
{
    cli_args a;
    const char *w[] = {"one", "--card", "c1", "--card", "c2", "--card", "c3", NULL};
    const char **cards = NULL;
    size_t n = 0;
    kt_err e;

    kt_err_clear(&e);
    cr_assert_eq(parse(&cmd, &a, w), -1);
    cr_assert_eq(cli_values_copy(&a, O_CARD, &cards, &n, &e), KT_OK);
    cli_args_free(&a); /* the parse's own list is gone; the copy and argv's strings stay */
    cr_assert_eq(n, 3);
    cr_assert_str_eq(cards[0], "c1");
    cr_assert_str_eq(cards[2], "c3");
    free(cards);

    const char *none[] = {"one", NULL};
    cr_assert_eq(parse(&cmd, &a, none), -1);
    cr_assert_eq(cli_values_copy(&a, O_CARD, &cards, &n, &e), KT_OK);
    cr_assert_null(cards);
    cr_assert_eq(n, 0);
    cli_args_free(&a);
}
