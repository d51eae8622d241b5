/* server/metrics.h: Prometheus metrics for berthd: counters kept by the request
 * path (relaxed atomics, no lock), and GET /metrics in the text exposition format
 * on a listener of its own (--metrics-listen), never the registry's. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include "server/server.h"
#include "storage/meta.h"
#include "storage/usage.h"
#include "storage/store.h"

/* true once metrics_start() listens; fixed before requests are served. The
 * request path counts only then. */
extern bool metrics_on;

/* Listens on cfg->metrics_host:metrics_port (nothing when metrics_host is NULL).
 * 0, or <0 when it cannot listen. */
int metrics_start(server_t *srv);
/* Stops the listener. NULL-safe, idempotent. */
void metrics_stop(void);

/* A request ended (http.c on_completed): its route, method, status, duration and
 * bytes. Lock-free. */
void metrics_request_done(const request_t *req, double seconds);

/* The blob store's observer (store_set_observer): registry_storage_action_seconds. */
void metrics_store_observe(void *userdata, store_action_t action, uint64_t ns);

/* Writes the exposition of everything (what GET /metrics answers) to f. */
int metrics_write(server_t *srv, FILE *f);

/* For the unit tests: folds a usage list (storage/usage.h) to at most max named
 * projects, the largest by bytes, and one more entry "_other" summing the rest
 * (without a quota); sorted by name, "_other" last. v has room for max + 1 entries. */
void metrics__usage_fold(usage_project_t *v, size_t *n, size_t max);
