/* storage/fsck.h: the blob store checked against the metadata, online (beside
 * serving berthd): every blob row has its file, of its size, hashing to its digest;
 * every blob file has a row. With repair, what cannot be served is taken out of
 * service: corrupt files are moved to DATA/quarantine/ (never deleted), files
 * without a row likewise, and the rows of blobs without a good file are dropped
 * (the blob's repository links and the manifests it is, with their tags). Knows
 * nothing about HTTP; reports through a callback.
 *
 * Concurrency: the listing and the repairs run under the GC lock (DB_LOCK_GC:
 * garbage collection neither removes what fsck is about to judge nor races its
 * repairs); the hashing does not hold it. Every finding is checked again just
 * before it is reported or repaired, so a push that linked a file before writing
 * its row, or a collection that dropped a row before the file, is not a problem. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"
#include "storage/db.h"
#include "storage/store.h"

typedef enum {
        FSCK_MISSING,   /* a blob row without its file */
        FSCK_SIZE,      /* the file's size is not the row's */
        FSCK_DIGEST,    /* the file's bytes hash to another digest (or cannot be read: EIO) */
        FSCK_ORPHAN,    /* a file without a row, older than the grace period */
} fsck_kind_t;

/* "missing", "wrong-size", "digest-mismatch", "orphan" */
const char *fsck_kind_name(fsck_kind_t k);

typedef struct {
        fsck_kind_t kind;
        digest_t digest;
        uint64_t row_size;      /* FSCK_ORPHAN: 0 */
        uint64_t file_size;     /* FSCK_MISSING: 0 */
        uint64_t manifests;     /* manifests that reference the blob (now missing for them) */
        bool repaired;          /* with repair: done */
        const char *quarantined; /* the file's new place under the root, or NULL; valid
                                  * only during the problem callback */
        bool rows_dropped;      /* its rows are gone */
        int repair_error;       /* with repair: why it could not be done (0: none) */
} fsck_problem_t;

typedef struct {
        bool repair;
        uint64_t rate;    /* bytes hashed per second at most; 0: no limit */
        uint64_t grace;   /* files without a row younger than this (s) are a push in progress */
        /* each problem, once (after its repair when repair is set); may be NULL */
        void (*problem)(void *userdata, const fsck_problem_t *p);
        void *userdata;
        /* how long to wait for a running garbage collection (s) before giving up */
        uint64_t lock_wait;
} fsck_options_t;

typedef struct {
        uint64_t rows;          /* blob rows checked */
        uint64_t files;         /* blob files seen */
        uint64_t hashed_bytes;
        uint64_t problems[4];   /* per fsck_kind_t */
        uint64_t repaired;
        uint64_t repair_failed;
        uint64_t recent_orphans; /* files without a row within the grace period (not problems) */
} fsck_result_t;

/* One check of store s against db. 0 (problems are in *ret, not errors), or <0:
 * BERTH_EBUSY when a garbage collection held its lock past lock_wait, a database
 * or file system error. */
int fsck_run(store_t *s, db_t *db, const fsck_options_t *opt, fsck_result_t *ret);
