/* server/form.c: application/x-www-form-urlencoded bodies (the token endpoint's
 * OAuth form): outside input, decoded with every length checked. */
#include <errno.h>
#include <string.h>
#include "common/macro.h"
#include "server/form.h"

int http_form_value(const char *body, size_t len, const char *key, char *out, size_t size) {
        const size_t kl = strlen(key);
        size_t i = 0;

        while (i < len) {
                size_t end = i;
                while (end < len && body[end] != '&')
                        end++;
                if (end - i > kl && memcmp(body + i, key, kl) == 0 && body[i + kl] == '=') {
                        size_t n = 0;
                        for (size_t j = i + kl + 1; j < end; j++) {
                                char c = body[j];
                                if (c == '+')
                                        c = ' ';
                                else if (c == '%') {
                                        int h, l;
                                        if (j + 2 >= end)
                                                return -EINVAL;
                                        h = hex_digit_value(body[j + 1]);
                                        l = hex_digit_value(body[j + 2]);
                                        if (h < 0 || l < 0)
                                                return -EINVAL;
                                        c = (char) (h << 4 | l);
                                        j += 2;
                                }
                                if (c == '\0' || n + 1 >= size)
                                        return -EINVAL;
                                out[n++] = c;
                        }
                        out[n] = '\0';
                        return 1;
                }
                i = end + 1;
        }
        return 0;
}
