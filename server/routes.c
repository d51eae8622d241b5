/* server/routes.c: URL → route. Repository names may hold slashes, so the
 * operation is read from the end of the path. */
#include <errno.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "common/name.h"
#include "server/server.h"
#include "server/api.h"

static void base_begin(request_t *req) {
        reply_buffer(req, 200, "{}", 2, "application/json");
}
const route_ops_t route_base = { .name = "base", .actions = AUTH_PULL, .begin = base_begin };

static void health_begin(request_t *req) {
        reply_buffer(req, 200, "ok\n", 3, "text/plain");
}
const route_ops_t route_health = { .name = "health", .flags = ROUTE_OPEN, .begin = health_begin };

/* Ready: not draining, and the database answers (db_ping: a lost connection is
 * reopened on the way, so readiness comes back by itself). Liveness (/healthz)
 * never asks the database: a database outage is no reason to restart berthd. */
static void ready_begin(request_t *req) {
        server_t *srv = req->srv;
        meta_t *m = NULL;
        int r;

        if (atomic_load(&srv->draining)) {
                reply_buffer(req, 503, "not ready\n", 10, "text/plain");
                return;
        }
        r = server_meta_get(srv, &m);
        if (r == 0)
                r = db_ping(server_db(srv));
        /* said once when it goes, once when it comes back: probes ask every few seconds */
        if (r < 0 && !atomic_exchange(&srv->db_down, true))
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "not ready: the metadata database does not answer: %s",
                        berth_strerror(r));
        else if (r == 0 && atomic_exchange(&srv->db_down, false))
                log_msg(LOG_NOTICE, LOG_SRC_SERVER, "ready again: the metadata database answers");
        if (r < 0)
                reply_buffer(req, 503, "not ready: metadata database unreachable\n", 41, "text/plain");
        else
                reply_buffer(req, 200, "ok\n", 3, "text/plain");
}
const route_ops_t route_ready = { .name = "ready", .flags = ROUTE_OPEN, .begin = ready_begin };

static bool method_is(const request_t *req, const char *m) {
        return strcmp(req->method, m) == 0;
}

static void method_not_allowed(request_t *req) {
        reply_error(req, 405, "UNSUPPORTED", "method not allowed", NULL);
}

/* Split name (the repository, [start, end)) and keep copies. */
static int take_repo(request_t *req, const char *start, size_t len) {
        if (len == 0 || len > NAME_REPO_MAX || !name_repo_valid(start, len)) {
                reply_errno(req, BERTH_ENAME_INVALID, NULL);
                return -1;
        }
        req->repo = strndup(start, len);
        if (!req->repo) {
                reply_errno(req, -ENOMEM, NULL);
                return -1;
        }
        return 0;
}

static int take_ref(request_t *req, const char *s) {
        req->ref = strdup(s);
        if (!req->ref) {
                reply_errno(req, -ENOMEM, NULL);
                return -1;
        }
        return 0;
}

/* Does path end with suffix, leaving room for a repository name before it? Returns
 * where the suffix starts (the end of the name), or NULL. */
static const char *tail_match(const char *path, const char *suffix) {
        size_t pl = strlen(path), sl = strlen(suffix);
        if (pl <= sl + 4 || memcmp(path + pl - sl, suffix, sl) != 0)
                return NULL;
        return path + pl - sl;
}

void route_request(request_t *req) {
        const char *p = req->path, *rest, *slash, *seg, *end;
        const bool get = method_is(req, "GET") || req->is_head;

        if (strcmp(p, "/healthz") == 0 || strcmp(p, "/livez") == 0) {
                req->ops = &route_health;
                return;
        }
        if (strcmp(p, "/readyz") == 0) {
                req->ops = &route_ready;
                return;
        }
        if (strcmp(p, "/auth/token") == 0 && !req->srv->cfg->auth_none) {
                if (get || method_is(req, "POST"))
                        req->ops = &route_token;
                else
                        method_not_allowed(req);
                return;
        }
        if (strncmp(p, "/api/v1/", 8) == 0) {
                req->ops = &route_api; /* server/api.c: the management API */
                return;
        }
        if (strcmp(p, "/v2") == 0 || strcmp(p, "/v2/") == 0) {
                if (get)
                        req->ops = &route_base;
                else
                        method_not_allowed(req);
                return;
        }
        /* the web UI (server/ui.c); "/" sends a browser there */
        if (strcmp(p, "/") == 0 || strcmp(p, "/ui") == 0 || strncmp(p, "/ui/", 4) == 0) {
                if (get)
                        req->ops = &route_ui;
                else
                        method_not_allowed(req);
                return;
        }
        if (strncmp(p, "/v2/", 4) != 0) {
                reply_error(req, 404, "NOT_FOUND", "not found", NULL);
                return;
        }
        rest = p + 4;
        if (strcmp(rest, "_catalog") == 0) {
                if (get)
                        req->ops = &route_catalog;
                else
                        method_not_allowed(req);
                return;
        }
        if ((end = tail_match(p, "/tags/list")) && end > rest) {
                if (take_repo(req, rest, (size_t) (end - rest)) < 0)
                        return;
                if (get)
                        req->ops = &route_tags_list;
                else
                        method_not_allowed(req);
                return;
        }
        /* uploads: /v2/<name>/blobs/uploads/ and /v2/<name>/blobs/uploads/<uuid> */
        if ((end = tail_match(p, "/blobs/uploads/")) || (end = tail_match(p, "/blobs/uploads"))) {
                if (end <= rest || take_repo(req, rest, (size_t) (end - rest)) < 0) {
                        if (!req->response)
                                reply_errno(req, BERTH_ENAME_INVALID, NULL);
                        return;
                }
                if (method_is(req, "POST"))
                        req->ops = &route_upload_start;
                else
                        method_not_allowed(req);
                return;
        }
        slash = strrchr(rest, '/');
        if (!slash || slash == rest) {
                reply_error(req, 404, "NOT_FOUND", "not found", NULL);
                return;
        }
        seg = slash + 1; /* last segment: digest, tag or uuid */
        /* the segment before the last */
        {
                const char *prev = slash;
                while (prev > rest && prev[-1] != '/')
                        prev--;
                size_t plen = (size_t) (slash - prev);
                const char *name_end = prev > rest ? prev - 1 : NULL;

                if (plen == 7 && memcmp(prev, "uploads", 7) == 0 && name_end &&
                    (size_t) (name_end - rest) > 6 && memcmp(name_end - 6, "/blobs", 6) == 0) {
                        if (take_repo(req, rest, (size_t) (name_end - 6 - rest)) < 0 || take_ref(req, seg) < 0)
                                return;
                        if (get)
                                req->ops = &route_upload_status;
                        else if (method_is(req, "PATCH"))
                                req->ops = &route_upload_patch;
                        else if (method_is(req, "PUT"))
                                req->ops = &route_upload_put;
                        else if (method_is(req, "DELETE"))
                                req->ops = &route_upload_delete;
                        else
                                method_not_allowed(req);
                        return;
                }
                if (!name_end) {
                        reply_error(req, 404, "NOT_FOUND", "not found", NULL);
                        return;
                }
                if (plen == 5 && memcmp(prev, "blobs", 5) == 0) {
                        if (take_repo(req, rest, (size_t) (name_end - rest)) < 0 || take_ref(req, seg) < 0)
                                return;
                        if (get)
                                req->ops = &route_blob_get;
                        else if (method_is(req, "DELETE"))
                                req->ops = &route_blob_delete;
                        else
                                method_not_allowed(req);
                        return;
                }
                if (plen == 9 && memcmp(prev, "manifests", 9) == 0) {
                        if (take_repo(req, rest, (size_t) (name_end - rest)) < 0 || take_ref(req, seg) < 0)
                                return;
                        if (get)
                                req->ops = &route_manifest_get;
                        else if (method_is(req, "PUT"))
                                req->ops = &route_manifest_put;
                        else if (method_is(req, "DELETE"))
                                req->ops = &route_manifest_delete;
                        else
                                method_not_allowed(req);
                        return;
                }
                if (plen == 9 && memcmp(prev, "referrers", 9) == 0) {
                        if (take_repo(req, rest, (size_t) (name_end - rest)) < 0 || take_ref(req, seg) < 0)
                                return;
                        if (get)
                                req->ops = &route_referrers;
                        else
                                method_not_allowed(req);
                        return;
                }
        }
        reply_error(req, 404, "NOT_FOUND", "not found", NULL);
}
