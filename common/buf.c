/*
 * buf.c - the binary record codec of world, module, card and key files (the layout is in kt.h):
 * a writer that appends big-endian integers and tagged fields to a growing buffer (in secure
 * memory when it will hold secrets; every old copy is wiped when it moves), and a reader that
 * bounds-checks every read and demands the exact tag expected next.
 */
#include "kt.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_HEAD 6 /* u16 tag + u32 length */
#define MAGIC_LEN  8
#define FIRST_CAP  256

/* ----------------------------------------------------------------------------------------- */
/* Writer                                                                                     */
/* ----------------------------------------------------------------------------------------- */

static void free_block(uint8_t *p, size_t cap, bool secure)
{
    if (p == NULL)
        return;
    if (secure) {
        kt_secbuf b = {p, cap};

        kt_secbuf_free(&b); /* wipes */
    } else {
        kt_wipe(p, cap);
        free(p);
    }
}

/* Makes room for n more bytes; false (and w->failed) when that is impossible. */
static bool reserve(kt_wbuf *w, size_t n)
{
    size_t need, cap;
    uint8_t *q;

    if (w->failed)
        return false;
    if (n > SIZE_MAX - w->len) {
        w->failed = true;
        return false;
    }
    need = w->len + n;
    if (need <= w->cap)
        return true;
    cap = w->cap > 0 ? w->cap : FIRST_CAP;
    while (cap < need)
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : need;
    /* Never realloc: the old block is copied, then wiped and freed here. */
    if (w->secure) {
        kt_secbuf b;

        q = kt_secbuf_alloc(&b, cap, NULL) == KT_OK ? b.p : NULL;
    } else {
        q = malloc(cap);
    }
    if (q == NULL) {
        w->failed = true;
        return false;
    }
    if (w->len > 0)
        memcpy(q, w->p, w->len);
    free_block(w->p, w->cap, w->secure);
    w->p = q;
    w->cap = cap;
    return true;
}

void kt_wbuf_init(kt_wbuf *w, bool secure)
{
    w->p = NULL;
    w->len = 0;
    w->cap = 0;
    w->secure = secure;
    w->failed = false;
}

void kt_wbuf_bytes(kt_wbuf *w, const void *p, size_t n)
{
    if (n == 0 || !reserve(w, n))
        return;
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

void kt_wbuf_u16(kt_wbuf *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

    kt_wbuf_bytes(w, b, sizeof b);
}

void kt_wbuf_u32(kt_wbuf *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    kt_wbuf_bytes(w, b, sizeof b);
}

void kt_wbuf_u64(kt_wbuf *w, uint64_t v)
{
    kt_wbuf_u32(w, (uint32_t)(v >> 32));
    kt_wbuf_u32(w, (uint32_t)v);
}

void kt_wbuf_header(kt_wbuf *w, const char magic[8], uint16_t version)
{
    kt_wbuf_bytes(w, magic, MAGIC_LEN);
    kt_wbuf_u16(w, version);
}

void kt_wbuf_field(kt_wbuf *w, uint16_t tag, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        w->failed = true;
        return;
    }
    /* Reserved at once, so a failure never leaves half a field behind. */
    if (n > SIZE_MAX - FIELD_HEAD || !reserve(w, FIELD_HEAD + n))
        return;
    kt_wbuf_u16(w, tag);
    kt_wbuf_u32(w, (uint32_t)n);
    kt_wbuf_bytes(w, p, n);
}

void kt_wbuf_field_u64(kt_wbuf *w, uint16_t tag, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    kt_wbuf_field(w, tag, b, sizeof b);
}

kt_rc kt_wbuf_finish(const kt_wbuf *w, kt_err *e)
{
    if (w->failed)
        return kt_fail(e, KT_ENOMEM,
                       "cannot build the record: out of memory (or a field over 4 GiB)");
    return KT_OK;
}

void kt_wbuf_free(kt_wbuf *w)
{
    free_block(w->p, w->cap, w->secure);
    w->p = NULL;
    w->len = 0;
    w->cap = 0;
    w->failed = false;
}

/* ----------------------------------------------------------------------------------------- */
/* Reader                                                                                     */
/* ----------------------------------------------------------------------------------------- */

uint16_t kt_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

uint32_t kt_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t kt_be64(const uint8_t *p)
{
    return (uint64_t)kt_be32(p) << 32 | kt_be32(p + 4);
}

static const char *what_of(const kt_rbuf *r)
{
    return r->what != NULL ? r->what : "record";
}

static size_t left(const kt_rbuf *r)
{
    return r->len - r->off;
}

void kt_rbuf_init(kt_rbuf *r, const uint8_t *p, size_t len, const char *what)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->what = what;
}

kt_rc kt_rbuf_header(kt_rbuf *r, const char magic[8], uint16_t *version, kt_err *e)
{
    if (left(r) < MAGIC_LEN || memcmp(r->p + r->off, magic, MAGIC_LEN) != 0)
        return kt_fail(e, KT_EFORMAT, "%s: not a %s (bad magic)", what_of(r), what_of(r));
    if (left(r) < MAGIC_LEN + 2)
        return kt_fail(e, KT_EFORMAT, "%s: truncated: no version after the magic", what_of(r));
    *version = kt_be16(r->p + r->off + MAGIC_LEN);
    r->off += MAGIC_LEN + 2;
    return KT_OK;
}

kt_rc kt_rbuf_field(kt_rbuf *r, uint16_t tag, size_t min, size_t max, const uint8_t **val,
                    size_t *vlen, kt_err *e)
{
    const uint8_t *h;
    uint16_t found;
    uint32_t n;

    if (left(r) < FIELD_HEAD)
        return kt_fail(e, KT_EFORMAT, "%s: truncated: expected field 0x%04x at offset %zu",
                       what_of(r), tag, r->off);
    h = r->p + r->off;
    found = kt_be16(h);
    if (found != tag)
        return kt_fail(e, KT_EFORMAT, "%s: expected field 0x%04x at offset %zu, found 0x%04x",
                       what_of(r), tag, r->off, found);
    n = kt_be32(h + 2);
    if (n < min || n > max) {
        if (min == max)
            return kt_fail(e, KT_EFORMAT,
                           "%s: field 0x%04x at offset %zu is %" PRIu32 " bytes; expected %zu",
                           what_of(r), tag, r->off, n, min);
        return kt_fail(e, KT_EFORMAT,
                       "%s: field 0x%04x at offset %zu is %" PRIu32 " bytes; expected %zu to %zu",
                       what_of(r), tag, r->off, n, min, max);
    }
    if (n > left(r) - FIELD_HEAD)
        return kt_fail(e, KT_EFORMAT,
                       "%s: truncated: field 0x%04x at offset %zu declares %" PRIu32
                       " bytes; %zu remain",
                       what_of(r), tag, r->off, n, left(r) - FIELD_HEAD);
    *val = h + FIELD_HEAD;
    *vlen = n;
    r->off += FIELD_HEAD + (size_t)n;
    return KT_OK;
}

kt_rc kt_rbuf_field_fixed(kt_rbuf *r, uint16_t tag, void *out, size_t n, kt_err *e)
{
    const uint8_t *v;
    size_t vlen;
    kt_rc rc = kt_rbuf_field(r, tag, n, n, &v, &vlen, e);

    if (rc != KT_OK)
        return rc;
    if (n > 0)
        memcpy(out, v, n);
    return KT_OK;
}

kt_rc kt_rbuf_field_u64(kt_rbuf *r, uint16_t tag, uint64_t *out, kt_err *e)
{
    uint8_t b[8];
    kt_rc rc = kt_rbuf_field_fixed(r, tag, b, sizeof b, e);

    if (rc != KT_OK)
        return rc;
    *out = kt_be64(b);
    return KT_OK;
}

kt_rc kt_rbuf_field_str(kt_rbuf *r, uint16_t tag, char *out, size_t max, kt_err *e)
{
    const uint8_t *v;
    size_t vlen, start = r->off;
    kt_rc rc = kt_rbuf_field(r, tag, 1, max, &v, &vlen, e);

    if (rc != KT_OK)
        return rc;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < 0x20 || v[i] > 0x7e) {
            r->off = start;
            return kt_fail(e, KT_EFORMAT,
                           "%s: field 0x%04x at offset %zu holds a non-printable byte at "
                           "position %zu",
                           what_of(r), tag, start, i);
        }
    }
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return KT_OK;
}

kt_rc kt_rbuf_end(const kt_rbuf *r, kt_err *e)
{
    if (r->off != r->len)
        return kt_fail(e, KT_EFORMAT, "%s: %zu trailing bytes after the last field at offset %zu",
                       what_of(r), left(r), r->off);
    return KT_OK;
}
