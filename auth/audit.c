/* auth/audit.c: the audit trail. Rows are batched in memory and written by a
 * thread of their own within about a second (at once when a batch is full), in one
 * transaction per batch and a few multi-row INSERTs, so that a row costs a
 * database server no round trip of its own. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"

/* ---- audit writer ---- */

/* Rows waiting for the writer thread before the caller that adds one more writes
 * them itself (the writer has fallen behind: the database is slow or down). */
#define AUDIT_MAX (16 * AUDIT_BATCH)
/* Rows per INSERT: AUDIT_BATCH, then AUDIT_STEP, then one. */
#define AUDIT_STEP 16
#define AUDIT_COLS 6
/* both engines number parameters up to ?999 (SQLite's historical limit, db-pg.c's) */
_Static_assert(AUDIT_BATCH * AUDIT_COLS <= 999, "an audit batch fits in one statement's parameters");
/* "(?NNNN,?NNNN,?NNNN,?NNNN,?NNNN,?NNNN)," at most per row */
#define AUDIT_SQL_MAX (80 + AUDIT_BATCH * (2 + AUDIT_COLS * 6))

/* The INSERTs of 1, AUDIT_STEP and AUDIT_BATCH rows: parameters only, made once,
 * and living as long as the program (db_stmt's cache is keyed by the address). */
static char sql_one[AUDIT_SQL_MAX], sql_step[AUDIT_SQL_MAX], sql_batch[AUDIT_SQL_MAX];
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

static void make_insert(char *buf, size_t rows) {
        size_t len, p = 1;

        len = (size_t) snprintf(buf, AUDIT_SQL_MAX,
                                "INSERT INTO auth_audit(ts, \"user\", client, action, repo, detail) VALUES ");
        for (size_t i = 0; i < rows; i++) {
                len += (size_t) snprintf(buf + len, AUDIT_SQL_MAX - len, "%s(?%zu,?%zu,?%zu,?%zu,?%zu,?%zu)",
                                         i ? "," : "", p, p + 1, p + 2, p + 3, p + 4, p + 5);
                p += AUDIT_COLS;
        }
}

static void make_inserts(void) {
        make_insert(sql_one, 1);
        make_insert(sql_step, AUDIT_STEP);
        make_insert(sql_batch, AUDIT_BATCH);
}

static void audit_rows_free(audit_row_t *rows, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(rows[i].user);
                free(rows[i].client);
                free(rows[i].action);
                free(rows[i].repo);
                free(rows[i].detail);
        }
        free(rows);
}

static int audit_write(auth_t *a, audit_row_t *rows, size_t n) {
        auth_conn_t *c = NULL;
        int r;

        if (n == 0)
                return 0;
        (void) pthread_once(&sql_once, make_inserts);
        r = auth_conn_get(a, &c);
        if (r < 0)
                return r;
        r = auth_tx_begin(c);
        if (r < 0)
                goto out;
        /* the transaction's first failure is sticky: the rest are no-ops and
         * commit returns it */
        for (size_t i = 0; i < n && db_tx_error(c) == 0;) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                size_t k = n - i >= AUDIT_BATCH ? AUDIT_BATCH : n - i >= AUDIT_STEP ? AUDIT_STEP : 1;
                const char *sql = k == AUDIT_BATCH ? sql_batch : k == AUDIT_STEP ? sql_step : sql_one;

                if (db_tx_fail(c, db_stmt(c, sql, &st)) < 0)
                        break;
                for (size_t j = 0; j < k; j++) {
                        const audit_row_t *row = &rows[i + j];
                        int p = (int) (j * AUDIT_COLS);

                        (void) db_bind_int(st, p + 1, row->ts);
                        (void) db_bind_text(st, p + 2, row->user);
                        (void) db_bind_text(st, p + 3, row->client);
                        (void) db_bind_text(st, p + 4, row->action);
                        (void) db_bind_text(st, p + 5, row->repo);
                        (void) db_bind_text(st, p + 6, row->detail);
                }
                (void) db_step_done(st);
                i += k;
        }
        r = db_tx_commit(c);
out:
        auth_conn_put(a, c);
        return r;
}

static audit_row_t *audit_take(auth_t *a, size_t *ret_n) {
        audit_row_t *rows = a->audit_rows;
        *ret_n = a->n_audit;
        a->audit_rows = NULL;
        a->n_audit = 0;
        a->cap_audit = 0;
        return rows;
}

int auth_audit_flush(auth_t *a) {
        audit_row_t *rows;
        size_t n;
        int r;

        if (!a)
                return -EINVAL;
        pthread_mutex_lock(&a->audit_lock);
        /* the rows the writer took are not written yet: wait, so that every row added
         * before the flush is in the database when it returns */
        while (a->audit_writing)
                pthread_cond_wait(&a->audit_done, &a->audit_lock);
        rows = audit_take(a, &n);
        pthread_mutex_unlock(&a->audit_lock);
        r = audit_write(a, rows, n);
        audit_rows_free(rows, n);
        return r;
}

/* The writer: whatever is pending, every second, or at once when a batch is full
 * (auth_audit signals). */
static void *audit_thread_main(void *arg) {
        auth_t *a = arg;
        audit_row_t *rows;
        size_t n;

        pthread_mutex_lock(&a->audit_lock);
        while (!a->audit_stop) {
                if (a->n_audit < AUDIT_BATCH) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += 1;
                        (void) pthread_cond_timedwait(&a->audit_cond, &a->audit_lock, &ts);
                }
                if (a->n_audit == 0 || a->audit_stop)
                        continue;
                rows = audit_take(a, &n);
                a->audit_writing = true;
                pthread_mutex_unlock(&a->audit_lock);
                (void) audit_write(a, rows, n); /* best effort: a lost batch is not fatal */
                audit_rows_free(rows, n);
                pthread_mutex_lock(&a->audit_lock);
                a->audit_writing = false;
                pthread_cond_broadcast(&a->audit_done);
        }
        pthread_mutex_unlock(&a->audit_lock);
        return NULL;
}

/* At most max bytes of s, escaped like a log line (log_escape): the audit trail is
 * printed by `berthd audit` and read by people, so no stored value may forge a row
 * or carry terminal escapes. */
static char *dup_capped(const char *s, size_t max) {
        size_t len;
        char *d;

        if (!s)
                return NULL;
        len = strnlen(s, max);
        d = malloc(LOG_ESCAPED_MAX(len));
        if (d)
                (void) log_escape(d, LOG_ESCAPED_MAX(len), s, len);
        return d;
}

int auth_audit(auth_t *a, const auth_result_t *who, const char *client_addr,
               const char *action, const char *repo, const char *detail) {
        audit_row_t row = {0};
        audit_row_t *rows = NULL;
        size_t n = 0;
        int r = 0;

        if (!a || !action)
                return -EINVAL;
        row.ts = auth_now(a);
        row.user = dup_capped(who && who->name[0] ? who->name : "-", AUTH_NAME_MAX);
        row.client = dup_capped(client_addr, 64);
        row.action = dup_capped(action, 32);
        row.repo = dup_capped(repo, 255);
        row.detail = dup_capped(detail, 1024);
        if (!row.user || !row.action || (client_addr && !row.client) || (repo && !row.repo) ||
            (detail && !row.detail)) {
                free(row.user), free(row.client), free(row.action), free(row.repo),
                        free(row.detail);
                return -ENOMEM;
        }

        pthread_mutex_lock(&a->audit_lock);
        if (a->n_audit == a->cap_audit && a->cap_audit >= AUDIT_MAX)
                rows = audit_take(a, &n); /* the writer is behind: this caller writes */
        if (a->n_audit == a->cap_audit) {
                size_t cap = a->cap_audit ? 2 * a->cap_audit : AUDIT_BATCH;
                audit_row_t *grown = realloc(a->audit_rows, cap * sizeof(audit_row_t));

                if (!grown) {
                        pthread_mutex_unlock(&a->audit_lock);
                        free(row.user), free(row.client), free(row.action), free(row.repo),
                                free(row.detail);
                        if (rows) {
                                r = audit_write(a, rows, n);
                                audit_rows_free(rows, n);
                        }
                        return r < 0 ? r : -ENOMEM;
                }
                a->audit_rows = grown;
                a->cap_audit = cap;
        }
        if (a->n_audit == 0)
                a->audit_oldest = row.ts;
        a->audit_rows[a->n_audit++] = row;
        if (!a->audit_thread_started && !a->audit_stop) {
                if (pthread_create(&a->audit_thread, NULL, audit_thread_main, a) == 0)
                        a->audit_thread_started = true;
        }
        if (a->n_audit == AUDIT_BATCH && a->audit_thread_started)
                pthread_cond_signal(&a->audit_cond); /* a full batch: write it now */
        else if (a->n_audit >= AUDIT_BATCH && (!a->audit_thread_started || a->audit_stop) && !rows)
                rows = audit_take(a, &n); /* no writer thread (stopping, or none could start) */
        pthread_mutex_unlock(&a->audit_lock);
        if (rows) {
                r = audit_write(a, rows, n);
                audit_rows_free(rows, n);
        }
        return r;
}

/* ---- reading the trail (`berthd audit` and the management API) ---- */

static const char SQL_AUDIT_LIST[] =
        "SELECT id, ts, \"user\", client, action, repo, detail FROM auth_audit"
        " WHERE id < ?1 AND ts >= ?2 AND ts <= ?3"
        " AND (CAST(?4 AS TEXT) IS NULL OR \"user\" = ?4)"
        " AND (CAST(?5 AS TEXT) IS NULL OR repo = ?5)"
        " AND (CAST(?6 AS TEXT) IS NULL OR action = ?6)"
        " AND (CAST(?7 AS TEXT) IS NULL OR repo = ?7 OR (repo >= ?8 AND repo < ?9))"
        " ORDER BY id DESC LIMIT ?10";

int auth_audit_list(auth_t *a, const auth_audit_filter_t *f,
                    int (*each)(const auth_audit_row_t *row, void *userdata), void *userdata) {
        char *lo = NULL, *hi = NULL;
        auth_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !f || !each)
                return -EINVAL;
        /* rows still in memory are part of the trail */
        (void) auth_audit_flush(a);
        if (f->project && (asprintf(&lo, "%s/", f->project) < 0 || asprintf(&hi, "%s0", f->project) < 0)) {
                free(lo);
                return -ENOMEM;
        }
        if ((r = auth_conn_get(a, &c)) < 0)
                goto out;
        if ((r = db_stmt(c, SQL_AUDIT_LIST, &st)) < 0)
                goto out;
        if ((r = db_bind_int(st, 1, f->before_id > 0 ? f->before_id : INT64_MAX)) < 0 ||
            (r = db_bind_int(st, 2, f->since)) < 0 || (r = db_bind_int(st, 3, f->until > 0 ? f->until : INT64_MAX)) < 0 ||
            (r = db_bind_text(st, 4, f->user)) < 0 || (r = db_bind_text(st, 5, f->repo)) < 0 ||
            (r = db_bind_text(st, 6, f->action)) < 0 || (r = db_bind_text(st, 7, f->project)) < 0 ||
            (r = db_bind_text(st, 8, lo)) < 0 || (r = db_bind_text(st, 9, hi)) < 0 ||
            (r = db_bind_int(st, 10, f->limit ? (int64_t) f->limit : INT64_MAX)) < 0)
                goto out;
        while ((r = db_step(st)) == 1) {
                auth_audit_row_t row = {
                        .id = db_col_int(st, 0),
                        .ts = db_col_int(st, 1),
                        .user = db_col_text(st, 2),
                        .client = db_col_text(st, 3),
                        .action = db_col_text(st, 4),
                        .repo = db_col_text(st, 5),
                        .detail = db_col_text(st, 6),
                };
                if ((r = each(&row, userdata)) != 0)
                        break;
        }
out:
        db_stmt_reset(st);
        if (c)
                auth_conn_put(a, c);
        free(lo);
        free(hi);
        return r;
}
