/* tests/fuzz/fuzz-s3.c: what the S3 driver parses from outside (storage/s3.h): the
 * storage URL from the command line or environment, and the XML answers of the
 * object store (listings, multipart upload listings, part listings, errors, a time). The first byte picks the parser; the rest
 * is its input. Checks what success promises: NUL-terminated fields within bounds, a
 * token only when the listing says it is truncated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "storage/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_entry(void *ud, const char *key, uint64_t size, time_t mtime) {
        size_t *n = ud;
        (void) size;
        (void) mtime;
        if (strlen(key) > 1024)
                abort();
        (*n)++;
}

static void on_part(void *ud, unsigned num, const char *etag, uint64_t size) {
        (void) size;
        if (num < 1 || num > 10000 || strlen(etag) > 127)
                abort();
        (*(size_t *) ud)++;
}

static void on_upload(void *ud, const char *key, const char *id, time_t t) {
        (void) t;
        if (strlen(key) > 1024 || strlen(id) > 511)
                abort();
        (*(size_t *) ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s, token[256], code[64];
        s3_config_t c;
        const char *detail = NULL;
        size_t n = 0;
        time_t t;

        if (size < 1)
                return 0;
        s = malloc(size);
        if (!s)
                return 0;
        memcpy(s, data + 1, size - 1);
        s[size - 1] = '\0';
        switch (data[0] % 6) {
        case 0:
                if (s3_url_parse(s, &c, &detail) == 0) {
                        if (strlen(c.bucket) < 3 || strlen(c.bucket) > S3_BUCKET_MAX || !c.host[0] || !c.region[0] ||
                            strlen(c.prefix) > S3_PREFIX_MAX || (c.prefix[0] == '/'))
                                abort();
                } else if (!detail)
                        abort();
                break;
        case 1: /* the raw bytes, not NUL-terminated: the parser must keep to len */
                if (s3_list_parse((const char *) data + 1, size - 1, on_entry, &n, token, sizeof(token)) == 0 &&
                    !memchr(token, '\0', sizeof(token)))
                        abort();
                break;
        case 2:
                if (s3_error_code((const char *) data + 1, size - 1, code, sizeof(code)) == 1 &&
                    !memchr(code, '\0', sizeof(code)))
                        abort();
                break;
        case 3:
                (void) s3_time_parse(s, &t);
                break;
        case 5: {
                unsigned next = 0;
                if (s3_parts_parse((const char *) data + 1, size - 1, on_part, &n, &next) == 0 && next > 10000)
                        abort();
                break;
        }
        default: {
                char km[128], im[128];
                if (s3_uploads_parse((const char *) data + 1, size - 1, on_upload, &n, km, im, sizeof(km)) == 0 &&
                    (!memchr(km, '\0', sizeof(km)) || !memchr(im, '\0', sizeof(im))))
                        abort();
                break;
        }
        }
        free(s);
        return 0;
}
