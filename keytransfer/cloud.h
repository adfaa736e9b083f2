/*
 * cloud.h - inside the transfer step: the wrapping each cloud documents for each key type, and
 * the cloud's own import command line (cloud.c). The face is transfer.h; this header is shared
 * by transfer.c, cloud.c and cmd_package.c only.
 */
#ifndef KT_TRANSFER_CLOUD_H
#define KT_TRANSFER_CLOUD_H

#include "transfer.h"

/* What transfer_cloud_wrap used. */
typedef struct transfer_wrapped {
    char wrapping[40];  /* "CKM_RSA_AES_KEY_WRAP", an AWS WrappingAlgorithm or a Cloud KMS
                           ImportMethod */
    pkg_oaep_hash hash; /* its OAEP hash */
    bool direct;        /* RSA-OAEP of the material itself */
    pkg_aws_wrapping aws;
    pkg_gcp_method gcp;
} transfer_wrapped;

/*
 * Wraps key's material for target t with k: Azure CKM_RSA_AES_KEY_WRAP with h; AWS with w (0:
 * the algorithm AWS documents for the key type, with h's hash) after pkg_aws_check; Google with
 * the import job's method (or, for a bare --kek-pem, RSA_OAEP_<bits>_<h>_AES_256) after
 * pkg_gcp_check. A type or size the cloud does not take is KT_EDENIED before anything is
 * wrapped. *blob: kt_buf_free.
 */
KT_MUST kt_rc transfer_cloud_wrap(const transfer_kek *k, transfer_target t, pkg_oaep_hash h,
                                  pkg_aws_wrapping w, const world_key *key, kt_buf *blob,
                                  transfer_wrapped *out, kt_err *e);

/* Frees k->aws and k->gcp. */
void transfer_cloud_free(transfer_kek *k);

/* Room for transfer_import_command. */
#define TRANSFER_IMPORT_COMMAND_MAX (PATH_MAX * 10 + PKG_AWS_KEY_ID_MAX * 4 + 4096)

/*
 * The cloud's own command that imports the package r wrote (name: the package's --name, the
 * Cloud KMS key): `aws kms import-key-material ...` for a package made from AWS parameters,
 * `gcloud kms keys versions import ...` for one made from an import job, "" otherwise. Words
 * that need it are single-quoted for a POSIX shell.
 */
void transfer_import_command(const transfer_kek *k, const transfer_package_result *r,
                             const char *name, char *out, size_t outsz);

#endif
