/* server/retention.c: the server's retention runs (see retention.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "server/retention.h"
#include "server/webhook.h"
#include "storage/meta.h"
#include "storage/retention.h"

static struct {
        pthread_t thread;
        bool started;
        volatile bool stop;
        pthread_mutex_t lock;
        pthread_cond_t cond;
} rt = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Sleeps up to secs, or until retention_stop: true when stopped. */
static bool nap(uint64_t secs) {
        struct timespec until;
        bool stop;

        (void) clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t) (secs > 86400 * 365 ? 86400 * 365 : secs);
        pthread_mutex_lock(&rt.lock);
        while (!rt.stop && pthread_cond_timedwait(&rt.cond, &rt.lock, &until) != ETIMEDOUT)
                ;
        stop = rt.stop;
        pthread_mutex_unlock(&rt.lock);
        return stop;
}

static double mono(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void one_run(server_t *srv, meta_t *m, const char *who) {
        meta_retention_options_t o = { .now = (int64_t) server_now(srv), .who = who, .stop = &rt.stop };
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

static void *retention_thread(void *arg) {
        server_t *srv = arg;
        meta_t *m = NULL;
        char who[256], host[128] = "?";
        int r;

        (void) gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        (void) snprintf(who, sizeof(who), "berthd on %s (pid %ld)", host, (long) getpid());
        while (!nap(srv->cfg->retention_interval)) {
                if (!m && (r = meta_open_thread(server_db(srv), &m)) < 0) {
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "retention skipped: metadata: %s", berth_strerror(r));
                        m = NULL;
                        continue;
                }
                if ((r = server_thread_conn_check(server_db(srv))) < 0) {
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "retention skipped: metadata: %s", berth_strerror(r));
                        continue;
                }
                one_run(srv, m, who);
        }
        meta_free(m);
        return NULL;
}

int retention_start(server_t *srv) {
        pthread_condattr_t ca;
        int r;

        if (!srv->cfg->retention_interval || rt.started)
                return 0;
        rt.stop = false;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&rt.cond, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&rt.thread, NULL, retention_thread, srv);
        if (r != 0) {
                pthread_cond_destroy(&rt.cond);
                return -r;
        }
        rt.started = true;
        return 0;
}

void retention_stop(void) {
        if (!rt.started)
                return;
        pthread_mutex_lock(&rt.lock);
        rt.stop = true;
        pthread_cond_broadcast(&rt.cond);
        pthread_mutex_unlock(&rt.lock);
        pthread_join(rt.thread, NULL);
        pthread_cond_destroy(&rt.cond);
        rt.started = false;
}
