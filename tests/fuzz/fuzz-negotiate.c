/* tests/fuzz/fuzz-negotiate.c: the web UI's header readers (server/negotiate.c) on
 * arbitrary bytes: Accept, Accept-Encoding and If-None-Match against a fixed tag and
 * against a tag taken from the input. Checks what the functions promise: an entity
 * tag always matches itself and "*", and a value past the maximum matches nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "server/negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s, *tag;
        size_t cut;

        if (size > 2 * NEGOTIATE_MAX)
                return 0;
        s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        (void) negotiate_accepts_html(s);
        (void) negotiate_accepts_gzip(s);
        (void) negotiate_etag_match(s, "\"0123456789abcdef0123\"");
        if (strlen(s) > NEGOTIATE_MAX &&
            (negotiate_accepts_html(s) || negotiate_accepts_gzip(s) || negotiate_etag_match(s, "\"x\"")))
                abort();
        /* the input up to its first newline as the server's tag, the rest as the header */
        cut = strcspn(s, "\n");
        tag = strndup(s, cut);
        if (tag) {
                const char *hdr = s[cut] ? s + cut + 1 : "";
                (void) negotiate_etag_match(hdr, tag);
                if (cut <= NEGOTIATE_MAX && negotiate_etag_match(tag, tag) != negotiate_etag_match("*", tag))
                        abort();
                free(tag);
        }
        free(s);
        return 0;
}
