/* auth/auth-internal.h: shared inside auth/ (and by its unit tests and fuzzer). */
#pragma once
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sqlite3.h>
#include "auth/auth.h"

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

/* ---- auth.c: connections and transactions ---- */
typedef struct auth_conn auth_conn_t;
int auth_conn_get(auth_t *a, auth_conn_t **ret);
void auth_conn_put(auth_t *a, auth_conn_t *c);
sqlite3 *auth_conn_db(auth_conn_t *c);
/* A cached prepared statement (reset, bindings cleared). */
int auth_conn_stmt(auth_conn_t *c, const char *sql, sqlite3_stmt **ret);
int auth_sql_err(int rc); /* SQLite code → BERTH_EBUSY / BERTH_EDB */
/* BEGIN IMMEDIATE; on commit the change counter is bumped in the same transaction. */
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

/* ---- token.c: issued Bearer tokens (see docs/access-control.md, "Token mode") ---- */
#define AUTH_BEARER_LEN 43 /* base64url of 32 random bytes, no padding */
typedef struct auth_token_table auth_token_table_t;
int auth_token_table_new(size_t max, auth_token_table_t **ret);
auth_token_table_t *auth_token_table_free(auth_token_table_t *t);
/* Stores a fresh random token for who (fp: fingerprint of the credential row,
 * generation: the change counter read with it) and writes its text to token.
 * Purges expired entries; when full, evicts the oldest. */
int auth_token_table_issue(auth_token_table_t *t, const auth_result_t *who, int64_t generation,
                           const uint8_t fp[32], time_t now, time_t expires,
                           char token[AUTH_BEARER_LEN + 1]);
/* 0 and copies of the entry, or -ENOENT (unknown or expired: then forgotten). */
int auth_token_table_lookup(auth_token_table_t *t, const char *token, size_t len, time_t now,
                            auth_result_t *ret_who, int64_t *ret_generation, uint8_t ret_fp[32]);
/* After a successful re-check under a newer change counter. */
int auth_token_table_update(auth_token_table_t *t, const char *token, size_t len,
                            int64_t generation, const auth_result_t *who);
void auth_token_table_forget(auth_token_table_t *t, const char *token, size_t len);
size_t auth_token_table_count(auth_token_table_t *t);
