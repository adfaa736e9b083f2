/*
 * json.c - the strict JSON layer over jansson: parsing exactly one object of bounded size and
 * depth (duplicate keys, trailing data, NUL characters and invalid UTF-8 refused), typed member
 * access with messages that name the document and the member, a check for unknown members, and
 * deterministic serialization (sorted keys). Member names from the input are sanitized before
 * they go into a message, so a hostile document cannot put control characters on a terminal.
 */
#include "kt.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper documents are refused: none of ours nests beyond a handful of levels. */
#define MAX_DEPTH 32

/* jansson's iteration API takes a non-const json_t; these functions only read through it. */
static json_t *unconst(const json_t *v)
{
    return (json_t *)(uintptr_t)v;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/* True when v nests at most `room` levels of objects and arrays (v itself counting as one). */
static bool depth_within(const json_t *v, int room)
{
    const char *key;
    json_t *member;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return true;
    if (room <= 0)
        return false;
    if (json_is_object(v)) {
        json_object_foreach(unconst(v), key, member)
        {
            if (!depth_within(member, room - 1))
                return false;
        }
    } else {
        json_array_foreach(v, i, member)
        {
            if (!depth_within(member, room - 1))
                return false;
        }
    }
    return true;
}

kt_rc kt_json_parse(const uint8_t *in, size_t len, size_t max, json_t **out, kt_err *e)
{
    json_error_t jerr;
    json_t *v;

    *out = NULL;
    if (len > max)
        return kt_fail(e, KT_ETOOBIG, "JSON document of %zu bytes; the limit is %zu bytes", len,
                       max);
    /* No JSON_DECODE_ANY (objects and arrays only), no JSON_DISABLE_EOF_CHECK (trailing data is
     * an error), no JSON_ALLOW_NUL (\u0000 is an error); jansson always validates UTF-8. */
    v = json_loadb(in != NULL ? (const char *)in : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        /* jansson quotes the offending input ("near '...'"): keep it printable. */
        for (char *c = jerr.text; *c != '\0'; c++) {
            if (*c < 0x20 || *c > 0x7e)
                *c = '?';
        }
        return kt_fail(e, KT_EFORMAT, "invalid JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    }
    if (!json_is_object(v)) {
        kt_rc rc = kt_fail(e, KT_EFORMAT, "expected a JSON object, found %s", type_name(v));

        json_decref(v);
        return rc;
    }
    if (!depth_within(v, MAX_DEPTH)) {
        json_decref(v);
        return kt_fail(e, KT_EFORMAT, "JSON nests deeper than %d levels", MAX_DEPTH);
    }
    *out = v;
    return KT_OK;
}

static kt_rc need_object(const json_t *obj, const char *what, kt_err *e)
{
    if (!json_is_object(obj))
        return kt_fail(e, KT_EFORMAT, "%s: expected a JSON object", what);
    return KT_OK;
}

kt_rc kt_json_only_keys(const json_t *obj, const char *const *allowed, const char *what, kt_err *e)
{
    const char *key;
    json_t *member;
    char quoted[KT_QUOTE_SIZE];
    kt_rc rc = need_object(obj, what, e);

    if (rc != KT_OK)
        return rc;
    json_object_foreach(unconst(obj), key, member)
    {
        size_t i;

        (void)member;
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(key, allowed[i]) == 0)
                break;
        }
        if (allowed[i] == NULL) {
            kt_quote(quoted, sizeof quoted, key, strlen(key));
            return kt_fail(e, KT_EFORMAT, "%s: unknown member \"%s\"", what, quoted);
        }
    }
    return KT_OK;
}

/* The member key of obj, which must exist and be of type `type` (described as `want`); JSON_TRUE
 * stands for either boolean. */
static kt_rc get_typed(const json_t *obj, const char *key, const char *what, json_type type,
                       const char *want, json_t **out, kt_err *e)
{
    json_t *v;
    kt_rc rc = need_object(obj, what, e);

    *out = NULL;
    if (rc != KT_OK)
        return rc;
    v = json_object_get(obj, key);
    if (v == NULL)
        return kt_fail(e, KT_EFORMAT, "%s: missing member \"%s\"", what, key);
    if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)))
        return kt_fail(e, KT_EFORMAT, "%s: member \"%s\" must be %s, found %s", what, key, want,
                       type_name(v));
    *out = v;
    return KT_OK;
}

kt_rc kt_json_get_string(const json_t *obj, const char *key, const char *what, const char **out,
                         kt_err *e)
{
    json_t *v;
    kt_rc rc = get_typed(obj, key, what, JSON_STRING, "a string", &v, e);

    *out = NULL;
    if (rc != KT_OK)
        return rc;
    /* A string built in memory (not parsed by us) may hold a NUL; C callers would cut it. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return kt_fail(e, KT_EFORMAT, "%s: member \"%s\" holds a NUL character", what, key);
    *out = json_string_value(v);
    return KT_OK;
}

kt_rc kt_json_copy_string(const json_t *obj, const char *key, const char *what, size_t min,
                          char *out, size_t outsz, kt_err *e)
{
    const char *s;
    kt_rc rc = kt_json_get_string(obj, key, what, &s, e);
    size_t n;

    if (rc != KT_OK)
        return rc;
    n = strlen(s);
    if (n < min || n >= outsz)
        return kt_fail(e, KT_EFORMAT,
                       "%s: member \"%s\" has %zu characters; %zu to %zu are accepted", what, key,
                       n, min, outsz - 1);
    memcpy(out, s, n + 1);
    return KT_OK;
}

kt_rc kt_json_get_int(const json_t *obj, const char *key, const char *what, int64_t min,
                      int64_t max, int64_t *out, kt_err *e)
{
    json_t *v;
    json_int_t n;
    kt_rc rc = get_typed(obj, key, what, JSON_INTEGER, "an integer", &v, e);

    if (rc != KT_OK)
        return rc;
    n = json_integer_value(v);
    if (n < min || n > max)
        return kt_fail(e, KT_EFORMAT,
                       "%s: member \"%s\" is %lld; it must be from %" PRId64 " to %" PRId64, what,
                       key, (long long)n, min, max);
    *out = (int64_t)n;
    return KT_OK;
}

kt_rc kt_json_get_bool(const json_t *obj, const char *key, const char *what, bool *out, kt_err *e)
{
    json_t *v;
    kt_rc rc = get_typed(obj, key, what, JSON_TRUE, "true or false", &v, e);

    if (rc != KT_OK)
        return rc;
    *out = json_is_true(v);
    return KT_OK;
}

kt_rc kt_json_get_object(const json_t *obj, const char *key, const char *what, json_t **out,
                         kt_err *e)
{
    return get_typed(obj, key, what, JSON_OBJECT, "an object", out, e);
}

kt_rc kt_json_get_array(const json_t *obj, const char *key, const char *what, json_t **out,
                        kt_err *e)
{
    return get_typed(obj, key, what, JSON_ARRAY, "an array", out, e);
}

kt_rc kt_json_dump(const json_t *v, bool pretty, char **out, kt_err *e)
{
    size_t flags = JSON_SORT_KEYS | JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
    size_t n, m;
    char *s;

    *out = NULL;
    /* Sized first, then written into our own malloc'd buffer: free() is then always right. */
    n = json_dumpb(v, NULL, 0, flags);
    if (n == 0)
        return kt_fail(e, KT_EFORMAT, "cannot serialize the JSON value");
    s = malloc(n + 1);
    if (s == NULL)
        return kt_fail(e, KT_ENOMEM, "out of memory");
    m = json_dumpb(v, s, n, flags);
    if (m != n) {
        free(s);
        return kt_fail(e, KT_EFORMAT, "cannot serialize the JSON value");
    }
    s[n] = '\0';
    *out = s;
    return KT_OK;
}
