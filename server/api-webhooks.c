/* server/api-webhooks.c: the management API's webhooks (issue 14): a project's
 * (/projects/{p}/webhooks, its admins) and the global ones (/webhooks, system
 * admins), each with its delivery log and a test event. The rules are the
 * command line's (server/cli-webhook.c): the target checked by
 * ssrf_target_check under the server's --webhook-allow-cidr, the secret sealed
 * by cli_secret_seal under the secret key, the rows of storage/webhook.c. A
 * secret is write-only: answers say whether one is set, never what it is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/secretbox.h"
#include "server/api.h"
#include "server/cli-secret.h"
#include "server/ssrf.h"
#include "server/webhook.h"
#include "storage/webhook.h"

static bool method(const api_call_t *c, const char *m) {
        return strcmp(c->method, m) == 0;
}

static void not_allowed(api_call_t *c) {
        api_error(c->req, 405, "METHOD_NOT_ALLOWED", "method not allowed");
}

static json_t *events_json(unsigned mask) {
        char buf[64];
        json_t *a = json_array();

        webhook_events_format(mask, buf, sizeof(buf));
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); a && t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(a, json_string(t));
        return a;
}

static json_t *webhook_json(const webhook_info_t *w) {
        return json_pack("{s:I, s:o, s:s, s:o, s:b, s:b, s:o}", "id", (json_int_t) w->id, "project",
                         strcmp(w->project, WEBHOOK_GLOBAL) == 0 ? json_null() : json_string(w->project), "url",
                         w->url, "events", events_json(w->events), "enabled", w->enabled, "secret_set",
                         w->has_secret, "created", api_time(w->created));
}

/* The body's shape (api_webhook_parse) and its event names into *ret_events
 * (unchanged when absent): 0, or -1 answered (400). */
static int parse_body(api_call_t *c, api_webhook_body_t *b, unsigned *ret_events) {
        const char *why = NULL;
        unsigned mask = 0;

        if (api_webhook_parse(c->body, b, &why) < 0) {
                api_error(c->req, 400, "BAD_REQUEST", why);
                return -1;
        }
        for (size_t i = 0; i < b->n_events; i++) {
                unsigned bit;
                if (strchr(b->events_v[i], ',') || webhook_events_parse(b->events_v[i], &bit) < 0) {
                        api_error(c->req, 400, "BAD_REQUEST",
                                  "events: a non-empty array of push, delete, pull, quota (or all)");
                        return -1;
                }
                mask |= bit;
        }
        if (b->events == API_SET)
                *ret_events = mask;
        return 0;
}

/* The URL checked as the command line checks it: 0, or -1 answered (400 with the
 * reason). */
static int check_target(api_call_t *c, const char *url) {
        char why[400], msg[480];
        int r = ssrf_target_check(url, WEBHOOK_URL_MAX, c->req->srv->cfg->webhook_allow, why, sizeof(why));

        if (r == 0)
                return 0;
        if (r == -EINVAL)
                (void) snprintf(msg, sizeof(msg), "url: %s", why);
        else
                (void) snprintf(msg, sizeof(msg), "url refused: %s", why);
        api_error(c->req, 400, r == -EINVAL ? "BAD_REQUEST" : "TARGET_REFUSED", msg);
        return -1;
}

int api_seal(api_call_t *c, const char *secret, const char *context, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ char *errs = NULL;
        size_t errs_len = 0;
        FILE *err;
        int r;

        /* the command line's sealing, its messages kept for the log */
        if (!(err = open_memstream(&errs, &errs_len))) {
                api_error(c->req, 500, "INTERNAL", "out of memory");
                return -1;
        }
        r = cli_secret_seal(c->req->srv->cfg->data_dir, err, context, secret, ret, ret_len);
        fclose(err);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "req=%s api: sealing a secret: %s", c->req->id,
                        errs && *errs ? errs : berth_strerror(r));
                api_error(c->req, 500, "INTERNAL", "the server's secret key cannot seal the secret (see its log)");
                return -1;
        }
        return 0;
}

static db_conn_t *conn_get(api_call_t *c) {
        db_conn_t *conn = NULL;
        int r = db_conn_get(server_db(c->req->srv), &conn);

        if (r < 0) {
                api_errno(c->req, r, NULL);
                return NULL;
        }
        return conn;
}

static int list_each(const webhook_info_t *w, void *userdata) {
        return json_array_append_new(userdata, webhook_json(w)) < 0 ? -ENOMEM : 0;
}

static void hooks_list(api_call_t *c, db_conn_t *conn, const char *project) {
        json_t *items = json_array();
        int r = items ? webhook_list(conn, project, list_each, items) : -ENOMEM;

        if (r < 0) {
                json_decref(items);
                return api_errno(c->req, r, NULL);
        }
        api_page(c->req, items, NULL);
}

static void hook_create(api_call_t *c, db_conn_t *conn, const char *project) {
        unsigned events = WEBHOOK_DEFAULT_EVENTS;
        _cleanup_free_ uint8_t *sealed = NULL;
        size_t sealed_len = 0;
        api_webhook_body_t b;
        webhook_record_t w;
        int64_t id = 0;
        int r;

        if (parse_body(c, &b, &events) < 0)
                return;
        if (b.url != API_SET)
                return api_error(c->req, 400, "BAD_REQUEST", "url: an http:// or https:// URL is required");
        if (check_target(c, b.url_v) < 0)
                return;
        if (b.secret == API_SET && api_seal(c, b.secret_v, WEBHOOK_SECRET_CONTEXT, &sealed, &sealed_len) < 0)
                return;
        r = webhook_add(conn, project, b.url_v, events, sealed, sealed_len, (int64_t) time(NULL), &id);
        if (sealed)
                OPENSSL_cleanse(sealed, sealed_len);
        if (r == 0 && b.enabled == API_SET && !b.enabled_v) {
                int u = webhook_update(conn, id, b.url_v, events, false, true, NULL, 0);
                r = u < 0 ? u : 0;
        }
        if (r < 0)
                return api_errno(c->req, r, "webhook");
        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "webhook-add", NULL, b.url_v);
        if ((r = webhook_get(conn, id, &w)) <= 0)
                return api_errno(c->req, r < 0 ? r : -ENOENT, "webhook");
        api_json(c->req, 201, webhook_json(&w.info));
        webhook_record_done(&w);
}

static void hook_update(api_call_t *c, db_conn_t *conn, webhook_record_t *w) {
        unsigned events = w->info.events;
        _cleanup_free_ uint8_t *sealed = NULL;
        size_t sealed_len = 0;
        int64_t id = w->info.id;
        api_webhook_body_t b;
        const char *url;
        int r;

        if (parse_body(c, &b, &events) < 0)
                return;
        url = b.url == API_SET ? b.url_v : w->url;
        if (b.url == API_SET && check_target(c, url) < 0)
                return;
        if (b.secret == API_SET && api_seal(c, b.secret_v, WEBHOOK_SECRET_CONTEXT, &sealed, &sealed_len) < 0)
                return;
        r = webhook_update(conn, id, url, events, b.enabled == API_SET ? b.enabled_v : w->info.enabled,
                           b.secret == API_ABSENT, sealed, sealed_len);
        if (sealed)
                OPENSSL_cleanse(sealed, sealed_len);
        if (r < 0)
                return api_errno(c->req, r, "webhook");
        if (r == 0)
                return api_error(c->req, 404, "NOT_FOUND", "webhook not found");
        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "webhook-update", NULL, url);
        webhook_record_done(w);
        if ((r = webhook_get(conn, id, w)) <= 0)
                return api_errno(c->req, r < 0 ? r : -ENOENT, "webhook");
        api_json(c->req, 200, webhook_json(&w->info));
}

static int log_each(const webhook_log_entry_t *e, void *userdata) {
        json_t *items = userdata;
        json_t *j = json_pack("{s:I, s:o, s:s, s:s, s:I, s:o, s:I, s:s, s:o}", "id", (json_int_t) e->id, "time",
                              api_time(e->ts), "event_id", e->event_id, "type", e->type, "attempt",
                              (json_int_t) e->attempt, "status",
                              e->status > 0 ? json_integer((json_int_t) e->status) : json_null(), "latency_ms",
                              (json_int_t) e->latency_ms, "result", e->result, "error",
                              e->error ? json_string(e->error) : json_null());
        return json_array_append_new(items, j) < 0 ? -ENOMEM : 0;
}

static void hook_deliveries(api_call_t *c, db_conn_t *conn, int64_t id) {
        _cleanup_free_ char *after = NULL;
        json_t *items;
        size_t limit;
        int64_t before = 0;
        char next[32];
        int r;

        if (api_page_args(c->req, &limit, &after) < 0)
                return;
        if (after) {
                char *end = NULL;
                errno = 0;
                before = strtoll(after, &end, 10);
                if (errno || !*after || *end || before < 1)
                        return api_error(c->req, 400, "BAD_REQUEST", "invalid cursor");
        }
        if (!(items = json_array()))
                return api_errno(c->req, -ENOMEM, NULL);
        /* one more than the page: is there a next one? */
        if ((r = webhook_log_page(conn, id, before, (int64_t) limit + 1, log_each, items)) < 0) {
                json_decref(items);
                return api_errno(c->req, r, NULL);
        }
        if (json_array_size(items) > limit) {
                json_array_remove(items, limit);
                (void) snprintf(next, sizeof(next), "%lld",
                                (long long) json_integer_value(json_object_get(json_array_get(items, limit - 1), "id")));
                return api_page(c->req, items, next);
        }
        api_page(c->req, items, NULL);
}

static void hook_ping(api_call_t *c, db_conn_t *conn, int64_t id) {
        char event_id[WEBHOOK_EVENT_ID_LEN + 1];
        int r = webhook_ping(conn, id, (int64_t) time(NULL), event_id, sizeof(event_id));

        if (r < 0)
                return api_errno(c->req, r, NULL);
        if (r == 0)
                return api_error(c->req, 404, "NOT_FOUND", "webhook not found");
        webhooks_kick(c->req->srv->webhooks);
        api_json(c->req, 202, json_pack("{s:s, s:s}", "event_id", event_id, "type", WEBHOOK_PING_TYPE));
}

/* segs[first..]: "webhooks" [ID [deliveries|ping]], for project (WEBHOOK_GLOBAL:
 * the global ones). The caller's right checked already. */
static void hooks(api_call_t *c, const char *project, size_t first) {
        size_t n = c->n_segs - first;
        db_conn_t *conn;
        webhook_record_t w = { 0 };
        int64_t id = 0;
        int r;

        if (n > 3)
                return api_error(c->req, 404, "NOT_FOUND", "no such API path");
        if (n >= 2 && webhook_id_parse(c->segs[first + 1], &id) < 0)
                return api_error(c->req, 404, "NOT_FOUND", "webhook not found");
        if (n == 3 && strcmp(c->segs[first + 2], "deliveries") != 0 && strcmp(c->segs[first + 2], "ping") != 0)
                return api_error(c->req, 404, "NOT_FOUND", "no such API path");
        if (!(conn = conn_get(c)))
                return;
        if (n == 1) {
                if (method(c, "GET"))
                        hooks_list(c, conn, project);
                else if (method(c, "POST"))
                        hook_create(c, conn, project);
                else
                        not_allowed(c);
                goto out;
        }
        /* a webhook of another project (or a project's under /webhooks) is not here */
        r = webhook_get(conn, id, &w);
        if (r < 0) {
                api_errno(c->req, r, NULL);
                goto out;
        }
        if (r == 0 || strcmp(w.project, project) != 0) {
                api_error(c->req, 404, "NOT_FOUND", "webhook not found");
                goto out;
        }
        if (n == 3 && strcmp(c->segs[first + 2], "deliveries") == 0) {
                if (method(c, "GET"))
                        hook_deliveries(c, conn, id);
                else
                        not_allowed(c);
        } else if (n == 3) {
                if (method(c, "POST"))
                        hook_ping(c, conn, id);
                else
                        not_allowed(c);
        } else if (method(c, "GET"))
                api_json(c->req, 200, webhook_json(&w.info));
        else if (method(c, "PATCH"))
                hook_update(c, conn, &w);
        else if (method(c, "DELETE")) {
                r = webhook_del(conn, id);
                if (r < 0)
                        api_errno(c->req, r, NULL);
                else if (r == 0)
                        api_error(c->req, 404, "NOT_FOUND", "webhook not found");
                else {
                        (void) auth_audit(c->req->srv->auth, &c->req->who, c->req->addr, "webhook-delete", NULL,
                                          w.url);
                        api_no_content(c->req);
                }
        } else
                not_allowed(c);
out:
        webhook_record_done(&w);
        db_conn_put(server_db(c->req->srv), conn);
}

void api_project_webhooks(api_call_t *c, const char *project) {
        int r;

        if (api_require(c, project, AUTH_ACT_WEBHOOKS) <= 0)
                return;
        /* a system admin's role holds in any name: the project must exist */
        if ((r = auth_project_exists(c->req->srv->auth, project)) < 0)
                return api_errno(c->req, r, NULL);
        if (r == 0)
                return api_error(c->req, 404, "NOT_FOUND", "project not found");
        hooks(c, project, 2);
}

void api_webhooks(api_call_t *c) {
        if (api_require(c, NULL, AUTH_ACT_WEBHOOKS) <= 0)
                return;
        hooks(c, WEBHOOK_GLOBAL, 0);
}
