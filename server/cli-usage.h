/* server/cli-usage.h: `berthd usage [PROJECT] [--json]`, the storage each project
 * uses, read from the metadata database (safe while servers run). */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "storage/db.h"

/* argv[0] is "usage". Prints to out and err; returns the exit code (2: usage). */
int cli_usage_run(db_t *db, int argc, char **argv, FILE *out, FILE *err);
/* The usage on err; returns 2 (no database needed). */
int cli_usage_usage(FILE *err);
/* n bytes for a person: "512 B", "1.5 KiB", "3.2 GiB" (binary units, one decimal). */
void cli_usage_human(uint64_t n, char *buf, size_t size);
