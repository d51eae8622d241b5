/* common/file.h: the small file operations server and client share: a whole file read
 * under a cap, a file replaced atomically, mkdir -p. They return 0 or -errno / BERTH_E*
 * and never write an output on failure. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/* The whole regular file at path in a malloc'd, NUL-terminated buffer (*ret_len, which
 * may be NULL, excludes the NUL). BERTH_ETOOBIG when it holds more than max bytes,
 * -EINVAL when it is not a regular file, -errno from open/read, -ENOMEM. The buffer is
 * sized from the file's length, so a file that does not grow while read is never
 * copied: a caller holding a secret wipes *ret and no other copy is left behind (a file
 * that grows is copied once and the old buffer wiped). */
int file_read_all(const char *path, size_t max, char **ret, size_t *ret_len);

/* Replace path with len bytes of buf: write a temporary file "<path>.tmp.XXXXXX" in the
 * same directory (created 0600, so no byte of a key is ever readable by others), give
 * it exactly mode (fchmod: the umask does not apply), fsync it, rename it over path,
 * fsync the directory. A reader sees the old content or the new, never a mix; on
 * failure path is untouched and the temporary file removed. */
int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode);

/* mkdir -p: create path and each missing parent with mode (the umask applies).
 * 0 when path is already a directory; -ENOTDIR when it or a parent is something else;
 * -EINVAL for ""; -errno from mkdir. */
int file_mkdir_p(const char *path, mode_t mode);

/* fsync the directory that holds path ("." for a bare name). */
int file_fsync_parent(const char *path);
