/* tests/unit/test-routes.c: berthd's router, linked from libberthd.la: repository
 * names with slashes, the operation read from the end of the path, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "server/server.h"

static config_t cfg;
static server_t srv = { .cfg = &cfg };

/* Route method+path; the request is freed by the caller with done(). */
static request_t *route(const char *method, const char *path) {
        request_t *req = calloc(1, sizeof(*req));

        assert_non_null(req);
        req->srv = &srv;
        req->method = method;
        req->is_head = strcmp(method, "HEAD") == 0;
        req->path = strdup(path);
        route_request(req);
        return req;
}

static void done(request_t *req) {
        if (req->response)
                MHD_destroy_response(req->response);
        free(req->path);
        free(req->repo);
        free(req->ref);
        free(req);
}

static void expect(const char *method, const char *path, const route_ops_t *ops, const char *repo,
                   const char *ref) {
        request_t *req = route(method, path);

        assert_null(req->response);
        assert_ptr_equal(req->ops, ops);
        if (repo)
                assert_string_equal(req->repo, repo);
        else
                assert_null(req->repo);
        if (ref)
                assert_string_equal(req->ref, ref);
        else
                assert_null(req->ref);
        done(req);
}

static void expect_status(const char *method, const char *path, unsigned status) {
        request_t *req = route(method, path);

        assert_non_null(req->response);
        assert_int_equal(req->status, status);
        done(req);
}

static void test_names_with_slashes(void **state) {
        (void) state;
        expect("GET", "/v2/a/b/c/manifests/latest", &route_manifest_get, "a/b/c", "latest");
        expect("HEAD", "/v2/a/b/c/manifests/latest", &route_manifest_get, "a/b/c", "latest");
        expect("PUT", "/v2/lib/manifests/v1", &route_manifest_put, "lib", "v1");
        /* a repository may itself be named like an operation */
        expect("GET", "/v2/x/blobs/y/blobs/sha256:ab", &route_blob_get, "x/blobs/y", "sha256:ab");
        expect("GET", "/v2/tags/list/tags/list", &route_tags_list, "tags/list", NULL);
        expect("GET", "/v2/a/manifests/b/manifests/c", &route_manifest_get, "a/manifests/b", "c");
        expect("POST", "/v2/a/b/blobs/uploads/", &route_upload_start, "a/b", NULL);
        expect("PATCH", "/v2/a/b/blobs/uploads/u-1", &route_upload_patch, "a/b", "u-1");
        expect("GET", "/v2/a/b/blobs/uploads/u-1", &route_upload_status, "a/b", "u-1");
        expect("DELETE", "/v2/a/b/blobs/uploads/u-1", &route_upload_delete, "a/b", "u-1");
        expect("GET", "/v2/a/b/referrers/sha256:ab", &route_referrers, "a/b", "sha256:ab");
        expect("GET", "/v2/_catalog", &route_catalog, NULL, NULL);
        expect("GET", "/v2/", &route_base, NULL, NULL);
        expect("GET", "/readyz", &route_ready, NULL, NULL);
}

static void test_refusals(void **state) {
        (void) state;
        expect_status("GET", "/v2/A/manifests/latest", 400);      /* uppercase name */
        expect_status("GET", "/v2/a//b/manifests/latest", 400);   /* empty component */
        expect_status("POST", "/v2/a/manifests/latest", 405);
        expect_status("PUT", "/v2/_catalog", 405);
        expect_status("GET", "/v2/a", 404);
        expect_status("GET", "/elsewhere", 404);
}

/* --auth none has no token endpoint */
static void test_token_route(void **state) {
        (void) state;
        cfg.auth_none = false;
        expect("POST", "/auth/token", &route_token, NULL, NULL);
        cfg.auth_none = true;
        expect_status("GET", "/auth/token", 404);
        cfg.auth_none = false;
}

/* What access control asks for each route (route_ops_t.actions and flags). */
static void test_route_actions(void **state) {
        static const struct {
                const route_ops_t *ops;
                unsigned actions;
        } want[] = {
                { &route_base, AUTH_PULL },          { &route_catalog, AUTH_PULL },
                { &route_tags_list, AUTH_PULL },     { &route_blob_get, AUTH_PULL },
                { &route_manifest_get, AUTH_PULL },  { &route_referrers, AUTH_PULL },
                { &route_blob_delete, AUTH_DELETE }, { &route_manifest_delete, AUTH_DELETE },
                { &route_upload_start, AUTH_PUSH | AUTH_PULL },
                { &route_upload_patch, AUTH_PUSH | AUTH_PULL },
                { &route_upload_put, AUTH_PUSH | AUTH_PULL },
                { &route_upload_status, AUTH_PUSH | AUTH_PULL },
                { &route_upload_delete, AUTH_PUSH | AUTH_PULL },
                { &route_manifest_put, AUTH_PUSH | AUTH_PULL },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                assert_int_equal(want[i].ops->actions, want[i].actions);
                assert_false(want[i].ops->flags & ROUTE_OPEN);
        }
        assert_true(route_health.flags & ROUTE_OPEN);
        assert_true(route_ready.flags & ROUTE_OPEN);
        assert_true(route_token.flags & ROUTE_OPEN);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_with_slashes),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_token_route),
                cmocka_unit_test(test_route_actions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
