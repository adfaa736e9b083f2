/*
 * token_internal.h - what the files of token/ share: the opened token and the mechanism checks.
 */
#ifndef KT_TOKEN_INTERNAL_H
#define KT_TOKEN_INTERNAL_H

#include "token.h"

#include <p11-kit/pkcs11.h>
#include <stdint.h>

/* PKCS#11 templates take void * for values they only read. */
#define UNCONST(p) ((void *)(uintptr_t)(p))

struct token {
    CK_FUNCTION_LIST **all;   /* module-name: every module p11-kit has configured (released) */
    CK_FUNCTION_LIST *module; /* the module reaching the token */
    CK_FUNCTION_LIST *f;      /* its functions */
    bool initialized, module_failed;
    CK_SLOT_ID slot;
    CK_FLAGS token_flags;
    CK_SESSION_HANDLE session;
    bool logged_in, logged_in_so;
    CK_OBJECT_HANDLE session_key; /* the wrap's session key while it lives */
    token_info info;
};

/* KT_OK when the token offers m with all of flags (CKF_WRAP, CKF_GENERATE, ...); KT_EDENIED
 * naming the mechanism and why it is needed otherwise. */
KT_MUST kt_rc token_need_mech(token *t, CK_MECHANISM_TYPE m, CK_FLAGS flags, const char *why,
                              kt_err *e);
bool token_has_mech(token *t, CK_MECHANISM_TYPE m, CK_FLAGS flags);

/* The one object of class cls with the given label and/or ID (either may be NULL); KT_ENOENT for
 * none, KT_EDENIED for more than one. */
KT_MUST kt_rc token_find_one(token *t, CK_OBJECT_CLASS cls, const char *label, const uint8_t *id,
                             size_t id_len, CK_OBJECT_HANDLE *h, kt_err *e);

#endif
