/* tests/fuzz/fuzz-form.c: the form-body reader on arbitrary bytes (not
 * NUL-terminated): a found value is NUL-terminated, fits, and holds no NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "server/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const keys[] = { "grant_type", "username", "password", "a" };
        char out[64];

        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                memset(out, 'x', sizeof(out));
                if (http_form_value((const char *) data, size, keys[k], out, sizeof(out)) == 1 &&
                    memchr(out, '\0', sizeof(out)) == NULL)
                        abort();
        }
        return 0;
}
