/*
 * shim.c - a PKCS#11 module for the tests only: it forwards every call to another module
 * (KT_SHIM_MODULE, default SoftHSMv2) and changes what the environment asks for, so that
 * tests/cli/test_token.sh can show what SoftHSMv2 alone cannot:
 *
 *   KT_SHIM_HIDE=0x210a,0x1054   these mechanisms are not offered (C_GetMechanismList leaves
 *                                them out, C_GetMechanismInfo says CKR_MECHANISM_INVALID): the
 *                                "token without the required mechanisms"
 *   KT_SHIM_KILL_WRAP=N          the process kills itself (SIGKILL) at the Nth C_WrapKey call:
 *                                a kill while the session key exists
 *   KT_SHIM_LOGIN_RV=0xa4        C_Login returns this code (0xa4: CKR_PIN_LOCKED, which SoftHSM
 *                                never returns: it does not count wrong PINs)
 *   KT_SHIM_FAIL_WRAP=N          the Nth C_WrapKey call fails with CKR_DEVICE_ERROR: a failure
 *                                while the session key exists
 *   KT_SHIM_FIX_KWP=1            a token whose CKM_AES_KEY_WRAP_PAD follows RFC 5649 (SoftHSM
 *                                2.6.1's pads the input with zeros itself first): the shim
 *                                plays the HSM, taking the forwarded result apart with the
 *                                wrapping key and wrapping the key again with OpenSSL. To read
 *                                that key, session AES keys are made with CKA_SENSITIVE false.
 *
 * It is a test fixture: it sees key material when KT_SHIM_FIX_KWP is set, as an HSM does.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *real;
static CK_FUNCTION_LIST shim;
static unsigned long hidden[16];
static size_t nhidden;
static unsigned wraps;

static bool is_hidden(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < nhidden; i++)
        if (hidden[i] == m)
            return true;
    return false;
}

static CK_RV shim_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
    CK_ULONG n = 0;
    CK_RV rv = real->C_GetMechanismList(slot, NULL, &n);
    if (rv != CKR_OK)
        return rv;
    CK_MECHANISM_TYPE *all = calloc(n + 1, sizeof *all);
    if (all == NULL)
        return CKR_HOST_MEMORY;
    if ((rv = real->C_GetMechanismList(slot, all, &n)) != CKR_OK) {
        free(all);
        return rv;
    }
    CK_ULONG kept = 0;
    for (CK_ULONG i = 0; i < n; i++)
        if (!is_hidden(all[i]))
            all[kept++] = all[i];
    if (list != NULL) {
        if (*count < kept) {
            *count = kept;
            free(all);
            return CKR_BUFFER_TOO_SMALL;
        }
        memcpy(list, all, kept * sizeof *all);
    }
    *count = kept;
    free(all);
    return CKR_OK;
}

static CK_RV shim_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE m, CK_MECHANISM_INFO *info)
{
    if (is_hidden(m))
        return CKR_MECHANISM_INVALID;
    return real->C_GetMechanismInfo(slot, m, info);
}

static bool fix_kwp(void)
{
    const char *v = getenv("KT_SHIM_FIX_KWP");
    return v != NULL && strcmp(v, "1") == 0;
}

/* With KT_SHIM_FIX_KWP: session AES keys are made readable, so that the shim can wrap with
 * them itself. */
static CK_RV shim_generate_key(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                               CK_OBJECT_HANDLE *h)
{
    if (m != NULL && is_hidden(m->mechanism))
        return CKR_MECHANISM_INVALID;
    if (!fix_kwp())
        return real->C_GenerateKey(s, m, tmpl, n, h);
    CK_ATTRIBUTE *copy = calloc(n + 1, sizeof *copy);
    CK_BBOOL no = CK_FALSE;
    bool session = false;
    if (copy == NULL)
        return CKR_HOST_MEMORY;
    memcpy(copy, tmpl, n * sizeof *copy);
    for (CK_ULONG i = 0; i < n; i++)
        if (copy[i].type == CKA_TOKEN && copy[i].pValue != NULL &&
            *(CK_BBOOL *)copy[i].pValue == CK_FALSE)
            session = true;
    for (CK_ULONG i = 0; session && i < n; i++)
        if (copy[i].type == CKA_SENSITIVE)
            copy[i].pValue = &no;
    CK_RV rv = real->C_GenerateKey(s, m, copy, n, h);
    free(copy);
    return rv;
}

/* With KT_SHIM_FIX_KWP: session secret keys (the probe's) are made extractable, so that the shim
 * can read the probe's wrapping key. */
static CK_RV shim_create_object(CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                                CK_OBJECT_HANDLE *h)
{
    if (!fix_kwp())
        return real->C_CreateObject(s, tmpl, n, h);
    CK_ATTRIBUTE *copy = calloc(n + 1, sizeof *copy);
    CK_BBOOL yes = CK_TRUE;
    bool found = false;
    if (copy == NULL)
        return CKR_HOST_MEMORY;
    memcpy(copy, tmpl, n * sizeof *copy);
    for (CK_ULONG i = 0; i < n; i++)
        if (copy[i].type == CKA_EXTRACTABLE) {
            copy[i].pValue = &yes;
            found = true;
        }
    if (!found)
        copy[n++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &yes, sizeof yes};
    CK_RV rv = real->C_CreateObject(s, copy, n, h);
    free(copy);
    return rv;
}

/* The length of a DER SEQUENCE at p (PKCS#8), or 0. */
static size_t der_len(const uint8_t *p, size_t n)
{
    if (n < 2 || p[0] != 0x30)
        return 0;
    if (p[1] < 0x80)
        return 2 + (size_t)p[1];
    size_t k = p[1] & 0x7f, len = 0;
    if (k == 0 || k > 3 || n < 2 + k)
        return 0;
    for (size_t i = 0; i < k; i++)
        len = (len << 8) | p[2 + i];
    return 2 + k + len <= n ? 2 + k + len : 0;
}

static const EVP_CIPHER *kwp_cipher(size_t keylen)
{
    return keylen == 16   ? EVP_aes_128_wrap_pad()
           : keylen == 24 ? EVP_aes_192_wrap_pad()
           : keylen == 32 ? EVP_aes_256_wrap_pad()
                          : NULL;
}

/* RFC 5649 with OpenSSL, one direction. */
static bool kwp(bool enc, const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                uint8_t *out, size_t *outlen)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    bool ok = c != NULL && kwp_cipher(keylen) != NULL &&
              EVP_CipherInit_ex(c, kwp_cipher(keylen), NULL, key, NULL, enc ? 1 : 0) == 1 &&
              EVP_CipherUpdate(c, out, &l1, in, (int)inlen) == 1 &&
              EVP_CipherFinal_ex(c, out + l1, &l2) == 1;
    EVP_CIPHER_CTX_free(c);
    *outlen = (size_t)(l1 + l2);
    return ok;
}

static CK_RV fixed_kwp(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping,
                       CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *outlen)
{
    uint8_t k[32], buggy[8192], plain[8192], good[8200];
    CK_ATTRIBUTE ka = {CKA_VALUE, k, sizeof k};
    CK_ULONG blen = sizeof buggy;
    CK_OBJECT_CLASS cls = 0;
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE ca[] = {{CKA_CLASS, &cls, sizeof cls}};
    size_t plen, glen, len;
    CK_RV rv;

    if ((rv = real->C_GetAttributeValue(s, wrapping, &ka, 1)) != CKR_OK)
        return rv;
    if ((rv = real->C_WrapKey(s, m, wrapping, key, buggy, &blen)) != CKR_OK)
        return rv;
    if (!kwp(false, k, ka.ulValueLen, buggy, blen, plain, &plen))
        return CKR_FUNCTION_FAILED;
    if (real->C_GetAttributeValue(s, key, ca, 1) != CKR_OK)
        return CKR_FUNCTION_FAILED;
    if (cls == CKO_SECRET_KEY) {
        CK_ATTRIBUTE va = {CKA_VALUE_LEN, &vlen, sizeof vlen};
        if (real->C_GetAttributeValue(s, key, &va, 1) != CKR_OK)
            return CKR_FUNCTION_FAILED;
        len = vlen;
    } else {
        len = der_len(plain, plen);
    }
    if (len == 0 || len > plen || !kwp(true, k, ka.ulValueLen, plain, len, good, &glen))
        return CKR_FUNCTION_FAILED;
    OPENSSL_cleanse(plain, sizeof plain);
    OPENSSL_cleanse(k, sizeof k);
    if (out == NULL) {
        *outlen = glen;
        return CKR_OK;
    }
    if (*outlen < glen) {
        *outlen = glen;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(out, good, glen);
    *outlen = glen;
    return CKR_OK;
}

static CK_RV shim_wrap_key(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping,
                           CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *outlen)
{
    const char *kill_at = getenv("KT_SHIM_KILL_WRAP");
    wraps++;
    const char *fail_at = getenv("KT_SHIM_FAIL_WRAP");
    if (kill_at != NULL && strtoul(kill_at, NULL, 10) == wraps)
        raise(SIGKILL);
    if (fail_at != NULL && strtoul(fail_at, NULL, 10) == wraps)
        return CKR_DEVICE_ERROR;
    if (m != NULL && is_hidden(m->mechanism))
        return CKR_MECHANISM_INVALID;
    if (m != NULL && m->mechanism == CKM_AES_KEY_WRAP_PAD && fix_kwp())
        return fixed_kwp(s, m, wrapping, key, out, outlen);
    return real->C_WrapKey(s, m, wrapping, key, out, outlen);
}

static CK_RV shim_login(CK_SESSION_HANDLE s, CK_USER_TYPE who, CK_UTF8CHAR *pin, CK_ULONG len)
{
    const char *rv = getenv("KT_SHIM_LOGIN_RV");
    if (rv != NULL)
        return strtoul(rv, NULL, 16);
    return real->C_Login(s, who, pin, len);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list);

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list)
{
    if (real == NULL) {
        const char *path = getenv("KT_SHIM_MODULE");
        void *h =
            dlopen(path != NULL ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
        CK_C_GetFunctionList get;
        if (h == NULL)
            return CKR_GENERAL_ERROR;
        *(void **)(&get) = dlsym(h, "C_GetFunctionList");
        if (get == NULL || get(&real) != CKR_OK)
            return CKR_GENERAL_ERROR;
        const char *hide = getenv("KT_SHIM_HIDE");
        while (hide != NULL && *hide != '\0' && nhidden < 16) {
            char *end;
            hidden[nhidden++] = strtoul(hide, &end, 16);
            hide = *end == ',' ? end + 1 : end;
            if (end == hide && *end != '\0')
                break;
        }
        shim = *real;
        shim.C_GetMechanismList = shim_get_mechanism_list;
        shim.C_GetMechanismInfo = shim_get_mechanism_info;
        shim.C_GenerateKey = shim_generate_key;
        shim.C_CreateObject = shim_create_object;
        shim.C_Login = shim_login;
        shim.C_WrapKey = shim_wrap_key;
    }
    *list = &shim;
    return CKR_OK;
}
