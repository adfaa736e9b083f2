/*
 * test_manifest.c - the transfer manifest: a signed manifest parses back to what was signed and
 * names its signer and the root that vouched for the KEK; pyca verifies the EdDSA signature
 * independently; every changed character of the envelope and every malformed payload is refused,
 * version 1 and an attestation that does not add up included.
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
    snprintf(m->root_name, sizeof m->root_name, "%s", PKG_ROOT_NAME_DEMO);
    pkg_demo_root_sha256(m->root_sha256);
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
    cr_assert_str_eq(got.root_name, "DEMO");
    cr_assert_arr_eq(got.root_sha256, want.root_sha256, 32);
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

/* text (freed) with every occurrence of from replaced by to; a new heap string. */
static char *replace_in(char *text, const char *from, const char *to)
{
    char *r = calloc(1, strlen(text) + 4096);
    cr_assert_not_null(r);
    const char *in = text, *end = text + strlen(text);
    char *out = r;
    while (in < end) {
        if (from[0] != '\0' && (size_t)(end - in) >= strlen(from) &&
            memcmp(in, from, strlen(from)) == 0) {
            memcpy(out, to, strlen(to));
            out += strlen(to);
            in += strlen(from);
        } else {
            *out++ = *in++;
        }
    }
    free(text);
    return r;
}

/* The payload of the sample, as JSON text, with every occurrence of from replaced by to. */
static char *sample_payload(const char *from, const char *to)
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[32];
    pkg_manifest m;
    char *jws = NULL;
    kt_buf raw = {0};
    kt_err e;
    crypto_sign_keypair(pk, sk);
    sample(&m);
    cr_assert_eq(pkg_manifest_sign(&m, sk, &jws, &e), KT_OK, "%s", e.msg);
    const char *p = strstr(jws, "\"payload\": \"");
    cr_assert_not_null(p, "%s", jws);
    p += strlen("\"payload\": \"");
    cr_assert_eq(kt_b64url_decode(p, strcspn(p, "\""), &raw, &e), KT_OK, "%s", e.msg);
    char *text = calloc(1, raw.len + 1);
    cr_assert_not_null(text);
    memcpy(text, raw.p, raw.len);
    kt_buf_free(&raw);
    free(jws);
    return replace_in(text, from, to);
}

/* A genuine envelope around payload, signed by a fresh key, parsed. */
static kt_rc parse_payload_text(const char *payload, pkg_manifest *m, kt_err *e)
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[32], sig[crypto_sign_BYTES], signer[32];
    char *x, *h, *p, *s64, hbuf[256], input[8192], jws[16384];
    crypto_sign_keypair(pk, sk);
    cr_assert_eq(kt_b64url_encode(pk, 32, &x, e), KT_OK);
    snprintf(hbuf, sizeof hbuf,
             "{\"alg\":\"EdDSA\",\"jwk\":{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}}", x);
    cr_assert_eq(kt_b64url_encode((const uint8_t *)hbuf, strlen(hbuf), &h, e), KT_OK);
    cr_assert_eq(kt_b64url_encode((const uint8_t *)payload, strlen(payload), &p, e), KT_OK);
    snprintf(input, sizeof input, "%s.%s", h, p);
    crypto_sign_detached(sig, NULL, (const uint8_t *)input, strlen(input), sk);
    cr_assert_eq(kt_b64url_encode(sig, sizeof sig, &s64, e), KT_OK);
    snprintf(jws, sizeof jws, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", h,
             p, s64);
    free(x);
    free(h);
    free(p);
    free(s64);
    return pkg_manifest_parse((const uint8_t *)jws, strlen(jws), m, signer, e);
}

Test(manifest, the_payload_parser_takes_version_2_only)
{
    pkg_manifest m;
    kt_err e;
    char *ok = sample_payload("", "");
    cr_assert_eq(parse_payload_text(ok, &m, &e), KT_OK, "%s", e.msg);
    pkg_manifest_free(&m);
    free(ok);

    static const struct {
        const char *from, *to;
        kt_rc rc;
        const char *says;
    } bad[] = {
        /* Version 1 said only "attested": true, not who vouched. */
        {"keytransfer-manifest/2", "keytransfer-manifest/1", KT_EVERSION, "manifest/2"},
        {"\"attestation\":{", "\"attested\":true,\"attestation\":{", KT_EFORMAT, "attested"},
        {"\"attestation\":{\"root\":\"DEMO\",", "\"attestation\":{", KT_EFORMAT, "root"},
        {"\"root\":\"DEMO\"", "\"root\":\"DEMO\",\"vendor\":\"x\"", KT_EFORMAT, "vendor"},
        {"\"root\":\"DEMO\"", "\"root\":\"Contoso HSM\"", KT_EFORMAT, "exactly when"},
        {"\"root\":\"DEMO\"", "\"root\":\"\"", KT_EFORMAT, "printable"},
        {"\"root\":\"DEMO\"", "\"root\":\"DE\\u0001MO\"", KT_EFORMAT, "printable"},
        {"\"root\":\"DEMO\"", "\"root\":true", KT_EFORMAT, "root"},
        {"\"root_sha256\":\"151c", "\"root_sha256\":\"151C", KT_EFORMAT, "root_sha256"},
        {"\"root_sha256\":\"151c", "\"root_sha256\":\"251c", KT_EFORMAT, "exactly when"},
        {"\"target_world_hash\":\"3333", "\"target_world_hash\":null,\"x\":\"3333", KT_EFORMAT,
         "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = sample_payload(bad[i].from, bad[i].to);
        cr_assert_neq(strstr(text, bad[i].to), NULL, "case %zu did not apply: %s", i, text);
        cr_expect_eq(parse_payload_text(text, &m, &e), bad[i].rc, "case %zu (%s): %s", i, text,
                     e.msg);
        cr_expect_not_null(strstr(e.msg, bad[i].says), "case %zu: %s", i, e.msg);
        free(text);
    }
    char *list = replace_in(sample_payload("\"attestation\":{", "\"attestation\":[{"),
                            "\"},\"kid\"", "\"}],\"kid\"");
    cr_assert_eq(parse_payload_text(list, &m, &e), KT_EFORMAT, "%s", list);
    cr_assert_not_null(strstr(e.msg, "object or null"), "%s", e.msg);
    free(list);
    /* An unattested KEK: attestation and world both null. */
    char *un =
        sample_payload("\"target_world_hash\":"
                       "\"3333333333333333333333333333333333333333333333333333333333333333\"",
                       "\"target_world_hash\":null");
    char *un2 = NULL;
    const char *a = strstr(un, "\"attestation\":{");
    cr_assert_not_null(a);
    const char *close = strchr(a, '}');
    un2 = calloc(1, strlen(un) + 8);
    memcpy(un2, un, (size_t)(a - un));
    strcat(un2, "\"attestation\":null");
    strcat(un2, close + 1);
    cr_assert_eq(parse_payload_text(un2, &m, &e), KT_OK, "%s: %s", un2, e.msg);
    cr_assert_not(m.attested);
    cr_assert_str_eq(m.root_name, "");
    pkg_manifest_free(&m);
    /* ...and its negative twins: a world without a root, a root without a world. */
    cr_assert_eq(parse_payload_text(un, &m, &e), KT_EFORMAT, "a root without a world");
    cr_assert_not_null(strstr(e.msg, "target world"), "%s", e.msg);
    free(un);
    free(un2);
}

Test(manifest, the_builder_states_the_root_that_vouched)
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[32], signer[32];
    pkg_manifest m, got;
    char *out = NULL;
    kt_err e;
    crypto_sign_keypair(pk, sk);

    /* A vendor root: its name and hash travel. */
    sample(&m);
    snprintf(m.root_name, sizeof m.root_name, "Contoso HSM Vendor Root CA");
    memset(m.root_sha256, 0x5c, 32);
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(pkg_manifest_parse((const uint8_t *)out, strlen(out), &got, signer, &e), KT_OK,
                 "%s", e.msg);
    cr_assert_str_eq(got.root_name, "Contoso HSM Vendor Root CA");
    cr_assert_arr_eq(got.root_sha256, m.root_sha256, 32);
    pkg_manifest_free(&got);
    free(out);
    out = NULL;

    /* Unattested: no root, no world. */
    sample(&m);
    m.attested = m.has_world = false;
    m.root_name[0] = '\0';
    memset(m.root_sha256, 0, 32);
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_OK, "%s", e.msg);
    cr_assert_not_null(strstr(out, "\"payload\""));
    cr_assert_eq(pkg_manifest_parse((const uint8_t *)out, strlen(out), &got, signer, &e), KT_OK,
                 "%s", e.msg);
    cr_assert_not(got.attested);
    pkg_manifest_free(&got);
    free(out);
    out = NULL;

    /* What does not add up is not written. */
    sample(&m);
    snprintf(m.root_name, sizeof m.root_name, "Contoso"); /* with the DEMO root's hash */
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    sample(&m);
    memset(m.root_sha256, 0x5c, 32); /* "DEMO" for another root */
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    sample(&m);
    m.root_name[0] = '\0';
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    sample(&m);
    m.has_world = false; /* attested without a world */
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    sample(&m);
    m.attested = false; /* a world and a root, unattested */
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    sample(&m);
    m.attested = m.has_world = false; /* a root named, unattested */
    cr_assert_eq(pkg_manifest_sign(&m, sk, &out, &e), KT_EFORMAT);
    cr_assert_null(out);
}
