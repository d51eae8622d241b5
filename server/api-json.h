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

/* A field of a body that tells absent, null and set apart (PATCH semantics). */
typedef enum { API_ABSENT = 0, API_NULL, API_SET } api_field_t;

/* A webhook body {url, events, secret, enabled} (creation and PATCH): the shapes
 * only (strings borrowed from body; event names, the URL and its target are the
 * handler's to check). url: a string; events: 1 to API_EVENTS_MAX strings;
 * secret: a non-empty string of at most API_SECRET_MAX bytes, or null (PATCH:
 * remove it); enabled: a boolean. Unknown members are refused (a misspelt
 * "secret" must not go unnoticed). 0, or -EINVAL with *reterr. */
#define API_EVENTS_MAX 8
#define API_SECRET_MAX 4096
typedef struct {
        api_field_t url, events, secret, enabled;
        const char *url_v, *secret_v;
        const char *events_v[API_EVENTS_MAX];
        size_t n_events;
        bool enabled_v;
} api_webhook_body_t;
int api_webhook_parse(const json_t *body, api_webhook_body_t *ret, const char **reterr);

/* A proxy project's settings {url, username, password, ca_pem, ttl, mirror_of,
 * docker_mirror} (creation and PATCH), the shapes only: strings without NUL
 * (url, mirror_of at most 2048 bytes, username 255, password API_SECRET_MAX,
 * ca_pem API_PEM_MAX); null allowed for username, password, ca_pem, mirror_of
 * (PATCH: remove it); ttl a count of seconds of at most 100 years;
 * docker_mirror a boolean. username and password go together: both set, or
 * (PATCH) username null with password absent or null. Unknown members are
 * refused. 0, or -EINVAL with *reterr. */
#define API_PEM_MAX (64 * 1024)
typedef struct {
        api_field_t url, username, password, ca_pem, ttl, mirror_of, docker_mirror;
        const char *url_v, *username_v, *password_v, *ca_pem_v, *mirror_of_v;
        int64_t ttl_v;
        bool docker_mirror_v;
} api_proxy_t;
int api_proxy_parse(const json_t *proxy, api_proxy_t *ret, const char **reterr);
