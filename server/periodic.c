/* server/periodic.c: jobs run every interval seconds (see periodic.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
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

#ifdef BERTH_TEST_HOOKS
/* Test builds only (configure --enable-test-hooks): the clock is the wall
 * clock plus the whole seconds written in the file $BERTH_TEST_CLOCK_FILE, read
 * again whenever the file's mtime changes, so a test moves time forward instead of
 * sleeping. An unreadable file keeps the last offset. */
typedef struct {
        const char *path;
        pthread_mutex_t lock;
        struct timespec mtime;
        time_t offset;
} test_clock_t;

static time_t test_clock_now(void *userdata) {
        test_clock_t *c = userdata;
        struct stat st;
        time_t offset;

        pthread_mutex_lock(&c->lock);
        if (stat(c->path, &st) == 0 &&
            (st.st_mtim.tv_sec != c->mtime.tv_sec || st.st_mtim.tv_nsec != c->mtime.tv_nsec)) {
                FILE *f = fopen(c->path, "re");
                long long v;

                if (f && fscanf(f, "%lld", &v) == 1) {
                        c->offset = (time_t) v;
                        c->mtime = st.st_mtim;
                }
                if (f)
                        fclose(f);
        }
        offset = c->offset;
        pthread_mutex_unlock(&c->lock);
        return time(NULL) + offset;
}
#endif

void *test_clock_from_env(time_t (**ret_now)(void *userdata)) {
#ifdef BERTH_TEST_HOOKS
        static test_clock_t clock = { .lock = PTHREAD_MUTEX_INITIALIZER };
        const char *path = getenv("BERTH_TEST_CLOCK_FILE");

        if (path && *path) {
                clock.path = path;
                *ret_now = test_clock_now;
                return &clock;
        }
#endif
        (void) ret_now;
        return NULL;
}
