/* server/webhook.h: berthd's webhook sender and its pull counter.
 *
 * Sender threads (WEBHOOKS_SENDERS of them) claim due deliveries from the queue
 * in the database (storage/webhook.h), POST each to its target with libcurl
 * (connect timeout 5 s, whole request 10 s, no redirects, no proxy, the address
 * checked again (server/ssrf.h) and pinned), sign the body when the webhook has a
 * secret, and record the outcome. A failure (no answer, or a status other than
 * 2xx) is tried again after an exponential back-off with jitter, until the
 * event is older than the maximum age: then it is given up. Nothing here runs on a
 * request thread: a request only queues rows in its own transaction and wakes the
 * senders (webhooks_kick), or counts a pull in memory (webhooks_pulled).
 *
 * Pulls are never a database write each: counts per (repository, digest) are kept
 * in memory, only while some webhook wants pull events, and written as pull events
 * every pull interval in one transaction (and once more at stop). A count that
 * cannot be written then (the database down) is dropped, and counted in
 * webhooks_stats. */
#pragma once
#include <stdint.h>
#include <time.h>
#include "server/proxy.h"
#include "storage/db.h"

#define WEBHOOKS_SENDERS 4
#define WEBHOOKS_LEASE 60          /* seconds a claim lasts: past one request's 10 s and DNS */
#define WEBHOOKS_CONNECT_TIMEOUT_MS 5000
#define WEBHOOKS_TIMEOUT_MS 10000
#define WEBHOOKS_PULLS_MAX 4096    /* (repository, digest) pairs counted per interval */

typedef struct webhooks webhooks_t;

typedef struct {
        db_t *db;
        const char *data_dir;        /* DATA/secret.key, unless BERTH_SECRET_KEY_FILE */
        const proxy_cidrs_t *allow;  /* --webhook-allow-cidr (borrowed); NULL: none */
        uint64_t max_age;            /* seconds an event is tried for */
        uint64_t backoff_min, backoff_max; /* seconds: the first retry's wait, the longest */
        uint64_t pull_interval;      /* seconds between pull flushes */
        time_t (*now)(void *userdata); /* NULL: time(NULL) */
        void *now_userdata;
} webhooks_options_t;

/* Starts the senders. On a database no other server uses (SQLite), claims a
 * killed process left are ended first. 0 or <0. */
int webhooks_start(const webhooks_options_t *o, webhooks_t **ret);
/* Writes the pull counts, stops the senders (a request in flight is cut short and
 * its claim given back: it is sent again later) and frees w. NULL-safe. */
void webhooks_stop(webhooks_t *w);
/* Deliveries were queued: senders look now rather than at their next poll (one
 * a second). Never waits for them. NULL-safe. */
void webhooks_kick(webhooks_t *w);
/* A manifest was pulled (GET). A lock held for a table update, never across I/O.
 * NULL-safe. */
void webhooks_pulled(webhooks_t *w, const char *repository, const char *digest, const char *media_type,
                     uint64_t size);

typedef struct {
        uint64_t success, failure, gaveup; /* attempts by outcome */
        uint64_t pulls_dropped;            /* pull counts lost (table full, database down) */
} webhooks_stats_t;
void webhooks_stats(const webhooks_t *w, webhooks_stats_t *ret); /* zeros for NULL */

/* The retry's wait after attempt n (from 1): backoff_min doubled n - 1 times, at
 * most backoff_max, then a random part of its second half taken off (jitter): in
 * [max(1, d/2), d] seconds. rnd: any 32 random bits. */
uint64_t webhooks_backoff(uint64_t min, uint64_t max, int64_t attempt, uint32_t rnd);
