/*
 * transfer_token.h - the transfer step for a key that lives in a PKCS#11 token (docs/design.md
 * §1 steps 7 and 8 with --token): it drives token/ (the token), world/ (the quorum, the sealed SO
 * PIN, the reduced-token record) and the package writer of transfer.h, so the output is the same
 * .byok, AWS or GCP blob and signed manifest as for a world key.
 *
 *   bind     the token's SO PIN, checked by logging in, sealed under the administrator quorum
 *            (world_token_so_seal): from then on the SO login needs K cards.
 *   reduce   with K cards: the KEK imported into the token as a trusted wrapping key (CKA_TRUSTED,
 *            set by the SO) and the reduced-token record signed by KNSO.
 *   package  with K cards again (the SO makes the trusted session key): the key wrapped inside
 *            the token (token_wrap) for the one KEK its record names.
 *
 * What the token enforces and what keytransfer enforces: docs/threat-model.md, "Token keys".
 */
#ifndef KT_TRANSFER_TOKEN_H
#define KT_TRANSFER_TOKEN_H

#include "token.h"
#include "token_bind.h"
#include "transfer.h"

/* The app under which token keys are shown before their reduction. */
#define TRANSFER_TOKEN_APP "token"

/* The facts of a token key as world/ and the manifest know keys: type, size, curve, public key,
 * key hash (world_token_key_hash), world m's. plainname says which token. */
void transfer_token_key_info(const token *t, const token_key *k, const world_module *m,
                             world_key_info *out);

/* What the quorum steps take. */
typedef struct transfer_token_quorum {
    const char *const *cards; /* the administrator cards offered */
    size_t ncards;
    world_pin_fn pin;
    void *pin_ctx;
} transfer_token_quorum;

/*
 * bind-token: logs in to t as the SO with so_pin (a wrong one: KT_EPIN, nothing written), opens
 * the quorum (fewer than K cards: KT_EQUORUM; a wrong PIN: KT_EPIN), checks it is m's world and
 * seals so_pin (world_token_so_seal, replace for --force). path (PATH_MAX) receives the file.
 */
KT_MUST kt_rc transfer_token_bind(const world_paths *p, const world_module *m, token *t,
                                  const kt_secbuf *so_pin, const transfer_token_quorum *q,
                                  bool replace, char *path, kt_err *e);

/*
 * modify-acls --token: as the user, finds the key labelled ident and refuses it when
 * token_key_refusal says so; refuses a key with a record already (KT_EEXIST); shows the request
 * to approve (the same approval as a world key); opens the quorum, the sealed SO PIN, imports k
 * as a trusted wrapping key (token_kek_import) and signs and writes the reduced-token record.
 * out receives the reduced key's facts (app xferacld, the record's path, the reduced ACL).
 */
KT_MUST kt_rc transfer_token_reduce(const world_paths *p, const world_module *m, token *t,
                                    const transfer_kek *k, const char *ident,
                                    const kt_secbuf *user_pin, const transfer_token_quorum *q,
                                    transfer_approve_fn approve, void *approve_ctx,
                                    world_key_info *out, kt_err *e);

/*
 * package --token: loads the record of o->ident (none: KT_EDENIED, run modify-acls --token),
 * refuses a record of another token or whose ACL is not exactly transfer_reduced_acl(k) (another
 * KEK or kid: KT_EDENIED), prepares the output (an earlier run's very package is recognised before
 * any card is asked), then opens the quorum and the SO PIN, wraps inside the token (token_wrap)
 * and writes the package and its manifest. *form says how the token wrapped.
 */
KT_MUST kt_rc transfer_token_package(const world_paths *p, const world_module *m, token *t,
                                     const transfer_kek *k, const transfer_package_opts *o,
                                     const kt_secbuf *user_pin, const transfer_token_quorum *q,
                                     transfer_package_result *r, token_wrap_form *form, kt_err *e);

#endif
