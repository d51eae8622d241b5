/* server/conns.h: connection admission for berthd: the per-address connection limit
 * (libmicrohttpd's accept policy and connection notifications), the deadline for a
 * connection to deliver a complete request head, and the open-file budget. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "server/proxy.h"

typedef struct conns conns_t; /* the registry of open connections */
typedef struct conn conn_t;   /* one connection (MHD's socket context) */

typedef struct conns_options {
        unsigned per_addr_max;          /* connections per peer address; 0: no limit */
        unsigned header_timeout;        /* seconds to deliver a request head */
        const proxy_cidrs_t *trusted;   /* peers exempt from per_addr_max (borrowed) */
} conns_options_t;

/* Starts the thread that closes connections past their header deadline. */
int conns_new(const conns_options_t *o, conns_t **ret);
/* Stops it. Call after MHD_stop_daemon (no connection left). NULL-safe. */
conns_t *conns_free(conns_t *cs);

/* MHD_OPTION_NOTIFY_CONNECTION with cls = the registry, and the accept policy
 * (the 2nd and 3rd arguments of MHD_start_daemon) with the same cls. */
void conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode code);
enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);

/* Connections open now, and refused over the per-address limit since the start.
 * NULL-safe (zeros). */
void conns_stats(conns_t *cs, uint64_t *ret_open, uint64_t *ret_refused);

/* The connection's state, or NULL (a connection not tracked: none of the calls below
 * then do anything). */
conn_t *conn_of(struct MHD_Connection *c);
/* The peer's address; false when unknown. */
bool conn_peer(const conn_t *conn, proxy_addr_t *ret);
/* A request head is in: no header deadline while the request is served. */
void conn_request_started(conn_t *conn);
/* The answer went out: the next request head is due within the header timeout. */
void conn_request_done(conns_t *cs, conn_t *conn);

/* MHD_OPTION_EXTERNAL_LOGGER (cls unused): libmicrohttpd's messages, most of them
 * about one client's connection, at warning level but at most 20 per 10 s (a flood of
 * connections must not flood the log too); the rest are counted and reported. */
void conns_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Raise RLIMIT_NOFILE's soft limit to the hard one, and lower *max_conns when the
 * connections and what requests keep open (max_requests, 4 per thread, 64 spare)
 * would not fit; logs what it does. 0, or BERTH_ECONFIG when nothing useful fits. */
int conns_fit_open_files(unsigned *max_conns, unsigned max_requests, unsigned threads);
