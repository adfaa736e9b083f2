/*
 * cmd_import.c - `keytransfer-cloud import`: open a .byok inside the emulated cloud HSM and store
 * the key it carries, printing its type and public key fingerprint.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_STATE = 1000, OPT_NAME, OPT_JSON, OPT_HELP };

static const struct option opts[] = {
    {"state", required_argument, NULL, OPT_STATE}, /* the cloud's state folder */
    {"name", required_argument, NULL, OPT_NAME},   /* the key's name in the cloud */
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char help[] =
    "Usage: keytransfer-cloud import FILE.byok --name NAME [--state DIR] [--json]\n"
    "\n"
    "Inside the emulated cloud HSM: parse the .byok strictly, check that it is wrapped for this\n"
    "cloud's KEK, unwrap it (RSA-OAEP SHA-1, then AES-KWP), and store the key as NAME. Prints the\n"
    "key's type and the SHA-256 fingerprint of its public key (of its key hash for AES).\n"
    "\n"
    "  --name NAME   the key's name: letters, digits and '-', at most 127\n"
    "  --state DIR   the cloud's state folder (default: $KEYTRANSFER_CLOUD_STATE, else\n"
    "                ~/.local/share/keytransfer/cloud)\n"
    "  --json        print the result as JSON\n"
    "  --help        show this help\n";

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
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "-:", opts, NULL)) != -1;) {
        switch (c) {
        case 1:
            if (file != NULL)
                return cloud_usage("import", "unexpected argument '%s'", optarg);
            file = optarg;
            break;
        case OPT_STATE:
            state = optarg;
            break;
        case OPT_NAME:
            name = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_HELP:
            return fputs(help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
        case ':':
            return cloud_usage("import", "option %s needs a value", argv[optind - 1]);
        default:
            return cloud_usage("import", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (file == NULL || name == NULL)
        return cloud_usage("import", "give the .byok file and --name NAME");
    if (state == NULL && (state = cloud_default_state(state_buf, sizeof state_buf)) == NULL)
        return cloud_usage("import", "give --state DIR (no HOME to default to)");

    /* 2. inputs */
    kt_err_clear(&e);
    if (kt_file_read(file, PKG_BYOK_MAX, &byok, &e) != KT_OK)
        return cloud_report(&e);
    if (kek_cloud_open(state, &cloud, &e) != KT_OK) {
        kt_buf_free(&byok);
        return cloud_report(&e);
    }

    /* 3. operation */
    kt_rc rc = kek_import(&cloud, byok.p, byok.len, name, &imp, &e);
    kek_cloud_close(&cloud);
    kt_buf_free(&byok);
    if (rc != KT_OK) {
        kt_err_prefix(&e, "%s", file);
        return cloud_report(&e);
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
        char *s = NULL;
        rc = j ? kt_json_dump(j, true, &s, &e) : kt_fail(&e, KT_ENOMEM, "out of memory");
        json_decref(j);
        if (rc != KT_OK)
            return cloud_report(&e);
        puts(s);
        free(s);
        return KT_EXIT_OK;
    }
    printf("Imported %s: %s-%s\n  %s %s\n", name, world_key_type_name(imp.info.type), size,
           imp.info.type == WORLD_KEY_AES ? "key hash (SHA-256)" : "public key SHA-256", fp);
    return KT_EXIT_OK;
}
