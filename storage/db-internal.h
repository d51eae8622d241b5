/* storage/db-internal.h: the engine interface beneath storage/db.h. One engine per
 * database kind; each has its own numbered migration sequence. Engine handles are
 * opaque to db.c: a connection (void *) and its statements (void *). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage/db.h"

/* One step of an engine's schema sequence: sql (a fixed script of the engine's
 * dialect), then post (optional: data the step needs, through db_stmt and the
 * typed binds), in the same transaction as the version bump.
 *
 * Steps are expand steps unless marked contract: after an expand step (a table,
 * a column with a default, an index) the release before it keeps working on the
 * database, so replicas are updated one at a time while the others serve (the
 * new release migrates at its start; the old ones go on). A contract step (a
 * column or table dropped, a meaning changed) is one the release before cannot
 * use: ship it only in a release after the one that stopped needing what it
 * removes. The engine records the last contract step applied (compat_get); a
 * release whose newest step is older than that refuses the database. */
typedef struct {
        const char *sql;
        int (*post)(db_conn_t *c);
        bool contract;
} db_migration_t;

typedef struct {
        const char *name;
        bool shared; /* several processes may use the database at once (no serve.lock) */
        /* connections: open sets the busy timeout and the session settings;
         * password may be NULL (SQLite: unused) */
        int (*open)(const char *target, const char *password, void **ret);
        void (*close)(void *h);
        /* the connection is gone (server restarted, network): db.c reopens it */
        bool (*broken)(void *h);
        /* run a fixed script (schema, transaction control); never with input in it */
        int (*exec)(void *h, const char *sql);
        int (*begin)(void *h);    /* a write transaction, lock taken up front */
        int (*commit)(void *h);
        int (*rollback)(void *h);
        bool (*in_tx)(void *h);
        int64_t (*changes)(void *h);
        /* statements */
        int (*prepare)(void *h, const char *sql, void **ret);
        void (*finalize)(void *st);
        void (*reset)(void *st);
        int (*bind_null)(void *st, int i);
        int (*bind_int)(void *st, int i, int64_t v);
        int (*bind_text)(void *st, int i, const char *s);
        int (*bind_blob)(void *st, int i, const void *p, size_t len);
        /* 1 row, 0 done, <0: -EEXIST a unique key taken, -ENOENT a referenced row
         * missing, BERTH_EBUSY, BERTH_EDB */
        int (*step)(void *st);
        int (*param_count)(void *st);
        bool (*col_null)(void *st, int col);
        int64_t (*col_int)(void *st, int col);
        const char *(*col_text)(void *st, int col);
        const void *(*col_blob)(void *st, int col, size_t *ret_len);
        /* schema version and the carrying-over of databases from older releases */
        int (*version_get)(void *h, int *ret);
        /* the version and the last contract step applied (engines without compat_get
         * ignore compat) */
        int (*version_set)(void *h, int v, int compat);
        int (*compat_get)(void *h, int *ret); /* NULL: a newer schema is refused */
        /* In the first migration transaction: *v is the version read; the engine
         * may raise it (and apply what it must) for a database of an older layout. */
        int (*adopt)(db_conn_t *c, void *h, int *v);
        int (*sync_keys)(void *h); /* NULL: nothing to do */
        /* session locks for work done by one process at a time: 1 taken, 0 held elsewhere */
        int (*lock_try)(void *h, int64_t key);
        void (*unlock)(void *h, int64_t key);
        /* connections waiting for the write lock now; NULL: cannot tell */
        int (*writers_waiting)(void *h);
        int (*explain)(void *h, const char *sql, int (*line)(const char *, void *), void *userdata);
        /* change notifications (db_notify): NULL where they stay in the process */
        int (*notify)(void *h, const char *payload);          /* in the transaction */
        int (*listen_open)(const char *target, const char *password, void **ret);
        /* waits for the LISTEN connection's socket or wake_fd; hands each payload
         * to deliver. 0 (woken or delivered), <0 the connection is lost. */
        int (*listen_wait)(void *h, int wake_fd, void (*deliver)(const char *payload, void *ud), void *ud);
        /* a one-value query that changes when another connection committed
         * (SQLite: PRAGMA data_version); NULL: none */
        const char *data_version_sql;
        /* run in each migration transaction before its step (NULL: none) */
        const char *migration_setup;
        const db_migration_t *migrations;
        size_t n_migrations;
} db_engine_t;

/* PostgreSQL: the transaction-level advisory lock every write transaction takes
 * (db_tx_begin), key 0 of berth's lock space (db.h's db_lock ids are 1 and up). */
#define DB_PG_WRITE_LOCK_KEY INT64_C(7093860353087373312) /* 0x62727468 << 32 */

extern const db_engine_t db_engine_sqlite;
extern const db_engine_t db_engine_pg;

/* For engines: the message db_last_error returns on this thread. */
void db__set_error(const char *msg);
/* The data step 2 of every sequence adds (the install key). */
int db__post_auth_state(db_conn_t *c);

/* For engines' adopt hooks: the engine handle of a connection. */
void *db__conn_handle(db_conn_t *c);
