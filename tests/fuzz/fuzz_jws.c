/*
 * fuzz_jws.c - libFuzzer target for the vendor package parsers: the first byte picks the JWS
 * envelope (pkg_jws_parse, then the signature check with the leaf's key), the KEK payload or the
 * world payload (each parsed, rebuilt and parsed again to the same values). Everything must be
 * refused cleanly or obey the format's rules.
 */
#include <stdlib.h>
#include <string.h>

#include "pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void jws(const uint8_t *data, size_t size)
{
    pkg_jws j;
    kt_err e;

    if (pkg_jws_parse(data, size, &j, &e) != KT_OK) {
        if (j.chain != NULL || j.payload.p != NULL || j.signing_input != NULL)
            abort();
        return;
    }
    if (sk_X509_num(j.chain) < 1 || sk_X509_num(j.chain) > PKG_X5C_MAX || j.payload.len == 0 ||
        j.payload.len > PKG_JWS_PAYLOAD_MAX || strlen(j.signing_input) != j.signing_input_len)
        abort();
    /* Whatever the answer, it must come without a crash. */
    kt_rc rc = pkg_jws_verify_signature(&j, X509_get0_pubkey(sk_X509_value(j.chain, 0)), &e);
    (void)rc;
    pkg_jws_free(&j);
}

static void kek(const uint8_t *data, size_t size)
{
    pkg_kek_payload p, q;
    char *json = NULL;
    kt_err e;

    if (pkg_kek_payload_parse(data, size, &p, &e) != KT_OK) {
        if (p.public_key.p != NULL)
            abort();
        return;
    }
    if (pkg_kek_payload_build(&p, &json, &e) != KT_OK ||
        pkg_kek_payload_parse((const uint8_t *)json, strlen(json), &q, &e) != KT_OK ||
        strcmp(p.kid, q.kid) != 0 || p.key_size != q.key_size || p.exportable != q.exportable ||
        p.n_key_ops != q.n_key_ops || p.created != q.created ||
        p.public_key.len != q.public_key.len ||
        memcmp(p.public_key.p, q.public_key.p, p.public_key.len) != 0 ||
        memcmp(p.world_hash, q.world_hash, 32) != 0)
        abort();
    pkg_kek_payload_free(&q);
    pkg_kek_payload_free(&p);
    free(json);
}

static void world(const uint8_t *data, size_t size)
{
    pkg_world_payload p, q;
    char *json = NULL;
    kt_err e;

    if (pkg_world_payload_parse(data, size, &p, &e) != KT_OK)
        return;
    if (p.n_module_esns < 1 || p.n_module_esns > PKG_ESNS_MAX)
        abort();
    if (pkg_world_payload_build(&p, &json, &e) != KT_OK ||
        pkg_world_payload_parse((const uint8_t *)json, strlen(json), &q, &e) != KT_OK ||
        memcmp(&p, &q, sizeof p) != 0)
        abort();
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        jws(data + 1, size - 1);
        break;
    case 1:
        kek(data + 1, size - 1);
        break;
    default:
        world(data + 1, size - 1);
        break;
    }
    return 0;
}
