/* tests/fuzz/fuzz-keyring.c: libFuzzer target for the keyring: registry keys as written
 * in a docker config (scheme, /v1/ and /v2/ prefixes, ports, IPv6 brackets, globs per
 * host label) normalized and matched against an image name.
 *
 * Input: lines. The first is the image (a normalized name without tag, as berth pull
 * looks it up: "registry.example:5000/team/app"); each further line is a registry key
 * of a credential; a key after a leading '!' is a node credential, the others are pod
 * secrets. The keys become a config.json, parsed and added to a keyring, and the image
 * is looked up.
 *
 * Checks, besides memory safety and termination: every credential returned matches the
 * image (or is the index.docker.io fallback); pod credentials come before node ones;
 * within a source, longer keys first (reverse lexical order); when any key of a source
 * matches, every matching key of that source is returned; a normalized key without
 * glob characters matches itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "client/dockercfg.h"
#include "client/keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEYS_MAX 64

static bool has_glob(const char *s) {
        return strpbrk(s, "*?[\\") != NULL;
}

/* the keys of one source as a config.json, parsed; NULL when none */
static dockercfg_t *config_of(json_t *auths) {
        json_t *root;
        dockercfg_t *c = NULL;
        char *s;

        if (json_object_size(auths) == 0)
                return NULL;
        root = json_pack("{s:O}", "auths", auths);
        s = root ? json_dumps(root, JSON_COMPACT) : NULL;
        if (s && dockercfg_parse(s, strlen(s), &c, NULL) != 0)
                abort(); /* we wrote a valid config: every entry has a user and a password */
        free(s);
        json_decref(root);
        return c;
}

/* how many entries of c match image */
static size_t count_matches(const dockercfg_t *c, const char *image) {
        size_t n = 0;

        for (size_t i = 0; c && i < dockercfg_count(c); i++) {
                char *key = keyring_key_normalize(dockercfg_entry(c, i)->registry);
                if (key && keyring_match(key, image))
                        n++;
                free(key);
        }
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf, *line, *save = NULL, *image;
        json_t *auths[2];
        dockercfg_t *cfg[2];
        keyring_t *k = NULL;
        keyring_cred_t *v = NULL;
        size_t n = 0, nkeys = 0, got[2] = { 0, 0 };

        buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        /* the image is the first line (possibly empty) */
        image = buf;
        line = strchr(buf, '\n');
        if (line)
                *line++ = '\0';
        auths[0] = json_object();
        auths[1] = json_object();
        if (!auths[0] || !auths[1])
                abort();
        for (line = line ? strtok_r(line, "\n", &save) : NULL; line && nkeys < KEYS_MAX;
             line = strtok_r(NULL, "\n", &save)) {
                int node = line[0] == '!';
                const char *key = line + node;
                char user[32], *norm;

                if (!key[0])
                        continue;
                snprintf(user, sizeof(user), "u%zu", nkeys);
                /* keys that are not UTF-8 cannot be in a JSON config: skip them */
                if (json_object_set_new(auths[node], key, json_pack("{s:s,s:s}", "username", user, "password", "p")) < 0)
                        continue;
                nkeys++;
                norm = keyring_key_normalize(key);
                if (norm && !has_glob(norm) && !keyring_match(norm, norm))
                        abort();
                free(norm);
        }
        cfg[0] = config_of(auths[0]);
        cfg[1] = config_of(auths[1]);

        if (keyring_new(&k) != 0)
                abort();
        if ((cfg[0] && keyring_add(k, KEYRING_POD, cfg[0]) != 0) ||
            (cfg[1] && keyring_add(k, KEYRING_NODE, cfg[1]) != 0))
                abort();
        if (keyring_lookup(k, image, &v, &n) != 0)
                abort();
        for (size_t i = 0; i < n; i++) {
                int s = v[i].source == KEYRING_NODE;

                if (!v[i].key || !v[i].username || !v[i].password)
                        abort();
                if (!keyring_match(v[i].key, image) && strcmp(v[i].key, "index.docker.io") != 0)
                        abort();
                if (i > 0 && v[i - 1].source > v[i].source)
                        abort();
                if (i > 0 && v[i - 1].source == v[i].source && strcmp(v[i - 1].key, v[i].key) < 0)
                        abort();
                got[s]++;
        }
        for (int s = 0; s < 2; s++) {
                size_t want = count_matches(cfg[s], image);
                if (want > 0 && got[s] != want)
                        abort();
        }
        free(v);
        keyring_free(k);
        dockercfg_free(cfg[0]);
        dockercfg_free(cfg[1]);
        json_decref(auths[0]);
        json_decref(auths[1]);
        free(buf);
        return 0;
}
