/* server/api-projects.c: the management API's projects (with usage and quota),
 * members, robot tokens, immutability and retention rules, users, the audit
 * trail, GC runs and the system page. Every change goes through the functions
 * the `berthd` subcommands use (auth/admin.c, storage/usage.c,
 * storage/retention.c, the GC of storage/registry.c): one implementation of
 * each rule. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "config.h"
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "common/file.h"
#include "common/secretbox.h"
#include "server/api.h"
#include "server/project.h"
#include "server/pullthrough.h"
#include "storage/proxycache.h"
#include "server/cli-auth.h"
#include "server/gc.h"
#include "storage/browse.h"
#include "storage/retention.h"
#include "storage/usage.h"

#define ROBOT_SECRET_NAME "berth-pull-secret"
_Static_assert(API_RULES_MAX <= META_KEEP_RULES_MAX, "a parsed policy must fit storage's");

static bool method(const api_call_t *c, const char *m) {
        return strcmp(c->method, m) == 0;
}

static void not_allowed(api_call_t *c) {
        api_error(c->req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
}

/* ---- projects ---- */

typedef struct {
        char *name;
        bool public;
} proj_t;

typedef struct {
        proj_t *v;
        size_t n, cap;
} projs_t;

static int collect_project(const auth_project_info_t *p, void *userdata) {
        projs_t *ps = userdata;

        if (ps->n == ps->cap) {
                size_t ncap = ps->cap ? ps->cap * 2 : 32;
                proj_t *nv = reallocarray(ps->v, ncap, sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                ps->v = nv;
                ps->cap = ncap;
        }
        if (!(ps->v[ps->n].name = strdup(p->name)))
                return -ENOMEM;
        ps->v[ps->n++].public = p->public;
        return 0;
}

static void projs_free(projs_t *ps) {
        for (size_t i = 0; i < ps->n; i++)
                free(ps->v[i].name);
        free(ps->v);
}

/* One project row by name: 1 and *ret (name malloc'd), 0 none. */
static int project_find(api_call_t *c, const char *name, proj_t *ret) {
        projs_t ps = { 0 };
        int r = auth_project_list(c->req->srv->auth, collect_project, &ps), found = 0;

        for (size_t i = 0; r == 0 && i < ps.n; i++)
                if (strcmp(ps.v[i].name, name) == 0) {
                        ret->name = TAKE_PTR(ps.v[i].name);
                        ret->public = ps.v[i].public;
                        found = 1;
                }
        projs_free(&ps);
        return r < 0 ? r : found;
}

/* ---- proxy projects (issue 13) ---- */

#define PROXY_CA_DIR "proxy-ca"

/* The proxy settings of a proxy project (never its password: whether one is
 * set), with its counters since this server started when status. */
static json_t *proxy_json(api_call_t *c, const proxycache_conf_t *f, bool status) {
        json_t *j = json_pack("{s:s, s:o, s:b, s:b, s:I, s:o, s:b, s:o}", "url", f->url, "username",
                              f->username ? json_string(f->username) : json_null(), "password_set",
                              f->password != NULL, "ca_set", f->ca_file != NULL, "ttl", (json_int_t) f->ttl,
                              "mirror_of", f->mirror_of ? json_string(f->mirror_of) : json_null(), "docker_mirror",
                              f->docker_mirror, "created", api_time(f->created));
        pullthrough_stats_t st;

        if (!j || !status)
                return j;
        if (pullthrough_stats(c->req->srv->pullthrough, f->project, &st) <= 0) {
                json_object_set_new(j, "status", json_null());
                return j;
        }
        json_object_set_new(j, "status",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "hits",
                                      (json_int_t) st.hits, "misses", (json_int_t) st.misses, "revalidations",
                                      (json_int_t) st.revalidations, "stale_served", (json_int_t) st.stale,
                                      "errors", (json_int_t) st.errors, "bytes_fetched",
                                      (json_int_t) st.bytes_fetched, "ratelimit_limit",
                                      st.ratelimit_limit >= 0 ? json_integer(st.ratelimit_limit) : json_null(),
                                      "ratelimit_remaining",
                                      st.ratelimit_remaining >= 0 ? json_integer(st.ratelimit_remaining)
                                                                  : json_null(),
                                      "ratelimit_time", api_time(st.ratelimit_time), "problem",
                                      st.broken < 0 ? json_string(berth_strerror(st.broken)) : json_null()));
        return j;
}

/* The proxy record of name: 1 and *ret, 0 not a proxy project, <0. */
static int proxy_get(api_call_t *c, const char *name, proxycache_conf_t *ret) {
        db_conn_t *conn = NULL;
        int r = db_conn_get(server_db(c->req->srv), &conn);

        memset(ret, 0, sizeof(*ret));
        if (r < 0)
                return r;
        r = proxycache_get(conn, name, ret);
        db_conn_put(server_db(c->req->srv), conn);
        return r;
}

/* Replaces *field with a copy of v (NULL: none). */
static int set_field(char **field, const char *v) {
        char *n = NULL;

        if (v && !(n = strdup(v)))
                return -ENOMEM;
        free(*field);
        *field = n;
        return 0;
}

/* The CA certificates of ca_pem into a file of the data directory the servers
 * read (DATA/proxy-ca/PROJECT-HASH.pem: a new name for new content, so servers
 * see the change): 0 and *ret (the absolute path, malloc'd), or -1 answered. */
static int ca_store(api_call_t *c, const char *project, const char *pem, char **ret) {
        _cleanup_free_ char *dir = NULL, *abs = NULL, *path = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0, n = 0;
        char hex[17];
        BIO *bio;
        X509 *x;
        int r;

        /* at least one certificate, and nothing that is not one */
        if (!(bio = BIO_new_mem_buf(pem, (int) strlen(pem))))
                return api_errno(c->req, -ENOMEM, NULL), -1;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
                X509_free(x);
                n++;
        }
        BIO_free(bio);
        if (n == 0) {
                api_error(c->req, 400, "BAD_REQUEST", "proxy.ca_pem: no PEM certificate in it");
                return -1;
        }
        if (!EVP_Digest(pem, strlen(pem), md, &md_len, EVP_sha256(), NULL))
                return api_errno(c->req, -ENOMEM, NULL), -1;
        for (unsigned i = 0; i < 8; i++)
                (void) snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (asprintf(&dir, "%s/%s", c->req->srv->cfg->data_dir, PROXY_CA_DIR) < 0)
                return api_errno(c->req, -ENOMEM, NULL), -1;
        if ((r = file_mkdir_p(dir, 0700)) < 0 || !(abs = realpath(dir, NULL)))
                return api_errno(c->req, r < 0 ? r : -errno, NULL), -1;
        if (asprintf(&path, "%s/%s-%s.pem", abs, project, hex) < 0)
                return api_errno(c->req, -ENOMEM, NULL), -1;
        if ((r = file_write_atomic(path, pem, strlen(pem), 0600)) < 0)
                return api_errno(c->req, r, NULL), -1;
        *ret = TAKE_PTR(path);
        return 0;
}

/* A CA file this API wrote (under DATA/proxy-ca/) and no longer used: removed. */
static void ca_forget(api_call_t *c, const char *path) {
        _cleanup_free_ char *dir = NULL, *abs = NULL;
        size_t n;

        if (!path || asprintf(&dir, "%s/%s", c->req->srv->cfg->data_dir, PROXY_CA_DIR) < 0 ||
            !(abs = realpath(dir, NULL)))
                return;
        n = strlen(abs);
        if (strncmp(path, abs, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/'))
                (void) unlink(path);
}

/* A CA file stored for project and now unused (a refused creation or change): removed
 * unless the project's record still names it (the same name and content: an
 * earlier creation of that project stored it). */
static void ca_discard(api_call_t *c, const char *project, const char *path) {
        proxycache_conf_t g;
        bool used = false;

        if (!path)
                return;
        if (proxy_get(c, project, &g) > 0) {
                used = g.ca_file && strcmp(g.ca_file, path) == 0;
                proxycache_conf_done(&g);
        }
        if (!used)
                ca_forget(c, path);
}

/* The proxy settings of the body (api_proxy_parse) checked as the command line
 * checks them, applied to *f (a new record: create; else the current one): the
 * password sealed, the CA stored. *ret_revalidate: the upstream changed. 0, or -1
 * answered. */
static int proxy_apply(api_call_t *c, const json_t *body, bool create, proxycache_conf_t *f,
                       bool *ret_revalidate, char **ret_old_ca) {
        _cleanup_free_ uint8_t *sealed = NULL;
        _cleanup_free_ char *ca = NULL;
        char host[PROXYCACHE_HOST_MAX + 1];
        const char *why = NULL;
        size_t sealed_len = 0;
        api_proxy_t p;
        int r = 0;

        *ret_revalidate = false;
        *ret_old_ca = NULL;
        if (api_proxy_parse(body, &p, &why) < 0) {
                api_error(c->req, 400, "BAD_REQUEST", why);
                return -1;
        }
        if (create && p.url != API_SET) {
                api_error(c->req, 400, "BAD_REQUEST", "proxy.url is required");
                return -1;
        }
        if (p.url == API_SET &&
            (proxycache_url_check(p.url_v) < 0 || proxycache_url_host(p.url_v, host, sizeof(host)) < 0)) {
                api_error(c->req, 400, "BAD_REQUEST",
                          "proxy.url: an http:// or https:// URL of a registry host (https://HOST[:PORT], no path)");
                return -1;
        }
        if (p.mirror_of == API_SET && !proxycache_host_valid(p.mirror_of_v)) {
                api_error(c->req, 400, "BAD_REQUEST", "proxy.mirror_of: a registry host name");
                return -1;
        }
        if (p.ca_pem == API_SET && ca_store(c, f->project, p.ca_pem_v, &ca) < 0)
                return -1;
        if (p.password == API_SET &&
            api_seal(c, p.password_v, PROXYCACHE_SECRET_CONTEXT, &sealed, &sealed_len) < 0) {
                ca_discard(c, f->project, ca);
                return -1;
        }
        if (p.url == API_SET) {
                *ret_revalidate = !create && strcmp(p.url_v, f->url) != 0;
                r = set_field(&f->url, p.url_v);
        }
        if (r == 0 && p.username != API_ABSENT) {
                r = set_field(&f->username, p.username == API_SET ? p.username_v : NULL);
                if (f->password)
                        OPENSSL_cleanse(f->password, f->password_len);
                free(f->password);
                f->password = TAKE_PTR(sealed);
                f->password_len = f->password ? sealed_len : 0;
        }
        if (r == 0 && p.ca_pem != API_ABSENT) {
                *ret_old_ca = TAKE_PTR(f->ca_file);
                f->ca_file = TAKE_PTR(ca);
        }
        if (r == 0 && p.mirror_of != API_ABSENT)
                r = set_field(&f->mirror_of, p.mirror_of == API_SET ? p.mirror_of_v : NULL);
        if (p.ttl == API_SET)
                f->ttl = p.ttl_v;
        if (p.docker_mirror == API_SET)
                f->docker_mirror = p.docker_mirror_v;
        if (sealed)
                OPENSSL_cleanse(sealed, sealed_len);
        if (r < 0) {
                api_errno(c->req, r, NULL);
                return -1;
        }
        return 0;
}

static json_t *project_json(api_call_t *c, meta_t *m, const char *name, bool public, int role) {
        usage_project_t u;
        int64_t repos = 0;
        json_t *j;

        if (usage_get(m, name, &u) < 0)
                memset(&u, 0, sizeof(u)), u.quota = USAGE_UNLIMITED;
        if (browse_repo_count(m, name, &repos) < 0)
                repos = 0;
        j = json_pack("{s:s, s:b, s:I, s:{s:I, s:I}, s:o, s:o, s:o}", "name", name, "public", public,
                      "repositories", (json_int_t) repos, "usage", "bytes", (json_int_t) u.bytes, "blobs",
                      (json_int_t) u.blobs, "quota",
                      u.quota == USAGE_UNLIMITED ? json_null() : json_integer((json_int_t) u.quota), "role",
                      role > AUTH_ROLE_NONE ? json_string(auth_role_name(role)) : json_null(), "permissions",
                      api_permissions(role));
        proxycache_conf_t f;

        if (j && proxy_get(c, name, &f) > 0) {
                json_object_set_new(j, "proxy", proxy_json(c, &f, false));
                proxycache_conf_done(&f);
        } else if (j)
                json_object_set_new(j, "proxy", json_null());
        return j;
}

static void projects_list(api_call_t *c, meta_t *m) {
        _cleanup_free_ char *after = NULL;
        const char *q = req_query(c->req, "q");
        projs_t ps = { 0 };
        json_t *items = json_array();
        const char *next = NULL;
        size_t limit, n = 0;
        int r;

        if (api_page_args(c->req, &limit, &after) < 0)
                goto out;
        if ((r = auth_project_list(c->req->srv->auth, collect_project, &ps)) < 0) {
                api_errno(c->req, r, NULL);
                goto out;
        }
        for (size_t i = 0; i < ps.n; i++) {
                int role;
                if ((after && strcmp(ps.v[i].name, after) <= 0) || (q && *q && !strstr(ps.v[i].name, q)))
                        continue;
                if ((role = api_role(c, ps.v[i].name)) < 0)
                        goto out;
                if (!auth_can(role, AUTH_ACT_PULL))
                        continue;
                if (n == limit) {
                        next = ps.v[i - 1 < ps.n ? i : i].name;
                        break;
                }
                json_array_append_new(items, project_json(c, m, ps.v[i].name, ps.v[i].public, role));
                n++;
        }
        if (next) /* the cursor is the last item's name */
                next = json_string_value(json_object_get(json_array_get(items, n - 1), "name"));
        api_page(c->req, json_incref(items), next);
out:
        json_decref(items);
        projs_free(&ps);
}

static int set_quota(api_call_t *c, meta_t *m, const char *name) {
        json_t *q = c->body ? json_object_get(c->body, "quota") : NULL;
        int r;

        if (!q)
                return 0;
        if (json_is_null(q))
                r = usage_quota_clear(m, name);
        else if (json_is_integer(q) && json_integer_value(q) >= 0)
                r = usage_quota_set(m, name, (uint64_t) json_integer_value(q));
        else {
                api_error(c->req, 400, "BAD_REQUEST", "quota must be a size in bytes or null");
                return -1;
        }
        if (r < 0) {
                api_errno(c->req, r, "project");
                return -1;
        }
        return 0;
}

static void project_create(api_call_t *c, meta_t *m) {
        proxycache_conf_t f = { .ttl = PROXYCACHE_TTL_DEFAULT };
        _cleanup_free_ char *old_ca = NULL;
        const char *name = NULL;
        bool public = false, revalidate;
        json_t *q, *proxy;
        db_conn_t *conn = NULL;
        int r;

        if (api_require(c, NULL, AUTH_ACT_PROJECTS) <= 0)
                return;
        proxy = c->body ? json_object_get(c->body, "proxy") : NULL;
        if (proxy && json_is_null(proxy))
                proxy = NULL;
        if (proxy && api_require(c, NULL, AUTH_ACT_PROXY) <= 0)
                return;
        if (api_body_string(c, "name", &name) < 0 || api_body_bool(c, "public", &public) < 0)
                return;
        q = c->body ? json_object_get(c->body, "quota") : NULL;
        if (q && !json_is_null(q) && !(json_is_integer(q) && json_integer_value(q) >= 0)) {
                api_error(c->req, 400, "BAD_REQUEST", "quota must be a size in bytes or null");
                return;
        }
        if (!name || !meta_project_valid(name) || strlen(name) > AUTH_PROJECT_MAX) {
                api_error(c->req, 400, "NAME_INVALID", "name: a project name ([a-z0-9]+([._-][a-z0-9]+)*)");
                return;
        }
        /* the proxy settings checked (and the password sealed) before anything is made */
        if (proxy) {
                if (!(f.project = strdup(name)))
                        return api_errno(c->req, -ENOMEM, NULL);
                if (proxy_apply(c, proxy, true, &f, &revalidate, &old_ca) < 0)
                        goto out;
        }
        r = auth_project_create(c->req->srv->auth, name, public);
        if (r == -EINVAL) {
                api_error(c->req, 400, "NAME_INVALID", "invalid project name");
                goto fail;
        }
        if (r < 0) {
                api_errno(c->req, r, "project");
                goto fail;
        }
        if (proxy) {
                r = db_conn_get(server_db(c->req->srv), &conn);
                if (r == 0) {
                        r = proxycache_add(conn, &f, (int64_t) time(NULL));
                        db_conn_put(server_db(c->req->srv), conn);
                }
                if (r < 0) { /* no project half made */
                        (void) auth_project_delete(c->req->srv->auth, name);
                        api_errno(c->req, r, "proxy project");
                        goto fail;
                }
        }
        if (set_quota(c, m, name) < 0)
                goto out;
        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, proxy ? "proxy-project-create" :
                          "project-create", NULL, name);
        api_json(c->req, 201, project_json(c, m, name, public, AUTH_ROLE_SYSADMIN));
        goto out;
fail:
        ca_discard(c, name, f.ca_file);
out:
        proxycache_conf_done(&f);
}

/* PATCH {"proxy": {...}} of a proxy project (system admins): 0 done (or nothing
 * asked), -1 answered. */
static int proxy_patch(api_call_t *c, const char *name) {
        json_t *proxy = c->body ? json_object_get(c->body, "proxy") : NULL;
        _cleanup_free_ char *old_ca = NULL;
        proxycache_conf_t f;
        db_conn_t *conn = NULL;
        bool revalidate = false;
        int r;

        if (!proxy)
                return 0;
        if (api_require(c, NULL, AUTH_ACT_PROXY) <= 0)
                return -1;
        if ((r = proxy_get(c, name, &f)) < 0) {
                api_errno(c->req, r, NULL);
                return -1;
        }
        if (r == 0) {
                api_error(c->req, 409, "CONFLICT",
                          "not a proxy project (a local project does not become one: create a proxy project)");
                return -1;
        }
        if (proxy_apply(c, proxy, false, &f, &revalidate, &old_ca) < 0) {
                proxycache_conf_done(&f);
                return -1;
        }
        r = db_conn_get(server_db(c->req->srv), &conn);
        if (r == 0) {
                r = proxycache_update(conn, &f, revalidate);
                db_conn_put(server_db(c->req->srv), conn);
        }
        if (r < 0) {
                if (f.ca_file && (!old_ca || strcmp(f.ca_file, old_ca) != 0))
                        ca_discard(c, name, f.ca_file);
                proxycache_conf_done(&f);
                api_errno(c->req, r, "proxy project");
                return -1;
        }
        if (old_ca && (!f.ca_file || strcmp(f.ca_file, old_ca) != 0))
                ca_forget(c, old_ca);
        proxycache_conf_done(&f);
        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "proxy-project-update", NULL, name);
        return 0;
}

/* GET /projects/{p}/proxy: the settings and the counters of a proxy project. */
static void proxy_status(api_call_t *c, const char *name) {
        proxycache_conf_t f;
        int r;

        if (!method(c, "GET"))
                return not_allowed(c);
        if (api_require(c, name, AUTH_ACT_PULL) <= 0)
                return;
        if ((r = proxy_get(c, name, &f)) < 0)
                return api_errno(c->req, r, NULL);
        if (r == 0)
                return api_error(c->req, 404, "NOT_FOUND", "not a proxy project");
        api_json(c->req, 200, proxy_json(c, &f, true));
        proxycache_conf_done(&f);
}

static void project_one(api_call_t *c, meta_t *m, const char *name) {
        proj_t p = { 0 };
        int role, r;

        if ((role = api_role(c, name)) < 0)
                return;
        r = auth_can(role, AUTH_ACT_PULL) ? project_find(c, name, &p) : 0;
        if (r < 0) {
                api_errno(c->req, r, NULL);
                return;
        }
        if (r == 0) {
                api_error(c->req, 404, "NOT_FOUND", "project not found");
                return;
        }
        if (method(c, "GET"))
                api_json(c->req, 200, project_json(c, m, name, p.public, role));
        else if (method(c, "PATCH")) {
                bool public = p.public;
                int has_public = api_body_bool(c, "public", &public);
                json_t *q = c->body ? json_object_get(c->body, "quota") : NULL;
                if (has_public < 0)
                        goto out;
                if (has_public && !auth_can(role, AUTH_ACT_MEMBERS)) {
                        api_error(c->req, 403, "FORBIDDEN", "only a project admin may change visibility");
                        goto out;
                }
                if (q && !auth_can(role, AUTH_ACT_QUOTA)) {
                        api_error(c->req, 403, "FORBIDDEN", "only a system administrator may set quotas");
                        goto out;
                }
                if (proxy_patch(c, name) < 0)
                        goto out;
                if (has_public && (r = auth_project_set_public(c->req->srv->auth, name, public)) < 0) {
                        api_errno(c->req, r, "project");
                        goto out;
                }
                if (set_quota(c, m, name) < 0)
                        goto out;
                api_json(c->req, 200, project_json(c, m, name, public, role));
        } else if (method(c, "DELETE")) {
                if (!auth_can(role, AUTH_ACT_PROJECTS)) {
                        api_error(c->req, 403, "FORBIDDEN", "only a system administrator may delete projects");
                        goto out;
                }
                proxycache_conf_t f;
                _cleanup_free_ char *ca = NULL;
                /* a CA this API stored for a proxy project goes with it */
                if (proxy_get(c, name, &f) > 0) {
                        ca = TAKE_PTR(f.ca_file);
                        proxycache_conf_done(&f);
                }
                r = project_delete(c->req->srv->auth, m, name);
                if (r >= 0)
                        ca_forget(c, ca);
                if (r == -ENOTEMPTY)
                        api_error(c->req, 409, "CONFLICT", "the project still has repositories");
                else if (r < 0)
                        api_errno(c->req, r, "project");
                else {
                        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "project-delete", NULL,
                                          name);
                        api_no_content(c->req);
                }
        } else
                not_allowed(c);
out:
        free(p.name);
}

/* ---- members ---- */

static int member_json(const auth_member_info_t *mi, void *userdata) {
        return json_array_append_new(userdata, json_pack("{s:s, s:s}", "user", mi->user, "role", auth_role_name(mi->role)));
}

static void members(api_call_t *c, const char *project) {
        auth_t *a = c->req->srv->auth;
        int r;

        if (c->n_segs == 3) {
                json_t *items;
                if (!method(c, "GET"))
                        return not_allowed(c);
                if (api_require(c, project, AUTH_ACT_PULL) <= 0)
                        return;
                items = json_array();
                if ((r = auth_member_list(a, project, member_json, items)) < 0) {
                        json_decref(items);
                        return api_errno(c->req, r, NULL);
                }
                return api_page(c->req, items, NULL);
        }
        if (c->n_segs != 4)
                return api_error(c->req, 404, "NOT_FOUND", "no such API path");
        if (api_require(c, project, AUTH_ACT_MEMBERS) <= 0)
                return;
        if (method(c, "PUT")) {
                const char *rs = NULL;
                int role;
                if (api_body_string(c, "role", &rs) < 0)
                        return;
                role = auth_role_parse(rs);
                if (role < 0)
                        return api_error(c->req, 400, "BAD_REQUEST", "role: reader, developer, maintainer or admin");
                r = auth_member_add(a, project, c->segs[3], role);
                if (r < 0) /* an unknown user: the foreign key */
                        return api_error(c->req, 404, "NOT_FOUND", "user not found");
                (void) auth_audit(a, &c->req->who, c->req->addr, "member-set", NULL, c->segs[3]);
                return api_json(c->req, 200, json_pack("{s:s, s:s}", "user", c->segs[3], "role", auth_role_name(role)));
        }
        if (method(c, "DELETE")) {
                r = auth_member_del(a, project, c->segs[3]);
                if (r < 0)
                        return api_errno(c->req, r, "member");
                (void) auth_audit(a, &c->req->who, c->req->addr, "member-delete", NULL, c->segs[3]);
                return api_no_content(c->req);
        }
        not_allowed(c);
}

/* ---- robots ---- */

static json_t *robot_json(const auth_token_info_t *t) {
        return json_pack("{s:s, s:s, s:b, s:o, s:o, s:b}", "name", t->name, "project", t->project, "push", t->push,
                         "created", api_time(t->created), "expires", api_time(t->expires), "expired", t->expired);
}

static int robot_each(const auth_token_info_t *t, void *userdata) {
        return json_array_append_new(userdata, robot_json(t));
}

/* HOST[:PORT] for the docker login line: the Host header when it is plain. */
static void registry_host(request_t *req, char *buf, size_t size) {
        const char *h = req_header(req, MHD_HTTP_HEADER_HOST);
        bool ok = h && *h && strlen(h) < size;

        for (const char *p = h; ok && *p; p++)
                ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                     *p == '-' || *p == ':' || *p == '[' || *p == ']';
        snprintf(buf, size, "%s", ok ? h : "registry.example");
}

static void robots(api_call_t *c, const char *project) {
        auth_t *a = c->req->srv->auth;
        int r;

        if (api_require(c, project, AUTH_ACT_ROBOTS) <= 0)
                return;
        if (c->n_segs == 3 && method(c, "GET")) {
                json_t *items = json_array();
                if ((r = auth_token_list(a, project, robot_each, items)) < 0) {
                        json_decref(items);
                        return api_errno(c->req, r, NULL);
                }
                return api_page(c->req, items, NULL);
        }
        if (c->n_segs == 3 && method(c, "POST")) {
                bool push = false, null_exp = false;
                int64_t expires_in = 0;
                char *name = NULL, *secret = NULL, *yaml = NULL, *cfg = NULL, host[256], login[512];
                time_t now = server_now(c->req->srv), expires;
                auth_token_info_t t;
                json_t *j;

                if (api_body_bool(c, "push", &push) < 0 || api_body_int(c, "expires_in", &expires_in, &null_exp) < 0)
                        return;
                if (expires_in > 10LL * 365 * 86400)
                        return api_error(c->req, 400, "BAD_REQUEST", "expires_in: at most ten years");
                expires = expires_in > 0 ? now + (time_t) expires_in : 0;
                r = auth_token_create(a, project, push, expires, &name, &secret);
                if (r < 0)
                        return api_errno(c->req, r, "project");
                registry_host(c->req, host, sizeof(host));
                r = cli_secret_yaml(host, name, secret, ROBOT_SECRET_NAME, NULL, &yaml, &cfg);
                if (r < 0) {
                        api_errno(c->req, r, NULL);
                        goto robot_out;
                }
                snprintf(login, sizeof(login), "docker login %s -u %s --password-stdin", host, name);
                t = (auth_token_info_t){ .name = name, .project = project, .push = push, .created = now,
                                         .expires = expires };
                j = robot_json(&t);
                if (j) {
                        json_object_set_new(j, "secret", json_string(secret));
                        json_object_set_new(j, "registry", json_string(host));
                        json_object_set_new(j, "docker_login", json_string(login));
                        json_object_set_new(j, "dockerconfigjson", json_string(cfg));
                        json_object_set_new(j, "secret_yaml", json_string(yaml));
                }
                (void) auth_audit(a, &c->req->who, c->req->addr, "robot-create", NULL, name);
                api_json(c->req, 201, j);
        robot_out:
                if (secret)
                        OPENSSL_cleanse(secret, strlen(secret));
                if (yaml)
                        OPENSSL_cleanse(yaml, strlen(yaml));
                if (cfg)
                        OPENSSL_cleanse(cfg, strlen(cfg));
                free(name);
                free(secret);
                free(yaml);
                free(cfg);
                return;
        }
        if (c->n_segs == 4 && method(c, "DELETE")) {
                /* only a robot of this project */
                size_t pl = strlen(project);
                const char *n = c->segs[3];
                if (strncmp(n, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) != 0 ||
                    strncmp(n + strlen(AUTH_ROBOT_PREFIX), project, pl) != 0 || n[strlen(AUTH_ROBOT_PREFIX) + pl] != '.')
                        return api_error(c->req, 404, "NOT_FOUND", "robot token not found");
                r = auth_token_revoke(a, n);
                if (r < 0)
                        return api_errno(c->req, r, "robot token");
                (void) auth_audit(a, &c->req->who, c->req->addr, "robot-revoke", NULL, n);
                return api_no_content(c->req);
        }
        if (c->n_segs > 4)
                return api_error(c->req, 404, "NOT_FOUND", "no such API path");
        not_allowed(c);
}

/* ---- immutability and retention ---- */

static void immutability(api_call_t *c, meta_t *m, const char *project) {
        int r;

        if (method(c, "GET")) {
                meta_immutable_rule_t *v = NULL;
                size_t n = 0;
                json_t *rules;
                if (api_require(c, project, AUTH_ACT_PULL) <= 0)
                        return;
                if ((r = meta_immutable_list(m, project, &v, &n)) < 0)
                        return api_errno(c->req, r, NULL);
                rules = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(rules, json_pack("{s:s, s:o}", "pattern", v[i].pattern, "created",
                                                               api_time(v[i].created)));
                meta_immutable_free(v, n);
                return api_json(c->req, 200, json_pack("{s:o}", "rules", rules));
        }
        if (!method(c, "POST") && !method(c, "DELETE"))
                return not_allowed(c);
        if (api_require(c, project, AUTH_ACT_LIFECYCLE) <= 0)
                return;
        if (method(c, "POST")) {
                const char *pattern = NULL;
                if (api_body_string(c, "pattern", &pattern) < 0)
                        return;
                if (!pattern || !meta_pattern_valid(pattern))
                        return api_error(c->req, 400, "BAD_REQUEST", "pattern: a glob on tag names");
                if ((r = meta_immutable_add(m, project, pattern)) == -EPERM)
                        return api_error(c->req, 409, "CONFLICT",
                                         "a proxy project's tags are its upstream's: they take no immutability rule");
                if (r < 0)
                        return api_errno(c->req, r, NULL);
                (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "immutable-add", NULL, pattern);
                return api_json(c->req, 201, json_pack("{s:s}", "pattern", pattern));
        }
        {
                const char *pattern = req_query(c->req, "pattern");
                if (!pattern || !*pattern)
                        return api_error(c->req, 400, "BAD_REQUEST", "?pattern= is required");
                if ((r = meta_immutable_del(m, project, pattern)) < 0)
                        return api_errno(c->req, r, NULL);
                if (r == 0)
                        return api_error(c->req, 404, "NOT_FOUND", "no such rule");
                (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "immutable-delete", NULL, pattern);
                api_no_content(c->req);
        }
}

static json_t *policy_json(const meta_retention_policy_t *p) {
        json_t *rules = json_array();

        for (size_t i = 0; i < p->n_rules; i++)
                json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:I}", "kind",
                                                       meta_keep_kind_name(p->rules[i].kind), "tags", p->rules[i].tags,
                                                       "repos", p->rules[i].repos, "n", (json_int_t) p->rules[i].n));
        return json_pack("{s:o, s:o, s:o}", "untagged_after",
                         p->untagged_after < 0 ? json_null() : json_integer(p->untagged_after), "rules", rules,
                         "updated", api_time(p->updated));
}

static void retention(api_call_t *c, meta_t *m, const char *project) {
        meta_retention_policy_t p = { 0 };
        int r;

        if (method(c, "GET")) {
                if (api_require(c, project, AUTH_ACT_PULL) <= 0)
                        return;
                r = meta_retention_get(m, project, &p);
                if (r < 0)
                        return api_errno(c->req, r, NULL);
                if (r == 0)
                        return api_error(c->req, 404, "NOT_FOUND", "the project has no retention policy");
                api_json(c->req, 200, policy_json(&p));
                meta_retention_policy_done(&p);
                return;
        }
        if (!method(c, "PUT") && !method(c, "DELETE"))
                return not_allowed(c);
        if (api_require(c, project, AUTH_ACT_LIFECYCLE) <= 0)
                return;
        if (method(c, "DELETE")) {
                if ((r = meta_retention_delete(m, project)) < 0)
                        return api_errno(c->req, r, NULL);
                if (r == 0)
                        return api_error(c->req, 404, "NOT_FOUND", "the project has no retention policy");
                (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "retention-delete-policy", NULL,
                                  project);
                return api_no_content(c->req);
        }
        {
                meta_keep_rule_t kr[META_KEEP_RULES_MAX];
                meta_retention_policy_t np = { .project = (char *) project, .rules = kr };
                api_retention_t in;
                const char *err = NULL;

                if (api_retention_parse(c->body, &in, &err) < 0)
                        return api_error(c->req, 400, "BAD_REQUEST", err);
                np.untagged_after = in.untagged_after;
                for (size_t i = 0; i < in.n_rules; i++) {
                        kr[i].kind = meta_keep_kind_parse(in.rules[i].kind);
                        kr[i].tags = (char *) in.rules[i].tags;
                        kr[i].repos = (char *) in.rules[i].repos;
                        kr[i].n = in.rules[i].n;
                        if (!kr[i].kind || !meta_pattern_valid(kr[i].tags) || !meta_pattern_valid(kr[i].repos))
                                return api_error(c->req, 400, "BAD_REQUEST",
                                                 "kind: last-pushed, last-pulled, pushed-within, pulled-within or always;"
                                                 " tags and repos: glob patterns");
                }
                np.n_rules = in.n_rules;
                r = meta_retention_set(m, &np);
                if (r == -EINVAL)
                        return api_error(c->req, 400, "BAD_REQUEST", "invalid retention policy");
                if (r < 0)
                        return api_errno(c->req, r, NULL);
                (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "retention-set", NULL, project);
                if ((r = meta_retention_get(m, project, &p)) <= 0)
                        return api_errno(c->req, r < 0 ? r : -ENOENT, "retention policy");
                api_json(c->req, 200, policy_json(&p));
                meta_retention_policy_done(&p);
        }
}

void api_projects(api_call_t *c) {
        meta_t *m = request_meta(c->req);
        const char *project;

        if (!m)
                return;
        if (c->n_segs == 1) {
                if (method(c, "GET"))
                        return projects_list(c, m);
                if (method(c, "POST"))
                        return project_create(c, m);
                return not_allowed(c);
        }
        project = c->segs[1];
        if (!meta_project_valid(project))
                return api_error(c->req, 404, "NOT_FOUND", "project not found");
        if (c->n_segs == 2)
                return project_one(c, m, project);
        if (strcmp(c->segs[2], "members") == 0)
                return members(c, project);
        if (strcmp(c->segs[2], "robots") == 0)
                return robots(c, project);
        if (c->n_segs == 3 && strcmp(c->segs[2], "immutability") == 0)
                return immutability(c, m, project);
        if (c->n_segs == 3 && strcmp(c->segs[2], "retention") == 0)
                return retention(c, m, project);
        if (strcmp(c->segs[2], "webhooks") == 0)
                return api_project_webhooks(c, project);
        if (c->n_segs == 3 && strcmp(c->segs[2], "proxy") == 0)
                return proxy_status(c, project);
        api_error(c->req, 404, "NOT_FOUND", "no such API path");
}

/* ---- users ---- */

static json_t *user_json(const char *name, bool admin, int64_t created) {
        return json_pack("{s:s, s:b, s:o}", "name", name, "admin", admin, "created", api_time(created));
}

typedef struct {
        json_t *items;
        const char *after, *q;
        size_t limit, n;
        char *next;
        const char *only; /* one user */
        json_t *found;
} users_walk_t;

static int user_each(const auth_user_info_t *u, void *userdata) {
        users_walk_t *w = userdata;

        if (w->only) {
                if (strcmp(u->name, w->only) == 0)
                        w->found = user_json(u->name, u->admin, u->created);
                return 0;
        }
        if ((w->after && strcmp(u->name, w->after) <= 0) || (w->q && *w->q && !strstr(u->name, w->q)))
                return 0;
        if (w->n == w->limit) {
                w->next = strdup(json_string_value(json_object_get(json_array_get(w->items, w->n - 1), "name")));
                return 1;
        }
        json_array_append_new(w->items, user_json(u->name, u->admin, u->created));
        w->n++;
        return 0;
}

static json_t *user_get(api_call_t *c, const char *name) {
        users_walk_t w = { .only = name };

        if (auth_user_list(c->req->srv->auth, user_each, &w) < 0)
                return NULL;
        return w.found;
}

void api_users(api_call_t *c) {
        auth_t *a = c->req->srv->auth;
        int r;

        if (api_require(c, NULL, AUTH_ACT_USERS) <= 0)
                return;
        if (c->n_segs == 1 && method(c, "GET")) {
                _cleanup_free_ char *after = NULL;
                users_walk_t w = { .items = json_array(), .q = req_query(c->req, "q") };
                if (api_page_args(c->req, &w.limit, &after) < 0) {
                        json_decref(w.items);
                        return;
                }
                w.after = after;
                r = auth_user_list(a, user_each, &w);
                if (r < 0) {
                        json_decref(w.items);
                        free(w.next);
                        return api_errno(c->req, r, NULL);
                }
                api_page(c->req, w.items, w.next);
                free(w.next);
                return;
        }
        if (c->n_segs == 1 && method(c, "POST")) {
                const char *name = NULL, *pw = NULL;
                bool admin = false;
                if (api_body_string(c, "name", &name) < 0 || api_body_string(c, "password", &pw) < 0 ||
                    api_body_bool(c, "admin", &admin) < 0)
                        return;
                if (!name || !pw)
                        return api_error(c->req, 400, "BAD_REQUEST", "name and password are required");
                if (strlen(pw) < 8 || strlen(pw) > AUTH_PASSWORD_MAX)
                        return api_error(c->req, 400, "BAD_REQUEST", "password: 8 to 1024 characters");
                r = auth_user_add(a, name, pw, admin);
                if (r == -EINVAL)
                        return api_error(c->req, 400, "NAME_INVALID", "invalid user name");
                if (r < 0)
                        return api_errno(c->req, r, "user");
                (void) auth_audit(a, &c->req->who, c->req->addr, "user-create", NULL, name);
                return api_json(c->req, 201, user_get(c, name));
        }
        if (c->n_segs == 2) {
                const char *name = c->segs[1];
                json_t *u = user_get(c, name);
                if (!u)
                        return api_error(c->req, 404, "NOT_FOUND", "user not found");
                json_decref(u);
                if (method(c, "GET"))
                        return api_json(c->req, 200, user_get(c, name));
                if (method(c, "PATCH")) {
                        const char *pw = NULL;
                        bool admin = false;
                        int has_pw = api_body_string(c, "password", &pw), has_admin;
                        if (has_pw < 0 || (has_admin = api_body_bool(c, "admin", &admin)) < 0)
                                return;
                        if (has_pw && (strlen(pw) < 8 || strlen(pw) > AUTH_PASSWORD_MAX))
                                return api_error(c->req, 400, "BAD_REQUEST", "password: 8 to 1024 characters");
                        if (has_pw && ((r = auth_user_passwd(a, name, pw)) < 0 ||
                                       (r = auth_session_delete_user(a, name)) < 0))
                                return api_errno(c->req, r, "user");
                        if (has_admin && (r = auth_user_set_admin(a, name, admin)) < 0)
                                return api_errno(c->req, r, "user");
                        (void) auth_audit(a, &c->req->who, c->req->addr, "user-change", NULL, name);
                        return api_json(c->req, 200, user_get(c, name));
                }
                if (method(c, "DELETE")) {
                        if (strcmp(name, c->req->who.name) == 0)
                                return api_error(c->req, 409, "CONFLICT", "you cannot delete yourself");
                        if ((r = auth_user_del(a, name)) < 0)
                                return api_errno(c->req, r, "user");
                        (void) auth_audit(a, &c->req->who, c->req->addr, "user-delete", NULL, name);
                        return api_no_content(c->req);
                }
                return not_allowed(c);
        }
        if (c->n_segs == 1)
                return not_allowed(c);
        api_error(c->req, 404, "NOT_FOUND", "no such API path");
}

/* ---- audit ---- */

static int parse_time(const char *s, int64_t *ret) {
        struct tm tm = { 0 };
        char *end;
        long long v;

        if (!s || !*s)
                return 0;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (!*end && !errno && v >= 0) {
                *ret = v;
                return 1;
        }
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end || (*end && strcmp(end, "Z") != 0))
                return -1;
        *ret = (int64_t) timegm(&tm);
        return 1;
}

static int audit_each(const auth_audit_row_t *row, void *userdata) {
        json_t *items = userdata;

        return json_array_append_new(
                items, json_pack("{s:I, s:o, s:s, s:o, s:s, s:o, s:o}", "id", (json_int_t) row->id, "time",
                                 api_time(row->ts), "user", row->user ? row->user : "", "client",
                                 row->client ? json_string(row->client) : json_null(), "action",
                                 row->action ? row->action : "", "repository",
                                 row->repo ? json_string(row->repo) : json_null(), "detail",
                                 row->detail ? json_string(row->detail) : json_null()));
}

void api_audit(api_call_t *c) {
        _cleanup_free_ char *after = NULL;
        auth_audit_filter_t f = { 0 };
        char next[32];
        json_t *items;
        size_t limit, n;
        int r;

        if (!method(c, "GET"))
                return not_allowed(c);
        f.user = req_query(c->req, "user");
        f.repo = req_query(c->req, "repository");
        f.action = req_query(c->req, "action");
        f.project = req_query(c->req, "project");
        if (parse_time(req_query(c->req, "since"), &f.since) < 0 || parse_time(req_query(c->req, "until"), &f.until) < 0)
                return api_error(c->req, 400, "BAD_REQUEST", "since/until: RFC 3339 or unix seconds");
        if (!api_sysadmin(c)) {
                /* a project admin reads their project's trail */
                if (!f.project)
                        return api_error(c->req, 403, "FORBIDDEN", "only a system administrator reads the whole trail");
                if (api_require(c, f.project, AUTH_ACT_MEMBERS) <= 0)
                        return;
        }
        if (api_page_args(c->req, &limit, &after) < 0)
                return;
        if (after) {
                char *end;
                errno = 0;
                f.before_id = strtoll(after, &end, 10);
                if (*end || errno || f.before_id <= 0)
                        return api_error(c->req, 400, "BAD_REQUEST", "invalid cursor");
        }
        f.limit = limit + 1;
        items = json_array();
        if ((r = auth_audit_list(c->req->srv->auth, &f, audit_each, items)) < 0) {
                json_decref(items);
                return api_errno(c->req, r, NULL);
        }
        n = json_array_size(items);
        if (n > limit) {
                json_array_remove(items, n - 1);
                snprintf(next, sizeof(next), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(json_array_get(items, limit - 1), "id")));
                return api_page(c->req, items, next);
        }
        api_page(c->req, items, NULL);
}

/* ---- GC ---- */

static json_t *gc_run_json(const meta_gc_run_t *g) {
        return json_pack("{s:I, s:o, s:o, s:s, s:b, s:o, s:I, s:I, s:I, s:o}", "id", (json_int_t) g->id, "started",
                         api_time(g->started), "finished", api_time(g->finished), "who", g->who ? g->who : "",
                         "dry_run", g->dry_run, "result", g->result ? json_string(g->result) : json_null(), "blobs",
                         (json_int_t) g->blobs, "bytes", (json_int_t) g->bytes, "manifests",
                         (json_int_t) g->manifests, "error", g->error ? json_string(g->error) : json_null());
}

void api_gc(api_call_t *c) {
        meta_t *m;
        int r;

        if (c->n_segs != 2 || strcmp(c->segs[1], "runs") != 0)
                return api_error(c->req, 404, "NOT_FOUND", "no such API path");
        if (api_require(c, NULL, AUTH_ACT_GC) <= 0)
                return;
        if (!(m = request_meta(c->req)))
                return;
        if (method(c, "GET")) {
                _cleanup_free_ char *after = NULL;
                meta_gc_run_t *v = NULL;
                size_t n = 0, limit, shown = 0;
                int64_t before = INT64_MAX;
                json_t *items = json_array();
                char next[32];
                if (api_page_args(c->req, &limit, &after) < 0) {
                        json_decref(items);
                        return;
                }
                if (after)
                        before = strtoll(after, NULL, 10);
                /* runs are few (one per interval): the newest ones, paged by id */
                if ((r = meta_gc_runs(m, 10000, &v, &n)) < 0) {
                        json_decref(items);
                        return api_errno(c->req, r, NULL);
                }
                next[0] = '\0';
                for (size_t i = 0; i < n; i++) {
                        if (v[i].id >= before)
                                continue;
                        if (shown == limit) {
                                snprintf(next, sizeof(next), "%" PRId64, v[i - 1].id);
                                break;
                        }
                        json_array_append_new(items, gc_run_json(&v[i]));
                        shown++;
                }
                meta_gc_runs_free(v, n);
                return api_page(c->req, items, next[0] ? next : NULL);
        }
        if (method(c, "POST")) {
                bool dry = false, untagged = false;
                if (api_body_bool(c, "dry_run", &dry) < 0 || api_body_bool(c, "delete_untagged", &untagged) < 0)
                        return;
                r = gc_request(c->req->srv, c->req->who.name, dry, untagged);
                if (r == BERTH_EBUSY)
                        return api_error(c->req, 409, "CONFLICT", "a collection asked for earlier still runs");
                if (r < 0)
                        return api_errno(c->req, r, NULL);
                (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "gc-start", NULL,
                                  dry ? "dry-run" : NULL);
                return api_json(c->req, 202, json_pack("{s:b}", "started", 1));
        }
        not_allowed(c);
}

/* ---- system ---- */

void api_system(api_call_t *c) {
        json_t *j, *storage = json_null(), *gc = json_null();
        meta_t *m;

        if (!method(c, "GET"))
                return not_allowed(c);
        if (!(m = request_meta(c->req)))
                return;
        if (api_sysadmin(c)) {
                usage_project_t *v = NULL;
                size_t n = 0;
                meta_gc_run_t *runs = NULL;
                size_t nr = 0;
                uint64_t bytes = 0, blobs = 0;
                if (usage_list(m, &v, &n) == 0) {
                        for (size_t i = 0; i < n; i++) {
                                bytes += v[i].bytes;
                                blobs += v[i].blobs;
                        }
                        free(v);
                        json_decref(storage);
                        storage = json_pack("{s:I, s:I}", "bytes", (json_int_t) bytes, "blobs", (json_int_t) blobs);
                }
                if (meta_gc_runs(m, 1, &runs, &nr) == 0) {
                        json_decref(gc);
                        gc = json_pack("{s:o, s:I}", "last_run", nr ? gc_run_json(&runs[0]) : json_null(),
                                       "interval", (json_int_t) c->req->srv->cfg->gc_interval);
                        meta_gc_runs_free(runs, nr);
                }
        }
        j = json_pack("{s:s, s:s, s:b, s:o, s:o}", "version", PACKAGE_VERSION, "health",
                      db_ping(server_db(c->req->srv)) == 0 ? "ok" : "degraded", "read_only",
                      c->req->srv->cfg->read_only, "storage", storage, "gc", gc);
        api_json(c->req, 200, j);
}
