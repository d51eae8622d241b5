/* auth/throttle.c: throttling of password guesses, per (address, name) and per
 * address, in a fixed table (see the comment below). */
#include <string.h>
#include <openssl/evp.h>
#include "auth/auth-internal.h"
#include "common/macro.h"

/* ---- throttling ----
 *
 * Three counters of failed verifications, each forgotten after throttle_forget quiet
 * seconds: per (address, name) pair, per name and per address. Only the pair's
 * state refuses anything, and it refuses before verification: an attempt from an
 * address that has not been failing on a name is always verified, so a correct
 * secret always works there. The name and address counters only tighten the pair
 * rule: once a name has failed throttle_free times from elsewhere (it is under
 * attack), or an address has failed THR_ADDR_FACTOR x throttle_free times on other
 * names (it guesses or sprays), one failure of a pair is enough to start its delays.
 * See docs/access-control.md, "Throttling". */

static unsigned thr_set(const auth_t *a, const char *key) {
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < sizeof(a->thr_seed); i++)
                h = (h ^ a->thr_seed[i]) * 1099511628211ULL;
        for (const char *p = key; *p; p++)
                h = (h ^ (uint8_t) *p) * 1099511628211ULL;
        return (unsigned) (h % THR_SETS);
}

static thr_entry_t *thr_find(auth_t *a, const char *key, bool create, time_t now) {
        thr_entry_t *set = a->thr[thr_set(a, key)];
        thr_entry_t *victim = &set[0];

        for (size_t w = 0; w < THR_WAYS; w++) {
                thr_entry_t *e = &set[w];
                if (e->key[0] && now - e->last > (time_t) a->opt.throttle_forget)
                        e->key[0] = '\0'; /* quiet long enough: forgotten */
                if (e->key[0] && strcmp(e->key, key) == 0)
                        return e;
                if (!e->key[0] || (victim->key[0] && e->last < victim->last))
                        victim = e;
        }
        if (!create)
                return NULL;
        memset(victim, 0, sizeof(*victim));
        snprintf(victim->key, sizeof(victim->key), "%s", key);
        return victim;
}

typedef struct {
        char addr[THR_KEY_MAX], name[THR_KEY_MAX], pair[THR_KEY_MAX];
} thr_keys_t;

static void thr_keys(const char *addr, const char *user, thr_keys_t *k) {
        const char *ad = addr && *addr ? addr : "-";

        /* an address holds no space: "p:ADDR NAME" is unambiguous */
        snprintf(k->addr, sizeof(k->addr), "a:%.63s", ad);
        snprintf(k->name, sizeof(k->name), "u:%.96s", user);
        snprintf(k->pair, sizeof(k->pair), "p:%.63s %.96s", ad, user);
}

static unsigned thr_failures(auth_t *a, const char *key, time_t now) {
        thr_entry_t *e = thr_find(a, key, false, now);
        return e ? e->failures : 0;
}

/* Seconds before the pair (addr, user) may be verified again; 0 now. Caller holds
 * thr_lock. */
static unsigned thr_wait_locked(auth_t *a, const thr_keys_t *k, time_t now) {
        const unsigned free_fails = a->opt.throttle_free;
        thr_entry_t *p = thr_find(a, k->pair, false, now);
        unsigned own, name, addr, allowed, n;
        uint64_t delay;

        if (!p || p->failures == 0)
                return 0; /* not failing from here: always verified */
        own = p->failures;
        name = thr_failures(a, k->name, now);
        addr = thr_failures(a, k->addr, now);
        /* the others' failures: on this name from other addresses, from this
         * address on other names */
        name = name > own ? name - own : 0;
        addr = addr > own ? addr - own : 0;
        allowed = name >= free_fails || addr >= free_fails * THR_ADDR_FACTOR ? 1 : free_fails;
        if (own < allowed)
                return 0;
        n = own - allowed;
        delay = n >= 20 ? UINT64_C(1) << 20 : UINT64_C(1) << n;
        if (delay > a->opt.throttle_max_delay)
                delay = a->opt.throttle_max_delay;
        if (p->last + (time_t) delay <= now)
                return 0;
        return (unsigned) (p->last + (time_t) delay - now);
}

/* Seconds until addr may try user again; 0 now. */
unsigned auth_throttle_blocked(auth_t *a, const char *addr, const char *user, time_t now) {
        thr_keys_t k;
        unsigned wait;

        thr_keys(addr, user, &k);
        pthread_mutex_lock(&a->thr_lock);
        wait = thr_wait_locked(a, &k, now);
        pthread_mutex_unlock(&a->thr_lock);
        return wait;
}

/* A verified failure (a new guess): counts for the pair, the name and the address. */
void auth_throttle_fail(auth_t *a, const char *addr, const char *user, time_t now) {
        const char *keys[3];
        thr_keys_t k;

        thr_keys(addr, user, &k);
        keys[0] = k.pair, keys[1] = k.name, keys[2] = k.addr;
        pthread_mutex_lock(&a->thr_lock);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                thr_entry_t *e = thr_find(a, keys[i], true, now);
                if (e->failures < UINT_MAX)
                        e->failures++;
                e->last = now;
        }
        pthread_mutex_unlock(&a->thr_lock);
}

/* A verified success: the pair's failures were the owner's own mistakes, not an
 * attack. They are taken back from the name's and the address's counts, and the
 * pair starts afresh. Other clients' failures stay counted. */
void auth_throttle_success(auth_t *a, const char *addr, const char *user, time_t now) {
        thr_keys_t k;
        thr_entry_t *p, *e;
        unsigned own;

        thr_keys(addr, user, &k);
        pthread_mutex_lock(&a->thr_lock);
        p = thr_find(a, k.pair, false, now);
        if (p) {
                own = p->failures;
                memset(p, 0, sizeof(*p));
                for (int i = 0; i < 2; i++) {
                        e = thr_find(a, i == 0 ? k.name : k.addr, false, now);
                        if (e)
                                e->failures = e->failures > own ? e->failures - own : 0;
                }
        }
        pthread_mutex_unlock(&a->thr_lock);
}
