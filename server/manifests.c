/* server/manifests.c: manifest PUT/GET/HEAD/DELETE by tag or digest. Manifests are
 * stored byte-exact as blobs and served with the media type they were pushed with. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "common/name.h"
#include "server/pulls.h"
#include "server/pullthrough.h"
#include "server/server.h"
#include "server/webhook.h"
#include "storage/registry.h"
#include "storage/retention.h"

DEFINE_CLEANUP_FUNC(manifest_t, manifest_free);

/* A tag or a digest; answers the error itself. */
static int check_reference(request_t *req, digest_t *ret_digest, bool *ret_is_digest) {
        if (digest_ref_is_digest(req->ref)) {
                if (digest_parse(req->ref, ret_digest) < 0) {
                        reply_errno(req, BERTH_EDIGEST_INVALID, req->ref);
                        return -1;
                }
                *ret_is_digest = true;
                return 0;
        }
        if (!name_tag_valid(req->ref, strlen(req->ref))) {
                /* only a push names a new tag; a tag outside the grammar cannot exist */
                if (strcmp(req->method, "PUT") == 0)
                        reply_errno(req, BERTH_ETAG_INVALID, NULL);
                else
                        reply_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown to registry", NULL);
                return -1;
        }
        *ret_is_digest = false;
        return 0;
}

/* 403 DENIED for a write an immutable tag refused (storage/retention.h), naming
 * the tag and the project's pattern: tags (n of them) for a push or a tag delete,
 * d for a delete by digest. */
static void reply_immutable(request_t *req, meta_t *m, const char *const *tags, size_t n, const digest_t *d) {
        char msg[512], project[256];
        char *tag = NULL, *pattern = NULL;

        (void) snprintf(project, sizeof(project), "%.*s", (int) strcspn(req->repo, "/"), req->repo);
        for (size_t i = 0; i < n && !pattern; i++)
                if (meta_immutable_match(m, req->repo, tags[i], &pattern) == 1)
                        tag = strdup(tags[i]);
        if (!pattern && d)
                (void) meta_immutable_manifest(m, req->repo, d, &tag, &pattern);
        if (pattern && tag && d)
                (void) snprintf(msg, sizeof(msg), "manifest %s is named by the immutable tag '%s' (project %s, rule "
                                "'%s')", d->str, tag, project, pattern);
        else if (pattern && tag)
                (void) snprintf(msg, sizeof(msg), "tag '%s' is immutable (project %s, rule '%s')", tag, project,
                                pattern);
        else
                (void) snprintf(msg, sizeof(msg), "an immutable tag of project %s refuses the change", project);
        free(tag);
        free(pattern);
        reply_errno(req, BERTH_EDENIED, msg);
}

/* ---- PUT ---- */

typedef struct {
        const char *v[64];
        size_t n;
        bool bad, too_many;
} tag_list_t;

static enum MHD_Result collect_tag(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        tag_list_t *t = cls;

        (void) kind;
        if (strcmp(key, "tag") != 0)
                return MHD_YES;
        if (!value || !name_tag_valid(value, strlen(value)))
                t->bad = true;
        else if (t->n >= ELEMENTSOF(t->v))
                t->too_many = true;
        else
                t->v[t->n++] = value;
        return MHD_YES;
}

/* A PUT's state (req->state): the reference checked once in begin; on a driver
 * without files (S3) the put itself (checks, the manifest's object, the rows) runs
 * on a thread of its own with the connection suspended (req_suspend_then), its
 * rows on a connection of the database's pool, so that the store's answers never
 * hold the event-loop thread; manifest_put_answer answers on that thread after. */
typedef struct {
        digest_t want;
        bool is_digest;
        tag_list_t tags;
        meta_origin_t origin;
        const char *ctype;
        registry_put_result_t res;
        int r;
} put_state_t;

static void manifest_put_begin(request_t *req) {
        put_state_t *st = calloc(1, sizeof(*st));

        if (!st) {
                reply_errno(req, -ENOMEM, NULL);
                return;
        }
        req->state = st;
        if (check_reference(req, &st->want, &st->is_digest) < 0)
                return;
        req->body_mode = BODY_BUFFER;
        req->body_max = MANIFEST_MAX_SIZE;
}

static void manifest_put_cleanup(request_t *req) {
        free(req->state);
        req->state = NULL;
}

/* The put's outcome (st->r, st->res) answered; m: NULL to take the request's. */
static void manifest_put_answer(request_t *req, meta_t *m) {
        put_state_t *st = req->state;
        const registry_put_result_t *res = &st->res;
        int r = st->r;

        if (r == BERTH_EDIGEST) {
                reply_errno(req, r, "the manifest does not match the digest in the URL");
                return;
        }
        if (r == BERTH_EMANIFEST) {
                reply_errno(req, r, res->detail);
                return;
        }
        if (r == BERTH_EMANIFEST_BLOB_UNKNOWN) {
                reply_errno(req, r, res->missing.str);
                return;
        }
        if (r == BERTH_EDENIED) {
                if (m || (m = request_meta(req)))
                        reply_immutable(req, m, st->tags.v, st->tags.n, NULL);
                return;
        }
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        access_audit(req, "push", res->digest.str);
        if (st->origin.queued)
                webhooks_kick(req->srv->webhooks);
        reply_empty(req, 201);
        reply_headerf(req, "Location", "/v2/%s/manifests/%s", req->repo, res->digest.str);
        reply_header(req, "Docker-Content-Digest", res->digest.str);
        if (res->has_subject)
                reply_header(req, "OCI-Subject", res->subject.str);
        for (size_t i = 0; i < st->tags.n; i++)
                reply_header(req, "OCI-Tag", st->tags.v[i]);
}

static void manifest_put_done(request_t *req) {
        manifest_put_answer(req, NULL);
}

static void *manifest_put_main(void *arg) {
        request_t *req = arg;
        put_state_t *st = req->state;
        meta_t *m = NULL;
        int r = meta_open_pooled(server_db(req->srv), &m);

        if (r >= 0)
                r = registry_manifest_put_from(req->srv->store, m, req->repo, req->body, req->body_len, st->ctype,
                                               st->is_digest ? &st->want : NULL, st->tags.v, st->tags.n,
                                               &st->origin, &st->res);
        meta_free(m);
        st->r = r;
        req_resume(req); /* the last touch: the request goes on without this thread */
        return NULL;
}

static void manifest_put_end(request_t *req) {
        put_state_t *st = req->state; /* the reference checked in begin */
        meta_t *m;

        st->ctype = req_header(req, "Content-Type");
        st->origin = req_origin(req);
        if (!st->is_digest)
                st->tags.v[st->tags.n++] = req->ref;
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_tag, &st->tags);
        if (st->tags.bad) {
                reply_errno(req, BERTH_ETAG_INVALID, "a tag query parameter is invalid");
                return;
        }
        if (st->tags.too_many) {
                reply_errno(req, BERTH_ETOOBIG, "too many tags");
                return;
        }
        if (!store_has_files(req->srv->store) && req_may_wait(req)) {
                int r = req_spawn_then(req, manifest_put_done, manifest_put_main);

                if (r < 0) {
                        st->r = r;
                        req_resume(req); /* answered by manifest_put_done */
                }
                return;
        }
        if (!(m = request_meta(req)))
                return;
        /* storage/registry.c: checked, then the file, then the rows */
        st->r = registry_manifest_put_from(req->srv->store, m, req->repo, req->body, req->body_len, st->ctype,
                                           st->is_digest ? &st->want : NULL, st->tags.v, st->tags.n, &st->origin,
                                           &st->res);
        manifest_put_answer(req, m);
}
const route_ops_t route_manifest_put = { .name = "manifest-put", .actions = AUTH_PUSH | AUTH_PULL,
                                         .flags = ROUTE_WRITE,
                                         .begin = manifest_put_begin, .end = manifest_put_end,
                                         .cleanup = manifest_put_cleanup };

/* ---- GET / HEAD ---- */

/* Does the Accept header allow media type mt? No Accept header allows everything. */
static bool accepts(const char *accept, const char *mt) {
        size_t l = strlen(mt);

        if (!accept || !*accept)
                return true;
        for (const char *p = accept; (p = strstr(p, mt)); p += l) {
                char after = p[l];
                bool starts = p == accept || p[-1] == ',' || p[-1] == ' ';
                if (starts && (after == '\0' || after == ',' || after == ';' || after == ' '))
                        return true;
        }
        return strstr(accept, "*/*") != NULL;
}

/* A client that cannot take a manifest list gets the linux/amd64 image (what
 * distribution does for old docker clients). 1 replaced *info, 0 keep, <0 error. */
typedef struct {
        char buf[4096];
        size_t len;
        bool any;
} accept_t;

/* Clients send one Accept line per media type: join them all. */
static enum MHD_Result collect_accept(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        accept_t *a = cls;
        size_t l;

        (void) kind;
        if (strcasecmp(key, "Accept") != 0 || !value)
                return MHD_YES;
        a->any = true;
        l = strlen(value);
        if (a->len + l + 2 < sizeof(a->buf)) {
                if (a->len)
                        a->buf[a->len++] = ',';
                memcpy(a->buf + a->len, value, l);
                a->len += l;
                a->buf[a->len] = '\0';
        } else if (a->len + 5 < sizeof(a->buf)) {
                /* absurdly long: be generous rather than break a client */
                memcpy(a->buf + a->len, ",*/*", 5);
                a->len += 4;
        }
        return MHD_YES;
}

/* The bytes of a manifest file (a driver with files): *ret (caller frees) and
 * *ret_size. -ENOENT, BERTH_ETOOBIG over MANIFEST_MAX_SIZE, <0. */
static int manifest_load(store_t *st, const digest_t *d, char **ret, uint64_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        uint64_t size;
        size_t got;
        int r;

        r = store_blob_stat(st, d, &size);
        if (r == 0)
                return -ENOENT;
        if (r < 0)
                return r;
        if (size > MANIFEST_MAX_SIZE)
                return BERTH_ETOOBIG;
        buf = malloc(size ? size : 1);
        if (!buf)
                return -ENOMEM;
        r = store_blob_read(st, d, 0, buf, size, &got);
        if (r < 0)
                return r;
        if (got != size)
                return -EIO;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* On a driver without files (S3) a manifest's bytes are asked of the store off the
 * event loop: the connection is suspended while blob_fetch reads them whole (a
 * manifest is at most MANIFEST_MAX_SIZE, less than one read block), and the route's
 * end runs the GET again with them in hand (req->state). An index answered as its
 * linux/amd64 image takes two reads: the index, then the image. */
typedef struct {
        digest_t d;
        char *buf; /* NULL: err says why */
        size_t len;
        int err;
} fetched_t;

typedef struct {
        blob_fetch_t *f;
        digest_t fetching;
        fetched_t got[2];
        unsigned n_got;
} get_state_t;

#define MANIFEST_FETCHING 2 /* suspended: the route's end runs the GET again */

/* The bytes of manifest d (row_size by its row): *ret (caller frees) and *ret_size;
 * MANIFEST_FETCHING when they are being read; -ENOENT, BERTH_ETOOBIG, <0. */
static int manifest_bytes(request_t *req, const digest_t *d, uint64_t row_size, char **ret, uint64_t *ret_size) {
        store_t *st = req->srv->store;
        get_state_t *gs = req->state;
        int r;

        if (store_has_files(st))
                return manifest_load(st, d, ret, ret_size);
        for (unsigned i = 0; gs && i < gs->n_got; i++) {
                const fetched_t *g = &gs->got[i];
                char *b;

                if (!digest_equal(&g->d, d))
                        continue;
                if (!g->buf)
                        return g->err;
                if (!(b = malloc(g->len ? g->len : 1)))
                        return -ENOMEM;
                memcpy(b, g->buf, g->len);
                *ret = b;
                *ret_size = g->len;
                return 0;
        }
        if (row_size > MANIFEST_MAX_SIZE)
                return BERTH_ETOOBIG;
        if (row_size == 0 || (gs && gs->n_got == ELEMENTSOF(gs->got)))
                return -EIO; /* never: a manifest is not empty, and a GET reads two at most */
        if (!req_may_wait(req))
                return -ESHUTDOWN;
        if (!gs) {
                if (!(gs = calloc(1, sizeof(*gs))))
                        return -ENOMEM;
                req->state = gs;
        }
        gs->fetching = *d;
        r = blob_fetch_start(req, st, d, false, 0, row_size, &gs->f);
        return r < 0 ? r : MANIFEST_FETCHING;
}

static int negotiate(request_t *req, meta_t *m, meta_manifest_info_t *info) {
        accept_t acc = { .len = 0 };
        const char *accept;
        _cleanup_(manifest_freep) manifest_t *mf = NULL;
        _cleanup_free_ char *buf = NULL;
        const char *detail;
        uint64_t size;
        int r;

        if (strcmp(info->media_type, MT_OCI_INDEX) != 0 && strcmp(info->media_type, MT_DOCKER_LIST) != 0)
                return 0;
        MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_accept, &acc);
        accept = acc.any ? acc.buf : NULL;
        if (accepts(accept, info->media_type) || accepts(accept, MT_OCI_INDEX) || accepts(accept, MT_DOCKER_LIST))
                return 0;
        r = manifest_bytes(req, &info->digest, info->size, &buf, &size);
        if (r == MANIFEST_FETCHING)
                return r;
        if (r == -ENOENT || r == BERTH_ETOOBIG)
                return 0; /* a row without its file: the caller answers 404, as for any client */
        if (r < 0)
                return r;
        r = manifest_parse((const uint8_t *) buf, size, info->media_type, &mf, &detail);
        if (r == -ENOMEM)
                return r; /* the server's trouble: not a reason to answer with the index */
        if (r < 0)
                return 0;
        for (size_t i = 0; i < manifest_desc_count(mf); i++) {
                const manifest_desc_t *d = manifest_desc(mf, i);
                if (d->os && d->arch && !strcmp(d->os, "linux") && !strcmp(d->arch, "amd64")) {
                        meta_manifest_info_t child;
                        r = meta_manifest_get(m, req->repo, d->digest.str, &child);
                        if (r <= 0)
                                return r;
                        *info = child;
                        return 1;
                }
        }
        return 0;
}

static bool etag_matches(const char *inm, const char *digest) {
        return inm && (strstr(inm, digest) || strcmp(inm, "*") == 0);
}

static void manifest_get_begin(request_t *req) {
        if (pullthrough_manifest_get(req))
                return;
        manifest_get_local(req);
}

void manifest_get_local(request_t *req) {
        _cleanup_free_ char *body = NULL;
        meta_manifest_info_t info;
        uint64_t size;
        digest_t d;
        bool is_digest;
        meta_t *m;
        int r, fd = -1;

        if (check_reference(req, &d, &is_digest) < 0)
                return;
        if (!(m = request_meta(req)))
                return;
        r = meta_manifest_get(m, req->repo, req->ref, &info);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        if (r == 0) {
                reply_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown to registry", req->ref);
                return;
        }
        if (!is_digest && (r = negotiate(req, m, &info)) < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        if (r == MANIFEST_FETCHING)
                return;
        if (etag_matches(req_header(req, "If-None-Match"), info.digest.str)) {
                reply_empty(req, 304);
                reply_headerf(req, "ETag", "\"%s\"", info.digest.str);
                reply_header(req, "Docker-Content-Digest", info.digest.str);
                return;
        }
        if (store_has_files(req->srv->store))
                r = store_blob_open(req->srv->store, &info.digest, &fd, &size);
        else if ((r = manifest_bytes(req, &info.digest, info.size, &body, &size)) == MANIFEST_FETCHING)
                return;
        if (r == -ENOENT) { /* the row without its file (fsck's "missing") */
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s manifest %s has a row but no file", req->id,
                        info.digest.str);
                reply_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown to registry", req->ref);
                return;
        }
        if (r < 0) { /* there but unreadable now (no descriptor left, I/O error): the server's */
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s manifest %s: %s", req->id, info.digest.str,
                        berth_strerror(r));
                reply_errno(req, r, NULL);
                return;
        }
        if (!req->is_head) {
                access_audit(req, "pull", info.digest.str);
                pulls_count(req->srv->pulls, req->repo, &info.digest);
                webhooks_pulled(req->srv->webhooks, req->repo, info.digest.str, info.media_type, size);
        }
        if (body)
                reply_buffer(req, 200, body, size, NULL);
        else
                reply_fd(req, 200, fd, 0, size);
        reply_header(req, "Content-Type", info.media_type);
        reply_header(req, "Docker-Content-Digest", info.digest.str);
        reply_headerf(req, "ETag", "\"%s\"", info.digest.str);
}
/* Resumed: a manifest's bytes read (or not); the GET again with them in hand. */
static void manifest_get_end(request_t *req) {
        get_state_t *gs = req->state;
        fetched_t *g;

        if (!gs || !gs->f)
                return; /* not ours: answered 500 */
        g = &gs->got[gs->n_got++];
        g->d = gs->fetching;
        g->err = blob_fetch_result(gs->f, NULL);
        if (g->err == 0 && !(g->buf = blob_fetch_take(gs->f, &g->len)))
                g->err = -EIO;
        gs->f = blob_fetch_free(gs->f);
        if (g->err < 0 && g->err != -ENOENT)
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s manifest %s: reading it from the store: %s", req->id,
                        g->d.str, berth_strerror(g->err));
        manifest_get_local(req);
}

static void manifest_get_cleanup(request_t *req) {
        get_state_t *gs = req->state;

        if (!gs)
                return;
        blob_fetch_free(gs->f);
        for (unsigned i = 0; i < gs->n_got; i++)
                free(gs->got[i].buf);
        free(gs);
        req->state = NULL;
}

const route_ops_t route_manifest_get = {
        .name = "manifest-get",
        .actions = AUTH_PULL,
        .begin = manifest_get_begin,
        .end = manifest_get_end,
        .cleanup = manifest_get_cleanup,
};

/* ---- DELETE ---- */

static void manifest_delete_begin(request_t *req) {
        meta_origin_t origin = req_origin(req);
        digest_t d;
        bool is_digest;
        meta_t *m;
        int r;

        if (!req->srv->cfg->delete_enabled) {
                reply_errno(req, BERTH_EUNSUPPORTED, "deletes are disabled on this registry");
                return;
        }
        if (check_reference(req, &d, &is_digest) < 0)
                return;
        if (!(m = request_meta(req)))
                return;
        r = is_digest ? meta_manifest_delete_from(m, req->repo, &d, &origin)
                      : meta_tag_delete_from(m, req->repo, req->ref, &origin);
        if (origin.queued)
                webhooks_kick(req->srv->webhooks);
        if (r == BERTH_EDENIED)
                reply_immutable(req, m, (const char *const *) &req->ref, is_digest ? 0 : 1, is_digest ? &d : NULL);
        else if (r < 0)
                reply_errno(req, r, NULL);
        else if (r == 0)
                reply_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown to registry", req->ref);
        else {
                access_audit(req, "delete", req->ref);
                reply_empty(req, 202);
        }
}
const route_ops_t route_manifest_delete = {
        .flags = ROUTE_WRITE,
        .name = "manifest-delete",
        .actions = AUTH_DELETE,
        .begin = manifest_delete_begin,
};
