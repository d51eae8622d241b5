/* tests/unit/test-keyring.c: credential matching as the kubelet's keyring does it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "client/dockercfg.h"
#include "client/keyring.h"

static keyring_t *ring(const char *pod_json, const char *node_json) {
        keyring_t *k = NULL;
        dockercfg_t *c = NULL;

        assert_int_equal(keyring_new(&k), 0);
        if (pod_json) {
                assert_int_equal(dockercfg_parse(pod_json, strlen(pod_json), &c, NULL), 0);
                assert_int_equal(keyring_add(k, KEYRING_POD, c), 0);
                dockercfg_free(c);
        }
        if (node_json) {
                assert_int_equal(dockercfg_parse(node_json, strlen(node_json), &c, NULL), 0);
                assert_int_equal(keyring_add(k, KEYRING_NODE, c), 0);
                dockercfg_free(c);
        }
        return k;
}

/* usernames of the matches, comma-joined */
static char *users(keyring_t *k, const char *image) {
        static char buf[512];
        keyring_cred_t *v = NULL;
        size_t n = 0;

        assert_int_equal(keyring_lookup(k, image, &v, &n), 0);
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (i)
                        strcat(buf, ",");
                strcat(buf, v[i].username);
        }
        free(v);
        return buf;
}

#define E(key, user) "\"" key "\":{\"username\":\"" user "\",\"password\":\"p\"}"

static void test_normalize(void **s) {
        char *k;
        (void) s;
        k = keyring_key_normalize("https://index.docker.io/v1/");
        assert_string_equal(k, "index.docker.io");
        free(k);
        k = keyring_key_normalize("http://quay.io/v2/coreos");
        assert_string_equal(k, "quay.io/coreos");
        free(k);
        k = keyring_key_normalize("quay.io/coreos/");
        assert_string_equal(k, "quay.io/coreos/");
        free(k);
        k = keyring_key_normalize("registry.example:5000");
        assert_string_equal(k, "registry.example:5000");
        free(k);
        assert_null(keyring_key_normalize("ftp://x"));
}

static void test_match_rules(void **s) {
        (void) s;
        assert_true(keyring_match("quay.io", "quay.io/coreos/etcd"));
        assert_true(keyring_match("quay.io/coreos", "quay.io/coreos/etcd"));
        assert_false(keyring_match("quay.io/coreos", "quay.io/other/etcd"));
        /* the kubelet's prefix is a plain string prefix */
        assert_true(keyring_match("quay.io/core", "quay.io/coreos/etcd"));
        assert_true(keyring_match("*.example.com", "a.example.com/x"));
        assert_false(keyring_match("*.example.com", "a.b.example.com/x")); /* one label per "*" */
        assert_false(keyring_match("*.example.com", "example.com/x"));
        assert_true(keyring_match("*.*.example.com", "a.b.example.com/x"));
        assert_true(keyring_match("reg*.example.com", "registry.example.com/x"));
        assert_true(keyring_match("r?g.io", "reg.io/x"));
        assert_true(keyring_match("r[a-f]g.io", "reg.io/x"));
        assert_false(keyring_match("r[^e]g.io", "reg.io/x"));
        /* ports must be equal, on both sides */
        assert_true(keyring_match("example.com:5000", "example.com:5000/x"));
        assert_false(keyring_match("example.com", "example.com:5000/x"));
        assert_false(keyring_match("example.com:5000", "example.com/x"));
        assert_false(keyring_match("*.example.com:5000", "a.example.com:5001/x"));
        assert_true(keyring_match("[::1]:5000", "[::1]:5000/x"));
        assert_false(keyring_match("other.com", "example.com/x"));
}

/* Several stars in one label: each star is tried once per position, not every star at
 * every position (that took seconds for 8 stars against a 60-character label and
 * forever for a few more: a pull secret's key could hang berth pull). The alarm turns
 * a hang into a failure. */
static void test_glob_many_stars(void **s) {
        char key[128], image[128];
        size_t n = 0;

        (void) s;
        alarm(10);
        for (int i = 0; i < 12; i++) {
                key[n++] = '*';
                key[n++] = 'a';
        }
        strcpy(key + n, "b.example.com");
        memset(image, 'a', 60);
        strcpy(image + 60, ".example.com/x");
        assert_false(keyring_match(key, image));
        image[59] = 'b';
        assert_true(keyring_match(key, image));
        /* the same answers as trying every split */
        assert_true(keyring_match("*reg*try*.example.com", "myregistry1.example.com/x"));
        assert_true(keyring_match("a*b*c.io", "abxbc.io/x"));
        assert_false(keyring_match("a*b*c.io", "acb.io/x"));
        assert_true(keyring_match("*b*.io", "abab.io/x"));
        assert_true(keyring_match("*[0-9].io", "node7.io/x"));
        assert_false(keyring_match("*[0-9].io", "node.io/x"));
        assert_true(keyring_match("*?*.io", "a.io/x"));
        assert_false(keyring_match("*??*.io", "a.io/x"));
        assert_true(keyring_match("***.io", "abc.io/x"));
        assert_false(keyring_match("*[a.io", "xa.io/x"));   /* unclosed class: no match */
        assert_true(keyring_match("*\\*.io", "a*.io/x")); /* an escaped star is a literal one */
        assert_false(keyring_match("*\\*.io", "ab.io/x"));
        alarm(0);
}

static void test_most_specific_first(void **s) {
        keyring_t *k = ring("{\"auths\":{" E("quay.io", "host") "," E("quay.io/coreos", "ns") ","
                            E("quay.io/coreos/etcd", "repo") "," E("*.io", "glob") "}}", NULL);
        (void) s;
        assert_string_equal(users(k, "quay.io/coreos/etcd"), "repo,ns,host,glob");
        assert_string_equal(users(k, "quay.io/other/x"), "host,glob");
        assert_string_equal(users(k, "gcr.io/x"), "glob");
        assert_string_equal(users(k, "example.com/x"), "");
        keyring_free(k);
}

static void test_pod_before_node(void **s) {
        keyring_t *k = ring("{\"auths\":{" E("registry.example", "pod") "}}",
                            "{\"auths\":{" E("registry.example/team/app", "node-specific") ","
                            E("registry.example", "node") "}}");
        (void) s;
        /* pod secrets first even though the node has a more specific key */
        assert_string_equal(users(k, "registry.example/team/app"), "pod,node-specific,node");
        keyring_free(k);
}

static void test_scheme_and_docker_hub(void **s) {
        keyring_t *k = ring("{\"auths\":{" E("https://index.docker.io/v1/", "hub") ","
                            E("http://registry.example:5000", "plain") "}}", NULL);
        (void) s;
        assert_string_equal(users(k, "docker.io/library/nginx"), "hub");
        assert_string_equal(users(k, "docker.io/user/app"), "hub");
        assert_string_equal(users(k, "registry.example:5000/app"), "plain");
        assert_string_equal(users(k, "registry.example/app"), "");
        assert_string_equal(users(k, "quay.io/app"), "");
        keyring_free(k);
}

static void test_several_credentials_for_one_key(void **s) {
        keyring_t *k = ring("{\"auths\":{" E("registry.example", "first") "}}", NULL);
        dockercfg_t *c = NULL;
        const char *second = "{\"auths\":{" E("https://registry.example", "second") "}}";
        (void) s;
        assert_int_equal(dockercfg_parse(second, strlen(second), &c, NULL), 0);
        assert_int_equal(keyring_add(k, KEYRING_POD, c), 0);
        dockercfg_free(c);
        /* both tried, in the order the secrets were given */
        assert_string_equal(users(k, "registry.example/x"), "first,second");
        keyring_free(k);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_normalize),
                cmocka_unit_test(test_match_rules),
                cmocka_unit_test(test_glob_many_stars),
                cmocka_unit_test(test_most_specific_first),
                cmocka_unit_test(test_pod_before_node),
                cmocka_unit_test(test_scheme_and_docker_hub),
                cmocka_unit_test(test_several_credentials_for_one_key),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
