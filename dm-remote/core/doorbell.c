/*
 * Doorbells: an eventfd per declared address while a client is attached.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "doorbell.h"
#include "log.h"

/*
 * Rounds of the loop a doorbell waits for the client's messages before it
 * rings anyway: a client that never stops sending does not starve it.
 */
#define DM_DOORBELL_MAX_DEFER 64

static bool size_ok(uint32_t size)
{
    return size == 0 || size == 1 || size == 2 || size == 4 || size == 8;
}

/* Do [a, a + la) and [b, b + lb) share a byte (a size 0 is one byte)? */
static bool overlap(uint64_t a, uint32_t la, uint64_t b, uint32_t lb)
{
    la = la ? la : 1;
    lb = lb ? lb : 1;
    return a < b + lb && b < a + la;
}

int dm_doorbell_add(DmDoorbells *t, unsigned region, uint64_t offset,
                    uint32_t size, DmDoorbellFn *fn, void *opaque)
{
    if (!size_ok(size) || !fn || (size && offset % size)) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < t->count; i++) {
        if (t->bells[i].region == region &&
            overlap(t->bells[i].offset, t->bells[i].size, offset, size)) {
            return -EINVAL;
        }
    }
    if (t->count == DM_MAX_DOORBELLS) {
        return -ENOSPC;
    }
    t->bells[t->count++] = (DmDoorbell) {
        .table = t, .region = region, .offset = offset, .size = size,
        .fn = fn, .opaque = opaque, .fd = -1,
    };
    return 0;
}

static void ring(DmDoorbell *b)
{
    b->fn(b->opaque);
}

/* The loop: the client signalled @b's eventfd. */
static void doorbell_readable(void *opaque, int fd, short revents)
{
    DmDoorbell *b = opaque;
    DmDoorbells *t = b->table;
    uint64_t v;

    if (t->client_busy && b->deferred < DM_DOORBELL_MAX_DEFER &&
        t->client_busy(t->busy_opaque)) {
        b->deferred++;          /* poll() shows it again, after them */
        return;
    }
    b->deferred = 0;
    if (read(fd, &v, sizeof(v)) != sizeof(v)) {
        return;                 /* nothing after all (EAGAIN) */
    }
    t->kicks_fd++;
    ring(b);
}

void dm_doorbells_open(DmDoorbells *t, DmLoop *loop,
                       bool (*client_busy)(void *opaque), void *busy_opaque)
{
    dm_doorbells_close(t);
    t->loop = loop;
    t->client_busy = client_busy;
    t->busy_opaque = busy_opaque;
    for (unsigned i = 0; i < t->count; i++) {
        DmDoorbell *b = &t->bells[i];

        b->deferred = 0;
        b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (b->fd < 0) {
            dm_warn("no eventfd for a doorbell (%m): its kicks come as "
                    "messages");
            continue;
        }
        if (dm_loop_add_fd(loop, b->fd, POLLIN, doorbell_readable, b) < 0) {
            dm_warn("too many descriptors to watch a doorbell: its kicks "
                    "come as messages");
            close(b->fd);
            b->fd = -1;
        }
    }
}

void dm_doorbells_close(DmDoorbells *t)
{
    for (unsigned i = 0; i < t->count; i++) {
        DmDoorbell *b = &t->bells[i];

        if (b->fd >= 0) {
            if (!b->taken) {
                dm_loop_del_fd(t->loop, b->fd);
            }
            close(b->fd);
            b->fd = -1;
        }
        b->taken = false;
    }
    t->client_busy = NULL;
    t->busy_opaque = NULL;
}

bool dm_doorbells_write(DmDoorbells *t, unsigned region, uint64_t offset,
                        uint32_t len)
{
    for (unsigned i = 0; i < t->count; i++) {
        DmDoorbell *b = &t->bells[i];

        if (b->region == region && b->offset == offset &&
            (b->size == 0 || b->size == len)) {
            t->kicks_write++;
            ring(b);
            return true;
        }
    }
    return false;
}

static DmDoorbell *find(DmDoorbells *t, unsigned region, uint64_t offset)
{
    for (unsigned i = 0; i < t->count; i++) {
        if (t->bells[i].region == region && t->bells[i].offset == offset) {
            return &t->bells[i];
        }
    }
    return NULL;
}

bool dm_doorbells_ring(DmDoorbells *t, unsigned region, uint64_t offset)
{
    DmDoorbell *b = find(t, region, offset);

    if (!b) {
        return false;
    }
    t->kicks_write++;
    ring(b);
    return true;
}

int dm_doorbell_take(DmDoorbells *t, unsigned region, uint64_t offset)
{
    DmDoorbell *b = find(t, region, offset);

    if (!b || b->fd < 0 || b->taken) {
        return -1;
    }
    dm_loop_del_fd(t->loop, b->fd);
    b->taken = true;
    return b->fd;
}

void dm_doorbell_give_back(DmDoorbells *t, unsigned region, uint64_t offset)
{
    DmDoorbell *b = find(t, region, offset);

    if (!b || !b->taken) {
        return;
    }
    b->taken = false;
    /* A kick the thread left unread is seen by the loop at once. */
    if (b->fd >= 0 &&
        dm_loop_add_fd(t->loop, b->fd, POLLIN, doorbell_readable, b) < 0) {
        dm_warn("too many descriptors to watch a doorbell again: its "
                "kicks come as messages");
        close(b->fd);
        b->fd = -1;
    }
}

unsigned dm_doorbells_of_region(DmDoorbells *t, unsigned region,
                                const DmDoorbell **ret, unsigned max)
{
    unsigned n = 0;

    for (unsigned i = 0; i < t->count; i++) {
        if (t->bells[i].region == region) {
            if (n < max) {
                ret[n] = &t->bells[i];
            }
            n++;
        }
    }
    return n;
}
