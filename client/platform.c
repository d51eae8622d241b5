/* client/platform.c: containerd's platform normalization and matching order. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include "client/platform.h"

/* bounded copy, always NUL-terminated (longer input is cut) */
static void set(char *dst, size_t n, const char *s) {
        size_t i = 0;

        for (; s && s[i] && i + 1 < n; i++)
                dst[i] = s[i];
        dst[i] = '\0';
}

void platform_normalize(platform_t *p) {
        char *a = p->arch, *v = p->variant;

        for (char *c = p->os; *c; c++)
                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        if (strcmp(p->os, "macos") == 0)
                set(p->os, sizeof(p->os), "darwin");
        if (strcmp(a, "i386") == 0) {
                set(a, sizeof(p->arch), "386");
                v[0] = '\0';
        } else if (strcmp(a, "x86_64") == 0 || strcmp(a, "x86-64") == 0 || strcmp(a, "amd64") == 0) {
                set(a, sizeof(p->arch), "amd64");
                if (strcmp(v, "v1") == 0)
                        v[0] = '\0';
        } else if (strcmp(a, "aarch64") == 0 || strcmp(a, "arm64") == 0) {
                set(a, sizeof(p->arch), "arm64");
                if (strcmp(v, "8") == 0 || strcmp(v, "v8") == 0 || strcmp(v, "8.0") == 0 || strcmp(v, "v8.0") == 0)
                        v[0] = '\0';
                else if (v[0] >= '0' && v[0] <= '9') {
                        char t[16];
                        snprintf(t, sizeof(t), "v%.14s", v);
                        set(v, sizeof(p->variant), t);
                }
        } else if (strcmp(a, "armhf") == 0) {
                set(a, sizeof(p->arch), "arm");
                set(v, sizeof(p->variant), "v7");
        } else if (strcmp(a, "armel") == 0) {
                set(a, sizeof(p->arch), "arm");
                set(v, sizeof(p->variant), "v6");
        } else if (strcmp(a, "arm") == 0) {
                if (!v[0] || strcmp(v, "7") == 0)
                        set(v, sizeof(p->variant), "v7");
                else if (strcmp(v, "5") == 0 || strcmp(v, "6") == 0 || strcmp(v, "8") == 0) {
                        char t[4] = { 'v', v[0], 0, 0 };
                        set(v, sizeof(p->variant), t);
                }
        }
}

static bool token_ok(const char *s, size_t n) {
        if (n == 0 || n >= 16)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
                        return false;
        return true;
}

int platform_parse(const char *s, platform_t *ret) {
        platform_t p;

        memset(&p, 0, sizeof(p));
        const char *parts[3];
        size_t lens[3], n = 0;
        const char *c = s;

        if (!s)
                return -EINVAL;
        for (;;) {
                const char *slash = strchr(c, '/');
                size_t l = slash ? (size_t) (slash - c) : strlen(c);
                if (n == 3 || !token_ok(c, l))
                        return -EINVAL;
                parts[n] = c;
                lens[n++] = l;
                if (!slash)
                        break;
                c = slash + 1;
        }
        if (n < 2)
                return -EINVAL;
        snprintf(p.os, sizeof(p.os), "%.*s", (int) lens[0], parts[0]);
        snprintf(p.arch, sizeof(p.arch), "%.*s", (int) lens[1], parts[1]);
        if (n == 3)
                snprintf(p.variant, sizeof(p.variant), "%.*s", (int) lens[2], parts[2]);
        platform_normalize(&p);
        *ret = p;
        return 0;
}

void platform_default(platform_t *ret) {
        struct utsname u;
        platform_t p;

        memset(&p, 0, sizeof(p));

        set(p.os, sizeof(p.os), "linux");
        if (uname(&u) == 0) {
                if (strncmp(u.machine, "armv", 4) == 0 && u.machine[4] >= '5' && u.machine[4] <= '8') {
                        set(p.arch, sizeof(p.arch), "arm");
                        p.variant[0] = 'v';
                        p.variant[1] = u.machine[4];
                } else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i586") == 0)
                        set(p.arch, sizeof(p.arch), "386");
                else
                        set(p.arch, sizeof(p.arch), u.machine);
        } else
                set(p.arch, sizeof(p.arch), "amd64");
        platform_normalize(&p);
        *ret = p;
}

void platform_format(const platform_t *p, char *buf, size_t n) {
        snprintf(buf, n, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

/* the ordered list of platforms want accepts */
static size_t vector(const platform_t *want, platform_t *out, size_t max) {
        size_t n = 0;
        int ver;

        out[n++] = *want;
        if (strcmp(want->arch, "amd64") == 0) {
                ver = want->variant[0] == 'v' ? want->variant[1] - '0' : 1;
                for (ver--; ver >= 1 && n < max; ver--) {
                        out[n] = *want;
                        if (ver == 1)
                                out[n].variant[0] = '\0';
                        else
                                snprintf(out[n].variant, sizeof(out[n].variant), "v%d", ver);
                        n++;
                }
                if (n < max) {
                        out[n] = *want;
                        set(out[n].arch, sizeof(out[n].arch), "386");
                        out[n++].variant[0] = '\0';
                }
        } else if (strcmp(want->arch, "arm") == 0 || strcmp(want->arch, "arm64") == 0) {
                if (strcmp(want->arch, "arm64") == 0) {
                        if (want->variant[0] && n < max) { /* v8.x / v9: plain v8 too */
                                out[n] = *want;
                                out[n++].variant[0] = '\0';
                        }
                        ver = 9;
                } else
                        ver = want->variant[0] == 'v' ? want->variant[1] - '0' : 7;
                for (ver--; ver >= 5 && n < max; ver--) {
                        out[n] = *want;
                        set(out[n].arch, sizeof(out[n].arch), "arm");
                        snprintf(out[n].variant, sizeof(out[n].variant), "v%d", ver);
                        n++;
                }
        }
        return n;
}

int platform_rank(const platform_t *want, const char *os, const char *arch, const char *variant) {
        platform_t cand, vec[12];
        size_t n;

        if (!os || !arch)
                return -1;
        memset(&cand, 0, sizeof(cand));
        set(cand.os, sizeof(cand.os), os);
        set(cand.arch, sizeof(cand.arch), arch);
        set(cand.variant, sizeof(cand.variant), variant);
        platform_normalize(&cand);
        n = vector(want, vec, sizeof(vec) / sizeof(vec[0]));
        for (size_t i = 0; i < n; i++)
                if (strcmp(vec[i].os, cand.os) == 0 && strcmp(vec[i].arch, cand.arch) == 0 &&
                    strcmp(vec[i].variant, cand.variant) == 0)
                        return (int) i;
        return -1;
}
