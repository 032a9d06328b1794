/*
 * A read-buffered stream over a socket without descriptors (see
 * vup/buffered.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "vup/buffered.h"

static ssize_t buffered_send(void *opaque, const void *buf, size_t len)
{
    VupBuffered *b = opaque;
    ssize_t n = send(b->fd, buf, len, MSG_NOSIGNAL);

    return n < 0 ? -errno : n;
}

ssize_t vup_buffered_read(VupBuffered *b, void *buf, size_t len)
{
    ssize_t n;

    if (b->head == b->tail) {
        b->head = b->tail = 0;
        if (len >= sizeof(b->buf)) {
            /* A big payload goes straight to its place. */
            n = recv(b->fd, buf, len, 0);
            return n < 0 ? -errno : n;
        }
        n = recv(b->fd, b->buf, sizeof(b->buf), 0);
        if (n <= 0) {
            return n < 0 ? -errno : 0;
        }
        b->tail = n;
    }
    n = b->tail - b->head < len ? b->tail - b->head : len;
    memcpy(buf, b->buf + b->head, n);
    b->head += n;
    return n;
}

static ssize_t buffered_recv(void *opaque, void *buf, size_t len)
{
    return vup_buffered_read(opaque, buf, len);
}

static size_t buffered_pending(void *opaque)
{
    return vup_buffered_held(opaque);
}

static const VupStreamOps buffered_ops = {
    .send = buffered_send,
    .recv = buffered_recv,
    .pending = buffered_pending,
};

void vup_buffered_init(VupBuffered *b, int fd)
{
    b->fd = fd;
    b->head = b->tail = 0;
}

VupStream vup_buffered_stream(VupBuffered *b, int fd)
{
    vup_buffered_init(b, fd);
    return (VupStream) { .fd = fd, .ops = &buffered_ops, .opaque = b };
}
