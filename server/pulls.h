/* server/pulls.h: the pulls of each manifest, counted in memory and written in one
 * short transaction every few seconds (storage/retention.h meta_pulls_add), never a
 * database write per pull. A manifest GET answered with the manifest counts (by tag
 * or digest; HEAD and 304 do not): docker, podman and containerd HEAD or GET the
 * tag, then GET what they pull. The counts of an interval are lost only if the
 * process dies before its flush (at most one interval's); a stop flushes them. */
#pragma once
#include <stdint.h>
#include "common/digest.h"
#include "storage/db.h"

typedef struct pulls pulls_t;

typedef struct {
        db_t *db;
        uint64_t interval;          /* seconds between flushes; 0: 5 */
        time_t (*now)(void *userdata); /* NULL: time(NULL) */
        void *now_userdata;
} pulls_options_t;

/* Starts the flush thread. */
int pulls_start(const pulls_options_t *o, pulls_t **ret);
/* Counts one pull of repo@digest (any thread; a hash table under one of a few
 * locks). NULL p: nothing. */
void pulls_count(pulls_t *p, const char *repo, const digest_t *d);
/* Writes what is counted now (the flush thread does it every interval): 0 or <0
 * (the counts are then dropped, and counted in pulls_dropped). */
int pulls_flush(pulls_t *p);
/* Flushes a last time and ends the thread. NULL-safe; returns NULL. */
pulls_t *pulls_stop(pulls_t *p);
/* Pulls counted but never written (a failed flush, a full table). */
uint64_t pulls_dropped(const pulls_t *p);
