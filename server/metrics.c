/* server/metrics.c: request counters and the /metrics listener.
 *
 * Counters live in one static table, route x method, updated with relaxed atomic
 * adds by whichever worker thread ends a request: no lock on the request path.
 * Labels are bounded: the route's name (a fixed set), the method (seven values, the
 * rest "other"), the status class. Figures that exist elsewhere (connections, auth,
 * the metadata, the usage and quota per project the schema keeps) are read at
 * scrape time. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/conns.h"
#include "server/gc.h"
#include "server/metrics.h"
#include "server/pullthrough.h"
#include "server/pulls.h"
#include "storage/db.h"
#include "server/webhook.h"
#include "storage/webhook.h"

bool metrics_on;

#define ROUTES_MAX 48 /* slot 0: requests no route took, and any beyond the table */

enum { M_GET, M_HEAD, M_PUT, M_POST, M_PATCH, M_DELETE, M_OTHER, N_METHODS };
static const char *const method_names[N_METHODS] = { "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "other" };

/* upper bounds in seconds; one more bucket counts the rest (+Inf) */
static const double bucket_le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define N_BUCKETS ELEMENTSOF(bucket_le)

typedef struct cell {
        atomic_uint_fast64_t status[5];              /* 1xx .. 5xx */
        atomic_uint_fast64_t bucket[N_BUCKETS + 1];  /* not cumulative; summed at scrape */
        atomic_uint_fast64_t sum_ns;
} cell_t;

static _Atomic(const char *) route_names[ROUTES_MAX];
static cell_t cells[ROUTES_MAX][N_METHODS];
static atomic_uint_fast64_t bytes_in, bytes_out;
static time_t started_at;

static struct MHD_Daemon *daemon_;
static meta_t *scrape_meta; /* used by the listener's one thread only */

/* ---- berth_project_usage_* and berth_project_quota_bytes: bounded labels ---- */
#define USAGE_PROJECTS 1000  /* projects named; the rest summed under USAGE_OTHER */
#define USAGE_OTHER "_other" /* not a project name: those begin with a letter or digit */

static unsigned method_index(const char *m) {
        for (unsigned i = 0; i < M_OTHER; i++)
                if (strcmp(m, method_names[i]) == 0)
                        return i;
        return M_OTHER;
}

/* The route's slot: found by name, or taken (compare-and-swap) at its first request. */
static unsigned route_slot(const char *name) {
        if (!name)
                return 0;
        for (unsigned i = 1; i < ROUTES_MAX; i++) {
                const char *n = atomic_load_explicit(&route_names[i], memory_order_acquire);
                if (!n) {
                        const char *expected = NULL;
                        if (atomic_compare_exchange_strong(&route_names[i], &expected, name))
                                return i;
                        n = expected;
                }
                if (n == name || strcmp(n, name) == 0)
                        return i;
        }
        return 0;
}

void metrics_request_done(const request_t *req, double seconds) {
        cell_t *c = &cells[route_slot(req->ops ? req->ops->name : NULL)][method_index(req->method)];
        unsigned cls = req->status / 100, b = 0;
        uint64_t ns = seconds > 0 ? (uint64_t) (seconds * 1e9) : 0;

        if (cls >= 1 && cls <= 5)
                atomic_fetch_add_explicit(&c->status[cls - 1], 1, memory_order_relaxed);
        while (b < N_BUCKETS && seconds > bucket_le[b])
                b++;
        atomic_fetch_add_explicit(&c->bucket[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->sum_ns, ns, memory_order_relaxed);
        if (req->bytes_in)
                atomic_fetch_add_explicit(&bytes_in, req->bytes_in, memory_order_relaxed);
        if (req->bytes_out && !req->is_head)
                atomic_fetch_add_explicit(&bytes_out, req->bytes_out, memory_order_relaxed);
}

/* ---- the exposition ---- */

static void head(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *route_label(unsigned i) {
        const char *n = i ? atomic_load_explicit(&route_names[i], memory_order_acquire) : NULL;
        return n ? n : "none";
}

/* route names are ours (letters, digits, '-'); escaped all the same */
static void label_value(FILE *f, const char *v) {
        for (; *v; v++) {
                if (*v == '\\' || *v == '"')
                        fputc('\\', f);
                if (*v == '\n')
                        fputs("\\n", f);
                else
                        fputc(*v, f);
        }
}

static void labels(FILE *f, unsigned route, unsigned method) {
        fputs("{method=\"", f);
        fputs(method_names[method], f);
        fputs("\",route=\"", f);
        label_value(f, route_label(route));
        fputc('"', f);
}

static bool cell_used(const cell_t *c) {
        for (size_t b = 0; b <= N_BUCKETS; b++)
                if (atomic_load_explicit(&c->bucket[b], memory_order_relaxed))
                        return true;
        return false;
}

static void write_requests(FILE *f) {
        static const char *const classes[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

        head(f, "registry_http_requests_total", "counter",
             "HTTP requests answered, by method, route and status class.");
        for (unsigned r = 0; r < ROUTES_MAX; r++)
                for (unsigned m = 0; m < N_METHODS; m++) {
                        const cell_t *c = &cells[r][m];
                        if (!cell_used(c))
                                continue;
                        for (unsigned s = 0; s < 5; s++) {
                                uint64_t v = atomic_load_explicit(&c->status[s], memory_order_relaxed);
                                if (!v)
                                        continue;
                                fputs("registry_http_requests_total", f);
                                labels(f, r, m);
                                fprintf(f, ",code=\"%s\"} %" PRIu64 "\n", classes[s], v);
                        }
                }
        head(f, "registry_http_request_duration_seconds", "histogram",
             "Time from the request head to the end of the answer, by method and route.");
        for (unsigned r = 0; r < ROUTES_MAX; r++)
                for (unsigned m = 0; m < N_METHODS; m++) {
                        const cell_t *c = &cells[r][m];
                        uint64_t cum = 0;
                        if (!cell_used(c))
                                continue;
                        for (size_t b = 0; b <= N_BUCKETS; b++) {
                                cum += atomic_load_explicit(&c->bucket[b], memory_order_relaxed);
                                fputs("registry_http_request_duration_seconds_bucket", f);
                                labels(f, r, m);
                                if (b < N_BUCKETS)
                                        fprintf(f, ",le=\"%g\"} %" PRIu64 "\n", bucket_le[b], cum);
                                else
                                        fprintf(f, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
                        }
                        fputs("registry_http_request_duration_seconds_sum", f);
                        labels(f, r, m);
                        fprintf(f, "} %.9f\n", (double) atomic_load_explicit(&c->sum_ns, memory_order_relaxed) / 1e9);
                        fputs("registry_http_request_duration_seconds_count", f);
                        labels(f, r, m);
                        fprintf(f, "} %" PRIu64 "\n", cum);
                }
}

static void gauge(FILE *f, const char *name, const char *type, const char *help, uint64_t v) {
        head(f, name, type, help);
        fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* ---- registry_storage_action_seconds: the blob store's calls ---- */

static const double store_le[] = { 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define N_STORE_LE (sizeof(store_le) / sizeof(store_le[0]))
static struct {
        _Atomic uint64_t bucket[N_STORE_LE + 1]; /* per bucket; last: +Inf */
        _Atomic uint64_t sum_ns;
} store_cells[_STORE_ACT_MAX];

void metrics_store_observe(void *userdata, store_action_t a, uint64_t ns) {
        size_t b = 0;

        (void) userdata;
        if (a >= _STORE_ACT_MAX)
                return;
        while (b < N_STORE_LE && (double) ns / 1e9 > store_le[b])
                b++;
        atomic_fetch_add_explicit(&store_cells[a].bucket[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&store_cells[a].sum_ns, ns, memory_order_relaxed);
}

static void write_store(FILE *f) {
        head(f, "registry_storage_action_seconds", "histogram",
             "Time of the blob store's calls, by action (stat, open, put, commit, delete).");
        for (unsigned a = 0; a < _STORE_ACT_MAX; a++) {
                uint64_t cum = 0;
                for (size_t b = 0; b <= N_STORE_LE; b++) {
                        cum += atomic_load_explicit(&store_cells[a].bucket[b], memory_order_relaxed);
                        fprintf(f, "registry_storage_action_seconds_bucket{driver=\"filesystem\",action=\"%s\",le=",
                                store_action_names[a]);
                        if (b < N_STORE_LE)
                                fprintf(f, "\"%g\"} %" PRIu64 "\n", store_le[b], cum);
                        else
                                fprintf(f, "\"+Inf\"} %" PRIu64 "\n", cum);
                }
                fprintf(f, "registry_storage_action_seconds_sum{driver=\"filesystem\",action=\"%s\"} %.9f\n",
                        store_action_names[a],
                        (double) atomic_load_explicit(&store_cells[a].sum_ns, memory_order_relaxed) / 1e9);
                fprintf(f, "registry_storage_action_seconds_count{driver=\"filesystem\",action=\"%s\"} %" PRIu64 "\n",
                        store_action_names[a], cum);
        }
}

/* Garbage collection: this process's runs (the server's own, every --gc-interval). */
static void write_gc(FILE *f) {
        gc_stats_t g;
        uint64_t cum = 0;

        gc_stats(&g);
        head(f, "berth_gc_runs_total", "counter", "Garbage collection runs of this process, by result.");
        fprintf(f, "berth_gc_runs_total{result=\"ok\"} %" PRIu64 "\n", g.ok);
        fprintf(f, "berth_gc_runs_total{result=\"failed\"} %" PRIu64 "\n", g.failed);
        head(f, "berth_gc_duration_seconds", "histogram", "Time of this process's garbage collection runs.");
        for (size_t b = 0; b <= GC_DURATION_BUCKETS; b++) {
                cum += g.duration_bucket[b];
                if (b < GC_DURATION_BUCKETS)
                        fprintf(f, "berth_gc_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", gc_duration_le[b], cum);
                else
                        fprintf(f, "berth_gc_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        fprintf(f, "berth_gc_duration_seconds_sum %.6f\n", g.duration_sum);
        fprintf(f, "berth_gc_duration_seconds_count %" PRIu64 "\n", cum);
        gauge(f, "berth_gc_freed_bytes_total", "counter",
              "Bytes of blobs (and of blob files without metadata) garbage collection removed.", g.freed_bytes);
        gauge(f, "berth_gc_freed_blobs_total", "counter",
              "Blobs (and blob files without metadata) garbage collection removed.", g.freed_blobs);
}

/* The metadata database: transactions (count and time), busy and lost connections. */
static void write_db(FILE *f, db_t *db) {
        db_stats_t st;
        uint64_t cum = 0;

        db_stats(db, &st);
        head(f, "berth_db_transactions_total", "counter", "Metadata write transactions ended, by result.");
        fprintf(f, "berth_db_transactions_total{result=\"commit\"} %" PRIu64 "\n", st.commits);
        fprintf(f, "berth_db_transactions_total{result=\"rollback\"} %" PRIu64 "\n", st.rollbacks);
        head(f, "berth_db_transaction_seconds", "histogram",
             "Time from the start of a metadata write transaction (its wait for the write lock included) to its end.");
        for (size_t b = 0; b <= DB_TX_BUCKETS; b++) {
                cum += st.tx_bucket[b];
                if (b < DB_TX_BUCKETS)
                        fprintf(f, "berth_db_transaction_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", db_tx_bucket_le[b],
                                cum);
                else
                        fprintf(f, "berth_db_transaction_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        fprintf(f, "berth_db_transaction_seconds_sum %.9f\n", st.tx_seconds);
        fprintf(f, "berth_db_transaction_seconds_count %" PRIu64 "\n", cum);
        gauge(f, "berth_db_busy_total", "counter",
              "Metadata operations that gave up on a lock held past the busy timeout (answered 429, retryable).",
              st.busy);
        gauge(f, "berth_db_unreachable_total", "counter",
              "Metadata operations that found the database unreachable (answered 503).", st.down);
        gauge(f, "berth_db_reconnects_total", "counter", "Database connections reopened after a loss.",
              st.reopened);
        head(f, "berth_db_info", "gauge", "The metadata engine; the value is always 1.");
        fprintf(f, "berth_db_info{engine=\"%s\"} 1\n", db_engine_name(db));
}

static int cmp_usage_bytes(const void *x, const void *y) {
        const usage_project_t *a = x, *b = y;

        if (a->bytes != b->bytes)
                return a->bytes > b->bytes ? -1 : 1;
        return strcmp(a->project, b->project);
}

static int cmp_usage_name(const void *x, const void *y) {
        return strcmp(((const usage_project_t *) x)->project, ((const usage_project_t *) y)->project);
}

/* Keeps the max largest projects of v (by bytes; by name among equals) and sums
 * the others into one more entry named USAGE_OTHER (its blobs and bytes are sums:
 * a blob two of them share counts twice there; it has no quota). v is sorted by
 * name after, that entry last. *n: entries in, entries out. v must have room for
 * max + 1. */
void metrics__usage_fold(usage_project_t *v, size_t *n, size_t max) {
        usage_project_t other = { .project = USAGE_OTHER, .quota = USAGE_UNLIMITED };

        if (*n <= max) {
                qsort(v, *n, sizeof(*v), cmp_usage_name);
                return;
        }
        qsort(v, *n, sizeof(*v), cmp_usage_bytes);
        for (size_t i = max; i < *n; i++) {
                other.blobs += v[i].blobs;
                other.bytes += v[i].bytes;
        }
        qsort(v, max, sizeof(*v), cmp_usage_name);
        v[max] = other;
        *n = max + 1;
}

/* The figures the schema keeps (storage/usage.h), read at each scrape: one read of
 * the per-project rows, the same berthd usage prints. */
static int usage_read(usage_project_t **ret, size_t *ret_n) {
        usage_project_t *v = NULL, *nv;
        size_t n = 0;
        int r;

        r = usage_list(scrape_meta, &v, &n);
        if (r < 0)
                return r;
        if (n > USAGE_PROJECTS) { /* room for USAGE_OTHER */
                nv = reallocarray(v, n + 1, sizeof(*v));
                if (!nv) {
                        free(v);
                        return -ENOMEM;
                }
                v = nv;
        }
        metrics__usage_fold(v, &n, USAGE_PROJECTS);
        *ret = v;
        *ret_n = n;
        return 0;
}

static void write_usage(FILE *f, const usage_project_t *v, size_t n) {
        head(f, "berth_project_usage_bytes", "gauge",
             "Bytes of the distinct blobs each project's repositories reference (as berthd usage counts "
             "them, kept exactly by the metadata); the 1000 largest projects named, the rest summed under "
             "project=\"_other\".");
        for (size_t i = 0; i < n; i++) {
                fputs("berth_project_usage_bytes{project=\"", f);
                label_value(f, v[i].project);
                fprintf(f, "\"} %" PRIu64 "\n", v[i].bytes);
        }
        head(f, "berth_project_usage_blobs", "gauge",
             "Distinct blobs (layers, configs, manifests) each project's repositories reference, counted with "
             "berth_project_usage_bytes.");
        for (size_t i = 0; i < n; i++) {
                fputs("berth_project_usage_blobs{project=\"", f);
                label_value(f, v[i].project);
                fprintf(f, "\"} %" PRIu64 "\n", v[i].blobs);
        }
        head(f, "berth_project_quota_bytes", "gauge",
             "The storage quota in force for each project named in berth_project_usage_bytes that has one "
             "(its own, or the default); projects without a quota are left out.");
        for (size_t i = 0; i < n; i++) {
                if (v[i].quota == USAGE_UNLIMITED)
                        continue;
                fputs("berth_project_quota_bytes{project=\"", f);
                label_value(f, v[i].project);
                fprintf(f, "\"} %" PRIu64 "\n", v[i].quota);
        }
}

int metrics_write(server_t *srv, FILE *f) {
        uint64_t open = 0, refused = 0;
        auth_stats_t as = { 0 };
        meta_stats_t ms = { 0 };
        int r = 0;

        write_requests(f);
        write_store(f);
        write_gc(f);
        gauge(f, "registry_http_in_flight_requests", "gauge",
              "Requests received whole and not yet answered.", atomic_load(&srv->in_flight));
        gauge(f, "berth_http_received_bytes_total", "counter", "Request body bytes received.",
              atomic_load_explicit(&bytes_in, memory_order_relaxed));
        gauge(f, "berth_http_sent_bytes_total", "counter",
              "Answer body bytes sent (the full length of an answer cut short).",
              atomic_load_explicit(&bytes_out, memory_order_relaxed));
        conns_stats(srv->conns, &open, &refused);
        gauge(f, "berth_connections_open", "gauge", "Client connections open.", open);
        gauge(f, "berth_connections_refused_total", "counter",
              "Connections refused over the per-address limit (--max-conns-per-ip).", refused);
        if (srv->auth) {
                auth_stats(srv->auth, &as);
                head(f, "berth_auth_results_total", "counter",
                     "Credential checks by result: success and failure verify a secret, cache_hit reuses a verdict, throttled and busy are refused before a check.");
                fprintf(f, "berth_auth_results_total{result=\"success\"} %" PRIu64 "\n", as.successes);
                fprintf(f, "berth_auth_results_total{result=\"failure\"} %" PRIu64 "\n", as.failures);
                fprintf(f, "berth_auth_results_total{result=\"cache_hit\"} %" PRIu64 "\n", as.cache_hits);
                fprintf(f, "berth_auth_results_total{result=\"throttled\"} %" PRIu64 "\n", as.throttled);
                fprintf(f, "berth_auth_results_total{result=\"busy\"} %" PRIu64 "\n", as.verify_busy);
                gauge(f, "berth_auth_argon2_verifications_total", "counter", "argon2id verifications run.",
                      as.argon2_verifications);
                gauge(f, "berth_auth_argon2_queue_depth", "gauge",
                      "Password verifications waiting for a verifier thread.", as.queue_depth);
        }
        /* on the process's one database, with a connection of the listener thread's own */
        if (!scrape_meta)
                r = server_db(srv) ? meta_open_thread(server_db(srv), &scrape_meta) : -ENOENT;
        else
                r = server_thread_conn_check(server_db(srv));
        if (r == 0 && (r = meta_stats(scrape_meta, &ms)) == 0) {
                db_conn_t *c = NULL;
                int64_t depth = 0;

                gauge(f, "berth_blobs_stored", "gauge", "Blobs in the store.", ms.blobs);
                gauge(f, "berth_blob_bytes_stored", "gauge", "Bytes of the blobs in the store.", ms.blob_bytes);
                gauge(f, "berth_uploads_in_progress", "gauge", "Upload sessions open.", ms.uploads);
                /* the listener thread's own connection (scrape_meta's) */
                if ((r = db_conn_get(server_db(srv), &c)) == 0) {
                        r = webhook_queue_depth(c, &depth);
                        db_conn_put(server_db(srv), c);
                }
                if (r == 0)
                        gauge(f, "berth_webhook_queue_depth", "gauge",
                              "Webhook deliveries waiting in the queue (shared by every replica on one database).",
                              (uint64_t) depth);
                if (r == 0) {
                        usage_project_t *v = NULL;
                        size_t n = 0;
                        if ((r = usage_read(&v, &n)) == 0)
                                write_usage(f, v, n);
                        free(v);
                }
        }
        {
                webhooks_stats_t ws;

                webhooks_stats(srv->webhooks, &ws);
                head(f, "berth_webhook_deliveries_total", "counter",
                     "Webhook delivery attempts by this process, by result: success (2xx), failure (retried), "
                     "gaveup (failed past --webhook-max-age).");
                fprintf(f, "berth_webhook_deliveries_total{result=\"success\"} %" PRIu64 "\n", ws.success);
                fprintf(f, "berth_webhook_deliveries_total{result=\"failure\"} %" PRIu64 "\n", ws.failure);
                fprintf(f, "berth_webhook_deliveries_total{result=\"gaveup\"} %" PRIu64 "\n", ws.gaveup);
                gauge(f, "berth_webhook_pulls_dropped_total", "counter",
                      "Manifest pulls not sent as pull events (the count table full, or the database down).",
                      ws.pulls_dropped);
        }
        gauge(f, "berth_pull_records_dropped_total", "counter",
              "Manifest pulls not recorded (pull times and counts for retention and the API): the count table "
              "was full, or the database did not take a flush.",
              pulls_dropped(srv->pulls));
        pullthrough_metrics(srv->pullthrough, f);
        gauge(f, "berth_metadata_up", "gauge", "1 when the metadata figures could be read at this scrape.",
              r == 0 ? 1 : 0);
        if (server_db(srv))
                write_db(f, server_db(srv));
        head(f, "berth_build_info", "gauge", "berthd's version; the value is always 1.");
        fprintf(f, "berth_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
        gauge(f, "berth_start_time_seconds", "gauge", "When berthd started, in seconds since the epoch.",
              (uint64_t) started_at);
        return ferror(f) ? -EIO : 0;
}

/* ---- the listener ---- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                              enum MHD_ResponseMemoryMode mode, const char *type) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
        enum MHD_Result r;

        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", type);
        r = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result on_scrape(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls) {
        static const char not_found[] = "only /metrics here\n", bad_method[] = "GET only\n";
        server_t *srv = cls;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        (void) version;
        (void) upload_data;
        if (!*req_cls) { /* the head: wait for the (empty) body */
                *req_cls = conn;
                return MHD_YES;
        }
        if (*upload_data_size) {
                *upload_data_size = 0; /* a body is dropped */
                return MHD_YES;
        }
        if (strcmp(url, "/metrics") != 0)
                return answer(conn, 404, (char *) not_found, sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT,
                              "text/plain");
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return answer(conn, 405, (char *) bad_method, sizeof(bad_method) - 1, MHD_RESPMEM_PERSISTENT,
                              "text/plain");
        f = open_memstream(&buf, &len);
        if (!f)
                return MHD_NO;
        r = metrics_write(srv, f);
        if (fclose(f) != 0 || r < 0) {
                free(buf);
                return MHD_NO;
        }
        return answer(conn, 200, buf, len, MHD_RESPMEM_MUST_FREE, "text/plain; version=0.0.4; charset=utf-8");
}

int metrics_start(server_t *srv) {
        const config_t *cfg = srv->cfg;
        struct sockaddr_storage ss = { 0 };
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

        started_at = time(NULL);
        if (!cfg->metrics_host)
                return 0;
        if (inet_pton(AF_INET6, cfg->metrics_host, &((struct sockaddr_in6 *) &ss)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *) &ss)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *) &ss)->sin6_port = htons(cfg->metrics_port);
                flags |= MHD_USE_IPv6;
        } else if (inet_pton(AF_INET, cfg->metrics_host, &((struct sockaddr_in *) &ss)->sin_addr) == 1) {
                ((struct sockaddr_in *) &ss)->sin_family = AF_INET;
                ((struct sockaddr_in *) &ss)->sin_port = htons(cfg->metrics_port);
        } else {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "metrics listen address '%s' is not an IP address",
                        cfg->metrics_host);
                return BERTH_ECONFIG;
        }
        daemon_ = MHD_start_daemon(flags, cfg->metrics_port, NULL, NULL, on_scrape, srv,
                                   /* through log_msg: escaped, JSON with --log-format json */
                                   MHD_OPTION_EXTERNAL_LOGGER, conns_mhd_log, NULL,
                                   MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                                   /* scrapers are few: a small, bounded listener */
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 16,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
                                   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (32 * 1024),
                                   MHD_OPTION_END);
        if (!daemon_)
                return -EADDRINUSE;
        metrics_on = true;
        return 0;
}

void metrics_stop(void) {
        if (daemon_)
                MHD_stop_daemon(daemon_);
        daemon_ = NULL;
        /* the listener's thread is gone: its connection is closed from here */
        scrape_meta = meta_free(scrape_meta);
}
