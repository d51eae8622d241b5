/* client/backoff.h: per-image pull back-off like the kubelet's (flowcontrol.Backoff):
 * 10 s after the first failure, doubling to at most 300 s, forgotten once 600 s
 * (twice the maximum) pass without a failure. State is a small JSON file in the store;
 * the caller holds the store's state lock around backoff_file_* calls. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_INITIAL_S 10
#define BACKOFF_MAX_S 300
#define BACKOFF_FILE_MAX (4u * 1024 * 1024)
#define BACKOFF_ENTRIES_MAX 4096

typedef struct {
        int64_t delay_s;  /* current back-off; 0 = no entry */
        int64_t last;     /* time of the last failure (seconds since the epoch) */
} backoff_entry_t;

/* A failure at now: the next delay. */
void backoff_fail(backoff_entry_t *e, int64_t now);
/* Still inside the back-off window at now? *ret_remaining_s (may be NULL) gets the rest. */
bool backoff_active(const backoff_entry_t *e, int64_t now, int64_t *ret_remaining_s);
/* Entry too old to matter (more than 2 × BACKOFF_MAX_S since the last failure). */
bool backoff_expired(const backoff_entry_t *e, int64_t now);

/* Read the entry for key from path (missing file or key: a zero entry). */
int backoff_file_get(const char *path, const char *key, backoff_entry_t *ret);
/* Record a failure (failed = true) or forget the key (failed = false), dropping expired
 * entries; written by temp file + rename. */
int backoff_file_update(const char *path, const char *key, bool failed, int64_t now);
