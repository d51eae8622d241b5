/* auth/token.c: the in-memory table of issued Bearer tokens (token mode).
 *
 * A token is 32 random bytes in base64url (43 characters). The table keeps only
 * SHA-256(token) as the key, with the identity it proves, the change counter and
 * a fingerprint of the credential row at issue time, and the expiry. Entries are
 * chained per hash bucket and kept in issue order on a list, so expired ones are
 * purged from the head and, when the table is full, the oldest is evicted. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "auth/auth-internal.h"
#include "common/err.h"

#define BUCKETS 65536u

typedef struct tok_entry tok_entry_t;
struct tok_entry {
        uint8_t key[32];
        time_t expires;
        int64_t generation;
        uint8_t fp[32];
        auth_result_t who;
        tok_entry_t *chain;            /* next in the bucket */
        tok_entry_t *older, *newer;    /* issue order */
};

struct auth_token_table {
        pthread_mutex_t lock;
        size_t max, count;
        tok_entry_t **buckets; /* allocated on first issue */
        tok_entry_t *oldest, *newest;
};

int auth_token_table_new(size_t max, auth_token_table_t **ret) {
        auth_token_table_t *t;

        if (!ret || max == 0)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        t->max = max;
        *ret = t;
        return 0;
}

static void entry_free(tok_entry_t *e) {
        OPENSSL_cleanse(e, sizeof(*e));
        free(e);
}

auth_token_table_t *auth_token_table_free(auth_token_table_t *t) {
        tok_entry_t *e, *next;

        if (!t)
                return NULL;
        for (e = t->oldest; e; e = next) {
                next = e->newer;
                entry_free(e);
        }
        free(t->buckets);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

static int token_key(const char *token, size_t len, uint8_t key[32]) {
        unsigned n = 0;

        if (EVP_Digest(token, len, key, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return BERTH_ECRYPTO;
        return 0;
}

static tok_entry_t **bucket_of(auth_token_table_t *t, const uint8_t key[32]) {
        /* The key is a cryptographic hash of a random value: any bits will do. */
        return &t->buckets[(key[0] | (unsigned) key[1] << 8) % BUCKETS];
}

/* Unlink e from its bucket and the issue list, and free it. Lock held. */
static void entry_remove(auth_token_table_t *t, tok_entry_t *e) {
        tok_entry_t **pp = bucket_of(t, e->key);

        while (*pp && *pp != e)
                pp = &(*pp)->chain;
        if (*pp)
                *pp = e->chain;
        if (e->older)
                e->older->newer = e->newer;
        else
                t->oldest = e->newer;
        if (e->newer)
                e->newer->older = e->older;
        else
                t->newest = e->older;
        t->count--;
        entry_free(e);
}

/* Lock held. */
static tok_entry_t *entry_find(auth_token_table_t *t, const uint8_t key[32]) {
        if (!t->buckets)
                return NULL;
        for (tok_entry_t *e = *bucket_of(t, key); e; e = e->chain)
                if (CRYPTO_memcmp(e->key, key, 32) == 0)
                        return e;
        return NULL;
}

/* base64url without padding: 32 bytes → 43 characters. */
static void b64url(const uint8_t *in, size_t len, char *out) {
        static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t n = 0;

        for (size_t i = 0; i < len; i++) {
                acc = (acc << 8) | in[i];
                bits += 8;
                while (bits >= 6) {
                        bits -= 6;
                        out[n++] = tab[(acc >> bits) & 63];
                }
        }
        if (bits > 0)
                out[n++] = tab[(acc << (6 - bits)) & 63];
        out[n] = '\0';
}

int auth_token_table_issue(auth_token_table_t *t, const auth_result_t *who, int64_t generation,
                           const uint8_t fp[32], time_t now, time_t expires,
                           char token[AUTH_BEARER_LEN + 1]) {
        uint8_t raw[32];
        tok_entry_t *e, **b;
        int r;

        if (!t || !who || !fp || !token)
                return -EINVAL;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
                free(e);
                return BERTH_ECRYPTO;
        }
        b64url(raw, sizeof(raw), token);
        OPENSSL_cleanse(raw, sizeof(raw));
        r = token_key(token, AUTH_BEARER_LEN, e->key);
        if (r < 0) {
                OPENSSL_cleanse(token, AUTH_BEARER_LEN + 1);
                free(e);
                return r;
        }
        e->expires = expires;
        e->generation = generation;
        memcpy(e->fp, fp, 32);
        e->who = *who;
        e->who.retry_after = 0;

        pthread_mutex_lock(&t->lock);
        if (!t->buckets) {
                t->buckets = calloc(BUCKETS, sizeof(*t->buckets));
                if (!t->buckets) {
                        pthread_mutex_unlock(&t->lock);
                        OPENSSL_cleanse(token, AUTH_BEARER_LEN + 1);
                        entry_free(e);
                        return -ENOMEM;
                }
        }
        /* Expired entries leave from the head (issue order is nearly expiry
         * order); when still full, the oldest token goes: its holder fetches a
         * new one after a 401, as after expiry. */
        while (t->oldest && t->oldest->expires <= now)
                entry_remove(t, t->oldest);
        while (t->count >= t->max && t->oldest)
                entry_remove(t, t->oldest);
        b = bucket_of(t, e->key);
        e->chain = *b;
        *b = e;
        e->older = t->newest;
        if (t->newest)
                t->newest->newer = e;
        else
                t->oldest = e;
        t->newest = e;
        t->count++;
        pthread_mutex_unlock(&t->lock);
        return 0;
}

int auth_token_table_lookup(auth_token_table_t *t, const char *token, size_t len, time_t now,
                            auth_result_t *ret_who, int64_t *ret_generation, uint8_t ret_fp[32]) {
        uint8_t key[32];
        tok_entry_t *e;
        int r;

        if (!t || !token)
                return -EINVAL;
        if (len != AUTH_BEARER_LEN)
                return -ENOENT;
        r = token_key(token, len, key);
        if (r < 0)
                return r;
        pthread_mutex_lock(&t->lock);
        e = entry_find(t, key);
        if (e && e->expires <= now) {
                entry_remove(t, e);
                e = NULL;
        }
        if (e) {
                *ret_who = e->who;
                *ret_generation = e->generation;
                memcpy(ret_fp, e->fp, 32);
        }
        pthread_mutex_unlock(&t->lock);
        return e ? 0 : -ENOENT;
}

int auth_token_table_update(auth_token_table_t *t, const char *token, size_t len,
                            int64_t generation, const auth_result_t *who) {
        uint8_t key[32];
        tok_entry_t *e;
        int r;

        if (!t || !token || len != AUTH_BEARER_LEN)
                return -EINVAL;
        r = token_key(token, len, key);
        if (r < 0)
                return r;
        pthread_mutex_lock(&t->lock);
        e = entry_find(t, key);
        if (e && generation > e->generation) {
                e->generation = generation;
                e->who = *who;
                e->who.retry_after = 0;
        }
        pthread_mutex_unlock(&t->lock);
        return e ? 0 : -ENOENT;
}

void auth_token_table_forget(auth_token_table_t *t, const char *token, size_t len) {
        uint8_t key[32];
        tok_entry_t *e;

        if (!t || !token || len != AUTH_BEARER_LEN || token_key(token, len, key) < 0)
                return;
        pthread_mutex_lock(&t->lock);
        e = entry_find(t, key);
        if (e)
                entry_remove(t, e);
        pthread_mutex_unlock(&t->lock);
}

size_t auth_token_table_count(auth_token_table_t *t) {
        size_t n;

        if (!t)
                return 0;
        pthread_mutex_lock(&t->lock);
        n = t->count;
        pthread_mutex_unlock(&t->lock);
        return n;
}
