/* server/project.h: what deleting a project means, for the management API and the
 * berthd subcommand alike. */
#pragma once
#include "auth/auth.h"
#include "storage/meta.h"

/* Deletes the project when it holds no repository: its memberships and robot tokens
 * go with it (the schema's cascade), then its own quota, retention policy,
 * immutability rules and webhooks (a project made again under the name starts
 * afresh). 0, -ENOTEMPTY (it has repositories), -ENOENT (no such project), <0. */
int project_delete(auth_t *a, meta_t *m, const char *name);
