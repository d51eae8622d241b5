/* storage/mcache.h: the manifest cache of storage/meta.c (internal to storage/):
 * (repository, tag or digest) → the manifest's digest, size and media type, per
 * db_t, bounded, lock-striped. Entries are stamped with the database's cache
 * epoch and their repository's change count, both read before the database read
 * that fills them; a change to a repository (DB_NOTIFY_REPO, from any process)
 * moves its count, so its entries are never served again. */
#pragma once
#include <stdint.h>
#include "storage/db.h"
#include "storage/meta.h"

typedef struct mcache mcache_t;

/* What a fill needs: read before the database read. epoch 0: do not insert. */
typedef struct {
        uint64_t epoch, count;
} mcache_stamp_t;

/* The db's cache (created, and subscribed to its notifications, on first use);
 * NULL without memory (then nothing is cached). */
mcache_t *mcache_of(db_t *db);
/* 1 a live entry (*ret), 0 none: *stamp is what an insert after the read needs. */
int mcache_lookup(mcache_t *mc, db_conn_t *c, const char *repo, const char *reference,
                  meta_manifest_info_t *ret, mcache_stamp_t *stamp);
void mcache_insert(mcache_t *mc, const mcache_stamp_t *stamp, const char *repo, const char *reference,
                   const meta_manifest_info_t *info);
