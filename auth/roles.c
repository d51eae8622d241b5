/* auth/roles.c: the role x action table. One table decides for the registry API,
 * the management API and the web UI (docs/access-control.md shows it). Roles are
 * ordered, and each adds rights to the one below it:
 *   reader      pulls (and sees the project, its repositories and artifacts)
 *   developer   also pushes
 *   maintainer  also deletes, and manages retention and immutability
 *   admin       (project admin) also manages members, robot tokens and webhooks
 *   sysadmin    (a user with the admin flag) also users, projects, quotas,
 *               proxy projects, global webhooks and garbage collection */
#include <errno.h>
#include <string.h>
#include "auth/auth.h"
#include "common/macro.h"

/* The lowest role that may do each action. */
static const int minimum_role[AUTH_ACT__MAX] = {
        [AUTH_ACT_PULL] = AUTH_ROLE_READER,
        [AUTH_ACT_PUSH] = AUTH_ROLE_DEVELOPER,
        [AUTH_ACT_DELETE] = AUTH_ROLE_MAINTAINER,
        [AUTH_ACT_LIFECYCLE] = AUTH_ROLE_MAINTAINER,
        [AUTH_ACT_MEMBERS] = AUTH_ROLE_ADMIN,
        [AUTH_ACT_ROBOTS] = AUTH_ROLE_ADMIN,
        [AUTH_ACT_PROJECTS] = AUTH_ROLE_SYSADMIN,
        [AUTH_ACT_USERS] = AUTH_ROLE_SYSADMIN,
        [AUTH_ACT_QUOTA] = AUTH_ROLE_SYSADMIN,
        [AUTH_ACT_PROXY] = AUTH_ROLE_SYSADMIN,
        [AUTH_ACT_GC] = AUTH_ROLE_SYSADMIN,
        [AUTH_ACT_WEBHOOKS] = AUTH_ROLE_ADMIN,
};

static const char *const action_names[AUTH_ACT__MAX] = {
        [AUTH_ACT_PULL] = "pull",         [AUTH_ACT_PUSH] = "push",       [AUTH_ACT_DELETE] = "delete",
        [AUTH_ACT_LIFECYCLE] = "lifecycle", [AUTH_ACT_MEMBERS] = "members", [AUTH_ACT_ROBOTS] = "robots",
        [AUTH_ACT_PROJECTS] = "projects", [AUTH_ACT_USERS] = "users",     [AUTH_ACT_QUOTA] = "quota",
        [AUTH_ACT_PROXY] = "proxy",       [AUTH_ACT_GC] = "gc",       [AUTH_ACT_WEBHOOKS] = "webhooks",
};

static const char *const role_names[] = {
        [AUTH_ROLE_NONE] = "none",
        [AUTH_ROLE_READER] = "reader",
        [AUTH_ROLE_DEVELOPER] = "developer",
        [AUTH_ROLE_MAINTAINER] = "maintainer",
        [AUTH_ROLE_ADMIN] = "admin",
        [AUTH_ROLE_SYSADMIN] = "sysadmin",
};

bool auth_can(int role, auth_action_t action) {
        if ((unsigned) action >= AUTH_ACT__MAX || role <= AUTH_ROLE_NONE || role > AUTH_ROLE_SYSADMIN)
                return false;
        return role >= minimum_role[action];
}

const char *auth_action_name(auth_action_t action) {
        return (unsigned) action < AUTH_ACT__MAX ? action_names[action] : NULL;
}

int auth_role_parse(const char *s) {
        if (!s)
                return -EINVAL;
        /* memberships only: sysadmin is a user flag */
        for (int i = AUTH_ROLE_READER; i <= AUTH_ROLE_ADMIN; i++)
                if (strcmp(s, role_names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *auth_role_name(int role) {
        if (role < AUTH_ROLE_NONE || role > AUTH_ROLE_SYSADMIN)
                return "none";
        return role_names[role];
}

unsigned auth_role_actions(int role) {
        return (auth_can(role, AUTH_ACT_PULL) ? AUTH_PULL : 0) | (auth_can(role, AUTH_ACT_PUSH) ? AUTH_PUSH : 0) |
               (auth_can(role, AUTH_ACT_DELETE) ? AUTH_DELETE : 0);
}
