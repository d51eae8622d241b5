/* auth/audit.c: the audit trail. Rows are batched in memory and written by a
 * thread of their own within about a second, in one transaction per batch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"

/* ---- audit writer ---- */

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
        static const char sql[] =
                "INSERT INTO auth_audit(ts, \"user\", client, action, repo, detail) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        auth_conn_t *c = NULL;
        int r;

        if (n == 0)
                return 0;
        r = auth_conn_get(a, &c);
        if (r < 0)
                return r;
        r = auth_tx_begin(c);
        if (r < 0)
                goto out;
        /* the transaction's first failure is sticky: the rest are no-ops and
         * commit returns it */
        for (size_t i = 0; i < n && db_tx_error(c) == 0; i++) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if (db_tx_fail(c, db_stmt(c, sql, &st)) < 0)
                        break;
                (void) db_bind_int(st, 1, rows[i].ts);
                (void) db_bind_text(st, 2, rows[i].user);
                (void) db_bind_text(st, 3, rows[i].client);
                (void) db_bind_text(st, 4, rows[i].action);
                (void) db_bind_text(st, 5, rows[i].repo);
                (void) db_bind_text(st, 6, rows[i].detail);
                (void) db_step_done(st);
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
        return rows;
}

int auth_audit_flush(auth_t *a) {
        audit_row_t *rows;
        size_t n;
        int r;

        if (!a)
                return -EINVAL;
        pthread_mutex_lock(&a->audit_lock);
        rows = audit_take(a, &n);
        pthread_mutex_unlock(&a->audit_lock);
        r = audit_write(a, rows, n);
        audit_rows_free(rows, n);
        return r;
}

static void *audit_thread_main(void *arg) {
        auth_t *a = arg;
        audit_row_t *rows;
        size_t n;

        pthread_mutex_lock(&a->audit_lock);
        while (!a->audit_stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                (void) pthread_cond_timedwait(&a->audit_cond, &a->audit_lock, &ts);
                if (a->n_audit == 0)
                        continue;
                rows = audit_take(a, &n);
                pthread_mutex_unlock(&a->audit_lock);
                (void) audit_write(a, rows, n); /* best effort: a lost batch is not fatal */
                audit_rows_free(rows, n);
                pthread_mutex_lock(&a->audit_lock);
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
        if (!a->audit_rows) {
                a->audit_rows = calloc(AUDIT_BATCH, sizeof(audit_row_t));
                if (!a->audit_rows) {
                        pthread_mutex_unlock(&a->audit_lock);
                        free(row.user), free(row.client), free(row.action), free(row.repo),
                                free(row.detail);
                        return -ENOMEM;
                }
        }
        if (a->n_audit == 0)
                a->audit_oldest = row.ts;
        a->audit_rows[a->n_audit++] = row;
        if (a->n_audit >= AUDIT_BATCH)
                rows = audit_take(a, &n); /* full: this caller writes the batch */
        else if (!a->audit_thread_started && !a->audit_stop) {
                if (pthread_create(&a->audit_thread, NULL, audit_thread_main, a) == 0)
                        a->audit_thread_started = true;
        }
        pthread_mutex_unlock(&a->audit_lock);
        if (rows) {
                r = audit_write(a, rows, n);
                audit_rows_free(rows, n);
        }
        return r;
}
