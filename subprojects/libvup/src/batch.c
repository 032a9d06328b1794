/*
 * Messages gathered to leave in one send (see vup/batch.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vup/batch.h"
#include "vup/wire.h"

/* @hdr and @payload in wire format at @at, which has room for them. */
static void put_msg(uint8_t *at, const VupHeader *hdr, const void *payload,
                    size_t len)
{
    VupHeader h = *hdr;

    h.msg_size = sizeof(h) + len;
    if (len) {
        memcpy(at + sizeof(h), payload, len);
    }
    if (!VUP_HOST_IS_LE) {
        vup_payload_swap(h.command, (h.flags & VUP_FLAG_TYPE_MASK) ==
                         VUP_FLAG_TYPE_REPLY, false, at + sizeof(h), len);
        vup_header_swap(&h);
    }
    memcpy(at, &h, sizeof(h));
}

static bool msg_ok(const void *payload, size_t len)
{
    return !(len && !payload) && len <= VUP_MAX_MSG_SIZE - sizeof(VupHeader);
}

int vup_batch_add(VupBatch *b, const VupHeader *hdr, const void *payload,
                  size_t len)
{
    if (!msg_ok(payload, len)) {
        return -EINVAL;
    }
    if (sizeof(VupHeader) + len > sizeof(b->buf) - b->len) {
        return -ENOSPC;
    }
    put_msg(b->buf + b->len, hdr, payload, len);
    b->len += sizeof(VupHeader) + len;
    b->count++;
    return 0;
}

int vup_stream_send_batch(const VupStream *s, VupBatch *b)
{
    int ret = b->len ? vup_stream_send_bytes(s, b->buf, b->len) : 0;

    vup_batch_clear(b);
    return ret;
}

void vup_outbox_init(VupOutbox *o, size_t max)
{
    *o = (VupOutbox) { .max = max };
}

void vup_outbox_free(VupOutbox *o)
{
    free(o->buf);
    vup_outbox_init(o, o->max);
}

int vup_outbox_add(VupOutbox *o, const VupHeader *hdr, const void *payload,
                   size_t len)
{
    size_t need = sizeof(VupHeader) + len;

    if (!msg_ok(payload, len)) {
        return -EINVAL;
    }
    if (need > o->max - o->len) {
        return -ENOSPC;
    }
    if (need > o->cap - o->len) {
        /* Doubling from 64 KiB: a few reallocations in a session's life. */
        size_t cap = o->cap ? o->cap : 64 * 1024;
        uint8_t *buf;

        while (cap < o->len + need) {
            cap *= 2;
        }
        cap = cap < o->max ? cap : o->max;
        buf = realloc(o->buf, cap);
        if (!buf) {
            return -ENOMEM;
        }
        o->buf = buf;
        o->cap = cap;
    }
    put_msg(o->buf + o->len, hdr, payload, len);
    o->len += need;
    o->count++;
    return 0;
}

int vup_stream_send_outbox(const VupStream *s, VupOutbox *o)
{
    int ret = o->len ? vup_stream_send_bytes(s, o->buf, o->len) : 0;

    o->len = 0;
    o->count = 0;
    return ret;
}
