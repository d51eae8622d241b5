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
#include "common/macro.h"
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

/* ---- blobs of a driver without files (S3) ----
 *
 * Nothing here waits for the object store on an event-loop thread. A blob GET or
 * HEAD suspends its connection (req_suspend) while a thread of its own asks the
 * store: a HEAD's stat; a body of one read block (BLOB_READ_BLOCK) or less read
 * whole; a larger body one GET whose bytes go into a ring of BLOB_RING bytes as they
 * arrive (a full ring holds the store back). The connection is resumed once the
 * answer is known: the stat, the whole small body, the first bytes of a large one, or
 * a failure before any byte, which the route then answers in the OCI error format
 * (404 when the object is missing). A large body's transfer drains the ring; a
 * reader that catches up suspends its connection from the content reader and is
 * resumed by the thread once BLOB_WAKE_STEP more bytes are in or the read ended.
 * The thread is detached: an answer that ends (the client gone) while the store is
 * still asked never waits for it on the event loop; the thread sees it at its next
 * byte and the last of the two frees the state. The drain awaits the threads
 * (srv->fetch_threads) before the store closes. */
#define BLOB_READ_BLOCK (8u << 20)
#define BLOB_RING (16u << 20)
#define BLOB_WAKE_STEP (256u << 10)

struct blob_fetch {
        server_t *srv;
        request_t *req;        /* resumed at the first event, then never touched */
        struct MHD_Connection *conn;
        store_t *store;
        digest_t d;
        bool stat_only;        /* a HEAD (or an empty body): the object's size only */
        uint64_t off, len;     /* the body in the blob */
        uint64_t size;         /* stat_only: the object's size */
        char *ring;            /* cap bytes; a small body whole */
        size_t cap;
        uint64_t produced;     /* body bytes put in the ring */
        uint64_t consumed;     /* ... and taken out */
        atomic_uint refs;      /* the answer's and the thread's (detached): the last frees */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool waiting;          /* the route is suspended until the first event */
        bool done;             /* the thread has finished (err says how) */
        bool stop;             /* the answer is gone: the thread gives up */
        int err;
        bool asleep;           /* the reader's connection suspended until wake_at */
        bool counted;          /* ... counted in srv->route_waits until it is called again */
        uint64_t wake_at;
};

/* Under f->lock: the route waiting for the first event resumed; a reader that
 * caught up resumed once enough more is in (or nothing more will come). */
static void fetch_wake(blob_fetch_t *f) {
        if (f->waiting) {
                f->waiting = false;
                req_resume(f->req);
        } else if (f->asleep && (f->done || f->produced >= f->wake_at)) {
                f->asleep = false;
                MHD_resume_connection(f->conn);
        }
        pthread_cond_broadcast(&f->cond);
}

static int ring_sink(void *userdata, const void *buf, size_t n) {
        blob_fetch_t *f = userdata;
        const char *p = buf;

        pthread_mutex_lock(&f->lock);
        while (n > 0) {
                size_t at, k;

                while (f->produced - f->consumed == f->cap && !f->stop)
                        pthread_cond_wait(&f->cond, &f->lock);
                if (f->stop || f->produced + n > f->len) {
                        pthread_mutex_unlock(&f->lock);
                        return -ECANCELED; /* gone, or more than asked for */
                }
                at = (size_t) (f->produced % f->cap);
                k = f->cap - (size_t) (f->produced - f->consumed); /* room */
                if (k > f->cap - at)
                        k = f->cap - at; /* to the ring's end */
                if (k > n)
                        k = n;
                pthread_mutex_unlock(&f->lock);
                memcpy(f->ring + at, p, k); /* the reader never touches the free part */
                pthread_mutex_lock(&f->lock);
                f->produced += k;
                p += k;
                n -= k;
                fetch_wake(f);
        }
        pthread_mutex_unlock(&f->lock);
        return 0;
}

static void fetch_unref(blob_fetch_t *f) {
        if (atomic_fetch_sub(&f->refs, 1) != 1)
                return;
        if (f->counted) /* the answer ended while its reader slept (the daemon stopping) */
                atomic_fetch_sub(&f->srv->route_waits, 1);
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->cond);
        free(f->ring);
        free(f);
}

static void *fetch_main(void *arg) {
        blob_fetch_t *f = arg;
        uint64_t size = 0;
        size_t n = 0;
        int e;

        if (f->stat_only) {
                e = store_blob_stat(f->store, &f->d, &size);
                pthread_mutex_lock(&f->lock);
                f->size = size;
                f->err = e < 0 ? e : e == 0 ? -ENOENT : 0;
        } else if (f->len <= BLOB_READ_BLOCK) {
                /* one ranged read of the whole body, before the headers go out */
                e = store_blob_read(f->store, &f->d, f->off, f->ring, (size_t) f->len, &n);
                pthread_mutex_lock(&f->lock);
                f->produced = n;
                f->err = e < 0 ? e : n < f->len ? -EIO : 0;
        } else {
                e = store_blob_read_stream(f->store, &f->d, f->off, f->len, ring_sink, f);
                pthread_mutex_lock(&f->lock);
                f->err = e < 0 ? e : f->produced < f->len ? -EIO : 0;
        }
        f->done = true;
        fetch_wake(f);
        pthread_mutex_unlock(&f->lock);
        server_t *srv = f->srv;
        fetch_unref(f);
        atomic_fetch_sub(&srv->fetch_threads, 1); /* the last touch: the drain may go on */
        return NULL;
}

blob_fetch_t *blob_fetch_free(blob_fetch_t *f) {
        if (!f)
                return NULL;
        pthread_mutex_lock(&f->lock);
        f->stop = true; /* a thread still asking the store gives up at its next byte */
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
        fetch_unref(f);
        return NULL;
}

int blob_fetch_start(request_t *req, store_t *st, const digest_t *d, bool stat_only, uint64_t off, uint64_t len,
                     blob_fetch_t **ret) {
        blob_fetch_t *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->cond, NULL);
        atomic_init(&f->refs, 1);
        f->srv = req->srv;
        f->req = req;
        f->conn = req->conn;
        f->store = st;
        f->d = *d;
        f->stat_only = stat_only || len == 0;
        f->off = off;
        f->len = stat_only ? 0 : len;
        if (!f->stat_only) {
                f->cap = f->len <= BLOB_READ_BLOCK ? (size_t) f->len : BLOB_RING;
                if (!(f->ring = malloc(f->cap))) {
                        blob_fetch_free(f);
                        return -ENOMEM;
                }
        }
        /* suspended before the thread can end: its resume never comes first */
        pthread_attr_t attr;
        pthread_t th;
        int r = pthread_attr_init(&attr);
        bool attr_made = r == 0;

        if (attr_made)
                r = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&f->lock);
        f->waiting = true;
        req_suspend(req);
        atomic_fetch_add(&f->refs, 1);
        atomic_fetch_add(&f->srv->fetch_threads, 1);
        if (r != 0 || pthread_create(&th, &attr, fetch_main, f) != 0) {
                atomic_fetch_sub(&f->srv->fetch_threads, 1);
                atomic_fetch_sub(&f->refs, 1);
                if (attr_made)
                        pthread_attr_destroy(&attr);
                f->waiting = false;
                pthread_mutex_unlock(&f->lock);
                req_resume(req); /* called again at once: the route answers 500 */
                *ret = f;
                f->err = -EAGAIN;
                f->done = true;
                return 0;
        }
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&f->lock);
        *ret = f;
        return 0;
}

int blob_fetch_result(blob_fetch_t *f, uint64_t *ret_size) {
        int e;

        pthread_mutex_lock(&f->lock);
        /* done: how it ended; not yet: the first bytes of a large body are in */
        e = f->done ? f->err : f->produced > 0 ? 0 : -EIO;
        if (ret_size)
                *ret_size = f->size;
        pthread_mutex_unlock(&f->lock);
        return e;
}

char *blob_fetch_take(blob_fetch_t *f, size_t *ret_len) {
        char *buf = NULL;

        pthread_mutex_lock(&f->lock);
        if (f->done && f->err == 0 && !f->stat_only && f->len <= BLOB_READ_BLOCK) {
                buf = TAKE_PTR(f->ring);
                *ret_len = (size_t) f->produced;
        }
        pthread_mutex_unlock(&f->lock);
        return buf;
}

/* libmicrohttpd's content reader of a large body: what the ring holds; nothing yet:
 * the connection suspended until the thread puts more in (never 0 on a live
 * connection: with a thread pool that would spin). */
static ssize_t fetch_read(void *cls, uint64_t pos, char *out, size_t max) {
        blob_fetch_t *f = cls;
        size_t n, at;

        pthread_mutex_lock(&f->lock);
        if (f->counted) { /* called again after a sleep */
                f->counted = false;
                atomic_fetch_sub(&f->srv->route_waits, 1);
        }
        if (pos >= f->len) {
                pthread_mutex_unlock(&f->lock);
                return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (pos != f->consumed) { /* the body is read in order, once */
                pthread_mutex_unlock(&f->lock);
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (f->produced == f->consumed) {
                int e = f->err ? f->err : -EIO;

                if (!f->done && !atomic_load(&f->srv->stopping)) {
                        f->asleep = f->counted = true;
                        f->wake_at = f->consumed + BLOB_WAKE_STEP;
                        atomic_fetch_add(&f->srv->route_waits, 1);
                        /* under the lock: the thread cannot resume it before it is suspended */
                        MHD_suspend_connection(f->conn);
                        pthread_mutex_unlock(&f->lock);
                        return 0;
                }
                pthread_mutex_unlock(&f->lock);
                log_msg(LOG_ERR, LOG_SRC_SERVER, "blob %s: reading at %" PRIu64 ": %s", f->d.str, f->off + pos,
                        !f->done ? "the server is stopping" : e == -EIO ? "shorter than its size" : berth_strerror(e));
                return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a short body */
        }
        n = (size_t) (f->produced - f->consumed);
        pthread_mutex_unlock(&f->lock);
        /* the filled part is ours until consumed moves: no copy under the lock */
        at = (size_t) (pos % f->cap);
        if (n > f->cap - at)
                n = f->cap - at;
        if (n > max)
                n = max;
        memcpy(out, f->ring + at, n);
        pthread_mutex_lock(&f->lock);
        f->consumed += n;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
        return (ssize_t) n;
}

static void fetch_free_cb(void *cls) {
        blob_fetch_free(cls);
}

static ssize_t no_body(void *cls, uint64_t pos, char *out, size_t max) {
        (void) cls, (void) pos, (void) out, (void) max;
        return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void no_free(void *cls) {
        (void) cls;
}

void reply_blob_fetched(request_t *req, unsigned status, blob_fetch_t *f) {
        if (f->stat_only) {
                blob_fetch_free(f);
                reply_empty(req, status);
                return;
        }
        if (f->len <= BLOB_READ_BLOCK) {
                /* read whole before the headers: the buffer becomes the answer's */
                struct MHD_Response *resp =
                        MHD_create_response_from_buffer((size_t) f->len, f->ring, MHD_RESPMEM_MUST_FREE);

                uint64_t len = f->len;

                if (resp)
                        f->ring = NULL;
                blob_fetch_free(f);
                set_response(req, status, resp);
                req->bytes_out = len;
                return;
        }
        reply_callback(req, status, f->len, fetch_read, f, fetch_free_cb);
}

void reply_blob_head(request_t *req, unsigned status, uint64_t len) {
        /* libmicrohttpd sends no body for a HEAD: the length only */
        reply_callback(req, status, len, no_body, NULL, no_free);
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
