/* server/api.c: the management API (/api/v1/, issue 12): routing, who the caller
 * is (Basic/Bearer credentials as on /v2/, or the session cookie of a browser
 * with its CSRF header), login and logout, the one JSON error shape, cursors.
 * Every decision of what the caller may do is auth_can() on the caller's role
 * (auth/roles.c): the same table as the registry's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/api.h"

#define COOKIE_NAME "berth_session"
#define CSRF_HEADER "X-CSRF-Token"

/* ---- answers ---- */

static void common_headers(request_t *req) {
        reply_header(req, "Cache-Control", "no-store");
        reply_header(req, "X-Content-Type-Options", "nosniff");
}

void api_json(request_t *req, unsigned status, json_t *body) {
        if (!body) {
                api_error(req, 500, "INTERNAL", "out of memory");
                return;
        }
        reply_json(req, status, body, "application/json");
        common_headers(req);
}

void api_error(request_t *req, unsigned status, const char *code, const char *message) {
        req->err_code = code;
        reply_json(req, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message),
                   "application/json");
        common_headers(req);
}

void api_no_content(request_t *req) {
        reply_empty(req, 204);
        common_headers(req);
}

void api_errno(request_t *req, int err, const char *what) {
        char msg[256];

        switch (err) {
        case -ENOENT:
        case BERTH_ENOTFOUND:
                snprintf(msg, sizeof(msg), "%s not found", what ? what : "resource");
                api_error(req, 404, "NOT_FOUND", msg);
                break;
        case -EEXIST:
        case AUTH_ENAME_TAKEN:
                snprintf(msg, sizeof(msg), "%s exists already (or its name is taken)", what ? what : "resource");
                api_error(req, 409, "CONFLICT", msg);
                break;
        case -EINVAL:
                api_error(req, 400, "BAD_REQUEST", "invalid request");
                break;
        case BERTH_ENAME_INVALID:
        case BERTH_ETAG_INVALID:
        case BERTH_EDIGEST_INVALID:
                api_error(req, 400, "NAME_INVALID", berth_strerror(err));
                break;
        case BERTH_ETOOBIG:
                api_error(req, 413, "TOO_LARGE", "request body too large");
                break;
        case BERTH_EJSON:
                api_error(req, 400, "BAD_REQUEST", "the body is not a JSON object");
                break;
        case BERTH_EDENIED:
                api_error(req, 403, "FORBIDDEN", "not allowed");
                break;
        case BERTH_EAUTH:
                api_error(req, 401, "UNAUTHORIZED", "authentication required");
                break;
        case BERTH_EDBDOWN:
        case -ESHUTDOWN:
                api_error(req, 503, "UNAVAILABLE", "the registry cannot answer now; retry later");
                reply_header(req, "Retry-After", "1");
                break;
        case BERTH_EBUSY:
                api_error(req, 429, "THROTTLED", "busy; retry later");
                reply_header(req, "Retry-After", "1");
                break;
        default:
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s api: %s", req->id, berth_strerror(err));
                api_error(req, 500, "INTERNAL", "internal error");
        }
}

json_t *api_time(int64_t t) {
        char buf[32];
        struct tm tm;
        time_t tt = (time_t) t;

        if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return json_null();
        return json_string(buf);
}

void api_page(request_t *req, json_t *items, const char *next_key) {
        _cleanup_free_ char *cur = next_key ? api_cursor_encode(next_key) : NULL;

        if (!items || (next_key && !cur)) {
                json_decref(items);
                api_error(req, 500, "INTERNAL", "out of memory");
                return;
        }
        api_json(req, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", cur ? json_string(cur) : json_null()));
}

int api_page_args(request_t *req, size_t *ret_limit, char **ret_after) {
        const char *l = req_query(req, "limit"), *c = req_query(req, "cursor");
        char *end = NULL;
        long v = API_LIMIT_DEFAULT;

        if (l) {
                errno = 0;
                v = strtol(l, &end, 10);
                if (!*l || *end || errno || v < 1 || v > 500) {
                        api_error(req, 400, "BAD_REQUEST", "limit must be 1 to 500");
                        return -1;
                }
        }
        *ret_limit = (size_t) v;
        *ret_after = NULL;
        if (c && *c && !(*ret_after = api_cursor_decode(c))) {
                api_error(req, 400, "BAD_REQUEST", "invalid cursor");
                return -1;
        }
        return 0;
}

/* ---- bodies (the typed readers: server/api-json.c) ---- */

static int field_error(api_call_t *c, const char *field, const char *what) {
        char msg[160];

        snprintf(msg, sizeof(msg), "%s must be %s", field, what);
        api_error(c->req, 400, "BAD_REQUEST", msg);
        return -1;
}

int api_body_string(api_call_t *c, const char *field, const char **ret) {
        int r = api_json_string(c->body, field, ret);
        return r < 0 ? field_error(c, field, "a string") : r;
}

int api_body_bool(api_call_t *c, const char *field, bool *ret) {
        int r = api_json_bool(c->body, field, ret);
        return r < 0 ? field_error(c, field, "true or false") : r;
}

int api_body_int(api_call_t *c, const char *field, int64_t *ret, bool *ret_null) {
        int r = api_json_uint(c->body, field, ret, ret_null);
        return r < 0 ? field_error(c, field, "a non-negative integer") : r;
}

/* ---- the caller ---- */

bool api_sysadmin(const api_call_t *c) {
        const auth_result_t *w = &c->req->who;
        return c->req->srv->cfg->auth_none || (w->admin && !w->robot && !w->anonymous);
}

int api_role(api_call_t *c, const char *project) {
        int r = auth_project_role(c->req->srv->auth, &c->req->who, project);

        if (r < 0) {
                api_errno(c->req, r, NULL);
                return -1;
        }
        return r;
}

int api_require(api_call_t *c, const char *project, auth_action_t action) {
        int role;

        if (!project) {
                if (auth_can(api_sysadmin(c) ? AUTH_ROLE_SYSADMIN : AUTH_ROLE_NONE, action))
                        return 1;
                api_error(c->req, 403, "FORBIDDEN", "only a system administrator may do this");
                return 0;
        }
        if ((role = api_role(c, project)) < 0)
                return -1;
        if (auth_can(role, action))
                return 1;
        if (!auth_can(role, AUTH_ACT_PULL)) /* not visible: as if absent */
                api_error(c->req, 404, "NOT_FOUND", "project not found");
        else
                api_error(c->req, 403, "FORBIDDEN", "your role in this project may not do this");
        return 0;
}

json_t *api_permissions(int role) {
        json_t *a = json_array();

        for (int i = 0; a && i < AUTH_ACT__MAX; i++)
                if (auth_can(role, (auth_action_t) i))
                        json_array_append_new(a, json_string(auth_action_name((auth_action_t) i)));
        return a;
}

/* ---- the request's state ---- */

typedef struct {
        api_call_t call;
        char *path_copy;
        bool secret_body; /* login and passwords: wiped at the end */
} api_state_t;

static void api_cleanup(request_t *req) {
        api_state_t *s = req->state;

        if (req->body && s && s->secret_body)
                OPENSSL_cleanse(req->body, req->body_cap);
        if (!s)
                return;
        json_decref(s->call.body);
        free(s->call.repo);
        free(s->path_copy);
        OPENSSL_cleanse(s->call.session_id, sizeof(s->call.session_id));
        free(s);
        req->state = NULL;
}

static bool is_write(const char *method) {
        return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* Splits the path: segments, and for /repositories/{name}/-/{sub...} the name. */
static int split_path(api_state_t *s) {
        api_call_t *c = &s->call;
        char *p = s->path_copy, *sep, *tok, *save = NULL;

        if (strncmp(p, "/repositories/", 14) == 0) {
                char *name = p + 14;
                sep = strstr(name, "/-/");
                if (sep) {
                        *sep = '\0';
                        for (tok = strtok_r(sep + 3, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                                if (c->n_sub == ELEMENTSOF(c->sub))
                                        return -1;
                                c->sub[c->n_sub++] = tok;
                        }
                        if (c->n_sub == 0)
                                return -1;
                }
                if (!*name || !(c->repo = strdup(name)))
                        return -1;
                c->segs[c->n_segs++] = "repositories";
                return 0;
        }
        for (tok = strtok_r(p, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                if (c->n_segs == API_SEGS_MAX)
                        return -1;
                c->segs[c->n_segs++] = tok;
        }
        return 0;
}

/* ---- login, logout, me ---- */

static json_t *me_json(api_call_t *c) {
        char csrf[AUTH_SESSION_ID_LEN + 1];
        const auth_result_t *w = &c->req->who;
        json_t *j = json_pack("{s:s, s:b, s:b}", "name", w->name, "admin", api_sysadmin(c), "robot", w->robot);

        if (j && c->session && auth_session_csrf(c->req->srv->auth, c->session_id, csrf) == 0)
                json_object_set_new(j, "csrf_token", json_string(csrf));
        else if (j)
                json_object_set_new(j, "csrf_token", json_null());
        OPENSSL_cleanse(csrf, sizeof(csrf));
        return j;
}

static void login_finish(request_t *req, int r) {
        api_state_t *s = req->state;
        api_call_t *c = &s->call;
        char csrf[AUTH_SESSION_ID_LEN + 1];
        time_t expires = 0;
        json_t *me;

        switch (r) {
        case 0:
                break;
        case BERTH_ETHROTTLED:
                api_error(req, 429, "THROTTLED", "too many failed attempts; retry later");
                reply_headerf(req, "Retry-After", "%u", req->who.retry_after ? req->who.retry_after : 1);
                return;
        case BERTH_EAUTH:
        case BERTH_EDENIED:
                api_error(req, 401, "UNAUTHORIZED", "wrong user name or password");
                return;
        default:
                api_errno(req, r, NULL);
                return;
        }
        if (req->who.robot || req->who.anonymous) {
                api_error(req, 401, "UNAUTHORIZED", "robot tokens cannot log in; use Basic credentials");
                return;
        }
        r = auth_session_create(req->srv->auth, req->who.name, 0, c->session_id, &expires);
        if (r < 0) {
                api_errno(req, r, "user");
                return;
        }
        c->session = true;
        if ((r = auth_session_csrf(req->srv->auth, c->session_id, csrf)) < 0) {
                api_errno(req, r, NULL);
                return;
        }
        me = me_json(c);
        api_json(req, 200,
                 json_pack("{s:o, s:s, s:o}", "user", me ? me : json_null(), "csrf_token", csrf, "expires",
                           api_time(expires)));
        reply_headerf(req, MHD_HTTP_HEADER_SET_COOKIE, COOKIE_NAME "=%s; Path=/; Max-Age=%u; HttpOnly; Secure; SameSite=Strict",
                      c->session_id, (unsigned) AUTH_SESSION_TTL);
        OPENSSL_cleanse(csrf, sizeof(csrf));
}

static void login_resume(request_t *req) {
        int r = auth_job_result(req->auth_job, &req->who);

        req->auth_job = auth_job_free(req->auth_job);
        login_finish(req, r);
}

static void login(api_call_t *c) {
        request_t *req = c->req;
        const char *user = NULL, *password = NULL;
        _cleanup_free_ char *pair = NULL, *b64 = NULL, *header = NULL;
        auth_job_t *job = NULL;
        int r;

        if (api_body_string(c, "username", &user) < 0 || api_body_string(c, "password", &password) < 0)
                return;
        if (!user || !password || !*user || strlen(user) > AUTH_NAME_MAX || strlen(password) > AUTH_PASSWORD_MAX ||
            strchr(user, ':')) {
                api_error(req, 400, "BAD_REQUEST", "username and password are required");
                return;
        }
        /* the one verification path of Basic: cache, throttling, audit, verifier threads */
        if (asprintf(&pair, "%s:%s", user, password) < 0 || !(b64 = base64_encode_alloc(BASE64_STD, pair, strlen(pair))) ||
            asprintf(&header, "Basic %s", b64) < 0) {
                r = -ENOMEM;
                goto out;
        }
        r = auth_check_start(req->srv->auth, header, req->addr, NULL, 0, &req->who, &job);
        if (r == AUTH_PENDING) {
                r = access_wait(req, job, login_resume);
                if (r > 0)
                        goto out;
        }
        login_finish(req, r);
out:
        if (pair)
                OPENSSL_cleanse(pair, strlen(pair));
        if (b64)
                OPENSSL_cleanse(b64, strlen(b64));
        if (header)
                OPENSSL_cleanse(header, strlen(header));
        if (r < 0 && r != AUTH_PENDING && !req->response)
                api_errno(req, r, NULL);
}

static void logout(api_call_t *c) {
        if (c->session)
                (void) auth_session_delete(c->req->srv->auth, c->session_id);
        api_no_content(c->req);
        reply_header(c->req, MHD_HTTP_HEADER_SET_COOKIE,
                     COOKIE_NAME "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
}

static void me_password(api_call_t *c) {
        request_t *req = c->req;
        const char *cur = NULL, *neu = NULL;
        int r;

        if (req->who.robot) {
                api_error(req, 403, "FORBIDDEN", "robot tokens have no password");
                return;
        }
        if (api_body_string(c, "current_password", &cur) < 0 || api_body_string(c, "new_password", &neu) < 0)
                return;
        if (!cur || !neu || strlen(neu) < 8 || strlen(neu) > AUTH_PASSWORD_MAX) {
                api_error(req, 400, "BAD_REQUEST", "current_password and new_password (8 characters or more) are required");
                return;
        }
        /* argon2 on this thread: a rare call, and the current password must be right */
        r = auth_credentials_verify(req->srv->auth, req->who.name, cur);
        if (r == BERTH_EAUTH) {
                api_error(req, 403, "FORBIDDEN", "the current password is wrong");
                return;
        }
        if (r == 0)
                r = auth_user_passwd(req->srv->auth, req->who.name, neu);
        if (r == 0)
                r = auth_session_delete_user(req->srv->auth, req->who.name);
        if (r < 0) {
                api_errno(req, r, "user");
                return;
        }
        (void) auth_audit(req->srv->auth, &req->who, req->addr, "password", NULL, "own");
        api_no_content(req);
        if (c->session) /* every session of the user ended, this one too */
                reply_header(req, MHD_HTTP_HEADER_SET_COOKIE,
                             COOKIE_NAME "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
}

/* ---- openapi.json ---- */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

static void openapi(api_call_t *c) {
        reply_buffer(c->req, 200, api_openapi_json, api_openapi_json_len, "application/json");
        reply_header(c->req, "Cache-Control", "no-cache");
}

/* ---- dispatch ---- */

static bool seg_is(const api_call_t *c, size_t i, const char *s) {
        return i < c->n_segs && strcmp(c->segs[i], s) == 0;
}

static void method_not_allowed(request_t *req) {
        api_error(req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
}

static void dispatch(api_call_t *c) {
        const char *m = c->method;

        if (c->n_segs == 1 && seg_is(c, 0, "logout")) {
                if (strcmp(m, "POST") == 0)
                        logout(c);
                else
                        method_not_allowed(c->req);
        } else if (seg_is(c, 0, "me") && c->n_segs == 1) {
                if (strcmp(m, "GET") == 0)
                        api_json(c->req, 200, me_json(c));
                else
                        method_not_allowed(c->req);
        } else if (seg_is(c, 0, "me") && c->n_segs == 2 && seg_is(c, 1, "password")) {
                if (strcmp(m, "PUT") == 0)
                        me_password(c);
                else
                        method_not_allowed(c->req);
        } else if (seg_is(c, 0, "system") && c->n_segs == 1) {
                api_system(c);
        } else if (seg_is(c, 0, "projects")) {
                api_projects(c);
        } else if (seg_is(c, 0, "repositories")) {
                api_repositories(c);
        } else if (seg_is(c, 0, "users")) {
                api_users(c);
        } else if (seg_is(c, 0, "audit") && c->n_segs == 1) {
                api_audit(c);
        } else if (seg_is(c, 0, "gc")) {
                api_gc(c);
        } else if (seg_is(c, 0, "webhooks")) {
                api_webhooks(c);
        } else
                api_error(c->req, 404, "NOT_FOUND", "no such API path");
}

/* Who is calling: credentials, else the session cookie; then the call. */
static void after_auth(request_t *req, int r) {
        api_state_t *s = req->state;
        api_call_t *c = &s->call;

        if (r == BERTH_ETHROTTLED) {
                api_error(req, 429, "THROTTLED", "too many failed attempts; retry later");
                reply_headerf(req, "Retry-After", "%u", req->who.retry_after ? req->who.retry_after : 1);
                return;
        }
        if (r < 0) {
                api_errno(req, r, NULL);
                return;
        }
        if (req->who.anonymous && !req->srv->cfg->auth_none) {
                api_error(req, 401, "UNAUTHORIZED", "authentication required");
                return;
        }
        if (req->srv->cfg->read_only && is_write(c->method) && !seg_is(c, 0, "logout")) {
                api_error(req, 503, "UNAVAILABLE", "the registry is in read-only mode");
                return;
        }
        dispatch(c);
}

static void auth_resume(request_t *req) {
        int r = auth_job_result(req->auth_job, &req->who);

        req->auth_job = auth_job_free(req->auth_job);
        after_auth(req, r);
}

/* "application/json", maybe with parameters ("; charset=utf-8") */
static bool json_content_type(const char *ct) {
        size_t n = strlen("application/json");

        if (!ct || strncasecmp(ct, "application/json", n) != 0)
                return false;
        ct += n;
        while (*ct == ' ' || *ct == '\t')
                ct++;
        return *ct == '\0' || *ct == ';';
}

static void api_end(request_t *req) {
        api_state_t *s = req->state;
        api_call_t *c = &s->call;
        const char *authz = req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *cookie = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, COOKIE_NAME);
        auth_job_t *job = NULL;
        int r;

        /* POST, PUT, PATCH: JSON only. No cross-site form can send that type
         * without the browser asking first (CORS), so a page elsewhere can never
         * make a logged-in browser change anything, with a cookie or Basic
         * credentials it keeps (and no login CSRF either). */
        if ((strcmp(c->method, "POST") == 0 || strcmp(c->method, "PUT") == 0 || strcmp(c->method, "PATCH") == 0) &&
            !json_content_type(req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
                api_error(req, 415, "UNSUPPORTED_MEDIA_TYPE", "send Content-Type: application/json");
                return;
        }
        r = api_parse_body(req->body ? req->body : "", req->body_len, &c->body);
        if (r < 0) {
                api_errno(req, r, NULL);
                return;
        }
        if (c->n_segs == 1 && seg_is(c, 0, "login")) {
                if (strcmp(c->method, "POST") == 0)
                        login(c);
                else
                        method_not_allowed(req);
                return;
        }
        if (c->n_segs == 1 && seg_is(c, 0, "openapi.json") && !c->repo) {
                if (strcmp(c->method, "GET") == 0)
                        openapi(c);
                else
                        method_not_allowed(req);
                return;
        }
        if (!authz && cookie && *cookie) {
                r = auth_session_check(req->srv->auth, cookie, &req->who, NULL);
                if (r == BERTH_EAUTH) {
                        api_error(req, 401, "UNAUTHORIZED", "the session ended; log in again");
                        return;
                }
                if (r < 0) {
                        api_errno(req, r, NULL);
                        return;
                }
                c->session = true;
                snprintf(c->session_id, sizeof(c->session_id), "%s", cookie);
                if (is_write(c->method) &&
                    !auth_session_csrf_ok(req->srv->auth, cookie, req_header(req, CSRF_HEADER))) {
                        api_error(req, 403, "CSRF", "missing or wrong " CSRF_HEADER " header");
                        return;
                }
                after_auth(req, 0);
                return;
        }
        r = auth_check_start(req->srv->auth, authz, req->addr, NULL, 0, &req->who, &job);
        if (r == AUTH_PENDING) {
                r = access_wait(req, job, auth_resume);
                if (r > 0)
                        return;
        }
        after_auth(req, r);
}

static void api_begin(request_t *req) {
        api_state_t *s = calloc(1, sizeof(*s));
        const char *p = req->path + strlen(API_PREFIX);

        if (!s) {
                api_errno(req, -ENOMEM, NULL);
                return;
        }
        req->state = s;
        s->call.req = req;
        s->call.method = req->method;
        s->call.path = p;
        /* bodies that may hold a secret: wiped at the end */
        s->secret_body = strcmp(p, "/login") == 0 || strncmp(p, "/me/password", 12) == 0 ||
                         strncmp(p, "/users", 6) == 0 || strncmp(p, "/webhooks", 9) == 0 ||
                         strncmp(p, "/projects", 9) == 0;
        if (!(s->path_copy = strdup(p))) {
                api_errno(req, -ENOMEM, NULL);
                return;
        }
        if (split_path(s) < 0) {
                api_error(req, 404, "NOT_FOUND", "no such API path");
                return;
        }
        req->body_mode = BODY_BUFFER;
        req->body_max = API_BODY_MAX;
}

const route_ops_t route_api = {
        .name = "api",
        .flags = ROUTE_OPEN, /* the API decides who may call itself (sessions, CSRF) */
        .begin = api_begin,
        .end = api_end,
        .cleanup = api_cleanup,
};
