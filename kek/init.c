/*
 * init.c - `keytransfer-cloud init`: make a region's emulated cloud HSM and what its vendor and
 * cloud publish for it. The cloud world, its module and keys come from world/; the certificates,
 * JWS packages, toolset zip and hash table from packages/.
 *
 * Certificate chain: vendor root -> module warrant (CA, pathlen 0, serialNumber = ESN) ->
 * attestation key (signs the packages). The KEK is a module-protected RSA key whose only
 * permission is ImportUnwrap.
 */
#include "kek_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CERT_YEARS 5
#define TOOLSET_README                                                                             \
    "keytransfer BYOK toolset\n"                                                                   \
    "========================\n"                                                                   \
    "\n"                                                                                           \
    "BYOK-KEK-pkg-<REGION>-1           the key exchange key (KEK), attested by the cloud HSM\n"    \
    "BYOK-SecurityWorld-pkg-<REGION>-1 the cloud HSM's security world\n"                           \
    "verifykeypackage.py               an independent verifier (python3-cryptography)\n"           \
    "\n"                                                                                           \
    "Check both packages on the offline workstation before you trust the KEK:\n"                   \
    "    keytransfer verify -k BYOK-KEK-pkg-<REGION>-1 -w BYOK-SecurityWorld-pkg-<REGION>-1\n"     \
    "    python3 verifykeypackage.py -k BYOK-KEK-pkg-<REGION>-1 -w "                               \
    "BYOK-SecurityWorld-pkg-<REGION>-1\n"

/* Everything init holds while it works; freed on every path. */
typedef struct init_ctx {
    const kek_init_opts *o;
    char state[PATH_MAX]; /* the staged state folder everything is built in (kt_txn) */
    kt_txn *txn;
    char region_lower[PKG_REGION_MAX + 1];
    char vault[64];
    char kek_ident[WORLD_KEY_IDENT_MAX + 1];
    world_paths paths;
    world_module module;
    world_key warrant, attest;
    EVP_PKEY *kek_pub;
    X509 *warrant_cert, *attest_cert;
    char *kek_jws, *world_jws;
} init_ctx;

static void init_ctx_free(init_ctx *c)
{
    world_module_close(&c->module);
    world_key_free(&c->warrant);
    world_key_free(&c->attest);
    EVP_PKEY_free(c->kek_pub);
    X509_free(c->warrant_cert);
    X509_free(c->attest_cert);
    free(c->kek_jws);
    free(c->world_jws);
}

static void progress(const init_ctx *c, size_t done)
{
    if (c->o->progress)
        c->o->progress(c->o->progress_ctx, "creating the cloud HSM", done, 6);
}

/* dir/<prefix><region><suffix> into out (PATH_MAX bytes). */
static kt_rc out_path(const char *dir, const char *prefix, const char *region, const char *suffix,
                      char *out, kt_err *e)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s%s", dir, prefix, region, suffix);
    if (n < 0 || n >= PATH_MAX)
        return kt_fail(e, KT_EUSAGE, "output folder path too long: %s", dir);
    return KT_OK;
}

/* Checks the options and names every output before anything is written. */
static kt_rc plan(init_ctx *c, kek_init_result *r, kt_err *e)
{
    const kek_init_opts *o = c->o;
    kt_rc rc;
    if (o->region == NULL || !kek_region_known(o->region)) {
        char list[160] = "";
        for (size_t i = 0; i < kek_nregions; i++) {
            strncat(list, kek_regions[i], sizeof list - strlen(list) - 1);
            if (i + 1 < kek_nregions)
                strncat(list, ", ", sizeof list - strlen(list) - 1);
        }
        return kt_fail(e, KT_EUSAGE, "unknown region '%s'; regions: %s", o->region ? o->region : "",
                       list);
    }
    if (o->kek_bits != 2048 && o->kek_bits != 3072 && o->kek_bits != 4096)
        return kt_fail(e, KT_EUSAGE, "a KEK is RSA 2048, 3072 or 4096 bits, not %u", o->kek_bits);
    for (size_t i = 0; o->region[i]; i++)
        c->region_lower[i] = (char)tolower((unsigned char)o->region[i]);
    if (o->vault != NULL)
        snprintf(c->vault, sizeof c->vault, "%s", o->vault);
    else
        snprintf(c->vault, sizeof c->vault, "keytransfer-demo-%s", c->region_lower);
    size_t vn = strlen(c->vault);
    if (vn > KEK_VAULT_MAX || (o->vault != NULL && strlen(o->vault) >= sizeof c->vault))
        vn = 0;
    bool vault_ok = vn >= 3 && isalpha((unsigned char)c->vault[0]) && c->vault[vn - 1] != '-';
    for (size_t i = 0; vault_ok && i < vn; i++)
        vault_ok = isalnum((unsigned char)c->vault[i]) || c->vault[i] == '-';
    if (!vault_ok)
        return kt_fail(e, KT_EUSAGE,
                       "vault name '%s': 3 to 24 letters, digits and '-', starting with a letter "
                       "and not ending with '-'",
                       o->vault ? o->vault : c->vault);
    snprintf(c->kek_ident, sizeof c->kek_ident, "byok-kek-%s", c->region_lower);

    if ((rc = out_path(o->out, "BYOK-KEK-pkg-", o->region, "-1", r->kek_pkg, e)) ||
        (rc = out_path(o->out, "BYOK-SecurityWorld-pkg-", o->region, "-1", r->world_pkg, e)) ||
        (rc = out_path(o->out, "KeyTransfer-BYOK-Tools-", o->region, ".zip", r->zip, e)) ||
        (rc = out_path(o->out, "published-hashes.txt", "", "", r->hashes, e)))
        return rc;
    const char *outputs[] = {r->kek_pkg, r->world_pkg, r->zip, r->hashes};
    for (size_t i = 0; i < 4; i++)
        if (kt_path_exists(outputs[i]))
            return kt_fail(e, KT_EEXIST, "%s already exists; refusing to overwrite it", outputs[i]);
    char state_file[PATH_MAX];
    if ((rc = kek_state_path(o->state, KEK_STATE_FILE, state_file, sizeof state_file, e)))
        return rc;
    if (kt_path_exists(state_file))
        return kt_fail(e, KT_EEXIST,
                       "%s already holds a cloud; a cloud's KEK is never replaced (use another "
                       "--state folder)",
                       o->state);
    return KT_OK;
}

/* The cloud world: 1-of-1 card set whose PIN is a random secret in the state folder. */
static kt_rc make_world(init_ctx *c, kt_err *e)
{
    char pin_path[PATH_MAX], kmdata[PATH_MAX];
    uint8_t raw[24];
    kt_secbuf pin = {0};
    kt_rc rc;

    if ((rc = kek_state_path(c->state, KEK_PIN_FILE, pin_path, sizeof pin_path, e)) ||
        (rc = kek_state_path(c->state, "kmdata", kmdata, sizeof kmdata, e)) ||
        (rc = world_paths_init(&c->paths, kmdata, NULL, e)) ||
        (rc = kt_secbuf_alloc(&pin, 2 * sizeof raw + 1, e)))
        return rc;
    kt_random(raw, sizeof raw);
    kt_hex((char *)pin.p, raw, sizeof raw);
    kt_wipe(raw, sizeof raw);
    rc = kt_file_write(pin_path, pin.p, 2 * sizeof raw, KT_WRITE_NEW, e);
    kt_secbuf_free(&pin);
    if (rc != KT_OK)
        return rc;

    world_new_opts wo = {.k = 1,
                         .n = 1,
                         .kdf = WORLD_KDF_INTERACTIVE,
                         .pin = kek_state_pin,
                         .pin_ctx = (void *)(uintptr_t)c->state};
    world_info info;
    if ((rc = world_create(&c->paths, &wo, &info, NULL, e)) != KT_OK)
        return rc;
    return world_module_open(&c->paths, &c->module, e);
}

/* Generates a module-protected key with the given ACL and loads it back. */
static kt_rc make_key(init_ctx *c, world_key_type type, unsigned bits, const char *curve,
                      const char *app, const char *ident, const char *plainname, uint32_t actions,
                      world_key *out, kt_err *e)
{
    world_acl acl = {.ngroups = 1, .groups = {{.actions = actions}}};
    world_key_gen_opts g = {.type = type,
                            .bits = bits,
                            .curve = curve,
                            .app = app,
                            .ident = ident,
                            .plainname = plainname,
                            .acl = &acl};
    kt_rc rc = world_key_generate(&c->paths, &c->module, &g, NULL, e);
    if (rc == KT_OK && out != NULL)
        rc = world_key_load(&c->paths, &c->module, app, ident, out, e);
    return rc;
}

static kt_rc make_keys(init_ctx *c, kek_init_result *r, kt_err *e)
{
    kt_rc rc;
    if ((rc = make_key(c, WORLD_KEY_EC, 384, "P-384", KEK_APP_VENDOR, KEK_IDENT_WARRANT,
                       "module warrant key", WORLD_ACT_SIGN, &c->warrant, e)) != KT_OK)
        return rc;
    progress(c, 2);
    if ((rc = make_key(c, WORLD_KEY_EC, 384, "P-384", KEK_APP_VENDOR, KEK_IDENT_ATTEST,
                       "module attestation key", WORLD_ACT_SIGN, &c->attest, e)) != KT_OK)
        return rc;
    if ((rc = make_key(c, WORLD_KEY_RSA, c->o->kek_bits, NULL, KEK_APP_KEK, c->kek_ident,
                       "BYOK key exchange key", WORLD_ACT_IMPORT_UNWRAP, NULL, e)) != KT_OK)
        return rc;
    progress(c, 3);
    /* Only the KEK's public half leaves the module. */
    world_key_info info;
    if ((rc = world_key_inspect(&c->paths, &c->module, KEK_APP_KEK, c->kek_ident, &info, e)) ||
        (rc = kt_spki_decode(info.spki, info.spki_len, &c->kek_pub, e)) ||
        (rc = kt_spki_sha256(c->kek_pub, r->kek_fp, e)))
        return rc;
    r->kek_bits = c->o->kek_bits;
    return KT_OK;
}

static kt_rc make_certs(init_ctx *c, kt_err *e)
{
    const kek_vendor *v = c->o->vendor;
    uint64_t now = (uint64_t)time(NULL);
    char cn[PKG_CN_MAX + 1], path[PATH_MAX], dir[PATH_MAX];
    kt_rc rc;

    snprintf(cn, sizeof cn, "keytransfer DEMO module warrant %s", c->module.info.esn);
    pkg_cert_opts w = {.issuer = v->root,
                       .issuer_key = v->key,
                       .subject_key = c->warrant.pkey,
                       .cn = cn,
                       .org = "keytransfer demo HSM vendor",
                       .serial_number = c->module.info.esn,
                       .not_before = now - 3600,
                       .not_after = now + CERT_YEARS * 365ull * 86400,
                       .is_ca = true,
                       .path_len = 0,
                       .key_usage = PKG_KU_KEY_CERT_SIGN | PKG_KU_DIGITAL_SIGNATURE};
    if ((rc = pkg_x509_issue(&w, &c->warrant_cert, e)) != KT_OK)
        return rc;
    snprintf(cn, sizeof cn, "module %s attestation key", c->module.info.esn);
    pkg_cert_opts a = {.issuer = c->warrant_cert,
                       .issuer_key = c->warrant.pkey,
                       .subject_key = c->attest.pkey,
                       .cn = cn,
                       .org = "keytransfer demo HSM vendor",
                       .serial_number = c->module.info.esn,
                       .not_before = now - 3600,
                       .not_after = now + CERT_YEARS * 365ull * 86400,
                       .is_ca = false,
                       .path_len = -1,
                       .key_usage = PKG_KU_DIGITAL_SIGNATURE,
                       .ext_key_usage = PKG_EKU_ATTESTATION_OID};
    if ((rc = pkg_x509_issue(&a, &c->attest_cert, e)) != KT_OK)
        return rc;

    if ((rc = kek_state_path(c->state, "certs", dir, sizeof dir, e)) ||
        (rc = kt_dir_ensure(dir, e)))
        return rc;
    const struct {
        const char *name;
        X509 *cert;
    } certs[] = {{"vendor-root.pem", v->root},
                 {"module-warrant.pem", c->warrant_cert},
                 {"attestation.pem", c->attest_cert}};
    for (size_t i = 0; i < 3; i++)
        if ((rc = kek_state_path(dir, certs[i].name, path, sizeof path, e)) ||
            (rc = pkg_x509_save_pem(path, certs[i].cert, KT_WRITE_NEW, e)))
            return rc;
    return KT_OK;
}

static kt_rc sign_package(init_ctx *c, const char *payload, char **jws, kt_err *e)
{
    X509 *chain[3] = {c->attest_cert, c->warrant_cert, c->o->vendor->root};
    return pkg_jws_sign((const uint8_t *)payload, strlen(payload), c->attest.pkey, chain, 3, jws,
                        e);
}

static kt_rc make_packages(init_ctx *c, kek_init_result *r, kt_err *e)
{
    uint8_t version[16];
    char version_hex[33];
    char *json = NULL;
    pkg_kek_payload kp;
    pkg_world_payload wp;
    kt_rc rc;

    kt_random(version, sizeof version);
    kt_hex(version_hex, version, sizeof version);
    snprintf(r->kid, sizeof r->kid, "https://%s.vault.azure.net/keys/%s/%s", c->vault,
             KEK_NAME_DEFAULT, version_hex);
    if ((rc = pkg_kid_check(r->kid, e)) != KT_OK)
        return rc;

    memset(&kp, 0, sizeof kp);
    snprintf(kp.kid, sizeof kp.kid, "%s", r->kid);
    snprintf(kp.key_ops[0], sizeof kp.key_ops[0], "import");
    kp.n_key_ops = 1;
    kp.exportable = false;
    snprintf(kp.module_esn, sizeof kp.module_esn, "%s", c->module.info.esn);
    snprintf(kp.region, sizeof kp.region, "%s", c->o->region);
    memcpy(kp.world_hash, c->module.info.hash, 32);
    kp.created = (uint64_t)time(NULL);
    if ((rc = pkg_kek_payload_set_key(&kp, c->kek_pub, e)) == KT_OK &&
        (rc = pkg_kek_payload_build(&kp, &json, e)) == KT_OK)
        rc = sign_package(c, json, &c->kek_jws, e);
    pkg_kek_payload_free(&kp);
    free(json);
    json = NULL;
    if (rc != KT_OK)
        return rc;

    memset(&wp, 0, sizeof wp);
    memcpy(wp.world_hash, c->module.info.hash, 32);
    snprintf(wp.region, sizeof wp.region, "%s", c->o->region);
    snprintf(wp.cipher_suite, sizeof wp.cipher_suite, "%s", c->module.info.suite);
    snprintf(wp.module_esns[0], sizeof wp.module_esns[0], "%s", c->module.info.esn);
    wp.n_module_esns = 1;
    wp.created = kp.created;
    if ((rc = pkg_world_payload_build(&wp, &json, e)) == KT_OK)
        rc = sign_package(c, json, &c->world_jws, e);
    free(json);
    return rc;
}

static kt_rc write_state(init_ctx *c, const kek_init_result *r, kt_err *e)
{
    char path[PATH_MAX], world_hex[65], *text = NULL;
    kt_hex(world_hex, c->module.info.hash, 32);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "format", KEK_STATE_FORMAT, "region",
                          c->o->region, "vault", c->vault, "kid", r->kid, "kek_ident", c->kek_ident,
                          "world_hash", world_hex);
    kt_rc rc = j ? kt_json_dump(j, true, &text, e) : kt_fail(e, KT_ENOMEM, "out of memory");
    json_decref(j);
    if (rc == KT_OK &&
        (rc = kek_state_path(c->state, KEK_STATE_FILE, path, sizeof path, e)) == KT_OK)
        rc = kt_file_write(path, text, strlen(text), KT_WRITE_NEW, e);
    free(text);
    return rc;
}

/* The downloads, staged into the output folder (entry 1 of the change). */
static kt_rc publish(init_ctx *c, kek_init_result *r, kt_err *e)
{
    kt_buf script = {0}, zip = {0};
    char readme[1024], kek_name[64], world_name[64], zip_name[64];
    char *hashes = NULL;
    kt_rc rc;

    snprintf(kek_name, sizeof kek_name, "BYOK-KEK-pkg-%s-1", c->o->region);
    snprintf(world_name, sizeof world_name, "BYOK-SecurityWorld-pkg-%s-1", c->o->region);
    snprintf(zip_name, sizeof zip_name, "KeyTransfer-BYOK-Tools-%s.zip", c->o->region);
    if ((rc = kt_txn_put(c->txn, 1, kek_name, c->kek_jws, strlen(c->kek_jws), KT_TXN_NEW, e)) ||
        (rc = kt_txn_put(c->txn, 1, world_name, c->world_jws, strlen(c->world_jws), KT_TXN_NEW, e)))
        return rc;
    snprintf(readme, sizeof readme, "%s", TOOLSET_README);

    pkg_zip_entry entries[4] = {
        {kek_name, (const uint8_t *)c->kek_jws, strlen(c->kek_jws)},
        {world_name, (const uint8_t *)c->world_jws, strlen(c->world_jws)},
        {"README.txt", (const uint8_t *)readme, strlen(readme)},
    };
    size_t n = 3;
    if (c->o->verify_script != NULL) {
        if ((rc = kt_file_read(c->o->verify_script, 1024 * 1024, &script, e)) != KT_OK)
            return rc;
        entries[n++] = (pkg_zip_entry){"verifykeypackage.py", script.p, script.len};
    } else {
        entries[n++] =
            (pkg_zip_entry){"verifykeypackage.py", kek_verify_script, kek_verify_script_len};
    }
    if ((rc = pkg_zip_build(entries, n, &zip, e)) == KT_OK &&
        (rc = kt_txn_put(c->txn, 1, zip_name, zip.p, zip.len, KT_TXN_NEW, e)) == KT_OK) {
        pkg_hash_row row;
        memset(&row, 0, sizeof row);
        snprintf(row.region, sizeof row.region, "%s", c->o->region);
        snprintf(row.file, sizeof row.file, "%s", zip_name);
        kt_sha256(row.sha256, zip.p, zip.len);
        memcpy(r->zip_sha256, row.sha256, 32);
        if ((rc = pkg_hashes_write(&row, 1, &hashes, e)) == KT_OK)
            rc = kt_txn_put(c->txn, 1, "published-hashes.txt", hashes, strlen(hashes), KT_TXN_NEW,
                            e);
    }
    free(hashes);
    kt_buf_free(&zip);
    kt_buf_free(&script);
    return rc;
}

/* The state folder's parent and last component. */
static kt_rc split_state(const char *state, char *parent, char *name, kt_err *e)
{
    size_t len = strlen(state);
    while (len > 1 && state[len - 1] == '/')
        len--;
    const char *end = state + len, *slash = NULL;
    for (const char *q = state; q < end; q++)
        if (*q == '/')
            slash = q;
    const char *base = slash != NULL ? slash + 1 : state;
    size_t blen = (size_t)(end - base);
    if (blen == 0 || blen > NAME_MAX || (blen == 1 && base[0] == '.') ||
        (blen == 2 && base[0] == '.' && base[1] == '.'))
        return kt_fail(e, KT_EUSAGE, "'%s' does not name a state folder", state);
    memcpy(name, base, blen);
    name[blen] = '\0';
    if (slash == NULL)
        snprintf(parent, PATH_MAX, ".");
    else if (slash == state)
        snprintf(parent, PATH_MAX, "/");
    else if ((size_t)(slash - state) >= PATH_MAX)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", state);
    else
        snprintf(parent, PATH_MAX, "%.*s", (int)(slash - state), state);
    return KT_OK;
}

static void report_note(void *ctx, const char *what, bool completed, const char *line)
{
    const init_ctx *c = ctx;
    if (c->o->report != NULL)
        c->o->report(c->o->report_ctx, what, completed, line);
}

kt_rc kek_cloud_init(const kek_init_opts *o, kek_init_result *r, kt_err *e)
{
    init_ctx c;
    char parent[PATH_MAX], name[NAME_MAX + 1];
    bool committed = false;
    kt_rc rc;

    memset(&c, 0, sizeof c);
    memset(r, 0, sizeof *r);
    c.o = o;
    if (o->vendor == NULL || o->out == NULL || o->state == NULL)
        return kt_fail(e, KT_EUSAGE, "init needs a vendor, an output folder and a state folder");
    /* One change of the commit protocol: the state is built in a staged folder beside the state
     * folder, the downloads are staged in the output folder, and all of it appears at once. An
     * interrupted earlier init of this state folder is finished or undone first. */
    if ((rc = split_state(o->state, parent, name, e)) || (rc = kt_dir_ensure(parent, e)) ||
        (rc = kt_dir_ensure(o->out, e)) || (rc = kt_txn_recover(parent, report_note, &c, e)) ||
        (rc = plan(&c, r, e)))
        return rc;
    const char *dirs[2] = {parent, o->out};
    char what[64];
    snprintf(what, sizeof what, "keytransfer-cloud init %.32s", name);
    if ((rc = kt_txn_begin(&c.txn, what, dirs, 2, true, report_note, &c, e)) ||
        (rc = kt_txn_put_dir(c.txn, 0, name, c.state, e)))
        goto out;
    progress(&c, 0);
    if ((rc = make_world(&c, e)) == KT_OK) {
        progress(&c, 1);
        rc = make_keys(&c, r, e);
    }
    if (rc == KT_OK && (rc = make_certs(&c, e)) == KT_OK) {
        progress(&c, 4);
        rc = make_packages(&c, r, e);
    }
    if (rc == KT_OK && (rc = write_state(&c, r, e)) == KT_OK) {
        progress(&c, 5);
        rc = publish(&c, r, e);
    }
    if (rc == KT_OK)
        rc = kt_txn_commit(c.txn, &committed, e);
    if (committed) {
        memcpy(r->world_hash, c.module.info.hash, 32);
        memcpy(r->esn, c.module.info.esn, sizeof r->esn);
        r->committed = true;
        if (rc == KT_OK)
            progress(&c, 6);
    }
out:
    kt_txn_free(c.txn); /* undoes the staging unless committed: nothing is left behind */
    init_ctx_free(&c);
    return rc;
}
