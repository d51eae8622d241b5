/* server/cli-webhook.c: `berthd webhook add|list|del|log` (see cli-webhook.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/name.h"
#include "common/secretbox.h"
#include "server/cli-secret.h"
#include "server/cli-webhook.h"
#include "server/proxy.h"
#include "server/ssrf.h"
#include "storage/webhook.h"

#define ALLOW_ENV "BERTH_WEBHOOK_ALLOW_CIDR"

typedef struct {
        db_t *db;
        db_conn_t *c;
        const char *data_dir;
        FILE *in, *out, *err;
} cli_t;

int cli_webhook_usage(FILE *err) {
        fputs("usage:\n"
              "  berthd webhook add PROJECT|--global URL [--events push,delete,pull,quota|all]\n"
              "                     [--secret-stdin] [--webhook-allow-cidr CIDR,...]\n"
              "  berthd webhook list [PROJECT]\n"
              "  berthd webhook del ID\n"
              "  berthd webhook log ID [--limit N]\n"
              "PROJECT: a namespace (the repositories PROJECT/...); --global (or '*'): every\n"
              "repository. Events [push,delete]: push (a manifest pushed, one event per tag),\n"
              "delete (a manifest or tag deleted), pull (pull counts per repository and digest,\n"
              "sent every --webhook-pull-interval), quota (a project's usage reached 85% of its\n"
              "quota, or a push was refused for it: at most one a minute per project).\n"
              "URL: http:// or https://; refused when it resolves to a link-local or cloud\n"
              "metadata address, or to a loopback or private one that --webhook-allow-cidr (or\n"
              "BERTH_WEBHOOK_ALLOW_CIDR, as the server's) does not allow.\n"
              "--secret-stdin: a secret (one line) from stdin; each delivery is then signed,\n"
              "X-Berth-Signature: sha256=HMAC-SHA256(secret, body) in hex. The secret is stored\n"
              "sealed under DATA/secret.key (made now if missing) or BERTH_SECRET_KEY_FILE.\n"
              "log: the newest deliveries attempted (time, event id, type, attempt, HTTP status,\n"
              "latency, result, error); the last 200 are kept per webhook.\n",
              err);
        return 2;
}

static int fail(cli_t *c, int r, const char *what) {
        if ((r == BERTH_EDB || r == BERTH_EDBDOWN) && db_last_error()[0])
                fprintf(c->err, "berthd: %s: %s (%s)\n", what, berth_strerror(r), db_last_error());
        else
                fprintf(c->err, "berthd: %s: %s\n", what, berth_strerror(r));
        return 1;
}

static void fmt_time(int64_t t, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(buf, size, "-");
}

static bool project_ok(const char *p) {
        return strcmp(p, WEBHOOK_GLOBAL) == 0 || (!strchr(p, '/') && name_repo_valid(p, strlen(p)));
}

/* One line of secret from in, without its line end: 1, or 0 when there is none. */
static int read_secret(cli_t *c, char *buf, size_t size) {
        size_t n;

        if (!fgets(buf, (int) size, c->in))
                return 0;
        n = strlen(buf);
        if (n > 0 && buf[n - 1] != '\n' && !feof(c->in))
                return -E2BIG;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        return n > 0;
}


static int cmd_add(cli_t *c, int argc, char **argv) {
        const char *project = NULL, *url = NULL, *allow_list = getenv(ALLOW_ENV);
        char secret[SECRETBOX_PLAIN_MAX + 2], events_text[64], reason[400];
        unsigned events = WEBHOOK_DEFAULT_EVENTS;
        bool with_secret = false, global = false;
        _cleanup_free_ uint8_t *sealed = NULL;
        proxy_cidrs_t *allow = NULL;
        size_t sealed_len = 0;
        int64_t id = 0;
        int r;

        for (int i = 2; i < argc; i++) {
                bool more = i + 1 < argc;
                if (strcmp(argv[i], "--events") == 0 && more) {
                        if (webhook_events_parse(argv[++i], &events) < 0) {
                                fprintf(c->err, "berthd: bad --events '%s' (push, delete, pull, quota, "
                                                "comma-separated; or all)\n", argv[i]);
                                return 2;
                        }
                } else if (strcmp(argv[i], "--secret-stdin") == 0)
                        with_secret = true;
                else if (strcmp(argv[i], "--global") == 0)
                        global = true;
                else if (strcmp(argv[i], "--webhook-allow-cidr") == 0 && more)
                        allow_list = argv[++i];
                else if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0)
                        return cli_webhook_usage(c->err);
                else if (!project && !global)
                        project = argv[i];
                else if (!url)
                        url = argv[i];
                else
                        return cli_webhook_usage(c->err);
        }
        if (global) {
                if (project)
                        return cli_webhook_usage(c->err);
                project = WEBHOOK_GLOBAL;
        }
        if (!project || !url)
                return cli_webhook_usage(c->err);
        if (!project_ok(project)) {
                fprintf(c->err, "berthd: '%s' is not a project (a namespace: the first part of repository "
                                "names), nor --global\n", project);
                return 2;
        }
        if (allow_list && *allow_list && proxy_cidrs_parse(allow_list, &allow) < 0) {
                fprintf(c->err, "berthd: bad --webhook-allow-cidr (or %s) '%s'\n", ALLOW_ENV, allow_list);
                return 2;
        }
        r = ssrf_target_check(url, WEBHOOK_URL_MAX, allow, reason, sizeof(reason));
        proxy_cidrs_free(allow);
        if (r == -EINVAL) {
                fprintf(c->err, "berthd: %s\n", reason);
                return 2;
        }
        if (r < 0) {
                fprintf(c->err, "berthd: refusing %s: %s\n", url, reason);
                return 1;
        }
        if (with_secret) {
                r = read_secret(c, secret, sizeof(secret));
                if (r <= 0) {
                        fprintf(c->err, "berthd: %s\n", r < 0 ? "the secret is too long (4096 bytes at most)"
                                                             : "no secret on stdin");
                        OPENSSL_cleanse(secret, sizeof(secret));
                        return 2;
                }
                r = cli_secret_seal(c->data_dir, c->err, WEBHOOK_SECRET_CONTEXT, secret, &sealed, &sealed_len);
                OPENSSL_cleanse(secret, sizeof(secret));
                if (r < 0)
                        return 1;
        }
        r = webhook_add(c->c, project, url, events, sealed, sealed_len, (int64_t) time(NULL), &id);
        if (r < 0)
                return fail(c, r, "webhook add");
        webhook_events_format(events, events_text, sizeof(events_text));
        fprintf(c->out, "webhook %lld added: %s, events %s%s\n", (long long) id,
                strcmp(project, WEBHOOK_GLOBAL) == 0 ? "every repository" : project, events_text,
                sealed ? ", signed" : "");
        return 0;
}

static int print_webhook(const webhook_info_t *w, void *userdata) {
        cli_t *c = userdata;
        char t[32], ev[64];

        fmt_time(w->created, t, sizeof(t));
        webhook_events_format(w->events, ev, sizeof(ev));
        fprintf(c->out, "%lld\t%s\t%s%s\t%s\t%s\t%s\n", (long long) w->id, w->project, ev,
                w->enabled ? "" : " (disabled)",
                w->has_secret ? "yes" : "no", t, w->url);
        return 0;
}

static int print_log(const webhook_log_entry_t *e, void *userdata) {
        cli_t *c = userdata;
        char t[32], status[24], err[LOG_ESCAPED_MAX(255)];

        fmt_time(e->ts, t, sizeof(t));
        if (e->status > 0)
                (void) snprintf(status, sizeof(status), "%lld", (long long) e->status);
        else
                (void) snprintf(status, sizeof(status), "-");
        /* an error holds a target's words: printed escaped */
        if (e->error)
                (void) log_escape(err, sizeof(err), e->error, strnlen(e->error, 255));
        fprintf(c->out, "%s\t%s\t%s\t%lld\t%s\t%lldms\t%s\t%s\n", t, e->event_id, e->type, (long long) e->attempt,
                status, (long long) e->latency_ms, e->result, e->error ? err : "-");
        return 0;
}

static int run(cli_t *c, int argc, char **argv) {
        int64_t id;
        int r;

        if (argc < 2)
                return cli_webhook_usage(c->err);
        if (strcmp(argv[1], "add") == 0)
                return cmd_add(c, argc, argv);
        if (strcmp(argv[1], "list") == 0 && argc <= 3) {
                const char *project = argc == 3 ? argv[2] : NULL;
                if (project && strcmp(project, "--global") == 0)
                        project = WEBHOOK_GLOBAL;
                fprintf(c->out, "ID\tPROJECT\tEVENTS\tSECRET\tCREATED\tURL\n");
                r = webhook_list(c->c, project, print_webhook, c);
                return r < 0 ? fail(c, r, "webhook list") : 0;
        }
        if (strcmp(argv[1], "del") == 0 && argc == 3) {
                if (webhook_id_parse(argv[2], &id) < 0)
                        return cli_webhook_usage(c->err);
                r = webhook_del(c->c, id);
                if (r < 0)
                        return fail(c, r, "webhook del");
                if (r == 0) {
                        fprintf(c->err, "berthd: no webhook %lld\n", (long long) id);
                        return 1;
                }
                fprintf(c->out, "webhook %lld deleted (its queued deliveries and log with it)\n", (long long) id);
                return 0;
        }
        if (strcmp(argv[1], "log") == 0 && argc >= 3) {
                unsigned long limit = 50;
                if (webhook_id_parse(argv[2], &id) < 0)
                        return cli_webhook_usage(c->err);
                for (int i = 3; i < argc; i++) {
                        char *end;
                        if (strcmp(argv[i], "--limit") != 0 || i + 1 >= argc)
                                return cli_webhook_usage(c->err);
                        errno = 0;
                        limit = strtoul(argv[++i], &end, 10);
                        if (errno || *end || limit < 1 || limit > 100000 || argv[i][0] == '-')
                                return cli_webhook_usage(c->err);
                }
                r = webhook_exists(c->c, id);
                if (r < 0)
                        return fail(c, r, "webhook log");
                if (r == 0) {
                        fprintf(c->err, "berthd: no webhook %lld\n", (long long) id);
                        return 1;
                }
                fprintf(c->out, "TIME\tEVENT\tTYPE\tATTEMPT\tSTATUS\tLATENCY\tRESULT\tERROR\n");
                r = webhook_log_list(c->c, id, (int64_t) limit, print_log, c);
                return r < 0 ? fail(c, r, "webhook log") : 0;
        }
        return cli_webhook_usage(c->err);
}

int cli_webhook_run(db_t *db, const char *data_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err) {
        cli_t c = { .db = db, .data_dir = data_dir, .in = in, .out = out, .err = err };
        int r;

        if (argc < 1 || strcmp(argv[0], "webhook") != 0)
                return cli_webhook_usage(err);
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
                return cli_webhook_usage(err);
        r = db_conn_get(db, &c.c);
        if (r < 0)
                return fail(&c, r, "opening the database");
        r = run(&c, argc, argv);
        db_conn_put(db, c.c);
        fflush(out);
        return r;
}
