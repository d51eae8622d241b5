/* tests/fuzz/fuzz-platform.c: the client's platform matching (client/platform.c). The
 * first line is a wanted platform as a user gives it (`--platform os/arch[/variant]`);
 * each further line is a candidate as a registry's index names it, its os, arch and
 * variant separated by tabs (no third field: no variant). Checks: a parsed platform has
 * non-empty os and arch, is normalized (normalizing again changes nothing), formats to
 * text that parses back to it and ranks 0 against itself; a candidate ranks in
 * -1..11, 0 exactly when it normalizes to the wanted platform, -1 when its os differs,
 * and the same on a second call. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The candidate as platform_rank sees it: cut to the fields' sizes, normalized. */
static void candidate(platform_t *p, const char *os, const char *arch, const char *variant) {
        memset(p, 0, sizeof(*p));
        snprintf(p->os, sizeof(p->os), "%s", os);
        snprintf(p->arch, sizeof(p->arch), "%s", arch);
        snprintf(p->variant, sizeof(p->variant), "%s", variant ? variant : "");
        platform_normalize(p);
}

static bool same(const platform_t *a, const platform_t *b) {
        return !strcmp(a->os, b->os) && !strcmp(a->arch, b->arch) && !strcmp(a->variant, b->variant);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf, *line, *next, text[96];
        platform_t want, again, cand;
        unsigned lines = 0;

        if (size > 4096)
                return 0;
        buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        next = strchr(buf, '\n');
        if (next)
                *next++ = '\0';
        if (platform_parse(buf, &want) < 0) {
                free(buf);
                return 0;
        }
        if (!want.os[0] || !want.arch[0])
                abort();
        again = want;
        platform_normalize(&again);
        if (!same(&again, &want))
                abort();
        platform_format(&want, text, sizeof(text));
        if (platform_parse(text, &again) < 0 || !same(&again, &want))
                abort();
        if (platform_rank(&want, want.os, want.arch, want.variant[0] ? want.variant : NULL) != 0)
                abort();

        for (line = next; line && lines < 64; line = next, lines++) {
                char *arch, *variant;
                int r;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                arch = strchr(line, '\t');
                if (!arch)
                        continue;
                *arch++ = '\0';
                variant = strchr(arch, '\t');
                if (variant)
                        *variant++ = '\0';
                r = platform_rank(&want, line, arch, variant);
                if (r < -1 || r > 11 || r != platform_rank(&want, line, arch, variant))
                        abort();
                candidate(&cand, line, arch, variant);
                if ((r == 0) != same(&cand, &want))
                        abort();
                if (strcmp(cand.os, want.os) != 0 && r != -1)
                        abort();
        }
        free(buf);
        return 0;
}
