/* client/layout.h: the local store, an OCI image layout directory:
 *   oci-layout, index.json (one entry per image, annotated with
 *   "org.opencontainers.image.ref.name" = the full normalized reference),
 *   blobs/<alg>/<hex>, and berth's own state under .berth/ (locks, partial
 *   downloads, back-off, the HMAC key). Files are written by temp file + rename.
 * Between processes: the state lock (flock) guards index.json and the state files;
 * pulls hold the GC lock shared for their whole run, rmi/GC hold it exclusive. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"

#define LAYOUT_ANNOT_REF "org.opencontainers.image.ref.name"
#define LAYOUT_ANNOT_RESOLVED "io.berth.resolved-digest"
#define LAYOUT_ANNOT_PULLED_BY "io.berth.pulled-by"
#define LAYOUT_INDEX_MAX (16u * 1024 * 1024)

typedef struct layout layout_t;

typedef enum {
        LAYOUT_LOCK_STATE,
        LAYOUT_LOCK_GC,
} layout_lock_t;

typedef struct {
        char *ref;            /* full normalized reference */
        digest_t manifest;    /* image manifest the entry points at */
        char *media_type;
        int64_t size;
        char *resolved;       /* what the reference resolved to at the registry (index or manifest digest), or NULL */
        char *pulled_by;      /* space-separated credential HMACs and/or "anonymous"; NULL: not pulled by berth */
} layout_image_t;

int layout_open(const char *root, layout_t **ret);
layout_t *layout_free(layout_t *l);
const char *layout_root(const layout_t *l);

/* flock; returns an fd to close() for unlocking. */
int layout_lock(layout_t *l, layout_lock_t which, bool exclusive, int *ret_fd);

/* 1 present (with *ret_size), 0 absent, <0 error */
int layout_blob_stat(layout_t *l, const digest_t *d, uint64_t *ret_size);
int layout_blob_path(layout_t *l, const digest_t *d, char **ret);
/* partial download file for d under .berth/tmp */
int layout_partial_path(layout_t *l, const digest_t *d, char **ret);
/* Verify buf against d, then store it. BERTH_EDIGEST on mismatch (nothing written). */
int layout_blob_write(layout_t *l, const digest_t *d, const void *buf, size_t len);
/* Move a verified file into blobs/ (rename, directory fsync). */
int layout_blob_commit(layout_t *l, const digest_t *d, const char *verified_path);
int layout_blob_read(layout_t *l, const digest_t *d, size_t max, char **ret, size_t *ret_len);

/* Entries. The caller holds LAYOUT_LOCK_STATE around get/put/remove that must agree. */
int layout_image_get(layout_t *l, const char *ref, layout_image_t *ret); /* 1 found, 0 not */
/* An entry of repository name (no tag) whose manifest or resolved digest is d. */
int layout_image_find_digest(layout_t *l, const char *name, const digest_t *d, layout_image_t *ret);
int layout_image_put(layout_t *l, const layout_image_t *img);   /* replaces the entry with the same ref */
int layout_image_remove(layout_t *l, const char *ref);         /* 1 removed, 0 not there */
int layout_image_list(layout_t *l, layout_image_t **ret, size_t *ret_n);
void layout_image_done(layout_image_t *img);
void layout_image_list_free(layout_image_t *v, size_t n);

/* Delete blobs no entry references (caller holds LAYOUT_LOCK_GC exclusive). */
int layout_gc(layout_t *l, uint64_t *ret_freed_bytes, size_t *ret_freed_blobs);

/* HMAC-SHA256 under the store's key (created on first use), as lowercase hex (65 bytes). */
int layout_hmac(layout_t *l, const void *msg, size_t len, char ret_hex[65]);
/* .berth/<name> */
int layout_state_path(layout_t *l, const char *name, char **ret);
