/* client/berth.c: the public API's client object: creation, settings, the last call's
 * message, status names. The decision is in plan.c, the pull in pull.c and download.c,
 * the image list in images.c (client/pull-internal.h lists them). */
#include "config.h"
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "client/berth.h"
#include "client/dockercfg.h"
#include "client/keyring.h"
#include "client/layout.h"
#include "client/platform.h"
#include "client/policy.h"
#include "client/pull-internal.h"
#include "common/err.h"
#include "common/macro.h"

void pull_say(berth_client_t *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
        va_end(ap);
}

const char *berth_version(void) { return PACKAGE_VERSION; }

const char *berth_status_name(int s) {
        switch (s) {
        case BERTH_OK: return "";
        case BERTH_STATUS_ERR_IMAGE_PULL: return "ErrImagePull";
        case BERTH_STATUS_ERR_IMAGE_NEVER_PULL: return "ErrImageNeverPull";
        case BERTH_STATUS_IMAGE_PULL_BACKOFF: return "ImagePullBackOff";
        case BERTH_STATUS_INVALID_IMAGE_NAME: return "InvalidImageName";
        case BERTH_STATUS_REGISTRY_UNAVAILABLE: return "RegistryUnavailable";
        case BERTH_STATUS_USAGE: return "Usage";
        default: return "Error";
        }
}

int berth_client_new(const char *store, berth_client_t **ret) {
        berth_client_t *c;
        int r;

        if (!store || !ret)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->progress_lock, NULL);
        c->max_dl = 3;
        platform_default(&c->platform);
        curl_global_init(CURL_GLOBAL_DEFAULT); /* reference-counted; undone in berth_client_free */
        r = keyring_new(&c->keyring);
        if (r == 0)
                r = layout_open(store, &c->layout);
        if (r < 0) {
                berth_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

berth_client_t *berth_client_free(berth_client_t *c) {
        if (!c)
                return NULL;
        layout_free(c->layout);
        keyring_free(c->keyring);
        for (size_t i = 0; i < c->nallow; i++)
                free(c->allow[i]);
        free(c->allow);
        free(c->ca_file);
        free(c->certs_dir);
        pthread_mutex_destroy(&c->progress_lock);
        free(c);
        curl_global_cleanup();
        return NULL;
}

const char *berth_client_message(const berth_client_t *c) { return c->msg; }
uint64_t berth_client_request_count(const berth_client_t *c) { return c->requests; }

static int add_cfg_file(berth_client_t *c, const char *path, keyring_source_t src, bool missing_ok) {
        dockercfg_t *cfg = NULL;
        const char *detail = NULL;
        int r = dockercfg_load(path, &cfg, &detail);

        if (r == -ENOENT && missing_ok)
                return 0;
        if (r < 0) {
                pull_say(c, "%s: %s", path, detail && r == BERTH_ECONFIG ? detail : berth_strerror(r));
                return r;
        }
        r = keyring_add(c->keyring, src, cfg);
        dockercfg_free(cfg);
        return r;
}

int berth_client_add_pull_secret(berth_client_t *c, const char *path) {
        return add_cfg_file(c, path, KEYRING_POD, false);
}

int berth_client_set_docker_config(berth_client_t *c, const char *dir) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/config.json", dir) < 0) {
                p = NULL;
                return -ENOMEM;
        }
        return add_cfg_file(c, p, KEYRING_NODE, true);
}

int berth_client_set_policy(berth_client_t *c, const char *p) {
        if (!p || !p[0]) {
                c->policy = POLICY_UNSET;
                return 0;
        }
        if (policy_parse(p, &c->policy) < 0) {
                pull_say(c, "invalid pull policy \"%s\" (Always, IfNotPresent or Never)", p);
                return -EINVAL;
        }
        return 0;
}

berth_policy_t pull_policy_public(policy_t p) {
        switch (p) {
        case POLICY_ALWAYS: return BERTH_POLICY_ALWAYS;
        case POLICY_IF_NOT_PRESENT: return BERTH_POLICY_IF_NOT_PRESENT;
        case POLICY_NEVER: return BERTH_POLICY_NEVER;
        default: return BERTH_POLICY_DEFAULT;
        }
}

const char *berth_policy_name(berth_policy_t p) {
        switch (p) {
        case BERTH_POLICY_ALWAYS: return policy_name(POLICY_ALWAYS);
        case BERTH_POLICY_IF_NOT_PRESENT: return policy_name(POLICY_IF_NOT_PRESENT);
        case BERTH_POLICY_NEVER: return policy_name(POLICY_NEVER);
        default: return "";
        }
}

int berth_client_set_pull_policy(berth_client_t *c, berth_policy_t p) {
        switch (p) {
        case BERTH_POLICY_DEFAULT: c->policy = POLICY_UNSET; return 0;
        case BERTH_POLICY_ALWAYS: c->policy = POLICY_ALWAYS; return 0;
        case BERTH_POLICY_IF_NOT_PRESENT: c->policy = POLICY_IF_NOT_PRESENT; return 0;
        case BERTH_POLICY_NEVER: c->policy = POLICY_NEVER; return 0;
        }
        pull_say(c, "invalid pull policy %d", (int) p);
        return -EINVAL;
}

void berth_client_set_always_pull_images(berth_client_t *c, bool on) { c->always_pull = on; }
void berth_client_set_no_backoff(berth_client_t *c, bool on) { c->no_backoff = on; }
void berth_client_set_insecure(berth_client_t *c, bool on) { c->insecure = on; }

int berth_client_set_verify_policy(berth_client_t *c, const char *p) {
        if (strcmp(p, "NeverVerifyPreloadedImages") == 0)
                c->verify = VERIFY_NEVER_PRELOADED;
        else if (strcmp(p, "AlwaysVerify") == 0)
                c->verify = VERIFY_ALWAYS;
        else if (strcmp(p, "NeverVerify") == 0)
                c->verify = VERIFY_NEVER;
        else if (strcmp(p, "NeverVerifyAllowlistedImages") == 0)
                c->verify = VERIFY_NEVER_ALLOWLISTED;
        else {
                pull_say(c, "invalid credential verification policy \"%s\"", p);
                return -EINVAL;
        }
        return 0;
}

int berth_client_add_verify_allowlist(berth_client_t *c, const char *pattern) {
        char **nv;

        if (!pattern || !pattern[0] || strlen(pattern) > 512)
                return -EINVAL;
        nv = realloc(c->allow, (c->nallow + 1) * sizeof(*nv));
        if (!nv)
                return -ENOMEM;
        c->allow = nv;
        c->allow[c->nallow] = strdup(pattern);
        if (!c->allow[c->nallow])
                return -ENOMEM;
        c->nallow++;
        return 0;
}

int berth_client_set_platform(berth_client_t *c, const char *p) {
        if (platform_parse(p, &c->platform) < 0) {
                pull_say(c, "invalid platform \"%s\" (os/arch[/variant])", p);
                return -EINVAL;
        }
        return 0;
}

static int set_str(char **dst, const char *v) {
        char *n = v ? strdup(v) : NULL;
        if (v && !n)
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

int berth_client_set_ca_file(berth_client_t *c, const char *p) { return set_str(&c->ca_file, p); }
int berth_client_set_certs_dir(berth_client_t *c, const char *p) { return set_str(&c->certs_dir, p); }

int berth_client_set_max_concurrent_downloads(berth_client_t *c, int n) {
        if (n < 1 || n > MAX_DOWNLOADS)
                return -EINVAL;
        c->max_dl = n;
        return 0;
}

void berth_client_set_progress(berth_client_t *c, berth_progress_fn fn, void *ud) {
        c->progress = fn;
        c->progress_ud = ud;
}
