/*
 * fuzz_buf.c - libFuzzer target for the binary record reader: arbitrary bytes through the header
 * check and a fixed field schedule (every reader), with the invariants that the offset never
 * passes the end and a refused read consumes nothing. What it accepts is re-encoded with the
 * writer and must come out byte for byte the same.
 */
#include <stdlib.h>
#include <string.h>

#include "kt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char MAGIC[8] = {'K', 'T', 'F', 'U', 'Z', 'Z', '0', '\n'};

static void check(const kt_rbuf *r, size_t before, kt_rc rc)
{
    if (r->off > r->len || (rc != KT_OK && r->off != before))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_rbuf r;
    kt_wbuf w;
    kt_err e;
    uint16_t version;
    char name[33];
    uint64_t serial;
    uint8_t key[32];
    const uint8_t *blob;
    size_t blen, before;
    kt_rc rc;

    /* Without the magic most inputs would stop at once: let half of them carry it. */
    uint8_t *buf = malloc(size + sizeof MAGIC);

    if (buf == NULL)
        return 0;
    if (size > 0 && data[0] % 2 == 0) {
        memcpy(buf, MAGIC, sizeof MAGIC);
        memcpy(buf + sizeof MAGIC, data + 1, size - 1);
        size = size - 1 + sizeof MAGIC;
    } else if (size > 0) {
        memcpy(buf, data, size);
    }

    kt_rbuf_init(&r, buf, size, "fuzz file");
    rc = kt_rbuf_header(&r, MAGIC, &version, &e);
    check(&r, 0, rc);
    if (rc != KT_OK)
        goto done;
    before = r.off;
    rc = kt_rbuf_field_str(&r, 1, name, sizeof name - 1, &e);
    check(&r, before, rc);
    if (rc != KT_OK)
        goto done;
    before = r.off;
    rc = kt_rbuf_field_u64(&r, 2, &serial, &e);
    check(&r, before, rc);
    if (rc != KT_OK)
        goto done;
    before = r.off;
    rc = kt_rbuf_field_fixed(&r, 3, key, sizeof key, &e);
    check(&r, before, rc);
    if (rc != KT_OK)
        goto done;
    before = r.off;
    rc = kt_rbuf_field(&r, 4, 0, 4096, &blob, &blen, &e);
    check(&r, before, rc);
    if (rc != KT_OK)
        goto done;
    if (kt_rbuf_end(&r, &e) != KT_OK)
        goto done;

    kt_wbuf_init(&w, (serial & 1) != 0);
    kt_wbuf_header(&w, MAGIC, version);
    kt_wbuf_field(&w, 1, name, strlen(name));
    kt_wbuf_field_u64(&w, 2, serial);
    kt_wbuf_field(&w, 3, key, sizeof key);
    kt_wbuf_field(&w, 4, blob, blen);
    if (kt_wbuf_finish(&w, &e) != KT_OK || w.len != size || memcmp(w.p, buf, size) != 0)
        abort();
    kt_wbuf_free(&w);
done:
    free(buf);
    return 0;
}
