/* server/config.c: berthd settings from flags and BERTH_* environment variables
 * (flags win), over embedded defaults. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "config.h"
#include "common/err.h"
#include "common/log.h"
#include "server/dbconf.h"
#include "server/proxy.h"
#include "server/server.h"

void config_usage(FILE *f) {
        fputs("Usage: berthd [serve] [OPTIONS]\n"
              "       berthd user|project|token|secret|audit ...   (administration; see berthd user --help)\n"
              "       berthd gc [--dry-run] [--grace SECONDS] [--status]  (garbage collection, online; berthd gc --help)\n"
              "       berthd db copy|version ...                  (copy the metadata to another database; berthd db --help)\n"
              "       berthd webhook add|list|del|log ...         (webhooks; berthd webhook --help)\n"
              "       berthd usage [PROJECT] [--json]             (storage used per project; berthd usage --help)\n"
              "       berthd fsck [--repair] [--rate MiB/s]       (check blobs against the metadata; berthd fsck --help)\n"
              "       berthd backup DEST | restore SRC DATA       (consistent snapshot, online; berthd backup --help)\n"
              "       berthd storage copy --to s3://...           (blobs from DATA/blobs into a bucket; berthd storage --help)\n"
              "\n"
              "berthd is a private container image registry (OCI Distribution v1.1, Docker Registry v2).\n"
              "\n"
              "Options (each also read from the environment variable shown; flags win):\n"
              "  --listen ADDR:PORT     BERTH_LISTEN          address to listen on [0.0.0.0:5000]\n"
              "  --data DIR             BERTH_DATA            data directory [./berth-data, /var/lib/berth as root]\n"
              "  --db URL               BERTH_DB              metadata database: sqlite (DATA/berth.db),\n"
              "                                               sqlite:PATH, or postgresql://USER@HOST/DB\n"
              "                                               (several berthd may share one) [sqlite];\n"
              "                                               password: PGPASSWORD, ~/.pgpass or the file\n"
              "                                               named by BERTH_DB_PASSWORD_FILE\n"
              "  --tls-cert FILE        BERTH_TLS_CERT        PEM certificate chain (with --tls-key)\n"
              "  --tls-key FILE         BERTH_TLS_KEY         PEM private key\n"
              "  --tls-san NAME         BERTH_TLS_SAN         extra name for the generated certificate\n"
              "                                               (repeatable; env: comma-separated)\n"
              "  --insecure-http        BERTH_INSECURE_HTTP=1 serve plain HTTP (behind a TLS proxy)\n"
              "  --read-only            BERTH_READ_ONLY=1     serve pulls only (maintenance): every write\n"
              "                                               gets 405 UNSUPPORTED; no background writes\n"
              "  --log-level LEVEL      BERTH_LOG_LEVEL       debug|info|notice|warning|error [info]\n"
              "  --threads N            BERTH_THREADS         worker threads [2 x CPUs, at least 4]\n"
              "  --auth MODE            BERTH_AUTH            basic|token|none [basic]; token: Bearer\n"
              "                                               challenges, tokens from /auth/token\n"
              "  --delete, --no-delete  BERTH_DELETE=1|0      allow DELETE requests [allowed]\n"
              "  --upload-max-age SEC   BERTH_UPLOAD_MAX_AGE  abandoned uploads expire after [86400]\n"
              "  --grace SEC            BERTH_GRACE           drain time on SIGTERM [25]\n"
              "  --gc-interval SEC      BERTH_GC_INTERVAL     garbage collection every SEC, while serving\n"
              "                                               (one replica at a time); 0: never [3600]\n"
              "  --gc-grace SEC         BERTH_GC_GRACE        GC keeps what became unreferenced less than\n"
              "                                               SEC ago [3600]\n"
              "  --gc-delete-untagged   BERTH_GC_DELETE_UNTAGGED=1  GC also removes untagged manifests no\n"
              "                                               index or kept subject needs [off]\n"
              "  --retention-interval SEC  BERTH_RETENTION_INTERVAL  the projects' retention policies\n"
              "                                               applied every SEC (one replica at a time);\n"
              "                                               0: never [3600]\n"
              "  --blob-max-size BYTES  BERTH_BLOB_MAX_SIZE   largest accepted blob [68719476736]\n"
              "  --max-requests N       BERTH_MAX_REQUESTS    requests in flight before 429 [1024]; probes\n"
              "                                               and /auth/token are never refused\n"
              "  --max-conns N          BERTH_MAX_CONNS       open connections in all [4096]\n"
              "  --max-conns-per-ip N   BERTH_MAX_CONNS_PER_IP  open connections from one address [64];\n"
              "                                               0: no limit; trusted proxies are exempt\n"
              "  --header-timeout SEC   BERTH_HEADER_TIMEOUT  a connection's TLS handshake and request\n"
              "                                               head must arrive within [15]\n"
              "  --body-timeout SEC     BERTH_BODY_TIMEOUT    a request body or answer idle for this long\n"
              "                                               ends the connection [60]\n"
              "  --trusted-proxies CIDR,...  BERTH_TRUSTED_PROXIES  proxies whose X-Forwarded-For names\n"
              "                                               the client [none]\n"
              "  --token-rate N[/B]     BERTH_TOKEN_RATE      tokens from /auth/token per second and client\n"
              "                                               address, B at once [100/500]\n"
              "  --metrics-listen ADDR:PORT  BERTH_METRICS_LISTEN  plain-HTTP listener for GET /metrics\n"
              "                                               (Prometheus) [127.0.0.1:5001]; empty: none\n"
              "  --log-format FORMAT    BERTH_LOG_FORMAT      text|json (one JSON object a line) [text]\n"
              "  --webhook-allow-cidr CIDR,...  BERTH_WEBHOOK_ALLOW_CIDR  loopback or private networks\n"
              "                                               webhooks may reach [none]; link-local and\n"
              "                                               cloud metadata addresses never\n"
              "  --webhook-max-age SEC  BERTH_WEBHOOK_MAX_AGE  an event not delivered is given up after [86400]\n"
              "  --webhook-backoff MIN[/MAX]  BERTH_WEBHOOK_BACKOFF  seconds before the first retry, doubling\n"
              "                                               up to MAX, with jitter [10/3600]\n"
              "  --webhook-pull-interval SEC  BERTH_WEBHOOK_PULL_INTERVAL  pull counts are sent as events\n"
              "                                               this often [10]\n"
              "  --storage URL          BERTH_STORAGE         where blobs live: file (under DATA) or\n"
              "                                               s3://BUCKET[/PREFIX]?endpoint=URL&region=R\n"
              "                                               (credentials: AWS_ACCESS_KEY_ID and\n"
              "                                               AWS_SECRET_ACCESS_KEY, or the file named by\n"
              "                                               BERTH_S3_CREDENTIALS_FILE) [file]\n"
              "  --s3-ca FILE           BERTH_S3_CA           PEM CA bundle to trust for the S3 endpoint\n"
              "  --s3-redirect          BERTH_S3_REDIRECT=1   answer blob GETs with 307 to a presigned\n"
              "                                               URL valid 10 minutes [off]\n"
              "  -h, --help             this text\n"
              "  -V, --version          the version\n"
              "\n"
              "Without --tls-cert, the first start creates a local CA and a server certificate under\n"
              "DATA/tls/ and prints how to make docker, podman and containerd trust it.\n"
              "Webhook secrets are sealed under the key in DATA/secret.key (made on first use), or in the\n"
              "file BERTH_SECRET_KEY_FILE names (the same for every replica).\n"
              "SIGTERM or SIGINT stops accepting, lets requests in flight finish within the grace\n"
              "period and exits 0. GET /healthz (liveness) and /readyz (readiness) serve probes.\n",
              f);
}

/* Checked unsigned parse: the whole string, decimal, within [min, max]. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool parse_bool(const char *s, bool *ret) {
        if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
                *ret = true;
        else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
                *ret = false;
        else
                return false;
        return true;
}

static int set_str(char **dst, const char *v) {
        char *c = strdup(v);
        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

/* "host:port", "[v6]:port" or ":port" */
static int parse_hostport(const char *s, char **ret_host, uint16_t *ret_port) {
        const char *colon;
        char host[256];
        uint64_t port;
        size_t hl;

        if (s[0] == '[') {
                const char *rb = strchr(s, ']');
                if (!rb || rb[1] != ':')
                        return -EINVAL;
                hl = (size_t) (rb - s - 1);
                if (hl == 0 || hl >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, hl);
                colon = rb + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                hl = (size_t) (colon - s);
                if (hl >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s, hl);
        }
        host[hl] = '\0';
        if (parse_u64(colon + 1, 1, 65535, &port) < 0)
                return -EINVAL;
        *ret_port = (uint16_t) port;
        return set_str(ret_host, hl ? host : "0.0.0.0");
}

static int parse_listen(const char *s, config_t *c) {
        return parse_hostport(s, &c->listen_host, &c->port);
}

/* --metrics-listen: like --listen; empty: no metrics listener */
static int parse_metrics_listen(const char *s, config_t *c) {
        c->metrics_listen_set = true;
        if (!*s) {
                free(c->metrics_host);
                c->metrics_host = NULL;
                return 0;
        }
        return parse_hostport(s, &c->metrics_host, &c->metrics_port);
}

static int add_san(config_t *c, const char *v) {
        char **n;

        if (!*v)
                return 0;
        if (c->n_tls_sans >= 64)
                return -E2BIG;
        n = realloc(c->tls_sans, (c->n_tls_sans + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        c->tls_sans = n;
        n[c->n_tls_sans] = strdup(v);
        if (!n[c->n_tls_sans])
                return -ENOMEM;
        c->n_tls_sans++;
        return 0;
}

enum {
        OPT_LISTEN = 256, OPT_DATA, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_SAN, OPT_INSECURE, OPT_READ_ONLY,
        OPT_LOG_LEVEL, OPT_THREADS, OPT_AUTH, OPT_DELETE, OPT_NO_DELETE, OPT_UPLOAD_MAX_AGE,
        OPT_GRACE, OPT_BLOB_MAX, OPT_MAX_REQUESTS, OPT_MAX_CONNS, OPT_MAX_CONNS_PER_IP,
        OPT_HEADER_TIMEOUT, OPT_BODY_TIMEOUT, OPT_TRUSTED_PROXIES, OPT_TOKEN_RATE,
        OPT_METRICS_LISTEN, OPT_LOG_FORMAT, OPT_DB, OPT_WEBHOOK_ALLOW, OPT_WEBHOOK_MAX_AGE,
        OPT_WEBHOOK_BACKOFF, OPT_WEBHOOK_PULL_INTERVAL, OPT_GC_INTERVAL, OPT_GC_GRACE, OPT_GC_UNTAGGED,
        OPT_RETENTION_INTERVAL, OPT_STORAGE, OPT_S3_CA, OPT_S3_REDIRECT,
};

/* --trusted-proxies: the list replaces an earlier one */
static int set_trusted_proxies(config_t *c, const char *v) {
        proxy_cidrs_t *t = NULL;
        int r = proxy_cidrs_parse(v, &t);

        if (r == -E2BIG)
                fprintf(stderr, "berthd: more than %d trusted proxy networks\n", PROXY_CIDRS_MAX);
        if (r < 0)
                return r;
        proxy_cidrs_free(c->trusted_proxies);
        c->trusted_proxies = t;
        return 0;
}

/* --webhook-allow-cidr: the list replaces an earlier one */
static int set_webhook_allow(config_t *c, const char *v) {
        proxy_cidrs_t *t = NULL;
        int r = proxy_cidrs_parse(v, &t);

        if (r == -E2BIG)
                fprintf(stderr, "berthd: more than %d networks in the webhook allow list\n", PROXY_CIDRS_MAX);
        if (r < 0)
                return r;
        proxy_cidrs_free(c->webhook_allow);
        c->webhook_allow = t;
        return 0;
}

/* "MIN" or "MIN/MAX", seconds, MIN <= MAX */
static int parse_backoff(const char *v, config_t *c) {
        const char *slash = strchr(v, '/');
        char num[24];
        uint64_t min, max;
        size_t nl = slash ? (size_t) (slash - v) : strlen(v);

        if (nl == 0 || nl >= sizeof(num))
                return -EINVAL;
        memcpy(num, v, nl);
        num[nl] = '\0';
        if (parse_u64(num, 1, 86400, &min) < 0)
                return -EINVAL;
        max = min > c->webhook_backoff_max ? min : c->webhook_backoff_max;
        if (slash && parse_u64(slash + 1, min, 7 * 86400, &max) < 0)
                return -EINVAL;
        c->webhook_backoff_min = min;
        c->webhook_backoff_max = max;
        return 0;
}

/* Apply one setting; `what` names it in error messages (flag or variable). */
static int apply(config_t *c, int opt, const char *v, const char *what) {
        uint64_t u;
        bool b;
        int r = 0;

        switch (opt) {
        case OPT_LISTEN:
                r = parse_listen(v, c);
                break;
        case OPT_DATA:
                r = *v ? set_str(&c->data_dir, v) : -EINVAL;
                break;
        case OPT_TLS_CERT:
                r = set_str(&c->tls_cert, v);
                break;
        case OPT_TLS_KEY:
                r = set_str(&c->tls_key, v);
                break;
        case OPT_TLS_SAN: {
                /* comma-separated in the environment */
                char *dup = strdup(v), *save = NULL;
                if (!dup)
                        return -ENOMEM;
                for (char *t = strtok_r(dup, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save))
                        r = add_san(c, t);
                free(dup);
                break;
        }
        case OPT_INSECURE:
                if (!v)
                        c->insecure_http = true;
                else if (!parse_bool(v, &c->insecure_http))
                        r = -EINVAL;
                break;
        case OPT_READ_ONLY:
                if (!v)
                        c->read_only = true;
                else if (!parse_bool(v, &c->read_only))
                        r = -EINVAL;
                break;
        case OPT_LOG_LEVEL:
                r = log_level_parse(v);
                if (r >= 0) {
                        c->log_level = r;
                        r = 0;
                }
                break;
        case OPT_THREADS:
                r = parse_u64(v, 1, 1024, &u);
                if (r == 0)
                        c->threads = (unsigned) u;
                break;
        case OPT_AUTH:
                if (!strcmp(v, "none")) {
                        c->auth_none = true;
                        c->auth_token = false;
                } else if (!strcmp(v, "basic")) {
                        c->auth_none = false;
                        c->auth_token = false;
                } else if (!strcmp(v, "token")) {
                        c->auth_none = false;
                        c->auth_token = true;
                } else
                        r = -EINVAL;
                break;
        case OPT_DELETE:
                if (!v)
                        c->delete_enabled = true;
                else if (!parse_bool(v, &b))
                        r = -EINVAL;
                else
                        c->delete_enabled = b;
                break;
        case OPT_NO_DELETE:
                c->delete_enabled = false;
                break;
        case OPT_UPLOAD_MAX_AGE:
                r = parse_u64(v, 1, UINT32_MAX, &c->upload_max_age);
                break;
        case OPT_GC_INTERVAL:
                r = parse_u64(v, 0, UINT32_MAX, &c->gc_interval);
                break;
        case OPT_GC_GRACE:
                r = parse_u64(v, 0, UINT32_MAX, &c->gc_grace);
                break;
        case OPT_RETENTION_INTERVAL:
                r = parse_u64(v, 0, UINT32_MAX, &c->retention_interval);
                break;
        case OPT_GC_UNTAGGED:
                if (!v)
                        c->gc_delete_untagged = true;
                else if (!parse_bool(v, &b))
                        r = -EINVAL;
                else
                        c->gc_delete_untagged = b;
                break;
        case OPT_GRACE:
                r = parse_u64(v, 0, 3600, &u);
                if (r == 0)
                        c->grace = (unsigned) u;
                break;
        case OPT_MAX_REQUESTS:
                r = parse_u64(v, 1, 1000000, &u);
                if (r == 0)
                        c->max_requests = (unsigned) u;
                break;
        case OPT_MAX_CONNS:
                r = parse_u64(v, 1, 1000000, &u);
                if (r == 0)
                        c->max_conns = (unsigned) u;
                break;
        case OPT_MAX_CONNS_PER_IP:
                r = parse_u64(v, 0, 1000000, &u);
                if (r == 0)
                        c->max_conns_per_ip = (unsigned) u;
                break;
        case OPT_HEADER_TIMEOUT:
                r = parse_u64(v, 1, 3600, &u);
                if (r == 0)
                        c->header_timeout = (unsigned) u;
                break;
        case OPT_BODY_TIMEOUT:
                r = parse_u64(v, 1, 86400, &u);
                if (r == 0)
                        c->body_timeout = (unsigned) u;
                break;
        case OPT_TRUSTED_PROXIES:
                r = set_trusted_proxies(c, v);
                break;
        case OPT_TOKEN_RATE: {
                /* "N" or "N/BURST" */
                const char *slash = strchr(v, '/');
                char num[24];
                uint64_t burst = 0;
                size_t nl = slash ? (size_t) (slash - v) : strlen(v);

                if (nl == 0 || nl >= sizeof(num)) {
                        r = -EINVAL;
                        break;
                }
                memcpy(num, v, nl);
                num[nl] = '\0';
                r = parse_u64(num, 1, 100000, &u);
                if (r == 0 && slash)
                        r = parse_u64(slash + 1, 1, 1000000, &burst);
                if (r == 0) {
                        c->token_rate = (unsigned) u;
                        c->token_burst = slash ? (unsigned) burst : 0;
                }
                break;
        }
        case OPT_METRICS_LISTEN:
                r = parse_metrics_listen(v, c);
                break;
        case OPT_LOG_FORMAT:
                if (!strcmp(v, "text"))
                        c->log_format = LOG_FORMAT_TEXT;
                else if (!strcmp(v, "json"))
                        c->log_format = LOG_FORMAT_JSON;
                else
                        r = -EINVAL;
                break;
        case OPT_BLOB_MAX:
                r = parse_u64(v, 1, UINT64_MAX / 2, &c->blob_max_size);
                break;
        case OPT_WEBHOOK_ALLOW:
                r = set_webhook_allow(c, v);
                break;
        case OPT_WEBHOOK_MAX_AGE:
                r = parse_u64(v, 1, 365 * 86400, &c->webhook_max_age);
                break;
        case OPT_WEBHOOK_BACKOFF:
                r = parse_backoff(v, c);
                break;
        case OPT_WEBHOOK_PULL_INTERVAL:
                r = parse_u64(v, 1, 3600, &c->webhook_pull_interval);
                break;
        case OPT_STORAGE:
                /* checked when opened (main): "file" or s3://... (no secret in it) */
                r = strcmp(v, "file") && strncmp(v, "s3://", 5) ? -EINVAL : set_str(&c->storage, v);
                break;
        case OPT_S3_CA:
                r = *v ? set_str(&c->s3_ca, v) : -EINVAL;
                break;
        case OPT_S3_REDIRECT:
                if (!v)
                        c->s3_redirect = true;
                else if (!parse_bool(v, &c->s3_redirect))
                        r = -EINVAL;
                break;
        case OPT_DB:
                /* checked once the data directory is known (config_parse); the
                 * value may hold a password: never echoed as it is */
                r = set_str(&c->db_spec, v);
                if (r == 0)
                        c->db_what = what;
                return r;
        default:
                r = -EINVAL;
        }
        if (r < 0)
                fprintf(stderr, "berthd: invalid value for %s: '%s'\n", what, v ? v : "");
        return r;
}

static void defaults(config_t *c) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        memset(c, 0, sizeof(*c));
        c->port = 5000;
        c->log_level = LOG_INFO;
        c->threads = cpus > 2 ? (unsigned) cpus * 2 : 4;
        c->delete_enabled = true;
        c->upload_max_age = 24 * 3600;
        c->grace = 25;
        c->gc_interval = 3600;
        c->gc_grace = 3600;
        c->retention_interval = 3600;
        c->blob_max_size = 64ull << 30;
        c->max_requests = 1024;
        c->max_conns = 4096;
        c->max_conns_per_ip = 64;
        c->header_timeout = 15;
        c->body_timeout = 60;
        c->metrics_port = 5001;
        c->log_format = LOG_FORMAT_TEXT;
        c->webhook_max_age = 24 * 3600;
        c->webhook_backoff_min = 10;
        c->webhook_backoff_max = 3600;
        c->webhook_pull_interval = 10;
        c->s3_redirect_ttl = 600;
}

int config_parse(int argc, char **argv, config_t *ret) {
        static const struct option opts[] = {
                { "listen", required_argument, NULL, OPT_LISTEN },
                { "data", required_argument, NULL, OPT_DATA },
                { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
                { "tls-key", required_argument, NULL, OPT_TLS_KEY },
                { "tls-san", required_argument, NULL, OPT_TLS_SAN },
                { "insecure-http", no_argument, NULL, OPT_INSECURE },
                { "read-only", no_argument, NULL, OPT_READ_ONLY },
                { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
                { "threads", required_argument, NULL, OPT_THREADS },
                { "auth", required_argument, NULL, OPT_AUTH },
                { "delete", no_argument, NULL, OPT_DELETE },
                { "no-delete", no_argument, NULL, OPT_NO_DELETE },
                { "upload-max-age", required_argument, NULL, OPT_UPLOAD_MAX_AGE },
                { "grace", required_argument, NULL, OPT_GRACE },
                { "gc-interval", required_argument, NULL, OPT_GC_INTERVAL },
                { "gc-grace", required_argument, NULL, OPT_GC_GRACE },
                { "gc-delete-untagged", no_argument, NULL, OPT_GC_UNTAGGED },
                { "retention-interval", required_argument, NULL, OPT_RETENTION_INTERVAL },
                { "blob-max-size", required_argument, NULL, OPT_BLOB_MAX },
                { "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
                { "max-conns", required_argument, NULL, OPT_MAX_CONNS },
                { "max-conns-per-ip", required_argument, NULL, OPT_MAX_CONNS_PER_IP },
                { "header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT },
                { "body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT },
                { "trusted-proxies", required_argument, NULL, OPT_TRUSTED_PROXIES },
                { "token-rate", required_argument, NULL, OPT_TOKEN_RATE },
                { "metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN },
                { "log-format", required_argument, NULL, OPT_LOG_FORMAT },
                { "db", required_argument, NULL, OPT_DB },
                { "webhook-allow-cidr", required_argument, NULL, OPT_WEBHOOK_ALLOW },
                { "webhook-max-age", required_argument, NULL, OPT_WEBHOOK_MAX_AGE },
                { "webhook-backoff", required_argument, NULL, OPT_WEBHOOK_BACKOFF },
                { "webhook-pull-interval", required_argument, NULL, OPT_WEBHOOK_PULL_INTERVAL },
                { "storage", required_argument, NULL, OPT_STORAGE },
                { "s3-ca", required_argument, NULL, OPT_S3_CA },
                { "s3-redirect", no_argument, NULL, OPT_S3_REDIRECT },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        static const struct { const char *env; int opt; } envs[] = {
                { "BERTH_LISTEN", OPT_LISTEN }, { "BERTH_DATA", OPT_DATA },
                { "BERTH_TLS_CERT", OPT_TLS_CERT }, { "BERTH_TLS_KEY", OPT_TLS_KEY },
                { "BERTH_TLS_SAN", OPT_TLS_SAN }, { "BERTH_INSECURE_HTTP", OPT_INSECURE },
                { "BERTH_READ_ONLY", OPT_READ_ONLY },
                { "BERTH_LOG_LEVEL", OPT_LOG_LEVEL }, { "BERTH_THREADS", OPT_THREADS },
                { "BERTH_AUTH", OPT_AUTH }, { "BERTH_DELETE", OPT_DELETE },
                { "BERTH_UPLOAD_MAX_AGE", OPT_UPLOAD_MAX_AGE }, { "BERTH_GRACE", OPT_GRACE },
                { "BERTH_GC_INTERVAL", OPT_GC_INTERVAL }, { "BERTH_GC_GRACE", OPT_GC_GRACE },
                { "BERTH_GC_DELETE_UNTAGGED", OPT_GC_UNTAGGED },
                { "BERTH_RETENTION_INTERVAL", OPT_RETENTION_INTERVAL },
                { "BERTH_BLOB_MAX_SIZE", OPT_BLOB_MAX }, { "BERTH_MAX_REQUESTS", OPT_MAX_REQUESTS },
                { "BERTH_MAX_CONNS", OPT_MAX_CONNS }, { "BERTH_MAX_CONNS_PER_IP", OPT_MAX_CONNS_PER_IP },
                { "BERTH_HEADER_TIMEOUT", OPT_HEADER_TIMEOUT }, { "BERTH_BODY_TIMEOUT", OPT_BODY_TIMEOUT },
                { "BERTH_TRUSTED_PROXIES", OPT_TRUSTED_PROXIES },
                { "BERTH_TOKEN_RATE", OPT_TOKEN_RATE },
                { "BERTH_METRICS_LISTEN", OPT_METRICS_LISTEN }, { "BERTH_LOG_FORMAT", OPT_LOG_FORMAT },
                { "BERTH_DB", OPT_DB },
                { "BERTH_WEBHOOK_ALLOW_CIDR", OPT_WEBHOOK_ALLOW }, { "BERTH_WEBHOOK_MAX_AGE", OPT_WEBHOOK_MAX_AGE },
                { "BERTH_WEBHOOK_BACKOFF", OPT_WEBHOOK_BACKOFF },
                { "BERTH_WEBHOOK_PULL_INTERVAL", OPT_WEBHOOK_PULL_INTERVAL },
                { "BERTH_STORAGE", OPT_STORAGE }, { "BERTH_S3_CA", OPT_S3_CA },
                { "BERTH_S3_REDIRECT", OPT_S3_REDIRECT },
        };
        config_t c;
        int o, r;

        defaults(&c);
        for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
                const char *v = getenv(envs[i].env);
                /* an empty BERTH_METRICS_LISTEN turns the listener off */
                if (v && (*v || envs[i].opt == OPT_METRICS_LISTEN) && apply(&c, envs[i].opt, v, envs[i].env) < 0)
                        goto fail;
        }
        optind = 1;
        while ((o = getopt_long(argc, argv, "hV", opts, NULL)) >= 0) {
                switch (o) {
                case 'h':
                        config_usage(stdout);
                        config_done(&c);
                        return 1;
                case 'V':
#ifdef BERTH_TEST_HOOKS
                        printf("berthd %s (test hooks)\n", PACKAGE_VERSION);
#else
                        printf("berthd %s\n", PACKAGE_VERSION);
#endif
                        config_done(&c);
                        return 1;
                case '?':
                        fprintf(stderr, "Try 'berthd --help'.\n");
                        goto fail;
                default:
                        if (apply(&c, o, optarg, opts[o - OPT_LISTEN].name) < 0)
                                goto fail;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "berthd: unexpected argument '%s'\n", argv[optind]);
                goto fail;
        }
        if (!!c.tls_cert != !!c.tls_key) {
                fprintf(stderr, "berthd: --tls-cert and --tls-key go together\n");
                goto fail;
        }
        if (!c.listen_host && (r = set_str(&c.listen_host, "0.0.0.0")) < 0)
                goto fail;
        if (!c.metrics_listen_set && set_str(&c.metrics_host, "127.0.0.1") < 0)
                goto fail;
        if (!c.data_dir && set_str(&c.data_dir, geteuid() == 0 ? "/var/lib/berth" : "./berth-data") < 0)
                goto fail;
        if (c.s3_redirect && (!c.storage || strncmp(c.storage, "s3://", 5) != 0)) {
                fprintf(stderr, "berthd: --s3-redirect needs --storage s3://...\n");
                goto fail;
        }
        if (dbconf_resolve(c.db_spec, c.db_what, c.data_dir, getenv("BERTH_DB_PASSWORD_FILE"), &c.db) < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        config_done(&c);
        return BERTH_ECONFIG;
}

void config_done(config_t *c) {
        free(c->listen_host);
        free(c->data_dir);
        free(c->tls_cert);
        free(c->tls_key);
        free(c->metrics_host);
        for (size_t i = 0; i < c->n_tls_sans; i++)
                free(c->tls_sans[i]);
        free(c->tls_sans);
        proxy_cidrs_free(c->trusted_proxies);
        proxy_cidrs_free(c->webhook_allow);
        free(c->db_spec);
        free(c->storage);
        free(c->s3_ca);
        dbconf_done(&c->db);
        memset(c, 0, sizeof(*c));
}

int config_store_open(const char *data_dir, const char *storage, const char *ca_file, store_t **ret) {
        const char *detail = NULL;
        blobstore_t *bs = NULL;
        int r;

        r = blobstore_open_url(storage, ca_file, &bs, &detail);
        if (r < 0) {
                fprintf(stderr, "berthd: storage %s: %s\n", storage, detail ? detail : berth_strerror(r));
                return r;
        }
        r = store_open_with(data_dir, bs, ret); /* owns bs now */
        if (r < 0)
                fprintf(stderr, "berthd: opening the blob store in %s: %s\n", data_dir, berth_strerror(r));
        return r;
}
