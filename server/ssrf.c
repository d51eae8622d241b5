/* server/ssrf.c: webhook targets: URL, addresses, and the ranges berthd keeps out
 * of (see ssrf.h). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include "common/err.h"
#include "server/ssrf.h"

typedef struct {
        uint8_t b[4];
        unsigned prefix;
        ssrf_class_t cls;
        const char *what;
} range4_t;

/* First match wins: the narrower ranges first. */
static const range4_t V4[] = {
        { { 169, 254, 169, 254 }, 32, SSRF_FORBIDDEN, "cloud metadata" },
        { { 192, 0, 0, 192 }, 32, SSRF_FORBIDDEN, "cloud metadata" },    /* Oracle Cloud */
        { { 168, 63, 129, 16 }, 32, SSRF_FORBIDDEN, "cloud metadata" },  /* Azure's host endpoint */
        { { 100, 100, 100, 200 }, 32, SSRF_FORBIDDEN, "cloud metadata" }, /* Alibaba Cloud */
        { { 0, 0, 0, 0 }, 8, SSRF_FORBIDDEN, "unspecified" },
        { { 169, 254, 0, 0 }, 16, SSRF_FORBIDDEN, "link-local" },
        { { 224, 0, 0, 0 }, 4, SSRF_FORBIDDEN, "multicast" },
        { { 240, 0, 0, 0 }, 4, SSRF_FORBIDDEN, "reserved" }, /* and the broadcast address */
        { { 127, 0, 0, 0 }, 8, SSRF_PRIVATE, "loopback" },
        { { 10, 0, 0, 0 }, 8, SSRF_PRIVATE, "private" },
        { { 172, 16, 0, 0 }, 12, SSRF_PRIVATE, "private" },
        { { 192, 168, 0, 0 }, 16, SSRF_PRIVATE, "private" },
        { { 100, 64, 0, 0 }, 10, SSRF_PRIVATE, "shared address space" },
};

static bool prefix_match(const uint8_t *net, unsigned prefix, const uint8_t *a) {
        unsigned whole = prefix / 8, rest = prefix % 8;

        if (memcmp(net, a, whole) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((net[whole] ^ a[whole]) & (uint8_t) (0xff << (8 - rest))) == 0;
}

static ssrf_class_t classify4(const uint8_t b[4], const char **ret_what) {
        for (size_t i = 0; i < sizeof(V4) / sizeof(V4[0]); i++)
                if (prefix_match(V4[i].b, V4[i].prefix, b)) {
                        *ret_what = V4[i].what;
                        return V4[i].cls;
                }
        *ret_what = "public";
        return SSRF_PUBLIC;
}

static const uint8_t V6_METADATA[16] = { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54 };
static const uint8_t V6_NAT64[12] = { 0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };      /* 64:ff9b::/96 */
static const uint8_t V6_NAT64_LOCAL[6] = { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 };            /* 64:ff9b:1::/48 */
static const uint8_t V6_ZERO[16] = { 0 };

static ssrf_class_t classify6(const uint8_t b[16], const char **ret_what) {
        if (memcmp(b, V6_ZERO, 15) == 0 && (b[15] == 0 || b[15] == 1)) {
                *ret_what = b[15] ? "loopback" : "unspecified";
                return b[15] ? SSRF_PRIVATE : SSRF_FORBIDDEN;
        }
        if (memcmp(b, V6_METADATA, 16) == 0) {
                *ret_what = "cloud metadata";
                return SSRF_FORBIDDEN;
        }
        /* an IPv4 address inside: NAT64, 6to4, IPv4-compatible (::a.b.c.d) */
        if (memcmp(b, V6_NAT64, sizeof(V6_NAT64)) == 0 || memcmp(b, V6_ZERO, 12) == 0 ||
            memcmp(b, V6_NAT64_LOCAL, sizeof(V6_NAT64_LOCAL)) == 0)
                return classify4(b + 12, ret_what);
        if (b[0] == 0x20 && b[1] == 0x02) /* 2002::/16: 6to4, the IPv4 address next */
                return classify4(b + 2, ret_what);
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
                *ret_what = "link-local";
                return SSRF_FORBIDDEN;
        }
        if (b[0] == 0xff) {
                *ret_what = "multicast";
                return SSRF_FORBIDDEN;
        }
        if ((b[0] & 0xfe) == 0xfc) {
                *ret_what = "unique local";
                return SSRF_PRIVATE;
        }
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
                *ret_what = "site-local";
                return SSRF_PRIVATE;
        }
        *ret_what = "public";
        return SSRF_PUBLIC;
}

ssrf_class_t ssrf_classify(const proxy_addr_t *a, const char **ret_what) {
        const char *what = "not an address";
        ssrf_class_t c = SSRF_FORBIDDEN;

        if (a && a->family == AF_INET)
                c = classify4(a->bytes, &what);
        else if (a && a->family == AF_INET6)
                c = classify6(a->bytes, &what);
        if (ret_what)
                *ret_what = what;
        return c;
}

bool ssrf_allowed(const proxy_addr_t *a, const proxy_cidrs_t *allow, const char **ret_what) {
        switch (ssrf_classify(a, ret_what)) {
        case SSRF_PUBLIC:
                return true;
        case SSRF_PRIVATE:
                return proxy_cidrs_match(allow, a);
        default:
                return false;
        }
}

/* ---- URLs ---- */

int ssrf_url_parse(const char *url, ssrf_url_t *ret, const char **ret_why) {
        CURLU *h = NULL;
        char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *password = NULL, *zone = NULL;
        const char *why = NULL;
        ssrf_url_t u = { 0 };
        size_t hl;
        long p;

        if (!url || !ret)
                return -EINVAL;
        if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
                why = "not an http:// or https:// URL";
                goto out;
        }
        /* "http:///x" is "http://x" to libcurl and nothing to other parsers: refused */
        if (url[strcspn(url, ":") + 3] == '/' || url[strcspn(url, ":") + 3] == '\\') {
                why = "no host";
                goto out;
        }
        h = curl_url();
        if (!h) {
                why = "out of memory";
                goto out;
        }
        if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
                why = "not a valid URL";
                goto out;
        }
        if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
                why = "not an http:// or https:// URL";
                goto out;
        }
        if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
            curl_url_get(h, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
                why = "user information in the URL (a secret does not belong in it; give the webhook a secret)";
                goto out;
        }
        if (curl_url_get(h, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
                why = "a zone in the address";
                goto out;
        }
        if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
                why = "no host";
                goto out;
        }
        if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
                why = "no port";
                goto out;
        }
        p = strtol(port, NULL, 10);
        if (p < 1 || p > 65535) {
                why = "port out of range";
                goto out;
        }
        hl = strlen(host);
        if (host[0] == '[') { /* an IPv6 address */
                if (hl < 3 || host[hl - 1] != ']') {
                        why = "not a valid URL";
                        goto out;
                }
                memmove(host, host + 1, hl - 2);
                host[hl - 2] = '\0';
                hl -= 2;
        }
        if (hl >= sizeof(u.host)) {
                why = "host name too long";
                goto out;
        }
        memcpy(u.host, host, hl + 1);
        u.https = strcmp(scheme, "https") == 0;
        u.port = (uint16_t) p;
        u.literal = proxy_addr_parse(u.host, hl, &u.addr) == 0;
out:
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(user);
        curl_free(password);
        curl_free(zone);
        curl_url_cleanup(h);
        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        *ret = u;
        return 0;
}

int ssrf_resolve(const ssrf_url_t *u, const proxy_cidrs_t *allow, bool strict, proxy_addr_t *ret, char *why,
                 size_t why_size) {
        size_t n = 0;

        return ssrf_resolve_all(u, allow, strict, ret, 1, &n, why, why_size);
}

int ssrf_resolve_all(const ssrf_url_t *u, const proxy_cidrs_t *allow, bool strict, proxy_addr_t *ret,
                     size_t max, size_t *ret_n, char *why, size_t why_size) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
        char text[PROXY_ADDR_STRLEN], refused[PROXY_ADDR_STRLEN + 64] = "";
        size_t have = 0;
        const char *what;
        int e;

        if (!u || !ret || !ret_n || max == 0)
                return -EINVAL;
        if (why && why_size)
                why[0] = '\0';
        if (u->literal) {
                if (!ssrf_allowed(&u->addr, allow, &what)) {
                        proxy_addr_format(&u->addr, text, sizeof(text));
                        if (why)
                                (void) snprintf(why, why_size, "%s is %s%s", text, what,
                                                ssrf_classify(&u->addr, NULL) == SSRF_PRIVATE
                                                        ? " (not in --webhook-allow-cidr)" : "");
                        return BERTH_EDENIED;
                }
                ret[0] = u->addr;
                *ret_n = 1;
                return 0;
        }
        e = getaddrinfo(u->host, NULL, &hints, &res);
        if (e != 0) {
                if (why)
                        (void) snprintf(why, why_size, "cannot resolve %s: %s", u->host,
                                        e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
                return BERTH_EUNAVAILABLE;
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                proxy_addr_t a;
                bool ok;

                if (proxy_addr_from_sockaddr(ai->ai_addr, &a) < 0)
                        continue;
                ok = ssrf_allowed(&a, allow, &what);
                if (ok) {
                        bool dup = false;
                        for (size_t i = 0; i < have; i++)
                                dup = dup || proxy_addr_equal(&ret[i], &a);
                        if (!dup && have < max)
                                ret[have++] = a;
                }
                if (!ok && (!refused[0] || ssrf_classify(&a, NULL) == SSRF_FORBIDDEN)) {
                        proxy_addr_format(&a, text, sizeof(text));
                        (void) snprintf(refused, sizeof(refused), "%s (%s%s)", text, what,
                                        ssrf_classify(&a, NULL) == SSRF_PRIVATE ? ", not in --webhook-allow-cidr"
                                                                                : "");
                        if (strict && ssrf_classify(&a, NULL) == SSRF_FORBIDDEN) {
                                have = 0;
                                break;
                        }
                }
        }
        freeaddrinfo(res);
        if (!have) {
                if (why)
                        (void) snprintf(why, why_size, "%s resolves to %s", u->host,
                                        refused[0] ? refused : "no address");
                return BERTH_EDENIED;
        }
        *ret_n = have;
        return 0;
}

int ssrf_target_check(const char *url, size_t max_len, const proxy_cidrs_t *allow, char *why, size_t why_size) {
        const char *bad = NULL;
        proxy_addr_t a;
        ssrf_url_t u;
        int r;

        if (!url || !why || why_size == 0)
                return -EINVAL;
        why[0] = '\0';
        if (strlen(url) > max_len) {
                (void) snprintf(why, why_size, "the URL is too long (%zu bytes at most)", max_len);
                return -EINVAL;
        }
        if (ssrf_url_parse(url, &u, &bad) < 0) {
                (void) snprintf(why, why_size, "bad URL: %s", bad ? bad : "not an http or https URL");
                return -EINVAL;
        }
        /* where the URL leads now: refused before it is stored (and checked again at
         * every delivery) */
        r = ssrf_resolve(&u, allow, true, &a, why, why_size);
        if (r < 0 && !why[0])
                (void) snprintf(why, why_size, "%s", berth_strerror(r));
        return r;
}
