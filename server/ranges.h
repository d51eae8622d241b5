/* server/ranges.h: parsers of the byte-range request headers (outside input). */
#pragma once
#include <stdint.h>

/* Content-Range of an upload chunk: "start-end", optionally after "bytes " or
 * "bytes=", optionally followed by "/total". 0, or -EINVAL (garbled, end < start,
 * numbers over 64 bits). */
int http_content_range_parse(const char *v, uint64_t *ret_start, uint64_t *ret_end);
/* Range of a GET: one range "bytes=a-b", "bytes=a-" or "bytes=-n" against a body of
 * size bytes. 0 with the offset and length (clamped to the body); -ERANGE when it
 * starts past the end; -EINVAL when garbled, several ranges, or empty. */
int http_range_parse(const char *v, uint64_t size, uint64_t *ret_off, uint64_t *ret_len);
