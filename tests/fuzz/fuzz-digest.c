/* tests/fuzz/fuzz-digest.c: libFuzzer target for digest_parse_n and hashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/digest.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        digest_t d, again, one, inc;
        digest_ctx_t *c = NULL;
        char path[DIGEST_PATH_MAX];
        int r;

        r = digest_parse_n((const char *) data, size, &d);
        if (r == 0) {
                /* a parsed digest is its own canonical string and round-trips */
                if (strlen(d.str) != size || memcmp(d.str, data, size) != 0)
                        abort();
                if (digest_parse(d.str, &again) != 0 || !digest_equal(&d, &again))
                        abort();
                if (strlen(digest_hex(&d)) != digest_alg_hex_len(d.alg))
                        abort();
                if (digest_rel_path(&d, path, sizeof(path)) != 0)
                        abort();
        } else if (r != BERTH_EDIGEST_INVALID) {
                abort();
        }

        /* incremental hashing in two pieces equals the one-shot hash */
        for (int alg = DIGEST_SHA256; alg <= DIGEST_SHA512; alg++) {
                size_t half = size / 2;

                if (digest_buf(alg, data, size, &one) != 0)
                        abort();
                if (digest_ctx_new(alg, &c) != 0)
                        abort();
                if (digest_ctx_update(c, data, half) != 0 || digest_ctx_peek(c, &inc) != 0 ||
                    digest_ctx_update(c, data + half, size - half) != 0 || digest_ctx_peek(c, &inc) != 0)
                        abort();
                if (!digest_equal(&one, &inc) || digest_ctx_bytes(c) != size)
                        abort();
                c = digest_ctx_free(c);
        }
        return 0;
}
