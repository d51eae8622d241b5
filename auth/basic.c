/* auth/basic.c: the Basic credentials parser, base64, names and roles. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"

int auth_basic_parse(const char *header, size_t len, char *user, size_t user_size,
                     char *password, size_t password_size) {
        uint8_t buf[AUTH_HEADER_MAX];
        const char *p, *end, *colon;
        long n;
        size_t ulen, plen;

        if (!header || len == 0 || len > AUTH_HEADER_MAX || !user || !password ||
            user_size == 0 || password_size == 0)
                return BERTH_EAUTH;
        end = header + len;
        p = header;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if ((size_t) (end - p) < 6 || strncasecmp(p, "Basic", 5) != 0 ||
            (p[5] != ' ' && p[5] != '\t'))
                return BERTH_EAUTH;
        p += 6;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
                           end[-1] == '\n'))
                end--;
        if (p == end)
                return BERTH_EAUTH;
        n = base64_decode(BASE64_STD, p, (size_t) (end - p), buf, sizeof(buf));
        if (n <= 0)
                goto fail;
        colon = memchr(buf, ':', (size_t) n);
        if (!colon)
                goto fail;
        ulen = (size_t) ((const uint8_t *) colon - buf);
        plen = (size_t) n - ulen - 1;
        if (ulen == 0 || ulen >= user_size || plen >= password_size)
                goto fail;
        /* No control characters (NUL included) in either part. */
        for (long i = 0; i < n; i++)
                if (buf[i] < 0x20 || buf[i] == 0x7f)
                        goto fail;
        memcpy(user, buf, ulen);
        user[ulen] = '\0';
        memcpy(password, colon + 1, plen);
        password[plen] = '\0';
        explicit_bzero(buf, sizeof(buf));
        return 0;
fail:
        explicit_bzero(buf, sizeof(buf));
        return BERTH_EAUTH;
}

bool auth_name_valid(const char *s, size_t max) {
        size_t len;
        bool prev_sep = true; /* no separator first */

        if (!s)
                return false;
        len = strnlen(s, max + 1);
        if (len == 0 || len > max)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                        prev_sep = false;
                else if (c == '.' || c == '_' || c == '-') {
                        if (prev_sep)
                                return false;
                        prev_sep = true;
                } else
                        return false;
        }
        return !prev_sep;
}

bool auth_basic_is_empty(const char *header, size_t len) {
        const char *p = header, *end = header + len;

        /* "Basic Og==" (base64 of ":"): clients such as skopeo send it when they have
         * no credentials for a registry that answered with a Basic challenge */
        if (!header)
                return false;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if ((size_t) (end - p) < 6 || strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
                return false;
        p += 6;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
                end--;
        return ((size_t) (end - p) == 4 && memcmp(p, "Og==", 4) == 0) ||
               ((size_t) (end - p) == 2 && memcmp(p, "Og", 2) == 0);
}
