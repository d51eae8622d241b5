/* server/cli-fsck.c: `berthd fsck` (see cli-fsck.h); the check itself is storage/fsck.c. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "server/server.h"
#include "common/err.h"
#include "common/macro.h"
#include "server/cli-fsck.h"
#include "server/cli-usage.h"
#include "storage/fsck.h"
#include "storage/store.h"

#define DEFAULT_RATE_MIB 100

int cli_fsck_usage(FILE *f) {
        fprintf(f,
                "Usage: berthd [--data DIR] [--db sqlite|sqlite:PATH|postgresql://...] fsck [--repair] [--rate MiB/s]\n"
                "              [--grace SECONDS] [--json]\n"
                "\n"
                "Check the blob files against the metadata, while servers run: every blob row has\n"
                "its file, of its size, hashing to its digest (re-read at most --rate MiB/s,\n"
                "default %d; 0: no limit), and every blob file has a row (files younger than\n"
                "--grace, default 3600 s, are pushes in progress).\n"
                "--repair: corrupt and wrong-size files, and files without a row, are moved to\n"
                "DATA/quarantine/ (not deleted); the rows of blobs without a good file are dropped\n"
                "(their repository links, and the manifests they are, with their tags): a push\n"
                "of the same content stores it again.\n"
                "--json: one object for scripts (clean, counts, problems[]).\n"
                "Exit status: 0 clean, 1 problems found (and repaired, with --repair), 2 error.\n",
                DEFAULT_RATE_MIB);
        return 2;
}

typedef struct {
        bool json;
        bool repair;
        json_t *list;
        FILE *out;
        int err;
} report_t;

static void on_problem(void *userdata, const fsck_problem_t *p) {
        report_t *rp = userdata;
        char row[32], file[32];

        if (rp->json) {
                json_t *e = json_pack("{s:s,s:s,s:I,s:I,s:I}", "kind", fsck_kind_name(p->kind), "digest",
                                      p->digest.str, "row_size", (json_int_t) p->row_size, "file_size",
                                      (json_int_t) p->file_size, "manifests", (json_int_t) p->manifests);
                if (e && rp->repair) {
                        (void) json_object_set_new(e, "repaired", json_boolean(p->repaired));
                        (void) json_object_set_new(e, "rows_dropped", json_boolean(p->rows_dropped));
                        if (p->quarantined)
                                (void) json_object_set_new(e, "quarantined", json_string(p->quarantined));
                        if (p->repair_error)
                                (void) json_object_set_new(e, "error", json_string(berth_strerror(p->repair_error)));
                }
                if (!e || json_array_append_new(rp->list, e) < 0)
                        rp->err = -ENOMEM;
                return;
        }
        cli_usage_human(p->row_size, row, sizeof(row));
        cli_usage_human(p->file_size, file, sizeof(file));
        switch (p->kind) {
        case FSCK_MISSING:
                fprintf(rp->out, "missing          %s  row %s, no file", p->digest.str, row);
                break;
        case FSCK_SIZE:
                fprintf(rp->out, "wrong-size       %s  row %s, file %s", p->digest.str, row, file);
                break;
        case FSCK_DIGEST:
                fprintf(rp->out, "digest-mismatch  %s  %s: the bytes hash otherwise", p->digest.str, file);
                break;
        case FSCK_ORPHAN:
                fprintf(rp->out, "orphan           %s  file %s, no row", p->digest.str, file);
                break;
        }
        if (p->manifests)
                fprintf(rp->out, "; %" PRIu64 " manifest(s) reference it", p->manifests);
        if (rp->repair && p->repaired)
                fprintf(rp->out, " -> %s%s%s", p->quarantined ? "moved to " : "",
                        p->quarantined ? p->quarantined : "", p->rows_dropped ? (p->quarantined ? ", rows dropped" : "rows dropped") : "");
        else if (rp->repair)
                fprintf(rp->out, " -> NOT repaired: %s", berth_strerror(p->repair_error));
        fputc('\n', rp->out);
}

static bool parse_rate(const char *s, uint64_t *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e6)
                return false;
        *ret = (uint64_t) (v * 1024 * 1024);
        return true;
}

int cli_fsck_run(db_t *db, const char *data_dir, int argc, char **argv, FILE *out, FILE *err) {
        fsck_options_t o = { .rate = (uint64_t) DEFAULT_RATE_MIB << 20, .grace = 3600, .lock_wait = 600 };
        report_t rp = { .out = out };
        fsck_result_t res;
        struct timespec t0, t1;
        store_t *store = NULL;
        uint64_t total;
        double secs;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                bool more = i + 1 < argc;

                if (strcmp(a, "--repair") == 0)
                        o.repair = true;
                else if (strcmp(a, "--json") == 0)
                        rp.json = true;
                else if (strcmp(a, "--rate") == 0 && more) {
                        if (!parse_rate(argv[++i], &o.rate)) {
                                fprintf(err, "berthd fsck: invalid --rate '%s' (MiB per second; 0: no limit)\n", argv[i]);
                                return 2;
                        }
                } else if (strcmp(a, "--grace") == 0 && more) {
                        char *end;
                        unsigned long long v;

                        errno = 0;
                        v = strtoull(argv[++i], &end, 10);
                        if (errno || *end || !argv[i][0] || argv[i][0] == '-' || v > UINT32_MAX) {
                                fprintf(err, "berthd fsck: invalid --grace '%s'\n", argv[i]);
                                return 2;
                        }
                        o.grace = v;
                } else
                        return cli_fsck_usage(err);
        }
        rp.repair = o.repair;
        o.problem = on_problem;
        o.userdata = &rp;
        if (rp.json && !(rp.list = json_array()))
                return 2;
        r = config_store_open(data_dir, getenv("BERTH_STORAGE"), getenv("BERTH_S3_CA"), &store);
        if (r < 0) {
                json_decref(rp.list);
                return 2;
        }
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = fsck_run(store, db, &o, &res);
        (void) clock_gettime(CLOCK_MONOTONIC, &t1);
        store_free(store);
        if (r >= 0)
                r = rp.err;
        if (r < 0) {
                if (r == BERTH_EBUSY)
                        fprintf(err, "berthd fsck: a garbage collection held its lock for %" PRIu64 " s: try later\n",
                                o.lock_wait);
                else
                        fprintf(err, "berthd fsck: %s%s%s\n", berth_strerror(r), db_last_error()[0] ? ": " : "",
                                db_last_error());
                json_decref(rp.list);
                return 2;
        }
        secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        total = res.problems[FSCK_MISSING] + res.problems[FSCK_SIZE] + res.problems[FSCK_DIGEST] +
                res.problems[FSCK_ORPHAN];
        if (rp.json) {
                json_t *root = json_pack("{s:b,s:b,s:I,s:I,s:I,s:f,s:I,s:{s:I,s:I,s:I,s:I},s:I,s:I,s:o}",
                                         "clean", total == 0, "repair", o.repair, "rows", (json_int_t) res.rows,
                                         "files", (json_int_t) res.files, "hashed_bytes",
                                         (json_int_t) res.hashed_bytes, "seconds", secs, "recent_orphans",
                                         (json_int_t) res.recent_orphans, "counts", "missing",
                                         (json_int_t) res.problems[FSCK_MISSING], "wrong-size",
                                         (json_int_t) res.problems[FSCK_SIZE], "digest-mismatch",
                                         (json_int_t) res.problems[FSCK_DIGEST], "orphan",
                                         (json_int_t) res.problems[FSCK_ORPHAN], "repaired",
                                         (json_int_t) res.repaired, "repair_failed", (json_int_t) res.repair_failed,
                                         "problems", rp.list);
                char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;

                json_decref(root);
                if (!s)
                        return 2;
                fprintf(out, "%s\n", s);
                free(s);
        } else {
                char hashed[32];

                cli_usage_human(res.hashed_bytes, hashed, sizeof(hashed));
                fprintf(out, "checked %" PRIu64 " blob row(s) and %" PRIu64 " file(s), hashed %s in %.1f s\n",
                        res.rows, res.files, hashed, secs);
                if (res.recent_orphans)
                        fprintf(out, "%" PRIu64 " file(s) without a row younger than %" PRIu64
                                " s left alone (pushes in progress)\n", res.recent_orphans, o.grace);
                if (!total)
                        fputs("clean\n", out);
                else {
                        fprintf(out, "%" PRIu64 " problem(s): %" PRIu64 " missing, %" PRIu64 " wrong size, %" PRIu64
                                " digest mismatch, %" PRIu64 " without a row", total, res.problems[FSCK_MISSING],
                                res.problems[FSCK_SIZE], res.problems[FSCK_DIGEST], res.problems[FSCK_ORPHAN]);
                        if (o.repair)
                                fprintf(out, "; %" PRIu64 " repaired, %" PRIu64 " not\n", res.repaired,
                                        res.repair_failed);
                        else
                                fputs(" (--repair quarantines the files and drops the rows that cannot be served)\n",
                                      out);
                }
        }
        if (fflush(out) != 0 || ferror(out))
                return 2;
        return total ? 1 : 0;
}
