/* auth/auth-internal.h: shared inside auth/ (and by its unit tests and fuzzer). */
#pragma once
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "auth/auth.h"
#include "storage/db.h"

#define AUTH_HEADER_MAX 4096   /* longest Authorization header accepted */
#define AUTH_PASSWORD_MAX 1024 /* longest password accepted */
#define AUTH_USER_MAX 64       /* user names: one repository path component */
#define AUTH_PROJECT_MAX 64
#define AUTH_ROBOT_PREFIX "robot."

typedef enum {
        AUTH_ROLE_NONE = 0,
        AUTH_ROLE_READER = 1,
        AUTH_ROLE_DEVELOPER = 2,
        AUTH_ROLE_MAINTAINER = 3,
        AUTH_ROLE_ADMIN = 4,
} auth_role_t;

/* ---- basic.c ---- */
/* Parses `Basic <base64(user:password)>`. user/password are NUL-terminated in
 * the caller's buffers (password may be empty; user may not). 0 or BERTH_EAUTH. */
int auth_basic_parse(const char *header, size_t len, char *user, size_t user_size,
                     char *password, size_t password_size);
/* The header carries an empty user name and an empty password: no credentials. */
bool auth_basic_is_empty(const char *header, size_t len);
/* Strict standard base64 (padding optional). Returns decoded length or -1. */
long auth_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_size);
/* NUL-terminated standard base64 with padding; malloc'd. */
char *auth_base64_encode(const void *in, size_t len);

/* ---- names and roles ---- */
bool auth_name_valid(const char *s, size_t max); /* [a-z0-9]+([._-][a-z0-9]+)* ≤ max */
int auth_role_parse(const char *s);              /* AUTH_ROLE_* or -EINVAL */
const char *auth_role_name(int role);
unsigned auth_role_actions(int role);

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
int auth_member_add(auth_t *a, const char *project, const char *user, int role);
int auth_member_del(auth_t *a, const char *project, const char *user);
/* expires: unix time, 0 never. *ret_name, *ret_secret malloc'd. */
int auth_token_create(auth_t *a, const char *project, bool push, time_t expires,
                      char **ret_name, char **ret_secret);
int auth_token_revoke(auth_t *a, const char *name); /* -ENOENT */
/* Verify user or robot credentials without cache/throttle (secret command). */
int auth_credentials_verify(auth_t *a, const char *user, const char *password);

/* ---- cli.c ---- */
int auth_cli_run(const char *data_dir, int argc, char **argv, FILE *in, FILE *out,
                 FILE *err);

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
