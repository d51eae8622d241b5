/* client/platform.h: choosing a manifest from an index the way containerd does:
 * os/arch/variant, normalized (aarch64 → arm64, x86_64 → amd64, arm defaults to v7,
 * arm64's v8 and amd64's v1 are the empty variant), with the fallbacks containerd's
 * platforms.Only accepts (arm/v7 also takes v6 and v5; arm64 takes arm/v8..v5;
 * amd64/vN takes lower levels, then 386). */
#pragma once
#include <stddef.h>

typedef struct {
        char os[32];
        char arch[32];
        char variant[16];
} platform_t;

/* "os/arch[/variant]" → normalized; -EINVAL when malformed. */
int platform_parse(const char *s, platform_t *ret);
/* The machine we run on (uname), normalized. */
void platform_default(platform_t *ret);
/* Normalize in place. */
void platform_normalize(platform_t *p);
/* "os/arch[/variant]" into buf. */
void platform_format(const platform_t *p, char *buf, size_t n);
/* How well a candidate (os, arch, variant as written in an index; variant may be NULL)
 * suits want: 0 is an exact match, larger is a worse fallback, -1 does not match. */
int platform_rank(const platform_t *want, const char *os, const char *arch, const char *variant);
