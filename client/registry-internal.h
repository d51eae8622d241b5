/* client/registry-internal.h: what the files of the registry client share: the
 * registry_t fields, one request's state, and the helpers each file offers the others.
 *   registry.c        setup, one HTTP request (curl handle, header and body sinks),
 *                     the authenticated request loop, ping, manifests, blobs
 *   registry-auth.c   WWW-Authenticate challenges, the token cache, token requests
 *   registry-certs.c  CA and client certificates (--ca-file, docker's certs.d) */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/x509.h>
#include "client/registry.h"
#include "common/digest.h"

#define TOKEN_CACHE_MAX 32

typedef enum { SCHEME_UNKNOWN, SCHEME_NONE, SCHEME_BASIC, SCHEME_BEARER } scheme_t;

typedef struct {
        char *scope, *username, *password, *token;
        time_t expires;
} token_t;

struct registry {
        char *base;
        STACK_OF(X509) *cas;
        char *client_cert, *client_key;
        bool insecure;
        char *user_agent;
        long connect_timeout, low_speed_time;
        CURLSH *share;
        pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
        pthread_mutex_t lock;
        scheme_t scheme;
        char *realm, *service;
        token_t tokens[TOKEN_CACHE_MAX];
        size_t ntokens;
        atomic_uint_fast64_t requests;
        registry_ratelimit_t ratelimit; /* the last that manifest answers said (under lock) */
        void (*log)(void *log_ud, const char *line);
        void *log_ud;
};

typedef enum { SINK_DISCARD, SINK_MEM, SINK_FD } sink_t;

typedef struct {
        bool head;        /* a HEAD request (no body) */
        bool open_size;   /* SINK_FD: size is a bound, not the exact length */
        long status;
        bool body_started;
        char *www_auth, *content_type, *dcd;
        char *link;                       /* Link (tags/list pages) */
        char *rl_limit, *rl_remaining;    /* RateLimit-Limit, RateLimit-Remaining */
        uint64_t range_start;
        bool has_range;
        uint64_t content_length; /* of the current answer; UINT64_MAX: not given */
        sink_t sink;
        /* memory */
        char *buf;
        size_t len, cap, max;
        /* file */
        int fd;
        uint64_t have, size;
        digest_alg_t alg;
        digest_ctx_t *ctx;
        registry_progress_fn progress;
        void *userdata;
        int err;
} req_t;

/* registry.c */
CURL *registry__easy_new(registry_t *r, const char *url, req_t *q);
int registry__map_curl(CURLcode c, req_t *q);
int registry__map_status(long s);
void registry__req_reset_headers(req_t *q);
void registry__req_done(req_t *q);

/* registry-auth.c; the token cache is read and written under r->lock */
char *registry__token_lookup(registry_t *r, const char *scope, const registry_cred_t *cred);
void registry__apply_basic(CURL *h, const registry_cred_t *cred);
int registry__fetch_token(registry_t *r, const char *scope, const registry_cred_t *cred);
int registry__learn_challenge(registry_t *r, const char *www_auth);

/* registry-certs.c */
int registry__load_pem_certs(STACK_OF(X509) *st, const char *path);
int registry__load_certs_dir(registry_t *r, const char *dir);
