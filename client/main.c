/* client/main.c: the `berth` command line. */
#include "config.h"
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "client/berth.h"

static const char usage[] =
"Usage: berth [--store DIR] COMMAND [OPTIONS]\n"
"\n"
"Make sure container images are present in a local OCI image layout store, deciding\n"
"like the kubelet whether to contact the registry.\n"
"\n"
"Commands:\n"
"  pull IMAGE         pull IMAGE according to the pull policy\n"
"  images             list the images in the store (JSON)\n"
"  rmi IMAGE          remove IMAGE and free the blobs nothing else uses\n"
"\n"
"Options:\n"
"  --store DIR                 the OCI layout store (default: $BERTH_STORE, else\n"
"                              /var/lib/berth/images for root, ~/.local/share/berth/images otherwise)\n"
"  --policy P                  imagePullPolicy: Always, IfNotPresent or Never (default: Always for\n"
"                              :latest or untagged images, else IfNotPresent)\n"
"  --always-pull-images        act like the AlwaysPullImages admission controller (policy Always)\n"
"  --pull-secret FILE          imagePullSecret: .dockerconfigjson, .dockercfg or a Kubernetes Secret\n"
"                              (JSON or YAML); repeatable, tried in order before node credentials\n"
"  --docker-config DIR         node credentials DIR/config.json (default: $DOCKER_CONFIG or ~/.docker)\n"
"  --verify-credentials P      AlwaysVerify, NeverVerify, NeverVerifyPreloadedImages (default) or\n"
"                              NeverVerifyAllowlistedImages: when a present image pulled with other\n"
"                              credentials must be confirmed with the registry first\n"
"  --verify-allowlist PATTERN  image name or prefix/* exempt from verification (repeatable)\n"
"  --platform OS/ARCH[/VAR]    platform to pick from a multi-platform index (default: this machine)\n"
"  --ca-file FILE              extra CA certificate(s) to trust (PEM)\n"
"  --certs-dir DIR             per-registry certificates (default /etc/docker/certs.d/HOST:PORT/)\n"
"  --insecure                  talk plain HTTP to the registry\n"
"  --max-concurrent-downloads N  parallel layer downloads (1-64, default 3)\n"
"  --no-backoff                try now even during an image pull back-off\n"
"  --dry-run                   print the decision as one JSON object; no network\n"
"  -q, --quiet                 no progress output\n"
"  -v, --verbose               say more on stderr: which host a Bearer token realm is on and\n"
"                              whether the registry credentials are sent there\n"
"  -h, --help                  this text\n"
"  --version                   print the version\n"
"\n"
"Exit status (named after the kubelet's reasons):\n"
"   0  success (image present, or pulled)\n"
"   1  other error (store unusable, bad credentials file, image not in store for rmi)\n"
"   2  usage error\n"
"  10  ErrImagePull          the registry refused the pull or sent bad content\n"
"  11  ErrImageNeverPull     policy Never and the image is absent (or not proven accessible)\n"
"  12  ImagePullBackOff      a recent pull of this image failed; retry later or --no-backoff\n"
"  13  InvalidImageName      the image reference is malformed\n"
"  14  RegistryUnavailable   the registry could not be reached (connection, TLS, 5xx)\n";

typedef struct {
        size_t count;
        unsigned long long *done, *total;
        int *state;
        bool tty, drawn;
        struct timespec last;
        char **digests;
} bars_t;

static const char *state_name(int s) {
        switch (s) {
        case BERTH_PROGRESS_WAITING: return "waiting";
        case BERTH_PROGRESS_DOWNLOADING: return "downloading";
        case BERTH_PROGRESS_DONE: return "done";
        case BERTH_PROGRESS_EXISTS: return "already exists";
        default: return "failed";
        }
}

static void draw(bars_t *b) {
        if (b->drawn)
                fprintf(stderr, "\033[%zuA", b->count);
        for (size_t i = 0; i < b->count; i++) {
                char bar[31];
                unsigned long long t = b->total[i] ? b->total[i] : 1;
                size_t fill = (size_t) (b->done[i] * 30 / t);
                if (fill > 30)
                        fill = 30;
                memset(bar, '=', fill);
                memset(bar + fill, ' ', 30 - fill);
                bar[30] = '\0';
                fprintf(stderr, "\r\033[K%.19s [%s] %6.1f/%.1f MiB %s\n", b->digests[i] ? b->digests[i] : "", bar,
                        (double) b->done[i] / 1048576.0, (double) b->total[i] / 1048576.0, state_name(b->state[i]));
        }
        b->drawn = true;
        fflush(stderr);
}

/* --verbose: one line on stderr; bytes that are not printable ASCII (a server's text
 * may hold any) are shown as \xNN */
static void on_log(const char *line, void *ud) {
        char out[2048];
        size_t o = 0;

        (void) ud;
        for (const unsigned char *p = (const unsigned char *) line; *p && o + 5 < sizeof(out); p++) {
                if (*p >= 0x20 && *p < 0x7f)
                        out[o++] = (char) *p;
                else
                        o += (size_t) snprintf(out + o, sizeof(out) - o, "\\x%02x", *p);
        }
        out[o] = '\0';
        fprintf(stderr, "berth: %s\n", out);
}

static void on_progress(const berth_progress_t *p, void *ud) {
        bars_t *b = ud;
        int old;

        if (p->count == 0 || p->index >= p->count)
                return;
        if (b->count != p->count) {
                free(b->done);
                free(b->total);
                free(b->state);
                if (b->digests)
                        for (size_t i = 0; i < b->count; i++)
                                free(b->digests[i]);
                free(b->digests);
                b->count = p->count;
                b->done = calloc(p->count, sizeof(*b->done));
                b->total = calloc(p->count, sizeof(*b->total));
                b->state = calloc(p->count, sizeof(*b->state));
                b->digests = calloc(p->count, sizeof(*b->digests));
                b->drawn = false;
                if (!b->done || !b->total || !b->state || !b->digests) {
                        b->count = 0;
                        return;
                }
        }
        old = b->state[p->index];
        b->done[p->index] = p->done;
        b->total[p->index] = p->total;
        b->state[p->index] = (int) p->state;
        if (!b->digests[p->index])
                b->digests[p->index] = strdup(p->digest);
        if (b->tty) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (p->state == BERTH_PROGRESS_DOWNLOADING && old == (int) p->state && b->drawn &&
                    (now.tv_sec - b->last.tv_sec) * 1000 + (now.tv_nsec - b->last.tv_nsec) / 1000000 < 100)
                        return;
                b->last = now;
                draw(b);
        } else if (old != (int) p->state || (p->state == BERTH_PROGRESS_WAITING && p->done == 0 && !old)) {
                if (p->state != BERTH_PROGRESS_WAITING)
                        fprintf(stderr, "%s: %s (%llu bytes)\n", p->digest, state_name(p->state),
                                (unsigned long long) p->total);
        }
}

static int parse_int(const char *s, int lo, int hi, int *ret) {
        long v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (*p - '0');
                if (v > hi)
                        return -ERANGE;
        }
        if (v < lo)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

static char *default_store(void) {
        const char *env = getenv("BERTH_STORE"), *home = getenv("HOME"), *xdg = getenv("XDG_DATA_HOME");
        char *p = NULL;

        if (env && *env)
                return strdup(env);
        if (geteuid() == 0)
                return strdup("/var/lib/berth/images");
        if (xdg && *xdg) {
                if (asprintf(&p, "%s/berth/images", xdg) < 0)
                        return NULL;
                return p;
        }
        if (!home || !*home) {
                struct passwd *pw = getpwuid(geteuid());
                home = pw ? pw->pw_dir : "/";
        }
        if (asprintf(&p, "%s/.local/share/berth/images", home) < 0)
                return NULL;
        return p;
}

static char *default_docker_config(void) {
        const char *env = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
        char *p = NULL;

        if (env && *env)
                return strdup(env);
        if (!home || !*home)
                return NULL;
        if (asprintf(&p, "%s/.docker", home) < 0)
                return NULL;
        return p;
}

enum {
        OPT_STORE = 256, OPT_POLICY, OPT_ALWAYS_PULL, OPT_SECRET, OPT_DOCKER_CONFIG, OPT_VERIFY, OPT_ALLOW,
        OPT_PLATFORM, OPT_CA, OPT_CERTS, OPT_INSECURE, OPT_MAXDL, OPT_NOBACKOFF, OPT_DRYRUN, OPT_VERSION,
};

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "policy", required_argument, NULL, OPT_POLICY },
                { "always-pull-images", no_argument, NULL, OPT_ALWAYS_PULL },
                { "pull-secret", required_argument, NULL, OPT_SECRET },
                { "docker-config", required_argument, NULL, OPT_DOCKER_CONFIG },
                { "verify-credentials", required_argument, NULL, OPT_VERIFY },
                { "verify-allowlist", required_argument, NULL, OPT_ALLOW },
                { "platform", required_argument, NULL, OPT_PLATFORM },
                { "ca-file", required_argument, NULL, OPT_CA },
                { "certs-dir", required_argument, NULL, OPT_CERTS },
                { "insecure", no_argument, NULL, OPT_INSECURE },
                { "max-concurrent-downloads", required_argument, NULL, OPT_MAXDL },
                { "no-backoff", no_argument, NULL, OPT_NOBACKOFF },
                { "dry-run", no_argument, NULL, OPT_DRYRUN },
                { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { NULL, 0, NULL, 0 },
        };
        const char *policy = NULL, *verify = NULL, *platform = NULL, *ca = NULL, *certs = NULL, *docker_config = NULL;
        const char **secrets = calloc((size_t) argc + 1, sizeof(char *)), **allow = calloc((size_t) argc + 1, sizeof(char *));
        size_t nsecrets = 0, nallow = 0;
        bool always = false, insecure = false, nobackoff = false, dryrun = false, quiet = false, verbose = false;
        char *store = NULL, *dc = NULL, *out = NULL;
        berth_client_t *c = NULL;
        bars_t bars = { 0 };
        int maxdl = 3, opt, st = BERTH_STATUS_ERROR, r;
        const char *cmd, *image = NULL;

        if (!secrets || !allow)
                return BERTH_STATUS_ERROR;
        /* options may come before and after the command and the image */
        while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
                switch (opt) {
                case OPT_STORE: free(store); store = strdup(optarg); break;
                case OPT_POLICY: policy = optarg; break;
                case OPT_ALWAYS_PULL: always = true; break;
                case OPT_SECRET: secrets[nsecrets++] = optarg; break;
                case OPT_DOCKER_CONFIG: docker_config = optarg; break;
                case OPT_VERIFY: verify = optarg; break;
                case OPT_ALLOW: allow[nallow++] = optarg; break;
                case OPT_PLATFORM: platform = optarg; break;
                case OPT_CA: ca = optarg; break;
                case OPT_CERTS: certs = optarg; break;
                case OPT_INSECURE: insecure = true; break;
                case OPT_MAXDL:
                        if (parse_int(optarg, 1, 64, &maxdl) < 0) {
                                fprintf(stderr, "berth: --max-concurrent-downloads wants 1..64\n");
                                return BERTH_STATUS_USAGE;
                        }
                        break;
                case OPT_NOBACKOFF: nobackoff = true; break;
                case OPT_DRYRUN: dryrun = true; break;
                case 'q': quiet = true; break;
                case 'v': verbose = true; break;
                case 'h': fputs(usage, stdout); return 0;
                case OPT_VERSION: puts("berth " PACKAGE_VERSION); return 0;
                default: fputs(usage, stderr); return BERTH_STATUS_USAGE;
                }
        }
        if (optind >= argc) {
                fputs(usage, stderr);
                return BERTH_STATUS_USAGE;
        }
        /* getopt moved the command and the image behind the options, wherever they
         * stood on the line */
        cmd = argv[optind++];
        if (optind < argc)
                image = argv[optind++];
        if (optind < argc) {
                fprintf(stderr, "berth: one image at a time\n");
                return BERTH_STATUS_USAGE;
        }
        if (strcmp(cmd, "pull") != 0 && strcmp(cmd, "images") != 0 && strcmp(cmd, "rmi") != 0) {
                fprintf(stderr, "berth: unknown command \"%s\"\n", cmd);
                return BERTH_STATUS_USAGE;
        }
        if ((strcmp(cmd, "images") == 0) != !image) {
                fprintf(stderr, "berth: %s\n", image ? "images takes no image" : "missing IMAGE");
                return BERTH_STATUS_USAGE;
        }
        if (!store)
                store = default_store();
        if (!store)
                return BERTH_STATUS_ERROR;
        r = berth_client_new(store, &c);
        if (r < 0) {
                fprintf(stderr, "berth: store %s: %s\n", store, strerror(r > -1000 ? -r : EIO));
                free(store);
                return BERTH_STATUS_ERROR;
        }
        if (strcmp(cmd, "images") == 0) {
                st = berth_images(c, &out);
                goto done;
        }
        if (strcmp(cmd, "rmi") == 0) {
                st = berth_rmi(c, image);
                goto done;
        }
        for (size_t i = 0; i < nsecrets; i++)
                if (berth_client_add_pull_secret(c, secrets[i]) < 0)
                        goto setup_failed;
        if (!docker_config)
                docker_config = dc = default_docker_config();
        if (docker_config && berth_client_set_docker_config(c, docker_config) < 0)
                goto setup_failed;
        if (berth_client_set_policy(c, policy) < 0 || (verify && berth_client_set_verify_policy(c, verify) < 0) ||
            (platform && berth_client_set_platform(c, platform) < 0) || (ca && berth_client_set_ca_file(c, ca) < 0) ||
            (certs && berth_client_set_certs_dir(c, certs) < 0) || berth_client_set_max_concurrent_downloads(c, maxdl) < 0)
                goto setup_failed;
        for (size_t i = 0; i < nallow; i++)
                if (berth_client_add_verify_allowlist(c, allow[i]) < 0)
                        goto setup_failed;
        berth_client_set_always_pull_images(c, always);
        berth_client_set_no_backoff(c, nobackoff);
        berth_client_set_insecure(c, insecure);
        if (dryrun) {
                st = berth_plan(c, image, &out);
                goto done;
        }
        if (verbose)
                berth_client_set_log(c, on_log, NULL);
        if (!quiet) {
                bars.tty = isatty(STDERR_FILENO);
                berth_client_set_progress(c, on_progress, &bars);
        }
        st = berth_pull(c, image, NULL);
        goto done;
setup_failed:
        fprintf(stderr, "berth: %s\n", berth_client_message(c));
        st = BERTH_STATUS_ERROR;
        goto cleanup;
done:
        if (out)
                puts(out);
        if (!dryrun && berth_client_message(c)[0])
                fprintf(st == BERTH_OK ? stdout : stderr, "%s\n", berth_client_message(c));
cleanup:
        free(out);
        free(store);
        free(dc);
        free(secrets);
        free(allow);
        free(bars.done);
        free(bars.total);
        free(bars.state);
        if (bars.digests)
                for (size_t i = 0; i < bars.count; i++)
                        free(bars.digests[i]);
        free(bars.digests);
        berth_client_free(c);
        return st;
}
