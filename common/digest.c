/* common/digest.c: digest strings and hashing with OpenSSL. The incremental contexts
 * use OpenSSL's SHA-256/SHA-512 state structures (the same code as EVP's) rather than
 * EVP_MD_CTX, because their state can be written out and read back
 * (digest_ctx_export): an upload continued by another process (S3 sessions) resumes
 * its running hash instead of re-reading bytes it no longer has. */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co.: deprecated, not going away in 3.x */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "common/digest.h"
#include "common/err.h"

struct digest_ctx {
        digest_alg_t alg;
        uint64_t bytes;
        union {
                SHA256_CTX s256;
                SHA512_CTX s512;
        } u;
};

static const EVP_MD *alg_md(digest_alg_t alg) {
        return alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

const char *digest_alg_name(digest_alg_t alg) {
        return alg == DIGEST_SHA512 ? "sha512" : "sha256";
}

size_t digest_alg_hex_len(digest_alg_t alg) {
        return alg == DIGEST_SHA512 ? 128 : 64;
}

bool digest_ref_is_digest(const char *ref) {
        return ref && strchr(ref, ':') != NULL;
}

int digest_alg_parse(const char *name, digest_alg_t *ret) {
        if (!name)
                return BERTH_EDIGEST_INVALID;
        if (strcmp(name, "sha256") == 0)
                *ret = DIGEST_SHA256;
        else if (strcmp(name, "sha512") == 0)
                *ret = DIGEST_SHA512;
        else
                return BERTH_EDIGEST_INVALID;
        return 0;
}

int digest_parse_n(const char *s, size_t len, digest_t *ret) {
        digest_alg_t alg;
        size_t hexlen;

        if (!s)
                return BERTH_EDIGEST_INVALID;
        if (len > 7 && memcmp(s, "sha256:", 7) == 0)
                alg = DIGEST_SHA256;
        else if (len > 7 && memcmp(s, "sha512:", 7) == 0)
                alg = DIGEST_SHA512;
        else
                return BERTH_EDIGEST_INVALID;
        hexlen = digest_alg_hex_len(alg);
        if (len != 7 + hexlen)
                return BERTH_EDIGEST_INVALID;
        for (size_t i = 7; i < len; i++) {
                char c = s[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return BERTH_EDIGEST_INVALID;
        }
        ret->alg = alg;
        memcpy(ret->str, s, len);
        ret->str[len] = '\0';
        return 0;
}

int digest_parse(const char *s, digest_t *ret) {
        if (!s)
                return BERTH_EDIGEST_INVALID;
        return digest_parse_n(s, strnlen(s, DIGEST_STR_MAX + 1), ret);
}

const char *digest_hex(const digest_t *d) {
        return d->str + 7;
}

bool digest_equal(const digest_t *a, const digest_t *b) {
        return a->alg == b->alg && strcmp(a->str, b->str) == 0;
}

int digest_rel_path(const digest_t *d, char *buf, size_t n) {
        const char *hex = digest_hex(d);
        int r = snprintf(buf, n, "%s/%c%c/%s", digest_alg_name(d->alg), hex[0], hex[1], hex);
        if (r < 0 || (size_t) r >= n)
                return -ENAMETOOLONG;
        return 0;
}

static void format_md(digest_alg_t alg, const unsigned char *md, unsigned len, digest_t *ret) {
        static const char hexd[] = "0123456789abcdef";
        char *p;

        ret->alg = alg;
        memcpy(ret->str, digest_alg_name(alg), 6);
        ret->str[6] = ':';
        p = ret->str + 7;
        for (unsigned i = 0; i < len; i++) {
                *p++ = hexd[md[i] >> 4];
                *p++ = hexd[md[i] & 15];
        }
        *p = '\0';
}

int digest_buf(digest_alg_t alg, const void *buf, size_t len, digest_t *ret) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;

        if (EVP_Digest(buf, len, md, &mdlen, alg_md(alg), NULL) != 1)
                return BERTH_ECRYPTO;
        format_md(alg, md, mdlen, ret);
        return 0;
}

int digest_ctx_new(digest_alg_t alg, digest_ctx_t **ret) {
        digest_ctx_t *c = calloc(1, sizeof(*c));
        int ok;

        if (!c)
                return -ENOMEM;
        c->alg = alg;
        ok = alg == DIGEST_SHA512 ? SHA512_Init(&c->u.s512) : SHA256_Init(&c->u.s256);
        if (ok != 1) {
                digest_ctx_free(c);
                return BERTH_ECRYPTO;
        }
        *ret = c;
        return 0;
}

int digest_ctx_update(digest_ctx_t *c, const void *buf, size_t len) {
        int ok;

        if (len == 0)
                return 0;
        ok = c->alg == DIGEST_SHA512 ? SHA512_Update(&c->u.s512, buf, len) : SHA256_Update(&c->u.s256, buf, len);
        if (ok != 1)
                return BERTH_ECRYPTO;
        c->bytes += len;
        return 0;
}

int digest_ctx_peek(const digest_ctx_t *c, digest_t *ret) {
        unsigned char md[SHA512_DIGEST_LENGTH];
        digest_ctx_t copy = *c; /* plain data: finalizing a copy leaves c running */
        int ok;

        if (c->alg == DIGEST_SHA512)
                ok = SHA512_Final(md, &copy.u.s512);
        else
                ok = SHA256_Final(md, &copy.u.s256);
        OPENSSL_cleanse(&copy, sizeof(copy));
        if (ok != 1)
                return BERTH_ECRYPTO;
        format_md(c->alg, md, c->alg == DIGEST_SHA512 ? SHA512_DIGEST_LENGTH : SHA256_DIGEST_LENGTH, ret);
        return 0;
}

/* "BDS1", the algorithm, the state's size, the bytes hashed, the state. */
#define EXPORT_MAGIC "BDS1"
#define EXPORT_HEAD (4 + 1 + 4 + 8)

size_t digest_ctx_export(const digest_ctx_t *c, uint8_t *buf, size_t n) {
        uint32_t sz = c->alg == DIGEST_SHA512 ? (uint32_t) sizeof(SHA512_CTX) : (uint32_t) sizeof(SHA256_CTX);

        if (!buf)
                return EXPORT_HEAD + sz;
        if (n < EXPORT_HEAD + sz)
                return 0;
        memcpy(buf, EXPORT_MAGIC, 4);
        buf[4] = (uint8_t) c->alg;
        memcpy(buf + 5, &sz, 4);
        memcpy(buf + 9, &c->bytes, 8);
        memcpy(buf + EXPORT_HEAD, &c->u, sz);
        return EXPORT_HEAD + sz;
}

int digest_ctx_import(const uint8_t *buf, size_t n, digest_ctx_t **ret) {
        digest_ctx_t *c;
        uint32_t sz;
        uint64_t bytes;

        if (!buf || n < EXPORT_HEAD || memcmp(buf, EXPORT_MAGIC, 4) != 0 ||
            (buf[4] != DIGEST_SHA256 && buf[4] != DIGEST_SHA512))
                return -EINVAL;
        memcpy(&sz, buf + 5, 4);
        memcpy(&bytes, buf + 9, 8);
        if (sz != (buf[4] == DIGEST_SHA512 ? sizeof(SHA512_CTX) : sizeof(SHA256_CTX)) || n != EXPORT_HEAD + sz)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->alg = buf[4];
        c->bytes = bytes;
        memcpy(&c->u, buf + EXPORT_HEAD, sz);
        /* a state another build or machine wrote is refused, not trusted: the counts
         * it carries must agree with the bytes it claims */
        if (c->alg == DIGEST_SHA512 ? (c->u.s512.num >= SHA512_CBLOCK || c->u.s512.Nl != bytes * 8 ||
                                       c->u.s512.md_len != SHA512_DIGEST_LENGTH)
                                    : (c->u.s256.num >= SHA256_CBLOCK ||
                                       ((uint64_t) c->u.s256.Nh << 32 | c->u.s256.Nl) != bytes * 8 ||
                                       c->u.s256.md_len != SHA256_DIGEST_LENGTH)) {
                digest_ctx_free(c);
                return -EINVAL;
        }
        *ret = c;
        return 0;
}

digest_alg_t digest_ctx_alg(const digest_ctx_t *c) {
        return c->alg;
}

uint64_t digest_ctx_bytes(const digest_ctx_t *c) {
        return c->bytes;
}

digest_ctx_t *digest_ctx_free(digest_ctx_t *c) {
        if (!c)
                return NULL;
        OPENSSL_cleanse(c, sizeof(*c));
        free(c);
        return NULL;
}
