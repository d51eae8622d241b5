/* tests/fuzz/fuzz-challenge.c: the client's parsers of a registry's answer headers
 * (outside input): WWW-Authenticate (a success names a known scheme), Link (a
 * next page's target lies inside the value) and RateLimit-* (counts not negative). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "client/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        registry_challenge_t c;
        char *s = malloc(size + 1);

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        memset(&c, 0, sizeof(c));
        if (registry_challenge_parse(s, &c) == 0) {
                if (strcmp(c.scheme, "basic") != 0 && strcmp(c.scheme, "bearer") != 0)
                        abort();
                registry_challenge_done(&c);
        }
        char *next = NULL;
        if (registry_link_next(s, &next) > 0) {
                if (!next || strlen(next) >= size)
                        abort();
                free(next);
        }
        int64_t count, window;
        if (registry_ratelimit_parse(s, &count, &window) == 0 && (count < 0 || window < 0))
                abort();
        free(s);
        return 0;
}
