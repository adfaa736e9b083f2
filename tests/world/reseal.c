/*
 * reseal.c - re-sealing a card under other Argon2id parameters (reseal.h), with the world
 * library's own card reader and writer.
 */
#include "reseal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "world_internal.h"

kt_rc ts_reseal_card(const char *path, const kt_secbuf *pin, const world_kdf *kdf,
                     const uint8_t *world_hash, kt_err *e)
{
    card c;
    kt_secbuf share = {NULL, 0};
    world_kdf before;
    char tmp[PATH_MAX];
    kt_rc rc;

    if (snprintf(tmp, sizeof tmp, "%s.reseal", path) >= (int)sizeof tmp)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", path);
    if ((rc = card_read(path, &c, e)) != KT_OK)
        return rc;
    if ((rc = kt_secbuf_alloc(&share, WORLD_TOKEN_LEN, e)) != KT_OK ||
        (rc = card_open(&c, pin, share.p, e)) != KT_OK)
        goto out;
    world_card_info ci = c.ci;
    ci.kdf = *kdf;
    if (world_hash != NULL)
        memcpy(ci.world_hash, world_hash, WORLD_HASH_LEN);

    world_kdf_floor(&before);
    world_kdf_floor_lower_for_tests(kdf);
    rc = card_write(tmp, &ci, pin, share.p, e);
    world_kdf_floor_lower_for_tests(NULL);
    world_kdf_floor_lower_for_tests(&before);
    if (rc == KT_OK && rename(tmp, path) != 0)
        rc = kt_fail_errno(e, KT_EIO, errno, "cannot rename %s to %s", tmp, path);
out:
    kt_secbuf_free(&share);
    card_free(&c);
    return rc;
}
