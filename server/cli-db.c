/* server/cli-db.c: `berthd db copy --from TARGET --to TARGET` and `berthd db version`.
 * The copy itself is storage/dbcopy.c; here: naming databases on the command line,
 * their passwords, the checks that need the file system (a berthd serving the source,
 * a source that does not exist, one database named twice) and the report. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "server/cli-db.h"
#include "server/dbconf.h"
#include "server/gc.h"
#include "storage/db.h"
#include "storage/dbcopy.h"

#define PASSWORD_FILE_MAX 4096

static void usage(FILE *f) {
        fputs("Usage: berthd db copy --from TARGET --to TARGET\n"
              "                      [--from-password-file FILE] [--to-password-file FILE]\n"
              "       berthd [--data DIR] db version [--db TARGET]\n"
              "\n"
              "TARGET names a metadata database: sqlite:PATH (a berth.db file, such as\n"
              "DATA/berth.db) or a PostgreSQL URI, postgresql://USER@HOST:PORT/DB?sslmode=...\n"
              "A PostgreSQL password comes from the URI, from --from-password-file or\n"
              "--to-password-file, from the file named by BERTH_DB_PASSWORD_FILE, or from\n"
              "libpq's PGPASSWORD and ~/.pgpass. Opening a database creates or updates its\n"
              "schema, as berthd does at start.\n"
              "\n"
              "copy: copies all metadata (repositories, blobs' records, manifests, tags,\n"
              "upload sessions, users, projects, members, robot tokens, the install key and\n"
              "the audit trail) from one database into a new, empty one, keys as they are,\n"
              "in one transaction on each, then compares the row count of every table and\n"
              "prints them; it exits non-zero when a count differs. It refuses a target that\n"
              "holds any row, and databases at different schema versions. Stop berthd first\n"
              "(a SQLite source in a data directory a berthd serves is refused). Blob files\n"
              "are not copied: the servers on the new database use the same blob store.\n"
              "\n"
              "version: the engine and schema version of the database --db names (default:\n"
              "BERTH_DB, else DATA/berth.db).\n",
              f);
}

/* ---- naming a database ---- */

typedef struct {
        const char *arg;  /* as given */
        const char *open; /* what db_open_opts takes: a path or the URI */
        bool pg;
        char *password;   /* from a file (wiped and freed in target_done) */
        int lock_fd;      /* the data directory's serve.lock, when held */
} target_t;

static void target_done(target_t *t) {
        if (t->password) {
                explicit_bzero(t->password, strlen(t->password));
                free(t->password);
                t->password = NULL;
        }
        if (t->lock_fd >= 0)
                close(t->lock_fd);
        t->lock_fd = -1;
}

static int target_parse(const char *cmd, const char *arg, target_t *ret, FILE *err) {
        *ret = (target_t){ .arg = arg, .lock_fd = -1 };
        if (db_target_is_pg(arg)) {
                ret->open = arg;
                ret->pg = true;
                return 0;
        }
        if (strncmp(arg, "sqlite:", 7) == 0 && arg[7]) {
                ret->open = arg + 7;
                return 0;
        }
        fprintf(err, "berthd %s: '%s' names no database: sqlite:PATH or postgresql://...\n", cmd, arg);
        return -EINVAL;
}

/* The target as it may be printed (dbconf_redact: no password). malloc'd, or NULL
 * (no memory). */
static char *target_display(const target_t *t) {
        return dbconf_redact(t->arg);
}

/* The password file's first line (a trailing newline is not part of it). */
static int password_read(const char *cmd, const char *path, char **ret, FILE *err) {
        char *buf = NULL;
        size_t len = 0;
        int r;

        r = file_read_all(path, PASSWORD_FILE_MAX, &buf, &len);
        if (r < 0) {
                fprintf(err, "berthd %s: password file %s: %s\n", cmd, path, berth_strerror(r));
                return r;
        }
        len = strcspn(buf, "\r\n");
        buf[len] = '\0';
        if (len == 0) {
                fprintf(err, "berthd %s: password file %s is empty\n", cmd, path);
                free(buf);
                return -EINVAL;
        }
        *ret = buf;
        return 0;
}

/* The directory of a SQLite file (malloc'd). */
static char *dir_of(const char *path) {
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t) (slash - path));
}

/* A SQLite file in a data directory that a berthd serves (its serve.lock held) is
 * refused: the server would go on writing to it. The lock is held until the end. */
static int refuse_if_served(const char *cmd, target_t *t, FILE *err) {
        _cleanup_free_ char *dir = NULL, *lock = NULL;

        if (t->pg)
                return 0;
        dir = dir_of(t->open);
        if (!dir || asprintf(&lock, "%s/serve.lock", dir) < 0) {
                lock = NULL;
                return -ENOMEM;
        }
        if (access(lock, F_OK) < 0)
                return 0; /* not a data directory berthd has served */
        t->lock_fd = data_lock(dir);
        if (t->lock_fd == -EBUSY) {
                fprintf(err, "berthd %s: a berthd serves %s: stop it first\n", cmd, dir);
                return -EBUSY;
        }
        if (t->lock_fd < 0) {
                fprintf(err, "berthd %s: %s: %s\n", cmd, lock, berth_strerror(t->lock_fd));
                return t->lock_fd;
        }
        return 0;
}

/* Opens t (its password read first); a SQLite file must exist when must_exist (else
 * its directory is made), and is refused in a data directory a berthd serves when
 * lock. */
static int target_open(const char *cmd, target_t *t, const char *password_file, bool must_exist, bool lock,
                       db_t **ret, FILE *err) {
        _cleanup_free_ char *shown = target_display(t);
        db_options_t opt = {};
        int r;

        if (!shown)
                return -ENOMEM;
        if (t->pg) {
                if (!password_file)
                        password_file = getenv("BERTH_DB_PASSWORD_FILE");
                if (password_file && *password_file &&
                    (r = password_read(cmd, password_file, &t->password, err)) < 0)
                        return r;
                opt.password = t->password;
        } else {
                struct stat st;
                if (stat(t->open, &st) < 0) {
                        r = -errno;
                        if (r != -ENOENT || must_exist) {
                                fprintf(err, "berthd %s: %s: %s\n", cmd, shown,
                                        r == -ENOENT ? "no such database file" : strerror(-r));
                                return r;
                        }
                        _cleanup_free_ char *dir = dir_of(t->open);
                        if (!dir)
                                return -ENOMEM;
                        if ((r = file_mkdir_p(dir, 0700)) < 0) {
                                fprintf(err, "berthd %s: cannot create %s: %s\n", cmd, dir, berth_strerror(r));
                                return r;
                        }
                } else if (!S_ISREG(st.st_mode)) {
                        fprintf(err, "berthd %s: %s is not a file\n", cmd, shown);
                        return -EINVAL;
                }
        }
        if (lock && (r = refuse_if_served(cmd, t, err)) < 0)
                return r;
        r = db_open_opts(t->open, &opt, ret);
        if (r == BERTH_EUNSUPPORTED)
                fprintf(err, "berthd %s: %s: not supported by this berthd (a schema newer than its version %d, "
                        "or an engine it lacks)\n", cmd, shown, db_schema_latest());
        else if (r < 0)
                fprintf(err, "berthd %s: opening %s: %s\n", cmd, shown, berth_strerror(r));
        return r;
}

/* Do two targets name one database? (Then the copy would wait on itself.) */
static bool same_database(const target_t *a, const target_t *b) {
        char ra[PATH_MAX], rb[PATH_MAX];

        if (a->pg != b->pg)
                return false;
        if (a->pg)
                return strcmp(a->open, b->open) == 0;
        if (!realpath(a->open, ra) || !realpath(b->open, rb))
                return strcmp(a->open, b->open) == 0;
        return strcmp(ra, rb) == 0;
}

/* ---- db copy ---- */

static void print_counts(const dbcopy_result_t *res, FILE *out) {
        int64_t src = 0, dst = 0;

        fprintf(out, "%-16s %12s %12s\n", "table", "source", "target");
        for (size_t i = 0; i < res->n; i++) {
                const dbcopy_count_t *c = &res->counts[i];
                bool same = c->source == c->target;

                if (c->target < 0)
                        fprintf(out, "%-16s %12" PRId64 " %12s\n", c->table, c->source, "-");
                else
                        fprintf(out, "%-16s %12" PRId64 " %12" PRId64 "%s\n", c->table, c->source, c->target,
                                same ? "" : "  DIFFERS");
                src += c->source > 0 ? c->source : 0;
                dst += c->target > 0 ? c->target : 0;
        }
        fprintf(out, "%-16s %12" PRId64 " %12" PRId64 "\n", "total", src, dst);
}

static int copy_main(int argc, char **argv, FILE *out, FILE *err) {
        static const struct option opts[] = {
                { "from", required_argument, NULL, 'f' },
                { "to", required_argument, NULL, 't' },
                { "from-password-file", required_argument, NULL, 'F' },
                { "to-password-file", required_argument, NULL, 'T' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *from_arg = NULL, *to_arg = NULL, *from_pw = NULL, *to_pw = NULL;
        target_t from = { .lock_fd = -1 }, to = { .lock_fd = -1 };
        _cleanup_free_ char *from_shown = NULL, *to_shown = NULL;
        db_t *src = NULL, *dst = NULL;
        dbcopy_result_t res;
        int c, r, rc = 1;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'f':
                        from_arg = optarg;
                        break;
                case 't':
                        to_arg = optarg;
                        break;
                case 'F':
                        from_pw = optarg;
                        break;
                case 'T':
                        to_pw = optarg;
                        break;
                case 'h':
                        usage(out);
                        return 0;
                default:
                        fprintf(err, "berthd db copy: unknown or incomplete option '%s'\n", argv[optind - 1]);
                        usage(err);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(err, "berthd db copy: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (!from_arg || !to_arg) {
                fprintf(err, "berthd db copy: --from and --to are both needed\n");
                usage(err);
                return 2;
        }
        if (target_parse("db copy", from_arg, &from, err) < 0 || target_parse("db copy", to_arg, &to, err) < 0)
                return 2;
        from_shown = target_display(&from);
        to_shown = target_display(&to);
        if (!from_shown || !to_shown)
                return 1;
        if (same_database(&from, &to)) {
                fprintf(err, "berthd db copy: --from and --to name the same database\n");
                return 2;
        }
        if (target_open("db copy", &from, from_pw, true, true, &src, err) < 0 ||
            target_open("db copy", &to, to_pw, false, true, &dst, err) < 0)
                goto out;
        fprintf(out, "copying %s (%s) to %s (%s)\n", from_shown, db_engine_name(src), to_shown, db_engine_name(dst));
        fflush(out); /* before any error on err */
        r = dbcopy_run(src, dst, &res);
        if (res.n > 0)
                print_counts(&res, out);
        switch (r) {
        case 0:
                fprintf(out, "copied %" PRId64 " rows in %zu tables at schema version %d; every count matches\n",
                        res.rows, res.n, res.source_version);
                rc = 0;
                break;
        case -ENOTEMPTY:
                fprintf(err, "berthd db copy: %s is not empty (%s holds %" PRId64 " row%s): copy into a new, "
                        "empty database\n", to_shown, res.used_table ? res.used_table : "a table", res.used_rows,
                        res.used_rows == 1 ? "" : "s");
                break;
        case BERTH_EUNSUPPORTED:
                fprintf(err, "berthd db copy: the schema versions differ (source %d, target %d): run the same "
                        "berth release on both\n", res.source_version, res.target_version);
                break;
        case -EIO:
                fprintf(err, "berthd db copy: the row counts differ (above): %s\n",
                        res.committed ? "the target holds the copy, check it before use"
                                      : "nothing was written to the target");
                break;
        default:
                fprintf(err, "berthd db copy: %s%s\n", berth_strerror(r),
                        res.committed ? "" : " (nothing was written to the target)");
                break;
        }
out:
        db_free(src);
        db_free(dst);
        target_done(&from);
        target_done(&to);
        return rc;
}

/* ---- db version ---- */

static int version_main(const char *data_dir, int argc, char **argv, FILE *out, FILE *err) {
        static const struct option opts[] = {
                { "db", required_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_free_ char *def = NULL, *shown = NULL;
        const char *arg = getenv("BERTH_DB");
        target_t t = { .lock_fd = -1 };
        db_t *db = NULL;
        int c, v, rc = 1;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        arg = optarg;
                        break;
                case 'h':
                        usage(out);
                        return 0;
                default:
                        fprintf(err, "berthd db version: unknown or incomplete option '%s'\n", argv[optind - 1]);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(err, "berthd db version: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (!arg || !*arg) {
                if (asprintf(&def, "sqlite:%s/berth.db", data_dir) < 0) {
                        def = NULL;
                        return 1;
                }
                arg = def;
        }
        if (target_parse("db version", arg, &t, err) < 0)
                return 2;
        shown = target_display(&t);
        if (!shown)
                return 1;
        /* no lock: reading the version is harmless while a berthd serves */
        if (target_open("db version", &t, NULL, true, false, &db, err) < 0)
                goto out;
        v = db_schema_version(db);
        if (v < 0) {
                fprintf(err, "berthd db version: %s: %s\n", shown, berth_strerror(v));
                goto out;
        }
        fprintf(out, "database: %s\nengine: %s\nschema version: %d (this berthd: %d)\n", shown,
                db_engine_name(db), v, db_schema_latest());
        rc = 0;
out:
        db_free(db);
        target_done(&t);
        return rc;
}

int cli_db_run(const char *data_dir, int argc, char **argv, FILE *out, FILE *err) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                usage(argc < 2 ? err : out);
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "copy") == 0)
                return copy_main(argc - 1, argv + 1, out, err);
        if (strcmp(argv[1], "version") == 0)
                return version_main(data_dir, argc - 1, argv + 1, out, err);
        fprintf(err, "berthd db: unknown command '%s' (copy, version)\n", argv[1]);
        return 2;
}
