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

berth_decision_t *berth_decision_free(berth_decision_t *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->ncredentials; i++) {
                free((char *) d->credentials[i].registry);
                free((char *) d->credentials[i].username);
        }
        free((berth_credential_t *) d->credentials);
        free((char *) d->reference);
        free((char *) d->domain);
        free((char *) d->path);
        free((char *) d->tag);
        free((char *) d->digest);
        free(d);
        return NULL;
}
DEFINE_CLEANUP_FUNC(berth_decision_t, berth_decision_free);

/* the plan as the public struct */
static int decision_from_plan(const plan_t *p, const char *image, berth_decision_t **ret) {
        _cleanup_(berth_decision_freep) berth_decision_t *d = calloc(1, sizeof(*d));
        berth_credential_t *creds;

        if (!d)
                return -ENOMEM;
        d->status = p->action == ACTION_ERROR ? pull_reason_status(p->reason) : BERTH_OK;
        d->action = p->action == ACTION_ERROR ? BERTH_ACTION_ERROR
                    : p->action == ACTION_USE_LOCAL ? BERTH_ACTION_USE_LOCAL : BERTH_ACTION_PULL;
        d->policy = pull_policy_public(p->policy);
        d->present = p->present;
        d->verify = p->action == ACTION_VERIFY;
        d->in_backoff = p->in_backoff;
        d->backoff_seconds = p->in_backoff ? p->backoff_left : 0;
        d->reference = strdup(p->ref ? ref_full(p->ref) : image);
        d->domain = strdup(p->ref ? ref_domain(p->ref) : "");
        d->path = strdup(p->ref ? ref_path(p->ref) : "");
        d->tag = strdup(p->ref ? ref_tag(p->ref) : "");
        d->digest = strdup(p->ref ? ref_digest_str(p->ref) : "");
        if (!d->reference || !d->domain || !d->path || !d->tag || !d->digest)
                return -ENOMEM;
        creds = calloc(p->ncreds + 1, sizeof(*creds));
        if (!creds)
                return -ENOMEM;
        d->credentials = creds;
        for (size_t i = 0; i < p->ncreds; i++) {
                creds[i].registry = strdup(p->creds[i].key);
                creds[i].username = strdup(p->creds[i].username);
                creds[i].from_pull_secret = p->creds[i].source == KEYRING_POD;
                d->ncredentials++;
                if (!creds[i].registry || !creds[i].username)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(d);
        return 0;
}

int berth_decide(berth_client_t *c, const char *image, berth_decision_t **ret) {
        berth_decision_t *d = NULL;
        plan_t p;
        int r;

        if (!c || !image || !ret)
                return BERTH_STATUS_ERROR;
        r = pull_plan_make(c, image, &p);
        if (r == 0)
                r = decision_from_plan(&p, image, &d);
        pull_plan_done(&p);
        if (r < 0) {
                pull_say(c, "%s", berth_strerror(r));
                return BERTH_STATUS_ERROR;
        }
        *ret = d;
        return d->status;
}

int berth_plan(berth_client_t *c, const char *image, char **ret_json) {
        _cleanup_(berth_decision_freep) berth_decision_t *d = NULL;
        json_t *o, *creds;
        int st = berth_decide(c, image, &d);

        if (st == BERTH_STATUS_ERROR)
                return st;
        creds = json_array();
        for (size_t i = 0; creds && i < d->ncredentials; i++)
                json_array_append_new(creds, json_pack("{s:s,s:s,s:s}", "registry", d->credentials[i].registry,
                                                       "username", d->credentials[i].username, "source",
                                                       d->credentials[i].from_pull_secret ? "pull-secret" : "node"));
        o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:o}",
                      "reference", d->reference,
                      "domain", d->domain,
                      "path", d->path,
                      "tag", d->tag,
                      "digest", d->digest,
                      "policy", berth_policy_name(d->policy),
                      "present", d->present,
                      "action", d->action == BERTH_ACTION_ERROR ? "error"
                                : d->action == BERTH_ACTION_USE_LOCAL ? "use-local" : "pull",
                      "reason", berth_status_name(d->status),
                      "credentials", creds);
        if (!o)
                return BERTH_STATUS_ERROR;
        *ret_json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return *ret_json ? st : BERTH_STATUS_ERROR;
}
