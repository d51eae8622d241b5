/* auth/password.c: password hashing (argon2id) and the verification of user
 * passwords and robot secrets, and the verifier threads with their bounded queue
 * that run verifications off the callers' threads (auth_job_submit). */
#include <argon2.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/macro.h"

/* ---- secrets ---- */

int auth_random_secret(char *buf, size_t len) {
        static const char alnum[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        size_t i = 0;

        if (len == 0)
                return -EINVAL;
        while (i + 1 < len) {
                uint8_t rnd[64];
                if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                        return BERTH_ECRYPTO;
                for (size_t j = 0; j < sizeof(rnd) && i + 1 < len; j++)
                        if (rnd[j] < 248) /* 248 = 4 * 62: no modulo bias */
                                buf[i++] = alnum[rnd[j] % 62];
                OPENSSL_cleanse(rnd, sizeof(rnd));
        }
        buf[i] = '\0';
        return 0;
}

int auth_password_hash(auth_t *a, const char *password, char **ret_encoded) {
        uint8_t salt[16];
        size_t len;
        char *enc;
        int rc;

        if (!password || strlen(password) > AUTH_PASSWORD_MAX)
                return -EINVAL;
        if (RAND_bytes(salt, sizeof(salt)) != 1)
                return BERTH_ECRYPTO;
        len = argon2_encodedlen(a->opt.argon2_passes, a->opt.argon2_memory_kib,
                                a->opt.argon2_lanes, sizeof(salt), 32, Argon2_id);
        enc = malloc(len);
        if (!enc)
                return -ENOMEM;
        rc = argon2id_hash_encoded(a->opt.argon2_passes, a->opt.argon2_memory_kib,
                                   a->opt.argon2_lanes, password, strlen(password), salt,
                                   sizeof(salt), 32, enc, len);
        if (rc != ARGON2_OK) {
                free(enc);
                return rc == ARGON2_MEMORY_ALLOCATION_ERROR ? -ENOMEM : BERTH_ECRYPTO;
        }
        *ret_encoded = enc;
        return 0;
}

int auth_token_mac(const auth_t *a, const char *secret, uint8_t mac[32]) {
        unsigned len = 32;
        if (!HMAC(a->sha256, a->token_key, sizeof(a->token_key), (const uint8_t *) secret,
                  strlen(secret), mac, &len) || len != 32)
                return BERTH_ECRYPTO;
        return 0;
}

/* Argon2 verification with bounded concurrency. 0 match, BERTH_EAUTH mismatch. */
static int argon2_check(auth_t *a, const char *encoded, const char *password) {
        int rc;

        pthread_mutex_lock(&a->argon_lock);
        while (a->argon_running >= a->opt.argon2_concurrency)
                pthread_cond_wait(&a->argon_cond, &a->argon_lock);
        a->argon_running++;
        pthread_mutex_unlock(&a->argon_lock);

        atomic_fetch_add(&a->n_argon2, 1);
        /* libargon2 compares the tags in constant time. */
        rc = argon2id_verify(encoded, password, strlen(password));

        pthread_mutex_lock(&a->argon_lock);
        a->argon_running--;
        pthread_cond_signal(&a->argon_cond);
        pthread_mutex_unlock(&a->argon_lock);

        if (rc == ARGON2_OK)
                return 0;
        if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
                return -ENOMEM;
        return BERTH_EAUTH;
}

static int dummy_verify(auth_t *a, const char *password) {
        char pw[25];
        int r;

        pthread_mutex_lock(&a->argon_lock);
        if (!a->dummy_hash) {
                r = auth_random_secret(pw, sizeof(pw));
                if (r == 0)
                        r = auth_password_hash(a, pw, &a->dummy_hash);
                OPENSSL_cleanse(pw, sizeof(pw));
                if (r < 0) {
                        pthread_mutex_unlock(&a->argon_lock);
                        return r;
                }
        }
        pthread_mutex_unlock(&a->argon_lock);
        (void) argon2_check(a, a->dummy_hash, password);
        return BERTH_EAUTH;
}

/* Fresh verification of user:password. Fills who; *ret_until caps the cache time. */
int auth_verify_credentials(auth_t *a, auth_conn_t *c, const char *user,
                              const char *password, auth_result_t *who, time_t *ret_until) {
        static const char sql_user[] = "SELECT hash, admin FROM auth_users WHERE name = ?1";
        static const char sql_token[] =
                "SELECT project, push, mac, expires FROM auth_tokens WHERE name = ?1";
        char hash[HASH_ENCODED_MAX];
        const char *text;
        int r;

        *ret_until = 0;
        if (strncmp(user, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) == 0) {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;
                uint8_t mac[32];
                const void *stored;
                size_t stored_len = 0;
                int64_t expires;
                bool ok;

                if ((r = db_stmt(c, sql_token, &st)) < 0 || (r = db_bind_text(st, 1, user)) < 0)
                        return r;
                r = db_step(st);
                if (r <= 0)
                        return r == 0 ? BERTH_EAUTH : r;
                r = auth_token_mac(a, password, mac);
                if (r < 0)
                        return r;
                stored = db_col_blob(st, 2, &stored_len);
                ok = stored_len == sizeof(mac) && stored &&
                     CRYPTO_memcmp(stored, mac, sizeof(mac)) == 0;
                expires = db_col_int(st, 3);
                if (ok && expires != 0 && expires <= auth_now(a))
                        ok = false;
                if (ok) {
                        text = db_col_text(st, 0);
                        snprintf(who->robot_project, sizeof(who->robot_project), "%s",
                                 text ? text : "");
                        who->robot_push = db_col_int(st, 1) != 0;
                        who->robot = true;
                        who->admin = false;
                        *ret_until = (time_t) expires;
                }
                return ok ? 0 : BERTH_EAUTH;
        }

        {
                _cleanup_db_stmt_ db_stmt_t *st = NULL;

                if ((r = db_stmt(c, sql_user, &st)) < 0 || (r = db_bind_text(st, 1, user)) < 0)
                        return r;
                r = db_step(st);
                if (r < 0)
                        return r;
                if (r == 0) {
                        db_stmt_reset(st);
                        return dummy_verify(a, password);
                }
                text = db_col_text(st, 0);
                if (!text || strlen(text) >= sizeof(hash))
                        return BERTH_EDB;
                snprintf(hash, sizeof(hash), "%s", text);
                who->admin = db_col_int(st, 1) != 0;
                who->robot = false;
        } /* reset here: no read transaction held during the slow part */
        return argon2_check(a, hash, password);
}

int auth_credentials_verify(auth_t *a, const char *user, const char *password) {
        auth_result_t who = {0};
        auth_conn_t *c;
        time_t until;
        int r;

        if (!a || !user || !password)
                return -EINVAL;
        r = auth_conn_get(a, &c);
        if (r < 0)
                return r;
        r = auth_verify_credentials(a, c, user, password, &who, &until);
        auth_conn_put(a, c);
        return r;
}

static void *verifier_main(void *arg) {
        auth_t *a = arg;
        auth_job_t *job;
        void (*done)(void *);
        void *userdata;

        pthread_mutex_lock(&a->vq_lock);
        for (;;) {
                while (!a->vq_head && !a->vq_stop)
                        pthread_cond_wait(&a->vq_cond, &a->vq_lock);
                job = a->vq_head;
                if (!job)
                        break; /* stopping, and nothing is left to do */
                a->vq_head = job->next;
                if (!a->vq_head)
                        a->vq_tail = NULL;
                a->vq_len--;
                a->vq_running++;
                pthread_mutex_unlock(&a->vq_lock);

                job->next = NULL;
                done = job->done_fn;
                userdata = job->userdata;
                auth_job_run(a, job);
                done(userdata); /* the job is the caller's again: not touched after this */

                pthread_mutex_lock(&a->vq_lock);
                a->vq_running--;
                if (!a->vq_head && a->vq_running == 0)
                        pthread_cond_broadcast(&a->vq_idle);
        }
        pthread_mutex_unlock(&a->vq_lock);
        return NULL;
}

int auth_job_submit(auth_t *a, auth_job_t *job, void (*done)(void *userdata), void *userdata) {
        if (!a || !job || !done)
                return -EINVAL;
        pthread_mutex_lock(&a->vq_lock);
        if (a->vq_closed) {
                pthread_mutex_unlock(&a->vq_lock);
                return -ESHUTDOWN;
        }
        if (!a->vq_threads) {
                a->vq_threads = calloc(a->opt.argon2_concurrency, sizeof(pthread_t));
                for (unsigned i = 0; a->vq_threads && i < a->opt.argon2_concurrency; i++) {
                        if (pthread_create(&a->vq_threads[i], NULL, verifier_main, a) != 0)
                                break;
                        a->vq_nthreads++;
                }
                if (a->vq_nthreads == 0) {
                        free(a->vq_threads);
                        a->vq_threads = NULL;
                        pthread_mutex_unlock(&a->vq_lock);
                        return -EAGAIN;
                }
        }
        if (a->vq_len >= a->opt.verify_queue) {
                pthread_mutex_unlock(&a->vq_lock);
                atomic_fetch_add(&a->n_verify_busy, 1);
                return BERTH_EBUSY;
        }
        atomic_store(&job->done, false);
        job->done_fn = done;
        job->userdata = userdata;
        job->next = NULL;
        if (a->vq_tail)
                a->vq_tail->next = job;
        else
                a->vq_head = job;
        a->vq_tail = job;
        a->vq_len++;
        pthread_cond_signal(&a->vq_cond);
        pthread_mutex_unlock(&a->vq_lock);
        return 0;
}

void auth_verify_drain(auth_t *a) {
        if (!a)
                return;
        pthread_mutex_lock(&a->vq_lock);
        a->vq_closed = true;
        while (a->vq_head || a->vq_running > 0)
                pthread_cond_wait(&a->vq_idle, &a->vq_lock);
        pthread_mutex_unlock(&a->vq_lock);
}

/* Stops the verifier threads once the queue is empty (auth_free). */
void auth_verifiers_stop(auth_t *a) {
        pthread_mutex_lock(&a->vq_lock);
        a->vq_stop = true;
        a->vq_closed = true;
        pthread_cond_broadcast(&a->vq_cond);
        pthread_mutex_unlock(&a->vq_lock);
        for (unsigned i = 0; i < a->vq_nthreads; i++)
                pthread_join(a->vq_threads[i], NULL);
        free(a->vq_threads);
        a->vq_threads = NULL;
        a->vq_nthreads = 0;
}
