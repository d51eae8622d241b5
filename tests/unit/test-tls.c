/* tests/unit/test-tls.c: the generated CA and server certificate (server/tls.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "server/tls.h"

typedef struct {
        char dir[PATH_MAX];      /* mkdtemp root */
        char tls[PATH_MAX];      /* dir/tls: not there before tls_ensure */
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        const char *base = getenv("TMPDIR");

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%.3900s/test-tls.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        if ((size_t) snprintf(f->tls, sizeof(f->tls), "%.4000s/tls", f->dir) >= sizeof(f->tls)) {
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

static void rm_tree(const char *path) {
        DIR *d = opendir(path);
        struct dirent *e;

        if (d) {
                while ((e = readdir(d))) {
                        char sub[PATH_MAX];
                        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                                continue;
                        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                        rm_tree(sub);
                }
                closedir(d);
                (void) rmdir(path);
        } else {
                (void) unlink(path);
        }
}

static int teardown(void **state) {
        fixture_t *f = *state;

        rm_tree(f->dir);
        free(f);
        return 0;
}

static void path_in(char *buf, size_t size, const char *dir, const char *name) {
        int n = snprintf(buf, size, "%s/%s", dir, name);
        assert_true(n > 0 && (size_t) n < size);
}

static X509 *read_cert(const char *dir, const char *name) {
        char p[PATH_MAX];
        FILE *fp;
        X509 *x;

        path_in(p, sizeof(p), dir, name);
        fp = fopen(p, "r");
        assert_non_null(fp);
        x = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
        assert_non_null(x);
        return x;
}

static char *slurp(const char *dir, const char *name) {
        char p[PATH_MAX];
        FILE *fp;
        char *buf = calloc(1, 65536);
        size_t n;

        assert_non_null(buf);
        path_in(p, sizeof(p), dir, name);
        fp = fopen(p, "r");
        assert_non_null(fp);
        n = fread(buf, 1, 65535, fp);
        fclose(fp);
        assert_true(n > 0 && n < 65535);
        return buf;
}

static void stat_in(const char *dir, const char *name, struct stat *st) {
        char p[PATH_MAX];

        path_in(p, sizeof(p), dir, name);
        assert_int_equal(stat(p, st), 0);
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        size_t n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_generate_creates_files_with_modes(void **state) {
        fixture_t *f = *state;
        bool generated = false;
        struct stat st;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, &generated), 0);
        assert_true(generated);

        stat_in(f->dir, "tls", &st);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        stat_in(f->tls, "ca.key", &st);
        assert_int_equal(st.st_mode & 07777, 0600);
        stat_in(f->tls, "server.key", &st);
        assert_int_equal(st.st_mode & 07777, 0600);
        stat_in(f->tls, "ca.crt", &st);
        assert_int_equal(st.st_mode & 077, 044);      /* readable: it is handed out */
        stat_in(f->tls, "server.crt", &st);
        assert_true(S_ISREG(st.st_mode));
        /* Exactly the four files: no temporary file left behind. */
        assert_int_equal(count_entries(f->tls), 4);

        /* Keys are PKCS#8 PEM (what libmicrohttpd's GnuTLS reads). */
        char *key = slurp(f->tls, "server.key");
        assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
        free(key);
}

static void test_second_call_reuses(void **state) {
        fixture_t *f = *state;
        static const char *const names[] = { "ca.crt", "ca.key", "server.crt", "server.key" };
        struct stat before[4], after[4];
        bool generated = true;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        for (size_t i = 0; i < 4; i++)
                stat_in(f->tls, names[i], &before[i]);
        char *srv1 = slurp(f->tls, "server.crt");

        assert_int_equal(tls_ensure(f->tls, NULL, 0, &generated), 0);
        assert_false(generated);
        for (size_t i = 0; i < 4; i++) {
                stat_in(f->tls, names[i], &after[i]);
                /* rename() into place would give a new inode */
                assert_int_equal(before[i].st_ino, after[i].st_ino);
                assert_int_equal(before[i].st_mtim.tv_sec, after[i].st_mtim.tv_sec);
                assert_int_equal(before[i].st_mtim.tv_nsec, after[i].st_mtim.tv_nsec);
        }
        char *srv2 = slurp(f->tls, "server.crt");
        assert_string_equal(srv1, srv2);
        free(srv1);
        free(srv2);
}

static void test_sans_present(void **state) {
        fixture_t *f = *state;
        static const char *const extra[] = { "registry.example.test", "10.1.2.3", "fd00::5" };
        char host[256] = "";

        assert_int_equal(tls_ensure(f->tls, extra, 3, NULL), 0);
        X509 *x = read_cert(f->tls, "server.crt");

        assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
        assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
        assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
        assert_int_equal(X509_check_host(x, "registry.example.test", 0, 0, NULL), 1);
        assert_int_equal(X509_check_ip_asc(x, "10.1.2.3", 0), 1);
        assert_int_equal(X509_check_ip_asc(x, "fd00::5", 0), 1);
        /* and nothing else is matched */
        assert_int_equal(X509_check_host(x, "other.example.test", 0, 0, NULL), 0);
        assert_int_equal(X509_check_ip_asc(x, "10.1.2.4", 0), 0);
        /* "10.1.2.3" went in as an address, not as a DNS name */
        assert_int_equal(X509_check_host(x, "10.1.2.3", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 0);

        if (gethostname(host, sizeof(host)) == 0 && host[0] && strspn(host,
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == strlen(host))
                assert_int_equal(X509_check_host(x, host, 0, 0, NULL), 1);

        /* Server certificate profile. */
        assert_int_equal(X509_check_ca(x), 0);
        assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
        assert_non_null(X509_get0_authority_key_id(x));
        X509_free(x);

        /* CA profile: CA:TRUE, certificate signing, a key identifier. */
        X509 *ca = read_cert(f->tls, "ca.crt");
        int crit = -1;
        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
        assert_non_null(bc);
        assert_true(bc->ca);
        assert_int_equal(crit, 1);
        BASIC_CONSTRAINTS_free(bc);
        assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
        assert_non_null(X509_get0_subject_key_id(ca));
        X509_free(ca);
}

static int verify_with_ca(const char *dir) {
        X509 *ca = read_cert(dir, "ca.crt");
        X509 *srv = read_cert(dir, "server.crt");
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        int ok;

        assert_non_null(store);
        assert_non_null(ctx);
        assert_int_equal(X509_STORE_add_cert(store, ca), 1);
        assert_int_equal(X509_STORE_CTX_init(ctx, store, srv, NULL), 1);
        assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
        ok = X509_verify_cert(ctx);
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        X509_free(srv);
        X509_free(ca);
        ERR_clear_error();
        return ok;
}

static void test_server_cert_verifies_against_ca(void **state) {
        fixture_t *f = *state;
        char other[PATH_MAX];

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        assert_int_equal(verify_with_ca(f->tls), 1);

        /* A server certificate from another CA does not verify against this one. */
        path_in(other, sizeof(other), f->dir, "other");
        assert_int_equal(tls_ensure(other, NULL, 0, NULL), 0);
        char src[PATH_MAX], dst[PATH_MAX];
        path_in(src, sizeof(src), other, "server.crt");
        path_in(dst, sizeof(dst), f->tls, "foreign.crt");
        assert_int_equal(link(src, dst), 0);
        X509 *ca = read_cert(f->tls, "ca.crt");
        X509 *foreign = read_cert(f->tls, "foreign.crt");
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        assert_int_equal(X509_STORE_add_cert(store, ca), 1);
        assert_int_equal(X509_STORE_CTX_init(ctx, store, foreign, NULL), 1);
        assert_int_not_equal(X509_verify_cert(ctx), 1);
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        X509_free(foreign);
        X509_free(ca);
        ERR_clear_error();
}

static void test_missing_san_reissues_keeping_ca(void **state) {
        fixture_t *f = *state;
        static const char *const extra[] = { "registry.example.test" };
        bool generated = false;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        char *ca1 = slurp(f->tls, "ca.crt");
        char *cakey1 = slurp(f->tls, "ca.key");
        char *srv1 = slurp(f->tls, "server.crt");

        assert_int_equal(tls_ensure(f->tls, extra, 1, &generated), 0);
        assert_true(generated);
        char *ca2 = slurp(f->tls, "ca.crt");
        char *cakey2 = slurp(f->tls, "ca.key");
        char *srv2 = slurp(f->tls, "server.crt");
        assert_string_equal(ca1, ca2);
        assert_string_equal(cakey1, cakey2);
        assert_string_not_equal(srv1, srv2);

        X509 *x = read_cert(f->tls, "server.crt");
        assert_int_equal(X509_check_host(x, "registry.example.test", 0, 0, NULL), 1);
        X509_free(x);
        assert_int_equal(verify_with_ca(f->tls), 1);

        /* The same SAN again: nothing to do. */
        assert_int_equal(tls_ensure(f->tls, extra, 1, &generated), 0);
        assert_false(generated);
        free(ca1); free(ca2); free(cakey1); free(cakey2); free(srv1); free(srv2);
}

static void test_damaged_server_key_is_replaced(void **state) {
        fixture_t *f = *state;
        char p[PATH_MAX];
        bool generated = false;
        FILE *fp;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        char *ca1 = slurp(f->tls, "ca.crt");
        path_in(p, sizeof(p), f->tls, "server.key");
        fp = fopen(p, "w");
        assert_non_null(fp);
        fputs("not a key\n", fp);
        fclose(fp);

        assert_int_equal(tls_ensure(f->tls, NULL, 0, &generated), 0);
        assert_true(generated);
        char *ca2 = slurp(f->tls, "ca.crt");
        assert_string_equal(ca1, ca2);
        assert_int_equal(verify_with_ca(f->tls), 1);
        char *cert_pem = NULL, *key_pem = NULL;
        char crt[PATH_MAX];
        path_in(crt, sizeof(crt), f->tls, "server.crt");
        assert_int_equal(tls_load_pem(crt, p, &cert_pem, &key_pem), 0);
        free(cert_pem); free(key_pem); free(ca1); free(ca2);
}

static void test_bad_extra_san_rejected(void **state) {
        fixture_t *f = *state;
        static const char *const bad[] = { "bad name,DNS:evil" };
        struct stat st;

        assert_int_equal(tls_ensure(f->tls, bad, 1, NULL), BERTH_ECONFIG);
        /* nothing written */
        char p[PATH_MAX];
        path_in(p, sizeof(p), f->tls, "ca.crt");
        assert_int_equal(stat(p, &st), -1);
        assert_int_equal(errno, ENOENT);
}

static void test_load_pem(void **state) {
        fixture_t *f = *state;
        char crt[PATH_MAX], key[PATH_MAX], other[PATH_MAX], other_key[PATH_MAX];
        char *cert_pem = NULL, *key_pem = NULL;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        path_in(crt, sizeof(crt), f->tls, "server.crt");
        path_in(key, sizeof(key), f->tls, "server.key");
        assert_int_equal(tls_load_pem(crt, key, &cert_pem, &key_pem), 0);
        assert_non_null(strstr(cert_pem, "-----BEGIN CERTIFICATE-----"));
        assert_non_null(strstr(key_pem, "-----BEGIN PRIVATE KEY-----"));
        char *on_disk = slurp(f->tls, "server.crt");
        assert_string_equal(cert_pem, on_disk);
        free(on_disk);
        free(cert_pem);
        free(key_pem);

        /* A key that does not belong to the certificate is refused. */
        path_in(other, sizeof(other), f->dir, "other");
        assert_int_equal(tls_ensure(other, NULL, 0, NULL), 0);
        path_in(other_key, sizeof(other_key), other, "server.key");
        cert_pem = key_pem = NULL;
        assert_int_equal(tls_load_pem(crt, other_key, &cert_pem, &key_pem), BERTH_ECRYPTO);
        assert_null(cert_pem);
        assert_null(key_pem);

        /* The CA key does not match the server certificate either. */
        path_in(other_key, sizeof(other_key), f->tls, "ca.key");
        assert_int_equal(tls_load_pem(crt, other_key, &cert_pem, &key_pem), BERTH_ECRYPTO);

        /* Not a certificate at all; a missing file. */
        assert_int_equal(tls_load_pem(key, key, &cert_pem, &key_pem), BERTH_ECRYPTO);
        path_in(other_key, sizeof(other_key), f->dir, "absent.pem");
        assert_int_equal(tls_load_pem(other_key, key, &cert_pem, &key_pem), -ENOENT);
        assert_null(cert_pem);
}

static void test_load_pem_chain(void **state) {
        fixture_t *f = *state;
        char chain[PATH_MAX], key[PATH_MAX];
        char *cert_pem = NULL, *key_pem = NULL;
        FILE *fp;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        char *leaf = slurp(f->tls, "server.crt");
        char *ca = slurp(f->tls, "ca.crt");
        path_in(chain, sizeof(chain), f->dir, "chain.pem");
        fp = fopen(chain, "w");
        assert_non_null(fp);
        /* text between blocks, as some tools write it */
        fprintf(fp, "subject=leaf\n%sissuer=ca\n%s", leaf, ca);
        fclose(fp);
        path_in(key, sizeof(key), f->tls, "server.key");
        assert_int_equal(tls_load_pem(chain, key, &cert_pem, &key_pem), 0);
        assert_null(strstr(cert_pem, "subject="));
        char *both = NULL;
        assert_true(asprintf(&both, "%s%s", leaf, ca) > 0);
        assert_string_equal(cert_pem, both);
        free(both); free(leaf); free(ca); free(cert_pem); free(key_pem);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_generate_creates_files_with_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_second_call_reuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sans_present, setup, teardown),
                cmocka_unit_test_setup_teardown(test_server_cert_verifies_against_ca, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_san_reissues_keeping_ca, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damaged_server_key_is_replaced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_extra_san_rejected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_pem, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_pem_chain, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
