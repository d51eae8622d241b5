/* tests/unit/fixture.h: what the unit tests of storage/, auth/ and server/ share:
 * a temporary directory (made under $TMPDIR, removed with everything in it), a
 * path in it, the metadata, blob store and auth layer opened on it, and the test
 * clock that the auth layer (auth_options_t.now), the blob store
 * (store_set_clock) and the server (server_t.now) take instead of the wall clock.
 * Header-only: each test includes what it uses. */
#pragma once
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>
#include "auth/auth.h"
#include "storage/meta.h"
#include "storage/store.h"

/* The test clock: a fixed time (now), or the wall clock when now is 0; plus
 * offset. A test moves it forward instead of sleeping. */
typedef struct {
        time_t now;
        time_t offset;
} fx_clock_t;

static inline time_t fx_clock_now(void *userdata) {
        const fx_clock_t *c = userdata;
        return (c->now ? c->now : time(NULL)) + c->offset;
}

/* A new directory $TMPDIR/berth-test-NAME-XXXXXX (mode 0700) in dir: 0 or -1. */
static inline int fx_tmpdir(char *dir, size_t size, const char *name) {
        const char *tmp = getenv("TMPDIR");
        int n = snprintf(dir, size, "%s/berth-test-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);

        if (n < 0 || (size_t) n >= size)
                return -1;
        return mkdtemp(dir) ? 0 : -1;
}

/* dir/name in buf: 0 or -1 (too long). */
static inline int fx_path(char *buf, size_t size, const char *dir, const char *name) {
        int n = snprintf(buf, size, "%s/%s", dir, name);
        return n < 0 || (size_t) n >= size ? -1 : 0;
}

static inline int fx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        return remove(path);
}

/* Removes dir and everything under it (NULL or "": nothing). */
static inline void fx_rmtree(const char *dir) {
        if (dir && *dir)
                (void) nftw(dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The metadata on dir/file (meta_open: migrations applied): 0 or <0. */
static inline int fx_meta_open(const char *dir, const char *file, meta_t **ret) {
        char path[512];
        return fx_path(path, sizeof(path), dir, file) < 0 ? -ENAMETOOLONG : meta_open(path, ret);
}

/* The blob store rooted at dir/sub (sub NULL: dir itself), on the test clock
 * when clock is not NULL: 0 or <0. */
static inline int fx_store_open(const char *dir, const char *sub, fx_clock_t *clock, store_t **ret) {
        char root[512];
        int r;

        if (fx_path(root, sizeof(root), dir, sub ? sub : ".") < 0)
                return -ENAMETOOLONG;
        r = store_open(sub ? root : dir, ret);
        if (r >= 0 && clock)
                store_set_clock(*ret, fx_clock_now, clock);
        return r;
}

/* Options for an auth layer on the test clock, with the cheapest argon2 cost. */
static inline auth_options_t fx_auth_options(fx_clock_t *clock) {
        return (auth_options_t){ .argon2_memory_kib = 64, .argon2_passes = 1,
                                 .now = fx_clock_now, .now_userdata = clock };
}

/* upload_write_async, then wait for the hash of buf (a zero-length write waits), so
 * the caller may reuse buf at once. 0 or the first write's -errno. */
static inline int fx_upload_write(upload_t *u, const void *buf, size_t len) {
        int r = upload_write_async(u, buf, len);

        if (r < 0)
                return r;
        (void) upload_write_async(u, NULL, 0);
        return 0;
}

/* ---- the engine of the metadata tests ----
 * SQLite by default. With BERTH_TEST_ENGINE=pg the tests that take their database
 * from fx_db_target run on PostgreSQL instead: BERTH_TEST_PG_URL names a server
 * (postgresql://user@127.0.0.1:PORT/postgres, started once per run by
 * tests/pg-server.sh) and BERTH_TEST_PG_PASSWORD_FILE its password; each test gets
 * a database of its own, created with psql and dropped at teardown. */
static inline bool fx_pg(void) {
        const char *e = getenv("BERTH_TEST_ENGINE");
        return e && strcmp(e, "pg") == 0;
}

/* libpq and psql read the password from the environment. */
static inline int fx_pg_env(void) {
        const char *pf = getenv("BERTH_TEST_PG_PASSWORD_FILE");
        char pw[256] = "";
        FILE *fp;

        if (!getenv("BERTH_TEST_PG_URL"))
                return -1;
        if (!pf || getenv("PGPASSWORD"))
                return 0;
        fp = fopen(pf, "r");
        if (!fp || !fgets(pw, sizeof(pw), fp)) {
                if (fp)
                        fclose(fp);
                return -1;
        }
        fclose(fp);
        pw[strcspn(pw, "\r\n")] = '\0';
        return setenv("PGPASSWORD", pw, 1);
}

/* The server URI with its database replaced by name. */
static inline int fx_pg_url(char *buf, size_t size, const char *name) {
        const char *url = getenv("BERTH_TEST_PG_URL"), *host, *path, *query;
        int n;

        if (!url || !(host = strstr(url, "://")) || !(path = strchr(host + 3, '/')))
                return -1;
        query = strchr(path, '?');
        n = snprintf(buf, size, "%.*s/%s%s", (int) (path - url), url, name, query ? query : "");
        return n < 0 || (size_t) n >= size ? -1 : 0;
}

/* Runs sql (ours: no input in it) on the database at URI url with psql: 0 or -1. */
static inline int fx_psql(const char *url, const char *sql) {
        char cmd[4096];
        int n = snprintf(cmd, sizeof(cmd), "psql -X -q -v ON_ERROR_STOP=1 '%s' -c \"%s\" >/dev/null", url, sql);

        if (n < 0 || (size_t) n >= sizeof(cmd) || fx_pg_env() < 0)
                return -1;
        return system(cmd) == 0 ? 0 : -1;
}

/* A fresh database for one test: SQLite: dir/file; PostgreSQL: a new database
 * (its URI in buf). 0 or -1. */
static inline int fx_db_target(char *buf, size_t size, const char *dir, const char *file) {
        static unsigned seq;
        char name[64], admin[512], sql[128];

        if (!fx_pg())
                return fx_path(buf, size, dir, file);
        (void) snprintf(name, sizeof(name), "berth_unit_%ld_%u", (long) getpid(), ++seq);
        (void) snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
        if (fx_pg_url(admin, sizeof(admin), "postgres") < 0 || fx_psql(admin, sql) < 0)
                return -1;
        return fx_pg_url(buf, size, name);
}

/* Drops a database fx_db_target made (SQLite: nothing; the directory goes). */
static inline void fx_db_drop(const char *target) {
        const char *name;
        char admin[512], sql[160];

        if (!fx_pg() || !target || !(name = strrchr(target, '/')))
                return;
        (void) snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %.*s WITH (FORCE)", (int) strcspn(name + 1, "?"),
                        name + 1);
        if (fx_pg_url(admin, sizeof(admin), "postgres") == 0)
                (void) fx_psql(admin, sql);
}

/* With a gateway (BERTH_TEST_S3_*, as the slow tier exports): a new bucket named
 * NAME-<random> (in bucket) by the test's own signed request (berthd never creates
 * one), the storage URL of prefix in it (in url), and the credentials in the
 * environment for the driver: 1. Without a gateway: 0 (the cases skip). <0: failed. */
static inline int fx_s3_bucket(const char *name, const char *prefix, char *bucket, size_t bsize, char *url,
                               size_t usize) {
        const char *ep = getenv("BERTH_TEST_S3_ENDPOINT"), *region = getenv("BERTH_TEST_S3_REGION");
        char cmd[2048];
        unsigned char rnd[4];

        if (!ep || !getenv("BERTH_TEST_S3_ACCESS_KEY"))
                return 0;
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -EIO;
        (void) snprintf(bucket, bsize, "%s-%02x%02x%02x%02x", name, rnd[0], rnd[1], rnd[2], rnd[3]);
        setenv("AWS_ACCESS_KEY_ID", getenv("BERTH_TEST_S3_ACCESS_KEY"), 1);
        setenv("AWS_SECRET_ACCESS_KEY", getenv("BERTH_TEST_S3_SECRET_KEY"), 1);
        if (!region)
                region = "us-east-1";
        (void) snprintf(cmd, sizeof(cmd),
                        "curl -sS -o /dev/null -f --aws-sigv4 'aws:amz:%s:s3' --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\""
                        " -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X PUT '%s/%s'",
                        region, ep, bucket);
        if (system(cmd) != 0)
                return -EIO;
        (void) snprintf(url, usize, "s3://%s/%s?endpoint=%s&region=%s", bucket, prefix, ep, region);
        return 1;
}
