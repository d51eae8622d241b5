/* server/cli-db.h: `berthd db copy|version`, the commands on the metadata database
 * itself (moving an installation between SQLite and PostgreSQL). */
#pragma once
#include <stdio.h>

/* argv[0] is "db". data_dir: the default database DATA/berth.db of `db version`.
 * Prints to out/err; returns the process exit code (0, 1 failed or refused, 2 usage). */
int cli_db_run(const char *data_dir, int argc, char **argv, FILE *out, FILE *err);
