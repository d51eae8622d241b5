/* storage/proxycache.c: proxy projects and the revalidation times of cached tags
 * (storage/proxycache.h). SQL written once for both engines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/proxycache.h"

enum { ST_EXISTS, ST_ADD, ST_GET, ST_LIST, ST_TAG_GET, ST_TAG_MARK, ST_LOCAL, ST_UPDATE, ST_TAGS_STALE, ST_TAGS_PRUNE };

#define PRUNE_BATCH 256 /* proxy_tags rows removed per write transaction */

#define COLS "project, url, username, password, ca_file, ttl, mirror_of, docker_mirror, created"

static const char *const SQL[] = {
        [ST_EXISTS] = "SELECT 1 FROM auth_projects WHERE name = ?1",
        [ST_ADD] = "INSERT INTO proxy_projects (" COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        [ST_GET] = "SELECT " COLS " FROM proxy_projects WHERE project = ?1",
        [ST_LIST] = "SELECT " COLS " FROM proxy_projects ORDER BY project",
        [ST_TAG_GET] = "SELECT checked, digest FROM proxy_tags WHERE repo = ?1 AND tag = ?2",
        [ST_TAG_MARK] = "INSERT INTO proxy_tags (repo, tag, digest, checked) VALUES (?1, ?2, ?3, ?4)"
                        " ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, checked = excluded.checked",
        [ST_UPDATE] = "UPDATE proxy_projects SET url = ?2, username = ?3, password = ?4, ca_file = ?5, ttl = ?6,"
                      " mirror_of = ?7, docker_mirror = ?8 WHERE project = ?1",
        /* the project's cached tags: revalidated at their next pull */
        [ST_TAGS_STALE] = "UPDATE proxy_tags SET checked = 0"
                          " WHERE substr(repo, 1, length(CAST(?1 AS TEXT)) + 1) = CAST(?1 AS TEXT) || '/'",
        /* rows whose tag is gone (deleted, evicted, removed by retention) */
        [ST_TAGS_PRUNE] = "DELETE FROM proxy_tags WHERE (repo, tag) IN (SELECT pt.repo, pt.tag FROM proxy_tags pt"
                          " WHERE NOT EXISTS (SELECT 1 FROM tags t JOIN repositories r ON r.id = t.repo_id"
                          " WHERE r.name = pt.repo AND t.name = pt.tag) LIMIT 256)",
        [ST_LOCAL] = "SELECT 1 FROM auth_projects WHERE name = ?1 UNION ALL SELECT 1 FROM auth_users WHERE name = ?1",
};

void proxycache_conf_done(proxycache_conf_t *c) {
        if (!c)
                return;
        free(c->project);
        free(c->url);
        free(c->username);
        if (c->password)
                OPENSSL_cleanse(c->password, c->password_len);
        free(c->password);
        free(c->ca_file);
        free(c->mirror_of);
        memset(c, 0, sizeof(*c));
}

/* ---- the rules ---- */

static const char *after_scheme(const char *url) {
        if (strncasecmp(url, "https://", 8) == 0)
                return url + 8;
        if (strncasecmp(url, "http://", 7) == 0)
                return url + 7;
        return NULL;
}

static bool host_char(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
               ch == '-' || ch == ':' || ch == '[' || ch == ']';
}

int proxycache_url_check(const char *url) {
        const char *h;
        size_t n;

        if (!url || strlen(url) > PROXYCACHE_URL_MAX || !(h = after_scheme(url)))
                return -EINVAL;
        for (n = 0; h[n] && h[n] != '/'; n++)
                if (!host_char(h[n]))
                        return -EINVAL;
        if (n == 0 || n > PROXYCACHE_HOST_MAX || h[0] == ':' || h[n - 1] == ':')
                return -EINVAL;
        if (h[n] == '/' && h[n + 1] != '\0')
                return -EINVAL; /* no path: the API is at /v2/ of the host */
        return 0;
}

int proxycache_url_host(const char *url, char *buf, size_t size) {
        const char *h;
        size_t n;

        if (proxycache_url_check(url) < 0)
                return -EINVAL;
        h = after_scheme(url);
        n = strcspn(h, "/");
        if (n + 1 > size)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < n; i++)
                buf[i] = (char) (h[i] >= 'A' && h[i] <= 'Z' ? h[i] - 'A' + 'a' : h[i]);
        buf[n] = '\0';
        return 0;
}

bool proxycache_host_valid(const char *h) {
        size_t n = h ? strlen(h) : 0;

        if (n == 0 || n > PROXYCACHE_HOST_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = h[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']'))
                        return false;
        }
        return true;
}

bool proxycache_host_is_docker_hub(const char *host) {
        return host && (strcasecmp(host, "docker.io") == 0 || strcasecmp(host, "registry-1.docker.io") == 0 ||
                        strcasecmp(host, "index.docker.io") == 0);
}

/* The host the record stands for: mirror_of, else the url's. */
static int conf_host(const proxycache_conf_t *conf, char *buf, size_t size) {
        if (conf->mirror_of && *conf->mirror_of) {
                if ((size_t) snprintf(buf, size, "%s", conf->mirror_of) >= size)
                        return -ENAMETOOLONG;
                return 0;
        }
        return proxycache_url_host(conf->url, buf, size);
}

bool proxycache_conf_mirrors(const proxycache_conf_t *conf, const char *ns) {
        char host[PROXYCACHE_HOST_MAX + 1];

        if (!conf || !ns || !*ns || conf_host(conf, host, sizeof(host)) < 0)
                return false;
        if (proxycache_host_is_docker_hub(ns))
                return proxycache_host_is_docker_hub(host);
        return strcasecmp(host, ns) == 0;
}

int proxycache_upstream_name(const proxycache_conf_t *conf, const char *name, char *buf, size_t size) {
        char host[PROXYCACHE_HOST_MAX + 1];
        bool hub;
        int n;

        if (!conf || !conf->url || !name || !*name)
                return -EINVAL;
        hub = proxycache_url_host(conf->url, host, sizeof(host)) == 0 && proxycache_host_is_docker_hub(host);
        n = snprintf(buf, size, "%s%s", hub && !strchr(name, '/') ? "library/" : "", name);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* ---- rows ---- */

struct add_args {
        const proxycache_conf_t *conf;
        int64_t now;
};

static int add_fn(db_conn_t *c, void *arg) {
        const struct add_args *a = arg;
        const proxycache_conf_t *f = a->conf;
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if ((r = db_stmt(c, SQL[ST_EXISTS], &st)) < 0 || (r = db_bind_text(st, 1, f->project)) < 0 ||
            (r = db_step(st)) < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        db_stmt_reset(st);
        st = NULL;
        if ((r = db_stmt(c, SQL[ST_ADD], &st)) < 0 || (r = db_bind_text(st, 1, f->project)) < 0 ||
            (r = db_bind_text(st, 2, f->url)) < 0 || (r = db_bind_text(st, 3, f->username)) < 0 ||
            (r = f->password ? db_bind_blob(st, 4, f->password, f->password_len) : db_bind_null(st, 4)) < 0 ||
            (r = db_bind_text(st, 5, f->ca_file)) < 0 || (r = db_bind_int(st, 6, f->ttl)) < 0 ||
            (r = db_bind_text(st, 7, f->mirror_of)) < 0 || (r = db_bind_int(st, 8, f->docker_mirror)) < 0 ||
            (r = db_bind_int(st, 9, a->now)) < 0)
                return r;
        return db_step_done(st);
}

int proxycache_add(db_conn_t *c, const proxycache_conf_t *conf, int64_t now) {
        struct add_args a = { .conf = conf, .now = now };

        if (!c || !conf || !conf->project || !*conf->project || proxycache_url_check(conf->url) < 0 ||
            conf->ttl < 0 || (conf->password && !conf->username) ||
            (conf->mirror_of && (!*conf->mirror_of || strlen(conf->mirror_of) > PROXYCACHE_HOST_MAX)))
                return -EINVAL;
        return db_tx_run(c, add_fn, &a);
}

struct update_args {
        const proxycache_conf_t *conf;
        bool revalidate;
};

static int update_fn(db_conn_t *c, void *arg) {
        const struct update_args *a = arg;
        const proxycache_conf_t *f = a->conf;
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if ((r = db_stmt(c, SQL[ST_UPDATE], &st)) < 0 || (r = db_bind_text(st, 1, f->project)) < 0 ||
            (r = db_bind_text(st, 2, f->url)) < 0 || (r = db_bind_text(st, 3, f->username)) < 0 ||
            (r = f->password ? db_bind_blob(st, 4, f->password, f->password_len) : db_bind_null(st, 4)) < 0 ||
            (r = db_bind_text(st, 5, f->ca_file)) < 0 || (r = db_bind_int(st, 6, f->ttl)) < 0 ||
            (r = db_bind_text(st, 7, f->mirror_of)) < 0 || (r = db_bind_int(st, 8, f->docker_mirror)) < 0 ||
            (r = db_step_done(st)) < 0)
                return r;
        if (db_changes(c) == 0)
                return -ENOENT;
        if (!a->revalidate)
                return 0;
        db_stmt_reset(st);
        st = NULL;
        if ((r = db_stmt(c, SQL[ST_TAGS_STALE], &st)) < 0 || (r = db_bind_text(st, 1, f->project)) < 0)
                return r;
        return db_step_done(st);
}

int proxycache_update(db_conn_t *c, const proxycache_conf_t *conf, bool revalidate) {
        struct update_args a = { .conf = conf, .revalidate = revalidate };

        if (!c || !conf || !conf->project || !*conf->project || proxycache_url_check(conf->url) < 0 ||
            conf->ttl < 0 || (conf->password && !conf->username) ||
            (conf->mirror_of && (!*conf->mirror_of || strlen(conf->mirror_of) > PROXYCACHE_HOST_MAX)))
                return -EINVAL;
        return db_tx_run(c, update_fn, &a);
}

/* The current row into *ret (its own copies). */
static int read_row(db_stmt_t *st, proxycache_conf_t *ret) {
        proxycache_conf_t f = { 0 };
        const void *pw;
        size_t pwlen = 0;
        int r;

        if ((r = db_col_strdup(st, 0, &f.project)) < 0 || (r = db_col_strdup(st, 1, &f.url)) < 0 ||
            (r = db_col_strdup(st, 2, &f.username)) < 0 || (r = db_col_strdup(st, 4, &f.ca_file)) < 0 ||
            (r = db_col_strdup(st, 6, &f.mirror_of)) < 0)
                goto fail;
        pw = db_col_blob(st, 3, &pwlen);
        if (pw && pwlen > 0) {
                f.password = malloc(pwlen);
                if (!f.password) {
                        r = -ENOMEM;
                        goto fail;
                }
                memcpy(f.password, pw, pwlen);
                f.password_len = pwlen;
        }
        f.ttl = db_col_int(st, 5);
        f.docker_mirror = db_col_int(st, 7) != 0;
        f.created = db_col_int(st, 8);
        if (!f.project || !f.url) {
                r = BERTH_EDB;
                goto fail;
        }
        *ret = f;
        return 0;
fail:
        proxycache_conf_done(&f);
        return r;
}

int proxycache_get(db_conn_t *c, const char *project, proxycache_conf_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !project || !ret)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_GET], &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 ||
            (r = db_step(st)) <= 0)
                return r;
        r = read_row(st, ret);
        return r < 0 ? r : 1;
}

int proxycache_list(db_conn_t *c, int (*each)(const proxycache_conf_t *conf, void *userdata), void *userdata) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !each)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_LIST], &st)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                proxycache_conf_t f;
                r = read_row(st, &f);
                if (r < 0)
                        return r;
                r = each(&f, userdata);
                proxycache_conf_done(&f);
                if (r != 0)
                        return r;
        }
        return r;
}

int proxycache_tag_get(db_conn_t *c, const char *repo, const char *tag, int64_t *ret_checked, char *digest,
                       size_t size) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        const char *d;
        int r;

        if (!c || !repo || !tag || !ret_checked || !digest || !size)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_TAG_GET], &st)) < 0 || (r = db_bind_text(st, 1, repo)) < 0 ||
            (r = db_bind_text(st, 2, tag)) < 0 || (r = db_step(st)) <= 0)
                return r;
        d = db_col_text(st, 1);
        if (!d || (size_t) snprintf(digest, size, "%s", d) >= size)
                return BERTH_EDB;
        *ret_checked = db_col_int(st, 0);
        return 1;
}

int proxycache_tag_mark(db_conn_t *c, const char *repo, const char *tag, const char *digest, int64_t now) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !repo || !tag || !digest)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_TAG_MARK], &st)) < 0 || (r = db_bind_text(st, 1, repo)) < 0 ||
            (r = db_bind_text(st, 2, tag)) < 0 || (r = db_bind_text(st, 3, digest)) < 0 ||
            (r = db_bind_int(st, 4, now)) < 0)
                return r;
        return db_step_done(st);
}

static int prune_fn(db_conn_t *c, void *arg) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if ((r = db_stmt(c, SQL[ST_TAGS_PRUNE], &st)) < 0 || (r = db_step_done(st)) < 0)
                return r;
        *(int64_t *) arg = db_changes(c);
        return 0;
}

int proxycache_tags_prune(db_conn_t *c, const volatile bool *stop, uint64_t *ret) {
        uint64_t n = 0;
        int64_t changed;
        int r;

        _Static_assert(PRUNE_BATCH == 256, "ST_TAGS_PRUNE's LIMIT");
        if (!c)
                return -EINVAL;
        do {
                changed = 0;
                if ((r = db_tx_run(c, prune_fn, &changed)) < 0)
                        return r;
                n += (uint64_t) changed;
        } while (changed >= PRUNE_BATCH && !(stop && *stop));
        if (ret)
                *ret = n;
        return 0;
}

int proxycache_namespace_local(db_conn_t *c, const char *name) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !name)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_LOCAL], &st)) < 0 || (r = db_bind_text(st, 1, name)) < 0)
                return r;
        return db_step(st);
}
