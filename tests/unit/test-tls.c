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
        tls_info_t info;
        struct stat st;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, &info), 0);
        assert_true(info.generated);
        assert_true(info.ca_generated);
        assert_false(info.ca_unconstrained);

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
        assert_int_equal(st.st_mode & 07777, 0600);   /* like every file but ca.crt */
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
        tls_info_t info;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        for (size_t i = 0; i < 4; i++)
                stat_in(f->tls, names[i], &before[i]);
        char *srv1 = slurp(f->tls, "server.crt");

        assert_int_equal(tls_ensure(f->tls, NULL, 0, &info), 0);
        assert_false(info.generated);
        assert_false(info.renewed);
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

/* A wanted name the CA covers but server.crt lacks: server.crt is re-issued, the CA
 * stays. (The CA covers the names it was made for; one given up and asked for again.) */
static void test_missing_san_reissues_keeping_ca(void **state) {
        fixture_t *f = *state;
        static const char *const both[] = { "registry.example.test", "10.1.2.3" };
        char p[PATH_MAX];
        tls_info_t info;

        assert_int_equal(tls_ensure(f->tls, both, 2, NULL), 0);
        path_in(p, sizeof(p), f->tls, "server.crt");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        char *ca1 = slurp(f->tls, "ca.crt");
        char *cakey1 = slurp(f->tls, "ca.key");
        char *srv1 = slurp(f->tls, "server.crt");
        X509 *x = read_cert(f->tls, "server.crt");
        assert_int_equal(X509_check_host(x, "registry.example.test", 0, 0, NULL), 0);
        X509_free(x);

        assert_int_equal(tls_ensure(f->tls, both, 2, &info), 0);
        assert_true(info.generated);
        assert_false(info.ca_generated);
        char *ca2 = slurp(f->tls, "ca.crt");
        char *cakey2 = slurp(f->tls, "ca.key");
        char *srv2 = slurp(f->tls, "server.crt");
        assert_string_equal(ca1, ca2);
        assert_string_equal(cakey1, cakey2);
        assert_string_not_equal(srv1, srv2);

        x = read_cert(f->tls, "server.crt");
        assert_int_equal(X509_check_host(x, "registry.example.test", 0, 0, NULL), 1);
        assert_int_equal(X509_check_ip_asc(x, "10.1.2.3", 0), 1);
        X509_free(x);
        assert_int_equal(verify_with_ca(f->tls), 1);

        /* The same SANs again: nothing to do. */
        assert_int_equal(tls_ensure(f->tls, both, 2, &info), 0);
        assert_false(info.generated);
        free(ca1); free(ca2); free(cakey1); free(cakey2); free(srv1); free(srv2);
}

static void test_damaged_server_key_is_replaced(void **state) {
        fixture_t *f = *state;
        char p[PATH_MAX];
        tls_info_t info;
        FILE *fp;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        char *ca1 = slurp(f->tls, "ca.crt");
        path_in(p, sizeof(p), f->tls, "server.key");
        fp = fopen(p, "w");
        assert_non_null(fp);
        fputs("not a key\n", fp);
        fclose(fp);

        assert_int_equal(tls_ensure(f->tls, NULL, 0, &info), 0);
        assert_true(info.generated);
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

/* ---- name constraints, path length, renewal (issue 9) ---- */

static EVP_PKEY *read_key(const char *dir, const char *name) {
        char p[PATH_MAX];
        FILE *fp;
        EVP_PKEY *k;

        path_in(p, sizeof(p), dir, name);
        fp = fopen(p, "r");
        assert_non_null(fp);
        k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        fclose(fp);
        assert_non_null(k);
        return k;
}

static void write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *k) {
        char p[PATH_MAX];
        FILE *fp;

        path_in(p, sizeof(p), dir, name);
        fp = fopen(p, "w");
        assert_non_null(fp);
        if (x)
                assert_int_equal(PEM_write_X509(fp, x), 1);
        else
                assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
        assert_int_equal(fclose(fp), 0);
}

static void ext(X509 *x, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *e;

        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
}

/* A certificate for key (a fresh P-256 key if *key is NULL), valid from an hour ago
 * for `secs` seconds, signed by issuer/issuer_key (itself if NULL). sans like
 * "DNS:a,IP:1.2.3.4" (NULL: none); ca_ext like "critical,CA:TRUE" (NULL: a leaf). */
static X509 *make_cert(EVP_PKEY **key, const char *cn, const char *sans, const char *ca_ext, long secs,
                       X509 *issuer, EVP_PKEY *issuer_key) {
        X509 *x = X509_new();

        if (!*key)
                *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        assert_non_null(*key);
        assert_non_null(x);
        assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), secs));
        assert_int_equal(X509_set_pubkey(x, *key), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                                    (const unsigned char *) cn, -1, -1, 0), 1);
        assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)), 1);
        if (ca_ext) {
                ext(x, issuer ? issuer : x, NID_basic_constraints, ca_ext);
                ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
                ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
        } else {
                ext(x, issuer ? issuer : x, NID_basic_constraints, "CA:FALSE");
                ext(x, issuer ? issuer : x, NID_ext_key_usage, "serverAuth");
        }
        if (sans)
                ext(x, issuer ? issuer : x, NID_subject_alt_name, sans);
        assert_true(X509_sign(x, issuer_key ? issuer_key : *key, EVP_sha256()) > 0);
        return x;
}

/* X509_verify_cert of leaf (with untrusted intermediate mid, may be NULL) against
 * ca: X509_V_OK or the error. */
static int verify_error(X509 *ca, X509 *mid, X509 *leaf) {
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        STACK_OF(X509) *chain = sk_X509_new_null();
        int err;

        assert_non_null(store);
        assert_non_null(ctx);
        assert_non_null(chain);
        if (mid)
                assert_true(sk_X509_push(chain, mid) > 0);
        assert_int_equal(X509_STORE_add_cert(store, ca), 1);
        assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, chain), 1);
        assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
        err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        sk_X509_free(chain);
        ERR_clear_error();
        return err;
}

/* The permitted subtrees of the CA, as "DNS:name" / "IP:a.b.c.d/mask-bytes" text. */
static void test_ca_has_constraints(void **state) {
        fixture_t *f = *state;
        static const char *const extra[] = { "registry.example.test", "10.1.2.3", "fd00::5" };
        int crit = -1;

        assert_int_equal(tls_ensure(f->tls, extra, 3, NULL), 0);
        X509 *ca = read_cert(f->tls, "ca.crt");

        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
        assert_non_null(bc);
        assert_true(bc->ca);
        assert_int_equal(crit, 1);
        assert_non_null(bc->pathlen);
        assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
        BASIC_CONSTRAINTS_free(bc);

        crit = -1;
        NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca, NID_name_constraints, &crit, NULL);
        assert_non_null(nc);
        assert_int_equal(crit, 1);
        assert_null(nc->excludedSubtrees);
        bool localhost = false, v4 = false, v6 = false, reg = false, ip = false, ip6 = false;
        static const unsigned char lo4[8] = { 127, 0, 0, 1, 255, 255, 255, 255 };
        static const unsigned char ten[8] = { 10, 1, 2, 3, 255, 255, 255, 255 };
        unsigned char lo6[32] = { 0 }, fd6[32] = { 0 };
        lo6[15] = 1;
        fd6[0] = 0xfd;
        fd6[15] = 5;
        memset(lo6 + 16, 0xff, 16);
        memset(fd6 + 16, 0xff, 16);
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
                GENERAL_SUBTREE *t = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
                if (t->base->type == GEN_DNS) {
                        const char *d = (const char *) ASN1_STRING_get0_data(t->base->d.dNSName);
                        localhost = localhost || strcmp(d, "localhost") == 0;
                        reg = reg || strcmp(d, "registry.example.test") == 0;
                } else {
                        assert_int_equal(t->base->type, GEN_IPADD);
                        const unsigned char *a = ASN1_STRING_get0_data(t->base->d.iPAddress);
                        int n = ASN1_STRING_length(t->base->d.iPAddress);
                        v4 = v4 || (n == 8 && memcmp(a, lo4, 8) == 0);
                        ip = ip || (n == 8 && memcmp(a, ten, 8) == 0);
                        v6 = v6 || (n == 32 && memcmp(a, lo6, 32) == 0);
                        ip6 = ip6 || (n == 32 && memcmp(a, fd6, 32) == 0);
                }
        }
        assert_true(localhost && v4 && v6 && reg && ip && ip6);
        NAME_CONSTRAINTS_free(nc);
        X509_free(ca);

        /* the server certificate: one year */
        X509 *srv = read_cert(f->tls, "server.crt");
        int days = 0, secs = 0;
        assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(srv)), 1);
        assert_true(days >= 364 && days <= 365);
        X509_free(srv);
        assert_int_equal(verify_with_ca(f->tls), 1);
}

/* Whoever reads ca.key cannot mint a certificate clients accept for another name or
 * address, nor an intermediate CA. */
static void test_ca_cannot_sign_for_other_names(void **state) {
        fixture_t *f = *state;
        static const char *const extra[] = { "registry.example.test" };
        EVP_PKEY *k1 = NULL, *k2 = NULL, *k3 = NULL, *k4 = NULL, *k5 = NULL, *k6 = NULL;

        assert_int_equal(tls_ensure(f->tls, extra, 1, NULL), 0);
        X509 *ca = read_cert(f->tls, "ca.crt");
        EVP_PKEY *ca_key = read_key(f->tls, "ca.key");

        /* control: a name it was made for verifies */
        X509 *good = make_cert(&k1, "registry.example.test", "DNS:registry.example.test,IP:127.0.0.1", NULL,
                               86400, ca, ca_key);
        assert_int_equal(verify_error(ca, NULL, good), X509_V_OK);

        X509 *evil = make_cert(&k2, "evil.example", "DNS:evil.example", NULL, 86400, ca, ca_key);
        assert_int_equal(verify_error(ca, NULL, evil), X509_V_ERR_PERMITTED_VIOLATION);
        X509 *evil_ip = make_cert(&k3, "localhost", "DNS:localhost,IP:192.0.2.7", NULL, 86400, ca, ca_key);
        assert_int_equal(verify_error(ca, NULL, evil_ip), X509_V_ERR_PERMITTED_VIOLATION);
        /* a name that merely ends like a permitted one */
        X509 *suffix = make_cert(&k4, "x", "DNS:evilregistry.example.test", NULL, 86400, ca, ca_key);
        assert_int_equal(verify_error(ca, NULL, suffix), X509_V_ERR_PERMITTED_VIOLATION);

        /* pathlen 0: an intermediate CA below it is refused, even for a permitted name */
        X509 *mid = make_cert(&k5, "intermediate", NULL, "critical,CA:TRUE", 86400, ca, ca_key);
        X509 *leaf = make_cert(&k6, "localhost", "DNS:localhost", NULL, 86400, mid, k5);
        assert_int_equal(verify_error(ca, mid, leaf), X509_V_ERR_PATH_LENGTH_EXCEEDED);

        X509_free(good); X509_free(evil); X509_free(evil_ip); X509_free(suffix); X509_free(mid); X509_free(leaf);
        EVP_PKEY_free(k1); EVP_PKEY_free(k2); EVP_PKEY_free(k3); EVP_PKEY_free(k4); EVP_PKEY_free(k5);
        EVP_PKEY_free(k6);
        EVP_PKEY_free(ca_key);
        X509_free(ca);
}

/* A new --tls-san the CA may not sign for: refused, nothing changes (the CA is the
 * clients' trust anchor; only the operator rotates it). */
static void test_san_outside_constraints_refused(void **state) {
        fixture_t *f = *state;
        static const char *const extra[] = { "registry.example.test" };
        static const char *const more[] = { "registry.example.test", "new.example.test" };
        static const char *const addr[] = { "192.0.2.9" };
        tls_info_t info;

        assert_int_equal(tls_ensure(f->tls, extra, 1, NULL), 0);
        char *ca1 = slurp(f->tls, "ca.crt"), *srv1 = slurp(f->tls, "server.crt");
        assert_int_equal(tls_ensure(f->tls, more, 2, &info), BERTH_ECONFIG);
        assert_string_equal(info.refused_san, "new.example.test");
        assert_int_equal(tls_ensure(f->tls, addr, 1, &info), BERTH_ECONFIG);
        assert_string_equal(info.refused_san, "192.0.2.9");
        char *ca2 = slurp(f->tls, "ca.crt"), *srv2 = slurp(f->tls, "server.crt");
        assert_string_equal(ca1, ca2);
        assert_string_equal(srv1, srv2);
        /* a name below a permitted one is inside the constraints (RFC 5280) */
        static const char *const below[] = { "mirror.registry.example.test" };
        assert_int_equal(tls_ensure(f->tls, below, 1, &info), 0);
        assert_true(info.generated);
        assert_false(info.ca_generated);
        assert_int_equal(verify_with_ca(f->tls), 1);
        /* after the operator moves the CA away, a new one covers the new names */
        char p[PATH_MAX];
        path_in(p, sizeof(p), f->tls, "ca.key");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(tls_ensure(f->tls, more, 2, &info), 0);
        assert_true(info.ca_generated);
        assert_int_equal(verify_with_ca(f->tls), 1);
        free(ca1); free(ca2); free(srv1); free(srv2);
}

/* Replaces server.crt with one from the same CA and key, `days` days from expiry. */
static void age_server_cert(const char *dir, long days) {
        X509 *ca = read_cert(dir, "ca.crt");
        EVP_PKEY *ca_key = read_key(dir, "ca.key"), *key = read_key(dir, "server.key");
        X509 *old = read_cert(dir, "server.crt");
        X509 *x = make_cert(&key, "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", NULL, days * 86400 + 3600,
                            ca, ca_key);
        /* the same names as before, so that only the age can trigger a renewal */
        int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
        X509_EXTENSION *e = X509_delete_ext(x, idx);
        X509_EXTENSION_free(e);
        idx = X509_get_ext_by_NID(old, NID_subject_alt_name, -1);
        assert_true(idx >= 0);
        assert_int_equal(X509_add_ext(x, X509_get_ext(old, idx), -1), 1);
        assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
        write_pem(dir, "server.crt", x, NULL);
        X509_free(x); X509_free(old); X509_free(ca);
        EVP_PKEY_free(ca_key); EVP_PKEY_free(key);
}

static void test_renewal_near_expiry(void **state) {
        fixture_t *f = *state;
        tls_info_t info;

        assert_int_equal(tls_ensure(f->tls, NULL, 0, NULL), 0);
        char *ca1 = slurp(f->tls, "ca.crt");

        /* 40 days left: kept */
        age_server_cert(f->tls, 40);
        assert_int_equal(verify_with_ca(f->tls), 1);
        char *aged = slurp(f->tls, "server.crt");
        assert_int_equal(tls_ensure(f->tls, NULL, 0, &info), 0);
        assert_false(info.generated);
        assert_false(info.renewed);
        assert_true(info.server_days_left >= 39 && info.server_days_left <= 40);
        char *kept = slurp(f->tls, "server.crt");
        assert_string_equal(aged, kept);

        /* 10 days left: renewed from the same CA, for a year again */
        age_server_cert(f->tls, 10);
        assert_int_equal(tls_ensure(f->tls, NULL, 0, &info), 0);
        assert_true(info.generated);
        assert_true(info.renewed);
        assert_false(info.ca_generated);
        assert_true(info.server_days_left >= 364);
        char *ca2 = slurp(f->tls, "ca.crt");
        assert_string_equal(ca1, ca2);
        assert_int_equal(verify_with_ca(f->tls), 1);
        free(ca1); free(ca2); free(aged); free(kept);
}

/* A CA made by an older berthd (no name constraints): kept so its clients keep
 * working, and flagged so the operator rotates it. */
static void test_unconstrained_ca_kept_and_flagged(void **state) {
        fixture_t *f = *state;
        static const char *const extra[] = { "anything.example" };
        EVP_PKEY *k = NULL;
        tls_info_t info;

        assert_int_equal(mkdir(f->tls, 0700), 0);
        X509 *ca = make_cert(&k, "old berth CA", NULL, "critical,CA:TRUE", 3650L * 86400, NULL, NULL);
        write_pem(f->tls, "ca.key", NULL, k);
        write_pem(f->tls, "ca.crt", ca, NULL);
        char *ca1 = slurp(f->tls, "ca.crt");
        assert_int_equal(tls_ensure(f->tls, extra, 1, &info), 0);
        assert_true(info.ca_unconstrained);
        assert_false(info.ca_generated);
        char *ca2 = slurp(f->tls, "ca.crt");
        assert_string_equal(ca1, ca2);
        assert_int_equal(verify_with_ca(f->tls), 1);
        free(ca1); free(ca2);
        X509_free(ca);
        EVP_PKEY_free(k);
}

/* The host name is a convenience: a CA made on another host (a new container) does not
 * cover it, and the certificate goes without it. */
static void test_host_name_outside_constraints_left_out(void **state) {
        fixture_t *f = *state;
        char host[256] = "";
        EVP_PKEY *k = NULL;
        tls_info_t info;

        if (gethostname(host, sizeof(host)) != 0 || !host[0] || strcmp(host, "localhost") == 0 ||
            strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != strlen(host))
                skip();
        assert_int_equal(mkdir(f->tls, 0700), 0);
        X509 *ca = make_cert(&k, "berth CA", NULL, "critical,CA:TRUE,pathlen:0", 3650L * 86400, NULL, NULL);
        ext(ca, ca, NID_name_constraints,
            "critical,permitted;DNS:localhost,permitted;IP:127.0.0.1/255.255.255.255,"
            "permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        assert_true(X509_sign(ca, k, EVP_sha256()) > 0);
        write_pem(f->tls, "ca.key", NULL, k);
        write_pem(f->tls, "ca.crt", ca, NULL);
        assert_int_equal(tls_ensure(f->tls, NULL, 0, &info), 0);
        assert_true(info.host_name_left_out);
        assert_false(info.ca_unconstrained);
        X509 *x = read_cert(f->tls, "server.crt");
        assert_int_equal(X509_check_host(x, host, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 0);
        assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
        X509_free(x);
        assert_int_equal(verify_with_ca(f->tls), 1);
        X509_free(ca);
        EVP_PKEY_free(k);
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
                cmocka_unit_test_setup_teardown(test_ca_has_constraints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ca_cannot_sign_for_other_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_san_outside_constraints_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renewal_near_expiry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unconstrained_ca_kept_and_flagged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_name_outside_constraints_left_out, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
