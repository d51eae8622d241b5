/* client/berth.c: the public API: plan (reference → policy → credentials → decision)
 * and pull (registry → verified blobs → store). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include "client/backoff.h"
#include "client/berth.h"
#include "client/dockercfg.h"
#include "client/keyring.h"
#include "client/layout.h"
#include "client/platform.h"
#include "client/policy.h"
#include "client/registry.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "common/ref.h"

#define MAX_DOWNLOADS 64
#define MAX_BLOBS 1024

typedef enum {
        VERIFY_NEVER_PRELOADED = 0,
        VERIFY_ALWAYS,
        VERIFY_NEVER,
        VERIFY_NEVER_ALLOWLISTED,
} verify_t;

struct berth_client {
        layout_t *layout;
        keyring_t *keyring;
        policy_t policy;
        bool always_pull, no_backoff, insecure;
        verify_t verify;
        char **allow;
        size_t nallow;
        platform_t platform;
        char *ca_file, *certs_dir;
        int max_dl;
        berth_progress_fn progress;
        void *progress_ud;
        pthread_mutex_t progress_lock;
        berth_log_fn log;
        void *log_ud;
        pthread_mutex_t log_lock;
        uint64_t requests;
        char msg[1024];
};

static void say(berth_client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(berth_client_t *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
        va_end(ap);
}

const char *berth_status_name(int s) {
        switch (s) {
        case BERTH_OK: return "";
        case BERTH_STATUS_ERR_IMAGE_PULL: return "ErrImagePull";
        case BERTH_STATUS_ERR_IMAGE_NEVER_PULL: return "ErrImageNeverPull";
        case BERTH_STATUS_IMAGE_PULL_BACKOFF: return "ImagePullBackOff";
        case BERTH_STATUS_INVALID_IMAGE_NAME: return "InvalidImageName";
        case BERTH_STATUS_REGISTRY_UNAVAILABLE: return "RegistryUnavailable";
        case BERTH_STATUS_USAGE: return "Usage";
        default: return "Error";
        }
}

static int reason_status(policy_reason_t r) {
        switch (r) {
        case REASON_NONE: return BERTH_OK;
        case REASON_ERR_IMAGE_PULL: return BERTH_STATUS_ERR_IMAGE_PULL;
        case REASON_ERR_IMAGE_NEVER_PULL: return BERTH_STATUS_ERR_IMAGE_NEVER_PULL;
        case REASON_IMAGE_PULL_BACKOFF: return BERTH_STATUS_IMAGE_PULL_BACKOFF;
        case REASON_INVALID_IMAGE_NAME: return BERTH_STATUS_INVALID_IMAGE_NAME;
        case REASON_REGISTRY_UNAVAILABLE: return BERTH_STATUS_REGISTRY_UNAVAILABLE;
        }
        return BERTH_STATUS_ERROR;
}

int berth_client_new(const char *store, berth_client_t **ret) {
        berth_client_t *c;
        int r;

        if (!store || !ret)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->progress_lock, NULL);
        pthread_mutex_init(&c->log_lock, NULL);
        c->max_dl = 3;
        platform_default(&c->platform);
        curl_global_init(CURL_GLOBAL_DEFAULT); /* reference-counted; undone in berth_client_free */
        r = keyring_new(&c->keyring);
        if (r == 0)
                r = layout_open(store, &c->layout);
        if (r < 0) {
                berth_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

berth_client_t *berth_client_free(berth_client_t *c) {
        if (!c)
                return NULL;
        layout_free(c->layout);
        keyring_free(c->keyring);
        for (size_t i = 0; i < c->nallow; i++)
                free(c->allow[i]);
        free(c->allow);
        free(c->ca_file);
        free(c->certs_dir);
        pthread_mutex_destroy(&c->progress_lock);
        pthread_mutex_destroy(&c->log_lock);
        free(c);
        curl_global_cleanup();
        return NULL;
}

const char *berth_client_message(const berth_client_t *c) { return c->msg; }
uint64_t berth_client_request_count(const berth_client_t *c) { return c->requests; }

static int add_cfg_file(berth_client_t *c, const char *path, keyring_source_t src, bool missing_ok) {
        dockercfg_t *cfg = NULL;
        const char *detail = NULL;
        int r = dockercfg_load(path, &cfg, &detail);

        if (r == -ENOENT && missing_ok)
                return 0;
        if (r < 0) {
                say(c, "%s: %s", path, detail && r == BERTH_ECONFIG ? detail : berth_strerror(r));
                return r;
        }
        r = keyring_add(c->keyring, src, cfg);
        dockercfg_free(cfg);
        return r;
}

int berth_client_add_pull_secret(berth_client_t *c, const char *path) {
        return add_cfg_file(c, path, KEYRING_POD, false);
}

int berth_client_set_docker_config(berth_client_t *c, const char *dir) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/config.json", dir) < 0) {
                p = NULL;
                return -ENOMEM;
        }
        return add_cfg_file(c, p, KEYRING_NODE, true);
}

int berth_client_set_policy(berth_client_t *c, const char *p) {
        if (!p || !p[0]) {
                c->policy = POLICY_UNSET;
                return 0;
        }
        if (policy_parse(p, &c->policy) < 0) {
                say(c, "invalid pull policy \"%s\" (Always, IfNotPresent or Never)", p);
                return -EINVAL;
        }
        return 0;
}

void berth_client_set_always_pull_images(berth_client_t *c, bool on) { c->always_pull = on; }
void berth_client_set_no_backoff(berth_client_t *c, bool on) { c->no_backoff = on; }
void berth_client_set_insecure(berth_client_t *c, bool on) { c->insecure = on; }

int berth_client_set_verify_policy(berth_client_t *c, const char *p) {
        if (strcmp(p, "NeverVerifyPreloadedImages") == 0)
                c->verify = VERIFY_NEVER_PRELOADED;
        else if (strcmp(p, "AlwaysVerify") == 0)
                c->verify = VERIFY_ALWAYS;
        else if (strcmp(p, "NeverVerify") == 0)
                c->verify = VERIFY_NEVER;
        else if (strcmp(p, "NeverVerifyAllowlistedImages") == 0)
                c->verify = VERIFY_NEVER_ALLOWLISTED;
        else {
                say(c, "invalid credential verification policy \"%s\"", p);
                return -EINVAL;
        }
        return 0;
}

int berth_client_add_verify_allowlist(berth_client_t *c, const char *pattern) {
        char **nv;

        if (!pattern || !pattern[0] || strlen(pattern) > 512)
                return -EINVAL;
        nv = realloc(c->allow, (c->nallow + 1) * sizeof(*nv));
        if (!nv)
                return -ENOMEM;
        c->allow = nv;
        c->allow[c->nallow] = strdup(pattern);
        if (!c->allow[c->nallow])
                return -ENOMEM;
        c->nallow++;
        return 0;
}

int berth_client_set_platform(berth_client_t *c, const char *p) {
        if (platform_parse(p, &c->platform) < 0) {
                say(c, "invalid platform \"%s\" (os/arch[/variant])", p);
                return -EINVAL;
        }
        return 0;
}

static int set_str(char **dst, const char *v) {
        char *n = v ? strdup(v) : NULL;
        if (v && !n)
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

int berth_client_set_ca_file(berth_client_t *c, const char *p) { return set_str(&c->ca_file, p); }
int berth_client_set_certs_dir(berth_client_t *c, const char *p) { return set_str(&c->certs_dir, p); }

int berth_client_set_max_concurrent_downloads(berth_client_t *c, int n) {
        if (n < 1 || n > MAX_DOWNLOADS)
                return -EINVAL;
        c->max_dl = n;
        return 0;
}

void berth_client_set_log(berth_client_t *c, berth_log_fn fn, void *ud) {
        c->log = fn;
        c->log_ud = ud;
}

/* registry_opts_t.log: one line at a time to the caller's function */
static void registry_log(void *ud, const char *line) {
        berth_client_t *c = ud;

        pthread_mutex_lock(&c->log_lock);
        c->log(line, c->log_ud);
        pthread_mutex_unlock(&c->log_lock);
}

void berth_client_set_progress(berth_client_t *c, berth_progress_fn fn, void *ud) {
        c->progress = fn;
        c->progress_ud = ud;
}

/* ---- the plan ---- */

typedef struct {
        const char *input;
        ref_t *ref;
        const char *ref_detail;
        policy_t policy;
        bool present;
        layout_image_t img;
        bool needs_verify, in_backoff;
        int64_t backoff_left;
        keyring_cred_t *creds;
        size_t ncreds;
        char (*cred_ids)[65];
        policy_action_t action;
        policy_reason_t reason;
} plan_t;

static void plan_done(plan_t *p) {
        ref_free(p->ref);
        layout_image_done(&p->img);
        free(p->creds);
        free(p->cred_ids);
}

static int cred_id(berth_client_t *c, const ref_t *ref, const keyring_cred_t *k, char out[65]) {
        _cleanup_free_ char *msg = NULL;
        int n = asprintf(&msg, "%s%c%s%c%s", ref_domain(ref), 0, k->username, 0, k->password);
        int r;

        if (n < 0) {
                msg = NULL;
                return -ENOMEM;
        }
        r = layout_hmac(c->layout, msg, (size_t) n, out);
        explicit_bzero(msg, (size_t) n);
        return r;
}

static bool word_in(const char *list, const char *w) {
        size_t n = strlen(w);
        for (const char *p = list; p && (p = strstr(p, w)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

static bool allowlisted(const berth_client_t *c, const ref_t *ref) {
        const char *name = ref_name(ref);
        for (size_t i = 0; i < c->nallow; i++) {
                const char *a = c->allow[i];
                size_t n = strlen(a);
                if (n >= 2 && strcmp(a + n - 2, "/*") == 0) {
                        if (strncmp(name, a, n - 1) == 0)
                                return true;
                } else if (strcmp(name, a) == 0)
                        return true;
        }
        return false;
}

static bool needs_verification(berth_client_t *c, plan_t *p) {
        const char *by = p->img.pulled_by;

        if (c->verify == VERIFY_NEVER)
                return false;
        if (c->verify == VERIFY_NEVER_ALLOWLISTED && allowlisted(c, p->ref))
                return false;
        if (!by) /* preloaded: not pulled by berth */
                return c->verify != VERIFY_NEVER_PRELOADED;
        if (word_in(by, "anonymous"))
                return false; /* anyone could pull it */
        for (size_t i = 0; i < p->ncreds; i++)
                if (word_in(by, p->cred_ids[i]))
                        return false;
        return true;
}

static int make_plan(berth_client_t *c, const char *image, plan_t *p) {
        _cleanup_free_ char *bpath = NULL;
        backoff_entry_t be;
        policy_input_t in;
        int r;

        memset(p, 0, sizeof(*p));
        p->input = image;
        r = ref_parse(image, &p->ref, &p->ref_detail);
        if (r == BERTH_EREF_INVALID) {
                p->action = ACTION_ERROR;
                p->reason = REASON_INVALID_IMAGE_NAME;
                p->policy = c->always_pull ? POLICY_ALWAYS : c->policy;
                say(c, "InvalidImageName: Failed to apply default image tag \"%s\": couldn't parse image name \"%s\": %s",
                    image, image, p->ref_detail ? p->ref_detail : "invalid reference format");
                return 0;
        }
        if (r < 0)
                return r;
        p->policy = policy_effective(c->policy, ref_effective_tag(p->ref), c->always_pull);
        r = layout_image_get(c->layout, ref_full(p->ref), &p->img);
        if (r == 0 && ref_digest(p->ref))
                r = layout_image_find_digest(c->layout, ref_name(p->ref), ref_digest(p->ref), &p->img);
        if (r < 0)
                return r;
        if (r == 1) {
                uint64_t sz;
                p->present = layout_blob_stat(c->layout, &p->img.manifest, &sz) == 1;
        }
        r = keyring_lookup(c->keyring, ref_name(p->ref), &p->creds, &p->ncreds);
        if (r < 0)
                return r;
        p->cred_ids = calloc(p->ncreds + 1, sizeof(*p->cred_ids));
        if (!p->cred_ids)
                return -ENOMEM;
        for (size_t i = 0; i < p->ncreds; i++)
                if ((r = cred_id(c, p->ref, &p->creds[i], p->cred_ids[i])) < 0)
                        return r;
        if (p->present)
                p->needs_verify = needs_verification(c, p);
        if ((r = layout_state_path(c->layout, "backoff.json", &bpath)) < 0)
                return r;
        if ((r = backoff_file_get(bpath, ref_full(p->ref), &be)) < 0)
                return r;
        p->in_backoff = !c->no_backoff && backoff_active(&be, (int64_t) time(NULL), &p->backoff_left);
        in = (policy_input_t) { p->policy, p->present, p->needs_verify, p->in_backoff };
        p->action = policy_decide(&in, &p->reason);
        switch (p->reason) {
        case REASON_ERR_IMAGE_NEVER_PULL:
                if (p->present)
                        say(c, "ErrImageNeverPull: Container image \"%s\" is present with pull policy of Never but does not have the proper auth to access it",
                            ref_full(p->ref));
                else
                        say(c, "ErrImageNeverPull: Container image \"%s\" is not present with pull policy of Never",
                            ref_full(p->ref));
                break;
        case REASON_IMAGE_PULL_BACKOFF:
                say(c, "ImagePullBackOff: Back-off pulling image \"%s\" (%llds left; --no-backoff to try now)",
                    ref_full(p->ref), (long long) p->backoff_left);
                break;
        default:
                if (p->action == ACTION_USE_LOCAL)
                        say(c, "Container image \"%s\" already present on machine", ref_full(p->ref));
                else
                        say(c, "would pull \"%s\"", ref_full(p->ref));
        }
        return 0;
}

int berth_plan(berth_client_t *c, const char *image, char **ret_json) {
        plan_t p;
        json_t *o, *creds;
        int r = make_plan(c, image, &p), st;

        if (r < 0) {
                say(c, "%s", berth_strerror(r));
                plan_done(&p);
                return BERTH_STATUS_ERROR;
        }
        creds = json_array();
        for (size_t i = 0; creds && i < p.ncreds; i++)
                json_array_append_new(creds, json_pack("{s:s,s:s,s:s}", "registry", p.creds[i].key, "username",
                                                       p.creds[i].username, "source",
                                                       p.creds[i].source == KEYRING_POD ? "pull-secret" : "node"));
        o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:o}",
                      "reference", p.ref ? ref_full(p.ref) : image,
                      "domain", p.ref ? ref_domain(p.ref) : "",
                      "path", p.ref ? ref_path(p.ref) : "",
                      "tag", p.ref ? ref_tag(p.ref) : "",
                      "digest", p.ref ? ref_digest_str(p.ref) : "",
                      "policy", policy_name(p.policy),
                      "present", p.present,
                      "action", p.action == ACTION_VERIFY ? "pull" : policy_action_name(p.action),
                      "reason", policy_reason_name(p.reason),
                      "credentials", creds);
        st = p.action == ACTION_ERROR ? reason_status(p.reason) : BERTH_OK;
        plan_done(&p);
        if (!o)
                return BERTH_STATUS_ERROR;
        *ret_json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return *ret_json ? st : BERTH_STATUS_ERROR;
}

/* ---- downloading ---- */

typedef struct {
        const manifest_desc_t *d;
        size_t index;
        berth_progress_state_t state;
        int err;
} job_t;

typedef struct {
        berth_client_t *c;
        registry_t *reg;
        const char *repo;
        const registry_cred_t *cred;
        job_t *jobs;
        size_t njobs;
        atomic_size_t next;
        atomic_int failed;
} pool_t;

typedef struct {
        pool_t *pool;
        job_t *job;
} progress_ctx_t;

static void report(pool_t *pl, job_t *j, uint64_t done, uint64_t total) {
        berth_client_t *c = pl->c;
        berth_progress_t p = { j->index, pl->njobs, j->d->digest.str, done, total, j->state };

        if (!c->progress)
                return;
        pthread_mutex_lock(&c->progress_lock);
        c->progress(&p, c->progress_ud);
        pthread_mutex_unlock(&c->progress_lock);
}

static void on_progress(void *ud, uint64_t done, uint64_t total) {
        progress_ctx_t *x = ud;
        report(x->pool, x->job, done, total);
}

static int fetch_blob(pool_t *pl, job_t *j) {
        berth_client_t *c = pl->c;
        const digest_t *d = &j->d->digest;
        uint64_t size = (uint64_t) j->d->size, have_size = 0;
        _cleanup_free_ char *partial = NULL;
        _cleanup_close_ int fd = -1;
        progress_ctx_t px = { pl, j };
        struct stat st;
        int r;

        if (layout_blob_stat(c->layout, d, &have_size) == 1 && have_size == size) {
                j->state = BERTH_PROGRESS_EXISTS;
                report(pl, j, size, size);
                return 0;
        }
        if ((r = layout_partial_path(c->layout, d, &partial)) < 0)
                return r;
        for (int attempt = 0;; attempt++) {
                fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -errno;
                /* one downloader per blob across processes; the others wait and then find it */
                while (flock(fd, LOCK_EX) < 0)
                        if (errno != EINTR)
                                return -errno;
                /* the holder before us renamed or removed the file: open the path again */
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (st.st_nlink > 0 || attempt >= 3)
                        break;
                close(fd);
                fd = -1;
        }
        if (layout_blob_stat(c->layout, d, &have_size) == 1 && have_size == size) {
                if (fstat(fd, &st) == 0 && st.st_size == 0 && st.st_nlink > 0)
                        (void) unlink(partial);
                j->state = BERTH_PROGRESS_EXISTS;
                report(pl, j, size, size);
                return 0;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        j->state = BERTH_PROGRESS_DOWNLOADING;
        report(pl, j, (uint64_t) st.st_size, size);
        r = registry_get_blob(pl->reg, pl->repo, d, size, pl->cred, fd, (uint64_t) st.st_size, on_progress, &px);
        if (r == BERTH_EDIGEST || r == BERTH_ETOOBIG) {
                (void) unlink(partial); /* nothing unverified is kept */
                return r;
        }
        if (r < 0)
                return r; /* the partial file stays for a resume */
        if (fsync(fd) < 0)
                return -errno;
        r = layout_blob_commit(c->layout, d, partial);
        if (r < 0)
                return r;
        j->state = BERTH_PROGRESS_DONE;
        report(pl, j, size, size);
        return 0;
}

static void *worker(void *arg) {
        pool_t *pl = arg;

        for (;;) {
                size_t i = atomic_fetch_add(&pl->next, 1);
                job_t *j;
                if (i >= pl->njobs || atomic_load(&pl->failed))
                        break;
                j = &pl->jobs[i];
                j->err = fetch_blob(pl, j);
                if (j->err < 0) {
                        j->state = BERTH_PROGRESS_FAILED;
                        report(pl, j, 0, (uint64_t) j->d->size);
                        atomic_store(&pl->failed, 1);
                }
        }
        return NULL;
}

static int fetch_blobs(berth_client_t *c, registry_t *reg, const char *repo, const registry_cred_t *cred,
                       const manifest_t *m) {
        pool_t pl = { .c = c, .reg = reg, .repo = repo, .cred = cred };
        pthread_t th[MAX_DOWNLOADS];
        size_t nth, started = 0;
        int r = 0;

        pl.njobs = manifest_desc_count(m);
        if (pl.njobs > MAX_BLOBS)
                return BERTH_ETOOBIG;
        pl.jobs = calloc(pl.njobs + 1, sizeof(*pl.jobs));
        if (!pl.jobs)
                return -ENOMEM;
        for (size_t i = 0; i < pl.njobs; i++) {
                pl.jobs[i].d = manifest_desc(m, i);
                pl.jobs[i].index = i;
                if (pl.jobs[i].d->size < 0) {
                        free(pl.jobs);
                        return BERTH_EMANIFEST;
                }
                report(&pl, &pl.jobs[i], 0, (uint64_t) pl.jobs[i].d->size);
        }
        nth = (size_t) c->max_dl < pl.njobs ? (size_t) c->max_dl : pl.njobs;
        for (; started < nth; started++)
                if (pthread_create(&th[started], NULL, worker, &pl) != 0)
                        break;
        if (started == 0)
                worker(&pl);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        for (size_t i = 0; i < pl.njobs && r == 0; i++)
                if (pl.jobs[i].err < 0)
                        r = pl.jobs[i].err;
        free(pl.jobs);
        return r;
}

static const char *cred_user(const registry_cred_t *cr) {
        return cr->username ? cr->username : "anonymous";
}

/* what the pulled_by annotation becomes */
static char *merge_pulled_by(const char *old, const char *id) {
        char *out;
        if (old && word_in(old, id))
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
                        say(c, "no matching manifest for %s in the manifest list entries", want);
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
                r = fetch_blobs(c, reg, ref_path(p->ref), cred, img);
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
        return r == BERTH_EAUTH || r == BERTH_EDENIED || r == REGISTRY_ENOTFOUND;
}

static const char *pull_error_text(int r) {
        switch (r) {
        case REGISTRY_EUNAVAILABLE: return "registry unavailable (connection, TLS or server error)";
        case REGISTRY_ENOTFOUND: return "not found (manifest unknown, or no access)";
        case BERTH_EAUTH: return "authentication failed (no or wrong credentials)";
        case BERTH_EDENIED: return "access denied";
        case BERTH_EDIGEST: return "content does not match its digest or size";
        default: return berth_strerror(r);
        }
}

static int do_pull(berth_client_t *c, plan_t *p, char **ret_digest) {
        registry_opts_t o = { .insecure = c->insecure, .ca_file = c->ca_file, .certs_dir = c->certs_dir,
                              .user_agent = "berth/" PACKAGE_VERSION,
                              .log = c->log ? registry_log : NULL, .log_ud = c };
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
        status = r == 0 ? BERTH_OK : r == REGISTRY_EUNAVAILABLE ? BERTH_STATUS_REGISTRY_UNAVAILABLE
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
                        say(c, "Image \"%s\" is up to date (%s)", ref_full(p->ref), digest ? digest : "");
                else
                        say(c, "Successfully pulled image \"%s\" in %.3fs. Image size: %llu bytes.", ref_full(p->ref),
                            s, (unsigned long long) bytes);
                if (ret_digest)
                        *ret_digest = TAKE_PTR(digest);
        } else if (!c->msg[0] || r != BERTH_EUNSUPPORTED) {
                say(c, "%s: Failed to pull image \"%s\": %s (as %s)", berth_status_name(status), ref_full(p->ref),
                    pull_error_text(r), user);
        } else {
                char tmp[sizeof(c->msg)];
                snprintf(tmp, sizeof(tmp), "%s", c->msg);
                say(c, "ErrImagePull: Failed to pull image \"%s\": %s", ref_full(p->ref), tmp);
        }
        free(digest);
        return status;
}

int berth_pull(berth_client_t *c, const char *image, char **ret_digest) {
        plan_t p;
        int r = make_plan(c, image, &p), st;

        if (r < 0) {
                say(c, "%s", berth_strerror(r));
                plan_done(&p);
                return BERTH_STATUS_ERROR;
        }
        switch (p.action) {
        case ACTION_ERROR:
                st = reason_status(p.reason);
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
        plan_done(&p);
        return st;
}

/* ---- images / rmi ---- */

int berth_images(berth_client_t *c, char **ret_json) {
        layout_image_t *v = NULL;
        size_t n = 0;
        json_t *a;
        int r = layout_image_list(c->layout, &v, &n);

        if (r < 0) {
                say(c, "%s", berth_strerror(r));
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
                                                   : word_in(v[i].pulled_by, "anonymous") ? "anonymous"
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
                say(c, "InvalidImageName: couldn't parse image name \"%s\": %s", image, detail ? detail : berth_strerror(r));
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
                say(c, "no such image: %s", ref_full(ref));
        else if (r < 0)
                say(c, "%s", berth_strerror(r));
        else
                say(c, "Untagged: %s (freed %zu blobs, %llu bytes)", ref_full(ref), nblobs, (unsigned long long) freed);
        ref_free(ref);
        return r < 0 ? BERTH_STATUS_ERROR : BERTH_OK;
}
