/* client/policy.c: the decision table, as the kubelet's image manager applies it. */
#include <errno.h>
#include <string.h>
#include "client/policy.h"

int policy_parse(const char *s, policy_t *ret) {
        if (!s)
                return -EINVAL;
        if (strcmp(s, "Always") == 0)
                *ret = POLICY_ALWAYS;
        else if (strcmp(s, "IfNotPresent") == 0)
                *ret = POLICY_IF_NOT_PRESENT;
        else if (strcmp(s, "Never") == 0)
                *ret = POLICY_NEVER;
        else
                return -EINVAL;
        return 0;
}

const char *policy_name(policy_t p) {
        switch (p) {
        case POLICY_ALWAYS: return "Always";
        case POLICY_IF_NOT_PRESENT: return "IfNotPresent";
        case POLICY_NEVER: return "Never";
        default: return "";
        }
}

const char *policy_action_name(policy_action_t a) {
        switch (a) {
        case ACTION_PULL: return "pull";
        case ACTION_USE_LOCAL: return "use-local";
        case ACTION_VERIFY: return "verify";
        default: return "error";
        }
}

const char *policy_reason_name(policy_reason_t r) {
        switch (r) {
        case REASON_ERR_IMAGE_PULL: return "ErrImagePull";
        case REASON_ERR_IMAGE_NEVER_PULL: return "ErrImageNeverPull";
        case REASON_IMAGE_PULL_BACKOFF: return "ImagePullBackOff";
        case REASON_INVALID_IMAGE_NAME: return "InvalidImageName";
        case REASON_REGISTRY_UNAVAILABLE: return "RegistryUnavailable";
        default: return "";
        }
}

policy_t policy_effective(policy_t requested, const char *effective_tag, bool always_pull_images) {
        if (always_pull_images)
                return POLICY_ALWAYS;
        if (requested != POLICY_UNSET)
                return requested;
        return effective_tag && strcmp(effective_tag, "latest") == 0 ? POLICY_ALWAYS
                                                                      : POLICY_IF_NOT_PRESENT;
}

policy_action_t policy_decide(const policy_input_t *in, policy_reason_t *ret_reason) {
        policy_action_t a;

        *ret_reason = REASON_NONE;
        switch (in->policy) {
        case POLICY_NEVER:
                if (!in->present) {
                        *ret_reason = REASON_ERR_IMAGE_NEVER_PULL;
                        return ACTION_ERROR;
                }
                /* present but not proven accessible to this caller: the kubelet refuses
                 * rather than pull (ensure-secret-pulled-images) */
                if (in->needs_verification) {
                        *ret_reason = REASON_ERR_IMAGE_NEVER_PULL;
                        return ACTION_ERROR;
                }
                return ACTION_USE_LOCAL;
        case POLICY_IF_NOT_PRESENT:
                if (in->present)
                        a = in->needs_verification ? ACTION_VERIFY : ACTION_USE_LOCAL;
                else
                        a = ACTION_PULL;
                break;
        case POLICY_ALWAYS:
        default:
                a = ACTION_PULL;
                break;
        }
        if (a != ACTION_USE_LOCAL && in->in_backoff) {
                *ret_reason = REASON_IMAGE_PULL_BACKOFF;
                return ACTION_ERROR;
        }
        return a;
}
