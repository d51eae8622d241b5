/* storage/store.h: the content-addressed blob store and upload sessions. Knows
 * nothing about HTTP or SQLite. Committed blobs live in a driver
 * (storage/blobstore.h): the directory below (the default) or an S3 bucket; upload
 * sessions and scratch files are always local files under root.
 *
 * Layout under root:
 *   blobs/sha256/<2 hex>/<hex>   immutable blob files (sha512 likewise)
 *   uploads/<uuid>               bytes of an upload in progress
 *   tmp/                         scratch files for store_blob_put
 *   quarantine/                  blob files fsck --repair moved away (made on first use)
 *   trash/                       blob files a GC sweep is removing (see registry.c)
 *
 * Upload sessions span several HTTP requests. The store keeps each session's
 * running hash in memory, keyed by uuid; store_upload_acquire() gives exclusive
 * use of one session until store_upload_release(). It never blocks: while one
 * request holds a session (its body may still be arriving), others are refused
 * with BERTH_EBUSY and may read the committed size (store_upload_committed). A
 * session whose hash state is missing (restart) or stale is re-hashed from its
 * file. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/digest.h"
#include "storage/blobstore.h"

#define UPLOAD_UUID_LEN 36 /* canonical 8-4-4-4-12 lowercase */

typedef struct store store_t;
typedef struct upload upload_t;

/* What an observer is told (distribution's registry_storage_action_seconds): each
 * call of the store's public functions below, and its time in nanoseconds. */
typedef enum {
        STORE_ACT_STAT,   /* store_blob_stat */
        STORE_ACT_OPEN,   /* store_blob_open, store_blob_read, store_blob_read_stream (to its first bytes) */
        STORE_ACT_PUT,    /* store_blob_put (hash, write, fsync, link) */
        STORE_ACT_COMMIT, /* upload_commit (hash check, fsync, link) */
        STORE_ACT_DELETE, /* store_blob_remove */
        _STORE_ACT_MAX,
} store_action_t;
extern const char *const store_action_names[_STORE_ACT_MAX];
typedef void (*store_observe_fn)(void *userdata, store_action_t action, uint64_t ns);

int store_open(const char *root, store_t **ret);
/* The same with bs (NULL: the directory driver) holding the committed blobs; the
 * store owns bs from then on, also when opening fails. */
int store_open_with(const char *root, blobstore_t *bs, store_t **ret);
/* "file" or "s3". */
const char *store_driver_name(const store_t *s);
/* true when blobs are files (store_blob_open works); false: read ranges. */
bool store_has_files(const store_t *s);
/* Wait for the work the store's own threads still do for requests that let go
 * (storage/mpupload.c: parts in flight, then the session's lease given back on the
 * metadata's database): before that database is closed. NULL-safe. */
void store_quiesce(store_t *s);
store_t *store_free(store_t *s);
/* Every public call from now on is timed and reported to fn (NULL: none), on the
 * calling thread. Set before the store is shared between threads. */
void store_set_observer(store_t *s, store_observe_fn fn, void *userdata); /* NULL-safe, returns NULL */
/* Test hook: the clock (unix seconds) against which ages are measured (upload
 * expiry, scratch files). NULL: time(NULL). */
void store_set_clock(store_t *s, time_t (*now)(void *userdata), void *userdata);

/* 1 present (*ret_size if non-NULL), 0 absent, <0 error. */
int store_blob_stat(store_t *s, const digest_t *d, uint64_t *ret_size);
/* Read-only fd on the blob; -ENOENT when absent, -ENOTSUP when the driver has no
 * files (store_blob_read then). Caller closes. */
int store_blob_open(store_t *s, const digest_t *d, int *ret_fd, uint64_t *ret_size);
/* Up to len bytes of the blob at off; *ret_n read (short only at the end). -ENOENT. */
int store_blob_read(store_t *s, const digest_t *d, uint64_t off, void *buf, size_t len, size_t *ret_n);
/* The bytes [off, off+len) of the blob handed to sink as they arrive (one request of
 * the driver); -ENOTSUP when the driver reads by ranges only (store_blob_read). */
bool store_blob_streams(const store_t *s); /* store_blob_read_stream offered */
int store_blob_read_stream(store_t *s, const digest_t *d, uint64_t off, uint64_t len,
                           int (*sink)(void *userdata, const void *buf, size_t n), void *userdata);
/* Copy the blob file d (directory driver only) into another driver: 1 copied, 0
 * already there with the same size, BERTH_EDIGEST when the file does not hash to d
 * (nothing copied), <0. *ret_size the blob's size. */
int store_blob_export(store_t *s, const digest_t *d, blobstore_t *to, uint64_t *ret_size);
/* A URL to GET the blob from directly for ttl seconds (s3); -ENOTSUP otherwise. */
int store_blob_presign(store_t *s, const digest_t *d, unsigned ttl, char **ret_url);
/* Store a small blob (a manifest) from memory: verify it hashes to *d (BERTH_EDIGEST
 * otherwise, nothing stored), write a temp file, fsync, link into place. Already
 * present is success. */
int store_blob_put(store_t *s, const digest_t *d, const void *buf, size_t len);
/* Every blob file: calls cb with its digest, size and modification time. Returns
 * the number visited or <0. Names that are not digests are skipped. */
int store_blob_scan(store_t *s, blobstore_list_fn cb, void *userdata);
/* A blob written by the caller from elsewhere (a pull-through cache's fetch): a
 * new scratch file under tmp/ (O_RDWR, 0600) to fill; its name into ret_name. */
int store_blob_fill_open(store_t *s, char ret_name[UPLOAD_UUID_LEN + 1], int *ret_fd);
/* The filled file, whose bytes the caller verified against d while it wrote
 * them, becomes the blob d: fsynced, linked into place (present already: kept as
 * it is). The scratch file is removed either way; the caller closes fd. */
int store_blob_fill_commit(store_t *s, const char *name, int fd, const digest_t *d);
/* A fill given up: the scratch file removed. */
void store_blob_fill_abort(store_t *s, const char *name);

/* Remove scratch files under tmp/ older than older_than seconds (left by a crash
 * during store_blob_put). Returns how many, or <0. */
int store_tmp_clean(store_t *s, uint64_t older_than);
/* Remove a blob file (garbage collection only). 0, or -ENOENT. */
int store_blob_remove(store_t *s, const digest_t *d);
/* Online GC (storage/registry.c): move a blob file to trash/ (inside the sweep's
 * transaction), back (the transaction rolled back; a file placed again meanwhile
 * is kept), or remove it from trash/ for good (after the commit). trash: 0,
 * -ENOENT (no file), -EUCLEAN (not a regular file: left where it is). */
int store_blob_trash(store_t *s, const digest_t *d);
int store_blob_untrash(store_t *s, const digest_t *d);
int store_trash_purge(store_t *s, const digest_t *d);
/* Every file in trash/ (left by a run that died): cb with its digest. */
int store_trash_scan(store_t *s, void (*cb)(void *userdata, const digest_t *d), void *userdata);

/* Move a blob file out of the way (fsck --repair: corrupt or without a row) to
 * quarantine/<alg>-<hex>-<unix time>[-N] under the root (0700), never deleting
 * it: its path then answers absent and a push of the same digest writes a fresh
 * file. ret_name (n bytes, may be NULL) receives "quarantine/<name>". 0, -ENOENT
 * when the file is already gone, or -errno. */
int store_blob_quarantine(store_t *s, const digest_t *d, char *ret_name, size_t n);

/* New session: creates uploads/<uuid> (empty) and its hash state for alg.
 * ret_uuid receives UPLOAD_UUID_LEN chars + NUL. */
int store_upload_create(store_t *s, digest_alg_t alg, char ret_uuid[UPLOAD_UUID_LEN + 1]);
/* Exclusive use of a session, or BERTH_EBUSY at once when another request holds
 * it (never waits). -ENOENT when no such upload file; BERTH_EDIGEST_INVALID style
 * errors never. */
int store_upload_acquire(store_t *s, const char *uuid, upload_t **ret);
void store_upload_release(upload_t *u); /* NULL-safe */
/* The committed size of a session without taking it: the bytes no request of this
 * process is still writing (a holder's bytes count once it lets go); a request of
 * another process sharing the directory (a replica) is not seen, its bytes count as
 * they reach the file. 1 held by a request of this process, else 0; -ENOENT when no
 * such upload file. */
int store_upload_committed(store_t *s, const char *uuid, uint64_t *ret_size);
/* Remove the session file and state (cancel or expiry). 0, -ENOENT, or BERTH_EBUSY
 * (held by a request: nothing done). */
int store_upload_delete(store_t *s, const char *uuid);
/* Session files older than max_age_sec (by mtime): calls cb for each uuid (cb may
 * delete it). Returns the number visited or <0. */
int store_upload_scan_old(store_t *s, uint64_t max_age_sec,
                          void (*cb)(void *userdata, const char *uuid), void *userdata);

/* Bytes received so far. */
uint64_t upload_size(const upload_t *u);
const char *upload_uuid(const upload_t *u);
/* Append bytes at the end. Large writes start writeback early (sync_file_range) so
 * the commit's fsync has little left. The hash of buf is computed on a second thread
 * while the caller goes on (receiving the next piece). buf must stay unchanged until
 * the next call on u (any upload_* function, a zero-length write included, or
 * store_upload_release), which waits for it. */
int upload_write_async(upload_t *u, const void *buf, size_t len);
/* Remove the session held by u (cancel); still call store_upload_release(). 0,
 * -ENOENT when already gone (committed), or -errno. */
int upload_remove(upload_t *u);
/* Drop bytes past size (undo a chunk that failed midway); re-hashes lazily. */
int upload_truncate(upload_t *u, uint64_t size);
/* Finish: compare the hash with *want (BERTH_EDIGEST, upload left as it was, when it
 * differs; the algorithm of *want decides, re-hashing if the session used another),
 * fsync, link to blobs/, fsync the directory, remove the session. *ret_size = size.
 * After success the session is gone; still call store_upload_release(). */
int upload_commit(upload_t *u, const digest_t *want, uint64_t *ret_size);
/* upload_commit in two halves, for a commit that writes its row in between
 * (storage/registry.c): upload_commit_keep checks, fsyncs and links as
 * upload_commit does but keeps the session's file (a second name of the blob);
 * upload_commit_ensure (in the row's transaction) links it again when the blob
 * path is empty (a GC removed the file meanwhile); upload_commit_done removes the
 * session (also after a failure: the blob file stays for GC to judge). */
int upload_commit_keep(upload_t *u, const digest_t *want, uint64_t *ret_size);
int upload_commit_ensure(upload_t *u);
void upload_commit_done(upload_t *u);
