/* common/base64.c: see base64.h. */
#include <stdlib.h>
#include "common/base64.h"

static const char *const tables[] = {
        [BASE64_STD] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        [BASE64_URL] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
};

static int value(base64_alphabet_t a, unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == tables[a][62])
                return 62;
        if (c == tables[a][63])
                return 63;
        return -1;
}

size_t base64_encoded_len(base64_alphabet_t a, size_t n) {
        if (a == BASE64_STD)
                return (n / 3 + (n % 3 != 0)) * 4;
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void base64_encode(base64_alphabet_t a, const void *in, size_t len, char *out) {
        const uint8_t *p = in;
        const char *tab = tables[a];
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t n = 0;

        for (size_t i = 0; i < len; i++) {
                acc = (acc << 8) | p[i];
                bits += 8;
                while (bits >= 6) {
                        bits -= 6;
                        out[n++] = tab[(acc >> bits) & 63];
                }
        }
        if (bits > 0)
                out[n++] = tab[(acc << (6 - bits)) & 63];
        if (a == BASE64_STD)
                while (n % 4)
                        out[n++] = '=';
        out[n] = '\0';
}

char *base64_encode_alloc(base64_alphabet_t a, const void *in, size_t len) {
        size_t size;
        char *out;

        if (len > SIZE_MAX / 2)
                return NULL;
        size = base64_encoded_len(a, len) + 1;
        out = malloc(size);
        if (out)
                base64_encode(a, in, len, out);
        return out;
}

long base64_decode(base64_alphabet_t a, const char *in, size_t len, uint8_t *out, size_t out_size) {
        size_t pad = 0, n = 0;
        uint32_t acc = 0;
        unsigned bits = 0;

        if (a == BASE64_STD) {
                while (len > 0 && in[len - 1] == '=' && pad < 2) {
                        len--;
                        pad++;
                }
                if (pad > 0 && (len + pad) % 4 != 0)
                        return -1;
        }
        if (len % 4 == 1)
                return -1;
        for (size_t i = 0; i < len; i++) {
                int v = value(a, (unsigned char) in[i]);
                if (v < 0)
                        return -1;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (n >= out_size)
                                return -1;
                        out[n++] = (uint8_t) (acc >> bits);
                }
        }
        if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
                return -1;
        return (long) n;
}
