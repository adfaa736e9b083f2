/*
 * cmd_import.c - `keytransfer-cloud import`: open a .byok inside the emulated cloud HSM and store
 * the key it carries, printing its type and public key fingerprint.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_STATE = 256, OPT_NAME, OPT_JSON };

static const cli_opt opts[] = {
    {OPT_NAME, "name", CLI_VALUE, "NAME", "the key's name: letters, digits and '-', at most 127"},
    KEK_OPT_STATE,
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd cmd = {
    .name = "import",
    .synopsis = "FILE.byok --name NAME [--state DIR] [--json]",
    .about = "Inside the emulated cloud HSM: parse the .byok strictly, check that it is wrapped "
             "for this\ncloud's KEK (or one made by serve's Create Key), unwrap it (RSA-OAEP "
             "SHA-1, then\nAES-KWP), and store the key as NAME. Prints the key's type and the "
             "SHA-256 fingerprint of\nits public key (of its key hash for AES).",
    .opts = opts,
    .min_args = 1,
    .max_args = 1,
};

int cmd_import(int argc, char **argv)
{
    const char *state = NULL, *name = NULL, *file = NULL;
    char state_buf[4096];
    bool json = false;
    kek_cloud cloud;
    kek_imported imp;
    kt_buf byok = {0};
    kt_err e;

    /* 1. options (the file may come before or after them) */
    cli_args c;
    int status = cli_parse(&cmd, argc, argv, &c);
    if (status >= 0)
        return status;
    file = c.arg[0];
    state = cli_value(&c, OPT_STATE);
    name = cli_value(&c, OPT_NAME);
    json = cli_flag(&c, OPT_JSON);
    cli_args_free(&c);
    if (file == NULL || name == NULL)
        return cli_usage(cmd.name, "give the .byok file and --name NAME");
    if (state == NULL && (state = cloud_default_state(state_buf, sizeof state_buf)) == NULL)
        return cli_usage(cmd.name, "give --state DIR (no HOME to default to)");

    /* 2. inputs */
    kt_err_clear(&e);
    if (kt_file_read(file, PKG_BYOK_MAX, &byok, &e) != KT_OK)
        return cli_report(&e);
    if (kek_cloud_open(state, &cloud, &e) != KT_OK) {
        kt_buf_free(&byok);
        return cli_report(&e);
    }

    /* 3. operation */
    kt_rc rc = kek_import(&cloud, byok.p, byok.len, name, &imp, &e);
    kek_cloud_close(&cloud);
    kt_buf_free(&byok);
    if (rc != KT_OK) {
        kt_err_prefix(&e, "%s", file);
        return cli_report(&e);
    }

    /* 4. output */
    char fp[65], size[32];
    kt_hex(fp, imp.fingerprint, 32);
    if (imp.info.type == WORLD_KEY_EC)
        snprintf(size, sizeof size, "%s", imp.info.curve);
    else
        snprintf(size, sizeof size, "%u", imp.info.bits);
    if (json) {
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:s, s:s}", "name", name, "type", world_key_type_name(imp.info.type),
            "size", size, imp.info.type == WORLD_KEY_AES ? "key_hash_sha256" : "public_key_sha256",
            fp, "key_file", imp.info.path);
        return cli_print_json(j);
    }
    printf("Imported %s: %s-%s\n  %s %s\n", name, world_key_type_name(imp.info.type), size,
           imp.info.type == WORLD_KEY_AES ? "key hash (SHA-256)" : "public key SHA-256", fp);
    return KT_EXIT_OK;
}
