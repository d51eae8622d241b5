/* tests/bench/api-fill.c: fills a metadata database for the management API
 * benchmark (tests/bench/api-bench.sh) through the metadata API, without HTTP:
 * REPOS repositories bench/rNNNNN of one manifest with TAGS tags each, and the
 * repository big/app with BIG_MANIFESTS manifests of 10 tags each.
 *
 *   api-fill DB REPOS TAGS BIG_MANIFESTS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/db.h"
#include "storage/meta.h"

static int put(meta_t *m, const char *repo, const char *body, const digest_t *layer, const char *const *tags,
               size_t n) {
        meta_ref_t ref = { .digest = *layer };
        meta_manifest_t mf = { .repo = repo, .media_type = "application/vnd.oci.image.manifest.v1+json",
                               .refs = &ref, .n_refs = 1, .size = strlen(body) };

        (void) digest_buf(DIGEST_SHA256, body, strlen(body), &mf.digest);
        return meta_manifest_put(m, &mf, tags, n, NULL);
}

int main(int argc, char **argv) {
        unsigned long repos, tags, big;
        meta_t *m = NULL;
        digest_t layer;
        int r;

        if (argc != 5 || !(repos = strtoul(argv[2], NULL, 10)) || !(tags = strtoul(argv[3], NULL, 10)) || tags > 64) {
                fprintf(stderr, "usage: api-fill DB REPOS TAGS BIG_MANIFESTS\n");
                return 2;
        }
        big = strtoul(argv[4], NULL, 10);
        if ((r = meta_open(argv[1], &m)) < 0) {
                fprintf(stderr, "api-fill: %s: %s\n", argv[1], berth_strerror(r));
                return 1;
        }
        (void) digest_buf(DIGEST_SHA256, "bench layer", 11, &layer);
        for (unsigned long i = 0; i < repos && r >= 0; i++) {
                char repo[64], body[96], names[64][16];
                const char *tv[64];
                snprintf(repo, sizeof(repo), "bench/r%05lu", i);
                snprintf(body, sizeof(body), "%s manifest", repo);
                for (unsigned long k = 0; k < tags; k++) {
                        snprintf(names[k], sizeof(names[k]), "v%lu", k);
                        tv[k] = names[k];
                }
                if ((r = meta_blob_link(m, repo, &layer, 11)) >= 0)
                        r = put(m, repo, body, &layer, tv, tags);
        }
        if (r >= 0 && big)
                r = meta_blob_link(m, "big/app", &layer, 11);
        for (unsigned long j = 0; j < big && r >= 0; j++) {
                char body[96], names[10][16];
                const char *tv[10];
                snprintf(body, sizeof(body), "big/app manifest %lu", j);
                for (int k = 0; k < 10; k++) {
                        snprintf(names[k], sizeof(names[k]), "t%06lu", j * 10 + (unsigned long) k);
                        tv[k] = names[k];
                }
                r = put(m, "big/app", body, &layer, tv, 10);
        }
        if (r < 0)
                fprintf(stderr, "api-fill: %s (%s)\n", berth_strerror(r), db_last_error());
        meta_free(m);
        return r < 0 ? 1 : 0;
}
