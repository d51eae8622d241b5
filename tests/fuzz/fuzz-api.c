/* tests/fuzz/fuzz-api.c: the management API's input parsers (server/api-json.c)
 * on arbitrary bytes: a JSON body as every handler reads it (the typed fields of
 * logins, users, projects, members, robots, GC runs, immutability rules), a
 * retention policy, and a cursor. Checks, besides memory safety: a parsed body is
 * an object; a string field never holds a NUL; a retention policy has at most
 * API_RULES_MAX rules with every string set; a cursor decodes to a key that
 * encodes back to the same cursor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "server/api-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const STRINGS[] = { "username", "password", "name", "role", "pattern", "current_password",
                                       "new_password" };
static const char *const BOOLS[] = { "public", "admin", "push", "dry_run", "delete_untagged" };
static const char *const UINTS[] = { "quota", "expires_in", "untagged_after" };

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
        free(cur);
        return 0;
}
