/* client/download.c: the download pool: the blobs of one manifest, fetched by up to
 * max_dl threads into partial files, verified, and committed to the store; one
 * downloader per blob across processes (flock on the partial file). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "client/berth.h"
#include "client/layout.h"
#include "client/pull-internal.h"
#include "client/registry.h"
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"

#define MAX_BLOBS 1024

typedef struct {
        const manifest_desc_t *d;
        size_t index;
        berth_progress_state_t state;
        int err;
} job_t;

typedef struct {
        berth_client_t *c;
        registry_t *reg;
        const char *repo;
        const registry_cred_t *cred;
        job_t *jobs;
        size_t njobs;
        atomic_size_t next;
        atomic_int failed;
} pool_t;

typedef struct {
        pool_t *pool;
        job_t *job;
} progress_ctx_t;

static void report(pool_t *pl, job_t *j, uint64_t done, uint64_t total) {
        berth_client_t *c = pl->c;
        berth_progress_t p = { j->index, pl->njobs, j->d->digest.str, done, total, j->state };

        if (!c->progress)
                return;
        pthread_mutex_lock(&c->progress_lock);
        c->progress(&p, c->progress_ud);
        pthread_mutex_unlock(&c->progress_lock);
}

static void on_progress(void *ud, uint64_t done, uint64_t total) {
        progress_ctx_t *x = ud;
        report(x->pool, x->job, done, total);
}

static int fetch_blob(pool_t *pl, job_t *j) {
        berth_client_t *c = pl->c;
        const digest_t *d = &j->d->digest;
        uint64_t size = (uint64_t) j->d->size, have_size = 0;
        _cleanup_free_ char *partial = NULL;
        _cleanup_close_ int fd = -1;
        progress_ctx_t px = { pl, j };
        struct stat st;
        int r;

        if (layout_blob_stat(c->layout, d, &have_size) == 1 && have_size == size) {
                j->state = BERTH_PROGRESS_EXISTS;
                report(pl, j, size, size);
                return 0;
        }
        if ((r = layout_partial_path(c->layout, d, &partial)) < 0)
                return r;
        for (int attempt = 0;; attempt++) {
                fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -errno;
                /* one downloader per blob across processes; the others wait and then find it */
                while (flock(fd, LOCK_EX) < 0)
                        if (errno != EINTR)
                                return -errno;
                /* the holder before us renamed or removed the file: open the path again */
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (st.st_nlink > 0 || attempt >= 3)
                        break;
                close(fd);
                fd = -1;
        }
        if (layout_blob_stat(c->layout, d, &have_size) == 1 && have_size == size) {
                if (fstat(fd, &st) == 0 && st.st_size == 0 && st.st_nlink > 0)
                        (void) unlink(partial);
                j->state = BERTH_PROGRESS_EXISTS;
                report(pl, j, size, size);
                return 0;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        j->state = BERTH_PROGRESS_DOWNLOADING;
        report(pl, j, (uint64_t) st.st_size, size);
        r = registry_get_blob(pl->reg, pl->repo, d, size, pl->cred, fd, (uint64_t) st.st_size, on_progress, &px);
        if (r == BERTH_EDIGEST || r == BERTH_ETOOBIG) {
                (void) unlink(partial); /* nothing unverified is kept */
                return r;
        }
        if (r < 0)
                return r; /* the partial file stays for a resume */
        if (fsync(fd) < 0)
                return -errno;
        r = layout_blob_commit(c->layout, d, partial);
        if (r < 0)
                return r;
        j->state = BERTH_PROGRESS_DONE;
        report(pl, j, size, size);
        return 0;
}

static void *worker(void *arg) {
        pool_t *pl = arg;

        for (;;) {
                size_t i = atomic_fetch_add(&pl->next, 1);
                job_t *j;
                if (i >= pl->njobs || atomic_load(&pl->failed))
                        break;
                j = &pl->jobs[i];
                j->err = fetch_blob(pl, j);
                if (j->err < 0) {
                        j->state = BERTH_PROGRESS_FAILED;
                        report(pl, j, 0, (uint64_t) j->d->size);
                        atomic_store(&pl->failed, 1);
                }
        }
        return NULL;
}

int pull_fetch_blobs(berth_client_t *c, registry_t *reg, const char *repo, const registry_cred_t *cred,
                       const manifest_t *m) {
        pool_t pl = { .c = c, .reg = reg, .repo = repo, .cred = cred };
        pthread_t th[MAX_DOWNLOADS];
        size_t nth, started = 0;
        int r = 0;

        pl.njobs = manifest_desc_count(m);
        if (pl.njobs > MAX_BLOBS)
                return BERTH_ETOOBIG;
        pl.jobs = calloc(pl.njobs + 1, sizeof(*pl.jobs));
        if (!pl.jobs)
                return -ENOMEM;
        for (size_t i = 0; i < pl.njobs; i++) {
                pl.jobs[i].d = manifest_desc(m, i);
                pl.jobs[i].index = i;
                if (pl.jobs[i].d->size < 0) {
                        free(pl.jobs);
                        return BERTH_EMANIFEST;
                }
                report(&pl, &pl.jobs[i], 0, (uint64_t) pl.jobs[i].d->size);
        }
        nth = (size_t) c->max_dl < pl.njobs ? (size_t) c->max_dl : pl.njobs;
        for (; started < nth; started++)
                if (pthread_create(&th[started], NULL, worker, &pl) != 0)
                        break;
        if (started == 0)
                worker(&pl);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        for (size_t i = 0; i < pl.njobs && r == 0; i++)
                if (pl.jobs[i].err < 0)
                        r = pl.jobs[i].err;
        free(pl.jobs);
        return r;
}
