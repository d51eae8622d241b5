/* server/quota.c: storage quotas at the HTTP edge (see quota.h). */
#include <stdatomic.h>
#include <stdio.h>
#include "common/err.h"
#include "common/log.h"
#include "server/quota.h"
#include "server/webhook.h"
#include "storage/usage.h"

/* "exceeded" events: at most one per project per EXCEEDED_EVERY seconds from this
 * process (a client retrying a refused push would otherwise queue one per try).
 * Projects share slots by hash: two that collide share the limit. */
#define EXCEEDED_EVERY 60
#define EXCEEDED_SLOTS 256
static _Atomic int64_t exceeded_at[EXCEEDED_SLOTS];

static bool exceeded_due(const char *project, int64_t now) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        _Atomic int64_t *slot;
        int64_t last;

        for (const char *p = project; *p; p++)
                h = (h ^ (unsigned char) *p) * UINT64_C(0x100000001b3);
        slot = &exceeded_at[h % EXCEEDED_SLOTS];
        last = atomic_load(slot);
        if (last && now >= last && now - last < EXCEEDED_EVERY)
                return false;
        return atomic_compare_exchange_strong(slot, &last, now);
}

static void exceeded_event(request_t *req, meta_t *m, const char *project) {
        meta_origin_t o = req_origin(req);
        int r;

        if (!exceeded_due(project, o.now))
                return;
        r = usage_exceeded_event(m, req->repo, NULL, &o);
        if (r > 0)
                webhooks_kick(req->srv->webhooks);
        else if (r < 0)
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "req=%s quota event for project %s not queued: %s", req->id,
                        project, berth_strerror(r));
}

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
        exceeded_event(req, m, u.project);
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
