/* tests/unit/test-db.c: the metadata layer (storage/db): the one migration
 * sequence, carrying databases of older releases into it, transactions with a
 * sticky error, the statement cache. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/db.h"
#include "storage/db-internal.h"
#include "storage/meta.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char path[300];
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "db") < 0)
                return -1;
        if (fx_db_target(f->path, sizeof(f->path), f->dir, "berth.db") < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        fx_db_drop(f->path);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* The layouts of older releases are SQLite files: their carrying-over has nothing
 * to do on PostgreSQL, whose sequence began with the one layer. */
#define SQLITE_ONLY()                          \
        do {                                   \
                if (fx_pg())                   \
                        skip();                \
        } while (0)

/* Runs sql on the test's database in a session of its own (PostgreSQL). */
static void pg_raw(const fixture_t *f, const char *sql) {
        PGconn *pc = PQconnectdb(f->path);
        PGresult *res;

        assert_int_equal(PQstatus(pc), CONNECTION_OK);
        res = PQexec(pc, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
                fail_msg("%s: %s", sql, PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(pc);
}

/* ---- the layout of the releases before the one layer, as they wrote it ---- */

/* storage/meta.c: its migration 1, then PRAGMA user_version = 1 */
static const char OLD_META[] =
        "CREATE TABLE repositories (  id   INTEGER PRIMARY KEY,  name TEXT NOT NULL UNIQUE);"
        "CREATE TABLE blobs (  digest     TEXT PRIMARY KEY,  size       INTEGER NOT NULL,"
        "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE repo_blobs (  repo_id    INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
        "  digest     TEXT NOT NULL REFERENCES blobs(digest),  created_at INTEGER NOT NULL,"
        "  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
        "CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest, repo_id);"
        "CREATE TABLE manifests (  repo_id       INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
        "  digest        TEXT NOT NULL REFERENCES blobs(digest),  media_type    TEXT NOT NULL,"
        "  artifact_type TEXT,  subject       TEXT,  annotations   TEXT,  size          INTEGER NOT NULL,"
        "  created_at    INTEGER NOT NULL,  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
        "CREATE INDEX manifests_by_subject ON manifests(repo_id, subject, digest)  WHERE subject IS NOT NULL;"
        "CREATE INDEX manifests_by_digest ON manifests(digest);"
        "CREATE TABLE manifest_refs (  repo_id     INTEGER NOT NULL,  manifest    TEXT NOT NULL,"
        "  child       TEXT NOT NULL,  is_manifest INTEGER NOT NULL,  PRIMARY KEY (repo_id, manifest, child),"
        "  FOREIGN KEY (repo_id, manifest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE) WITHOUT ROWID;"
        "CREATE INDEX manifest_refs_by_child ON manifest_refs(child);"
        "CREATE TABLE tags (  repo_id    INTEGER NOT NULL,  name       TEXT NOT NULL,"
        "  digest     TEXT NOT NULL,  updated_at INTEGER NOT NULL,  PRIMARY KEY (repo_id, name),"
        "  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE) WITHOUT ROWID;"
        "CREATE INDEX tags_by_digest ON tags(repo_id, digest);"
        "CREATE TABLE uploads (  uuid       TEXT PRIMARY KEY,  repo       TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
        "PRAGMA user_version = 1;";

/* auth/auth.c: its own table auth_schema, its migration 1 and the install key */
static const char OLD_AUTH[] =
        "CREATE TABLE IF NOT EXISTS auth_schema(version INTEGER NOT NULL);"
        "CREATE TABLE auth_state(  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  generation INTEGER NOT NULL DEFAULT 0,  bootstrapped INTEGER NOT NULL DEFAULT 0,"
        "  token_key BLOB NOT NULL);"
        "CREATE TABLE auth_users(  name TEXT PRIMARY KEY,  hash TEXT NOT NULL,"
        "  admin INTEGER NOT NULL DEFAULT 0,  created INTEGER NOT NULL);"
        "CREATE TABLE auth_projects(  name TEXT PRIMARY KEY,  public INTEGER NOT NULL DEFAULT 0,"
        "  created INTEGER NOT NULL);"
        "CREATE TABLE auth_members(  project TEXT NOT NULL REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  user TEXT NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,  role INTEGER NOT NULL,"
        "  PRIMARY KEY (project, user));"
        "CREATE TABLE auth_tokens(  name TEXT PRIMARY KEY,"
        "  project TEXT NOT NULL REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  push INTEGER NOT NULL DEFAULT 0,  mac BLOB NOT NULL,  created INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE auth_audit(  id INTEGER PRIMARY KEY,  ts INTEGER NOT NULL,  user TEXT NOT NULL,"
        "  client TEXT,  action TEXT NOT NULL,  repo TEXT,  detail TEXT);"
        "CREATE INDEX auth_audit_ts ON auth_audit(ts);"
        "INSERT INTO auth_state(id, token_key, generation, bootstrapped)"
        "  VALUES (1, x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 7, 1);"
        "INSERT INTO auth_schema(version) VALUES (1);";

/* data a berthd of that release kept */
static const char OLD_META_ROWS[] =
        "INSERT INTO repositories(id, name) VALUES (1, 'lib/app');"
        "INSERT INTO blobs VALUES ('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0, 1);"
        "INSERT INTO repo_blobs VALUES (1, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 1);";
static const char OLD_AUTH_ROWS[] =
        "INSERT INTO auth_users VALUES ('alice', '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA', 0, 1);"
        "INSERT INTO auth_projects VALUES ('team', 1, 1);"
        "INSERT INTO auth_members VALUES ('team', 'alice', 2);"
        "INSERT INTO auth_audit(ts, user, client, action, repo, detail) VALUES (5, 'alice', '::1', 'push', 'team/x', NULL);";

static void old_db(const fixture_t *f, bool meta, bool auth) {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
        if (meta) {
                assert_int_equal(sqlite3_exec(db, OLD_META, NULL, NULL, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db, OLD_META_ROWS, NULL, NULL, NULL), SQLITE_OK);
        }
        if (auth) {
                assert_int_equal(sqlite3_exec(db, OLD_AUTH, NULL, NULL, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db, OLD_AUTH_ROWS, NULL, NULL, NULL), SQLITE_OK);
        }
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* one integer the query answers */
static int64_t q_int(db_t *db, const char *sql) {
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int64_t v;

        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, sql, &st), 0);
        assert_int_equal(db_step(st), 1);
        v = db_col_int(st, 0);
        db_stmt_reset(st);
        db_conn_put(db, c);
        return v;
}

static const char Q_AUTH_SCHEMA[] = "SELECT count(*) FROM sqlite_master WHERE name = 'auth_schema'";
static const char Q_USERS[] = "SELECT count(*) FROM auth_users WHERE name = 'alice'";
static const char Q_MEMBERS[] = "SELECT role FROM auth_members WHERE project = 'team' AND user = 'alice'";
static const char Q_AUDIT[] = "SELECT count(*) FROM auth_audit WHERE action = 'push'";
static const char Q_GEN[] = "SELECT generation + 100 * bootstrapped FROM auth_state";
static const char Q_KEY[] = "SELECT hex(token_key) FROM auth_state";
static const char Q_BLOBS[] = "SELECT count(*) FROM repo_blobs";

static void assert_old_rows_kept(db_t *db) {
        assert_int_equal(q_int(db, Q_USERS), 1);
        assert_int_equal(q_int(db, Q_MEMBERS), 2);
        assert_int_equal(q_int(db, Q_AUDIT), 1);
        assert_int_equal(q_int(db, Q_GEN), 107);
        {
                db_conn_t *c = NULL;
                db_stmt_t *st = NULL;
                assert_int_equal(db_conn_get(db, &c), 0);
                assert_int_equal(db_stmt(c, Q_KEY, &st), 0);
                assert_int_equal(db_step(st), 1);
                assert_string_equal(db_col_text(st, 0),
                                    "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
                db_stmt_reset(st);
                db_conn_put(db, c);
        }
}

/* A berth.db a server of the two-counter release wrote (storage's user_version 1,
 * auth's auth_schema 1) opens into the one sequence with every row kept, and the
 * registry API reads its rows. */
static void test_old_two_counter_database_is_carried_over(void **state) {
        fixture_t *f = *state;
        db_t *db = NULL;
        meta_t *m = NULL;
        digest_t d;
        uint64_t size = 1;

        SQLITE_ONLY();
        old_db(f, true, true);
        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_schema_version(db), db_schema_latest());
        assert_int_equal(q_int(db, Q_AUTH_SCHEMA), 0); /* one counter from now on */
        assert_int_equal(q_int(db, Q_BLOBS), 1);
        assert_old_rows_kept(db);
        db = db_free(db);
        /* and again: nothing applied twice */
        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_schema_version(db), db_schema_latest());
        assert_old_rows_kept(db);
        db = db_free(db);
        assert_int_equal(meta_open(f->path, &m), 0);
        assert_int_equal(digest_parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &d), 0);
        assert_int_equal(meta_blob_linked(m, "lib/app", &d, &size), 1);
        assert_int_equal(size, 0);
        meta_free(m);
}

/* The admin commands ran before any server start: auth's tables only. */
static void test_old_auth_only_database_gets_the_registry_tables(void **state) {
        fixture_t *f = *state;
        db_t *db = NULL;

        SQLITE_ONLY();
        old_db(f, false, true);
        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_schema_version(db), db_schema_latest());
        assert_int_equal(q_int(db, Q_BLOBS), 0); /* the registry's tables exist */
        assert_old_rows_kept(db);
        db_free(db);
}

/* Only the registry's tables (a server of the release before auth/). */
static void test_old_meta_only_database_gets_the_auth_tables(void **state) {
        fixture_t *f = *state;
        db_t *db = NULL;

        SQLITE_ONLY();
        old_db(f, true, false);
        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_schema_version(db), db_schema_latest());
        assert_int_equal(q_int(db, Q_BLOBS), 1);
        assert_int_equal(q_int(db, "SELECT count(*) FROM auth_state"), 1); /* a new install key */
        assert_int_equal(q_int(db, Q_AUTH_SCHEMA), 0);
        db_free(db);
}

/* A new database is private (SQLite: 0600); one a newer release migrated past what
 * this one can use is refused (PostgreSQL: unless the newer steps were all expand
 * steps, see db-internal.h). */
static void test_new_database_is_private_and_newer_ones_are_refused(void **state) {
        fixture_t *f = *state;
        db_t *db = NULL;
        sqlite3 *raw = NULL;
        struct stat st;

        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_schema_version(db), db_schema_latest());
        db = db_free(db);
        if (fx_pg()) {
                /* a replica of a newer release migrated it with expand steps only
                 * (a rolling update under way): this release goes on using it */
                pg_raw(f, "UPDATE berth_schema SET version = 1000");
                assert_int_equal(db_open(f->path, &db), 0);
                assert_int_equal(db_schema_version(db), 1000);
                db = db_free(db);
                /* ... and then a contract step: not this release's to use */
                pg_raw(f, "UPDATE berth_schema SET compat = 1000");
        } else {
                assert_int_equal(stat(f->path, &st), 0);
                assert_int_equal(st.st_mode & 077, 0);
                assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
                assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 1000", NULL, NULL, NULL), SQLITE_OK);
                sqlite3_close(raw);
        }
        assert_int_equal(db_open(f->path, &db), BERTH_EUNSUPPORTED);
        assert_null(db);
}

/* The first failure in a transaction makes the rest no-ops and is what commit
 * returns; nothing of the transaction is written. */
static void test_transaction_error_is_sticky(void **state) {
        static const char ins[] = "INSERT INTO auth_projects(name, public, created) VALUES (?1, 0, 0)";
        static const char cnt[] = "SELECT count(*) FROM auth_projects";
        fixture_t *f = *state;
        db_t *db = NULL;
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;

        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_tx_begin(c), 0);
        assert_int_equal(db_stmt(c, ins, &st), 0);
        assert_int_equal(db_bind_text(st, 1, "a"), 0);
        assert_int_equal(db_step_done(st), 0);
        db_stmt_reset(st);
        assert_int_equal(db_bind_text(st, 1, "a"), 0);
        assert_int_equal(db_step_done(st), -EEXIST); /* the first failure */
        db_stmt_reset(st);
        assert_int_equal(db_tx_error(c), -EEXIST);
        assert_int_equal(db_bind_text(st, 1, "b"), -EEXIST); /* no-ops now */
        assert_int_equal(db_step_done(st), -EEXIST);
        db_stmt_reset(st);
        assert_int_equal(db_tx_commit(c), -EEXIST);
        assert_false(db_tx_active(c));
        db_conn_put(db, c);
        assert_int_equal(q_int(db, cnt), 0); /* rolled back: not even "a" */
        /* a check of the caller's own fails the transaction the same way */
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_tx_begin(c), 0);
        assert_int_equal(db_stmt(c, ins, &st), 0);
        assert_int_equal(db_bind_text(st, 1, "c"), 0);
        assert_int_equal(db_step_done(st), 0);
        db_stmt_reset(st);
        assert_int_equal(db_tx_fail(c, BERTH_EMANIFEST_BLOB_UNKNOWN), BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_int_equal(db_tx_commit(c), BERTH_EMANIFEST_BLOB_UNKNOWN);
        db_conn_put(db, c);
        assert_int_equal(q_int(db, cnt), 0);
        db_free(db);
}

/* The counters the metrics show: transactions by result with their time, and the
 * busy and unreachable errors met. */
static void test_counters(void **state) {
        static const char ins[] = "INSERT INTO auth_projects(name, public, created) VALUES (?1, 0, 0)";
        fixture_t *f = *state;
        db_t *db = NULL;
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        db_stats_t s0, s1;
        uint64_t n = 0;

        assert_int_equal(db_open(f->path, &db), 0);
        db_stats(db, &s0);
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_tx_begin(c), 0);
        assert_int_equal(db_stmt(c, ins, &st), 0);
        assert_int_equal(db_bind_text(st, 1, "a"), 0);
        assert_int_equal(db_step_done(st), 0);
        assert_int_equal(db_tx_commit(c), 0);
        assert_int_equal(db_tx_begin(c), 0);
        db_tx_rollback(c);
        assert_int_equal(db_tx_begin(c), 0);
        assert_int_equal(db_tx_fail(c, BERTH_EBUSY), BERTH_EBUSY);
        assert_int_equal(db_tx_commit(c), BERTH_EBUSY); /* rolled back */
        db_conn_put(db, c);
        db_stats(db, &s1);
        assert_int_equal(s1.commits - s0.commits, 1);
        assert_int_equal(s1.rollbacks - s0.rollbacks, 2);
        assert_int_equal(s1.busy - s0.busy, 1);
        assert_int_equal(s1.down, 0);
        assert_true(s1.tx_seconds >= s0.tx_seconds);
        for (size_t b = 0; b <= DB_TX_BUCKETS; b++)
                n += s1.tx_bucket[b] - s0.tx_bucket[b];
        assert_int_equal(n, 3);
        db_free(db);
}

/* Statements are cached per connection (same handle back, reset and unbound);
 * a parameter a statement lacks is an error, not ignored. */
static void test_statement_cache_and_checked_binds(void **state) {
        static const char sel[] = "SELECT CAST(?1 AS INTEGER) IS NULL";
        fixture_t *f = *state;
        db_t *db = NULL;
        db_conn_t *c = NULL;
        db_stmt_t *a = NULL, *b = NULL;

        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, sel, &a), 0);
        assert_int_equal(db_stmt_params(a), 1);
        assert_int_equal(db_bind_int(a, 1, 5), 0);
        assert_int_equal(db_step(a), 1);
        assert_int_equal(db_col_int(a, 0), 0);
        db_stmt_reset(a);
        assert_int_equal(db_stmt(c, sel, &b), 0);
        assert_ptr_equal(a, b);
        assert_int_equal(db_step(b), 1);
        assert_int_equal(db_col_int(b, 0), 1); /* bindings cleared */
        db_stmt_reset(b);
        assert_int_equal(db_bind_int(b, 2, 1), BERTH_EDB);
        assert_int_equal(db_bind_uint(b, 1, UINT64_MAX), -EOVERFLOW);
        db_stmt_reset(b);
        db_conn_put(db, c);
        db_free(db);
}

struct opener {
        const char *path;
        int r;
};

static void *open_thread(void *arg) {
        struct opener *o = arg;
        db_t *db = NULL;

        o->r = db_open(o->path, &db);
        if (o->r == 0 && db_schema_version(db) != db_schema_latest())
                o->r = -EPROTO;
        db_free(db);
        return NULL;
}

/* Processes starting together on an old database (SQLite) or an empty one
 * (PostgreSQL: replicas starting at once) each open it; the adoption and every
 * migration happen once. */
static void test_concurrent_opens_of_an_old_database(void **state) {
        fixture_t *f = *state;
        struct opener o[4];
        pthread_t t[4];
        db_t *db = NULL;

        if (!fx_pg())
                old_db(f, true, true);
        for (int i = 0; i < 4; i++) {
                o[i] = (struct opener){ .path = f->path };
                assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(o[i].r, 0);
        }
        assert_int_equal(db_open(f->path, &db), 0);
        if (!fx_pg())
                assert_old_rows_kept(db);
        assert_int_equal(q_int(db, "SELECT count(*) FROM auth_state"), 1); /* one install key */
        db_free(db);
}

/* Values come back as they went in, through each engine's encoding: integers at
 * both ends of int64, text with every byte but NUL, blobs with NULs and empty,
 * NULL. */
static void test_values_round_trip(void **state) {
        static const char ins[] = "INSERT INTO auth_tokens(name, project, push, mac, created, expires)"
                                  " VALUES (?1, 'p', 0, ?2, ?3, ?4)";
        static const char proj[] = "INSERT INTO auth_projects(name, public, created) VALUES ('p', 0, 0)";
        static const char sel[] = "SELECT name, mac, created, expires FROM auth_tokens WHERE name = ?1";
        static const uint8_t bin[] = { 0, 1, 0xff, 0, '\\', 'x', 0x80 };
        fixture_t *f = *state;
        db_t *db = NULL;
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        char text[256];
        const void *p;
        size_t len = 99;

        for (int i = 1; i < 256; i++)
                text[i - 1] = (char) (i == '\'' ? 'q' : i); /* UTF-8 aside, any byte */
        text[127] = '\0'; /* ASCII: PostgreSQL databases are UTF-8 */
        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, proj, &st), 0);
        assert_int_equal(db_step_done(st), 0);
        assert_int_equal(db_stmt(c, ins, &st), 0);
        assert_int_equal(db_bind_text(st, 1, text), 0);
        assert_int_equal(db_bind_blob(st, 2, bin, sizeof(bin)), 0);
        assert_int_equal(db_bind_int(st, 3, INT64_MIN), 0);
        assert_int_equal(db_bind_int(st, 4, INT64_MAX), 0);
        assert_int_equal(db_step_done(st), 0);
        assert_int_equal(db_changes(c), 1);
        assert_int_equal(db_stmt(c, ins, &st), 0);
        assert_int_equal(db_bind_text(st, 1, "empty"), 0);
        assert_int_equal(db_bind_blob(st, 2, NULL, 0), 0);
        assert_int_equal(db_bind_int(st, 3, 0), 0);
        assert_int_equal(db_bind_int(st, 4, -1), 0);
        assert_int_equal(db_step_done(st), 0);

        assert_int_equal(db_stmt(c, sel, &st), 0);
        assert_int_equal(db_bind_text(st, 1, text), 0);
        assert_int_equal(db_step(st), 1);
        assert_string_equal(db_col_text(st, 0), text);
        p = db_col_blob(st, 1, &len);
        assert_int_equal(len, sizeof(bin));
        assert_memory_equal(p, bin, sizeof(bin));
        assert_true(db_col_int(st, 2) == INT64_MIN);
        assert_true(db_col_int(st, 3) == INT64_MAX);
        assert_false(db_col_null(st, 3));
        assert_int_equal(db_step(st), 0);
        assert_int_equal(db_stmt(c, sel, &st), 0);
        assert_int_equal(db_bind_text(st, 1, "empty"), 0);
        assert_int_equal(db_step(st), 1);
        (void) db_col_blob(st, 1, &len);
        assert_int_equal(len, 0);
        assert_false(db_col_null(st, 1)); /* empty, not NULL */
        assert_int_equal(db_col_int(st, 3), -1);
        db_stmt_reset(st);
        assert_int_equal(db_stmt(c, sel, &st), 0);
        assert_int_equal(db_bind_null(st, 1), 0);
        assert_int_equal(db_step(st), 0); /* name = NULL matches nothing */
        db_stmt_reset(st);
        db_conn_put(db, c);
        db_free(db);
}

/* Work done by one process of several: a second taker is refused while the first
 * holds the lock, and gets it once the holder's connection ends (a killed
 * replica frees it). SQLite as PostgreSQL: a lock per connection (a flock there). */
static void test_locks_for_work_done_once(void **state) {
        fixture_t *f = *state;
        db_t *a = NULL, *b = NULL;
        db_conn_t *ca = NULL, *cb = NULL;

        assert_int_equal(db_open(f->path, &a), 0);
        assert_int_equal(db_open(f->path, &b), 0);
        assert_int_equal(db_conn_open(a, &ca), 0);
        assert_int_equal(db_conn_open(b, &cb), 0);
        assert_int_equal(db_lock_try(ca, DB_LOCK_UPLOAD_EXPIRY), 1);
        assert_int_equal(db_lock_try(cb, DB_LOCK_UPLOAD_EXPIRY), 0); /* both engines: another session */
        assert_int_equal(db_lock_try(cb, DB_LOCK_GC), 1); /* another job */
        db_unlock(cb, DB_LOCK_GC);
        ca = db_conn_close(ca); /* the holder goes away without unlocking */
        /* its server process ends a moment after the connection closes */
        for (int i = 0; i < 500 && db_lock_try(cb, DB_LOCK_UPLOAD_EXPIRY) == 0; i++)
                usleep(10000);
        assert_int_equal(db_lock_try(cb, DB_LOCK_UPLOAD_EXPIRY), 1); /* again: the session's own */
        db_unlock(cb, DB_LOCK_UPLOAD_EXPIRY);
        db_conn_close(cb);
        db_free(b);
        db_free(a);
}

/* The server goes away under a connection (PostgreSQL restarted, or the session
 * killed): the statement fails with BERTH_EDBDOWN, not a generic error; the pool
 * reopens the connection on the next db_conn_get, and the thread's own connection
 * too. */
static void test_lost_connection_is_reopened(void **state) {
        static const char cnt[] = "SELECT count(*) FROM auth_state";
        fixture_t *f = *state;
        db_t *db = NULL;
        db_conn_t *own = NULL, *c = NULL;
        db_stmt_t *st = NULL;

        if (!fx_pg())
                skip(); /* a file has no connection to lose */
        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_conn_open(db, &own), 0);
        db_conn_bind_thread(own);
        assert_int_equal(q_int(db, cnt), 1);
        assert_int_equal(db_ping(db), 0);
        pg_raw(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  " WHERE datname = current_database() AND pid <> pg_backend_pid()");
        assert_int_equal(db_stmt(own, cnt, &st), 0);
        assert_int_equal(db_step(st), BERTH_EDBDOWN);
        db_stmt_reset(st);
        assert_int_equal(db_conn_get(db, &c), 0); /* the thread's own, reopened */
        assert_ptr_equal(c, own);
        assert_int_equal(db_stmt(c, cnt, &st), 0);
        assert_int_equal(db_step(st), 1);
        assert_int_equal(db_col_int(st, 0), 1);
        db_stmt_reset(st);
        db_conn_put(db, c);
        db_conn_close(own);
        assert_int_equal(q_int(db, cnt), 1); /* the pooled one, reopened or new */
        assert_int_equal(db_ping(db), 0);
        db_free(db);
}

struct other_thread {
        db_t *db;
        db_conn_t *got;
};

static void *get_on_other_thread(void *p) {
        struct other_thread *o = p;
        assert_int_equal(db_conn_get(o->db, &o->got), 0);
        db_conn_put(o->db, o->got);
        return NULL;
}

/* A connection bound to a thread is what db_conn_get hands that thread (the
 * server's metadata and auth share one per worker), one caller at a time and
 * never into a running transaction; other threads and other databases get their
 * own; closing it unbinds it. */
static void test_thread_connection_is_shared_by_the_thread_only(void **state) {
        fixture_t *f = *state;
        db_t *db = NULL, *db2 = NULL;
        db_conn_t *own = NULL, *c1 = NULL, *c2 = NULL;
        struct other_thread o;
        pthread_t t;

        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_open(f->path, &db2), 0);
        assert_int_equal(db_conn_open(db, &own), 0);
        db_conn_bind_thread(own);
        assert_ptr_equal(db_conn_thread(), own);

        assert_int_equal(db_conn_get(db, &c1), 0);
        assert_ptr_equal(c1, own);
        assert_int_equal(db_conn_get(db, &c2), 0); /* lent: another one */
        assert_ptr_not_equal(c2, own);
        db_conn_put(db, c2);
        db_conn_put(db, c1); /* back to the thread, not the pool */
        assert_int_equal(db_conn_get(db, &c1), 0);
        assert_ptr_equal(c1, own);
        db_conn_put(db, c1);

        assert_int_equal(db_tx_begin(own), 0); /* the owner's transaction */
        assert_int_equal(db_conn_get(db, &c1), 0);
        assert_ptr_not_equal(c1, own);
        db_conn_put(db, c1);
        db_tx_rollback(own);

        assert_int_equal(db_conn_get(db2, &c1), 0); /* another database */
        assert_ptr_not_equal(c1, own);
        db_conn_put(db2, c1);

        o = (struct other_thread){ .db = db };
        assert_int_equal(pthread_create(&t, NULL, get_on_other_thread, &o), 0);
        pthread_join(t, NULL);
        assert_ptr_not_equal(o.got, own);

        db_conn_close(own);
        assert_null(db_conn_thread());
        assert_int_equal(db_conn_get(db, &c1), 0);
        db_conn_put(db, c1);
        db_free(db2);
        db_free(db);
}


/* ---- change notifications ---- */

typedef struct {
        pthread_mutex_t lock;
        unsigned n;
        db_notify_kind_t kind;
        char key[64];
} heard_t;

static void hear(db_notify_kind_t kind, const char *key, void *userdata) {
        heard_t *h = userdata;

        pthread_mutex_lock(&h->lock);
        h->n++;
        h->kind = kind;
        snprintf(h->key, sizeof(h->key), "%s", key);
        pthread_mutex_unlock(&h->lock);
}

static unsigned heard_n(heard_t *h) {
        unsigned n;

        pthread_mutex_lock(&h->lock);
        n = h->n;
        pthread_mutex_unlock(&h->lock);
        return n;
}

static void wait_listening(db_t *db) {
        for (int i = 0; i < 1000 && !db_notify_listening(db); i++)
                usleep(10000);
        assert_true(db_notify_listening(db));
}

/* A notification reaches the subscribers when its transaction commits, never when
 * it rolls back; once per transaction however often it was named; the writing
 * process's at once (before db_tx_commit returns), another's (PostgreSQL: a second
 * db_t on the database, as a second replica) when the server delivers it.
 * SQLite: the names stay in the process, and the second handle sees the write
 * through data_version (its cache epoch moves). */
static void test_notification_at_commit_only(void **state) {
        static const char bump[] = "UPDATE auth_state SET generation = generation + 1 WHERE id = 1";
        fixture_t *f = *state;
        heard_t ha = { .lock = PTHREAD_MUTEX_INITIALIZER }, hb = { .lock = PTHREAD_MUTEX_INITIALIZER };
        db_t *a = NULL, *b = NULL;
        db_conn_t *ca = NULL, *cb = NULL;
        db_stmt_t *st = NULL;
        uint64_t eb;

        assert_int_equal(db_open(f->path, &a), 0);
        assert_int_equal(db_open(f->path, &b), 0);
        assert_int_equal(db_subscribe(a, hear, &ha), 0);
        assert_int_equal(db_subscribe(b, hear, &hb), 0);
        wait_listening(a);
        wait_listening(b);
        assert_int_equal(db_conn_open(a, &ca), 0);
        assert_int_equal(db_conn_open(b, &cb), 0);
        assert_int_equal(db_notify(ca, DB_NOTIFY_REPO, "lib/app"), -EINVAL); /* no transaction */
        (void) db_cache_epoch(b, cb);
        eb = db_cache_epoch(b, cb);
        assert_true(eb != 0);
        assert_int_equal(db_cache_epoch(b, cb), eb); /* nothing changed: the same */

        assert_int_equal(db_tx_begin(ca), 0);
        assert_int_equal(db_cache_epoch(a, ca), 0); /* inside a transaction: bypass */
        assert_int_equal(db_stmt(ca, bump, &st), 0);
        assert_int_equal(db_step_done(st), 0);
        assert_int_equal(db_notify(ca, DB_NOTIFY_REPO, "lib/gone"), 0);
        db_tx_rollback(ca);
        assert_int_equal(heard_n(&ha), 0);

        assert_int_equal(db_tx_begin(ca), 0);
        assert_int_equal(db_stmt(ca, bump, &st), 0);
        assert_int_equal(db_step_done(st), 0);
        assert_int_equal(db_notify(ca, DB_NOTIFY_REPO, "lib/app"), 0);
        assert_int_equal(db_notify(ca, DB_NOTIFY_REPO, "lib/app"), 0);
        assert_int_equal(heard_n(&ha), 0); /* not before the commit */
        assert_int_equal(db_tx_commit(ca), 0);
        assert_int_equal(heard_n(&ha), 1);
        assert_int_equal(ha.kind, DB_NOTIFY_REPO);
        assert_string_equal(ha.key, "lib/app");
        if (fx_pg()) {
                for (int i = 0; i < 1000 && heard_n(&hb) == 0; i++)
                        usleep(10000);
                assert_int_equal(heard_n(&hb), 1); /* once: the rolled-back one never came */
                assert_int_equal(hb.kind, DB_NOTIFY_REPO);
                assert_string_equal(hb.key, "lib/app");
                usleep(100000);
                assert_int_equal(heard_n(&ha), 1); /* its own did not come back to it */
        } else {
                assert_int_equal(heard_n(&hb), 0);
                assert_true(db_cache_epoch(b, cb) != eb); /* the other connection's write */
        }
        db_conn_close(cb);
        db_conn_close(ca);
        db_unsubscribe(b, hear, &hb);
        db_free(b);
        db_free(a);
}

/* PostgreSQL: while the LISTEN connection is down the epoch is 0 (caches bypassed);
 * when it is back, a new epoch (what was cached before is not served again). */
static void test_listener_loss_moves_the_epoch(void **state) {
        fixture_t *f = *state;
        heard_t h = { .lock = PTHREAD_MUTEX_INITIALIZER };
        db_t *db = NULL;
        uint64_t e1, e;
        bool saw_zero = false;

        if (!fx_pg())
                skip();
        assert_int_equal(db_open(f->path, &db), 0);
        assert_int_equal(db_cache_epoch(db, NULL), 0); /* nobody listens yet */
        assert_int_equal(db_subscribe(db, hear, &h), 0);
        wait_listening(db);
        e1 = db_cache_epoch(db, NULL);
        assert_true(e1 != 0);
        pg_raw(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  " WHERE application_name = 'berthd-listen' AND datname = current_database()");
        for (int i = 0; i < 100000; i++) {
                e = db_cache_epoch(db, NULL);
                saw_zero |= e == 0;
                if (e != 0 && e != e1)
                        break;
                usleep(100);
        }
        assert_true(db_notify_listening(db));
        e = db_cache_epoch(db, NULL);
        assert_true(e != 0 && e != e1);
        print_message("epoch 0 seen while the connection was down: %s\n", saw_zero ? "yes" : "no");
        db_free(db);
}

/* A writer that waits for the write lock is seen from another session
 * (PostgreSQL); SQLite cannot tell. */
struct waiter {
        db_t *db;
        int r;
};

static void *wait_for_write(void *arg) {
        struct waiter *w = arg;
        db_conn_t *c = NULL;

        w->r = db_conn_open(w->db, &c);
        if (w->r == 0 && (w->r = db_tx_begin(c)) == 0)
                w->r = db_tx_commit(c);
        db_conn_close(c);
        return NULL;
}

static void test_writers_waiting(void **state) {
        fixture_t *f = *state;
        db_t *a = NULL, *b = NULL, *q = NULL;
        db_conn_t *ca = NULL, *cq = NULL;
        struct waiter w = { .r = 1 };
        pthread_t t;
        int n = 0;

        assert_int_equal(db_open(f->path, &a), 0);
        assert_int_equal(db_open(f->path, &b), 0);
        assert_int_equal(db_open(f->path, &q), 0);
        assert_int_equal(db_conn_open(a, &ca), 0);
        assert_int_equal(db_conn_open(q, &cq), 0);
        if (!fx_pg()) {
                assert_int_equal(db_writers_waiting(cq), -EOPNOTSUPP);
                goto out;
        }
        assert_int_equal(db_writers_waiting(cq), 0);
        assert_int_equal(db_tx_begin(ca), 0); /* holds the write lock */
        w.db = b;
        assert_int_equal(pthread_create(&t, NULL, wait_for_write, &w), 0);
        for (int i = 0; i < 500 && (n = db_writers_waiting(cq)) == 0; i++)
                usleep(10000);
        assert_int_equal(n, 1);
        assert_int_equal(db_tx_commit(ca), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(w.r, 0);
        assert_int_equal(db_writers_waiting(cq), 0);
out:
        db_conn_close(cq);
        db_conn_close(ca);
        db_free(q);
        db_free(b);
        db_free(a);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_old_two_counter_database_is_carried_over),
                T(test_old_auth_only_database_gets_the_registry_tables),
                T(test_old_meta_only_database_gets_the_auth_tables),
                T(test_new_database_is_private_and_newer_ones_are_refused),
                T(test_transaction_error_is_sticky),
                T(test_statement_cache_and_checked_binds),
                T(test_concurrent_opens_of_an_old_database),
                T(test_thread_connection_is_shared_by_the_thread_only),
                T(test_values_round_trip),
                T(test_counters),
                T(test_locks_for_work_done_once),
                T(test_writers_waiting),
                T(test_lost_connection_is_reopened),
                T(test_notification_at_commit_only),
                T(test_listener_loss_moves_the_epoch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
