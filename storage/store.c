/* storage/store.c: the content-addressed blob store on the filesystem.
 *
 * A blob becomes visible only when a complete, fsync'ed file is link()ed to its
 * path blobs/<alg>/<2 hex>/<hex>; the fan-out directory is fsync'ed after the link.
 * EEXIST on link means the same content is already there (deduplicated). Nothing
 * is ever written at a blob path directly, so a reader never sees a partial blob. */
#include <errno.h>
#include <stdio.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/store-internal.h"

static const blobstore_ops_t file_ops;

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

/* ---- helpers shared with upload.c ---- */

bool store__uuid_valid(const char *s) {
        if (!s)
                return false;
        for (size_t i = 0; i < UPLOAD_UUID_LEN; i++) {
                char c = s[i];
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (c != '-')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                        return false; /* also stops at NUL: too short */
                }
        }
        return s[UPLOAD_UUID_LEN] == '\0';
}

int store__uuid_new(char ret[UPLOAD_UUID_LEN + 1]) {
        static const char hexd[] = "0123456789abcdef";
        uint8_t b[16];
        size_t got = 0;
        char *p = ret;

        while (got < sizeof(b)) {
                ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
        }
        b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        for (size_t i = 0; i < sizeof(b); i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                *p++ = hexd[b[i] >> 4];
                *p++ = hexd[b[i] & 15];
        }
        *p = '\0';
        return 0;
}

uint64_t store__now_mono(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec;
}

int store__fsync_dirfd(int dirfd) {
        if (fsync(dirfd) < 0)
                return -errno;
        return 0;
}

static int map_write_errno(int e) {
        return (e == ENOSPC || e == EDQUOT) ? -ENOSPC : -e;
}

int store__pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
        const uint8_t *p = buf;

        if (off > (uint64_t) INT64_MAX || len > (uint64_t) INT64_MAX - off)
                return -EFBIG;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return map_write_errno(errno);
                }
                if (n == 0)
                        return -EIO; /* no progress on a regular file: give up */
                p += n;
                len -= (size_t) n;
                off += (uint64_t) n;
        }
        return 0;
}

int store__hash_fd_more(int fd, uint64_t size, digest_ctx_t *c) {
        const size_t bufsz = 1u << 20;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t off = digest_ctx_bytes(c);
        int r;

        if (off > size)
                return -EINVAL;
        buf = malloc(bufsz);
        if (!buf)
                return -ENOMEM;
        (void) posix_fadvise(fd, (off_t) off, 0, POSIX_FADV_SEQUENTIAL);
        while (off < size) {
                size_t want = size - off < bufsz ? (size_t) (size - off) : bufsz;
                ssize_t n = pread(fd, buf, want, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO; /* the file shrank under us */
                r = digest_ctx_update(c, buf, (size_t) n);
                if (r < 0)
                        return r;
                off += (uint64_t) n;
        }
        return 0;
}

int store__hash_fd(int fd, uint64_t size, digest_alg_t alg, digest_ctx_t **ret) {
        digest_ctx_t *c = NULL;
        int r;

        r = digest_ctx_new(alg, &c);
        if (r < 0)
                return r;
        r = store__hash_fd_more(fd, size, c);
        if (r < 0) {
                digest_ctx_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* blobs/<alg>/<2hex>: open it, creating it (and making that durable) if needed. */
static int fanout_open(store_t *s, const digest_t *d, int *ret_fd) {
        const char *hex = digest_hex(d);
        int afd = s->alg_fd[d->alg == DIGEST_SHA512 ? 1 : 0];
        char sub[3] = { hex[0], hex[1], '\0' };
        int fd, r;

        fd = openat(afd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
                if (mkdirat(afd, sub, 0700) < 0) {
                        if (errno != EEXIST)
                                return map_write_errno(errno);
                } else {
                        r = store__fsync_dirfd(afd); /* the new directory entry */
                        if (r < 0)
                                return r;
                }
                fd = openat(afd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static int file_commit(blobstore_t *bs, int from_dirfd, const char *from_name, const digest_t *d) {
        store_t *s = FILE_STORE(bs);
        _cleanup_close_ int dfd = -1;
        const char *hex = digest_hex(d);
        int r;

        r = fanout_open(s, d, &dfd);
        if (r < 0)
                return r;
        if (linkat(from_dirfd, from_name, dfd, hex, 0) < 0) {
                if (errno != EEXIST)
                        return map_write_errno(errno);
                /* Already there: deduplicated. The existing file was made durable by
                 * whoever linked it, but its directory entry may not have been synced
                 * yet if that writer is still running; syncing again is cheap. */
        }
        return store__fsync_dirfd(dfd);
}

/* ---- open / free ---- */

static int open_subdir(int parent, const char *name, int *ret) {
        int fd;

        if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}

int store_open(const char *root, store_t **ret) {
        return store_open_with(root, NULL, ret);
}

int store_open_with(const char *root, blobstore_t *bs, store_t **ret) {
        store_t *s;
        struct statfs sfs;
        int r;

        if (!root || !*root || !ret)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->root_fd = s->blobs_fd = s->uploads_fd = s->tmp_fd = s->trash_fd = -1;
        s->file_bs.ops = &file_ops;
        s->bs = bs ? bs : &s->file_bs; /* ours from here on, even on failure */
        s->alg_fd[0] = s->alg_fd[1] = -1;
        r = pthread_mutex_init(&s->lock, NULL);
        if (r != 0) {
                free(s);
                return -r;
        }
        r = pthread_cond_init(&s->bg_cond, NULL);
        if (r != 0) {
                (void) pthread_mutex_destroy(&s->lock);
                free(s);
                return -r;
        }

        if (mkdir(root, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                goto fail;
        }
        s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0) {
                r = -errno;
                goto fail;
        }
        if ((r = open_subdir(s->root_fd, "blobs", &s->blobs_fd)) < 0 ||
            (r = open_subdir(s->root_fd, "uploads", &s->uploads_fd)) < 0 ||
            (r = open_subdir(s->root_fd, "tmp", &s->tmp_fd)) < 0 ||
            (r = open_subdir(s->root_fd, "trash", &s->trash_fd)) < 0 ||
            (r = open_subdir(s->blobs_fd, "sha256", &s->alg_fd[0])) < 0 ||
            (r = open_subdir(s->blobs_fd, "sha512", &s->alg_fd[1])) < 0)
                goto fail;

        s->writeback = true;
        if (fstatfs(s->uploads_fd, &sfs) == 0 &&
            ((unsigned long) sfs.f_type == TMPFS_MAGIC || (unsigned long) sfs.f_type == RAMFS_MAGIC))
                s->writeback = false;
        s->last_sweep = store__now_mono();
        *ret = s;
        return 0;
fail:
        store_free(s);
        return r;
}

store_t *store_free(store_t *s) {
        if (!s)
                return NULL;
        store_quiesce(s);
        store__sessions_free(s);
        if (s->bs && s->bs != &s->file_bs)
                blobstore_free(s->bs);
        closep(&s->alg_fd[0]);
        closep(&s->alg_fd[1]);
        closep(&s->tmp_fd);
        closep(&s->trash_fd);
        closep(&s->uploads_fd);
        closep(&s->blobs_fd);
        closep(&s->root_fd);
        (void) pthread_cond_destroy(&s->bg_cond);
        (void) pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

void store_quiesce(store_t *s) {
        if (!s)
                return;
        (void) pthread_mutex_lock(&s->lock);
        while (s->n_bg)
                (void) pthread_cond_wait(&s->bg_cond, &s->lock);
        (void) pthread_mutex_unlock(&s->lock);
}

void store__bg_enter(store_t *s) {
        (void) pthread_mutex_lock(&s->lock);
        s->n_bg++;
        (void) pthread_mutex_unlock(&s->lock);
}

void store__bg_leave(store_t *s) {
        (void) pthread_mutex_lock(&s->lock);
        if (--s->n_bg == 0)
                (void) pthread_cond_broadcast(&s->bg_cond);
        (void) pthread_mutex_unlock(&s->lock);
}

/* ---- blobs ---- */

static int file_stat(blobstore_t *bs, const digest_t *d, uint64_t *ret_size) {
        store_t *s = FILE_STORE(bs);
        char rel[DIGEST_PATH_MAX];
        struct stat st;
        int r;

        if (!s || !d)
                return -EINVAL;
        r = digest_rel_path(d, rel, sizeof(rel));
        if (r < 0)
                return r;
        if (fstatat(s->blobs_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        if (!S_ISREG(st.st_mode))
                return -EUCLEAN;
        if (ret_size)
                *ret_size = (uint64_t) st.st_size;
        return 1;
}

static int file_open_fd(blobstore_t *bs, const digest_t *d, int *ret_fd, uint64_t *ret_size) {
        store_t *s = FILE_STORE(bs);
        _cleanup_close_ int fd = -1;
        char rel[DIGEST_PATH_MAX];
        struct stat st;
        int r;

        if (!s || !d || !ret_fd)
                return -EINVAL;
        r = digest_rel_path(d, rel, sizeof(rel));
        if (r < 0)
                return r;
        fd = openat(s->blobs_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return errno == ENOTDIR ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EUCLEAN;
        if (ret_size)
                *ret_size = (uint64_t) st.st_size;
        /* blobs are read front to back: a larger readahead window */
        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int blob_put(store_t *s, const digest_t *d, const void *buf, size_t len) {
        _cleanup_close_ int fd = -1;
        char name[UPLOAD_UUID_LEN + 1];
        digest_t got;
        int r;

        if (!s || !d || (!buf && len > 0))
                return -EINVAL;
        r = digest_buf(d->alg, buf ? buf : "", len, &got);
        if (r < 0)
                return r;
        if (!digest_equal(&got, d))
                return BERTH_EDIGEST;
        r = s->bs->ops->stat(s->bs, d, NULL);
        if (r != 0)
                return r < 0 ? r : 0; /* already present */

        r = store__uuid_new(name);
        if (r < 0)
                return r;
        fd = openat(s->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return map_write_errno(errno);
        r = store__pwrite_all(fd, buf, len, 0);
        if (r >= 0 && fsync(fd) < 0)
                r = map_write_errno(errno);
        if (r >= 0)
                r = store__link_blob(s, s->tmp_fd, name, d);
        (void) unlinkat(s->tmp_fd, name, 0);
        return r < 0 ? r : 0;
}

int store_blob_fill_open(store_t *s, char ret_name[UPLOAD_UUID_LEN + 1], int *ret_fd) {
        char name[UPLOAD_UUID_LEN + 1];
        int fd, r;

        if (!s || !ret_name || !ret_fd)
                return -EINVAL;
        r = store__uuid_new(name);
        if (r < 0)
                return r;
        fd = openat(s->tmp_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return map_write_errno(errno);
        memcpy(ret_name, name, sizeof(name));
        *ret_fd = fd;
        return 0;
}

int store_blob_fill_commit(store_t *s, const char *name, int fd, const digest_t *d) {
        int r = 0;

        if (!s || !name || fd < 0 || !d)
                return -EINVAL;
        if (fsync(fd) < 0)
                r = map_write_errno(errno);
        if (r >= 0)
                r = store__link_blob(s, s->tmp_fd, name, d);
        (void) unlinkat(s->tmp_fd, name, 0);
        return r < 0 ? r : 0;
}

void store_blob_fill_abort(store_t *s, const char *name) {
        if (s && name)
                (void) unlinkat(s->tmp_fd, name, 0);
}

static int file_remove(blobstore_t *bs, const digest_t *d) {
        store_t *s = FILE_STORE(bs);
        char rel[DIGEST_PATH_MAX];
        int r;

        if (!s || !d)
                return -EINVAL;
        r = digest_rel_path(d, rel, sizeof(rel));
        if (r < 0)
                return r;
        if (unlinkat(s->blobs_fd, rel, 0) < 0)
                return errno == ENOTDIR ? -ENOENT : -errno;
        return 0;
}

static int file_quarantine(blobstore_t *bs, const digest_t *d, time_t now, char *ret_name, size_t n) {
        store_t *s = FILE_STORE(bs);
        _cleanup_close_ int qfd = -1;
        char rel[DIGEST_PATH_MAX], name[DIGEST_HEX_MAX + 64];
        int r;

        if (!s || !d)
                return -EINVAL;
        r = digest_rel_path(d, rel, sizeof(rel));
        if (r < 0)
                return r;
        r = open_subdir(s->root_fd, "quarantine", &qfd);
        if (r < 0)
                return r;
        /* a new name every time (link refuses to replace): a blob quarantined twice
         * (corrupt again after a re-push) keeps both copies */
        for (unsigned i = 0;; i++) {
                (void) snprintf(name, sizeof(name), "%s-%s-%lld%s%.0u", digest_alg_name(d->alg), digest_hex(d),
                                (long long) now, i ? "-" : "", i);
                if (linkat(s->blobs_fd, rel, qfd, name, 0) == 0)
                        break;
                if (errno != EEXIST || i >= 1000)
                        return errno == ENOTDIR ? -ENOENT : -errno;
        }
        if (unlinkat(s->blobs_fd, rel, 0) < 0) {
                r = errno == ENOTDIR ? -ENOENT : -errno;
                (void) unlinkat(qfd, name, 0); /* gone meanwhile (GC): nothing was moved */
                return r;
        }
        (void) store__fsync_dirfd(qfd);
        if (ret_name && n)
                (void) snprintf(ret_name, n, "quarantine/%s", name);
        return 0;
}

/* ---- the public calls, timed for the observer (store_set_observer) ---- */

uint64_t store__observe_start(const store_t *s) {
        struct timespec ts;

        if (!s || !s->observe)
                return 0;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void store__observe_end(const store_t *s, store_action_t a, uint64_t t0) {
        if (s && s->observe && t0)
                s->observe(s->observe_userdata, a, store__observe_start(s) - t0);
}

void store_set_observer(store_t *s, store_observe_fn fn, void *userdata) {
        if (!s)
                return;
        s->observe = fn;
        s->observe_userdata = userdata;
}

const char *const store_action_names[_STORE_ACT_MAX] = {
        [STORE_ACT_STAT] = "stat",     [STORE_ACT_OPEN] = "open",     [STORE_ACT_PUT] = "put",
        [STORE_ACT_COMMIT] = "commit", [STORE_ACT_DELETE] = "delete",
};

int store_blob_stat(store_t *s, const digest_t *d, uint64_t *ret_size) {
        uint64_t t0 = store__observe_start(s);
        int r = s ? s->bs->ops->stat(s->bs, d, ret_size) : -EINVAL;

        store__observe_end(s, STORE_ACT_STAT, t0);
        return r;
}

int store_blob_open(store_t *s, const digest_t *d, int *ret_fd, uint64_t *ret_size) {
        uint64_t t0 = store__observe_start(s);
        int r = !s ? -EINVAL : s->bs->ops->open_fd ? s->bs->ops->open_fd(s->bs, d, ret_fd, ret_size) : -ENOTSUP;

        store__observe_end(s, STORE_ACT_OPEN, t0);
        return r;
}

int store_blob_put(store_t *s, const digest_t *d, const void *buf, size_t len) {
        uint64_t t0 = store__observe_start(s);
        int r = blob_put(s, d, buf, len);

        store__observe_end(s, STORE_ACT_PUT, t0);
        return r;
}

int store_blob_remove(store_t *s, const digest_t *d) {
        uint64_t t0 = store__observe_start(s);
        int r = s ? s->bs->ops->remove(s->bs, d) : -EINVAL;

        store__observe_end(s, STORE_ACT_DELETE, t0);
        return r;
}

static int file_list(blobstore_t *bs, const char *prefix, blobstore_list_fn cb, void *userdata) {
        store_t *s = FILE_STORE(bs);
        size_t plen = prefix ? strlen(prefix) : 0;
        int visited = 0;

        if (!s || !cb)
                return -EINVAL;
        for (int a = 0; a < 2; a++) {
                _cleanup_close_ int afd = dup(s->alg_fd[a]);
                DIR *top;
                struct dirent *fan;

                if (afd < 0)
                        return -errno;
                top = fdopendir(TAKE_FD(afd));
                if (!top)
                        return -errno;
                rewinddir(top); /* a dup shares the offset of the store's own fd */
                while ((fan = readdir(top))) {
                        int ffd;
                        DIR *dir;
                        struct dirent *e;

                        if (fan->d_name[0] == '.' || strlen(fan->d_name) != 2)
                                continue;
                        ffd = openat(dirfd(top), fan->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (ffd < 0)
                                continue;
                        dir = fdopendir(ffd);
                        if (!dir) {
                                close(ffd);
                                continue;
                        }
                        while ((e = readdir(dir))) {
                                char str[DIGEST_STR_MAX];
                                struct stat st;
                                digest_t d;

                                if (e->d_name[0] == '.')
                                        continue;
                                /* only names that are digests of this algorithm and fan-out */
                                if (snprintf(str, sizeof(str), "%s:%s", a ? "sha512" : "sha256", e->d_name) >= (int) sizeof(str) ||
                                    digest_parse(str, &d) < 0 || memcmp(e->d_name, fan->d_name, 2) != 0)
                                        continue;
                                if (plen) {
                                        char key[sizeof(e->d_name) + 8];

                                        (void) snprintf(key, sizeof(key), "%s/%s", a ? "sha512" : "sha256", e->d_name);
                                        if (strncmp(key, prefix, plen) != 0)
                                                continue;
                                }
                                if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                                        continue;
                                cb(userdata, &d, (uint64_t) st.st_size, st.st_mtime);
                                visited++;
                        }
                        closedir(dir);
                }
                closedir(top);
        }
        return visited;
}

int store_blob_scan(store_t *s, blobstore_list_fn cb, void *userdata) {
        return s ? s->bs->ops->list(s->bs, "", cb, userdata) : -EINVAL;
}

int store_blob_read(store_t *s, const digest_t *d, uint64_t off, void *buf, size_t len, size_t *ret_n) {
        uint64_t t0 = store__observe_start(s);
        int r = s && d && buf && ret_n ? s->bs->ops->read(s->bs, d, off, buf, len, ret_n) : -EINVAL;

        store__observe_end(s, STORE_ACT_OPEN, t0);
        return r;
}

bool store_blob_streams(const store_t *s) {
        return s && s->bs->ops->read_stream;
}

/* A stream lasts as long as its consumer takes the body: the observer hears the
 * time to its first bytes (or to its failure before any), as an open. */
typedef struct {
        const store_t *s;
        uint64_t t0;
        int (*sink)(void *userdata, const void *buf, size_t n);
        void *userdata;
} first_bytes_t;

static int first_bytes_sink(void *userdata, const void *buf, size_t n) {
        first_bytes_t *fb = userdata;

        if (fb->t0) {
                store__observe_end(fb->s, STORE_ACT_OPEN, fb->t0);
                fb->t0 = 0;
        }
        return fb->sink(fb->userdata, buf, n);
}

int store_blob_read_stream(store_t *s, const digest_t *d, uint64_t off, uint64_t len,
                           int (*sink)(void *userdata, const void *buf, size_t n), void *userdata) {
        first_bytes_t fb = { .s = s, .sink = sink, .userdata = userdata };
        int r;

        if (!s || !d || !sink)
                return -EINVAL;
        if (!s->bs->ops->read_stream)
                return -ENOTSUP;
        fb.t0 = store__observe_start(s);
        r = s->bs->ops->read_stream(s->bs, d, off, len, fb.t0 ? first_bytes_sink : sink, fb.t0 ? (void *) &fb : userdata);
        if (fb.t0)
                store__observe_end(s, STORE_ACT_OPEN, fb.t0); /* failed before any byte */
        return r;
}

int store_blob_presign(store_t *s, const digest_t *d, unsigned ttl, char **ret_url) {
        if (!s || !d || !ret_url)
                return -EINVAL;
        if (!s->bs->ops->presign)
                return -ENOTSUP;
        return s->bs->ops->presign(s->bs, d, ttl, ret_url);
}

int store_blob_quarantine(store_t *s, const digest_t *d, char *ret_name, size_t n) {
        if (!s || !d)
                return -EINVAL;
        return s->bs->ops->quarantine(s->bs, d, store__now(s), ret_name, n);
}

const char *store_driver_name(const store_t *s) {
        return s ? s->bs->ops->name : "file";
}

bool store_has_files(const store_t *s) {
        return s && s->bs == &s->file_bs;
}

int store__link_blob(store_t *s, int from_dirfd, const char *from_name, const digest_t *d) {
        return s->bs->ops->commit_file(s->bs, from_dirfd, from_name, d);
}

int store_blob_export(store_t *s, const digest_t *d, blobstore_t *to, uint64_t *ret_size) {
        _cleanup_close_ int fd = -1;
        char rel[DIGEST_PATH_MAX];
        digest_ctx_t *c = NULL;
        uint64_t size, there;
        digest_t got;
        int r;

        if (!s || !d || !to || !store_has_files(s))
                return -EINVAL;
        if ((r = digest_rel_path(d, rel, sizeof(rel))) < 0 || (r = file_open_fd(s->bs, d, &fd, &size)) < 0)
                return r;
        if (ret_size)
                *ret_size = size;
        r = to->ops->stat(to, d, &there);
        if (r < 0)
                return r;
        if (r > 0 && there == size)
                return 0; /* copied before (a resumed copy) */
        /* only what hashes to its name is copied: a damaged file stays behind */
        r = store__hash_fd(fd, size, d->alg, &c);
        if (r >= 0)
                r = digest_ctx_peek(c, &got);
        digest_ctx_free(c);
        if (r < 0)
                return r;
        if (!digest_equal(&got, d))
                return BERTH_EDIGEST;
        r = to->ops->commit_file(to, s->blobs_fd, rel, d);
        return r < 0 ? r : 1;
}

/* Reads of the file driver: pread on the blob file. */
static int file_read(blobstore_t *bs, const digest_t *d, uint64_t off, void *buf, size_t len, size_t *ret_n) {
        _cleanup_close_ int fd = -1;
        size_t got = 0;
        uint64_t size;
        int r;

        r = file_open_fd(bs, d, &fd, &size);
        if (r < 0)
                return r;
        while (got < len && off + got < size) {
                ssize_t n = pread(fd, (char *) buf + got, len - got, (off_t) (off + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        *ret_n = got;
        return 0;
}

static void file_free(blobstore_t *bs) {
        (void) bs; /* part of the store: freed with it */
}

static const blobstore_ops_t file_ops = {
        .name = "file",
        .stat = file_stat,
        .open_fd = file_open_fd,
        .read = file_read,
        .commit_file = file_commit,
        .remove = file_remove,
        .list = file_list,
        .quarantine = file_quarantine,
        .free = file_free,
};

void store_set_clock(store_t *s, time_t (*now)(void *userdata), void *userdata) {
        if (!s)
                return;
        s->now = now;
        s->now_userdata = userdata;
}

int store_tmp_clean(store_t *s, uint64_t older_than) {
        _cleanup_close_ int fd = -1;
        time_t now;
        int removed = 0;
        struct dirent *e;
        DIR *dir;

        if (!s)
                return -EINVAL;
        now = store__now(s);
        fd = dup(s->tmp_fd);
        if (fd < 0)
                return -errno;
        dir = fdopendir(TAKE_FD(fd));
        if (!dir)
                return -errno;
        rewinddir(dir); /* a dup shares the offset of the store's own fd */
        while ((e = readdir(dir))) {
                struct stat st;

                if (e->d_name[0] == '.' || fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode) || (uint64_t) (now - st.st_mtime) < older_than)
                        continue;
                if (unlinkat(dirfd(dir), e->d_name, 0) == 0)
                        removed++;
        }
        closedir(dir);
        return removed;
}

/* ---- the trash: blob files a GC sweep moved away inside its transaction ----
 * trash/<alg>-<hex>: a rename within the data directory's filesystem, so moving
 * back is exact. A file is here only between the sweep's rename and the end of
 * its transaction (then removed, or renamed back); a crash in between leaves it
 * for the next run to reconcile against the rows. */

static int trash_name(const digest_t *d, char *buf, size_t size) {
        const char *colon = strchr(d->str, ':');
        int n;

        if (!colon)
                return -EINVAL;
        n = snprintf(buf, size, "%.*s-%s", (int) (colon - d->str), d->str, colon + 1);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

int store_blob_trash(store_t *s, const digest_t *d) {
        char rel[DIGEST_PATH_MAX], name[DIGEST_STR_MAX];
        struct stat st;
        int r;

        if (!s || !d)
                return -EINVAL;
        if (!store_has_files(s))
                return s->bs->ops->trash(s->bs, d);
        if ((r = digest_rel_path(d, rel, sizeof(rel))) < 0 || (r = trash_name(d, name, sizeof(name))) < 0)
                return r;
        if (fstatat(s->blobs_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOTDIR ? -ENOENT : -errno;
        if (!S_ISREG(st.st_mode))
                return -EUCLEAN;
        if (renameat(s->blobs_fd, rel, s->trash_fd, name) < 0)
                return errno == ENOTDIR ? -ENOENT : -errno;
        return 0;
}

int store_blob_untrash(store_t *s, const digest_t *d) {
        char rel[DIGEST_PATH_MAX], name[DIGEST_STR_MAX];
        _cleanup_close_ int dfd = -1;
        int r;

        if (!s || !d)
                return -EINVAL;
        if (!store_has_files(s))
                return s->bs->ops->untrash(s->bs, d);
        if ((r = digest_rel_path(d, rel, sizeof(rel))) < 0 || (r = trash_name(d, name, sizeof(name))) < 0)
                return r;
        r = fanout_open(s, d, &dfd);
        if (r < 0)
                return r;
        /* placed again meanwhile (a creator found it missing): same bytes, keep that one */
        if (linkat(s->trash_fd, name, dfd, digest_hex(d), 0) < 0 && errno != EEXIST)
                return -errno;
        (void) unlinkat(s->trash_fd, name, 0);
        return store__fsync_dirfd(dfd);
}

int store_trash_purge(store_t *s, const digest_t *d) {
        char name[DIGEST_STR_MAX];
        int r;

        if (!s || !d)
                return -EINVAL;
        if (!store_has_files(s))
                return s->bs->ops->trash_purge(s->bs, d);
        if ((r = trash_name(d, name, sizeof(name))) < 0)
                return r;
        return unlinkat(s->trash_fd, name, 0) < 0 ? -errno : 0;
}

int store_trash_scan(store_t *s, void (*cb)(void *userdata, const digest_t *d), void *userdata) {
        _cleanup_close_ int fd = -1;
        struct dirent *e;
        int visited = 0;
        DIR *dir;

        if (!s || !cb)
                return -EINVAL;
        if (!store_has_files(s))
                return s->bs->ops->trash_list(s->bs, cb, userdata);
        fd = dup(s->trash_fd);
        if (fd < 0)
                return -errno;
        dir = fdopendir(TAKE_FD(fd));
        if (!dir)
                return -errno;
        rewinddir(dir);
        while ((e = readdir(dir))) {
                char str[DIGEST_STR_MAX], *dash;
                digest_t d;

                if (e->d_name[0] == '.' || snprintf(str, sizeof(str), "%s", e->d_name) >= (int) sizeof(str))
                        continue;
                dash = strchr(str, '-');
                if (!dash)
                        continue;
                *dash = ':';
                if (digest_parse(str, &d) < 0)
                        continue;
                cb(userdata, &d);
                visited++;
        }
        closedir(dir);
        return visited;
}
