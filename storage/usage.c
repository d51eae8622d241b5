/* storage/usage.c: usage and quotas per project (see usage.h).
 *
 * The figures are kept by the schema's triggers (storage/db-sqlite.c and
 * storage/db-pg.c, step 6): a repo_blobs or manifests row inserted or deleted, by
 * any statement (a cascade included), moves the repository's figures
 * (usage_repos) and the project's count of repositories holding the digest
 * (usage_refs), whose first and last holder move the project's totals
 * (usage_projects). Write transactions are serialized on both engines (SQLite's
 * BEGIN IMMEDIATE, PostgreSQL's transaction advisory lock), so the triggers'
 * read-then-write steps see no other writer in between and no update is lost.
 * This file reads them, sets quotas, checks them, and recounts (verify). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/usage-internal.h"
#include "storage/webhook.h"

/* ---- statements ---- */

#define Q_FIGURES                                                                                  \
        "coalesce(u.blobs, 0), coalesce(u.bytes, 0), CASE WHEN q.project IS NULL THEN 0 ELSE 1 END," \
        " q.quota, d.quota"
#define Q_JOINS                                                                                    \
        " LEFT JOIN usage_projects u ON u.project = k.p LEFT JOIN quotas q ON q.project = k.p"      \
        " LEFT JOIN quota_default d ON d.id = 1"

static const char SQL_GET[] = "SELECT k.p, " Q_FIGURES " FROM (SELECT CAST(?1 AS TEXT) AS p) k" Q_JOINS;
static const char SQL_LIST[] = "SELECT k.p, " Q_FIGURES " FROM (SELECT project AS p FROM usage_projects"
                               " WHERE blobs <> 0 OR bytes <> 0 UNION SELECT project FROM quotas) k" Q_JOINS
                               " ORDER BY k.p";
static const char SQL_REPOS[] = "SELECT r.name, coalesce(u.blobs, 0), coalesce(u.bytes, 0) FROM repositories r"
                                " LEFT JOIN usage_repos u ON u.repo_id = r.id"
                                " WHERE r.name = ?1 OR (r.name >= ?2 AND r.name < ?3) ORDER BY r.name";
static const char SQL_QUOTA_SET[] = "INSERT INTO quotas(project, quota) VALUES (?1, ?2)"
                                    " ON CONFLICT(project) DO UPDATE SET quota = excluded.quota";
static const char SQL_QUOTA_CLEAR[] = "DELETE FROM quotas WHERE project = ?1";
static const char SQL_DEFAULT_GET[] = "SELECT quota FROM quota_default WHERE id = 1";
static const char SQL_DEFAULT_SET[] = "INSERT INTO quota_default(id, quota) VALUES (1, ?1)"
                                      " ON CONFLICT(id) DO UPDATE SET quota = excluded.quota";
static const char SQL_DEFAULT_CLEAR[] = "DELETE FROM quota_default";
static const char SQL_HELD[] = "SELECT 1 FROM usage_refs WHERE project = ?1 AND digest = ?2";
static const char SQL_BYTES[] = "SELECT bytes FROM usage_projects WHERE project = ?1";

/* the recount: what the repositories of a project (the name ?1, and the names in
 * [?2, ?3)) hold, by digest: how many of them hold it, and its size */
#define RECOUNT                                                                                     \
        "SELECT h.digest AS digest, count(*) AS n, b.size AS size FROM"                            \
        " (SELECT r.id AS rid, rb.digest AS digest FROM repositories r JOIN repo_blobs rb ON rb.repo_id = r.id" \
        "   WHERE r.name = ?1 OR (r.name >= ?2 AND r.name < ?3)"                                   \
        "  UNION SELECT r.id, mf.digest FROM repositories r JOIN manifests mf ON mf.repo_id = r.id"  \
        "   WHERE r.name = ?1 OR (r.name >= ?2 AND r.name < ?3)) h"                                \
        " JOIN blobs b ON b.digest = h.digest GROUP BY h.digest, b.size"
/* recounted totals; recounted rows without a kept twin; kept rows */
static const char SQL_RECOUNT_TOTALS[] = "SELECT count(*), coalesce(sum(x.size), 0) FROM (" RECOUNT ") x";
static const char SQL_RECOUNT_MISSING[] = "SELECT count(*) FROM (" RECOUNT ") x WHERE NOT EXISTS (SELECT 1"
                                          " FROM usage_refs u WHERE u.project = ?4 AND u.digest = x.digest"
                                          " AND u.refs = x.n AND u.size = x.size)";
static const char SQL_REFS_COUNT[] = "SELECT count(*) FROM usage_refs WHERE project = ?1";
static const char SQL_KEPT_TOTALS[] = "SELECT blobs, bytes FROM usage_projects WHERE project = ?1";
/* each repository of the project: kept and recounted */
static const char SQL_RECOUNT_REPOS[] =
        "SELECT r.id, r.name, coalesce(u.blobs, 0), coalesce(u.bytes, 0),"
        " (SELECT count(*) FROM (SELECT rb.digest FROM repo_blobs rb WHERE rb.repo_id = r.id"
        "   UNION SELECT mf.digest FROM manifests mf WHERE mf.repo_id = r.id) h),"
        " (SELECT coalesce(sum(b.size), 0) FROM (SELECT rb.digest AS digest FROM repo_blobs rb WHERE rb.repo_id = r.id"
        "   UNION SELECT mf.digest FROM manifests mf WHERE mf.repo_id = r.id) h JOIN blobs b ON b.digest = h.digest)"
        " FROM repositories r LEFT JOIN usage_repos u ON u.repo_id = r.id"
        " WHERE r.name = ?1 OR (r.name >= ?2 AND r.name < ?3) ORDER BY r.name";
/* projects with kept figures (the walk of repository names finds the others) */
static const char SQL_KEPT_PROJECTS[] = "SELECT project FROM usage_projects ORDER BY project";
/* repair, in the verifying transaction */
static const char SQL_REPAIR_REFS_DELETE[] = "DELETE FROM usage_refs WHERE project = ?1";
static const char SQL_REPAIR_REFS_INSERT[] = "INSERT INTO usage_refs(project, digest, refs, size)"
                                             " SELECT ?4, x.digest, x.n, x.size FROM (" RECOUNT ") x";
static const char SQL_REPAIR_TOTALS[] = "INSERT INTO usage_projects(project, blobs, bytes) VALUES (?1, ?2, ?3)"
                                        " ON CONFLICT(project) DO UPDATE SET blobs = excluded.blobs,"
                                        " bytes = excluded.bytes";
static const char SQL_REPAIR_REPO[] = "INSERT INTO usage_repos(repo_id, blobs, bytes) VALUES (?1, ?2, ?3)"
                                      " ON CONFLICT(repo_id) DO UPDATE SET blobs = excluded.blobs,"
                                      " bytes = excluded.bytes";

static db_stmt_t *stmt(db_conn_t *c, const char *sql) {
        db_stmt_t *st = NULL;

        return db_stmt(c, sql, &st) == 0 ? st : NULL;
}

/* ---- names and sizes ---- */

int usage_project_of(const char *repo, char buf[META_TOP_MAX + 1]) {
        size_t n;

        if (!repo)
                return -EINVAL;
        n = strcspn(repo, "/");
        if (n == 0 || n > META_TOP_MAX)
                return -EINVAL;
        memcpy(buf, repo, n);
        buf[n] = '\0';
        return 0;
}

static int project_check(const char *project) {
        size_t n;

        if (!project)
                return -EINVAL;
        n = strlen(project);
        return n == 0 || n > META_TOP_MAX || strchr(project, '/') ? -EINVAL : 0;
}

/* P's names are P itself and [P + "/", P + "0"): '0' is the byte after '/' */
static void project_range(const char *project, char lo[META_TOP_MAX + 2], char hi[META_TOP_MAX + 2]) {
        size_t pl = strlen(project);

        memcpy(lo, project, pl);
        memcpy(hi, project, pl);
        lo[pl] = '/';
        hi[pl] = '0';
        lo[pl + 1] = hi[pl + 1] = '\0';
}

/* Binds ?1 to ?3 of a statement over project's names; lo and hi are the
 * caller's (bound text lives until the statement is reset). */
static int bind_range(db_stmt_t *st, const char *project, char lo[META_TOP_MAX + 2], char hi[META_TOP_MAX + 2]) {
        int r;

        project_range(project, lo, hi);
        if ((r = db_bind_text(st, 1, project)) < 0 || (r = db_bind_text(st, 2, lo)) < 0)
                return r;
        return db_bind_text(st, 3, hi);
}

/* ---- reading ---- */

/* A row of SQL_GET / SQL_LIST into *ret. */
static int read_figures(db_stmt_t *st, usage_project_t *ret) {
        const char *p = db_col_text(st, 0);
        usage_project_t u = { 0 };

        if (!p || strlen(p) > META_TOP_MAX)
                return BERTH_EDB;
        memcpy(u.project, p, strlen(p) + 1);
        u.blobs = (uint64_t) db_col_int(st, 1);
        u.bytes = (uint64_t) db_col_int(st, 2);
        u.own = db_col_int(st, 3) != 0;
        if (u.own)
                u.quota = db_col_null(st, 4) ? USAGE_UNLIMITED : (uint64_t) db_col_int(st, 4);
        else
                u.quota = db_col_null(st, 5) ? USAGE_UNLIMITED : (uint64_t) db_col_int(st, 5);
        *ret = u;
        return 0;
}

static int get_on(db_conn_t *c, const char *project, usage_project_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_GET);
        int r;

        if ((r = db_bind_text(st, 1, project)) < 0 || (r = db_step(st)) < 0)
                return r;
        return r == 0 ? BERTH_EDB : read_figures(st, ret);
}

int usage_get(meta_t *m, const char *project, usage_project_t *ret) {
        if (!m || !ret || project_check(project) < 0)
                return -EINVAL;
        return get_on(meta_conn(m), project, ret);
}

int usage_list(meta_t *m, usage_project_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        usage_project_t *v = NULL;
        size_t n = 0, cap = 0;
        int r;

        if (!m || !ret || !ret_n)
                return -EINVAL;
        st = stmt(meta_conn(m), SQL_LIST);
        while ((r = db_step(st)) == 1) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        usage_project_t *nv = reallocarray(v, ncap, sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = ncap;
                }
                if ((r = read_figures(st, &v[n])) < 0)
                        break;
                n++;
        }
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void usage_repos_free(usage_repo_t *v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i].repo);
        free(v);
}

int usage_repos(meta_t *m, const char *project, usage_repo_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char lo[META_TOP_MAX + 2], hi[META_TOP_MAX + 2];
        usage_repo_t *v = NULL;
        size_t n = 0, cap = 0;
        int r;

        if (!m || !ret || !ret_n || project_check(project) < 0)
                return -EINVAL;
        project_range(project, lo, hi);
        st = stmt(meta_conn(m), SQL_REPOS);
        if ((r = db_bind_text(st, 1, project)) < 0 || (r = db_bind_text(st, 2, lo)) < 0 ||
            (r = db_bind_text(st, 3, hi)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        usage_repo_t *nv = reallocarray(v, ncap, sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = ncap;
                }
                v[n] = (usage_repo_t){ .blobs = (uint64_t) db_col_int(st, 1), .bytes = (uint64_t) db_col_int(st, 2) };
                if ((r = db_col_strdup(st, 0, &v[n].repo)) < 0 || !v[n].repo) {
                        r = r < 0 ? r : BERTH_EDB;
                        break;
                }
                n++;
        }
        if (r < 0) {
                usage_repos_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- setting quotas ---- */

/* One statement (sql, ?1 = text or NULL, ?2 = bytes or NULL for USAGE_UNLIMITED)
 * in a write transaction of its own; 1 it changed a row, 0 not. */
static int write_one(db_conn_t *c, const char *sql, const char *text, bool has_bytes, uint64_t bytes) {
        int r, n = 1;

        if (has_bytes && bytes != USAGE_UNLIMITED && bytes > (uint64_t) INT64_MAX)
                return -ERANGE;
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(c, sql);
                if (text && (r = db_bind_text(st, n++, text)) < 0)
                        goto out;
                if (has_bytes) {
                        r = bytes == USAGE_UNLIMITED ? db_bind_null(st, n) : db_bind_uint(st, n, bytes);
                        if (r < 0)
                                goto out;
                }
                r = db_step_done(st);
        }
out:
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        r = db_changes(c) > 0;
        {
                int e = db_tx_commit(c);
                return e < 0 ? e : r;
        }
}

int usage_quota_set(meta_t *m, const char *project, uint64_t bytes) {
        int r;

        if (!m || project_check(project) < 0)
                return -EINVAL;
        r = write_one(meta_conn(m), SQL_QUOTA_SET, project, true, bytes);
        return r < 0 ? r : 0;
}

int usage_quota_clear(meta_t *m, const char *project) {
        if (!m || project_check(project) < 0)
                return -EINVAL;
        return write_one(meta_conn(m), SQL_QUOTA_CLEAR, project, false, 0);
}

int usage_default_get(meta_t *m, uint64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!m || !ret)
                return -EINVAL;
        st = stmt(meta_conn(m), SQL_DEFAULT_GET);
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r == 1 ? (uint64_t) db_col_int(st, 0) : USAGE_UNLIMITED;
        return 0;
}

int usage_default_set(meta_t *m, uint64_t bytes) {
        int r;

        if (!m)
                return -EINVAL;
        if (bytes == USAGE_UNLIMITED)
                r = write_one(meta_conn(m), SQL_DEFAULT_CLEAR, NULL, false, 0);
        else
                r = write_one(meta_conn(m), SQL_DEFAULT_SET, NULL, true, bytes);
        return r < 0 ? r : 0;
}

/* ---- checking ---- */

static int held(db_conn_t *c, const char *project, const digest_t *d) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_HELD);
        int r;

        if ((r = db_bind_text(st, 1, project)) < 0 || (r = db_bind_text(st, 2, d->str)) < 0)
                return r;
        return db_step(st);
}

int usage_room(meta_t *m, const char *repo, const digest_t *d, uint64_t *ret_room, usage_project_t *ret) {
        char project[META_TOP_MAX + 1];
        usage_project_t u;
        int r;

        if (!m || !ret_room || usage_project_of(repo, project) < 0)
                return -EINVAL;
        r = get_on(meta_conn(m), project, &u);
        if (r < 0)
                return r;
        if (ret)
                *ret = u;
        if (u.quota == USAGE_UNLIMITED) {
                *ret_room = USAGE_UNLIMITED;
                return 0;
        }
        if (d) {
                r = held(meta_conn(m), project, d);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret_room = USAGE_UNLIMITED;
                        return 0;
                }
        }
        *ret_room = u.bytes >= u.quota ? 0 : u.quota - u.bytes;
        return 0;
}

static int bytes_of(db_conn_t *c, const char *project, uint64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_BYTES);
        int r;

        if ((r = db_bind_text(st, 1, project)) < 0 || (r = db_step(st)) < 0)
                return r;
        *ret = r == 1 ? (uint64_t) db_col_int(st, 0) : 0;
        return 0;
}

int usage__tx_begin(db_conn_t *c, const char *repo, usage_tx_t *t) {
        usage_project_t u;
        int r;

        *t = (usage_tx_t){ 0 };
        if (usage_project_of(repo, t->project) < 0)
                return -EINVAL;
        r = get_on(c, t->project, &u);
        if (r < 0)
                return r;
        t->active = u.quota != USAGE_UNLIMITED;
        t->before = u.bytes;
        t->quota = u.quota;
        t->repo = repo;
        return 0;
}

uint64_t usage_warn_level(uint64_t quota) {
        return quota / 100 * USAGE_WARN_PERCENT + quota % 100 * USAGE_WARN_PERCENT / 100;
}

/* A quota event for the webhooks that want it, in c's write transaction. */
static int quota_event(db_conn_t *c, const char *repo, const char *project, const char *state, const char *digest,
                       uint64_t bytes, uint64_t quota, const meta_origin_t *o, unsigned *ret_queued) {
        webhook_event_t ev = { .type = WEBHOOK_QUOTA, .repository = repo, .digest = digest,
                               .actor = o ? o->actor : NULL, .address = o ? o->address : NULL,
                               .time = o && o->now ? o->now : (int64_t) time(NULL),
                               .project = project, .quota_state = state, .usage = bytes, .quota = quota };
        int r = webhook_wanted(c, repo, WEBHOOK_QUOTA);

        if (r <= 0)
                return r;
        return webhook_enqueue(c, &ev, ret_queued);
}

int usage__tx_end(db_conn_t *c, const usage_tx_t *t, const char *digest, meta_origin_t *o) {
        uint64_t after, warn;
        int r;

        if (!t->active)
                return 0;
        r = bytes_of(c, t->project, &after);
        if (r < 0)
                return r;
        if (after > t->before && after > t->quota)
                return db_tx_fail(c, BERTH_EQUOTA);
        warn = usage_warn_level(t->quota);
        if (t->before < warn && after >= warn && t->repo)
                return quota_event(c, t->repo, t->project, "warning", digest, after, t->quota, o,
                                   o ? &o->queued : NULL);
        return 0;
}

int usage_exceeded_event(meta_t *m, const char *repo, const digest_t *d, const meta_origin_t *o) {
        db_conn_t *c = m ? meta_conn(m) : NULL;
        char project[META_TOP_MAX + 1];
        usage_project_t u;
        unsigned queued = 0;
        int r;

        if (!c || !repo || usage_project_of(repo, project) < 0)
                return -EINVAL;
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        r = get_on(c, project, &u);
        if (r >= 0 && u.quota != USAGE_UNLIMITED)
                r = quota_event(c, repo, project, "exceeded", d ? d->str : NULL, u.bytes, u.quota, o, &queued);
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        r = db_tx_commit(c);
        return r < 0 ? r : queued > 0;
}

/* ---- recount ---- */

typedef struct {
        const char *project;
        char lo[META_TOP_MAX + 2], hi[META_TOP_MAX + 2]; /* its names' range, bound */
        bool repair;
        void (*fn)(const usage_diff_t *diff, void *userdata);
        void *userdata;
        uint64_t diffs;
} verify_t;

static int one_int2(db_stmt_t *st, uint64_t *a, uint64_t *b) {
        int r = db_step(st);

        if (r < 0)
                return r;
        *a = r == 1 ? (uint64_t) db_col_int(st, 0) : 0;
        if (b)
                *b = r == 1 ? (uint64_t) db_col_int(st, 1) : 0;
        return 0;
}

static void report(verify_t *v, const usage_diff_t *d) {
        v->diffs++;
        if (v->fn)
                v->fn(d, v->userdata);
}

/* The repositories of one project; in the verifying transaction. */
static int verify_repos(db_conn_t *c, verify_t *v) {
        _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_RECOUNT_REPOS);
        int r;

        if ((r = bind_range(st, v->project, v->lo, v->hi)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                usage_diff_t d = { .project = v->project, .repo = db_col_text(st, 1),
                                   .kept_blobs = (uint64_t) db_col_int(st, 2),
                                   .kept_bytes = (uint64_t) db_col_int(st, 3),
                                   .counted_blobs = (uint64_t) db_col_int(st, 4),
                                   .counted_bytes = (uint64_t) db_col_int(st, 5) };
                if (!d.repo)
                        return BERTH_EDB;
                if (d.kept_blobs == d.counted_blobs && d.kept_bytes == d.counted_bytes)
                        continue;
                report(v, &d);
                if (v->repair) {
                        _cleanup_db_stmt_ db_stmt_t *fix = stmt(c, SQL_REPAIR_REPO);
                        if ((r = db_bind_int(fix, 1, db_col_int(st, 0))) < 0 ||
                            (r = db_bind_uint(fix, 2, d.counted_blobs)) < 0 ||
                            (r = db_bind_uint(fix, 3, d.counted_bytes)) < 0 || (r = db_step_done(fix)) < 0)
                                return r;
                }
        }
        return r;
}

static int verify_tx(meta_t *m, void *userdata) {
        verify_t *v = userdata;
        db_conn_t *c = meta_conn(m);
        usage_diff_t d = { .project = v->project };
        uint64_t missing = 0, kept_rows = 0;
        int r;

        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_RECOUNT_TOTALS);
                if ((r = bind_range(st, v->project, v->lo, v->hi)) < 0 ||
                    (r = one_int2(st, &d.counted_blobs, &d.counted_bytes)) < 0)
                        return r;
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_KEPT_TOTALS);
                if ((r = db_bind_text(st, 1, v->project)) < 0 || (r = one_int2(st, &d.kept_blobs, &d.kept_bytes)) < 0)
                        return r;
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_RECOUNT_MISSING);
                if ((r = bind_range(st, v->project, v->lo, v->hi)) < 0 || (r = db_bind_text(st, 4, v->project)) < 0 ||
                    (r = one_int2(st, &missing, NULL)) < 0)
                        return r;
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(c, SQL_REFS_COUNT);
                if ((r = db_bind_text(st, 1, v->project)) < 0 || (r = one_int2(st, &kept_rows, NULL)) < 0)
                        return r;
        }
        d.refs = missing > 0 || kept_rows != d.counted_blobs;
        if (d.refs || d.kept_blobs != d.counted_blobs || d.kept_bytes != d.counted_bytes) {
                report(v, &d);
                if (v->repair) {
                        /* the triggers move the totals as the rows go and come; then
                         * the totals are set to the recount outright */
                        _cleanup_db_stmt_ db_stmt_t *del = stmt(c, SQL_REPAIR_REFS_DELETE);
                        _cleanup_db_stmt_ db_stmt_t *ins = stmt(c, SQL_REPAIR_REFS_INSERT);
                        _cleanup_db_stmt_ db_stmt_t *tot = stmt(c, SQL_REPAIR_TOTALS);
                        if ((r = db_bind_text(del, 1, v->project)) < 0 || (r = db_step_done(del)) < 0 ||
                            (r = bind_range(ins, v->project, v->lo, v->hi)) < 0 || (r = db_bind_text(ins, 4, v->project)) < 0 ||
                            (r = db_step_done(ins)) < 0 || (r = db_bind_text(tot, 1, v->project)) < 0 ||
                            (r = db_bind_uint(tot, 2, d.counted_blobs)) < 0 ||
                            (r = db_bind_uint(tot, 3, d.counted_bytes)) < 0 || (r = db_step_done(tot)) < 0)
                                return r;
                }
        }
        return verify_repos(c, v);
}

static int cmp_str(const void *x, const void *y) {
        return strcmp(*(char *const *) x, *(char *const *) y);
}

int usage_verify(meta_t *m, bool repair, void (*fn)(const usage_diff_t *diff, void *userdata), void *userdata,
                 uint64_t *ret_diffs) {
        verify_t v = { .repair = repair, .fn = fn, .userdata = userdata };
        meta_project_usage_t *walk = NULL;
        size_t n_walk = 0, n = 0, cap = 0;
        char **names = NULL;
        int r;

        if (!m)
                return -EINVAL;
        /* the projects: those the repository names make, and those with kept figures */
        r = meta_usage_all(m, &walk, &n_walk);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_walk && r >= 0; i++) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        char **nv = reallocarray(names, ncap, sizeof(*nv));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        names = nv;
                        cap = ncap;
                }
                names[n++] = TAKE_PTR(walk[i].project);
        }
        meta_usage_free(walk, n_walk);
        if (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = stmt(meta_conn(m), SQL_KEPT_PROJECTS);
                while ((r = db_step(st)) == 1) {
                        const char *p = db_col_text(st, 0);
                        if (!p)
                                continue;
                        if (n == cap) {
                                size_t ncap = cap ? cap * 2 : 16;
                                char **nv = reallocarray(names, ncap, sizeof(*nv));
                                if (!nv) {
                                        r = -ENOMEM;
                                        break;
                                }
                                names = nv;
                                cap = ncap;
                        }
                        if (!(names[n] = strdup(p))) {
                                r = -ENOMEM;
                                break;
                        }
                        n++;
                }
        }
        if (r >= 0 && n > 1)
                qsort(names, n, sizeof(*names), cmp_str);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
                        continue;
                if (project_check(names[i]) < 0)
                        continue;
                v.project = names[i];
                r = meta_tx(m, verify_tx, NULL, &v);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (r < 0)
                return r;
        if (ret_diffs)
                *ret_diffs = v.diffs;
        return 0;
}
