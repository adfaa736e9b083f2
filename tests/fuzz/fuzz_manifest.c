/*
 * fuzz_manifest.c - libFuzzer target for the transfer manifest parser (pkg_manifest_parse). The
 * first byte picks what the rest is:
 *   even  a whole manifest file, parsed as the online side reads it from the USB stick;
 *   odd   a payload, which the target signs with a fixed Ed25519 key into a genuine envelope
 *         first, so that the payload parser behind the signature check gets arbitrary bytes too
 *         (a mutated payload would otherwise never get past the signature).
 * A refusal must leave nothing behind and say why. An accepted manifest must obey every rule the
 * builder enforces (an attested KEK names its root and world, "DEMO" only for the DEMO root):
 * signing it again with the fixed key must succeed, and parsing that must give back the same fields
 * and that key as the signer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static bool ready;

static void setup(void)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    if (sodium_init() < 0)
        abort();
    memset(seed, 0x4b, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    ready = true;
}

/* A JWS envelope around payload, signed with the fixed key, as pkg_manifest_sign makes it. */
static char *envelope(const uint8_t *payload, size_t len)
{
    static const char header[] = "{\"alg\":\"EdDSA\",\"jwk\":{\"crv\":\"Ed25519\",\"kty\":\"OKP\","
                                 "\"x\":\"%s\"}}";
    char *x = NULL, *h = NULL, *p = NULL, *s = NULL, *input = NULL, *out = NULL, hbuf[256];
    uint8_t sig[crypto_sign_BYTES];
    kt_err e;
    if (kt_b64url_encode(pk, sizeof pk, &x, &e) != KT_OK)
        abort();
    snprintf(hbuf, sizeof hbuf, header, x);
    if (kt_b64url_encode((const uint8_t *)hbuf, strlen(hbuf), &h, &e) != KT_OK ||
        (len > 0 && kt_b64url_encode(payload, len, &p, &e) != KT_OK))
        abort();
    if (p == NULL && (p = strdup("")) == NULL)
        abort();
    size_t n = strlen(h) + 1 + strlen(p);
    if ((input = malloc(n + 1)) == NULL)
        abort();
    snprintf(input, n + 1, "%s.%s", h, p);
    crypto_sign_detached(sig, NULL, (const uint8_t *)input, n, sk);
    if (kt_b64url_encode(sig, sizeof sig, &s, &e) != KT_OK)
        abort();
    size_t outn = n + strlen(s) + 64;
    if ((out = malloc(outn)) == NULL)
        abort();
    snprintf(out, outn, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", h, p, s);
    free(x);
    free(h);
    free(p);
    free(s);
    free(input);
    return out;
}

static void same(const pkg_manifest *a, const pkg_manifest *b)
{
    if (strcmp(a->tool_version, b->tool_version) || strcmp(a->app, b->app) ||
        strcmp(a->ident, b->ident) || strcmp(a->plainname, b->plainname) ||
        strcmp(a->key_type, b->key_type) || a->key_bits != b->key_bits ||
        strcmp(a->curve, b->curve) || a->public_key.len != b->public_key.len ||
        (a->public_key.len && memcmp(a->public_key.p, b->public_key.p, a->public_key.len)) ||
        memcmp(a->key_sha256, b->key_sha256, 32) || strcmp(a->kid, b->kid) ||
        memcmp(a->kek_sha256, b->kek_sha256, 32) || a->attested != b->attested ||
        strcmp(a->root_name, b->root_name) ||
        (a->attested && memcmp(a->root_sha256, b->root_sha256, 32)) ||
        a->has_world != b->has_world ||
        (a->has_world && memcmp(a->target_world_hash, b->target_world_hash, 32)) ||
        strcmp(a->target, b->target) || strcmp(a->oaep_hash, b->oaep_hash) ||
        strcmp(a->subscription, b->subscription) || strcmp(a->friendly_name, b->friendly_name) ||
        strcmp(a->package_file, b->package_file) ||
        memcmp(a->package_sha256, b->package_sha256, 32) || a->created != b->created)
        abort();
}

static void fuzz_one(const uint8_t *data, size_t size)
{
    pkg_manifest m, again;
    uint8_t signer[32], signer2[32];
    char *text = NULL;
    kt_err e;

    if (pkg_manifest_parse(data, size, &m, signer, &e) != KT_OK) {
        if (m.public_key.p != NULL || e.msg[0] == '\0')
            abort(); /* a refusal leaves nothing behind and says why */
        return;
    }
    /* What the builder promises of a manifest. */
    if (!m.friendly_name[0] || !m.package_file[0] || strchr(m.package_file, '/') != NULL ||
        m.package_file[0] == '.')
        abort();
    if ((strcmp(m.key_type, "AES") == 0) != (m.public_key.len == 0))
        abort();
    if (strcmp(m.target, "azure") && strcmp(m.target, "aws") && strcmp(m.target, "gcp"))
        abort();
    /* An attested KEK names its root and has a world; "DEMO" is the DEMO root and only it. */
    uint8_t demo[32];
    pkg_demo_root_sha256(demo);
    if (m.attested != m.has_world || m.attested != (m.root_name[0] != '\0') ||
        (m.attested &&
         (memcmp(m.root_sha256, demo, 32) == 0) != (strcmp(m.root_name, PKG_ROOT_NAME_DEMO) == 0)))
        abort();
    /* What parses, builds; what builds, parses to the same. */
    if (pkg_manifest_sign(&m, sk, &text, &e) != KT_OK)
        abort();
    if (pkg_manifest_parse((const uint8_t *)text, strlen(text), &again, signer2, &e) != KT_OK)
        abort();
    if (memcmp(signer2, pk, 32) != 0)
        abort();
    same(&m, &again);
    pkg_manifest_free(&again);
    pkg_manifest_free(&m);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size < 1 || size > PKG_MANIFEST_MAX)
        return 0;
    if ((data[0] & 1) == 0) {
        fuzz_one(data + 1, size - 1);
        return 0;
    }
    char *jws = envelope(data + 1, size - 1);
    fuzz_one((const uint8_t *)jws, strlen(jws));
    free(jws);
    return 0;
}
