/* server/dbconf.h: which metadata database a berthd process uses (--db URL, BERTH_DB),
 * where its password comes from (BERTH_DB_PASSWORD_FILE), and how it is named in logs
 * (never with a password). Shared by `berthd serve` and the admin commands. */
#pragma once
#include <stdbool.h>

/* The database a process opens, resolved from the settings. */
typedef struct {
        char *target;        /* for db_open_opts: a SQLite file path or a libpq URI */
        char *display;       /* target fit for logs and messages (dbconf_redact) */
        char *password;      /* read from BERTH_DB_PASSWORD_FILE (PostgreSQL only), or NULL */
        bool password_loose; /* that file may be read by others (o+r): warn */
        bool pg;             /* a PostgreSQL URI (shared by several berthd) */
        bool in_data_dir;    /* the default: DATA/berth.db */
} dbconf_t;

/* The target named by spec, the value of --db or BERTH_DB (NULL: the default):
 *   "sqlite"             DATA/berth.db (the default)
 *   "sqlite:PATH"        the SQLite file PATH
 *   "postgresql://..."   a libpq URI (also "postgres://"), as it is
 * 0 and *ret (malloc'd), -EINVAL for anything else (an empty value, an empty PATH,
 * another scheme, control characters in a URI), -ENOMEM. */
int dbconf_target(const char *spec, const char *data_dir, char **ret);

/* A copy of target for logs: a PostgreSQL URI without the password in its user
 * information and without password= or sslpassword= parameters (whatever libpq
 * would take for one: an unencoded '@', '/' or '?' in a password is dropped with
 * it); a SQLite path unchanged. NULL only when out of memory. */
char *dbconf_redact(const char *target);

/* The password in the file at path (BERTH_DB_PASSWORD_FILE): its contents less one
 * trailing newline ("\n" or "\r\n"), malloc'd. *ret_loose: others may read the file.
 * 0, -errno, -EINVAL (not a regular file, empty, a NUL byte), -E2BIG (over 4 KiB). */
int dbconf_password_file(const char *path, char **ret, bool *ret_loose);

/* Fills *ret from spec (what names where it came from in messages: "--db" or
 * "BERTH_DB"), data_dir and password_file (NULL: none; read only for PostgreSQL).
 * 0, or a message on stderr (the value redacted) and BERTH_ECONFIG / -ENOMEM. */
int dbconf_resolve(const char *spec, const char *what, const char *data_dir, const char *password_file,
                   dbconf_t *ret);
/* Wipes and frees the password (once the database is open: storage/db keeps its
 * own copy for reconnecting). */
void dbconf_drop_password(dbconf_t *c);
/* Frees the fields (the password wiped first); NULL-safe; leaves *c zeroed. */
void dbconf_done(dbconf_t *c);
