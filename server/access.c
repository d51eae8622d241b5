/* server/access.c: who may do what. Maps each route to the actions it needs and
 * asks auth/; answers 401 (with the Basic challenge docker login expects, or in
 * token mode the Bearer challenge pointing at /auth/token), 403 or 429 itself. */
#include <stdio.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "server/server.h"

static unsigned route_actions(const request_t *req) {
        const route_ops_t *o = req->ops;

        if (o == &route_blob_delete || o == &route_manifest_delete)
                return AUTH_DELETE;
        if (o == &route_upload_start || o == &route_upload_patch || o == &route_upload_put ||
            o == &route_upload_status || o == &route_upload_delete || o == &route_manifest_put)
                return AUTH_PUSH | AUTH_PULL;
        return AUTH_PULL;
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
        if (req->repo && req->ops != &route_base && req->ops != &route_catalog)
                reply_headerf(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                              "Bearer realm=\"%s\",service=\"berth\",scope=\"repository:%s:%s\"%s",
                              realm, req->repo, act,
                              req->who.insufficient_scope ? ",error=\"insufficient_scope\"" : "");
        else
                reply_headerf(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                              "Bearer realm=\"%s\",service=\"berth\"", realm);
}

int access_check(request_t *req) {
        const route_ops_t *o = req->ops;
        int r;

        if (o == &route_health || o == &route_ready || o == &route_token)
                return 0; /* the token endpoint verifies credentials itself */
        r = auth_check(req->srv->auth, req_header(req, MHD_HTTP_HEADER_AUTHORIZATION), req->addr,
                       o == &route_base || o == &route_catalog ? NULL : req->repo, route_actions(req),
                       &req->who);
        switch (r) {
        case 0:
                return 0;
        case BERTH_EAUTH:
                reply_error(req, 401, "UNAUTHORIZED", "authentication required", NULL);
                if (req->srv->cfg->auth_token || req->who.insufficient_scope)
                        bearer_challenge(req, route_actions(req));
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
        default:
                reply_errno(req, r, NULL);
        }
        return -1;
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
