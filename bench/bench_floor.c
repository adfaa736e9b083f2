/*
 * bench_floor.c - the durable-write floor of a batch package (bench/bench.sh): what writing N
 * pairs of files of the given sizes durably costs at the least, in one process: each file
 * created (O_EXCL), written, fsync'd and closed, then the folder fsync'd once. Nothing of the
 * commit protocol (staged names, records, renames) and no crypto: the bound a batch package is
 * measured against. Prints the seconds taken.
 *
 * Usage: bench_floor DIR N SIZE1 SIZE2   (DIR must exist and be empty of these names)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_one(int dfd, const char *name, const char *buf, size_t len)
{
    int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_floor DIR N SIZE1 SIZE2\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10), s1 = strtol(argv[3], NULL, 10),
         s2 = strtol(argv[4], NULL, 10);
    if (n < 1 || s1 < 1 || s2 < 1 || s1 > 1 << 20 || s2 > 1 << 20) {
        fprintf(stderr, "bench_floor: N, SIZE1 and SIZE2 must be positive (sizes up to 1 MiB)\n");
        return 2;
    }
    char *buf = malloc((size_t)(s1 > s2 ? s1 : s2));
    int dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (buf == NULL || dfd < 0) {
        perror("bench_floor");
        return 1;
    }
    memset(buf, 'x', (size_t)(s1 > s2 ? s1 : s2));
    double t0 = now();
    for (long i = 0; i < n; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "floor-%ld.byok", i);
        snprintf(b, sizeof b, "floor-%ld.manifest.json", i);
        if (write_one(dfd, a, buf, (size_t)s1) != 0 || write_one(dfd, b, buf, (size_t)s2) != 0) {
            perror("bench_floor");
            return 1;
        }
    }
    if (fsync(dfd) != 0) {
        perror("bench_floor");
        return 1;
    }
    printf("%.6f\n", now() - t0);
    close(dfd);
    free(buf);
    return 0;
}
