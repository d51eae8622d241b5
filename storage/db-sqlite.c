/* storage/db-sqlite.c: the SQLite engine of storage/db and its migration sequence.
 *
 * Connections: WAL, synchronous=FULL, foreign keys on, one busy timeout
 * (DB_BUSY_TIMEOUT_MS), extended result codes. NORMAL in WAL mode never corrupts
 * the database, but a power loss may roll back the last transactions, and a
 * registry must not lose a manifest push it has acknowledged: FULL costs one WAL
 * fsync per write transaction, small next to the fsyncs a blob commit does.
 *
 * The schema version is `PRAGMA user_version`. Releases before the one layer kept
 * two counters: storage's user_version (1: the registry tables) and auth's own
 * `auth_schema` table (1: the auth_ tables). Their two first steps are steps 1 and
 * 2 of the one sequence here; adopt() carries such a database over once. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/db-internal.h"

/* SQLite code → the error space: a lock held past the busy timeout is BERTH_EBUSY
 * (the caller may retry), everything else BERTH_EDB. */
static int map_rc(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return BERTH_EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        default:
                return BERTH_EDB;
        }
}

static int err_rc(int rc) {
        int r = map_rc(rc);
        return r ? r : BERTH_EDB;
}

/* ---- the migration sequence (append only; never edit a step once released) ---- */

/* usage and quotas (step 6): the project of a repository name (its first path
 * component), and the triggers of one holding table T (OTHER: the other one) */
#define SQ_PROJECT(n) "CASE WHEN instr(" n ", '/') > 0 THEN substr(" n ", 1, instr(" n ", '/') - 1) ELSE " n " END"
#define SQ_HOLD(T, OTHER)                                                                                   \
        "CREATE TRIGGER usage_" T "_add AFTER INSERT ON " T                                                   \
        " WHEN NOT EXISTS (SELECT 1 FROM " OTHER " o WHERE o.repo_id = NEW.repo_id AND o.digest = NEW.digest)" \
        " BEGIN"                                                                                            \
        "  INSERT INTO usage_repos(repo_id, blobs, bytes)"                                                   \
        "  SELECT NEW.repo_id, 1, b.size FROM blobs b WHERE b.digest = NEW.digest"                           \
        "  ON CONFLICT(repo_id) DO UPDATE SET blobs = usage_repos.blobs + 1,"                                \
        "  bytes = usage_repos.bytes + excluded.bytes;"                                                      \
        "  INSERT INTO usage_refs(project, digest, refs, size)"                                              \
        "  SELECT " SQ_PROJECT("r.name") ", NEW.digest, 1, b.size FROM repositories r, blobs b"              \
        "  WHERE r.id = NEW.repo_id AND b.digest = NEW.digest"                                               \
        "  ON CONFLICT(project, digest) DO UPDATE SET refs = usage_refs.refs + 1;"                           \
        " END;"                                                                                             \
        "CREATE TRIGGER usage_" T "_del AFTER DELETE ON " T                                                   \
        " WHEN NOT EXISTS (SELECT 1 FROM " OTHER " o WHERE o.repo_id = OLD.repo_id AND o.digest = OLD.digest)" \
        " BEGIN"                                                                                            \
        "  UPDATE usage_repos SET blobs = blobs - 1,"                                                        \
        "  bytes = bytes - (SELECT size FROM blobs WHERE digest = OLD.digest) WHERE repo_id = OLD.repo_id;"  \
        "  UPDATE usage_refs SET refs = refs - 1 WHERE digest = OLD.digest AND project ="                    \
        "  (SELECT " SQ_PROJECT("r.name") " FROM repositories r WHERE r.id = OLD.repo_id);"                  \
        "  DELETE FROM usage_refs WHERE digest = OLD.digest AND refs <= 0 AND project ="                     \
        "  (SELECT " SQ_PROJECT("r.name") " FROM repositories r WHERE r.id = OLD.repo_id);"                  \
        " END;"

static const db_migration_t MIGRATIONS[] = {
        { .sql =
        /* 1: the registry (storage/meta.c), as storage created it at user_version 1 */
        "CREATE TABLE repositories ("
        "  id   INTEGER PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE"               /* catalog pages: range scan */
        ");"
        "CREATE TABLE blobs ("
        "  digest     TEXT PRIMARY KEY,"
        "  size       INTEGER NOT NULL,"
        "  created_at INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "CREATE TABLE repo_blobs ("
        "  repo_id    INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
        "  digest     TEXT NOT NULL REFERENCES blobs(digest),"
        "  created_at INTEGER NOT NULL,"
        "  PRIMARY KEY (repo_id, digest)"
        ") WITHOUT ROWID;"
        "CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest, repo_id);"
        "CREATE TABLE manifests ("
        "  repo_id       INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
        "  digest        TEXT NOT NULL REFERENCES blobs(digest),"
        "  media_type    TEXT NOT NULL,"
        "  artifact_type TEXT,"
        "  subject       TEXT,"
        "  annotations   TEXT,"
        "  size          INTEGER NOT NULL,"
        "  created_at    INTEGER NOT NULL,"
        "  PRIMARY KEY (repo_id, digest)"
        ") WITHOUT ROWID;"
        "CREATE INDEX manifests_by_subject ON manifests(repo_id, subject, digest)"
        "  WHERE subject IS NOT NULL;"
        "CREATE INDEX manifests_by_digest ON manifests(digest);"
        "CREATE TABLE manifest_refs ("
        "  repo_id     INTEGER NOT NULL,"
        "  manifest    TEXT NOT NULL,"
        "  child       TEXT NOT NULL,"
        "  is_manifest INTEGER NOT NULL,"
        "  PRIMARY KEY (repo_id, manifest, child),"
        "  FOREIGN KEY (repo_id, manifest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE"
        ") WITHOUT ROWID;"
        "CREATE INDEX manifest_refs_by_child ON manifest_refs(child);"
        "CREATE TABLE tags ("
        "  repo_id    INTEGER NOT NULL,"
        "  name       TEXT NOT NULL,"
        "  digest     TEXT NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  PRIMARY KEY (repo_id, name),"            /* tags/list pages: range scan */
        "  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE"
        ") WITHOUT ROWID;"
        "CREATE INDEX tags_by_digest ON tags(repo_id, digest);"
        "CREATE TABLE uploads ("
        "  uuid       TEXT PRIMARY KEY,"
        "  repo       TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL"
        ") WITHOUT ROWID;",
          .contract = true },
        { .sql =
        /* 2: users, projects, tokens, audit (auth/), as auth_schema version 1 */
        "CREATE TABLE auth_state("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  generation INTEGER NOT NULL DEFAULT 0,"
        "  bootstrapped INTEGER NOT NULL DEFAULT 0,"
        "  token_key BLOB NOT NULL);"
        "CREATE TABLE auth_users("
        "  name TEXT PRIMARY KEY,"
        "  hash TEXT NOT NULL,"
        "  admin INTEGER NOT NULL DEFAULT 0,"
        "  created INTEGER NOT NULL);"
        "CREATE TABLE auth_projects("
        "  name TEXT PRIMARY KEY,"
        "  public INTEGER NOT NULL DEFAULT 0,"
        "  created INTEGER NOT NULL);"
        "CREATE TABLE auth_members("
        "  project TEXT NOT NULL REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  user TEXT NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,"
        "  role INTEGER NOT NULL,"
        "  PRIMARY KEY (project, user));"
        "CREATE TABLE auth_tokens("
        "  name TEXT PRIMARY KEY,"
        "  project TEXT NOT NULL REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  push INTEGER NOT NULL DEFAULT 0,"
        "  mac BLOB NOT NULL,"
        "  created INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE auth_audit("
        "  id INTEGER PRIMARY KEY,"
        "  ts INTEGER NOT NULL,"
        "  user TEXT NOT NULL,"
        "  client TEXT,"
        "  action TEXT NOT NULL,"
        "  repo TEXT,"
        "  detail TEXT);"
        "CREATE INDEX auth_audit_ts ON auth_audit(ts);",
          .post = db__post_auth_state,
          .contract = true },
        { .sql =
        /* 3: webhooks (storage/webhook.c): the targets, the durable delivery queue
         * (rows written in the transaction of the change they tell of) and the
         * delivery log. Keys are made by the writer (the largest plus one, inside
         * the serialized write transaction), as SQLite does for an INTEGER PRIMARY
         * KEY: no key generator to carry over in a copy. An expand step. */
        "CREATE TABLE webhooks ("
        "  id      INTEGER PRIMARY KEY,"
        "  project TEXT NOT NULL,"                 /* a namespace, or '*': every one */
        "  url     TEXT NOT NULL,"
        "  events  INTEGER NOT NULL,"              /* push 1, delete 2, pull 4, quota 8 */
        "  secret  BLOB,"                          /* sealed (common/secretbox.h); NULL: none */
        "  created INTEGER NOT NULL);"
        "CREATE INDEX webhooks_by_project ON webhooks(project);"
        "CREATE TABLE webhook_queue ("
        "  id            INTEGER PRIMARY KEY,"     /* the order of events */
        "  webhook_id    INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
        "  event_id      TEXT NOT NULL,"
        "  type          TEXT NOT NULL,"
        "  repository    TEXT NOT NULL,"
        "  body          TEXT NOT NULL,"
        "  created       INTEGER NOT NULL,"
        "  ready         INTEGER NOT NULL,"        /* 1: first of its webhook and repository */
        "  attempts      INTEGER NOT NULL DEFAULT 0,"
        "  next_attempt  INTEGER NOT NULL,"
        "  claimed_until INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX webhook_queue_due ON webhook_queue(ready, next_attempt, id);"
        "CREATE INDEX webhook_queue_order ON webhook_queue(webhook_id, repository, id);"
        "CREATE TABLE webhook_log ("
        "  id         INTEGER PRIMARY KEY,"
        "  webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
        "  ts         INTEGER NOT NULL,"
        "  event_id   TEXT NOT NULL,"
        "  type       TEXT NOT NULL,"
        "  attempt    INTEGER NOT NULL,"
        "  status     INTEGER NOT NULL,"           /* the HTTP status; 0: no answer */
        "  latency_ms INTEGER NOT NULL,"
        "  result     TEXT NOT NULL,"              /* success, failure, gaveup */
        "  error      TEXT);"
        "CREATE INDEX webhook_log_by_webhook ON webhook_log(webhook_id, id);" },
        { .sql =
        /* 4: online garbage collection (storage/meta.c, storage/registry.c). A blob
         * row's or a repository link's unref_since is the time a GC run saw it
         * unreferenced (NULL: referenced, or not looked at yet); every statement
         * that adds a reference clears it in its own transaction, so a mark older
         * than the grace period means nothing referenced it since. gc_runs: one
         * row per run (finished NULL while it runs, or when it was killed). Keys
         * made by the writer, as for the webhooks. An expand step. */
        "ALTER TABLE blobs ADD COLUMN unref_since INTEGER;"
        "ALTER TABLE repo_blobs ADD COLUMN unref_since INTEGER;"
        "CREATE INDEX blobs_unref ON blobs(unref_since) WHERE unref_since IS NOT NULL;"
        "CREATE INDEX repo_blobs_unref ON repo_blobs(unref_since) WHERE unref_since IS NOT NULL;"
        "CREATE TABLE gc_runs ("
        "  id           INTEGER PRIMARY KEY,"
        "  started      INTEGER NOT NULL,"
        "  finished     INTEGER,"                 /* NULL: running, or interrupted */
        "  who          TEXT NOT NULL,"
        "  dry_run      INTEGER NOT NULL,"
        "  result       TEXT,"                    /* ok, failed */
        "  blobs        INTEGER NOT NULL DEFAULT 0,"
        "  bytes        INTEGER NOT NULL DEFAULT 0,"
        "  manifests    INTEGER NOT NULL DEFAULT 0,"
        "  links        INTEGER NOT NULL DEFAULT 0,"
        "  orphans      INTEGER NOT NULL DEFAULT 0,"
        "  orphan_bytes INTEGER NOT NULL DEFAULT 0,"
        "  uploads      INTEGER NOT NULL DEFAULT 0,"
        "  error        TEXT);" },
        /* ---- BEGIN pull-through cache step (issue 13; step 5) ---- */
        { .sql =
        /* 5: pull-through cache (storage/proxycache.c): the upstream of a proxy
         * project, and when each cached tag was last fetched or revalidated. An
         * expand step. */
        "CREATE TABLE proxy_projects ("
        "  project       TEXT PRIMARY KEY REFERENCES auth_projects(name) ON DELETE CASCADE,"
        "  url           TEXT NOT NULL,"           /* https://host[:port] or http://... */
        "  username      TEXT,"
        "  password      BLOB,"                    /* sealed (common/secretbox.h); NULL: none */
        "  ca_file       TEXT,"
        "  ttl           INTEGER NOT NULL,"        /* seconds a tag is served without asking */
        "  mirror_of     TEXT,"                    /* the ns host it mirrors; NULL: the url's */
        "  docker_mirror INTEGER NOT NULL DEFAULT 0,"
        "  created       INTEGER NOT NULL);"
        "CREATE TABLE proxy_tags ("
        "  repo    TEXT NOT NULL,"
        "  tag     TEXT NOT NULL,"
        "  digest  TEXT NOT NULL,"
        "  checked INTEGER NOT NULL,"              /* unix seconds of the last fetch or HEAD */
        "  PRIMARY KEY (repo, tag)) WITHOUT ROWID;" },
        /* ---- END pull-through cache step ---- */
        /* ---- BEGIN usage and quotas step (issue 11; step 6) ---- */
        { .sql =
        /* 6: usage and quotas (storage/usage.c). A repository "holds" a digest
         * when it links it (repo_blobs) or stores it as a manifest (manifests).
         * usage_repos: per repository, the distinct digests it holds and their
         * size; usage_refs: per project (the first path component of the name)
         * and digest, how many of its repositories hold it; usage_projects: per
         * project, its usage_refs rows and their size (a blob counts once however
         * many repositories hold it). Kept by the triggers below in the very
         * statement that adds or removes a hold, whatever writes it (push, mount,
         * manifest put, delete, GC, fsck repair, a cascade): never recounted.
         * quotas: a project's own quota (quota NULL: none); a project without a
         * row has the default (quota_default, one row or none). An expand step. */
        "CREATE TABLE usage_repos ("
        "  repo_id INTEGER PRIMARY KEY,"
        "  blobs   INTEGER NOT NULL DEFAULT 0,"
        "  bytes   INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE usage_refs ("
        "  project TEXT NOT NULL,"
        "  digest  TEXT NOT NULL,"
        "  refs    INTEGER NOT NULL,"
        "  size    INTEGER NOT NULL,"
        "  PRIMARY KEY (project, digest)) WITHOUT ROWID;"
        "CREATE TABLE usage_projects ("
        "  project TEXT PRIMARY KEY,"
        "  blobs   INTEGER NOT NULL DEFAULT 0,"
        "  bytes   INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
        "CREATE TABLE quotas ("
        "  project TEXT PRIMARY KEY,"
        "  quota   INTEGER) WITHOUT ROWID;"             /* bytes; NULL: none */
        "CREATE TABLE quota_default ("
        "  id    INTEGER PRIMARY KEY CHECK (id = 1),"
        "  quota INTEGER NOT NULL);"
        /* what the registry holds now */
        "INSERT INTO usage_repos(repo_id, blobs, bytes)"
        "  SELECT h.repo_id, count(*), sum(b.size) FROM (SELECT repo_id, digest FROM repo_blobs"
        "  UNION SELECT repo_id, digest FROM manifests) h JOIN blobs b ON b.digest = h.digest GROUP BY h.repo_id;"
        "INSERT INTO usage_refs(project, digest, refs, size)"
        "  SELECT " SQ_PROJECT("r.name") ", h.digest, count(*), b.size FROM (SELECT repo_id, digest FROM repo_blobs"
        "  UNION SELECT repo_id, digest FROM manifests) h JOIN repositories r ON r.id = h.repo_id"
        "  JOIN blobs b ON b.digest = h.digest GROUP BY 1, h.digest, b.size;"
        "INSERT INTO usage_projects(project, blobs, bytes)"
        "  SELECT project, count(*), sum(size) FROM usage_refs GROUP BY project;"
        /* a hold begins or ends */
        SQ_HOLD("repo_blobs", "manifests")
        SQ_HOLD("manifests", "repo_blobs")
        "CREATE TRIGGER usage_refs_add AFTER INSERT ON usage_refs BEGIN"
        "  INSERT INTO usage_projects(project, blobs, bytes) VALUES (NEW.project, 1, NEW.size)"
        "  ON CONFLICT(project) DO UPDATE SET blobs = usage_projects.blobs + 1,"
        "  bytes = usage_projects.bytes + excluded.bytes;"
        " END;"
        "CREATE TRIGGER usage_refs_del AFTER DELETE ON usage_refs BEGIN"
        "  UPDATE usage_projects SET blobs = blobs - 1, bytes = bytes - OLD.size WHERE project = OLD.project;"
        " END;"
        /* a repository deleted: its holds end first, while its name is there to
         * say its project (the cascade then finds nothing left) */
        "CREATE TRIGGER usage_repo_del BEFORE DELETE ON repositories BEGIN"
        "  DELETE FROM manifests WHERE repo_id = OLD.id;"
        "  DELETE FROM repo_blobs WHERE repo_id = OLD.id;"
        "  DELETE FROM usage_repos WHERE repo_id = OLD.id;"
        " END;" },
        /* ---- END usage and quotas step ---- */
        /* ---- BEGIN retention and immutability step (issue 11; step 7) ---- */
        { .sql =
        /* 7: retention and immutability (storage/retention.c). manifest_pulls: the
         * pulls of each manifest, added in batches by the servers (a row per
         * manifest ever pulled; it goes with its manifest). immutable_rules: tag
         * patterns a push may not move and a delete may not remove. A project's
         * retention policy and its keep rules (seq: their order), and the record of
         * retention runs (keys made by the writer, as for gc_runs). An expand step. */
        "CREATE TABLE manifest_pulls ("
        "  repo_id     INTEGER NOT NULL,"
        "  digest      TEXT NOT NULL,"
        "  pulls       INTEGER NOT NULL,"
        "  last_pulled INTEGER NOT NULL,"         /* unix seconds */
        "  PRIMARY KEY (repo_id, digest),"
        "  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE"
        ") WITHOUT ROWID;"
        "CREATE TABLE immutable_rules ("
        "  project TEXT NOT NULL,"
        "  pattern TEXT NOT NULL,"                /* a glob on tag names */
        "  created INTEGER NOT NULL,"
        "  PRIMARY KEY (project, pattern)) WITHOUT ROWID;"
        "CREATE TABLE retention_policies ("
        "  project        TEXT PRIMARY KEY,"
        "  untagged_after INTEGER,"               /* seconds; NULL: untagged manifests left alone */
        "  updated        INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE retention_rules ("
        "  project TEXT NOT NULL REFERENCES retention_policies(project) ON DELETE CASCADE,"
        "  seq     INTEGER NOT NULL,"
        "  kind    TEXT NOT NULL,"                /* last-pushed, last-pulled, pushed-within, pulled-within, always */
        "  tags    TEXT NOT NULL,"                /* a glob on tag names */
        "  repos   TEXT NOT NULL,"                /* a glob on repository names */
        "  n       INTEGER NOT NULL,"             /* a count or seconds */
        "  PRIMARY KEY (project, seq)) WITHOUT ROWID;"
        "CREATE TABLE retention_runs ("
        "  id        INTEGER PRIMARY KEY,"
        "  started   INTEGER NOT NULL,"
        "  finished  INTEGER,"                    /* NULL: running, or interrupted */
        "  who       TEXT NOT NULL,"
        "  project   TEXT,"                       /* NULL: every project with a policy */
        "  dry_run   INTEGER NOT NULL,"
        "  result    TEXT,"                       /* ok, failed */
        "  repos     INTEGER NOT NULL DEFAULT 0,"
        "  tags      INTEGER NOT NULL DEFAULT 0,"
        "  manifests INTEGER NOT NULL DEFAULT 0,"
        "  error     TEXT);" },
        /* ---- END retention and immutability step ---- */
        /* ---- BEGIN management API step (issue 12; step 8) ---- */
        { .sql =
        /* 8: browser sessions of the management API (auth/session.c): the
         * SHA-256 of the session id (hex) (the id itself is only in the cookie), its
         * user (a session ends with its user) and its absolute expiry. An expand
         * step. */
        "CREATE TABLE auth_sessions ("
        "  id_hash TEXT PRIMARY KEY,"
        "  \"user\" TEXT NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,"
        "  created INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL);"
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
        "  uuid       TEXT PRIMARY KEY REFERENCES uploads(uuid) ON DELETE CASCADE,"
        "  alg        TEXT NOT NULL,"
        "  size       INTEGER NOT NULL DEFAULT 0,"
        "  upload_id  TEXT NOT NULL DEFAULT '',"
        "  parts      TEXT NOT NULL DEFAULT '',"
        "  tail_gen   INTEGER NOT NULL DEFAULT 0,"
        "  tail_size  INTEGER NOT NULL DEFAULT 0,"
        "  hash       TEXT,"
        "  holder     TEXT NOT NULL DEFAULT '',"
        "  held_until INTEGER NOT NULL DEFAULT 0,"
        "  updated_at INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "CREATE INDEX upload_sessions_by_time ON upload_sessions(updated_at);" },
        /* ---- END S3 chunked uploads step ---- */
};

/* ---- connections ---- */

/* SQLite creates a database 0644 less the umask, and its -wal and -shm take the
 * database's mode. The database holds password hashes, keys and the audit trail: a
 * database just created (still empty) is made 0600. By path, never by opening it:
 * closing any descriptor of the file would drop this process's SQLite locks on it. */
static void private_if_new(const char *path) {
        struct stat st;

        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 077))
                (void) chmod(path, st.st_mode & 0700);
}

static int sq_exec(void *h, const char *sql) {
        int r = map_rc(sqlite3_exec(h, sql, NULL, NULL, NULL));

        if (r < 0)
                db__set_error(sqlite3_errmsg(h));
        return r;
}

/* WAL mode. Changing a new database's journal mode takes an exclusive lock, and
 * SQLite answers SQLITE_BUSY at once, without the busy handler, when another
 * connection holds the file at that moment (several threads or processes opening a
 * new database together): wait and try again, within the one busy timeout. */
static int set_wal(sqlite3 *db) {
        const struct timespec pause = { .tv_nsec = 2 * 1000 * 1000 };
        int r;

        for (int waited_ms = 0;; waited_ms += 2) {
                r = sq_exec(db, "PRAGMA journal_mode = WAL");
                if (r != BERTH_EBUSY || waited_ms >= DB_BUSY_TIMEOUT_MS)
                        return r;
                (void) nanosleep(&pause, NULL);
        }
}

static void sq_unlock(void *h, int64_t key);

static void sq_close(void *h) {
        sq_unlock(h, INT64_MIN); /* the connection's locks end with it, as a session's */
        (void) sqlite3_close_v2(h);
}

static int sq_open(const char *path, const char *password, void **ret) {
        sqlite3 *db = NULL;
        int rc, r;

        (void) password;
        rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                r = rc == SQLITE_CANTOPEN ? -EACCES : err_rc(rc);
                sq_close(db);
                return r;
        }
        private_if_new(path);
        (void) sqlite3_extended_result_codes(db, 1);
        rc = sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);
        if (rc != SQLITE_OK) {
                sq_close(db);
                return err_rc(rc);
        }
        if ((r = set_wal(db)) < 0 || (r = sq_exec(db, "PRAGMA synchronous = FULL")) < 0 ||
            (r = sq_exec(db, "PRAGMA foreign_keys = ON")) < 0) {
                sq_close(db);
                return r;
        }
        *ret = db;
        return 0;
}

static int sq_begin(void *h) {
        return sq_exec(h, "BEGIN IMMEDIATE");
}

static int sq_commit(void *h) {
        return sq_exec(h, "COMMIT");
}

static int sq_rollback(void *h) {
        return sq_exec(h, "ROLLBACK");
}

static bool sq_in_tx(void *h) {
        return !sqlite3_get_autocommit(h);
}

static int64_t sq_changes(void *h) {
        return sqlite3_changes64(h);
}

/* ---- statements ---- */

static int sq_prepare(void *h, const char *sql, void **ret) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v3(h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);

        if (rc != SQLITE_OK) {
                db__set_error(sqlite3_errmsg(h));
                return err_rc(rc);
        }
        *ret = st;
        return 0;
}

static void sq_finalize(void *st) {
        (void) sqlite3_finalize(st);
}

static void sq_reset(void *st) {
        (void) sqlite3_reset(st);
        (void) sqlite3_clear_bindings(st);
}

static int sq_bind_null(void *st, int i) {
        return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : BERTH_EDB;
}

static int sq_bind_int(void *st, int i, int64_t v) {
        return sqlite3_bind_int64(st, i, v) == SQLITE_OK ? 0 : BERTH_EDB;
}

static int sq_bind_text(void *st, int i, const char *s) {
        return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : BERTH_EDB;
}

static int sq_bind_blob(void *st, int i, const void *p, size_t len) {
        if (len > INT32_MAX)
                return BERTH_ETOOBIG;
        /* a NULL pointer would bind SQL NULL: an empty blob is not NULL */
        return sqlite3_bind_blob(st, i, p ? p : "", (int) len, SQLITE_STATIC) == SQLITE_OK ? 0 : BERTH_EDB;
}

static int sq_step(void *st) {
        int rc = sqlite3_step(st);

        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        db__set_error(sqlite3_errmsg(sqlite3_db_handle(st)));
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
                return -EEXIST;
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                return -ENOENT;
        return err_rc(rc);
}

static int sq_param_count(void *st) {
        return sqlite3_bind_parameter_count(st);
}

static bool sq_col_null(void *st, int col) {
        return sqlite3_column_type(st, col) == SQLITE_NULL;
}

static int64_t sq_col_int(void *st, int col) {
        return sqlite3_column_int64(st, col);
}

static const char *sq_col_text(void *st, int col) {
        return (const char *) sqlite3_column_text(st, col);
}

static const void *sq_col_blob(void *st, int col, size_t *ret_len) {
        const void *p = sqlite3_column_blob(st, col);
        int n = sqlite3_column_bytes(st, col);

        if (ret_len)
                *ret_len = n > 0 ? (size_t) n : 0;
        return p;
}

/* ---- schema version ---- */

static int sq_version_get(void *h, int *ret) {
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return err_rc(rc);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int(st, 0);
        (void) sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : err_rc(rc);
}

/* PRAGMA takes no parameters: the text is made of an int of ours, no input. */
static int sq_version_set(void *h, int v, int compat) {
        char pragma[48];

        (void) compat; /* one server per file: a newer schema is refused */
        if (v < 0)
                return -EINVAL;
        (void) snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v);
        return sq_exec(h, pragma);
}

/* -1 no such table, else the auth_schema version of an older release. */
static int legacy_auth_version(void *h, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int rc, r;

        *ret = -1;
        rc = sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'auth_schema'",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return err_rc(rc);
        rc = sqlite3_step(st);
        (void) sqlite3_finalize(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return err_rc(rc);
        rc = sqlite3_prepare_v2(h, "SELECT coalesce(max(version), 0) FROM auth_schema", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return err_rc(rc);
        rc = sqlite3_step(st);
        r = rc == SQLITE_ROW ? 0 : err_rc(rc);
        if (r == 0)
                *ret = sqlite3_column_int64(st, 0);
        (void) sqlite3_finalize(st);
        return r;
}

/* A database of the two-counter layout: user_version counted storage's steps
 * (only step 1 was ever released), auth_schema auth's (only its step 1, now 2).
 * auth may have run alone on it (the admin commands before any server start):
 * then step 1 is applied here first. The old table goes: one counter from now on. */
static int sq_adopt(db_conn_t *c, void *h, int *v) {
        int64_t av;
        int r;

        (void) c;
        r = legacy_auth_version(h, &av);
        if (r < 0 || av < 0)
                return r;
        if (av > 1 || *v > 1)
                return BERTH_EUNSUPPORTED; /* not a layout any release wrote */
        if (av == 1) {
                if (*v == 0 && (r = sq_exec(h, MIGRATIONS[0].sql)) < 0)
                        return r;
                *v = 2;
        }
        return sq_exec(h, "DROP TABLE auth_schema");
}

static bool sq_broken(void *h) {
        (void) h;
        return false; /* a file: nothing to lose */
}

/* Session locks: an exclusive flock(2) on a file beside the database
 * (<database>-lock<id>), one open file per connection and lock, so that two
 * connections (of one process or of two: berthd and `berthd gc`) exclude each
 * other as PostgreSQL sessions do, and a process that dies frees its locks. */
#define SQ_LOCKS_MAX 16
static struct {
        void *h;
        int64_t key;
        int fd;
} sq_locks[SQ_LOCKS_MAX];
static pthread_mutex_t sq_locks_mutex = PTHREAD_MUTEX_INITIALIZER;

static int sq_lock_try(void *h, int64_t key) {
        const char *db = sqlite3_db_filename(h, "main");
        char path[4096];
        int fd, r = 1, slot = -1;

        if (!db || !*db)
                return 1; /* an in-memory database: this connection alone */
        if (snprintf(path, sizeof(path), "%s-lock%u", db, (unsigned) (key & 0xffffffff)) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        pthread_mutex_lock(&sq_locks_mutex);
        for (int i = 0; i < SQ_LOCKS_MAX; i++) {
                if (sq_locks[i].h == h && sq_locks[i].key == key) {
                        pthread_mutex_unlock(&sq_locks_mutex);
                        return 1; /* held by this connection already */
                }
                if (!sq_locks[i].h && slot < 0)
                        slot = i;
        }
        if (slot < 0) {
                pthread_mutex_unlock(&sq_locks_mutex);
                return -ENOSPC;
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                r = -errno;
        else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? 0 : -errno;
                close(fd);
        } else
                sq_locks[slot] = (typeof(sq_locks[0])){ .h = h, .key = key, .fd = fd };
        pthread_mutex_unlock(&sq_locks_mutex);
        return r;
}

static void sq_unlock(void *h, int64_t key) {
        pthread_mutex_lock(&sq_locks_mutex);
        for (int i = 0; i < SQ_LOCKS_MAX; i++)
                if (sq_locks[i].h == h && (key == INT64_MIN || sq_locks[i].key == key)) {
                        close(sq_locks[i].fd); /* releases the flock */
                        sq_locks[i].h = NULL;
                }
        pthread_mutex_unlock(&sq_locks_mutex);
}

static int sq_explain(void *h, const char *sql, int (*line)(const char *, void *), void *userdata) {
        static const char prefix[] = "EXPLAIN QUERY PLAN ";
        sqlite3_stmt *st = NULL;
        char *q;
        int rc, r = 0;

        q = malloc(sizeof(prefix) + strlen(sql));
        if (!q)
                return -ENOMEM;
        memcpy(q, prefix, sizeof(prefix) - 1);
        strcpy(q + sizeof(prefix) - 1, sql);
        rc = sqlite3_prepare_v2(h, q, -1, &st, NULL);
        free(q);
        if (rc != SQLITE_OK)
                return err_rc(rc);
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *d = (const char *) sqlite3_column_text(st, 3);
                if (d)
                        r = line(d, userdata);
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = err_rc(rc);
        (void) sqlite3_finalize(st);
        return r;
}

const db_engine_t db_engine_sqlite = {
        .name = "sqlite",
        .shared = false,
        .open = sq_open,
        .close = sq_close,
        .broken = sq_broken,
        .exec = sq_exec,
        .begin = sq_begin,
        .commit = sq_commit,
        /* changes when another connection (of this process or another) committed
         * since this one last read; in-process, no I/O */
        .data_version_sql = "PRAGMA data_version",
        .rollback = sq_rollback,
        .in_tx = sq_in_tx,
        .changes = sq_changes,
        .prepare = sq_prepare,
        .finalize = sq_finalize,
        .reset = sq_reset,
        .bind_null = sq_bind_null,
        .bind_int = sq_bind_int,
        .bind_text = sq_bind_text,
        .bind_blob = sq_bind_blob,
        .step = sq_step,
        .param_count = sq_param_count,
        .col_null = sq_col_null,
        .col_int = sq_col_int,
        .col_text = sq_col_text,
        .col_blob = sq_col_blob,
        .version_get = sq_version_get,
        .version_set = sq_version_set,
        .adopt = sq_adopt,
        .lock_try = sq_lock_try,
        .unlock = sq_unlock,
        .explain = sq_explain,
        .migrations = MIGRATIONS,
        .n_migrations = ELEMENTSOF(MIGRATIONS),
};
