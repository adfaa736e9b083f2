/*
 * cmd_module.c - `keytransfer module erase`: destroy the software module's copy of the module key
 * (module_<ESN>), as nShield's initunit clears a module. Keys stay loadable after a quorum of
 * administrator cards programs the module again with `keytransfer world program`.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum { OPT_KMDATA = 1000, OPT_YES, OPT_HELP };

static const struct option erase_opts[] = {
    {"kmdata", required_argument, NULL, OPT_KMDATA}, /* the kmdata folder */
    {"yes", no_argument, NULL, OPT_YES},             /* confirm: erase without asking */
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char erase_help[] =
    "Usage: keytransfer module erase --yes [--kmdata DIR]\n"
    "\n"
    "Destroy the module file that holds the module key for day-to-day use. Keys protected by\n"
    "the module can be used again only after `keytransfer world program` with a quorum of the\n"
    "administrator cards.\n"
    "\n"
    "  --yes          confirm the erase (required)\n"
    "  --kmdata DIR   kmdata folder\n"
    "  --help         show this help\n";

static int module_erase(int argc, char **argv)
{
    const char *kmdata = NULL;
    bool yes = false;
    world_paths p;
    world_lock lock;
    world_info info;
    kt_err e;

    /* 1. options */
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "+:", erase_opts, NULL)) != -1;) {
        switch (c) {
        case OPT_KMDATA:
            kmdata = optarg;
            break;
        case OPT_YES:
            yes = true;
            break;
        case OPT_HELP:
            return fputs(erase_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
        case ':':
            return cli_usage("module erase", "option %s needs a value", argv[optind - 1]);
        default:
            return cli_usage("module erase", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage("module erase", "unexpected argument '%s'", argv[optind]);
    if (!yes)
        return cli_usage("module erase",
                         "erasing the module needs --yes: afterwards a quorum of administrator "
                         "cards must program it again before any key can be used");

    /* 2. inputs, 3. operation */
    kt_err_clear(&e);
    if (cli_world_open(kmdata, NULL, true, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_load_info(&p, &info, &e);
    if (rc == KT_OK)
        rc = world_module_erase(&p, &e);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);

    /* 4. output */
    printf("Module %s erased. Load the world again with `keytransfer world program` and %u of the "
           "%u administrator cards.\n",
           info.esn, info.k, info.n);
    return KT_EXIT_OK;
}

static const cli_subcommand subcommands[] = {
    {"erase", module_erase, "destroy the module file (keys stay recoverable with the quorum)"},
};

int cmd_module(int argc, char **argv)
{
    return cli_dispatch("module", subcommands, sizeof subcommands / sizeof subcommands[0], argc,
                        argv);
}
