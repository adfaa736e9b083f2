/*
 * fuzz_key_file.c - libFuzzer target for the key file parser and the ACL decoder. The first byte
 * picks what the rest is:
 *   0  a key file: key_file_parse, and key_file_open with a fixed module when it parses;
 *   1  an ACL encoding: world_acl_decode, whose accepted inputs must re-encode to the same bytes;
 *   2  a sealed private key: sealed under the fixed module behind a genuine P-256 header, then
 *      parsed and opened, so the PKCS#8 decoding and the public-half check behind the seal get
 *      arbitrary bytes too.
 * Parsers must refuse garbage cleanly, never read out of bounds, and never accept a key that is
 * not the one the header states.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "world_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static world_module module;
static world_key_info header; /* a genuine P-256 key's public facts */
static bool ready;

static void setup(void)
{
    kt_err e;
    memset(&module, 0, sizeof module);
    memset(module.info.hash, 0x24, WORLD_HASH_LEN);
    if (kt_secbuf_alloc(&module.km, WORLD_KM_LEN, &e) != KT_OK)
        abort();
    memset(module.km.p, 0x42, WORLD_KM_LEN);

    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *p = header.spki;
    int n = pkey != NULL ? i2d_PUBKEY(pkey, NULL) : -1;
    if (n <= 0 || n > WORLD_KEY_SPKI_MAX || i2d_PUBKEY(pkey, &p) != n)
        abort();
    EVP_PKEY_free(pkey);
    header.spki_len = (size_t)n;
    kt_sha256(header.key_hash, header.spki, header.spki_len);
    header.type = WORLD_KEY_EC;
    header.bits = 256;
    strcpy(header.curve, "P-256");
    strcpy(header.app, "simple");
    strcpy(header.ident, "fuzz");
    strcpy(header.plainname, "fuzz");
    world_acl_default(WORLD_KEY_EC, &header.acl);
    ready = true;
}

/* Checks what a successful parse promises. */
static void check_parsed(const key_file *k)
{
    const world_key_info *in = &k->info;
    kt_err e;
    if (world_key_check_app(in->app, &e) != KT_OK ||
        world_key_check_ident(in->ident, &e) != KT_OK ||
        world_key_check_plainname(in->plainname, &e) != KT_OK)
        abort();
    if (k->aad_len >= k->len || k->sealed_len <= 16 || k->sealed + k->sealed_len != k->raw + k->len)
        abort();
    if ((in->type == WORLD_KEY_AES) != (in->spki_len == 0))
        abort();
    if (in->acl.ngroups < 1 || in->acl.ngroups > WORLD_ACL_MAX_GROUPS)
        abort();
}

/* Opens a parsed file with the fixed module; true when it opened. */
static bool open_parsed(const key_file *k)
{
    world_key key;
    kt_err e;
    if (key_file_open(k, &module, &key, &e) == KT_OK) {
        /* Only a file sealed under the fixed module opens, and then it holds the stated key. */
        if (key.info.type != WORLD_KEY_AES && key.pkey == NULL)
            abort();
        world_key_free(&key);
        return true;
    }
    if (key.material.p != NULL || key.pkey != NULL)
        abort(); /* nothing is left behind on failure */
    return false;
}

static void fuzz_key_file(const uint8_t *data, size_t size)
{
    key_file k;
    kt_err e;
    if (key_file_parse(data, size, &k, &e) != KT_OK)
        return;
    check_parsed(&k);
    (void)open_parsed(&k);
}

static void fuzz_acl(const uint8_t *data, size_t size)
{
    world_acl acl;
    uint8_t again[WORLD_ACL_ENCODED_MAX];
    size_t n;
    kt_err e;
    if (world_acl_decode(data, size, &acl, &e) != KT_OK)
        return;
    if (world_acl_encode(&acl, again, &n, &e) != KT_OK || n != size || memcmp(again, data, n) != 0)
        abort(); /* the encoding is canonical */
    if (!world_acl_is_subset(&acl, &acl))
        abort();
    char text[2048];
    world_acl_format(&acl, text, sizeof text);
}

static void fuzz_sealed(const uint8_t *data, size_t size)
{
    world_key k;
    key_file kf;
    kt_wbuf w;
    kt_err e;
    if (size < 1 || size > KEY_MATERIAL_MAX)
        return;
    memset(&k, 0, sizeof k);
    k.info = header;
    if (kt_secbuf_alloc(&k.material, size, &e) != KT_OK)
        return;
    memcpy(k.material.p, data, size);
    kt_wbuf_init(&w, false);
    if (key_file_build(&k, &module, &w, &e) != KT_OK)
        abort();
    if (key_file_parse(w.p, w.len, &kf, &e) != KT_OK)
        abort(); /* a genuine header always parses */
    check_parsed(&kf);
    if (open_parsed(&kf))
        abort(); /* bytes that are not the header's private key were accepted */
    kt_wbuf_free(&w);
    world_key_free(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_key_file(data + 1, size - 1);
        break;
    case 1:
        fuzz_acl(data + 1, size - 1);
        break;
    default:
        fuzz_sealed(data + 1, size - 1);
        break;
    }
    return 0;
}
