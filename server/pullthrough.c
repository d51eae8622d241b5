/* server/pullthrough.c: the pull-through cache (server/pullthrough.h).
 *
 * Proxy projects are read from the database at most every RELOAD_SECONDS into a
 * list of upstreams (one registry_t each, kept while the record is unchanged, so
 * its connections and tokens live on). A request that needs the upstream is
 * suspended and joins the flight for its repository and reference; the flight's
 * job runs on one of the cache's threads and resumes every waiter at its end,
 * with an error or with the content now in the store.
 *
 * A blob streams: once its first bytes arrive, the waiters (GETs without Range)
 * are resumed with a blob_stream_t and answered at once, with the length the
 * upstream announced or, when it announced none, without one; each reads the
 * scratch file as the fetch fills it. A reader that catches up suspends its
 * connection and is resumed by the fetch when more bytes arrive (no worker thread
 * waits). The last byte (when the length is unknown: the last received so far) is
 * held back until the whole blob matched its digest: a mismatch ends every stream
 * with an error (a short body), and nothing is kept. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "config.h"
#include "client/registry.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "common/name.h"
#include "common/secretbox.h"
#include "server/pullthrough.h"
#include "storage/proxycache.h"
#include "storage/registry.h"
#include "storage/retention.h"
#include "storage/usage.h"

#define RELOAD_SECONDS 2
#define WORKERS 6
#define BLOB_WORKERS 4      /* at most this many fetch blobs: manifests always find a thread */
#define QUEUE_MAX 512       /* flights waiting for a thread; more: 503 */
#define STALE_LOGGED_MAX 1024

enum { RES_HIT, RES_MISS, RES_REVALIDATED, RES_STALE, RES_ERROR, _RES_MAX };
static const char *const RES_NAMES[_RES_MAX] = { "hit", "miss", "revalidated", "stale", "error" };

typedef struct upstream {
        proxycache_conf_t conf;
        registry_t *reg;
        char *password;          /* unsealed; NULL: none */
        int broken;              /* <0: why every fetch fails (no key, CA unreadable) */
        bool current;            /* the record as the database has it now */
        atomic_uint_fast64_t n[_RES_MAX], bytes;
        struct upstream *next;
} upstream_t;

typedef enum { JOB_MANIFEST, JOB_BLOB, JOB_TAGS } job_kind_t;

/* A blob being fetched, read by its streams (shared: freed with its last holder). */
typedef struct blob_stream {
        pthread_mutex_t lock;
        unsigned refs;
        int fd;                  /* the scratch file (its own descriptor: a rename or unlink changes nothing) */
        uint64_t size;           /* as the upstream announced it; unsized: known at the end */
        bool sized;              /* the upstream announced the length (Content-Length) */
        uint64_t written;        /* bytes in the file */
        int state;               /* 0 arriving, 1 complete and verified, <0 failed */
        struct stream_reader **sleepers; /* readers that caught up, their connections suspended */
        size_t n_sleepers, cap;
        uint64_t wake_at;        /* sleepers woken once this many bytes are in (or at the end) */
} blob_stream_t;

/* A reader that caught up sleeps until this much more has arrived (or the fetch
 * ends): woken for every write of the upstream's connection (16 KiB TLS records),
 * readers and the fetch would take turns a few thousand times per 50 MiB, a wake
 * and a suspend each, for nothing. */
#define STREAM_WAKE_STEP (256 * 1024)

typedef struct stream_reader {
        blob_stream_t *s;
        struct MHD_Connection *conn;
        bool asleep;
} stream_reader_t;

typedef struct flight {
        char *key;               /* "repo\nreference" */
        job_kind_t kind;
        upstream_t *up;
        char *repo, *upname, *ref;
        bool have_cached;        /* manifest by tag: a copy is cached (revalidate it) */
        digest_t cached;
        int err;                 /* the outcome */
        int result;              /* RES_* */
        blob_stream_t *stream;   /* a blob whose length is known, readable while it arrives */
        bool stream_tried;
        int fill_fd;             /* the scratch file being filled (blob jobs) */
        char **tags;             /* tag jobs: the upstream's listing */
        pullthrough_t *p;
        request_t **waiters;
        size_t n_waiters, cap;
        struct flight *next;     /* in the flight list */
        struct flight *qnext;    /* in the queue */
} flight_t;

typedef struct stale_key {
        char *key;
        struct stale_key *next;
} stale_key_t;

struct pullthrough {
        server_t *srv;
        secretbox_t *sb;         /* NULL: no key file (passwords cannot be opened) */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        upstream_t *ups;
        time_t loaded;
        pthread_mutex_t reload_lock; /* one reader of the records at a time */
        bool any_docker_mirror;
        flight_t *flights;
        flight_t *qhead, *qtail;
        size_t queued;
        size_t blob_fetches;     /* blob flights on a thread now */
        stale_key_t *stale;      /* tags whose stale serve was logged (this outage) */
        size_t n_stale;
        bool stopping;
        pthread_t threads[WORKERS];
        size_t n_threads;
};

/* ---- upstreams ---- */

static upstream_t *upstream_free(upstream_t *u) {
        if (!u)
                return NULL;
        registry_free(u->reg);
        if (u->password) {
                OPENSSL_cleanse(u->password, strlen(u->password));
                free(u->password);
        }
        proxycache_conf_done(&u->conf);
        free(u);
        return NULL;
}

static bool str_eq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool conf_same(const proxycache_conf_t *a, const proxycache_conf_t *b) {
        return str_eq(a->url, b->url) && str_eq(a->username, b->username) && str_eq(a->ca_file, b->ca_file) &&
               str_eq(a->mirror_of, b->mirror_of) && a->ttl == b->ttl && a->docker_mirror == b->docker_mirror &&
               a->password_len == b->password_len &&
               (!a->password_len || CRYPTO_memcmp(a->password, b->password, a->password_len) == 0);
}

static int conf_copy(const proxycache_conf_t *f, proxycache_conf_t *ret) {
        proxycache_conf_t c = *f;

        c.project = strdup(f->project);
        c.url = strdup(f->url);
        c.username = f->username ? strdup(f->username) : NULL;
        c.ca_file = f->ca_file ? strdup(f->ca_file) : NULL;
        c.mirror_of = f->mirror_of ? strdup(f->mirror_of) : NULL;
        c.password = NULL;
        if (f->password_len && (c.password = malloc(f->password_len)))
                memcpy(c.password, f->password, f->password_len);
        if (!c.project || !c.url || (f->username && !c.username) || (f->ca_file && !c.ca_file) ||
            (f->mirror_of && !c.mirror_of) || (f->password_len && !c.password)) {
                proxycache_conf_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

/* The key that opens upstream passwords, when there is one: never made here (the
 * CLI makes it). Only the reloading thread calls it (or the start). */
static void open_key(pullthrough_t *p) {
        _cleanup_free_ char *path = NULL;
        bool from_env = false;
        int r;

        r = secretbox_key_path(p->srv->cfg->data_dir, &path, &from_env);
        if (r == 0) {
                r = secretbox_open(path, false, &p->sb, NULL);
                if (r < 0 && r != -ENOENT)
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "secret key %s: %s (proxy projects with a password "
                                "will not fetch)", path, berth_strerror(r));
        }
}

/* A new upstream for the record: its registry client, its password opened. */
static int upstream_new(pullthrough_t *p, const proxycache_conf_t *f, upstream_t **ret) {
        upstream_t *u = calloc(1, sizeof(*u));
        char host[PROXYCACHE_HOST_MAX + 1];
        int r;

        if (!u)
                return -ENOMEM;
        r = conf_copy(f, &u->conf);
        if (r < 0) {
                free(u);
                return r;
        }
        u->current = true;
        if (u->conf.password) {
                if (!p->sb)
                        open_key(p); /* made by the CLI after the server started */
                if (!p->sb)
                        u->broken = -ENOKEY;
                else if ((r = secretbox_unseal(p->sb, PROXYCACHE_SECRET_CONTEXT, u->conf.password,
                                               u->conf.password_len, &u->password, NULL)) < 0)
                        u->broken = r;
                if (u->broken)
                        log_msg(LOG_ERR, LOG_SRC_SERVER, "proxy project %s: the upstream password cannot be opened "
                                "(%s): check the secret key", f->project, berth_strerror(u->broken));
        }
        r = proxycache_url_host(f->url, host, sizeof(host));
        if (r == 0) {
                registry_opts_t o = { .insecure = strncmp(f->url, "http://", 7) == 0, .ca_file = f->ca_file,
                                      .user_agent = "berth-proxy/" PACKAGE_VERSION, .connect_timeout_s = 10,
                                      .low_speed_time_s = 30 };
                r = registry_new(host, &o, &u->reg);
        }
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "proxy project %s: upstream %s: %s", f->project, f->url,
                        berth_strerror(r));
                if (!u->broken)
                        u->broken = r;
        }
        *ret = u;
        return 0;
}

typedef struct {
        proxycache_conf_t *v;
        size_t n, cap;
} rows_t;

static int collect(const proxycache_conf_t *f, void *userdata) {
        rows_t *rows = userdata;

        if (rows->n == rows->cap) {
                size_t cap = rows->cap ? rows->cap * 2 : 8;
                proxycache_conf_t *v = realloc(rows->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                rows->v = v;
                rows->cap = cap;
        }
        int r = conf_copy(f, &rows->v[rows->n]);
        if (r < 0)
                return r;
        rows->n++;
        return 0;
}

static bool reload_due(pullthrough_t *p, time_t now) {
        pthread_mutex_lock(&p->lock);
        bool due = now - p->loaded >= RELOAD_SECONDS || now < p->loaded;
        pthread_mutex_unlock(&p->lock);
        return due;
}

/* Reads the records again when they are older than RELOAD_SECONDS. One thread
 * reads; a thread that finds it due meanwhile waits for that read (one query of a
 * small table, no network) and then uses its list: going on with the old one
 * would answer a project created a moment ago as if it were not a proxy. */
static void reload(pullthrough_t *p) {
        time_t now = time(NULL);
        rows_t rows = { 0 };
        db_conn_t *c = NULL;
        upstream_t **fresh = NULL;
        int r;

        if (!reload_due(p, now))
                return;
        pthread_mutex_lock(&p->reload_lock);
        if (!reload_due(p, now)) { /* read while this thread waited */
                pthread_mutex_unlock(&p->reload_lock);
                return;
        }
        r = db_conn_get(server_db(p->srv), &c);
        if (r == 0) {
                r = proxycache_list(c, collect, &rows);
                db_conn_put(server_db(p->srv), c);
        }
        if (r < 0) {
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "reading the proxy projects: %s", berth_strerror(r));
                goto out;
        }
        fresh = calloc(rows.n ? rows.n : 1, sizeof(*fresh));
        if (!fresh)
                goto out;
        /* which records changed: only those get a new client */
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < rows.n; i++) {
                upstream_t *u;
                for (u = p->ups; u; u = u->next)
                        if (u->current && strcmp(u->conf.project, rows.v[i].project) == 0 &&
                            conf_same(&u->conf, &rows.v[i]))
                                break;
                fresh[i] = u; /* kept as it is */
        }
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < rows.n; i++)
                if (!fresh[i] && upstream_new(p, &rows.v[i], &fresh[i]) < 0)
                        fresh[i] = NULL;
        pthread_mutex_lock(&p->lock);
        /* an upstream no longer current stays in the list (a flight may hold it)
         * until the cache is freed: records change rarely */
        for (upstream_t *u = p->ups; u; u = u->next) {
                bool keep = false;
                for (size_t i = 0; i < rows.n && !keep; i++)
                        keep = fresh[i] == u;
                u->current = keep;
        }
        p->any_docker_mirror = false;
        for (size_t i = 0; i < rows.n; i++) {
                if (!fresh[i])
                        continue;
                bool listed = false;
                for (upstream_t *u = p->ups; u && !listed; u = u->next)
                        listed = u == fresh[i];
                if (!listed) {
                        fresh[i]->next = p->ups;
                        p->ups = fresh[i];
                }
                p->any_docker_mirror |= fresh[i]->conf.docker_mirror;
        }
        p->loaded = now;
        pthread_mutex_unlock(&p->lock);
out:
        for (size_t i = 0; i < rows.n; i++)
                proxycache_conf_done(&rows.v[i]);
        free(rows.v);
        free(fresh);
        pthread_mutex_unlock(&p->reload_lock);
}

/* The current upstream of project (borrowed: upstreams live until the cache is
 * freed), or NULL. */
static upstream_t *find_project(pullthrough_t *p, const char *project, size_t len) {
        upstream_t *found = NULL;

        reload(p);
        pthread_mutex_lock(&p->lock);
        for (upstream_t *u = p->ups; u && !found; u = u->next)
                if (u->current && strlen(u->conf.project) == len && memcmp(u->conf.project, project, len) == 0)
                        found = u;
        pthread_mutex_unlock(&p->lock);
        return found;
}

static upstream_t *find_for_repo(pullthrough_t *p, const char *repo) {
        const char *slash = repo ? strchr(repo, '/') : NULL;
        return slash ? find_project(p, repo, (size_t) (slash - repo)) : NULL;
}

/* ---- stale serves: logged once per tag per outage ---- */

static bool stale_first(pullthrough_t *p, const char *key) {
        bool first = true;

        pthread_mutex_lock(&p->lock);
        for (stale_key_t *s = p->stale; s && first; s = s->next)
                first = strcmp(s->key, key) != 0;
        if (first && p->n_stale < STALE_LOGGED_MAX) {
                stale_key_t *s = calloc(1, sizeof(*s));
                if (s && (s->key = strdup(key))) {
                        s->next = p->stale;
                        p->stale = s;
                        p->n_stale++;
                } else
                        free(s);
        }
        pthread_mutex_unlock(&p->lock);
        return first;
}

static void stale_over(pullthrough_t *p, const char *key) {
        pthread_mutex_lock(&p->lock);
        for (stale_key_t **s = &p->stale; *s; s = &(*s)->next)
                if (strcmp((*s)->key, key) == 0) {
                        stale_key_t *gone = *s;
                        *s = gone->next;
                        free(gone->key);
                        free(gone);
                        p->n_stale--;
                        break;
                }
        pthread_mutex_unlock(&p->lock);
}

/* ---- fetches (on the cache's threads) ---- */

static registry_cred_t cred_of(const upstream_t *u) {
        return (registry_cred_t){ .username = u->password ? u->conf.username : NULL, .password = u->password };
}

static void fetch_manifest(pullthrough_t *p, meta_t *m, flight_t *f) {
        server_t *srv = p->srv;
        registry_cred_t cred = cred_of(f->up);
        bool by_digest = digest_ref_is_digest(f->ref);
        _cleanup_free_ char *buf = NULL, *mt = NULL;
        db_conn_t *c = NULL;
        registry_put_result_t res;
        size_t len = 0;
        digest_t got;
        int r;

        if (f->up->broken) {
                r = f->up->broken;
                goto failed;
        }
        if (f->have_cached) {
                /* revalidate: a HEAD (Docker Hub does not count it) */
                r = registry_head_manifest(f->up->reg, f->upname, f->ref, &cred, &got);
                if (r == 0 && digest_equal(&got, &f->cached)) {
                        if (db_conn_get(server_db(srv), &c) == 0) {
                                (void) proxycache_tag_mark(c, f->repo, f->ref, got.str, (int64_t) server_now(srv));
                                db_conn_put(server_db(srv), c);
                        }
                        stale_over(p, f->key);
                        f->result = RES_REVALIDATED;
                        f->err = 0;
                        return;
                }
                if (r < 0 && r != BERTH_EHTTP)
                        goto failed;
                /* moved (or no digest in the answer): fetch it */
        }
        r = registry_get_manifest(f->up->reg, f->upname, f->ref, &cred, &buf, &len, &mt, &got);
        if (r < 0)
                goto failed;
        r = registry_manifest_cache(srv->store, m, f->repo, buf, len, mt && *mt ? mt : NULL,
                                    by_digest ? &got : NULL, by_digest ? NULL : f->ref, &res);
        if (r == BERTH_EMANIFEST)
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "proxy %s: upstream manifest %s:%s refused: %s",
                        f->up->conf.project, f->upname, f->ref, res.detail ? res.detail : "invalid");
        if (r < 0)
                goto failed;
        if (!by_digest && db_conn_get(server_db(srv), &c) == 0) {
                (void) proxycache_tag_mark(c, f->repo, f->ref, res.digest.str, (int64_t) server_now(srv));
                db_conn_put(server_db(srv), c);
        }
        atomic_fetch_add_explicit(&f->up->bytes, len, memory_order_relaxed);
        stale_over(p, f->key);
        f->result = RES_MISS;
        f->err = 0;
        return;
failed:
        if (f->have_cached && (r == BERTH_EUNAVAILABLE || r == BERTH_EHTTP || r == -ENOKEY)) {
                /* stale-if-error: the cached copy, said once per tag while it lasts */
                if (stale_first(p, f->key))
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "proxy %s: upstream %s unavailable for %s:%s (%s): "
                                "serving the cached %s", f->up->conf.project, f->up->conf.url, f->upname, f->ref,
                                berth_strerror(r), f->cached.str);
                f->result = RES_STALE;
                f->err = 0;
                return;
        }
        log_msg(LOG_WARNING, LOG_SRC_SERVER, "proxy %s: fetching manifest %s:%s from %s: %s", f->up->conf.project,
                f->upname, f->ref, f->up->conf.url, berth_strerror(r));
        f->result = RES_ERROR;
        f->err = r;
}

#define TAGS_MAX 100000

static void fetch_tags(pullthrough_t *p, flight_t *f) {
        registry_cred_t cred = cred_of(f->up);
        int r = f->up->broken;

        if (r == 0)
                r = registry_list_tags(f->up->reg, f->upname, &cred, TAGS_MAX, &f->tags);
        if (r == 0) {
                stale_over(p, f->key);
                f->result = RES_MISS;
                f->err = 0;
                return;
        }
        if (r == BERTH_EUNAVAILABLE || r == BERTH_EHTTP || r == -ENOKEY) {
                /* the cached listing, said once while it lasts */
                if (stale_first(p, f->key))
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "proxy %s: upstream %s unavailable for the tags of %s "
                                "(%s): serving the cached listing", f->up->conf.project, f->up->conf.url, f->upname,
                                berth_strerror(r));
                f->result = RES_STALE;
        } else {
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "proxy %s: listing the tags of %s on %s: %s",
                        f->up->conf.project, f->upname, f->up->conf.url, berth_strerror(r));
                f->result = RES_ERROR;
        }
        f->err = r;
}

/* ---- blob streams ---- */

static void resumed_error(request_t *req, const char *what);

static blob_stream_t *stream_ref(blob_stream_t *s) {
        pthread_mutex_lock(&s->lock);
        s->refs++;
        pthread_mutex_unlock(&s->lock);
        return s;
}

static void stream_unref(blob_stream_t *s) {
        bool last;

        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        last = --s->refs == 0;
        pthread_mutex_unlock(&s->lock);
        if (!last)
                return;
        close(s->fd);
        free(s->sleepers);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

/* Every reader that caught up resumed (under s->lock). */
static void stream_wake(blob_stream_t *s) {
        for (size_t i = 0; i < s->n_sleepers; i++) {
                s->sleepers[i]->asleep = false;
                MHD_resume_connection(s->sleepers[i]->conn);
        }
        s->n_sleepers = 0;
}

/* libmicrohttpd's content reader: the bytes written so far; none yet: the
 * connection suspended until the fetch writes more (never 0 on a live connection:
 * with a thread pool that would spin). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        stream_reader_t *rd = cls;
        blob_stream_t *s = rd->s;
        uint64_t limit;
        ssize_t n;

        pthread_mutex_lock(&s->lock);
        if (s->state < 0) {
                pthread_mutex_unlock(&s->lock);
                return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a short body */
        }
        /* the last byte only once the whole matched its digest */
        if (s->state == 1)
                limit = s->size;
        else if (s->sized)
                limit = s->written < s->size ? s->written : s->size ? s->size - 1 : 0;
        else
                limit = s->written ? s->written - 1 : 0; /* which byte is the last is not known yet */
        if (pos >= limit) {
                if (s->state == 1) {
                        pthread_mutex_unlock(&s->lock);
                        return MHD_CONTENT_READER_END_OF_STREAM;
                }
                if (s->n_sleepers == s->cap) {
                        size_t cap = s->cap ? s->cap * 2 : 8;
                        stream_reader_t **v = realloc(s->sleepers, cap * sizeof(*v));
                        if (!v) {
                                pthread_mutex_unlock(&s->lock);
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        }
                        s->sleepers = v;
                        s->cap = cap;
                }
                if (s->n_sleepers == 0 || pos + STREAM_WAKE_STEP < s->wake_at)
                        s->wake_at = pos + STREAM_WAKE_STEP;
                s->sleepers[s->n_sleepers++] = rd;
                rd->asleep = true;
                /* under the lock: the fetch cannot resume it before it is suspended */
                MHD_suspend_connection(rd->conn);
                pthread_mutex_unlock(&s->lock);
                return 0;
        }
        pthread_mutex_unlock(&s->lock);
        if (limit - pos < max)
                max = (size_t) (limit - pos);
        do
                n = pread(s->fd, buf, max, (off_t) pos);
        while (n < 0 && errno == EINTR);
        return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_reader_free(void *cls) {
        stream_reader_t *rd = cls;
        blob_stream_t *s = rd->s;

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; rd->asleep && i < s->n_sleepers; i++)
                if (s->sleepers[i] == rd) {
                        s->sleepers[i] = s->sleepers[--s->n_sleepers];
                        break;
                }
        pthread_mutex_unlock(&s->lock);
        stream_unref(s);
        free(rd);
}

/* A streaming request resumed: its answer reads the blob as it arrives. */
static void stream_answer(request_t *req) {
        blob_stream_t *s = TAKE_PTR(req->proxy_stream);
        stream_reader_t *rd;
        int state;

        pthread_mutex_lock(&s->lock);
        state = s->state;
        pthread_mutex_unlock(&s->lock);
        if (state < 0) {
                /* failed before the answer began: said as when it waited */
                stream_unref(s);
                req->proxy_err = state;
                resumed_error(req, "blob");
                return;
        }
        rd = calloc(1, sizeof(*rd));
        if (!rd) {
                stream_unref(s);
                reply_errno(req, -ENOMEM, NULL);
                return;
        }
        rd->s = s;
        rd->conn = req->conn;
        /* no length from the upstream: none to the client (chunked, or the end of
         * the connection for HTTP/1.0) */
        reply_callback(req, 200, s->sized ? s->size : MHD_SIZE_UNKNOWN, stream_read, rd, stream_reader_free);
        reply_header(req, "Content-Type", "application/octet-stream");
        reply_header(req, "Docker-Content-Digest", req->ref);
        reply_headerf(req, "ETag", "\"%s\"", req->ref);
        reply_header(req, "Cache-Control", "max-age=31536000");
}

/* The fetch's progress (on its thread): the stream made once the length is
 * known, its waiters that can stream resumed; readers that caught up woken. */
static void fetch_progress(void *userdata, uint64_t done, uint64_t total) {
        flight_t *f = userdata;
        pullthrough_t *p = f->p;
        blob_stream_t *s = f->stream;

        if (!s && !f->stream_tried) {
                f->stream_tried = true;
                s = calloc(1, sizeof(*s));
                if (!s)
                        return;
                s->fd = fcntl(f->fill_fd, F_DUPFD_CLOEXEC, 3);
                if (s->fd < 0) {
                        free(s);
                        return;
                }
                pthread_mutex_init(&s->lock, NULL);
                s->refs = 1;
                s->size = total;
                s->sized = total != 0; /* 0: no length announced, streamed all the same */
                pthread_mutex_lock(&p->lock);
                f->stream = s; /* from now on, joiners that can stream take it at once */
                size_t kept = 0;
                for (size_t i = 0; i < f->n_waiters; i++) {
                        request_t *w = f->waiters[i];
                        if (!w->proxy_streamable) {
                                f->waiters[kept++] = w;
                                continue;
                        }
                        atomic_fetch_add_explicit(&f->up->n[RES_MISS], 1, memory_order_relaxed);
                        w->proxy_err = 0;
                        w->proxy_stream = stream_ref(s);
                        MHD_resume_connection(w->conn);
                }
                f->n_waiters = kept;
                pthread_mutex_unlock(&p->lock);
        }
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->written = done;
        if (done >= s->wake_at || (s->sized && done >= s->size))
                stream_wake(s);
        pthread_mutex_unlock(&s->lock);
}

/* The fetch is over: verified (1, SIZE bytes) or failed (<0); every reader woken
 * to see it. */
static void stream_end(blob_stream_t *s, int state, uint64_t size) {
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        if (s->state == 0) {
                if (state == 1 && !s->sized)
                        s->size = size;
                s->state = state;
        }
        stream_wake(s);
        pthread_mutex_unlock(&s->lock);
}

static void fetch_blob(pullthrough_t *p, meta_t *m, flight_t *f) {
        server_t *srv = p->srv;
        registry_cred_t cred = cred_of(f->up);
        char name[UPLOAD_UUID_LEN + 1];
        uint64_t size = 0;
        digest_t d;
        int fd = -1, r;

        if (f->up->broken) {
                r = f->up->broken;
                goto failed;
        }
        r = digest_parse(f->ref, &d);
        if (r < 0)
                goto failed;
        /* The file first, then its link, checked inside the link's transaction: a GC
         * sweep that took the file between the two (an older copy it had found
         * unreferenced) makes the link refused, and the blob is fetched once more. */
        for (int attempt = 0;; attempt++) {
                r = store_blob_fill_open(srv->store, name, &fd);
                if (r < 0)
                        goto failed;
                f->fill_fd = fd;
                f->p = p;
                r = registry_fetch_blob(f->up->reg, f->upname, &d, srv->cfg->blob_max_size, &cred, fd,
                                        fetch_progress, f, &size);
                /* its streams end here: every byte verified, or an error (a short body) */
                stream_end(f->stream,
                           r == 0 && (!f->stream || !f->stream->sized || size == f->stream->size) ? 1
                           : r < 0                                                             ? r
                                                                                               : -EIO,
                           size);
                if (r == 0)
                        r = store_blob_fill_commit(srv->store, name, fd, &d);
                else
                        store_blob_fill_abort(srv->store, name); /* nothing of a failed fetch is kept */
                close(fd);
                fd = -1;
                if (r == 0)
                        r = registry_blob_cache_link(srv->store, m, f->repo, &d, size);
                if (r < 0)
                        goto failed;
                if (r == 1)
                        break;
                if (attempt == 1) {
                        r = BERTH_EBUSY;
                        goto failed;
                }
        }
        atomic_fetch_add_explicit(&f->up->bytes, size, memory_order_relaxed);
        f->result = RES_MISS;
        f->err = 0;
        return;
failed:
        log_msg(LOG_WARNING, LOG_SRC_SERVER, "proxy %s: fetching blob %s of %s from %s: %s", f->up->conf.project,
                f->ref, f->upname, f->up->conf.url,
                r == BERTH_EDIGEST ? "the content does not match its digest (nothing kept)" : berth_strerror(r));
        f->result = RES_ERROR;
        f->err = r;
}

/* A proxy project's copies are never refused for its quota: past it, the least
 * recently pulled content goes (storage/retention.h), on this fetch thread, after
 * the requests the fetch answered. */
static pthread_mutex_t evict_lock = PTHREAD_MUTEX_INITIALIZER;

static void evict_if_over(meta_t *m, const char *project) {
        meta_evict_result_t res;
        usage_project_t u;
        int r;

        if (usage_get(m, project, &u) < 0 || u.quota == USAGE_UNLIMITED || u.bytes <= u.quota)
                return;
        /* one eviction at a time in the process: two at once would both see the usage
         * of a removal half made (its manifest gone, its links not yet) and remove
         * more than needed; the second looks again once the first is done (a fetch
         * thread waits here, never a connection's) */
        pthread_mutex_lock(&evict_lock);
        r = usage_get(m, project, &u);
        if (r < 0 || u.quota == USAGE_UNLIMITED || u.bytes <= u.quota) {
                pthread_mutex_unlock(&evict_lock);
                return;
        }
        r = meta_evict_lru(m, project, u.quota, &res);
        pthread_mutex_unlock(&evict_lock);
        if (r < 0) {
                log_msg(LOG_WARNING, LOG_SRC_SERVER, "proxy %s: past its quota, eviction failed: %s", project,
                        berth_strerror(r));
                return;
        }
        log_msg(LOG_INFO, LOG_SRC_SERVER,
                "proxy %s: past its quota (%" PRIu64 " of %" PRIu64 " bytes): evicted %" PRIu64 " manifest(s) and %" PRIu64
                " blob link(s), least recently pulled first; %" PRIu64 " bytes now",
                project, res.bytes_before, u.quota, res.manifests, res.links, res.bytes_after);
}

static void flight_free(flight_t *f) {
        if (!f)
                return;
        free(f->key);
        free(f->repo);
        free(f->upname);
        free(f->ref);
        free(f->waiters);
        registry_strv_free(f->tags);
        stream_unref(f->stream);
        free(f);
}

static int strv_copy(char **v, char ***ret) {
        size_t n = 0;
        char **c;

        while (v[n])
                n++;
        if (!(c = calloc(n + 1, sizeof(*c))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(v[i]))) {
                        registry_strv_free(c);
                        return -ENOMEM;
                }
        *ret = c;
        return 0;
}

/* The flight is over: out of the list, every waiter resumed with its outcome. */
static void flight_land(pullthrough_t *p, flight_t *f) {
        pthread_mutex_lock(&p->lock);
        for (flight_t **x = &p->flights; *x; x = &(*x)->next)
                if (*x == f) {
                        *x = f->next;
                        break;
                }
        pthread_mutex_unlock(&p->lock);
        /* no one can join it now: the waiters are ours alone */
        for (size_t i = 0; i < f->n_waiters; i++) {
                request_t *w = f->waiters[i];
                atomic_fetch_add_explicit(&f->up->n[f->result], 1, memory_order_relaxed);
                w->proxy_err = f->err;
                if (f->tags && strv_copy(f->tags, &w->proxy_tags) < 0)
                        w->proxy_err = -ENOMEM;
                MHD_resume_connection(w->conn);
        }
        flight_free(f);
}

static void *worker(void *arg) {
        char project[META_TOP_MAX + 1];
        pullthrough_t *p = arg;
        meta_t *m = NULL;
        int r;

        r = meta_open_thread(server_db(p->srv), &m);
        if (r < 0)
                log_msg(LOG_ERR, LOG_SRC_SERVER, "proxy fetcher: opening the metadata: %s", berth_strerror(r));
        for (;;) {
                flight_t *f = NULL, *prev = NULL;
                pthread_mutex_lock(&p->lock);
                for (;;) {
                        if (p->stopping)
                                break;
                        /* the first job this thread may take: a blob only while
                         * fewer than BLOB_WORKERS threads fetch blobs */
                        prev = NULL;
                        for (f = p->qhead; f; prev = f, f = f->qnext)
                                if (f->kind != JOB_BLOB || p->blob_fetches < BLOB_WORKERS)
                                        break;
                        if (f)
                                break;
                        pthread_cond_wait(&p->cond, &p->lock);
                }
                if (p->stopping) {
                        pthread_mutex_unlock(&p->lock);
                        break;
                }
                if (prev)
                        prev->qnext = f->qnext;
                else
                        p->qhead = f->qnext;
                if (p->qtail == f)
                        p->qtail = prev;
                f->qnext = NULL;
                p->queued--;
                if (f->kind == JOB_BLOB)
                        p->blob_fetches++;
                pthread_mutex_unlock(&p->lock);
                if (!m && meta_open_thread(server_db(p->srv), &m) < 0)
                        m = NULL;
                /* a shared database's lost connection reopened first (a no-op on SQLite) */
                if (!m || server_thread_conn_check(server_db(p->srv)) < 0) {
                        f->err = BERTH_EDBDOWN;
                        f->result = RES_ERROR;
                } else if (f->kind == JOB_MANIFEST)
                        fetch_manifest(p, m, f);
                else if (f->kind == JOB_TAGS)
                        fetch_tags(p, f);
                else
                        fetch_blob(p, m, f);
                if (f->kind == JOB_BLOB) {
                        /* a thread for the blobs that waited */
                        pthread_mutex_lock(&p->lock);
                        p->blob_fetches--;
                        pthread_cond_broadcast(&p->cond);
                        pthread_mutex_unlock(&p->lock);
                }
                /* a copy made: the project may be past its quota now (its name copied,
                 * the flight is gone once landed) */
                if (m && f->kind != JOB_TAGS && f->result == RES_MISS)
                        (void) snprintf(project, sizeof(project), "%s", f->up->conf.project);
                else
                        project[0] = '\0';
                flight_land(p, f);
                if (project[0])
                        evict_if_over(m, project);
        }
        meta_free(m);
        return NULL;
}

/* ---- requests (on the HTTP threads) ---- */

static void resumed_error(request_t *req, const char *what) {
        int r = req->proxy_err;

        switch (r) {
        case BERTH_ENOTFOUND:
        case BERTH_EAUTH:
        case BERTH_EDENIED:
                if (strcmp(what, "blob") == 0)
                        reply_error(req, 404, "BLOB_UNKNOWN", "blob unknown to the upstream registry", req->ref);
                else
                        reply_error(req, 404, "MANIFEST_UNKNOWN",
                                    r == BERTH_ENOTFOUND ? "manifest unknown to the upstream registry"
                                                         : "the upstream registry refused access (unknown "
                                                           "repository, or wrong upstream credentials)",
                                    req->ref);
                break;
        case BERTH_EDIGEST:
                reply_error(req, 502, "BLOB_UNKNOWN",
                            "the upstream registry sent content that does not match its digest; nothing was cached",
                            req->ref);
                break;
        case BERTH_ETOOBIG:
                reply_errno(req, r, "the upstream's content is larger than --blob-max-size");
                break;
        case -ESHUTDOWN:
                reply_error(req, 503, "UNAVAILABLE", "the registry is shutting down", NULL);
                break;
        case BERTH_EDBDOWN:
        case -ENOMEM:
        case -ENOSPC:
                reply_errno(req, r, NULL); /* berth's own trouble, not the upstream's */
                break;
        default:
                reply_error(req, 503, "UNAVAILABLE",
                            "the upstream registry is unavailable and the content is not cached", req->ref);
                reply_header(req, "Retry-After", "10");
        }
}

static void manifest_resumed(request_t *req) {
        if (req->proxy_err < 0)
                resumed_error(req, "manifest");
        else
                manifest_get_local(req);
}

static void tags_resumed(request_t *req) {
        meta_t *m;
        int r;

        if (req->proxy_tags) {
                tags_list_answer(req, req->proxy_tags);
                return;
        }
        switch (req->proxy_err) {
        case BERTH_ENOTFOUND:
        case BERTH_EAUTH:
        case BERTH_EDENIED:
                reply_error(req, 404, "NAME_UNKNOWN", "repository unknown to the upstream registry", req->repo);
                return;
        case BERTH_EUNAVAILABLE:
        case BERTH_EHTTP:
        case -ENOKEY:
                /* the cached listing when there is one */
                if (!(m = request_meta(req)))
                        return;
                r = meta_repo_exists(m, req->repo);
                if (r > 0) {
                        tags_list_local(req);
                        return;
                }
                if (r < 0) {
                        reply_errno(req, r, NULL);
                        return;
                }
                break;
        }
        resumed_error(req, "manifest");
}

static void blob_resumed(request_t *req) {
        if (req->proxy_stream)
                stream_answer(req);
        else if (req->proxy_err < 0)
                resumed_error(req, "blob");
        else
                blob_get_local(req);
}

/* Suspends req and makes it wait for the flight of (repo, ref), starting one when
 * none is in the air. The flight's fields come from tmpl (taken over when it
 * starts one). true: suspended; false: answered. */
static bool join(pullthrough_t *p, request_t *req, flight_t *tmpl, void (*resume)(request_t *req)) {
        flight_t *f, *mine = NULL;
        _cleanup_free_ char *key = NULL;
        int r = 0;

        if (asprintf(&key, "%s\n%s", req->repo, tmpl->ref) < 0) {
                key = NULL;
                reply_errno(req, -ENOMEM, NULL);
                return false;
        }
        req->proxy_err = 0;
        req->auth_resume = resume;
        req->suspended = true;
        /* suspended before the flight can land */
        MHD_suspend_connection(req->conn);
        pthread_mutex_lock(&p->lock);
        for (f = p->flights; f; f = f->next)
                if (strcmp(f->key, key) == 0)
                        break;
        if (f && f->stream && req->proxy_streamable) {
                /* its length is known: read it as it arrives (or failed: wait for the end) */
                pthread_mutex_lock(&f->stream->lock);
                if (f->stream->state >= 0) {
                        f->stream->refs++;
                        req->proxy_stream = f->stream;
                }
                pthread_mutex_unlock(&f->stream->lock);
                if (req->proxy_stream)
                        atomic_fetch_add_explicit(&f->up->n[RES_MISS], 1, memory_order_relaxed);
        }
        if (!f && (p->stopping || p->queued >= QUEUE_MAX))
                r = p->stopping ? -ESHUTDOWN : BERTH_EBUSY;
        if (!f && r == 0) {
                mine = calloc(1, sizeof(*mine));
                if (!mine)
                        r = -ENOMEM;
                else {
                        *mine = *tmpl;
                        memset(tmpl, 0, sizeof(*tmpl));
                        mine->key = TAKE_PTR(key);
                        f = mine;
                }
        }
        if (r == 0 && !req->proxy_stream && f->n_waiters == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 4;
                request_t **v = realloc(f->waiters, cap * sizeof(*v));
                if (v) {
                        f->waiters = v;
                        f->cap = cap;
                } else
                        r = -ENOMEM;
        }
        if (r == 0 && !req->proxy_stream) {
                f->waiters[f->n_waiters++] = req;
                if (mine) {
                        mine->next = p->flights;
                        p->flights = mine;
                        if (p->qtail)
                                p->qtail->qnext = mine;
                        else
                                p->qhead = mine;
                        p->qtail = mine;
                        p->queued++;
                        pthread_cond_signal(&p->cond);
                }
        }
        pthread_mutex_unlock(&p->lock);
        if (r == 0 && req->proxy_stream) {
                req->suspended = false;
                req->auth_resume = NULL;
                MHD_resume_connection(req->conn);
                resume(req);
                return false;
        }
        if (r == 0)
                return true;
        if (mine)
                flight_free(mine);
        req->suspended = false;
        req->auth_resume = NULL;
        MHD_resume_connection(req->conn);
        if (r == BERTH_EBUSY) {
                reply_error(req, 503, "UNAVAILABLE", "too many upstream fetches waiting; retry later", NULL);
                reply_header(req, "Retry-After", "1");
        } else
                reply_errno(req, r, NULL);
        return false;
}

static int flight_prepare(upstream_t *u, request_t *req, job_kind_t kind, flight_t *ret) {
        /* a listing's key: a reference can hold no tab */
        const char *ref = kind == JOB_TAGS ? "\ttags" : req->ref;
        const char *name = strchr(req->repo, '/') + 1;
        char upname[NAME_REPO_MAX + 16];
        int r;

        r = proxycache_upstream_name(&u->conf, name, upname, sizeof(upname));
        if (r < 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        ret->kind = kind;
        ret->up = u;
        ret->repo = strdup(req->repo);
        ret->upname = strdup(upname);
        ret->ref = strdup(ref);
        if (!ret->repo || !ret->upname || !ret->ref) {
                free(ret->repo);
                free(ret->upname);
                free(ret->ref);
                return -ENOMEM;
        }
        return 0;
}

static void count(upstream_t *u, int result) {
        atomic_fetch_add_explicit(&u->n[result], 1, memory_order_relaxed);
}

bool pullthrough_manifest_get(request_t *req) {
        pullthrough_t *p = req->srv->pullthrough;
        upstream_t *u;
        meta_manifest_info_t info;
        flight_t tmpl;
        bool by_digest, found;
        meta_t *m;
        int r;

        if (!p || !(u = find_for_repo(p, req->repo)))
                return false;
        by_digest = digest_ref_is_digest(req->ref);
        if (!by_digest && !name_tag_valid(req->ref, strlen(req->ref)))
                return false; /* answered as any other invalid tag */
        if (by_digest) {
                digest_t d;
                if (digest_parse(req->ref, &d) < 0)
                        return false;
        }
        if (!(m = request_meta(req)))
                return true;
        r = meta_manifest_get(m, req->repo, req->ref, &info);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return true;
        }
        found = r > 0;
        if (r > 0 && by_digest) {
                count(u, RES_HIT); /* content by digest never changes */
                return false;
        }
        if (r > 0) {
                char digest[DIGEST_STR_MAX];
                int64_t checked = 0;
                db_conn_t *c = NULL;
                int k = db_conn_get(server_db(req->srv), &c);
                if (k == 0) {
                        k = proxycache_tag_get(c, req->repo, req->ref, &checked, digest, sizeof(digest));
                        db_conn_put(server_db(req->srv), c);
                }
                int64_t age = (int64_t) server_now(req->srv) - checked;
                if (k > 0 && age >= 0 && age < u->conf.ttl) {
                        count(u, RES_HIT);
                        return false;
                }
        }
        r = flight_prepare(u, req, JOB_MANIFEST, &tmpl);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return true;
        }
        tmpl.have_cached = found && !by_digest;
        if (tmpl.have_cached)
                tmpl.cached = info.digest;
        (void) join(p, req, &tmpl, manifest_resumed);
        free(tmpl.repo);
        free(tmpl.upname);
        free(tmpl.ref);
        return true;
}

bool pullthrough_blob_get(request_t *req) {
        pullthrough_t *p = req->srv->pullthrough;
        upstream_t *u;
        flight_t tmpl;
        digest_t d;
        meta_t *m;
        int r;

        if (!p || !(u = find_for_repo(p, req->repo)))
                return false;
        if (digest_parse(req->ref, &d) < 0)
                return false;
        if (!(m = request_meta(req)))
                return true;
        r = meta_blob_linked(m, req->repo, &d, NULL);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return true;
        }
        if (r > 0) {
                count(u, RES_HIT);
                return false;
        }
        r = flight_prepare(u, req, JOB_BLOB, &tmpl);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return true;
        }
        /* a range of a blob still arriving waits for the whole (then served from the store) */
        req->proxy_streamable = !req->is_head && !req_header(req, "Range");
        (void) join(p, req, &tmpl, blob_resumed);
        free(tmpl.repo);
        free(tmpl.upname);
        free(tmpl.ref);
        return true;
}

bool pullthrough_tags_get(request_t *req) {
        pullthrough_t *p = req->srv->pullthrough;
        const char *refresh = req_query(req, "refresh");
        upstream_t *u;
        flight_t tmpl;
        int r;

        if (!p || !refresh || (strcmp(refresh, "1") != 0 && strcmp(refresh, "true") != 0) ||
            !(u = find_for_repo(p, req->repo)))
                return false;
        r = flight_prepare(u, req, JOB_TAGS, &tmpl);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return true;
        }
        (void) join(p, req, &tmpl, tags_resumed);
        free(tmpl.repo);
        free(tmpl.upname);
        free(tmpl.ref);
        return true;
}

/* ---- routing ---- */

static bool is_write(const request_t *req) {
        const route_ops_t *o = req->ops;
        return o == &route_manifest_put || o == &route_manifest_delete || o == &route_blob_delete ||
               o == &route_upload_start || o == &route_upload_patch || o == &route_upload_put ||
               o == &route_upload_delete;
}

/* req->repo becomes project/repo. false: answered. */
static bool prefix_repo(request_t *req, const char *project) {
        char *n = NULL;

        if (asprintf(&n, "%s/%s", project, req->repo) < 0) {
                reply_errno(req, -ENOMEM, NULL);
                return false;
        }
        if (strlen(n) > NAME_REPO_MAX || !name_repo_valid(n, strlen(n))) {
                free(n);
                reply_errno(req, BERTH_ENAME_INVALID, NULL);
                return false;
        }
        free(req->repo);
        req->repo = n;
        return true;
}

void pullthrough_route(request_t *req) {
        pullthrough_t *p = req->srv->pullthrough;
        const char *ns;
        upstream_t *u = NULL;

        if (!p || req->response || !req->repo)
                return;
        ns = req_query(req, "ns");
        if (ns && *ns) {
                /* containerd's mirror: the image's own registry host names the project */
                _cleanup_free_ char *project = NULL;
                reload(p);
                pthread_mutex_lock(&p->lock);
                for (upstream_t *x = p->ups; x && !project; x = x->next)
                        if (x->current && proxycache_conf_mirrors(&x->conf, ns))
                                project = strdup(x->conf.project);
                pthread_mutex_unlock(&p->lock);
                if (!project) {
                        reply_error(req, 404, "NAME_UNKNOWN", "no proxy project on this registry mirrors that registry",
                                    ns);
                        return;
                }
                if (!prefix_repo(req, project))
                        return;
        } else {
                bool docker = false;
                reload(p);
                pthread_mutex_lock(&p->lock);
                docker = p->any_docker_mirror;
                pthread_mutex_unlock(&p->lock);
                if (docker) {
                        /* docker's registry-mirrors: Docker Hub names, sent as they are */
                        size_t len = strcspn(req->repo, "/");
                        _cleanup_free_ char *first = strndup(req->repo, len), *project = NULL;
                        db_conn_t *c = NULL;
                        int r = first ? db_conn_get(server_db(req->srv), &c) : -ENOMEM;
                        if (r == 0) {
                                r = proxycache_namespace_local(c, first);
                                db_conn_put(server_db(req->srv), c);
                        }
                        if (r == 0) {
                                pthread_mutex_lock(&p->lock);
                                for (upstream_t *x = p->ups; x && !project; x = x->next)
                                        if (x->current && x->conf.docker_mirror)
                                                project = strdup(x->conf.project);
                                pthread_mutex_unlock(&p->lock);
                                if (project && !prefix_repo(req, project))
                                        return;
                        }
                }
        }
        u = find_for_repo(p, req->repo);
        if (u && is_write(req))
                reply_error(req, 405, "UNSUPPORTED",
                            "this project is a pull-through cache of another registry: pushes and deletes are refused",
                            u->conf.project);
}

/* ---- metrics ---- */

void pullthrough_metrics(pullthrough_t *p, FILE *f) {
        if (!p)
                return;
        fputs("# HELP berth_proxy_requests_total Pulls of manifests and blobs in proxy projects, by how they were "
              "answered.\n# TYPE berth_proxy_requests_total counter\n", f);
        pthread_mutex_lock(&p->lock);
        for (upstream_t *u = p->ups; u; u = u->next)
                for (int i = 0; u->current && i < _RES_MAX; i++)
                        fprintf(f, "berth_proxy_requests_total{upstream=\"%s\",result=\"%s\"} %" PRIuFAST64 "\n",
                                u->conf.project, RES_NAMES[i], atomic_load(&u->n[i]));
        fputs("# HELP berth_proxy_fetched_bytes_total Bytes fetched from upstream registries.\n"
              "# TYPE berth_proxy_fetched_bytes_total counter\n", f);
        for (upstream_t *u = p->ups; u; u = u->next)
                if (u->current)
                        fprintf(f, "berth_proxy_fetched_bytes_total{upstream=\"%s\"} %" PRIuFAST64 "\n",
                                u->conf.project, atomic_load(&u->bytes));
        /* what each upstream last said of its pull rate limit (only those that said) */
        fputs("# HELP berth_proxy_ratelimit_limit Pulls the upstream allows per window (its RateLimit-Limit).\n"
              "# TYPE berth_proxy_ratelimit_limit gauge\n", f);
        for (upstream_t *u = p->ups; u; u = u->next) {
                registry_ratelimit_t rl;
                if (!u->current || !u->reg)
                        continue;
                registry_ratelimit(u->reg, &rl);
                if (rl.when && rl.limit >= 0)
                        fprintf(f, "berth_proxy_ratelimit_limit{upstream=\"%s\"} %" PRId64 "\n", u->conf.project,
                                rl.limit);
        }
        fputs("# HELP berth_proxy_ratelimit_remaining Pulls the upstream said are left in its window (its "
              "RateLimit-Remaining).\n# TYPE berth_proxy_ratelimit_remaining gauge\n", f);
        for (upstream_t *u = p->ups; u; u = u->next) {
                registry_ratelimit_t rl;
                if (!u->current || !u->reg)
                        continue;
                registry_ratelimit(u->reg, &rl);
                if (rl.when && rl.remaining >= 0)
                        fprintf(f, "berth_proxy_ratelimit_remaining{upstream=\"%s\"} %" PRId64 "\n",
                                u->conf.project, rl.remaining);
        }
        pthread_mutex_unlock(&p->lock);
}

int pullthrough_stats(pullthrough_t *p, const char *project, pullthrough_stats_t *ret) {
        upstream_t *u;
        registry_ratelimit_t rl = { .limit = -1, .remaining = -1 };

        if (!ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        ret->ratelimit_limit = ret->ratelimit_remaining = -1;
        if (!p || !project || !(u = find_project(p, project, strlen(project))))
                return 0;
        ret->hits = atomic_load(&u->n[RES_HIT]);
        ret->misses = atomic_load(&u->n[RES_MISS]);
        ret->revalidations = atomic_load(&u->n[RES_REVALIDATED]);
        ret->stale = atomic_load(&u->n[RES_STALE]);
        ret->errors = atomic_load(&u->n[RES_ERROR]);
        ret->bytes_fetched = atomic_load(&u->bytes);
        pthread_mutex_lock(&p->lock);
        ret->broken = u->broken;
        if (u->reg)
                registry_ratelimit(u->reg, &rl);
        pthread_mutex_unlock(&p->lock);
        if (rl.when) {
                ret->ratelimit_limit = rl.limit;
                ret->ratelimit_remaining = rl.remaining;
                ret->ratelimit_time = (int64_t) rl.when;
        }
        return 1;
}

/* ---- life ---- */

int pullthrough_new(server_t *srv, pullthrough_t **ret) {
        pullthrough_t *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->srv = srv;
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->reload_lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        open_key(p);
        for (size_t i = 0; i < WORKERS; i++) {
                if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
                        break;
                p->n_threads++;
        }
        if (p->n_threads == 0) {
                pullthrough_free(p);
                return -EAGAIN;
        }
        *ret = p;
        return 0;
}

void pullthrough_drain(pullthrough_t *p) {
        flight_t *q;

        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);
        p->n_threads = 0;
        /* what no thread took: its waiters resumed with 503 */
        pthread_mutex_lock(&p->lock);
        q = p->qhead;
        p->qhead = p->qtail = NULL;
        p->queued = 0;
        pthread_mutex_unlock(&p->lock);
        while (q) {
                flight_t *next = q->qnext;
                q->err = -ESHUTDOWN;
                q->result = RES_ERROR;
                flight_land(p, q);
                q = next;
        }
}

pullthrough_t *pullthrough_free(pullthrough_t *p) {
        if (!p)
                return NULL;
        pullthrough_drain(p);
        while (p->ups) {
                upstream_t *u = p->ups;
                p->ups = u->next;
                upstream_free(u);
        }
        while (p->stale) {
                stale_key_t *s = p->stale;
                p->stale = s->next;
                free(s->key);
                free(s);
        }
        secretbox_free(p->sb);
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->reload_lock);
        pthread_cond_destroy(&p->cond);
        free(p);
        return NULL;
}
