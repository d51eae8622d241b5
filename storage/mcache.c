/* storage/mcache.c: the manifest cache (see storage/mcache.h).
 *
 * Set-associative: SETS sets of WAYS entries, one mutex per LOCKS sets (a lookup
 * holds one lock for a few compares: no lock shared by all threads), least
 * recently used way replaced. A repository's change count lives in one of COUNTS
 * slots chosen by its name's hash (two repositories may share a slot: a change to
 * one then also retires the other's entries, which costs a read, never a stale
 * answer). An invalidation only moves the count: entries are left to be replaced. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "common/digest.h"
#include "common/name.h"
#include "storage/mcache.h"

#define SETS 1024
#define WAYS 4
#define LOCKS 64
#define COUNTS 4096
#define REPO_MAX 255
#define REF_MAX (DIGEST_STR_MAX > NAME_TAG_MAX + 1 ? DIGEST_STR_MAX : NAME_TAG_MAX + 1)

typedef struct {
        uint64_t hash;
        uint64_t epoch, count;
        uint64_t used_at; /* the set's clock at the last hit: 0 free */
        char repo[REPO_MAX + 1];
        char ref[REF_MAX];
        meta_manifest_info_t info;
} entry_t;

struct mcache {
        db_t *db;
        pthread_mutex_t locks[LOCKS];
        uint64_t clock[SETS];
        entry_t e[SETS][WAYS];
        _Atomic uint64_t counts[COUNTS];
};

static uint64_t hash_str(uint64_t h, const char *s) {
        for (; *s; s++) { /* FNV-1a */
                h ^= (unsigned char) *s;
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

static _Atomic uint64_t *count_of(mcache_t *mc, const char *repo) {
        return &mc->counts[hash_str(UINT64_C(0xcbf29ce484222325), repo) % COUNTS];
}

static void on_change(db_notify_kind_t kind, const char *key, void *userdata) {
        mcache_t *mc = userdata;

        if (kind != DB_NOTIFY_REPO)
                return;
        if (!*key) { /* every repository */
                for (size_t i = 0; i < COUNTS; i++)
                        atomic_fetch_add(&mc->counts[i], 1);
                return;
        }
        atomic_fetch_add(count_of(mc, key), 1);
}

static void mcache_free(void *p) {
        mcache_t *mc = p;

        db_unsubscribe(mc->db, on_change, mc);
        for (size_t i = 0; i < LOCKS; i++)
                pthread_mutex_destroy(&mc->locks[i]);
        free(mc);
}

static void *mcache_new(db_t *db) {
        mcache_t *mc = calloc(1, sizeof(*mc));

        if (!mc)
                return NULL;
        mc->db = db;
        for (size_t i = 0; i < LOCKS; i++)
                pthread_mutex_init(&mc->locks[i], NULL);
        if (db_subscribe(db, on_change, mc) < 0) {
                for (size_t i = 0; i < LOCKS; i++)
                        pthread_mutex_destroy(&mc->locks[i]);
                free(mc);
                return NULL;
        }
        return mc;
}

mcache_t *mcache_of(db_t *db) {
        return db_slot(db, DB_SLOT_MANIFESTS, mcache_new, mcache_free);
}

static bool fits(const char *repo, const char *reference) {
        return strnlen(repo, REPO_MAX + 1) <= REPO_MAX && strnlen(reference, REF_MAX) < REF_MAX;
}

static uint64_t key_hash(const char *repo, const char *reference) {
        uint64_t h = hash_str(UINT64_C(0xcbf29ce484222325), repo);
        h = (h ^ 0xff) * UINT64_C(0x100000001b3); /* a separator no name holds */
        return hash_str(h, reference);
}

int mcache_lookup(mcache_t *mc, db_conn_t *c, const char *repo, const char *reference,
                  meta_manifest_info_t *ret, mcache_stamp_t *stamp) {
        uint64_t h, set;
        pthread_mutex_t *lock;
        int hit = 0;

        *stamp = (mcache_stamp_t){ 0 };
        if (!mc || !fits(repo, reference))
                return 0;
        /* the count before the epoch: SQLite's check of other processes' writes
         * may move the epoch, never the count */
        stamp->count = atomic_load(count_of(mc, repo));
        stamp->epoch = db_cache_epoch(mc->db, c);
        if (stamp->epoch == 0)
                return 0;
        h = key_hash(repo, reference);
        set = h % SETS;
        lock = &mc->locks[set % LOCKS];
        pthread_mutex_lock(lock);
        for (size_t w = 0; w < WAYS; w++) {
                entry_t *e = &mc->e[set][w];
                if (!e->used_at || e->hash != h || strcmp(e->repo, repo) != 0 || strcmp(e->ref, reference) != 0)
                        continue;
                if (e->epoch == stamp->epoch && e->count == stamp->count) {
                        e->used_at = ++mc->clock[set];
                        *ret = e->info;
                        hit = 1;
                } else
                        e->used_at = 0; /* stale: free the way */
                break;
        }
        pthread_mutex_unlock(lock);
        return hit;
}

void mcache_insert(mcache_t *mc, const mcache_stamp_t *stamp, const char *repo, const char *reference,
                   const meta_manifest_info_t *info) {
        uint64_t h, set;
        pthread_mutex_t *lock;
        entry_t *victim = NULL;

        if (!mc || !stamp->epoch || !fits(repo, reference))
                return;
        h = key_hash(repo, reference);
        set = h % SETS;
        lock = &mc->locks[set % LOCKS];
        pthread_mutex_lock(lock);
        for (size_t w = 0; w < WAYS; w++) {
                entry_t *e = &mc->e[set][w];
                if (e->used_at && e->hash == h && strcmp(e->repo, repo) == 0 && strcmp(e->ref, reference) == 0) {
                        victim = e;
                        break;
                }
                if (!victim || (victim->used_at && e->used_at < victim->used_at))
                        victim = e; /* a free way, else the least recently used */
        }
        victim->hash = h;
        victim->epoch = stamp->epoch;
        victim->count = stamp->count;
        victim->used_at = ++mc->clock[set];
        strcpy(victim->repo, repo);
        strcpy(victim->ref, reference);
        victim->info = *info;
        pthread_mutex_unlock(lock);
}
