/* storage/mpupload.h: chunked uploads on a driver with staged uploads (S3), which
 * any replica sharing the metadata store and the bucket continues.
 *
 * A session is a row in the metadata store (uploads + upload_sessions, step 9) and
 * objects under the driver's temporary names: the chunks' bytes go up as parts of
 * one multipart upload (parts of MPUPLOAD_PART bytes; at least 5 MiB but the last,
 * as S3 requires) and what is left at the end of a request, shorter than a part,
 * is kept as a tail object that joins the next part. The running hash is
 * serialized with the row (digest_ctx_export) after every request: the parts of an
 * incomplete multipart upload cannot be read back, and re-reading them from the
 * completed object would cost a download of the whole blob per replica change.
 * Only when the state is missing (a row written by a build that could not export
 * it) is the completed object read back at the commit.
 *
 * A request holds the session by a lease in the row (a PATCH or PUT elsewhere is
 * refused with BERTH_EBUSY at once, never waited for). Its bytes count only once
 * it saves: a request that fails leaves the row as it was (the parts it sent under
 * later numbers are replaced or dropped at the completion, its tail object never
 * named by the row). At the final PUT the digest is checked, the multipart upload
 * completed under the temporary name and copied server-side under the digest key
 * (UploadPartCopy above 5 GiB): the blob is visible only then, complete; its row
 * comes after; the temporary objects and the session's rows last. Knows nothing
 * about HTTP. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "common/digest.h"
#include "storage/meta.h"
#include "storage/store.h"

#define MPUPLOAD_PART (16u << 20) /* a part as sent while chunks arrive */
#define MPUPLOAD_PART_MIN (5u << 20) /* S3's smallest part but the last */
#define MPUPLOAD_LEASE_SEC 300    /* a request's hold, renewed at every part */
/* Parts of one request in flight at once, each sent by a thread of its own while
 * the request gathers the next: a request holds at most MPUPLOAD_IN_FLIGHT + 1
 * buffers of MPUPLOAD_PART (80 MiB). */
#define MPUPLOAD_IN_FLIGHT 4
/* A direct upload's parts (mpupload_direct): larger (fewer requests, and RGW was
 * faster so), fewer at once: at most MPUPLOAD_DIRECT_IN_FLIGHT + 1 buffers of
 * MPUPLOAD_DIRECT_PART per request (192 MiB). */
#define MPUPLOAD_DIRECT_PART (64u << 20)
#define MPUPLOAD_DIRECT_IN_FLIGHT 2

typedef struct mpupload mpupload_t;

/* Does s's driver offer staged uploads (then chunked uploads are sessions here)? */
bool mpupload_offered(const store_t *s);
/* A new session for repo whose running hash uses alg: its rows. ret_uuid receives
 * UPLOAD_UUID_LEN chars + NUL. */
int mpupload_create(store_t *s, meta_t *m, const char *repo, digest_alg_t alg, char ret_uuid[UPLOAD_UUID_LEN + 1]);
/* Hold the session (its hash state restored; its tail read back by a thread once
 * the request first writes or flushes) for one request on this thread: 0, -ENOENT
 * (unknown), BERTH_EBUSY (another request holds it). Asks nothing of the store. */
int mpupload_acquire(store_t *s, meta_t *m, const char *uuid, mpupload_t **ret);
/* The bytes the session holds, not taking it: 0, -ENOENT. */
int mpupload_committed(meta_t *m, const char *uuid, uint64_t *ret_size);
uint64_t mpupload_size(const mpupload_t *u);
/* The whole blob comes in this request and its digest is known (a PUT of a session
 * still empty, a monolithic POST): its bytes go up as they arrive as a multipart
 * upload under the blob's own key (the driver's direct_* operations), from this
 * request's buffers, completed by mpupload_commit(want) only after the digest
 * check, given up otherwise; a blob stored already is only hashed (whether it is,
 * a thread asks the store meanwhile: the first write waits for its answer). 1
 * direct, 0 the driver does not offer it (the session goes on as usual), <0. Never
 * waits. */
int mpupload_direct(mpupload_t *u, const digest_t *want);
/* Append what can be taken now of buf (hashed; each full part handed to a sender
 * thread, MPUPLOAD_IN_FLIGHT at most): *ret_taken bytes. 0 all taken, 1 the
 * senders are full or a step the bytes wait for is in flight (the tail read back,
 * the direct upload's HEAD): wait with mpupload_wait, then give the rest again; or
 * the first failure. Never waits: for event-loop threads. */
int mpupload_write_some(mpupload_t *u, const void *buf, size_t len, size_t *ret_taken);
/* Before mpupload_save (want NULL) or mpupload_commit (want: the digest): what is
 * due as a last part handed over, and the parts in flight taken in. 0 none left in
 * flight (save or commit then sends nothing more), 1 some still are, or the tail is
 * being read back (wait with mpupload_wait, then call again), or the first
 * failure. Never waits. (The step functions below call it themselves.) */
int mpupload_flush(mpupload_t *u, const digest_t *want);
/* Wait for a part or step in flight to end without blocking: 0 one has ended or
 * none is in flight (go on now); 1 suspend(userdata) was called, and
 * resume(userdata) will be, once, from the thread of the next part or step that
 * ends (both under the session's lock, so a resume never comes before its
 * suspend). */
int mpupload_wait(mpupload_t *u, void (*suspend)(void *userdata), void (*resume)(void *userdata), void *userdata);
/* mpupload_write_some of all of buf, blocking while the senders are full (not for
 * event-loop threads). 0 or the first failure. */
int mpupload_write(mpupload_t *u, const void *buf, size_t len);
/* The end of a request that continues the session (a PATCH): what is left is sent
 * as a part (at least 5 MiB) or kept as the tail (its PUT on a thread), then the
 * row written (on this thread: one short write), then the tail it replaces removed
 * (by a thread, not waited for). After a failure the session is as it was before the request.
 * mpupload_save_step never waits: 0 saved, 1 wait with mpupload_wait and call it
 * again, <0 failed (for event-loop threads). mpupload_save blocks until it ends. */
int mpupload_save_step(mpupload_t *u);
int mpupload_save(mpupload_t *u);
/* The final PUT: the digest checked against *want (BERTH_EDIGEST, the session as it
 * was before the request, unless its hash state was lost: then the session is gone),
 * the blob made visible under it (not written when stored already), linked to repo
 * (BERTH_EQUOTA as registry_upload_commit), the session's objects and rows removed.
 * *ret_size the blob's size. All but the digest check runs on a thread, the rows
 * on a database connection of its own (the link's transaction asks the store
 * whether the blob is there). mpupload_commit_step never waits: 0 committed, 1 wait
 * with mpupload_wait and call it again (repo must live until then), <0 failed.
 * mpupload_commit blocks until it ends. */
int mpupload_commit_step(mpupload_t *u, const char *repo, const digest_t *want, uint64_t *ret_size);
int mpupload_commit(mpupload_t *u, const char *repo, const digest_t *want, uint64_t *ret_size);
/* Is the commit itself under way (mpupload_commit_step returned 1 after starting
 * it)? Its outcome is the request's answer: wait for it even while the server
 * drains. */
bool mpupload_committing(const mpupload_t *u);
/* Cancel: the multipart upload aborted, the objects and rows removed, on a thread
 * (the rows on a pooled connection). mpupload_remove_step never waits: 0 removed,
 * 1 wait with mpupload_wait and call it again, <0 (-ENOENT gone already, -EBUSY
 * parts of this request in flight). mpupload_removing: the removal is under way
 * (wait for it even while the server drains). mpupload_remove blocks. */
int mpupload_remove_step(mpupload_t *u);
bool mpupload_removing(const mpupload_t *u);
int mpupload_remove(mpupload_t *u);
/* Give the session back (unsaved bytes forgotten). NULL-safe. Never waits: with
 * parts or a step still in flight, the last of them to end gives the lease back (so
 * that no part of this request can land after another request took the session);
 * a direct upload to give up is given up by a thread. */
void mpupload_release(mpupload_t *u);
/* Give the session back and remove it (its objects, then its rows), off this
 * thread: for a request's own session that did not commit (a monolithic POST).
 * NULL-safe; a no-op beyond the release once committed. Never waits. */
void mpupload_discard(mpupload_t *u);
/* Sessions not written for max_age seconds before now and held by nobody: their
 * multipart uploads aborted, objects and rows removed (dry_run: only counted).
 * *ret_n how many. */
int mpupload_expire(store_t *s, meta_t *m, uint64_t max_age, time_t now, bool dry_run, uint64_t *ret_n);
