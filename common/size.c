/* common/size.c: sizes as people write them (see size.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "common/macro.h"
#include "common/size.h"

int size_parse(const char *s, uint64_t *ret) {
        static const struct {
                const char *name;
                unsigned power;
                bool binary;
        } units[] = {
                { "", 0, true },     { "b", 0, true },     { "k", 1, true },     { "ki", 1, true },
                { "kib", 1, true },  { "kb", 1, false },   { "m", 2, true },     { "mi", 2, true },
                { "mib", 2, true },  { "mb", 2, false },   { "g", 3, true },     { "gi", 3, true },
                { "gib", 3, true },  { "gb", 3, false },   { "t", 4, true },     { "ti", 4, true },
                { "tib", 4, true },  { "tb", 4, false },   { "p", 5, true },     { "pi", 5, true },
                { "pib", 5, true },  { "pb", 5, false },
        };
        long double v = 0, scale = 1;
        const char *p = s;
        bool digits = false;
        char unit[4];
        size_t ul = 0;

        if (!s || !ret)
                return -EINVAL;
        if (strcasecmp(s, "none") == 0 || strcasecmp(s, "unlimited") == 0) {
                *ret = SIZE_NONE;
                return 0;
        }
        for (; *p >= '0' && *p <= '9'; p++, digits = true)
                v = v * 10 + (*p - '0');
        if (*p == '.') {
                long double f = 1;
                for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
                        f /= 10;
                        v += f * (*p - '0');
                }
        }
        if (!digits)
                return -EINVAL;
        while (*p == ' ')
                p++;
        for (; *p && ul < sizeof(unit) - 1; p++)
                unit[ul++] = (char) tolower((unsigned char) *p);
        unit[ul] = '\0';
        if (*p)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (strcmp(unit, units[i].name) != 0)
                        continue;
                for (unsigned k = 0; k < units[i].power; k++)
                        scale *= units[i].binary ? 1024 : 1000;
                v *= scale;
                /* the database keeps sizes as signed 64-bit integers */
                if (v >= (long double) INT64_MAX)
                        return -ERANGE;
                *ret = (uint64_t) (v + 0.5L);
                return 0;
        }
        return -EINVAL;
}

void size_human(uint64_t n, char *buf, size_t size) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double v = (double) n;
        size_t u = 0;

        if (n < 1024) {
                (void) snprintf(buf, size, "%" PRIu64 " B", n);
                return;
        }
        v /= 1024;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        (void) snprintf(buf, size, "%.1f %s", v, units[u]);
}
