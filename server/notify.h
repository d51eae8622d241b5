/* server/notify.h: the systemd readiness protocol (sd_notify), without libsystemd. */
#pragma once

/* Sends state ("READY=1", "STOPPING=1", ...) as one datagram to the unix socket
 * named by $NOTIFY_SOCKET (a path, or an abstract name starting with '@').
 * 0 sent, 0 when NOTIFY_SOCKET is unset (not started by systemd), <0 error. */
int notify_send(const char *state);
