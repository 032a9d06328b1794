/*
 * dm-remote event loop: poll() over a few descriptors plus timers.
 *
 * Single-threaded: every handler and timer callback runs in the thread
 * that called dm_loop_run(), one at a time.  A device model therefore
 * never needs a lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LOOP_H
#define DM_LOOP_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct DmLoop DmLoop;
typedef void DmFdHandler(void *opaque, int fd, short revents);
/* Bytes already read from @fd wait in a buffer: run its handler. */
typedef bool DmFdPending(void *opaque, int fd);
typedef void DmTimerCb(void *opaque);

typedef struct DmTimer {
    DmLoop *loop;
    DmTimerCb *cb;
    void *opaque;
    int64_t deadline_ns;        /* CLOCK_MONOTONIC; -1 when not armed */
    struct DmTimer *next;
} DmTimer;

DmLoop *dm_loop_new(void);
void dm_loop_free(DmLoop *loop);

/* Watch @fd for @events (POLLIN...); replaces an earlier watch of @fd. */
int dm_loop_add_fd(DmLoop *loop, int fd, short events, DmFdHandler *cb,
                   void *opaque);
void dm_loop_del_fd(DmLoop *loop, int fd);
/* Watch @fd for @events instead, keeping its handler. */
void dm_loop_set_events(DmLoop *loop, int fd, short events);
/*
 * Also ask @pending before each poll(): when it says yes, @fd's handler
 * runs with POLLIN although poll() sees nothing (a stream's read buffer,
 * TLS records decrypted ahead).  Call after dm_loop_add_fd().
 */
void dm_loop_set_pending(DmLoop *loop, int fd, DmFdPending *pending);

/* Run until dm_loop_quit(); returns the value given to it. */
int dm_loop_run(DmLoop *loop);
void dm_loop_quit(DmLoop *loop, int status);

int64_t dm_clock_ns(void);

/*
 * A poll hook, for a library that keeps its own descriptors and decides
 * each round which events it wants on them (libslirp: one socket per
 * guest connection, POLLOUT only while it has bytes to write): before
 * each poll() @prepare adds this round's descriptors with
 * dm_poll_hook_fd() and may lower the timeout (milliseconds, -1: none);
 * after it, once the watches' handlers ran, @dispatch reads what poll()
 * saw with dm_poll_hook_revents() (@error: poll() failed).  As QEMU's
 * main loop drives slirp (net/slirp.c).  The hook's descriptors come on
 * top of the loop's DM_LOOP_MAX_FDS watches.
 */
#define DM_POLL_HOOK_MAX_FDS 512
typedef struct DmPollHook DmPollHook;
typedef void DmPollPrepare(void *opaque, DmPollHook *h, int *timeout_ms);
typedef void DmPollDispatch(void *opaque, DmPollHook *h, bool error);

struct DmPollHook {
    DmLoop *loop;
    DmPollPrepare *prepare;
    DmPollDispatch *dispatch;
    void *opaque;
    unsigned first, nfds;       /* this round's slice of the poll array */
    struct pollfd pfd[DM_POLL_HOOK_MAX_FDS];   /* their revents, after */
    struct DmPollHook *next;
};

void dm_poll_hook_add(DmPollHook *h, DmLoop *loop, DmPollPrepare *prepare,
                      DmPollDispatch *dispatch, void *opaque);
void dm_poll_hook_del(DmPollHook *h);
/* From prepare: watch @fd for @events this round; its index, or -1. */
int dm_poll_hook_fd(DmPollHook *h, int fd, short events);
/* From dispatch: the events poll() saw on index @idx (0 if none). */
short dm_poll_hook_revents(DmPollHook *h, int idx);

void dm_timer_init(DmTimer *t, DmLoop *loop, DmTimerCb *cb, void *opaque);
/* Fire once, @delay_ns from now; re-arming moves the deadline. */
void dm_timer_mod(DmTimer *t, int64_t delay_ns);
void dm_timer_del(DmTimer *t);
bool dm_timer_pending(const DmTimer *t);

#endif /* DM_LOOP_H */
