/* server/cli-auth.h: `berthd user|project|token|secret|audit ...`, the admin
 * commands on the data directory (safe while the server runs). */
#pragma once
#include <stdio.h>

/* argv[0] is the subcommand ("user", ...). Prints to out/err, reads passwords
 * from in; returns the process exit code. */
int cli_auth_run(const char *data_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err);
/* The same on stdin, stdout and stderr. */
int cli_auth_main(const char *data_dir, int argc, char **argv);
