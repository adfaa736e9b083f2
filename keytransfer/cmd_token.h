/*
 * cmd_token.h - the --token side of the offline commands (cmd_token.c): `world bind-token`, and
 * what `key generate|list|show|public`, `modify-acls` and `package` do when --token URI names a
 * PKCS#11 token instead of the software world. The command files add the option rows and hand
 * over; the logic is in token/ and transfer_token.c.
 */
#ifndef KT_CMD_TOKEN_H
#define KT_CMD_TOKEN_H

#include "commands.h"
#include "transfer.h"

/* Option keys of the token options, apart from every command's own numbering. */
enum {
    OPT_TOKEN = 900,
    OPT_SO_PIN_FILE,
};

#define CLI_OPT_TOKEN(help)                                                                        \
    {                                                                                              \
        OPT_TOKEN, "token", CLI_VALUE, "URI", help                                                 \
    }

int cmd_world_bind_token(int argc, char **argv);

/* What the key subcommands hand over with --token. */
typedef struct token_key_args {
    const char *uri, *type, *size, *curve, *ident, *pin_file, *pin_fd, *out;
    bool json;
} token_key_args;

/* `key generate|list|show|public --token URI`; each returns the exit status. */
int cli_token_generate(const token_key_args *a);
int cli_token_list(const token_key_args *a);
int cli_token_show(const token_key_args *a);
int cli_token_public(const token_key_args *a);

/*
 * modify-acls --token: the user PIN is the first PIN read from pins (then the cards'); the
 * approval goes to approve as for a world key. out as transfer_reduce's.
 */
KT_MUST kt_rc cli_token_modify_acls(const world_paths *p, const world_module *m,
                                    const transfer_kek *k, const char *uri, const char *ident,
                                    cli_pins *pins, const char *const *cards, size_t ncards,
                                    transfer_approve_fn approve, void *approve_ctx,
                                    world_key_info *out, kt_err *e);

/* package --token: the user PIN first, then the cards'. Tells on stderr which guarantees the
 * token enforced. */
KT_MUST kt_rc cli_token_package(const world_paths *p, const world_module *m, const transfer_kek *k,
                                const transfer_package_opts *o, const char *uri, cli_pins *pins,
                                const char *const *cards, size_t ncards, transfer_package_result *r,
                                kt_err *e);

#endif
