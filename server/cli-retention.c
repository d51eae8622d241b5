/* server/cli-retention.c: `berthd retention` and `berthd immutable` (see
 * cli-retention.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/macro.h"
#include "server/cli-retention.h"
#include "storage/meta.h"
#include "storage/retention.h"

int cli_retention_usage(FILE *err) {
        fputs("usage:\n"
              "  berthd immutable add PROJECT PATTERN\n"
              "  berthd immutable del PROJECT PATTERN\n"
              "  berthd immutable list [PROJECT]\n"
              "  berthd retention set PROJECT [--tags PATTERN] [--repos PATTERN] RULE... [--untagged-after DURATION]\n"
              "  berthd retention unset PROJECT\n"
              "  berthd retention list [PROJECT]\n"
              "  berthd retention run [PROJECT] [--dry-run] [--wait SECONDS]\n"
              "  berthd retention status\n"
              "Immutable tags: a tag of PROJECT whose name matches PATTERN (a glob: * ? [...]) may\n"
              "be pushed once; pushing another digest to it, deleting it, and deleting a manifest\n"
              "it names are refused (403 DENIED). Retention never removes it.\n"
              "Retention: a run looks at each repository of PROJECT (PROJECT and PROJECT/...) on\n"
              "its own and removes every tag no rule keeps (the tag only). RULEs:\n"
              "  --keep-last-pushed N      the N tags pushed most recently\n"
              "  --keep-last-pulled N      the N tags pulled most recently (never pulled: not kept)\n"
              "  --keep-pushed-within D    tags pushed within D (90s, 15m, 12h, 7d, 2w)\n"
              "  --keep-pulled-within D    tags pulled within D\n"
              "  --keep-always PATTERN     tags matching PATTERN\n"
              "Each rule applies to the tags matching the --tags PATTERN given before it (default\n"
              "*) in the repositories whose full name matches the --repos PATTERN before it\n"
              "(default *); a repository no rule applies to is left alone, and a policy without\n"
              "rules removes no tag. --untagged-after D: then also remove untagged manifests\n"
              "pushed and last pulled more than D ago, never the children of an index or the\n"
              "referrers of a manifest still there (blobs: garbage collection). Every removal is\n"
              "in the audit trail (user retention, action retention-delete). `set` replaces the\n"
              "whole policy. `run` without PROJECT applies every policy; --dry-run removes\n"
              "nothing and prints what would go (untagged manifests: the first pass). Servers\n"
              "run them every --retention-interval; one run at a time across processes.\n",
              err);
        return 2;
}

static int fail(FILE *err, const char *what, int r) {
        if ((r == BERTH_EDB || r == BERTH_EDBDOWN) && db_last_error()[0])
                fprintf(err, "berthd: %s: %s (%s)\n", what, berth_strerror(r), db_last_error());
        else
                fprintf(err, "berthd: %s: %s\n", what, berth_strerror(r));
        return 1;
}

int cli_duration_parse(const char *s, uint64_t *ret) {
        unsigned long long v;
        uint64_t mul = 1;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        switch (*end) {
        case '\0':
        case 's':
                break;
        case 'm':
                mul = 60;
                break;
        case 'h':
                mul = 3600;
                break;
        case 'd':
                mul = 86400;
                break;
        case 'w':
                mul = 7 * 86400;
                break;
        default:
                return -EINVAL;
        }
        if (*end && end[1])
                return -EINVAL;
        if (v > (unsigned long long) INT32_MAX * 1000 / mul) /* about 68 years at most */
                return -EINVAL;
        *ret = (uint64_t) v * mul;
        return 0;
}

static int bad_project(FILE *err, const char *p) {
        fprintf(err, "berthd: '%s' is not a project name (the first path component of a repository name)\n", p);
        return 2;
}

static int bad_pattern(FILE *err, const char *p) {
        fprintf(err, "berthd: '%s' is not a pattern (1 to %d printable characters without spaces, a glob: * ? "
                     "[...])\n", p, META_PATTERN_MAX);
        return 2;
}

static void fmt_time(int64_t t, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(buf, size, "-");
}

/* ---- immutable ---- */

static int immutable_main(meta_t *m, int argc, char **argv, FILE *out, FILE *err) {
        const char *verb = argc > 1 ? argv[1] : "";
        int r;

        if ((strcmp(verb, "add") == 0 || strcmp(verb, "del") == 0) && argc == 4) {
                if (!meta_project_valid(argv[2]))
                        return bad_project(err, argv[2]);
                if (strcmp(verb, "add") == 0) {
                        if (!meta_pattern_valid(argv[3]))
                                return bad_pattern(err, argv[3]);
                        r = meta_immutable_add(m, argv[2], argv[3]);
                        if (r == -EPERM) {
                                fprintf(err, "berthd: immutable add: %s is a proxy project: its tags are its "
                                             "upstream's, and move when the upstream moves them\n", argv[2]);
                                return 1;
                        }
                        if (r < 0)
                                return fail(err, "immutable add", r);
                        fprintf(out, "%s: tags matching '%s' are immutable%s\n", argv[2], argv[3],
                                r == 0 ? " (already)" : "");
                        return 0;
                }
                r = meta_immutable_del(m, argv[2], argv[3]);
                if (r < 0)
                        return fail(err, "immutable del", r);
                if (r == 0) {
                        fprintf(err, "berthd: immutable del: project %s has no pattern '%s'\n", argv[2], argv[3]);
                        return 1;
                }
                fprintf(out, "%s: tags matching '%s' are no longer immutable\n", argv[2], argv[3]);
                return 0;
        }
        if (strcmp(verb, "list") == 0 && argc <= 3) {
                meta_immutable_rule_t *v = NULL;
                size_t n = 0;
                if (argc == 3 && !meta_project_valid(argv[2]))
                        return bad_project(err, argv[2]);
                r = meta_immutable_list(m, argc == 3 ? argv[2] : NULL, &v, &n);
                if (r < 0)
                        return fail(err, "immutable list", r);
                fputs("PROJECT\tPATTERN\tADDED\n", out);
                for (size_t i = 0; i < n; i++) {
                        char t[32];
                        fmt_time(v[i].created, t, sizeof(t));
                        fprintf(out, "%s\t%s\t%s\n", v[i].project, v[i].pattern, t);
                }
                meta_immutable_free(v, n);
                return 0;
        }
        return cli_retention_usage(err);
}

/* ---- retention ---- */

static int policy_set(meta_t *m, int argc, char **argv, FILE *out, FILE *err) {
        enum { O_TAGS = 256, O_REPOS, O_LAST_PUSHED, O_LAST_PULLED, O_PUSHED_WITHIN, O_PULLED_WITHIN, O_ALWAYS,
               O_UNTAGGED };
        static const struct option opts[] = {
                { "tags", required_argument, NULL, O_TAGS },
                { "repos", required_argument, NULL, O_REPOS },
                { "keep-last-pushed", required_argument, NULL, O_LAST_PUSHED },
                { "keep-last-pulled", required_argument, NULL, O_LAST_PULLED },
                { "keep-pushed-within", required_argument, NULL, O_PUSHED_WITHIN },
                { "keep-pulled-within", required_argument, NULL, O_PULLED_WITHIN },
                { "keep-always", required_argument, NULL, O_ALWAYS },
                { "untagged-after", required_argument, NULL, O_UNTAGGED },
                {}
        };
        meta_keep_rule_t rules[META_KEEP_RULES_MAX];
        meta_retention_policy_t p = { .untagged_after = -1, .rules = rules };
        char *tags = (char *) "*", *repos = (char *) "*";
        int c, r;

        optind = 1;
        opterr = 0;
        /* argv[0] is "set": options and the project in any order */
        while ((c = getopt_long(argc, argv, "-", opts, NULL)) >= 0) {
                meta_keep_rule_t k = { .tags = tags, .repos = repos };
                uint64_t v = 0;

                switch (c) {
                case 1:
                        if (p.project)
                                return cli_retention_usage(err);
                        p.project = optarg;
                        continue;
                case O_TAGS:
                case O_REPOS:
                        if (!meta_pattern_valid(optarg))
                                return bad_pattern(err, optarg);
                        *(c == O_TAGS ? &tags : &repos) = optarg;
                        continue;
                case O_UNTAGGED:
                        if (cli_duration_parse(optarg, &v) < 0) {
                                fprintf(err, "berthd: retention set: invalid duration '%s'\n", optarg);
                                return 2;
                        }
                        p.untagged_after = (int64_t) v;
                        continue;
                case O_LAST_PUSHED:
                case O_LAST_PULLED: {
                        char *end;
                        unsigned long long n;
                        errno = 0;
                        n = strtoull(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-' || n > INT32_MAX) {
                                fprintf(err, "berthd: retention set: invalid count '%s'\n", optarg);
                                return 2;
                        }
                        k.kind = c == O_LAST_PUSHED ? META_KEEP_LAST_PUSHED : META_KEEP_LAST_PULLED;
                        k.n = n;
                        break;
                }
                case O_PUSHED_WITHIN:
                case O_PULLED_WITHIN:
                        if (cli_duration_parse(optarg, &v) < 0) {
                                fprintf(err, "berthd: retention set: invalid duration '%s'\n", optarg);
                                return 2;
                        }
                        k.kind = c == O_PUSHED_WITHIN ? META_KEEP_PUSHED_WITHIN : META_KEEP_PULLED_WITHIN;
                        k.n = v;
                        break;
                case O_ALWAYS:
                        if (!meta_pattern_valid(optarg))
                                return bad_pattern(err, optarg);
                        k.kind = META_KEEP_ALWAYS;
                        k.tags = optarg;
                        break;
                default:
                        return cli_retention_usage(err);
                }
                if (p.n_rules >= META_KEEP_RULES_MAX) {
                        fprintf(err, "berthd: retention set: at most %d rules\n", META_KEEP_RULES_MAX);
                        return 2;
                }
                rules[p.n_rules++] = k;
        }
        if (!p.project)
                return cli_retention_usage(err);
        if (!meta_project_valid(p.project))
                return bad_project(err, p.project);
        r = meta_retention_set(m, &p);
        if (r < 0)
                return fail(err, "retention set", r);
        fprintf(out, "%s: retention policy set (%zu rule(s)%s)\n", p.project, p.n_rules,
                p.untagged_after >= 0 ? ", untagged manifests removed" : "");
        return 0;
}

static void print_policy(FILE *out, const meta_retention_policy_t *p) {
        char t[32];

        fmt_time(p->updated, t, sizeof(t));
        fprintf(out, "%s (set %s)\n", p->project, t);
        if (p->n_rules == 0)
                fputs("  no keep rules: no tag is removed\n", out);
        for (size_t i = 0; i < p->n_rules; i++) {
                const meta_keep_rule_t *k = &p->rules[i];
                fprintf(out, "  keep %s", meta_keep_kind_name(k->kind));
                if (k->kind == META_KEEP_LAST_PUSHED || k->kind == META_KEEP_LAST_PULLED)
                        fprintf(out, " %" PRIu64, k->n);
                else if (k->kind != META_KEEP_ALWAYS)
                        fprintf(out, " %" PRIu64 "s", k->n);
                fprintf(out, " tags '%s' in repositories '%s'\n", k->tags, k->repos);
        }
        if (p->untagged_after >= 0)
                fprintf(out, "  untagged manifests removed after %" PRId64 "s\n", p->untagged_after);
        else
                fputs("  untagged manifests kept\n", out);
}

typedef struct {
        FILE *out;
        bool dry;
} print_t;

static void print_removed(void *userdata, const char *repo, const char *tag, const digest_t *d) {
        print_t *pr = userdata;

        if (tag)
                fprintf(pr->out, "%s tag %s:%s (%s)\n", pr->dry ? "would remove" : "removed", repo, tag, d->str);
        else
                fprintf(pr->out, "%s untagged manifest %s@%s\n", pr->dry ? "would remove" : "removed", repo, d->str);
}

static int run_main(meta_t *m, int argc, char **argv, FILE *out, FILE *err) {
        static const struct option opts[] = {
                { "dry-run", no_argument, NULL, 'n' },
                { "wait", required_argument, NULL, 'w' },
                {}
        };
        char who[256], host[128] = "?";
        print_t pr = { .out = out };
        meta_retention_options_t o = { .removed = print_removed, .userdata = &pr };
        meta_retention_result_t res;
        uint64_t wait = 60;
        double waited = 0;
        int c, r;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "-", opts, NULL)) >= 0) {
                switch (c) {
                case 1:
                        if (o.project)
                                return cli_retention_usage(err);
                        o.project = optarg;
                        break;
                case 'n':
                        o.dry_run = pr.dry = true;
                        break;
                case 'w':
                        if (cli_duration_parse(optarg, &wait) < 0) {
                                fprintf(err, "berthd: retention run: invalid --wait '%s'\n", optarg);
                                return 2;
                        }
                        break;
                default:
                        return cli_retention_usage(err);
                }
        }
        if (o.project && !meta_project_valid(o.project))
                return bad_project(err, o.project);
        (void) gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        (void) snprintf(who, sizeof(who), "berthd retention on %s (pid %ld)", host, (long) getpid());
        o.who = who;
        for (;;) {
                r = meta_retention_run(m, &o, &res);
                if (r != BERTH_EBUSY || waited >= (double) wait)
                        break;
                if (waited == 0)
                        fprintf(err, "berthd: retention: another process is running one: waiting (up to %" PRIu64
                                " s)\n", wait);
                (void) nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
                waited += 0.2;
        }
        if (r == BERTH_EBUSY) {
                fprintf(err, "berthd: retention: another process is still running one (berthd retention status)\n");
                return 1;
        }
        if (r == -ENOENT) {
                fprintf(err, "berthd: retention run: project %s has no retention policy\n", o.project);
                return 1;
        }
        if (r < 0)
                return fail(err, "retention run", r);
        fprintf(out, "run %" PRId64 ": %s %" PRIu64 " of %" PRIu64 " tag(s) and %" PRIu64
                " untagged manifest(s) in %" PRIu64 " repositories\n",
                res.run_id, o.dry_run ? "would remove" : "removed", res.tags, res.tags_seen, res.manifests, res.repos);
        return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

static int status_main(meta_t *m, FILE *out, FILE *err) {
        meta_retention_run_t *v = NULL;
        size_t n = 0;
        int running, r;

        running = meta_lock_try(m, DB_LOCK_RETENTION);
        if (running > 0)
                meta_unlock(m, DB_LOCK_RETENTION);
        r = meta_retention_runs(m, 10, &v, &n);
        if (r < 0)
                return fail(err, "retention status", r);
        fprintf(out, "%s\n", running == 0 ? "a run is in progress" : "no run in progress");
        if (n == 0)
                fputs("no runs recorded\n", out);
        for (size_t i = 0; i < n; i++) {
                const meta_retention_run_t *e = &v[i];
                char t0[32], t1[32];
                fmt_time(e->started, t0, sizeof(t0));
                fmt_time(e->finished, t1, sizeof(t1));
                fprintf(out, "run %" PRId64 ": %s of %s started %s finished %s (%s) by %s: %" PRIu64 " tag(s), %" PRIu64
                        " untagged manifest(s) in %" PRIu64 " repositories%s%s\n",
                        e->id, e->dry_run ? "dry run" : "run", e->project ? e->project : "every project", t0, t1,
                        e->result ? e->result : running == 0 && i == 0 ? "running" : "interrupted",
                        e->who ? e->who : "?", e->tags, e->manifests, e->repos, e->error ? ": " : "",
                        e->error ? e->error : "");
        }
        meta_retention_runs_free(v, n);
        return 0;
}

static int retention_main(meta_t *m, int argc, char **argv, FILE *out, FILE *err) {
        const char *verb = argc > 1 ? argv[1] : "";
        int r;

        if (strcmp(verb, "set") == 0)
                return policy_set(m, argc - 1, argv + 1, out, err);
        if (strcmp(verb, "run") == 0)
                return run_main(m, argc - 1, argv + 1, out, err);
        if (strcmp(verb, "status") == 0 && argc == 2)
                return status_main(m, out, err);
        if (strcmp(verb, "unset") == 0 && argc == 3) {
                if (!meta_project_valid(argv[2]))
                        return bad_project(err, argv[2]);
                r = meta_retention_delete(m, argv[2]);
                if (r < 0)
                        return fail(err, "retention unset", r);
                fprintf(out, "%s: %s\n", argv[2], r ? "retention policy removed" : "had no retention policy");
                return 0;
        }
        if (strcmp(verb, "list") == 0 && argc <= 3) {
                meta_retention_policy_t *v = NULL, one;
                size_t n = 0;
                if (argc == 3) {
                        if (!meta_project_valid(argv[2]))
                                return bad_project(err, argv[2]);
                        r = meta_retention_get(m, argv[2], &one);
                        if (r < 0)
                                return fail(err, "retention list", r);
                        if (r == 0) {
                                fprintf(out, "%s: no retention policy\n", argv[2]);
                                return 0;
                        }
                        print_policy(out, &one);
                        meta_retention_policy_done(&one);
                        return 0;
                }
                r = meta_retention_list(m, &v, &n);
                if (r < 0)
                        return fail(err, "retention list", r);
                if (n == 0)
                        fputs("no retention policies\n", out);
                for (size_t i = 0; i < n; i++)
                        print_policy(out, &v[i]);
                meta_retention_policies_free(v, n);
                return 0;
        }
        return cli_retention_usage(err);
}

int cli_retention_run(db_t *db, int argc, char **argv, FILE *out, FILE *err) {
        meta_t *m = NULL;
        int r;

        if (argc < 2)
                return cli_retention_usage(err);
        r = meta_open_thread(db, &m);
        if (r < 0)
                return fail(err, argv[0], r);
        r = strcmp(argv[0], "immutable") == 0 ? immutable_main(m, argc, argv, out, err)
                                              : retention_main(m, argc, argv, out, err);
        meta_free(m);
        return r;
}
