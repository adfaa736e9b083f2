/*
 * cmd_token.c - the offline commands on a PKCS#11 token (cmd_token.h): `world bind-token`, and
 * `key generate|list|show|public`, `modify-acls` and `package` with --token URI. Parses, asks
 * for PINs (prompt, --pin-file, --pin-fd: never argv or the URI), calls token/ and
 * transfer_token.c, prints.
 */
#include "cmd_token.h"

#include "transfer_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* The user PIN of t, from the PIN source (the first PIN it serves). */
static kt_rc user_pin(cli_pins *pins, const token *t, kt_secbuf *pin, kt_err *e)
{
    char prompt[160];
    snprintf(prompt, sizeof prompt, "User PIN for token \"%s\": ", token_get_info(t)->label);
    return kt_pin_get(&pins->src, prompt, false, pin, e);
}

/* Opens the token and logs the user in, PIN from --pin-file, --pin-fd or the prompt. */
static kt_rc open_user(const token_key_args *a, token **t, kt_err *e)
{
    cli_pins pins;
    kt_secbuf pin = {0};
    kt_rc rc;

    *t = NULL;
    if ((rc = cli_pins_open(&pins, a->pin_file, a->pin_fd, e)) != KT_OK)
        return rc;
    if ((rc = token_open(a->uri, t, e)) == KT_OK && (rc = user_pin(&pins, *t, &pin, e)) == KT_OK)
        rc = token_login(*t, false, &pin, e);
    kt_secbuf_free(&pin);
    cli_pins_close(&pins);
    if (rc != KT_OK) {
        token_close(*t);
        *t = NULL;
    }
    return rc;
}

static const char *type_name(token_key_type t)
{
    return t == TOKEN_KEY_RSA ? "RSA" : t == TOKEN_KEY_EC ? "EC" : "AES";
}

static void size_text(const token_key *k, char *out, size_t n)
{
    if (k->type == TOKEN_KEY_EC)
        snprintf(out, n, "EC %s", k->curve);
    else
        snprintf(out, n, "%s-%u", type_name(k->type), k->bits);
}

static char *spki_pem(const token_key *k)
{
    const uint8_t *p = k->spki;
    EVP_PKEY *pk = k->spki_len > 0 ? d2i_PUBKEY(NULL, &p, (long)k->spki_len) : NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL, *data;
    long n;
    if (pk != NULL && b != NULL && PEM_write_bio_PUBKEY(b, pk) == 1 &&
        (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    EVP_PKEY_free(pk);
    return out;
}

static json_t *key_json(const token *t, const token_key *k)
{
    char id[2 * TOKEN_ID_MAX + 1], hash[65];
    uint8_t h[32];
    const char *refusal = token_key_refusal(k);

    kt_hex(id, k->id, k->id_len);
    kt_sha256(h, k->spki, k->spki_len);
    kt_hex(hash, h, 32);
    return json_pack(
        "{s:s, s:s, s:s, s:i, s:o, s:s, s:o, s:{s:b, s:b, s:b, s:b, s:b, s:b}, s:o}", "token",
        token_get_info(t)->label, "ident", k->label, "type", type_name(k->type), "size",
        (int)k->bits, "curve", k->type == TOKEN_KEY_EC ? json_string(k->curve) : json_null(), "id",
        id, "public_key_sha256", k->spki_len > 0 ? json_string(hash) : json_null(), "attributes",
        "sensitive", k->sensitive, "always_sensitive", k->always_sensitive, "extractable",
        k->extractable, "never_extractable", k->never_extractable, "wrap_with_trusted",
        k->wrap_with_trusted, "private", k->is_private, "transferable",
        refusal == NULL ? json_true() : json_string(refusal));
}

int cli_token_generate(const token_key_args *a)
{
    const char *cmd = "key generate";
    token_keygen g = {0};
    token_key k;
    token *t = NULL;
    kt_err e;

    /* 1. options */
    kt_err_clear(&e);
    world_key_type wt;
    if (world_key_type_parse(a->type, &wt, &e) != KT_OK || world_key_check_ident(a->ident, &e))
        return cli_usage(cmd, "%s", e.msg);
    g.type = wt == WORLD_KEY_RSA  ? TOKEN_KEY_RSA
             : wt == WORLD_KEY_EC ? TOKEN_KEY_EC
                                  : TOKEN_KEY_AES;
    if (g.type == TOKEN_KEY_EC) {
        const char *canon;
        unsigned bits;
        if (a->curve == NULL)
            return cli_usage(cmd, "--curve is required for EC keys");
        if (world_key_curve(a->curve, &canon, &bits, &e) != KT_OK)
            return cli_usage(cmd, "%s", e.msg);
        g.curve = canon;
    } else {
        unsigned long bits;
        if (a->size == NULL || !cli_parse_uint(a->size, 1, 65536, &bits))
            return cli_usage(cmd, "--size is required for %s keys: %s", type_name(g.type),
                             g.type == TOKEN_KEY_RSA ? "2048, 3072 or 4096" : "128, 192 or 256");
        g.bits = (unsigned)bits;
    }
    g.label = a->ident;
    if (token_uri_check(a->uri, &e) != KT_OK)
        return cli_usage(cmd, "%s", e.msg);

    /* 2. inputs, 3. operation */
    kt_rc rc = open_user(a, &t, &e);
    if (rc == KT_OK)
        rc = token_key_generate(t, &g, &k, &e);
    if (rc != KT_OK) {
        token_close(t);
        return e.rc == KT_EUSAGE ? cli_usage(cmd, "%s", e.msg) : cli_report(&e);
    }

    /* 4. output */
    char id[2 * TOKEN_ID_MAX + 1], size[48], hash[65] = "none (AES)";
    kt_hex(id, k.id, k.id_len);
    size_text(&k, size, sizeof size);
    if (k.spki_len > 0) {
        uint8_t h[32];
        kt_sha256(h, k.spki, k.spki_len);
        kt_hex(hash, h, 32);
    }
    const token_info *ti = token_get_info(t);
    int status;
    if (a->json) {
        json_t *v = key_json(t, &k);
        if (v != NULL)
            json_object_set_new(v, "format", json_string("keytransfer-token-key/1"));
        status = cli_print_json(v);
    } else {
        printf("Key generated inside token \"%s\" (serial %s, %s %s)\n"
               "  ident        %s (CKA_LABEL)\n"
               "  CKA_ID       %s\n"
               "  type         %s\n"
               "  public key   SHA-256 %s\n"
               "  attributes   CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE and\n"
               "               CKA_WRAP_WITH_TRUSTED true: it leaves the token only wrapped, and "
               "only\n"
               "               under a key the Security Officer marked trusted\n",
               ti->label, ti->serial, ti->manufacturer, ti->model, k.label, id, size, hash);
        status = fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_IO;
    }
    token_close(t);
    return status;
}

int cli_token_list(const token_key_args *a)
{
    token *t = NULL;
    token_key *keys = NULL;
    size_t n = 0;
    kt_err e;
    int status;

    kt_err_clear(&e);
    if (token_uri_check(a->uri, &e) != KT_OK)
        return cli_usage("key list", "%s", e.msg);
    if (open_user(a, &t, &e) != KT_OK || token_key_list(t, &keys, &n, &e) != KT_OK) {
        token_close(t);
        return cli_report(&e);
    }
    if (a->json) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, key_json(t, &keys[i]));
        status = cli_print_json(
            json_pack("{s:s, s:s, s:s, s:o}", "format", "keytransfer-token-key-list/1", "token",
                      token_get_info(t)->label, "serial", token_get_info(t)->serial, "keys", list));
    } else {
        if (n == 0)
            printf("No keys in token \"%s\".\n", token_get_info(t)->label);
        else
            printf("%-24s %-15s %-34s %s\n", "IDENT", "TYPE", "CKA_ID", "TRANSFER");
        for (size_t i = 0; i < n; i++) {
            char size[48], id[2 * TOKEN_ID_MAX + 1];
            size_text(&keys[i], size, sizeof size);
            kt_hex(id, keys[i].id, keys[i].id_len < 16 ? keys[i].id_len : 16);
            printf("%-24s %-15s %-34s %s\n", keys[i].label, size, id,
                   token_key_refusal(&keys[i]) == NULL ? "yes" : "refused (see key show)");
        }
        status = fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_IO;
    }
    free(keys);
    token_close(t);
    return status;
}

/* The key a show or public names, found as the user. */
static int find(const token_key_args *a, const char *cmd, token **t, token_key *k)
{
    kt_err e;
    kt_err_clear(&e);
    if (a->ident == NULL)
        return cli_usage(cmd, "give the key's ident (ID or --ident ID)");
    if (world_key_check_ident(a->ident, &e) != KT_OK || token_uri_check(a->uri, &e) != KT_OK)
        return cli_usage(cmd, "%s", e.msg);
    if (open_user(a, t, &e) != KT_OK || token_key_find(*t, a->ident, k, &e) != KT_OK) {
        token_close(*t);
        *t = NULL;
        return cli_report(&e);
    }
    return -1;
}

int cli_token_show(const token_key_args *a)
{
    token *t = NULL;
    token_key k;
    int status = find(a, "key show", &t, &k);

    if (status >= 0)
        return status;
    char *pem = spki_pem(&k);
    if (a->json) {
        json_t *v = key_json(t, &k);
        if (v != NULL) {
            json_object_set_new(v, "format", json_string("keytransfer-token-key/1"));
            json_object_set_new(v, "public_key_pem", pem != NULL ? json_string(pem) : json_null());
        }
        status = cli_print_json(v);
    } else {
        char id[2 * TOKEN_ID_MAX + 1], size[48];
        const char *why = token_key_refusal(&k);
        const token_info *ti = token_get_info(t);
        kt_hex(id, k.id, k.id_len);
        size_text(&k, size, sizeof size);
        printf("Key \"%s\" in token \"%s\" (serial %s, %s %s, module %s)\n"
               "  CKA_ID                 %s\n"
               "  type                   %s\n"
               "  CKA_SENSITIVE          %s\n"
               "  CKA_ALWAYS_SENSITIVE   %s\n"
               "  CKA_EXTRACTABLE        %s\n"
               "  CKA_NEVER_EXTRACTABLE  %s\n"
               "  CKA_WRAP_WITH_TRUSTED  %s\n"
               "  transfer               %s%s\n",
               k.label, ti->label, ti->serial, ti->manufacturer, ti->model, ti->module, id, size,
               k.sensitive ? "true" : "false", k.always_sensitive ? "true" : "false",
               k.extractable ? "true" : "false", k.never_extractable ? "true" : "false",
               k.wrap_with_trusted ? "true" : "false",
               why == NULL ? "allowed" : "refused: ", why == NULL ? "" : why);
        if (pem != NULL)
            printf("  public key\n%s", pem);
        status = fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_IO;
    }
    free(pem);
    token_close(t);
    return status;
}

int cli_token_public(const token_key_args *a)
{
    token *t = NULL;
    token_key k;
    kt_err e;
    kt_rc rc = KT_OK;
    int status = find(a, "key public", &t, &k);

    if (status >= 0)
        return status;
    token_close(t);
    kt_err_clear(&e);
    char *pem = spki_pem(&k);
    if (k.type == TOKEN_KEY_AES)
        rc = kt_fail(&e, KT_EUSAGE, "key %s is an AES key: it has no public key", a->ident);
    else if (pem == NULL)
        rc = kt_fail(&e, KT_ECRYPTO, "cannot encode the public key of %s", a->ident);
    else if (a->out != NULL)
        rc = kt_file_write(a->out, pem, strlen(pem), KT_WRITE_NEW, &e);
    else if (fputs(pem, stdout) < 0 || fflush(stdout) != 0)
        rc = kt_fail(&e, KT_EIO, "cannot write the public key to standard output");
    free(pem);
    return rc != KT_OK ? cli_report(&e) : KT_EXIT_OK;
}

/* ---- world bind-token -------------------------------------------------------------------- */

static const cli_opt bind_opts[] = {
    CLI_OPT_TOKEN("the token (PKCS#11 URI, RFC 7512) whose Security Officer\nPIN the "
                  "administrator cards will guard (required)"),
    CLI_OPT_CARD("an administrator card; give at least K, each once"),
    {OPT_SO_PIN_FILE, "so-pin-file", CLI_VALUE, "FILE",
     "the token's SO PIN (0600 file, first line); else it is\nthe first PIN read from the "
     "terminal, --pin-file or --pin-fd"},
    CLI_OPT_PIN_FILE("the PINs, one a line: the SO PIN (unless --so-pin-file),\nthen the "
                     "cards' in --card order"),
    CLI_OPT_PIN_FD,
    {'f', "force", CLI_FLAG, NULL, "seal a new SO PIN over an existing binding"},
    CLI_OPT_KMDATA,
    {0},
};

static const cli_cmd bind_cmd = {
    .name = "world bind-token",
    .synopsis = "--token URI --card PATH --card PATH ... [--so-pin-file FILE]",
    .about = "Bind a PKCS#11 token to the security world: its Security Officer PIN, checked by "
             "logging\nin, is sealed under the administrator quorum (KMDATA/local/tokenso_HEX), so "
             "that what needs\nthe SO - importing a KEK as trusted, making the trusted session key "
             "of a package -\nneeds K of the N cards, as for a world key. Keep the SO PIN itself "
             "offline, or change\nit after binding and bind again with --force.",
    .opts = bind_opts,
    .footer = "Exit status: 0 bound, 1 refused (wrong SO PIN, locked PIN, quorum, card PIN), 2 "
              "usage,\n3 malformed input, 4 module not loadable, missing or existing file.",
};

int cmd_world_bind_token(int argc, char **argv)
{
    const char *cmd = "world bind-token";
    cli_args c;
    const char *const *cards;
    int status = cli_parse(&bind_cmd, argc, argv, &c);
    if (status >= 0)
        return status;
    const char *uri = cli_value(&c, OPT_TOKEN), *so_file = cli_value(&c, OPT_SO_PIN_FILE);
    const char *pin_file = cli_value(&c, OPT_PIN_FILE), *pin_fd = cli_value(&c, OPT_PIN_FD);
    const char *kmdata = cli_value(&c, OPT_KMDATA);
    bool force = cli_flag(&c, 'f');
    size_t ncards = cli_values(&c, OPT_CARD, &cards);
    const char *card_v[WORLD_MAX_CARDS];
    kt_err e;

    kt_err_clear(&e);
    if (ncards > WORLD_MAX_CARDS) {
        cli_args_free(&c);
        return cli_usage(cmd, "at most %d --card options", WORLD_MAX_CARDS);
    }
    for (size_t i = 0; i < ncards; i++)
        card_v[i] = cards[i];
    cli_args_free(&c);
    if (uri == NULL)
        return cli_usage(cmd, "--token URI is required");
    if (token_uri_check(uri, &e) != KT_OK)
        return cli_usage(cmd, "%s", e.msg);
    if (ncards == 0)
        return cli_usage(cmd, "give the administrator cards of the quorum with --card PATH");

    world_paths p;
    world_lock lock;
    world_module m;
    cli_pins pins, so_src;
    token *t = NULL;
    kt_secbuf so_pin = {0};
    char path[PATH_MAX];
    bool have_so_src = false;

    if (cli_world_open(kmdata, NULL, true, false, &p, &lock, &e) != KT_OK)
        return cli_report(&e);
    kt_rc rc = world_module_open(&p, &m, &e);
    if (rc != KT_OK) {
        world_lock_release(&lock);
        return cli_report(&e);
    }
    if ((rc = cli_pins_open(&pins, pin_file, pin_fd, &e)) != KT_OK)
        goto out_module;
    if ((rc = token_open(uri, &t, &e)) != KT_OK)
        goto out_pins;
    char prompt[160];
    snprintf(prompt, sizeof prompt,
             "Security Officer PIN of token \"%s\": ", token_get_info(t)->label);
    if (so_file != NULL) {
        if ((rc = cli_pins_open(&so_src, so_file, NULL, &e)) != KT_OK)
            goto out_token;
        have_so_src = true;
        rc = kt_pin_get(&so_src.src, prompt, false, &so_pin, &e);
    } else {
        rc = kt_pin_get(&pins.src, prompt, false, &so_pin, &e);
    }
    if (rc != KT_OK)
        goto out_token;
    const transfer_token_quorum q = {
        .cards = card_v, .ncards = ncards, .pin = cli_pin_for_card, .pin_ctx = &pins};
    rc = transfer_token_bind(&p, &m, t, &so_pin, &q, force, path, &e);
out_token:
    kt_secbuf_free(&so_pin);
    if (have_so_src)
        cli_pins_close(&so_src);
    if (rc == KT_OK) {
        const token_info *ti = token_get_info(t);
        printf("Token \"%s\" (serial %s, %s %s) bound to the world\n"
               "  SO PIN     sealed under the administrator quorum in %s\n"
               "  module     %s\n"
               "From now on modify-acls and package --token for this token need K cards.\n",
               ti->label, ti->serial, ti->manufacturer, ti->model, path, ti->module);
    }
    token_close(t);
out_pins:
    cli_pins_close(&pins);
out_module:
    world_module_close(&m);
    world_lock_release(&lock);
    if (rc != KT_OK)
        return e.rc == KT_EUSAGE ? cli_usage(cmd, "%s", e.msg) : cli_report(&e);
    return fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_IO;
}

/* ---- modify-acls and package --token ------------------------------------------------------ */

kt_rc cli_token_modify_acls(const world_paths *p, const world_module *m, const transfer_kek *k,
                            const char *uri, const char *ident, cli_pins *pins,
                            const char *const *cards, size_t ncards, transfer_approve_fn approve,
                            void *approve_ctx, world_key_info *out, kt_err *e)
{
    token *t = NULL;
    kt_secbuf pin = {0};
    kt_rc rc;

    if ((rc = token_open(uri, &t, e)) != KT_OK)
        return rc;
    if ((rc = user_pin(pins, t, &pin, e)) == KT_OK) {
        const transfer_token_quorum q = {
            .cards = cards, .ncards = ncards, .pin = cli_pin_for_card, .pin_ctx = pins};
        rc = transfer_token_reduce(p, m, t, k, ident, &pin, &q, approve, approve_ctx, out, e);
    }
    if (rc == KT_OK)
        cli_note("token \"%s\" now holds the KEK as a trusted wrapping key (CKA_WRAP and "
                 "CKA_TRUSTED true, set by the Security Officer under the quorum); the reduced "
                 "record is signed by KNSO",
                 token_get_info(t)->label);
    kt_secbuf_free(&pin);
    token_close(t);
    return rc;
}

kt_rc cli_token_package(const world_paths *p, const world_module *m, const transfer_kek *k,
                        const transfer_package_opts *o, const char *uri, cli_pins *pins,
                        const char *const *cards, size_t ncards, transfer_package_result *r,
                        kt_err *e)
{
    token *t = NULL;
    kt_secbuf pin = {0};
    token_wrap_form form = 0;
    kt_rc rc;

    memset(r, 0, sizeof *r);
    if (ncards == 0)
        return kt_fail(e, KT_EUSAGE,
                       "a token key's package needs the administrator cards (--card): the "
                       "Security Officer makes the trusted session key it is wrapped with");
    if ((rc = token_open(uri, &t, e)) != KT_OK)
        return rc;
    if ((rc = user_pin(pins, t, &pin, e)) == KT_OK) {
        const transfer_token_quorum q = {
            .cards = cards, .ncards = ncards, .pin = cli_pin_for_card, .pin_ctx = pins};
        rc = transfer_token_package(p, m, t, k, o, &pin, &q, r, &form, e);
    }
    if (rc == KT_OK && form == TOKEN_WRAP_ONE_STEP)
        cli_note("wrapped inside token \"%s\" with CKM_RSA_AES_KEY_WRAP: the token itself let the "
                 "key (CKA_WRAP_WITH_TRUSTED) out only under the trusted KEK",
                 token_get_info(t)->label);
    else if (rc == KT_OK && form == TOKEN_WRAP_DIRECT)
        cli_note("wrapped inside token \"%s\" with CKM_RSA_PKCS_OAEP: the token itself let the key "
                 "(CKA_WRAP_WITH_TRUSTED) out only under the trusted KEK",
                 token_get_info(t)->label);
    else if (rc == KT_OK && form == TOKEN_WRAP_TWO_STEP)
        cli_note("wrapped inside token \"%s\" in two steps: the key (CKA_WRAP_WITH_TRUSTED) under "
                 "a session AES-256 key the Security Officer marked trusted (CKA_TRUSTED, "
                 "CKA_WRAP_WITH_TRUSTED, CKA_TOKEN false, destroyed), that key under the trusted "
                 "KEK with CKM_RSA_PKCS_OAEP. The token enforced that both left only under "
                 "trusted keys; that the session key went to this KEK and nowhere else is "
                 "keytransfer's doing under the quorum",
                 token_get_info(t)->label);
    kt_secbuf_free(&pin);
    token_close(t);
    return rc;
}
