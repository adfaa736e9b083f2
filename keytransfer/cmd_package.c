/*
 * cmd_package.c - `keytransfer package`: wrap key_xferacld_<ident> for the one KEK its signed
 * ACL names and write the transfer package (the Azure .byok, or the raw AWS or Google Cloud
 * blob) with its manifest signed by the module (nShield's KeyTransferRemote -Package). The logic
 * is transfer_package (transfer.c); this file parses, calls and prints.
 */
#include "batch.h"
#include "cmd_batch.h"
#include "cmd_token.h"
#include "commands.h"
#include "cloud.h"
#include "transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "package"

enum {
    OPT_IDENT = OPT_SHARED_END,
    OPT_TARGET,
    OPT_OAEP_HASH,
    OPT_SUBSCRIPTION,
    OPT_NAME,
    OPT_OUT,
    OPT_ALL_REDUCED,
    OPT_NAME_PREFIX,
    OPT_GROUP,
    OPT_STOP_ON_ERROR,
    OPT_WRAPPING,
};

static const cli_opt opts[] = {
    {OPT_IDENT, "ident", CLI_LIST, "ID",
     "the key identifier; give it again for a batch of keys,\neach named once"},
    {OPT_ALL_REDUCED, "all-reduced", CLI_FLAG, NULL,
     "a batch of every key reduced for this KEK (instead of\n--ident)"},
    CLI_OPTS_KEK,
    {OPT_TARGET, "target", CLI_VALUE, "TARGET", "azure (default), aws or gcp"},
    {OPT_OAEP_HASH, "oaep-hash", CLI_VALUE, "HASH",
     "sha1 or sha256 for aws and gcp (default sha256); azure is\nalways sha1"},
    {OPT_WRAPPING, "wrapping-algorithm", CLI_VALUE, "ALG",
     "aws: RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 (AES, EC),\nRSA_AES_KEY_WRAP_SHA_1 or "
     "RSA_AES_KEY_WRAP_SHA_256 (RSA, EC);\ndefault: RSAES_OAEP_SHA_256 for AES, "
     "RSA_AES_KEY_WRAP_SHA_256\notherwise"},
    {OPT_SUBSCRIPTION, "subscription", CLI_VALUE, "ID",
     "the subscription the key goes to, recorded in the\nmanifest (required for azure)"},
    {OPT_NAME, "name", CLI_VALUE, "NAME",
     "the key's name in the cloud: 1-127 letters, digits, '-'\n(required); it names the files"},
    {OPT_OUT, "out", CLI_VALUE, "DIR",
     "an existing folder to write into (default: the current\nfolder)"},
    {OPT_NAME_PREFIX, "name-prefix", CLI_VALUE, "TEXT",
     "a batch: each package's name is TEXT followed by its\nkey's identifier (default: the "
     "identifier)"},
    {OPT_GROUP, "group", CLI_VALUE, "N",
     "a batch: keys committed together (1-2048, default 256);\na crash loses at most one "
     "group's work, never half a pair"},
    {OPT_STOP_ON_ERROR, "stop-on-error", CLI_FLAG, NULL,
     "a batch: stop at the first key refused (the keys before\nit stand)"},
    CLI_OPT_KMDATA,
    CLI_OPT_JSON,
    CLI_OPT_TOKEN("the key is in this PKCS#11 token (RFC 7512 URI): it is\nwrapped inside the "
                  "token; needs --card (the SO makes the\ntrusted session key)"),
    CLI_OPT_CARD("with --token: an administrator card; give at least K"),
    CLI_OPT_PIN_FILE("with --token: the user PIN, then the cards' PINs, one a\nline"),
    CLI_OPT_PIN_FD,
    {0},
};

static const cli_cmd cmd = {
    .name = CMD,
    .synopsis = "--ident ID -k KEKPKG -w WORLDPKG --subscription ID --name NAME [--out DIR]\n"
                "--ident ID --kek-pem FILE --accept-unattested-kek FP [--kid URL]\n"
                "    [--target azure|aws|gcp] --name NAME [OPTIONS]\n"
                "--ident ID --aws-params FILE --accept-unattested-kek FP --name NAME [OPTIONS]\n"
                "--ident ID --import-job FILE --accept-unattested-kek FP --name NAME [OPTIONS]\n"
                "--ident ID --ident ID ... | --all-reduced  -k KEKPKG -w WORLDPKG [--name-prefix "
                "TEXT]\n    [--stop-on-error] [OPTIONS]",
    .about =
        "Wrap the reduced record of key ID for the KEK given (key_xferacldF16_ID for that KEK, "
        "else\nkey_xferacld_ID, made by `keytransfer modify-acls`), whose signed ACL must name "
        "that KEK\n(fingerprint, kid and world), and write the transfer package and its manifest, "
        "signed by\nthe module, which records the root that vouched for the KEK:\n"
        "  azure  TransferPackage-NAME.byok      Azure Key Vault BYOK (RSA-OAEP SHA-1 + AES-KWP)\n"
        "         TransferPackage-NAME.manifest.json\n"
        "  aws    TransferPackage-NAME.aws.bin   AWS KMS EncryptedKeyMaterial: "
        "RSA_AES_KEY_WRAP_SHA_256\n"
        "                                        (RSA, EC) or RSAES_OAEP_SHA_256 (AES-256)\n"
        "         TransferPackage-NAME.aws.token.bin  the ImportToken (with --aws-params)\n"
        "         TransferPackage-NAME.aws.manifest.json\n"
        "  gcp    TransferPackage-NAME.gcp.bin   Google Cloud KMS wrappedKey: the import job's "
        "method,\n"
        "                                        or RSA_OAEP_3072|4096_SHA256_AES_256 for "
        "--kek-pem\n"
        "         TransferPackage-NAME.gcp.manifest.json\n"
        "With --aws-params or --import-job (the JSON the aws and gcloud CLIs print) the cloud's "
        "own\nimport command is printed. The KEK and world packages are verified again first. "
        "The files\nappear together, or none; no file is ever replaced, and an earlier run's very "
        "package is\nrecognised.\n"
        "A batch (--ident given more than once, or --all-reduced) verifies the packages and opens "
        "the\nmodule once, names each package after its key, commits the pairs a group at a time, "
        "and\nsums up every key; a refused key is named and the others go on.",
    .opts = opts,
    .footer =
        "Exit status: 0 written, 1 refused (verification, DEMO root without --demo, ACL "
        "not\nreduced or for another KEK or kid, unaccepted KEK, KEK size, expired AWS parameters, "
        "an\nimport job not ACTIVE, a key type the cloud does not import), 2 usage, 3 malformed "
        "input,\n4 missing or existing file, 5 crypto failure. A batch exits with the status of "
        "its first\nrefused key (1: refused) when the others were packaged.",
};

typedef struct args {
    const char *ident, *target, *oaep_hash, *subscription, *name, *out, *kmdata, *wrapping;
    const char *token, *pin_file, *pin_fd; /* --token, its PINs and cards */
    const char *cards[WORLD_MAX_CARDS];
    size_t ncards;
    transfer_kek_source kek;
    bool json;
    /* a batch: more than one --ident, or --all-reduced */
    bool batch, all_reduced, stop_on_error;
    const char **idents; /* heap array borrowing from argv */
    size_t nidents;
    const char *name_prefix, *group;
} args;

/* 1. Options. Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    cli_args c;
    int status = cli_parse(&cmd, argc, argv, &c);

    memset(a, 0, sizeof *a);
    if (status >= 0)
        return status;
    a->all_reduced = cli_flag(&c, OPT_ALL_REDUCED);
    if ((status = cli_batch_idents(&c, OPT_IDENT, a->all_reduced, &a->ident, &a->idents,
                                   &a->nidents, &a->batch)) >= 0)
        return status;
    a->name_prefix = cli_value(&c, OPT_NAME_PREFIX);
    a->group = cli_value(&c, OPT_GROUP);
    a->stop_on_error = cli_flag(&c, OPT_STOP_ON_ERROR);
    a->target = cli_value(&c, OPT_TARGET);
    a->oaep_hash = cli_value(&c, OPT_OAEP_HASH);
    a->subscription = cli_value(&c, OPT_SUBSCRIPTION);
    a->name = cli_value(&c, OPT_NAME);
    a->out = cli_value(&c, OPT_OUT);
    a->kmdata = cli_value(&c, OPT_KMDATA);
    a->wrapping = cli_value(&c, OPT_WRAPPING);
    a->json = cli_flag(&c, OPT_JSON);
    a->token = cli_value(&c, OPT_TOKEN);
    a->pin_file = cli_value(&c, OPT_PIN_FILE);
    a->pin_fd = cli_value(&c, OPT_PIN_FD);
    cli_kek_source(&c, &a->kek);
    const char *const *cards;
    a->ncards = cli_values(&c, OPT_CARD, &cards);
    for (size_t i = 0; i < a->ncards && i < WORLD_MAX_CARDS; i++)
        a->cards[i] = cards[i];
    cli_args_free(&c);
    if (a->ncards > WORLD_MAX_CARDS)
        return cli_usage(CMD, "at most %d --card options", WORLD_MAX_CARDS);
    if (a->token == NULL && (a->ncards > 0 || a->pin_file != NULL || a->pin_fd != NULL))
        return cli_usage(CMD, "--card, --pin-file and --pin-fd are for a key in a token "
                              "(--token); a world key's package needs no card");
    if (a->batch && a->token != NULL)
        return cli_usage(CMD, "--token packages one key at a time: give one --ident");
    if (a->batch) {
        if (a->all_reduced && a->nidents > 0)
            return cli_usage(CMD, "give --ident or --all-reduced, not both");
        if (a->name != NULL)
            return cli_usage(CMD, "a batch names each package after its key: give "
                                  "--name-prefix, not --name");
        return -1;
    }
    if (a->name_prefix != NULL || a->group != NULL || a->stop_on_error)
        return cli_usage(CMD, "--name-prefix, --group and --stop-on-error are for a batch "
                              "(several --ident, or --all-reduced)");
    if (a->ident == NULL)
        return cli_usage(CMD, "--ident ID is required");
    if (a->name == NULL)
        return cli_usage(CMD, "--name NAME is required (the key's name in the cloud)");
    return -1;
}

/* 1. Options, checked: target, hash, name, subscription. */
static int check_args(const args *a, transfer_package_opts *o)
{
    kt_err e;

    kt_err_clear(&e);
    memset(o, 0, sizeof *o);
    o->target = TRANSFER_AZURE;
    /* The clouds' own parameters say where the package goes. */
    if (a->kek.aws_params != NULL)
        o->target = TRANSFER_AWS;
    else if (a->kek.import_job != NULL)
        o->target = TRANSFER_GCP;
    if (a->target != NULL && transfer_target_parse(a->target, &o->target, &e) != KT_OK)
        return cli_usage(CMD, "%s", e.msg);
    if ((a->kek.aws_params != NULL || a->kek.import_job != NULL) && a->oaep_hash != NULL)
        return cli_usage(CMD, "--oaep-hash goes with --kek-pem; with %s the %s says the hash",
                         a->kek.aws_params != NULL ? "--aws-params" : "--import-job",
                         a->kek.aws_params != NULL ? "--wrapping-algorithm" : "import method");
    if (a->wrapping != NULL && pkg_aws_wrapping_parse(a->wrapping, &o->aws_wrapping, &e) != KT_OK)
        return cli_usage(CMD, "%s", e.msg);
    o->hash = transfer_default_hash(o->target);
    if (a->oaep_hash != NULL) {
        if (strcmp(a->oaep_hash, "sha1") == 0)
            o->hash = PKG_OAEP_SHA1;
        else if (strcmp(a->oaep_hash, "sha256") == 0)
            o->hash = PKG_OAEP_SHA256;
        else
            return cli_usage(CMD, "--oaep-hash is sha1 or sha256, not '%s'", a->oaep_hash);
    }
    if (transfer_check_hash(o->target, o->hash, &e) != KT_OK)
        return cli_usage(CMD, "%s", e.msg);
    for (size_t i = 0; i < a->nidents; i++)
        if (world_key_check_ident(a->batch ? a->idents[i] : a->ident, &e) != KT_OK)
            return cli_usage(CMD, "%s", e.msg);
    if (a->batch && transfer_idents_unique(a->idents, a->nidents, &e) != KT_OK)
        return cli_usage(CMD, "%s", e.msg);
    if (!a->batch && transfer_check_name(a->name, &e) != KT_OK)
        return cli_usage(CMD, "%s", e.msg);
    if (o->target == TRANSFER_AZURE && a->subscription == NULL)
        return cli_usage(CMD, "--subscription ID is required for an Azure package");
    o->ident = a->ident;
    o->name = a->name;
    o->subscription = a->subscription;
    o->out_dir = a->out;
    o->now = (uint64_t)time(NULL);
    return -1;
}

/* 4. Output. */
static int print_result(const args *a, const transfer_kek *k, const transfer_package_opts *o,
                        const transfer_package_result *r)
{
    const world_key_info *key = &r->key;
    char scheme[96], import_cmd[TRANSFER_IMPORT_COMMAND_MAX];
    if (o->target == TRANSFER_AZURE)
        snprintf(scheme, sizeof scheme, "%s", transfer_scheme_name(o->target, r->hash, k->bits));
    else
        snprintf(scheme, sizeof scheme, "%s %s",
                 o->target == TRANSFER_AWS ? "AWS KMS" : "Google Cloud KMS", r->wrapping);
    transfer_import_command(k, r, o->name, import_cmd, sizeof import_cmd);
    char fp[65], world[65], hash[65], pkg[65], type[48], root[65], attested[CLI_ATTESTED_MAX];

    kt_hex(root, k->root_sha256, 32);
    cli_kek_attested(k, attested);
    kt_hex(fp, k->fp, 32);
    kt_hex(world, k->world_hash, 32);
    kt_hex(hash, key->key_hash, 32);
    kt_hex(pkg, r->package_sha256, 32);
    if (key->type == WORLD_KEY_EC)
        snprintf(type, sizeof type, "EC %s", key->curve);
    else
        snprintf(type, sizeof type, "%s-%u", world_key_type_name(key->type), key->bits);

    if (a->json) {
        json_t *v = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:i, s:o, s:s}, "
            "s:{s:s, s:s, s:b, s:o, s:i}, s:o, s:i, s:i}",
            "format", "keytransfer-package/1", "result", "SUCCESS", "target",
            transfer_target_name(o->target), "scheme", scheme, "oaep_hash",
            pkg_oaep_hash_name(r->hash), "package_file", r->package_path, "manifest_file",
            r->manifest_path, "package_sha256", pkg, "key", "app", key->app, "ident", key->ident,
            "type", world_key_type_name(key->type), "size", (int)key->bits, "curve",
            key->type == WORLD_KEY_EC ? json_string(key->curve) : json_null(), "sha256", hash,
            "kek", "kid", k->kid, "sha256", fp, "attested", k->attested, "attestation",
            k->attested ? json_pack("{s:s, s:s}", "root", k->root_name, "root_sha256", root)
                        : json_null(),
            "bits", (int)k->bits, "target_world_hash",
            k->attested ? json_string(world) : json_null(), "rsa_part_bytes", (int)r->rsa_len,
            "ciphertext_bytes", (int)r->blob_len);
        if (v != NULL) {
            json_object_set_new(v, "wrapping_algorithm", json_string(r->wrapping));
            json_object_set_new(v, "import_token_file",
                                r->token_path[0] ? json_string(r->token_path) : json_null());
            json_object_set_new(v, "import_command",
                                import_cmd[0] ? json_string(import_cmd) : json_null());
        }
        return cli_print_json(v);
    }
    if (r->direct) {
        printf("Transfer package written for %s\n"
               "  package       %s\n"
               "  manifest      %s (signed by the module)\n"
               "  key           %s/%s, %s, SHA-256 %s\n"
               "  KEK SHA-256   %s (%s, %u bits)\n"
               "  ciphertext    %zu bytes: RSA-OAEP %s/MGF1 %s of the key material itself\n"
               "  package hash  SHA-256 %s\n",
               scheme, r->package_path, r->manifest_path, key->app, key->ident, type, hash, fp,
               attested, k->bits, r->blob_len, pkg_oaep_hash_name(r->hash),
               pkg_oaep_hash_name(r->hash), pkg);
    } else {
        printf(
            "Transfer package written for %s\n"
            "  package       %s\n"
            "  manifest      %s (signed by the module)\n"
            "  key           %s/%s, %s, SHA-256 %s\n"
            "  KEK           %s\n"
            "  KEK SHA-256   %s (%s, %u bits)\n"
            "  target world  %s\n"
            "  ciphertext    %zu bytes: RSA-OAEP %s/MGF1 %s (%zu bytes) + AES-256 key wrap with\n"
            "                padding, RFC 5649 (%zu bytes)\n"
            "  package hash  SHA-256 %s\n",
            scheme, r->package_path, r->manifest_path, key->app, key->ident, type, hash,
            k->kid[0] ? k->kid : "(no kid given)", fp, attested, k->bits,
            k->attested ? world : "none (an unattested KEK has no world to bind)", r->blob_len,
            pkg_oaep_hash_name(r->hash), pkg_oaep_hash_name(r->hash), r->rsa_len,
            r->blob_len - r->rsa_len, pkg);
    }
    if (r->token_path[0] != '\0')
        printf("  import token  %s (from the parameters, for ImportKeyMaterial)\n", r->token_path);
    if (!k->attested && o->target != TRANSFER_AZURE)
        printf("  trust         the wrapping key is not attested by any HSM vendor: %s does "
               "not\n                vouch for it; you accepted it by its fingerprint\n",
               o->target == TRANSFER_AWS ? "AWS KMS" : "Cloud KMS");
    if (import_cmd[0] != '\0')
        printf("\nImport it with:\n  %s\n", import_cmd);
    printf("\nResult: SUCCESS\n");
    return fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_IO;
}

/* 3. With --token: the PINs, then the token's side (cmd_token.c). */
static kt_rc package_token(const args *a, const world_paths *p, const world_module *m,
                           const transfer_kek *k, const transfer_package_opts *o,
                           transfer_package_result *r, kt_err *e)
{
    cli_pins pins;
    kt_rc rc = cli_pins_open(&pins, a->pin_file, a->pin_fd, e);
    if (rc != KT_OK)
        return rc;
    rc = cli_token_package(p, m, k, o, a->token, &pins, a->cards, a->ncards, r, e);
    cli_pins_close(&pins);
    return rc;
}

int cmd_package(int argc, char **argv)
{
    args a;
    transfer_package_opts o;
    transfer_package_result r;
    cli_transfer t;
    kt_err e;
    int status = parse_args(argc, argv, &a);

    /* 1. options */
    if (status >= 0) {
        free(a.idents);
        return status;
    }
    if ((status = check_args(&a, &o)) >= 0) {
        free(a.idents);
        return status;
    }
    if (a.batch) {
        const cli_package_batch b = {.idents = a.idents,
                                     .n = a.nidents,
                                     .all_reduced = a.all_reduced,
                                     .name_prefix = a.name_prefix,
                                     .group = a.group,
                                     .kmdata = a.kmdata,
                                     .stop_on_error = a.stop_on_error,
                                     .json = a.json,
                                     .kek = &a.kek,
                                     .o = &o};
        status = cmd_package_batch(&b);
        free(a.idents);
        return status;
    }

    /* 2. inputs: the KEK (verified again, or accepted by fingerprint) and the module */
    if ((status = cli_transfer_open(&a.kek, o.now, a.kmdata, false, CMD, &t)) >= 0)
        return status;

    /* 3. operation */
    o.report = cli_txn_report;
    kt_rc rc = a.token != NULL ? package_token(&a, &t.p, &t.m, &t.kek, &o, &r, &e)
                               : transfer_package(&t.p, &t.m, &t.kek, &o, &r, &e);
    cli_transfer_close_world(&t);

    /* 4. output: a package past its commit point stands, and is shown, even if a failure after
     * it is reported (exit 4) */
    if (rc == KT_OK || r.committed) {
        if (r.earlier)
            fprintf(stderr,
                    "keytransfer: note: %s and its manifest were written by an earlier "
                    "run of this command; nothing new was written\n",
                    r.package_path);
        status = print_result(&a, &t.kek, &o, &r);
        if (rc != KT_OK)
            status = cli_report(&e);
    } else {
        status = e.rc == KT_EUSAGE ? cli_usage(CMD, "%s", e.msg) : cli_report(&e);
    }
    transfer_kek_free(&t.kek);
    return status;
}
