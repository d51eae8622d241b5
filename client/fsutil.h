/* client/fsutil.h: small file helpers for the client (bounded reads, atomic writes). */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/* Whole file into a malloc'd NUL-terminated buffer; BERTH_ETOOBIG past max; -errno. */
int fsutil_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Write to "<path>.tmp.<pid>.<n>", fsync, rename over path, fsync the directory. */
int fsutil_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);
/* mkdir -p; 0 if it exists already. */
int fsutil_mkdir_p(const char *path, mode_t mode);
/* fsync the directory holding path. */
int fsutil_fsync_parent(const char *path);
