/* common/name.h: the distribution grammar for repository names and tags. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define NAME_REPO_MAX 255 /* whole repository name */
#define NAME_TAG_MAX 128

/* path-component ("/" path-component)*, component = [a-z0-9]+ (separator [a-z0-9]+)*,
 * separator = "." | "_" | "__" | "-"+ ; total length ≤ NAME_REPO_MAX. */
bool name_repo_valid(const char *s, size_t len);
/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
bool name_tag_valid(const char *s, size_t len);
