/*
 * fuzz_gcp_job.c - libFuzzer target for the Cloud KMS import job parser (pkg_gcp_job_parse):
 * arbitrary bytes are refused cleanly, with a message and nothing left behind, or give a job
 * whose name splits into its four parts, whose method is one of the six and whose wrapping key
 * is an RSA key of that method's size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkg_gcp_job j;
    char name[4 * PKG_GCP_NAME_MAX + 64];
    kt_err e;

    if (pkg_gcp_job_parse(data, size, &j, &e) != KT_OK) {
        if (j.public_key != NULL || e.msg[0] == '\0')
            abort();
        return 0;
    }
    snprintf(name, sizeof name, "projects/%s/locations/%s/keyRings/%s/importJobs/%s", j.project,
             j.location, j.keyring, j.job);
    if (strcmp(name, j.name) != 0 || strcmp(pkg_gcp_method_name(j.method), "?") == 0 ||
        EVP_PKEY_get_base_id(j.public_key) != EVP_PKEY_RSA ||
        (unsigned)EVP_PKEY_get_bits(j.public_key) != pkg_gcp_method_bits(j.method))
        abort();
    pkg_gcp_job_free(&j);
    return 0;
}
