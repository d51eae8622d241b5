/* tests/fuzz/fuzz-basic.c: libFuzzer target for the Authorization: Basic parser.
 * Besides memory safety it checks that an accepted header re-encodes to itself:
 * a non-empty user without ':' or control characters, a password without control
 * characters, and base64(user ":" password) equal to the token in the header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const char *s, bool no_colon) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f || (no_colon && *p == ':'))
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char user[AUTH_NAME_MAX + 1], password[AUTH_PASSWORD_MAX + 1];
        char *hdr, *joined, *enc;
        int r;

        hdr = malloc(size + 1);
        if (!hdr)
                return 0;
        memcpy(hdr, data, size);
        hdr[size] = '\0';
        r = auth_basic_parse(hdr, size, user, sizeof(user), password, sizeof(password));
        if (r != 0 && r != BERTH_EAUTH)
                abort();
        if (r == 0) {
                size_t ul = strlen(user), pl = strlen(password);
                if (ul == 0)
                        abort();
                check_part(user, true);
                check_part(password, false);
                joined = malloc(ul + pl + 2);
                if (!joined)
                        abort();
                memcpy(joined, user, ul);
                joined[ul] = ':';
                memcpy(joined + ul + 1, password, pl + 1);
                enc = base64_encode_alloc(BASE64_STD, joined, ul + pl + 1);
                if (!enc)
                        abort();
                /* The canonical encoding must appear in the header (padding may
                 * have been omitted there). */
                size_t el = strlen(enc);
                while (el > 0 && enc[el - 1] == '=')
                        el--;
                if (!memmem(hdr, size, enc, el))
                        abort();
                free(enc);
                free(joined);
        }
        free(hdr);
        return 0;
}
