/*
 * dm-remote event loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "loop.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

/* Sockets, timers' and workers' fds, and up to DM_MAX_DOORBELLS doorbells. */
#define DM_LOOP_MAX_FDS 192

typedef struct DmWatch {
    DmFdHandler *cb;
    DmFdPending *pending;       /* NULL: poll() says it all */
    void *opaque;
} DmWatch;

struct DmLoop {
    /* The watches, then this round's poll hooks' descriptors. */
    struct pollfd pfd[DM_LOOP_MAX_FDS + DM_POLL_HOOK_MAX_FDS];
    DmWatch watch[DM_LOOP_MAX_FDS];
    unsigned nfds;
    DmTimer *timers;            /* sorted by deadline */
    DmPollHook *hooks;
    unsigned hook_fds;          /* this round's, after the watches */
    bool hooks_changed;         /* a hook came or went during dispatch */
    bool quit;
    int status;
};

DmLoop *dm_loop_new(void)
{
    return calloc(1, sizeof(DmLoop));
}

void dm_loop_free(DmLoop *loop)
{
    free(loop);
}

int dm_loop_add_fd(DmLoop *loop, int fd, short events, DmFdHandler *cb,
                   void *opaque)
{
    unsigned i;

    for (i = 0; i < loop->nfds && loop->pfd[i].fd != fd; i++) {
        continue;
    }
    if (i == loop->nfds) {
        if (loop->nfds == DM_LOOP_MAX_FDS) {
            return -EMFILE;
        }
        loop->nfds++;
    }
    loop->pfd[i] = (struct pollfd) { .fd = fd, .events = events };
    loop->watch[i] = (DmWatch) { .cb = cb, .opaque = opaque };
    return 0;
}

void dm_loop_set_events(DmLoop *loop, int fd, short events)
{
    for (unsigned i = 0; i < loop->nfds; i++) {
        if (loop->pfd[i].fd == fd) {
            loop->pfd[i].events = events;
        }
    }
}

void dm_loop_set_pending(DmLoop *loop, int fd, DmFdPending *pending)
{
    for (unsigned i = 0; i < loop->nfds; i++) {
        if (loop->pfd[i].fd == fd) {
            loop->watch[i].pending = pending;
        }
    }
}

/* Watches with buffered bytes: mark them readable; how many. */
static int mark_pending(DmLoop *loop)
{
    int n = 0;

    for (unsigned i = 0; i < loop->nfds; i++) {
        DmWatch *w = &loop->watch[i];

        if (w->pending && w->pending(w->opaque, loop->pfd[i].fd)) {
            loop->pfd[i].revents = POLLIN;
            n++;
        }
    }
    return n;
}

void dm_loop_del_fd(DmLoop *loop, int fd)
{
    for (unsigned i = 0; i < loop->nfds; i++) {
        if (loop->pfd[i].fd == fd) {
            loop->nfds--;
            loop->pfd[i] = loop->pfd[loop->nfds];
            loop->watch[i] = loop->watch[loop->nfds];
            return;
        }
    }
}

int64_t dm_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

void dm_timer_init(DmTimer *t, DmLoop *loop, DmTimerCb *cb, void *opaque)
{
    *t = (DmTimer) { .loop = loop, .cb = cb, .opaque = opaque,
                     .deadline_ns = -1 };
}

void dm_timer_del(DmTimer *t)
{
    DmTimer **p;

    for (p = &t->loop->timers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
    t->deadline_ns = -1;
}

void dm_timer_mod(DmTimer *t, int64_t delay_ns)
{
    DmTimer **p;

    dm_timer_del(t);
    t->deadline_ns = dm_clock_ns() + delay_ns;
    for (p = &t->loop->timers; *p && (*p)->deadline_ns <= t->deadline_ns;
         p = &(*p)->next) {
        continue;
    }
    t->next = *p;
    *p = t;
}

bool dm_timer_pending(const DmTimer *t)
{
    return t->deadline_ns >= 0;
}

static void run_timers(DmLoop *loop)
{
    int64_t now = dm_clock_ns();

    while (loop->timers && loop->timers->deadline_ns <= now) {
        DmTimer *t = loop->timers;

        dm_timer_del(t);
        t->cb(t->opaque);
    }
}

/* Until the first timer is due: -1 (none), 0, or nanoseconds. */
static int64_t poll_timeout_ns(DmLoop *loop)
{
    int64_t left;

    if (!loop->timers) {
        return -1;
    }
    left = loop->timers->deadline_ns - dm_clock_ns();
    return left <= 0 ? 0 : left;
}

/*
 * poll() to the nanosecond (ppoll): a timer of 50 us (virtio-blk's held
 * interrupts) must not wait for poll()'s next millisecond.
 */
static int poll_ns(struct pollfd *pfd, nfds_t nfds, int64_t ns)
{
    struct timespec ts = {
        .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000,
    };

    return ppoll(pfd, nfds, ns < 0 ? NULL : &ts, NULL);
}

void dm_poll_hook_add(DmPollHook *h, DmLoop *loop, DmPollPrepare *prepare,
                      DmPollDispatch *dispatch, void *opaque)
{
    h->loop = loop;
    h->prepare = prepare;
    h->dispatch = dispatch;
    h->opaque = opaque;
    h->first = h->nfds = 0;
    h->next = loop->hooks;
    loop->hooks = h;
    loop->hooks_changed = true;
}

void dm_poll_hook_del(DmPollHook *h)
{
    for (DmPollHook **p = &h->loop->hooks; *p; p = &(*p)->next) {
        if (*p == h) {
            *p = h->next;
            break;
        }
    }
    h->next = NULL;
    h->nfds = 0;
    h->loop->hooks_changed = true;
}

int dm_poll_hook_fd(DmPollHook *h, int fd, short events)
{
    DmLoop *loop = h->loop;

    if (h->nfds == DM_POLL_HOOK_MAX_FDS ||
        loop->hook_fds == DM_POLL_HOOK_MAX_FDS) {
        return -1;
    }
    loop->pfd[loop->nfds + loop->hook_fds++] =
        (struct pollfd) { .fd = fd, .events = events };
    h->pfd[h->nfds] = (struct pollfd) { .fd = fd, .events = events };
    return h->nfds++;
}

short dm_poll_hook_revents(DmPollHook *h, int idx)
{
    return idx >= 0 && (unsigned)idx < h->nfds ? h->pfd[idx].revents : 0;
}

/* Each hook's descriptors after the watches; the timeout they allow. */
static int hooks_prepare(DmLoop *loop, int timeout)
{
    loop->hook_fds = 0;
    for (DmPollHook *h = loop->hooks; h; h = h->next) {
        h->nfds = 0;
        h->first = loop->hook_fds;
        h->prepare(h->opaque, h, &timeout);
    }
    return timeout;
}

/*
 * Keep what poll() saw on the hooks' descriptors in the hooks, before
 * the watches' handlers run: they may add watches over that space.
 */
static void hooks_collect(DmLoop *loop, int nwatches)
{
    for (DmPollHook *h = loop->hooks; h; h = h->next) {
        for (unsigned i = 0; i < h->nfds; i++) {
            h->pfd[i].revents = loop->pfd[nwatches + h->first + i].revents;
        }
    }
}

static void hooks_dispatch(DmLoop *loop, bool error)
{
    loop->hooks_changed = false;
    for (DmPollHook *h = loop->hooks; h && !loop->quit; h = h->next) {
        h->dispatch(h->opaque, h, error);
        if (loop->hooks_changed) {
            break;              /* the list moved under us: next round */
        }
    }
}

int dm_loop_run(DmLoop *loop)
{
    loop->quit = false;
    while (!loop->quit) {
        int ready = mark_pending(loop);
        bool hooked = false;
        int nwatches = loop->nfds;
        int n;

        if (ready) {
            n = ready;          /* handlers first; the rest next round */
        } else if (loop->hooks) {
            int64_t ns = poll_timeout_ns(loop);
            /* The hooks think in milliseconds (libslirp's timeouts). */
            int ms = hooks_prepare(loop, ns < 0 ? -1 :
                                   (int)MIN(ns / 1000000 + 1, INT32_MAX));

            if (ms >= 0 && (ns < 0 || (int64_t)ms * 1000000 < ns)) {
                ns = (int64_t)ms * 1000000;
            }
            n = poll_ns(loop->pfd, nwatches + loop->hook_fds, ns);
            hooked = true;
            hooks_collect(loop, nwatches);
        } else {
            n = poll_ns(loop->pfd, loop->nfds, poll_timeout_ns(loop));
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        for (unsigned i = 0; n > 0 && i < (unsigned)nwatches &&
                             i < loop->nfds && !loop->quit; i++) {
            struct pollfd p = loop->pfd[i];

            if (p.revents) {
                /* The handler may add or remove watches, even its own. */
                loop->pfd[i].revents = 0;
                loop->watch[i].cb(loop->watch[i].opaque, p.fd, p.revents);
                n--;
            }
        }
        if (hooked) {
            hooks_dispatch(loop, n < 0);
        }
        run_timers(loop);
    }
    return loop->status;
}

void dm_loop_quit(DmLoop *loop, int status)
{
    loop->quit = true;
    loop->status = status;
}
