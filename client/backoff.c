/* client/backoff.c: the back-off schedule and its file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "client/backoff.h"
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"

bool backoff_expired(const backoff_entry_t *e, int64_t now) {
        return e->delay_s <= 0 || now - e->last > 2 * BACKOFF_MAX_S;
}

void backoff_fail(backoff_entry_t *e, int64_t now) {
        if (backoff_expired(e, now))
                e->delay_s = BACKOFF_INITIAL_S;
        else
                e->delay_s = e->delay_s >= BACKOFF_MAX_S / 2 ? BACKOFF_MAX_S : e->delay_s * 2;
        e->last = now;
}

bool backoff_active(const backoff_entry_t *e, int64_t now, int64_t *ret_remaining_s) {
        if (backoff_expired(e, now) || now - e->last >= e->delay_s)
                return false;
        if (ret_remaining_s)
                *ret_remaining_s = e->delay_s - (now - e->last);
        return true;
}

static json_t *load(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        json_t *j;

        if (file_read_all(path, BACKOFF_FILE_MAX, &buf, &len) < 0)
                return json_object();
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return json_object(); /* a damaged state file only loses back-off state */
        }
        return j;
}

int backoff_file_get(const char *path, const char *key, backoff_entry_t *ret) {
        json_t *root = load(path), *e;

        if (!root)
                return -ENOMEM;
        *ret = (backoff_entry_t) { 0 };
        e = json_object_get(root, key);
        if (json_is_object(e) && json_is_integer(json_object_get(e, "delay")) &&
            json_is_integer(json_object_get(e, "last"))) {
                ret->delay_s = json_integer_value(json_object_get(e, "delay"));
                ret->last = json_integer_value(json_object_get(e, "last"));
                if (ret->delay_s < 0 || ret->delay_s > BACKOFF_MAX_S)
                        *ret = (backoff_entry_t) { 0 };
        }
        json_decref(root);
        return 0;
}

int backoff_file_update(const char *path, const char *key, bool failed, int64_t now) {
        json_t *root = load(path), *e;
        const char *k;
        void *tmp;
        backoff_entry_t be = { 0 };
        char *out;
        int r;

        if (!root)
                return -ENOMEM;
        json_object_foreach_safe(root, tmp, k, e) {
                backoff_entry_t x = { json_integer_value(json_object_get(e, "delay")),
                                      json_integer_value(json_object_get(e, "last")) };
                if (!json_is_object(e) || backoff_expired(&x, now))
                        json_object_del(root, k);
        }
        e = json_object_get(root, key);
        if (failed) {
                if (json_is_object(e)) {
                        be.delay_s = json_integer_value(json_object_get(e, "delay"));
                        be.last = json_integer_value(json_object_get(e, "last"));
                }
                backoff_fail(&be, now);
                if (json_object_size(root) >= BACKOFF_ENTRIES_MAX && !e) {
                        json_decref(root);
                        return BERTH_ETOOBIG;
                }
                json_object_set_new(root, key, json_pack("{s:I,s:I}", "delay", (json_int_t) be.delay_s,
                                                         "last", (json_int_t) be.last));
        } else
                json_object_del(root, key);
        out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(root);
        if (!out)
                return -ENOMEM;
        r = file_write_atomic(path, out, strlen(out), 0644);
        free(out);
        return r;
}
