/*
 * bench_keys.c - fixtures of the benchmarks (bench/bench.sh): adds N keys (PREFIX000000,
 * PREFIX000001, ...; AES-256 by default, or RSA-2048) to the world in KMDATA with
 * world_key_generate, in one process, so that a world of 10,000 keys is made without 10,000 runs
 * of `keytransfer key generate`; RSA keys after the first are copies of it under their own
 * names (the same material: packaging costs the same, and 1,000 prime searches are avoided).
 * The world lock is held (exclusive) throughout.
 *
 * Usage: bench_keys KMDATA N [aes|rsa] [PREFIX]   (PREFIX default "bench-")
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world.h"

int main(int argc, char **argv)
{
    world_paths p;
    world_lock lock;
    world_module m;
    kt_err e;
    unsigned long n;
    char *end;

    if (argc < 3 || argc > 5 || (n = strtoul(argv[2], &end, 10)) == 0 || *end != '\0' ||
        n > 1000000 || (argc > 3 && strcmp(argv[3], "aes") != 0 && strcmp(argv[3], "rsa") != 0)) {
        fprintf(stderr, "usage: bench_keys KMDATA N (1 to 1000000) [aes|rsa] [PREFIX]\n");
        return 2;
    }
    bool rsa = argc > 3 && strcmp(argv[3], "rsa") == 0;
    const char *prefix = argc > 4 ? argv[4] : "bench-";
    kt_err_clear(&e);
    if (kt_process_harden(&e) != KT_OK || world_paths_init(&p, argv[1], NULL, &e) != KT_OK ||
        world_lock_acquire(&p, true, false, NULL, NULL, &lock, &e) != KT_OK) {
        fprintf(stderr, "bench_keys: %s\n", e.msg);
        return 1;
    }
    if (world_module_open(&p, &m, &e) != KT_OK) {
        fprintf(stderr, "bench_keys: %s\n", e.msg);
        world_lock_release(&lock);
        return 1;
    }
    for (unsigned long i = 0; i < n; i++) {
        char ident[40];
        snprintf(ident, sizeof ident, "%.20s%06lu", prefix, i);
        world_key_gen_opts o = {
            .type = rsa ? WORLD_KEY_RSA : WORLD_KEY_AES, .bits = rsa ? 2048 : 256, .ident = ident};
        kt_rc rc;
        if (rsa && i > 0) {
            /* RSA: copies of the first key under new names (a key file each, sealed anew), so
             * that 1,000 keys do not cost 1,000 prime searches; packaging is the same work */
            world_key k;
            char first[40];
            snprintf(first, sizeof first, "%.20s%06lu", prefix, 0UL);
            if ((rc = world_key_load(&p, &m, NULL, first, &k, &e)) == KT_OK) {
                snprintf(k.info.ident, sizeof k.info.ident, "%s", ident);
                snprintf(k.info.plainname, sizeof k.info.plainname, "%s", ident);
                rc = world_key_save(&p, &m, &k, &e);
                world_key_free(&k);
            }
        } else {
            rc = world_key_generate(&p, &m, &o, NULL, &e);
        }
        if (rc != KT_OK) {
            fprintf(stderr, "bench_keys: %s: %s\n", ident, e.msg);
            world_module_close(&m);
            world_lock_release(&lock);
            return 1;
        }
    }
    world_module_close(&m);
    world_lock_release(&lock);
    return 0;
}
