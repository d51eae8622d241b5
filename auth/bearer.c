/* auth/bearer.c: Bearer tokens in requests (the identity behind a token and its
 * scope) and the token endpoint that mints them. The token format itself is
 * auth/token.c. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/macro.h"

/* ---- Bearer tokens ---- */


static const char SQL_IDENTITY[] =
        "SELECT s.generation, u.hash, u.admin, t.mac, t.expires, t.project, t.push"
        " FROM auth_state s LEFT JOIN auth_users u ON u.name = ?1"
        " LEFT JOIN auth_tokens t ON t.name = ?1 WHERE s.id = 1";

static int identity_read(auth_t *a, auth_conn_t *c, const char *name, ident_t *ret) {
        const bool robot = strncmp(name, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) == 0;
        const int col = robot ? 3 : 1;
        uint8_t buf[6 + HASH_ENCODED_MAX];
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        const char *text;
        int r;

        memset(ret, 0, sizeof(*ret));
        if ((r = db_stmt(c, SQL_IDENTITY, &st)) < 0 || (r = db_bind_text(st, 1, name)) < 0)
                return r;
        r = db_step(st);
        if (r <= 0)
                return r == 0 ? BERTH_EDB : r;
        ret->generation = db_col_int(st, 0);
        if (!db_col_null(st, col)) {
                size_t len = 0;
                const void *p = db_col_blob(st, col, &len); /* the hash's text, or the MAC */
                size_t off = robot ? 6 : 5;

                /* Keyed: the fingerprint travels in tokens and must tell nothing
                 * about the stored hash. */
                if (len > sizeof(buf) - off)
                        return BERTH_EDB;
                memcpy(buf, robot ? "robot" : "user", off);
                if (len > 0)
                        memcpy(buf + off, p, len);
                r = auth_token_key_mac(a->bearer_key, buf, off + len, ret->fp);
                OPENSSL_cleanse(buf, sizeof(buf));
                if (r < 0)
                        return r;
                ret->exists = true;
                if (robot) {
                        ret->expires = (time_t) db_col_int(st, 4);
                        text = db_col_text(st, 5);
                        snprintf(ret->project, sizeof(ret->project), "%s", text ? text : "");
                        ret->push = db_col_int(st, 6) != 0;
                } else
                        ret->admin = db_col_int(st, 2) != 0;
        }
        return 0;
}

/* `Bearer <token>`: the token and its length, or false. */
bool auth_bearer_token(const char *header, size_t len, const char **ret, size_t *ret_len) {
        const char *p = header, *end = header + len;

        if (len < 7 || strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
                return false;
        p += 7;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *ret = p;
        *ret_len = (size_t) (end - p);
        return true;
}

/* The identity a token's claims name (as they were at issue). */
static void claims_identity(const auth_claims_t *cl, auth_result_t *who) {
        memset(who, 0, sizeof(*who));
        who->anonymous = cl->kind == AUTH_SUBJECT_ANONYMOUS;
        who->robot = cl->kind == AUTH_SUBJECT_ROBOT;
        snprintf(who->name, sizeof(who->name), "%s", cl->name);
        if (who->robot) {
                snprintf(who->robot_project, sizeof(who->robot_project), "%s", cl->project);
                who->robot_push = cl->flag;
        } else if (!who->anonymous)
                who->admin = cl->flag;
}

int auth_bearer_check(auth_t *a, auth_conn_t *c, const char *tok, size_t tlen, time_t now,
                        const char *repo, unsigned actions, auth_result_t *ret) {
        auth_claims_t cl;
        auth_result_t who;
        int64_t generation;
        ident_t id;
        int r, e;

        r = auth_token_decode(a->bearer_key, tok, tlen, &cl);
        if (r < 0 || cl.expires <= now)
                return r < 0 && r != BERTH_EAUTH ? r : BERTH_EAUTH; /* the client fetches a new one */
        claims_identity(&cl, &who);
        r = auth_rights(a, c, &who, repo, &generation);
        if (r < 0)
                return r;
        if (generation != cl.generation && !who.anonymous) {
                /* Something changed since the token was issued: it still proves its
                 * identity only if the credential row is the one it was verified
                 * against (a password change, a removal or a re-creation replaces
                 * the row). Rights are read per request anyway. */
                e = identity_read(a, c, who.name, &id);
                if (e < 0)
                        return e;
                if (!id.exists || CRYPTO_memcmp(id.fp, cl.cred, sizeof(cl.cred)) != 0 ||
                    (who.robot && id.expires != 0 && id.expires <= now)) {
                        snprintf(ret->name, sizeof(ret->name), "%s", who.name);
                        return BERTH_EAUTH;
                }
                if (who.robot) {
                        snprintf(who.robot_project, sizeof(who.robot_project), "%s", id.project);
                        who.robot_push = id.push;
                } else
                        who.admin = id.admin;
                r = auth_rights(a, c, &who, repo, NULL);
                if (r < 0)
                        return r;
        }
        atomic_fetch_add(&a->n_cache_hits, 1);
        *ret = who;
        /* Any valid token, even an anonymous one, passes GET /v2/ and _catalog.
         * Beyond that it grants no more than its scope names: the client asks
         * for a token with the scope the challenge names. */
        if (repo && (actions & ~auth_claims_actions(&cl, repo))) {
                ret->insufficient_scope = true;
                return BERTH_EAUTH;
        }
        return auth_verdict(&who, repo, actions, r);
}

bool auth_token_allows(auth_t *a, const char *authorization, const char *repo, unsigned actions) {
        auth_claims_t cl;
        const char *tok;
        size_t len, tlen;

        if (!a || !repo)
                return false;
        len = authorization ? strnlen(authorization, AUTH_HEADER_MAX + 1) : 0;
        if (a->opt.mode == AUTH_MODE_NONE || len == 0 || len > AUTH_HEADER_MAX ||
            !auth_bearer_token(authorization, len, &tok, &tlen))
                return true; /* no token: no ceiling */
        if (auth_token_decode(a->bearer_key, tok, tlen, &cl) < 0 || cl.expires <= auth_now(a))
                return false;
        return !(actions & ~auth_claims_actions(&cl, repo));
}

int auth_token_rate(auth_t *a, const char *client_addr, unsigned *ret_retry_after) {
        unsigned wait;

        if (!a || !ret_retry_after)
                return -EINVAL;
        wait = auth_rate_take(a->token_rate, client_addr, auth_now(a));
        *ret_retry_after = wait;
        return wait ? BERTH_ETHROTTLED : 0;
}

/* ---- the token endpoint ---- */

/* A signed token for who, whose credential row (id) was read before the
 * verification; scope holds the requested scopes (the ceiling). */
static int token_mint(auth_t *a, const auth_result_t *who, const ident_t *id,
                      const auth_claims_t *scope, char **ret_token, unsigned *ret_expires_in) {
        time_t now = auth_now(a), expires;
        auth_claims_t cl;
        int r;

        expires = now + (time_t) a->opt.token_ttl;
        if (who->robot && id->expires != 0 && id->expires < expires)
                expires = id->expires;
        if (expires <= now)
                return BERTH_EAUTH; /* a robot that expired since its verification */
        memset(&cl, 0, sizeof(cl));
        cl.n_scopes = scope->n_scopes;
        memcpy(cl.scopes, scope->scopes, sizeof(cl.scopes));
        cl.expires = expires;
        cl.generation = id->generation;
        if (who->anonymous)
                cl.kind = AUTH_SUBJECT_ANONYMOUS;
        else {
                cl.kind = who->robot ? AUTH_SUBJECT_ROBOT : AUTH_SUBJECT_USER;
                snprintf(cl.name, sizeof(cl.name), "%s", who->name);
                memcpy(cl.cred, id->fp, sizeof(cl.cred));
                cl.flag = who->robot ? who->robot_push : who->admin;
                if (who->robot)
                        snprintf(cl.project, sizeof(cl.project), "%s", who->robot_project);
        }
        r = auth_token_encode(a->bearer_key, &cl, ret_token);
        if (r < 0)
                return r;
        *ret_expires_in = (unsigned) (expires - now);
        return 0;
}

static int token_start(auth_t *a, const char *authorization, const char *client_addr,
                       const char *scope, char **ret_token, unsigned *ret_expires_in,
                       auth_result_t *ret, auth_job_t **ret_job) {
        char user[AUTH_NAME_MAX + 1], password[AUTH_PASSWORD_MAX + 1];
        auth_claims_t cl;
        auth_result_t who = {0};
        auth_conn_t *c = NULL;
        auth_job_t *job = NULL;
        ident_t id = {0};
        size_t len;
        int r;

        memset(ret, 0, sizeof(*ret));
        *ret_job = NULL;
        if (a->opt.mode == AUTH_MODE_NONE)
                return BERTH_EUNSUPPORTED;
        memset(&cl, 0, sizeof(cl));
        r = auth_scope_add(&cl, scope);
        if (r < 0)
                return r;
        len = authorization ? strnlen(authorization, AUTH_HEADER_MAX + 1) : 0;
        if (len > AUTH_HEADER_MAX)
                return BERTH_EAUTH;
        r = auth_conn_get(a, &c);
        if (r < 0)
                return r;
        if (len == 0 || auth_basic_is_empty(authorization, len)) {
                who.anonymous = true;
                r = auth_read_generation(c, &id.generation);
                if (r < 0)
                        goto out;
        } else {
                r = auth_basic_parse(authorization, len, user, sizeof(user), password,
                                     sizeof(password));
                OPENSSL_cleanse(password, sizeof(password));
                if (r < 0) {
                        r = BERTH_EAUTH;
                        goto out;
                }
                /* The row and the counter are read before the verification, so a
                 * change landing in between makes the token stale, never fresh. */
                r = identity_read(a, c, user, &id);
                if (r < 0)
                        goto out;
                r = auth_check_start(a, authorization, client_addr, NULL, 0, &who, &job);
                *ret = who;
                if (r == AUTH_PENDING) {
                        job->kind = JOB_TOKEN;
                        job->id = id;
                        job->scope = cl;
                        *ret_job = job;
                        goto out;
                }
                if (r < 0)
                        goto out;
        }
        r = token_mint(a, &who, &id, &cl, ret_token, ret_expires_in);
        *ret = who;
out:
        auth_conn_put(a, c);
        return r;
}

int auth_token_issue_start(auth_t *a, const char *authorization, const char *client_addr,
                           const char *scope, char **ret_token, unsigned *ret_expires_in,
                           auth_result_t *ret, auth_job_t **ret_job) {
        if (!a || !ret_token || !ret_expires_in || !ret || !ret_job)
                return -EINVAL;
        return token_start(a, authorization, client_addr, scope, ret_token, ret_expires_in, ret,
                           ret_job);
}

int auth_token_issue_finish(auth_t *a, const auth_job_t *job, char **ret_token,
                            unsigned *ret_expires_in, auth_result_t *ret) {
        auth_result_t who = {0};
        int r;

        if (!a || !job || job->kind != JOB_TOKEN || !ret_token || !ret_expires_in || !ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        r = auth_job_result(job, &who);
        *ret = who;
        if (r < 0)
                return r;
        return token_mint(a, &who, &job->id, &job->scope, ret_token, ret_expires_in);
}

/* Runs a pending token job on the calling thread. */
static int token_sync(auth_t *a, int r, auth_job_t *job, char **ret_token,
                      unsigned *ret_expires_in, auth_result_t *ret) {
        if (r != AUTH_PENDING)
                return r;
        auth_job_run(a, job);
        r = auth_token_issue_finish(a, job, ret_token, ret_expires_in, ret);
        auth_job_free(job);
        return r;
}

int auth_token_issue(auth_t *a, const char *authorization, const char *client_addr,
                     const char *scope, char **ret_token, unsigned *ret_expires_in,
                     auth_result_t *ret) {
        auth_job_t *job = NULL;
        int r;

        r = auth_token_issue_start(a, authorization, client_addr, scope, ret_token,
                                   ret_expires_in, ret, &job);
        return token_sync(a, r, job, ret_token, ret_expires_in, ret);
}

/* "Basic base64(user:password)", malloc'd (wipe before freeing). */
static int password_header(const char *user, const char *password, char **ret) {
        char pair[AUTH_NAME_MAX + 1 + AUTH_PASSWORD_MAX + 1];
        char *b64 = NULL, *header = NULL;
        size_t ul, pl;

        ul = strlen(user);
        pl = strlen(password);
        if (ul == 0 || ul > AUTH_NAME_MAX || pl > AUTH_PASSWORD_MAX || strchr(user, ':'))
                return BERTH_EAUTH;
        memcpy(pair, user, ul);
        pair[ul] = ':';
        memcpy(pair + ul + 1, password, pl);
        b64 = base64_encode_alloc(BASE64_STD, pair, ul + 1 + pl);
        OPENSSL_cleanse(pair, sizeof(pair));
        if (!b64)
                return -ENOMEM;
        if (asprintf(&header, "Basic %s", b64) < 0)
                header = NULL;
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
        if (!header)
                return -ENOMEM;
        *ret = header;
        return 0;
}

int auth_token_issue_password_start(auth_t *a, const char *user, const char *password,
                                    const char *client_addr, const char *scope,
                                    char **ret_token, unsigned *ret_expires_in,
                                    auth_result_t *ret, auth_job_t **ret_job) {
        char *header = NULL;
        int r;

        if (!a || !user || !password || !ret_token || !ret_expires_in || !ret || !ret_job)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        *ret_job = NULL;
        r = password_header(user, password, &header);
        if (r < 0)
                return r;
        r = token_start(a, header, client_addr, scope, ret_token, ret_expires_in, ret, ret_job);
        OPENSSL_cleanse(header, strlen(header));
        free(header);
        return r;
}

int auth_token_issue_password(auth_t *a, const char *user, const char *password,
                              const char *client_addr, const char *scope, char **ret_token,
                              unsigned *ret_expires_in, auth_result_t *ret) {
        auth_job_t *job = NULL;
        int r;

        r = auth_token_issue_password_start(a, user, password, client_addr, scope, ret_token,
                                            ret_expires_in, ret, &job);
        return token_sync(a, r, job, ret_token, ret_expires_in, ret);
}
