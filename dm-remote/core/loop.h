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

void dm_timer_init(DmTimer *t, DmLoop *loop, DmTimerCb *cb, void *opaque);
/* Fire once, @delay_ns from now; re-arming moves the deadline. */
void dm_timer_mod(DmTimer *t, int64_t delay_ns);
void dm_timer_del(DmTimer *t);
bool dm_timer_pending(const DmTimer *t);

#endif /* DM_LOOP_H */
