/* tests/unit/test-api.c: the parts of the management API below HTTP: the one
 * role x action table (auth/roles.c), JSON bodies and cursors (server/api.c),
 * sessions (auth/session.c: hashed ids, CSRF, logout, expiry, a user's removal),
 * effective roles, empty-project deletion, and the keyset listings of
 * storage/browse.c (filters, substring search with LIKE's wildcards taken
 * literally, project ranges, pages that neither repeat nor skip under writes).
 * The database parts run on both engines (tests/unit/engine-pg-units.sh). */
#include <errno.h>
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
#include "auth/auth-internal.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/macro.h"
#include "server/api.h"
#include "server/project.h"
#include "server/proxy.h"
#include "server/ssrf.h"
#include "storage/retention.h"
#include "storage/usage.h"
#include "storage/webhook.h"
#include "storage/browse.h"
#include "storage/meta.h"
#include "fixture.h"

#define MT_IMAGE "application/vnd.oci.image.manifest.v1+json"

/* ---- the role table ---- */

static void test_role_table(void **state) {
        /* rows: reader, developer, maintainer, admin, sysadmin; columns: the actions */
        static const char *const want[] = {
                /*            pull push del lifecycle members robots projects users quota proxy gc webhooks */
                [AUTH_ROLE_READER] = "100000000000",
                [AUTH_ROLE_DEVELOPER] = "110000000000",
                [AUTH_ROLE_MAINTAINER] = "111100000000",
                [AUTH_ROLE_ADMIN] = "111111000001",
                [AUTH_ROLE_SYSADMIN] = "111111111111",
        };
        (void) state;
        assert_int_equal(AUTH_ACT__MAX, 12);
        for (int role = AUTH_ROLE_READER; role <= AUTH_ROLE_SYSADMIN; role++)
                for (int a = 0; a < AUTH_ACT__MAX; a++)
                        assert_int_equal(auth_can(role, (auth_action_t) a), want[role][a] == '1');
        for (int a = 0; a < AUTH_ACT__MAX; a++) {
                assert_false(auth_can(AUTH_ROLE_NONE, (auth_action_t) a));
                assert_false(auth_can(99, (auth_action_t) a));
                assert_non_null(auth_action_name((auth_action_t) a));
        }
        assert_false(auth_can(AUTH_ROLE_SYSADMIN, AUTH_ACT__MAX));
        /* the registry's bits come from the same table: maintainer and admin differ
         * in the management actions only */
        assert_int_equal(auth_role_actions(AUTH_ROLE_READER), AUTH_PULL);
        assert_int_equal(auth_role_actions(AUTH_ROLE_DEVELOPER), AUTH_PULL | AUTH_PUSH);
        assert_int_equal(auth_role_actions(AUTH_ROLE_MAINTAINER), AUTH_PULL | AUTH_PUSH | AUTH_DELETE);
        assert_int_equal(auth_role_actions(AUTH_ROLE_ADMIN), AUTH_PULL | AUTH_PUSH | AUTH_DELETE);
        assert_int_equal(auth_role_parse("maintainer"), AUTH_ROLE_MAINTAINER);
        assert_int_equal(auth_role_parse("sysadmin"), -EINVAL); /* a user flag, never a membership */
        assert_string_equal(auth_role_name(AUTH_ROLE_SYSADMIN), "sysadmin");
        assert_string_equal(auth_action_name(AUTH_ACT_LIFECYCLE), "lifecycle");
        assert_string_equal(auth_action_name(AUTH_ACT_WEBHOOKS), "webhooks");
}

/* ---- bodies and cursors ---- */

static void test_parse_body(void **state) {
        json_t *j = NULL;
        char *deep;
        (void) state;

        assert_int_equal(api_parse_body("", 0, &j), 0);
        assert_null(j);
        assert_int_equal(api_parse_body(" \r\n\t", 4, &j), 0);
        assert_null(j);
        assert_int_equal(api_parse_body("{\"a\":1}", 7, &j), 0);
        assert_non_null(j);
        json_decref(j);
        assert_int_equal(api_parse_body("[1]", 3, &j), BERTH_EJSON);
        assert_int_equal(api_parse_body("\"s\"", 3, &j), BERTH_EJSON);
        assert_int_equal(api_parse_body("{\"a\":1", 6, &j), BERTH_EJSON);
        assert_int_equal(api_parse_body("{\"a\":1,\"a\":2}", 13, &j), BERTH_EJSON); /* duplicates */
        assert_int_equal(api_parse_body("{\"a\":1}x", 8, &j), BERTH_EJSON);
        assert_int_equal(api_parse_body("{\"a\":\"\\u0000\"}", 14, &j), BERTH_EJSON); /* no NUL in strings */
        /* nesting past the limit */
        deep = malloc(200);
        assert_non_null(deep);
        memset(deep, 0, 200);
        strcpy(deep, "{\"a\":");
        for (int i = 0; i < 40; i++)
                strcat(deep, "[");
        for (int i = 0; i < 40; i++)
                strcat(deep, "]");
        strcat(deep, "}");
        assert_int_equal(api_parse_body(deep, strlen(deep), &j), BERTH_EJSON);
        free(deep);
        {
                size_t n = API_BODY_MAX + 10;
                char *big = malloc(n);
                assert_non_null(big);
                memset(big, ' ', n);
                big[0] = '{';
                big[n - 1] = '}';
                assert_int_equal(api_parse_body(big, n, &j), BERTH_ETOOBIG);
                free(big);
        }
}

static void test_cursor(void **state) {
        char *c, *k;
        (void) state;

        c = api_cursor_encode("team/app");
        assert_non_null(c);
        assert_null(strchr(c, '/'));
        assert_null(strchr(c, '='));
        k = api_cursor_decode(c);
        assert_non_null(k);
        assert_string_equal(k, "team/app");
        free(k);
        free(c);
        assert_null(api_cursor_decode(""));
        assert_null(api_cursor_decode("%%%"));
        assert_null(api_cursor_decode("dGVhbQ")); /* "team": no prefix */
        assert_null(api_cursor_decode("azoAeA")); /* "k:\0x": a NUL inside */
        k = api_cursor_decode("azo"); /* "k:": the empty key (from the start) */
        assert_non_null(k);
        assert_string_equal(k, "");
        free(k);
}

/* ---- database fixture ---- */

typedef struct {
        char dir[256];
        char db[300];
        fx_clock_t clock;
        auth_t *a;
        meta_t *m;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        auth_options_t ao;

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "api") < 0)
                return -1;
        f->clock.now = 1700000000;
        ao = fx_auth_options(&f->clock);
        if (fx_db_target(f->db, sizeof(f->db), f->dir, "berth.db") < 0 || auth_open_target(f->db, &ao, &f->a) < 0 ||
            meta_open_thread(auth_db(f->a), &f->m) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        f->m = meta_free(f->m);
        f->a = auth_free(f->a);
        fx_db_drop(f->db);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* ---- sessions ---- */

static void test_sessions(void **state) {
        fixture_t *f = *state;
        char id[AUTH_SESSION_ID_LEN + 1], id2[AUTH_SESSION_ID_LEN + 1], csrf[AUTH_SESSION_ID_LEN + 1],
                csrf2[AUTH_SESSION_ID_LEN + 1];
        auth_result_t who;
        time_t exp = 0;
        db_stmt_t *st = NULL;
        db_conn_t *c = NULL;

        assert_int_equal(auth_user_add(f->a, "alice", "alice-password", false), 0);
        assert_int_equal(auth_user_add(f->a, "root", "root-password", true), 0);
        assert_int_equal(auth_session_create(f->a, "nobody", 0, id, NULL), -ENOENT);
        assert_int_equal(auth_session_create(f->a, "alice", 0, id, &exp), 0);
        assert_int_equal(strlen(id), AUTH_SESSION_ID_LEN);
        assert_int_equal(exp, f->clock.now + AUTH_SESSION_TTL);
        assert_int_equal(auth_session_check(f->a, id, &who, NULL), 0);
        assert_string_equal(who.name, "alice");
        assert_false(who.admin);
        /* only the hash is stored */
        assert_int_equal(db_conn_get(auth_db(f->a), &c), 0);
        assert_int_equal(db_stmt(c, "SELECT COUNT(*) FROM auth_sessions WHERE id_hash = ?1", &st), 0);
        assert_int_equal(db_bind_text(st, 1, id), 0);
        assert_int_equal(db_step(st), 1);
        assert_int_equal(db_col_int(st, 0), 0);
        db_stmt_reset(st);
        db_conn_put(auth_db(f->a), c);
        /* CSRF: derived from the session, differs between sessions */
        assert_int_equal(auth_session_csrf(f->a, id, csrf), 0);
        assert_true(auth_session_csrf_ok(f->a, id, csrf));
        assert_int_equal(auth_session_create(f->a, "root", 0, id2, NULL), 0);
        assert_int_equal(auth_session_check(f->a, id2, &who, NULL), 0);
        assert_true(who.admin);
        assert_int_equal(auth_session_csrf(f->a, id2, csrf2), 0);
        assert_string_not_equal(csrf, csrf2);
        assert_false(auth_session_csrf_ok(f->a, id2, csrf));
        assert_false(auth_session_csrf_ok(f->a, id, NULL));
        assert_false(auth_session_csrf_ok(f->a, id, ""));
        csrf[0] = csrf[0] == 'A' ? 'B' : 'A';
        assert_false(auth_session_csrf_ok(f->a, id, csrf));
        /* malformed ids */
        assert_int_equal(auth_session_check(f->a, "short", &who, NULL), BERTH_EAUTH);
        assert_int_equal(auth_session_check(f->a, "", &who, NULL), BERTH_EAUTH);
        {
                char bad[AUTH_SESSION_ID_LEN + 1];
                memcpy(bad, id, sizeof(bad));
                bad[5] = '/';
                assert_int_equal(auth_session_check(f->a, bad, &who, NULL), BERTH_EAUTH);
        }
        /* logout ends it; the other stays */
        assert_int_equal(auth_session_delete(f->a, id), 0);
        assert_int_equal(auth_session_check(f->a, id, &who, NULL), BERTH_EAUTH);
        assert_int_equal(auth_session_delete(f->a, id), -ENOENT);
        assert_int_equal(auth_session_check(f->a, id2, &who, NULL), 0);
        /* expiry, and a clock set back does not revive it */
        f->clock.now += AUTH_SESSION_TTL;
        assert_int_equal(auth_session_check(f->a, id2, &who, NULL), BERTH_EAUTH);
        f->clock.now -= AUTH_SESSION_TTL;
        assert_int_equal(auth_session_check(f->a, id2, &who, NULL), BERTH_EAUTH);
        /* a user's sessions end with the user, and on request */
        assert_int_equal(auth_session_create(f->a, "alice", 60, id, NULL), 0);
        assert_int_equal(auth_session_delete_user(f->a, "alice"), 0);
        assert_int_equal(auth_session_check(f->a, id, &who, NULL), BERTH_EAUTH);
        assert_int_equal(auth_session_create(f->a, "alice", 60, id, NULL), 0);
        assert_int_equal(auth_user_del(f->a, "alice"), 0);
        assert_int_equal(auth_session_check(f->a, id, &who, NULL), BERTH_EAUTH);
}

/* ---- roles of identities ---- */

static void test_project_role(void **state) {
        fixture_t *f = *state;
        auth_result_t alice = { .name = "alice" }, root = { .name = "root", .admin = true },
                      robot = { .name = "robot.team.x", .robot = true, .robot_project = "team", .robot_push = true },
                      anon = { .anonymous = true };

        assert_int_equal(auth_user_add(f->a, "alice", "pw-alice-1", false), 0);
        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_project_create(f->a, "pub", true), 0);
        assert_int_equal(auth_project_role(f->a, &alice, "team"), AUTH_ROLE_NONE);
        assert_int_equal(auth_project_role(f->a, &alice, "pub"), AUTH_ROLE_READER);
        assert_int_equal(auth_project_role(f->a, &anon, "pub"), AUTH_ROLE_READER);
        assert_int_equal(auth_project_role(f->a, &anon, "team"), AUTH_ROLE_NONE);
        assert_int_equal(auth_project_role(f->a, &alice, "alice"), AUTH_ROLE_MAINTAINER); /* own namespace */
        assert_int_equal(auth_project_role(f->a, &root, "team"), AUTH_ROLE_SYSADMIN);
        assert_int_equal(auth_project_role(f->a, &robot, "team"), AUTH_ROLE_DEVELOPER);
        assert_int_equal(auth_project_role(f->a, &robot, "pub"), AUTH_ROLE_READER);
        assert_int_equal(auth_member_add(f->a, "team", "alice", AUTH_ROLE_ADMIN), 0);
        assert_int_equal(auth_project_role(f->a, &alice, "team"), AUTH_ROLE_ADMIN);
        assert_int_equal(auth_member_add(f->a, "pub", "alice", AUTH_ROLE_DEVELOPER), 0);
        assert_int_equal(auth_project_role(f->a, &alice, "pub"), AUTH_ROLE_DEVELOPER);
        assert_int_equal(auth_project_exists(f->a, "team"), 1);
        assert_int_equal(auth_project_exists(f->a, "nope"), 0);
        assert_int_equal(auth_user_set_admin(f->a, "alice", true), 0);
        assert_int_equal(auth_user_set_admin(f->a, "nobody", true), -ENOENT);
}

/* ---- listings ---- */

static digest_t dg(const char *content) {
        digest_t d;
        assert_int_equal(digest_buf(DIGEST_SHA256, content, strlen(content), &d), 0);
        return d;
}

static void put_image(meta_t *m, const char *repo, const char *name, const char *tag) {
        meta_ref_t refs[1] = { { .digest = dg("layer-bytes"), .is_manifest = false } };
        meta_manifest_t mf = { .repo = repo, .digest = dg(name), .size = strlen(name), .media_type = MT_IMAGE,
                               .refs = refs, .n_refs = 1 };
        const char *tags[1] = { tag };

        assert_int_equal(meta_blob_link(m, repo, &refs[0].digest, strlen("layer-bytes")), 0);
        assert_int_equal(meta_manifest_put(m, &mf, tags, 1, NULL), 0);
}

static size_t list_names(meta_t *m, const char *project, const char *q, const char *after, size_t n,
                         browse_visible_fn vis, char *out, size_t size, bool *more) {
        browse_repo_t *v = NULL;
        size_t len = 0;

        assert_int_equal(browse_repos(m, project, q, after, n, vis, NULL, &v, &len, more), 0);
        out[0] = '\0';
        for (size_t i = 0; i < len; i++) {
                strncat(out, v[i].name, size - strlen(out) - 1);
                strncat(out, " ", size - strlen(out) - 1);
        }
        browse_repos_free(v, len);
        return len;
}

static bool not_b(const char *name, void *userdata) {
        (void) userdata;
        return strncmp(name, "team/b", 6) != 0;
}

static void test_browse(void **state) {
        fixture_t *f = *state;
        static const char *const repos[] = { "team/a_b", "team/axb", "team/b1", "team/b2", "team/c",
                                             "team.x/app", "team0/app", "teamx/app", "other/team/app" };
        char out[512];
        bool more = false;
        browse_tag_t *t = NULL;
        browse_repo_t r;
        size_t n = 0;
        int64_t count = 0;

        for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++)
                put_image(f->m, repos[i], repos[i], "v1");
        /* a project's range: not team.x, team0, teamx */
        list_names(f->m, "team", NULL, NULL, 50, NULL, out, sizeof(out), &more);
        assert_string_equal(out, "team/a_b team/axb team/b1 team/b2 team/c ");
        assert_false(more);
        assert_int_equal(browse_repo_count(f->m, "team", &count), 0);
        assert_int_equal(count, 5);
        /* LIKE's wildcards are literal */
        list_names(f->m, NULL, "a_b", NULL, 50, NULL, out, sizeof(out), &more);
        assert_string_equal(out, "team/a_b ");
        list_names(f->m, NULL, "%", NULL, 50, NULL, out, sizeof(out), &more);
        assert_string_equal(out, "");
        list_names(f->m, NULL, "team/app", NULL, 50, NULL, out, sizeof(out), &more);
        assert_string_equal(out, "other/team/app ");
        /* pages: keyset after the last name, with a filter dropping some */
        list_names(f->m, "team", NULL, NULL, 2, not_b, out, sizeof(out), &more);
        assert_string_equal(out, "team/a_b team/axb ");
        assert_true(more);
        /* a write between pages: a name before the cursor and one after */
        put_image(f->m, "team/a0", "a0", "v1");
        put_image(f->m, "team/bz", "bz", "v1");
        put_image(f->m, "team/d", "d", "v1");
        list_names(f->m, "team", NULL, "team/axb", 2, not_b, out, sizeof(out), &more);
        assert_string_equal(out, "team/c team/d ");
        assert_false(more);
        /* one repository, its figures */
        assert_int_equal(browse_repo_get(f->m, "team/c", &r), 1);
        assert_int_equal(r.tags, 1);
        assert_true(r.size > 0);
        browse_repo_done(&r);
        assert_int_equal(browse_repo_get(f->m, "team/none", &r), 0);
        /* tags with sizes: the manifest and its layer */
        put_image(f->m, "team/c", "c-v2", "v2");
        assert_int_equal(browse_tags(f->m, "team/c", NULL, NULL, 1, &t, &n, &more), 0);
        assert_int_equal(n, 1);
        assert_true(more);
        assert_string_equal(t[0].tag, "v1");
        assert_int_equal(t[0].size, strlen("team/c") + strlen("layer-bytes"));
        assert_int_equal(t[0].pulls, 0);
        browse_tags_free(t, n);
        assert_int_equal(browse_tags(f->m, "team/c", NULL, "v1", 10, &t, &n, &more), 0);
        assert_int_equal(n, 1);
        assert_string_equal(t[0].tag, "v2");
        assert_false(more);
        browse_tags_free(t, n);
        assert_int_equal(browse_tags(f->m, "team/c", "2", NULL, 10, &t, &n, &more), 0);
        assert_int_equal(n, 1);
        browse_tags_free(t, n);
        assert_int_equal(browse_repos(f->m, NULL, NULL, NULL, 0, NULL, NULL, &(browse_repo_t *){ NULL }, &n, NULL),
                         -EINVAL);
        /* referrers: none, then one */
        assert_int_equal(browse_has_referrers(f->m, "team/c"), 0);
        {
                digest_t subject = dg("team/c");
                meta_manifest_t ref = { .repo = "team/c", .digest = dg("sbom"), .size = 4, .media_type = MT_IMAGE,
                                        .artifact_type = "application/vnd.example.sbom", .subject = &subject };
                assert_int_equal(meta_manifest_put(f->m, &ref, NULL, 0, NULL), 0);
        }
        assert_int_equal(browse_has_referrers(f->m, "team/c"), 1);
        assert_int_equal(browse_has_referrers(f->m, "team/d"), 0);
}

static bool late_only(const char *name, void *userdata) {
        (void) userdata;
        return strcmp(name, "big/r270") == 0 || strcmp(name, "big/r290") == 0;
}

static bool none_visible(const char *name, void *userdata) {
        (void) name;
        (void) userdata;
        return false;
}

/* the listings' edges: a filter that drops a whole scan batch (256 rows) and more,
 * one that drops everything, the single-row look-ups (listed, tag digest, manifest,
 * tags of a digest, every digest) present and absent, and the arguments refused */
static void test_browse_edges(void **state) {
        fixture_t *f = *state;
        char out[512], name[32], *digest = NULL, **v = NULL;
        bool more = true;
        browse_tag_t t;
        browse_repo_t r, *rv = NULL;
        browse_tag_t *tv = NULL;
        size_t n = 0;
        int64_t count = -1;

        for (int i = 0; i < 300; i++) {
                snprintf(name, sizeof(name), "big/r%03d", i);
                put_image(f->m, name, name, "v1");
        }
        assert_int_equal(list_names(f->m, "big", NULL, NULL, 5, late_only, out, sizeof(out), &more), 2);
        assert_string_equal(out, "big/r270 big/r290 ");
        assert_false(more);
        assert_int_equal(list_names(f->m, "big", NULL, NULL, 1, late_only, out, sizeof(out), &more), 1);
        assert_string_equal(out, "big/r270 ");
        assert_true(more);
        assert_int_equal(list_names(f->m, NULL, NULL, NULL, 50, none_visible, out, sizeof(out), &more), 0);
        assert_false(more);
        /* without a filter, the page and the "more" across every repository */
        assert_int_equal(list_names(f->m, NULL, "r29", "big/r295", 50, NULL, out, sizeof(out), &more), 4);
        assert_string_equal(out, "big/r296 big/r297 big/r298 big/r299 ");
        assert_false(more);
        assert_int_equal(browse_repo_count(f->m, "big", &count), 0);
        assert_int_equal(count, 300);
        assert_int_equal(browse_repo_count(f->m, "nobody", &count), 0);
        assert_int_equal(count, 0);

        /* listed: a repository with a manifest; not one with blobs only, nor an unknown one */
        {
                digest_t l = dg("layer-bytes");
                assert_int_equal(meta_blob_link(f->m, "blobs/only", &l, strlen("layer-bytes")), 0);
        }
        assert_int_equal(browse_repo_listed(f->m, "big/r001"), 1);
        assert_int_equal(browse_repo_listed(f->m, "blobs/only"), 0);
        assert_int_equal(browse_repo_listed(f->m, "no/such"), 0);
        assert_int_equal(browse_repo_get(f->m, "blobs/only", &r), 0);

        /* a manifest under two tags */
        {
                meta_manifest_t mf = { .repo = "big/r001", .digest = dg("two tags"), .size = 8, .media_type = MT_IMAGE };
                const char *tags[2] = { "b", "a" };
                assert_int_equal(meta_manifest_put(f->m, &mf, tags, 2, NULL), 0);
        }
        assert_int_equal(browse_tag_digest(f->m, "big/r001", "a", &digest), 1);
        assert_string_equal(digest, dg("two tags").str);
        assert_int_equal(browse_tags_of(f->m, "big/r001", digest, &v), 0);
        assert_non_null(v[0]);
        assert_string_equal(v[0], "a");
        assert_string_equal(v[1], "b");
        assert_null(v[2]);
        meta_strv_free(v);
        assert_int_equal(browse_manifest_get(f->m, "big/r001", digest, &t), 1);
        assert_null(t.tag);
        assert_string_equal(t.digest, digest);
        assert_string_equal(t.media_type, MT_IMAGE);
        assert_int_equal(t.manifest_size, 8);
        browse_tag_done(&t);
        assert_int_equal(browse_manifest_get(f->m, "big/r002", digest, &t), 0);
        free(digest);
        digest = NULL;
        assert_int_equal(browse_tag_digest(f->m, "big/r001", "nope", &digest), 0);
        assert_null(digest);
        assert_int_equal(browse_tags_of(f->m, "big/r001", dg("nothing").str, &v), 0);
        assert_null(v[0]);
        meta_strv_free(v);
        assert_int_equal(browse_manifest_digests(f->m, "big/r001", &v), 0);
        assert_non_null(v[0]);
        assert_non_null(v[1]);
        assert_null(v[2]);
        assert_true(strcmp(v[0], v[1]) < 0);
        meta_strv_free(v);
        assert_int_equal(browse_manifest_digests(f->m, "no/such", &v), 0);
        assert_null(v[0]);
        meta_strv_free(v);
        /* tags: a search that finds none, the page past the last */
        assert_int_equal(browse_tags(f->m, "big/r001", "zz", NULL, 10, &tv, &n, &more), 0);
        assert_int_equal(n, 0);
        assert_false(more);
        browse_tags_free(tv, n);
        assert_int_equal(browse_tags(f->m, "no/such", NULL, NULL, 10, &tv, &n, &more), 0);
        assert_int_equal(n, 0);
        browse_tags_free(tv, n);

        /* the arguments refused */
        assert_int_equal(browse_repos(f->m, NULL, NULL, NULL, BROWSE_PAGE_MAX + 1, NULL, NULL, &rv, &n, NULL), -EINVAL);
        assert_int_equal(browse_repos(NULL, NULL, NULL, NULL, 1, NULL, NULL, &rv, &n, NULL), -EINVAL);
        assert_int_equal(browse_tags(f->m, NULL, NULL, NULL, 1, &tv, &n, NULL), -EINVAL);
        assert_int_equal(browse_tags(f->m, "big/r001", NULL, NULL, 0, &tv, &n, NULL), -EINVAL);
        assert_int_equal(browse_tags(f->m, "big/r001", NULL, NULL, BROWSE_PAGE_MAX + 1, &tv, &n, NULL), -EINVAL);
        assert_int_equal(browse_repo_get(f->m, NULL, &r), -EINVAL);
        assert_int_equal(browse_repo_listed(f->m, NULL), -EINVAL);
        assert_int_equal(browse_tag_digest(f->m, "big/r001", NULL, &digest), -EINVAL);
        assert_int_equal(browse_has_referrers(f->m, NULL), -EINVAL);
        assert_int_equal(browse_repo_count(f->m, NULL, &count), -EINVAL);
        assert_int_equal(browse_manifest_get(f->m, "big/r001", NULL, &t), -EINVAL);
        assert_int_equal(browse_tags_of(f->m, "big/r001", NULL, &v), -EINVAL);
        assert_int_equal(browse_manifest_digests(f->m, NULL, &v), -EINVAL);
        browse_repo_done(NULL);
        browse_tag_done(NULL);
}

/* sql on the SQLite database through a connection of its own */
static void schema(fixture_t *f, const char *sql) {
        sqlite3 *db = NULL;
        char *err = NULL;

        assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("%s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
}

/* the database failing a listing's statement (SQLite: its table renamed away by
 * another connection, so the statement no longer prepares): every listing and
 * look-up says so, none answers "empty" or "absent"; back as before once the table
 * is */
static void test_browse_db_errors(void **state) {
        fixture_t *f = *state;
        browse_repo_t *rv = NULL, r;
        browse_tag_t *tv = NULL, t;
        char *digest = NULL, **v = NULL;
        size_t n = 0;
        int64_t count = 0;

        if (fx_pg())
                skip(); /* PostgreSQL's prepared statements follow a renamed table */
        put_image(f->m, "team/c", "c", "v1");
        assert_int_equal(browse_has_referrers(f->m, "team/c"), 0);
        schema(f, "ALTER TABLE repositories RENAME TO repositories_away");
        assert_true(browse_repos(f->m, NULL, NULL, NULL, 10, NULL, NULL, &rv, &n, NULL) < 0);
        assert_true(browse_repos(f->m, "team", "c", NULL, 10, not_b, NULL, &rv, &n, NULL) < 0);
        assert_true(browse_tags(f->m, "team/c", NULL, NULL, 10, &tv, &n, NULL) < 0);
        assert_true(browse_repo_get(f->m, "team/c", &r) < 0);
        assert_true(browse_repo_listed(f->m, "team/c") < 0);
        assert_true(browse_tag_digest(f->m, "team/c", "v1", &digest) < 0);
        assert_true(browse_has_referrers(f->m, "team/c") < 0);
        assert_true(browse_repo_count(f->m, "team", &count) < 0);
        assert_true(browse_manifest_get(f->m, "team/c", dg("c").str, &t) < 0);
        assert_true(browse_tags_of(f->m, "team/c", dg("c").str, &v) < 0);
        assert_true(browse_manifest_digests(f->m, "team/c", &v) < 0);
        schema(f, "ALTER TABLE repositories_away RENAME TO repositories");
        assert_int_equal(browse_repos(f->m, NULL, NULL, NULL, 10, NULL, NULL, &rv, &n, NULL), 0);
        assert_int_equal(n, 1);
        browse_repos_free(rv, n);
        assert_int_equal(browse_tags(f->m, "team/c", NULL, NULL, 10, &tv, &n, NULL), 0);
        assert_int_equal(n, 1);
        browse_tags_free(tv, n);
}

static void test_project_delete(void **state) {
        fixture_t *f = *state;

        assert_int_equal(auth_project_create(f->a, "team", false), 0);
        assert_int_equal(auth_project_create(f->a, "empty", false), 0);
        put_image(f->m, "team/app", "app", "v1");
        assert_int_equal(auth_project_delete(f->a, "team"), -ENOTEMPTY);
        assert_int_equal(auth_project_delete(f->a, "empty"), 0);
        assert_int_equal(auth_project_delete(f->a, "empty"), -ENOENT);

        /* project_delete (the API's and berthd project del's): the settings go too */
        {
                meta_keep_rule_t rule = { .kind = META_KEEP_LAST_PUSHED, .tags = "*", .repos = "*", .n = 3 };
                meta_retention_policy_t pol = { .project = "gone", .rules = &rule, .n_rules = 1 };
                meta_retention_policy_t got = { 0 };
                meta_immutable_rule_t *v = NULL;
                usage_project_t u;
                int64_t id;
                size_t n = 9;

                assert_int_equal(auth_project_create(f->a, "gone", false), 0);
                assert_int_equal(usage_quota_set(f->m, "gone", 1000), 0);
                assert_int_equal(meta_retention_set(f->m, &pol), 0);
                assert_int_equal(meta_immutable_add(f->m, "gone", "v*"), 1);
                assert_int_equal(webhook_add(meta_conn(f->m), "gone", "http://127.0.0.1:9/h", WEBHOOK_PUSH, NULL, 0, 1,
                                             &id),
                                 0);
                assert_int_equal(project_delete(f->a, f->m, "team"), -ENOTEMPTY);
                assert_int_equal(project_delete(f->a, f->m, "gone"), 0);
                assert_int_equal(auth_project_exists(f->a, "gone"), 0);
                assert_int_equal(usage_get(f->m, "gone", &u), 0);
                assert_false(u.own);
                assert_int_equal(meta_retention_get(f->m, "gone", &got), 0);
                meta_retention_policy_done(&got);
                assert_int_equal(meta_immutable_list(f->m, "gone", &v, &n), 0);
                assert_int_equal(n, 0);
                meta_immutable_free(v, n);
                assert_int_equal(webhook_exists(meta_conn(f->m), id), 0);
                assert_int_equal(project_delete(f->a, f->m, "gone"), -ENOENT);
        }
}

/* ---- webhooks and proxy settings ---- */

static json_t *parse(const char *text) {
        json_t *j = NULL;
        assert_int_equal(api_parse_body(text, strlen(text), &j), 0);
        assert_non_null(j);
        return j;
}

static void test_webhook_body(void **state) {
        api_webhook_body_t w;
        const char *err;
        json_t *j;
        (void) state;

        j = parse("{\"url\":\"https://ci.example/h\",\"events\":[\"push\",\"all\"],\"secret\":\"s\",\"enabled\":false}");
        assert_int_equal(api_webhook_parse(j, &w, &err), 0);
        assert_int_equal(w.url, API_SET);
        assert_string_equal(w.url_v, "https://ci.example/h");
        assert_int_equal(w.events, API_SET);
        assert_int_equal(w.n_events, 2);
        assert_string_equal(w.events_v[1], "all");
        assert_int_equal(w.secret, API_SET);
        assert_int_equal(w.enabled, API_SET);
        assert_false(w.enabled_v);
        json_decref(j);
        /* PATCH: absent and null told apart */
        j = parse("{\"secret\":null}");
        assert_int_equal(api_webhook_parse(j, &w, &err), 0);
        assert_int_equal(w.secret, API_NULL);
        assert_int_equal(w.url, API_ABSENT);
        assert_int_equal(w.events, API_ABSENT);
        json_decref(j);
        assert_int_equal(api_webhook_parse(NULL, &w, &err), 0);
        /* refused shapes, each with a message */
        static const char *const bad[] = {
                "{\"url\":null}", "{\"url\":\"\"}", "{\"url\":5}", "{\"events\":[]}", "{\"events\":\"push\"}",
                "{\"events\":[1]}", "{\"events\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}",
                "{\"secret\":\"\"}", "{\"enabled\":1}", "{\"secrte\":\"x\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = NULL;
                j = parse(bad[i]);
                assert_int_equal(api_webhook_parse(j, &w, &err), -EINVAL);
                assert_non_null(err);
                json_decref(j);
        }
}

static void test_proxy_body(void **state) {
        api_proxy_t p;
        const char *err;
        json_t *j;
        (void) state;

        j = parse("{\"url\":\"https://r.example\",\"username\":\"u\",\"password\":\"p\",\"ca_pem\":\"PEM\","
                  "\"ttl\":60,\"mirror_of\":\"docker.io\",\"docker_mirror\":true}");
        assert_int_equal(api_proxy_parse(j, &p, &err), 0);
        assert_int_equal(p.url, API_SET);
        assert_string_equal(p.username_v, "u");
        assert_string_equal(p.password_v, "p");
        assert_int_equal(p.ttl_v, 60);
        assert_true(p.docker_mirror_v);
        json_decref(j);
        j = parse("{\"username\":null,\"ca_pem\":null,\"mirror_of\":null}");
        assert_int_equal(api_proxy_parse(j, &p, &err), 0);
        assert_int_equal(p.username, API_NULL);
        assert_int_equal(p.password, API_ABSENT);
        assert_int_equal(p.ca_pem, API_NULL);
        assert_int_equal(p.url, API_ABSENT);
        json_decref(j);
        static const char *const bad[] = {
                "{\"username\":\"u\"}",               /* credentials go together */
                "{\"password\":\"p\"}",
                "{\"password\":null}",
                "{\"username\":\"u\",\"password\":null}",
                "{\"url\":null}",
                "{\"ttl\":-1}",
                "{\"ttl\":3153600001}",
                "{\"ttl\":null}",
                "{\"docker_mirror\":\"yes\"}",
                "{\"pasword\":\"p\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = NULL;
                j = parse(bad[i]);
                assert_int_equal(api_proxy_parse(j, &p, &err), -EINVAL);
                assert_non_null(err);
                json_decref(j);
        }
        j = json_string("x");
        assert_int_equal(api_proxy_parse(j, &p, &err), -EINVAL);
        json_decref(j);
}

/* The target check the CLI and the API share: on literal addresses (no DNS). */
static void test_target_check(void **state) {
        proxy_cidrs_t *allow = NULL;
        char why[400];
        (void) state;

        assert_int_equal(proxy_cidrs_parse("127.0.0.1/32", &allow), 0);
        assert_int_equal(ssrf_target_check("http://127.0.0.1:9/h", 2048, allow, why, sizeof(why)), 0);
        assert_int_equal(ssrf_target_check("http://127.0.0.2:9/h", 2048, allow, why, sizeof(why)), BERTH_EDENIED);
        assert_non_null(strstr(why, "loopback"));
        assert_int_equal(ssrf_target_check("http://169.254.169.254/", 2048, allow, why, sizeof(why)), BERTH_EDENIED);
        assert_non_null(strstr(why, "metadata"));
        assert_int_equal(ssrf_target_check("http://10.0.0.1/", 2048, NULL, why, sizeof(why)), BERTH_EDENIED);
        assert_int_equal(ssrf_target_check("ftp://example.com/", 2048, allow, why, sizeof(why)), -EINVAL);
        assert_true(why[0] != '\0');
        assert_int_equal(ssrf_target_check("http://127.0.0.1:9/long", 10, allow, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "too long"));
        proxy_cidrs_free(allow);
}

static int log_id(const webhook_log_entry_t *e, void *userdata) {
        int64_t *ids = userdata;
        for (int i = 0; i < 4; i++)
                if (ids[i] == 0) {
                        ids[i] = e->id;
                        break;
                }
        return 0;
}

/* The rows behind the API: get, update (enabled, secret kept or replaced), a
 * disabled webhook wanting nothing, a test event, the log in keyset pages. */
static void test_webhook_rows(void **state) {
        fixture_t *f = *state;
        db_conn_t *c = meta_conn(f->m);
        const uint8_t sealed[] = { 1, 2, 3 };
        char event_id[WEBHOOK_EVENT_ID_LEN + 1];
        webhook_record_t w;
        int64_t id = 0, other = 0, depth = 0, ids[4] = { 0 };
        webhook_event_t ev = { .type = WEBHOOK_PUSH, .repository = "team/app", .tag = "v1",
                               .digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                               .time = 1 };
        unsigned queued = 0;

        assert_int_equal(webhook_add(c, "team", "http://127.0.0.1:9/h", WEBHOOK_PUSH, sealed, sizeof(sealed), 5, &id), 0);
        assert_int_equal(webhook_add(c, WEBHOOK_GLOBAL, "http://127.0.0.1:9/g", WEBHOOK_DELETE, NULL, 0, 5, &other), 0);
        assert_int_equal(webhook_get(c, id, &w), 1);
        assert_string_equal(w.info.project, "team");
        assert_string_equal(w.info.url, "http://127.0.0.1:9/h");
        assert_true(w.info.enabled);
        assert_true(w.info.has_secret);
        assert_int_equal(w.info.events, WEBHOOK_PUSH);
        webhook_record_done(&w);
        assert_int_equal(webhook_get(c, 999, &w), 0);

        /* disabled: wanted by nothing, queues nothing; its events and secret kept */
        assert_int_equal(webhook_update(c, id, "http://127.0.0.1:9/h2", WEBHOOK_PUSH | WEBHOOK_PULL, false, true, NULL, 0), 1);
        assert_int_equal(webhook_wanted(c, "team/app", WEBHOOK_PUSH), 0);
        assert_int_equal(webhook_any(c, WEBHOOK_PULL), 0);
        assert_int_equal(db_tx_begin(c), 0);
        assert_int_equal(webhook_enqueue(c, &ev, &queued), 0);
        assert_int_equal(db_tx_commit(c), 0);
        assert_int_equal(queued, 0);
        assert_int_equal(webhook_get(c, id, &w), 1);
        assert_false(w.info.enabled);
        assert_true(w.info.has_secret);
        assert_int_equal(w.info.events, WEBHOOK_PUSH | WEBHOOK_PULL);
        assert_string_equal(w.url, "http://127.0.0.1:9/h2");
        webhook_record_done(&w);
        /* enabled again, the secret removed */
        assert_int_equal(webhook_update(c, id, "http://127.0.0.1:9/h2", WEBHOOK_PUSH, true, false, NULL, 0), 1);
        assert_int_equal(webhook_wanted(c, "team/app", WEBHOOK_PUSH), 1);
        assert_int_equal(webhook_get(c, id, &w), 1);
        assert_false(w.info.has_secret);
        assert_true(w.info.enabled);
        webhook_record_done(&w);
        assert_int_equal(webhook_update(c, 999, "http://x/", WEBHOOK_PUSH, true, true, NULL, 0), 0);
        assert_int_equal(webhook_update(c, id, "http://x/", 0, true, true, NULL, 0), -EINVAL);

        /* test events: for that webhook alone, logged as deliveries */
        assert_int_equal(webhook_ping(c, 999, 10, event_id, sizeof(event_id)), 0);
        for (int i = 0; i < 3; i++) {
                webhook_delivery_t d;
                webhook_outcome_t o = { .result = i == 1 ? WEBHOOK_GAVEUP : WEBHOOK_SUCCESS, .status = 200,
                                        .latency_ms = 3 };
                assert_int_equal(webhook_ping(c, id, 10 + i, event_id, sizeof(event_id)), 1);
                assert_int_equal(webhook_queue_depth(c, &depth), 0);
                assert_int_equal(depth, 1);
                assert_int_equal(webhook_claim(c, 10 + i, 100, &d), 1);
                assert_int_equal(d.webhook_id, id);
                assert_string_equal(d.type, WEBHOOK_PING_TYPE);
                assert_string_equal(d.event_id, event_id);
                assert_non_null(strstr(d.body, "\"type\":\"io.berth.ping\""));
                assert_int_equal(webhook_record(c, &d, 10 + i, &o), 1);
                webhook_delivery_done(&d);
        }
        /* newest first, two to a page, then the rest below the last key */
        assert_int_equal(webhook_log_page(c, id, 0, 2, log_id, ids), 0);
        assert_true(ids[0] > ids[1] && ids[1] > 0 && ids[2] == 0);
        assert_int_equal(webhook_log_page(c, id, ids[1], 2, log_id, ids), 0);
        assert_true(ids[2] > 0 && ids[2] < ids[1] && ids[3] == 0);
        assert_int_equal(webhook_log_page(c, other, 0, 2, log_id, ids), 0);
        assert_int_equal(ids[3], 0);
        assert_int_equal(webhook_log_page(c, id, -1, 2, log_id, ids), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_role_table),
                cmocka_unit_test(test_parse_body),
                cmocka_unit_test(test_cursor),
                cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_project_role, setup, teardown),
                cmocka_unit_test_setup_teardown(test_browse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_browse_edges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_browse_db_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_project_delete, setup, teardown),
                cmocka_unit_test(test_webhook_body),
                cmocka_unit_test(test_proxy_body),
                cmocka_unit_test(test_target_check),
                cmocka_unit_test_setup_teardown(test_webhook_rows, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
