/* server/cli-auth.h: `berthd user|project|token|secret|audit ...`, the admin
 * commands on the metadata database (safe while the server runs). */
#pragma once
#include <stdio.h>
#include "storage/db.h"

/* argv[0] is the subcommand ("user", ...). Prints to out/err, reads passwords
 * from in; returns the process exit code. On DATA/berth.db. */
int cli_auth_run(const char *data_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err);
/* The same on a database the caller opened (and frees afterwards). */
int cli_auth_run_db(db_t *db, int argc, char **argv, FILE *in, FILE *out, FILE *err);
/* cli_auth_run_db on stdin, stdout and stderr. */
int cli_auth_main(db_t *db, int argc, char **argv);
/* The usage text on err; returns 2 (what `berthd user --help` prints, no database needed). */
int cli_auth_usage(FILE *err);
