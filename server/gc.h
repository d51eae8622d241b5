/* server/gc.h: garbage collection from berthd: `berthd gc` (the command line,
 * against a data directory a berthd may be serving), the server's own runs every
 * --gc-interval (a thread), and their figures for the metrics. The collection
 * itself is storage/registry.c's registry_gc_run. Also the one-server lock of a
 * SQLite data directory (serve.lock). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "server/dbconf.h"
#include "server/server.h"

/* Exclusive lock on DATA/serve.lock: an fd to keep open, -EBUSY when held. */
int data_lock(const char *data_dir);
/* `berthd gc ...` (argv[0] is "gc") on data_dir and its database db; returns the
 * exit code. Options are read first: --help and a bad option touch neither. */
int gc_main(const char *data_dir, const dbconf_t *db, int argc, char **argv);

/* The server's runs: a thread that runs GC every srv->cfg->gc_interval seconds
 * (none when 0), skipping a turn when another process (a replica, `berthd gc`)
 * ran one less than an interval ago or runs one now. 0 or <0. */
int gc_start(server_t *srv);
/* A run now, on a thread of its own (the management API): 0 started, BERTH_EBUSY
 * one asked for this way still runs (one run at a time across processes is the
 * GC lock's: a run that finds it held records nothing). gc_stop ends and joins it. */
int gc_request(server_t *srv, const char *who, bool dry_run, bool delete_untagged);
/* Ends the thread (a run under way stops after its current batch). Idempotent. */
void gc_stop(void);

/* This process's runs, for the metrics. */
#define GC_DURATION_BUCKETS 8
extern const double gc_duration_le[GC_DURATION_BUCKETS];
typedef struct {
        uint64_t ok, failed;              /* runs by result */
        uint64_t freed_bytes, freed_blobs; /* blob rows and files without a row removed */
        double duration_sum;
        uint64_t duration_bucket[GC_DURATION_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
        double last_duration;
} gc_stats_t;
void gc_stats(gc_stats_t *ret);
/* Counts a run of this process (the thread's and the command line's). */
void gc_count(bool ok, double seconds, uint64_t blobs, uint64_t bytes);
