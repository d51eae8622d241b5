/* auth/auth.c: the core of auth/: opening (the database through storage/db, whose
 * one migration sequence holds the auth_ tables), options, the install key and
 * the Bearer key derived from it, the change counter, freeing, counters.
 * The concerns live beside it: password.c (hashing, verification, verifier
 * threads), cache.c, throttle.c, audit.c, decide.c (the access decision),
 * bearer.c (Bearer tokens, token endpoint), token.c (the token format),
 * admin.c (changes, bootstrap), basic.c (the Basic header). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/log.h"
#include "common/macro.h"


time_t auth_now(const auth_t *a) {
        return a->opt.now ? a->opt.now(a->opt.now_userdata) : time(NULL);
}

/* ---- connections: storage/db's pool (or the thread's own, see db_conn_bind_thread) ---- */

db_t *auth_db(auth_t *a) {
        return a ? a->db : NULL;
}

int auth_conn_get(auth_t *a, auth_conn_t **ret) {
        return db_conn_get(a->db, ret);
}

void auth_conn_put(auth_t *a, auth_conn_t *c) {
        db_conn_put(a->db, c);
}

int auth_tx_begin(auth_conn_t *c) {
        return db_tx_begin(c);
}

void auth_tx_rollback(auth_conn_t *c) {
        db_tx_rollback(c);
}

static const char SQL_BUMP[] = "UPDATE auth_state SET generation = generation + 1 WHERE id = 1";
static const char SQL_GENERATION[] = "SELECT generation FROM auth_state WHERE id = 1";

/* Bumps the change counter and commits: on any earlier failure in the
 * transaction (sticky) nothing is written and that failure is returned. */
int auth_tx_commit_change(auth_conn_t *c) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        r = db_stmt(c, SQL_BUMP, &st);
        if (r < 0)
                (void) db_tx_fail(c, r);
        else
                (void) db_step_done(st);
        /* every replica's caches hear of it at commit (auth_generation) */
        (void) db_notify(c, DB_NOTIFY_AUTH, "");
        return db_tx_commit(c);
}

/* Change marks unique in the process: a thread's kept counter never matches
 * another auth_t (or this one before a change). */
static _Atomic uint64_t changes_source = 1;

static void on_change(db_notify_kind_t kind, const char *key, void *userdata) {
        auth_t *a = userdata;

        (void) key;
        if (kind == DB_NOTIFY_AUTH)
                atomic_store(&a->changes, atomic_fetch_add(&changes_source, 1) + 1);
}

/* The calling thread's last read of the change counter, and under what. */
static __thread struct {
        const auth_t *a;
        uint64_t epoch, changes;
        int64_t generation;
} kept;

int auth_generation_kept(auth_t *a, auth_conn_t *c, int64_t *ret, auth_stamp_t *stamp) {
        stamp->changes = atomic_load(&a->changes);
        stamp->epoch = db_cache_epoch(a->db, c); /* both before any read */
        if (stamp->epoch && kept.a == a && kept.epoch == stamp->epoch && kept.changes == stamp->changes) {
                *ret = kept.generation;
                return 1;
        }
        return 0;
}

void auth_generation_keep(auth_t *a, const auth_stamp_t *stamp, int64_t generation) {
        if (!stamp->epoch)
                return;
        kept.a = a;
        kept.epoch = stamp->epoch;
        kept.changes = stamp->changes;
        kept.generation = generation;
}

int auth_generation(auth_t *a, auth_conn_t *c, int64_t *ret) {
        auth_stamp_t stamp;
        int64_t g;
        int r;

        if (auth_generation_kept(a, c, ret, &stamp))
                return 1;
        r = auth_read_generation(c, &g);
        if (r < 0)
                return r;
        auth_generation_keep(a, &stamp, g);
        *ret = g;
        return stamp.epoch ? 1 : 0;
}

int auth_read_generation(auth_conn_t *c, int64_t *ret) {
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        int r;

        r = db_stmt(c, SQL_GENERATION, &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r <= 0)
                return r == 0 ? BERTH_EDB : r;
        *ret = db_col_int(st, 0);
        return 0;
}

static int load_token_key(auth_t *a, auth_conn_t *c) {
        static const char sql[] = "SELECT token_key FROM auth_state WHERE id = 1";
        _cleanup_db_stmt_ db_stmt_t *st = NULL;
        const void *p;
        size_t len = 0;
        int r;

        r = db_stmt(c, sql, &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        p = r == 1 ? db_col_blob(st, 0, &len) : NULL;
        if (!p || len != sizeof(a->token_key))
                return BERTH_EDB;
        memcpy(a->token_key, p, sizeof(a->token_key));
        return 0;
}

/* The key that signs Bearer tokens: HMAC(install key, label), so that it is the
 * same for every process and replica on this database and stays apart from the
 * robot-secret MACs made with the install key itself. */
static int bearer_key_init(auth_t *a) {
        static const char label[] = "berth bearer token key v1";
        uint8_t k[32];
        unsigned len = sizeof(k);
        int r;

        if (!HMAC(a->sha256, a->token_key, sizeof(a->token_key), (const uint8_t *) label,
                  sizeof(label) - 1, k, &len) || len != sizeof(k))
                return BERTH_ECRYPTO;
        r = auth_token_key_new(k, &a->bearer_key);
        OPENSSL_cleanse(k, sizeof(k));
        return r;
}

/* ---- options ---- */

static uint32_t env_u32(const char *name, uint32_t dflt, uint32_t min, uint32_t max) {
        const char *s = getenv(name);
        char *end;
        unsigned long v;

        if (!s || !*s)
                return dflt;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || end == s || v < min || v > max)
                return dflt;
        return (uint32_t) v;
}

static void options_resolve(auth_options_t *o) {
        long cpus;

        if (o->argon2_memory_kib == 0)
                o->argon2_memory_kib = env_u32("BERTH_ARGON2_MEMORY_KIB", 65536, 8, 4u << 20);
        if (o->argon2_passes == 0)
                o->argon2_passes = env_u32("BERTH_ARGON2_PASSES", 3, 1, 64);
        if (o->argon2_lanes == 0)
                o->argon2_lanes = 1;
        if (o->argon2_memory_kib < 8 * o->argon2_lanes)
                o->argon2_memory_kib = 8 * o->argon2_lanes;
        if (o->argon2_concurrency == 0) {
                /* each verification holds argon2_memory_kib: bounded by the CPUs this
                 * process may use (a container's cpuset), or set explicitly to fit a
                 * memory limit */
                cpu_set_t set;
                cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                                     : sysconf(_SC_NPROCESSORS_ONLN);
                o->argon2_concurrency = env_u32("BERTH_ARGON2_CONCURRENCY",
                                                cpus > 0 && cpus < 1024 ? (unsigned) cpus : 1, 1, 1024);
        }
        if (o->verify_queue == 0)
                o->verify_queue = env_u32("BERTH_ARGON2_QUEUE",
                                          o->argon2_concurrency <= 4096 ? 16 * o->argon2_concurrency : 65536,
                                          1, 65536);
        if (o->cache_ttl == 0)
                o->cache_ttl = 60;
        if (o->throttle_free == 0)
                o->throttle_free = 4;
        if (o->throttle_max_delay == 0)
                o->throttle_max_delay = 300;
        if (o->throttle_forget == 0)
                o->throttle_forget = 900;
        if (o->token_ttl == 0)
                o->token_ttl = 300;
        if (o->token_rate == 0)
                o->token_rate = 100;
        if (o->token_burst == 0)
                o->token_burst = 500;
}

/* ---- open / free ---- */

auth_t *auth_free(auth_t *a) {
        if (!a)
                return NULL;
        auth_verifiers_stop(a); /* after the jobs still queued: they audit */
        pthread_mutex_lock(&a->audit_lock);
        a->audit_stop = true;
        pthread_cond_signal(&a->audit_cond);
        pthread_mutex_unlock(&a->audit_lock);
        if (a->audit_thread_started)
                pthread_join(a->audit_thread, NULL);
        (void) auth_audit_flush(a);
        a->bearer_key = auth_token_key_free(a->bearer_key);
        a->token_rate = auth_rate_free(a->token_rate);
        if (a->subscribed)
                db_unsubscribe(a->db, on_change, a);
        if (kept.a == a)
                kept.a = NULL;
        if (a->owns_db)
                db_free(a->db);
        a->db = NULL;
        for (size_t i = 0; i < CACHE_LOCKS; i++) {
                pthread_mutex_destroy(&a->cache_locks[i]);
                pthread_mutex_destroy(&a->rights_locks[i]);
        }
        pthread_mutex_destroy(&a->thr_lock);
        pthread_mutex_destroy(&a->argon_lock);
        pthread_cond_destroy(&a->argon_cond);
        pthread_mutex_destroy(&a->vq_lock);
        pthread_cond_destroy(&a->vq_cond);
        pthread_cond_destroy(&a->vq_idle);
        pthread_mutex_destroy(&a->audit_lock);
        pthread_cond_destroy(&a->audit_cond);
        pthread_cond_destroy(&a->audit_done);
        a->cache_key = auth_token_key_free(a->cache_key);
        EVP_MD_free(a->sha256);
        free(a->dummy_hash);
        OPENSSL_cleanse(a, sizeof(*a));
        free(a);
        return NULL;
}

/* Takes db when own is set (freed with a, even on failure). */
static int open_on(db_t *db, bool own, const auth_options_t *opt, auth_t **ret) {
        auth_t *a;
        auth_conn_t *c = NULL;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a) {
                if (own)
                        db_free(db);
                return -ENOMEM;
        }
        a->db = db;
        a->owns_db = own;
        if (opt)
                a->opt = *opt;
        options_resolve(&a->opt);
        for (size_t i = 0; i < CACHE_LOCKS; i++) {
                pthread_mutex_init(&a->cache_locks[i], NULL);
                pthread_mutex_init(&a->rights_locks[i], NULL);
        }
        atomic_store(&a->changes, atomic_fetch_add(&changes_source, 1) + 1);
        pthread_mutex_init(&a->thr_lock, NULL);
        pthread_mutex_init(&a->argon_lock, NULL);
        pthread_cond_init(&a->argon_cond, NULL);
        pthread_mutex_init(&a->vq_lock, NULL);
        pthread_cond_init(&a->vq_cond, NULL);
        pthread_cond_init(&a->vq_idle, NULL);
        pthread_mutex_init(&a->audit_lock, NULL);
        pthread_cond_init(&a->audit_cond, NULL);
        pthread_cond_init(&a->audit_done, NULL);
        r = auth_cache_init(a);
        if (r < 0)
                goto fail;
        r = auth_rate_new(a->opt.token_rate, a->opt.token_burst, &a->token_rate);
        if (r < 0)
                goto fail;
        if (RAND_bytes(a->thr_seed, sizeof(a->thr_seed)) != 1) {
                r = BERTH_ECRYPTO;
                goto fail;
        }
        r = auth_conn_get(a, &c);
        if (r < 0)
                goto fail;
        r = load_token_key(a, c);
        if (r < 0)
                goto fail;
        r = bearer_key_init(a);
        if (r < 0)
                goto fail;
        r = db_subscribe(a->db, on_change, a);
        if (r < 0)
                goto fail;
        a->subscribed = true;
        auth_conn_put(a, c);
        *ret = a;
        return 0;
fail:
        if (c)
                auth_conn_put(a, c);
        auth_free(a);
        return r;
}

int auth_open(const char *data_dir, const auth_options_t *opt, auth_t **ret) {
        _cleanup_free_ char *path = NULL;
        db_t *db = NULL;
        int r;

        if (!data_dir || !*data_dir || !ret)
                return -EINVAL;
        if (mkdir(data_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (asprintf(&path, "%s/berth.db", data_dir) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        r = db_open(path, &db); /* the one migration sequence */
        if (r < 0)
                return r;
        return open_on(db, true, opt, ret);
}

int auth_open_target(const char *target, const auth_options_t *opt, auth_t **ret) {
        db_t *db = NULL;
        int r;

        if (!target || !ret)
                return -EINVAL;
        r = db_open(target, &db);
        if (r < 0)
                return r;
        return open_on(db, true, opt, ret);
}

int auth_open_db(db_t *db, const auth_options_t *opt, auth_t **ret) {
        if (!db || !ret)
                return -EINVAL;
        return open_on(db, false, opt, ret);
}

void auth_stats(auth_t *a, auth_stats_t *ret) {
        ret->argon2_verifications = atomic_load(&a->n_argon2);
        ret->cache_hits = atomic_load(&a->n_cache_hits);
        ret->failures = atomic_load(&a->n_failures);
        ret->throttled = atomic_load(&a->n_throttled);
        ret->verify_busy = atomic_load(&a->n_verify_busy);
        ret->successes = atomic_load(&a->n_successes);
        pthread_mutex_lock(&a->vq_lock);
        ret->queue_depth = a->vq_len;
        pthread_mutex_unlock(&a->vq_lock);
}

