/* server/api-json.h: the management API's input parsers (server/api-json.c),
 * free of HTTP: the handlers and the fuzz target fuzz-api share them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define API_BODY_MAX (64 * 1024)
#define API_RULES_MAX 32

/* A JSON body into an object: 0 and *ret (NULL for an empty body), or
 * BERTH_EJSON (not JSON, not an object, duplicate keys, too deep, a NUL in a
 * string), BERTH_ETOOBIG (over API_BODY_MAX). */
int api_parse_body(const char *buf, size_t len, json_t **ret);
/* Typed fields of an object: 1 present, 0 absent or null, -1 of the wrong type
 * (a string holding a NUL; a negative or non-integer number). api_json_uint with
 * ret_null: a null is 1 with *ret_null. */
int api_json_string(const json_t *obj, const char *field, const char **ret);
int api_json_bool(const json_t *obj, const char *field, bool *ret);
int api_json_uint(const json_t *obj, const char *field, int64_t *ret, bool *ret_null);
/* The cursor of a page's last key (malloc'd, base64url of "k:" + key) and back
 * (NULL: not a cursor this API made). */
char *api_cursor_encode(const char *key);
char *api_cursor_decode(const char *cursor);

/* A retention policy body {"untagged_after": N|null, "rules": [{kind, tags,
 * repos, n}]}: the strings borrowed from body (kinds and patterns are checked by
 * storage/retention.c). 0, or -EINVAL with *reterr. */
typedef struct {
        const char *kind, *tags, *repos;
        uint64_t n;
} api_rule_t;
typedef struct {
        int64_t untagged_after; /* -1: none */
        api_rule_t rules[API_RULES_MAX];
        size_t n_rules;
} api_retention_t;
int api_retention_parse(const json_t *body, api_retention_t *ret, const char **reterr);
