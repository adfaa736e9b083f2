/*
 * root.c - the vendor root a verifier trusts, fixed at build time: the SHA-256 of its
 * SubjectPublicKeyInfo DER (docs/design.md §4) from the CMake cache variable
 * KEYTRANSFER_ROOT_SHA256, checked there to be 64 hex digits and passed in as byte initializers.
 * The default is the DEMO root of packages/demo-vendor/, whose private key is committed: a build
 * with it verifies demos, never a real vendor.
 */
#include "pkg.h"

#include <string.h>

#if !defined(PKG_ROOT_SHA256_BYTES) || !defined(PKG_DEMO_ROOT_SHA256_BYTES)
#error "packages/CMakeLists.txt defines PKG_ROOT_SHA256_BYTES and PKG_DEMO_ROOT_SHA256_BYTES"
#endif

static const uint8_t ROOT[] = {PKG_ROOT_SHA256_BYTES};
static const uint8_t DEMO_ROOT[] = {PKG_DEMO_ROOT_SHA256_BYTES};
_Static_assert(sizeof ROOT == 32, "KEYTRANSFER_ROOT_SHA256 must give 32 bytes");
_Static_assert(sizeof DEMO_ROOT == 32, "KT_DEMO_ROOT_SHA256 must give 32 bytes");

void pkg_root_sha256(uint8_t out[32])
{
    memcpy(out, ROOT, sizeof ROOT);
}

void pkg_demo_root_sha256(uint8_t out[32])
{
    memcpy(out, DEMO_ROOT, sizeof DEMO_ROOT);
}

bool pkg_root_is_demo(void)
{
    return memcmp(ROOT, DEMO_ROOT, sizeof ROOT) == 0;
}

kt_rc pkg_root_demo_flag(bool demo, kt_err *e)
{
    uint8_t root[32];
    char groups[80];

    if (!demo || pkg_root_is_demo())
        return KT_OK;
    pkg_root_sha256(root);
    kt_hex_groups(groups, sizeof groups, root, 32);
    return kt_fail(e, KT_EDENIED,
                   "--demo: this build trusts only the vendor root %s (KEYTRANSFER_ROOT_SHA256); "
                   "a build with a real root never takes a KEK vouched for by the DEMO root, "
                   "whose private key is public. Leave --demo out",
                   groups);
}
