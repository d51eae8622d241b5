/* storage/webhook.c: webhook targets, the delivery queue and log (see webhook.h).
 * Every statement is written once for both engines; nothing is spliced. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/webhook.h"

enum {
        ST_WANTED,
        ST_ANY,
        ST_ENQUEUE,
        ST_ADD,
        ST_DEL,
        ST_EXISTS,
        ST_LIST,
        ST_DUE,
        ST_CLAIM,
        ST_CLAIMED,
        ST_DONE,
        ST_NEXT_READY,
        ST_RETRY,
        ST_HOLD_TARGET,
        ST_RELEASE,
        ST_RESET,
        ST_LOG_ADD,
        ST_LOG_TRIM,
        ST_LOG_LIST,
        ST_DEPTH,
        ST_GET,
        ST_UPDATE,
        ST_LOG_PAGE,
        ST_PING,
        _ST_MAX,
};

static const char *const SQL[_ST_MAX] = {
        [ST_WANTED] = "SELECT 1 FROM webhooks WHERE project IN (?1, '*') AND (events & ?2) <> 0"
                      " AND (events & " WEBHOOK_DISABLED_SQL ") = 0 LIMIT 1",
        [ST_ANY] = "SELECT 1 FROM webhooks WHERE (events & ?1) <> 0 AND (events & " WEBHOOK_DISABLED_SQL ") = 0"
                   " LIMIT 1",
        /* one row per webhook that wants the event, keys past the largest in order;
         * ready when its webhook has nothing pending for the repository */
        [ST_ENQUEUE] = "INSERT INTO webhook_queue(id, webhook_id, event_id, type, repository, body, created, ready,"
                       " attempts, next_attempt, claimed_until)"
                       " SELECT (SELECT coalesce(max(id), 0) FROM webhook_queue) + row_number() OVER (ORDER BY w.id),"
                       " w.id, CAST(?3 AS TEXT), CAST(?4 AS TEXT), CAST(?5 AS TEXT), CAST(?6 AS TEXT),"
                       " CAST(?7 AS BIGINT),"
                       " CASE WHEN EXISTS (SELECT 1 FROM webhook_queue q WHERE q.webhook_id = w.id"
                       "  AND q.repository = ?5) THEN 0 ELSE 1 END,"
                       " 0, CAST(?7 AS BIGINT), 0"
                       " FROM webhooks w WHERE w.project IN (?1, '*') AND (w.events & ?2) <> 0"
                       " AND (w.events & " WEBHOOK_DISABLED_SQL ") = 0",
        [ST_ADD] = "INSERT INTO webhooks(id, project, url, events, secret, created)"
                   " VALUES ((SELECT coalesce(max(id), 0) + 1 FROM webhooks), ?1, ?2, ?3, ?4, ?5) RETURNING id",
        /* its queue and log go with it (ON DELETE CASCADE) */
        [ST_DEL] = "DELETE FROM webhooks WHERE id = ?1",
        [ST_EXISTS] = "SELECT 1 FROM webhooks WHERE id = ?1",
        [ST_LIST] = "SELECT id, project, url, events, secret IS NOT NULL, created FROM webhooks"
                    " WHERE CAST(?1 AS TEXT) IS NULL OR project = ?1 ORDER BY id",
        [ST_DUE] = "SELECT id FROM webhook_queue WHERE ready = 1 AND next_attempt <= ?1 AND claimed_until <= ?1"
                   " ORDER BY next_attempt, id LIMIT 8",
        /* the claim: the row update itself, only while it is due and nobody holds
         * it (again: another sender may have tried it since it was read) */
        [ST_CLAIM] = "UPDATE webhook_queue SET claimed_until = ?2"
                     " WHERE id = ?1 AND ready = 1 AND next_attempt <= ?3 AND claimed_until <= ?3",
        [ST_CLAIMED] = "SELECT q.webhook_id, q.created, q.attempts, q.event_id, q.type, q.repository, q.body,"
                       " w.url, w.secret FROM webhook_queue q JOIN webhooks w ON w.id = q.webhook_id"
                       " WHERE q.id = ?1",
        [ST_DONE] = "DELETE FROM webhook_queue WHERE id = ?1 AND claimed_until = ?2",
        [ST_NEXT_READY] = "UPDATE webhook_queue SET ready = 1 WHERE id ="
                          " (SELECT min(id) FROM webhook_queue WHERE webhook_id = ?1 AND repository = ?2)",
        [ST_RETRY] = "UPDATE webhook_queue SET attempts = attempts + 1, next_attempt = ?3, claimed_until = 0"
                     " WHERE id = ?1 AND claimed_until = ?2",
        /* the target failed: its other ready deliveries wait as long (never sooner
         * than they would), unless another sender holds one */
        [ST_HOLD_TARGET] = "UPDATE webhook_queue SET next_attempt = ?2"
                           " WHERE webhook_id = ?1 AND ready = 1 AND next_attempt < ?2 AND claimed_until <= ?3",
        [ST_RELEASE] = "UPDATE webhook_queue SET claimed_until = 0 WHERE id = ?1 AND claimed_until = ?2",
        [ST_RESET] = "UPDATE webhook_queue SET claimed_until = 0 WHERE claimed_until <> 0",
        [ST_LOG_ADD] = "INSERT INTO webhook_log(id, webhook_id, ts, event_id, type, attempt, status, latency_ms,"
                       " result, error)"
                       " VALUES ((SELECT coalesce(max(id), 0) + 1 FROM webhook_log), ?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                       " ?8, ?9)",
        [ST_LOG_TRIM] = "DELETE FROM webhook_log WHERE webhook_id = ?1 AND id <="
                        " (SELECT id FROM webhook_log WHERE webhook_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        [ST_LOG_LIST] = "SELECT ts, event_id, type, attempt, status, latency_ms, result, error FROM"
                        " (SELECT * FROM webhook_log WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2) AS recent"
                        " ORDER BY id",
        [ST_DEPTH] = "SELECT count(*) FROM webhook_queue",
        [ST_GET] = "SELECT id, project, url, events, secret IS NOT NULL, created FROM webhooks WHERE id = ?1",
        /* ?4: 1 keep the secret, 0 set it to ?5 (NULL: none) */
        [ST_UPDATE] = "UPDATE webhooks SET url = ?2, events = ?3, secret = CASE WHEN ?4 = 1 THEN secret ELSE ?5 END"
                      " WHERE id = ?1",
        /* newest first, below the key ?2 (0: from the newest) */
        [ST_LOG_PAGE] = "SELECT id, ts, event_id, type, attempt, status, latency_ms, result, error FROM webhook_log"
                        " WHERE webhook_id = ?1 AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
        /* a test event for one webhook, enabled or not, ordered as its others */
        [ST_PING] = "INSERT INTO webhook_queue(id, webhook_id, event_id, type, repository, body, created, ready,"
                    " attempts, next_attempt, claimed_until)"
                    " SELECT (SELECT coalesce(max(id), 0) + 1 FROM webhook_queue), w.id, CAST(?2 AS TEXT),"
                    " CAST(?3 AS TEXT), CAST(?4 AS TEXT), CAST(?5 AS TEXT), CAST(?6 AS BIGINT),"
                    " CASE WHEN EXISTS (SELECT 1 FROM webhook_queue q WHERE q.webhook_id = w.id"
                    "  AND q.repository = ?4) THEN 0 ELSE 1 END,"
                    " 0, CAST(?6 AS BIGINT), 0 FROM webhooks w WHERE w.id = ?1",
};

static const struct {
        unsigned bit;
        const char *name, *type;
} EVENTS[] = {
        { WEBHOOK_PUSH, "push", "io.berth.push" },
        { WEBHOOK_DELETE, "delete", "io.berth.delete" },
        { WEBHOOK_PULL, "pull", "io.berth.pull" },
        { WEBHOOK_QUOTA, "quota", "io.berth.quota" },
};

int webhook_prepare(db_conn_t *c) {
        int r = 0;

        for (int i = 0; r >= 0 && i < _ST_MAX; i++) {
                db_stmt_t *st;
                r = db_stmt(c, SQL[i], &st);
        }
        return r;
}

/* ---- event types ---- */

int webhook_events_parse(const char *list, unsigned *ret) {
        unsigned mask = 0;
        const char *p = list;

        if (!list || !*list || !ret)
                return -EINVAL;
        for (;;) {
                size_t n = strcspn(p, ",");
                unsigned bit = 0;

                if (n == 3 && strncmp(p, "all", 3) == 0)
                        bit = WEBHOOK_ALL;
                for (size_t i = 0; !bit && i < ELEMENTSOF(EVENTS); i++)
                        if (strlen(EVENTS[i].name) == n && strncmp(p, EVENTS[i].name, n) == 0)
                                bit = EVENTS[i].bit;
                if (!bit || (mask & bit))
                        return -EINVAL; /* unknown, empty, or named twice */
                mask |= bit;
                if (!p[n])
                        break;
                p += n + 1;
        }
        *ret = mask;
        return 0;
}

void webhook_events_format(unsigned mask, char *buf, size_t size) {
        size_t len = 0;

        if (!buf || size == 0)
                return;
        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(EVENTS); i++) {
                int n;
                if (!(mask & EVENTS[i].bit))
                        continue;
                n = snprintf(buf + len, size - len, "%s%s", len ? "," : "", EVENTS[i].name);
                if (n < 0 || (size_t) n >= size - len)
                        return;
                len += (size_t) n;
        }
}

const char *webhook_event_type(unsigned type) {
        for (size_t i = 0; i < ELEMENTSOF(EVENTS); i++)
                if (EVENTS[i].bit == type)
                        return EVENTS[i].type;
        return NULL;
}

/* ---- events ---- */

int webhook_event_id(char *buf, size_t size) {
        uint8_t b[16];

        if (!buf || size < WEBHOOK_EVENT_ID_LEN + 1)
                return -EINVAL;
        if (RAND_bytes(b, sizeof(b)) != 1)
                return BERTH_ECRYPTO;
        b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80); /* variant 10 */
        (void) snprintf(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                        b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                        b[15]);
        return 0;
}

int webhook_project_of(const char *repository, char *buf, size_t size) {
        size_t n;

        if (!repository || !buf)
                return -EINVAL;
        n = strcspn(repository, "/");
        if (n == 0 || n >= size)
                return -EINVAL;
        memcpy(buf, repository, n);
        buf[n] = '\0';
        return 0;
}

/* A string member when v is set. Text that is not UTF-8 (jansson refuses to write
 * it): BERTH_EJSON. */
static int set_str(json_t *o, const char *key, const char *v) {
        json_t *j;

        if (!v)
                return 0;
        j = json_string(v);
        if (!j)
                return BERTH_EJSON;
        return json_object_set_new(o, key, j) == 0 ? 0 : -ENOMEM;
}

static int set_int(json_t *o, const char *key, uint64_t v) {
        return json_object_set_new(o, key, json_integer((json_int_t) v)) == 0 ? 0 : -ENOMEM;
}

/* A quota event's data: where, which state, the figures, who. */
static int quota_data(json_t *data, const webhook_event_t *ev) {
        int r;

        if ((r = set_str(data, "repository", ev->repository)) < 0 || (r = set_str(data, "project", ev->project)) < 0 ||
            (r = set_str(data, "state", ev->quota_state)) < 0 || (r = set_int(data, "usage", ev->usage)) < 0 ||
            (r = set_int(data, "quota", ev->quota)) < 0 || (r = set_str(data, "digest", ev->digest)) < 0 ||
            (r = set_str(data, "actor", ev->actor)) < 0 || (r = set_str(data, "address", ev->address)) < 0)
                return r;
        return 0;
}

int webhook_event_json(const webhook_event_t *ev, const char *id, char **ret) {
        const char *type = ev ? webhook_event_type(ev->type) : NULL;
        json_t *root = NULL, *data = NULL;
        char when[32], source[300];
        struct tm tm;
        time_t t;
        char *out;
        int r = -ENOMEM;

        if (!type || !id || !ret || !ev->repository || (!ev->digest && ev->type != WEBHOOK_QUOTA) ||
            (ev->type == WEBHOOK_QUOTA && (!ev->project || !ev->quota_state)))
                return -EINVAL;
        if (ev->size > (uint64_t) INT64_MAX || ev->count > (uint64_t) INT64_MAX || ev->usage > (uint64_t) INT64_MAX ||
            ev->quota > (uint64_t) INT64_MAX)
                return -EOVERFLOW;
        t = (time_t) ev->time;
        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        if (snprintf(source, sizeof(source), "/v2/%s", ev->repository) >= (int) sizeof(source))
                return -EINVAL;
        data = json_object();
        if (!data)
                return -ENOMEM;
        if (ev->type == WEBHOOK_QUOTA) {
                r = quota_data(data, ev);
                if (r < 0)
                        goto out;
        } else if ((r = set_str(data, "repository", ev->repository)) < 0 || (r = set_str(data, "tag", ev->tag)) < 0 ||
            (r = set_str(data, "digest", ev->digest)) < 0 || (r = set_str(data, "mediaType", ev->media_type)) < 0 ||
            (r = json_object_set_new(data, "size", json_integer((json_int_t) ev->size)) < 0 ? -ENOMEM : 0) < 0 ||
            (r = set_str(data, "actor", ev->actor)) < 0 || (r = set_str(data, "address", ev->address)) < 0 ||
            (r = ev->type == WEBHOOK_PULL &&
                         json_object_set_new(data, "count", json_integer((json_int_t) ev->count)) < 0
                         ? -ENOMEM
                         : 0) < 0)
                goto out;
        r = -ENOMEM;
        root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "specversion", "1.0", "id", id, "source",
                         source, "type", type, "subject", ev->repository, "time", when, "datacontenttype",
                         "application/json", "data", data);
        if (!root) {
                r = BERTH_EJSON;
                goto out;
        }
        out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!out)
                goto out;
        *ret = out;
        r = 0;
out:
        json_decref(data);
        json_decref(root);
        return r;
}

int webhook_wanted(db_conn_t *c, const char *repository, unsigned type) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        char project[256];
        int r;

        if (!c)
                return -EINVAL;
        if (webhook_project_of(repository, project, sizeof(project)) < 0)
                return 0; /* no namespace: no webhook of one; a global one needs a name too */
        if ((r = db_stmt(c, SQL[ST_WANTED], &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 ||
            (r = db_bind_int(st, 2, type)) < 0)
                return r;
        return db_step(st);
}

int webhook_any(db_conn_t *c, unsigned type) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_ANY], &st)) < 0 || (r = db_bind_int(st, 1, type)) < 0)
                return r;
        return db_step(st);
}

int webhook_enqueue(db_conn_t *c, const webhook_event_t *ev, unsigned *ret_queued) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        _cleanup_free_ char *body = NULL;
        char id[WEBHOOK_EVENT_ID_LEN + 1], project[256];
        int r;

        if (!c || !ev || webhook_project_of(ev->repository, project, sizeof(project)) < 0)
                return -EINVAL;
        if ((r = db_tx_error(c)) < 0)
                return r;
        if ((r = webhook_event_id(id, sizeof(id))) < 0 || (r = webhook_event_json(ev, id, &body)) < 0)
                return db_tx_fail(c, r);
        if ((r = db_stmt(c, SQL[ST_ENQUEUE], &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0 ||
            (r = db_bind_int(st, 2, ev->type)) < 0 || (r = db_bind_text(st, 3, id)) < 0 ||
            (r = db_bind_text(st, 4, webhook_event_type(ev->type))) < 0 ||
            (r = db_bind_text(st, 5, ev->repository)) < 0 || (r = db_bind_text(st, 6, body)) < 0 ||
            (r = db_bind_int(st, 7, ev->time)) < 0 || (r = db_step_done(st)) < 0)
                return db_tx_fail(c, r);
        if (ret_queued)
                *ret_queued += (unsigned) db_changes(c);
        return 0;
}

/* ---- targets ---- */

struct add_args {
        const char *project, *url;
        unsigned events;
        const uint8_t *sealed;
        size_t sealed_len;
        int64_t now, id;
};

static int add_fn(db_conn_t *c, void *arg) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        struct add_args *a = arg;
        int r;

        if ((r = db_stmt(c, SQL[ST_ADD], &st)) < 0 || (r = db_bind_text(st, 1, a->project)) < 0 ||
            (r = db_bind_text(st, 2, a->url)) < 0 || (r = db_bind_int(st, 3, a->events)) < 0 ||
            (r = a->sealed ? db_bind_blob(st, 4, a->sealed, a->sealed_len) : db_bind_null(st, 4)) < 0 ||
            (r = db_bind_int(st, 5, a->now)) < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return BERTH_EDB; /* RETURNING answers a row */
        a->id = db_col_int(st, 0);
        return 0;
}

int webhook_add(db_conn_t *c, const char *project, const char *url, unsigned events, const uint8_t *sealed,
                size_t sealed_len, int64_t now, int64_t *ret_id) {
        struct add_args a = { .project = project, .url = url, .events = events, .sealed = sealed,
                              .sealed_len = sealed_len, .now = now };
        int r;

        if (!c || !project || !*project || !url || !*url || strlen(url) > WEBHOOK_URL_MAX || !events ||
            (events & ~(unsigned) WEBHOOK_ALL))
                return -EINVAL;
        r = db_tx_run(c, add_fn, &a);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = a.id;
        return 0;
}

static int del_fn(db_conn_t *c, void *arg) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if ((r = db_stmt(c, SQL[ST_DEL], &st)) < 0 || (r = db_bind_int(st, 1, *(int64_t *) arg)) < 0 ||
            (r = db_step_done(st)) < 0)
                return r;
        return db_changes(c) > 0;
}

int webhook_del(db_conn_t *c, int64_t id) {
        if (!c)
                return -EINVAL;
        return db_tx_run(c, del_fn, &id);
}

int webhook_exists(db_conn_t *c, int64_t id) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_EXISTS], &st)) < 0 || (r = db_bind_int(st, 1, id)) < 0)
                return r;
        return db_step(st);
}

int webhook_list(db_conn_t *c, const char *project, int (*each)(const webhook_info_t *w, void *userdata),
                 void *userdata) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !each)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_LIST], &st)) < 0 || (r = db_bind_text(st, 1, project)) < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                webhook_info_t w = {
                        .id = db_col_int(st, 0),
                        .project = db_col_text(st, 1),
                        .url = db_col_text(st, 2),
                        .events = (unsigned) db_col_int(st, 3) & WEBHOOK_ALL,
                        .enabled = !((unsigned) db_col_int(st, 3) & WEBHOOK_DISABLED),
                        .has_secret = db_col_int(st, 4) != 0,
                        .created = db_col_int(st, 5),
                };
                if (!w.project || !w.url)
                        return -ENOMEM;
                r = each(&w, userdata);
                if (r != 0)
                        return r;
        }
        return r;
}

int webhook_get(db_conn_t *c, int64_t id, webhook_record_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        if ((r = db_stmt(c, SQL[ST_GET], &st)) < 0 || (r = db_bind_int(st, 1, id)) < 0)
                return r;
        if ((r = db_step(st)) <= 0)
                return r;
        ret->info.id = db_col_int(st, 0);
        ret->info.events = (unsigned) db_col_int(st, 3) & WEBHOOK_ALL;
        ret->info.enabled = !((unsigned) db_col_int(st, 3) & WEBHOOK_DISABLED);
        ret->info.has_secret = db_col_int(st, 4) != 0;
        ret->info.created = db_col_int(st, 5);
        ret->project = db_col_text(st, 1) ? strdup(db_col_text(st, 1)) : NULL;
        ret->url = db_col_text(st, 2) ? strdup(db_col_text(st, 2)) : NULL;
        if (!ret->project || !ret->url) {
                webhook_record_done(ret);
                return -ENOMEM;
        }
        ret->info.project = ret->project;
        ret->info.url = ret->url;
        return 1;
}

void webhook_record_done(webhook_record_t *w) {
        if (!w)
                return;
        free(w->project);
        free(w->url);
        memset(w, 0, sizeof(*w));
}

struct update_args {
        int64_t id;
        const char *url;
        unsigned events;
        bool enabled, keep_secret;
        const uint8_t *sealed;
        size_t sealed_len;
};

static int update_fn(db_conn_t *c, void *arg) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        struct update_args *a = arg;
        int r;

        if ((r = db_stmt(c, SQL[ST_UPDATE], &st)) < 0 || (r = db_bind_int(st, 1, a->id)) < 0 ||
            (r = db_bind_text(st, 2, a->url)) < 0 ||
            (r = db_bind_int(st, 3, a->events | (a->enabled ? 0 : WEBHOOK_DISABLED))) < 0 ||
            (r = db_bind_int(st, 4, a->keep_secret ? 1 : 0)) < 0 ||
            (r = a->sealed ? db_bind_blob(st, 5, a->sealed, a->sealed_len) : db_bind_null(st, 5)) < 0 ||
            (r = db_step_done(st)) < 0)
                return r;
        return db_changes(c) > 0;
}

int webhook_update(db_conn_t *c, int64_t id, const char *url, unsigned events, bool enabled, bool keep_secret,
                   const uint8_t *sealed, size_t sealed_len) {
        struct update_args a = { .id = id, .url = url, .events = events, .enabled = enabled,
                                 .keep_secret = keep_secret, .sealed = sealed, .sealed_len = sealed_len };

        if (!c || !url || !*url || strlen(url) > WEBHOOK_URL_MAX || !events || (events & ~(unsigned) WEBHOOK_ALL))
                return -EINVAL;
        return db_tx_run(c, update_fn, &a);
}

struct ping_args {
        int64_t id, now;
        const char *event_id, *body;
};

static int ping_fn(db_conn_t *c, void *arg) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        struct ping_args *a = arg;
        int r;

        if ((r = db_stmt(c, SQL[ST_PING], &st)) < 0 || (r = db_bind_int(st, 1, a->id)) < 0 ||
            (r = db_bind_text(st, 2, a->event_id)) < 0 || (r = db_bind_text(st, 3, WEBHOOK_PING_TYPE)) < 0 ||
            (r = db_bind_text(st, 4, "")) < 0 || (r = db_bind_text(st, 5, a->body)) < 0 ||
            (r = db_bind_int(st, 6, a->now)) < 0 || (r = db_step_done(st)) < 0)
                return r;
        return db_changes(c) > 0;
}

int webhook_ping(db_conn_t *c, int64_t id, int64_t now, char *event_id, size_t size) {
        struct ping_args a = { .id = id, .now = now };
        _cleanup_free_ char *body = NULL;
        char when[32], source[64];
        time_t t = (time_t) now;
        struct tm tm;
        json_t *root;
        int r;

        if (!c || !event_id || size < WEBHOOK_EVENT_ID_LEN + 1)
                return -EINVAL;
        if ((r = webhook_event_id(event_id, size)) < 0)
                return r;
        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        (void) snprintf(source, sizeof(source), "/api/v1/webhooks/%lld", (long long) id);
        root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I}}", "specversion", "1.0", "id", event_id, "source",
                         source, "type", WEBHOOK_PING_TYPE, "time", when, "datacontenttype", "application/json",
                         "data", "webhook", (json_int_t) id);
        if (!root)
                return -ENOMEM;
        body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(root);
        if (!body)
                return -ENOMEM;
        a.event_id = event_id;
        a.body = body;
        return db_tx_run(c, ping_fn, &a);
}

/* ---- delivery ---- */

void webhook_delivery_done(webhook_delivery_t *d) {
        if (!d)
                return;
        free(d->event_id);
        free(d->type);
        free(d->repository);
        free(d->body);
        free(d->url);
        if (d->secret)
                OPENSSL_cleanse(d->secret, d->secret_len);
        free(d->secret);
        memset(d, 0, sizeof(*d));
}

/* The claimed row and its webhook into d (inside the claim's transaction). */
static int load_claimed(db_conn_t *c, int64_t id, webhook_delivery_t *d) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        const void *p;
        size_t len = 0;
        int r;

        if ((r = db_stmt(c, SQL[ST_CLAIMED], &st)) < 0 || (r = db_bind_int(st, 1, id)) < 0)
                return r;
        r = db_step(st);
        if (r <= 0)
                return r < 0 ? r : BERTH_EDB;
        d->id = id;
        d->webhook_id = db_col_int(st, 0);
        d->created = db_col_int(st, 1);
        d->attempts = db_col_int(st, 2);
        if ((r = db_col_strdup(st, 3, &d->event_id)) < 0 || (r = db_col_strdup(st, 4, &d->type)) < 0 ||
            (r = db_col_strdup(st, 5, &d->repository)) < 0 || (r = db_col_strdup(st, 6, &d->body)) < 0 ||
            (r = db_col_strdup(st, 7, &d->url)) < 0)
                return r;
        if (!d->event_id || !d->type || !d->repository || !d->body || !d->url)
                return BERTH_EDB;
        if (!db_col_null(st, 8)) {
                p = db_col_blob(st, 8, &len);
                d->secret = malloc(len ? len : 1);
                if (!d->secret)
                        return -ENOMEM;
                if (len)
                        memcpy(d->secret, p, len);
                d->secret_len = len;
        }
        return 0;
}

/* One candidate: 1 claimed (and loaded), 0 another sender was first, <0. */
static int claim_one(db_conn_t *c, int64_t id, int64_t now, int64_t lease_until, webhook_delivery_t *ret) {
        webhook_delivery_t d = { .lease = lease_until };
        int r, k;

        r = db_tx_begin(c);
        if (r < 0)
                return r;
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_CLAIM], &st)) >= 0 && (r = db_bind_int(st, 1, id)) >= 0 &&
                    (r = db_bind_int(st, 2, lease_until)) >= 0 && (r = db_bind_int(st, 3, now)) >= 0)
                        r = db_step_done(st);
        }
        if (r >= 0 && db_changes(c) == 0) {
                db_tx_rollback(c);
                return 0;
        }
        if (r >= 0)
                r = load_claimed(c, id, &d);
        if (r < 0) {
                db_tx_rollback(c);
                webhook_delivery_done(&d);
                return r;
        }
        k = db_tx_commit(c);
        if (k < 0) {
                webhook_delivery_done(&d);
                return k;
        }
        *ret = d;
        return 1;
}

int webhook_claim(db_conn_t *c, int64_t now, int64_t lease_until, webhook_delivery_t *ret) {
        int64_t ids[8];
        size_t n = 0;
        int r;

        if (!c || !ret || lease_until <= now)
                return -EINVAL;
        /* candidates read without the write lock; each claimed under it */
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_DUE], &st)) < 0 || (r = db_bind_int(st, 1, now)) < 0)
                        return r;
                while (n < ELEMENTSOF(ids) && (r = db_step(st)) == 1)
                        ids[n++] = db_col_int(st, 0);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                r = claim_one(c, ids[i], now, lease_until, ret);
                if (r != 0)
                        return r;
        }
        return 0;
}

struct record_args {
        const webhook_delivery_t *d;
        const webhook_outcome_t *o;
        int64_t now;
};

static const char *result_name(webhook_result_t r) {
        return r == WEBHOOK_SUCCESS ? "success" : r == WEBHOOK_GAVEUP ? "gaveup" : "failure";
}

static int record_fn(db_conn_t *c, void *arg) {
        const struct record_args *a = arg;
        const webhook_delivery_t *d = a->d;
        const webhook_outcome_t *o = a->o;
        char error[256];
        int r;

        if (o->result == WEBHOOK_FAILURE) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_RETRY], &st)) < 0 || (r = db_bind_int(st, 1, d->id)) < 0 ||
                    (r = db_bind_int(st, 2, d->lease)) < 0 || (r = db_bind_int(st, 3, o->next_attempt)) < 0 ||
                    (r = db_step_done(st)) < 0)
                        return r;
        } else {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_DONE], &st)) < 0 || (r = db_bind_int(st, 1, d->id)) < 0 ||
                    (r = db_bind_int(st, 2, d->lease)) < 0 || (r = db_step_done(st)) < 0)
                        return r;
        }
        if (db_changes(c) == 0)
                return 0; /* not ours any more: the caller rolls back */
        if (o->result != WEBHOOK_FAILURE) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_NEXT_READY], &st)) < 0 || (r = db_bind_int(st, 1, d->webhook_id)) < 0 ||
                    (r = db_bind_text(st, 2, d->repository)) < 0 || (r = db_step_done(st)) < 0)
                        return r;
        } else if (o->target_down) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_HOLD_TARGET], &st)) < 0 || (r = db_bind_int(st, 1, d->webhook_id)) < 0 ||
                    (r = db_bind_int(st, 2, o->next_attempt)) < 0 || (r = db_bind_int(st, 3, a->now)) < 0 ||
                    (r = db_step_done(st)) < 0)
                        return r;
        }
        (void) snprintf(error, sizeof(error), "%s", o->error ? o->error : "");
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_LOG_ADD], &st)) < 0 || (r = db_bind_int(st, 1, d->webhook_id)) < 0 ||
                    (r = db_bind_int(st, 2, a->now)) < 0 || (r = db_bind_text(st, 3, d->event_id)) < 0 ||
                    (r = db_bind_text(st, 4, d->type)) < 0 || (r = db_bind_int(st, 5, d->attempts + 1)) < 0 ||
                    (r = db_bind_int(st, 6, o->status)) < 0 || (r = db_bind_int(st, 7, o->latency_ms)) < 0 ||
                    (r = db_bind_text(st, 8, result_name(o->result))) < 0 ||
                    (r = db_bind_text(st, 9, o->error ? error : NULL)) < 0 || (r = db_step_done(st)) < 0)
                        return r;
        }
        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                if ((r = db_stmt(c, SQL[ST_LOG_TRIM], &st)) < 0 || (r = db_bind_int(st, 1, d->webhook_id)) < 0 ||
                    (r = db_bind_int(st, 2, WEBHOOK_LOG_KEEP)) < 0 || (r = db_step_done(st)) < 0)
                        return r;
        }
        return 1;
}

int webhook_record(db_conn_t *c, const webhook_delivery_t *d, int64_t now, const webhook_outcome_t *o) {
        struct record_args a = { .d = d, .o = o, .now = now };
        int r, k;

        if (!c || !d || !o || !d->event_id || !d->type || !d->repository)
                return -EINVAL;
        r = db_tx_begin(c);
        if (r < 0)
                return r;
        r = record_fn(c, &a);
        if (r <= 0) {
                db_tx_rollback(c);
                return r;
        }
        k = db_tx_commit(c);
        return k < 0 ? k : 1;
}

static int release_fn(db_conn_t *c, void *arg) {
        const webhook_delivery_t *d = arg;
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if ((r = db_stmt(c, SQL[ST_RELEASE], &st)) < 0 || (r = db_bind_int(st, 1, d->id)) < 0 ||
            (r = db_bind_int(st, 2, d->lease)) < 0)
                return r;
        return db_step_done(st);
}

int webhook_release(db_conn_t *c, const webhook_delivery_t *d) {
        if (!c || !d)
                return -EINVAL;
        return db_tx_run(c, release_fn, (void *) d);
}

static int reset_fn(db_conn_t *c, void *arg) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        (void) arg;
        if ((r = db_stmt(c, SQL[ST_RESET], &st)) < 0)
                return r;
        return db_step_done(st);
}

int webhook_claims_reset(db_conn_t *c) {
        if (!c)
                return -EINVAL;
        return db_tx_run(c, reset_fn, NULL);
}

int webhook_queue_depth(db_conn_t *c, int64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !ret)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_DEPTH], &st)) < 0 || (r = db_step(st)) < 0)
                return r;
        if (r == 0)
                return BERTH_EDB;
        *ret = db_col_int(st, 0);
        return 0;
}

/* Each row of st to each: the log columns ts .. error from col on, and the log row's id in
 * column 0 when col is 1. */
static int log_rows(db_stmt_t *st, int col, int (*each)(const webhook_log_entry_t *e, void *userdata),
                    void *userdata) {
        int r;

        while ((r = db_step(st)) == 1) {
                webhook_log_entry_t e = {
                        .id = col > 0 ? db_col_int(st, 0) : 0,
                        .ts = db_col_int(st, col),
                        .event_id = db_col_text(st, col + 1),
                        .type = db_col_text(st, col + 2),
                        .attempt = db_col_int(st, col + 3),
                        .status = db_col_int(st, col + 4),
                        .latency_ms = db_col_int(st, col + 5),
                        .result = db_col_text(st, col + 6),
                        .error = db_col_text(st, col + 7),
                };
                if (!e.event_id || !e.type || !e.result)
                        return -ENOMEM;
                r = each(&e, userdata);
                if (r != 0)
                        return r;
        }
        return r;
}

int webhook_log_list(db_conn_t *c, int64_t id, int64_t limit,
                     int (*each)(const webhook_log_entry_t *e, void *userdata), void *userdata) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !each || limit < 1)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_LOG_LIST], &st)) < 0 || (r = db_bind_int(st, 1, id)) < 0 ||
            (r = db_bind_int(st, 2, limit)) < 0)
                return r;
        return log_rows(st, 0, each, userdata);
}

int webhook_log_page(db_conn_t *c, int64_t id, int64_t before, int64_t limit,
                     int (*each)(const webhook_log_entry_t *e, void *userdata), void *userdata) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        if (!c || !each || limit < 1 || before < 0)
                return -EINVAL;
        if ((r = db_stmt(c, SQL[ST_LOG_PAGE], &st)) < 0 || (r = db_bind_int(st, 1, id)) < 0 ||
            (r = db_bind_int(st, 2, before)) < 0 || (r = db_bind_int(st, 3, limit)) < 0)
                return r;
        return log_rows(st, 1, each, userdata);
}

int webhook_sign(const void *secret, size_t secret_len, const void *body, size_t body_len, char *buf,
                 size_t size) {
        static const char hex[] = "0123456789abcdef";
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if ((!secret && secret_len) || (!body && body_len) || !buf || size < WEBHOOK_SIGNATURE_LEN + 1 ||
            secret_len > INT32_MAX)
                return -EINVAL;
        if (!HMAC(EVP_sha256(), secret ? secret : "", (int) secret_len, body ? body : (const void *) "",
                  body_len, mac, &n) ||
            n != 32)
                return BERTH_ECRYPTO;
        memcpy(buf, "sha256=", 7);
        for (unsigned i = 0; i < n; i++) {
                buf[7 + 2 * i] = hex[mac[i] >> 4];
                buf[8 + 2 * i] = hex[mac[i] & 15];
        }
        buf[WEBHOOK_SIGNATURE_LEN] = '\0';
        OPENSSL_cleanse(mac, sizeof(mac));
        return 0;
}

/* ---- query plans (unit tests) ---- */

/* A plan line that scans a whole table or sorts: SQLite "SCAN t", "USE TEMP
 * B-TREE"; PostgreSQL "Seq Scan", a "Sort" node. */
static int plan_line(const char *d, void *userdata) {
        char *why = userdata;
        bool pg = why[0] == 'p';
        const char *node = d + strspn(d, " ->");

        if (pg ? strstr(d, "Seq Scan") || strncmp(node, "Sort ", 5) == 0 || strncmp(node, "Incremental Sort", 16) == 0
               : strncmp(d, "SCAN", 4) == 0 || strstr(d, "TEMP B-TREE") != NULL)
                (void) snprintf(why + 1, 255, "%s", node);
        return 0;
}

int webhook__plans_check(db_conn_t *c, bool pg, char *bad, size_t n) {
        static const int checked[] = { ST_WANTED, ST_DUE, ST_CLAIM, ST_CLAIMED, ST_DONE, ST_NEXT_READY,
                                       ST_RETRY, ST_HOLD_TARGET, ST_RELEASE, ST_LOG_TRIM, ST_EXISTS };

        if (!c)
                return -EINVAL;
        if (bad && n)
                bad[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(checked); i++) {
                char why[256] = { pg ? 'p' : 's', '\0' };
                int r = db_explain(c, SQL[checked[i]], plan_line, why);

                if (r < 0)
                        return r;
                if (why[1]) {
                        if (bad && n)
                                (void) snprintf(bad, n, "%s: %s", SQL[checked[i]], why + 1);
                        return 0;
                }
        }
        return 1;
}
