/* server/periodic.c: jobs run every interval seconds (see periodic.h). */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "server/periodic.h"

void periodic_who(const char *what, char *buf, size_t size) {
        char host[128] = "?";

        (void) gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        (void) snprintf(buf, size, "%s on %s (pid %ld)", what, host, (long) getpid());
}

/* Sleeps up to secs, or until periodic_stop: true when stopped. */
static bool nap(periodic_t *p, uint64_t secs) {
        struct timespec until;
        bool stop;

        (void) clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t) (secs > 86400 * 365 ? 86400 * 365 : secs);
        pthread_mutex_lock(&p->lock);
        while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &until) != ETIMEDOUT)
                ;
        stop = p->stop;
        pthread_mutex_unlock(&p->lock);
        return stop;
}

static void *periodic_thread(void *arg) {
        periodic_t *p = arg;
        meta_t *m = NULL;
        char who[256];
        int r;

        periodic_who("berthd", who, sizeof(who));
        while (!nap(p, p->interval)) {
                if (!m && (r = meta_open_thread(server_db(p->srv), &m)) < 0) {
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "%s skipped: metadata: %s", p->name, berth_strerror(r));
                        m = NULL;
                        continue;
                }
                if ((r = server_thread_conn_check(server_db(p->srv))) < 0) {
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "%s skipped: metadata: %s", p->name, berth_strerror(r));
                        continue;
                }
                p->run(p->srv, m, who, &p->stop);
        }
        meta_free(m);
        return NULL;
}

int periodic_start(periodic_t *p, server_t *srv, uint64_t interval) {
        pthread_condattr_t ca;
        int r;

        if (!interval || p->started)
                return 0;
        p->srv = srv;
        p->interval = interval;
        p->stop = false;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&p->thread, NULL, periodic_thread, p);
        if (r != 0) {
                pthread_cond_destroy(&p->cond);
                return -r;
        }
        p->started = true;
        return 0;
}

void periodic_stop(periodic_t *p) {
        if (!p->started)
                return;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_cond_destroy(&p->cond);
        p->started = false;
}
