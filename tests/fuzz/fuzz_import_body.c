/*
 * fuzz_import_body.c - libFuzzer target for the Import Key body parser of `keytransfer-cloud
 * serve` (kek_import_body_parse): arbitrary bytes must be refused cleanly, with a message and
 * nothing left behind, or give a body whose every field obeys the rules: a known kty, a curve
 * exactly for EC-HSM, operations the type takes, and a key_hsm of 1..PKG_BYOK_MAX bytes that
 * encodes back to the very string sent.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kek_import_body b;
    char *again = NULL;
    kt_err e;

    kt_err_clear(&e);
    if (kek_import_body_parse(data, size, &b, &e) != KT_OK) {
        if (b.byok.p != NULL || b.type != 0 || e.msg[0] == '\0')
            abort(); /* a refusal leaves nothing behind and says why */
        return 0;
    }
    if (b.type != WORLD_KEY_RSA && b.type != WORLD_KEY_EC && b.type != WORLD_KEY_AES)
        abort();
    if ((b.type == WORLD_KEY_EC) != (b.crv[0] != '\0') ||
        (b.crv[0] != '\0') != (b.curve[0] != '\0'))
        abort();
    if (b.ops == 0 || (b.ops & ~kek_ops_for(b.type)) != 0)
        abort();
    if (b.byok.len == 0 || b.byok.len > PKG_BYOK_MAX)
        abort();
    /* Strict base64url: the bytes encode back to the one spelling the parser accepted. */
    json_t *j = NULL;
    if (kt_json_parse(data, size, KEK_SERVE_BODY_MAX, &j, &e) != KT_OK)
        abort();
    const char *sent = json_string_value(json_object_get(json_object_get(j, "key"), "key_hsm"));
    if (sent == NULL || kt_b64url_encode(b.byok.p, b.byok.len, &again, &e) != KT_OK ||
        strcmp(again, sent) != 0)
        abort();
    free(again);
    json_decref(j);
    kek_import_body_free(&b);
    return 0;
}
