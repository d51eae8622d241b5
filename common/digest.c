/* common/digest.c: digest strings and incremental hashing over OpenSSL EVP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "common/digest.h"
#include "common/err.h"

struct digest_ctx {
        digest_alg_t alg;
        uint64_t bytes;
        EVP_MD_CTX *md;
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

        if (!c)
                return -ENOMEM;
        c->alg = alg;
        c->md = EVP_MD_CTX_new();
        if (!c->md || EVP_DigestInit_ex(c->md, alg_md(alg), NULL) != 1) {
                digest_ctx_free(c);
                return BERTH_ECRYPTO;
        }
        *ret = c;
        return 0;
}

int digest_ctx_update(digest_ctx_t *c, const void *buf, size_t len) {
        if (len == 0)
                return 0;
        if (EVP_DigestUpdate(c->md, buf, len) != 1)
                return BERTH_ECRYPTO;
        c->bytes += len;
        return 0;
}

int digest_ctx_peek(const digest_ctx_t *c, digest_t *ret) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_MD_CTX *copy = EVP_MD_CTX_new();
        int r = BERTH_ECRYPTO;

        if (!copy)
                return -ENOMEM;
        if (EVP_MD_CTX_copy_ex(copy, c->md) == 1 && EVP_DigestFinal_ex(copy, md, &mdlen) == 1) {
                format_md(c->alg, md, mdlen, ret);
                r = 0;
        }
        EVP_MD_CTX_free(copy);
        return r;
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
        EVP_MD_CTX_free(c->md);
        free(c);
        return NULL;
}
