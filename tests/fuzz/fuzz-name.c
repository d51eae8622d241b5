/* tests/fuzz/fuzz-name.c: libFuzzer target for the repository-name and tag scanners,
 * checked against the grammar written as a POSIX extended regular expression. */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define COMPONENT "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"
static const char repo_re[] = "^" COMPONENT "(/" COMPONENT ")*$";
static const char tag_re[] = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$";

static bool regex_match(const char *pattern, const char *s) {
        static regex_t re_repo, re_tag;
        static bool compiled;
        regex_t *re;

        if (!compiled) {
                if (regcomp(&re_repo, repo_re, REG_EXTENDED | REG_NOSUB) != 0 ||
                    regcomp(&re_tag, tag_re, REG_EXTENDED | REG_NOSUB) != 0)
                        abort();
                compiled = true;
        }
        re = pattern == repo_re ? &re_repo : &re_tag;
        return regexec(re, s, 0, NULL, 0) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *s = (const char *) data;
        bool repo = name_repo_valid(s, size);
        bool tag = name_tag_valid(s, size);
        char *copy;

        /* properties that must hold whatever the oracle says */
        if (repo) {
                if (size == 0 || size > NAME_REPO_MAX || memchr(s, '\0', size))
                        abort();
                if (s[0] == '/' || s[size - 1] == '/')
                        abort();
                for (size_t i = 0; i + 1 < size; i++)
                        if ((s[i] == '/' && s[i + 1] == '/') || (s[i] == '.' && s[i + 1] == '.'))
                                abort();
        }
        if (tag && (size == 0 || size > NAME_TAG_MAX || memchr(s, '\0', size)))
                abort();

        /* differential check against the regular expression (C strings only) */
        if (size > 512 || memchr(s, '\0', size))
                return 0;
        copy = malloc(size + 1);
        if (!copy)
                return 0;
        memcpy(copy, s, size);
        copy[size] = '\0';
        if (repo != (size <= NAME_REPO_MAX && regex_match(repo_re, copy)))
                abort();
        if (tag != (size <= NAME_TAG_MAX && regex_match(tag_re, copy)))
                abort();
        free(copy);
        return 0;
}
