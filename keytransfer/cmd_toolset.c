/*
 * cmd_toolset.c - `keytransfer toolset extract ZIP DIR`: unpack the vendor's toolset zip on the
 * offline workstation without trusting it: no absolute paths, no `..`, no links, no entry over
 * the size caps, no more than the entry cap, no duplicate names, nothing overwritten
 * (packages/ pkg_zip_extract validates everything before it writes anything).
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "pkg.h"

enum { OPT_HELP = 1000 };

static const struct option extract_opts[] = {
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char extract_help[] =
    "Usage: keytransfer toolset extract ZIP DIR\n"
    "\n"
    "Extract the BYOK toolset zip into DIR, which must not exist or be empty. Every entry is\n"
    "checked before anything is written: absolute paths, '..', links, other non-regular\n"
    "entries, duplicate names, encrypted entries and entries over 16 MiB (64 MiB in all,\n"
    "1000 entries) are refused, and existing files are never overwritten.\n"
    "\n"
    "  --help   show this help\n";

static int toolset_extract(int argc, char **argv)
{
    pkg_zip_contents names;
    kt_err e;

    /* 1. options */
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "+:", extract_opts, NULL)) != -1;) {
        if (c == OPT_HELP)
            return fputs(extract_help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
        return cli_usage("toolset extract", "unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 2)
        return cli_usage("toolset extract", "give the zip file and the folder to extract into");
    const char *zip = argv[optind], *dest = argv[optind + 1];

    /* 2. inputs and 3. operation: validated as a whole, then written */
    kt_err_clear(&e);
    pkg_zip_caps caps = pkg_zip_caps_default();
    bool earlier;
    if (pkg_zip_extract(zip, dest, &caps, cli_txn_report, NULL, &names, &earlier, &e) != KT_OK)
        return cli_report(&e);

    /* 4. output */
    if (earlier)
        fprintf(stderr,
                "keytransfer: note: %s holds this very toolset already (an earlier run "
                "of this command); nothing new was written\n",
                dest);
    printf("Extracted %zu file(s), %llu bytes, from %s into %s:\n", names.n,
           (unsigned long long)names.total, zip, dest);
    for (size_t i = 0; i < names.n; i++)
        printf("  %s\n", names.files[i].name);
    pkg_zip_contents_free(&names);
    return KT_EXIT_OK;
}

static const cli_subcommand subcommands[] = {
    {"extract", toolset_extract, "safely unpack the vendor's toolset zip"},
};

int cmd_toolset(int argc, char **argv)
{
    return cli_dispatch("toolset", subcommands, sizeof subcommands / sizeof subcommands[0], argc,
                        argv);
}
