/* server/blobs.c: blob GET/HEAD/DELETE and the upload protocol (POST, PATCH, PUT,
 * GET status, DELETE, cross-repository mount). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/name.h"
#include "server/ranges.h"
#include "server/pullthrough.h"
#include "server/quota.h"
#include "server/server.h"
#include "storage/mpupload.h"
#include "storage/usage.h"
#include "storage/registry.h"

/* ---- helpers ---- */



static void upload_location(request_t *req, const char *uuid, uint64_t size) {
        reply_headerf(req, "Location", "/v2/%s/blobs/uploads/%s", req->repo, uuid);
        reply_header(req, "Docker-Upload-UUID", uuid);
        /* Range is inclusive: an empty upload reports 0-0 as distribution does */
        reply_headerf(req, "Range", "0-%" PRIu64, size ? size - 1 : 0);
}

static void blob_created(request_t *req, const digest_t *d) {
        reply_empty(req, 201);
        reply_headerf(req, "Location", "/v2/%s/blobs/%s", req->repo, d->str);
        reply_header(req, "Docker-Content-Digest", d->str);
}

/* ---- GET/HEAD /v2/<name>/blobs/<digest> ---- */


static void blob_get_begin(request_t *req) {
        if (pullthrough_blob_get(req))
                return;
        blob_get_local(req);
}

static void blob_headers(request_t *req, const digest_t *d) {
        reply_header(req, "Content-Type", "application/octet-stream");
        reply_header(req, "Docker-Content-Digest", d->str);
        reply_header(req, "Accept-Ranges", "bytes");
        reply_headerf(req, "ETag", "\"%s\"", d->str);
        reply_header(req, "Cache-Control", "max-age=31536000");
}

/* A blob in a driver without files (S3): a 307 to a presigned URL (--s3-redirect),
 * or the bytes read through the driver, never waiting for the store on the event
 * loop: the connection is suspended while a thread asks it (blob_fetch_start), and
 * blob_get_end answers once it knows. A GET trusts the size of the row (no HEAD of
 * the object first): its first read finds a missing object. */
typedef struct {
        blob_fetch_t *f;
        digest_t d;
        uint64_t size;      /* GET: the row's */
        uint64_t off, len;
        bool ranged;
} blob_get_state_t;

static void blob_get_driver(request_t *req, const digest_t *d, uint64_t size) {
        store_t *st = req->srv->store;
        blob_get_state_t *gs;
        uint64_t off = 0, len = size;
        const char *range = req_header(req, "Range");
        int r;

        if (req->srv->cfg->s3_redirect && !req->is_head) {
                _cleanup_free_ char *url = NULL;

                r = store_blob_presign(st, d, req->srv->cfg->s3_redirect_ttl, &url);
                if (r < 0) {
                        log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s blob %s: presigning: %s", req->id, d->str,
                                berth_strerror(r));
                        reply_errno(req, r, NULL);
                        return;
                }
                reply_empty(req, 307);
                reply_header(req, "Location", url);
                reply_header(req, "Docker-Content-Digest", d->str);
                return;
        }
        /* a GET's range against the row's size (a HEAD's against the object's, later) */
        if (range && !req->is_head && http_range_parse(range, size, &off, &len) < 0) {
                reply_error(req, 416, "BLOB_UNKNOWN", "requested range not satisfiable", range);
                reply_headerf(req, "Content-Range", "bytes */%" PRIu64, size);
                return;
        }
        if (!req_may_wait(req)) {
                reply_errno(req, -ESHUTDOWN, NULL);
                return;
        }
        if (!(gs = calloc(1, sizeof(*gs)))) {
                reply_errno(req, -ENOMEM, NULL);
                return;
        }
        gs->d = *d;
        gs->size = size;
        gs->off = off;
        gs->len = len;
        gs->ranged = range != NULL;
        r = blob_fetch_start(req, st, d, req->is_head, off, len, &gs->f);
        if (r < 0) {
                free(gs);
                reply_errno(req, r, NULL);
                return;
        }
        req->state = gs; /* suspended: blob_get_end answers */
}

/* Resumed: the store's answer known. */
static void blob_get_end(request_t *req) {
        blob_get_state_t *gs = req->state;
        uint64_t osize = 0, off, len;
        const char *range;
        int r;

        if (!gs || !gs->f)
                return; /* not ours: answered 500 */
        r = blob_fetch_result(gs->f, &osize);
        if (r == -ENOENT) {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s blob %s has a row but no object", req->id, gs->d.str);
                reply_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry", gs->d.str);
                return;
        }
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s blob %s: %s", req->id, gs->d.str,
                        r == -EIO ? "the object is shorter than its size" : berth_strerror(r));
                reply_errno(req, r, NULL);
                return;
        }
        if (req->is_head) {
                /* the object's size, as the store said */
                off = 0;
                len = osize;
                range = req_header(req, "Range");
                if (range && http_range_parse(range, osize, &off, &len) < 0) {
                        reply_error(req, 416, "BLOB_UNKNOWN", "requested range not satisfiable", range);
                        reply_headerf(req, "Content-Range", "bytes */%" PRIu64, osize);
                        return;
                }
                reply_blob_head(req, range ? 206 : 200, len);
                if (range)
                        reply_headerf(req, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
                                      off + len - 1, osize);
        } else {
                reply_blob_fetched(req, gs->ranged ? 206 : 200, TAKE_PTR(gs->f));
                if (gs->ranged)
                        reply_headerf(req, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, gs->off,
                                      gs->off + gs->len - 1, gs->size);
        }
        blob_headers(req, &gs->d);
}

static void blob_get_cleanup(request_t *req) {
        blob_get_state_t *gs = req->state;

        if (!gs)
                return;
        blob_fetch_free(gs->f);
        free(gs);
        req->state = NULL;
}

void blob_get_local(request_t *req) {
        digest_t d;
        uint64_t size, fsize, off = 0, len;
        const char *range;
        meta_t *m;
        int fd, r;

        if (digest_parse(req->ref, &d) < 0) {
                reply_errno(req, BERTH_EDIGEST_INVALID, NULL);
                return;
        }
        if (!(m = request_meta(req)))
                return;
        r = meta_blob_linked(m, req->repo, &d, &size);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        if (r == 0) {
                reply_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry", d.str);
                return;
        }
        if (!store_has_files(req->srv->store)) {
                blob_get_driver(req, &d, size);
                return;
        }
        r = store_blob_open(req->srv->store, &d, &fd, &fsize);
        if (r == -ENOENT) {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s blob %s has a row but no file", req->id, d.str);
                reply_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry", d.str);
                return;
        }
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        len = fsize;
        range = req_header(req, "Range");
        if (range) {
                r = http_range_parse(range, fsize, &off, &len);
                if (r < 0) {
                        close(fd);
                        reply_error(req, 416, "BLOB_UNKNOWN", "requested range not satisfiable", range);
                        reply_headerf(req, "Content-Range", "bytes */%" PRIu64, fsize);
                        return;
                }
                reply_fd(req, 206, fd, off, len);
                reply_headerf(req, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
                              off + len - 1, fsize);
        } else
                reply_fd(req, 200, fd, 0, fsize);
        reply_header(req, "Content-Type", "application/octet-stream");
        reply_header(req, "Docker-Content-Digest", d.str);
        reply_header(req, "Accept-Ranges", "bytes");
        reply_headerf(req, "ETag", "\"%s\"", d.str);
        reply_header(req, "Cache-Control", "max-age=31536000");
}
const route_ops_t route_blob_get = {
        .name = "blob-get",
        .actions = AUTH_PULL,
        .begin = blob_get_begin,
        .end = blob_get_end,
        .cleanup = blob_get_cleanup,
};

static void blob_delete_begin(request_t *req) {
        digest_t d;
        meta_t *m;
        int r;

        if (!req->srv->cfg->delete_enabled) {
                reply_errno(req, BERTH_EUNSUPPORTED, "deletes are disabled on this registry");
                return;
        }
        if (digest_parse(req->ref, &d) < 0) {
                reply_errno(req, BERTH_EDIGEST_INVALID, NULL);
                return;
        }
        if (!(m = request_meta(req)))
                return;
        r = meta_blob_unlink(m, req->repo, &d);
        if (r < 0)
                reply_errno(req, r, NULL);
        else if (r == 0)
                reply_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry", d.str);
        else {
                reply_empty(req, 202);
                reply_header(req, "Docker-Content-Digest", d.str);
        }
}
const route_ops_t route_blob_delete = {
        .flags = ROUTE_WRITE,
        .name = "blob-delete",
        .actions = AUTH_DELETE,
        .begin = blob_delete_begin,
};

/* ---- body of an upload request: append to the session ---- */

/* Body pieces arrive as the transport delivers them (16 KiB TLS records, or what
 * one recv() returned). They are gathered into one of two buffers; a full buffer
 * is written and handed to the session's hashing thread while the other fills, so
 * hashing runs beside receiving and writing instead of after them. */
#define WC_SIZE (512 * 1024)

/* What an upload route keeps for one request (req->state). */
typedef struct upload_state {
        upload_t *upload;
        mpupload_t *mp;           /* a session in the metadata store and the bucket
                                   * (storage/mpupload.h: S3), instead of upload */
        uint64_t start;           /* size of the upload when this request began */
        bool transient;           /* a session this request created (monolithic POST):
                                   * removed unless committed */
        int err;                  /* first error writing the body */
        digest_t digest;          /* ?digest= of a PUT or monolithic POST, parsed once */
        uint64_t room;            /* the size the upload may reach under the project's quota */
        char *wc[2];              /* body pieces gathered here; one fills while the */
        size_t wc_len;            /* other is hashed (upload_write_async) */
        unsigned wc_cur;
        /* a mount on a driver that asks a remote store (mount_main), its outcome */
        digest_t mount_digest;
        uint64_t mount_size;
        int mount_r;
} upload_state_t;

/* The request's upload state, created on first use; NULL answered (no memory). */
static upload_state_t *upload_state(request_t *req) {
        upload_state_t *st;

        if (req->state)
                return req->state;
        if (!(st = calloc(1, sizeof(upload_state_t)))) {
                reply_errno(req, -ENOMEM, NULL);
                return NULL;
        }
        st->room = USAGE_UNLIMITED;
        req->state = st;
        return st;
}

/* Bytes of the session held, this request's so far included. */
static uint64_t st_size(const upload_state_t *st) {
        return st->mp ? mpupload_size(st->mp) : upload_size(st->upload);
}

static int wc_flush(upload_state_t *st) {
        int r;

        if (!st->wc_len)
                return 0;
        r = upload_write_async(st->upload, st->wc[st->wc_cur], st->wc_len);
        /* the buffer just handed over stays untouched until the next upload call */
        st->wc_cur ^= 1;
        st->wc_len = 0;
        return r;
}

/* A piece of the body: how much of it was taken (less than len only with the
 * connection suspended: the rest comes again once it is resumed). */
static size_t upload_data(request_t *req, const char *buf, size_t len) {
        upload_state_t *st = req->state;
        const size_t all = len;
        uint64_t total;
        int r = 0;

        if (st->err)
                return all;
        if (__builtin_add_overflow(st_size(st), (uint64_t) len + st->wc_len, &total) ||
            total > req->srv->cfg->blob_max_size) {
                st->err = BERTH_ETOOBIG;
                return all;
        }
        if (total > st->room) { /* no byte past the project's quota is stored */
                st->err = BERTH_EQUOTA;
                return all;
        }
        if (st->mp) {
                /* it gathers its parts itself and hands them to sender threads; with
                 * as many in flight as it allows, the connection waits suspended for
                 * one to end (never this thread: it serves other connections) */
                size_t taken = 0;
                for (;;) {
                        size_t n = 0;
                        r = mpupload_write_some(st->mp, buf + taken, len - taken, &n);
                        taken += n;
                        if (r <= 0)
                                break;
                        r = req_may_wait(req) ? mpupload_wait(st->mp, req_suspend, req_resume, req) : -ESHUTDOWN;
                        if (r != 0)
                                break;
                }
                if (r < 0) {
                        st->err = r;
                        return all;
                }
                return r == 1 ? taken : all;
        }
        while (len > 0 && r == 0) {
                size_t n;

                if (!st->wc[st->wc_cur] && !(st->wc[st->wc_cur] = malloc(WC_SIZE))) {
                        st->err = -ENOMEM;
                        return all;
                }
                n = WC_SIZE - st->wc_len < len ? WC_SIZE - st->wc_len : len;
                memcpy(st->wc[st->wc_cur] + st->wc_len, buf, n);
                st->wc_len += n;
                buf += n;
                len -= n;
                if (st->wc_len == WC_SIZE)
                        r = wc_flush(st);
        }
        if (r < 0)
                st->err = r;
        return all;
}

/* Wait for a session's step (mpupload_save_step, mpupload_commit_step: 1 to wait)
 * with the connection suspended, never this thread (it serves other connections).
 * 1 suspended (end is called again once resumed), 0 call the step again, <0
 * (-ESHUTDOWN: the server drains and no request waits anew). */
static int mp_wait(request_t *req, upload_state_t *st) {
        return req_may_wait(req) ? mpupload_wait(st->mp, req_suspend, req_resume, req) : -ESHUTDOWN;
}

/* The body is complete: what is still gathered goes to the session. */
static void upload_data_done(upload_state_t *st) {
        int r;

        if (st->err || !st->upload)
                return;
        r = wc_flush(st);
        if (r < 0)
                st->err = r;
}

/* Leave the session as it was when this request began, unless it finished. */
static void upload_undo(request_t *req) {
        upload_state_t *st = req->state;

        if (!st || !st->upload)
                return;
        if (st->transient) {
                (void) upload_remove(st->upload);
                store_upload_release(st->upload);
                st->upload = NULL;
                return;
        }
        if (!req->finished || st->err)
                (void) upload_truncate(st->upload, st->start);
}

/* The answer is decided: give the session back now, before the answer goes out, so
 * the client's next request on it (maybe on another connection) finds it free
 * rather than busy. */
static void upload_settle(request_t *req) {
        upload_state_t *st = req->state;

        upload_undo(req);
        if (st) {
                store_upload_release(st->upload);
                st->upload = NULL;
                if (st->transient)
                        mpupload_discard(st->mp); /* off this thread; only given back once committed */
                else
                        mpupload_release(st->mp); /* unsaved bytes are forgotten: undone */
                st->mp = NULL;
        }
}

/* ops->cleanup: undo what did not finish, give the session back, then free the
 * buffers (the session's hashing thread may read one until it is released). */
static void upload_cleanup(request_t *req) {
        upload_state_t *st = req->state;

        if (!st)
                return;
        upload_settle(req);
        free(st->wc[0]);
        free(st->wc[1]);
        free(st);
        req->state = NULL;
}

/* Commit the session to digest want and link the blob to the repository
 * (storage/registry.c: the file first, then the row). true: the connection is
 * suspended while the session's commit runs on its thread (called again then). */
static bool upload_finish(request_t *req, const digest_t *want) {
        upload_state_t *st = req->state;
        meta_t *m;
        int r;

        if (!(m = request_meta(req)))
                return false;
        if (st->mp) {
                /* a commit under way is waited for even while the server drains
                 * (it ends within the store's time limits): it may have made the blob
                 * visible, and its outcome is the answer */
                while ((r = mpupload_commit_step(st->mp, req->repo, want, NULL)) == 1)
                        if ((r = mpupload_committing(st->mp) ? mpupload_wait(st->mp, req_suspend, req_resume, req)
                                                             : mp_wait(req, st)) != 0)
                                break;
                if (r == 1)
                        return true;
                if (r < 0) {
                        if (r != BERTH_EDIGEST && r != -ESHUTDOWN) /* draining: answered 503 */
                                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s repo='%s' blob commit: %s", req->id,
                                        req->repo, berth_strerror(r));
                        reply_errno(req, r, want->str);
                        return false;
                }
                blob_created(req, want);
                return false;
        }
        r = registry_upload_commit(req->srv->store, m, st->upload, req->repo, want, NULL);
        if (r < 0) {
                if (r != BERTH_EDIGEST)
                        log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s repo='%s' blob commit: %s", req->id,
                                req->repo, berth_strerror(r));
                /* a no-op when the session is gone (committed, the row failed) */
                (void) upload_truncate(st->upload, st->start);
                reply_errno(req, r, want->str);
                return false;
        }
        st->transient = false; /* the session is gone: nothing to undo */
        blob_created(req, want);
        return false;
}

/* ---- POST /v2/<name>/blobs/uploads/ ---- */

static void upload_start_rest(request_t *req);

/* The mount's link (registry_blob_mount: whether the blob is there, asked of the
 * store before the row's transaction and again inside it) on a thread of its own,
 * the connection suspended meanwhile, the rows on a connection of the database's
 * pool: the store's answers never hold the event-loop thread. */
static void *mount_main(void *arg) {
        request_t *req = arg;
        upload_state_t *st = req->state;
        meta_t *m = NULL;
        int r = meta_open_pooled(server_db(req->srv), &m);

        if (r >= 0)
                r = registry_blob_mount(req->srv->store, m, req->repo, &st->mount_digest, st->mount_size);
        meta_free(m);
        st->mount_r = r;
        req_resume(req); /* the last touch: the request goes on without this thread */
        return NULL;
}

/* Back on the event-loop thread with the mount's outcome. */
static void upload_mount_done(request_t *req) {
        upload_state_t *st = req->state;

        if (st->mount_r < 0)
                reply_errno(req, st->mount_r, NULL);
        else if (st->mount_r > 0)
                blob_created(req, &st->mount_digest);
        else
                upload_start_rest(req); /* not there: an upload as asked */
}

/* 1 answered (mounted, or failed), 0 not mountable here (go on with an upload), 2
 * suspended: upload_mount_done goes on once the store answered. */
static int try_mount(request_t *req, meta_t *m, const digest_t *d, const char *from) {
        _cleanup_free_ char *found = NULL;
        upload_state_t *st;
        uint64_t size;
        int r;

        /* a mount needs pull access on the source */
        if (from) {
                if (!name_repo_valid(from, strlen(from)) || !access_may_pull(req, from))
                        return 0;
                r = meta_blob_linked(m, from, d, &size);
        } else {
                r = meta_blob_find_repo(m, d, &found, &size);
                if (r > 0 && !access_may_pull(req, found))
                        return 0;
        }
        if (r <= 0)
                return 0;
        if (mpupload_offered(req->srv->store) && req_may_wait(req)) {
                /* the store is remote (S3): asked beside the event loop */
                if (!(st = upload_state(req)))
                        return 1;
                st->mount_digest = *d;
                st->mount_size = size;
                if ((r = req_spawn_then(req, upload_mount_done, mount_main)) < 0) {
                        st->mount_r = r;
                        req_resume(req); /* answered by upload_mount_done */
                }
                return 2;
        }
        r = registry_blob_mount(req->srv->store, m, req->repo, d, size);
        if (r == 0)
                return 0;
        if (r < 0) {
                reply_errno(req, r, NULL);
                return 1;
        }
        blob_created(req, d);
        return 1;
}

static void upload_start_begin(request_t *req) {
        const char *mount = req_query(req, "mount");
        digest_t d;
        meta_t *m;

        if (!(m = request_meta(req)))
                return;
        if (req->content_length != UINT64_MAX && req->content_length > req->srv->cfg->blob_max_size) {
                reply_errno(req, BERTH_ETOOBIG, NULL);
                return;
        }
        if (mount && digest_parse(mount, &d) == 0 && try_mount(req, m, &d, req_query(req, "from")))
                return; /* answered, or suspended: upload_mount_done goes on */
        upload_start_rest(req);
}

/* The POST once no mount answered it: a monolithic upload, or a session begun. */
static void upload_start_rest(request_t *req) {
        const char *dig = req_query(req, "digest");
        const char *algname = req_query(req, "digest-algorithm");
        char uuid[UPLOAD_UUID_LEN + 1];
        digest_alg_t alg = DIGEST_SHA256;
        digest_t d;
        meta_t *m;
        int r;

        if (!(m = request_meta(req)))
                return;
        if (algname && digest_alg_parse(algname, &alg) < 0) {
                reply_errno(req, BERTH_EDIGEST_INVALID, "unsupported digest-algorithm");
                return;
        }
        if (dig) { /* monolithic upload: the body is the blob */
                upload_state_t *st;
                if (digest_parse(dig, &d) < 0) {
                        reply_errno(req, BERTH_EDIGEST_INVALID, NULL);
                        return;
                }
                if (!(st = upload_state(req)))
                        return;
                st->digest = d;
                /* the declared size against the quota, before a byte is stored */
                st->room = quota_room(req, &d);
                if (req->content_length != UINT64_MAX && req->content_length > st->room) {
                        quota_reply(req, NULL);
                        return;
                }
                if (mpupload_offered(req->srv->store)) {
                        /* S3: a session of this request's own, whose body goes up
                         * under its digest as it arrives (mpupload_direct) */
                        r = mpupload_create(req->srv->store, m, req->repo, d.alg, uuid);
                        if (r == 0) {
                                st->transient = true;
                                r = mpupload_acquire(req->srv->store, m, uuid, &st->mp);
                                if (r < 0)
                                        (void) meta_upload_delete(m, uuid);
                        }
                        if (r == 0)
                                r = mpupload_direct(st->mp, &d);
                        if (r < 0) {
                                reply_errno(req, r, NULL);
                                upload_settle(req);
                                return;
                        }
                        req->body_mode = BODY_HANDLER;
                        return;
                }
                r = store_upload_create(req->srv->store, d.alg, uuid);
                if (r == 0)
                        r = store_upload_acquire(req->srv->store, uuid, &st->upload);
                if (r < 0) {
                        reply_errno(req, r, NULL);
                        return;
                }
                st->transient = true;
                req->body_mode = BODY_HANDLER;
                return;
        }
        /* a project at or over its quota starts no upload (a mount was tried above) */
        if (quota_refuse(req, NULL, req->content_length != UINT64_MAX && req->content_length ? req->content_length : 1))
                return;
        if (mpupload_offered(req->srv->store)) {
                /* S3: the session in the database and the bucket, any replica continues it */
                r = mpupload_create(req->srv->store, m, req->repo, alg, uuid);
                if (r < 0) {
                        reply_errno(req, r, NULL);
                        return;
                }
                reply_empty(req, 202);
                upload_location(req, uuid, 0);
                return;
        }
        r = store_upload_create(req->srv->store, alg, uuid);
        if (r == 0)
                r = meta_upload_add(m, uuid, req->repo);
        if (r < 0) {
                (void) store_upload_delete(req->srv->store, uuid);
                reply_errno(req, r, NULL);
                return;
        }
        reply_empty(req, 202);
        upload_location(req, uuid, 0);
}

static void upload_start_end(request_t *req) {
        upload_state_t *st = req->state;

        upload_data_done(st);
        if (st->err)
                reply_errno(req, st->err, NULL);
        else if (upload_finish(req, &st->digest)) /* parsed in upload_start_begin */
                return; /* called again once the parts and the commit are done */
        upload_settle(req);
}
const route_ops_t route_upload_start = {
        .flags = ROUTE_WRITE,
        .name = "upload-start",
        .actions = AUTH_PUSH | AUTH_PULL,
        .begin = upload_start_begin,
        .data = upload_data,
        .end = upload_start_end,
        .cleanup = upload_cleanup,
};

/* ---- the session routes: /v2/<name>/blobs/uploads/<uuid> ---- */

static void upload_unknown(request_t *req) {
        reply_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", req->ref);
}

/* Find the session and check it belongs to this repository: 0, or -1 answered. */
static int session_find(request_t *req) {
        _cleanup_free_ char *owner = NULL;
        meta_t *m;
        int r;

        if (!(m = request_meta(req)))
                return -1;
        r = meta_upload_get(m, req->ref, &owner);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return -1;
        }
        if (r == 0 || strcmp(owner, req->repo) != 0) {
                upload_unknown(req);
                return -1;
        }
        return 0;
}

/* Another request holds the session: its body is still arriving. Answer at once from
 * the committed state, never waiting for that request (it may never finish). */
static void session_busy(request_t *req) {
        uint64_t size;
        int r;

        if (req->ops == &route_upload_delete) {
                reply_errno(req, BERTH_EBUSY, "another request is writing to this upload");
                return;
        }
        /* PATCH, PUT: they cannot continue an upload that is still being written */
        if (mpupload_offered(req->srv->store))
                r = mpupload_committed(request_meta(req), req->ref, &size);
        else
                r = store_upload_committed(req->srv->store, req->ref, &size);
        if (r == -ENOENT) {
                upload_unknown(req);
                return;
        }
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        reply_error(req, 416, "BLOB_UPLOAD_INVALID", "another request is writing to this upload", req->ref);
        upload_location(req, req->ref, size);
}

/* Find the session, check it belongs to this repository and take it: 0, or -1
 * answered. */
static int session_take(request_t *req, upload_state_t *st) {
        int r;

        if (session_find(req) < 0)
                return -1;
        if (mpupload_offered(req->srv->store))
                r = mpupload_acquire(req->srv->store, request_meta(req), req->ref, &st->mp);
        else
                r = store_upload_acquire(req->srv->store, req->ref, &st->upload);
        if (r == -ENOENT || r == -EINVAL) {
                upload_unknown(req);
                return -1;
        }
        if (r == BERTH_EBUSY) {
                session_busy(req);
                return -1;
        }
        if (r < 0) {
                reply_errno(req, r, NULL);
                return -1;
        }
        st->start = st_size(st);
        return 0;
}

/* A chunk with Content-Range must start at the current end. */
static int check_chunk(request_t *req, const upload_state_t *st) {
        const char *cr = req_header(req, "Content-Range");
        uint64_t start, end;

        if (!cr)
                return 0;
        if (http_content_range_parse(cr, &start, &end) < 0 || start != st->start ||
            (req->content_length != UINT64_MAX && req->content_length != end - start + 1)) {
                reply_error(req, 416, "BLOB_UPLOAD_INVALID", "chunk does not continue the upload", cr);
                upload_location(req, req->ref, st->start);
                return -1;
        }
        return 0;
}

/* The upload so far and this request's declared body against the quota (digest:
 * the blob's, when known): 0, or -1 refused (answered, the session given back). */
static int quota_chunk(request_t *req, upload_state_t *st, const digest_t *digest) {
        st->room = quota_room(req, digest);
        if (req->content_length == UINT64_MAX || st->room == USAGE_UNLIMITED ||
            st->start + req->content_length <= st->room)
                return 0;
        quota_reply(req, NULL);
        upload_settle(req);
        return -1;
}

static void upload_patch_begin(request_t *req) {
        upload_state_t *st = upload_state(req);

        if (!st || session_take(req, st) < 0)
                return;
        if (check_chunk(req, st) < 0) {
                upload_settle(req); /* not while a refused body is read and dropped */
                return;
        }
        if (quota_chunk(req, st, NULL) < 0)
                return;
        req->body_mode = BODY_HANDLER;
}

static void upload_patch_end(request_t *req) {
        upload_state_t *st = req->state;

        upload_data_done(st);
        if (!st->err && st->mp) {
                /* the parts acknowledged, the tail put, the row written (the old
                 * tail removed after, not waited for): the store's requests on
                 * threads, the connection suspended meanwhile */
                int r;
                while ((r = mpupload_save_step(st->mp)) == 1)
                        if ((r = mp_wait(req, st)) != 0)
                                break;
                if (r == 1)
                        return; /* called again once resumed */
                if (r < 0 && (st->err = r) != -ESHUTDOWN)
                        log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s repo='%s' upload chunk: %s", req->id,
                                req->repo, berth_strerror(st->err));
        }
        if (st->err) {
                (void) upload_truncate(st->upload, st->start);
                reply_errno(req, st->err, NULL);
        } else {
                reply_empty(req, 202);
                upload_location(req, req->ref, st_size(st));
        }
        upload_settle(req);
}
const route_ops_t route_upload_patch = {
        .flags = ROUTE_WRITE,
        .name = "upload-patch",
        .actions = AUTH_PUSH | AUTH_PULL,
        .begin = upload_patch_begin,
        .data = upload_data,
        .end = upload_patch_end,
        .cleanup = upload_cleanup,
};

static void upload_put_begin(request_t *req) {
        upload_state_t *st;
        digest_t d;

        if (digest_parse(req_query(req, "digest"), &d) < 0) {
                reply_errno(req, BERTH_EDIGEST_INVALID, "the digest query parameter is missing or invalid");
                return;
        }
        if (!(st = upload_state(req)))
                return;
        st->digest = d; /* for upload_put_end */
        if (session_take(req, st) < 0)
                return;
        if (check_chunk(req, st) < 0) {
                upload_settle(req);
                return;
        }
        if (quota_chunk(req, st, &d) < 0)
                return;
        if (st->mp && st->start == 0 && req->content_length != 0) {
                /* the whole blob in this PUT: it goes up under its digest as it
                 * arrives, from this request's buffers (mpupload_direct) */
                int r = mpupload_direct(st->mp, &d);
                if (r < 0) {
                        reply_errno(req, r, NULL);
                        upload_settle(req);
                        return;
                }
        }
        req->body_mode = BODY_HANDLER;
}

static void upload_put_end(request_t *req) {
        upload_state_t *st = req->state;

        upload_data_done(st);
        if (st->err) {
                (void) upload_truncate(st->upload, st->start);
                reply_errno(req, st->err, NULL);
        } else if (upload_finish(req, &st->digest)) {
                return; /* called again once the parts and the commit are done */
        }
        upload_settle(req);
}
const route_ops_t route_upload_put = {
        .flags = ROUTE_WRITE,
        .name = "upload-put",
        .actions = AUTH_PUSH | AUTH_PULL,
        .begin = upload_put_begin,
        .data = upload_data,
        .end = upload_put_end,
        .cleanup = upload_cleanup,
};

/* Status never takes the session: it answers from the committed state, also while
 * another request is writing to it. */
static void upload_status_begin(request_t *req) {
        uint64_t size;
        int r;

        if (session_find(req) < 0)
                return;
        if (mpupload_offered(req->srv->store))
                r = mpupload_committed(request_meta(req), req->ref, &size);
        else
                r = store_upload_committed(req->srv->store, req->ref, &size);
        if (r == -ENOENT) {
                upload_unknown(req);
                return;
        }
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        reply_empty(req, 204);
        upload_location(req, req->ref, size);
}
const route_ops_t route_upload_status = {
        .name = "upload-status",
        .actions = AUTH_PUSH | AUTH_PULL,
        .begin = upload_status_begin,
};

static void upload_delete_answer(request_t *req, int r);

/* On S3: the session's objects and rows removed by a thread while the connection
 * waits suspended (called again, as the begin's continuation, once resumed). */
static void upload_delete_mp(request_t *req) {
        upload_state_t *st = req->state;
        int r;

        req->auth_resume = NULL;
        if (!req_may_wait(req) && !mpupload_removing(st->mp)) {
                r = mpupload_remove(st->mp); /* draining: not waited for anew, here as before */
        } else {
                while ((r = mpupload_remove_step(st->mp)) == 1) {
                        /* under way: waited for, even while draining (its outcome is the answer) */
                        req->auth_resume = upload_delete_mp;
                        if ((r = mpupload_wait(st->mp, req_suspend, req_resume, req)) == 1)
                                return;
                        req->auth_resume = NULL;
                        if (r < 0)
                                break;
                }
        }
        upload_delete_answer(req, r);
        upload_settle(req); /* the session given back (gone once removed) */
}

static void upload_delete_begin(request_t *req) {
        upload_state_t st = { .upload = NULL }, *mst;
        int r;

        if (mpupload_offered(req->srv->store)) {
                if (!(mst = upload_state(req)) || session_take(req, mst) < 0)
                        return;
                upload_delete_mp(req);
                return;
        }
        if (session_take(req, &st) < 0)
                return;
        r = upload_remove(st.upload);
        store_upload_release(st.upload);
        upload_delete_answer(req, r);
}

static void upload_delete_answer(request_t *req, int r) {
        meta_t *m;

        if (r == -ENOENT) {
                upload_unknown(req);
                return;
        }
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        if ((m = server_meta(req->srv)))
                (void) meta_upload_delete(m, req->ref);
        reply_empty(req, 204);
}
const route_ops_t route_upload_delete = {
        .flags = ROUTE_WRITE,
        .name = "upload-delete",
        .actions = AUTH_PUSH | AUTH_PULL,
        .begin = upload_delete_begin,
        .cleanup = upload_cleanup,
};

/* ---- expiry of abandoned sessions ---- */

typedef struct {
        server_t *srv;
        meta_t *meta; /* the main thread's */
} expiry_t;

static void expire_one(void *userdata, const char *uuid) {
        expiry_t *x = userdata;
        int r = store_upload_delete(x->srv->store, uuid);

        /* Held by a request (its body still arriving, however slowly): not abandoned,
         * and never waited for (this runs on the main loop, which handles signals). */
        if (r == BERTH_EBUSY)
                return;
        if (r == 0)
                log_msg(LOG_INFO, LOG_SRC_SERVER, "expired abandoned upload %s", uuid);
        (void) meta_upload_delete(x->meta, uuid);
}

/* Several berthd on one database (PostgreSQL) share the upload directory too: one
 * of them expires at a time, under the database's lock for the job, held on a
 * connection of this thread for the round (its own: db_conn_get hands it out). GC
 * runs (server/gc.c) expire old sessions too, by the same store calls: a session
 * is removed once whoever gets to it first, never while a request holds it. */
void uploads_expire(server_t *srv) {
        expiry_t x = { .srv = srv };
        db_t *db = server_db(srv);
        db_conn_t *c = NULL;
        int r;

        r = server_meta_get(srv, &x.meta); /* a lost connection reopened first */
        if (r == 0)
                r = db_conn_get(db, &c);
        if (r < 0) {
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "upload expiry skipped: metadata: %s", berth_strerror(r));
                return;
        }
        r = db_lock_try(c, DB_LOCK_UPLOAD_EXPIRY);
        if (r == 0)
                log_msg(LOG_DEBUG, LOG_SRC_SERVER, "upload expiry: another berthd is at it");
        else if (r < 0)
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "upload expiry skipped: its lock: %s", berth_strerror(r));
        if (r <= 0) {
                db_conn_put(db, c);
                return;
        }
        r = store_upload_scan_old(srv->store, srv->cfg->upload_max_age, expire_one, &x);
        if (r < 0)
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "scanning uploads: %s", berth_strerror(r));
        /* sessions in the bucket (S3): their multipart uploads aborted, rows removed */
        if (mpupload_offered(srv->store)) {
                uint64_t n = 0;
                r = mpupload_expire(srv->store, x.meta, srv->cfg->upload_max_age,
                                    server_now(srv), false, &n);
                if (r < 0)
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "expiring uploads in the bucket: %s", berth_strerror(r));
                else if (n)
                        log_msg(LOG_INFO, LOG_SRC_SERVER, "expired %" PRIu64 " abandoned upload(s) in the bucket", n);
        }
        db_unlock(c, DB_LOCK_UPLOAD_EXPIRY);
        db_conn_put(db, c);
}
