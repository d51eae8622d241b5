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

/* ---- webhooks and proxy settings ---- */

/* A string member: API_SET (*ret, of 1 to max bytes, no NUL), API_NULL (when
 * nullable), API_ABSENT; -1 of the wrong shape. */
static int str_field(const json_t *obj, const char *field, size_t max, bool nullable, const char **ret) {
        json_t *v = json_object_get(obj, field);
        const char *s;

        if (!v)
                return API_ABSENT;
        if (json_is_null(v))
                return nullable ? API_NULL : -1;
        if (!(s = json_string_value(v)) || !*s || strlen(s) != json_string_length(v) || strlen(s) > max)
                return -1;
        *ret = s;
        return API_SET;
}

static bool only_known(const json_t *obj, const char *const *known, size_t n) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) obj, key, v) {
                bool found = false;
                for (size_t i = 0; i < n && !found; i++)
                        found = strcmp(key, known[i]) == 0;
                if (!found)
                        return false;
        }
        return true;
}

int api_webhook_parse(const json_t *body, api_webhook_body_t *ret, const char **reterr) {
        static const char *const KNOWN[] = { "url", "events", "secret", "enabled" };
        json_t *ev, *en, *v;
        size_t i;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (!body)
                return 0;
        if (!json_is_object(body) || !only_known(body, KNOWN, sizeof(KNOWN) / sizeof(KNOWN[0]))) {
                *reterr = "a webhook is {url, events, secret, enabled}";
                return -EINVAL;
        }
        if ((r = str_field(body, "url", 2048, false, &ret->url_v)) < 0) {
                *reterr = "url: an http:// or https:// URL";
                return -EINVAL;
        }
        ret->url = (api_field_t) r;
        if ((r = str_field(body, "secret", API_SECRET_MAX, true, &ret->secret_v)) < 0) {
                *reterr = "secret: a non-empty string (4096 bytes at most), or null";
                return -EINVAL;
        }
        ret->secret = (api_field_t) r;
        if ((en = json_object_get(body, "enabled"))) {
                if (!json_is_boolean(en)) {
                        *reterr = "enabled: true or false";
                        return -EINVAL;
                }
                ret->enabled = API_SET;
                ret->enabled_v = json_is_true(en);
        }
        if ((ev = json_object_get(body, "events"))) {
                if (!json_is_array(ev) || json_array_size(ev) == 0 || json_array_size(ev) > API_EVENTS_MAX)
                        goto bad_events;
                json_array_foreach(ev, i, v) {
                        const char *s = json_string_value(v);
                        if (!s || !*s || strlen(s) != json_string_length(v) || strlen(s) > 32)
                                goto bad_events;
                        ret->events_v[i] = s;
                }
                ret->n_events = json_array_size(ev);
                ret->events = API_SET;
        }
        return 0;
bad_events:
        *reterr = "events: a non-empty array of push, delete, pull, quota (or all)";
        return -EINVAL;
}

int api_proxy_parse(const json_t *proxy, api_proxy_t *ret, const char **reterr) {
        static const char *const KNOWN[] = { "url", "username", "password", "ca_pem", "ttl", "mirror_of",
                                             "docker_mirror" };
        json_t *v;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (!json_is_object(proxy) || !only_known(proxy, KNOWN, sizeof(KNOWN) / sizeof(KNOWN[0]))) {
                *reterr = "proxy: an object {url, username, password, ca_pem, ttl, mirror_of, docker_mirror}";
                return -EINVAL;
        }
#define STR(f, max, nullable, msg)                                              \
        if ((r = str_field(proxy, #f, max, nullable, &ret->f##_v)) < 0) {       \
                *reterr = msg;                                                  \
                return -EINVAL;                                                 \
        }                                                                       \
        ret->f = (api_field_t) r;
        STR(url, 2048, false, "proxy.url: an http:// or https:// URL of a registry host")
        STR(username, 255, true, "proxy.username: a non-empty string, or null")
        STR(password, API_SECRET_MAX, true, "proxy.password: a non-empty string (4096 bytes at most), or null")
        STR(ca_pem, API_PEM_MAX, true, "proxy.ca_pem: PEM certificates (64 KiB at most), or null")
        STR(mirror_of, 2048, true, "proxy.mirror_of: a registry host name, or null")
#undef STR
        if ((v = json_object_get(proxy, "ttl"))) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) > (json_int_t) 100 * 365 * 86400) {
                        *reterr = "proxy.ttl: seconds (0 to 100 years)";
                        return -EINVAL;
                }
                ret->ttl = API_SET;
                ret->ttl_v = json_integer_value(v);
        }
        if ((v = json_object_get(proxy, "docker_mirror"))) {
                if (!json_is_boolean(v)) {
                        *reterr = "proxy.docker_mirror: true or false";
                        return -EINVAL;
                }
                ret->docker_mirror = API_SET;
                ret->docker_mirror_v = json_is_true(v);
        }
        /* credentials: both, or none (username null removes them) */
        if ((ret->username == API_SET) != (ret->password == API_SET) ||
            (ret->password == API_NULL && ret->username != API_NULL)) {
                *reterr = "proxy.username and proxy.password go together (username null removes both)";
                return -EINVAL;
        }
        return 0;
}
