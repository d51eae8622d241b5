/* client/yaml.h: the small, strict YAML subset a Kubernetes Secret is written in, as
 * line-level pieces; client/dockercfg.c assembles them into a Secret reader (it decides
 * which keys matter and what nesting is allowed). Supported: "key: value" lines
 * (plain, 'single' or "double" quoted keys and scalars, "{}" as an empty value),
 * comments, blank lines, and "|" / "|-" / "|+" literal blocks. Rejected with a message
 * in *detail (static text) and BERTH_ECONFIG: anchors, tags, folded ">" blocks, flow
 * collections other than "{}", escapes outside \n \t \r \" \\ \/, and multi-line
 * quoted scalars. Nothing here allocates except where a function says so. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* A literal block longer than this is refused (BERTH_ETOOBIG). */
#define YAML_BLOCK_MAX (2u * 1024 * 1024)

/* The input, read line by line; set p and end, lineno counts the lines read. */
typedef struct {
        const char *p, *end;
        size_t lineno;
} yaml_lines_t;

/* The next physical line without its "\n" (and "\r"): *ret points into the input.
 * false at the end. */
bool yaml_next_line(yaml_lines_t *l, const char **ret, size_t *ret_len);
/* Leading spaces of s[0..n). */
size_t yaml_indent(const char *s, size_t n);
/* Only spaces, or a comment after them. */
bool yaml_blank_or_comment(const char *s, size_t n);

/* "key: rest" → the key (quotes removed) and the rest after the colon and spaces, both
 * pointing into s. false when s[0..n) is not a mapping line (a sequence item "- ", a
 * comment, a key with an escape, no ": "). */
bool yaml_key(const char *s, size_t n, const char **k, size_t *klen, const char **rest, size_t *rlen);
/* The key span equals the literal. */
bool yaml_span_is(const char *k, size_t klen, const char *lit);

/* The scalar in s[0..n) (what follows "key: "): 0 with *ret (malloc'd, NUL-terminated)
 * and *ret_len; 1 for a literal block header "|", "|-" or "|+" (its chomping '-', '+'
 * or 'c' in *ret_chomp, *ret untouched: read the block with yaml_block);
 * BERTH_ECONFIG with *detail; -ENOMEM. A plain scalar ends at " #". */
int yaml_scalar(const char *s, size_t n, char **ret, size_t *ret_len, char *ret_chomp, const char **detail);
/* The literal block after a "|" header on a line indented parent_indent: the following
 * lines indented more (blank lines inside kept), their common indentation removed,
 * chomped as chomp says. Stops before the first line indented parent_indent or less,
 * which l then returns next. 0 with *ret (malloc'd), BERTH_ECONFIG with *detail,
 * BERTH_ETOOBIG past YAML_BLOCK_MAX, -ENOMEM. */
int yaml_block(yaml_lines_t *l, size_t parent_indent, char chomp, char **ret, size_t *ret_len, const char **detail);
