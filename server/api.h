/* server/api.h: the management API (/api/v1/, issue 12), shared by its files:
 * api.c (routing, authentication, sessions, errors, pages), api-projects.c
 * (projects, members, robots, users, audit, lifecycle, proxy settings),
 * api-repos.c (repositories and artifacts), api-webhooks.c (webhooks). Not a public API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "auth/auth.h"
#include "server/server.h"
#include "server/api-json.h"

#define API_PREFIX "/api/v1"
#define API_SEGS_MAX 8
#define API_LIMIT_DEFAULT 50

extern const route_ops_t route_api;

typedef struct api_call {
        request_t *req;
        const char *method;
        const char *path;           /* after API_PREFIX */
        char *segs[API_SEGS_MAX];   /* the path's segments before any "/-/" */
        size_t n_segs;
        char *repo;                 /* /repositories/{repo}[/-/...]: the name */
        char *sub[3];               /* after "/-/": at most 3 segments */
        size_t n_sub;
        json_t *body;               /* the parsed body (an object), or NULL */
        bool session;               /* authenticated by the cookie */
        char session_id[AUTH_SESSION_ID_LEN + 1];
} api_call_t;

/* ---- answers ---- */
void api_error(request_t *req, unsigned status, const char *code, const char *message);
/* Maps a berth/-errno code to an answer (what: the object, for 404/409 messages). */
void api_errno(request_t *req, int err, const char *what);
void api_json(request_t *req, unsigned status, json_t *body); /* steals body */
void api_no_content(request_t *req);
/* A page: {"items": items, "next_cursor": cursor of next_key or null}. */
void api_page(request_t *req, json_t *items, const char *next_key);
/* RFC 3339 of unix seconds, or JSON null for 0. */
json_t *api_time(int64_t t);

/* ---- inputs ---- */
/* ?limit= (1..500, default 50) and ?cursor= (decoded into *ret_after, malloc'd;
 * NULL when absent). 0, or -1 answered (400). */
int api_page_args(request_t *req, size_t *ret_limit, char **ret_after);
/* Body fields: 1 present (and of the right type), 0 absent, -1 answered (400). */
int api_body_string(api_call_t *c, const char *field, const char **ret);
int api_body_bool(api_call_t *c, const char *field, bool *ret);
int api_body_int(api_call_t *c, const char *field, int64_t *ret, bool *ret_null);

/* Seals secret under the secret key as the command line does (cli_secret_seal;
 * context: the secretbox context): 0 and *ret (malloc'd), or -1 answered (500,
 * the reason logged). The plain secret is wiped with the request body. */
int api_seal(api_call_t *c, const char *secret, const char *context, uint8_t **ret, size_t *ret_len);

/* ---- the caller ---- */
/* The caller's effective role in project (AUTH_ROLE_*), or <0 answered (500). */
int api_role(api_call_t *c, const char *project);
/* May the caller do action in project? (project NULL: a system action) 1 yes;
 * 0 no (answered: 404 when the project is not visible to the caller at all,
 * else 403); -1 answered (error). */
int api_require(api_call_t *c, const char *project, auth_action_t action);
/* The permissions array of role. */
json_t *api_permissions(int role);
bool api_sysadmin(const api_call_t *c);

/* ---- resources ---- */
void api_projects(api_call_t *c);
void api_users(api_call_t *c);
void api_audit(api_call_t *c);
void api_gc(api_call_t *c);
void api_repositories(api_call_t *c);
void api_system(api_call_t *c);
/* server/api-webhooks.c: /webhooks (global) and /projects/{project}/webhooks */
void api_webhooks(api_call_t *c);
void api_project_webhooks(api_call_t *c, const char *project);
