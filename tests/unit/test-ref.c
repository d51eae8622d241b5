/* tests/unit/test-ref.c: image reference parsing and docker's normalization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "common/err.h"
#include "common/ref.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check(const char *in, const char *domain, const char *path, const char *tag,
                  const char *digest, const char *full) {
        ref_t *r = NULL;
        const char *detail = NULL;
        int rc = ref_parse(in, &r, &detail);

        if (rc != 0)
                fail_msg("%s: %s", in, detail ? detail : "?");
        assert_string_equal(ref_domain(r), domain);
        assert_string_equal(ref_path(r), path);
        assert_string_equal(ref_tag(r), tag);
        assert_string_equal(ref_digest_str(r), digest);
        assert_string_equal(ref_full(r), full);
        ref_free(r);
}

static void bad(const char *in) {
        ref_t *r = NULL;
        const char *detail = NULL;

        assert_int_equal(ref_parse(in, &r, &detail), BERTH_EREF_INVALID);
        assert_null(r);
        assert_non_null(detail);
}

static void test_docker_hub_short(void **s) {
        (void) s;
        check("nginx", "docker.io", "library/nginx", "", "", "docker.io/library/nginx:latest");
        check("library/nginx", "docker.io", "library/nginx", "", "", "docker.io/library/nginx:latest");
        check("docker.io/nginx", "docker.io", "library/nginx", "", "", "docker.io/library/nginx:latest");
        check("index.docker.io/library/nginx", "docker.io", "library/nginx", "", "",
              "docker.io/library/nginx:latest");
        check("user/repo:1.0", "docker.io", "user/repo", "1.0", "", "docker.io/user/repo:1.0");
        check("nginx:1.25-alpine", "docker.io", "library/nginx", "1.25-alpine", "",
              "docker.io/library/nginx:1.25-alpine");
}

static void test_localhost(void **s) {
        ref_t *r = NULL;
        (void) s;
        check("localhost/x", "localhost", "x", "", "", "localhost/x:latest");
        check("localhost:5000/x", "localhost:5000", "x", "", "", "localhost:5000/x:latest");
        /* no slash: "localhost" is the repository and "5000" the tag */
        check("localhost:5000", "docker.io", "library/localhost", "5000", "", "docker.io/library/localhost:5000");
        assert_int_equal(ref_parse("localhost:5000/x", &r, NULL), 0);
        assert_string_equal(ref_host(r), "localhost");
        assert_string_equal(ref_port(r), "5000");
        ref_free(r);
}

static void test_registry_with_port(void **s) {
        ref_t *r = NULL;
        (void) s;
        check("my-registry.example.com:5000/example/web-example:v1.0.1", "my-registry.example.com:5000",
              "example/web-example", "v1.0.1", "", "my-registry.example.com:5000/example/web-example:v1.0.1");
        assert_int_equal(ref_parse("my-registry.example.com:5000/example/web-example:v1.0.1", &r, NULL), 0);
        assert_string_equal(ref_host(r), "my-registry.example.com");
        assert_string_equal(ref_port(r), "5000");
        assert_string_equal(ref_name(r), "my-registry.example.com:5000/example/web-example");
        ref_free(r);
        check("quay.io/coreos/etcd", "quay.io", "coreos/etcd", "", "", "quay.io/coreos/etcd:latest");
        check("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", "t", "", "127.0.0.1:5000/a/b/c:t");
}

static void test_ipv6(void **s) {
        ref_t *r = NULL;
        (void) s;
        check("[::1]:5000/a:b", "[::1]:5000", "a", "b", "", "[::1]:5000/a:b");
        check("[2001:db8::1]/x", "[2001:db8::1]", "x", "", "", "[2001:db8::1]/x:latest");
        assert_int_equal(ref_parse("[::1]:5000/a:b", &r, NULL), 0);
        assert_string_equal(ref_host(r), "[::1]");
        assert_string_equal(ref_port(r), "5000");
        ref_free(r);
        bad("[::1]:5000");         /* no path: "[::1]" is not a repository */
        bad("[zz::1]:5000/a");
        bad("[::1:5000/a");
}

static void test_digest(void **s) {
        ref_t *r = NULL;
        (void) s;
        check("x@" D64, "docker.io", "library/x", "", D64, "docker.io/library/x@" D64);
        check("x:t@" D64, "docker.io", "library/x", "t", D64, "docker.io/library/x:t@" D64);
        check("localhost:5000/x@" D64, "localhost:5000", "x", "", D64, "localhost:5000/x@" D64);
        assert_int_equal(ref_parse("x@" D64, &r, NULL), 0);
        assert_non_null(ref_digest(r));
        assert_string_equal(ref_manifest_ref(r), D64);
        assert_string_equal(ref_effective_tag(r), "");
        ref_free(r);
        assert_int_equal(ref_parse("x:t", &r, NULL), 0);
        assert_null(ref_digest(r));
        assert_string_equal(ref_manifest_ref(r), "t");
        ref_free(r);
}

static void test_bad_digest(void **s) {
        (void) s;
        bad("x@sha256:0123");
        bad("x@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
        bad("x@md5:0123456789abcdef0123456789abcdef");
        bad("x@");
        bad("x@" D64 "@" D64);
        bad("@" D64);
}

static void test_uppercase_rejected(void **s) {
        const char *detail = NULL;
        ref_t *r = NULL;
        (void) s;
        assert_int_equal(ref_parse("Nginx", &r, &detail), BERTH_EREF_INVALID);
        assert_string_equal(detail, "repository name must be lowercase");
        bad("example.com/Foo/bar");
        /* an uppercase first component is a registry host (docker does the same) */
        check("Example.com/foo", "Example.com", "foo", "", "", "Example.com/foo:latest");
}

static void test_bad_tag(void **s) {
        char tag[200];
        (void) s;
        bad("x:");
        bad("x:-tag");
        bad("x:.tag");
        bad("x:t/a");  /* then "t/a" is a path with ':' → invalid host "x:t"? still invalid */
        bad("x:t!");
        memset(tag, 'a', sizeof(tag));
        memcpy(tag, "x:", 2);
        tag[2 + 129] = '\0';
        bad(tag);
        tag[2 + 128] = '\0';
        {
                char full[200];
                snprintf(full, sizeof(full), "docker.io/library/%s", tag);
                check(tag, "docker.io", "library/x", tag + 2, "", full);
        }
}

static void test_too_long(void **s) {
        char name[300];
        (void) s;
        /* docker.io/library/ + 237 = 255: fine; one more is too long */
        memset(name, 'a', sizeof(name));
        name[237] = '\0';
        {
                ref_t *r = NULL;
                assert_int_equal(ref_parse(name, &r, NULL), 0);
                assert_int_equal(strlen(ref_name(r)), 255);
                ref_free(r);
        }
        name[237] = 'a';
        name[238] = '\0';
        bad(name);
        {
                char big[REF_STR_MAX + 10];
                memset(big, 'a', sizeof(big));
                big[sizeof(big) - 1] = '\0';
                bad(big);
        }
}

static void test_bad_names(void **s) {
        (void) s;
        bad("");
        bad(":tag");
        bad("a//b");
        bad("a/");
        bad("/a");
        bad("-a");
        bad("a-");
        bad("a..b");
        bad("a___b");
        bad("a b");
        bad("héllo");
        bad("example.com:/a");
        bad("example.com:99999/a");
        bad("-example.com/a");
        bad("exa_mple.com/a");
        bad("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        check("a__b/c--d/e.f_g", "docker.io", "a__b/c--d/e.f_g", "", "", "docker.io/a__b/c--d/e.f_g:latest");
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_docker_hub_short),
                cmocka_unit_test(test_localhost),
                cmocka_unit_test(test_registry_with_port),
                cmocka_unit_test(test_ipv6),
                cmocka_unit_test(test_digest),
                cmocka_unit_test(test_bad_digest),
                cmocka_unit_test(test_uppercase_rejected),
                cmocka_unit_test(test_bad_tag),
                cmocka_unit_test(test_too_long),
                cmocka_unit_test(test_bad_names),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
