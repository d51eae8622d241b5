/* tests/fuzz/fuzz-ref.c: libFuzzer target for the image reference parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        ref_t *r = NULL, *again = NULL;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        if (ref_parse(s, &r, NULL) == 0) {
                /* the normalized form parses to itself */
                if (ref_parse(ref_full(r), &again, NULL) != 0 || strcmp(ref_full(again), ref_full(r)) != 0)
                        abort();
                if (strlen(ref_path(r)) > REF_PATH_MAX)
                        abort();
                ref_free(again);
                ref_free(r);
        }
        free(s);
        return 0;
}
