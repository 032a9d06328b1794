/*
 * A read-buffered stream over a socket that carries no descriptors (TCP).
 *
 * A plain stream reads a message in two recvmsg() calls, its header and
 * then its payload.  This layer reads whatever the socket has, up to
 * VUP_BUFFERED_SIZE bytes, in one recv() and hands it out from there: a
 * region access or its reply, sent in one piece, costs one system call
 * on the receiving side instead of two.  Bytes it holds count as
 * pending, so vup_stream_readable() and vup_stream_spin_readable() see
 * them; a caller that waits in poll() on the fd must drain pending bytes
 * first, as with TLS.  A TLS layer can read its records through
 * vup_buffered_read() for the same saving (a record's header and body).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_BUFFERED_H
#define VUP_BUFFERED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vup/msg.h"

#define VUP_BUFFERED_SIZE (64 * 1024)

typedef struct VupBuffered {
    int fd;
    size_t head, tail;          /* unread bytes: buf[head..tail) */
    uint8_t buf[VUP_BUFFERED_SIZE];
} VupBuffered;

/* A stream reading @fd through @b, which must outlive it. */
VupStream vup_buffered_stream(VupBuffered *b, int fd);

/* Read @fd through @b without a stream (for a TLS transport). */
void vup_buffered_init(VupBuffered *b, int fd);
/* Up to @len bytes: how many, 0 at EOF, or -errno. */
ssize_t vup_buffered_read(VupBuffered *b, void *buf, size_t len);

/* Bytes read from the socket and not yet handed out. */
static inline size_t vup_buffered_held(const VupBuffered *b)
{
    return b->tail - b->head;
}

#endif /* VUP_BUFFERED_H */
