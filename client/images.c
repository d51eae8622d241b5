/* client/images.c: the store's images (berth_images) and their removal (berth_rmi). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>
#include "client/berth.h"
#include "client/layout.h"
#include "client/pull-internal.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "common/ref.h"

int berth_images(berth_client_t *c, char **ret_json) {
        layout_image_t *v = NULL;
        size_t n = 0;
        json_t *a;
        int r = layout_image_list(c->layout, &v, &n);

        if (r < 0) {
                pull_say(c, "%s", berth_strerror(r));
                return BERTH_STATUS_ERROR;
        }
        a = json_array();
        for (size_t i = 0; a && i < n; i++) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                uint64_t total = 0;
                manifest_t *m = NULL;
                const char *detail;

                if (layout_blob_read(c->layout, &v[i].manifest, MANIFEST_MAX_SIZE, &buf, &len) == 0 &&
                    manifest_parse((const uint8_t *) buf, len, v[i].media_type, &m, &detail) == 0) {
                        total = len;
                        for (size_t k = 0; k < manifest_desc_count(m); k++)
                                total += (uint64_t) manifest_desc(m, k)->size;
                        manifest_free(m);
                }
                json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:s}", "reference", v[i].ref, "digest",
                                                   v[i].manifest.str, "size", (json_int_t) total, "pulledBy",
                                                   !v[i].pulled_by ? "preloaded"
                                                   : pull_word_in(v[i].pulled_by, "anonymous") ? "anonymous"
                                                                                         : "credentials"));
        }
        layout_image_list_free(v, n);
        *ret_json = a ? json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(a);
        return *ret_json ? BERTH_OK : BERTH_STATUS_ERROR;
}

int berth_rmi(berth_client_t *c, const char *image) {
        ref_t *ref = NULL;
        const char *detail = NULL;
        uint64_t freed = 0;
        size_t nblobs = 0;
        int gcfd, stfd, r;

        r = ref_parse(image, &ref, &detail);
        if (r < 0) {
                pull_say(c, "InvalidImageName: couldn't parse image name \"%s\": %s", image, detail ? detail : berth_strerror(r));
                return BERTH_STATUS_INVALID_IMAGE_NAME;
        }
        r = layout_lock(c->layout, LAYOUT_LOCK_GC, true, &gcfd);
        if (r < 0)
                goto out;
        r = layout_lock(c->layout, LAYOUT_LOCK_STATE, true, &stfd);
        if (r == 0) {
                r = layout_image_remove(c->layout, ref_full(ref));
                close(stfd);
        }
        if (r == 1)
                r = layout_gc(c->layout, &freed, &nblobs);
        else if (r == 0)
                r = -ENOENT;
        close(gcfd);
out:
        if (r == -ENOENT)
                pull_say(c, "no such image: %s", ref_full(ref));
        else if (r < 0)
                pull_say(c, "%s", berth_strerror(r));
        else
                pull_say(c, "Untagged: %s (freed %zu blobs, %llu bytes)", ref_full(ref), nblobs, (unsigned long long) freed);
        ref_free(ref);
        return r < 0 ? BERTH_STATUS_ERROR : BERTH_OK;
}
