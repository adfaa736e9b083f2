/*
 * fuzz_online_answer.c - libFuzzer target for what keytransfer-online reads from a vault: the
 * key bundle of an Import Key or Get Key answer (online_parse_answer, then online_check_answer
 * against a fixed expectation) and the Retry-After header (online_retry_after_parse). The first
 * byte chooses. Arbitrary bytes must be refused cleanly with a message and nothing left behind,
 * or give an answer whose fields obey the parser's promises; a Retry-After is never over
 * UINT32_MAX seconds, and a refused one is 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "online.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const uint8_t *data, size_t size)
{
    online_imported got;
    kt_err e;
    kt_err_clear(&e);
    if (online_parse_answer(200, data, size, &got, &e) != KT_OK) {
        if (e.msg[0] == '\0' || got.kid[0] != '\0' || got.has_public)
            abort(); /* a refusal says why and leaves nothing behind */
        return;
    }
    if (pkg_kid_check(got.kid, &e) != KT_OK || got.name[0] == '\0' || got.host[0] == '\0')
        abort();
    if (strlen(got.kty) >= sizeof got.kty || strlen(got.ops_text) >= sizeof got.ops_text)
        abort();
    for (const char *c = got.ops_text; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            abort(); /* what reaches a terminal is printable */
    if ((got.ops & ~0x3fu) != 0 || (got.exportable && !got.exportable_stated))
        abort();

    /* The check either passes or names a difference; it never reads past what was parsed. */
    pkg_manifest m = {0};
    bool compared;
    snprintf(m.key_type, sizeof m.key_type, "EC");
    snprintf(m.curve, sizeof m.curve, "P-256");
    memcpy(m.key_sha256, got.key_sha256, 32);
    online_expect want = {.m = &m,
                          .name = "MyKey",
                          .host = "contoso.vault.azure.net",
                          .ops = PKG_KV_OP_SIGN | PKG_KV_OP_VERIFY,
                          .enabled = true};
    kt_err_clear(&e);
    kt_rc rc = online_check_answer(&want, &got, &compared, &e);
    if (rc != KT_OK && (rc != KT_EDENIED || e.msg[0] == '\0'))
        abort();
    if (rc == KT_OK && (!compared || got.exportable || got.ops != want.ops || !got.enabled))
        abort();
}

static void retry_after(const uint8_t *data, size_t size)
{
    char v[128];
    uint64_t s = 12345;
    size_t n = size < sizeof v - 1 ? size : sizeof v - 1;
    memcpy(v, data, n);
    v[n] = '\0';
    bool ok = online_retry_after_parse(v, 1795000000, &s);
    if (s > UINT32_MAX || (!ok && s != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        retry_after(data + 1, size - 1);
    else
        answer(data + 1, size - 1);
    return 0;
}
