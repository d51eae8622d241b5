/* client/plan.c: the decision (berth_plan): reference → effective policy → presence
 * in the store → credentials and whether they must be verified → back-off. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "client/backoff.h"
#include "client/berth.h"
#include "client/keyring.h"
#include "client/layout.h"
#include "client/policy.h"
#include "client/pull-internal.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/ref.h"

int pull_reason_status(policy_reason_t r) {
        switch (r) {
        case REASON_NONE: return BERTH_OK;
        case REASON_ERR_IMAGE_PULL: return BERTH_STATUS_ERR_IMAGE_PULL;
        case REASON_ERR_IMAGE_NEVER_PULL: return BERTH_STATUS_ERR_IMAGE_NEVER_PULL;
        case REASON_IMAGE_PULL_BACKOFF: return BERTH_STATUS_IMAGE_PULL_BACKOFF;
        case REASON_INVALID_IMAGE_NAME: return BERTH_STATUS_INVALID_IMAGE_NAME;
        case REASON_REGISTRY_UNAVAILABLE: return BERTH_STATUS_REGISTRY_UNAVAILABLE;
        }
        return BERTH_STATUS_ERROR;
}

void pull_plan_done(plan_t *p) {
        ref_free(p->ref);
        layout_image_done(&p->img);
        free(p->creds);
        free(p->cred_ids);
}

static int cred_id(berth_client_t *c, const ref_t *ref, const keyring_cred_t *k, char out[65]) {
        _cleanup_free_ char *msg = NULL;
        int n = asprintf(&msg, "%s%c%s%c%s", ref_domain(ref), 0, k->username, 0, k->password);
        int r;

        if (n < 0) {
                msg = NULL;
                return -ENOMEM;
        }
        r = layout_hmac(c->layout, msg, (size_t) n, out);
        explicit_bzero(msg, (size_t) n);
        return r;
}

bool pull_word_in(const char *list, const char *w) {
        size_t n = strlen(w);
        for (const char *p = list; p && (p = strstr(p, w)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

static bool allowlisted(const berth_client_t *c, const ref_t *ref) {
        const char *name = ref_name(ref);
        for (size_t i = 0; i < c->nallow; i++) {
                const char *a = c->allow[i];
                size_t n = strlen(a);
                if (n >= 2 && strcmp(a + n - 2, "/*") == 0) {
                        if (strncmp(name, a, n - 1) == 0)
                                return true;
                } else if (strcmp(name, a) == 0)
                        return true;
        }
        return false;
}

static bool needs_verification(berth_client_t *c, plan_t *p) {
        const char *by = p->img.pulled_by;

        if (c->verify == VERIFY_NEVER)
                return false;
        if (c->verify == VERIFY_NEVER_ALLOWLISTED && allowlisted(c, p->ref))
                return false;
        if (!by) /* preloaded: not pulled by berth */
                return c->verify != VERIFY_NEVER_PRELOADED;
        if (pull_word_in(by, "anonymous"))
                return false; /* anyone could pull it */
        for (size_t i = 0; i < p->ncreds; i++)
                if (pull_word_in(by, p->cred_ids[i]))
                        return false;
        return true;
}

int pull_plan_make(berth_client_t *c, const char *image, plan_t *p) {
        _cleanup_free_ char *bpath = NULL;
        backoff_entry_t be;
        policy_input_t in;
        int r;

        memset(p, 0, sizeof(*p));
        p->input = image;
        r = ref_parse(image, &p->ref, &p->ref_detail);
        if (r == BERTH_EREF_INVALID) {
                p->action = ACTION_ERROR;
                p->reason = REASON_INVALID_IMAGE_NAME;
                p->policy = c->always_pull ? POLICY_ALWAYS : c->policy;
                pull_say(c, "InvalidImageName: Failed to apply default image tag \"%s\": couldn't parse image name \"%s\": %s",
                    image, image, p->ref_detail ? p->ref_detail : "invalid reference format");
                return 0;
        }
        if (r < 0)
                return r;
        p->policy = policy_effective(c->policy, ref_effective_tag(p->ref), c->always_pull);
        r = layout_image_get(c->layout, ref_full(p->ref), &p->img);
        if (r == 0 && ref_digest(p->ref))
                r = layout_image_find_digest(c->layout, ref_name(p->ref), ref_digest(p->ref), &p->img);
        if (r < 0)
                return r;
        if (r == 1) {
                uint64_t sz;
                p->present = layout_blob_stat(c->layout, &p->img.manifest, &sz) == 1;
        }
        r = keyring_lookup(c->keyring, ref_name(p->ref), &p->creds, &p->ncreds);
        if (r < 0)
                return r;
        p->cred_ids = calloc(p->ncreds + 1, sizeof(*p->cred_ids));
        if (!p->cred_ids)
                return -ENOMEM;
        for (size_t i = 0; i < p->ncreds; i++)
                if ((r = cred_id(c, p->ref, &p->creds[i], p->cred_ids[i])) < 0)
                        return r;
        if (p->present)
                p->needs_verify = needs_verification(c, p);
        if ((r = layout_state_path(c->layout, "backoff.json", &bpath)) < 0)
                return r;
        if ((r = backoff_file_get(bpath, ref_full(p->ref), &be)) < 0)
                return r;
        p->in_backoff = !c->no_backoff && backoff_active(&be, (int64_t) time(NULL), &p->backoff_left);
        in = (policy_input_t) { p->policy, p->present, p->needs_verify, p->in_backoff };
        p->action = policy_decide(&in, &p->reason);
        switch (p->reason) {
        case REASON_ERR_IMAGE_NEVER_PULL:
                if (p->present)
                        pull_say(c, "ErrImageNeverPull: Container image \"%s\" is present with pull policy of Never but does not have the proper auth to access it",
                            ref_full(p->ref));
                else
                        pull_say(c, "ErrImageNeverPull: Container image \"%s\" is not present with pull policy of Never",
                            ref_full(p->ref));
                break;
        case REASON_IMAGE_PULL_BACKOFF:
                pull_say(c, "ImagePullBackOff: Back-off pulling image \"%s\" (%llds left; --no-backoff to try now)",
                    ref_full(p->ref), (long long) p->backoff_left);
                break;
        default:
                if (p->action == ACTION_USE_LOCAL)
                        pull_say(c, "Container image \"%s\" already present on machine", ref_full(p->ref));
                else
                        pull_say(c, "would pull \"%s\"", ref_full(p->ref));
        }
        return 0;
}

int berth_plan(berth_client_t *c, const char *image, char **ret_json) {
        plan_t p;
        json_t *o, *creds;
        int r = pull_plan_make(c, image, &p), st;

        if (r < 0) {
                pull_say(c, "%s", berth_strerror(r));
                pull_plan_done(&p);
                return BERTH_STATUS_ERROR;
        }
        creds = json_array();
        for (size_t i = 0; creds && i < p.ncreds; i++)
                json_array_append_new(creds, json_pack("{s:s,s:s,s:s}", "registry", p.creds[i].key, "username",
                                                       p.creds[i].username, "source",
                                                       p.creds[i].source == KEYRING_POD ? "pull-secret" : "node"));
        o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:o}",
                      "reference", p.ref ? ref_full(p.ref) : image,
                      "domain", p.ref ? ref_domain(p.ref) : "",
                      "path", p.ref ? ref_path(p.ref) : "",
                      "tag", p.ref ? ref_tag(p.ref) : "",
                      "digest", p.ref ? ref_digest_str(p.ref) : "",
                      "policy", policy_name(p.policy),
                      "present", p.present,
                      "action", p.action == ACTION_VERIFY ? "pull" : policy_action_name(p.action),
                      "reason", policy_reason_name(p.reason),
                      "credentials", creds);
        st = p.action == ACTION_ERROR ? pull_reason_status(p.reason) : BERTH_OK;
        pull_plan_done(&p);
        if (!o)
                return BERTH_STATUS_ERROR;
        *ret_json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return *ret_json ? st : BERTH_STATUS_ERROR;
}
