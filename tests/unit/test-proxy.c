/* tests/unit/test-proxy.c: addresses, trusted-proxy lists and the X-Forwarded-For walk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "server/proxy.h"

static proxy_addr_t A(const char *s) {
        proxy_addr_t a;
        assert_int_equal(proxy_addr_parse(s, strlen(s), &a), 0);
        return a;
}

static const char *fmt(const proxy_addr_t *a) {
        static char buf[PROXY_ADDR_STRLEN];
        proxy_addr_format(a, buf, sizeof(buf));
        return buf;
}

static proxy_cidrs_t *cidrs(const char *list) {
        proxy_cidrs_t *t = NULL;
        assert_int_equal(proxy_cidrs_parse(list, &t), 0);
        assert_non_null(t);
        return t;
}

static void test_addr_forms(void **state) {
        proxy_addr_t a;

        (void) state;
        a = A("192.0.2.7");
        assert_int_equal(a.family, AF_INET);
        assert_string_equal(fmt(&a), "192.0.2.7");
        a = A("2001:db8::1");
        assert_int_equal(a.family, AF_INET6);
        assert_string_equal(fmt(&a), "2001:db8::1");
        /* a v4-mapped address is the v4 address */
        a = A("::ffff:192.0.2.7");
        assert_int_equal(a.family, AF_INET);
        assert_true(proxy_addr_equal(&a, &(proxy_addr_t) { 0 }) == false);
        proxy_addr_t b = A("192.0.2.7");
        assert_true(proxy_addr_equal(&a, &b));
        /* only the given length is read */
        assert_int_equal(proxy_addr_parse("10.0.0.1, 10.0.0.2", 8, &a), 0);
        assert_string_equal(fmt(&a), "10.0.0.1");
}

static void test_addr_rejects(void **state) {
        static const char *const bad[] = {
                "", " 10.0.0.1", "10.0.0.1 ", "10.0.0", "10.0.0.1.5", "010.0.0.1", "10.0.0.256",
                "0x0a.0.0.1", "10.0.0.1:80", "[::1]", "::1%lo", "fe80::1%eth0", "::g", "1:2:3:4:5:6:7:8:9",
                "unknown", "_hidden", "localhost", "10.0.0.1/32",
                "2001:0db8:0000:0000:0000:0000:0000:0001:0001", /* too long for a literal */
        };
        proxy_addr_t a = { .family = 99 };

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(proxy_addr_parse(bad[i], strlen(bad[i]), &a), -EINVAL);
        assert_int_equal(proxy_addr_parse("10.0.0.1\0", 9, &a), -EINVAL); /* a NUL inside */
        assert_int_equal(proxy_addr_parse(NULL, 0, &a), -EINVAL);
        assert_int_equal(a.family, 99); /* untouched */
}

static void test_addr_from_sockaddr(void **state) {
        struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
        struct sockaddr_in s4 = { .sin_family = AF_INET };
        struct sockaddr un = { .sa_family = AF_UNIX };
        proxy_addr_t a;

        (void) state;
        assert_int_equal(inet_pton(AF_INET, "127.0.0.3", &s4.sin_addr), 1);
        assert_int_equal(proxy_addr_from_sockaddr((struct sockaddr *) &s4, &a), 0);
        assert_string_equal(fmt(&a), "127.0.0.3");
        assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.3", &s6.sin6_addr), 1);
        assert_int_equal(proxy_addr_from_sockaddr((struct sockaddr *) &s6, &a), 0);
        assert_int_equal(a.family, AF_INET);
        assert_string_equal(fmt(&a), "127.0.0.3");
        assert_int_equal(inet_pton(AF_INET6, "::1", &s6.sin6_addr), 1);
        assert_int_equal(proxy_addr_from_sockaddr((struct sockaddr *) &s6, &a), 0);
        assert_string_equal(fmt(&a), "::1");
        assert_int_equal(proxy_addr_from_sockaddr(&un, &a), -EAFNOSUPPORT);
        assert_int_equal(proxy_addr_from_sockaddr(NULL, &a), -EAFNOSUPPORT);
}

/* How many entries list holds, as proxy_cidrs_parse counts them against
 * PROXY_CIDRS_MAX: the most copies of one more entry it still takes besides them. */
static size_t cidrs_count(const char *list) {
        char buf[8192];
        size_t n = 0, used;
        proxy_cidrs_t *t = NULL;
        bool blank = strspn(list, " \t") == strlen(list);
        int r;

        used = (size_t) snprintf(buf, sizeof(buf), "%s", list);
        assert_true(used < sizeof(buf));
        for (;;) {
                r = proxy_cidrs_parse(buf, &t);
                t = proxy_cidrs_free(t);
                if (r == -E2BIG)
                        break;
                assert_int_equal(r, 0);
                assert_true(n <= PROXY_CIDRS_MAX);
                used += (size_t) snprintf(buf + used, sizeof(buf) - used, "%s1.2.3.4",
                                          n == 0 && blank ? "" : ",");
                assert_true(used < sizeof(buf));
                n++;
        }
        return PROXY_CIDRS_MAX + 1 - n;
}

static void test_cidrs_match(void **state) {
        static const char list[] = "10.0.0.0/8, 192.168.1.5 ,2001:db8::/32,127.0.0.3/32,\t172.16.0.0/12";
        proxy_cidrs_t *t = cidrs(list);
        proxy_addr_t a;

        (void) state;
        assert_int_equal(cidrs_count(list), 5);
        a = A("10.255.1.2");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("11.0.0.1");
        assert_false(proxy_cidrs_match(t, &a));
        a = A("192.168.1.5");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("192.168.1.6");
        assert_false(proxy_cidrs_match(t, &a));
        a = A("2001:db8:ffff::1");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("2001:db9::1");
        assert_false(proxy_cidrs_match(t, &a));
        a = A("127.0.0.3");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("127.0.0.2");
        assert_false(proxy_cidrs_match(t, &a));
        a = A("172.31.255.255");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("172.32.0.0");
        assert_false(proxy_cidrs_match(t, &a));
        /* the v4-mapped spelling of a trusted v4 peer (a dual-stack socket) matches */
        a = A("::ffff:10.1.2.3");
        assert_true(proxy_cidrs_match(t, &a));
        t = proxy_cidrs_free(t);
        assert_null(t);
}

static void test_cidrs_edges(void **state) {
        proxy_cidrs_t *t;
        proxy_addr_t a;

        (void) state;
        /* bits past the prefix do not matter */
        t = cidrs("10.1.2.3/8");
        a = A("10.200.0.1");
        assert_true(proxy_cidrs_match(t, &a));
        proxy_cidrs_free(t);
        /* /0 is everything of its family only */
        t = cidrs("0.0.0.0/0");
        a = A("203.0.113.9");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("2001:db8::1");
        assert_false(proxy_cidrs_match(t, &a));
        proxy_cidrs_free(t);
        /* an odd prefix */
        t = cidrs("192.0.2.128/25");
        a = A("192.0.2.200");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("192.0.2.127");
        assert_false(proxy_cidrs_match(t, &a));
        proxy_cidrs_free(t);
        /* a v6 block in the mapped range is its v4 block */
        t = cidrs("::ffff:10.0.0.0/104");
        a = A("10.9.9.9");
        assert_true(proxy_cidrs_match(t, &a));
        a = A("11.0.0.1");
        assert_false(proxy_cidrs_match(t, &a));
        proxy_cidrs_free(t);
        /* an empty list holds nothing; NULL matches nothing */
        t = cidrs("");
        assert_int_equal(cidrs_count(""), 0);
        a = A("10.0.0.1");
        assert_false(proxy_cidrs_match(t, &a));
        proxy_cidrs_free(t);
        t = cidrs("  ");
        assert_int_equal(cidrs_count("  "), 0);
        assert_false(proxy_cidrs_match(t, &a));
        proxy_cidrs_free(t);
        assert_false(proxy_cidrs_match(NULL, &a));
}

static void test_cidrs_rejects(void **state) {
        static const char *const bad[] = {
                ",", "10.0.0.0/8,", ",10.0.0.0/8", "10.0.0.0/8,,10.0.0.0/8", "10.0.0.0/33", "10.0.0.0/",
                "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/8/8", "10.0.0.0 /8", "10.0.0.0/ 8",
                "::/129", "10.0.0.0/1000", "/8", "10.0.0.0/8 10.1.0.0/16", "host.example", "::ffff:10.0.0.0/95",
                "10.0.0.0/8;", "*",
        };
        proxy_cidrs_t *t = (proxy_cidrs_t *) 0x1;
        char many[PROXY_CIDRS_MAX * 10 + 16] = "";

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(proxy_cidrs_parse(bad[i], &t), -EINVAL);
        assert_true(t == (proxy_cidrs_t *) 0x1); /* untouched */
        for (int i = 0; i <= PROXY_CIDRS_MAX; i++)
                strcat(many, i ? ",10.0.0.1" : "10.0.0.1");
        assert_int_equal(proxy_cidrs_parse(many, &t), -E2BIG);
        assert_int_equal(proxy_cidrs_parse(NULL, &t), -EINVAL);
}

/* client address for peer and the XFF values */
static int client(const proxy_cidrs_t *t, const char *peer, const char *const *xff, size_t n,
                  char out[PROXY_ADDR_STRLEN]) {
        proxy_addr_t p = A(peer), c;
        int r = proxy_client_addr(t, &p, xff, n, &c);
        proxy_addr_format(&c, out, PROXY_ADDR_STRLEN);
        return r;
}

static void test_xff_walk(void **state) {
        proxy_cidrs_t *t = cidrs("127.0.0.3/32,10.0.0.0/8");
        char out[PROXY_ADDR_STRLEN];

        (void) state;
        /* the proxy appends the address it saw: the right-most one */
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "198.51.100.7" }, 1, out), 1);
        assert_string_equal(out, "198.51.100.7");
        /* whatever the client wrote itself further left is not believed */
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "1.2.3.4, 198.51.100.7" }, 1, out), 1);
        assert_string_equal(out, "198.51.100.7");
        /* trusted hops are skipped (real_ip_recursive) */
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "1.2.3.4,198.51.100.7, 10.1.1.1,10.2.2.2" }, 1, out), 1);
        assert_string_equal(out, "198.51.100.7");
        /* all trusted: the left-most */
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "10.9.9.9, 10.1.1.1" }, 1, out), 1);
        assert_string_equal(out, "10.9.9.9");
        /* several header fields are one list, in the order they came */
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "1.2.3.4", "198.51.100.7, 10.1.1.1" }, 2, out), 1);
        assert_string_equal(out, "198.51.100.7");
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "198.51.100.7", "10.1.1.1" }, 2, out), 1);
        assert_string_equal(out, "198.51.100.7");
        /* IPv6 clients; a v4-mapped one reads as v4 */
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "2001:db8::5" }, 1, out), 1);
        assert_string_equal(out, "2001:db8::5");
        assert_int_equal(client(t, "::ffff:127.0.0.3", (const char *[]) { "::ffff:198.51.100.7" }, 1, out), 1);
        assert_string_equal(out, "198.51.100.7");
        /* no header, or only NULL values: the peer */
        assert_int_equal(client(t, "127.0.0.3", NULL, 0, out), 0);
        assert_string_equal(out, "127.0.0.3");
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { NULL }, 1, out), 0);
        assert_string_equal(out, "127.0.0.3");
        proxy_cidrs_free(t);
}

static void test_xff_untrusted_peer(void **state) {
        proxy_cidrs_t *t = cidrs("127.0.0.3/32");
        char out[PROXY_ADDR_STRLEN];

        (void) state;
        /* a spoofed header from anyone else is ignored, even a malformed one */
        assert_int_equal(client(t, "127.0.0.2", (const char *[]) { "10.9.9.9" }, 1, out), 0);
        assert_string_equal(out, "127.0.0.2");
        assert_int_equal(client(t, "127.0.0.2", (const char *[]) { "garbage" }, 1, out), 0);
        assert_string_equal(out, "127.0.0.2");
        assert_int_equal(client(NULL, "127.0.0.3", (const char *[]) { "10.9.9.9" }, 1, out), 0);
        assert_string_equal(out, "127.0.0.3");
        proxy_cidrs_free(t);
}

static void test_xff_malformed(void **state) {
        static const char *const bad[] = {
                "", " ", ",", "1.2.3.4,", ",1.2.3.4", "1.2.3.4,,5.6.7.8", "unknown", "1.2.3.4:5678",
                "[2001:db8::1]", "1.2.3.4 5.6.7.8", "1.2.3.4;5.6.7.8", "fe80::1%eth0",
                "198.51.100.7, for=1.2.3.4", "garbage, 198.51.100.7", "1.2.3.4\r\n", "\x01",
        };
        proxy_cidrs_t *t = cidrs("127.0.0.3/32");
        char out[PROXY_ADDR_STRLEN];

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(client(t, "127.0.0.3", (const char *[]) { bad[i] }, 1, out), -EINVAL);
                assert_string_equal(out, "127.0.0.3");
        }
        /* one bad field spoils the list */
        assert_int_equal(client(t, "127.0.0.3", (const char *[]) { "nope", "198.51.100.7" }, 2, out), -EINVAL);
        assert_string_equal(out, "127.0.0.3");
        proxy_cidrs_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_addr_forms),
                cmocka_unit_test(test_addr_rejects),
                cmocka_unit_test(test_addr_from_sockaddr),
                cmocka_unit_test(test_cidrs_match),
                cmocka_unit_test(test_cidrs_edges),
                cmocka_unit_test(test_cidrs_rejects),
                cmocka_unit_test(test_xff_walk),
                cmocka_unit_test(test_xff_untrusted_peer),
                cmocka_unit_test(test_xff_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
