/* tests/unit/test-dockercfg.c: config.json, .dockercfg and Secret (JSON and YAML). */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "client/dockercfg.h"
#include "common/err.h"

/* base64("alice:s3cr:et") */
#define AUTH_ALICE "YWxpY2U6czNjcjpldA=="
/* base64 of {"auths":{"reg.example:5000":{"auth":"YWxpY2U6czNjcjpldA=="}}} */

static char *b64(const char *s) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(s), o = 0;
        char *out = malloc(n / 3 * 4 + 5);
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) (unsigned char) s[i] << 16;
                if (i + 1 < n) v |= (uint32_t) (unsigned char) s[i + 1] << 8;
                if (i + 2 < n) v |= (unsigned char) s[i + 2];
                out[o++] = t[(v >> 18) & 63];
                out[o++] = t[(v >> 12) & 63];
                out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? t[v & 63] : '=';
        }
        out[o] = '\0';
        return out;
}

static dockercfg_t *ok(const char *text) {
        dockercfg_t *c = NULL;
        const char *detail = NULL;
        int r = dockercfg_parse(text, strlen(text), &c, &detail);
        if (r != 0)
                fail_msg("parse failed: %d %s", r, detail ? detail : "");
        return c;
}

static void bad(const char *text) {
        dockercfg_t *c = NULL;
        const char *detail = NULL;
        assert_true(dockercfg_parse(text, strlen(text), &c, &detail) < 0);
        assert_null(c);
        assert_non_null(detail);
}

static void expect_alice(dockercfg_t *c, const char *registry) {
        assert_int_equal(dockercfg_count(c), 1);
        assert_string_equal(dockercfg_entry(c, 0)->registry, registry);
        assert_string_equal(dockercfg_entry(c, 0)->username, "alice");
        assert_string_equal(dockercfg_entry(c, 0)->password, "s3cr:et"); /* split at the first ':' */
        dockercfg_free(c);
}

static const char *CFG = "{\"auths\":{\"reg.example:5000\":{\"auth\":\"" AUTH_ALICE "\"}}}";

static void test_config_json(void **s) {
        (void) s;
        expect_alice(ok(CFG), "reg.example:5000");
        expect_alice(ok("{\"auths\":{\"reg.example:5000\":{\"username\":\"alice\",\"password\":\"s3cr:et\"}}}"),
                     "reg.example:5000");
        /* auth wins over username/password, like the kubelet */
        expect_alice(ok("{\"auths\":{\"reg.example:5000\":{\"username\":\"bob\",\"password\":\"x\",\"auth\":\""
                        AUTH_ALICE "\"}}}"), "reg.example:5000");
        {
                dockercfg_t *c = ok("{\"auths\":{},\"credsStore\":\"desktop\"}");
                assert_int_equal(dockercfg_count(c), 0);
                dockercfg_free(c);
        }
}

static void test_legacy_dockercfg(void **s) {
        (void) s;
        expect_alice(ok("{\"https://index.docker.io/v1/\":{\"auth\":\"" AUTH_ALICE "\",\"email\":\"a@b\"}}"),
                     "https://index.docker.io/v1/");
}

static void test_secret_json(void **s) {
        char buf[1024];
        char *payload = b64(CFG);
        (void) s;
        snprintf(buf, sizeof(buf), "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"},"
                 "\"type\":\"kubernetes.io/dockerconfigjson\",\"data\":{\".dockerconfigjson\":\"%s\"}}", payload);
        expect_alice(ok(buf), "reg.example:5000");
        free(payload);
        /* dockercfg type with stringData */
        expect_alice(ok("{\"kind\":\"Secret\",\"type\":\"kubernetes.io/dockercfg\",\"stringData\":{\".dockercfg\":"
                        "\"{\\\"reg\\\":{\\\"auth\\\":\\\"" AUTH_ALICE "\\\"}}\"}}"), "reg");
        bad("{\"kind\":\"Secret\",\"type\":\"Opaque\",\"data\":{}}");
        bad("{\"kind\":\"ConfigMap\",\"type\":\"kubernetes.io/dockerconfigjson\"}");
        bad("{\"kind\":\"Secret\",\"type\":\"kubernetes.io/dockerconfigjson\",\"data\":{\".dockerconfigjson\":\"!!\"}}");
        bad("{\"kind\":\"Secret\",\"type\":\"kubernetes.io/dockerconfigjson\",\"data\":{}}");
}

static void test_secret_yaml(void **s) {
        char buf[2048];
        char *payload = b64(CFG);
        (void) s;
        snprintf(buf, sizeof(buf),
                 "# a pull secret\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n"
                 "  namespace: default\n  labels:\n    app: web\n  ownerReferences:\n  - kind: X\n"
                 "type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: %s\n", payload);
        expect_alice(ok(buf), "reg.example:5000");
        snprintf(buf, sizeof(buf),
                 "apiVersion: v1\r\nkind: \"Secret\"\r\ntype: 'kubernetes.io/dockerconfigjson'\r\ndata:\r\n"
                 "  \".dockerconfigjson\": \"%s\"   # quoted\r\n", payload);
        expect_alice(ok(buf), "reg.example:5000");
        free(payload);
        /* stringData with a literal block */
        expect_alice(ok("kind: Secret\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: |\n"
                        "    {\"auths\": {\n      \"reg\": {\"auth\": \"" AUTH_ALICE "\"}\n    }}\n"), "reg");
        /* stringData wins over data, as in the API server */
        expect_alice(ok("kind: Secret\ntype: kubernetes.io/dockerconfigjson\n"
                        "stringData:\n  .dockerconfigjson: '{\"auths\":{\"reg\":{\"auth\":\"" AUTH_ALICE "\"}}}'\n"
                        "data:\n  .dockerconfigjson: e30=\n"), "reg");
}

static void test_yaml_rejects(void **s) {
        (void) s;
        bad("kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: &a e30=\n");
        bad("kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: >\n    e30=\n");
        bad("kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n\t.dockerconfigjson: e30=\n");
        bad("kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  a:\n    b: c\n");
        bad("kind: Secret\nkind: Secret\n");
        bad("- kind: Secret\n");
        bad("kind: Secret\n---\nkind: Secret\n");
        bad("kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: \"e30=\n");
        bad("");
        bad("   \n");
}

static void test_bad_json(void **s) {
        (void) s;
        bad("{");
        bad("{\"auths\":{\"r\":{\"auth\":\"bm9jb2xvbg==\"}}}");        /* "nocolon" */
        bad("{\"auths\":{\"r\":{\"auth\":\"***\"}}}");
        bad("{\"auths\":{\"r\":{\"auth\":1}}}");
        bad("{\"auths\":{\"r\":1}}");
        bad("{\"auths\":{\"r\":{},\"r\":{}}}");                          /* duplicate keys */
        bad("{\"auths\":[]}");
}

static void test_base64(void **s) {
        char *out = NULL;
        size_t n = 0;
        (void) s;
        assert_int_equal(dockercfg_base64_decode("YQ==", 4, &out, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(out, "a");
        free(out);
        assert_int_equal(dockercfg_base64_decode("YQ", 2, &out, &n), 0); /* padding optional */
        assert_string_equal(out, "a");
        free(out);
        out = NULL;
        assert_int_equal(dockercfg_base64_decode("YR==", 4, &out, &n), -EINVAL); /* non-canonical */
        assert_int_equal(dockercfg_base64_decode("Y", 1, &out, &n), -EINVAL);
        assert_int_equal(dockercfg_base64_decode("Y Q=", 4, &out, &n), -EINVAL);
        assert_null(out);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_config_json),
                cmocka_unit_test(test_legacy_dockercfg),
                cmocka_unit_test(test_secret_json),
                cmocka_unit_test(test_secret_yaml),
                cmocka_unit_test(test_yaml_rejects),
                cmocka_unit_test(test_bad_json),
                cmocka_unit_test(test_base64),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
