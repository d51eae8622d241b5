/* tests/unit/test-layout.c: the OCI layout store (entries, blobs, GC, HMAC key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "client/layout.h"
#include "common/err.h"

static char dir[64];

static int setup(void **state) {
        layout_t *l = NULL;
        char cmd[128];
        snprintf(dir, sizeof(dir), "/tmp/test-layout-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(cmd, sizeof(cmd), "%s/store", dir);
        if (layout_open(cmd, &l) < 0)
                return -1;
        *state = l;
        return 0;
}

static int teardown(void **state) {
        char cmd[160];
        layout_free(*state);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_skeleton(void **state) {
        layout_t *l = *state;
        char p[128];
        struct stat st;
        snprintf(p, sizeof(p), "%s/oci-layout", layout_root(l));
        assert_int_equal(stat(p, &st), 0);
        snprintf(p, sizeof(p), "%s/index.json", layout_root(l));
        assert_int_equal(stat(p, &st), 0);
}

static void test_blob_write_verifies(void **state) {
        layout_t *l = *state;
        digest_t d, other;
        uint64_t sz = 0;
        assert_int_equal(digest_buf(DIGEST_SHA256, "hello", 5, &d), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, "hellx", 5, &other), 0);
        assert_int_equal(layout_blob_write(l, &other, "hello", 5), BERTH_EDIGEST);
        assert_int_equal(layout_blob_stat(l, &other, NULL), 0); /* nothing kept */
        assert_int_equal(layout_blob_write(l, &d, "hello", 5), 0);
        assert_int_equal(layout_blob_stat(l, &d, &sz), 1);
        assert_int_equal(sz, 5);
}

static digest_t put_json(layout_t *l, const char *json) {
        digest_t d;
        assert_int_equal(digest_buf(DIGEST_SHA256, json, strlen(json), &d), 0);
        assert_int_equal(layout_blob_write(l, &d, json, strlen(json)), 0);
        return d;
}

static void test_entries_and_gc(void **state) {
        layout_t *l = *state;
        digest_t cfg, lay, shared, m1, m2, junk;
        char json[1024];
        layout_image_t img = { 0 }, got;
        layout_image_t *v = NULL;
        size_t n = 0, freed_n = 0;
        uint64_t freed = 0;

        cfg = put_json(l, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
        lay = put_json(l, "layer-one");
        shared = put_json(l, "layer-shared");
        junk = put_json(l, "unreferenced");
        snprintf(json, sizeof(json), "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":37},"
                 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":9},"
                 "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":12}]}",
                 cfg.str, lay.str, shared.str);
        m1 = put_json(l, json);
        snprintf(json, sizeof(json), "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":37},"
                 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":12}]}",
                 cfg.str, shared.str);
        m2 = put_json(l, json);

        img.ref = "example.com/a:1";
        img.manifest = m1;
        img.media_type = "application/vnd.oci.image.manifest.v1+json";
        img.size = 10;
        img.pulled_by = "anonymous";
        assert_int_equal(layout_image_put(l, &img), 0);
        img.ref = "example.com/b:1";
        img.manifest = m2;
        img.pulled_by = NULL;
        assert_int_equal(layout_image_put(l, &img), 0);
        img.pulled_by = "abc"; /* replacing keeps one entry per reference */
        assert_int_equal(layout_image_put(l, &img), 0);
        assert_int_equal(layout_image_list(l, &v, &n), 0);
        assert_int_equal(n, 2);
        layout_image_list_free(v, n);

        assert_int_equal(layout_image_get(l, "example.com/b:1", &got), 1);
        assert_true(digest_equal(&got.manifest, &m2));
        assert_string_equal(got.pulled_by, "abc");
        layout_image_done(&got);
        assert_int_equal(layout_image_get(l, "example.com/c:1", &got), 0);
        assert_int_equal(layout_image_find_digest(l, "example.com/a", &m1, &got), 1);
        layout_image_done(&got);
        assert_int_equal(layout_image_find_digest(l, "example.com/b", &m1, &got), 0);

        /* GC: only the junk blob goes */
        assert_int_equal(layout_gc(l, &freed, &freed_n), 0);
        assert_int_equal(freed_n, 1);
        assert_int_equal(layout_blob_stat(l, &junk, NULL), 0);
        assert_int_equal(layout_blob_stat(l, &shared, NULL), 1);
        /* remove a: its own layer and manifest go, the shared ones stay */
        assert_int_equal(layout_image_remove(l, "example.com/a:1"), 1);
        assert_int_equal(layout_image_remove(l, "example.com/a:1"), 0);
        assert_int_equal(layout_gc(l, &freed, &freed_n), 0);
        assert_int_equal(freed_n, 2);
        assert_int_equal(layout_blob_stat(l, &lay, NULL), 0);
        assert_int_equal(layout_blob_stat(l, &m1, NULL), 0);
        assert_int_equal(layout_blob_stat(l, &shared, NULL), 1);
        assert_int_equal(layout_blob_stat(l, &cfg, NULL), 1);
}

static void test_hmac_key_is_stable(void **state) {
        layout_t *l = *state, *l2 = NULL;
        char a[65], b[65], c[65];
        assert_int_equal(layout_hmac(l, "user\0pw", 7, a), 0);
        assert_int_equal(layout_open(layout_root(l), &l2), 0);
        assert_int_equal(layout_hmac(l2, "user\0pw", 7, b), 0);
        assert_string_equal(a, b);
        assert_int_equal(layout_hmac(l2, "user\0px", 7, c), 0);
        assert_string_not_equal(a, c);
        assert_int_equal(strlen(a), 64);
        layout_free(l2);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test_setup_teardown(test_skeleton, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blob_write_verifies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entries_and_gc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hmac_key_is_stable, setup, teardown),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
