/*
 * cmd_package.c - `keytransfer package`: wrap key_xferacld_<ident> for the one KEK its signed
 * ACL names and write the transfer package (the Azure .byok, or the raw AWS or Google Cloud
 * blob) with its manifest signed by the module (nShield's KeyTransferRemote -Package). The logic
 * is transfer_package (transfer.c); this file parses, calls and prints.
 */
#include "cli.h"
#include "transfer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "package"

enum {
    OPT_IDENT = 1000,
    OPT_KEK_PEM,
    OPT_KID,
    OPT_ACCEPT,
    OPT_TARGET,
    OPT_OAEP_HASH,
    OPT_SUBSCRIPTION,
    OPT_NAME,
    OPT_OUT,
    OPT_KMDATA,
    OPT_DEMO,
    OPT_JSON,
    OPT_HELP
};

static const struct option opts[] = {
    {"ident", required_argument, NULL, OPT_IDENT},                  /* the reduced key */
    {"kek-package", required_argument, NULL, 'k'},                  /* attested KEK */
    {"world-package", required_argument, NULL, 'w'},                /* and its world */
    {"kek-pem", required_argument, NULL, OPT_KEK_PEM},              /* unattested KEK */
    {"kid", required_argument, NULL, OPT_KID},                      /* its key URL */
    {"accept-unattested-kek", required_argument, NULL, OPT_ACCEPT}, /* its fingerprint */
    {"target", required_argument, NULL, OPT_TARGET},                /* azure | aws | gcp */
    {"oaep-hash", required_argument, NULL, OPT_OAEP_HASH},          /* sha1 | sha256 */
    {"subscription", required_argument, NULL, OPT_SUBSCRIPTION},    /* recorded in the manifest */
    {"name", required_argument, NULL, OPT_NAME},                    /* Key Vault key name */
    {"out", required_argument, NULL, OPT_OUT},                      /* output folder */
    {"kmdata", required_argument, NULL, OPT_KMDATA},
    {"demo", no_argument, NULL, OPT_DEMO}, /* take a KEK the DEMO root vouches for */
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char help[] =
    "Usage: keytransfer package --ident ID -k KEKPKG -w WORLDPKG --subscription ID --name NAME\n"
    "                           [--out DIR]\n"
    "       keytransfer package --ident ID --kek-pem FILE --accept-unattested-kek FP\n"
    "                           [--kid URL] [--target azure|aws|gcp] --name NAME [OPTIONS]\n"
    "\n"
    "Wrap the reduced key key_xferacld_ID (made by `keytransfer modify-acls`) for the one KEK its\n"
    "signed ACL names (fingerprint, kid and world), and write the transfer package and its\n"
    "manifest, signed by the module, which records the root that vouched for the KEK:\n"
    "  azure  TransferPackage-NAME.byok      Azure Key Vault BYOK (RSA-OAEP SHA-1 + AES-KWP)\n"
    "         TransferPackage-NAME.manifest.json\n"
    "  aws    TransferPackage-NAME.aws.bin   AWS KMS RSA_AES_KEY_WRAP_SHA_256 (or _SHA_1)\n"
    "         TransferPackage-NAME.aws.manifest.json\n"
    "  gcp    TransferPackage-NAME.gcp.bin   Google Cloud KMS RSA_OAEP_3072|4096_SHA256_AES_256\n"
    "         TransferPackage-NAME.gcp.manifest.json    (3072- and 4096-bit KEKs only)\n"
    "The KEK and world packages are verified again first. No file is ever replaced.\n"
    "\n"
    "  --ident ID                    the key identifier (required)\n"
    "  -k, --kek-package FILE        the cloud's KEK package (attested KEK)\n"
    "  -w, --world-package FILE      the cloud's security world package (with -k)\n"
    "  --kek-pem FILE                an unattested KEK: its RSA public key (PEM or DER\n"
    "                                SubjectPublicKeyInfo), instead of -k and -w\n"
    "  --kid URL                     the unattested KEK's Key Vault key URL with its version;\n"
    "                                required for azure (the .byok names it), optional for aws\n"
    "                                and gcp (the manifest names the KEK by its fingerprint)\n"
    "  --accept-unattested-kek FP    go on with the unattested KEK whose SHA-256 fingerprint\n"
    "                                is FP (64 hex digits), after comparing it out of band\n"
    "  --target TARGET               azure (default), aws or gcp\n"
    "  --oaep-hash HASH              sha1 or sha256 for aws and gcp (default sha256); azure is\n"
    "                                always sha1\n"
    "  --subscription ID             the subscription the key goes to, recorded in the\n"
    "                                manifest (required for azure)\n"
    "  --name NAME                   the key's name in the cloud: 1-127 letters, digits, '-'\n"
    "                                (required); it names the files\n"
    "  --out DIR                     an existing folder to write into (default: the current\n"
    "                                folder)\n"
    "  --kmdata DIR                  kmdata folder\n"
    "  --demo                        take KEK packages attested by the DEMO vendor root, whose\n"
    "                                private key is public (demos and tests only; refused by\n"
    "                                a build with a real root)\n"
    "  --json                        print the result as JSON\n"
    "  --help                        show this help\n"
    "\n"
    "Exit status: 0 written, 1 refused (verification, DEMO root without --demo, ACL not\n"
    "reduced or for another KEK or kid, unaccepted KEK, KEK size), 2 usage, 3 malformed input,\n"
    "4 missing or existing file, 5 crypto failure.\n";

typedef struct args {
    const char *ident, *target, *oaep_hash, *subscription, *name, *out, *kmdata;
    transfer_kek_source kek;
    bool json, help;
} args;

/* 1. Options. Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "+:k:w:", opts, NULL)) != -1;) {
        switch (c) {
        case OPT_IDENT:
            a->ident = optarg;
            break;
        case 'k':
            a->kek.kek_package = optarg;
            break;
        case 'w':
            a->kek.world_package = optarg;
            break;
        case OPT_KEK_PEM:
            a->kek.kek_pem = optarg;
            break;
        case OPT_KID:
            a->kek.kid = optarg;
            break;
        case OPT_ACCEPT:
            a->kek.accept = optarg;
            break;
        case OPT_TARGET:
            a->target = optarg;
            break;
        case OPT_OAEP_HASH:
            a->oaep_hash = optarg;
            break;
        case OPT_SUBSCRIPTION:
            a->subscription = optarg;
            break;
        case OPT_NAME:
            a->name = optarg;
            break;
        case OPT_OUT:
            a->out = optarg;
            break;
        case OPT_KMDATA:
            a->kmdata = optarg;
            break;
        case OPT_DEMO:
            a->kek.demo = true;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_HELP:
            a->help = true;
            break;
        case ':':
            return cli_usage(CMD, "option %s needs a value", argv[optind - 1]);
        default:
            return cli_usage(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (a->help)
        return -1;
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
    if (a->target != NULL && transfer_target_parse(a->target, &o->target, &e) != KT_OK)
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
    if (transfer_check_hash(o->target, o->hash, &e) != KT_OK ||
        world_key_check_ident(a->ident, &e) != KT_OK || transfer_check_name(a->name, &e) != KT_OK)
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
    const char *scheme = transfer_scheme_name(o->target, r->hash, k->bits);
    char fp[65], world[65], hash[65], pkg[65], type[48], root[65], attested[PKG_ROOT_NAME_MAX + 64];

    kt_hex(root, k->root_sha256, 32);
    if (!k->attested)
        snprintf(attested, sizeof attested, "UNATTESTED, accepted by fingerprint");
    else if (k->root_is_demo)
        snprintf(attested, sizeof attested, "attested by the DEMO root: a demonstration only");
    else
        snprintf(attested, sizeof attested, "attested by vendor root \"%s\"", k->root_name);
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
        return cli_print_json(v);
    }
    printf("Transfer package written for %s\n"
           "  package       %s\n"
           "  manifest      %s (signed by the module)\n"
           "  key           %s/%s, %s, SHA-256 %s\n"
           "  KEK           %s\n"
           "  KEK SHA-256   %s (%s, %u bits)\n"
           "  target world  %s\n"
           "  ciphertext    %zu bytes: RSA-OAEP %s/MGF1 %s (%zu bytes) + AES-256 key wrap with\n"
           "                padding, RFC 5649 (%zu bytes)\n"
           "  package hash  SHA-256 %s\n"
           "\nResult: SUCCESS\n",
           scheme, r->package_path, r->manifest_path, key->app, key->ident, type, hash,
           k->kid[0] ? k->kid : "(no kid given)", fp, attested, k->bits,
           k->attested ? world : "none (an unattested KEK has no world to bind)", r->blob_len,
           pkg_oaep_hash_name(r->hash), pkg_oaep_hash_name(r->hash), r->rsa_len,
           r->blob_len - r->rsa_len, pkg);
    return fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_IO;
}

int cmd_package(int argc, char **argv)
{
    args a;
    transfer_package_opts o;
    transfer_package_result r;
    transfer_kek kek;
    world_paths p;
    world_lock lock;
    world_module m;
    kt_err e;
    int status = parse_args(argc, argv, &a);

    /* 1. options */
    if (status >= 0)
        return status;
    if (a.help)
        return fputs(help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
    if ((status = check_args(&a, &o)) >= 0)
        return status;

    /* 2. inputs: the KEK (verified again, or accepted by fingerprint) and the module */
    kt_err_clear(&e);
    if (transfer_kek_open(&a.kek, o.now, &kek, &e) != KT_OK) {
        if (e.rc == KT_EUSAGE)
            return cli_usage(CMD, "%s", e.msg);
        return cli_report(&e);
    }
    if (!kek.attested)
        cli_warn("the KEK is not attested by any HSM vendor; you accepted it by its fingerprint");
    else if (kek.root_is_demo)
        cli_warn("--demo: the KEK is vouched for by the DEMO root, whose private key is public; "
                 "this package is a demonstration, not a transfer");
    if (cli_world_open(a.kmdata, NULL, false, false, &p, &lock, &e) != KT_OK) {
        transfer_kek_free(&kek);
        return cli_report(&e);
    }
    if (world_module_open(&p, &m, &e) != KT_OK) {
        world_lock_release(&lock);
        transfer_kek_free(&kek);
        return cli_report(&e);
    }

    /* 3. operation */
    o.report = cli_txn_report;
    kt_rc rc = transfer_package(&p, &m, &kek, &o, &r, &e);
    world_module_close(&m);
    world_lock_release(&lock);

    /* 4. output: a package past its commit point stands, and is shown, even if a failure after
     * it is reported (exit 4) */
    if (rc == KT_OK || r.committed) {
        if (r.earlier)
            fprintf(stderr,
                    "keytransfer: note: %s and its manifest were written by an earlier "
                    "run of this command; nothing new was written\n",
                    r.package_path);
        status = print_result(&a, &kek, &o, &r);
        if (rc != KT_OK)
            status = cli_report(&e);
    } else {
        status = e.rc == KT_EUSAGE ? cli_usage(CMD, "%s", e.msg) : cli_report(&e);
    }
    transfer_kek_free(&kek);
    return status;
}
