/* server/http.c: libmicrohttpd glue: the request life cycle, body streaming and
 * the access log. */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/socket.h>
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/conns.h"
#include "server/http.h"
#include "server/pullthrough.h"
#include "server/metrics.h"
#include "client/registry.h"
#include "server/proxy.h"
#include "server/server.h"

/* the largest body read only to be dropped after an early answer */
#define DISCARD_MAX (1024 * 1024)

static request_t *request_free(request_t *req) {
        if (!req)
                return NULL;
        if (req->ops && req->ops->cleanup)
                req->ops->cleanup(req);
        auth_job_free(req->auth_job);
        if (req->response)
                MHD_destroy_response(req->response);
        free(req->path);
        free(req->repo);
        free(req->ref);
        registry_strv_free(req->proxy_tags);
        if (req->body)
                explicit_bzero(req->body, req->body_cap);
        free(req->body);
        free(req);
        return NULL;
}

static int parse_content_length(request_t *req) {
        const char *v = req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long n;
        char *end;

        req->content_length = UINT64_MAX;
        if (!v)
                return 0;
        if (*v < '0' || *v > '9')
                return -EINVAL;
        errno = 0;
        n = strtoull(v, &end, 10);
        if (errno || *end)
                return -EINVAL;
        req->content_length = n;
        return 0;
}

/* Keep a body in memory, up to body_max. */
static void body_append(request_t *req, const char *buf, size_t len) {
        size_t need;

        if (req->body_too_big || req->body_no_memory)
                return;
        if (__builtin_add_overflow(req->body_len, len, &need) || need > req->body_max) {
                req->body_too_big = true;
                return;
        }
        if (need > req->body_cap) {
                size_t cap = req->body_cap ? req->body_cap : 4096;
                char *n;
                while (cap < need)
                        cap *= 2;
                if (cap > req->body_max)
                        cap = req->body_max;
                /* not realloc: the old copy may hold a password (token form) and is
                 * wiped before it is freed */
                n = malloc(cap);
                if (!n) {
                        req->body_no_memory = true;
                        return;
                }
                if (req->body) {
                        memcpy(n, req->body, req->body_len);
                        explicit_bzero(req->body, req->body_cap);
                        free(req->body);
                }
                req->body = n;
                req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, buf, len);
        req->body_len = need;
}

/* X-Forwarded-For values, in the order they came (at most XFF_MAX fields). */
#define XFF_MAX 16
typedef struct xff_fields {
        const char *v[XFF_MAX];
        size_t n;
        bool too_many;
} xff_fields_t;

static enum MHD_Result xff_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        xff_fields_t *x = cls;

        (void) kind;
        if (strcasecmp(key, "X-Forwarded-For") != 0)
                return MHD_YES;
        if (x->n == XFF_MAX) {
                x->too_many = true;
                return MHD_NO;
        }
        x->v[x->n++] = value ? value : "";
        return MHD_YES;
}

/* req->addr: the peer, or behind a trusted proxy the client its X-Forwarded-For
 * names. Every per-address rule (throttling, token issuance, audit) reads req->addr. */
static void client_addr(request_t *req) {
        const config_t *cfg = req->srv->cfg;
        proxy_addr_t peer, client;
        xff_fields_t x = { .n = 0 };
        int r;

        snprintf(req->addr, sizeof(req->addr), "?");
        if (!conn_peer(conn_of(req->conn), &peer)) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                if (!ci || proxy_addr_from_sockaddr(ci->client_addr, &peer) < 0)
                        return;
        }
        proxy_addr_format(&peer, req->addr, sizeof(req->addr));
        if (!proxy_cidrs_match(cfg->trusted_proxies, &peer))
                return;
        (void) MHD_get_connection_values(req->conn, MHD_HEADER_KIND, xff_collect, &x);
        r = x.too_many ? -EINVAL : proxy_client_addr(cfg->trusted_proxies, &peer, x.v, x.n, &client);
        if (r < 0) {
                /* the proxy passed on something it should not have: trust the peer */
                log_debug(LOG_SRC_SERVER, "req=%s malformed X-Forwarded-For from proxy %s: using the proxy's address",
                          req->id, req->addr);
                return;
        }
        if (r > 0) {
                char via[PROXY_ADDR_STRLEN];
                memcpy(via, req->addr, sizeof(via));
                proxy_addr_format(&client, req->addr, sizeof(req->addr));
                log_debug(LOG_SRC_SERVER, "req=%s client %s via proxy %s", req->id, req->addr, via);
        }
}

/* Probes must answer while the server sheds load (a liveness probe that fails gets
 * a healthy pod restarted), and a client turned away should still get its token. */
static bool never_shed(const request_t *req) {
        return req->ops == &route_health || req->ops == &route_ready || req->ops == &route_token;
}

/* Count the request as in flight: it has arrived whole and the server works on it.
 * A request still waiting for its body is not counted (a slow client is not load). */
static void in_flight_begin(request_t *req) {
        if (req->in_flight)
                return;
        req->in_flight = true;
        atomic_fetch_add(&req->srv->in_flight, 1);
}

static void in_flight_end(request_t *req) {
        if (req->in_flight)
                atomic_fetch_sub(&req->srv->in_flight, 1);
        req->in_flight = false;
}

static bool expects_body(request_t *req) {
        if (req->content_length == UINT64_MAX)
                return req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
        return req->content_length > 0;
}

static enum MHD_Result queue(request_t *req) {
        enum MHD_Result r;

        if (!req->response)
                reply_error(req, 500, "UNKNOWN", "no answer", NULL);
        if (!req->response) { /* no memory even for the error: the answer made at start */
                req->status = 500;
                return req->srv->oom_response ? MHD_queue_response(req->conn, 500, req->srv->oom_response) : MHD_NO;
        }
        /* the id of the access log line, for the client to quote */
        MHD_add_response_header(req->response, "X-Request-Id", req->id);
        r = MHD_queue_response(req->conn, req->status, req->response);
        MHD_destroy_response(req->response);
        req->response = NULL;
        return r;
}

/* The request was suspended while a verifier thread checks a password: it waits
 * and the server does no work for it, so it holds no slot of --max-requests (the
 * verification queue has its own bound: 429 when full). It counts again once
 * resumed. MHD calls the handler again with the verdict. */
static enum MHD_Result suspend_wait(request_t *req) {
        in_flight_end(req);
        return MHD_YES;
}

/* The headers are in: access control, then the route's begin. Returns what the
 * first call of the access handler returns; called again after a suspension
 * (each phase runs once). */
static enum MHD_Result headers_done(request_t *req) {
        if (!req->response && req->ops && !req->access_done) {
                req->access_done = true;
                if (access_check(req) > 0)
                        return suspend_wait(req); /* called again with the verdict */
        }
        if (!req->response && req->ops && req->ops->begin && !req->begun) {
                req->begun = true;
                req->ops->begin(req);
                if (req->suspended)
                        return suspend_wait(req);
        }
        if (req->response) {
                /* Answered from the headers alone. Queued now, the answer ends
                 * the connection, and a client still sending its body may see a
                 * reset instead of the answer. So a small body is read and
                 * dropped and the answer goes after it, on a connection that
                 * stays open; only a large or unbounded body is cut short. */
                if (req->content_length == UINT64_MAX ? req_header(req, "Transfer-Encoding") != NULL
                                                      : req->content_length > DISCARD_MAX)
                        return queue(req);
                return MHD_YES;
        }
        if (req->body_mode == BODY_BUFFER && req->content_length != UINT64_MAX &&
            req->content_length > req->body_max) {
                reply_errno(req, BERTH_ETOOBIG, NULL);
                return queue(req);
        }
        return MHD_YES;
}

/* The request_t of a request that could not have one (out of memory). */
static request_t no_request;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
        server_t *srv = cls;
        request_t *req = *req_cls;

        if (req == &no_request) /* its answer is queued: the rest of the body is dropped */
                return MHD_YES;
        if (!req) {
                req = calloc(1, sizeof(*req));
                if (!req) { /* answered, and the connection closed (its body unread) */
                        *req_cls = &no_request;
                        return srv->oom_response ? MHD_queue_response(conn, 500, srv->oom_response) : MHD_NO;
                }
                *req_cls = req;
                req->srv = srv;
                req->conn = conn;
                req->method = method;
                req->is_head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
                clock_gettime(CLOCK_MONOTONIC, &req->started);
                snprintf(req->id, sizeof(req->id), "%" PRIxFAST64,
                         atomic_fetch_add(&srv->next_request_id, 1) + 1);
                atomic_fetch_add(&srv->active_requests, 1);
                conn_request_started(conn_of(conn));
                /* from now on the connection may only stall for so long */
                (void) MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                                 srv->cfg->body_timeout);
                req->path = strdup(url);
                if (!req->path)
                        return queue(req); /* a 500 */
                client_addr(req);
                if (parse_content_length(req) < 0) {
                        reply_error(req, 400, "SIZE_INVALID", "invalid Content-Length", NULL);
                        return queue(req);
                }
                route_request(req);
                if (!req->response && srv->cfg->read_only && req->ops && (req->ops->flags & ROUTE_WRITE)) {
                        /* before access checks: nobody may write, whoever asks */
                        reply_error(req, 405, "UNSUPPORTED",
                                    "the registry is in read-only mode (maintenance): pushes and deletes are refused",
                                    NULL);
                        return queue(req);
                }
                /* mirrors (?ns=, docker's registry-mirrors) and proxy projects' refusals */
                pullthrough_route(req);
                if (!req->response && !never_shed(req) &&
                    atomic_load(&srv->in_flight) >= srv->cfg->max_requests) {
                        /* shed load: the client retries after a pause */
                        reply_error(req, 429, "TOOMANYREQUESTS", "too many requests in flight", NULL);
                        reply_header(req, "Retry-After", "1");
                        return queue(req);
                }
                if (!expects_body(req))
                        in_flight_begin(req);
                return headers_done(req);
        }

        if (req->suspended) {
                /* resumed: a verification ended (access_wait), its verdict first; or
                 * the route's own work (req_suspend): its body or its end goes on */
                void (*resume)(request_t *) = req->auth_resume;
                req->suspended = false;
                req->auth_resume = NULL;
                /* at work again: in flight as before it waited (see suspend_wait) */
                if (req->finished || !expects_body(req))
                        in_flight_begin(req);
                if (req->route_wait) {
                        req->route_wait = false;
                        atomic_fetch_sub(&req->srv->route_waits, 1);
                }
                if (resume) {
                        resume(req);
                        if (req->suspended)
                                return suspend_wait(req);
                        return req->finished ? queue(req) : headers_done(req);
                }
                if (req->finished) {
                        if (!req->response && req->ops && req->ops->end) {
                                req->ops->end(req);
                                if (req->suspended)
                                        return suspend_wait(req);
                        }
                        return queue(req);
                }
                /* the body's rest, given again */
        }

        if (*upload_data_size) {
                size_t len = *upload_data_size, took = len;
                *upload_data_size = 0;
                if (req->response) {
                        req->bytes_in += len;
                        return MHD_YES; /* answered already: discard the rest */
                }
                switch (req->body_mode) {
                case BODY_BUFFER:
                        body_append(req, upload_data, len);
                        break;
                case BODY_HANDLER:
                        took = req->ops->data(req, upload_data, len);
                        /* the rest comes again once the route resumes the connection */
                        *upload_data_size = len - took;
                        break;
                case BODY_IGNORE:
                        break;
                }
                req->bytes_in += took;
                if (req->suspended)
                        return suspend_wait(req);
                return MHD_YES;
        }

        in_flight_begin(req); /* the body is complete */
        if (!req->response) {
                if (req->body_mode == BODY_BUFFER && req->body_too_big)
                        reply_errno(req, BERTH_ETOOBIG, NULL);
                else if (req->body_mode == BODY_BUFFER && req->body_no_memory)
                        reply_errno(req, -ENOMEM, NULL);
                else if (req->ops && req->ops->end) {
                        req->finished = true;
                        req->ops->end(req);
                        if (req->suspended)
                                return suspend_wait(req); /* called again with the verdict */
                }
        }
        return queue(req);
}

void req_suspend(void *userdata) {
        request_t *req = userdata;

        req->suspended = true;
        req->route_wait = true;
        atomic_fetch_add(&req->srv->route_waits, 1);
        MHD_suspend_connection(req->conn);
}

void req_suspend_then(request_t *req, void (*then)(request_t *req)) {
        req->auth_resume = then;
        req_suspend(req);
}

int req_spawn_then(request_t *req, void (*then)(request_t *req), void *(*fn)(void *req)) {
        pthread_attr_t attr;
        pthread_t th;
        int r;

        req_suspend_then(req, then);
        r = pthread_attr_init(&attr);
        if (r == 0) {
                (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                r = pthread_create(&th, &attr, fn, req);
                (void) pthread_attr_destroy(&attr);
        }
        return -r;
}

void req_resume(void *userdata) {
        request_t *req = userdata;

        MHD_resume_connection(req->conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode why) {
        server_t *srv = cls;
        request_t *req = *req_cls;
        struct timespec now;
        double ms;

        /* the next request head is due within the header timeout */
        conn_request_done(srv->conns, conn_of(conn));
        if (req == &no_request)
                *req_cls = NULL;
        if (!req || req == &no_request)
                return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        ms = (double) (now.tv_sec - req->started.tv_sec) * 1e3 +
             (double) (now.tv_nsec - req->started.tv_nsec) / 1e6;
        /* probes come every few seconds: only worth a line when debugging */
        int prio = (req->ops == &route_health || req->ops == &route_ready) && req->status == 200
                           ? LOG_DEBUG : LOG_INFO;
        if (metrics_on)
                metrics_request_done(req, ms / 1e3);
        if (log_max_level >= prio && log_format == LOG_FORMAT_JSON) {
                const log_field_t f[] = {
                        LOG_STR("request_id", req->id), LOG_STR("method", req->method),
                        LOG_STR("route", req->ops ? req->ops->name : NULL), LOG_STR("repository", req->repo),
                        LOG_INT("status", req->status), LOG_STR("error", req->err_code),
                        LOG_INT("bytes_in", req->bytes_in), LOG_INT("bytes", req->is_head ? 0 : req->bytes_out),
                        LOG_DBL("duration_ms", ms), LOG_STR("user", req->who.name[0] ? req->who.name : NULL),
                        LOG_STR("client", req->addr),
                        LOG_INT("aborted", why != MHD_REQUEST_TERMINATED_COMPLETED_OK),
                        /* the route stands for the path; a request no route took has only its path */
                        LOG_STR("path", req->path ? req->path : "-"),
                };
                log_fields(prio, LOG_SRC_SERVER, "request", f, ELEMENTSOF(f) - (req->ops ? 1 : 0));
        } else if (log_max_level >= prio) {
                log_msg(prio, LOG_SRC_SERVER, "req=%s %s %s %s %s %u%s%s %.1fms%s", req->id, req->addr,
                        req->who.name[0] ? req->who.name : "-",
                        req->method, req->path ? req->path : "-", req->status, req->err_code ? " " : "",
                        req->err_code ? req->err_code : "", ms,
                        why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
        }
        in_flight_end(req);
        if (req->route_wait) /* ended while it waited */
                atomic_fetch_sub(&srv->route_waits, 1);
        *req_cls = request_free(req);
        atomic_fetch_sub(&srv->active_requests, 1);
}

/* Fit the connection limit in the open-file limit; start the connection registry. */
static int conns_start(server_t *srv) {
        config_t *cfg = srv->cfg;
        int r;

        r = conns_fit_open_files(&cfg->max_conns, cfg->max_requests, cfg->threads);
        if (r < 0)
                return r;
        if (cfg->max_conns <= cfg->max_requests)
                log_msg(LOG_NOTICE, LOG_SRC_SERVER,
                        "--max-conns %u is not above --max-requests %u: load is shed by refusing connections",
                        cfg->max_conns, cfg->max_requests);
        r = conns_new(&(conns_options_t) { .per_addr_max = cfg->max_conns_per_ip,
                                           .header_timeout = cfg->header_timeout,
                                           .trusted = cfg->trusted_proxies },
                      &srv->conns);
        if (r < 0)
                log_msg(LOG_ERR, LOG_SRC_SERVER, "starting the connection registry: %s", berth_strerror(r));
        return r;
}

int http_start(server_t *srv, const char *cert_pem, const char *key_pem) {
        struct sockaddr_storage ss = { 0 };
        /* suspend/resume: password verifications run off the worker threads */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                         MHD_ALLOW_SUSPEND_RESUME;
        int r;

        r = server_meta_init(srv);
        if (r < 0)
                return r;
        {
                /* request ids: a random start, so that ids from two runs differ */
                uint32_t seed = 0;
                if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
                        atomic_store(&srv->next_request_id, (uint_fast64_t) seed << 24);
        }
        if (inet_pton(AF_INET6, srv->cfg->listen_host, &((struct sockaddr_in6 *) &ss)->sin6_addr) == 1) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons(srv->cfg->port);
                flags |= MHD_USE_IPv6;
        } else if (inet_pton(AF_INET, srv->cfg->listen_host, &((struct sockaddr_in *) &ss)->sin_addr) == 1) {
                struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;
                s4->sin_family = AF_INET;
                s4->sin_port = htons(srv->cfg->port);
        } else {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "listen address '%s' is not an IP address",
                        srv->cfg->listen_host);
                return BERTH_ECONFIG;
        }
        flags |= MHD_USE_EPOLL;
        if (cert_pem)
                flags |= MHD_USE_TLS;
        r = conns_start(srv);
        if (r < 0)
                return r;
        if (!srv->oom_response) {
                static const char oom[] = "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":"
                                          "\"the registry is out of memory\"}]}\n";
                srv->oom_response = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *) oom,
                                                                    MHD_RESPMEM_PERSISTENT);
                if (!srv->oom_response ||
                    MHD_add_response_header(srv->oom_response, "Content-Type", "application/json") != MHD_YES ||
                    MHD_add_response_header(srv->oom_response, "Docker-Distribution-API-Version",
                                            "registry/2.0") != MHD_YES ||
                    MHD_add_response_header(srv->oom_response, "Connection", "close") != MHD_YES) {
                        if (srv->oom_response)
                                MHD_destroy_response(srv->oom_response);
                        srv->oom_response = NULL;
                        srv->conns = conns_free(srv->conns);
                        return -ENOMEM;
                }
        }

        srv->daemon = MHD_start_daemon(
                flags, srv->cfg->port, conns_accept, srv->conns, on_request, srv,
                MHD_OPTION_EXTERNAL_LOGGER, conns_mhd_log, NULL, /* first, to catch every message */
                MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) srv->cfg->threads,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                MHD_OPTION_NOTIFY_CONNECTION, conns_notify, srv->conns,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned int) srv->cfg->max_conns,
                /* per connection, and cleared by libmicrohttpd: bodies are gathered
                 * in our own buffers, so a small pool is enough */
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (64 * 1024),
                /* inactivity until the request head is in (the head's deadline is
                 * server/conns.c's); then --body-timeout, set per connection */
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) srv->cfg->header_timeout,
                MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
                cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert_pem,
                MHD_OPTION_HTTPS_MEM_KEY, key_pem,
                /* TLS 1.3, and TLS 1.2 with ECDHE and AEAD ciphers only (no CBC, no SHA-1 MAC,
                 * no static RSA key exchange, no finite-field DHE) */
                MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
                        "-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:"
                        "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA",
                MHD_OPTION_END);
        if (!srv->daemon) {
                MHD_destroy_response(srv->oom_response);
                srv->oom_response = NULL;
                srv->conns = conns_free(srv->conns);
                return -EADDRINUSE;
        }
        return 0;
}

/* The drain waits until *n is 0, having said what for (the count, then what). */
static void await_none(atomic_uint *n, const char *what) {
        if (atomic_load(n))
                log_msg(LOG_NOTICE, LOG_SRC_SERVER, "waiting for %u %s", atomic_load(n), what);
        while (atomic_load(n)) {
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

void http_drain_and_stop(server_t *srv) {
        struct timespec deadline, now;

        if (!srv->daemon)
                return;
        atomic_store(&srv->draining, true);
        /* stop accepting; connections in flight go on */
        (void) MHD_quiesce_daemon(srv->daemon);
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += srv->cfg->grace;
        for (;;) {
                const union MHD_DaemonInfo *di =
                        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
                unsigned active = atomic_load(&srv->active_requests);
                if ((!di || di->num_connections == 0) || active == 0)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec >= deadline.tv_sec) {
                        log_msg(LOG_WARNING, LOG_SRC_SERVER, "grace period over with %u requests in flight", active);
                        break;
                }
                struct timespec ts = { 0, 50 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        /* a blob body streaming from the object store suspends its reader no more
         * (server/reply.c): its transfer ends at its next wait */
        atomic_store(&srv->stopping, true);
        /* every verification ends and resumes its connection: none may stay
         * suspended when the daemon stops */
        auth_verify_drain(srv->auth);
        /* and every upstream fetch (server/pullthrough.h) */
        pullthrough_drain(srv->pullthrough);
        /* and every upload waiting for its parts to reach the object store: they end
         * (each within the driver's time limits), and no route waits anew meanwhile */
        await_none(&srv->route_waits, "request(s) waiting on the object store");
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
        /* blob reads from the object store whose answers ended (server/reply.c): each
         * gives up at its next byte, or within the driver's time limits */
        await_none(&srv->fetch_threads, "blob read(s) from the object store to end");
        srv->conns = conns_free(srv->conns);
        if (srv->oom_response)
                MHD_destroy_response(srv->oom_response);
        srv->oom_response = NULL;
        server_meta_done(srv);
}
