/* common/digest.h: content digests ("sha256:<64 hex>", "sha512:<128 hex>") and
 * incremental hashing over OpenSSL EVP. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_HEX_MAX 128
#define DIGEST_STR_MAX (7 + DIGEST_HEX_MAX + 1) /* "sha512:" + hex + NUL */
/* "sha512/ab/<128 hex>" + NUL */
#define DIGEST_PATH_MAX (7 + 3 + DIGEST_HEX_MAX + 1)

typedef enum {
        DIGEST_SHA256 = 0,
        DIGEST_SHA512 = 1,
} digest_alg_t;

/* A value type: copy it freely. str is always "alg:hex", lowercase, NUL-terminated. */
typedef struct {
        digest_alg_t alg;
        char str[DIGEST_STR_MAX];
} digest_t;

/* Parse "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>".
 * 0, or BERTH_EDIGEST_INVALID (*ret untouched). Other algorithms are invalid. */
int digest_parse(const char *s, digest_t *ret);
int digest_parse_n(const char *s, size_t len, digest_t *ret);
/* Does a manifest reference (the last segment of /v2/<name>/manifests/<reference>)
 * name a digest rather than a tag? A tag never holds ':' (name grammar), a digest
 * always does: then it is one, valid or not (digest_parse decides). */
bool digest_ref_is_digest(const char *ref);
/* "sha256" / "sha512" → 0 and *ret; BERTH_EDIGEST_INVALID otherwise */
int digest_alg_parse(const char *name, digest_alg_t *ret);
const char *digest_alg_name(digest_alg_t alg);
size_t digest_alg_hex_len(digest_alg_t alg);

/* Borrowed pointer into d->str, after the colon. */
const char *digest_hex(const digest_t *d);
bool digest_equal(const digest_t *a, const digest_t *b);
/* "sha256/ab/abcdef…" relative path of the blob; 0 or -ENAMETOOLONG */
int digest_rel_path(const digest_t *d, char *buf, size_t n);

/* One-shot hash of a buffer. */
int digest_buf(digest_alg_t alg, const void *buf, size_t len, digest_t *ret);

/* Incremental hashing; a context can be duplicated to peek at a running digest. */
typedef struct digest_ctx digest_ctx_t;
int digest_ctx_new(digest_alg_t alg, digest_ctx_t **ret);
int digest_ctx_update(digest_ctx_t *c, const void *buf, size_t len);
/* Final digest of everything fed so far; the context stays usable (it finalizes a copy). */
int digest_ctx_peek(const digest_ctx_t *c, digest_t *ret);
digest_alg_t digest_ctx_alg(const digest_ctx_t *c);
uint64_t digest_ctx_bytes(const digest_ctx_t *c);
digest_ctx_t *digest_ctx_free(digest_ctx_t *c); /* NULL-safe, returns NULL */
/* The running state written out (buf NULL: the size it needs): the bytes written, 0
 * when n is too small. Read back by digest_ctx_import, by the same build on the same
 * kind of machine; -EINVAL for anything else. */
size_t digest_ctx_export(const digest_ctx_t *c, uint8_t *buf, size_t n);
int digest_ctx_import(const uint8_t *buf, size_t n, digest_ctx_t **ret);
