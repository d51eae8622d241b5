/* common/log.c: one line per entry, "time level source message". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "common/log.h"

int log_max_level = LOG_INFO;

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

size_t log_escape(char *dst, size_t size, const char *s, size_t len) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;

        if (size == 0)
                return 0;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char e[4];
                size_t n = 0;

                if (c == '\\') {
                        e[n++] = '\\';
                        e[n++] = '\\';
                } else if (c == '\n' || c == '\r' || c == '\t') {
                        e[n++] = '\\';
                        e[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                } else if (c < 0x20 || c >= 0x7f) {
                        /* other controls, DEL, and every byte of a non-ASCII character:
                         * C1 controls (0x9b is a CSI on 8-bit terminals) and lookalike
                         * or bidi characters never reach a log either */
                        e[n++] = '\\';
                        e[n++] = 'x';
                        e[n++] = hex[c >> 4];
                        e[n++] = hex[c & 15];
                } else
                        e[n++] = (char) c;
                if (o + n >= size)
                        break; /* never half an escape */
                memcpy(dst + o, e, n);
                o += n;
        }
        dst[o] = '\0';
        return o;
}

void log_msg(int prio, log_src_t src, const char *fmt, ...) {
        static const char *const srcs[] = { "server", "store", "auth", "client", "main" };
        static const char *const prios[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };
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
        /* The message carries values from requests (paths, names, addresses): escaped,
         * so that none can start a line of its own or drive the terminal showing it. */
        if (n > 0 && (size_t) n < sizeof(line))
                (void) log_escape(line + n, sizeof(line) - (size_t) n, msg, strnlen(msg, sizeof(msg)));
        /* one write per line keeps lines whole across threads */
        fprintf(stderr, "%s\n", line);
}
