/* common/base64.h: base64 (RFC 4648) in its standard and URL-safe alphabets. One
 * encoder and one strict decoder for the Basic credentials, the Docker config's
 * "auth" values and the Bearer tokens. */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum {
        BASE64_STD, /* A-Z a-z 0-9 + /, padded with '=' */
        BASE64_URL, /* A-Z a-z 0-9 - _, never padded */
} base64_alphabet_t;

/* Characters base64_encode writes for n bytes, without the NUL. */
size_t base64_encoded_len(base64_alphabet_t a, size_t n);
/* out has room for base64_encoded_len(a, len) + 1; NUL-terminated. */
void base64_encode(base64_alphabet_t a, const void *in, size_t len, char *out);
/* The same into a new string (malloc'd), or NULL (no memory, or len too large). */
char *base64_encode_alloc(base64_alphabet_t a, const void *in, size_t len);

/* Strict: only the alphabet; BASE64_STD takes up to two '=' that complete the last
 * group, or none; unused bits must be zero (the canonical encoding). The decoded
 * length, or -1 (not base64, or more than out_size bytes). */
long base64_decode(base64_alphabet_t a, const char *in, size_t len, uint8_t *out, size_t out_size);
