/* server/negotiate.c: Accept, Accept-Encoding and If-None-Match (RFC 9110 12.5 and
 * 13.1.2), read in place: a list of elements split at commas, each a token (or an
 * entity tag) with optional ";name=value" parameters, optional whitespace around
 * each part. Only what the UI's answers need: q values (0 means "not acceptable"),
 * media ranges by type and subtype, entity tags by the weak comparison. */
#include <string.h>
#include "server/negotiate.h"

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

static bool ieq(const char *a, size_t alen, const char *b) {
        size_t blen = strlen(b);

        if (alen != blen)
                return false;
        for (size_t i = 0; i < alen; i++) {
                char x = a[i], y = b[i];
                if (x >= 'A' && x <= 'Z')
                        x = (char) (x - 'A' + 'a');
                if (y >= 'A' && y <= 'Z')
                        y = (char) (y - 'A' + 'a');
                if (x != y)
                        return false;
        }
        return true;
}

static void trim(const char **s, const char **e) {
        while (*s < *e && is_ows(**s))
                (*s)++;
        while (*e > *s && is_ows((*e)[-1]))
                (*e)--;
}

/* A qvalue: "0" or "1" with up to three decimals ("1.000"), else invalid (-1).
 * Returns thousandths. */
static int qvalue(const char *s, const char *e) {
        int v, scale = 100;

        if (s >= e || (*s != '0' && *s != '1'))
                return -1;
        v = (*s - '0') * 1000;
        s++;
        if (s == e)
                return v;
        if (*s != '.')
                return -1;
        for (s++; s < e; s++, scale /= 10) {
                if (*s < '0' || *s > '9' || scale == 0)
                        return -1;
                v += (*s - '0') * scale;
        }
        return v > 1000 ? -1 : v;
}

/* One list element [s, e): its value (before the first ';') in [*vs, *ve) and its q
 * (1000 when none; -1 when a q parameter is garbled). */
static int element(const char *s, const char *e, const char **vs, const char **ve) {
        const char *semi = memchr(s, ';', (size_t) (e - s));
        int q = 1000;

        *vs = s;
        *ve = semi ? semi : e;
        trim(vs, ve);
        while (semi) {
                const char *ps = semi + 1, *pe, *eq;
                semi = memchr(ps, ';', (size_t) (e - ps));
                pe = semi ? semi : e;
                trim(&ps, &pe);
                eq = memchr(ps, '=', (size_t) (pe - ps));
                if (!eq)
                        continue;
                const char *ns = ps, *ne = eq, *qs = eq + 1, *qe = pe;
                trim(&ns, &ne);
                trim(&qs, &qe);
                if (ieq(ns, (size_t) (ne - ns), "q"))
                        q = qvalue(qs, qe);
        }
        return q;
}

/* Calls fn on each element of the comma-separated list v (empty ones skipped) until
 * it returns true; true then. */
typedef bool (*element_fn)(const char *vs, const char *ve, int q, void *userdata);

static bool each_element(const char *v, element_fn fn, void *userdata) {
        const char *s = v, *end;
        size_t len;

        if (!v)
                return false;
        len = strnlen(v, NEGOTIATE_MAX + 1);
        if (len > NEGOTIATE_MAX)
                return false;
        end = v + len;
        while (s < end) {
                const char *comma = memchr(s, ',', (size_t) (end - s)), *e = comma ? comma : end;
                const char *vs, *ve;
                int q = element(s, e, &vs, &ve);

                if (vs < ve && fn(vs, ve, q, userdata))
                        return true;
                s = comma ? comma + 1 : end;
        }
        return false;
}

static bool html_range(const char *vs, const char *ve, int q, void *userdata) {
        const char *slash = memchr(vs, '/', (size_t) (ve - vs));
        (void) userdata;

        if (q <= 0 || !slash || !ieq(vs, (size_t) (slash - vs), "text"))
                return false;
        return ieq(slash + 1, (size_t) (ve - slash - 1), "html") || ieq(slash + 1, (size_t) (ve - slash - 1), "*");
}

bool negotiate_accepts_html(const char *accept) {
        return each_element(accept, html_range, NULL);
}

typedef struct {
        int gzip;  /* q of gzip or x-gzip when named; -2 when not */
        int star;  /* q of "*" when named; -2 when not */
} coding_t;

static bool coding(const char *vs, const char *ve, int q, void *userdata) {
        coding_t *c = userdata;
        size_t n = (size_t) (ve - vs);

        if (ieq(vs, n, "gzip") || ieq(vs, n, "x-gzip"))
                c->gzip = q > c->gzip ? q : c->gzip;
        else if (ieq(vs, n, "*"))
                c->star = q > c->star ? q : c->star;
        return false;
}

bool negotiate_accepts_gzip(const char *accept_encoding) {
        coding_t c = { .gzip = -2, .star = -2 };

        (void) each_element(accept_encoding, coding, &c);
        if (c.gzip != -2)
                return c.gzip > 0;
        return c.star > 0;
}

/* An entity tag [W/]"etagc*" (no ',') with the quotes: the part between them in [*os, *oe). */
static bool opaque(const char *s, const char *e, const char **os, const char **oe) {
        if (e - s >= 2 && s[0] == 'W' && s[1] == '/')
                s += 2;
        if (e - s < 2 || s[0] != '"' || e[-1] != '"')
                return false;
        for (const char *p = s + 1; p < e - 1; p++)
                if (*p == '"' || *p == ',' || (unsigned char) *p < 0x21 || *p == 0x7f)
                        return false;
        *os = s + 1;
        *oe = e - 1;
        return true;
}

typedef struct {
        const char *os, *oe; /* the opaque part of the server's tag */
        bool garbled;
} etag_want_t;

static bool etag_eq(const char *vs, const char *ve, int q, void *userdata) {
        etag_want_t *w = userdata;
        const char *os, *oe;
        (void) q;

        /* a ';' inside an entity tag is part of it: take the element whole */
        if (!opaque(vs, ve, &os, &oe)) {
                w->garbled = true;
                return true;
        }
        return oe - os == w->oe - w->os && memcmp(os, w->os, (size_t) (oe - os)) == 0;
}

bool negotiate_etag_match(const char *if_none_match, const char *etag) {
        etag_want_t w = { 0 };
        const char *s, *e;
        size_t len;

        if (!if_none_match || !etag || !opaque(etag, etag + strlen(etag), &w.os, &w.oe))
                return false;
        len = strnlen(if_none_match, NEGOTIATE_MAX + 1);
        if (len > NEGOTIATE_MAX)
                return false;
        s = if_none_match;
        e = s + len;
        trim(&s, &e);
        if (e - s == 1 && *s == '*')
                return true;
        /* entity tags hold no ',' here (etagc allows one, but a list is split at
         * commas by caches as well; berth's tags never have one): split at commas */
        while (s < e) {
                const char *comma = memchr(s, ',', (size_t) (e - s)), *ee = comma ? comma : e, *vs = s, *ve = ee;
                trim(&vs, &ve);
                if (vs < ve && etag_eq(vs, ve, 0, &w))
                        return !w.garbled;
                s = comma ? comma + 1 : e;
        }
        return false;
}
