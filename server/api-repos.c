/* server/api-repos.c: the management API's repositories and artifacts: listings
 * (storage/browse.c), one artifact with its manifest, config and layers read from
 * the store, and deletes through the registry's own functions (the immutability
 * rules, webhooks and manifest caches apply as on /v2/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "common/name.h"
#include "server/api.h"
#include "server/webhook.h"
#include "storage/browse.h"
#include "storage/retention.h"
#include "storage/usage.h"

#define CONFIG_MAX (1024 * 1024) /* largest config blob shown */

static bool method(const api_call_t *c, const char *m) {
        return strcmp(c->method, m) == 0;
}

/* ---- visibility ---- */

typedef struct {
        api_call_t *c;
        char **projects; /* sorted; NULL: every project */
} vis_t;

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool visible(const char *name, void *userdata) {
        vis_t *v = userdata;
        char project[META_TOP_MAX + 1];
        const char *key = project;
        size_t n = 0;

        if (!v->projects)
                return true;
        if (usage_project_of(name, project) < 0)
                return false;
        while (v->projects[n])
                n++;
        return bsearch(&key, v->projects, n, sizeof(char *), cmp_str) != NULL;
}

/* ---- blobs from the store ---- */

static int read_blob(server_t *srv, const char *digest, size_t max, char **ret, size_t *ret_len) {
        digest_t d;
        uint64_t size = 0;
        char *buf;
        size_t got = 0;
        int fd = -1, r;

        if ((r = digest_parse(digest, &d)) < 0)
                return r;
        if ((r = store_blob_open(srv->store, &d, &fd, &size)) < 0)
                return r;
        if (size > max) {
                close(fd);
                return BERTH_ETOOBIG;
        }
        if (!(buf = malloc(size + 1))) {
                close(fd);
                return -ENOMEM;
        }
        while (got < size) {
                ssize_t n = pread(fd, buf + got, size - got, (off_t) got);
                if (n <= 0) {
                        close(fd);
                        free(buf);
                        return n < 0 ? -errno : -EIO;
                }
                got += (size_t) n;
        }
        close(fd);
        buf[size] = '\0';
        *ret = buf;
        *ret_len = size;
        return 0;
}

/* The platforms of an index (an array, maybe empty), with sizes from the store's
 * descriptors. */
static json_t *platforms_of(server_t *srv, const char *digest, const char *media_type, manifest_t **keep) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        manifest_t *mf = NULL;
        const char *detail = NULL;
        json_t *a = json_array();

        if (!media_type || (strcmp(media_type, MT_OCI_INDEX) != 0 && strcmp(media_type, MT_DOCKER_LIST) != 0))
                return a;
        if (read_blob(srv, digest, MANIFEST_MAX_SIZE, &buf, &len) < 0 ||
            manifest_parse((const uint8_t *) buf, len, media_type, &mf, &detail) < 0)
                return a;
        for (size_t i = 0; i < manifest_desc_count(mf); i++) {
                const manifest_desc_t *d = manifest_desc(mf, i);
                if (d->kind != MANIFEST_DESC_CHILD)
                        continue;
                json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:s, s:I}", "os",
                                                   d->os ? json_string(d->os) : json_null(), "architecture",
                                                   d->arch ? json_string(d->arch) : json_null(), "variant",
                                                   d->variant ? json_string(d->variant) : json_null(), "digest",
                                                   d->digest.str, "size", (json_int_t) d->size));
        }
        if (keep)
                *keep = mf;
        else
                manifest_free(mf);
        return a;
}

static json_t *referrers_of(meta_t *m, const char *repo, const char *digest) {
        meta_referrer_t *v = NULL;
        size_t n = 0;
        digest_t d;
        json_t *a = json_array();

        if (digest_parse(digest, &d) < 0 || meta_referrers(m, repo, &d, NULL, &v, &n) < 0)
                return a;
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_pack("{s:s, s:o, s:s, s:I}", "digest", v[i].digest.str, "artifact_type",
                                                   v[i].artifact_type ? json_string(v[i].artifact_type) : json_null(),
                                                   "media_type", v[i].media_type ? v[i].media_type : "", "size",
                                                   (json_int_t) v[i].size));
        meta_referrers_free(v, n);
        return a;
}

/* rules: the project's immutability rules (one read per page), n of them */
static json_t *tag_item(api_call_t *c, meta_t *m, const char *repo, const browse_tag_t *t,
                        const meta_immutable_rule_t *rules, size_t n, bool referrers) {
        bool immutable = false;

        for (size_t i = 0; t->tag && i < n && !immutable; i++)
                immutable = meta_pattern_match(rules[i].pattern, t->tag);
        return json_pack("{s:o, s:s, s:s, s:o, s:I, s:o, s:o, s:I, s:o, s:o, s:b}", "tag",
                         t->tag ? json_string(t->tag) : json_null(), "digest", t->digest, "media_type", t->media_type,
                         "artifact_type", t->artifact_type ? json_string(t->artifact_type) : json_null(), "size",
                         (json_int_t) t->size, "platforms", platforms_of(c->req->srv, t->digest, t->media_type, NULL),
                         "pushed", api_time(t->pushed), "pull_count", (json_int_t) t->pulls, "last_pulled",
                         api_time(t->last_pulled), "referrers", referrers ? referrers_of(m, repo, t->digest) : json_array(), "immutable",
                         immutable);
}

/* ---- repositories ---- */

/* A caller who sees a few projects: a page of each project's range (an index
 * range each, whatever the rest of the registry holds), merged in name order;
 * past VISIBLE_RANGES_MAX projects, one scan of every name with the filter. */
#define VISIBLE_RANGES_MAX 64

static int cmp_repo(const void *a, const void *b) {
        return strcmp(((const browse_repo_t *) a)->name, ((const browse_repo_t *) b)->name);
}

static int repos_of_projects(meta_t *m, const char *const *projects, const char *q, const char *after, size_t limit,
                             browse_repo_t **ret, size_t *ret_n, bool *ret_more) {
        browse_repo_t *all = NULL;
        size_t len = 0;
        bool more = false;
        int r = 0;

        for (size_t i = 0; projects[i]; i++) {
                browse_repo_t *v = NULL, *nall;
                size_t n = 0;
                bool m_more = false;
                if ((r = browse_repos(m, projects[i], q, after, limit, NULL, NULL, &v, &n, &m_more)) < 0)
                        break;
                more = more || m_more;
                if (!(nall = reallocarray(all, len + n + 1, sizeof(*all)))) {
                        browse_repos_free(v, n);
                        r = -ENOMEM;
                        break;
                }
                all = nall;
                memcpy(all + len, v, n * sizeof(*v));
                len += n;
                free(v);
        }
        if (r < 0) {
                browse_repos_free(all, len);
                return r;
        }
        if (len)
                qsort(all, len, sizeof(*all), cmp_repo);
        if (len > limit) {
                for (size_t i = limit; i < len; i++)
                        browse_repo_done(&all[i]);
                len = limit;
                more = true;
        }
        *ret = all;
        *ret_n = len;
        *ret_more = more;
        return 0;
}

static json_t *repo_json(const browse_repo_t *r, int role) {
        char project[META_TOP_MAX + 1] = "";

        (void) usage_project_of(r->name, project);
        return json_pack("{s:s, s:s, s:I, s:I, s:o, s:o}", "name", r->name, "project", project, "tags",
                         (json_int_t) r->tags, "size", (json_int_t) r->size, "updated", api_time(r->updated),
                         "permissions", api_permissions(role));
}

static void repos_list(api_call_t *c, meta_t *m) {
        _cleanup_free_ char *after = NULL;
        const char *project = req_query(c->req, "project"), *q = req_query(c->req, "q");
        vis_t vis = { .c = c };
        browse_repo_t *v = NULL;
        size_t limit, n = 0;
        bool more = false;
        char last_project[META_TOP_MAX + 1] = "";
        int last_role = AUTH_ROLE_NONE, r;
        json_t *items;

        if (!method(c, "GET"))
                return api_error(c->req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
        if (api_page_args(c->req, &limit, &after) < 0)
                return;
        if (project && *project) {
                if (!meta_project_valid(project))
                        return api_error(c->req, 404, "NOT_FOUND", "project not found");
                if (api_require(c, project, AUTH_ACT_PULL) <= 0)
                        return;
        } else {
                project = NULL;
                r = auth_visible_projects(c->req->srv->auth, &c->req->who, &vis.projects);
                if (r < 0)
                        return api_errno(c->req, r, NULL);
                if (r == 1)
                        vis.projects = NULL;
        }
        n = 0;
        while (vis.projects && vis.projects[n])
                n++;
        if (vis.projects && n <= VISIBLE_RANGES_MAX)
                r = repos_of_projects(m, (const char *const *) vis.projects, q && *q ? q : NULL, after, limit, &v, &n,
                                      &more);
        else
                r = browse_repos(m, project, q && *q ? q : NULL, after, limit, vis.projects ? visible : NULL, &vis, &v,
                                 &n, &more);
        meta_strv_free(vis.projects);
        if (r < 0)
                return api_errno(c->req, r, NULL);
        items = json_array();
        for (size_t i = 0; i < n; i++) {
                char p[META_TOP_MAX + 1] = "";
                (void) usage_project_of(v[i].name, p);
                if (strcmp(p, last_project) != 0) {
                        if ((last_role = api_role(c, p)) < 0) {
                                json_decref(items);
                                browse_repos_free(v, n);
                                return;
                        }
                        snprintf(last_project, sizeof(last_project), "%s", p);
                }
                json_array_append_new(items, repo_json(&v[i], last_role));
        }
        api_page(c->req, items, more && n ? v[n - 1].name : NULL);
        browse_repos_free(v, n);
}

/* The caller's role in repo's project; answers 404 itself when the repository is
 * not visible (-1). */
static int repo_role(api_call_t *c, const char *repo) {
        char project[META_TOP_MAX + 1];
        int role;

        if (strlen(repo) > NAME_REPO_MAX || !name_repo_valid(repo, strlen(repo)) || usage_project_of(repo, project) < 0) {
                api_error(c->req, 404, "NOT_FOUND", "repository not found");
                return -1;
        }
        if ((role = api_role(c, project)) < 0)
                return -1;
        if (!auth_can(role, AUTH_ACT_PULL)) {
                api_error(c->req, 404, "NOT_FOUND", "repository not found");
                return -1;
        }
        return role;
}

static bool may(api_call_t *c, int role, auth_action_t action) {
        if (auth_can(role, action))
                return true;
        api_error(c->req, 403, "FORBIDDEN", "your role in this project may not do this");
        return false;
}

static meta_origin_t origin_of(api_call_t *c) {
        request_t *req = c->req;
        return (meta_origin_t){ .actor = req->who.name[0] ? req->who.name : NULL,
                                .address = req->addr[0] ? req->addr : NULL,
                                .now = (int64_t) server_now(req->srv) };
}

static void immutable_error(api_call_t *c) {
        api_error(c->req, 409, "IMMUTABLE", "an immutability rule of the project protects this tag");
}

static void repo_delete(api_call_t *c, meta_t *m, const char *repo) {
        char **digests = NULL;
        meta_origin_t origin = origin_of(c);
        int r = 0;

        if ((r = browse_manifest_digests(m, repo, &digests)) < 0)
                return api_errno(c->req, r, NULL);
        for (size_t i = 0; digests[i]; i++) {
                digest_t d;
                if (digest_parse(digests[i], &d) < 0)
                        continue;
                r = meta_manifest_delete_from(m, repo, &d, &origin);
                /* an index deleted first takes nothing with it; a child gone meanwhile is fine */
                if (r < 0)
                        break;
        }
        meta_strv_free(digests);
        if (origin.queued)
                webhooks_kick(c->req->srv->webhooks);
        if (r == BERTH_EDENIED)
                return immutable_error(c);
        if (r < 0)
                return api_errno(c->req, r, NULL);
        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "delete", repo, "repository");
        api_no_content(c->req);
}

/* ---- one artifact ---- */

static json_t *strv_or_null(json_t *v) {
        return json_is_array(v) ? json_incref(v) : json_null();
}

static json_t *config_json(server_t *srv, const char *digest) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        json_t *cfg, *cc, *out, *hist = json_array(), *h;
        size_t i;

        if (read_blob(srv, digest, CONFIG_MAX, &buf, &len) < 0 || !(cfg = json_loadb(buf, len, 0, NULL))) {
                json_decref(hist);
                return json_null();
        }
        if (!json_is_object(cfg)) {
                json_decref(cfg);
                json_decref(hist);
                return json_null();
        }
        cc = json_object_get(cfg, "config");
        json_array_foreach(json_object_get(cfg, "history"), i, h) {
                json_t *cb = json_object_get(h, "created_by"), *cm = json_object_get(h, "comment"),
                       *cr = json_object_get(h, "created");
                json_array_append_new(hist, json_pack("{s:o, s:o, s:b, s:o}", "created",
                                                      json_is_string(cr) ? json_incref(cr) : json_null(), "created_by",
                                                      json_is_string(cb) ? json_incref(cb) : json_null(), "empty_layer",
                                                      json_is_true(json_object_get(h, "empty_layer")), "comment",
                                                      json_is_string(cm) ? json_incref(cm) : json_null()));
        }
        out = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "created",
                        json_is_string(json_object_get(cfg, "created")) ? json_incref(json_object_get(cfg, "created"))
                                                                         : json_null(),
                        "os", json_is_string(json_object_get(cfg, "os")) ? json_incref(json_object_get(cfg, "os")) : json_null(),
                        "architecture",
                        json_is_string(json_object_get(cfg, "architecture"))
                                ? json_incref(json_object_get(cfg, "architecture"))
                                : json_null(),
                        "env", strv_or_null(json_object_get(cc, "Env")), "cmd", strv_or_null(json_object_get(cc, "Cmd")),
                        "entrypoint", strv_or_null(json_object_get(cc, "Entrypoint")), "labels",
                        json_is_object(json_object_get(cc, "Labels")) ? json_incref(json_object_get(cc, "Labels"))
                                                                       : json_object(),
                        "history", hist);
        json_decref(cfg);
        return out ? out : json_null();
}

static void artifact_get(api_call_t *c, meta_t *m, const char *repo, const char *ref) {
        _cleanup_free_ char *buf = NULL;
        browse_tag_t t = { 0 };
        char *tag_digest = NULL;
        manifest_t *mf = NULL;
        const char *detail = NULL;
        char **tags = NULL;
        size_t len = 0;
        json_t *j, *manifest, *layers = json_array(), *config = json_null(), *tj;
        int r;

        /* a tag straight from its row (not the manifest cache, which loads a
         * repository's every tag when it misses) */
        if (digest_ref_is_digest(ref))
                r = browse_manifest_get(m, repo, ref, &t);
        else if ((r = browse_tag_digest(m, repo, ref, &tag_digest)) == 1)
                r = browse_manifest_get(m, repo, tag_digest, &t);
        free(tag_digest);
        if (r <= 0) {
                json_decref(layers);
                return r < 0 ? api_errno(c->req, r, NULL) : api_error(c->req, 404, "NOT_FOUND", "artifact not found");
        }
        if ((r = read_blob(c->req->srv, t.digest, MANIFEST_MAX_SIZE, &buf, &len)) < 0 ||
            !(manifest = json_loadb(buf, len, 0, NULL))) {
                browse_tag_done(&t);
                json_decref(layers);
                return api_errno(c->req, r < 0 ? r : BERTH_EMANIFEST, NULL);
        }
        if (manifest_parse((const uint8_t *) buf, len, t.media_type, &mf, &detail) == 0 && !manifest_is_index(mf)) {
                for (size_t i = 0; i < manifest_desc_count(mf); i++) {
                        const manifest_desc_t *d = manifest_desc(mf, i);
                        if (d->kind == MANIFEST_DESC_CONFIG) {
                                json_decref(config);
                                config = config_json(c->req->srv, d->digest.str);
                        } else if (d->kind == MANIFEST_DESC_LAYER)
                                json_array_append_new(layers, json_pack("{s:s, s:o, s:I}", "digest", d->digest.str,
                                                                        "media_type",
                                                                        d->media_type ? json_string(d->media_type) : json_null(),
                                                                        "size", (json_int_t) d->size));
                }
        }
        manifest_free(mf);
        (void) browse_tags_of(m, repo, t.digest, &tags);
        tj = json_array();
        for (size_t i = 0; tags && tags[i]; i++)
                json_array_append_new(tj, json_string(tags[i]));
        meta_strv_free(tags);
        j = tag_item(c, m, repo, &t, NULL, 0, true);
        if (j) {
                json_object_del(j, "tag");
                json_object_del(j, "immutable");
                json_object_set_new(j, "tags", tj);
                json_object_set_new(j, "manifest", manifest);
                json_object_set_new(j, "config", config);
                json_object_set_new(j, "layers", layers);
        } else {
                json_decref(tj);
                json_decref(manifest);
                json_decref(config);
                json_decref(layers);
        }
        browse_tag_done(&t);
        api_json(c->req, 200, j);
}

static void artifacts_list(api_call_t *c, meta_t *m, const char *repo) {
        _cleanup_free_ char *after = NULL;
        const char *q = req_query(c->req, "q");
        browse_tag_t *v = NULL;
        meta_immutable_rule_t *rules = NULL;
        size_t limit, n = 0, n_rules = 0;
        bool more = false, has_refs;
        char project[META_TOP_MAX + 1];
        json_t *items;
        int r;

        if (api_page_args(c->req, &limit, &after) < 0)
                return;
        if ((r = browse_repo_listed(m, repo)) <= 0)
                return r < 0 ? api_errno(c->req, r, NULL) : api_error(c->req, 404, "NOT_FOUND", "repository not found");
        r = browse_tags(m, repo, q && *q ? q : NULL, after, limit, &v, &n, &more);
        if (r < 0)
                return api_errno(c->req, r, NULL);
        if (usage_project_of(repo, project) == 0 && (r = meta_immutable_list(m, project, &rules, &n_rules)) < 0) {
                browse_tags_free(v, n);
                return api_errno(c->req, r, NULL);
        }
        has_refs = browse_has_referrers(m, repo) != 0; /* (an error: ask per tag) */
        items = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(items, tag_item(c, m, repo, &v[i], rules, n_rules, has_refs));
        meta_immutable_free(rules, n_rules);
        api_page(c->req, items, more && n ? v[n - 1].tag : NULL);
        browse_tags_free(v, n);
}

void api_repositories(api_call_t *c) {
        const char *repo = c->repo;
        meta_t *m = request_meta(c->req);
        int role, r;

        if (!m)
                return;
        if (!repo)
                return c->n_segs == 1 ? repos_list(c, m) : api_error(c->req, 404, "NOT_FOUND", "no such API path");
        if ((role = repo_role(c, repo)) < 0)
                return;
        if (c->n_sub == 0) {
                browse_repo_t br;
                if (method(c, "DELETE")) {
                        if (may(c, role, AUTH_ACT_DELETE))
                                repo_delete(c, m, repo);
                        return;
                }
                if (!method(c, "GET"))
                        return api_error(c->req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
                r = browse_repo_get(m, repo, &br);
                if (r <= 0)
                        return r < 0 ? api_errno(c->req, r, NULL) : api_error(c->req, 404, "NOT_FOUND", "repository not found");
                api_json(c->req, 200, repo_json(&br, role));
                browse_repo_done(&br);
                return;
        }
        if (strcmp(c->sub[0], "artifacts") == 0 && c->n_sub == 1) {
                if (!method(c, "GET"))
                        return api_error(c->req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
                return artifacts_list(c, m, repo);
        }
        if (strcmp(c->sub[0], "artifacts") == 0 && c->n_sub == 2) {
                const char *ref = c->sub[1];
                bool is_digest = digest_ref_is_digest(ref);
                if (!is_digest && !name_tag_valid(ref, strlen(ref)))
                        return api_error(c->req, 400, "NAME_INVALID", "not a tag or digest");
                if (method(c, "GET"))
                        return artifact_get(c, m, repo, ref);
                if (method(c, "DELETE")) {
                        digest_t d;
                        meta_origin_t origin = origin_of(c);
                        if (!may(c, role, AUTH_ACT_DELETE))
                                return;
                        if (!is_digest || digest_parse(ref, &d) < 0)
                                return api_error(c->req, 400, "NAME_INVALID", "delete an artifact by digest");
                        r = meta_manifest_delete_from(m, repo, &d, &origin);
                        if (origin.queued)
                                webhooks_kick(c->req->srv->webhooks);
                        if (r == BERTH_EDENIED)
                                return immutable_error(c);
                        if (r <= 0)
                                return r < 0 ? api_errno(c->req, r, NULL) : api_error(c->req, 404, "NOT_FOUND", "artifact not found");
                        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "delete", repo, ref);
                        return api_no_content(c->req);
                }
                return api_error(c->req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
        }
        if (strcmp(c->sub[0], "tags") == 0 && c->n_sub == 2) {
                const char *tag = c->sub[1];
                meta_origin_t origin = origin_of(c);
                if (!method(c, "DELETE"))
                        return api_error(c->req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
                if (!may(c, role, AUTH_ACT_DELETE))
                        return;
                if (!name_tag_valid(tag, strlen(tag)))
                        return api_error(c->req, 400, "NAME_INVALID", "invalid tag");
                r = meta_tag_delete_from(m, repo, tag, &origin);
                if (origin.queued)
                        webhooks_kick(c->req->srv->webhooks);
                if (r == BERTH_EDENIED)
                        return immutable_error(c);
                if (r <= 0)
                        return r < 0 ? api_errno(c->req, r, NULL) : api_error(c->req, 404, "NOT_FOUND", "tag not found");
                (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "delete", repo, tag);
                return api_no_content(c->req);
        }
        api_error(c->req, 404, "NOT_FOUND", "no such API path");
}
