/* server/cli-retention.h: `berthd retention ...` and `berthd immutable ...`: a
 * project's retention policy and immutable tag patterns, retention runs and their
 * record, read and written in the metadata database (safe while servers run; the
 * same calls as the server's, storage/retention.h). */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "storage/db.h"

/* argv[0] is "retention" or "immutable". Prints to out and err; returns the exit
 * code (2: usage). */
int cli_retention_run(db_t *db, int argc, char **argv, FILE *out, FILE *err);
/* The usage on err; returns 2 (no database needed). */
int cli_retention_usage(FILE *err);
/* "90", "90s", "15m", "12h", "7d", "2w" into seconds: 0, or -EINVAL. */
int cli_duration_parse(const char *s, uint64_t *ret);
