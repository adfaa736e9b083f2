/*
 * cmd_init.c - `keytransfer-cloud init`: create a region's cloud HSM and publish its KEK package,
 * world package, toolset zip and hash table.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_REGION = 1000,
    OPT_OUT,
    OPT_STATE,
    OPT_VAULT,
    OPT_KEK_SIZE,
    OPT_VENDOR_CERT,
    OPT_VENDOR_KEY,
    OPT_VERIFY_SCRIPT,
    OPT_JSON,
    OPT_HELP
};

static const struct option opts[] = {
    {"region", required_argument, NULL, OPT_REGION},               /* NA, EU, AP, ... */
    {"out", required_argument, NULL, OPT_OUT},                     /* the download folder */
    {"state", required_argument, NULL, OPT_STATE},                 /* the cloud's private state */
    {"vault", required_argument, NULL, OPT_VAULT},                 /* Key Vault name in the kid */
    {"kek-size", required_argument, NULL, OPT_KEK_SIZE},           /* 2048 | 3072 | 4096 */
    {"vendor-cert", required_argument, NULL, OPT_VENDOR_CERT},     /* your own vendor root */
    {"vendor-key", required_argument, NULL, OPT_VENDOR_KEY},       /* and its key */
    {"verify-script", required_argument, NULL, OPT_VERIFY_SCRIPT}, /* ship it in the zip */
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {0, 0, 0, 0},
};

static const char help[] =
    "Usage: keytransfer-cloud init --region REGION --out DIR [OPTIONS]\n"
    "\n"
    "Create a region's emulated cloud HSM (a security world whose module holds a warrant, an\n"
    "attestation key and an RSA KEK that can only unwrap imports) and write into DIR:\n"
    "BYOK-KEK-pkg-REGION-1, BYOK-SecurityWorld-pkg-REGION-1, KeyTransfer-BYOK-Tools-REGION.zip\n"
    "and published-hashes.txt.\n"
    "\n"
    "  --region REGION       NA, EU, AP, LATAM, JPN, AUS, USGOV, CANADA, GERMANY or INDIA\n"
    "  --out DIR             the download folder (created 0700)\n"
    "  --state DIR           the cloud's private state (default: $KEYTRANSFER_CLOUD_STATE, else\n"
    "                        ~/.local/share/keytransfer/cloud)\n"
    "  --vault NAME          Key Vault name in the KEK's kid (default keytransfer-demo-REGION)\n"
    "  --kek-size BITS       2048 (default), 3072 or 4096\n"
    "  --vendor-cert FILE    the vendor root certificate (PEM); default: the DEMO root\n"
    "  --vendor-key FILE     the vendor root's private key (PEM)\n"
    "  --verify-script FILE  verifykeypackage.py to ship in the toolset zip\n"
    "  --json                print the result as JSON\n"
    "  --help                show this help\n";

int cmd_init(int argc, char **argv)
{
    int status_after = KT_EXIT_OK;
    const char *vendor_cert = NULL, *vendor_key = NULL;
    char state_buf[4096];
    bool json = false;
    unsigned long bits = 2048;
    kek_init_opts o = {0};
    kek_init_result r;
    kek_vendor v;
    kt_err e;

    /* 1. options */
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "+:", opts, NULL)) != -1;) {
        switch (c) {
        case OPT_REGION:
            o.region = optarg;
            break;
        case OPT_OUT:
            o.out = optarg;
            break;
        case OPT_STATE:
            o.state = optarg;
            break;
        case OPT_VAULT:
            o.vault = optarg;
            break;
        case OPT_KEK_SIZE:
            if (strcmp(optarg, "2048") && strcmp(optarg, "3072") && strcmp(optarg, "4096"))
                return cloud_usage("init", "--kek-size is 2048, 3072 or 4096, not '%s'", optarg);
            bits = strtoul(optarg, NULL, 10);
            break;
        case OPT_VENDOR_CERT:
            vendor_cert = optarg;
            break;
        case OPT_VENDOR_KEY:
            vendor_key = optarg;
            break;
        case OPT_VERIFY_SCRIPT:
            o.verify_script = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_HELP:
            return fputs(help, stdout) < 0 ? KT_EXIT_IO : KT_EXIT_OK;
        case ':':
            return cloud_usage("init", "option %s needs a value", argv[optind - 1]);
        default:
            return cloud_usage("init", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cloud_usage("init", "unexpected argument '%s'", argv[optind]);
    if (o.region == NULL || o.out == NULL)
        return cloud_usage("init", "--region and --out are required");
    if (o.state == NULL && (o.state = cloud_default_state(state_buf, sizeof state_buf)) == NULL)
        return cloud_usage("init", "give --state DIR (no HOME to default to)");
    o.kek_bits = (unsigned)bits;

    /* 2. inputs */
    kt_err_clear(&e);
    if (kek_vendor_load(vendor_cert, vendor_key, &v, &e) != KT_OK)
        return cloud_report(&e);
    if (v.demo)
        fprintf(stderr, "keytransfer-cloud: warning: signing with the DEMO vendor root, whose "
                        "private key is public: these packages prove nothing outside a demo\n");

    /* 3. operation */
    o.vendor = &v;
    o.progress = kt_progress_stderr;
    o.report = cloud_txn_report;
    kt_rc rc = kek_cloud_init(&o, &r, &e);
    kek_vendor_free(&v);
    if (rc != KT_OK && !r.committed)
        return cloud_report(&e);
    if (rc != KT_OK) /* the cloud stands; what follows its commit point is told, then exit 4 */
        status_after = cloud_report(&e);

    /* 4. output */
    char world[65], fp[65], zip[65];
    kt_hex(world, r.world_hash, 32);
    kt_hex(fp, r.kek_fp, 32);
    kt_hex(zip, r.zip_sha256, 32);
    if (json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kid",
                              r.kid, "world_hash", world, "module_esn", r.esn, "kek_size",
                              (int)r.kek_bits, "kek_sha256", fp, "kek_package", r.kek_pkg,
                              "world_package", r.world_pkg, "toolset_zip", r.zip, "zip_sha256", zip,
                              "published_hashes", r.hashes, "state", o.state);
        char *s = NULL;
        rc = j ? kt_json_dump(j, true, &s, &e) : kt_fail(&e, KT_ENOMEM, "out of memory");
        json_decref(j);
        if (rc != KT_OK)
            return cloud_report(&e);
        puts(s);
        free(s);
        return status_after;
    }
    printf("Cloud HSM for region %s created (state in %s)\n"
           "  KEK kid          %s\n"
           "  KEK              RSA-%u, SHA-256 of SPKI %s\n"
           "  world hash       %s\n"
           "  module ESN       %s\n"
           "  KEK package      %s\n"
           "  world package    %s\n"
           "  toolset zip      %s\n"
           "  zip SHA-256      %s\n"
           "  hash table       %s\n",
           o.region, o.state, r.kid, r.kek_bits, fp, world, r.esn, r.kek_pkg, r.world_pkg, r.zip,
           zip, r.hashes);
    return status_after;
}
