/* client/layout.c: the OCI image layout store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "client/layout.h"
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "common/manifest.h"

struct layout {
        char *root;
};

static int path_join(char **ret, const char *a, const char *b) {
        if (asprintf(ret, "%s/%s", a, b) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

int layout_state_path(layout_t *l, const char *name, char **ret) {
        if (asprintf(ret, "%s/.berth/%s", l->root, name) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int ensure_file(const char *root, const char *name, const char *content) {
        _cleanup_free_ char *p = NULL;
        int r = path_join(&p, root, name);

        if (r < 0)
                return r;
        if (access(p, F_OK) == 0)
                return 0;
        return file_write_atomic(p, content, strlen(content), 0644);
}

layout_t *layout_free(layout_t *l) {
        if (!l)
                return NULL;
        free(l->root);
        free(l);
        return NULL;
}
DEFINE_CLEANUP_FUNC(layout_t, layout_free);

const char *layout_root(const layout_t *l) { return l->root; }

int layout_open(const char *root, layout_t **ret) {
        _cleanup_(layout_freep) layout_t *l = NULL;
        _cleanup_free_ char *p = NULL;
        int r, fd;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->root = strdup(root);
        if (!l->root)
                return -ENOMEM;
        r = file_mkdir_p(root, 0755);
        if (r < 0)
                return r;
        if ((r = path_join(&p, root, ".berth/tmp")) < 0 || (r = file_mkdir_p(p, 0700)) < 0)
                return r;
        free(p);
        if ((r = path_join(&p, root, "blobs/sha256")) < 0 || (r = file_mkdir_p(p, 0755)) < 0)
                return r;
        /* creating the skeleton races with other processes: do it under the state lock */
        r = layout_lock(l, LAYOUT_LOCK_STATE, true, &fd);
        if (r < 0)
                return r;
        r = ensure_file(root, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
        if (r >= 0)
                r = ensure_file(root, "index.json", "{\"schemaVersion\":2,\"manifests\":[]}");
        close(fd);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

int layout_lock(layout_t *l, layout_lock_t which, bool exclusive, int *ret_fd) {
        _cleanup_free_ char *p = NULL;
        int fd, r;

        r = layout_state_path(l, which == LAYOUT_LOCK_GC ? "gc.lock" : "state.lock", &p);
        if (r < 0)
                return r;
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
                if (errno == EINTR)
                        continue;
                r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

int layout_blob_path(layout_t *l, const digest_t *d, char **ret) {
        if (asprintf(ret, "%s/blobs/%s/%s", l->root, digest_alg_name(d->alg), digest_hex(d)) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

int layout_partial_path(layout_t *l, const digest_t *d, char **ret) {
        if (asprintf(ret, "%s/.berth/tmp/%s-%s.partial", l->root, digest_alg_name(d->alg), digest_hex(d)) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

int layout_blob_stat(layout_t *l, const digest_t *d, uint64_t *ret_size) {
        _cleanup_free_ char *p = NULL;
        struct stat st;
        int r = layout_blob_path(l, d, &p);

        if (r < 0)
                return r;
        if (stat(p, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (ret_size)
                *ret_size = (uint64_t) st.st_size;
        return 1;
}

static int ensure_alg_dir(layout_t *l, const digest_t *d) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/blobs/%s", l->root, digest_alg_name(d->alg)) < 0) {
                p = NULL;
                return -ENOMEM;
        }
        return file_mkdir_p(p, 0755);
}

int layout_blob_write(layout_t *l, const digest_t *d, const void *buf, size_t len) {
        _cleanup_free_ char *p = NULL;
        digest_t got;
        int r;

        r = digest_buf(d->alg, buf, len, &got);
        if (r < 0)
                return r;
        if (!digest_equal(&got, d))
                return BERTH_EDIGEST;
        if ((r = ensure_alg_dir(l, d)) < 0 || (r = layout_blob_path(l, d, &p)) < 0)
                return r;
        return file_write_atomic(p, buf, len, 0644);
}

int layout_blob_commit(layout_t *l, const digest_t *d, const char *verified_path) {
        _cleanup_free_ char *p = NULL;
        int r;

        if ((r = ensure_alg_dir(l, d)) < 0 || (r = layout_blob_path(l, d, &p)) < 0)
                return r;
        if (rename(verified_path, p) < 0)
                return -errno;
        return file_fsync_parent(p);
}

int layout_blob_read(layout_t *l, const digest_t *d, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *p = NULL;
        int r = layout_blob_path(l, d, &p);

        if (r < 0)
                return r;
        return file_read_all(p, max, ret, ret_len);
}

static int index_load(layout_t *l, json_t **ret) {
        _cleanup_free_ char *p = NULL, *buf = NULL;
        size_t len;
        json_t *j, *m;
        int r;

        if ((r = path_join(&p, l->root, "index.json")) < 0)
                return r;
        r = file_read_all(p, LAYOUT_INDEX_MAX, &buf, &len);
        if (r < 0)
                return r;
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return BERTH_EJSON;
        }
        m = json_object_get(j, "manifests");
        if (!m) {
                m = json_array();
                json_object_set_new(j, "manifests", m);
        }
        if (!json_is_array(m)) {
                json_decref(j);
                return BERTH_EJSON;
        }
        *ret = j;
        return 0;
}

static int index_save(layout_t *l, json_t *j) {
        _cleanup_free_ char *p = NULL;
        char *out;
        int r;

        if ((r = path_join(&p, l->root, "index.json")) < 0)
                return r;
        out = json_dumps(j, JSON_COMPACT);
        if (!out)
                return -ENOMEM;
        r = file_write_atomic(p, out, strlen(out), 0644);
        free(out);
        return r;
}

static const char *annot(json_t *e, const char *key) {
        json_t *v = json_object_get(json_object_get(e, "annotations"), key);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

static int entry_to_image(json_t *e, layout_image_t *ret) {
        const char *ref = annot(e, LAYOUT_ANNOT_REF), *res = annot(e, LAYOUT_ANNOT_RESOLVED),
                   *by = annot(e, LAYOUT_ANNOT_PULLED_BY);
        json_t *dg = json_object_get(e, "digest"), *mt = json_object_get(e, "mediaType"),
               *sz = json_object_get(e, "size");
        layout_image_t img = { 0 };

        if (!ref || !json_is_string(dg) || digest_parse(json_string_value(dg), &img.manifest) < 0)
                return BERTH_EJSON;
        img.ref = strdup(ref);
        img.media_type = strdup(json_is_string(mt) ? json_string_value(mt) : MT_OCI_MANIFEST);
        img.size = json_is_integer(sz) ? json_integer_value(sz) : -1;
        img.resolved = res ? strdup(res) : NULL;
        img.pulled_by = by ? strdup(by) : NULL;
        if (!img.ref || !img.media_type || (res && !img.resolved) || (by && !img.pulled_by)) {
                layout_image_done(&img);
                return -ENOMEM;
        }
        *ret = img;
        return 0;
}

void layout_image_done(layout_image_t *img) {
        free(img->ref);
        free(img->media_type);
        free(img->resolved);
        free(img->pulled_by);
        *img = (layout_image_t) { 0 };
}

void layout_image_list_free(layout_image_t *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                layout_image_done(&v[i]);
        free(v);
}

int layout_image_get(layout_t *l, const char *ref, layout_image_t *ret) {
        json_t *j = NULL, *e;
        size_t i;
        int r = index_load(l, &j);

        if (r < 0)
                return r;
        r = 0;
        json_array_foreach(json_object_get(j, "manifests"), i, e) {
                const char *n = annot(e, LAYOUT_ANNOT_REF);
                if (n && strcmp(n, ref) == 0) {
                        r = entry_to_image(e, ret);
                        if (r == 0)
                                r = 1;
                        break;
                }
        }
        json_decref(j);
        return r;
}

int layout_image_find_digest(layout_t *l, const char *name, const digest_t *d, layout_image_t *ret) {
        json_t *j = NULL, *e;
        size_t i, nlen = strlen(name);
        int r = index_load(l, &j);

        if (r < 0)
                return r;
        r = 0;
        json_array_foreach(json_object_get(j, "manifests"), i, e) {
                const char *n = annot(e, LAYOUT_ANNOT_REF), *res = annot(e, LAYOUT_ANNOT_RESOLVED);
                json_t *dg = json_object_get(e, "digest");
                if (!n || strncmp(n, name, nlen) != 0 || (n[nlen] != ':' && n[nlen] != '@'))
                        continue;
                if ((res && strcmp(res, d->str) == 0) ||
                    (json_is_string(dg) && strcmp(json_string_value(dg), d->str) == 0)) {
                        r = entry_to_image(e, ret);
                        if (r == 0)
                                r = 1;
                        break;
                }
        }
        json_decref(j);
        return r;
}

int layout_image_put(layout_t *l, const layout_image_t *img) {
        json_t *j = NULL, *m, *e, *ann;
        size_t i;
        int r = index_load(l, &j);

        if (r < 0)
                return r;
        m = json_object_get(j, "manifests");
        json_array_foreach(m, i, e) {
                const char *n = annot(e, LAYOUT_ANNOT_REF);
                if (n && strcmp(n, img->ref) == 0) {
                        json_array_remove(m, i);
                        break;
                }
        }
        ann = json_pack("{s:s}", LAYOUT_ANNOT_REF, img->ref);
        if (ann && img->resolved)
                json_object_set_new(ann, LAYOUT_ANNOT_RESOLVED, json_string(img->resolved));
        if (ann && img->pulled_by)
                json_object_set_new(ann, LAYOUT_ANNOT_PULLED_BY, json_string(img->pulled_by));
        e = ann ? json_pack("{s:s,s:s,s:I,s:o}", "mediaType", img->media_type, "digest", img->manifest.str,
                            "size", (json_int_t) img->size, "annotations", ann)
                : NULL;
        if (!e || json_array_append_new(m, e) < 0) {
                json_decref(j);
                return -ENOMEM;
        }
        r = index_save(l, j);
        json_decref(j);
        return r;
}

int layout_image_remove(layout_t *l, const char *ref) {
        json_t *j = NULL, *m, *e;
        size_t i;
        int r = index_load(l, &j), found = 0;

        if (r < 0)
                return r;
        m = json_object_get(j, "manifests");
        json_array_foreach(m, i, e) {
                const char *n = annot(e, LAYOUT_ANNOT_REF);
                if (n && strcmp(n, ref) == 0) {
                        json_array_remove(m, i);
                        found = 1;
                        break;
                }
        }
        r = found ? index_save(l, j) : 0;
        json_decref(j);
        return r < 0 ? r : found;
}

int layout_image_list(layout_t *l, layout_image_t **ret, size_t *ret_n) {
        json_t *j = NULL, *m, *e;
        layout_image_t *v;
        size_t i, n = 0;
        int r = index_load(l, &j);

        if (r < 0)
                return r;
        m = json_object_get(j, "manifests");
        v = calloc(json_array_size(m) + 1, sizeof(*v));
        if (!v) {
                json_decref(j);
                return -ENOMEM;
        }
        json_array_foreach(m, i, e) {
                if (!annot(e, LAYOUT_ANNOT_REF))
                        continue; /* entries without a name (other tools) are not ours to list */
                r = entry_to_image(e, &v[n]);
                if (r == -ENOMEM) {
                        layout_image_list_free(v, n);
                        json_decref(j);
                        return r;
                }
                if (r == 0)
                        n++;
        }
        json_decref(j);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- GC ---- */

typedef struct {
        char **v;
        size_t n, cap;
} strset_t;

static int strset_add(strset_t *s, const char *x) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->v[i], x) == 0)
                        return 0;
        if (s->n == s->cap) {
                size_t nc = s->cap ? s->cap * 2 : 64;
                char **nv = realloc(s->v, nc * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                s->v = nv;
                s->cap = nc;
        }
        s->v[s->n] = strdup(x);
        if (!s->v[s->n])
                return -ENOMEM;
        s->n++;
        return 0;
}

static bool strset_has(const strset_t *s, const char *x) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->v[i], x) == 0)
                        return true;
        return false;
}

static void strset_done(strset_t *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
}

/* mark a manifest (and, for an index, the children we hold) */
static int mark(layout_t *l, strset_t *live, const digest_t *d, int depth) {
        _cleanup_free_ char *buf = NULL;
        manifest_t *m = NULL;
        const char *detail;
        size_t len;
        int r;

        r = strset_add(live, d->str);
        if (r < 0 || depth > 4)
                return r;
        r = layout_blob_read(l, d, MANIFEST_MAX_SIZE, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (manifest_parse((const uint8_t *) buf, len, NULL, &m, &detail) < 0)
                return 0; /* not a manifest (or damaged): keep just this blob */
        for (size_t i = 0; i < manifest_desc_count(m) && r >= 0; i++) {
                const manifest_desc_t *x = manifest_desc(m, i);
                if (x->kind == MANIFEST_DESC_CHILD)
                        r = mark(l, live, &x->digest, depth + 1);
                else
                        r = strset_add(live, x->digest.str);
        }
        manifest_free(m);
        return r;
}

int layout_gc(layout_t *l, uint64_t *ret_freed_bytes, size_t *ret_freed_blobs) {
        static const char *const algs[] = { "sha256", "sha512" };
        strset_t live = { 0 };
        layout_image_t *imgs = NULL;
        size_t n = 0, freed = 0;
        uint64_t bytes = 0;
        int r;

        r = layout_image_list(l, &imgs, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                digest_t rd;
                r = mark(l, &live, &imgs[i].manifest, 0);
                if (r >= 0 && imgs[i].resolved && digest_parse(imgs[i].resolved, &rd) == 0)
                        r = strset_add(&live, rd.str);
        }
        layout_image_list_free(imgs, n);
        for (size_t a = 0; a < ELEMENTSOF(algs) && r >= 0; a++) {
                _cleanup_free_ char *dir = NULL;
                DIR *dp;
                struct dirent *de;

                if (asprintf(&dir, "%s/blobs/%s", l->root, algs[a]) < 0) {
                        dir = NULL;
                        r = -ENOMEM;
                        break;
                }
                dp = opendir(dir);
                if (!dp)
                        continue;
                while ((de = readdir(dp))) {
                        char name[DIGEST_STR_MAX + 8];
                        struct stat st;
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(name, sizeof(name), "%s:%.*s", algs[a], DIGEST_HEX_MAX, de->d_name);
                        if (strset_has(&live, name))
                                continue;
                        if (fstatat(dirfd(dp), de->d_name, &st, 0) == 0 && unlinkat(dirfd(dp), de->d_name, 0) == 0) {
                                bytes += (uint64_t) st.st_size;
                                freed++;
                        }
                }
                closedir(dp);
        }
        strset_done(&live);
        if (r < 0)
                return r;
        if (ret_freed_bytes)
                *ret_freed_bytes = bytes;
        if (ret_freed_blobs)
                *ret_freed_blobs = freed;
        return 0;
}

/* ---- keyed hash of credentials ---- */

static int load_key(layout_t *l, unsigned char key[32]) {
        _cleanup_free_ char *p = NULL, *tmp = NULL, *buf = NULL;
        size_t len = 0;
        int r, fd;

        if ((r = layout_state_path(l, "hmac.key", &p)) < 0)
                return r;
        r = file_read_all(p, 64, &buf, &len);
        if (r == 0 && len == 32) {
                memcpy(key, buf, 32);
                explicit_bzero(buf, len);
                return 0;
        }
        if (r != -ENOENT && r < 0)
                return r;
        /* first use: write a new key aside, then link it into place; whoever links first wins */
        if (getrandom(key, 32, 0) != 32)
                return -EIO;
        if (asprintf(&tmp, "%s.%ld", p, (long) getpid()) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, key, 32) != 32 || fsync(fd) < 0) {
                r = -EIO;
                close(fd);
                unlink(tmp);
                return r;
        }
        close(fd);
        r = link(tmp, p) < 0 ? -errno : 0;
        unlink(tmp);
        if (r == -EEXIST)
                return load_key(l, key);
        return r;
}

int layout_hmac(layout_t *l, const void *msg, size_t len, char ret_hex[65]) {
        unsigned char key[32], md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        int r = load_key(l, key);

        if (r < 0)
                return r;
        if (!HMAC(EVP_sha256(), key, sizeof(key), msg, len, md, &mdlen) || mdlen != 32) {
                explicit_bzero(key, sizeof(key));
                return BERTH_ECRYPTO;
        }
        explicit_bzero(key, sizeof(key));
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
        return 0;
}
