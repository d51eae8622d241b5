/* common/secretbox.h: secrets berth keeps in its database and must use again later
 * (a webhook's signing secret; a pull-through cache's upstream password), sealed
 * with AES-256-GCM under a key that is not in the database: a dump or a copy of the
 * database alone does not give them away.
 *
 * The key is a file of its own: 64 hexadecimal digits (32 bytes) and an optional
 * newline, mode 0600. By default DATA/secret.key, created on first use; or the
 * file BERTH_SECRET_KEY_FILE names (a Kubernetes Secret, the same for every
 * replica), which berth never creates. Make one with `openssl rand -hex 32`.
 *
 * A sealed value: version byte 1 | key id (4 bytes: the start of SHA-256 of the key)
 * | nonce (12 random bytes) | ciphertext | tag (16 bytes). The caller's context
 * string is the additional authenticated data: a value sealed for one use does not
 * open for another. Knows nothing about HTTP, does not log. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct secretbox secretbox_t;

#define SECRETBOX_KEY_FILE "secret.key" /* in the data directory */
#define SECRETBOX_KEY_ENV "BERTH_SECRET_KEY_FILE"
#define SECRETBOX_OVERHEAD (1 + 4 + 12 + 16)
#define SECRETBOX_PLAIN_MAX 4096 /* the longest secret sealed */

/* The key file: $BERTH_SECRET_KEY_FILE when set and not empty, else
 * data_dir/secret.key. *ret malloc'd; *ret_from_env (if non-NULL) says which. */
int secretbox_key_path(const char *data_dir, char **ret, bool *ret_from_env);

/* Loads the key in path. A missing file: -ENOENT, unless create: then a new random
 * key is written there (0600, complete before it appears; when two processes
 * create it at once both end up with the one that appeared first). A file that is
 * not a key: BERTH_ECONFIG. *ret_loose (if non-NULL): others may read the file
 * (group read is left alone, as a Secret mounted with fsGroup has it). */
int secretbox_open(const char *path, bool create, secretbox_t **ret, bool *ret_loose);
/* NULL-safe; wipes the key. Returns NULL. */
secretbox_t *secretbox_free(secretbox_t *sb);

/* Seals len bytes of plain (at most SECRETBOX_PLAIN_MAX) for context: *ret
 * malloc'd, *ret_len = len + SECRETBOX_OVERHEAD. */
int secretbox_seal(const secretbox_t *sb, const char *context, const void *plain, size_t len, uint8_t **ret,
                   size_t *ret_len);
/* Opens a sealed value: *ret malloc'd, NUL-terminated (the caller wipes and frees
 * it), *ret_len (if non-NULL) its length. -EKEYREJECTED: sealed under another key;
 * BERTH_ECRYPTO: altered, truncated, or sealed for another context. */
int secretbox_unseal(const secretbox_t *sb, const char *context, const uint8_t *sealed, size_t len,
                     char **ret, size_t *ret_len);
