/* server/main.c: berthd entry point: subcommand dispatch, start-up, signals,
 * housekeeping and graceful shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/cli-auth.h"
#include "server/cli-backup.h"
#include "server/cli-db.h"
#include "server/cli-fsck.h"
#include "server/cli-storage.h"
#include "server/cli-proxy.h"
#include "server/pullthrough.h"
#include "server/pulls.h"
#include "server/retention.h"
#include "server/cli-retention.h"
#include "server/cli-usage.h"
#include "server/cli-webhook.h"
#include "server/dbconf.h"
#include "server/gc.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/periodic.h"
#include "server/server.h"
#include "server/tls.h"
#include "server/webhook.h"
#include <curl/curl.h>

/* DATA holds password hashes, keys and private images. Files are created 0600 and
 * directories 0700 (the umask set in main); here the data directory itself, and the
 * secret files an older berthd created looser, are tightened when we own them: the
 * TLS keys, and a SQLite database with its -wal and -shm (sqlite: its path, wherever
 * --db put it; NULL for PostgreSQL, whose files are the database server's).
 * A directory with the set-group-ID bit is a volume whose group the platform manages
 * (Kubernetes fsGroup): its group bits stay, only others lose access. A directory we
 * do not own cannot be changed: a warning says what to do. Runs before this process
 * opens the database: closing a descriptor of berth.db would drop SQLite's locks. */
static void data_dir_secure(const char *data, const char *sqlite) {
        static const char *const secrets[] = { "tls/ca.key", "tls/server.key", "tls/server.crt" };
        static const char *const sqlite_files[] = { "", "-wal", "-shm" };
        const size_t n_secrets = ELEMENTSOF(secrets) + (sqlite ? ELEMENTSOF(sqlite_files) : 0);
        struct stat st;
        mode_t want;

        if (stat(data, &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        want = st.st_mode & S_ISGID ? st.st_mode & 07770 : 0700;
        if (st.st_uid == geteuid() && (st.st_mode & 077 & ~want)) {
                if (chmod(data, want) == 0)
                        log_msg(LOG_NOTICE, LOG_SRC_MAIN, "data directory %s was mode %04o: now %04o", data,
                                (unsigned) (st.st_mode & 07777), (unsigned) want);
                else
                        log_msg(LOG_WARNING, LOG_SRC_MAIN, "data directory %s is mode %04o and cannot be "
                                "tightened: %s", data, (unsigned) (st.st_mode & 07777), strerror(errno));
        } else if (st.st_uid != geteuid() && (st.st_mode & 007))
                log_msg(LOG_WARNING, LOG_SRC_MAIN, "data directory %s (mode %04o, owner uid %u) is open to other "
                        "users, and berthd (uid %u) cannot change it: make it mode 0700 and owned by uid %u",
                        data, (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, (unsigned) geteuid(),
                        (unsigned) geteuid());
        for (size_t i = 0; i < n_secrets; i++) {
                _cleanup_close_ int fd = -1;
                _cleanup_free_ char *path = NULL;
                int n = i < ELEMENTSOF(secrets)
                                ? asprintf(&path, "%s/%s", data, secrets[i])
                                : asprintf(&path, "%s%s", sqlite, sqlite_files[i - ELEMENTSOF(secrets)]);

                if (n < 0) {
                        path = NULL;
                        continue;
                }
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
                    !(st.st_mode & 077))
                        continue;
                if (fchmod(fd, st.st_mode & 0700) == 0)
                        log_msg(LOG_NOTICE, LOG_SRC_MAIN, "%s was mode %04o: now %04o", path,
                                (unsigned) (st.st_mode & 07777), (unsigned) (st.st_mode & 0700));
        }
}

static void print_trust_help(const server_t *srv, const char *ca) {
        const config_t *c = srv->cfg;
        const char *host = strcmp(c->listen_host, "0.0.0.0") == 0 || strcmp(c->listen_host, "::") == 0
                                   ? "localhost" : c->listen_host;
        bool v6 = strchr(host, ':') != NULL;
        char hp[300];

        snprintf(hp, sizeof(hp), v6 ? "[%s]:%u" : "%s:%u", host, c->port);
        if (log_format == LOG_FORMAT_JSON) {
                /* a log shipper reads stderr: one entry, not a page of prose */
                log_msg(LOG_NOTICE, LOG_SRC_MAIN, "TLS certificate signed by the local CA %s: clients of %s "
                        "must trust it (berthd --log-format text prints how)", ca, hp);
                return;
        }
        fprintf(stderr,
                "berthd: TLS certificate signed by the local CA %s\n"
                "  trust it for docker:     mkdir -p /etc/docker/certs.d/%s && cp %s /etc/docker/certs.d/%s/ca.crt\n"
                "  for podman/skopeo:       mkdir -p /etc/containers/certs.d/%s && cp %s /etc/containers/certs.d/%s/ca.crt\n"
                "  for containerd:          /etc/containerd/certs.d/%s/hosts.toml with\n"
                "                             server = \"https://%s\"\n"
                "                             [host.\"https://%s\"]\n"
                "                               ca = \"/etc/containerd/certs.d/%s/ca.crt\"\n"
                "  for curl:                curl --cacert %s https://%s/v2/\n",
                ca, hp, ca, hp, hp, ca, hp, hp, hp, hp, hp, ca, hp);
}

static int load_tls(server_t *srv, char **ret_cert, char **ret_key) {
        const config_t *c = srv->cfg;
        _cleanup_free_ char *dir = NULL, *cert = NULL, *key = NULL, *ca = NULL;
        tls_info_t info;
        int r;

        if (c->tls_cert)
                return tls_load_pem(c->tls_cert, c->tls_key, ret_cert, ret_key);
        if (asprintf(&dir, "%s/tls", c->data_dir) < 0 || asprintf(&cert, "%s/server.crt", dir) < 0 ||
            asprintf(&key, "%s/server.key", dir) < 0 || asprintf(&ca, "%s/ca.crt", dir) < 0)
                return -ENOMEM;
        r = tls_ensure(dir, (const char *const *) c->tls_sans, c->n_tls_sans, &info);
        if (r == BERTH_ECONFIG && info.refused_san[0]) {
                log_msg(LOG_ERR, LOG_SRC_MAIN,
                        "TLS: the local CA %s may not sign for '%s' (its name constraints permit only the names "
                        "it was made for: openssl x509 -in %s -noout -ext nameConstraints). To serve a new name, "
                        "rotate the CA: move %s/ca.crt and %s/ca.key away and start again (a new CA; every client "
                        "must then trust the new ca.crt), or give a certificate with --tls-cert and --tls-key. "
                        "See docs/deploy.md, \"Rotating the TLS certificate and CA\".",
                        ca, info.refused_san, ca, dir, dir);
                return r;
        }
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "generating TLS material in %s: %s", dir, berth_strerror(r));
                return r;
        }
        if (info.ca_generated)
                log_msg(LOG_NOTICE, LOG_SRC_MAIN, "made a new local CA %s: clients must trust this ca.crt", ca);
        if (info.ca_unconstrained)
                log_msg(LOG_WARNING, LOG_SRC_MAIN,
                        "the local CA %s has no name constraints (an older berthd made it): whoever reads its key "
                        "can sign for any host name its clients will accept. Rotate it (docs/deploy.md, \"Rotating "
                        "the TLS certificate and CA\")", ca);
        if (info.host_name_left_out)
                log_msg(LOG_INFO, LOG_SRC_MAIN,
                        "the host name is not among the names the local CA may sign for: left out of the certificate");
        if (info.renewed)
                log_msg(LOG_NOTICE, LOG_SRC_MAIN, "renewed the server certificate under %s (it had under 30 days left)", dir);
        else if (info.generated)
                log_msg(LOG_NOTICE, LOG_SRC_MAIN, "wrote a new TLS certificate under %s", dir);
        log_msg(LOG_INFO, LOG_SRC_MAIN, "server certificate valid for %ld more days (renewed at a start with under 30 left)",
                info.server_days_left);
        print_trust_help(srv, ca);
        return tls_load_pem(cert, key, ret_cert, ret_key);
}


static int serve(int argc, char **argv) {
        config_t cfg;
        server_t srv = { .cfg = &cfg };
        _cleanup_free_ char *cert_pem = NULL, *key_pem = NULL;
        sigset_t sigs;
        meta_t *m = NULL;
        db_t *db = NULL;
        int lock_fd = -1;
        int r, sig;

        r = config_parse(argc, argv, &cfg);
        if (r != 0)
                return r > 0 ? 0 : 2;
        /* libcurl (the webhook senders) is set up once, before any thread */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "libcurl cannot start");
                config_done(&cfg);
                return 1;
        }
        log_max_level = cfg.log_level;
        log_format = cfg.log_format;

        /* Signals go to this thread only: block them before any thread starts. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = file_mkdir_p(cfg.data_dir, 0700);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "data directory %s: %s", cfg.data_dir, berth_strerror(r));
                goto out;
        }
        if (cfg.db.password_loose)
                log_msg(LOG_WARNING, LOG_SRC_MAIN, "BERTH_DB_PASSWORD_FILE %s may be read by other users: "
                        "make it mode 0600 or 0440 (a Kubernetes Secret volume: defaultMode)",
                        getenv("BERTH_DB_PASSWORD_FILE"));
        data_dir_secure(cfg.data_dir, cfg.db.pg ? NULL : cfg.db.target);
        /* SQLite: one berthd per data directory (berthd gc runs beside it). A shared
         * database (PostgreSQL) is for several berthd on one blob store: no lock. */
        if (!cfg.db.pg) {
                lock_fd = data_lock(cfg.data_dir);
                if (lock_fd < 0) {
                        r = lock_fd;
                        log_msg(LOG_ERR, LOG_SRC_MAIN, "%s: %s", cfg.data_dir,
                                r == -EBUSY ? "another berthd is using this data directory"
                                            : berth_strerror(r));
                        goto out;
                }
        }
        r = config_store_open(cfg.data_dir, cfg.storage, cfg.s3_ca, &srv.store);
        if (r < 0)
                goto out; /* said why */
        if (!store_has_files(srv.store))
                log_msg(LOG_INFO, LOG_SRC_MAIN, "blobs in %s%s", cfg.storage,
                        cfg.s3_redirect ? " (downloads redirected to presigned URLs)" : "");
        {
                time_t (*now)(void *userdata);
                void *clock = test_clock_from_env(&now);

                if (clock) {
                        srv.now = now;
                        srv.now_userdata = clock;
                        log_msg(LOG_WARNING, LOG_SRC_MAIN,
                                "test clock: the wall clock plus the seconds in %s (a test build)",
                                getenv("BERTH_TEST_CLOCK_FILE"));
                }
        }
        store_set_clock(srv.store, srv.now, srv.now_userdata);
        /* The process's one database: migrations applied now (so that a broken or
         * unreachable database fails the start, not a request), then shared by auth,
         * every thread's metadata, metrics and upload expiry. */
        r = db_open_opts(cfg.db.target, &(db_options_t){ .password = cfg.db.password }, &db);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "opening the metadata database %s: %s", cfg.db.display,
                        berth_strerror(r));
                goto out;
        }
        dbconf_drop_password(&cfg.db); /* db keeps its own copy, to reconnect */
        srv.db = db;
        if (db_shared(db) && lock_fd >= 0) { /* the engine knows better than the URI */
                close(lock_fd);
                lock_fd = -1;
        }
        /* every statement prepared once: a schema the metadata does not fit fails here */
        r = meta_open_thread(db, &m);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "opening metadata in %s: %s", cfg.db.display, berth_strerror(r));
                goto out;
        }
        log_msg(LOG_INFO, LOG_SRC_MAIN, "metadata: %s %s at schema version %d%s", db_engine_name(db),
                cfg.db.display, meta_schema_version(m),
                db_shared(db) ? " (shared: no one-server lock on the data directory)" : "");
        m = meta_free(m);

        {
                auth_options_t ao = { .mode = cfg.auth_none    ? AUTH_MODE_NONE
                                              : cfg.auth_token ? AUTH_MODE_TOKEN
                                                               : AUTH_MODE_BASIC,
                                      .token_rate = cfg.token_rate,
                                      .token_burst = cfg.token_burst,
                                      .now = srv.now,
                                      .now_userdata = srv.now_userdata };
                _cleanup_free_ char *generated = NULL;
                r = auth_open_db(db, &ao, &srv.auth);
                if (r < 0) {
                        log_msg(LOG_ERR, LOG_SRC_MAIN, "opening users and access policy: %s", berth_strerror(r));
                        goto out;
                }
                /* read-only: no write, not even the first admin user */
                r = cfg.read_only ? 0 : auth_bootstrap(srv.auth, getenv("BERTH_ADMIN_PASSWORD"), &generated);
                if (r < 0) {
                        log_msg(LOG_ERR, LOG_SRC_MAIN, "creating the admin user: %s", berth_strerror(r));
                        goto out;
                }
                if (r > 0 && generated)
                        /* shown once, on the terminal, never in the log stream's key=value lines */
                        fprintf(stderr, "berthd: created user 'admin' with password: %s\n"
                                        "berthd: (shown only now; change it with 'berthd user passwd admin')\n", generated);
                else if (r > 0)
                        log_msg(LOG_NOTICE, LOG_SRC_MAIN, "created user 'admin' with the password from BERTH_ADMIN_PASSWORD");
                if (generated)
                        explicit_bzero(generated, strlen(generated));
        }

        if (!cfg.insecure_http) {
                r = load_tls(&srv, &cert_pem, &key_pem);
                if (r < 0) {
                        log_msg(LOG_ERR, LOG_SRC_MAIN, "TLS: %s", berth_strerror(r));
                        goto out;
                }
        }
        /* the webhook senders, before the first request can queue or count anything;
         * read-only: none (delivering writes the queue and the log, pulls would queue
         * events): events already queued wait for a server that may write */
        if (!cfg.read_only) {
                webhooks_options_t wo = { .db = db, .data_dir = cfg.data_dir, .allow = cfg.webhook_allow,
                                          .max_age = cfg.webhook_max_age,
                                          .backoff_min = cfg.webhook_backoff_min,
                                          .backoff_max = cfg.webhook_backoff_max,
                                          .pull_interval = cfg.webhook_pull_interval,
                                          .now = srv.now, .now_userdata = srv.now_userdata };
                r = webhooks_start(&wo, &srv.webhooks);
                if (r < 0) {
                        log_msg(LOG_ERR, LOG_SRC_MAIN, "starting the webhook senders: %s%s%s", berth_strerror(r),
                                db_last_error()[0] ? ": " : "", db_last_error());
                        goto out;
                }
        }
        /* pull counts per manifest, written every few seconds; read-only: none */
        if (!cfg.read_only) {
                pulls_options_t po = { .db = db, .now = srv.now, .now_userdata = srv.now_userdata };
                r = pulls_start(&po, &srv.pulls);
                if (r < 0) {
                        log_msg(LOG_ERR, LOG_SRC_MAIN, "starting the pull counter: %s", berth_strerror(r));
                        goto out;
                }
        }
        /* the pull-through cache's fetch threads */
        r = pullthrough_new(&srv, &srv.pullthrough);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "starting the pull-through cache: %s", berth_strerror(r));
                goto out;
        }
        /* before the registry listener: requests are counted from the first */
        r = metrics_start(&srv);
        if (r < 0 && cfg.metrics_listen_set) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "cannot listen for metrics on %s port %u: %s", cfg.metrics_host,
                        cfg.metrics_port, berth_strerror(r));
                goto out;
        }
        if (r < 0) /* the default address: another berthd may have it */
                log_msg(LOG_WARNING, LOG_SRC_MAIN, "no metrics: cannot listen on %s port %u (%s); set --metrics-listen",
                        cfg.metrics_host, cfg.metrics_port, berth_strerror(r));
        else if (metrics_on)
                log_msg(LOG_INFO, LOG_SRC_MAIN, "metrics at http://%s%s%s:%u/metrics",
                        strchr(cfg.metrics_host, ':') ? "[" : "", cfg.metrics_host,
                        strchr(cfg.metrics_host, ':') ? "]" : "", cfg.metrics_port);
        if (metrics_on) /* the blob store's calls timed only when someone may read it */
                store_set_observer(srv.store, metrics_store_observe, NULL);
        /* Sessions that outlived --upload-max-age while the server was down go before
         * the listener opens: no client can see one the start-time sweep is about to
         * remove. The sweep runs on this thread's metadata, hence the key first. */
        r = server_meta_init(&srv);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "per-thread metadata: %s", berth_strerror(r));
                goto out;
        }
        if (!cfg.read_only)
                uploads_expire(&srv);
        r = http_start(&srv, cert_pem, key_pem);
        if (r < 0) {
                log_msg(LOG_ERR, LOG_SRC_MAIN, "cannot listen on %s port %u: %s", cfg.listen_host,
                        cfg.port, berth_strerror(r));
                goto out;
        }
        {
                const char *pod = getenv("POD_NAME"), *ns = getenv("POD_NAMESPACE"), *node = getenv("NODE_NAME");
                if (pod || ns || node)
                        log_msg(LOG_INFO, LOG_SRC_MAIN, "running as pod %s in namespace %s on node %s",
                                pod ? pod : "?", ns ? ns : "?", node ? node : "?");
        }
        log_msg(LOG_NOTICE, LOG_SRC_MAIN, "berthd %s listening on %s://%s%s%s:%u (data %s, %u threads, auth %s)",
                PACKAGE_VERSION, cfg.insecure_http ? "http" : "https",
                strchr(cfg.listen_host, ':') ? "[" : "", cfg.listen_host,
                strchr(cfg.listen_host, ':') ? "]" : "", cfg.port, cfg.data_dir, cfg.threads,
                cfg.auth_none ? "none" : cfg.auth_token ? "token" : "basic");

        r = notify_send("READY=1");
        if (r < 0)
                log_msg(LOG_WARNING, LOG_SRC_MAIN, "telling systemd we are ready (NOTIFY_SOCKET): %s",
                        berth_strerror(r));
        if (cfg.read_only) {
                log_msg(LOG_NOTICE, LOG_SRC_MAIN, "read-only mode: pulls only; pushes and deletes get 405, "
                        "no upload expiry, no garbage collection, no webhook deliveries");
        } else {
                r = gc_start(&srv);
                if (r < 0)
                        log_msg(LOG_WARNING, LOG_SRC_MAIN, "no garbage collection runs: %s", berth_strerror(r));
                else if (cfg.gc_interval)
                        log_msg(LOG_INFO, LOG_SRC_MAIN,
                                "garbage collection every %" PRIu64 " s (grace %" PRIu64 " s%s)", cfg.gc_interval,
                                cfg.gc_grace, cfg.gc_delete_untagged ? ", untagged manifests too" : "");
                r = retention_start(&srv);
                if (r < 0)
                        log_msg(LOG_WARNING, LOG_SRC_MAIN, "no retention runs: %s", berth_strerror(r));
                else if (cfg.retention_interval)
                        log_msg(LOG_INFO, LOG_SRC_MAIN, "retention policies applied every %" PRIu64 " s",
                                cfg.retention_interval);
        }
        for (;;) {
                /* housekeeping every minute, more often when uploads expire sooner */
                uint64_t every = cfg.upload_max_age / 4;
                struct timespec tick = { (time_t) (every < 1 ? 1 : every > 60 ? 60 : every), 0 };
                sig = sigtimedwait(&sigs, NULL, &tick);
                if (sig == SIGTERM || sig == SIGINT)
                        break;
                if (sig < 0 && errno == EAGAIN && !cfg.read_only)
                        uploads_expire(&srv);
        }
        log_msg(LOG_NOTICE, LOG_SRC_MAIN, "%s: draining (grace %us)", sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.grace);
        (void) notify_send("STOPPING=1");
        gc_stop(); /* a run under way ends after its batch */
        retention_stop();
        http_drain_and_stop(&srv);
        srv.pulls = pulls_stop(srv.pulls); /* no request left to count: the last counts written */
        /* no request left to queue or count: the last pull counts go out as events */
        webhooks_stop(srv.webhooks);
        srv.webhooks = NULL;
        log_msg(LOG_NOTICE, LOG_SRC_MAIN, "stopped");
        r = 0;
out:
        gc_stop();
        retention_stop();
        srv.pulls = pulls_stop(srv.pulls);
        srv.pullthrough = pullthrough_free(srv.pullthrough);
        server_meta_done(&srv); /* done already unless the listener never opened */
        webhooks_stop(srv.webhooks);
        metrics_stop();
        store_quiesce(srv.store); /* its threads may still give a lease back on db */
        auth_free(srv.auth);
        db_free(db); /* after everything that used it */
        store_free(srv.store);
        if (lock_fd >= 0)
                close(lock_fd);
        config_done(&cfg);
        curl_global_cleanup();
        return r < 0 ? 1 : 0;
}

/* `berthd [--data DIR] [--db URL] user|project|token|secret|audit|gc|db|webhook|usage|quota ...`: the
 * data directory comes from --data (anywhere on the line), else BERTH_DATA, else
 * the default; the database from --db (anywhere), else BERTH_DB, else
 * DATA/berth.db. */
static int admin(int argc, char **argv) {
        const char *data = getenv("BERTH_DATA"), *spec = getenv("BERTH_DB"), *what = "BERTH_DB";
        _cleanup_free_ char **args = calloc((size_t) argc + 1, sizeof(char *));
        dbconf_t dc = { .target = NULL };
        db_t *db = NULL;
        bool help = false;
        int n = 0, r;

        if (!args)
                return 1;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
                        data = argv[++i];
                else if (strncmp(argv[i], "--data=", 7) == 0)
                        data = argv[i] + 7;
                else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
                        spec = argv[++i];
                        what = "--db";
                } else if (strncmp(argv[i], "--db=", 5) == 0) {
                        spec = argv[i] + 5;
                        what = "--db";
                } else {
                        help = help || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
                        args[n++] = argv[i];
                }
        }
        if (!data || !*data)
                data = geteuid() == 0 ? "/var/lib/berth" : "./berth-data";
        if (n > 0 && strcmp(args[0], "db") == 0) {
                /* db copy names its databases; db version takes --db (from anywhere on
                 * the line, as the others) or BERTH_DB: no data directory made */
                if (strcmp(what, "--db") == 0 && setenv("BERTH_DB", spec, 1) < 0)
                        return 1;
                return cli_db_run(data, n, args, stdout, stderr);
        }
        if (n > 0 && strcmp(args[0], "storage") == 0) /* blobs only: no database */
                return help ? cli_storage_usage(stderr) : cli_storage_run(data, n, args, stdout, stderr);
        if (spec && !*spec && strcmp(what, "BERTH_DB") == 0)
                spec = NULL; /* an empty variable is an unset one, as for serve */
        if (n > 0 && strcmp(args[0], "restore") == 0)
                /* DATA is the restore's own argument, and the database must not be
                 * opened (that would create the schema the restore brings) */
                return help ? cli_backup_usage(stderr) : cli_restore_main(spec, what, n, args);
        if (n > 0 && (help || (strcmp(args[0], "webhook") == 0 && n < 2))) {
                /* the usage needs no database and no data directory */
                if (strcmp(args[0], "gc") == 0)
                        return gc_main(data, &(dbconf_t){ .target = NULL }, n, args);
                if (strcmp(args[0], "usage") == 0 || strcmp(args[0], "quota") == 0)
                        return cli_usage_usage(stderr);
                if (strcmp(args[0], "retention") == 0 || strcmp(args[0], "immutable") == 0)
                        return cli_retention_usage(stderr);
                if (strcmp(args[0], "fsck") == 0)
                        return cli_fsck_usage(stderr);
                if (strcmp(args[0], "backup") == 0)
                        return cli_backup_usage(stderr);
                return strcmp(args[0], "webhook") == 0 ? cli_webhook_usage(stderr) : cli_auth_usage(stderr);
        }
        r = dbconf_resolve(spec, what, data, getenv("BERTH_DB_PASSWORD_FILE"), &dc);
        if (r < 0)
                return r == BERTH_ECONFIG ? 2 : 1;
        if (dc.password_loose)
                fprintf(stderr, "berthd: warning: BERTH_DB_PASSWORD_FILE %s may be read by other users: make it "
                        "mode 0600 or 0440\n", getenv("BERTH_DB_PASSWORD_FILE"));
        /* the data directory holds the default database (and gc's blobs) */
        if ((dc.in_data_dir || (n > 0 && (strcmp(args[0], "gc") == 0 || strcmp(args[0], "fsck") == 0))) && (r = file_mkdir_p(data, 0700)) < 0) {
                fprintf(stderr, "berthd: cannot create data directory %s: %s\n", data, berth_strerror(r));
                dbconf_done(&dc);
                return 1;
        }
        if (n > 0 && strcmp(args[0], "backup") == 0) {
                /* backup needs the database's address and password for its engine's tools */
                r = cli_backup_main(data, &dc, n, args);
                dbconf_done(&dc);
                return r;
        }
        if (n > 0 && strcmp(args[0], "gc") == 0) {
                /* gc opens the database itself (and the blob store) */
                r = gc_main(data, &dc, n, args);
                dbconf_done(&dc);
                return r;
        }
        r = db_open_opts(dc.target, &(db_options_t){ .password = dc.password }, &db);
        if (r < 0) {
                fprintf(stderr, "berthd: cannot open the metadata database %s: %s\n", dc.display, berth_strerror(r));
                dbconf_done(&dc);
                return 1;
        }
        dbconf_done(&dc); /* the password too: db keeps its own copy for reconnecting */
        if (strcmp(args[0], "webhook") == 0)
                r = cli_webhook_run(db, data, n, args, stdin, stdout, stderr);
        else if (cli_proxy_wants(n, args))
                r = cli_proxy_run(db, data, n, args, stdin, stdout, stderr);
        else if (cli_quota_wants(n, args)) /* usage, quota, project set P --quota */
                r = cli_usage_run(db, n, args, stdout, stderr);
        else if (strcmp(args[0], "retention") == 0 || strcmp(args[0], "immutable") == 0)
                r = cli_retention_run(db, n, args, stdout, stderr);
        else if (strcmp(args[0], "fsck") == 0)
                r = cli_fsck_run(db, data, n, args, stdout, stderr);
        else
                r = cli_auth_main(db, n, args);
        db_free(db);
        return r;
}

static bool is_admin_command(const char *s) {
        static const char *const cmds[] = { "user", "project", "token", "secret", "audit", "gc", "db", "webhook",
                                            "usage", "quota", "fsck", "backup", "restore", "retention",
                                            "immutable", "storage" };
        for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
                if (strcmp(s, cmds[i]) == 0)
                        return true;
        return false;
}

int main(int argc, char **argv) {
        /* Everything berthd creates under DATA (the SQLite database and its -wal and
         * -shm, blobs, uploads, keys, locks) is for berthd alone: files 0600,
         * directories 0700, whatever umask berthd was started with. The one file meant
         * to be read by others, tls/ca.crt, is given its mode explicitly. */
        umask(077);
        if (argc > 1 && strcmp(argv[1], "serve") == 0)
                return serve(argc - 1, argv + 1);
        for (int i = 1; i < argc; i++) {
                if (is_admin_command(argv[i]))
                        return admin(argc, argv);
                if (strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--db") == 0)
                        i++;
                else if (strncmp(argv[i], "--data=", 7) != 0 && strncmp(argv[i], "--db=", 5) != 0)
                        break;
        }
        if (argc > 1 && argv[1][0] != '-') {
                fprintf(stderr, "berthd: unknown command '%s'. Try 'berthd --help'.\n", argv[1]);
                return 2;
        }
        return serve(argc, argv);
}
