/* server/proxy.h: the client's address behind trusted proxies: address and CIDR
 * parsing, and the X-Forwarded-For walk (nginx's real_ip_recursive rule). Parses
 * outside input; knows nothing about HTTP and does not log. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is always
 * held as the IPv4 address it maps, so both spellings compare equal. */
typedef struct proxy_addr {
        uint8_t family;    /* AF_INET or AF_INET6 */
        uint8_t bytes[16]; /* the first 4 for AF_INET, the rest zero */
} proxy_addr_t;

#define PROXY_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
#define PROXY_CIDRS_MAX 256  /* entries in one --trusted-proxies list */

/* A list of address blocks (opaque). */
typedef struct proxy_cidrs proxy_cidrs_t;

/* One address literal of exactly len bytes: dotted-quad IPv4 or IPv6 text, nothing
 * else (no brackets, port, zone or spaces). 0, or -EINVAL. */
int proxy_addr_parse(const char *s, size_t len, proxy_addr_t *ret);
/* From a socket address (AF_INET/AF_INET6). 0, or -EAFNOSUPPORT. */
int proxy_addr_from_sockaddr(const struct sockaddr *sa, proxy_addr_t *ret);
/* Text form into buf (at least PROXY_ADDR_STRLEN bytes); "?" if it cannot. */
void proxy_addr_format(const proxy_addr_t *a, char *buf, size_t size);
bool proxy_addr_equal(const proxy_addr_t *a, const proxy_addr_t *b);

/* "CIDR,CIDR,...": each an address with an optional /prefix (a bare address is one
 * host), spaces allowed around the commas; an empty list holds nothing. Bits past
 * the prefix are ignored. 0 and *ret (free with proxy_cidrs_free), -EINVAL on a
 * malformed entry, -E2BIG beyond PROXY_CIDRS_MAX entries, -ENOMEM. */
int proxy_cidrs_parse(const char *list, proxy_cidrs_t **ret);
proxy_cidrs_t *proxy_cidrs_free(proxy_cidrs_t *t); /* NULL-safe, returns NULL */
/* Is a inside one of the blocks? false for a NULL or empty list. */
bool proxy_cidrs_match(const proxy_cidrs_t *t, const proxy_addr_t *a);

/* The client address of a request that came from peer, given the values of its
 * X-Forwarded-For header fields in the order they arrived (n may be 0; each value
 * is a comma-separated list of address literals with optional spaces).
 * Only a peer inside trusted is believed. Then the entries are read from the right:
 * the first one that is not itself a trusted proxy is the client; when all are
 * trusted, the left-most one is. Every entry must be a valid literal.
 * Returns 1 with *ret from the header, 0 with *ret = peer (the peer is not trusted,
 * or sent no X-Forwarded-For), or -EINVAL with *ret = peer (a malformed header). */
int proxy_client_addr(const proxy_cidrs_t *trusted, const proxy_addr_t *peer,
                      const char *const *xff, size_t n, proxy_addr_t *ret);
