/* storage/upload.c: upload sessions. Bytes go to uploads/<uuid>; the running hash
 * of each session lives in an in-memory table in store_t. A request gets exclusive
 * use of a session between store_upload_acquire() and store_upload_release(); while
 * it holds it, the session's alg and ctx belong to that request alone (the table
 * lock only guards membership, busy, the committed size and last_used, and eviction
 * never touches a held session). Nothing waits for a session: the requests run on
 * the HTTP server's event-loop threads, and a holder may be a client sending its body
 * as slowly as it likes, so a second taker is refused at once (BERTH_EBUSY) and can
 * read the committed size instead. Across processes (replicas sharing the
 * directory) an flock on the session's file does the same. The file is the truth: a hash state that is
 * missing (restart, eviction) or covers a different number of bytes than the file
 * holds is rebuilt from the file, lazily at the next write or at commit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/store-internal.h"

static void hash_wait(upload_t *u);
static void hasher_stop(upload_t *u);

/* ---- the session table (caller holds s->lock unless noted) ---- */

static size_t bucket_of(const char *uuid) {
        uint32_t h = 2166136261u; /* FNV-1a */

        for (size_t i = 0; i < UPLOAD_UUID_LEN; i++) {
                h ^= (uint8_t) uuid[i];
                h *= 16777619u;
        }
        return h & (STORE_SESSION_BUCKETS - 1);
}

static struct session *table_find(store_t *s, const char *uuid) {
        for (struct session *se = s->buckets[bucket_of(uuid)]; se; se = se->next)
                if (memcmp(se->uuid, uuid, UPLOAD_UUID_LEN) == 0)
                        return se;
        return NULL;
}

static void session_destroy(struct session *se) {
        digest_ctx_free(se->ctx);
        free(se);
}

static struct session *table_add(store_t *s, const char *uuid, digest_alg_t alg) {
        struct session *se = calloc(1, sizeof(*se));
        size_t b;

        if (!se)
                return NULL;
        memcpy(se->uuid, uuid, UPLOAD_UUID_LEN + 1);
        se->alg = alg;
        se->last_used = store__now_mono();
        b = bucket_of(uuid);
        se->next = s->buckets[b];
        s->buckets[b] = se;
        s->n_sessions++;
        return se;
}

static void table_unlink(store_t *s, struct session *se) {
        struct session **pp = &s->buckets[bucket_of(se->uuid)];

        for (; *pp; pp = &(*pp)->next)
                if (*pp == se) {
                        *pp = se->next;
                        se->next = NULL;
                        s->n_sessions--;
                        return;
                }
}

/* The session is gone (deleted, committed, its file vanished): out of the table,
 * hash state freed. Freed when its holder lets go. */
static void session_kill(store_t *s, struct session *se) {
        if (se->dead)
                return;
        table_unlink(s, se);
        se->dead = true;
        se->ctx = digest_ctx_free(se->ctx);
}

static size_t evict_locked(store_t *s, uint64_t idle_sec, uint64_t now) {
        size_t n = 0;

        for (size_t b = 0; b < STORE_SESSION_BUCKETS; b++) {
                struct session **pp = &s->buckets[b];
                while (*pp) {
                        struct session *se = *pp;
                        if (!se->busy && now - se->last_used >= idle_sec) {
                                *pp = se->next;
                                s->n_sessions--;
                                session_destroy(se);
                                n++;
                        } else {
                                pp = &se->next;
                        }
                }
        }
        return n;
}

/* Bound memory: every minute drop long-idle hash states; above the cap drop idle ones
 * sooner. They are rebuilt from their files if the session comes back. */
static void maybe_sweep(store_t *s) {
        uint64_t now = store__now_mono();

        if (s->n_sessions > STORE_SESSION_MAX) {
                (void) evict_locked(s, 60, now);
                if (s->n_sessions > STORE_SESSION_MAX)
                        (void) evict_locked(s, 0, now);
                s->last_sweep = now;
        } else if (now - s->last_sweep >= 60) {
                (void) evict_locked(s, STORE_SESSION_IDLE_SEC, now);
                s->last_sweep = now;
        }
}

/* The holder lets go; kill the session first if asked. size: what the file holds
 * now (the new committed size), NULL when not known. */
static void session_put(store_t *s, struct session *se, bool kill, const uint64_t *size) {
        (void) pthread_mutex_lock(&s->lock);
        if (kill)
                session_kill(s, se);
        se->busy = false;
        se->last_used = store__now_mono();
        se->size_known = size != NULL;
        if (size)
                se->committed = *size;
        if (se->dead) {
                session_destroy(se);
        } else if (!se->ctx) {
                /* nothing worth keeping in memory */
                table_unlink(s, se);
                session_destroy(se);
        }
        (void) pthread_mutex_unlock(&s->lock);
}

/* What the table knows about uuid: -ENOENT nothing, else 1 held or 0 idle, and the
 * committed size in *ret_size when *ret_known. Takes the lock. */
static int session_peek(store_t *s, const char *uuid, bool *ret_known, uint64_t *ret_size) {
        struct session *se;
        int r = -ENOENT;

        (void) pthread_mutex_lock(&s->lock);
        se = table_find(s, uuid);
        if (se) {
                r = se->busy ? 1 : 0;
                *ret_known = se->size_known;
                *ret_size = se->committed;
        }
        (void) pthread_mutex_unlock(&s->lock);
        return r;
}

void store__sessions_free(store_t *s) {
        for (size_t b = 0; b < STORE_SESSION_BUCKETS; b++) {
                struct session *se = s->buckets[b];
                while (se) {
                        struct session *next = se->next;
                        session_destroy(se);
                        se = next;
                }
                s->buckets[b] = NULL;
        }
        s->n_sessions = 0;
}

size_t store__sessions_evict(store_t *s, uint64_t idle_sec) {
        size_t n;

        (void) pthread_mutex_lock(&s->lock);
        n = evict_locked(s, idle_sec, store__now_mono());
        (void) pthread_mutex_unlock(&s->lock);
        return n;
}

size_t store__sessions_count(store_t *s) {
        size_t n;

        (void) pthread_mutex_lock(&s->lock);
        n = s->n_sessions;
        (void) pthread_mutex_unlock(&s->lock);
        return n;
}

/* ---- sessions ---- */

int store_upload_create(store_t *s, digest_alg_t alg, char ret_uuid[UPLOAD_UUID_LEN + 1]) {
        char uuid[UPLOAD_UUID_LEN + 1];
        digest_ctx_t *ctx = NULL;
        struct session *se;
        int fd = -1, r;

        if (!s || !ret_uuid || (alg != DIGEST_SHA256 && alg != DIGEST_SHA512))
                return -EINVAL;
        for (int tries = 0; fd < 0; tries++) {
                r = store__uuid_new(uuid);
                if (r < 0)
                        return r;
                fd = openat(s->uploads_fd, uuid, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0 && (errno != EEXIST || tries >= 3))
                        return (errno == ENOSPC || errno == EDQUOT) ? -ENOSPC : -errno;
        }
        (void) close(fd);
        r = digest_ctx_new(alg, &ctx);
        if (r < 0)
                goto fail;

        (void) pthread_mutex_lock(&s->lock);
        maybe_sweep(s);
        se = table_find(s, uuid);
        if (!se)
                se = table_add(s, uuid, alg);
        if (se && !se->busy) {
                digest_ctx_free(se->ctx);
                se->ctx = ctx;
                se->alg = alg;
                se->committed = 0;
                se->size_known = true;
                ctx = NULL;
        }
        (void) pthread_mutex_unlock(&s->lock);
        if (!se) {
                r = -ENOMEM;
                goto fail;
        }
        digest_ctx_free(ctx); /* only if an impossible holder existed */
        memcpy(ret_uuid, uuid, sizeof(uuid));
        return 0;
fail:
        digest_ctx_free(ctx);
        (void) unlinkat(s->uploads_fd, uuid, 0);
        return r;
}

int store_upload_acquire(store_t *s, const char *uuid, upload_t **ret) {
        _cleanup_close_ int fd = -1;
        struct session *se;
        struct stat st;
        upload_t *u;
        bool kill = false;
        int r;

        if (!s || !ret)
                return -EINVAL;
        if (!store__uuid_valid(uuid))
                return -ENOENT; /* never let it near a path */
        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;

        (void) pthread_mutex_lock(&s->lock);
        maybe_sweep(s);
        se = table_find(s, uuid);
        if (!se)
                se = table_add(s, uuid, DIGEST_SHA256);
        if (!se) {
                (void) pthread_mutex_unlock(&s->lock);
                free(u);
                return -ENOMEM;
        }
        if (se->busy) {
                /* Never wait here: the holder may be a request whose body is still
                 * arriving, at whatever pace its client chooses. */
                (void) pthread_mutex_unlock(&s->lock);
                free(u);
                return BERTH_EBUSY;
        }
        se->busy = true;
        se->last_used = store__now_mono();
        (void) pthread_mutex_unlock(&s->lock);

        fd = openat(s->uploads_fd, uuid, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                kill = r == -ENOENT;
                /* a directory or a symbolic link where the file belongs is no session,
                 * as any file that is not regular (below) */
                if (r == -EISDIR || r == -ELOOP)
                        r = -ENOENT;
                goto fail;
        }
        /* Replicas sharing the directory (several berthd on one PostgreSQL): the
         * table above is this process's only; the lock on the file keeps a session
         * to one request across processes, refused at once as above. Released when
         * the descriptor closes (the request ends, or its process dies). */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? BERTH_EBUSY : -errno;
                goto fail;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -ENOENT;
                goto fail;
        }
        if (st.st_nlink > 1) {
                /* Linked as a blob already: a commit that crashed before removing the
                 * session file. Writing to it would change the blob. */
                (void) unlinkat(s->uploads_fd, uuid, 0);
                r = -ENOENT;
                kill = true;
                goto fail;
        }
        /* Until it is given back, the session's committed size is what it holds now:
         * whatever this request writes may still be undone. Published before this
         * function returns, so before any write (store_upload_committed relies on it). */
        (void) pthread_mutex_lock(&s->lock);
        se->committed = (uint64_t) st.st_size;
        se->size_known = true;
        (void) pthread_mutex_unlock(&s->lock);
        u->store = s;
        u->se = se;
        u->fd = TAKE_FD(fd);
        u->size = (uint64_t) st.st_size;
        u->wb_done = u->size;
        *ret = u;
        return 0;
fail:
        session_put(s, se, kill, NULL);
        free(u);
        return r;
}

int store_upload_committed(store_t *s, const char *uuid, uint64_t *ret_size) {
        struct stat st;
        uint64_t size = 0;
        bool known = false;
        int r;

        if (!s || !ret_size)
                return -EINVAL;
        if (!store__uuid_valid(uuid))
                return -ENOENT; /* never let it near a path */
        r = session_peek(s, uuid, &known, &size);
        if (r == 1 && known) {
                *ret_size = size;
                return 1;
        }
        /* Not held here, or its holder has not looked at the file yet: the file says.
         * Not the size this process's table remembers for an idle session: a replica
         * sharing the directory may have written to the file since. */
        if (fstatat(s->uploads_fd, uuid, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_nlink > 1)
                return -ENOENT; /* not a session, or already a blob (see acquire) */
        /* A request of this process may have taken it meanwhile and written: it
         * published the size it found before writing, so a second look catches any
         * byte of its the stat saw. */
        r = session_peek(s, uuid, &known, &size);
        if (r == 1 && known) {
                *ret_size = size;
                return 1;
        }
        *ret_size = (uint64_t) st.st_size;
        return 0;
}

void store_upload_release(upload_t *u) {
        if (!u)
                return;
        /* Waits only for the hashing thread of this very request, on bytes it handed
         * over itself (upload_write_async): never for another connection. */
        hash_wait(u);
        hasher_stop(u);
        closep(&u->fd);
        session_put(u->store, u->se, u->gone, u->gone ? NULL : &u->size);
        free(u);
}

int store_upload_delete(store_t *s, const char *uuid) {
        upload_t *u = NULL;
        int r;

        r = store_upload_acquire(s, uuid, &u);
        if (r < 0)
                return r;
        r = upload_remove(u);
        store_upload_release(u);
        return r;
}

int store_upload_scan_old(store_t *s, uint64_t max_age_sec,
                          void (*cb)(void *userdata, const char *uuid), void *userdata) {
        char (*names)[UPLOAD_UUID_LEN + 1] = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        time_t now;
        DIR *dir;
        int fd, r = 0;

        if (!s || !cb)
                return -EINVAL;
        fd = openat(s->uploads_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                r = -errno;
                (void) close(fd);
                return r;
        }
        now = store__now(s);
        /* Collect first, call back after: cb may delete entries. */
        while ((errno = 0, de = readdir(dir))) {
                struct stat st;
                uint64_t age;

                if (!store__uuid_valid(de->d_name))
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                age = now > st.st_mtim.tv_sec ? (uint64_t) (now - st.st_mtim.tv_sec) : 0;
                if (age <= max_age_sec)
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        void *p = reallocarray(names, ncap, sizeof(*names));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        names = p;
                        cap = ncap;
                }
                memcpy(names[n++], de->d_name, UPLOAD_UUID_LEN + 1);
        }
        if (r == 0 && errno != 0)
                r = -errno;
        (void) closedir(dir);
        if (r == 0) {
                for (size_t i = 0; i < n; i++)
                        cb(userdata, names[i]);
                r = n > INT32_MAX ? INT32_MAX : (int) n;
        }
        free(names);
        /* The driver's own leftovers of the same age (S3: multipart uploads of a commit
         * a crash interrupted) go with them; failing to list them fails nothing here. */
        if (r >= 0 && s->bs->ops->expire_incomplete)
                (void) s->bs->ops->expire_incomplete(s->bs, max_age_sec, now);
        return r;
}

/* ---- an acquired session ---- */

uint64_t upload_size(const upload_t *u) {
        return u ? u->size : 0;
}

const char *upload_uuid(const upload_t *u) {
        return u ? u->se->uuid : NULL;
}

int upload_remove(upload_t *u) {
        if (!u)
                return -EINVAL;
        hash_wait(u);
        if (u->gone)
                return -ENOENT;
        if (unlinkat(u->store->uploads_fd, u->se->uuid, 0) < 0 && errno != ENOENT)
                return -errno;
        u->gone = true;
        return 0;
}

/* ---- hashing beside the writes ---- */

static void *hasher_main(void *arg) {
        upload_t *u = arg;

        pthread_mutex_lock(&u->hlock);
        for (;;) {
                while (!u->job_pending && !u->hasher_stop)
                        pthread_cond_wait(&u->hcond, &u->hlock);
                if (!u->job_pending && u->hasher_stop)
                        break;
                pthread_mutex_unlock(&u->hlock);
                /* the session's ctx is ours while a job is pending: the owner waits */
                int r = u->se->ctx ? digest_ctx_update(u->se->ctx, u->job_buf, u->job_len) : BERTH_ECRYPTO;
                pthread_mutex_lock(&u->hlock);
                if (r < 0 && u->job_err == 0)
                        u->job_err = r;
                u->job_pending = false;
                pthread_cond_broadcast(&u->hcond);
        }
        pthread_mutex_unlock(&u->hlock);
        return NULL;
}

/* Wait for the hash job in flight; a failed job leaves the state to be rebuilt.
 * The job is one this request posted (write_piece), hashed by its own thread, so
 * this never waits on another connection. */
static void hash_wait(upload_t *u) {
        if (!u->hasher_started)
                return;
        pthread_mutex_lock(&u->hlock);
        while (u->job_pending)
                pthread_cond_wait(&u->hcond, &u->hlock);
        if (u->job_err) {
                u->se->ctx = digest_ctx_free(u->se->ctx);
                u->job_err = 0;
        }
        pthread_mutex_unlock(&u->hlock);
}

static void hasher_stop(upload_t *u) {
        if (!u->hasher_started)
                return;
        pthread_mutex_lock(&u->hlock);
        u->hasher_stop = true;
        pthread_cond_broadcast(&u->hcond);
        pthread_mutex_unlock(&u->hlock);
        pthread_join(u->hasher, NULL);
        u->hasher_started = false;
        pthread_cond_destroy(&u->hcond);
        pthread_mutex_destroy(&u->hlock);
}

static bool hasher_start(upload_t *u) {
        if (u->hasher_started)
                return true;
        if (pthread_mutex_init(&u->hlock, NULL) != 0)
                return false;
        if (pthread_cond_init(&u->hcond, NULL) != 0) {
                pthread_mutex_destroy(&u->hlock);
                return false;
        }
        u->job_pending = u->hasher_stop = false;
        u->job_err = 0;
        if (pthread_create(&u->hasher, NULL, hasher_main, u) != 0) {
                pthread_cond_destroy(&u->hcond);
                pthread_mutex_destroy(&u->hlock);
                return false;
        }
        u->hasher_started = true;
        return true;
}

/* Make the session's hash cover exactly the file's bytes. A state that covers a
 * prefix of the file (another process, a replica sharing the directory, appended
 * since this one last wrote) is carried on over the new bytes alone: the bytes a
 * session held when a request took it never change while the session lives (a
 * request undoes only what it wrote itself, upload_truncate to its start), so a
 * prefix once hashed is still the file's. An upload whose chunks alternate between
 * replicas thus reads each byte back at most once, not the whole file per chunk. */
static int hash_catch_up(upload_t *u) {
        struct session *se = u->se;
        digest_ctx_t *c = NULL;
        int r;

        if (se->ctx && digest_ctx_bytes(se->ctx) == u->size)
                return 0;
        if (se->ctx && digest_ctx_bytes(se->ctx) < u->size) {
                r = store__hash_fd_more(u->fd, u->size, se->ctx);
                if (r == 0)
                        return 0;
                /* a state half-extended is no state: rebuilt below */
        }
        se->ctx = digest_ctx_free(se->ctx);
        r = store__hash_fd(u->fd, u->size, se->alg, &c);
        if (r < 0)
                return r;
        se->ctx = c;
        return 0;
}

/* Start writeback of each completed chunk, and wait for the one before it, so dirty
 * pages stay bounded and the commit's fsync finds little left to do. */
static void writeback(upload_t *u) {
        const uint64_t chunk = STORE_WRITEBACK_CHUNK;

        /* a driver without files (S3) reads the session file back from the page
         * cache and keeps the blob durable itself: writing the file out is wasted */
        if (!u->store->writeback || !store_has_files(u->store)) {
                u->wb_done = u->size;
                return;
        }
        while (u->size - u->wb_done >= chunk) {
                uint64_t off = u->wb_done;

                (void) sync_file_range(u->fd, (off_t) off, (off_t) chunk, SYNC_FILE_RANGE_WRITE);
                if (off >= chunk) {
                        (void) sync_file_range(u->fd, (off_t) (off - chunk), (off_t) chunk,
                                               SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                       SYNC_FILE_RANGE_WAIT_AFTER);
                }
                u->wb_done = off + chunk;
        }
}

static int write_piece(upload_t *u, const void *buf, size_t len) {
        int r;

        if (!u || (!buf && len > 0))
                return -EINVAL;
        hash_wait(u);
        if (u->gone)
                return -ENOENT;
        if (len == 0)
                return 0;
        if (len > (uint64_t) INT64_MAX - u->size)
                return -EFBIG;
        r = hash_catch_up(u);
        if (r < 0)
                return r;
        r = store__pwrite_all(u->fd, buf, len, u->size);
        if (r >= 0 && hasher_start(u)) {
                pthread_mutex_lock(&u->hlock);
                u->job_buf = buf;
                u->job_len = len;
                u->job_pending = true;
                pthread_cond_signal(&u->hcond);
                pthread_mutex_unlock(&u->hlock);
        } else if (r >= 0) {
                r = digest_ctx_update(u->se->ctx, buf, len);
                if (r < 0) /* the hash state is unusable; rebuilt lazily */
                        u->se->ctx = digest_ctx_free(u->se->ctx);
        }
        if (r < 0) {
                /* Leave the session as it was before this call: drop the partial
                 * write. If even that fails, the file is longer than u->size and the
                 * next acquire sees its true size (and re-hashes). */
                if (ftruncate(u->fd, (off_t) u->size) < 0)
                        u->se->ctx = digest_ctx_free(u->se->ctx);
                return r;
        }
        u->size += len;
        writeback(u);
        return 0;
}

int upload_write_async(upload_t *u, const void *buf, size_t len) {
        return write_piece(u, buf, len);
}

int upload_truncate(upload_t *u, uint64_t size) {
        if (!u)
                return -EINVAL;
        hash_wait(u);
        if (u->gone)
                return -ENOENT;
        if (size > u->size)
                return -EINVAL;
        if (size == u->size)
                return 0;
        /* never through a second name: a session file linked as a blob (a commit
         * whose link was made but then reported failing) is that blob's bytes */
        struct stat st;
        if (fstat(u->fd, &st) < 0)
                return -errno;
        if (st.st_nlink > 1)
                return -EBUSY;
        if (ftruncate(u->fd, (off_t) size) < 0)
                return -errno;
        u->size = size;
        if (u->wb_done > size)
                u->wb_done = size;
        if (u->se->ctx && digest_ctx_bytes(u->se->ctx) != size)
                u->se->ctx = digest_ctx_free(u->se->ctx); /* re-hashed lazily */
        return 0;
}

static int commit(upload_t *u, const digest_t *want, uint64_t *ret_size, bool keep) {
        struct session *se;
        struct stat st;
        store_t *s;
        digest_t got;
        int r;

        if (!u || !want)
                return -EINVAL;
        hash_wait(u);
        if (u->gone)
                return -ENOENT;
        se = u->se;
        s = u->store;
        /* A failed undo of a partial write may have left bytes past u->size. */
        if (fstat(u->fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size != u->size && ftruncate(u->fd, (off_t) u->size) < 0)
                return -errno;

        if (se->ctx && digest_ctx_alg(se->ctx) == want->alg && digest_ctx_bytes(se->ctx) == u->size) {
                r = digest_ctx_peek(se->ctx, &got);
                if (r < 0)
                        return r;
        } else {
                digest_ctx_t *c = NULL;

                r = store__hash_fd(u->fd, u->size, want->alg, &c);
                if (r < 0)
                        return r;
                r = digest_ctx_peek(c, &got);
                if (r < 0) {
                        digest_ctx_free(c);
                        return r;
                }
                /* Keep the fresh state when it can serve the session from now on. */
                if (!se->ctx || se->alg == want->alg || digest_ctx_bytes(se->ctx) != u->size) {
                        digest_ctx_free(se->ctx);
                        se->ctx = c;
                        se->alg = want->alg;
                } else {
                        digest_ctx_free(c);
                }
        }
        if (!digest_equal(&got, want))
                return BERTH_EDIGEST;

        /* the session file becomes the blob on the filesystem: durable first; a
         * driver without files makes its own copy durable (the file is scratch) */
        if (store_has_files(s) && fdatasync(u->fd) < 0)
                return (errno == ENOSPC || errno == EDQUOT) ? -ENOSPC : -errno;
        r = store__link_blob(s, s->uploads_fd, se->uuid, want);
        /* linked but not reported done (the directory's sync failed): the file is
         * the blob now, whole and checked, maybe not yet durable under its name; the
         * session ends here so that nothing undoes bytes the blob holds (the blob
         * without a row is GC's, or the client's next push links it) */
        if (r < 0 && store_has_files(s) && fstat(u->fd, &st) == 0 && st.st_nlink > 1) {
                (void) unlinkat(s->uploads_fd, se->uuid, 0);
                u->gone = true;
        }
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = u->size;
        if (keep) {
                u->linked = *want;
                u->is_linked = true;
                return 0;
        }
        /* The blob is durable now; the session file is just a second name for it. If
         * removing it fails, acquire refuses it (link count > 1) and expiry removes it. */
        (void) unlinkat(s->uploads_fd, se->uuid, 0);
        u->gone = true;
        return 0;
}

int upload_commit(upload_t *u, const digest_t *want, uint64_t *ret_size) {
        store_t *s = u ? u->store : NULL;
        uint64_t t0 = store__observe_start(s);
        int r = commit(u, want, ret_size, false);

        store__observe_end(s, STORE_ACT_COMMIT, t0);
        return r;
}

int upload_commit_keep(upload_t *u, const digest_t *want, uint64_t *ret_size) {
        store_t *s = u ? u->store : NULL;
        uint64_t t0 = store__observe_start(s);
        int r = commit(u, want, ret_size, true);

        store__observe_end(s, STORE_ACT_COMMIT, t0);
        return r;
}

int upload_commit_ensure(upload_t *u) {
        int r;

        if (!u || !u->is_linked || u->gone)
                return -EINVAL;
        r = store_blob_stat(u->store, &u->linked, NULL);
        if (r != 0)
                return r < 0 ? r : 0;
        /* a GC swept the file between our link and this transaction: the session's
         * file is the same bytes, checked and fsynced */
        return store__link_blob(u->store, u->store->uploads_fd, u->se->uuid, &u->linked);
}

void upload_commit_done(upload_t *u) {
        if (!u || !u->is_linked || u->gone)
                return;
        (void) unlinkat(u->store->uploads_fd, u->se->uuid, 0);
        u->gone = true;
        u->is_linked = false;
}
