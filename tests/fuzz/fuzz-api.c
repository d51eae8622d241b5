/* tests/fuzz/fuzz-api.c: the management API's input parsers (server/api-json.c)
 * on arbitrary bytes: a JSON body as every handler reads it (the typed fields of
 * logins, users, projects, members, robots, GC runs, immutability rules), a
 * retention policy, a webhook body, a proxy project's settings (the body's
 * "proxy", or the body itself), and a cursor. Checks, besides memory safety: a
 * parsed body is an object; a string field never holds a NUL; a retention policy
 * has at most API_RULES_MAX rules with every string set; a webhook or proxy body
 * accepted has every member it says is set within its bounds, credentials
 * together; a cursor decodes to a key that encodes back to the same cursor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <stdio.h>
#include "server/api-json.h"
#include "storage/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const STRINGS[] = { "username", "password", "name", "role", "pattern", "current_password",
                                       "new_password" };
static const char *const BOOLS[] = { "public", "admin", "push", "dry_run", "delete_untagged" };
static const char *const UINTS[] = { "quota", "expires_in", "untagged_after" };

static void check_str(api_field_t f, const char *v, size_t max) {
        if (f == API_SET && (!v || !*v || strlen(v) > max))
                abort();
}

static void check_webhook(const json_t *body) {
        api_webhook_body_t w;
        const char *err = NULL;

        if (api_webhook_parse(body, &w, &err) < 0) {
                if (!err)
                        abort();
                return;
        }
        check_str(w.url, w.url_v, 2048);
        check_str(w.secret, w.secret_v, API_SECRET_MAX);
        if (w.url == API_NULL || w.enabled == API_NULL || w.events == API_NULL)
                abort();
        if ((w.events == API_SET) != (w.n_events > 0) || w.n_events > API_EVENTS_MAX)
                abort();
        for (size_t i = 0; i < w.n_events; i++)
                check_str(API_SET, w.events_v[i], 32);
}

static void check_proxy(const json_t *proxy) {
        api_proxy_t p;
        const char *err = NULL;

        if (!proxy)
                return;
        if (api_proxy_parse(proxy, &p, &err) < 0) {
                if (!err)
                        abort();
                return;
        }
        check_str(p.url, p.url_v, 2048);
        check_str(p.username, p.username_v, 255);
        check_str(p.password, p.password_v, API_SECRET_MAX);
        check_str(p.ca_pem, p.ca_pem_v, API_PEM_MAX);
        check_str(p.mirror_of, p.mirror_of_v, 2048);
        if (p.url == API_NULL || p.ttl == API_NULL || p.docker_mirror == API_NULL)
                abort();
        if ((p.username == API_SET) != (p.password == API_SET))
                abort();
        if (p.ttl == API_SET && (p.ttl_v < 0 || p.ttl_v > (int64_t) 100 * 365 * 86400))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *body = NULL;
        api_retention_t pol;
        const char *err = NULL, *s;
        char *cur, *key, *again;
        bool b, isnull;
        int64_t v;

        if (api_parse_body((const char *) data, size, &body) == 0 && body) {
                if (!json_is_object(body))
                        abort();
                for (size_t i = 0; i < sizeof(STRINGS) / sizeof(STRINGS[0]); i++)
                        if (api_json_string(body, STRINGS[i], &s) == 1 && strlen(s) != json_string_length(json_object_get(body, STRINGS[i])))
                                abort();
                for (size_t i = 0; i < sizeof(BOOLS) / sizeof(BOOLS[0]); i++)
                        (void) api_json_bool(body, BOOLS[i], &b);
                for (size_t i = 0; i < sizeof(UINTS) / sizeof(UINTS[0]); i++)
                        if (api_json_uint(body, UINTS[i], &v, &isnull) == 1 && !isnull && v < 0)
                                abort();
                if (api_retention_parse(body, &pol, &err) == 0) {
                        if (pol.n_rules > API_RULES_MAX || pol.untagged_after < -1)
                                abort();
                        for (size_t i = 0; i < pol.n_rules; i++)
                                if (!pol.rules[i].kind || !pol.rules[i].tags || !pol.rules[i].repos)
                                        abort();
                } else if (!err)
                        abort();
                check_webhook(body);
                check_proxy(json_object_get(body, "proxy"));
                check_proxy(body);
                json_decref(body);
        }
        /* the same bytes as a cursor */
        if (!(cur = malloc(size + 1)))
                return 0;
        memcpy(cur, data, size);
        cur[size] = '\0';
        key = api_cursor_decode(cur);
        if (key) {
                again = api_cursor_encode(key);
                if (!again || strcmp(again, cur) != 0)
                        abort();
                free(again);
                free(key);
        }
        /* ... and as a webhook id (URL segment, command argument): what it takes
         * prints back the same */
        {
                int64_t id = -1;
                char back[32];
                if (webhook_id_parse(cur, &id) == 0) {
                        (void) snprintf(back, sizeof(back), "%" PRId64, id);
                        if (id <= 0 || strcmp(back, cur) != 0)
                                abort();
                } else if (id != -1)
                        abort(); /* *ret untouched on error */
        }
        free(cur);
        return 0;
}
