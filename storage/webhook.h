/* storage/webhook.h: webhooks in the metadata (storage/db.h): the targets, the
 * durable delivery queue and the delivery log. Knows nothing about HTTP: the
 * sender (server/webhook.c) claims a delivery here, posts it, and records the
 * outcome here.
 *
 * Events are queued in the transaction of the change they tell of (storage/meta.c
 * calls webhook_enqueue inside its own): a change that commits has its deliveries
 * committed with it, a change rolled back has none. One queue row per webhook that
 * wants the event, its body rendered once (CloudEvents 1.0, structured mode) with
 * an id of its own that every retry keeps (receivers deduplicate on it).
 *
 * Order: within one webhook and one repository, events are delivered in the order
 * they were queued. Only the oldest pending row of a (webhook, repository) is
 * "ready" to be claimed; once it is done (delivered or given up) the next becomes
 * ready. A claim is the row update itself (claimed_until, a lease in the future),
 * in a write transaction: two senders (threads, replicas) never hold one delivery
 * at once; a sender that dies leaves a lease that ends.
 *
 * Keys (webhooks.id, webhook_queue.id, webhook_log.id) are the largest plus one,
 * made inside the serialized write transaction (storage/db.h). */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "storage/db.h"

/* Event types: bits of webhooks.events. */
enum {
        WEBHOOK_PUSH = 1u << 0,   /* a manifest pushed (by tag: one event per tag) */
        WEBHOOK_DELETE = 1u << 1, /* a manifest or a tag deleted */
        WEBHOOK_PULL = 1u << 2,   /* manifests pulled: counts per repository and digest */
        WEBHOOK_QUOTA = 1u << 3,  /* a project's usage near its quota, or a push refused for it */
        WEBHOOK_ALL = (1u << 4) - 1,
        /* not an event: in webhooks.events, the webhook is disabled (kept, sent
         * nothing); the queries test it as WEBHOOK_DISABLED_SQL */
        WEBHOOK_DISABLED = 1u << 8,
};
#define WEBHOOK_DISABLED_SQL "256"
#define WEBHOOK_PING_TYPE "io.berth.ping" /* a test event (webhook_ping) */
#define WEBHOOK_DEFAULT_EVENTS (WEBHOOK_PUSH | WEBHOOK_DELETE)
#define WEBHOOK_GLOBAL "*"      /* the project of a webhook for every repository */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_LOG_KEEP 200    /* log rows kept per webhook, the newest */
#define WEBHOOK_EVENT_ID_LEN 36 /* a UUID */
#define WEBHOOK_SIGNATURE_LEN (7 + 64) /* "sha256=" and the hex HMAC */
#define WEBHOOK_SECRET_CONTEXT "berth webhook secret" /* secretbox context */

/* "push,delete,pull,quota" (any order, each once at most; "all"): 0 and *ret, or
 * -EINVAL naming nothing known. */
int webhook_events_parse(const char *list, unsigned *ret);
/* The names of the bits of mask, comma-separated, into buf ("" for none). */
void webhook_events_format(unsigned mask, char *buf, size_t size);
/* The CloudEvents type of one bit: "io.berth.push", ...; NULL for anything else. */
const char *webhook_event_type(unsigned type);

/* ---- events ---- */

typedef struct {
        unsigned type;          /* one WEBHOOK_* bit */
        const char *repository;
        const char *tag;        /* NULL: none (a push by digest, a delete by digest, pulls) */
        const char *digest;     /* the manifest's digest */
        const char *media_type; /* NULL: unknown */
        uint64_t size;          /* the manifest's size in bytes */
        const char *actor;      /* the user or robot; NULL: anonymous or not known */
        const char *address;    /* the client's address; NULL: not known */
        int64_t time;           /* unix seconds */
        uint64_t count;         /* pull: how many pulls this event counts; else 0 */
        /* quota (storage/usage.h): the project, "warning" or "exceeded", its usage and
         * quota in bytes; digest may be NULL (not known) */
        const char *project, *quota_state;
        uint64_t usage, quota;
} webhook_event_t;

/* A new event id (a random UUID, version 4) into buf (WEBHOOK_EVENT_ID_LEN + 1). */
int webhook_event_id(char *buf, size_t size);
/* The event as a CloudEvents 1.0 JSON object (structured mode): specversion, id,
 * source ("/v2/" and the repository), type, subject (the repository), time (RFC
 * 3339, UTC), datacontenttype, and data {repository, tag, digest, mediaType, size,
 * actor, address, count (pulls); quota events: project, state, usage, quota (bytes)
 * instead of tag, mediaType, size}; members without a value are left out. *ret
 * malloc'd, compact, UTF-8. */
int webhook_event_json(const webhook_event_t *ev, const char *id, char **ret);
/* The namespace of a repository (its first path component) into buf. */
int webhook_project_of(const char *repository, char *buf, size_t size);

/* Does any webhook want events of type for repository (its project's webhooks
 * and the global ones)? 1, 0, or <0. One index lookup: what a change asks before
 * it gathers what an event tells. */
int webhook_wanted(db_conn_t *c, const char *repository, unsigned type);
/* Does any webhook at all want type? 1, 0, <0. */
int webhook_any(db_conn_t *c, unsigned type);
/* Queues ev for every webhook that wants it, inside the caller's write transaction
 * (its sticky error applies). *ret_queued (if non-NULL) grows by the deliveries
 * queued. 0 or <0. */
int webhook_enqueue(db_conn_t *c, const webhook_event_t *ev, unsigned *ret_queued);

/* ---- targets ---- */

typedef struct {
        int64_t id;
        const char *project; /* WEBHOOK_GLOBAL for every repository */
        const char *url;
        unsigned events;
        bool enabled;
        bool has_secret;
        int64_t created;
} webhook_info_t;

/* A webhook id as written by a user (URL segment, command argument): decimal, no
 * sign, no leading zero, > 0. 0 and *ret, or -EINVAL. (Inline: fuzz-api takes it
 * without the store.) */
static inline int webhook_id_parse(const char *s, int64_t *ret) {
        char *end;
        long long v;

        if (!s || *s < '1' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || v < 1)
                return -EINVAL;
        *ret = v;
        return 0;
}
/* A new webhook: sealed (common/secretbox.h) may be NULL (no signature). Checks of
 * the URL and the project are the caller's. 0 and *ret_id, or <0. */
int webhook_add(db_conn_t *c, const char *project, const char *url, unsigned events, const uint8_t *sealed,
                size_t sealed_len, int64_t now, int64_t *ret_id);
/* 1 deleted (with its queue and log), 0 no such webhook, <0. */
int webhook_del(db_conn_t *c, int64_t id);
/* 1 exists, 0 not, <0. */
int webhook_exists(db_conn_t *c, int64_t id);
/* The webhooks of project (NULL: all), by id; each's non-zero return stops the
 * walk and is returned. */
int webhook_list(db_conn_t *c, const char *project, int (*each)(const webhook_info_t *w, void *userdata),
                 void *userdata);

/* One webhook: 1 and *ret (webhook_record_done), 0 no such webhook, <0. */
typedef struct {
        webhook_info_t info; /* its strings are project and url below */
        char *project, *url;
} webhook_record_t;
int webhook_get(db_conn_t *c, int64_t id, webhook_record_t *ret);
void webhook_record_done(webhook_record_t *w); /* NULL-safe */
/* Replaces a webhook's url, events and enabled state; keep_secret, else its
 * secret becomes sealed (NULL: none). Checks of the URL are the caller's. 1
 * changed, 0 no such webhook, <0. A disabled webhook queues nothing; what was
 * queued before stays queued. */
int webhook_update(db_conn_t *c, int64_t id, const char *url, unsigned events, bool enabled, bool keep_secret,
                   const uint8_t *sealed, size_t sealed_len);
/* Queues a test event (type WEBHOOK_PING_TYPE, data {"webhook": id}) for webhook
 * id alone, now; its event id into event_id (WEBHOOK_EVENT_ID_LEN + 1). 1 queued,
 * 0 no such webhook, <0. */
int webhook_ping(db_conn_t *c, int64_t id, int64_t now, char *event_id, size_t size);

/* ---- delivery ---- */

typedef struct {
        int64_t id;           /* the queue row */
        int64_t webhook_id;
        int64_t lease;        /* claimed_until: the claim's token */
        int64_t created;
        int64_t attempts;     /* attempts before this one */
        char *event_id, *type, *repository, *body, *url;
        uint8_t *secret;      /* sealed; NULL: none */
        size_t secret_len;
} webhook_delivery_t;
void webhook_delivery_done(webhook_delivery_t *d); /* frees the members */

/* Claims the next ready delivery due at now, until lease_until: 1 and *ret (free
 * with webhook_delivery_done), 0 nothing due, <0. */
int webhook_claim(db_conn_t *c, int64_t now, int64_t lease_until, webhook_delivery_t *ret);

typedef enum {
        WEBHOOK_SUCCESS,
        WEBHOOK_FAILURE, /* retried at next_attempt */
        WEBHOOK_GAVEUP,  /* failed, and no more attempts */
} webhook_result_t;

typedef struct {
        webhook_result_t result;
        int status;           /* the HTTP status; 0: no answer */
        int64_t latency_ms;
        const char *error;    /* NULL: none; kept to 255 bytes */
        int64_t next_attempt; /* FAILURE: when to try again */
        bool target_down;     /* FAILURE: the target itself failed (no answer, 5xx, 429):
                               * its other ready deliveries wait until next_attempt too */
} webhook_outcome_t;

/* Records the attempt on d (claimed by this sender) at now: SUCCESS and GAVEUP
 * remove it from the queue (the next of its webhook and repository becomes
 * ready), FAILURE sets its next attempt and ends the claim; each writes a log row
 * (the newest WEBHOOK_LOG_KEEP per webhook are kept). One transaction. 1 recorded,
 * 0 the claim was no longer ours (lease over and taken, or the webhook deleted):
 * nothing written; <0. */
int webhook_record(db_conn_t *c, const webhook_delivery_t *d, int64_t now, const webhook_outcome_t *o);
/* Ends the claim without an attempt (a sender stopping). 0 or <0. */
int webhook_release(db_conn_t *c, const webhook_delivery_t *d);
/* Ends every claim: for a server that is the database's only one (SQLite), at its
 * start: claims left by a process that died. 0 or <0. */
int webhook_claims_reset(db_conn_t *c);
/* Deliveries waiting in the queue. */
int webhook_queue_depth(db_conn_t *c, int64_t *ret);

typedef struct {
        int64_t id;           /* the log row (webhook_log_page) */
        int64_t ts;
        const char *event_id, *type, *result, *error; /* error may be NULL */
        int64_t attempt, status, latency_ms;
} webhook_log_entry_t;
/* The newest limit log rows of webhook id, oldest first. */
int webhook_log_list(db_conn_t *c, int64_t id, int64_t limit,
                     int (*each)(const webhook_log_entry_t *e, void *userdata), void *userdata);

/* A page of the log of webhook id, newest first: rows with a key below before
 * (0: from the newest), at most limit. */
int webhook_log_page(db_conn_t *c, int64_t id, int64_t before, int64_t limit,
                     int (*each)(const webhook_log_entry_t *e, void *userdata), void *userdata);

/* X-Berth-Signature: "sha256=" and the hex HMAC-SHA256 of body under secret, into
 * buf (WEBHOOK_SIGNATURE_LEN + 1). */
int webhook_sign(const void *secret, size_t secret_len, const void *body, size_t body_len, char *buf,
                 size_t size);

/* Prepares every statement on c: a schema they do not fit fails here. */
int webhook_prepare(db_conn_t *c);

/* ---- diagnostics (unit tests) ---- */
/* 1 when every lookup of the queue, the log and the targets is an index search on
 * c's engine (pg: PostgreSQL's generic plans), else 0 with the first offender and
 * what it does in bad; <0 on error. */
int webhook__plans_check(db_conn_t *c, bool pg, char *bad, size_t n);
