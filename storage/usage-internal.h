/* storage/usage-internal.h: what storage/meta.c and storage/usage.c share. Not a
 * public header. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/usage.h"

/* The authoritative quota check of a write that adds holds (a blob linked, a
 * manifest stored), inside its write transaction: usage__tx_begin before the
 * rows are written, usage__tx_end after. The write is refused (BERTH_EQUOTA)
 * when it made the project's usage grow past its quota; a write that adds only
 * what the project already holds, or one that shrinks it, always passes. */
typedef struct {
        bool active;     /* the project has a quota */
        uint64_t before; /* its usage when the transaction began */
        uint64_t quota;
        char project[META_TOP_MAX + 1];
        const char *repo; /* the caller's, for the transaction's duration */
} usage_tx_t;
int usage__tx_begin(db_conn_t *c, const char *repo, usage_tx_t *t);
/* After the rows: refuses a write past the quota; a write that takes the project's
 * usage across USAGE_WARN_PERCENT of its quota queues a quota event (state
 * "warning") for the webhooks that want it, in the same transaction. digest: what
 * the write added (NULL: not known); o may be NULL. */
int usage__tx_end(db_conn_t *c, const usage_tx_t *t, const char *digest, meta_origin_t *o);
