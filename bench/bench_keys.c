/*
 * bench_keys.c - the fixture of the key-list benchmark (bench/bench.sh): adds N AES-256 keys
 * (bench-000000, bench-000001, ...) to the world in KMDATA with world_key_generate, in one
 * process, so that a world of 10,000 keys is made in seconds instead of 10,000 runs of
 * `keytransfer key generate`. The world lock is held (exclusive) throughout.
 *
 * Usage: bench_keys KMDATA N
 */
#include <stdio.h>
#include <stdlib.h>

#include "world.h"

int main(int argc, char **argv)
{
    world_paths p;
    world_lock lock;
    world_module m;
    kt_err e;
    unsigned long n;
    char *end;

    if (argc != 3 || (n = strtoul(argv[2], &end, 10)) == 0 || *end != '\0' || n > 1000000) {
        fprintf(stderr, "usage: bench_keys KMDATA N (1 to 1000000)\n");
        return 2;
    }
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
        char ident[32];
        snprintf(ident, sizeof ident, "bench-%06lu", i);
        world_key_gen_opts o = {.type = WORLD_KEY_AES, .bits = 256, .ident = ident};
        if (world_key_generate(&p, &m, &o, NULL, &e) != KT_OK) {
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
