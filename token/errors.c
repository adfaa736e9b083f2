/*
 * errors.c - every CKR_ code a token can return, with its name, what it means for the user and
 * the kt_rc (so the exit status) it maps to; and the names of the mechanisms keytransfer asks for.
 */
#include "token.h"

#include <stdio.h>

#include <p11-kit/pkcs11.h>

typedef struct rv_entry {
    CK_RV rv;
    const char *name;
    kt_rc rc;
    const char *meaning;
} rv_entry;

/* PKCS#11 v2.40 §3.6 (Return values), the codes a token can return to these calls. */
static const rv_entry rvs[] = {
    {CKR_CANCEL, "CKR_CANCEL", KT_EIO, "the operation was cancelled"},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY", KT_ENOMEM, "the module ran out of memory"},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", KT_EIO, "the slot is gone"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", KT_EIO, "the token failed (general error)"},
    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", KT_EIO, "the token could not do it"},
    {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", KT_EDENIED,
     "the token does not accept these parameters (not offered)"},
    {CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY", KT_EDENIED,
     "an attribute may not be set in this login (CKA_TRUSTED needs the Security Officer)"},
    {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE", KT_EDENIED,
     "the token will not reveal a sensitive attribute"},
    {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID", KT_EDENIED,
     "the token does not know an attribute"},
    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", KT_EDENIED,
     "the token does not accept an attribute value"},
    {CKR_DATA_INVALID, "CKR_DATA_INVALID", KT_EFORMAT, "the data are not valid"},
    {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE", KT_EFORMAT, "the data have the wrong length"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", KT_EIO, "the device failed"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", KT_EIO, "the token is out of memory"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", KT_EIO, "the token was removed"},
    {CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED", KT_EIO, "the function was cancelled"},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED", KT_EDENIED,
     "the module does not offer this function"},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID", KT_EIO, "a key handle is no longer valid"},
    {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", KT_EDENIED,
     "the token does not offer this key size"},
    {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT", KT_EDENIED,
     "the key's type does not fit the mechanism"},
    {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED", KT_EDENIED,
     "the key's attributes do not permit this"},
    {CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE", KT_EDENIED,
     "the token refuses to wrap the key with this wrapping key (CKA_WRAP_WITH_TRUSTED needs a "
     "trusted wrapping key)"},
    {CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE", KT_EDENIED,
     "the key is not extractable (CKA_EXTRACTABLE false)"},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", KT_EDENIED,
     "the token does not offer the mechanism"},
    {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID", KT_EDENIED,
     "the token does not offer the mechanism with these parameters"},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", KT_EIO,
     "an object handle is no longer valid"},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", KT_EIO, "another operation is active"},
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", KT_EPIN, "wrong PIN"},
    {CKR_PIN_INVALID, "CKR_PIN_INVALID", KT_EPIN, "the PIN has characters the token refuses"},
    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", KT_EPIN, "the PIN is too long or too short"},
    {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", KT_EPIN, "the PIN has expired: set a new one first"},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED", KT_EPIN,
     "the PIN is locked after too many wrong tries: the Security Officer must unlock it"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", KT_EIO, "the session was closed"},
    {CKR_SESSION_COUNT, "CKR_SESSION_COUNT", KT_EIO, "the token has too many sessions open"},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", KT_EIO,
     "the session is no longer valid"},
    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", KT_EDENIED, "the session is read-only"},
    {CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS", KT_EDENIED,
     "a read-only session exists, so the Security Officer cannot log in"},
    {CKR_SESSION_READ_WRITE_SO_EXISTS, "CKR_SESSION_READ_WRITE_SO_EXISTS", KT_EDENIED,
     "a Security Officer session exists"},
    {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE", KT_EDENIED,
     "the token wants attributes keytransfer did not give"},
    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT", KT_EDENIED,
     "the token does not accept this combination of attributes"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", KT_EIO, "the token is not present"},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED", KT_EIO,
     "the module does not recognise the token"},
    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", KT_EDENIED,
     "the token is write-protected"},
    {CKR_UNWRAPPING_KEY_HANDLE_INVALID, "CKR_UNWRAPPING_KEY_HANDLE_INVALID", KT_EIO,
     "the unwrapping key is no longer valid"},
    {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN", KT_EDENIED,
     "somebody is already logged in to the token"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN", KT_EDENIED, "nobody is logged in"},
    {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED", KT_EDENIED,
     "the token's user PIN is not set (initialize the token first)"},
    {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID", KT_EDENIED, "the token has no such user"},
    {CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", KT_EDENIED,
     "another user is logged in to the token (log it out first)"},
    {CKR_USER_TOO_MANY_TYPES, "CKR_USER_TOO_MANY_TYPES", KT_EDENIED,
     "too many users are logged in"},
    {CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID", KT_EFORMAT, "the wrapped key is invalid"},
    {CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE", KT_EFORMAT,
     "the wrapped key has the wrong length"},
    {CKR_WRAPPING_KEY_HANDLE_INVALID, "CKR_WRAPPING_KEY_HANDLE_INVALID", KT_EIO,
     "the wrapping key is no longer valid"},
    {CKR_WRAPPING_KEY_SIZE_RANGE, "CKR_WRAPPING_KEY_SIZE_RANGE", KT_EDENIED,
     "the token does not offer wrapping with a key of this size"},
    {CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT", KT_EDENIED,
     "the wrapping key's type does not fit the mechanism"},
    {CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG", KT_EIO, "the token has no random number generator"},
    {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID", KT_EDENIED,
     "the token does not offer this curve"},
    {CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED", KT_EDENIED,
     "the token does not offer this curve"},
    {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL", KT_EIO, "a buffer was too small"},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED", KT_EIO,
     "the module is not initialized"},
    {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED", KT_EIO,
     "the module was already initialized"},
};

kt_rc token_rv_fail(kt_err *e, unsigned long rv, const char *what)
{
    for (size_t i = 0; i < sizeof rvs / sizeof rvs[0]; i++)
        if (rvs[i].rv == rv)
            return kt_fail(e, rvs[i].rc, "%s: %s (%s)", what, rvs[i].meaning, rvs[i].name);
    return kt_fail(e, KT_EIO, "%s: the token failed with PKCS#11 code 0x%08lx", what, rv);
}

typedef struct mech_entry {
    CK_MECHANISM_TYPE m;
    const char *name;
} mech_entry;

static const mech_entry mechs[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
    {CKM_RSA_PKCS, "CKM_RSA_PKCS"},
    {CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP"},
    {CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
    {CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"},
    {CKM_AES_KEY_WRAP, "CKM_AES_KEY_WRAP"},
    {CKM_AES_KEY_WRAP_PAD, "CKM_AES_KEY_WRAP_PAD"},
    {CKM_RSA_AES_KEY_WRAP, "CKM_RSA_AES_KEY_WRAP"},
    {CKM_SHA_1, "CKM_SHA_1"},
    {CKM_SHA256, "CKM_SHA256"},
};

const char *token_mech_name(unsigned long mech, char *buf, size_t bufsz)
{
    for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
        if (mechs[i].m == mech)
            return mechs[i].name;
    snprintf(buf, bufsz, "CKM_0x%lx", mech);
    return buf;
}
