/* storage/s3.c: the S3 blob-store driver. Requests are signed with AWS Signature
 * Version 4 (OpenSSL HMAC-SHA256) and sent with libcurl; easy handles are kept in
 * a pool and reused, so their connections are too. Every answer's status is
 * checked; 5xx answers, SlowDown and transport failures are retried with
 * exponential back-off, 4xx answers never. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/s3.h"

#define S3_POOL_MAX 32         /* idle easy handles kept */
#define S3_ATTEMPTS 6          /* tries of one request */
#define S3_BACKOFF_MS 100      /* first back-off; doubles, capped below */
#define S3_BACKOFF_MAX_MS 3000
#define S3_XML_MAX (4u << 20)  /* cap on an XML answer held in memory */
#define S3_KEY_MAX 1024
#define S3_PART_MIN (5ull << 20)        /* S3's smallest part (but the last) */
#define S3_MULTIPART_FROM (64ull << 20) /* blobs this large go up in parts, in parallel */
#define S3_PART_SIZE (32ull << 20)      /* the usual part; more for blobs of > 10,000 of them */
#define S3_PART_WORKERS 4
#define S3_PARTS_MAX 10000
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- URL ---- */

static bool bucket_valid(const char *b, size_t n) {
        if (n < 3 || n > S3_BUCKET_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = b[i];
                if (!(islower((unsigned char) c) || isdigit((unsigned char) c) || c == '-' || c == '.'))
                        return false;
        }
        return isalnum((unsigned char) b[0]) && isalnum((unsigned char) b[n - 1]);
}

static bool prefix_char(char c) {
        return isalnum((unsigned char) c) || c == '-' || c == '_' || c == '.' || c == '/';
}

static bool host_valid(const char *h, size_t n) {
        if (n == 0 || n > S3_HOST_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = h[i];
                if (!(isalnum((unsigned char) c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']'))
                        return false;
        }
        return true;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Percent-decode src[0..n) into dst (cap bytes). -1 malformed or too long. */
static int pct_decode(const char *src, size_t n, char *dst, size_t cap) {
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                char c = src[i];
                if (c == '%') {
                        int h, l;
                        if (i + 2 >= n)
                                return -1;
                        h = hexval(src[i + 1]);
                        l = hexval(src[i + 2]);
                        if (h < 0 || l < 0 || (h == 0 && l == 0))
                                return -1;
                        c = (char) (h * 16 + l);
                        i += 2;
                } else if (c == '+')
                        c = ' ';
                if (o + 1 >= cap)
                        return -1;
                dst[o++] = c;
        }
        dst[o] = '\0';
        return 0;
}

int s3_url_parse(const char *url, s3_config_t *ret, const char **reterr_detail) {
        s3_config_t c = { .https = true, .path_style = false };
        const char *p, *q, *slash, *end;
        bool have_endpoint = false, have_style = false;
        const char *detail = NULL;

#define FAIL(msg)                      \
        do {                           \
                detail = (msg);        \
                goto fail;             \
        } while (0)
        if (!url || !ret)
                return -EINVAL;
        if (strncmp(url, "s3://", 5) != 0)
                FAIL("the storage URL must start with s3://");
        p = url + 5;
        q = strchr(p, '?');
        end = q ? q : p + strlen(p);
        slash = memchr(p, '/', (size_t) (end - p));
        if (!bucket_valid(p, (size_t) ((slash ? slash : end) - p)))
                FAIL("invalid bucket name (3 to 63 of a-z, 0-9, '-' and '.')");
        memcpy(c.bucket, p, (size_t) ((slash ? slash : end) - p));
        if (slash) {
                const char *ps = slash + 1, *pe = end;
                while (pe > ps && pe[-1] == '/')
                        pe--;
                if ((size_t) (pe - ps) > S3_PREFIX_MAX)
                        FAIL("prefix too long");
                for (const char *x = ps; x < pe; x++) {
                        if (!prefix_char(*x) || (*x == '/' && (x == ps || x[-1] == '/')))
                                FAIL("invalid prefix (letters, digits, '-', '_', '.', single '/')");
                        if (*x == '.' && (x == ps || x[-1] == '/') && (x + 1 == pe || x[1] == '/' ||
                                                                       (x[1] == '.' && (x + 2 == pe || x[2] == '/'))))
                                FAIL("invalid prefix ('.' and '..' segments)");
                }
                memcpy(c.prefix, ps, (size_t) (pe - ps));
        }
        while (q && *q) {
                const char *kv = q + 1, *amp = strchr(kv, '&'), *eq;
                const char *kend = amp ? amp : kv + strlen(kv);
                char val[S3_HOST_MAX + 16];

                q = amp;
                if (kend == kv)
                        continue;
                eq = memchr(kv, '=', (size_t) (kend - kv));
                if (!eq)
                        FAIL("query parameters are key=value");
                if (pct_decode(eq + 1, (size_t) (kend - eq - 1), val, sizeof(val)) < 0)
                        FAIL("malformed or too long query value");
#define KEY_IS(k) ((size_t) (eq - kv) == strlen(k) && memcmp(kv, k, strlen(k)) == 0)
                if (KEY_IS("endpoint")) {
                        const char *h;
                        size_t hl;
                        if (have_endpoint)
                                FAIL("endpoint given twice");
                        have_endpoint = true;
                        if (strncmp(val, "https://", 8) == 0) {
                                c.https = true;
                                h = val + 8;
                        } else if (strncmp(val, "http://", 7) == 0) {
                                c.https = false;
                                h = val + 7;
                        } else
                                FAIL("endpoint must be http://HOST[:PORT] or https://HOST[:PORT]");
                        hl = strlen(h);
                        if (hl && h[hl - 1] == '/')
                                hl--;
                        if (!host_valid(h, hl))
                                FAIL("invalid endpoint host");
                        memcpy(c.host, h, hl);
                        c.host[hl] = '\0';
                } else if (KEY_IS("region")) {
                        size_t n = strlen(val);
                        if (!n || n > S3_REGION_MAX)
                                FAIL("invalid region");
                        for (size_t i = 0; i < n; i++)
                                if (!(isalnum((unsigned char) val[i]) || val[i] == '-' || val[i] == '_'))
                                        FAIL("invalid region");
                        memcpy(c.region, val, n + 1);
                } else if (KEY_IS("style")) {
                        have_style = true;
                        if (strcmp(val, "path") == 0)
                                c.path_style = true;
                        else if (strcmp(val, "virtual") == 0)
                                c.path_style = false;
                        else
                                FAIL("style is path or virtual");
                } else
                        FAIL("unknown parameter (endpoint, region, style)");
#undef KEY_IS
        }
        if (!c.region[0])
                strcpy(c.region, "us-east-1");
        if (!have_endpoint) {
                if (snprintf(c.host, sizeof(c.host), "s3.%s.amazonaws.com", c.region) >= (int) sizeof(c.host))
                        FAIL("invalid region");
        } else if (!have_style)
                c.path_style = true;
        if (!c.path_style && strchr(c.bucket, '.') && c.https)
                FAIL("a bucket name with '.' needs style=path over https");
        *ret = c;
        return 0;
fail:
        if (reterr_detail)
                *reterr_detail = detail;
        return -EINVAL;
#undef FAIL
}

/* ---- SigV4 ---- */

static void hex_of(const unsigned char *b, size_t n, char *out) {
        static const char hx[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hx[b[i] >> 4];
                out[2 * i + 1] = hx[b[i] & 15];
        }
        out[2 * n] = '\0';
}

static int hmac(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32]) {
        unsigned int olen = 32;
        return HMAC(EVP_sha256(), key, (int) klen, msg, mlen, out, &olen) ? 0 : BERTH_ECRYPTO;
}

static int sha256_hex(const void *buf, size_t len, char out[65]) {
        unsigned char md[32];
        if (!EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL))
                return BERTH_ECRYPTO;
        hex_of(md, 32, out);
        return 0;
}

int s3_uri_encode(const char *s, bool keep_slash, char *ret, size_t n) {
        static const char hx[] = "0123456789ABCDEF";
        size_t o = 0;

        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
                        if (o + 1 >= n)
                                return -ENAMETOOLONG;
                        ret[o++] = (char) c;
                } else {
                        if (o + 3 >= n)
                                return -ENAMETOOLONG;
                        ret[o++] = '%';
                        ret[o++] = hx[c >> 4];
                        ret[o++] = hx[c & 15];
                }
        }
        if (o >= n)
                return -ENAMETOOLONG;
        ret[o] = '\0';
        return 0;
}

typedef struct {
        char *buf;
        size_t len, cap;
        bool err;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n) {
        if (b->err)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t nc = (b->len + n + 1) * 2;
                char *nb = realloc(b->buf, nc);
                if (!nb) {
                        b->err = true;
                        return;
                }
                b->buf = nb;
                b->cap = nc;
        }
        memcpy(b->buf + b->len, s, n);
        b->len += n;
        b->buf[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s) {
        sb_add(b, s, strlen(s));
}

static int hdr_cmp(const void *a, const void *b) {
        const s3_header_t *x = a, *y = b;
        return strcasecmp(x->name, y->name);
}

/* value trimmed, inner runs of spaces made one */
static void sb_trimmed(sbuf_t *b, const char *v) {
        bool sp = false, any = false;
        for (; *v; v++) {
                if (*v == ' ' || *v == '\t') {
                        sp = any;
                        continue;
                }
                if (sp)
                        sb_add(b, " ", 1);
                sp = false;
                any = true;
                sb_add(b, v, 1);
        }
}

static void sb_lower(sbuf_t *b, const char *s) {
        for (; *s; s++) {
                char c = (char) tolower((unsigned char) *s);
                sb_add(b, &c, 1);
        }
}

int s3_sign(const s3_sign_input_t *in, char ret_sig[S3_SIG_HEX + 1], char *ret_signed_headers, size_t n) {
        _cleanup_free_ s3_header_t *h = NULL;
        sbuf_t creq = {}, sh = {}, sts = {};
        char hash[65], date[9], scope[128];
        unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
        char ksecret[256];
        int r = 0;

        if (!in || !in->method || !in->path || !in->amz_date || strlen(in->amz_date) != 16 || !in->secret_key ||
            strlen(in->secret_key) > sizeof(ksecret) - 5)
                return -EINVAL;
        h = calloc(in->n_headers ? in->n_headers : 1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        memcpy(h, in->headers, in->n_headers * sizeof(*h));
        qsort(h, in->n_headers, sizeof(*h), hdr_cmp);

        sb_str(&creq, in->method);
        sb_str(&creq, "\n");
        sb_str(&creq, in->path);
        sb_str(&creq, "\n");
        sb_str(&creq, in->query ? in->query : "");
        sb_str(&creq, "\n");
        for (size_t i = 0; i < in->n_headers; i++) {
                sb_lower(&creq, h[i].name);
                sb_str(&creq, ":");
                sb_trimmed(&creq, h[i].value);
                sb_str(&creq, "\n");
                if (i)
                        sb_str(&sh, ";");
                sb_lower(&sh, h[i].name);
        }
        sb_str(&creq, "\n");
        sb_str(&creq, sh.buf ? sh.buf : "");
        sb_str(&creq, "\n");
        sb_str(&creq, in->payload_hash ? in->payload_hash : EMPTY_SHA256);
        if (creq.err || sh.err) {
                r = -ENOMEM;
                goto out;
        }
        memcpy(date, in->amz_date, 8);
        date[8] = '\0';
        if (snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, in->region, in->service) >= (int) sizeof(scope)) {
                r = -ENAMETOOLONG;
                goto out;
        }
        if ((r = sha256_hex(creq.buf, creq.len, hash)) < 0)
                goto out;
        sb_str(&sts, "AWS4-HMAC-SHA256\n");
        sb_str(&sts, in->amz_date);
        sb_str(&sts, "\n");
        sb_str(&sts, scope);
        sb_str(&sts, "\n");
        sb_str(&sts, hash);
        if (sts.err) {
                r = -ENOMEM;
                goto out;
        }
        (void) snprintf(ksecret, sizeof(ksecret), "AWS4%s", in->secret_key);
        if ((r = hmac(ksecret, strlen(ksecret), date, 8, k1)) < 0 ||
            (r = hmac(k1, 32, in->region, strlen(in->region), k2)) < 0 ||
            (r = hmac(k2, 32, in->service, strlen(in->service), k3)) < 0 ||
            (r = hmac(k3, 32, "aws4_request", 12, k4)) < 0 || (r = hmac(k4, 32, sts.buf, sts.len, sig)) < 0)
                goto out;
        hex_of(sig, 32, ret_sig);
        if (ret_signed_headers) {
                if (!sh.buf || strlen(sh.buf) >= n) {
                        r = -ENAMETOOLONG;
                        goto out;
                }
                memcpy(ret_signed_headers, sh.buf, strlen(sh.buf) + 1);
        }
out:
        OPENSSL_cleanse(ksecret, sizeof(ksecret));
        OPENSSL_cleanse(k1, sizeof(k1));
        OPENSSL_cleanse(k2, sizeof(k2));
        OPENSSL_cleanse(k3, sizeof(k3));
        OPENSSL_cleanse(k4, sizeof(k4));
        free(creq.buf);
        free(sh.buf);
        free(sts.buf);
        return r;
}

int s3_authorization(const s3_sign_input_t *in, char *ret, size_t n) {
        char sig[S3_SIG_HEX + 1], sh[1024];
        int r = s3_sign(in, sig, sh, sizeof(sh));

        if (r < 0)
                return r;
        if (snprintf(ret, n, "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                     in->access_key, in->amz_date, in->region, in->service, sh, sig) >= (int) n)
                return -ENAMETOOLONG;
        return 0;
}

int s3_presign(const char *scheme_host, const char *host, const char *path, unsigned expires, const char *amz_date,
               const char *region, const char *access_key, const char *secret_key, const char *session_token,
               char **ret) {
        char cred[256], cred_enc[512], tok_enc[4096] = "", query[6144], sig[S3_SIG_HEX + 1];
        s3_header_t hh = { "host", host };
        s3_sign_input_t in = {
                .method = "GET", .path = path, .query = query, .headers = &hh, .n_headers = 1,
                .payload_hash = "UNSIGNED-PAYLOAD", .amz_date = amz_date, .region = region, .service = "s3",
                .access_key = access_key, .secret_key = secret_key,
        };
        int r;

        if (snprintf(cred, sizeof(cred), "%s/%.8s/%s/s3/aws4_request", access_key, amz_date, region) >= (int) sizeof(cred) ||
            s3_uri_encode(cred, false, cred_enc, sizeof(cred_enc)) < 0)
                return -ENAMETOOLONG;
        if (session_token && *session_token && s3_uri_encode(session_token, false, tok_enc, sizeof(tok_enc)) < 0)
                return -ENAMETOOLONG;
        /* the parameters in byte order, as the canonical query wants them */
        if (snprintf(query, sizeof(query),
                     "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s&X-Amz-Expires=%u%s%s"
                     "&X-Amz-SignedHeaders=host",
                     cred_enc, amz_date, expires, tok_enc[0] ? "&X-Amz-Security-Token=" : "", tok_enc) >= (int) sizeof(query))
                return -ENAMETOOLONG;
        r = s3_sign(&in, sig, NULL, 0);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s%s?%s&X-Amz-Signature=%s", scheme_host, path, query, sig) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- XML (the few answers we read: flat elements, no attributes we need) ---- */

/* Decode the five predefined entities and numeric ones of src[0..n) into dst. */
static int xml_decode(const char *src, size_t n, char *dst, size_t cap) {
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                char c = src[i];
                if (c == '&') {
                        const char *semi = memchr(src + i, ';', n - i);
                        size_t el;
                        if (!semi || (el = (size_t) (semi - (src + i))) > 10)
                                return -EBADMSG;
#define ENT(s, ch) (el == sizeof(s) - 1 && memcmp(src + i, s, el) == 0) c = (ch)
                        if ENT ("&amp", '&');
                        else if ENT ("&lt", '<');
                        else if ENT ("&gt", '>');
                        else if ENT ("&quot", '"');
                        else if ENT ("&apos", '\'');
                        else if (el >= 3 && src[i + 1] == '#') {
                                unsigned long v = 0;
                                bool hex = src[i + 2] == 'x';
                                for (size_t k = i + (hex ? 3 : 2); k < i + el; k++) {
                                        int d = hex ? hexval(src[k]) : (isdigit((unsigned char) src[k]) ? src[k] - '0' : -1);
                                        if (d < 0)
                                                return -EBADMSG;
                                        v = v * (hex ? 16 : 10) + (unsigned long) d;
                                }
                                if (v == 0 || v > 127)
                                        return -EBADMSG; /* our keys are ASCII */
                                c = (char) v;
                        } else
                                return -EBADMSG;
#undef ENT
                        i += el;
                }
                if (o + 1 >= cap)
                        return -EBADMSG;
                dst[o++] = c;
        }
        if (cap == 0)
                return -EBADMSG;
        dst[o] = '\0';
        return 0;
}

/* The next <tag>text</tag> at or after *pos within [xml, xml+len): its text span.
 * 1 found (*pos past it), 0 not. */
static int xml_next(const char *xml, size_t len, size_t *pos, const char *tag, const char **ret, size_t *ret_len) {
        size_t tl = strlen(tag);
        char open[64], close[64];

        if (tl + 4 > sizeof(open))
                return 0;
        (void) snprintf(open, sizeof(open), "<%s>", tag);
        (void) snprintf(close, sizeof(close), "</%s>", tag);
        while (*pos < len) {
                const char *a = memmem(xml + *pos, len - *pos, open, tl + 2), *b;
                if (!a)
                        return 0;
                a += tl + 2;
                b = memmem(a, (size_t) (xml + len - a), close, tl + 3);
                if (!b)
                        return 0;
                *ret = a;
                *ret_len = (size_t) (b - a);
                *pos = (size_t) (b - xml) + tl + 3;
                return 1;
        }
        return 0;
}

int s3_xml_text(const char *xml, size_t len, const char *tag, char *ret, size_t n) {
        const char *v;
        size_t vl, pos = 0;

        if (!xml || !xml_next(xml, len, &pos, tag, &v, &vl))
                return 0;
        return xml_decode(v, vl, ret, n) < 0 ? -EBADMSG : 1;
}

int s3_error_code(const char *xml, size_t len, char *code, size_t n) {
        const char *v;
        size_t vl, pos = 0;

        if (!xml || !xml_next(xml, len, &pos, "Error", &v, &vl))
                return 0;
        return s3_xml_text(v, vl, "Code", code, n) > 0;
}

int s3_time_parse(const char *s, time_t *ret) {
        struct tm tm = {};
        const char *e;
        time_t t;

        e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!e)
                return -EINVAL;
        if (*e == '.') {
                e++;
                if (!isdigit((unsigned char) *e))
                        return -EINVAL;
                while (isdigit((unsigned char) *e))
                        e++;
        }
        if (strcmp(e, "Z") != 0)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret = t;
        return 0;
}

/* A listing's IsTruncated: 1 "true" (another page follows), 0 not, -EBADMSG. */
static int is_truncated(const char *xml, size_t len) {
        char trunc[8];
        int r = s3_xml_text(xml, len, "IsTruncated", trunc, sizeof(trunc));

        if (r < 0)
                return -EBADMSG;
        return r == 1 && strcmp(trunc, "true") == 0;
}

int s3_list_parse(const char *xml, size_t len, s3_list_entry_fn cb, void *userdata, char *token, size_t n) {
        char key[S3_KEY_MAX + 1], num[32], when[64];
        size_t pos = 0;
        const char *v;
        size_t vl;
        int r;

        if (!xml || !token || !n)
                return -EINVAL;
        token[0] = '\0';
        if (!memmem(xml, len, "<ListBucketResult", 17))
                return -EBADMSG;
        while (xml_next(xml, len, &pos, "Contents", &v, &vl)) {
                uint64_t size = 0;
                time_t mtime = 0;
                char *end;

                if (s3_xml_text(v, vl, "Key", key, sizeof(key)) != 1 || s3_xml_text(v, vl, "Size", num, sizeof(num)) != 1)
                        return -EBADMSG;
                if (!isdigit((unsigned char) num[0]))
                        return -EBADMSG;
                errno = 0;
                size = strtoull(num, &end, 10);
                if (errno || *end)
                        return -EBADMSG;
                r = s3_xml_text(v, vl, "LastModified", when, sizeof(when));
                if (r < 0 || (r == 1 && s3_time_parse(when, &mtime) < 0))
                        return -EBADMSG;
                if (cb)
                        cb(userdata, key, size, mtime);
        }
        r = is_truncated(xml, len);
        if (r < 0)
                return r;
        if (r == 1) {
                r = s3_xml_text(xml, len, "NextContinuationToken", token, n);
                if (r != 1 || !token[0])
                        return -EBADMSG;
        }
        return 0;
}

/* ---- the driver ---- */

typedef struct s3 {
        blobstore_t base;
        s3_config_t cfg;
        char *access_key, *secret_key, *session_token;
        char *ca_file;
        char base_url[S3_HOST_MAX + 2 * S3_BUCKET_MAX + 32]; /* scheme://host[/bucket] */
        char sign_host[S3_HOST_MAX + S3_BUCKET_MAX + 2];
        char path_base[S3_BUCKET_MAX + 2];              /* "/bucket" (path style) or "" */
        pthread_mutex_t lock;
        CURL *pool[S3_POOL_MAX];
        size_t n_pool;
} s3_t;

static CURL *handle_get(s3_t *s) {
        CURL *h = NULL;

        pthread_mutex_lock(&s->lock);
        if (s->n_pool)
                h = s->pool[--s->n_pool];
        pthread_mutex_unlock(&s->lock);
        if (h)
                curl_easy_reset(h); /* options gone, connections and DNS cache kept */
        else
                h = curl_easy_init();
        return h;
}

static void handle_put(s3_t *s, CURL *h) {
        if (!h)
                return;
        pthread_mutex_lock(&s->lock);
        if (s->n_pool < S3_POOL_MAX) {
                s->pool[s->n_pool++] = h;
                h = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        if (h)
                curl_easy_cleanup(h);
}

/* What a request sends and where its answer goes. */
typedef struct {
        /* body: from fd [off, off+len), or from mem (len bytes), or none */
        int fd;
        const void *mem;
        uint64_t off, len, sent;
        /* answer: into out (fixed, out_cap) for GETs, else into xml (capped) */
        char *out;
        size_t out_cap, out_len;
        sbuf_t xml;
        bool xml_toobig;
        char etag[128]; /* the answer's ETag header, quotes kept ("" none) */
        CURL *h;        /* the transfer (its status decides where a body goes) */
        /* answer: handed to sink as it arrives instead (a 2xx body); sunk counts
         * what it took (a failed transfer that sank bytes is not retried here) */
        int (*sink)(void *userdata, const void *buf, size_t n);
        void *sink_userdata;
        uint64_t sunk;
} io_t;

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud) {
        io_t *io = ud;
        size_t n = size * nmemb;

        if (n > 5 && strncasecmp(buf, "etag:", 5) == 0) {
                const char *v = buf + 5, *e = buf + n;
                while (v < e && (*v == ' ' || *v == '\t'))
                        v++;
                while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
                        e--;
                if ((size_t) (e - v) < sizeof(io->etag)) {
                        memcpy(io->etag, v, (size_t) (e - v));
                        io->etag[e - v] = '\0';
                }
        }
        return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud) {
        io_t *io = ud;
        size_t want = size * nmemb;

        if (io->sent >= io->len)
                return 0;
        if (want > io->len - io->sent)
                want = (size_t) (io->len - io->sent);
        if (io->mem) {
                memcpy(buf, (const char *) io->mem + io->sent, want);
        } else {
                ssize_t n;
                do
                        n = pread(io->fd, buf, want, (off_t) (io->off + io->sent));
                while (n < 0 && errno == EINTR);
                if (n <= 0)
                        return CURL_READFUNC_ABORT; /* the file shrank: never send short */
                want = (size_t) n;
        }
        io->sent += want;
        return want;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud) {
        io_t *io = ud;
        size_t n = size * nmemb;

        long status = 0;

        if (io->h)
                (void) curl_easy_getinfo(io->h, CURLINFO_RESPONSE_CODE, &status);
        if (io->sink && status >= 200 && status < 300) {
                if (io->sink(io->sink_userdata, buf, n) < 0)
                        return 0; /* the reader is gone: fail the transfer */
                io->sunk += n;
                return n;
        }
        if (io->out && status >= 200 && status < 300) {
                if (n > io->out_cap - io->out_len)
                        return 0; /* more than asked for: fail the transfer */
                memcpy(io->out + io->out_len, buf, n);
                io->out_len += n;
                return n;
        }
        if (io->xml.len + n > S3_XML_MAX) {
                io->xml_toobig = true;
                return 0;
        }
        sb_add(&io->xml, buf, n);
        return io->xml.err ? 0 : n;
}

static void amz_now(char out[17]) {
        struct tm tm;
        time_t t = time(NULL);
        gmtime_r(&t, &tm);
        (void) strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void backoff(unsigned attempt) {
        unsigned ms = S3_BACKOFF_MS << (attempt < 5 ? attempt : 5);
        unsigned char j;
        struct timespec ts;

        if (ms > S3_BACKOFF_MAX_MS)
                ms = S3_BACKOFF_MAX_MS;
        if (getrandom(&j, 1, GRND_NONBLOCK) == 1)
                ms = ms / 2 + (ms / 2) * j / 255; /* jitter: half to all of it */
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long) (ms % 1000) * 1000000L;
        (void) nanosleep(&ts, NULL);
}

typedef struct {
        const char *method;
        const char *key;       /* object key under the bucket (encoded by us), NULL: the bucket */
        const char *query;     /* canonical query, "" none */
        const char *range;     /* "bytes=a-b" or NULL */
        const char *copy_from; /* x-amz-copy-source value or NULL */
        const char *copy_range; /* x-amz-copy-source-range value or NULL (UploadPartCopy) */
        const char *payload;   /* payload hash; NULL: UNSIGNED-PAYLOAD with a body, empty hash without */
} req_t;

/* One request with retries. *ret_status the final HTTP status. 0 when 2xx, else an
 * error: -ENOENT 404, -EACCES 401/403, -ERANGE 416, -EIO another 4xx,
 * BERTH_ESTOREDOWN (5xx, SlowDown or transport failure after every attempt). */
static int request(s3_t *s, const req_t *rq, io_t *io, long *ret_status, uint64_t *ret_length) {
        char path[S3_KEY_MAX * 3 + S3_BUCKET_MAX + 8], url[sizeof(path) + sizeof(s->base_url) + 4096];
        char date[17], auth[1536], hdr[1700];
        const char *payload = rq->payload ? rq->payload : io->len ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256;
        long status = 0;
        int r = BERTH_ESTOREDOWN;
        CURL *h;

        if (snprintf(path, sizeof(path), "%s/", s->path_base) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        if (rq->key && s3_uri_encode(rq->key, true, path + strlen(path), sizeof(path) - strlen(path)) < 0)
                return -ENAMETOOLONG;
        if (snprintf(url, sizeof(url), "%s://%s%s%s%s", s->cfg.https ? "https" : "http", s->sign_host, path,
                     rq->query && *rq->query ? "?" : "", rq->query ? rq->query : "") >= (int) sizeof(url))
                return -ENAMETOOLONG;
        h = handle_get(s);
        if (!h)
                return -ENOMEM;
        for (unsigned attempt = 0; attempt < S3_ATTEMPTS; attempt++) {
                struct curl_slist *hl = NULL;
                s3_header_t sh[8];
                size_t nh = 0;
                CURLcode cc;
                char ecode[64];

                if (attempt)
                        backoff(attempt - 1);
                amz_now(date);
                sh[nh++] = (s3_header_t) { "host", s->sign_host };
                sh[nh++] = (s3_header_t) { "x-amz-content-sha256", payload };
                sh[nh++] = (s3_header_t) { "x-amz-date", date };
                if (rq->range)
                        sh[nh++] = (s3_header_t) { "range", rq->range };
                if (rq->copy_from)
                        sh[nh++] = (s3_header_t) { "x-amz-copy-source", rq->copy_from };
                if (rq->copy_range)
                        sh[nh++] = (s3_header_t) { "x-amz-copy-source-range", rq->copy_range };
                if (s->session_token)
                        sh[nh++] = (s3_header_t) { "x-amz-security-token", s->session_token };
                r = s3_authorization(&(s3_sign_input_t) { .method = rq->method, .path = path,
                                                          .query = rq->query ? rq->query : "", .headers = sh,
                                                          .n_headers = nh, .payload_hash = payload,
                                                          .amz_date = date, .region = s->cfg.region,
                                                          .service = "s3", .access_key = s->access_key,
                                                          .secret_key = s->secret_key },
                                     auth, sizeof(auth));
                if (r < 0)
                        break;
                for (size_t i = 1; i < nh; i++) {
                        (void) snprintf(hdr, sizeof(hdr), "%s: %s", sh[i].name, sh[i].value);
                        hl = curl_slist_append(hl, hdr);
                }
                (void) snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
                hl = curl_slist_append(hl, hdr);
                OPENSSL_cleanse(hdr, sizeof(hdr));
                OPENSSL_cleanse(auth, sizeof(auth));
                hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
                if (!hl) {
                        r = -ENOMEM;
                        break;
                }
                io->sent = 0;
                io->h = h;
                io->out_len = 0;
                io->xml.len = 0;
                io->xml_toobig = false;
                (void) curl_easy_setopt(h, CURLOPT_URL, url);
                (void) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
                (void) curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                (void) curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
                (void) curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
                (void) curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
                (void) curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
                (void) curl_easy_setopt(h, CURLOPT_WRITEDATA, io);
                (void) curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
                (void) curl_easy_setopt(h, CURLOPT_HEADERDATA, io);
                io->etag[0] = '\0';
                (void) curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
                /* fewer, larger callbacks for the bulk of bytes both ways */
                (void) curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
                (void) curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
                (void) curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
                (void) curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
                if (s->ca_file)
                        (void) curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
                if (strcmp(rq->method, "HEAD") == 0)
                        (void) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                else if (strcmp(rq->method, "PUT") == 0) {
                        (void) curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                        (void) curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                        (void) curl_easy_setopt(h, CURLOPT_READDATA, io);
                        (void) curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) io->len);
                } else if (strcmp(rq->method, "POST") == 0) {
                        (void) curl_easy_setopt(h, CURLOPT_POST, 1L);
                        (void) curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                        (void) curl_easy_setopt(h, CURLOPT_READDATA, io);
                        (void) curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) io->len);
                } else if (strcmp(rq->method, "GET") != 0)
                        (void) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
                cc = curl_easy_perform(h);
                curl_slist_free_all(hl);
                /* the next attempt sets every option afresh */
                if (cc != CURLE_OK) {
                        status = 0;
                        r = BERTH_ESTOREDOWN;
                        if (io->sink && io->sunk) /* bytes gone to the reader: it resumes */
                                break;
                        if (cc == CURLE_WRITE_ERROR || cc == CURLE_ABORTED_BY_CALLBACK) {
                                /* more than we could hold, or our file shrank under the
                                 * body (on_read): another try changes nothing */
                                r = -EIO;
                                break;
                        }
                        curl_easy_reset(h);
                        continue;
                }
                (void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                if (status >= 200 && status < 300) {
                        /* CopyObject and CompleteMultipartUpload may fail inside a 200 */
                        if (!io->out && io->xml.len && s3_error_code(io->xml.buf, io->xml.len, ecode, sizeof(ecode)) == 1) {
                                r = BERTH_ESTOREDOWN;
                                curl_easy_reset(h);
                                continue;
                        }
                        if (ret_length) {
                                curl_off_t cl = -1;
                                (void) curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
                                *ret_length = cl >= 0 ? (uint64_t) cl : 0;
                        }
                        r = 0;
                        break;
                }
                if (status >= 500 || status == 429 ||
                    (status == 503 || (io->xml.len && s3_error_code(io->xml.buf, io->xml.len, ecode, sizeof(ecode)) == 1 &&
                                       strcmp(ecode, "SlowDown") == 0))) {
                        r = BERTH_ESTOREDOWN;
                        curl_easy_reset(h);
                        continue;
                }
                /* 4xx: the request itself is wrong; another try changes nothing */
                r = status == 404 ? -ENOENT : status == 401 || status == 403 ? -EACCES : status == 416 ? -ERANGE : -EIO;
                break;
        }
        handle_put(s, h);
        if (ret_status)
                *ret_status = status;
        return r;
}

static int blob_key(const s3_t *s, const char *area, const digest_t *d, const char *suffix, char *ret, size_t n) {
        const char *alg = digest_alg_name(d->alg);
        int k;

        if (strcmp(area, "blobs") == 0)
                k = snprintf(ret, n, "%s%s%s/%s/%s", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "", area, alg, digest_hex(d));
        else
                k = snprintf(ret, n, "%s%s%s/%s-%s%s", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "", area, alg,
                             digest_hex(d), suffix ? suffix : "");
        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 0;
}

#define S3(bs) ((s3_t *) (bs))

static int head(s3_t *s, const char *key, uint64_t *ret_size) {
        io_t io = { .fd = -1 };
        uint64_t len = 0;
        int r = request(s, &(req_t) { .method = "HEAD", .key = key }, &io, NULL, &len);

        free(io.xml.buf);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = len;
        return 1;
}

static int simple(s3_t *s, const char *method, const char *key, const char *query, const char *copy_from) {
        io_t io = { .fd = -1 };
        int r = request(s, &(req_t) { .method = method, .key = key, .query = query, .copy_from = copy_from }, &io,
                        NULL, NULL);
        free(io.xml.buf);
        return r;
}

static int s3_stat(blobstore_t *bs, const digest_t *d, uint64_t *ret_size) {
        char key[S3_KEY_MAX];
        int r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key));

        return r < 0 ? r : head(S3(bs), key, ret_size);
}

static int s3_read(blobstore_t *bs, const digest_t *d, uint64_t off, void *buf, size_t len, size_t *ret_n) {
        char key[S3_KEY_MAX], range[64];
        io_t io = { .fd = -1, .out = buf, .out_cap = len };
        int r;

        if (len == 0) {
                *ret_n = 0;
                return 0;
        }
        if ((r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key))) < 0)
                return r;
        (void) snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
        r = request(S3(bs), &(req_t) { .method = "GET", .key = key, .range = range }, &io, NULL, NULL);
        free(io.xml.buf);
        if (r == -ERANGE) { /* at or past the end */
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        *ret_n = io.out_len;
        return 0;
}

/* The range [off, off+len) of the blob handed to sink as it arrives: one GET (the
 * rest asked again from where it broke off when a transfer fails midway). */
static int s3_read_stream(blobstore_t *bs, const digest_t *d, uint64_t off, uint64_t len,
                          int (*sink)(void *userdata, const void *buf, size_t n), void *userdata) {
        char key[S3_KEY_MAX], range[64];
        uint64_t done = 0;
        unsigned resumed = 0;
        int r;

        if ((r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key))) < 0)
                return r;
        while (done < len) {
                io_t io = { .fd = -1, .sink = sink, .sink_userdata = userdata };

                (void) snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off + done, off + len - 1);
                r = request(S3(bs), &(req_t) { .method = "GET", .key = key, .range = range }, &io, NULL, NULL);
                free(io.xml.buf);
                done += io.sunk;
                if (r >= 0 && io.sunk == 0)
                        return -EIO; /* shorter than its size */
                if (r < 0 && (io.sunk == 0 || r != BERTH_ESTOREDOWN || ++resumed >= S3_ATTEMPTS))
                        return r;
        }
        return 0;
}

/* ---- multipart: a large blob goes up in parts, several at a time ---- */

typedef struct {
        s3_t *s;
        const char *key;
        const char *upload_id_enc;
        int fd;
        uint64_t size, part_size;
        unsigned n_parts;
        pthread_mutex_t lock;
        unsigned next;  /* next part to send (0-based) */
        int err;        /* first failure: the others stop */
        char (*etags)[128];
} mp_t;

static void *part_worker(void *arg) {
        mp_t *mp = arg;

        for (;;) {
                char query[512];
                io_t io = { .fd = mp->fd };
                unsigned i;
                int r;

                pthread_mutex_lock(&mp->lock);
                i = mp->err ? mp->n_parts : mp->next++;
                pthread_mutex_unlock(&mp->lock);
                if (i >= mp->n_parts)
                        return NULL;
                io.off = (uint64_t) i * mp->part_size;
                io.len = mp->size - io.off < mp->part_size ? mp->size - io.off : mp->part_size;
                (void) snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", i + 1, mp->upload_id_enc);
                r = request(mp->s, &(req_t) { .method = "PUT", .key = mp->key, .query = query }, &io, NULL, NULL);
                free(io.xml.buf);
                if (r >= 0 && !io.etag[0])
                        r = -EIO; /* S3 always names the part */
                pthread_mutex_lock(&mp->lock);
                if (r < 0 && !mp->err)
                        mp->err = r;
                else if (r >= 0)
                        memcpy(mp->etags[i], io.etag, sizeof(io.etag));
                pthread_mutex_unlock(&mp->lock);
        }
}

/* XML text escaping of an ETag for CompleteMultipartUpload. */
static void sb_xml_escaped(sbuf_t *b, const char *v) {
        for (; *v; v++) {
                if (*v == '"')
                        sb_str(b, "&quot;");
                else if (*v == '&')
                        sb_str(b, "&amp;");
                else if (*v == '<')
                        sb_str(b, "&lt;");
                else if (*v == '>')
                        sb_str(b, "&gt;");
                else
                        sb_add(b, v, 1);
        }
}

static int put_multipart(s3_t *s, const char *key, int fd, uint64_t size) {
        char upload_id[512], id_enc[1536] = "", query[1600];
        pthread_t th[S3_PART_WORKERS];
        unsigned n_th = 0;
        io_t io = { .fd = -1 };
        sbuf_t body = {};
        mp_t mp = { .s = s, .key = key, .fd = fd, .size = size, .part_size = S3_PART_SIZE };
        int r;

        while ((size + mp.part_size - 1) / mp.part_size > S3_PARTS_MAX)
                mp.part_size *= 2;
        mp.n_parts = (unsigned) ((size + mp.part_size - 1) / mp.part_size);
        r = request(s, &(req_t) { .method = "POST", .key = key, .query = "uploads=" }, &io, NULL, NULL);
        if (r >= 0 && s3_xml_text(io.xml.buf, io.xml.len, "UploadId", upload_id, sizeof(upload_id)) != 1)
                r = -EIO;
        free(io.xml.buf);
        if (r < 0)
                return r;
        if (s3_uri_encode(upload_id, false, id_enc, sizeof(id_enc)) < 0) {
                r = -ENAMETOOLONG;
                goto abort;
        }
        mp.upload_id_enc = id_enc;
        mp.etags = calloc(mp.n_parts, sizeof(*mp.etags));
        if (!mp.etags) {
                r = -ENOMEM;
                goto abort;
        }
        pthread_mutex_init(&mp.lock, NULL);
        for (unsigned i = 0; i < S3_PART_WORKERS && i < mp.n_parts; i++)
                if (pthread_create(&th[n_th], NULL, part_worker, &mp) == 0)
                        n_th++;
        if (n_th == 0)
                (void) part_worker(&mp);
        for (unsigned i = 0; i < n_th; i++)
                pthread_join(th[i], NULL);
        pthread_mutex_destroy(&mp.lock);
        r = mp.err;
        if (r < 0)
                goto abort;
        sb_str(&body, "<CompleteMultipartUpload>");
        for (unsigned i = 0; i < mp.n_parts; i++) {
                char num[16];
                (void) snprintf(num, sizeof(num), "%u", i + 1);
                sb_str(&body, "<Part><PartNumber>");
                sb_str(&body, num);
                sb_str(&body, "</PartNumber><ETag>");
                sb_xml_escaped(&body, mp.etags[i]);
                sb_str(&body, "</ETag></Part>");
        }
        sb_str(&body, "</CompleteMultipartUpload>");
        if (body.err) {
                r = -ENOMEM;
                goto abort;
        }
        {
                char hash[65];
                io_t cio = { .fd = -1, .mem = body.buf, .len = body.len };
                if ((r = sha256_hex(body.buf, body.len, hash)) < 0)
                        goto abort;
                (void) snprintf(query, sizeof(query), "uploadId=%s", id_enc);
                /* a 200 may still carry an <Error>: request() checks */
                r = request(s, &(req_t) { .method = "POST", .key = key, .query = query, .payload = hash }, &cio, NULL, NULL);
                free(cio.xml.buf);
        }
        if (r < 0)
                goto abort;
        free(body.buf);
        free(mp.etags);
        return 0;
abort:
        /* nothing half-written stays: the parts go with the upload (an abort that
         * fails is left to the expiry, s3_expire_incomplete) */
        (void) snprintf(query, sizeof(query), "uploadId=%s", id_enc);
        if (mp.upload_id_enc)
                (void) simple(s, "DELETE", key, query, NULL);
        free(body.buf);
        free(mp.etags);
        return r;
}

static int s3_commit_file(blobstore_t *bs, int dirfd, const char *name, const digest_t *d) {
        s3_t *s = S3(bs);
        char key[S3_KEY_MAX];
        _cleanup_close_ int fd = -1;
        struct stat st;
        io_t io = { .fd = -1 };
        int r;

        if ((r = blob_key(s, "blobs", d, NULL, key, sizeof(key))) < 0)
                return r;
        r = head(s, key, NULL);
        if (r != 0)
                return r < 0 ? r : 0; /* present: deduplicated */
        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size >= S3_MULTIPART_FROM)
                return put_multipart(s, key, fd, (uint64_t) st.st_size); /* visible at completion only */
        io.fd = fd;
        io.len = (uint64_t) st.st_size;
        /* The digest is the payload's SHA-256: S3 checks the bytes against it, and a
         * PUT is atomic, so the key never names a partial or wrong blob. */
        r = request(s, &(req_t) { .method = "PUT", .key = key, .payload = d->alg == DIGEST_SHA256 ? digest_hex(d) : NULL },
                    &io, NULL, NULL);
        free(io.xml.buf);
        return r;
}

static int s3_remove(blobstore_t *bs, const digest_t *d) {
        char key[S3_KEY_MAX];
        int r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key));

        if (r < 0)
                return r;
        r = head(S3(bs), key, NULL);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        return simple(S3(bs), "DELETE", key, NULL, NULL);
}

/* The x-amz-copy-source value naming key: "/bucket/key" (encoded). */
static int copy_source(const s3_t *s, const char *from, char *src, size_t n) {
        size_t bl = strlen(s->cfg.bucket);

        if (bl + 2 >= n)
                return -ENAMETOOLONG;
        src[0] = '/';
        memcpy(src + 1, s->cfg.bucket, bl);
        src[bl + 1] = '/';
        return s3_uri_encode(from, true, src + bl + 2, n - bl - 2) < 0 ? -ENAMETOOLONG : 0;
}

/* Server-side copy of from to to (both keys under the bucket). */
static int copy_object(s3_t *s, const char *from, const char *to) {
        char src[S3_KEY_MAX * 3 + S3_BUCKET_MAX + 4];
        int r = copy_source(s, from, src, sizeof(src));

        return r < 0 ? r : simple(s, "PUT", to, NULL, src);
}

static int move_object(s3_t *s, const char *from, const char *to) {
        int r = copy_object(s, from, to);
        return r < 0 ? r : simple(s, "DELETE", from, NULL, NULL);
}

static int s3_quarantine(blobstore_t *bs, const digest_t *d, time_t now, char *ret_name, size_t n) {
        s3_t *s = S3(bs);
        char key[S3_KEY_MAX], q[S3_KEY_MAX], suffix[32];
        int r;

        (void) snprintf(suffix, sizeof(suffix), "-%lld", (long long) now);
        if ((r = blob_key(s, "blobs", d, NULL, key, sizeof(key))) < 0 ||
            (r = blob_key(s, "quarantine", d, suffix, q, sizeof(q))) < 0)
                return r;
        r = head(s, key, NULL);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        r = move_object(s, key, q);
        if (r >= 0 && ret_name && n)
                (void) snprintf(ret_name, n, "s3://%s/%s", s->cfg.bucket, q);
        return r;
}

static int s3_trash(blobstore_t *bs, const digest_t *d) {
        s3_t *s = S3(bs);
        char key[S3_KEY_MAX], t[S3_KEY_MAX];
        int r;

        if ((r = blob_key(s, "blobs", d, NULL, key, sizeof(key))) < 0 || (r = blob_key(s, "trash", d, NULL, t, sizeof(t))) < 0)
                return r;
        r = head(s, key, NULL);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        return move_object(s, key, t);
}

static int s3_untrash(blobstore_t *bs, const digest_t *d) {
        s3_t *s = S3(bs);
        char key[S3_KEY_MAX], t[S3_KEY_MAX];
        int r;

        if ((r = blob_key(s, "blobs", d, NULL, key, sizeof(key))) < 0 || (r = blob_key(s, "trash", d, NULL, t, sizeof(t))) < 0)
                return r;
        r = head(s, key, NULL);
        if (r < 0)
                return r;
        if (r == 0 && (r = copy_object(s, t, key)) < 0) /* placed again meanwhile: keep that one */
                return r;
        return simple(s, "DELETE", t, NULL, NULL);
}

static int s3_trash_purge(blobstore_t *bs, const digest_t *d) {
        char t[S3_KEY_MAX];
        int r = blob_key(S3(bs), "trash", d, NULL, t, sizeof(t));

        return r < 0 ? r : simple(S3(bs), "DELETE", t, NULL, NULL);
}

/* Listing: every key under PREFIX/<area>/<sub>, page by page. */
typedef struct {
        const char *strip; /* the listed prefix: keys are checked against it */
        bool trash;
        blobstore_list_fn cb;
        void (*tcb)(void *userdata, const digest_t *d);
        void *userdata;
        int visited;
} lister_t;

static void list_entry(void *ud, const char *key, uint64_t size, time_t mtime) {
        lister_t *l = ud;
        size_t sl = strlen(l->strip);
        char str[DIGEST_STR_MAX + 8];
        const char *rest;
        char *sep;
        digest_t d;

        if (strncmp(key, l->strip, sl) != 0)
                return;
        rest = key + sl; /* "<alg>/<hex>" or trash's "<alg>-<hex>" */
        if (snprintf(str, sizeof(str), "%s", rest) >= (int) sizeof(str))
                return;
        sep = strchr(str, l->trash ? '-' : '/');
        if (!sep)
                return;
        *sep = ':';
        if (digest_parse(str, &d) < 0)
                return;
        if (l->trash)
                l->tcb(l->userdata, &d);
        else
                l->cb(l->userdata, &d, size, mtime);
        l->visited++;
}

/* Every object under the area prefix pfx (a full key prefix): cb for each. */
static int list_raw(s3_t *s, const char *pfx, s3_list_entry_fn cb, void *ud) {
        char pfx_enc[S3_KEY_MAX * 3], token[S3_KEY_MAX * 2] = "", tok_enc[S3_KEY_MAX * 6], query[S3_KEY_MAX * 10];
        int r;

        if (s3_uri_encode(pfx, false, pfx_enc, sizeof(pfx_enc)) < 0)
                return -ENAMETOOLONG;
        for (;;) {
                io_t io = { .fd = -1 };
                char next[sizeof(token)];

                if (token[0]) {
                        if (s3_uri_encode(token, false, tok_enc, sizeof(tok_enc)) < 0)
                                return -ENAMETOOLONG;
                        (void) snprintf(query, sizeof(query), "continuation-token=%s&list-type=2&prefix=%s", tok_enc,
                                        pfx_enc);
                } else
                        (void) snprintf(query, sizeof(query), "list-type=2&prefix=%s", pfx_enc);
                r = request(s, &(req_t) { .method = "GET", .key = NULL, .query = query }, &io, NULL, NULL);
                if (r >= 0)
                        r = s3_list_parse(io.xml.buf ? io.xml.buf : "", io.xml.len, cb, ud, next, sizeof(next));
                free(io.xml.buf);
                if (r < 0)
                        return r;
                if (!next[0])
                        return 0;
                memcpy(token, next, sizeof(token));
        }
}

static int list_keys(s3_t *s, const char *area, const char *sub, lister_t *l) {
        char pfx[S3_KEY_MAX], base[S3_KEY_MAX];
        int r;

        if (snprintf(pfx, sizeof(pfx), "%s%s%s/%s", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "", area, sub) >= (int) sizeof(pfx))
                return -ENAMETOOLONG;
        (void) snprintf(base, sizeof(base), "%s%s%s/", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "", area);
        l->strip = base;
        r = list_raw(s, pfx, list_entry, l);
        l->strip = NULL;
        return r < 0 ? r : l->visited;
}

static int s3_list(blobstore_t *bs, const char *prefix, blobstore_list_fn cb, void *userdata) {
        lister_t l = { .cb = cb, .userdata = userdata };
        return list_keys(S3(bs), "blobs", prefix ? prefix : "", &l);
}

static int s3_trash_list(blobstore_t *bs, void (*cb)(void *userdata, const digest_t *d), void *userdata) {
        lister_t l = { .trash = true, .tcb = cb, .userdata = userdata };
        return list_keys(S3(bs), "trash", "", &l);
}

static int s3_presign_blob(blobstore_t *bs, const digest_t *d, unsigned ttl, char **ret_url) {
        s3_t *s = S3(bs);
        char key[S3_KEY_MAX], path[S3_KEY_MAX * 3 + S3_BUCKET_MAX + 4], date[17], sh[S3_HOST_MAX + S3_BUCKET_MAX + 16];
        int r;

        if ((r = blob_key(s, "blobs", d, NULL, key, sizeof(key))) < 0)
                return r;
        (void) snprintf(path, sizeof(path), "%s/", s->path_base);
        if (s3_uri_encode(key, true, path + strlen(path), sizeof(path) - strlen(path)) < 0)
                return -ENAMETOOLONG;
        (void) snprintf(sh, sizeof(sh), "%s://%s", s->cfg.https ? "https" : "http", s->sign_host);
        amz_now(date);
        return s3_presign(sh, s->sign_host, path, ttl, date, s->cfg.region, s->access_key, s->secret_key,
                          s->session_token, ret_url);
}

static void secret_free(char *p) {
        if (p) {
                OPENSSL_cleanse(p, strlen(p));
                free(p);
        }
}

static void s3_free(blobstore_t *bs) {
        s3_t *s = S3(bs);

        if (!s)
                return;
        for (size_t i = 0; i < s->n_pool; i++)
                curl_easy_cleanup(s->pool[i]);
        secret_free(s->access_key);
        secret_free(s->secret_key);
        secret_free(s->session_token);
        free(s->ca_file);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

int s3_uploads_parse(const char *xml, size_t len, s3_upload_entry_fn cb, void *userdata, char *key_marker,
                     char *id_marker, size_t n) {
        char key[S3_KEY_MAX + 1], id[512], when[64];
        const char *v;
        size_t vl, pos = 0;
        int r;

        if (!xml || !key_marker || !id_marker || !n)
                return -EINVAL;
        key_marker[0] = id_marker[0] = '\0';
        if (!memmem(xml, len, "<ListMultipartUploadsResult", 27))
                return -EBADMSG;
        while (xml_next(xml, len, &pos, "Upload", &v, &vl)) {
                time_t t = 0;
                if (s3_xml_text(v, vl, "Key", key, sizeof(key)) != 1 || s3_xml_text(v, vl, "UploadId", id, sizeof(id)) != 1 ||
                    s3_xml_text(v, vl, "Initiated", when, sizeof(when)) != 1 || s3_time_parse(when, &t) < 0)
                        return -EBADMSG;
                if (cb)
                        cb(userdata, key, id, t);
        }
        r = is_truncated(xml, len);
        if (r < 0)
                return r;
        if (r == 1) {
                if (s3_xml_text(xml, len, "NextKeyMarker", key_marker, n) != 1 ||
                    s3_xml_text(xml, len, "NextUploadIdMarker", id_marker, n) != 1 || !key_marker[0])
                        return -EBADMSG;
        }
        return 0;
}

/* Digits only, no sign or space: 0 or -EBADMSG. */
static int decimal(const char *t, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (!*t)
                return -EBADMSG;
        for (; *t; t++) {
                if (*t < '0' || *t > '9' || v > (max - (uint64_t) (*t - '0')) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*t - '0');
        }
        *ret = v;
        return 0;
}

int s3_parts_parse(const char *xml, size_t len, s3_part_entry_fn cb, void *userdata, unsigned *ret_next) {
        char num[16], etag[128], sz[32];
        const char *v;
        size_t vl, pos = 0;
        uint64_t n, z;
        int r;

        if (!xml || !ret_next)
                return -EINVAL;
        *ret_next = 0;
        if (!memmem(xml, len, "<ListPartsResult", 16))
                return -EBADMSG;
        while (xml_next(xml, len, &pos, "Part", &v, &vl)) {
                if (s3_xml_text(v, vl, "PartNumber", num, sizeof(num)) != 1 ||
                    s3_xml_text(v, vl, "ETag", etag, sizeof(etag)) != 1 || s3_xml_text(v, vl, "Size", sz, sizeof(sz)) != 1 ||
                    decimal(num, S3_PARTS_MAX, &n) < 0 || n < 1 || decimal(sz, UINT64_MAX, &z) < 0)
                        return -EBADMSG;
                if (cb)
                        cb(userdata, (unsigned) n, etag, z);
        }
        r = is_truncated(xml, len);
        if (r < 0)
                return r;
        if (r == 1) {
                if (s3_xml_text(xml, len, "NextPartNumberMarker", num, sizeof(num)) != 1 ||
                    decimal(num, S3_PARTS_MAX, &n) < 0 || n < 1)
                        return -EBADMSG;
                *ret_next = (unsigned) n;
        }
        return 0;
}

static bool uuid_ok(const char *u);

/* Staged uploads seen under PREFIX/uploads/: per session uuid, its newest object
 * (the tail, rewritten by every request that adds bytes: the session's last
 * activity) and its objects. */
typedef struct {
        char uuid[37];
        time_t newest;
} staged_seen_t;

typedef struct {
        s3_t *s;
        time_t before;
        int aborted;
        size_t upfx_len;    /* strlen of "PREFIX/uploads/" */
        char upfx[S3_KEY_MAX];
        staged_seen_t *seen;
        size_t n_seen, cap_seen;
        char (*old)[S3_KEY_MAX]; /* objects of sessions idle past the age */
        size_t n_old, cap_old;
        int err;
} expiry_t;

/* The session uuid of a key under PREFIX/uploads/ (into uuid), or false. */
static bool staged_uuid_of(const expiry_t *x, const char *key, char uuid[37]) {
        if (strncmp(key, x->upfx, x->upfx_len) != 0 || strlen(key + x->upfx_len) < 37 || key[x->upfx_len + 36] != '/')
                return false;
        memcpy(uuid, key + x->upfx_len, 36);
        uuid[36] = '\0';
        return uuid_ok(uuid);
}

static staged_seen_t *seen_find(expiry_t *x, const char *uuid) {
        for (size_t i = 0; i < x->n_seen; i++)
                if (strcmp(x->seen[i].uuid, uuid) == 0)
                        return &x->seen[i];
        return NULL;
}

/* v (n of *cap elements of size bytes) with room for one more: v, or v grown (doubled,
 * 32 at first) and *cap with it, or NULL (v unchanged) when out of memory. */
static void *room_for_one(void *v, size_t n, size_t *cap, size_t size) {
        size_t nc;
        void *p;

        if (n < *cap)
                return v;
        nc = *cap ? *cap * 2 : 32;
        p = reallocarray(v, nc, size);
        if (p)
                *cap = nc;
        return p;
}

static void staged_object(void *ud, const char *key, uint64_t size, time_t mtime) {
        expiry_t *x = ud;
        staged_seen_t *e;
        void *p;
        char uuid[37];

        (void) size;
        if (x->err || !staged_uuid_of(x, key, uuid))
                return;
        if (!(e = seen_find(x, uuid))) {
                if (!(p = room_for_one(x->seen, x->n_seen, &x->cap_seen, sizeof(*x->seen)))) {
                        x->err = -ENOMEM;
                        return;
                }
                x->seen = p;
                e = &x->seen[x->n_seen++];
                memcpy(e->uuid, uuid, sizeof(e->uuid));
                e->newest = mtime;
        } else if (mtime > e->newest)
                e->newest = mtime;
        if (mtime < x->before) {
                if (!(p = room_for_one(x->old, x->n_old, &x->cap_old, sizeof(*x->old)))) {
                        x->err = -ENOMEM;
                        return;
                }
                x->old = p;
                (void) snprintf(x->old[x->n_old++], S3_KEY_MAX, "%s", key);
        }
}

static void expire_one(void *ud, const char *key, const char *upload_id, time_t initiated) {
        expiry_t *x = ud;
        char id_enc[1536], query[1600], uuid[37];
        staged_seen_t *e;

        if (initiated >= x->before || s3_uri_encode(upload_id, false, id_enc, sizeof(id_enc)) < 0)
                return;
        /* a staged upload whose session wrote recently is alive, however old its
         * multipart upload */
        if (staged_uuid_of(x, key, uuid) && (e = seen_find(x, uuid)) && e->newest >= x->before)
                return;
        (void) snprintf(query, sizeof(query), "uploadId=%s", id_enc);
        if (simple(x->s, "DELETE", key, query, NULL) >= 0)
                x->aborted++;
}

/* Abort the multipart uploads under the prefix initiated more than max_age seconds
 * before now (a berthd that died during a commit left them; their parts cost space
 * but are never visible). Returns how many. */
static int s3_expire_incomplete(blobstore_t *bs, uint64_t max_age, time_t now) {
        s3_t *s = S3(bs);
        char pfx[S3_KEY_MAX], pfx_enc[S3_KEY_MAX * 3], km[S3_KEY_MAX + 1] = "", im[S3_KEY_MAX + 1] = "";
        char km_enc[S3_KEY_MAX * 3 + 1], im_enc[S3_KEY_MAX * 3 + 1], query[S3_KEY_MAX * 10];
        expiry_t x = { .s = s, .before = now - (time_t) max_age };
        int r;

        (void) snprintf(pfx, sizeof(pfx), "%s%s", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "");
        /* staged uploads first: the objects of sessions idle past the age go (their
         * multipart uploads below), the others are kept with their uploads */
        if (snprintf(x.upfx, sizeof(x.upfx), "%s%suploads/", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "") >=
            (int) sizeof(x.upfx))
                return -ENAMETOOLONG;
        x.upfx_len = strlen(x.upfx);
        r = list_raw(s, x.upfx, staged_object, &x);
        if (r >= 0 && x.err < 0)
                r = x.err;
        for (size_t i = 0; r >= 0 && i < x.n_old; i++) {
                char uuid[37];
                staged_seen_t *e;
                if (staged_uuid_of(&x, x.old[i], uuid) && (e = seen_find(&x, uuid)) && e->newest < x.before &&
                    simple(s, "DELETE", x.old[i], NULL, NULL) >= 0)
                        x.aborted++;
        }
        free(x.old);
        if (r < 0) {
                free(x.seen);
                return r;
        }
        if (s3_uri_encode(pfx, false, pfx_enc, sizeof(pfx_enc)) < 0)
                return -ENAMETOOLONG;
        for (int page = 0; page < 1000; page++) {
                io_t io = { .fd = -1 };
                char nkm[sizeof(km)], nim[sizeof(km)];

                if (km[0]) {
                        if (s3_uri_encode(km, false, km_enc, sizeof(km_enc)) < 0 ||
                            s3_uri_encode(im, false, im_enc, sizeof(im_enc)) < 0)
                                return -ENAMETOOLONG;
                        (void) snprintf(query, sizeof(query), "key-marker=%s&prefix=%s&upload-id-marker=%s&uploads=",
                                        km_enc, pfx_enc, im_enc);
                } else
                        (void) snprintf(query, sizeof(query), "prefix=%s&uploads=", pfx_enc);
                r = request(s, &(req_t) { .method = "GET", .query = query }, &io, NULL, NULL);
                if (r >= 0)
                        r = s3_uploads_parse(io.xml.buf ? io.xml.buf : "", io.xml.len, expire_one, &x, nkm, nim,
                                             sizeof(nkm));
                free(io.xml.buf);
                if (r < 0) {
                        free(x.seen);
                        return r;
                }
                if (!nkm[0])
                        break;
                (void) snprintf(km, sizeof(km), "%s", nkm);
                (void) snprintf(im, sizeof(im), "%s", nim);
        }
        free(x.seen);
        return x.aborted;
}


/* ---- staged uploads: a chunked upload's bytes go up as they arrive, under
 * PREFIX/uploads/<uuid>/ (a multipart upload of "data", the tail as "tail-<gen>"),
 * and any process sharing the bucket continues it (storage/mpupload.c keeps the
 * state in the metadata store) ---- */

/* CopyObject copies up to 5 GiB; a larger object is copied by UploadPartCopy (a
 * test lowers the limit: s3_test_set_copy_max). */
#define S3_COPY_MAX (5ull << 30)
#define S3_COPY_PART (1ull << 30)
static uint64_t copy_max = S3_COPY_MAX;

void s3_test_set_copy_max(uint64_t max) {
        copy_max = max ? max : S3_COPY_MAX;
}

static bool uuid_ok(const char *u) {
        if (!u || strlen(u) != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (u[i] != '-')
                                return false;
                } else if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f')))
                        return false;
        }
        return true;
}

static int staged_key(const s3_t *s, const char *uuid, const char *leaf, uint64_t gen, char *ret, size_t n) {
        int k;

        if (!uuid_ok(uuid))
                return -EINVAL;
        if (strcmp(leaf, "tail") == 0)
                k = snprintf(ret, n, "%s%suploads/%s/tail-%" PRIu64, s->cfg.prefix, s->cfg.prefix[0] ? "/" : "", uuid,
                             gen);
        else
                k = snprintf(ret, n, "%s%suploads/%s/%s", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "", uuid, leaf);
        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 0;
}

/* CreateMultipartUpload on key: the id into ret_id. */
static int mpu_create(s3_t *s, const char *key, char *ret_id, size_t n) {
        io_t io = { .fd = -1 };
        int r = request(s, &(req_t) { .method = "POST", .key = key, .query = "uploads=" }, &io, NULL, NULL);

        if (r >= 0 && s3_xml_text(io.xml.buf, io.xml.len, "UploadId", ret_id, n) != 1)
                r = -EIO;
        free(io.xml.buf);
        return r;
}

/* CompleteMultipartUpload of key with the parts listed. */
static int mpu_complete(s3_t *s, const char *key, const char *id, const blobstore_part_t *parts, unsigned n) {
        char id_enc[1536], query[1600], hash[65];
        sbuf_t body = {};
        int r;

        if (s3_uri_encode(id, false, id_enc, sizeof(id_enc)) < 0)
                return -ENAMETOOLONG;
        sb_str(&body, "<CompleteMultipartUpload>");
        for (unsigned i = 0; i < n; i++) {
                char num[16];
                (void) snprintf(num, sizeof(num), "%u", parts[i].num);
                sb_str(&body, "<Part><PartNumber>");
                sb_str(&body, num);
                sb_str(&body, "</PartNumber><ETag>");
                sb_xml_escaped(&body, parts[i].etag);
                sb_str(&body, "</ETag></Part>");
        }
        sb_str(&body, "</CompleteMultipartUpload>");
        if (body.err) {
                free(body.buf);
                return -ENOMEM;
        }
        r = sha256_hex(body.buf, body.len, hash);
        if (r >= 0) {
                io_t cio = { .fd = -1, .mem = body.buf, .len = body.len };
                (void) snprintf(query, sizeof(query), "uploadId=%s", id_enc);
                r = request(s, &(req_t) { .method = "POST", .key = key, .query = query, .payload = hash }, &cio, NULL,
                            NULL);
                free(cio.xml.buf);
        }
        free(body.buf);
        return r;
}

static int mpu_abort(s3_t *s, const char *key, const char *id) {
        char id_enc[1536], query[1600];
        int r;

        if (s3_uri_encode(id, false, id_enc, sizeof(id_enc)) < 0)
                return -ENAMETOOLONG;
        (void) snprintf(query, sizeof(query), "uploadId=%s", id_enc);
        r = simple(s, "DELETE", key, query, NULL);
        return r == -ENOENT ? 0 : r;
}

/* Server-side copy of an object of size bytes larger than CopyObject takes: a
 * multipart upload of to whose parts are UploadPartCopy ranges of from. */
static int copy_parts(s3_t *s, const char *from, const char *to, uint64_t size) {
        char src[S3_KEY_MAX * 3 + S3_BUCKET_MAX + 4], id[512], id_enc[1536];
        uint64_t part = copy_max < S3_COPY_PART ? copy_max : S3_COPY_PART;
        blobstore_part_t *parts = NULL;
        unsigned n;
        int r;

        if (part < S3_PART_MIN)
                part = S3_PART_MIN;
        while ((size + part - 1) / part > S3_PARTS_MAX)
                part *= 2;
        n = (unsigned) ((size + part - 1) / part);
        if ((r = copy_source(s, from, src, sizeof(src))) < 0)
                return r;
        if (!(parts = calloc(n ? n : 1, sizeof(*parts))))
                return -ENOMEM;
        if ((r = mpu_create(s, to, id, sizeof(id))) < 0) {
                free(parts);
                return r;
        }
        if (s3_uri_encode(id, false, id_enc, sizeof(id_enc)) < 0)
                r = -ENAMETOOLONG;
        for (unsigned i = 0; r >= 0 && i < n; i++) {
                char query[1600], range[64];
                uint64_t off = (uint64_t) i * part, len = size - off < part ? size - off : part;
                io_t io = { .fd = -1 };

                (void) snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", i + 1, id_enc);
                (void) snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
                r = request(s, &(req_t) { .method = "PUT", .key = to, .query = query, .copy_from = src, .copy_range = range },
                            &io, NULL, NULL);
                /* UploadPartCopy names the part in its body */
                if (r >= 0 && s3_xml_text(io.xml.buf, io.xml.len, "ETag", parts[i].etag, sizeof(parts[i].etag)) != 1)
                        r = -EIO;
                free(io.xml.buf);
                parts[i].num = i + 1;
        }
        if (r >= 0)
                r = mpu_complete(s, to, id, parts, n);
        if (r < 0)
                (void) mpu_abort(s, to, id); /* nothing half-made stays (else: the expiry) */
        free(parts);
        return r;
}

static int s3_staged_begin(blobstore_t *bs, const char *uuid, char *ret_id, size_t n) {
        char key[S3_KEY_MAX];
        int r = staged_key(S3(bs), uuid, "data", 0, key, sizeof(key));

        return r < 0 ? r : mpu_create(S3(bs), key, ret_id, n);
}

/* Part num of the multipart upload id on key, from memory. */
static int part_put(s3_t *s, const char *key, const char *id, unsigned num, const void *buf, size_t len,
                    char *ret_etag, size_t n) {
        char id_enc[1536], query[1600];
        io_t io = { .fd = -1, .mem = buf, .len = len };
        int r;

        if (num < 1 || num > S3_PARTS_MAX || !ret_etag || n == 0)
                return -EINVAL;
        if (s3_uri_encode(id, false, id_enc, sizeof(id_enc)) < 0)
                return -ENAMETOOLONG;
        (void) snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", num, id_enc);
        r = request(s, &(req_t) { .method = "PUT", .key = key, .query = query }, &io, NULL, NULL);
        free(io.xml.buf);
        if (r >= 0 && (!io.etag[0] || strlen(io.etag) >= n))
                r = -EIO;
        if (r >= 0)
                memcpy(ret_etag, io.etag, strlen(io.etag) + 1);
        return r;
}

static int s3_staged_part(blobstore_t *bs, const char *uuid, const char *id, unsigned num, const void *buf,
                          size_t len, char *ret_etag, size_t n) {
        char key[S3_KEY_MAX];
        int r;

        if ((r = staged_key(S3(bs), uuid, "data", 0, key, sizeof(key))) < 0)
                return r;
        return part_put(S3(bs), key, id, num, buf, len, ret_etag, n);
}

/* ---- direct: a multipart upload under the blob's own key (its digest known before
 * its bytes), completed only once the caller has checked them ---- */

static int s3_direct_begin(blobstore_t *bs, const digest_t *d, char *ret_id, size_t n) {
        char key[S3_KEY_MAX];
        int r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key));

        return r < 0 ? r : mpu_create(S3(bs), key, ret_id, n);
}

static int s3_direct_part(blobstore_t *bs, const digest_t *d, const char *id, unsigned num, const void *buf,
                          size_t len, char *ret_etag, size_t n) {
        char key[S3_KEY_MAX];
        int r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key));

        return r < 0 ? r : part_put(S3(bs), key, id, num, buf, len, ret_etag, n);
}

static int s3_direct_complete(blobstore_t *bs, const digest_t *d, const char *id, const blobstore_part_t *parts,
                              unsigned n_parts) {
        char key[S3_KEY_MAX];
        int r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key));

        return r < 0 ? r : mpu_complete(S3(bs), key, id, parts, n_parts);
}

static int s3_direct_abort(blobstore_t *bs, const digest_t *d, const char *id) {
        char key[S3_KEY_MAX];
        int r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key));

        return r < 0 ? r : mpu_abort(S3(bs), key, id);
}

static int s3_staged_tail_put(blobstore_t *bs, const char *uuid, uint64_t gen, const void *buf, size_t len) {
        char key[S3_KEY_MAX];
        io_t io = { .fd = -1, .mem = buf, .len = len };
        int r;

        if ((r = staged_key(S3(bs), uuid, "tail", gen, key, sizeof(key))) < 0)
                return r;
        r = request(S3(bs), &(req_t) { .method = "PUT", .key = key }, &io, NULL, NULL);
        free(io.xml.buf);
        return r;
}

static int s3_staged_tail_get(blobstore_t *bs, const char *uuid, uint64_t gen, void *buf, size_t len) {
        char key[S3_KEY_MAX];
        io_t io = { .fd = -1, .out = buf, .out_cap = len };
        int r;

        if (len == 0)
                return 0;
        if ((r = staged_key(S3(bs), uuid, "tail", gen, key, sizeof(key))) < 0)
                return r;
        r = request(S3(bs), &(req_t) { .method = "GET", .key = key }, &io, NULL, NULL);
        free(io.xml.buf);
        if (r >= 0 && io.out_len != len)
                r = -EIO;
        return r;
}

static int s3_staged_tail_remove(blobstore_t *bs, const char *uuid, uint64_t gen) {
        char key[S3_KEY_MAX];
        int r;

        if ((r = staged_key(S3(bs), uuid, "tail", gen, key, sizeof(key))) < 0)
                return r;
        r = simple(S3(bs), "DELETE", key, NULL, NULL);
        return r == -ENOENT ? 0 : r;
}

typedef struct {
        blobstore_part_t *v;
        unsigned n, cap;
        bool nomem;
} part_list_t;

static void part_seen(void *ud, unsigned num, const char *etag, uint64_t size) {
        part_list_t *l = ud;

        (void) size;
        if (l->n == l->cap) {
                unsigned nc = l->cap ? l->cap * 2 : 64;
                void *p = nc <= S3_PARTS_MAX ? reallocarray(l->v, nc, sizeof(*l->v)) : NULL;
                if (!p) {
                        l->nomem = true;
                        return;
                }
                l->v = p;
                l->cap = nc;
        }
        l->v[l->n].num = num;
        (void) snprintf(l->v[l->n].etag, sizeof(l->v[0].etag), "%s", etag);
        l->n++;
}

/* Every part the multipart upload id on key holds (ListParts, page by page). */
static int parts_list(s3_t *s, const char *key, const char *id, part_list_t *l) {
        char id_enc[1536], query[1700];
        unsigned marker = 0;
        int r;

        if (s3_uri_encode(id, false, id_enc, sizeof(id_enc)) < 0)
                return -ENAMETOOLONG;
        do {
                io_t io = { .fd = -1 };
                unsigned next = 0;
                if (marker)
                        (void) snprintf(query, sizeof(query), "part-number-marker=%u&uploadId=%s", marker, id_enc);
                else
                        (void) snprintf(query, sizeof(query), "uploadId=%s", id_enc);
                r = request(s, &(req_t) { .method = "GET", .key = key, .query = query }, &io, NULL, NULL);
                if (r >= 0)
                        r = s3_parts_parse(io.xml.buf ? io.xml.buf : "", io.xml.len, part_seen, l, &next);
                free(io.xml.buf);
                if (r >= 0 && l->nomem)
                        r = -ENOMEM;
                if (r >= 0 && next && next <= marker)
                        r = -EBADMSG; /* a listing that does not move on */
                marker = next;
        } while (r >= 0 && marker);
        return r;
}

static int s3_staged_complete(blobstore_t *bs, const char *uuid, const char *id, const blobstore_part_t *parts,
                              unsigned n_parts) {
        s3_t *s = S3(bs);
        char key[S3_KEY_MAX];
        part_list_t l = { .v = NULL };
        unsigned last = n_parts ? parts[n_parts - 1].num : 0;
        int r;

        if ((r = staged_key(s, uuid, "data", 0, key, sizeof(key))) < 0)
                return r;
        r = mpu_complete(s, key, id, parts, n_parts);
        if (r != -EIO)
                return r;
        /* Refused: a request that failed may have left parts past the session's last
         * (their numbers are sent again only by a request that gets that far). Some
         * stores (Ceph RGW) refuse a completion that leaves any part out, so those
         * are listed too: the temporary object then holds bytes past the blob, which
         * staged_promote leaves behind (it copies the blob's size only). The given
         * parts must be the upload's own, in front. */
        r = parts_list(s, key, id, &l);
        if (r >= 0) {
                unsigned i = 0, j = 0;
                for (; r >= 0 && i < n_parts; i++, j++)
                        if (j >= l.n || l.v[j].num != parts[i].num || strcmp(l.v[j].etag, parts[i].etag) != 0)
                                r = -EIO; /* not the session's parts: refused rightly */
                if (r >= 0 && (j == l.n || l.v[j].num <= last))
                        r = -EIO; /* nothing left out: the refusal was another */
                if (r >= 0)
                        r = mpu_complete(s, key, id, l.v, l.n);
        }
        free(l.v);
        return r;
}

static int s3_staged_read(blobstore_t *bs, const char *uuid, uint64_t off, void *buf, size_t len, size_t *ret_n) {
        char key[S3_KEY_MAX], range[64];
        io_t io = { .fd = -1, .out = buf, .out_cap = len };
        int r;

        *ret_n = 0;
        if (len == 0)
                return 0;
        if ((r = staged_key(S3(bs), uuid, "data", 0, key, sizeof(key))) < 0)
                return r;
        (void) snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
        r = request(S3(bs), &(req_t) { .method = "GET", .key = key, .range = range }, &io, NULL, NULL);
        free(io.xml.buf);
        if (r == -ERANGE)
                return 0;
        if (r >= 0)
                *ret_n = io.out_len;
        return r;
}

static int s3_staged_promote(blobstore_t *bs, const char *uuid, const digest_t *d, uint64_t size) {
        s3_t *s = S3(bs);
        char from[S3_KEY_MAX], to[S3_KEY_MAX];
        uint64_t len = 0;
        int r;

        if ((r = staged_key(s, uuid, "data", 0, from, sizeof(from))) < 0 ||
            (r = blob_key(s, "blobs", d, NULL, to, sizeof(to))) < 0)
                return r;
        r = head(s, to, NULL);
        if (r != 0)
                return r < 0 ? r : 0; /* present already */
        /* the temporary object: a completion may have left bytes past the blob */
        r = head(s, from, &len);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        if (len < size)
                return -EIO;
        /* a copy is atomic: the key names the whole blob or nothing (the temporary
         * object stays for staged_abort) */
        return size > copy_max || len != size ? copy_parts(s, from, to, size) : copy_object(s, from, to);
}

static int s3_staged_abort(blobstore_t *bs, const char *uuid, const char *id) {
        s3_t *s = S3(bs);
        char key[S3_KEY_MAX];
        int r;

        if ((r = staged_key(s, uuid, "data", 0, key, sizeof(key))) < 0)
                return r;
        if (id && id[0] && (r = mpu_abort(s, key, id)) < 0)
                return r;
        r = simple(s, "DELETE", key, NULL, NULL);
        return r == -ENOENT ? 0 : r;
}

static int s3_put(blobstore_t *bs, const digest_t *d, const void *buf, size_t len) {
        char key[S3_KEY_MAX];
        io_t io = { .fd = -1, .mem = buf, .len = len };
        int r;

        if ((r = blob_key(S3(bs), "blobs", d, NULL, key, sizeof(key))) < 0)
                return r;
        /* the digest as the payload hash: the store checks the bytes too */
        r = request(S3(bs), &(req_t) { .method = "PUT", .key = key, .payload = d->alg == DIGEST_SHA256 ? digest_hex(d) : NULL },
                    &io, NULL, NULL);
        free(io.xml.buf);
        return r;
}

static const blobstore_ops_t s3_ops = {
        .expire_incomplete = s3_expire_incomplete,
        .name = "s3",
        .stat = s3_stat,
        .open_fd = NULL,
        .read = s3_read,
        .read_stream = s3_read_stream,
        .commit_file = s3_commit_file,
        .remove = s3_remove,
        .list = s3_list,
        .quarantine = s3_quarantine,
        .presign = s3_presign_blob,
        .trash = s3_trash,
        .untrash = s3_untrash,
        .trash_purge = s3_trash_purge,
        .trash_list = s3_trash_list,
        .staged_begin = s3_staged_begin,
        .staged_part = s3_staged_part,
        .staged_tail_put = s3_staged_tail_put,
        .staged_tail_get = s3_staged_tail_get,
        .staged_tail_remove = s3_staged_tail_remove,
        .staged_complete = s3_staged_complete,
        .staged_read = s3_staged_read,
        .staged_promote = s3_staged_promote,
        .staged_abort = s3_staged_abort,
        .put = s3_put,
        .direct_begin = s3_direct_begin,
        .direct_part = s3_direct_part,
        .direct_complete = s3_direct_complete,
        .direct_abort = s3_direct_abort,
        .free = s3_free,
};

/* The credentials file: "name = value" lines. */
static int creds_file(const char *path, char **ret_ak, char **ret_sk, char **ret_tok, const char **detail) {
        _cleanup_(fclosep) FILE *f = NULL;
        struct stat st;
        char line[2048];

        f = fopen(path, "re");
        if (!f) {
                *detail = "cannot open BERTH_S3_CREDENTIALS_FILE";
                return -errno;
        }
        if (fstat(fileno(f), &st) < 0)
                return -errno;
        if (st.st_mode & 077) {
                *detail = "BERTH_S3_CREDENTIALS_FILE is readable by others (chmod 600)";
                return -EACCES;
        }
        while (fgets(line, sizeof(line), f)) {
                char *k = line, *eq = strchr(line, '='), *v, *e;
                char **dst = NULL;

                if (!eq || line[0] == '#' || line[0] == '[')
                        continue;
                *eq = '\0';
                v = eq + 1;
                while (*k == ' ' || *k == '\t')
                        k++;
                for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
                        e[-1] = '\0';
                while (*v == ' ' || *v == '\t')
                        v++;
                for (e = v + strlen(v); e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'); e--)
                        e[-1] = '\0';
                if (!strcmp(k, "access_key_id") || !strcmp(k, "aws_access_key_id"))
                        dst = ret_ak;
                else if (!strcmp(k, "secret_access_key") || !strcmp(k, "aws_secret_access_key"))
                        dst = ret_sk;
                else if (!strcmp(k, "session_token") || !strcmp(k, "aws_session_token"))
                        dst = ret_tok;
                if (dst && *v) {
                        secret_free(*dst);
                        *dst = strdup(v);
                        if (!*dst)
                                return -ENOMEM;
                }
        }
        OPENSSL_cleanse(line, sizeof(line));
        return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
        (void) curl_global_init(CURL_GLOBAL_DEFAULT);
}

int s3_blobstore_open(const char *url, const char *ca_file, blobstore_t **ret, const char **reterr_detail) {
        const char *detail = NULL, *cf;
        s3_t *s;
        int r;

        if (!url || !ret)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->base.ops = &s3_ops;
        pthread_mutex_init(&s->lock, NULL);
        r = s3_url_parse(url, &s->cfg, &detail);
        if (r < 0)
                goto fail;
        cf = getenv("BERTH_S3_CREDENTIALS_FILE");
        if (cf && *cf) {
                r = creds_file(cf, &s->access_key, &s->secret_key, &s->session_token, &detail);
                if (r < 0)
                        goto fail;
        } else {
                const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY"),
                           *tok = getenv("AWS_SESSION_TOKEN");
                if (ak && *ak && !(s->access_key = strdup(ak)))
                        goto nomem;
                if (sk && *sk && !(s->secret_key = strdup(sk)))
                        goto nomem;
                if (tok && *tok && !(s->session_token = strdup(tok)))
                        goto nomem;
        }
        if (!s->access_key || !s->secret_key) {
                detail = "no S3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or BERTH_S3_CREDENTIALS_FILE)";
                r = -EACCES;
                goto fail;
        }
        if (ca_file && *ca_file && !(s->ca_file = strdup(ca_file)))
                goto nomem;
        if (s->cfg.path_style) {
                (void) snprintf(s->sign_host, sizeof(s->sign_host), "%s", s->cfg.host);
                (void) snprintf(s->path_base, sizeof(s->path_base), "/%s", s->cfg.bucket);
        } else
                (void) snprintf(s->sign_host, sizeof(s->sign_host), "%s.%s", s->cfg.bucket, s->cfg.host);
        (void) snprintf(s->base_url, sizeof(s->base_url), "%s://%s%s", s->cfg.https ? "https" : "http", s->sign_host,
                        s->path_base);
        (void) pthread_once(&curl_once, curl_init_once);
        *ret = &s->base;
        return 0;
nomem:
        r = -ENOMEM;
fail:
        if (reterr_detail)
                *reterr_detail = detail;
        s3_free(&s->base);
        return r;
}
