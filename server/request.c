/* server/request.c: what every route reads: the calling thread's metadata
 * connection, and the request's headers and query parameters. Apart from http.c
 * (the libmicrohttpd glue) so that routes and access control do not call back into
 * it. */
#include <pthread.h>
#include "common/err.h"
#include "common/log.h"
#include "server/server.h"

meta_t *server_meta(server_t *srv) {
        meta_t *m = pthread_getspecific(srv->meta_key);
        int r;

        if (m)
                return m;
        /* on auth's database: the thread's one connection serves both */
        r = srv->auth ? meta_open_thread(auth_db(srv->auth), &m) : meta_open(srv->db_path, &m);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_SERVER, "opening metadata %s: %s", srv->db_path, berth_strerror(r));
                return NULL;
        }
        if (pthread_setspecific(srv->meta_key, m) != 0) {
                meta_free(m);
                return NULL;
        }
        return m;
}

static void meta_key_free(void *p) {
        meta_free(p);
}

int server_meta_init(server_t *srv) {
        int r = pthread_key_create(&srv->meta_key, meta_key_free);
        return r != 0 ? -r : 0;
}

void server_meta_done(server_t *srv) {
        pthread_key_delete(srv->meta_key);
}

time_t server_now(const server_t *srv) {
        return srv->now ? srv->now(srv->now_userdata) : time(NULL);
}

const char *req_header(request_t *req, const char *name) {
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *req_query(request_t *req, const char *name) {
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}
