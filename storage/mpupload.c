/* storage/mpupload.c: chunked uploads on a driver with staged uploads (see
 * mpupload.h for the protocol and why the hash state travels with the row). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "common/base64.h"
#include "common/err.h"
#include "common/macro.h"
#include "storage/mpupload.h"
#include "storage/store-internal.h"

/* A part handed to a sender thread. */
struct part_job {
        struct part_job *next;
        mpupload_t *u;
        unsigned num;
        bool begin;             /* the session's first part: begins the multipart upload */
        char upload_id[512];    /* the multipart upload's (begin: filled by the sender) */
        char *buf;              /* the part's bytes (back to u->spare once it ended) */
        size_t len;
        char etag[128];
        int r;
        bool done;              /* under u->lock */
};

struct mpupload {
        store_t *store;
        blobstore_t *bs;
        meta_t *meta;
        meta_upsession_t row;   /* as saved; row.size etc. move only at a save */
        char holder[33];        /* this request's lease token */
        uint64_t size;          /* bytes received, this request's included */
        digest_ctx_t *ctx;      /* NULL: the state was lost (re-read at the commit) */
        char *buf;              /* the part being gathered (the tail first); NULL none yet */
        size_t buf_len;
        bool full;              /* buf is a whole part waiting for room among the senders */
        blobstore_part_t *parts; /* sent: the saved ones, then this request's */
        unsigned n_parts, n_saved, cap_parts;
        unsigned next_num;      /* the number of the next part handed over */
        char upload_id[512];
        bool gone;              /* committed or removed */
        int err;                /* first failure of this request: nothing more is taken */
        /* parts in flight, each on a sender thread of its own (MPUPLOAD_IN_FLIGHT at
         * most); everything below is the request's thread's but what lock guards */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct part_job *jobs, **jobs_tail; /* handed over, in order (lock) */
        unsigned in_flight;     /* jobs not ended (lock) */
        void (*resume)(void *userdata); /* called once by the next part that ends (lock) */
        void *resume_userdata;
        bool abandoned;         /* released with parts in flight: the last one releases (lock) */
        /* direct (mpupload_direct): the whole blob in this request, its digest known:
         * parts of part_size under the blob's own key, max_in_flight at once */
        bool direct, direct_done, dedup; /* dedup: stored already, bytes only hashed */
        digest_t want;
        size_t part_size;
        unsigned max_in_flight;
        char begun_id[512];     /* the multipart upload's id once the first part's sender
                                 * began it: the next parts need not wait for that part (lock) */
        char *spare[MPUPLOAD_IN_FLIGHT + 1]; /* part buffers not in use */
        unsigned n_spare, n_bufs; /* n_bufs: allocated in all */
        /* the request's other waits on the store, each on a thread of its own (op_main)
         * while the request waits (mpupload_wait), one at a time and never beside
         * parts: the tail read back, the HEAD before a direct upload, a save's tail
         * PUT, the commit, a cancel (a tail a save replaced is removed by a thread not waited
         * for: tail_remove_async). op is the request's thread's
         * (written under lock, so that a sender reads it there too). */
        int op;                 /* OP_*, 0 none; stays until taken (op_take) */
        bool op_done;           /* ended (lock) */
        int op_r;               /* its outcome (lock) */
        bool tail_due;          /* the saved tail is still to be read back (lazily: a
                                 * DELETE never reads it) */
        uint64_t op_gen;        /* OP_SAVE: the tail's new generation */
        const char *op_repo;    /* OP_COMMIT */
        digest_t op_want;
        bool discard;           /* released to be removed (mpupload_discard) */
};

enum { OP_TAIL = 1, OP_STAT, OP_SAVE, OP_COMMIT, OP_REMOVE };

bool mpupload_offered(const store_t *s) {
        return s && s->bs->ops->staged_begin && s->bs->ops->put;
}

static int64_t now_of(const mpupload_t *u) {
        return (int64_t) store__now(u->store);
}

/* ---- the row's text forms ---- */

/* The hash state of the row, or NULL (lost, or not this build's). */
static digest_ctx_t *state_import(const char *text, digest_alg_t alg, uint64_t size) {
        _cleanup_free_ uint8_t *b = NULL;
        digest_ctx_t *c = NULL;
        size_t n;
        long len;

        if (!text || !(b = malloc((n = strlen(text)) / 4 * 3 + 3)) ||
            (len = base64_decode(BASE64_STD, text, n, b, n / 4 * 3 + 3)) <= 0)
                return NULL;
        if (digest_ctx_import(b, (size_t) len, &c) < 0)
                return NULL;
        if (digest_ctx_alg(c) != alg || digest_ctx_bytes(c) != size)
                return digest_ctx_free(c); /* not this session's */
        return c;
}

static char *state_export(const digest_ctx_t *c) {
        _cleanup_free_ uint8_t *b = NULL;
        size_t n;

        if (!c || !(n = digest_ctx_export(c, NULL, 0)) || !(b = malloc(n)) || digest_ctx_export(c, b, n) != n)
                return NULL;
        return base64_encode_alloc(BASE64_STD, b, n);
}

static int parts_add(mpupload_t *u, unsigned num, const char *etag) {
        if (u->n_parts == u->cap_parts) {
                unsigned nc = u->cap_parts ? u->cap_parts * 2 : 16;
                void *p = reallocarray(u->parts, nc, sizeof(*u->parts));
                if (!p)
                        return -ENOMEM;
                u->parts = p;
                u->cap_parts = nc;
        }
        u->parts[u->n_parts].num = num;
        if (snprintf(u->parts[u->n_parts].etag, sizeof(u->parts[0].etag), "%s", etag) >= (int) sizeof(u->parts[0].etag))
                return -EIO;
        u->n_parts++;
        return 0;
}

/* "number etag" lines, in order from 1. */
static int parts_parse(mpupload_t *u, const char *text) {
        const char *p = text;

        while (*p) {
                char etag[128];
                unsigned num;
                int k = 0;
                if (sscanf(p, "%u %127s%n", &num, etag, &k) != 2 || k <= 0 || num != u->n_parts + 1)
                        return BERTH_EDB;
                if (parts_add(u, num, etag) < 0)
                        return -ENOMEM;
                p += k;
                while (*p == '\n')
                        p++;
        }
        return 0;
}

static char *parts_text(const mpupload_t *u) {
        size_t cap = (size_t) u->n_parts * (sizeof(u->parts[0].etag) + 16) + 1, len = 0;
        char *s = malloc(cap);

        if (!s)
                return NULL;
        s[0] = '\0';
        for (unsigned i = 0; i < u->n_parts; i++)
                len += (size_t) snprintf(s + len, cap - len, "%u %s\n", u->parts[i].num, u->parts[i].etag);
        return s;
}

/* ---- sessions ---- */

int mpupload_create(store_t *s, meta_t *m, const char *repo, digest_alg_t alg, char ret_uuid[UPLOAD_UUID_LEN + 1]) {
        int r;

        if (!mpupload_offered(s) || !m || !repo)
                return -EINVAL;
        r = store__uuid_new(ret_uuid);
        return r < 0 ? r : meta_upsession_add(m, ret_uuid, repo, alg);
}

int mpupload_committed(meta_t *m, const char *uuid, uint64_t *ret_size) {
        meta_upsession_t row;
        int r;

        if (!store__uuid_valid(uuid))
                return -ENOENT;
        r = meta_upsession_get(m, uuid, &row);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        *ret_size = row.size;
        meta_upsession_clear(&row);
        return 0;
}

uint64_t mpupload_size(const mpupload_t *u) {
        return u ? u->size : 0;
}

static void mp_free(mpupload_t *u) {
        while (u->jobs) { /* every one ended */
                struct part_job *j = u->jobs;
                u->jobs = j->next;
                free(j->buf);
                free(j);
        }
        for (unsigned i = 0; i < u->n_spare; i++)
                free(u->spare[i]);
        (void) pthread_cond_destroy(&u->cond);
        (void) pthread_mutex_destroy(&u->lock);
        meta_upsession_clear(&u->row);
        digest_ctx_free(u->ctx);
        free(u->buf);
        free(u->parts);
        free(u);
}

int mpupload_acquire(store_t *s, meta_t *m, const char *uuid, mpupload_t **ret) {
        uint8_t tok[16];
        mpupload_t *u;
        int64_t now;
        int r;

        if (!mpupload_offered(s) || !m || !ret)
                return -EINVAL;
        if (!store__uuid_valid(uuid))
                return -ENOENT; /* never let it near a key */
        if (!(u = calloc(1, sizeof(*u))))
                return -ENOMEM;
        if (pthread_mutex_init(&u->lock, NULL) != 0) {
                free(u);
                return -ENOMEM;
        }
        if (pthread_cond_init(&u->cond, NULL) != 0) {
                (void) pthread_mutex_destroy(&u->lock);
                free(u);
                return -ENOMEM;
        }
        u->jobs_tail = &u->jobs;
        u->store = s;
        u->bs = s->bs;
        u->meta = m;
        if (getrandom(tok, sizeof(tok), 0) != (ssize_t) sizeof(tok)) {
                mp_free(u);
                return -EIO;
        }
        for (size_t i = 0; i < sizeof(tok); i++)
                (void) snprintf(u->holder + 2 * i, 3, "%02x", tok[i]);
        now = now_of(u);
        r = meta_upsession_take(m, uuid, u->holder, now, now + MPUPLOAD_LEASE_SEC, &u->row);
        if (r <= 0) {
                mp_free(u);
                return r < 0 ? r : -ENOENT;
        }
        /* from here on the lease is ours: mpupload_release gives it back */
        u->size = u->row.size;
        (void) snprintf(u->upload_id, sizeof(u->upload_id), "%s", u->row.upload_id);
        r = parts_parse(u, u->row.parts);
        u->n_saved = u->n_parts;
        u->next_num = u->n_parts + 1;
        u->part_size = MPUPLOAD_PART;
        u->max_in_flight = MPUPLOAD_IN_FLIGHT;
        if (r >= 0 && u->row.tail_size >= MPUPLOAD_PART)
                r = BERTH_EDB;
        if (r >= 0 && !(u->buf = malloc(MPUPLOAD_PART)))
                r = -ENOMEM;
        if (r >= 0)
                u->n_bufs = 1;
        if (r >= 0 && u->row.tail_size) {
                /* read back by a thread when the request first needs it (op_prepare) */
                u->tail_due = true;
                u->buf_len = (size_t) u->row.tail_size;
        }
        if (r >= 0) {
                u->ctx = state_import(u->row.hash, u->row.alg, u->size);
                if (!u->ctx && u->size == 0)
                        r = digest_ctx_new(u->row.alg, &u->ctx);
        }
        if (r < 0) {
                mpupload_release(u);
                return r;
        }
        *ret = u;
        return 0;
}

/* A direct upload not completed: given up (nothing becomes visible). After its
 * parts ended. */
static void direct_giveup(mpupload_t *u) {
        const char *id = u->upload_id[0] ? u->upload_id : u->begun_id;

        if (u->direct && !u->direct_done && id[0]) {
                (void) u->bs->ops->direct_abort(u->bs, &u->want, id);
                u->direct_done = true;
        }
        /* none begun yet: the last part to end gives it up (abandoned_release) */
}

static int drop(blobstore_t *bs, meta_t *m, const meta_upsession_t *row, const char *upload_id, bool spent);

/* Off the request's thread (the last sender or step of a request that let go while
 * they were in flight, or a thread of its own when letting go asks the store): a
 * direct upload given up, the session removed (mpupload_discard) or its lease given
 * back now that none of its parts can land any more (on a connection of the
 * database's pool; failing that, the lease runs out by itself, and a session to remove
 * is the expiry's). */
static void abandoned_release(mpupload_t *u) {
        meta_t *m = NULL;

        direct_giveup(u);
        if (!u->gone && meta_open_pooled(meta_db(u->meta), &m) >= 0) {
                if (!u->discard || drop(u->bs, m, &u->row, u->direct ? u->row.upload_id : u->upload_id, false) < 0)
                        (void) meta_upsession_release(m, u->row.uuid, u->holder);
                meta_free(m);
        }
        mp_free(u);
}

/* Start fn(arg) on a detached thread counted by the store (store_quiesce waits for
 * it; fn ends with store__bg_leave). */
static int start_thread(mpupload_t *u, void *(*fn)(void *), void *arg) {
        pthread_attr_t attr;
        pthread_t th;
        int r;

        if (pthread_attr_init(&attr) != 0)
                return -ENOMEM;
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        store__bg_enter(u->store);
        r = pthread_create(&th, &attr, fn, arg);
        (void) pthread_attr_destroy(&attr);
        if (r != 0) {
                store__bg_leave(u->store);
                return -r;
        }
        return 0;
}

static void *release_main(void *arg) {
        mpupload_t *u = arg;
        store_t *s = u->store;

        abandoned_release(u);
        store__bg_leave(s);
        return NULL;
}

/* A step in flight on its thread (lock). */
static bool op_running(const mpupload_t *u) {
        return u->op && !u->op_done;
}

static void let_go(mpupload_t *u, bool discard) {
        if (!u)
                return;
        pthread_mutex_lock(&u->lock);
        u->discard = discard && !u->gone;
        if (u->in_flight || op_running(u)) {
                /* never waited for here: the last part (or step) to end gives the
                 * lease back, so that no part of this request lands after another
                 * request took the session */
                u->abandoned = true;
                u->resume = NULL;
                pthread_mutex_unlock(&u->lock);
                return;
        }
        pthread_mutex_unlock(&u->lock);
        if (!u->gone && (u->discard || (u->direct && !u->direct_done && (u->upload_id[0] || u->begun_id[0]))) &&
            start_thread(u, release_main, u) == 0)
                return; /* the store asked off this thread */
        direct_giveup(u);
        if (!u->gone && (!u->discard ||
                         drop(u->bs, u->meta, &u->row, u->direct ? u->row.upload_id : u->upload_id, false) < 0))
                (void) meta_upsession_release(u->meta, u->row.uuid, u->holder);
        mp_free(u);
}

void mpupload_release(mpupload_t *u) {
        let_go(u, false);
}

void mpupload_discard(mpupload_t *u) {
        let_go(u, true);
}

/* ---- the request's steps that wait on the store, beside the request ---- */

static int commit_work(mpupload_t *u);
static int remove_work(mpupload_t *u);


/* Under u->lock, a thread's work ended: the request waiting for it resumed (unless
 * its session was abandoned), blocking waiters woken. */
static void thread_ended_locked(mpupload_t *u) {
        if (!u->abandoned && u->resume) {
                void (*fn)(void *) = u->resume;
                u->resume = NULL;
                fn(u->resume_userdata);
        }
        pthread_cond_broadcast(&u->cond);
}
static void *op_main(void *arg) {
        mpupload_t *u = arg;
        store_t *s = u->store;
        blobstore_t *bs = u->bs;
        bool last = false;
        int op, r = 0;

        pthread_mutex_lock(&u->lock);
        op = u->op;
        pthread_mutex_unlock(&u->lock);
        /* the request does not touch what its step works on until it took its end */
        switch (op) {
        case OP_TAIL:
                r = bs->ops->staged_tail_get(bs, u->row.uuid, u->row.tail_gen, u->buf, (size_t) u->row.tail_size);
                break;
        case OP_STAT:
                r = bs->ops->stat(bs, &u->want, NULL);
                if (r >= 0) {
                        u->dedup = r == 1;
                        r = 0;
                }
                break;
        case OP_SAVE:
                r = bs->ops->staged_tail_put(bs, u->row.uuid, u->op_gen, u->buf ? u->buf : "", u->buf_len);
                break;
        case OP_COMMIT:
                r = commit_work(u);
                break;
        case OP_REMOVE:
                r = remove_work(u);
                break;
        default:
                r = -EINVAL;
        }
        pthread_mutex_lock(&u->lock);
        u->op_r = r;
        u->op_done = true;
        if (u->abandoned)
                last = u->in_flight == 0;
        thread_ended_locked(u);
        pthread_mutex_unlock(&u->lock);
        if (last)
                abandoned_release(u);
        store__bg_leave(s);
        return NULL;
}

/* The step op handed to a thread: 0, or <0 (none started). */
static int op_start(mpupload_t *u, int op) {
        int r;

        pthread_mutex_lock(&u->lock);
        u->op = op;
        u->op_done = false;
        r = start_thread(u, op_main, u);
        if (r < 0)
                u->op = 0;
        pthread_mutex_unlock(&u->lock);
        return r;
}

/* The step in flight: 1 not ended yet (wait), 0 none or it succeeded (taken), <0 it
 * failed (taken). */
static int op_take(mpupload_t *u) {
        int r;

        pthread_mutex_lock(&u->lock);
        if (!u->op) {
                r = 0;
        } else if (!u->op_done) {
                r = 1;
        } else {
                r = u->op_r;
                u->op = 0;
                u->op_done = false;
        }
        pthread_mutex_unlock(&u->lock);
        return r;
}

/* Before the request's bytes are taken or its parts flushed: the tail read back (a
 * step started), the step that did so or asked whether a direct upload's blob is
 * stored taken. 0 go on, 1 wait (mpupload_wait), <0 failed. */
static int op_prepare(mpupload_t *u) {
        int r;

        if (u->tail_due) {
                u->tail_due = false;
                r = op_start(u, OP_TAIL);
                return r < 0 ? r : 1;
        }
        return op_take(u);
}

int mpupload_direct(mpupload_t *u, const digest_t *want) {
        int r;

        if (!u || !want)
                return -EINVAL;
        if (u->gone)
                return -ENOENT;
        if (!u->bs->ops->direct_begin)
                return 0;
        if (u->direct || u->size || u->n_parts || u->jobs || u->buf_len || u->op)
                return -EINVAL;
        u->direct = true;
        u->want = *want;
        u->part_size = MPUPLOAD_DIRECT_PART;
        u->max_in_flight = MPUPLOAD_DIRECT_IN_FLIGHT;
        free(u->buf); /* the next one of part_size */
        u->buf = NULL;
        u->n_bufs = 0;
        /* stored already? asked while the body begins to arrive: nothing is sent
         * before the answer (op_take) */
        r = op_start(u, OP_STAT);
        return r < 0 ? r : 1;
}

/* ---- parts, sent beside the request ---- */

static void *part_main(void *arg) {
        struct part_job *j = arg;
        mpupload_t *u = j->u;
        store_t *s = u->store;
        blobstore_t *bs = u->bs;
        bool last = false;
        int r = 0;

        if (j->begin) {
                r = u->direct ? bs->ops->direct_begin(bs, &u->want, j->upload_id, sizeof(j->upload_id))
                              : bs->ops->staged_begin(bs, u->row.uuid, j->upload_id, sizeof(j->upload_id));
                pthread_mutex_lock(&u->lock);
                if (r >= 0) {
                        /* the other parts may go now, beside this one */
                        memcpy(u->begun_id, j->upload_id, sizeof(u->begun_id));
                        if (u->resume && !u->abandoned) {
                                void (*fn)(void *) = u->resume;
                                u->resume = NULL;
                                fn(u->resume_userdata);
                        }
                        pthread_cond_broadcast(&u->cond);
                }
                pthread_mutex_unlock(&u->lock);
        }
        if (r >= 0 && u->direct)
                r = bs->ops->direct_part(bs, &u->want, j->upload_id, j->num, j->buf, j->len, j->etag,
                                         sizeof(j->etag));
        else if (r >= 0)
                r = bs->ops->staged_part(bs, u->row.uuid, j->upload_id, j->num, j->buf, j->len, j->etag,
                                         sizeof(j->etag));
        pthread_mutex_lock(&u->lock);
        j->r = r;
        j->done = true;
        u->in_flight--;
        if (u->abandoned)
                last = u->in_flight == 0 && !op_running(u);
        thread_ended_locked(u);
        pthread_mutex_unlock(&u->lock);
        if (last)
                abandoned_release(u);
        store__bg_leave(s);
        return NULL;
}

/* The lease renewed: the hold lasts while parts keep going. */
static int renew(mpupload_t *u) {
        meta_upsession_t tmp;
        int64_t now = now_of(u);
        int r = meta_upsession_take(u->meta, u->row.uuid, u->holder, now, now + MPUPLOAD_LEASE_SEC, &tmp);

        if (r == 1)
                meta_upsession_clear(&tmp);
        if (r == 0)
                return -ENOENT; /* expired or cancelled meanwhile */
        return r < 0 ? r : 0;
}

/* On the request's thread: the parts that ended taken in (their buffers back to
 * spare, the leading run of them into parts[] in order, the lease renewed); the
 * first failure kept in u->err, which it returns. */
static int reap(mpupload_t *u) {
        bool ended = false;
        int r = 0;

        pthread_mutex_lock(&u->lock);
        for (struct part_job *j = u->jobs; j; j = j->next)
                if (j->done && j->buf) {
                        u->spare[u->n_spare++] = j->buf;
                        j->buf = NULL;
                }
        while (u->jobs && u->jobs->done) {
                struct part_job *j = u->jobs;
                if (!(u->jobs = j->next))
                        u->jobs_tail = &u->jobs;
                if (j->r < 0 && r == 0)
                        r = j->r;
                if (j->r >= 0 && r == 0) {
                        if (j->begin)
                                (void) snprintf(u->upload_id, sizeof(u->upload_id), "%s", j->upload_id);
                        r = parts_add(u, j->num, j->etag);
                }
                ended = true;
                free(j);
        }
        pthread_mutex_unlock(&u->lock);
        if (r == 0 && ended)
                r = renew(u);
        if (r < 0 && !u->err)
                u->err = r;
        return u->err;
}

/* Room for one more part among the senders? (The first begins the multipart
 * upload: the others wait for its id.) */
static bool can_push(mpupload_t *u) {
        bool ok;

        pthread_mutex_lock(&u->lock);
        if (!u->upload_id[0] && u->begun_id[0])
                memcpy(u->upload_id, u->begun_id, sizeof(u->upload_id));
        ok = u->in_flight < u->max_in_flight && (u->upload_id[0] || !u->jobs);
        pthread_mutex_unlock(&u->lock);
        return ok;
}

/* u->buf (buf_len bytes) handed to a sender as the next part. */
static int push(mpupload_t *u) {
        struct part_job *j;
        pthread_attr_t attr;
        pthread_t th;
        int r;

        if (u->next_num > 10000)
                return -EFBIG;
        if (!(j = calloc(1, sizeof(*j))))
                return -ENOMEM;
        j->u = u;
        j->num = u->next_num;
        j->buf = u->buf;
        j->len = u->buf_len;
        j->begin = !u->upload_id[0];
        memcpy(j->upload_id, u->upload_id, sizeof(j->upload_id));
        if (pthread_attr_init(&attr) != 0) {
                free(j);
                return -ENOMEM;
        }
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        store__bg_enter(u->store);
        pthread_mutex_lock(&u->lock);
        r = pthread_create(&th, &attr, part_main, j);
        if (r == 0) {
                *u->jobs_tail = j;
                u->jobs_tail = &j->next;
                u->in_flight++;
        }
        pthread_mutex_unlock(&u->lock);
        (void) pthread_attr_destroy(&attr);
        if (r != 0) {
                store__bg_leave(u->store);
                free(j);
                return -r;
        }
        u->next_num++;
        u->buf = NULL;
        u->buf_len = 0;
        u->full = false;
        return 0;
}

/* A buffer to gather the next part in: 0, or 1 none free (all in flight). */
static int get_buf(mpupload_t *u) {
        if (u->buf)
                return 0;
        if (!u->n_spare && u->n_bufs > u->max_in_flight)
                (void) reap(u);
        if (u->n_spare) {
                u->buf = u->spare[--u->n_spare];
                return 0;
        }
        if (u->n_bufs > u->max_in_flight)
                return 1;
        if (!(u->buf = malloc(u->part_size)))
                return -ENOMEM;
        u->n_bufs++;
        return 0;
}

int mpupload_write_some(mpupload_t *u, const void *buf, size_t len, size_t *ret_taken) {
        const char *p = buf;
        int r;

        if (!u || (!buf && len) || !ret_taken)
                return -EINVAL;
        *ret_taken = 0;
        if (u->gone)
                return -ENOENT;
        if ((r = reap(u)) < 0)
                return r;
        if ((r = op_prepare(u)) != 0)
                return r < 0 ? (u->err = r) : 1;
        if (u->dedup) { /* stored already: hashed for the digest check, not sent */
                if (u->ctx && digest_ctx_update(u->ctx, buf, len) < 0)
                        u->ctx = digest_ctx_free(u->ctx);
                u->size += len;
                *ret_taken = len;
                return 0;
        }
        while (len > 0) {
                size_t n;

                if (u->full) {
                        if (!can_push(u))
                                return 1;
                        if ((r = push(u)) < 0)
                                return u->err = r;
                }
                r = get_buf(u);
                if (r < 0)
                        return u->err = r;
                if (r > 0)
                        return 1;
                n = u->part_size - u->buf_len < len ? u->part_size - u->buf_len : len;
                if (u->ctx && digest_ctx_update(u->ctx, p, n) < 0)
                        u->ctx = digest_ctx_free(u->ctx); /* lost: re-read at the commit */
                memcpy(u->buf + u->buf_len, p, n);
                u->buf_len += n;
                u->size += n;
                *ret_taken += n;
                p += n;
                len -= n;
                if (u->buf_len == u->part_size)
                        u->full = true;
        }
        if (u->full && can_push(u) && (r = push(u)) < 0)
                return u->err = r;
        return 0;
}

/* Is there nothing to go on with but to wait for a part or step to end? (lock) */
static bool must_wait(const mpupload_t *u) {
        if (!u->upload_id[0] && u->begun_id[0])
                return false;
        for (struct part_job *j = u->jobs; j; j = j->next)
                if (j->done)
                        return false;
        if (u->op)
                return !u->op_done;
        return u->in_flight > 0;
}

int mpupload_wait(mpupload_t *u, void (*suspend)(void *userdata), void (*resume)(void *userdata), void *userdata) {
        if (!u || !suspend || !resume)
                return -EINVAL;
        pthread_mutex_lock(&u->lock);
        if (!must_wait(u)) {
                pthread_mutex_unlock(&u->lock);
                return 0;
        }
        /* under the lock: no part can end before the caller is suspended */
        suspend(userdata);
        u->resume = resume;
        u->resume_userdata = userdata;
        pthread_mutex_unlock(&u->lock);
        return 1;
}

/* The same, for a caller that may block (tests, the blocking calls below). */
static void wait_blocking(mpupload_t *u) {
        pthread_mutex_lock(&u->lock);
        while (must_wait(u))
                pthread_cond_wait(&u->cond, &u->lock);
        pthread_mutex_unlock(&u->lock);
}

/* A step (1: under way on a thread, else its outcome) taken to its end, waiting. */
static int step_blocking(mpupload_t *u, int (*step)(mpupload_t *u)) {
        for (;;) {
                int r = step(u);
                if (r != 1)
                        return r;
                wait_blocking(u);
        }
}

int mpupload_write(mpupload_t *u, const void *buf, size_t len) {
        const char *p = buf;

        for (;;) {
                size_t n = 0;
                int r = mpupload_write_some(u, p, len, &n);
                if (r <= 0)
                        return r;
                p += n;
                len -= n;
                wait_blocking(u);
        }
}

/* Does the final PUT send what is gathered as the last part? Not when the digest
 * does not match (the commit refuses it, the session as it was) nor when the blob
 * never reached a part (one PUT of the whole of it under its digest). */
static bool last_part_due(mpupload_t *u, const digest_t *want) {
        bool lost = !u->ctx || digest_ctx_alg(u->ctx) != want->alg;
        digest_t got;

        if (u->dedup)
                return false;
        if (!lost) {
                if (digest_ctx_peek(u->ctx, &got) < 0 || !digest_equal(&got, want))
                        return false;
                if (u->next_num == 1 && !u->upload_id[0])
                        return false;
        }
        return u->buf_len > 0 || u->next_num == 1;
}

/* Parts in flight, or ended and not yet taken in. */
static bool parts_busy(mpupload_t *u) {
        pthread_mutex_lock(&u->lock);
        bool busy = u->in_flight > 0 || u->jobs;
        pthread_mutex_unlock(&u->lock);
        return busy;
}

int mpupload_flush(mpupload_t *u, const digest_t *want) {
        int r;

        if (!u)
                return -EINVAL;
        if (u->gone)
                return -ENOENT;
        if ((r = reap(u)) < 0)
                return r;
        if ((r = op_prepare(u)) != 0)
                return r < 0 ? (u->err = r) : 1;
        if (u->full || (want ? last_part_due(u, want) : u->buf_len >= MPUPLOAD_PART_MIN)) {
                if (!can_push(u))
                        return 1;
                if ((r = push(u)) < 0)
                        return u->err = r;
        }
        if (!parts_busy(u))
                return 0;
        /* ended meanwhile: taken in now */
        if ((r = reap(u)) < 0)
                return r;
        return parts_busy(u) ? 1 : 0;
}

struct tail_rm {
        store_t *store;
        blobstore_t *bs;
        char uuid[UPLOAD_UUID_LEN + 1];
        uint64_t gen;
};

static void *tail_rm_main(void *arg) {
        struct tail_rm *t = arg;
        store_t *s = t->store;

        (void) t->bs->ops->staged_tail_remove(t->bs, t->uuid, t->gen);
        free(t);
        store__bg_leave(s);
        return NULL;
}

/* The tail object of generation gen removed by a thread of its own, not waited for:
 * no row names it (a failure leaves it to the expiry, as it always did). */
static void tail_remove_async(mpupload_t *u, uint64_t gen) {
        struct tail_rm *t = calloc(1, sizeof(*t));

        if (t) {
                t->store = u->store;
                t->bs = u->bs;
                (void) snprintf(t->uuid, sizeof(t->uuid), "%s", u->row.uuid);
                t->gen = gen;
                if (start_thread(u, tail_rm_main, t) == 0)
                        return;
                free(t);
        }
        (void) u->bs->ops->staged_tail_remove(u->bs, u->row.uuid, gen); /* no thread: here */
}

/* A save's end on the request's thread once the tail is up under generation
 * op_gen: the row naming it (one short write), then the tail it replaces removed
 * (not waited for). */
static int save_row(mpupload_t *u) {
        meta_upsession_t row;
        uint64_t old_gen = u->row.tail_gen;
        int64_t now;
        int r;

        row = u->row;
        row.size = u->size;
        row.upload_id = u->upload_id;
        row.parts = parts_text(u);
        row.tail_gen = u->op_gen;
        row.tail_size = u->buf_len;
        row.hash = state_export(u->ctx);
        now = now_of(u);
        r = row.parts ? meta_upsession_save(u->meta, &row, u->holder, now, now + MPUPLOAD_LEASE_SEC) : -ENOMEM;
        free(row.parts);
        if (r < 0) {
                free(row.hash);
                u->err = r;
                tail_remove_async(u, u->op_gen); /* the tail just put, never named */
                return r;
        } else {
                free(u->row.hash);
                u->row.hash = row.hash;
                free(u->row.upload_id);
                u->row.upload_id = strdup(u->upload_id);
                u->row.size = u->size;
                u->row.tail_gen = u->op_gen;
                u->row.tail_size = u->buf_len;
                u->n_saved = u->n_parts;
        }
        if (old_gen)
                tail_remove_async(u, old_gen);
        return 0;
}

/* Before a save or a commit starts its step: the session there and sound, and its
 * parts sent and acknowledged (want: the final PUT's digest, the last part too when
 * due). 0 go on; 1 parts in flight (wait, call again); <0. */
static int step_ready(mpupload_t *u, const digest_t *want) {
        if (u->gone)
                return -ENOENT;
        if (u->err)
                return u->err;
        return mpupload_flush(u, want);
}

int mpupload_save_step(mpupload_t *u) {
        int r;

        if (!u)
                return -EINVAL;
        if (u->op == OP_SAVE) {
                if ((r = op_take(u)) < 0)
                        return u->err = r;
                return r == 1 ? 1 : save_row(u);
        }
        /* the parts sent and acknowledged (the last one if at least 5 MiB) */
        if ((r = step_ready(u, NULL)) != 0)
                return r;
        /* the tail under a new generation, written every time: the row names the
         * old one until it is saved, and the object's time is the session's last
         * activity (the driver's expiry of sessions whose row is gone goes by it) */
        u->op_gen = u->row.tail_gen + 1;
        if ((r = op_start(u, OP_SAVE)) < 0)
                return u->err = r;
        return 1;
}

bool mpupload_committing(const mpupload_t *u) {
        return u && u->op == OP_COMMIT;
}

int mpupload_save(mpupload_t *u) {
        return step_blocking(u, mpupload_save_step);
}

/* The session's objects and rows go (after a commit, a cancel, the expiry). */
/* A session's leftovers and then its row. spent: the blob was committed, so the row
 * goes even when the store refuses to remove what it staged (a session row must not
 * outlive its blob's commit: the client would be told the upload goes on; what the
 * store kept under uploads/, the bucket-side expiry removes once the row is gone);
 * otherwise a refusal keeps the row for the next expiry to try again. */
static int drop(blobstore_t *bs, meta_t *m, const meta_upsession_t *row, const char *upload_id, bool spent) {
        int r = bs->ops->staged_abort(bs, row->uuid, upload_id);

        if (r < 0 && !spent)
                return r;
        if (row->tail_gen)
                (void) bs->ops->staged_tail_remove(bs, row->uuid, row->tail_gen);
        return meta_upload_delete(m, row->uuid) < 0 ? BERTH_EDB : 0;
}

typedef struct {
        mpupload_t *u;
        const digest_t *d;
        bool from_buf; /* the whole blob is in u->buf (never reached a part) */
        bool direct;   /* completed under its own key: nothing to place it again from */
} ensure_t;

/* In the link's transaction: the blob is there (a GC sweep may have taken it since
 * it was placed): placed again from where it came from. */
static int ensure_blob(void *userdata) {
        ensure_t *e = userdata;
        blobstore_t *bs = e->u->bs;
        int r = bs->ops->stat(bs, e->d, NULL);

        if (r != 0)
                return r < 0 ? r : 0;
        if (e->from_buf)
                return bs->ops->put(bs, e->d, e->u->buf, e->u->buf_len);
        if (e->direct || e->u->dedup)
                return BERTH_ESTOREDOWN; /* a GC sweep took it just now: the client sends it again */
        return bs->ops->staged_promote(bs, e->u->row.uuid, e->d, e->u->size);
}

/* Hash the completed temporary object (the state was lost). */
static int rehash(mpupload_t *u, digest_alg_t alg, digest_t *ret) {
        _cleanup_free_ char *b = malloc(8u << 20);
        digest_ctx_t *c = NULL;
        uint64_t off = 0;
        int r;

        if (!b)
                return -ENOMEM;
        r = digest_ctx_new(alg, &c);
        while (r >= 0 && off < u->size) {
                size_t n = 0;
                r = u->bs->ops->staged_read(u->bs, u->row.uuid, off, b, 8u << 20, &n);
                if (r >= 0 && n == 0)
                        r = -EIO; /* shorter than the bytes received */
                if (r >= 0)
                        r = digest_ctx_update(c, b, n);
                off += n;
        }
        if (r >= 0)
                r = digest_ctx_peek(c, ret);
        digest_ctx_free(c);
        return r;
}

/* The commit's work with the store and the rows, on its thread (OP_COMMIT: the
 * digest was checked already on the request's thread, every part acknowledged). The
 * rows are written on a connection of the database's pool: the link's
 * transaction asks the store whether the blob is there (ensure_blob), which must not
 * hold an event-loop thread, and a connection serves one thread at a time. */
static int commit_work(mpupload_t *u) {
        const digest_t *want = &u->op_want;
        ensure_t e = { .u = u, .d = want };
        bool lost = !u->ctx || digest_ctx_alg(u->ctx) != want->alg, completed = false;
        meta_t *m = NULL;
        digest_t got;
        int r;

        if ((r = meta_open_pooled(meta_db(u->meta), &m)) < 0)
                return r;
        if (u->direct) {
                /* the whole blob came in this request, hashed as it arrived */
                if (u->dedup)
                        goto link;
                if (u->n_parts == 0 && !u->upload_id[0]) {
                        e.from_buf = true;
                        r = u->bs->ops->put(u->bs, want, u->buf ? u->buf : "", u->buf_len);
                        if (r < 0)
                                goto out;
                        goto link;
                }
                r = u->bs->ops->direct_complete(u->bs, want, u->upload_id, u->parts, u->n_parts);
                if (r < 0) {
                        u->err = r;
                        goto out;
                }
                u->direct_done = true; /* visible now, complete */
                e.direct = true;
                completed = true;
                goto link;
        }
        if (!lost) {
                r = u->bs->ops->stat(u->bs, want, NULL);
                if (r < 0)
                        goto out;
                if (r == 1) /* stored already: not written twice */
                        goto link;
        }
        if (!lost && u->n_parts == 0 && !u->upload_id[0]) {
                /* never reached a part: one PUT of the whole blob, checked by the store
                 * against its digest */
                e.from_buf = true;
                r = u->bs->ops->put(u->bs, want, u->buf, u->buf_len);
                if (r < 0)
                        goto out;
                goto link;
        }
        r = u->bs->ops->staged_complete(u->bs, u->row.uuid, u->upload_id, u->parts, u->n_parts);
        if (r < 0) {
                u->err = r;
                goto out;
        }
        completed = true; /* the multipart upload is the temporary object now */
        if (lost) {
                /* the state was lost: the completed object read back once */
                r = rehash(u, want->alg, &got);
                if (r >= 0 && !digest_equal(&got, want))
                        r = BERTH_EDIGEST;
                if (r < 0) {
                        /* the multipart upload is no more: the session cannot go on */
                        u->upload_id[0] = '\0';
                        (void) drop(u->bs, m, &u->row, "", false);
                        u->gone = true;
                        goto out;
                }
        }
        /* visible now, under its digest, complete (a server-side copy) */
        r = u->bs->ops->staged_promote(u->bs, u->row.uuid, want, u->size);
        if (r < 0) {
                u->err = r;
                goto out;
        }
link:
        r = meta_blob_link_quota(m, u->op_repo, want, u->size, ensure_blob, &e);
        /* the session is spent either way (a refused link leaves an object GC removes) */
        (void) drop(u->bs, m, &u->row, u->direct ? u->row.upload_id : completed ? "" : u->upload_id, true);
        u->gone = true;
out:
        meta_free(m);
        return r < 0 ? r : 0;
}

int mpupload_commit_step(mpupload_t *u, const char *repo, const digest_t *want, uint64_t *ret_size) {
        bool lost;
        digest_t got;
        int r;

        if (!u || !repo || !want)
                return -EINVAL;
        if (u->op == OP_COMMIT) {
                if ((r = op_take(u)) == 0 && ret_size)
                        *ret_size = u->size;
                return r;
        }
        /* the parts sent and acknowledged, the last one too when it is due */
        if ((r = step_ready(u, want)) != 0)
                return r;
        /* the digest checked here (no wait): a mismatch leaves the session as it was */
        lost = !u->ctx || digest_ctx_alg(u->ctx) != want->alg;
        if (u->direct && (lost || !digest_equal(want, &u->want)))
                return lost ? -EIO : -EINVAL;
        if (!lost) {
                if ((r = digest_ctx_peek(u->ctx, &got)) < 0)
                        return r;
                if (!digest_equal(&got, want))
                        return BERTH_EDIGEST; /* the row as it was (a direct upload: given up at the release) */
        }
        u->op_repo = repo;
        u->op_want = *want;
        if ((r = op_start(u, OP_COMMIT)) < 0)
                return r;
        return 1;
}

int mpupload_commit(mpupload_t *u, const char *repo, const digest_t *want, uint64_t *ret_size) {
        for (;;) {
                int r = mpupload_commit_step(u, repo, want, ret_size);
                if (r != 1)
                        return r;
                wait_blocking(u);
        }
}

/* The cancel's work on its thread (OP_REMOVE), the rows on a pooled connection. */
static int remove_work(mpupload_t *u) {
        meta_t *m = NULL;
        int r = meta_open_pooled(meta_db(u->meta), &m);

        if (r < 0)
                return r;
        direct_giveup(u);
        r = drop(u->bs, m, &u->row, u->direct ? u->row.upload_id : u->upload_id, false);
        if (r >= 0)
                u->gone = true;
        meta_free(m);
        return r;
}

int mpupload_remove_step(mpupload_t *u) {
        int r;

        if (!u)
                return -EINVAL;
        if (u->op == OP_REMOVE)
                return op_take(u);
        if (u->gone)
                return -ENOENT;
        if (u->op || parts_busy(u))
                return -EBUSY; /* a request's parts or step still in flight: not here */
        if ((r = op_start(u, OP_REMOVE)) < 0)
                return r;
        return 1;
}

bool mpupload_removing(const mpupload_t *u) {
        return u && u->op == OP_REMOVE;
}

int mpupload_remove(mpupload_t *u) {
        return step_blocking(u, mpupload_remove_step);
}

int mpupload_expire(store_t *s, meta_t *m, uint64_t max_age, time_t now, bool dry_run, uint64_t *ret_n) {
        meta_upsession_t *v = NULL;
        size_t n = 0;
        uint64_t done = 0;
        int r;

        if (ret_n)
                *ret_n = 0;
        if (!mpupload_offered(s) || !m)
                return 0;
        r = meta_upsession_old(m, (int64_t) now - (int64_t) max_age, (int64_t) now, &v, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (dry_run || drop(s->bs, m, &v[i], v[i].upload_id, false) >= 0)
                        done++;
        }
        meta_upsessions_free(v, n);
        if (ret_n)
                *ret_n = done;
        return 0;
}
