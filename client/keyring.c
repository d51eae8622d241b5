/* client/keyring.c: the kubelet's BasicDockerKeyring + UnionDockerKeyring rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "client/keyring.h"
#include "common/macro.h"

typedef struct {
        char *key, *username, *password;
        size_t seq; /* insertion order, keeps credentials of one key in order */
} kentry_t;

typedef struct {
        kentry_t *v;
        size_t n;
} kset_t;

struct keyring {
        kset_t set[2];
        size_t seq;
};

int keyring_new(keyring_t **ret) {
        keyring_t *k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        *ret = k;
        return 0;
}

keyring_t *keyring_free(keyring_t *k) {
        if (!k)
                return NULL;
        for (int s = 0; s < 2; s++) {
                for (size_t i = 0; i < k->set[s].n; i++) {
                        kentry_t *e = &k->set[s].v[i];
                        free(e->key);
                        free(e->username);
                        if (e->password) {
                                explicit_bzero(e->password, strlen(e->password));
                                free(e->password);
                        }
                }
                free(k->set[s].v);
        }
        free(k);
        return NULL;
}

char *keyring_key_normalize(const char *loc) {
        const char *p = loc, *slash;
        size_t hostlen;
        char *key;

        if (strncmp(p, "https://", 8) == 0)
                p += 8;
        else if (strncmp(p, "http://", 7) == 0)
                p += 7;
        else if (strstr(p, "://"))
                return NULL;
        slash = strchr(p, '/');
        hostlen = slash ? (size_t) (slash - p) : strlen(p);
        if (hostlen == 0)
                return NULL;
        if (slash && (strncmp(slash, "/v1/", 4) == 0 || strncmp(slash, "/v2/", 4) == 0))
                slash += 3;
        if (!slash || strcmp(slash, "/") == 0 || !slash[0])
                return strndup(p, hostlen);
        key = malloc(hostlen + strlen(slash) + 1);
        if (!key)
                return NULL;
        memcpy(key, p, hostlen);
        strcpy(key + hostlen, slash);
        return key;
}

/* One pattern element at pat[*pi] (not '*') against the character c: 1 matches (and
 * *pi moves past the element), 0 does not, -1 the pattern is malformed (an unclosed
 * "[" class: it can match nothing, like filepath.Match's ErrBadPattern). */
static int match_one(const char *pat, size_t plen, size_t *pi, char c) {
        size_t i = *pi;
        char p = pat[i];

        if (p == '?') {
                *pi = i + 1;
                return 1;
        }
        if (p == '[') {
                bool neg = false, ok = false;
                size_t j = i + 1;
                if (j < plen && pat[j] == '^') {
                        neg = true;
                        j++;
                }
                for (bool first = true; j < plen && (first || pat[j] != ']'); first = false) {
                        char lo = pat[j++], hi = lo;
                        if (j + 1 < plen && pat[j] == '-' && pat[j + 1] != ']') {
                                hi = pat[j + 1];
                                j += 2;
                        }
                        if (c >= lo && c <= hi)
                                ok = true;
                }
                if (j >= plen)
                        return -1;
                *pi = j + 1;
                return ok != neg;
        }
        if (p == '\\' && i + 1 < plen)
                p = pat[++i];
        *pi = i + 1;
        return p == c;
}

/* filepath.Match over one label (no '/' inside labels). Every element but '*' takes
 * exactly one character, so only the last '*' seen needs to be retried (one more
 * character for it each time): O(plen * slen) steps, where retrying every '*' at every
 * position would be exponential in the number of stars. */
static bool glob(const char *pat, size_t plen, const char *s, size_t slen) {
        size_t pi = 0, si = 0, star_pi = 0, star_si = 0;
        bool star = false;

        while (si < slen) {
                size_t next = pi;
                int m;

                if (pi < plen && pat[pi] == '*') {
                        while (pi < plen && pat[pi] == '*')
                                pi++;
                        star = true;
                        star_pi = pi;
                        star_si = si;
                        continue;
                }
                m = pi < plen ? match_one(pat, plen, &next, s[si]) : 0;
                if (m < 0)
                        return false;
                if (m > 0) {
                        pi = next;
                        si++;
                        continue;
                }
                if (!star)
                        return false;
                /* the last star takes one more character and the rest is tried again */
                pi = star_pi;
                si = ++star_si;
        }
        while (pi < plen && pat[pi] == '*')
                pi++;
        return pi == plen;
}

typedef struct {
        const char *host;
        size_t hostlen;
        const char *port;
        size_t portlen;
        const char *path; /* "" or "/..." */
} url_t;

static void split_url(const char *s, url_t *u) {
        const char *slash = strchr(s, '/');
        size_t hl = slash ? (size_t) (slash - s) : strlen(s);
        const char *colon;

        u->path = slash ? slash : "";
        u->port = "";
        u->portlen = 0;
        u->host = s;
        u->hostlen = hl;
        /* like net.SplitHostPort: "[v6]:port", or "host:port" with exactly one colon */
        if (hl > 0 && s[0] == '[') {
                const char *rb = memchr(s, ']', hl);
                if (rb && (size_t) (rb - s) + 1 < hl && rb[1] == ':') {
                        u->host = s + 1;
                        u->hostlen = (size_t) (rb - s) - 1;
                        u->port = rb + 2;
                        u->portlen = hl - (size_t) (rb - s) - 2;
                }
                return;
        }
        colon = memchr(s, ':', hl);
        if (colon && !memchr(colon + 1, ':', hl - (size_t) (colon - s) - 1)) {
                u->hostlen = (size_t) (colon - s);
                u->port = colon + 1;
                u->portlen = hl - u->hostlen - 1;
        }
}

static size_t count_labels(const char *h, size_t n) {
        size_t c = 1;
        for (size_t i = 0; i < n; i++)
                if (h[i] == '.')
                        c++;
        return c;
}

bool keyring_match(const char *key, const char *image) {
        url_t g, t;
        const char *gp, *tp;
        size_t gn, tn;

        split_url(key, &g);
        split_url(image, &t);
        if (g.portlen != t.portlen || memcmp(g.port, t.port, g.portlen) != 0)
                return false;
        if (count_labels(g.host, g.hostlen) != count_labels(t.host, t.hostlen))
                return false;
        if (strncmp(t.path, g.path, strlen(g.path)) != 0)
                return false;
        gp = g.host;
        gn = g.hostlen;
        tp = t.host;
        tn = t.hostlen;
        for (;;) {
                const char *gd = memchr(gp, '.', gn), *td = memchr(tp, '.', tn);
                size_t gl = gd ? (size_t) (gd - gp) : gn, tl = td ? (size_t) (td - tp) : tn;
                if (!glob(gp, gl, tp, tl))
                        return false;
                if (!gd || !td)
                        return !gd && !td;
                gp = gd + 1;
                gn -= gl + 1;
                tp = td + 1;
                tn -= tl + 1;
        }
}

int keyring_add(keyring_t *k, keyring_source_t src, const dockercfg_t *cfg) {
        kset_t *set = &k->set[src == KEYRING_NODE ? 1 : 0];

        for (size_t i = 0; i < dockercfg_count(cfg); i++) {
                const dockercfg_entry_t *d = dockercfg_entry(cfg, i);
                char *key;

                errno = 0;
                key = keyring_key_normalize(d->registry);
                kentry_t *nv;

                if (!key) {
                        if (errno == ENOMEM)
                                return -ENOMEM;
                        continue; /* the kubelet ignores entries it cannot parse */
                }
                nv = realloc(set->v, (set->n + 1) * sizeof(*set->v));
                if (!nv) {
                        free(key);
                        return -ENOMEM;
                }
                set->v = nv;
                nv[set->n] = (kentry_t) { .key = key, .username = strdup(d->username),
                                          .password = strdup(d->password), .seq = k->seq++ };
                if (!nv[set->n].username || !nv[set->n].password) {
                        free(nv[set->n].username);
                        free(nv[set->n].password);
                        free(key);
                        return -ENOMEM;
                }
                set->n++;
        }
        return 0;
}

static int cmp_entry(const void *a, const void *b) {
        const kentry_t *x = *(const kentry_t *const *) a, *y = *(const kentry_t *const *) b;
        int c = strcmp(y->key, x->key); /* reverse lexical: more specific first */
        if (c)
                return c;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool is_default_registry_match(const char *image) {
        const char *slash = strchr(image, '/');
        size_t n = slash ? (size_t) (slash - image) : strlen(image);

        if (n == 0)
                return false;
        if (!slash)
                return true;
        if ((n == 9 && memcmp(image, "docker.io", 9) == 0) || (n == 15 && memcmp(image, "index.docker.io", 15) == 0))
                return true;
        return !memchr(image, '.', n) && !memchr(image, ':', n);
}

static int lookup_set(const kset_t *set, keyring_source_t src, const char *image,
                      keyring_cred_t **out, size_t *n, size_t *cap) {
        _cleanup_free_ const kentry_t **sorted = NULL;
        size_t before = *n;

        if (set->n == 0)
                return 0;
        sorted = calloc(set->n, sizeof(*sorted));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < set->n; i++)
                sorted[i] = &set->v[i];
        qsort(sorted, set->n, sizeof(*sorted), cmp_entry);
        for (int pass = 0; pass < 2 && *n == before; pass++) {
                for (size_t i = 0; i < set->n; i++) {
                        const kentry_t *e = sorted[i];
                        bool m = pass == 0 ? keyring_match(e->key, image)
                                           : strcmp(e->key, "index.docker.io") == 0;
                        if (!m)
                                continue;
                        if (*n == *cap) {
                                size_t nc = *cap ? *cap * 2 : 8;
                                keyring_cred_t *nv = realloc(*out, nc * sizeof(**out));
                                if (!nv)
                                        return -ENOMEM;
                                *out = nv;
                                *cap = nc;
                        }
                        (*out)[(*n)++] = (keyring_cred_t) { .key = e->key, .username = e->username,
                                                            .password = e->password, .source = src };
                }
                if (pass == 0 && !is_default_registry_match(image))
                        break;
        }
        return 0;
}

int keyring_lookup(const keyring_t *k, const char *image, keyring_cred_t **ret, size_t *ret_n) {
        keyring_cred_t *out = NULL;
        size_t n = 0, cap = 0;
        int r;

        for (int s = 0; s < 2; s++) {
                r = lookup_set(&k->set[s], s == 0 ? KEYRING_POD : KEYRING_NODE, image, &out, &n, &cap);
                if (r < 0) {
                        free(out);
                        return r;
                }
        }
        *ret = out;
        *ret_n = n;
        return 0;
}
