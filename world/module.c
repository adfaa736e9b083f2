/*
 * module.c - the software module: module_<ESN> holds the module key KM for day-to-day use without
 * cards, like an nShield module's NVRAM. The file is readable by its owner only and carries a
 * BLAKE2b MAC under a subkey of KM, so a damaged or swapped file is refused. KM derives the
 * module's signing key and the keys that protect key files. Erasing it loses nothing that the
 * ACS quorum cannot restore with `world program`.
 */
#include "world_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char MODULE_MAGIC[8] = {'K', 'T', 'X', 'M', 'O', 'D', 'U', 'L'};

kt_rc world_km_subkey(const kt_secbuf *km, uint64_t purpose, kt_secbuf *out, kt_err *e)
{
    kt_rc rc = kt_secbuf_alloc(out, 32, e);
    if (rc != KT_OK)
        return rc;
    if (crypto_kdf_derive_from_key(out->p, out->len, purpose, "KTKMSUB1", km->p) != 0) {
        kt_secbuf_free(out);
        return kt_fail(e, KT_ECRYPTO, "deriving a subkey of the module key failed");
    }
    return KT_OK;
}

void world_hkm(const uint8_t *km, uint8_t out[32])
{
    static const char domain[] = "keytransfer hkm v1";
    uint8_t in[sizeof domain - 1 + WORLD_KM_LEN];
    memcpy(in, domain, sizeof domain - 1);
    memcpy(in + sizeof domain - 1, km, WORLD_KM_LEN);
    kt_sha256(out, in, sizeof in);
    kt_wipe(in, sizeof in);
}

kt_rc world_module_keypair(const kt_secbuf *km, uint8_t pk[32], kt_secbuf *sk, kt_err *e)
{
    kt_secbuf seed = {0};
    kt_rc rc = world_km_subkey(km, WORLD_KM_MODULE_SIGN, &seed, e);
    if (rc != KT_OK)
        return rc;
    if ((rc = kt_secbuf_alloc(sk, crypto_sign_SECRETKEYBYTES, e)) == KT_OK)
        crypto_sign_seed_keypair(pk, sk->p, seed.p);
    kt_secbuf_free(&seed);
    return rc;
}

static kt_rc module_mac(const kt_secbuf *km, const uint8_t *data, size_t len, uint8_t mac[32],
                        kt_err *e)
{
    kt_secbuf key = {0};
    kt_rc rc = world_km_subkey(km, WORLD_KM_MODULE_MAC, &key, e);
    if (rc != KT_OK)
        return rc;
    crypto_generichash(mac, 32, data, len, key.p, key.len);
    kt_secbuf_free(&key);
    return KT_OK;
}

kt_rc module_file_build(const world_info *info, const kt_secbuf *km, kt_wbuf *w, kt_err *e)
{
    uint8_t mac[32];
    kt_rc rc;

    kt_wbuf_init(w, true);
    kt_wbuf_header(w, MODULE_MAGIC, WORLD_FORMAT_VERSION);
    kt_wbuf_field(w, MODULE_T_ESN, info->esn, WORLD_ESN_LEN);
    kt_wbuf_field(w, MODULE_T_WORLD, info->hash, WORLD_HASH_LEN);
    kt_wbuf_field(w, MODULE_T_KM, km->p, WORLD_KM_LEN);
    if ((rc = kt_wbuf_finish(w, e)) == KT_OK &&
        (rc = module_mac(km, w->p, w->len, mac, e)) == KT_OK) {
        kt_wbuf_field(w, MODULE_T_MAC, mac, sizeof mac);
        rc = kt_wbuf_finish(w, e);
    }
    if (rc != KT_OK)
        kt_wbuf_free(w);
    return rc;
}

kt_rc module_file_write(const world_paths *p, const world_info *info, const kt_secbuf *km,
                        unsigned flags, kt_err *e)
{
    char path[PATH_MAX];
    kt_wbuf w;
    kt_rc rc = world_module_path(p, info->esn, path, sizeof path, e);
    if (rc != KT_OK)
        return rc;
    if ((rc = module_file_build(info, km, &w, e)) == KT_OK) {
        rc = kt_file_write(path, w.p, w.len, flags, e);
        kt_wbuf_free(&w);
    }
    return rc;
}

kt_rc module_file_parse(const kt_secbuf *raw, const world_info *info, kt_secbuf *km, kt_err *e)
{
    kt_rbuf r;
    uint16_t version;
    char esn[WORLD_ESN_LEN + 1];
    uint8_t world_hash[WORLD_HASH_LEN], mac[32], want[32], hkm[32];
    kt_rc rc;

    kt_rbuf_init(&r, raw->p, raw->len, "module file");
    if ((rc = kt_rbuf_header(&r, MODULE_MAGIC, &version, e)) != KT_OK)
        return rc;
    if (version != WORLD_FORMAT_VERSION)
        return kt_fail(e, KT_EVERSION, "module file format version %u is not supported", version);
    if ((rc = kt_rbuf_field_str(&r, MODULE_T_ESN, esn, WORLD_ESN_LEN, e)) ||
        (rc = kt_rbuf_field_fixed(&r, MODULE_T_WORLD, world_hash, WORLD_HASH_LEN, e)) ||
        (rc = kt_secbuf_alloc(km, WORLD_KM_LEN, e)) ||
        (rc = kt_rbuf_field_fixed(&r, MODULE_T_KM, km->p, WORLD_KM_LEN, e)))
        return rc;
    size_t maced = r.off;
    if ((rc = kt_rbuf_field_fixed(&r, MODULE_T_MAC, mac, sizeof mac, e)) ||
        (rc = kt_rbuf_end(&r, e)) || (rc = module_mac(km, raw->p, maced, want, e)))
        return rc;
    if (!kt_ct_equal(mac, want, sizeof mac))
        return kt_fail(e, KT_EDENIED,
                       "module file MAC does not verify: the file is damaged or "
                       "was altered; restore it with `keytransfer world program`");

    char have_hex[65], want_hex[65];
    if (strcmp(esn, info->esn) != 0)
        return kt_fail(e, KT_EDENIED, "module file is for module %s, but the world names %s", esn,
                       info->esn);
    if (!kt_ct_equal(world_hash, info->hash, WORLD_HASH_LEN)) {
        kt_hex(have_hex, world_hash, WORLD_HASH_LEN);
        kt_hex(want_hex, info->hash, WORLD_HASH_LEN);
        return kt_fail(e, KT_EDENIED, "module belongs to world %s, not to this world %s", have_hex,
                       want_hex);
    }
    world_hkm(km->p, hkm);
    if (!kt_ct_equal(hkm, info->hkm, sizeof hkm))
        return kt_fail(e, KT_EDENIED, "module key does not match the world's hkm");
    return KT_OK;
}

kt_rc world_module_open(const world_paths *p, world_module *m, kt_err *e)
{
    char path[PATH_MAX];
    kt_secbuf raw = {0};
    uint8_t pk[32];
    kt_rc rc;

    memset(m, 0, sizeof *m);
    if ((rc = world_load_info(p, &m->info, e)) != KT_OK)
        return rc;
    if ((rc = world_module_path(p, m->info.esn, path, sizeof path, e)) != KT_OK)
        return rc;
    rc = kt_file_read_secret(path, MODULE_FILE_MAX, &raw, e);
    if (rc == KT_ENOENT)
        return kt_fail(e, KT_ENOENT,
                       "module %s is not programmed (%s is missing): load the world into it from "
                       "a quorum of administrator cards with `keytransfer world program`",
                       m->info.esn, path);
    if (rc == KT_OK && (rc = module_file_parse(&raw, &m->info, &m->km, e)) != KT_OK)
        kt_err_prefix(e, "%s", path);
    if (rc == KT_OK && (rc = world_module_keypair(&m->km, pk, &m->module_sk, e)) == KT_OK &&
        !kt_ct_equal(pk, m->info.module_pub, sizeof pk))
        rc = kt_fail(e, KT_EDENIED, "%s: module signing key does not match the world file", path);
    kt_secbuf_free(&raw);
    if (rc != KT_OK)
        world_module_close(m);
    return rc;
}

void world_module_close(world_module *m)
{
    kt_secbuf_free(&m->km);
    kt_secbuf_free(&m->module_sk);
    memset(m, 0, sizeof *m);
}

kt_rc world_module_erase(const world_paths *p, kt_err *e)
{
    world_info info;
    char path[PATH_MAX];
    kt_rc rc = world_load_info(p, &info, e);
    if (rc != KT_OK)
        return rc;
    if ((rc = world_module_path(p, info.esn, path, sizeof path, e)) != KT_OK)
        return rc;

    /* The name goes first, so no reader ever opens a half-wiped file: it finds the module
     * either whole or gone. Then the bytes are overwritten through the descriptor kept open; on
     * a journaling or copy-on-write file system that is best effort only
     * (docs/threat-model.md); the unlink is what the module relies on. */
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return kt_fail(e, KT_ENOENT, "module %s is not programmed (%s is missing)", info.esn,
                           path);
        return kt_fail_errno(e, KT_EIO, errno, "cannot open %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kt_fail(e, KT_EIO, "%s is not a regular file; refusing to erase it", path);
    }
    if ((rc = kt_file_remove(path, e)) != KT_OK) {
        close(fd);
        return rc;
    }
    uint8_t zero[MODULE_FILE_MAX] = {0};
    if (st.st_size > 0 && st.st_size <= (off_t)sizeof zero) {
        if (pwrite(fd, zero, (size_t)st.st_size, 0) != (ssize_t)st.st_size || fsync(fd) != 0) {
            int err = errno;
            close(fd);
            return kt_fail_errno(e, KT_EIO, err, "%s was removed, but overwriting its bytes failed",
                                 path);
        }
    }
    if (close(fd) != 0)
        return kt_fail_errno(e, KT_EIO, errno, "%s was removed, but closing it failed", path);
    return KT_OK;
}
