/* server/project.c: deleting a project (see project.h). */
#include <errno.h>
#include <stdlib.h>
#include "auth/auth-internal.h"
#include "server/project.h"
#include "storage/retention.h"
#include "storage/usage.h"
#include "storage/webhook.h"

typedef struct {
        int64_t *ids;
        size_t n, cap;
} ids_t;

static int collect(const webhook_info_t *w, void *userdata) {
        ids_t *v = userdata;

        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 8;
                int64_t *nv = reallocarray(v->ids, cap, sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                v->ids = nv;
                v->cap = cap;
        }
        v->ids[v->n++] = w->id;
        return 0;
}

int project_delete(auth_t *a, meta_t *m, const char *name) {
        meta_immutable_rule_t *rules = NULL;
        ids_t hooks = { 0 };
        size_t n = 0;
        int r;

        if (!a || !m || !name)
                return -EINVAL;
        r = auth_project_delete(a, name);
        if (r < 0)
                return r;
        /* the settings kept apart from the project's row */
        r = usage_quota_clear(m, name);
        if (r >= 0)
                r = meta_retention_delete(m, name);
        if (r >= 0 && (r = meta_immutable_list(m, name, &rules, &n)) >= 0) {
                for (size_t i = 0; r >= 0 && i < n; i++)
                        r = meta_immutable_del(m, name, rules[i].pattern);
                meta_immutable_free(rules, n);
        }
        if (r >= 0)
                r = webhook_list(meta_conn(m), name, collect, &hooks);
        for (size_t i = 0; r >= 0 && i < hooks.n; i++)
                r = webhook_del(meta_conn(m), hooks.ids[i]);
        free(hooks.ids);
        return r < 0 ? r : 0;
}
