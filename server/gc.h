/* server/gc.h: offline garbage collection, and the lock that keeps it off a data
 * directory a berthd serves. */
#pragma once

/* Exclusive lock on DATA/serve.lock: an fd to keep open, -EBUSY when held. */
int data_lock(const char *data_dir);
/* `berthd gc ...` (argv[0] is "gc"); returns the exit code. */
int gc_main(const char *data_dir, int argc, char **argv);
