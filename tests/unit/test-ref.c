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
        /* hex digits and colons only, as distribution's grammar: no embedded IPv4 */
        bad("[2001:db8:3:4::192.0.2.33]:5000/debian");
        bad("[::ffff:127.0.0.1]/a");
        bad("[]:5000/a");
        bad("[fe80::1%eth0]/a");
        check("[2001:db8:3:4::c000:221]:5000/debian", "[2001:db8:3:4::c000:221]:5000", "debian", "", "",
              "[2001:db8:3:4::c000:221]:5000/debian:latest");
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
        /* the limit is on the path, "library/" included: library/ + 247 = 255 is fine,
         * one more is too long (the domain "docker.io/" does not count) */
        memset(name, 'a', sizeof(name));
        name[247] = '\0';
        {
                ref_t *r = NULL;
                assert_int_equal(ref_parse(name, &r, NULL), 0);
                assert_int_equal(strlen(ref_path(r)), 255);
                assert_int_equal(strlen(ref_name(r)), 265);
                ref_free(r);
        }
        name[247] = 'a';
        name[248] = '\0';
        bad(name);
        {
                char big[REF_STR_MAX + 10];
                memset(big, 'a', sizeof(big));
                big[sizeof(big) - 1] = '\0';
                bad(big);
        }
}

/* docker's reference library limits the path only: "a/a/.../a:tag" with a 255-character
 * path is valid and normalizes to docker.io/...; a 256-character path is not */
static void test_path_limit_excludes_domain(void **s) {
        char in[400], path[300], full[400];
        (void) s;
        for (size_t i = 0; i < 255; i++)
                path[i] = (i % 2) ? '/' : 'a';   /* "a/a/.../a": 128 components */
        path[255] = '\0';
        snprintf(in, sizeof(in), "%s:tag", path);
        snprintf(full, sizeof(full), "docker.io/%s:tag", path);
        check(in, "docker.io", path, "tag", "", full);
        /* with a registry: the domain does not count either */
        snprintf(in, sizeof(in), "registry.example.com:5000/%s:tag", path);
        snprintf(full, sizeof(full), "registry.example.com:5000/%s:tag", path);
        check(in, "registry.example.com:5000", path, "tag", "", full);
        /* the longest tag and a sha512 digest on top still parse */
        {
                char tag[129], big[REF_STR_MAX + 1];
                memset(tag, 't', 128);
                tag[128] = '\0';
                snprintf(big, sizeof(big), "example.com/%s:%s@sha512:%0128d", path, tag, 0);
                ref_t *r = NULL;
                assert_int_equal(ref_parse(big, &r, NULL), 0);
                assert_string_equal(ref_path(r), path);
                ref_free(r);
        }
        /* the registry host: at most 253 characters (the longest DNS name), so that a
         * normalized reference always parses again */
        {
                char host[300];
                memset(host, 'h', sizeof(host));
                memcpy(host + 249, ".com", 4);   /* 253 characters */
                host[253] = '\0';
                snprintf(in, sizeof(in), "%s:5000/x", host);
                ref_t *r = NULL;
                assert_int_equal(ref_parse(in, &r, NULL), 0);
                assert_int_equal(strlen(ref_host(r)), 253);
                ref_free(r);
                memmove(host + 1, host, 254);    /* 254 characters */
                snprintf(in, sizeof(in), "%s/x", host);
                bad(in);
        }
        /* 257 characters: "a/.../a/a" */
        snprintf(in, sizeof(in), "%s/a:tag", path);
        bad(in);
        snprintf(in, sizeof(in), "example.com/%s/a", path);
        bad(in);
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
                cmocka_unit_test(test_path_limit_excludes_domain),
                cmocka_unit_test(test_bad_names),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
