/* auth/admin.c: changes to users, projects, members and robot tokens, and the
 * bootstrap of a new installation. Every change is one write transaction that also
 * bumps the change counter, so the credential caches of every process sharing the
 * database forget at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/macro.h"

/* Runs one statement with ?1, ?2 (text or NULL), ?3, ?4 (integers; those the
 * statement takes) and commits with the counter bumped. *ret_changes gets the rows
 * changed. A duplicate key is -EEXIST, a missing referenced row -ENOENT. */
static int change(auth_t *a, const char *sql, const char *t1, const char *t2, int64_t i3,
                  int64_t i4, int *ret_changes) {
        auth_conn_t *c = NULL;
        int r, n;

        r = auth_conn_get(a, &c);
        if (r < 0)
                return r;
        r = auth_tx_begin(c);
        if (r < 0)
                goto out;
        {
                /* every bind checked: the first failure is the transaction's, and
                 * the rest (and the commit) return it */
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if (db_tx_fail(c, db_stmt(c, sql, &st)) == 0) {
                        n = db_stmt_params(st);
                        if (n >= 1)
                                (void) db_bind_text(st, 1, t1);
                        if (n >= 2)
                                (void) db_bind_text(st, 2, t2);
                        if (n >= 3)
                                (void) db_bind_int(st, 3, i3);
                        if (n >= 4)
                                (void) db_bind_int(st, 4, i4);
                        if (db_step_done(st) == 0 && ret_changes)
                                *ret_changes = (int) db_changes(c);
                }
        }
        r = auth_tx_commit_change(c);
out:
        auth_tx_rollback(c);
        auth_conn_put(a, c);
        return r;
}

static bool user_name_ok(const char *name) {
        return auth_name_valid(name, AUTH_USER_MAX) &&
               strncmp(name, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) != 0;
}

int auth_user_add(auth_t *a, const char *name, const char *password, bool admin) {
        char *hash = NULL;
        int r, n = 0;

        if (!a || !user_name_ok(name) || !password || !*password)
                return -EINVAL;
        r = auth_password_hash(a, password, &hash);
        if (r < 0)
                return r;
        /* A user owns the namespace of its name: never one a project holds. The
         * check and the insert are one statement in one transaction. */
        r = change(a,
                   "INSERT INTO auth_users(name, hash, admin, created) SELECT ?1, ?2, ?3, ?4"
                   " WHERE NOT EXISTS (SELECT 1 FROM auth_projects WHERE name = ?1)",
                   name, hash, admin, auth_now(a), &n);
        free(hash);
        return r < 0 ? r : n == 0 ? AUTH_ENAME_TAKEN : 0;
}

int auth_user_passwd(auth_t *a, const char *name, const char *password) {
        char *hash = NULL;
        int r, n = 0;

        if (!a || !name || !password || !*password)
                return -EINVAL;
        r = auth_password_hash(a, password, &hash);
        if (r < 0)
                return r;
        r = change(a, "UPDATE auth_users SET hash = ?2 WHERE name = ?1", name, hash, 0, 0, &n);
        free(hash);
        return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

int auth_user_del(auth_t *a, const char *name) {
        int r, n = 0;

        if (!a || !name)
                return -EINVAL;
        /* Memberships go with the user (ON DELETE CASCADE). */
        r = change(a, "DELETE FROM auth_users WHERE name = ?1", name, NULL, 0, 0, &n);
        return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

int auth_project_create(auth_t *a, const char *name, bool public) {
        int r, n = 0;

        if (!a || !auth_name_valid(name, AUTH_PROJECT_MAX))
                return -EINVAL;
        /* Not the name of a user: that is the user's own namespace. */
        r = change(a,
                   "INSERT INTO auth_projects(name, public, created) SELECT ?1, ?3, ?4"
                   " WHERE NOT EXISTS (SELECT 1 FROM auth_users WHERE name = ?1)",
                   name, NULL, public, auth_now(a), &n);
        return r < 0 ? r : n == 0 ? AUTH_ENAME_TAKEN : 0;
}

int auth_project_set_public(auth_t *a, const char *name, bool public) {
        int r, n = 0;

        if (!a || !name)
                return -EINVAL;
        r = change(a, "UPDATE auth_projects SET public = ?3 WHERE name = ?1", name, NULL, public, 0,
                   &n);
        return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

int auth_user_set_admin(auth_t *a, const char *name, bool admin) {
        int r, n = 0;

        if (!a || !name)
                return -EINVAL;
        r = change(a, "UPDATE auth_users SET admin = ?3 WHERE name = ?1", name, NULL, admin, 0, &n);
        return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

int auth_project_delete(auth_t *a, const char *name) {
        int r, n = 0;

        if (!a || !name)
                return -EINVAL;
        /* Only an empty project: the check and the delete are one statement. Its
         * memberships, robot tokens and settings go with it (ON DELETE CASCADE). */
        r = change(a,
                   "DELETE FROM auth_projects WHERE name = ?1 AND NOT EXISTS (SELECT 1 FROM repositories"
                   " WHERE name = ?1 OR (name >= ?1 || '/' AND name < ?1 || '0'))",
                   name, NULL, 0, 0, &n);
        if (r < 0 || n > 0)
                return r;
        r = auth_project_exists(a, name);
        return r < 0 ? r : r > 0 ? -ENOTEMPTY : -ENOENT;
}

int auth_member_add(auth_t *a, const char *project, const char *user, int role) {
        if (!a || !project || !user || role < AUTH_ROLE_READER || role > AUTH_ROLE_ADMIN)
                return -EINVAL;
        return change(a,
                      "INSERT INTO auth_members(project, \"user\", role) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT(project, \"user\") DO UPDATE SET role = excluded.role",
                      project, user, role, 0, NULL);
}

int auth_member_del(auth_t *a, const char *project, const char *user) {
        int r, n = 0;

        if (!a || !project || !user)
                return -EINVAL;
        r = change(a, "DELETE FROM auth_members WHERE project = ?1 AND \"user\" = ?2", project, user, 0,
                   0, &n);
        return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

int auth_token_revoke(auth_t *a, const char *name) {
        int r, n = 0;

        if (!a || !name)
                return -EINVAL;
        r = change(a, "DELETE FROM auth_tokens WHERE name = ?1", name, NULL, 0, 0, &n);
        return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

int auth_token_create(auth_t *a, const char *project, bool push, time_t expires,
                      char **ret_name, char **ret_secret) {
        static const char sql[] =
                "INSERT INTO auth_tokens(name, project, push, mac, created, expires) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        char name[AUTH_NAME_MAX + 1], suffix[11], secret[41];
        uint8_t mac[32];
        auth_conn_t *c = NULL;
        int r;

        if (!a || !auth_name_valid(project, AUTH_PROJECT_MAX) || !ret_name || !ret_secret ||
            expires < 0)
                return -EINVAL;
        r = auth_random_secret(suffix, sizeof(suffix));
        if (r < 0)
                return r;
        /* Lower case: the name must also be a valid user name for every client. */
        for (char *p = suffix; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        snprintf(name, sizeof(name), AUTH_ROBOT_PREFIX "%s.%s", project, suffix);
        r = auth_random_secret(secret, sizeof(secret)); /* 40 of 62 symbols: ~238 bits */
        if (r < 0)
                return r;
        r = auth_token_mac(a, secret, mac);
        if (r < 0)
                goto out;
        r = auth_conn_get(a, &c);
        if (r < 0)
                goto out;
        r = auth_tx_begin(c);
        if (r < 0)
                goto out;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if (db_tx_fail(c, db_stmt(c, sql, &st)) == 0) {
                        (void) db_bind_text(st, 1, name);
                        (void) db_bind_text(st, 2, project);
                        (void) db_bind_int(st, 3, push);
                        (void) db_bind_blob(st, 4, mac, sizeof(mac));
                        (void) db_bind_int(st, 5, auth_now(a));
                        (void) db_bind_int(st, 6, expires);
                        (void) db_step_done(st); /* -ENOENT: no such project */
                }
        }
        r = auth_tx_commit_change(c);
        if (r < 0)
                goto out;
        *ret_name = strdup(name);
        *ret_secret = strdup(secret);
        if (!*ret_name || !*ret_secret) {
                free(*ret_name);
                free(*ret_secret);
                *ret_name = *ret_secret = NULL;
                r = -ENOMEM;
        }
out:
        if (c)
                auth_tx_rollback(c);
        auth_conn_put(a, c);
        OPENSSL_cleanse(secret, sizeof(secret));
        return r;
}

/* ---- bootstrap ---- */

/* Has the first start created the admin already? 0 and *ret, or an error. */
static int bootstrapped(auth_conn_t *c, bool *ret) {
        static const char sql_state[] = "SELECT bootstrapped FROM auth_state WHERE id = 1";
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        r = db_stmt(c, sql_state, &st);
        if (r < 0)
                return r;
        r = db_step(st);
        *ret = r == 1 && db_col_int(st, 0) != 0;
        return r == 1 ? 0 : r == 0 ? BERTH_EDB : r;
}

/* In the caller's transaction: 1 the user "admin" exists, 0 not, <0. */
static int admin_exists(auth_conn_t *c) {
        static const char sql_exists[] = "SELECT 1 FROM auth_users WHERE name = 'admin'";
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        r = db_stmt(c, sql_exists, &st);
        return r < 0 ? db_tx_fail(c, r) : db_step(st);
}

int auth_bootstrap(auth_t *a, const char *admin_password, char **ret_generated) {
        static const char sql_add[] =
                "INSERT INTO auth_users(name, hash, admin, created) VALUES ('admin', ?1, 1, ?2)";
        static const char sql_mark[] = "UPDATE auth_state SET bootstrapped = 1 WHERE id = 1";
        char generated[25];
        _cleanup_free_ char *hash = NULL;
        auth_conn_t *c = NULL;
        bool done;
        int r, exists = 0;

        if (!a)
                return -EINVAL;
        if (ret_generated)
                *ret_generated = NULL;
        if (!admin_password) {
                if (!ret_generated)
                        return -EINVAL;
                r = auth_random_secret(generated, sizeof(generated));
                if (r < 0)
                        return r;
        } else if (!*admin_password || strlen(admin_password) > AUTH_PASSWORD_MAX)
                return -EINVAL;
        r = auth_conn_get(a, &c);
        if (r < 0)
                goto out;
        /* Every start after the first finds the installation bootstrapped: answer
         * before hashing (argon2 costs its memory and a fraction of a second). The
         * transaction below checks again. */
        r = bootstrapped(c, &done);
        if (r < 0 || done)
                goto out;
        /* Hash before the transaction: argon2 is slow and must not hold the lock. */
        r = auth_password_hash(a, admin_password ? admin_password : generated, &hash);
        if (r < 0)
                goto out;
        r = auth_tx_begin(c);
        if (r < 0)
                goto out;
        r = bootstrapped(c, &done);
        if (r < 0 || done)
                goto out;
        /* The transaction's first failure is sticky: commit returns it. */
        exists = admin_exists(c);
        if (exists == 0) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if (db_tx_fail(c, db_stmt(c, sql_add, &st)) == 0) {
                        (void) db_bind_text(st, 1, hash);
                        (void) db_bind_int(st, 2, auth_now(a));
                        (void) db_step_done(st);
                }
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if (db_tx_fail(c, db_stmt(c, sql_mark, &st)) == 0)
                        (void) db_step_done(st);
        }
        r = auth_tx_commit_change(c);
        if (r < 0)
                goto out;
        if (!exists && !admin_password) {
                *ret_generated = strdup(generated);
                if (!*ret_generated) {
                        r = -ENOMEM; /* created, but the password cannot be shown */
                        goto out;
                }
        }
        r = exists ? 0 : 1;
out:
        if (c)
                auth_tx_rollback(c);
        auth_conn_put(a, c);
        OPENSSL_cleanse(generated, sizeof(generated));
        return r;
}

/* ---- listings ---- */

static const char SQL_USER_LIST[] = "SELECT name, admin, created FROM auth_users ORDER BY name";
static const char SQL_PROJECT_LIST[] = "SELECT name, public, (SELECT count(*) FROM auth_members m"
                                       " WHERE m.project = p.name) FROM auth_projects p ORDER BY name";
static const char SQL_MEMBER_LIST[] = "SELECT \"user\", role FROM auth_members WHERE project = ?1"
                                      " ORDER BY \"user\"";
static const char SQL_TOKEN_LIST[] = "SELECT name, project, push, created, expires FROM auth_tokens"
                                     " WHERE CAST(?1 AS TEXT) IS NULL OR project = ?1 ORDER BY project, name";

/* A listing's statement on a connection of its own, ?1 bound to arg when sql takes it. */
static int list_begin(auth_t *a, const char *sql, const char *arg, auth_conn_t **ret_c,
                      db_stmt_t **ret_st) {
        int r;

        r = auth_conn_get(a, ret_c);
        if (r < 0)
                return r;
        r = db_stmt(*ret_c, sql, ret_st);
        if (r == 0 && db_stmt_params(*ret_st) >= 1)
                r = db_bind_text(*ret_st, 1, arg);
        if (r < 0) {
                if (*ret_st)
                        db_stmt_reset(*ret_st);
                *ret_st = NULL; /* nothing for list_end */
                auth_conn_put(a, *ret_c);
        }
        return r;
}

static void list_end(auth_t *a, auth_conn_t *c, db_stmt_t *st) {
        db_stmt_reset(st);
        auth_conn_put(a, c);
}

int auth_user_list(auth_t *a, int (*each)(const auth_user_info_t *u, void *userdata), void *userdata) {
        auth_conn_t *c;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !each)
                return -EINVAL;
        r = list_begin(a, SQL_USER_LIST, NULL, &c, &st);
        while (r >= 0 && (r = db_step(st)) == 1) {
                auth_user_info_t u = { .name = db_col_text(st, 0), .admin = db_col_int(st, 1) != 0,
                                       .created = (time_t) db_col_int(st, 2) };
                if ((r = each(&u, userdata)) != 0)
                        break;
        }
        if (st)
                list_end(a, c, st);
        return r;
}

int auth_project_list(auth_t *a, int (*each)(const auth_project_info_t *p, void *userdata),
                      void *userdata) {
        auth_conn_t *c;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !each)
                return -EINVAL;
        r = list_begin(a, SQL_PROJECT_LIST, NULL, &c, &st);
        while (r >= 0 && (r = db_step(st)) == 1) {
                auth_project_info_t p = { .name = db_col_text(st, 0), .public = db_col_int(st, 1) != 0,
                                          .members = db_col_int(st, 2) };
                if ((r = each(&p, userdata)) != 0)
                        break;
        }
        if (st)
                list_end(a, c, st);
        return r;
}

int auth_member_list(auth_t *a, const char *project,
                     int (*each)(const auth_member_info_t *m, void *userdata), void *userdata) {
        auth_conn_t *c;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !project || !each)
                return -EINVAL;
        r = list_begin(a, SQL_MEMBER_LIST, project, &c, &st);
        while (r >= 0 && (r = db_step(st)) == 1) {
                auth_member_info_t m = { .user = db_col_text(st, 0), .role = (int) db_col_int(st, 1) };
                if ((r = each(&m, userdata)) != 0)
                        break;
        }
        if (st)
                list_end(a, c, st);
        return r;
}

int auth_token_list(auth_t *a, const char *project,
                    int (*each)(const auth_token_info_t *t, void *userdata), void *userdata) {
        auth_conn_t *c;
        db_stmt_t *st = NULL;
        time_t now;
        int r;

        if (!a || !each)
                return -EINVAL;
        now = auth_now(a);
        r = list_begin(a, SQL_TOKEN_LIST, project, &c, &st);
        while (r >= 0 && (r = db_step(st)) == 1) {
                auth_token_info_t t = { .name = db_col_text(st, 0), .project = db_col_text(st, 1),
                                        .push = db_col_int(st, 2) != 0,
                                        .created = (time_t) db_col_int(st, 3),
                                        .expires = (time_t) db_col_int(st, 4) };
                t.expired = t.expires != 0 && t.expires <= now;
                if ((r = each(&t, userdata)) != 0)
                        break;
        }
        if (st)
                list_end(a, c, st);
        return r;
}
