/* storage/db-pg.c: the PostgreSQL engine of storage/db (libpq) and its migration
 * sequence, for several berthd replicas on one database.
 *
 * Statements: the SQL of berth is written once, for both engines. At prepare the
 * engine turns SQLite's positional ?N into PostgreSQL's $N (outside quotes) and
 * drops SQLite's "INDEXED BY name" planner hints; nothing else is rewritten and
 * nothing is spliced. Statements are server-side prepared (PQprepare) once per
 * connection and executed with the values out of line: text and integers in text
 * format, blobs in binary; results come in text format (bytea decoded from hex on
 * read, booleans read as 1/0).
 *
 * Transactions: db_tx_begin is "BEGIN" plus a transaction-level advisory lock
 * that every write transaction of every replica takes: write transactions are
 * serialized as SQLite's BEGIN IMMEDIATE serializes them, so the code above keeps
 * one meaning on both engines (a read-check-write inside a transaction sees no
 * other transaction's write in between). Reads never take it. lock_timeout is the
 * one busy timeout (DB_BUSY_TIMEOUT_MS): a wait past it is BERTH_EBUSY.
 *
 * Errors, by SQLSTATE: 23505 unique → -EEXIST, 23503 foreign key → -ENOENT,
 * 40001/40P01/55P03/57014 (serialization, deadlock, lock timeout, cancel) →
 * BERTH_EBUSY (57014 is also a statement past statement_timeout, 30 s), class 08 and 57P01-57P03 (connection lost, server shutting down or
 * starting) and a connection libpq reports bad → BERTH_EDBDOWN; db.c then reopens
 * the connection on its next use. Anything else: BERTH_EDB.
 *
 * Schema: the table berth_schema holds the version; the steps below mirror
 * SQLite's one for one (same numbers, same tables and columns). TEXT columns use
 * the "C" collation so that ordering and key ranges (catalog and tag pages) are
 * byte order as on SQLite, whatever the database's locale. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/db-internal.h"

#define BYTEA_OID 17
#define BOOL_OID 16
#define TEXT_OID 25
_Static_assert(DB_BUSY_TIMEOUT_MS == 10000, "lock_timeout in pg_open follows DB_BUSY_TIMEOUT_MS");
#define PG_STATEMENT_TIMEOUT_MS "30000" /* DB_PG_STATEMENT_TIMEOUT_MS */
#define WRITE_LOCK_SQL "SELECT pg_advisory_xact_lock(7093860353087373312)" /* DB_PG_WRITE_LOCK_KEY */
_Static_assert(7093860353087373312 == ((INT64_C(1651668072) << 32) | 0), "pg_writers_waiting's classid and objid");
_Static_assert(DB_PG_WRITE_LOCK_KEY == INT64_C(7093860353087373312), "WRITE_LOCK_SQL names DB_PG_WRITE_LOCK_KEY");

typedef struct {
        PGconn *conn;
        unsigned next_stmt; /* names of prepared statements: s1, s2, ... */
        int64_t changes;
} pg_conn_t;

typedef struct {
        pg_conn_t *pc;
        char name[16];
        int nparams;
        const char **values;
        int *lengths;
        int *formats;
        char (*nums)[24]; /* the text of integer parameters */
        PGresult *res;
        int row;          /* current row; -1 before the first step */
        int nrows;
        unsigned char *blob; /* a decoded bytea column, valid until the next step */
} pg_stmt_t;

/* ---- errors ---- */

static int map_state(const char *state) {
        if (!state)
                return BERTH_EDB;
        if (strcmp(state, "23505") == 0)
                return -EEXIST;
        if (strcmp(state, "23503") == 0)
                return -ENOENT;
        if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
            strcmp(state, "57014") == 0)
                return BERTH_EBUSY;
        if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
            strcmp(state, "57P03") == 0)
                return BERTH_EDBDOWN;
        return BERTH_EDB;
}

/* The error of a result that is not what was asked (NULL: out of memory or the
 * connection is gone). Keeps libpq's message for db_last_error. */
static int result_error(pg_conn_t *pc, const PGresult *res) {
        if (PQstatus(pc->conn) == CONNECTION_BAD) {
                db__set_error(PQerrorMessage(pc->conn));
                return BERTH_EDBDOWN;
        }
        if (!res) {
                db__set_error(PQerrorMessage(pc->conn));
                return -ENOMEM;
        }
        db__set_error(PQresultErrorMessage(res));
        return map_state(PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

/* Runs a fixed script (one or several statements, no parameters). */
static int pg_exec(void *h, const char *sql) {
        pg_conn_t *pc = h;
        PGresult *res = PQexec(pc->conn, sql);
        ExecStatusType s = PQresultStatus(res);
        int r = 0;

        if (!res || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK))
                r = result_error(pc, res);
        PQclear(res);
        return r;
}

/* A one-value query with text parameters: 0 and *ret (malloc'd, NULL for SQL
 * NULL or no row), or <0. */
static int query_value(pg_conn_t *pc, const char *sql, int n, const char *const *params, char **ret) {
        PGresult *res = PQexecParams(pc->conn, sql, n, NULL, params, NULL, NULL, 0);
        int r = 0;

        *ret = NULL;
        if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
                r = result_error(pc, res);
        else if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0) &&
                 !(*ret = strdup(PQgetvalue(res, 0, 0))))
                r = -ENOMEM;
        PQclear(res);
        return r;
}

/* ---- the migration sequence (append only; never edit a step once released) ---- */

#define T "TEXT COLLATE \"C\""

static const db_migration_t MIGRATIONS[] = {
        { .sql =
        /* 1: the registry (storage/meta.c) */
        "CREATE TABLE repositories ("
        "  id   BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        "  name " T " NOT NULL UNIQUE"
        ");"
        "CREATE TABLE blobs ("
        "  digest     " T " PRIMARY KEY,"
        "  size       BIGINT NOT NULL,"
        "  created_at BIGINT NOT NULL"
        ");"
        "CREATE TABLE repo_blobs ("
        "  repo_id    BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
        "  digest     " T " NOT NULL REFERENCES blobs(digest),"
        "  created_at BIGINT NOT NULL,"
        "  PRIMARY KEY (repo_id, digest)"
        ");"
        "CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest, repo_id);"
        "CREATE TABLE manifests ("
        "  repo_id       BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
        "  digest        " T " NOT NULL REFERENCES blobs(digest),"
        "  media_type    " T " NOT NULL,"
        "  artifact_type " T ","
        "  subject       " T ","
        "  annotations   " T ","
        "  size          BIGINT NOT NULL,"
        "  created_at    BIGINT NOT NULL,"
        "  PRIMARY KEY (repo_id, digest)"
        ");"
        "CREATE INDEX manifests_by_subject ON manifests(repo_id, subject, digest)"
        "  WHERE subject IS NOT NULL;"
        "CREATE INDEX manifests_by_digest ON manifests(digest);"
        "CREATE TABLE manifest_refs ("
        "  repo_id     BIGINT NOT NULL,"
        "  manifest    " T " NOT NULL,"
        "  child       " T " NOT NULL,"
        "  is_manifest INTEGER NOT NULL,"
        "  PRIMARY KEY (repo_id, manifest, child),"
        "  FOREIGN KEY (repo_id, manifest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE"
        ");"
        "CREATE INDEX manifest_refs_by_child ON manifest_refs(child);"
        "CREATE TABLE tags ("
        "  repo_id    BIGINT NOT NULL,"
        "  name       " T " NOT NULL,"
        "  digest     " T " NOT NULL,"
        "  updated_at BIGINT NOT NULL,"
        "  PRIMARY KEY (repo_id, name),"
        "  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE"
        ");"
        "CREATE INDEX tags_by_digest ON tags(repo_id, digest);"
        "CREATE TABLE uploads ("
        "  uuid       " T " PRIMARY KEY,"
        "  repo       " T " NOT NULL,"
        "  created_at BIGINT NOT NULL"
        ");",
          .contract = true },
        { .sql =
        /* 2: users, projects, tokens, audit (auth/) */
        "CREATE TABLE auth_state("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  generation BIGINT NOT NULL DEFAULT 0,"
        "  bootstrapped INTEGER NOT NULL DEFAULT 0,"
        "  token_key BYTEA NOT NULL);"
        "CREATE TABLE auth_users("
        "  name " T " PRIMARY KEY,"
        "  hash " T " NOT NULL,"
        "  admin INTEGER NOT NULL DEFAULT 0,"
        "  created BIGINT NOT NULL);"
        "CREATE TABLE auth_projects("
        "  name " T " PRIMARY KEY,"
        "  public INTEGER NOT NULL DEFAULT 0,"
        "  created BIGINT NOT NULL);"
        "CREATE TABLE auth_members("
        "  project " T " NOT NULL REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  \"user\" " T " NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,"
        "  role INTEGER NOT NULL,"
        "  PRIMARY KEY (project, \"user\"));"
        "CREATE TABLE auth_tokens("
        "  name " T " PRIMARY KEY,"
        "  project " T " NOT NULL REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  push INTEGER NOT NULL DEFAULT 0,"
        "  mac BYTEA NOT NULL,"
        "  created BIGINT NOT NULL,"
        "  expires BIGINT NOT NULL DEFAULT 0);"
        "CREATE TABLE auth_audit("
        "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        "  ts BIGINT NOT NULL,"
        "  \"user\" " T " NOT NULL,"
        "  client " T ","
        "  action " T " NOT NULL,"
        "  repo " T ","
        "  detail " T ");"
        "CREATE INDEX auth_audit_ts ON auth_audit(ts);",
          .post = db__post_auth_state,
          .contract = true },
        { .sql =
        /* 3: webhooks (storage/webhook.c). Keys are made by the writer (the largest
         * plus one, inside the serialized write transaction): no identity sequence,
         * nothing for db_sync_keys to move after a copy. An expand step. */
        "CREATE TABLE webhooks ("
        "  id      BIGINT PRIMARY KEY,"
        "  project " T " NOT NULL,"
        "  url     " T " NOT NULL,"
        "  events  INTEGER NOT NULL,"
        "  secret  BYTEA,"
        "  created BIGINT NOT NULL);"
        "CREATE INDEX webhooks_by_project ON webhooks(project);"
        "CREATE TABLE webhook_queue ("
        "  id            BIGINT PRIMARY KEY,"
        "  webhook_id    BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
        "  event_id      " T " NOT NULL,"
        "  type          " T " NOT NULL,"
        "  repository    " T " NOT NULL,"
        "  body          " T " NOT NULL,"
        "  created       BIGINT NOT NULL,"
        "  ready         INTEGER NOT NULL,"
        "  attempts      INTEGER NOT NULL DEFAULT 0,"
        "  next_attempt  BIGINT NOT NULL,"
        "  claimed_until BIGINT NOT NULL DEFAULT 0);"
        "CREATE INDEX webhook_queue_due ON webhook_queue(ready, next_attempt, id);"
        "CREATE INDEX webhook_queue_order ON webhook_queue(webhook_id, repository, id);"
        "CREATE TABLE webhook_log ("
        "  id         BIGINT PRIMARY KEY,"
        "  webhook_id BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
        "  ts         BIGINT NOT NULL,"
        "  event_id   " T " NOT NULL,"
        "  type       " T " NOT NULL,"
        "  attempt    INTEGER NOT NULL,"
        "  status     INTEGER NOT NULL,"
        "  latency_ms BIGINT NOT NULL,"
        "  result     " T " NOT NULL,"
        "  error      " T ");"
        "CREATE INDEX webhook_log_by_webhook ON webhook_log(webhook_id, id);" },
        { .sql =
        /* 4: online garbage collection: the marks of unreferenced blobs and links,
         * and the record of runs (see storage/db-sqlite.c). An expand step. */
        "ALTER TABLE blobs ADD COLUMN unref_since BIGINT;"
        "ALTER TABLE repo_blobs ADD COLUMN unref_since BIGINT;"
        "CREATE INDEX blobs_unref ON blobs(unref_since) WHERE unref_since IS NOT NULL;"
        "CREATE INDEX repo_blobs_unref ON repo_blobs(unref_since) WHERE unref_since IS NOT NULL;"
        "CREATE TABLE gc_runs ("
        "  id           BIGINT PRIMARY KEY,"
        "  started      BIGINT NOT NULL,"
        "  finished     BIGINT,"
        "  who          " T " NOT NULL,"
        "  dry_run      INTEGER NOT NULL,"
        "  result       " T ","
        "  blobs        BIGINT NOT NULL DEFAULT 0,"
        "  bytes        BIGINT NOT NULL DEFAULT 0,"
        "  manifests    BIGINT NOT NULL DEFAULT 0,"
        "  links        BIGINT NOT NULL DEFAULT 0,"
        "  orphans      BIGINT NOT NULL DEFAULT 0,"
        "  orphan_bytes BIGINT NOT NULL DEFAULT 0,"
        "  uploads      BIGINT NOT NULL DEFAULT 0,"
        "  error        " T ");" },
        /* ---- BEGIN pull-through cache step (issue 13; step 5) ---- */
        { .sql =
        /* 5: pull-through cache (storage/proxycache.c). An expand step. */
        "CREATE TABLE proxy_projects ("
        "  project       " T " PRIMARY KEY REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  url           " T " NOT NULL,"
        "  username      " T ","
        "  password      BYTEA,"
        "  ca_file       " T ","
        "  ttl           BIGINT NOT NULL,"
        "  mirror_of     " T ","
        "  docker_mirror INTEGER NOT NULL DEFAULT 0,"
        "  created       BIGINT NOT NULL);"
        "CREATE TABLE proxy_tags ("
        "  repo    " T " NOT NULL,"
        "  tag     " T " NOT NULL,"
        "  digest  " T " NOT NULL,"
        "  checked BIGINT NOT NULL,"
        "  PRIMARY KEY (repo, tag));" },
        /* ---- END pull-through cache step ---- */
        /* ---- BEGIN usage and quotas step (issue 11; step 6) ---- */
        { .sql =
        /* 6: usage and quotas, kept by triggers (see storage/db-sqlite.c). An
         * expand step. */
        "CREATE TABLE usage_repos ("
        "  repo_id BIGINT PRIMARY KEY,"
        "  blobs   BIGINT NOT NULL DEFAULT 0,"
        "  bytes   BIGINT NOT NULL DEFAULT 0);"
        "CREATE TABLE usage_refs ("
        "  project " T " NOT NULL,"
        "  digest  " T " NOT NULL,"
        "  refs    BIGINT NOT NULL,"
        "  size    BIGINT NOT NULL,"
        "  PRIMARY KEY (project, digest));"
        "CREATE TABLE usage_projects ("
        "  project " T " PRIMARY KEY,"
        "  blobs   BIGINT NOT NULL DEFAULT 0,"
        "  bytes   BIGINT NOT NULL DEFAULT 0);"
        "CREATE TABLE quotas ("
        "  project " T " PRIMARY KEY,"
        "  quota   BIGINT);"
        "CREATE TABLE quota_default ("
        "  id    INTEGER PRIMARY KEY CHECK (id = 1),"
        "  quota BIGINT NOT NULL);"
        "INSERT INTO usage_repos(repo_id, blobs, bytes)"
        "  SELECT h.repo_id, count(*), sum(b.size) FROM (SELECT repo_id, digest FROM repo_blobs"
        "  UNION SELECT repo_id, digest FROM manifests) h JOIN blobs b ON b.digest = h.digest GROUP BY h.repo_id;"
        "INSERT INTO usage_refs(project, digest, refs, size)"
        "  SELECT split_part(r.name, '/', 1), h.digest, count(*), b.size FROM (SELECT repo_id, digest FROM repo_blobs"
        "  UNION SELECT repo_id, digest FROM manifests) h JOIN repositories r ON r.id = h.repo_id"
        "  JOIN blobs b ON b.digest = h.digest GROUP BY 1, h.digest, b.size;"
        "INSERT INTO usage_projects(project, blobs, bytes)"
        "  SELECT project, count(*), sum(size) FROM usage_refs GROUP BY project;"
        /* a hold (a repo_blobs or manifests row) begins or ends, unless the
         * repository holds the digest the other way too */
        "CREATE FUNCTION berth_usage_hold() RETURNS trigger LANGUAGE plpgsql AS $$"
        " DECLARE rid BIGINT; d TEXT; p TEXT; s BIGINT; other BOOLEAN;"
        " BEGIN"
        "  IF TG_OP = 'INSERT' THEN rid := NEW.repo_id; d := NEW.digest;"
        "  ELSE rid := OLD.repo_id; d := OLD.digest; END IF;"
        "  IF TG_TABLE_NAME = 'repo_blobs' THEN"
        "   other := EXISTS (SELECT 1 FROM manifests o WHERE o.repo_id = rid AND o.digest = d);"
        "  ELSE"
        "   other := EXISTS (SELECT 1 FROM repo_blobs o WHERE o.repo_id = rid AND o.digest = d);"
        "  END IF;"
        "  IF other THEN RETURN NULL; END IF;"
        "  SELECT split_part(r.name, '/', 1) INTO p FROM repositories r WHERE r.id = rid;"
        "  SELECT b.size INTO s FROM blobs b WHERE b.digest = d;"
        "  IF TG_OP = 'INSERT' THEN"
        "   INSERT INTO usage_repos(repo_id, blobs, bytes) VALUES (rid, 1, s) ON CONFLICT (repo_id)"
        "    DO UPDATE SET blobs = usage_repos.blobs + 1, bytes = usage_repos.bytes + excluded.bytes;"
        "   INSERT INTO usage_refs(project, digest, refs, size) VALUES (p, d, 1, s) ON CONFLICT (project, digest)"
        "    DO UPDATE SET refs = usage_refs.refs + 1;"
        "  ELSE"
        "   UPDATE usage_repos u SET blobs = u.blobs - 1, bytes = u.bytes - s WHERE u.repo_id = rid;"
        "   UPDATE usage_refs u SET refs = u.refs - 1 WHERE u.project = p AND u.digest = d;"
        "   DELETE FROM usage_refs u WHERE u.project = p AND u.digest = d AND u.refs <= 0;"
        "  END IF;"
        "  RETURN NULL;"
        " END $$;"
        "CREATE TRIGGER usage_repo_blobs_hold AFTER INSERT OR DELETE ON repo_blobs"
        "  FOR EACH ROW EXECUTE PROCEDURE berth_usage_hold();"
        "CREATE TRIGGER usage_manifests_hold AFTER INSERT OR DELETE ON manifests"
        "  FOR EACH ROW EXECUTE PROCEDURE berth_usage_hold();"
        "CREATE FUNCTION berth_usage_refs() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        "  IF TG_OP = 'INSERT' THEN"
        "   INSERT INTO usage_projects(project, blobs, bytes) VALUES (NEW.project, 1, NEW.size)"
        "    ON CONFLICT (project) DO UPDATE SET blobs = usage_projects.blobs + 1,"
        "    bytes = usage_projects.bytes + excluded.bytes;"
        "  ELSE"
        "   UPDATE usage_projects u SET blobs = u.blobs - 1, bytes = u.bytes - OLD.size"
        "    WHERE u.project = OLD.project;"
        "  END IF;"
        "  RETURN NULL;"
        " END $$;"
        "CREATE TRIGGER usage_refs_total AFTER INSERT OR DELETE ON usage_refs"
        "  FOR EACH ROW EXECUTE PROCEDURE berth_usage_refs();"
        /* a repository deleted: its holds end first, while its name says its project */
        "CREATE FUNCTION berth_usage_repo_del() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        "  DELETE FROM manifests WHERE repo_id = OLD.id;"
        "  DELETE FROM repo_blobs WHERE repo_id = OLD.id;"
        "  DELETE FROM usage_repos WHERE repo_id = OLD.id;"
        "  RETURN OLD;"
        " END $$;"
        "CREATE TRIGGER usage_repo_del BEFORE DELETE ON repositories"
        "  FOR EACH ROW EXECUTE PROCEDURE berth_usage_repo_del();" },
        /* ---- END usage and quotas step ---- */
        /* ---- BEGIN retention and immutability step (issue 11; step 7) ---- */
        { .sql =
        /* 7: retention and immutability (storage/retention.c; see
         * storage/db-sqlite.c). An expand step. */
        "CREATE TABLE manifest_pulls ("
        "  repo_id     BIGINT NOT NULL,"
        "  digest      " T " NOT NULL,"
        "  pulls       BIGINT NOT NULL,"
        "  last_pulled BIGINT NOT NULL,"
        "  PRIMARY KEY (repo_id, digest),"
        "  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE);"
        "CREATE TABLE immutable_rules ("
        "  project " T " NOT NULL,"
        "  pattern " T " NOT NULL,"
        "  created BIGINT NOT NULL,"
        "  PRIMARY KEY (project, pattern));"
        "CREATE TABLE retention_policies ("
        "  project        " T " PRIMARY KEY,"
        "  untagged_after BIGINT,"
        "  updated        BIGINT NOT NULL);"
        "CREATE TABLE retention_rules ("
        "  project " T " NOT NULL REFERENCES retention_policies(project) ON DELETE CASCADE,"
        "  seq     INTEGER NOT NULL,"
        "  kind    " T " NOT NULL,"
        "  tags    " T " NOT NULL,"
        "  repos   " T " NOT NULL,"
        "  n       BIGINT NOT NULL,"
        "  PRIMARY KEY (project, seq));"
        "CREATE TABLE retention_runs ("
        "  id        BIGINT PRIMARY KEY,"
        "  started   BIGINT NOT NULL,"
        "  finished  BIGINT,"
        "  who       " T " NOT NULL,"
        "  project   " T ","
        "  dry_run   INTEGER NOT NULL,"
        "  result    " T ","
        "  repos     BIGINT NOT NULL DEFAULT 0,"
        "  tags      BIGINT NOT NULL DEFAULT 0,"
        "  manifests BIGINT NOT NULL DEFAULT 0,"
        "  error     " T ");" },
        /* ---- END retention and immutability step ---- */
        /* ---- BEGIN management API step (issue 12; step 8) ---- */
        { .sql =
        /* 8: browser sessions of the management API (auth/session.c): the
         * SHA-256 of the session id (hex) (the id itself is only in the cookie), its
         * user (a session ends with its user) and its absolute expiry. An expand
         * step. */
        "CREATE TABLE auth_sessions ("
        "  id_hash " T " PRIMARY KEY,"
        "  \"user\" " T " NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,"
        "  created BIGINT NOT NULL,"
        "  expires BIGINT NOT NULL);"
        "CREATE INDEX auth_sessions_by_user ON auth_sessions(\"user\");"
        /* a repository's last push in the management API's lists: one index probe */
        "CREATE INDEX tags_by_time ON tags(repo_id, updated_at);" },
        /* ---- END management API step ---- */
        /* ---- BEGIN S3 chunked uploads step (issue 16; step 9) ---- */
        { .sql =
        /* 9: the state of a chunked upload whose bytes go to the object store as
         * they arrive (storage/mpupload.c), so that any replica sharing the
         * database and the bucket continues it: bytes received, the multipart
         * upload's id and its parts ("number etag" lines), the tail shorter than a
         * part kept as a temporary object (its generation and size), the running
         * hash serialized (hex; NULL: lost, re-read at the commit), and the lease
         * of the request holding it. Goes with its uploads row. An expand step. */
        "CREATE TABLE upload_sessions ("
        "  uuid       " T " PRIMARY KEY REFERENCES uploads(uuid) ON DELETE CASCADE,"
        "  alg        " T " NOT NULL,"
        "  size       BIGINT NOT NULL DEFAULT 0,"
        "  upload_id  " T " NOT NULL DEFAULT '',"
        "  parts      " T " NOT NULL DEFAULT '',"
        "  tail_gen   BIGINT NOT NULL DEFAULT 0,"
        "  tail_size  BIGINT NOT NULL DEFAULT 0,"
        "  hash       " T ","
        "  holder     " T " NOT NULL DEFAULT '',"
        "  held_until BIGINT NOT NULL DEFAULT 0,"
        "  updated_at BIGINT NOT NULL"
        ");"
        "CREATE INDEX upload_sessions_by_time ON upload_sessions(updated_at);" },
        /* ---- END S3 chunked uploads step ---- */
};

#undef T

/* ---- connections ---- */

static void quiet(void *arg, const char *message) {
        (void) arg;
        (void) message; /* NOTICEs ("... already exists, skipping") are not ours to print */
}

static void pg_close(void *h) {
        pg_conn_t *pc = h;

        if (!pc)
                return;
        PQfinish(pc->conn);
        free(pc);
}

static int connect_as(const char *target, const char *password, const char *app, void **ret) {
        /* defaults first: the URI's own settings override them; an explicit
         * password last (libpq also reads PGPASSWORD and ~/.pgpass itself) */
        const char *keys[] = { "connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
                               "keepalives_count", "dbname", password ? "password" : NULL, NULL };
        const char *vals[] = { "5", app, "10", "5", "3", target, password, NULL };
        pg_conn_t *pc;
        int r;

        pc = calloc(1, sizeof(*pc));
        if (!pc)
                return -ENOMEM;
        pc->conn = PQconnectdbParams(keys, vals, 1);
        if (!pc->conn) {
                free(pc);
                return -ENOMEM;
        }
        if (PQstatus(pc->conn) != CONNECTION_OK) {
                db__set_error(PQerrorMessage(pc->conn));
                r = PQconnectionNeedsPassword(pc->conn) || PQconnectionUsedPassword(pc->conn) ? BERTH_EAUTH
                                                                                                 : BERTH_EDBDOWN;
                pg_close(pc);
                return r;
        }
        (void) PQsetNoticeProcessor(pc->conn, quiet, NULL);
        /* the one busy timeout; a bound on every statement, so that a server that
         * takes queries and never answers cannot hold a worker thread for ever
         * (57014, BERTH_EBUSY: 503 and Retry-After); byte order for text; UTC for
         * now() in SQL */
        r = pg_exec(pc, "SET lock_timeout = 10000;" /* DB_BUSY_TIMEOUT_MS, checked below */
                        "SET statement_timeout = " PG_STATEMENT_TIMEOUT_MS ";"
                        "SET client_encoding = 'UTF8';"
                        "SET TIME ZONE 'UTC'");
        if (r < 0) {
                pg_close(pc);
                return r;
        }
        *ret = pc;
        return 0;
}

static int pg_open(const char *target, const char *password, void **ret) {
        return connect_as(target, password, "berthd", ret);
}

/* ---- change notifications ---- */

#define NOTIFY_CHANNEL "berth"

/* In the transaction: sent by the server at commit, dropped on rollback. */
static int pg_notify(void *h, const char *payload) {
        pg_conn_t *pc = h;
        const char *params[] = { payload };
        PGresult *res = PQexecParams(pc->conn, "SELECT pg_notify('" NOTIFY_CHANNEL "', $1)", 1, NULL, params,
                                     NULL, NULL, 0);
        int r = 0;

        if (PQresultStatus(res) != PGRES_TUPLES_OK)
                r = result_error(pc, res);
        PQclear(res);
        return r;
}

/* The process's listening connection (application_name berthd-listen). */
static int pg_listen_open(const char *target, const char *password, void **ret) {
        void *h = NULL;
        int r = connect_as(target, password, "berthd-listen", &h);

        if (r < 0)
                return r;
        r = pg_exec(h, "LISTEN " NOTIFY_CHANNEL);
        if (r < 0) {
                pg_close(h);
                return r;
        }
        *ret = h;
        return 0;
}

/* Sleeps in poll(2) on the socket and wake_fd: no timer, no busy loop. A closed
 * or broken socket (server restarted, session terminated) reads as end of file:
 * PQconsumeInput fails and the connection is lost. Keepalives (pg_open's
 * settings) find a peer that went away silently. */
static int pg_listen_wait(void *h, int wake_fd, void (*deliver)(const char *, void *), void *ud) {
        pg_conn_t *pc = h;
        struct pollfd p[2] = { { .fd = PQsocket(pc->conn), .events = POLLIN }, { .fd = wake_fd, .events = POLLIN } };
        PGnotify *n;

        if (p[0].fd < 0 || PQstatus(pc->conn) == CONNECTION_BAD)
                return BERTH_EDBDOWN;
        /* notifications read with the LISTEN's own answer come first */
        while ((n = PQnotifies(pc->conn))) {
                deliver(n->extra, ud);
                PQfreemem(n);
        }
        if (poll(p, 2, -1) < 0)
                return errno == EINTR ? 0 : -errno;
        if (p[1].revents)
                return 0;
        if (!PQconsumeInput(pc->conn)) {
                db__set_error(PQerrorMessage(pc->conn));
                return BERTH_EDBDOWN;
        }
        while ((n = PQnotifies(pc->conn))) {
                deliver(n->extra, ud);
                PQfreemem(n);
        }
        return PQstatus(pc->conn) == CONNECTION_BAD ? BERTH_EDBDOWN : 0;
}

static bool pg_in_tx(void *h) {
        pg_conn_t *pc = h;
        PGTransactionStatusType t = PQtransactionStatus(pc->conn);
        return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* Bad once libpq saw the connection fail; also when the server has closed an idle
 * connection since (restart, terminated session): the socket is then readable
 * (the server's last message, then end of file) and reading it marks the
 * connection bad, so that db.c reopens it before use rather than failing the
 * next request. One poll(2) per db_conn_get. */
static bool pg_broken(void *h) {
        pg_conn_t *pc = h;
        struct pollfd p = { .fd = PQsocket(pc->conn), .events = POLLIN };

        if (PQstatus(pc->conn) == CONNECTION_BAD)
                return true;
        /* the server's message and the end of file may come in two reads */
        for (int i = 0; i < 4 && p.fd >= 0 && !pg_in_tx(pc) && poll(&p, 1, 0) > 0; i++)
                if (!PQconsumeInput(pc->conn))
                        break;
        return PQstatus(pc->conn) == CONNECTION_BAD;
}

static int pg_begin(void *h) {
        pg_conn_t *pc = h;
        int r = pg_exec(pc, "BEGIN; " WRITE_LOCK_SQL);

        if (r < 0 && pg_in_tx(pc))
                (void) pg_exec(pc, "ROLLBACK");
        return r;
}

static int pg_commit(void *h) {
        pg_conn_t *pc = h;

        /* COMMIT of a failed transaction "succeeds" as a rollback: not ours */
        if (PQtransactionStatus(pc->conn) == PQTRANS_INERROR) {
                (void) pg_exec(pc, "ROLLBACK");
                db__set_error("transaction failed before commit");
                return BERTH_EDB;
        }
        return pg_exec(pc, "COMMIT");
}

static int pg_rollback(void *h) {
        return pg_exec(h, "ROLLBACK");
}

static int64_t pg_changes(void *h) {
        pg_conn_t *pc = h;
        return pc->changes;
}

/* ---- statements ---- */

/* SQLite's SQL as PostgreSQL takes it: ?N → $N outside quotes, "INDEXED BY name"
 * dropped. *nparams: the highest N. A bare "?" (no number) is refused: berth's SQL
 * numbers every parameter. */
static int translate(const char *sql, char **ret, int *nparams, Oid **ret_types) {
        static const char hint[] = "INDEXED BY ";
        size_t n = strlen(sql);
        char *out = malloc(n + 1), *o = out;
        char quote = 0;
        int max = 0;
        bool used[1000] = { false };

        if (!out)
                return -ENOMEM;
        for (const char *p = sql; *p;) {
                if (quote) {
                        if (*p == quote)
                                quote = 0;
                        *o++ = *p++;
                } else if (*p == '\'' || *p == '"') {
                        quote = *p;
                        *o++ = *p++;
                } else if (*p == '?') {
                        long v;
                        char *end;

                        if (p[1] < '0' || p[1] > '9') {
                                free(out);
                                return -EINVAL;
                        }
                        v = strtol(p + 1, &end, 10);
                        if (v < 1 || v > 999) {
                                free(out);
                                return -EINVAL;
                        }
                        if (v > max)
                                max = (int) v;
                        used[v] = true;
                        *o++ = '$';
                        memcpy(o, p + 1, (size_t) (end - p - 1));
                        o += end - p - 1;
                        p = end;
                } else if (strncmp(p, hint, sizeof(hint) - 1) == 0 && (p == sql || p[-1] == ' ')) {
                        p += sizeof(hint) - 1;
                        while (*p && *p != ' ')
                                p++;
                } else {
                        *o++ = *p++;
                }
        }
        *o = '\0';
        /* a number the statement skips (?1, ?3: no ?2) has no use to infer its type
         * from: text, which its NULL or any value fits; the others are the server's
         * to infer (0) */
        *ret_types = calloc(max > 0 ? (size_t) max : 1, sizeof(Oid));
        if (!*ret_types) {
                free(out);
                return -ENOMEM;
        }
        for (int i = 1; i <= max; i++)
                if (!used[i])
                        (*ret_types)[i - 1] = TEXT_OID;
        *ret = out;
        *nparams = max;
        return 0;
}

static void pg_finalize(void *h) {
        pg_stmt_t *st = h;

        if (!st)
                return;
        PQclear(st->res);
        free(st->blob);
        free(st->values);
        free(st->lengths);
        free(st->formats);
        free(st->nums);
        free(st);
}

static int pg_prepare(void *h, const char *sql, void **ret) {
        pg_conn_t *pc = h;
        pg_stmt_t *st;
        PGresult *res;
        char *q = NULL;
        Oid *types = NULL;
        int n, r;

        r = translate(sql, &q, &n, &types);
        if (r < 0)
                return r;
        st = calloc(1, sizeof(*st));
        if (!st) {
                free(q);
                free(types);
                return -ENOMEM;
        }
        st->pc = pc;
        st->nparams = n;
        st->row = -1;
        if (n > 0) {
                st->values = calloc((size_t) n, sizeof(*st->values));
                st->lengths = calloc((size_t) n, sizeof(*st->lengths));
                st->formats = calloc((size_t) n, sizeof(*st->formats));
                st->nums = calloc((size_t) n, sizeof(*st->nums));
                if (!st->values || !st->lengths || !st->formats || !st->nums) {
                        free(q);
                        free(types);
                        pg_finalize(st);
                        return -ENOMEM;
                }
        }
        (void) snprintf(st->name, sizeof(st->name), "s%u", ++pc->next_stmt);
        res = PQprepare(pc->conn, st->name, q, n, types);
        free(q);
        free(types);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                r = result_error(pc, res);
                PQclear(res);
                pg_finalize(st);
                return r;
        }
        PQclear(res);
        *ret = st;
        return 0;
}

static void pg_reset(void *h) {
        pg_stmt_t *st = h;

        PQclear(st->res);
        st->res = NULL;
        free(st->blob);
        st->blob = NULL;
        st->row = -1;
        st->nrows = 0;
        for (int i = 0; i < st->nparams; i++) {
                st->values[i] = NULL;
                st->lengths[i] = 0;
                st->formats[i] = 0;
        }
}

static int param(pg_stmt_t *st, int i) {
        return i >= 1 && i <= st->nparams && !st->res ? i - 1 : -1;
}

static int pg_bind_null(void *h, int i) {
        pg_stmt_t *st = h;
        int k = param(st, i);

        if (k < 0)
                return BERTH_EDB;
        st->values[k] = NULL;
        return 0;
}

static int pg_bind_int(void *h, int i, int64_t v) {
        pg_stmt_t *st = h;
        int k = param(st, i);

        if (k < 0)
                return BERTH_EDB;
        (void) snprintf(st->nums[k], sizeof(st->nums[k]), "%" PRId64, v);
        st->values[k] = st->nums[k];
        st->formats[k] = 0;
        return 0;
}

static int pg_bind_text(void *h, int i, const char *s) {
        pg_stmt_t *st = h;
        int k = param(st, i);

        if (k < 0)
                return BERTH_EDB;
        st->values[k] = s; /* db.h: kept alive by the caller until the reset */
        st->formats[k] = 0;
        return 0;
}

static int pg_bind_blob(void *h, int i, const void *p, size_t len) {
        pg_stmt_t *st = h;
        int k = param(st, i);

        if (k < 0)
                return BERTH_EDB;
        if (len > INT32_MAX)
                return BERTH_ETOOBIG;
        st->values[k] = p ? p : ""; /* an empty blob is not NULL */
        st->lengths[k] = (int) len;
        st->formats[k] = 1;
        return 0;
}

static int pg_step(void *h) {
        pg_stmt_t *st = h;
        ExecStatusType s;
        const char *n;

        free(st->blob);
        st->blob = NULL;
        if (st->res)
                return ++st->row < st->nrows ? 1 : 0;
        st->res = PQexecPrepared(st->pc->conn, st->name, st->nparams, st->values, st->lengths, st->formats, 0);
        s = PQresultStatus(st->res);
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
                int r = result_error(st->pc, st->res);
                PQclear(st->res);
                st->res = NULL;
                return r;
        }
        n = PQcmdTuples(st->res);
        st->pc->changes = n && *n ? strtoll(n, NULL, 10) : 0;
        st->nrows = PQntuples(st->res);
        st->row = 0;
        return st->nrows > 0 ? 1 : 0;
}

static int pg_param_count(void *h) {
        pg_stmt_t *st = h;
        return st->nparams;
}

static bool have_col(pg_stmt_t *st, int col) {
        return st->res && st->row >= 0 && st->row < st->nrows && col >= 0 && col < PQnfields(st->res);
}

static bool pg_col_null(void *h, int col) {
        pg_stmt_t *st = h;
        return !have_col(st, col) || PQgetisnull(st->res, st->row, col);
}

static int64_t pg_col_int(void *h, int col) {
        pg_stmt_t *st = h;
        const char *v;

        if (pg_col_null(st, col))
                return 0;
        v = PQgetvalue(st->res, st->row, col);
        if (PQftype(st->res, col) == BOOL_OID)
                return v[0] == 't';
        return strtoll(v, NULL, 10);
}

static const char *pg_col_text(void *h, int col) {
        pg_stmt_t *st = h;
        return pg_col_null(st, col) ? NULL : PQgetvalue(st->res, st->row, col);
}

static const void *pg_col_blob(void *h, int col, size_t *ret_len) {
        pg_stmt_t *st = h;
        const char *v;
        size_t n = 0;

        if (ret_len)
                *ret_len = 0;
        if (pg_col_null(st, col))
                return NULL;
        v = PQgetvalue(st->res, st->row, col);
        if (PQftype(st->res, col) != BYTEA_OID) {
                if (ret_len)
                        *ret_len = (size_t) PQgetlength(st->res, st->row, col);
                return v;
        }
        free(st->blob);
        st->blob = PQunescapeBytea((const unsigned char *) v, &n);
        if (!st->blob)
                return NULL;
        if (ret_len)
                *ret_len = n;
        return st->blob;
}

/* ---- schema version ---- */

static int pg_version_get(void *h, int *ret) {
        pg_conn_t *pc = h;
        char *v = NULL;
        int r;

        *ret = 0;
        r = query_value(pc, "SELECT to_regclass('berth_schema') IS NOT NULL", 0, NULL, &v);
        if (r < 0)
                return r;
        if (!v || v[0] != 't') {
                free(v);
                return 0;
        }
        free(v);
        r = query_value(pc, "SELECT version FROM berth_schema WHERE id = 1", 0, NULL, &v);
        if (r == 0 && v)
                *ret = (int) strtol(v, NULL, 10);
        free(v);
        return r;
}

/* berth_schema.compat: the last contract step applied (db-internal.h). */
static int pg_compat_get(void *h, int *ret) {
        pg_conn_t *pc = h;
        char *v = NULL;
        int r;

        *ret = 0;
        r = query_value(pc, "SELECT compat FROM berth_schema WHERE id = 1", 0, NULL, &v);
        if (r == 0 && v)
                *ret = (int) strtol(v, NULL, 10);
        free(v);
        return r;
}

static int pg_version_set(void *h, int v, int compat) {
        pg_conn_t *pc = h;
        char num[16], cnum[16], *out = NULL;
        const char *params[] = { num, cnum };
        int r;

        if (v < 0 || compat < 0)
                return -EINVAL;
        r = pg_exec(pc, "CREATE TABLE IF NOT EXISTS berth_schema ("
                        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                        "  version INTEGER NOT NULL,"
                        "  compat INTEGER NOT NULL)");
        if (r < 0)
                return r;
        (void) snprintf(num, sizeof(num), "%d", v);
        (void) snprintf(cnum, sizeof(cnum), "%d", compat);
        r = query_value(pc, "INSERT INTO berth_schema(id, version, compat) VALUES (1, $1::integer, $2::integer)"
                            " ON CONFLICT (id) DO UPDATE SET version = excluded.version, compat = excluded.compat",
                        2, params, &out);
        free(out);
        return r;
}

/* ---- locks for work done once ---- */

static int pg_lock_try(void *h, int64_t key) {
        pg_conn_t *pc = h;
        char num[24], *v = NULL;
        const char *params[] = { num };
        int r;

        (void) snprintf(num, sizeof(num), "%" PRId64, key);
        r = query_value(pc, "SELECT pg_try_advisory_lock($1::bigint)", 1, params, &v);
        if (r == 0)
                r = v && v[0] == 't';
        free(v);
        return r;
}

static void pg_unlock(void *h, int64_t key) {
        pg_conn_t *pc = h;
        char num[24], *v = NULL;
        const char *params[] = { num };

        (void) snprintf(num, sizeof(num), "%" PRId64, key);
        (void) query_value(pc, "SELECT pg_advisory_unlock($1::bigint)", 1, params, &v);
        free(v);
}

/* Sessions waiting for WRITE_LOCK_SQL's transaction lock: pg_locks splits a bigint
 * advisory key into classid (high half) and objid (low half), objsubid 1. */
static int pg_writers_waiting(void *h) {
        char *v = NULL;
        long n;
        int r;

        r = query_value(h,
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                        " AND classid = 1651668072 AND objid = 0 AND objsubid = 1",
                        0, NULL, &v);
        if (r == 0) {
                n = v ? strtol(v, NULL, 10) : 0;
                r = n < 0 ? 0 : n > 1000000 ? 1000000 : (int) n;
        }
        free(v);
        return r;
}

static int pg_sync_keys(void *h) {
        return pg_exec(h, "SELECT setval(pg_get_serial_sequence('repositories', 'id'),"
                          "  coalesce((SELECT max(id) FROM repositories), 0) + 1, false);"
                          "SELECT setval(pg_get_serial_sequence('auth_audit', 'id'),"
                          "  coalesce((SELECT max(id) FROM auth_audit), 0) + 1, false)");
}

/* ---- plans ---- */

/* The generic plan (the one the server uses for any parameter values): the
 * statement is prepared, explained with NULL parameters under
 * plan_cache_mode = force_generic_plan, and deallocated. */
static int pg_explain(void *h, const char *sql, int (*line)(const char *, void *), void *userdata) {
        pg_conn_t *pc = h;
        char *q = NULL, *ex = NULL;
        Oid *types = NULL;
        PGresult *res;
        int n, r;
        size_t len;

        r = translate(sql, &q, &n, &types);
        if (r < 0)
                return r;
        res = PQprepare(pc->conn, "berth_explain", q, n, types);
        free(q);
        free(types);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                r = result_error(pc, res);
                PQclear(res);
                return r;
        }
        PQclear(res);
        /* EXPLAIN EXECUTE berth_explain(NULL, NULL, ...): our own text, no input */
        len = 64 + (size_t) n * 6;
        ex = malloc(len);
        if (!ex) {
                r = -ENOMEM;
                goto done;
        }
        strcpy(ex, "EXPLAIN EXECUTE berth_explain");
        for (int i = 0; i < n; i++)
                strcat(ex, i == 0 ? "(NULL" : ", NULL");
        if (n > 0)
                strcat(ex, ")");
        r = pg_exec(pc, "SET plan_cache_mode = force_generic_plan");
        if (r < 0)
                goto done;
        res = PQexec(pc->conn, ex);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
                r = result_error(pc, res);
        for (int i = 0; r == 0 && i < PQntuples(res); i++)
                r = line(PQgetvalue(res, i, 0), userdata);
        PQclear(res);
        (void) pg_exec(pc, "RESET plan_cache_mode");
done:
        free(ex);
        (void) pg_exec(pc, "DEALLOCATE berth_explain");
        return r;
}

const db_engine_t db_engine_pg = {
        .name = "postgresql",
        .shared = true,
        .open = pg_open,
        .close = pg_close,
        .broken = pg_broken,
        .exec = pg_exec,
        .begin = pg_begin,
        .commit = pg_commit,
        .rollback = pg_rollback,
        .in_tx = pg_in_tx,
        .changes = pg_changes,
        .prepare = pg_prepare,
        .finalize = pg_finalize,
        .reset = pg_reset,
        .bind_null = pg_bind_null,
        .bind_int = pg_bind_int,
        .bind_text = pg_bind_text,
        .bind_blob = pg_bind_blob,
        .step = pg_step,
        .param_count = pg_param_count,
        .col_null = pg_col_null,
        .col_int = pg_col_int,
        .col_text = pg_col_text,
        .col_blob = pg_col_blob,
        .version_get = pg_version_get,
        .version_set = pg_version_set,
        .compat_get = pg_compat_get,
        .adopt = NULL,
        .sync_keys = pg_sync_keys,
        .lock_try = pg_lock_try,
        .unlock = pg_unlock,
        .writers_waiting = pg_writers_waiting,
        .explain = pg_explain,
        .notify = pg_notify,
        .listen_open = pg_listen_open,
        .listen_wait = pg_listen_wait,
        /* a step may take long on a large database: no statement timeout */
        .migration_setup = "SET LOCAL statement_timeout = 0",
        .migrations = MIGRATIONS,
        .n_migrations = ELEMENTSOF(MIGRATIONS),
};
