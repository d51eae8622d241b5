/* server/gc.c: `berthd gc`, offline garbage collection of the data directory: the
 * command line and the lock. The collection itself (what a repository keeps, rows
 * first then files, files without rows) is storage/registry.c's registry_gc. Runs
 * only while no berthd serves the directory (both take an exclusive lock on
 * DATA/serve.lock), as distribution's garbage-collect does. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/macro.h"
#include "server/dbconf.h"
#include "server/gc.h"
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

static void usage(FILE *f) {
        fputs("Usage: berthd [--data DIR] [--db sqlite|sqlite:PATH] gc [--dry-run] [--grace SECONDS]\n"
              "\n"
              "Remove what no repository and no manifest keeps: repository links to blobs no\n"
              "manifest of that repository references, then blob files nothing references.\n"
              "Runs only while berthd is stopped. Links and blobs younger than the grace period\n"
              "(default 3600 s) are kept, so a push cut short by the stop can still finish.\n"
              "SQLite only: with a PostgreSQL database (--db postgresql://...) other berthd may\n"
              "serve the same data while it runs, so this offline collection refuses to start.\n",
              f);
}

int gc_main(const char *data_dir, const dbconf_t *db, int argc, char **argv) {
        static const struct option opts[] = {
                { "dry-run", no_argument, NULL, 'n' },
                { "grace", required_argument, NULL, 'g' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_close_ int lock = -1;
        registry_gc_result_t res;
        meta_t *meta = NULL;
        store_t *store = NULL;
        uint64_t grace = 3600;
        bool dry_run = false;
        int c, r, rc = 1;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        dry_run = true;
                        break;
                case 'g': {
                        char *end;
                        unsigned long long v;
                        errno = 0;
                        v = strtoull(optarg, &end, 10);
                        if (errno || *end || !*optarg || *optarg == '-' || v > UINT32_MAX) {
                                fprintf(stderr, "berthd gc: invalid --grace '%s'\n", optarg);
                                return 2;
                        }
                        grace = v;
                        break;
                }
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

        /* Offline means no berthd at work: serve.lock proves it for SQLite, where
         * one berthd owns the data directory. On a shared PostgreSQL database any
         * number of replicas may be serving the same blobs from other machines,
         * and nothing here could tell: a blob they link during the sweep would go. */
        if (!db->target) { /* called for its usage only */
                usage(stderr);
                return 2;
        }
        if (db->pg) {
                fprintf(stderr, "berthd gc: %s is a PostgreSQL database, which several berthd may share: offline "
                        "garbage collection runs on SQLite only (one berthd per data directory)\n", db->display);
                return 2;
        }
        lock = data_lock(data_dir);
        if (lock == -EBUSY) {
                fprintf(stderr, "berthd gc: a berthd serves %s: stop it first (gc runs offline)\n", data_dir);
                return 1;
        }
        if (lock < 0) {
                fprintf(stderr, "berthd gc: %s/serve.lock: %s\n", data_dir, berth_strerror(lock));
                return 1;
        }
        r = store_open(data_dir, &store);
        if (r < 0) {
                fprintf(stderr, "berthd gc: opening %s: %s\n", data_dir, berth_strerror(r));
                goto out;
        }
        r = meta_open(db->target, &meta);
        if (r < 0) {
                fprintf(stderr, "berthd gc: opening the database %s: %s\n", db->display, berth_strerror(r));
                goto out;
        }
        r = registry_gc(store, meta, grace, dry_run, &res);
        if (r < 0) {
                fprintf(stderr, "berthd gc: %s\n", berth_strerror(r));
                goto out;
        }
        if (res.file_errors)
                fprintf(stderr, "berthd gc: %zu blob file(s) could not be removed (removed at the next run)\n",
                        res.file_errors);
        printf("%s %" PRIu64 " repository link(s), %zu blob(s) (%" PRIu64 " bytes), "
               "%" PRIu64 " file(s) without metadata (%" PRIu64 " bytes)%s\n",
               dry_run ? "would remove" : "removed", res.links, res.blobs, res.blob_bytes, res.orphans,
               res.orphan_bytes, res.scratch ? ", scratch files" : "");
        rc = 0;
out:
        meta_free(meta);
        store_free(store);
        return rc;
}
