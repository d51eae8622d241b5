/* tests/fuzz/fuzz-size.c: the size parser of quotas (common/size.h) on arbitrary
 * bytes. Checks what a success promises: "none", or a size a database integer
 * holds, which size_human prints. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1), buf[32];
        uint64_t v = 0;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        if (size_parse(s, &v) == 0) {
                if (v != SIZE_NONE && v >= (uint64_t) INT64_MAX)
                        abort();
                size_human(v, buf, sizeof(buf));
                if (!memchr(buf, '\0', sizeof(buf)))
                        abort();
        }
        free(s);
        return 0;
}
