/* tests/unit/test-backup.c: storage/backup.c on SQLite, its refusals and partial
 * cases: a destination that is not empty or cannot be made, a row whose blob file is
 * missing, a restore from a directory that is no backup (no manifest, a corrupted
 * one, another format or engine), a backup whose database file is gone, a restore
 * over a non-empty directory or an existing database, names in the backup's blob
 * tree that are no digest. The whole round trip under load, and PostgreSQL's
 * pg_dump path, are tests/integration/backup.sh (storage-pg.sh). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/backup.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/registry.h"
#include "storage/store.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char data[320];
        char db_path[400];
        store_t *s;
        meta_t *m;
        digest_t a, b;
} fixture_t;

static void put_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void push_blob(fixture_t *f, const char *data, digest_t *ret) {
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;
        size_t len = strlen(data);

        assert_int_equal(store_upload_create(f->s, DIGEST_SHA256, uuid), 0);
        assert_int_equal(meta_upload_add(f->m, uuid, "lib/a"), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, data, len), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, data, len, ret), 0);
        assert_int_equal(registry_upload_commit(f->s, f->m, u, "lib/a", ret, NULL), 0);
        store_upload_release(u);
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "backup") < 0)
                return -1;
        snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
        snprintf(f->db_path, sizeof(f->db_path), "%s/berth.db", f->data);
        if (mkdir(f->data, 0700) < 0 || store_open(f->data, &f->s) < 0 || meta_open(f->db_path, &f->m) < 0)
                return -1;
        *state = f;
        push_blob(f, "layer one", &f->a);
        push_blob(f, "layer two", &f->b);
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        meta_free(f->m);
        f->s = store_free(f->s);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

static int backup(fixture_t *f, const char *dest, backup_result_t *res) {
        backup_options_t o = { .data_dir = f->data, .target = f->db_path, .lock_wait = 1, .version = "test" };
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", f->dir, dest);
        return backup_run(meta_db(f->m), &o, path, res);
}

static int restore(fixture_t *f, const char *src, const char *data, const char *db, backup_result_t *res) {
        char s[512], d[512], t[512];

        snprintf(s, sizeof(s), "%s/%s", f->dir, src);
        snprintf(d, sizeof(d), "%s/%s", f->dir, data);
        snprintf(t, sizeof(t), "%s/%s", f->dir, db);
        return backup_restore(s, d, t, NULL, res);
}

static bool exists(fixture_t *f, const char *rel) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
        return access(path, F_OK) == 0;
}

/* the round trip: every blob linked, the TLS files copied, the manifest written last;
 * the restore has the blobs and a database that opens on the same rows */
static void test_round_trip(void **state) {
        fixture_t *f = *state;
        backup_result_t res = {}, rr = {};
        char path[800];
        meta_t *m2 = NULL;
        struct stat st;

        snprintf(path, sizeof(path), "%s/tls", f->data);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/tls/ca.crt", f->data);
        put_file(path, "certificate");
        snprintf(path, sizeof(path), "%s/tls/ca.key", f->data);
        put_file(path, "key");

        assert_int_equal(backup(f, "bk", &res), 0);
        assert_int_equal(res.blobs, 2);
        assert_int_equal(res.bytes, 18);
        assert_int_equal(res.linked, 2);
        assert_int_equal(res.missing, 0);
        assert_int_equal(res.files, 2);
        assert_false(res.pg);
        assert_true(exists(f, "bk/" BACKUP_MANIFEST));
        snprintf(path, sizeof(path), "%s/bk/tls/ca.key", f->dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        snprintf(path, sizeof(path), "%s/bk/tls/ca.crt", f->dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);

        /* a second backup into the same directory */
        assert_int_equal(backup(f, "bk", &res), -ENOTEMPTY);

        /* names in the backup's blob tree that are no digest are not restored */
        snprintf(path, sizeof(path), "%s/bk/blobs/sha256/%.2s/junk", f->dir, digest_hex(&f->a));
        put_file(path, "x");
        snprintf(path, sizeof(path), "%s/bk/blobs/sha256/zz", f->dir);
        assert_int_equal(mkdir(path, 0700), 0);

        assert_int_equal(restore(f, "bk", "restored", "restored/berth.db", &rr), 0);
        assert_int_equal(rr.blobs, 2);
        assert_int_equal(rr.files, 2);
        snprintf(path, sizeof(path), "restored/blobs/sha256/%.2s/%s", digest_hex(&f->b), digest_hex(&f->b));
        assert_true(exists(f, path));
        snprintf(path, sizeof(path), "restored/blobs/sha256/%.2s/junk", digest_hex(&f->a));
        assert_false(exists(f, path));
        snprintf(path, sizeof(path), "%s/restored", f->dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        snprintf(path, sizeof(path), "%s/restored/berth.db", f->dir);
        assert_int_equal(meta_open(path, &m2), 0);
        assert_int_equal(meta_blob_known(m2, &f->a), 1);
        assert_int_equal(meta_blob_known(m2, &f->b), 1);
        meta_free(m2);

        /* over the first restore: refused, nothing touched */
        assert_int_equal(restore(f, "bk", "restored", "restored2.db", &rr), -ENOTEMPTY);
        assert_false(exists(f, "restored2.db"));
        /* into an empty directory but onto an existing database file */
        assert_int_equal(restore(f, "bk", "fresh", "restored/berth.db", &rr), -EEXIST);
}

/* a row whose file is gone: counted as missing, the backup completes */
static void test_missing_blob(void **state) {
        fixture_t *f = *state;
        backup_result_t res = {};
        char path[800];

        snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", f->data, digest_hex(&f->a), digest_hex(&f->a));
        assert_int_equal(unlink(path), 0);
        assert_int_equal(backup(f, "bk", &res), 0);
        assert_int_equal(res.blobs, 2);
        assert_int_equal(res.linked, 1);
        assert_int_equal(res.missing, 1);
        assert_true(exists(f, "bk/" BACKUP_MANIFEST));
}

/* a destination that cannot be made: the error, no manifest anywhere */
static void test_unwritable_destination(void **state) {
        fixture_t *f = *state;
        backup_result_t res = {};
        char path[800];

        snprintf(path, sizeof(path), "%s/file", f->dir);
        put_file(path, "not a directory");
        assert_int_equal(backup(f, "file/bk", &res), -ENOTDIR);
        assert_int_equal(backup(f, "file", &res), -ENOTDIR);
        assert_int_equal(backup(f, "absent/bk", &res), -ENOENT);
        assert_false(exists(f, "absent"));
}

/* restores from what is no backup of this engine: BERTH_ECONFIG, nothing made */
static void test_not_a_backup(void **state) {
        fixture_t *f = *state;
        backup_result_t res = {}, rr = {};
        char path[1024], bad[300];
        static const char *const manifests[] = {
                "{", "[]", "{\"format\":1}", "{\"format\":2,\"engine\":\"sqlite\"}",
                "{\"format\":1,\"engine\":\"oracle\"}", "{\"format\":\"1\",\"engine\":\"sqlite\"}",
                "{\"format\":1,\"engine\":\"sqlite\",\"engine\":\"sqlite\"}",
        };

        snprintf(bad, sizeof(bad), "%s/bad", f->dir);
        assert_int_equal(mkdir(bad, 0700), 0);
        assert_int_equal(restore(f, "bad", "r", "r.db", &rr), BERTH_ECONFIG);
        snprintf(path, sizeof(path), "%s/" BACKUP_MANIFEST, bad);
        for (size_t i = 0; i < sizeof(manifests) / sizeof(manifests[0]); i++) {
                put_file(path, manifests[i]);
                if (restore(f, "bad", "r", "r.db", &rr) != BERTH_ECONFIG)
                        fail_msg("restored from the manifest %s", manifests[i]);
        }
        assert_false(exists(f, "r"));
        assert_false(exists(f, "r.db"));

        /* a SQLite backup into a PostgreSQL database */
        assert_int_equal(backup(f, "bk", &res), 0);
        snprintf(path, sizeof(path), "%s/bk", f->dir);
        assert_int_equal(backup_restore(path, bad, "postgresql://127.0.0.1/berth", NULL, &rr), BERTH_ECONFIG);

        /* the database file gone from the backup: the error, no database made */
        snprintf(path, sizeof(path), "%s/bk/berth.db", f->dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(restore(f, "bk", "r", "r.db", &rr), -ENOENT);
        assert_false(exists(f, "r.db"));
}

/* a garbage collection holding its lock past lock_wait: BERTH_EBUSY, no manifest;
 * the backup runs once the lock is given back */
static void test_gc_lock_held(void **state) {
        fixture_t *f = *state;
        backup_result_t res = {};
        db_conn_t *c = NULL;

        assert_int_equal(db_conn_get(meta_db(f->m), &c), 0);
        assert_int_equal(db_lock_try(c, DB_LOCK_GC), 1);
        assert_int_equal(backup(f, "bk", &res), BERTH_EBUSY);
        assert_false(exists(f, "bk/" BACKUP_MANIFEST));
        db_unlock(c, DB_LOCK_GC);
        db_conn_put(meta_db(f->m), c);
        assert_int_equal(backup(f, "bk", &res), 0);
        assert_int_equal(res.linked, 2);
}

/* a backup on another file system (tmpfs): the blobs copied, not linked, byte for
 * byte; and restored from there by copies too */
static void test_other_file_system(void **state) {
        fixture_t *f = *state;
        backup_options_t o = { .data_dir = f->data, .target = f->db_path, .lock_wait = 1 };
        backup_result_t res = {}, rr = {};
        char shm[64] = "/dev/shm/berth-test-backup-XXXXXX", dest[128], path[1024], buf[32];
        struct stat a, b;
        FILE *fp;

        if (stat("/dev/shm", &a) < 0 || stat(f->dir, &b) < 0 || a.st_dev == b.st_dev || !mkdtemp(shm))
                skip();
        snprintf(dest, sizeof(dest), "%s/bk", shm);
        assert_int_equal(backup_run(meta_db(f->m), &o, dest, &res), 0);
        assert_int_equal(res.blobs, 2);
        assert_int_equal(res.copied, 2);
        assert_int_equal(res.linked, 0);
        snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", dest, digest_hex(&f->b), digest_hex(&f->b));
        assert_int_equal(stat(path, &a), 0);
        assert_int_equal(a.st_mode & 0777, 0600);
        assert_non_null(fp = fopen(path, "r"));
        assert_non_null(fgets(buf, sizeof(buf), fp));
        fclose(fp);
        assert_string_equal(buf, "layer two");

        snprintf(path, sizeof(path), "%s/restored", f->dir);
        assert_int_equal(mkdir(path, 0755), 0); /* an empty directory: taken, made private */
        {
                char t[600];
                snprintf(t, sizeof(t), "%s/restored/berth.db", f->dir);
                assert_int_equal(backup_restore(dest, path, t, NULL, &rr), 0);
        }
        assert_int_equal(rr.blobs, 2);
        assert_int_equal(rr.copied, 2);
        assert_int_equal(stat(path, &a), 0);
        assert_int_equal(a.st_mode & 0777, 0700);
        fx_rmtree(shm);
}

/* the database unreadable: a SQLite file that is no database, a PostgreSQL server
 * that does not answer (a loopback port nothing listens on): BERTH_EDB, no manifest;
 * a PostgreSQL backup restored into a server that does not answer: BERTH_EDB */
static void test_database_failures(void **state) {
        fixture_t *f = *state;
        backup_options_t o = { .data_dir = f->data, .lock_wait = 1 };
        backup_result_t res = {}, rr = {};
        char garbage[600], dest[600], src[600], path[700];
        static const char pg[] = "postgresql://berth@127.0.0.1:1/berth?connect_timeout=2";

        snprintf(garbage, sizeof(garbage), "%s/garbage.db", f->dir);
        put_file(garbage, "this is not an SQLite database, not even its header........................"
                          "................................................................................");
        o.target = garbage;
        snprintf(dest, sizeof(dest), "%s/bk1", f->dir);
        assert_int_equal(backup_run(meta_db(f->m), &o, dest, &res), BERTH_EDB);
        assert_false(exists(f, "bk1/" BACKUP_MANIFEST));

        o.target = pg;
        snprintf(dest, sizeof(dest), "%s/bk2", f->dir);
        assert_int_equal(backup_run(meta_db(f->m), &o, dest, &res), BERTH_EDB);
        assert_false(exists(f, "bk2/" BACKUP_MANIFEST));

        snprintf(src, sizeof(src), "%s/pgbk", f->dir);
        assert_int_equal(mkdir(src, 0700), 0);
        snprintf(path, sizeof(path), "%s/" BACKUP_MANIFEST, src);
        put_file(path, "{\"format\":1,\"engine\":\"postgresql\",\"schema_version\":8}");
        snprintf(path, sizeof(path), "%s/berth.pgdump", src);
        put_file(path, "PGDMP");
        snprintf(dest, sizeof(dest), "%s/r", f->dir);
        assert_int_equal(backup_restore(src, dest, pg, NULL, &rr), BERTH_EDB);
        /* and a SQLite target for it: the engines differ */
        snprintf(path, sizeof(path), "%s/r.db", f->dir);
        assert_int_equal(backup_restore(src, dest, path, NULL, &rr), BERTH_ECONFIG);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_blob, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unwritable_destination, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_backup, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_lock_held, setup, teardown),
                cmocka_unit_test_setup_teardown(test_other_file_system, setup, teardown),
                cmocka_unit_test_setup_teardown(test_database_failures, setup, teardown),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
