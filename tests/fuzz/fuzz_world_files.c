/*
 * fuzz_world_files.c - libFuzzer target for the parsers of the security world's files: the first
 * byte picks the world file, a card or a module file; the rest is the file. Parsers must refuse
 * garbage cleanly and never read out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "world_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_err e;
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 3;
    data++;
    size--;
    if (which == 0) {
        world_file w;
        memset(&w, 0, sizeof w);
        w.raw.p = malloc(size + 1);
        if (w.raw.p == NULL)
            return 0;
        memcpy(w.raw.p, data, size);
        w.raw.len = size;
        if (world_file_parse(&w, &e) == KT_OK && w.info.k > w.info.n)
            abort();
        world_file_free(&w);
    } else if (which == 1) {
        card c;
        memset(&c, 0, sizeof c);
        c.raw.p = malloc(size + 1);
        if (c.raw.p == NULL)
            return 0;
        memcpy(c.raw.p, data, size);
        c.raw.len = size;
        if (card_parse(&c, &e) == KT_OK && (c.ci.x == 0 || c.ci.k > c.ci.n))
            abort();
        card_free(&c);
    } else {
        static world_info info; /* a zero identity: the MAC and bindings must refuse */
        kt_secbuf raw = {0}, km = {0};
        if (kt_secbuf_alloc(&raw, size, &e) != KT_OK)
            return 0;
        memcpy(raw.p, data, size);
        raw.len = size;
        if (module_file_parse(&raw, &info, &km, &e) == KT_OK)
            abort();
        kt_secbuf_free(&km);
        kt_secbuf_free(&raw);
    }
    return 0;
}
