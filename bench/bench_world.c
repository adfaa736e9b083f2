/*
 * bench_world.c - how long the administrator cards cost: `world_create` at each KDF profile,
 * per card, against the raw Argon2id (libsodium crypto_pwhash) with the same parameters, in the
 * same run. Prints the figures and the ratio; asserts nothing (docs/benchmarks.md).
 *
 * Usage: bench_world [CARDS] [ROUNDS]   (defaults 3 and 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "world.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static kt_rc bench_pin(void *ctx, unsigned no, const char *path, bool is_new, kt_secbuf *pin,
                       kt_err *e)
{
    (void)ctx;
    (void)path;
    (void)is_new;
    char s[32];
    snprintf(s, sizeof s, "bench-pin-%u", no);
    kt_rc rc = kt_secbuf_alloc(pin, strlen(s), e);
    if (rc == KT_OK)
        memcpy(pin->p, s, strlen(s));
    return rc;
}

static double raw_argon2(const world_kdf *k)
{
    unsigned char key[32], salt[crypto_pwhash_SALTBYTES] = {0};
    double t0 = now();
    if (crypto_pwhash(key, sizeof key, "bench-pin-1", 11, salt, k->opslimit, (size_t)k->memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        fprintf(stderr, "crypto_pwhash failed\n");
        exit(1);
    }
    return now() - t0;
}

static double one_world(const world_kdf *k, unsigned cards)
{
    char dir[] = "/tmp/kt-bench-XXXXXX";
    world_paths p;
    world_info info;
    kt_err e;
    if (mkdtemp(dir) == NULL || world_paths_init(&p, dir, NULL, &e) != KT_OK) {
        fprintf(stderr, "cannot make a temp world\n");
        exit(1);
    }
    world_new_opts o = {.k = 1, .n = cards, .kdf = *k, .pin = bench_pin};
    double t0 = now();
    if (world_create(&p, &o, &info, NULL, &e) != KT_OK) {
        fprintf(stderr, "world_create: %s\n", e.msg);
        exit(1);
    }
    double t = now() - t0;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t;
}

int main(int argc, char **argv)
{
    unsigned cards = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
    unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 3;
    kt_err e;
    if (cards < 1 || cards > 64 || rounds < 1 || kt_process_harden(&e) != KT_OK) {
        fprintf(stderr, "usage: bench_world [CARDS 1..64] [ROUNDS]\n");
        return 2;
    }
    const struct {
        const char *name;
        const world_kdf *kdf;
    } profiles[] = {{"moderate", &WORLD_KDF_MODERATE}, {"interactive", &WORLD_KDF_INTERACTIVE}};
    printf("%-12s %8s %10s %14s %14s %8s\n", "profile", "opslimit", "memlimit", "raw Argon2id",
           "world new/card", "ratio");
    for (size_t i = 0; i < 2; i++) {
        double raw = 1e9, per_card = 1e9;
        for (unsigned r = 0; r < rounds; r++) {
            double a = raw_argon2(profiles[i].kdf);
            double w = one_world(profiles[i].kdf, cards) / cards;
            raw = a < raw ? a : raw;
            per_card = w < per_card ? w : per_card;
        }
        printf("%-12s %8llu %7llu MiB %12.3f s %12.3f s %8.2f\n", profiles[i].name,
               (unsigned long long)profiles[i].kdf->opslimit,
               (unsigned long long)(profiles[i].kdf->memlimit >> 20), raw, per_card,
               per_card / raw);
    }
    printf("(best of %u rounds; world new with %u cards, time per card)\n", rounds, cards);
    return 0;
}
