/* common/manifest.h: parse and validate image manifests and indexes (OCI image
 * manifest, OCI index, Docker schema2 manifest, Docker manifest list). Used by the
 * server to validate pushes and by the client to walk what it pulls. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"

#define MANIFEST_MAX_SIZE (4u * 1024 * 1024)

typedef enum {
        MANIFEST_DESC_CONFIG,   /* config blob of an image manifest */
        MANIFEST_DESC_LAYER,    /* layer (or blob) of an image manifest */
        MANIFEST_DESC_CHILD,    /* manifest listed by an index */
} manifest_desc_kind_t;

typedef struct {
        manifest_desc_kind_t kind;
        digest_t digest;
        int64_t size;
        const char *media_type;   /* borrowed; may be NULL */
        const char *artifact_type;/* borrowed; may be NULL */
        /* platform of an index entry; borrowed, NULL when absent */
        const char *os, *arch, *variant;
} manifest_desc_t;

typedef struct manifest manifest_t;

/* Parse and validate buf (len bytes, exact as pushed). content_type is the
 * Content-Type of the push (may be NULL or empty: then the body's mediaType decides).
 * A body whose mediaType disagrees with a known content_type is invalid.
 * Returns 0, BERTH_EMANIFEST (with *reterr_detail, a static string), BERTH_ETOOBIG
 * (over MANIFEST_MAX_SIZE) or -ENOMEM. *ret only on success. */
int manifest_parse(const uint8_t *buf, size_t len, const char *content_type,
                   manifest_t **ret, const char **reterr_detail);
manifest_t *manifest_free(manifest_t *m); /* NULL-safe, returns NULL */

/* One of the MT_* media types above (borrowed). */
const char *manifest_media_type(const manifest_t *m);
bool manifest_is_index(const manifest_t *m);
/* artifactType, else config.mediaType (image manifests), else NULL. Borrowed. */
const char *manifest_artifact_type(const manifest_t *m);
/* Config, then layers in order; or the entries of an index. */
size_t manifest_desc_count(const manifest_t *m);
const manifest_desc_t *manifest_desc(const manifest_t *m, size_t i);
/* The subject descriptor, or NULL. */
const manifest_desc_t *manifest_subject(const manifest_t *m);
/* The annotations object as compact JSON (malloc'd, caller frees), or NULL when absent. */
char *manifest_annotations_json(const manifest_t *m);
