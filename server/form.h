/* server/form.h: reading application/x-www-form-urlencoded bodies. */
#pragma once
#include <stddef.h>

/* The first value of key in body (len bytes, not NUL-terminated), with "+" and
 * %XX decoded, into out (NUL-terminated). 1 found, 0 absent, -EINVAL when the value
 * is malformed, holds a NUL, or needs more than size - 1 bytes. */
int http_form_value(const char *body, size_t len, const char *key, char *out, size_t size);
