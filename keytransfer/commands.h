/*
 * commands.h - the commands of the offline program `keytransfer` (one file each, on the CLI
 * layer, cli/include/cli.h) and what they share: the options several take, card PINs, the world
 * they open.
 */
#ifndef KT_COMMANDS_H
#define KT_COMMANDS_H

#include <stdbool.h>

#include "cli.h"
#include "kt.h"
#include "world.h"

int cmd_world(int argc, char **argv);
int cmd_module(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_toolset(int argc, char **argv);
int cmd_modify_acls(int argc, char **argv);
int cmd_package(int argc, char **argv);
int cmd_audit(int argc, char **argv);

/* The seed-compatible front (compat.c): the command named new-world, generatekey or
 * KeyTransferRemote, or NULL. */
cli_fn compat_lookup(const char *name);

/* Option keys several commands share, and their table entries (one help text each). */
enum {
    OPT_KMDATA = 256,
    OPT_PIN_FILE,
    OPT_PIN_FD,
    OPT_CARD,
    OPT_JSON,
    OPT_KEK_PEM,
    OPT_KID,
    OPT_ACCEPT,
    OPT_DEMO,
    OPT_AWS_PARAMS,
    OPT_IMPORT_JOB,
    OPT_SHARED_END /* commands number their own options from here */
};

#define CLI_OPT_KMDATA                                                                             \
    {                                                                                              \
        OPT_KMDATA, "kmdata", CLI_VALUE, "DIR",                                                    \
            "kmdata folder (default: $KEYTRANSFER_KMDATA, "                                        \
            "else\n~/.local/share/keytransfer/kmdata)"                                             \
    }
#define CLI_OPT_CARD(help)                                                                         \
    {                                                                                              \
        OPT_CARD, "card", CLI_LIST, "PATH", help                                                   \
    }
#define CLI_OPT_PIN_FILE(help)                                                                     \
    {                                                                                              \
        OPT_PIN_FILE, "pin-file", CLI_VALUE, "FILE", help                                          \
    }
#define CLI_OPT_PIN_FD                                                                             \
    {                                                                                              \
        OPT_PIN_FD, "pin-fd", CLI_VALUE, "N", "the same from file descriptor N"                    \
    }
/* Where the KEK comes from: the packages (-k, -w) or a bare public key (transfer.h). */
#define CLI_OPTS_KEK                                                                               \
    {'k', "kek-package", CLI_VALUE, "FILE", "the cloud's KEK package (attested KEK)"},             \
        {'w', "world-package", CLI_VALUE, "FILE", "the cloud's security world package (with -k)"}, \
        {OPT_KEK_PEM, "kek-pem", CLI_VALUE, "FILE",                                                \
         "an unattested KEK: its RSA public key (PEM or DER\nSubjectPublicKeyInfo), instead of "   \
         "-k "                                                                                     \
         "and -w"},                                                                                \
        {OPT_KID, "kid", CLI_VALUE, "URL",                                                         \
         "the unattested KEK's Key Vault key URL with its version,\nbound into the reduced ACL: "  \
         "modify-acls and package\ntake the same (required for an Azure package)"},                \
        {OPT_ACCEPT, "accept-unattested-kek", CLI_VALUE, "FP",                                     \
         "go on with the unattested KEK whose SHA-256 fingerprint\nis FP (64 hex digits), after "  \
         "comparing it out of band;\nwithout it the fingerprint is printed and nothing is done"},  \
        {OPT_AWS_PARAMS, "aws-params", CLI_VALUE, "FILE",                                          \
         "an unattested AWS KMS wrapping key: the JSON `aws kms\nget-parameters-for-import` "      \
         "printed (refused once expired)"},                                                        \
        {OPT_IMPORT_JOB, "import-job", CLI_VALUE, "FILE",                                          \
         "an unattested Cloud KMS wrapping key: the JSON that\n`gcloud kms import-jobs describe` " \
         "printed as json (ACTIVE)"},                                                              \
    {                                                                                              \
        OPT_DEMO, "demo", CLI_FLAG, NULL,                                                          \
            "take a KEK package the DEMO vendor root vouches for\n(its private key is public: "    \
            "demos "                                                                               \
            "and tests only;\nrefused by a build with a real root)"                                \
    }

/* Reads the CLI_OPTS_KEK options into k (transfer.h). */
struct transfer_kek_source;
void cli_kek_source(const cli_args *c, struct transfer_kek_source *k);

/* How the KEK k was vouched for, for people: "attested by vendor root ...", by the DEMO root, or
 * accepted by fingerprint; CLI_ATTESTED_MAX octets at most. */
struct transfer_kek;
#define CLI_ATTESTED_MAX 160
void cli_kek_attested(const struct transfer_kek *k, char out[CLI_ATTESTED_MAX]);

/* Where card PINs come from: --pin-file, --pin-fd or the terminal. */
typedef struct cli_pins {
    kt_pin_source src;
} cli_pins;

/* Opens the PIN source from the --pin-file and --pin-fd arguments (either may be NULL). */
KT_MUST kt_rc cli_pins_open(cli_pins *c, const char *pin_file, const char *pin_fd, kt_err *e);
void cli_pins_close(cli_pins *c);

/* The world_pin_fn the subcommands hand to world/ (ctx is a cli_pins). */
kt_rc cli_pin_for_card(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                       kt_err *e);

/*
 * The world a command works on: resolves its paths (world_paths_init with kmdata and cards, either
 * may be NULL) and takes the world lock, exclusive for commands that write the world and shared
 * for those that read it; create makes the folders (world new). Interrupted changes found there
 * are finished or undone and reported on stderr. Release l with world_lock_release.
 */
KT_MUST kt_rc cli_world_open(const char *kmdata, const char *cards, bool exclusive, bool create,
                             world_paths *p, world_lock *l, kt_err *e);

#endif
