/* common/file.c: whole-file reads under a cap, atomic replacement, mkdir -p. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"

int file_read_all(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0, cap;

        if (!path || !ret)
                return -EINVAL;
        if (max > SIZE_MAX / 2)
                max = SIZE_MAX / 2; /* keeps max + 1 and the doubling below from overflowing */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max)
                return BERTH_ETOOBIG;
        /* room for the expected length, one byte to see the end of file, and the NUL */
        cap = (size_t) st.st_size + 1;
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (len == cap) {
                        /* the file grew while we read it: one bigger copy, the old one wiped */
                        size_t nc;
                        char *nb;

                        if (len > max)
                                break;
                        nc = cap > max / 2 ? max + 1 : cap * 2;
                        nb = malloc(nc + 1);
                        if (!nb) {
                                explicit_bzero(buf, len);
                                return -ENOMEM;
                        }
                        memcpy(nb, buf, len);
                        explicit_bzero(buf, len);
                        free(buf);
                        buf = nb;
                        cap = nc;
                }
                k = read(fd, buf + len, cap - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        explicit_bzero(buf, len);
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len > max) {
                explicit_bzero(buf, len);
                return BERTH_ETOOBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int file_fsync_parent(const char *path) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -1;
        char *slash;

        if (!path)
                return -EINVAL;
        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else if (slash)
                *slash = '\0';
        else
                strcpy(dir, ".");
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* some file systems cannot fsync a directory (EINVAL): nothing more to do there */
        if (fsync(fd) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        size_t off = 0;
        int r;

        if (!path || (!buf && len > 0))
                return -EINVAL;
        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC); /* 0600 */
        if (fd < 0)
                return -errno;
        while (off < len) {
                ssize_t k = write(fd, (const char *) buf + off, len - off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                off += (size_t) k;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (close(TAKE_FD(fd)) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return file_fsync_parent(path);
fail:
        (void) unlink(tmp);
        return r;
}

/* mkdir that accepts an existing directory */
static int mkdir_one(const char *p, mode_t mode) {
        struct stat st;

        if (mkdir(p, mode) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        if (stat(p, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int file_mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (!path || !path[0])
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/' || s[-1] == '/')
                        continue;
                *s = '\0';
                r = mkdir_one(p, mode);
                *s = '/';
                if (r < 0)
                        return r;
        }
        return mkdir_one(p, mode);
}
