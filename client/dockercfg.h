/* client/dockercfg.h: registry credentials from a docker config.json ("auths"), a
 * legacy .dockercfg, or a Kubernetes Secret of type kubernetes.io/dockerconfigjson
 * or kubernetes.io/dockercfg written in JSON or YAML.
 *
 * The YAML reader is deliberately small and strict; it accepts the shape of a Secret:
 * top-level scalar keys (apiVersion, kind, type, immutable, ...), a metadata block
 * that is skipped whatever it holds, and data/stringData maps whose values are plain,
 * 'single' or "double" quoted scalars or "|" / "|-" / "|+" literal blocks; comments,
 * blank lines and one leading "---". Flow collections other than "{}", sequences at
 * top level, anchors, tags, folded ">" blocks and multi-line plain scalars are
 * rejected with a message. */
#pragma once
#include <stddef.h>

#define DOCKERCFG_FILE_MAX (1024 * 1024)
#define DOCKERCFG_ENTRIES_MAX 256

typedef struct {
        char *registry;   /* the key as written ("https://index.docker.io/v1/", "*.example.com") */
        char *username;
        char *password;
} dockercfg_entry_t;

typedef struct dockercfg dockercfg_t;

/* Parse buf, detecting the format. 0 and *ret, BERTH_ECONFIG with *reterr_detail
 * (static), BERTH_ETOOBIG, -ENOMEM. An empty file is an error; an empty "auths" is not. */
int dockercfg_parse(const char *buf, size_t len, dockercfg_t **ret, const char **reterr_detail);
/* Read a file (≤ DOCKERCFG_FILE_MAX) and parse it. -errno from open/read. */
int dockercfg_load(const char *path, dockercfg_t **ret, const char **reterr_detail);
dockercfg_t *dockercfg_free(dockercfg_t *c); /* NULL-safe, returns NULL */
size_t dockercfg_count(const dockercfg_t *c);
const dockercfg_entry_t *dockercfg_entry(const dockercfg_t *c, size_t i); /* borrowed */

/* Strict standard base64 (padding optional). 0, -EINVAL, -ENOMEM. *ret is NUL-terminated. */
int dockercfg_base64_decode(const char *s, size_t len, char **ret, size_t *ret_len);
