/* tests/unit/test-secretbox.c: secrets sealed under a key file (common/secretbox):
 * the key file made on first use (0600, complete, one key when two processes make
 * it at once), what is sealed opens again only with the same key and context, and
 * any altered byte is refused. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/err.h"
#include "common/secretbox.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char key[320];
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "secretbox") < 0 ||
            fx_path(f->key, sizeof(f->key), f->dir, SECRETBOX_KEY_FILE) < 0)
                return -1;
        unsetenv(SECRETBOX_KEY_ENV);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        fx_rmtree(f->dir);
        free(f);
        return 0;
}

static void write_file(const char *path, const char *text, mode_t mode) {
        FILE *fp = fopen(path, "w");

        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static void test_key_made_on_first_use_private_and_stable(void **state) {
        fixture_t *f = *state;
        secretbox_t *a = NULL, *b = NULL;
        struct stat st;
        uint8_t *sealed = NULL;
        size_t len = 0, plen = 0;
        char *plain = NULL, text[128];
        bool loose = true;
        FILE *fp;

        assert_int_equal(secretbox_open(f->key, false, &a, NULL), -ENOENT);
        assert_null(a);
        assert_int_equal(secretbox_open(f->key, true, &a, &loose), 0);
        assert_false(loose);
        assert_int_equal(stat(f->key, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_size, 65); /* 64 hex digits and a newline */
        fp = fopen(f->key, "r");
        assert_non_null(fp);
        assert_non_null(fgets(text, sizeof(text), fp));
        fclose(fp);
        assert_int_equal(strspn(text, "0123456789abcdef"), 64);
        /* no temporary file left beside it */
        {
                char pattern[400];
                snprintf(pattern, sizeof(pattern), "ls -A '%s' | grep -qv '^%s$'", f->dir, SECRETBOX_KEY_FILE);
                assert_int_not_equal(system(pattern), 0);
        }

        /* the same key when opened again (with create: nothing replaced) */
        assert_int_equal(secretbox_seal(a, "ctx", "hunter2", 7, &sealed, &len), 0);
        assert_int_equal(len, 7 + SECRETBOX_OVERHEAD);
        assert_int_equal(secretbox_open(f->key, true, &b, NULL), 0);
        assert_int_equal(secretbox_unseal(b, "ctx", sealed, len, &plain, &plen), 0);
        assert_int_equal(plen, 7);
        assert_string_equal(plain, "hunter2");
        free(plain);
        free(sealed);
        secretbox_free(a);
        secretbox_free(b);
}

static void test_round_trip_fresh_nonce_and_empty(void **state) {
        fixture_t *f = *state;
        secretbox_t *sb = NULL;
        uint8_t *s1 = NULL, *s2 = NULL, *s3 = NULL;
        size_t l1, l2, l3, plen = 99;
        char *plain = NULL, big[SECRETBOX_PLAIN_MAX + 1];

        assert_int_equal(secretbox_open(f->key, true, &sb, NULL), 0);
        assert_int_equal(secretbox_seal(sb, "webhook", "same", 4, &s1, &l1), 0);
        assert_int_equal(secretbox_seal(sb, "webhook", "same", 4, &s2, &l2), 0);
        assert_int_equal(l1, l2);
        assert_memory_not_equal(s1, s2, l1); /* a new nonce each time */
        assert_memory_not_equal(s1 + SECRETBOX_OVERHEAD - 16, "same", 4); /* not in clear */
        assert_int_equal(secretbox_seal(sb, "webhook", "", 0, &s3, &l3), 0);
        assert_int_equal(secretbox_unseal(sb, "webhook", s3, l3, &plain, &plen), 0);
        assert_int_equal(plen, 0);
        assert_string_equal(plain, "");
        free(plain);
        memset(big, 'x', sizeof(big));
        assert_int_equal(secretbox_seal(sb, "webhook", big, sizeof(big), &s3 /* untouched */, &l3), BERTH_ETOOBIG);
        free(s1);
        free(s2);
        free(s3);
        secretbox_free(sb);
}

/* Every byte of a sealed value is covered: one flipped, the value is refused (the
 * key id's bytes: as sealed under another key). */
static void test_any_altered_byte_is_refused(void **state) {
        fixture_t *f = *state;
        secretbox_t *sb = NULL;
        uint8_t *sealed = NULL;
        size_t len = 0;
        char *plain = NULL;

        assert_int_equal(secretbox_open(f->key, true, &sb, NULL), 0);
        assert_int_equal(secretbox_seal(sb, "webhook", "a secret", 8, &sealed, &len), 0);
        for (size_t i = 0; i < len; i++) {
                int r;
                sealed[i] ^= 0x01;
                r = secretbox_unseal(sb, "webhook", sealed, len, &plain, NULL);
                if (i >= 1 && i < 5)
                        assert_int_equal(r, -EKEYREJECTED);
                else
                        assert_int_equal(r, BERTH_ECRYPTO);
                assert_null(plain);
                sealed[i] ^= 0x01;
        }
        for (size_t cut = 0; cut < len; cut++)
                assert_true(secretbox_unseal(sb, "webhook", sealed, cut, &plain, NULL) < 0);
        assert_int_equal(secretbox_unseal(sb, "webhook", sealed, len, &plain, NULL), 0);
        assert_string_equal(plain, "a secret");
        free(plain);
        plain = NULL;
        /* sealed for one use, refused for another */
        assert_int_equal(secretbox_unseal(sb, "upstream", sealed, len, &plain, NULL), BERTH_ECRYPTO);
        assert_int_equal(secretbox_unseal(sb, NULL, sealed, len, &plain, NULL), BERTH_ECRYPTO);
        free(sealed);
        secretbox_free(sb);
}

static void test_other_key_is_told_apart(void **state) {
        fixture_t *f = *state;
        char other[400];
        secretbox_t *a = NULL, *b = NULL;
        uint8_t *sealed = NULL;
        size_t len = 0;
        char *plain = NULL;

        assert_int_equal(fx_path(other, sizeof(other), f->dir, "other.key"), 0);
        assert_int_equal(secretbox_open(f->key, true, &a, NULL), 0);
        assert_int_equal(secretbox_open(other, true, &b, NULL), 0);
        assert_int_equal(secretbox_seal(a, "webhook", "x", 1, &sealed, &len), 0);
        assert_int_equal(secretbox_unseal(b, "webhook", sealed, len, &plain, NULL), -EKEYREJECTED);
        free(sealed);
        secretbox_free(a);
        secretbox_free(b);
}

static void test_key_files_that_are_not_keys(void **state) {
        static const char *const bad[] = {
                "",
                "0123",
                "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0\n", /* 65 digits */
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nmore\n",
        };
        fixture_t *f = *state;
        secretbox_t *sb = NULL;
        bool loose = false;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                write_file(f->key, bad[i], 0600);
                assert_int_equal(secretbox_open(f->key, true, &sb, NULL), BERTH_ECONFIG);
                assert_null(sb);
        }
        /* upper case, CRLF: a key made by hand */
        write_file(f->key, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 0644);
        assert_int_equal(secretbox_open(f->key, false, &sb, &loose), 0);
        assert_true(loose); /* others may read it */
        sb = secretbox_free(sb);
        assert_int_equal(chmod(f->key, 0640), 0);
        assert_int_equal(secretbox_open(f->key, false, &sb, &loose), 0);
        assert_false(loose); /* group read: a Secret with fsGroup */
        secretbox_free(sb);
}

static void test_key_path_from_environment(void **state) {
        fixture_t *f = *state;
        char *p = NULL;
        bool env = true;

        assert_int_equal(secretbox_key_path(f->dir, &p, &env), 0);
        assert_string_equal(p, f->key);
        assert_false(env);
        free(p);
        setenv(SECRETBOX_KEY_ENV, "/run/secrets/berth/key", 1);
        assert_int_equal(secretbox_key_path(f->dir, &p, &env), 0);
        assert_string_equal(p, "/run/secrets/berth/key");
        assert_true(env);
        free(p);
        setenv(SECRETBOX_KEY_ENV, "", 1); /* empty: unset */
        assert_int_equal(secretbox_key_path(f->dir, &p, NULL), 0);
        assert_string_equal(p, f->key);
        free(p);
        unsetenv(SECRETBOX_KEY_ENV);
}

/* Processes making the key at once (threads here) all end up with one key. */
struct maker {
        const char *path;
        secretbox_t *sb;
        int r;
};

static void *make_key(void *arg) {
        struct maker *m = arg;
        m->r = secretbox_open(m->path, true, &m->sb, NULL);
        return NULL;
}

static void test_makers_at_once_agree(void **state) {
        fixture_t *f = *state;
        struct maker m[8];
        pthread_t t[8];
        uint8_t *sealed = NULL;
        size_t len = 0;
        char *plain = NULL;

        for (int i = 0; i < 8; i++) {
                m[i] = (struct maker){ .path = f->key };
                assert_int_equal(pthread_create(&t[i], NULL, make_key, &m[i]), 0);
        }
        for (int i = 0; i < 8; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(m[i].r, 0);
        }
        assert_int_equal(secretbox_seal(m[0].sb, "c", "v", 1, &sealed, &len), 0);
        for (int i = 0; i < 8; i++) {
                assert_int_equal(secretbox_unseal(m[i].sb, "c", sealed, len, &plain, NULL), 0);
                free(plain);
                secretbox_free(m[i].sb);
        }
        free(sealed);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_key_made_on_first_use_private_and_stable),
                T(test_round_trip_fresh_nonce_and_empty),
                T(test_any_altered_byte_is_refused),
                T(test_other_key_is_told_apart),
                T(test_key_files_that_are_not_keys),
                T(test_key_path_from_environment),
                T(test_makers_at_once_agree),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
