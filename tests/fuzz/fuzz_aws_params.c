/*
 * fuzz_aws_params.c - libFuzzer target for the AWS get-parameters-for-import parser
 * (pkg_aws_params_parse): arbitrary bytes are refused cleanly, with a message and nothing left
 * behind, or give parameters whose every field obeys the rules: a printable KeyId, an RSA
 * wrapping key whose DER is the one sent, a token of 1..PKG_AWS_TOKEN_MAX bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkg_aws_params p;
    EVP_PKEY *again = NULL;
    kt_err e;

    if (pkg_aws_params_parse(data, size, &p, &e) != KT_OK) {
        if (p.public_key != NULL || p.import_token.p != NULL || e.msg[0] == '\0')
            abort();
        return 0;
    }
    if (p.key_id[0] == '\0' || strlen(p.key_id) > PKG_AWS_KEY_ID_MAX || p.import_token.len == 0 ||
        p.import_token.len > PKG_AWS_TOKEN_MAX ||
        EVP_PKEY_get_base_id(p.public_key) != EVP_PKEY_RSA ||
        kt_spki_decode(p.public_key_der.p, p.public_key_der.len, &again, &e) != KT_OK ||
        EVP_PKEY_eq(again, p.public_key) != 1)
        abort();
    EVP_PKEY_free(again);
    pkg_aws_params_free(&p);
    return 0;
}
