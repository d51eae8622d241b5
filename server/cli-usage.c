/* server/cli-usage.c: `berthd usage`, `berthd quota` and `berthd project set P
 * --quota` (see cli-usage.h), on storage/usage.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "common/err.h"
#include "common/name.h"
#include "server/cli-usage.h"
#include "storage/meta.h"
#include "storage/usage.h"

int cli_usage_usage(FILE *err) {
        fputs("usage:\n"
              "  berthd usage [PROJECT] [--repositories] [--json]\n"
              "  berthd usage --verify [--repair]\n"
              "  berthd quota default [SIZE|none]\n"
              "  berthd quota set PROJECT SIZE|none|default\n"
              "  berthd project set PROJECT --quota SIZE|none|default\n"
              "The storage each project uses (a project: the first path component of repository\n"
              "names, a user's own namespace included): the number and total size of the\n"
              "distinct blobs (layers, configs, manifests) its repositories hold, a blob counted\n"
              "once however many of them hold it; and its quota. Kept exactly with every push,\n"
              "delete and garbage collection, read from the metadata database: safe while\n"
              "servers run. Without PROJECT: every project that holds something or has a quota\n"
              "of its own. --repositories: each repository of PROJECT too.\n"
              "--json: {\"projects\":[{\"project\":P,\"blobs\":N,\"bytes\":N,\"quota\":N|null,\n"
              "\"quota_from\":\"project\"|\"default\"[,\"repositories\":[{\"repository\":R,\"blobs\":N,\n"
              "\"bytes\":N},...]]},...]}, sorted by name.\n"
              "--verify: recounts every project and repository from the links and manifests and\n"
              "compares; exit 1 and a line per difference if any (--repair: the kept figures\n"
              "are replaced by the recount, exit 0).\n"
              "A quota refuses pushes that would take the project past it (403 DENIED). SIZE:\n"
              "10GiB, 512MiB, 1.5T (K, M, G, T, P and KiB...: powers of 1024; kB, MB, GB...:\n"
              "powers of 1000), a number of bytes, or none. default: the project follows the\n"
              "default quota again (the default applies to every project without its own).\n",
              err);
        return 2;
}

void cli_usage_human(uint64_t n, char *buf, size_t size) {
        size_human(n, buf, size);
}

static int fail(FILE *err, int r) {
        if ((r == BERTH_EDB || r == BERTH_EDBDOWN) && db_last_error()[0])
                fprintf(err, "berthd: usage: %s (%s)\n", berth_strerror(r), db_last_error());
        else
                fprintf(err, "berthd: usage: %s\n", berth_strerror(r));
        return 1;
}

static bool project_valid(const char *p) {
        return p && !strchr(p, '/') && strlen(p) <= META_TOP_MAX && name_repo_valid(p, strlen(p));
}

static int bad_project(FILE *err, const char *p) {
        fprintf(err, "berthd: '%s' is not a project name (the first path component of a repository name)\n", p);
        return 2;
}

/* "10.0 GiB", "none", with " (default)" when it is the default's. */
static void quota_text(const usage_project_t *u, char *buf, size_t size) {
        char h[32];

        if (u->quota == USAGE_UNLIMITED)
                snprintf(h, sizeof(h), "none");
        else
                size_human(u->quota, h, sizeof(h));
        snprintf(buf, size, "%s%s", h, u->own ? "" : " (default)");
}

static json_t *project_json(const usage_project_t *u) {
        return json_pack("{s:s,s:I,s:I,s:o,s:s}", "project", u->project, "blobs", (json_int_t) u->blobs, "bytes",
                         (json_int_t) u->bytes, "quota",
                         u->quota == USAGE_UNLIMITED ? json_null() : json_integer((json_int_t) u->quota), "quota_from",
                         u->own ? "project" : "default");
}

static json_t *repos_json(const usage_repo_t *r, size_t n) {
        json_t *list = json_array();

        for (size_t i = 0; list && i < n; i++) {
                json_t *e = json_pack("{s:s,s:I,s:I}", "repository", r[i].repo, "blobs", (json_int_t) r[i].blobs,
                                      "bytes", (json_int_t) r[i].bytes);
                if (!e || json_array_append_new(list, e) < 0) {
                        json_decref(list);
                        return NULL;
                }
        }
        return list;
}

static void print_bytes(FILE *out, uint64_t n) {
        char human[32];

        size_human(n, human, sizeof(human));
        if (n < 1024)
                fprintf(out, "%s", human);
        else
                fprintf(out, "%s (%" PRIu64 ")", human, n);
}

static int show(meta_t *m, const char *project, bool repos, bool json, FILE *out) {
        usage_project_t one, *v = NULL;
        usage_repo_t *rv = NULL;
        size_t n = 0, n_repos = 0;
        int r;

        if (project) {
                r = usage_get(m, project, &one);
                if (r >= 0 && repos)
                        r = usage_repos(m, project, &rv, &n_repos);
        } else
                r = usage_list(m, &v, &n);
        if (r < 0)
                return r;
        if (json) {
                json_t *root = json_object(), *list = json_array();
                char *s = NULL;

                r = root && list && json_object_set_new(root, "projects", list) == 0 ? 0 : -ENOMEM;
                if (r < 0)
                        json_decref(list);
                for (size_t i = 0; r == 0 && i < (project ? 1 : n); i++) {
                        json_t *e = project_json(project ? &one : &v[i]);
                        if (e && project && repos) {
                                json_t *rl = repos_json(rv, n_repos);
                                if (!rl || json_object_set_new(e, "repositories", rl) < 0) {
                                        json_decref(e);
                                        e = NULL;
                                }
                        }
                        if (!e || json_array_append_new(list, e) < 0)
                                r = -ENOMEM;
                }
                if (r == 0 && !(s = json_dumps(root, JSON_COMPACT)))
                        r = -ENOMEM;
                json_decref(root);
                if (s)
                        fprintf(out, "%s\n", s);
                free(s);
        } else {
                fputs("PROJECT\tBLOBS\tBYTES\tQUOTA\n", out);
                for (size_t i = 0; i < (project ? 1 : n); i++) {
                        const usage_project_t *u = project ? &one : &v[i];
                        char q[48];

                        quota_text(u, q, sizeof(q));
                        fprintf(out, "%s\t%" PRIu64 "\t", u->project, u->blobs);
                        print_bytes(out, u->bytes);
                        fprintf(out, "\t%s\n", q);
                }
                if (repos) {
                        fputs("\nREPOSITORY\tBLOBS\tBYTES\n", out);
                        for (size_t i = 0; i < n_repos; i++) {
                                fprintf(out, "%s\t%" PRIu64 "\t", rv[i].repo, rv[i].blobs);
                                print_bytes(out, rv[i].bytes);
                                fputc('\n', out);
                        }
                }
        }
        free(v);
        usage_repos_free(rv, n_repos);
        return r;
}

typedef struct {
        FILE *out;
        bool repair;
} report_t;

static void report_diff(const usage_diff_t *d, void *userdata) {
        report_t *rp = userdata;
        FILE *out = rp->out;

        if (d->repo)
                fprintf(out, "repository %s: kept %" PRIu64 " blobs, ", d->repo, d->kept_blobs);
        else
                fprintf(out, "project %s: kept %" PRIu64 " blobs, ", d->project, d->kept_blobs);
        print_bytes(out, d->kept_bytes);
        fprintf(out, "; recounted %" PRIu64 " blobs, ", d->counted_blobs);
        print_bytes(out, d->counted_bytes);
        if (d->refs)
                fputs("; the per-blob counts differ", out);
        fputs(rp->repair ? " (repaired)\n" : "\n", out);
}

static int verify(meta_t *m, bool repair, FILE *out, FILE *err) {
        report_t rp = { .out = out, .repair = repair };
        uint64_t diffs = 0;
        int r = usage_verify(m, repair, report_diff, &rp, &diffs);

        if (r < 0)
                return fail(err, r);
        if (diffs == 0) {
                fputs("usage: the kept figures equal the recount\n", out);
                return 0;
        }
        fprintf(out, "usage: %" PRIu64 " difference%s%s\n", diffs, diffs == 1 ? "" : "s",
                repair ? ", repaired" : " (berthd usage --verify --repair replaces the kept figures)");
        return repair ? 0 : 1;
}

/* project P: SIZE | none | default */
static int set_quota(meta_t *m, const char *project, const char *value, FILE *out, FILE *err) {
        usage_project_t u;
        uint64_t bytes = 0;
        char q[48];
        int r;

        if (!project_valid(project))
                return bad_project(err, project);
        if (strcmp(value, "default") == 0)
                r = usage_quota_clear(m, project);
        else {
                r = size_parse(value, &bytes);
                if (r < 0) {
                        fprintf(err, "berthd: '%s' is not a size (10GiB, 512MiB, 1.5T, bytes) nor none nor default\n",
                                value);
                        return 2;
                }
                r = usage_quota_set(m, project, bytes);
        }
        if (r >= 0)
                r = usage_get(m, project, &u);
        if (r < 0)
                return fail(err, r);
        quota_text(&u, q, sizeof(q));
        fprintf(out, "project %s: quota %s\n", project, q);
        return 0;
}

static int quota_default(meta_t *m, const char *value, FILE *out, FILE *err) {
        uint64_t bytes;
        char h[32];
        int r;

        if (value) {
                r = size_parse(value, &bytes);
                if (r < 0) {
                        fprintf(err, "berthd: '%s' is not a size (10GiB, 512MiB, 1.5T, bytes) nor none\n", value);
                        return 2;
                }
                r = usage_default_set(m, bytes);
                if (r < 0)
                        return fail(err, r);
        }
        r = usage_default_get(m, &bytes);
        if (r < 0)
                return fail(err, r);
        if (bytes == USAGE_UNLIMITED)
                snprintf(h, sizeof(h), "none");
        else
                size_human(bytes, h, sizeof(h));
        fprintf(out, "default quota: %s\n", h);
        return 0;
}

bool cli_quota_wants(int argc, char **argv) {
        if (argc < 1)
                return false;
        if (strcmp(argv[0], "usage") == 0 || strcmp(argv[0], "quota") == 0)
                return true;
        if (argc >= 3 && strcmp(argv[0], "project") == 0 && strcmp(argv[1], "set") == 0)
                for (int i = 2; i < argc; i++)
                        if (strcmp(argv[i], "--quota") == 0 || strncmp(argv[i], "--quota=", 8) == 0)
                                return true;
        return false;
}

/* The command, on m. */
static int run(meta_t *m, int argc, char **argv, FILE *out, FILE *err) {
        const char *project = NULL, *value = NULL;
        bool json = false, repos = false, verify_ = false, repair = false;
        int r;

        if (strcmp(argv[0], "quota") == 0) {
                if (argc >= 2 && strcmp(argv[1], "default") == 0 && argc <= 3)
                        return quota_default(m, argc == 3 ? argv[2] : NULL, out, err);
                if (argc == 4 && strcmp(argv[1], "set") == 0)
                        return set_quota(m, argv[2], argv[3], out, err);
                return cli_usage_usage(err);
        }
        if (strcmp(argv[0], "project") == 0) { /* project set P --quota V */
                for (int i = 2; i < argc; i++) {
                        if (strcmp(argv[i], "--quota") == 0 && i + 1 < argc && !value)
                                value = argv[++i];
                        else if (strncmp(argv[i], "--quota=", 8) == 0 && !value)
                                value = argv[i] + 8;
                        else if (argv[i][0] != '-' && !project)
                                project = argv[i];
                        else {
                                fprintf(err, "berthd: project set NAME --quota SIZE|none|default takes no other "
                                             "option (set --public/--private on its own)\n");
                                return 2;
                        }
                }
                if (!project || !value)
                        return cli_usage_usage(err);
                return set_quota(m, project, value, out, err);
        }
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (strcmp(argv[i], "--repositories") == 0)
                        repos = true;
                else if (strcmp(argv[i], "--verify") == 0)
                        verify_ = true;
                else if (strcmp(argv[i], "--repair") == 0)
                        repair = true;
                else if (argv[i][0] == '-' || project)
                        return cli_usage_usage(err);
                else
                        project = argv[i];
        }
        if (verify_ || repair) {
                if (!verify_ || project || json || repos)
                        return cli_usage_usage(err);
                return verify(m, repair, out, err);
        }
        if (repos && !project)
                return cli_usage_usage(err);
        if (project && !project_valid(project))
                return bad_project(err, project);
        r = show(m, project, repos, json, out);
        if (r < 0)
                return fail(err, r);
        return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

int cli_usage_run(db_t *db, int argc, char **argv, FILE *out, FILE *err) {
        meta_t *m = NULL;
        int r;

        if (argc < 1)
                return cli_usage_usage(err);
        r = meta_open_thread(db, &m);
        if (r < 0)
                return fail(err, r);
        r = run(m, argc, argv, out, err);
        meta_free(m);
        return r;
}
