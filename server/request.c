/* server/request.c: what every route reads: the calling thread's metadata
 * connection, and the request's headers and query parameters. Apart from http.c
 * (the libmicrohttpd glue) so that routes and access control do not call back into
 * it. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "server/server.h"

db_t *server_db(server_t *srv) {
        return srv->db ? srv->db : auth_db(srv->auth);
}

/* The thread's own connection (the metadata's, meta_open_thread) is never in the
 * pool, where db_conn_get repairs connections, and the metadata uses it directly: on
 * a shared database (PostgreSQL) one that lost its server is reopened by handing it
 * out once through db_conn_get (never in the middle of a transaction of ours). */
int server_thread_conn_check(db_t *db) {
        db_conn_t *own = db_conn_thread(), *c = NULL;
        int r;

        if (!db_shared(db) || !own || db_tx_active(own))
                return 0;
        r = db_conn_get(db, &c);
        if (r < 0)
                return r;
        db_conn_put(db, c);
        return 0;
}

int server_meta_get(server_t *srv, meta_t **ret) {
        meta_t *m = pthread_getspecific(srv->meta_key);
        db_t *db = server_db(srv);
        int r;

        if (!db)
                return -EINVAL;
        if (m) {
                r = server_thread_conn_check(db);
                if (r < 0)
                        return r;
                *ret = m;
                return 0;
        }
        /* on the one database: the thread's one connection serves the metadata and
         * the auth layer alike */
        r = meta_open_thread(db, &m);
        if (r < 0)
                return r;
        if (pthread_setspecific(srv->meta_key, m) != 0) {
                meta_free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

meta_t *server_meta(server_t *srv) {
        meta_t *m = NULL;
        int r = server_meta_get(srv, &m);

        if (r < 0) {
                /* an unreachable database is the requests' 503 and /readyz's to tell */
                log_msg(r == BERTH_EDBDOWN ? LOG_DEBUG : LOG_ERR, LOG_SRC_SERVER, "opening metadata: %s",
                        berth_strerror(r));
                return NULL;
        }
        return m;
}

meta_t *request_meta(request_t *req) {
        meta_t *m = NULL;
        int r = server_meta_get(req->srv, &m);

        if (r < 0) {
                reply_errno(req, r, NULL);
                return NULL;
        }
        return m;
}

static void meta_key_free(void *p) {
        meta_free(p);
}

int server_meta_init(server_t *srv) {
        int r;

        if (srv->meta_ready)
                return 0;
        r = pthread_key_create(&srv->meta_key, meta_key_free);
        if (r != 0)
                return -r;
        srv->meta_ready = true;
        return 0;
}

void server_meta_done(server_t *srv) {
        if (!srv->meta_ready)
                return;
        srv->meta_ready = false;
        /* the caller's own (the main thread's): no thread exit frees it */
        meta_free(pthread_getspecific(srv->meta_key));
        (void) pthread_setspecific(srv->meta_key, NULL);
        pthread_key_delete(srv->meta_key);
}

time_t server_now(const server_t *srv) {
        return srv->now ? srv->now(srv->now_userdata) : time(NULL);
}

meta_origin_t req_origin(const request_t *req) {
        return (meta_origin_t){ .actor = !req->who.anonymous && req->who.name[0] ? req->who.name : NULL,
                                .address = req->addr[0] && strcmp(req->addr, "?") != 0 ? req->addr : NULL,
                                .now = (int64_t) server_now(req->srv) };
}

const char *req_header(request_t *req, const char *name) {
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *req_query(request_t *req, const char *name) {
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}
