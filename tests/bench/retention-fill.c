/* tests/bench/retention-fill.c: fills a metadata database for the retention
 * benchmark (tests/bench/retention-bench.sh) through the metadata API, without
 * HTTP: REPOS repositories bench/rNNN, each with MANIFESTS image manifests of one
 * shared layer, each manifest tagged with TAGS tags (bNNNNN; every hundredth
 * release-NNNNN), all pushed two days ago.
 *
 *   retention-fill DB REPOS MANIFESTS TAGS */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/db.h"
#include "storage/meta.h"

static const char SQL_AGE_MANIFESTS[] = "UPDATE manifests SET created_at = ?1";
static const char SQL_AGE_TAGS[] = "UPDATE tags SET updated_at = ?1";

static int age(meta_t *m, const char *sql, int64_t t) {
        db_conn_t *c = meta_conn(m);
        db_stmt_t *st = NULL;
        int r;

        if ((r = db_tx_begin(c)) < 0)
                return r;
        if ((r = db_stmt(c, sql, &st)) >= 0 && (r = db_bind_int(st, 1, t)) >= 0)
                r = db_step_done(st);
        if (st)
                db_stmt_reset(st);
        if (r < 0) {
                db_tx_rollback(c);
                return r;
        }
        return db_tx_commit(c);
}

int main(int argc, char **argv) {
        unsigned long repos, manifests, tags;
        meta_t *m = NULL;
        digest_t layer;
        int r;

        if (argc != 5 || !(repos = strtoul(argv[2], NULL, 10)) || !(manifests = strtoul(argv[3], NULL, 10)) ||
            !(tags = strtoul(argv[4], NULL, 10)) || tags > 64) {
                fprintf(stderr, "usage: retention-fill DB REPOS MANIFESTS TAGS (at most 64 tags a manifest)\n");
                return 2;
        }
        r = meta_open(argv[1], &m);
        if (r < 0) {
                fprintf(stderr, "retention-fill: %s: %s (%s)\n", argv[1], berth_strerror(r), db_last_error());
                return 1;
        }
        (void) digest_buf(DIGEST_SHA256, "bench layer", 11, &layer);
        for (unsigned long i = 0; i < repos && r >= 0; i++) {
                char repo[64];
                snprintf(repo, sizeof(repo), "bench/r%03lu", i);
                r = meta_blob_link(m, repo, &layer, 11);
                for (unsigned long j = 0; j < manifests && r >= 0; j++) {
                        char body[96], names[64][32];
                        const char *tv[64];
                        meta_ref_t ref = { .digest = layer };
                        meta_manifest_t mf = { .repo = repo, .media_type = "application/vnd.oci.image.manifest.v1+json",
                                               .refs = &ref, .n_refs = 1 };
                        int len = snprintf(body, sizeof(body), "%s manifest %lu", repo, j);
                        (void) digest_buf(DIGEST_SHA256, body, (size_t) len, &mf.digest);
                        mf.size = (uint64_t) len;
                        for (unsigned long k = 0; k < tags; k++) {
                                unsigned long n = j * tags + k;
                                snprintf(names[k], sizeof(names[k]), n % 100 ? "b%05lu" : "release-%05lu", n);
                                tv[k] = names[k];
                        }
                        r = meta_manifest_put(m, &mf, tv, tags, NULL);
                }
        }
        if (r >= 0)
                r = age(m, SQL_AGE_MANIFESTS, (int64_t) time(NULL) - 2 * 86400);
        if (r >= 0)
                r = age(m, SQL_AGE_TAGS, (int64_t) time(NULL) - 2 * 86400);
        if (r < 0)
                fprintf(stderr, "retention-fill: %s (%s)\n", berth_strerror(r), db_last_error());
        meta_free(m);
        return r < 0 ? 1 : 0;
}
