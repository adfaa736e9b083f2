/*
 * fuzz_json.c - libFuzzer target for the strict JSON layer: kt_json_parse on arbitrary bytes,
 * then every typed getter and kt_json_only_keys on what it accepts, and a dump that must parse
 * back to an equal value.
 */
#include <stdlib.h>
#include <string.h>

#include "kt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP (64 * 1024)

static void exercise_member(const json_t *obj, const char *key)
{
    const char *s;
    int64_t i;
    bool b;
    json_t *v;
    kt_err e;

    if (kt_json_get_string(obj, key, "fuzz", &s, &e) == KT_OK && strlen(s) > SIZE_MAX / 2)
        abort();
    if (kt_json_get_int(obj, key, "fuzz", -1000, 1000, &i, &e) == KT_OK && (i < -1000 || i > 1000))
        abort();
    if (kt_json_get_bool(obj, key, "fuzz", &b, &e) == KT_OK &&
        !json_is_boolean(json_object_get(obj, key)))
        abort();
    if (kt_json_get_object(obj, key, "fuzz", &v, &e) == KT_OK) {
        static const char *const allowed[] = {"a", "b", NULL};

        (void)kt_json_only_keys(v, allowed, "fuzz", &e);
        exercise_member(v, "a");
    }
    if (kt_json_get_array(obj, key, "fuzz", &v, &e) == KT_OK && !json_is_array(v))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const allowed[] = {"kid", "alg", "enc", NULL};
    json_t *root = NULL, *again = NULL;
    const char *key;
    json_t *member;
    char *dumped = NULL;
    kt_err e;

    if (kt_json_parse(data, size, CAP, &root, &e) != KT_OK) {
        if (root != NULL || e.rc == KT_OK)
            abort();
        return 0;
    }
    if (!json_is_object(root))
        abort();
    (void)kt_json_only_keys(root, allowed, "fuzz", &e);
    json_object_foreach(root, key, member)
    {
        exercise_member(root, key);
    }
    exercise_member(root, "missing");
    if (kt_json_dump(root, size % 2 == 0, &dumped, &e) == KT_OK) {
        /* What we write we must read back, to the same value. */
        if (kt_json_parse((const uint8_t *)dumped, strlen(dumped), SIZE_MAX, &again, &e) != KT_OK ||
            !json_equal(root, again))
            abort();
        json_decref(again);
        free(dumped);
    }
    json_decref(root);
    return 0;
}
