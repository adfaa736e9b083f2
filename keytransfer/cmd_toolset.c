/*
 * cmd_toolset.c - `keytransfer toolset extract ZIP DIR`: unpack the vendor's toolset zip on the
 * offline workstation without trusting it: no absolute paths, no `..`, no links, no entry over
 * the size caps, no more than the entry cap, no duplicate names, nothing overwritten
 * (packages/ pkg_zip_extract validates everything before it writes anything).
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "pkg.h"

static const cli_opt extract_opts[] = {
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd extract_cmd = {
    .name = "toolset extract",
    .synopsis = "ZIP DIR [--json]",
    .about = "Extract the BYOK toolset zip into DIR, which must not exist or be empty. Every "
             "entry is\nchecked before anything is written: absolute paths, '..', links, other "
             "non-regular\nentries, duplicate names, encrypted entries and entries over 16 MiB "
             "(64 MiB in all,\n1000 entries) are refused, and existing files are never "
             "overwritten.",
    .opts = extract_opts,
    .min_args = 2,
    .max_args = 2,
};

static int toolset_extract(int argc, char **argv)
{
    pkg_zip_contents names;
    kt_err e;

    /* 1. options */
    cli_args c;
    int status = cli_parse(&extract_cmd, argc, argv, &c);
    if (status >= 0)
        return status;
    const char *zip = c.arg[0], *dest = c.arg[1];
    bool json = cli_flag(&c, OPT_JSON);
    cli_args_free(&c);

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
    if (json) {
        json_t *files = json_array();
        for (size_t i = 0; files != NULL && i < names.n; i++) {
            const struct pkg_zip_file *f = &names.files[i];
            json_array_append_new(files, json_pack("{s:s, s:b, s:I}", "name", f->name, "dir",
                                                   f->is_dir, "size", (json_int_t)f->data.len));
        }
        json_t *v = json_pack("{s:s, s:s, s:s, s:I, s:b, s:o}", "format",
                              "keytransfer-toolset-extract/1", "zip", zip, "folder", dest, "bytes",
                              (json_int_t)names.total, "already_there", earlier, "files", files);
        pkg_zip_contents_free(&names);
        return cli_print_json(v);
    }
    printf("Extracted %zu file(s), %llu bytes, from %s into %s:\n", names.n,
           (unsigned long long)names.total, zip, dest);
    for (size_t i = 0; i < names.n; i++)
        printf("  %s\n", names.files[i].name);
    pkg_zip_contents_free(&names);
    return KT_EXIT_OK;
}

static const cli_entry subcommands[] = {
    {"extract", toolset_extract, "safely unpack the vendor's toolset zip"},
};

int cmd_toolset(int argc, char **argv)
{
    return cli_dispatch("toolset", subcommands, sizeof subcommands / sizeof subcommands[0], argc,
                        argv);
}
