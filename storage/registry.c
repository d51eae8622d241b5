/* storage/registry.c: the write protocol: file durable and linked first, metadata row
 * second, never a row without its file (see registry.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"
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
        r = upload_commit(u, want, &size);
        if (r < 0)
                return r;
        between_file_and_row();
        r = meta_blob_link(m, repo, want, size);
        if (r < 0)
                return r;
        (void) meta_upload_delete(m, uuid);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int registry_blob_mount(store_t *s, meta_t *m, const char *repo, const digest_t *d, uint64_t size) {
        int r = store_blob_stat(s, d, NULL);

        if (r <= 0)
                return r;
        r = meta_blob_link(m, repo, d, size);
        return r < 0 ? r : 1;
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
        /* bytes first, then the row: never a row without its file */
        r = store_blob_put(s, &rec.digest, buf, len);
        if (r < 0)
                return r;
        between_file_and_row();
        return meta_manifest_put(m, &rec, tags, n_tags, &ret->missing);
}

/* ---- offline GC ---- */

typedef struct {
        meta_t *meta;
        store_t *store;
        time_t before;
        bool dry_run;
        registry_gc_result_t *res;
        int err;
} orphans_t;

/* A blob file without a row, old enough: left by a crash, or by an earlier run. */
static void orphan(void *userdata, const digest_t *d, uint64_t size, time_t mtime) {
        orphans_t *o = userdata;
        int r;

        if (mtime >= o->before || o->err < 0)
                return;
        r = meta_blob_known(o->meta, d);
        if (r < 0) {
                o->err = r;
                return;
        }
        if (r > 0)
                return;
        if (!o->dry_run && store_blob_remove(o->store, d) < 0)
                return;
        o->res->orphans++;
        o->res->orphan_bytes += size;
}

int registry_gc(store_t *s, meta_t *m, uint64_t grace, bool dry_run, registry_gc_result_t *ret) {
        meta_gc_result_t res = { 0 };
        orphans_t o = { .meta = m, .store = s, .dry_run = dry_run, .res = ret };
        int r;

        memset(ret, 0, sizeof(*ret));
        r = meta_gc(m, grace, dry_run, &res);
        if (r < 0)
                return r;
        ret->links = res.links;
        ret->blobs = res.n;
        ret->blob_bytes = res.bytes;
        for (size_t i = 0; !dry_run && i < res.n; i++) {
                r = store_blob_remove(s, &res.digests[i]);
                if (r < 0 && r != -ENOENT)
                        ret->file_errors++; /* a file without a row now: the next run */
        }
        free(res.digests);
        o.before = time(NULL) - (time_t) grace;
        r = store_blob_scan(s, orphan, &o);
        if (r < 0)
                return r;
        if (o.err < 0)
                return o.err;
        if (!dry_run)
                ret->scratch = store_tmp_clean(s, grace) > 0;
        return 0;
}
