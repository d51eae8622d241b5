/* common/name.c: hand-written scanners for the distribution name grammar.
 *
 * Repository names later become keys next to the filesystem and the database,
 * so anything outside the grammar is rejected: no NUL bytes, no uppercase, no
 * "." or ".." components, no empty components, nothing but [a-z0-9._/-]. */
#include "common/name.h"

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_tag_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
}

/* Scan one path component starting at s[*pos]; stops at '/' or at len.
 * component = [a-z0-9]+ (separator [a-z0-9]+)*, separator = "." | "_" | "__" | "-"+ */
static bool scan_component(const char *s, size_t len, size_t *pos) {
        size_t i = *pos;

        for (;;) {
                /* an alphanumeric run, at least one character */
                if (i >= len || !is_lower_alnum(s[i]))
                        return false;
                while (i < len && is_lower_alnum(s[i]))
                        i++;
                if (i == len || s[i] == '/')
                        break;
                /* a separator, which must be followed by another run */
                if (s[i] == '.') {
                        i++;
                } else if (s[i] == '_') {
                        i++;
                        if (i < len && s[i] == '_')
                                i++;
                } else if (s[i] == '-') {
                        while (i < len && s[i] == '-')
                                i++;
                } else {
                        return false;
                }
        }
        *pos = i;
        return true;
}

bool name_repo_valid(const char *s, size_t len) {
        size_t pos = 0;

        if (!s || len == 0 || len > NAME_REPO_MAX)
                return false;
        for (;;) {
                if (!scan_component(s, len, &pos))
                        return false;
                if (pos == len)
                        return true;
                /* scan_component stopped at '/': another component must follow */
                pos++;
        }
}

bool name_tag_valid(const char *s, size_t len) {
        if (!s || len == 0 || len > NAME_TAG_MAX)
                return false;
        if (s[0] == '.' || s[0] == '-' || !is_tag_char(s[0]))
                return false;
        for (size_t i = 1; i < len; i++)
                if (!is_tag_char(s[i]))
                        return false;
        return true;
}
