/* client/pull.c: the pull engine (berth_pull): the manifest (a platform's manifest
 * from an index), its blobs through the download pool, the image entry in the store;
 * each credential in turn; back-off bookkeeping and the result message. */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "client/backoff.h"
#include "client/berth.h"
#include "client/layout.h"
#include "client/platform.h"
#include "client/policy.h"
#include "client/pull-internal.h"
#include "client/registry.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "common/ref.h"

static const char *cred_user(const registry_cred_t *cr) {
        return cr->username ? cr->username : "anonymous";
}

/* what the pulled_by annotation becomes */
static char *merge_pulled_by(const char *old, const char *id) {
        char *out;
        if (old && pull_word_in(old, id))
                return strdup(old);
        if (!old || !old[0])
                return strdup(id);
        if (strlen(old) > 64 * 66)
                return strdup(id); /* keep it bounded: start over */
        if (asprintf(&out, "%s %s", old, id) < 0)
                return NULL;
        return out;
}

static int record_entry(berth_client_t *c, plan_t *p, const digest_t *mdig, const char *mt, size_t msize,
                        const digest_t *resolved, const char *id) {
        layout_image_t cur = { 0 }, img = { 0 };
        int fd, r;

        r = layout_lock(c->layout, LAYOUT_LOCK_STATE, true, &fd);
        if (r < 0)
                return r;
        r = layout_image_get(c->layout, ref_full(p->ref), &cur);
        if (r >= 0) {
                bool same_image = r == 1 && digest_equal(&cur.manifest, mdig);
                img.ref = (char *) ref_full(p->ref);
                img.manifest = *mdig;
                img.media_type = (char *) mt;
                img.size = (int64_t) msize;
                img.resolved = (char *) resolved->str;
                img.pulled_by = merge_pulled_by(same_image ? cur.pulled_by : NULL, id);
                r = img.pulled_by ? layout_image_put(c->layout, &img) : -ENOMEM;
                free(img.pulled_by);
        }
        layout_image_done(&cur);
        close(fd);
        return r;
}

/* one attempt with one credential */
static int pull_with(berth_client_t *c, plan_t *p, registry_t *reg, const registry_cred_t *cred, const char *id,
                     char **ret_digest, bool *ret_unchanged, uint64_t *ret_bytes) {
        _cleanup_free_ char *buf = NULL, *mt = NULL, *cbuf = NULL, *cmt = NULL;
        manifest_t *m = NULL, *child = NULL;
        const manifest_t *img;
        const char *detail = NULL;
        digest_t top, mdig;
        size_t len = 0, clen = 0;
        const char *img_buf;
        size_t img_len;
        int r;

        r = registry_get_manifest(reg, ref_path(p->ref), ref_manifest_ref(p->ref), cred, &buf, &len, &mt, &top);
        if (r < 0)
                return r;
        /* Always / verify: the tag resolves to what we hold already → nothing to fetch */
        if (p->present && ((p->img.resolved && strcmp(p->img.resolved, top.str) == 0) ||
                           digest_equal(&p->img.manifest, &top))) {
                r = record_entry(c, p, &p->img.manifest, p->img.media_type, (size_t) p->img.size, &top, id);
                if (r == 0) {
                        *ret_unchanged = true;
                        *ret_digest = strdup(p->img.manifest.str);
                }
                return r;
        }
        r = manifest_parse((const uint8_t *) buf, len, mt, &m, &detail);
        if (r < 0)
                return r;
        img = m;
        img_buf = buf;
        img_len = len;
        mdig = top;
        if (manifest_is_index(m)) {
                const manifest_desc_t *best = NULL;
                int best_rank = -1;
                char want[96];
                for (size_t i = 0; i < manifest_desc_count(m); i++) {
                        const manifest_desc_t *d = manifest_desc(m, i);
                        int rk = platform_rank(&c->platform, d->os, d->arch, d->variant);
                        if (rk >= 0 && (best_rank < 0 || rk < best_rank)) {
                                best = d;
                                best_rank = rk;
                        }
                }
                if (!best) {
                        platform_format(&c->platform, want, sizeof(want));
                        pull_say(c, "no matching manifest for %s in the manifest list entries", want);
                        manifest_free(m);
                        return BERTH_EUNSUPPORTED;
                }
                r = registry_get_manifest(reg, ref_path(p->ref), best->digest.str, cred, &cbuf, &clen, &cmt, &mdig);
                if (r == 0 && (int64_t) clen != best->size)
                        r = BERTH_EDIGEST;
                if (r == 0)
                        r = manifest_parse((const uint8_t *) cbuf, clen, cmt, &child, &detail);
                if (r == 0 && manifest_is_index(child))
                        r = BERTH_EUNSUPPORTED; /* nested indexes: not followed */
                if (r < 0) {
                        manifest_free(m);
                        manifest_free(child);
                        return r;
                }
                img = child;
                img_buf = cbuf;
                img_len = clen;
                r = layout_blob_write(c->layout, &top, buf, len);
        }
        if (r == 0)
                r = pull_fetch_blobs(c, reg, ref_path(p->ref), cred, img);
        if (r == 0)
                r = layout_blob_write(c->layout, &mdig, img_buf, img_len);
        if (r == 0) {
                *ret_bytes = img_len;
                for (size_t i = 0; i < manifest_desc_count(img); i++)
                        *ret_bytes += (uint64_t) manifest_desc(img, i)->size;
                r = record_entry(c, p, &mdig, manifest_media_type(img), img_len, &top, id);
        }
        if (r == 0) {
                *ret_digest = strdup(mdig.str);
                *ret_unchanged = false;
        }
        manifest_free(child);
        manifest_free(m);
        return r;
}

static bool try_next_cred(int r) {
        return r == BERTH_EAUTH || r == BERTH_EDENIED || r == BERTH_ENOTFOUND;
}

static const char *pull_error_text(int r) {
        switch (r) {
        case BERTH_EUNAVAILABLE: return "registry unavailable (connection, TLS or server error)";
        case BERTH_ENOTFOUND: return "not found (manifest unknown, or no access)";
        case BERTH_EAUTH: return "authentication failed (no or wrong credentials)";
        case BERTH_EDENIED: return "access denied";
        case BERTH_EDIGEST: return "content does not match its digest or size";
        default: return berth_strerror(r);
        }
}

static int do_pull(berth_client_t *c, plan_t *p, char **ret_digest) {
        registry_opts_t o = { .insecure = c->insecure, .ca_file = c->ca_file, .certs_dir = c->certs_dir,
                              .user_agent = "berth/" PACKAGE_VERSION };
        _cleanup_free_ char *bpath = NULL;
        registry_t *reg = NULL;
        struct timespec t0, t1;
        int gcfd = -1, stfd, r, status;
        bool unchanged = false;
        uint64_t bytes = 0;
        char *digest = NULL;
        const char *user = "anonymous";

        clock_gettime(CLOCK_MONOTONIC, &t0);
        c->msg[0] = '\0';
        if (p->ncreds > 0)
                user = p->creds[0].username;
        r = layout_lock(c->layout, LAYOUT_LOCK_GC, false, &gcfd);
        if (r < 0)
                goto out;
        r = registry_new(ref_domain(p->ref), &o, &reg);
        if (r < 0)
                goto out;
        r = registry_ping(reg);
        if (r < 0)
                goto out;
        if (p->ncreds == 0) {
                registry_cred_t anon = { NULL, NULL };
                r = pull_with(c, p, reg, &anon, "anonymous", &digest, &unchanged, &bytes);
        } else {
                for (size_t i = 0; i < p->ncreds; i++) {
                        registry_cred_t cr = { p->creds[i].username, p->creds[i].password };
                        r = pull_with(c, p, reg, &cr, p->cred_ids[i], &digest, &unchanged, &bytes);
                        user = cred_user(&cr);
                        if (r == 0 || !try_next_cred(r))
                                break;
                }
        }
out:
        if (reg) {
                c->requests += registry_request_count(reg);
                registry_free(reg);
        }
        if (gcfd >= 0)
                close(gcfd);
        status = r == 0 ? BERTH_OK : r == BERTH_EUNAVAILABLE ? BERTH_STATUS_REGISTRY_UNAVAILABLE
                                                                : BERTH_STATUS_ERR_IMAGE_PULL;
        /* back-off bookkeeping: failures count, a success forgets */
        if (layout_state_path(c->layout, "backoff.json", &bpath) == 0 &&
            layout_lock(c->layout, LAYOUT_LOCK_STATE, true, &stfd) == 0) {
                (void) backoff_file_update(bpath, ref_full(p->ref), r != 0, (int64_t) time(NULL));
                close(stfd);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r == 0) {
                double s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
                if (unchanged)
                        pull_say(c, "Image \"%s\" is up to date (%s)", ref_full(p->ref), digest ? digest : "");
                else
                        pull_say(c, "Successfully pulled image \"%s\" in %.3fs. Image size: %llu bytes.", ref_full(p->ref),
                            s, (unsigned long long) bytes);
                if (ret_digest)
                        *ret_digest = TAKE_PTR(digest);
        } else if (!c->msg[0] || r != BERTH_EUNSUPPORTED) {
                pull_say(c, "%s: Failed to pull image \"%s\": %s (as %s)", berth_status_name(status), ref_full(p->ref),
                    pull_error_text(r), user);
        } else {
                char tmp[sizeof(c->msg)];
                snprintf(tmp, sizeof(tmp), "%s", c->msg);
                pull_say(c, "ErrImagePull: Failed to pull image \"%s\": %s", ref_full(p->ref), tmp);
        }
        free(digest);
        return status;
}

int berth_pull(berth_client_t *c, const char *image, char **ret_digest) {
        plan_t p;
        int r = pull_plan_make(c, image, &p), st;

        if (r < 0) {
                pull_say(c, "%s", berth_strerror(r));
                pull_plan_done(&p);
                return BERTH_STATUS_ERROR;
        }
        switch (p.action) {
        case ACTION_ERROR:
                st = pull_reason_status(p.reason);
                break;
        case ACTION_USE_LOCAL:
                if (ret_digest)
                        *ret_digest = strdup(p.img.manifest.str);
                st = BERTH_OK;
                break;
        default:
                st = do_pull(c, &p, ret_digest);
                break;
        }
        pull_plan_done(&p);
        return st;
}
