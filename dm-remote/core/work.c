/*
 * Asynchronous work: GLib's thread pool runs the work, an eventfd
 * brings completions back to the event loop.
 *
 * Threads: submit, drain and completions on the loop's thread; the work
 * function on a pool thread; the done list is shared under a mutex.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "work.h"

struct DmWorkPool {
    DmLoop *loop;
    GThreadPool *threads;
    int efd;                    /* written by workers, read by the loop */
    GMutex lock;
    DmWork *done_head;          /* finished, done not yet run (LIFO) */
    unsigned in_flight;         /* loop thread only */
};

static void work_run(gpointer data, gpointer user_data)
{
    DmWork *w = data;
    DmWorkPool *pool = user_data;
    uint64_t one = 1;

    w->fn(w);
    g_mutex_lock(&pool->lock);
    w->next = pool->done_head;
    pool->done_head = w;
    g_mutex_unlock(&pool->lock);
    /* Only fails if the counter would overflow: then it is non-zero. */
    if (write(pool->efd, &one, sizeof(one)) < 0) {
        dm_debug("work: eventfd write: %m");
    }
}

/* Run every completion that has arrived; on the loop's thread. */
static void work_complete(DmWorkPool *pool)
{
    DmWork *list, *rev = NULL;
    uint64_t n;

    if (read(pool->efd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        dm_warn("work: eventfd read: %m, ignoring");
    }
    g_mutex_lock(&pool->lock);
    list = pool->done_head;
    pool->done_head = NULL;
    g_mutex_unlock(&pool->lock);
    /* Oldest first, as they finished. */
    while (list) {
        DmWork *next = list->next;

        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        DmWork *next = rev->next;

        pool->in_flight--;
        rev->done(rev);         /* may free rev, or submit it again */
        rev = next;
    }
}

static void work_efd_ready(void *opaque, int fd, short revents)
{
    work_complete(opaque);
}

DmWorkPool *dm_work_pool_new(DmLoop *loop, unsigned threads)
{
    DmWorkPool *pool = calloc(1, sizeof(*pool));
    GError *err = NULL;

    if (!pool) {
        return NULL;
    }
    pool->loop = loop;
    g_mutex_init(&pool->lock);
    pool->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pool->efd < 0) {
        goto fail;
    }
    pool->threads = g_thread_pool_new(work_run, pool, threads ? threads : 1,
                                      FALSE, &err);
    if (!pool->threads) {
        dm_error("work: cannot start threads: %s", err->message);
        g_error_free(err);
        errno = EAGAIN;
        goto fail;
    }
    if (dm_loop_add_fd(loop, pool->efd, POLLIN, work_efd_ready, pool) < 0) {
        g_thread_pool_free(pool->threads, TRUE, TRUE);
        errno = ENOMEM;
        goto fail;
    }
    return pool;

fail:
    if (pool->efd >= 0) {
        close(pool->efd);
    }
    g_mutex_clear(&pool->lock);
    free(pool);
    return NULL;
}

int dm_work_pool_submit(DmWorkPool *pool, DmWork *w)
{
    GError *err = NULL;

    w->pool = pool;
    w->next = NULL;
    if (!g_thread_pool_push(pool->threads, w, &err)) {
        dm_warn("work: cannot queue: %s", err->message);
        g_error_free(err);
        return -EAGAIN;
    }
    pool->in_flight++;
    return 0;
}

unsigned dm_work_pool_in_flight(const DmWorkPool *pool)
{
    return pool->in_flight;
}

void dm_work_pool_drain(DmWorkPool *pool)
{
    int waited_ms = 0;

    while (pool->in_flight) {
        struct pollfd p = { .fd = pool->efd, .events = POLLIN };

        if (poll(&p, 1, 1000) == 0) {
            waited_ms += 1000;
            if (waited_ms % 5000 == 0) {
                dm_warn("work: still waiting for %u request(s) after %d s",
                        pool->in_flight, waited_ms / 1000);
            }
            continue;
        }
        work_complete(pool);
    }
}

void dm_work_pool_free(DmWorkPool *pool)
{
    if (!pool) {
        return;
    }
    dm_work_pool_drain(pool);
    g_thread_pool_free(pool->threads, FALSE, TRUE);
    dm_loop_del_fd(pool->loop, pool->efd);
    close(pool->efd);
    g_mutex_clear(&pool->lock);
    free(pool);
}
