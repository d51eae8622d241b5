/* berth.h: the berth pull library. It makes sure an image is present in a local OCI
 * image layout store, deciding like the kubelet whether to contact the registry
 * (imagePullPolicy, back-off, credentials from imagePullSecrets and the node's docker
 * config). Only berth_ symbols are exported.
 *
 * Status codes: every berth_pull/berth_plan/berth_rmi call returns one of the
 * berth_status_t values below (also the exit codes of the `berth` CLI), and
 * berth_client_message() says why in one line. Functions that set things up return
 * 0 or a negative error code (-errno or berth's own). */
#ifndef BERTH_H
#define BERTH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
        BERTH_OK = 0,
        BERTH_STATUS_ERROR = 1,               /* anything else: bad option, store unusable */
        BERTH_STATUS_USAGE = 2,               /* CLI only: bad command line */
        BERTH_STATUS_ERR_IMAGE_PULL = 10,     /* ErrImagePull: the registry refused or sent bad content */
        BERTH_STATUS_ERR_IMAGE_NEVER_PULL = 11, /* ErrImageNeverPull */
        BERTH_STATUS_IMAGE_PULL_BACKOFF = 12, /* ImagePullBackOff */
        BERTH_STATUS_INVALID_IMAGE_NAME = 13, /* InvalidImageName */
        BERTH_STATUS_REGISTRY_UNAVAILABLE = 14, /* RegistryUnavailable */
} berth_status_t;

/* "ErrImagePull", ...; "" for BERTH_OK; "Error" for BERTH_STATUS_ERROR. */
const char *berth_status_name(int status);

typedef struct berth_client berth_client_t;

/* store: the OCI layout directory (created if missing). */
int berth_client_new(const char *store, berth_client_t **ret);
berth_client_t *berth_client_free(berth_client_t *c); /* NULL-safe, returns NULL */
/* The last call's message (never NULL, borrowed until the next call). */
const char *berth_client_message(const berth_client_t *c);

/* imagePullSecrets: a .dockerconfigjson / .dockercfg file or a Secret (JSON or YAML).
 * Repeatable; order matters. On a parse error the message says what is wrong. */
int berth_client_add_pull_secret(berth_client_t *c, const char *path);
/* Node credentials: DIR/config.json ("auths"; credsStore/credHelpers are ignored). A missing
 * file is not an error. */
int berth_client_set_docker_config(berth_client_t *c, const char *dir);
/* "Always" | "IfNotPresent" | "Never"; NULL or "" = the Kubernetes default. */
int berth_client_set_policy(berth_client_t *c, const char *policy);
void berth_client_set_always_pull_images(berth_client_t *c, bool on);
void berth_client_set_no_backoff(berth_client_t *c, bool on);
/* "AlwaysVerify" | "NeverVerify" | "NeverVerifyPreloadedImages" (default) |
 * "NeverVerifyAllowlistedImages" */
int berth_client_set_verify_policy(berth_client_t *c, const char *policy);
/* For NeverVerifyAllowlistedImages: an image name ("registry.example/path") or a prefix
 * written as the name followed by "/" and "*". */
int berth_client_add_verify_allowlist(berth_client_t *c, const char *pattern);
/* "os/arch[/variant]"; default this machine. */
int berth_client_set_platform(berth_client_t *c, const char *platform);
int berth_client_set_ca_file(berth_client_t *c, const char *path);
/* Default /etc/docker/certs.d. */
int berth_client_set_certs_dir(berth_client_t *c, const char *dir);
void berth_client_set_insecure(berth_client_t *c, bool on);
/* 1..64, default 3 */
int berth_client_set_max_concurrent_downloads(berth_client_t *c, int n);

typedef enum {
        BERTH_PROGRESS_WAITING,
        BERTH_PROGRESS_DOWNLOADING,
        BERTH_PROGRESS_DONE,
        BERTH_PROGRESS_EXISTS,
        BERTH_PROGRESS_FAILED,
} berth_progress_state_t;

typedef struct {
        size_t index, count;          /* which blob of how many */
        const char *digest;
        uint64_t done, total;
        berth_progress_state_t state;
} berth_progress_t;

/* Called from download threads, one call at a time. */
typedef void (*berth_progress_fn)(const berth_progress_t *p, void *userdata);
void berth_client_set_progress(berth_client_t *c, berth_progress_fn fn, void *userdata);

/* Diagnostics for a --verbose mode: one line at a time, without newline (for
 * instance which host a Bearer token realm is on, and whether the registry
 * credentials are sent there). The text may hold bytes a server sent: escape
 * before showing it. Called from any thread, one call at a time. NULL: none. */
typedef void (*berth_log_fn)(const char *line, void *userdata);
void berth_client_set_log(berth_client_t *c, berth_log_fn fn, void *userdata);

/* Ensure image is present. *ret_digest (may be NULL; malloc'd) = the image manifest digest. */
int berth_pull(berth_client_t *c, const char *image, char **ret_digest);
/* What berth_pull would do, as one JSON object (malloc'd), touching no network.
 * Returns the status the pull would start with (BERTH_OK when it would go ahead). */
int berth_plan(berth_client_t *c, const char *image, char **ret_json);
/* The store's images as a JSON array (malloc'd). */
int berth_images(berth_client_t *c, char **ret_json);
/* Remove an image's entry and free blobs nothing else uses. */
int berth_rmi(berth_client_t *c, const char *image);
/* HTTP requests made by this client so far (for tests and --verbose). */
uint64_t berth_client_request_count(const berth_client_t *c);

#ifdef __cplusplus
}
#endif
#endif
