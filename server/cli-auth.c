/* server/cli-auth.c: `berthd user|project|token|secret|audit ...` on the metadata
 * database (safe while the server runs: every change invalidates its caches). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/cli-auth.h"
#include "server/project.h"
#include "storage/db.h"

#define DEFAULT_SECRET_NAME "berth-pull-secret"

/* A string holding a secret: wiped, then freed, when the variable leaves scope. */
static inline void erase_strp(char **p) {
        if (*p) {
                OPENSSL_cleanse(*p, strlen(*p));
                free(*p);
        }
}
#define _cleanup_erase_ _cleanup_(erase_strp)
DEFINE_CLEANUP_FUNC(auth_t, auth_free)

typedef struct {
        auth_t *a;
        FILE *in, *out, *err;
} cli_t;

static int fail(cli_t *c, int r, const char *what) {
        const char *msg = r == -EEXIST ? "already exists"
                        : r == -ENOENT ? "not found"
                        : r == -EINVAL ? "invalid argument"
                                       : berth_strerror(r);
        /* the engine's own words help an operator (no secret in them) */
        if ((r == BERTH_EDB || r == BERTH_EDBDOWN) && db_last_error()[0])
                fprintf(c->err, "berthd: %s: %s (%s)\n", what, msg, db_last_error());
        else
                fprintf(c->err, "berthd: %s: %s\n", what, msg);
        return 1;
}

static int usage(cli_t *c) {
        fputs("usage:\n"
              "  berthd user add NAME [--admin]      (password from stdin, else generated)\n"
              "  berthd user passwd NAME             (password from stdin, else generated)\n"
              "  berthd user del NAME\n"
              "  berthd user list\n"
              "  berthd project create NAME [--public]\n"
              "  berthd project set NAME --public|--private\n"
              "  berthd project list\n"
              "  berthd project del NAME             (an empty project, with its settings)\n"
              "  berthd project create NAME --proxy URL [--public] [--proxy-username U --proxy-password-stdin]\n"
              "                        [--proxy-ca FILE] [--proxy-ttl SECONDS] [--mirror-of HOST] [--docker-mirror]\n"
              "  berthd project show NAME            (a proxy project: its upstream, hosts.toml, daemon.json)\n"
              "  berthd project proxies\n"
              "  berthd project member add PROJECT USER reader|developer|maintainer|admin\n"
              "  berthd project member del PROJECT USER\n"
              "  berthd project member list PROJECT\n"
              "  berthd token create --project P [--push] [--expires 90d]\n"
              "                      [--secret-yaml HOST:PORT [--name N] [--namespace NS]]\n"
              "  berthd token list [--project P]\n"
              "  berthd token revoke NAME\n"
              "  berthd secret --server HOST:PORT (--token NAME | --username USER) --password-stdin\n"
              "                [--name N] [--namespace NS]\n"
              "  berthd audit [--since 24h|YYYY-MM-DD[THH:MM:SS]] [--user U] [--repo R] [--limit N]\n"
              "Each works on the database that berthd serve uses: give the same --data DIR and\n"
              "--db URL before or after the command (or BERTH_DATA, BERTH_DB).\n",
              c->err);
        return 2;
}

int cli_auth_usage(FILE *err) {
        cli_t c = {.err = err};
        return usage(&c);
}

/* ---- small parsers ---- */

/* "90d", "12h", "30m", "45s", "3600": seconds. */
static int parse_duration(const char *s, int64_t *ret) {
        char *end;
        unsigned long long v;
        int64_t mult = 1, out;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        if (*end) {
                switch (*end) {
                case 's': mult = 1; break;
                case 'm': mult = 60; break;
                case 'h': mult = 3600; break;
                case 'd': mult = 86400; break;
                case 'w': mult = 7 * 86400; break;
                default: return -EINVAL;
                }
                if (end[1])
                        return -EINVAL;
        }
        if (v > INT64_MAX || __builtin_mul_overflow((int64_t) v, mult, &out) || out > (INT64_C(100) * 365 * 86400))
                return -EINVAL;
        *ret = out;
        return 0;
}

/* A duration ago, or an absolute UTC date/time. */
static int parse_since(const char *s, time_t now, time_t *ret) {
        struct tm tm = {0};
        const char *end;
        int64_t d;

        if (parse_duration(s, &d) == 0) {
                *ret = now - (time_t) d;
                return 0;
        }
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end) {
                memset(&tm, 0, sizeof(tm));
                end = strptime(s, "%Y-%m-%d", &tm);
        }
        if (!end || (*end && strcmp(end, "Z") != 0))
                return -EINVAL;
        *ret = timegm(&tm);
        return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void fmt_time(time_t t, char *buf, size_t size) {
        struct tm tm;
        if (t == 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, size, "-");
}

/* Kubernetes object names: DNS-1123 subdomain. */
static bool k8s_name_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
                if (!alnum && ((ch != '-' && ch != '.') || i == 0 || i == n - 1))
                        return false;
        }
        return true;
}

static bool server_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || strchr(".-:[]_", ch)))
                        return false;
        }
        return true;
}

/* A password from `in` if it is not a terminal and the line is non-empty (1),
 * else 0 (caller generates one). */
static int read_password(cli_t *c, char *buf, size_t size) {
        size_t n;
        int fd = fileno(c->in);

        if (fd >= 0 && isatty(fd))
                return 0;
        if (!fgets(buf, (int) size, c->in))
                return 0;
        n = strlen(buf);
        if (n > 0 && buf[n - 1] != '\n' && !feof(c->in))
                return -E2BIG;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        return n > 0 ? 1 : 0;
}

static int get_password(cli_t *c, char *buf, size_t size, bool *ret_generated) {
        int r = read_password(c, buf, size);
        if (r < 0)
                return r;
        *ret_generated = r == 0;
        if (r == 0)
                return auth_random_secret(buf, 25);
        return 0;
}

/* ---- the Kubernetes Secret ---- */

int cli_secret_yaml(const char *server, const char *user, const char *password, const char *name,
                    const char *ns, char **ret_yaml, char **ret_json) {
        /* every one of them holds the password, plain or encoded */
        _cleanup_erase_ char *userpass = NULL, *auth = NULL, *json = NULL, *b64 = NULL;
        char *yaml = NULL;
        json_t *root;
        int n;

        if (asprintf(&userpass, "%s:%s", user, password) < 0) {
                userpass = NULL;
                return -ENOMEM;
        }
        auth = base64_encode_alloc(BASE64_STD, userpass, strlen(userpass));
        if (!auth)
                return -ENOMEM;
        root = json_pack("{s:{s:{s:s,s:s,s:s}}}", "auths", server, "username", user, "password",
                         password, "auth", auth);
        if (!root)
                return -ENOMEM;
        json = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        if (!json)
                return -ENOMEM;
        b64 = base64_encode_alloc(BASE64_STD, json, strlen(json));
        if (!b64)
                return -ENOMEM;
        n = asprintf(&yaml,
                     "apiVersion: v1\n"
                     "kind: Secret\n"
                     "metadata:\n"
                     "  name: %s\n"
                     "%s%s%s"
                     "type: kubernetes.io/dockerconfigjson\n"
                     "data:\n"
                     "  .dockerconfigjson: %s\n",
                     name, ns ? "  namespace: " : "", ns ? ns : "", ns ? "\n" : "", b64);
        if (n < 0)
                return -ENOMEM;
        *ret_yaml = yaml;
        if (ret_json)
                *ret_json = TAKE_PTR(json);
        return 0;
}

static int print_secret_yaml(cli_t *c, const char *server, const char *user, const char *password,
                             const char *name, const char *ns) {
        _cleanup_erase_ char *yaml = NULL;
        int r = cli_secret_yaml(server, user, password, name, ns, &yaml, NULL);

        if (r < 0)
                return r;
        fputs(yaml, c->out);
        return 0;
}

/* ---- user ---- */

static int print_user(const auth_user_info_t *u, void *userdata) {
        cli_t *c = userdata;
        char t[32];

        fmt_time(u->created, t, sizeof(t));
        fprintf(c->out, "%s\t%s\t%s\n", u->name, u->admin ? "yes" : "no", t);
        return 0;
}

static int cmd_user(cli_t *c, int argc, char **argv) {
        char pw[AUTH_PASSWORD_MAX + 2];
        bool generated = false;
        int r;

        if (argc < 2)
                return usage(c);
        if (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "passwd") == 0) {
                bool add = argv[1][0] == 'a', admin = false;
                const char *name = NULL;
                for (int i = 2; i < argc; i++) {
                        if (add && strcmp(argv[i], "--admin") == 0)
                                admin = true;
                        else if (!name && argv[i][0] != '-')
                                name = argv[i];
                        else
                                return usage(c);
                }
                if (!name)
                        return usage(c);
                r = get_password(c, pw, sizeof(pw), &generated);
                if (r < 0)
                        return fail(c, r, "password");
                r = add ? auth_user_add(c->a, name, pw, admin) : auth_user_passwd(c->a, name, pw);
                if (r < 0) {
                        OPENSSL_cleanse(pw, sizeof(pw));
                        if (r == AUTH_ENAME_TAKEN) {
                                fprintf(c->err, "berthd: %s: a project has that name (a user's own "
                                        "namespace would be that project); choose another user name\n", name);
                                return 1;
                        }
                        return fail(c, r, name);
                }
                fprintf(c->out, "user %s %s\n", name, add ? "created" : "password changed");
                if (generated)
                        fprintf(c->out, "password: %s\n", pw);
                OPENSSL_cleanse(pw, sizeof(pw));
                return 0;
        }
        if (strcmp(argv[1], "del") == 0) {
                if (argc != 3)
                        return usage(c);
                r = auth_user_del(c->a, argv[2]);
                if (r < 0)
                        return fail(c, r, argv[2]);
                fprintf(c->out, "user %s deleted\n", argv[2]);
                return 0;
        }
        if (strcmp(argv[1], "list") == 0) {
                if (argc != 2)
                        return usage(c);
                fprintf(c->out, "NAME\tADMIN\tCREATED\n");
                r = auth_user_list(c->a, print_user, c);
                return r == 0 ? 0 : fail(c, r, "user list");
        }
        return usage(c);
}

/* ---- project ---- */

static int print_project(const auth_project_info_t *p, void *userdata) {
        cli_t *c = userdata;
        fprintf(c->out, "%s\t%s\t%lld\n", p->name, p->public ? "public" : "private", (long long) p->members);
        return 0;
}

static int print_member(const auth_member_info_t *m, void *userdata) {
        cli_t *c = userdata;
        fprintf(c->out, "%s\t%s\n", m->user, auth_role_name(m->role));
        return 0;
}

static int cmd_project(cli_t *c, int argc, char **argv) {
        int r;

        if (argc < 2)
                return usage(c);
        if (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "set") == 0) {
                bool create = argv[1][0] == 'c', public = false, seen = false;
                const char *name = NULL;
                for (int i = 2; i < argc; i++) {
                        if (strcmp(argv[i], "--public") == 0)
                                public = seen = true;
                        else if (strcmp(argv[i], "--private") == 0)
                                public = false, seen = true;
                        else if (!name && argv[i][0] != '-')
                                name = argv[i];
                        else
                                return usage(c);
                }
                if (!name || (!create && !seen))
                        return usage(c);
                r = create ? auth_project_create(c->a, name, public)
                           : auth_project_set_public(c->a, name, public);
                if (r == AUTH_ENAME_TAKEN) {
                        fprintf(c->err, "berthd: %s: a user has that name (the project would be that "
                                "user's own namespace); choose another project name\n", name);
                        return 1;
                }
                if (r < 0)
                        return fail(c, r, name);
                fprintf(c->out, "project %s %s (%s)\n", name, create ? "created" : "updated",
                        public ? "public" : "private");
                return 0;
        }
        if (strcmp(argv[1], "del") == 0) {
                meta_t *m = NULL;
                if (argc != 3)
                        return usage(c);
                if ((r = meta_open_thread(auth_db(c->a), &m)) < 0)
                        return fail(c, r, "metadata");
                r = project_delete(c->a, m, argv[2]);
                meta_free(m);
                if (r == -ENOTEMPTY) {
                        fprintf(c->err, "berthd: project %s still has repositories: delete them first\n", argv[2]);
                        return 1;
                }
                if (r < 0)
                        return fail(c, r, argv[2]);
                fprintf(c->out, "project %s deleted\n", argv[2]);
                return 0;
        }
        if (strcmp(argv[1], "list") == 0) {
                if (argc != 2)
                        return usage(c);
                fprintf(c->out, "NAME\tVISIBILITY\tMEMBERS\n");
                r = auth_project_list(c->a, print_project, c);
                return r == 0 ? 0 : fail(c, r, "project list");
        }
        if (strcmp(argv[1], "member") == 0 && argc >= 3) {
                if (strcmp(argv[2], "add") == 0 && argc == 6) {
                        int role = auth_role_parse(argv[5]);
                        if (role < 0) {
                                fprintf(c->err, "berthd: unknown role '%s' (reader, developer, "
                                                "maintainer, admin)\n", argv[5]);
                                return 2;
                        }
                        r = auth_member_add(c->a, argv[3], argv[4], role);
                        if (r == -ENOENT) {
                                fprintf(c->err, "berthd: no project '%s' or no user '%s'\n",
                                        argv[3], argv[4]);
                                return 1;
                        }
                        if (r < 0)
                                return fail(c, r, "member add");
                        fprintf(c->out, "%s is %s of %s\n", argv[4], auth_role_name(role), argv[3]);
                        return 0;
                }
                if (strcmp(argv[2], "del") == 0 && argc == 5) {
                        r = auth_member_del(c->a, argv[3], argv[4]);
                        if (r < 0)
                                return fail(c, r, "member del");
                        fprintf(c->out, "%s removed from %s\n", argv[4], argv[3]);
                        return 0;
                }
                if (strcmp(argv[2], "list") == 0 && argc == 4) {
                        fprintf(c->out, "USER\tROLE\n");
                        r = auth_member_list(c->a, argv[3], print_member, c);
                        return r == 0 ? 0 : fail(c, r, "member list");
                }
        }
        return usage(c);
}

/* ---- token ---- */

static int print_token(const auth_token_info_t *t, void *userdata) {
        cli_t *c = userdata;
        char t1[32], t2[32];

        fmt_time(t->created, t1, sizeof(t1));
        fmt_time(t->expires, t2, sizeof(t2));
        fprintf(c->out, "%s\t%s\t%s\t%s\t%s%s\n", t->name, t->project, t->push ? "pull,push" : "pull", t1,
                t->expires ? t2 : "never", t->expired ? " (expired)" : "");
        return 0;
}

static int cmd_token(cli_t *c, int argc, char **argv) {
        int r;

        if (argc < 2)
                return usage(c);
        if (strcmp(argv[1], "create") == 0) {
                const char *project = NULL, *yaml_server = NULL, *sname = DEFAULT_SECRET_NAME,
                           *ns = NULL;
                bool push = false;
                int64_t ttl = 0;
                time_t expires = 0;
                _cleanup_free_ char *name = NULL;
                _cleanup_erase_ char *secret = NULL;

                for (int i = 2; i < argc; i++) {
                        bool more = i + 1 < argc;
                        if (strcmp(argv[i], "--project") == 0 && more)
                                project = argv[++i];
                        else if (strcmp(argv[i], "--push") == 0)
                                push = true;
                        else if (strcmp(argv[i], "--expires") == 0 && more) {
                                if (parse_duration(argv[++i], &ttl) < 0 || ttl == 0) {
                                        fprintf(c->err, "berthd: bad --expires '%s' (e.g. 90d, 12h)\n",
                                                argv[i]);
                                        return 2;
                                }
                        } else if (strcmp(argv[i], "--secret-yaml") == 0 && more)
                                yaml_server = argv[++i];
                        else if (strcmp(argv[i], "--name") == 0 && more)
                                sname = argv[++i];
                        else if (strcmp(argv[i], "--namespace") == 0 && more)
                                ns = argv[++i];
                        else
                                return usage(c);
                }
                if (!project)
                        return usage(c);
                if ((yaml_server && !server_ok(yaml_server)) || !k8s_name_ok(sname) ||
                    (ns && !k8s_name_ok(ns))) {
                        fprintf(c->err, "berthd: bad --secret-yaml server, --name or --namespace\n");
                        return 2;
                }
                if (ttl > 0)
                        expires = auth_now(c->a) + (time_t) ttl;
                r = auth_token_create(c->a, project, push, expires, &name, &secret);
                if (r == -ENOENT) {
                        fprintf(c->err, "berthd: no project '%s' (berthd project create %s)\n",
                                project, project);
                        return 1;
                }
                if (r < 0)
                        return fail(c, r, "token create");
                if (yaml_server) {
                        fprintf(c->out, "# robot %s (%s on %s); the secret is only in this Secret\n",
                                name, push ? "pull+push" : "pull", project);
                        r = print_secret_yaml(c, yaml_server, name, secret, sname, ns);
                } else {
                        fprintf(c->out, "name: %s\nsecret: %s\n", name, secret);
                        r = 0;
                }
                return r < 0 ? fail(c, r, "token create") : 0;
        }
        if (strcmp(argv[1], "list") == 0) {
                const char *project = NULL;

                if (argc == 4 && strcmp(argv[2], "--project") == 0)
                        project = argv[3];
                else if (argc != 2)
                        return usage(c);
                fprintf(c->out, "NAME\tPROJECT\tACCESS\tCREATED\tEXPIRES\n");
                r = auth_token_list(c->a, project, print_token, c);
                return r == 0 ? 0 : fail(c, r, "token list");
        }
        if (strcmp(argv[1], "revoke") == 0 && argc == 3) {
                r = auth_token_revoke(c->a, argv[2]);
                if (r < 0)
                        return fail(c, r, argv[2]);
                fprintf(c->out, "token %s revoked\n", argv[2]);
                return 0;
        }
        return usage(c);
}

/* ---- secret ---- */

static int cmd_secret(cli_t *c, int argc, char **argv) {
        const char *server = NULL, *user = NULL, *sname = DEFAULT_SECRET_NAME, *ns = NULL;
        bool from_stdin = false;
        char pw[AUTH_PASSWORD_MAX + 2];
        int r;

        for (int i = 1; i < argc; i++) {
                bool more = i + 1 < argc;
                if (strcmp(argv[i], "--server") == 0 && more)
                        server = argv[++i];
                else if ((strcmp(argv[i], "--token") == 0 || strcmp(argv[i], "--username") == 0) &&
                         more && !user)
                        user = argv[++i];
                else if (strcmp(argv[i], "--password-stdin") == 0)
                        from_stdin = true;
                else if (strcmp(argv[i], "--name") == 0 && more)
                        sname = argv[++i];
                else if (strcmp(argv[i], "--namespace") == 0 && more)
                        ns = argv[++i];
                else
                        return usage(c);
        }
        if (!server || !user || !from_stdin) {
                fprintf(c->err, "berthd: secret needs --server, --token or --username, and "
                                "--password-stdin (token secrets are shown only once; "
                                "`token create --secret-yaml HOST:PORT` prints the Secret directly)\n");
                return 2;
        }
        if (!server_ok(server) || !k8s_name_ok(sname) || (ns && !k8s_name_ok(ns))) {
                fprintf(c->err, "berthd: bad --server, --name or --namespace\n");
                return 2;
        }
        r = read_password(c, pw, sizeof(pw));
        if (r <= 0) {
                fprintf(c->err, "berthd: no password on stdin\n");
                return 2;
        }
        /* Refuse to print a Secret that would not log in. */
        r = auth_credentials_verify(c->a, user, pw);
        if (r < 0) {
                OPENSSL_cleanse(pw, sizeof(pw));
                if (r == BERTH_EAUTH) {
                        fprintf(c->err, "berthd: wrong password or unknown user/token '%s'\n", user);
                        return 1;
                }
                return fail(c, r, "secret");
        }
        r = print_secret_yaml(c, server, user, pw, sname, ns);
        OPENSSL_cleanse(pw, sizeof(pw));
        return r < 0 ? fail(c, r, "secret") : 0;
}

/* ---- audit ---- */

/* "\t" and one audit field. Rows are stored escaped (auth_audit); a row written
 * before that, with a raw control or non-ASCII byte, is escaped here, so no row can
 * forge another or drive the terminal. Clean fields print as stored (no second
 * escaping of their backslashes). */
static void print_field(FILE *out, const char *s) {
        size_t len = strlen(s);
        bool raw = false;

        for (size_t i = 0; i < len && !raw; i++)
                raw = (unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f;
        if (raw && len <= 4096) {
                char buf[LOG_ESCAPED_MAX(4096)];
                (void) log_escape(buf, sizeof(buf), s, len);
                fprintf(out, "\t%s", buf);
        } else if (raw)
                fputs("\t(unprintable)", out);
        else
                fprintf(out, "\t%s", s);
}

typedef struct {
        struct {
                int64_t ts;
                char *f[5]; /* user, client, action, repo, detail */
        } *v;
        size_t n, cap;
} audit_rows_t;

static int collect_row(const auth_audit_row_t *row, void *userdata) {
        audit_rows_t *rows = userdata;
        const char *f[5] = { row->user, row->client, row->action, row->repo, row->detail };

        if (rows->n == rows->cap) {
                size_t ncap = rows->cap ? rows->cap * 2 : 64;
                void *nv = reallocarray(rows->v, ncap, sizeof(*rows->v));
                if (!nv)
                        return -ENOMEM;
                rows->v = nv;
                rows->cap = ncap;
        }
        rows->v[rows->n].ts = row->ts;
        for (int k = 0; k < 5; k++)
                if ((rows->v[rows->n].f[k] = f[k] ? strdup(f[k]) : NULL) == NULL && f[k]) {
                        for (int j = 0; j < k; j++)
                                free(rows->v[rows->n].f[j]);
                        return -ENOMEM;
                }
        rows->n++;
        return 0;
}

static int cmd_audit(cli_t *c, int argc, char **argv) {
        const char *user = NULL, *repo = NULL;
        time_t since = 0;
        unsigned long limit = 1000;
        int r;

        for (int i = 1; i < argc; i++) {
                bool more = i + 1 < argc;
                if (strcmp(argv[i], "--since") == 0 && more) {
                        if (parse_since(argv[++i], auth_now(c->a), &since) < 0) {
                                fprintf(c->err, "berthd: bad --since '%s'\n", argv[i]);
                                return 2;
                        }
                } else if (strcmp(argv[i], "--user") == 0 && more)
                        user = argv[++i];
                else if (strcmp(argv[i], "--repo") == 0 && more)
                        repo = argv[++i];
                else if (strcmp(argv[i], "--limit") == 0 && more) {
                        if (parse_uint(argv[++i], 1000000, &limit) < 0)
                                return usage(c);
                } else
                        return usage(c);
        }
        /* The newest `limit` rows (auth_audit_list: the API's too), printed oldest first. */
        {
                auth_audit_filter_t f = { .user = user, .repo = repo, .since = since, .limit = limit };
                audit_rows_t rows = { 0 };
                r = auth_audit_list(c->a, &f, collect_row, &rows);
                if (r == 0)
                        fprintf(c->out, "TIME\tUSER\tCLIENT\tACTION\tREPO\tDETAIL\n");
                for (size_t i = rows.n; r == 0 && i-- > 0;) {
                        char t[32];
                        fmt_time((time_t) rows.v[i].ts, t, sizeof(t));
                        fprintf(c->out, "%s", t);
                        for (int k = 0; k < 5; k++)
                                print_field(c->out, rows.v[i].f[k] ? rows.v[i].f[k] : "-");
                        fputc('\n', c->out);
                }
                for (size_t i = 0; i < rows.n; i++)
                        for (int k = 0; k < 5; k++)
                                free(rows.v[i].f[k]);
                free(rows.v);
                return r == 0 ? 0 : fail(c, r, "audit");
        }
}

static bool is_command(const char *s) {
        return s && (strcmp(s, "user") == 0 || strcmp(s, "project") == 0 || strcmp(s, "token") == 0 ||
                     strcmp(s, "secret") == 0 || strcmp(s, "audit") == 0);
}

static int run(cli_t *c, int argc, char **argv) {
        int r;

        if (strcmp(argv[0], "user") == 0)
                r = cmd_user(c, argc, argv);
        else if (strcmp(argv[0], "project") == 0)
                r = cmd_project(c, argc, argv);
        else if (strcmp(argv[0], "token") == 0)
                r = cmd_token(c, argc, argv);
        else if (strcmp(argv[0], "secret") == 0)
                r = cmd_secret(c, argc, argv);
        else
                r = cmd_audit(c, argc, argv);
        fflush(c->out);
        return r;
}

int cli_auth_run(const char *data_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err) {
        cli_t c = {.in = in, .out = out, .err = err};
        _cleanup_(auth_freep) auth_t *a = NULL;
        int r;

        if (argc < 1 || !is_command(argv[0]))
                return usage(&c);
        r = auth_open(data_dir, NULL, &a);
        c.a = a;
        if (r < 0) {
                fprintf(err, "berthd: cannot open the database in %s: %s\n", data_dir,
                        berth_strerror(r));
                return 1;
        }
        return run(&c, argc, argv);
}

int cli_auth_run_db(db_t *db, int argc, char **argv, FILE *in, FILE *out, FILE *err) {
        cli_t c = {.in = in, .out = out, .err = err};
        _cleanup_(auth_freep) auth_t *a = NULL;
        int r;

        if (argc < 1 || !is_command(argv[0]))
                return usage(&c);
        r = auth_open_db(db, NULL, &a);
        c.a = a;
        if (r < 0) {
                fprintf(err, "berthd: cannot open users and projects in the database: %s\n",
                        berth_strerror(r));
                return 1;
        }
        return run(&c, argc, argv);
}

int cli_auth_main(db_t *db, int argc, char **argv) {
        return cli_auth_run_db(db, argc, argv, stdin, stdout, stderr);
}
