/*
 * aws_kms.h - an emulated AWS KMS in front of the emulated cloud HSM (`keytransfer-cloud serve`),
 * so that the real `aws` CLI (`--endpoint-url http://127.0.0.1:PORT`) runs the whole import of
 * key material against it (docs/formats.md "AWS KMS"; AWS KMS API Reference).
 *
 * The protocol is AWS JSON 1.1: POST / with "X-Amz-Target: TrentService.<Operation>",
 * "Content-Type: application/x-amz-json-1.1", an "X-Amz-Date" and a SigV4 "Authorization"
 * header that must be present and well formed (AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
 * kms/aws4_request, SignedHeaders=..., Signature=<64 hex>); any credentials are taken, and the
 * signature is not checked (this emulator holds no secret of the caller's). Operations:
 *   CreateKey              Origin EXTERNAL only; KeySpec SYMMETRIC_DEFAULT, RSA_2048/3072/4096,
 *                          ECC_NIST_P256/P384/P521, ECC_SECG_P256K1; state PendingImport
 *   DescribeKey            the KeyMetadata
 *   GetParametersForImport WrappingAlgorithm RSAES_OAEP_SHA_1/256, RSA_AES_KEY_WRAP_SHA_1/256;
 *                          WrappingKeySpec RSA_2048/3072/4096: a fresh wrapping key generated
 *                          inside the HSM (ImportUnwrap only), a random import token, 24 hours
 *   ImportKeyMaterial      the token checked (InvalidImportTokenException, ExpiredImportToken-
 *                          Exception), the material unwrapped inside the HSM and checked against
 *                          the KeySpec (IncorrectKeyMaterialException); stored as a use-only key
 *                          of the cloud world; state Enabled
 *   GetPublicKey           asymmetric keys: the SubjectPublicKeyInfo derived from the material
 * Errors are {"__type": "<Exception>", "message": "..."} with status 400 (500 for ours).
 *
 * State: <state>/aws-kms/<key id>.json per key, written with the careful writer; wrapping keys
 * and imported material are keys of the cloud world (apps "awswrap" and "awskms").
 */
#ifndef KT_KEK_AWS_KMS_H
#define KT_KEK_AWS_KMS_H

#include <stdbool.h>

#include "serve.h"

/* One AWS request, as the transport received it (NULL for an absent header). */
typedef struct kek_aws_request {
    const char *method, *path;
    const char *target;        /* X-Amz-Target */
    const char *authorization; /* SigV4 */
    const char *amz_date;      /* X-Amz-Date */
    const char *content_type;
    const uint8_t *body;
    size_t len;
} kek_aws_request;

/* Handles one request under s->lock: always fills rs (free rs->body with free()). */
void kek_aws_handle(kek_rest *s, const kek_aws_request *rq, kek_rest_response *rs);

#endif
