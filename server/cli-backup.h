/* server/cli-backup.h: `berthd backup DEST` and `berthd restore SRC DATA`
 * (storage/backup.h does the work). */
#pragma once
#include <stdio.h>
#include "server/dbconf.h"

/* The usage of both on f; returns 2. */
int cli_backup_usage(FILE *f);
/* argv[0] is "backup": a snapshot of data_dir and the database dc names (opened
 * here). Exit code: 0, 1 (done, but rows without files were met), 2 error. */
int cli_backup_main(const char *data_dir, const dbconf_t *dc, int argc, char **argv);
/* argv[0] is "restore", then SRC DATA; spec/what: --db or BERTH_DB as given (NULL:
 * the default, DATA/berth.db of the DATA named here). Exit code: 0 or 2. */
int cli_restore_main(const char *spec, const char *what, int argc, char **argv);
