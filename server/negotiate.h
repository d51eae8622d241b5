/* server/negotiate.h: the request headers the web UI's answers depend on (outside
 * input, parsed without allocating): Accept (does a browser ask for a page?),
 * Accept-Encoding (may the answer be gzip?) and If-None-Match (is the client's copy
 * current?). A value longer than NEGOTIATE_MAX counts as absent. */
#pragma once
#include <stdbool.h>

#define NEGOTIATE_MAX 8192

/* Accept names text/html (or text/ *, not bare * / *) with a non-zero q. NULL: no. */
bool negotiate_accepts_html(const char *accept);
/* Accept-Encoding allows gzip: "gzip" or "x-gzip" with a non-zero q, or "*" with a
 * non-zero q when gzip is not named. NULL or empty: no. */
bool negotiate_accepts_gzip(const char *accept_encoding);
/* If-None-Match matches etag (a quoted entity tag, "\"...\""): "*", or one entity
 * tag of the list equal to it under the weak comparison (a W/ prefix ignored on
 * either side). NULL or a garbled list: no. */
bool negotiate_etag_match(const char *if_none_match, const char *etag);
