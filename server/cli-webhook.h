/* server/cli-webhook.h: `berthd webhook add|list|del|log ...`, the webhooks of the
 * metadata database (safe while servers run: they read the targets at each
 * delivery). */
#pragma once
#include <stdio.h>
#include "storage/db.h"

/* argv[0] is "webhook". data_dir: where DATA/secret.key is (unless
 * BERTH_SECRET_KEY_FILE names the key). Reads a secret from in, prints to out and
 * err; returns the exit code (2: usage). */
int cli_webhook_run(db_t *db, const char *data_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err);
/* The usage on err; returns 2 (no database needed). */
int cli_webhook_usage(FILE *err);
