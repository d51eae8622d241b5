/* server/cli-proxy.c: `berthd project create NAME --proxy URL ...`, `berthd project
 * set NAME --proxy-ttl ...` (a proxy project changed), `berthd project show NAME`,
 * `berthd project proxies` (server/cli-proxy.h). The upstream password
 * is sealed (common/secretbox.h) before it reaches the database. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "common/secretbox.h"
#include "server/cli-proxy.h"
#include "server/cli-secret.h"
#include "storage/proxycache.h"

DEFINE_CLEANUP_FUNC(auth_t, auth_free)

typedef struct {
        db_t *db;
        const char *data_dir;
        FILE *in, *out, *err;
} cli_t;

static int usage(cli_t *c) {
        fputs("usage:\n"
              "  berthd project create NAME --proxy URL [--public] [--proxy-username U --proxy-password-stdin]\n"
              "                        [--proxy-ca FILE] [--proxy-ttl SECONDS] [--mirror-of HOST] [--docker-mirror]\n"
              "  berthd project set NAME [--proxy URL] [--proxy-username U --proxy-password-stdin | --no-proxy-auth]\n"
              "                     [--proxy-ca FILE | --no-proxy-ca] [--proxy-ttl SECONDS]\n"
              "                     [--mirror-of HOST | --no-mirror-of] [--docker-mirror | --no-docker-mirror]\n"
              "                                (a proxy project changed; a new --proxy revalidates every cached tag)\n"
              "  berthd project show NAME      (a proxy project: its upstream, hosts.toml and daemon.json lines)\n"
              "  berthd project proxies        (every proxy project)\n",
              c->err);
        return 2;
}

bool cli_proxy_wants(int argc, char **argv) {
        if (argc < 2 || strcmp(argv[0], "project") != 0)
                return false;
        if (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "proxies") == 0)
                return true;
        if (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "set") != 0)
                return false;
        for (int i = 2; i < argc; i++)
                if (strncmp(argv[i], "--proxy", 7) == 0 || strcmp(argv[i], "--mirror-of") == 0 ||
                    strcmp(argv[i], "--docker-mirror") == 0 ||
                    (strcmp(argv[1], "set") == 0 &&
                     (strcmp(argv[i], "--no-proxy-auth") == 0 || strcmp(argv[i], "--no-proxy-ca") == 0 ||
                      strcmp(argv[i], "--no-mirror-of") == 0 || strcmp(argv[i], "--no-docker-mirror") == 0)))
                        return true;
        return false;
}


/* One line of in, without its end: 1, 0 (nothing), -E2BIG. */
static int read_line(FILE *in, char *buf, size_t size) {
        size_t n;

        if (!fgets(buf, (int) size, in))
                return 0;
        n = strlen(buf);
        if (n > 0 && buf[n - 1] != '\n' && !feof(in))
                return -E2BIG;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        return n > 0;
}

static int parse_seconds(const char *s, int64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > (unsigned long long) 100 * 365 * 86400)
                return -EINVAL;
        *ret = (int64_t) v;
        return 0;
}

static int cmd_create(cli_t *c, int argc, char **argv) {
        _cleanup_(auth_freep) auth_t *a = NULL;
        proxycache_conf_t conf = { .ttl = PROXYCACHE_TTL_DEFAULT };
        const char *name = NULL, *url = NULL, *user = NULL, *ca = NULL, *mirror_of = NULL;
        bool public = false, pw_stdin = false, docker_mirror = false;
        char pw[SECRETBOX_PLAIN_MAX + 2];
        _cleanup_free_ uint8_t *sealed = NULL;
        size_t sealed_len = 0;
        db_conn_t *conn = NULL;
        char host[PROXYCACHE_HOST_MAX + 1];
        int r;

        for (int i = 2; i < argc; i++) {
                bool more = i + 1 < argc;
                if (strcmp(argv[i], "--proxy") == 0 && more)
                        url = argv[++i];
                else if (strcmp(argv[i], "--proxy-username") == 0 && more)
                        user = argv[++i];
                else if (strcmp(argv[i], "--proxy-password-stdin") == 0)
                        pw_stdin = true;
                else if (strcmp(argv[i], "--proxy-ca") == 0 && more)
                        ca = argv[++i];
                else if (strcmp(argv[i], "--proxy-ttl") == 0 && more) {
                        if (parse_seconds(argv[++i], &conf.ttl) < 0) {
                                fprintf(c->err, "berthd: --proxy-ttl: seconds expected, not '%s'\n", argv[i]);
                                return 2;
                        }
                } else if (strcmp(argv[i], "--mirror-of") == 0 && more)
                        mirror_of = argv[++i];
                else if (strcmp(argv[i], "--docker-mirror") == 0)
                        docker_mirror = true;
                else if (strcmp(argv[i], "--public") == 0)
                        public = true;
                else if (!name && argv[i][0] != '-')
                        name = argv[i];
                else
                        return usage(c);
        }
        if (!name || !url)
                return usage(c);
        if (proxycache_url_check(url) < 0 || proxycache_url_host(url, host, sizeof(host)) < 0) {
                fprintf(c->err, "berthd: --proxy %s: an http:// or https:// URL of a registry host "
                                "(https://HOST[:PORT], no path) expected\n", url);
                return 2;
        }
        if (pw_stdin != (user != NULL)) {
                fprintf(c->err, "berthd: --proxy-username and --proxy-password-stdin go together\n");
                return 2;
        }
        if (mirror_of && !proxycache_host_valid(mirror_of)) {
                fprintf(c->err, "berthd: --mirror-of %s: a registry host name expected\n", mirror_of);
                return 2;
        }
        if (ca) {
                char *abs = realpath(ca, NULL);
                if (!abs || access(abs, R_OK) < 0) {
                        fprintf(c->err, "berthd: --proxy-ca %s: %s\n", ca, strerror(errno));
                        free(abs);
                        return 1;
                }
                conf.ca_file = abs; /* the server reads it: an absolute path */
        }
        if (pw_stdin) {
                r = read_line(c->in, pw, sizeof(pw));
                if (r <= 0 || strlen(pw) > SECRETBOX_PLAIN_MAX) {
                        fprintf(c->err, "berthd: --proxy-password-stdin: %s\n",
                                r == 0 ? "no password on stdin" : "password too long");
                        OPENSSL_cleanse(pw, sizeof(pw));
                        proxycache_conf_done(&conf);
                        return 1;
                }
                r = cli_secret_seal(c->data_dir, c->err, PROXYCACHE_SECRET_CONTEXT, pw, &sealed, &sealed_len);
                OPENSSL_cleanse(pw, sizeof(pw));
                if (r < 0) {
                        proxycache_conf_done(&conf);
                        return 1;
                }
        }

        r = auth_open_db(c->db, NULL, &a);
        if (r < 0) {
                fprintf(c->err, "berthd: cannot open users and projects in the database: %s\n", berth_strerror(r));
                proxycache_conf_done(&conf);
                return 1;
        }
        r = auth_project_create(a, name, public);
        if (r == AUTH_ENAME_TAKEN)
                fprintf(c->err, "berthd: %s: a user has that name (the project would be that user's own "
                                "namespace); choose another project name\n", name);
        else if (r == -EEXIST)
                fprintf(c->err, "berthd: %s: a project has that name already (a proxy project is made new)\n",
                        name);
        else if (r == -EINVAL)
                fprintf(c->err, "berthd: %s: not a valid project name\n", name);
        else if (r < 0)
                fprintf(c->err, "berthd: %s: %s\n", name, berth_strerror(r));
        if (r < 0) {
                proxycache_conf_done(&conf);
                return 1;
        }
        conf.project = strdup(name);
        conf.url = strdup(url);
        conf.username = user ? strdup(user) : NULL;
        conf.mirror_of = mirror_of ? strdup(mirror_of) : NULL;
        conf.docker_mirror = docker_mirror;
        conf.password = TAKE_PTR(sealed);
        conf.password_len = sealed_len;
        if (!conf.project || !conf.url || (user && !conf.username) || (mirror_of && !conf.mirror_of))
                r = -ENOMEM;
        if (r >= 0)
                r = db_conn_get(c->db, &conn);
        if (r >= 0) {
                r = proxycache_add(conn, &conf, (int64_t) time(NULL));
                db_conn_put(c->db, conn);
        }
        if (r < 0) {
                fprintf(c->err, "berthd: %s: the project was made but not its upstream: %s\n", name,
                        berth_strerror(r));
                proxycache_conf_done(&conf);
                return 1;
        }
        fprintf(c->out, "project %s created (%s), a pull-through cache of %s (tags revalidated after %llds)\n", name,
                public ? "public" : "private", url, (long long) conf.ttl);
        proxycache_conf_done(&conf);
        return 0;
}

static int print_conf(cli_t *c, const proxycache_conf_t *f, bool lines);

/* Replaces *field with a copy of v (NULL: none). */
static int set_str(char **field, const char *v) {
        char *n = NULL;

        if (v && !(n = strdup(v)))
                return -ENOMEM;
        free(*field);
        *field = n;
        return 0;
}

static int cmd_set(cli_t *c, int argc, char **argv) {
        proxycache_conf_t conf = { 0 };
        const char *name = NULL, *url = NULL, *user = NULL, *ca = NULL, *mirror_of = NULL;
        bool pw_stdin = false, no_auth = false, no_ca = false, no_mirror_of = false;
        int docker_mirror = -1; /* -1 unchanged */
        int64_t ttl = -1;
        char pw[SECRETBOX_PLAIN_MAX + 2];
        _cleanup_free_ char *abs_ca = NULL;
        _cleanup_free_ uint8_t *sealed = NULL;
        size_t sealed_len = 0;
        db_conn_t *conn = NULL;
        char host[PROXYCACHE_HOST_MAX + 1];
        bool revalidate = false;
        int r;

        for (int i = 2; i < argc; i++) {
                bool more = i + 1 < argc;
                if (strcmp(argv[i], "--proxy") == 0 && more)
                        url = argv[++i];
                else if (strcmp(argv[i], "--proxy-username") == 0 && more)
                        user = argv[++i];
                else if (strcmp(argv[i], "--proxy-password-stdin") == 0)
                        pw_stdin = true;
                else if (strcmp(argv[i], "--no-proxy-auth") == 0)
                        no_auth = true;
                else if (strcmp(argv[i], "--proxy-ca") == 0 && more)
                        ca = argv[++i];
                else if (strcmp(argv[i], "--no-proxy-ca") == 0)
                        no_ca = true;
                else if (strcmp(argv[i], "--proxy-ttl") == 0 && more) {
                        if (parse_seconds(argv[++i], &ttl) < 0) {
                                fprintf(c->err, "berthd: --proxy-ttl: seconds expected, not '%s'\n", argv[i]);
                                return 2;
                        }
                } else if (strcmp(argv[i], "--mirror-of") == 0 && more)
                        mirror_of = argv[++i];
                else if (strcmp(argv[i], "--no-mirror-of") == 0)
                        no_mirror_of = true;
                else if (strcmp(argv[i], "--docker-mirror") == 0)
                        docker_mirror = 1;
                else if (strcmp(argv[i], "--no-docker-mirror") == 0)
                        docker_mirror = 0;
                else if (strcmp(argv[i], "--public") == 0 || strcmp(argv[i], "--private") == 0) {
                        fprintf(c->err, "berthd: project set: %s and the proxy options go in two commands\n",
                                argv[i]);
                        return 2;
                } else if (!name && argv[i][0] != '-')
                        name = argv[i];
                else
                        return usage(c);
        }
        if (!name)
                return usage(c);
        if (url && (proxycache_url_check(url) < 0 || proxycache_url_host(url, host, sizeof(host)) < 0)) {
                fprintf(c->err, "berthd: --proxy %s: an http:// or https:// URL of a registry host "
                                "(https://HOST[:PORT], no path) expected\n", url);
                return 2;
        }
        if (pw_stdin != (user != NULL) || (no_auth && user)) {
                fprintf(c->err, "berthd: --proxy-username and --proxy-password-stdin go together (or "
                                "--no-proxy-auth alone)\n");
                return 2;
        }
        if ((no_ca && ca) || (no_mirror_of && mirror_of)) {
                fprintf(c->err, "berthd: an option and its --no- form together\n");
                return 2;
        }
        if (mirror_of && !proxycache_host_valid(mirror_of)) {
                fprintf(c->err, "berthd: --mirror-of %s: a registry host name expected\n", mirror_of);
                return 2;
        }
        if (ca) {
                abs_ca = realpath(ca, NULL);
                if (!abs_ca || access(abs_ca, R_OK) < 0) {
                        fprintf(c->err, "berthd: --proxy-ca %s: %s\n", ca, strerror(errno));
                        return 1;
                }
        }
        r = db_conn_get(c->db, &conn);
        if (r < 0) {
                fprintf(c->err, "berthd: the database: %s\n", berth_strerror(r));
                return 1;
        }
        r = proxycache_get(conn, name, &conf);
        db_conn_put(c->db, conn);
        if (r <= 0) {
                if (r == 0)
                        fprintf(c->err, "berthd: %s: no such proxy project\n", name);
                else
                        fprintf(c->err, "berthd: %s: %s\n", name, berth_strerror(r));
                return 1;
        }
        if (pw_stdin) {
                r = read_line(c->in, pw, sizeof(pw));
                if (r <= 0 || strlen(pw) > SECRETBOX_PLAIN_MAX) {
                        fprintf(c->err, "berthd: --proxy-password-stdin: %s\n",
                                r == 0 ? "no password on stdin" : "password too long");
                        OPENSSL_cleanse(pw, sizeof(pw));
                        proxycache_conf_done(&conf);
                        return 1;
                }
                r = cli_secret_seal(c->data_dir, c->err, PROXYCACHE_SECRET_CONTEXT, pw, &sealed, &sealed_len);
                OPENSSL_cleanse(pw, sizeof(pw));
                if (r < 0) {
                        proxycache_conf_done(&conf);
                        return 1;
                }
        }
        r = 0;
        if (url) {
                revalidate = strcmp(url, conf.url) != 0;
                r = set_str(&conf.url, url);
        }
        if (r == 0 && (user || no_auth)) {
                r = set_str(&conf.username, user);
                if (conf.password)
                        OPENSSL_cleanse(conf.password, conf.password_len);
                free(conf.password);
                conf.password = TAKE_PTR(sealed);
                conf.password_len = conf.password ? sealed_len : 0;
        }
        if (r == 0 && (ca || no_ca))
                r = set_str(&conf.ca_file, abs_ca);
        if (r == 0 && (mirror_of || no_mirror_of))
                r = set_str(&conf.mirror_of, mirror_of);
        if (ttl >= 0)
                conf.ttl = ttl;
        if (docker_mirror >= 0)
                conf.docker_mirror = docker_mirror;
        if (r == 0)
                r = db_conn_get(c->db, &conn);
        if (r == 0) {
                r = proxycache_update(conn, &conf, revalidate);
                db_conn_put(c->db, conn);
        }
        if (r < 0) {
                fprintf(c->err, "berthd: %s: %s\n", name,
                        r == -ENOENT ? "no such proxy project (deleted meanwhile)" : berth_strerror(r));
                proxycache_conf_done(&conf);
                return 1;
        }
        fprintf(c->out, "proxy project %s changed (servers use it within seconds)%s\n", name,
                revalidate ? "; its cached tags are revalidated with the new upstream at their next pull" : "");
        print_conf(c, &conf, false);
        proxycache_conf_done(&conf);
        return 0;
}

static void print_mirror_lines(cli_t *c, const proxycache_conf_t *f) {
        char host[PROXYCACHE_HOST_MAX + 1];
        const char *ns = f->mirror_of;

        if (!ns) {
                if (proxycache_url_host(f->url, host, sizeof(host)) < 0)
                        return;
                ns = proxycache_host_is_docker_hub(host) ? "docker.io" : host;
        }
        fprintf(c->out,
                "containerd (/etc/containerd/certs.d/%s/hosts.toml; berth answers for every proxy project):\n"
                "  server = \"%s%s\"\n"
                "  [host.\"https://BERTH_HOST:5000\"]\n"
                "    capabilities = [\"pull\", \"resolve\"]\n",
                ns, proxycache_host_is_docker_hub(ns) ? "https://registry-1.docker.io" : f->url, "");
        if (f->docker_mirror)
                fprintf(c->out, "docker (/etc/docker/daemon.json):\n"
                                "  \"registry-mirrors\": [\"https://BERTH_HOST:5000\"]\n");
        fprintf(c->out, "by name: BERTH_HOST:5000/%s/REPOSITORY:TAG\n", f->project);
}

static int print_conf(cli_t *c, const proxycache_conf_t *f, bool lines) {
        fprintf(c->out, "project\t%s\nupstream\t%s\nusername\t%s\npassword\t%s\nca\t%s\nttl\t%lld\n"
                        "mirror-of\t%s\ndocker-mirror\t%s\n",
                f->project, f->url, f->username ? f->username : "-", f->password ? "(sealed)" : "-",
                f->ca_file ? f->ca_file : "-", (long long) f->ttl, f->mirror_of ? f->mirror_of : "-",
                f->docker_mirror ? "yes" : "no");
        if (lines)
                print_mirror_lines(c, f);
        return 0;
}

static int print_row(const proxycache_conf_t *f, void *userdata) {
        cli_t *c = userdata;
        fprintf(c->out, "%s\t%s\t%lld\t%s%s\n", f->project, f->url, (long long) f->ttl,
                f->mirror_of ? f->mirror_of : "-", f->docker_mirror ? "\tdocker-mirror" : "");
        return 0;
}

int cli_proxy_run(db_t *db, const char *data_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err) {
        cli_t c = { .db = db, .data_dir = data_dir, .in = in, .out = out, .err = err };
        db_conn_t *conn = NULL;
        int r;

        if (!cli_proxy_wants(argc, argv))
                return usage(&c);
        if (strcmp(argv[1], "create") == 0)
                return cmd_create(&c, argc, argv);
        if (strcmp(argv[1], "set") == 0)
                return cmd_set(&c, argc, argv);
        if ((strcmp(argv[1], "show") == 0 && argc != 3) || (strcmp(argv[1], "proxies") == 0 && argc != 2))
                return usage(&c);
        r = db_conn_get(db, &conn);
        if (r < 0) {
                fprintf(err, "berthd: the database: %s\n", berth_strerror(r));
                return 1;
        }
        if (strcmp(argv[1], "proxies") == 0) {
                fprintf(out, "PROJECT\tUPSTREAM\tTTL\tMIRROR-OF\n");
                r = proxycache_list(conn, print_row, &c);
        } else {
                proxycache_conf_t f;
                r = proxycache_get(conn, argv[2], &f);
                if (r == 0) {
                        fprintf(err, "berthd: %s: no such proxy project\n", argv[2]);
                        r = 1;
                } else if (r > 0) {
                        print_conf(&c, &f, true);
                        proxycache_conf_done(&f);
                        r = 0;
                }
        }
        db_conn_put(db, conn);
        if (r < 0) {
                fprintf(err, "berthd: %s\n", berth_strerror(r));
                return 1;
        }
        fflush(out);
        return r;
}
