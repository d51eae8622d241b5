/* tests/fuzz/fuzz-layout.c: libFuzzer target for the local store's index.json as berth
 * pull reads it (client/layout.c). The input is written as index.json of a scratch OCI
 * layout (under /dev/shm when there is one, else $TMPDIR or /tmp; removed at exit), then
 * listed, looked up by reference and by digest, garbage-collected, and an entry is put
 * and removed again.
 *
 * Checks, besides memory safety: errors are BERTH_EJSON or -ENOMEM; a listed entry has
 * a reference, a media type and a digest that re-parses, and is found again by its
 * reference and by its digest; an entry put under a reference the index did not hold
 * is read back as written and removed again. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "client/layout.h"
#include "common/digest.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROBE_REF "fuzz.invalid/probe/put:tag"

static char root[256];
static char index_path[300];
static layout_t *lay;

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) type;
        (void) ftw;
        return remove(path) < 0 ? -1 : 0;
}

static void cleanup(void) {
        lay = layout_free(lay);
        /* the scratch layout we made with mkdtemp, depth first */
        if (root[0] && nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
                fprintf(stderr, "fuzz-layout: could not remove %s\n", root);
}

static void setup(void) {
        const char *base = getenv("TMPDIR");
        struct stat st;

        if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
                base = "/dev/shm";
        else if (!base || !base[0])
                base = "/tmp";
        snprintf(root, sizeof(root), "%s/berth-fuzz-layout-XXXXXX", base);
        if (!mkdtemp(root) || layout_open(root, &lay) != 0)
                abort();
        snprintf(index_path, sizeof(index_path), "%s/index.json", root);
        atexit(cleanup);
}

static void write_index(const uint8_t *data, size_t size) {
        int fd = open(index_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0)
                abort();
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                if (n <= 0)
                        abort();
                data += n;
                size -= (size_t) n;
        }
        close(fd);
}

static void check_err(int r) {
        if (r < 0 && r != BERTH_EJSON && r != -ENOMEM)
                abort();
}

/* the repository name of a full reference: before "@digest", else before ":tag" */
static size_t name_len(const char *ref) {
        const char *at = strchr(ref, '@'), *slash, *colon;

        if (at)
                return (size_t) (at - ref);
        slash = strrchr(ref, '/');
        colon = strrchr(slash ? slash : ref, ':');
        return colon ? (size_t) (colon - ref) : 0;
}

static void check_image(const layout_image_t *img) {
        layout_image_t again;
        digest_t d;
        size_t nl;
        char *name;
        int r;

        if (!img->ref || !img->media_type)
                abort();
        if (digest_parse(img->manifest.str, &d) != 0 || !digest_equal(&d, &img->manifest))
                abort();
        /* the first entry under this reference may be a broken one the list skipped */
        r = layout_image_get(lay, img->ref, &again);
        check_err(r);
        if (r == 0)
                abort();
        if (r == 1) {
                if (strcmp(again.ref, img->ref) != 0)
                        abort();
                layout_image_done(&again);
        }
        nl = name_len(img->ref);
        if (nl == 0)
                return;
        name = strndup(img->ref, nl);
        if (!name)
                return;
        r = layout_image_find_digest(lay, name, &img->manifest, &again);
        check_err(r);
        if (r == 0)
                abort();
        if (r == 1)
                layout_image_done(&again);
        free(name);
}

static void probe_put(void) {
        layout_image_t img = { 0 }, got;
        int before, r;

        if (digest_buf(DIGEST_SHA256, "probe", 5, &img.manifest) != 0)
                abort();
        img.ref = (char *) PROBE_REF;
        img.media_type = (char *) "application/vnd.oci.image.manifest.v1+json";
        img.size = 5;
        img.resolved = (char *) img.manifest.str;
        img.pulled_by = (char *) "anonymous";
        before = layout_image_get(lay, PROBE_REF, &got);
        check_err(before);
        if (before == 1)
                layout_image_done(&got);
        r = layout_image_put(lay, &img);
        check_err(r);
        /* before < 0: the index does not load, or an entry under PROBE_REF is broken
         * (put replaces it); before == 1: it was there. Only a new entry is checked. */
        if (r < 0 || before != 0)
                return;
        /* the index held no entry under PROBE_REF: it now holds exactly ours */
        if (layout_image_get(lay, PROBE_REF, &got) != 1)
                abort();
        if (!digest_equal(&got.manifest, &img.manifest) || got.size != 5 || !got.resolved ||
            strcmp(got.resolved, img.manifest.str) != 0 || !got.pulled_by || strcmp(got.pulled_by, "anonymous") != 0)
                abort();
        layout_image_done(&got);
        if (layout_image_remove(lay, PROBE_REF) != 1 || layout_image_get(lay, PROBE_REF, &got) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        layout_image_t *v = NULL;
        size_t n = 0;
        int r;

        if (size > LAYOUT_INDEX_MAX)
                return 0;
        if (!lay)
                setup();
        write_index(data, size);
        r = layout_image_list(lay, &v, &n);
        check_err(r);
        if (r == 0) {
                for (size_t i = 0; i < n; i++)
                        check_image(&v[i]);
                layout_image_list_free(v, n);
        }
        check_err(layout_gc(lay, NULL, NULL));
        probe_put();
        return 0;
}
