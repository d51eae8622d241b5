/* storage/backup.h: a consistent snapshot of a berth data directory and its
 * metadata database, taken while servers run, and its restore. Knows nothing
 * about HTTP.
 *
 * A backup directory holds:
 *   berth-backup.json   the manifest (written last: a directory without it is
 *                       not a backup): format, engine, schema version, counts
 *   berth.db            SQLite: the database, by the online backup API
 *   berth.pgdump        PostgreSQL: pg_dump's custom format
 *   blobs/<alg>/<2 hex>/<hex>   every blob the snapshot has a row for: hard links
 *                       to the store's files on the same file system, copies else
 *   tls/...             the data directory's TLS keys and certificates, copied
 *                       (not secret.key: it is kept apart from the database's backups)
 * Everything 0600, directories 0700: the database holds password hashes.
 *
 * Order: the database first, then the blobs its rows name. Blob files are
 * content-addressed and never change once linked, so the snapshot's blobs are
 * still right later; only a garbage collection could remove one between the two
 * steps. The backup holds DB_LOCK_GC (storage/db.h) from the snapshot to the last
 * blob, so no collection runs meanwhile (a collection under way is waited for). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "storage/db.h"

#define BACKUP_MANIFEST "berth-backup.json"
#define BACKUP_FORMAT 1

typedef struct {
        const char *data_dir;  /* the blob store's root (DATA) */
        const char *target;    /* the database db was opened on (db_open_opts) */
        const char *password;  /* its password, or NULL (PostgreSQL only) */
        uint64_t lock_wait;    /* seconds to wait for a garbage collection */
        const char *version;   /* berth's version, for the manifest */
} backup_options_t;

typedef struct {
        uint64_t blobs, bytes;  /* blobs in the snapshot (rows) */
        uint64_t linked;        /* hard-linked */
        uint64_t copied;        /* copied (another file system) */
        uint64_t missing;       /* rows without a file in the store (fsck finds them) */
        uint64_t files;         /* TLS files copied */
        int schema_version;
        bool pg;
} backup_result_t;

/* Snapshot db (opened on o->target) and the blobs it names into dest, which must
 * not exist or be an empty directory. 0, BERTH_EBUSY (a collection held its lock
 * past lock_wait), -ENOTEMPTY, BERTH_EDB (the engine's message in db_last_error(),
 * or pg_dump's on stderr), -errno. A failed backup leaves no manifest. */
int backup_run(db_t *db, const backup_options_t *o, const char *dest, backup_result_t *ret);

/* The backup in src restored into data_dir (absent or empty; made 0700) and the
 * database target: SQLite, a file path that must not exist yet (copied); for a
 * PostgreSQL backup, a libpq URI naming an empty database (pg_restore). A backup of
 * one engine is restored into the same engine (then `berthd db copy` moves it).
 * 0, -ENOTEMPTY, -EEXIST (the SQLite file exists), BERTH_ECONFIG (no backup in src,
 * another format, or the engines differ), BERTH_EDB, -errno. */
int backup_restore(const char *src, const char *data_dir, const char *target, const char *password,
                   backup_result_t *ret);
