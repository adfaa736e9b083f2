/*
 * shared.c - what the offline commands share beyond the CLI layer: where card PINs come from,
 * and the world a command opens (its paths and its lock).
 */
#include "commands.h"
#include "transfer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

kt_rc cli_world_open(const char *kmdata, const char *cards, bool exclusive, bool create,
                     world_paths *p, world_lock *l, kt_err *e)
{
    l->fd = -1;
    kt_rc rc = world_paths_init(p, kmdata, cards, e);
    if (rc == KT_OK)
        rc = world_lock_acquire(p, exclusive, create, cli_txn_report, NULL, l, e);
    return rc;
}

void cli_kek_source(const cli_args *c, transfer_kek_source *k)
{
    k->kek_package = cli_value(c, 'k');
    k->world_package = cli_value(c, 'w');
    k->kek_pem = cli_value(c, OPT_KEK_PEM);
    k->kid = cli_value(c, OPT_KID);
    k->accept = cli_value(c, OPT_ACCEPT);
    k->demo = cli_flag(c, OPT_DEMO);
    k->aws_params = cli_value(c, OPT_AWS_PARAMS);
    k->import_job = cli_value(c, OPT_IMPORT_JOB);
}

_Static_assert(PKG_ROOT_NAME_MAX + 64 <= CLI_ATTESTED_MAX, "room for the longest root name");

void cli_kek_attested(const transfer_kek *k, char out[CLI_ATTESTED_MAX])
{
    if (!k->attested)
        snprintf(out, CLI_ATTESTED_MAX, "UNATTESTED, accepted by fingerprint");
    else if (k->root_is_demo)
        snprintf(out, CLI_ATTESTED_MAX, "attested by the DEMO root: a demonstration only");
    else
        snprintf(out, CLI_ATTESTED_MAX, "attested by vendor root \"%s\"", k->root_name);
}
