/* storage/meta.h: registry metadata, on the metadata layer (storage/db.h: one
 * migration sequence, prepared statements only, SQLite in WAL mode). One meta_t
 * per thread: it holds one connection.
 *
 * Return convention: 0 or 1 as documented, -ENOENT for "no such thing" where noted,
 * BERTH_EDB for database errors, BERTH_EBUSY when the database stayed locked past
 * the busy timeout. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"
#include "storage/db.h"

typedef struct meta meta_t;

/* Opens (creating) the database file through storage/db, which applies pending
 * migrations (one transaction each) and carries older layouts over. */
int meta_open(const char *path, meta_t **ret);
/* A meta_t on a database the caller has open (and frees after every meta_t on
 * it), whose connection becomes the calling thread's own (db_conn_bind_thread):
 * the auth layer on the same db_t then uses it too. Free it on the same thread. */
int meta_open_thread(db_t *db, meta_t **ret);
/* A meta_t on a connection of db's pool (db_conn_get: its statements prepared
 * already when it served before), given back to the pool by meta_free: for a
 * short job on a thread of its own (an upload's commit beside the event loop),
 * which opens no connection each time. The thread's own connection is not changed. */
int meta_open_pooled(db_t *db, meta_t **ret);
meta_t *meta_free(meta_t *m); /* NULL-safe, returns NULL */
int meta_schema_version(meta_t *m);
/* The database m works on (borrowed). */
db_t *meta_db(meta_t *m);
/* m's connection (borrowed; used by one thread at a time, as m). */
db_conn_t *meta_conn(meta_t *m);

/* A check the caller runs inside a write transaction, after the rows are written
 * and before the commit (storage/registry.c: the blob's file is in place, placed
 * again if a GC removed it). 0, or <0 to roll the transaction back. */
typedef int (*meta_ensure_fn)(void *userdata);

/* ---- blobs ---- */
/* Record the blob (digest, size) and link it to repo (creating the repository row);
 * a GC mark on the blob or the link is cleared. */
int meta_blob_link(meta_t *m, const char *repo, const digest_t *d, uint64_t size);
/* The same, with ensure (may be NULL) called in the transaction. */
int meta_blob_link_ensure(meta_t *m, const char *repo, const digest_t *d, uint64_t size, meta_ensure_fn ensure,
                          void *userdata);
/* The same for a push: refused with BERTH_EQUOTA (nothing written) when the link
 * makes the project's usage grow past its quota (storage/usage.h), checked in the
 * link's transaction. */
int meta_blob_link_quota(meta_t *m, const char *repo, const digest_t *d, uint64_t size, meta_ensure_fn ensure,
                         void *userdata);
/* 1 linked to repo (*ret_size), 0 not. */
int meta_blob_linked(meta_t *m, const char *repo, const digest_t *d, uint64_t *ret_size);
/* 1 and the first repository (lexical) holding d (*ret_repo malloc'd), 0 none. */
int meta_blob_find_repo(meta_t *m, const digest_t *d, char **ret_repo, uint64_t *ret_size);
/* 1 unlinked, 0 was not linked. */
int meta_blob_unlink(meta_t *m, const char *repo, const digest_t *d);

/* ---- who changes what: the events a change queues (storage/webhook.h) ---- */
/* A change that some webhook wants to hear of queues its events in its own
 * transaction; they carry who made it. A function taking a meta_origin_t * also
 * takes NULL: nobody known, the wall clock. */
typedef struct meta_origin {
        const char *actor;   /* the user or robot; NULL: anonymous */
        const char *address; /* the client's address; NULL: not known */
        int64_t now;         /* the events' time (unix seconds); 0: the wall clock */
        unsigned queued;     /* out: webhook deliveries the change queued */
} meta_origin_t;

/* ---- manifests ---- */
typedef struct {
        digest_t digest;
        bool is_manifest; /* a child manifest (index entry) rather than a blob */
} meta_ref_t;

typedef struct {
        const char *repo;
        digest_t digest;
        uint64_t size;
        const char *media_type;
        const char *artifact_type;    /* may be NULL */
        const digest_t *subject;      /* may be NULL */
        const char *annotations_json; /* may be NULL */
        const meta_ref_t *refs;
        size_t n_refs;
        meta_origin_t *origin;        /* may be NULL */
        meta_ensure_fn ensure;        /* may be NULL: called in the put's transaction */
        void *ensure_userdata;
        /* a pull-through cache's copy: the references are recorded but need not be
         * present (they are fetched from the upstream when pulled) */
        bool refs_later;
} meta_manifest_t;

/* One transaction: checks every ref is present in the repository (blobs linked to
 * it; child manifests stored in it) else BERTH_EMANIFEST_BLOB_UNKNOWN with
 * *ret_missing (if non-NULL) set to the first missing digest; then records the
 * manifest (replacing an identical digest is a no-op), its refs, and points each
 * tag at it; and queues a push event per tag (one without a tag when there is
 * none) for the webhooks that want them. Unless refs_later (a cache's copy):
 * BERTH_EQUOTA, nothing written, when the manifest makes the project's usage
 * grow past its quota (storage/usage.h). */
int meta_manifest_put(meta_t *m, const meta_manifest_t *mf, const char *const *tags,
                      size_t n_tags, digest_t *ret_missing);

typedef struct {
        digest_t digest;
        uint64_t size;
        char media_type[256];
} meta_manifest_info_t;

/* reference is a tag or a digest string. 1 found, 0 not. Served from the
 * process's manifest cache when it may be (storage/mcache.h). */
int meta_manifest_get(meta_t *m, const char *repo, const char *reference,
                      meta_manifest_info_t *ret);
/* Delete the manifest and every tag pointing at it. 1 deleted, 0 not found. */
int meta_manifest_delete(meta_t *m, const char *repo, const digest_t *d);
/* Inside the write transaction of ANY change to repo's manifests or tags (a
 * put, a delete, a tag moved, garbage collection): the manifest caches of every
 * process forget the repository when it commits. repo NULL: every repository.
 * meta_manifest_put and the deletes below call it; a new write path must too. */
int meta_repo_changed(db_conn_t *c, const char *repo);
/* 1 deleted, 0 not found. */
int meta_tag_delete(meta_t *m, const char *repo, const char *tag);
/* The same, by origin (may be NULL): a delete event (the digest; the tag for a tag)
 * queued in the delete's transaction for the webhooks that want it. */
int meta_manifest_delete_from(meta_t *m, const char *repo, const digest_t *d, meta_origin_t *origin);
int meta_tag_delete_from(meta_t *m, const char *repo, const char *tag, meta_origin_t *origin);
/* 1 the repository exists (has any blob, manifest or tag), 0 not. */
int meta_repo_exists(meta_t *m, const char *repo);

/* ---- listings: lexical order, entries strictly after `last` (NULL: from start),
 * at most n. *ret_more says whether further entries exist. ret is a NULL-terminated
 * malloc'd array of malloc'd strings; free with meta_strv_free. ---- */
int meta_tags_list(meta_t *m, const char *repo, const char *last, size_t n,
                   char ***ret, bool *ret_more);
int meta_catalog(meta_t *m, const char *last, size_t n, char ***ret, bool *ret_more);
/* The same, for the repositories whose first path component is one of tops
 * (sorted as by strcmp, without repeats; others are skipped): the catalog of a
 * caller who may see only some namespaces. Reads at most n + 1 names per
 * namespace and stops at the first namespace that sorts after the page, so the
 * work follows what the caller may see, not the size of the registry. */
#define META_TOP_MAX 255
int meta_catalog_under(meta_t *m, const char *const *tops, size_t n_tops, const char *last,
                       size_t n, char ***ret, bool *ret_more);
char **meta_strv_free(char **v);

/* ---- referrers ---- */
typedef struct {
        digest_t digest;
        uint64_t size;
        char *media_type;
        char *artifact_type;     /* may be NULL */
        char *annotations_json;  /* may be NULL */
} meta_referrer_t;
/* Manifests in repo whose subject is *subject, in digest order, optionally only
 * those with artifact_type. *ret is a malloc'd array of *ret_n entries. */
int meta_referrers(meta_t *m, const char *repo, const digest_t *subject,
                   const char *artifact_type, meta_referrer_t **ret, size_t *ret_n);
void meta_referrers_free(meta_referrer_t *v, size_t n);

/* ---- upload sessions ---- */
int meta_upload_add(meta_t *m, const char *uuid, const char *repo);
/* 1 and the session's repository (*ret_repo malloc'd), 0 unknown uuid. */
int meta_upload_get(meta_t *m, const char *uuid, char **ret_repo);
int meta_upload_delete(meta_t *m, const char *uuid);

/* Chunked uploads whose bytes go to the object store as they arrive
 * (storage/mpupload.c): their state, shared by every replica on the database. A
 * session has its uploads row (meta_upload_get, meta_upload_delete: the state goes
 * with it) and one of these. */
typedef struct meta_upsession {
        char uuid[37]; /* canonical 8-4-4-4-12 (UPLOAD_UUID_LEN) */
        digest_alg_t alg;
        uint64_t size;      /* bytes received */
        char *upload_id;    /* the multipart upload's id; "" none begun yet */
        char *parts;        /* its parts, one "number etag" line each */
        uint64_t tail_gen;  /* the tail object's generation (0: none ever written) */
        uint64_t tail_size; /* its size (< a part) */
        char *hash;         /* the running hash serialized (base64); NULL: lost */
        int64_t updated_at; /* unix seconds of the last write */
} meta_upsession_t;
void meta_upsession_clear(meta_upsession_t *u); /* frees the strings, zeroes */
void meta_upsessions_free(meta_upsession_t *v, size_t n);
/* A new session: its uploads row (repo) and its state, in one transaction. */
int meta_upsession_add(meta_t *m, const char *uuid, const char *repo, digest_alg_t alg);
/* Read without taking: 1 (*ret filled), 0 unknown. */
int meta_upsession_get(meta_t *m, const char *uuid, meta_upsession_t *ret);
/* Take the session's lease for holder until `until` (unix seconds): 1 taken (*ret
 * filled), 0 unknown, BERTH_EBUSY another holder's lease runs past now. */
int meta_upsession_take(meta_t *m, const char *uuid, const char *holder, int64_t now, int64_t until,
                        meta_upsession_t *ret);
/* Write u back, still holding it (its lease now until `until`): 0, BERTH_EBUSY
 * when holder lost the lease (nothing written). */
int meta_upsession_save(meta_t *m, const meta_upsession_t *u, const char *holder, int64_t now, int64_t until);
/* Give the lease back. */
int meta_upsession_release(meta_t *m, const char *uuid, const char *holder);
/* Up to 1000 sessions not written since before and held by nobody at now, oldest
 * first: *ret (malloc'd, meta_upsessions_free), *ret_n. */
int meta_upsession_old(meta_t *m, int64_t before, int64_t now, meta_upsession_t **ret, size_t *ret_n);

/* ---- garbage collection (online: see the comment in meta.c) ----
 * Times are unix seconds: now (the marks written), before (now less the grace
 * period: marks at or before it are old enough). stop (may be NULL): checked
 * between batches; set, the function returns early (0). */

/* The session lock id (db.h) on m's connection: 1 taken, 0 held elsewhere, <0. */
int meta_lock_try(meta_t *m, db_lock_id_t id);
void meta_unlock(meta_t *m, db_lock_id_t id);
/* fn(m, userdata) inside a write transaction on m (it may call m's reads); then
 * commit. undo (may be NULL) is called when the transaction rolls back (fn failed,
 * or the commit did). 0 or <0. */
int meta_tx(meta_t *m, int (*fn)(meta_t *m, void *userdata), void (*undo)(void *userdata), void *userdata);

/* Repository links no manifest of their repository references: marked (now) when
 * first seen so, deleted when marked at or before `before`. *ret_links deleted. */
int meta_gc_links(meta_t *m, int64_t now, int64_t before, const volatile bool *stop, uint64_t *ret_links);
/* Manifests (and with them their references; they have no tags) created at or
 * before `before`, untagged, that no index of their repository names: referrers
 * whose subject is not in the repository, and with untagged every other one.
 * Pass after pass (a deleted index frees its children). *ret_n deleted. */
int meta_gc_manifests(meta_t *m, int64_t before, bool untagged, const volatile bool *stop, uint64_t *ret_n);
/* Blob rows nothing references (no link, no manifest, no manifest's reference):
 * marked (now) when first seen so. */
int meta_gc_blobs_mark(meta_t *m, int64_t now, const volatile bool *stop);
/* What a sweep does with a blob's file: gone() is called inside the write
 * transaction that deleted the row (move the file away; <0 rolls the batch
 * back); undo() when a batch rolls back after gone() calls; done() after a
 * batch committed (remove for good what was moved). */
typedef struct {
        int (*gone)(void *userdata, const digest_t *d, uint64_t size);
        void (*undo)(void *userdata);
        void (*done)(void *userdata);
        void *userdata;
} meta_gc_sweep_t;
/* Deletes the blob rows marked at or before `before` that nothing references,
 * in batches of short transactions. */
int meta_gc_blobs_sweep(meta_t *m, int64_t before, const meta_gc_sweep_t *ops, const volatile bool *stop,
                        uint64_t *ret_blobs, uint64_t *ret_bytes);
/* What a run would remove now (read only): grace0 counts what is unreferenced now
 * (a run with grace 0 removes it at once), else what is marked at or before
 * `before`. Manifests: the first pass only. */
typedef struct {
        uint64_t manifests, links, blobs, bytes;
} meta_gc_dry_t;
int meta_gc_dry(meta_t *m, int64_t before, bool grace0, bool untagged, meta_gc_dry_t *ret);

/* The record of runs (gc_runs). */
typedef struct {
        int64_t id;
        int64_t started, finished; /* finished 0: running, or interrupted */
        char *who;
        bool dry_run;
        char *result;              /* "ok", "failed"; NULL while unfinished */
        uint64_t blobs, bytes, manifests, links, orphans, orphan_bytes, uploads;
        char *error;               /* may be NULL */
} meta_gc_run_t;
int meta_gc_run_start(meta_t *m, int64_t started, const char *who, bool dry_run, int64_t *ret_id);
/* Records the end of run->id (finished, result, the counts, error; strings borrowed). */
int meta_gc_run_end(meta_t *m, const meta_gc_run_t *run);
/* The newest max runs, newest first; free with meta_gc_runs_free. */
int meta_gc_runs(meta_t *m, size_t max, meta_gc_run_t **ret, size_t *ret_n);
void meta_gc_runs_free(meta_gc_run_t *v, size_t n);
/* The start of the newest run that finished ok (not a dry run), 0 if none. */
int meta_gc_last_ok(meta_t *m, int64_t *ret);
/* 1 the blob has a row, 0 not. */
int meta_blob_known(meta_t *m, const digest_t *d);

/* ---- figures for metrics ---- */
typedef struct {
        uint64_t blobs, blob_bytes; /* blob rows and their total size */
        uint64_t uploads;           /* upload sessions in progress */
} meta_stats_t;
/* One read transaction; scans the blob and upload tables (call it per scrape, not
 * per request). */
int meta_stats(meta_t *m, meta_stats_t *ret);

/* ---- usage per project ---- */
/* A project is the first path component of repository names: project P holds the
 * repository named P and those named P/... (never P-x/... nor P2/...). */
typedef struct {
        uint64_t blobs; /* distinct blobs (layers, configs, manifests) its repositories reference */
        uint64_t bytes; /* their total size: a blob counts once however many repositories link it */
} meta_usage_t;
/* One project's usage (zero for a project without repositories); project is a
 * first path component (no '/', at most META_TOP_MAX bytes: else -EINVAL). Computed
 * by index searches over the project's repositories: the cost follows the
 * project's size, not the registry's. */
int meta_usage(meta_t *m, const char *project, meta_usage_t *ret);

typedef struct {
        char *project;
        meta_usage_t usage;
} meta_project_usage_t;
/* Every project that has a repository, with its usage, sorted by name (byte
 * order): the repository index walked project by project (one range search
 * each). *ret is a malloc'd array of *ret_n entries; free with meta_usage_free. */
int meta_usage_all(meta_t *m, meta_project_usage_t **ret, size_t *ret_n);
void meta_usage_free(meta_project_usage_t *v, size_t n);
