/* auth/cache.c: the verified-credentials cache: Authorization values (keyed by a
 * process-random HMAC) that were verified, with the change counter read before
 * the verification; a change anywhere makes every entry stale. */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "auth/auth-internal.h"
#include "common/err.h"

/* ---- verified-credentials cache ---- */

/* HMAC-SHA256(process key, header): the key's padded states are computed once
 * (auth_token_key_t), so there is no key schedule and no algorithm fetch per request. */
int auth_cache_key(const auth_t *a, const char *header, size_t len, uint8_t key[32]) {
        return auth_token_key_mac(a->cache_key, header, len, key);
}

int auth_cache_init(auth_t *a) {
        uint8_t k[32];
        int r;

        a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (!a->sha256)
                return BERTH_ECRYPTO;
        if (RAND_bytes(k, sizeof(k)) != 1)
                return BERTH_ECRYPTO;
        r = auth_token_key_new(k, &a->cache_key);
        OPENSSL_cleanse(k, sizeof(k));
        return r;
}

/* A live entry for key: *ret and the change counter it was verified under. */
bool auth_cache_lookup(auth_t *a, const uint8_t key[32], time_t now, auth_result_t *ret,
                         int64_t *ret_generation, bool *ret_failed) {
        unsigned set = (key[0] | (unsigned) key[1] << 8) % CACHE_SETS;
        pthread_mutex_t *lock = &a->cache_locks[set % CACHE_LOCKS];
        bool hit = false;

        pthread_mutex_lock(lock);
        for (size_t w = 0; w < CACHE_WAYS; w++) {
                cache_entry_t *e = &a->cache[set][w];
                if (!e->used || CRYPTO_memcmp(e->key, key, 32) != 0)
                        continue;
                if (e->expires > now) {
                        *ret = e->who;
                        *ret_generation = e->generation;
                        *ret_failed = e->failed;
                        hit = true;
                } else
                        e->used = false; /* expired: forget it now */
                break;
        }
        pthread_mutex_unlock(lock);
        return hit;
}

void auth_cache_forget(auth_t *a, const uint8_t key[32]) {
        unsigned set = (key[0] | (unsigned) key[1] << 8) % CACHE_SETS;
        pthread_mutex_t *lock = &a->cache_locks[set % CACHE_LOCKS];

        pthread_mutex_lock(lock);
        for (size_t w = 0; w < CACHE_WAYS; w++) {
                cache_entry_t *e = &a->cache[set][w];
                if (e->used && CRYPTO_memcmp(e->key, key, 32) == 0)
                        e->used = false;
        }
        pthread_mutex_unlock(lock);
}

bool auth_cache_claim_refresh(auth_t *a, const uint8_t key[32], time_t now, time_t window) {
        unsigned set = (key[0] | (unsigned) key[1] << 8) % CACHE_SETS;
        pthread_mutex_t *lock = &a->cache_locks[set % CACHE_LOCKS];
        bool claimed = false;

        pthread_mutex_lock(lock);
        for (size_t w = 0; w < CACHE_WAYS; w++) {
                cache_entry_t *e = &a->cache[set][w];
                if (!e->used || CRYPTO_memcmp(e->key, key, 32) != 0)
                        continue;
                if (!e->failed && e->expires > now && e->expires - now <= window &&
                    now - e->refresh_begun >= AUTH_REFRESH_RETRY) {
                        e->refresh_begun = now;
                        claimed = true;
                }
                break;
        }
        pthread_mutex_unlock(lock);
        return claimed;
}

void auth_cache_insert(auth_t *a, const uint8_t key[32], time_t expires, int64_t generation,
                         const auth_result_t *who, bool failed) {
        unsigned set = (key[0] | (unsigned) key[1] << 8) % CACHE_SETS;
        pthread_mutex_t *lock = &a->cache_locks[set % CACHE_LOCKS];
        cache_entry_t *victim = NULL;

        pthread_mutex_lock(lock);
        for (size_t w = 0; w < CACHE_WAYS; w++) {
                cache_entry_t *e = &a->cache[set][w];
                if (e->used && CRYPTO_memcmp(e->key, key, 32) == 0) {
                        victim = e;
                        break;
                }
                if (!victim || (victim->used && (!e->used || e->expires < victim->expires)))
                        victim = e; /* prefer a free way, else the one expiring first */
        }
        memcpy(victim->key, key, 32);
        victim->used = true;
        victim->expires = expires;
        victim->refresh_begun = 0;
        victim->generation = generation;
        victim->failed = failed;
        victim->who = *who;
        victim->who.retry_after = 0;
        pthread_mutex_unlock(lock);
}

/* ---- rights cache ----
 *
 * The rights of an identity in a project are a function of the auth tables, and
 * every change to those bumps the change counter: rights read in the statement
 * that also read counter value g hold for as long as the counter is g. Keyed by
 * what decides them (kind, name, admin, a robot's project and push, project). */

bool auth_rights_key(const auth_result_t *who, const char *project, char *buf) {
        char kind = who->anonymous ? 'a' : who->robot ? 'r' : 'u';
        int n;

        n = snprintf(buf, RIGHTS_KEY_MAX, "%c%c%s/%s/%c/%s", kind, who->admin ? 'A' : '-', who->name,
                 who->robot ? who->robot_project : "", who->robot && who->robot_push ? 'p' : '-', project);
        return n > 0 && n < RIGHTS_KEY_MAX;
}

static uint64_t rights_hash(const char *key) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *key; key++) { /* FNV-1a */
                h ^= (unsigned char) *key;
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

int auth_rights_lookup(auth_t *a, const char *key, int64_t generation, uint64_t changes, unsigned *ret) {
        uint64_t h = rights_hash(key);
        size_t set = h % RIGHTS_SETS;
        pthread_mutex_t *lock = &a->rights_locks[set % CACHE_LOCKS];
        int hit = 0;

        pthread_mutex_lock(lock);
        for (size_t w = 0; w < CACHE_WAYS; w++) {
                rights_entry_t *e = &a->rights[set][w];
                if (!e->used_at || e->hash != h || strcmp(e->key, key) != 0)
                        continue;
                if (e->generation == generation && e->changes == changes) {
                        e->used_at = ++a->rights_clock[set];
                        *ret = e->rights;
                        hit = 1;
                }
                break;
        }
        pthread_mutex_unlock(lock);
        return hit;
}

void auth_rights_insert(auth_t *a, const char *key, int64_t generation, uint64_t changes, unsigned rights) {
        uint64_t h = rights_hash(key);
        size_t set = h % RIGHTS_SETS;
        pthread_mutex_t *lock = &a->rights_locks[set % CACHE_LOCKS];
        rights_entry_t *victim = NULL;

        pthread_mutex_lock(lock);
        for (size_t w = 0; w < CACHE_WAYS; w++) {
                rights_entry_t *e = &a->rights[set][w];
                if (e->used_at && e->hash == h && strcmp(e->key, key) == 0) {
                        victim = e;
                        break;
                }
                if (!victim || (victim->used_at && e->used_at < victim->used_at))
                        victim = e; /* a free way, else the least recently used */
        }
        victim->hash = h;
        victim->generation = generation;
        victim->changes = changes;
        victim->rights = rights;
        victim->used_at = ++a->rights_clock[set];
        snprintf(victim->key, sizeof(victim->key), "%s", key);
        pthread_mutex_unlock(lock);
}
