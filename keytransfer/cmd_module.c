/*
 * cmd_module.c - `keytransfer module erase`: destroy the software module's copy of the module key
 * (module_<ESN>), as nShield's initunit clears a module. Keys stay loadable after a quorum of
 * administrator cards programs the module again with `keytransfer world program`.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

enum { OPT_YES = OPT_SHARED_END };

static const cli_opt erase_opts[] = {
    {OPT_YES, "yes", CLI_FLAG, NULL, "confirm the erase (required)"},
    CLI_OPT_KMDATA,
    {0},
};

static const cli_cmd erase_cmd = {
    .name = "module erase",
    .synopsis = "--yes [--kmdata DIR]",
    .about = "Destroy the module file that holds the module key for day-to-day use. Keys "
             "protected by\nthe module can be used again only after `keytransfer world program` "
             "with a quorum of the\nadministrator cards.",
    .opts = erase_opts,
};

static int module_erase(int argc, char **argv)
{
    const char *kmdata = NULL;
    bool yes = false;
    world_paths p;
    world_lock lock;
    world_info info;
    kt_err e;

    /* 1. options */
    cli_args c;
    int status = cli_parse(&erase_cmd, argc, argv, &c);
    if (status >= 0)
        return status;
    kmdata = cli_value(&c, OPT_KMDATA);
    yes = cli_flag(&c, OPT_YES);
    cli_args_free(&c);
    if (!yes)
        return cli_usage(erase_cmd.name,
                         "erasing the module needs --yes: afterwards a quorum of administrator "
                         "cards must program it again before any key can be used");

    /* 2. inputs, 3. operation */
    kt_err_clear(&e);
    if (cli_world_open(kmdata, NULL, true, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_load_info(&p, &info, &e);
    world_module m;
    kt_err why;
    if (rc == KT_OK && world_module_open(&p, &m, &why) == KT_OK) {
        /* The module signs the entry of its own erasure, in the same change. */
        rc = world_module_erase_logged(&p, &m, &e);
        world_module_close(&m);
    } else if (rc == KT_OK) {
        /* A module file that does not open cannot sign: erased all the same, unrecorded. */
        if (why.rc != KT_ENOENT)
            cli_warn("the module file does not open (%s): it is erased without an audit entry",
                     why.msg);
        rc = world_module_erase(&p, &e);
    }
    world_lock_release(&lock);
    if (rc != KT_OK)
        return cli_report(&e);

    /* 4. output */
    printf("Module %s erased. Load the world again with `keytransfer world program` and %u of the "
           "%u administrator cards.\n",
           info.esn, info.k, info.n);
    return KT_EXIT_OK;
}

static const cli_entry subcommands[] = {
    {"erase", module_erase, "destroy the module file (keys stay recoverable with the quorum)"},
};

int cmd_module(int argc, char **argv)
{
    return cli_dispatch("module", subcommands, sizeof subcommands / sizeof subcommands[0], argc,
                        argv);
}
