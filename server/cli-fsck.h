/* server/cli-fsck.h: `berthd fsck [--repair] [--rate MiB/s] [--grace S] [--json]`:
 * the blob store checked against the metadata database (storage/fsck.h), online. */
#pragma once
#include <stdio.h>
#include "storage/db.h"

/* The usage on f; returns 2. */
int cli_fsck_usage(FILE *f);
/* argv[0] is "fsck". The exit code: 0 clean, 1 problems found (repaired with
 * --repair), 2 an error (a message on err). */
int cli_fsck_run(db_t *db, const char *data_dir, int argc, char **argv, FILE *out, FILE *err);
