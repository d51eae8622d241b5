/* storage/browse.h: the listings of the management API (issue 12): repositories
 * with their figures, the tags of a repository with their manifests, sizes and
 * pull records, the children of a manifest. Keyset pages (entries strictly after
 * a key, in the order of an index): a page never repeats or skips an entry that
 * exists through the whole walk, whatever is written meanwhile, and its cost
 * follows the page, not the registry. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage/meta.h"

#define BROWSE_PAGE_MAX 500
#define BROWSE_TAGS_COUNTED 1000

typedef struct {
        char *name;
        int64_t tags;     /* exact from browse_repo_get; in lists at most BROWSE_TAGS_COUNTED */
        uint64_t size;    /* bytes of the repository's distinct blobs (usage) */
        int64_t updated;  /* the latest tag push (unix seconds); 0: none */
} browse_repo_t;

/* May the caller see repository name? (the caller's filter; NULL: all) */
typedef bool (*browse_visible_fn)(const char *name, void *userdata);

/* Repositories by name after `after` (NULL: from the start), at most n
 * (1..BROWSE_PAGE_MAX): of project (NULL: every one), whose name holds q (NULL:
 * any), that visible() admits. *ret_more: another page follows. */
int browse_repos(meta_t *m, const char *project, const char *q, const char *after, size_t n,
                 browse_visible_fn visible, void *userdata, browse_repo_t **ret, size_t *ret_n, bool *ret_more);
/* Repositories are listed while they hold a manifest. */
/* One repository: 1 and *ret, or 0 (none). */
int browse_repo_get(meta_t *m, const char *name, browse_repo_t *ret);
/* 1 repository name is listed (holds a manifest), 0 not: one index probe. */
int browse_repo_listed(meta_t *m, const char *name);
void browse_repo_done(browse_repo_t *r);
void browse_repos_free(browse_repo_t *v, size_t n);
/* Repositories of project (the project's figure): a range count of the name
 * index, which also counts a repository that holds blobs only (an upload). */
int browse_repo_count(meta_t *m, const char *project, int64_t *ret);

typedef struct {
        char *tag;           /* NULL in browse_manifest_get */
        char *digest;
        char *media_type;
        char *artifact_type; /* may be NULL */
        char *subject;       /* may be NULL */
        uint64_t manifest_size;
        uint64_t size;       /* the manifest, its blobs, and its child manifests with theirs */
        int64_t pushed;      /* the tag's last move (a manifest: its creation) */
        int64_t pulls;
        int64_t last_pulled; /* 0: never */
} browse_tag_t;

/* Tags of repo by name after `after`, at most n, whose name holds q (NULL: any). */
int browse_tags(meta_t *m, const char *repo, const char *q, const char *after, size_t n, browse_tag_t **ret,
                size_t *ret_n, bool *ret_more);
/* A manifest by digest: 1 and *ret (tag NULL), 0 none. */
int browse_manifest_get(meta_t *m, const char *repo, const char *digest, browse_tag_t *ret);
void browse_tag_done(browse_tag_t *t);
void browse_tags_free(browse_tag_t *v, size_t n);
/* The tags naming digest in repo (a NULL-terminated strv; meta_strv_free). */
int browse_tags_of(meta_t *m, const char *repo, const char *digest, char ***ret);
/* The digest tag names in repo: 1 and *ret (malloc'd), 0 no such tag. */
int browse_tag_digest(meta_t *m, const char *repo, const char *tag, char **ret);
/* 1 some manifest of repo has a subject (a referrer), 0 none: a page of tags
 * asks for referrers only then. */
int browse_has_referrers(meta_t *m, const char *repo);
/* Every manifest digest of repo (a strv), for deleting the repository. */
int browse_manifest_digests(meta_t *m, const char *repo, char ***ret);
