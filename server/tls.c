/* server/tls.c: berthd's TLS material. A local CA and a server certificate signed
 * by it are generated with OpenSSL on first start and reused afterwards; a server
 * certificate that expired, no longer matches its key or the CA, or lacks a wanted
 * subject alternative name is re-issued from the existing CA, so clients that
 * trust ca.crt keep working. server.crt holds the leaf only: clients trust the CA. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "server/tls.h"

#define CA_DAYS 3650
#define SERVER_DAYS 825
#define BACKDATE_SECS 3600            /* tolerate clients whose clock runs a bit late */
#define PEM_FILE_MAX (1024 * 1024)    /* a certificate chain or key file, at most */
#define SAN_MAX 64                    /* names in the generated certificate, at most */
#define DNS_NAME_MAX 253

/* A subject alternative name we want in the server certificate. */
typedef struct {
        int type;                     /* GEN_DNS or GEN_IPADD */
        size_t len;                   /* bytes in ip, or characters in dns */
        unsigned char ip[16];
        char dns[DNS_NAME_MAX + 1];
} san_t;

typedef struct {
        san_t v[SAN_MAX];
        size_t n;
} san_list_t;

static void x509p(X509 **p) { X509_free(*p); }
static void pkeyp(EVP_PKEY **p) { EVP_PKEY_free(*p); }
static void biop(BIO **p) { BIO_free(*p); }
#define _cleanup_x509_ _cleanup_(x509p)
#define _cleanup_pkey_ _cleanup_(pkeyp)
#define _cleanup_bio_ _cleanup_(biop)

/* OpenSSL keeps an error queue per thread; drop it once we mapped the failure. */
static int crypto_fail(void) {
        ERR_clear_error();
        return BERTH_ECRYPTO;
}

static bool dns_name_valid(const char *s, size_t len) {
        if (len == 0 || len > DNS_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                          (c == '*' && i == 0 && len > 2 && s[1] == '.');
                if (!ok)
                        return false;
        }
        return s[0] != '.' && s[0] != '-';
}

static bool san_equal(const san_t *a, const san_t *b) {
        if (a->type != b->type || a->len != b->len)
                return false;
        if (a->type == GEN_IPADD)
                return memcmp(a->ip, b->ip, a->len) == 0;
        return strncasecmp(a->dns, b->dns, a->len) == 0;
}

/* Adds name as an IP address if it parses as one, else as a DNS name.
 * Duplicates are dropped. */
static int san_list_add(san_list_t *l, const char *name) {
        san_t s = { 0 };
        size_t len = strnlen(name, DNS_NAME_MAX + 1);

        if (inet_pton(AF_INET, name, s.ip) == 1) {
                s.type = GEN_IPADD;
                s.len = 4;
        } else if (inet_pton(AF_INET6, name, s.ip) == 1) {
                s.type = GEN_IPADD;
                s.len = 16;
        } else {
                if (!dns_name_valid(name, len))
                        return BERTH_ECONFIG;
                s.type = GEN_DNS;
                s.len = len;
                memcpy(s.dns, name, len);
        }
        for (size_t i = 0; i < l->n; i++)
                if (san_equal(&l->v[i], &s))
                        return 0;
        if (l->n >= SAN_MAX)
                return BERTH_ETOOBIG;
        l->v[l->n++] = s;
        return 0;
}

static int san_list_build(san_list_t *l, const char *const *extra, size_t n_extra) {
        static const char *const fixed[] = { "localhost", "127.0.0.1", "::1" };
        char host[256];
        int r;

        l->n = 0;
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                r = san_list_add(l, fixed[i]);
                if (r < 0)
                        return r;
        }
        /* The host name is a convenience: one that is not a valid DNS name is skipped. */
        if (gethostname(host, sizeof(host)) == 0) {
                host[sizeof(host) - 1] = '\0';
                if (host[0] != '\0')
                        (void) san_list_add(l, host);
        }
        for (size_t i = 0; i < n_extra; i++) {
                if (!extra || !extra[i])
                        return -EINVAL;
                r = san_list_add(l, extra[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* 1 if every wanted name is in the certificate's subjectAltName, 0 if not. */
static int cert_has_sans(X509 *cert, const san_list_t *want) {
        GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        int found_all = 1;

        if (!gens) {
                ERR_clear_error();
                return 0;
        }
        for (size_t i = 0; i < want->n && found_all; i++) {
                const san_t *w = &want->v[i];
                bool found = false;

                for (int j = 0; j < sk_GENERAL_NAME_num(gens) && !found; j++) {
                        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, j);
                        san_t have = { .type = g->type };
                        const ASN1_STRING *str;
                        int len;

                        if (g->type == GEN_DNS)
                                str = g->d.dNSName;
                        else if (g->type == GEN_IPADD)
                                str = g->d.iPAddress;
                        else
                                continue;
                        len = ASN1_STRING_length(str);
                        if (len < 0 || (g->type == GEN_IPADD && len > 16) ||
                            (g->type == GEN_DNS && len > DNS_NAME_MAX))
                                continue;
                        have.len = (size_t) len;
                        if (g->type == GEN_IPADD)
                                memcpy(have.ip, ASN1_STRING_get0_data(str), have.len);
                        else
                                memcpy(have.dns, ASN1_STRING_get0_data(str), have.len);
                        found = san_equal(w, &have);
                }
                if (!found)
                        found_all = 0;
        }
        GENERAL_NAMES_free(gens);
        return found_all;
}

static GENERAL_NAMES *sans_to_general_names(const san_list_t *l) {
        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

        if (!gens)
                return NULL;
        for (size_t i = 0; i < l->n; i++) {
                const san_t *s = &l->v[i];
                GENERAL_NAME *g = GENERAL_NAME_new();
                ASN1_STRING *str = s->type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();

                if (!g || !str ||
                    !ASN1_STRING_set(str, s->type == GEN_DNS ? (const void *) s->dns : (const void *) s->ip,
                                     (int) s->len)) {
                        GENERAL_NAME_free(g);
                        ASN1_STRING_free(str);
                        GENERAL_NAMES_free(gens);
                        return NULL;
                }
                GENERAL_NAME_set0_value(g, s->type, str);
                if (!sk_GENERAL_NAME_push(gens, g)) {
                        GENERAL_NAME_free(g);
                        GENERAL_NAMES_free(gens);
                        return NULL;
                }
        }
        return gens;
}

/* Never prompt for a passphrase: berthd runs unattended. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
        (void) buf; (void) size; (void) rwflag; (void) u;
        return -1;
}

static int load_cert(const char *path, X509 **ret) {
        _cleanup_free_ char *pem = NULL;
        _cleanup_bio_ BIO *bio = NULL;
        size_t len;
        X509 *x;
        int r;

        r = file_read_all(path, PEM_FILE_MAX, &pem, &len);
        if (r < 0)
                return r;
        bio = BIO_new_mem_buf(pem, (int) len);
        if (!bio)
                return crypto_fail();
        x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        if (!x)
                return crypto_fail();
        *ret = x;
        return 0;
}

static int load_key(const char *path, EVP_PKEY **ret) {
        _cleanup_free_ char *pem = NULL;
        _cleanup_bio_ BIO *bio = NULL;
        size_t len;
        EVP_PKEY *k;
        int r;

        r = file_read_all(path, PEM_FILE_MAX, &pem, &len);
        if (r < 0)
                return r;
        bio = BIO_new_mem_buf(pem, (int) len);
        if (!bio)
                return crypto_fail();
        k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        OPENSSL_cleanse(pem, len);
        if (!k)
                return crypto_fail();
        *ret = k;
        return 0;
}

/* Copies a memory BIO's contents into a NUL-terminated string. */
static int bio_to_string(BIO *bio, char **ret) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        char *s;

        if (n < 0 || !data)
                return crypto_fail();
        s = malloc((size_t) n + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, data, (size_t) n);
        s[n] = '\0';
        *ret = s;
        return 0;
}

static int key_to_pem(EVP_PKEY *key, char **ret) {
        _cleanup_bio_ BIO *bio = BIO_new(BIO_s_secmem());

        if (!bio)
                bio = BIO_new(BIO_s_mem());
        if (!bio)
                return crypto_fail();
        /* PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: what GnuTLS reads for any key type. */
        if (!PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
                return crypto_fail();
        return bio_to_string(bio, ret);
}

static int cert_to_pem(X509 *cert, char **ret) {
        _cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());

        if (!bio)
                return crypto_fail();
        if (!PEM_write_bio_X509(bio, cert))
                return crypto_fail();
        return bio_to_string(bio, ret);
}

static int fsync_dir(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Writes data to dir/name through a temporary file renamed into place, so a reader
 * never sees a partial file. The temporary file is created 0600 before any byte of
 * a key reaches it. */
static int write_file_atomic(const char *dir, const char *name, const char *data, mode_t mode) {
        _cleanup_free_ char *dst = NULL;

        if (asprintf(&dst, "%s/%s", dir, name) < 0) {
                dst = NULL;
                return -ENOMEM;
        }
        return file_write_atomic(dst, data, strlen(data), mode);
}

static int write_cert(const char *dir, const char *name, X509 *cert) {
        _cleanup_free_ char *pem = NULL;
        int r = cert_to_pem(cert, &pem);

        if (r < 0)
                return r;
        return write_file_atomic(dir, name, pem, 0644);
}

static int write_key(const char *dir, const char *name, EVP_PKEY *key) {
        _cleanup_free_ char *pem = NULL;
        int r = key_to_pem(key, &pem);

        if (r < 0)
                return r;
        r = write_file_atomic(dir, name, pem, 0600);
        OPENSSL_cleanse(pem, strlen(pem));
        return r;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
        int ok;

        if (!ext)
                return crypto_fail();
        ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : crypto_fail();
}

static int set_name(X509_NAME *n, const char *org, const char *cn) {
        if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *) org, -1, -1, 0) ||
            !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0))
                return crypto_fail();
        return 0;
}

/* A fresh certificate for key: random positive 159-bit serial, validity from a little
 * before now for days days. */
static int cert_new(EVP_PKEY *key, int days, X509 **ret) {
        _cleanup_x509_ X509 *x = X509_new();
        BIGNUM *bn = BN_new();
        int ok;

        if (!x || !bn) {
                BN_free(bn);
                return crypto_fail();
        }
        do {
                ok = BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
        } while (ok && BN_is_zero(bn));
        ok = ok && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_set_version(x, X509_VERSION_3) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECS) &&
             X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) &&
             X509_set_pubkey(x, key);
        BN_free(bn);
        if (!ok)
                return crypto_fail();
        *ret = TAKE_PTR(x);
        return 0;
}

static int ca_generate(X509 **ret_cert, EVP_PKEY **ret_key) {
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        _cleanup_x509_ X509 *x = NULL;
        char cn[64 + 256];
        char host[256] = "";
        X509V3_CTX ctx;
        int r;

        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!key)
                return crypto_fail();
        r = cert_new(key, CA_DAYS, &x);
        if (r < 0)
                return r;
        if (gethostname(host, sizeof(host)) < 0)
                host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        /* Distinguish CAs of different machines in a client's trust store. */
        (void) snprintf(cn, sizeof(cn), "berth local CA%s%.64s", host[0] ? " " : "", host);
        r = set_name(X509_get_subject_name(x), "berth", cn);
        if (r < 0)
                return r;
        if (!X509_set_issuer_name(x, X509_get_subject_name(x)))
                return crypto_fail();
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        if ((r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE")) < 0 ||
            (r = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")) < 0 ||
            (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) < 0)
                return r;
        if (!X509_sign(x, key, EVP_sha256()))
                return crypto_fail();
        *ret_cert = TAKE_PTR(x);
        *ret_key = TAKE_PTR(key);
        return 0;
}

static int server_generate(X509 *ca, EVP_PKEY *ca_key, const san_list_t *sans,
                           X509 **ret_cert, EVP_PKEY **ret_key) {
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        _cleanup_x509_ X509 *x = NULL;
        GENERAL_NAMES *gens;
        char cn[DNS_NAME_MAX + 1] = "localhost";
        X509V3_CTX ctx;
        int r, ok;

        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!key)
                return crypto_fail();
        r = cert_new(key, SERVER_DAYS, &x);
        if (r < 0)
                return r;
        /* The subject's CN is informational (clients match SANs): the host name if known. */
        if (sans->n > 3 && sans->v[3].type == GEN_DNS)
                (void) snprintf(cn, sizeof(cn), "%.*s", (int) sans->v[3].len, sans->v[3].dns);
        r = set_name(X509_get_subject_name(x), "berth", cn);
        if (r < 0)
                return r;
        if (!X509_set_issuer_name(x, X509_get_subject_name(ca)))
                return crypto_fail();
        X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
        if ((r = add_ext(x, &ctx, NID_basic_constraints, "CA:FALSE")) < 0 ||
            (r = add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment")) < 0 ||
            (r = add_ext(x, &ctx, NID_ext_key_usage, "serverAuth")) < 0 ||
            (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) < 0 ||
            (r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) < 0)
                return r;
        gens = sans_to_general_names(sans);
        if (!gens)
                return crypto_fail();
        ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
        GENERAL_NAMES_free(gens);
        if (ok != 1)
                return crypto_fail();
        if (!X509_sign(x, ca_key, EVP_sha256()))
                return crypto_fail();
        *ret_cert = TAKE_PTR(x);
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* 1 if cert was issued by ca (signature checks out) and is within its validity. */
static bool cert_usable(X509 *cert, X509 *ca) {
        _cleanup_pkey_ EVP_PKEY *ca_pub = X509_get_pubkey(ca);
        bool ok;

        ok = ca_pub && X509_check_issued(ca, cert) == X509_V_OK &&
             X509_verify(cert, ca_pub) == 1 &&
             X509_cmp_current_time(X509_get0_notBefore(cert)) < 0 &&
             X509_cmp_current_time(X509_get0_notAfter(cert)) > 0;
        ERR_clear_error();
        return ok;
}

static bool key_matches(X509 *cert, EVP_PKEY *key) {
        bool ok = X509_check_private_key(cert, key) == 1;

        ERR_clear_error();
        return ok;
}

static int path_join(const char *dir, const char *name, char **ret) {
        if (asprintf(ret, "%s/%s", dir, name) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* Loads a certificate and its key; 1 if both parse and belong together, 0 if either
 * is missing or unusable (to be generated again), <0 on other errors. */
static int load_pair(const char *dir, const char *crt_name, const char *key_name,
                     X509 **ret_cert, EVP_PKEY **ret_key) {
        _cleanup_free_ char *crt_path = NULL, *key_path = NULL;
        _cleanup_x509_ X509 *cert = NULL;
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        int r;

        if ((r = path_join(dir, crt_name, &crt_path)) < 0 ||
            (r = path_join(dir, key_name, &key_path)) < 0)
                return r;
        r = load_cert(crt_path, &cert);
        if (r == -ENOENT || r == BERTH_ECRYPTO)
                return 0;
        if (r < 0)
                return r;
        r = load_key(key_path, &key);
        if (r == -ENOENT || r == BERTH_ECRYPTO)
                return 0;
        if (r < 0)
                return r;
        if (!key_matches(cert, key))
                return 0;
        *ret_cert = TAKE_PTR(cert);
        *ret_key = TAKE_PTR(key);
        return 1;
}

int tls_ensure(const char *dir, const char *const *extra_sans, size_t n_extra,
               bool *ret_generated) {
        _cleanup_x509_ X509 *ca = NULL, *srv = NULL;
        _cleanup_pkey_ EVP_PKEY *ca_key = NULL, *srv_key = NULL;
        _cleanup_free_ san_list_t *sans = NULL;
        bool generated = false;
        int r;

        if (!dir || (n_extra > 0 && !extra_sans))
                return -EINVAL;
        sans = calloc(1, sizeof(*sans));
        if (!sans)
                return -ENOMEM;
        r = san_list_build(sans, extra_sans, n_extra);
        if (r < 0)
                return r;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;

        r = load_pair(dir, "ca.crt", "ca.key", &ca, &ca_key);
        if (r < 0)
                return r;
        if (r == 0) {
                r = ca_generate(&ca, &ca_key);
                if (r < 0)
                        return r;
                /* Key first: a crash between the two leaves a pair that does not match,
                 * which the next start replaces. */
                if ((r = write_key(dir, "ca.key", ca_key)) < 0 ||
                    (r = write_cert(dir, "ca.crt", ca)) < 0)
                        return r;
                generated = true;
        }

        r = load_pair(dir, "server.crt", "server.key", &srv, &srv_key);
        if (r < 0)
                return r;
        if (r == 0 || !cert_usable(srv, ca) || cert_has_sans(srv, sans) != 1) {
                X509_free(TAKE_PTR(srv));
                EVP_PKEY_free(TAKE_PTR(srv_key));
                r = server_generate(ca, ca_key, sans, &srv, &srv_key);
                if (r < 0)
                        return r;
                if ((r = write_key(dir, "server.key", srv_key)) < 0 ||
                    (r = write_cert(dir, "server.crt", srv)) < 0)
                        return r;
                generated = true;
        }
        if (generated) {
                r = fsync_dir(dir);
                if (r < 0)
                        return r;
        }
        if (ret_generated)
                *ret_generated = generated;
        return 0;
}

int tls_load_pem(const char *cert_path, const char *key_path, char **ret_cert_pem,
                 char **ret_key_pem) {
        _cleanup_free_ char *raw = NULL, *cert_pem = NULL, *key_pem = NULL;
        _cleanup_bio_ BIO *in = NULL, *out = NULL;
        _cleanup_x509_ X509 *leaf = NULL;
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        size_t len;
        int r;

        if (!cert_path || !key_path || !ret_cert_pem || !ret_key_pem)
                return -EINVAL;
        r = file_read_all(cert_path, PEM_FILE_MAX, &raw, &len);
        if (r < 0)
                return r;
        in = BIO_new_mem_buf(raw, (int) len);
        out = BIO_new(BIO_s_mem());
        if (!in || !out)
                return crypto_fail();
        /* Re-encode every certificate of the chain: drops comments and attributes
         * some tools write between the blocks, which GnuTLS may not accept. */
        for (;;) {
                X509 *x = PEM_read_bio_X509(in, NULL, no_passphrase, NULL);
                if (!x)
                        break;
                if (!PEM_write_bio_X509(out, x)) {
                        X509_free(x);
                        return crypto_fail();
                }
                if (!leaf)
                        leaf = x;
                else
                        X509_free(x);
        }
        ERR_clear_error();     /* the loop ends on "no start line" */
        if (!leaf)
                return BERTH_ECRYPTO;
        r = load_key(key_path, &key);
        if (r < 0)
                return r;
        if (!key_matches(leaf, key))
                return BERTH_ECRYPTO;
        r = bio_to_string(out, &cert_pem);
        if (r < 0)
                return r;
        r = key_to_pem(key, &key_pem);
        if (r < 0)
                return r;
        *ret_cert_pem = TAKE_PTR(cert_pem);
        *ret_key_pem = TAKE_PTR(key_pem);
        return 0;
}
