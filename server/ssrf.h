/* server/ssrf.h: where berthd may send a request whose target someone other than
 * the system administrator chose (a webhook's URL, set by a project's admin):
 * http and https URLs only, and the addresses they resolve to checked.
 *
 * Never: link-local addresses (169.254.0.0/16, fe80::/10) and with them the cloud
 * metadata services (169.254.169.254, fd00:ec2::254 and their kin), unspecified,
 * multicast and reserved addresses. Only when the system administrator allows them
 * (--webhook-allow-cidr, a list of networks): loopback (127.0.0.0/8, ::1) and the
 * private ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10,
 * fc00::/7, fec0::/10). An IPv6 address that embeds an IPv4 one (mapped, NAT64,
 * 6to4, compatible) is judged by the IPv4 address.
 *
 * The check is made when a webhook is added and again at each delivery, on the
 * addresses the name resolves to then; the sender connects only to the addresses
 * it checked (server/webhook.c pins them), so a name that changes between the
 * check and the connection cannot redirect it. Parses outside input; does not log. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/proxy.h"

typedef enum {
        SSRF_PUBLIC,
        SSRF_PRIVATE,   /* loopback and private ranges: only when allowed */
        SSRF_FORBIDDEN, /* link-local, metadata, unspecified, multicast, reserved: never */
} ssrf_class_t;

/* The class of a, and (if ret_what) a word for messages: "public", "loopback",
 * "private", "link-local", "cloud metadata", ... (static). */
ssrf_class_t ssrf_classify(const proxy_addr_t *a, const char **ret_what);
/* May berthd connect to a? Public: yes; private: when allow holds it; forbidden:
 * never. ret_what as above. */
bool ssrf_allowed(const proxy_addr_t *a, const proxy_cidrs_t *allow, const char **ret_what);

typedef struct {
        bool https;
        char host[256]; /* a name, or an address without brackets */
        uint16_t port;  /* the URL's, else 80 or 443 */
        bool literal;   /* host is an address */
        proxy_addr_t addr; /* when literal */
} ssrf_url_t;

/* An absolute http or https URL with a host, without user information (a secret
 * does not belong in a URL: the webhook's secret signs instead). 0, or -EINVAL
 * with *ret_why (static) saying what is wrong. */
int ssrf_url_parse(const char *url, ssrf_url_t *ret, const char **ret_why);

/* The address to connect to for u: a literal's own, else the first address the
 * host resolves to that is allowed. With strict (a webhook being added), any
 * forbidden address among them refuses the URL. 0 and *ret; BERTH_EDENIED (why
 * says which address and what it is); BERTH_EUNAVAILABLE when the name does not
 * resolve (why: the resolver's words). */
int ssrf_resolve(const ssrf_url_t *u, const proxy_cidrs_t *allow, bool strict, proxy_addr_t *ret, char *why,
                 size_t why_size);
/* The same, with every allowed address (at most max, in the resolver's order) in
 * ret[0 .. *ret_n - 1]: what a connection may try in turn. */
#define SSRF_ADDRS_MAX 8
int ssrf_resolve_all(const ssrf_url_t *u, const proxy_cidrs_t *allow, bool strict, proxy_addr_t *ret,
                     size_t max, size_t *ret_n, char *why, size_t why_size);

/* The check of a webhook's target when it is added or changed (the command line
 * and the management API alike): url parsed (at most max_len bytes) and resolved
 * strictly under allow. 0; -EINVAL a bad URL; BERTH_EDENIED or BERTH_EUNAVAILABLE
 * refused. why (never empty on failure) says what is wrong. */
int ssrf_target_check(const char *url, size_t max_len, const proxy_cidrs_t *allow, char *why, size_t why_size);
