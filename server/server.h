/* server/server.h: berthd internals shared by the server's files. Not a public API. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <microhttpd.h>
#include <jansson.h>
#include "common/digest.h"
#include "storage/meta.h"
#include "storage/store.h"
#include "storage/store.h"
#include "auth/auth.h"
#include "server/dbconf.h"

typedef struct config {
        char *listen_host;       /* "0.0.0.0", "::1", … */
        uint16_t port;
        char *data_dir;
        char *tls_cert, *tls_key;
        char **tls_sans;
        size_t n_tls_sans;
        bool insecure_http;
        bool read_only;           /* --read-only: pulls only, writes 405, no background writes */
        int log_level;
        unsigned threads;
        bool auth_none;
        bool auth_token;          /* --auth token: Bearer challenges (see server/token.c) */
        bool delete_enabled;
        uint64_t upload_max_age;  /* seconds */
        unsigned grace;           /* seconds to drain on SIGTERM */
        uint64_t gc_interval;     /* seconds between the server's GC runs; 0: none */
        uint64_t gc_grace;        /* the grace period of those runs */
        bool gc_delete_untagged;  /* those runs remove untagged manifests */
        uint64_t retention_interval; /* seconds between the server's retention runs; 0: none */
        uint64_t blob_max_size;   /* bytes; larger uploads get 413 */
        unsigned max_requests;    /* requests in flight before 429 */
        unsigned max_conns;       /* open connections in all */
        unsigned max_conns_per_ip; /* open connections per peer address; 0: no limit */
        unsigned header_timeout;  /* seconds for the TLS handshake and a request head */
        unsigned body_timeout;    /* seconds a body or an answer may stall */
        struct proxy_cidrs *trusted_proxies; /* NULL: none (server/proxy.h) */
        unsigned token_rate;      /* /auth/token per second and address; 0: auth's default */
        unsigned token_burst;     /* ... at once; 0: auth's default */
        char *metrics_host;       /* --metrics-listen; NULL: no metrics listener */
        uint16_t metrics_port;
        bool metrics_listen_set;  /* given by flag or environment, not the default */
        int log_format;           /* LOG_FORMAT_* (common/log.h) */
        char *db_spec;            /* --db / BERTH_DB as given; NULL: the default */
        const char *db_what;      /* which of the two gave it (messages) */
        dbconf_t db;              /* the database, resolved (server/dbconf.h) */
        struct proxy_cidrs *webhook_allow; /* --webhook-allow-cidr; NULL: none */
        uint64_t webhook_max_age;  /* seconds an event is tried for */
        uint64_t webhook_backoff_min, webhook_backoff_max; /* seconds */
        uint64_t webhook_pull_interval; /* seconds between pull-event flushes */
        char *storage;            /* --storage / BERTH_STORAGE; NULL: file */
        char *s3_ca;              /* --s3-ca: CA bundle for the S3 endpoint */
        bool s3_redirect;         /* --s3-redirect: blob GETs answered by 307 */
        unsigned s3_redirect_ttl; /* seconds a presigned URL is valid */
} config_t;

/* 0 and a filled config, or an error printed to stderr and <0. Handles --help/--version
 * by printing and returning 1. argv excludes the subcommand. */
int config_parse(int argc, char **argv, config_t *ret);
/* The blob store under data_dir with its driver chosen by storage (NULL or "file":
 * the directory; "s3://..."); an error said on stderr. */
int config_store_open(const char *data_dir, const char *storage, const char *ca_file, store_t **ret);
void config_done(config_t *c);
void config_usage(FILE *f);

typedef struct server {
        config_t *cfg;
        store_t *store;
        /* The process's one database (storage/db), opened by main and shared by
         * auth, the per-thread metadata, metrics and upload expiry; NULL: auth's
         * (auth_db: the unit tests open auth on a data directory). */
        db_t *db;
        pthread_key_t meta_key;      /* per-thread meta_t (its connection: the thread's own) */
        bool meta_ready;             /* meta_key created (server_meta_init) */
        atomic_bool db_down;         /* /readyz found the database unreachable (logged once) */
        auth_t *auth;
        struct MHD_Daemon *daemon;
        struct MHD_Response *oom_response; /* made at start: the answer when no other can be made */
        atomic_bool draining;
        atomic_bool stopping;        /* the drain's grace is over: nothing waits anew */
        atomic_uint_fast64_t next_request_id;
        atomic_uint active_requests;
        atomic_uint in_flight;       /* requests received whole and not yet answered */
        atomic_uint fetch_threads;   /* blob reads from the object store on threads of their own
                                      * (server/reply.c), awaited before the store closes */
        atomic_uint route_waits;     /* connections a route suspended (req_suspend), not yet
                                      * called again: the daemon stops only without any */
        struct conns *conns;         /* connection admission (server/conns.h) */
        struct webhooks *webhooks;   /* the webhook sender (server/webhook.h); NULL: none */
        struct pullthrough *pullthrough; /* the pull-through cache (server/pullthrough.h); NULL: none */
        struct pulls *pulls;         /* pull counts per manifest (server/pulls.h); NULL: none */
        /* Test hook: the clock (unix seconds) of auth (auth_options_t.now), the store
         * (store_set_clock: upload expiry) and the token endpoint. NULL: time(NULL). */
        time_t (*now)(void *userdata);
        void *now_userdata;
} server_t;

/* ---- per-thread metadata and the request's inputs (server/request.c) ---- */
/* The database: srv->db, else auth's. */
db_t *server_db(server_t *srv);
/* The calling thread's metadata, on its own connection, opened on first use. On a
 * shared database (PostgreSQL) a connection found lost is reopened here first
 * (db_conn_get's repair). 0, or <0: BERTH_EDBDOWN while the database does not
 * answer (503), another error. */
int server_meta_get(server_t *srv, meta_t **ret);
/* The calling thread's own connection (meta_open_thread's) on db, reopened if it
 * was lost (a shared database only; a no-op on SQLite). 0, or BERTH_EDBDOWN while
 * the database does not answer, or another error. */
int server_thread_conn_check(db_t *db);
/* server_meta_get, or NULL on failure (logged). */
meta_t *server_meta(server_t *srv);

/* The per-thread key behind server_meta: made by http_start unless made already
 * (berthd makes it first: its start-time upload expiry runs before the listener
 * opens); a second call does nothing. */
int server_meta_init(server_t *srv);
/* Also frees the calling thread's own metadata (the main thread's: upload expiry).
 * http_drain_and_stop calls it; a second call, or one without init, does nothing. */
void server_meta_done(server_t *srv);
/* The server's clock: srv->now, else time(NULL). */
time_t server_now(const server_t *srv);

typedef struct request request_t;

/* server_meta_get for a route: NULL when it failed, the error answered (503 for an
 * unreachable database). */
meta_t *request_meta(request_t *req);

/* route_ops_t.flags */
enum {
        ROUTE_OPEN = 1u << 0, /* no access check (probes; the token endpoint checks itself) */
        ROUTE_WRITE = 1u << 1, /* changes the registry: refused in read-only mode (--read-only) */
};

/* What a route needs and does at each phase of a request. actions: what the caller
 * must be allowed in req->repo (AUTH_PULL, AUTH_PUSH, AUTH_DELETE; for a route
 * without a repository, in the registry), checked by server/access.c before begin.
 * begin: headers are in; return to read the body (data is then called per piece)
 * or queue an answer with reply_*(). data returns how much of the piece it took:
 * less than all only after suspending the connection (req_suspend), and the rest is
 * given again once it is resumed. end: the body is complete (called only when no
 * answer is queued yet); having suspended the connection, it is called again once
 * resumed. State a route keeps across the phases goes in req->state, which cleanup
 * frees. */
typedef struct route_ops {
        const char *name;
        unsigned actions;
        unsigned flags;
        void (*begin)(request_t *req);
        size_t (*data)(request_t *req, const char *buf, size_t len);
        void (*end)(request_t *req);
        void (*cleanup)(request_t *req); /* may be NULL; always called at the end */
} route_ops_t;

typedef enum {
        BODY_IGNORE,   /* discard what arrives */
        BODY_BUFFER,   /* keep in req->body up to req->body_max */
        BODY_HANDLER,  /* hand to ops->data */
} body_mode_t;

struct request {
        server_t *srv;
        struct MHD_Connection *conn;
        char id[20];
        const char *method;       /* borrowed from MHD */
        char *path;               /* copy of the URL path */
        char *repo;               /* repository name, validated */
        char *ref;                /* tag, digest or uuid: the last path segment */
        const route_ops_t *ops;
        bool is_head;
        char addr[48];            /* client address */
        auth_result_t who;        /* the caller, after access control */
        struct timespec started;
        bool in_flight;           /* counted in srv->in_flight */
        uint64_t bytes_in;        /* body bytes received */
        uint64_t bytes_out;       /* length of the answer's body */

        /* body */
        body_mode_t body_mode;
        char *body;
        size_t body_len, body_cap, body_max;
        bool body_too_big;
        bool body_no_memory;     /* BODY_BUFFER: the buffer could not grow (answered 500) */
        uint64_t content_length;  /* UINT64_MAX when absent */

        /* answer */
        struct MHD_Response *response;
        unsigned status;
        const char *err_code;     /* for the access log */

        /* the route's own state across phases (ops->cleanup frees it) */
        void *state;
        bool finished;            /* the whole body arrived and end() ran */

        /* credentials verified off the event loop (access_wait): the connection is
         * suspended until a verifier thread has the verdict */
        bool suspended;
        bool access_done, begun;  /* phases of the first call already run */
        bool route_wait;          /* suspended by its route (req_suspend), counted in srv->route_waits */
        auth_job_t *auth_job;
        /* takes the verdict when MHD calls again (or the outcome of a route's begin
         * that waited: req_suspend_then) */
        void (*auth_resume)(request_t *req);
        /* a pull-through fetch this request waited for (server/pullthrough.c): its outcome */
        int proxy_err;
        bool proxy_streamable;    /* a blob GET without Range: may read a blob still arriving */
        struct blob_stream *proxy_stream; /* that blob, handed over when its size is known */
        char **proxy_tags;        /* tags/list?refresh: the upstream's tags, sorted */
};

/* ---- answers (server/reply.c) ---- */
/* The OCI error format: {"errors":[{"code","message","detail"}]} */
void reply_error(request_t *req, unsigned status, const char *code, const char *message,
                 const char *detail);
/* Map a berth/-errno code to an OCI error answer. */
void reply_errno(request_t *req, int err, const char *detail);
void reply_empty(request_t *req, unsigned status);
void reply_json(request_t *req, unsigned status, json_t *body, const char *content_type); /* steals body */
void reply_buffer(request_t *req, unsigned status, const void *buf, size_t len,
                  const char *content_type);
/* The same for bytes that live as long as the process (compiled in): not copied. */
void reply_static(request_t *req, unsigned status, const void *buf, size_t len, const char *content_type);
/* Serve len bytes of fd from off; takes the fd. */
void reply_fd(request_t *req, unsigned status, int fd, uint64_t off, uint64_t len);
/* A blob of a driver without files (S3), asked of the store off the event loop
 * (server/reply.c). blob_fetch_start suspends req (req_suspend) while a thread of
 * its own asks the store for blob d: its size (stat_only: a HEAD) or the body [off,
 * off+len), read whole when it is one read block (8 MiB) or less, else streamed; req
 * is resumed once, when the outcome is known (the first bytes of a large body), and
 * the route's end then calls blob_fetch_result: 0 (*ret_size: the object's size
 * when stat_only), -ENOENT (no object), <0 (the store failed: nothing sent yet). 0:
 * reply_blob_fetched hands the body to the answer (taking f), or reply_blob_head
 * answers a HEAD of len bytes. blob_fetch_start: 0 suspended (*ret owned by the
 * caller: blob_fetch_free), <0 not (answer it). */
typedef struct blob_fetch blob_fetch_t;
int blob_fetch_start(request_t *req, store_t *st, const digest_t *d, bool stat_only, uint64_t off, uint64_t len,
                     blob_fetch_t **ret);
int blob_fetch_result(blob_fetch_t *f, uint64_t *ret_size);
void reply_blob_fetched(request_t *req, unsigned status, blob_fetch_t *f);
/* A small body read whole (len of one read block or less, blob_fetch_result 0):
 * its bytes, taken (the caller frees), *ret_len their count; NULL otherwise. */
char *blob_fetch_take(blob_fetch_t *f, size_t *ret_len);
void reply_blob_head(request_t *req, unsigned status, uint64_t len);
blob_fetch_t *blob_fetch_free(blob_fetch_t *f); /* NULL-safe, returns NULL */
/* A body of len bytes produced by fn (libmicrohttpd's content reader); free_fn(cls)
 * when the answer is done with, or at once when it cannot be made. */
void reply_callback(request_t *req, unsigned status, uint64_t len, MHD_ContentReaderCallback fn, void *cls,
                    MHD_ContentReaderFreeCallback free_fn);
void reply_header(request_t *req, const char *name, const char *value);
void reply_headerf(request_t *req, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* A header or query parameter of the request (borrowed from libmicrohttpd), or NULL. */
/* Who makes a change, for the events it queues (storage/meta.h): the caller's name
 * (none when anonymous), the client's address, the server's clock. */
meta_origin_t req_origin(const request_t *req);
const char *req_header(request_t *req, const char *name);
const char *req_query(request_t *req, const char *name);

/* ---- routes (server/routes.c and the area files) ---- */
/* Resolve req->path + method to req->ops, filling repo/ref; answers errors itself. */
void route_request(request_t *req);

extern const route_ops_t route_base, route_health, route_ready, route_catalog,
        route_tags_list, route_blob_get, route_blob_delete, route_upload_start,
        route_upload_patch, route_upload_put, route_upload_status, route_upload_delete,
        route_manifest_get, route_manifest_put, route_manifest_delete, route_referrers;
/* GET/HEAD of the web UI (server/ui.c): "/", "/ui" and everything under "/ui/". */
extern const route_ops_t route_ui;
/* GET/POST /auth/token: the Docker token endpoint (server/token.c); needs no auth. */
extern const route_ops_t route_token;

/* GET/HEAD of a manifest or a blob answered from the store (manifests.c, blobs.c):
 * what the routes do, and what a pull-through request does once its fetch ended. */
void manifest_get_local(request_t *req);
void blob_get_local(request_t *req);
/* tags/list (listing.c): from the store; or over the upstream's sorted list all
 * (a proxy project's ?refresh), paginated by n and last as a local listing is. */
void tags_list_local(request_t *req);
void tags_list_answer(request_t *req, char **all);

/* A route waits, its connection suspended, for work of its own off the event loop
 * (a body's parts sent to the object store): req_suspend(req) from its data or end,
 * req_resume(req) from the thread that did the work, once. The pair fits
 * mpupload_wait's callbacks. */
void req_suspend(void *req);
void req_resume(void *req);
/* The same from a route's begin: once resumed, then(req) is called on the
 * event-loop thread to go on (it answers, or leaves the body to be read). */
void req_suspend_then(request_t *req, void (*then)(request_t *req));
/* req_suspend_then, and fn(req) run on a detached thread of its own meanwhile; fn's
 * last touch of req is req_resume(req). 0, or -errno with no thread started and req
 * still suspended: the caller records the failure for then and resumes it. */
int req_spawn_then(request_t *req, void (*then)(request_t *req), void *(*fn)(void *req));
/* While the server drains, a route must not wait anew (it answers instead): the daemon
 * stops once every connection suspended so far was called again. */
static inline bool req_may_wait(const request_t *req) {
        return !atomic_load(&req->srv->draining);
}

/* Access control for a routed request (server/access.c): 0 allowed, -1 answered,
 * 1 suspended until the credentials are verified (MHD calls again; see http.c). */
int access_check(request_t *req);
/* Suspends req until a verifier thread ran job; resume(req) then takes the verdict
 * (req->auth_job) on the next call of the access handler. 1 suspended, or <0 when
 * the job could not be queued (BERTH_EBUSY: answer 429; -ESHUTDOWN): the job is
 * freed and the caller answers. */
int access_wait(request_t *req, auth_job_t *job, void (*resume)(request_t *req));
/* May the caller pull from repo (mount sources)? */
bool access_may_pull(request_t *req, const char *repo);
/* For _catalog: 1 the caller may pull every repository, 0 only those under the
 * namespaces in *ret (sorted; free with meta_strv_free), <0 error. */
int access_visible_projects(request_t *req, char ***ret);
void access_audit(request_t *req, const char *action, const char *detail);

/* Upload expiry, called from the main loop. */
void uploads_expire(server_t *srv);
