/* auth/decide.c: the access decision: rights from projects, memberships and
 * roles, the verdict, and the checks of requests (auth_check_start, the jobs
 * that verify and decide, auth_check). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/macro.h"

/* ---- policy ---- */

/* One statement (one read transaction) answers both "did anything change?" and
 * "what may this identity do in this project?": the hot path of a cached check. */
static const char SQL_RIGHTS[] =
        "SELECT (SELECT generation FROM auth_state WHERE id = 1),"
        " (SELECT public FROM auth_projects WHERE name = ?1),"
        " (SELECT role FROM auth_members WHERE project = ?1 AND \"user\" = ?2)";

/* The actions `who` may perform in project (when have_project) from the row of
 * SQL_RIGHTS. */
static unsigned rights_of(db_stmt_t *st, const auth_result_t *who, bool have_project, const char *project) {
        const unsigned all = AUTH_PULL | AUTH_PUSH | AUTH_DELETE;
        bool user = !who->anonymous && !who->robot;
        unsigned r = 0;

        if (who->admin && user)
                r = all;
        else if (have_project) {
                if (user && strcmp(project, who->name) == 0 && db_col_null(st, 1))
                        r = all; /* one's own namespace, unless a project holds the name */
                if (who->robot && strcmp(project, who->robot_project) == 0)
                        r |= AUTH_PULL | (who->robot_push ? AUTH_PUSH : 0);
                if (db_col_int(st, 1))
                        r |= AUTH_PULL; /* public project */
                if (user && !db_col_null(st, 2))
                        r |= auth_role_actions((int) db_col_int(st, 2));
        }
        return r;
}

/* The actions `who` may perform on repo (AUTH_* bits; repo may be NULL), or <0.
 * With ret_generation, the change counter the rights hold under. Served from the
 * rights cache, without a database round trip, while the change counter the
 * thread keeps is current (auth_generation); else read, and cached under the
 * counter the same statement read. */
int auth_rights(auth_t *a, auth_conn_t *c, const auth_result_t *who, const char *repo,
                  int64_t *ret_generation) {
        const unsigned all = AUTH_PULL | AUTH_PUSH | AUTH_DELETE;
        char project[AUTH_PROJECT_MAX + 1], key[RIGHTS_KEY_MAX];
        bool have_project = false, user = !who->anonymous && !who->robot, cacheable = false;
        unsigned r = 0;
        int64_t g = -1, g2;
        auth_stamp_t stamp;
        int kept;
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int e;

        if (repo) {
                const char *slash = strchr(repo, '/');
                size_t plen = slash ? (size_t) (slash - repo) : strlen(repo);
                if (plen > 0 && plen <= AUTH_PROJECT_MAX) {
                        memcpy(project, repo, plen);
                        project[plen] = '\0';
                        have_project = true;
                }
        }
        if (!ret_generation) {
                if (who->admin && user)
                        return (int) all;
                if (!have_project)
                        return 0;
        }
        kept = auth_generation_kept(a, c, &g, &stamp);
        cacheable = stamp.epoch && auth_rights_key(who, have_project ? project : "", key);
        if (kept && cacheable && auth_rights_lookup(a, key, g, stamp.changes, &r) == 1) {
                if (ret_generation)
                        *ret_generation = g;
                return (int) r;
        }
        e = db_stmt(c, SQL_RIGHTS, &st);
        if (e < 0)
                return e;
        if (have_project && (e = db_bind_text(st, 1, project)) < 0)
                return e;
        if (user && (e = db_bind_text(st, 2, who->name)) < 0)
                return e;
        e = db_step(st);
        if (e <= 0)
                return e == 0 ? BERTH_EDB : e;
        g2 = db_col_int(st, 0);
        r = rights_of(st, who, have_project, project);
        /* read after the stamp: the counter and the rights of one snapshot */
        if (!kept)
                auth_generation_keep(a, &stamp, g2);
        if (cacheable) /* the rights under g2: true for as long as the counter is g2 */
                auth_rights_insert(a, key, g2, stamp.changes, r);
        if (ret_generation)
                *ret_generation = g2;
        return (int) r;
}

bool auth_may_pull(auth_t *a, const auth_result_t *who, const char *repo) {
        auth_conn_t *c;
        int r;

        if (!a || !who || !repo)
                return false;
        if (a->opt.mode == AUTH_MODE_NONE)
                return true;
        if (auth_conn_get(a, &c) < 0)
                return false;
        r = auth_rights(a, c, who, repo, NULL);
        auth_conn_put(a, c);
        return r > 0 && (r & AUTH_PULL);
}

/* What `who` may pull, as namespaces (see auth_rights()): the public projects, the
 * projects of a user's memberships, a robot's project, and a user's own name
 * unless a project holds it. Sorted as the repository index is (BINARY). */
static const char SQL_VISIBLE[] =
        "SELECT name FROM auth_projects WHERE public = 1"
        " UNION SELECT project FROM auth_members WHERE \"user\" = ?1"
        " UNION SELECT CAST(?2 AS TEXT) WHERE CAST(?2 AS TEXT) IS NOT NULL"
        " UNION SELECT CAST(?1 AS TEXT) WHERE CAST(?1 AS TEXT) IS NOT NULL"
        "   AND NOT EXISTS (SELECT 1 FROM auth_projects WHERE name = ?1)"
        " ORDER BY 1";

int auth_visible_projects(auth_t *a, const auth_result_t *who, char ***ret) {
        const bool user = who && !who->anonymous && !who->robot;
        char **v = NULL;
        size_t len = 0, cap = 0;
        auth_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !who || !ret)
                return -EINVAL;
        if (a->opt.mode == AUTH_MODE_NONE || (user && who->admin))
                return 1;
        r = auth_conn_get(a, &c);
        if (r < 0)
                return r;
        r = db_stmt(c, SQL_VISIBLE, &st);
        if (r < 0)
                goto out;
        if (user && (r = db_bind_text(st, 1, who->name)) < 0)
                goto out;
        if (who->robot && (r = db_bind_text(st, 2, who->robot_project)) < 0)
                goto out;
        while ((r = db_step(st)) == 1) {
                const char *name = db_col_text(st, 0);
                if (!name)
                        continue;
                if (len + 1 >= cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        char **nv = reallocarray(v, ncap, sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = ncap;
                }
                if (!(v[len] = strdup(name))) {
                        r = -ENOMEM;
                        break;
                }
                v[++len] = NULL;
        }
        if (r < 0)
                goto out;
        if (!v && !(v = calloc(1, sizeof(*v)))) {
                r = -ENOMEM;
                goto out;
        }
        *ret = v;
        v = NULL;
        r = 0;
out:
        for (size_t i = 0; v && i < len; i++)
                free(v[i]);
        free(v);
        db_stmt_reset(st);
        auth_conn_put(a, c);
        return r;
}

/* 0, or why `who` may not do `actions` on repo. */
int auth_verdict(const auth_result_t *who, const char *repo, unsigned actions, int rights_) {
        if (rights_ < 0)
                return rights_;
        if (!repo || !(actions & ~(unsigned) rights_))
                return 0;
        /* Anonymous: 401, so that clients retry with credentials. */
        return who->anonymous ? BERTH_EAUTH : BERTH_EDENIED;
}

/* ---- verification jobs ----
 *
 * A fresh verification (argon2id for users) runs on a verifier thread, never on
 * the caller's: auth_check_start does everything that needs no verification and
 * otherwise packs what the verification needs into a job; job_run verifies and
 * decides as auth_check would have. */


auth_job_t *auth_job_free(auth_job_t *job) {
        if (!job)
                return NULL;
        free(job->repo);
        OPENSSL_cleanse(job, sizeof(*job));
        free(job);
        return NULL;
}

int auth_job_result(const auth_job_t *job, auth_result_t *ret) {
        if (!job || !ret)
                return -EINVAL;
        if (!atomic_load(&job->done))
                return -EINPROGRESS;
        *ret = job->who;
        return job->result;
}

static void refresh_done(void *userdata) {
        auth_job_free(userdata);
}

/* Verified credentials close to their cache entry's expiry are verified again in the
 * background, set off by one of the requests using them, which goes on with the
 * cached verdict: a client that keeps sending the same credentials (a node's pulls,
 * many connections at once) then never meets an expired entry, and so never a burst
 * of verifications of the same password that fills the verifier queue (429s for the
 * rest, every cache lifetime). Robot secrets need no argon2: they are left alone.
 * Best effort: without room in the queue the entry expires as it would have. */
static void refresh_ahead(auth_t *a, const char *authorization, size_t len, const uint8_t key[32],
                          time_t now, int64_t generation, const char *client_addr) {
        time_t window = a->opt.cache_ttl / 6 > 0 ? (time_t) a->opt.cache_ttl / 6 : 1;
        auth_job_t *job;

        if (!auth_cache_claim_refresh(a, key, now, window))
                return;
        job = calloc(1, sizeof(*job));
        if (!job)
                return;
        if (auth_basic_parse(authorization, len, job->user, sizeof(job->user), job->password,
                             sizeof(job->password)) < 0 ||
            strncmp(job->user, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) == 0) {
                auth_job_free(job);
                return;
        }
        job->kind = JOB_CHECK;
        job->refresh = true;
        snprintf(job->addr, sizeof(job->addr), "%s", client_addr ? client_addr : "");
        memcpy(job->key, key, sizeof(job->key));
        job->now = now;
        job->generation = generation; /* read before the verification, as for any job */
        if (auth_job_submit(a, job, refresh_done, job) < 0)
                auth_job_free(job);
}

int auth_check_start(auth_t *a, const char *authorization, const char *client_addr,
                     const char *repo, unsigned actions, auth_result_t *ret,
                     auth_job_t **ret_job) {
        char user[AUTH_NAME_MAX + 1], password[AUTH_PASSWORD_MAX + 1];
        uint8_t key[32];
        auth_result_t who = {0};
        auth_conn_t *c = NULL;
        auth_job_t *job = NULL;
        int64_t generation, entry_generation;
        bool failed;
        time_t now;
        size_t len;
        unsigned wait;
        bool parsed = false;
        int r;

        if (!a || !ret || !ret_job)
                return -EINVAL;
        *ret_job = NULL;
        memset(ret, 0, sizeof(*ret));
        if (a->opt.mode == AUTH_MODE_NONE) {
                ret->anonymous = true;
                return 0;
        }
        now = auth_now(a);
        r = auth_conn_get(a, &c);
        if (r < 0)
                return r;

        if (!authorization || !*authorization ||
            auth_basic_is_empty(authorization, strnlen(authorization, AUTH_HEADER_MAX + 1))) {
                /* Anonymous: public pulls only; everything else asks for credentials. */
                who.anonymous = true;
                *ret = who;
                r = repo ? auth_verdict(&who, repo, actions, auth_rights(a, c, &who, repo, NULL))
                         : BERTH_EAUTH;
                goto out;
        }
        len = strnlen(authorization, AUTH_HEADER_MAX + 1);
        if (len > AUTH_HEADER_MAX) {
                r = BERTH_EAUTH;
                goto out;
        }
        {
                const char *tok;
                size_t tlen;
                if (auth_bearer_token(authorization, len, &tok, &tlen)) {
                        r = auth_bearer_check(a, c, tok, tlen, now, repo, actions, ret);
                        goto out;
                }
        }
        r = auth_cache_key(a, authorization, len, key);
        if (r < 0)
                goto out;
        if (auth_cache_lookup(a, key, now, &who, &entry_generation, &failed)) {
                r = failed ? auth_generation(a, c, &generation)
                           : auth_rights(a, c, &who, repo, &generation);
                if (r < 0)
                        goto out;
                if (generation == entry_generation && failed) {
                        /* The same wrong credentials again (a client retrying a
                         * stale secret): refused without argon2 and without
                         * counting towards throttling, since it guesses nothing. */
                        snprintf(ret->name, sizeof(ret->name), "%s", who.name);
                        r = BERTH_EAUTH;
                        goto out;
                }
                if (generation == entry_generation) {
                        atomic_fetch_add(&a->n_cache_hits, 1);
                        *ret = who;
                        r = auth_verdict(&who, repo, actions, r);
                        refresh_ahead(a, authorization, len, key, now, generation, client_addr);
                        goto out;
                }
                auth_cache_forget(a, key); /* something changed since: verify again */
                memset(&who, 0, sizeof(who));
        }

        r = auth_basic_parse(authorization, len, user, sizeof(user), password, sizeof(password));
        if (r < 0)
                goto out;
        parsed = true;
        if (auth_name_valid(user, AUTH_NAME_MAX))
                snprintf(ret->name, sizeof(ret->name), "%s", user);
        /* Refused before verification only when this address has been failing on
         * this name (see "throttling" above). */
        wait = auth_throttle_blocked(a, client_addr, user, now);
        if (wait > 0) {
                atomic_fetch_add(&a->n_throttled, 1);
                ret->retry_after = wait;
                r = BERTH_ETHROTTLED;
                goto out;
        }
        /* The counter is read before the credentials: a change that lands while we
         * verify leaves the new entry stale, never wrongly fresh. */
        r = auth_generation(a, c, &generation);
        if (r < 0)
                goto out;
        job = calloc(1, sizeof(*job));
        if (!job) {
                r = -ENOMEM;
                goto out;
        }
        job->kind = JOB_CHECK;
        memcpy(job->user, user, sizeof(user));
        memcpy(job->password, password, sizeof(password));
        snprintf(job->addr, sizeof(job->addr), "%s", client_addr ? client_addr : "");
        if (repo && !(job->repo = strdup(repo))) {
                r = -ENOMEM;
                goto out;
        }
        job->actions = actions;
        memcpy(job->key, key, sizeof(key));
        job->now = now;
        job->generation = generation;
        if (strncmp(user, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) == 0) {
                /* a robot secret is checked with a keyed hash, no argon2: at once,
                 * so a node's pull never waits behind a queue of passwords */
                auth_job_run(a, job);
                r = auth_job_result(job, ret);
                goto out;
        }
        *ret_job = TAKE_PTR(job);
        r = AUTH_PENDING;
out:
        auth_job_free(job);
        if (parsed)
                OPENSSL_cleanse(password, sizeof(password));
        auth_conn_put(a, c);
        return r;
}

/* The verification and the decision of a job (on a verifier thread, or inline for
 * the synchronous calls). */
void auth_job_run(auth_t *a, auth_job_t *job) {
        auth_result_t who = {0}, *ret = &job->who;
        const char *addr = job->addr[0] ? job->addr : NULL;
        const time_t ttl = (time_t) a->opt.cache_ttl;
        auth_conn_t *c = NULL;
        int64_t generation, entry_generation;
        time_t until;
        bool failed;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (auth_name_valid(job->user, AUTH_NAME_MAX))
                snprintf(ret->name, sizeof(ret->name), "%s", job->user);
        r = auth_conn_get(a, &c);
        if (r < 0)
                goto out;
        /* Another job may have verified the same credentials while this one waited
         * (a client sending several requests at once, or one wrong secret from many
         * connections): its verdict counts, without a second argon2. */
        if (!job->refresh && auth_cache_lookup(a, job->key, job->now, &who, &entry_generation, &failed)) {
                r = failed ? auth_generation(a, c, &generation)
                           : auth_rights(a, c, &who, job->repo, &generation);
                if (r < 0)
                        goto out;
                if (generation == entry_generation && failed) {
                        r = BERTH_EAUTH;
                        goto out;
                }
                if (generation == entry_generation) {
                        atomic_fetch_add(&a->n_cache_hits, 1);
                        *ret = who;
                        r = auth_verdict(&who, job->repo, job->actions, r);
                        goto out;
                }
                memset(&who, 0, sizeof(who)); /* stale: replaced below */
        }
        r = auth_verify_credentials(a, c, job->user, job->password, &who, &until);
        if (r == BERTH_EAUTH) {
                atomic_fetch_add(&a->n_failures, 1);
                auth_throttle_fail(a, addr, job->user, auth_now(a));
                (void) auth_audit(a, ret, addr, "login-failed", job->repo, NULL);
                memset(&who, 0, sizeof(who));
                snprintf(who.name, sizeof(who.name), "%s", ret->name);
                auth_cache_insert(a, job->key, job->now + ttl, job->generation, &who, true);
                goto out;
        }
        if (r < 0)
                goto out;
        snprintf(who.name, sizeof(who.name), "%s", job->user);
        atomic_fetch_add(&a->n_successes, 1);
        auth_throttle_success(a, addr, job->user, job->now);
        if (until == 0 || until > job->now + ttl)
                until = job->now + ttl;
        auth_cache_insert(a, job->key, until, job->generation, &who, false);
        *ret = who;
        (void) auth_audit(a, &who, addr, "login", job->repo, NULL);
        r = auth_verdict(&who, job->repo, job->actions,
                    job->repo ? auth_rights(a, c, &who, job->repo, NULL) : 0);
out:
        OPENSSL_cleanse(job->password, sizeof(job->password));
        auth_conn_put(a, c);
        job->result = r;
        atomic_store(&job->done, true);
}

int auth_check(auth_t *a, const char *authorization, const char *client_addr,
               const char *repo, unsigned actions, auth_result_t *ret) {
        auth_job_t *job = NULL;
        int r;

        r = auth_check_start(a, authorization, client_addr, repo, actions, ret, &job);
        if (r != AUTH_PENDING)
                return r;
        auth_job_run(a, job);
        r = auth_job_result(job, ret);
        auth_job_free(job);
        return r;
}

/* ---- the effective role (the management API and the UI: auth_can on it) ---- */

static const char SQL_ROLE[] =
        "SELECT (SELECT public FROM auth_projects WHERE name = ?1),"
        " (SELECT role FROM auth_members WHERE project = ?1 AND \"user\" = ?2)";

int auth_project_role(auth_t *a, const auth_result_t *who, const char *project) {
        const bool user = who && !who->anonymous && !who->robot;
        auth_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int role = AUTH_ROLE_NONE, r;

        if (!a || !who || !project)
                return -EINVAL;
        if (a->opt.mode == AUTH_MODE_NONE || (user && who->admin))
                return AUTH_ROLE_SYSADMIN;
        if ((r = auth_conn_get(a, &c)) < 0)
                return r;
        r = db_stmt(c, SQL_ROLE, &st);
        if (r == 0)
                r = db_bind_text(st, 1, project);
        if (r == 0 && user)
                r = db_bind_text(st, 2, who->name);
        if (r == 0)
                r = db_step(st);
        if (r == 1) {
                bool exists = !db_col_null(st, 0);
                if (exists && db_col_int(st, 0))
                        role = AUTH_ROLE_READER;
                if (user && !db_col_null(st, 1) && db_col_int(st, 1) > role)
                        role = (int) db_col_int(st, 1);
                if (user && !exists && strcmp(project, who->name) == 0)
                        role = AUTH_ROLE_MAINTAINER; /* one's own namespace */
                if (who->robot && strcmp(project, who->robot_project) == 0) {
                        int rr = who->robot_push ? AUTH_ROLE_DEVELOPER : AUTH_ROLE_READER;
                        if (rr > role)
                                role = rr;
                }
                r = role;
        } else if (r == 0)
                r = BERTH_EDB;
        db_stmt_reset(st);
        auth_conn_put(a, c);
        return r;
}

int auth_project_exists(auth_t *a, const char *project) {
        auth_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !project)
                return -EINVAL;
        if ((r = auth_conn_get(a, &c)) < 0)
                return r;
        r = db_stmt(c, "SELECT 1 FROM auth_projects WHERE name = ?1", &st);
        if (r == 0)
                r = db_bind_text(st, 1, project);
        if (r == 0)
                r = db_step(st);
        db_stmt_reset(st);
        auth_conn_put(a, c);
        return r < 0 ? r : r > 0 ? 1 : 0;
}
