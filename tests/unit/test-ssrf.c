/* tests/unit/test-ssrf.c: where webhooks may go (server/ssrf.c): every address
 * class, the administrator's allow list, URLs refused before any lookup, and the
 * check on what a name resolves to (loopback names and literals only: no network). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "common/err.h"
#include "server/proxy.h"
#include "server/ssrf.h"

static proxy_addr_t addr(const char *s) {
        proxy_addr_t a;

        if (proxy_addr_parse(s, strlen(s), &a) < 0)
                fail_msg("bad address in the test: %s", s);
        return a;
}

static void test_address_classes(void **state) {
        static const struct {
                const char *addr;
                ssrf_class_t cls;
                const char *what;
        } cases[] = {
                { "169.254.169.254", SSRF_FORBIDDEN, "cloud metadata" },
                { "fd00:ec2::254", SSRF_FORBIDDEN, "cloud metadata" },
                { "192.0.0.192", SSRF_FORBIDDEN, "cloud metadata" },
                { "100.100.100.200", SSRF_FORBIDDEN, "cloud metadata" },
                { "169.254.0.1", SSRF_FORBIDDEN, "link-local" },
                { "169.254.255.255", SSRF_FORBIDDEN, "link-local" },
                { "fe80::1", SSRF_FORBIDDEN, "link-local" },
                { "febf:ffff::1", SSRF_FORBIDDEN, "link-local" },
                { "0.0.0.0", SSRF_FORBIDDEN, "unspecified" },
                { "0.1.2.3", SSRF_FORBIDDEN, "unspecified" },
                { "::", SSRF_FORBIDDEN, "unspecified" },
                { "224.0.0.1", SSRF_FORBIDDEN, "multicast" },
                { "ff02::1", SSRF_FORBIDDEN, "multicast" },
                { "255.255.255.255", SSRF_FORBIDDEN, "reserved" },
                { "127.0.0.1", SSRF_PRIVATE, "loopback" },
                { "127.255.0.9", SSRF_PRIVATE, "loopback" },
                { "::1", SSRF_PRIVATE, "loopback" },
                { "10.1.2.3", SSRF_PRIVATE, "private" },
                { "172.16.0.1", SSRF_PRIVATE, "private" },
                { "172.31.255.254", SSRF_PRIVATE, "private" },
                { "192.168.1.1", SSRF_PRIVATE, "private" },
                { "100.64.0.1", SSRF_PRIVATE, "shared address space" },
                { "fc00::1", SSRF_PRIVATE, "unique local" },
                { "fd12:3456::1", SSRF_PRIVATE, "unique local" },
                { "fec0::1", SSRF_PRIVATE, "site-local" },
                /* IPv4 inside IPv6: judged by the IPv4 address */
                { "::ffff:169.254.169.254", SSRF_FORBIDDEN, "cloud metadata" },
                { "::ffff:127.0.0.1", SSRF_PRIVATE, "loopback" },
                { "64:ff9b::a9fe:a9fe", SSRF_FORBIDDEN, "cloud metadata" },
                { "64:ff9b:1::a00:1", SSRF_PRIVATE, "private" },
                { "2002:a9fe:a9fe::1", SSRF_FORBIDDEN, "cloud metadata" },
                { "2002:7f00:1::", SSRF_PRIVATE, "loopback" },
                { "::10.0.0.1", SSRF_PRIVATE, "private" },
                /* public, including the edges of the ranges above */
                { "172.15.255.255", SSRF_PUBLIC, "public" },
                { "172.32.0.0", SSRF_PUBLIC, "public" },
                { "169.253.255.255", SSRF_PUBLIC, "public" },
                { "100.63.255.255", SSRF_PUBLIC, "public" },
                { "100.128.0.0", SSRF_PUBLIC, "public" },
                { "1.1.1.1", SSRF_PUBLIC, "public" },
                { "192.0.2.7", SSRF_PUBLIC, "public" },
                { "2001:db8::1", SSRF_PUBLIC, "public" },
                { "64:ff9b::808:808", SSRF_PUBLIC, "public" },
                { "fbff::1", SSRF_PUBLIC, "public" },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                proxy_addr_t a = addr(cases[i].addr);
                const char *what = NULL;
                ssrf_class_t c = ssrf_classify(&a, &what);

                if (c != cases[i].cls || strcmp(what, cases[i].what) != 0)
                        fail_msg("%s: class %d (%s), expected %d (%s)", cases[i].addr, c, what, cases[i].cls,
                                 cases[i].what);
        }
}

/* The allow list opens private ranges; nothing opens a forbidden one. */
static void test_allow_list(void **state) {
        proxy_cidrs_t *allow = NULL;
        proxy_addr_t a;

        (void) state;
        a = addr("127.0.0.1");
        assert_false(ssrf_allowed(&a, NULL, NULL));
        a = addr("1.1.1.1");
        assert_true(ssrf_allowed(&a, NULL, NULL));
        assert_int_equal(proxy_cidrs_parse("127.0.0.0/8, ::1, 10.0.0.0/8, 169.254.0.0/16, 0.0.0.0/0", &allow), 0);
        a = addr("127.0.0.1");
        assert_true(ssrf_allowed(&a, allow, NULL));
        a = addr("::1");
        assert_true(ssrf_allowed(&a, allow, NULL));
        a = addr("10.9.9.9");
        assert_true(ssrf_allowed(&a, allow, NULL));
        a = addr("192.168.0.1"); /* not listed (0.0.0.0/0 does match it: a private address the admin allowed) */
        assert_true(ssrf_allowed(&a, allow, NULL));
        a = addr("169.254.169.254"); /* listed, still never */
        assert_false(ssrf_allowed(&a, allow, NULL));
        a = addr("169.254.1.1");
        assert_false(ssrf_allowed(&a, allow, NULL));
        a = addr("fd00::1"); /* not listed */
        assert_false(ssrf_allowed(&a, allow, NULL));
        proxy_cidrs_free(allow);
}

static void test_urls(void **state) {
        static const char *const bad[] = {
                "ftp://example.com/x",
                "file:///etc/passwd",
                "gopher://127.0.0.1:70/",
                "example.com/hook",
                "//example.com/hook",
                "http://user:pw@example.com/hook",
                "http://user@example.com/hook",
                "http:///hook",
                "http://",
                "http://[fe80::1%25eth0]/",
                "http://exa mple.com/",
                "http://example.com:0/",
                "http://example.com:70000/",
                "",
        };
        ssrf_url_t u;
        const char *why = NULL;

        (void) state;
        assert_int_equal(ssrf_url_parse("http://ci.example.com:8080/hook?x=1", &u, &why), 0);
        assert_false(u.https);
        assert_string_equal(u.host, "ci.example.com");
        assert_int_equal(u.port, 8080);
        assert_false(u.literal);
        assert_int_equal(ssrf_url_parse("HTTPS://CI.example.com/hook", &u, &why), 0);
        assert_true(u.https);
        assert_int_equal(u.port, 443);
        assert_int_equal(ssrf_url_parse("http://[::1]:9000/", &u, &why), 0);
        assert_string_equal(u.host, "::1");
        assert_true(u.literal);
        assert_int_equal(u.addr.family, AF_INET6);
        assert_int_equal(ssrf_url_parse("http://192.0.2.7/", &u, &why), 0);
        assert_int_equal(u.port, 80);
        assert_true(u.literal);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                why = NULL;
                if (ssrf_url_parse(bad[i], &u, &why) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
                assert_non_null(why);
        }
}

/* What a URL resolves to is checked: literals, the other spellings of loopback
 * addresses, and a name (localhost, from /etc/hosts). */
static void test_resolve(void **state) {
        static const char *const never[] = {
                "http://169.254.169.254/latest/meta-data/",
                "http://[fd00:ec2::254]/",
                "http://[fe80::1]/",
                "http://[::ffff:169.254.169.254]/",
                "http://0.0.0.0:8080/",
        };
        static const char *const loopback[] = {
                "http://127.0.0.1:9/",
                "http://[::1]:9/",
                "http://2130706433/", /* 127.0.0.1 as one number */
                "http://0x7f.1/",
                "http://127.1/",
                "http://localhost:9/",
        };
        proxy_cidrs_t *allow = NULL, *all = NULL;
        proxy_addr_t a;
        ssrf_url_t u;
        char why[300];
        const char *w;

        (void) state;
        assert_int_equal(proxy_cidrs_parse("127.0.0.0/8,::1", &allow), 0);
        assert_int_equal(proxy_cidrs_parse("0.0.0.0/0,::/0", &all), 0);
        for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
                assert_int_equal(ssrf_url_parse(never[i], &u, &w), 0);
                if (ssrf_resolve(&u, all, true, &a, why, sizeof(why)) != BERTH_EDENIED)
                        fail_msg("not refused: %s", never[i]);
                assert_int_equal(ssrf_resolve(&u, all, false, &a, why, sizeof(why)), BERTH_EDENIED);
        }
        assert_int_equal(ssrf_url_parse(never[0], &u, &w), 0);
        assert_int_equal(ssrf_resolve(&u, NULL, true, &a, why, sizeof(why)), BERTH_EDENIED);
        assert_non_null(strstr(why, "169.254.169.254 is cloud metadata"));
        for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
                const char *what = NULL;

                if (ssrf_url_parse(loopback[i], &u, &w) < 0)
                        fail_msg("not parsed: %s: %s", loopback[i], w);
                if (ssrf_resolve(&u, NULL, true, &a, why, sizeof(why)) != BERTH_EDENIED)
                        fail_msg("loopback not refused without the allow list: %s", loopback[i]);
                assert_non_null(strstr(why, "--webhook-allow-cidr"));
                if (ssrf_resolve(&u, allow, true, &a, why, sizeof(why)) != 0)
                        fail_msg("allowed loopback refused: %s: %s", loopback[i], why);
                assert_int_equal(ssrf_classify(&a, &what), SSRF_PRIVATE);
                assert_string_equal(what, "loopback");
        }
        /* every allowed address of a name, each once */
        {
                proxy_addr_t v[SSRF_ADDRS_MAX];
                size_t n = 0;
                assert_int_equal(ssrf_url_parse("http://localhost:9/", &u, &w), 0);
                assert_int_equal(ssrf_resolve_all(&u, allow, false, v, SSRF_ADDRS_MAX, &n, why, sizeof(why)), 0);
                assert_true(n >= 1 && n <= 2);
                for (size_t i = 0; i < n; i++)
                        assert_int_equal(ssrf_classify(&v[i], NULL), SSRF_PRIVATE);
                if (n == 2)
                        assert_false(proxy_addr_equal(&v[0], &v[1]));
        }
        proxy_cidrs_free(allow);
        proxy_cidrs_free(all);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_address_classes),
                cmocka_unit_test(test_allow_list),
                cmocka_unit_test(test_urls),
                cmocka_unit_test(test_resolve),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
