/* server/token.c: the Docker token endpoint, GET and POST /auth/token.
 *
 * GET (docker, skopeo, podman, containerd without the OAuth form): optional Basic
 * credentials in Authorization; the scope= parameters (any number) are the
 * token's ceiling: it grants no more than they name, and rights are still
 * decided per request. service= is accepted and ignored.
 * POST (containerd's OAuth2 form when it has credentials): grant_type=password
 * with username, password and a space-separated scope; other grants get 400
 * unsupported_grant_type. No credentials: an anonymous token (public pulls).
 * Each client address may fetch a burst of tokens, then a few per second (429
 * with Retry-After beyond). The answer: {"token", "access_token", "expires_in",
 * "issued_at"}. Never logs a token. Passwords are verified off the event loop
 * (access_wait), as for registry requests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "common/err.h"
#include "common/log.h"
#include "server/form.h"
#include "server/server.h"

#define FORM_MAX 8192 /* largest POST body */
#define SCOPE_MAX 4096 /* longest scope (all parameters together) */

static void oauth_error(request_t *req, unsigned status, const char *error) {
        reply_json(req, status, json_pack("{s:s}", "error", error), "application/json");
}

static void answer(request_t *req, int r, char *token, unsigned expires_in) {
        char issued[32];
        struct tm tm;
        time_t now = server_now(req->srv);

        switch (r) {
        case 0:
                break;
        case BERTH_EAUTH:
                reply_error(req, 401, "UNAUTHORIZED", "authentication required", NULL);
                reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"berth\"");
                return;
        case BERTH_ETHROTTLED:
                reply_error(req, 429, "TOOMANYREQUESTS", "too many failed attempts; retry later", NULL);
                reply_headerf(req, "Retry-After", "%u", req->who.retry_after ? req->who.retry_after : 1);
                return;
        case BERTH_EBUSY: /* the verification queue is full */
                reply_error(req, 429, "TOOMANYREQUESTS", "too many password verifications waiting; retry later",
                            NULL);
                reply_header(req, "Retry-After", "1");
                return;
        case -ESHUTDOWN:
                reply_error(req, 503, "UNAVAILABLE", "the registry is shutting down", NULL);
                return;
        case BERTH_ETOOBIG:
                reply_error(req, 400, "UNSUPPORTED", "a token names at most 16 repositories", NULL);
                return;
        default:
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s token: %s", req->id, berth_strerror(r));
                reply_errno(req, r, NULL);
                return;
        }
        if (!gmtime_r(&now, &tm) || strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(issued, sizeof(issued), "1970-01-01T00:00:00Z");
        reply_json(req, 200,
                   json_pack("{s:s, s:s, s:I, s:s}", "token", token, "access_token", token,
                             "expires_in", (json_int_t) expires_in, "issued_at", issued),
                   "application/json");
        reply_header(req, "Cache-Control", "no-store");
}

typedef struct {
        char buf[SCOPE_MAX + 1];
        size_t len;
        bool too_long;
} scope_t;

static enum MHD_Result scope_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        scope_t *sc = cls;
        size_t vl;

        (void) kind;
        if (!key || strcmp(key, "scope") != 0 || !value || !*value)
                return MHD_YES;
        vl = strlen(value);
        if (sc->len + (sc->len ? 1 : 0) + vl > SCOPE_MAX) {
                sc->too_long = true;
                return MHD_NO;
        }
        if (sc->len)
                sc->buf[sc->len++] = ' ';
        for (size_t i = 0; i < vl; i++) /* "+" of a form-encoded space */
                sc->buf[sc->len++] = value[i] == '+' ? ' ' : value[i];
        sc->buf[sc->len] = '\0';
        return MHD_YES;
}

/* The issuance limit per client address; answers 429 itself. */
static int rate_check(request_t *req) {
        unsigned wait = 0;

        if (auth_token_rate(req->srv->auth, req->addr, &wait) == 0)
                return 0;
        reply_error(req, 429, "TOOMANYREQUESTS", "too many token requests; retry later", NULL);
        reply_headerf(req, "Retry-After", "%u", wait ? wait : 1);
        return -1;
}

/* Answers r, or suspends the request while job verifies a password (token_resume
 * answers then). */
static void answer_or_wait(request_t *req, int r, auth_job_t *job, char *token, unsigned expires_in);

static void token_resume(request_t *req) {
        char *token = NULL;
        unsigned expires_in = 0;
        int r;

        r = auth_token_issue_finish(req->srv->auth, req->auth_job, &token, &expires_in, &req->who);
        req->auth_job = auth_job_free(req->auth_job);
        answer_or_wait(req, r, NULL, token, expires_in);
}

static void answer_or_wait(request_t *req, int r, auth_job_t *job, char *token, unsigned expires_in) {
        if (r == AUTH_PENDING) {
                /* never argon2 on this (event-loop) thread */
                r = access_wait(req, job, token_resume);
                if (r > 0)
                        return;
        }
        if (r == BERTH_ETOOBIG && strcmp(req->method, "POST") == 0)
                oauth_error(req, 400, "invalid_scope"); /* the OAuth2 form's error */
        else
                answer(req, r, token, expires_in);
        if (token) {
                OPENSSL_cleanse(token, strlen(token));
                free(token);
        }
}

static void token_begin(request_t *req) {
        scope_t sc = { .len = 0 };
        char *token = NULL;
        unsigned expires_in = 0;
        auth_job_t *job = NULL;
        int r;

        if (rate_check(req) < 0)
                return;
        if (strcmp(req->method, "POST") == 0) {
                req->body_mode = BODY_BUFFER;
                req->body_max = FORM_MAX;
                return; /* token_end */
        }
        (void) MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scope_collect, &sc);
        if (sc.too_long) {
                reply_error(req, 400, "UNSUPPORTED", "scope too long", NULL);
                return;
        }
        r = auth_token_issue_start(req->srv->auth, req_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
                                   req->addr, sc.len ? sc.buf : NULL, &token, &expires_in,
                                   &req->who, &job);
        answer_or_wait(req, r, job, token, expires_in);
}

static void token_end(request_t *req) {
        char grant[32], user[128], password[1100], scope[SCOPE_MAX + 1];
        char *token = NULL;
        unsigned expires_in = 0;
        auth_job_t *job = NULL;
        const char *body = req->body ? req->body : "";
        int r, ru, rp, rs;

        r = http_form_value(body, req->body_len, "grant_type", grant, sizeof(grant));
        if (r <= 0) {
                oauth_error(req, 400, "invalid_request");
                return;
        }
        if (strcmp(grant, "password") != 0) {
                /* refresh_token and the rest: containerd then asks again with a GET */
                oauth_error(req, 400, "unsupported_grant_type");
                return;
        }
        ru = http_form_value(body, req->body_len, "username", user, sizeof(user));
        rp = http_form_value(body, req->body_len, "password", password, sizeof(password));
        rs = http_form_value(body, req->body_len, "scope", scope, sizeof(scope));
        if (rs < 0) {
                OPENSSL_cleanse(password, sizeof(password));
                oauth_error(req, 400, "invalid_scope");
                return;
        }
        if (ru < 0 || rp < 0) {
                OPENSSL_cleanse(password, sizeof(password));
                answer(req, BERTH_EAUTH, NULL, 0);
                return;
        }
        if (ru == 0 || rp == 0) {
                OPENSSL_cleanse(password, sizeof(password));
                oauth_error(req, 400, "invalid_request");
                return;
        }
        r = auth_token_issue_password_start(req->srv->auth, user, password, req->addr,
                                            rs > 0 ? scope : NULL, &token, &expires_in, &req->who,
                                            &job);
        OPENSSL_cleanse(password, sizeof(password));
        answer_or_wait(req, r, job, token, expires_in);
}

static void token_cleanup(request_t *req) {
        /* The body held a password. */
        if (req->body && req->ops == &route_token)
                OPENSSL_cleanse(req->body, req->body_cap);
}

const route_ops_t route_token = {
        .name = "token",
        .flags = ROUTE_OPEN, /* the token endpoint verifies credentials itself */
        .begin = token_begin,
        .end = token_end,
        .cleanup = token_cleanup,
};
