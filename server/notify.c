/* server/notify.c: sd_notify's protocol: one datagram of "KEY=VALUE\n" lines to
 * the AF_UNIX socket in $NOTIFY_SOCKET. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "server/notify.h"

int notify_send(const char *state) {
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len, n = strlen(state);
        socklen_t salen;
        ssize_t w;
        int fd;

        if (!path || !*path)
                return 0;
        len = strlen(path);
        if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        if (path[0] == '@')
                sa.sun_path[0] = '\0'; /* abstract namespace: not NUL-terminated */
        else if (len == sizeof(sa.sun_path))
                return -EINVAL; /* a path needs its NUL */
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        w = sendto(fd, state, n, MSG_NOSIGNAL, (struct sockaddr *) &sa, salen);
        if (w < 0)
                w = -errno;
        close(fd);
        return w < 0 ? (int) w : (size_t) w == n ? 0 : -EIO;
}
