/*
 * kt_reseal.c - test helper for tests/cli/test_kdf.sh: re-seals an administrator card under other
 * Argon2id parameters, as an attacker who knows the PIN (or a careless tool) could.
 *
 *   kt_reseal CARD PIN-FILE OPSLIMIT MEMLIMIT-BYTES
 *
 * The PIN is the first line of PIN-FILE. Exit 0 when the card was replaced, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world/reseal.h"

int main(int argc, char **argv)
{
    kt_secbuf lines = {NULL, 0}, pin = {NULL, 0};
    kt_err e;
    world_kdf kdf;
    char *end1, *end2;

    if (argc != 5) {
        fprintf(stderr, "usage: kt_reseal CARD PIN-FILE OPSLIMIT MEMLIMIT-BYTES\n");
        return 2;
    }
    kdf.opslimit = strtoull(argv[3], &end1, 10);
    kdf.memlimit = strtoull(argv[4], &end2, 10);
    if (*end1 != '\0' || *end2 != '\0') {
        fprintf(stderr, "kt_reseal: OPSLIMIT and MEMLIMIT-BYTES are decimal numbers\n");
        return 2;
    }
    kt_err_clear(&e);
    kt_rc rc = kt_file_read_secret(argv[2], KT_PIN_FILE_MAX, &lines, &e);
    if (rc == KT_OK) {
        uint8_t *nl = memchr(lines.p, '\n', lines.len);
        size_t n = nl != NULL ? (size_t)(nl - lines.p) : lines.len;
        rc = kt_secbuf_alloc(&pin, n, &e);
        if (rc == KT_OK) {
            memcpy(pin.p, lines.p, n);
            rc = ts_reseal_card(argv[1], &pin, &kdf, NULL, &e);
        }
    }
    kt_secbuf_free(&pin);
    kt_secbuf_free(&lines);
    if (rc != KT_OK) {
        fprintf(stderr, "kt_reseal: %s\n", e.msg);
        return 1;
    }
    return 0;
}
