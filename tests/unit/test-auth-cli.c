/* tests/unit/test-auth-cli.c: the `berthd user|project|token|secret|audit` commands
 * against a fresh data directory, and what they change for auth_check. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <jansson.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"
#include "fixture.h"
#include "server/cli-auth.h"

typedef struct {
        char dir[256];
        char *out, *err;
        size_t out_len, err_len;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "auth-cli") < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        fx_rmtree(f->dir);
        free(f->out);
        free(f->err);
        free(f);
        return 0;
}

/* Runs one command; stdin is `input` (NULL: empty). Output in f->out / f->err. */
static int run(fixture_t *f, const char *input, const char *cmdline) {
        char *copy = strdup(cmdline), *argv[32], *save = NULL;
        int argc = 0, rc;
        FILE *in, *out, *err;

        assert_non_null(copy);
        for (char *t = strtok_r(copy, " ", &save); t && argc < 31; t = strtok_r(NULL, " ", &save))
                argv[argc++] = t;
        argv[argc] = NULL;
        free(f->out);
        free(f->err);
        f->out = f->err = NULL;
        in = input ? fmemopen((void *) input, strlen(input), "r") : fopen("/dev/null", "r");
        out = open_memstream(&f->out, &f->out_len);
        err = open_memstream(&f->err, &f->err_len);
        assert_non_null(in);
        assert_non_null(out);
        assert_non_null(err);
        rc = cli_auth_run(f->dir, argc, argv, in, out, err);
        fclose(in);
        fclose(out);
        fclose(err);
        free(copy);
        return rc;
}

/* The value after "key: " on its own line of f->out, copied into buf. */
static const char *field(const fixture_t *f, const char *key, char *buf, size_t size) {
        char pat[64];
        const char *p, *e;

        snprintf(pat, sizeof(pat), "%s: ", key);
        p = strstr(f->out, pat);
        assert_non_null(p);
        p += strlen(pat);
        e = strchr(p, '\n');
        assert_non_null(e);
        assert_true((size_t) (e - p) < size);
        memcpy(buf, p, (size_t) (e - p));
        buf[e - p] = '\0';
        return buf;
}

static int login(fixture_t *f, const char *user, const char *pw, const char *repo,
                 unsigned actions) {
        char up[512], hdr[1024];
        char *b64;
        auth_t *a = NULL;
        auth_result_t r;
        int rc;

        snprintf(up, sizeof(up), "%s:%s", user, pw);
        b64 = base64_encode_alloc(BASE64_STD, up, strlen(up));
        assert_non_null(b64);
        snprintf(hdr, sizeof(hdr), "Basic %s", b64);
        free(b64);
        assert_int_equal(auth_open(f->dir, NULL, &a), 0);
        rc = auth_check(a, hdr, "127.0.0.1", repo, actions, &r);
        auth_free(a);
        return rc;
}

static void test_user_add_password_from_stdin(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "hunter2hunter2\n", "user add alice"), 0);
        assert_null(strstr(f->out, "hunter2"));
        assert_null(strstr(f->out, "password:"));
        assert_int_equal(login(f, "alice", "hunter2hunter2", NULL, 0), 0);
        assert_int_equal(login(f, "alice", "hunter2hunter2\n", NULL, 0), BERTH_EAUTH);
}

static void test_user_add_generates_password(void **state) {
        fixture_t *f = *state;
        char pw[128];

        assert_int_equal(run(f, NULL, "user add bob --admin"), 0);
        field(f, "password", pw, sizeof(pw));
        assert_true(strlen(pw) >= 20);
        assert_int_equal(login(f, "bob", pw, "any/repo", AUTH_DELETE), 0);
}

static void test_user_add_duplicate_fails(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "pw\n", "user add alice"), 0);
        assert_int_equal(run(f, "pw\n", "user add alice"), 1);
        assert_non_null(strstr(f->err, "already exists"));
        assert_int_equal(run(f, "pw\n", "user add Bad$Name"), 1);
}

static void test_user_list(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "pw\n", "user add carol"), 0);
        assert_int_equal(run(f, "pw\n", "user add dave --admin"), 0);
        assert_int_equal(run(f, NULL, "user list"), 0);
        assert_non_null(strstr(f->out, "\ncarol\tno\t"));
        assert_non_null(strstr(f->out, "\ndave\tyes\t"));
        assert_null(strstr(f->out, "$argon2")); /* hashes are not shown */
}

static void test_user_passwd_and_del(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "old-pw\n", "user add erin"), 0);
        assert_int_equal(run(f, "new-pw\n", "user passwd erin"), 0);
        assert_int_equal(login(f, "erin", "old-pw", NULL, 0), BERTH_EAUTH);
        assert_int_equal(login(f, "erin", "new-pw", NULL, 0), 0);
        assert_int_equal(run(f, NULL, "user del erin"), 0);
        assert_int_equal(login(f, "erin", "new-pw", NULL, 0), BERTH_EAUTH);
        assert_int_equal(run(f, NULL, "user del erin"), 1);
        assert_int_equal(run(f, "x\n", "user passwd nobody"), 1);
}

static void test_project_and_members(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "pw\n", "user add frank"), 0);
        assert_int_equal(run(f, NULL, "project create team"), 0);
        assert_int_equal(run(f, NULL, "project create pub --public"), 0);
        assert_int_equal(run(f, NULL, "project create team"), 1);
        assert_int_equal(run(f, NULL, "project member add team frank owner"), 2);
        assert_int_equal(run(f, NULL, "project member add team nobody reader"), 1);
        assert_int_equal(run(f, NULL, "project member add team frank developer"), 0);
        assert_int_equal(login(f, "frank", "pw", "team/app", AUTH_PUSH), 0);
        assert_int_equal(login(f, "frank", "pw", "team/app", AUTH_DELETE), BERTH_EDENIED);
        assert_int_equal(run(f, NULL, "project list"), 0);
        assert_non_null(strstr(f->out, "\npub\tpublic\t0\n"));
        /* an empty project is deleted, once */
        assert_int_equal(run(f, NULL, "project del pub"), 0);
        assert_non_null(strstr(f->out, "project pub deleted"));
        assert_int_equal(run(f, NULL, "project del pub"), 1);
        assert_int_equal(run(f, NULL, "project del"), 2);
        assert_int_equal(run(f, NULL, "project list"), 0);
        assert_null(strstr(f->out, "\npub\t"));
        assert_non_null(strstr(f->out, "\nteam\tprivate\t1\n"));
        assert_int_equal(run(f, NULL, "project member list team"), 0);
        assert_non_null(strstr(f->out, "\nfrank\tdeveloper\n"));
}

/* A user named like a project would own it through the personal-namespace rule. */
static void test_user_and_project_names_do_not_collide(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, NULL, "project create team"), 0);
        assert_int_equal(run(f, "pw\n", "user add team"), 1);
        assert_non_null(strstr(f->err, "team: a project has that name"));
        assert_int_equal(login(f, "team", "pw", "team/app", AUTH_PULL), BERTH_EAUTH); /* not created */
        assert_int_equal(run(f, "pw\n", "user add alice"), 0);
        assert_int_equal(run(f, NULL, "project create alice"), 1);
        assert_non_null(strstr(f->err, "alice: a user has that name"));
        assert_int_equal(run(f, NULL, "project list"), 0);
        assert_null(strstr(f->out, "\nalice\t"));
        /* alice's namespace is still hers */
        assert_int_equal(login(f, "alice", "pw", "alice/app", AUTH_PUSH), 0);
}

static void test_token_create_list_revoke(void **state) {
        fixture_t *f = *state;
        char name[128], secret[128], cmd[192];
        regex_t re;

        assert_int_equal(run(f, NULL, "project create ci"), 0);
        assert_int_equal(run(f, NULL, "token create --project nosuch"), 1);
        assert_int_equal(run(f, NULL, "token create --project ci --expires 90d"), 0);
        field(f, "name", name, sizeof(name));
        field(f, "secret", secret, sizeof(secret));
        /* safe in shells and YAML: no '$', quotes, spaces or ':' */
        assert_int_equal(regcomp(&re, "^robot\\.ci\\.[a-z0-9]{10}$", REG_EXTENDED | REG_NOSUB), 0);
        assert_int_equal(regexec(&re, name, 0, NULL, 0), 0);
        regfree(&re);
        assert_int_equal(regcomp(&re, "^[A-Za-z0-9]{40}$", REG_EXTENDED | REG_NOSUB), 0);
        assert_int_equal(regexec(&re, secret, 0, NULL, 0), 0);
        regfree(&re);
        assert_int_equal(login(f, name, secret, "ci/app", AUTH_PULL), 0);
        assert_int_equal(login(f, name, secret, "ci/app", AUTH_PUSH), BERTH_EDENIED);

        assert_int_equal(run(f, NULL, "token list"), 0);
        assert_non_null(strstr(f->out, name));
        assert_null(strstr(f->out, secret));
        assert_non_null(strstr(f->out, "\tpull\t"));

        snprintf(cmd, sizeof(cmd), "token revoke %s", name);
        assert_int_equal(run(f, NULL, cmd), 0);
        assert_int_equal(login(f, name, secret, "ci/app", AUTH_PULL), BERTH_EAUTH);
        assert_int_equal(run(f, NULL, cmd), 1);
        assert_int_equal(run(f, NULL, "token create --project ci --expires 5x"), 2);
}

/* Decodes the .dockerconfigjson of a Secret printed in f->out and checks it. */
static void check_secret_yaml(fixture_t *f, const char *server, const char *user,
                              const char *pw) {
        char b64[4096], *expect_auth, up[512];
        uint8_t json[3072];
        long n;
        json_t *root, *entry;
        json_error_t jerr;

        assert_non_null(strstr(f->out, "apiVersion: v1\nkind: Secret\n"));
        assert_non_null(strstr(f->out, "\ntype: kubernetes.io/dockerconfigjson\n"));
        assert_non_null(strstr(f->out, "\nmetadata:\n  name: "));
        field(f, "  .dockerconfigjson", b64, sizeof(b64));
        n = base64_decode(BASE64_STD, b64, strlen(b64), json, sizeof(json));
        assert_true(n > 0);
        root = json_loadb((const char *) json, (size_t) n, JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null(root);
        entry = json_object_get(json_object_get(root, "auths"), server);
        assert_non_null(entry);
        assert_string_equal(json_string_value(json_object_get(entry, "username")), user);
        assert_string_equal(json_string_value(json_object_get(entry, "password")), pw);
        snprintf(up, sizeof(up), "%s:%s", user, pw);
        expect_auth = base64_encode_alloc(BASE64_STD, up, strlen(up));
        assert_string_equal(json_string_value(json_object_get(entry, "auth")), expect_auth);
        free(expect_auth);
        json_decref(root);
}

static void test_token_create_secret_yaml(void **state) {
        fixture_t *f = *state;
        char b64[4096], up[256], *colon, *user, *pw;
        uint8_t json[3072];
        uint8_t raw[256];
        long n;
        json_t *root;

        assert_int_equal(run(f, NULL, "project create ci"), 0);
        assert_int_equal(run(f, NULL, "token create --project ci --secret-yaml "
                                      "registry.example:5000 --namespace apps"),
                         0);
        assert_non_null(strstr(f->out, "\n  namespace: apps\n"));
        /* Take the credentials back out of the Secret and log in with them. */
        field(f, "  .dockerconfigjson", b64, sizeof(b64));
        n = base64_decode(BASE64_STD, b64, strlen(b64), json, sizeof(json));
        assert_true(n > 0);
        root = json_loadb((const char *) json, (size_t) n, 0, NULL);
        assert_non_null(root);
        snprintf(b64, sizeof(b64), "%s",
                 json_string_value(json_object_get(
                         json_object_get(json_object_get(root, "auths"), "registry.example:5000"),
                         "auth")));
        json_decref(root);
        n = base64_decode(BASE64_STD, b64, strlen(b64), raw, sizeof(raw) - 1);
        assert_true(n > 0);
        raw[n] = '\0';
        snprintf(up, sizeof(up), "%s", (char *) raw);
        colon = strchr(up, ':');
        assert_non_null(colon);
        *colon = '\0';
        user = up;
        pw = colon + 1;
        check_secret_yaml(f, "registry.example:5000", user, pw);
        assert_int_equal(login(f, user, pw, "ci/app", AUTH_PULL), 0);
}

static void test_secret_for_user(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "pa ss\n", "user add gina"), 0);
        assert_int_equal(run(f, "pa ss\n",
                             "secret --server reg.local:5000 --username gina --password-stdin"), 0);
        check_secret_yaml(f, "reg.local:5000", "gina", "pa ss");
        assert_non_null(strstr(f->out, "  name: berth-pull-secret\n"));
}

static void test_secret_refuses_wrong_password(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "right\n", "user add hank"), 0);
        assert_int_equal(run(f, "wrong\n",
                             "secret --server reg.local:5000 --username hank --password-stdin"), 1);
        assert_true(f->out_len == 0);
        assert_int_equal(run(f, NULL, "secret --server reg.local:5000 --username hank"), 2);
        assert_int_equal(run(f, "right\n", "secret --server reg.local:5000 --username hank "
                                           "--password-stdin --name Bad_Name"), 2);
}

static void test_audit_filters(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, "pw\n", "user add ivan"), 0);
        assert_int_equal(run(f, "pw\n", "user add jane"), 0);
        assert_int_equal(login(f, "ivan", "pw", "ivan/app", AUTH_PULL), 0);
        assert_int_equal(login(f, "jane", "bad", NULL, 0), BERTH_EAUTH);
        assert_int_equal(run(f, NULL, "audit --since 1h"), 0);
        assert_non_null(strstr(f->out, "\tivan\t127.0.0.1\tlogin\tivan/app\t"));
        assert_non_null(strstr(f->out, "\tjane\t127.0.0.1\tlogin-failed\t"));
        assert_int_equal(run(f, NULL, "audit --user jane"), 0);
        assert_null(strstr(f->out, "ivan"));
        assert_non_null(strstr(f->out, "login-failed"));
        assert_int_equal(run(f, NULL, "audit --repo ivan/app"), 0);
        assert_null(strstr(f->out, "jane"));
        assert_int_equal(run(f, NULL, "audit --since 2999-01-01"), 0);
        assert_null(strstr(f->out, "ivan"));
        assert_int_equal(run(f, NULL, "audit --since yesterday"), 2);
}

/* A row holding raw control bytes (written before values were escaped on the way
 * in) is printed escaped: one line, no ESC, no carriage return. */
static void test_audit_prints_raw_rows_escaped(void **state) {
        fixture_t *f = *state;
        char path[300];
        sqlite3 *db;
        const char *nl;
        int lines = 0;

        assert_int_equal(run(f, "pw\n", "user add ivan"), 0);
        snprintf(path, sizeof(path), "%s/berth.db", f->dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "INSERT INTO auth_audit(ts, user, client, action, repo, detail) "
                                          "VALUES (strftime('%s','now'), 'ivan', '127.0.0.1', 'push', "
                                          "'ivan/app', 'x' || char(10) || 'FAKE' || char(9) || 'admin' "
                                          "|| char(27) || '[31m' || char(13) || 'a\\b')",
                                      NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(run(f, NULL, "audit"), 0);
        for (const char *p = f->out; (nl = strchr(p, '\n')); p = nl + 1)
                lines++;
        assert_int_equal(lines, 2); /* header and the row */
        assert_null(strchr(f->out, '\x1b'));
        assert_null(strchr(f->out, '\r'));
        assert_non_null(strstr(f->out, "\tivan/app\tx\\nFAKE\\tadmin\\x1b[31m\\ra\\\\b\n"));
}

static void test_unknown_command(void **state) {
        fixture_t *f = *state;

        assert_int_equal(run(f, NULL, "user frobnicate"), 2);
        assert_non_null(strstr(f->err, "usage:"));
        assert_int_equal(run(f, NULL, "bogus"), 2);
}

/* The process's one database (berthd opens it with --db and hands it over): the
 * commands and a second auth work on it, and it stays the caller's after both. */
static void test_commands_on_one_database(void **state) {
        fixture_t *f = *state;
        char path[300], *argv_add[] = { "user", "add", "dora", NULL }, *argv_list[] = { "user", "list", NULL };
        char *out = NULL, *err = NULL;
        size_t out_len = 0, err_len = 0;
        db_t *db = NULL;
        auth_t *a = NULL;
        FILE *in, *o, *e;

        assert_int_equal(fx_path(path, sizeof(path), f->dir, "elsewhere.db"), 0);
        assert_int_equal(db_open_opts(path, &(db_options_t){ .password = NULL }, &db), 0);
        in = fmemopen((void *) "doradoradora\n", 13, "r");
        o = open_memstream(&out, &out_len);
        e = open_memstream(&err, &err_len);
        assert_int_equal(cli_auth_run_db(db, 3, argv_add, in, o, e), 0);
        fclose(in);
        assert_int_equal(cli_auth_run_db(db, 2, argv_list, stdin, o, e), 0);
        fclose(o);
        fclose(e);
        assert_non_null(strstr(out, "dora\tno\t"));
        free(out);
        free(err);
        /* a second auth on the same db_t sees the user; freeing it leaves db open */
        assert_int_equal(auth_open_db(db, NULL, &a), 0);
        assert_ptr_equal(auth_db(a), db);
        assert_int_equal(auth_credentials_verify(a, "dora", "doradoradora"), 0);
        auth_free(a);
        assert_true(db_schema_version(db) > 0);
        db_free(db);
        /* the data directory's default database was never made */
        assert_int_equal(fx_path(path, sizeof(path), f->dir, "berth.db"), 0);
        assert_int_equal(access(path, F_OK), -1);
}

static void test_usage_needs_no_database(void **state) {
        fixture_t *f = *state;
        char *err = NULL;
        size_t len = 0;
        FILE *e = open_memstream(&err, &len);

        assert_int_equal(cli_auth_usage(e), 2);
        fclose(e);
        assert_non_null(strstr(err, "--db URL"));
        free(err);
        (void) f;
}

int main(void) {
        /* Cheap argon2 for every auth_open of the commands. */
        setenv("BERTH_ARGON2_MEMORY_KIB", "64", 1);
        setenv("BERTH_ARGON2_PASSES", "1", 1);
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_user_add_password_from_stdin),
                T(test_user_add_generates_password),
                T(test_user_add_duplicate_fails),
                T(test_user_list),
                T(test_user_passwd_and_del),
                T(test_project_and_members),
                T(test_user_and_project_names_do_not_collide),
                T(test_token_create_list_revoke),
                T(test_token_create_secret_yaml),
                T(test_secret_for_user),
                T(test_secret_refuses_wrong_password),
                T(test_audit_filters),
                T(test_audit_prints_raw_rows_escaped),
                T(test_unknown_command),
                T(test_commands_on_one_database),
                T(test_usage_needs_no_database),
        };
#undef T
        return cmocka_run_group_tests(tests, NULL, NULL);
}
