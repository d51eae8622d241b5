/* auth/session.c: browser sessions of the management API (issue 12).
 *
 * A session id is 32 random bytes (base64url, 43 characters) that lives only in
 * the browser's cookie: the table auth_sessions keeps its SHA-256 (hex), the user and
 * an absolute expiry, so a copy of the database opens no session. Logout deletes
 * the row; a session ends with its user and with a password change. The CSRF
 * token of a session is HMAC-SHA256(bearer key, "csrf:" + id): derived, never
 * stored, the same on every process sharing the database, and compared in
 * constant time. */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"

/* The stored key of a session: hex SHA-256 of its id. */
static int id_hash(const char *id, char out[65]) {
        static const char hex[] = "0123456789abcdef";
        uint8_t md[32];
        unsigned int len = 0;

        if (EVP_Digest(id, strlen(id), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        for (int i = 0; i < 32; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 15];
        }
        out[64] = '\0';
        return 0;
}

static bool id_valid(const char *id) {
        size_t n = id ? strlen(id) : 0;

        if (n != AUTH_SESSION_ID_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = id[i];
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                      ch == '_'))
                        return false;
        }
        return true;
}

int auth_session_csrf(auth_t *a, const char *id, char csrf[AUTH_SESSION_ID_LEN + 1]) {
        uint8_t mac[32];
        char buf[5 + AUTH_SESSION_ID_LEN + 1];
        int r;

        if (!a || !id_valid(id))
                return -EINVAL;
        memcpy(buf, "csrf:", 5);
        memcpy(buf + 5, id, AUTH_SESSION_ID_LEN + 1);
        r = auth_token_key_mac(a->bearer_key, buf, 5 + AUTH_SESSION_ID_LEN, mac);
        if (r < 0)
                return r;
        base64_encode(BASE64_URL, mac, sizeof(mac), csrf);
        OPENSSL_cleanse(mac, sizeof(mac));
        return 0;
}

bool auth_session_csrf_ok(auth_t *a, const char *id, const char *token) {
        char want[AUTH_SESSION_ID_LEN + 1];
        bool ok;

        if (!token || strlen(token) != AUTH_SESSION_ID_LEN || auth_session_csrf(a, id, want) < 0)
                return false;
        ok = CRYPTO_memcmp(want, token, AUTH_SESSION_ID_LEN) == 0;
        OPENSSL_cleanse(want, sizeof(want));
        return ok;
}

int auth_session_create(auth_t *a, const char *user, unsigned ttl, char id[AUTH_SESSION_ID_LEN + 1],
                        time_t *ret_expires) {
        uint8_t rnd[32];
        char h[65];
        time_t now;
        auth_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !user || !id)
                return -EINVAL;
        if (ttl == 0)
                ttl = AUTH_SESSION_TTL;
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                return -EIO;
        base64_encode(BASE64_URL, rnd, sizeof(rnd), id);
        OPENSSL_cleanse(rnd, sizeof(rnd));
        if ((r = id_hash(id, h)) < 0)
                return r;
        now = auth_now(a);
        if ((r = auth_conn_get(a, &c)) < 0)
                return r;
        /* expired sessions go as new ones come: the table stays the size of the live ones */
        r = db_stmt(c, "DELETE FROM auth_sessions WHERE expires <= ?1", &st);
        if (r == 0 && (r = db_bind_int(st, 1, now)) == 0)
                r = db_step_done(st);
        db_stmt_reset(st);
        if (r < 0)
                goto out;
        r = db_stmt(c,
                    "INSERT INTO auth_sessions(id_hash, \"user\", created, expires)"
                    " SELECT ?1, name, ?3, ?4 FROM auth_users WHERE name = ?2",
                    &st);
        if (r < 0)
                goto out;
        if ((r = db_bind_text(st, 1, h)) < 0 || (r = db_bind_text(st, 2, user)) < 0 ||
            (r = db_bind_int(st, 3, now)) < 0 || (r = db_bind_int(st, 4, now + (time_t) ttl)) < 0)
                goto out;
        r = db_step_done(st);
        if (r == 0 && db_changes(c) == 0)
                r = -ENOENT; /* the user went meanwhile */
        if (r == 0 && ret_expires)
                *ret_expires = now + (time_t) ttl;
out:
        db_stmt_reset(st);
        auth_conn_put(a, c);
        if (r < 0)
                OPENSSL_cleanse(id, AUTH_SESSION_ID_LEN + 1);
        return r;
}

int auth_session_check(auth_t *a, const char *id, auth_result_t *ret, time_t *ret_expires) {
        char h[65];
        auth_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int r;

        if (!a || !ret)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        if (!id_valid(id))
                return BERTH_EAUTH;
        if ((r = id_hash(id, h)) < 0)
                return r;
        if ((r = auth_conn_get(a, &c)) < 0)
                return r;
        r = db_stmt(c,
                    "SELECT u.name, u.admin, s.expires FROM auth_sessions s"
                    " JOIN auth_users u ON u.name = s.\"user\" WHERE s.id_hash = ?1",
                    &st);
        if (r < 0)
                goto out;
        if ((r = db_bind_text(st, 1, h)) < 0)
                goto out;
        r = db_step(st);
        if (r < 0)
                goto out;
        if (r == 0) {
                r = BERTH_EAUTH;
                goto out;
        }
        if (db_col_int(st, 2) <= auth_now(a)) {
                /* expired: the row goes now, so a clock set back cannot revive it */
                db_stmt_reset(st);
                st = NULL;
                auth_conn_put(a, c);
                c = NULL;
                (void) auth_session_delete(a, id);
                return BERTH_EAUTH;
        }
        snprintf(ret->name, sizeof(ret->name), "%s", db_col_text(st, 0) ? db_col_text(st, 0) : "");
        ret->admin = db_col_int(st, 1) != 0;
        if (ret_expires)
                *ret_expires = (time_t) db_col_int(st, 2);
        r = 0;
out:
        db_stmt_reset(st);
        auth_conn_put(a, c);
        return r;
}

static int delete_where(auth_t *a, const char *sql, const char *key) {
        auth_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int r;

        if ((r = auth_conn_get(a, &c)) < 0)
                return r;
        r = db_stmt(c, sql, &st);
        if (r == 0)
                r = db_bind_text(st, 1, key);
        if (r == 0)
                r = db_step_done(st);
        if (r == 0)
                r = db_changes(c) > 0 ? 0 : -ENOENT;
        db_stmt_reset(st);
        auth_conn_put(a, c);
        return r;
}

int auth_session_delete(auth_t *a, const char *id) {
        char h[65];
        int r;

        if (!a || !id_valid(id))
                return -ENOENT;
        if ((r = id_hash(id, h)) < 0)
                return r;
        return delete_where(a, "DELETE FROM auth_sessions WHERE id_hash = ?1", h);
}

int auth_session_delete_user(auth_t *a, const char *user) {
        int r;

        if (!a || !user)
                return -EINVAL;
        r = delete_where(a, "DELETE FROM auth_sessions WHERE \"user\" = ?1", user);
        return r == -ENOENT ? 0 : r;
}
