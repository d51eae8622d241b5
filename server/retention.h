/* server/retention.h: the server's own retention runs (storage/retention.h), every
 * --retention-interval seconds on a thread of their own; one run at a time across
 * processes and replicas (DB_LOCK_RETENTION), and a turn is skipped when another
 * process ran one less than an interval ago. */
#pragma once
#include "server/server.h"

/* Starts the thread (none when the interval is 0). 0 or <0. */
int retention_start(server_t *srv);
/* Ends it (a run under way stops after its batch). Idempotent. */
void retention_stop(void);
