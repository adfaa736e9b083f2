/*
 * cmd_init.c - `keytransfer-cloud init`: create a region's cloud HSM and publish its KEK package,
 * world package, toolset zip and hash table.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_REGION = 256,
    OPT_OUT,
    OPT_STATE,
    OPT_VAULT,
    OPT_KEK_SIZE,
    OPT_VENDOR_CERT,
    OPT_VENDOR_KEY,
    OPT_VERIFY_SCRIPT,
    OPT_JSON,
};

static const cli_opt opts[] = {
    {OPT_REGION, "region", CLI_VALUE, "REGION",
     "NA, EU, AP, LATAM, JPN, AUS, USGOV, CANADA, GERMANY or INDIA"},
    {OPT_OUT, "out", CLI_VALUE, "DIR", "the download folder (created 0700)"},
    {OPT_STATE, "state", CLI_VALUE, "DIR",
     "the cloud's private state (default: $KEYTRANSFER_CLOUD_STATE, else\n"
     "~/.local/share/keytransfer/cloud)"},
    {OPT_VAULT, "vault", CLI_VALUE, "NAME",
     "Key Vault name in the KEK's kid (default keytransfer-demo-REGION)"},
    {OPT_KEK_SIZE, "kek-size", CLI_VALUE, "BITS", "2048 (default), 3072 or 4096"},
    {OPT_VENDOR_CERT, "vendor-cert", CLI_VALUE, "FILE",
     "the vendor root certificate (PEM); default: the DEMO root"},
    {OPT_VENDOR_KEY, "vendor-key", CLI_VALUE, "FILE", "the vendor root's private key (PEM)"},
    {OPT_VERIFY_SCRIPT, "verify-script", CLI_VALUE, "FILE",
     "the verifykeypackage.py to ship in the toolset zip (default:\nthe one this build trusts its "
     "root hash with)"},
    CLI_OPT_JSON,
    {0},
};

static const cli_cmd cmd = {
    .name = "init",
    .synopsis = "--region REGION --out DIR [OPTIONS]",
    .about = "Create a region's emulated cloud HSM (a security world whose module holds a "
             "warrant, an\nattestation key and an RSA KEK that can only unwrap imports) and write "
             "into DIR:\nBYOK-KEK-pkg-REGION-1, BYOK-SecurityWorld-pkg-REGION-1, "
             "KeyTransfer-BYOK-Tools-REGION.zip\nand published-hashes.txt.",
    .opts = opts,
};

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
    cli_args c;
    int status = cli_parse(&cmd, argc, argv, &c);
    if (status >= 0)
        return status;
    o.region = cli_value(&c, OPT_REGION);
    o.out = cli_value(&c, OPT_OUT);
    o.state = cli_value(&c, OPT_STATE);
    o.vault = cli_value(&c, OPT_VAULT);
    o.verify_script = cli_value(&c, OPT_VERIFY_SCRIPT);
    vendor_cert = cli_value(&c, OPT_VENDOR_CERT);
    vendor_key = cli_value(&c, OPT_VENDOR_KEY);
    json = cli_flag(&c, OPT_JSON);
    const char *size = cli_value(&c, OPT_KEK_SIZE);
    cli_args_free(&c);
    if (size != NULL && strcmp(size, "2048") && strcmp(size, "3072") && strcmp(size, "4096"))
        return cli_usage(cmd.name, "--kek-size is 2048, 3072 or 4096, not '%s'", size);
    if (size != NULL)
        bits = strtoul(size, NULL, 10);
    if (o.region == NULL || o.out == NULL)
        return cli_usage(cmd.name, "--region and --out are required");
    if (o.state == NULL && (o.state = cloud_default_state(state_buf, sizeof state_buf)) == NULL)
        return cli_usage(cmd.name, "give --state DIR (no HOME to default to)");
    o.kek_bits = (unsigned)bits;

    /* 2. inputs */
    kt_err_clear(&e);
    if (kek_vendor_load(vendor_cert, vendor_key, &v, &e) != KT_OK)
        return cli_report(&e);
    if (v.demo)
        cli_warn("signing with the DEMO vendor root, whose "
                 "private key is public: these packages prove nothing outside a demo\n");

    /* 3. operation */
    o.vendor = &v;
    o.progress = kt_progress_stderr;
    o.report = cli_txn_report;
    kt_rc rc = kek_cloud_init(&o, &r, &e);
    kek_vendor_free(&v);
    if (rc != KT_OK && !r.committed)
        return cli_report(&e);
    if (rc != KT_OK) /* the cloud stands; what follows its commit point is told, then exit 4 */
        status_after = cli_report(&e);

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
        int printed = cli_print_json(j);
        return printed != KT_EXIT_OK ? printed : status_after;
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
