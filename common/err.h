/* common/err.h: berth's one error space. 0 is success, -errno passes through,
 * berth's own codes start at -1000. Foreign codes are mapped in their wrappers. */
#pragma once

enum {
        BERTH_EDIGEST = -1000,         /* content does not match its digest */
        BERTH_EDIGEST_INVALID,         /* malformed or unsupported digest string */
        BERTH_ENAME_INVALID,           /* repository name outside the grammar */
        BERTH_ETAG_INVALID,            /* tag outside the grammar */
        BERTH_EMANIFEST,               /* manifest fails validation */
        BERTH_EMANIFEST_BLOB_UNKNOWN,  /* manifest references a blob not in the repository */
        BERTH_ETOOBIG,                 /* input over a configured limit */
        BERTH_EDB,                     /* metadata database error */
        BERTH_ECRYPTO,                 /* OpenSSL failure */
        BERTH_EJSON,                   /* malformed JSON */
        BERTH_EUNSUPPORTED,            /* operation or media type not supported */
        BERTH_EREF_INVALID,            /* image reference outside the grammar */
        BERTH_ECONFIG,                 /* bad configuration value */
        BERTH_EAUTH,                   /* bad or missing credentials */
        BERTH_EDENIED,                 /* authenticated but not allowed */
        BERTH_ETHROTTLED,              /* too many attempts; retry later */
        BERTH_EBUSY,                   /* resource busy (database locked, upload in use) */
        BERTH_EHTTP,                   /* transport error talking to a registry */
        BERTH_EUNAVAILABLE,            /* registry unreachable: connection, TLS, timeout, 429, 5xx */
        BERTH_ENOTFOUND,               /* registry answered 404: manifest or blob unknown */
        BERTH_EDBDOWN,                 /* metadata database unreachable (connection lost); retry later */
        BERTH_EQUOTA,                  /* the project's storage quota would be exceeded */
        BERTH_ESTOREDOWN,              /* the object store (S3) unreachable or failing; retry later */
        _BERTH_EMAX,
};

/* Never NULL; covers -errno too. */
const char *berth_strerror(int err);
