/* storage/s3.h: the S3 blob-store driver (storage/blobstore.h) and the pieces it is
 * made of, public for the unit test and the fuzz target: the storage URL, AWS
 * Signature Version 4, and the few XML answers S3 gives.
 *
 * Storage URL:  s3://BUCKET[/PREFIX]?endpoint=http[s]://HOST[:PORT]&region=REGION
 *               [&style=path|virtual]
 * Without endpoint: AWS (https://s3.REGION.amazonaws.com, virtual-host style);
 * with one: path style unless style=virtual. Objects:
 *   PREFIX/blobs/<alg>/<hex>          committed blobs
 *   PREFIX/trash/<alg>-<hex>          blobs an online GC is removing
 *   PREFIX/quarantine/<alg>-<hex>-<t> blobs fsck --repair moved away
 *
 * Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN if
 * set), or the file named by BERTH_S3_CREDENTIALS_FILE (mode 0600 or stricter;
 * lines "access_key_id = ..." and "secret_access_key = ...", the aws_ prefixed
 * names of the AWS CLI's file also accepted). They are never logged. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "storage/blobstore.h"

#define S3_BUCKET_MAX 63
#define S3_PREFIX_MAX 256
#define S3_HOST_MAX 256
#define S3_REGION_MAX 32

typedef struct s3_config {
        char bucket[S3_BUCKET_MAX + 1];
        char prefix[S3_PREFIX_MAX + 1]; /* "" or "a/b" (no leading or trailing '/') */
        bool https;
        char host[S3_HOST_MAX + 1];     /* the endpoint's host[:port] */
        char region[S3_REGION_MAX + 1];
        bool path_style;
} s3_config_t;

/* Parse a storage URL. 0, or -EINVAL with *reterr_detail (static text). */
int s3_url_parse(const char *url, s3_config_t *ret, const char **reterr_detail);

/* One header to sign: name (any case; signed lowercased) and value (trimmed). */
typedef struct s3_header {
        const char *name;
        const char *value;
} s3_header_t;

typedef struct s3_sign_input {
        const char *method;
        const char *path;            /* the request path, already URI-encoded */
        const char *query;           /* canonical query string (sorted, encoded), "" none */
        const s3_header_t *headers;  /* host among them */
        size_t n_headers;
        const char *payload_hash;    /* hex SHA-256 or UNSIGNED-PAYLOAD */
        const char *amz_date;        /* YYYYMMDDTHHMMSSZ */
        const char *region;
        const char *service;         /* "s3" */
        const char *access_key;
        const char *secret_key;
} s3_sign_input_t;

#define S3_SIG_HEX 64
/* The SigV4 signature (64 hex chars + NUL) of a request, and into
 * ret_signed_headers (n bytes) the signed header list ("host;x-amz-date").
 * 0, -ENAMETOOLONG, BERTH_ECRYPTO. */
int s3_sign(const s3_sign_input_t *in, char ret_sig[S3_SIG_HEX + 1], char *ret_signed_headers, size_t n);
/* The whole Authorization header value. */
int s3_authorization(const s3_sign_input_t *in, char *ret, size_t n);
/* URI-encode s per SigV4 (unreserved kept; '/' kept when keep_slash). 0 or
 * -ENAMETOOLONG. */
int s3_uri_encode(const char *s, bool keep_slash, char *ret, size_t n);
/* A presigned GET URL (query-string authentication) for path (encoded) at host,
 * valid for expires seconds from amz_date. Caller frees *ret. */
int s3_presign(const char *scheme_host, const char *host, const char *path, unsigned expires, const char *amz_date,
               const char *region, const char *access_key, const char *secret_key, const char *session_token,
               char **ret);

/* ListObjectsV2 answer: cb for each <Contents> (key decoded, size, mtime), the
 * continuation token (decoded) into token (n bytes; "" when not truncated). 0 or
 * -EBADMSG (malformed). */
typedef void (*s3_list_entry_fn)(void *userdata, const char *key, uint64_t size, time_t mtime);
int s3_list_parse(const char *xml, size_t len, s3_list_entry_fn cb, void *userdata, char *token, size_t n);
/* ListMultipartUploads answer: cb for each <Upload> (key, upload id, initiated), the
 * next markers (decoded) into key_marker and id_marker (n bytes each; "" when not
 * truncated). 0 or -EBADMSG. */
typedef void (*s3_upload_entry_fn)(void *userdata, const char *key, const char *upload_id, time_t initiated);
int s3_uploads_parse(const char *xml, size_t len, s3_upload_entry_fn cb, void *userdata, char *key_marker,
                     char *id_marker, size_t n);
/* ListParts answer: cb for each <Part> (its number 1..10000, ETag as given, size),
 * the next part number marker into *ret_next (0 when not truncated). 0 or -EBADMSG. */
typedef void (*s3_part_entry_fn)(void *userdata, unsigned num, const char *etag, uint64_t size);
int s3_parts_parse(const char *xml, size_t len, s3_part_entry_fn cb, void *userdata, unsigned *ret_next);
/* <Error><Code>...</Code> of an answer into code (n bytes). 1 found, 0 not. */
int s3_error_code(const char *xml, size_t len, char *code, size_t n);
/* The text of the first <tag> element, entities decoded, into ret (n bytes). 1
 * found, 0 not, -EBADMSG (too long or malformed). */
int s3_xml_text(const char *xml, size_t len, const char *tag, char *ret, size_t n);
/* An ISO 8601 UTC time as S3 writes it (2026-12-03T07:10:24.000Z). 0 or -EINVAL. */
int s3_time_parse(const char *s, time_t *ret);

/* The driver. url as above; ca_file: PEM bundle to trust (NULL: the system's). */
int s3_blobstore_open(const char *url, const char *ca_file, blobstore_t **ret, const char **reterr_detail);

/* Test hook: objects above max bytes are copied server-side by UploadPartCopy
 * parts instead of one CopyObject (0: S3's limit, 5 GiB). */
void s3_test_set_copy_max(uint64_t max);
