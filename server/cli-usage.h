/* server/cli-usage.h: `berthd usage [PROJECT] [--repositories] [--json]`, the
 * storage each project uses, `berthd usage --verify [--repair]`, `berthd quota
 * default|set` and `berthd project set P --quota` (storage/usage.h), read and
 * written through the metadata database (safe while servers run). */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "storage/db.h"

#include <stdbool.h>

/* Is argv one of these commands (usage, quota, project set ... --quota)? */
bool cli_quota_wants(int argc, char **argv);
/* argv[0] is "usage", "quota" or "project". Prints to out and err; returns the exit code (2: usage). */
int cli_usage_run(db_t *db, int argc, char **argv, FILE *out, FILE *err);
/* The usage on err; returns 2 (no database needed). */
int cli_usage_usage(FILE *err);
/* n bytes for a person: "512 B", "1.5 KiB", "3.2 GiB" (binary units, one decimal). */
void cli_usage_human(uint64_t n, char *buf, size_t size);
