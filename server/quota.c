/* server/quota.c: storage quotas at the HTTP edge (see quota.h). */
#include <stdio.h>
#include "common/err.h"
#include "common/log.h"
#include "server/quota.h"
#include "storage/usage.h"

void quota_reply(request_t *req, const char *detail) {
        server_t *srv = req->srv;
        usage_project_t u;
        meta_t *m = NULL;
        char msg[META_TOP_MAX + 128], used[32], quota[32], project[META_TOP_MAX + 1];

        if (server_meta_get(srv, &m) < 0 || usage_project_of(req->repo, project) < 0 ||
            usage_get(m, project, &u) < 0 || u.quota == USAGE_UNLIMITED) {
                reply_error(req, 403, "DENIED", "storage quota of the project exceeded", detail);
                return;
        }
        size_human(u.bytes, used, sizeof(used));
        size_human(u.quota, quota, sizeof(quota));
        snprintf(msg, sizeof(msg), "quota of project %s exceeded: %s used of %s", u.project, used, quota);
        log_msg(LOG_INFO, LOG_SRC_SERVER, "req=%s repo='%s' refused: %s", req->id, req->repo, msg);
        reply_error(req, 403, "DENIED", msg, detail);
}

uint64_t quota_room(request_t *req, const digest_t *d) {
        meta_t *m = NULL;
        uint64_t room;

        if (server_meta_get(req->srv, &m) < 0 || usage_room(m, req->repo, d, &room, NULL) < 0)
                return USAGE_UNLIMITED;
        return room;
}

bool quota_refuse(request_t *req, const digest_t *d, uint64_t bytes) {
        if (bytes <= quota_room(req, d))
                return false;
        quota_reply(req, NULL);
        return true;
}
