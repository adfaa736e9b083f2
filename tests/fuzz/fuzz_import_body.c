/*
 * fuzz_import_body.c - libFuzzer target for the Import Key body parser of `keytransfer-cloud
 * serve` (kek_import_body_parse_api): arbitrary bytes, at every api-version the emulator answers
 * (chosen by the input's length, so that the bytes themselves stay a plain JSON corpus), must be
 * refused cleanly, with a message and nothing left behind, or give a body whose every field
 * obeys the rules: a known kty, a curve exactly for EC-HSM, operations the type takes, a key_hsm
 * of 1..PKG_BYOK_MAX bytes that encodes back to the very string sent, exp after nbf, at most 15
 * string tags, secure key release only from 7.3 and an exportable key only with a release
 * policy whose data is a JSON object, stored in the one content type.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const kek_api *api = &kek_apis[size % kek_napis];
    kek_import_body b;
    char *again = NULL;
    kt_err e;

    kt_err_clear(&e);
    if (kek_import_body_parse_api(data, size, api, &b, &e) != KT_OK) {
        if (b.byok.p != NULL || b.type != 0 || b.tags != NULL || b.release_policy != NULL ||
            e.msg[0] == '\0')
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
    if (b.has_nbf && b.has_exp && b.exp <= b.nbf)
        abort();
    if (b.tags != NULL) {
        const char *k;
        json_t *v;
        if (!json_is_object(b.tags) || json_object_size(b.tags) > KEK_TAGS_MAX)
            abort();
        json_object_foreach(b.tags, k, v)
        {
            if (!json_is_string(v) || strlen(k) == 0 || strlen(k) > KEK_TAG_NAME_MAX ||
                json_string_length(v) > KEK_TAG_VALUE_MAX)
                abort();
        }
    }
    if (!api->skr && (b.exportable || b.release_policy != NULL))
        abort();
    if (b.exportable && b.release_policy == NULL)
        abort();
    if (b.release_policy != NULL) {
        const char *ct = json_string_value(json_object_get(b.release_policy, "contentType"));
        const char *pd = json_string_value(json_object_get(b.release_policy, "data"));
        kt_buf doc = {0};
        json_t *pj = NULL;
        if (ct == NULL || strcmp(ct, KEK_POLICY_CT) != 0 || pd == NULL ||
            (json_object_get(b.release_policy, "immutable") != NULL) != api->immutable ||
            kt_b64url_decode(pd, strlen(pd), &doc, &e) != KT_OK ||
            kt_json_parse(doc.p, doc.len, KEK_POLICY_MAX, &pj, &e) != KT_OK || !json_is_object(pj))
            abort();
        json_decref(pj);
        kt_buf_free(&doc);
    }
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
