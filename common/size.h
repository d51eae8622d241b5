/* common/size.h: sizes as people write them (quotas: storage/usage.h). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SIZE_NONE UINT64_MAX /* "none": no limit */

/* "10GiB", "512 MiB", "1.5G", "1000000" (bytes), "10kB": K, M, G, T, P (also Ki,
 * KiB...) are powers of 1024, kB, MB, GB, TB, PB powers of 1000, case aside; a
 * decimal fraction is rounded to the byte; "none" (or "unlimited") is SIZE_NONE.
 * At most INT64_MAX - 1 (a database integer). 0, or -EINVAL / -ERANGE. */
int size_parse(const char *s, uint64_t *ret);
/* n in buf as "512 B", "1.0 KiB", "10.0 GiB" (binary units, one decimal). */
void size_human(uint64_t n, char *buf, size_t size);
