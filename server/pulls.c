/* server/pulls.c: pull counts per manifest (see pulls.h). A table per stripe
 * (open addressing, a few thousand distinct manifests per interval), each under
 * its own lock so that concurrent GETs seldom meet; the flush swaps each stripe's
 * table for an empty one and writes the counts without holding any lock. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/pulls.h"
#include "storage/meta.h"
#include "storage/retention.h"

#define STRIPES 16
#define SLOTS 1024            /* per stripe (power of two) */
#define STRIPE_MAX (SLOTS / 2) /* distinct manifests per stripe and interval */

typedef struct {
        char *repo; /* NULL: free */
        digest_t digest;
        uint64_t count;
        int64_t last;
        uint32_t hash;
} slot_t;

typedef struct {
        pthread_mutex_t lock;
        slot_t *slots; /* NULL until the first pull of the interval */
        size_t n;
} stripe_t;

struct pulls {
        pulls_options_t o;
        stripe_t stripes[STRIPES];
        pthread_t thread;
        bool started;
        pthread_mutex_t lock; /* the thread's sleep and the requests of flushes */
        pthread_cond_t cond;
        bool stop;
        uint64_t asked, done; /* flushes asked for (pulls_flush) and done */
        int last;             /* the result of the last flush */
        meta_t *meta;         /* the flush thread's own (opened on first use) */
        atomic_uint_fast64_t dropped;
};

static uint32_t hash_of(const char *repo, const char *digest) {
        uint32_t h = 2166136261u; /* FNV-1a */

        for (const char *p = repo; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        h = (h ^ '@') * 16777619u;
        for (const char *p = digest; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        return h;
}

static int64_t now_of(const pulls_t *p) {
        return (int64_t) (p->o.now ? p->o.now(p->o.now_userdata) : time(NULL));
}

static void slots_free(slot_t *v) {
        for (size_t i = 0; v && i < SLOTS; i++)
                free(v[i].repo);
        free(v);
}

void pulls_count(pulls_t *p, const char *repo, const digest_t *d) {
        uint32_t h;
        stripe_t *s;
        size_t i;

        if (!p || !repo || !d)
                return;
        h = hash_of(repo, d->str);
        s = &p->stripes[h % STRIPES];
        pthread_mutex_lock(&s->lock);
        if (!s->slots && !(s->slots = calloc(SLOTS, sizeof(*s->slots))))
                goto dropped;
        for (i = (h / STRIPES) & (SLOTS - 1); s->slots[i].repo; i = (i + 1) & (SLOTS - 1)) {
                slot_t *e = &s->slots[i];
                if (e->hash == h && strcmp(e->digest.str, d->str) == 0 && strcmp(e->repo, repo) == 0) {
                        e->count++;
                        e->last = now_of(p);
                        pthread_mutex_unlock(&s->lock);
                        return;
                }
        }
        if (s->n >= STRIPE_MAX || !(s->slots[i].repo = strdup(repo)))
                goto dropped;
        s->slots[i].digest = *d;
        s->slots[i].count = 1;
        s->slots[i].last = now_of(p);
        s->slots[i].hash = h;
        s->n++;
        pthread_mutex_unlock(&s->lock);
        return;
dropped:
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_add_explicit(&p->dropped, 1, memory_order_relaxed);
}

/* On the flush thread only (its meta_t is bound to it). */
static int flush_now(pulls_t *p) {
        slot_t *tables[STRIPES];
        _cleanup_free_ meta_pull_t *v = NULL;
        size_t n = 0, total = 0;
        int r = 0;

        if (!p)
                return 0;
        for (size_t k = 0; k < STRIPES; k++) {
                stripe_t *s = &p->stripes[k];
                pthread_mutex_lock(&s->lock);
                tables[k] = s->slots;
                total += s->n;
                s->slots = NULL;
                s->n = 0;
                pthread_mutex_unlock(&s->lock);
        }
        if (total == 0)
                goto out;
        if (!(v = calloc(total, sizeof(*v)))) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t k = 0; k < STRIPES; k++)
                for (size_t i = 0; tables[k] && i < SLOTS; i++)
                        if (tables[k][i].repo && n < total)
                                v[n++] = (meta_pull_t){ .repo = tables[k][i].repo, .digest = tables[k][i].digest,
                                                        .count = tables[k][i].count, .last = tables[k][i].last };
        if (!p->meta && (r = meta_open_thread(p->o.db, &p->meta)) < 0)
                p->meta = NULL;
        if (r >= 0)
                r = meta_pulls_add(p->meta, v, n);
        if (r == BERTH_EDBDOWN) /* a new connection next time */
                p->meta = meta_free(p->meta);
        if (r < 0) {
                uint64_t lost = 0;
                for (size_t i = 0; i < n; i++)
                        lost += v[i].count;
                atomic_fetch_add_explicit(&p->dropped, lost, memory_order_relaxed);
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "pull counts of %zu manifest(s) not written: %s%s%s", n,
                        berth_strerror(r), db_last_error()[0] ? ": " : "", db_last_error());
        }
out:
        for (size_t k = 0; k < STRIPES; k++)
                slots_free(tables[k]);
        return r;
}

static void *flush_thread(void *arg) {
        pulls_t *p = arg;
        bool stop;

        pthread_mutex_lock(&p->lock);
        do {
                struct timespec until;
                uint64_t asked;
                int r;

                (void) clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += (time_t) p->o.interval;
                while (!p->stop && p->asked == p->done &&
                       pthread_cond_timedwait(&p->cond, &p->lock, &until) != ETIMEDOUT)
                        ;
                stop = p->stop;
                asked = p->asked;
                pthread_mutex_unlock(&p->lock);
                r = flush_now(p); /* the last one at the stop */
                pthread_mutex_lock(&p->lock);
                p->last = r;
                p->done = asked;
                pthread_cond_broadcast(&p->cond);
        } while (!stop);
        pthread_mutex_unlock(&p->lock);
        p->meta = meta_free(p->meta);
        return NULL;
}

int pulls_flush(pulls_t *p) {
        uint64_t want;
        int r;

        if (!p || !p->started)
                return 0;
        pthread_mutex_lock(&p->lock);
        want = ++p->asked;
        pthread_cond_broadcast(&p->cond);
        while (p->done < want && !p->stop)
                pthread_cond_wait(&p->cond, &p->lock);
        r = p->last;
        pthread_mutex_unlock(&p->lock);
        return r;
}

int pulls_start(const pulls_options_t *o, pulls_t **ret) {
        pthread_condattr_t ca;
        pulls_t *p;
        int r;

        if (!o || !o->db || !ret)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->o = *o;
        if (!p->o.interval)
                p->o.interval = 5;
        for (size_t k = 0; k < STRIPES; k++)
                pthread_mutex_init(&p->stripes[k].lock, NULL);
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&p->thread, NULL, flush_thread, p);
        if (r != 0) {
                pulls_stop(p);
                return -r;
        }
        p->started = true;
        *ret = p;
        return 0;
}

pulls_t *pulls_stop(pulls_t *p) {
        if (!p)
                return NULL;
        if (p->started) {
                pthread_mutex_lock(&p->lock);
                p->stop = true;
                pthread_cond_broadcast(&p->cond);
                pthread_mutex_unlock(&p->lock);
                pthread_join(p->thread, NULL); /* after its last flush */
        }
        for (size_t k = 0; k < STRIPES; k++) {
                slots_free(p->stripes[k].slots);
                pthread_mutex_destroy(&p->stripes[k].lock);
        }
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

uint64_t pulls_dropped(const pulls_t *p) {
        return p ? atomic_load(&((pulls_t *) p)->dropped) : 0;
}
