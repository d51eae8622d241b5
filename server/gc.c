/* server/gc.c: `berthd gc`, offline garbage collection of the data directory.
 *
 * A repository keeps a blob while one of its manifests references it (or while its
 * link is younger than the grace period: a push in progress uploads layers before
 * its manifest); a blob file goes when no repository and no manifest keeps it.
 * Rows go first, in one transaction, then the files: a crash in between leaves only
 * files without rows, which the next run removes too. Runs only while no berthd
 * serves the directory (both take an exclusive lock on DATA/serve.lock), as
 * distribution's garbage-collect does. */
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
#include "server/gc.h"
#include "storage/meta.h"
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

typedef struct {
        meta_t *meta;
        store_t *store;
        time_t before;
        bool dry_run;
        uint64_t files, bytes;
        int err;
} orphans_t;

/* A blob file without a row, old enough: left by a crash, or by an earlier run. */
static void orphan(void *userdata, const digest_t *d, uint64_t size, time_t mtime) {
        orphans_t *o = userdata;
        int r;

        if (mtime >= o->before)
                return;
        r = meta_blob_known(o->meta, d);
        if (r < 0) {
                o->err = r;
                return;
        }
        if (r > 0)
                return;
        if (!o->dry_run && store_blob_remove(o->store, d) < 0)
                return;
        o->files++;
        o->bytes += size;
}

static void usage(FILE *f) {
        fputs("Usage: berthd [--data DIR] gc [--dry-run] [--grace SECONDS]\n"
              "\n"
              "Remove what no repository and no manifest keeps: repository links to blobs no\n"
              "manifest of that repository references, then blob files nothing references.\n"
              "Runs only while berthd is stopped. Links and blobs younger than the grace period\n"
              "(default 3600 s) are kept, so a push cut short by the stop can still finish.\n",
              f);
}

int gc_main(const char *data_dir, int argc, char **argv) {
        static const struct option opts[] = {
                { "dry-run", no_argument, NULL, 'n' },
                { "grace", required_argument, NULL, 'g' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_close_ int lock = -1;
        meta_gc_result_t res = { 0 };
        orphans_t o = { 0 };
        _cleanup_free_ char *db = NULL;
        uint64_t grace = 3600;
        bool dry_run = false;
        int c, r, rc = 1, tmp = 0;

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

        lock = data_lock(data_dir);
        if (lock == -EBUSY) {
                fprintf(stderr, "berthd gc: a berthd serves %s: stop it first (gc runs offline)\n", data_dir);
                return 1;
        }
        if (lock < 0) {
                fprintf(stderr, "berthd gc: %s/serve.lock: %s\n", data_dir, berth_strerror(lock));
                return 1;
        }
        if (asprintf(&db, "%s/berth.db", data_dir) < 0)
                return 1;
        r = store_open(data_dir, &o.store);
        if (r == 0)
                r = meta_open(db, &o.meta);
        if (r < 0) {
                fprintf(stderr, "berthd gc: opening %s: %s\n", data_dir, berth_strerror(r));
                goto out;
        }
        r = meta_gc(o.meta, grace, dry_run, &res);
        if (r < 0) {
                fprintf(stderr, "berthd gc: metadata: %s\n", berth_strerror(r));
                goto out;
        }
        for (size_t i = 0; !dry_run && i < res.n; i++) {
                r = store_blob_remove(o.store, &res.digests[i]);
                if (r < 0 && r != -ENOENT)
                        fprintf(stderr, "berthd gc: removing %s: %s (removed at the next run)\n",
                                res.digests[i].str, berth_strerror(r));
        }
        o.before = time(NULL) - (time_t) grace;
        o.dry_run = dry_run;
        r = store_blob_scan(o.store, orphan, &o);
        if (r < 0 || o.err < 0) {
                fprintf(stderr, "berthd gc: scanning blobs: %s\n", berth_strerror(r < 0 ? r : o.err));
                goto out;
        }
        if (!dry_run)
                tmp = store_tmp_clean(o.store, grace);
        printf("%s %" PRIu64 " repository link(s), %zu blob(s) (%" PRIu64 " bytes), "
               "%" PRIu64 " file(s) without metadata (%" PRIu64 " bytes)%s\n",
               dry_run ? "would remove" : "removed", res.links, res.n, res.bytes, o.files, o.bytes,
               tmp > 0 ? ", scratch files" : "");
        rc = 0;
out:
        free(res.digests);
        meta_free(o.meta);
        store_free(o.store);
        return rc;
}
