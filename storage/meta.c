/* storage/meta.c: registry metadata, on the metadata layer (storage/db.h).
 *
 * One meta_t holds one connection of the layer, used by one thread at a time.
 * Every statement below is prepared once per connection at open (the layer's
 * statement cache) and reset after each use; nothing is ever spliced into SQL.
 * Writes run in the layer's transactions, which take the write lock up front so
 * that waits go through the one busy timeout instead of failing on a read-to-write
 * upgrade. Durability (WAL, synchronous=FULL) is the engine's: storage/db-sqlite.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/mcache.h"
#include "storage/retention.h"
#include "storage/store-internal.h"
#include "storage/usage-internal.h"
#include "storage/webhook.h"

#define MEDIA_TYPE_MAX 256 /* sizeof(meta_manifest_info_t.media_type) */

/* ---- statements ---- */

enum {
        ST_REPO_ID,
        ST_REPO_INSERT,
        ST_BLOB_INSERT,
        ST_REPO_BLOB_INSERT,
        ST_BLOB_LINKED,
        ST_BLOB_FIND_REPO,
        ST_BLOB_UNLINK,
        ST_HAS_REPO_BLOB,
        ST_HAS_MANIFEST,
        ST_MANIFEST_INSERT,
        ST_REF_INSERT,
        ST_TAG_PUT,
        ST_MANIFEST_BY_DIGEST,
        ST_MANIFEST_BY_TAG,
        ST_MANIFEST_DELETE,
        ST_TAG_DELETE,
        ST_REPO_EXISTS,
        ST_TAGS_LIST,
        ST_CATALOG,
        ST_REFERRERS,
        ST_UPLOAD_ADD,
        ST_UPLOAD_GET,
        ST_UPLOAD_DELETE,
        ST_UPSESSION_ADD,
        ST_UPSESSION_GET,
        ST_UPSESSION_TAKE,
        ST_UPSESSION_SAVE,
        ST_UPSESSION_RELEASE,
        ST_UPSESSION_OLD,
        ST_LINK_TOUCH,
        ST_GC_LINK_CANDIDATES,
        ST_GC_LINK_MARK,
        ST_GC_LINK_OLD,
        ST_GC_LINK_DELETE,
        ST_GC_BLOB_CANDIDATES,
        ST_GC_BLOB_MARK,
        ST_GC_BLOB_OLD,
        ST_GC_BLOB_DELETE,
        ST_GC_MANIFEST_CANDIDATES,
        ST_GC_MANIFEST_DELETE,
        ST_GC_DRY_LINKS,
        ST_GC_DRY_BLOBS,
        ST_GC_DRY_MANIFESTS,
        ST_GC_RUN_ID,
        ST_GC_RUN_INSERT,
        ST_GC_RUN_END,
        ST_GC_RUNS,
        ST_GC_LAST_OK,
        ST_BLOB_KNOWN,
        ST_STATS,
        ST_CATALOG_RANGE,
        ST_USAGE,
        ST_NAME_FROM,
        _ST_MAX,
};

static const char *const SQL[_ST_MAX] = {
        [ST_REPO_ID] = "SELECT id FROM repositories WHERE name = ?1",
        [ST_REPO_INSERT] = "INSERT INTO repositories(name) VALUES (?1) RETURNING id",
        /* a reference added: the GC mark goes (see "garbage collection" below) */
        [ST_BLOB_INSERT] = "INSERT INTO blobs(digest, size, created_at) VALUES (?1, ?2, ?3)"
                           " ON CONFLICT(digest) DO UPDATE SET unref_since = NULL"
                           " WHERE blobs.unref_since IS NOT NULL",
        [ST_REPO_BLOB_INSERT] = "INSERT INTO repo_blobs(repo_id, digest, created_at)"
                                " VALUES (?1, ?2, ?3) ON CONFLICT(repo_id, digest) DO UPDATE"
                                " SET unref_since = NULL WHERE repo_blobs.unref_since IS NOT NULL",
        [ST_BLOB_LINKED] = "SELECT b.size FROM repositories r"
                           " JOIN repo_blobs rb ON rb.repo_id = r.id"
                           " JOIN blobs b ON b.digest = rb.digest"
                           " WHERE r.name = ?1 AND rb.digest = ?2",
        [ST_BLOB_FIND_REPO] = "SELECT r.name, b.size FROM repo_blobs rb"
                              " JOIN repositories r ON r.id = rb.repo_id"
                              " JOIN blobs b ON b.digest = rb.digest"
                              " WHERE rb.digest = ?1 ORDER BY r.name LIMIT 1",
        [ST_BLOB_UNLINK] = "DELETE FROM repo_blobs WHERE digest = ?2"
                           " AND repo_id = (SELECT id FROM repositories WHERE name = ?1)",
        [ST_HAS_REPO_BLOB] = "SELECT 1 FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2",
        [ST_HAS_MANIFEST] = "SELECT 1 FROM manifests WHERE repo_id = ?1 AND digest = ?2",
        [ST_MANIFEST_INSERT] = "INSERT INTO manifests(repo_id, digest, media_type, artifact_type,"
                               " subject, annotations, size, created_at)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                               " ON CONFLICT(repo_id, digest) DO NOTHING",
        [ST_REF_INSERT] = "INSERT INTO manifest_refs(repo_id, manifest, child, is_manifest)"
                          " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        [ST_TAG_PUT] = "INSERT INTO tags(repo_id, name, digest, updated_at) VALUES (?1, ?2, ?3, ?4)"
                       " ON CONFLICT(repo_id, name) DO UPDATE"
                       " SET digest = excluded.digest, updated_at = excluded.updated_at",
        [ST_MANIFEST_BY_DIGEST] = "SELECT m.digest, m.size, m.media_type FROM repositories r"
                                  " JOIN manifests m ON m.repo_id = r.id"
                                  " WHERE r.name = ?1 AND m.digest = ?2",
        [ST_MANIFEST_BY_TAG] = "SELECT m.digest, m.size, m.media_type FROM repositories r"
                               " JOIN tags t ON t.repo_id = r.id"
                               " JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest"
                               " WHERE r.name = ?1 AND t.name = ?2",
        /* tags and manifest_refs go with it (ON DELETE CASCADE) */
        [ST_MANIFEST_DELETE] = "DELETE FROM manifests WHERE digest = ?2"
                               " AND repo_id = (SELECT id FROM repositories WHERE name = ?1)",
        [ST_TAG_DELETE] = "DELETE FROM tags WHERE name = ?2"
                          " AND repo_id = (SELECT id FROM repositories WHERE name = ?1)",
        [ST_REPO_EXISTS] = "SELECT 1 FROM repositories r WHERE r.name = ?1"
                           " AND (EXISTS (SELECT 1 FROM repo_blobs WHERE repo_id = r.id)"
                           "   OR EXISTS (SELECT 1 FROM manifests WHERE repo_id = r.id))",
        [ST_TAGS_LIST] = "SELECT name FROM tags"
                         " WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1)"
                         " AND name > ?2 ORDER BY name LIMIT ?3",
        [ST_CATALOG] = "SELECT name FROM repositories WHERE name > ?1 ORDER BY name LIMIT ?2",
        /* INDEXED BY: without it the planner may walk the repository's manifests in
         * digest order to save the sort; this way it is a range scan of one subject. */
        [ST_REFERRERS] = "SELECT digest, size, media_type, artifact_type, annotations"
                         " FROM manifests INDEXED BY manifests_by_subject WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1)"
                         " AND subject = ?2 AND (CAST(?3 AS TEXT) IS NULL OR artifact_type = ?3)"
                         " ORDER BY digest",
        [ST_UPLOAD_ADD] = "INSERT INTO uploads(uuid, repo, created_at) VALUES (?1, ?2, ?3)",
        [ST_UPLOAD_GET] = "SELECT repo FROM uploads WHERE uuid = ?1",
        [ST_UPLOAD_DELETE] = "DELETE FROM uploads WHERE uuid = ?1",
        /* chunked uploads on an object store (storage/mpupload.c) */
        [ST_UPSESSION_ADD] = "INSERT INTO upload_sessions(uuid, alg, updated_at) VALUES (?1, ?2, ?3)",
        [ST_UPSESSION_GET] = "SELECT alg, size, upload_id, parts, tail_gen, tail_size, hash, updated_at"
                             " FROM upload_sessions WHERE uuid = ?1",
        /* a lease: free, ours already, or run out */
        [ST_UPSESSION_TAKE] = "UPDATE upload_sessions SET holder = ?2, held_until = ?4 WHERE uuid = ?1"
                              " AND (holder = '' OR holder = ?2 OR held_until < ?3)",
        [ST_UPSESSION_SAVE] = "UPDATE upload_sessions SET size = ?3, upload_id = ?4, parts = ?5, tail_gen = ?6,"
                              " tail_size = ?7, hash = ?8, updated_at = ?9, held_until = ?10"
                              " WHERE uuid = ?1 AND holder = ?2",
        [ST_UPSESSION_RELEASE] = "UPDATE upload_sessions SET holder = '', held_until = 0"
                                 " WHERE uuid = ?1 AND holder = ?2",
        [ST_UPSESSION_OLD] = "SELECT uuid, alg, size, upload_id, parts, tail_gen, tail_size, hash, updated_at"
                             " FROM upload_sessions WHERE updated_at < ?1 AND held_until < ?2"
                             " ORDER BY updated_at LIMIT 1000",
        /* garbage collection (see the section below): a manifest's reference to a
         * blob of its repository clears the link's mark */
        [ST_LINK_TOUCH] = "UPDATE repo_blobs SET unref_since = NULL"
                          " WHERE repo_id = ?1 AND digest = ?2 AND unref_since IS NOT NULL",
        /* links no manifest of their repository references, not marked yet: a page
         * in key order after (?1, ?2) */
        [ST_GC_LINK_CANDIDATES] = "SELECT rb.repo_id, rb.digest FROM repo_blobs rb"
                                  " WHERE (rb.repo_id > ?1 OR (rb.repo_id = ?1 AND rb.digest > ?2))"
                                  " AND rb.unref_since IS NULL AND NOT EXISTS (SELECT 1 FROM manifest_refs mr"
                                  "  WHERE mr.repo_id = rb.repo_id AND mr.child = rb.digest)"
                                  " ORDER BY rb.repo_id, rb.digest LIMIT ?3",
        [ST_GC_LINK_MARK] = "UPDATE repo_blobs SET unref_since = ?3"
                            " WHERE repo_id = ?1 AND digest = ?2 AND unref_since IS NULL"
                            " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = ?1 AND mr.child = ?2)",
        [ST_GC_LINK_OLD] = "SELECT repo_id, digest FROM repo_blobs WHERE unref_since <= ?1 LIMIT ?2",
        [ST_GC_LINK_DELETE] = "DELETE FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2"
                              " AND unref_since IS NOT NULL AND unref_since <= ?3"
                              " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = ?1 AND mr.child = ?2)",
        /* blobs nothing references (no link, no manifest, no manifest's reference),
         * not marked yet: a page in digest order after ?1 */
        [ST_GC_BLOB_CANDIDATES] = "SELECT b.digest FROM blobs b WHERE b.digest > ?1 AND b.unref_since IS NULL"
                                  " AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = b.digest)"
                                  " AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)"
                                  " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.child = b.digest)"
                                  " ORDER BY b.digest LIMIT ?2",
        [ST_GC_BLOB_MARK] = "UPDATE blobs SET unref_since = ?2 WHERE digest = ?1 AND unref_since IS NULL"
                            " AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = ?1)"
                            " AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = ?1)"
                            " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.child = ?1)",
        [ST_GC_BLOB_OLD] = "SELECT digest FROM blobs WHERE unref_since <= ?1 LIMIT ?2",
        [ST_GC_BLOB_DELETE] = "DELETE FROM blobs WHERE digest = ?1 AND unref_since IS NOT NULL AND unref_since <= ?2"
                              " AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = ?1)"
                              " AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = ?1)"
                              " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.child = ?1)"
                              " RETURNING size",
        /* manifests a run may delete: untagged, older than ?3, no index of their
         * repository names them, and either a referrer whose subject is not in the
         * repository (any more), or (with ?4 = 1, --delete-untagged) any other
         * untagged one; a page in key order after (?1, ?2) */
        [ST_GC_MANIFEST_CANDIDATES] = "SELECT m.repo_id, m.digest FROM manifests m"
                                      " WHERE (m.repo_id > ?1 OR (m.repo_id = ?1 AND m.digest > ?2))"
                                      " AND m.created_at <= ?3 AND (?4 = 1 OR m.subject IS NOT NULL)"
                                      " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id"
                                      "  AND t.digest = m.digest)"
                                      " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = m.repo_id"
                                      "  AND mr.child = m.digest AND mr.is_manifest = 1)"
                                      " AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s"
                                      "  WHERE s.repo_id = m.repo_id AND s.digest = m.subject))"
                                      " ORDER BY m.repo_id, m.digest LIMIT ?5",
        /* the same rule, checked again in the deleting transaction; manifest_refs go
         * with it (ON DELETE CASCADE) */
        [ST_GC_MANIFEST_DELETE] = "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2"
                                  " AND created_at <= ?3 AND (?4 = 1 OR subject IS NOT NULL)"
                                  " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = ?1 AND t.digest = ?2)"
                                  " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = ?1"
                                  "  AND mr.child = ?2 AND mr.is_manifest = 1)"
                                  " AND (subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s"
                                  "  WHERE s.repo_id = ?1 AND s.digest = manifests.subject))",
        /* a dry run's counts (?1: marks at or before it count; ?2 = 1: grace 0, where
         * what is unreferenced now goes in this very run) */
        [ST_GC_DRY_LINKS] = "SELECT count(*) FROM repo_blobs rb WHERE NOT EXISTS (SELECT 1 FROM manifest_refs mr"
                            "  WHERE mr.repo_id = rb.repo_id AND mr.child = rb.digest)"
                            " AND (?2 = 1 OR (rb.unref_since IS NOT NULL AND rb.unref_since <= ?1))",
        [ST_GC_DRY_BLOBS] = "SELECT count(*), coalesce(sum(b.size), 0) FROM blobs b"
                            " WHERE (?2 = 1 OR (b.unref_since IS NOT NULL AND b.unref_since <= ?1))"
                            " AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)"
                            " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.child = b.digest)"
                            " AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = b.digest"
                            "  AND (?2 = 0 OR EXISTS (SELECT 1 FROM manifest_refs mr2"
                            "   WHERE mr2.repo_id = rb.repo_id AND mr2.child = rb.digest)))",
        [ST_GC_DRY_MANIFESTS] = "SELECT count(*) FROM manifests m WHERE m.created_at <= ?1"
                                " AND (?2 = 1 OR m.subject IS NOT NULL)"
                                " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id"
                                "  AND t.digest = m.digest)"
                                " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = m.repo_id"
                                "  AND mr.child = m.digest AND mr.is_manifest = 1)"
                                " AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s"
                                "  WHERE s.repo_id = m.repo_id AND s.digest = m.subject))",
        /* the record of runs: keys made by the writer, inside its write transaction */
        [ST_GC_RUN_ID] = "SELECT coalesce(max(id), 0) + 1 FROM gc_runs",
        [ST_GC_RUN_INSERT] = "INSERT INTO gc_runs(id, started, who, dry_run) VALUES (?1, ?2, ?3, ?4)",
        [ST_GC_RUN_END] = "UPDATE gc_runs SET finished = ?2, result = ?3, blobs = ?4, bytes = ?5, manifests = ?6,"
                          " links = ?7, orphans = ?8, orphan_bytes = ?9, uploads = ?10, error = ?11 WHERE id = ?1",
        [ST_GC_RUNS] = "SELECT id, started, finished, who, dry_run, result, blobs, bytes, manifests, links,"
                       " orphans, orphan_bytes, uploads, error FROM gc_runs ORDER BY id DESC LIMIT ?1",
        [ST_GC_LAST_OK] = "SELECT coalesce(max(started), 0) FROM gc_runs WHERE dry_run = 0 AND result = 'ok'",
        [ST_BLOB_KNOWN] = "SELECT 1 FROM blobs WHERE digest = ?1",
        [ST_STATS] = "SELECT (SELECT count(*) FROM blobs), (SELECT coalesce(sum(size), 0) FROM blobs),"
                     " (SELECT count(*) FROM uploads)",
        /* one namespace's part of a catalog page: a range scan of the name index */
        [ST_CATALOG_RANGE] = "SELECT name FROM repositories WHERE name > ?1 AND name < ?2"
                             " ORDER BY name LIMIT ?3",
        /* one project's usage: the distinct blobs (layers, configs, manifests) that
         * its repositories (the name ?1 itself, and the names in [?2, ?3): ?1 + "/"
         * to ?1 + "0") link or hold as manifests. Index searches of the name range,
         * then each repository's links and manifests by key, then each distinct
         * digest's size by key: the work follows the project's size. */
        [ST_USAGE] = "SELECT count(*), coalesce(sum(b.size), 0) FROM blobs b WHERE b.digest IN"
                     " (SELECT rb.digest FROM repositories r JOIN repo_blobs rb ON rb.repo_id = r.id"
                     "   WHERE r.name = ?1 OR (r.name >= ?2 AND r.name < ?3)"
                     "  UNION ALL SELECT m.digest FROM repositories r JOIN manifests m ON m.repo_id = r.id"
                     "   WHERE r.name = ?1 OR (r.name >= ?2 AND r.name < ?3))",
        /* the walk over projects: the first repository name at or after ?1 */
        [ST_NAME_FROM] = "SELECT name FROM repositories WHERE name >= ?1 ORDER BY name LIMIT 1",
};

struct meta {
        db_t *db;
        db_conn_t *c; /* this meta_t's connection, for its life */
        bool shared;  /* db is the caller's; c is the thread's own (meta_open_thread) */
        bool pooled;  /* db is the caller's; c is the pool's (meta_open_pooled) */
        mcache_t *mc; /* the db's manifest cache (NULL: none) */
};

/* The connection's cached statement for id (prepared at open). */
static db_stmt_t *stmt(meta_t *m, int id) {
        db_stmt_t *st = NULL;

        return db_stmt(m->c, SQL[id], &st) == 0 ? st : NULL;
}

static int64_t now_wall(void) {
        return (int64_t) time(NULL);
}

/* Every statement prepared now (with the webhook queue's, which a change writes
 * to): a schema it does not fit fails here. Takes m. */
static int meta_prepare(meta_t *m, int r, meta_t **ret) {
        for (int i = 0; r >= 0 && i < _ST_MAX; i++) {
                db_stmt_t *st;
                r = db_stmt(m->c, SQL[i], &st);
        }
        if (r >= 0)
                r = webhook_prepare(m->c);
        if (r >= 0 && !(m->mc = mcache_of(m->db)))
                r = -ENOMEM;
        if (r < 0) {
                meta_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

int meta_open(const char *path, meta_t **ret) {
        meta_t *m;
        int r;

        if (!path || !ret)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = db_open(path, &m->db);
        if (r == -EACCES)
                r = -ENOENT;
        if (r >= 0)
                r = db_conn_get(m->db, &m->c);
        return meta_prepare(m, r, ret);
}

int meta_open_thread(db_t *db, meta_t **ret) {
        meta_t *m;
        int r;

        if (!db || !ret)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->db = db;
        m->shared = true;
        r = db_conn_open(db, &m->c);
        if (r >= 0)
                db_conn_bind_thread(m->c);
        return meta_prepare(m, r, ret);
}

int meta_open_pooled(db_t *db, meta_t **ret) {
        meta_t *m;

        if (!db || !ret)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->db = db;
        m->pooled = true;
        return meta_prepare(m, db_conn_get(db, &m->c), ret);
}

meta_t *meta_free(meta_t *m) {
        if (!m)
                return NULL;
        if (m->pooled) {
                db_conn_put(m->db, m->c); /* NULL-safe */
        } else if (m->shared) {
                db_conn_close(m->c); /* unbinds it */
        } else {
                if (m->c)
                        db_conn_put(m->db, m->c);
                db_free(m->db);
        }
        free(m);
        return NULL;
}

db_t *meta_db(meta_t *m) {
        return m ? m->db : NULL;
}

db_conn_t *meta_conn(meta_t *m) {
        return m ? m->c : NULL;
}

int meta_schema_version(meta_t *m) {
        if (!m)
                return -EINVAL;
        return db_schema_version(m->db);
}

/* ---- repositories ---- */

/* 1 and *ret, or 0 absent (created when create is set: needs a write transaction). */
static int repo_id(meta_t *m, const char *repo, bool create, int64_t *ret) {
        int r;

        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_REPO_ID);
                if ((r = db_bind_text(st, 1, repo)) < 0)
                        return r;
                r = db_step(st);
                if (r <= 0 && !(r == 0 && create))
                        return r;
                if (r == 1) {
                        *ret = db_col_int(st, 0);
                        return 1;
                }
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_REPO_INSERT);
                /* RETURNING: the key comes back as a row, on every engine */
                if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_step(st)) < 0)
                        return r;
                if (r == 0)
                        return db_tx_fail(m->c, BERTH_EDB);
                *ret = db_col_int(st, 0);
                return 1;
        }
}

int meta_repo_exists(meta_t *m, const char *repo) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !repo)
                return -EINVAL;
        st = stmt(m, ST_REPO_EXISTS);
        if ((r = db_bind_text(st, 1, repo)) < 0)
                return r;
        return db_step(st);
}

/* ---- blobs ---- */

static int blob_insert(meta_t *m, const digest_t *d, uint64_t size) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_BLOB_INSERT);
        int r;

        if ((r = db_bind_text(st, 1, d->str)) < 0 || (r = db_bind_uint(st, 2, size)) < 0 ||
            (r = db_bind_int(st, 3, now_wall())) < 0)
                return r;
        return db_step_done(st);
}

int meta_blob_link(meta_t *m, const char *repo, const digest_t *d, uint64_t size) {
        return meta_blob_link_ensure(m, repo, d, size, NULL, NULL);
}

/* quota: the project's quota is checked in the transaction (usage-internal.h) */
static int blob_link(meta_t *m, const char *repo, const digest_t *d, uint64_t size, meta_ensure_fn ensure,
                     void *userdata, bool quota) {
        usage_tx_t q = { 0 };
        int64_t rid;
        int r;

        if (!m || !repo || !d)
                return -EINVAL;
        if (size > (uint64_t) INT64_MAX)
                return -EOVERFLOW;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        r = quota ? usage__tx_begin(m->c, repo, &q) : 0;
        if (r >= 0)
                r = repo_id(m, repo, true, &rid);
        if (r >= 0)
                r = blob_insert(m, d, size);
        if (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_REPO_BLOB_INSERT);
                if ((r = db_bind_int(st, 1, rid)) >= 0 && (r = db_bind_text(st, 2, d->str)) >= 0 &&
                    (r = db_bind_int(st, 3, now_wall())) >= 0)
                        r = db_step_done(st);
        }
        if (r >= 0 && quota)
                r = usage__tx_end(m->c, &q, d->str, NULL);
        /* the row is there now: its file must be too, checked while no GC can
         * remove it (a sweep removes files only inside its own write transaction) */
        if (r >= 0 && ensure)
                r = ensure(userdata);
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        return db_tx_commit(m->c);
}

int meta_blob_link_ensure(meta_t *m, const char *repo, const digest_t *d, uint64_t size, meta_ensure_fn ensure,
                          void *userdata) {
        return blob_link(m, repo, d, size, ensure, userdata, false);
}

int meta_blob_link_quota(meta_t *m, const char *repo, const digest_t *d, uint64_t size, meta_ensure_fn ensure,
                         void *userdata) {
        return blob_link(m, repo, d, size, ensure, userdata, true);
}

int meta_blob_linked(meta_t *m, const char *repo, const digest_t *d, uint64_t *ret_size) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !repo || !d)
                return -EINVAL;
        st = stmt(m, ST_BLOB_LINKED);
        if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_bind_text(st, 2, d->str)) < 0)
                return r;
        r = db_step(st);
        if (r == 1 && ret_size)
                *ret_size = (uint64_t) db_col_int(st, 0);
        return r;
}

int meta_blob_find_repo(meta_t *m, const digest_t *d, char **ret_repo, uint64_t *ret_size) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !d)
                return -EINVAL;
        st = stmt(m, ST_BLOB_FIND_REPO);
        if ((r = db_bind_text(st, 1, d->str)) < 0)
                return r;
        r = db_step(st);
        if (r != 1)
                return r;
        if (ret_repo) {
                const char *name = db_col_text(st, 0);
                char *copy = name ? strdup(name) : NULL;
                if (!copy)
                        return -ENOMEM;
                *ret_repo = copy;
        }
        if (ret_size)
                *ret_size = (uint64_t) db_col_int(st, 1);
        return 1;
}

int meta_blob_unlink(meta_t *m, const char *repo, const digest_t *d) {
        int r;

        if (!m || !repo || !d)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_BLOB_UNLINK);
                if ((r = db_bind_text(st, 1, repo)) >= 0 && (r = db_bind_text(st, 2, d->str)) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        r = db_changes(m->c) > 0;
        {
                int c = db_tx_commit(m->c);
                if (c < 0)
                        return c;
        }
        return r;
}

/* ---- manifests ---- */

static int has_ref(meta_t *m, int64_t rid, const meta_ref_t *ref) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ref->is_manifest ? ST_HAS_MANIFEST : ST_HAS_REPO_BLOB);
        int r;

        if ((r = db_bind_int(st, 1, rid)) < 0 || (r = db_bind_text(st, 2, ref->digest.str)) < 0)
                return r;
        return db_step(st);
}

static int manifest_insert(meta_t *m, int64_t rid, const meta_manifest_t *mf) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_MANIFEST_INSERT);
        int r;

        if ((r = db_bind_int(st, 1, rid)) < 0 || (r = db_bind_text(st, 2, mf->digest.str)) < 0 ||
            (r = db_bind_text(st, 3, mf->media_type)) < 0 ||
            (r = db_bind_text(st, 4, mf->artifact_type)) < 0 ||
            (r = db_bind_text(st, 5, mf->subject ? mf->subject->str : NULL)) < 0 ||
            (r = db_bind_text(st, 6, mf->annotations_json)) < 0 || (r = db_bind_uint(st, 7, mf->size)) < 0 ||
            (r = db_bind_int(st, 8, now_wall())) < 0)
                return r;
        r = db_step_done(st);
        if (r < 0)
                return r;
        return db_changes(m->c) > 0; /* 1 new, 0 already there */
}

static int ref_insert(meta_t *m, int64_t rid, const digest_t *manifest, const meta_ref_t *ref) {
        int r;

        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_REF_INSERT);
                if ((r = db_bind_int(st, 1, rid)) < 0 || (r = db_bind_text(st, 2, manifest->str)) < 0 ||
                    (r = db_bind_text(st, 3, ref->digest.str)) < 0 || (r = db_bind_int(st, 4, ref->is_manifest)) < 0 ||
                    (r = db_step_done(st)) < 0)
                        return r;
        }
        if (ref->is_manifest)
                return 0;
        /* the link is referenced now: a GC mark on it goes */
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_LINK_TOUCH);
                if ((r = db_bind_int(st, 1, rid)) < 0 || (r = db_bind_text(st, 2, ref->digest.str)) < 0)
                        return r;
                return db_step_done(st);
        }
}

static int tag_put(meta_t *m, int64_t rid, const char *tag, const digest_t *d) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_TAG_PUT);
        int r;

        if ((r = db_bind_int(st, 1, rid)) < 0 || (r = db_bind_text(st, 2, tag)) < 0 ||
            (r = db_bind_text(st, 3, d->str)) < 0 || (r = db_bind_int(st, 4, now_wall())) < 0)
                return r;
        return db_step_done(st);
}

static int64_t origin_time(const meta_origin_t *o) {
        return o && o->now ? o->now : now_wall();
}

/* Push events: one per tag, or one without a tag. Inside the put's transaction. */
static int push_events(meta_t *m, const meta_manifest_t *mf, const char *const *tags, size_t n_tags) {
        meta_origin_t *o = mf->origin;
        webhook_event_t ev = { .type = WEBHOOK_PUSH, .repository = mf->repo, .digest = mf->digest.str,
                               .media_type = mf->media_type, .size = mf->size,
                               .actor = o ? o->actor : NULL, .address = o ? o->address : NULL,
                               .time = origin_time(o) };
        int r = webhook_wanted(m->c, mf->repo, WEBHOOK_PUSH);

        if (r <= 0)
                return r;
        for (size_t i = 0; r >= 0 && i < (n_tags ? n_tags : 1); i++) {
                ev.tag = n_tags ? tags[i] : NULL;
                r = webhook_enqueue(m->c, &ev, o ? &o->queued : NULL);
        }
        return r;
}

int meta_manifest_put(meta_t *m, const meta_manifest_t *mf, const char *const *tags,
                      size_t n_tags, digest_t *ret_missing) {
        usage_tx_t q = { 0 };
        int64_t rid;
        int r;

        if (!m || !mf || !mf->repo || !mf->media_type || (mf->n_refs > 0 && !mf->refs) ||
            (n_tags > 0 && !tags))
                return -EINVAL;
        if (strnlen(mf->media_type, MEDIA_TYPE_MAX) >= MEDIA_TYPE_MAX)
                return BERTH_EMANIFEST; /* would not fit meta_manifest_info_t */
        if (mf->size > (uint64_t) INT64_MAX)
                return -EOVERFLOW;
        for (size_t i = 0; i < n_tags; i++)
                if (!tags[i])
                        return -EINVAL;

        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        /* a push is held to the project's quota; a pull-through cache's copy is not */
        r = mf->refs_later ? 0 : usage__tx_begin(m->c, mf->repo, &q);
        if (r >= 0)
                r = repo_id(m, mf->repo, true, &rid);
        for (size_t i = 0; r >= 0 && !mf->refs_later && i < mf->n_refs; i++) {
                r = has_ref(m, rid, &mf->refs[i]);
                if (r == 0) {
                        if (ret_missing)
                                *ret_missing = mf->refs[i].digest;
                        r = BERTH_EMANIFEST_BLOB_UNKNOWN;
                }
        }
        if (r >= 0)
                r = blob_insert(m, &mf->digest, mf->size);
        if (r >= 0)
                r = manifest_insert(m, rid, mf);
        if (r == 1)
                for (size_t i = 0; r >= 0 && i < mf->n_refs; i++)
                        r = ref_insert(m, rid, &mf->digest, &mf->refs[i]);
        for (size_t i = 0; r >= 0 && i < n_tags; i++) {
                /* an immutable tag is not moved (storage/retention.c) */
                r = meta__immutable_check_tag(m->c, mf->repo, tags[i], mf->digest.str);
                if (r >= 0)
                        r = tag_put(m, rid, tags[i], &mf->digest);
        }
        if (r >= 0 && !mf->refs_later)
                r = usage__tx_end(m->c, &q, mf->digest.str, mf->origin);
        /* the manifest's own file, checked while no GC can remove it */
        if (r >= 0 && mf->ensure)
                r = mf->ensure(mf->ensure_userdata);
        if (r >= 0)
                r = meta_repo_changed(m->c, mf->repo);
        if (r >= 0)
                r = push_events(m, mf, tags, n_tags);
        if (r < 0) {
                db_tx_rollback(m->c); /* also undoes a repository row created above */
                if (mf->origin)
                        mf->origin->queued = 0;
                return r;
        }
        r = db_tx_commit(m->c);
        if (r < 0 && mf->origin)
                mf->origin->queued = 0;
        return r;
}

int meta_repo_changed(db_conn_t *c, const char *repo) {
        return db_notify(c, DB_NOTIFY_REPO, repo ? repo : "");
}

int meta_manifest_get(meta_t *m, const char *repo, const char *reference,
                      meta_manifest_info_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        meta_manifest_info_t info = { 0 };
        mcache_stamp_t stamp;
        const char *dstr, *mt;
        digest_t d; /* bound by reference: lives until the statement is reset */
        int r;

        if (!m || !repo || !reference || !ret)
                return -EINVAL;
        /* the cache first (bypassed inside a transaction and while changes cannot
         * be heard); the stamp is taken before the read that fills it */
        if (mcache_lookup(m->mc, m->c, repo, reference, ret, &stamp) == 1)
                return 1;
        if (digest_ref_is_digest(reference)) {
                r = digest_parse(reference, &d);
                if (r < 0)
                        return r;
                st = stmt(m, ST_MANIFEST_BY_DIGEST);
                if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_bind_text(st, 2, d.str)) < 0)
                        return r;
        } else {
                st = stmt(m, ST_MANIFEST_BY_TAG);
                if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_bind_text(st, 2, reference)) < 0)
                        return r;
        }
        r = db_step(st);
        if (r != 1)
                return r;
        dstr = db_col_text(st, 0);
        if (!dstr || digest_parse(dstr, &info.digest) < 0)
                return BERTH_EDB;
        info.size = (uint64_t) db_col_int(st, 1);
        mt = db_col_text(st, 2);
        if (!mt || strlen(mt) >= sizeof(info.media_type))
                return BERTH_EDB;
        memcpy(info.media_type, mt, strlen(mt) + 1);
        mcache_insert(m->mc, &stamp, repo, reference, &info);
        *ret = info;
        return 1;
}

/* What a delete event tells of the manifest (or the tag's manifest) about to go,
 * read in the delete's transaction: 1 found (*ev filled, its strings in the
 * buffers), 0 not, <0. */
static int delete_subject(meta_t *m, int find, const char *repo, const char *key, webhook_event_t *ev,
                          char *digest, size_t dsize, char *media_type, size_t msize) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, find);
        const char *d, *mt;
        int r;

        if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_bind_text(st, 2, key)) < 0 || (r = db_step(st)) <= 0)
                return r;
        d = db_col_text(st, 0);
        mt = db_col_text(st, 2);
        if (!d || !mt || snprintf(digest, dsize, "%s", d) >= (int) dsize ||
            snprintf(media_type, msize, "%s", mt) >= (int) msize)
                return db_tx_fail(m->c, BERTH_EDB);
        ev->digest = digest;
        ev->media_type = media_type;
        ev->size = (uint64_t) db_col_int(st, 1);
        return 1;
}

/* Run a one-statement delete keyed by (repo name, text) in a write transaction,
 * with its delete event (find: the statement that reads what it tells). 1
 * something deleted, 0 nothing. */
static int delete_one(meta_t *m, int id, int find, const char *repo, const char *key, bool is_tag,
                      meta_origin_t *o) {
        webhook_event_t ev = { .type = WEBHOOK_DELETE, .repository = repo, .tag = is_tag ? key : NULL,
                               .actor = o ? o->actor : NULL, .address = o ? o->address : NULL,
                               .time = origin_time(o) };
        char digest[DIGEST_STR_MAX], media_type[MEDIA_TYPE_MAX];
        int r, c, event;

        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        event = r = webhook_wanted(m->c, repo, WEBHOOK_DELETE);
        if (r > 0)
                event = r = delete_subject(m, find, repo, key, &ev, digest, sizeof(digest), media_type,
                                           sizeof(media_type));
        /* an immutable tag, or a manifest one names, stays (storage/retention.c) */
        if (r >= 0)
                r = is_tag ? meta__immutable_check_tag(m->c, repo, key, NULL)
                           : meta__immutable_check_manifest(m->c, repo, key);
        if (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, id);
                if ((r = db_bind_text(st, 1, repo)) >= 0 && (r = db_bind_text(st, 2, key)) >= 0)
                        r = db_step_done(st);
        }
        if (r >= 0 && (r = db_changes(m->c) > 0)) {
                int e = meta_repo_changed(m->c, repo);
                if (e >= 0 && event > 0)
                        e = webhook_enqueue(m->c, &ev, o ? &o->queued : NULL);
                if (e < 0)
                        r = e;
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                if (o)
                        o->queued = 0;
                return r;
        }
        c = db_tx_commit(m->c);
        if (c < 0 && o)
                o->queued = 0;
        return c < 0 ? c : r;
}

int meta_manifest_delete_from(meta_t *m, const char *repo, const digest_t *d, meta_origin_t *origin) {
        if (!m || !repo || !d)
                return -EINVAL;
        return delete_one(m, ST_MANIFEST_DELETE, ST_MANIFEST_BY_DIGEST, repo, d->str, false, origin);
}

int meta_tag_delete_from(meta_t *m, const char *repo, const char *tag, meta_origin_t *origin) {
        if (!m || !repo || !tag)
                return -EINVAL;
        return delete_one(m, ST_TAG_DELETE, ST_MANIFEST_BY_TAG, repo, tag, true, origin);
}

int meta_manifest_delete(meta_t *m, const char *repo, const digest_t *d) {
        return meta_manifest_delete_from(m, repo, d, NULL);
}

int meta_tag_delete(meta_t *m, const char *repo, const char *tag) {
        return meta_tag_delete_from(m, repo, tag, NULL);
}

/* ---- listings ---- */

char **meta_strv_free(char **v) {
        if (!v)
                return NULL;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
        return NULL;
}

/* Rows of column 0 of a stepped statement: at most n into *ret, *ret_more when the
 * statement (run with LIMIT n + 1) yields one more. */
static int collect_names(db_stmt_t *st, size_t n, char ***ret, bool *ret_more) {
        char **v = NULL;
        size_t len = 0, cap = 0;
        bool more = false;
        int r;

        v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        while ((r = db_step(st)) == 1) {
                const char *s = db_col_text(st, 0);
                char *copy;

                if (len == n) {
                        more = true;
                        break;
                }
                if (len + 1 >= cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        char **nv = reallocarray(v, ncap, sizeof(char *));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = ncap;
                }
                copy = strdup(s ? s : "");
                if (!copy) {
                        r = -ENOMEM;
                        break;
                }
                v[len++] = copy;
                v[len] = NULL;
        }
        if (r < 0) {
                meta_strv_free(v);
                return r;
        }
        *ret = v;
        if (ret_more)
                *ret_more = more;
        return 0;
}

/* LIMIT n + 1, capped so that it fits SQLite's integer. */
static int64_t limit_plus_one(size_t n) {
        return n >= (size_t) INT64_MAX - 1 ? INT64_MAX : (int64_t) n + 1;
}

int meta_tags_list(meta_t *m, const char *repo, const char *last, size_t n,
                   char ***ret, bool *ret_more) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !repo || !ret)
                return -EINVAL;
        st = stmt(m, ST_TAGS_LIST);
        if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_bind_text(st, 2, last ? last : "")) < 0 ||
            (r = db_bind_int(st, 3, limit_plus_one(n))) < 0)
                return r;
        return collect_names(st, n, ret, ret_more);
}

int meta_catalog(meta_t *m, const char *last, size_t n, char ***ret, bool *ret_more) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !ret)
                return -EINVAL;
        st = stmt(m, ST_CATALOG);
        if ((r = db_bind_text(st, 1, last ? last : "")) < 0 || (r = db_bind_int(st, 2, limit_plus_one(n))) < 0)
                return r;
        return collect_names(st, n, ret, ret_more);
}

static int cmp_names(const void *x, const void *y) {
        return strcmp(*(char *const *) x, *(char *const *) y);
}

/* Appends a copy of s to *v (len entries, room for cap, kept NULL-terminated). */
static int names_push(char ***v, size_t *len, size_t *cap, const char *s) {
        char *copy;

        if (*len + 1 >= *cap) {
                size_t ncap = *cap ? *cap * 2 : 16;
                char **nv = reallocarray(*v, ncap, sizeof(char *));
                if (!nv)
                        return -ENOMEM;
                *v = nv;
                *cap = ncap;
        }
        copy = strdup(s ? s : "");
        if (!copy)
                return -ENOMEM;
        (*v)[(*len)++] = copy;
        (*v)[*len] = NULL;
        return 0;
}

/* Sorts v and keeps its first max entries. */
static void names_sort_trim(char **v, size_t *len, size_t max) {
        qsort(v, *len, sizeof(char *), cmp_names);
        while (*len > max)
                free(v[--*len]);
        v[*len] = NULL;
}

int meta_catalog_under(meta_t *m, const char *const *tops, size_t n_tops, const char *last,
                       size_t n, char ***ret, bool *ret_more) {
        const size_t keep = n >= SIZE_MAX - 1 ? SIZE_MAX - 1 : n + 1; /* one more: is there a next page? */
        char lo[META_TOP_MAX + 2], hi[META_TOP_MAX + 2];
        char **v = NULL;
        size_t len = 0, cap = 0;
        int r = 0;

        if (!m || (!tops && n_tops) || !ret)
                return -EINVAL;
        v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        cap = 1;
        for (size_t i = 0; i < n_tops && r >= 0; i++) {
                const char *t = tops[i];
                size_t tl = t ? strlen(t) : 0;

                if (tl == 0 || tl > META_TOP_MAX || strchr(t, '/') ||
                    (i > 0 && tops[i - 1] && strcmp(tops[i - 1], t) >= 0))
                        continue; /* not a first path component, or out of order */
                /* Every name of this namespace is t itself or in [t + "/", t + "0"):
                 * '/' sorts just before '0', after the '-' and '.' of t-x and t.x. */
                memcpy(lo, t, tl);
                memcpy(hi, t, tl);
                lo[tl] = '/';
                hi[tl] = '0';
                lo[tl + 1] = hi[tl + 1] = '\0';
                if (last && strcmp(hi, last) <= 0)
                        continue; /* all of it is on earlier pages */
                /* v holds the first `keep` names found so far, sorted: a namespace
                 * sorting after the last of them (and all the ones after it) cannot
                 * change the page. */
                if (len >= keep && strcmp(t, v[keep - 1]) > 0)
                        break;
                if (!last || strcmp(t, last) > 0) {
                        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_REPO_ID);
                        if ((r = db_bind_text(st, 1, t)) < 0 || (r = db_step(st)) < 0)
                                break;
                        if (r == 1 && (r = names_push(&v, &len, &cap, t)) < 0)
                                break;
                }
                {
                        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_CATALOG_RANGE);
                        if ((r = db_bind_text(st, 1, last && strcmp(last, lo) > 0 ? last : lo)) < 0 ||
                            (r = db_bind_text(st, 2, hi)) < 0 || (r = db_bind_int(st, 3, limit_plus_one(n))) < 0)
                                break;
                        while ((r = db_step(st)) == 1)
                                if ((r = names_push(&v, &len, &cap,
                                                    db_col_text(st, 0))) < 0)
                                        break;
                }
                if (r >= 0 && len >= keep)
                        names_sort_trim(v, &len, keep);
        }
        if (r < 0) {
                meta_strv_free(v);
                return r;
        }
        names_sort_trim(v, &len, keep);
        if (ret_more)
                *ret_more = len > n;
        if (len > n)
                names_sort_trim(v, &len, n);
        *ret = v;
        return 0;
}

/* ---- referrers ---- */

void meta_referrers_free(meta_referrer_t *v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++) {
                free(v[i].media_type);
                free(v[i].artifact_type);
                free(v[i].annotations_json);
        }
        free(v);
}

int meta_referrers(meta_t *m, const char *repo, const digest_t *subject,
                   const char *artifact_type, meta_referrer_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        meta_referrer_t *v = NULL;
        size_t len = 0, cap = 0;
        int r;

        if (!m || !repo || !subject || !ret || !ret_n)
                return -EINVAL;
        st = stmt(m, ST_REFERRERS);
        if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_bind_text(st, 2, subject->str)) < 0 ||
            (r = db_bind_text(st, 3, artifact_type)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                meta_referrer_t *e;
                const char *dstr = db_col_text(st, 0);

                if (len == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        meta_referrer_t *nv = reallocarray(v, ncap, sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = ncap;
                }
                e = &v[len];
                memset(e, 0, sizeof(*e));
                len++;
                if (!dstr || digest_parse(dstr, &e->digest) < 0) {
                        r = BERTH_EDB;
                        break;
                }
                e->size = (uint64_t) db_col_int(st, 1);
                if ((r = db_col_strdup(st, 2, &e->media_type)) < 0 ||
                    (r = db_col_strdup(st, 3, &e->artifact_type)) < 0 ||
                    (r = db_col_strdup(st, 4, &e->annotations_json)) < 0)
                        break;
                if (!e->media_type) {
                        r = BERTH_EDB;
                        break;
                }
        }
        if (r < 0) {
                meta_referrers_free(v, len);
                return r;
        }
        *ret = v;
        *ret_n = len;
        return 0;
}

/* ---- upload sessions ---- */

/* Adds the uploads row for uuid in the current transaction. */
static int upload_row_add(meta_t *m, const char *uuid, const char *repo) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_UPLOAD_ADD);
        int r;

        if ((r = db_bind_text(st, 1, uuid)) >= 0 && (r = db_bind_text(st, 2, repo)) >= 0 &&
            (r = db_bind_int(st, 3, now_wall())) >= 0)
                r = db_step_done(st);
        return r;
}

int meta_upload_add(meta_t *m, const char *uuid, const char *repo) {
        int r;

        if (!m || !uuid || !repo)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        r = upload_row_add(m, uuid, repo);
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        return db_tx_commit(m->c);
}

int meta_upload_get(meta_t *m, const char *uuid, char **ret_repo) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !uuid)
                return -EINVAL;
        st = stmt(m, ST_UPLOAD_GET);
        if ((r = db_bind_text(st, 1, uuid)) < 0)
                return r;
        r = db_step(st);
        if (r == 1 && ret_repo) {
                int c = db_col_strdup(st, 0, ret_repo);
                if (c < 0)
                        return c;
                if (!*ret_repo)
                        return BERTH_EDB;
        }
        return r;
}

int meta_upload_delete(meta_t *m, const char *uuid) {
        int r, c;

        if (!m || !uuid)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_UPLOAD_DELETE);
                if ((r = db_bind_text(st, 1, uuid)) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        r = db_changes(m->c) > 0;
        c = db_tx_commit(m->c);
        return c < 0 ? c : r;
}

/* ---- chunked uploads on an object store (step 9) ---- */

void meta_upsession_clear(meta_upsession_t *u) {
        if (!u)
                return;
        free(u->upload_id);
        free(u->parts);
        free(u->hash);
        memset(u, 0, sizeof(*u));
}

/* The columns alg .. updated_at from col on. */
static int upsession_row(db_stmt_t *st, int col, meta_upsession_t *u) {
        const char *alg = db_col_text(st, col);
        int r;

        if (!alg || digest_alg_parse(alg, &u->alg) < 0)
                return BERTH_EDB;
        u->size = (uint64_t) db_col_int(st, col + 1);
        if ((r = db_col_strdup(st, col + 2, &u->upload_id)) < 0 || (r = db_col_strdup(st, col + 3, &u->parts)) < 0)
                return r;
        u->tail_gen = (uint64_t) db_col_int(st, col + 4);
        u->tail_size = (uint64_t) db_col_int(st, col + 5);
        if (!db_col_null(st, col + 6) && (r = db_col_strdup(st, col + 6, &u->hash)) < 0)
                return r;
        u->updated_at = db_col_int(st, col + 7);
        if (!u->upload_id || !u->parts)
                return BERTH_EDB;
        return 0;
}

int meta_upsession_add(meta_t *m, const char *uuid, const char *repo, digest_alg_t alg) {
        int r;

        if (!m || !uuid || !repo)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        r = upload_row_add(m, uuid, repo);
        if (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_UPSESSION_ADD);
                if ((r = db_bind_text(st, 1, uuid)) >= 0 && (r = db_bind_text(st, 2, digest_alg_name(alg))) >= 0 &&
                    (r = db_bind_int(st, 3, now_wall())) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        return db_tx_commit(m->c);
}

static int upsession_read(meta_t *m, const char *uuid, meta_upsession_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_UPSESSION_GET);
        int r;

        if ((r = db_bind_text(st, 1, uuid)) < 0)
                return r;
        r = db_step(st);
        if (r != 1)
                return r;
        memset(ret, 0, sizeof(*ret));
        (void) snprintf(ret->uuid, sizeof(ret->uuid), "%s", uuid);
        r = upsession_row(st, 0, ret);
        if (r < 0) {
                meta_upsession_clear(ret);
                return r;
        }
        return 1;
}

int meta_upsession_get(meta_t *m, const char *uuid, meta_upsession_t *ret) {
        if (!m || !uuid || !ret)
                return -EINVAL;
        return upsession_read(m, uuid, ret);
}

int meta_upsession_take(meta_t *m, const char *uuid, const char *holder, int64_t now, int64_t until,
                        meta_upsession_t *ret) {
        int r, c;

        if (!m || !uuid || !holder || !*holder || !ret)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_UPSESSION_TAKE);
                if ((r = db_bind_text(st, 1, uuid)) >= 0 && (r = db_bind_text(st, 2, holder)) >= 0 &&
                    (r = db_bind_int(st, 3, now)) >= 0 && (r = db_bind_int(st, 4, until)) >= 0)
                        r = db_step_done(st);
        }
        if (r >= 0) {
                bool taken = db_changes(m->c) > 0;
                r = upsession_read(m, uuid, ret);
                if (r == 1 && !taken) {
                        meta_upsession_clear(ret);
                        r = BERTH_EBUSY;
                }
        }
        if (r < 0 || r == 0) {
                db_tx_rollback(m->c);
                return r;
        }
        c = db_tx_commit(m->c);
        if (c < 0) {
                meta_upsession_clear(ret);
                return c;
        }
        return 1;
}

int meta_upsession_save(meta_t *m, const meta_upsession_t *u, const char *holder, int64_t now, int64_t until) {
        int r, c;

        if (!m || !u || !holder)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_UPSESSION_SAVE);
                if ((r = db_bind_text(st, 1, u->uuid)) >= 0 && (r = db_bind_text(st, 2, holder)) >= 0 &&
                    (r = db_bind_uint(st, 3, u->size)) >= 0 &&
                    (r = db_bind_text(st, 4, u->upload_id ? u->upload_id : "")) >= 0 &&
                    (r = db_bind_text(st, 5, u->parts ? u->parts : "")) >= 0 &&
                    (r = db_bind_uint(st, 6, u->tail_gen)) >= 0 && (r = db_bind_uint(st, 7, u->tail_size)) >= 0 &&
                    (r = u->hash ? db_bind_text(st, 8, u->hash) : db_bind_null(st, 8)) >= 0 &&
                    (r = db_bind_int(st, 9, now)) >= 0 && (r = db_bind_int(st, 10, until)) >= 0)
                        r = db_step_done(st);
        }
        if (r >= 0 && db_changes(m->c) == 0)
                r = BERTH_EBUSY; /* the lease ran out and another request took it */
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        c = db_tx_commit(m->c);
        return c < 0 ? c : 0;
}

int meta_upsession_release(meta_t *m, const char *uuid, const char *holder) {
        int r;

        if (!m || !uuid || !holder)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_UPSESSION_RELEASE);
                if ((r = db_bind_text(st, 1, uuid)) >= 0 && (r = db_bind_text(st, 2, holder)) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        return db_tx_commit(m->c);
}

int meta_upsession_old(meta_t *m, int64_t before, int64_t now, meta_upsession_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        meta_upsession_t *v = NULL;
        size_t n = 0, cap = 0;
        int r;

        if (!m || !ret || !ret_n)
                return -EINVAL;
        st = stmt(m, ST_UPSESSION_OLD);
        if ((r = db_bind_int(st, 1, before)) < 0 || (r = db_bind_int(st, 2, now)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                const char *uuid = db_col_text(st, 0);
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        void *p = reallocarray(v, nc, sizeof(*v));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        v = p;
                        cap = nc;
                }
                memset(&v[n], 0, sizeof(v[n]));
                (void) snprintf(v[n].uuid, sizeof(v[n].uuid), "%s", uuid ? uuid : "");
                r = upsession_row(st, 1, &v[n]);
                n++;
                if (r < 0)
                        break;
        }
        if (r < 0) {
                meta_upsessions_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void meta_upsessions_free(meta_upsession_t *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_upsession_clear(&v[i]);
        free(v);
}

/* ---- usage per project ---- */

int meta_usage(meta_t *m, const char *project, meta_usage_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char lo[META_TOP_MAX + 2], hi[META_TOP_MAX + 2];
        size_t pl;
        int r;

        if (!m || !project || !ret)
                return -EINVAL;
        pl = strlen(project);
        if (pl == 0 || pl > META_TOP_MAX || strchr(project, '/'))
                return -EINVAL;
        /* P's names are P itself and [P + "/", P + "0"): '0' is the byte after '/' */
        memcpy(lo, project, pl);
        memcpy(hi, project, pl);
        lo[pl] = '/';
        hi[pl] = '0';
        lo[pl + 1] = hi[pl + 1] = '\0';
        st = stmt(m, ST_USAGE);
        if ((r = db_bind_text(st, 1, project)) < 0 || (r = db_bind_text(st, 2, lo)) < 0 ||
            (r = db_bind_text(st, 3, hi)) < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return BERTH_EDB;
        ret->blobs = (uint64_t) db_col_int(st, 0);
        ret->bytes = (uint64_t) db_col_int(st, 1);
        return 0;
}

void meta_usage_free(meta_project_usage_t *v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i].project);
        free(v);
}

/* The first repository name >= from (> from with after): 1 and *ret (malloc'd),
 * 0 none. */
static int name_from(meta_t *m, const char *from, bool after, char **ret) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, after ? ST_CATALOG : ST_NAME_FROM);
        int r;

        if ((r = db_bind_text(st, 1, from)) < 0 || (after && (r = db_bind_int(st, 2, 1)) < 0) ||
            (r = db_step(st)) <= 0)
                return r;
        if ((r = db_col_strdup(st, 0, ret)) < 0)
                return r;
        return *ret ? 1 : BERTH_EDB;
}

static int cmp_usage(const void *x, const void *y) {
        return strcmp(((const meta_project_usage_t *) x)->project, ((const meta_project_usage_t *) y)->project);
}

int meta_usage_all(meta_t *m, meta_project_usage_t **ret, size_t *ret_n) {
        meta_project_usage_t *v = NULL;
        char *from = strdup(""), *name = NULL;
        bool after = false;
        size_t len = 0, cap = 0;
        int r;

        if (!m || !ret || !ret_n) {
                free(from);
                return -EINVAL;
        }
        if (!from)
                return -ENOMEM;
        /* Byte order puts P-x/... and P.x/... between the name P and P/...: the walk
         * meets a project P either at the name P (then sums P, and goes on just after
         * that name: the other projects in between come next, and P/... later) or at
         * its first name P/... (then sums P unless the name P exists: P was summed
         * there), and jumps past P's range to P + "0". One range search per project
         * (two when the name P exists), whatever the number of repositories. */
        while ((r = name_from(m, from, after, &name)) == 1) {
                size_t pl = strcspn(name, "/");
                bool bare = name[pl] == '\0', done = false;
                char *next;

                name[pl] = '\0'; /* the project */
                if (!bare) {
                        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_REPO_ID);
                        if ((r = db_bind_text(st, 1, name)) < 0 || (r = db_step(st)) < 0)
                                break;
                        done = r == 1;
                }
                if (!done && pl > 0 && pl <= META_TOP_MAX) {
                        if (len == cap) {
                                size_t ncap = cap ? cap * 2 : 16;
                                meta_project_usage_t *nv = reallocarray(v, ncap, sizeof(*v));
                                if (!nv) {
                                        r = -ENOMEM;
                                        break;
                                }
                                v = nv;
                                cap = ncap;
                        }
                        v[len] = (meta_project_usage_t){ .project = strdup(name) };
                        if (!v[len].project) {
                                r = -ENOMEM;
                                break;
                        }
                        len++;
                        if ((r = meta_usage(m, name, &v[len - 1].usage)) < 0)
                                break;
                }
                /* next: the first name after the name P, or from P + "0", past P/... */
                if (bare)
                        next = name;
                else if (asprintf(&next, "%s0", name) < 0) {
                        r = -ENOMEM;
                        break;
                } else
                        free(name);
                free(from);
                from = next;
                after = bare;
                name = NULL;
        }
        free(name);
        free(from);
        if (r < 0) {
                meta_usage_free(v, len);
                return r;
        }
        if (len > 1)
                qsort(v, len, sizeof(*v), cmp_usage);
        *ret = v;
        *ret_n = len;
        return 0;
}

/* ---- self-check of query plans (unit tests) ---- */

struct plan_seen {
        const char *uses;
        bool pg;
        bool seen;
        char why[256];
};

/* A plan line that scans a whole table or sorts is a cost that grows with the rows.
 * SQLite: "SCAN t", "USE TEMP B-TREE FOR ORDER BY"; PostgreSQL: "Seq Scan on t",
 * a "Sort" node. */
static int plan_line(const char *d, void *userdata) {
        struct plan_seen *ps = userdata;
        const char *node = d + strspn(d, " ->");

        if (ps->pg ? strstr(d, "Seq Scan") || strncmp(node, "Sort ", 5) == 0 || strncmp(node, "Incremental Sort", 16) == 0
                   : strncmp(d, "SCAN", 4) == 0 || strstr(d, "TEMP B-TREE"))
                (void) snprintf(ps->why, sizeof(ps->why), "%s", node);
        if (ps->uses && strstr(d, ps->uses))
                ps->seen = true;
        return 0;
}

int meta__plans_check(meta_t *m, char *bad, size_t n) {
        /* Lookups and listing pages: each must be an index search, never a table scan
         * or a sort, so that its cost does not grow with the number of rows; pages
         * must seek straight to their first row (the key named in `uses`, as each
         * engine words it). */
        static const struct {
                int id;
                const char *uses, *uses_pg; /* a plan line must contain this, if set */
        } checked[] = {
                { ST_REPO_ID, NULL, NULL },
                { ST_BLOB_LINKED, NULL, NULL },
                { ST_HAS_REPO_BLOB, NULL, NULL },
                { ST_HAS_MANIFEST, NULL, NULL },
                { ST_MANIFEST_BY_DIGEST, NULL, NULL },
                { ST_MANIFEST_BY_TAG, NULL, NULL },
                { ST_MANIFEST_DELETE, NULL, NULL },
                { ST_TAG_DELETE, NULL, NULL },
                { ST_REPO_EXISTS, NULL, NULL },
                { ST_TAGS_LIST, "(repo_id=? AND name>?)", "Index Cond: ((repo_id = $0) AND (name > $2))" },
                { ST_CATALOG, "(name>?)", "Index Cond: (name > $1)" },
                { ST_REFERRERS, "manifests_by_subject (repo_id=? AND subject=?)",
                  "Index Scan using manifests_by_subject" },
                { ST_UPLOAD_GET, NULL, NULL },
                /* a project's usage: the repositories by their name range, never all */
                { ST_USAGE, "sqlite_autoindex_repositories_1 (name>? AND name<?)",
                  "Index Cond: ((name >= $2) AND (name < $3))" },
                { ST_NAME_FROM, "(name>?)", "Index Cond: (name >= $1)" },
        };
        bool pg;

        if (!m)
                return -EINVAL;
        pg = strcmp(db_engine_name(m->db), "postgresql") == 0;
        if (bad && n > 0)
                bad[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(checked); i++) {
                const char *q = SQL[checked[i].id], *uses = pg ? checked[i].uses_pg : checked[i].uses;
                struct plan_seen ps = { .uses = uses, .pg = pg, .seen = !uses };
                int r;

                r = db_explain(m->c, q, plan_line, &ps);
                if (r < 0)
                        return r;
                bool seen = ps.seen;
                char *why = ps.why;
                if (!seen && !why[0])
                        (void) snprintf(why, sizeof(ps.why), "no search on %s", uses);
                if (why[0]) {
                        if (bad && n > 0)
                                (void) snprintf(bad, n, "%s: %s", q, why);
                        return 0;
                }
        }
        return 1;
}

/* ---- garbage collection ----
 *
 * Online, while other connections (threads, processes, replicas) push and delete.
 * Write transactions are serialized on every engine (SQLite BEGIN IMMEDIATE, the
 * PostgreSQL write lock), which the rules below rely on:
 *   - a run marks what it finds unreferenced (unref_since = now), each mark
 *     written in a write transaction that checks again that nothing references it;
 *   - every statement that adds a reference clears the mark in its own transaction
 *     (a link, a manifest, a manifest's reference to a blob of its repository);
 *   - so a mark at or before `before` means nothing referenced the row since, and
 *     a sweep deletes only such rows, checking again in its transaction.
 * Pages and batches are small so that each transaction is short: pushes wait for
 * one batch at most, never for a run. */

#define GC_PAGE 1024 /* rows read per candidate page */
#define GC_BATCH 256 /* rows written per transaction */

int meta_lock_try(meta_t *m, db_lock_id_t id) {
        return m ? db_lock_try(m->c, id) : -EINVAL;
}

void meta_unlock(meta_t *m, db_lock_id_t id) {
        if (m)
                db_unlock(m->c, id);
}

int meta_tx(meta_t *m, int (*fn)(meta_t *m, void *userdata), void (*undo)(void *userdata), void *userdata) {
        int r;

        if (!m || !fn)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        r = fn(m, userdata);
        if (r < 0) {
                db_tx_rollback(m->c);
                if (undo)
                        undo(userdata);
                return r;
        }
        r = db_tx_commit(m->c);
        if (r < 0 && undo)
                undo(userdata);
        return r;
}

typedef struct {
        int64_t repo_id;
        digest_t digest;
} gc_key_t;

static uint64_t gc_mono_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* A batch held the write lock from t0 to t1 (its commit): the run waits until
 * twice that time (at least 5 ms) has passed since t1, so that writers waiting for
 * the lock (SQLite's busy handler polls, sleeping longer after each miss) get it
 * between batches: a run takes at most about a third of the write lock's time.
 * Work done after the commit (removing files for good) counts towards the pause.
 * On PostgreSQL, which tells whether a session waits for the lock, no pause when
 * none does. */
static void gc_pause(db_conn_t *c, uint64_t t0, uint64_t t1) {
        uint64_t pause = 2 * (t1 - t0), now = gc_mono_ns(), until;
        struct timespec ts;

        if (db_writers_waiting(c) == 0)
                return;

        if (pause < 5000000)
                pause = 5000000;
        if (pause > 200000000)
                pause = 200000000;
        until = t1 + pause;
        if (now >= until)
                return;
        ts.tv_sec = (time_t) ((until - now) / 1000000000u);
        ts.tv_nsec = (long) ((until - now) % 1000000000u);
        (void) nanosleep(&ts, NULL);
}

/* Reads a page of (repo_id, digest) rows of st (bound by the caller) into keys:
 * how many, or <0. */
static int read_keys(db_stmt_t *st, gc_key_t *keys, size_t max, bool with_repo) {
        size_t n = 0;
        int r;

        while (n < max && (r = db_step(st)) == 1) {
                const char *d = db_col_text(st, with_repo ? 1 : 0);
                if (!d || digest_parse(d, &keys[n].digest) < 0)
                        continue; /* not ours to judge: left alone */
                keys[n].repo_id = with_repo ? db_col_int(st, 0) : 0;
                n++;
        }
        return r < 0 ? r : (int) n;
}

/* Runs one statement per key in one write transaction: the rows it changed. */
static int64_t write_batch(meta_t *m, int id, const gc_key_t *keys, size_t n, bool with_repo, int64_t t) {
        uint64_t t0;
        int64_t changed = 0;
        int r;

        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        t0 = gc_mono_ns(); /* the lock is ours from here */
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, id);
                int p = 1;
                if (with_repo)
                        r = db_bind_int(st, p++, keys[i].repo_id);
                if (r >= 0)
                        r = db_bind_text(st, p++, keys[i].digest.str);
                if (r >= 0)
                        r = db_bind_int(st, p++, t);
                if (r >= 0)
                        r = db_step_done(st);
                if (r >= 0)
                        changed += db_changes(m->c);
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        r = db_tx_commit(m->c);
        gc_pause(m->c, t0, gc_mono_ns());
        return r < 0 ? r : changed;
}

/* Marks what a candidate statement finds, page by page (key order), one write
 * transaction per page. */
static int mark_all(meta_t *m, int find, int mark, bool with_repo, int64_t now, const volatile bool *stop) {
        gc_key_t keys[GC_PAGE];
        gc_key_t last = { .repo_id = -1 };
        int n;

        last.digest.str[0] = '\0';
        do {
                int64_t w;
                {
                        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, find);
                        int r = 0, p = 1;
                        if (with_repo)
                                r = db_bind_int(st, p++, last.repo_id);
                        if (r >= 0)
                                r = db_bind_text(st, p++, last.digest.str);
                        if (r >= 0)
                                r = db_bind_int(st, p++, GC_PAGE);
                        if (r < 0)
                                return r;
                        n = read_keys(st, keys, GC_PAGE, with_repo);
                        if (n < 0)
                                return n;
                }
                if (n == 0)
                        break;
                last = keys[n - 1];
                for (int i = 0; i < n; i += GC_BATCH) {
                        w = write_batch(m, mark, keys + i, (size_t) (n - i < GC_BATCH ? n - i : GC_BATCH),
                                        with_repo, now);
                        if (w < 0)
                                return (int) w;
                }
        } while (n == GC_PAGE && !(stop && *stop));
        return 0;
}

int meta_gc_links(meta_t *m, int64_t now, int64_t before, const volatile bool *stop, uint64_t *ret_links) {
        gc_key_t keys[GC_BATCH];
        int r, n;

        if (!m || !ret_links)
                return -EINVAL;
        *ret_links = 0;
        r = mark_all(m, ST_GC_LINK_CANDIDATES, ST_GC_LINK_MARK, true, now, stop);
        if (r < 0)
                return r;
        do {
                int64_t w;
                {
                        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_LINK_OLD);
                        if ((r = db_bind_int(st, 1, before)) < 0 || (r = db_bind_int(st, 2, GC_BATCH)) < 0)
                                return r;
                        n = read_keys(st, keys, GC_BATCH, true);
                        if (n <= 0)
                                return n;
                }
                w = write_batch(m, ST_GC_LINK_DELETE, keys, (size_t) n, true, before);
                if (w < 0)
                        return (int) w;
                *ret_links += (uint64_t) w;
                if (w == 0)
                        break; /* nothing of the page could go: no progress to make */
        } while (!(stop && *stop));
        return 0;
}

int meta_gc_manifests(meta_t *m, int64_t before, bool untagged, const volatile bool *stop, uint64_t *ret_n) {
        gc_key_t keys[GC_PAGE];

        if (!m || !ret_n)
                return -EINVAL;
        *ret_n = 0;
        /* Pass after pass: an index deleted frees its children for the next one;
         * a subject deleted, its referrers. Bounded: nesting is shallow. */
        for (int pass = 0; pass < 16 && !(stop && *stop); pass++) {
                gc_key_t last = { .repo_id = -1 };
                uint64_t deleted = 0;
                int n;

                last.digest.str[0] = '\0';
                do {
                        {
                                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_MANIFEST_CANDIDATES);
                                int r;
                                if ((r = db_bind_int(st, 1, last.repo_id)) < 0 ||
                                    (r = db_bind_text(st, 2, last.digest.str)) < 0 ||
                                    (r = db_bind_int(st, 3, before)) < 0 || (r = db_bind_int(st, 4, untagged)) < 0 ||
                                    (r = db_bind_int(st, 5, GC_PAGE)) < 0)
                                        return r;
                                n = read_keys(st, keys, GC_PAGE, true);
                                if (n < 0)
                                        return n;
                        }
                        if (n == 0)
                                break;
                        last = keys[n - 1];
                        for (int i = 0; i < n; i += GC_BATCH) {
                                size_t k = (size_t) (n - i < GC_BATCH ? n - i : GC_BATCH);
                                int64_t changed = 0;
                                uint64_t t0;
                                int r = db_tx_begin(m->c);
                                if (r < 0)
                                        return r;
                                t0 = gc_mono_ns();
                                for (size_t j = 0; j < k && r >= 0; j++) {
                                        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_MANIFEST_DELETE);
                                        if ((r = db_bind_int(st, 1, keys[i + j].repo_id)) >= 0 &&
                                            (r = db_bind_text(st, 2, keys[i + j].digest.str)) >= 0 &&
                                            (r = db_bind_int(st, 3, before)) >= 0 &&
                                            (r = db_bind_int(st, 4, untagged)) >= 0 && (r = db_step_done(st)) >= 0)
                                                changed += db_changes(m->c);
                                }
                                /* the manifest caches of every process: a repository id
                                 * is not its name, and these deletes are rare */
                                if (r >= 0 && changed > 0)
                                        r = meta_repo_changed(m->c, NULL);
                                if (r < 0) {
                                        db_tx_rollback(m->c);
                                        return r;
                                }
                                r = db_tx_commit(m->c);
                                gc_pause(m->c, t0, gc_mono_ns());
                                if (r < 0)
                                        return r;
                                deleted += (uint64_t) changed;
                        }
                } while (n == GC_PAGE && !(stop && *stop));
                *ret_n += deleted;
                if (deleted == 0)
                        break;
        }
        return 0;
}

int meta_gc_blobs_mark(meta_t *m, int64_t now, const volatile bool *stop) {
        if (!m)
                return -EINVAL;
        return mark_all(m, ST_GC_BLOB_CANDIDATES, ST_GC_BLOB_MARK, false, now, stop);
}

int meta_gc_blobs_sweep(meta_t *m, int64_t before, const meta_gc_sweep_t *ops, const volatile bool *stop,
                        uint64_t *ret_blobs, uint64_t *ret_bytes) {
        gc_key_t keys[GC_BATCH];
        uint64_t t0, t1;
        int r, n;

        if (!m || !ops || !ops->gone || !ret_blobs || !ret_bytes)
                return -EINVAL;
        *ret_blobs = *ret_bytes = 0;
        do {
                uint64_t blobs = 0, bytes = 0;
                {
                        _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_BLOB_OLD);
                        if ((r = db_bind_int(st, 1, before)) < 0 || (r = db_bind_int(st, 2, GC_BATCH)) < 0)
                                return r;
                        n = read_keys(st, keys, GC_BATCH, false);
                        if (n <= 0)
                                return n;
                }
                r = db_tx_begin(m->c);
                if (r < 0)
                        return r;
                t0 = gc_mono_ns();
                for (int i = 0; i < n && r >= 0; i++) {
                        uint64_t size;
                        {
                                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_BLOB_DELETE);
                                if ((r = db_bind_text(st, 1, keys[i].digest.str)) < 0 ||
                                    (r = db_bind_int(st, 2, before)) < 0 || (r = db_step(st)) <= 0)
                                        continue; /* r == 0: referenced again, or gone */
                                size = (uint64_t) db_col_int(st, 0);
                                r = db_step(st) < 0 ? BERTH_EDB : 0; /* let the statement finish */
                        }
                        /* the row is gone in this transaction: its file goes now too,
                         * while no other writer can link it (ops->undo if we roll back) */
                        if (r >= 0)
                                r = ops->gone(ops->userdata, &keys[i].digest, size);
                        if (r >= 0) {
                                blobs++;
                                bytes += size;
                        }
                }
                if (r < 0) {
                        db_tx_rollback(m->c);
                        if (ops->undo)
                                ops->undo(ops->userdata);
                        return r;
                }
                r = db_tx_commit(m->c);
                t1 = gc_mono_ns();
                if (r < 0) {
                        if (ops->undo)
                                ops->undo(ops->userdata);
                        return r;
                }
                if (ops->done)
                        ops->done(ops->userdata);
                gc_pause(m->c, t0, t1);
                *ret_blobs += blobs;
                *ret_bytes += bytes;
                if (blobs == 0)
                        break;
        } while (!(stop && *stop));
        return 0;
}

int meta_gc_dry(meta_t *m, int64_t before, bool grace0, bool untagged, meta_gc_dry_t *ret) {
        int r;

        if (!m || !ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_DRY_MANIFESTS);
                if ((r = db_bind_int(st, 1, before)) < 0 || (r = db_bind_int(st, 2, untagged)) < 0 ||
                    (r = db_step(st)) < 0)
                        return r;
                ret->manifests = r ? (uint64_t) db_col_int(st, 0) : 0;
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_DRY_LINKS);
                if ((r = db_bind_int(st, 1, before)) < 0 || (r = db_bind_int(st, 2, grace0)) < 0 ||
                    (r = db_step(st)) < 0)
                        return r;
                ret->links = r ? (uint64_t) db_col_int(st, 0) : 0;
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_DRY_BLOBS);
                if ((r = db_bind_int(st, 1, before)) < 0 || (r = db_bind_int(st, 2, grace0)) < 0 ||
                    (r = db_step(st)) < 0)
                        return r;
                if (r) {
                        ret->blobs = (uint64_t) db_col_int(st, 0);
                        ret->bytes = (uint64_t) db_col_int(st, 1);
                }
        }
        return 0;
}

/* ---- the record of runs ---- */

int meta_gc_run_start(meta_t *m, int64_t started, const char *who, bool dry_run, int64_t *ret_id) {
        int64_t id = 0;
        int r;

        if (!m || !who || !ret_id)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_RUN_ID);
                r = db_step(st);
                if (r == 1)
                        id = db_col_int(st, 0);
                else if (r == 0)
                        r = db_tx_fail(m->c, BERTH_EDB);
        }
        if (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_RUN_INSERT);
                if ((r = db_bind_int(st, 1, id)) >= 0 && (r = db_bind_int(st, 2, started)) >= 0 &&
                    (r = db_bind_text(st, 3, who)) >= 0 && (r = db_bind_int(st, 4, dry_run)) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        r = db_tx_commit(m->c);
        if (r < 0)
                return r;
        *ret_id = id;
        return 0;
}

int meta_gc_run_end(meta_t *m, const meta_gc_run_t *run) {
        int r;

        if (!m || !run)
                return -EINVAL;
        r = db_tx_begin(m->c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(m, ST_GC_RUN_END);
                if ((r = db_bind_int(st, 1, run->id)) >= 0 && (r = db_bind_int(st, 2, run->finished)) >= 0 &&
                    (r = db_bind_text(st, 3, run->result)) >= 0 && (r = db_bind_uint(st, 4, run->blobs)) >= 0 &&
                    (r = db_bind_uint(st, 5, run->bytes)) >= 0 && (r = db_bind_uint(st, 6, run->manifests)) >= 0 &&
                    (r = db_bind_uint(st, 7, run->links)) >= 0 && (r = db_bind_uint(st, 8, run->orphans)) >= 0 &&
                    (r = db_bind_uint(st, 9, run->orphan_bytes)) >= 0 &&
                    (r = db_bind_uint(st, 10, run->uploads)) >= 0 && (r = db_bind_text(st, 11, run->error)) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(m->c);
                return r;
        }
        return db_tx_commit(m->c);
}

void meta_gc_runs_free(meta_gc_run_t *v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++) {
                free(v[i].who);
                free(v[i].result);
                free(v[i].error);
        }
        free(v);
}

int meta_gc_runs(meta_t *m, size_t max, meta_gc_run_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        meta_gc_run_t *v;
        size_t n = 0;
        int r;

        if (!m || !ret || !ret_n || max == 0 || max > 10000)
                return -EINVAL;
        v = calloc(max, sizeof(*v));
        if (!v)
                return -ENOMEM;
        st = stmt(m, ST_GC_RUNS);
        if ((r = db_bind_int(st, 1, (int64_t) max)) < 0) {
                free(v);
                return r;
        }
        while (n < max && (r = db_step(st)) == 1) {
                meta_gc_run_t *e = &v[n++];
                e->id = db_col_int(st, 0);
                e->started = db_col_int(st, 1);
                e->finished = db_col_null(st, 2) ? 0 : db_col_int(st, 2);
                e->dry_run = db_col_int(st, 4) != 0;
                e->blobs = (uint64_t) db_col_int(st, 6);
                e->bytes = (uint64_t) db_col_int(st, 7);
                e->manifests = (uint64_t) db_col_int(st, 8);
                e->links = (uint64_t) db_col_int(st, 9);
                e->orphans = (uint64_t) db_col_int(st, 10);
                e->orphan_bytes = (uint64_t) db_col_int(st, 11);
                e->uploads = (uint64_t) db_col_int(st, 12);
                if ((r = db_col_strdup(st, 3, &e->who)) < 0 || (r = db_col_strdup(st, 5, &e->result)) < 0 ||
                    (r = db_col_strdup(st, 13, &e->error)) < 0)
                        break;
        }
        if (r < 0) {
                meta_gc_runs_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_gc_last_ok(meta_t *m, int64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !ret)
                return -EINVAL;
        st = stmt(m, ST_GC_LAST_OK);
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r ? db_col_int(st, 0) : 0;
        return 0;
}

int meta_blob_known(meta_t *m, const digest_t *d) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !d)
                return -EINVAL;
        st = stmt(m, ST_BLOB_KNOWN);
        if ((r = db_bind_text(st, 1, d->str)) < 0)
                return r;
        return db_step(st);
}

/* ---- figures for metrics ---- */

int meta_stats(meta_t *m, meta_stats_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !ret)
                return -EINVAL;
        st = stmt(m, ST_STATS);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return BERTH_EDB;
        ret->blobs = (uint64_t) db_col_int(st, 0);
        ret->blob_bytes = (uint64_t) db_col_int(st, 1);
        ret->uploads = (uint64_t) db_col_int(st, 2);
        return 0;
}
