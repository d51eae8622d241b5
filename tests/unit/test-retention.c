/* tests/unit/test-retention.c: pull records, immutable tags and retention runs
 * (storage/retention.c) on the metadata layer, without HTTP. Push and pull times
 * are set in the rows by the test (the run takes its `now`), so nothing sleeps.
 * Runs on SQLite, and on PostgreSQL with BERTH_TEST_ENGINE=pg
 * (tests/unit/engine-pg-units.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/macro.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/retention.h"
#include "storage/usage.h"
#include "storage/webhook.h"
#include "fixture.h"

#define MT_IMAGE "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define NOW 1800000000 /* the runs' clock */

typedef struct {
        char dir[256];
        char path[300];
        meta_t *m;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "retention") < 0 ||
            fx_db_target(f->path, sizeof(f->path), f->dir, "meta.db") < 0)
                return -1;
        if (meta_open(f->path, &f->m) < 0) {
                fprintf(stderr, "meta_open %s: %s\n", f->path, db_last_error());
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        f->m = meta_free(f->m);
        fx_db_drop(f->path);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* ---- helpers ---- */

static digest_t dg(const char *content) {
        digest_t d;
        assert_int_equal(digest_buf(DIGEST_SHA256, content, strlen(content), &d), 0);
        return d;
}

/* An image manifest "name" in repo (one layer), tagged tag (NULL: untagged). */
static digest_t put_image(fixture_t *f, const char *repo, const char *name, const char *tag) {
        meta_ref_t ref = { .digest = dg("layer"), .is_manifest = false };
        meta_manifest_t mf = { .repo = repo, .digest = dg(name), .size = strlen(name), .media_type = MT_IMAGE,
                               .refs = &ref, .n_refs = 1 };
        const char *tags[1] = { tag };

        assert_int_equal(meta_blob_link(f->m, repo, &ref.digest, 5), 0);
        assert_int_equal(meta_manifest_put(f->m, &mf, tags, tag ? 1 : 0, NULL), 0);
        return mf.digest;
}

/* An index "name" naming the manifests children (already in repo). */
static digest_t put_index(fixture_t *f, const char *repo, const char *name, const digest_t *children, size_t n,
                          const char *tag) {
        meta_ref_t refs[4];
        meta_manifest_t mf = { .repo = repo, .digest = dg(name), .size = strlen(name), .media_type = MT_INDEX,
                               .refs = refs, .n_refs = n };
        const char *tags[1] = { tag };

        for (size_t i = 0; i < n; i++)
                refs[i] = (meta_ref_t){ .digest = children[i], .is_manifest = true };
        assert_int_equal(meta_manifest_put(f->m, &mf, tags, tag ? 1 : 0, NULL), 0);
        return mf.digest;
}

static digest_t put_referrer(fixture_t *f, const char *repo, const char *name, const digest_t *subject) {
        meta_manifest_t mf = { .repo = repo, .digest = dg(name), .size = 10, .media_type = MT_IMAGE,
                               .artifact_type = "application/example", .subject = subject };

        assert_int_equal(meta_manifest_put(f->m, &mf, NULL, 0, NULL), 0);
        return mf.digest;
}

static const char SQL_SET_PUSHED[] = "UPDATE tags SET updated_at = ?3"
                                     " WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) AND name = ?2";
static const char SQL_SET_PUSHED_ALL[] = "UPDATE tags SET updated_at = ?1";
static const char SQL_SET_CREATED[] = "UPDATE manifests SET created_at = ?1";
static const char SQL_AUDIT_COUNT[] = "SELECT count(*) FROM auth_audit WHERE action = 'retention-delete'"
                                      " AND \"user\" = 'retention' AND repo = ?1 AND detail = ?2";
static const char SQL_QUEUED[] = "SELECT count(*) FROM webhook_queue WHERE type = 'io.berth.delete'"
                                 " AND repository = ?1 AND body LIKE ?2";
static const char SQL_AUDIT_ALL[] = "SELECT count(*) FROM auth_audit WHERE action = 'retention-delete'";

/* The tag was pushed at t. */
static void set_pushed(fixture_t *f, const char *repo, const char *tag, int64_t t) {
        db_stmt_t *st = NULL;

        assert_int_equal(db_stmt(meta_conn(f->m), SQL_SET_PUSHED, &st), 0);
        assert_int_equal(db_bind_text(st, 1, repo), 0);
        assert_int_equal(db_bind_text(st, 2, tag), 0);
        assert_int_equal(db_bind_int(st, 3, t), 0);
        assert_int_equal(db_step_done(st), 0);
        assert_int_equal(db_changes(meta_conn(f->m)), 1);
        db_stmt_reset(st);
}

/* Every manifest (sql: SQL_SET_CREATED) or tag (SQL_SET_PUSHED_ALL) was pushed at t. */
static void set_all(fixture_t *f, const char *sql, int64_t t) {
        db_stmt_t *st = NULL;

        assert_int_equal(db_stmt(meta_conn(f->m), sql, &st), 0);
        assert_int_equal(db_bind_int(st, 1, t), 0);
        assert_int_equal(db_step_done(st), 0);
        db_stmt_reset(st);
}

static int64_t count1(fixture_t *f, const char *sql, const char *a, const char *b) {
        db_stmt_t *st = NULL;
        int64_t n;

        assert_int_equal(db_stmt(meta_conn(f->m), sql, &st), 0);
        if (a)
                assert_int_equal(db_bind_text(st, 1, a), 0);
        if (b)
                assert_int_equal(db_bind_text(st, 2, b), 0);
        assert_int_equal(db_step(st), 1);
        n = db_col_int(st, 0);
        db_stmt_reset(st);
        return n;
}

static bool has(fixture_t *f, const char *repo, const char *ref) {
        meta_manifest_info_t info;
        int r = meta_manifest_get(f->m, repo, ref, &info);
        assert_true(r >= 0);
        return r == 1;
}

static bool has_digest(fixture_t *f, const char *repo, const digest_t *d) {
        return has(f, repo, d->str);
}

static void pulled(fixture_t *f, const char *repo, const digest_t *d, uint64_t count, int64_t last) {
        meta_pull_t p = { .repo = repo, .digest = *d, .count = count, .last = last };
        assert_int_equal(meta_pulls_add(f->m, &p, 1), 0);
}

static void set_policy(fixture_t *f, const char *project, int64_t untagged_after, meta_keep_rule_t *rules,
                       size_t n) {
        meta_retention_policy_t p = { .project = (char *) project, .untagged_after = untagged_after,
                                      .rules = rules, .n_rules = n };
        assert_int_equal(meta_retention_set(f->m, &p), 0);
}

static meta_retention_result_t run(fixture_t *f, const char *project, bool dry) {
        meta_retention_options_t o = { .project = project, .dry_run = dry, .now = NOW, .who = "test", .batch = 2 };
        meta_retention_result_t res;

        assert_int_equal(meta_retention_run(f->m, &o, &res), 0);
        return res;
}

/* ---- pulls ---- */

static void test_pulls_add_and_get(void **state) {
        fixture_t *f = *state;
        digest_t a = put_image(f, "p/app", "a", "v1"), gone = dg("never pushed");
        meta_pulls_info_t info;
        meta_pull_t v[2] = { { .repo = "p/app", .digest = a, .count = 3, .last = 1000 },
                             { .repo = "p/app", .digest = gone, .count = 7, .last = 1000 } };

        assert_int_equal(meta_pulls_get(f->m, "p/app", &a, &info), 0);
        assert_int_equal(info.count, 0);
        /* a manifest that is not there is skipped, the rest written */
        assert_int_equal(meta_pulls_add(f->m, v, 2), 0);
        assert_int_equal(meta_pulls_get(f->m, "p/app", &a, &info), 1);
        assert_int_equal(info.count, 3);
        assert_int_equal(info.last_pulled, 1000);
        assert_int_equal(meta_pulls_get(f->m, "p/app", &gone, &info), 0);
        /* counts add up; the last time is the newest */
        pulled(f, "p/app", &a, 2, 900);
        assert_int_equal(meta_pulls_get(f->m, "p/app", &a, &info), 1);
        assert_int_equal(info.count, 5);
        assert_int_equal(info.last_pulled, 1000);
        pulled(f, "p/app", &a, 1, 2000);
        assert_int_equal(meta_pulls_get(f->m, "p/app", &a, &info), 1);
        assert_int_equal(info.count, 6);
        assert_int_equal(info.last_pulled, 2000);
        /* the record goes with its manifest */
        assert_int_equal(meta_manifest_delete(f->m, "p/app", &a), 1);
        assert_int_equal(meta_pulls_get(f->m, "p/app", &a, &info), 0);
}

static void test_pulls_survive_reopen(void **state) {
        fixture_t *f = *state;
        digest_t a = put_image(f, "p/app", "a", "v1");
        meta_pulls_info_t info;

        pulled(f, "p/app", &a, 4, 1234);
        f->m = meta_free(f->m);
        assert_int_equal(meta_open(f->path, &f->m), 0);
        assert_int_equal(meta_pulls_get(f->m, "p/app", &a, &info), 1);
        assert_int_equal(info.count, 4);
        assert_int_equal(info.last_pulled, 1234);
}

/* ---- immutable tags ---- */

static void test_immutable_rules_crud(void **state) {
        fixture_t *f = *state;
        meta_immutable_rule_t *v = NULL;
        size_t n = 0;

        assert_int_equal(meta_immutable_add(f->m, "p", "v*"), 1);
        assert_int_equal(meta_immutable_add(f->m, "p", "v*"), 0);
        assert_int_equal(meta_immutable_add(f->m, "q", "release-[0-9]*"), 1);
        assert_int_equal(meta_immutable_add(f->m, "p", ""), -EINVAL);
        assert_int_equal(meta_immutable_add(f->m, "p", "a b"), -EINVAL);
        assert_int_equal(meta_immutable_add(f->m, "p", "[v"), -EINVAL);
        assert_int_equal(meta_immutable_add(f->m, "P/x", "v*"), -EINVAL);
        assert_int_equal(meta_immutable_list(f->m, NULL, &v, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].project, "p");
        assert_string_equal(v[0].pattern, "v*");
        assert_string_equal(v[1].project, "q");
        meta_immutable_free(v, n);
        assert_int_equal(meta_immutable_list(f->m, "q", &v, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].pattern, "release-[0-9]*");
        meta_immutable_free(v, n);
        assert_int_equal(meta_immutable_del(f->m, "q", "release-[0-9]*"), 1);
        assert_int_equal(meta_immutable_del(f->m, "q", "release-[0-9]*"), 0);
        assert_int_equal(meta_immutable_list(f->m, "q", &v, &n), 0);
        assert_int_equal(n, 0);
        meta_immutable_free(v, n);
        /* a proxy project's tags are its upstream's: no rule */
        {
                db_stmt_t *st = NULL;
                assert_int_equal(db_tx_begin(meta_conn(f->m)), 0);
                assert_int_equal(db_stmt(meta_conn(f->m), "INSERT INTO auth_projects(name, public, created) VALUES ('hub', 1, 1)", &st), 0);
                assert_int_equal(db_step_done(st), 0);
                db_stmt_reset(st);
                assert_int_equal(db_stmt(meta_conn(f->m), "INSERT INTO proxy_projects(project, url, ttl, created)"
                                                          " VALUES ('hub', 'https://registry-1.docker.io', 60, 1)", &st), 0);
                assert_int_equal(db_step_done(st), 0);
                db_stmt_reset(st);
                assert_int_equal(db_tx_commit(meta_conn(f->m)), 0);
        }
        assert_int_equal(meta_immutable_add(f->m, "hub", "v*"), -EPERM);
        assert_int_equal(meta_immutable_list(f->m, "hub", &v, &n), 0);
        assert_int_equal(n, 0);
        meta_immutable_free(v, n);
}

static void test_immutable_refusals(void **state) {
        fixture_t *f = *state;
        digest_t a, b, c;
        meta_manifest_info_t info;
        char *pat = NULL, *tag = NULL;

        assert_int_equal(meta_immutable_add(f->m, "p", "v*"), 1);
        a = put_image(f, "p/app", "a", "v1"); /* a new tag may be made */
        put_image(f, "p/app", "a", "v1");     /* the same digest again: fine */
        /* another digest to it: refused, and the tag still names a */
        {
                meta_ref_t ref = { .digest = dg("layer"), .is_manifest = false };
                meta_manifest_t mf = { .repo = "p/app", .digest = dg("b"), .size = 1, .media_type = MT_IMAGE,
                                       .refs = &ref, .n_refs = 1 };
                const char *tags[] = { "v1" };
                assert_int_equal(meta_manifest_put(f->m, &mf, tags, 1, NULL), BERTH_EDENIED);
                assert_int_equal(meta_manifest_get(f->m, "p/app", mf.digest.str, &info), 0); /* nothing written */
        }
        assert_int_equal(meta_manifest_get(f->m, "p/app", "v1", &info), 1);
        assert_string_equal(info.digest.str, a.str);
        assert_int_equal(meta_immutable_match(f->m, "p/app", "v1", &pat), 1);
        assert_string_equal(pat, "v*");
        free(pat);
        assert_int_equal(meta_immutable_match(f->m, "p/app", "latest", &pat), 0);
        /* the tag's delete, the manifest's delete by digest: refused */
        assert_int_equal(meta_tag_delete(f->m, "p/app", "v1"), BERTH_EDENIED);
        assert_int_equal(meta_manifest_delete(f->m, "p/app", &a), BERTH_EDENIED);
        assert_int_equal(meta_immutable_manifest(f->m, "p/app", &a, &tag, &pat), 1);
        assert_string_equal(tag, "v1");
        assert_string_equal(pat, "v*");
        free(tag);
        free(pat);
        assert_true(has(f, "p/app", "v1"));
        /* another tag of the same manifest comes and goes; the manifest stays */
        b = put_image(f, "p/app", "a", "latest");
        assert_string_equal(b.str, a.str);
        assert_int_equal(meta_tag_delete(f->m, "p/app", "latest"), 1);
        assert_true(has_digest(f, "p/app", &a));
        /* tags no rule matches, and other projects, are as before */
        c = put_image(f, "p/app", "c", "latest");
        put_image(f, "p/app", "b", "latest");
        assert_int_equal(meta_manifest_delete(f->m, "p/app", &c), 1);
        put_image(f, "q/app", "a", "v1");
        put_image(f, "q/app", "b", "v1");
        assert_int_equal(meta_tag_delete(f->m, "q/app", "v1"), 1);
        put_image(f, "p2/app", "a", "v1");
        put_image(f, "p2/app", "b", "v1");
        /* the rule removed: the tag may move and go */
        assert_int_equal(meta_immutable_del(f->m, "p", "v*"), 1);
        put_image(f, "p/app", "b", "v1");
        assert_int_equal(meta_tag_delete(f->m, "p/app", "v1"), 1);
}

/* ---- policies ---- */

static void test_policy_crud(void **state) {
        fixture_t *f = *state;
        meta_keep_rule_t rules[] = { { .kind = META_KEEP_LAST_PUSHED, .tags = "*", .repos = "*", .n = 5 },
                                     { .kind = META_KEEP_ALWAYS, .tags = "stable", .repos = "p/app*" } };
        meta_retention_policy_t got, *all = NULL;
        size_t n = 0;

        assert_int_equal(meta_retention_get(f->m, "p", &got), 0);
        set_policy(f, "p", 86400, rules, 2);
        set_policy(f, "q", -1, NULL, 0);
        assert_int_equal(meta_retention_get(f->m, "p", &got), 1);
        assert_string_equal(got.project, "p");
        assert_int_equal(got.untagged_after, 86400);
        assert_int_equal(got.n_rules, 2);
        assert_int_equal(got.rules[0].kind, META_KEEP_LAST_PUSHED);
        assert_int_equal(got.rules[0].n, 5);
        assert_string_equal(got.rules[1].tags, "stable");
        assert_string_equal(got.rules[1].repos, "p/app*");
        meta_retention_policy_done(&got);
        /* set again: replaced whole */
        set_policy(f, "p", -1, rules + 1, 1);
        assert_int_equal(meta_retention_get(f->m, "p", &got), 1);
        assert_int_equal(got.untagged_after, -1);
        assert_int_equal(got.n_rules, 1);
        assert_int_equal(got.rules[0].kind, META_KEEP_ALWAYS);
        meta_retention_policy_done(&got);
        assert_int_equal(meta_retention_list(f->m, &all, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(all[0].project, "p");
        assert_string_equal(all[1].project, "q");
        meta_retention_policies_free(all, n);
        /* bad rules are refused */
        {
                meta_keep_rule_t bad = { .kind = 99, .tags = "*", .repos = "*" };
                meta_retention_policy_t p = { .project = "p", .rules = &bad, .n_rules = 1 };
                assert_int_equal(meta_retention_set(f->m, &p), -EINVAL);
                bad = (meta_keep_rule_t){ .kind = META_KEEP_ALWAYS, .tags = "x y", .repos = "*" };
                assert_int_equal(meta_retention_set(f->m, &p), -EINVAL);
        }
        assert_int_equal(meta_retention_delete(f->m, "q"), 1);
        assert_int_equal(meta_retention_delete(f->m, "q"), 0);
        assert_int_equal(meta_retention_get(f->m, "q", &got), 0);
        assert_int_equal(meta_keep_kind_parse("pulled-within"), META_KEEP_PULLED_WITHIN);
        assert_int_equal(meta_keep_kind_parse("nope"), 0);
}

/* ---- runs ---- */

static const char *const NAMES[] = { "t1", "t2", "t3", "t4", "t5" };

/* Five tags t1..t5 of repo pushed 400, 300, 200, 100 and 0 s before NOW. */
static void five_tags(fixture_t *f, const char *repo) {
        for (size_t i = 0; i < 5; i++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%s", repo, NAMES[i]);
                put_image(f, repo, name, NAMES[i]);
                set_pushed(f, repo, NAMES[i], NOW - 400 + (int64_t) i * 100);
        }
}

static void test_run_last_pushed(void **state) {
        fixture_t *f = *state;
        meta_keep_rule_t rules[] = { { .kind = META_KEEP_LAST_PUSHED, .tags = "*", .repos = "*", .n = 2 } };
        meta_retention_result_t res;
        meta_retention_run_t *runs = NULL;
        size_t n = 0;

        /* a webhook of the project hears the removals as delete events */
        assert_int_equal(webhook_add(meta_conn(f->m), "p", "https://hooks.example/x", WEBHOOK_DELETE, NULL, 0, NOW,
                                     NULL), 0);
        five_tags(f, "p/app");
        five_tags(f, "p");        /* the project's own repository */
        five_tags(f, "p2/app");   /* another project, no policy */
        five_tags(f, "px");
        set_policy(f, "p", -1, rules, 1);
        res = run(f, "p", false);
        assert_int_equal(res.repos, 2);
        assert_int_equal(res.tags_seen, 10);
        assert_int_equal(res.tags, 6);
        assert_int_equal(res.manifests, 0);
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(has(f, "p/app", NAMES[i]), i >= 3);
                assert_int_equal(has(f, "p", NAMES[i]), i >= 3);
                assert_true(has(f, "p2/app", NAMES[i]));
                assert_true(has(f, "px", NAMES[i]));
        }
        /* the manifests of removed tags stay (no untagged rule) */
        {
                digest_t d = dg("p/app-t1");
                assert_true(has_digest(f, "p/app", &d));
                /* the audit trail names each removal */
                char detail[200];
                snprintf(detail, sizeof(detail), "tag t1 %s", d.str);
                assert_int_equal(count1(f, SQL_AUDIT_COUNT, "p/app", detail), 1);
        }
        assert_int_equal(count1(f, SQL_AUDIT_ALL, NULL, NULL), 6);
        assert_int_equal(count1(f, SQL_QUEUED, "p/app", "%\"tag\":\"t1\"%"), 1);
        assert_int_equal(count1(f, SQL_QUEUED, "p/app", "%\"actor\":\"retention\"%"), 3);
        assert_int_equal(count1(f, SQL_QUEUED, "p", "%"), 3);
        /* the run is recorded */
        assert_int_equal(meta_retention_runs(f->m, 5, &runs, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(runs[0].id, res.run_id);
        assert_string_equal(runs[0].result, "ok");
        assert_string_equal(runs[0].project, "p");
        assert_string_equal(runs[0].who, "test");
        assert_false(runs[0].dry_run);
        assert_int_equal(runs[0].tags, 6);
        assert_int_equal(runs[0].repos, 2);
        meta_retention_runs_free(runs, n);
        /* a second run finds nothing more */
        res = run(f, "p", false);
        assert_int_equal(res.tags, 0);
}

static void test_run_dry_changes_nothing(void **state) {
        fixture_t *f = *state;
        meta_keep_rule_t rules[] = { { .kind = META_KEEP_LAST_PUSHED, .tags = "*", .repos = "*", .n = 1 } };
        meta_retention_result_t dry, real;
        meta_retention_run_t *runs = NULL;
        size_t n = 0;

        five_tags(f, "p/app");
        put_image(f, "p/app", "untagged", NULL);
        set_all(f, SQL_SET_CREATED, NOW - 5000);
        set_policy(f, "p", 3600, rules, 1);
        dry = run(f, "p", true);
        assert_int_equal(dry.tags, 4);
        assert_int_equal(dry.manifests, 5); /* the untagged one, and the four whose tags would go */
        for (size_t i = 0; i < 5; i++)
                assert_true(has(f, "p/app", NAMES[i]));
        assert_int_equal(count1(f, SQL_AUDIT_ALL, NULL, NULL), 0);
        real = run(f, "p", false);
        assert_int_equal(real.tags, dry.tags);
        assert_int_equal(real.manifests, dry.manifests);
        assert_true(has(f, "p/app", "t5"));
        assert_int_equal(count1(f, SQL_AUDIT_ALL, NULL, NULL), 9);
        assert_int_equal(meta_retention_runs(f->m, 5, &runs, &n), 0);
        assert_int_equal(n, 2);
        assert_false(runs[0].dry_run); /* newest first */
        assert_true(runs[1].dry_run);
        assert_int_equal(runs[1].tags, 4);
        meta_retention_runs_free(runs, n);
}

static void test_run_keep_rules(void **state) {
        fixture_t *f = *state;
        /* t4 and t5 pushed within 150 s; t1 always; of t2 and t3 the one pulled
         * most recently; in p/other also what was pulled within 60 s */
        meta_keep_rule_t rules[] = {
                { .kind = META_KEEP_PUSHED_WITHIN, .tags = "*", .repos = "*", .n = 150 },
                { .kind = META_KEEP_ALWAYS, .tags = "t1", .repos = "*" },
                { .kind = META_KEEP_LAST_PULLED, .tags = "t[23]", .repos = "*", .n = 1 },
                { .kind = META_KEEP_PULLED_WITHIN, .tags = "*", .repos = "p/other", .n = 60 },
        };
        digest_t d2 = dg("p/app-t2"), d3 = dg("p/app-t3");

        five_tags(f, "p/app");
        five_tags(f, "p/other");
        pulled(f, "p/app", &d2, 1, NOW - 10);
        pulled(f, "p/app", &d3, 9, NOW - 500);
        {
                digest_t o3 = dg("p/other-t3");
                pulled(f, "p/other", &o3, 1, NOW - 30);
        }
        set_policy(f, "p", -1, rules, ELEMENTSOF(rules));
        (void) run(f, "p", false);
        assert_true(has(f, "p/app", "t1"));
        assert_true(has(f, "p/app", "t2"));
        assert_false(has(f, "p/app", "t3"));
        assert_true(has(f, "p/app", "t4"));
        assert_true(has(f, "p/app", "t5"));
        /* p/other: t1 always, t3 pulled 30 s ago, t4 t5 pushed within 150 s */
        assert_true(has(f, "p/other", "t1"));
        assert_false(has(f, "p/other", "t2"));
        assert_true(has(f, "p/other", "t3"));
        assert_true(has(f, "p/other", "t5"));
}

static void test_run_repos_pattern_and_immutable(void **state) {
        fixture_t *f = *state;
        meta_keep_rule_t rules[] = { { .kind = META_KEEP_LAST_PUSHED, .tags = "*", .repos = "p/app", .n = 1 } };

        five_tags(f, "p/app");
        five_tags(f, "p/keep");
        assert_int_equal(meta_immutable_add(f->m, "p", "t2"), 1);
        set_policy(f, "p", -1, rules, 1);
        (void) run(f, "p", false);
        assert_false(has(f, "p/app", "t1"));
        assert_true(has(f, "p/app", "t2")); /* immutable */
        assert_false(has(f, "p/app", "t3"));
        assert_true(has(f, "p/app", "t5"));
        for (size_t i = 0; i < 5; i++) /* no rule's repository pattern: left alone */
                assert_true(has(f, "p/keep", NAMES[i]));
        /* a policy without keep rules removes no tag */
        set_policy(f, "p", -1, NULL, 0);
        (void) run(f, "p", false);
        assert_true(has(f, "p/app", "t5"));
}

static void test_run_untagged(void **state) {
        fixture_t *f = *state;
        digest_t old, recent, pulled_d, c1, c2, idx, subj, ref, orphan_idx, oc1, subj_gone, ref_gone;

        old = put_image(f, "p/app", "old", NULL);
        pulled_d = put_image(f, "p/app", "old but pulled", NULL);
        /* an index kept by its tag, with untagged children */
        c1 = put_image(f, "p/app", "child1", NULL);
        c2 = put_image(f, "p/app", "child2", NULL);
        idx = put_index(f, "p/app", "index", (digest_t[]){ c1, c2 }, 2, "multi");
        /* a referrer of a kept (tagged) subject */
        subj = put_image(f, "p/app", "subject", "signed");
        ref = put_referrer(f, "p/app", "signature", &subj);
        /* an untagged index: goes, then (the next pass) its children */
        oc1 = put_image(f, "p/app", "orphan child", NULL);
        orphan_idx = put_index(f, "p/app", "orphan index", &oc1, 1, NULL);
        /* an untagged subject and its referrer: the subject goes, then the referrer */
        subj_gone = put_image(f, "p/app", "untagged subject", NULL);
        ref_gone = put_referrer(f, "p/app", "orphan signature", &subj_gone);
        /* the wall clock here: "recent" is created at it */
        const int64_t t = (int64_t) time(NULL);
        set_all(f, SQL_SET_CREATED, t - 7200);
        recent = put_image(f, "p/app", "recent", NULL); /* within the delay */
        pulled(f, "p/app", &pulled_d, 1, t - 60);
        set_policy(f, "p", 3600, NULL, 0);
        {
                meta_retention_options_t o = { .project = "p", .now = t + 1800, .who = "test" };
                meta_retention_result_t res;
                assert_int_equal(meta_retention_run(f->m, &o, &res), 0);
                assert_int_equal(res.manifests, 5);
        }
        assert_false(has_digest(f, "p/app", &old));
        assert_true(has_digest(f, "p/app", &recent));
        assert_true(has_digest(f, "p/app", &pulled_d)); /* pulled within the delay */
        assert_true(has_digest(f, "p/app", &c1));
        assert_true(has_digest(f, "p/app", &c2));
        assert_true(has_digest(f, "p/app", &idx));
        assert_true(has_digest(f, "p/app", &subj));
        assert_true(has_digest(f, "p/app", &ref));
        assert_false(has_digest(f, "p/app", &orphan_idx));
        assert_false(has_digest(f, "p/app", &oc1));
        assert_false(has_digest(f, "p/app", &subj_gone));
        assert_false(has_digest(f, "p/app", &ref_gone));
        {
                char detail[200];
                snprintf(detail, sizeof(detail), "manifest %s", old.str);
                assert_int_equal(count1(f, SQL_AUDIT_COUNT, "p/app", detail), 1);
        }
}

static void test_run_lock_and_unknown(void **state) {
        fixture_t *f = *state;
        meta_retention_options_t o = { .project = "p", .now = NOW };
        meta_retention_result_t res;
        db_conn_t *other = NULL;

        assert_int_equal(meta_retention_run(f->m, &o, &res), -ENOENT);
        set_policy(f, "p", -1, NULL, 0);
        assert_int_equal(db_conn_open(meta_db(f->m), &other), 0);
        assert_int_equal(db_lock_try(other, DB_LOCK_RETENTION), 1);
        assert_int_equal(meta_retention_run(f->m, &o, &res), BERTH_EBUSY);
        db_unlock(other, DB_LOCK_RETENTION);
        db_conn_close(other);
        assert_int_equal(meta_retention_run(f->m, &o, &res), 0);
        /* every project with a policy */
        o.project = NULL;
        assert_int_equal(meta_retention_run(f->m, &o, &res), 0);
        {
                int64_t last = 0;
                assert_int_equal(meta_retention_last_ok(f->m, &last), 0);
                assert_int_equal(last, NOW);
        }
}

/* A repository of more tags than a page (2000) and a batch. */
static void test_run_pages(void **state) {
        fixture_t *f = *state;
        meta_keep_rule_t rules[] = { { .kind = META_KEEP_LAST_PUSHED, .tags = "*", .repos = "*", .n = 10 } };
        meta_retention_options_t o = { .project = "p", .now = NOW, .batch = 700 };
        meta_retention_result_t res;
        meta_ref_t ref = { .digest = dg("layer"), .is_manifest = false };
        meta_manifest_t mf = { .repo = "p/big", .digest = dg("big"), .size = 3, .media_type = MT_IMAGE,
                               .refs = &ref, .n_refs = 1 };
        enum { N = 2500 };
        static char names[N][16];
        const char *tags[N];

        for (size_t i = 0; i < N; i++) {
                snprintf(names[i], sizeof(names[i]), "t%05zu", i);
                tags[i] = names[i];
        }
        assert_int_equal(meta_blob_link(f->m, "p/big", &ref.digest, 5), 0);
        assert_int_equal(meta_manifest_put(f->m, &mf, tags, N, NULL), 0);
        set_all(f, SQL_SET_PUSHED_ALL, NOW - 100);
        set_pushed(f, "p/big", "t00007", NOW);
        set_policy(f, "p", -1, rules, 1);
        assert_int_equal(meta_retention_run(f->m, &o, &res), 0);
        assert_int_equal(res.tags_seen, N);
        assert_int_equal(res.tags, N - 10);
        /* the newest, then the others (pushed together) by name */
        assert_true(has(f, "p/big", "t00007"));
        assert_true(has(f, "p/big", "t00000"));
        assert_true(has(f, "p/big", "t00009"));
        assert_false(has(f, "p/big", "t00010"));
        assert_false(has(f, "p/big", "t02499"));
        /* removals in chunks of one statement: each has its audit row */
        assert_int_equal(count1(f, SQL_AUDIT_ALL, NULL, NULL), N - 10);
}

/* An image manifest "name" in repo with one layer of its own (size bytes). */
static digest_t put_image_with(fixture_t *f, const char *repo, const char *name, const char *layer, uint64_t size,
                               const char *tag) {
        meta_ref_t ref = { .digest = dg(layer), .is_manifest = false };
        meta_manifest_t mf = { .repo = repo, .digest = dg(name), .size = strlen(name), .media_type = MT_IMAGE,
                               .refs = &ref, .n_refs = 1 };
        const char *tags[1] = { tag };

        assert_int_equal(meta_blob_link(f->m, repo, &ref.digest, size), 0);
        assert_int_equal(meta_manifest_put(f->m, &mf, tags, tag ? 1 : 0, NULL), 0);
        return mf.digest;
}

static uint64_t usage_bytes(fixture_t *f, const char *project) {
        usage_project_t u;
        assert_int_equal(usage_get(f->m, project, &u), 0);
        return u.bytes;
}

/* A proxy project past its quota: the least recently pulled (or pushed, never
 * pulled) root manifests go first, with their tags and the links only they
 * referenced; blob links no manifest references go last; other projects are
 * untouched; it stops at the target. */
static void test_evict_lru(void **state) {
        fixture_t *f = *state;
        meta_evict_result_t res;
        digest_t ma, mb, mc, la = dg("la"), lb = dg("lb"), lc = dg("lc"), lo = dg("lo"), d;

        ma = put_image_with(f, "hub/a", "ma", "la", 1000, "1");
        mb = put_image_with(f, "hub/a", "mb", "lb", 1000, "2");
        mc = put_image_with(f, "hub/b", "mc", "lc", 1000, "x");
        assert_int_equal(meta_blob_link(f->m, "hub/a", &lo, 1000), 0); /* fetched by digest alone */
        d = put_image_with(f, "other/x", "mo", "lx", 5000, "v1");
        set_all(f, SQL_SET_CREATED, NOW - 1000);
        pulled(f, "hub/a", &ma, 3, NOW - 10);
        pulled(f, "hub/b", &mc, 1, NOW - 500); /* mb never: pushed at NOW - 1000, the oldest */
        assert_int_equal(usage_bytes(f, "hub"), 4006);

        assert_int_equal(meta_evict_lru(f->m, "hub", 2500, &res), 0);
        assert_int_equal(res.manifests, 2); /* mb, then mc */
        assert_int_equal(res.links, 2);     /* lb, lc */
        assert_int_equal(res.bytes_before, 4006);
        assert_int_equal(res.bytes_after, 2002);
        assert_false(has_digest(f, "hub/a", &mb));
        assert_false(has(f, "hub/a", "2"));
        assert_false(has_digest(f, "hub/b", &mc));
        assert_true(has(f, "hub/a", "1"));
        assert_int_equal(meta_blob_linked(f->m, "hub/a", &la, NULL), 1);
        assert_int_equal(meta_blob_linked(f->m, "hub/a", &lb, NULL), 0);
        assert_int_equal(meta_blob_linked(f->m, "hub/b", &lc, NULL), 0);
        assert_int_equal(meta_blob_linked(f->m, "hub/a", &lo, NULL), 1);

        /* within the target: nothing */
        assert_int_equal(meta_evict_lru(f->m, "hub", 2500, &res), 0);
        assert_int_equal(res.manifests + res.links, 0);
        /* the last manifest; the lone link is enough to stay at 1000 */
        assert_int_equal(meta_evict_lru(f->m, "hub", 1000, &res), 0);
        assert_int_equal(res.manifests, 1);
        assert_false(has_digest(f, "hub/a", &ma));
        assert_int_equal(meta_blob_linked(f->m, "hub/a", &lo, NULL), 1);
        assert_int_equal(usage_bytes(f, "hub"), 1000);
        /* then the links no manifest references */
        assert_int_equal(meta_evict_lru(f->m, "hub", 0, &res), 0);
        assert_int_equal(res.manifests, 0);
        assert_int_equal(res.links, 1);
        assert_int_equal(usage_bytes(f, "hub"), 0);
        /* nothing left: it ends */
        assert_int_equal(meta_evict_lru(f->m, "hub", 0, &res), 0);
        /* other projects untouched */
        assert_true(has_digest(f, "other/x", &d));
        assert_int_equal(usage_bytes(f, "other"), 5002);
        assert_int_equal(meta_evict_lru(f->m, "not/a/project", 0, &res), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_evict_lru, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pulls_add_and_get, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pulls_survive_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_immutable_rules_crud, setup, teardown),
                cmocka_unit_test_setup_teardown(test_immutable_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_policy_crud, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_last_pushed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_dry_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_keep_rules, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_repos_pattern_and_immutable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_untagged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_lock_and_unknown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_pages, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
