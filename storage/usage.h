/* storage/usage.h: storage usage and quotas per project (issue 11), for the CLI
 * and the management API alike.
 *
 * A project here is a namespace: the first path component of repository names
 * (a project of auth/, or a user's own namespace, which counts from its first
 * push on). A repository holds a digest when it links it as a blob or stores it
 * as a manifest. A project's usage is the number and total size of the distinct
 * digests its repositories hold (a blob counts once however many repositories
 * hold it); a repository's, of the digests it holds. Both are kept exactly by
 * triggers of the metadata schema (step 6) in the statement that adds or removes
 * the hold, whatever writes it: they are read here, never computed by walking.
 *
 * A project's quota is its own (a size, or none), or else the default (a size,
 * or none): USAGE_UNLIMITED stands for none. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"
#include "common/size.h"
#include "storage/meta.h"

#define USAGE_UNLIMITED SIZE_NONE /* common/size.h: size_parse's "none" */

typedef struct {
        char project[META_TOP_MAX + 1];
        uint64_t blobs, bytes; /* the maintained usage */
        uint64_t quota;        /* the quota in force, USAGE_UNLIMITED: none */
        bool own;              /* the project's own setting (else the default's) */
} usage_project_t;

/* The project (namespace) of a repository name into buf: 0, or -EINVAL (empty,
 * or longer than META_TOP_MAX). */
int usage_project_of(const char *repo, char buf[META_TOP_MAX + 1]);

/* One project's usage and quota (zero usage for a project that holds nothing).
 * project: a first path component (-EINVAL otherwise). */
int usage_get(meta_t *m, const char *project, usage_project_t *ret);
/* Every project that holds something or has a quota of its own, by name (byte
 * order). *ret malloc'd (free()). */
int usage_list(meta_t *m, usage_project_t **ret, size_t *ret_n);

typedef struct {
        char *repo;
        uint64_t blobs, bytes;
} usage_repo_t;
/* The repositories of project (P and P/...) with their usage, by name. */
int usage_repos(meta_t *m, const char *project, usage_repo_t **ret, size_t *ret_n);
void usage_repos_free(usage_repo_t *v, size_t n);

/* The project's own quota: bytes, or USAGE_UNLIMITED (none, whatever the default). */
int usage_quota_set(meta_t *m, const char *project, uint64_t bytes);
/* The project follows the default again. 1 it had its own, 0 not. */
int usage_quota_clear(meta_t *m, const char *project);
/* The default quota of projects without their own: bytes or USAGE_UNLIMITED. */
int usage_default_get(meta_t *m, uint64_t *ret);
int usage_default_set(meta_t *m, uint64_t bytes);

/* What repo's project may still take: *ret_room bytes (USAGE_UNLIMITED without a
 * quota, or when d (may be NULL) is already held in the project: it costs
 * nothing), 0 when at or over the quota. ret (may be NULL): the project's figures.
 * One read; the authoritative check is in the link's transaction. */
int usage_room(meta_t *m, const char *repo, const digest_t *d, uint64_t *ret_room, usage_project_t *ret);

/* ---- quota events (storage/webhook.h, type WEBHOOK_QUOTA) ----
 * "warning": a push took the project's usage to USAGE_WARN_PERCENT of its quota or
 * more (queued in the push's transaction, once per crossing); "exceeded": a push was
 * refused for the quota (queued by usage_exceeded_event, in a transaction of its
 * own since the refused write left nothing to join). */
#define USAGE_WARN_PERCENT 85
/* The warning level of a quota: USAGE_WARN_PERCENT of it, rounded down. */
uint64_t usage_warn_level(uint64_t quota);
/* Queues an "exceeded" event for repo's project when it has a quota and a webhook
 * wants it: 1 queued, 0 nothing to queue, <0. d (may be NULL): what the refused
 * write would have added; o may be NULL. */
int usage_exceeded_event(meta_t *m, const char *repo, const digest_t *d, const meta_origin_t *o);

/* ---- recount ---- */
typedef struct {
        const char *project;
        const char *repo;      /* NULL: the project's figures */
        uint64_t kept_blobs, kept_bytes;
        uint64_t counted_blobs, counted_bytes;
        bool refs;             /* the project's per-digest counts differ (totals may agree) */
} usage_diff_t;
/* Recounts every project's and repository's usage from the links and manifests
 * (one write transaction per project: exact while pushes go on) and compares it
 * with the maintained figures; fn (may be NULL) hears each difference. With
 * repair, the maintained figures of a project that differs are replaced by the
 * recount in that transaction. *ret_diffs: the differences found. */
int usage_verify(meta_t *m, bool repair, void (*fn)(const usage_diff_t *diff, void *userdata), void *userdata,
                 uint64_t *ret_diffs);
