/*
 * internal.h - what the files of kek/ share with each other only.
 */
#ifndef KT_KEK_INTERNAL_H
#define KT_KEK_INTERNAL_H

#include <stddef.h>

#include "kek.h"

/* The DEMO vendor root, compiled in (demo_vendor.c, generated). */
extern const unsigned char kek_demo_root_cert_pem[];
extern const size_t kek_demo_root_cert_pem_len;
extern const unsigned char kek_demo_root_key_pem[];
extern const size_t kek_demo_root_key_pem_len;

#define KEK_STATE_FILE    "cloud.json"
#define KEK_STATE_FORMAT  "keytransfer-cloud-state/1"
#define KEK_STATE_MAX     (16 * 1024)
#define KEK_PIN_FILE      "acs-pin"
#define KEK_APP_VENDOR    "vendor"
#define KEK_APP_KEK       "kek"
#define KEK_APP_IMPORTED  "imported"
#define KEK_IDENT_WARRANT "warrant"
#define KEK_IDENT_ATTEST  "attestation"

/* state/<name> into out. */
KT_MUST kt_rc kek_state_path(const char *state, const char *name, char *out, size_t outsz,
                             kt_err *e);

/* The world_pin_fn of the cloud's own 1-of-1 card: the PIN file in the state folder (ctx is the
 * state folder path). */
kt_rc kek_state_pin(void *ctx, unsigned no, const char *card_path, bool is_new, kt_secbuf *pin,
                    kt_err *e);

#endif
