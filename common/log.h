/* common/log.h: leveled logging to stderr. Library code logs at debug level at most.
 * Never log secrets, tokens or Authorization headers. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>
#include <time.h>

typedef enum {
        LOG_SRC_SERVER,
        LOG_SRC_STORE,
        LOG_SRC_AUTH,
        LOG_SRC_CLIENT,
        LOG_SRC_MAIN,
} log_src_t;

/* Fixed before threads start (the only global settings). */
extern int log_max_level;
enum { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
extern int log_format;

/* "debug", "info", "notice", "warning", "error" → LOG_*; -1 if unknown */
int log_level_parse(const char *s);
/* Writes one line to stderr: time, level, source, and the formatted message with
 * every byte that is not printable ASCII escaped (log_escape), so a value taken from
 * a request cannot forge a line or put terminal escapes into the log. */
void log_msg(int prio, log_src_t src, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Room for len bytes escaped, with the NUL. */
#define LOG_ESCAPED_MAX(len) (4 * (len) + 1)
/* Copies len bytes of s to dst (size bytes, always NUL-terminated when size > 0) as
 * printable ASCII: "\n", "\r", "\t" and "\\" for newline, carriage return, tab and
 * backslash; "\xNN" for other bytes below 0x20, for 0x7f and for every byte from
 * 0x80 (non-ASCII text is shown byte by byte). Stops before an escape that does not
 * fit, never cutting one in half. Returns the length written. */
size_t log_escape(char *dst, size_t size, const char *s, size_t len);

#define log_debug(src, ...) do { if (log_max_level >= LOG_DEBUG) log_msg(LOG_DEBUG, src, __VA_ARGS__); } while (0)

/* A named value of a structured line: type 's' (str), 'i' (num) or 'f' (dbl). */
typedef struct log_field {
        const char *key;  /* a literal: not escaped */
        char type;
        const char *str;  /* NULL: JSON null */
        int64_t num;
        double dbl;
} log_field_t;
#define LOG_STR(k, v) ((log_field_t) { .key = (k), .type = 's', .str = (v) })
#define LOG_INT(k, v) ((log_field_t) { .key = (k), .type = 'i', .num = (int64_t) (v) })
#define LOG_DBL(k, v) ((log_field_t) { .key = (k), .type = 'f', .dbl = (double) (v) })

/* One JSON object on one line (with the newline) into dst: "time", "level",
 * "component", "message", then the fields. Every string is escaped as log_escape
 * does (so the line is printable ASCII) and then for JSON ('"' and '\\'): a value
 * cannot end its string, the line, or hold invalid UTF-8. A value that does not fit
 * is cut short, never in the middle of an escape; the line stays valid JSON.
 * Returns the length written (dst always NUL-terminated; size >= 256). */
size_t log_json_line(char *dst, size_t size, const struct timespec *when, int prio, log_src_t src,
                     const char *message, const log_field_t *fields, size_t n_fields);
/* Writes a line with named values: in JSON format, log_json_line; in text format the
 * message followed by key=value pairs, escaped as log_msg does. */
void log_fields(int prio, log_src_t src, const char *message, const log_field_t *fields, size_t n_fields);
