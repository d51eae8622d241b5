/* storage/proxycache.h: the pull-through cache's records in the metadata
 * (storage/db.h): which projects are proxies of which upstream registry, and when
 * each cached tag was last fetched or revalidated. The cached content itself is
 * ordinary content (manifests, tags and blobs through storage/registry.h).
 * Also the pure rules of the mirror: which project an `ns` host names, and the
 * upstream's name for a repository (Docker Hub's library/). Knows nothing about
 * HTTP, does not log. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage/db.h"

#define PROXYCACHE_SECRET_CONTEXT "berth proxy upstream password" /* secretbox context */
#define PROXYCACHE_URL_MAX 2048
#define PROXYCACHE_HOST_MAX 255
#define PROXYCACHE_TTL_DEFAULT 300 /* seconds */

/* A proxy project. Strings owned by the record (proxycache_conf_done). */
typedef struct {
        char *project;
        char *url;           /* "https://host[:port]" or "http://host[:port]", no path */
        char *username;      /* NULL: anonymous */
        uint8_t *password;   /* sealed (PROXYCACHE_SECRET_CONTEXT); NULL: none */
        size_t password_len;
        char *ca_file;       /* PEM file trusted for the upstream; NULL: the system's */
        int64_t ttl;         /* seconds a cached tag is served without asking */
        char *mirror_of;     /* the registry host it mirrors for ns; NULL: the url's host */
        bool docker_mirror;  /* takes docker's registry-mirrors requests (no ns) */
        int64_t created;
} proxycache_conf_t;

void proxycache_conf_done(proxycache_conf_t *c); /* NULL-safe; wipes the sealed password */

/* Checks an upstream URL: http or https, a host, an optional port, nothing after
 * (a trailing "/" is allowed). 0, or -EINVAL. */
int proxycache_url_check(const char *url);
/* The host[:port] part of a checked url into buf. 0, -EINVAL, -ENAMETOOLONG. */
int proxycache_url_host(const char *url, char *buf, size_t size);
/* A registry host name (and port) for --mirror-of: letters, digits, ".-:[]", at
 * most PROXYCACHE_HOST_MAX. */
bool proxycache_host_valid(const char *h);
/* Docker Hub ("docker.io", "registry-1.docker.io", "index.docker.io")? */
bool proxycache_host_is_docker_hub(const char *host);
/* Does conf mirror the registry host ns (containerd's ?ns=)? Its mirror_of, else
 * its url's host; Docker Hub's names are one registry. */
bool proxycache_conf_mirrors(const proxycache_conf_t *conf, const char *ns);
/* The upstream's repository name for name (the repository below the proxy
 * project: "alpine" of "hub/alpine"): on Docker Hub, a name of one component gets
 * "library/". Into buf; 0, -ENAMETOOLONG, -EINVAL. */
int proxycache_upstream_name(const proxycache_conf_t *conf, const char *name, char *buf, size_t size);

/* ---- rows ---- */

/* Adds the proxy record of an existing project: -ENOENT no such project, -EEXIST
 * it is a proxy already, -EINVAL a bad record. In a transaction of its own. */
int proxycache_add(db_conn_t *c, const proxycache_conf_t *conf, int64_t now);
/* Replaces the record of a proxy project (conf->project names it; created is
 * kept): -ENOENT not a proxy project, -EINVAL a bad record. revalidate: every
 * cached tag of the project is asked of the upstream at its next pull (the
 * upstream changed). In a transaction of its own. */
int proxycache_update(db_conn_t *c, const proxycache_conf_t *conf, bool revalidate);
/* The record of project: 1 (*ret filled; proxycache_conf_done), 0 not a proxy. */
int proxycache_get(db_conn_t *c, const char *project, proxycache_conf_t *ret);
/* Every proxy project, by name: each() is called per record (borrowed for the
 * call); a non-zero return stops and is returned. */
int proxycache_list(db_conn_t *c, int (*each)(const proxycache_conf_t *conf, void *userdata), void *userdata);

/* Is name a local namespace: a project or a user's own? 1, 0, <0. */
int proxycache_namespace_local(db_conn_t *c, const char *name);

/* When the tag of repo was last fetched or revalidated, and the digest it had:
 * 1 (*ret_checked, digest into buf), 0 never. */
int proxycache_tag_get(db_conn_t *c, const char *repo, const char *tag, int64_t *ret_checked, char *digest,
                       size_t size);
/* Records that the tag of repo was fetched or revalidated at now with digest. */
int proxycache_tag_mark(db_conn_t *c, const char *repo, const char *tag, const char *digest, int64_t now);
/* Removes the records of tags that are gone (deleted, evicted, removed by
 * retention), a batch per write transaction, until none is left or *stop (may be
 * NULL). *ret (may be NULL): how many. Garbage collection calls it. */
int proxycache_tags_prune(db_conn_t *c, const volatile bool *stop, uint64_t *ret);
