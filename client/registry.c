/* client/registry.c: the registry client over libcurl: setup, one request, the
 * authenticated request loop, and the API calls (ping, manifests, blobs).
 * Challenges and tokens are in registry-auth.c, certificates in registry-certs.c. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "client/registry-internal.h"
#include "client/registry.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "common/name.h"

#define HEADER_VALUE_MAX 8192

/* ---- setup ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *u) {
        registry_t *r = u;
        (void) h;
        (void) a;
        pthread_mutex_lock(&r->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u) {
        registry_t *r = u;
        (void) h;
        pthread_mutex_unlock(&r->share_locks[data]);
}

registry_t *registry_free(registry_t *r) {
        if (!r)
                return NULL;
        if (r->share)
                curl_share_cleanup(r->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_destroy(&r->share_locks[i]);
        pthread_mutex_destroy(&r->lock);
        if (r->cas)
                sk_X509_pop_free(r->cas, X509_free);
        for (size_t i = 0; i < r->ntokens; i++) {
                free(r->tokens[i].scope);
                free(r->tokens[i].username);
                if (r->tokens[i].password)
                        explicit_bzero(r->tokens[i].password, strlen(r->tokens[i].password));
                free(r->tokens[i].password);
                if (r->tokens[i].token)
                        explicit_bzero(r->tokens[i].token, strlen(r->tokens[i].token));
                free(r->tokens[i].token);
        }
        free(r->base);
        free(r->client_cert);
        free(r->client_key);
        free(r->user_agent);
        free(r->realm);
        free(r->service);
        free(r);
        return NULL;
}
DEFINE_CLEANUP_FUNC(registry_t, registry_free);

int registry_new(const char *domain, const registry_opts_t *o, registry_t **ret) {
        _cleanup_(registry_freep) registry_t *r = NULL;
        const char *host = strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain;
        int rc;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_init(&r->share_locks[i], NULL);
        pthread_mutex_init(&r->lock, NULL);
        r->ratelimit.limit = r->ratelimit.remaining = -1;
        r->insecure = o && o->insecure;
        r->log = o ? o->log : NULL;
        r->log_ud = o ? o->log_ud : NULL;
        r->connect_timeout = o && o->connect_timeout_s > 0 ? o->connect_timeout_s : 15;
        r->low_speed_time = o && o->low_speed_time_s > 0 ? o->low_speed_time_s : 60;
        r->user_agent = strdup(o && o->user_agent ? o->user_agent : "berth");
        if (asprintf(&r->base, "%s://%s", r->insecure ? "http" : "https", host) < 0) {
                r->base = NULL;
                return -ENOMEM;
        }
        r->cas = sk_X509_new_null();
        if (!r->user_agent || !r->cas)
                return -ENOMEM;
        if (o && o->ca_file && (rc = registry__load_pem_certs(r->cas, o->ca_file)) < 0)
                return rc;
        {
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s", o && o->certs_dir ? o->certs_dir : "/etc/docker/certs.d", domain) < 0) {
                        dir = NULL;
                        return -ENOMEM;
                }
                if ((rc = registry__load_certs_dir(r, dir)) < 0)
                        return rc;
        }
        r->share = curl_share_init();
        if (!r->share)
                return -ENOMEM;
        curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        *ret = TAKE_PTR(r);
        return 0;
}

uint64_t registry_request_count(const registry_t *r) {
        return atomic_load(&((registry_t *) r)->requests);
}

/* ---- one request ---- */

void registry__req_reset_headers(req_t *q) {
        free(q->www_auth);
        free(q->content_type);
        free(q->dcd);
        free(q->link);
        free(q->rl_limit);
        free(q->rl_remaining);
        q->www_auth = q->content_type = q->dcd = q->link = q->rl_limit = q->rl_remaining = NULL;
        q->has_range = false;
        q->body_started = false;
}

void registry__req_done(req_t *q) {
        registry__req_reset_headers(q);
        free(q->buf);
        q->buf = NULL;
}

static char *header_value(const char *line, size_t n, const char *name) {
        size_t k = strlen(name);
        const char *v;
        size_t vl;

        if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
                return NULL;
        v = line + k + 1;
        vl = n - k - 1;
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
        }
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
        if (vl > HEADER_VALUE_MAX)
                return NULL;
        return strndup(v, vl);
}

static size_t on_header(char *p, size_t sz, size_t nm, void *u) {
        req_t *q = u;
        size_t n = sz * nm;
        char *v;

        if (n > 5 && memcmp(p, "HTTP/", 5) == 0) {
                const char *sp = memchr(p, ' ', n);
                registry__req_reset_headers(q);
                q->status = 0;
                q->content_length = UINT64_MAX;
                if (sp && (size_t) (sp - p) + 4 <= n && isdigit((unsigned char) sp[1]) &&
                    isdigit((unsigned char) sp[2]) && isdigit((unsigned char) sp[3]))
                        q->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
                return n;
        }
        if ((v = header_value(p, n, "www-authenticate"))) {
                /* prefer a Bearer challenge when several are offered */
                if (!q->www_auth || strncasecmp(v, "bearer", 6) == 0) {
                        free(q->www_auth);
                        q->www_auth = v;
                } else
                        free(v);
        } else if ((v = header_value(p, n, "content-type"))) {
                free(q->content_type);
                q->content_type = v;
        } else if ((v = header_value(p, n, "content-length"))) {
                unsigned long long l = 0;
                bool ok = isdigit((unsigned char) *v);
                for (const char *c = v; ok && *c; c++) {
                        ok = isdigit((unsigned char) *c) && l <= (UINT64_MAX - 9) / 10;
                        if (ok)
                                l = l * 10 + (unsigned long long) (*c - '0');
                }
                q->content_length = ok ? l : UINT64_MAX;
                free(v);
        } else if ((v = header_value(p, n, "docker-content-digest"))) {
                free(q->dcd);
                q->dcd = v;
        } else if ((v = header_value(p, n, "link"))) {
                free(q->link);
                q->link = v;
        } else if ((v = header_value(p, n, "ratelimit-limit"))) {
                free(q->rl_limit);
                q->rl_limit = v;
        } else if ((v = header_value(p, n, "ratelimit-remaining"))) {
                free(q->rl_remaining);
                q->rl_remaining = v;
        } else if ((v = header_value(p, n, "content-range"))) {
                /* "bytes START-END/TOTAL" */
                unsigned long long s = 0;
                const char *c = v;
                bool ok = strncasecmp(c, "bytes ", 6) == 0;
                if (ok) {
                        c += 6;
                        ok = isdigit((unsigned char) *c);
                        for (; ok && isdigit((unsigned char) *c); c++) {
                                if (s > (UINT64_MAX - 9) / 10) {
                                        ok = false;
                                        break;
                                }
                                s = s * 10 + (unsigned long long) (*c - '0');
                        }
                        ok = ok && *c == '-';
                }
                q->has_range = ok;
                q->range_start = s;
                free(v);
        }
        return n;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *u) {
        req_t *q = u;
        size_t n = sz * nm;

        if (q->sink == SINK_DISCARD || (q->status != 200 && q->status != 206))
                return n; /* error bodies and redirect bodies are not kept */
        if (q->sink == SINK_MEM) {
                if (q->len + n > q->max) {
                        q->err = BERTH_ETOOBIG;
                        return 0;
                }
                if (q->len + n + 1 > q->cap) {
                        size_t nc = (q->len + n + 1) * 2;
                        char *nb;
                        if (nc > q->max + 1)
                                nc = q->max + 1;
                        nb = realloc(q->buf, nc);
                        if (!nb) {
                                q->err = -ENOMEM;
                                return 0;
                        }
                        q->buf = nb;
                        q->cap = nc;
                }
                memcpy(q->buf + q->len, p, n);
                q->len += n;
                q->buf[q->len] = '\0';
                return n;
        }
        /* SINK_FD */
        if (!q->body_started) {
                q->body_started = true;
                if (q->status == 206) {
                        if (!q->has_range || q->range_start != q->have) {
                                q->err = BERTH_EHTTP;
                                return 0;
                        }
                } else if (q->have > 0) {
                        /* the server ignored Range: start over */
                        digest_ctx_t *c = NULL;
                        if (ftruncate(q->fd, 0) < 0 || digest_ctx_new(q->alg, &c) < 0) {
                                q->err = -EIO;
                                return 0;
                        }
                        digest_ctx_free(q->ctx);
                        q->ctx = c;
                        q->have = 0;
                }
        }
        if (n > q->size - q->have) {
                q->err = BERTH_ETOOBIG; /* more bytes than the descriptor says */
                return 0;
        }
        for (size_t off = 0; off < n;) {
                ssize_t k = pwrite(q->fd, p + off, n - off, (off_t) (q->have + off));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        q->err = -errno;
                        return 0;
                }
                off += (size_t) k;
        }
        if (digest_ctx_update(q->ctx, p, n) < 0) {
                q->err = BERTH_ECRYPTO;
                return 0;
        }
        q->have += n;
        if (q->progress && q->open_size)
                /* size is only a bound: the total the upstream announced, 0 when none */
                q->progress(q->userdata, q->have,
                            q->status == 200 && q->content_length <= q->size ? q->content_length : 0);
        else if (q->progress)
                q->progress(q->userdata, q->have, q->size);
        return n;
}

static CURLcode ssl_ctx_cb(CURL *h, void *sslctx, void *parm) {
        registry_t *r = parm;
        X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *) sslctx);
        (void) h;
        for (int i = 0; i < sk_X509_num(r->cas); i++)
                (void) X509_STORE_add_cert(st, sk_X509_value(r->cas, i));
        return CURLE_OK;
}

CURL *registry__easy_new(registry_t *r, const char *url, req_t *q) {
        CURL *h = curl_easy_init();

        if (!h)
                return NULL;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_SHARE, r->share);
        if (q->head)
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, r->user_agent);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
        /* the default, spelled out: credentials never follow a redirect to another host */
        curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, r->connect_timeout);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, r->low_speed_time);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, r);
        if (r->client_cert) {
                curl_easy_setopt(h, CURLOPT_SSLCERT, r->client_cert);
                curl_easy_setopt(h, CURLOPT_SSLKEY, r->client_key);
        }
        return h;
}

int registry__map_curl(CURLcode c, req_t *q) {
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_WRITE_ERROR:
                return q->err ? q->err : BERTH_EHTTP;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return BERTH_EUNAVAILABLE;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return BERTH_EHTTP;
        }
}

int registry__map_status(long s) {
        if (s == 200 || s == 206)
                return 0;
        if (s == 401)
                return BERTH_EAUTH;
        if (s == 403)
                return BERTH_EDENIED;
        if (s == 404)
                return BERTH_ENOTFOUND;
        if (s == 429 || s >= 500)
                return BERTH_EUNAVAILABLE;
        return BERTH_EHTTP;
}

/* Perform GET url with auth for repo; q is prepared by the caller. */
static int do_request(registry_t *r, const char *url, const char *repo, const registry_cred_t *cred,
                      struct curl_slist *headers, req_t *q) {
        _cleanup_free_ char *scope = NULL;
        bool anonymous = !cred || !cred->username;
        int rc = BERTH_EAUTH;

        if (asprintf(&scope, "repository:%s:pull", repo) < 0) {
                scope = NULL;
                return -ENOMEM;
        }
        for (int attempt = 0; attempt < 2; attempt++) {
                _cleanup_free_ char *token = NULL;
                scheme_t scheme;
                CURL *h;
                CURLcode cc;

                pthread_mutex_lock(&r->lock);
                scheme = r->scheme;
                if (scheme == SCHEME_BEARER)
                        token = registry__token_lookup(r, scope, cred);
                pthread_mutex_unlock(&r->lock);
                if (scheme == SCHEME_BEARER && !token) {
                        rc = registry__fetch_token(r, scope, cred);
                        if (rc < 0)
                                return rc;
                        pthread_mutex_lock(&r->lock);
                        token = registry__token_lookup(r, scope, cred);
                        pthread_mutex_unlock(&r->lock);
                        if (!token)
                                return BERTH_EAUTH;
                }
                h = registry__easy_new(r, url, q);
                if (!h)
                        return -ENOMEM;
                if (headers)
                        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
                if (scheme == SCHEME_BEARER) {
                        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long) CURLAUTH_BEARER);
                        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, token);
                } else if (scheme == SCHEME_BASIC && !anonymous)
                        registry__apply_basic(h, cred);
                q->status = 0;
                q->err = 0;
                atomic_fetch_add(&r->requests, 1);
                cc = curl_easy_perform(h);
                curl_easy_cleanup(h);
                if (token)
                        explicit_bzero(token, strlen(token));
                rc = registry__map_curl(cc, q);
                if (rc < 0)
                        return rc;
                if (q->status == 401 && attempt == 0) {
                        scheme_t before = scheme;
                        if (registry__learn_challenge(r, q->www_auth) < 0)
                                return BERTH_EAUTH;
                        pthread_mutex_lock(&r->lock);
                        scheme = r->scheme;
                        pthread_mutex_unlock(&r->lock);
                        if (scheme == SCHEME_BASIC && (anonymous || before == SCHEME_BASIC))
                                return BERTH_EAUTH;
                        if (scheme == SCHEME_BEARER && before == SCHEME_BEARER) {
                                /* the cached token was refused: forget it and fetch once more */
                                pthread_mutex_lock(&r->lock);
                                for (size_t i = 0; i < r->ntokens; i++)
                                        if (strcmp(r->tokens[i].scope, scope) == 0)
                                                r->tokens[i].expires = 0;
                                pthread_mutex_unlock(&r->lock);
                        }
                        registry__req_reset_headers(q);
                        continue;
                }
                return registry__map_status(q->status);
        }
        return rc;
}

int registry_ping(registry_t *r) {
        _cleanup_free_ char *url = NULL;
        req_t q = { .sink = SINK_DISCARD, .fd = -1 };
        CURL *h;
        int rc;

        if (asprintf(&url, "%s/v2/", r->base) < 0) {
                url = NULL;
                return -ENOMEM;
        }
        h = registry__easy_new(r, url, &q);
        if (!h)
                return -ENOMEM;
        atomic_fetch_add(&r->requests, 1);
        rc = registry__map_curl(curl_easy_perform(h), &q);
        curl_easy_cleanup(h);
        if (rc == 0) {
                if (q.status == 401)
                        (void) registry__learn_challenge(r, q.www_auth);
                else if (q.status == 200) {
                        pthread_mutex_lock(&r->lock);
                        r->scheme = SCHEME_NONE;
                        pthread_mutex_unlock(&r->lock);
                } else if (q.status == 404 || q.status >= 500 || q.status == 0)
                        rc = BERTH_EUNAVAILABLE; /* not a v2 registry */
        }
        registry__req_done(&q);
        return rc;
}

/* ---- rate limits ---- */

int registry_ratelimit_parse(const char *value, int64_t *ret_count, int64_t *ret_window) {
        const char *c = value;
        int64_t count = 0, window = 0;

        while (*c == ' ' || *c == '\t')
                c++;
        if (!isdigit((unsigned char) *c))
                return -EINVAL;
        for (; isdigit((unsigned char) *c); c++) {
                if (count > (INT64_MAX - 9) / 10)
                        return -EINVAL;
                count = count * 10 + (*c - '0');
        }
        /* parameters of the first item: ";w=21600"; a ',' starts the next item */
        while (*c && *c != ',') {
                while (*c == ' ' || *c == '\t')
                        c++;
                if (*c == ',' || !*c)
                        break;
                if (*c != ';')
                        return -EINVAL;
                c++;
                while (*c == ' ' || *c == '\t')
                        c++;
                if ((c[0] == 'w' || c[0] == 'W') && c[1] == '=') {
                        int64_t w = 0;
                        c += 2;
                        if (!isdigit((unsigned char) *c))
                                return -EINVAL;
                        for (; isdigit((unsigned char) *c); c++) {
                                if (w > (INT64_MAX - 9) / 10)
                                        return -EINVAL;
                                w = w * 10 + (*c - '0');
                        }
                        window = w;
                } else
                        c += strcspn(c, ";,"); /* a parameter we do not use */
        }
        *ret_count = count;
        *ret_window = window;
        return 0;
}

/* Keeps what a manifest answer said about the rate limit. */
static void note_ratelimit(registry_t *r, const req_t *q) {
        int64_t limit = -1, remaining = -1, w1 = 0, w2 = 0;

        if (q->rl_limit && registry_ratelimit_parse(q->rl_limit, &limit, &w1) < 0)
                limit = -1;
        if (q->rl_remaining && registry_ratelimit_parse(q->rl_remaining, &remaining, &w2) < 0)
                remaining = -1;
        if (limit < 0 && remaining < 0)
                return;
        pthread_mutex_lock(&r->lock);
        r->ratelimit.limit = limit;
        r->ratelimit.remaining = remaining;
        r->ratelimit.window = w1 ? w1 : w2;
        r->ratelimit.when = time(NULL);
        pthread_mutex_unlock(&r->lock);
}

void registry_ratelimit(registry_t *r, registry_ratelimit_t *ret) {
        pthread_mutex_lock(&r->lock);
        *ret = r->ratelimit;
        pthread_mutex_unlock(&r->lock);
}

/* A GET or HEAD (q says which) of repo's manifest reference, accepting every
 * manifest and index type. */
static int manifest_request(registry_t *r, const char *repo, const char *reference, const registry_cred_t *cred,
                            req_t *q) {
        _cleanup_free_ char *url = NULL;
        struct curl_slist *hs;
        int rc;

        if (asprintf(&url, "%s/v2/%s/manifests/%s", r->base, repo, reference) < 0) {
                url = NULL;
                return -ENOMEM;
        }
        hs = curl_slist_append(NULL, "Accept: " MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", "
                                     MT_DOCKER_MANIFEST);
        if (!hs)
                return -ENOMEM;
        rc = do_request(r, url, repo, cred, hs, q);
        curl_slist_free_all(hs);
        note_ratelimit(r, q);
        return rc;
}

int registry_get_manifest(registry_t *r, const char *repo, const char *reference, const registry_cred_t *cred,
                          char **ret_buf, size_t *ret_len, char **ret_media_type, digest_t *ret_digest) {
        req_t q = { .sink = SINK_MEM, .max = MANIFEST_MAX_SIZE, .fd = -1 };
        digest_t want, got, hdr;
        bool by_digest = digest_parse(reference, &want) == 0;
        int rc;

        rc = manifest_request(r, repo, reference, cred, &q);
        if (rc == 0 && !q.buf)
                rc = BERTH_EMANIFEST;
        if (rc == 0)
                rc = digest_buf(by_digest ? want.alg : DIGEST_SHA256, q.buf, q.len, &got);
        if (rc == 0 && by_digest && !digest_equal(&got, &want))
                rc = BERTH_EDIGEST;
        if (rc == 0 && q.dcd && digest_parse(q.dcd, &hdr) == 0 && hdr.alg == got.alg && !digest_equal(&hdr, &got))
                rc = BERTH_EDIGEST;
        if (rc == 0) {
                char *mt = strdup(q.content_type ? q.content_type : "");
                if (!mt)
                        rc = -ENOMEM;
                else {
                        *ret_buf = TAKE_PTR(q.buf);
                        *ret_len = q.len;
                        *ret_media_type = mt;
                        *ret_digest = got;
                }
        }
        registry__req_done(&q);
        return rc;
}

static int get_blob(registry_t *r, const char *repo, const digest_t *d, uint64_t size, bool open_size,
                    const registry_cred_t *cred, int fd, uint64_t have, registry_progress_fn progress,
                    void *userdata, uint64_t *ret_size);

int registry_get_blob(registry_t *r, const char *repo, const digest_t *d, uint64_t size, const registry_cred_t *cred,
                      int fd, uint64_t have, registry_progress_fn progress, void *userdata) {
        return get_blob(r, repo, d, size, false, cred, fd, have, progress, userdata, NULL);
}

int registry_fetch_blob(registry_t *r, const char *repo, const digest_t *d, uint64_t max_size,
                        const registry_cred_t *cred, int fd, registry_progress_fn progress, void *userdata,
                        uint64_t *ret_size) {
        return get_blob(r, repo, d, max_size, true, cred, fd, 0, progress, userdata, ret_size);
}

int registry_head_manifest(registry_t *r, const char *repo, const char *reference, const registry_cred_t *cred,
                           digest_t *ret_digest) {
        req_t q = { .sink = SINK_DISCARD, .head = true, .fd = -1 };
        digest_t got;
        int rc;

        rc = manifest_request(r, repo, reference, cred, &q);
        if (rc == 0 && (!q.dcd || digest_parse(q.dcd, &got) < 0))
                rc = BERTH_EHTTP; /* no digest to compare: the caller GETs */
        if (rc == 0)
                *ret_digest = got;
        registry__req_done(&q);
        return rc;
}

static int get_blob(registry_t *r, const char *repo, const digest_t *d, uint64_t size, bool open_size,
                    const registry_cred_t *cred, int fd, uint64_t have, registry_progress_fn progress,
                    void *userdata, uint64_t *ret_size) {
        _cleanup_free_ char *url = NULL;
        req_t q = { .sink = SINK_FD, .fd = fd, .size = size, .open_size = open_size, .alg = d->alg,
                    .progress = progress, .userdata = userdata, .content_length = UINT64_MAX };
        struct curl_slist *hs = NULL;
        digest_t got;
        int rc;

        if (have > size)
                have = 0;
        if (asprintf(&url, "%s/v2/%s/blobs/%s", r->base, repo, d->str) < 0) {
                url = NULL;
                return -ENOMEM;
        }
        rc = digest_ctx_new(d->alg, &q.ctx);
        if (rc < 0)
                return rc;
        /* hash what we already hold */
        if (have > 0) {
                char buf[65536];
                uint64_t off = 0;
                while (off < have) {
                        size_t want = have - off < sizeof(buf) ? (size_t) (have - off) : sizeof(buf);
                        ssize_t k = pread(fd, buf, want, (off_t) off);
                        if (k <= 0) {
                                have = off; /* shorter than we thought: resume from here */
                                break;
                        }
                        digest_ctx_update(q.ctx, buf, (size_t) k);
                        off += (size_t) k;
                }
                if (ftruncate(fd, (off_t) have) < 0)
                        have = 0;
        }
        q.have = have;
        if (have == size) {
                rc = 0; /* all there already: just verify */
        } else {
                if (have > 0) {
                        char range[64];
                        snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long) have);
                        hs = curl_slist_append(NULL, range);
                        if (!hs) {
                                digest_ctx_free(q.ctx);
                                return -ENOMEM;
                        }
                }
                rc = do_request(r, url, repo, cred, hs, &q);
                curl_slist_free_all(hs);
        }
        if (rc == 0 && q.have != size && !q.open_size)
                rc = BERTH_EDIGEST; /* short: size does not match */
        if (rc == 0)
                rc = digest_ctx_peek(q.ctx, &got);
        if (rc == 0 && !digest_equal(&got, d))
                rc = BERTH_EDIGEST;
        if (rc == 0 && ret_size)
                *ret_size = q.have;
        digest_ctx_free(q.ctx);
        registry__req_done(&q);
        return rc;
}

/* ---- tag listings ---- */

int registry_link_next(const char *value, char **ret) {
        const char *c = value;

        /* entries: <target>; param; param, <target>; ... */
        for (;;) {
                const char *t, *te, *pe;
                bool next = false;

                while (*c == ' ' || *c == '\t' || *c == ',')
                        c++;
                if (!*c)
                        break;
                if (*c != '<')
                        return -EINVAL;
                t = c + 1;
                te = strchr(t, '>');
                if (!te)
                        return -EINVAL;
                c = te + 1;
                /* the parameters, up to the next entry (a ',' outside quotes) */
                for (pe = c; *pe && *pe != ','; pe++)
                        if (*pe == '"') {
                                const char *q = strchr(pe + 1, '"');
                                if (!q)
                                        return -EINVAL;
                                pe = q;
                        }
                for (const char *p = c; p < pe; p++) {
                        if (*p != ';')
                                continue;
                        p++;
                        while (p < pe && (*p == ' ' || *p == '\t'))
                                p++;
                        if ((size_t) (pe - p) >= 4 && strncasecmp(p, "rel=", 4) == 0) {
                                const char *v = p + 4;
                                size_t vl = strcspn(v, ";,");
                                if (v + vl > pe)
                                        vl = (size_t) (pe - v);
                                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                                        v++;
                                        vl -= 2;
                                }
                                /* rel may list several relation types */
                                for (size_t i = 0; i < vl;) {
                                        size_t wl = strcspn(v + i, " \t\"");
                                        if (wl > vl - i)
                                                wl = vl - i;
                                        if (wl == 4 && strncasecmp(v + i, "next", 4) == 0)
                                                next = true;
                                        i += wl ? wl : 1;
                                }
                        }
                }
                if (next) {
                        char *u = strndup(t, (size_t) (te - t));
                        if (!u)
                                return -ENOMEM;
                        *ret = u;
                        return 1;
                }
                c = pe;
        }
        *ret = NULL;
        return 0;
}

void registry_strv_free(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

#define TAGS_PAGE_MAX (8u << 20)
#define TAGS_PAGES_MAX 1000

int registry_list_tags(registry_t *r, const char *repo, const registry_cred_t *cred, size_t max, char ***ret) {
        _cleanup_free_ char *url = NULL;
        char **v = NULL;
        size_t n = 0, cap = 0, k = 0;
        int rc = 0;

        if (asprintf(&url, "%s/v2/%s/tags/list", r->base, repo) < 0) {
                url = NULL;
                return -ENOMEM;
        }
        for (int page = 0; rc == 0 && url; page++) {
                req_t q = { .sink = SINK_MEM, .max = TAGS_PAGE_MAX, .fd = -1 };
                json_t *root = NULL, *tags;
                char *next = NULL;

                if (page == TAGS_PAGES_MAX) {
                        rc = BERTH_ETOOBIG;
                        break;
                }
                rc = do_request(r, url, repo, cred, NULL, &q);
                if (rc == 0 && !(root = q.buf ? json_loadb(q.buf, q.len, 0, NULL) : NULL))
                        rc = BERTH_EHTTP; /* not a tag listing */
                tags = root ? json_object_get(root, "tags") : NULL;
                if (rc == 0 && tags && !json_is_array(tags) && !json_is_null(tags))
                        rc = BERTH_EHTTP;
                for (size_t i = 0; rc == 0 && i < json_array_size(tags); i++) {
                        const char *t = json_string_value(json_array_get(tags, i));
                        if (!t || !name_tag_valid(t, strlen(t)))
                                continue;
                        if (n == max) {
                                rc = BERTH_ETOOBIG;
                                break;
                        }
                        if (n + 1 >= cap) {
                                size_t c2 = cap ? cap * 2 : 64;
                                char **w = realloc(v, c2 * sizeof(*w));
                                if (!w) {
                                        rc = -ENOMEM;
                                        break;
                                }
                                v = w;
                                cap = c2;
                        }
                        if (!(v[n] = strdup(t)))
                                rc = -ENOMEM;
                        else
                                v[++n] = NULL;
                }
                json_decref(root);
                /* the next page: on this registry only */
                if (rc == 0 && q.link && registry_link_next(q.link, &next) > 0) {
                        char *u = NULL;
                        size_t bl = strlen(r->base);
                        if (next[0] == '/' && next[1] != '/') {
                                if (asprintf(&u, "%s%s", r->base, next) < 0)
                                        u = NULL, rc = -ENOMEM;
                        } else if (strncmp(next, r->base, bl) == 0 && next[bl] == '/')
                                u = strdup(next), rc = u ? 0 : -ENOMEM;
                        else
                                rc = BERTH_EHTTP; /* elsewhere: not followed */
                        free(next);
                        free(url);
                        url = u;
                } else {
                        free(url);
                        url = NULL;
                }
                registry__req_done(&q);
        }
        if (rc < 0) {
                registry_strv_free(v);
                return rc;
        }
        if (!v && !(v = calloc(1, sizeof(*v))))
                return -ENOMEM;
        qsort(v, n, sizeof(*v), cmp_str);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && strcmp(v[k - 1], v[i]) == 0) {
                        free(v[i]);
                        continue;
                }
                v[k++] = v[i];
        }
        v[k] = NULL;
        *ret = v;
        return 0;
}
