/* berth.h: libberth, the berth pull library. It makes sure an image is present in a
 * local OCI image layout store, deciding like the kubelet whether to contact the
 * registry (imagePullPolicy, back-off, credentials from imagePullSecrets and the node's
 * docker config). Installed as <berth/berth.h>; compile and link with
 * `pkg-config --cflags --libs berth`. Only berth_ symbols are exported.
 *
 * Results. Two kinds of return value:
 *   - berth_pull, berth_plan, berth_decide, berth_images and berth_rmi return a
 *     berth_status_t (below; also the exit codes of the `berth` CLI), and
 *     berth_client_message() says why in one line.
 *   - Every other function that can fail returns 0 or a negative error code from one
 *     error space: -errno (-EINVAL for an argument out of range, -ENOMEM, -ENOENT or
 *     -EACCES for a file, ...) or berth's own BERTH_E* codes (<berth/common/err.h>,
 *     included here; from -1000 down, new codes only ever appended), such as
 *     BERTH_ECONFIG (a credentials file that does not parse; the message says where)
 *     or BERTH_ETOOBIG (a file over its size limit). berth_strerror() names any of them.
 *
 * Threads. One berth_client_t is used by one thread at a time: calls on the same
 * client must not overlap (they share its settings and its message). Different
 * clients may be used from different threads at once. Several clients, in one process
 * or in several, may share one store: what must be exclusive is locked (one
 * downloader per blob, one writer of the image index, no garbage collection while a
 * pull runs). berth_client_new and berth_client_free call libcurl's reference-counted
 * curl_global_init/curl_global_cleanup, which are thread-safe from libcurl 7.84 on.
 *
 * Ownership. A char ** or berth_decision_t ** output belongs to the caller: free a
 * string with free(), a decision with berth_decision_free(). An output is written only
 * when the call succeeds: 0; for berth_pull, BERTH_OK; for berth_plan and berth_decide,
 * any status but BERTH_STATUS_ERROR (a refusal is a decision too). A returned
 * const char * is borrowed: static text for the *_name
 * functions, berth_version and berth_strerror; for berth_client_message, valid until
 * the next call on that client. Input strings are copied when kept. */
#ifndef BERTH_H
#define BERTH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "common/err.h"

/* The library's version, "MAJOR.MINOR.PATCH" (the berth release it comes from). */
const char *berth_version(void);

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

/* imagePullPolicy */
typedef enum {
        BERTH_POLICY_DEFAULT = 0,     /* the Kubernetes default: Always for :latest or untagged, else IfNotPresent */
        BERTH_POLICY_ALWAYS,
        BERTH_POLICY_IF_NOT_PRESENT,
        BERTH_POLICY_NEVER,
} berth_policy_t;

/* "Always", "IfNotPresent", "Never"; "" for BERTH_POLICY_DEFAULT and unknown values. */
const char *berth_policy_name(berth_policy_t policy);

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
/* The pull policy as an enum; -EINVAL for a value outside berth_policy_t. */
int berth_client_set_pull_policy(berth_client_t *c, berth_policy_t policy);
/* The same by name: "Always" | "IfNotPresent" | "Never"; NULL or "" = the Kubernetes default. */
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
        const char *digest;           /* borrowed for the call */
        uint64_t done, total;
        berth_progress_state_t state;
} berth_progress_t;

/* Called from download threads, one call at a time; it must not call into the same
 * client. */
typedef void (*berth_progress_fn)(const berth_progress_t *p, void *userdata);
void berth_client_set_progress(berth_client_t *c, berth_progress_fn fn, void *userdata);

/* Ensure image is present. *ret_digest (may be NULL; malloc'd) = the image manifest digest. */
int berth_pull(berth_client_t *c, const char *image, char **ret_digest);

/* What berth_pull would do, decided without touching the network. */
typedef enum {
        BERTH_ACTION_PULL,            /* contact the registry */
        BERTH_ACTION_USE_LOCAL,       /* use the image in the store */
        BERTH_ACTION_ERROR,           /* refuse; the status says why */
} berth_action_t;

typedef struct {
        const char *registry;         /* the credentials key that matched ("reg.example:5000", "*.example.com") */
        const char *username;
        bool from_pull_secret;        /* an imagePullSecret; else the node's docker config */
} berth_credential_t;

typedef struct {
        int status;                   /* berth_status_t the pull would start with (BERTH_OK: it goes ahead) */
        berth_action_t action;
        berth_policy_t policy;        /* the effective policy (DEFAULT only for an invalid name) */
        bool present;                 /* the image is in the store */
        bool verify;                  /* present, but these credentials must be confirmed first (action PULL) */
        bool in_backoff;              /* a recent pull failed (ignored with no_backoff) */
        int64_t backoff_seconds;      /* seconds of back-off left when in_backoff */
        /* The normalized reference and its parts; tag and digest as given ("" when
         * absent). For an invalid name (BERTH_STATUS_INVALID_IMAGE_NAME), reference is
         * the input and the parts are "". For "nginx": */
        const char *reference;        /* "docker.io/library/nginx:latest" */
        const char *domain;           /* "docker.io" */
        const char *path;             /* "library/nginx" */
        const char *tag;              /* "" (reference shows the default :latest) */
        const char *digest;           /* "" ("sha256:..." when given) */
        size_t ncredentials;          /* the credentials that would be tried, in order */
        const berth_credential_t *credentials;
} berth_decision_t;

/* The decision for image, as a struct: *ret (free with berth_decision_free; every
 * string in it belongs to it). The library allocates it so that fields can be added at
 * the end without breaking callers. Returns the decision's status; BERTH_STATUS_ERROR
 * (and *ret untouched) when the store or a file cannot be read. */
int berth_decide(berth_client_t *c, const char *image, berth_decision_t **ret);
berth_decision_t *berth_decision_free(berth_decision_t *d); /* NULL-safe, returns NULL */
/* The same decision as one JSON object (malloc'd): reference, domain, path, tag,
 * digest, policy, present, action ("pull", "use-local", "error"), reason (the status
 * name), credentials [{registry, username, source: "pull-secret" | "node"}]. */
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
