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

void log_msg(int prio, log_src_t src, const char *fmt, ...) {
        static const char *const srcs[] = { "server", "store", "auth", "client", "main" };
        static const char *const prios[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };
        char line[2048], ts[32];
        struct timespec now;
        struct tm tm;
        va_list ap;
        int n;

        if (prio > log_max_level)
                return;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: ", ts, now.tv_nsec / 1000000,
                     prios[prio & 7], (unsigned) src < 5 ? srcs[src] : "?");
        va_start(ap, fmt);
        if (n > 0 && (size_t) n < sizeof(line))
                vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        /* one write per line keeps lines whole across threads */
        fprintf(stderr, "%s\n", line);
}
