/* storage/retention.c: pulls per manifest, immutable tags, retention policies and
 * their runs (see retention.h). Every statement is written once for both engines
 * and prepared through the layer's statement cache; nothing is spliced into SQL. */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/macro.h"
#include "common/name.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/retention.h"
#include "storage/usage.h"
#include "storage/webhook.h"

#define TAG_PAGE 2000        /* tags read per page */
#define UNTAGGED_PAGE 500    /* untagged candidates read per page */
#define BATCH_DEFAULT 5000   /* removals per write transaction at most... */
#define TX_BUDGET_NS 20000000 /* ...and work for 20 ms at most (then the commit) */
#define PROJECT_MAX META_TOP_MAX

/* ---- statements ---- */

static const char SQL_PULLS_ADD[] =
        "INSERT INTO manifest_pulls(repo_id, digest, pulls, last_pulled)"
        " SELECT m.repo_id, m.digest, ?3, ?4 FROM manifests m JOIN repositories r ON r.id = m.repo_id"
        " WHERE r.name = ?1 AND m.digest = ?2"
        " ON CONFLICT(repo_id, digest) DO UPDATE SET pulls = manifest_pulls.pulls + excluded.pulls,"
        " last_pulled = CASE WHEN excluded.last_pulled > manifest_pulls.last_pulled"
        " THEN excluded.last_pulled ELSE manifest_pulls.last_pulled END";
static const char SQL_PULLS_GET[] =
        "SELECT p.pulls, p.last_pulled FROM manifest_pulls p JOIN repositories r ON r.id = p.repo_id"
        " WHERE r.name = ?1 AND p.digest = ?2";
static const char SQL_IMM_PATTERNS[] = "SELECT pattern FROM immutable_rules WHERE project = ?1 ORDER BY pattern";
static const char SQL_IMM_ADD[] = "INSERT INTO immutable_rules(project, pattern, created) VALUES (?1, ?2, ?3)"
                                  " ON CONFLICT(project, pattern) DO NOTHING";
static const char SQL_IS_PROXY[] = "SELECT 1 FROM proxy_projects WHERE project = ?1";
static const char SQL_IMM_DEL[] = "DELETE FROM immutable_rules WHERE project = ?1 AND pattern = ?2";
static const char SQL_IMM_LIST[] = "SELECT project, pattern, created FROM immutable_rules"
                                   " WHERE CAST(?1 AS TEXT) IS NULL OR project = ?1 ORDER BY project, pattern";
static const char SQL_TAG_DIGEST[] = "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id"
                                     " WHERE r.name = ?1 AND t.name = ?2";
static const char SQL_TAGS_OF_DIGEST[] = "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id"
                                         " WHERE r.name = ?1 AND t.digest = ?2 ORDER BY t.name";
static const char SQL_POLICY_PUT[] =
        "INSERT INTO retention_policies(project, untagged_after, updated) VALUES (?1, ?2, ?3)"
        " ON CONFLICT(project) DO UPDATE SET untagged_after = excluded.untagged_after, updated = excluded.updated";
static const char SQL_RULES_CLEAR[] = "DELETE FROM retention_rules WHERE project = ?1";
static const char SQL_RULE_PUT[] = "INSERT INTO retention_rules(project, seq, kind, tags, repos, n)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_POLICY_GET[] = "SELECT untagged_after, updated FROM retention_policies WHERE project = ?1";
static const char SQL_RULES_GET[] = "SELECT kind, tags, repos, n FROM retention_rules WHERE project = ?1 ORDER BY seq";
static const char SQL_POLICY_NAMES[] = "SELECT project FROM retention_policies ORDER BY project";
static const char SQL_POLICY_DEL[] = "DELETE FROM retention_policies WHERE project = ?1";
/* the project's repositories: P itself and P/... (byte order: '/' + 1 is '0') */
static const char SQL_PROJECT_REPOS[] = "SELECT id, name FROM repositories"
                                        " WHERE name = ?1 OR (name > ?2 AND name < ?3) ORDER BY name";
static const char SQL_TAGS_PAGE[] =
        "SELECT t.name, t.digest, t.updated_at, coalesce(p.last_pulled, 0) FROM tags t"
        " LEFT JOIN manifest_pulls p ON p.repo_id = t.repo_id AND p.digest = t.digest"
        " WHERE t.repo_id = ?1 AND t.name > ?2 ORDER BY t.name LIMIT ?3";
/* a tag removed only if it still names what the run decided on, and was not
 * pushed again since */
static const char SQL_TAG_REMOVE[] = "DELETE FROM tags WHERE repo_id = ?1 AND name = ?2 AND digest = ?3"
                                     " AND updated_at = ?4";
static const char SQL_MANIFEST_INFO[] = "SELECT size, media_type FROM manifests WHERE repo_id = ?1 AND digest = ?2";
static const char SQL_AUDIT[] = "INSERT INTO auth_audit(ts, \"user\", client, action, repo, detail)"
                                " VALUES (?1, 'retention', NULL, 'retention-delete', ?2, ?3)";

/* The rule of garbage collection for untagged manifests (storage/meta.c,
 * ST_GC_MANIFEST_CANDIDATES with --delete-untagged): no index of the repository
 * names it, and it is not a referrer whose subject is still there. Plus: pushed
 * and last pulled at or before ?3. */
#define UNTAGGED_RULE UNTAGGED_RULE_AT("3")
/* the same with "before" as parameter ?B */
#define UNTAGGED_RULE_AT(B)                                                                                  \
        " m.created_at <= ?" B                                                                               \
        " AND NOT EXISTS (SELECT 1 FROM manifest_pulls p WHERE p.repo_id = m.repo_id AND p.digest = m.digest" \
        "  AND p.last_pulled > ?" B ")"                                                                      \
        " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = m.repo_id"                       \
        "  AND mr.child = m.digest AND mr.is_manifest = 1)"                                                  \
        " AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s"                                   \
        "  WHERE s.repo_id = m.repo_id AND s.digest = m.subject))"
#define UNTAGGED_NO_TAG " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest)"
static const char SQL_UNTAGGED_PAGE[] = "SELECT m.digest FROM manifests m WHERE m.repo_id = ?1 AND m.digest > ?2 AND"
                                        UNTAGGED_RULE UNTAGGED_NO_TAG " ORDER BY m.digest LIMIT ?4";
/* a dry run's: the tags it would remove are still there (filtered by the caller) */
static const char SQL_UNTAGGED_PAGE_DRY[] = "SELECT m.digest FROM manifests m WHERE m.repo_id = ?1 AND m.digest > ?2"
                                            " AND" UNTAGGED_RULE " ORDER BY m.digest LIMIT ?4";
static const char SQL_RUN_ID[] = "SELECT coalesce(max(id), 0) + 1 FROM retention_runs";
static const char SQL_RUN_START[] = "INSERT INTO retention_runs(id, started, who, project, dry_run)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_RUN_END[] = "UPDATE retention_runs SET finished = ?2, result = ?3, repos = ?4, tags = ?5,"
                                  " manifests = ?6, error = ?7 WHERE id = ?1";
static const char SQL_RUNS[] = "SELECT id, started, finished, who, project, dry_run, result, repos, tags, manifests,"
                               " error FROM retention_runs ORDER BY id DESC LIMIT ?1";
static const char SQL_RUN_LAST_OK[] = "SELECT max(started) FROM retention_runs WHERE result = 'ok' AND dry_run = 0"
                                      " AND project IS NULL";

/* Removals in one statement (a round trip to a database server is paid once per
 * CHUNK, not per tag): the tags' DELETE and their audit rows' INSERT, made once
 * (parameters only) and living as long as the program (db_stmt's cache is keyed by
 * the address). Both engines number parameters up to ?999. */
#define CHUNK 64
#define CHUNK_SQL_MAX (256 + CHUNK * 128) /* a row's part: at most 110 bytes */
static char sql_tags_chunk[CHUNK_SQL_MAX], sql_audit_chunk[CHUNK_SQL_MAX], sql_untagged_chunk[CHUNK_SQL_MAX];
static pthread_once_t chunk_once = PTHREAD_ONCE_INIT;
_Static_assert(1 + 3 * CHUNK <= 999, "a chunk fits in one statement's parameters");

/* The chunk statements: the tags' DELETE (?1 the repository, then name, digest and
 * push time of each), the audit rows' INSERT (?1 the time, then repository and
 * detail of each; a row whose detail is NULL is left out), and the untagged
 * manifests' DELETE (?1 the repository, ?2 "before", then one digest each; each
 * row re-checked: still untagged by the rule, in the transaction). */
static void make_chunk_sql(void) {
        size_t a, b, u;

        a = (size_t) snprintf(sql_tags_chunk, CHUNK_SQL_MAX, "DELETE FROM tags WHERE repo_id = ?1 AND"
                              " (name, digest, updated_at) IN (VALUES ");
        b = (size_t) snprintf(sql_audit_chunk, CHUNK_SQL_MAX, "INSERT INTO auth_audit(ts, \"user\", client, action,"
                              " repo, detail) SELECT CAST(?1 AS BIGINT), 'retention', NULL, 'retention-delete',"
                              " v.column1, v.column2 FROM (VALUES ");
        u = (size_t) snprintf(sql_untagged_chunk, CHUNK_SQL_MAX, "DELETE FROM manifests WHERE repo_id = ?1 AND digest IN"
                              " (SELECT m.digest FROM manifests m WHERE m.repo_id = ?1 AND m.digest IN (");
        for (size_t i = 0, p = 2; i < CHUNK && a < CHUNK_SQL_MAX && b < CHUNK_SQL_MAX && u < CHUNK_SQL_MAX;
             i++, p += 3) {
                a += (size_t) snprintf(sql_tags_chunk + a, CHUNK_SQL_MAX - a,
                                       "%s(CAST(?%zu AS TEXT), CAST(?%zu AS TEXT), CAST(?%zu AS BIGINT))",
                                       i ? ", " : "", p, p + 1, p + 2);
                b += (size_t) snprintf(sql_audit_chunk + b, CHUNK_SQL_MAX - b, "%s(CAST(?%zu AS TEXT), CAST(?%zu AS TEXT))",
                                       i ? ", " : "", 2 * i + 2, 2 * i + 3);
                u += (size_t) snprintf(sql_untagged_chunk + u, CHUNK_SQL_MAX - u, "%sCAST(?%zu AS TEXT)", i ? ", " : "",
                                       i + 3);
        }
        if (a < CHUNK_SQL_MAX)
                (void) snprintf(sql_tags_chunk + a, CHUNK_SQL_MAX - a, ") RETURNING name");
        if (b < CHUNK_SQL_MAX)
                (void) snprintf(sql_audit_chunk + b, CHUNK_SQL_MAX - b, ") AS v WHERE v.column2 IS NOT NULL");
        if (u < CHUNK_SQL_MAX)
                (void) snprintf(sql_untagged_chunk + u, CHUNK_SQL_MAX - u,
                                ") AND" UNTAGGED_RULE_AT("2") UNTAGGED_NO_TAG ") RETURNING digest, size, media_type");
}

static int stmt(db_conn_t *c, const char *sql, db_stmt_t **ret) {
        return db_stmt(c, sql, ret);
}

static int64_t wall(void) {
        return (int64_t) time(NULL);
}

/* ---- names and patterns ---- */

bool meta_pattern_valid(const char *p) {
        size_t len;
        int depth = 0;

        if (!p || !(len = strnlen(p, META_PATTERN_MAX + 1)) || len > META_PATTERN_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) p[i];
                if (ch <= ' ' || ch >= 0x7f)
                        return false;
                if (ch == '[')
                        depth++;
                else if (ch == ']' && depth > 0)
                        depth--;
        }
        return depth == 0;
}

bool meta_project_valid(const char *project) {
        size_t len;

        if (!project || !(len = strnlen(project, PROJECT_MAX + 1)) || len > PROJECT_MAX)
                return false;
        return !memchr(project, '/', len) && name_repo_valid(project, len);
}

/* The project of repo into buf: 0, or -EINVAL. */
static int project_of(const char *repo, char *buf, size_t size) {
        size_t n = strcspn(repo, "/");

        if (n == 0 || n >= size)
                return -EINVAL;
        memcpy(buf, repo, n);
        buf[n] = '\0';
        return 0;
}

static bool matches(const char *pattern, const char *s) {
        return fnmatch(pattern, s, 0) == 0;
}

bool meta_pattern_match(const char *pattern, const char *name) {
        return pattern && name && matches(pattern, name);
}

/* ---- pulls ---- */

int meta_pulls_add(meta_t *m, const meta_pull_t *v, size_t n) {
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || (n && !v))
                return -EINVAL;
        if (n == 0)
                return 0;
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if (!v[i].repo || v[i].count > (uint64_t) INT64_MAX) {
                        r = db_tx_fail(c, -EINVAL);
                        break;
                }
                if ((r = stmt(c, SQL_PULLS_ADD, &st)) < 0 || (r = db_bind_text(st, 1, v[i].repo)) < 0 ||
                    (r = db_bind_text(st, 2, v[i].digest.str)) < 0 || (r = db_bind_uint(st, 3, v[i].count)) < 0 ||
                    (r = db_bind_int(st, 4, v[i].last)) < 0)
                        break;
                r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        return db_tx_commit(c);
}

int meta_pulls_get(meta_t *m, const char *repo, const digest_t *d, meta_pulls_info_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !repo || !d || !ret)
                return -EINVAL;
        *ret = (meta_pulls_info_t){ 0 };
        if ((r = stmt(c, SQL_PULLS_GET, &st)) < 0 || (r = db_bind_text(st, 1, repo)) < 0 ||
            (r = db_bind_text(st, 2, d->str)) < 0 || (r = db_step(st)) <= 0)
                return r;
        ret->count = (uint64_t) db_col_int(st, 0);
        ret->last_pulled = db_col_int(st, 1);
        return 1;
}

/* ---- immutable tags ---- */

/* The project's patterns (NULL-terminated, malloc'd; none: an empty vector). */
static int patterns_of(db_conn_t *c, const char *project, char ***ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char **v = NULL;
        size_t n = 0;
        int r;

        if ((r = stmt(c, SQL_IMM_PATTERNS, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                char **nv = realloc(v, (n + 2) * sizeof(*v));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                if ((r = db_col_strdup(st, 0, &v[n])) < 0 || !v[n]) {
                        r = r < 0 ? r : BERTH_EDB;
                        v[n] = NULL;
                        break;
                }
                v[++n] = NULL;
        }
        if (r < 0) {
                meta_strv_free(v);
                return r;
        }
        if (!v && !(v = calloc(1, sizeof(*v))))
                return -ENOMEM;
        *ret = v;
        return 0;
}

/* The first of patterns that tag matches, or NULL. */
static const char *pattern_hit(char *const *patterns, const char *tag) {
        for (size_t i = 0; patterns && patterns[i]; i++)
                if (matches(patterns[i], tag))
                        return patterns[i];
        return NULL;
}

int meta_immutable_add(meta_t *m, const char *project, const char *pattern) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !meta_project_valid(project) || !meta_pattern_valid(pattern))
                return -EINVAL;
        /* a proxy project's tags are its upstream's: they move when it moves them */
        if ((r = stmt(c, SQL_IS_PROXY, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 || (r = db_step(st)) < 0)
                return r;
        if (r == 1)
                return -EPERM;
        db_stmt_reset(st);
        st = NULL;
        if ((r = stmt(c, SQL_IMM_ADD, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 ||
            (r = db_bind_text(st, 2, pattern)) < 0 || (r = db_bind_int(st, 3, wall())) < 0 ||
            (r = db_step_done(st)) < 0)
                return r;
        return db_changes(c) > 0;
}

int meta_immutable_del(meta_t *m, const char *project, const char *pattern) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !project || !pattern)
                return -EINVAL;
        if ((r = stmt(c, SQL_IMM_DEL, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 ||
            (r = db_bind_text(st, 2, pattern)) < 0 || (r = db_step_done(st)) < 0)
                return r;
        return db_changes(c) > 0;
}

void meta_immutable_free(meta_immutable_rule_t *v, size_t n) {
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].project);
                free(v[i].pattern);
        }
        free(v);
}

int meta_immutable_list(meta_t *m, const char *project, meta_immutable_rule_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        db_conn_t *c = meta_conn(m);
        meta_immutable_rule_t *v = NULL;
        size_t n = 0;
        int r;

        if (!c || !ret || !ret_n)
                return -EINVAL;
        if ((r = stmt(c, SQL_IMM_LIST, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                meta_immutable_rule_t *nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                v[n] = (meta_immutable_rule_t){ .created = db_col_int(st, 2) };
                n++;
                if ((r = db_col_strdup(st, 0, &v[n - 1].project)) < 0 ||
                    (r = db_col_strdup(st, 1, &v[n - 1].pattern)) < 0)
                        break;
        }
        if (r < 0) {
                meta_immutable_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_immutable_match(meta_t *m, const char *repo, const char *tag, char **ret_pattern) {
        char project[PROJECT_MAX + 1], **pats = NULL;
        const char *hit;
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !repo || !tag || !ret_pattern || project_of(repo, project, sizeof(project)) < 0)
                return -EINVAL;
        if ((r = patterns_of(c, project, &pats)) < 0)
                return r;
        hit = pattern_hit(pats, tag);
        r = 0;
        if (hit) {
                *ret_pattern = strdup(hit);
                r = *ret_pattern ? 1 : -ENOMEM;
        }
        meta_strv_free(pats);
        return r;
}

/* The first tag of repo naming digest that a pattern matches: 1 (*ret_tag,
 * *ret_pattern malloc'd when non-NULL), 0 none. */
static int manifest_immutable(db_conn_t *c, const char *repo, const char *digest, char **ret_tag,
                              char **ret_pattern) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char project[PROJECT_MAX + 1], **pats = NULL;
        int r;

        if (project_of(repo, project, sizeof(project)) < 0)
                return -EINVAL;
        if ((r = patterns_of(c, project, &pats)) < 0)
                return r;
        if (!pats[0]) {
                meta_strv_free(pats);
                return 0;
        }
        if ((r = stmt(c, SQL_TAGS_OF_DIGEST, &st)) >= 0 && (r = db_bind_text(st, 1, repo)) >= 0 &&
            (r = db_bind_text(st, 2, digest)) >= 0) {
                while ((r = db_step(st)) == 1) {
                        const char *tag = db_col_text(st, 0), *hit = tag ? pattern_hit(pats, tag) : NULL;
                        if (!hit)
                                continue;
                        if (ret_tag && !(*ret_tag = strdup(tag)))
                                r = -ENOMEM;
                        else if (ret_pattern && !(*ret_pattern = strdup(hit))) {
                                if (ret_tag) {
                                        free(*ret_tag);
                                        *ret_tag = NULL;
                                }
                                r = -ENOMEM;
                        }
                        break;
                }
        }
        meta_strv_free(pats);
        return r;
}

int meta_immutable_manifest(meta_t *m, const char *repo, const digest_t *d, char **ret_tag, char **ret_pattern) {
        db_conn_t *c = meta_conn(m);

        if (!c || !repo || !d)
                return -EINVAL;
        return manifest_immutable(c, repo, d->str, ret_tag, ret_pattern);
}

int meta__immutable_check_tag(db_conn_t *c, const char *repo, const char *tag, const char *digest) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char project[PROJECT_MAX + 1], **pats = NULL;
        const char *have;
        bool hit;
        int r;

        if (project_of(repo, project, sizeof(project)) < 0)
                return 0; /* not a name any rule can be about (the name check refuses it elsewhere) */
        if ((r = patterns_of(c, project, &pats)) < 0)
                return db_tx_fail(c, r);
        hit = pattern_hit(pats, tag) != NULL;
        meta_strv_free(pats);
        if (!hit)
                return 0;
        /* an immutable tag: a new one may be made, an existing one stays as it is */
        if ((r = stmt(c, SQL_TAG_DIGEST, &st)) < 0 || (r = db_bind_text(st, 1, repo)) < 0 ||
            (r = db_bind_text(st, 2, tag)) < 0 || (r = db_step(st)) < 0)
                return db_tx_fail(c, r);
        if (r == 0)
                return 0;
        have = db_col_text(st, 0);
        if (digest && have && strcmp(have, digest) == 0)
                return 0;
        return db_tx_fail(c, BERTH_EDENIED);
}

int meta__immutable_check_manifest(db_conn_t *c, const char *repo, const char *digest) {
        int r = manifest_immutable(c, repo, digest, NULL, NULL);

        if (r == -EINVAL)
                return 0;
        if (r < 0)
                return db_tx_fail(c, r);
        return r > 0 ? db_tx_fail(c, BERTH_EDENIED) : 0;
}

/* ---- policies ---- */

static const char *const KIND_NAMES[] = {
        [META_KEEP_LAST_PUSHED] = "last-pushed",     [META_KEEP_LAST_PULLED] = "last-pulled",
        [META_KEEP_PUSHED_WITHIN] = "pushed-within", [META_KEEP_PULLED_WITHIN] = "pulled-within",
        [META_KEEP_ALWAYS] = "always",
};

const char *meta_keep_kind_name(meta_keep_kind_t k) {
        return (size_t) k < ELEMENTSOF(KIND_NAMES) ? KIND_NAMES[k] : NULL;
}

meta_keep_kind_t meta_keep_kind_parse(const char *s) {
        for (size_t i = 1; s && i < ELEMENTSOF(KIND_NAMES); i++)
                if (strcmp(s, KIND_NAMES[i]) == 0)
                        return (meta_keep_kind_t) i;
        return 0;
}

void meta_retention_policy_done(meta_retention_policy_t *p) {
        if (!p)
                return;
        for (size_t i = 0; p->rules && i < p->n_rules; i++) {
                free(p->rules[i].tags);
                free(p->rules[i].repos);
        }
        free(p->rules);
        free(p->project);
        *p = (meta_retention_policy_t){ .untagged_after = -1 };
}

void meta_retention_policies_free(meta_retention_policy_t *v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                meta_retention_policy_done(&v[i]);
        free(v);
}

int meta_retention_set(meta_t *m, const meta_retention_policy_t *p) {
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !p || !meta_project_valid(p->project) || p->n_rules > META_KEEP_RULES_MAX ||
            (p->n_rules && !p->rules))
                return -EINVAL;
        for (size_t i = 0; i < p->n_rules; i++) {
                const meta_keep_rule_t *k = &p->rules[i];
                if (!meta_keep_kind_name(k->kind) || !meta_pattern_valid(k->tags) || !meta_pattern_valid(k->repos) ||
                    k->n > (uint64_t) INT64_MAX)
                        return -EINVAL;
        }
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(c, SQL_POLICY_PUT, &st)) >= 0 && (r = db_bind_text(st, 1, p->project)) >= 0 &&
                    (r = p->untagged_after >= 0 ? db_bind_int(st, 2, p->untagged_after) : db_bind_null(st, 2)) >= 0 &&
                    (r = db_bind_int(st, 3, wall())) >= 0)
                        r = db_step_done(st);
        }
        if (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(c, SQL_RULES_CLEAR, &st)) >= 0 && (r = db_bind_text(st, 1, p->project)) >= 0)
                        r = db_step_done(st);
        }
        for (size_t i = 0; r >= 0 && i < p->n_rules; i++) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                const meta_keep_rule_t *k = &p->rules[i];
                if ((r = stmt(c, SQL_RULE_PUT, &st)) >= 0 && (r = db_bind_text(st, 1, p->project)) >= 0 &&
                    (r = db_bind_int(st, 2, (int64_t) i)) >= 0 &&
                    (r = db_bind_text(st, 3, meta_keep_kind_name(k->kind))) >= 0 &&
                    (r = db_bind_text(st, 4, k->tags)) >= 0 && (r = db_bind_text(st, 5, k->repos)) >= 0 &&
                    (r = db_bind_uint(st, 6, k->n)) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        return db_tx_commit(c);
}

int meta_retention_get(meta_t *m, const char *project, meta_retention_policy_t *ret) {
        meta_retention_policy_t p = { .untagged_after = -1 };
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !project || !ret)
                return -EINVAL;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(c, SQL_POLICY_GET, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 ||
                    (r = db_step(st)) <= 0)
                        return r;
                p.untagged_after = db_col_null(st, 0) ? -1 : db_col_int(st, 0);
                p.updated = db_col_int(st, 1);
        }
        if (!(p.project = strdup(project)))
                return -ENOMEM;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(c, SQL_RULES_GET, &st)) >= 0 && (r = db_bind_text(st, 1, project)) >= 0)
                        while ((r = db_step(st)) == 1) {
                                meta_keep_rule_t *nv = realloc(p.rules, (p.n_rules + 1) * sizeof(*nv));
                                if (!nv) {
                                        r = -ENOMEM;
                                        break;
                                }
                                p.rules = nv;
                                nv = &p.rules[p.n_rules++];
                                *nv = (meta_keep_rule_t){ .kind = meta_keep_kind_parse(db_col_text(st, 0)),
                                                          .n = (uint64_t) db_col_int(st, 3) };
                                if ((r = db_col_strdup(st, 1, &nv->tags)) < 0 ||
                                    (r = db_col_strdup(st, 2, &nv->repos)) < 0)
                                        break;
                                if (!nv->kind || !nv->tags || !nv->repos) {
                                        r = BERTH_EDB; /* a kind this build does not know */
                                        break;
                                }
                        }
        }
        if (r < 0) {
                meta_retention_policy_done(&p);
                return r;
        }
        *ret = p;
        return 1;
}

int meta_retention_list(meta_t *m, meta_retention_policy_t **ret, size_t *ret_n) {
        db_conn_t *c = meta_conn(m);
        meta_retention_policy_t *v = NULL;
        char **names = NULL;
        size_t n = 0, cap = 0;
        int r;

        if (!c || !ret || !ret_n)
                return -EINVAL;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(c, SQL_POLICY_NAMES, &st)) < 0)
                        return r;
                while ((r = db_step(st)) == 1) {
                        if (n + 2 > cap) {
                                char **nv = realloc(names, (cap = cap ? cap * 2 : 8) * sizeof(*nv));
                                if (!nv) {
                                        r = -ENOMEM;
                                        break;
                                }
                                names = nv;
                        }
                        names[n + 1] = NULL;
                        if ((r = db_col_strdup(st, 0, &names[n])) < 0)
                                break;
                        n++;
                }
        }
        if (r >= 0 && n && !(v = calloc(n, sizeof(*v))))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = meta_retention_get(m, names[i], &v[i]);
                if (r == 0) /* removed meanwhile */
                        v[i] = (meta_retention_policy_t){ .project = strdup(names[i]), .untagged_after = -1 };
        }
        meta_strv_free(names);
        if (r < 0) {
                meta_retention_policies_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_retention_delete(meta_t *m, const char *project) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !project)
                return -EINVAL;
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *rs = NULL;
                if ((r = stmt(c, SQL_RULES_CLEAR, &rs)) >= 0 && (r = db_bind_text(rs, 1, project)) >= 0)
                        r = db_step_done(rs);
        }
        if (r >= 0 && (r = stmt(c, SQL_POLICY_DEL, &st)) >= 0 && (r = db_bind_text(st, 1, project)) >= 0 &&
            (r = db_step_done(st)) >= 0)
                r = db_changes(c) > 0;
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        {
                int cr = db_tx_commit(c);
                return cr < 0 ? cr : r;
        }
}

/* ---- runs ---- */

typedef struct {
        char *name;
        digest_t digest;
        int64_t pushed, pulled; /* unix seconds; pulled 0: never */
        bool keep;
} tag_t;

/* A removal waiting for its batch's commit (what the removed callback is told). */
typedef struct {
        char *repo, *tag; /* tag NULL: an untagged manifest */
        digest_t digest;
} done_t;

typedef struct {
        meta_t *m;
        db_conn_t *c;
        const meta_retention_options_t *o;
        meta_retention_result_t *res;
        int64_t now;
        size_t batch;
        /* the open batch: one write transaction, across repositories of a project */
        bool open;
        uint64_t t0;          /* when it took the write lock */
        done_t *done;         /* its removals */
        size_t n_done, cap_done;
        uint64_t tags, manifests; /* ... by kind, counted in res at the commit */
        char **pats;          /* the project's immutable patterns, read in the batch */
        char *repo;           /* the repository the next three are about */
        int wanted;           /* webhooks want its delete events */
        bool notified;        /* meta_repo_changed called for it in the batch */
} run_t;

static uint64_t mono_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* A batch held the write lock from t0 to t1: the run waits as long again (at
 * least 2 ms) before its next, so that requests waiting for the lock get it
 * between batches (the run takes at most about half the lock's time). Skipped
 * when the engine says nobody waits (PostgreSQL; SQLite cannot tell). */
static void pause_after(uint64_t t0, uint64_t t1) {
        uint64_t pause = t1 - t0;
        struct timespec ts;

        if (pause < 2000000)
                pause = 2000000;
        if (pause > 200000000)
                pause = 200000000;
        ts.tv_sec = (time_t) (pause / 1000000000u);
        ts.tv_nsec = (long) (pause % 1000000000u);
        (void) nanosleep(&ts, NULL);
}

static bool stopped(const run_t *run) {
        return run->o->stop && *run->o->stop;
}

static void tags_free(tag_t *v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i].name);
        free(v);
}

/* Every tag of the repository, by name, read in pages (no transaction held). */
static int read_tags(run_t *run, int64_t rid, tag_t **ret, size_t *ret_n) {
        _cleanup_free_ char *after = strdup("");
        tag_t *v = NULL;
        size_t n = 0, cap = 0, got;
        int r = after ? 0 : -ENOMEM;

        while (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                got = 0;
                if ((r = stmt(run->c, SQL_TAGS_PAGE, &st)) < 0 || (r = db_bind_int(st, 1, rid)) < 0 ||
                    (r = db_bind_text(st, 2, after)) < 0 || (r = db_bind_int(st, 3, TAG_PAGE)) < 0)
                        break;
                while ((r = db_step(st)) == 1) {
                        const char *d = db_col_text(st, 1);
                        tag_t t = { .pushed = db_col_int(st, 2), .pulled = db_col_int(st, 3) };
                        char *name = NULL;
                        got++;
                        if ((r = db_col_strdup(st, 0, &name)) < 0 || !name) {
                                r = r < 0 ? r : BERTH_EDB;
                                break;
                        }
                        free(after);
                        if (!(after = strdup(name))) {
                                free(name);
                                r = -ENOMEM;
                                break;
                        }
                        if (!d || digest_parse(d, &t.digest) < 0) {
                                free(name); /* not ours to judge: left alone */
                                continue;
                        }
                        t.name = name;
                        if (n == cap) {
                                tag_t *nv = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
                                if (!nv) {
                                        free(t.name);
                                        r = -ENOMEM;
                                        break;
                                }
                                v = nv;
                        }
                        v[n++] = t;
                }
                if (r < 0 || got < TAG_PAGE)
                        break;
        }
        if (r < 0) {
                tags_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- deciding ---- */

typedef struct {
        int64_t key;
        const char *name;
        size_t idx;
} rank_t;

/* newest first; ties by name */
static int cmp_rank(const void *x, const void *y) {
        const rank_t *a = x, *b = y;

        if (a->key != b->key)
                return a->key > b->key ? -1 : 1;
        return strcmp(a->name, b->name);
}

static bool within(int64_t t, int64_t now, uint64_t secs) {
        return t >= now || (uint64_t) (now - t) <= secs;
}

/* Sets v[].keep by p's rules for repo (and the immutable patterns): 1 when a rule
 * applies to repo, 0 when none does (then nothing of it is removed), <0. */
static int decide(const meta_retention_policy_t *p, char *const *immutable, const char *repo, tag_t *v, size_t n,
                  int64_t now) {
        _cleanup_free_ rank_t *rk = NULL;
        bool applies = false;

        for (size_t r = 0; r < p->n_rules; r++) {
                const meta_keep_rule_t *k = &p->rules[r];
                size_t nk = 0;

                if (!matches(k->repos, repo))
                        continue;
                applies = true;
                for (size_t i = 0; i < n; i++) {
                        tag_t *t = &v[i];
                        if (!matches(k->tags, t->name))
                                continue;
                        switch (k->kind) {
                        case META_KEEP_ALWAYS:
                                t->keep = true;
                                break;
                        case META_KEEP_PUSHED_WITHIN:
                                if (within(t->pushed, now, k->n))
                                        t->keep = true;
                                break;
                        case META_KEEP_PULLED_WITHIN:
                                if (t->pulled > 0 && within(t->pulled, now, k->n))
                                        t->keep = true;
                                break;
                        case META_KEEP_LAST_PUSHED:
                        case META_KEEP_LAST_PULLED:
                                if (k->kind == META_KEEP_LAST_PULLED && t->pulled <= 0)
                                        break;
                                if (!rk && !(rk = malloc((n ? n : 1) * sizeof(*rk))))
                                        return -ENOMEM;
                                rk[nk++] = (rank_t){ .key = k->kind == META_KEEP_LAST_PUSHED ? t->pushed : t->pulled,
                                                     .name = t->name, .idx = i };
                                break;
                        }
                }
                if (nk) {
                        qsort(rk, nk, sizeof(*rk), cmp_rank);
                        for (size_t j = 0; j < nk && j < k->n; j++)
                                v[rk[j].idx].keep = true;
                }
        }
        for (size_t i = 0; i < n; i++)
                if (pattern_hit(immutable, v[i].name))
                        v[i].keep = true;
        return applies;
}

/* ---- removing ---- */

static int audit(db_conn_t *c, int64_t now, const char *repo, const char *tag, const char *digest) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char detail[META_PATTERN_MAX + DIGEST_STR_MAX + 32];
        int r;

        if (tag)
                (void) snprintf(detail, sizeof(detail), "tag %s %s", tag, digest);
        else
                (void) snprintf(detail, sizeof(detail), "manifest %s", digest);
        if ((r = stmt(c, SQL_AUDIT, &st)) < 0 || (r = db_bind_int(st, 1, now)) < 0 ||
            (r = db_bind_text(st, 2, repo)) < 0 || (r = db_bind_text(st, 3, detail)) < 0)
                return r;
        return db_step_done(st);
}

/* The audit rows of n (at most CHUNK) removals in repo: one statement. */
static int audit_chunk(run_t *run, const char *repo, const char *const *details, size_t n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (n == 0)
                return 0;
        if ((r = stmt(run->c, sql_audit_chunk, &st)) < 0 || (r = db_bind_int(st, 1, run->now)) < 0)
                return r;
        for (size_t i = 0; i < CHUNK; i++) {
                int p = 2 + 2 * (int) i;
                if ((r = i < n ? db_bind_text(st, p, repo) : db_bind_null(st, p)) < 0 ||
                    (r = i < n ? db_bind_text(st, p + 1, details[i]) : db_bind_null(st, p + 1)) < 0)
                        return r;
        }
        return db_step_done(st);
}

static int delete_event(run_t *run, const char *repo, const char *tag, const char *digest, uint64_t size,
                        const char *media_type) {
        webhook_event_t ev = { .type = WEBHOOK_DELETE, .repository = repo, .tag = tag, .digest = digest,
                               .media_type = media_type, .size = size, .actor = "retention",
                               .time = run->now };
        return webhook_enqueue(run->c, &ev, NULL);
}

static void batch_forget(run_t *run) {
        for (size_t i = 0; i < run->n_done; i++) {
                free(run->done[i].repo);
                free(run->done[i].tag);
        }
        run->n_done = 0;
        run->tags = run->manifests = 0;
        run->pats = meta_strv_free(run->pats);
        free(run->repo);
        run->repo = NULL;
}

/* The batch's transaction (opened if none is), with what it knows of project and
 * repo read in it. */
static int batch_enter(run_t *run, const char *project, const char *repo) {
        int r;

        if (!run->open) {
                if ((r = db_tx_begin(run->c)) < 0)
                        return r;
                run->open = true;
                run->t0 = mono_ns();
        }
        /* the immutable rules as they are now: one added since the decision holds */
        if (!run->pats && (r = patterns_of(run->c, project, &run->pats)) < 0)
                return r;
        if (!run->repo || strcmp(run->repo, repo) != 0) {
                free(run->repo);
                if (!(run->repo = strdup(repo)))
                        return -ENOMEM;
                run->notified = false;
                if ((run->wanted = webhook_wanted(run->c, repo, WEBHOOK_DELETE)) < 0)
                        return run->wanted;
        }
        return 0;
}

/* Records a removal made in the batch (the caches told of its repository). */
static int batch_removed(run_t *run, const char *repo, const char *tag, const digest_t *d) {
        int r;

        if (!run->notified) {
                if ((r = meta_repo_changed(run->c, repo)) < 0)
                        return r;
                run->notified = true;
        }
        if (run->n_done == run->cap_done) {
                size_t cap = run->cap_done ? run->cap_done * 2 : 256;
                done_t *nv = realloc(run->done, cap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                run->done = nv;
                run->cap_done = cap;
        }
        run->done[run->n_done] = (done_t){ .repo = strdup(repo), .tag = tag ? strdup(tag) : NULL, .digest = *d };
        if (!run->done[run->n_done].repo || (tag && !run->done[run->n_done].tag)) {
                free(run->done[run->n_done].repo);
                free(run->done[run->n_done].tag);
                return -ENOMEM;
        }
        run->n_done++;
        if (tag)
                run->tags++;
        else
                run->manifests++;
        return 0;
}

/* Commits the batch when it is full (run->batch removals, or TX_BUDGET_NS of work
 * under the write lock), or at once with force; then tells the removals and
 * pauses as long as the lock was held. */
static int batch_commit(run_t *run, bool force) {
        uint64_t t1;
        int r;

        if (!run->open)
                return 0;
        if (!force && run->n_done < run->batch && mono_ns() - run->t0 < TX_BUDGET_NS)
                return 0;
        run->open = false;
        r = db_tx_commit(run->c);
        t1 = mono_ns();
        if (r >= 0) {
                run->res->tags += run->tags;
                run->res->manifests += run->manifests;
                for (size_t i = 0; run->o->removed && i < run->n_done; i++)
                        run->o->removed(run->o->userdata, run->done[i].repo, run->done[i].tag, &run->done[i].digest);
        }
        batch_forget(run);
        /* PostgreSQL tells whether a writer waits: without one, no pause */
        if (db_writers_waiting(run->c) != 0)
                pause_after(run->t0, t1);
        return r;
}

static void batch_abort(run_t *run) {
        if (run->open)
                db_tx_rollback(run->c);
        run->open = false;
        batch_forget(run);
}

static int cmp_name(const void *x, const void *y) {
        return strcmp(((const tag_t *) x)->name, ((const tag_t *) y)->name);
}

/* CHUNK tags v[idx[0..CHUNK)] of repository rid (not immutable ones) removed in
 * the open batch with two statements: the DELETE (each row re-checked as by
 * SQL_TAG_REMOVE) and the audit rows of those it removed. */
static int remove_chunk(run_t *run, int64_t rid, const char *repo, const tag_t *v, const size_t *idx) {
        const tag_t *gone[CHUNK];
        char details[CHUNK][META_PATTERN_MAX + DIGEST_STR_MAX + 32];
        size_t n_gone = 0;
        bool skip[CHUNK];
        int r;

        for (size_t i = 0; i < CHUNK; i++)
                skip[i] = pattern_hit(run->pats, v[idx[i]].name) != NULL;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(run->c, sql_tags_chunk, &st)) < 0 || (r = db_bind_int(st, 1, rid)) < 0)
                        return r;
                for (size_t i = 0; i < CHUNK; i++) {
                        const tag_t *t = &v[idx[i]];
                        int p = 2 + 3 * (int) i;
                        /* an immutable one: a row no tag has (an empty name) */
                        if ((r = db_bind_text(st, p, skip[i] ? "" : t->name)) < 0 ||
                            (r = db_bind_text(st, p + 1, t->digest.str)) < 0 || (r = db_bind_int(st, p + 2, t->pushed)) < 0)
                                return r;
                }
                while ((r = db_step(st)) == 1) {
                        const char *name = db_col_text(st, 0);
                        tag_t key = { .name = (char *) name };
                        for (size_t i = 0; name && i < CHUNK && n_gone < CHUNK; i++)
                                if (cmp_name(&key, &v[idx[i]]) == 0) {
                                        gone[n_gone++] = &v[idx[i]];
                                        break;
                                }
                }
                if (r < 0)
                        return r;
        }
        {
                const char *details_of[CHUNK] = { 0 };
                for (size_t i = 0; i < n_gone; i++) {
                        (void) snprintf(details[i], sizeof(details[i]), "tag %s %s", gone[i]->name, gone[i]->digest.str);
                        details_of[i] = details[i];
                }
                if ((r = audit_chunk(run, repo, details_of, n_gone)) < 0)
                        return r;
        }
        for (size_t i = 0; i < n_gone; i++)
                if ((r = batch_removed(run, repo, gone[i]->name, &gone[i]->digest)) < 0)
                        return r;
        return 0;
}

/* Removes the tags v[idx[0..k)] of repository rid, in the run's batches. */
static int remove_tags(run_t *run, int64_t rid, const char *repo, const char *project, tag_t *v, const size_t *idx,
                       size_t k) {
        db_conn_t *c = run->c;
        int r = 0;

        (void) pthread_once(&chunk_once, make_chunk_sql);
        for (size_t j = 0; r >= 0 && j < k && !stopped(run); j++) {
                const tag_t *t = &v[idx[j]];
                char mt[256] = "";
                uint64_t size = 0;

                if ((r = batch_enter(run, project, repo)) < 0)
                        break;
                /* CHUNK at once when no webhook wants the events (each needs its
                 * manifest read): j moves to the chunk's last */
                if (run->wanted == 0 && k - j >= CHUNK) {
                        r = remove_chunk(run, rid, repo, v, idx + j);
                        j += CHUNK - 1;
                        if (r >= 0)
                                r = batch_commit(run, false);
                        continue;
                }
                if (pattern_hit(run->pats, t->name)) {
                        r = batch_commit(run, false);
                        continue;
                }
                if (run->wanted > 0) {
                        _cleanup_db_stmt_ db_stmt_t *st = NULL;
                        if ((r = stmt(c, SQL_MANIFEST_INFO, &st)) < 0 || (r = db_bind_int(st, 1, rid)) < 0 ||
                            (r = db_bind_text(st, 2, t->digest.str)) < 0 || (r = db_step(st)) < 0)
                                break;
                        if (r == 1) {
                                size = (uint64_t) db_col_int(st, 0);
                                (void) snprintf(mt, sizeof(mt), "%s", db_col_text(st, 1) ? db_col_text(st, 1) : "");
                        }
                }
                {
                        _cleanup_db_stmt_ db_stmt_t *st = NULL;
                        if ((r = stmt(c, SQL_TAG_REMOVE, &st)) < 0 || (r = db_bind_int(st, 1, rid)) < 0 ||
                            (r = db_bind_text(st, 2, t->name)) < 0 || (r = db_bind_text(st, 3, t->digest.str)) < 0 ||
                            (r = db_bind_int(st, 4, t->pushed)) < 0 || (r = db_step_done(st)) < 0)
                                break;
                }
                /* moved, pushed again or deleted since: not this run's */
                if (db_changes(c) > 0 &&
                    ((r = audit(c, run->now, repo, t->name, t->digest.str)) < 0 ||
                     (run->wanted > 0 && (r = delete_event(run, repo, t->name, t->digest.str, size, mt[0] ? mt : NULL)) < 0) ||
                     (r = batch_removed(run, repo, t->name, &t->digest)) < 0))
                        break;
                r = batch_commit(run, false);
        }
        return r < 0 ? r : 0;
}

/* A page of untagged candidates after `after` (sql: the run's or the dry run's). */
static int untagged_page(run_t *run, const char *sql, int64_t rid, const char *after, int64_t before, digest_t *v,
                         size_t max, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        size_t n = 0;
        int r;

        if ((r = stmt(run->c, sql, &st)) < 0 || (r = db_bind_int(st, 1, rid)) < 0 ||
            (r = db_bind_text(st, 2, after)) < 0 || (r = db_bind_int(st, 3, before)) < 0 ||
            (r = db_bind_int(st, 4, (int64_t) max)) < 0)
                return r;
        while (n < max && (r = db_step(st)) == 1) {
                const char *d = db_col_text(st, 0);
                if (d && digest_parse(d, &v[n]) == 0)
                        n++;
        }
        *ret_n = n;
        return r < 0 ? r : 0;
}

/* The untagged manifests v[0..k) (k at most CHUNK) of repository rid removed in the
 * open batch, each re-checked by the DELETE: one statement for the rows, one for
 * their audit rows, and an event each when webhooks want them. *ret_removed: how
 * many went. */
static int remove_untagged_chunk(run_t *run, int64_t rid, const char *repo, int64_t before, const digest_t *v,
                                 size_t k, size_t *ret_removed) {
        struct {
                digest_t d;
                uint64_t size;
                char mt[256];
        } gone[CHUNK];
        char details[CHUNK][DIGEST_STR_MAX + 16];
        const char *details_of[CHUNK] = { 0 };
        size_t n_gone = 0;
        int r;

        (void) pthread_once(&chunk_once, make_chunk_sql);
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(run->c, sql_untagged_chunk, &st)) < 0 || (r = db_bind_int(st, 1, rid)) < 0 ||
                    (r = db_bind_int(st, 2, before)) < 0)
                        return r;
                for (size_t i = 0; i < CHUNK; i++)
                        if ((r = db_bind_text(st, 3 + (int) i, i < k ? v[i].str : "")) < 0)
                                return r;
                while ((r = db_step(st)) == 1)
                        if (n_gone < CHUNK && db_col_text(st, 0) && digest_parse(db_col_text(st, 0), &gone[n_gone].d) == 0) {
                                gone[n_gone].size = (uint64_t) db_col_int(st, 1);
                                (void) snprintf(gone[n_gone].mt, sizeof(gone[n_gone].mt), "%s",
                                                db_col_text(st, 2) ? db_col_text(st, 2) : "");
                                n_gone++;
                        }
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n_gone; i++) {
                (void) snprintf(details[i], sizeof(details[i]), "manifest %s", gone[i].d.str);
                details_of[i] = details[i];
        }
        if ((r = audit_chunk(run, repo, details_of, n_gone)) < 0)
                return r;
        for (size_t i = 0; i < n_gone; i++) {
                if (run->wanted > 0 &&
                    (r = delete_event(run, repo, NULL, gone[i].d.str, gone[i].size, gone[i].mt[0] ? gone[i].mt : NULL)) < 0)
                        return r;
                if ((r = batch_removed(run, repo, NULL, &gone[i].d)) < 0)
                        return r;
        }
        *ret_removed = n_gone;
        return 0;
}

/* Removes the untagged manifests of repository rid pushed and last pulled at or
 * before `before`, pass after pass, in the run's batches (the candidates read in
 * the open batch see its removals). */
static int remove_untagged(run_t *run, int64_t rid, const char *project, const char *repo, int64_t before) {
        _cleanup_free_ digest_t *page = malloc(UNTAGGED_PAGE * sizeof(*page));
        uint64_t pass_removed;
        int r = page ? 0 : -ENOMEM;

        do {
                digest_t after = { .str = "" };
                pass_removed = 0;
                while (r >= 0 && !stopped(run)) {
                        size_t n = 0;
                        if ((r = untagged_page(run, SQL_UNTAGGED_PAGE, rid, after.str, before, page, UNTAGGED_PAGE,
                                               &n)) < 0 ||
                            n == 0)
                                break;
                        after = page[n - 1];
                        for (size_t j = 0; r >= 0 && j < n && !stopped(run); j += CHUNK) {
                                size_t k = n - j < CHUNK ? n - j : CHUNK, removed = 0;
                                if ((r = batch_enter(run, project, repo)) < 0 ||
                                    (r = remove_untagged_chunk(run, rid, repo, before, page + j, k, &removed)) < 0)
                                        break;
                                pass_removed += removed;
                                r = batch_commit(run, false);
                        }
                        if (n < UNTAGGED_PAGE)
                                break;
                }
        } while (r >= 0 && pass_removed > 0 && !stopped(run));
        return r < 0 ? r : 0;
}

static int cmp_str(const void *x, const void *y) {
        return strcmp(*(const char *const *) x, *(const char *const *) y);
}

/* A dry run's untagged manifests: the first pass, as if the tags the run would
 * remove were gone (v[].keep false are those, when removing applies). */
static int dry_untagged(run_t *run, int64_t rid, const char *repo, const tag_t *v, size_t n, bool applies,
                        int64_t before) {
        _cleanup_free_ const char **kept = malloc((n ? n : 1) * sizeof(*kept));
        _cleanup_free_ digest_t *page = malloc(UNTAGGED_PAGE * sizeof(*page));
        digest_t after = { .str = "" };
        size_t nk = 0;
        int r = 0;

        if (!kept || !page)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (v[i].keep || !applies)
                        kept[nk++] = v[i].digest.str;
        qsort(kept, nk, sizeof(*kept), cmp_str);
        for (;;) {
                size_t got = 0;
                if ((r = untagged_page(run, SQL_UNTAGGED_PAGE_DRY, rid, after.str, before, page, UNTAGGED_PAGE,
                                       &got)) < 0 ||
                    got == 0)
                        break;
                after = page[got - 1];
                for (size_t j = 0; j < got; j++) {
                        const char *key = page[j].str;
                        if (nk && bsearch(&key, kept, nk, sizeof(*kept), cmp_str))
                                continue;
                        run->res->manifests++;
                        if (run->o->removed)
                                run->o->removed(run->o->userdata, repo, NULL, &page[j]);
                }
                if (got < UNTAGGED_PAGE)
                        break;
        }
        return r;
}

typedef struct {
        int64_t id;
        char *name;
} repo_t;

static void repos_free(repo_t *v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i].name);
        free(v);
}

static int project_repos(run_t *run, const char *project, repo_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char lo[PROJECT_MAX + 2], hi[PROJECT_MAX + 2];
        repo_t *v = NULL;
        size_t n = 0;
        int r;

        (void) snprintf(lo, sizeof(lo), "%s/", project);
        (void) snprintf(hi, sizeof(hi), "%s0", project); /* '0' follows '/' */
        if ((r = stmt(run->c, SQL_PROJECT_REPOS, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 ||
            (r = db_bind_text(st, 2, lo)) < 0 || (r = db_bind_text(st, 3, hi)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                repo_t *nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                v[n] = (repo_t){ .id = db_col_int(st, 0) };
                n++;
                if ((r = db_col_strdup(st, 1, &v[n - 1].name)) < 0 || !v[n - 1].name) {
                        r = r < 0 ? r : BERTH_EDB;
                        break;
                }
        }
        if (r < 0) {
                repos_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int run_project(run_t *run, const meta_retention_policy_t *p) {
        repo_t *repos = NULL;
        char **imm = NULL;
        size_t n_repos = 0;
        int r;

        if ((r = project_repos(run, p->project, &repos, &n_repos)) < 0)
                return r;
        if ((r = patterns_of(run->c, p->project, &imm)) < 0) {
                repos_free(repos, n_repos);
                return r;
        }
        for (size_t i = 0; r >= 0 && i < n_repos && !stopped(run); i++) {
                const char *repo = repos[i].name;
                bool dry = run->o->dry_run, untagged = p->untagged_after >= 0;
                int64_t before = untagged ? run->now - p->untagged_after : 0;
                _cleanup_free_ size_t *rm = NULL;
                tag_t *v = NULL;
                size_t n = 0, k = 0;
                int applies = 0;

                /* an open batch's budget counts the reading of this repository too */
                if ((r = batch_commit(run, false)) < 0)
                        break;
                run->res->repos++;
                if (p->n_rules > 0 || (untagged && dry)) {
                        if ((r = read_tags(run, repos[i].id, &v, &n)) < 0)
                                break;
                        run->res->tags_seen += n;
                }
                if (p->n_rules > 0 && n > 0) {
                        r = applies = decide(p, imm, repo, v, n, run->now);
                        if (r >= 0 && applies && !(rm = malloc(n * sizeof(*rm))))
                                r = -ENOMEM;
                        for (size_t j = 0; r >= 0 && applies && j < n; j++)
                                if (!v[j].keep)
                                        rm[k++] = j;
                }
                if (r >= 0 && k > 0) {
                        if (dry) {
                                run->res->tags += k;
                                for (size_t j = 0; run->o->removed && j < k; j++)
                                        run->o->removed(run->o->userdata, repo, v[rm[j]].name, &v[rm[j]].digest);
                        } else
                                r = remove_tags(run, repos[i].id, repo, p->project, v, rm, k);
                }
                if (r >= 0 && untagged)
                        r = dry ? dry_untagged(run, repos[i].id, repo, v, n, applies > 0, before)
                                : remove_untagged(run, repos[i].id, p->project, repo, before);
                tags_free(v, n);
        }
        /* the project's last batch (a failed one rolled back) */
        if (r >= 0)
                r = batch_commit(run, true);
        if (r < 0)
                batch_abort(run);
        meta_strv_free(imm);
        repos_free(repos, n_repos);
        return r < 0 ? r : 0;
}

/* ---- the record of runs ---- */

static int run_start(db_conn_t *c, int64_t now, const meta_retention_options_t *o, int64_t *ret_id) {
        int64_t id = 0;
        int r;

        if ((r = db_tx_begin(c)) < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(c, SQL_RUN_ID, &st)) >= 0 && (r = db_step(st)) >= 0)
                        id = r == 1 ? db_col_int(st, 0) : 1;
        }
        if (r >= 0) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = stmt(c, SQL_RUN_START, &st)) >= 0 && (r = db_bind_int(st, 1, id)) >= 0 &&
                    (r = db_bind_int(st, 2, now)) >= 0 && (r = db_bind_text(st, 3, o->who ? o->who : "?")) >= 0 &&
                    (r = db_bind_text(st, 4, o->project)) >= 0 && (r = db_bind_int(st, 5, o->dry_run)) >= 0)
                        r = db_step_done(st);
        }
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        if ((r = db_tx_commit(c)) < 0)
                return r;
        *ret_id = id;
        return 0;
}

static int run_end(db_conn_t *c, int64_t id, int64_t finished, int result, const meta_retention_result_t *res) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char err[512] = "";
        int r;

        if (result < 0)
                (void) snprintf(err, sizeof(err), "%s%s%s", berth_strerror(result), db_last_error()[0] ? ": " : "",
                                db_last_error());
        if ((r = stmt(c, SQL_RUN_END, &st)) < 0 || (r = db_bind_int(st, 1, id)) < 0 ||
            (r = db_bind_int(st, 2, finished)) < 0 || (r = db_bind_text(st, 3, result < 0 ? "failed" : "ok")) < 0 ||
            (r = db_bind_uint(st, 4, res->repos)) < 0 || (r = db_bind_uint(st, 5, res->tags)) < 0 ||
            (r = db_bind_uint(st, 6, res->manifests)) < 0 || (r = db_bind_text(st, 7, result < 0 ? err : NULL)) < 0)
                return r;
        return db_step_done(st);
}

int meta_retention_run(meta_t *m, const meta_retention_options_t *o, meta_retention_result_t *ret) {
        meta_retention_policy_t *pols = NULL;
        size_t n_pols = 0;
        db_conn_t *c = meta_conn(m);
        run_t run = { .m = m, .c = c, .o = o, .res = ret };
        int r, lock;

        if (!c || !o || !ret || (o->project && !meta_project_valid(o->project)))
                return -EINVAL;
        *ret = (meta_retention_result_t){ 0 };
        run.now = o->now ? o->now : wall();
        run.batch = o->batch ? o->batch : BATCH_DEFAULT;
        lock = db_lock_try(c, DB_LOCK_RETENTION);
        if (lock <= 0)
                return lock == 0 ? BERTH_EBUSY : lock;
        if (o->project) {
                pols = calloc(1, sizeof(*pols));
                r = pols ? meta_retention_get(m, o->project, pols) : -ENOMEM;
                if (r == 0)
                        r = -ENOENT;
                else if (r > 0)
                        n_pols = 1;
        } else
                r = meta_retention_list(m, &pols, &n_pols);
        if (r >= 0)
                r = run_start(c, run.now, o, &ret->run_id);
        if (r < 0) {
                meta_retention_policies_free(pols, n_pols ? n_pols : 0);
                db_unlock(c, DB_LOCK_RETENTION);
                return r;
        }
        for (size_t i = 0; r >= 0 && i < n_pols && !stopped(&run); i++)
                r = run_project(&run, &pols[i]);
        {
                int e = run_end(c, ret->run_id, o->now ? o->now : wall(), r, ret);
                if (r >= 0 && e < 0)
                        r = e;
        }
        meta_retention_policies_free(pols, n_pols);
        free(run.done);
        db_unlock(c, DB_LOCK_RETENTION);
        return r;
}

void meta_retention_runs_free(meta_retention_run_t *v, size_t n) {
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].who);
                free(v[i].project);
                free(v[i].result);
                free(v[i].error);
        }
        free(v);
}

int meta_retention_runs(meta_t *m, size_t max, meta_retention_run_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        db_conn_t *c = meta_conn(m);
        meta_retention_run_t *v = NULL;
        size_t n = 0;
        int r;

        if (!c || !ret || !ret_n || max > INT32_MAX)
                return -EINVAL;
        if ((r = stmt(c, SQL_RUNS, &st)) < 0 || (r = db_bind_int(st, 1, (int64_t) max)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                meta_retention_run_t *nv = realloc(v, (n + 1) * sizeof(*v)), *e;
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                e = &v[n++];
                *e = (meta_retention_run_t){ .id = db_col_int(st, 0), .started = db_col_int(st, 1),
                                             .finished = db_col_int(st, 2), .dry_run = db_col_int(st, 5) != 0,
                                             .repos = (uint64_t) db_col_int(st, 7),
                                             .tags = (uint64_t) db_col_int(st, 8),
                                             .manifests = (uint64_t) db_col_int(st, 9) };
                if ((r = db_col_strdup(st, 3, &e->who)) < 0 || (r = db_col_strdup(st, 4, &e->project)) < 0 ||
                    (r = db_col_strdup(st, 6, &e->result)) < 0 || (r = db_col_strdup(st, 10, &e->error)) < 0)
                        break;
        }
        if (r < 0) {
                meta_retention_runs_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_retention_last_ok(meta_t *m, int64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        db_conn_t *c = meta_conn(m);
        int r;

        if (!c || !ret)
                return -EINVAL;
        if ((r = stmt(c, SQL_RUN_LAST_OK, &st)) < 0 || (r = db_step(st)) < 0)
                return r;
        *ret = r == 1 && !db_col_null(st, 0) ? db_col_int(st, 0) : 0;
        return 0;
}

/* ---- eviction ---- */

#define EVICT_BATCH 8 /* candidates read per query */
#define EVICT_PROJECT_RANGE " (r.name = ?1 OR (r.name > ?2 AND r.name < ?3))"
static const char SQL_EVICT_MANIFESTS[] =
        "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id"
        " LEFT JOIN manifest_pulls p ON p.repo_id = m.repo_id AND p.digest = m.digest WHERE" EVICT_PROJECT_RANGE
        " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = m.repo_id AND mr.child = m.digest"
        "  AND mr.is_manifest = 1)"
        " ORDER BY CASE WHEN coalesce(p.last_pulled, 0) > m.created_at THEN p.last_pulled ELSE m.created_at END,"
        " r.name, m.digest LIMIT ?4";
static const char SQL_EVICT_REFS[] = "SELECT mr.child FROM manifest_refs mr JOIN repositories r ON r.id = mr.repo_id"
                                     " WHERE r.name = ?1 AND mr.manifest = ?2 AND mr.is_manifest = 0";
static const char SQL_EVICT_REFERENCED[] = "SELECT 1 FROM manifest_refs mr JOIN repositories r ON r.id = mr.repo_id"
                                           " WHERE r.name = ?1 AND mr.child = ?2 LIMIT 1";
static const char SQL_EVICT_LINKS[] =
        "SELECT r.name, rb.digest FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id WHERE" EVICT_PROJECT_RANGE
        " AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = rb.repo_id AND mr.child = rb.digest)"
        " AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = rb.repo_id AND m.digest = rb.digest)"
        " ORDER BY rb.created_at, r.name, rb.digest LIMIT ?4";

typedef struct {
        char repo[NAME_REPO_MAX + 1];
        digest_t d;
} evict_t;

/* Up to EVICT_BATCH candidates of sql (the project's range bound) into v. */
static int evict_candidates(db_conn_t *c, const char *sql, const char *project, evict_t *v, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char lo[PROJECT_MAX + 2], hi[PROJECT_MAX + 2];
        size_t n = 0;
        int r;

        (void) snprintf(lo, sizeof(lo), "%s/", project);
        (void) snprintf(hi, sizeof(hi), "%s0", project); /* '/' + 1 */
        if ((r = stmt(c, sql, &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 || (r = db_bind_text(st, 2, lo)) < 0 ||
            (r = db_bind_text(st, 3, hi)) < 0 || (r = db_bind_int(st, 4, EVICT_BATCH)) < 0)
                return r;
        while (n < EVICT_BATCH && (r = db_step(st)) == 1) {
                const char *repo = db_col_text(st, 0), *d = db_col_text(st, 1);
                if (repo && d && strlen(repo) < sizeof(v[n].repo) && digest_parse(d, &v[n].d) == 0) {
                        memcpy(v[n].repo, repo, strlen(repo) + 1);
                        n++;
                }
        }
        *ret_n = n;
        return r < 0 ? r : 0;
}

/* The blob digests manifest d of repo references (not its child manifests). */
static int evict_refs(db_conn_t *c, const char *repo, const digest_t *d, digest_t **ret, size_t *ret_n) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        digest_t *v = NULL;
        size_t n = 0, cap = 0;
        int r;

        if ((r = stmt(c, SQL_EVICT_REFS, &st)) < 0 || (r = db_bind_text(st, 1, repo)) < 0 ||
            (r = db_bind_text(st, 2, d->str)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        digest_t *nv = reallocarray(v, ncap, sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = ncap;
                }
                if (db_col_text(st, 0) && digest_parse(db_col_text(st, 0), &v[n]) == 0)
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

static int evict_referenced(db_conn_t *c, const char *repo, const digest_t *d) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if ((r = stmt(c, SQL_EVICT_REFERENCED, &st)) < 0 || (r = db_bind_text(st, 1, repo)) < 0 ||
            (r = db_bind_text(st, 2, d->str)) < 0)
                return r;
        return db_step(st);
}

/* One manifest with its tags, then the links of its blobs nothing else in the
 * repository references: 1 removed, 0 gone already or refused (immutable). */
static int evict_manifest(meta_t *m, const evict_t *e, meta_evict_result_t *res) {
        db_conn_t *c = meta_conn(m);
        _cleanup_free_ digest_t *refs = NULL;
        size_t n = 0;
        int r;

        if ((r = evict_refs(c, e->repo, &e->d, &refs, &n)) < 0)
                return r;
        r = meta_manifest_delete(m, e->repo, &e->d);
        if (r == BERTH_EDENIED || r == 0)
                return 0;
        if (r < 0)
                return r;
        res->manifests++;
        for (size_t i = 0; i < n; i++) {
                if ((r = evict_referenced(c, e->repo, &refs[i])) < 0)
                        return r;
                if (r == 1)
                        continue;
                if ((r = meta_blob_unlink(m, e->repo, &refs[i])) < 0)
                        return r;
                res->links += (uint64_t) r;
        }
        return 1;
}

int meta_evict_lru(meta_t *m, const char *project, uint64_t target, meta_evict_result_t *ret) {
        meta_evict_result_t res = { 0 };
        usage_project_t u;
        evict_t v[EVICT_BATCH];
        bool links = false;
        int r;

        if (!m || !meta_project_valid(project))
                return -EINVAL;
        if ((r = usage_get(m, project, &u)) < 0)
                return r;
        res.bytes_before = u.bytes;
        while (u.bytes > target) {
                size_t n = 0, removed = 0;
                if ((r = evict_candidates(meta_conn(m), links ? SQL_EVICT_LINKS : SQL_EVICT_MANIFESTS, project, v, &n)) <
                    0)
                        return r;
                for (size_t i = 0; i < n && u.bytes > target; i++) {
                        if (links) {
                                if ((r = meta_blob_unlink(m, v[i].repo, &v[i].d)) < 0)
                                        return r;
                                res.links += (uint64_t) r;
                        } else if ((r = evict_manifest(m, &v[i], &res)) < 0)
                                return r;
                        removed += (size_t) r;
                        if ((r = usage_get(m, project, &u)) < 0)
                                return r;
                }
                /* nothing left (or nothing removable) of this kind: the next, or the end */
                if (removed == 0) {
                        if (links)
                                break;
                        links = true;
                }
        }
        res.bytes_after = u.bytes;
        if (ret)
                *ret = res;
        return 0;
}
