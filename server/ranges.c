/* server/ranges.c: the byte-range headers of the API, parsed with checked numbers. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "server/ranges.h"

static bool parse_u64_str(const char *s, const char *end, uint64_t *ret) {
        uint64_t v = 0;

        if (s == end)
                return false;
        for (; s < end; s++) {
                if (*s < '0' || *s > '9')
                        return false;
                if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t) (*s - '0'), &v))
                        return false;
        }
        *ret = v;
        return true;
}

int http_content_range_parse(const char *v, uint64_t *ret_start, uint64_t *ret_end) {
        const char *dash;

        if (strncmp(v, "bytes ", 6) == 0 || strncmp(v, "bytes=", 6) == 0)
                v += 6;
        dash = strchr(v, '-');
        if (!dash || !parse_u64_str(v, dash, ret_start) ||
            !parse_u64_str(dash + 1, dash + 1 + strcspn(dash + 1, "/"), ret_end) || *ret_end < *ret_start)
                return -EINVAL;
        return 0;
}

int http_range_parse(const char *v, uint64_t size, uint64_t *ret_off, uint64_t *ret_len) {
        const char *dash;
        uint64_t a, b;

        if (strncmp(v, "bytes=", 6) != 0)
                return -EINVAL;
        v += 6;
        if (strchr(v, ','))
                return -EINVAL; /* one range only */
        dash = strchr(v, '-');
        if (!dash)
                return -EINVAL;
        if (dash == v) { /* suffix */
                if (!parse_u64_str(dash + 1, dash + 1 + strlen(dash + 1), &b) || b == 0 || size == 0)
                        return -EINVAL;
                a = b > size ? 0 : size - b;
                b = size - 1;
        } else {
                if (!parse_u64_str(v, dash, &a))
                        return -EINVAL;
                if (dash[1] == '\0')
                        b = size ? size - 1 : 0;
                else if (!parse_u64_str(dash + 1, dash + 1 + strlen(dash + 1), &b) || b < a)
                        return -EINVAL;
                if (a >= size)
                        return -ERANGE;
                if (b >= size)
                        b = size - 1;
        }
        *ret_off = a;
        *ret_len = b - a + 1;
        return 0;
}
