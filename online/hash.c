/*
 * hash.c - the SHA-256 of a download, streamed through one fixed buffer so that memory does not
 * grow with the file (docs/design.md §1 step 1), and the expected hashes users paste.
 */
#include "online.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

const char *online_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

void online_hex_upper(char out[65], const uint8_t in[32])
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[64] = '\0';
}

kt_rc online_sha256_parse(const char *hex, uint8_t out[32], kt_err *e)
{
    size_t n = strlen(hex);
    if (n != 64)
        return kt_fail(e, KT_EUSAGE, "a SHA-256 is 64 hex digits; '%.80s%s' has %zu characters",
                       hex, n > 80 ? "..." : "", n);
    for (size_t i = 0; i < n; i++) {
        char c = hex[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!ok)
            return kt_fail(e, KT_EUSAGE,
                           "a SHA-256 is 64 hex digits; character %zu of '%s' is not one", i + 1,
                           hex);
    }
    return kt_unhex(out, 32, hex, e) == KT_OK ? KT_OK
                                              : kt_fail(e, KT_EUSAGE, "'%s' is not hex", hex);
}

/* MiB for the progress indicator, which counts in size_t. */
static size_t mib(uint64_t bytes)
{
    return (size_t)(bytes >> 20);
}

kt_rc online_hash_file(const char *path, uint8_t out[32], uint64_t *size, kt_progress_fn progress,
                       void *progress_ctx, kt_err *e)
{
    uint8_t *buf = NULL; /* the one buffer: memory does not grow with the file */
    struct stat st;
    EVP_MD_CTX *ctx = NULL;
    uint64_t done = 0;
    unsigned int len = 0;
    kt_rc rc = KT_OK;
    int fd;

    memset(out, 0, 32);
    if (size != NULL)
        *size = 0;
    /* stat first, so a FIFO or device is never opened (opening a FIFO blocks). */
    if (stat(path, &st) != 0)
        return kt_fail_errno(e, errno == ENOENT ? KT_ENOENT : KT_EIO, errno, "cannot read '%s'",
                             path);
    if (!S_ISREG(st.st_mode))
        return kt_fail(e, KT_EIO, "'%s' is not a regular file (%s); give the downloaded file", path,
                       S_ISDIR(st.st_mode)                          ? "a folder"
                       : S_ISFIFO(st.st_mode)                       ? "a FIFO"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                    : "not a file");
    /* O_NONBLOCK: should the path become a FIFO after the stat, open does not hang on it. */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
        return kt_fail_errno(e, KT_EIO, errno, "cannot open '%s'", path);
    /* The file opened must be the one examined (not swapped for a FIFO in between). */
    struct stat fst;
    if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_dev != st.st_dev ||
        fst.st_ino != st.st_ino) {
        close(fd);
        return kt_fail(e, KT_EIO, "'%s' changed while it was being opened", path);
    }
    /* A hint to the kernel: one sequential pass, no need to keep the pages afterwards. */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    if ((buf = malloc(ONLINE_HASH_CHUNK)) == NULL) {
        rc = kt_fail(e, KT_ENOMEM, "out of memory");
        goto out;
    }
    if ((ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "SHA-256 is not available");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, ONLINE_HASH_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = kt_fail_errno(e, KT_EIO, errno, "cannot read '%s' after %llu bytes", path,
                               (unsigned long long)done);
            goto out;
        }
        if (n == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
            rc = kt_fail_ssl(e, KT_ECRYPTO, "SHA-256 failed");
            goto out;
        }
        if (mib(done + (uint64_t)n) != mib(done) && progress != NULL)
            progress(progress_ctx, "hashing", mib(done + (uint64_t)n), mib((uint64_t)st.st_size));
        done += (uint64_t)n;
    }
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32) {
        rc = kt_fail_ssl(e, KT_ECRYPTO, "SHA-256 failed");
        goto out;
    }
    if (progress != NULL && mib((uint64_t)st.st_size) > 0)
        progress(progress_ctx, "hashing", mib((uint64_t)st.st_size), mib((uint64_t)st.st_size));
    if (size != NULL)
        *size = done;
out:
    if (rc != KT_OK)
        memset(out, 0, 32);
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    return rc;
}
