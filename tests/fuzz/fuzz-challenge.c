/* tests/fuzz/fuzz-challenge.c: the client's WWW-Authenticate parser (a registry's
 * answer, outside input). A success names a known scheme. */
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
        free(s);
        return 0;
}
