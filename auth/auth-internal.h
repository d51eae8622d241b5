/* auth/auth-internal.h: shared inside auth/ (and by its unit tests and fuzzer). */
#pragma once
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <openssl/evp.h>
#include "auth/auth.h"
#include "storage/db.h"

#define AUTH_HEADER_MAX 4096   /* longest Authorization header accepted */
#define AUTH_PASSWORD_MAX 1024 /* longest password accepted */
#define AUTH_USER_MAX 64       /* user names: one repository path component */
#define AUTH_PROJECT_MAX 64
#define AUTH_ROBOT_PREFIX "robot."


/* ---- basic.c ---- */
/* Parses `Basic <base64(user:password)>`. user/password are NUL-terminated in
 * the caller's buffers (password may be empty; user may not). 0 or BERTH_EAUTH. */
int auth_basic_parse(const char *header, size_t len, char *user, size_t user_size,
                     char *password, size_t password_size);
/* The header carries an empty user name and an empty password: no credentials. */
bool auth_basic_is_empty(const char *header, size_t len);

/* ---- names ---- */
bool auth_name_valid(const char *s, size_t max); /* [a-z0-9]+([._-][a-z0-9]+)* ≤ max */
/* roles: auth.h (auth/roles.c) */

/* ---- auth.c: connections and transactions, on storage/db ---- */
/* A connection of storage/db's pool (statements: db_stmt and the typed binds). */
typedef db_conn_t auth_conn_t;
int auth_conn_get(auth_t *a, auth_conn_t **ret);
void auth_conn_put(auth_t *a, auth_conn_t *c);
/* A write transaction; on commit the change counter is bumped in the same
 * transaction (a sticky failure before it is returned instead, nothing written). */
int auth_tx_begin(auth_conn_t *c);
int auth_tx_commit_change(auth_conn_t *c);
void auth_tx_rollback(auth_conn_t *c);
time_t auth_now(const auth_t *a);
int auth_password_hash(auth_t *a, const char *password, char **ret_encoded);
int auth_random_secret(char *buf, size_t len); /* len-1 chars of [A-Za-z0-9] + NUL */
int auth_token_mac(const auth_t *a, const char *secret, uint8_t mac[32]);

/* ---- admin.c: changes (each one transaction bumping the change counter) ---- */
/* A user name that is a project's, or a project name that is a user's: the
 * namespace would belong to both. */
#define AUTH_ENAME_TAKEN (-ENOTUNIQ)
int auth_user_add(auth_t *a, const char *name, const char *password, bool admin); /* -EEXIST, AUTH_ENAME_TAKEN */
int auth_user_passwd(auth_t *a, const char *name, const char *password);
int auth_user_del(auth_t *a, const char *name); /* -ENOENT */
int auth_project_create(auth_t *a, const char *name, bool public); /* -EEXIST, AUTH_ENAME_TAKEN */
int auth_project_set_public(auth_t *a, const char *name, bool public);
int auth_user_set_admin(auth_t *a, const char *name, bool admin); /* -ENOENT */
/* An empty project (no repository under it): -ENOENT, -ENOTEMPTY. */
int auth_project_delete(auth_t *a, const char *name);
int auth_member_add(auth_t *a, const char *project, const char *user, int role);
int auth_member_del(auth_t *a, const char *project, const char *user);
/* expires: unix time, 0 never. *ret_name, *ret_secret malloc'd. */
int auth_token_create(auth_t *a, const char *project, bool push, time_t expires,
                      char **ret_name, char **ret_secret);
int auth_token_revoke(auth_t *a, const char *name); /* -ENOENT */
/* Verify user or robot credentials without cache/throttle (secret command). */
int auth_credentials_verify(auth_t *a, const char *user, const char *password);


/* ---- token.c: signed Bearer tokens (see docs/access-control.md, "Token mode") ---- */
#define AUTH_TOKEN_TEXT_MAX 3072  /* longest token text (it travels in a header) */
#define AUTH_TOKEN_SCOPES_MAX 16  /* repositories one token may name */

typedef enum {
        AUTH_SUBJECT_ANONYMOUS = 'a',
        AUTH_SUBJECT_USER = 'u',
        AUTH_SUBJECT_ROBOT = 'r',
} auth_subject_t;

typedef struct {
        char repo[255 + 1];
        unsigned actions; /* AUTH_* bits */
} auth_scope_t;

/* What a token says. */
typedef struct {
        int64_t expires;    /* unix seconds */
        int64_t generation; /* the change counter when the credential row was read */
        char kind;          /* auth_subject_t */
        char name[AUTH_NAME_MAX + 1];
        uint8_t cred[16];   /* fingerprint of the credential row (not anonymous) */
        bool flag;          /* user: admin; robot: may push */
        char project[AUTH_NAME_MAX + 1]; /* robot (at most AUTH_PROJECT_MAX) */
        size_t n_scopes;
        auth_scope_t scopes[AUTH_TOKEN_SCOPES_MAX]; /* the ceiling: no scope, no repository */
} auth_claims_t;

/* HMAC-SHA256 under a 32-byte key, with the pad states computed once. */
typedef struct auth_token_key auth_token_key_t;
int auth_token_key_new(const uint8_t key[32], auth_token_key_t **ret);
auth_token_key_t *auth_token_key_free(auth_token_key_t *k);
int auth_token_key_mac(const auth_token_key_t *k, const void *data, size_t len, uint8_t mac[32]);

/* Adds the scopes of one `scope` parameter (space-separated "type:name:actions"):
 * "repository" (or "repository(class)") with a valid name and at least one of
 * pull, push, delete or *; the rest grants nothing and is skipped. The same
 * repository twice adds up. BERTH_ETOOBIG past AUTH_TOKEN_SCOPES_MAX. */
int auth_scope_add(auth_claims_t *c, const char *list);
/* The actions the token's scope grants on repo (0: none). */
unsigned auth_claims_actions(const auth_claims_t *c, const char *repo);
/* The token text (malloc'd): -EINVAL for claims no token may carry, BERTH_ETOOBIG
 * past AUTH_TOKEN_TEXT_MAX. */
int auth_token_encode(const auth_token_key_t *k, const auth_claims_t *c, char **ret);
/* 0 and the claims (not checked against the clock), or BERTH_EAUTH for anything
 * but a well-formed token with a valid MAC. The MAC is compared in constant time
 * before the payload is parsed. */
int auth_token_decode(const auth_token_key_t *k, const char *token, size_t len, auth_claims_t *ret);
/* The payload parser alone (the fuzzer reaches it without a MAC). */
int auth_token_parse_payload(const char *p, size_t len, auth_claims_t *ret);

/* The token endpoint's rate limit: a bucket per client address with `burst`
 * tokens, refilled at `per_second`; a fixed table (the address idle longest in
 * its set is forgotten, which only ever gives it a full bucket). */
typedef struct auth_rate auth_rate_t;
int auth_rate_new(unsigned per_second, unsigned burst, auth_rate_t **ret);
auth_rate_t *auth_rate_free(auth_rate_t *r);
/* 0: one token taken; else the seconds until one is there. */
unsigned auth_rate_take(auth_rate_t *r, const char *addr, time_t now);

/* ---- the state of an auth_t, shared by the files of auth/ ---- */
#define CACHE_SETS 256 /* verified-credentials cache: sets x ways */
#define CACHE_WAYS 4
#define CACHE_LOCKS 16
#define THR_SETS 1024 /* throttle table */
#define THR_ADDR_FACTOR 5 /* failures on other names that mark an address = this x throttle_free */
#define THR_WAYS 8
#define THR_KEY_MAX 168 /* "p:" + address (63) + " " + name (96) + NUL */
#define AUDIT_BATCH 128
#define AUTH_REFRESH_RETRY 2 /* seconds between two refreshes of one cache entry set off */
#define HASH_ENCODED_MAX 512

typedef struct {
        uint8_t key[32];
        bool used;
        bool failed; /* a negative entry: these credentials were wrong */
        time_t expires;
        time_t refresh_begun; /* when a request last set off its verification ahead of expiry */
        int64_t generation;
        auth_result_t who;
} cache_entry_t;

/* The rights cache: (identity, project, change counter) → the actions. */
#define RIGHTS_SETS 512
#define RIGHTS_KEY_MAX (2 + (AUTH_NAME_MAX + 1) * 2 + 2 + AUTH_PROJECT_MAX + 1 + 8)
typedef struct {
        uint64_t hash;
        uint64_t used_at; /* the set's clock at the last use; 0 free */
        int64_t generation;
        uint64_t changes; /* auth_t.changes when it was read */
        unsigned rights;
        char key[RIGHTS_KEY_MAX];
} rights_entry_t;

typedef struct {
        char key[THR_KEY_MAX];
        unsigned failures;
        time_t last; /* time of the last failure */
} thr_entry_t;

typedef struct {
        time_t ts;
        char *user, *client, *action, *repo, *detail;
} audit_row_t;

struct auth {
        db_t *db; /* storage/db: connections, statements, migrations */
        bool owns_db; /* auth_open opened db (auth_free frees it); else the caller's */
        auth_options_t opt;
        EVP_MD *sha256;
        auth_token_key_t *cache_key;  /* HMAC key: process-random, for the cache */
        uint8_t token_key[32]; /* per install, from the database: robot secret MACs */

        pthread_mutex_t cache_locks[CACHE_LOCKS];
        cache_entry_t cache[CACHE_SETS][CACHE_WAYS];

        pthread_mutex_t rights_locks[CACHE_LOCKS];
        uint64_t rights_clock[RIGHTS_SETS];
        rights_entry_t rights[RIGHTS_SETS][CACHE_WAYS];
        /* moves (to a value unique in the process) at every auth change heard of
         * (DB_NOTIFY_AUTH, from any replica): the change counter a thread keeps
         * (auth_generation) is then read again */
        _Atomic uint64_t changes;
        bool subscribed;

        pthread_mutex_t thr_lock;
        thr_entry_t thr[THR_SETS][THR_WAYS];
        uint8_t thr_seed[16];

        pthread_mutex_t argon_lock;
        pthread_cond_t argon_cond;
        unsigned argon_running;

        /* verifier threads and their bounded queue (auth_job_submit) */
        pthread_mutex_t vq_lock;
        pthread_cond_t vq_cond, vq_idle;
        auth_job_t *vq_head, *vq_tail;
        unsigned vq_len, vq_running, vq_nthreads;
        pthread_t *vq_threads;
        bool vq_stop, vq_closed;
        char *dummy_hash; /* verified for unknown users, so timing does not tell */

        pthread_mutex_t audit_lock;
        pthread_cond_t audit_cond;
        pthread_cond_t audit_done; /* the writer's batch in hand is written */
        bool audit_writing;        /* the writer holds a batch it took */
        audit_row_t *audit_rows; /* pending rows: n_audit of cap_audit */
        size_t n_audit, cap_audit;
        time_t audit_oldest;
        bool audit_thread_started, audit_stop;
        pthread_t audit_thread;

        auth_token_key_t *bearer_key; /* signs Bearer tokens: derived from token_key */
        auth_rate_t *token_rate;      /* the token endpoint's limit per client address */

        atomic_uint_fast64_t n_argon2, n_cache_hits, n_failures, n_throttled, n_verify_busy;
        atomic_uint_fast64_t n_successes;
};

/* The credential row behind an identity, read in one statement with the change
 * counter: a token stays valid across changes only while this row is the one
 * its credentials were verified against. */
typedef struct {
        int64_t generation;
        bool exists;
        uint8_t fp[32]; /* HMAC(bearer key, kind + stored hash (user) or MAC (robot)) */
        bool admin;
        char project[AUTH_NAME_MAX + 1];
        bool push;
        time_t expires; /* robot expiry, 0 never */
} ident_t;

enum { JOB_CHECK, JOB_TOKEN };

struct auth_job {
        int kind;
        char user[AUTH_NAME_MAX + 1];
        char password[AUTH_PASSWORD_MAX + 1];
        char addr[64];         /* client address; "" if none */
        char *repo;            /* NULL: authentication only */
        unsigned actions;
        uint8_t key[32];       /* cache key of the Authorization value */
        time_t now;            /* when the request was checked */
        bool refresh;          /* ahead of a cache entry's expiry: verify even if cached */
        int64_t generation;    /* the change counter read before the verification */
        ident_t id;            /* JOB_TOKEN: the credential row, read before it too */
        auth_claims_t scope;   /* JOB_TOKEN: the requested scopes (the token's ceiling) */
        /* the verdict */
        atomic_bool done;
        int result;
        auth_result_t who;
        /* the verifier queue */
        void (*done_fn)(void *userdata);
        void *userdata;
        auth_job_t *next;
};

/* ---- auth.c: the core (open, options, keys) ---- */
/* The change counter (auth_state.generation), from the database. */
int auth_read_generation(auth_conn_t *c, int64_t *ret);
/* The change counter without a database round trip while no change was heard of
 * since this thread last read it (the notifications of storage/db.h; read again
 * when they cannot be heard). 1 and *ret: current as far as the notifications
 * tell (rights may be cached under it); 0 and *ret: read, not cacheable; <0. */
int auth_generation(auth_t *a, auth_conn_t *c, int64_t *ret);
/* Its two halves: 1 and *ret when the thread's kept counter is current, else 0
 * (no read); *stamp then says what a read made after this call may be kept as. */
typedef struct {
        uint64_t epoch, changes;
} auth_stamp_t;
int auth_generation_kept(auth_t *a, auth_conn_t *c, int64_t *ret, auth_stamp_t *stamp);
void auth_generation_keep(auth_t *a, const auth_stamp_t *stamp, int64_t generation);

/* ---- password.c: hashing, verification and the verifier threads ---- */
/* 0 the credentials are right (who filled: admin, robot, robot_project, push;
 * *ret_until the robot's expiry or 0), BERTH_EAUTH wrong, or <0. Takes argon2's
 * time for a user, also for an unknown one. */
int auth_verify_credentials(auth_t *a, auth_conn_t *c, const char *user,
                            const char *password, auth_result_t *who, time_t *ret_until);
/* Stops the verifier threads once the queue is empty (auth_free). */
void auth_verifiers_stop(auth_t *a);

/* ---- cache.c: the verified-credentials cache ---- */
int auth_cache_init(auth_t *a); /* the process-random HMAC key of the cache */
/* The cache key of an Authorization value: HMAC under the process key. */
int auth_cache_key(const auth_t *a, const char *header, size_t len, uint8_t key[32]);
bool auth_cache_lookup(auth_t *a, const uint8_t key[32], time_t now, auth_result_t *ret,
                       int64_t *ret_generation, bool *ret_failed);
void auth_cache_forget(auth_t *a, const uint8_t key[32]);
/* True (and the entry marked) when key's live, verified entry expires within window
 * seconds and no refresh of it was set off in the last AUTH_REFRESH_RETRY seconds:
 * the caller verifies the credentials again ahead of the expiry. */
bool auth_cache_claim_refresh(auth_t *a, const uint8_t key[32], time_t now, time_t window);
void auth_cache_insert(auth_t *a, const uint8_t key[32], time_t expires, int64_t generation,
                       const auth_result_t *who, bool failed);

/* ---- cache.c: the rights cache ---- */
/* The key of (who, project) in buf (RIGHTS_KEY_MAX); false: does not fit (not cached). */
bool auth_rights_key(const auth_result_t *who, const char *project, char *buf);
/* 1 and *ret: the rights of key under generation, read while auth_t.changes was
 * changes (a notification with no bump of the counter, a hand edit's, retires
 * them too); 0 none. */
int auth_rights_lookup(auth_t *a, const char *key, int64_t generation, uint64_t changes, unsigned *ret);
void auth_rights_insert(auth_t *a, const char *key, int64_t generation, uint64_t changes, unsigned rights);

/* ---- throttle.c: failures per (address, name) and per address ---- */
/* 0, or the seconds this address must wait before guessing at user again. */
unsigned auth_throttle_blocked(auth_t *a, const char *addr, const char *user, time_t now);
void auth_throttle_fail(auth_t *a, const char *addr, const char *user, time_t now);
void auth_throttle_success(auth_t *a, const char *addr, const char *user, time_t now);

/* ---- decide.c: the access decision ---- */
/* The actions `who` may perform on repo (AUTH_* bits; repo may be NULL), or <0.
 * With ret_generation, the change counter is read in the same statement. */
int auth_rights(auth_t *a, auth_conn_t *c, const auth_result_t *who, const char *repo,
                int64_t *ret_generation);
/* 0, or why `who` may not do `actions` on repo. */
int auth_verdict(const auth_result_t *who, const char *repo, unsigned actions, int rights_);
/* The verification and the decision of a job (on a verifier thread, or inline). */
void auth_job_run(auth_t *a, auth_job_t *job);

/* ---- bearer.c: Bearer tokens in requests, and the token endpoint ---- */
/* The token of a `Bearer <token>` header (true), else false. */
bool auth_bearer_token(const char *header, size_t len, const char **ret, size_t *ret_len);
int auth_bearer_check(auth_t *a, auth_conn_t *c, const char *tok, size_t tlen, time_t now,
                      const char *repo, unsigned actions, auth_result_t *ret);
