/* tests/bench/api-fill.c: fills a metadata database for the management API
 * benchmark (tests/bench/api-bench.sh) through the metadata API, without HTTP:
 * REPOS repositories bench/rNNNNN of one manifest with TAGS tags each, and the
 * repository big/app with BIG_MANIFESTS manifests of 10 tags each. The manifests
 * and their one blob (a config) are also written to the blob store of DATA, so
 * that an artifact's page can be read.
 *
 *   api-fill DB DATA REPOS TAGS BIG_MANIFESTS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/store.h"

#define CONFIG "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\"]}}"

static int put(meta_t *m, store_t *s, const char *repo, const char *name, const digest_t *layer,
               const char *const *tags, size_t n) {
        char body[512];
        meta_ref_t ref = { .digest = *layer };
        meta_manifest_t mf = { .repo = repo, .media_type = "application/vnd.oci.image.manifest.v1+json",
                               .refs = &ref, .n_refs = 1 };
        int len = snprintf(body, sizeof(body),
                           "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                           "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
                           "\"size\":%zu},\"layers\":[],\"annotations\":{\"name\":\"%s\"}}",
                           layer->str, strlen(CONFIG), name);
        int r;

        mf.size = (uint64_t) len;
        (void) digest_buf(DIGEST_SHA256, body, (size_t) len, &mf.digest);
        if (s && (r = store_blob_put(s, &mf.digest, body, (size_t) len)) < 0)
                return r;
        return meta_manifest_put(m, &mf, tags, n, NULL);
}

int main(int argc, char **argv) {
        unsigned long repos, tags, big;
        meta_t *m = NULL;
        store_t *s = NULL;
        digest_t layer;
        int r;

        if (argc != 6 || !(repos = strtoul(argv[3], NULL, 10)) || !(tags = strtoul(argv[4], NULL, 10)) || tags > 64) {
                fprintf(stderr, "usage: api-fill DB DATA REPOS TAGS BIG_MANIFESTS\n");
                return 2;
        }
        big = strtoul(argv[5], NULL, 10);
        if ((r = meta_open(argv[1], &m)) < 0 || (r = store_open(argv[2], &s)) < 0) {
                fprintf(stderr, "api-fill: %s: %s\n", argv[1], berth_strerror(r));
                return 1;
        }
        (void) digest_buf(DIGEST_SHA256, CONFIG, strlen(CONFIG), &layer);
        if ((r = store_blob_put(s, &layer, CONFIG, strlen(CONFIG))) < 0) {
                fprintf(stderr, "api-fill: store: %s\n", berth_strerror(r));
                return 1;
        }
        for (unsigned long i = 0; i < repos && r >= 0; i++) {
                char repo[64], names[64][16];
                const char *tv[64];
                snprintf(repo, sizeof(repo), "bench/r%05lu", i);
                for (unsigned long k = 0; k < tags; k++) {
                        snprintf(names[k], sizeof(names[k]), "v%lu", k);
                        tv[k] = names[k];
                }
                if ((r = meta_blob_link(m, repo, &layer, strlen(CONFIG))) >= 0)
                        r = put(m, NULL, repo, repo, &layer, tv, tags);
        }
        if (r >= 0 && big)
                r = meta_blob_link(m, "big/app", &layer, strlen(CONFIG));
        for (unsigned long j = 0; j < big && r >= 0; j++) {
                char body[32], names[10][16];
                const char *tv[10];
                snprintf(body, sizeof(body), "big %lu", j);
                for (int k = 0; k < 10; k++) {
                        snprintf(names[k], sizeof(names[k]), "t%06lu", j * 10 + (unsigned long) k);
                        tv[k] = names[k];
                }
                r = put(m, s, "big/app", body, &layer, tv, 10);
        }
        if (r < 0)
                fprintf(stderr, "api-fill: %s (%s)\n", berth_strerror(r), db_last_error());
        meta_free(m);
        store_free(s);
        return r < 0 ? 1 : 0;
}
