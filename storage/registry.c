/* storage/registry.c: the write protocol: file durable and linked first, metadata row
 * second, never a row without its file (see registry.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "storage/proxycache.h"
#include "storage/mpupload.h"
#include "storage/registry.h"

DEFINE_CLEANUP_FUNC(manifest_t, manifest_free);

static void (*crash_point)(void);

void registry_test_set_crash_point(void (*fn)(void)) {
        crash_point = fn;
}

static void between_file_and_row(void) {
        if (crash_point)
                crash_point();
}

static int ensure_upload(void *userdata) {
        return upload_commit_ensure(userdata);
}

int registry_upload_commit(store_t *s, meta_t *m, upload_t *u, const char *repo, const digest_t *want,
                           uint64_t *ret_size) {
        char uuid[UPLOAD_UUID_LEN + 1];
        uint64_t size;
        int r;

        (void) s;
        if (!m || !u || !repo || !want)
                return -EINVAL;
        memcpy(uuid, upload_uuid(u), sizeof(uuid) - 1);
        uuid[sizeof(uuid) - 1] = '\0';
        /* the blob's file linked, the session's file kept until the row is in: a GC
         * that swept the blob meanwhile (the link found it there: deduplicated) is
         * undone from it, inside the row's transaction */
        r = upload_commit_keep(u, want, &size);
        if (r < 0)
                return r;
        between_file_and_row();
        r = meta_blob_link_quota(m, repo, want, size, ensure_upload, u);
        upload_commit_done(u);
        if (r < 0)
                return r;
        (void) meta_upload_delete(m, uuid);
        if (ret_size)
                *ret_size = size;
        return 0;
}

typedef struct {
        store_t *store;
        const digest_t *digest;
} mount_t;

/* In the link's transaction: the file is there (no GC can take it away until the
 * commit), or the mount is refused. */
static int ensure_present(void *userdata) {
        mount_t *mt = userdata;
        int r = store_blob_stat(mt->store, mt->digest, NULL);

        return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

static int blob_mount(store_t *s, meta_t *m, const char *repo, const digest_t *d, uint64_t size, bool quota) {
        mount_t mt = { .store = s, .digest = d };
        int r = store_blob_stat(s, d, NULL);

        if (r <= 0)
                return r;
        between_file_and_row();
        r = quota ? meta_blob_link_quota(m, repo, d, size, ensure_present, &mt)
                  : meta_blob_link_ensure(m, repo, d, size, ensure_present, &mt);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : 1;
}

int registry_blob_mount(store_t *s, meta_t *m, const char *repo, const digest_t *d, uint64_t size) {
        return blob_mount(s, m, repo, d, size, true);
}

int registry_blob_cache_link(store_t *s, meta_t *m, const char *repo, const digest_t *d, uint64_t size) {
        return blob_mount(s, m, repo, d, size, false);
}

/* Is every reference in repo? 0 yes, BERTH_EMANIFEST_BLOB_UNKNOWN (*missing) no. */
static int refs_present(meta_t *m, const char *repo, const meta_ref_t *refs, size_t n, digest_t *missing) {
        for (size_t i = 0; i < n; i++) {
                int r;

                if (refs[i].is_manifest) {
                        meta_manifest_info_t info;
                        r = meta_manifest_get(m, repo, refs[i].digest.str, &info);
                } else
                        r = meta_blob_linked(m, repo, &refs[i].digest, NULL);
                if (r < 0)
                        return r;
                if (r == 0) {
                        *missing = refs[i].digest;
                        return BERTH_EMANIFEST_BLOB_UNKNOWN;
                }
        }
        return 0;
}

typedef struct {
        store_t *store;
        const digest_t *digest;
        const void *buf;
        size_t len;
} manifest_file_t;

static int ensure_manifest_file(void *userdata) {
        manifest_file_t *mf = userdata;
        int r = store_blob_stat(mf->store, mf->digest, NULL);

        if (r != 0)
                return r < 0 ? r : 0;
        return store_blob_put(mf->store, mf->digest, mf->buf, mf->len);
}

int registry_manifest_put(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                          const char *content_type, const digest_t *want, const char *const *tags,
                          size_t n_tags, registry_put_result_t *ret) {
        return registry_manifest_put_from(s, m, repo, buf, len, content_type, want, tags, n_tags, NULL, ret);
}

static int manifest_put(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                        const char *content_type, const digest_t *want, const char *const *tags, size_t n_tags,
                        meta_origin_t *origin, bool refs_later, registry_put_result_t *ret);

int registry_manifest_put_from(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                               const char *content_type, const digest_t *want, const char *const *tags,
                               size_t n_tags, meta_origin_t *origin, registry_put_result_t *ret) {
        return manifest_put(s, m, repo, buf, len, content_type, want, tags, n_tags, origin, false, ret);
}

int registry_manifest_cache(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                            const char *content_type, const digest_t *want, const char *tag,
                            registry_put_result_t *ret) {
        const char *tags[1] = { tag };

        return manifest_put(s, m, repo, buf, len, content_type, want, tags, tag ? 1 : 0, NULL, true, ret);
}

static int manifest_put(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                        const char *content_type, const digest_t *want, const char *const *tags, size_t n_tags,
                        meta_origin_t *origin, bool refs_later, registry_put_result_t *ret) {
        _cleanup_(manifest_freep) manifest_t *mf = NULL;
        _cleanup_free_ meta_ref_t *refs = NULL;
        _cleanup_free_ char *annotations = NULL;
        meta_manifest_t rec = { .repo = repo, .origin = origin, .refs_later = refs_later };
        const manifest_desc_t *subj;
        size_t n;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (!buf)
                buf = "";
        r = digest_buf(want ? want->alg : DIGEST_SHA256, buf, len, &rec.digest);
        if (r < 0)
                return r;
        ret->digest = rec.digest;
        if (want && !digest_equal(want, &rec.digest))
                return BERTH_EDIGEST;
        r = manifest_parse(buf, len, content_type, &mf, &ret->detail);
        if (r < 0)
                return r == -ENOMEM || r == BERTH_ETOOBIG ? r : BERTH_EMANIFEST;

        n = manifest_desc_count(mf);
        refs = calloc(n ? n : 1, sizeof(*refs));
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const manifest_desc_t *desc = manifest_desc(mf, i);
                refs[i].digest = desc->digest;
                refs[i].is_manifest = desc->kind == MANIFEST_DESC_CHILD;
        }
        subj = manifest_subject(mf);
        if (subj) {
                ret->has_subject = true;
                ret->subject = subj->digest;
        }
        annotations = manifest_annotations_json(mf);
        rec.size = len;
        rec.media_type = manifest_media_type(mf);
        rec.artifact_type = manifest_artifact_type(mf);
        rec.subject = subj ? &subj->digest : NULL;
        rec.annotations_json = annotations;
        rec.refs = refs;
        rec.n_refs = n;

        /* refused before anything is written (meta_manifest_put checks again, in its
         * transaction, against a delete in between: then the file is left to GC) */
        r = refs_later ? 0 : refs_present(m, repo, refs, n, &ret->missing);
        if (r < 0)
                return r;
        /* bytes first, then the row: never a row without its file (placed again in
         * the row's transaction if a GC swept it in between) */
        r = store_blob_put(s, &rec.digest, buf, len);
        if (r < 0)
                return r;
        between_file_and_row();
        {
                manifest_file_t mfile = { .store = s, .digest = &rec.digest, .buf = buf, .len = len };
                rec.ensure = ensure_manifest_file;
                rec.ensure_userdata = &mfile;
                return meta_manifest_put(m, &rec, tags, n_tags, &ret->missing);
        }
}

/* ---- online garbage collection ----
 *
 * Rows first, each sweep in short write transactions (storage/meta.c: marks, then
 * deletes of what stayed marked past the grace period). A blob's file is moved to
 * trash/ inside the transaction that deletes its row and removed after the
 * commit (moved back if it rolls back), so a writer, whose own transaction checks
 * the file is in place and places it again if not (the ensure functions above),
 * never commits a row whose file a sweep then takes away. */

#define ORPHAN_BATCH 64

typedef struct {
        store_t *store;
        digest_t moved[256]; /* a sweep batch (meta.c GC_BATCH), or ORPHAN_BATCH */
        size_t n_moved;
        size_t file_errors;
        /* orphans: the candidates of one batch */
        const digest_t *cand;
        const uint64_t *cand_size;
        size_t n_cand;
        uint64_t orphans, orphan_bytes;
} sweep_t;

/* In the sweep's transaction: the row is gone, the file goes to trash/. */
static int sweep_gone(void *userdata, const digest_t *d, uint64_t size) {
        sweep_t *sw = userdata;
        int r;

        (void) size;
        if (sw->n_moved >= ELEMENTSOF(sw->moved))
                return -EOVERFLOW; /* more than a batch: a bug */
        r = store_blob_trash(sw->store, d);
        if (r == 0)
                sw->moved[sw->n_moved++] = *d;
        else if (r != -ENOENT)
                sw->file_errors++; /* not a regular file, or cannot be moved: the row goes, the entry stays */
        return 0;
}

static void sweep_undo(void *userdata) {
        sweep_t *sw = userdata;

        for (size_t i = 0; i < sw->n_moved; i++)
                (void) store_blob_untrash(sw->store, &sw->moved[i]);
        sw->n_moved = 0;
}

static void sweep_done(void *userdata) {
        sweep_t *sw = userdata;

        for (size_t i = 0; i < sw->n_moved; i++)
                if (store_trash_purge(sw->store, &sw->moved[i]) < 0)
                        sw->file_errors++;
        sw->n_moved = 0;
}

/* ---- files without a row ---- */

typedef struct {
        meta_t *meta;
        time_t before;
        digest_t *d;
        uint64_t *size;
        size_t n, cap;
        int err;
} orphans_t;

/* A blob file without a row, old enough: left by a crash, or by an earlier run.
 * Collected here; judged again inside a write transaction before it goes. */
static void orphan_seen(void *userdata, const digest_t *d, uint64_t size, time_t mtime) {
        orphans_t *o = userdata;
        int r;

        if (mtime > o->before || o->err < 0)
                return;
        r = meta_blob_known(o->meta, d);
        if (r != 0) {
                if (r < 0)
                        o->err = r;
                return;
        }
        if (o->n == o->cap) {
                size_t ncap = o->cap ? o->cap * 2 : 64;
                digest_t *nd = reallocarray(o->d, ncap, sizeof(*nd));
                uint64_t *ns;
                if (!nd) {
                        o->err = -ENOMEM;
                        return;
                }
                o->d = nd;
                ns = reallocarray(o->size, ncap, sizeof(*ns));
                if (!ns) {
                        o->err = -ENOMEM;
                        return;
                }
                o->size = ns;
                o->cap = ncap;
        }
        o->d[o->n] = *d;
        o->size[o->n++] = size;
}

/* In a write transaction: each candidate still without a row goes to trash/. */
static int orphans_tx(meta_t *m, void *userdata) {
        sweep_t *sw = userdata;

        for (size_t i = 0; i < sw->n_cand; i++) {
                int r = meta_blob_known(m, &sw->cand[i]);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue; /* a writer recorded it meanwhile */
                r = store_blob_trash(sw->store, &sw->cand[i]);
                if (r == 0) {
                        sw->moved[sw->n_moved++] = sw->cand[i];
                        sw->orphans++;
                        sw->orphan_bytes += sw->cand_size[i];
                } else if (r != -ENOENT)
                        sw->file_errors++;
        }
        return 0;
}

static void orphans_undo(void *userdata) {
        sweep_t *sw = userdata;
        uint64_t n = sw->n_moved;

        sweep_undo(sw);
        sw->orphans -= n < sw->orphans ? n : sw->orphans;
}

/* ---- the trash left by a run that died ---- */

typedef struct {
        digest_t *d;
        size_t n, cap;
        int err;
} digests_t;

static void trash_seen(void *userdata, const digest_t *d) {
        digests_t *v = userdata;

        if (v->err < 0)
                return;
        if (v->n == v->cap) {
                size_t ncap = v->cap ? v->cap * 2 : 16;
                digest_t *nd = reallocarray(v->d, ncap, sizeof(*nd));
                if (!nd) {
                        v->err = -ENOMEM;
                        return;
                }
                v->d = nd;
                v->cap = ncap;
        }
        v->d[v->n++] = *d;
}

typedef struct {
        store_t *store;
        digests_t *v;
        uint64_t back;
} reconcile_t;

/* In a write transaction: a file in trash/ whose row is still there (its sweep
 * never committed) goes back; one without a row goes for good. */
static int reconcile_tx(meta_t *m, void *userdata) {
        reconcile_t *rc = userdata;

        for (size_t i = 0; i < rc->v->n; i++) {
                int r = meta_blob_known(m, &rc->v->d[i]);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = store_blob_untrash(rc->store, &rc->v->d[i]);
                        if (r < 0 && r != -ENOENT)
                                return r;
                        rc->back++;
                } else
                        (void) store_trash_purge(rc->store, &rc->v->d[i]);
        }
        return 0;
}

static int trash_reconcile(store_t *s, meta_t *m, uint64_t *ret_back) {
        digests_t v = { 0 };
        reconcile_t rc = { .store = s, .v = &v };
        int r;

        *ret_back = 0;
        r = store_trash_scan(s, trash_seen, &v);
        if (r >= 0 && v.err < 0)
                r = v.err;
        if (r > 0)
                r = meta_tx(m, reconcile_tx, NULL, &rc);
        free(v.d);
        *ret_back = rc.back;
        return r < 0 ? r : 0;
}

/* ---- upload sessions past their age ---- */

typedef struct {
        store_t *store;
        meta_t *meta;
        bool dry_run;
        uint64_t n;
} expiry_t;

static void expire_upload(void *userdata, const char *uuid) {
        expiry_t *x = userdata;
        int r;

        if (x->dry_run) {
                x->n++;
                return;
        }
        r = store_upload_delete(x->store, uuid);
        if (r == BERTH_EBUSY)
                return; /* a request is writing to it: not abandoned */
        if (r == 0)
                x->n++;
        (void) meta_upload_delete(x->meta, uuid);
}

/* ---- the run ---- */

static bool stopped(const registry_gc_options_t *o) {
        return o->stop && *o->stop;
}

static int gc_work(store_t *s, meta_t *m, const registry_gc_options_t *o, time_t now, registry_gc_result_t *ret) {
        const time_t before = now - (time_t) (o->grace > (uint64_t) INT32_MAX ? INT32_MAX : o->grace);
        sweep_t sw = { .store = s };
        orphans_t orph = { .meta = m, .before = before };
        uint64_t blobs = 0;
        int r;

        /* A blob object without a row in a driver without files (S3) is swept only once it
         * is an hour older than the run (REGISTRY_ORPHAN_MIN_AGE), however short the grace period, and never before
         * the upload expiry's age either. A direct upload (the digest known before the
         * bytes) makes its object before its row and keeps nothing to place it again from,
         * so an object younger than that may be a push about to write its row. The object's
         * age is the store's LastModified: on S3 an object made by a multipart upload may
         * carry the time the upload began, so the window is the whole upload, which the
         * upload expiry bounds (a multipart upload begun longer ago than --upload-max-age is
         * aborted); the hour is the bound the scratch files of the directory driver have
         * (store_tmp_clean), and it covers the store's clock being behind ours. The
         * directory driver needs none of this: its writer places the file again from its
         * session file when a sweep took it. fsck gives such objects the same
         * hour. */
        if (!store_has_files(s)) {
                uint64_t age = o->grace > REGISTRY_ORPHAN_MIN_AGE ? o->grace : REGISTRY_ORPHAN_MIN_AGE;

                if (o->upload_max_age > age)
                        age = o->upload_max_age;
                orph.before = now - (time_t) (age > (uint64_t) INT32_MAX ? INT32_MAX : age);
        }

        if (o->dry_run) {
                meta_gc_dry_t dry;

                r = meta_gc_dry(m, before, o->grace == 0, o->delete_untagged, &dry);
                if (r < 0)
                        return r;
                ret->manifests = dry.manifests;
                ret->links = dry.links;
                ret->blobs = dry.blobs;
                ret->blob_bytes = dry.bytes;
        } else {
                r = trash_reconcile(s, m, &ret->trash_restored);
                if (r < 0)
                        return r;
                /* manifests first (their links and blobs become unreferenced), then
                 * links, then blobs: with grace 0 one run takes a whole image */
                r = meta_gc_manifests(m, before, o->delete_untagged, o->stop, &ret->manifests);
                if (r < 0 || stopped(o))
                        return r;
                r = meta_gc_links(m, now, before, o->stop, &ret->links);
                if (r < 0 || stopped(o))
                        return r;
                /* the pull-through cache's records of tags that are gone */
                r = proxycache_tags_prune(meta_conn(m), o->stop, &ret->proxy_tags);
                if (r < 0 || stopped(o))
                        return r;
                r = meta_gc_blobs_mark(m, now, o->stop);
                if (r < 0 || stopped(o))
                        return r;
                r = meta_gc_blobs_sweep(m, before, &(meta_gc_sweep_t){ .gone = sweep_gone, .undo = sweep_undo,
                                                                      .done = sweep_done, .userdata = &sw },
                                        o->stop, &blobs, &ret->blob_bytes);
                ret->blobs = (size_t) blobs;
                if (r < 0 || stopped(o))
                        goto out;
        }

        /* files without a row */
        r = store_blob_scan(s, orphan_seen, &orph);
        if (r >= 0 && orph.err < 0)
                r = orph.err;
        if (r < 0)
                goto out;
        if (o->dry_run) {
                ret->orphans = orph.n;
                for (size_t i = 0; i < orph.n; i++)
                        ret->orphan_bytes += orph.size[i];
        } else {
                for (size_t i = 0; i < orph.n && !stopped(o); i += ORPHAN_BATCH) {
                        sw.cand = orph.d + i;
                        sw.cand_size = orph.size + i;
                        sw.n_cand = orph.n - i < ORPHAN_BATCH ? orph.n - i : ORPHAN_BATCH;
                        r = meta_tx(m, orphans_tx, orphans_undo, &sw);
                        if (r < 0)
                                goto out;
                        sweep_done(&sw);
                }
                ret->orphans = sw.orphans;
                ret->orphan_bytes = sw.orphan_bytes;
        }

        if (o->upload_max_age && !stopped(o)) {
                expiry_t x = { .store = s, .meta = m, .dry_run = o->dry_run };
                uint64_t staged = 0;
                r = store_upload_scan_old(s, o->upload_max_age, expire_upload, &x);
                if (r < 0)
                        goto out;
                /* chunked uploads in the bucket (S3: storage/mpupload.h) */
                r = mpupload_expire(s, m, o->upload_max_age, now, o->dry_run, &staged);
                if (r < 0)
                        goto out;
                ret->uploads = x.n + staged;
        }
        if (!o->dry_run && !stopped(o))
                ret->scratch = store_tmp_clean(s, o->grace > 3600 ? o->grace : 3600) > 0;
        r = 0;
out:
        ret->file_errors = sw.file_errors;
        free(orph.d);
        free(orph.size);
        return r;
}

int registry_gc_run(store_t *s, meta_t *m, const registry_gc_options_t *o, registry_gc_result_t *ret) {
        meta_gc_run_t run = { 0 };
        time_t now;
        int r, e;

        if (!s || !m || !o || !ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        /* one run at a time, whichever process or replica: a session lock on the
         * metadata store, freed if this process dies */
        r = meta_lock_try(m, DB_LOCK_GC);
        if (r == 0)
                return BERTH_EBUSY;
        if (r < 0)
                return r;
        now = o->now ? o->now(o->now_userdata) : time(NULL);
        r = meta_gc_run_start(m, now, o->who ? o->who : "unknown", o->dry_run, &run.id);
        if (r < 0) {
                meta_unlock(m, DB_LOCK_GC);
                return r;
        }
        ret->run_id = run.id;
        r = gc_work(s, m, o, now, ret);
        run.finished = o->now ? o->now(o->now_userdata) : time(NULL);
        if (run.finished <= 0)
                run.finished = now;
        run.result = r < 0 ? "failed" : stopped(o) ? "stopped" : "ok";
        run.blobs = ret->blobs;
        run.bytes = ret->blob_bytes;
        run.manifests = ret->manifests;
        run.links = ret->links;
        run.orphans = ret->orphans;
        run.orphan_bytes = ret->orphan_bytes;
        run.uploads = ret->uploads;
        run.error = r < 0 ? (char *) berth_strerror(r) : NULL;
        e = meta_gc_run_end(m, &run);
        meta_unlock(m, DB_LOCK_GC);
        return r < 0 ? r : e;
}

int registry_gc(store_t *s, meta_t *m, uint64_t grace, bool dry_run, registry_gc_result_t *ret) {
        registry_gc_options_t o = { .grace = grace, .dry_run = dry_run, .who = "registry_gc" };

        return registry_gc_run(s, m, &o, ret);
}
