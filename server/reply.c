/* server/reply.c: building answers: the OCI error format, JSON, buffers, files. */
#include <errno.h>
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
        req->bytes_out = len;
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
