/* server/token.c: the Docker token endpoint, GET and POST /auth/token.
 *
 * GET (docker, skopeo, podman, containerd without the OAuth form): optional Basic
 * credentials in Authorization; query service= and scope= are accepted but not
 * trusted: the token proves an identity only, rights are decided per request.
 * POST (containerd's OAuth2 form when it has credentials): grant_type=password
 * with username and password; other grants get 400 unsupported_grant_type.
 * No credentials: an anonymous token (public pulls). The answer:
 * {"token", "access_token", "expires_in", "issued_at"}. Never logs a token.
 * Passwords are verified off the event loop (access_wait), as for registry requests. */
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
#define HOST_MAX 255

/* The Host header if it is made of [A-Za-z0-9.:-[]] only, else the listen address. */
void token_realm(request_t *req, char *buf, size_t size) {
        const char *scheme = req->srv->cfg->insecure_http ? "http" : "https";
        const char *host = req_header(req, MHD_HTTP_HEADER_HOST);
        const config_t *cfg = req->srv->cfg;
        bool ok = host && *host && strlen(host) <= HOST_MAX;

        for (const char *p = host; ok && *p; p++)
                ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                     *p == '.' || *p == ':' || *p == '-' || *p == '[' || *p == ']';
        if (ok)
                snprintf(buf, size, "%s://%s/auth/token", scheme, host);
        else if (strchr(cfg->listen_host, ':'))
                snprintf(buf, size, "%s://[%s]:%u/auth/token", scheme, cfg->listen_host, cfg->port);
        else
                snprintf(buf, size, "%s://%s:%u/auth/token", scheme, cfg->listen_host, cfg->port);
}

static void oauth_error(request_t *req, unsigned status, const char *error) {
        reply_json(req, status, json_pack("{s:s}", "error", error), "application/json");
}

static void answer(request_t *req, int r, char *token, unsigned expires_in) {
        char issued[32];
        struct tm tm;
        time_t now = time(NULL);

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
        answer(req, r, token, expires_in);
        if (token) {
                OPENSSL_cleanse(token, strlen(token));
                free(token);
        }
}

static void token_begin(request_t *req) {
        char *token = NULL;
        unsigned expires_in = 0;
        auth_job_t *job = NULL;
        int r;

        if (strcmp(req->method, "POST") == 0) {
                req->body_mode = BODY_BUFFER;
                req->body_max = FORM_MAX;
                return; /* token_end */
        }
        r = auth_token_issue_start(req->srv->auth, req_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
                                   req->addr, &token, &expires_in, &req->who, &job);
        answer_or_wait(req, r, job, token, expires_in);
}

static void token_end(request_t *req) {
        char grant[32], user[128], password[1100];
        char *token = NULL;
        unsigned expires_in = 0;
        auth_job_t *job = NULL;
        const char *body = req->body ? req->body : "";
        int r, ru, rp;

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
        r = auth_token_issue_password_start(req->srv->auth, user, password, req->addr, &token,
                                            &expires_in, &req->who, &job);
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
        .begin = token_begin,
        .end = token_end,
        .cleanup = token_cleanup,
};
