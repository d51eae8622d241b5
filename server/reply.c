/* server/reply.c: building answers: the OCI error format, JSON, buffers, files. */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "common/err.h"
#include "storage/db.h"
#include "common/log.h"
#include "server/quota.h"
#include "server/server.h"

static void set_response(request_t *req, unsigned status, struct MHD_Response *resp) {
        if (!resp) {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s out of memory building a response", req->id);
                return;
        }
        if (req->response) /* a route answered twice: keep the first */
                MHD_destroy_response(req->response);
        req->response = resp;
        req->status = status;
        MHD_add_response_header(resp, "Docker-Distribution-API-Version", "registry/2.0");
}

void reply_header(request_t *req, const char *name, const char *value) {
        if (req->response)
                MHD_add_response_header(req->response, name, value);
}

void reply_headerf(request_t *req, const char *name, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t) n < sizeof(buf))
                reply_header(req, name, buf);
}

void reply_buffer(request_t *req, unsigned status, const void *buf, size_t len,
                  const char *content_type) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(len, (void *) buf, MHD_RESPMEM_MUST_COPY);
        set_response(req, status, resp);
        req->bytes_out = len;
        if (resp && content_type)
                MHD_add_response_header(resp, "Content-Type", content_type);
}

void reply_static(request_t *req, unsigned status, const void *buf, size_t len, const char *content_type) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *) buf, MHD_RESPMEM_PERSISTENT);

        set_response(req, status, resp);
        req->bytes_out = len;
        if (resp && content_type)
                MHD_add_response_header(resp, "Content-Type", content_type);
}

void reply_empty(request_t *req, unsigned status) {
        reply_buffer(req, status, "", 0, NULL);
}

void reply_json(request_t *req, unsigned status, json_t *body, const char *content_type) {
        char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;

        json_decref(body);
        if (!s) {
                reply_error(req, 500, "UNKNOWN", "out of memory", NULL);
                return;
        }
        req->bytes_out = strlen(s);
        set_response(req, status,
                     MHD_create_response_from_buffer(req->bytes_out, s, MHD_RESPMEM_MUST_FREE));
        reply_header(req, "Content-Type", content_type ? content_type : "application/json");
}

/* Over TLS the bytes pass through user space anyway; libmicrohttpd's own file
 * responses read them 4 KiB at a time, one TLS write each. Reading big blocks
 * ourselves makes HTTPS downloads several times faster. */
#define TLS_READ_BLOCK (256 * 1024)

typedef struct {
        int fd;
        uint64_t off;
} fd_reader_t;

static ssize_t fd_read(void *cls, uint64_t pos, char *buf, size_t max) {
        fd_reader_t *r = cls;
        ssize_t n;

        do
                n = pread(r->fd, buf, max, (off_t) (r->off + pos));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (n == 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        return n;
}

static void fd_reader_free(void *cls) {
        fd_reader_t *r = cls;
        close(r->fd);
        free(r);
}

void reply_callback(request_t *req, unsigned status, uint64_t len, MHD_ContentReaderCallback fn, void *cls,
                    MHD_ContentReaderFreeCallback free_fn) {
        size_t block = len < TLS_READ_BLOCK ? (size_t) (len ? len : 1) : TLS_READ_BLOCK;
        struct MHD_Response *resp = MHD_create_response_from_callback(len, block, fn, cls, free_fn);

        if (!resp)
                free_fn(cls);
        set_response(req, status, resp);
        req->bytes_out = len == MHD_SIZE_UNKNOWN ? 0 : len;
}

/* A blob of a driver without files (S3): read in blocks of BLOB_READ_BLOCK by range
 * requests as the client takes the body, the next block fetched by a helper thread
 * while the current one is sent (the object store's latency hidden behind the
 * client's transfer). */
#define BLOB_READ_BLOCK (8u << 20)
typedef struct {
        store_t *store;
        digest_t d;
        uint64_t off;          /* of the body in the blob */
        uint64_t len;          /* of the body */
        char *buf[2];
        size_t block;          /* their size */
        unsigned cur;          /* buf[cur] holds body bytes [cur_pos, cur_pos + cur_len) */
        uint64_t cur_pos;
        size_t cur_len;
        /* read-ahead into buf[cur ^ 1], by the helper thread */
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool want;             /* a read-ahead is asked for (pf_pos) */
        bool busy;             /* ... and is running */
        bool ready;            /* ... and is done: pf_len bytes or pf_err */
        bool stop;
        uint64_t pf_pos;
        size_t pf_len;
        int pf_err;
} blob_reader_t;

static size_t block_at(const blob_reader_t *r, uint64_t pos) {
        return r->len - pos < BLOB_READ_BLOCK ? (size_t) (r->len - pos) : BLOB_READ_BLOCK;
}

static void *read_ahead(void *arg) {
        blob_reader_t *r = arg;

        pthread_mutex_lock(&r->lock);
        for (;;) {
                while (!r->want && !r->stop)
                        pthread_cond_wait(&r->cond, &r->lock);
                if (r->stop)
                        break;
                r->want = false;
                r->busy = true;
                {
                        uint64_t pos = r->pf_pos;
                        char *dst = r->buf[r->cur ^ 1];
                        size_t n = 0;
                        int e;

                        pthread_mutex_unlock(&r->lock);
                        e = store_blob_read(r->store, &r->d, r->off + pos, dst, block_at(r, pos), &n);
                        pthread_mutex_lock(&r->lock);
                        r->pf_len = n;
                        r->pf_err = e < 0 ? e : n == 0 ? -EIO : 0;
                }
                r->busy = false;
                r->ready = true;
                pthread_cond_broadcast(&r->cond);
        }
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

static ssize_t blob_read(void *cls, uint64_t pos, char *out, size_t max) {
        blob_reader_t *r = cls;
        size_t n;

        if (pos >= r->len)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (!r->buf[0]) {
                if (!(r->buf[0] = malloc(r->block)))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                /* one block: no read-ahead (nor its buffer) */
                if (r->len > BLOB_READ_BLOCK)
                        r->buf[1] = malloc(r->block);
        }
        if (pos < r->cur_pos || pos >= r->cur_pos + r->cur_len) {
                bool have = false;
                int e = 0;

                if (r->thread_started) {
                        pthread_mutex_lock(&r->lock);
                        while (r->busy || r->want)
                                pthread_cond_wait(&r->cond, &r->lock);
                        if (r->ready && r->pf_pos == pos && r->pf_err == 0) {
                                r->cur ^= 1;
                                r->cur_pos = pos;
                                r->cur_len = r->pf_len;
                                have = true;
                        }
                        r->ready = false;
                        pthread_mutex_unlock(&r->lock);
                }
                if (!have) {
                        e = store_blob_read(r->store, &r->d, r->off + pos, r->buf[r->cur], block_at(r, pos), &n);
                        if (e >= 0 && n == 0)
                                e = -EIO;
                        if (e < 0) {
                                log_msg(LOG_ERR, LOG_SRC_SERVER, "blob %s: reading at %" PRIu64 ": %s", r->d.str,
                                        r->off + pos, e == -EIO ? "shorter than its size" : berth_strerror(e));
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        }
                        r->cur_pos = pos;
                        r->cur_len = n;
                }
                /* the next block, while this one goes out */
                if (r->cur_pos + r->cur_len < r->len && r->buf[r->cur ^ 1]) {
                        if (!r->thread_started && pthread_create(&r->thread, NULL, read_ahead, r) == 0)
                                r->thread_started = true;
                        if (r->thread_started) {
                                pthread_mutex_lock(&r->lock);
                                r->pf_pos = r->cur_pos + r->cur_len;
                                r->want = true;
                                pthread_cond_signal(&r->cond);
                                pthread_mutex_unlock(&r->lock);
                        }
                }
        }
        n = r->cur_len - (size_t) (pos - r->cur_pos);
        if (n > max)
                n = max;
        memcpy(out, r->buf[r->cur] + (pos - r->cur_pos), n);
        return (ssize_t) n;
}

static void blob_reader_free(void *cls) {
        blob_reader_t *r = cls;

        if (r->thread_started) {
                pthread_mutex_lock(&r->lock);
                r->stop = true;
                pthread_cond_broadcast(&r->cond);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->thread, NULL); /* a read in flight finishes first */
        }
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r->buf[0]);
        free(r->buf[1]);
        free(r);
}

/* A driver that streams a range (S3: one GET for the whole body, not one per block):
 * a helper thread takes the bytes as they arrive into a ring of BLOB_RING bytes,
 * the client's transfer drains it; a full ring holds the object store back. */
#define BLOB_RING (16u << 20)
typedef struct {
        store_t *store;
        digest_t d;
        uint64_t off, len;   /* the body in the blob */
        char *ring;
        uint64_t produced;   /* body bytes put in the ring */
        uint64_t consumed;   /* ... and taken out */
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool done;           /* the helper has finished (err says how) */
        bool stop;           /* the client is gone */
        int err;
} blob_streamer_t;

static int ring_sink(void *userdata, const void *buf, size_t n) {
        blob_streamer_t *r = userdata;
        const char *p = buf;

        pthread_mutex_lock(&r->lock);
        while (n > 0) {
                size_t at, k;

                while (r->produced - r->consumed == BLOB_RING && !r->stop)
                        pthread_cond_wait(&r->cond, &r->lock);
                if (r->stop || r->produced + n > r->len) {
                        pthread_mutex_unlock(&r->lock);
                        return -ECANCELED; /* gone, or more than asked for */
                }
                at = (size_t) (r->produced % BLOB_RING);
                k = BLOB_RING - (size_t) (r->produced - r->consumed); /* room */
                if (k > BLOB_RING - at)
                        k = BLOB_RING - at; /* to the ring's end */
                if (k > n)
                        k = n;
                pthread_mutex_unlock(&r->lock);
                memcpy(r->ring + at, p, k); /* the reader never touches the free part */
                pthread_mutex_lock(&r->lock);
                r->produced += k;
                p += k;
                n -= k;
                pthread_cond_broadcast(&r->cond);
        }
        pthread_mutex_unlock(&r->lock);
        return 0;
}

static void *stream_main(void *arg) {
        blob_streamer_t *r = arg;
        int e = store_blob_read_stream(r->store, &r->d, r->off, r->len, ring_sink, r);

        pthread_mutex_lock(&r->lock);
        r->err = e < 0 ? e : r->produced < r->len ? -EIO : 0;
        r->done = true;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

static ssize_t blob_stream_read(void *cls, uint64_t pos, char *out, size_t max) {
        blob_streamer_t *r = cls;
        size_t n, at;

        if (pos >= r->len)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (!r->thread_started) {
                /* positions stay below len: a shorter body needs no more */
                if (!(r->ring = malloc(r->len < BLOB_RING ? (size_t) r->len : BLOB_RING)))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (pthread_create(&r->thread, NULL, stream_main, r) != 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                r->thread_started = true;
        }
        pthread_mutex_lock(&r->lock);
        if (pos != r->consumed) { /* the body is read in order, once */
                pthread_mutex_unlock(&r->lock);
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        while (r->produced == r->consumed && !r->done)
                pthread_cond_wait(&r->cond, &r->lock);
        if (r->produced == r->consumed) {
                int e = r->err ? r->err : -EIO;
                pthread_mutex_unlock(&r->lock);
                log_msg(LOG_ERR, LOG_SRC_SERVER, "blob %s: reading at %" PRIu64 ": %s", r->d.str, r->off + pos,
                        e == -EIO ? "shorter than its size" : berth_strerror(e));
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        n = (size_t) (r->produced - r->consumed);
        pthread_mutex_unlock(&r->lock);
        /* the filled part is ours until consumed moves: no copy under the lock */
        at = (size_t) (pos % BLOB_RING);
        if (n > BLOB_RING - at)
                n = BLOB_RING - at;
        if (n > max)
                n = max;
        memcpy(out, r->ring + at, n);
        pthread_mutex_lock(&r->lock);
        r->consumed += n;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        return (ssize_t) n;
}

static void blob_streamer_free(void *cls) {
        blob_streamer_t *r = cls;

        if (r->thread_started) {
                pthread_mutex_lock(&r->lock);
                r->stop = true;
                pthread_cond_broadcast(&r->cond);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->thread, NULL); /* the transfer fails at its next bytes */
        }
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r->ring);
        free(r);
}

static bool reply_blob_stream(request_t *req, unsigned status, store_t *st, const digest_t *d, uint64_t off,
                              uint64_t len) {
        blob_streamer_t *r;

        if (!store_blob_streams(st) || len <= BLOB_READ_BLOCK)
                return false; /* one block: one range read is as good */
        if (!(r = calloc(1, sizeof(*r))))
                return false;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        r->store = st;
        r->d = *d;
        r->off = off;
        r->len = len;
        reply_callback(req, status, len, blob_stream_read, r, blob_streamer_free);
        return true;
}

void reply_blob(request_t *req, unsigned status, store_t *st, const digest_t *d, uint64_t off, uint64_t len) {
        size_t block = len < BLOB_READ_BLOCK ? (size_t) (len ? len : 1) : BLOB_READ_BLOCK;
        blob_reader_t *r;

        if (reply_blob_stream(req, status, st, d, off, len))
                return;
        r = calloc(1, sizeof(*r));

        if (!r) {
                set_response(req, status, NULL);
                return;
        }
        r->block = block; /* buffers made on the first read: a HEAD reads nothing */
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        r->store = st;
        r->d = *d;
        r->off = off;
        r->len = len;
        r->cur_pos = UINT64_MAX;
        reply_callback(req, status, len, blob_read, r, blob_reader_free);
}

void reply_fd(request_t *req, unsigned status, int fd, uint64_t off, uint64_t len) {
        struct MHD_Response *resp = NULL;

        if (req->srv->cfg->insecure_http) {
                /* plain HTTP: libmicrohttpd sends the file with sendfile() */
                resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
                if (!resp)
                        close(fd);
        } else {
                fd_reader_t *r = malloc(sizeof(*r));
                if (r) {
                        r->fd = fd;
                        r->off = off;
                        /* the block is allocated (and cleared) per response: no bigger than the body */
                        size_t block = len < TLS_READ_BLOCK ? (size_t) (len ? len : 1) : TLS_READ_BLOCK;
                        resp = MHD_create_response_from_callback(len, block, fd_read, r, fd_reader_free);
                        if (!resp)
                                free(r);
                }
                if (!resp)
                        close(fd);
        }
        set_response(req, status, resp);
        req->bytes_out = len;
}

void reply_error(request_t *req, unsigned status, const char *code, const char *message,
                 const char *detail) {
        json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);

        if (err && detail)
                json_object_set_new(err, "detail", json_string(detail));
        req->err_code = code;
        reply_json(req, status, json_pack("{s:[o]}", "errors", err), "application/json; charset=utf-8");
}

void reply_errno(request_t *req, int err, const char *detail) {
        switch (err) {
        case BERTH_EDIGEST:
                reply_error(req, 400, "DIGEST_INVALID", "provided digest did not match uploaded content", detail);
                break;
        case BERTH_EDIGEST_INVALID:
                reply_error(req, 400, "DIGEST_INVALID", "invalid digest", detail);
                break;
        case BERTH_ENAME_INVALID:
                reply_error(req, 400, "NAME_INVALID", "invalid repository name", detail);
                break;
        case BERTH_ETAG_INVALID:
                reply_error(req, 400, "TAG_INVALID", "invalid tag", detail);
                break;
        case BERTH_EMANIFEST:
                reply_error(req, 400, "MANIFEST_INVALID", "manifest invalid", detail);
                break;
        case BERTH_EMANIFEST_BLOB_UNKNOWN:
                reply_error(req, 400, "MANIFEST_BLOB_UNKNOWN", "manifest references a blob unknown to the registry", detail);
                break;
        case BERTH_ETOOBIG:
                reply_error(req, 413, "SIZE_INVALID", "content too large", detail);
                break;
        case BERTH_EUNSUPPORTED:
                reply_error(req, 405, "UNSUPPORTED", "the operation is unsupported", detail);
                break;
        case BERTH_EAUTH:
                reply_error(req, 401, "UNAUTHORIZED", "authentication required", detail);
                break;
        case BERTH_EDENIED:
                reply_error(req, 403, "DENIED", "requested access to the resource is denied", detail);
                break;
        case BERTH_EQUOTA: /* storage/usage.h: names the quota and the usage */
                quota_reply(req, detail);
                break;
        case BERTH_ETHROTTLED:
        case BERTH_EBUSY:
                reply_error(req, 429, "TOOMANYREQUESTS", "too many requests", detail);
                reply_header(req, "Retry-After", "1");
                break;
        case BERTH_EDBDOWN: /* the connection is gone; the pool reconnects on the next request */
                reply_error(req, 503, "UNAVAILABLE", "the metadata database is unreachable; retry later", detail);
                reply_header(req, "Retry-After", "5");
                break;
        case BERTH_ESTOREDOWN: /* S3 refused or unreachable after the driver's retries */
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s %s %s: %s", req->id, req->method, req->path,
                        berth_strerror(err));
                reply_error(req, 503, "UNAVAILABLE", "the blob store is unreachable; retry later", detail);
                reply_header(req, "Retry-After", "5");
                break;
        case -ESHUTDOWN: /* draining: an upload that would wait for its parts anew */
                reply_error(req, 503, "UNAVAILABLE", "the registry is shutting down", detail);
                reply_header(req, "Retry-After", "5");
                break;
        case -ENOSPC:
        case -EDQUOT:
                reply_error(req, 507, "UNKNOWN", "insufficient storage on the registry", detail);
                break;
        default:
                /* a database failure: the engine's words too (this thread's last) */
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s %s %s: %s%s%s%s", req->id, req->method, req->path,
                        berth_strerror(err), err == BERTH_EDB ? " (" : "", err == BERTH_EDB ? db_last_error() : "",
                        err == BERTH_EDB ? ")" : "");
                reply_error(req, 500, "UNKNOWN", "internal error", NULL);
        }
}
