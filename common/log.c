/* common/log.c: one line per entry, "time level source message". */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "common/log.h"

int log_max_level = LOG_INFO;
int log_format = LOG_FORMAT_TEXT;

static const char *const srcs[] = { "server", "store", "auth", "client", "main" };
static const char *const prios[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };

int log_level_parse(const char *s) {
        static const struct { const char *name; int level; } t[] = {
                { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
                { "warning", LOG_WARNING }, { "warn", LOG_WARNING }, { "error", LOG_ERR },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                if (strcasecmp(s, t[i].name) == 0)
                        return t[i].level;
        return -1;
}

/* The escape of one byte in a log line (see log_escape) into e; its length (1 to 4). */
static size_t escape_byte(unsigned char c, char e[4]) {
        static const char hex[] = "0123456789abcdef";

        if (c == '\\') {
                e[0] = e[1] = '\\';
                return 2;
        }
        if (c == '\n' || c == '\r' || c == '\t') {
                e[0] = '\\';
                e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                return 2;
        }
        if (c < 0x20 || c >= 0x7f) {
                /* other controls, DEL, and every byte of a non-ASCII character: C1
                 * controls (0x9b is a CSI on 8-bit terminals) and lookalike or bidi
                 * characters never reach a log either */
                e[0] = '\\';
                e[1] = 'x';
                e[2] = hex[c >> 4];
                e[3] = hex[c & 15];
                return 4;
        }
        e[0] = (char) c;
        return 1;
}

size_t log_escape(char *dst, size_t size, const char *s, size_t len) {
        size_t o = 0;

        if (size == 0)
                return 0;
        for (size_t i = 0; i < len; i++) {
                char e[4];
                size_t n = escape_byte((unsigned char) s[i], e);

                if (o + n >= size)
                        break; /* never half an escape */
                memcpy(dst + o, e, n);
                o += n;
        }
        dst[o] = '\0';
        return o;
}

/* ---- JSON lines ---- */

typedef struct out {
        char *p;
        size_t size, len; /* len < size; room for the line's tail is kept by the callers */
} out_t;

static void put(out_t *o, const char *s, size_t n) {
        if (o->len + n >= o->size)
                return;
        memcpy(o->p + o->len, s, n);
        o->len += n;
        o->p[o->len] = '\0';
}

static void puts_(out_t *o, const char *s) {
        put(o, s, strlen(s));
}

/* s as a JSON string: log_escape's escapes, then '"' and '\\' escaped for JSON.
 * Stops before an escape that would leave less than `reserve` bytes. */
static void put_json_str(out_t *o, const char *s, size_t len, size_t reserve) {
        put(o, "\"", 1);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char t[4], e[8];
                size_t n = 0;

                if (c == '"') {
                        e[n++] = '\\';
                        e[n++] = '"';
                } else {
                        size_t tn = escape_byte(c, t);
                        for (size_t k = 0; k < tn; k++) {
                                if (t[k] == '\\')
                                        e[n++] = '\\';
                                e[n++] = t[k];
                        }
                }
                if (o->len + n + reserve >= o->size)
                        break;
                put(o, e, n);
        }
        put(o, "\"", 1);
}

/* what a line needs after a value: the closing quote and brace, the newline */
#define JSON_TAIL 8

size_t log_json_line(char *dst, size_t size, const struct timespec *when, int prio, log_src_t src,
                     const char *message, const log_field_t *fields, size_t n_fields) {
        out_t o = { dst, size, 0 };
        char ts[160], tsz[48], num[64];
        struct tm tm;

        dst[0] = '\0';
        gmtime_r(&when->tv_sec, &tm);
        strftime(tsz, sizeof(tsz), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts, sizeof(ts), "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"%s\",\"message\":",
                 tsz, when->tv_nsec / 1000000, prios[prio & 7], (unsigned) src < 5 ? srcs[src] : "?");
        puts_(&o, ts);
        put_json_str(&o, message ? message : "", message ? strlen(message) : 0, JSON_TAIL);
        for (size_t i = 0; i < n_fields; i++) {
                const log_field_t *f = &fields[i];

                /* room for the key, a number or a string's quotes, and the tail */
                if (o.len + strlen(f->key) + 80 + JSON_TAIL >= o.size)
                        break;
                put(&o, ",\"", 2);
                puts_(&o, f->key);
                put(&o, "\":", 2);
                if (f->type == 's' && f->str)
                        put_json_str(&o, f->str, strlen(f->str), JSON_TAIL);
                else {
                        if (f->type == 'i')
                                snprintf(num, sizeof(num), "%" PRId64, f->num);
                        else if (f->type == 'f')
                                snprintf(num, sizeof(num), "%.3f", f->dbl);
                        else
                                snprintf(num, sizeof(num), "null");
                        puts_(&o, num);
                }
        }
        /* the tail always fits: every put above kept JSON_TAIL bytes free */
        if (o.len + 3 > o.size)
                o.len = o.size - 3;
        memcpy(o.p + o.len, "}\n", 3);
        return o.len + 2;
}

void log_fields(int prio, log_src_t src, const char *message, const log_field_t *fields, size_t n_fields) {
        char line[8192];
        struct timespec now;

        if (prio > log_max_level)
                return;
        if (log_format == LOG_FORMAT_JSON) {
                clock_gettime(CLOCK_REALTIME, &now);
                (void) log_json_line(line, sizeof(line), &now, prio, src, message, fields, n_fields);
                fputs(line, stderr);
                return;
        }
        {
                /* text: "message key=value ..." (log_msg escapes it) */
                out_t o = { line, 4096, 0 };
                char num[64];
                line[0] = '\0';
                puts_(&o, message ? message : "");
                for (size_t i = 0; i < n_fields; i++) {
                        const log_field_t *f = &fields[i];
                        put(&o, " ", 1);
                        puts_(&o, f->key);
                        put(&o, "=", 1);
                        if (f->type == 's')
                                puts_(&o, f->str ? f->str : "-");
                        else {
                                if (f->type == 'i')
                                        snprintf(num, sizeof(num), "%" PRId64, f->num);
                                else
                                        snprintf(num, sizeof(num), "%.3f", f->dbl);
                                puts_(&o, num);
                        }
                }
                log_msg(prio, src, "%s", line);
        }
}

void log_msg(int prio, log_src_t src, const char *fmt, ...) {
        char msg[2048], line[64 + LOG_ESCAPED_MAX(sizeof(msg))], ts[32];
        struct timespec now;
        struct tm tm;
        va_list ap;
        int n, m;

        if (prio > log_max_level)
                return;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: ", ts, now.tv_nsec / 1000000,
                     prios[prio & 7], (unsigned) src < 5 ? srcs[src] : "?");
        va_start(ap, fmt);
        m = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (m < 0)
                msg[0] = '\0';
        if (log_format == LOG_FORMAT_JSON) {
                char jl[64 + 2 * LOG_ESCAPED_MAX(sizeof(msg))];
                (void) log_json_line(jl, sizeof(jl), &now, prio, src, msg, NULL, 0);
                fputs(jl, stderr);
                return;
        }
        /* The message carries values from requests (paths, names, addresses): escaped,
         * so that none can start a line of its own or drive the terminal showing it. */
        if (n > 0 && (size_t) n < sizeof(line))
                (void) log_escape(line + n, sizeof(line) - (size_t) n, msg, strnlen(msg, sizeof(msg)));
        /* one write per line keeps lines whole across threads */
        fprintf(stderr, "%s\n", line);
}
