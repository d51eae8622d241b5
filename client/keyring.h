/* client/keyring.h: which credentials to try for an image, matched like the kubelet's
 * credential keyring: keys with or without http(s):// scheme ("/v1/" and "/v2/" path
 * prefixes dropped), glob patterns ("*", "?", "[...]") per host label, the port must
 * be equal, the key's path is a string prefix of the image path, longer keys first
 * (reverse lexical order), every match is returned; pod secrets before node credentials.
 * Credentials for "index.docker.io" also serve docker.io images when nothing else matched. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "client/dockercfg.h"

typedef enum {
        KEYRING_POD = 0,   /* imagePullSecrets (--pull-secret) */
        KEYRING_NODE = 1,  /* the node's docker config */
} keyring_source_t;

typedef struct {
        const char *key;       /* normalized key that matched ("quay.io/coreos") */
        const char *username;
        const char *password;
        keyring_source_t source;
} keyring_cred_t;

typedef struct keyring keyring_t;

int keyring_new(keyring_t **ret);
keyring_t *keyring_free(keyring_t *k); /* NULL-safe, returns NULL */
/* Add every entry of cfg (copied). Entries whose key does not parse are skipped, like
 * the kubelet does. 0 or -ENOMEM. */
int keyring_add(keyring_t *k, keyring_source_t src, const dockercfg_t *cfg);
/* image is a normalized name without tag ("docker.io/library/nginx").
 * *ret is a malloc'd array (free() it) whose strings are borrowed from k; n may be 0. */
int keyring_lookup(const keyring_t *k, const char *image, keyring_cred_t **ret, size_t *ret_n);

/* Exposed for tests: the key the kubelet would index loc under (malloc'd), or NULL. */
char *keyring_key_normalize(const char *loc);
/* Exposed for tests: does key (a normalized glob key) match the image name? */
bool keyring_match(const char *key, const char *image);
