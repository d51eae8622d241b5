/* client/registry.h: a Docker Registry HTTP API v2 / OCI distribution client over libcurl.
 * One registry_t per registry host; safe to use from several threads (connections,
 * DNS and TLS sessions are shared, the token cache is locked).
 * Authentication: the 401 challenge decides (Basic, or Bearer with realm/service/scope;
 * tokens cached until they expire). Credentials ride on curl's own auth options so
 * they are never sent to another host when a blob download is redirected. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/digest.h"

typedef struct registry registry_t;

typedef struct {
        bool insecure;            /* plain http:// */
        const char *ca_file;      /* extra trusted CA (PEM), may be NULL */
        const char *certs_dir;    /* per-host CA/client certs: <dir>/<host:port>/ (default /etc/docker/certs.d) */
        const char *user_agent;
        long connect_timeout_s;   /* default 15 */
        long low_speed_time_s;    /* abort when below 1 byte/s for this long; default 60 */
        /* Diagnostics (--verbose), one line without newline, from any thread; may be
         * NULL. Says, for instance, which host a Bearer token realm is on. */
        void (*log)(void *log_ud, const char *line);
        void *log_ud;
} registry_opts_t;

typedef struct {
        const char *username;     /* NULL: anonymous */
        const char *password;
} registry_cred_t;

/* domain as in a reference ("docker.io" is reached at registry-1.docker.io). */
int registry_new(const char *domain, const registry_opts_t *o, registry_t **ret);
registry_t *registry_free(registry_t *r);
/* Number of HTTP requests made so far (tests, --verbose). */
uint64_t registry_request_count(const registry_t *r);

/* GET /v2/. 0 reachable (200 or 401), BERTH_EUNAVAILABLE, -ENOMEM. */
int registry_ping(registry_t *r);

/* GET a manifest by tag or digest. Verified: against reference when it is a digest,
 * against Docker-Content-Digest when the server sends one. *ret_buf (malloc'd),
 * *ret_media_type (malloc'd, may be ""), *ret_digest. Errors: BERTH_EAUTH,
 * BERTH_EDENIED, BERTH_ENOTFOUND, BERTH_EUNAVAILABLE, BERTH_EDIGEST,
 * BERTH_ETOOBIG, BERTH_EHTTP. */
int registry_get_manifest(registry_t *r, const char *repo, const char *reference, const registry_cred_t *cred,
                          char **ret_buf, size_t *ret_len, char **ret_media_type, digest_t *ret_digest);

typedef void (*registry_progress_fn)(void *userdata, uint64_t done, uint64_t total);

/* Download a blob into the file fd (opened O_RDWR), which already holds the first
 * `have` bytes of it (resume with Range; restarts from 0 if the server ignores Range).
 * The digest and size are checked while it streams; on success the file holds exactly
 * the blob. BERTH_EDIGEST / BERTH_ETOOBIG when the content is wrong (the caller removes
 * the file), other errors as for manifests. */
int registry_get_blob(registry_t *r, const char *repo, const digest_t *d, uint64_t size, const registry_cred_t *cred,
                      int fd, uint64_t have, registry_progress_fn progress, void *userdata);

/* A blob whose size is not known (a pull-through cache): at most max_size bytes
 * (more: BERTH_ETOOBIG), written to fd from offset 0, checked against d while it
 * streams (BERTH_EDIGEST). *ret_size (if non-NULL) its length. progress (if
 * non-NULL) is called after each write with the bytes written and the length the
 * upstream announced (Content-Length; 0 when it gave none). Errors otherwise as
 * for registry_get_blob. */
int registry_fetch_blob(registry_t *r, const char *repo, const digest_t *d, uint64_t max_size,
                        const registry_cred_t *cred, int fd, registry_progress_fn progress, void *userdata,
                        uint64_t *ret_size);

/* HEAD a manifest by tag or digest: its digest from Docker-Content-Digest (an
 * answer without one: BERTH_EHTTP). Errors as for registry_get_manifest. */
int registry_head_manifest(registry_t *r, const char *repo, const char *reference, const registry_cred_t *cred,
                           digest_t *ret_digest);

/* The tags of repo, every page (following Link rel="next" on this registry), at
 * most max of them (more: BERTH_ETOOBIG). *ret: a NULL-terminated list sorted as
 * by strcmp, without duplicates, invalid tag names left out (free with
 * registry_strv_free). Errors as for registry_get_manifest. */
int registry_list_tags(registry_t *r, const char *repo, const registry_cred_t *cred, size_t max, char ***ret);
void registry_strv_free(char **v); /* NULL-safe */

/* What the registry said about its pull rate limit on the last manifest answer
 * that told (Docker Hub's RateLimit-Limit and RateLimit-Remaining headers, as
 * "100;w=21600": 100 pulls per 21600 s window). */
typedef struct {
        int64_t limit, remaining; /* -1: not said */
        int64_t window;           /* seconds; 0: not said */
        time_t when;              /* 0: never said */
} registry_ratelimit_t;
void registry_ratelimit(registry_t *r, registry_ratelimit_t *ret);
/* Exposed for tests: one RateLimit-* value: its first item's count and its w=
 * parameter (0 when absent). 0, or -EINVAL. */
int registry_ratelimit_parse(const char *value, int64_t *ret_count, int64_t *ret_window);

/* Exposed for tests: the target of the rel="next" entry of a Link header value
 * (malloc'd), 0 when none; -EINVAL, -ENOMEM. */
int registry_link_next(const char *value, char **ret);

/* Exposed for tests: parse a WWW-Authenticate value. scheme is "basic" or "bearer"
 * (lowercased); realm/service/scope are malloc'd or NULL. 0, -EINVAL, -ENOMEM. */
typedef struct {
        char scheme[16];
        char *realm, *service, *scope;
} registry_challenge_t;
int registry_challenge_parse(const char *value, registry_challenge_t *ret);
void registry_challenge_done(registry_challenge_t *c);
