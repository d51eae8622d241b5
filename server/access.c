/* server/access.c: who may do what. Asks auth/ for the actions each route needs
 * (route_ops_t.actions); answers 401 (with the Basic challenge docker login expects, or in
 * token mode the Bearer challenge pointing at /auth/token), 403 or 429 itself.
 * A password that needs verifying (argon2id) is verified on auth/'s verifier
 * threads while the connection is suspended, never on an event-loop thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "server/server.h"

#define HOST_MAX 255

/* The token endpoint's URL for this request's challenge: "<scheme>://<host>/auth/token",
 * with the Host header if it is made of [A-Za-z0-9.:-[]] only, else the listen address. */
static void token_realm(request_t *req, char *buf, size_t size) {
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

/* WWW-Authenticate for a 401 in token mode: realm, service and, when a
 * repository is involved, the scope the client should ask for; for a token
 * whose scope does not cover the request, error="insufficient_scope". */
static void bearer_challenge(request_t *req, unsigned actions) {
        char realm[320];
        const char *act = actions & AUTH_DELETE ? "delete"
                          : actions & AUTH_PUSH ? "pull,push"
                                                : "pull";

        token_realm(req, realm, sizeof(realm));
        if (req->repo)
                reply_headerf(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                              "Bearer realm=\"%s\",service=\"berth\",scope=\"repository:%s:%s\"%s",
                              realm, req->repo, act,
                              req->who.insufficient_scope ? ",error=\"insufficient_scope\"" : "");
        else
                reply_headerf(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                              "Bearer realm=\"%s\",service=\"berth\"", realm);
}

/* Answers a refusal: 0 allowed, else -1 (answered). */
static int access_answer(request_t *req, int r) {
        switch (r) {
        case 0:
                return 0;
        case BERTH_EAUTH:
                reply_error(req, 401, "UNAUTHORIZED", "authentication required", NULL);
                if (req->srv->cfg->auth_token || req->who.insufficient_scope)
                        bearer_challenge(req, req->ops->actions);
                else
                        reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"berth\"");
                break;
        case BERTH_EDENIED:
                reply_error(req, 403, "DENIED", "requested access to the resource is denied", req->repo);
                break;
        case BERTH_ETHROTTLED:
                reply_error(req, 429, "TOOMANYREQUESTS", "too many failed attempts; retry later", NULL);
                reply_headerf(req, "Retry-After", "%u", req->who.retry_after ? req->who.retry_after : 1);
                break;
        case BERTH_EBUSY:
                reply_error(req, 429, "TOOMANYREQUESTS", "too many password verifications waiting; retry later",
                            NULL);
                reply_header(req, "Retry-After", "1");
                break;
        case -ESHUTDOWN:
                reply_error(req, 503, "UNAVAILABLE", "the registry is shutting down", NULL);
                break;
        default:
                reply_errno(req, r, NULL);
        }
        return -1;
}

/* On a verifier thread: the verdict is in the job, the request goes on. */
static void verified(void *userdata) {
        request_t *req = userdata;
        MHD_resume_connection(req->conn);
}

int access_wait(request_t *req, auth_job_t *job, void (*resume)(request_t *req)) {
        int r;

        req->auth_job = job;
        req->auth_resume = resume;
        req->suspended = true;
        /* suspended before the job is queued: the verdict may come at once */
        MHD_suspend_connection(req->conn);
        r = auth_job_submit(req->srv->auth, job, verified, req);
        if (r == 0)
                return 1;
        /* not queued: the caller answers, and MHD calls again at once */
        req->auth_job = auth_job_free(job);
        req->auth_resume = NULL;
        MHD_resume_connection(req->conn);
        return r;
}

static void access_resume(request_t *req) {
        int r = auth_job_result(req->auth_job, &req->who);

        req->auth_job = auth_job_free(req->auth_job);
        (void) access_answer(req, r);
}

int access_check(request_t *req) {
        const route_ops_t *o = req->ops;
        auth_job_t *job = NULL;
        int r;

        if (o->flags & ROUTE_OPEN)
                return 0;
        /* Never argon2 on this (event-loop) thread: a fresh verification runs on a
         * verifier thread while the connection is suspended. */
        /* req->repo is NULL for the routes without a repository (base, catalog) */
        r = auth_check_start(req->srv->auth, req_header(req, MHD_HTTP_HEADER_AUTHORIZATION), req->addr,
                             req->repo, o->actions, &req->who, &job);
        if (r == AUTH_PENDING) {
                r = access_wait(req, job, access_resume);
                if (r > 0)
                        return 1;
        }
        return access_answer(req, r);
}

bool access_may_pull(request_t *req, const char *repo) {
        /* a Bearer token's scope is a ceiling here too */
        return auth_token_allows(req->srv->auth, req_header(req, MHD_HTTP_HEADER_AUTHORIZATION), repo,
                                 AUTH_PULL) &&
               auth_may_pull(req->srv->auth, &req->who, repo);
}

int access_visible_projects(request_t *req, char ***ret) {
        return auth_visible_projects(req->srv->auth, &req->who, ret);
}

void access_audit(request_t *req, const char *action, const char *detail) {
        int r = auth_audit(req->srv->auth, &req->who, req->addr, action, req->repo, detail);
        if (r < 0)
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "req=%s audit: %s", req->id, berth_strerror(r));
}
