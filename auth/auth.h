/* auth/auth.h: users, robot tokens, projects and the access policy of berthd.
 * Knows nothing about HTTP: the server passes the Authorization header value and
 * maps the result codes (BERTH_EAUTH → 401 + WWW-Authenticate, BERTH_EDENIED → 403,
 * BERTH_ETHROTTLED → 429 + Retry-After).
 *
 * Data lives in the metadata database (tables prefixed auth_): DATA/berth.db by
 * default, or the database the process opened (auth_open_db), reached through the
 * one metadata layer (storage/db.h): its connections, migrations and busy timeout.
 * Every function is safe to call from many threads on one auth_t. Several
 * processes (berthd and the `berthd user ...` admin commands) may share the
 * database: every change bumps a counter in the database that invalidates the
 * verified-credentials caches of all processes on their next check. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "storage/db.h"

typedef struct auth auth_t;

/* Actions on a repository (bit set). */
enum {
        AUTH_PULL = 1u << 0,
        AUTH_PUSH = 1u << 1,
        AUTH_DELETE = 1u << 2,
};

typedef enum {
        AUTH_MODE_BASIC = 0, /* default: Basic credentials, policy enforced */
        AUTH_MODE_NONE,      /* open registry: every check succeeds (experiments) */
        AUTH_MODE_TOKEN,     /* as basic; the server challenges with Bearer and issues
                              * tokens (auth_token_issue). auth/ decides the same way. */
} auth_mode_t;

#define AUTH_NAME_MAX 96 /* longest user or robot name */

/* ---- roles.c: the one role x action table ----
 * Every decision of the registry API (/v2/), the management API (/api/v1/) and
 * the web UI goes through auth_can(); docs/access-control.md prints the table. */
typedef enum {
        AUTH_ROLE_NONE = 0,
        AUTH_ROLE_READER = 1,     /* pulls */
        AUTH_ROLE_DEVELOPER = 2,  /* also pushes */
        AUTH_ROLE_MAINTAINER = 3, /* also deletes; retention, immutability, webhooks */
        AUTH_ROLE_ADMIN = 4,      /* project admin: also members and robot tokens */
        AUTH_ROLE_SYSADMIN = 5,   /* a user with the admin flag (never stored as a membership) */
} auth_role_t;

typedef enum {
        AUTH_ACT_PULL = 0,    /* see the project, its repositories and artifacts; pull */
        AUTH_ACT_PUSH,
        AUTH_ACT_DELETE,      /* tags, manifests, repositories */
        AUTH_ACT_LIFECYCLE,   /* retention and immutability rules of the project */
        AUTH_ACT_MEMBERS,     /* the project's members */
        AUTH_ACT_ROBOTS,      /* the project's robot tokens */
        AUTH_ACT_PROJECTS,    /* create and delete projects */
        AUTH_ACT_USERS,       /* users */
        AUTH_ACT_QUOTA,       /* quotas */
        AUTH_ACT_PROXY,       /* proxy projects */
        AUTH_ACT_GC,          /* garbage collection */
        AUTH_ACT_WEBHOOKS,    /* the project's webhooks (no project: the global ones) */
        AUTH_ACT__MAX,
} auth_action_t;

bool auth_can(int role, auth_action_t action);
const char *auth_action_name(auth_action_t action); /* "pull", "lifecycle", …; NULL past the end */
int auth_role_parse(const char *s);   /* a membership role (reader..admin), or -EINVAL */
const char *auth_role_name(int role); /* "reader", …, "sysadmin"; "none" */
/* The registry's action bits (AUTH_PULL | AUTH_PUSH | AUTH_DELETE) of role. */
unsigned auth_role_actions(int role);

/* Zero-initialise; every 0 field takes its default. Argon2 costs fall back to the
 * environment (BERTH_ARGON2_MEMORY_KIB, BERTH_ARGON2_PASSES) before the default. */
typedef struct {
        auth_mode_t mode;
        uint32_t argon2_memory_kib;  /* default 65536 (64 MiB) */
        uint32_t argon2_passes;      /* default 3 */
        uint32_t argon2_lanes;       /* default 1 */
        unsigned argon2_concurrency; /* verifications at once (verifier threads); default: CPUs */
        unsigned verify_queue;       /* verifications waiting for a verifier at most (auth_job_submit);
                                      * default: BERTH_ARGON2_QUEUE, else 16 x argon2_concurrency */
        unsigned cache_ttl;          /* seconds a verified credential is trusted; default 60 */
        unsigned throttle_free;      /* failures of one (address, name) before its delays start; default 4 */
        unsigned throttle_max_delay; /* longest refusal in seconds; default 300 */
        unsigned throttle_forget;    /* failure state forgotten after this many quiet seconds; default 900 */
        unsigned token_ttl;          /* seconds an issued Bearer token lives; default 300 */
        unsigned token_rate;         /* tokens issued per second and client address; default 100 */
        unsigned token_burst;        /* ... and at once (the bucket); default 500 */
        /* Test hook: the clock (unix seconds). NULL: time(NULL). */
        time_t (*now)(void *userdata);
        void *now_userdata;
} auth_options_t;

typedef struct {
        char name[AUTH_NAME_MAX + 1]; /* identity for logs and audit; "" if anonymous.
                                       * On BERTH_EAUTH/ETHROTTLED: the claimed name, if well-formed */
        bool anonymous;
        bool admin;
        bool robot;
        unsigned retry_after;         /* seconds, set with BERTH_ETHROTTLED */
        bool insufficient_scope;      /* with BERTH_EAUTH: a valid Bearer token whose scope
                                       * does not name the action on the repository */
        /* private to auth/: */
        char robot_project[AUTH_NAME_MAX + 1];
        bool robot_push;
} auth_result_t;

/* Opens (creating) DATA/berth.db and applies the auth_ migrations. opt may be NULL. */
int auth_open(const char *data_dir, const auth_options_t *opt, auth_t **ret);
/* The same on a database the caller opened (db_open_opts: SQLite or PostgreSQL,
 * migrations applied), so that a process opens its database once. db stays the
 * caller's: free it after auth_free. */
int auth_open_db(db_t *db, const auth_options_t *opt, auth_t **ret);
/* Opens the database target names (storage/db.h's db_open: a SQLite path or a
 * PostgreSQL URI), auth's own to close with auth_free. */
int auth_open_target(const char *target, const auth_options_t *opt, auth_t **ret);
auth_t *auth_free(auth_t *a); /* NULL-safe, returns NULL; flushes pending audit rows */
/* The database auth works on (auth_open's, or the one given to auth_open_db): the
 * server opens its per-thread metadata connections on it (meta_open_thread), so that
 * a request's access decision and its metadata share the thread's one connection.
 * Lives until auth_free (auth_open) or as long as the caller keeps it. */
db_t *auth_db(auth_t *a);

/* First start: creates user "admin" (admin rights) with admin_password, or a
 * generated one returned in *ret_generated (malloc'd; print once, then free).
 * Returns 1 if the admin was created now, 0 if the installation was already
 * bootstrapped (or an "admin" user existed); *ret_generated is NULL then. */
int auth_bootstrap(auth_t *a, const char *admin_password, char **ret_generated);

/* Decide a request. authorization may be NULL; repo is NULL for /v2/ and _catalog
 * (then only "authenticated?" is decided). Returns 0 (allowed), BERTH_EAUTH,
 * BERTH_EDENIED, BERTH_ETHROTTLED (ret->retry_after), or another error (500).
 * ret is always filled. Fresh verifications of credentials are audited here
 * ("login" / "login-failed"); the server need not audit them again. */
int auth_check(auth_t *a, const char *authorization, const char *client_addr,
               const char *repo, unsigned actions, auth_result_t *ret);
/* The same decision without ever verifying a password on the calling thread (an
 * event-loop thread of the server): answers at once what needs no argon2 (cached
 * credentials, robot secrets, Bearer tokens, anonymous requests, throttled pairs,
 * malformed headers), else returns AUTH_PENDING with *ret_job (ret then holds the
 * claimed name). The caller hands the job to auth_job_submit and, once its done callback
 * ran, reads the verdict with auth_job_result. */
#define AUTH_PENDING 1
typedef struct auth_job auth_job_t;
int auth_check_start(auth_t *a, const char *authorization, const char *client_addr,
                     const char *repo, unsigned actions, auth_result_t *ret,
                     auth_job_t **ret_job);
/* Queues job for one of auth's verifier threads (argon2_concurrency of them,
 * started on first use). done(userdata) is called from a verifier thread once the
 * verdict is ready, possibly before auth_job_submit returns; after it the job is
 * the caller's again (auth_job_result, auth_job_free). Returns 0, or without
 * calling done: BERTH_EBUSY when verify_queue jobs wait already (answer 429,
 * Retry-After: 1), -ESHUTDOWN after auth_verify_drain. The job stays the caller's. */
int auth_job_submit(auth_t *a, auth_job_t *job, void (*done)(void *userdata), void *userdata);
/* The verdict of a finished job, as auth_check returns it (ret filled). */
int auth_job_result(const auth_job_t *job, auth_result_t *ret);
auth_job_t *auth_job_free(auth_job_t *job); /* NULL-safe, returns NULL; wipes the password */
/* Refuses further submissions and waits until every submitted job's done callback
 * has returned (before the server stops, so that no suspended request is left). */
void auth_verify_drain(auth_t *a);

/* In every mode but none, auth_check also accepts `Bearer <token>` with a token
 * from auth_token_issue: a signed, self-contained token (nothing is stored per
 * token; it stays valid across restarts and on every process sharing the
 * database) that proves the identity it was issued to until it expires or the
 * identity's credential row changes (password change, user or robot removed).
 * Rights are still decided per request, and the token's scope is a ceiling: an
 * action its scope does not name on repo is refused with BERTH_EAUTH and
 * ret->insufficient_scope. Any valid token, even anonymous and without a scope,
 * passes the repo == NULL check (GET /v2/, _catalog). Basic keeps working. */

/* The token endpoint. authorization: the request's Authorization header or NULL;
 * none (or empty Basic credentials) gets an anonymous token, Basic credentials
 * are verified as by auth_check (cache, throttling, audit). scope: the request's
 * scope parameters joined by spaces ("repository:team/app:pull,push ...") or
 * NULL; the token grants no more than they name. Returns 0 with *ret_token
 * (malloc'd; never log it) and *ret_expires_in (seconds), or BERTH_EAUTH (wrong
 * credentials), BERTH_ETHROTTLED (ret->retry_after), BERTH_ETOOBIG (too many
 * repositories in scope), another error. ret is always filled. The caller
 * applies auth_token_rate first. */
int auth_token_issue(auth_t *a, const char *authorization, const char *client_addr,
                     const char *scope, char **ret_token, unsigned *ret_expires_in,
                     auth_result_t *ret);
/* The same for a user name and password (OAuth2 password grant form). */
int auth_token_issue_password(auth_t *a, const char *user, const char *password,
                              const char *client_addr, const char *scope, char **ret_token,
                              unsigned *ret_expires_in, auth_result_t *ret);
/* The token endpoint's rate limit per client address (token_burst at once, then
 * token_rate per second; bounded memory): 0, or BERTH_ETHROTTLED with the
 * seconds to wait in *ret_retry_after. Every call takes one. */
int auth_token_rate(auth_t *a, const char *client_addr, unsigned *ret_retry_after);
/* Does the request's Bearer token (if it has one) name `actions` on repo? True
 * without a token (there is no ceiling then); false for an invalid one. For
 * checks beyond the request's own repository (mount sources). */
bool auth_token_allows(auth_t *a, const char *authorization, const char *repo, unsigned actions);

/* The token endpoint without verifying on the calling thread: 0 (token issued:
 * anonymous, or cached credentials), AUTH_PENDING with *ret_job (submit it as
 * above, then call auth_token_issue_finish), or an error as auth_token_issue.
 * The job carries the requested scope to the token it mints. */
int auth_token_issue_start(auth_t *a, const char *authorization, const char *client_addr,
                           const char *scope, char **ret_token, unsigned *ret_expires_in,
                           auth_result_t *ret, auth_job_t **ret_job);
int auth_token_issue_password_start(auth_t *a, const char *user, const char *password,
                                    const char *client_addr, const char *scope,
                                    char **ret_token, unsigned *ret_expires_in,
                                    auth_result_t *ret, auth_job_t **ret_job);
/* After the job of a token request finished: as auth_token_issue. The job stays
 * the caller's. */
int auth_token_issue_finish(auth_t *a, const auth_job_t *job, char **ret_token,
                            unsigned *ret_expires_in, auth_result_t *ret);

/* May the identity of a successful check pull repo (mount sources)? */
bool auth_may_pull(auth_t *a, const auth_result_t *who, const char *repo);
/* For _catalog: the namespaces (first path components) whose repositories the
 * identity of a successful check may pull. 1: all of them (an admin, mode none;
 * *ret untouched); 0: *ret is a NULL-terminated list sorted as by strcmp, maybe
 * empty (free each entry and the array); or <0. */
int auth_visible_projects(auth_t *a, const auth_result_t *who, char ***ret);

/* Listings (the admin CLI; the management API). Each calls each() once per row,
 * in order, with values valid during the call; each()'s first non-zero return
 * stops the listing and is returned. Else 0, or <0 (a database error). */
typedef struct {
        const char *name;
        bool admin;
        time_t created;
} auth_user_info_t;
/* Every user, by name. */
int auth_user_list(auth_t *a, int (*each)(const auth_user_info_t *u, void *userdata), void *userdata);
typedef struct {
        const char *name;
        bool public;
        int64_t members;
} auth_project_info_t;
/* Every project, by name. */
int auth_project_list(auth_t *a, int (*each)(const auth_project_info_t *p, void *userdata),
                      void *userdata);
typedef struct {
        const char *user;
        int role; /* AUTH_ROLE_* */
} auth_member_info_t;
/* The members of project, by user name (none for an unknown project). */
int auth_member_list(auth_t *a, const char *project,
                     int (*each)(const auth_member_info_t *m, void *userdata), void *userdata);
typedef struct {
        const char *name;
        const char *project;
        bool push;
        time_t created;
        time_t expires; /* 0: never */
        bool expired;   /* expires has passed (by the auth clock) */
} auth_token_info_t;
/* The robot tokens of project (NULL: of every project), by project and name;
 * never their secrets. */
int auth_token_list(auth_t *a, const char *project,
                    int (*each)(const auth_token_info_t *t, void *userdata), void *userdata);

/* Audit trail: action is push|pull|delete|login|login-failed; repo and detail
 * may be NULL. Rows are batched in memory and written within about a second
 * (or at auth_free / auth_audit_flush). who may be NULL (anonymous). */
int auth_audit(auth_t *a, const auth_result_t *who, const char *client_addr,
               const char *action, const char *repo, const char *detail);
int auth_audit_flush(auth_t *a);
/* The trail, newest first, filtered (NULL/0 fields: no filter): rows with id <
 * before_id (the cursor), since <= ts <= until, of user, of repository repo, of
 * action, of project's repositories; at most limit (0: all). each() as for the
 * listings above. Flushes the pending rows first. */
typedef struct {
        const char *user, *repo, *action, *project;
        int64_t since, until; /* unix seconds */
        int64_t before_id;
        size_t limit;
} auth_audit_filter_t;
typedef struct {
        int64_t id, ts;
        const char *user, *client, *action, *repo, *detail; /* client, repo, detail may be NULL */
} auth_audit_row_t;
int auth_audit_list(auth_t *a, const auth_audit_filter_t *f,
                    int (*each)(const auth_audit_row_t *row, void *userdata), void *userdata);

/* ---- session.c: browser sessions of the management API ---- */
#define AUTH_SESSION_ID_LEN 43  /* base64url of 32 random bytes; also the CSRF token's length */
#define AUTH_SESSION_TTL 43200  /* seconds (12 h, absolute) */
/* A new session of user (a user, never a robot; the caller verified the
 * password): id (the cookie value) and its expiry. ttl 0: AUTH_SESSION_TTL.
 * -ENOENT: no such user. Deletes expired sessions on the way. */
int auth_session_create(auth_t *a, const char *user, unsigned ttl, char id[AUTH_SESSION_ID_LEN + 1],
                        time_t *ret_expires);
/* The identity of a live session (ret: name, admin), or BERTH_EAUTH (unknown,
 * expired, malformed, its user gone), or <0. */
int auth_session_check(auth_t *a, const char *id, auth_result_t *ret, time_t *ret_expires);
/* The CSRF token of session id (derived from it), and its constant-time check. */
int auth_session_csrf(auth_t *a, const char *id, char csrf[AUTH_SESSION_ID_LEN + 1]);
bool auth_session_csrf_ok(auth_t *a, const char *id, const char *token);
/* Logout: 0 or -ENOENT. */
int auth_session_delete(auth_t *a, const char *id);
/* Every session of user (password change, removal). */
int auth_session_delete_user(auth_t *a, const char *user);

/* The effective role of who in project (auth/roles.c's table applies to it):
 * AUTH_ROLE_SYSADMIN for an admin user; else the best of the membership role,
 * maintainer in a user's own namespace (no project holds the name), developer
 * (push) or reader for a robot of the project, reader in a public project;
 * AUTH_ROLE_NONE: the project is not visible. Mode none: SYSADMIN. Or <0. */
int auth_project_role(auth_t *a, const auth_result_t *who, const char *project);
/* 1 a project row exists (auth_projects), 0 not, <0 error. */
int auth_project_exists(auth_t *a, const char *project);

/* Counters (metrics, tests). */
typedef struct {
        uint64_t argon2_verifications;
        uint64_t cache_hits;
        uint64_t failures;
        uint64_t throttled;
        uint64_t verify_busy;   /* verifications refused: the queue was full */
        uint64_t successes;     /* credentials verified right (argon2, not the cache) */
        uint64_t queue_depth;   /* verifications waiting now */
} auth_stats_t;
void auth_stats(auth_t *a, auth_stats_t *ret);
