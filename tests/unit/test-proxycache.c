/* tests/unit/test-proxycache.c: the pull-through cache's records and rules
 * (storage/proxycache.c): upstream URLs, the ns host → proxy project mapping
 * (Docker Hub's three names are one registry; --mirror-of overrides), Docker Hub's
 * library/ rule, the proxy rows and the tags' revalidation times; and a cached
 * manifest stored before its references (storage/registry.c). Runs on SQLite, and
 * on PostgreSQL with BERTH_TEST_ENGINE=pg (tests/unit/engine-pg-units.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/err.h"
#include "common/manifest.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/proxycache.h"
#include "storage/registry.h"
#include "storage/store.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char path[300];
        db_t *db;
        db_conn_t *c;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "proxycache") < 0 ||
            fx_db_target(f->path, sizeof(f->path), f->dir, "berth.db") < 0)
                return -1;
        if (db_open(f->path, &f->db) < 0 || db_conn_open(f->db, &f->c) < 0) {
                fprintf(stderr, "db_open %s: %s\n", f->path, db_last_error());
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        db_conn_close(f->c);
        db_free(f->db);
        fx_db_drop(f->path);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

static proxycache_conf_t conf(const char *url, const char *mirror_of) {
        return (proxycache_conf_t){ .project = (char *) "p", .url = (char *) url, .mirror_of = (char *) mirror_of,
                                    .ttl = 60 };
}

/* ---- the rules ---- */

static void test_url_check(void **state) {
        char host[64];

        (void) state;
        assert_int_equal(proxycache_url_check("https://registry-1.docker.io"), 0);
        assert_int_equal(proxycache_url_check("https://ghcr.io/"), 0);
        assert_int_equal(proxycache_url_check("http://127.0.0.1:5000"), 0);
        assert_int_equal(proxycache_url_check("https://[::1]:5000"), 0);
        assert_int_equal(proxycache_url_check("ftp://example.com"), -EINVAL);
        assert_int_equal(proxycache_url_check("https://"), -EINVAL);
        assert_int_equal(proxycache_url_check("https://host/v2/"), -EINVAL); /* no path */
        assert_int_equal(proxycache_url_check("https://user@host"), -EINVAL);
        assert_int_equal(proxycache_url_check("https://host:"), -EINVAL);
        assert_int_equal(proxycache_url_check("registry-1.docker.io"), -EINVAL);
        assert_int_equal(proxycache_url_check(NULL), -EINVAL);
        assert_int_equal(proxycache_url_host("HTTPS://Reg.Example:5000/", host, sizeof(host)), 0);
        assert_string_equal(host, "reg.example:5000");
        assert_int_equal(proxycache_url_host("https://reg.example:5000", host, 8), -ENAMETOOLONG);
}

static void test_ns_docker_hub(void **state) {
        const char *urls[] = { "https://registry-1.docker.io", "https://index.docker.io", "https://docker.io" };

        (void) state;
        for (size_t i = 0; i < 3; i++) {
                proxycache_conf_t c = conf(urls[i], NULL);
                assert_true(proxycache_conf_mirrors(&c, "docker.io"));
                assert_true(proxycache_conf_mirrors(&c, "registry-1.docker.io"));
                assert_true(proxycache_conf_mirrors(&c, "index.docker.io"));
                assert_true(proxycache_conf_mirrors(&c, "Docker.IO"));
                assert_false(proxycache_conf_mirrors(&c, "ghcr.io"));
                assert_false(proxycache_conf_mirrors(&c, "docker.io.evil"));
                assert_false(proxycache_conf_mirrors(&c, ""));
                assert_false(proxycache_conf_mirrors(&c, NULL));
        }
}

static void test_ns_other_hosts(void **state) {
        proxycache_conf_t ghcr = conf("https://ghcr.io", NULL);
        proxycache_conf_t port = conf("https://reg.local:5000", NULL);
        proxycache_conf_t local = conf("http://127.0.0.1:5000", "quay.io");
        proxycache_conf_t hub_by_mirror = conf("http://127.0.0.1:5001", "docker.io");

        (void) state;
        assert_true(proxycache_conf_mirrors(&ghcr, "ghcr.io"));
        assert_true(proxycache_conf_mirrors(&ghcr, "GHCR.io"));
        assert_false(proxycache_conf_mirrors(&ghcr, "docker.io"));
        assert_true(proxycache_conf_mirrors(&port, "reg.local:5000"));
        assert_false(proxycache_conf_mirrors(&port, "reg.local"));
        /* --mirror-of replaces the url's host */
        assert_true(proxycache_conf_mirrors(&local, "quay.io"));
        assert_false(proxycache_conf_mirrors(&local, "127.0.0.1:5000"));
        assert_true(proxycache_conf_mirrors(&hub_by_mirror, "docker.io"));
        assert_true(proxycache_conf_mirrors(&hub_by_mirror, "index.docker.io"));
}

static void test_docker_hub_library(void **state) {
        proxycache_conf_t hub = conf("https://registry-1.docker.io", NULL);
        proxycache_conf_t idx = conf("https://index.docker.io", NULL);
        proxycache_conf_t ghcr = conf("https://ghcr.io", NULL);
        /* --mirror-of docker.io on a local stand-in: the name goes as it is (the rule
         * is the upstream's, not the mirror's) */
        proxycache_conf_t standin = conf("http://127.0.0.1:5000", "docker.io");
        char buf[64];

        (void) state;
        assert_int_equal(proxycache_upstream_name(&hub, "alpine", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "library/alpine");
        assert_int_equal(proxycache_upstream_name(&idx, "alpine", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "library/alpine");
        assert_int_equal(proxycache_upstream_name(&hub, "library/alpine", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "library/alpine");
        assert_int_equal(proxycache_upstream_name(&hub, "bitnami/redis", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "bitnami/redis");
        assert_int_equal(proxycache_upstream_name(&ghcr, "alpine", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "alpine");
        assert_int_equal(proxycache_upstream_name(&standin, "alpine", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "alpine");
        assert_int_equal(proxycache_upstream_name(&hub, "alpine", buf, 14), -ENAMETOOLONG);
        assert_int_equal(proxycache_upstream_name(&hub, "", buf, sizeof(buf)), -EINVAL);
}

/* ---- rows ---- */

static void add_project(fixture_t *f, const char *name) {
        db_stmt_t *st = NULL;

        assert_int_equal(db_stmt(f->c, "INSERT INTO auth_projects (name, public, created) VALUES (?1, 0, 0)", &st), 0);
        assert_int_equal(db_bind_text(st, 1, name), 0);
        assert_int_equal(db_step_done(st), 0);
        db_stmt_reset(st);
}

static int count_rows(const proxycache_conf_t *c, void *userdata) {
        (void) c;
        (*(int *) userdata)++;
        return 0;
}

static void test_rows(void **state) {
        fixture_t *f = *state;
        uint8_t sealed[40];
        proxycache_conf_t in = { .project = (char *) "hub", .url = (char *) "https://registry-1.docker.io",
                                 .username = (char *) "u", .password = sealed, .password_len = sizeof(sealed),
                                 .ca_file = (char *) "/etc/ca.pem", .ttl = 300, .mirror_of = (char *) "docker.io",
                                 .docker_mirror = true };
        proxycache_conf_t out;
        int n = 0;

        for (size_t i = 0; i < sizeof(sealed); i++)
                sealed[i] = (uint8_t) (i * 7);
        assert_int_equal(proxycache_add(f->c, &in, 1000), -ENOENT); /* no such project */
        assert_int_equal(proxycache_get(f->c, "hub", &out), 0);
        add_project(f, "hub");
        assert_int_equal(proxycache_add(f->c, &in, 1000), 0);
        assert_int_equal(proxycache_add(f->c, &in, 1000), -EEXIST);
        assert_int_equal(proxycache_get(f->c, "hub", &out), 1);
        assert_string_equal(out.url, in.url);
        assert_string_equal(out.username, "u");
        assert_int_equal(out.password_len, sizeof(sealed));
        assert_memory_equal(out.password, sealed, sizeof(sealed));
        assert_string_equal(out.ca_file, "/etc/ca.pem");
        assert_int_equal(out.ttl, 300);
        assert_string_equal(out.mirror_of, "docker.io");
        assert_true(out.docker_mirror);
        assert_int_equal(out.created, 1000);
        proxycache_conf_done(&out);

        /* anonymous, no CA: NULLs come back as NULL */
        add_project(f, "ghcr");
        proxycache_conf_t anon = { .project = (char *) "ghcr", .url = (char *) "https://ghcr.io", .ttl = 0 };
        assert_int_equal(proxycache_add(f->c, &anon, 1001), 0);
        assert_int_equal(proxycache_get(f->c, "ghcr", &out), 1);
        assert_null(out.username);
        assert_null(out.password);
        assert_null(out.mirror_of);
        assert_false(out.docker_mirror);
        proxycache_conf_done(&out);
        assert_int_equal(proxycache_list(f->c, count_rows, &n), 0);
        assert_int_equal(n, 2);

        /* refused before anything is written */
        add_project(f, "bad");
        proxycache_conf_t bad = { .project = (char *) "bad", .url = (char *) "ftp://x", .ttl = 1 };
        assert_int_equal(proxycache_add(f->c, &bad, 1), -EINVAL);
        bad.url = (char *) "https://x";
        bad.password = sealed; /* a password without a user */
        bad.password_len = 4;
        assert_int_equal(proxycache_add(f->c, &bad, 1), -EINVAL);
        assert_int_equal(proxycache_get(f->c, "bad", &out), 0);
}

static void test_tag_checks(void **state) {
        fixture_t *f = *state;
        const char *d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        const char *d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        char digest[DIGEST_STR_MAX];
        int64_t checked = 0;

        assert_int_equal(proxycache_tag_get(f->c, "hub/library/alpine", "3", &checked, digest, sizeof(digest)), 0);
        assert_int_equal(proxycache_tag_mark(f->c, "hub/library/alpine", "3", d1, 100), 0);
        assert_int_equal(proxycache_tag_get(f->c, "hub/library/alpine", "3", &checked, digest, sizeof(digest)), 1);
        assert_int_equal(checked, 100);
        assert_string_equal(digest, d1);
        /* revalidated later, moved: one row, the newest time and digest */
        assert_int_equal(proxycache_tag_mark(f->c, "hub/library/alpine", "3", d2, 200), 0);
        assert_int_equal(proxycache_tag_get(f->c, "hub/library/alpine", "3", &checked, digest, sizeof(digest)), 1);
        assert_int_equal(checked, 200);
        assert_string_equal(digest, d2);
        assert_int_equal(proxycache_tag_get(f->c, "hub/library/alpine", "4", &checked, digest, sizeof(digest)), 0);
        assert_int_equal(proxycache_tag_get(f->c, "hub/library/alpine", "3", &checked, digest, 8), BERTH_EDB);
}

static void test_namespace_local(void **state) {
        fixture_t *f = *state;
        db_stmt_t *st = NULL;

        assert_int_equal(proxycache_namespace_local(f->c, "library"), 0);
        add_project(f, "team");
        assert_int_equal(proxycache_namespace_local(f->c, "team"), 1);
        assert_int_equal(db_stmt(f->c, "INSERT INTO auth_users (name, hash, admin, created) VALUES (?1, 'x', 0, 0)",
                                 &st), 0);
        assert_int_equal(db_bind_text(st, 1, "alice"), 0);
        assert_int_equal(db_step_done(st), 0);
        db_stmt_reset(st);
        assert_int_equal(proxycache_namespace_local(f->c, "alice"), 1);
        assert_int_equal(proxycache_namespace_local(f->c, "library"), 0);
}

/* A cached manifest is stored before its layers are (they come when pulled); a
 * push of the same bytes is refused until they are there. */
static void test_manifest_cache_refs_later(void **state) {
        fixture_t *f = *state;
        const char *mf = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                         "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
                         "\"sha256:3333333333333333333333333333333333333333333333333333333333333333\",\"size\":2},"
                         "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":"
                         "\"sha256:4444444444444444444444444444444444444444444444444444444444444444\",\"size\":3}]}";
        const char *tags[1] = { "v1" };
        registry_put_result_t res;
        meta_manifest_info_t info;
        store_t *s = NULL;
        meta_t *m = NULL;

        assert_int_equal(fx_store_open(f->dir, "store", NULL, &s), 0);
        assert_int_equal(meta_open_thread(f->db, &m), 0);
        assert_int_equal(registry_manifest_put(s, m, "hub/lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1, &res),
                         BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_int_equal(meta_manifest_get(m, "hub/lib/a", "v1", &info), 0);
        assert_int_equal(registry_manifest_cache(s, m, "hub/lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, "v1", &res),
                         0);
        assert_int_equal(meta_manifest_get(m, "hub/lib/a", "v1", &info), 1);
        assert_true(digest_equal(&info.digest, &res.digest));
        assert_int_equal(store_blob_stat(s, &res.digest, NULL), 1);
        /* a wrong digest named by the upstream: nothing stored */
        digest_t other;
        assert_int_equal(digest_parse("sha256:5555555555555555555555555555555555555555555555555555555555555555",
                                      &other), 0);
        assert_int_equal(registry_manifest_cache(s, m, "hub/lib/b", mf, strlen(mf), MT_OCI_MANIFEST, &other, NULL,
                                                 &res), BERTH_EDIGEST);
        assert_int_equal(meta_repo_exists(m, "hub/lib/b"), 0);

        /* the records of tags that are gone go (GC calls it); those of tags there stay */
        {
                char digest[DIGEST_STR_MAX];
                int64_t checked;
                uint64_t n = 99;
                assert_int_equal(proxycache_tag_mark(f->c, "hub/lib/a", "v1", res.digest.str, 100), 0);
                assert_int_equal(proxycache_tag_mark(f->c, "hub/lib/a", "old", res.digest.str, 100), 0);
                assert_int_equal(proxycache_tag_mark(f->c, "hub/lib/none", "v1", res.digest.str, 100), 0);
                assert_int_equal(proxycache_tags_prune(f->c, NULL, &n), 0);
                assert_int_equal(n, 2);
                assert_int_equal(proxycache_tag_get(f->c, "hub/lib/a", "v1", &checked, digest, sizeof(digest)), 1);
                assert_int_equal(proxycache_tag_get(f->c, "hub/lib/a", "old", &checked, digest, sizeof(digest)), 0);
                assert_int_equal(proxycache_tag_get(f->c, "hub/lib/none", "v1", &checked, digest, sizeof(digest)), 0);
                /* more than a batch */
                for (int i = 0; i < 300; i++) {
                        char tag[16];
                        snprintf(tag, sizeof(tag), "t%d", i);
                        assert_int_equal(proxycache_tag_mark(f->c, "hub/lib/a", tag, res.digest.str, 100), 0);
                }
                assert_int_equal(proxycache_tags_prune(f->c, NULL, &n), 0);
                assert_int_equal(n, 300);
                /* the tag deleted: its record goes at the next prune */
                assert_int_equal(meta_tag_delete(m, "hub/lib/a", "v1"), 1);
                assert_int_equal(proxycache_tags_prune(f->c, NULL, &n), 0);
                assert_int_equal(n, 1);
                assert_int_equal(proxycache_tag_get(f->c, "hub/lib/a", "v1", &checked, digest, sizeof(digest)), 0);
        }
        meta_free(m);
        store_free(s);
}

/* A fill (a fetched blob): linked under its digest on commit; an abort leaves nothing. */
static void test_blob_fill(void **state) {
        fixture_t *f = *state;
        char name[UPLOAD_UUID_LEN + 1];
        store_t *s = NULL;
        digest_t d;
        int fd;

        assert_int_equal(fx_store_open(f->dir, "store", NULL, &s), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, "hello", 5, &d), 0);
        assert_int_equal(store_blob_fill_open(s, name, &fd), 0);
        assert_int_equal(write(fd, "hello", 5), 5);
        store_blob_fill_abort(s, name);
        close(fd);
        assert_int_equal(store_blob_stat(s, &d, NULL), 0);
        assert_int_equal(store_tmp_clean(s, 0), 0); /* nothing left behind */
        assert_int_equal(store_blob_fill_open(s, name, &fd), 0);
        assert_int_equal(write(fd, "hello", 5), 5);
        assert_int_equal(store_blob_fill_commit(s, name, fd, &d), 0);
        close(fd);
        uint64_t size = 0;
        assert_int_equal(store_blob_stat(s, &d, &size), 1);
        assert_int_equal(size, 5);
        store_free(s);
}

static void test_update(void **state) {
        fixture_t *f = *state;
        const char *d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        uint8_t sealed[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        proxycache_conf_t in = { .project = (char *) "hub", .url = (char *) "https://a.example", .ttl = 300,
                                 .username = (char *) "u", .password = sealed, .password_len = sizeof(sealed) };
        proxycache_conf_t out;
        char digest[DIGEST_STR_MAX];
        int64_t checked = 0;

        assert_int_equal(proxycache_update(f->c, &in, false), -ENOENT); /* not a proxy project */
        add_project(f, "hub");
        add_project(f, "hubx");
        assert_int_equal(proxycache_add(f->c, &in, 1000), 0);
        assert_int_equal(proxycache_tag_mark(f->c, "hub/library/alpine", "3", d1, 100), 0);
        assert_int_equal(proxycache_tag_mark(f->c, "hubx/other", "1", d1, 100), 0);
        assert_int_equal(proxycache_tag_mark(f->c, "hub_/x", "1", d1, 100), 0); /* '_' is no wildcard */

        /* changed in place: created kept, the password gone with the user */
        proxycache_conf_t ch = { .project = (char *) "hub", .url = (char *) "https://a.example", .ttl = 60,
                                 .mirror_of = (char *) "docker.io", .docker_mirror = true };
        assert_int_equal(proxycache_update(f->c, &ch, false), 0);
        assert_int_equal(proxycache_get(f->c, "hub", &out), 1);
        assert_int_equal(out.ttl, 60);
        assert_null(out.username);
        assert_null(out.password);
        assert_string_equal(out.mirror_of, "docker.io");
        assert_true(out.docker_mirror);
        assert_int_equal(out.created, 1000);
        proxycache_conf_done(&out);
        assert_int_equal(proxycache_tag_get(f->c, "hub/library/alpine", "3", &checked, digest, sizeof(digest)), 1);
        assert_int_equal(checked, 100); /* no revalidation asked */

        /* a new upstream: this project's cached tags are due, no other project's */
        ch.url = (char *) "https://b.example";
        assert_int_equal(proxycache_update(f->c, &ch, true), 0);
        assert_int_equal(proxycache_tag_get(f->c, "hub/library/alpine", "3", &checked, digest, sizeof(digest)), 1);
        assert_int_equal(checked, 0);
        assert_string_equal(digest, d1);
        assert_int_equal(proxycache_tag_get(f->c, "hubx/other", "1", &checked, digest, sizeof(digest)), 1);
        assert_int_equal(checked, 100);
        assert_int_equal(proxycache_tag_get(f->c, "hub_/x", "1", &checked, digest, sizeof(digest)), 1);
        assert_int_equal(checked, 100);

        /* refused before anything is written */
        ch.url = (char *) "ftp://x";
        assert_int_equal(proxycache_update(f->c, &ch, true), -EINVAL);
        assert_int_equal(proxycache_get(f->c, "hub", &out), 1);
        assert_string_equal(out.url, "https://b.example");
        proxycache_conf_done(&out);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_url_check),
                cmocka_unit_test(test_ns_docker_hub),
                cmocka_unit_test(test_ns_other_hosts),
                cmocka_unit_test(test_docker_hub_library),
                T(test_rows),
                T(test_tag_checks),
                T(test_update),
                T(test_namespace_local),
                T(test_manifest_cache_refs_later),
                T(test_blob_fill),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
