/* server/retention.c: the server's retention runs (see retention.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "server/periodic.h"
#include "server/retention.h"
#include "server/webhook.h"
#include "storage/meta.h"
#include "storage/retention.h"

static double mono(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void one_run(server_t *srv, meta_t *m, const char *who, const volatile bool *stop) {
        meta_retention_options_t o = { .now = (int64_t) server_now(srv), .who = who, .stop = stop };
        meta_retention_result_t res;
        int64_t last = 0;
        double t0;
        int r;

        /* replicas share the schedule: a run by any of them counts */
        r = meta_retention_last_ok(m, &last);
        if (r == 0 && last > 0 && o.now - last < (int64_t) srv->cfg->retention_interval - 1)
                return;
        t0 = mono();
        r = meta_retention_run(m, &o, &res);
        if (r == BERTH_EBUSY) {
                log_msg(LOG_DEBUG, LOG_SRC_SERVER, "retention: another process is running one");
                return;
        }
        if (r < 0) {
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "retention run %" PRId64 " failed: %s%s%s", res.run_id,
                        berth_strerror(r), db_last_error()[0] ? ": " : "", db_last_error());
                return;
        }
        if (res.tags || res.manifests)
                webhooks_kick(srv->webhooks); /* the delete events queued */
        log_msg(res.tags || res.manifests ? LOG_INFO : LOG_DEBUG, LOG_SRC_SERVER,
                "retention run %" PRId64 " in %.3f s: %" PRIu64 " repositories, %" PRIu64 " of %" PRIu64
                " tags and %" PRIu64 " untagged manifests removed", res.run_id, mono() - t0, res.repos, res.tags,
                res.tags_seen, res.manifests);
}

static periodic_t rt = PERIODIC_INIT("retention", one_run);

int retention_start(server_t *srv) {
        return periodic_start(&rt, srv, srv->cfg->retention_interval);
}

void retention_stop(void) {
        periodic_stop(&rt);
}
