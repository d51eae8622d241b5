/* server/api-json.c: the management API's input parsers, apart from HTTP (the
 * fuzz target fuzz-api runs them on arbitrary bytes): JSON bodies, typed fields,
 * cursors, retention policies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/base64.h"
#include "common/err.h"
#include "common/macro.h"
#include "server/api-json.h"

#define JSON_DEPTH_MAX 32
#define CURSOR_KEY_MAX 1024

/* ---- cursors: base64url of "k:" + the last key of the page ---- */

char *api_cursor_encode(const char *key) {
        _cleanup_free_ char *s = NULL;

        if (!key || asprintf(&s, "k:%s", key) < 0)
                return NULL;
        return base64_encode_alloc(BASE64_URL, s, strlen(s));
}

char *api_cursor_decode(const char *cursor) {
        size_t n = cursor ? strlen(cursor) : 0;
        uint8_t buf[CURSOR_KEY_MAX + 3];
        long len;

        if (n == 0 || n > base64_encoded_len(BASE64_URL, sizeof(buf) - 1))
                return NULL;
        len = base64_decode(BASE64_URL, cursor, n, buf, sizeof(buf) - 1);
        if (len < 2 || buf[0] != 'k' || buf[1] != ':' || memchr(buf, '\0', (size_t) len))
                return NULL;
        buf[len] = '\0';
        return strdup((char *) buf + 2);
}

/* ---- bodies ---- */

static bool depth_ok(json_t *j, int depth) {
        const char *k;
        json_t *v;
        size_t i;

        if (depth > JSON_DEPTH_MAX)
                return false;
        if (json_is_object(j)) {
                json_object_foreach(j, k, v) if (!depth_ok(v, depth + 1)) return false;
        } else if (json_is_array(j)) {
                json_array_foreach(j, i, v) if (!depth_ok(v, depth + 1)) return false;
        }
        return true;
}

int api_parse_body(const char *buf, size_t len, json_t **ret) {
        json_t *j;
        size_t i = 0;

        *ret = NULL;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
                i++;
        if (i == len)
                return 0;
        if (len > API_BODY_MAX)
                return BERTH_ETOOBIG;
        /* no NUL inside strings: names go to C strings and the database */
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
        if (!j || !json_is_object(j) || !depth_ok(j, 0)) {
                json_decref(j);
                return BERTH_EJSON;
        }
        *ret = j;
        return 0;
}

/* ---- typed fields: 1 present, 0 absent (or null), -1 of the wrong type ---- */

int api_json_string(const json_t *obj, const char *field, const char **ret) {
        json_t *v = obj ? json_object_get(obj, field) : NULL;

        if (!v || json_is_null(v))
                return 0;
        /* no NUL inside: names go to C strings and the database */
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return -1;
        *ret = json_string_value(v);
        return 1;
}

int api_json_bool(const json_t *obj, const char *field, bool *ret) {
        json_t *v = obj ? json_object_get(obj, field) : NULL;

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_boolean(v))
                return -1;
        *ret = json_is_true(v);
        return 1;
}

int api_json_uint(const json_t *obj, const char *field, int64_t *ret, bool *ret_null) {
        json_t *v = obj ? json_object_get(obj, field) : NULL;

        if (ret_null)
                *ret_null = false;
        if (!v)
                return 0;
        if (json_is_null(v)) {
                if (!ret_null)
                        return 0;
                *ret_null = true;
                return 1;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -1;
        *ret = json_integer_value(v);
        return 1;
}

/* ---- retention policies ---- */

int api_retention_parse(const json_t *body, api_retention_t *ret, const char **reterr) {
        json_t *rules = body ? json_object_get(body, "rules") : NULL, *ua, *rule;
        size_t i;

        memset(ret, 0, sizeof(*ret));
        ret->untagged_after = -1;
        ua = body ? json_object_get(body, "untagged_after") : NULL;
        if (ua && !json_is_null(ua)) {
                if (!json_is_integer(ua) || json_integer_value(ua) < 0) {
                        *reterr = "untagged_after: seconds or null";
                        return -EINVAL;
                }
                ret->untagged_after = json_integer_value(ua);
        }
        if (rules && !json_is_array(rules) && !json_is_null(rules)) {
                *reterr = "rules must be an array";
                return -EINVAL;
        }
        if (json_is_array(rules) && json_array_size(rules) > API_RULES_MAX) {
                *reterr = "at most 32 rules";
                return -EINVAL;
        }
        json_array_foreach(rules, i, rule) {
                const char *k = NULL, *t = "*", *rp = "*";
                int64_t n = 0;
                if (!json_is_object(rule) || api_json_string(rule, "kind", &k) <= 0 ||
                    api_json_string(rule, "tags", &t) < 0 || api_json_string(rule, "repos", &rp) < 0 ||
                    api_json_uint(rule, "n", &n, NULL) < 0) {
                        *reterr = "a rule is {kind, tags, repos, n}: strings and a count";
                        return -EINVAL;
                }
                ret->rules[i] = (api_rule_t){ .kind = k, .tags = t, .repos = rp, .n = (uint64_t) n };
                ret->n_rules = i + 1;
        }
        return 0;
}
