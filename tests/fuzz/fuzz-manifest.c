/* tests/fuzz/fuzz-manifest.c: libFuzzer target for manifest_parse. The first input
 * byte chooses the push Content-Type, the rest is the manifest body. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
        NULL,
        "",
        MT_OCI_MANIFEST,
        MT_OCI_INDEX,
        MT_DOCKER_MANIFEST,
        MT_DOCKER_LIST,
        MT_OCI_MANIFEST "; charset=utf-8",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/json",
};

static bool known(const char *mt) {
        return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_OCI_INDEX) == 0 ||
                      strcmp(mt, MT_DOCKER_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

static void check_desc(const manifest_desc_t *d) {
        digest_t again;

        if (!d || d->size < 0 || !d->media_type)
                abort();
        if (digest_parse(d->digest.str, &again) != 0 || !digest_equal(&again, &d->digest))
                abort();
        /* touch every borrowed string so ASan sees a use after free */
        (void) strlen(d->media_type);
        if (d->artifact_type)
                (void) strlen(d->artifact_type);
        if (d->os)
                (void) strlen(d->os);
        if (d->arch)
                (void) strlen(d->arch);
        if (d->variant)
                (void) strlen(d->variant);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *ct, *detail = NULL, *at;
        manifest_t *m = NULL;
        char *ann;
        size_t n;
        int r;

        if (size == 0)
                return 0;
        ct = content_types[data[0] % (sizeof(content_types) / sizeof(content_types[0]))];
        r = manifest_parse(data + 1, size - 1, ct, &m, &detail);
        if (r != 0) {
                if (m || (r != BERTH_EMANIFEST && r != BERTH_ETOOBIG && r != -ENOMEM))
                        abort();
                if (r == BERTH_EMANIFEST && !detail)
                        abort();
                return 0;
        }
        if (!m || !known(manifest_media_type(m)))
                abort();
        n = manifest_desc_count(m);
        if (!manifest_is_index(m) && n < 1)
                abort();
        for (size_t i = 0; i < n; i++) {
                const manifest_desc_t *d = manifest_desc(m, i);
                check_desc(d);
                if (manifest_is_index(m) != (d->kind == MANIFEST_DESC_CHILD))
                        abort();
        }
        if (manifest_desc(m, n))
                abort();
        if (manifest_subject(m))
                check_desc(manifest_subject(m));
        at = manifest_artifact_type(m);
        if (at)
                (void) strlen(at);
        ann = manifest_annotations_json(m);
        free(ann);
        manifest_free(m);
        return 0;
}
