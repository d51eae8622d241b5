/* storage/retention.h: what keeps tags and manifests, per project, on the metadata
 * layer (both engines): the pulls of each manifest, immutable tag patterns, and
 * retention policies with their runs. The command line (server/cli-retention.c),
 * the server (server/retention.c) and the management API call these same
 * functions.
 *
 * A project is the first path component of repository names (meta.h's usage:
 * project P holds P and P/...). Patterns are globs (fnmatch(3) without flags:
 * `*` `?` `[...]`) matched against a whole tag name or a whole repository name.
 *
 * Return convention as meta.h: 0 or 1 as documented, -EINVAL for a bad argument,
 * BERTH_EDB, BERTH_EBUSY. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"
#include "storage/db.h"
#include "storage/meta.h"

#define META_PATTERN_MAX 128 /* bytes of a pattern */

/* 1 when pattern is a valid pattern: 1 to META_PATTERN_MAX printable ASCII bytes
 * without spaces, balanced brackets. */
bool meta_pattern_valid(const char *pattern);
/* Does name match pattern as the rules match (immutability, retention)? */
bool meta_pattern_match(const char *pattern, const char *name);
/* 1 when project names a project: a repository name's first component. */
bool meta_project_valid(const char *project);

/* ---- pulls ----
 * The server counts a manifest GET in memory and adds the counts in one short
 * transaction every few seconds (server/pulls.c); nothing is written per pull. A
 * manifest gone by then is skipped; the row goes with its manifest. */
typedef struct {
        const char *repo;
        digest_t digest;
        uint64_t count; /* pulls since the last flush */
        int64_t last;   /* the newest of them (unix seconds) */
} meta_pull_t;
/* One write transaction for all of v. 0 or <0 (nothing written). */
int meta_pulls_add(meta_t *m, const meta_pull_t *v, size_t n);
typedef struct {
        uint64_t count;      /* pulls recorded (flushed) */
        int64_t last_pulled; /* unix seconds; 0: never */
} meta_pulls_info_t;
/* 1 pulled at least once (*ret), 0 never (or no such manifest; *ret zeroed). */
int meta_pulls_get(meta_t *m, const char *repo, const digest_t *d, meta_pulls_info_t *ret);

/* ---- eviction (a proxy project at its quota) ----
 * A pull-through cache's copies are never refused for the quota; instead the
 * least recently pulled content goes: the root manifests of the project (those no
 * index names), oldest last pull (or push, when never pulled) first, each with its
 * tags and the blob links no other manifest of its repository references; then
 * blob links no manifest references, oldest first. One transaction per removal;
 * what is unlinked counts off the usage at once, GC reclaims the files. Stops when
 * the project's usage is at most target, or nothing is left to remove. */
typedef struct {
        uint64_t manifests, links; /* removed */
        uint64_t bytes_before, bytes_after;
} meta_evict_result_t;
int meta_evict_lru(meta_t *m, const char *project, uint64_t target, meta_evict_result_t *ret);

/* ---- immutable tags ----
 * A tag of project P whose name matches one of P's patterns may be pushed once:
 * pushing another digest to it, deleting it, and deleting by digest a manifest it
 * names are refused (BERTH_EDENIED), checked inside the write's own transaction;
 * pushing the same digest again is fine. Retention never removes it. */
/* 1 added, 0 already there; -EPERM for a proxy project (its tags are the
 * upstream's, and move when the upstream moves them). */
int meta_immutable_add(meta_t *m, const char *project, const char *pattern);
/* 1 removed, 0 was not there. */
int meta_immutable_del(meta_t *m, const char *project, const char *pattern);
typedef struct {
        char *project;
        char *pattern;
        int64_t created;
} meta_immutable_rule_t;
/* project's rules (NULL: every project's), by project and pattern. */
int meta_immutable_list(meta_t *m, const char *project, meta_immutable_rule_t **ret, size_t *ret_n);
void meta_immutable_free(meta_immutable_rule_t *v, size_t n);
/* Why repo:tag is immutable: 1 and *ret_pattern (malloc'd), 0 it is not. */
int meta_immutable_match(meta_t *m, const char *repo, const char *tag, char **ret_pattern);
/* Why the manifest d of repo cannot be deleted: 1 and the immutable tag naming it
 * and its pattern (malloc'd), 0 none does. */
int meta_immutable_manifest(meta_t *m, const char *repo, const digest_t *d, char **ret_tag, char **ret_pattern);

/* For storage/meta.c, inside the write transaction on c of a change to repo:
 * a tag put (digest: the new one) or a tag delete (digest NULL); a manifest delete.
 * 0, or BERTH_EDENIED (the transaction failed with it). */
int meta__immutable_check_tag(db_conn_t *c, const char *repo, const char *tag, const char *digest);
int meta__immutable_check_manifest(db_conn_t *c, const char *repo, const char *digest);

/* ---- retention policies ----
 * A project's policy is a list of keep rules and an optional delay for untagged
 * manifests. A run looks at each repository of the project on its own:
 *   - a rule applies to the tags whose name matches its tag pattern, in the
 *     repositories whose name matches its repository pattern;
 *   - last-pushed N: of those tags, the N pushed most recently (the time the tag
 *     was last pointed at a manifest; ties by name) are kept;
 *   - last-pulled N: of those tags that were ever pulled, the N whose manifest was
 *     pulled most recently are kept (never pulled: not kept by this rule);
 *   - pushed-within S: those pushed at or after now - S are kept;
 *   - pulled-within S: those whose manifest was pulled at or after now - S;
 *   - always: all of them are kept;
 *   - immutable tags are always kept.
 * A tag no rule keeps is removed (the tag only: its manifest stays while another
 * tag names it). A policy without keep rules removes no tag.
 * With untagged_after >= 0, then, every manifest of the project that has no tag,
 * was pushed and last pulled at or before now - untagged_after, is named by no
 * index of its repository and is not a referrer of a manifest still there, is
 * removed, pass after pass (an index removed frees its children; a subject
 * removed, its referrers). Blobs are left to garbage collection. */
typedef enum {
        META_KEEP_LAST_PUSHED = 1,
        META_KEEP_LAST_PULLED,
        META_KEEP_PUSHED_WITHIN,
        META_KEEP_PULLED_WITHIN,
        META_KEEP_ALWAYS,
} meta_keep_kind_t;
/* "last-pushed", ...; NULL for an unknown kind. */
const char *meta_keep_kind_name(meta_keep_kind_t k);
/* The kind named s, or 0. */
meta_keep_kind_t meta_keep_kind_parse(const char *s);

typedef struct {
        meta_keep_kind_t kind;
        char *tags;  /* tag pattern */
        char *repos; /* repository pattern ("*": every repository of the project) */
        uint64_t n;  /* last-*: a count; *-within: seconds; always: 0 */
} meta_keep_rule_t;
#define META_KEEP_RULES_MAX 32
typedef struct {
        char *project;
        int64_t untagged_after; /* seconds; -1: untagged manifests are not removed */
        meta_keep_rule_t *rules;
        size_t n_rules;
        int64_t updated;        /* out: when it was set */
} meta_retention_policy_t;
/* Replaces project's policy (one transaction). -EINVAL for a bad pattern, kind or
 * more than META_KEEP_RULES_MAX rules. */
int meta_retention_set(meta_t *m, const meta_retention_policy_t *p);
/* 1 and *ret (free with meta_retention_policy_done), 0 no policy. */
int meta_retention_get(meta_t *m, const char *project, meta_retention_policy_t *ret);
/* Every policy, by project. Free with meta_retention_policies_free. */
int meta_retention_list(meta_t *m, meta_retention_policy_t **ret, size_t *ret_n);
/* 1 removed, 0 there was none. */
int meta_retention_delete(meta_t *m, const char *project);
void meta_retention_policy_done(meta_retention_policy_t *p);
void meta_retention_policies_free(meta_retention_policy_t *v, size_t n);

/* ---- runs ----
 * Online: tags are read in pages (no transaction held), decided in memory per
 * repository, and removed in batches of short write transactions, each removal
 * checked again in its transaction (the tag still names the manifest it named and
 * was not pushed since; not immutable), written to the audit trail (auth_audit:
 * user "retention", action "retention-delete") and told to the manifest caches
 * (meta_repo_changed) and the webhooks (delete events), as a tag delete is. One
 * run at a time across processes (DB_LOCK_RETENTION); each recorded in
 * retention_runs. */
typedef struct {
        const char *project;    /* NULL: every project with a policy */
        bool dry_run;           /* nothing removed: what would go is reported (untagged: the first pass) */
        int64_t now;            /* 0: the wall clock */
        const char *who;        /* for the record */
        const volatile bool *stop; /* may be NULL: set, the run ends after its batch */
        /* called for what is removed (after its batch committed) or, in a dry run,
         * would be: tag NULL for an untagged manifest. May be NULL. */
        void (*removed)(void *userdata, const char *repo, const char *tag, const digest_t *d);
        void *userdata;
        size_t batch;           /* removals per transaction; 0: the default (500) */
} meta_retention_options_t;
typedef struct {
        int64_t run_id;
        uint64_t repos;     /* repositories looked at */
        uint64_t tags_seen; /* tags looked at */
        uint64_t tags;      /* tags removed (would be) */
        uint64_t manifests; /* untagged manifests removed (would be) */
} meta_retention_result_t;
/* BERTH_EBUSY: another run holds the lock. -ENOENT: project has no policy. */
int meta_retention_run(meta_t *m, const meta_retention_options_t *o, meta_retention_result_t *ret);

typedef struct {
        int64_t id;
        int64_t started, finished; /* finished 0: running, or interrupted */
        char *who;
        char *project;             /* NULL: every project */
        bool dry_run;
        char *result;              /* "ok", "failed"; NULL while unfinished */
        uint64_t repos, tags, manifests;
        char *error;
} meta_retention_run_t;
/* The newest max runs, newest first. */
int meta_retention_runs(meta_t *m, size_t max, meta_retention_run_t **ret, size_t *ret_n);
void meta_retention_runs_free(meta_retention_run_t *v, size_t n);
/* The start of the newest run that finished ok (not a dry run, every project), 0 if none. */
int meta_retention_last_ok(meta_t *m, int64_t *ret);
