/* client/policy.h: the kubelet's imagePullPolicy decision, with the Kubernetes
 * defaulting rule and the AlwaysPullImages admission controller. Pure functions. */
#pragma once
#include <stdbool.h>

typedef enum {
        POLICY_UNSET = 0,
        POLICY_ALWAYS,
        POLICY_IF_NOT_PRESENT,
        POLICY_NEVER,
} policy_t;

typedef enum {
        ACTION_PULL,        /* contact the registry (Always: resolve the digest first) */
        ACTION_USE_LOCAL,   /* use the image in the store, no network */
        ACTION_VERIFY,      /* present, but the caller's credentials must be confirmed */
        ACTION_ERROR,
} policy_action_t;

typedef enum {
        REASON_NONE = 0,
        REASON_ERR_IMAGE_PULL,
        REASON_ERR_IMAGE_NEVER_PULL,
        REASON_IMAGE_PULL_BACKOFF,
        REASON_INVALID_IMAGE_NAME,
        REASON_REGISTRY_UNAVAILABLE,
} policy_reason_t;

/* "Always" / "IfNotPresent" / "Never" → 0 and *ret; -EINVAL otherwise. */
int policy_parse(const char *s, policy_t *ret);
const char *policy_name(policy_t p);          /* "" for POLICY_UNSET */
const char *policy_action_name(policy_action_t a); /* "pull", "use-local", "verify", "error" */
const char *policy_reason_name(policy_reason_t r); /* "" for REASON_NONE */

/* The effective policy. effective_tag is ref_effective_tag(): Kubernetes defaults an
 * unset policy to Always when the tag is "latest" (also when neither tag nor digest
 * was given), else IfNotPresent. always_pull_images forces Always. */
policy_t policy_effective(policy_t requested, const char *effective_tag, bool always_pull_images);

typedef struct {
        policy_t policy;          /* effective */
        bool present;             /* image in the store */
        bool needs_verification;  /* present but the caller's credentials are unconfirmed */
        bool in_backoff;          /* a recent failure and back-off not disabled */
} policy_input_t;

/* The decision table. *ret_reason is REASON_NONE unless the action is ACTION_ERROR. */
policy_action_t policy_decide(const policy_input_t *in, policy_reason_t *ret_reason);
