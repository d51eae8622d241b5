/* storage/fsck.c: the blob store checked against the metadata (see fsck.h).
 *
 * 1. Under the GC lock: every blob file (store_blob_scan) and every blob row (read
 *    in pages, short statements: a serving berthd never waits on us), both sorted
 *    by digest and merged. A row without a file or a file without a row is looked
 *    at again before it counts (a push links its file before its row).
 * 2. Without the lock: each row whose file has the right size is hashed, at most
 *    opt->rate bytes per second.
 * 3. Under the lock again, with repair: each finding checked once more, then the
 *    file moved to quarantine/ and the rows that would serve it dropped in one
 *    transaction. The file goes first: from then on a push of the same digest
 *    writes a fresh, verified file (a corrupt one would have been taken for a
 *    deduplicated copy), and the rows are dropped only if no such push came. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/fsck.h"
#include "storage/registry.h"

#define ROWS_PAGE 1000
#define HASH_CHUNK (1u << 20)

typedef struct {
        digest_t d;
        uint64_t size;
        time_t mtime;
} entry_t;

typedef struct {
        entry_t *v;
        size_t n, cap;
} list_t;

typedef struct {
        fsck_problem_t p;
        char where[DIGEST_HEX_MAX + 96];
} finding_t;

typedef struct {
        finding_t *v;
        size_t n, cap;
} findings_t;

const char *fsck_kind_name(fsck_kind_t k) {
        switch (k) {
        case FSCK_MISSING:
                return "missing";
        case FSCK_SIZE:
                return "wrong-size";
        case FSCK_DIGEST:
                return "digest-mismatch";
        case FSCK_ORPHAN:
                return "orphan";
        }
        return "?";
}

static int list_add(list_t *l, const digest_t *d, uint64_t size, time_t mtime) {
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 1024;
                entry_t *v = reallocarray(l->v, cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = (entry_t){ .d = *d, .size = size, .mtime = mtime };
        return 0;
}

static int finding_add(findings_t *f, fsck_kind_t kind, const digest_t *d, uint64_t row_size,
                       uint64_t file_size) {
        if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 16;
                finding_t *v = reallocarray(f->v, cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                f->v = v;
                f->cap = cap;
        }
        f->v[f->n++] = (finding_t){ .p = { .kind = kind, .digest = *d, .row_size = row_size,
                                           .file_size = file_size } };
        return 0;
}

static int cmp_entry(const void *a, const void *b) {
        return strcmp(((const entry_t *) a)->d.str, ((const entry_t *) b)->d.str);
}

typedef struct {
        list_t *files;
        int err;
} scan_t;

static void scan_one(void *userdata, const digest_t *d, uint64_t size, time_t mtime) {
        scan_t *sc = userdata;

        if (!sc->err)
                sc->err = list_add(sc->files, d, size, mtime);
}

static const char SQL_ROWS_FIRST[] = "SELECT digest, size FROM blobs ORDER BY digest LIMIT ?1";
static const char SQL_ROWS_NEXT[] = "SELECT digest, size FROM blobs WHERE digest > ?1 ORDER BY digest LIMIT ?2";
static const char SQL_ROW[] = "SELECT size FROM blobs WHERE digest = ?1";
static const char SQL_REFS[] = "SELECT COUNT(*) FROM manifest_refs WHERE child = ?1";
static const char SQL_DROP_LINKS[] = "DELETE FROM repo_blobs WHERE digest = ?1";
static const char SQL_DROP_MANIFESTS[] = "DELETE FROM manifests WHERE digest = ?1";
static const char SQL_DROP_BLOB[] = "DELETE FROM blobs WHERE digest = ?1";

/* Every blob row, a page per statement (no long read transaction). */
static int rows_read(db_conn_t *c, list_t *rows) {
        char last[DIGEST_STR_MAX] = "";

        for (;;) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                size_t got = 0;
                int r;

                r = db_stmt(c, last[0] ? SQL_ROWS_NEXT : SQL_ROWS_FIRST, &st);
                if (r < 0)
                        return r;
                if (last[0])
                        r = db_bind_text(st, 1, last);
                if (r >= 0)
                        r = db_bind_int(st, last[0] ? 2 : 1, ROWS_PAGE);
                if (r < 0)
                        return r;
                while ((r = db_step(st)) == 1) {
                        const char *s = db_col_text(st, 0);
                        int64_t size = db_col_int(st, 1);
                        digest_t d;

                        got++;
                        if (!s)
                                continue;
                        (void) snprintf(last, sizeof(last), "%s", s);
                        if (digest_parse(s, &d) < 0)
                                continue; /* not a digest: nothing could serve it anyway */
                        r = list_add(rows, &d, size < 0 ? 0 : (uint64_t) size, 0);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                if (got < ROWS_PAGE)
                        return 0;
        }
}

/* 1 and *ret_size: the blob has a row now; 0 not. */
static int row_now(db_conn_t *c, const digest_t *d, uint64_t *ret_size) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        r = db_stmt(c, SQL_ROW, &st);
        if (r >= 0)
                r = db_bind_text(st, 1, d->str);
        if (r >= 0)
                r = db_step(st);
        if (r == 1 && ret_size)
                *ret_size = (uint64_t) db_col_int(st, 0);
        return r;
}

static int refs_count(db_conn_t *c, const digest_t *d, uint64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        r = db_stmt(c, SQL_REFS, &st);
        if (r >= 0)
                r = db_bind_text(st, 1, d->str);
        if (r >= 0)
                r = db_step(st);
        if (r == 1)
                *ret = (uint64_t) db_col_int(st, 0);
        return r < 0 ? r : 0;
}

/* The blob's rows: its repository links, the manifests it is (their tags and
 * references go with them), the row itself. 1 dropped, 0 no row (any more). */
static int rows_drop(db_conn_t *c, const digest_t *d) {
        static const char *const sql[] = { SQL_DROP_LINKS, SQL_DROP_MANIFESTS, SQL_DROP_BLOB };
        int64_t changed = 0;
        int r;

        r = db_tx_begin(c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(sql); i++) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;

                r = db_stmt(c, sql[i], &st);
                if (r >= 0)
                        r = db_bind_text(st, 1, d->str);
                if (r >= 0)
                        r = db_step_done(st);
                if (r < 0)
                        break;
                changed = db_changes(c);
        }
        if (r >= 0)
                r = db_notify(c, DB_NOTIFY_REPO, ""); /* every process's manifest caches */
        r = db_tx_commit(c);
        if (r < 0)
                return r;
        return changed > 0;
}

static uint64_t mono_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

typedef struct {
        uint64_t rate, start_ns, bytes;
} pacer_t;

/* Sleeps until bytes so far fit the rate since the start. */
static void pace(pacer_t *p, size_t n) {
        uint64_t due_ns, now;

        p->bytes += n;
        if (!p->rate)
                return;
        due_ns = p->start_ns + (uint64_t) ((double) p->bytes * 1e9 / (double) p->rate);
        now = mono_ns();
        if (due_ns > now) {
                uint64_t ns = due_ns - now;
                struct timespec ts = { (time_t) (ns / 1000000000u), (long) (ns % 1000000000u) };
                (void) nanosleep(&ts, NULL);
        }
}

/* 1 the file hashes to d, 0 it does not (or is not size bytes long any more), -ENOENT
 * gone, <0 error. */
static int hash_check(store_t *s, const digest_t *d, pacer_t *p, uint8_t *buf, uint64_t *ret_bytes) {
        _cleanup_close_ int fd = -1;
        digest_ctx_t *ctx = NULL;
        uint64_t size, off = 0;
        digest_t got;
        int r;

        if (store_has_files(s)) {
                r = store_blob_open(s, d, &fd, &size);
        } else {
                /* a driver without files (S3): streamed by range reads */
                r = store_blob_stat(s, d, &size);
                if (r == 0)
                        r = -ENOENT;
        }
        if (r < 0)
                return r;
        r = digest_ctx_new(d->alg, &ctx);
        if (r < 0)
                return r;
        while (off < size) {
                size_t want = size - off < HASH_CHUNK ? (size_t) (size - off) : HASH_CHUNK;
                ssize_t n;

                if (fd < 0) {
                        size_t nread = 0;
                        r = store_blob_read(s, d, off, buf, want, &nread);
                        if (r < 0)
                                goto out;
                        n = (ssize_t) nread;
                } else
                        n = pread(fd, buf, want, (off_t) off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break; /* shorter than it was: a mismatch */
                r = digest_ctx_update(ctx, buf, (size_t) n);
                if (r < 0)
                        goto out;
                off += (uint64_t) n;
                *ret_bytes += (uint64_t) n;
                pace(p, (size_t) n);
        }
        r = digest_ctx_peek(ctx, &got);
        if (r >= 0)
                r = off == size && digest_equal(&got, d);
out:
        digest_ctx_free(ctx);
        return r;
}

/* Is the finding still true now? 1 yes, 0 no (a push or a collection moved on), <0. */
static int still_true(store_t *s, db_conn_t *c, const fsck_problem_t *p) {
        uint64_t row_size = 0, file_size = 0;
        int has_row, has_file;

        has_file = store_blob_stat(s, &p->digest, &file_size);
        if (has_file < 0)
                return has_file;
        has_row = row_now(c, &p->digest, &row_size);
        if (has_row < 0)
                return has_row;
        switch (p->kind) {
        case FSCK_MISSING:
                return has_row && !has_file;
        case FSCK_SIZE:
                return has_row && has_file && row_size != file_size;
        case FSCK_DIGEST:
                return has_row && has_file; /* the hash was just taken: a re-push links no new file */
        case FSCK_ORPHAN:
                return !has_row && has_file;
        }
        return 0;
}

static void repair(store_t *s, db_conn_t *c, finding_t *f) {
        fsck_problem_t *p = &f->p;
        int r = 0;

        if (p->kind != FSCK_MISSING) {
                r = store_blob_quarantine(s, &p->digest, f->where, sizeof(f->where));
                if (r == 0)
                        p->quarantined = f->where;
                else if (r != -ENOENT)
                        goto out;
                r = 0;
        }
        if (p->kind != FSCK_ORPHAN) {
                /* a push of the same digest since the move wrote a good file: keep its rows */
                r = store_blob_stat(s, &p->digest, NULL);
                if (r == 0) {
                        r = rows_drop(c, &p->digest);
                        p->rows_dropped = r > 0;
                }
                if (r > 0)
                        r = 0;
        }
out:
        p->repaired = r == 0;
        p->repair_error = r;
}

int fsck_run(store_t *s, db_t *db, const fsck_options_t *opt, fsck_result_t *ret) {
        list_t files = {}, rows = {};
        findings_t found = {};
        fsck_result_t res = {};
        db_conn_t *c = NULL;
        uint8_t *buf = NULL;
        pacer_t pacer = {};
        scan_t sc = { .files = &files };
        time_t now = time(NULL);
        uint64_t grace = opt ? opt->grace : 0;
        bool locked = false;
        size_t i, j, n_listed;
        int r;

        if (!s || !db || !opt || !ret)
                return -EINVAL;
        /* an object of a driver without files may be a direct upload's, whose row
         * comes after it with nothing kept to place it again: never repaired away
         * before the hour GC also gives it (registry.h) */
        if (!store_has_files(s) && grace < REGISTRY_ORPHAN_MIN_AGE)
                grace = REGISTRY_ORPHAN_MIN_AGE;
        r = db_conn_get(db, &c);
        if (r < 0)
                return r;

        /* 1. the listing, under the GC lock */
        r = db_lock_wait(c, DB_LOCK_GC, opt->lock_wait);
        if (r < 0)
                goto out;
        locked = true;
        r = store_blob_scan(s, scan_one, &sc);
        if (r >= 0)
                r = sc.err;
        if (r >= 0)
                r = rows_read(c, &rows);
        if (r < 0)
                goto out;
        if (files.n) /* qsort of nothing may not be given NULL */
                qsort(files.v, files.n, sizeof(entry_t), cmp_entry);
        if (rows.n)
                qsort(rows.v, rows.n, sizeof(entry_t), cmp_entry);
        res.rows = rows.n;
        res.files = files.n;
        for (i = 0, j = 0; i < rows.n || j < files.n;) {
                int cmp = i == rows.n ? 1 : j == files.n ? -1 : strcmp(rows.v[i].d.str, files.v[j].d.str);
                uint64_t size;

                if (cmp == 0) {
                        if (rows.v[i].size != files.v[j].size &&
                            (r = finding_add(&found, FSCK_SIZE, &rows.v[i].d, rows.v[i].size, files.v[j].size)) < 0)
                                goto out;
                        i++, j++;
                } else if (cmp < 0) {
                        /* a file linked since the scan, by a push, is no problem */
                        r = store_blob_stat(s, &rows.v[i].d, &size);
                        if (r < 0)
                                goto out;
                        if (r == 0 && (r = finding_add(&found, FSCK_MISSING, &rows.v[i].d, rows.v[i].size, 0)) < 0)
                                goto out;
                        if (r == 1 && size != rows.v[i].size &&
                            (r = finding_add(&found, FSCK_SIZE, &rows.v[i].d, rows.v[i].size, size)) < 0)
                                goto out;
                        i++;
                } else {
                        const entry_t *e = &files.v[j++];

                        if (e->mtime > now - (time_t) grace) {
                                res.recent_orphans++; /* a push between its file and its row */
                                continue;
                        }
                        if ((r = finding_add(&found, FSCK_ORPHAN, &e->d, 0, e->size)) < 0)
                                goto out;
                }
        }
        db_unlock(c, DB_LOCK_GC);
        locked = false;
        free(files.v);
        files = (list_t){};

        /* 2. hashing, without the lock */
        buf = malloc(HASH_CHUNK);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        pacer = (pacer_t){ .rate = opt->rate, .start_ns = mono_ns() };
        n_listed = found.n;
        for (i = 0, j = 0; i < rows.n; i++) {
                bool skip = false;

                /* the findings are in row order (orphans aside): rows already found
                 * missing or of the wrong size are not hashed */
                for (; j < n_listed && strcmp(found.v[j].p.digest.str, rows.v[i].d.str) < 0; j++)
                        ;
                for (size_t k = j; k < n_listed && strcmp(found.v[k].p.digest.str, rows.v[i].d.str) == 0; k++)
                        skip = true;
                if (skip)
                        continue;
                r = hash_check(s, &rows.v[i].d, &pacer, buf, &res.hashed_bytes);
                if (r == -ENOENT)
                        continue; /* collected since: not a problem */
                if (r == -EIO)
                        r = 0; /* bytes the disk cannot give back: not what the digest says */
                if (r < 0)
                        goto out;
                if (r == 0 && (r = finding_add(&found, FSCK_DIGEST, &rows.v[i].d, rows.v[i].size, rows.v[i].size)) < 0)
                        goto out;
        }

        /* 3. each finding checked again, repaired under the lock, reported */
        if (found.n) {
                r = db_lock_wait(c, DB_LOCK_GC, opt->lock_wait);
                if (r < 0)
                        goto out;
                locked = true;
        }
        for (i = 0; i < found.n; i++) {
                finding_t *f = &found.v[i];

                r = still_true(s, c, &f->p);
                if (r < 0)
                        goto out;
                if (r == 0)
                        continue;
                if (f->p.kind != FSCK_ORPHAN && (r = refs_count(c, &f->p.digest, &f->p.manifests)) < 0)
                        goto out;
                if (opt->repair) {
                        repair(s, c, f);
                        if (f->p.repaired)
                                res.repaired++;
                        else
                                res.repair_failed++;
                }
                res.problems[f->p.kind]++;
                if (opt->problem)
                        opt->problem(opt->userdata, &f->p);
        }
        r = 0;
out:
        if (locked)
                db_unlock(c, DB_LOCK_GC);
        db_conn_put(db, c);
        free(buf);
        free(files.v);
        free(rows.v);
        free(found.v);
        if (r >= 0)
                *ret = res;
        return r;
}
