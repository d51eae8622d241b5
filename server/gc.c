/* server/gc.c: `berthd gc`, the server's own GC runs and their figures. The
 * collection (storage/registry.c's registry_gc_run) runs online: pushes, pulls and
 * deletes go on while it works, in this process and others, and one run at a time
 * is had through the metadata store's GC lock (db.h DB_LOCK_GC), which every
 * process and replica sees. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/dbconf.h"
#include "server/gc.h"
#include "server/periodic.h"
#include "server/server.h"
#include "storage/meta.h"
#include "storage/registry.h"
#include "storage/store.h"

int data_lock(const char *data_dir) {
        _cleanup_free_ char *path = NULL;
        int fd;

        if (asprintf(&path, "%s/serve.lock", data_dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* ---- figures ---- */

const double gc_duration_le[GC_DURATION_BUCKETS] = { 0.1, 1, 10, 60, 300, 900, 3600, 14400 };
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static gc_stats_t stats;

void gc_count(bool ok, double seconds, uint64_t blobs, uint64_t bytes) {
        size_t b = 0;

        while (b < GC_DURATION_BUCKETS && seconds > gc_duration_le[b])
                b++;
        pthread_mutex_lock(&stats_lock);
        if (ok)
                stats.ok++;
        else
                stats.failed++;
        stats.freed_blobs += blobs;
        stats.freed_bytes += bytes;
        stats.duration_sum += seconds;
        stats.duration_bucket[b]++;
        stats.last_duration = seconds;
        pthread_mutex_unlock(&stats_lock);
}

void gc_stats(gc_stats_t *ret) {
        pthread_mutex_lock(&stats_lock);
        *ret = stats;
        pthread_mutex_unlock(&stats_lock);
}

static double mono(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void print_result(FILE *f, bool dry_run, const registry_gc_result_t *res) {
        fprintf(f, "%s %" PRIu64 " repository link(s), %zu blob(s) (%" PRIu64 " bytes), "
                   "%" PRIu64 " file(s) without metadata (%" PRIu64 " bytes), %" PRIu64 " manifest(s), "
                   "%" PRIu64 " upload session(s)%s\n",
                dry_run ? "would remove" : "removed", res->links, res->blobs, res->blob_bytes, res->orphans,
                res->orphan_bytes, res->manifests, res->uploads, res->scratch ? ", scratch files" : "");
}

/* ---- the command line ---- */

static void usage(FILE *f) {
        fputs("Usage: berthd [--data DIR] [--db URL] gc [--dry-run] [--grace SECONDS] [--delete-untagged]\n"
              "                                        [--upload-max-age SECONDS] [--wait SECONDS]\n"
              "       berthd [--data DIR] [--db URL] gc --status\n"
              "\n"
              "Garbage collection, online: berthd may be serving the data directory (and other\n"
              "replicas the same database) while it runs; one run at a time, whoever starts it.\n"
              "Removes referrers whose subject is gone (with --delete-untagged also every untagged\n"
              "manifest that no index and no kept subject needs), repository links no manifest\n"
              "references, blobs nothing references (rows and files), blob files without\n"
              "metadata, and upload sessions older than --upload-max-age (default 86400 s).\n"
              "What became unreferenced less than the grace period ago (default 3600 s) is kept,\n"
              "so that a push under way can still use it; --grace 0 removes it at once (tests).\n"
              "--dry-run says what a run would remove now and removes nothing. --wait: how long\n"
              "to wait for a run of another process to end (default 60 s).\n"
              "--status lists the recent runs (started, finished, who, what they freed).\n",
              f);
}

static int parse_secs(const char *opt, const char *v, uint64_t *ret) {
        char *end;
        unsigned long long x;

        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno || *end || !*v || *v == '-' || x > UINT32_MAX) {
                fprintf(stderr, "berthd gc: invalid %s '%s'\n", opt, v);
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

static void fmt_time(int64_t t, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(buf, size, "-");
}

static int show_status(meta_t *m) {
        meta_gc_run_t *v = NULL;
        size_t n = 0;
        int running, r;

        running = meta_lock_try(m, DB_LOCK_GC);
        if (running > 0)
                meta_unlock(m, DB_LOCK_GC);
        r = meta_gc_runs(m, 10, &v, &n);
        if (r < 0) {
                fprintf(stderr, "berthd gc: reading the runs: %s\n", berth_strerror(r));
                return 1;
        }
        printf("%s\n", running == 0 ? "a run is in progress" : "no run in progress");
        if (n == 0)
                printf("no runs recorded\n");
        for (size_t i = 0; i < n; i++) {
                const meta_gc_run_t *e = &v[i];
                char t0[32], t1[32];

                fmt_time(e->started, t0, sizeof(t0));
                fmt_time(e->finished, t1, sizeof(t1));
                printf("run %" PRId64 ": %s started %s finished %s (%s) by %s: %" PRIu64 " blob(s) (%" PRIu64
                       " bytes), %" PRIu64 " manifest(s), %" PRIu64 " link(s), %" PRIu64 " file(s) without metadata (%"
                       PRIu64 " bytes), %" PRIu64 " upload session(s)%s%s\n",
                       e->id, e->dry_run ? "dry run" : "run", t0, t1,
                       e->result ? e->result : running == 0 && i == 0 ? "running" : "interrupted",
                       e->who ? e->who : "?", e->blobs, e->bytes, e->manifests, e->links, e->orphans, e->orphan_bytes,
                       e->uploads, e->error ? ": " : "", e->error ? e->error : "");
        }
        meta_gc_runs_free(v, n);
        return 0;
}

int gc_main(const char *data_dir, const dbconf_t *dbc, int argc, char **argv) {
        static const struct option opts[] = {
                { "dry-run", no_argument, NULL, 'n' },
                { "grace", required_argument, NULL, 'g' },
                { "delete-untagged", no_argument, NULL, 'u' },
                { "upload-max-age", required_argument, NULL, 'a' },
                { "wait", required_argument, NULL, 'w' },
                { "status", no_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        registry_gc_options_t o = { .grace = 3600, .upload_max_age = 86400 };
        registry_gc_result_t res;
        char who[256];
        meta_t *meta = NULL;
        store_t *store = NULL;
        db_t *db = NULL;
        uint64_t wait = 60;
        bool status = false;
        double t0, waited = 0;
        int c, r, rc = 1;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        o.dry_run = true;
                        break;
                case 'g':
                        if (parse_secs("--grace", optarg, &o.grace) < 0)
                                return 2;
                        break;
                case 'u':
                        o.delete_untagged = true;
                        break;
                case 'a':
                        if (parse_secs("--upload-max-age", optarg, &o.upload_max_age) < 0)
                                return 2;
                        break;
                case 'w':
                        if (parse_secs("--wait", optarg, &wait) < 0)
                                return 2;
                        break;
                case 's':
                        status = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "berthd gc: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (!dbc->target) { /* called for its usage only */
                usage(stderr);
                return 2;
        }
        r = db_open_opts(dbc->target, &(db_options_t){ .password = dbc->password }, &db);
        if (r == 0)
                r = meta_open_thread(db, &meta);
        if (r < 0) {
                fprintf(stderr, "berthd gc: opening the database %s: %s\n", dbc->display, berth_strerror(r));
                goto out;
        }
        if (status) {
                rc = show_status(meta);
                goto out;
        }
        r = config_store_open(data_dir, getenv("BERTH_STORAGE"), getenv("BERTH_S3_CA"), &store);
        if (r < 0)
                goto out;
        periodic_who("berthd gc", who, sizeof(who));
        o.who = who;
        /* a test build's clock (server/periodic.h), as the server's: a test ages what
         * the bucket holds instead of sleeping */
        if ((o.now_userdata = test_clock_from_env(&o.now)))
                fprintf(stderr, "berthd gc: test clock: the wall clock plus the seconds in %s (a test build)\n",
                        getenv("BERTH_TEST_CLOCK_FILE"));
        for (;;) {
                t0 = mono();
                r = registry_gc_run(store, meta, &o, &res);
                if (r != BERTH_EBUSY || waited >= (double) wait)
                        break;
                if (waited == 0)
                        fprintf(stderr, "berthd gc: another process is collecting: waiting for it (up to %" PRIu64
                                " s)\n", wait);
                (void) nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
                waited += 0.2;
        }
        if (r == BERTH_EBUSY) {
                fprintf(stderr, "berthd gc: another process is still collecting (berthd gc --status)\n");
                goto out;
        }
        if (!o.dry_run)
                gc_count(r == 0, mono() - t0, res.blobs + res.orphans, res.blob_bytes + res.orphan_bytes);
        if (r < 0) {
                fprintf(stderr, "berthd gc: %s%s%s\n", berth_strerror(r), db_last_error()[0] ? ": " : "",
                        db_last_error());
                goto out;
        }
        if (res.file_errors)
                fprintf(stderr, "berthd gc: %zu blob file(s) could not be removed (removed at the next run)\n",
                        res.file_errors);
        print_result(stdout, o.dry_run, &res);
        rc = 0;
out:
        meta_free(meta);
        db_free(db);
        store_free(store);
        return rc;
}

/* ---- the server's runs ---- */

static void server_run(server_t *srv, meta_t *m, const char *who, const volatile bool *stop) {
        const config_t *cfg = srv->cfg;
        registry_gc_options_t o = { .grace = cfg->gc_grace, .delete_untagged = cfg->gc_delete_untagged,
                                    .upload_max_age = cfg->upload_max_age, .who = who, .now = srv->now,
                                    .now_userdata = srv->now_userdata, .stop = stop };
        registry_gc_result_t res;
        int64_t last = 0;
        double t0, dt;
        int r;

        /* replicas share the schedule: a run by any of them counts */
        r = meta_gc_last_ok(m, &last);
        if (r == 0 && last > 0 && (int64_t) server_now(srv) - last < (int64_t) cfg->gc_interval - 1) {
                log_msg(LOG_DEBUG, LOG_SRC_SERVER, "gc: another process ran one %" PRId64 " s ago",
                        (int64_t) server_now(srv) - last);
                return;
        }
        t0 = mono();
        r = registry_gc_run(srv->store, m, &o, &res);
        dt = mono() - t0;
        if (r == BERTH_EBUSY) {
                log_msg(LOG_DEBUG, LOG_SRC_SERVER, "gc: another process is collecting");
                return;
        }
        gc_count(r == 0, dt, res.blobs + res.orphans, res.blob_bytes + res.orphan_bytes);
        if (r < 0) {
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "gc run %" PRId64 " failed: %s%s%s", res.run_id,
                        berth_strerror(r), db_last_error()[0] ? ": " : "", db_last_error());
                return;
        }
        log_msg(res.blobs || res.orphans || res.manifests || res.links ? LOG_INFO : LOG_DEBUG, LOG_SRC_SERVER,
                "gc run %" PRId64 " in %.3f s: %zu blob(s) (%" PRIu64 " bytes), %" PRIu64 " manifest(s), %" PRIu64
                " link(s), %" PRIu64 " file(s) without metadata, %" PRIu64 " upload session(s) removed%s",
                res.run_id, dt, res.blobs, res.blob_bytes, res.manifests, res.links, res.orphans, res.uploads,
                res.file_errors ? " (some files could not be removed: the next run)" : "");
}

static periodic_t gct = PERIODIC_INIT("gc", server_run);

int gc_start(server_t *srv) {
        return periodic_start(&gct, srv, srv->cfg->gc_interval);
}

/* ---- a run asked for by the management API (POST /api/v1/gc/runs) ---- */
static struct {
        pthread_mutex_t lock;
        pthread_t thread;
        bool running, joinable;
        volatile bool stop;
        server_t *srv;
        bool dry_run, delete_untagged;
        char who[AUTH_NAME_MAX + 1];
} gcr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *request_thread(void *arg) {
        server_t *srv = arg;
        meta_t *m = NULL;
        registry_gc_options_t o = { .grace = srv->cfg->gc_grace, .dry_run = gcr.dry_run,
                                    .delete_untagged = gcr.delete_untagged,
                                    .upload_max_age = srv->cfg->upload_max_age, .who = gcr.who,
                                    .now = srv->now, .now_userdata = srv->now_userdata, .stop = &gcr.stop };
        registry_gc_result_t res;
        double t0;
        int r;

        if ((r = meta_open_thread(server_db(srv), &m)) == 0) {
                t0 = mono();
                r = registry_gc_run(srv->store, m, &o, &res);
                if (r != BERTH_EBUSY && !o.dry_run)
                        gc_count(r == 0, mono() - t0, res.blobs + res.orphans, res.blob_bytes + res.orphan_bytes);
                if (r < 0 && r != BERTH_EBUSY)
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "gc run (asked by %s) failed: %s", gcr.who,
                                berth_strerror(r));
                meta_free(m);
        }
        pthread_mutex_lock(&gcr.lock);
        gcr.running = false;
        pthread_mutex_unlock(&gcr.lock);
        return NULL;
}

int gc_request(server_t *srv, const char *who, bool dry_run, bool delete_untagged) {
        int r = 0;

        pthread_mutex_lock(&gcr.lock);
        if (gcr.running) {
                r = BERTH_EBUSY;
                goto out;
        }
        if (gcr.joinable) {
                pthread_join(gcr.thread, NULL);
                gcr.joinable = false;
        }
        gcr.srv = srv;
        gcr.stop = false;
        gcr.dry_run = dry_run;
        gcr.delete_untagged = delete_untagged;
        snprintf(gcr.who, sizeof(gcr.who), "%s", who && *who ? who : "api");
        r = -pthread_create(&gcr.thread, NULL, request_thread, srv);
        if (r == 0)
                gcr.running = gcr.joinable = true;
out:
        pthread_mutex_unlock(&gcr.lock);
        return r;
}

void gc_stop(void) {
        pthread_mutex_lock(&gcr.lock);
        gcr.stop = true;
        if (gcr.joinable) {
                pthread_t t = gcr.thread;
                gcr.joinable = false;
                pthread_mutex_unlock(&gcr.lock);
                pthread_join(t, NULL);
        } else
                pthread_mutex_unlock(&gcr.lock);
        periodic_stop(&gct);
}
