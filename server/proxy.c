/* server/proxy.c: addresses, CIDR lists and the X-Forwarded-For walk. Everything
 * here reads outside input (the header) or operator input (the list): each piece is
 * bounded before it is copied and parsed with inet_pton, which takes no shortcuts
 * (no octal, no short forms of IPv4, no zones). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "server/proxy.h"

struct proxy_cidrs {
        size_t n;
        struct cidr {
                proxy_addr_t net; /* bits past the prefix cleared */
                unsigned prefix;  /* 0..32 (AF_INET) or 0..128 (AF_INET6) */
        } e[];
};

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void set_v4(proxy_addr_t *a, const uint8_t b[4]) {
        memset(a, 0, sizeof(*a));
        a->family = AF_INET;
        memcpy(a->bytes, b, 4);
}

/* An IPv6 address, or the IPv4 address it maps. */
static void set_v6(proxy_addr_t *a, const uint8_t b[16]) {
        if (memcmp(b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
                set_v4(a, b + 12);
                return;
        }
        memset(a, 0, sizeof(*a));
        a->family = AF_INET6;
        memcpy(a->bytes, b, 16);
}

int proxy_addr_parse(const char *s, size_t len, proxy_addr_t *ret) {
        char buf[PROXY_ADDR_STRLEN];
        uint8_t b[16];

        if (!s || len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (memchr(buf, '\0', len))
                return -EINVAL; /* a NUL inside the piece */
        if (inet_pton(AF_INET, buf, b) == 1) {
                set_v4(ret, b);
                return 0;
        }
        if (inet_pton(AF_INET6, buf, b) == 1) {
                set_v6(ret, b);
                return 0;
        }
        return -EINVAL;
}

int proxy_addr_from_sockaddr(const struct sockaddr *sa, proxy_addr_t *ret) {
        if (!sa)
                return -EAFNOSUPPORT;
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *) sa;
                set_v4(ret, (const uint8_t *) &s4->sin_addr);
                return 0;
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) sa;
                set_v6(ret, (const uint8_t *) &s6->sin6_addr);
                return 0;
        }
        return -EAFNOSUPPORT;
}

void proxy_addr_format(const proxy_addr_t *a, char *buf, size_t size) {
        if (size == 0)
                return;
        if (!a || (a->family != AF_INET && a->family != AF_INET6) ||
            !inet_ntop(a->family, a->bytes, buf, (socklen_t) (size > 1024 ? 1024 : size))) {
                buf[0] = '\0';
                strncat(buf, "?", size - 1);
        }
}

bool proxy_addr_equal(const proxy_addr_t *a, const proxy_addr_t *b) {
        return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Does a start with the first prefix bits of net? */
static bool prefix_match(const proxy_addr_t *net, unsigned prefix, const proxy_addr_t *a) {
        unsigned whole = prefix / 8, rest = prefix % 8;

        if (net->family != a->family)
                return false;
        if (memcmp(net->bytes, a->bytes, whole) != 0)
                return false;
        if (rest == 0)
                return true;
        uint8_t mask = (uint8_t) (0xff << (8 - rest));
        return (net->bytes[whole] & mask) == (a->bytes[whole] & mask);
}

static void clear_host_bits(proxy_addr_t *a, unsigned prefix) {
        for (unsigned bit = prefix; bit < 128; bit++)
                a->bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

/* "1..3 digits" as a prefix length no larger than max. */
static int parse_prefix(const char *s, size_t len, unsigned max, unsigned *ret) {
        unsigned v = 0;

        if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_cidr(const char *s, size_t len, struct cidr *ret) {
        const char *slash = memchr(s, '/', len);
        size_t alen = slash ? (size_t) (slash - s) : len;
        bool mapped;
        uint8_t b[16];
        char buf[PROXY_ADDR_STRLEN];
        unsigned max, prefix;
        int r;

        if (alen == 0 || alen >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, alen);
        buf[alen] = '\0';
        /* Parsed here rather than by proxy_addr_parse, to see whether a v6 block
         * is spelled in the v4-mapped range (then it is turned into its v4 block). */
        if (inet_pton(AF_INET, buf, b) == 1) {
                set_v4(&ret->net, b);
                max = 32;
                mapped = false;
        } else if (inet_pton(AF_INET6, buf, b) == 1) {
                set_v6(&ret->net, b);
                max = 128;
                mapped = ret->net.family == AF_INET;
        } else
                return -EINVAL;
        if (!slash)
                prefix = max;
        else {
                r = parse_prefix(slash + 1, len - alen - 1, max, &prefix);
                if (r < 0)
                        return r;
        }
        if (mapped) {
                /* ::ffff:10.0.0.0/104 is 10.0.0.0/8; a shorter prefix reaches past
                 * the mapped range, which holds no other addresses we see */
                if (prefix < 96)
                        return -EINVAL;
                prefix -= 96;
        }
        ret->prefix = prefix;
        clear_host_bits(&ret->net, prefix);
        return 0;
}

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

/* The next comma-separated piece of [*pos, end) without the spaces around it.
 * false at the end of input. */
static bool next_piece(const char **pos, const char *end, const char **ret_s, size_t *ret_len) {
        const char *p = *pos, *s, *e;

        if (p > end)
                return false;
        s = p;
        while (p < end && *p != ',')
                p++;
        e = p;
        *pos = p + 1; /* past the comma, or one past end: the last piece */
        while (s < e && is_ows(*s))
                s++;
        while (e > s && is_ows(e[-1]))
                e--;
        *ret_s = s;
        *ret_len = (size_t) (e - s);
        return true;
}

int proxy_cidrs_parse(const char *list, proxy_cidrs_t **ret) {
        const char *pos, *end, *s;
        size_t n = 0, len;
        proxy_cidrs_t *t;
        bool blank = true;
        int r;

        if (!list || !ret)
                return -EINVAL;
        end = list + strlen(list);
        for (const char *p = list; p < end; p++) {
                if (*p == ',')
                        n++;
                if (!is_ows(*p))
                        blank = false;
        }
        if (blank)
                n = 0;
        else
                n++;
        if (n > PROXY_CIDRS_MAX)
                return -E2BIG;
        t = calloc(1, sizeof(*t) + n * sizeof(t->e[0]));
        if (!t)
                return -ENOMEM;
        pos = list;
        for (size_t i = 0; i < n; i++) {
                if (!next_piece(&pos, end, &s, &len)) {
                        free(t);
                        return -EINVAL;
                }
                r = parse_cidr(s, len, &t->e[i]);
                if (r < 0) {
                        free(t);
                        return r;
                }
        }
        t->n = n;
        *ret = t;
        return 0;
}

proxy_cidrs_t *proxy_cidrs_free(proxy_cidrs_t *t) {
        free(t);
        return NULL;
}

bool proxy_cidrs_match(const proxy_cidrs_t *t, const proxy_addr_t *a) {
        if (!t || !a)
                return false;
        for (size_t i = 0; i < t->n; i++)
                if (prefix_match(&t->e[i].net, t->e[i].prefix, a))
                        return true;
        return false;
}

/* The pieces of one header value, from the right. */
typedef struct walk {
        const char *start, *pos; /* pos: the end of what is left to read */
} walk_t;

static bool walk_prev(walk_t *w, const char **ret_s, size_t *ret_len) {
        const char *e = w->pos, *s;

        if (!w->pos)
                return false;
        s = e;
        while (s > w->start && s[-1] != ',')
                s--;
        w->pos = s > w->start ? s - 1 : NULL; /* before the comma, or done */
        while (s < e && is_ows(*s))
                s++;
        while (e > s && is_ows(e[-1]))
                e--;
        *ret_s = s;
        *ret_len = (size_t) (e - s);
        return true;
}

int proxy_client_addr(const proxy_cidrs_t *trusted, const proxy_addr_t *peer,
                      const char *const *xff, size_t n, proxy_addr_t *ret) {
        proxy_addr_t client = *peer, a;
        bool found = false, any = false;

        *ret = *peer;
        if (!proxy_cidrs_match(trusted, peer))
                return 0;
        for (size_t i = n; i-- > 0;) {
                walk_t w;
                const char *s;
                size_t len;

                if (!xff[i])
                        continue;
                w.start = xff[i];
                w.pos = xff[i] + strlen(xff[i]);
                while (walk_prev(&w, &s, &len)) {
                        if (proxy_addr_parse(s, len, &a) < 0)
                                return -EINVAL; /* *ret is the peer */
                        any = true;
                        /* going left: the first untrusted hop is the client; keep
                         * reading to check the rest of the header */
                        if (!found) {
                                client = a;
                                found = !proxy_cidrs_match(trusted, &a);
                        }
                }
        }
        if (!any)
                return 0;
        *ret = client;
        return 1;
}
