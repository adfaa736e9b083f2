/*
 * upload_many.h - `keytransfer-online upload` of a folder or several files (cmd_upload_many.c):
 * each package is one upload, the very code of cmd_upload, run in a child process of its own
 * by the scheduler (scheduler.h), --parallel at a time, under the name its manifest states; then a
 * summary of every package.
 */
#ifndef KT_ONLINE_UPLOAD_MANY_H
#define KT_ONLINE_UPLOAD_MANY_H

#include <stdbool.h>

#include "cli.h"

/* The default of --parallel. */
#define UPLOAD_PARALLEL_DEFAULT 4
/* The most packages one command uploads. */
#define UPLOAD_MANY_MAX 100000

/* True when path names a folder (after links: a folder to read from). */
bool upload_many_is_folder(const char *path);

/*
 * Uploads the packages c's operands name (folders: every *.byok in them, sorted) with the
 * options of argv (all but the operands, --parallel and --json go to each upload), at most
 * parallel_text (NULL: UPLOAD_PARALLEL_DEFAULT) at once. single_only says that an option for
 * one package (--name, --manifest) was given: a usage error. Returns the exit status: the
 * highest of the uploads', 0 when every package is in the vault.
 */
int upload_many_run(const cli_args *c, int argc, char **argv, const char *parallel_text, bool json,
                    bool single_only);

#endif
