/* server/http.h: starting and stopping the HTTP daemon. */
#pragma once
#include "server/server.h"

/* cert_pem NULL: plain HTTP. */
int http_start(server_t *srv, const char *cert_pem, const char *key_pem);
/* Stop accepting, wait for requests in flight (up to the grace period), stop. */
void http_drain_and_stop(server_t *srv);
