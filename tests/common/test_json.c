/*
 * test_json.c - the strict JSON layer: one object accepted; duplicates, trailing data, other top
 * levels, NUL, invalid UTF-8, oversize and deep nesting refused; unknown members named; typed
 * getters refusing other types and out-of-range integers; deterministic serialization.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kt.h"

#define CAP 4096

static kt_rc parse(const char *s, json_t **out, kt_err *e)
{
    return kt_json_parse((const uint8_t *)s, strlen(s), CAP, out, e);
}

static json_t *parse_ok(const char *s)
{
    json_t *v = NULL;
    kt_err e;

    cr_assert_eq(parse(s, &v, &e), KT_OK, "%s: %s", s, e.msg);
    cr_assert_not_null(v);
    return v;
}

static void assert_refused(const char *s, size_t len, kt_rc want, const char *needle)
{
    json_t *v = (json_t *)1;
    kt_err e;

    cr_assert_eq(kt_json_parse((const uint8_t *)s, len, CAP, &v, &e), want, "accepted: %s", s);
    cr_assert_null(v);
    if (needle != NULL)
        cr_assert(strstr(e.msg, needle) != NULL, "'%s' not in: %s", needle, e.msg);
}

/* A literal's length, embedded NULs included. */
#define REFUSED(lit, want, needle) assert_refused(lit, sizeof(lit) - 1, want, needle)

Test(json, accepts_a_normal_object)
{
    json_t *v = parse_ok("{\"name\": \"contosokey\", \"size\": 2048, \"exportable\": false,"
                         " \"ops\": [\"import\"], \"kek\": {\"kid\": \"k1\"}}");

    cr_assert(json_is_object(v));
    cr_assert_eq(json_object_size(v), 5);
    json_decref(v);
}

Test(json, refuses_duplicate_keys)
{
    REFUSED("{\"a\": 1, \"a\": 2}", KT_EFORMAT, "duplicate");
    REFUSED("{\"o\": {\"a\": 1, \"b\": 2, \"a\": 1}}", KT_EFORMAT, NULL);
}

Test(json, refuses_trailing_data)
{
    REFUSED("{} x", KT_EFORMAT, "line 1");
    REFUSED("{}{}", KT_EFORMAT, NULL);
    REFUSED("{}\n{}", KT_EFORMAT, "line 2");
    json_decref(parse_ok("{}\n  \t"));
}

Test(json, refuses_other_top_levels)
{
    REFUSED("[1, 2]", KT_EFORMAT, "expected a JSON object, found an array");
    REFUSED("\"s\"", KT_EFORMAT, NULL);
    REFUSED("1", KT_EFORMAT, NULL);
    REFUSED("true", KT_EFORMAT, NULL);
    REFUSED("null", KT_EFORMAT, NULL);
    REFUSED("", KT_EFORMAT, NULL);
}

Test(json, refuses_nul_characters)
{
    REFUSED("{\"a\": \"x\\u0000y\"}", KT_EFORMAT, NULL);
    REFUSED("{\"a\\u0000\": 1}", KT_EFORMAT, NULL);
    REFUSED("{\"a\": \"x\0y\"}", KT_EFORMAT, NULL);
    REFUSED("{}\0", KT_EFORMAT, NULL);
}

Test(json, refuses_invalid_utf8)
{
    REFUSED("{\"a\": \"\xff\"}", KT_EFORMAT, NULL);
    REFUSED("{\"a\": \"\xc3\"}", KT_EFORMAT, NULL);         /* cut sequence */
    REFUSED("{\"a\": \"\xc0\xaf\"}", KT_EFORMAT, NULL);     /* overlong '/' */
    REFUSED("{\"a\": \"\xed\xa0\x80\"}", KT_EFORMAT, NULL); /* surrogate */
    json_decref(parse_ok("{\"a\": \"\xc3\xa9\"}"));
}

Test(json, messages_stay_printable)
{
    static const char bad[] = "{\"a\": \x1b[31m}";
    json_t *v = NULL;
    kt_err e;

    cr_assert_eq(kt_json_parse((const uint8_t *)bad, sizeof bad - 1, CAP, &v, &e), KT_EFORMAT);
    for (const char *c = e.msg; *c != '\0'; c++)
        cr_assert(*c >= 0x20 && *c <= 0x7e, "control byte in: %s", e.msg);
}

Test(json, refuses_input_over_the_cap)
{
    char buf[CAP + 2];
    json_t *v = NULL;
    kt_err e;

    memset(buf, ' ', sizeof buf);
    buf[0] = '{';
    buf[CAP - 1] = '}';
    cr_assert_eq(kt_json_parse((const uint8_t *)buf, CAP, CAP, &v, &e), KT_OK, "%s", e.msg);
    json_decref(v);
    v = NULL;
    buf[CAP - 1] = ' ';
    buf[CAP] = '}';
    cr_assert_eq(kt_json_parse((const uint8_t *)buf, CAP + 1, CAP, &v, &e), KT_ETOOBIG);
    cr_assert_null(v);
    cr_assert(strstr(e.msg, "4096") != NULL, "%s", e.msg);
}

/* Nested objects {"a":{"a":...{}...}} depth levels deep. */
static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 6 + 1);
    size_t o = 0;

    cr_assert_not_null(s);
    for (int i = 0; i < depth; i++) {
        if (i == depth - 1) {
            s[o++] = '{';
        } else {
            memcpy(s + o, "{\"a\":", 5);
            o += 5;
        }
    }
    for (int i = 0; i < depth; i++)
        s[o++] = '}';
    s[o] = '\0';
    return s;
}

Test(json, refuses_deep_nesting)
{
    char *ok = nested(32), *deep = nested(33);
    char arrays[200];
    json_t *v = NULL;
    kt_err e;

    cr_assert_eq(kt_json_parse((const uint8_t *)ok, strlen(ok), CAP, &v, &e), KT_OK, "%s", e.msg);
    json_decref(v);
    v = NULL;
    cr_assert_eq(kt_json_parse((const uint8_t *)deep, strlen(deep), CAP, &v, &e), KT_EFORMAT);
    cr_assert_null(v);
    cr_assert(strstr(e.msg, "deeper") != NULL, "%s", e.msg);
    /* Arrays count too. */
    strcpy(arrays, "{\"a\":");
    for (int i = 0; i < 40; i++)
        strcat(arrays, "[");
    for (int i = 0; i < 40; i++)
        strcat(arrays, "]");
    strcat(arrays, "}");
    cr_assert_eq(kt_json_parse((const uint8_t *)arrays, strlen(arrays), CAP, &v, &e), KT_EFORMAT);
    free(ok);
    free(deep);
}

Test(json, only_keys_accepts_known_members)
{
    static const char *const allowed[] = {"kid", "alg", "enc", NULL};
    json_t *v = parse_ok("{\"kid\": \"k\", \"alg\": \"dir\"}");
    kt_err e;

    cr_assert_eq(kt_json_only_keys(v, allowed, "header", &e), KT_OK, "%s", e.msg);
    json_decref(v);
}

Test(json, only_keys_refuses_and_names_an_extra_member)
{
    static const char *const allowed[] = {"kid", "alg", "enc", NULL};
    json_t *v = parse_ok("{\"kid\": \"k\", \"zip\": \"DEF\"}");
    json_t *w = parse_ok("{\"kid\": \"k\", \"\\u001b[2Jx\": 1}");
    kt_err e;

    cr_assert_eq(kt_json_only_keys(v, allowed, "header", &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "header: unknown member \"zip\"");
    cr_assert_eq(kt_json_only_keys(w, allowed, "header", &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "header: unknown member \"?[2Jx\"", "control bytes are masked");
    json_decref(v);
    json_decref(w);
}

Test(json, getters_return_typed_members)
{
    json_t *v = parse_ok("{\"s\": \"text\", \"i\": -42, \"b\": true, \"o\": {}, \"a\": [1]}");
    const char *s = NULL;
    int64_t i = 0;
    bool b = false;
    json_t *o = NULL, *a = NULL;
    kt_err e;

    cr_assert_eq(kt_json_get_string(v, "s", "doc", &s, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(s, "text");
    cr_assert_eq(kt_json_get_int(v, "i", "doc", -100, 100, &i, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(i, -42);
    cr_assert_eq(kt_json_get_bool(v, "b", "doc", &b, &e), KT_OK, "%s", e.msg);
    cr_assert(b);
    cr_assert_eq(kt_json_get_object(v, "o", "doc", &o, &e), KT_OK, "%s", e.msg);
    cr_assert(json_is_object(o));
    cr_assert_eq(kt_json_get_array(v, "a", "doc", &a, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(json_array_size(a), 1);
    json_decref(v);
}

Test(json, a_string_is_copied_only_in_its_bounds)
{
    json_t *v = parse_ok("{\"s\": \"text\", \"empty\": \"\", \"i\": 1}");
    char out[5];
    kt_err e;

    cr_assert_eq(kt_json_copy_string(v, "s", "doc", 1, out, sizeof out, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(out, "text");
    cr_assert_eq(kt_json_copy_string(v, "s", "doc", 0, out, 4, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "doc: member \"s\" has 4 characters; 0 to 3 are accepted");
    cr_assert_eq(kt_json_copy_string(v, "empty", "doc", 1, out, sizeof out, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "doc: member \"empty\" has 0 characters; 1 to 4 are accepted");
    cr_assert_eq(kt_json_copy_string(v, "empty", "doc", 0, out, sizeof out, &e), KT_OK);
    cr_assert_str_eq(out, "");
    cr_assert_eq(kt_json_copy_string(v, "i", "doc", 0, out, sizeof out, &e), KT_EFORMAT);
    json_decref(v);
}

Test(json, getters_refuse_missing_members_and_other_types)
{
    json_t *v = parse_ok("{\"s\": \"text\", \"i\": 7, \"r\": 7.0, \"e\": 1e3, \"b\": false,"
                         " \"n\": null, \"o\": {}, \"a\": []}");
    const char *s;
    int64_t i;
    bool b;
    json_t *o;
    kt_err e;

    cr_assert_eq(kt_json_get_string(v, "missing", "doc", &s, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "doc: missing member \"missing\"");
    cr_assert_eq(kt_json_get_string(v, "i", "doc", &s, &e), KT_EFORMAT);
    cr_assert_str_eq(e.msg, "doc: member \"i\" must be a string, found an integer");
    cr_assert_eq(kt_json_get_string(v, "n", "doc", &s, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_int(v, "r", "doc", 0, 10, &i, &e), KT_EFORMAT, "a real");
    cr_assert_eq(kt_json_get_int(v, "e", "doc", 0, 10000, &i, &e), KT_EFORMAT, "a real");
    cr_assert_eq(kt_json_get_int(v, "s", "doc", 0, 10, &i, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_int(v, "b", "doc", 0, 10, &i, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_bool(v, "i", "doc", &b, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_bool(v, "n", "doc", &b, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_object(v, "a", "doc", &o, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_array(v, "o", "doc", &o, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_bool(v, "b", "doc", &b, &e), KT_OK, "false is a boolean too");
    cr_assert_not(b);
    json_decref(v);
}

Test(json, get_int_enforces_the_range)
{
    json_t *v = parse_ok("{\"n\": 4096, \"min\": -9223372036854775808,"
                         " \"max\": 9223372036854775807}");
    int64_t i = 0;
    kt_err e;

    cr_assert_eq(kt_json_get_int(v, "n", "key", 2048, 4096, &i, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(i, 4096);
    cr_assert_eq(kt_json_get_int(v, "n", "key", 2048, 4095, &i, &e), KT_EFORMAT);
    cr_assert(strstr(e.msg, "4096") != NULL, "%s", e.msg);
    cr_assert_eq(kt_json_get_int(v, "n", "key", 4097, 8192, &i, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_int(v, "min", "key", INT64_MIN, INT64_MAX, &i, &e), KT_OK);
    cr_assert_eq(i, INT64_MIN);
    cr_assert_eq(kt_json_get_int(v, "max", "key", 0, INT64_MAX, &i, &e), KT_OK);
    cr_assert_eq(i, INT64_MAX);
    cr_assert_eq(kt_json_get_int(v, "max", "key", 0, INT64_MAX - 1, &i, &e), KT_EFORMAT);
    json_decref(v);
    REFUSED("{\"n\": 9223372036854775808}", KT_EFORMAT, NULL);
}

Test(json, get_string_refuses_an_embedded_nul_built_in_memory)
{
    json_t *v = json_object();
    const char *s = NULL;
    kt_err e;

    cr_assert_eq(json_object_set_new(v, "s", json_stringn("a\0b", 3)), 0);
    cr_assert_eq(kt_json_get_string(v, "s", "doc", &s, &e), KT_EFORMAT);
    cr_assert_null(s);
    json_decref(v);
}

Test(json, getters_refuse_a_non_object)
{
    json_t *arr = json_array();
    const char *s;
    kt_err e;

    cr_assert_eq(kt_json_get_string(arr, "s", "doc", &s, &e), KT_EFORMAT);
    cr_assert_eq(kt_json_get_string(NULL, "s", "doc", &s, &e), KT_EFORMAT);
    json_decref(arr);
}

Test(json, dump_is_deterministic_with_sorted_keys)
{
    json_t *a = json_pack("{s:i, s:[b,n], s:s}", "zeta", 1, "alpha", 1, "mid", "x");
    json_t *b = json_pack("{s:s, s:[b,n], s:i}", "mid", "x", "alpha", 1, "zeta", 1);
    char *sa = NULL, *sb = NULL, *pretty = NULL;
    kt_err e;

    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_eq(kt_json_dump(a, false, &sa, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(kt_json_dump(b, false, &sb, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(sa, "{\"alpha\":[true,null],\"mid\":\"x\",\"zeta\":1}");
    cr_assert_str_eq(sa, sb);
    cr_assert_eq(kt_json_dump(a, true, &pretty, &e), KT_OK, "%s", e.msg);
    cr_assert_str_eq(pretty, "{\n  \"alpha\": [\n    true,\n    null\n  ],\n  \"mid\": \"x\",\n"
                             "  \"zeta\": 1\n}");
    free(sa);
    free(sb);
    free(pretty);
    json_decref(a);
    json_decref(b);
}

Test(json, dump_round_trips_through_parse)
{
    json_t *v = parse_ok("{\"b\": \"\\u00e9\\n\", \"a\": [1, -2, {\"c\": false}]}");
    json_t *w = NULL;
    char *s = NULL;
    kt_err e;

    cr_assert_eq(kt_json_dump(v, false, &s, &e), KT_OK, "%s", e.msg);
    cr_assert_eq(parse(s, &w, &e), KT_OK, "%s", e.msg);
    cr_assert(json_equal(v, w));
    free(s);
    json_decref(v);
    json_decref(w);
}
