/* server/cli-storage.c: `berthd storage copy --to URL [--s3-ca FILE]`. Every blob
 * file under DATA/blobs/ is re-hashed and sent to the target driver unless it is
 * there already with its size, so a copy interrupted is resumed by running it again,
 * and blobs pushed while it ran are picked up by the next run. The way from one node
 * to object storage (docs/s3.md): copy while serving, copy again, restart berthd with
 * --storage URL, copy once more (the pushes of the last moments). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "server/cli-storage.h"
#include "storage/blobstore.h"
#include "storage/store.h"

int cli_storage_usage(FILE *f) {
        fputs("usage: berthd [--data DIR] storage copy --to URL [--s3-ca FILE]\n"
              "  copy every blob of the directory store (DATA/blobs) into URL (s3://BUCKET[/PREFIX]?endpoint=...),\n"
              "  each re-hashed first; blobs already there are skipped, so running it again resumes it\n"
              "  (credentials as for berthd serve: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or\n"
              "  BERTH_S3_CREDENTIALS_FILE)\n",
              f);
        return 2;
}

typedef struct {
        digest_t *d;
        size_t n, cap;
        int err;
} list_t;

static void collect(void *userdata, const digest_t *d, uint64_t size, time_t mtime) {
        list_t *l = userdata;
        (void) size;
        (void) mtime;
        if (l->err)
                return;
        if (l->n == l->cap) {
                size_t nc = l->cap ? l->cap * 2 : 256;
                digest_t *p = reallocarray(l->d, nc, sizeof(*p));
                if (!p) {
                        l->err = -ENOMEM;
                        return;
                }
                l->d = p;
                l->cap = nc;
        }
        l->d[l->n++] = *d;
}

int cli_storage_run(const char *data_dir, int argc, char **argv, FILE *out, FILE *err) {
        const char *to_url = NULL, *ca = getenv("BERTH_S3_CA"), *detail = NULL;
        uint64_t copied = 0, bytes = 0, present = 0, failed = 0;
        blobstore_t *to = NULL;
        store_t *store = NULL;
        list_t l = {};
        int r, rc = 2;

        if (argc < 2 || strcmp(argv[1], "copy") != 0)
                return cli_storage_usage(err);
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
                        to_url = argv[++i];
                else if (strcmp(argv[i], "--s3-ca") == 0 && i + 1 < argc)
                        ca = argv[++i];
                else
                        return cli_storage_usage(err);
        }
        if (!to_url || strncmp(to_url, "s3://", 5) != 0) {
                fprintf(err, "berthd storage copy: --to s3://BUCKET[/PREFIX]?endpoint=... is needed\n");
                return 2;
        }
        r = blobstore_open_url(to_url, ca, &to, &detail);
        if (r < 0) {
                fprintf(err, "berthd storage copy: %s: %s\n", to_url, detail ? detail : berth_strerror(r));
                return 2;
        }
        r = store_open(data_dir, &store);
        if (r < 0) {
                fprintf(err, "berthd storage copy: opening the blob store in %s: %s\n", data_dir, berth_strerror(r));
                goto out;
        }
        r = store_blob_scan(store, collect, &l);
        if (r >= 0 && l.err)
                r = l.err;
        if (r < 0) {
                fprintf(err, "berthd storage copy: listing %s/blobs: %s\n", data_dir, berth_strerror(r));
                goto out;
        }
        for (size_t i = 0; i < l.n; i++) {
                uint64_t size = 0;

                r = store_blob_export(store, &l.d[i], to, &size);
                if (r == -ENOENT) /* removed meanwhile (GC) */
                        continue;
                if (r < 0) {
                        fprintf(err, "berthd storage copy: %s: %s\n", l.d[i].str,
                                r == BERTH_EDIGEST ? "the file does not hash to its name (berthd fsck)" : berth_strerror(r));
                        failed++;
                } else if (r == 0)
                        present++;
                else {
                        copied++;
                        bytes += size;
                }
        }
        fprintf(out, "copied %" PRIu64 " blobs (%" PRIu64 " bytes), %" PRIu64 " already there, %" PRIu64 " failed\n",
                copied, bytes, present, failed);
        rc = failed ? 1 : 0;
out:
        free(l.d);
        store_free(store);
        blobstore_free(to);
        return rc;
}
