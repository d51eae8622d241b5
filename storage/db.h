/* storage/db.h: berth's one metadata layer. The registry metadata (storage/meta.c)
 * and the users, projects, tokens and audit trail (auth/) both reach the database
 * through it: one way to open a connection, one busy timeout, one prepared-
 * statement cache per connection, one numbered migration sequence per engine.
 *
 * Engines sit beneath an interface (db_engine_t in storage/db-internal.h): SQLite
 * is built now; a PostgreSQL engine (libpq) fits the same calls. For that reason:
 *   - parameters are positional (?1, ?2 ... in the SQL, numbered from 1 in the binds)
 *     and bound by type; nothing is ever spliced into SQL, on any engine;
 *   - columns are read by type, numbered from 0; a new row's key comes back
 *     with INSERT ... RETURNING (no "last insert id" call);
 *   - every failure is mapped to the one error space: BERTH_EBUSY when the database
 *     stayed locked past the busy timeout (the request may be retried), BERTH_EDB
 *     for anything else the engine reports, -EEXIST when a statement would
 *     duplicate a unique key, -ENOENT when a row it refers to (foreign key) does
 *     not exist, -ENOMEM, -EINVAL for misuse.
 *
 * Threads: a db_t is shared by every thread of a process. A db_conn_t is one
 * connection, used by one thread at a time; the pool (db_conn_get / db_conn_put)
 * hands each caller a connection of its own and keeps them for reuse, so a worker
 * thread reuses the same few connections and no thread ever waits for another's.
 * A thread may bind a connection of its own (db_conn_bind_thread): the pool then
 * hands that one to the thread's callers, one at a time.
 *
 * Transactions: db_tx_begin takes the write lock up front (SQLite: BEGIN
 * IMMEDIATE), so waits go through the busy timeout. Inside a transaction the
 * first failure is sticky: every later step, bind or exec on the connection is a
 * no-op returning that error, and db_tx_commit returns it (after rolling back).
 * A caller may therefore issue a run of writes and check once, at commit. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db db_t;
typedef struct db_conn db_conn_t;
typedef struct db_stmt db_stmt_t;

#define DB_BUSY_TIMEOUT_MS 10000 /* the one busy timeout of berth's database */

/* Opens the database named by target and brings its schema to the newest
 * version of the engine's migration sequence (each migration in a transaction of
 * its own, re-checked under the write lock, so two processes opening at once
 * apply each exactly once). target: a file path (SQLite, created 0600 if new).
 * A database written by older berth releases (storage's `PRAGMA user_version`
 * and auth's `auth_schema` table) is carried into the one sequence. A database
 * from a newer berth: BERTH_EUNSUPPORTED. */
int db_open(const char *target, db_t **ret);
/* Options of db_open_opts; NULL or zeroed: the defaults. */
typedef struct {
        /* PostgreSQL: the password, when not in the URI or libpq's environment
         * (PGPASSWORD, ~/.pgpass); never logged. SQLite: unused. */
        const char *password;
} db_options_t;
/* db_open with options. target: a SQLite file path, or a libpq URI
 * ("postgresql://user@host:port/db?sslmode=...", also "postgres://"). */
int db_open_opts(const char *target, const db_options_t *opt, db_t **ret);
/* True when target names a PostgreSQL database (a libpq URI). */
bool db_target_is_pg(const char *target);
/* The engine's name: "sqlite" or "postgresql". */
const char *db_engine_name(db_t *db);
/* True when several processes (replicas) may share the database (PostgreSQL):
 * then berthd takes no one-server lock on its data directory. */
bool db_shared(db_t *db);
/* Does the database answer now? 0, or BERTH_EDBDOWN (connection lost and not
 * re-established), or another error. For /readyz. */
int db_ping(db_t *db);
db_t *db_free(db_t *db); /* NULL-safe, returns NULL; closes pooled connections */
/* The schema version (the newest migration applied). */
int db_schema_version(db_t *db);
/* The newest version this build knows. */
int db_schema_latest(void);

/* A connection of the caller's own until db_conn_put (from the pool, or new). */
int db_conn_get(db_t *db, db_conn_t **ret);
/* Back to the pool. A connection left inside a transaction is rolled back first. */
void db_conn_put(db_t *db, db_conn_t *c);
/* A connection outside the pool, owned by the caller (one per thread, e.g. the
 * server's per-thread metadata handle); db_conn_close frees it. */
int db_conn_open(db_t *db, db_conn_t **ret);
db_conn_t *db_conn_close(db_conn_t *c); /* NULL-safe, returns NULL */
/* Makes c (from db_conn_open) the calling thread's own connection: from then on
 * db_conn_get on this thread, for c's db_t, hands out c itself (db_conn_put
 * gives it back to the thread, not the pool) unless c is already handed out or
 * inside a transaction, so that the metadata and the auth layer of one request
 * share one connection. One per thread; NULL unbinds; db_conn_close of the bound
 * connection unbinds it. The owner must unbind or close it on the same thread. */
void db_conn_bind_thread(db_conn_t *c);
/* The calling thread's own connection, or NULL. */
db_conn_t *db_conn_thread(void);

/* ---- statements ---- */
/* The connection's prepared statement for sql, prepared on first use and cached
 * for the connection's life. sql must be a string that lives as long as the
 * program (a literal or a static table): the cache is keyed by its address.
 * The statement comes back reset, with its bindings cleared. */
int db_stmt(db_conn_t *c, const char *sql, db_stmt_t **ret);
/* Reset and unbind (also what _cleanup_db_stmt_ does when the variable leaves scope). */
void db_stmt_reset(db_stmt_t *st);

/* Typed binds; i from 1. Text and blobs are copied by the engine only when it
 * needs them after the call: keep them alive until the statement is reset. A NULL
 * string binds SQL NULL. Inside a failed transaction: the sticky error. */
int db_bind_null(db_stmt_t *st, int i);
int db_bind_int(db_stmt_t *st, int i, int64_t v);
int db_bind_uint(db_stmt_t *st, int i, uint64_t v); /* -EOVERFLOW past INT64_MAX */
int db_bind_text(db_stmt_t *st, int i, const char *s);
int db_bind_blob(db_stmt_t *st, int i, const void *p, size_t len);

/* The number of parameters sql takes (the highest ?N). */
int db_stmt_params(db_stmt_t *st);

/* 1 a row is ready, 0 no (more) rows, <0 error. */
int db_step(db_stmt_t *st);
/* Step a statement that returns no rows: 0 or <0. */
int db_step_done(db_stmt_t *st);

/* Typed column reads of the current row; col from 0. Text and blobs are valid
 * until the next step or reset. NULL reads as 0 / NULL. */
bool db_col_null(db_stmt_t *st, int col);
int64_t db_col_int(db_stmt_t *st, int col);
const char *db_col_text(db_stmt_t *st, int col);
const void *db_col_blob(db_stmt_t *st, int col, size_t *ret_len);
/* A malloc'd copy of a text column (*ret NULL for SQL NULL): 0 or -ENOMEM. */
int db_col_strdup(db_stmt_t *st, int col, char **ret);

/* Rows changed by the last statement on c. */
int64_t db_changes(db_conn_t *c);

/* ---- transactions ---- */
int db_tx_begin(db_conn_t *c);
/* 0, or the transaction's sticky error (rolled back), or the commit's own. */
int db_tx_commit(db_conn_t *c);
void db_tx_rollback(db_conn_t *c); /* no-op outside a transaction */
bool db_tx_active(db_conn_t *c);
/* Marks the transaction failed with err (a check of the caller's own, such as a
 * missing reference): the rest is a no-op and commit returns err. Returns err. */
int db_tx_fail(db_conn_t *c, int err);
/* The sticky error of the running transaction (0: none). */
int db_tx_error(db_conn_t *c);
/* Runs fn(c, arg) in a write transaction of its own: rolled back when fn returns
 * <0, else committed; fn's result, or the commit's error. */
int db_tx_run(db_conn_t *c, int (*fn)(db_conn_t *c, void *arg), void *arg);

/* After rows were inserted with explicit keys (berthd db copy): moves the engine's
 * key generators past the largest key of each table that has one (PostgreSQL:
 * the identity sequences of repositories.id and auth_audit.id; SQLite: nothing to
 * do). In the caller's transaction. 0 or <0. */
int db_sync_keys(db_conn_t *c);

/* ---- work that one process of several must do alone ---- */
/* Lock ids: each names one job (upload expiry, GC...), the same in every process. */
typedef enum {
        DB_LOCK_UPLOAD_EXPIRY = 1,
        DB_LOCK_GC = 2,
        DB_LOCK_RETENTION = 3, /* retention runs (storage/retention.h) */
} db_lock_id_t;
/* Takes the lock named id for c's session without waiting: 1 taken, 0 another
 * process (or connection) holds it, <0 error. PostgreSQL: a session advisory lock,
 * released by db_unlock or when the connection ends (a killed replica frees it).
 * SQLite: an exclusive flock(2) on a file beside the database (<database>-lock<id>),
 * held by the connection until db_unlock or its close (or its process's end). */
int db_lock_try(db_conn_t *c, db_lock_id_t id);
/* db_lock_try once a second for up to wait_s seconds (for the admin commands,
 * never a server thread): 0 taken, BERTH_EBUSY still held elsewhere, <0 error. */
int db_lock_wait(db_conn_t *c, db_lock_id_t id, uint64_t wait_s);
void db_unlock(db_conn_t *c, db_lock_id_t id);
/* How many connections wait for the write lock now (any process): >= 0, or
 * -EOPNOTSUPP where the engine cannot tell (SQLite). Outside a transaction; for
 * long jobs that yield the lock between batches only when someone wants it. */
int db_writers_waiting(db_conn_t *c);

/* The engine's message for the calling thread's last database failure ("" if
 * none yet): for logs and CLI messages; never holds a password. */
const char *db_last_error(void);

/* ---- counters (metrics) ---- */
#define DB_TX_BUCKETS 11
/* The upper bounds, in seconds, of the transaction-time histogram's buckets. */
extern const double db_tx_bucket_le[DB_TX_BUCKETS];
typedef struct {
        uint64_t commits, rollbacks; /* transactions ended */
        uint64_t busy;               /* BERTH_EBUSY met (a wait past the busy timeout) */
        uint64_t down;               /* BERTH_EDBDOWN met (the connection lost or refused) */
        uint64_t reopened;           /* connections reopened after a loss */
        double tx_seconds;           /* time inside transactions, db_tx_begin to the end */
        uint64_t tx_bucket[DB_TX_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
} db_stats_t;
/* A snapshot of db's counters since it was opened (every connection of it). */
void db_stats(db_t *db, db_stats_t *ret);

/* ---- change notifications, for the caches above the layer ----
 *
 * A write transaction names what it changed (db_notify); the names reach every
 * process on the database when, and only if, the transaction commits: the
 * committing process's subscribers at once (in db_tx_commit, before it returns),
 * the other processes' within the delivery time of the engine. PostgreSQL:
 * pg_notify on the channel "berth" (transactional: sent at commit, dropped on
 * rollback), and one LISTEN connection per process (db_t), on a thread of its own
 * that waits on the socket and hands each notification to the subscribers.
 * SQLite: only one server runs on a database, so the names stay in the process;
 * a write by another process (the admin commands) is seen through PRAGMA
 * data_version, and empties every cache (db_cache_epoch).
 *
 * A cache stamps each entry with the epoch db_cache_epoch gave BEFORE the read
 * that filled it, and serves an entry only while the epoch is the same. The epoch
 * is 0 (do not cache, do not serve: read the database) while changes cannot be
 * heard: PostgreSQL without its LISTEN connection (not yet up, or lost: the
 * epoch moves on when it is lost and again when it is back, so nothing filled
 * before or during the gap is served after it); inside a transaction. */
typedef enum {
        DB_NOTIFY_AUTH = 1, /* users, projects, memberships, tokens (key: "") */
        DB_NOTIFY_REPO = 2, /* a repository's manifests or tags (key: its name; "": all) */
} db_notify_kind_t;
#define DB_NOTIFY_KEY_MAX 512
/* Inside a write transaction: kind/key reach the subscribers of every process if
 * it commits. Repeats within a transaction are sent once. -EINVAL outside a
 * transaction; the sticky error in a failed one. */
int db_notify(db_conn_t *c, db_notify_kind_t kind, const char *key);
typedef void (*db_notify_fn)(db_notify_kind_t kind, const char *key, void *userdata);
/* Calls fn for every notification from now on (any thread; fn must be quick and
 * must not use the database). PostgreSQL: the first subscriber starts the LISTEN
 * thread. At most DB_SUBSCRIBERS. */
#define DB_SUBSCRIBERS 8
int db_subscribe(db_t *db, db_notify_fn fn, void *userdata);
void db_unsubscribe(db_t *db, db_notify_fn fn, void *userdata);
/* The cache epoch (see above) for a fill or a lookup on connection c (the
 * caller's, for SQLite's check of other processes' writes), or 0: bypass. */
uint64_t db_cache_epoch(db_t *db, db_conn_t *c);
/* State of the layers above that lives as long as db (a cache): created by
 * create(db) on the first call for slot, freed by destroy at db_free. NULL: out
 * of memory. */
typedef enum { DB_SLOT_MANIFESTS, _DB_SLOT_MAX } db_slot_t;
void *db_slot(db_t *db, db_slot_t slot, void *(*create)(db_t *db), void (*destroy)(void *p));
/* PostgreSQL: the LISTEN connection is up (caches in use). SQLite: true. */
bool db_notify_listening(db_t *db);

/* ---- diagnostics (unit tests) ---- */
/* Calls line() for each line of the engine's query plan of sql (SQLite:
 * EXPLAIN QUERY PLAN details; PostgreSQL: EXPLAIN). Stops at line()'s first
 * non-zero return and returns it; else 0, or <0. */
int db_explain(db_conn_t *c, const char *sql, int (*line)(const char *detail, void *userdata),
               void *userdata);

/* The macro that resets a statement when its variable leaves scope. */
static inline void db_stmt_resetp(db_stmt_t **p) {
        if (*p)
                db_stmt_reset(*p);
}
#define _cleanup_db_stmt_ __attribute__((cleanup(db_stmt_resetp)))
