/* server/quota.h: storage quotas at the HTTP edge (storage/usage.h): the checks
 * before bytes are stored, and the 403 DENIED that names the quota. The
 * authoritative check is the link's transaction (storage/meta.c). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "common/digest.h"
#include "server/server.h"

/* Answers 403 DENIED: "quota of project P exceeded: X used of Y" (figures read
 * now). detail may be NULL. */
void quota_reply(request_t *req, const char *detail);
/* What req->repo's project may still take (USAGE_UNLIMITED: no quota, or d, when
 * not NULL, is held in the project already). On a database error USAGE_UNLIMITED:
 * the link's transaction checks again. */
uint64_t quota_room(request_t *req, const digest_t *d);
/* Refuse (answered, true) when bytes more than the room. */
bool quota_refuse(request_t *req, const digest_t *d, uint64_t bytes);
