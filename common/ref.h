/* common/ref.h: docker image references ("my-registry.example.com:5000/example/web:v1")
 * parsed with the distribution grammar and normalized the way docker does it:
 * the first component is a registry only if it holds "." or ":" or is "localhost",
 * otherwise the registry is docker.io and a one-component path gets "library/";
 * "index.docker.io" means "docker.io". */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "common/digest.h"

#define REF_PATH_MAX 255  /* the path (after the domain, "library/" included), as
                           * distribution limits it; the domain does not count */
#define REF_HOST_MAX 253  /* registry host, brackets included: the longest DNS name */
#define REF_STR_MAX 1024  /* whole input we look at: a 255-character path, a 128-character
                           * tag and a sha512 digest fit with room for the domain */
#define REF_DEFAULT_DOMAIN "docker.io"

typedef struct ref ref_t;

/* Parse and normalize s. 0 and *ret, or BERTH_EREF_INVALID with *reterr_detail (a
 * static string saying what is wrong; may be NULL) and *ret untouched, or -ENOMEM. */
int ref_parse(const char *s, ref_t **ret, const char **reterr_detail);
ref_t *ref_free(ref_t *r); /* NULL-safe, returns NULL */

/* Borrowed strings, valid until ref_free. */
const char *ref_domain(const ref_t *r);  /* "docker.io", "localhost:5000", "[::1]:5000" */
const char *ref_host(const ref_t *r);    /* domain without the port, brackets kept */
const char *ref_port(const ref_t *r);    /* "5000" or "" */
const char *ref_path(const ref_t *r);    /* "library/nginx" */
const char *ref_name(const ref_t *r);    /* "docker.io/library/nginx" */
const char *ref_tag(const ref_t *r);     /* "" when none was given */
const char *ref_digest_str(const ref_t *r); /* "" when none was given */
const digest_t *ref_digest(const ref_t *r); /* NULL when none was given */
/* Full normalized reference: name, ":tag" (":latest" when neither tag nor digest
 * was given), "@digest" when given. */
const char *ref_full(const ref_t *r);
/* The tag or, if none, the digest: what goes after /manifests/ (tag preferred,
 * like docker, except that a digest pins: digest when present). */
const char *ref_manifest_ref(const ref_t *r);
/* The tag the Kubernetes defaulting rule sees: given tag, else "latest" if there is no
 * digest, else "". */
const char *ref_effective_tag(const ref_t *r);
