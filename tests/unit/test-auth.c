/* tests/unit/test-auth.c: credentials, cache, throttling and the access policy. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include <cmocka.h>
#include "storage/db.h"
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/macro.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char target[512]; /* the database: dir/berth.db, or PostgreSQL (fixture.h) */
        fx_clock_t clock;
        auth_options_t opt;
        auth_t *a;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "auth") < 0)
                return -1;
        f->clock.now = 1700000000;
        f->opt = fx_auth_options(&f->clock); /* cheap argon2 for tests */
        if (fx_db_target(f->target, sizeof(f->target), f->dir, "berth.db") < 0 ||
            auth_open_target(f->target, &f->opt, &f->a) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        auth_free(f->a);
        fx_db_drop(f->target);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* "Basic base64(user:pw)" in buf. */
static const char *basic(char *buf, size_t size, const char *user, const char *pw) {
        char up[512];
        char *b64;
        snprintf(up, sizeof(up), "%s:%s", user, pw);
        b64 = base64_encode_alloc(BASE64_STD, up, strlen(up));
        assert_non_null(b64);
        snprintf(buf, size, "Basic %s", b64);
        free(b64);
        return buf;
}

static int check(fixture_t *f, const char *user, const char *pw, const char *repo,
                 unsigned actions, auth_result_t *ret) {
        char hdr[1024];
        auth_result_t tmp;
        return auth_check(f->a, user ? basic(hdr, sizeof(hdr), user, pw) : NULL, "192.0.2.1",
                          repo, actions, ret ? ret : &tmp);
}

static uint64_t argon2_count(auth_t *a) {
        auth_stats_t s;
        auth_stats(a, &s);
        return s.argon2_verifications;
}

/* ---- password hashing ---- */

static void test_hash_is_argon2id_phc(void **state) {
        fixture_t *f = *state;
        char *h = NULL;

        assert_int_equal(auth_password_hash(f->a, "correct horse", &h), 0);
        assert_true(strncmp(h, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0);
        /* salt and tag follow, '$'-separated, unpadded base64 */
        assert_non_null(strchr(h + 28, '$'));
        assert_null(strstr(h, "correct horse"));
        free(h);
}

static void test_hash_default_cost_is_64mib_3_passes(void **state) {
        fixture_t *f = *state;
        auth_t *a = NULL;
        char *h = NULL;

        (void) unsetenv("BERTH_ARGON2_MEMORY_KIB");
        (void) unsetenv("BERTH_ARGON2_PASSES");
        assert_int_equal(auth_open_target(f->target, NULL, &a), 0);
        assert_int_equal(auth_password_hash(a, "pw", &h), 0);
        assert_true(strncmp(h, "$argon2id$v=19$m=65536,t=3,p=1$", 31) == 0);
        free(h);
        auth_free(a);
}

static void test_hash_cost_from_environment(void **state) {
        fixture_t *f = *state;
        auth_t *a = NULL;
        char *h = NULL;

        assert_int_equal(setenv("BERTH_ARGON2_MEMORY_KIB", "128", 1), 0);
        assert_int_equal(setenv("BERTH_ARGON2_PASSES", "2", 1), 0);
        assert_int_equal(auth_open_target(f->target, NULL, &a), 0);
        assert_int_equal(auth_password_hash(a, "pw", &h), 0);
        assert_true(strncmp(h, "$argon2id$v=19$m=128,t=2,p=1$", 29) == 0);
        free(h);
        auth_free(a);
        (void) unsetenv("BERTH_ARGON2_MEMORY_KIB");
        (void) unsetenv("BERTH_ARGON2_PASSES");
}

static void test_verify_right_password(void **state) {
        fixture_t *f = *state;
        auth_result_t r;

        assert_int_equal(auth_user_add(f->a, "alice", "s3cret", false), 0);
        assert_int_equal(check(f, "alice", "s3cret", NULL, 0, &r), 0);
        assert_string_equal(r.name, "alice");
        assert_false(r.anonymous);
        assert_false(r.robot);
}

static void test_verify_wrong_password(void **state) {
        fixture_t *f = *state;
        auth_result_t r;

        assert_int_equal(auth_user_add(f->a, "alice", "s3cret", false), 0);
        assert_int_equal(check(f, "alice", "s3creT", NULL, 0, &r), BERTH_EAUTH);
        assert_string_equal(r.name, "alice"); /* the claimed name, for the log */
        assert_int_equal(check(f, "nobody", "s3cret", NULL, 0, NULL), BERTH_EAUTH);
}

/* ---- Basic header parsing ---- */

static int parse(const char *h) {
        char u[AUTH_NAME_MAX + 1], p[AUTH_PASSWORD_MAX + 1];
        return auth_basic_parse(h, strlen(h), u, sizeof(u), p, sizeof(p));
}

static void test_basic_parse_valid(void **state) {
        char u[AUTH_NAME_MAX + 1], p[AUTH_PASSWORD_MAX + 1];
        const char *h = "Basic YWxpY2U6cGE6c3M="; /* alice:pa:ss */
        (void) state;

        assert_int_equal(auth_basic_parse(h, strlen(h), u, sizeof(u), p, sizeof(p)), 0);
        assert_string_equal(u, "alice");
        assert_string_equal(p, "pa:ss"); /* only the first ':' splits */
        assert_int_equal(parse("basic   YWxpY2U6cGE6c3M=  "), 0); /* scheme case, spaces */
        assert_int_equal(parse("Basic YWxpY2U6cGE6c3M"), 0);      /* padding omitted */
        assert_int_equal(parse("Basic YWxpY2U6"), 0);             /* empty password */
}

static void test_basic_parse_bad_base64(void **state) {
        (void) state;
        assert_int_equal(parse("Basic YWxp!2U6cGFzcw=="), BERTH_EAUTH);
        assert_int_equal(parse("Basic YWxpY2U6cGFzcw==="), BERTH_EAUTH); /* too much padding */
        assert_int_equal(parse("Basic YWxpY2U6cGFzc"), BERTH_EAUTH);     /* 1 char left over */
        assert_int_equal(parse("Basic YW=xpY2U6cGFzcw"), BERTH_EAUTH);   /* padding inside */
        assert_int_equal(parse("Basic YWxpY2U6cGFzcx=="), BERTH_EAUTH);  /* non-zero tail bits */
}

static void test_basic_parse_no_colon(void **state) {
        (void) state;
        assert_int_equal(parse("Basic YWxpY2U="), BERTH_EAUTH); /* "alice" */
}

static void test_basic_parse_empty_user(void **state) {
        (void) state;
        assert_int_equal(parse("Basic OnBhc3M="), BERTH_EAUTH); /* ":pass" */
}

static void test_basic_parse_wrong_scheme_or_empty(void **state) {
        (void) state;
        assert_int_equal(parse("Bearer YWxpY2U6cGFzcw=="), BERTH_EAUTH);
        assert_int_equal(parse("BasicYWxpY2U6cGFzcw=="), BERTH_EAUTH);
        assert_int_equal(parse("Basic "), BERTH_EAUTH);
        assert_int_equal(parse(""), BERTH_EAUTH);
}

static void test_basic_parse_control_characters(void **state) {
        (void) state;
        assert_int_equal(parse("Basic YWwAY2U6cGFzcw=="), BERTH_EAUTH); /* NUL in user */
        assert_int_equal(parse("Basic YWxpY2U6cGEKc3M="), BERTH_EAUTH); /* LF in password */
}

static void test_basic_parse_overlong(void **state) {
        fixture_t *f = *state;
        size_t n = AUTH_HEADER_MAX + 16;
        char *h = malloc(n + 1);
        auth_result_t r;

        assert_non_null(h);
        memcpy(h, "Basic ", 6);
        memset(h + 6, 'A', n - 6);
        h[n] = '\0';
        assert_int_equal(auth_basic_parse(h, n, (char[8]){0}, 8, (char[8]){0}, 8), BERTH_EAUTH);
        assert_int_equal(auth_check(f->a, h, "192.0.2.1", NULL, 0, &r), BERTH_EAUTH);
        /* A user name longer than the caller's buffer is refused, not truncated. */
        assert_int_equal(auth_basic_parse("Basic YWxpY2U6eA==", 18, (char[4]){0}, 4,
                                          (char[8]){0}, 8),
                         BERTH_EAUTH);
        free(h);
}

/* ---- roles and projects ---- */

static void test_role_table(void **state) {
        fixture_t *f = *state;
        static const struct {
                const char *role;
                int pull, push, del;
        } rows[] = {
                {"reader", 0, BERTH_EDENIED, BERTH_EDENIED},
                {"developer", 0, 0, BERTH_EDENIED},
                {"maintainer", 0, 0, 0},
                {"admin", 0, 0, 0},
        };

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                char name[16];
                snprintf(name, sizeof(name), "u%zu", i);
                assert_int_equal(auth_user_add(f->a, name, "pw", false), 0);
                assert_int_equal(auth_member_add(f->a, "team", name, auth_role_parse(rows[i].role)), 0);
                assert_int_equal(check(f, name, "pw", "team/app", AUTH_PULL, NULL), rows[i].pull);
                assert_int_equal(check(f, name, "pw", "team/app", AUTH_PUSH, NULL), rows[i].push);
                assert_int_equal(check(f, name, "pw", "team/app", AUTH_DELETE, NULL), rows[i].del);
                /* a right in one project is not a right in another */
                assert_int_equal(check(f, name, "pw", "other/app", AUTH_PULL, NULL), BERTH_EDENIED);
        }
        assert_int_equal(auth_role_parse("owner"), -EINVAL);
}

static void test_non_member_denied(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(check(f, "bob", "pw", "team/app", AUTH_PULL, NULL), BERTH_EDENIED);
        assert_int_equal(check(f, "bob", "pw", "team", AUTH_PULL, NULL), BERTH_EDENIED);
}

static void test_admin_user_may_do_everything(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "root", "pw", true), 0);
        assert_int_equal(check(f, "root", "pw", "any/thing/here", AUTH_PULL | AUTH_PUSH | AUTH_DELETE,
                               NULL), 0);
}

static void test_public_project_anonymous_pull(void **state) {
        fixture_t *f = *state;
        auth_result_t r;

        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(check(f, NULL, NULL, "pub/app", AUTH_PULL, &r), 0);
        assert_true(r.anonymous);
        assert_int_equal(check(f, NULL, NULL, "pub/app", AUTH_PUSH, NULL), BERTH_EAUTH);
        assert_int_equal(check(f, NULL, NULL, "pub/app", AUTH_PULL | AUTH_PUSH, NULL), BERTH_EAUTH);
}

/* skopeo answers a Basic challenge with empty credentials ("Basic Og=="):
 * that is an anonymous caller, not a failed login. */
static void test_empty_basic_credentials_are_anonymous(void **state) {
        fixture_t *f = *state;
        auth_result_t r;

        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_project_create(f->a, "priv", false), 0);
        assert_int_equal(auth_check(f->a, "Basic Og==", "192.0.2.1", "pub/app", AUTH_PULL, &r), 0);
        assert_true(r.anonymous);
        assert_int_equal(auth_check(f->a, "basic  Og", "192.0.2.1", "pub/app", AUTH_PULL, &r), 0);
        assert_int_equal(auth_check(f->a, "Basic Og==", "192.0.2.1", "priv/app", AUTH_PULL, &r), BERTH_EAUTH);
        assert_int_equal(auth_check(f->a, "Basic Og==", "192.0.2.1", "pub/app", AUTH_PUSH, &r), BERTH_EAUTH);
}

static void test_private_project_anonymous_pull_refused(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_project_create(f->a, "priv", false), 0);
        assert_int_equal(check(f, NULL, NULL, "priv/app", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check(f, NULL, NULL, "nosuch/app", AUTH_PULL, NULL), BERTH_EAUTH);
}

static void test_public_project_pull_for_any_user(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(check(f, "bob", "pw", "pub/app", AUTH_PULL, NULL), 0);
        assert_int_equal(check(f, "bob", "pw", "pub/app", AUTH_PUSH, NULL), BERTH_EDENIED);
}

static void test_base_probe_needs_credentials(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, NULL, NULL, NULL, 0, NULL), BERTH_EAUTH);
        assert_int_equal(auth_check(f->a, "", "192.0.2.1", NULL, 0, &(auth_result_t){0}), BERTH_EAUTH);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
}

static void test_own_namespace(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", "alice/app", AUTH_PULL | AUTH_PUSH | AUTH_DELETE,
                               NULL), 0);
        assert_int_equal(check(f, "alice", "pw", "alice/deep/app", AUTH_PUSH, NULL), 0);
        assert_int_equal(check(f, "alice", "pw", "bob/app", AUTH_PULL, NULL), BERTH_EDENIED);
        assert_int_equal(check(f, "alice", "pw", "alicex/app", AUTH_PULL, NULL), BERTH_EDENIED);
}

static void test_names_shared_by_user_and_project_refused(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_user_add(f->a, "team", "pw", false), AUTH_ENAME_TAKEN);
        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(auth_project_create(f->a, "alice", false), AUTH_ENAME_TAKEN);
        assert_int_equal(auth_project_create(f->a, "alice", true), AUTH_ENAME_TAKEN);
        /* the old codes stay for the old conflicts */
        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), -EEXIST);
        assert_int_equal(auth_project_create(f->a, "team", false), -EEXIST);
        assert_int_equal(check(f, "team", "pw", "team/app", AUTH_PULL, NULL), BERTH_EAUTH);
}

/* A database made before the names were kept apart may hold a user and a project
 * of one name: the project's rules win, the user gets no namespace there. */
static void test_own_namespace_never_a_project(void **state) {
        fixture_t *f = *state;
        auth_conn_t *c = NULL;

        assert_int_equal(auth_user_add(f->a, "team", "pw", false), 0);
        assert_int_equal(check(f, "team", "pw", "team/app", AUTH_PUSH | AUTH_PULL, NULL), 0);
        assert_int_equal(auth_conn_get(f->a, &c), 0);
        assert_int_equal(auth_tx_begin(c), 0);
        {
                static const char sql[] = "INSERT INTO auth_projects(name, public, created) VALUES ('team', 0, 0)";
                db_stmt_t *st = NULL;
                assert_int_equal(db_stmt(c, sql, &st), 0);
                assert_int_equal(db_step_done(st), 0);
                db_stmt_reset(st);
        }
        assert_int_equal(auth_tx_commit_change(c), 0);
        auth_conn_put(f->a, c);
        assert_int_equal(check(f, "team", "pw", "team/app", AUTH_PULL, NULL), BERTH_EDENIED);
        assert_int_equal(check(f, "team", "pw", "team", AUTH_PULL, NULL), BERTH_EDENIED);
        assert_int_equal(auth_project_set_public(f->a, "team", true), 0);
        assert_int_equal(check(f, "team", "pw", "team/app", AUTH_PULL, NULL), 0);
        assert_int_equal(check(f, "team", "pw", "team/app", AUTH_PUSH | AUTH_PULL, NULL), BERTH_EDENIED);
        assert_int_equal(auth_member_add(f->a, "team", "team", AUTH_ROLE_DEVELOPER), 0);
        assert_int_equal(check(f, "team", "pw", "team/app", AUTH_PUSH | AUTH_PULL, NULL), 0);
        assert_int_equal(check(f, "team", "pw", "team/app", AUTH_DELETE, NULL), BERTH_EDENIED);
}

static void test_may_pull_filters_catalog(void **state) {
        fixture_t *f = *state;
        auth_result_t r;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(auth_member_add(f->a, "team", "alice", AUTH_ROLE_READER), 0);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, &r), 0);
        assert_true(auth_may_pull(f->a, &r, "team/app"));
        assert_true(auth_may_pull(f->a, &r, "pub/app"));
        assert_true(auth_may_pull(f->a, &r, "alice/app"));
        assert_false(auth_may_pull(f->a, &r, "secret/app"));
}

static void expect_visible(fixture_t *f, const auth_result_t *who, const char *want) {
        char **v = NULL, got[512] = "";
        int r = auth_visible_projects(f->a, who, &v);

        if (!want) {
                assert_int_equal(r, 1); /* everything */
                return;
        }
        assert_int_equal(r, 0);
        for (size_t i = 0; v[i]; i++) {
                strcat(got, v[i]);
                strcat(got, " ");
                free(v[i]);
        }
        free(v);
        assert_string_equal(got, want);
}

static void test_visible_projects(void **state) {
        fixture_t *f = *state;
        auth_result_t who = {0};
        char *name = NULL, *secret = NULL;
        char hdr[1024];

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_project_create(f->a, "a-pub", true), 0);
        assert_int_equal(auth_project_create(f->a, "secret", false), 0);
        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(auth_user_add(f->a, "root", "pw", true), 0);
        assert_int_equal(auth_member_add(f->a, "team", "alice", AUTH_ROLE_READER), 0);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, &who), 0);
        expect_visible(f, &who, "a-pub alice pub team ");
        assert_int_equal(check(f, "root", "pw", NULL, 0, &who), 0);
        expect_visible(f, &who, NULL);
        memset(&who, 0, sizeof(who));
        who.anonymous = true;
        expect_visible(f, &who, "a-pub pub ");
        assert_int_equal(auth_token_create(f->a, "ci", false, 0, &name, &secret), 0);
        assert_int_equal(auth_check(f->a, basic(hdr, sizeof(hdr), name, secret), "192.0.2.1", NULL, 0, &who), 0);
        assert_true(who.robot);
        expect_visible(f, &who, "a-pub ci pub ");
        free(name);
        free(secret);
}

static void test_mode_none_allows_everything(void **state) {
        fixture_t *f = *state;
        auth_options_t o = f->opt;
        auth_result_t r;
        auth_t *a = NULL;

        o.mode = AUTH_MODE_NONE;
        assert_int_equal(auth_open_target(f->target, &o, &a), 0);
        assert_int_equal(auth_check(a, NULL, "192.0.2.1", "x/y", AUTH_PUSH | AUTH_DELETE, &r), 0);
        assert_int_equal(auth_check(a, NULL, "192.0.2.1", NULL, 0, &r), 0);
        assert_true(auth_may_pull(a, &r, "x/y"));
        auth_free(a);
}

/* ---- cache ---- */

static void test_cache_hit_skips_argon2(void **state) {
        fixture_t *f = *state;
        auth_stats_t s;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", "alice/x", AUTH_PULL, NULL), 0);
        assert_int_equal(argon2_count(f->a), 1);
        for (int i = 0; i < 5; i++)
                assert_int_equal(check(f, "alice", "pw", "alice/x", AUTH_PUSH, NULL), 0);
        auth_stats(f->a, &s);
        assert_int_equal(s.argon2_verifications, 1);
        assert_int_equal(s.cache_hits, 5);
}

static void test_cache_expires(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
        f->clock.now += 61;
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
        assert_int_equal(argon2_count(f->a), 2);
}

/* Credentials in use are verified again shortly before their entry expires, once,
 * in the background: the requests go on from the cache meanwhile, and after the old
 * expiry they still do (no burst of verifications of one password at expiry). */
static void test_cache_refreshed_ahead_of_expiry(void **state) {
        fixture_t *f = *state;
        auth_result_t r;
        auth_job_t *job = NULL;
        char hdr[256];

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        basic(hdr, sizeof(hdr), "alice", "pw");
        assert_int_equal(check(f, "alice", "pw", "alice/x", AUTH_PULL, NULL), 0);
        assert_int_equal(argon2_count(f->a), 1);
        /* early in the entry's life: no refresh */
        f->clock.now += 30;
        assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "alice/x", AUTH_PULL, &r, &job), 0);
        assert_null(job);
        /* within the last sixth: the requests are answered from the cache at once, and
         * one of them sets off one verification */
        f->clock.now += 25;
        for (int i = 0; i < 5; i++) {
                assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "alice/x", AUTH_PULL, &r, &job), 0);
                assert_null(job);
                assert_string_equal(r.name, "alice");
        }
        auth_verify_drain(f->a); /* the background verification done */
        assert_int_equal(argon2_count(f->a), 2);
        /* past the first entry's expiry: still from the cache */
        f->clock.now += 10;
        assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "alice/x", AUTH_PULL, &r, &job), 0);
        assert_null(job);
        assert_int_equal(argon2_count(f->a), 2);
        /* the refreshed entry still ends: unused for its whole life, it expires */
        f->clock.now += 61;
        assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "alice/x", AUTH_PULL, &r, &job), AUTH_PENDING);
        assert_non_null(job);
        auth_job_free(job);
}

/* A refresh does not outlive a change: the entry it writes carries the change
 * counter read before it, and a change bumps the counter. */
static void test_cache_refresh_then_password_change(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
        f->clock.now += 55;
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0); /* sets off a refresh */
        assert_int_equal(auth_user_passwd(f->a, "alice", "pw2"), 0);
        auth_verify_drain(f->a);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), BERTH_EAUTH);
        assert_int_equal(check(f, "alice", "pw2", NULL, 0, NULL), 0);
}

static void test_wrong_password_not_served_from_cache(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
        assert_int_equal(check(f, "alice", "pw2", NULL, 0, NULL), BERTH_EAUTH);
}

/* A change made through another auth_t on the database (another process: the
 * admin commands, another replica) applies on f->a's next check once f->a's
 * process has heard of it: SQLite at once (PRAGMA data_version); PostgreSQL when
 * the notification is delivered, which is waited for here (at most 10 s). Before
 * the change: other_change_begin; after it: other_change_heard. */
static uint64_t other_change_begin(fixture_t *f) {
        for (int i = 0; fx_pg() && i < 1000 && !db_notify_listening(f->a->db); i++)
                usleep(10000);
        assert_true(db_notify_listening(f->a->db));
        return atomic_load(&f->a->changes);
}

static uint64_t other_change_heard(fixture_t *f, uint64_t before) {
        for (int i = 0; fx_pg() && i < 1000 && atomic_load(&f->a->changes) == before; i++)
                usleep(10000);
        if (fx_pg())
                assert_true(atomic_load(&f->a->changes) != before);
        return atomic_load(&f->a->changes);
}

static void test_password_change_in_other_process_invalidates_cache(void **state) {
        fixture_t *f = *state;
        auth_t *cli = NULL;

        assert_int_equal(auth_user_add(f->a, "alice", "old", false), 0);
        assert_int_equal(check(f, "alice", "old", NULL, 0, NULL), 0);
        assert_int_equal(check(f, "alice", "old", NULL, 0, NULL), 0); /* cached */
        /* A second auth_t on the same database stands for `berthd user passwd`. */
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_user_passwd(cli, "alice", "new"), 0);
        heard = other_change_heard(f, heard);
        auth_free(cli);
        assert_int_equal(check(f, "alice", "old", NULL, 0, NULL), BERTH_EAUTH);
        assert_int_equal(check(f, "alice", "new", NULL, 0, NULL), 0);
}

static void test_user_delete_in_other_process_refused_at_once(void **state) {
        fixture_t *f = *state;
        auth_t *cli = NULL;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", "alice/x", AUTH_PULL, NULL), 0);
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_user_del(cli, "alice"), 0);
        heard = other_change_heard(f, heard);
        auth_free(cli);
        assert_int_equal(check(f, "alice", "pw", "alice/x", AUTH_PULL, NULL), BERTH_EAUTH);
}

static void test_rights_change_applies_at_once(void **state) {
        fixture_t *f = *state;
        auth_t *cli = NULL;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(auth_member_add(f->a, "team", "bob", AUTH_ROLE_DEVELOPER), 0);
        assert_int_equal(check(f, "bob", "pw", "team/app", AUTH_PUSH, NULL), 0);
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_member_add(cli, "team", "bob", AUTH_ROLE_READER), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check(f, "bob", "pw", "team/app", AUTH_PUSH, NULL), BERTH_EDENIED);
        assert_int_equal(auth_member_del(cli, "team", "bob"), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check(f, "bob", "pw", "team/app", AUTH_PULL, NULL), BERTH_EDENIED);
        auth_free(cli);
}

typedef struct {
        fixture_t *f;
        int failures;
} worker_t;

static void *check_loop(void *p) {
        worker_t *w = p;
        char hdr[256];
        auth_result_t r;

        basic(hdr, sizeof(hdr), "alice", "pw");
        for (int i = 0; i < 2000; i++)
                if (auth_check(w->f->a, hdr, "192.0.2.9", i % 2 ? "alice/app" : NULL, AUTH_PULL, &r) != 0 ||
                    strcmp(r.name, "alice") != 0)
                        w->failures++;
        return NULL;
}

static void test_concurrent_checks_share_the_cache(void **state) {
        fixture_t *f = *state;
        pthread_t th[4];
        worker_t w[4];

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        for (int i = 0; i < 4; i++) {
                w[i] = (worker_t){.f = f};
                assert_int_equal(pthread_create(&th[i], NULL, check_loop, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                assert_int_equal(pthread_join(th[i], NULL), 0);
                assert_int_equal(w[i].failures, 0);
        }
        /* at most one verification per thread racing on the first miss */
        assert_in_range(argon2_count(f->a), 1, 4);
}

/* ---- robot tokens ---- */

static void test_token_pull_allowed(void **state) {
        fixture_t *f = *state;
        char *name = NULL, *secret = NULL;
        auth_result_t r;
        uint64_t before;

        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", false, 0, &name, &secret), 0);
        assert_true(strncmp(name, "robot.ci.", 9) == 0);
        assert_null(strchr(name, '$'));
        assert_true(strlen(secret) >= 40);
        before = argon2_count(f->a);
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_PULL, &r), 0);
        assert_true(r.robot);
        assert_string_equal(r.name, name);
        assert_int_equal(argon2_count(f->a), before); /* robots skip argon2 */
        assert_int_equal(check(f, name, "wrong", "ci/app", AUTH_PULL, NULL), BERTH_EAUTH);
        free(name);
        free(secret);
}

static void test_token_pull_only_refuses_push(void **state) {
        fixture_t *f = *state;
        char *name = NULL, *secret = NULL;

        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_project_create(f->a, "other", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", false, 0, &name, &secret), 0);
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_PUSH, NULL), BERTH_EDENIED);
        assert_int_equal(check(f, name, secret, "other/app", AUTH_PULL, NULL), BERTH_EDENIED);
        free(name);
        free(secret);
        assert_int_equal(auth_token_create(f->a, "ci", true, 0, &name, &secret), 0);
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_PULL | AUTH_PUSH, NULL), 0);
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_DELETE, NULL), BERTH_EDENIED);
        free(name);
        free(secret);
}

static void test_token_revoked_refused_at_once(void **state) {
        fixture_t *f = *state;
        char *name = NULL, *secret = NULL;
        auth_t *cli = NULL;

        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", false, 0, &name, &secret), 0);
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_PULL, NULL), 0);
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_token_revoke(cli, name), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(auth_token_revoke(cli, name), -ENOENT);
        auth_free(cli);
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_PULL, NULL), BERTH_EAUTH);
        free(name);
        free(secret);
}

static void test_token_expired_refused(void **state) {
        fixture_t *f = *state;
        char *name = NULL, *secret = NULL;

        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", false, f->clock.now + 30, &name, &secret), 0);
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_PULL, NULL), 0);
        f->clock.now += 31; /* within the cache lifetime, past the expiry */
        assert_int_equal(check(f, name, secret, "ci/app", AUTH_PULL, NULL), BERTH_EAUTH);
        free(name);
        free(secret);
}

static void test_token_needs_project(void **state) {
        fixture_t *f = *state;
        char *name = NULL, *secret = NULL;

        assert_int_equal(auth_token_create(f->a, "nosuch", false, 0, &name, &secret), -ENOENT);
        assert_null(name);
}

/* ---- throttling ---- */

/* A different wrong password each time (the same one again is not a new guess). */
static const char *guess(void) {
        static char buf[32];
        static unsigned n;
        snprintf(buf, sizeof(buf), "guess-%u", n++);
        return buf;
}

static void test_throttle_engages_and_releases(void **state) {
        fixture_t *f = *state;
        auth_result_t r;
        int i;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        for (i = 0; i < (int) 4; i++)
                assert_int_equal(check(f, "alice", guess(), NULL, 0, NULL), BERTH_EAUTH);
        /* The 4th failure started a delay: even the right password waits now. */
        assert_int_equal(check(f, "alice", "pw", NULL, 0, &r), BERTH_ETHROTTLED);
        assert_true(r.retry_after >= 1);
        f->clock.now += r.retry_after;
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
}

static void test_throttle_delay_grows(void **state) {
        fixture_t *f = *state;
        auth_result_t r;
        unsigned prev = 0;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(check(f, "alice", guess(), NULL, 0, NULL), BERTH_EAUTH);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(check(f, "alice", guess(), NULL, 0, NULL), BERTH_EAUTH);
                assert_int_equal(check(f, "alice", guess(), NULL, 0, &r), BERTH_ETHROTTLED);
                assert_true(r.retry_after > prev);
                prev = r.retry_after;
                f->clock.now += r.retry_after;
        }
}

/* A name under attack from several addresses (issue 9, item 4): every address
 * that has not been failing on it is still verified (so a correct password works
 * there), and gets one free failure before its own delays start. */
static void test_throttle_name_under_attack(void **state) {
        fixture_t *f = *state;
        char hdr[256], addr[32];
        auth_result_t r;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        for (int i = 0; i < 4; i++) {
                basic(hdr, sizeof(hdr), "alice", guess());
                snprintf(addr, sizeof(addr), "198.51.100.%d", i);
                assert_int_equal(auth_check(f->a, hdr, addr, NULL, 0, &r), BERTH_EAUTH);
        }
        /* a new address is verified: a guess fails as wrong, not as throttled */
        basic(hdr, sizeof(hdr), "alice", guess());
        assert_int_equal(auth_check(f->a, hdr, "198.51.100.99", NULL, 0, &r), BERTH_EAUTH);
        /* and its next guess waits: one free failure on a name under attack */
        basic(hdr, sizeof(hdr), "alice", guess());
        assert_int_equal(auth_check(f->a, hdr, "198.51.100.99", NULL, 0, &r), BERTH_ETHROTTLED);
        assert_true(r.retry_after >= 1);
        /* the real password from an address that has not been failing */
        basic(hdr, sizeof(hdr), "alice", "pw");
        assert_int_equal(auth_check(f->a, hdr, "198.51.100.200", NULL, 0, &r), 0);
        assert_string_equal(r.name, "alice");
}

/* An address guessing many names (issue 9, item 4): names that have failed from it
 * wait after one failure; a user who has not been failing from it (a neighbour
 * behind the same NAT) logs in. */
static void test_throttle_address_guessing_many_names(void **state) {
        fixture_t *f = *state;
        char hdr[256], user[16];
        auth_result_t r;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        /* 5 x the free failures of one name (20 by default) on other names */
        for (int i = 0; i < 20; i++) {
                snprintf(user, sizeof(user), "u%d", i);
                basic(hdr, sizeof(hdr), user, guess());
                assert_int_equal(auth_check(f->a, hdr, "203.0.113.7", NULL, 0, &r), BERTH_EAUTH);
        }
        basic(hdr, sizeof(hdr), "someone", guess());
        assert_int_equal(auth_check(f->a, hdr, "203.0.113.7", NULL, 0, &r), BERTH_EAUTH);
        basic(hdr, sizeof(hdr), "someone", guess());
        assert_int_equal(auth_check(f->a, hdr, "203.0.113.7", NULL, 0, &r), BERTH_ETHROTTLED);
        assert_true(r.retry_after >= 1);
        basic(hdr, sizeof(hdr), "u0", guess());
        assert_int_equal(auth_check(f->a, hdr, "203.0.113.7", NULL, 0, &r), BERTH_ETHROTTLED);
        /* elsewhere nothing changed */
        assert_int_equal(auth_check(f->a, hdr, "203.0.113.8", NULL, 0, &r), BERTH_EAUTH);
        /* alice, not failing from the busy address, logs in there */
        basic(hdr, sizeof(hdr), "alice", "pw");
        assert_int_equal(auth_check(f->a, hdr, "203.0.113.7", NULL, 0, &r), 0);
}

/* Issue 9, item 4: an attacker at 127.0.0.2 guessing a name, fast and then one
 * guess every <= 300 s for hours, never makes the correct secret fail from
 * 127.0.0.1, verified afresh each time (the cache expired), during the attack and
 * after it; the attacker is refused with a Retry-After. For a user and a robot. */
static void lockout_never(fixture_t *f, const char *name, const char *secret, const char *repo) {
        char hdr[256];
        auth_result_t r;
        unsigned refused = 0, max_retry = 0;
        auth_stats_t st;
        uint64_t hits;

        for (int round = 0; round < 60; round++) {
                /* a pause of up to 300 s (longer than the cache lifetime: the
                 * secret is verified afresh below), then a burst of guesses */
                f->clock.now += round % 5 == 0 ? 300 : 61 + round;
                for (int i = 0; i < 8; i++) {
                        int e = auth_check(f->a, basic(hdr, sizeof(hdr), name, guess()), "127.0.0.2",
                                           repo, AUTH_PULL, &r);
                        assert_true(e == BERTH_EAUTH || e == BERTH_ETHROTTLED);
                        if (e == BERTH_ETHROTTLED) {
                                refused++;
                                assert_true(r.retry_after >= 1);
                                assert_true(r.retry_after <= 300);
                                if (r.retry_after > max_retry)
                                        max_retry = r.retry_after;
                        }
                }
                /* right after the attacker's guesses */
                auth_stats(f->a, &st);
                hits = st.cache_hits;
                assert_int_equal(auth_check(f->a, basic(hdr, sizeof(hdr), name, secret), "127.0.0.1",
                                            repo, AUTH_PULL, &r), 0);
                assert_string_equal(r.name, name);
                auth_stats(f->a, &st);
                assert_int_equal(st.cache_hits, hits);
        }
        assert_true(refused > 0);
        assert_true(max_retry >= 8); /* the attacker's delays grew */
        /* after the attack, too */
        f->clock.now += 1000;
        assert_int_equal(auth_check(f->a, basic(hdr, sizeof(hdr), name, secret), "127.0.0.1", repo,
                                    AUTH_PULL, &r), 0);
}

static void test_lockout_user_never_refused_elsewhere(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "admin", "pw", true), 0);
        lockout_never(f, "admin", "pw", NULL);
}

static void test_lockout_robot_never_refused_elsewhere(void **state) {
        fixture_t *f = *state;
        char *name = NULL, *secret = NULL;

        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", false, 0, &name, &secret), 0);
        lockout_never(f, name, secret, "ci/app");
        free(name);
        free(secret);
}

/* A success takes the client's own failures back: a user's typos followed by her
 * password do not put her name "under attack" for the next address. */
static void test_throttle_success_takes_back_own_failures(void **state) {
        fixture_t *f = *state;
        auth_result_t r;
        char hdr[256];

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(check(f, "alice", guess(), NULL, 0, NULL), BERTH_EAUTH);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, &r), BERTH_ETHROTTLED);
        f->clock.now += r.retry_after;
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
        /* another address: its first failures are free again */
        for (int i = 0; i < 3; i++)
                assert_int_equal(auth_check(f->a, basic(hdr, sizeof(hdr), "alice", guess()),
                                            "198.51.100.5", NULL, 0, &r), BERTH_EAUTH);
}

/* Clients behind one address (a NAT, a node): a few neighbours' typos do not lock
 * out a user who has not failed. */
static void test_throttle_spares_neighbours(void **state) {
        fixture_t *f = *state;
        char hdr[256], user[16];
        auth_result_t r;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        for (int i = 0; i < 6; i++) {
                snprintf(user, sizeof(user), "n%d", i);
                basic(hdr, sizeof(hdr), user, guess());
                assert_int_equal(auth_check(f->a, hdr, "198.51.100.9", NULL, 0, &r), BERTH_EAUTH);
        }
        basic(hdr, sizeof(hdr), "alice", "pw");
        assert_int_equal(auth_check(f->a, hdr, "198.51.100.9", NULL, 0, &r), 0);
}

static void test_throttle_spares_cached_real_user(void **state) {
        fixture_t *f = *state;
        char hdr[256];
        auth_result_t r;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0); /* alice is working */
        for (int i = 0; i < 6; i++)
                (void) auth_check(f->a, basic(hdr, sizeof(hdr), "alice", guess()), "203.0.113.66",
                                  NULL, 0, &r);
        basic(hdr, sizeof(hdr), "alice", guess());
        assert_int_equal(auth_check(f->a, hdr, "203.0.113.66", NULL, 0, &r), BERTH_ETHROTTLED);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
}

static void test_throttle_state_forgotten(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(check(f, "alice", guess(), NULL, 0, NULL), BERTH_EAUTH);
        f->clock.now += 901;
        /* the three old failures are forgotten: three more do not throttle yet */
        for (int i = 0; i < 3; i++)
                assert_int_equal(check(f, "alice", guess(), NULL, 0, NULL), BERTH_EAUTH);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
}

static void test_same_wrong_credentials_retried_cheaply(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        /* a client retrying one stale password: one argon2, no throttling */
        for (int i = 0; i < 10; i++)
                assert_int_equal(check(f, "alice", "stale", NULL, 0, NULL), BERTH_EAUTH);
        assert_int_equal(argon2_count(f->a), 1);
        assert_int_equal(check(f, "alice", "pw", NULL, 0, NULL), 0);
}

static void test_wrong_credentials_accepted_after_password_change(void **state) {
        fixture_t *f = *state;
        auth_t *cli = NULL;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "next", NULL, 0, NULL), BERTH_EAUTH);
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_user_passwd(cli, "alice", "next"), 0);
        heard = other_change_heard(f, heard);
        auth_free(cli);
        assert_int_equal(check(f, "alice", "next", NULL, 0, NULL), 0);
}

/* ---- bootstrap and audit ---- */

static void test_bootstrap_generates_admin_once(void **state) {
        fixture_t *f = *state;
        char *pw = NULL, *pw2 = NULL;

        assert_int_equal(auth_bootstrap(f->a, NULL, &pw), 1);
        assert_non_null(pw);
        assert_true(strlen(pw) >= 20);
        assert_int_equal(check(f, "admin", pw, "x/y", AUTH_PUSH | AUTH_DELETE, NULL), 0);
        assert_int_equal(auth_bootstrap(f->a, NULL, &pw2), 0);
        assert_null(pw2);
        assert_int_equal(check(f, "admin", pw, NULL, 0, NULL), 0); /* unchanged */
        free(pw);
}

static void test_bootstrap_given_password(void **state) {
        fixture_t *f = *state;
        char *pw = NULL;

        assert_int_equal(auth_bootstrap(f->a, "from-env", &pw), 1);
        assert_null(pw);
        assert_int_equal(check(f, "admin", "from-env", NULL, 0, NULL), 0);
}

static void test_user_names_validated(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_user_add(f->a, "Alice", "pw", false), -EINVAL);
        assert_int_equal(auth_user_add(f->a, "a$b", "pw", false), -EINVAL);
        assert_int_equal(auth_user_add(f->a, "robot.x", "pw", false), -EINVAL);
        assert_int_equal(auth_user_add(f->a, "ok", "", false), -EINVAL);
        assert_int_equal(auth_user_add(f->a, "ok", "pw", false), 0);
        assert_int_equal(auth_user_add(f->a, "ok", "pw", false), -EEXIST);
}

static int count_rows(fixture_t *f, const char *action) {
        static const char sql[] = "SELECT count(*) FROM auth_audit WHERE action = ?1";
        db_t *db = auth_db(f->a);
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int n = -1;

        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, sql, &st), 0);
        assert_int_equal(db_bind_text(st, 1, action), 0);
        if (db_step(st) == 1)
                n = (int) db_col_int(st, 0);
        db_stmt_reset(st);
        db_conn_put(db, c);
        return n;
}

static void test_audit_rows_written(void **state) {
        fixture_t *f = *state;
        auth_result_t r;

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(check(f, "alice", "pw", "alice/app", AUTH_PUSH, &r), 0);
        assert_int_equal(check(f, "alice", "nope", NULL, 0, NULL), BERTH_EAUTH);
        assert_int_equal(auth_audit(f->a, &r, "192.0.2.1", "push", "alice/app", "sha256:00"), 0);
        assert_int_equal(auth_audit_flush(f->a), 0);
        assert_int_equal(count_rows(f, "push"), 1);
        assert_int_equal(count_rows(f, "login"), 1);
        assert_int_equal(count_rows(f, "login-failed"), 1);
}

/* Many rows at once: multi-row INSERTs of a full batch, of AUDIT_STEP rows and of
 * one row, rows past what the writer thread keeps waiting (written by the caller),
 * each value in its own row and column. */
static void test_audit_many_rows_written(void **state) {
        fixture_t *f = *state;
        auth_result_t r = {0};
        static const char sql_sum[] = "SELECT count(*), count(DISTINCT detail), min(detail), max(detail)"
                                      " FROM auth_audit WHERE detail LIKE 'd%'";
        static const char sql_rows[] = "SELECT \"user\", client, action, repo, detail FROM auth_audit"
                                       " WHERE detail LIKE 'd%'";
        db_t *db = auth_db(f->a);
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        char detail[32], client[32];
        const int n = 2 * 1024 + 128 * 2 + 16 * 2 + 5;
        int rows = 0;

        snprintf(r.name, sizeof(r.name), "alice");
        for (int i = 0; i < n; i++) {
                snprintf(detail, sizeof(detail), "d%05d", i);
                snprintf(client, sizeof(client), "192.0.2.%d", i % 250);
                assert_int_equal(auth_audit(f->a, i % 3 ? &r : NULL, client, i % 2 ? "pull" : "push",
                                            i % 5 ? "alice/app" : NULL, detail), 0);
        }
        assert_int_equal(auth_audit_flush(f->a), 0);
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, sql_sum, &st), 0);
        assert_int_equal(db_step(st), 1);
        assert_int_equal(db_col_int(st, 0), n);
        assert_int_equal(db_col_int(st, 1), n);
        assert_string_equal(db_col_text(st, 2), "d00000");
        snprintf(detail, sizeof(detail), "d%05d", n - 1);
        assert_string_equal(db_col_text(st, 3), detail);
        db_stmt_reset(st);
        /* every row's columns hold that row's values */
        assert_int_equal(db_stmt(c, sql_rows, &st), 0);
        while (db_step(st) == 1) {
                int i = atoi(db_col_text(st, 4) + 1);

                snprintf(client, sizeof(client), "192.0.2.%d", i % 250);
                assert_string_equal(db_col_text(st, 0), i % 3 ? "alice" : "-");
                assert_string_equal(db_col_text(st, 1), client);
                assert_string_equal(db_col_text(st, 2), i % 2 ? "pull" : "push");
                if (i % 5)
                        assert_string_equal(db_col_text(st, 3), "alice/app");
                else
                        assert_true(db_col_null(st, 3));
                rows++;
        }
        db_stmt_reset(st);
        db_conn_put(db, c);
        assert_int_equal(rows, n);
}

/* Values reach the audit trail escaped: none can forge a row or carry a terminal
 * escape into `berthd audit` (issue 9). */
static void test_audit_values_escaped(void **state) {
        fixture_t *f = *state;
        auth_result_t r = {0};
        static const char sql[] = "SELECT \"user\", client, repo, detail FROM auth_audit WHERE action = 'push'";
        db_t *db = auth_db(f->a);
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int rows = 0;

        assert_int_equal(auth_audit(f->a, &r, "192.0.2.1\nFAKE", "push", "x/y\x1b[31m",
                                    "d\n2026-01-01\tadmin\tlogin\r\x7f\xc3\xa9"), 0);
        assert_int_equal(auth_audit_flush(f->a), 0);
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, sql, &st), 0);
        while (db_step(st) == 1) {
                rows++;
                assert_string_equal(db_col_text(st, 0), "-");
                assert_string_equal(db_col_text(st, 1), "192.0.2.1\\nFAKE");
                assert_string_equal(db_col_text(st, 2), "x/y\\x1b[31m");
                assert_string_equal(db_col_text(st, 3), "d\\n2026-01-01\\tadmin\\tlogin\\r\\x7f\\xc3\\xa9");
        }
        db_stmt_reset(st);
        db_conn_put(db, c);
        assert_int_equal(rows, 1);
}

/* ---- Bearer tokens (token mode) ---- */

#define HDR_MAX (AUTH_TOKEN_TEXT_MAX + 16)

/* A token for user:pw (user NULL: anonymous) with scope (may be NULL);
 * "Bearer <token>" in hdr. */
static int bearer_scoped(fixture_t *f, const char *user, const char *pw, const char *scope, char *hdr,
                         size_t size, auth_result_t *who) {
        char basic_hdr[1024];
        char *token = NULL;
        unsigned expires_in = 0;
        auth_result_t tmp;
        int r;

        r = auth_token_issue(f->a, user ? basic(basic_hdr, sizeof(basic_hdr), user, pw) : NULL,
                             "192.0.2.1", scope, &token, &expires_in, who ? who : &tmp);
        if (r < 0) {
                assert_null(token);
                return r;
        }
        assert_non_null(token);
        assert_true(strlen(token) <= AUTH_TOKEN_TEXT_MAX);
        for (const char *p = token; *p; p++) /* base64url, no padding, one dot */
                assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_.", *p));
        assert_int_equal(expires_in, 300);
        assert_true(strlen(token) + 8 <= size);
        snprintf(hdr, size, "Bearer %s", token);
        free(token);
        return 0;
}

static int bearer(fixture_t *f, const char *user, const char *pw, char *hdr, size_t size,
                  auth_result_t *who) {
        return bearer_scoped(f, user, pw, NULL, hdr, size, who);
}

static int check_hdr(fixture_t *f, const char *hdr, const char *repo, unsigned actions,
                     auth_result_t *ret) {
        auth_result_t tmp;
        return auth_check(f->a, hdr, "192.0.2.1", repo, actions, ret ? ret : &tmp);
}

static void test_bearer_token_proves_identity(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX];
        auth_result_t who;
        uint64_t before;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(auth_member_add(f->a, "team", "bob", AUTH_ROLE_READER), 0);
        assert_int_equal(bearer_scoped(f, "bob", "pw", "repository:team/app:pull,push repository:bob/own:pull,push",
                                       hdr, sizeof(hdr), &who), 0);
        assert_string_equal(who.name, "bob");
        assert_false(who.anonymous);
        before = argon2_count(f->a);
        assert_int_equal(check_hdr(f, hdr, NULL, 0, &who), 0); /* GET /v2/ */
        assert_int_equal(check_hdr(f, hdr, "team/app", AUTH_PULL, &who), 0);
        assert_string_equal(who.name, "bob");
        assert_int_equal(argon2_count(f->a), before); /* no argon2 per request */
        /* the scope is a ceiling, the rights are bob's */
        assert_int_equal(check_hdr(f, hdr, "team/app", AUTH_PUSH | AUTH_PULL, &who), BERTH_EDENIED);
        assert_false(who.insufficient_scope);
        assert_int_equal(check_hdr(f, hdr, "bob/own", AUTH_PUSH | AUTH_PULL, NULL), 0);
        /* an unknown or malformed one is refused */
        assert_int_equal(check_hdr(f, "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, 0, NULL),
                         BERTH_EAUTH);
        assert_int_equal(check_hdr(f, "Bearer x", "team/app", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check_hdr(f, "Bearer ", NULL, 0, NULL), BERTH_EAUTH);
        /* Basic keeps working beside tokens */
        assert_int_equal(check(f, "bob", "pw", "team/app", AUTH_PULL, NULL), 0);
}

static void test_bearer_anonymous_token(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX];
        auth_result_t who;

        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_project_create(f->a, "priv", false), 0);
        assert_int_equal(bearer_scoped(f, NULL, NULL, "repository:pub/img:pull,push repository:priv/img:pull",
                                       hdr, sizeof(hdr), &who), 0);
        assert_true(who.anonymous);
        assert_int_equal(check_hdr(f, hdr, NULL, 0, &who), 0);
        assert_true(who.anonymous);
        assert_int_equal(check_hdr(f, hdr, "pub/img", AUTH_PULL, NULL), 0);
        assert_int_equal(check_hdr(f, hdr, "pub/img", AUTH_PUSH | AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check_hdr(f, hdr, "priv/img", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_false(auth_may_pull(f->a, &who, "priv/img"));
        /* empty Basic credentials (skopeo without a login) are anonymous too */
        assert_int_equal(bearer(f, "", "", hdr, sizeof(hdr), &who), 0);
        assert_true(who.anonymous);
}

static void test_bearer_wrong_credentials_refused(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX], *token = NULL;
        unsigned exp = 0;
        auth_result_t who;
        auth_stats_t st;

        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(bearer(f, "bob", "nope", hdr, sizeof(hdr), &who), BERTH_EAUTH);
        assert_string_equal(who.name, "bob");
        assert_int_equal(bearer(f, "nobody", "pw", hdr, sizeof(hdr), NULL), BERTH_EAUTH);
        assert_int_equal(auth_token_issue_password(f->a, "bob", "nope", "192.0.2.1", NULL, &token, &exp, &who),
                         BERTH_EAUTH);
        assert_null(token);
        assert_int_equal(auth_token_issue(f->a, "Basic !!!", "192.0.2.1", NULL, &token, &exp, &who),
                         BERTH_EAUTH);
        assert_null(token);
        auth_stats(f->a, &st);
        assert_true(st.failures >= 2);
        /* the password form and the header give the same identity */
        assert_int_equal(auth_token_issue_password(f->a, "bob", "pw", "192.0.2.1", "repository:bob/x:pull",
                                                   &token, &exp, &who), 0);
        assert_non_null(token);
        assert_string_equal(who.name, "bob");
        snprintf(hdr, sizeof(hdr), "Bearer %s", token);
        free(token);
        assert_int_equal(check_hdr(f, hdr, "bob/x", AUTH_PULL, NULL), 0);
}

static void test_bearer_throttled_like_basic(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX];
        auth_result_t who;
        int r = 0;

        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        for (int i = 0; i < 12 && r != BERTH_ETHROTTLED; i++) {
                char pw[16];
                snprintf(pw, sizeof(pw), "guess%d", i);
                r = bearer(f, "bob", pw, hdr, sizeof(hdr), &who);
        }
        assert_int_equal(r, BERTH_ETHROTTLED);
        assert_true(who.retry_after > 0);
}

static void test_bearer_refused_after_password_change(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX], hdr2[HDR_MAX];
        auth_t *cli = NULL;

        assert_int_equal(auth_user_add(f->a, "alice", "old", false), 0);
        assert_int_equal(auth_user_add(f->a, "carol", "pw", false), 0);
        assert_int_equal(bearer_scoped(f, "alice", "old", "repository:alice/x:pull", hdr, sizeof(hdr), NULL), 0);
        assert_int_equal(bearer_scoped(f, "carol", "pw", "repository:carol/x:pull", hdr2, sizeof(hdr2), NULL), 0);
        assert_int_equal(check_hdr(f, hdr, "alice/x", AUTH_PULL, NULL), 0);
        /* A second auth_t on the same database stands for `berthd user passwd`. */
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_user_passwd(cli, "alice", "new"), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check_hdr(f, hdr, "alice/x", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check_hdr(f, hdr, NULL, 0, NULL), BERTH_EAUTH); /* and stays refused */
        /* another user's token survives the change */
        assert_int_equal(check_hdr(f, hdr2, "carol/x", AUTH_PULL, NULL), 0);
        /* removal refuses at once as well, and so does a re-creation with the same password */
        assert_int_equal(auth_user_del(cli, "carol"), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check_hdr(f, hdr2, "carol/x", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(auth_user_add(cli, "carol", "pw", false), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check_hdr(f, hdr2, "carol/x", AUTH_PULL, NULL), BERTH_EAUTH);
        auth_free(cli);
        assert_int_equal(bearer_scoped(f, "alice", "new", "repository:alice/x:pull", hdr, sizeof(hdr), NULL), 0);
        assert_int_equal(check_hdr(f, hdr, "alice/x", AUTH_PULL, NULL), 0);
}

static void test_bearer_rights_change_applies_at_once(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX];
        auth_t *cli = NULL;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(auth_member_add(f->a, "team", "bob", AUTH_ROLE_DEVELOPER), 0);
        assert_int_equal(bearer_scoped(f, "bob", "pw", "repository:team/app:pull,push", hdr, sizeof(hdr), NULL), 0);
        assert_int_equal(check_hdr(f, hdr, "team/app", AUTH_PUSH | AUTH_PULL, NULL), 0);
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_member_add(cli, "team", "bob", AUTH_ROLE_READER), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check_hdr(f, hdr, "team/app", AUTH_PUSH | AUTH_PULL, NULL), BERTH_EDENIED);
        assert_int_equal(check_hdr(f, hdr, "team/app", AUTH_PULL, NULL), 0);
        assert_int_equal(auth_member_del(cli, "team", "bob"), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check_hdr(f, hdr, "team/app", AUTH_PULL, NULL), BERTH_EDENIED);
        auth_free(cli);
}

static void test_bearer_robot_revoked_refused(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX], *name = NULL, *secret = NULL;
        auth_result_t who;
        auth_t *cli = NULL;

        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", false, 0, &name, &secret), 0);
        assert_int_equal(bearer_scoped(f, name, secret, "repository:ci/app:pull,push", hdr, sizeof(hdr), &who), 0);
        assert_true(who.robot);
        assert_int_equal(check_hdr(f, hdr, "ci/app", AUTH_PULL, &who), 0);
        assert_true(who.robot);
        assert_string_equal(who.robot_project, "ci");
        assert_int_equal(check_hdr(f, hdr, "ci/app", AUTH_PUSH | AUTH_PULL, NULL), BERTH_EDENIED);
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        assert_int_equal(auth_token_revoke(cli, name), 0);
        heard = other_change_heard(f, heard);
        auth_free(cli);
        assert_int_equal(check_hdr(f, hdr, "ci/app", AUTH_PULL, NULL), BERTH_EAUTH);
        free(name);
        free(secret);
}

static void test_bearer_expired_refused(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX], anon[HDR_MAX];

        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(bearer_scoped(f, "bob", "pw", "repository:bob/x:pull", hdr, sizeof(hdr), NULL), 0);
        assert_int_equal(bearer_scoped(f, NULL, NULL, "repository:pub/x:pull", anon, sizeof(anon), NULL), 0);
        f->clock.now += 299;
        assert_int_equal(check_hdr(f, hdr, "bob/x", AUTH_PULL, NULL), 0);
        assert_int_equal(check_hdr(f, anon, "pub/x", AUTH_PULL, NULL), 0);
        f->clock.now += 1;
        assert_int_equal(check_hdr(f, hdr, "bob/x", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check_hdr(f, anon, "pub/x", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check_hdr(f, anon, NULL, 0, NULL), BERTH_EAUTH);
}

static void test_bearer_robot_token_expiry_caps_lifetime(void **state) {
        fixture_t *f = *state;
        char basic_hdr[1024], hdr[HDR_MAX], *name = NULL, *secret = NULL, *token = NULL;
        unsigned exp = 0;
        auth_result_t who;

        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", false, f->clock.now + 100, &name, &secret), 0);
        assert_int_equal(auth_token_issue(f->a, basic(basic_hdr, sizeof(basic_hdr), name, secret),
                                          "192.0.2.1", "repository:ci/app:pull", &token, &exp, &who), 0);
        assert_int_equal(exp, 100);
        snprintf(hdr, sizeof(hdr), "Bearer %s", token);
        free(token);
        f->clock.now += 99;
        assert_int_equal(check_hdr(f, hdr, "ci/app", AUTH_PULL, NULL), 0);
        f->clock.now += 1;
        assert_int_equal(check_hdr(f, hdr, "ci/app", AUTH_PULL, NULL), BERTH_EAUTH);
        free(name);
        free(secret);
}

/* Nothing is kept per token: a new auth_t on the same data directory (a restart,
 * or another replica on the same database) accepts what the first one issued,
 * however many tokens were issued in between. */
static void test_bearer_survives_restart(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX], anon[HDR_MAX], robot[HDR_MAX], *name = NULL, *secret = NULL;
        auth_t *replica = NULL;
        auth_result_t who;

        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_project_create(f->a, "ci", false), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(auth_token_create(f->a, "ci", true, 0, &name, &secret), 0);
        assert_int_equal(bearer_scoped(f, "bob", "pw", "repository:bob/x:pull,push", hdr, sizeof(hdr), NULL), 0);
        assert_int_equal(bearer_scoped(f, NULL, NULL, "repository:pub/x:pull", anon, sizeof(anon), NULL), 0);
        assert_int_equal(bearer_scoped(f, name, secret, "repository:ci/x:pull,push", robot, sizeof(robot), NULL), 0);
        for (int i = 0; i < 200; i++) {
                char other[HDR_MAX];
                assert_int_equal(bearer(f, NULL, NULL, other, sizeof(other), NULL), 0);
        }
        assert_int_equal(auth_open_target(f->target, &f->opt, &replica), 0); /* a replica, running beside */
        assert_int_equal(auth_check(replica, hdr, "192.0.2.1", "bob/x", AUTH_PUSH | AUTH_PULL, &who), 0);
        assert_string_equal(who.name, "bob");
        auth_free(replica);
        auth_free(f->a); /* a restart */
        f->a = NULL;
        assert_int_equal(auth_open_target(f->target, &f->opt, &f->a), 0);
        assert_int_equal(check_hdr(f, hdr, "bob/x", AUTH_PUSH | AUTH_PULL, &who), 0);
        assert_string_equal(who.name, "bob");
        assert_int_equal(check_hdr(f, anon, "pub/x", AUTH_PULL, &who), 0);
        assert_true(who.anonymous);
        assert_int_equal(check_hdr(f, robot, "ci/x", AUTH_PUSH | AUTH_PULL, &who), 0);
        assert_true(who.robot);
        free(name);
        free(secret);
}

/* The scope is a ceiling: a token for team/app pull can neither push there nor
 * pull elsewhere, even for a user who may do both; the refusal names the scope
 * problem so that the client asks for a better token. */
static void test_bearer_scope_ceiling(void **state) {
        fixture_t *f = *state;
        char pull[HDR_MAX], push[HDR_MAX], none[HDR_MAX], all[HDR_MAX];
        auth_result_t who;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(auth_member_add(f->a, "team", "alice", AUTH_ROLE_DEVELOPER), 0);
        assert_int_equal(bearer_scoped(f, "alice", "pw", "repository:team/app:pull", pull, sizeof(pull), NULL), 0);
        assert_int_equal(bearer_scoped(f, "alice", "pw", "repository:team/app:pull,push", push, sizeof(push), NULL), 0);
        assert_int_equal(bearer(f, "alice", "pw", none, sizeof(none), NULL), 0);
        assert_int_equal(bearer_scoped(f, "alice", "pw", "repository:team/app:*", all, sizeof(all), NULL), 0);

        assert_int_equal(check_hdr(f, pull, "team/app", AUTH_PULL, &who), 0);
        assert_false(who.insufficient_scope);
        assert_int_equal(check_hdr(f, pull, "team/app", AUTH_PUSH | AUTH_PULL, &who), BERTH_EAUTH);
        assert_true(who.insufficient_scope);
        assert_string_equal(who.name, "alice");
        assert_int_equal(check_hdr(f, pull, "team/other", AUTH_PULL, &who), BERTH_EAUTH);
        assert_true(who.insufficient_scope);
        assert_int_equal(check_hdr(f, pull, "team/app/sub", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check_hdr(f, push, "team/app", AUTH_PUSH | AUTH_PULL, NULL), 0);
        /* without a scope: GET /v2/ and _catalog only */
        assert_int_equal(check_hdr(f, none, NULL, 0, NULL), 0);
        assert_int_equal(check_hdr(f, none, "team/app", AUTH_PULL, &who), BERTH_EAUTH);
        assert_true(who.insufficient_scope);
        /* a scope naming delete does not make a developer a maintainer */
        assert_int_equal(check_hdr(f, all, "team/app", AUTH_DELETE, &who), BERTH_EDENIED);
        assert_false(who.insufficient_scope);
        /* mount sources are held to the ceiling as well */
        assert_true(auth_token_allows(f->a, pull, "team/app", AUTH_PULL));
        assert_false(auth_token_allows(f->a, pull, "team/other", AUTH_PULL));
        assert_false(auth_token_allows(f->a, "Bearer nonsense", "team/app", AUTH_PULL));
        assert_true(auth_token_allows(f->a, NULL, "team/other", AUTH_PULL)); /* no token, no ceiling */
}

/* The change counter moves for changes unrelated to the token's identity: the
 * credential row is read again and the token stays good. */
static void test_bearer_generation_bump(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX];
        auth_t *cli = NULL;
        auth_result_t who;

        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(bearer_scoped(f, "bob", "pw", "repository:bob/x:pull repository:team/y:pull", hdr,
                                       sizeof(hdr), NULL), 0);
        uint64_t heard = other_change_begin(f);
        assert_int_equal(auth_open_target(f->target, &f->opt, &cli), 0);
        for (int i = 0; i < 3; i++) {
                char name[16];
                snprintf(name, sizeof(name), "u%d", i);
                assert_int_equal(auth_user_add(cli, name, "pw", false), 0);
                heard = other_change_heard(f, heard);
                assert_int_equal(check_hdr(f, hdr, "bob/x", AUTH_PULL, &who), 0);
                assert_string_equal(who.name, "bob");
        }
        /* rights follow the database on every request */
        assert_int_equal(check_hdr(f, hdr, "team/y", AUTH_PULL, NULL), BERTH_EDENIED);
        assert_int_equal(auth_project_create(cli, "team", true), 0);
        heard = other_change_heard(f, heard);
        assert_int_equal(check_hdr(f, hdr, "team/y", AUTH_PULL, NULL), 0);
        auth_free(cli);
}

static void test_bearer_tampering_refused(void **state) {
        fixture_t *f = *state;
        char hdr[HDR_MAX], bad[HDR_MAX];
        auth_token_key_t *other = NULL;
        auth_claims_t cl;
        uint8_t key[32] = { 1 };
        char *forged = NULL;
        size_t len;

        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        assert_int_equal(auth_user_add(f->a, "root", "pw", true), 0);
        assert_int_equal(bearer_scoped(f, "bob", "pw", "repository:bob/x:pull", hdr, sizeof(hdr), NULL), 0);
        assert_int_equal(check_hdr(f, hdr, "bob/x", AUTH_PULL, NULL), 0);
        len = strlen(hdr);
        /* any one character changed, anywhere in payload or MAC */
        for (size_t i = strlen("Bearer "); i < len; i++) {
                memcpy(bad, hdr, len + 1);
                bad[i] = bad[i] == 'A' ? 'B' : 'A';
                assert_int_equal(check_hdr(f, bad, NULL, 0, NULL), BERTH_EAUTH);
        }
        /* shortened, lengthened */
        memcpy(bad, hdr, len + 1);
        bad[len - 1] = '\0';
        assert_int_equal(check_hdr(f, bad, NULL, 0, NULL), BERTH_EAUTH);
        snprintf(bad, sizeof(bad), "%sA", hdr);
        assert_int_equal(check_hdr(f, bad, NULL, 0, NULL), BERTH_EAUTH);
        /* claims of an admin, signed with another key */
        memset(&cl, 0, sizeof(cl));
        cl.expires = f->clock.now + 300;
        cl.kind = AUTH_SUBJECT_USER;
        snprintf(cl.name, sizeof(cl.name), "root");
        cl.flag = true;
        assert_int_equal(auth_scope_add(&cl, "repository:any/thing:*"), 0);
        assert_int_equal(auth_token_key_new(key, &other), 0);
        assert_int_equal(auth_token_encode(other, &cl, &forged), 0);
        snprintf(bad, sizeof(bad), "Bearer %s", forged);
        assert_int_equal(check_hdr(f, bad, "any/thing", AUTH_PULL, NULL), BERTH_EAUTH);
        assert_int_equal(check_hdr(f, bad, NULL, 0, NULL), BERTH_EAUTH);
        free(forged);
        auth_token_key_free(other);
}

static void test_token_encode_decode(void **state) {
        uint8_t key[32] = { 7 }, key2[32] = { 8 };
        auth_token_key_t *k = NULL, *k2 = NULL;
        auth_claims_t in, out;
        char *tok = NULL;
        (void) state;

        assert_int_equal(auth_token_key_new(key, &k), 0);
        assert_int_equal(auth_token_key_new(key2, &k2), 0);
        memset(&in, 0, sizeof(in));
        in.expires = 1700000300;
        in.generation = 42;
        in.kind = AUTH_SUBJECT_ROBOT;
        snprintf(in.name, sizeof(in.name), "robot.ci.abc123");
        snprintf(in.project, sizeof(in.project), "ci");
        in.flag = true;
        for (size_t i = 0; i < sizeof(in.cred); i++)
                in.cred[i] = (uint8_t) (i * 17);
        assert_int_equal(auth_scope_add(&in, "repository:ci/app:pull,push repository:ci/b:pull"), 0);
        assert_int_equal(auth_token_encode(k, &in, &tok), 0);
        assert_int_equal(auth_token_decode(k, tok, strlen(tok), &out), 0);
        assert_int_equal(out.expires, in.expires);
        assert_int_equal(out.generation, 42);
        assert_int_equal(out.kind, AUTH_SUBJECT_ROBOT);
        assert_string_equal(out.name, "robot.ci.abc123");
        assert_string_equal(out.project, "ci");
        assert_true(out.flag);
        assert_memory_equal(out.cred, in.cred, sizeof(in.cred));
        assert_int_equal(out.n_scopes, 2);
        assert_int_equal(auth_claims_actions(&out, "ci/app"), AUTH_PULL | AUTH_PUSH);
        assert_int_equal(auth_claims_actions(&out, "ci/b"), AUTH_PULL);
        assert_int_equal(auth_claims_actions(&out, "ci/c"), 0);
        assert_int_equal(auth_token_decode(k2, tok, strlen(tok), &out), BERTH_EAUTH); /* other key */
        free(tok);
        /* claims no token may carry */
        in.kind = 'x';
        assert_int_equal(auth_token_encode(k, &in, &tok), -EINVAL);
        in.kind = AUTH_SUBJECT_ANONYMOUS; /* with a name */
        assert_int_equal(auth_token_encode(k, &in, &tok), -EINVAL);
        auth_token_key_free(k);
        auth_token_key_free(k2);
}

/* Payloads with a valid MAC that the parser must still refuse. */
static void test_token_payload_strict(void **state) {
        static const char *const bad[] = {
                "", "1", "1;;;;;;;;", "2;1700000000;0;a;;;0;;",     /* version */
                "1;01700000000;0;a;;;0;;", "1;0;0;a;;;0;;",         /* leading zero, zero expiry */
                "1;1700000000;-1;a;;;0;;", "1;1700000000;0;x;;;0;;", /* sign, kind */
                "1;1700000000;0;a;bob;;0;;", "1;1700000000;0;a;;;1;;", /* anonymous with a name, a flag */
                "1;1700000000;0;u;bob;00;0;;",                       /* short cred */
                "1;1700000000;0;u;Bob;00000000000000000000000000000000;0;;",
                "1;1700000000;0;u;bob;0000000000000000000000000000000G;0;;",
                "1;1700000000;0;u;robot.x;00000000000000000000000000000000;0;;",
                "1;1700000000;0;r;robot.x;00000000000000000000000000000000;0;;", /* no project */
                "1;1700000000;0;a;;;0;;a:8", "1;1700000000;0;a;;;0;;a:0", "1;1700000000;0;a;;;0;;A:1",
                "1;1700000000;0;a;;;0;;a:1,", "1;1700000000;0;a;;;0;;a:1,a:2", "1;1700000000;0;a;;;0;;,a:1",
                "1;1700000000;0;a;;;0;;a:12", "1;1700000000;0;a;;;0;;a:1;",
                "1;1700000000;0;a;;;0;;a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1,j:1,k:1,l:1,m:1,n:1,o:1,p:1,q:1",
        };
        static const char *const good[] = {
                "1;1700000000;0;a;;;0;;",
                "1;1700000000;12;u;bob;0123456789abcdef0123456789abcdef;1;;a/b:7,c:1",
                "1;1700000000;12;r;robot.ci.x1;0123456789abcdef0123456789abcdef;0;ci;ci/app:1",
        };
        auth_claims_t c;
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (auth_token_parse_payload(bad[i], strlen(bad[i]), &c) != BERTH_EAUTH)
                        fail_msg("accepted: %s", bad[i]);
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (auth_token_parse_payload(good[i], strlen(good[i]), &c) != 0)
                        fail_msg("refused: %s", good[i]);
}

static void test_scope_parse(void **state) {
        auth_claims_t c;
        (void) state;

        memset(&c, 0, sizeof(c));
        assert_int_equal(auth_scope_add(&c, NULL), 0);
        assert_int_equal(auth_scope_add(&c, ""), 0);
        assert_int_equal(c.n_scopes, 0);
        assert_int_equal(auth_scope_add(&c, "repository:team/app:pull"), 0);
        assert_int_equal(auth_scope_add(&c, "repository:team/app:push  registry:catalog:*"), 0);
        assert_int_equal(auth_scope_add(&c, "repository(plugin):plug/in:pull repository:x/y:*"), 0);
        assert_int_equal(auth_scope_add(&c, "repository:Bad/Name:pull repository:ok:frobnicate"), 0);
        assert_int_equal(auth_scope_add(&c, "repository:host:5000/x:pull repository::pull nonsense"), 0);
        assert_int_equal(auth_scope_add(&c, "repository:d:delete,pull"), 0);
        assert_int_equal(c.n_scopes, 4);
        assert_int_equal(auth_claims_actions(&c, "team/app"), AUTH_PULL | AUTH_PUSH);
        assert_int_equal(auth_claims_actions(&c, "plug/in"), AUTH_PULL);
        assert_int_equal(auth_claims_actions(&c, "x/y"), AUTH_PULL | AUTH_PUSH | AUTH_DELETE);
        assert_int_equal(auth_claims_actions(&c, "d"), AUTH_PULL | AUTH_DELETE);
        assert_int_equal(auth_claims_actions(&c, "ok"), 0);
        assert_int_equal(auth_claims_actions(&c, "Bad/Name"), 0);
        for (int i = 0; i < AUTH_TOKEN_SCOPES_MAX - 4; i++) {
                char s[64];
                snprintf(s, sizeof(s), "repository:r%d:pull", i);
                assert_int_equal(auth_scope_add(&c, s), 0);
        }
        assert_int_equal(auth_scope_add(&c, "repository:team/app:pull"), 0); /* known: still fits */
        assert_int_equal(auth_scope_add(&c, "repository:one/more:pull"), BERTH_ETOOBIG);
}

/* A scope too long for a token that fits a header is refused at issue. */
static void test_token_too_long_refused_at_issue(void **state) {
        fixture_t *f = *state;
        char scope[8192] = "", hdr[HDR_MAX], name[256];
        size_t o = 0;

        for (int i = 0; i < AUTH_TOKEN_SCOPES_MAX; i++) {
                memset(name, 'a', 255);
                name[255] = '\0';
                snprintf(name, 4, "%03d", i);
                name[3] = 'a';
                o += (size_t) snprintf(scope + o, sizeof(scope) - o, "%srepository:%s:pull,push,delete",
                                       i ? " " : "", name);
        }
        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        /* too long for a header: refused at issue, never handed out */
        assert_int_equal(bearer_scoped(f, "bob", "pw", scope, hdr, sizeof(hdr), NULL), BERTH_ETOOBIG);
        assert_int_equal(bearer_scoped(f, "bob", "pw", "repository:bob/x:pull", hdr, sizeof(hdr), NULL), 0);
        assert_true(strlen(hdr) < AUTH_HEADER_MAX);
}

static void test_token_rate_limit(void **state) {
        fixture_t *f = *state;
        unsigned wait = 0;
        int ok = 0;

        for (int i = 0; i < 1000; i++)
                if (auth_token_rate(f->a, "192.0.2.1", &wait) == 0)
                        ok++;
        assert_int_equal(ok, 500); /* the default burst */
        assert_int_equal(auth_token_rate(f->a, "192.0.2.1", &wait), BERTH_ETHROTTLED);
        assert_int_equal(wait, 1);
        assert_int_equal(auth_token_rate(f->a, "192.0.2.2", &wait), 0); /* others are not held up */
        f->clock.now += 1; /* 100 per second */
        ok = 0;
        for (int i = 0; i < 200; i++)
                if (auth_token_rate(f->a, "192.0.2.1", &wait) == 0)
                        ok++;
        assert_int_equal(ok, 100);
        f->clock.now += 3600; /* refilled, never above the burst */
        ok = 0;
        for (int i = 0; i < 1000; i++)
                if (auth_token_rate(f->a, "192.0.2.1", &wait) == 0)
                        ok++;
        assert_int_equal(ok, 500);
}

/* The table is bounded: many addresses neither grow it nor take tokens from one
 * that is being limited... they may only give it a fresh bucket. */
static void test_token_rate_table_bounded(void **state) {
        auth_rate_t *r = NULL;
        unsigned ok = 0;
        (void) state;

        assert_int_equal(auth_rate_new(1, 3, &r), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(auth_rate_take(r, "192.0.2.1", 1000), 0);
        assert_int_equal(auth_rate_take(r, "192.0.2.1", 1000), 1);
        for (int i = 0; i < 200000; i++) {
                char addr[32];
                snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
                if (auth_rate_take(r, addr, 1000) == 0)
                        ok++;
        }
        assert_int_equal(ok, 200000);
        auth_rate_free(r);
}

static void test_bearer_not_in_mode_none(void **state) {
        fixture_t *f = *state;
        auth_options_t o = f->opt;
        auth_t *open_ = NULL;
        char *token = NULL;
        unsigned exp = 0;
        auth_result_t who;

        o.mode = AUTH_MODE_NONE;
        assert_int_equal(auth_open_target(f->target, &o, &open_), 0);
        assert_int_not_equal(auth_token_issue(open_, NULL, "192.0.2.1", NULL, &token, &exp, &who), 0);
        assert_null(token);
        auth_free(open_);
}

/* ---- verification off the caller's thread (issue 9, item 11) ---- */

typedef struct {
        pthread_mutex_t m;
        pthread_cond_t c;
        int entered, done;
        bool hold; /* done callbacks wait until cleared: the verifier is busy */
} waiter_t;

#define WAITER_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false }

static void on_done(void *p) {
        waiter_t *w = p;
        pthread_mutex_lock(&w->m);
        w->entered++;
        pthread_cond_broadcast(&w->c);
        while (w->hold)
                pthread_cond_wait(&w->c, &w->m);
        w->done++;
        pthread_cond_broadcast(&w->c);
        pthread_mutex_unlock(&w->m);
}

static void wait_for(waiter_t *w, const int *counter, int n) {
        pthread_mutex_lock(&w->m);
        while (*counter < n)
                pthread_cond_wait(&w->c, &w->m);
        pthread_mutex_unlock(&w->m);
}

static void release(waiter_t *w) {
        pthread_mutex_lock(&w->m);
        w->hold = false;
        pthread_cond_broadcast(&w->c);
        pthread_mutex_unlock(&w->m);
}

static void test_verify_pending_then_cached(void **state) {
        fixture_t *f = *state;
        waiter_t w = WAITER_INIT;
        auth_job_t *job = NULL;
        auth_result_t r;
        char hdr[256];
        uint64_t before = argon2_count(f->a);

        assert_int_equal(auth_user_add(f->a, "alice", "pw", false), 0);
        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        basic(hdr, sizeof(hdr), "alice", "pw");
        /* a fresh password: nothing verified on this thread */
        assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "alice/app", AUTH_PULL, &r, &job),
                         AUTH_PENDING);
        assert_non_null(job);
        assert_string_equal(r.name, "alice");
        assert_int_equal(argon2_count(f->a), before);
        assert_int_equal(auth_job_result(job, &r), -EINPROGRESS);
        assert_int_equal(auth_job_submit(f->a, job, on_done, &w), 0);
        wait_for(&w, &w.done, 1);
        assert_int_equal(auth_job_result(job, &r), 0);
        assert_string_equal(r.name, "alice");
        assert_int_equal(argon2_count(f->a), before + 1);
        job = auth_job_free(job);
        /* now cached: decided at once, also for another repository */
        assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "team/app", AUTH_PULL, &r, &job),
                         BERTH_EDENIED);
        assert_null(job);
        assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", NULL, 0, &r, &job), 0);
        assert_null(job);
        /* a wrong password: pending, then refused */
        basic(hdr, sizeof(hdr), "alice", "nope");
        assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", NULL, 0, &r, &job), AUTH_PENDING);
        assert_int_equal(auth_job_submit(f->a, job, on_done, &w), 0);
        wait_for(&w, &w.done, 2);
        assert_int_equal(auth_job_result(job, &r), BERTH_EAUTH);
        assert_string_equal(r.name, "alice");
        job = auth_job_free(job);
        /* robot secrets (a keyed hash, no argon2), anonymous and malformed: at once */
        {
                char *name = NULL, *secret = NULL;
                assert_int_equal(auth_token_create(f->a, "team", false, 0, &name, &secret), 0);
                basic(hdr, sizeof(hdr), name, secret);
                assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "team/app", AUTH_PULL, &r, &job), 0);
                assert_null(job);
                assert_true(r.robot);
                basic(hdr, sizeof(hdr), name, "wrong");
                assert_int_equal(auth_check_start(f->a, hdr, "192.0.2.1", "team/app", AUTH_PULL, &r, &job),
                                 BERTH_EAUTH);
                assert_null(job);
                free(name);
                free(secret);
        }
        assert_int_equal(auth_check_start(f->a, NULL, "192.0.2.1", NULL, 0, &r, &job), BERTH_EAUTH);
        assert_null(job);
        assert_int_equal(auth_check_start(f->a, "Basic !!!", "192.0.2.1", NULL, 0, &r, &job), BERTH_EAUTH);
        assert_null(job);
}

/* The queue is bounded: with the only verifier busy and verify_queue jobs waiting,
 * the next one is refused at once (BERTH_EBUSY: 429). After a drain nothing more is
 * accepted, and every accepted job has finished. */
static void test_verify_queue_bounded(void **state) {
        fixture_t *f = *state;
        auth_options_t o = f->opt;
        waiter_t w = WAITER_INIT;
        auth_job_t *jobs[5] = {0};
        auth_t *a = NULL;
        auth_result_t r;
        auth_stats_t st;
        char hdr[256];

        o.argon2_concurrency = 1;
        o.verify_queue = 2;
        assert_int_equal(auth_open_target(f->target, &o, &a), 0);
        assert_int_equal(auth_user_add(a, "alice", "pw", false), 0);
        w.hold = true;
        for (int i = 0; i < 5; i++) {
                basic(hdr, sizeof(hdr), "alice", guess());
                assert_int_equal(auth_check_start(a, hdr, "192.0.2.1", NULL, 0, &r, &jobs[i]),
                                 AUTH_PENDING);
        }
        assert_int_equal(auth_job_submit(a, jobs[0], on_done, &w), 0);
        wait_for(&w, &w.entered, 1); /* the verifier is held in the callback */
        assert_int_equal(auth_job_submit(a, jobs[1], on_done, &w), 0);
        assert_int_equal(auth_job_submit(a, jobs[2], on_done, &w), 0);
        assert_int_equal(auth_job_submit(a, jobs[3], on_done, &w), BERTH_EBUSY);
        auth_stats(a, &st);
        assert_int_equal(st.verify_busy, 1);
        release(&w);
        auth_verify_drain(a);
        assert_int_equal(w.done, 3);
        for (int i = 0; i < 3; i++)
                assert_int_equal(auth_job_result(jobs[i], &r), BERTH_EAUTH);
        assert_int_equal(auth_job_result(jobs[3], &r), -EINPROGRESS); /* never queued */
        assert_int_equal(auth_job_submit(a, jobs[4], on_done, &w), -ESHUTDOWN);
        for (int i = 0; i < 5; i++)
                auth_job_free(jobs[i]);
        auth_free(a);
}

static void test_token_issue_pending(void **state) {
        fixture_t *f = *state;
        waiter_t w = WAITER_INIT;
        auth_job_t *job = NULL;
        auth_result_t r;
        char hdr[256], bhdr[HDR_MAX], *token = NULL;
        unsigned exp = 0;

        assert_int_equal(auth_user_add(f->a, "bob", "pw", false), 0);
        basic(hdr, sizeof(hdr), "bob", "pw");
        assert_int_equal(auth_token_issue_start(f->a, hdr, "192.0.2.1", "repository:bob/x:pull", &token,
                                                &exp, &r, &job),
                         AUTH_PENDING);
        assert_null(token);
        assert_int_equal(auth_job_submit(f->a, job, on_done, &w), 0);
        wait_for(&w, &w.done, 1);
        assert_int_equal(auth_token_issue_finish(f->a, job, &token, &exp, &r), 0);
        job = auth_job_free(job);
        assert_non_null(token);
        assert_string_equal(r.name, "bob");
        assert_int_equal(exp, 300);
        snprintf(bhdr, sizeof(bhdr), "Bearer %s", token);
        free(token);
        token = NULL;
        assert_int_equal(check_hdr(f, bhdr, "bob/x", AUTH_PULL, NULL), 0);
        /* the scope requested before the verification is the token's ceiling */
        assert_int_equal(check_hdr(f, bhdr, "bob/x", AUTH_PUSH, &r), BERTH_EAUTH);
        assert_true(r.insufficient_scope);
        assert_int_equal(check_hdr(f, bhdr, "bob/y", AUTH_PULL, &r), BERTH_EAUTH);
        assert_true(r.insufficient_scope);
        /* cached now: a token at once */
        assert_int_equal(auth_token_issue_start(f->a, hdr, "192.0.2.1", NULL, &token, &exp, &r, &job), 0);
        assert_null(job);
        assert_non_null(token);
        free(token);
        token = NULL;
        /* the password form, wrong password */
        assert_int_equal(auth_token_issue_password_start(f->a, "bob", "nope", "192.0.2.1", NULL, &token,
                                                         &exp, &r, &job), AUTH_PENDING);
        assert_int_equal(auth_job_submit(f->a, job, on_done, &w), 0);
        wait_for(&w, &w.done, 2);
        assert_int_equal(auth_token_issue_finish(f->a, job, &token, &exp, &r), BERTH_EAUTH);
        assert_null(token);
        assert_string_equal(r.name, "bob");
        auth_job_free(job);
        /* anonymous: at once */
        assert_int_equal(auth_token_issue_start(f->a, NULL, "192.0.2.1", NULL, &token, &exp, &r, &job), 0);
        assert_null(job);
        assert_true(r.anonymous);
        free(token);
}

/* ---- listings (auth/admin.c) ---- */

struct listed {
        char text[1024];
        int stop_after; /* 0: never */
        int n;
};

static int add_line(struct listed *l, const char *line) {
        size_t len = strlen(l->text);
        snprintf(l->text + len, sizeof(l->text) - len, "%s;", line);
        return ++l->n == l->stop_after ? 42 : 0;
}

static int list_user(const auth_user_info_t *u, void *userdata) {
        char line[128];
        snprintf(line, sizeof(line), "%s %d %lld", u->name, u->admin, (long long) u->created);
        return add_line(userdata, line);
}

static int list_project(const auth_project_info_t *p, void *userdata) {
        char line[128];
        snprintf(line, sizeof(line), "%s %d %lld", p->name, p->public, (long long) p->members);
        return add_line(userdata, line);
}

static int list_member(const auth_member_info_t *m, void *userdata) {
        char line[128];
        snprintf(line, sizeof(line), "%s %s", m->user, auth_role_name(m->role));
        return add_line(userdata, line);
}

static int list_token(const auth_token_info_t *t, void *userdata) {
        char line[256];
        snprintf(line, sizeof(line), "%.6s %s %d %lld %lld %d", t->name, t->project, t->push,
                 (long long) t->created, (long long) t->expires, t->expired);
        return add_line(userdata, line);
}

/* The listings the admin CLI (and the management API) print: ordered, filtered,
 * the expiry judged by the auth clock, stopped by the callback. */
static void test_listings(void **state) {
        fixture_t *f = *state;
        struct listed l = { 0 };
        _cleanup_free_ char *n1 = NULL, *s1 = NULL, *n2 = NULL, *s2 = NULL;

        assert_int_equal(auth_user_add(f->a, "zoe", "pw", false), 0);
        assert_int_equal(auth_user_add(f->a, "bob", "pw", true), 0);
        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_member_add(f->a, "team", "zoe", AUTH_ROLE_DEVELOPER), 0);
        assert_int_equal(auth_member_add(f->a, "team", "bob", AUTH_ROLE_READER), 0);
        assert_int_equal(auth_token_create(f->a, "team", true, f->clock.now + 10, &n1, &s1), 0);
        assert_int_equal(auth_token_create(f->a, "pub", false, 0, &n2, &s2), 0);

        assert_int_equal(auth_user_list(f->a, list_user, &l), 0);
        assert_string_equal(l.text, "bob 1 1700000000;zoe 0 1700000000;");
        l = (struct listed){ 0 };
        assert_int_equal(auth_project_list(f->a, list_project, &l), 0);
        assert_string_equal(l.text, "pub 1 0;team 0 2;");
        l = (struct listed){ 0 };
        assert_int_equal(auth_member_list(f->a, "team", list_member, &l), 0);
        assert_string_equal(l.text, "bob reader;zoe developer;");
        l = (struct listed){ 0 };
        assert_int_equal(auth_member_list(f->a, "nosuch", list_member, &l), 0);
        assert_string_equal(l.text, "");

        f->clock.now += 10; /* the team token expires now */
        l = (struct listed){ 0 };
        assert_int_equal(auth_token_list(f->a, NULL, list_token, &l), 0);
        assert_string_equal(l.text, "robot. pub 0 1700000000 0 0;robot. team 1 1700000000 1700000010 1;");
        l = (struct listed){ 0 };
        assert_int_equal(auth_token_list(f->a, "pub", list_token, &l), 0);
        assert_string_equal(l.text, "robot. pub 0 1700000000 0 0;");
        l = (struct listed){ .stop_after = 1 };
        assert_int_equal(auth_user_list(f->a, list_user, &l), 42);
        assert_string_equal(l.text, "bob 1 1700000000;");
        assert_int_equal(auth_user_list(f->a, NULL, NULL), -EINVAL);
}

int main(void) {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_listings),
                T(test_hash_is_argon2id_phc),
                T(test_hash_default_cost_is_64mib_3_passes),
                T(test_hash_cost_from_environment),
                T(test_verify_right_password),
                T(test_verify_wrong_password),
                T(test_basic_parse_valid),
                T(test_basic_parse_bad_base64),
                T(test_basic_parse_no_colon),
                T(test_basic_parse_empty_user),
                T(test_basic_parse_wrong_scheme_or_empty),
                T(test_basic_parse_control_characters),
                T(test_basic_parse_overlong),
                T(test_role_table),
                T(test_non_member_denied),
                T(test_admin_user_may_do_everything),
                T(test_public_project_anonymous_pull),
                T(test_empty_basic_credentials_are_anonymous),
                T(test_private_project_anonymous_pull_refused),
                T(test_public_project_pull_for_any_user),
                T(test_base_probe_needs_credentials),
                T(test_own_namespace),
                T(test_names_shared_by_user_and_project_refused),
                T(test_own_namespace_never_a_project),
                T(test_may_pull_filters_catalog),
                T(test_visible_projects),
                T(test_mode_none_allows_everything),
                T(test_cache_hit_skips_argon2),
                T(test_cache_expires),
                T(test_cache_refreshed_ahead_of_expiry),
                T(test_cache_refresh_then_password_change),
                T(test_wrong_password_not_served_from_cache),
                T(test_password_change_in_other_process_invalidates_cache),
                T(test_user_delete_in_other_process_refused_at_once),
                T(test_rights_change_applies_at_once),
                T(test_concurrent_checks_share_the_cache),
                T(test_token_pull_allowed),
                T(test_token_pull_only_refuses_push),
                T(test_token_revoked_refused_at_once),
                T(test_token_expired_refused),
                T(test_token_needs_project),
                T(test_throttle_engages_and_releases),
                T(test_throttle_delay_grows),
                T(test_throttle_name_under_attack),
                T(test_throttle_address_guessing_many_names),
                T(test_lockout_user_never_refused_elsewhere),
                T(test_lockout_robot_never_refused_elsewhere),
                T(test_throttle_success_takes_back_own_failures),
                T(test_throttle_spares_neighbours),
                T(test_throttle_spares_cached_real_user),
                T(test_throttle_state_forgotten),
                T(test_same_wrong_credentials_retried_cheaply),
                T(test_wrong_credentials_accepted_after_password_change),
                T(test_verify_pending_then_cached),
                T(test_verify_queue_bounded),
                T(test_token_issue_pending),
                T(test_bootstrap_generates_admin_once),
                T(test_bootstrap_given_password),
                T(test_user_names_validated),
                T(test_audit_rows_written),
                T(test_audit_many_rows_written),
                T(test_audit_values_escaped),
                T(test_bearer_token_proves_identity),
                T(test_bearer_anonymous_token),
                T(test_bearer_wrong_credentials_refused),
                T(test_bearer_throttled_like_basic),
                T(test_bearer_refused_after_password_change),
                T(test_bearer_rights_change_applies_at_once),
                T(test_bearer_robot_revoked_refused),
                T(test_bearer_expired_refused),
                T(test_bearer_robot_token_expiry_caps_lifetime),
                T(test_bearer_survives_restart),
                T(test_bearer_scope_ceiling),
                T(test_bearer_generation_bump),
                T(test_bearer_tampering_refused),
                T(test_token_encode_decode),
                T(test_token_payload_strict),
                T(test_scope_parse),
                T(test_token_too_long_refused_at_issue),
                T(test_token_rate_limit),
                T(test_token_rate_table_bounded),
                T(test_bearer_not_in_mode_none),
        };
#undef T
        return cmocka_run_group_tests(tests, NULL, NULL);
}
