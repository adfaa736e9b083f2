/*
 * fuzz_audit.c - libFuzzer target for the audit log parser (world_audit_parse): the input is a
 * log file checked against a world of a fixed module key pair. No input can carry that key's
 * signatures, so the parser must refuse every one, cleanly and without reading out of bounds,
 * whatever the framing, field lengths, sequence numbers or JSON details say.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "world_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static world_info info;
    static bool ready;
    kt_err e;
    if (!ready) {
        uint8_t seed[32] = {1}, sk[64];
        if (sodium_init() < 0)
            abort();
        crypto_sign_seed_keypair(info.module_pub, sk, seed);
        crypto_sign_seed_keypair(info.knso_pub, sk, seed);
        sodium_memzero(sk, sizeof sk);
        info.cardset = 1;
        ready = true;
    }
    world_audit_log log;
    if (world_audit_parse(data, size, &info, &log, &e) == KT_OK)
        abort();
    if (e.rc != KT_EDENIED && e.rc != KT_ENOMEM)
        abort(); /* every refusal of a log's content is "the answer is no" */
    return 0;
}
