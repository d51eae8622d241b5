/* server/cli-usage.c: `berthd usage` (see cli-usage.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "common/err.h"
#include "common/name.h"
#include "server/cli-usage.h"
#include "storage/meta.h"

int cli_usage_usage(FILE *err) {
        fputs("usage:\n"
              "  berthd usage [PROJECT] [--json]\n"
              "The storage each project uses (or PROJECT alone): the number and the total size\n"
              "of the distinct blobs (layers, configs and manifests) its repositories (PROJECT\n"
              "and PROJECT/...) reference. A blob counts once per project however many of its\n"
              "repositories hold it, and once in every project that holds it. Read from the\n"
              "metadata database: safe while servers run. Blobs no manifest references any\n"
              "more count until garbage collection unlinks them.\n"
              "--json: {\"projects\":[{\"project\":P,\"blobs\":N,\"bytes\":N},...]}, sorted by name.\n",
              err);
        return 2;
}

void cli_usage_human(uint64_t n, char *buf, size_t size) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double v = (double) n;
        size_t u = 0;

        if (n < 1024) {
                (void) snprintf(buf, size, "%" PRIu64 " B", n);
                return;
        }
        v /= 1024;
        while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024;
                u++;
        }
        (void) snprintf(buf, size, "%.1f %s", v, units[u]);
}

static int fail(FILE *err, int r) {
        if ((r == BERTH_EDB || r == BERTH_EDBDOWN) && db_last_error()[0])
                fprintf(err, "berthd: usage: %s (%s)\n", berth_strerror(r), db_last_error());
        else
                fprintf(err, "berthd: usage: %s\n", berth_strerror(r));
        return 1;
}

static int print_json(const meta_project_usage_t *v, size_t n, FILE *out) {
        json_t *root = json_object(), *list = json_array();
        char *s = NULL;

        if (!root || !list)
                goto oom;
        if (json_object_set_new(root, "projects", list) < 0) {
                list = NULL;
                goto oom;
        }
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_pack("{s:s,s:I,s:I}", "project", v[i].project, "blobs",
                                      (json_int_t) v[i].usage.blobs, "bytes", (json_int_t) v[i].usage.bytes);
                if (!e || json_array_append_new(list, e) < 0)
                        goto oom_root;
        }
        s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        if (!s)
                return -ENOMEM;
        fprintf(out, "%s\n", s);
        free(s);
        return 0;
oom:
        json_decref(list);
oom_root:
        json_decref(root);
        return -ENOMEM;
}

static void print_table(const meta_project_usage_t *v, size_t n, FILE *out) {
        fputs("PROJECT\tBLOBS\tBYTES\n", out);
        for (size_t i = 0; i < n; i++) {
                char human[32];

                cli_usage_human(v[i].usage.bytes, human, sizeof(human));
                if (v[i].usage.bytes < 1024)
                        fprintf(out, "%s\t%" PRIu64 "\t%s\n", v[i].project, v[i].usage.blobs, human);
                else
                        fprintf(out, "%s\t%" PRIu64 "\t%s (%" PRIu64 ")\n", v[i].project, v[i].usage.blobs, human,
                                v[i].usage.bytes);
        }
}

int cli_usage_run(db_t *db, int argc, char **argv, FILE *out, FILE *err) {
        const char *project = NULL;
        meta_project_usage_t one = { 0 }, *v = NULL;
        meta_t *m = NULL;
        bool json = false;
        size_t n = 0;
        int r;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (argv[i][0] == '-' || project)
                        return cli_usage_usage(err);
                else
                        project = argv[i];
        }
        if (project && (strchr(project, '/') || strlen(project) > META_TOP_MAX ||
                        !name_repo_valid(project, strlen(project)))) {
                fprintf(err, "berthd: usage: '%s' is not a project name (the first path component of a "
                        "repository name)\n", project);
                return 2;
        }
        r = meta_open_thread(db, &m);
        if (r < 0)
                return fail(err, r);
        if (project) {
                one.project = (char *) project;
                r = meta_usage(m, project, &one.usage);
        } else
                r = meta_usage_all(m, &v, &n);
        meta_free(m);
        if (r < 0)
                return fail(err, r);
        if (json)
                r = print_json(project ? &one : v, project ? 1 : n, out);
        else
                print_table(project ? &one : v, project ? 1 : n, out);
        meta_usage_free(v, n);
        if (r < 0)
                return fail(err, r);
        return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}
