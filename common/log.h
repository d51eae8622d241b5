/* common/log.h: leveled logging to stderr. Library code logs at debug level at most.
 * Never log secrets, tokens or Authorization headers. */
#pragma once
#include <syslog.h>

typedef enum {
        LOG_SRC_SERVER,
        LOG_SRC_STORE,
        LOG_SRC_AUTH,
        LOG_SRC_CLIENT,
        LOG_SRC_MAIN,
} log_src_t;

/* Fixed before threads start (the only global setting). */
extern int log_max_level;

/* "debug", "info", "notice", "warning", "error" → LOG_*; -1 if unknown */
int log_level_parse(const char *s);
void log_msg(int prio, log_src_t src, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(src, ...) do { if (log_max_level >= LOG_DEBUG) log_msg(LOG_DEBUG, src, __VA_ARGS__); } while (0)
