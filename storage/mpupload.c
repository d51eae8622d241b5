/* storage/mpupload.c: chunked uploads on a driver with staged uploads (see
 * mpupload.h for the protocol and why the hash state travels with the row). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "common/base64.h"
#include "common/err.h"
#include "common/macro.h"
#include "storage/mpupload.h"
#include "storage/store-internal.h"

struct mpupload {
        store_t *store;
        blobstore_t *bs;
        meta_t *meta;
        meta_upsession_t row;   /* as saved; row.size etc. move only at a save */
        char holder[33];        /* this request's lease token */
        uint64_t size;          /* bytes received, this request's included */
        digest_ctx_t *ctx;      /* NULL: the state was lost (re-read at the commit) */
        char *buf;              /* the part being gathered (the tail first) */
        size_t buf_len;
        blobstore_part_t *parts; /* the saved ones, then this request's */
        unsigned n_parts, n_saved, cap_parts;
        char upload_id[512];
        bool gone;              /* committed or removed */
        int err;                /* first failure of this request: nothing more is taken */
};

bool mpupload_offered(const store_t *s) {
        return s && s->bs->ops->staged_begin && s->bs->ops->put;
}

static int64_t now_of(const mpupload_t *u) {
        return (int64_t) store__now(u->store);
}

/* ---- the row's text forms ---- */

/* The hash state of the row, or NULL (lost, or not this build's). */
static digest_ctx_t *state_import(const char *text, digest_alg_t alg, uint64_t size) {
        _cleanup_free_ uint8_t *b = NULL;
        digest_ctx_t *c = NULL;
        size_t n;
        long len;

        if (!text || !(b = malloc((n = strlen(text)) / 4 * 3 + 3)) ||
            (len = base64_decode(BASE64_STD, text, n, b, n / 4 * 3 + 3)) <= 0)
                return NULL;
        if (digest_ctx_import(b, (size_t) len, &c) < 0)
                return NULL;
        if (digest_ctx_alg(c) != alg || digest_ctx_bytes(c) != size)
                return digest_ctx_free(c); /* not this session's */
        return c;
}

static char *state_export(const digest_ctx_t *c) {
        _cleanup_free_ uint8_t *b = NULL;
        size_t n;

        if (!c || !(n = digest_ctx_export(c, NULL, 0)) || !(b = malloc(n)) || digest_ctx_export(c, b, n) != n)
                return NULL;
        return base64_encode_alloc(BASE64_STD, b, n);
}

static int parts_add(mpupload_t *u, unsigned num, const char *etag) {
        if (u->n_parts == u->cap_parts) {
                unsigned nc = u->cap_parts ? u->cap_parts * 2 : 16;
                void *p = reallocarray(u->parts, nc, sizeof(*u->parts));
                if (!p)
                        return -ENOMEM;
                u->parts = p;
                u->cap_parts = nc;
        }
        u->parts[u->n_parts].num = num;
        if (snprintf(u->parts[u->n_parts].etag, sizeof(u->parts[0].etag), "%s", etag) >= (int) sizeof(u->parts[0].etag))
                return -EIO;
        u->n_parts++;
        return 0;
}

/* "number etag" lines, in order from 1. */
static int parts_parse(mpupload_t *u, const char *text) {
        const char *p = text;

        while (*p) {
                char etag[128];
                unsigned num;
                int k = 0;
                if (sscanf(p, "%u %127s%n", &num, etag, &k) != 2 || k <= 0 || num != u->n_parts + 1)
                        return BERTH_EDB;
                if (parts_add(u, num, etag) < 0)
                        return -ENOMEM;
                p += k;
                while (*p == '\n')
                        p++;
        }
        return 0;
}

static char *parts_text(const mpupload_t *u) {
        size_t cap = (size_t) u->n_parts * (sizeof(u->parts[0].etag) + 16) + 1, len = 0;
        char *s = malloc(cap);

        if (!s)
                return NULL;
        s[0] = '\0';
        for (unsigned i = 0; i < u->n_parts; i++)
                len += (size_t) snprintf(s + len, cap - len, "%u %s\n", u->parts[i].num, u->parts[i].etag);
        return s;
}

/* ---- sessions ---- */

int mpupload_create(store_t *s, meta_t *m, const char *repo, digest_alg_t alg, char ret_uuid[UPLOAD_UUID_LEN + 1]) {
        int r;

        if (!mpupload_offered(s) || !m || !repo)
                return -EINVAL;
        r = store__uuid_new(ret_uuid);
        return r < 0 ? r : meta_upsession_add(m, ret_uuid, repo, alg);
}

int mpupload_committed(meta_t *m, const char *uuid, uint64_t *ret_size) {
        meta_upsession_t row;
        int r;

        if (!store__uuid_valid(uuid))
                return -ENOENT;
        r = meta_upsession_get(m, uuid, &row);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        *ret_size = row.size;
        meta_upsession_clear(&row);
        return 0;
}

uint64_t mpupload_size(const mpupload_t *u) {
        return u ? u->size : 0;
}

static void mp_free(mpupload_t *u) {
        meta_upsession_clear(&u->row);
        digest_ctx_free(u->ctx);
        free(u->buf);
        free(u->parts);
        free(u);
}

int mpupload_acquire(store_t *s, meta_t *m, const char *uuid, mpupload_t **ret) {
        uint8_t tok[16];
        mpupload_t *u;
        int64_t now;
        int r;

        if (!mpupload_offered(s) || !m || !ret)
                return -EINVAL;
        if (!store__uuid_valid(uuid))
                return -ENOENT; /* never let it near a key */
        if (!(u = calloc(1, sizeof(*u))))
                return -ENOMEM;
        u->store = s;
        u->bs = s->bs;
        u->meta = m;
        if (getrandom(tok, sizeof(tok), 0) != (ssize_t) sizeof(tok)) {
                free(u);
                return -EIO;
        }
        for (size_t i = 0; i < sizeof(tok); i++)
                (void) snprintf(u->holder + 2 * i, 3, "%02x", tok[i]);
        now = now_of(u);
        r = meta_upsession_take(m, uuid, u->holder, now, now + MPUPLOAD_LEASE_SEC, &u->row);
        if (r <= 0) {
                free(u);
                return r < 0 ? r : -ENOENT;
        }
        /* from here on the lease is ours: mpupload_release gives it back */
        u->size = u->row.size;
        (void) snprintf(u->upload_id, sizeof(u->upload_id), "%s", u->row.upload_id);
        r = parts_parse(u, u->row.parts);
        u->n_saved = u->n_parts;
        if (r >= 0 && u->row.tail_size >= MPUPLOAD_PART)
                r = BERTH_EDB;
        if (r >= 0 && !(u->buf = malloc(MPUPLOAD_PART)))
                r = -ENOMEM;
        if (r >= 0 && u->row.tail_size) {
                r = u->bs->ops->staged_tail_get(u->bs, uuid, u->row.tail_gen, u->buf, (size_t) u->row.tail_size);
                u->buf_len = (size_t) u->row.tail_size;
        }
        if (r >= 0) {
                u->ctx = state_import(u->row.hash, u->row.alg, u->size);
                if (!u->ctx && u->size == 0)
                        r = digest_ctx_new(u->row.alg, &u->ctx);
        }
        if (r < 0) {
                mpupload_release(u);
                return r;
        }
        *ret = u;
        return 0;
}

void mpupload_release(mpupload_t *u) {
        if (!u)
                return;
        if (!u->gone)
                (void) meta_upsession_release(u->meta, u->row.uuid, u->holder);
        mp_free(u);
}

/* Send buf[0, len) as the next part (the multipart upload begun on first use). */
static int send_part(mpupload_t *u, size_t len) {
        char etag[128];
        int64_t now;
        int r;

        if (u->n_parts >= 10000)
                return -EFBIG;
        if (!u->upload_id[0]) {
                r = u->bs->ops->staged_begin(u->bs, u->row.uuid, u->upload_id, sizeof(u->upload_id));
                if (r < 0) {
                        u->upload_id[0] = '\0';
                        return r;
                }
        }
        r = u->bs->ops->staged_part(u->bs, u->row.uuid, u->upload_id, u->n_parts + 1, u->buf, len, etag, sizeof(etag));
        if (r < 0)
                return r;
        r = parts_add(u, u->n_parts + 1, etag);
        if (r < 0)
                return r;
        /* the hold lasts while parts keep going */
        now = now_of(u);
        {
                meta_upsession_t tmp;
                r = meta_upsession_take(u->meta, u->row.uuid, u->holder, now, now + MPUPLOAD_LEASE_SEC, &tmp);
                if (r == 1)
                        meta_upsession_clear(&tmp);
                if (r == 0)
                        return -ENOENT; /* expired or cancelled meanwhile */
        }
        return r < 0 ? r : 0;
}

int mpupload_write(mpupload_t *u, const void *buf, size_t len) {
        const char *p = buf;
        int r;

        if (!u || (!buf && len))
                return -EINVAL;
        if (u->gone)
                return -ENOENT;
        if (u->err)
                return u->err;
        if (u->ctx && (r = digest_ctx_update(u->ctx, buf, len)) < 0)
                u->ctx = digest_ctx_free(u->ctx); /* lost: re-read at the commit */
        while (len > 0) {
                size_t n = MPUPLOAD_PART - u->buf_len < len ? MPUPLOAD_PART - u->buf_len : len;
                memcpy(u->buf + u->buf_len, p, n);
                u->buf_len += n;
                u->size += n;
                p += n;
                len -= n;
                if (u->buf_len == MPUPLOAD_PART) {
                        r = send_part(u, u->buf_len);
                        if (r < 0)
                                return u->err = r;
                        u->buf_len = 0;
                }
        }
        return 0;
}

int mpupload_save(mpupload_t *u) {
        meta_upsession_t row;
        uint64_t old_gen;
        int64_t now;
        int r;

        if (!u)
                return -EINVAL;
        if (u->gone)
                return -ENOENT;
        if (u->err)
                return u->err;
        if (u->buf_len >= MPUPLOAD_PART_MIN) {
                r = send_part(u, u->buf_len);
                if (r < 0)
                        return u->err = r;
                u->buf_len = 0;
        }
        /* the tail under a new generation, written every time: the row names the
         * old one until it is saved, and the object's time is the session's last
         * activity (the driver's expiry of sessions whose row is gone goes by it) */
        old_gen = u->row.tail_gen;
        r = u->bs->ops->staged_tail_put(u->bs, u->row.uuid, old_gen + 1, u->buf, u->buf_len);
        if (r < 0)
                return u->err = r;
        row = u->row;
        row.size = u->size;
        row.upload_id = u->upload_id;
        row.parts = parts_text(u);
        row.tail_gen = old_gen + 1;
        row.tail_size = u->buf_len;
        row.hash = state_export(u->ctx);
        now = now_of(u);
        r = row.parts ? meta_upsession_save(u->meta, &row, u->holder, now, now + MPUPLOAD_LEASE_SEC) : -ENOMEM;
        free(row.parts);
        if (r < 0) {
                free(row.hash);
                (void) u->bs->ops->staged_tail_remove(u->bs, u->row.uuid, old_gen + 1);
                return u->err = r;
        }
        free(u->row.hash);
        u->row.hash = row.hash;
        free(u->row.upload_id);
        u->row.upload_id = strdup(u->upload_id);
        u->row.size = u->size;
        u->row.tail_gen = old_gen + 1;
        u->row.tail_size = u->buf_len;
        u->n_saved = u->n_parts;
        if (old_gen)
                (void) u->bs->ops->staged_tail_remove(u->bs, u->row.uuid, old_gen);
        return 0;
}

/* The session's objects and rows go (after a commit, a cancel, the expiry). */
static int drop(blobstore_t *bs, meta_t *m, const meta_upsession_t *row, const char *upload_id) {
        int r = bs->ops->staged_abort(bs, row->uuid, upload_id);

        if (r < 0)
                return r; /* kept: the next expiry tries again */
        if (row->tail_gen)
                (void) bs->ops->staged_tail_remove(bs, row->uuid, row->tail_gen);
        return meta_upload_delete(m, row->uuid) < 0 ? BERTH_EDB : 0;
}

typedef struct {
        mpupload_t *u;
        const digest_t *d;
        bool from_buf; /* the whole blob is in u->buf (never reached a part) */
} ensure_t;

/* In the link's transaction: the blob is there (a GC sweep may have taken it since
 * it was placed): placed again from where it came from. */
static int ensure_blob(void *userdata) {
        ensure_t *e = userdata;
        blobstore_t *bs = e->u->bs;
        int r = bs->ops->stat(bs, e->d, NULL);

        if (r != 0)
                return r < 0 ? r : 0;
        if (e->from_buf)
                return bs->ops->put(bs, e->d, e->u->buf, e->u->buf_len);
        return bs->ops->staged_promote(bs, e->u->row.uuid, e->d, e->u->size);
}

/* Hash the completed temporary object (the state was lost). */
static int rehash(mpupload_t *u, digest_alg_t alg, digest_t *ret) {
        _cleanup_free_ char *b = malloc(8u << 20);
        digest_ctx_t *c = NULL;
        uint64_t off = 0;
        int r;

        if (!b)
                return -ENOMEM;
        r = digest_ctx_new(alg, &c);
        while (r >= 0 && off < u->size) {
                size_t n = 0;
                r = u->bs->ops->staged_read(u->bs, u->row.uuid, off, b, 8u << 20, &n);
                if (r >= 0 && n == 0)
                        r = -EIO; /* shorter than the bytes received */
                if (r >= 0)
                        r = digest_ctx_update(c, b, n);
                off += n;
        }
        if (r >= 0)
                r = digest_ctx_peek(c, ret);
        digest_ctx_free(c);
        return r;
}

int mpupload_commit(mpupload_t *u, const char *repo, const digest_t *want, uint64_t *ret_size) {
        ensure_t e = { .u = u, .d = want };
        bool lost, completed = false;
        digest_t got;
        int r;

        if (!u || !repo || !want)
                return -EINVAL;
        if (u->gone)
                return -ENOENT;
        if (u->err)
                return u->err;
        lost = !u->ctx || digest_ctx_alg(u->ctx) != want->alg;
        if (!lost) {
                if ((r = digest_ctx_peek(u->ctx, &got)) < 0)
                        return r;
                if (!digest_equal(&got, want))
                        return BERTH_EDIGEST; /* the row as it was */
                r = u->bs->ops->stat(u->bs, want, NULL);
                if (r < 0)
                        return r;
                if (r == 1) /* stored already: not written twice */
                        goto link;
        }
        if (!lost && u->n_parts == 0 && !u->upload_id[0]) {
                /* never reached a part: one PUT of the whole blob, checked by the store
                 * against its digest */
                e.from_buf = true;
                r = u->bs->ops->put(u->bs, want, u->buf, u->buf_len);
                if (r < 0)
                        return r;
                goto link;
        }
        if (u->buf_len > 0 || u->n_parts == 0) {
                r = send_part(u, u->buf_len);
                if (r < 0)
                        return u->err = r;
                u->buf_len = 0;
        }
        r = u->bs->ops->staged_complete(u->bs, u->row.uuid, u->upload_id, u->parts, u->n_parts);
        if (r < 0)
                return u->err = r;
        completed = true; /* the multipart upload is the temporary object now */
        if (lost) {
                /* the state was lost: the completed object read back once */
                r = rehash(u, want->alg, &got);
                if (r >= 0 && !digest_equal(&got, want))
                        r = BERTH_EDIGEST;
                if (r < 0) {
                        /* the multipart upload is no more: the session cannot go on */
                        u->upload_id[0] = '\0';
                        (void) drop(u->bs, u->meta, &u->row, "");
                        u->gone = true;
                        return r;
                }
        }
        /* visible now, under its digest, complete (a server-side copy) */
        r = u->bs->ops->staged_promote(u->bs, u->row.uuid, want, u->size);
        if (r < 0)
                return u->err = r;
link:
        r = meta_blob_link_quota(u->meta, repo, want, u->size, ensure_blob, &e);
        /* the session is spent either way (a refused link leaves an object GC removes) */
        (void) drop(u->bs, u->meta, &u->row, completed ? "" : u->upload_id);
        u->gone = true;
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = u->size;
        return 0;
}

int mpupload_remove(mpupload_t *u) {
        int r;

        if (!u)
                return -EINVAL;
        if (u->gone)
                return -ENOENT;
        r = drop(u->bs, u->meta, &u->row, u->upload_id);
        if (r >= 0)
                u->gone = true;
        return r;
}

int mpupload_expire(store_t *s, meta_t *m, uint64_t max_age, time_t now, bool dry_run, uint64_t *ret_n) {
        meta_upsession_t *v = NULL;
        size_t n = 0;
        uint64_t done = 0;
        int r;

        if (ret_n)
                *ret_n = 0;
        if (!mpupload_offered(s) || !m)
                return 0;
        r = meta_upsession_old(m, (int64_t) now - (int64_t) max_age, (int64_t) now, &v, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (dry_run || drop(s->bs, m, &v[i], v[i].upload_id) >= 0)
                        done++;
        }
        meta_upsessions_free(v, n);
        if (ret_n)
                *ret_n = done;
        return 0;
}
