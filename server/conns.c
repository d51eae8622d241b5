/* server/conns.c: which connections berthd keeps.
 *
 * Per peer address, at most per_addr_max connections: the accept policy refuses one
 * more from an address at its limit, and the count taken when libmicrohttpd starts
 * the connection is exact (a connection that slipped past the policy in a race is
 * shut at once). Trusted proxies carry many clients and are not counted.
 *
 * A connection must deliver a complete request head (the TLS handshake included)
 * within header_timeout of its start, and the next one within header_timeout of the
 * previous answer. libmicrohttpd's own timeout only measures inactivity, which a
 * client sending a byte every few seconds never reaches; a reaper thread checks the
 * deadlines twice a second and shuts the late sockets down (shutdown(), never
 * close(): libmicrohttpd sees the end of the stream on its own thread and closes the
 * connection there). The registry lock is also taken when a connection ends, before
 * libmicrohttpd closes its descriptor, so the reaper never touches a descriptor that
 * was reused. Once the head is in, the connection's inactivity timeout becomes
 * body_timeout (set by the caller). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/resource.h>
#include "common/err.h"
#include "common/log.h"
#include "server/conns.h"

#define BUCKETS 1024      /* per-address counts; chains stay short */
#define REAP_EVERY_MS 500
#define REPORT_EVERY_MS 10000

typedef struct addr_count {
        proxy_addr_t addr;
        unsigned n;
        struct addr_count *next;
} addr_count_t;

struct conn {
        conn_t *prev, *next;         /* the registry's list, under its lock */
        int fd;
        bool has_peer, shut;         /* shut: shutdown() done (lock) */
        proxy_addr_t peer;
        addr_count_t *slot;          /* counted here; NULL when not counted */
        _Atomic int64_t deadline_ms; /* the head is due by then; 0: none */
};

struct conns {
        conns_options_t o;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t reaper;
        bool reaper_started, stop;
        conn_t *head;
        uint64_t seed;
        addr_count_t *buckets[BUCKETS];
        /* for the periodic report (lock) */
        uint64_t refused, reaped;
        char last_refused[PROXY_ADDR_STRLEN];
        /* since the start, for metrics */
        atomic_uint_fast64_t refused_total, open;
};

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned bucket_of(const conns_t *cs, const proxy_addr_t *a) {
        uint64_t h = 1469598103934665603ULL ^ cs->seed;
        h = (h ^ a->family) * 1099511628211ULL;
        for (size_t i = 0; i < sizeof(a->bytes); i++)
                h = (h ^ a->bytes[i]) * 1099511628211ULL;
        h ^= h >> 29;
        return (unsigned) (h % BUCKETS);
}

static addr_count_t *count_find(conns_t *cs, const proxy_addr_t *a) {
        for (addr_count_t *e = cs->buckets[bucket_of(cs, a)]; e; e = e->next)
                if (proxy_addr_equal(&e->addr, a))
                        return e;
        return NULL;
}

static addr_count_t *count_get(conns_t *cs, const proxy_addr_t *a) {
        addr_count_t *e = count_find(cs, a);
        unsigned b;

        if (e)
                return e;
        e = calloc(1, sizeof(*e));
        if (!e)
                return NULL;
        b = bucket_of(cs, a);
        e->addr = *a;
        e->next = cs->buckets[b];
        cs->buckets[b] = e;
        return e;
}

static void count_put(conns_t *cs, addr_count_t *e) {
        addr_count_t **pp;

        if (--e->n > 0)
                return;
        for (pp = &cs->buckets[bucket_of(cs, &e->addr)]; *pp; pp = &(*pp)->next)
                if (*pp == e) {
                        *pp = e->next;
                        free(e);
                        return;
                }
}

/* Is this peer held to the per-address limit? */
static bool counted(const conns_t *cs, const proxy_addr_t *a) {
        return cs->o.per_addr_max > 0 && !proxy_cidrs_match(cs->o.trusted, a);
}

static void note_refused(conns_t *cs, const proxy_addr_t *a) {
        cs->refused++;
        atomic_fetch_add_explicit(&cs->refused_total, 1, memory_order_relaxed);
        proxy_addr_format(a, cs->last_refused, sizeof(cs->last_refused));
}

enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
        conns_t *cs = cls;
        proxy_addr_t a;
        addr_count_t *e;
        bool full;

        (void) addrlen;
        if (proxy_addr_from_sockaddr(addr, &a) < 0 || !counted(cs, &a))
                return MHD_YES;
        pthread_mutex_lock(&cs->lock);
        e = count_find(cs, &a);
        full = e && e->n >= cs->o.per_addr_max;
        if (full)
                note_refused(cs, &a);
        pthread_mutex_unlock(&cs->lock);
        return full ? MHD_NO : MHD_YES;
}

static void conn_started(conns_t *cs, struct MHD_Connection *c, void **socket_context) {
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        conn_t *conn;
        bool over = false;

        *socket_context = NULL;
        if (!fi)
                return;
        conn = calloc(1, sizeof(*conn));
        if (!conn) {
                /* untracked, it would escape every limit: refuse it */
                (void) shutdown(fi->connect_fd, SHUT_RDWR);
                return;
        }
        conn->fd = fi->connect_fd;
        conn->has_peer = ai && proxy_addr_from_sockaddr(ai->client_addr, &conn->peer) == 0;
        atomic_store(&conn->deadline_ms, now_ms() + (int64_t) cs->o.header_timeout * 1000);

        pthread_mutex_lock(&cs->lock);
        atomic_fetch_add_explicit(&cs->open, 1, memory_order_relaxed);
        conn->next = cs->head;
        if (cs->head)
                cs->head->prev = conn;
        cs->head = conn;
        if (conn->has_peer && counted(cs, &conn->peer)) {
                conn->slot = count_get(cs, &conn->peer);
                if (!conn->slot)
                        over = true;
                else if (++conn->slot->n > cs->o.per_addr_max)
                        over = true; /* several threads accepted at once */
        }
        if (over) {
                note_refused(cs, &conn->peer);
                conn->shut = true;
                (void) shutdown(conn->fd, SHUT_RDWR);
        }
        pthread_mutex_unlock(&cs->lock);
        *socket_context = conn;
}

static void conn_closed(conns_t *cs, void **socket_context) {
        conn_t *conn = *socket_context;

        if (!conn)
                return;
        pthread_mutex_lock(&cs->lock);
        if (conn->prev)
                conn->prev->next = conn->next;
        else
                cs->head = conn->next;
        if (conn->next)
                conn->next->prev = conn->prev;
        if (conn->slot)
                count_put(cs, conn->slot);
        pthread_mutex_unlock(&cs->lock);
        atomic_fetch_sub_explicit(&cs->open, 1, memory_order_relaxed);
        free(conn);
        *socket_context = NULL;
}

void conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode code) {
        conns_t *cs = cls;

        if (code == MHD_CONNECTION_NOTIFY_STARTED)
                conn_started(cs, c, socket_context);
        else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
                conn_closed(cs, socket_context);
}

void conns_stats(conns_t *cs, uint64_t *ret_open, uint64_t *ret_refused) {
        *ret_open = cs ? atomic_load(&cs->open) : 0;
        *ret_refused = cs ? atomic_load(&cs->refused_total) : 0;
}

conn_t *conn_of(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

bool conn_peer(const conn_t *conn, proxy_addr_t *ret) {
        if (!conn || !conn->has_peer)
                return false;
        *ret = conn->peer;
        return true;
}

void conn_request_started(conn_t *conn) {
        if (conn)
                atomic_store(&conn->deadline_ms, 0);
}

void conn_request_done(conns_t *cs, conn_t *conn) {
        if (conn && cs)
                atomic_store(&conn->deadline_ms, now_ms() + (int64_t) cs->o.header_timeout * 1000);
}

/* Shut down the connections past their deadline; the lock is held. */
static uint64_t reap(conns_t *cs, int64_t now) {
        uint64_t n = 0;

        for (conn_t *c = cs->head; c; c = c->next) {
                int64_t d = atomic_load(&c->deadline_ms);
                if (d == 0 || now < d || c->shut)
                        continue;
                c->shut = true;
                (void) shutdown(c->fd, SHUT_RDWR);
                n++;
                if (log_max_level >= LOG_DEBUG) {
                        char a[PROXY_ADDR_STRLEN] = "?";
                        if (c->has_peer)
                                proxy_addr_format(&c->peer, a, sizeof(a));
                        log_msg(LOG_DEBUG, LOG_SRC_SERVER, "closing a connection from %s: no complete request within %us",
                                a, cs->o.header_timeout);
                }
        }
        return n;
}

static void *reaper_main(void *arg) {
        conns_t *cs = arg;
        int64_t next_report = now_ms() + REPORT_EVERY_MS;

        pthread_mutex_lock(&cs->lock);
        while (!cs->stop) {
                int64_t now = now_ms();
                struct timespec until;

                cs->reaped += reap(cs, now);
                if (now >= next_report) {
                        uint64_t refused = cs->refused, reaped = cs->reaped;
                        char last[PROXY_ADDR_STRLEN];
                        memcpy(last, cs->last_refused, sizeof(last));
                        cs->refused = cs->reaped = 0;
                        next_report = now + REPORT_EVERY_MS;
                        pthread_mutex_unlock(&cs->lock);
                        /* one line per period, not one per connection: a flood must
                         * not flood the log as well */
                        if (refused)
                                log_msg(LOG_WARNING, LOG_SRC_SERVER,
                                        "refused %" PRIu64 " connections over the per-address limit (%u) in %us, the last from %s",
                                        refused, cs->o.per_addr_max, REPORT_EVERY_MS / 1000, last);
                        if (reaped)
                                log_msg(LOG_NOTICE, LOG_SRC_SERVER,
                                        "closed %" PRIu64 " connections that sent no complete request within %us",
                                        reaped, cs->o.header_timeout);
                        pthread_mutex_lock(&cs->lock);
                        continue;
                }
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += REAP_EVERY_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                (void) pthread_cond_timedwait(&cs->wake, &cs->lock, &until);
        }
        pthread_mutex_unlock(&cs->lock);
        return NULL;
}

int conns_new(const conns_options_t *o, conns_t **ret) {
        conns_t *cs;
        int r;

        if (!o || !ret || o->header_timeout == 0)
                return -EINVAL;
        cs = calloc(1, sizeof(*cs));
        if (!cs)
                return -ENOMEM;
        cs->o = *o;
        if (getrandom(&cs->seed, sizeof(cs->seed), GRND_NONBLOCK) != (ssize_t) sizeof(cs->seed))
                cs->seed = (uint64_t) now_ms() * 0x9e3779b97f4a7c15ULL;
        pthread_mutex_init(&cs->lock, NULL);
        pthread_cond_init(&cs->wake, NULL);
        r = pthread_create(&cs->reaper, NULL, reaper_main, cs);
        if (r != 0) {
                conns_free(cs);
                return -r;
        }
        cs->reaper_started = true;
        *ret = cs;
        return 0;
}

conns_t *conns_free(conns_t *cs) {
        if (!cs)
                return NULL;
        if (cs->reaper_started) {
                pthread_mutex_lock(&cs->lock);
                cs->stop = true;
                pthread_cond_signal(&cs->wake);
                pthread_mutex_unlock(&cs->lock);
                pthread_join(cs->reaper, NULL);
        }
        /* normally empty: every connection ended with the daemon */
        while (cs->head) {
                conn_t *c = cs->head;
                cs->head = c->next;
                free(c);
        }
        for (size_t i = 0; i < BUCKETS; i++)
                while (cs->buckets[i]) {
                        addr_count_t *e = cs->buckets[i];
                        cs->buckets[i] = e->next;
                        free(e);
                }
        pthread_cond_destroy(&cs->wake);
        pthread_mutex_destroy(&cs->lock);
        free(cs);
        return NULL;
}

void conns_mhd_log(void *cls, const char *fmt, va_list ap) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static int64_t window_end;
        static unsigned shown;
        static uint64_t dropped;
        int64_t now = now_ms();
        uint64_t was_dropped = 0;
        char msg[512];
        size_t len;
        bool show;

        (void) cls;
        pthread_mutex_lock(&lock);
        if (now >= window_end) {
                window_end = now + 10000;
                was_dropped = dropped;
                dropped = 0;
                shown = 0;
        }
        show = shown < 20;
        if (show)
                shown++;
        else
                dropped++;
        pthread_mutex_unlock(&lock);
        if (was_dropped)
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "libmicrohttpd: %" PRIu64 " more messages not shown", was_dropped);
        if (!show)
                return;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        len = strlen(msg);
        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
                msg[--len] = '\0';
        log_msg(LOG_WARNING, LOG_SRC_SERVER, "libmicrohttpd: %s", msg);
}

int conns_fit_open_files(unsigned *max_conns, unsigned max_requests, unsigned threads) {
        struct rlimit rl;
        uint64_t reserve, avail, want = *max_conns, fit;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_msg(LOG_WARNING, LOG_SRC_MAIN, "reading the open-file limit: %s", strerror(errno));
                return 0;
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
                rlim_t was = rl.rlim_cur;
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                        log_msg(LOG_WARNING, LOG_SRC_MAIN, "raising the open-file limit from %ju to %ju: %s",
                                (uintmax_t) was, (uintmax_t) rl.rlim_max, strerror(errno));
                        rl.rlim_cur = was;
                } else
                        log_msg(LOG_INFO, LOG_SRC_MAIN, "open-file limit raised from %ju to %ju",
                                (uintmax_t) was, (uintmax_t) rl.rlim_cur);
        }
        if (rl.rlim_cur == RLIM_INFINITY)
                return 0;
        /* each connection is a descriptor; a request in flight may hold a file or
         * two more (one counted here); each thread its database files; some spare */
        reserve = 64 + 4 * (uint64_t) threads;
        if (want + (want < max_requests ? want : max_requests) + reserve <= rl.rlim_cur)
                return 0;
        avail = rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 0;
        fit = avail >= 2 * (uint64_t) max_requests ? avail - max_requests : avail / 2;
        if (fit < 16) {
                log_msg(LOG_ERR, LOG_SRC_MAIN,
                        "the open-file limit (%ju) leaves room for %" PRIu64 " connections: raise it (ulimit -n)",
                        (uintmax_t) rl.rlim_cur, fit);
                return BERTH_ECONFIG;
        }
        log_msg(LOG_WARNING, LOG_SRC_MAIN,
                "the open-file limit (%ju) does not fit %" PRIu64 " connections and %u requests in flight: "
                "at most %" PRIu64 " connections (raise the hard limit, or lower --max-conns)",
                (uintmax_t) rl.rlim_cur, want, max_requests, fit);
        *max_conns = (unsigned) fit;
        return 0;
}
