/* storage/store-internal.h: what store.c and upload.c share. Not a public header. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/digest.h"
#include "storage/blobstore.h"
#include "storage/store.h"

/* Buckets of the session table (chained); a power of two. */
#define STORE_SESSION_BUCKETS 4096u
/* Hash states of sessions idle this long are dropped (they can be re-hashed). */
#define STORE_SESSION_IDLE_SEC 3600u
/* Above this many sessions in memory, idle ones are dropped regardless of age. */
#define STORE_SESSION_MAX 65536u
/* Writeback is started every this many bytes of an upload. */
#define STORE_WRITEBACK_CHUNK (8u << 20)

/* In-memory state of one upload session, keyed by uuid. Lives in the table while
 * it holds a hash state or is held; freed when dead and no longer held. All fields
 * are protected by store_t.lock. Nobody ever waits for a session: a request that
 * finds it held is refused (BERTH_EBUSY) and may read the committed size instead. */
struct session {
        struct session *next; /* bucket chain */
        char uuid[UPLOAD_UUID_LEN + 1];
        digest_alg_t alg;     /* algorithm of the running hash */
        digest_ctx_t *ctx;    /* NULL: lost or stale, re-hash from the file */
        bool busy;            /* held by an upload_t (the only reference) */
        bool dead;            /* deleted or committed; out of the table */
        bool size_known;      /* committed is valid */
        uint64_t committed;   /* bytes no request is still writing: the file's size
                               * when the holder took it, or when the last one gave
                               * it back */
        uint64_t last_used;   /* monotonic seconds */
};

struct store {
        blobstore_t file_bs; /* the directory driver over blobs/ (store.c) */
        blobstore_t *bs;     /* the driver in use: &file_bs or one of its own (owned) */
        int root_fd;
        int blobs_fd;
        int uploads_fd;
        int tmp_fd;
        int trash_fd;
        int alg_fd[2]; /* blobs/sha256, blobs/sha512 */
        bool writeback; /* false on tmpfs/ramfs: sync_file_range is pointless there */

        pthread_mutex_t lock;
        struct session *buckets[STORE_SESSION_BUCKETS];
        size_t n_sessions;
        uint64_t last_sweep;
        time_t (*now)(void *userdata); /* store_set_clock; NULL: time(NULL) */
        void *now_userdata;
        store_observe_fn observe; /* store_set_observer; NULL: no timing */
        void *observe_userdata;
        /* threads working for a request after it let go (storage/mpupload.c: parts
         * still in flight, the session's lease given back once they end), under
         * lock: store_free waits for them, as they use the driver */
        unsigned n_bg;
        pthread_cond_t bg_cond;
};

/* Timing for the observer: 0 (no observer) or a CLOCK_MONOTONIC time in ns; then
 * the action's end. */
uint64_t store__observe_start(const struct store *s);
void store__observe_end(const struct store *s, store_action_t a, uint64_t t0);

/* The store's clock (unix seconds). */
static inline time_t store__now(const struct store *s) {
        return s->now ? s->now(s->now_userdata) : time(NULL);
}

/* Exclusive handle on a session, between acquire and release. */
struct upload {
        store_t *store;
        struct session *se; /* owned by the table; we hold busy */
        int fd;             /* uploads/<uuid>, O_RDWR */
        uint64_t size;      /* bytes in the file */
        uint64_t wb_done;   /* writeback issued up to here */
        bool gone;          /* committed: the session no longer exists */
        bool is_linked;     /* upload_commit_keep: linked as `linked`, session file kept */
        digest_t linked;

        /* Hashing beside the writes (upload_write_async): one job at a time. */
        pthread_t hasher;
        bool hasher_started;
        pthread_mutex_t hlock;
        pthread_cond_t hcond;
        const void *job_buf;
        size_t job_len;
        bool job_pending;   /* posted, not yet hashed */
        bool hasher_stop;
        int job_err;        /* first hashing error; the state is then rebuilt lazily */
};

/* A thread of the store's own begins or ends work that store_free must wait for. */
void store__bg_enter(struct store *s);
void store__bg_leave(struct store *s);

/* true when s is a canonical lowercase 8-4-4-4-12 uuid. */
bool store__uuid_valid(const char *s);
/* Fresh random (v4) uuid. 0 or -errno. */
int store__uuid_new(char ret[UPLOAD_UUID_LEN + 1]);
uint64_t store__now_mono(void);
#define FILE_STORE(bs) ((store_t *) ((char *) (bs) - offsetof(store_t, file_bs)))
int store__fsync_dirfd(int dirfd);
/* Write all of buf at off, retrying short writes and EINTR. ENOSPC/EDQUOT → -ENOSPC. */
int store__pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Hash the first size bytes of fd with alg into a new context. */
int store__hash_fd(int fd, uint64_t size, digest_alg_t alg, digest_ctx_t **ret);
/* c, which covers the file's first digest_ctx_bytes(c) bytes, extended to its first
 * size bytes. 0, -EINVAL (c covers more than size), -EIO (the file is shorter). */
int store__hash_fd_more(int fd, uint64_t size, digest_ctx_t *c);
/* Commit an fsync'ed file (given as a name under dirfd) as the blob d through the
 * store's driver (file: link it to the blob path, durably). Already present is
 * success. */
int store__link_blob(store_t *s, int from_dirfd, const char *from_name, const digest_t *d);

/* Session table (upload.c). */
void store__sessions_free(store_t *s);
/* Drop hash states of sessions idle more than idle_sec (and unreferenced). Returns
 * the number dropped. Takes the lock. */
size_t store__sessions_evict(store_t *s, uint64_t idle_sec);
size_t store__sessions_count(store_t *s);

/* Metadata (meta.c), for the unit tests: 1 when every lookup and listing statement
 * runs as an index search (no table scan, no sort), else 0 with the first offending
 * statement and plan line in bad. */
struct meta;
int meta__plans_check(struct meta *m, char *bad, size_t n);
