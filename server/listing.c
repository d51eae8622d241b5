/* server/listing.c: tags/list, _catalog and referrers, paginated from indexed
 * queries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/manifest.h"
#include "common/name.h"
#include "server/pullthrough.h"
#include "server/server.h"

#define PAGE_MAX 100000u      /* largest page we build at once */
#define PAGE_ALL 10000000u    /* no n: everything (bounded) */
#define REFERRERS_PAGE 1000u

/* n absent: PAGE_ALL; n invalid: answered with PAGINATION_NUMBER_INVALID, -1. */
static int page_size(request_t *req, size_t *ret) {
        const char *v = req_query(req, "n");
        unsigned long long n = 0;

        if (!v) {
                *ret = PAGE_ALL;
                return 0;
        }
        if (!*v || strlen(v) > 12)
                goto bad;
        for (const char *p = v; *p; p++) {
                if (*p < '0' || *p > '9')
                        goto bad;
                n = n * 10 + (unsigned) (*p - '0');
        }
        *ret = n > PAGE_MAX ? PAGE_MAX : (size_t) n;
        return 0;
bad:
        reply_error(req, 400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested", v);
        return -1;
}

/* Percent-encode s for a query string into buf (truncates safely). */
static const char *query_escape(const char *s, char *buf, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;

        for (; *s && o + 4 < n; s++) {
                unsigned char c = (unsigned char) *s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~')
                        buf[o++] = (char) c;
                else {
                        buf[o++] = '%';
                        buf[o++] = hex[c >> 4];
                        buf[o++] = hex[c & 15];
                }
        }
        buf[o] = '\0';
        return buf;
}

static json_t *strv_to_json(char **v) {
        json_t *a = json_array();
        for (size_t i = 0; a && v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static size_t strv_len(char **v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static void tags_list_begin(request_t *req) {
        if (pullthrough_tags_get(req))
                return;
        tags_list_local(req);
}

/* A proxy project's listing asked with ?refresh: the upstream's tags (all of them,
 * sorted), paginated here as a local listing is; the next page asks again. */
void tags_list_answer(request_t *req, char **all) {
        const char *last = req_query(req, "last");
        json_t *a = json_array();
        size_t n, i = 0, sent = 0;

        if (page_size(req, &n) < 0)
                return;
        while (all[i] && last && strcmp(all[i], last) <= 0)
                i++;
        for (; a && all[i] && sent < n; i++, sent++)
                json_array_append_new(a, json_string(all[i]));
        reply_json(req, 200, json_pack("{s:s, s:o}", "name", req->repo, "tags", a), NULL);
        if (all[i] && sent > 0) {
                char buf[3 * NAME_TAG_MAX + 1];
                reply_headerf(req, "Link", "</v2/%s/tags/list?n=%zu&last=%s&refresh=1>; rel=\"next\"", req->repo,
                              n, query_escape(all[i - 1], buf, sizeof(buf)));
        }
}

void tags_list_local(request_t *req) {
        const char *last = req_query(req, "last");
        char **tags = NULL;
        bool more = false;
        size_t n;
        meta_t *m;
        int r;

        if (page_size(req, &n) < 0)
                return;
        if (!(m = request_meta(req)))
                return;
        r = meta_repo_exists(m, req->repo);
        if (r == 0) {
                reply_error(req, 404, "NAME_UNKNOWN", "repository name not known to registry", req->repo);
                return;
        }
        if (r > 0)
                r = meta_tags_list(m, req->repo, last, n, &tags, &more);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        reply_json(req, 200, json_pack("{s:s, s:o}", "name", req->repo, "tags", strv_to_json(tags)), NULL);
        if (more && tags && tags[0])
                reply_headerf(req, "Link", "</v2/%s/tags/list?n=%zu&last=%s>; rel=\"next\"", req->repo, n,
                              tags[strv_len(tags) - 1]);
        meta_strv_free(tags);
}
const route_ops_t route_tags_list = { .name = "tags-list", .actions = AUTH_PULL, .begin = tags_list_begin };

static void catalog_begin(request_t *req) {
        const char *last = req_query(req, "last");
        char **repos = NULL, **tops = NULL;
        bool more = false;
        size_t n, len;
        meta_t *m;
        int r;

        if (page_size(req, &n) < 0)
                return;
        if (!(m = request_meta(req)))
                return;
        /* Pages hold only what the caller may pull, and so does the Link: it
         * continues after the last name of this page, never after a hidden one. */
        r = access_visible_projects(req, &tops);
        if (r == 1)
                r = meta_catalog(m, last, n, &repos, &more);
        else if (r == 0)
                r = meta_catalog_under(m, (const char *const *) tops, strv_len(tops), last, n, &repos, &more);
        meta_strv_free(tops);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        reply_json(req, 200, json_pack("{s:o}", "repositories", strv_to_json(repos)), NULL);
        len = strv_len(repos);
        if (more && len > 0)
                reply_headerf(req, "Link", "</v2/_catalog?n=%zu&last=%s>; rel=\"next\"", n, repos[len - 1]);
        meta_strv_free(repos);
}
const route_ops_t route_catalog = { .name = "catalog", .actions = AUTH_PULL, .begin = catalog_begin };

static void referrers_begin(request_t *req) {
        const char *filter = req_query(req, "artifactType");
        meta_referrer_t *v = NULL;
        json_t *list, *idx;
        size_t n = 0;
        digest_t d;
        meta_t *m;
        int r;

        if (digest_parse(req->ref, &d) < 0) {
                reply_errno(req, BERTH_EDIGEST_INVALID, req->ref);
                return;
        }
        if (!(m = request_meta(req)))
                return;
        r = meta_referrers(m, req->repo, &d, filter && *filter ? filter : NULL, &v, &n);
        if (r < 0) {
                reply_errno(req, r, NULL);
                return;
        }
        /* a large answer comes in pages: ?n= (default REFERRERS_PAGE) after ?last= */
        size_t first = 0, page = REFERRERS_PAGE, stop;
        const char *last = req_query(req, "last");
        if (req_query(req, "n") && page_size(req, &page) < 0) {
                meta_referrers_free(v, n);
                return;
        }
        if (last)
                while (first < n && strcmp(v[first].digest.str, last) <= 0)
                        first++;
        stop = n - first > page ? first + page : n;
        list = json_array();
        for (size_t i = first; list && i < stop; i++) {
                json_t *e = json_pack("{s:s, s:s, s:I}", "mediaType", v[i].media_type, "digest",
                                      v[i].digest.str, "size", (json_int_t) v[i].size);
                if (!e)
                        continue;
                if (v[i].artifact_type)
                        json_object_set_new(e, "artifactType", json_string(v[i].artifact_type));
                if (v[i].annotations_json) {
                        json_t *a = json_loads(v[i].annotations_json, 0, NULL);
                        if (a)
                                json_object_set_new(e, "annotations", a);
                }
                json_array_append_new(list, e);
        }
        idx = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests", list);
        reply_json(req, 200, idx, MT_OCI_INDEX);
        char esc[512];
        if (stop < n && stop > first)
                reply_headerf(req, "Link", "</v2/%s/referrers/%s?n=%zu&last=%s%s%s>; rel=\"next\"", req->repo,
                              d.str, page, v[stop - 1].digest.str, filter && *filter ? "&artifactType=" : "",
                              filter && *filter ? query_escape(filter, esc, sizeof(esc)) : "");
        meta_referrers_free(v, n);
        if (filter && *filter)
                reply_header(req, "OCI-Filters-Applied", "artifactType");
}
const route_ops_t route_referrers = { .name = "referrers", .actions = AUTH_PULL, .begin = referrers_begin };
