/* storage/registry.h: the registry's write protocol over the blob store (store.h)
 * and the metadata (meta.h). A blob's file is durable and linked into place first,
 * its metadata row second: a crash between the two leaves a file without a row
 * (GC removes it), never a row without its file; and the row's transaction checks
 * the file is still there (a GC sweep may have taken it), placing it again. Knows nothing about HTTP.
 *
 * Every function takes the store and the calling thread's meta_t (one per thread). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/digest.h"
#include "storage/meta.h"
#include "storage/store.h"

/* Commit the held upload session u to digest *want (upload_commit: hash checked,
 * file fsynced and linked), then link the blob to repo and forget the session's
 * row. BERTH_EDIGEST when the bytes hash otherwise (the session is left as it was);
 * *ret_size (if non-NULL) the blob's size. After success the session is gone;
 * the caller still releases u. */
int registry_upload_commit(store_t *s, meta_t *m, upload_t *u, const char *repo, const digest_t *want,
                           uint64_t *ret_size);

/* Link an existing blob (a cross-repository mount) to repo: only when its file is
 * present. 1 linked, 0 no such file, <0 error. */
int registry_blob_mount(store_t *s, meta_t *m, const char *repo, const digest_t *d, uint64_t size);
/* The same without the quota check (a pull-through cache's copy of an upstream
 * blob); registry_blob_mount, registry_upload_commit and registry_manifest_put
 * refuse with BERTH_EQUOTA, nothing written, what would take repo's project past
 * its quota (checked in the link's transaction; what the project holds already
 * costs nothing). */
int registry_blob_cache_link(store_t *s, meta_t *m, const char *repo, const digest_t *d, uint64_t size);

/* A manifest push. want: the digest named in the URL, or NULL for a push by tag
 * (then sha256). tags: the tags to point at it (may be empty). */
typedef struct {
        digest_t digest;          /* the manifest's digest */
        bool has_subject;
        digest_t subject;         /* its subject, when has_subject */
        const char *detail;       /* on BERTH_EMANIFEST: what is wrong (static) */
        digest_t missing;         /* on BERTH_EMANIFEST_BLOB_UNKNOWN: the first missing reference */
} registry_put_result_t;

/* Parse and check the manifest (BERTH_EMANIFEST, BERTH_ETOOBIG), its digest against
 * want (BERTH_EDIGEST), that every reference is in repo (blobs linked to it, child
 * manifests stored in it; BERTH_EMANIFEST_BLOB_UNKNOWN): on any of these nothing
 * is written. Then the file (durable, linked), then in one transaction the
 * manifest row, its references, subject and tags. */
int registry_manifest_put(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                          const char *content_type, const digest_t *want, const char *const *tags,
                          size_t n_tags, registry_put_result_t *ret);
/* The same by origin (may be NULL): who pushed, for the push events queued with
 * the rows (meta_manifest_put); origin->queued says how many. */
int registry_manifest_put_from(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                               const char *content_type, const digest_t *want, const char *const *tags,
                               size_t n_tags, meta_origin_t *origin, registry_put_result_t *ret);

/* A pull-through cache's copy of an upstream manifest: checked and stored as
 * registry_manifest_put_from does, except that its references need not be in repo
 * yet (they come from the upstream when pulled). want: the digest the upstream
 * named, or NULL (then sha256). tag: the tag to point at it, or NULL. */
int registry_manifest_cache(store_t *s, meta_t *m, const char *repo, const void *buf, size_t len,
                            const char *content_type, const digest_t *want, const char *tag,
                            registry_put_result_t *ret);

/* Online garbage collection, while pushes, pulls and deletes go on (in this and
 * other processes, on one database): see registry.c and meta.c. In order:
 * files a run that died left in trash/ reconciled; manifests reclaimed (referrers
 * whose subject is gone; with delete_untagged every untagged manifest no index
 * names); repository links no manifest references; blob rows nothing references
 * (each kept until a run has seen it unreferenced for the grace period; its file
 * removed with its row); blob files without a row older than the grace period
 * (objects of a driver without files: also older than an hour and upload_max_age,
 * as a direct upload's object comes before its row: REGISTRY_ORPHAN_MIN_AGE);
 * upload sessions older than upload_max_age; scratch files. The run is recorded
 * (meta_gc_runs). BERTH_EBUSY: another run holds the GC lock. */
/* Blob objects without a row in a driver without files (S3) younger than this (s)
 * may be a direct upload about to write its row (registry.c): GC and fsck leave
 * them, whatever their grace period. */
#define REGISTRY_ORPHAN_MIN_AGE 3600
typedef struct {
        uint64_t grace;           /* seconds */
        bool dry_run;             /* nothing written but the run's record: ret says what would go */
        bool delete_untagged;
        uint64_t upload_max_age;  /* seconds; 0: upload sessions left alone */
        const char *who;          /* for the record */
        time_t (*now)(void *userdata); /* NULL: time(NULL) */
        void *now_userdata;
        const volatile bool *stop; /* may be NULL: set, the run ends after its batch */
} registry_gc_options_t;
typedef struct {
        int64_t run_id;
        uint64_t manifests;      /* manifests removed */
        uint64_t links;          /* repository links removed */
        size_t blobs;            /* blob rows removed (their files with them) */
        uint64_t blob_bytes;
        uint64_t orphans;        /* files without a row removed */
        uint64_t orphan_bytes;
        uint64_t uploads;        /* upload sessions expired */
        uint64_t trash_restored; /* files a dead run had moved, put back */
        bool scratch;            /* scratch files removed */
        uint64_t proxy_tags;     /* records of cached tags that are gone, removed */
        size_t file_errors;      /* files of removed rows that could not be removed (next run) */
} registry_gc_result_t;
int registry_gc_run(store_t *s, meta_t *m, const registry_gc_options_t *o, registry_gc_result_t *ret);
/* registry_gc_run with the grace period and dry_run only. */
int registry_gc(store_t *s, meta_t *m, uint64_t grace, bool dry_run, registry_gc_result_t *ret);

/* ---- test support ---- */
/* Called between a blob's file and its row (commit, manifest put, and a mount's
 * check of the file): a test makes the process die there to check what a crash
 * leaves, or runs a GC there. NULL: none. */
void registry_test_set_crash_point(void (*fn)(void));
