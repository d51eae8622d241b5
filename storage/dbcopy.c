/* storage/dbcopy.c: berth's metadata copied from one database to another, through
 * storage/db only (so any engine to any engine): the tables in foreign-key order,
 * each read a page at a time in key order from one snapshot of the source and
 * written row by row into one transaction on the target, keys as they are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/dbcopy.h"

/* ---- the tables (keep in step with the migrations of storage/db-*.c) ---- */

#define STR_(x) #x
#define STR(x) STR_(x)
#define LIMIT " LIMIT " STR(DBCOPY_PAGE)

/* name: the table; cols: its column array; nkey: key columns (first in cols);
 * list: the columns in SQL; key: the key columns in SQL; after: ?1..?nkey;
 * values: ?1..?n for every column. */
#define TABLE(name_, cols_, nkey_, list, key, after, values, ...)                               \
        {                                                                                      \
                .name = name_, .cols = cols_, .n_cols = (int) ELEMENTSOF(cols_), .n_key = nkey_, \
                .sql_first = "SELECT " list " FROM " name_ " ORDER BY " key LIMIT,             \
                .sql_next = "SELECT " list " FROM " name_ " WHERE (" key ") > (" after ")"       \
                            " ORDER BY " key LIMIT,                                            \
                .sql_insert = "INSERT INTO " name_ "(" list ") VALUES (" values ")",            \
                .sql_count = "SELECT count(*) FROM " name_, __VA_ARGS__                          \
        }

/* A table the schema's triggers fill as the rows above are copied (usage and
 * quotas, step 6): the source's row replaces the one the triggers made. */
#define DERIVED(name_, cols_, nkey_, list, key, after, values, set)                              \
        {                                                                                      \
                .name = name_, .cols = cols_, .n_cols = (int) ELEMENTSOF(cols_), .n_key = nkey_, \
                .sql_first = "SELECT " list " FROM " name_ " ORDER BY " key LIMIT,             \
                .sql_next = "SELECT " list " FROM " name_ " WHERE (" key ") > (" after ")"       \
                            " ORDER BY " key LIMIT,                                            \
                .sql_insert = "INSERT INTO " name_ "(" list ") VALUES (" values ")"             \
                              " ON CONFLICT(" key ") DO UPDATE SET " set,                       \
                .sql_count = "SELECT count(*) FROM " name_                                      \
        }

static const dbcopy_col_t REPOSITORIES[] = {
        { "id", DBCOPY_INT },
        { "name", DBCOPY_TEXT },
};
static const dbcopy_col_t BLOBS[] = {
        { "digest", DBCOPY_TEXT },
        { "size", DBCOPY_INT },
        { "created_at", DBCOPY_INT },
        { "unref_since", DBCOPY_INT },
};
static const dbcopy_col_t REPO_BLOBS[] = {
        { "repo_id", DBCOPY_INT },
        { "digest", DBCOPY_TEXT },
        { "created_at", DBCOPY_INT },
        { "unref_since", DBCOPY_INT },
};
static const dbcopy_col_t MANIFESTS[] = {
        { "repo_id", DBCOPY_INT },
        { "digest", DBCOPY_TEXT },
        { "media_type", DBCOPY_TEXT },
        { "artifact_type", DBCOPY_TEXT },
        { "subject", DBCOPY_TEXT },
        { "annotations", DBCOPY_TEXT },
        { "size", DBCOPY_INT },
        { "created_at", DBCOPY_INT },
};
static const dbcopy_col_t MANIFEST_REFS[] = {
        { "repo_id", DBCOPY_INT },
        { "manifest", DBCOPY_TEXT },
        { "child", DBCOPY_TEXT },
        { "is_manifest", DBCOPY_INT },
};
static const dbcopy_col_t TAGS[] = {
        { "repo_id", DBCOPY_INT },
        { "name", DBCOPY_TEXT },
        { "digest", DBCOPY_TEXT },
        { "updated_at", DBCOPY_INT },
};
static const dbcopy_col_t UPLOADS[] = {
        { "uuid", DBCOPY_TEXT },
        { "repo", DBCOPY_TEXT },
        { "created_at", DBCOPY_INT },
};
static const dbcopy_col_t UPLOAD_SESSIONS[] = {
        { "uuid", DBCOPY_TEXT },
        { "alg", DBCOPY_TEXT },
        { "size", DBCOPY_INT },
        { "upload_id", DBCOPY_TEXT },
        { "parts", DBCOPY_TEXT },
        { "tail_gen", DBCOPY_INT },
        { "tail_size", DBCOPY_INT },
        { "hash", DBCOPY_TEXT },
        { "holder", DBCOPY_TEXT },
        { "held_until", DBCOPY_INT },
        { "updated_at", DBCOPY_INT },
};
static const dbcopy_col_t AUTH_STATE[] = {
        { "id", DBCOPY_INT },
        { "generation", DBCOPY_INT },
        { "bootstrapped", DBCOPY_INT },
        { "token_key", DBCOPY_BLOB },
};
static const dbcopy_col_t AUTH_USERS[] = {
        { "name", DBCOPY_TEXT },
        { "hash", DBCOPY_TEXT },
        { "admin", DBCOPY_INT },
        { "created", DBCOPY_INT },
};
static const dbcopy_col_t AUTH_PROJECTS[] = {
        { "name", DBCOPY_TEXT },
        { "public", DBCOPY_INT },
        { "created", DBCOPY_INT },
};
static const dbcopy_col_t AUTH_MEMBERS[] = {
        { "project", DBCOPY_TEXT },
        { "\"user\"", DBCOPY_TEXT },
        { "role", DBCOPY_INT },
};
static const dbcopy_col_t AUTH_TOKENS[] = {
        { "name", DBCOPY_TEXT },
        { "project", DBCOPY_TEXT },
        { "push", DBCOPY_INT },
        { "mac", DBCOPY_BLOB },
        { "created", DBCOPY_INT },
        { "expires", DBCOPY_INT },
};
static const dbcopy_col_t AUTH_SESSIONS[] = {
        { "id_hash", DBCOPY_TEXT },
        { "\"user\"", DBCOPY_TEXT },
        { "created", DBCOPY_INT },
        { "expires", DBCOPY_INT },
};
static const dbcopy_col_t AUTH_AUDIT[] = {
        { "id", DBCOPY_INT },
        { "ts", DBCOPY_INT },
        { "\"user\"", DBCOPY_TEXT },
        { "client", DBCOPY_TEXT },
        { "action", DBCOPY_TEXT },
        { "repo", DBCOPY_TEXT },
        { "detail", DBCOPY_TEXT },
};

static const dbcopy_col_t WEBHOOKS[] = {
        { "id", DBCOPY_INT },
        { "project", DBCOPY_TEXT },
        { "url", DBCOPY_TEXT },
        { "events", DBCOPY_INT },
        { "secret", DBCOPY_BLOB },
        { "created", DBCOPY_INT },
};
static const dbcopy_col_t WEBHOOK_QUEUE[] = {
        { "id", DBCOPY_INT },
        { "webhook_id", DBCOPY_INT },
        { "event_id", DBCOPY_TEXT },
        { "type", DBCOPY_TEXT },
        { "repository", DBCOPY_TEXT },
        { "body", DBCOPY_TEXT },
        { "created", DBCOPY_INT },
        { "ready", DBCOPY_INT },
        { "attempts", DBCOPY_INT },
        { "next_attempt", DBCOPY_INT },
        { "claimed_until", DBCOPY_INT },
};
static const dbcopy_col_t WEBHOOK_LOG[] = {
        { "id", DBCOPY_INT },
        { "webhook_id", DBCOPY_INT },
        { "ts", DBCOPY_INT },
        { "event_id", DBCOPY_TEXT },
        { "type", DBCOPY_TEXT },
        { "attempt", DBCOPY_INT },
        { "status", DBCOPY_INT },
        { "latency_ms", DBCOPY_INT },
        { "result", DBCOPY_TEXT },
        { "error", DBCOPY_TEXT },
};

static const dbcopy_col_t GC_RUNS[] = {
        { "id", DBCOPY_INT },
        { "started", DBCOPY_INT },
        { "finished", DBCOPY_INT },
        { "who", DBCOPY_TEXT },
        { "dry_run", DBCOPY_INT },
        { "result", DBCOPY_TEXT },
        { "blobs", DBCOPY_INT },
        { "bytes", DBCOPY_INT },
        { "manifests", DBCOPY_INT },
        { "links", DBCOPY_INT },
        { "orphans", DBCOPY_INT },
        { "orphan_bytes", DBCOPY_INT },
        { "uploads", DBCOPY_INT },
        { "error", DBCOPY_TEXT },
};
static const dbcopy_col_t PROXY_PROJECTS[] = {
        { "project", DBCOPY_TEXT },
        { "url", DBCOPY_TEXT },
        { "username", DBCOPY_TEXT },
        { "password", DBCOPY_BLOB },
        { "ca_file", DBCOPY_TEXT },
        { "ttl", DBCOPY_INT },
        { "mirror_of", DBCOPY_TEXT },
        { "docker_mirror", DBCOPY_INT },
        { "created", DBCOPY_INT },
};
static const dbcopy_col_t PROXY_TAGS[] = {
        { "repo", DBCOPY_TEXT },
        { "tag", DBCOPY_TEXT },
        { "digest", DBCOPY_TEXT },
        { "checked", DBCOPY_INT },
};

static const dbcopy_col_t USAGE_REPOS[] = {
        { "repo_id", DBCOPY_INT },
        { "blobs", DBCOPY_INT },
        { "bytes", DBCOPY_INT },
};
static const dbcopy_col_t USAGE_REFS[] = {
        { "project", DBCOPY_TEXT },
        { "digest", DBCOPY_TEXT },
        { "refs", DBCOPY_INT },
        { "size", DBCOPY_INT },
};
static const dbcopy_col_t USAGE_PROJECTS[] = {
        { "project", DBCOPY_TEXT },
        { "blobs", DBCOPY_INT },
        { "bytes", DBCOPY_INT },
};
static const dbcopy_col_t QUOTAS[] = {
        { "project", DBCOPY_TEXT },
        { "quota", DBCOPY_INT },
};
static const dbcopy_col_t QUOTA_DEFAULT[] = {
        { "id", DBCOPY_INT },
        { "quota", DBCOPY_INT },
};
static const dbcopy_col_t MANIFEST_PULLS[] = {
        { "repo_id", DBCOPY_INT },
        { "digest", DBCOPY_TEXT },
        { "pulls", DBCOPY_INT },
        { "last_pulled", DBCOPY_INT },
};
static const dbcopy_col_t IMMUTABLE_RULES[] = {
        { "project", DBCOPY_TEXT },
        { "pattern", DBCOPY_TEXT },
        { "created", DBCOPY_INT },
};
static const dbcopy_col_t RETENTION_POLICIES[] = {
        { "project", DBCOPY_TEXT },
        { "untagged_after", DBCOPY_INT },
        { "updated", DBCOPY_INT },
};
static const dbcopy_col_t RETENTION_RULES[] = {
        { "project", DBCOPY_TEXT },
        { "seq", DBCOPY_INT },
        { "kind", DBCOPY_TEXT },
        { "tags", DBCOPY_TEXT },
        { "repos", DBCOPY_TEXT },
        { "n", DBCOPY_INT },
};
static const dbcopy_col_t RETENTION_RUNS[] = {
        { "id", DBCOPY_INT },
        { "started", DBCOPY_INT },
        { "finished", DBCOPY_INT },
        { "who", DBCOPY_TEXT },
        { "project", DBCOPY_TEXT },
        { "dry_run", DBCOPY_INT },
        { "result", DBCOPY_TEXT },
        { "repos", DBCOPY_INT },
        { "tags", DBCOPY_INT },
        { "manifests", DBCOPY_INT },
        { "error", DBCOPY_TEXT },
};

static const dbcopy_table_t TABLES[] = {
        TABLE("repositories", REPOSITORIES, 1, "id, name", "id", "?1", "?1, ?2"),
        TABLE("blobs", BLOBS, 1, "digest, size, created_at, unref_since", "digest", "?1", "?1, ?2, ?3, ?4"),
        TABLE("repo_blobs", REPO_BLOBS, 2, "repo_id, digest, created_at, unref_since", "repo_id, digest",
              "?1, ?2", "?1, ?2, ?3, ?4"),
        TABLE("manifests", MANIFESTS, 2,
              "repo_id, digest, media_type, artifact_type, subject, annotations, size, created_at",
              "repo_id, digest", "?1, ?2", "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8"),
        TABLE("manifest_refs", MANIFEST_REFS, 3, "repo_id, manifest, child, is_manifest",
              "repo_id, manifest, child", "?1, ?2, ?3", "?1, ?2, ?3, ?4"),
        TABLE("tags", TAGS, 2, "repo_id, name, digest, updated_at", "repo_id, name", "?1, ?2",
              "?1, ?2, ?3, ?4"),
        TABLE("uploads", UPLOADS, 1, "uuid, repo, created_at", "uuid", "?1", "?1, ?2, ?3"),
        /* S3 chunked uploads (step 9): after their uploads rows */
        TABLE("upload_sessions", UPLOAD_SESSIONS, 1,
              "uuid, alg, size, upload_id, parts, tail_gen, tail_size, hash, holder, held_until, updated_at", "uuid",
              "?1", "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11"),
        /* one row from the moment the schema is made (the install key): a target
         * is empty while nothing has changed it yet, and the source's row replaces it */
        TABLE("auth_state", AUTH_STATE, 1, "id, generation, bootstrapped, token_key", "id", "?1",
              "?1, ?2, ?3, ?4",
              .sql_used = "SELECT count(*) FROM auth_state WHERE generation <> 0 OR bootstrapped <> 0",
              .sql_clear = "DELETE FROM auth_state"),
        TABLE("auth_users", AUTH_USERS, 1, "name, hash, admin, created", "name", "?1", "?1, ?2, ?3, ?4"),
        TABLE("auth_projects", AUTH_PROJECTS, 1, "name, public, created", "name", "?1", "?1, ?2, ?3"),
        TABLE("auth_members", AUTH_MEMBERS, 2, "project, \"user\", role", "project, \"user\"", "?1, ?2",
              "?1, ?2, ?3"),
        TABLE("auth_tokens", AUTH_TOKENS, 1, "name, project, push, mac, created, expires", "name", "?1",
              "?1, ?2, ?3, ?4, ?5, ?6"),
        TABLE("auth_audit", AUTH_AUDIT, 1, "id, ts, \"user\", client, action, repo, detail", "id", "?1",
              "?1, ?2, ?3, ?4, ?5, ?6, ?7"),
        /* webhooks (step 3): the queue and the log refer to their webhook; the
         * claims of deliveries in flight are copied as they are (a lease that ends) */
        TABLE("webhooks", WEBHOOKS, 1, "id, project, url, events, secret, created", "id", "?1",
              "?1, ?2, ?3, ?4, ?5, ?6"),
        TABLE("webhook_queue", WEBHOOK_QUEUE, 1,
              "id, webhook_id, event_id, type, repository, body, created, ready, attempts, next_attempt,"
              " claimed_until",
              "id", "?1", "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11"),
        TABLE("webhook_log", WEBHOOK_LOG, 1,
              "id, webhook_id, ts, event_id, type, attempt, status, latency_ms, result, error", "id", "?1",
              "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10"),
        /* the record of GC runs (step 4) */
        TABLE("gc_runs", GC_RUNS, 1,
              "id, started, finished, who, dry_run, result, blobs, bytes, manifests, links, orphans, orphan_bytes,"
              " uploads, error",
              "id", "?1", "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14"),
        /* pull-through cache (step 5): proxy projects refer to their project */
        TABLE("proxy_projects", PROXY_PROJECTS, 1,
              "project, url, username, password, ca_file, ttl, mirror_of, docker_mirror, created", "project",
              "?1", "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9"),
        TABLE("proxy_tags", PROXY_TAGS, 2, "repo, tag, digest, checked", "repo, tag", "?1, ?2",
              "?1, ?2, ?3, ?4"),
        /* usage and quotas (step 6): the figures the triggers made while the links
         * and manifests were copied, then replaced by the source's (the same when
         * the source's are exact: berthd usage --verify); the quotas */
        DERIVED("usage_repos", USAGE_REPOS, 1, "repo_id, blobs, bytes", "repo_id", "?1", "?1, ?2, ?3",
                "blobs = excluded.blobs, bytes = excluded.bytes"),
        DERIVED("usage_refs", USAGE_REFS, 2, "project, digest, refs, size", "project, digest", "?1, ?2",
                "?1, ?2, ?3, ?4", "refs = excluded.refs, size = excluded.size"),
        DERIVED("usage_projects", USAGE_PROJECTS, 1, "project, blobs, bytes", "project", "?1", "?1, ?2, ?3",
                "blobs = excluded.blobs, bytes = excluded.bytes"),
        TABLE("quotas", QUOTAS, 1, "project, quota", "project", "?1", "?1, ?2"),
        TABLE("quota_default", QUOTA_DEFAULT, 1, "id, quota", "id", "?1", "?1, ?2"),
        /* retention and immutability (step 7): pulls refer to their manifest, rules
         * to their policy */
        TABLE("manifest_pulls", MANIFEST_PULLS, 2, "repo_id, digest, pulls, last_pulled", "repo_id, digest",
              "?1, ?2", "?1, ?2, ?3, ?4"),
        TABLE("immutable_rules", IMMUTABLE_RULES, 2, "project, pattern, created", "project, pattern", "?1, ?2",
              "?1, ?2, ?3"),
        TABLE("retention_policies", RETENTION_POLICIES, 1, "project, untagged_after, updated", "project", "?1",
              "?1, ?2, ?3"),
        TABLE("retention_rules", RETENTION_RULES, 2, "project, seq, kind, tags, repos, n", "project, seq",
              "?1, ?2", "?1, ?2, ?3, ?4, ?5, ?6"),
        TABLE("retention_runs", RETENTION_RUNS, 1,
              "id, started, finished, who, project, dry_run, result, repos, tags, manifests, error", "id", "?1",
              "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11"),
        /* management API sessions (step 8): they refer to their user */
        TABLE("auth_sessions", AUTH_SESSIONS, 1, "id_hash, \"user\", created, expires", "id_hash", "?1",
              "?1, ?2, ?3, ?4"),
};

#define KEY_MAX 4 /* the widest primary key above */
_Static_assert(ELEMENTSOF(TABLES) <= DBCOPY_TABLES_MAX, "DBCOPY_TABLES_MAX too small");

const dbcopy_table_t *dbcopy_tables(size_t *ret_n) {
        if (ret_n)
                *ret_n = ELEMENTSOF(TABLES);
        return TABLES;
}

const dbcopy_table_t *dbcopy_table(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(TABLES); i++)
                if (strcmp(TABLES[i].name, name) == 0)
                        return &TABLES[i];
        return NULL;
}

/* ---- the copy ---- */

static int count_rows(db_conn_t *c, const char *sql, int64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        r = db_stmt(c, sql, &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return BERTH_EDB; /* count(*) always answers a row */
        *ret = db_col_int(st, 0);
        return 0;
}

/* 1 empty, 0 not (the first table with rows in *ret_table, *ret_rows), <0. The
 * tables whose schema creation writes a row are looked at last: a table of the
 * registry's or users' rows says better what the target holds. */
static int conn_empty(db_conn_t *c, const char **ret_table, int64_t *ret_rows) {
        for (size_t j = 0; j < 2 * ELEMENTSOF(TABLES); j++) {
                const dbcopy_table_t *t = &TABLES[j % ELEMENTSOF(TABLES)];
                bool seeded_pass = j >= ELEMENTSOF(TABLES);
                int64_t n = 0;
                int r;

                if (seeded_pass != (t->sql_used != NULL))
                        continue;
                r = count_rows(c, t->sql_used ? t->sql_used : t->sql_count, &n);
                if (r < 0)
                        return r;
                if (n > 0) {
                        if (ret_table)
                                *ret_table = t->name;
                        if (ret_rows)
                                *ret_rows = n;
                        return 0;
                }
        }
        return 1;
}

int dbcopy_empty(db_t *db, const char **ret_table, int64_t *ret_rows) {
        db_conn_t *c = NULL;
        int r;

        if (!db)
                return -EINVAL;
        r = db_conn_get(db, &c);
        if (r < 0)
                return r;
        r = conn_empty(c, ret_table, ret_rows);
        db_conn_put(db, c);
        return r;
}

/* The key of the last row copied: where the next page starts. */
typedef struct {
        int64_t i;
        char *s;
        size_t cap;
} page_key_t;

static int key_save(page_key_t *k, db_stmt_t *st, int col, dbcopy_type_t type) {
        const char *s;
        size_t len;

        if (type == DBCOPY_INT) {
                k->i = db_col_int(st, col);
                return 0;
        }
        s = db_col_text(st, col);
        if (!s)
                return -ENOMEM; /* a key column is NOT NULL: no text means no memory */
        len = strlen(s);
        if (len >= k->cap) {
                char *p = realloc(k->s, len + 1);
                if (!p)
                        return -ENOMEM;
                k->s = p;
                k->cap = len + 1;
        }
        memcpy(k->s, s, len + 1);
        return 0;
}

static int bind_key(db_stmt_t *st, int i, const page_key_t *k, dbcopy_type_t type) {
        return type == DBCOPY_INT ? db_bind_int(st, i, k->i) : db_bind_text(st, i, k->s);
}

/* Column col of the source's row as parameter col + 1 of the insert. */
static int bind_col(db_stmt_t *ins, db_stmt_t *row, int col, dbcopy_type_t type) {
        static const char none[1];
        const void *p;
        const char *s;
        size_t len = 0;

        if (db_col_null(row, col))
                return db_bind_null(ins, col + 1);
        switch (type) {
        case DBCOPY_INT:
                return db_bind_int(ins, col + 1, db_col_int(row, col));
        case DBCOPY_TEXT:
                s = db_col_text(row, col);
                return s ? db_bind_text(ins, col + 1, s) : -ENOMEM;
        case DBCOPY_BLOB:
                p = db_col_blob(row, col, &len);
                /* an empty blob may read as no pointer: bind it as empty, not NULL */
                return db_bind_blob(ins, col + 1, p ? p : none, p ? len : 0);
        }
        return -EINVAL;
}

/* Checks that the table's statements take the parameters its columns say
 * (a mistake in the table list above, caught before any row is written). */
static int check_statements(db_conn_t *src, db_conn_t *dst, const dbcopy_table_t *t) {
        db_stmt_t *st = NULL;
        int r;

        if (t->n_key < 1 || t->n_key > KEY_MAX || t->n_key > t->n_cols)
                return -EINVAL;
        for (int i = 0; i < t->n_key; i++)
                if (t->cols[i].type == DBCOPY_BLOB)
                        return -EINVAL;
        if ((r = db_stmt(src, t->sql_next, &st)) < 0)
                return r;
        if (db_stmt_params(st) != t->n_key)
                return -EINVAL;
        if ((r = db_stmt(dst, t->sql_insert, &st)) < 0)
                return r;
        if (db_stmt_params(st) != t->n_cols)
                return -EINVAL;
        return 0;
}

/* One table, page by page; *ret_rows: the rows copied. */
static int copy_table(db_conn_t *src, db_conn_t *dst, const dbcopy_table_t *t, int64_t *ret_rows) {
        page_key_t key[KEY_MAX] = {};
        int64_t rows = 0;
        bool first = true;
        int r;

        for (;;) {
                db_stmt_t *q = NULL, *ins = NULL;
                int n = 0;

                r = db_stmt(src, first ? t->sql_first : t->sql_next, &q);
                for (int k = 0; r == 0 && !first && k < t->n_key; k++)
                        r = bind_key(q, k + 1, &key[k], t->cols[k].type);
                if (r == 0)
                        r = db_stmt(dst, t->sql_insert, &ins);
                while (r == 0 && (r = db_step(q)) > 0) {
                        r = 0;
                        for (int c = 0; r == 0 && c < t->n_cols; c++)
                                r = bind_col(ins, q, c, t->cols[c].type);
                        if (r == 0)
                                r = db_step_done(ins);
                        db_stmt_reset(ins);
                        for (int k = 0; r == 0 && k < t->n_key; k++)
                                r = key_save(&key[k], q, k, t->cols[k].type);
                        n++;
                }
                if (q)
                        db_stmt_reset(q);
                if (r < 0)
                        break;
                rows += n;
                if (n < DBCOPY_PAGE)
                        break;
                first = false;
        }
        for (int k = 0; k < KEY_MAX; k++)
                free(key[k].s);
        if (r < 0)
                return r;
        *ret_rows = rows;
        return 0;
}

/* Inside both transactions: everything but the commit. */
static int copy_all(db_conn_t *src, db_conn_t *dst, dbcopy_result_t *ret) {
        int r;

        r = conn_empty(dst, &ret->used_table, &ret->used_rows);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOTEMPTY;
        for (size_t i = 0; i < ELEMENTSOF(TABLES); i++)
                if ((r = check_statements(src, dst, &TABLES[i])) < 0)
                        return r;
        for (size_t i = 0; i < ELEMENTSOF(TABLES); i++) {
                if (TABLES[i].sql_clear) {
                        _cleanup_db_stmt_ db_stmt_t *st = NULL;
                        if ((r = db_stmt(dst, TABLES[i].sql_clear, &st)) < 0 || (r = db_step_done(st)) < 0)
                                return r;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(TABLES); i++) {
                const dbcopy_table_t *t = &TABLES[i];
                dbcopy_count_t *n = &ret->counts[i];
                int64_t rows = 0;

                *n = (dbcopy_count_t){ .table = t->name, .source = -1, .target = -1 };
                ret->n = i + 1;
                if ((r = count_rows(src, t->sql_count, &n->source)) < 0)
                        return r;
                if ((r = copy_table(src, dst, t, &rows)) < 0)
                        return r;
                ret->rows += rows;
                /* the snapshot held still: what was read is what was counted */
                if (rows != n->source)
                        return -EIO;
        }
        r = db_sync_keys(dst);
        if (r < 0)
                return r;
        /* before the commit: on a mismatch nothing is written */
        for (size_t i = 0; i < ret->n; i++) {
                dbcopy_count_t *n = &ret->counts[i];
                if ((r = count_rows(dst, TABLES[i].sql_count, &n->target)) < 0)
                        return r;
        }
        for (size_t i = 0; i < ret->n; i++)
                if (ret->counts[i].target != ret->counts[i].source)
                        return -EIO;
        return 0;
}

int dbcopy_run(db_t *from, db_t *to, dbcopy_result_t *ret) {
        db_conn_t *src = NULL, *dst = NULL;
        bool mismatch = false;
        int r;

        if (!from || !to || !ret)
                return -EINVAL;
        *ret = (dbcopy_result_t){};
        if (from == to)
                return -EINVAL;
        ret->source_version = db_schema_version(from);
        if (ret->source_version < 0)
                return ret->source_version;
        ret->target_version = db_schema_version(to);
        if (ret->target_version < 0)
                return ret->target_version;
        if (ret->source_version != ret->target_version)
                return BERTH_EUNSUPPORTED;
        r = db_conn_get(from, &src);
        if (r < 0)
                return r;
        r = db_conn_get(to, &dst);
        if (r < 0)
                goto out;
        /* one snapshot of the source: every table read in its one transaction */
        r = db_tx_begin(src);
        if (r < 0)
                goto out;
        r = db_tx_begin(dst);
        if (r < 0)
                goto out;
        r = copy_all(src, dst, ret);
        if (r < 0) {
                db_tx_rollback(dst);
                goto out;
        }
        r = db_tx_commit(dst);
        if (r < 0)
                goto out;
        ret->committed = true;
        /* and once more as anyone will see them now */
        for (size_t i = 0; i < ret->n; i++) {
                dbcopy_count_t *n = &ret->counts[i];
                if ((r = count_rows(dst, TABLES[i].sql_count, &n->target)) < 0)
                        goto out;
                if (n->target != n->source)
                        mismatch = true;
        }
        r = mismatch ? -EIO : 0;
out:
        if (src)
                db_tx_rollback(src); /* it only read */
        db_conn_put(from, src);
        db_conn_put(to, dst);
        return r;
}
