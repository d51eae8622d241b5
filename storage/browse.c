/* storage/browse.c: the management API's listings (see browse.h). Statements
 * are written once for both engines; nothing is spliced into SQL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/browse.h"
#include "storage/db.h"

#define SCAN_BATCH 256 /* rows read per statement while a filter drops some */

/* The figures of one repository row (r: repositories): its tags (in lists
 * counted up to BROWSE_TAGS_COUNTED: a count walks the repository's tags), its
 * size from the usage kept by triggers, its last push (index tags_by_time). */
#define REPO_FIGS(COUNT)                                                                           \
        "r.name, " COUNT ","                                                                     \
        " COALESCE((SELECT u.bytes FROM usage_repos u WHERE u.repo_id = r.id), 0),"              \
        " COALESCE((SELECT MAX(t.updated_at) FROM tags t WHERE t.repo_id = r.id), 0)"
#define REPO_COLS REPO_FIGS("(SELECT COUNT(*) FROM tags t WHERE t.repo_id = r.id)")
#define REPO_COLS_LIST                                                                             \
        REPO_FIGS("(SELECT COUNT(*) FROM (SELECT 1 FROM tags t WHERE t.repo_id = r.id LIMIT 1000) AS c)")

/* ?1 after ('' from the start), ?2 project, ?3 its range start "P/", ?4 its end
 * "P0" ('/' + 1), ?5 LIKE pattern ('%' any), ?6 limit. With a project, the index
 * range [P, P0) bounds the scan (it holds P, P/... and the few names such as
 * P-x/... and P.x/... that sort between, which the filter drops); no OR of
 * parameters, which PostgreSQL cannot turn into a range. */
#define REPOS_TAIL                                                                                        \
        " AND r.name LIKE ?5 ESCAPE '!' AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)"  \
        " ORDER BY r.name LIMIT ?6"
/* (?2, ?3, ?4 are all "" without a project: both statements take the same binds) */
#define REPOS_ALL " FROM repositories r WHERE r.name > ?1 AND ?2 = ?3 AND ?3 = ?4" REPOS_TAIL
#define REPOS_PROJECT                                                                                    \
        " FROM repositories r WHERE r.name > ?1 AND r.name >= ?2 AND r.name < ?4"                       \
        " AND (r.name = ?2 OR r.name >= ?3)" REPOS_TAIL
/* with a filter, names only (the figures of the rows kept are read after); without
 * one, every row read is listed: the figures in the same statement */
static const char SQL_REPOS[] = "SELECT r.name" REPOS_ALL;
static const char SQL_REPOS_FIGS[] = "SELECT " REPO_COLS_LIST REPOS_ALL;
static const char SQL_PROJECT_REPOS[] = "SELECT r.name" REPOS_PROJECT;
static const char SQL_PROJECT_REPOS_FIGS[] = "SELECT " REPO_COLS_LIST REPOS_PROJECT;
static const char SQL_REPO_GET[] = "SELECT " REPO_COLS " FROM repositories r WHERE r.name = ?1"
                                   " AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)";
static const char SQL_REPO_GET_LIST[] = "SELECT " REPO_COLS_LIST " FROM repositories r WHERE r.name = ?1"
                                        " AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)";
static const char SQL_REPO_LISTED[] = "SELECT 1 FROM repositories r WHERE r.name = ?1"
                                      " AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)";
static const char SQL_DIGESTS[] = "SELECT m.digest FROM repositories r JOIN manifests m ON m.repo_id = r.id"
                                  " WHERE r.name = ?1 ORDER BY m.digest";
static const char SQL_REPO_COUNT[] =
        "SELECT COUNT(*) FROM repositories r WHERE r.name = ?1 OR (r.name >= ?2 AND r.name < ?3)";

/* The size of a manifest with its blobs and child manifests (with theirs). CROSS
 * JOIN: SQLite takes the tables in this order (the index's entries, then each
 * child's references), never a walk of every reference of the repository. */
#define SIZE_COL                                                                                               \
        "m.size + COALESCE((SELECT SUM(b.size) FROM manifest_refs x JOIN blobs b ON b.digest = x.child"      \
        " WHERE x.repo_id = m.repo_id AND x.manifest = m.digest), 0)"                                         \
        " + COALESCE((SELECT SUM(b.size) FROM manifest_refs x CROSS JOIN manifest_refs y"                     \
        " CROSS JOIN blobs b WHERE x.repo_id = m.repo_id AND x.manifest = m.digest AND x.is_manifest = 1"    \
        " AND y.repo_id = x.repo_id AND y.manifest = x.child AND b.digest = y.child), 0)"
#define MF_COLS                                                                                  \
        "m.digest, m.media_type, m.artifact_type, m.subject, m.size, " SIZE_COL ","              \
        " COALESCE(p.pulls, 0), COALESCE(p.last_pulled, 0)"

/* The page of tags first (the primary key's range, in order, on both engines:
 * PostgreSQL would rather join every manifest and sort), then its manifests. */
static const char SQL_TAGS[] =
        "SELECT t.name, " MF_COLS ", t.updated_at FROM (SELECT t0.repo_id, t0.name, t0.digest, t0.updated_at"
        " FROM tags t0 WHERE t0.repo_id = (SELECT id FROM repositories WHERE name = ?1) AND t0.name > ?2"
        " AND t0.name LIKE ?3 ESCAPE '!' ORDER BY t0.name LIMIT ?4) t"
        " JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest"
        " LEFT JOIN manifest_pulls p ON p.repo_id = m.repo_id AND p.digest = m.digest"
        " ORDER BY t.name";
static const char SQL_MANIFEST[] =
        "SELECT NULL, " MF_COLS ", m.created_at FROM repositories r"
        " JOIN manifests m ON m.repo_id = r.id"
        " LEFT JOIN manifest_pulls p ON p.repo_id = m.repo_id AND p.digest = m.digest"
        " WHERE r.name = ?1 AND m.digest = ?2";
static const char SQL_TAG_DIGEST[] =
        "SELECT t.digest FROM repositories r JOIN tags t ON t.repo_id = r.id WHERE r.name = ?1 AND t.name = ?2";
static const char SQL_HAS_REFERRERS[] =
        "SELECT 1 FROM repositories r WHERE r.name = ?1 AND EXISTS (SELECT 1 FROM manifests m"
        " WHERE m.repo_id = r.id AND m.subject IS NOT NULL)";
static const char SQL_TAGS_OF[] =
        "SELECT t.name FROM repositories r JOIN tags t ON t.repo_id = r.id"
        " WHERE r.name = ?1 AND t.digest = ?2 ORDER BY t.name";

static int repo_get(meta_t *m, const char *sql, const char *name, browse_repo_t *ret);

/* '%q%' with LIKE's wildcards in q escaped by '!' */
static int like_pattern(const char *q, char **ret) {
        size_t n = q ? strlen(q) : 0;
        char *p = malloc(2 * n + 3), *o = p;

        if (!p)
                return -ENOMEM;
        *o++ = '%';
        for (size_t i = 0; i < n; i++) {
                if (q[i] == '%' || q[i] == '_' || q[i] == '!')
                        *o++ = '!';
                *o++ = q[i];
        }
        if (n)
                *o++ = '%';
        *o = '\0';
        *ret = p;
        return 0;
}

void browse_repo_done(browse_repo_t *r) {
        if (r)
                { free(r->name); r->name = NULL; }
}

void browse_repos_free(browse_repo_t *v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                browse_repo_done(&v[i]);
        free(v);
}

static int repo_row(db_stmt_t *st, browse_repo_t *r) {
        memset(r, 0, sizeof(*r));
        if (db_col_strdup(st, 0, &r->name) < 0 || !r->name)
                return -ENOMEM;
        r->tags = db_col_int(st, 1);
        r->size = (uint64_t) db_col_int(st, 2);
        r->updated = db_col_int(st, 3);
        return 0;
}

int browse_repos(meta_t *m, const char *project, const char *q, const char *after, size_t n,
                 browse_visible_fn visible, void *userdata, browse_repo_t **ret, size_t *ret_n, bool *ret_more) {
        _cleanup_free_ char *like = NULL, *lo = NULL, *hi = NULL, *cursor = NULL;
        browse_repo_t *v = NULL;
        size_t len = 0;
        bool more = false, exhausted = false;
        db_conn_t *c = meta_conn(m);
        db_stmt_t *st = NULL;
        int r;

        if (!m || !ret || !ret_n || n == 0 || n > BROWSE_PAGE_MAX)
                return -EINVAL;
        if ((r = like_pattern(q, &like)) < 0)
                return r;
        if (project && (asprintf(&lo, "%s/", project) < 0 || asprintf(&hi, "%s0", project) < 0))
                return -ENOMEM;
        if (!(cursor = strdup(after ? after : "")) || !(v = calloc(n + 1, sizeof(*v))))
                return -ENOMEM;
        /* filtered rows may be dropped: read on in batches until the page and one
         * more are found (the one more says "more") or the index ends */
        while (!exhausted && len <= n) {
                size_t batch = visible ? SCAN_BATCH : n + 1 - len, got = 0;
                if ((r = db_stmt(c, project ? (visible ? SQL_PROJECT_REPOS : SQL_PROJECT_REPOS_FIGS)
                                                    : (visible ? SQL_REPOS : SQL_REPOS_FIGS),
                                 &st)) < 0)
                        goto fail;
                if ((r = db_bind_text(st, 1, cursor)) < 0 || (r = db_bind_text(st, 2, project ? project : "")) < 0 ||
                    (r = db_bind_text(st, 3, lo ? lo : "")) < 0 || (r = db_bind_text(st, 4, hi ? hi : "")) < 0 ||
                    (r = db_bind_text(st, 5, like)) < 0 || (r = db_bind_int(st, 6, (int64_t) batch)) < 0)
                        goto fail;
                while ((r = db_step(st)) == 1) {
                        const char *name = db_col_text(st, 0);
                        got++;
                        if (!name)
                                continue;
                        free(cursor);
                        if (!(cursor = strdup(name))) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        if (visible && !visible(name, userdata))
                                continue;
                        if (len == n) {
                                more = true;
                                break;
                        }
                        if (!visible) {
                                if ((r = repo_row(st, &v[len])) < 0)
                                        goto fail;
                        } else if (!(v[len].name = strdup(name))) {
                                /* the name now; the figures of the page's rows only, below */
                                r = -ENOMEM;
                                goto fail;
                        }
                        len++;
                }
                if (r < 0)
                        goto fail;
                db_stmt_reset(st);
                st = NULL;
                if (more)
                        break;
                exhausted = got < batch;
        }
        for (size_t i = 0; visible && i < len; i++) {
                browse_repo_t fig;
                if ((r = repo_get(m, SQL_REPO_GET_LIST, v[i].name, &fig)) < 0)
                        goto fail;
                if (r == 1) { /* (gone meanwhile: listed without figures) */
                        free(v[i].name);
                        v[i] = fig;
                }
        }
        *ret = v;
        *ret_n = len;
        if (ret_more)
                *ret_more = more;
        return 0;
fail:
        db_stmt_reset(st);
        browse_repos_free(v, len);
        return r;
}

static int repo_get(meta_t *m, const char *sql, const char *name, browse_repo_t *ret) {
        db_stmt_t *st = NULL;
        int r;

        if (!m || !name || !ret)
                return -EINVAL;
        if ((r = db_stmt(meta_conn(m), sql, &st)) < 0)
                return r;
        if ((r = db_bind_text(st, 1, name)) == 0 && (r = db_step(st)) == 1)
                r = repo_row(st, ret) < 0 ? -ENOMEM : 1;
        db_stmt_reset(st);
        return r;
}

int browse_repo_get(meta_t *m, const char *name, browse_repo_t *ret) {
        return repo_get(m, SQL_REPO_GET, name, ret);
}

int browse_repo_listed(meta_t *m, const char *name) {
        db_stmt_t *st = NULL;
        int r;

        if (!m || !name)
                return -EINVAL;
        if ((r = db_stmt(meta_conn(m), SQL_REPO_LISTED, &st)) < 0)
                return r;
        if ((r = db_bind_text(st, 1, name)) == 0)
                r = db_step(st);
        db_stmt_reset(st);
        return r < 0 ? r : r > 0;
}

int browse_tag_digest(meta_t *m, const char *repo, const char *tag, char **ret) {
        db_stmt_t *st = NULL;
        int r;

        if (!m || !repo || !tag || !ret)
                return -EINVAL;
        if ((r = db_stmt(meta_conn(m), SQL_TAG_DIGEST, &st)) < 0)
                return r;
        if ((r = db_bind_text(st, 1, repo)) == 0 && (r = db_bind_text(st, 2, tag)) == 0 && (r = db_step(st)) == 1)
                r = db_col_strdup(st, 0, ret) < 0 || !*ret ? -ENOMEM : 1;
        db_stmt_reset(st);
        return r;
}

int browse_has_referrers(meta_t *m, const char *repo) {
        db_stmt_t *st = NULL;
        int r;

        if (!m || !repo)
                return -EINVAL;
        if ((r = db_stmt(meta_conn(m), SQL_HAS_REFERRERS, &st)) < 0)
                return r;
        if ((r = db_bind_text(st, 1, repo)) == 0)
                r = db_step(st);
        db_stmt_reset(st);
        return r < 0 ? r : r > 0;
}

int browse_repo_count(meta_t *m, const char *project, int64_t *ret) {
        _cleanup_free_ char *lo = NULL, *hi = NULL;
        db_stmt_t *st = NULL;
        int r;

        if (!m || !project || !ret)
                return -EINVAL;
        if (asprintf(&lo, "%s/", project) < 0 || asprintf(&hi, "%s0", project) < 0)
                return -ENOMEM;
        if ((r = db_stmt(meta_conn(m), SQL_REPO_COUNT, &st)) < 0)
                return r;
        if ((r = db_bind_text(st, 1, project)) == 0 && (r = db_bind_text(st, 2, lo)) == 0 &&
            (r = db_bind_text(st, 3, hi)) == 0 && (r = db_step(st)) == 1) {
                *ret = db_col_int(st, 0);
                r = 0;
        } else if (r == 0)
                r = BERTH_EDB;
        db_stmt_reset(st);
        return r;
}

void browse_tag_done(browse_tag_t *t) {
        if (!t)
                return;
        free(t->tag);
        free(t->digest);
        free(t->media_type);
        free(t->artifact_type);
        free(t->subject);
        memset(t, 0, sizeof(*t));
}

void browse_tags_free(browse_tag_t *v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                browse_tag_done(&v[i]);
        free(v);
}

static int tag_row(db_stmt_t *st, browse_tag_t *t) {
        memset(t, 0, sizeof(*t));
        if (db_col_strdup(st, 0, &t->tag) < 0 || db_col_strdup(st, 1, &t->digest) < 0 ||
            db_col_strdup(st, 2, &t->media_type) < 0 || db_col_strdup(st, 3, &t->artifact_type) < 0 ||
            db_col_strdup(st, 4, &t->subject) < 0 || !t->digest || !t->media_type) {
                browse_tag_done(t);
                return -ENOMEM;
        }
        t->manifest_size = (uint64_t) db_col_int(st, 5);
        t->size = (uint64_t) db_col_int(st, 6);
        t->pulls = db_col_int(st, 7);
        t->last_pulled = db_col_int(st, 8);
        t->pushed = db_col_int(st, 9);
        return 0;
}

int browse_tags(meta_t *m, const char *repo, const char *q, const char *after, size_t n, browse_tag_t **ret,
                size_t *ret_n, bool *ret_more) {
        _cleanup_free_ char *like = NULL;
        browse_tag_t *v = NULL;
        size_t len = 0;
        bool more = false;
        db_stmt_t *st = NULL;
        int r;

        if (!m || !repo || !ret || !ret_n || n == 0 || n > BROWSE_PAGE_MAX)
                return -EINVAL;
        if ((r = like_pattern(q, &like)) < 0)
                return r;
        if (!(v = calloc(n + 1, sizeof(*v))))
                return -ENOMEM;
        if ((r = db_stmt(meta_conn(m), SQL_TAGS, &st)) < 0)
                goto fail;
        if ((r = db_bind_text(st, 1, repo)) < 0 || (r = db_bind_text(st, 2, after ? after : "")) < 0 ||
            (r = db_bind_text(st, 3, like)) < 0 || (r = db_bind_int(st, 4, (int64_t) n + 1)) < 0)
                goto fail;
        while ((r = db_step(st)) == 1) {
                if (len == n) {
                        more = true;
                        break;
                }
                if ((r = tag_row(st, &v[len])) < 0)
                        goto fail;
                len++;
        }
        if (r < 0)
                goto fail;
        db_stmt_reset(st);
        *ret = v;
        *ret_n = len;
        if (ret_more)
                *ret_more = more;
        return 0;
fail:
        db_stmt_reset(st);
        browse_tags_free(v, len);
        return r;
}

int browse_manifest_get(meta_t *m, const char *repo, const char *digest, browse_tag_t *ret) {
        db_stmt_t *st = NULL;
        int r;

        if (!m || !repo || !digest || !ret)
                return -EINVAL;
        if ((r = db_stmt(meta_conn(m), SQL_MANIFEST, &st)) < 0)
                return r;
        if ((r = db_bind_text(st, 1, repo)) == 0 && (r = db_bind_text(st, 2, digest)) == 0 &&
            (r = db_step(st)) == 1)
                r = tag_row(st, ret) < 0 ? -ENOMEM : 1;
        db_stmt_reset(st);
        return r;
}

static int strv_query(meta_t *m, const char *sql, const char *a1, const char *a2, char ***ret);

int browse_tags_of(meta_t *m, const char *repo, const char *digest, char ***ret) {
        if (!m || !repo || !digest || !ret)
                return -EINVAL;
        return strv_query(m, SQL_TAGS_OF, repo, digest, ret);
}

int browse_manifest_digests(meta_t *m, const char *repo, char ***ret) {
        if (!m || !repo || !ret)
                return -EINVAL;
        return strv_query(m, SQL_DIGESTS, repo, NULL, ret);
}

static int strv_query(meta_t *m, const char *sql, const char *a1, const char *a2, char ***ret) {
        char **v = NULL;
        size_t len = 0;
        db_stmt_t *st = NULL;
        int r;

        if ((r = db_stmt(meta_conn(m), sql, &st)) < 0)
                return r;
        if ((r = db_bind_text(st, 1, a1)) < 0 || (a2 && (r = db_bind_text(st, 2, a2)) < 0))
                goto out;
        if (!(v = calloc(1, sizeof(*v)))) {
                r = -ENOMEM;
                goto out;
        }
        while ((r = db_step(st)) == 1) {
                char **nv = reallocarray(v, len + 2, sizeof(*v));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                v[len + 1] = NULL;
                if (db_col_strdup(st, 0, &v[len]) < 0 || !v[len]) {
                        r = -ENOMEM;
                        break;
                }
                len++;
        }
out:
        db_stmt_reset(st);
        if (r < 0) {
                meta_strv_free(v);
                return r;
        }
        *ret = v;
        return 0;
}
