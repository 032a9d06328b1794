/*
 * Messages gathered to leave in one send: posted commands (no reply, no
 * descriptors) queued by a client, then sent together, alone or in front
 * of its next request.  The peer sees ordinary messages, in order; only
 * the number of system calls (and of TLS records) changes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_BATCH_H
#define VUP_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "vup/msg.h"

#define VUP_BATCH_SIZE 4096

typedef struct VupBatch {
    size_t len;                         /* bytes gathered */
    unsigned count;                     /* messages gathered */
    uint8_t buf[VUP_BATCH_SIZE];        /* in wire format */
} VupBatch;

/*
 * Append a message in wire format (msg_size is filled in from @len).
 * 0, or -ENOSPC if it does not fit in what is left (send the batch
 * first; a message larger than VUP_BATCH_SIZE never fits: send it alone).
 */
int vup_batch_add(VupBatch *b, const VupHeader *hdr, const void *payload,
                  size_t len);

/* Send what is gathered, in one go, and empty the batch (also on error). */
int vup_stream_send_batch(const VupStream *s, VupBatch *b);

static inline void vup_batch_clear(VupBatch *b)
{
    b->len = 0;
    b->count = 0;
}

/*
 * The same for a server's posted messages, which carry data (a DMA write
 * answering a 4 KiB read): a buffer that grows as needed up to @max
 * bytes.  A server gathers what one round of its loop posts (the data,
 * the used ring's writes, the interrupt) and sends it when it is about to
 * wait: one send, and one wake-up of the client, instead of one of each
 * per message.
 */
typedef struct VupOutbox {
    size_t len;                         /* bytes gathered */
    size_t cap;                         /* bytes @buf holds */
    size_t max;                         /* @cap's limit */
    unsigned count;                     /* messages gathered */
    uint8_t *buf;                       /* in wire format */
} VupOutbox;

/* Empty, holding at most @max bytes; nothing is allocated until used. */
void vup_outbox_init(VupOutbox *o, size_t max);
void vup_outbox_free(VupOutbox *o);

/*
 * Append a message in wire format, growing the buffer.  0; -ENOSPC if it
 * would pass max (send what is gathered, then try again, or send the
 * message alone); -ENOMEM; -EINVAL for a malformed message.
 */
int vup_outbox_add(VupOutbox *o, const VupHeader *hdr, const void *payload,
                   size_t len);

/* Send what is gathered, in one go, and empty the outbox (also on error). */
int vup_stream_send_outbox(const VupStream *s, VupOutbox *o);

#endif /* VUP_BATCH_H */
