/* server/webhook.c: the webhook sender threads and the pull counter (see
 * webhook.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/secretbox.h"
#include "server/ssrf.h"
#include "server/webhook.h"
#include "storage/webhook.h"

#define PULL_SLOTS 8192 /* twice WEBHOOKS_PULLS_MAX: the table stays half empty */
_Static_assert(PULL_SLOTS >= 2 * WEBHOOKS_PULLS_MAX && (PULL_SLOTS & (PULL_SLOTS - 1)) == 0, "PULL_SLOTS");

typedef struct {
        char *repository, *digest, *media_type; /* NULL repository: a free slot */
        uint64_t size, count;
        uint32_t hash;
} pull_t;

typedef struct {
        pull_t *slots; /* PULL_SLOTS */
        size_t n;
} pulls_t;

struct webhooks {
        webhooks_options_t o;
        char *data_dir;
        pthread_t threads[WEBHOOKS_SENDERS];
        size_t n_threads;
        atomic_bool stopping;

        /* waking the senders */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint64_t kicks;

        /* the pull counts of the current interval */
        pthread_mutex_t pull_lock;
        pulls_t *pulls;
        atomic_bool pulls_wanted;     /* some webhook wants pull events */
        atomic_int_fast64_t next_flush; /* when the next pull flush is due (w's clock) */

        /* the key of webhook secrets, loaded on first need */
        pthread_mutex_t key_lock;
        secretbox_t *box;

        atomic_uint_fast64_t success, failure, gaveup, pulls_dropped;
};

static int64_t now_of(const webhooks_t *w) {
        return (int64_t) (w->o.now ? w->o.now(w->o.now_userdata) : time(NULL));
}

uint64_t webhooks_backoff(uint64_t min, uint64_t max, int64_t attempt, uint32_t rnd) {
        uint64_t d = min ? min : 1, low;

        if (max < d)
                max = d;
        for (int64_t i = 1; i < attempt && d < max; i++)
                d = d > max / 2 ? max : d * 2;
        if (d > max)
                d = max;
        low = d / 2 ? d / 2 : 1;
        return low + (d > low ? rnd % (d - low + 1) : 0);
}

/* ---- pulls ---- */

static uint32_t pull_hash(const char *repository, const char *digest) {
        uint32_t h = 2166136261u; /* FNV-1a */

        for (const char *p = repository; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        h = (h ^ '@') * 16777619u;
        for (const char *p = digest; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        return h;
}

static pulls_t *pulls_free(pulls_t *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < PULL_SLOTS; i++) {
                free(t->slots[i].repository);
                free(t->slots[i].digest);
                free(t->slots[i].media_type);
        }
        free(t->slots);
        free(t);
        return NULL;
}

static pulls_t *pulls_new(void) {
        pulls_t *t = calloc(1, sizeof(*t));

        if (t && !(t->slots = calloc(PULL_SLOTS, sizeof(*t->slots)))) {
                free(t);
                return NULL;
        }
        return t;
}

void webhooks_pulled(webhooks_t *w, const char *repository, const char *digest, const char *media_type,
                     uint64_t size) {
        uint32_t h;
        size_t i;

        if (!w || !repository || !digest || !atomic_load_explicit(&w->pulls_wanted, memory_order_relaxed))
                return;
        h = pull_hash(repository, digest);
        pthread_mutex_lock(&w->pull_lock);
        if (!w->pulls && !(w->pulls = pulls_new()))
                goto dropped;
        for (i = h & (PULL_SLOTS - 1); w->pulls->slots[i].repository; i = (i + 1) & (PULL_SLOTS - 1)) {
                pull_t *p = &w->pulls->slots[i];
                if (p->hash == h && strcmp(p->repository, repository) == 0 && strcmp(p->digest, digest) == 0) {
                        p->count++;
                        pthread_mutex_unlock(&w->pull_lock);
                        return;
                }
        }
        if (w->pulls->n >= WEBHOOKS_PULLS_MAX)
                goto dropped;
        {
                pull_t *p = &w->pulls->slots[i];
                p->repository = strdup(repository);
                p->digest = strdup(digest);
                p->media_type = media_type ? strdup(media_type) : NULL;
                if (!p->repository || !p->digest || (media_type && !p->media_type)) {
                        free(p->repository);
                        free(p->digest);
                        free(p->media_type);
                        *p = (pull_t){ 0 };
                        goto dropped;
                }
                p->hash = h;
                p->size = size;
                p->count = 1;
                w->pulls->n++;
        }
        pthread_mutex_unlock(&w->pull_lock);
        return;
dropped:
        pthread_mutex_unlock(&w->pull_lock);
        atomic_fetch_add_explicit(&w->pulls_dropped, 1, memory_order_relaxed);
}

/* The interval's counts as pull events, in one transaction; then whether pulls
 * are still wanted. */
static void pulls_flush(webhooks_t *w) {
        pulls_t *t;
        db_conn_t *c = NULL;
        unsigned queued = 0;
        int64_t now = now_of(w);
        int r;

        pthread_mutex_lock(&w->pull_lock);
        t = w->pulls;
        w->pulls = NULL;
        pthread_mutex_unlock(&w->pull_lock);

        r = db_conn_get(w->o.db, &c);
        if (r == 0 && t && t->n > 0 && (r = db_tx_begin(c)) == 0) {
                for (size_t i = 0; i < PULL_SLOTS && db_tx_error(c) == 0; i++) {
                        const pull_t *p = &t->slots[i];
                        webhook_event_t ev = { .type = WEBHOOK_PULL, .repository = p->repository,
                                               .digest = p->digest, .media_type = p->media_type,
                                               .size = p->size, .time = now, .count = p->count };
                        if (p->repository)
                                (void) webhook_enqueue(c, &ev, &queued);
                }
                r = db_tx_commit(c);
        }
        if (r < 0 && t && t->n > 0) {
                uint64_t lost = 0;
                for (size_t i = 0; i < PULL_SLOTS; i++)
                        lost += t->slots[i].count;
                atomic_fetch_add_explicit(&w->pulls_dropped, lost, memory_order_relaxed);
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "webhooks: %llu pull counts not written: %s%s%s",
                        (unsigned long long) lost, berth_strerror(r), db_last_error()[0] ? ": " : "",
                        db_last_error());
        }
        if (c) {
                int any = webhook_any(c, WEBHOOK_PULL);
                if (any >= 0)
                        atomic_store(&w->pulls_wanted, any > 0);
                db_conn_put(w->o.db, c);
        }
        pulls_free(t);
        if (queued > 0)
                webhooks_kick(w);
}

/* The sender that finds the flush due first does it. */
static void pulls_maybe_flush(webhooks_t *w) {
        int64_t due = atomic_load(&w->next_flush), now = now_of(w);

        if (now < due)
                return;
        if (!atomic_compare_exchange_strong(&w->next_flush, &due, now + (int64_t) w->o.pull_interval))
                return;
        pulls_flush(w);
}

/* ---- one delivery ---- */

typedef struct {
        webhooks_t *w;
        bool refused; /* the socket's address was not allowed */
        char refused_what[80];
        int64_t stop_seen_ms; /* when a stop found the body sent (0: not yet) */
} xfer_t;

/* After a stop, how long a delivery whose body is sent may wait for its answer:
 * the receiver may have acted on it already, so it is recorded rather than cut
 * short (and sent again after the restart). */
#define WEBHOOK_STOP_ANSWER_MS 2000

static int64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t discard(char *ptr, size_t size, size_t n, void *userdata) {
        (void) ptr;
        (void) userdata;
        return size * n;
}

static int progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        xfer_t *x = clientp;

        (void) dltotal, (void) dlnow;
        if (!atomic_load(&x->w->stopping))
                return 0;
        if (ultotal <= 0 || ulnow < ultotal)
                return 1; /* stopping, the body not all sent: cut it short, send it later */
        if (!x->stop_seen_ms)
                x->stop_seen_ms = mono_ms();
        return mono_ms() - x->stop_seen_ms > WEBHOOK_STOP_ANSWER_MS ? 1 : 0;
}

/* Every connection's address is checked once more, whatever led curl to it. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
        xfer_t *x = clientp;
        proxy_addr_t pa;
        const char *what = "not an address";

        (void) purpose;
        if (proxy_addr_from_sockaddr(&a->addr, &pa) < 0 || !ssrf_allowed(&pa, x->w->o.allow, &what)) {
                x->refused = true;
                (void) snprintf(x->refused_what, sizeof(x->refused_what), "%s", what);
                return CURL_SOCKET_BAD;
        }
        return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* The webhook's secret, opened with the key: 0 and *ret (wipe and free), or <0
 * with *why. */
static int secret_of(webhooks_t *w, const webhook_delivery_t *d, char **ret, size_t *ret_len, const char **why) {
        int r = 0;

        pthread_mutex_lock(&w->key_lock);
        if (!w->box) {
                _cleanup_free_ char *path = NULL;
                r = secretbox_key_path(w->data_dir, &path, NULL);
                if (r == 0)
                        r = secretbox_open(path, false, &w->box, NULL);
                if (r < 0)
                        *why = r == -ENOENT ? "the secret key file is missing (DATA/secret.key or "
                                              "BERTH_SECRET_KEY_FILE)"
                                            : "the secret key file cannot be read";
        }
        if (r == 0) {
                r = secretbox_unseal(w->box, WEBHOOK_SECRET_CONTEXT, d->secret, d->secret_len, ret, ret_len);
                if (r < 0)
                        *why = r == -EKEYREJECTED ? "the secret was sealed under another key"
                                                  : "the secret does not open";
        }
        pthread_mutex_unlock(&w->key_lock);
        return r;
}

static int64_t elapsed_ms(const struct timespec *t0) {
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (int64_t) (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static int add_header(struct curl_slist **l, const char *h) {
        struct curl_slist *n = curl_slist_append(*l, h);

        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

/* POSTs d. 0 and o filled; 1 cut short by a stop (nothing to record). */
static int post(webhooks_t *w, const webhook_delivery_t *d, webhook_outcome_t *o, char *error, size_t esize) {
        char errbuf[CURL_ERROR_SIZE] = "", sig[128] = "X-Berth-Signature: ", addr[PROXY_ADDR_STRLEN];
        char pin[256 + 16 + SSRF_ADDRS_MAX * (PROXY_ADDR_STRLEN + 3)];
        char ua[64], ev[128];
        struct curl_slist *headers = NULL, *resolve = NULL;
        xfer_t x = { .w = w };
        const char *why = NULL;
        ssrf_url_t u;
        proxy_addr_t targets[SSRF_ADDRS_MAX];
        size_t n_targets = 0;
        CURL *curl = NULL;
        CURLcode cc;
        long status = 0;
        int r;

        o->target_down = true;
        if (ssrf_url_parse(d->url, &u, &why) < 0) {
                (void) snprintf(error, esize, "URL: %s", why);
                return 0;
        }
        r = ssrf_resolve_all(&u, w->o.allow, false, targets, SSRF_ADDRS_MAX, &n_targets, error, esize);
        if (r < 0)
                return 0;
        if (d->secret) {
                char *secret = NULL;
                size_t slen = 0;

                if (secret_of(w, d, &secret, &slen, &why) < 0) {
                        (void) snprintf(error, esize, "%s", why);
                        o->target_down = false;
                        return 0;
                }
                r = webhook_sign(secret, slen, d->body, strlen(d->body), sig + strlen(sig), sizeof(sig) - strlen(sig));
                OPENSSL_cleanse(secret, slen);
                free(secret);
                if (r < 0) {
                        (void) snprintf(error, esize, "signing: %s", berth_strerror(r));
                        return 0;
                }
        }
        (void) snprintf(ua, sizeof(ua), "User-Agent: berthd/%s", PACKAGE_VERSION);
        (void) snprintf(ev, sizeof(ev), "X-Berth-Event: %s", d->type);
        if (add_header(&headers, "Content-Type: application/cloudevents+json; charset=utf-8") < 0 ||
            add_header(&headers, ua) < 0 || add_header(&headers, ev) < 0 ||
            add_header(&headers, "Expect:") < 0 || (d->secret && add_header(&headers, sig) < 0)) {
                (void) snprintf(error, esize, "out of memory");
                goto out;
        }
        /* the addresses checked above, and no other, for the name: "HOST:PORT:ADDR,..." */
        if (!u.literal) {
                size_t len = (size_t) snprintf(pin, sizeof(pin), "%s:%u:", u.host, (unsigned) u.port);
                for (size_t i = 0; i < n_targets && len < sizeof(pin); i++) {
                        proxy_addr_format(&targets[i], addr, sizeof(addr));
                        len += (size_t) snprintf(pin + len, sizeof(pin) - len,
                                                 targets[i].family == AF_INET6 ? "%s[%s]" : "%s%s", i ? "," : "",
                                                 addr);
                }
                if (len < sizeof(pin))
                        resolve = curl_slist_append(NULL, pin);
        }
        curl = curl_easy_init();
        if (!curl || (!u.literal && !resolve)) {
                (void) snprintf(error, esize, "out of memory");
                goto out;
        }
        (void) curl_easy_setopt(curl, CURLOPT_URL, d->url);
#if LIBCURL_VERSION_NUM >= 0x075500
        (void) curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        (void) curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        (void) curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* none, whatever the environment says */
        (void) curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        (void) curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) WEBHOOKS_CONNECT_TIMEOUT_MS);
        (void) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) WEBHOOKS_TIMEOUT_MS);
        (void) curl_easy_setopt(curl, CURLOPT_POST, 1L);
        (void) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->body);
        (void) curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(d->body));
        (void) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        if (resolve)
                (void) curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
        (void) curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        (void) curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &x);
        (void) curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        (void) curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        (void) curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
        (void) curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
        (void) curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        cc = curl_easy_perform(curl);
        if (cc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&w->stopping)) {
                r = 1;
                goto out;
        }
        (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK) {
                if (x.refused)
                        (void) snprintf(error, esize, "connection refused by berthd: the address is %s",
                                        x.refused_what);
                else
                        (void) snprintf(error, esize, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        } else {
                o->status = (int) status;
                o->target_down = status >= 500 || status == 429 || status == 408;
                if (status < 200 || status > 299)
                        (void) snprintf(error, esize, "HTTP %ld", status);
        }
        r = 0;
out:
        curl_easy_cleanup(curl);
        curl_slist_free_all(headers);
        curl_slist_free_all(resolve);
        OPENSSL_cleanse(sig, sizeof(sig));
        return r;
}

static void deliver(webhooks_t *w, webhook_delivery_t *d, uint32_t rnd) {
        webhook_outcome_t o = { .result = WEBHOOK_FAILURE };
        char error[256] = "";
        struct timespec t0;
        db_conn_t *c = NULL;
        int64_t now, deadline;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (post(w, d, &o, error, sizeof(error)) > 0) {
                if (db_conn_get(w->o.db, &c) == 0) {
                        (void) webhook_release(c, d);
                        db_conn_put(w->o.db, c);
                }
                return;
        }
        o.latency_ms = elapsed_ms(&t0);
        now = now_of(w);
        deadline = d->created + (int64_t) w->o.max_age;
        if (o.status >= 200 && o.status <= 299) {
                o.result = WEBHOOK_SUCCESS;
                o.target_down = false;
        } else if (now >= deadline) {
                o.result = WEBHOOK_GAVEUP;
        } else {
                o.next_attempt = now + (int64_t) webhooks_backoff(w->o.backoff_min, w->o.backoff_max,
                                                                  d->attempts + 1, rnd);
                if (o.next_attempt > deadline)
                        o.next_attempt = deadline; /* a last attempt at the deadline */
        }
        o.error = error[0] ? error : NULL;
        r = db_conn_get(w->o.db, &c);
        if (r == 0) {
                r = webhook_record(c, d, now, &o);
                db_conn_put(w->o.db, c);
        }
        if (r < 0)
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "webhook %lld event %s: the outcome of the delivery was not "
                        "recorded (it will be sent again): %s", (long long) d->webhook_id, d->event_id,
                        berth_strerror(r));
        switch (o.result) {
        case WEBHOOK_SUCCESS:
                atomic_fetch_add_explicit(&w->success, 1, memory_order_relaxed);
                log_debug(LOG_SRC_SERVER, "webhook %lld event %s (%s, %s): delivered, HTTP %d in %lld ms",
                          (long long) d->webhook_id, d->event_id, d->type, d->repository, o.status,
                          (long long) o.latency_ms);
                break;
        case WEBHOOK_FAILURE:
                atomic_fetch_add_explicit(&w->failure, 1, memory_order_relaxed);
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "webhook %lld event %s (%s, %s): attempt %lld failed: %s; "
                        "next attempt in %lld s", (long long) d->webhook_id, d->event_id, d->type, d->repository,
                        (long long) d->attempts + 1, error, (long long) (o.next_attempt - now));
                break;
        case WEBHOOK_GAVEUP:
                atomic_fetch_add_explicit(&w->gaveup, 1, memory_order_relaxed);
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "webhook %lld event %s (%s, %s): given up after %lld "
                        "attempts over %lld s: %s", (long long) d->webhook_id, d->event_id, d->type,
                        d->repository, (long long) d->attempts + 1, (long long) (now - d->created), error);
                break;
        }
}

/* ---- the senders ---- */

/* Waits for a kick, the stop, or a second. seen: the kicks this sender saw. */
static void wait_kick(webhooks_t *w, uint64_t *seen) {
        struct timespec until;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&w->lock);
        while (w->kicks == *seen && !atomic_load(&w->stopping))
                if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
                        break;
        *seen = w->kicks;
        pthread_mutex_unlock(&w->lock);
}

static void *sender(void *arg) {
        webhooks_t *w = arg;
        uint64_t seen = 0;
        uint32_t rnd = 0;
        int last_err = 0;

        if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                rnd = (uint32_t) (uintptr_t) &rnd ^ (uint32_t) time(NULL);
        while (!atomic_load(&w->stopping)) {
                webhook_delivery_t d = { 0 };
                db_conn_t *c = NULL;
                int64_t now;
                int r;

                pulls_maybe_flush(w);
                r = db_conn_get(w->o.db, &c);
                if (r == 0) {
                        now = now_of(w);
                        r = webhook_claim(c, now, now + WEBHOOKS_LEASE, &d);
                        db_conn_put(w->o.db, c);
                }
                if (r > 0) {
                        rnd = rnd * 1664525u + 1013904223u; /* enough for jitter */
                        deliver(w, &d, rnd >> 8);
                        webhook_delivery_done(&d);
                        last_err = 0;
                        continue;
                }
                if (r < 0 && r != last_err) /* once per kind of failure, not every second */
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "webhooks: reading the queue: %s%s%s", berth_strerror(r),
                                db_last_error()[0] ? ": " : "", db_last_error());
                last_err = r < 0 ? r : 0;
                wait_kick(w, &seen);
        }
        return NULL;
}

int webhooks_start(const webhooks_options_t *o, webhooks_t **ret) {
        pthread_condattr_t ca;
        webhooks_t *w;
        db_conn_t *c = NULL;
        int r;

        if (!o || !o->db || !ret)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->o = *o;
        if (!w->o.pull_interval)
                w->o.pull_interval = 10;
        w->data_dir = o->data_dir ? strdup(o->data_dir) : NULL;
        if (o->data_dir && !w->data_dir) {
                free(w);
                return -ENOMEM;
        }
        pthread_mutex_init(&w->lock, NULL);
        pthread_mutex_init(&w->pull_lock, NULL);
        pthread_mutex_init(&w->key_lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        atomic_store(&w->next_flush, now_of(w) + (int64_t) w->o.pull_interval);

        r = db_conn_get(o->db, &c);
        if (r == 0) {
                int any = webhook_any(c, WEBHOOK_PULL);
                atomic_store(&w->pulls_wanted, any > 0);
                /* alone on the database: a claim now is one a killed process left */
                if (!db_shared(o->db))
                        r = webhook_claims_reset(c);
                db_conn_put(o->db, c);
        }
        if (r < 0) {
                webhooks_stop(w);
                return r;
        }
        for (size_t i = 0; i < WEBHOOKS_SENDERS; i++) {
                r = -pthread_create(&w->threads[i], NULL, sender, w);
                if (r < 0) {
                        webhooks_stop(w);
                        return r;
                }
                w->n_threads++;
        }
        *ret = w;
        return 0;
}

void webhooks_kick(webhooks_t *w) {
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->kicks++;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

void webhooks_stop(webhooks_t *w) {
        if (!w)
                return;
        if (w->n_threads > 0)
                pulls_flush(w); /* the last interval's counts */
        atomic_store(&w->stopping, true);
        webhooks_kick(w);
        for (size_t i = 0; i < w->n_threads; i++)
                pthread_join(w->threads[i], NULL);
        pulls_free(w->pulls);
        secretbox_free(w->box);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        pthread_mutex_destroy(&w->pull_lock);
        pthread_mutex_destroy(&w->key_lock);
        free(w->data_dir);
        free(w);
}

void webhooks_stats(const webhooks_t *w, webhooks_stats_t *ret) {
        if (!ret)
                return;
        *ret = (webhooks_stats_t){ 0 };
        if (!w)
                return;
        ret->success = atomic_load_explicit(&w->success, memory_order_relaxed);
        ret->failure = atomic_load_explicit(&w->failure, memory_order_relaxed);
        ret->gaveup = atomic_load_explicit(&w->gaveup, memory_order_relaxed);
        ret->pulls_dropped = atomic_load_explicit(&w->pulls_dropped, memory_order_relaxed);
}
