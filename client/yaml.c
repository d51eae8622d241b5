/* client/yaml.c: the small, strict YAML subset a Kubernetes Secret is written in
 * (see client/yaml.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "client/yaml.h"
#include "common/err.h"
#include "common/macro.h"

/* next physical line without its "\n" (and "\r"); false at the end */
bool yaml_next_line(yaml_lines_t *l, const char **ret, size_t *ret_len) {
        const char *nl;
        size_t n;

        if (l->p >= l->end)
                return false;
        nl = memchr(l->p, '\n', (size_t) (l->end - l->p));
        n = nl ? (size_t) (nl - l->p) : (size_t) (l->end - l->p);
        *ret = l->p;
        l->p += n + (nl ? 1 : 0);
        if (n > 0 && (*ret)[n - 1] == '\r')
                n--;
        *ret_len = n;
        l->lineno++;
        return true;
}

size_t yaml_indent(const char *s, size_t n) {
        size_t i = 0;
        while (i < n && s[i] == ' ')
                i++;
        return i;
}

bool yaml_blank_or_comment(const char *s, size_t n) {
        size_t i = yaml_indent(s, n);
        return i == n || s[i] == '#';
}

/* scalar value in s[0..n), after "key:" and spaces; writes a malloc'd string.
 * Returns 1 for a literal block indicator (*ret_block = '|' and chomping in *ret_chomp),
 * 0 for a scalar, BERTH_ECONFIG with detail otherwise. */
int yaml_scalar(const char *s, size_t n, char **ret, size_t *ret_len, char *ret_chomp, const char **detail) {
        _cleanup_free_ char *out = NULL;
        size_t o = 0, i = 0;

        out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        if (n > 0 && s[0] == '|') {
                char chomp = 'c';
                i = 1;
                if (i < n && (s[i] == '-' || s[i] == '+'))
                        chomp = s[i++];
                while (i < n && s[i] == ' ')
                        i++;
                if (i < n && s[i] != '#') {
                        *detail = "YAML: unsupported block scalar header";
                        return BERTH_ECONFIG;
                }
                *ret_chomp = chomp;
                return 1;
        }
        if (n > 0 && (s[0] == '>' || s[0] == '&' || s[0] == '*' || s[0] == '!' || s[0] == '[' ||
                      (s[0] == '{' && !(n >= 2 && s[1] == '}')))) {
                *detail = "YAML: anchors, tags, folded blocks and flow collections are not supported";
                return BERTH_ECONFIG;
        }
        if (n > 0 && s[0] == '\'') {
                for (i = 1; i < n; i++) {
                        if (s[i] == '\'') {
                                if (i + 1 < n && s[i + 1] == '\'') {
                                        out[o++] = '\'';
                                        i++;
                                        continue;
                                }
                                break;
                        }
                        out[o++] = s[i];
                }
                if (i >= n) {
                        *detail = "YAML: unterminated quoted scalar (multi-line scalars are not supported)";
                        return BERTH_ECONFIG;
                }
                i++;
        } else if (n > 0 && s[0] == '"') {
                for (i = 1; i < n && s[i] != '"'; i++) {
                        if (s[i] == '\\') {
                                if (++i >= n)
                                        break;
                                switch (s[i]) {
                                case 'n': out[o++] = '\n'; break;
                                case 't': out[o++] = '\t'; break;
                                case 'r': out[o++] = '\r'; break;
                                case '"': case '\\': case '/': out[o++] = s[i]; break;
                                default:
                                        *detail = "YAML: unsupported escape in double-quoted scalar";
                                        return BERTH_ECONFIG;
                                }
                                continue;
                        }
                        out[o++] = s[i];
                }
                if (i >= n) {
                        *detail = "YAML: unterminated quoted scalar (multi-line scalars are not supported)";
                        return BERTH_ECONFIG;
                }
                i++;
        } else if (n >= 2 && s[0] == '{' && s[1] == '}') {
                i = 2; /* empty map: value "" */
        } else {
                /* plain: up to " #" */
                for (i = 0; i < n; i++) {
                        if (s[i] == '#' && i > 0 && s[i - 1] == ' ')
                                break;
                        out[o++] = s[i];
                }
                while (o > 0 && out[o - 1] == ' ')
                        o--;
                out[o] = '\0';
                *ret_len = o;
                *ret = TAKE_PTR(out);
                return 0;
        }
        while (i < n && s[i] == ' ')
                i++;
        if (i < n && s[i] != '#') {
                *detail = "YAML: text after a quoted scalar";
                return BERTH_ECONFIG;
        }
        out[o] = '\0';
        *ret_len = o;
        *ret = TAKE_PTR(out);
        return 0;
}

/* "key: rest" → key span and rest span (spaces skipped). false if not a mapping line. */
bool yaml_key(const char *s, size_t n, const char **k, size_t *klen, const char **rest, size_t *rlen) {
        size_t i = 0;

        if (n == 0 || s[0] == '-' || s[0] == '?' || s[0] == '#')
                return false;
        if (s[0] == '"' || s[0] == '\'') {
                char q = s[0];
                for (i = 1; i < n && s[i] != q; i++)
                        if (s[i] == '\\')
                                return false;
                if (i >= n || i + 1 >= n || s[i + 1] != ':')
                        return false;
                *k = s + 1;
                *klen = i - 1;
                i += 2;
        } else {
                for (i = 0; i < n; i++)
                        if (s[i] == ':' && (i + 1 == n || s[i + 1] == ' '))
                                break;
                if (i >= n)
                        return false;
                *k = s;
                *klen = i;
                i++;
        }
        if (i < n && s[i] != ' ')
                return false;
        while (i < n && s[i] == ' ')
                i++;
        *rest = s + i;
        *rlen = n - i;
        return true;
}

bool yaml_span_is(const char *k, size_t klen, const char *lit) {
        return strlen(lit) == klen && memcmp(k, lit, klen) == 0;
}

/* literal block: lines more indented than parent_indent */
int yaml_block(yaml_lines_t *l, size_t parent_indent, char chomp, char **ret, size_t *ret_len, const char **detail) {
        _cleanup_free_ char *out = NULL;
        size_t o = 0, cap = 0, block_indent = 0, pending_nl = 0;
        const char *line;
        size_t n;

        for (;;) {
                const char *save = l->p;
                size_t save_no = l->lineno, ind;

                if (!yaml_next_line(l, &line, &n))
                        break;
                ind = yaml_indent(line, n);
                if (ind == n) { /* blank line inside or after the block */
                        pending_nl++;
                        continue;
                }
                if (ind <= parent_indent) {
                        l->p = save;
                        l->lineno = save_no;
                        break;
                }
                if (block_indent == 0)
                        block_indent = ind;
                if (ind < block_indent) {
                        *detail = "YAML: bad indentation in a literal block";
                        return BERTH_ECONFIG;
                }
                if (o + pending_nl + n + 2 > cap) {
                        size_t ncap = (o + pending_nl + n + 2) * 2;
                        char *nb;
                        if (ncap > YAML_BLOCK_MAX)
                                return BERTH_ETOOBIG;
                        nb = realloc(out, ncap);
                        if (!nb)
                                return -ENOMEM;
                        out = nb;
                        cap = ncap;
                }
                if (o > 0)
                        out[o++] = '\n';
                for (; pending_nl > 0; pending_nl--)
                        out[o++] = '\n';
                memcpy(out + o, line + block_indent, n - block_indent);
                o += n - block_indent;
        }
        if (!out) {
                out = strdup("");
                if (!out)
                        return -ENOMEM;
        } else {
                char *nb = realloc(out, o + pending_nl + 2);
                if (!nb)
                        return -ENOMEM;
                out = nb;
                if (chomp != '-')
                        out[o++] = '\n';
                if (chomp == '+')
                        for (; pending_nl > 0; pending_nl--)
                                out[o++] = '\n';
                out[o] = '\0';
        }
        *ret_len = o;
        *ret = TAKE_PTR(out);
        return 0;
}

