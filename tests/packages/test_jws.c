/*
 * test_jws.c - the JWS envelope of the vendor packages: sign/parse/verify round trip with a
 * three-certificate x5c, the exact output shape, verification by pyca/cryptography, the ES384
 * signature forms (Wycheproof P-384 vectors through DER <-> r||s), and the refusals: a DER
 * signature, other algorithms, a flipped character anywhere, duplicate members, unknown header
 * members, crit, bad x5c entries, oversize input.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>

#include "pkgtest.h"

static const char PAYLOAD[] = "{\"schema\":\"example\",\"n\":1}";

static char *sign_chain(const pt_chain *c, const char *payload)
{
    X509 *chain[3] = {c->leaf, c->warrant, c->root};
    char *s = NULL;
    kt_err e;

    cr_assert_eq(
        pkg_jws_sign((const uint8_t *)payload, strlen(payload), c->leaf_key, chain, 3, &s, &e),
        KT_OK, "%s", e.msg);
    return s;
}

/* Parses, then verifies with the leaf's key: the whole acceptance path. */
static kt_rc accept(const char *s, size_t len, kt_err *e)
{
    pkg_jws j;
    kt_rc rc = pkg_jws_parse((const uint8_t *)s, len, &j, e);

    if (rc == KT_OK)
        rc = pkg_jws_verify_signature(&j, X509_get0_pubkey(sk_X509_value(j.chain, 0)), e);
    else
        cr_assert_null(j.chain, "a refused parse left a chain behind");
    pkg_jws_free(&j);
    return rc;
}

Test(jws, round_trip)
{
    pt_chain c;
    pkg_jws j;
    kt_err e;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    cr_assert_eq(s[strlen(s) - 1], '\n');
    cr_assert_eq(pkg_jws_parse((const uint8_t *)s, strlen(s), &j, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(j.payload.len, strlen(PAYLOAD));
    cr_assert_arr_eq(j.payload.p, PAYLOAD, j.payload.len);
    cr_assert_eq(sk_X509_num(j.chain), 3);
    cr_assert_eq(X509_cmp(sk_X509_value(j.chain, 0), c.leaf), 0);
    cr_assert_eq(X509_cmp(sk_X509_value(j.chain, 1), c.warrant), 0);
    cr_assert_eq(X509_cmp(sk_X509_value(j.chain, 2), c.root), 0);
    cr_assert_eq(j.signing_input_len, strlen(j.signing_input));
    cr_assert_eq(pkg_jws_verify_signature(&j, c.leaf_key, &e), KT_OK, "%s", e.msg);
    /* Negative twins: the warrant's key, a P-256 key, an RSA key. */
    EVP_PKEY *p256 = pt_ec_key("P-256"), *rsa = pt_kek(2048);
    cr_assert_eq(pkg_jws_verify_signature(&j, c.warrant_key, &e), KT_EDENIED);
    cr_assert_eq(pkg_jws_verify_signature(&j, p256, &e), KT_EDENIED);
    cr_assert_eq(pkg_jws_verify_signature(&j, rsa, &e), KT_EDENIED);
    cr_assert(strstr(e.msg, "P-384") != NULL, "%s", e.msg);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(rsa);
    pkg_jws_free(&j);
    free(s);
    pt_chain_free(&c);
}

Test(jws, output_shape)
{
    pt_chain c;
    json_error_t jerr;
    kt_buf hdr = {0}, der = {0};
    kt_err e;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    json_t *v = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(v, "%s", jerr.text);
    cr_assert_eq(json_object_size(v), 3);
    const char *prot = json_string_value(json_object_get(v, "protected"));
    const char *sig = json_string_value(json_object_get(v, "signature"));
    cr_assert_not_null(json_object_get(v, "payload"));
    cr_assert_eq(strlen(sig), 128, "96 bytes of r||s in unpadded base64url");
    cr_assert_eq(kt_b64url_decode(prot, strlen(prot), &hdr, &e), KT_OK);
    json_t *h = json_loadb((const char *)hdr.p, hdr.len, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(h);
    cr_assert_eq(json_object_size(h), 3);
    cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "ES384");
    cr_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JOSE+JSON");
    json_t *x5c = json_object_get(h, "x5c");
    cr_assert_eq(json_array_size(x5c), 3);
    /* x5c[0] is standard padded base64 of the leaf's DER (RFC 7515 §4.1.6). */
    cr_assert_eq(pkg_x509_to_der(c.leaf, &der, &e), KT_OK);
    const char *b64 = json_string_value(json_array_get(x5c, 0));
    unsigned char *dec = malloc(strlen(b64));
    int n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)strlen(b64));
    size_t pad = (b64[strlen(b64) - 1] == '=') + (b64[strlen(b64) - 2] == '=');
    cr_assert_eq((size_t)n - pad, der.len);
    cr_assert_arr_eq(dec, der.p, der.len);
    cr_assert_eq(strlen(b64) % 4, 0);
    free(dec);
    kt_buf_free(&der);
    json_decref(h);
    json_decref(v);
    kt_buf_free(&hdr);
    free(s);
    pt_chain_free(&c);
}

/* pyca/cryptography: the leaf from x5c verifies the raw r||s over the signing input. */
static const char PY_JWS[] =
    "import base64, json, sys\n"
    "from cryptography import x509\n"
    "from cryptography.hazmat.primitives import hashes\n"
    "from cryptography.hazmat.primitives.asymmetric import ec\n"
    "from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature\n"
    "def b64u(s):\n"
    "    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))\n"
    "jws = json.load(open(sys.argv[1]))\n"
    "hdr = json.loads(b64u(jws['protected']))\n"
    "assert hdr['alg'] == 'ES384'\n"
    "chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))\n"
    "         for c in hdr['x5c']]\n"
    "for child, parent in zip(chain, chain[1:]):\n"
    "    parent.public_key().verify(child.signature, child.tbs_certificate_bytes,\n"
    "                               ec.ECDSA(child.signature_hash_algorithm))\n"
    "sig = b64u(jws['signature'])\n"
    "assert len(sig) == 96\n"
    "r, s = int.from_bytes(sig[:48], 'big'), int.from_bytes(sig[48:], 'big')\n"
    "msg = (jws['protected'] + '.' + jws['payload']).encode('ascii')\n"
    "chain[0].public_key().verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA384()))\n"
    "sys.stdout.write(b64u(jws['payload']).decode())\n";

Test(jws, pyca_cryptography_verifies_our_jws)
{
    pt_need_pyca();
    char *dir = ts_scratch(), *script = ts_path(dir, "v.py"), *f = ts_path(dir, "p.jws");
    pt_chain c;
    int st;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    ts_write(script, PY_JWS, strlen(PY_JWS));
    ts_write(f, s, strlen(s));
    char *out = pt_capture(&st, "%s %s %s", PT_PYTHON, script, f);
    cr_assert_eq(st, 0);
    cr_assert_str_eq(out, PAYLOAD);
    free(out);
    /* Negative twin: one signature character changed and python refuses. */
    char *sig = strstr(s, "\"signature\":\"") + 13;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    ts_write(f, s, strlen(s));
    out = pt_capture(&st, "%s %s %s 2>/dev/null", PT_PYTHON, script, f);
    cr_assert_neq(st, 0);
    free(out);
    free(s);
    pt_chain_free(&c);
    free(script);
    free(f);
    ts_rmrf(dir);
}

/* ----------------------------------------------------------------------------------------- */
/* Crafting variants                                                                          */
/* ----------------------------------------------------------------------------------------- */

/* A JWS document from the three strings, as given. */
static char *doc(const char *prot, const char *payload, const char *sig)
{
    char *s;

    cr_assert(asprintf(&s, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", prot,
                       payload, sig) > 0);
    return s;
}

/* Standard padded base64, by OpenSSL (not our codec). */
static char *b64std(const uint8_t *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);

    cr_assert_not_null(s);
    cr_assert_geq(EVP_EncodeBlock((unsigned char *)s, p, (int)n), 0);
    return s;
}

static char *b64u(const void *p, size_t n)
{
    char *s = NULL;
    kt_err e;

    cr_assert_eq(kt_b64url_encode(p, n, &s, &e), KT_OK);
    return s;
}

/* The parts of a genuine JWS: protected (encoded), payload (encoded), signature (encoded), and
 * the decoded header JSON. */
typedef struct parts {
    char *prot, *payload, *sig;
    json_t *header;
} parts;

static void split(const char *s, parts *p)
{
    json_t *v = json_loads(s, 0, NULL);
    kt_buf h = {0};
    kt_err e;

    cr_assert_not_null(v);
    p->prot = strdup(json_string_value(json_object_get(v, "protected")));
    p->payload = strdup(json_string_value(json_object_get(v, "payload")));
    p->sig = strdup(json_string_value(json_object_get(v, "signature")));
    cr_assert_eq(kt_b64url_decode(p->prot, strlen(p->prot), &h, &e), KT_OK);
    p->header = json_loadb((const char *)h.p, h.len, 0, NULL);
    cr_assert_not_null(p->header);
    kt_buf_free(&h);
    json_decref(v);
}

static void parts_free(parts *p)
{
    free(p->prot);
    free(p->payload);
    free(p->sig);
    json_decref(p->header);
}

/* A JWS whose protected header is hdr_json (raw text), with the genuine payload and signature. */
static char *with_header_text(const parts *p, const char *hdr_json)
{
    char *prot = b64u(hdr_json, strlen(hdr_json));
    char *s = doc(prot, p->payload, p->sig);

    free(prot);
    return s;
}

/* A JWS whose protected header is the genuine one with member key set to value (NULL: removed). */
static char *with_header_member(const parts *p, const char *key, json_t *value)
{
    json_t *h = json_deep_copy(p->header);
    char *text, *s;

    if (value != NULL)
        json_object_set_new(h, key, value);
    else
        json_object_del(h, key);
    text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    s = with_header_text(p, text);
    free(text);
    json_decref(h);
    return s;
}

static void expect_refused(char *s, kt_rc want, const char *why)
{
    kt_err e;
    kt_rc rc = accept(s, strlen(s), &e);

    cr_assert_eq(rc, want, "%s: got %s (%s)", why, kt_rc_name(rc), e.msg);
    cr_log_info("%s: %s", why, e.msg);
    free(s);
}

Test(jws, refuses_a_der_signature)
{
    pt_chain c;
    parts p;
    kt_buf sig = {0}, der = {0};
    kt_err e;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    split(s, &p);
    cr_assert_eq(kt_b64url_decode(p.sig, strlen(p.sig), &sig, &e), KT_OK);
    cr_assert_eq(pkg_ecdsa_raw_to_der(sig.p, &der, &e), KT_OK);
    char *der64 = b64u(der.p, der.len);
    char *bad = doc(p.prot, p.payload, der64);
    cr_assert_eq(accept(bad, strlen(bad), &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "r||s") != NULL && strstr(e.msg, "DER") != NULL, "%s", e.msg);
    free(bad);
    /* Positive twin: the same signature as r||s is accepted. */
    cr_assert_eq(accept(s, strlen(s), &e), KT_OK, "%s", e.msg);
    free(der64);
    kt_buf_free(&der);
    kt_buf_free(&sig);
    parts_free(&p);
    free(s);
    pt_chain_free(&c);
}

Test(jws, refuses_other_algorithms)
{
    static const char *const algs[] = {"ES256", "ES512", "none",   "HS256", "HS384", "RS256",
                                       "PS384", "es384", "ES384 ", "EdDSA", ""};
    pt_chain c;
    parts p;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    split(s, &p);
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        expect_refused(with_header_member(&p, "alg", json_string(algs[i])), KT_EDENIED, algs[i]);
    expect_refused(with_header_member(&p, "alg", json_integer(384)), KT_EFORMAT, "alg integer");
    expect_refused(with_header_member(&p, "alg", NULL), KT_EFORMAT, "alg missing");
    /* alg none with an empty signature, the classic. */
    json_t *h = json_deep_copy(p.header);
    json_object_set_new(h, "alg", json_string("none"));
    char *text = json_dumps(h, JSON_COMPACT), *prot = b64u(text, strlen(text));
    expect_refused(doc(prot, p.payload, ""), KT_EDENIED, "alg none, empty signature");
    free(prot);
    free(text);
    json_decref(h);
    parts_free(&p);
    free(s);
    pt_chain_free(&c);
}

Test(jws, refuses_header_members_it_does_not_define)
{
    pt_chain c;
    parts p;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    split(s, &p);
    expect_refused(with_header_member(&p, "kid", json_string("x")), KT_EFORMAT, "kid");
    expect_refused(with_header_member(&p, "jku", json_string("https://x")), KT_EFORMAT, "jku");
    expect_refused(with_header_member(&p, "jwk", json_object()), KT_EFORMAT, "jwk");
    expect_refused(with_header_member(&p, "x5u", json_string("https://x")), KT_EFORMAT, "x5u");
    {
        /* crit has its own message (RFC 7515 §4.1.11), not just "unknown member". */
        char *crit = with_header_member(&p, "crit", json_pack("[s]", "exp"));
        kt_err e;
        cr_assert_eq(accept(crit, strlen(crit), &e), KT_EFORMAT);
        cr_assert(strstr(e.msg, "critical extensions") != NULL, "%s", e.msg);
        free(crit);
    }
    expect_refused(with_header_member(&p, "typ", json_string("JWT")), KT_EFORMAT, "typ JWT");
    expect_refused(with_header_member(&p, "typ", NULL), KT_EFORMAT, "typ missing");
    expect_refused(with_header_member(&p, "x5c", NULL), KT_EFORMAT, "x5c missing");
    expect_refused(with_header_member(&p, "x5c", json_array()), KT_EFORMAT, "x5c empty");
    expect_refused(with_header_member(&p, "x5c", json_string("MII")), KT_EFORMAT, "x5c string");
    /* Six certificates. */
    json_t *six = json_array();
    for (int i = 0; i < 6; i++)
        json_array_append(six, json_array_get(json_object_get(p.header, "x5c"), i % 3));
    expect_refused(with_header_member(&p, "x5c", six), KT_EFORMAT, "x5c of six");
    /* Duplicate alg in the header text. */
    char *text = json_dumps(p.header, JSON_COMPACT | JSON_SORT_KEYS);
    char *dup;
    cr_assert(asprintf(&dup, "{\"alg\":\"ES384\",%s", text + 1) > 0);
    expect_refused(with_header_text(&p, dup), KT_EFORMAT, "duplicate alg");
    free(dup);
    /* Trailing data after the header object. */
    cr_assert(asprintf(&dup, "%s{}", text) > 0);
    expect_refused(with_header_text(&p, dup), KT_EFORMAT, "header trailing data");
    free(dup);
    /* Positive twin: the genuine header re-serialized the same way verifies. */
    kt_err e;
    char *same = with_header_text(&p, text);
    cr_assert_eq(accept(same, strlen(same), &e), KT_OK, "%s", e.msg);
    free(same);
    free(text);
    parts_free(&p);
    free(s);
    pt_chain_free(&c);
}

Test(jws, refuses_bad_x5c_entries)
{
    pt_chain c;
    parts p;
    kt_buf der = {0};
    kt_err e;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    split(s, &p);
    cr_assert_eq(pkg_x509_to_der(c.leaf, &der, &e), KT_OK);
    const char *leaf64 = json_string_value(json_array_get(json_object_get(p.header, "x5c"), 0));
    /* base64url instead of base64 (find a cert whose encoding has '+' or '/'). */
    char *url = strdup(leaf64);
    bool changed = false;
    for (char *q = url; *q; q++) {
        if (*q == '+' || *q == '/') {
            *q = *q == '+' ? '-' : '_';
            changed = true;
        }
    }
    if (changed)
        expect_refused(with_header_member(&p, "x5c", json_pack("[s]", url)), KT_EFORMAT,
                       "x5c base64url");
    free(url);
    /* Padding removed. */
    char *nopad = strdup(leaf64);
    while (nopad[strlen(nopad) - 1] == '=')
        nopad[strlen(nopad) - 1] = '\0';
    if (strlen(nopad) != strlen(leaf64))
        expect_refused(with_header_member(&p, "x5c", json_pack("[s]", nopad)), KT_EFORMAT,
                       "x5c unpadded");
    free(nopad);
    /* A line break inside, MIME-style. */
    char *wrapped;
    cr_assert(asprintf(&wrapped, "%.64s\n%s", leaf64, leaf64 + 64) > 0);
    expect_refused(with_header_member(&p, "x5c", json_pack("[s]", wrapped)), KT_EFORMAT,
                   "x5c with a newline");
    free(wrapped);
    /* A trailing byte after the DER, and a truncated DER. */
    uint8_t *longer = malloc(der.len + 3);
    memcpy(longer, der.p, der.len);
    longer[der.len] = 0;
    char *b = NULL;
    b = b64std(longer, der.len + 1);
    expect_refused(with_header_member(&p, "x5c", json_pack("[s]", b)), KT_EFORMAT,
                   "x5c trailing byte");
    free(b);
    b = b64std(der.p, der.len - 3);
    expect_refused(with_header_member(&p, "x5c", json_pack("[s]", b)), KT_EFORMAT, "x5c truncated");
    free(b);
    b = b64std((const uint8_t *)"hello", 5);
    expect_refused(with_header_member(&p, "x5c", json_pack("[s]", b)), KT_EFORMAT,
                   "x5c not a certificate");
    free(b);
    /* Over the size cap. */
    uint8_t *huge = calloc(PKG_CERT_DER_MAX + 3, 1);
    b = b64std(huge, PKG_CERT_DER_MAX + 3);
    expect_refused(with_header_member(&p, "x5c", json_pack("[s]", b)), KT_EFORMAT, "x5c huge");
    free(b);
    free(huge);
    free(longer);
    kt_buf_free(&der);
    parts_free(&p);
    free(s);
    pt_chain_free(&c);
}

Test(jws, refuses_envelope_variants)
{
    pt_chain c;
    parts p;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    split(s, &p);
    char *t;
    cr_assert(asprintf(&t,
                       "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\","
                       "\"header\":{}}",
                       p.prot, p.payload, p.sig) > 0);
    expect_refused(t, KT_EFORMAT, "unprotected header");
    cr_assert(asprintf(&t,
                       "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\","
                       "\"x\":1}",
                       p.prot, p.payload, p.sig) > 0);
    expect_refused(t, KT_EFORMAT, "extra member");
    cr_assert(asprintf(&t,
                       "{\"protected\":\"%s\",\"payload\":\"%s\",\"payload\":\"%s\","
                       "\"signature\":\"%s\"}",
                       p.prot, p.payload, p.payload, p.sig) > 0);
    expect_refused(t, KT_EFORMAT, "duplicate payload");
    cr_assert(asprintf(&t, "{\"protected\":\"%s\",\"payload\":\"%s\"}", p.prot, p.payload) > 0);
    expect_refused(t, KT_EFORMAT, "no signature");
    cr_assert(asprintf(&t, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}[]",
                       p.prot, p.payload, p.sig) > 0);
    expect_refused(t, KT_EFORMAT, "trailing data");
    expect_refused(doc(p.prot, "", p.sig), KT_EFORMAT, "empty payload");
    cr_assert(asprintf(&t, "%s=", p.payload) > 0);
    expect_refused(doc(p.prot, t, p.sig), KT_EFORMAT, "padded payload");
    free(t);
    /* A 95-byte and a 97-byte signature. */
    kt_buf sig = {0};
    kt_err e;
    cr_assert_eq(kt_b64url_decode(p.sig, strlen(p.sig), &sig, &e), KT_OK);
    char *short64 = b64u(sig.p, 95), *long64 = NULL;
    uint8_t longer[97];
    memcpy(longer, sig.p, 96);
    longer[96] = 0;
    long64 = b64u(longer, 97);
    expect_refused(doc(p.prot, p.payload, short64), KT_EFORMAT, "95-byte signature");
    expect_refused(doc(p.prot, p.payload, long64), KT_EFORMAT, "97-byte signature");
    /* JWS compact serialization is not what a package is. */
    cr_assert(asprintf(&t, "%s.%s.%s", p.prot, p.payload, p.sig) > 0);
    expect_refused(t, KT_EFORMAT, "compact serialization");
    free(short64);
    free(long64);
    kt_buf_free(&sig);
    parts_free(&p);
    free(s);
    pt_chain_free(&c);
}

static char next_b64url(char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *at = strchr(alphabet, c);

    cr_assert_not_null(at);
    return alphabet[(at - alphabet + 1) % 64];
}

Test(jws, refuses_a_changed_character_anywhere)
{
    pt_chain c;
    size_t tried = 0;
    kt_err e;

    pt_chain_make(&c);
    char *s = sign_chain(&c, PAYLOAD);
    /* Every character of every base64url string (protected in steps: it is long). */
    const char *names[] = {"\"protected\":\"", "\"payload\":\"", "\"signature\":\""};
    for (size_t k = 0; k < 3; k++) {
        char *start = strstr(s, names[k]) + strlen(names[k]);
        size_t n = strcspn(start, "\"");
        size_t step = k == 0 ? 11 : 1;

        for (size_t i = 0; i < n; i += step) {
            char was = start[i];

            start[i] = next_b64url(was);
            cr_assert_neq(accept(s, strlen(s), &e), KT_OK, "%s character %zu changed: accepted",
                          names[k], i);
            start[i] = was;
            tried++;
        }
    }
    cr_log_info("%zu changed characters, all refused", tried);
    cr_assert_eq(accept(s, strlen(s), &e), KT_OK, "%s", e.msg);
    free(s);
    pt_chain_free(&c);
}

Test(jws, size_caps)
{
    pt_chain c;
    X509 *chain[1];
    char *s = NULL;
    kt_err e;

    pt_chain_make(&c);
    chain[0] = c.leaf;
    uint8_t *big = calloc(PKG_JWS_PAYLOAD_MAX + 1, 1);
    memset(big, 'a', PKG_JWS_PAYLOAD_MAX + 1);
    cr_assert_eq(pkg_jws_sign(big, PKG_JWS_PAYLOAD_MAX + 1, c.leaf_key, chain, 1, &s, &e),
                 KT_EUSAGE);
    cr_assert_eq(pkg_jws_sign(big, PKG_JWS_PAYLOAD_MAX, c.leaf_key, chain, 1, &s, &e), KT_OK, "%s",
                 e.msg);
    cr_assert_eq(accept(s, strlen(s), &e), KT_OK, "%s", e.msg);
    free(s);
    char *huge = malloc(PKG_JWS_MAX + 2);
    memset(huge, ' ', PKG_JWS_MAX + 1);
    huge[0] = '{';
    huge[PKG_JWS_MAX] = '}';
    huge[PKG_JWS_MAX + 1] = '\0';
    cr_assert_eq(accept(huge, PKG_JWS_MAX + 1, &e), KT_ETOOBIG);
    free(huge);
    free(big);
    pt_chain_free(&c);
}

Test(jws, sign_refuses_unfit_inputs)
{
    pt_chain c;
    X509 *chain[6];
    char *s = NULL;
    kt_err e;

    pt_chain_make(&c);
    for (int i = 0; i < 6; i++)
        chain[i] = c.leaf;
    EVP_PKEY *p256 = pt_ec_key("P-256");
    const uint8_t *pl = (const uint8_t *)PAYLOAD;
    cr_assert_eq(pkg_jws_sign(pl, 0, c.leaf_key, chain, 1, &s, &e), KT_EUSAGE);
    cr_assert_eq(pkg_jws_sign(pl, 3, c.leaf_key, chain, 0, &s, &e), KT_EUSAGE);
    cr_assert_eq(pkg_jws_sign(pl, 3, c.leaf_key, chain, 6, &s, &e), KT_EUSAGE);
    cr_assert_eq(pkg_jws_sign(pl, 3, c.warrant_key, chain, 1, &s, &e), KT_EUSAGE);
    cr_assert(strstr(e.msg, "leaf") != NULL, "%s", e.msg);
    cr_assert_eq(pkg_jws_sign(pl, 3, p256, chain, 1, &s, &e), KT_EUSAGE);
    cr_assert_null(s);
    cr_assert_eq(pkg_jws_sign(pl, 3, c.leaf_key, chain, 5, &s, &e), KT_OK, "%s", e.msg);
    free(s);
    EVP_PKEY_free(p256);
    pt_chain_free(&c);
}

/* ----------------------------------------------------------------------------------------- */
/* ES384 signature forms against Wycheproof                                                   */
/* ----------------------------------------------------------------------------------------- */

Test(es384, wycheproof_p384_through_raw_form)
{
    json_t *v = pt_vectors("ecdsa_secp384r1_sha384_test.json"), *g, *t;
    size_t gi, ti, valid = 0, invalid = 0, encoding_only = 0;

    json_array_foreach(json_object_get(v, "testGroups"), gi, g)
    {
        size_t kn;
        uint8_t *kder = pt_unhex(json_string_value(json_object_get(g, "publicKeyDer")), &kn);
        EVP_PKEY *pub = NULL;
        kt_err e;

        cr_assert_eq(kt_spki_decode(kder, kn, &pub, &e), KT_OK, "%s", e.msg);
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            const char *result = json_string_value(json_object_get(t, "result"));
            int id = (int)json_integer_value(json_object_get(t, "tcId"));
            size_t mn, sn;
            uint8_t *m = pt_unhex(json_string_value(json_object_get(t, "msg")), &mn);
            uint8_t *sig = pt_unhex(json_string_value(json_object_get(t, "sig")), &sn);
            pkg_jws j;
            kt_buf der = {0};
            kt_rc rc;

            memset(&j, 0, sizeof j);
            j.signing_input = (char *)m;
            j.signing_input_len = mn;
            rc = pkg_ecdsa_der_to_raw(sig, sn, j.sig, &e);
            if (rc == KT_OK)
                rc = pkg_jws_verify_signature(&j, pub, &e);
            if (strcmp(result, "valid") == 0) {
                cr_assert_eq(rc, KT_OK, "tc %d: %s", id, e.msg);
                /* r||s back to DER gives the same bytes (valid cases are DER). */
                cr_assert_eq(pkg_ecdsa_raw_to_der(j.sig, &der, &e), KT_OK);
                cr_assert_eq(der.len, sn, "tc %d", id);
                cr_assert_arr_eq(der.p, sig, sn, "tc %d", id);
                valid++;
            } else if (strcmp(result, "invalid") == 0) {
                if (rc == KT_OK) {
                    /* Accepted only when the fault was in the DER spelling, which r||s cannot
                     * carry: the canonical re-encoding then differs from the input. */
                    cr_assert_eq(pkg_ecdsa_raw_to_der(j.sig, &der, &e), KT_OK);
                    cr_assert(der.len != sn || memcmp(der.p, sig, sn) != 0,
                              "tc %d: an invalid signature verified", id);
                    encoding_only++;
                }
                invalid++;
            }
            kt_buf_free(&der);
            free(m);
            free(sig);
        }
        EVP_PKEY_free(pub);
        free(kder);
    }
    cr_log_info("ECDSA P-384: %zu valid, %zu invalid (%zu only in their DER spelling)", valid,
                invalid, encoding_only);
    cr_assert_gt(valid, 100);
    cr_assert_gt(invalid, 100);
    json_decref(v);
}

Test(es384, conversion_refusals)
{
    uint8_t raw[96];
    kt_err e;
    /* SEQUENCE { INTEGER 49 bytes (too big), INTEGER 1 } */
    uint8_t big[2 + 2 + 49 + 3] = {0x30, 2 + 49 + 3, 0x02, 49, 0x01};
    big[2 + 2 + 49] = 0x02;
    big[2 + 2 + 49 + 1] = 0x01;
    big[2 + 2 + 49 + 2] = 0x01;
    cr_assert_eq(pkg_ecdsa_der_to_raw(big, sizeof big, raw, &e), KT_EFORMAT);
    /* Negative r. */
    const uint8_t neg[] = {0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01};
    cr_assert_eq(pkg_ecdsa_der_to_raw(neg, sizeof neg, raw, &e), KT_EFORMAT);
    /* Trailing byte. */
    const uint8_t trail[] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00};
    cr_assert_eq(pkg_ecdsa_der_to_raw(trail, sizeof trail, raw, &e), KT_EFORMAT);
    cr_assert_eq(pkg_ecdsa_der_to_raw(trail, sizeof trail - 1, raw, &e), KT_OK);
    cr_assert_eq(raw[47], 1);
    cr_assert_eq(raw[95], 1);
    cr_assert_eq(raw[0], 0);
}
