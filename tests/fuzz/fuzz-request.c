/* tests/fuzz/fuzz-request.c: libFuzzer target for berthd's whole request path: the
 * router, access control and every handler (uploads, manifests, listings, referrers,
 * the token endpoint) against a real store. berthd's code (libberthd) serves two
 * daemons on loopback ports, started once per process over plain HTTP with a fixed
 * clock and a scratch data directory ($TMPDIR or /tmp, removed at exit): one with
 * --auth none, one with Basic and a known user (admin / FUZZ_PASSWORD).
 *
 * Input: the first byte picks the daemon (bit 0: the Basic one) and, on the Basic
 * daemon, whether the known user's credentials are added (bit 1). The rest is up to
 * MAX_REQUESTS requests, separated by a line "=====", sent one after the other (so an
 * input can push a blob, then a manifest that names it, then read it back). Each is an
 * HTTP/1.1 request as text: a request line "METHOD TARGET" (an "HTTP/x.y" after it is
 * ignored; "@LOC" in the target stands for the Location of the last answer that had
 * one, an upload session's URL), header lines "Name: value", an empty line, the body.
 * It is made
 * well-formed before it is sent: line ends become CRLF, bytes a request line or a
 * header may not hold are dropped (lines left without a name or method dropped too),
 * Content-Length, Transfer-Encoding, Connection and Expect are replaced by the body's
 * length and "Connection: close", a Host is added when there is none; the body is
 * sent as it is (at most MAX_BODY bytes).
 *
 * Checks, besides memory safety: every request gets one complete HTTP/1.1 answer with
 * a status from 100 to 599, never 500 and never 1xx; a Content-Length in it matches
 * the body that follows (except to HEAD, 204 and 304); an error (4xx, 5xx) with a
 * body is the OCI error format, {"errors":[{"code":…,"message":…}]} with string code
 * and message (the management API's {"error":{"code":…,"message":…}} under /api/v1/), served as JSON (the readiness probe's plain text excepted, and the token
 * endpoint's POST form may answer OAuth2's {"error":"…"} instead); the daemon
 * still answers GET /healthz with 200 afterwards. FUZZ_REQUEST_TRACE=1 in the
 * environment prints each request line with its status (to check what seeds reach). */
#include <errno.h>
#include <poll.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <jansson.h>
#include "common/log.h"
#include "server/http.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PASSWORD "fuzz-password-1"
/* base64("admin:" FUZZ_PASSWORD) */
#define FUZZ_BASIC "Authorization: Basic YWRtaW46ZnV6ei1wYXNzd29yZC0x\r\n"
#define FUZZ_NOW ((time_t) 1767225600) /* 2026-01-01T00:00:00Z */
#define MAX_HEAD 16384
#define MAX_BODY 65536
#define MAX_REQUESTS 8
#define SEPARATOR "\n=====\n"

/* LeakSanitizer's report at exit runs while the daemons' threads still live: OpenSSL's
 * per-thread random generator of a password verifier thread (auth/password.c, first
 * used for an unknown user) is held only through pthread_setspecific, which the leak
 * check does not see, and is freed by OpenSSL when that thread ends. libcrypto has no
 * frame pointers, so its allocations' stacks stop inside it: they are suppressed as a
 * whole. What our code allocates is still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
        return "leak:libcrypto.so\n";
}

typedef struct {
        char dir[300];
        config_t cfg;
        server_t srv;
        uint16_t port;
} daemon_t;

static char root[256];
static daemon_t daemons[2];
static bool started;

static time_t fixed_now(void *userdata) {
        (void) userdata;
        return FUZZ_NOW;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) type;
        (void) ftw;
        return remove(path) < 0 ? -1 : 0;
}

static void cleanup(void) {
        for (size_t i = 0; started && i < sizeof(daemons) / sizeof(daemons[0]); i++) {
                daemon_t *d = &daemons[i];
                http_drain_and_stop(&d->srv);
                auth_free(d->srv.auth);
                store_free(d->srv.store);
                config_done(&d->cfg);
        }
        if (root[0] && nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
                fprintf(stderr, "fuzz-request: could not remove %s\n", root);
}

static void start(daemon_t *d, const char *name, bool basic) {
        char data[320];
        char *argv[] = { "berthd", "--insecure-http", "--auth", basic ? "basic" : "none", "--listen",
                         "127.0.0.1:5000", "--threads", "2", "--log-level", "error", data, NULL };
        const union MHD_DaemonInfo *di;

        snprintf(d->dir, sizeof(d->dir), "%s/%s", root, name);
        snprintf(data, sizeof(data), "--data=%s", d->dir);
        if (mkdir(d->dir, 0700) < 0 || config_parse((int) (sizeof(argv) / sizeof(argv[0])) - 1, argv, &d->cfg) != 0)
                abort();
        d->cfg.port = 0; /* any free port */
        d->cfg.delete_enabled = true;
        log_max_level = LOG_CRIT; /* the fuzzer's own output only */
        d->srv.cfg = &d->cfg;
        d->srv.now = fixed_now;
        if (store_open(d->dir, &d->srv.store) < 0)
                abort();
        store_set_clock(d->srv.store, fixed_now, NULL);
        /* cheap Argon2: a credential is verified once, then cached (the clock stands
         * still); the server's database is auth's (server_db) */
        if (auth_open(d->dir,
                      &(auth_options_t) { .mode = basic ? AUTH_MODE_BASIC : AUTH_MODE_NONE,
                                          .argon2_memory_kib = 64,
                                          .argon2_passes = 1,
                                          .now = fixed_now },
                      &d->srv.auth) < 0)
                abort();
        if (basic && auth_bootstrap(d->srv.auth, FUZZ_PASSWORD, NULL) < 0)
                abort();
        if (http_start(&d->srv, NULL, NULL) < 0)
                abort();
        di = MHD_get_daemon_info(d->srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (!di || !di->port)
                abort();
        d->port = di->port;
}

static void setup(void) {
        const char *base = getenv("TMPDIR");

        snprintf(root, sizeof(root), "%s/berth-fuzz-request-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(root))
                abort();
        atexit(cleanup);
        start(&daemons[0], "none", false);
        start(&daemons[1], "basic", true);
        started = true;
}

typedef struct {
        char *buf;
        size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n) {
        if (b->cap - b->len < n + 1) {
                b->cap = (b->len + n + 1) * 2;
                b->buf = realloc(b->buf, b->cap);
                if (!b->buf)
                        abort();
        }
        memcpy(b->buf + b->len, p, n);
        b->len += n;
        b->buf[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s) {
        put(b, s, strlen(s));
}

static bool tchar(uint8_t c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The request line: a method (token characters) and a target (visible ASCII). */
static void request_line(buf_t *b, const uint8_t *p, size_t n, const char *loc) {
        size_t i = 0, m = b->len;

        for (; i < n && p[i] != ' '; i++)
                if (tchar(p[i]))
                        put(b, &p[i], 1);
        if (b->len == m)
                puts_(b, "GET");
        put(b, " ", 1);
        while (i < n && p[i] == ' ')
                i++;
        m = b->len;
        for (; i < n && p[i] != ' '; i++) {
                if (p[i] == '@' && n - i >= 4 && memcmp(p + i, "@LOC", 4) == 0 && loc[0]) {
                        puts_(b, loc);
                        i += 3;
                } else if (p[i] > 0x20 && p[i] < 0x7f)
                        put(b, &p[i], 1);
        }
        if (b->len == m)
                put(b, "/", 1);
        puts_(b, " HTTP/1.1\r\n");
}

static bool is_header(const char *name, size_t n, const char *want) {
        return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

/* A header line: a name (token characters), ':', a value without control characters. */
static void header_line(buf_t *b, const uint8_t *p, size_t n, bool *host) {
        const uint8_t *colon = memchr(p, ':', n);
        size_t nl = 0, start = b->len;
        char name[64];

        if (!colon)
                return;
        for (const uint8_t *q = p; q < colon; q++)
                if (tchar(*q) && nl < sizeof(name))
                        name[nl++] = (char) *q;
        if (nl == 0 || nl == sizeof(name) || is_header(name, nl, "content-length") ||
            is_header(name, nl, "transfer-encoding") || is_header(name, nl, "connection") ||
            is_header(name, nl, "expect") || is_header(name, nl, "upgrade"))
                return;
        if (is_header(name, nl, "host"))
                *host = true;
        put(b, name, nl);
        put(b, ":", 1);
        for (const uint8_t *q = colon + 1; q < p + n; q++)
                if (*q == '\t' || (*q >= 0x20 && *q != 0x7f))
                        put(b, q, 1);
        if (b->len - start > 8192) /* one line never fills the connection's memory */
                b->len = start;
        else
                puts_(b, "\r\n");
}

static int dial(uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        struct timeval tv = { .tv_sec = 8 };
        int fd;

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                goto fail;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                /* libFuzzer's -timeout alarm can interrupt it: the connection goes on
                 * in the background; wait for it and read its outcome */
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                int err = 0;
                socklen_t len = sizeof(err);

                if (errno != EINTR)
                        goto fail;
                while (poll(&p, 1, 8000) < 0)
                        if (errno != EINTR)
                                goto fail;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                        errno = err ? err : errno;
                        goto fail;
                }
        }
        return fd;
fail:
        fprintf(stderr, "fuzz-request: connect: %s\n", strerror(errno));
        abort();
}

/* Send the request and read the answer to the end (the server closes). */
static void exchange(uint16_t port, const buf_t *req, buf_t *resp) {
        int fd = dial(port);
        char chunk[16384];

        for (size_t off = 0; off < req->len;) {
                ssize_t n = send(fd, req->buf + off, req->len - off, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* the server may answer (413, 400) before the body is in */
                off += (size_t) n;
        }
        for (;;) {
                ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == ECONNRESET && resp->len > 0)
                        break; /* the answer came; the unread body reset the connection */
                if (n < 0) {
                        fprintf(stderr, "fuzz-request: no answer: %s\n", strerror(errno));
                        abort();
                }
                if (n == 0)
                        break;
                put(resp, chunk, (size_t) n);
        }
        close(fd);
        if (!resp->buf)
                put(resp, "", 0);
}

/* A response header's value (up to the line end), or NULL. */
static const char *find_header(const char *head, const char *end, const char *name, size_t *len) {
        size_t nl = strlen(name);

        for (const char *l = strstr(head, "\r\n"); l && l + 2 < end; l = strstr(l + 2, "\r\n")) {
                const char *v = l + 2;
                if (strncasecmp(v, name, nl) == 0 && v[nl] == ':') {
                        v += nl + 1;
                        while (*v == ' ')
                                v++;
                        *len = (size_t) (strstr(v, "\r\n") - v);
                        return v;
                }
        }
        return NULL;
}

static void fail(const char *why, const buf_t *req, const buf_t *resp) {
        fprintf(stderr, "fuzz-request: %s\n--- request\n%.*s\n--- answer\n%.*s\n", why,
                (int) (req->len > 4096 ? 4096 : req->len), req->buf, (int) (resp->len > 4096 ? 4096 : resp->len),
                resp->buf);
        abort();
}

/* oauth: the token endpoint's POST form, whose errors may be OAuth2's {"error":"..."}
 * (RFC 6749, section 5.2) */
static void check_error_body(const char *body, size_t len, bool oauth, const buf_t *req, const buf_t *resp) {
        json_error_t jerr;
        json_t *j = json_loadb(body, len, 0, &jerr), *errors, *e;
        size_t i;

        if (!j)
                fail("an error body that is not JSON", req, resp);
        if (oauth && json_is_string(json_object_get(j, "error"))) {
                json_decref(j);
                return;
        }
        e = json_object_get(j, "error");
        if (json_is_object(e)) { /* the management API's one shape (/api/v1/) */
                if (!json_is_string(json_object_get(e, "code")) || !json_is_string(json_object_get(e, "message")))
                        fail("an API error without a string code and message", req, resp);
                json_decref(j);
                return;
        }
        errors = json_object_get(j, "errors");
        if (!json_is_array(errors) || json_array_size(errors) == 0)
                fail("an error body without an errors array", req, resp);
        json_array_foreach(errors, i, e) {
                if (!json_is_string(json_object_get(e, "code")) || !json_is_string(json_object_get(e, "message")))
                        fail("an error without a string code and message", req, resp);
        }
        json_decref(j);
}

/* Check one answer; returns its status. */
static unsigned check(const buf_t *req, const buf_t *resp, bool head_method, bool probe, bool oauth) {
        unsigned status = 0;
        const char *sep, *body, *v;
        size_t body_len, vlen;
        char *end;

        if (resp->len < 12 || strncmp(resp->buf, "HTTP/1.1 ", 9) != 0)
                fail("no HTTP/1.1 status line", req, resp);
        status = (unsigned) strtoul(resp->buf + 9, &end, 10);
        if (end != resp->buf + 12 || status < 200 || status > 599)
                fail("a status outside 200..599", req, resp);
        if (status == 500)
                fail("500 Internal Server Error", req, resp);
        sep = strstr(resp->buf, "\r\n\r\n");
        if (!sep)
                fail("an answer without the end of its head", req, resp);
        body = sep + 4;
        body_len = resp->len - (size_t) (body - resp->buf);
        v = find_header(resp->buf, sep + 2, "Content-Length", &vlen);
        if (v && !head_method && status != 204 && status != 304 && strtoull(v, NULL, 10) != body_len)
                fail("a Content-Length that is not the body's length", req, resp);
        if (status >= 400 && body_len > 0 && !probe) {
                v = find_header(resp->buf, sep + 2, "Content-Type", &vlen);
                if (!v || vlen < 16 || strncasecmp(v, "application/json", 16) != 0)
                        fail("an error body that is not served as JSON", req, resp);
                check_error_body(body, body_len, oauth, req, resp);
        }
        return status;
}

/* One request from [p, end); its answer checked; loc: the last Location, updated. */
static void one_request(const daemon_t *d, uint8_t sel, const uint8_t *p, const uint8_t *end, char *loc,
                        size_t loc_size) {
        buf_t req = { 0 }, resp = { 0 };
        const uint8_t *body = NULL;
        size_t body_len = 0, method_len, vlen;
        bool host = false, head_method, probe, oauth;
        const char *v, *sep;
        char line[64];
        unsigned status;

        /* the head ends at the first empty line (CRLF CRLF or LF LF) */
        for (const uint8_t *q = p; q < end; q++) {
                if (*q == '\n' && ((q + 1 < end && q[1] == '\n') || (q + 2 < end && q[1] == '\r' && q[2] == '\n'))) {
                        body = q + (q[1] == '\n' ? 2 : 3);
                        body_len = (size_t) (end - body);
                        end = q + 1;
                        break;
                }
        }
        if ((size_t) (end - p) > MAX_HEAD)
                end = p + MAX_HEAD;
        if (body_len > MAX_BODY)
                body_len = MAX_BODY;
        /* the request line, then one header per line */
        {
                const uint8_t *nl = memchr(p, '\n', (size_t) (end - p));
                const uint8_t *le = nl ? nl : end;
                request_line(&req, p, (size_t) (le > p && le[-1] == '\r' ? le - 1 - p : le - p), loc);
                p = nl ? nl + 1 : end;
        }
        while (p < end) {
                const uint8_t *nl = memchr(p, '\n', (size_t) (end - p));
                const uint8_t *le = nl ? nl : end;
                header_line(&req, p, (size_t) (le > p && le[-1] == '\r' ? le - 1 - p : le - p), &host);
                p = nl ? nl + 1 : end;
        }
        if (!host)
                puts_(&req, "Host: 127.0.0.1\r\n");
        if ((sel & 3) == 3)
                puts_(&req, FUZZ_BASIC);
        snprintf(line, sizeof(line), "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
        puts_(&req, line);
        if (body_len)
                put(&req, body, body_len);

        method_len = strcspn(req.buf, " ");
        head_method = method_len == 4 && memcmp(req.buf, "HEAD", 4) == 0;
        probe = strncmp(req.buf + method_len, " /readyz", 8) == 0;
        oauth = method_len == 4 && strncmp(req.buf, "POST /auth/token", 16) == 0;
        exchange(d->port, &req, &resp);
        status = check(&req, &resp, head_method, probe, oauth);
        if (getenv("FUZZ_REQUEST_TRACE")) /* which answer each request got, when writing seeds */
                fprintf(stderr, "%u %.*s\n", status, (int) strcspn(req.buf, "\r"), req.buf);
        sep = strstr(resp.buf, "\r\n\r\n");
        v = find_header(resp.buf, sep + 2, "Location", &vlen);
        if (v && vlen < loc_size)
                snprintf(loc, loc_size, "%.*s", (int) vlen, v);
        free(req.buf);
        free(resp.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char healthz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        buf_t hreq = { 0 }, hresp = { 0 };
        const uint8_t *p, *end;
        const daemon_t *d;
        char loc[1024] = "";
        uint8_t sel;

        if (!started)
                setup();
        if (size == 0)
                return 0;
        sel = data[0];
        d = &daemons[sel & 1];
        p = data + 1;
        end = data + size;
        for (unsigned n = 0; n < MAX_REQUESTS && p < end; n++) {
                const uint8_t *next = memmem(p, (size_t) (end - p), SEPARATOR, strlen(SEPARATOR));
                one_request(d, sel, p, next ? next : end, loc, sizeof(loc));
                p = next ? next + strlen(SEPARATOR) : end;
        }

        /* the daemon still serves */
        put(&hreq, healthz, sizeof(healthz) - 1);
        exchange(d->port, &hreq, &hresp);
        if (check(&hreq, &hresp, false, true, false) != 200)
                fail("GET /healthz is not 200 afterwards", &hreq, &hresp);
        free(hreq.buf);
        free(hresp.buf);
        return 0;
}
