/*
 * secmem.c - memory: secret buffers in libsodium's guarded, locked memory (kt_secbuf), wiping,
 * constant-time comparison and the CSPRNG; and the plain heap buffer for public data (kt_buf),
 * which is wiped on free too, since it costs little and public data is sometimes less public
 * than its owner thinks.
 */
#include "kt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

kt_rc kt_secbuf_alloc(kt_secbuf *b, size_t len, kt_err *e)
{
    /* sodium_malloc needs sodium_init (it learns the page size there). kt_process_harden calls
     * it first; calling it again costs a lock and turns a forgotten call into no harm. */
    if (sodium_init() < 0) {
        b->p = NULL;
        b->len = 0;
        return kt_fail(e, KT_ECRYPTO, "cannot initialize libsodium");
    }
    b->p = sodium_malloc(len == 0 ? 1 : len);
    if (b->p == NULL) {
        b->len = 0;
        return kt_fail(e, KT_ENOMEM,
                       "cannot allocate %zu bytes of secure memory (is the locked-memory limit, "
                       "ulimit -l, too low?)",
                       len);
    }
    b->len = len;
    return KT_OK;
}

void kt_secbuf_free(kt_secbuf *b)
{
    if (b == NULL)
        return;
    if (b->p != NULL)
        sodium_free(b->p); /* wipes the whole allocation, then unlocks and frees it */
    b->p = NULL;
    b->len = 0;
}

kt_rc kt_buf_join(kt_buf *out, const kt_buf *a, const kt_buf *b, kt_err *e)
{
    out->len = 0;
    if (a->len > SIZE_MAX - b->len || (out->p = malloc(a->len + b->len + 1)) == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    if (a->len > 0)
        memcpy(out->p, a->p, a->len);
    if (b->len > 0)
        memcpy(out->p + a->len, b->p, b->len);
    out->len = a->len + b->len;
    return KT_OK;
}

void kt_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        sodium_memzero(p, n);
}

bool kt_ct_equal(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return true;
    return sodium_memcmp(a, b, n) == 0;
}

void kt_random(void *p, size_t n)
{
    if (n > 0)
        randombytes_buf(p, n);
}

void kt_buf_free(kt_buf *b)
{
    if (b == NULL)
        return;
    if (b->p != NULL) {
        kt_wipe(b->p, b->len);
        free(b->p);
    }
    b->p = NULL;
    b->len = 0;
}
