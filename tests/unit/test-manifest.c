/* tests/unit/test-manifest.c: manifest and index parsing and validation. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "common/err.h"
#include "common/manifest.h"

#define D1 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D2 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define D3                                                                          \
        "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" \
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

#define CONFIG_OCI "application/vnd.oci.image.config.v1+json"
#define LAYER_OCI "application/vnd.oci.image.layer.v1.tar+gzip"
#define CONFIG_DOCKER "application/vnd.docker.container.image.v1+json"
#define LAYER_DOCKER "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define SCHEMA1 "application/vnd.docker.distribution.manifest.v1+prettyjws"

#define OCI_MANIFEST_BODY(mt_member)                                                     \
        "{\"schemaVersion\":2," mt_member                                                \
        "\"config\":{\"mediaType\":\"" CONFIG_OCI "\",\"digest\":\"" D1 "\",\"size\":2},"  \
        "\"layers\":[{\"mediaType\":\"" LAYER_OCI "\",\"digest\":\"" D2 "\",\"size\":10}," \
        "{\"mediaType\":\"" LAYER_OCI "\",\"digest\":\"" D3 "\",\"size\":0}]}"

static const char oci_manifest[] = OCI_MANIFEST_BODY("\"mediaType\":\"" MT_OCI_MANIFEST "\",");
static const char oci_manifest_no_mt[] = OCI_MANIFEST_BODY("");

static const char oci_index[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\","
        "\"manifests\":["
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":500,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":501,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":7,"
        "\"artifactType\":\"application/vnd.example.sbom\"}]}";

static const char docker_manifest[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" CONFIG_DOCKER "\",\"digest\":\"" D1 "\",\"size\":1469},"
        "\"layers\":[{\"mediaType\":\"" LAYER_DOCKER "\",\"digest\":\"" D2 "\",\"size\":3}]}";

static const char docker_list[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\","
        "\"manifests\":[{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\","
        "\"size\":528,\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}}]}";

static const char artifact[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
        "\"artifactType\":\"application/vnd.example.signature\","
        "\"config\":{\"mediaType\":\"" MT_OCI_EMPTY "\",\"digest\":\"" D1 "\",\"size\":2},"
        "\"layers\":[],"
        "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":321},"
        "\"annotations\":{\"org.opencontainers.image.created\":\"2024-01-01T00:00:00Z\"}}";

static int parse(const char *body, const char *ct, manifest_t **ret, const char **detail) {
        return manifest_parse((const uint8_t *) body, strlen(body), ct, ret, detail);
}

/* Expect BERTH_EMANIFEST with a detail string, and *ret untouched. */
static void expect_invalid(const char *body, const char *ct) {
        manifest_t *m = (manifest_t *) (uintptr_t) 0x1;
        const char *detail = NULL;

        assert_int_equal(parse(body, ct, &m, &detail), BERTH_EMANIFEST);
        assert_non_null(detail);
        assert_true(strlen(detail) > 0);
        assert_ptr_equal(m, (manifest_t *) (uintptr_t) 0x1);
}

static void test_oci_manifest_valid(void **state) {
        manifest_t *m = NULL;
        const manifest_desc_t *d;
        const char *detail = NULL;
        (void) state;

        assert_int_equal(parse(oci_manifest, MT_OCI_MANIFEST, &m, &detail), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_MANIFEST);
        assert_false(manifest_is_index(m));
        assert_int_equal(manifest_desc_count(m), 3);
        d = manifest_desc(m, 0);
        assert_int_equal(d->kind, MANIFEST_DESC_CONFIG);
        assert_string_equal(d->digest.str, D1);
        assert_int_equal(d->size, 2);
        assert_string_equal(d->media_type, CONFIG_OCI);
        d = manifest_desc(m, 1);
        assert_int_equal(d->kind, MANIFEST_DESC_LAYER);
        assert_string_equal(d->digest.str, D2);
        assert_int_equal(d->size, 10);
        d = manifest_desc(m, 2);
        assert_int_equal(d->digest.alg, DIGEST_SHA512);
        assert_int_equal(d->size, 0);
        assert_null(manifest_desc(m, 3));
        assert_null(manifest_subject(m));
        assert_null(manifest_annotations_json(m));
        assert_null(manifest_free(m));
}

static void test_oci_index_valid(void **state) {
        manifest_t *m = NULL;
        const manifest_desc_t *d;
        (void) state;

        assert_int_equal(parse(oci_index, MT_OCI_INDEX, &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_INDEX);
        assert_true(manifest_is_index(m));
        assert_int_equal(manifest_desc_count(m), 3);
        d = manifest_desc(m, 2);
        assert_int_equal(d->kind, MANIFEST_DESC_CHILD);
        assert_string_equal(d->digest.str, D3);
        assert_int_equal(d->size, 7);
        manifest_free(m);
}

static void test_docker_manifest_valid(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(docker_manifest, MT_DOCKER_MANIFEST, &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_DOCKER_MANIFEST);
        assert_false(manifest_is_index(m));
        assert_int_equal(manifest_desc_count(m), 2);
        assert_string_equal(manifest_desc(m, 0)->media_type, CONFIG_DOCKER);
        assert_string_equal(manifest_desc(m, 1)->media_type, LAYER_DOCKER);
        manifest_free(m);
}

static void test_docker_list_valid(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(docker_list, MT_DOCKER_LIST, &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_DOCKER_LIST);
        assert_true(manifest_is_index(m));
        assert_int_equal(manifest_desc_count(m), 1);
        assert_string_equal(manifest_desc(m, 0)->media_type, MT_DOCKER_MANIFEST);
        manifest_free(m);
}

static void test_body_decides_without_content_type(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(docker_list, NULL, &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_DOCKER_LIST);
        manifest_free(m);
        assert_int_equal(parse(docker_manifest, "", &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_DOCKER_MANIFEST);
        manifest_free(m);
}

static void test_content_type_decides_without_body_type(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(oci_manifest_no_mt, MT_OCI_MANIFEST, &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_MANIFEST);
        manifest_free(m);
}

static void test_structure_decides_without_any_type(void **state) {
        static const char idx[] = "{\"schemaVersion\":2,\"manifests\":[]}";
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(oci_manifest_no_mt, NULL, &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_MANIFEST);
        manifest_free(m);
        assert_int_equal(parse(idx, NULL, &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_INDEX);
        assert_int_equal(manifest_desc_count(m), 0);
        manifest_free(m);
}

static void test_content_type_parameters_ignored(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(oci_manifest, MT_OCI_MANIFEST "; charset=utf-8", &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_MANIFEST);
        manifest_free(m);
        assert_int_equal(parse(oci_manifest, " " MT_OCI_MANIFEST " ;charset=utf-8", &m, NULL), 0);
        manifest_free(m);
}

static void test_body_content_type_disagree(void **state) {
        (void) state;
        expect_invalid(oci_manifest, MT_DOCKER_MANIFEST);
        expect_invalid(oci_manifest, MT_OCI_INDEX);
        expect_invalid(docker_list, MT_OCI_INDEX);
}

static void test_unknown_content_type(void **state) {
        (void) state;
        expect_invalid(oci_manifest, SCHEMA1);
        expect_invalid(oci_manifest, "text/plain");
        expect_invalid(oci_manifest_no_mt, SCHEMA1);
}

static void test_schema1_named_in_detail(void **state) {
        manifest_t *m = NULL;
        const char *detail = NULL;
        (void) state;

        assert_int_equal(parse(oci_manifest, SCHEMA1, &m, &detail), BERTH_EMANIFEST);
        assert_non_null(strstr(detail, "schema1"));
        assert_int_equal(parse("{\"schemaVersion\":1,\"name\":\"a\",\"tag\":\"b\"}", NULL, &m, &detail),
                         BERTH_EMANIFEST);
        assert_non_null(strstr(detail, "schema1"));
        assert_null(m);
}

static void test_generic_json_content_type_is_silent(void **state) {
        manifest_t *m = NULL;
        (void) state;

        /* application/json says nothing: the body's mediaType (or structure) decides */
        assert_int_equal(parse(docker_manifest, "application/json", &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_DOCKER_MANIFEST);
        manifest_free(m);
        assert_int_equal(parse(oci_manifest_no_mt, "application/json; charset=utf-8", &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_MANIFEST);
        manifest_free(m);
}

static void test_content_type_case_insensitive(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(oci_manifest, "Application/VND.OCI.image.manifest.v1+JSON", &m, NULL), 0);
        assert_string_equal(manifest_media_type(m), MT_OCI_MANIFEST);
        manifest_free(m);
}

static void test_unknown_body_media_type(void **state) {
        static const char body[] = "{\"schemaVersion\":2,\"mediaType\":\"" SCHEMA1 "\","
                                   "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},"
                                   "\"layers\":[]}";
        (void) state;
        expect_invalid(body, NULL);
        expect_invalid(body, MT_OCI_MANIFEST);
}

static void test_docker_type_requires_body_media_type(void **state) {
        static const char body[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"" CONFIG_DOCKER "\",\"digest\":\"" D1 "\",\"size\":1},"
                "\"layers\":[]}";
        (void) state;
        expect_invalid(body, MT_DOCKER_MANIFEST);
}

static void test_schema_version(void **state) {
        static const char v1[] =
                "{\"schemaVersion\":1,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        static const char vstr[] =
                "{\"schemaVersion\":\"2\","
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        static const char vnone[] =
                "{\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        (void) state;
        expect_invalid(v1, NULL);
        expect_invalid(vstr, NULL);
        expect_invalid(vnone, NULL);
}

static void test_missing_config(void **state) {
        static const char body[] = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                                   "\"layers\":[]}";
        (void) state;
        expect_invalid(body, NULL);
}

static void test_missing_layers(void **state) {
        static const char body[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1}}";
        (void) state;
        expect_invalid(body, NULL);
}

static void test_index_missing_manifests(void **state) {
        static const char body[] = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"}";
        (void) state;
        expect_invalid(body, NULL);
}

static void test_bad_layer_digest(void **state) {
        static const char upper[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},"
                "\"layers\":[{\"mediaType\":\"y\",\"digest\":"
                "\"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\",\"size\":1}]}";
        static const char md5[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},"
                "\"layers\":[{\"mediaType\":\"y\",\"digest\":\"md5:900150983cd24fb0d6963f7d28e17f72\","
                "\"size\":1}]}";
        static const char nul[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},"
                "\"layers\":[{\"mediaType\":\"y\",\"digest\":\"sha256:\\u0000\",\"size\":1}]}";
        (void) state;
        expect_invalid(upper, NULL);
        expect_invalid(md5, NULL);
        expect_invalid(nul, NULL);
}

static void test_negative_size(void **state) {
        static const char body[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},"
                "\"layers\":[{\"mediaType\":\"y\",\"digest\":\"" D2 "\",\"size\":-1}]}";
        static const char fractional[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1.5},\"layers\":[]}";
        (void) state;
        expect_invalid(body, NULL);
        expect_invalid(fractional, NULL);
}

static void test_descriptor_requires_media_type(void **state) {
        static const char body[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},"
                "\"layers\":[{\"digest\":\"" D2 "\",\"size\":1}]}";
        (void) state;
        expect_invalid(body, NULL);
}

static void test_duplicate_keys(void **state) {
        static const char top[] =
                "{\"schemaVersion\":2,\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        static const char nested[] =
                "{\"schemaVersion\":2,"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"digest\":\"" D2 "\",\"size\":1},"
                "\"layers\":[]}";
        (void) state;
        expect_invalid(top, NULL);
        expect_invalid(nested, NULL);
}

static void test_too_big(void **state) {
        size_t n = MANIFEST_MAX_SIZE + 1;
        uint8_t *buf = malloc(n);
        manifest_t *m = NULL;
        const char *detail = NULL;
        (void) state;

        assert_non_null(buf);
        /* valid JSON up to the limit: only the size makes it fail */
        memset(buf, ' ', n);
        memcpy(buf, oci_manifest, strlen(oci_manifest));
        assert_int_equal(manifest_parse(buf, n, NULL, &m, &detail), BERTH_ETOOBIG);
        assert_null(m);
        /* the same body one byte shorter is within the limit */
        assert_int_equal(manifest_parse(buf, n - 1, NULL, &m, &detail), 0);
        manifest_free(m);
        free(buf);
}

static void test_subject_and_artifact_type(void **state) {
        manifest_t *m = NULL;
        const manifest_desc_t *s;
        (void) state;

        assert_int_equal(parse(artifact, MT_OCI_MANIFEST, &m, NULL), 0);
        assert_string_equal(manifest_artifact_type(m), "application/vnd.example.signature");
        s = manifest_subject(m);
        assert_non_null(s);
        assert_string_equal(s->digest.str, D2);
        assert_int_equal(s->size, 321);
        assert_string_equal(s->media_type, MT_OCI_MANIFEST);
        assert_int_equal(manifest_desc_count(m), 1);
        manifest_free(m);
}

static void test_artifact_type_config_fallback(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(oci_manifest, NULL, &m, NULL), 0);
        assert_string_equal(manifest_artifact_type(m), CONFIG_OCI);
        manifest_free(m);
}

static void test_artifact_type_index_null(void **state) {
        manifest_t *m = NULL;
        (void) state;

        assert_int_equal(parse(oci_index, NULL, &m, NULL), 0);
        assert_null(manifest_artifact_type(m));
        manifest_free(m);
}

static void test_index_platform_fields(void **state) {
        manifest_t *m = NULL;
        const manifest_desc_t *d;
        (void) state;

        assert_int_equal(parse(oci_index, NULL, &m, NULL), 0);
        d = manifest_desc(m, 0);
        assert_string_equal(d->os, "linux");
        assert_string_equal(d->arch, "arm64");
        assert_string_equal(d->variant, "v8");
        d = manifest_desc(m, 1);
        assert_string_equal(d->arch, "amd64");
        assert_null(d->variant);
        d = manifest_desc(m, 2);
        assert_null(d->os);
        assert_null(d->arch);
        assert_string_equal(d->artifact_type, "application/vnd.example.sbom");
        manifest_free(m);
}

static void test_index_platform_invalid(void **state) {
        static const char no_arch[] =
                "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST "\","
                "\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}";
        static const char num_os[] =
                "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST "\","
                "\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":1,\"architecture\":\"x\"}}]}";
        (void) state;
        expect_invalid(no_arch, NULL);
        expect_invalid(num_os, NULL);
}

static void test_annotations_json(void **state) {
        manifest_t *m = NULL;
        char *js;
        json_t *o;
        (void) state;

        assert_int_equal(parse(artifact, NULL, &m, NULL), 0);
        js = manifest_annotations_json(m);
        assert_non_null(js);
        o = json_loads(js, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(o);
        assert_int_equal(json_object_size(o), 1);
        assert_string_equal(json_string_value(json_object_get(o, "org.opencontainers.image.created")),
                            "2024-01-01T00:00:00Z");
        json_decref(o);
        free(js);
        manifest_free(m);
}

static void test_annotations_must_be_strings(void **state) {
        static const char body[] =
                "{\"schemaVersion\":2,\"annotations\":{\"a\":1},"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        (void) state;
        expect_invalid(body, NULL);
}

static void test_trailing_garbage(void **state) {
        char body[sizeof(oci_manifest) + 8];
        manifest_t *m = NULL;
        (void) state;

        strcpy(body, oci_manifest);
        strcat(body, " \n");
        assert_int_equal(parse(body, NULL, &m, NULL), 0); /* whitespace is fine */
        manifest_free(m);
        strcpy(body, oci_manifest);
        strcat(body, "x");
        expect_invalid(body, NULL);
        strcpy(body, oci_manifest);
        strcat(body, "{}");
        expect_invalid(body, NULL);
}

static void test_non_object_json(void **state) {
        (void) state;
        expect_invalid("[]", NULL);
        expect_invalid("[{\"schemaVersion\":2}]", NULL);
        expect_invalid("\"x\"", NULL);
        expect_invalid("2", NULL);
        expect_invalid("null", NULL);
        expect_invalid("{", NULL);
}

static void test_empty_input(void **state) {
        manifest_t *m = NULL;
        const char *detail = NULL;
        (void) state;
        assert_int_equal(manifest_parse((const uint8_t *) "", 0, NULL, &m, &detail), BERTH_EMANIFEST);
        assert_null(m);
}

static void test_ambiguous_structure(void **state) {
        /* an image manifest that also lists manifests, and an index with a config */
        static const char both[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"manifests\":[],"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        static const char idx[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[],"
                "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1}}";
        (void) state;
        expect_invalid(both, NULL);
        expect_invalid(idx, NULL);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_oci_manifest_valid),
                cmocka_unit_test(test_oci_index_valid),
                cmocka_unit_test(test_docker_manifest_valid),
                cmocka_unit_test(test_docker_list_valid),
                cmocka_unit_test(test_body_decides_without_content_type),
                cmocka_unit_test(test_content_type_decides_without_body_type),
                cmocka_unit_test(test_structure_decides_without_any_type),
                cmocka_unit_test(test_content_type_parameters_ignored),
                cmocka_unit_test(test_body_content_type_disagree),
                cmocka_unit_test(test_unknown_content_type),
                cmocka_unit_test(test_schema1_named_in_detail),
                cmocka_unit_test(test_generic_json_content_type_is_silent),
                cmocka_unit_test(test_content_type_case_insensitive),
                cmocka_unit_test(test_unknown_body_media_type),
                cmocka_unit_test(test_docker_type_requires_body_media_type),
                cmocka_unit_test(test_schema_version),
                cmocka_unit_test(test_missing_config),
                cmocka_unit_test(test_missing_layers),
                cmocka_unit_test(test_index_missing_manifests),
                cmocka_unit_test(test_bad_layer_digest),
                cmocka_unit_test(test_negative_size),
                cmocka_unit_test(test_descriptor_requires_media_type),
                cmocka_unit_test(test_duplicate_keys),
                cmocka_unit_test(test_too_big),
                cmocka_unit_test(test_subject_and_artifact_type),
                cmocka_unit_test(test_artifact_type_config_fallback),
                cmocka_unit_test(test_artifact_type_index_null),
                cmocka_unit_test(test_index_platform_fields),
                cmocka_unit_test(test_index_platform_invalid),
                cmocka_unit_test(test_annotations_json),
                cmocka_unit_test(test_annotations_must_be_strings),
                cmocka_unit_test(test_trailing_garbage),
                cmocka_unit_test(test_non_object_json),
                cmocka_unit_test(test_empty_input),
                cmocka_unit_test(test_ambiguous_structure),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
