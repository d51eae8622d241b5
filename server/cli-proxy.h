/* server/cli-proxy.h: the pull-through cache's admin commands on the metadata
 * database: `berthd project create NAME --proxy URL ...` (a proxy project),
 * `berthd project show NAME` (its upstream and the hosts.toml / daemon.json lines
 * that make nodes use it as a mirror), `berthd project proxies` (the list). */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include "storage/db.h"

/* Is argv (argv[0] "project") one of these commands? */
bool cli_proxy_wants(int argc, char **argv);
/* Prints to out and err, reads a password from in; returns the exit code (2: usage). */
int cli_proxy_run(db_t *db, const char *data_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err);
