/* storage/db.c: the engine-independent half of the metadata layer: the connection
 * pool, the per-connection statement cache, transactions with a sticky error and
 * the migration driver. The engine (storage/db-sqlite.c) does the talking. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/db-internal.h"

#define STMT_SLOTS 512 /* statement cache per connection: open addressing on the SQL's address; at most
                        * 3/4 used, and one thread runs every SQL of berth over a life: the
                        * registry, auth, the management API, retention, GC (about 250 today) */

struct db_stmt {
        db_conn_t *conn;
        const char *sql;
        void *h;
};

struct db_conn {
        const db_engine_t *eng;
        void *h;
        db_stmt_t stmts[STMT_SLOTS];
        size_t n_stmts;
        bool in_tx;
        int tx_err;        /* sticky: the first failure inside the transaction */
        db_conn_t *next;   /* pool */
        db_t *owner;       /* the db_t it was opened on */
        uint64_t tx_start; /* CLOCK_MONOTONIC ns at db_tx_begin */
        bool lent;         /* a thread's own connection, handed out by db_conn_get */
        char **pending;    /* db_notify payloads of the running transaction */
        size_t n_pending, cap_pending;
        int64_t data_version; /* SQLite: the last PRAGMA data_version seen */
        bool dv_seen;
};

/* The calling thread's own connection (db_conn_bind_thread): one per thread. */
static __thread db_conn_t *thread_conn;

/* Counters for the metrics (db_stats): relaxed atomics, no lock. */
struct db_counters {
        _Atomic uint64_t commits, rollbacks, busy, down, reopened, tx_ns;
        _Atomic uint64_t tx_bucket[DB_TX_BUCKETS + 1];
};

const double db_tx_bucket_le[DB_TX_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5 };

struct db {
        const db_engine_t *eng;
        struct db_counters n;
        char *target;
        char *password;
        pthread_mutex_t pool_lock;
        db_conn_t *pool;
        /* notifications: subscribers, the cache epoch, the LISTEN thread */
        pthread_rwlock_t sub_lock;
        struct {
                db_notify_fn fn;
                void *userdata;
        } subs[DB_SUBSCRIBERS];
        char nonce[17]; /* this db_t's mark on its payloads: its own come back to it */
        _Atomic uint64_t epoch;
        atomic_bool listening;
        bool listener_started;
        _Atomic bool listener_stop;
        int wake[2];
        pthread_t listener;
        /* the writer's wait for its own notifications to come back (db_tx_commit) */
        _Atomic uint64_t echo_sent;
        uint64_t echo_heard;
        pthread_mutex_t echo_lock;
        pthread_cond_t echo_cond;
        pthread_mutex_t slot_lock;
        void *slots[_DB_SLOT_MAX];
        void (*slot_free[_DB_SLOT_MAX])(void *);
};

/* Epochs are unique in the process (across db_t's): an entry stamped on one
 * database never matches another's. */
static _Atomic uint64_t epoch_source = 1;

static void epoch_bump(db_t *db) {
        atomic_store(&db->epoch, atomic_fetch_add(&epoch_source, 1) + 1);
}

/* The engine's words for the calling thread's last failure. */
static __thread char last_error[256];

void db__set_error(const char *msg) {
        size_t n;

        (void) snprintf(last_error, sizeof(last_error), "%s", msg ? msg : "");
        n = strlen(last_error); /* libpq ends its messages with a newline */
        while (n > 0 && (last_error[n - 1] == '\n' || last_error[n - 1] == ' '))
                last_error[--n] = '\0';
}

const char *db_last_error(void) {
        return last_error;
}

/* Step 2 of every engine's sequence: the install key, from which robot-secret MACs
 * and the Bearer token key derive. */
int db__post_auth_state(db_conn_t *c) {
        static const char sql[] = "INSERT INTO auth_state(id, token_key) VALUES (1, ?1)";
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        uint8_t key[32];
        int r;

        /* the install key: robot-secret MACs and the Bearer token key derive from it */
        if (getrandom(key, sizeof(key), 0) != (ssize_t) sizeof(key))
                return -errno ? -errno : -EIO;
        r = db_stmt(c, sql, &st);
        if (r == 0 && (r = db_bind_blob(st, 1, key, sizeof(key))) == 0)
                r = db_step_done(st);
        explicit_bzero(key, sizeof(key));
        return r;
}

void *db__conn_handle(db_conn_t *c) {
        return c->h;
}

int db_schema_latest(void) {
        return (int) db_engine_sqlite.n_migrations;
}

/* ---- connections ---- */

static void pending_clear(db_conn_t *c) {
        for (size_t i = 0; i < c->n_pending; i++)
                free(c->pending[i]);
        c->n_pending = 0;
}

db_conn_t *db_conn_close(db_conn_t *c) {
        if (!c)
                return NULL;
        if (thread_conn == c)
                thread_conn = NULL;
        for (size_t i = 0; i < STMT_SLOTS; i++)
                if (c->stmts[i].h)
                        c->eng->finalize(c->stmts[i].h);
        c->eng->close(c->h);
        pending_clear(c);
        free(c->pending);
        free(c);
        return NULL;
}

static int conn_new(db_t *db, db_conn_t **ret) {
        db_conn_t *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        c->eng = db->eng;
        c->owner = db;
        r = db->eng->open(db->target, db->password, &c->h);
        if (r < 0) {
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static void count_error(db_t *db, int r) {
        if (r == BERTH_EBUSY)
                atomic_fetch_add_explicit(&db->n.busy, 1, memory_order_relaxed);
        else if (r == BERTH_EDBDOWN)
                atomic_fetch_add_explicit(&db->n.down, 1, memory_order_relaxed);
}

/* A connection whose engine lost its server (PostgreSQL restarted, network): its
 * prepared statements went with the session. Reopened in place, statement cache
 * emptied; BERTH_EDBDOWN while the server does not answer (the caller's request
 * fails cleanly, 503, and the next one tries again). */
static int conn_revive(db_conn_t *c) {
        void *h = NULL;
        int r;

        if (!c->eng->broken(c->h))
                return 0;
        for (size_t i = 0; i < STMT_SLOTS; i++)
                if (c->stmts[i].h)
                        c->eng->finalize(c->stmts[i].h);
        memset(c->stmts, 0, sizeof(c->stmts));
        c->n_stmts = 0;
        c->in_tx = false;
        c->tx_err = 0;
        pending_clear(c);
        c->dv_seen = false;
        r = c->eng->open(c->owner->target, c->owner->password, &h);
        if (r < 0) {
                count_error(c->owner, r);
                return r;
        }
        c->eng->close(c->h);
        c->h = h;
        atomic_fetch_add_explicit(&c->owner->n.reopened, 1, memory_order_relaxed);
        return 0;
}

int db_conn_open(db_t *db, db_conn_t **ret) {
        if (!db || !ret)
                return -EINVAL;
        return conn_new(db, ret);
}

void db_conn_bind_thread(db_conn_t *c) {
        if (thread_conn)
                thread_conn->lent = false;
        thread_conn = c;
}

db_conn_t *db_conn_thread(void) {
        return thread_conn;
}

int db_conn_get(db_t *db, db_conn_t **ret) {
        db_conn_t *c;

        if (!db || !ret)
                return -EINVAL;
        c = thread_conn;
        /* the thread's own, unless a caller up the stack has it or is inside a
         * transaction on it (a write of ours must not join or end theirs) */
        if (c && c->owner == db && !c->lent && !c->in_tx && !c->eng->in_tx(c->h)) {
                int r = conn_revive(c);
                if (r < 0)
                        return r;
                c->lent = true;
                *ret = c;
                return 0;
        }
        pthread_mutex_lock(&db->pool_lock);
        c = db->pool;
        if (c)
                db->pool = c->next;
        pthread_mutex_unlock(&db->pool_lock);
        if (c) {
                int r = conn_revive(c);
                if (r < 0) {
                        db_conn_close(c);
                        return r;
                }
                c->next = NULL;
                *ret = c;
                return 0;
        }
        return db_conn_open(db, ret);
}

void db_conn_put(db_t *db, db_conn_t *c) {
        if (!c)
                return;
        if (c->in_tx || c->eng->in_tx(c->h)) /* a caller forgot its transaction */
                db_tx_rollback(c);
        if (c->lent) { /* a thread's own: stays with its thread */
                c->lent = false;
                return;
        }
        if (c->eng->broken(c->h)) { /* not worth keeping: the next get opens anew */
                db_conn_close(c);
                return;
        }
        pthread_mutex_lock(&db->pool_lock);
        c->next = db->pool;
        db->pool = c;
        pthread_mutex_unlock(&db->pool_lock);
}

/* ---- statements ---- */

static size_t slot_of(const char *sql) {
        uintptr_t p = (uintptr_t) sql;
        p ^= p >> 17;
        p *= UINT64_C(0x9e3779b97f4a7c15);
        return (size_t) (p >> 40) % STMT_SLOTS;
}

int db_stmt(db_conn_t *c, const char *sql, db_stmt_t **ret) {
        size_t i;
        void *h;
        int r;

        if (!c || !sql || !ret)
                return -EINVAL;
        for (i = slot_of(sql);; i = (i + 1) % STMT_SLOTS) {
                if (c->stmts[i].sql == sql) {
                        /* reset again: a caller that returned early with a row
                         * pending must not leave a read open or values bound */
                        c->eng->reset(c->stmts[i].h);
                        *ret = &c->stmts[i];
                        return 0;
                }
                if (!c->stmts[i].sql)
                        break;
        }
        if (c->n_stmts >= STMT_SLOTS * 3 / 4)
                return -ENOSPC; /* more distinct statements than berth has: a bug */
        r = c->eng->prepare(c->h, sql, &h);
        if (r < 0)
                return r;
        c->stmts[i] = (db_stmt_t){ .conn = c, .sql = sql, .h = h };
        c->n_stmts++;
        *ret = &c->stmts[i];
        return 0;
}

void db_stmt_reset(db_stmt_t *st) {
        if (st)
                st->conn->eng->reset(st->h);
}

/* In a failed transaction every operation is a no-op returning the first error;
 * a failure inside a transaction becomes its sticky error. */
static int sticky(db_conn_t *c) {
        return c->in_tx ? c->tx_err : 0;
}

static int note(db_conn_t *c, int r) {
        if (r < 0 && c->in_tx && c->tx_err == 0)
                c->tx_err = r;
        if (r < 0)
                count_error(c->owner, r);
        return r;
}

static uint64_t mono_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* A transaction ended (committed or rolled back): its time from db_tx_begin. */
static void count_tx(db_conn_t *c, bool committed) {
        struct db_counters *n = &c->owner->n;
        uint64_t ns = mono_ns() - c->tx_start;
        size_t b = 0;

        atomic_fetch_add_explicit(committed ? &n->commits : &n->rollbacks, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&n->tx_ns, ns, memory_order_relaxed);
        while (b < DB_TX_BUCKETS && (double) ns / 1e9 > db_tx_bucket_le[b])
                b++;
        atomic_fetch_add_explicit(&n->tx_bucket[b], 1, memory_order_relaxed);
}

#define STICKY(st)                                          \
        do {                                                \
                int _s_;                                    \
                if (!(st))                                  \
                        return -EINVAL;                     \
                _s_ = sticky((st)->conn);                   \
                if (_s_ < 0)                                \
                        return _s_;                         \
        } while (0)

int db_bind_null(db_stmt_t *st, int i) {
        STICKY(st);
        return note(st->conn, st->conn->eng->bind_null(st->h, i));
}

int db_bind_int(db_stmt_t *st, int i, int64_t v) {
        STICKY(st);
        return note(st->conn, st->conn->eng->bind_int(st->h, i, v));
}

int db_bind_uint(db_stmt_t *st, int i, uint64_t v) {
        STICKY(st);
        if (v > (uint64_t) INT64_MAX)
                return note(st->conn, -EOVERFLOW);
        return note(st->conn, st->conn->eng->bind_int(st->h, i, (int64_t) v));
}

int db_bind_text(db_stmt_t *st, int i, const char *s) {
        STICKY(st);
        if (!s)
                return note(st->conn, st->conn->eng->bind_null(st->h, i));
        return note(st->conn, st->conn->eng->bind_text(st->h, i, s));
}

int db_bind_blob(db_stmt_t *st, int i, const void *p, size_t len) {
        STICKY(st);
        return note(st->conn, st->conn->eng->bind_blob(st->h, i, p, len));
}

int db_stmt_params(db_stmt_t *st) {
        return st ? st->conn->eng->param_count(st->h) : -EINVAL;
}

int db_step(db_stmt_t *st) {
        STICKY(st);
        return note(st->conn, st->conn->eng->step(st->h));
}

int db_step_done(db_stmt_t *st) {
        int r = db_step(st);
        return r > 0 ? note(st->conn, BERTH_EDB) : r; /* a row where none was expected */
}

bool db_col_null(db_stmt_t *st, int col) {
        return st->conn->eng->col_null(st->h, col);
}

int64_t db_col_int(db_stmt_t *st, int col) {
        return st->conn->eng->col_int(st->h, col);
}

const char *db_col_text(db_stmt_t *st, int col) {
        return st->conn->eng->col_text(st->h, col);
}

const void *db_col_blob(db_stmt_t *st, int col, size_t *ret_len) {
        return st->conn->eng->col_blob(st->h, col, ret_len);
}

int db_col_strdup(db_stmt_t *st, int col, char **ret) {
        const char *s = db_col_text(st, col);

        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int64_t db_changes(db_conn_t *c) {
        return c->eng->changes(c->h);
}

/* ---- notifications ---- */

#define ECHO_WAIT_MS 100 /* how long a writer waits for its notifications to go out */

/* PostgreSQL: after a commit that notified, until this process's own LISTEN
 * connection has the transaction's echo mark (the last of its notifications): the
 * server has then signalled every listening session, so the other replicas hear
 * of the change about when the writer answers its client, not later. Bounded;
 * not waited for while the LISTEN connection is down (a CLI command has none). */
static void echo_wait(db_t *db, uint64_t seq) {
        struct timespec until;

        if (!atomic_load(&db->listening))
                return;
        (void) clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long) ECHO_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&db->echo_lock);
        while (db->echo_heard < seq && atomic_load(&db->listening))
                if (pthread_cond_timedwait(&db->echo_cond, &db->echo_lock, &until) != 0)
                        break;
        pthread_mutex_unlock(&db->echo_lock);
}

/* One notification per transaction (more when its names pass PAYLOAD_MAX): the
 * first line "<nonce> <seq>", the writer's mark (seq > 0 on the last one: the
 * writer waits for it, echo_wait), then one line "<kind> <key>" per name. */
#define PAYLOAD_MAX 7000 /* PostgreSQL takes up to 8000 bytes */

static void deliver_one(db_t *db, const char *line, size_t len) {
        char buf[12 + 1 + DB_NOTIFY_KEY_MAX + 1], *end;
        long kind;

        if (len >= sizeof(buf))
                return;
        memcpy(buf, line, len);
        buf[len] = '\0';
        kind = strtol(buf, &end, 10);
        if (end == buf || (*end != ' ' && *end != '\0'))
                return;
        pthread_rwlock_rdlock(&db->sub_lock);
        for (size_t i = 0; i < DB_SUBSCRIBERS; i++)
                if (db->subs[i].fn)
                        db->subs[i].fn((db_notify_kind_t) kind, *end ? end + 1 : "", db->subs[i].userdata);
        pthread_rwlock_unlock(&db->sub_lock);
}

/* From the LISTEN connection. Our own were delivered at commit: only their mark
 * counts, which tells the writer the server has sent its notifications out. */
static void deliver_remote(const char *payload, void *ud) {
        db_t *db = ud;
        const char *nl = strchr(payload, '\n');

        if (strncmp(payload, db->nonce, sizeof(db->nonce) - 1) == 0 && payload[sizeof(db->nonce) - 1] == ' ') {
                uint64_t seq = strtoull(payload + sizeof(db->nonce), NULL, 10);
                pthread_mutex_lock(&db->echo_lock);
                if (seq > db->echo_heard)
                        db->echo_heard = seq;
                pthread_cond_broadcast(&db->echo_cond);
                pthread_mutex_unlock(&db->echo_lock);
                return;
        }
        while (nl) {
                const char *line = nl + 1;
                nl = strchr(line, '\n');
                deliver_one(db, line, nl ? (size_t) (nl - line) : strlen(line));
        }
}

/* Sends the transaction's names (PostgreSQL), in it: 0 and *ret_seq (the mark to
 * wait for), or <0. */
static int send_pending(db_conn_t *c, uint64_t *ret_seq) {
        db_t *db = c->owner;
        char buf[PAYLOAD_MAX + 12 + DB_NOTIFY_KEY_MAX + 64];
        size_t len = 0;
        int r = 0;

        *ret_seq = atomic_fetch_add(&db->echo_sent, 1) + 1;
        for (size_t i = 0; r == 0 && i < c->n_pending; i++) {
                if (len == 0) /* a new payload: the mark (the writer's seq on the last) */
                        len = (size_t) snprintf(buf, sizeof(buf), "%s %" PRIu64, db->nonce, (uint64_t) 0);
                len += (size_t) snprintf(buf + len, sizeof(buf) - len, "\n%s", c->pending[i]);
                if (i + 1 < c->n_pending && len + 1 + strlen(c->pending[i + 1]) <= PAYLOAD_MAX)
                        continue;
                if (i + 1 == c->n_pending) { /* the last: rewrite its mark with the seq */
                        char tail[sizeof(buf)];
                        const char *names = strchr(buf, '\n');
                        snprintf(tail, sizeof(tail), "%s %" PRIu64 "%s", db->nonce, *ret_seq, names);
                        memcpy(buf, tail, strlen(tail) + 1);
                }
                r = c->eng->notify(c->h, buf);
                len = 0;
        }
        return r;
}

int db_notify(db_conn_t *c, db_notify_kind_t kind, const char *key) {
        char buf[12 + 1 + DB_NOTIFY_KEY_MAX + 1];
        char *p;
        int n, r;

        if (!c || !c->in_tx)
                return -EINVAL;
        if ((r = sticky(c)) < 0)
                return r;
        if (!key)
                key = "";
        if (strlen(key) > DB_NOTIFY_KEY_MAX || strchr(key, '\n'))
                return note(c, -EINVAL);
        n = snprintf(buf, sizeof(buf), "%d %s", (int) kind, key);
        if (n < 0 || (size_t) n >= sizeof(buf))
                return note(c, -EINVAL);
        for (size_t i = 0; i < c->n_pending; i++)
                if (strcmp(c->pending[i], buf) == 0)
                        return 0;
        if (c->n_pending == c->cap_pending) {
                size_t cap = c->cap_pending ? c->cap_pending * 2 : 4;
                char **v = reallocarray(c->pending, cap, sizeof(*v));
                if (!v)
                        return note(c, -ENOMEM);
                c->pending = v;
                c->cap_pending = cap;
        }
        if (!(p = strdup(buf)))
                return note(c, -ENOMEM);
        c->pending[c->n_pending++] = p;
        return 0;
}

/* PostgreSQL: the process's LISTEN connection. While it is down, the epoch is 0
 * (caches bypassed); it moves on when the connection is lost and when it is back. */
static void *listener_main(void *ud) {
        db_t *db = ud;
        unsigned backoff_ms = 100;

        while (!atomic_load(&db->listener_stop)) {
                void *h = NULL;
                int r = db->eng->listen_open(db->target, db->password, &h);

                if (r < 0) {
                        struct pollfd p = { .fd = db->wake[0], .events = POLLIN };
                        (void) poll(&p, 1, (int) backoff_ms);
                        backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000;
                        continue;
                }
                backoff_ms = 100;
                /* what was filled before now was filled while changes went unheard */
                epoch_bump(db);
                atomic_store(&db->listening, true);
                while (!atomic_load(&db->listener_stop) &&
                       db->eng->listen_wait(h, db->wake[0], deliver_remote, db) >= 0)
                        ;
                atomic_store(&db->listening, false);
                epoch_bump(db);
                pthread_mutex_lock(&db->echo_lock); /* a writer waiting for its echo: no more */
                pthread_cond_broadcast(&db->echo_cond);
                pthread_mutex_unlock(&db->echo_lock);
                db->eng->close(h);
        }
        return NULL;
}

int db_subscribe(db_t *db, db_notify_fn fn, void *userdata) {
        int r = -ENOSPC;

        if (!db || !fn)
                return -EINVAL;
        pthread_rwlock_wrlock(&db->sub_lock);
        for (size_t i = 0; i < DB_SUBSCRIBERS; i++)
                if (!db->subs[i].fn) {
                        db->subs[i].fn = fn;
                        db->subs[i].userdata = userdata;
                        r = 0;
                        break;
                }
        if (r == 0 && db->eng->listen_open && !db->listener_started) {
                if (pipe2(db->wake, O_CLOEXEC | O_NONBLOCK) < 0)
                        r = -errno;
                else if ((r = -pthread_create(&db->listener, NULL, listener_main, db)) < 0) {
                        close(db->wake[0]);
                        close(db->wake[1]);
                } else
                        db->listener_started = true;
        }
        pthread_rwlock_unlock(&db->sub_lock);
        return r;
}

void db_unsubscribe(db_t *db, db_notify_fn fn, void *userdata) {
        if (!db)
                return;
        pthread_rwlock_wrlock(&db->sub_lock);
        for (size_t i = 0; i < DB_SUBSCRIBERS; i++)
                if (db->subs[i].fn == fn && db->subs[i].userdata == userdata) {
                        db->subs[i].fn = NULL;
                        db->subs[i].userdata = NULL;
                }
        pthread_rwlock_unlock(&db->sub_lock);
}

uint64_t db_cache_epoch(db_t *db, db_conn_t *c) {
        if (!db)
                return 0;
        if (c && (c->in_tx || c->eng->in_tx(c->h)))
                return 0; /* what a transaction reads may not be committed yet */
        if (db->eng->data_version_sql) {
                /* SQLite: another connection committed since this one last looked (a
                 * write of this process, or of another: the admin commands): every
                 * entry may be stale. A connection that never looked cannot tell. */
                db_stmt_t *st = NULL;
                int64_t v;
                if (!c || db_stmt(c, db->eng->data_version_sql, &st) < 0 || db_step(st) != 1)
                        return 0;
                v = db_col_int(st, 0);
                db_stmt_reset(st);
                if (!c->dv_seen || v != c->data_version) {
                        epoch_bump(db);
                        c->data_version = v;
                        c->dv_seen = true;
                }
                return atomic_load(&db->epoch);
        }
        if (!atomic_load(&db->listening))
                return 0;
        return atomic_load(&db->epoch);
}

bool db_notify_listening(db_t *db) {
        return db && (!db->eng->listen_open || atomic_load(&db->listening));
}

void *db_slot(db_t *db, db_slot_t slot, void *(*create)(db_t *), void (*destroy)(void *)) {
        void *p;

        if (!db || slot >= _DB_SLOT_MAX)
                return NULL;
        pthread_mutex_lock(&db->slot_lock);
        p = db->slots[slot];
        if (!p && create && (p = create(db))) {
                db->slots[slot] = p;
                db->slot_free[slot] = destroy;
        }
        pthread_mutex_unlock(&db->slot_lock);
        return p;
}

/* ---- transactions ---- */

int db_tx_begin(db_conn_t *c) {
        int r;

        if (!c || c->in_tx)
                return -EINVAL;
        c->tx_start = mono_ns(); /* the wait for the write lock counts */
        r = c->eng->begin(c->h);
        if (r < 0) {
                count_error(c->owner, r);
                return r;
        }
        c->in_tx = true;
        c->tx_err = 0;
        return 0;
}

void db_tx_rollback(db_conn_t *c) {
        if (!c)
                return;
        if (c->eng->in_tx(c->h))
                (void) c->eng->rollback(c->h);
        if (c->in_tx)
                count_tx(c, false);
        c->in_tx = false;
        c->tx_err = 0;
        pending_clear(c); /* a change that did not happen tells nobody */
}

int db_tx_commit(db_conn_t *c) {
        uint64_t echo = 0;
        int r;

        if (!c || !c->in_tx)
                return -EINVAL;
        r = c->tx_err; /* counted when it happened */
        /* PostgreSQL: the notification goes in the transaction, sent at its commit */
        if (r == 0 && c->eng->notify && c->n_pending > 0)
                r = note(c, send_pending(c, &echo));
        if (r == 0 && (r = c->eng->commit(c->h)) < 0)
                count_error(c->owner, r);
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        count_tx(c, true);
        c->in_tx = false;
        /* this process's subscribers hear of it now, before the caller answers */
        for (size_t i = 0; i < c->n_pending; i++)
                deliver_one(c->owner, c->pending[i], strlen(c->pending[i]));
        pending_clear(c);
        if (echo)
                echo_wait(c->owner, echo);
        return 0;
}

bool db_tx_active(db_conn_t *c) {
        return c && c->in_tx;
}

int db_tx_fail(db_conn_t *c, int err) {
        return note(c, err);
}

int db_tx_error(db_conn_t *c) {
        return c ? sticky(c) : 0;
}

int db_tx_run(db_conn_t *c, int (*fn)(db_conn_t *c, void *arg), void *arg) {
        int r, k;

        if (!c || !fn)
                return -EINVAL;
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        r = fn(c, arg);
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        k = db_tx_commit(c);
        return k < 0 ? k : r;
}

int db_explain(db_conn_t *c, const char *sql, int (*line)(const char *, void *), void *userdata) {
        if (!c || !sql || !line)
                return -EINVAL;
        return c->eng->explain(c->h, sql, line, userdata);
}

/* ---- open and migrations ---- */

/* The oldest release (by the newest step it knows) that can use the database as
 * it is: the last contract step applied. Engines that keep no such mark: the
 * version itself (a newer schema is refused). */
static int compat_of(const db_engine_t *e, void *h, int v, int *ret) {
        *ret = v;
        return e->compat_get && v > 0 ? e->compat_get(h, ret) : 0;
}

/* A database a newer release migrated (a rolling update under way): ours to use
 * when every step past the newest we know was an expand step. */
static int newer_usable(const db_engine_t *e, void *h, int v) {
        int compat, r = compat_of(e, h, v, &compat);

        if (r < 0)
                return r;
        return compat <= (int) e->n_migrations ? 0 : BERTH_EUNSUPPORTED;
}

/* Each migration in a write transaction of its own, the version read again under
 * the lock: two processes opening a new database at once apply each step once. */
static int migrate(db_conn_t *c) {
        const db_engine_t *e = c->eng;
        const int latest = (int) e->n_migrations;
        int v = 0, compat = 0, r;

        /* Up to date (the usual open: every thread's first one): no write lock.
         * No layout of an older release reads as the newest version. */
        r = e->version_get(c->h, &v);
        if (r < 0)
                return r;
        if (v == latest)
                return 0;
        if (v > latest)
                return newer_usable(e, c->h, v);
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        r = e->version_get(c->h, &v);
        if (r == 0 && e->adopt)
                r = e->adopt(c, c->h, &v);
        if (r == 0 && v > latest) {
                r = newer_usable(e, c->h, v); /* migrated meanwhile by a newer replica */
                db_tx_rollback(c);
                return r;
        }
        if (r == 0)
                r = compat_of(e, c->h, v, &compat);
        if (r == 0)
                r = e->version_set(c->h, v, compat);
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        r = db_tx_commit(c);
        if (r < 0)
                return r;
        for (int target = v + 1; target <= latest; target++) {
                const db_migration_t *m = &e->migrations[target - 1];

                r = db_tx_begin(c);
                if (r < 0)
                        return r;
                r = e->version_get(c->h, &v);
                if (r == 0 && v < target && e->migration_setup)
                        r = e->exec(c->h, e->migration_setup);
                if (r == 0 && v < target) {
                        r = compat_of(e, c->h, v, &compat);
                        if (r == 0)
                                r = e->exec(c->h, m->sql);
                        if (r == 0 && m->post)
                                r = m->post(c);
                        if (r == 0)
                                r = e->version_set(c->h, target, m->contract ? target : compat);
                }
                if (r < 0) {
                        db_tx_rollback(c);
                        return r;
                }
                r = db_tx_commit(c);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool db_target_is_pg(const char *target) {
        return target && (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0);
}

int db_open(const char *target, db_t **ret) {
        return db_open_opts(target, NULL, ret);
}

int db_open_opts(const char *target, const db_options_t *opt, db_t **ret) {
        db_t *db;
        db_conn_t *c = NULL;
        int r;

        if (!target || !ret)
                return -EINVAL;
        db = calloc(1, sizeof(*db));
        if (!db)
                return -ENOMEM;
        db->eng = db_target_is_pg(target) ? &db_engine_pg : &db_engine_sqlite;
        pthread_mutex_init(&db->pool_lock, NULL);
        pthread_rwlock_init(&db->sub_lock, NULL);
        pthread_mutex_init(&db->slot_lock, NULL);
        pthread_mutex_init(&db->echo_lock, NULL);
        {
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&db->echo_cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        db->wake[0] = db->wake[1] = -1;
        epoch_bump(db);
        {
                uint8_t n[8];
                if (getrandom(n, sizeof(n), 0) != (ssize_t) sizeof(n)) {
                        r = -EIO;
                        goto fail;
                }
                for (size_t i = 0; i < sizeof(n); i++)
                        snprintf(db->nonce + 2 * i, 3, "%02x", n[i]);
        }
        db->target = strdup(target);
        if (!db->target) {
                r = -ENOMEM;
                goto fail;
        }
        if (opt && opt->password && !(db->password = strdup(opt->password))) {
                r = -ENOMEM;
                goto fail;
        }
        r = conn_new(db, &c);
        if (r < 0)
                goto fail;
        r = migrate(c);
        if (r < 0)
                goto fail;
        db_conn_put(db, c);
        *ret = db;
        return 0;
fail:
        db_conn_close(c);
        db_free(db);
        return r;
}

db_t *db_free(db_t *db) {
        if (!db)
                return NULL;
        if (db->listener_started) {
                atomic_store(&db->listener_stop, true);
                (void) !write(db->wake[1], "x", 1);
                pthread_join(db->listener, NULL);
                close(db->wake[0]);
                close(db->wake[1]);
        }
        for (size_t i = 0; i < _DB_SLOT_MAX; i++)
                if (db->slots[i] && db->slot_free[i])
                        db->slot_free[i](db->slots[i]);
        pthread_rwlock_destroy(&db->sub_lock);
        pthread_mutex_destroy(&db->slot_lock);
        pthread_mutex_destroy(&db->echo_lock);
        pthread_cond_destroy(&db->echo_cond);
        while (db->pool) {
                db_conn_t *c = db->pool;
                db->pool = c->next;
                db_conn_close(c);
        }
        pthread_mutex_destroy(&db->pool_lock);
        if (db->password)
                explicit_bzero(db->password, strlen(db->password));
        free(db->password);
        free(db->target);
        free(db);
        return NULL;
}

int db_schema_version(db_t *db) {
        db_conn_t *c = NULL;
        int v = 0, r;

        if (!db)
                return -EINVAL;
        r = db_conn_get(db, &c);
        if (r < 0)
                return r;
        r = db->eng->version_get(c->h, &v);
        db_conn_put(db, c);
        return r < 0 ? r : v;
}

const char *db_engine_name(db_t *db) {
        return db ? db->eng->name : NULL;
}

bool db_shared(db_t *db) {
        return db && db->eng->shared;
}

int db_ping(db_t *db) {
        db_conn_t *c = NULL;
        int r;

        if (!db)
                return -EINVAL;
        r = db_conn_get(db, &c);
        if (r < 0)
                return r;
        r = db->eng->exec(c->h, "SELECT 1");
        db_conn_put(db, c);
        return r;
}

int db_sync_keys(db_conn_t *c) {
        int r;

        if (!c)
                return -EINVAL;
        if ((r = sticky(c)) < 0)
                return r;
        return c->eng->sync_keys ? note(c, c->eng->sync_keys(c->h)) : 0;
}

/* ---- one process at a time ---- */

/* The key space of the locks: berth's own, apart from any other application's
 * advisory locks on a shared PostgreSQL ("brth" in the high half). */
#define LOCK_KEY(id) ((INT64_C(0x62727468) << 32) | (int64_t) (id))

int db_lock_try(db_conn_t *c, db_lock_id_t id) {
        if (!c)
                return -EINVAL;
        return c->eng->lock_try(c->h, LOCK_KEY(id));
}

int db_writers_waiting(db_conn_t *c) {
        if (!c)
                return -EINVAL;
        if (!c->eng->writers_waiting)
                return -EOPNOTSUPP;
        return c->eng->writers_waiting(c->h);
}

int db_lock_wait(db_conn_t *c, db_lock_id_t id, uint64_t wait_s) {
        for (uint64_t waited = 0;; waited++) {
                int r = db_lock_try(c, id);
                if (r != 0)
                        return r < 0 ? r : 0;
                if (waited >= wait_s)
                        return BERTH_EBUSY;
                (void) sleep(1);
        }
}

void db_unlock(db_conn_t *c, db_lock_id_t id) {
        if (c)
                c->eng->unlock(c->h, LOCK_KEY(id));
}

void db_stats(db_t *db, db_stats_t *ret) {
        memset(ret, 0, sizeof(*ret));
        if (!db)
                return;
        ret->commits = atomic_load_explicit(&db->n.commits, memory_order_relaxed);
        ret->rollbacks = atomic_load_explicit(&db->n.rollbacks, memory_order_relaxed);
        ret->busy = atomic_load_explicit(&db->n.busy, memory_order_relaxed);
        ret->down = atomic_load_explicit(&db->n.down, memory_order_relaxed);
        ret->reopened = atomic_load_explicit(&db->n.reopened, memory_order_relaxed);
        ret->tx_seconds = (double) atomic_load_explicit(&db->n.tx_ns, memory_order_relaxed) / 1e9;
        for (size_t b = 0; b <= DB_TX_BUCKETS; b++)
                ret->tx_bucket[b] = atomic_load_explicit(&db->n.tx_bucket[b], memory_order_relaxed);
}
