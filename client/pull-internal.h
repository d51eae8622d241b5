/* client/pull-internal.h: what the files behind the public API (client/berth.h) share.
 *   berth.c     the client object: creation, settings, messages, status names
 *   plan.c      the decision: reference, policy, presence, credentials, back-off
 *   download.c  the download pool: blobs fetched in parallel into the store
 *   pull.c      the pull engine: manifests, platform choice, credentials in turn
 *   images.c    listing and removing images
 * Helpers are named pull_*: only the public API is named berth_. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "client/berth.h"
#include "client/keyring.h"
#include "client/layout.h"
#include "client/platform.h"
#include "client/policy.h"
#include "client/registry.h"
#include "common/manifest.h"
#include "common/ref.h"

#define MAX_DOWNLOADS 64

typedef enum {
        VERIFY_NEVER_PRELOADED = 0,
        VERIFY_ALWAYS,
        VERIFY_NEVER,
        VERIFY_NEVER_ALLOWLISTED,
} verify_t;

struct berth_client {
        layout_t *layout;
        keyring_t *keyring;
        policy_t policy;
        bool always_pull, no_backoff, insecure;
        verify_t verify;
        char **allow;
        size_t nallow;
        platform_t platform;
        char *ca_file, *certs_dir;
        int max_dl;
        berth_progress_fn progress;
        void *progress_ud;
        pthread_mutex_t progress_lock;
        uint64_t requests;
        char msg[1024];
};

/* berth.c: the message berth_client_message() returns */
void pull_say(berth_client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* berth.c: the public name of a policy */
berth_policy_t pull_policy_public(policy_t p);

/* ---- plan.c ---- */

typedef struct {
        const char *input;
        ref_t *ref;
        const char *ref_detail;
        policy_t policy;
        bool present;
        layout_image_t img;
        bool needs_verify, in_backoff;
        int64_t backoff_left;
        keyring_cred_t *creds;
        size_t ncreds;
        char (*cred_ids)[65];
        policy_action_t action;
        policy_reason_t reason;
} plan_t;

/* Decide for image. 0 with *p filled (an invalid name is a decision too: ACTION_ERROR);
 * <0 when the store or a credentials file fails. Free with pull_plan_done() either way. */
int pull_plan_make(berth_client_t *c, const char *image, plan_t *p);
void pull_plan_done(plan_t *p);
/* The berth_status_t for a policy reason. */
int pull_reason_status(policy_reason_t r);
/* w is one of the space-separated words of list. */
bool pull_word_in(const char *list, const char *w);

/* download.c: every blob of manifest m into the store, up to max_dl at a time */
int pull_fetch_blobs(berth_client_t *c, registry_t *reg, const char *repo, const registry_cred_t *cred,
                     const manifest_t *m);
