/*
 * test_manifest.c - the transfer manifest: a signed manifest parses back to what was signed and
 * names its signer; pyca verifies the EdDSA signature independently; every changed character of
 * the envelope and every malformed payload is refused.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg.h"

static void sample(pkg_manifest *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->tool_version, sizeof m->tool_version, "keytransfer 0.1.0");
    snprintf(m->app, sizeof m->app, "xferacld");
    snprintf(m->ident, sizeof m->ident, "contosokey");
    snprintf(m->plainname, sizeof m->plainname, "Contoso key");
    snprintf(m->key_type, sizeof m->key_type, "AES");
    m->key_bits = 256;
    memset(m->key_sha256, 0x11, 32);
    snprintf(m->kid, sizeof m->kid,
             "https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef");
    memset(m->kek_sha256, 0x22, 32);
    m->attested = true;
    m->has_world = true;
    memset(m->target_world_hash, 0x33, 32);
    snprintf(m->target, sizeof m->target, "azure");
    snprintf(m->oaep_hash, sizeof m->oaep_hash, "SHA-1");
    snprintf(m->subscription, sizeof m->subscription, "00000000-0000-0000-0000-000000000000");
    snprintf(m->friendly_name, sizeof m->friendly_name, "ContosoFirstHSMkey");
    snprintf(m->package_file, sizeof m->package_file, "TransferPackage-ContosoFirstHSMkey.byok");
    memset(m->package_sha256, 0x44, 32);
    m->created = 1795000000;
}

static char *signed_sample(uint8_t pk[32])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    pkg_manifest m;
    char *out = NULL;
    kt_err e;
    cr_assert_eq(sodium_init() >= 0, 1);
    crypto_sign_keypair(pk, sk);
    sample(&m);
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_OK, "%s", e.msg);
    sodium_memzero(sk, sizeof sk);
    return out;
}

Test(manifest, round_trip_names_the_signer)
{
    uint8_t pk[32], signer[32];
    pkg_manifest want, got;
    kt_err e;
    char *text = signed_sample(pk);
    cr_assert_eq(pkg_manifest_parse((const uint8_t *)text, strlen(text), &got, signer, &e), KT_OK,
                 "%s", e.msg);
    sample(&want);
    cr_assert_arr_eq(signer, pk, 32);
    cr_assert_str_eq(got.ident, want.ident);
    cr_assert_str_eq(got.kid, want.kid);
    cr_assert_str_eq(got.package_file, want.package_file);
    cr_assert_arr_eq(got.package_sha256, want.package_sha256, 32);
    cr_assert_arr_eq(got.target_world_hash, want.target_world_hash, 32);
    cr_assert_eq(got.created, want.created);
    cr_assert_eq(got.attested, true);
    cr_assert_eq(got.key_bits, 256);
    pkg_manifest_free(&got);
    free(text);
}

Test(manifest, every_changed_character_is_refused)
{
    uint8_t pk[32], signer[32];
    pkg_manifest got;
    kt_err e;
    char *text = signed_sample(pk);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++) {
        char was = text[i];
        text[i] = (char)(was == 'A' ? 'B' : 'A');
        kt_rc rc = pkg_manifest_parse((const uint8_t *)text, n, &got, signer, &e);
        /* Whitespace between JSON members is not signed, and may change without effect. */
        if (rc == KT_OK)
            cr_assert(was == ' ' || was == '\n', "changed byte %zu ('%c') accepted", i, was);
        pkg_manifest_free(&got);
        text[i] = was;
    }
    free(text);
}

Test(manifest, pyca_verifies_the_signature)
{
    uint8_t pk[32];
    char *text = signed_sample(pk);
    char path[] = "/tmp/kt-manifest-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '"
             "import base64,json,sys\n"
             "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey\n"
             "d=json.load(open(sys.argv[1]))\n"
             "u=lambda s: base64.urlsafe_b64decode(s+\"=\"*(-len(s)%%4))\n"
             "h=json.loads(u(d[\"protected\"]))\n"
             "k=Ed25519PublicKey.from_public_bytes(u(h[\"jwk\"][\"x\"]))\n"
             "k.verify(u(d[\"signature\"]),(d[\"protected\"]+\".\"+d[\"payload\"]).encode())\n"
             "' %s",
             path);
    cr_assert_eq(system(cmd), 0, "pyca refused the manifest signature");
    unlink(path);
    free(text);
}

Test(manifest, malformed_statements_are_refused)
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[32];
    pkg_manifest m;
    char *out = NULL;
    kt_err e;
    cr_assert_eq(sodium_init() >= 0, 1);
    crypto_sign_keypair(pk, sk);
    sample(&m);
    snprintf(m.target, sizeof m.target, "ibm");
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    sample(&m);
    snprintf(m.package_file, sizeof m.package_file, "../escape.byok");
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    sample(&m);
    snprintf(m.key_type, sizeof m.key_type, "RSA"); /* an RSA key needs its public key */
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    cr_assert_null(out);
}
