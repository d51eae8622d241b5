/* tests/fuzz/fuzz-ranges.c: the Range and Content-Range parsers on arbitrary bytes.
 * Checks what a success promises: a range within the body, start <= end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "server/ranges.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint64_t body, a, b, off, len;
        char *s;

        if (size < 8)
                return 0;
        memcpy(&body, data, 8);
        body %= (uint64_t) 1 << 40;
        s = malloc(size - 8 + 1);
        if (!s)
                return 0;
        memcpy(s, data + 8, size - 8);
        s[size - 8] = '\0';
        if (http_content_range_parse(s, &a, &b) == 0 && b < a)
                abort();
        if (http_range_parse(s, body, &off, &len) == 0 && (len == 0 || off >= body || len > body - off))
                abort();
        free(s);
        return 0;
}
