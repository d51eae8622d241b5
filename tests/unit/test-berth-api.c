/* tests/unit/test-berth-api.c: the public API's version, error strings, policy enum and
 * decision struct, through client/berth.h as a program using libberth sees it. The
 * store is seeded through client/layout.h only to have an image present. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "client/berth.h"
#include "client/layout.h"
#include "common/digest.h"

typedef struct {
        char dir[64];
        char *store;
        berth_client_t *c;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-api.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        /* a store that does not exist yet: the client creates it */
        assert_true(asprintf(&f->store, "%s/store/images", f->dir) > 0);
        assert_int_equal(berth_client_new(f->store, &f->c), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        char cmd[128];

        assert_null(berth_client_free(f->c));
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f->store);
        free(f);
        return 0;
}

static void write_text(const char *path, const char *text) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_true(fputs(text, fp) >= 0);
        assert_int_equal(fclose(fp), 0);
}

static void test_version(void **s) {
        const char *v = berth_version();
        unsigned a, b, c;
        char end;

        (void) s;
        assert_string_equal(v, PACKAGE_VERSION);
        assert_int_equal(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &end), 3);
}

static void test_strerror_covers_every_code(void **s) {
        (void) s;
        assert_string_equal(berth_strerror(0), "success");
        /* the registry client's codes are in the one error space now */
        assert_string_equal(berth_strerror(BERTH_EUNAVAILABLE), "registry unavailable");
        assert_string_equal(berth_strerror(BERTH_ENOTFOUND), "not found in the registry");
        for (int e = BERTH_EDIGEST; e < _BERTH_EMAX; e++)
                if (strcmp(berth_strerror(e), "unknown error") == 0)
                        fail_msg("berth_strerror(%d) has no message", e);
        assert_string_equal(berth_strerror(-ENOENT), "No such file or directory");
        assert_string_equal(berth_strerror(_BERTH_EMAX), "unknown error");
        assert_string_equal(berth_strerror(7), "unknown error");
}

static void test_policy_names(void **s) {
        (void) s;
        assert_string_equal(berth_policy_name(BERTH_POLICY_ALWAYS), "Always");
        assert_string_equal(berth_policy_name(BERTH_POLICY_IF_NOT_PRESENT), "IfNotPresent");
        assert_string_equal(berth_policy_name(BERTH_POLICY_NEVER), "Never");
        assert_string_equal(berth_policy_name(BERTH_POLICY_DEFAULT), "");
        assert_string_equal(berth_policy_name((berth_policy_t) 42), "");
        assert_string_equal(berth_status_name(BERTH_STATUS_ERR_IMAGE_NEVER_PULL), "ErrImageNeverPull");
}

static berth_decision_t *decide(berth_client_t *c, const char *image, int want_status) {
        berth_decision_t *d = NULL;

        assert_int_equal(berth_decide(c, image, &d), want_status);
        assert_non_null(d);
        assert_int_equal(d->status, want_status);
        return d;
}

static void test_decide_normalizes_and_defaults(void **state) {
        fixture_t *f = *state;
        berth_decision_t *d;

        d = decide(f->c, "nginx", BERTH_OK);
        assert_string_equal(d->reference, "docker.io/library/nginx:latest");
        assert_string_equal(d->domain, "docker.io");
        assert_string_equal(d->path, "library/nginx");
        assert_string_equal(d->tag, ""); /* as given: none */
        assert_string_equal(d->digest, "");
        assert_int_equal(d->policy, BERTH_POLICY_ALWAYS); /* :latest defaults to Always */
        assert_int_equal(d->action, BERTH_ACTION_PULL);
        assert_false(d->present);
        assert_false(d->verify);
        assert_false(d->in_backoff);
        assert_int_equal(d->ncredentials, 0);
        assert_null(berth_decision_free(d));

        d = decide(f->c, "nginx:1.25", BERTH_OK);
        assert_string_equal(d->tag, "1.25");
        assert_int_equal(d->policy, BERTH_POLICY_IF_NOT_PRESENT);
        assert_int_equal(d->action, BERTH_ACTION_PULL);
        berth_decision_free(d);
        assert_null(berth_decision_free(NULL));
}

static void test_pull_policy_enum(void **state) {
        fixture_t *f = *state;
        berth_decision_t *d;

        assert_int_equal(berth_client_set_pull_policy(f->c, BERTH_POLICY_NEVER), 0);
        d = decide(f->c, "nginx:1.25", BERTH_STATUS_ERR_IMAGE_NEVER_PULL);
        assert_int_equal(d->policy, BERTH_POLICY_NEVER);
        assert_int_equal(d->action, BERTH_ACTION_ERROR);
        assert_non_null(strstr(berth_client_message(f->c), "ErrImageNeverPull"));
        berth_decision_free(d);

        assert_int_equal(berth_client_set_pull_policy(f->c, BERTH_POLICY_ALWAYS), 0);
        d = decide(f->c, "nginx:1.25", BERTH_OK);
        assert_int_equal(d->policy, BERTH_POLICY_ALWAYS);
        berth_decision_free(d);

        /* a value outside the enum is refused and changes nothing */
        assert_int_equal(berth_client_set_pull_policy(f->c, (berth_policy_t) 4), -EINVAL);
        assert_int_equal(berth_client_set_pull_policy(f->c, (berth_policy_t) -1), -EINVAL);
        d = decide(f->c, "nginx:1.25", BERTH_OK);
        assert_int_equal(d->policy, BERTH_POLICY_ALWAYS);
        berth_decision_free(d);

        /* back to the default, and the string setter agrees with the enum */
        assert_int_equal(berth_client_set_pull_policy(f->c, BERTH_POLICY_DEFAULT), 0);
        d = decide(f->c, "nginx:1.25", BERTH_OK);
        assert_int_equal(d->policy, BERTH_POLICY_IF_NOT_PRESENT);
        berth_decision_free(d);
        assert_int_equal(berth_client_set_policy(f->c, "Never"), 0);
        d = decide(f->c, "nginx:1.25", BERTH_STATUS_ERR_IMAGE_NEVER_PULL);
        assert_int_equal(d->policy, BERTH_POLICY_NEVER);
        berth_decision_free(d);
}

static void test_decide_invalid_name(void **state) {
        fixture_t *f = *state;
        berth_decision_t *d = decide(f->c, "Not/A/Valid:Name:x", BERTH_STATUS_INVALID_IMAGE_NAME);

        assert_int_equal(d->action, BERTH_ACTION_ERROR);
        assert_string_equal(d->reference, "Not/A/Valid:Name:x"); /* the input, as given */
        assert_string_equal(d->domain, "");
        assert_string_equal(d->tag, "");
        assert_int_equal(d->policy, BERTH_POLICY_DEFAULT);
        berth_decision_free(d);
}

static void test_decide_arguments_and_no_output_on_error(void **state) {
        fixture_t *f = *state;
        berth_decision_t *d = (berth_decision_t *) 0x1;

        assert_int_equal(berth_decide(f->c, NULL, &d), BERTH_STATUS_ERROR);
        assert_int_equal(berth_decide(NULL, "nginx", &d), BERTH_STATUS_ERROR);
        assert_int_equal(berth_decide(f->c, "nginx", NULL), BERTH_STATUS_ERROR);
        assert_ptr_equal(d, (berth_decision_t *) 0x1);
}

static void test_decide_credentials_in_order(void **state) {
        fixture_t *f = *state;
        char *secret = NULL, *node = NULL, *cfg = NULL;
        berth_decision_t *d;

        assert_true(asprintf(&secret, "%s/secret.json", f->dir) > 0);
        assert_true(asprintf(&node, "%s/node", f->dir) > 0);
        assert_true(asprintf(&cfg, "%s/node/config.json", f->dir) > 0);
        assert_int_equal(mkdir(node, 0700), 0);
        write_text(secret, "{\"auths\":{\"reg.example:5000\":{\"username\":\"alice\",\"password\":\"pw\"}}}");
        write_text(cfg, "{\"auths\":{\"reg.example:5000/team\":{\"username\":\"node\",\"password\":\"pw\"}}}");
        assert_int_equal(berth_client_add_pull_secret(f->c, secret), 0);
        assert_int_equal(berth_client_set_docker_config(f->c, node), 0);

        d = decide(f->c, "reg.example:5000/team/app:v1", BERTH_OK);
        assert_int_equal(d->ncredentials, 2);
        assert_string_equal(d->credentials[0].registry, "reg.example:5000");
        assert_string_equal(d->credentials[0].username, "alice");
        assert_true(d->credentials[0].from_pull_secret);
        assert_string_equal(d->credentials[1].registry, "reg.example:5000/team");
        assert_string_equal(d->credentials[1].username, "node");
        assert_false(d->credentials[1].from_pull_secret);
        berth_decision_free(d);
        d = decide(f->c, "other.example/app:v1", BERTH_OK);
        assert_int_equal(d->ncredentials, 0);
        berth_decision_free(d);
        free(secret);
        free(node);
        free(cfg);
}

/* an image in the store that berth did not pull (preloaded) */
static void preload(const fixture_t *f, const char *ref) {
        static const char manifest[] = "{\"schemaVersion\":2}";
        layout_t *l = NULL;
        layout_image_t img = { 0 };

        assert_int_equal(layout_open(f->store, &l), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, manifest, strlen(manifest), &img.manifest), 0);
        assert_int_equal(layout_blob_write(l, &img.manifest, manifest, strlen(manifest)), 0);
        img.ref = (char *) ref;
        img.media_type = (char *) "application/vnd.oci.image.manifest.v1+json";
        img.size = (int64_t) strlen(manifest);
        assert_int_equal(layout_image_put(l, &img), 0);
        layout_free(l);
}

static void test_decide_present_and_verify(void **state) {
        fixture_t *f = *state;
        berth_decision_t *d;

        preload(f, "docker.io/library/nginx:1.25");
        d = decide(f->c, "nginx:1.25", BERTH_OK);
        assert_true(d->present);
        assert_int_equal(d->action, BERTH_ACTION_USE_LOCAL);
        assert_false(d->verify);
        berth_decision_free(d);

        /* AlwaysVerify: a preloaded image is confirmed with the registry first */
        assert_int_equal(berth_client_set_verify_policy(f->c, "AlwaysVerify"), 0);
        d = decide(f->c, "nginx:1.25", BERTH_OK);
        assert_true(d->present);
        assert_int_equal(d->action, BERTH_ACTION_PULL);
        assert_true(d->verify);
        berth_decision_free(d);
}

static void test_plan_json_matches_the_decision(void **state) {
        fixture_t *f = *state;
        char *json = NULL;

        assert_int_equal(berth_client_set_pull_policy(f->c, BERTH_POLICY_NEVER), 0);
        assert_int_equal(berth_plan(f->c, "nginx:1.25", &json), BERTH_STATUS_ERR_IMAGE_NEVER_PULL);
        assert_string_equal(json, "{\"reference\":\"docker.io/library/nginx:1.25\",\"domain\":\"docker.io\","
                                  "\"path\":\"library/nginx\",\"tag\":\"1.25\",\"digest\":\"\",\"policy\":\"Never\","
                                  "\"present\":false,\"action\":\"error\",\"reason\":\"ErrImageNeverPull\","
                                  "\"credentials\":[]}");
        free(json);
        json = NULL;
        preload(f, "docker.io/library/nginx:1.25");
        assert_int_equal(berth_client_set_pull_policy(f->c, BERTH_POLICY_DEFAULT), 0);
        assert_int_equal(berth_plan(f->c, "nginx:1.25", &json), BERTH_OK);
        assert_non_null(strstr(json, "\"policy\":\"IfNotPresent\",\"present\":true,\"action\":\"use-local\",\"reason\":\"\""));
        free(json);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_strerror_covers_every_code),
                cmocka_unit_test(test_policy_names),
                cmocka_unit_test_setup_teardown(test_decide_normalizes_and_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pull_policy_enum, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_invalid_name, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_arguments_and_no_output_on_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_credentials_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_present_and_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_plan_json_matches_the_decision, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
