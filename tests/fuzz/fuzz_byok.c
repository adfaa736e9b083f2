/*
 * fuzz_byok.c - libFuzzer target for the .byok parser (pkg_byok_parse): arbitrary bytes must be
 * refused cleanly or give a .byok whose every field obeys the rules, and which writes back and
 * parses again to the same kid, generator and ciphertext.
 */
#include <stdlib.h>
#include <string.h>

#include "pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkg_byok b, again;
    char *text = NULL;
    kt_err e;

    if (pkg_byok_parse(data, size, &b, &e) != KT_OK) {
        if (b.blob.p != NULL || e.msg[0] == '\0')
            abort(); /* a refusal leaves nothing behind and says why */
        return 0;
    }
    if (b.blob.len == 0 || b.blob.len > PKG_WRAP_BLOB_MAX || pkg_kid_check(b.kid, &e) != KT_OK)
        abort();
    if (pkg_byok_write(b.kid, b.blob.p, b.blob.len, b.generator, &text, &e) != KT_OK)
        abort();
    if (pkg_byok_parse((const uint8_t *)text, strlen(text), &again, &e) != KT_OK ||
        strcmp(again.kid, b.kid) != 0 || strcmp(again.generator, b.generator) != 0 ||
        again.blob.len != b.blob.len || memcmp(again.blob.p, b.blob.p, b.blob.len) != 0)
        abort();
    pkg_byok_free(&again);
    free(text);
    pkg_byok_free(&b);
    return 0;
}
