/* server/gc.h: offline garbage collection, and the lock that keeps it off a data
 * directory a berthd serves. */
#pragma once
#include "server/dbconf.h"

/* Exclusive lock on DATA/serve.lock: an fd to keep open, -EBUSY when held. */
int data_lock(const char *data_dir);
/* `berthd gc ...` (argv[0] is "gc") on data_dir and its database db (SQLite only:
 * a PostgreSQL one is refused, exit 2); returns the exit code. Options are read
 * first: --help and a bad option touch neither. */
int gc_main(const char *data_dir, const dbconf_t *db, int argc, char **argv);
