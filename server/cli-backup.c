/* server/cli-backup.c: `berthd backup` and `berthd restore` (see cli-backup.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/secretbox.h"
#include "server/cli-backup.h"
#include "server/cli-usage.h"
#include "storage/backup.h"
#include "storage/db.h"

int cli_backup_usage(FILE *f) {
        fputs("Usage: berthd [--data DIR] [--db sqlite|sqlite:PATH|postgresql://...] backup DEST\n"
              "       berthd [--db sqlite|sqlite:PATH|postgresql://...] restore SRC DATA\n"
              "\n"
              "backup: a consistent snapshot while servers run, into DEST (new or empty): the\n"
              "database first (SQLite: its online backup API, DEST/berth.db; PostgreSQL: pg_dump\n"
              "in custom format, DEST/berth.pgdump), then every blob the snapshot has a row for\n"
              "(hard links when DEST is on the data directory's file system, copies else), the\n"
              "TLS files (DATA/tls/), and last DEST/berth-backup.json, which describes it.\n"
              "Not DATA/secret.key (the webhook secrets' key): keep it apart from the backups.\n"
              "Garbage collection waits until the blobs are in (DB_LOCK_GC).\n"
              "Files are 0600 and directories 0700: the database holds password hashes.\n"
              "restore: SRC into DATA (absent or empty) and the database: SQLite, DATA/berth.db\n"
              "or --db sqlite:PATH (must not exist); PostgreSQL, the empty database --db names\n"
              "(pg_restore). Needs pg_dump / pg_restore on PATH for PostgreSQL.\n"
              "Exit status: 0 done, 1 backup done but some rows had no file (run fsck), 2 error.\n",
              f);
        return 2;
}

static void fail(const char *what, int r) {
        if ((r == BERTH_EDB || r == BERTH_EDBDOWN || r == BERTH_EAUTH) && db_last_error()[0])
                fprintf(stderr, "berthd %s: %s: %s\n", what, berth_strerror(r), db_last_error());
        else if (r == BERTH_EBUSY)
                fprintf(stderr, "berthd %s: a garbage collection held its lock too long: try later\n", what);
        else if (r == -ENOTEMPTY)
                fprintf(stderr, "berthd %s: the destination is not empty\n", what);
        else
                fprintf(stderr, "berthd %s: %s\n", what, berth_strerror(r));
}

int cli_backup_main(const char *data_dir, const dbconf_t *dc, int argc, char **argv) {
        backup_options_t o = { .data_dir = data_dir, .target = dc->target, .password = dc->password,
                               .lock_wait = 600, .version = PACKAGE_VERSION };
        backup_result_t res;
        char human[32];
        const char *dest = NULL;
        db_t *db = NULL;
        int r;

        for (int i = 1; i < argc; i++) {
                if (argv[i][0] == '-' || dest)
                        return cli_backup_usage(stderr);
                dest = argv[i];
        }
        if (!dest)
                return cli_backup_usage(stderr);
        r = db_open_opts(dc->target, &(db_options_t){ .password = dc->password }, &db);
        if (r < 0) {
                fprintf(stderr, "berthd backup: cannot open the metadata database %s: %s\n", dc->display,
                        berth_strerror(r));
                return 2;
        }
        r = backup_run(db, &o, dest, &res);
        db_free(db);
        if (r < 0) {
                fail("backup", r);
                return 2;
        }
        cli_usage_human(res.bytes, human, sizeof(human));
        printf("backup of %s (%s, schema %d) in %s: %" PRIu64 " blob(s), %s (%" PRIu64 " linked, %" PRIu64
               " copied), %" PRIu64 " TLS file(s)\n", dc->display, res.pg ? "postgresql" : "sqlite",
               res.schema_version, dest, res.blobs, human, res.linked, res.copied, res.files);
        {
                _cleanup_free_ char *key = NULL;

                if (secretbox_key_path(data_dir, &key, NULL) == 0 && access(key, F_OK) == 0)
                        fprintf(stderr, "berthd backup: note: the webhook secret key %s is not in the backup: "
                                "keep a copy of it apart from the database's backups (restored without it, "
                                "webhooks cannot sign)\n", key);
        }
        if (res.missing) {
                fprintf(stderr, "berthd backup: %" PRIu64 " blob row(s) had no file in %s/blobs (not in the "
                        "backup): berthd fsck tells which\n", res.missing, data_dir);
                return 1;
        }
        return 0;
}

int cli_restore_main(const char *spec, const char *what, int argc, char **argv) {
        const char *src = NULL, *data = NULL;
        backup_result_t res;
        dbconf_t dc = {};
        int r;

        for (int i = 1; i < argc; i++) {
                if (argv[i][0] == '-' || (src && data))
                        return cli_backup_usage(stderr);
                if (!src)
                        src = argv[i];
                else
                        data = argv[i];
        }
        if (!src || !data)
                return cli_backup_usage(stderr);
        r = dbconf_resolve(spec, what, data, getenv("BERTH_DB_PASSWORD_FILE"), &dc);
        if (r < 0)
                return 2;
        r = backup_restore(src, data, dc.target, dc.password, &res);
        if (r == BERTH_ECONFIG)
                fprintf(stderr, "berthd restore: %s is not a berth backup of format %d for %s (a backup of one "
                        "engine restores into the same engine; berthd db copy moves it after)\n", src,
                        BACKUP_FORMAT, dc.display);
        else if (r == -EEXIST)
                fprintf(stderr, "berthd restore: %s exists: restore into a new database\n", dc.display);
        else if (r == -ENOTEMPTY)
                fprintf(stderr, "berthd restore: %s is not empty: restore into an empty %s\n",
                        dc.pg ? dc.display : data, dc.pg ? "database" : "directory");
        else if (r < 0)
                fail("restore", r);
        else
                printf("restored %s into %s and %s: %" PRIu64 " blob(s) (%" PRIu64 " linked, %" PRIu64
                       " copied), %" PRIu64 " TLS file(s); start berthd --data %s%s%s\n", src, data, dc.display,
                       res.blobs, res.linked, res.copied, res.files, data, dc.in_data_dir ? "" : " --db ",
                       dc.in_data_dir ? "" : dc.display);
        dbconf_done(&dc);
        return r < 0 ? 2 : 0;
}
