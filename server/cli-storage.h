/* server/cli-storage.h: `berthd storage copy --to URL`: the blobs of the directory
 * store copied into another driver (an S3 bucket), online and resumable. */
#pragma once
#include <stdio.h>

/* The usage on f; returns 2. */
int cli_storage_usage(FILE *f);
/* argv[0] is "storage". Exit code: 0 every blob is in the target, 1 some could not
 * be copied (named on err), 2 an error. */
int cli_storage_run(const char *data_dir, int argc, char **argv, FILE *out, FILE *err);
