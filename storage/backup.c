/* storage/backup.c: backup and restore (see backup.h). The engines' own tools do
 * the database: SQLite's online backup API (a read transaction on the live file,
 * which in WAL mode never holds a writer up), PostgreSQL's pg_dump in its custom
 * format, run on a snapshot this process exported (pg_export_snapshot) so that
 * the blob rows read here are exactly those of the dump. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "storage/backup.h"
#include "storage/db-internal.h"

extern char **environ;

#define DB_SQLITE "berth.db"
#define DB_PG "berth.pgdump"

/* The TLS material, so that a restore serves under the certificate clients trust.
 * Not DATA/secret.key: it unseals the webhook secrets the database holds, and is
 * kept apart from the database's backups (docs/webhooks.md). */
static const char *const KEY_FILES[] = { "tls/ca.crt", "tls/ca.key", "tls/server.crt", "tls/server.key" };

typedef struct {
        digest_t *v;
        size_t n, cap;
        uint64_t bytes;
} rows_t;

static int rows_add(rows_t *l, const char *s, int64_t size) {
        digest_t d;

        if (!s || digest_parse(s, &d) < 0)
                return 0; /* not a digest: no file could hold it */
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 1024;
                digest_t *v = reallocarray(l->v, cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = d;
        l->bytes += size > 0 ? (uint64_t) size : 0;
        return 0;
}

/* path made (0700), or an empty directory already there (tightened to 0700). */
static int dir_fresh(const char *path) {
        DIR *d;
        struct dirent *e;
        int r = 0;

        if (mkdir(path, 0700) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        d = opendir(path);
        if (!d)
                return -errno;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                        r = -ENOTEMPTY;
                        break;
                }
        closedir(d);
        if (r == 0)
                (void) chmod(path, 0700);
        return r;
}

/* The parent directories of root/rel, 0700. */
static int parents_make(const char *root, const char *rel) {
        _cleanup_free_ char *p = NULL;
        char *slash;

        if (asprintf(&p, "%s/%s", root, rel) < 0)
                return -ENOMEM;
        slash = strrchr(p, '/');
        *slash = '\0';
        return file_mkdir_p(p, 0700);
}

/* src copied to dst (new, mode), fsync'ed. */
static int copy_file(const char *src, const char *dst, mode_t mode) {
        _cleanup_close_ int in = -1, out = -1;
        char buf[1 << 16];
        int r = 0;

        in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0)
                return -errno;
        out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (out < 0)
                return -errno;
        if (fchmod(out, mode) < 0)
                r = -errno;
        for (;;) {
                ssize_t n, w;

                if (r < 0)
                        break;
                n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n == 0)
                        break;
                if (n > 0)
                        continue;
                if (errno == EINTR)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
                        r = -errno;
                        break;
                }
                /* the plain way */
                n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                for (ssize_t off = 0; off < n; off += w) {
                        w = write(out, buf + off, (size_t) (n - off));
                        if (w < 0 && errno == EINTR) {
                                w = 0;
                                continue;
                        }
                        if (w < 0) {
                                r = -errno;
                                break;
                        }
                }
        }
        if (r == 0 && fsync(out) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(dst);
        return r;
}

/* root_from/rel to root_to/rel: a hard link, else (another file system) a copy.
 * 1 linked, 0 copied, <0 (-ENOENT: no such file). */
static int link_or_copy(const char *root_from, const char *root_to, const char *rel) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        int r;

        if (asprintf(&from, "%s/%s", root_from, rel) < 0 || asprintf(&to, "%s/%s", root_to, rel) < 0)
                return -ENOMEM;
        r = parents_make(root_to, rel);
        if (r < 0)
                return r;
        if (link(from, to) == 0)
                return 1;
        if (errno == ENOENT || errno == EEXIST)
                return errno == EEXIST ? 1 : -ENOENT;
        if (errno != EXDEV && errno != EPERM && errno != EMLINK)
                return -errno;
        r = copy_file(from, to, 0600);
        return r < 0 ? r : 0;
}

/* Runs argv (PATH searched) with PGPASSWORD=password added when not NULL; 0 when it
 * exits 0, BERTH_EDB when it fails (its messages are on stderr), -errno. */
static int run_tool(char *const argv[], const char *password) {
        _cleanup_free_ char **env = NULL;
        _cleanup_free_ char *pw = NULL;
        size_t n = 0, k = 0;
        pid_t pid;
        int st, r;

        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(char *));
        if (!env)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!password || strncmp(environ[i], "PGPASSWORD=", 11) != 0)
                        env[k++] = environ[i];
        if (password) {
                if (asprintf(&pw, "PGPASSWORD=%s", password) < 0) {
                        pw = NULL;
                        return -ENOMEM;
                }
                env[k++] = pw;
        }
        r = posix_spawnp(&pid, argv[0], NULL, NULL, argv, env);
        if (pw)
                explicit_bzero(pw, strlen(pw));
        if (r != 0)
                return -r;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : BERTH_EDB;
}

static int sq_fail(sqlite3 *h) {
        db__set_error(h ? sqlite3_errmsg(h) : "out of memory");
        return BERTH_EDB;
}

/* The live SQLite database src copied to dst (new, 0600) in one step of the online
 * backup API: one read transaction, a consistent image; then its blob rows. */
static int sqlite_snapshot(const char *src, const char *dst, rows_t *rows) {
        sqlite3 *from = NULL, *to = NULL;
        sqlite3_backup *b;
        sqlite3_stmt *st = NULL;
        int fd, rc, r = 0;

        fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
                r = sq_fail(from);
                goto out;
        }
        sqlite3_busy_timeout(from, DB_BUSY_TIMEOUT_MS);
        if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
                r = sq_fail(to);
                goto out;
        }
        b = sqlite3_backup_init(to, "main", from, "main");
        if (!b) {
                r = sq_fail(to);
                goto out;
        }
        do {
                rc = sqlite3_backup_step(b, -1);
                if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                        sqlite3_sleep(20);
        } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
        rc = sqlite3_backup_finish(b) == SQLITE_OK && rc == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        if (rc != SQLITE_OK) {
                r = sq_fail(to);
                goto out;
        }
        /* the blob rows, from the copy: exactly the snapshot's */
        if (sqlite3_prepare_v2(to, "SELECT digest, size FROM blobs", -1, &st, NULL) != SQLITE_OK) {
                r = sq_fail(to);
                goto out;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                if ((r = rows_add(rows, (const char *) sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1))) < 0)
                        goto out;
        if (rc != SQLITE_DONE)
                r = sq_fail(to);
out:
        sqlite3_finalize(st);
        sqlite3_close_v2(to);
        sqlite3_close_v2(from);
        if (r < 0)
                (void) unlink(dst);
        return r;
}

static PGconn *pg_connect(const char *uri, const char *password) {
        const char *keys[] = { "connect_timeout", "application_name", "dbname", password ? "password" : NULL, NULL };
        const char *vals[] = { "10", "berthd-backup", uri, password, NULL };
        PGconn *c = PQconnectdbParams(keys, vals, 1);

        if (c && PQstatus(c) != CONNECTION_OK) {
                db__set_error(PQerrorMessage(c));
                PQfinish(c);
                return NULL;
        }
        if (!c)
                db__set_error("out of memory");
        return c;
}

static int pg_ok(PGconn *c, PGresult *res, ExecStatusType want) {
        int r = 0;

        if (!res || PQresultStatus(res) != want) {
                db__set_error(PQerrorMessage(c));
                r = BERTH_EDB;
        }
        return r;
}

/* pg_dump of the snapshot this connection exports, and its blob rows. */
static int pg_snapshot(const char *uri, const char *password, const char *dump, rows_t *rows) {
        _cleanup_free_ char *snap_arg = NULL, *file_arg = NULL, *db_arg = NULL;
        PGconn *c = pg_connect(uri, password);
        PGresult *res = NULL;
        int r;

        if (!c)
                return BERTH_EDB;
        res = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        r = pg_ok(c, res, PGRES_COMMAND_OK);
        PQclear(res);
        res = NULL;
        if (r < 0)
                goto out;
        res = PQexec(c, "SELECT pg_export_snapshot()");
        r = pg_ok(c, res, PGRES_TUPLES_OK);
        if (r < 0)
                goto out;
        if (asprintf(&snap_arg, "--snapshot=%s", PQgetvalue(res, 0, 0)) < 0 ||
            asprintf(&file_arg, "--file=%s", dump) < 0 || asprintf(&db_arg, "--dbname=%s", uri) < 0) {
                r = -ENOMEM;
                goto out;
        }
        PQclear(res);
        res = NULL;
        {
                char *argv[] = { "pg_dump", "--format=custom", "--no-owner", "--no-privileges", snap_arg, file_arg,
                                 db_arg, NULL };
                r = run_tool(argv, password);
                if (r == BERTH_EDB)
                        db__set_error("pg_dump failed (its message is above)");
                if (r < 0)
                        goto out;
        }
        (void) chmod(dump, 0600);
        res = PQexec(c, "SELECT digest, size FROM blobs");
        r = pg_ok(c, res, PGRES_TUPLES_OK);
        if (r < 0)
                goto out;
        for (int i = 0; i < PQntuples(res); i++)
                if ((r = rows_add(rows, PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10))) < 0)
                        goto out;
out:
        PQclear(res);
        PQfinish(c); /* ends the read-only transaction */
        if (db_arg)
                explicit_bzero(db_arg, strlen(db_arg));
        return r;
}

/* Each key file of the data directory that exists, copied (0600; the CA's
 * certificate, public, 0644). */
static int keys_copy(const char *from, const char *to, uint64_t *ret_n) {
        for (size_t i = 0; i < ELEMENTSOF(KEY_FILES); i++) {
                _cleanup_free_ char *a = NULL, *b = NULL;
                int r;

                if (asprintf(&a, "%s/%s", from, KEY_FILES[i]) < 0 || asprintf(&b, "%s/%s", to, KEY_FILES[i]) < 0)
                        return -ENOMEM;
                if (access(a, F_OK) < 0)
                        continue;
                r = parents_make(to, KEY_FILES[i]);
                if (r >= 0)
                        r = copy_file(a, b, strcmp(KEY_FILES[i], "tls/ca.crt") == 0 ? 0644 : 0600);
                if (r < 0)
                        return r;
                (*ret_n)++;
        }
        return 0;
}

static int manifest_write(const char *dest, const backup_options_t *o, const backup_result_t *res) {
        _cleanup_free_ char *path = NULL;
        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        json_t *j;
        char *s;
        int r;

        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        j = json_pack("{s:i,s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:I}", "format", BACKUP_FORMAT, "berth_version",
                      o->version ? o->version : "", "created", when, "engine", res->pg ? "postgresql" : "sqlite",
                      "schema_version", res->schema_version, "database", res->pg ? DB_PG : DB_SQLITE, "blobs",
                      (json_int_t) res->blobs, "bytes", (json_int_t) res->bytes, "linked", (json_int_t) res->linked,
                      "copied", (json_int_t) res->copied, "missing", (json_int_t) res->missing);
        if (!j)
                return -ENOMEM;
        s = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
        if (!s)
                return -ENOMEM;
        if (asprintf(&path, "%s/%s", dest, BACKUP_MANIFEST) < 0) {
                free(s);
                return -ENOMEM;
        }
        r = file_write_atomic(path, s, strlen(s), 0600);
        free(s);
        return r;
}

int backup_run(db_t *db, const backup_options_t *o, const char *dest, backup_result_t *ret) {
        _cleanup_free_ char *dbfile = NULL, *blobs_from = NULL, *blobs_to = NULL;
        backup_result_t res = {};
        rows_t rows = {};
        db_conn_t *c = NULL;
        bool locked = false;
        int r;

        if (!db || !o || !o->data_dir || !o->target || !dest || !ret)
                return -EINVAL;
        res.pg = db_target_is_pg(o->target);
        res.schema_version = db_schema_version(db);
        r = dir_fresh(dest);
        if (r < 0)
                return r;
        if (asprintf(&dbfile, "%s/%s", dest, res.pg ? DB_PG : DB_SQLITE) < 0 ||
            asprintf(&blobs_from, "%s/blobs", o->data_dir) < 0 || asprintf(&blobs_to, "%s/blobs", dest) < 0)
                return -ENOMEM;
        r = db_conn_get(db, &c);
        if (r < 0)
                return r;
        /* no collection from the snapshot to the last blob */
        r = db_lock_wait(c, DB_LOCK_GC, o->lock_wait);
        if (r < 0)
                goto out;
        locked = true;
        r = res.pg ? pg_snapshot(o->target, o->password, dbfile, &rows) : sqlite_snapshot(o->target, dbfile, &rows);
        if (r < 0)
                goto out;
        res.blobs = rows.n;
        res.bytes = rows.bytes;
        r = file_mkdir_p(blobs_to, 0700);
        for (size_t i = 0; r >= 0 && i < rows.n; i++) {
                char rel[DIGEST_PATH_MAX];

                r = digest_rel_path(&rows.v[i], rel, sizeof(rel));
                if (r < 0)
                        break;
                r = link_or_copy(blobs_from, blobs_to, rel);
                if (r == -ENOENT) {
                        res.missing++; /* a row without its file: fsck reports it */
                        r = 0;
                } else if (r >= 0)
                        (r ? res.linked++ : res.copied++), r = 0;
        }
        if (r < 0)
                goto out;
        db_unlock(c, DB_LOCK_GC);
        locked = false;
        r = keys_copy(o->data_dir, dest, &res.files);
        if (r < 0)
                goto out;
        {
                int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) syncfs(fd);
                        close(fd);
                }
        }
        r = manifest_write(dest, o, &res); /* last: its presence says the backup is whole */
out:
        if (locked)
                db_unlock(c, DB_LOCK_GC);
        db_conn_put(db, c);
        free(rows.v);
        if (r >= 0)
                *ret = res;
        return r;
}

/* Every blobs/<alg>/<2 hex>/<hex> of the backup linked or copied into the store. */
static int blobs_restore(const char *src, const char *data_dir, backup_result_t *res) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        static const char *const algs[] = { "sha256", "sha512" };
        int r = 0;

        if (asprintf(&from, "%s/blobs", src) < 0 || asprintf(&to, "%s/blobs", data_dir) < 0)
                return -ENOMEM;
        for (size_t a = 0; a < ELEMENTSOF(algs) && r >= 0; a++) {
                _cleanup_free_ char *adir = NULL;
                DIR *top;
                struct dirent *fan;

                if (asprintf(&adir, "%s/%s", from, algs[a]) < 0)
                        return -ENOMEM;
                top = opendir(adir);
                if (!top)
                        continue;
                while (r >= 0 && (fan = readdir(top))) {
                        _cleanup_free_ char *fdir = NULL;
                        DIR *d;
                        struct dirent *e;

                        if (strlen(fan->d_name) != 2 || fan->d_name[0] == '.')
                                continue;
                        if (asprintf(&fdir, "%s/%s", adir, fan->d_name) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        d = opendir(fdir);
                        if (!d)
                                continue;
                        while (r >= 0 && (e = readdir(d))) {
                                char str[DIGEST_STR_MAX], rel[DIGEST_PATH_MAX];
                                digest_t dg;

                                /* only names that are digests: nothing else is ever placed */
                                if (snprintf(str, sizeof(str), "%s:%s", algs[a], e->d_name) >= (int) sizeof(str) ||
                                    digest_parse(str, &dg) < 0 || memcmp(e->d_name, fan->d_name, 2) != 0 ||
                                    digest_rel_path(&dg, rel, sizeof(rel)) < 0)
                                        continue;
                                r = link_or_copy(from, to, rel);
                                if (r >= 0) {
                                        (r ? res->linked++ : res->copied++);
                                        res->blobs++;
                                        r = 0;
                                }
                        }
                        closedir(d);
                }
                closedir(top);
        }
        return r;
}

static int pg_restore_into(const char *uri, const char *password, const char *dump) {
        _cleanup_free_ char *db_arg = NULL;
        PGconn *c = pg_connect(uri, password);
        PGresult *res;
        int r;

        if (!c)
                return BERTH_EDB;
        /* an empty database only: a restore never mixes with rows already there */
        res = PQexec(c, "SELECT COUNT(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON "
                        "n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                        "AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'S')");
        r = pg_ok(c, res, PGRES_TUPLES_OK);
        if (r == 0 && strcmp(PQgetvalue(res, 0, 0), "0") != 0)
                r = -ENOTEMPTY;
        PQclear(res);
        PQfinish(c);
        if (r < 0)
                return r;
        if (asprintf(&db_arg, "--dbname=%s", uri) < 0)
                return -ENOMEM;
        {
                char *argv[] = { "pg_restore", "--exit-on-error", "--single-transaction", "--no-owner",
                                 "--no-privileges", db_arg, (char *) dump, NULL };
                r = run_tool(argv, password);
        }
        if (r == BERTH_EDB)
                db__set_error("pg_restore failed (its message is above)");
        explicit_bzero(db_arg, strlen(db_arg));
        return r;
}

int backup_restore(const char *src, const char *data_dir, const char *target, const char *password,
                   backup_result_t *ret) {
        _cleanup_free_ char *mpath = NULL, *mbuf = NULL, *dbfile = NULL;
        backup_result_t res = {};
        json_t *m;
        const char *engine;
        json_int_t format;
        int r;

        if (!src || !data_dir || !target || !ret)
                return -EINVAL;
        if (asprintf(&mpath, "%s/%s", src, BACKUP_MANIFEST) < 0)
                return -ENOMEM;
        r = file_read_all(mpath, 1 << 20, &mbuf, NULL);
        if (r < 0)
                return r == -ENOENT ? BERTH_ECONFIG : r;
        m = json_loads(mbuf, JSON_REJECT_DUPLICATES, NULL);
        if (!m || json_unpack(m, "{s:I,s:s}", "format", &format, "engine", &engine) < 0 ||
            format != BACKUP_FORMAT || (strcmp(engine, "sqlite") && strcmp(engine, "postgresql"))) {
                json_decref(m);
                return BERTH_ECONFIG;
        }
        res.pg = strcmp(engine, "postgresql") == 0;
        {
                json_t *v = json_object_get(m, "schema_version");
                res.schema_version = json_is_integer(v) ? (int) json_integer_value(v) : 0;
        }
        json_decref(m);
        if (res.pg != db_target_is_pg(target))
                return BERTH_ECONFIG;
        if (asprintf(&dbfile, "%s/%s", src, res.pg ? DB_PG : DB_SQLITE) < 0)
                return -ENOMEM;
        r = dir_fresh(data_dir);
        if (r < 0)
                return r;
        if (res.pg)
                r = pg_restore_into(target, password, dbfile);
        else {
                if (access(target, F_OK) == 0)
                        return -EEXIST;
                _cleanup_free_ char *dir = strdup(target);
                char *slash = dir ? strrchr(dir, '/') : NULL;

                if (!dir)
                        return -ENOMEM;
                if (slash && slash != dir) {
                        *slash = '\0';
                        r = file_mkdir_p(dir, 0700);
                }
                r = r < 0 ? r : copy_file(dbfile, target, 0600);
        }
        if (r < 0)
                return r;
        r = blobs_restore(src, data_dir, &res);
        if (r >= 0)
                r = keys_copy(src, data_dir, &res.files);
        if (r < 0)
                return r;
        *ret = res;
        return 0;
}
