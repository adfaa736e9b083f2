/*
 * session.c - reaching a token: the PKCS#11 URI (RFC 7512, parsed by p11-kit), the module
 * (p11_kit_module_load for module-path, p11-kit's configuration for module-name), the one token
 * the URI matches, the read-write session, login and logout, the mechanism list.
 */
#include "token_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

/* Copies a blank-padded CK_UTF8CHAR field into a NUL-terminated string without the padding. */
static void unpad(char *out, const CK_UTF8CHAR *in, size_t n)
{
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\0'))
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? (char)in[i] : '?';
    out[n] = '\0';
}

static kt_rc parse_uri(const char *uri, P11KitUri **out, kt_err *e)
{
    P11KitUri *u;
    int r;

    *out = NULL;
    if (uri == NULL || strlen(uri) > TOKEN_URI_MAX)
        return kt_fail(e, KT_EUSAGE, "a token URI of at most %d characters is required",
                       TOKEN_URI_MAX);
    if ((u = p11_kit_uri_new()) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if ((r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u)) != P11_KIT_URI_OK) {
        p11_kit_uri_free(u);
        return kt_fail(e, KT_EUSAGE, "'%s' is not a PKCS#11 URI (RFC 7512): %s", uri,
                       p11_kit_uri_message(r));
    }
    if (p11_kit_uri_get_pin_value(u) != NULL || p11_kit_uri_get_pin_source(u) != NULL) {
        p11_kit_uri_free(u);
        return kt_fail(e, KT_EUSAGE,
                       "the token URI carries a PIN (pin-value or pin-source): keytransfer never "
                       "takes a PIN from the command line; remove it and give the PIN at the "
                       "prompt, with --pin-file or with --pin-fd");
    }
    CK_ULONG nattrs = 0;
    (void)p11_kit_uri_get_attributes(u, &nattrs);
    if (nattrs > 0) {
        p11_kit_uri_free(u);
        return kt_fail(e, KT_EUSAGE,
                       "the token URI names an object (id, object or type): it names the token "
                       "only; the key is given with --ident");
    }
    if (p11_kit_uri_any_unrecognized(u)) {
        p11_kit_uri_free(u);
        return kt_fail(e, KT_EUSAGE, "the token URI has attributes keytransfer does not know");
    }
    const char *path = p11_kit_uri_get_module_path(u);
    const char *name = p11_kit_uri_get_module_name(u);
    if (path == NULL && name == NULL) {
        p11_kit_uri_free(u);
        return kt_fail(e, KT_EUSAGE,
                       "the token URI names no module: add ?module-path=/path/to/module.so or "
                       "?module-name=NAME (a module configured in p11-kit)");
    }
    if (path != NULL && name != NULL) {
        p11_kit_uri_free(u);
        return kt_fail(e, KT_EUSAGE, "the token URI names module-path and module-name: give one");
    }
    if (path != NULL && path[0] != '/') {
        kt_rc rc = kt_fail(e, KT_EUSAGE, "module-path must be an absolute path, not '%s'", path);
        p11_kit_uri_free(u);
        return rc;
    }
    *out = u;
    return KT_OK;
}

kt_rc token_uri_check(const char *uri, kt_err *e)
{
    P11KitUri *u;
    kt_rc rc = parse_uri(uri, &u, e);
    if (rc == KT_OK)
        p11_kit_uri_free(u);
    return rc;
}

static kt_rc load_module(token *t, P11KitUri *u, kt_err *e)
{
    const char *path = p11_kit_uri_get_module_path(u);
    const char *name = p11_kit_uri_get_module_name(u);
    CK_RV rv;

    if (path != NULL) {
        snprintf(t->info.module, sizeof t->info.module, "%s", path);
        t->module = p11_kit_module_load(path, 0);
        if (t->module == NULL) {
            const char *why = p11_kit_message();
            return kt_fail(e, KT_EIO, "cannot load the PKCS#11 module %s: %s", path,
                           why != NULL ? why : "p11-kit gives no reason");
        }
    } else {
        snprintf(t->info.module, sizeof t->info.module, "p11-kit module %s", name);
        t->all = p11_kit_modules_load(NULL, 0);
        if (t->all == NULL) {
            const char *why = p11_kit_message();
            return kt_fail(e, KT_EIO, "cannot load the PKCS#11 modules p11-kit has configured: %s",
                           why != NULL ? why : "p11-kit gives no reason");
        }
        t->module = p11_kit_module_for_name(t->all, name);
        if (t->module == NULL)
            return kt_fail(e, KT_EIO,
                           "p11-kit has no module named %s configured (see p11-kit list-modules "
                           "and pkcs11.conf(5))",
                           name);
    }
    if ((rv = p11_kit_module_initialize(t->module)) != CKR_OK) {
        kt_rc rc = token_rv_fail(e, rv, "C_Initialize");
        kt_err_prefix(e, "PKCS#11 module %s", t->info.module);
        t->module_failed = true;
        return rc;
    }
    t->initialized = true;
    return KT_OK;
}

static kt_rc find_slot(token *t, P11KitUri *u, const char *uri, kt_err *e)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    CK_RV rv;
    size_t found = 0;
    char seen[512] = "";

    if ((rv = t->f->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
        return token_rv_fail(e, rv, "C_GetSlotList");
    if (n > 0 && (slots = calloc(n, sizeof *slots)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if (n > 0 && (rv = t->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
        free(slots);
        return token_rv_fail(e, rv, "C_GetSlotList");
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (t->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        char label[33], serial[17];
        unpad(label, ti.label, sizeof ti.label);
        unpad(serial, ti.serialNumber, sizeof ti.serialNumber);
        size_t used = strlen(seen);
        if (used + 80 < sizeof seen)
            snprintf(seen + used, sizeof seen - used, "%s\"%s\" (serial %s)", used ? ", " : "",
                     label, serial);
        if (p11_kit_uri_match_token_info(u, &ti) != 1)
            continue;
        if (found++ == 0) {
            t->slot = slots[i];
            memcpy(t->info.label, label, sizeof label);
            memcpy(t->info.serial, serial, sizeof serial);
            unpad(t->info.manufacturer, ti.manufacturerID, sizeof ti.manufacturerID);
            unpad(t->info.model, ti.model, sizeof ti.model);
            t->token_flags = ti.flags;
        }
    }
    free(slots);
    if (found == 0)
        return kt_fail(e, KT_ENOENT, "no token of %s matches %s (tokens present: %s)",
                       t->info.module, uri, seen[0] ? seen : "none");
    if (found > 1)
        return kt_fail(e, KT_EUSAGE,
                       "%zu tokens of %s match %s: name one, for example with serial= (tokens "
                       "present: %s)",
                       found, t->info.module, uri, seen);
    return KT_OK;
}

kt_rc token_open(const char *uri, token **out, kt_err *e)
{
    P11KitUri *u = NULL;
    token *t;
    kt_rc rc;
    CK_RV rv;

    *out = NULL;
    if ((rc = parse_uri(uri, &u, e)) != KT_OK)
        return rc;
    if ((t = calloc(1, sizeof *t)) == NULL) {
        p11_kit_uri_free(u);
        return kt_fail(e, KT_ENOMEM, "out of memory");
    }
    t->session = CK_INVALID_HANDLE;
    t->session_key = CK_INVALID_HANDLE;
    if ((rc = load_module(t, u, e)) != KT_OK)
        goto fail;
    t->f = t->module;
    if ((rc = find_slot(t, u, uri, e)) != KT_OK)
        goto fail;
    if (!(t->token_flags & CKF_TOKEN_INITIALIZED)) {
        rc = kt_fail(e, KT_EDENIED, "token \"%s\" is not initialized", t->info.label);
        goto fail;
    }
    rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t->session);
    if (rv != CKR_OK) {
        rc = token_rv_fail(e, rv, "C_OpenSession");
        kt_err_prefix(e, "token \"%s\"", t->info.label);
        goto fail;
    }
    p11_kit_uri_free(u);
    *out = t;
    return KT_OK;
fail:
    p11_kit_uri_free(u);
    token_close(t);
    return rc;
}

void token_close(token *t)
{
    if (t == NULL)
        return;
    if (t->session != CK_INVALID_HANDLE) {
        if (t->session_key != CK_INVALID_HANDLE)
            (void)t->f->C_DestroyObject(t->session, t->session_key);
        if (t->logged_in)
            (void)t->f->C_Logout(t->session);
        (void)t->f->C_CloseSession(t->session);
    }
    if (t->module != NULL && t->initialized)
        (void)p11_kit_module_finalize(t->module);
    if (t->all != NULL)
        p11_kit_modules_release(t->all);
    else if (t->module != NULL)
        p11_kit_module_release(t->module);
    free(t);
}

const token_info *token_get_info(const token *t)
{
    return &t->info;
}

void token_identity_hash(const token *t, uint8_t out[32])
{
    static const char domain[] = "keytransfer token id v1";
    const char *parts[] = {t->info.manufacturer, t->info.model, t->info.serial};
    uint8_t buf[sizeof domain + 3 * (1 + 33)];
    size_t n = 0;

    memcpy(buf, domain, sizeof domain - 1);
    n = sizeof domain - 1;
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(parts[i]);
        buf[n++] = (uint8_t)l;
        memcpy(buf + n, parts[i], l);
        n += l;
    }
    kt_sha256(out, buf, n);
}

kt_rc token_login(token *t, bool so, const kt_secbuf *pin, kt_err *e)
{
    CK_RV rv;
    const char *who = so ? "the Security Officer" : "the user";

    if (t->logged_in && (rv = t->f->C_Logout(t->session)) != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
        return token_rv_fail(e, rv, "C_Logout");
    t->logged_in = false;
    t->logged_in_so = false;
    rv = t->f->C_Login(t->session, so ? CKU_SO : CKU_USER, pin->p, pin->len);
    if (rv == CKR_PIN_INCORRECT)
        return kt_fail(e, KT_EPIN, "wrong PIN for %s of token \"%s\" (CKR_PIN_INCORRECT)", who,
                       t->info.label);
    if (rv == CKR_PIN_LOCKED)
        return kt_fail(e, KT_EPIN,
                       "the PIN of %s of token \"%s\" is locked after too many wrong tries "
                       "(CKR_PIN_LOCKED)%s",
                       who, t->info.label,
                       so ? ": the token must be re-initialized"
                          : ": the Security Officer must unlock it");
    if (rv != CKR_OK) {
        kt_rc rc = token_rv_fail(e, rv, "C_Login");
        kt_err_prefix(e, "logging in %s of token \"%s\"", who, t->info.label);
        return rc;
    }
    t->logged_in = true;
    t->logged_in_so = so;
    return KT_OK;
}

kt_rc token_logout(token *t, kt_err *e)
{
    CK_RV rv;
    if (!t->logged_in)
        return KT_OK;
    t->logged_in = false;
    t->logged_in_so = false;
    rv = t->f->C_Logout(t->session);
    if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
        return token_rv_fail(e, rv, "C_Logout");
    return KT_OK;
}

kt_rc token_mechanisms(token *t, unsigned long **mechs, size_t *n, kt_err *e)
{
    CK_ULONG count = 0;
    CK_MECHANISM_TYPE *v = NULL;
    CK_RV rv;

    *mechs = NULL;
    *n = 0;
    if ((rv = t->f->C_GetMechanismList(t->slot, NULL, &count)) != CKR_OK)
        return token_rv_fail(e, rv, "C_GetMechanismList");
    if (count > 4096)
        return kt_fail(e, KT_EFORMAT, "the token lists %lu mechanisms", (unsigned long)count);
    if ((v = calloc(count + 1, sizeof *v)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if ((rv = t->f->C_GetMechanismList(t->slot, v, &count)) != CKR_OK) {
        free(v);
        return token_rv_fail(e, rv, "C_GetMechanismList");
    }
    _Static_assert(sizeof(CK_MECHANISM_TYPE) == sizeof(unsigned long), "CK_ULONG is unsigned long");
    *mechs = (unsigned long *)v;
    *n = count;
    return KT_OK;
}

kt_rc token_need_mech(token *t, CK_MECHANISM_TYPE m, CK_FLAGS flags, const char *why, kt_err *e)
{
    CK_MECHANISM_INFO mi;
    char buf[32];
    CK_RV rv = t->f->C_GetMechanismInfo(t->slot, m, &mi);

    if (rv == CKR_OK && (mi.flags & flags) == flags)
        return KT_OK;
    if (rv != CKR_OK && rv != CKR_MECHANISM_INVALID)
        return token_rv_fail(e, rv, "C_GetMechanismInfo");
    return kt_fail(e, KT_EDENIED, "token \"%s\" (%s) does not offer %s%s, which %s", t->info.label,
                   t->info.module, token_mech_name(m, buf, sizeof buf),
                   rv == CKR_OK ? " for this use" : "", why);
}

bool token_has_mech(token *t, CK_MECHANISM_TYPE m, CK_FLAGS flags)
{
    CK_MECHANISM_INFO mi;
    return t->f->C_GetMechanismInfo(t->slot, m, &mi) == CKR_OK && (mi.flags & flags) == flags;
}
