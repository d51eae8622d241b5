/* server/periodic.h: a job the server runs every interval seconds on a thread of
 * its own (garbage collection, retention). Before each run the thread's metadata
 * connection is opened, or checked and reopened (a run is skipped, logged, while
 * the database does not answer); periodic_stop ends the wait at once, and the run
 * sees it through its stop flag. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "server/server.h"

typedef void (*periodic_fn)(server_t *srv, meta_t *m, const char *who, const volatile bool *stop);

typedef struct periodic {
        const char *name; /* in the log: "gc", "retention" */
        periodic_fn run;
        /* the thread's own */
        server_t *srv;
        uint64_t interval;
        pthread_t thread;
        bool started;
        volatile bool stop;
        pthread_mutex_t lock;
        pthread_cond_t cond;
} periodic_t;
#define PERIODIC_INIT(NAME, RUN) { .name = (NAME), .run = (RUN), .lock = PTHREAD_MUTEX_INITIALIZER }

/* Starts p's thread: the first run after interval seconds. interval 0, or started
 * already: nothing. 0 or <0. */
int periodic_start(periodic_t *p, server_t *srv, uint64_t interval);
/* Stops p's thread and waits for it (a run under way ends at its next batch). */
void periodic_stop(periodic_t *p);
/* Who runs it, for the records: "WHAT on HOST (pid N)" into buf. */
void periodic_who(const char *what, char *buf, size_t size);
/* A test build's clock (configure --enable-test-hooks): the wall clock plus the whole
 * seconds in the file $BERTH_TEST_CLOCK_FILE, read again when it changes, so that a
 * test moves time forward instead of sleeping. Its userdata, *ret_now set; NULL
 * (the wall clock) without the variable or in other builds. One per process. */
void *test_clock_from_env(time_t (**ret_now)(void *userdata));
