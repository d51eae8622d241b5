/* server/pullthrough.h: the pull-through cache (issue 13). A proxy project
 * (storage/proxycache.h) answers pulls from what it holds and fetches what it
 * lacks from its upstream registry (client/registry.h: one registry_t per
 * upstream, connections and Bearer tokens reused across fetches).
 *
 * Fetches run on the cache's own threads, never on a request thread: a request
 * that needs the upstream is suspended (MHD_suspend_connection) and joins the one
 * fetch in flight for its repository and reference (single flight); the fetch's
 * end resumes every request waiting on it, which then answers from the store as
 * for any other content. A client that goes away does not stop the fetch. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include "server/server.h"

typedef struct pullthrough pullthrough_t;

/* Starts the fetch threads. 0, or <0. */
int pullthrough_new(server_t *srv, pullthrough_t **ret);
/* Lets the fetches in flight end, fails those still queued (their requests are
 * resumed with 503): before the HTTP daemon stops. NULL-safe. */
void pullthrough_drain(pullthrough_t *p);
pullthrough_t *pullthrough_free(pullthrough_t *p); /* NULL-safe; drains first */

/* After routing (req->repo set): a request carrying ?ns=HOST goes to the proxy
 * project mirroring HOST (404 when none does); without ns, a repository whose
 * first component is no local project or namespace goes to the project marked
 * --docker-mirror, if any; and writes to a proxy project are refused (405
 * UNSUPPORTED). May rewrite req->repo; may answer. */
void pullthrough_route(request_t *req);

/* GET/HEAD of a manifest or a blob in a proxy project. true: the cache took the
 * request (answered it or suspended it); false: serve it from the store as usual. */
bool pullthrough_manifest_get(request_t *req);
bool pullthrough_blob_get(request_t *req);
/* tags/list?refresh=1 (or true) in a proxy project: the upstream's listing (the
 * cached one when the upstream fails). false: not such a request (list locally). */
bool pullthrough_tags_get(request_t *req);

/* The exposition of berth_proxy_requests_total and berth_proxy_fetched_bytes_total. */
void pullthrough_metrics(pullthrough_t *p, FILE *f);

/* The counters of project's upstream since this server started (the same as the
 * metrics'), and what the upstream last said of its rate limit. */
typedef struct {
        uint64_t hits, misses, revalidations, stale, errors, bytes_fetched;
        int64_t ratelimit_limit, ratelimit_remaining; /* -1: not said */
        int64_t ratelimit_time;                       /* unix seconds; 0: never said */
        int broken;                                   /* <0: why every fetch fails (no key, CA) */
} pullthrough_stats_t;
/* 1 and *ret, 0 project is not a proxy project this server knows (yet). */
int pullthrough_stats(pullthrough_t *p, const char *project, pullthrough_stats_t *ret);
