/* server/dbconf.c: the database a berthd process opens (--db, BERTH_DB), its password
 * file, and the redacted form of a PostgreSQL URI that logs and messages show. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "server/dbconf.h"
#include "storage/db.h"

#define PASSWORD_FILE_MAX 4096

static bool has_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f || *s == ' ')
                        return true;
        return false;
}

int dbconf_target(const char *spec, const char *data_dir, char **ret) {
        char *t = NULL;

        if (!spec || strcmp(spec, "sqlite") == 0) {
                if (!data_dir || !*data_dir)
                        return -EINVAL;
                if (asprintf(&t, "%s/berth.db", data_dir) < 0)
                        return -ENOMEM;
        } else if (strncmp(spec, "sqlite:", 7) == 0) {
                if (!spec[7])
                        return -EINVAL;
                t = strdup(spec + 7);
        } else if (db_target_is_pg(spec)) {
                /* libpq reads the rest; what no URI may hold is refused here, so
                 * that it reaches neither libpq nor a log line */
                if (has_control(spec))
                        return -EINVAL;
                t = strdup(spec);
        } else
                return -EINVAL;
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

/* ---- redaction ---- */

/* Does the query parameter [p, end) name a password? Its key is compared
 * percent-decoded, as libpq decodes it, and in any case (a key libpq refuses for its
 * case still reaches the error message that names the database). */
static bool secret_param(const char *p, const char *end) {
        static const char *const secret[] = { "password", "sslpassword" };
        char key[32];
        size_t n = 0;

        for (; p < end && *p != '='; p++) {
                char c = *p;
                if (c == '%' && end - p >= 3 && hex_digit_value(p[1]) >= 0 && hex_digit_value(p[2]) >= 0) {
                        c = (char) (hex_digit_value(p[1]) * 16 + hex_digit_value(p[2]));
                        p += 2;
                }
                if (n + 1 >= sizeof(key))
                        return false; /* longer than any key libpq knows */
                key[n++] = c;
        }
        key[n] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(secret); i++)
                if (strcasecmp(key, secret[i]) == 0)
                        return true;
        return false;
}

/* Marks the password of the user information [rest, at) (after its first ':'). */
static void mark_password(bool *mask, const char *s, const char *rest, const char *at) {
        const char *colon = at ? memchr(rest, ':', (size_t) (at - rest)) : NULL;

        for (const char *p = colon; p && p < at; p++)
                mask[p - s] = true;
}

/* Marks the secret parameters of the query after q (q: its '?', or NULL). */
static void mark_params(bool *mask, const char *s, const char *q) {
        for (const char *p = q ? q + 1 : NULL; p && *p;) {
                const char *end = strchrnul(p, '&');
                if (secret_param(p, end))
                        for (const char *x = p; x < end; x++)
                                mask[x - s] = true;
                p = *end ? end + 1 : NULL;
        }
}

/* The last '@' in [p, end), or NULL. */
static const char *last_at(const char *p, const char *end) {
        const char *at = NULL;

        for (; p < end; p++)
                if (*p == '@')
                        at = p;
        return at;
}

char *dbconf_redact(const char *target) {
        const char *rest, *slash, *at, *stop;
        _cleanup_free_ bool *mask = NULL;
        size_t len, o = 0;
        char *out;

        if (!target)
                return NULL;
        if (!db_target_is_pg(target))
                return strdup(target);
        len = strlen(target);
        mask = calloc(len + 1, sizeof(*mask));
        out = malloc(len + 1);
        if (!mask || !out) {
                free(out);
                return NULL;
        }
        rest = strstr(target, "://") + 3;
        slash = strchrnul(rest, '/');
        /* Three readings of the URI; whatever is a password in any of them goes.
         * For a well-formed URI they agree. 1. libpq's (which takes the first '@';
         * the last is as right for a valid URI and safer for an unencoded '@' in a
         * password): the user information ends at the last '@' before the first
         * '/', and the query follows it. */
        at = last_at(rest, slash);
        mark_password(mask, target, rest, at);
        mark_params(mask, target, strchr(at ? at : rest, '?'));
        /* 2. RFC 3986's: the authority ends at the first '/' or '?'; the query
         * starts at the first '?'. */
        stop = strpbrk(rest, "/?");
        at = last_at(rest, stop ? stop : rest + strlen(rest));
        mark_password(mask, target, rest, at);
        mark_params(mask, target, strchr(rest, '?'));
        /* 3. An unencoded '/' or '?' in the password: the user information ends at
         * the last '@' before the first '?' after the first '/'. */
        stop = *slash ? strchrnul(slash, '?') : strchrnul(rest, '?');
        mark_password(mask, target, rest, last_at(rest, stop));
        for (size_t i = 0; i < len; i++) {
                char c = target[i];
                if (mask[i])
                        continue;
                /* no empty parameter left where one was dropped */
                if (c == '&' && o > 0 && (out[o - 1] == '?' || out[o - 1] == '&'))
                        continue;
                out[o++] = c;
        }
        while (o > 0 && (out[o - 1] == '&' || out[o - 1] == '?'))
                o--;
        out[o] = '\0';
        return out;
}

/* ---- the password file ---- */

int dbconf_password_file(const char *path, char **ret, bool *ret_loose) {
        struct stat st;
        char *buf = NULL;
        size_t len = 0;
        int r;

        if (!path || !*path || !ret)
                return -EINVAL;
        r = file_read_all(path, PASSWORD_FILE_MAX, &buf, &len);
        if (r < 0)
                return r == BERTH_ETOOBIG ? -E2BIG : r;
        if (len > 0 && buf[len - 1] == '\n') {
                buf[--len] = '\0';
                if (len > 0 && buf[len - 1] == '\r')
                        buf[--len] = '\0';
        }
        if (len == 0 || memchr(buf, '\0', len)) {
                OPENSSL_cleanse(buf, len);
                free(buf);
                return -EINVAL;
        }
        if (ret_loose)
                *ret_loose = stat(path, &st) == 0 && (st.st_mode & S_IROTH);
        *ret = buf;
        return 0;
}

/* ---- both ---- */

void dbconf_drop_password(dbconf_t *c) {
        if (!c || !c->password)
                return;
        OPENSSL_cleanse(c->password, strlen(c->password));
        free(c->password);
        c->password = NULL;
}

void dbconf_done(dbconf_t *c) {
        if (!c)
                return;
        dbconf_drop_password(c);
        free(c->target);
        free(c->display);
        memset(c, 0, sizeof(*c));
}

int dbconf_resolve(const char *spec, const char *what, const char *data_dir, const char *password_file,
                   dbconf_t *ret) {
        dbconf_t c = { .in_data_dir = !spec || strcmp(spec, "sqlite") == 0 };
        int r;

        r = dbconf_target(spec, data_dir, &c.target);
        if (r == -EINVAL) {
                _cleanup_free_ char *shown = spec ? dbconf_redact(spec) : NULL;
                if (!what)
                        what = "db";
                fprintf(stderr,
                        "berthd: invalid value for %s%s: '%s' (expected sqlite, sqlite:PATH, or a PostgreSQL URI "
                        "postgresql://[USER@]HOST[:PORT]/DATABASE[?PARAMETERS])\n",
                        strncmp(what, "BERTH_", 6) == 0 || strncmp(what, "--", 2) == 0 ? "" : "--", what,
                        shown ? shown : "");
                return BERTH_ECONFIG;
        }
        if (r < 0)
                return r;
        c.pg = db_target_is_pg(c.target);
        c.display = dbconf_redact(c.target);
        if (!c.display) {
                dbconf_done(&c);
                return -ENOMEM;
        }
        if (c.pg && password_file && *password_file) {
                r = dbconf_password_file(password_file, &c.password, &c.password_loose);
                if (r < 0) {
                        fprintf(stderr, "berthd: BERTH_DB_PASSWORD_FILE %s: %s\n", password_file,
                                r == -EINVAL ? "not a regular file holding a password (empty, or a NUL byte)"
                                : r == -E2BIG ? "larger than 4 KiB: not a password"
                                              : berth_strerror(r));
                        dbconf_done(&c);
                        return BERTH_ECONFIG;
                }
        }
        *ret = c;
        return 0;
}
