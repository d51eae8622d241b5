/* storage/blobstore.h: where the bytes of committed blobs live, behind one driver
 * interface (in the spirit of libgit2's ODB backends). Two drivers:
 *   file  the blob directory under DATA (blobs/<alg>/<2 hex>/<hex>), the default;
 *   s3    an S3-compatible bucket (storage/s3.h): AWS S3, Ceph RGW, MinIO...
 *
 * The store (storage/store.h) owns upload sessions and the scratch area and calls its
 * driver for everything about committed blobs: stat, open/read a range, commit a
 * staged file under its digest, remove, list. A driver never sees a blob that was not
 * verified against its digest first; a commit makes the blob visible completely or
 * not at all (file: link(2) of an fsynced file; s3: one PUT, atomic by S3's
 * semantics).
 *
 * Written for driver authors: callers use store_* (storage/store.h). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/digest.h"

typedef struct blobstore blobstore_t;

/* One part of a staged upload (staged_complete). */
typedef struct blobstore_part {
        unsigned num;
        char etag[128];
} blobstore_part_t;

typedef void (*blobstore_list_fn)(void *userdata, const digest_t *d, uint64_t size, time_t mtime);

typedef struct blobstore_ops {
        const char *name; /* "file", "s3" */
        /* 1 present (*ret_size if non-NULL), 0 absent, <0 error. */
        int (*stat)(blobstore_t *bs, const digest_t *d, uint64_t *ret_size);
        /* A read-only fd on the blob (-ENOENT absent). NULL: the driver has no files;
         * callers read ranges instead. */
        int (*open_fd)(blobstore_t *bs, const digest_t *d, int *ret_fd, uint64_t *ret_size);
        /* Up to len bytes at off into buf; *ret_n bytes read (0 at or past the end).
         * -ENOENT absent. */
        int (*read)(blobstore_t *bs, const digest_t *d, uint64_t off, void *buf, size_t len, size_t *ret_n);
        /* The range [off, off+len) handed to sink piece by piece as it arrives (one
         * request, not one per block; NULL: not offered). sink returning <0 stops
         * it. 0 once all of it went to sink, -ENOENT absent, <0. */
        int (*read_stream)(blobstore_t *bs, const digest_t *d, uint64_t off, uint64_t len,
                           int (*sink)(void *userdata, const void *buf, size_t n), void *userdata);
        /* The staged file dirfd/name (its bytes verified against d by the caller)
         * becomes the blob d, durably, all at once. Already present is success. The
         * staged file is left where it is. */
        int (*commit_file)(blobstore_t *bs, int dirfd, const char *name, const digest_t *d);
        /* 0, or -ENOENT when absent. */
        int (*remove)(blobstore_t *bs, const digest_t *d);
        /* Every blob whose "<alg>/<hex>" starts with prefix ("" all, "sha256/ab"
         * some): cb per blob. Returns the number visited or <0. */
        int (*list)(blobstore_t *bs, const char *prefix, blobstore_list_fn cb, void *userdata);
        /* Move the blob out of the blob namespace without deleting it (fsck --repair);
         * ret_name receives where it went. 0, -ENOENT, <0. */
        int (*quarantine)(blobstore_t *bs, const digest_t *d, time_t now, char *ret_name, size_t n);
        /* A URL any client can GET the blob from for ttl seconds (S3 presigned URL).
         * NULL: not supported. *ret_url owned by the caller. */
        int (*presign)(blobstore_t *bs, const digest_t *d, unsigned ttl, char **ret_url);
        /* Online GC's two-phase removal, for drivers without files (the file driver
         * is the store's own trash/ directory, store.c): move the blob to a trash
         * name (0, -ENOENT), back (a blob placed again meanwhile is kept), drop the
         * trash copy for good, and every trash copy left by a run that died. */
        int (*trash)(blobstore_t *bs, const digest_t *d);
        int (*untrash)(blobstore_t *bs, const digest_t *d);
        int (*trash_purge)(blobstore_t *bs, const digest_t *d);
        int (*trash_list)(blobstore_t *bs, void (*cb)(void *userdata, const digest_t *d), void *userdata);
        /* Give up writes a dead process left incomplete (S3 multipart uploads) begun
         * more than max_age seconds before now. The number given up, or <0. NULL:
         * nothing of the kind (the file driver's scratch files: store_tmp_clean). */
        int (*expire_incomplete)(blobstore_t *bs, uint64_t max_age, time_t now);
        /* Staged uploads (NULL: not offered; the store's session files serve): the
         * bytes of a chunked upload go to the driver as they arrive, under
         * temporary names of the session uuid (a canonical uuid, checked by the
         * caller), so that any process sharing the driver can continue it. The
         * caller keeps the state (the metadata store: storage/mpupload.c).
         * begin: a new multipart upload (its id into ret_id, n bytes).
         * part: part num (1..10000; at least 5 MiB but the last) from buf; its
         *   ETag into ret_etag (n bytes). Sending a number again replaces the part.
         * tail_put/tail_get/tail_remove: the tail (shorter than a part) kept
         *   between two requests as an object of its own, generation gen; get
         *   reads exactly len bytes (-EIO otherwise).
         * complete: the listed parts become one temporary object (not a blob:
         *   nothing is visible under a digest).
         * read: a range of that temporary object (a hash state was lost).
         * promote: the temporary object becomes the blob d of size bytes (a
         *   server-side copy; already present is success); it stays (abort).
         * abort: the multipart upload (id "" none) and the temporary object go.
         * put: a whole blob from memory under d, all at once (a chunked upload
         *   that never reached a part's size). */
        int (*staged_begin)(blobstore_t *bs, const char *uuid, char *ret_id, size_t n);
        int (*staged_part)(blobstore_t *bs, const char *uuid, const char *id, unsigned num, const void *buf,
                           size_t len, char *ret_etag, size_t n);
        int (*staged_tail_put)(blobstore_t *bs, const char *uuid, uint64_t gen, const void *buf, size_t len);
        int (*staged_tail_get)(blobstore_t *bs, const char *uuid, uint64_t gen, void *buf, size_t len);
        int (*staged_tail_remove)(blobstore_t *bs, const char *uuid, uint64_t gen);
        int (*staged_complete)(blobstore_t *bs, const char *uuid, const char *id, const blobstore_part_t *parts,
                               unsigned n_parts);
        int (*staged_read)(blobstore_t *bs, const char *uuid, uint64_t off, void *buf, size_t len, size_t *ret_n);
        int (*staged_promote)(blobstore_t *bs, const char *uuid, const digest_t *d, uint64_t size);
        int (*staged_abort)(blobstore_t *bs, const char *uuid, const char *id);
        int (*put)(blobstore_t *bs, const digest_t *d, const void *buf, size_t len);
        /* Direct uploads (NULL: not offered): a blob whose digest is known before its
         * bytes goes up from memory as a multipart upload under its own key, parts
         * as staged_part's; complete makes it visible, all at once, once the caller
         * has checked the bytes against d; abort gives it up (nothing visible). */
        int (*direct_begin)(blobstore_t *bs, const digest_t *d, char *ret_id, size_t n);
        int (*direct_part)(blobstore_t *bs, const digest_t *d, const char *id, unsigned num, const void *buf,
                           size_t len, char *ret_etag, size_t n);
        int (*direct_complete)(blobstore_t *bs, const digest_t *d, const char *id, const blobstore_part_t *parts,
                               unsigned n_parts);
        int (*direct_abort)(blobstore_t *bs, const digest_t *d, const char *id);
        void (*free)(blobstore_t *bs);
} blobstore_ops_t;

struct blobstore {
        const blobstore_ops_t *ops;
};

static inline const char *blobstore_name(const blobstore_t *bs) {
        return bs->ops->name;
}

/* "file" (or NULL/""): *ret = NULL, the store's own directory driver. "s3://...":
 * an S3 driver (storage/s3.h for the URL's form); ca_file: a PEM bundle to trust
 * (NULL: the system's). Credentials come from the environment (s3.h). Errors:
 * -EINVAL (a malformed URL: *reterr_detail says what), -EACCES (no credentials),
 * -errno. */
int blobstore_open_url(const char *url, const char *ca_file, blobstore_t **ret, const char **reterr_detail);
blobstore_t *blobstore_free(blobstore_t *bs); /* NULL-safe, returns NULL */
