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
/* A kubernetes.io/dockerconfigjson Secret named name (in namespace ns, may be
 * NULL) for user:password on server (HOST[:PORT]): *ret_yaml, and the
 * .dockerconfigjson content in *ret_json (may be NULL); both malloc'd and hold
 * the password (wipe them). `berthd token create --secret-yaml`, `berthd secret`
 * and the management API's robot creation. */
int cli_secret_yaml(const char *server, const char *user, const char *password, const char *name,
                    const char *ns, char **ret_yaml, char **ret_json);
